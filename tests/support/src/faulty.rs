//! A collector that misbehaves on purpose, so the sender's retries, backoff and spool can be
//! tested against real sockets: refused connections, hangs, resets, error statuses, garbage and
//! slow reads.
//!
//! It serves HTTP/1.1 on a plain `TcpListener`, reading request heads and chunk sizes with
//! `httparse`, so that it can break the exchange at the byte level (no HTTP server crate would
//! let it reset a connection halfway through a body). What it accepts is validated by the real
//! [`parse_batch`] and stored in the real [`EventStore`], so a test checks what arrived exactly
//! as it would with the real collector. The fault can be switched at any time with [`FaultyCollector::set`]; it applies to
//! each request as its head arrives, also on connections that are already open.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent_telemetry_collector::{BATCH_PATH, EventStore, Ingested, MAX_BODY_BYTES, parse_batch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// A request head longer than this is answered 431 (the real collector's limit is similar).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// Headers a request may have.
const MAX_HEADERS: usize = 64;
/// A chunk-size or trailer line longer than this makes a chunked body malformed.
const MAX_LINE_BYTES: usize = 4 << 10;
/// Largest single read from a socket when no throttle applies.
const READ_CHUNK: usize = 16 << 10;
/// How long `go_down`/`come_back` wait for the listener to close or to be bound again.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(5);
/// What `Fault::Garbage` answers: nothing an HTTP client could take for a status line.
const GARBAGE: &[u8] = b"\x00\xffSSH-2.0-not-http\r\n\x16\x03\x01 garbage, not a response\r\n\r\n";

/// How the collector answers. Every variant but `Refuse` is decided per request, when the
/// request's head has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Behaves like the real collector: a valid batch is stored and answered 200
    /// `{"accepted":n,"duplicates":d}`, an invalid one 400, another path 404, another method 405.
    None,
    /// Nobody listens: the listening socket is closed, so `connect` is refused, and connections
    /// already open are closed (as when the collector's process dies). Switching to any other
    /// fault binds the same port again. Inside a `Sequence` the connection already exists, so
    /// that step reads the request and closes the connection without answering instead.
    Refuse,
    /// Reads whatever the client sends and never answers; the socket stays open until the
    /// collector is stopped or goes down.
    Hang,
    /// Reads about half of the body, then closes the socket with a TCP reset (`SO_LINGER` 0).
    ResetMidBody,
    /// Reads the request, answers with this status (and a `Retry-After` header if given),
    /// stores nothing. Meant for final statuses, 200 to 599.
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// Reads the request, answers bytes that are not HTTP at all, closes the connection.
    Garbage,
    /// Reads the body at this rate (at least `body_len / bytes_per_sec` in all), then behaves
    /// like `None`. Reads are throttled on the socket too, so a body larger than the socket
    /// buffers also slows the client's writes.
    SlowRead { bytes_per_sec: usize },
    /// One step per request, in order; the last step then repeats. `[Status 500, None]` is
    /// "one 500, then 200s". Nested sequences are flattened; an empty one is `None`.
    Sequence(Vec<Fault>),
}

impl Fault {
    /// Shorthand for a status without `Retry-After`.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            retry_after: None,
        }
    }
}

/// A running faulty collector on 127.0.0.1. Its tasks (the listener and every connection) end
/// on [`FaultyCollector::stop`] or when it is dropped.
pub struct FaultyCollector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    wanted: watch::Sender<Listening>,
    listening: watch::Receiver<bool>,
    supervisor: Option<JoinHandle<()>>,
}

