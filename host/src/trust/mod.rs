//! What decides whether telemetry runs and who it says it is: consent (`consent`), the
//! installation id and key (`identity`), what is collected and the first-run notice
//! (`privacy`), and the private files all of them are kept in (`private_files`). Forgetting on
//! opt-out, which acts on all of these and on the spool and the ledger, is `crate::forget`.

pub mod consent;
pub mod identity;
pub(crate) mod privacy;
pub(crate) mod private_files;
