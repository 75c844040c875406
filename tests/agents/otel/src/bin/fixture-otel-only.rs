//! An agent that speaks OpenTelemetry and nothing of ours: it imports `wasi:otel` (as Spin
//! and wasmCloud components instrumented with OpenTelemetry do) and no `recorder`, and emits
//! what `emit.rs` says. Its arguments are secrets.

wit_bindgen::generate!({
    world: "wasi:otel/imports@0.2.0-rc.2",
    generate_all,
    path: "../../../wit",
});

#[path = "../emit.rs"]
mod emit;

fn main() {
    let secrets: Vec<String> = std::env::args().skip(1).collect();
    emit::run(&secrets);
}
