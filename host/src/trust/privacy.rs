//! What is collected, said once: the field table the README's "Privacy" section is generated
//! from (a test checks it against the WIT and the README), the summary `telemetry status`
//! prints, and the first-run notice.

use std::path::Path;

use sha2::Digest;

/// How the component treats a field before it reaches the wire (rules in `guest/src/anonymize.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// A name: sent as written when it is a plain identifier, else `other:` + keyed hash.
    Name,
    /// Up to 16 names, each as `Name`.
    Names,
    /// An id: always a keyed hash.
    Pseudonym,
    /// An agent: a keyed hash unless the host allowlists the name.
    Agent,
    /// Command-line flags: only names the host allowlists, never values.
    Flags,
    /// One of a fixed set of values.
    Enum,
    /// A count or small number, as given.
    Number,
    /// Milliseconds, rounded to two significant digits.
    Duration,
    /// US dollars, dropped unless finite and not negative.
    Cost,
    /// True or false.
    Flag,
}

impl Treatment {
    pub fn describe(self) -> &'static str {
        match self {
            Treatment::Name => {
                "as written if a plain identifier (`[A-Za-z0-9._:/-]`, at most 64, not path-, address- or secret-shaped, no local user name); otherwise `other:` + keyed hash"
            }
            Treatment::Names => "at most 16, each as a name",
            Treatment::Pseudonym => {
                "always a keyed hash (HMAC-SHA256 under a key that stays on this machine)"
            }
            Treatment::Agent => "keyed hash, unless the host allowlists the exact name",
            Treatment::Flags => "only flag names the host allowlists; never values",
            Treatment::Enum => "one of a fixed set",
            Treatment::Number => "number as given",
            Treatment::Duration => "milliseconds, rounded to 2 significant digits",
            Treatment::Cost => "dropped unless finite and not negative",
            Treatment::Flag => "true or false",
        }
    }
}

/// Every field of every event record in `wit/telemetry.wit`, with its treatment.
pub const FIELDS: &[(&str, &str, Treatment)] = {
    use Treatment::*;
    &[
        ("command", "action", Name),
        ("command", "outcome", Enum),
        ("command", "error", Enum),
        ("command", "arg-count", Number),
        ("command", "flags", Flags),
        ("tool-call", "tool", Name),
        ("tool-call", "session-id", Pseudonym),
        ("tool-call", "agent", Agent),
        ("tool-call", "duration-ms", Duration),
        ("tool-call", "outcome", Enum),
        ("tool-call", "error", Enum),
        ("token-usage", "model", Name),
        ("token-usage", "session-id", Pseudonym),
        ("token-usage", "agent", Agent),
        ("token-usage", "input-tokens", Number),
        ("token-usage", "output-tokens", Number),
        ("token-usage", "cached-tokens", Number),
        ("token-usage", "reasoning-tokens", Number),
        ("token-usage", "cost-usd", Cost),
        ("session-start", "session-id", Pseudonym),
        ("session-start", "agent", Agent),
        ("session-start", "task-id", Pseudonym),
        ("session-end", "session-id", Pseudonym),
        ("session-end", "agent", Agent),
        ("session-end", "task-id", Pseudonym),
        ("session-end", "outcome", Enum),
        ("session-end", "error", Enum),
        ("session-end", "tasks-processed", Number),
        ("session-cost", "session-id", Pseudonym),
        ("session-cost", "agent", Agent),
        ("session-cost", "model", Name),
        ("session-cost", "cost-usd", Cost),
        ("session-cost", "input-tokens", Number),
        ("session-cost", "output-tokens", Number),
        ("session-cost", "cache-read-tokens", Number),
        ("session-cost", "cache-write-tokens", Number),
        ("session-cost", "reasoning-tokens", Number),
        ("session-cost", "thinking-tokens", Number),
        ("session-cost", "turns", Number),
        ("session-cost", "is-error", Flag),
        ("session-failure", "session-id", Pseudonym),
        ("session-failure", "agent", Agent),
        ("session-failure", "error", Enum),
        ("session-failure", "was-rate-limited", Flag),
        ("session-failure", "provider", Name),
        ("server", "state", Enum),
        ("server", "uptime-ms", Duration),
        ("server", "sessions-processed", Number),
        ("agent-registered", "agent", Agent),
        ("agent-registered", "role", Name),
        ("agent-registered", "capabilities", Names),
        ("agent-registered", "is-reconnect", Flag),
        ("task", "task-id", Pseudonym),
        ("task", "state", Enum),
        ("task", "previous-state", Enum),
        ("task", "agent", Agent),
        ("task", "source", Name),
        ("task", "tags", Names),
        ("task", "has-parent", Flag),
        ("task", "priority", Number),
        ("task", "duration-ms", Duration),
        ("task-session-completed", "task-id", Pseudonym),
        ("task-session-completed", "agent", Agent),
        ("task-session-completed", "exit-code", Number),
        ("task-session-completed", "is-error", Flag),
        ("task-session-completed", "duration-ms", Duration),
        ("task-session-completed", "provider", Name),
        ("task-session-completed", "harness", Name),
        ("task-session-completed", "model", Name),
        ("workflow", "workflow-id", Pseudonym),
        ("workflow", "state", Enum),
        ("workflow", "node-count", Number),
        ("workflow", "source", Name),
        ("workflow", "trigger", Name),
        ("workflow", "duration-ms", Duration),
        ("workflow", "steps-completed", Number),
        ("workflow", "steps-failed", Number),
        ("schedule", "state", Enum),
        ("schedule", "schedule-type", Name),
        ("schedule", "triggered-workflows", Flag),
        ("schedule", "was-recovered", Flag),
        ("schedule", "consecutive-errors", Number),
        ("compaction", "session-id", Pseudonym),
        ("compaction", "agent", Agent),
        ("compaction", "trigger", Enum),
        ("compaction", "pre-compact-tokens", Number),
        ("compaction", "context-total-tokens", Number),
    ]
};

