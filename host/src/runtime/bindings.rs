//! Host-side bindings for the `recorder` interface. The world here lists only the export:
//! the component's WASI imports are satisfied by the linker, not by generated traits.

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "package agent-telemetry:host;
             world recorder-host { export agent:telemetry/recorder@0.2.0; export agent:telemetry/delivery@0.2.0; }",
    world: "recorder-host",
    exports: { default: async },
});

pub use exports::agent::telemetry::{delivery, recorder};
