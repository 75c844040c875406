//! The process environment: read here and nowhere else in the host. Every variable the library
//! and the `agent-telemetry` command read is named once, in [`VARS`], with what it does;
//! `docs/configuration.md` shows that table (a test holds the page to it). The rest of the
//! host takes a `get` function where it reads variables ([`var`] in a run, a map in a test),
//! so what a setting does can be tested without touching the process's environment.

use std::ffi::OsString;

/// One or more variables that do one thing.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// The names, read in this order where there are several.
    pub names: &'static [&'static str],
    /// What setting it does, as the docs say it.
    pub effect: &'static str,
}

/// `DO_NOT_TRACK=1` (or true/yes/on) turns telemetry off.
pub const DO_NOT_TRACK: &str = "DO_NOT_TRACK";
/// `TELEMETRY_ENABLED=false` (or 0/no/off) turns telemetry off.
pub const TELEMETRY_ENABLED: &str = "TELEMETRY_ENABLED";
/// `ANONYMIZED_TELEMETRY=false` (or 0/no/off) turns telemetry off.
pub const ANONYMIZED_TELEMETRY: &str = "ANONYMIZED_TELEMETRY";
/// Where telemetry goes, for `run` when `--endpoint` does not say.
pub const ENDPOINT: &str = "AGENT_TELEMETRY_ENDPOINT";
/// The wire format, when the program sets none.
pub const FORMAT: &str = "AGENT_TELEMETRY_FORMAT";
/// Static request headers for `run` and `flush`.
pub const HEADERS: &str = "AGENT_TELEMETRY_HEADERS";
/// Custom tags for `run` and `flush`, read as docker-agent reads it.
pub const TAGS: &str = "TELEMETRY_TAGS";
/// The identity directory of the `agent-telemetry` command.
pub const HOME: &str = "AGENT_TELEMETRY_HOME";
/// An installation id handed in (`install_` + 16 hex digits): one id for a fleet of images or
/// CI runners, instead of one per home.
pub const INSTALLATION_ID: &str = "AGENT_TELEMETRY_INSTALLATION_ID";
/// `1`: every run ephemeral; `0`: keep the identity even in a container or CI (a dev
/// container whose home is a volume, say); unset: detected.
pub const EPHEMERAL: &str = "AGENT_TELEMETRY_EPHEMERAL";
/// `aggregate`: counts-only mode.
pub const MODE: &str = "AGENT_TELEMETRY_MODE";
/// `week`: counts-only mode uploads a week's counts at a time instead of a day's.
pub const COUNTS_PERIOD: &str = "AGENT_TELEMETRY_COUNTS_PERIOD";
/// Set by systemd-nspawn, podman and others inside a container (`container=docker`, say).
pub const CONTAINER: &str = "container";
/// Telemetry off when CI is detected.
pub const OFF_IN_CI: &str = "AGENT_TELEMETRY_OFF_IN_CI";
/// Debug mode: capture requests instead of sending them.
pub const DEBUG: &str = "AGENT_TELEMETRY_DEBUG";
/// Hides the first-run notice.
pub const NO_NOTICE: &str = "AGENT_TELEMETRY_NO_NOTICE";
/// Where compiled code is kept.
pub const CACHE_DIR: &str = "AGENT_TELEMETRY_CACHE_DIR";
/// Where the code cache's key is kept.
pub const KEY_DIR: &str = "AGENT_TELEMETRY_KEY_DIR";
/// `off`: keep no compiled code.
pub const CACHE: &str = "AGENT_TELEMETRY_CACHE";
/// `perfmap`: write `/tmp/perf-<pid>.map` for Linux `perf`.
pub const PROFILE: &str = "AGENT_TELEMETRY_PROFILE";