/// Added by the component to every event; nothing here comes from the agent.
pub const ENVELOPE: &[(&str, &str)] = &[
    ("event_id", "random UUIDv7, stable across retries"),
    ("occurred_at", "UTC time, rounded down to the second"),
    (
        "installation_id",
        "`install_` + 16 random hex digits kept in the identity directory (`ephemeral_` when it cannot be stored)",
    ),
    (
        "product, product_version, source, environment",
        "what the host program says it is",
    ),
    ("os, arch", "e.g. `linux`, `x86_64`"),
    ("ci", "whether a CI environment was detected"),
    (
        "tags",
        "the host's custom tags (config `tags`, as docker-agent's `TELEMETRY_TAGS`): at most 32, key and value each as a name",
    ),
    (
        "dropped_events (per batch)",
        "how many events were dropped before this batch",
    ),
];

/// What is never collected, whatever an agent puts in a field.
pub const NEVER: &str = "prompts or any free text, file contents, file paths, URLs, e-mail addresses, IP addresses, host names, user names, API keys or tokens, command arguments or flag values, raw error messages, environment variables";

/// The README's "Privacy" table, generated from `FIELDS` and `ENVELOPE`.
pub fn markdown() -> String {
    let mut out = String::from("| event | field | what is sent |\n|---|---|---|\n");
    for (name, what) in ENVELOPE {
        out.push_str(&format!("| every event | `{name}` | {what} |\n"));
    }
    for (record, field, treatment) in FIELDS {
        out.push_str(&format!(
            "| `{record}` | `{field}` | {} |\n",
            treatment.describe()
        ));
    }
    out
}

/// The plain-text summary `telemetry status` prints.
pub fn summary() -> String {
    let mut events: Vec<&str> = FIELDS.iter().map(|(r, _, _)| *r).collect();
    events.dedup();
    format!(
        "Collected: anonymous usage events ({}), each with an installation id, product, version, os, arch and CI flag.\nIds are replaced by keyed hashes; names are sent only when they are plain identifiers.\nNever collected: {NEVER}.",
        events.join(", ")
    )
}

