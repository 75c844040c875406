//! Builds the telemetry component for wasm32-wasip2, so the library carries it and a user
//! needs no separate .wasm file; then compiles it for the machine being built for, so that a
//! fresh install's first run loads machine code instead of compiling the component (about 0.7 s
//! of cranelift) while the agent waits.

#[path = "wasm_build.rs"]
mod wasm_build;

#[path = "src/runtime/engine_config.rs"]
mod engine_config;

use std::path::{Path, PathBuf};

fn main() {
    let dir = wasm_build::build(&["agent-telemetry-guest"], &["wit", "guest"]);
    let component = dir.join("agent_telemetry_guest.wasm");
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_COMPONENT={}",
        component.display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let code = out.join("agent_telemetry_guest.cwasm");
    let compiled = precompile(&component).unwrap_or_else(|why| {
        println!(
            "cargo:warning=the telemetry component is not compiled ahead of time ({why}): \
             the first run compiles it"
        );
        Vec::new()
    });
    std::fs::write(&code, compiled).expect("OUT_DIR is writable");
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_COMPONENT_CODE={}",
        code.display()
    );
    println!("cargo:rerun-if-changed=src/runtime/engine_config.rs");
}

/// The component compiled by cranelift for the machine this build runs on, with the
/// library's engine settings; empty when building for another target (the library then
/// compiles it on first use, as it does when the code turns out not to fit the machine).
fn precompile(component: &Path) -> Result<Vec<u8>, String> {
    let (host, target) = (std::env::var("HOST"), std::env::var("TARGET"));
    if host != target {
        return Err(format!("cross-compiling for {target:?}"));
    }
    let wasm = std::fs::read(component).map_err(|e| e.to_string())?;
    let engine = wasmtime::Engine::new(&engine_config::config()).map_err(|e| e.to_string())?;
    engine
        .precompile_component(&wasm)
        .map_err(|e| e.to_string())
}
