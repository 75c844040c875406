//! The deletion request: what the host sends, once, after the user turns telemetry off, so
//! that the collector forgets everything this installation sent (Mozilla Glean's
//! deletion-request ping is the model).
//!
//! It is a small JSON document POSTed to the same URL the native batches go to (so the host's
//! one-allowed-endpoint rule holds as it is). It names the installation id and nothing else:
//! no event, no product, no time, no header of the host's own. The collector tells it from a
//! batch by its `schema` (a batch's is [`crate::wire::SCHEMA`]), deletes every row of that
//! installation, and answers with a [`DeletionReceipt`].

use serde::{Deserialize, Serialize};

/// The `schema` field of a deletion request.
pub const SCHEMA: &str = "agent-telemetry/deletion";
/// The version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// A deletion request is far smaller than this; a body that is larger is not one (so the
/// collector never parses a batch twice to find out).
pub const MAX_BYTES: usize = 256;

/// What the host sends to have an installation forgotten.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeletionRequest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The installation to forget: `install_` and 16 hex digits (an ephemeral id is never
    /// sent: it is not kept past its run, so no later command could name it).
    pub installation_id: String,
}

/// What the collector answers to a deletion request it carried out.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionReceipt {
    /// Rows (events) of that installation deleted.
    pub deleted: u64,
}

/// Why a body is not a deletion request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeletionError {
    /// Larger than [`MAX_BYTES`], or not this document at all.
    #[error("not a deletion request")]
    NotDeletion,
    /// A deletion request of a version this build does not read.
    #[error("a deletion request of version {0}, not {SCHEMA_VERSION}")]
    OtherVersion(u32),
    /// A deletion request whose id is not an installation id.
    #[error("the deletion request does not name an installation id")]
    BadId,
}

impl DeletionRequest {
    /// The request that forgets `installation_id`; `None` unless it is an installation id.
    pub fn new(installation_id: &str) -> Option<DeletionRequest> {
        crate::ids::is_installation_id(installation_id).then(|| DeletionRequest {
            schema: SCHEMA.to_string(),
            schema_version: SCHEMA_VERSION,
            installation_id: installation_id.to_string(),
        })
    }

    /// The document as it is sent.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of two strings and a number always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads `body` strictly: at most [`MAX_BYTES`], exactly these three fields, this schema
    /// and version, and an installation id.
    pub fn parse(body: &[u8]) -> Result<DeletionRequest, DeletionError> {
        if body.len() > MAX_BYTES {
            return Err(DeletionError::NotDeletion);
        }
        let request: DeletionRequest =
            serde_json::from_slice(body).map_err(|_| DeletionError::NotDeletion)?;
        if request.schema != SCHEMA {
            return Err(DeletionError::NotDeletion);
        }
        if request.schema_version != SCHEMA_VERSION {
            return Err(DeletionError::OtherVersion(request.schema_version));
        }
        if !crate::ids::is_installation_id(&request.installation_id) {
            return Err(DeletionError::BadId);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "install_0123456789abcdef";

    #[test]
    fn a_request_names_the_installation_and_nothing_else_and_reads_back() {
        let request = DeletionRequest::new(ID).unwrap();
        let json = request.to_json();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"schema":"agent-telemetry/deletion","schema_version":1,"installation_id":"install_0123456789abcdef"}"#
        );
        assert_eq!(DeletionRequest::parse(&json), Ok(request));
        assert!(DeletionRequest::new("ephemeral_0123456789abcdef").is_none());
    }

    #[test]
    fn anything_else_is_not_one() {
        let cases: [(&str, DeletionError); 6] = [
            (
                r#"{"schema":"agent-telemetry/batch","schema_version":1,"installation_id":"install_0123456789abcdef"}"#,
                DeletionError::NotDeletion,
            ),
            (
                r#"{"schema":"agent-telemetry/deletion","schema_version":1,"installation_id":"install_0123456789abcdef","product":"x"}"#,
                DeletionError::NotDeletion,
            ),
            (
                r#"{"schema":"agent-telemetry/deletion","schema_version":2,"installation_id":"install_0123456789abcdef"}"#,
                DeletionError::OtherVersion(2),
            ),
            (
                r#"{"schema":"agent-telemetry/deletion","schema_version":1,"installation_id":"ephemeral_0123456789abcdef"}"#,
                DeletionError::BadId,
            ),
            (
                r#"{"schema":"agent-telemetry/deletion","schema_version":1,"installation_id":"' OR 1=1 --"}"#,
                DeletionError::BadId,
            ),
            ("not json", DeletionError::NotDeletion),
        ];
        for (body, error) in cases {
            assert_eq!(
                DeletionRequest::parse(body.as_bytes()),
                Err(error),
                "{body}"
            );
        }
        let padded = format!(
            "{}{}",
            " ".repeat(MAX_BYTES),
            std::str::from_utf8(&DeletionRequest::new(ID).unwrap().to_json()).unwrap()
        );
        assert_eq!(
            DeletionRequest::parse(padded.as_bytes()),
            Err(DeletionError::NotDeletion)
        );
    }
}
