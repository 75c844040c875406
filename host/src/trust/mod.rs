//! What decides whether telemetry runs and who it says it is: consent (`consent`), the
//! installation id and key (`identity`), what is collected and the first-run notice
//! (`privacy`), forgetting on opt-out (`forget`), and the private files all of them are kept
//! in (`private_files`).

pub mod consent;
pub mod forget;
pub mod identity;
pub(crate) mod privacy;
pub(crate) mod private_files;
