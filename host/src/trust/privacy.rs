//! What is collected, said once: the field table the README's "Privacy" section is generated
//! from (a test checks it against the WIT and the README), the summary `telemetry status`
//! prints, and the first-run notice.

use std::path::Path;
use std::sync::LazyLock;

use agent_telemetry_contract::catalogue;
use sha2::Digest;

pub use agent_telemetry_contract::catalogue::Rule;

/// One row of the privacy table: a field an agent sets, named as the WIT names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The event record (`tool-call`).
    pub event: String,
    /// The field (`session-id`).
    pub field: String,
    /// What the component does to it: the same rule it applies, both read from the catalogue.
    pub rule: Rule,
}

/// Every field of every event record in `wit/telemetry.wit`, with its rule: the event
/// catalogue (`agent_telemetry_contract::catalogue`) without the fields the component computes
/// itself, under the WIT's names.
pub static FIELDS: LazyLock<Vec<Published>> = LazyLock::new(|| {
    catalogue::FIELDS
        .iter()
        .filter(|f| f.rule != Rule::Computed)
        .map(|f| Published {
            event: f.kind.replace('_', "-"),
            field: f.name.replace('_', "-"),
            rule: f.rule,
        })
        .collect()
});

/// Added by the component to every event; nothing here comes from the agent.
pub const ENVELOPE: &[(&str, &str)] = &[
    ("event_id", "random UUIDv7, stable across retries"),
    ("occurred_at", "UTC time, rounded down to the second"),
    (
        "installation_id",
        "`install_` + 16 random hex digits kept in the identity directory or handed in; `ephemeral_` + 16 for one run in a container or CI, or when it cannot be stored",
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
    for Published { event, field, rule } in FIELDS.iter() {
        out.push_str(&format!(
            "| `{event}` | `{field}` | {} |\n",
            rule.describe()
        ));
    }
    out
}

/// The plain-text summary `telemetry status` prints.
pub fn summary() -> String {
    let mut events: Vec<&str> = FIELDS.iter().map(|p| p.event.as_str()).collect();
    events.dedup();
    format!(
        "Collected: anonymous usage events ({}), each with an installation id, product, version, os, arch and CI flag.\nIds are replaced by keyed hashes; names are sent only when they are plain identifiers.\nNever collected: {NEVER}.",
        events.join(", ")
    )
}

/// How the first-run notice speaks, in the words of the program that embeds telemetry: who
/// speaks, and the program's own ways to turn telemetry off and to see what was sent. The
/// default names no command at all (a program's users do not have `agent-telemetry`): it says
/// the product's name and `DO_NOT_TRACK=1`, which every build honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NoticeWords {
    /// Who speaks, the notice's first word (`my-tool`); the product's name when `None`.
    pub program: Option<String>,
    /// The program's own command that turns telemetry off (`my-tool telemetry off`).
    pub off_command: Option<String>,
    /// The program's own environment variable that turns it off (`MY_TOOL_TELEMETRY=0`).
    pub off_variable: Option<String>,
    /// The program's command that shows what was sent (`my-tool telemetry log`).
    pub log_command: Option<String>,
    /// Where the program's own docs say more about its telemetry (a URL or a man page).
    pub docs: Option<String>,
}

impl NoticeWords {
    /// Words naming `program` and nothing else of its own.
    pub fn program(program: impl Into<String>) -> NoticeWords {
        NoticeWords {
            program: Some(program.into()),
            ..NoticeWords::default()
        }
    }

    /// The same words with `command` as the way to turn telemetry off.
    pub fn off_command(mut self, command: impl Into<String>) -> NoticeWords {
        self.off_command = Some(command.into());
        self
    }

    /// The same words with `variable` (with its value: `MY_TOOL_TELEMETRY=0`) as a way to turn
    /// telemetry off.
    pub fn off_variable(mut self, variable: impl Into<String>) -> NoticeWords {
        self.off_variable = Some(variable.into());
        self
    }

    /// The same words with `command` as the way to see what was sent.
    pub fn log_command(mut self, command: impl Into<String>) -> NoticeWords {
        self.log_command = Some(command.into());
        self
    }

    /// The same words with `docs` as where to read more.
    pub fn docs(mut self, docs: impl Into<String>) -> NoticeWords {
        self.docs = Some(docs.into());
        self
    }

