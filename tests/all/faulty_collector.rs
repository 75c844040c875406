//! The faulty collector (tests/support/src/faulty.rs) misbehaves exactly as asked: each fault as a
//! raw client on a real socket sees it, so the sender's tests can rely on it.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::faulty::{Fault, FaultyCollector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn body(events: usize) -> Vec<u8> {
    serde_json::to_vec(&support::batch(events)).unwrap()
}

fn post_head(addr: SocketAddr, length: usize, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{connection}\r\n"
    )
}

/// What a raw client got: the bytes before the end, how it ended, whether it timed out.
struct Reply {
    bytes: Vec<u8>,
    error: Option<ErrorKind>,
    timed_out: bool,
}

/// Sends one request on a new connection and reads until the server closes (or resets, or
/// `within` passes).
async fn exchange(addr: SocketAddr, request: &[u8], within: Duration) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if let Err(e) = stream.write_all(request).await {
        return Reply {
            bytes: Vec::new(),
            error: Some(e.kind()),
            timed_out: false,
        };
    }
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return None,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) => return Some(e.kind()),
            }
        }
    })
    .await;
    Reply {
        bytes,
        timed_out: read.is_err(),
        error: read.unwrap_or_default(),
    }
}

/// One response from a connection that stays open: (status, head, body). Checks that the
/// body is exactly `Content-Length` long.
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a full response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the whole body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), length, "more bytes than Content-Length");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

async fn post_on(stream: &mut TcpStream, addr: SocketAddr, body: &[u8]) -> (u16, String, String) {
    stream
        .write_all(post_head(addr, body.len(), false).as_bytes())
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    read_response(stream).await
}

#[tokio::test]
async fn none_stores_a_valid_batch_and_answers_like_the_real_collector() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    assert_eq!(collector.url(), format!("http://{addr}/v1/batch"));
    let batch = body(3);

    let (status, text) = support::post(addr, "/v1/batch", &batch).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Content-Length: 29\r\n"), "{text}");
    assert!(text.ends_with(r#"{"accepted":3,"duplicates":0}"#), "{text}");
    let (status, text) = support::post(addr, "/v1/batch", &batch).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(r#"{"accepted":0,"duplicates":3}"#), "{text}");

    let counts = collector.store().counts().unwrap();
    assert_eq!(
        (counts.batches, counts.events, counts.duplicates),
        (2, 3, 3)
    );
    assert_eq!(collector.store().events().unwrap().len(), 3);
    assert_eq!((collector.requests(), collector.connections()), (2, 2));
    collector.stop().await;
}

#[tokio::test]
async fn none_refuses_what_the_real_collector_refuses() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    let (status, text) = support::post(addr, "/v1/batch", br#"{"schema":"nope"}"#).await;
    assert_eq!(status, 400, "{text}");
    let (status, _) = support::post(addr, "/elsewhere", &body(1)).await;
    assert_eq!(status, 404);
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    collector.stop().await;
}

#[tokio::test]
async fn keep_alive_and_chunked_bodies_are_understood() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();

    // A chunked body in three chunks, one with an extension, and a trailer.
    let first = body(2);
    let (a, rest) = first.split_at(10);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut request =
        format!("POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for (i, chunk) in [a, b, c].into_iter().enumerate() {
        let extension = if i == 1 { ";name=value" } else { "" };
        request.extend_from_slice(format!("{:x}{extension}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let (status, _, text) = read_response(&mut stream).await;
    assert_eq!(status, 200, "{text}");

    // The same connection again, with a length, and then closed by the client's request.
    let second = body(1);
    let request = [post_head(addr, second.len(), true).into_bytes(), second].concat();
    stream.write_all(&request).await.unwrap();
    let (status, head, _) = read_response(&mut stream).await;
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(stream.read(&mut [0u8; 1]).await.unwrap(), 0, "not closed");

    assert_eq!(collector.store().counts().unwrap().events, 3);
    assert_eq!((collector.requests(), collector.connections()), (2, 1));
    collector.stop().await;
}

#[tokio::test]
async fn the_fault_switches_on_a_connection_already_open() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(post_on(&mut stream, addr, &body(1)).await.0, 200);
    collector.set(Fault::status(500));
    assert_eq!(post_on(&mut stream, addr, &body(1)).await.0, 500);
    collector.set(Fault::None);
    assert_eq!(post_on(&mut stream, addr, &body(1)).await.0, 200);
    assert_eq!(collector.connections(), 1);
    assert_eq!(collector.store().counts().unwrap().events, 2);
    collector.stop().await;
}

#[tokio::test]
async fn status_answers_with_its_code_and_retry_after_and_stores_nothing() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::Status {
        code: 503,
        retry_after: Some("7".to_string()),
    });
    let (status, text) = support::post(addr, "/v1/batch", &body(2)).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");

    for code in [429, 500, 400] {
        collector.set(Fault::status(code));
        let (status, text) = support::post(addr, "/v1/batch", &body(2)).await;
        assert_eq!(status, code, "{text}");
        assert!(!text.contains("Retry-After"), "{text}");
    }
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    assert_eq!(collector.requests(), 4);
    collector.stop().await;
}

#[tokio::test]
async fn a_sequence_advances_per_request_then_repeats_its_last_step() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::Sequence(vec![
        Fault::status(500),
        Fault::Status {
            code: 503,
            retry_after: Some("1".to_string()),
        },
        Fault::None,
    ]));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(support::post(addr, "/v1/batch", &body(1)).await.0);
    }
    assert_eq!(statuses, [500, 503, 200, 200]);
    assert_eq!(collector.store().counts().unwrap().events, 2);
    collector.stop().await;
}

