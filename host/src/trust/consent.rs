//! Whether telemetry may run, and which input decided it.
//!
//! Telemetry is on unless an input turns it off. The inputs are read in this order, and the
//! first one that says "off" is named as the reason:
//!
//! 1. `DO_NOT_TRACK` set to 1/true/yes/on;
//! 2. `TELEMETRY_ENABLED` set to 0/false/no/off;
//! 3. `ANONYMIZED_TELEMETRY` set to 0/false/no/off;
//! 4. the persisted choice (`agent-telemetry telemetry off`), a file in the identity directory;
//! 5. running in CI when the host is configured to stay off in CI (`AGENT_TELEMETRY_OFF_IN_CI`).
//!
//! No input can turn telemetry on over another's "off": `telemetry on` does not override
//! `DO_NOT_TRACK=1`. Values are read in any case with surrounding spaces ignored. Consent fails
//! closed: an opt-out input set to anything but true/false/1/0/yes/no/on/off (`DO_NOT_TRACK=2`,
//! `TELEMETRY_ENABLED=disabled`, an empty value), and a choice file that exists but cannot be
//! read or holds anything but `on` or `off`, mean off, with a warning that says so.

use std::path::Path;

/// Environment variables that mean "running in CI" (the first match labels the run).
pub use crate::environment::CI_VARIABLES;

/// The file, in the identity directory, that remembers `telemetry on|off`.
pub const CHOICE_FILE: &str = "consent";

/// Turns telemetry off in CI when set to a true value.
pub const OFF_IN_CI_VAR: &str = crate::environment::OFF_IN_CI;

/// Whether telemetry may run, and why: the first input that said "off", or why it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Whether telemetry may run.
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

    /// The environment's part of the decision (inputs 1 to 3), read from this process's
    /// environment.
    pub fn from_env() -> Consent {
        Consent::from_vars(env_text)
    }

    /// The environment's part of the decision (inputs 1 to 3), each variable read through
    /// `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Consent {
        let mut consent = Consent::explicit(true, "enabled by default");
        // Each input, and the value of it that means "off" (DO_NOT_TRACK's true is off).
        for (name, off) in [
            (crate::environment::DO_NOT_TRACK, true),
            (crate::environment::TELEMETRY_ENABLED, false),
            (crate::environment::ANONYMIZED_TELEMETRY, false),
        ] {
            let Some(raw) = get(name) else { continue };
            let value = raw.trim();
            match parse_bool(value) {
                Some(v) if v == off => consent.turn_off(format!("{name}={value}")),
                Some(_) => {}
                None => {
                    let problem = format!(
                        "{name}=`{value}` is not one of true/false/1/0/yes/no/on/off, so telemetry is off"
                    );
                    consent.warnings.push(problem.clone());
                    consent.turn_off(problem);
                }
            }
        }
        consent
    }

    /// Applies the persisted choice (input 4): `Some(false)` turns telemetry off, and so does a
    /// choice file that cannot be read (`Err`).
    pub(crate) fn with_choice(
        mut self,
        choice: Result<Option<bool>, String>,
        file: &Path,
    ) -> Consent {
        match choice {
            Ok(Some(false)) => self.turn_off(format!(
                "turned off with `telemetry off` ({})",
                file.display()
            )),
            Ok(_) => {}
            Err(problem) => {
                let problem = format!("{problem}, so telemetry is off");
                self.warnings.push(problem.clone());
                self.turn_off(problem);
            }
        }
        self
    }

    /// An identity directory that is not this user's alone (`Err` with the reason) turns
    /// telemetry off: nothing is read from it or written to it.
    pub(crate) fn with_private_dir(mut self, check: Result<(), String>) -> Consent {
        if let Err(problem) = check {
            let problem =
                format!("the identity directory cannot be trusted: {problem}, so telemetry is off");
            self.warnings.push(problem.clone());
            self.turn_off(problem);
        }
        self
    }

    /// Applies the CI rule (input 5).
    pub(crate) fn with_ci(mut self, ci: bool, off_in_ci: bool) -> Consent {
        if ci && off_in_ci {
            self.turn_off(format!("running in CI and {OFF_IN_CI_VAR} is set"));
        }
        self
    }

    /// Without an endpoint there is nowhere to send (there is no default one): off, after
    /// every input above has had its say.
    pub(crate) fn with_endpoint(mut self, configured: bool) -> Consent {
        if !configured {
            self.turn_off("no endpoint is configured".to_string());
        }
        self
    }

    /// An earlier "off" keeps its reason: the first input to say off is the one named.
    fn turn_off(&mut self, reason: String) {
        if self.enabled {
            self.enabled = false;
            self.reason = reason;
        }
    }
}

/// The persisted choice in `dir`: `Ok(None)` when none was made, `Err` when the file cannot
/// be read or holds anything but `on` or `off` in plain UTF-8 (a byte-order mark, UTF-16, a
/// link, another user's file): telemetry is then off, and the reason says why.
pub(crate) fn read_choice(dir: &Path) -> Result<Option<bool>, String> {
    let file = dir.join(CHOICE_FILE);
    match super::private_files::read_private(&file, CHOICE_MAX_BYTES) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(parse_bool)
            .map(Some)
            .ok_or_else(|| format!("{} holds neither `on` nor `off`", file.display())),
        Err(e) => Err(format!("{} cannot be read: {e}", file.display())),
    }
}

