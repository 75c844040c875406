//! The OTLP attribute names that changed in the OpenTelemetry GenAI semantic conventions, current
//! name first: the component writes the older one when told to (`otlp-names = older`, for a
//! collector that expects those), and the collector reads either.
//!
//! Current as of the GenAI conventions in `open-telemetry/semantic-conventions-genai`
//! (`model/gen-ai/registry.yaml`); the older names are those of the conventions before 1.37
//! (`gen_ai.system`, `gen_ai.usage.prompt_tokens`, `gen_ai.usage.completion_tokens`), of
//! OpenLLMetry's cache counts, and the resource's `deployment.environment`.

/// (current, older) attribute names.
pub const OLDER: &[(&str, &str)] = &[
    ("gen_ai.provider.name", "gen_ai.system"),
    ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    ),
    (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
    ),
    (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ),
    (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
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