/// The first-run notice; its version is a hash of this text, so a changed text is shown again.
const NOTICE: &str = "\
agent-telemetry: anonymous usage telemetry is on and goes to {endpoint}.
  Collected: commands, tool calls, token use and cost, sessions and task states, with hashed ids.
  Never collected: prompts, file contents, paths, arguments, error text, keys or personal data.
  Turn it off: `agent-telemetry telemetry off`, or DO_NOT_TRACK=1. See what was sent: `agent-telemetry log`.
  Hide this notice: AGENT_TELEMETRY_NO_NOTICE=1.";

/// The file in the identity directory that remembers which notice version was shown.
pub const NOTICE_FILE: &str = "notice-shown";

pub fn notice_version() -> String {
    hex::encode(&sha2::Sha256::digest(NOTICE.as_bytes())[..6])
}

/// Prints the notice on stderr unless this version was shown before (as remembered in `dir`;
/// without a directory it is shown every time, since it cannot be remembered).
pub fn show_notice_once(dir: Option<&Path>, endpoint: &str, debug_log: Option<&Path>) {
    let version = notice_version();
    let file = dir.map(|d| d.join(NOTICE_FILE));
    if let Some(file) = &file
        && super::private_files::read_private(file, 256)
            .ok()
            .flatten()
            .is_some_and(|v| String::from_utf8_lossy(&v).trim() == version)
    {
        return;
    }
    let target = match debug_log {
        Some(log) => format!("nowhere: debug mode writes it to {}", log.display()),
        None => endpoint.to_string(),
    };
    eprintln!("{}", NOTICE.replace("{endpoint}", &target));
    // A debug run sends nothing: the first run that does still gets the notice.
    if debug_log.is_some() {
        return;
    }
    if let Some(file) = &file
        && let Err(e) =
            super::private_files::replace_private(file, format!("{version}\n").as_bytes())
    {
        tracing::warn!(path = %file.display(), error = %e, "cannot remember that the notice was shown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The fields of every record that an `event` case carries, read from the WIT itself.
    fn wit_event_fields() -> BTreeSet<(String, String)> {
        let mut resolve = wit_parser::Resolve::default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        resolve.push_dir(&dir).expect("wit/ parses");
        let mut fields = BTreeSet::new();
        for (_, ty) in resolve.types.iter() {
            if ty.name.as_deref() != Some("event") {
                continue;
            }
            let wit_parser::TypeDefKind::Variant(variant) = &ty.kind else {
                continue;
            };
            for case in &variant.cases {
                let Some(wit_parser::Type::Id(id)) = case.ty else {
                    continue;
                };
                if let wit_parser::TypeDefKind::Record(record) = &resolve.types[id].kind {
                    for field in &record.fields {
                        fields.insert((case.name.clone(), field.name.clone()));
                    }
                }
            }
        }
        fields
    }

    #[test]
    fn the_table_names_every_wit_field_and_no_other() {
        let wit = wit_event_fields();
        assert!(wit.len() > 40, "the WIT was not read: {wit:?}");
        let table: BTreeSet<(String, String)> = FIELDS
            .iter()
            .map(|(r, f, _)| (r.to_string(), f.to_string()))
            .collect();
        let missing: Vec<_> = wit.difference(&table).collect();
        let stale: Vec<_> = table.difference(&wit).collect();
        assert!(
            missing.is_empty(),
            "fields in the WIT with no privacy rule: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "rules for fields the WIT no longer has: {stale:?}"
        );
    }

    #[test]
    fn the_readme_privacy_section_is_the_generated_table() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .unwrap();
        let start =
            "<!-- privacy-table:begin (generated by `agent-telemetry telemetry fields`) -->\n";
        let end = "<!-- privacy-table:end -->";
        let section = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table)
            .expect("README.md has the privacy table markers");
        assert_eq!(
            section,
            markdown(),
            "README.md's Privacy table is out of date: run `cargo run -- telemetry fields` and paste it"
        );
        assert!(
            readme.contains(NEVER),
            "README.md states what is never collected"
        );
    }

    #[test]
    fn the_notice_is_shown_once_per_version() {
        let dir = std::env::temp_dir().join(format!(
            "agent-telemetry-notice-{}",
            crate::trust::identity::random_hex(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        show_notice_once(Some(&dir), "http://127.0.0.1:1/", None);
        let file = dir.join(NOTICE_FILE);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().trim(),
            notice_version()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
