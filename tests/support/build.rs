//! Builds the fixture agents (tests/agents/*) for wasm32-wasip2: only the tests and the
//! benchmark need them, so only they build them.

#[path = "../../host/wasm_build.rs"]
mod wasm_build;

fn main() {
    let dir = wasm_build::build(
        &[
            "fixture-every-event",
            "fixture-net-probe",
            "fixture-http-import",
            "fixture-sandbox-probe",
            "fixture-hostile",
            "fixture-faulty-recorder",
            "fixture-hello",
            "fixture-flood",
            "fixture-legacy-v0-1",
            "fixture-otel",
        ],
        &["wit", "kit", "tests/agents", "tests/events"],
    );
    println!("cargo:rustc-env=AGENT_TELEMETRY_WASM_DIR={}", dir.display());
}
