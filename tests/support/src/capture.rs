//! An endpoint that keeps every request as it came (path, headers, body), for tests of what
//! the component puts on the wire byte for byte (headers, gzip, request order, left-out
//! counts), which the local collector would only store. It answers every POST with 200 (or
//! the status it is told to), on a free loopback port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::task::JoinHandle;

/// One request, as it arrived.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Captured {
    /// The value of header `name` (lower case), if it came.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body, gunzipped if it says it is gzipped.
    pub fn decoded_body(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&self.body[..]), &mut out)
                .expect("a body that says it is gzipped is not");
            out
        } else {
            self.body.clone()
        }
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Captured>>,
    /// What to answer, from which request on (counting from 0); 200 before, or when unset.
    status: Mutex<Option<(usize, u16)>>,
}

pub struct CaptureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl CaptureServer {
    pub async fn start() -> CaptureServer {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(keep).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the capture server cannot listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CaptureServer { addr, shared, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers every request from now on with `code`.
    pub fn answer(&self, code: u16) {
        self.answer_from(0, code);
    }

    /// Answers 200 to the first `n` requests (of all so far), then `code`.
    pub fn answer_from(&self, n: usize, code: u16) {
        *self
            .shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((n, code));
    }

    /// The requests answered with a 2xx.
    pub fn accepted(&self) -> Vec<Captured> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Every request so far, in the order they came.
    pub fn requests(&self) -> Vec<Captured> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut requests = shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let code = match *shared.status.lock().unwrap_or_else(PoisonError::into_inner) {
        Some((from, code)) if requests.len() >= from => code,
        _ => 200,
    };
    requests.push(Captured {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
        answered: code,
    });
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}