impl FaultyCollector {
    /// Listens on a free loopback port, with no fault.
    pub async fn start() -> FaultyCollector {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("the faulty collector cannot listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("the faulty collector's listener has no address");
        let shared = Arc::new(Shared {
            store: EventStore::open(None).expect("an in-memory event store cannot be opened"),
            check: crate::schema_check(),
            plan: Mutex::new(Plan::new(Fault::None)),
            requests: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let (wanted, wanted_rx) = watch::channel(Listening::Up);
        let (listening_tx, listening) = watch::channel(true);
        let supervisor = tokio::spawn(supervise(
            addr,
            listener,
            shared.clone(),
            wanted_rx,
            listening_tx,
        ));
        FaultyCollector {
            addr,
            shared,
            wanted,
            listening,
            supervisor: Some(supervisor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to configure as the telemetry endpoint.
    pub fn url(&self) -> String {
        format!("http://{}{BATCH_PATH}", self.addr)
    }

    /// Switches the fault for the next requests (a `Sequence` starts again from its first
    /// step). Returns at once: switching to or from `Refuse` takes effect shortly after; use
    /// [`go_down`](Self::go_down) and [`come_back`](Self::come_back) to wait for it.
    pub fn set(&self, fault: Fault) {
        let listening = if fault == Fault::Refuse {
            Listening::Down
        } else {
            Listening::Up
        };
        *self
            .shared
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Plan::new(fault);
        self.wanted.send_replace(listening);
    }

    /// `Refuse`, and returns once the listener and every open connection are closed.
    pub async fn go_down(&self) {
        self.set(Fault::Refuse);
        self.wait_until_listening(false).await;
    }

    /// `None`, and returns once the same port is bound and accepting again.
    pub async fn come_back(&self) {
        self.set(Fault::None);
        self.wait_until_listening(true).await;
    }

    async fn wait_until_listening(&self, up: bool) {
        let mut listening = self.listening.clone();
        let waited = tokio::time::timeout(SWITCH_TIMEOUT, async {
            listening.wait_for(|now| *now == up).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the faulty collector on {} has stopped", self.addr),
            Err(_) if up => panic!(
                "the faulty collector could not bind {} again within {SWITCH_TIMEOUT:?}",
                self.addr
            ),
            Err(_) => panic!("the faulty collector on {} did not go down", self.addr),
        }
    }

    /// What was stored (valid batches answered 200).
    pub fn store(&self) -> &EventStore {
        &self.shared.store
    }

    /// Well-formed request heads received so far, whatever the fault did with them.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Closes the listener and every connection (hung ones included), and waits for it.
    pub async fn stop(mut self) {
        self.wanted.send_replace(Listening::Stop);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

impl Drop for FaultyCollector {
    fn drop(&mut self) {
        // Dropping the supervisor's future drops its `JoinSet`, which aborts every connection.
        if let Some(supervisor) = &self.supervisor {
            supervisor.abort();
        }
    }
}

/// What the test wants of the listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listening {
    Up,
    Down,
    Stop,
}

struct Shared {
    store: EventStore,
    /// The published schema's check (`crate::schema_check`), as the tests' real collector has.
    check: agent_telemetry_collector::BatchCheck,
    plan: Mutex<Plan>,
    requests: AtomicUsize,
    connections: AtomicUsize,
}

impl Shared {
    fn next_fault(&self) -> Fault {
        self.plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next()
    }
}

/// The fault as a list of steps, and how many requests have been served from it.
struct Plan {
    steps: Vec<Fault>,
    served: usize,
}

impl Plan {
    fn new(fault: Fault) -> Plan {
        fn flatten(fault: Fault, steps: &mut Vec<Fault>) {
            match fault {
                Fault::Sequence(inner) => inner.into_iter().for_each(|f| flatten(f, steps)),
                step => steps.push(step),
            }
        }
        let mut steps = Vec::new();
        flatten(fault, &mut steps);
        if steps.is_empty() {
            steps.push(Fault::None);
        }
        Plan { steps, served: 0 }
    }

    fn next(&mut self) -> Fault {
        let step = self.served.min(self.steps.len() - 1);
        self.served += 1;
        self.steps[step].clone()
    }
}

/// Binds with `SO_REUSEADDR`: without it, binding the same port again after `go_down` fails
/// while the connections it closed sit in TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Owns the listener and every connection task, so that closing the listener, closing the
/// connections and stopping are each one place.
async fn supervise(
    addr: SocketAddr,
    listener: TcpListener,
    shared: Arc<Shared>,
    mut wanted: watch::Receiver<Listening>,
    listening: watch::Sender<bool>,
) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    let mut bind_failed = false;
    loop {
        let now = *wanted.borrow_and_update();
        match now {
            Listening::Stop => break,
            Listening::Down => {
                if let Some(old) = listener.take() {
                    // Closing the socket is what makes `connect` fail with "refused" (a
                    // listener that merely stops accepting would leave clients hanging).
                    drop(old);
                    connections.shutdown().await;
                }
            }
            Listening::Up if listener.is_none() => match listen(addr) {
                Ok(bound) => {
                    listener = Some(bound);
                    bind_failed = false;
                }
                // Something else may briefly hold the port; try again shortly.
                Err(_) => bind_failed = true,
            },
            Listening::Up => {}
        }
        listening.send_replace(listener.is_some());
        tokio::select! {
            changed = wanted.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = accept(listener.as_ref()) => match accepted {
                Ok(stream) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve(stream, shared.clone()));
                }
                // Out of file descriptors and the like: let it pass rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = tokio::time::sleep(Duration::from_millis(50)), if bind_failed => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    listening.send_replace(false);
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Serves one connection until it is closed, by either side. An error here only means the
/// client went away or broke the protocol; the connection ends either way.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    loop {
        let head = match conn.read_head().await {
            Ok(Incoming::Request(head)) => head,
            Ok(Incoming::Malformed(status)) => {
                let _ = conn
                    .respond(status, &[], b"malformed request\n", true)
                    .await;
                return;
            }
            Ok(Incoming::Closed) | Err(_) => return,
        };
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let fault = shared.next_fault();
        match answer(&mut conn, &shared, &head, fault).await {
            Ok(Then::KeepAlive) if !head.close => {}
            _ => return,
        }
    }
}

/// What to do with the connection after a request.
enum Then {
    KeepAlive,
    Close,
}

async fn answer(conn: &mut Conn, shared: &Shared, head: &Head, fault: Fault) -> io::Result<Then> {
    let close = head.close;
    match fault {
        // `Plan` flattens sequences, so a step is never one.
        Fault::None | Fault::Sequence(_) => match conn.body_or_refusal(head, None).await? {
            Some(body) => store_batch(conn, shared, head, &body).await,
            None => Ok(Then::Close),
        },
        Fault::SlowRead { bytes_per_sec } => {
            match conn.body_or_refusal(head, Some(bytes_per_sec)).await? {
                Some(body) => store_batch(conn, shared, head, &body).await,
                None => Ok(Then::Close),
            }
        }
        Fault::Status { code, retry_after } => {
            if conn.body_or_refusal(head, None).await?.is_none() {
                return Ok(Then::Close);
            }
            let headers: Vec<(&str, &str)> = retry_after
                .as_deref()
                .map(|value| ("Retry-After", value))
                .into_iter()
                .collect();
            conn.respond(code, &headers, b"fault injected by the test\n", close)
                .await?;
            Ok(Then::KeepAlive)
        }
        Fault::Hang => {
            conn.hold().await;
            Ok(Then::Close)
        }
        Fault::ResetMidBody => {
            conn.read_part_of_body(head).await?;
            // With a zero linger, closing sends RST instead of FIN: the client sees a reset.
            conn.stream.set_zero_linger()?;
            Ok(Then::Close)
        }
        Fault::Garbage => {
            // The whole request is read first: closing with unread bytes would send a reset,
            // which could discard the garbage before the client reads it.
            let _ = conn.read_body(head, None).await;
            conn.stream.write_all(GARBAGE).await?;
            conn.stream.shutdown().await?;
            Ok(Then::Close)
        }
        Fault::Refuse => {
            let _ = conn.read_body(head, None).await;
            conn.stream.shutdown().await?;
            Ok(Then::Close)
        }
    }
}

/// What the real collector does with a request: route, validate, store, answer.
async fn store_batch(
    conn: &mut Conn,
    shared: &Shared,
    head: &Head,
    body: &[u8],
) -> io::Result<Then> {
    let close = head.close;
    if head.path != BATCH_PATH {
        conn.respond(404, &[], b"not found\n", close).await?;
    } else if head.method != "POST" {
        conn.respond(405, &[("Allow", "POST")], b"", close).await?;
    } else {
        match (shared.check)(body)
            .map_err(|e| e.to_string())
            .and_then(|()| parse_batch(body).map_err(|e| format!("{e:#}")))
        {
            Err(e) => {
                let text = format!("{e}\n");
                conn.respond(400, &[], text.as_bytes(), close).await?;
            }
            Ok(batch) => match shared.store.ingest(&batch) {
                Ok(Ingested {
                    accepted,
                    duplicates,
                    ..
                }) => {
                    let json =
                        serde_json::json!({ "accepted": accepted, "duplicates": duplicates });
                    let headers = [("Content-Type", "application/json")];
                    conn.respond(200, &headers, json.to_string().as_bytes(), close)
                        .await?;
                }
                Err(_) => conn.respond(500, &[], b"storage failed\n", close).await?,
            },
        }
    }
    Ok(Then::KeepAlive)
}

/// What was read where a request head was expected.
enum Incoming {
    Request(Head),
    /// Answer with this status and close.
    Malformed(u16),
    /// The client closed the connection (between requests, or halfway through a head).
    Closed,
}

/// The parts of a request head the collector acts on.
struct Head {
    method: String,
    path: String,
    content_length: Option<usize>,
    chunked: bool,
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    close: bool,
    expect_continue: bool,
}

/// The request head at the start of `buf` and its length; `Ok(None)` while it is incomplete,
/// `Err` with the status to answer when it is not a request this collector takes.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version) => return Err(505),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    };
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Err(400);
    };
    // Absolute form (`http://host/path`) is allowed by HTTP/1.1 even when not talking to a
    // proxy; only the path matters here.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    let mut head = Head {
        method: method.to_string(),
        path: path.split('?').next().unwrap_or_default().to_string(),
        content_length: None,
        chunked: false,
        // HTTP/1.0 closes unless it asks for keep-alive.
        close: request.version != Some(1),
        expect_continue: false,
    };
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| 400u16)?
            .trim();
        match header.name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let length = value.parse::<usize>().map_err(|_| 400u16)?;
                if head.content_length.is_some_and(|earlier| earlier != length) {
                    return Err(400);
                }
                head.content_length = Some(length);
            }
            "transfer-encoding" => {
                // A request body's length is knowable only if `chunked` is the last coding.
                let last = value.rsplit(',').next().unwrap_or_default().trim();
                if !last.eq_ignore_ascii_case("chunked") {
                    return Err(501);
                }
                head.chunked = true;
            }
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        head.close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        head.close = false;
                    }
                }
            }
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    Ok(Some((len, head)))
}

