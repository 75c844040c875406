//! Builds the bundled example agent (tests/agents/every-event) for wasm32-wasip2, so that
//! `agent-telemetry demo` needs no separate .wasm file. The telemetry component itself comes
//! with the library.

#[path = "../wasm_build.rs"]
mod wasm_build;

fn main() {
    let dir = wasm_build::build(
        &["fixture-every-event"],
        &["wit", "kit", "tests/agents/every-event", "tests/events"],
    );
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_DEMO_AGENT={}",
        dir.join("fixture-every-event.wasm").display()
    );
}