    /// The words of the `agent-telemetry` command itself.
    pub fn agent_telemetry_cli() -> NoticeWords {
        NoticeWords::program("agent-telemetry")
            .off_command("agent-telemetry telemetry off")
            .log_command("agent-telemetry log")
    }
}

/// The first-run notice that `product` shows, in `words`, for telemetry going to `endpoint`.
pub fn notice(words: &NoticeWords, product: &str, endpoint: &str) -> String {
    let program = words.program.as_deref().unwrap_or(product);
    let mut off: Vec<String> = Vec::new();
    if let Some(command) = &words.off_command {
        off.push(format!("`{command}`"));
    }
    if let Some(variable) = &words.off_variable {
        off.push(variable.clone());
    }
    off.push("DO_NOT_TRACK=1".to_string());
    let mut text = format!(
        "{program}: anonymous usage telemetry is on and goes to {endpoint}.\n  \
         Collected: commands, tool calls, token use and cost, sessions and task states, with hashed ids.\n  \
         Never collected: prompts, file contents, paths, arguments, error text, keys or personal data.\n  \
         Turn it off: {}.",
        off.join(", or ")
    );
    if let Some(log) = &words.log_command {
        text.push_str(&format!(" See what was sent: `{log}`."));
    }
    if let Some(docs) = &words.docs {
        text.push_str(&format!("\n  More: {docs}."));
    }
    text.push_str("\n  Hide this notice: AGENT_TELEMETRY_NO_NOTICE=1.");
    text
}

/// The file in the identity directory that remembers which notice version was shown.
pub const NOTICE_FILE: &str = "notice-shown";

/// The version of a notice: a hash of its text (the endpoint left out), so a changed text is
/// shown again.
pub fn notice_version(words: &NoticeWords, product: &str) -> String {
    hex::encode(&sha2::Sha256::digest(notice(words, product, "").as_bytes())[..6])
}

/// Prints the notice on stderr unless this version was shown before (as remembered in `dir`;
/// without a directory it is shown every time, since it cannot be remembered).
pub fn show_notice_once(
    dir: Option<&Path>,
    words: &NoticeWords,
    product: &str,
    endpoint: &str,
    debug_log: Option<&Path>,
) {
    let version = notice_version(words, product);
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
    eprintln!("{}", notice(words, product, &target));
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
            .map(|p| (p.event.clone(), p.field.clone()))
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
        let words = NoticeWords::default();
        show_notice_once(Some(&dir), &words, "my-tool", "http://127.0.0.1:1/", None);
        let file = dir.join(NOTICE_FILE);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().trim(),
            notice_version(&words, "my-tool")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 23: a program that embeds the library told its users to run `agent-telemetry
    /// telemetry off`, a command they do not have.
    #[test]
    fn the_notice_speaks_in_the_programs_words_and_by_default_names_no_command() {
        let default = notice(&NoticeWords::default(), "my-tool", "https://t.example/v1");
        assert!(
            default.starts_with("my-tool: anonymous usage telemetry is on"),
            "{default}"
        );
        assert!(!default.contains("agent-telemetry "), "{default}");
        assert!(!default.contains('`'), "no command at all: {default}");
        assert!(default.contains("DO_NOT_TRACK=1"), "{default}");

        let words = NoticeWords::program("My Tool")
            .off_command("my-tool config set telemetry false")
            .off_variable("MY_TOOL_TELEMETRY=0")
            .docs("https://my-tool.example/telemetry");
        let own = notice(&words, "my-tool", "https://t.example/v1");
        for said in [
            "My Tool: anonymous usage telemetry is on",
            "`my-tool config set telemetry false`",
            "MY_TOOL_TELEMETRY=0",
            "DO_NOT_TRACK=1",
            "https://my-tool.example/telemetry",
        ] {
            assert!(own.contains(said), "{said} not in {own}");
        }
        assert!(!own.contains("agent-telemetry "), "{own}");
        // Other words are another notice: shown again.
        assert_ne!(
            notice_version(&words, "my-tool"),
            notice_version(&NoticeWords::default(), "my-tool")
        );

        let cli = notice(&NoticeWords::agent_telemetry_cli(), "agent", "x");
        assert!(cli.contains("`agent-telemetry telemetry off`"), "{cli}");
        assert!(cli.contains("`agent-telemetry log`"), "{cli}");
    }
}