/// Why a request body could not be read.
enum BodyError {
    Io(io::Error),
    TooLarge,
    Malformed,
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> BodyError {
        BodyError::Io(e)
    }
}

/// A connection and the bytes read from it but not consumed yet (the next request may
/// arrive in the same read as the previous body).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads at most `max` more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self, max: usize) -> io::Result<usize> {
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        let read = self.stream.read(&mut self.buf[start..]).await;
        self.buf.truncate(start + read.as_ref().map_or(0, |n| *n));
        read
    }

    async fn read_head(&mut self) -> io::Result<Incoming> {
        loop {
            // httparse skips empty lines before a request line, as RFC 9112 (2.2) asks.
            match parse_head(&self.buf) {
                Ok(Some((len, head))) => {
                    self.buf.drain(..len);
                    return Ok(Incoming::Request(head));
                }
                Ok(None) => {}
                Err(status) => return Ok(Incoming::Malformed(status)),
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Ok(Incoming::Malformed(431));
            }
            if self.fill(READ_CHUNK).await? == 0 {
                return Ok(Incoming::Closed);
            }
        }
    }

    /// The request body, or `None` once a body that cannot be read has been answered (413 or
    /// 400, closing the connection).
    async fn body_or_refusal(
        &mut self,
        head: &Head,
        bytes_per_sec: Option<usize>,
    ) -> io::Result<Option<Vec<u8>>> {
        match self.read_body(head, bytes_per_sec).await {
            Ok(body) => Ok(Some(body)),
            Err(BodyError::Io(e)) => Err(e),
            Err(BodyError::TooLarge) => {
                self.respond(413, &[], b"body too large\n", true).await?;
                Ok(None)
            }
            Err(BodyError::Malformed) => {
                self.respond(400, &[], b"malformed chunked body\n", true)
                    .await?;
                Ok(None)
            }
        }
    }

    async fn read_body(
        &mut self,
        head: &Head,
        bytes_per_sec: Option<usize>,
    ) -> Result<Vec<u8>, BodyError> {
        if head.expect_continue {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let mut throttle = bytes_per_sec.map(Throttle::new);
        let mut body = Vec::new();
        if !head.chunked {
            let length = head.content_length.unwrap_or(0);
            if length > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            self.take(length, &mut body, throttle.as_mut()).await?;
            return Ok(body);
        }
        loop {
            let size = self.read_chunk_size().await?;
            let size = usize::try_from(size).map_err(|_| BodyError::TooLarge)?;
            if size == 0 {
                break;
            }
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            self.take(size, &mut body, throttle.as_mut()).await?;
            if !self.read_line().await?.is_empty() {
                return Err(BodyError::Malformed);
            }
        }
        // Trailers, up to the empty line that ends the message.
        while !self.read_line().await?.is_empty() {}
        Ok(body)
    }

    /// Moves `n` bytes of body into `out`, at the throttle's pace if there is one.
    async fn take(
        &mut self,
        n: usize,
        out: &mut Vec<u8>,
        mut throttle: Option<&mut Throttle>,
    ) -> io::Result<()> {
        let step = throttle.as_ref().map_or(READ_CHUNK, |t| t.step);
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() && self.fill(step.min(left)).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let k = left.min(self.buf.len()).min(step);
            out.extend(self.buf.drain(..k));
            left -= k;
            if let Some(throttle) = throttle.as_deref_mut() {
                throttle.consumed(k).await;
            }
        }
        Ok(())
    }

    /// A chunk-size line (extensions and all), as a number.
    async fn read_chunk_size(&mut self) -> Result<u64, BodyError> {
        loop {
            match httparse::parse_chunk_size(&self.buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.buf.drain(..used);
                    return Ok(size);
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(BodyError::Malformed),
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(BodyError::Malformed);
            }
            if self.fill(READ_CHUNK).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }

    /// One line of a chunked body (the end of a chunk, a trailer), without its CRLF.
    async fn read_line(&mut self) -> Result<String, BodyError> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return String::from_utf8(line).map_err(|_| BodyError::Malformed);
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(BodyError::Malformed);
            }
            if self.fill(READ_CHUNK).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }

    /// Reads about half of the body as raw bytes (chunk framing included), at least one byte.
    async fn read_part_of_body(&mut self, head: &Head) -> io::Result<()> {
        let part = head.content_length.map_or(1, |n| n / 2).max(1);
        while self.buf.len() < part {
            if self.fill(READ_CHUNK).await? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Reads and discards until the client goes away, then keeps the socket until the task
    /// is aborted (stop or go-down): a hung server does not close either.
    async fn hold(&mut self) {
        self.buf.clear();
        let mut sink = vec![0; READ_CHUNK];
        loop {
            match self.stream.read(&mut sink).await {
                Ok(0) => std::future::pending::<()>().await,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    async fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        close: bool,
    ) -> io::Result<()> {
        use std::fmt::Write as _;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        // These statuses never have a body (RFC 9110, 6.4.1); a length would confuse clients.
        let bodyless = (100..200).contains(&status) || status == 204 || status == 304;
        if !bodyless {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        if !bodyless {
            message.extend_from_slice(body);
        }
        self.stream.write_all(&message).await?;
        if close {
            self.stream.shutdown().await?;
        }
        Ok(())
    }
}

/// Paces reading so that `n` bytes take at least `n / bytes_per_sec` seconds.
struct Throttle {
    bytes_per_sec: usize,
    /// Largest read: about 20 reads a second.
    step: usize,
    start: Instant,
    consumed: usize,
}

impl Throttle {
    fn new(bytes_per_sec: usize) -> Throttle {
        let bytes_per_sec = bytes_per_sec.max(1);
        Throttle {
            bytes_per_sec,
            step: (bytes_per_sec / 20).clamp(1, READ_CHUNK),
            start: Instant::now(),
            consumed: 0,
        }
    }

    async fn consumed(&mut self, n: usize) {
        self.consumed += n;
        let due = Duration::from_secs_f64(self.consumed as f64 / self.bytes_per_sec as f64);
        tokio::time::sleep_until(self.start + due).await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Fault",
    }
}
