//! Builds the telemetry component for wasm32-wasip2, so the library carries it and a user
//! needs no separate .wasm file.

#[path = "wasm_build.rs"]
mod wasm_build;

fn main() {
    let dir = wasm_build::build(&["agent-telemetry-guest"], &["wit", "guest"]);
    let component = dir.join("agent_telemetry_guest.wasm");
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_COMPONENT={}",
        component.display()
    );
}
