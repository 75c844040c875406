//! The OTLP attribute names that changed in the OpenTelemetry GenAI semantic conventions, current
//! name first: the component writes the older one when told to (`otlp-names = older`, for a
//! collector that expects those), and the collector reads either.
//!
//! The pairs are the renames the GenAI conventions list as deprecated (semantic conventions
//! v1.41.1's `model/gen-ai/deprecated/registry-deprecated.yaml` and `model/deployment`, the
//! last release that held the GenAI model before it moved to
//! `open-telemetry/semantic-conventions-genai`). Names with no older name in the conventions
//! (the cache and reasoning token counts, the conversation, agent and tool names) are sent
//! under their current name either way.

/// (current, older) attribute names.
pub const OLDER: &[(&str, &str)] = &[
    ("gen_ai.provider.name", "gen_ai.system"),
    ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    ),
    ("deployment.environment.name", "deployment.environment"),
];

/// The older name of `current`, or `current` itself where it has none.
pub fn older(current: &str) -> &str {
    OLDER
        .iter()
        .find(|(c, _)| *c == current)
        .map_or(current, |(_, o)| o)
}

/// The older name of `current`, if it has one.
pub fn older_of(current: &str) -> Option<&'static str> {
    OLDER.iter().find(|(c, _)| *c == current).map(|(_, o)| *o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_older_name_is_distinct_from_every_current_one() {
        for (current, old) in OLDER {
            assert_ne!(current, old);
            assert!(OLDER.iter().all(|(c, _)| c != old), "{old} is also current");
            assert_eq!(older(current), *old);
        }
        assert_eq!(older("gen_ai.tool.name"), "gen_ai.tool.name");
    }

    #[test]
    fn the_docs_table_lists_every_pair() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/formats.md"),
        )
        .unwrap();
        let rows = docs.lines().filter(|l| l.starts_with("| `")).count();
        for (current, old) in OLDER {
            assert!(
                docs.lines()
                    .any(|l| l.starts_with(&format!("| `{current}`"))
                        && l.ends_with(&format!("| `{old}` |"))),
                "docs/formats.md has no row for {current} / {old}"
            );
        }
        assert!(rows >= OLDER.len());
    }
}
