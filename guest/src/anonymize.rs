//! The privacy contract, in one place: what an identifier may look like, and what replaces
//! anything else. Every string that reaches the wire has passed through one of the methods
//! of [`Anonymizer`]; `event.rs` routes each WIT field to the right one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest identifier sent as written.
pub const MAX_IDENTIFIER_LEN: usize = 64;
/// Most tags or flags kept on one event.
pub const MAX_LIST_ITEMS: usize = 16;
/// What replaces a value that is not an acceptable identifier, before its keyed hash.
pub const OTHER_MARKER: &str = "other:";

/// Prefixes of well-known credential formats (OpenAI, GitHub, Slack, AWS, Google, GitLab, JWT).
const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "pk_",
    "rk_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xox",
    "akia",
    "asia",
    "aiza",
    "glpat-",
    "eyj",
    "bearer",
    "basic",
];

pub struct Anonymizer {
    key: Vec<u8>,
    agent_allowlist: Vec<String>,
    flag_allowlist: Vec<String>,
}

impl Anonymizer {
    pub fn new(key: Vec<u8>, agent_allowlist: Vec<String>, flag_allowlist: Vec<String>) -> Self {
        Anonymizer {
            key,
            agent_allowlist,
            flag_allowlist,
        }
    }

    /// A name (tool, model, command, source, tag): kept if it is a plain identifier,
    /// otherwise `other:` and a keyed hash, so equal inputs still group together.
    pub fn identifier(&self, value: &str) -> String {
        if is_plain_identifier(value) {
            value.to_string()
        } else {
            format!("{OTHER_MARKER}{}", self.keyed_hash("other", value))
        }
    }

    /// Session, task and agent ids: always replaced by a keyed hash. The same id maps to the
    /// same pseudonym within one installation (one key) and to unrelated ones across two.
    pub fn pseudonym(&self, kind: &'static str, value: &str) -> String {
        format!("{kind}_{}", self.keyed_hash(kind, value))
    }

    /// Agent names and ids are pseudonyms unless the host allowlists the exact name.
    pub fn agent(&self, value: &str) -> String {
        if is_plain_identifier(value) && self.agent_allowlist.iter().any(|a| a == value) {
            value.to_string()
        } else {
            self.pseudonym("agent", value)
        }
    }

    /// Command-line flags: only names the host allowlists, without dashes or values.
    pub fn flags(&self, flags: &[String]) -> Vec<String> {
        let mut kept: Vec<String> = flags
            .iter()
            .map(|f| f.trim_start_matches('-'))
            .map(|f| f.split('=').next().unwrap_or_default())
            .filter(|f| self.flag_allowlist.iter().any(|a| a == f))
            .map(str::to_string)
            .collect();
        kept.dedup();
        kept.truncate(MAX_LIST_ITEMS);
        kept
    }

    pub fn identifiers(&self, values: &[String]) -> Vec<String> {
        values
            .iter()
            .take(MAX_LIST_ITEMS)
            .map(|v| self.identifier(v))
            .collect()
    }

    /// HMAC-SHA256 under the installation's key, domain-separated by `kind`; 96 bits in hex.
    fn keyed_hash(&self, kind: &str, value: &str) -> String {
        // HMAC accepts keys of any length; the error type exists only for the trait.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return "0".repeat(24);
        };
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..12].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A cost is sent only when it is a real, non-negative amount.
pub fn cost(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// The identifier rule: short, from `[A-Za-z0-9._:/-]`, and not shaped like a path, URL,
/// network address or secret.
pub fn is_plain_identifier(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:/-".contains(c);
    !value.is_empty()
        && value.len() <= MAX_IDENTIFIER_LEN
        && value.chars().all(allowed)
        && !looks_like_path_or_url(value)
        && !looks_like_address(value)
        && !looks_like_secret(value)
}

fn looks_like_path_or_url(value: &str) -> bool {
    let bytes = value.as_bytes();
    let drive_letter = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    value.starts_with(['/', '.', '~'])
        || value.contains("//")
        || value.contains("..")
        || value.contains(":/")
        || drive_letter
        || value.matches('/').count() > 3
}

fn looks_like_address(value: &str) -> bool {
    let dotted = value.split('.').collect::<Vec<_>>();
    let ipv4 = dotted.len() == 4
        && dotted
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    let ipv6 = value.contains("::") || value.matches(':').count() >= 3;
    ipv4 || ipv6
}

fn looks_like_secret(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if SECRET_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    // Long runs of letters and digits without separators are keys, hashes or tokens, not names.
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|run| {
            let mixed = run.bytes().any(|b| b.is_ascii_digit())
                && run.bytes().any(|b| b.is_ascii_alphabetic());
            run.len() >= 32 || (run.len() >= 20 && mixed)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anonymizer() -> Anonymizer {
        Anonymizer::new(
            b"test-key-0123456789".to_vec(),
            vec!["planner".into()],
            vec!["debug".into()],
        )
    }

    #[test]
    fn plain_identifiers_pass() {
        for ok in [
            "read_file",
            "gpt-4o",
            "anthropic/claude-sonnet-4.5",
            "run",
            "mcp:github",
            "v1.2.3",
        ] {
            assert!(is_plain_identifier(ok), "{ok}");
        }
    }

    #[test]
    fn forbidden_shapes_are_replaced() {
        let a = anonymizer();
        for bad in [
            "/home/alice/.ssh/id_rsa",
            "C:/Users/alice",
            "C:\\Users\\alice",
            "https://example.com/x",
            "alice@example.com",
            "sk-proj-abcdefghijklmnop",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
            "0123456789abcdef0123456789abcdef",
            "192.168.1.20",
            "fe80::1",
            "please summarise my tax return",
            "Error: ENOENT: no such file",
            "../../etc/passwd",
        ] {
            let out = a.identifier(bad);
            assert!(out.starts_with(OTHER_MARKER), "{bad} -> {out}");
            assert!(!out.contains(bad), "{bad} leaked");
        }
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
        let a = anonymizer();
        let b = Anonymizer::new(b"another-key-98765".to_vec(), vec![], vec![]);
        assert_eq!(a.pseudonym("session", "s-1"), a.pseudonym("session", "s-1"));
        assert_ne!(a.pseudonym("session", "s-1"), a.pseudonym("session", "s-2"));
        assert_ne!(a.pseudonym("session", "s-1"), b.pseudonym("session", "s-1"));
        assert_ne!(a.pseudonym("session", "x"), a.pseudonym("task", "x"));
    }

    #[test]
    fn agents_are_hashed_unless_allowlisted() {
        let a = anonymizer();
        assert_eq!(a.agent("planner"), "planner");
        assert!(a.agent("alice-private-agent").starts_with("agent_"));
    }

    #[test]
    fn flags_keep_only_allowlisted_names_without_values() {
        let a = anonymizer();
        let flags = vec![
            "--debug".into(),
            "--token=sk-secret".into(),
            "/etc/passwd".into(),
        ];
        assert_eq!(a.flags(&flags), vec!["debug".to_string()]);
    }

    #[test]
    fn costs_must_be_finite_and_non_negative() {
        assert_eq!(cost(0.25), Some(0.25));
        assert_eq!(cost(-1.0), None);
        assert_eq!(cost(f64::NAN), None);
        assert_eq!(cost(f64::INFINITY), None);
    }
}
