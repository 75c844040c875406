//! Consent, transparency and the privacy contract, end to end: the real CLI, the real
//! component, a real collector on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support;
use crate::support::{
    CountingListener, collector, events, home_env, run_cli, status_json, temp_dir, wasm,
};
use agent_telemetry::wire::{self, Data};
use serde_json::Value;

const NOTICE_LINE: &str = "anonymous usage telemetry is on";

/// Runs the every-event fixture against `endpoint`; returns (exit code, stderr).
async fn run_fixture(endpoint: &str, env: &[(&str, &str)], extra: &[&str]) -> (i32, String) {
    let fixture = wasm("fixture-every-event");
    let mut args = vec!["run", "--endpoint", endpoint, "--flush-deadline-ms", "3000"];
    args.extend_from_slice(extra);
    args.push(fixture.to_str().unwrap());
    let (code, _, stderr, _) = run_cli(&args, env).await;
    (code, stderr)
}

/// The library's example of a program that embeds it (`host/examples/embedded_notice.rs`):
/// `cargo test --workspace` builds it; a narrower run builds it here.
fn embedded_notice_example() -> PathBuf {
    let example = support::target_dir().join("debug/examples/embedded_notice");
    if !example.exists() {
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .args([
                "build",
                "-p",
                "agent-telemetry",
                "--example",
                "embedded_notice",
            ])
            .status()
            .expect("cargo is needed");
        assert!(
            status.success(),
            "building the embedded_notice example failed"
        );
    }
    example
}