/// The choice file is `on` or `off` and a newline; anything longer is not one.
const CHOICE_MAX_BYTES: u64 = 64;

/// Remembers `telemetry on|off` in `dir` (created private if missing), atomically.
pub fn write_choice(dir: &Path, enabled: bool) -> std::io::Result<()> {
    super::private_files::create_private_dir(dir)?;
    let choice: &[u8] = if enabled { b"on\n" } else { b"off\n" };
    super::private_files::replace_private(&dir.join(CHOICE_FILE), choice)
}

/// Whether this process looks like a CI run.
pub(crate) fn detect_ci(get: impl Fn(&str) -> Option<String>) -> bool {
    CI_VARIABLES.iter().any(|name| {
        get(name).is_some_and(|v| parse_bool(&v) != Some(false) && !v.trim().is_empty())
    })
}

/// The environment variable `name` as text. A value that is not UTF-8 is read as the text it
/// best resembles, never skipped as if unset: it is then not understood, and a switch falls on
/// its safe side.
pub(crate) fn env_text(name: &str) -> Option<String> {
    crate::environment::text(name)
}

/// The documented spellings of on and off, in any case with surrounding spaces ignored:
/// `1 true yes on` and `0 false no off`. Anything else (`y`, `2`, `disabled`, an empty value)
/// is `None`: not understood.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// An on/off environment variable, read strictly: the one parser every switch of this host
/// goes through (`AGENT_TELEMETRY_DEBUG`, `_OFF_IN_CI`, `_NO_NOTICE`, `_CACHE`; the consent
/// inputs above apply the same spellings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Switch {
    /// What the switch says: its value when understood, `unset` when absent, else `safe`.
    pub(crate) on: bool,
    /// Set when the value was not understood: the variable, its value, and which side was
    /// taken. `telemetry status` shows it, and `run` prints it.
    pub(crate) warning: Option<String>,
}

impl Switch {
    /// `name` whose value is `value`: `unset` when it is absent, the value when it is one of
    /// [`parse_bool`]'s spellings, and otherwise `safe`, the side on which a misspelling can
    /// do no harm (debug mode for `AGENT_TELEMETRY_DEBUG`: nothing sent), with a warning.
    pub(crate) fn read(name: &str, value: Option<&str>, unset: bool, safe: bool) -> Switch {
        let Some(value) = value else {
            return Switch {
                on: unset,
                warning: None,
            };
        };
        match parse_bool(value) {
            Some(on) => Switch { on, warning: None },
            None => Switch {
                on: safe,
                warning: Some(format!(
                    "{name}=`{}` is not one of true/false/1/0/yes/no/on/off, so it is taken as \
                     {}",
                    value.escape_debug(),
                    if safe { "on" } else { "off" }
                )),
            },
        }
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
        for v in ["false", "FALSE", " 0 ", "no", "Off", "nO"] {
            assert!(!consent(&[("TELEMETRY_ENABLED", v)]).enabled, "{v}");
            assert!(!consent(&[("ANONYMIZED_TELEMETRY", v)]).enabled, "{v}");
        }
        for v in ["1", "true", "YES", "on", " True "] {
            let c = consent(&[("DO_NOT_TRACK", v)]);
            assert!(!c.enabled);
            assert!(c.reason.starts_with("DO_NOT_TRACK="));
        }
    }

