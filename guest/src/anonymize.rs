//! The privacy contract, in one place: what an identifier may look like, what replaces
//! anything else, and how precise times and durations may be. Every string that reaches the
//! wire has passed through one of the methods of [`Anonymizer`], and every time or duration
//! through [`coarse_time_ms`] or [`coarse_duration_ms`]; `event.rs` routes each WIT field to
//! the right one, `pipeline.rs` stamps the times.
//!
//! # Identifiers
//! A value is sent as written only when it is a *plain identifier* ([`is_plain_identifier`]);
//! anything else becomes `other:` plus a keyed hash, so equal values still group together
//! but the text never leaves. A plain identifier passes every one of these rules:
//! - **charset**: 1 to 64 bytes of `[A-Za-z0-9._:/-]`, starting with a letter or a digit (a
//!   leading `-` is a command-line option; a leading `/`, `.` or `:` a path or an address).
//! - **paths and URLs**: no `//`, `..`, `:/`, `/.`, drive letter, or more than two `/`.
//! - **file names**: no common file extension at the end (`notes.txt`, `alice/tax.pdf`).
//! - **addresses**: no IPv4 address anywhere, nothing IPv6-shaped, no `host:port`, no host
//!   name under a well-known top-level domain (`gitlab.acme.corp`).
//! - **secrets and numbers**: no well-known credential prefix, no AWS or Google key, JWT or
//!   UUID shape, no long run of letters mixed with digits, no random-looking mixture of cases
//!   and digits (base64url keys), no run of ten digits or more (phone, card and account
//!   numbers, timestamps). Random text of letters of one case only is not caught.
//!
//! On top of those the [`Anonymizer`] refuses any value that contains one of the local user's
//! names (`redact-words`, which the host fills from the environment: the component cannot
//! read it), compared on letters and digits only and ignoring case, so `Alice-Smith` matches
//! `alice.smith`. The agent allowlist does not override it. Session and task ids are always
//! hashed, agent names unless allowlisted, and command flags are kept by name only when
//! allowlisted.
//!
//! # Trade-offs, settled
//! - `1.2.3.4` reads as an IPv4 address and is hashed even if it was meant as a version: an
//!   address must never pass, and versions usually have a `v` or fewer parts.
//! - More than two `/` is a path (`a/b/c/d`); model ids have one (`meta-llama/Llama-3.1-8B`),
//!   or two under Cloudflare's scopes.
//! - `@cf/meta/llama-3-8b-instruct` and `@hf/...` (Cloudflare Workers AI's catalog) pass: the
//!   `@cf/` and `@hf/` scopes name a public catalog, and the rest of the id is held to the
//!   usual rules. Any other `@` reads as an email address (or an npm scope, often a user name).
//! - `ft:gpt-4o-mini:org:name:id` (an OpenAI fine-tune) is hashed: it carries the customer's
//!   organization and chosen suffix. Three colons already read as IPv6. The base model is lost.
//! - Kebab-case text (`summarise-my-tax-return`) is indistinguishable from a tool name; the
//!   length bound limits what it can carry. Text with spaces never passes.
//!
//! # Times and numbers (side channels)
//! An agent that cannot put text in a name could still encode it in *when* it records events,
//! or in the durations it reports: a millisecond timestamp carries about ten bits per event
//! that nobody needs. So the wire has whole seconds for `occurred_at` (and for the UUIDv7
//! event id, which embeds the same clock) and two significant digits for every duration, both
//! rounded down: ordering to the second and durations within 10%, which is what reports use.
//! Token counts and costs are sent as given because reports add them up; they remain a channel
//! for an agent that misreports its own usage, held only to being finite and non-negative.

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
/// Shorter redact words are ignored: two letters occur inside too many ordinary names.
pub const MIN_REDACT_WORD_LEN: usize = 3;

/// Prefixes of well-known credential formats (OpenAI/Anthropic/Stripe, GitHub, Slack, GitLab).
/// Each is followed by a separator, so ordinary names that merely start alike are not caught.
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

/// Scopes that may open an identifier with `@`: Cloudflare Workers AI's model catalog.
const CATALOG_SCOPES: &[&str] = &["@cf/", "@hf/"];

