//! Properties: random text in every field.

use proptest::prelude::*;

use super::*;

/// Cases per property; each case puts its string in all 31 fields. `PROPTEST_CASES`
/// overrides it for a deeper run.
const CASES: u32 = 512;

fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig::with_cases(cases)
}

const REDACT_WORDS: &str = "alice,bob.smith";

fn config() -> [(&'static str, &'static str); 1] {
    [("redact-words", REDACT_WORDS)]
}

/// What the pipeline of these properties accepts as plain: the same settings.
fn anonymizer() -> Anonymizer {
    let list = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
    Anonymizer::new(
        vec![0; 32],
        list(AGENT_ALLOWLIST),
        list(FLAG_ALLOWLIST),
        list(REDACT_WORDS),
    )
}

/// Each field's batch for a fixed harmless value: text that shows there anyway is not a
/// leak (`run` as a session id must not fail because `run` is also the command).
fn baselines() -> &'static Vec<Vec<u8>> {
    static BASELINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BASELINES.get_or_init(|| {
        fields()
            .iter()
            .map(|f| wire(f, "zz-baseline", &config()))
            .collect()
    })
}

/// The property: `input` reaches the wire only where its field's rule lets it through.
fn never_leaks(input: &str) -> Result<(), TestCaseError> {
    let a = anonymizer();
    let plain = a.accepts(input);
    for (f, baseline) in fields().iter().zip(baselines()) {
        let may_show = match f.rule {
            Rule::Name => plain,
            Rule::Agent => plain && AGENT_ALLOWLIST.split(',').any(|x| x == input),
            Rule::Flag => plain && FLAG_ALLOWLIST.split(',').any(|x| x == input),
            Rule::Id => false,
            Rule::InstallationId => crate::contract::ids::is_installation_id(input.trim()),
        };
        if may_show {
            continue;
        }
        let body = wire(f, input, &config());
        if let Some(how) = leak(&body, input)
            && leak(baseline, input).is_none()
        {
            return Err(TestCaseError::fail(format!(
                "{}: {input:?} reached the wire {how}",
                f.name()
            )));
        }
    }
    Ok(())
}

/// Text shaped like what must never be sent.
fn forbidden_shapes() -> impl Strategy<Value = String> {
    prop_oneof![
        // Paths, unix and windows, absolute, relative and home.
        "/[a-z]{1,8}(/[A-Za-z0-9._-]{1,12}){0,5}",
        "~/[A-Za-z0-9/._-]{1,30}",
        "(\\.\\./){1,3}[a-z]{1,10}",
        "[a-z]{2,8}(/[a-z0-9_-]{1,10}){3,6}",
        "[A-Z]:\\\\[A-Za-z0-9 ._-]{1,12}(\\\\[A-Za-z0-9 ._-]{1,12}){0,4}",
        "[a-z0-9_-]{1,12}\\.(txt|pdf|csv|env|pem|docx|sqlite)",
        // URLs and emails.
        "(https?|ftp|file|s3|ssh|wss?)://[a-z0-9.-]{1,20}(:[0-9]{2,5})?(/[A-Za-z0-9._~%-]{0,12}){0,4}(\\?[a-z]{1,6}=[A-Za-z0-9]{1,12})?",
        "[A-Za-z0-9._%+-]{1,20}@[a-z0-9-]{1,15}(\\.[a-z]{2,6}){1,3}",
        // Keys and tokens.
        "(sk-|sk-proj-|sk-ant-api03-|sk_live_|ghp_|gho_|github_pat_|xoxb-|glpat-)[A-Za-z0-9_-]{10,48}",
        "AKIA[A-Z0-9]{16}",
        "eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{10,43}",
        "[0-9a-f]{32,64}",
        "[A-Za-z0-9+/]{30,60}={0,2}",
        "[A-Za-z0-9_-]{20,64}",
        // Addresses.
        "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}(:[0-9]{2,5})?",
        "[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}",
        // Prompts, errors, arguments, user names.
        "[A-Za-z]{1,10}( [A-Za-z,.'?!]{1,12}){2,20}",
        "(Error|error|panic|Traceback): [ -~]{5,80}",
        "--?[a-z-]{1,12}(=[ -~]{1,20})?",
        "[a-z0-9-]{0,10}(alice|ALICE|Alice|bob\\.smith|BobSmith|bob_smith)[a-z0-9._-]{0,10}",
    ]
}

/// Shapes every one of which the identifier rule must refuse (random base64url is left
/// out: a small share of short ones is indistinguishable from a name).
fn always_refused() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[a-z]{1,8}(/[A-Za-z0-9._-]{1,12}){0,5}",
        "~/[A-Za-z0-9/._-]{1,30}",
        "[A-Z]:\\\\[A-Za-z0-9 ._-]{1,12}",
        "[a-z]{2,8}(/[a-z0-9_-]{1,10}){3,6}",
        "[a-z0-9_-]{1,12}\\.(txt|pdf|csv|env|pem|docx|sqlite|gguf)",
        "(https?|ftp|file|s3|ssh)://[a-z0-9.-]{1,20}(/[a-z0-9]{0,12}){0,3}",
        "[a-z0-9._+-]{1,20}@[a-z0-9-]{1,15}\\.[a-z]{2,6}",
        "(sk-|ghp_|github_pat_|xoxb-|glpat-)[A-Za-z0-9]{10,40}",
        "AKIA[A-Z0-9]{16}",
        "eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,40}",
        "[0-9a-f]{40,64}",
        "[A-Za-z0-9+/]{40,60}={0,2}",
        "[0-9]{10,20}",
        "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
        "[0-9a-f]{1,4}::[0-9a-f]{1,4}",
        "[A-Za-z]{1,10}( [A-Za-z]{1,10}){1,10}",
        "-{1,2}[a-z]{1,12}",
    ]
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn random_unicode_never_leaks(input in any::<String>()) {
        never_leaks(&input)?;
    }

    #[test]
    fn random_printable_text_never_leaks(input in "\\PC{0,80}") {
        never_leaks(&input)?;
    }

    #[test]
    fn identifier_like_text_leaks_only_when_plain(input in "[A-Za-z0-9._:/@ -]{0,72}") {
        never_leaks(&input)?;
    }

    #[test]
    fn forbidden_shapes_never_leak(input in forbidden_shapes()) {
        never_leaks(&input)?;
    }

    #[test]
    fn forbidden_shapes_are_never_plain(input in always_refused()) {
        prop_assert!(!is_plain_identifier(&input), "{input:?} passed as plain");
    }
}
