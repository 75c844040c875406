//! Kept-alive connections to the allowed endpoint. Every batch used to open a TCP connection
//! (and, for `https`, a TLS session) and close it after one request; now the host keeps a
//! connection that answered open for the next request, through hyper's pooling client, so a
//! stream of batches pays for the handshake once.
//!
//! What the policy and the ledger do is unchanged: the body is read whole, recorded, then given
//! to [`Connections::send`]. TLS is rustls with Mozilla's roots, as wasmtime's own sender uses.
//! The guest's timeouts (capped by the host) still hold: connecting, the answer's head (bounded
//! by the caller), and the wait between two frames of the answer's body.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// How long an idle connection is kept: longer than the gap between two flushes of a busy
/// agent, shorter than the idle timeouts of common servers and load balancers (60 s and up),
/// so that the host, not the server, is normally the one to close it.
const IDLE: Duration = Duration::from_secs(30);

/// Idle connections kept to the endpoint: one is enough for a component that sends one batch
/// at a time; a second serves a host-side upload (counts-only mode) meanwhile.
const MAX_IDLE: usize = 2;

/// A pool of connections to the endpoint; cheap to clone (the clones share the pool).
#[derive(Clone)]
pub(crate) struct Connections {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Connections {
    /// A pool whose connections are made within `connect_timeout`.
    pub(crate) fn new(connect_timeout: Duration) -> Connections {
        let mut tcp = HttpConnector::new();
        // The scheme is checked by the policy; the TLS layer below takes `https`.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE)
            .pool_max_idle_per_host(MAX_IDLE)
            .build(connector);
        Connections { client }
    }

    /// Sends `request` on a kept connection, or a new one; the answer's body fails when
    /// `between_bytes` passes with nothing read. The caller bounds the wait for the head.
    pub(crate) async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        between_bytes: Duration,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let response = self.client.request(request).await.map_err(http_error)?;
        Ok(response.map(|body| Paced::new(body, between_bytes).boxed_unsync()))
    }
}

/// The wasi:http error for a failed exchange: the connection's own error (refused, TLS) when
/// there is one, else hyper's.
fn http_error(error: hyper_util::client::legacy::Error) -> HttpError {
    let mut text = error.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&error);
    while let Some(cause) = source {
        if error.is_connect()
            && let Some(io) = cause.downcast_ref::<std::io::Error>()
        {
            return HttpError::Connect(std::io::Error::new(io.kind(), io.to_string()));
        }
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    HttpError::InternalError(Some(text))
}

/// An answer's body that fails when no frame comes for `between` (a collector that sends a
/// head and then stalls must not hold the sender past its own deadline's parts).
struct Paced {
    body: Incoming,
    between: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Paced {
    fn new(body: Incoming, between: Duration) -> Paced {
        Paced {
            body,
            between,
            timer: Box::pin(tokio::time::sleep(between)),
        }
    }
}

impl Body for Paced {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.between;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(HttpError::from)))
            }
            Poll::Pending => {
                ready!(self.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server on 127.0.0.1 that answers every request on a connection with `answer`, then
    /// keeps the connection open; the number of connections it accepted.
    async fn server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/batch", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 << 10];
                    // One read per request: the tests' requests are small.
                    while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn post(url: &str) -> http::Request<Full<Bytes>> {
        http::Request::post(url)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    #[tokio::test]
    async fn requests_share_a_connection_once_its_answer_is_read() {
        let (url, accepted) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let connections = Connections::new(Duration::from_secs(5));
        for _ in 0..3 {
            let response = connections
                .send(post(&url), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_whose_body_stalls_fails_after_the_wait_between_bytes() {
        // The head and two bytes of ten, then nothing.
        let (url, _) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok").await;
        let connections = Connections::new(Duration::from_secs(5));
        let response = connections
            .send(post(&url), Duration::from_millis(100))
            .await
            .unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .expect("the body's wait is bounded");
        assert!(
            matches!(read, Err(HttpError::ConnectionReadTimeout)),
            "{read:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let connections = Connections::new(Duration::from_secs(5));
        let sent = connections
            .send(
                post(&format!("http://127.0.0.1:{port}/v1/batch")),
                Duration::from_secs(1),
            )
            .await;
        assert!(
            matches!(&sent, Err(HttpError::Connect(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{:?}",
            sent.err()
        );
    }
}
