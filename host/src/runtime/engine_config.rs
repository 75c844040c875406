//! The engine settings that compiled code depends on, in one place for the library and for
//! its build script, which compiles the telemetry component ahead of time with them (see
//! `build.rs`). Code compiled under other settings is refused by wasmtime when it is loaded,
//! and the component is then compiled again: a change here can cost time, never correctness.

/// The settings every engine of this host starts from.
pub fn config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}
