//! An agent that speaks OpenTelemetry and the `recorder` import both (an agent may import
//! both): with `--recorder` first, it records one event through `recorder`, then emits what
//! `emit.rs` says through `wasi:otel`. Its other arguments are secrets.

wit_bindgen::generate!({
    inline: "package fixture:otel;
             world otel-agent {
                 include wasi:otel/imports@0.2.0-rc.2;
                 import agent:telemetry/recorder@0.2.0;
             }",
    world: "otel-agent",
    generate_all,
    path: "../../../wit",
});

mod emit;

fn main() {
    let mut secrets: Vec<String> = std::env::args().skip(1).collect();
    if secrets.first().is_some_and(|a| a == "--recorder") {
        secrets.remove(0);
        use agent::telemetry::recorder as r;
        r::record(&r::Event::Command(r::Command {
            action: "otel-fixture".to_string(),
            outcome: r::Outcome::Success,
            error: None,
            arg_count: 0,
            flags: Vec::new(),
        }));
        println!("recorded 1 event through the recorder import");
    }
    emit::run(&secrets);
}
