//! Wire formats, one submodule each. Issue-driven formats (`docker`, `swarm`, `otlp`) join
//! `native` here; each turns a [`wire::Batch`] into request bytes.

pub mod native;
