//! Delivery that survives a dead collector: the spool of batches on disk (`spool`) and the
//! sender that delivers from it with the shared retry schedule (`sender`).

pub(crate) mod counts;
pub(crate) mod sender;
pub(crate) mod spool;