#[tokio::test]
async fn refuse_inside_a_sequence_drops_that_request_unanswered() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::Sequence(vec![Fault::Refuse, Fault::None]));
    let batch = body(1);
    let request = [post_head(addr, batch.len(), true).into_bytes(), batch].concat();
    let reply = exchange(addr, &request, Duration::from_secs(5)).await;
    assert!(reply.bytes.is_empty() && reply.error.is_none() && !reply.timed_out);
    assert_eq!(support::post(addr, "/v1/batch", &body(1)).await.0, 200);
    collector.stop().await;
}

#[tokio::test]
async fn go_down_refuses_connections_and_come_back_serves_the_same_port() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(post_on(&mut open, addr, &body(1)).await.0, 200);

    // Twice, so that the port is bound again while closed connections are in TIME_WAIT.
    for _ in 0..2 {
        collector.go_down().await;
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        collector.come_back().await;
        assert_eq!(collector.addr(), addr);
        assert_eq!(support::post(addr, "/v1/batch", &body(1)).await.0, 200);
    }
    // The connection open before going down was closed, as by a collector that died.
    let mut rest = Vec::new();
    assert!(matches!(open.read_to_end(&mut rest).await, Ok(0) | Err(_)));
    assert_eq!(collector.store().counts().unwrap().events, 3);
    collector.stop().await;
}

#[tokio::test]
async fn hang_never_answers_and_stop_closes_the_hung_socket() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::Hang);
    let batch = body(5);
    let request = [post_head(addr, batch.len(), false).into_bytes(), batch].concat();
    let reply = exchange(addr, &request, Duration::from_millis(300)).await;
    assert!(reply.timed_out && reply.bytes.is_empty());

    let mut hung = TcpStream::connect(addr).await.unwrap();
    hung.write_all(&request).await.unwrap();
    while collector.requests() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), collector.stop())
        .await
        .expect("stop waits on a hung connection");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), hung.read_to_end(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(0)) | Ok(Err(_))),
        "still open: {ended:?}"
    );
}

#[tokio::test]
async fn reset_mid_body_resets_the_connection_without_a_status() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::ResetMidBody);
    for events in [1, 400] {
        let batch = body(events);
        let request = [post_head(addr, batch.len(), false).into_bytes(), batch].concat();
        let reply = exchange(addr, &request, Duration::from_secs(5)).await;
        assert!(reply.bytes.is_empty() && !reply.timed_out);
        assert!(
            matches!(
                reply.error,
                Some(ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)
            ),
            "not a reset: {:?}",
            reply.error
        );
    }
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    collector.stop().await;
}

#[tokio::test]
async fn garbage_is_not_http() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    collector.set(Fault::Garbage);
    let batch = body(2);
    let request = [post_head(addr, batch.len(), false).into_bytes(), batch].concat();
    let reply = exchange(addr, &request, Duration::from_secs(5)).await;
    assert!(!reply.bytes.is_empty() && !reply.bytes.starts_with(b"HTTP/"));
    assert_eq!(reply.error, None, "closed with FIN, not reset");
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    collector.stop().await;
}

#[tokio::test]
async fn slow_read_stores_and_answers_200_but_only_after_the_throttled_time() {
    let collector = FaultyCollector::start().await;
    let addr = collector.addr();
    let batch = body(20);
    // About 400 ms for the whole body.
    let bytes_per_sec = batch.len() * 5 / 2;
    collector.set(Fault::SlowRead { bytes_per_sec });
    let started = Instant::now();
    let (status, text) = support::post(addr, "/v1/batch", &batch).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    let least = Duration::from_secs_f64(batch.len() as f64 / bytes_per_sec as f64);
    assert!(took >= least, "took {took:?}, at least {least:?} expected");
    assert_eq!(collector.store().counts().unwrap().events, 20);
    collector.stop().await;
}
