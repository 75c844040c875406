//! Errors of this library's own making (wasmtime and I/O errors travel as `anyhow`).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the endpoint `{url}` cannot be used: {why}")]
    InvalidEndpoint { url: String, why: String },
}
