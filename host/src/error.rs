//! Errors of this library's own making (wasmtime and I/O errors travel as `anyhow`).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the endpoint `{url}` cannot be used: {why}")]
    InvalidEndpoint { url: String, why: String },
    /// A setting the component could not use; the message names it, never a header's value.
    #[error("the setting `{key}` cannot be used: {why}")]
    InvalidSetting { key: &'static str, why: String },
}