/// Endings that make a name a file: documents, code, data, keys, archives, media, models.
/// Compared without case, after the last `.`. Not `js` or `go`: `node.js` and the like name
/// products far more often than files.
#[rustfmt::skip]
const FILE_EXTENSIONS: &[&str] = &[
    "txt", "md", "rst", "pdf", "doc", "docx", "odt", "rtf", "xls", "xlsx", "ods", "csv", "tsv",
    "ppt", "pptx", "json", "jsonl", "yaml", "yml", "toml", "xml", "ini", "cfg", "conf", "env",
    "log", "html", "htm", "rs", "py", "ipynb", "mjs", "cjs", "ts", "tsx", "jsx", "java",
    "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php", "swift", "sh", "bash", "zsh", "ps1",
    "bat", "sql", "db", "sqlite", "pem", "key", "crt", "cer", "p12", "pfx", "pub", "kdbx",
    "zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "png", "jpg", "jpeg", "gif", "svg",
    "webp", "heic", "mp3", "mp4", "wav", "mov", "mkv", "exe", "dll", "so", "dylib", "wasm",
    "lock", "bak", "tmp", "swp", "gguf", "safetensors", "pt", "onnx", "bin",
];

/// Top-level domains that make a dotted name a host: the common generic and country ones,
/// and the suffixes private networks use.
#[rustfmt::skip]
const HOST_SUFFIXES: &[&str] = &[
    "com", "net", "org", "io", "ai", "dev", "app", "co", "me", "info", "biz", "cloud", "xyz",
    "edu", "gov", "mil", "us", "uk", "de", "fr", "nl", "eu", "ch", "se", "jp", "cn", "ru",
    "in", "br", "au", "ca", "local", "localhost", "localdomain", "internal", "intranet", "corp",
    "lan", "home", "private", "test", "example", "invalid", "onion", "arpa",
];

/// Keyed hashes remembered at once; the same ids recur in every event of a session, and
/// SHA-256 runs in software inside the component.
const HASH_CACHE_ENTRIES: usize = 4096;

pub struct Anonymizer {
    /// HMAC with the key already absorbed: each hash clones it instead of re-keying.
    keyed: Hmac<Sha256>,
    agent_allowlist: Vec<String>,
    flag_allowlist: Vec<String>,
    /// The local user's names, lower-case letters and digits only (see [`Anonymizer::new`]).
    redact_words: Vec<String>,
    cache: RefCell<HashMap<(&'static str, String), String>>,
}

impl Anonymizer {
    /// `redact_words` are the local user's names: any identifier containing one is hashed.
    /// Words with fewer than [`MIN_REDACT_WORD_LEN`] letters and digits are ignored.
    pub fn new(
        key: Vec<u8>,
        agent_allowlist: Vec<String>,
        flag_allowlist: Vec<String>,
        redact_words: Vec<String>,
    ) -> Self {
        // HMAC takes keys of any length, so this cannot fail; an empty key is the fallback.
        let keyed = Hmac::<Sha256>::new_from_slice(&key)
            .unwrap_or_else(|_| Hmac::<Sha256>::new_from_slice(&[0]).expect("one-byte HMAC key"));
        let mut redact_words: Vec<String> = redact_words
            .iter()
            .map(|w| letters_and_digits(w))
            .filter(|w| w.chars().count() >= MIN_REDACT_WORD_LEN)
            .collect();
        redact_words.sort();
        redact_words.dedup();
        Anonymizer {
            keyed,
            agent_allowlist,
            flag_allowlist,
            redact_words,
            cache: RefCell::default(),
        }
    }

    /// Whether `value` may be sent as written: a plain identifier that names no local user.
    pub fn accepts(&self, value: &str) -> bool {
        is_plain_identifier(value) && !self.mentions_local_user(value)
    }

