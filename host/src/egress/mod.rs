//! What leaves the machine: the policy that lets the component's requests out to one
//! endpoint (`policy`), the layer that records each one and sends it or, in debug mode,
//! keeps it (`capture`), and the egress ledger that record goes to (`ledger`).

pub(crate) mod capture;
pub(crate) mod connections;
pub mod ledger;
pub(crate) mod policy;