/// The ledger as `log --json --body` prints it.
async fn ledger(home: &Path) -> Vec<Value> {
    let (code, stdout, stderr, _) = run_cli(&["log", "--json", "--body"], &[home_env(home)]).await;
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn telemetry_off_is_remembered_across_runs_and_on_brings_it_back() {
    let collector = collector().await;
    let home = temp_dir("choice");
    let env = [home_env(&home)];

    let (code, stdout, _, _) = run_cli(&["telemetry", "off"], &env).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("telemetry turned off"), "{stdout}");
    let status = status_json(&[
        home_env(&home),
        ("AGENT_TELEMETRY_ENDPOINT", &collector.endpoint()),
    ])
    .await;
    assert_eq!(status["enabled"], false);
    assert!(
        status["decided_by"]
            .as_str()
            .unwrap()
            .contains("telemetry off"),
        "{status}"
    );

    let (code, stderr) = run_fixture(&collector.endpoint(), &env, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        collector.store().counts().unwrap().batches,
        0,
        "a run after `telemetry off` sent something"
    );
    assert!(
        !home.join("installation-id").exists(),
        "no id is created while off"
    );
    assert!(
        !stderr.contains(NOTICE_LINE),
        "no notice while off: {stderr}"
    );

    let (code, _, _, _) = run_cli(&["telemetry", "on"], &env).await;
    assert_eq!(code, 0);
    let (code, stderr) = run_fixture(&collector.endpoint(), &env, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !events(&collector, 22, Duration::from_secs(2))
            .await
            .is_empty()
    );

    // `telemetry on` does not override an environment opt-out.
    let (_, stdout, _, _) = run_cli(
        &["telemetry", "on"],
        &[home_env(&home), ("DO_NOT_TRACK", "1")],
    )
    .await;
    assert!(
        stdout.contains("stays off for now: DO_NOT_TRACK=1"),
        "{stdout}"
    );
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn status_names_the_deciding_input_the_endpoint_the_id_file_and_what_is_collected() {
    let home = temp_dir("status");
    let endpoint = "http://127.0.0.1:9/v1/batch";
    let base = [home_env(&home), ("AGENT_TELEMETRY_ENDPOINT", endpoint)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = base.to_vec();
        env.extend_from_slice(extra);
        env
    };

    let on = status_json(&base).await;
    assert_eq!(on["enabled"], true);
    assert_eq!(on["decided_by"], "enabled by default");
    assert_eq!(on["endpoint"], endpoint);
    assert_eq!(
        on["id_file"],
        home.join("installation-id").to_str().unwrap()
    );
    assert_eq!(on["installation_id"], Value::Null, "status creates no id");
    assert_eq!(
        on["collected"].as_array().unwrap().len(),
        agent_telemetry::privacy::FIELDS.len()
    );

    for (env, decided) in [
        (with(&[("DO_NOT_TRACK", " True ")]), "DO_NOT_TRACK=True"),
        (with(&[("TELEMETRY_ENABLED", "no")]), "TELEMETRY_ENABLED=no"),
        (
            with(&[("ANONYMIZED_TELEMETRY", "OFF")]),
            "ANONYMIZED_TELEMETRY=OFF",
        ),
        (
            with(&[("CI", "true"), ("AGENT_TELEMETRY_OFF_IN_CI", "1")]),
            "running in CI",
        ),
    ] {
        let status = status_json(&env).await;
        assert_eq!(status["enabled"], false, "{env:?}");
        assert!(
            status["decided_by"].as_str().unwrap().starts_with(decided),
            "{env:?}: {status}"
        );
    }
    // CI alone only labels the run.
    let ci = status_json(&with(&[("CI", "true")])).await;
    assert_eq!(
        (ci["enabled"].clone(), ci["ci"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    // An unknown value fails closed: off, and status says so.
    let unknown = status_json(&with(&[("TELEMETRY_ENABLED", "maybe")])).await;
    assert_eq!(unknown["enabled"], false);
    assert!(
        unknown["warnings"][0].as_str().unwrap().contains("maybe"),
        "{unknown}"
    );
    // Without an endpoint there is nowhere to send: off, and said why.
    let nowhere = status_json(&[home_env(&home)]).await;
    assert_eq!(nowhere["enabled"], false);
    assert!(
        nowhere["decided_by"]
            .as_str()
            .unwrap()
            .contains("no endpoint")
    );

    let (code, text, _, _) = run_cli(&["telemetry", "status"], &base).await;
    assert_eq!(code, 0);
    for expected in [
        "telemetry: on",
        "decided by: enabled by default",
        endpoint,
        "installation id: not created yet",
        "Never collected:",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn ci_is_labelled_in_the_envelope() {
    let collector = collector().await;
    let home = temp_dir("ci");
    let (code, stderr) = run_fixture(
        &collector.endpoint(),
        &[home_env(&home), ("GITHUB_ACTIONS", "true")],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let labelled = events(&collector, 22, Duration::from_secs(2)).await;
    assert!(!labelled.is_empty() && labelled.iter().all(|e| e.ci));
    collector.stop().await;

    let collector = support::collector().await;
    run_fixture(&collector.endpoint(), &[home_env(&home)], &[]).await;
    let plain = events(&collector, 22, Duration::from_secs(2)).await;
    assert!(!plain.is_empty() && plain.iter().all(|e| !e.ci));
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn the_first_run_notice_is_shown_once_per_version_before_sending_and_can_be_hidden() {
    let collector = collector().await;
    let home = temp_dir("notice");
    let env = [home_env(&home)];
    let (_, first) = run_fixture(&collector.endpoint(), &env, &[]).await;
    assert!(
        first.contains(NOTICE_LINE),
        "first run shows the notice: {first}"
    );
    assert!(
        first.contains(&collector.endpoint()),
        "the notice names the endpoint: {first}"
    );
    assert!(
        first.contains("telemetry off") && first.contains("DO_NOT_TRACK"),
        "and how to opt out: {first}"
    );
    let (_, second) = run_fixture(&collector.endpoint(), &env, &[]).await;
    assert!(!second.contains(NOTICE_LINE), "shown once: {second}");

    // A changed notice text has another version: it is shown again.
    std::fs::write(home.join("notice-shown"), "0123456789ab\n").unwrap();
    let (_, changed) = run_fixture(&collector.endpoint(), &env, &[]).await;
    assert!(
        changed.contains(NOTICE_LINE),
        "a new version is shown: {changed}"
    );

    let hidden_home = temp_dir("notice-hidden");
    let (_, hidden) = run_fixture(
        &collector.endpoint(),
        &[home_env(&hidden_home), ("AGENT_TELEMETRY_NO_NOTICE", "1")],
        &[],
    )
    .await;
    assert!(
        !hidden.contains(NOTICE_LINE),
        "hidden by the env var: {hidden}"
    );
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&hidden_home);
}

/// Issue 23: a Rust tool that embeds the library showed a notice telling its users to run
/// `agent-telemetry telemetry off`, a command they do not have. Its notice is in its own
/// words, and the default names no command.
#[tokio::test]
async fn a_program_that_embeds_the_library_speaks_its_notice_in_its_own_words() {
    let collector = collector().await;
    let example = tokio::task::spawn_blocking(embedded_notice_example)
        .await
        .unwrap();
    let notice = |words: &'static str| {
        let example = example.clone();
        let endpoint = collector.endpoint();
        async move {
            let home = temp_dir("embedded-notice");
            let out = tokio::process::Command::new(&example)
                .args([endpoint.as_str(), home.to_str().unwrap(), words])
                .env_remove("AGENT_TELEMETRY_NO_NOTICE")
                .env_remove("DO_NOT_TRACK")
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let _ = std::fs::remove_dir_all(&home);
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
    };
    let own = notice("own").await;
    for said in [
        "my-tool: anonymous usage telemetry is on",
        "`my-tool telemetry off`",
        "MY_TOOL_TELEMETRY=0",
        "DO_NOT_TRACK=1",
        "https://my-tool.example/telemetry",
    ] {
        assert!(own.contains(said), "{said} not in {own}");
    }
    assert!(!own.contains("agent-telemetry telemetry off"), "{own}");
    let default = notice("default").await;
    assert!(
        default.contains("my-tool: anonymous usage telemetry is on")
            && default.contains("DO_NOT_TRACK=1"),
        "{default}"
    );
    assert!(
        !default.contains("agent-telemetry ") && !default.contains('`'),
        "the default names no command: {default}"
    );
    collector.stop().await;
}

#[tokio::test]
async fn debug_mode_makes_no_connection_and_captures_the_exact_bytes() {
    for (flag, env_var) in [
        (true, None),
        (false, Some(("AGENT_TELEMETRY_DEBUG", "yes"))),
    ] {
        let listener = CountingListener::start().await;
        let home = temp_dir("debug");
        let mut env = vec![home_env(&home)];
        env.extend(env_var);
        let extra: &[&str] = if flag { &["--debug"] } else { &[] };
        let (code, stderr) = run_fixture(&listener.url(), &env, extra).await;
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            listener.connections(),
            0,
            "debug mode connected to the endpoint"
        );
        assert!(
            stderr.contains("debug mode"),
            "the notice says nothing is sent: {stderr}"
        );

        let log = std::fs::read(home.join("debug.log")).expect("the debug log is written");
        let ledger = ledger(&home).await;
        assert!(!ledger.is_empty());
        let mut captured = 0;
        for entry in &ledger {
            assert_eq!(entry["debug"], true);
            let body = entry["body"].as_str().unwrap();
            assert_eq!(entry["sha256"], sha256_hex(body.as_bytes()));
            assert!(
                log.windows(body.len()).any(|w| w == body.as_bytes()),
                "the debug log holds the exact body"
            );
            let batch: wire::Batch = serde_json::from_str(body).unwrap();
            captured += batch.events.len();
        }
        assert_eq!(captured, 22, "every event was captured");
        std::fs::remove_dir_all(&home).unwrap();
    }
}

#[tokio::test]
async fn the_egress_ledger_records_every_request_with_its_exact_payload() {
    let collector = collector().await;
    let home = temp_dir("ledger");
    run_fixture(&collector.endpoint(), &[home_env(&home)], &[]).await;
    run_fixture(&collector.endpoint(), &[home_env(&home)], &[]).await;
    let stored = events(&collector, 34, Duration::from_secs(2)).await;
    let ledger = ledger(&home).await;
    assert_eq!(
        ledger.len() as u64,
        collector.store().counts().unwrap().batches,
        "one entry per request"
    );
    let mut ids = Vec::new();
    for entry in &ledger {
        assert_eq!(entry["status"], 200);
        assert_eq!(entry["endpoint"], collector.endpoint());
        let body = entry["body"].as_str().unwrap();
        assert_eq!(entry["bytes"], body.len());
        assert_eq!(entry["sha256"], sha256_hex(body.as_bytes()));
        let batch: wire::Batch = serde_json::from_str(body).unwrap();
        assert_eq!(entry["events"], batch.events.len());
        ids.extend(batch.events.into_iter().map(|e| e.event_id));
    }
    let mut stored_ids: Vec<String> = stored.into_iter().map(|e| e.event_id).collect();
    ids.sort();
    stored_ids.sort();
    assert_eq!(
        ids, stored_ids,
        "the ledger's payloads are what the collector stored"
    );

    let (code, table, _, _) = run_cli(&["log"], &[home_env(&home)]).await;
    assert_eq!(code, 0);
    assert!(
        table.contains(&collector.endpoint()) && table.contains("200"),
        "{table}"
    );
    let (_, without_body, _, _) = run_cli(&["log", "--json"], &[home_env(&home)]).await;
    assert!(
        !without_body.contains("\"body\""),
        "bodies only with --body"
    );
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn ids_map_to_the_same_pseudonym_within_an_installation_and_differ_across_two() {
    let collector = collector().await;
    let (a, b) = (temp_dir("install-a"), temp_dir("install-b"));
    for home in [&a, &a, &b] {
        run_fixture(&collector.endpoint(), &[home_env(home)], &[]).await;
    }
    let stored = events(&collector, 51, Duration::from_secs(3)).await;
    let id_of = |home: &Path| {
        std::fs::read_to_string(home.join("installation-id"))
            .unwrap()
            .trim()
            .to_string()
    };
    let sessions = |home: &Path| -> Vec<String> {
        let id = id_of(home);
        stored
            .iter()
            .filter(|e| e.installation_id == id)
            .filter_map(|e| match &e.data {
                Data::SessionStart { session_id, .. } => Some(session_id.clone()),
                _ => None,
            })
            .collect()
    };
    let (in_a, in_b) = (sessions(&a), sessions(&b));
    assert_eq!(in_a.len(), 2, "two runs in installation A");
    assert_eq!(
        in_a[0], in_a[1],
        "the same id, the same pseudonym within one installation"
    );
    assert_eq!(in_b.len(), 1);
    assert_ne!(in_a[0], in_b[0], "another installation, another pseudonym");
    assert!(!in_a[0].contains("session-42"), "the raw id never leaves");
    collector.stop().await;
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

/// What a hostile agent is given and tries to get out, as if it had read it from its files
/// and environment.
pub(crate) fn secrets(user: &str) -> Vec<String> {
    vec![
        format!("/home/{user}/.ssh/id_ed25519"),
        format!("C:\\Users\\{user}\\Documents\\taxes.pdf"),
        "https://intranet.acme.example/admin?session=77".to_string(),
        format!("{user}@acme.example"),
        "sk-proj-Q2xhdWRlU2VjcmV0S2V5".to_string(),
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a".to_string(),
        "AKIAIOSFODNN7EXAMPLE".to_string(),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl".to_string(),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string(),
        "10.20.30.40".to_string(),
        "fd12:3456:789a::1".to_string(),
        "please summarise the attached contract for my lawyer".to_string(),
        "Error: EACCES: permission denied, open '/etc/shadow'".to_string(),
        "--password=hunter2".to_string(),
        user.to_string(),
    ]
}

/// The local user the hostile agent runs as (a name it tries to get out, too).
pub(crate) const HOSTILE_USER: &str = "zebulonquux";

/// Runs the hostile fixture with [`secrets`] against `endpoint`, with `options` for `run`,
/// as [`HOSTILE_USER`]; returns its identity directory and what it printed.
pub(crate) async fn run_hostile(
    label: &str,
    endpoint: &str,
    options: &[&str],
) -> (PathBuf, String) {
    let home = temp_dir(label);
    let secrets = secrets(HOSTILE_USER);
    let fixture = wasm("fixture-hostile");
    let mut args = vec!["run", "--endpoint", endpoint, "--flush-deadline-ms", "5000"];
    args.extend_from_slice(options);
    args.push(fixture.to_str().unwrap());
    args.extend(secrets.iter().map(String::as_str));
    let user = HOSTILE_USER;
    let (code, stdout, stderr, _) =
        run_cli(&args, &[home_env(&home), ("USER", user), ("LOGNAME", user)]).await;
    assert_eq!(code, 0, "{label}: {stderr}");
    (home, stdout)
}

#[tokio::test]
async fn a_hostile_agent_cannot_smuggle_secrets_out_through_any_field_or_timing() {
    let collector = collector().await;
    let user = HOSTILE_USER;
    let secrets = secrets(user);
    let (home, stdout) = run_hostile("hostile", &collector.endpoint(), &[]).await;
    let recorded: usize = stdout
        .trim()
        .strip_prefix("recorded ")
        .and_then(|n| n.parse().ok())
        .expect(&stdout);
    let stored = events(&collector, recorded, Duration::from_secs(5)).await;
    assert_eq!(
        stored.len(),
        recorded,
        "every attempt reached the wire, so the checks below mean something"
    );

    // The exact bytes that left, from the ledger.
    let bodies: Vec<String> = ledger(&home)
        .await
        .iter()
        .map(|e| e["body"].as_str().unwrap().to_string())
        .collect();
    let wire_text = bodies.join("\n");
    assert!(!wire_text.is_empty());
    assert_no_secret_in("native", &wire_text, &secrets);
    assert!(
        !wire_text.to_lowercase().contains(user),
        "the user name reached the wire"
    );

    // Timing and numbers: second-resolution times, two significant digits in durations.
    for event in &stored {
        assert!(
            event.occurred_at.ends_with(".000Z"),
            "sub-second time on the wire: {}",
            event.occurred_at
        );
        let duration = match &event.data {
            Data::ToolCall { duration_ms, .. } => Some(*duration_ms),
            Data::Task { duration_ms, .. } => *duration_ms,
            _ => None,
        };
        if let Some(d) = duration {
            assert!(
                significant_digits(d) <= 2,
                "duration {d} carries more than two significant digits"
            );
        }
    }
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

fn significant_digits(mut n: u64) -> u32 {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    if n == 0 { 0 } else { n.ilog10() + 1 }
}

/// Fails if any of `secrets` shows in `wire` (any case), as written, JSON-escaped, in hex or
/// in base64.
pub(crate) fn assert_no_secret_in(label: &str, wire: &str, secrets: &[String]) {
    let lower = wire.to_lowercase();
    for secret in secrets {
        let json_escaped = serde_json::to_string(secret).unwrap();
        for form in [
            secret.clone(),
            json_escaped.trim_matches('"').to_string(),
            hex(secret.as_bytes()),
            base64(secret.as_bytes()),
            base64_url(secret.as_bytes()),
        ] {
            assert!(
                !lower.contains(&form.to_lowercase()),
                "{label}: `{form}` (from `{secret}`) reached the wire"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Without padding: a padded form contains this one.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