/// The variables whose presence means a CI run (as the common CI systems set them).
pub const CI_VARIABLES: &[&str] = &[
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

/// The user's language, as docker-agent reports it.
pub const LANGUAGE: &[&str] = &["LC_ALL", "LANG"];
/// The names the local user goes by.
pub const USER_NAMES: &[&str] = &["USER", "USERNAME", "LOGNAME"];
/// Where the platform's directories are, when they are not the defaults.
pub const PLATFORM_DIRS: &[&str] = &["HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"];

/// Every variable the host reads.
pub const VARS: &[Var] = &[
    Var {
        names: &[DO_NOT_TRACK],
        effect: "`1` (or true/yes/on): telemetry off",
    },
    Var {
        names: &[TELEMETRY_ENABLED],
        effect: "`false` (or 0/no/off): telemetry off",
    },
    Var {
        names: &[ANONYMIZED_TELEMETRY],
        effect: "`false` (or 0/no/off): telemetry off",
    },
    Var {
        names: &[ENDPOINT],
        effect: "the endpoint for `run` (or `--endpoint`)",
    },
    Var {
        names: &[FORMAT],
        effect: "the wire format for `run` and `flush` (or `--format`)",
    },
    Var {
        names: &[HEADERS],
        effect: "static request headers for `run` and `flush`, `name=value,...` (or `--headers`)",
    },
    Var {
        names: &[TAGS],
        effect: "custom tags for `run` and `flush`, `key=value,...` (or `--tags`), read as docker-agent reads it",
    },
    Var {
        names: &[HOME],
        effect: "the identity directory: id, key, choice, ledger, debug log (default: `<config dir>/agent-telemetry`)",
    },
    Var {
        names: &[INSTALLATION_ID],
        effect: "an installation id handed in (`install_` + 16 hex digits), for images and CI runners that want one id per fleet; nothing is written for it",
    },
    Var {
        names: &[MODE],
        effect: "`aggregate`: counts-only mode, events folded into counters on this machine and one upload of counts a day sent (or `agent-telemetry telemetry mode aggregate`); see [Privacy](privacy.md#counts-only-mode)",
    },
    Var {
        names: &[COUNTS_PERIOD],
        effect: "`day` (the default) or `week`: the period of one counts-only upload",
    },
    Var {
        names: &[CONTAINER],
        effect: "set (as systemd and podman set it, or `/.dockerenv` or `/run/.containerenv` present): a container, whose runs use an ephemeral id unless one is handed in",
    },
    Var {
        names: &[EPHEMERAL],
        effect: "`1`: every run uses an ephemeral id and writes no identity; `0`: the identity is kept even in a container or CI (a dev container whose home survives); unset: detected",
    },
    Var {
        names: CI_VARIABLES,
        effect: "any of them set: the run is labelled `ci: true` and uses an ephemeral id unless one is handed in",
    },
    Var {
        names: &[OFF_IN_CI],
        effect: "`1`: telemetry off when CI is detected",
    },
    Var {
        names: &[DEBUG],
        effect: "`1`: debug mode, nothing is sent, requests go to the debug log",
    },
    Var {
        names: &[NO_NOTICE],
        effect: "`1`: no first-run notice",
    },
    Var {
        names: &[CACHE_DIR],
        effect: "where compiled code is kept (default: `<cache dir>/agent-telemetry/code`, `~/.cache/agent-telemetry/code` on Linux); see [Start-up](startup.md)",
    },
    Var {
        names: &[KEY_DIR],
        effect: "where the code cache's key is kept (default: `<data dir>/agent-telemetry/code-cache-key`, `~/.local/share/agent-telemetry/code-cache-key` on Linux)",
    },
    Var {
        names: &[CACHE],
        effect: "`off`: keep no compiled code, compile the component and agents in every process",
    },
    Var {
        names: &[PROFILE],
        effect: "`perfmap`: write `/tmp/perf-<pid>.map`, so that Linux `perf` names the wasm functions it samples (see [BENCHMARKS.md](../BENCHMARKS.md))",
    },
    Var {
        names: LANGUAGE,
        effect: "the user's language tag the `docker` format reports (`os-language`)",
    },
    Var {
        names: USER_NAMES,
        effect: "the local user's names, hashed wherever an agent puts them in a name (`redact-words`)",
    },
    Var {
        names: PLATFORM_DIRS,
        effect: "where the platform's config, cache and data directories are (the defaults above)",
    },
];

/// A variable of [`VARS`], as the process has it.
pub fn var(name: &str) -> Option<OsString> {
    debug_assert!(
        VARS.iter().any(|v| v.names.contains(&name)),
        "{name} is read but not in environment::VARS"
    );
    std::env::var_os(name)
}

/// A variable of [`VARS`] as text, bytes that are not UTF-8 replaced: a value that cannot be
/// read is still told apart from an unset one.
pub fn text(name: &str) -> Option<String> {
    var(name).map(|v| v.to_string_lossy().into_owned())
}

/// The environment table of `docs/configuration.md`, generated from [`VARS`].
pub fn markdown() -> String {
    let mut out = String::from("| variable | effect |\n|---|---|\n");
    for Var { names, effect } in VARS {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        out.push_str(&format!("| {} | {effect} |\n", names.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_environment_table_is_the_generated_one() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"),
        )
        .unwrap();
        let start = "<!-- env-table:begin (generated from environment::VARS) -->\n";
        let table = page
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- env-table:end -->"))
            .map(|(table, _)| table)
            .expect("docs/configuration.md has the environment table's markers");
        assert_eq!(
            table,
            markdown(),
            "docs/configuration.md's environment table is out of date"
        );
    }

    #[test]
    fn no_source_file_of_the_host_reads_the_environment_but_this_one() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut readers = Vec::new();
        let mut dirs = vec![root.join("src"), root.join("cli/src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("environment.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if ["env::var(", "env::var_os(", "env::vars("]
                        .iter()
                        .any(|r| text.contains(r))
                    {
                        readers.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(
            readers.is_empty(),
            "these read the environment themselves: {readers:?}"
        );
    }
}
