//! Builds the telemetry component, the bundled example agent and the test fixtures for wasm32-wasip2, so the
//! host binary carries both and a user needs no separate .wasm file.

#[path = "wasm_build.rs"]
mod wasm_build;

fn main() {
    let dir = wasm_build::build(&[
        "agent-telemetry-guest",
        "fixture-every-event",
        "fixture-net-probe",
        "fixture-http-import",
        "fixture-sandbox-probe",
        "fixture-hostile",
        "fixture-faulty-recorder",
    ]);
    let component = dir.join("agent_telemetry_guest.wasm");
    let demo_agent = dir.join("fixture-every-event.wasm");
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_COMPONENT={}",
        component.display()
    );
    println!(
        "cargo:rustc-env=AGENT_TELEMETRY_DEMO_AGENT={}",
        demo_agent.display()
    );
    // For the integration tests in ../tests (targets of this package): the fixture agents.
    println!("cargo:rustc-env=AGENT_TELEMETRY_WASM_DIR={}", dir.display());
}
