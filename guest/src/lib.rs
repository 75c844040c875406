//! The telemetry component: validates, anonymizes, batches and serializes agent usage events,
//! and sends them through `wasi:http` to the one endpoint its host allows.
//!
//! Where things happen: `anonymize` (the privacy rules), `event` (which rule each WIT field
//! gets), `admission` (what a batch from the host's spool must hold before it is sent again),
//! `session` (session totals), `pipeline` (queue and batches), `encode` (the wire formats),
//! `config` (settings from `wasi:config`); on wasm32 only, `send` (a batch in its format,
//! request by request), `transport` (`wasi:http`) and `component` (the `recorder` and
//! `delivery` exports). What the host shares with the component (wire types, config keys, id
//! formats, the retry schedule) is the `agent-telemetry-contract` crate beside this one.
//! Everything but the last three modules also builds natively, for unit tests and for the
//! benchmark's native floor. `privacy_tests` checks the privacy contract on the serialized
//! batch, field by field, in every wire format; `golden_tests` holds every format to the
//! files in `guest/golden/`.

pub use agent_telemetry_contract as contract;
pub use agent_telemetry_contract::{retry, wire};

pub mod admission;
pub mod anonymize;
pub mod config;
pub mod encode;
pub mod event;
pub mod pipeline;
pub mod session;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod privacy_tests;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod send;
#[cfg(target_arch = "wasm32")]
mod transport;

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "telemetry",
        path: "../wit",
        generate_all,
        // For the tests, which read their events from tests/events/every-kind.json. A derive
        // costs nothing where it is not used.
        additional_derives: [serde::Deserialize],
        // It carries a resource, which has no such derive.
        additional_derives_ignore: ["stream-error"],
    });

    // `wit/deps` holds two versions of `wasi:clocks` and `wasi:io`: this component's (0.2.12)
    // and the one `wasi:otel` names (0.2.0). wit-bindgen then puts the version in their
    // module names; these are this component's.
    pub use self::wasi::{clocks0_2_12 as clocks, io0_2_12 as io};
}
