//! Whether telemetry may run, and which input decided it.
//!
//! Off when any of these says so: `DO_NOT_TRACK` (1/true/yes/on), `TELEMETRY_ENABLED` or
//! `ANONYMIZED_TELEMETRY` (false/0/no/off). Values are read in any case, with surrounding
//! spaces ignored; an unknown value keeps the default and is reported as a warning.

/// Environment variables that mean "running in CI" (the first match labels the run).
const CI_VARIABLES: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "JENKINS_URL",
    "TF_BUILD",
    "TRAVIS",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub enabled: bool,
    /// The input that decided, e.g. `DO_NOT_TRACK=1` or `enabled by default`.
    pub reason: String,
    /// Values that were present but not understood.
    pub warnings: Vec<String>,
}

impl Consent {
    /// A decision made by the embedding program itself (tests, the demo, explicit config).
    pub fn explicit(enabled: bool, reason: impl Into<String>) -> Consent {
        Consent {
            enabled,
            reason: reason.into(),
            warnings: Vec::new(),
        }
    }

    pub fn from_env() -> Consent {
        Consent::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Consent {
        let mut warnings = Vec::new();
        let mut read = |name: &str| {
            let raw = get(name)?;
            let parsed = parse_bool(&raw);
            if parsed.is_none() {
                warnings.push(format!(
                    "{name}=`{}` is not one of true/false/1/0/yes/no/on/off; ignored",
                    raw.trim()
                ));
            }
            parsed.map(|v| (v, raw.trim().to_string()))
        };
        let dnt = read("DO_NOT_TRACK");
        let enabled = read("TELEMETRY_ENABLED");
        let anonymized = read("ANONYMIZED_TELEMETRY");
        let off = match (dnt, enabled, anonymized) {
            (Some((true, v)), _, _) => Some(format!("DO_NOT_TRACK={v}")),
            (_, Some((false, v)), _) => Some(format!("TELEMETRY_ENABLED={v}")),
            (_, _, Some((false, v))) => Some(format!("ANONYMIZED_TELEMETRY={v}")),
            _ => None,
        };
        match off {
            Some(reason) => Consent {
                enabled: false,
                reason,
                warnings,
            },
            None => Consent {
                enabled: true,
                reason: "enabled by default".to_string(),
                warnings,
            },
        }
    }
}

/// Whether this process looks like a CI run.
pub fn detect_ci(get: impl Fn(&str) -> Option<String>) -> bool {
    CI_VARIABLES.iter().any(|name| {
        get(name).is_some_and(|v| parse_bool(&v) != Some(false) && !v.trim().is_empty())
    })
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(vars: &[(&str, &str)]) -> Consent {
        Consent::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn default_is_on() {
        assert!(consent(&[]).enabled);
    }

    #[test]
    fn each_opt_out_turns_it_off_in_any_spelling() {
        for v in ["false", "FALSE", " 0 ", "no", "Off"] {
            assert!(!consent(&[("TELEMETRY_ENABLED", v)]).enabled, "{v}");
            assert!(!consent(&[("ANONYMIZED_TELEMETRY", v)]).enabled, "{v}");
        }
        for v in ["1", "true", "YES", "on"] {
            let c = consent(&[("DO_NOT_TRACK", v)]);
            assert!(!c.enabled);
            assert!(c.reason.starts_with("DO_NOT_TRACK="));
        }
    }

    #[test]
    fn unknown_values_keep_the_default_and_warn() {
        let c = consent(&[("TELEMETRY_ENABLED", "maybe")]);
        assert!(c.enabled);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn ci_is_detected() {
        assert!(detect_ci(
            |n| (n == "GITHUB_ACTIONS").then(|| "true".to_string())
        ));
        assert!(!detect_ci(|n| (n == "CI").then(|| "false".to_string())));
        assert!(!detect_ci(|_| None));
    }
}
