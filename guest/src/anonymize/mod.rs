//! The privacy contract, in one place: what an identifier may look like, what replaces
//! anything else, and how precise times and durations may be. Every string that reaches the
//! wire has passed through one of the methods of [`Anonymizer`], and every time or duration
//! through [`coarse_time_ms`] or [`coarse_duration_ms`]; `event.rs` routes each WIT field to
//! the right one, `pipeline.rs` stamps the times.
//!
//! # Identifiers
//! A value is sent as written only when it is a *plain identifier* ([`is_plain_identifier`]);
//! anything else becomes `other:` plus a keyed hash, so equal values still group together
//! but the text never leaves. A plain identifier passes every one of these rules (`shapes`,
//! where [`shape`] names the first one a value breaks):
//! - **charset**: 1 to 64 bytes of `[A-Za-z0-9._:/-]`, starting with a letter or a digit (a
//!   leading `-` is a command-line option; a leading `/`, `.` or `:` a path or an address);
//!   one `@` only before a version tag (`model@20240620`, `model@latest`).
//! - **paths and URLs**: no `//`, `..`, `:/`, `/.` or drive letter; more than two `/` only in
//!   an id with a digit somewhere, no everyday directory name (`src`, `home`, ...) and at
//!   most six levels (`accounts/fireworks/models/llama-v3-70b`).
//! - **file names**: no common file extension at the end (`notes.txt`, `alice/tax.pdf`).
//! - **credentials**: no vendor token prefix (OpenAI, GitHub, Slack, GitLab, Docker Hub,
//!   Hugging Face, npm, PyPI, AWS and others), no JWT or UUID, no `user:password`.
//! - **network locations**: no IPv4 address anywhere, also in a longer name in any separator
//!   style (`ip-10-0-0-5`), nothing IPv6-shaped, no `name:port`, no dotted host name (under a
//!   well-known top-level domain, or any lower-case label that could be one).
//! - **numbers**: no nine digits or more once separators between groups are dropped (phone,
//!   card and account numbers, timestamps), no national id shape (US, UK, Spain, Italy), no
//!   phone grouping (`555-0123`), no IBAN (checked by its mod-97 digits).
//! - **keys and random text**: no sixteen hex digits or more, no long run of letters mixed
//!   with digits, no text that switches between cases and digits like random text does, no
//!   consonant run no word has, no base32 seed.
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

#[cfg(test)]
mod corpus_tests;
mod shapes;
#[cfg(test)]
mod tests;

pub use shapes::{MAX_IDENTIFIER_LEN, Shape, is_plain_identifier, shape, uuid_shaped};

/// Most tags or flags kept on one event.
pub const MAX_LIST_ITEMS: usize = 16;
/// What replaces a value that is not an acceptable identifier, before its keyed hash.
pub const OTHER_MARKER: &str = "other:";
/// Shorter redact words are ignored: two letters occur inside too many ordinary names.
pub const MIN_REDACT_WORD_LEN: usize = 3;

/// Keyed hashes (per kind) and verdicts remembered at once; the same ids recur in every event
/// of a session, and SHA-256 runs in software inside the component.
const HASH_CACHE_ENTRIES: usize = 4096;

pub struct Anonymizer {
    /// HMAC with the key already absorbed: each hash clones it instead of re-keying.
    keyed: Hmac<Sha256>,
    agent_allowlist: Vec<String>,
    flag_allowlist: Vec<String>,
    /// The local user's names, lower-case letters and digits only (see [`Anonymizer::new`]).
    redact_words: Vec<String>,
    /// What [`keyed`](Self::keyed) made, by kind, then by value: looked up by a borrowed
    /// value, and held in its final form (`session_…`, `other:…`), so a hit is one copy.
    cache: RefCell<Map<&'static str, Map<String, String>>>,
    /// Whether a value is acceptable, by value: the shape checks are a pure function of it
    /// (and of the fixed local names), and the same tool and model names recur in every event.
    verdicts: RefCell<Map<String, bool>>,
}

