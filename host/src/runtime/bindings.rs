//! Host-side bindings for the `recorder` interface. The world here lists only the export:
//! the component's WASI imports are satisfied by the linker, not by generated traits.
//!
//! The generated types carry the WIT's own doc comments (`wit/telemetry.wit`); a field the WIT
//! does not comment on is explained by its record's comment, so the generated code is not
//! held to `missing_docs`.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "package agent-telemetry:host;
             world recorder-host { export agent:telemetry/recorder@0.2.0; export agent:telemetry/delivery@0.2.0; }",
    world: "recorder-host",
    exports: { default: async },
});

pub use exports::agent::telemetry::{delivery, recorder};