    /// Every combination of the five inputs, each unset, on, off or unreadable, against the
    /// rule as docs/privacy.md ("Turning it off") states it: off if any input says off or
    /// cannot be read; the first such input named.
    #[test]
    fn the_whole_matrix_follows_the_documented_precedence() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum V {
            Unset,
            On,
            Off,
            Unknown,
        }
        let all = [V::Unset, V::On, V::Off, V::Unknown];
        let spell = |v: V, on: &'static str, off: &'static str| match v {
            V::Unset => None,
            V::On => Some(on),
            V::Off => Some(off),
            V::Unknown => Some("maybe"),
        };
        let file = Path::new("/x/consent");
        let mut cases = 0;
        for dnt in all {
            for enabled in all {
                for anonymized in all {
                    for choice in all {
                        for (ci, off_in_ci) in
                            [(false, false), (false, true), (true, false), (true, true)]
                        {
                            let mut vars = Vec::new();
                            // DO_NOT_TRACK's "on" means tracking is off.
                            if let Some(v) = spell(dnt, " Yes", "0") {
                                vars.push(("DO_NOT_TRACK", v));
                            }
                            if let Some(v) = spell(enabled, "TRUE", " off ") {
                                vars.push(("TELEMETRY_ENABLED", v));
                            }
                            if let Some(v) = spell(anonymized, "1", "No") {
                                vars.push(("ANONYMIZED_TELEMETRY", v));
                            }
                            let persisted = match choice {
                                V::Unset => Ok(None),
                                V::On => Ok(Some(true)),
                                V::Off => Ok(Some(false)),
                                V::Unknown => Err("unreadable".to_string()),
                            };
                            let got = consent(&vars)
                                .with_choice(persisted, file)
                                .with_ci(ci, off_in_ci);
                            // Fails closed: an unreadable input is an "off" in its place.
                            let off = |v: V, means_off: V| v == means_off || v == V::Unknown;
                            let expected_reason = if off(dnt, V::On) {
                                Some("DO_NOT_TRACK")
                            } else if off(enabled, V::Off) {
                                Some("TELEMETRY_ENABLED")
                            } else if off(anonymized, V::Off) {
                                Some("ANONYMIZED_TELEMETRY")
                            } else if choice == V::Off {
                                Some("turned off with `telemetry off`")
                            } else if choice == V::Unknown {
                                Some("unreadable")
                            } else if ci && off_in_ci {
                                Some("running in CI")
                            } else {
                                None
                            };
                            let case = format!(
                                "{dnt:?} {enabled:?} {anonymized:?} {choice:?} ci={ci} off_in_ci={off_in_ci}: {got:?}"
                            );
                            assert_eq!(got.enabled, expected_reason.is_none(), "{case}");
                            match expected_reason {
                                Some(r) => assert!(got.reason.starts_with(r), "{case}"),
                                None => assert_eq!(got.reason, "enabled by default", "{case}"),
                            }
                            let unknown = [dnt, enabled, anonymized, choice]
                                .iter()
                                .filter(|v| **v == V::Unknown)
                                .count();
                            assert_eq!(got.warnings.len(), unknown, "{case}");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 4 * 4 * 4 * 4);
    }

    #[test]
    fn the_choice_is_remembered_and_a_file_that_cannot_be_read_means_off() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("id");
        assert_eq!(read_choice(&dir), Ok(None));
        write_choice(&dir, false).unwrap();
        assert_eq!(read_choice(&dir), Ok(Some(false)));
        write_choice(&dir, true).unwrap();
        assert_eq!(read_choice(&dir), Ok(Some(true)));
        let file = dir.join(CHOICE_FILE);
        let mut unreadable: Vec<(&str, Vec<u8>)> = vec![
            ("a word", b"perhaps".to_vec()),
            ("a byte-order mark", "\u{feff}off".as_bytes().to_vec()),
            (
                "UTF-16",
                "off".encode_utf16().flat_map(u16::to_le_bytes).collect(),
            ),
            ("empty", Vec::new()),
            ("too long", b"off".repeat(100)),
        ];
        for (what, content) in unreadable.drain(..) {
            std::fs::write(&file, content).unwrap();
            let choice = read_choice(&dir);
            assert!(choice.is_err(), "{what}: {choice:?}");
            let consent = Consent::explicit(true, "test").with_choice(choice, &file);
            assert!(!consent.enabled, "{what}: fails closed");
            assert_eq!(consent.warnings.len(), 1, "{what}: and says so");
        }
        #[cfg(unix)]
        {
            std::fs::remove_file(&file).unwrap();
            let elsewhere = root.path().join("elsewhere");
            std::fs::write(&elsewhere, "on").unwrap();
            std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
            assert!(read_choice(&dir).is_err(), "a link is not followed");
        }
    }

    #[test]
    fn without_an_endpoint_it_is_off_but_an_earlier_reason_stands() {
        let nowhere = consent(&[]).with_endpoint(false);
        assert!(!nowhere.enabled);
        assert_eq!(nowhere.reason, "no endpoint is configured");
        let opted_out = consent(&[("DO_NOT_TRACK", "1")]).with_endpoint(false);
        assert_eq!(opted_out.reason, "DO_NOT_TRACK=1");
        assert!(consent(&[]).with_endpoint(true).enabled);
    }

    /// Issue 20: `AGENT_TELEMETRY_DEBUG=y` sent for real and `AGENT_TELEMETRY_OFF_IN_CI=2`
    /// left telemetry on; a switch now takes the documented spellings only, and anything
    /// else is its safe side, with a warning.
    #[test]
    fn a_switch_reads_the_documented_spellings_and_falls_on_its_safe_side() {
        for (value, on) in [("1", true), (" YES ", true), ("On", true), ("false", false)] {
            for safe in [true, false] {
                let read = Switch::read("X", Some(value), !on, safe);
                assert_eq!((read.on, read.warning), (on, None), "{value:?}");
            }
        }
        for value in ["y", "2", "enabled", "", "\u{feff}1"] {
            for safe in [true, false] {
                let read = Switch::read("AGENT_TELEMETRY_DEBUG", Some(value), false, safe);
                assert_eq!(read.on, safe, "{value:?}");
                let warning = read.warning.expect("a warning");
                assert!(warning.contains("AGENT_TELEMETRY_DEBUG"), "{warning}");
            }
        }
        assert!(
            Switch::read("X", None, true, false).on,
            "unset: its default"
        );
        assert!(
            !Switch::read("X", None, false, true).on,
            "unset: its default"
        );
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