    /// A name (tool, model, command, source, tag): kept if it is acceptable, otherwise
    /// `other:` and a keyed hash, so equal inputs still group together.
    pub fn identifier(&self, value: &str) -> String {
        if self.accepts(value) {
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

    /// Agent names and ids are pseudonyms unless the host allowlists the exact name, and even
    /// then not when the name contains a local user's name.
    pub fn agent(&self, value: &str) -> String {
        if self.accepts(value) && self.agent_allowlist.iter().any(|a| a == value) {
            value.to_string()
        } else {
            self.pseudonym("agent", value)
        }
    }

    /// Command-line flags: only names the host allowlists, without dashes or values, each
    /// once.
    pub fn flags(&self, flags: &[String]) -> Vec<String> {
        let mut kept: Vec<String> = Vec::new();
        for flag in flags {
            let name = flag.trim_start_matches('-');
            let name = name.split('=').next().unwrap_or_default();
            if self.flag_allowlist.iter().any(|a| a == name)
                && self.accepts(name)
                && !kept.iter().any(|k| k == name)
            {
                kept.push(name.to_string());
            }
            if kept.len() == MAX_LIST_ITEMS {
                break;
            }
        }
        kept
    }

    pub fn identifiers(&self, values: &[String]) -> Vec<String> {
        values
            .iter()
            .take(MAX_LIST_ITEMS)
            .map(|v| self.identifier(v))
            .collect()
    }

    fn mentions_local_user(&self, value: &str) -> bool {
        if self.redact_words.is_empty() {
            return false;
        }
        let value = letters_and_digits(value);
        self.redact_words.iter().any(|w| value.contains(w.as_str()))
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

/// Lower-case letters and digits of `s`, so `Alice.Smith` and `alice_smith` compare equal.
fn letters_and_digits(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
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

/// A cost is sent only when it is a real, non-negative amount (and `-0.0` as `0.0`, so not
/// even the sign bit is the caller's to choose).
pub fn cost(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value.abs())
}

/// A wall-clock time on the wire: whole seconds, rounded down (see the module doc).
pub fn coarse_time_ms(unix_ms: u64) -> u64 {
    unix_ms - unix_ms % 1000
}

/// A duration on the wire: two significant digits, rounded down (1234 → 1200, 87 → 87).
/// Rounding down cannot overflow, even at `u64::MAX`.
pub fn coarse_duration_ms(ms: u64) -> u64 {
    let mut unit = 1;
    while ms / unit >= 100 {
        unit *= 10;
    }
    ms / unit * unit
}

/// The identifier rule (see the module doc): short, from `[A-Za-z0-9._:/-]`, starting with a
/// letter or digit, and not shaped like a path, file, URL, network address or secret.
pub fn is_plain_identifier(value: &str) -> bool {
    // A catalog scope's `@` is the one character outside the set that may open an id; what
    // follows it is judged as if the `@` were not there.
    let body = if CATALOG_SCOPES.iter().any(|s| value.starts_with(s)) {
        &value[1..]
    } else {
        value
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:/-".contains(c);
    !value.is_empty()
        && value.len() <= MAX_IDENTIFIER_LEN
        && body.starts_with(|c: char| c.is_ascii_alphanumeric())
        && body.chars().all(allowed)
        && !looks_like_path_or_url(body)
        && !looks_like_file_name(body)
        && !looks_like_address(body)
        && !looks_like_secret(body)
}

fn looks_like_path_or_url(value: &str) -> bool {
    let bytes = value.as_bytes();
    let drive_letter = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    // `namespace/name` (as in model ids) is fine; more levels, or a hidden segment, is a path.
    value.contains("//")
        || value.contains("..")
        || value.contains(":/")
        || value.contains("/.")
        || drive_letter
        || value.matches('/').count() > 2
}

fn looks_like_file_name(value: &str) -> bool {
    value.rsplit_once('.').is_some_and(|(_, ext)| {
        FILE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

fn looks_like_address(value: &str) -> bool {
    let is_ipv4 = |part: &str| {
        part.split('.').count() == 4
            && part
                .split('.')
                .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
    };
    // An IPv4 address anywhere (`10.0.0.5:5432`, `192.168.1.0/24`), an IPv6 one, a
    // `host.name:port`, or a host name (`db.acme.corp`, `api.github.com:443`).
    let ipv4 = value.split([':', '/']).any(is_ipv4);
    let ipv6 = value.contains("::") || value.matches(':').count() >= 3;
    let host_port = value.rsplit_once(':').is_some_and(|(host, port)| {
        (host.contains('.') || host.eq_ignore_ascii_case("localhost"))
            && (2..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    let host_name = value.split([':', '/']).any(|part| {
        part.rsplit_once('.').is_some_and(|(_, tld)| {
            HOST_SUFFIXES
                .iter()
                .any(|known| tld.eq_ignore_ascii_case(known))
        })
    });
    ipv4 || ipv6 || host_port || host_name
}

fn looks_like_secret(value: &str) -> bool {
    let starts_with_ignoring_case = |prefix: &str| {
        value
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    if SECRET_PREFIXES.iter().any(|p| starts_with_ignoring_case(p)) {
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
    let long_run = value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '/'))
        .any(|run| {
            let digits = run.bytes().any(|b| b.is_ascii_digit());
            let letters = run.bytes().any(|b| b.is_ascii_alphabetic());
            let mixed_case = run.bytes().any(|b| b.is_ascii_uppercase())
                && run.bytes().any(|b| b.is_ascii_lowercase());
            run.len() >= 40
                || (run.len() >= 20 && letters && (digits || (mixed_case && run.contains('/'))))
        });
    // Ten digits or more in a row: a phone, card or account number, or a Unix timestamp (a
    // timing channel of its own). Model ids carry dates, which have eight.
    let long_number = value
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 10);
    long_run || long_number || looks_random(value)
}

/// Base64url tokens (`-` and `_` break them into short runs) still give themselves away:
/// random text switches between lower case, upper case and digits at most characters, names
/// only at word boundaries (`Qwen2.5-Coder-32B-Instruct` switches 5 times in 22).
fn looks_random(value: &str) -> bool {
    #[derive(PartialEq)]
    enum Class {
        Lower,
        Upper,
        Digit,
        Separator,
    }
    let class = |c: char| match c {
        'a'..='z' => Class::Lower,
        'A'..='Z' => Class::Upper,
        '0'..='9' => Class::Digit,
        _ => Class::Separator,
    };
    let alnum = value.chars().filter(char::is_ascii_alphanumeric).count();
    let switches = value
        .chars()
        .zip(value.chars().skip(1))
        .map(|(a, b)| (class(a), class(b)))
        .filter(|(a, b)| *a != Class::Separator && *b != Class::Separator && a != b)
        .count();
    alnum >= 16 && switches * 3 >= alnum
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
            vec!["alice".into()],
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
            "claude-3-5-sonnet-20241022",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "amazon.nova-pro-v1:0",
            "gemini-2.0-flash-exp",
            "text-embedding-3-large",
            "Qwen/Qwen2.5-Coder-32B-Instruct",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
            "llama3.1:8b",
            "qwen2.5-coder:7b",
            "@cf/meta/llama-3-8b-instruct",
            "@hf/thebloke/deepseek-coder-6.7b-instruct-awq",
            "mcp__github__create_pull_request",
            "node.js",
            "1.2.3",
            "x86_64",
            "wasm32-wasip2",
            "getUserById",
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
        let b = Anonymizer::new(b"another-key-98765".to_vec(), vec![], vec![], vec![]);
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
    fn flags_are_kept_once_each() {
        let a = anonymizer();
        let flags: Vec<String> = ["--debug", "-v", "--debug=1", "debug"]
            .map(String::from)
            .to_vec();
        assert_eq!(a.flags(&flags), vec!["debug".to_string()]);
    }

    #[test]
    fn costs_must_be_finite_and_non_negative() {
        assert_eq!(cost(0.25), Some(0.25));
        assert_eq!(cost(-1.0), None);
        assert_eq!(cost(f64::NAN), None);
        assert_eq!(cost(f64::INFINITY), None);
        assert_eq!(cost(f64::NEG_INFINITY), None);
        assert_eq!(cost(-f64::MIN_POSITIVE), None);
        let zero = cost(-0.0).unwrap();
        assert!(
            zero == 0.0 && zero.is_sign_positive(),
            "-0.0 is sent as 0.0"
        );
    }

    /// Asserts each value fails the identifier rule (and so would be hashed).
    fn refused(values: &[&str]) {
        for v in values {
            assert!(!is_plain_identifier(v), "`{v}` passed the identifier rule");
        }
    }

    #[test]
    fn rule_charset_and_length() {
        refused(&[
            "",
            "a b",
            "tab\there",
            "line\nbreak",
            "semi;colon",
            "quote\"d",
            "back\\slash",
            "percent%20",
            "plus+sign",
            "equals=sign",
            "caf\u{e9}",
            "\u{4e2d}\u{6587}",
            "emoji\u{1f642}",
            "a@b",
        ]);
        let longest = "abc-".repeat(MAX_IDENTIFIER_LEN / 4);
        assert!(is_plain_identifier(&longest));
        refused(&[&format!("{longest}x")]);
    }

    #[test]
    fn rule_leading_character() {
        // Options, hidden files, absolute paths and addresses start this way; names do not.
        refused(&[
            "-rf", "--token", "-p", ".env", "/tmp", ":memory:", "_private", "~alice",
        ]);
    }

    #[test]
    fn rule_paths_and_urls() {
        refused(&[
            "a/b/c/d",
            "src/main/resources/config",
            "home/alice/.ssh",
            "a//b",
            "x/../y",
            "file:/etc",
            "https://example.com",
            "C:projects",
            "c:/x",
        ]);
        assert!(is_plain_identifier("namespace/name"));
    }

    #[test]
    fn rule_file_names() {
        refused(&[
            "notes.txt",
            "tax-return-2023.pdf",
            "alice/tax.PDF",
            "id_rsa.pub",
            "customers.csv",
            "prod.env",
            "Cargo.lock",
            "model-q4_k_m.gguf",
            "backup.tar.gz",
        ]);
    }

    #[test]
    fn rule_addresses() {
        refused(&[
            // The settled trade-off: a four-part dotted number is an address, not a version.
            "1.2.3.4",
            "10.0.0.5:5432",
            "192.168.1.0/24",
            "fe80::1",
            "2001:db8:85a3:0:0:8a2e:370:7334",
            "db.internal.acme.corp:5432",
            "localhost:8080",
            "gitlab.acme.corp",
            "api.github.com",
            "printer.local",
            "vault.acme.io",
        ]);
        assert!(is_plain_identifier("v1.2.3.4"), "a `v` makes it a version");
    }

    #[test]
    fn rule_secrets() {
        refused(&[
            "sk-ant-api03-abc",
            "sk_live_51HxYz",
            "github_pat_11ABC",
            "glpat-abcdef",
            "AKIAIOSFODNN7EXAMPLE",
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            // base64url: `-` and `_` cut it into short runs, its mixture still shows.
            "Zx3-Qp7_Lm9kT2vB8nR4wY6cH1dF5jS0",
            "kTq9-ZbX2_wLm8Rv4Yc7",
        ]);
    }

    #[test]
    fn rule_long_numbers() {
        refused(&[
            "4111111111111111",
            "14155550123",
            "1700000000123",
            "acct-123456789012",
        ]);
        assert!(
            is_plain_identifier("claude-3-5-sonnet-20240620"),
            "dates have 8 digits"
        );
    }

    #[test]
    fn rule_catalog_scopes() {
        assert!(is_plain_identifier("@cf/meta/llama-3-8b-instruct"));
        assert!(is_plain_identifier("@hf/thebloke/zephyr-7b-beta-awq"));
        // Only those two scopes, and what follows still obeys every other rule.
        refused(&[
            "@alice/secret-project",
            "@cf/../../etc",
            "@cf/a/b/c",
            "@cf/notes.txt",
            "cf@x",
            "@",
        ]);
    }

    #[test]
    fn rule_openai_fine_tunes_are_hashed() {
        // They carry the customer's organization and chosen suffix.
        refused(&["ft:gpt-4o-mini-2024-07-18:acme-corp:support-bot:9yzAbC12"]);
        assert!(is_plain_identifier("gpt-4o-mini-2024-07-18"));
    }

    #[test]
    fn rule_redact_words() {
        let a = Anonymizer::new(
            b"k".to_vec(),
            vec!["alice-planner".into(), "planner".into()],
            vec!["alice".into(), "debug".into()],
            vec!["Alice".into(), "bob.smith".into(), "al".into(), " ".into()],
        );
        for named in [
            "alice",
            "ALICE",
            "tool-for-Alice",
            "bob-smith",
            "BobSmith-agent",
            "bob_smith.v2",
        ] {
            assert!(!a.accepts(named), "{named}");
            assert!(a.identifier(named).starts_with(OTHER_MARKER), "{named}");
        }
        // The agent allowlist does not override it; the flag allowlist neither.
        assert!(a.agent("alice-planner").starts_with("agent_"));
        assert_eq!(a.agent("planner"), "planner");
        assert!(a.flags(&["--alice".to_string()]).is_empty());
        // `al` is too short to be a word of its own; `smith` alone is not `bob.smith`.
        for fine in ["algebra", "smith-tool", "bob"] {
            assert!(a.accepts(fine), "{fine}");
        }
    }

    #[test]
    fn coarse_time_is_whole_seconds_rounded_down() {
        assert_eq!(coarse_time_ms(1_700_000_123_456), 1_700_000_123_000);
        assert_eq!(coarse_time_ms(1_700_000_123_999), 1_700_000_123_000);
        assert_eq!(coarse_time_ms(1_700_000_123_000), 1_700_000_123_000);
        assert_eq!(coarse_time_ms(999), 0);
        assert_eq!(coarse_time_ms(u64::MAX) % 1000, 0);
    }

    #[test]
    fn coarse_duration_keeps_two_significant_digits() {
        for (ms, coarse) in [
            (0, 0),
            (7, 7),
            (87, 87),
            (99, 99),
            (100, 100),
            (109, 100),
            (1234, 1200),
            (1299, 1200),
            (86_399_999, 86_000_000),
            (u64::MAX, 18_000_000_000_000_000_000),
        ] {
            assert_eq!(coarse_duration_ms(ms), coarse, "{ms}");
        }
    }
}