/// The caches' maps. foldhash instead of std's SipHash: the caches are looked up several
/// times per event, and SipHash was 9% of the native record path's profile. Its seed is
/// derived from the installation's key, which the agent never sees, so an agent cannot aim
/// names at one bucket; and each map is bounded ([`HASH_CACHE_ENTRIES`]) whatever it is fed.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

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
        let mut seed = keyed.clone();
        seed.update(b"cache seed");
        let hasher = foldhash::fast::FixedState::with_seed(u64::from_le_bytes(
            seed.finalize().into_bytes()[..8]
                .try_into()
                .expect("HMAC-SHA256 gives 32 bytes"),
        ));
        Anonymizer {
            keyed,
            agent_allowlist,
            flag_allowlist,
            redact_words,
            cache: RefCell::new(HashMap::with_hasher(hasher.clone())),
            verdicts: RefCell::new(HashMap::with_hasher(hasher)),
        }
    }

    /// Whether `value` may be sent as written: a plain identifier that names no local user.
    pub fn accepts(&self, value: &str) -> bool {
        if let Some(verdict) = self.verdicts.borrow().get(value) {
            return *verdict;
        }
        let verdict = is_plain_identifier(value) && !self.mentions_local_user(value);
        let mut verdicts = self.verdicts.borrow_mut();
        if verdicts.len() >= HASH_CACHE_ENTRIES {
            verdicts.clear();
        }
        verdicts.insert(value.to_string(), verdict);
        verdict
    }

    /// A name (tool, model, command, source, tag): kept if it is acceptable, otherwise
    /// `other:` and a keyed hash, so equal inputs still group together.
    pub fn identifier(&self, value: &str) -> String {
        if self.accepts(value) {
            value.to_string()
        } else {
            self.keyed("other", value)
        }
    }

    /// Session, task and agent ids: always replaced by a keyed hash. The same id maps to the
    /// same pseudonym within one installation (one key) and to unrelated ones across two.
    pub fn pseudonym(&self, kind: &'static str, value: &str) -> String {
        self.keyed(kind, value)
    }

    /// Agent names and ids are pseudonyms unless the host allowlists the exact name, and even
    /// then not when the name contains a local user's name.
    pub fn agent(&self, value: &str) -> String {
        if self.allowlisted_agent(value) {
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
            if self.allowlisted_flag(name) && !kept.iter().any(|k| k == name) {
                kept.push(name.to_string());
            }
            if kept.len() == MAX_LIST_ITEMS {
                break;
            }
        }
        kept
    }

    /// Whether `value` is something [`identifier`](Self::identifier) returns: an acceptable
    /// name, or `other:` and a hash.
    pub fn is_name_form(&self, value: &str) -> bool {
        self.accepts(value) || is_hash_form(value, OTHER_MARKER)
    }

    /// Whether `value` is something [`pseudonym`](Self::pseudonym) returns for `kind`.
    pub fn is_pseudonym_form(&self, kind: &str, value: &str) -> bool {
        value
            .strip_prefix(kind)
            .is_some_and(|rest| is_hash_form(rest, "_"))
    }

    /// Whether `value` is something [`agent`](Self::agent) returns.
    pub fn is_agent_form(&self, value: &str) -> bool {
        self.allowlisted_agent(value) || self.is_pseudonym_form("agent", value)
    }

    /// Whether `value` is a flag [`flags`](Self::flags) keeps.
    pub fn is_flag_form(&self, value: &str) -> bool {
        self.allowlisted_flag(value)
    }

    /// An agent name the host allowlists, sent as written (see [`agent`](Self::agent)).
    fn allowlisted_agent(&self, value: &str) -> bool {
        self.accepts(value) && self.agent_allowlist.iter().any(|a| a == value)
    }

    /// A flag name the host allowlists, sent as written (see [`flags`](Self::flags)).
    fn allowlisted_flag(&self, name: &str) -> bool {
        self.accepts(name) && self.flag_allowlist.iter().any(|a| a == name)
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

    /// HMAC-SHA256 under the installation's key, domain-separated by `kind`, 96 bits in hex,
    /// after `other:` for kind `other` and after `<kind>_` for the others.
    fn keyed(&self, kind: &'static str, value: &str) -> String {
        if let Some(known) = self.cache.borrow().get(kind).and_then(|m| m.get(value)) {
            return known.clone();
        }
        let mut mac = self.keyed.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let hash = hex::encode(&mac.finalize().into_bytes()[..HASH_HEX_DIGITS / 2]);
        let made = if kind == "other" {
            format!("{OTHER_MARKER}{hash}")
        } else {
            format!("{kind}_{hash}")
        };
        let mut cache = self.cache.borrow_mut();
        let hasher = cache.hasher().clone();
        let of_kind = cache
            .entry(kind)
            .or_insert_with(|| HashMap::with_hasher(hasher));
        if of_kind.len() >= HASH_CACHE_ENTRIES {
            of_kind.clear();
        }
        of_kind.insert(value.to_string(), made.clone());
        made
    }
}

/// `marker` and the 24 lower-case hex digits of a keyed hash.
fn is_hash_form(value: &str, marker: &str) -> bool {
    value.strip_prefix(marker).is_some_and(|hash| {
        hash.len() == HASH_HEX_DIGITS
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Hex digits of every keyed hash on the wire (96 bits).
const HASH_HEX_DIGITS: usize = 24;

/// Lower-case letters and digits of `s`, so `Alice.Smith` and `alice_smith` compare equal.
fn letters_and_digits(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A cost is sent only when it is a real, non-negative amount of at most
/// [`MAX_COST_USD`](agent_telemetry_contract::catalogue::MAX_COST_USD) (and `-0.0` as `0.0`,
/// so not even the sign bit is the caller's to choose).
pub fn cost(value: f64) -> Option<f64> {
    let max = agent_telemetry_contract::catalogue::MAX_COST_USD;
    (value.is_finite() && (0.0..=max).contains(&value)).then_some(value.abs())
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
