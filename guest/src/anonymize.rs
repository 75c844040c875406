//! The privacy contract, in one place: what an identifier may look like, and what replaces
//! anything else. Every string that reaches the wire has passed through one of the methods
//! of [`Anonymizer`]; `event.rs` routes each WIT field to the right one.

use std::cell::RefCell;
use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest identifier sent as written.
pub const MAX_IDENTIFIER_LEN: usize = 64;
/// Most tags or flags kept on one event.
pub const MAX_LIST_ITEMS: usize = 16;
/// What replaces a value that is not an acceptable identifier, before its keyed hash.
pub const OTHER_MARKER: &str = "other:";

/// Prefixes of well-known credential formats (OpenAI/Stripe, GitHub, Slack, GitLab). Each is
/// followed by a separator, so ordinary names that merely start alike are not caught.
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
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "glpat-",
];

/// Keyed hashes remembered at once; the same ids recur in every event of a session, and
/// SHA-256 runs in software inside the component.
const HASH_CACHE_ENTRIES: usize = 4096;

pub struct Anonymizer {
    /// HMAC with the key already absorbed: each hash clones it instead of re-keying.
    keyed: Hmac<Sha256>,
    agent_allowlist: Vec<String>,
    flag_allowlist: Vec<String>,
    cache: RefCell<HashMap<(&'static str, String), String>>,
}

impl Anonymizer {
    pub fn new(key: Vec<u8>, agent_allowlist: Vec<String>, flag_allowlist: Vec<String>) -> Self {
        // HMAC takes keys of any length, so this cannot fail; an empty key is the fallback.
        let keyed = Hmac::<Sha256>::new_from_slice(&key)
            .unwrap_or_else(|_| Hmac::<Sha256>::new_from_slice(&[0]).expect("one-byte HMAC key"));
        Anonymizer {
            keyed,
            agent_allowlist,
            flag_allowlist,
            cache: RefCell::default(),
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
    fn keyed_hash(&self, kind: &'static str, value: &str) -> String {
        let key = (kind, value.to_string());
        if let Some(hash) = self.cache.borrow().get(&key) {
            return hash.clone();
        }
        let mut mac = self.keyed.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let hash = hex(&mac.finalize().into_bytes()[..12]);
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= HASH_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, hash.clone());
        hash
    }
}

/// Lower-case hex, without an allocation per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
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
    // `namespace/name` (as in model ids) is fine; more levels, or a hidden segment, is a path.
    value.starts_with(['/', '.', '~'])
        || value.contains("//")
        || value.contains("..")
        || value.contains(":/")
        || value.contains("/.")
        || drive_letter
        || value.matches('/').count() > 2
}

fn looks_like_address(value: &str) -> bool {
    let is_ipv4 = |part: &str| {
        let octets: Vec<&str> = part.split('.').collect();
        octets.len() == 4
            && octets
                .iter()
                .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
    };
    // An IPv4 address anywhere (`10.0.0.5:5432`, `192.168.1.0/24`), an IPv6 one, or a
    // `host.name:port`.
    let ipv4 = value.split([':', '/']).any(is_ipv4);
    let ipv6 = value.contains("::") || value.matches(':').count() >= 3;
    let host_port = value.rsplit_once(':').is_some_and(|(host, port)| {
        host.contains('.')
            && (2..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    ipv4 || ipv6 || host_port
}

fn looks_like_secret(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if SECRET_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    let alnum_run = |prefix: &str, len: usize| {
        value.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() >= len
                && rest
                    .bytes()
                    .take(len)
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
    };
    // AWS access key ids, Google API keys, JWTs, UUID-shaped keys.
    if alnum_run("AKIA", 16)
        || alnum_run("ASIA", 16)
        || (value.starts_with("AIza") && value.len() >= 30)
    {
        return true;
    }
    if (value.starts_with("eyJ") && value.contains('.')) || is_uuid(value) {
        return true;
    }
    // Long runs of letters and digits are keys, hashes or tokens, not names. `/` does not
    // break a run: base64 keys contain it.
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '/'))
        .any(|run| {
            let digits = run.bytes().any(|b| b.is_ascii_digit());
            let letters = run.bytes().any(|b| b.is_ascii_alphabetic());
            let mixed_case = run.bytes().any(|b| b.is_ascii_uppercase())
                && run.bytes().any(|b| b.is_ascii_lowercase());
            run.len() >= 40
                || (run.len() >= 20 && letters && (digits || (mixed_case && run.contains('/'))))
        })
}

/// UUID-shaped (8-4-4-4-12 hex): some providers' API keys look like this.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
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
            "asia-southeast1",
            "basic-memory",
            "gpt-4o-mini-2024-07-18",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "meta-llama/Llama-3.1-8B-Instruct",
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
            "home/alice/.ssh/id_rsa",
            "Users/alice/Documents/tax-2023.pdf",
            "10.0.0.5:5432",
            "192.168.1.0/24",
            "db.internal.acme.corp:5432",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "xoxb-1234-5678-abcdef",
        ] {
            let out = a.identifier(bad);
            assert!(
                !is_plain_identifier(bad),
                "{bad} passed the identifier rule"
            );
            assert!(out.starts_with(OTHER_MARKER), "{bad} -> {out}");
            assert_eq!(
                out.len(),
                OTHER_MARKER.len() + 24,
                "only the marker and the hash: {out}"
            );
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
