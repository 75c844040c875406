//! Imports `wasi:http/outgoing-handler` and sends a request to the address in its first
//! argument. `agent-telemetry run` must refuse to start it at all.

#[cfg(target_arch = "wasm32")]
fn main() {
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let authority = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9".to_string());
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(&authority));
    match wasip2::http::outgoing_handler::handle(request, None) {
        Ok(_) => println!("http-import: request handed to the host"),
        Err(e) => println!("http-import: request refused: {e:?}"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
