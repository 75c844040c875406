//! Hardening, tried as an attacker would: untrusted files in the identity directory,
//! untrusted agents, consent that fails closed, requests that are exactly the endpoint,
//! counts that tell the truth, and the collector as a real server. Each test fails without
//! the fix it names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::event::{Event, Outcome, ToolCall};
use agent_telemetry::{SPOOL_DIR, Spool, SpoolLimits};
use agent_telemetry::{Telemetry, wire};

use crate::support::{
    self, collector, home_env, number_after, run_cli, status_json, temp_dir, wasm,
};

/// Writes `batch` into the spool under a name like the spool's own, older than `now` by
/// `age_ns` so the planted files go first.
fn plant(home: &Path, tag: &str, batch: &wire::Batch, age_ns: u128) -> PathBuf {
    let dir = home.join(SPOOL_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - age_ns;
    let path = dir.join(format!("{nanos:024}-{tag}-{}e.batch", batch.events.len()));
    std::fs::write(&path, serde_json::to_vec(batch).unwrap()).unwrap();
    path
}

/// Batches an older build left in the spool (versions 1 and 2: the envelope in every event)
/// are sent in this build's version, the envelope once; one whose events differ in their
/// envelope goes as it was written. The collector stores every event whole either way.
#[tokio::test]
async fn an_older_builds_spooled_batches_are_sent_in_this_builds_version() {
    let collector = collector().await;
    let home = support::identity_dir("older-spool");
    let older = |version: u32, n: usize| {
        let mut b = support::batch(n);
        b.schema_version = version;
        for e in &mut b.events {
            e.schema_version = version;
        }
        b
    };
    plant(&home, "aaaaaa", &older(1, 2), 3_000_000);
    plant(&home, "bbbbbb", &older(2, 3), 2_000_000);
    let mut mixed = older(2, 4);
    mixed.events[3].product_version = "1.0.1".to_string();
    plant(&home, "cccccc", &mixed, 1_000_000);

    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(5)).await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    let mut sent: Vec<(u64, bool, usize)> = telemetry
        .egress_log()
        .iter()
        .filter_map(|e| e.body.as_deref())
        .map(|body| {
            let b: serde_json::Value = serde_json::from_str(body).unwrap();
            let events = b["events"].as_array().unwrap();
            // Written once or in every event, never both.
            let in_events = events.iter().all(|e| e.get("installation_id").is_some());
            assert_ne!(b.get("envelope").is_some(), in_events, "{body}");
            (
                b["schema_version"].as_u64().unwrap(),
                b.get("envelope").is_some(),
                events.len(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(sent, [(2, false, 4), (3, true, 2), (3, true, 3)]);
    let stored = collector.store().events().unwrap();
    assert_eq!(stored.len(), 9);
    assert!(
        stored
            .iter()
            .all(|e| e.installation_id == support::INSTALLATION)
    );
    assert_eq!(stored.iter().filter(|e| e.schema_version == 3).count(), 5);
    assert_eq!(
        stored
            .iter()
            .filter(|e| e.product_version == "1.0.1")
            .count(),
        1
    );
    collector.stop().await;
}

fn tool_call(tool: &str) -> Event {
    Event::ToolCall(ToolCall {
        tool: tool.to_string(),
        session_id: None,
        agent: None,
        duration_ms: 10,
        outcome: Outcome::Success,
        error: None,
    })
}

// ---------------------------------------------------------------------------------------------
// 1. The spool and the identity directory are untrusted input.

#[tokio::test]
async fn a_planted_spool_file_is_sent_only_if_it_holds_what_the_component_would_send() {
    let collector = collector().await;
    let home = support::identity_dir("planted");
    // A prompt in a tool name, under this installation's id.
    let mut prompt = support::batch(2);
    prompt.events[0].data = wire::Data::ToolCall {
        tool: "please summarise /home/alice/tax-return.pdf".to_string(),
        session_id: None,
        agent: None,
        duration_ms: 10,
        outcome: wire::Outcome::Success,
        error: None,
    };
    let prompt_file = plant(&home, "aaaaaa", &prompt, 3_000_000);
    // Clean content, under another installation's id.
    let mut foreign = support::batch(2);
    for e in &mut foreign.events {
        e.installation_id = "install_ffffffffffffffff".to_string();
    }
    let foreign_file = plant(&home, "bbbbbb", &foreign, 2_000_000);
    // And one this installation could have written: it is delivered.
    plant(&home, "cccccc", &support::batch(3), 1_000_000);

    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(5)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;

    let stored = collector.store().events().unwrap();
    assert_eq!(stored.len(), 3, "only the clean batch arrived");
    assert!(
        stored
            .iter()
            .all(|e| e.installation_id == support::INSTALLATION)
    );
    let wire_text: String = telemetry
        .egress_log()
        .iter()
        .filter_map(|e| e.body.clone())
        .collect();
    assert!(!wire_text.contains("alice") && !wire_text.contains("ffffffffffffffff"));
    assert_eq!(status.refused_spool_files, 2);
    for planted in [prompt_file, foreign_file] {
        assert!(
            planted.with_extension("refused").exists(),
            "{}",
            planted.display()
        );
    }
    // A later `telemetry status` says so too.
    let shown = status_json(&[home_env(&home)]).await;
    assert_eq!(shown["set_aside_files"], 2, "{shown}");
    collector.stop().await;
}

#[tokio::test]
async fn run_refuses_a_dir_over_the_identity_directory_or_the_code_cache() {
    let home = support::identity_dir("dir-guard");
    let cache = temp_dir("dir-guard-cache");
    std::fs::create_dir_all(home.join(SPOOL_DIR)).unwrap();
    std::fs::create_dir_all(&cache).unwrap();
    let hello = wasm("fixture-hello");
    let parent = home.parent().unwrap().to_path_buf();
    for given in [home.clone(), home.join(SPOOL_DIR), parent, cache.clone()] {
        let dir = format!("{}::/data", given.display());
        let (code, _, stderr, _) = run_cli(
            &["run", "--dir", &dir, hello.to_str().unwrap()],
            &[
                home_env(&home),
                ("AGENT_TELEMETRY_CACHE_DIR", cache.to_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(code, 2, "{}: {stderr}", given.display());
        assert!(stderr.contains("cannot be given to the agent"), "{stderr}");
    }
    // Any other directory is fine.
    let other = temp_dir("dir-guard-other");
    std::fs::create_dir_all(&other).unwrap();
    let dir = format!("{}::/data", other.display());
    let (code, stdout, stderr, _) = run_cli(
        &["run", "--dir", &dir, hello.to_str().unwrap()],
        &[
            home_env(&home),
            ("AGENT_TELEMETRY_CACHE_DIR", cache.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hello"), "{stdout}");
}

#[cfg(unix)]
#[tokio::test]
async fn an_identity_directory_others_can_write_turns_telemetry_off_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let collector = collector().await;
    let home = temp_dir("open-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let hello = wasm("fixture-hello");
    let endpoint = collector.endpoint();
    let (code, _, stderr, _) = run_cli(
        &["run", "--endpoint", &endpoint, hello.to_str().unwrap()],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cannot be trusted"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "nothing is written into it"
    );
    let status = status_json(&[home_env(&home)]).await;
    assert_eq!(status["enabled"], false);
    assert!(
        status["decided_by"]
            .as_str()
            .unwrap()
            .contains("cannot be trusted")
    );
    collector.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_identity_file_that_is_a_link_is_not_followed() {
    let collector = collector().await;
    let home = temp_dir("links");
    std::fs::create_dir_all(&home).unwrap();
    let elsewhere = temp_dir("links-elsewhere");
    std::fs::write(&elsewhere, support::INSTALLATION).unwrap();
    std::os::unix::fs::symlink(&elsewhere, home.join("installation-id")).unwrap();
    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.record(tool_call("read_file"));
    telemetry.shutdown(Duration::from_secs(5)).await;
    let stored = support::events(&collector, 1, Duration::from_secs(2)).await;
    assert!(
        stored[0].installation_id.starts_with("ephemeral_"),
        "the linked id was not followed: {}",
        stored[0].installation_id
    );
    collector.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_spool_file_that_is_a_fifo_is_set_aside_not_waited_on() {
    let collector = collector().await;
    let home = support::identity_dir("fifo");
    let spool = home.join(SPOOL_DIR);
    std::fs::create_dir_all(&spool).unwrap();
    let fifo = spool.join("000000000000000000000001-dddddd-5e.batch");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.record(tool_call("read_file"));
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        telemetry.flush(Duration::from_secs(5)),
    )
    .await
    .expect("a FIFO in the spool must not hold the flush");
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.sent, 1);
    assert_eq!(status.bad_spool_files, 1, "the FIFO is set aside");
    assert!(fifo.with_extension("bad").exists());
    collector.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_spool_file_that_is_a_link_is_set_aside_and_its_target_not_read() {
    let collector = collector().await;
    let home = support::identity_dir("spool-file-link");
    let elsewhere = temp_dir("spool-file-link-target");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let target = elsewhere.join("batch.json");
    std::fs::write(&target, serde_json::to_vec(&support::batch(3)).unwrap()).unwrap();
    let spool = home.join(SPOOL_DIR);
    std::fs::create_dir_all(&spool).unwrap();
    let link = spool.join("000000000000000000000001-abcdef-3e.batch");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(3)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        collector.store().counts().unwrap().events,
        0,
        "nothing read through the link"
    );
    assert_eq!(status.bad_spool_files, 1, "the link is set aside");
    assert!(target.exists(), "the link's target is left alone");
    collector.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_spool_directory_that_is_a_link_is_not_read() {
    let collector = collector().await;
    let home = support::identity_dir("spool-link");
    let elsewhere = temp_dir("spool-link-target");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, home.join(SPOOL_DIR)).unwrap();
    let planted = elsewhere.join("000000000000000000000001-ffffff-3e.batch");
    std::fs::write(&planted, serde_json::to_vec(&support::batch(3)).unwrap()).unwrap();
    let telemetry = Telemetry::start(support::settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(3)).await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        collector.store().counts().unwrap().events,
        0,
        "nothing read through the link"
    );
    assert!(planted.exists());
    collector.stop().await;
}

#[tokio::test]
async fn a_spool_file_over_the_batch_bound_is_set_aside_unread() {
    let collector = collector().await;
    let home = support::identity_dir("oversized");
    let big = plant(&home, "eeeeee", &support::batch(1), 1_000_000);
    let mut padded = std::fs::read(&big).unwrap();
    padded.resize(256 << 10, b' ');
    std::fs::write(&big, padded).unwrap();
    let mut settings = support::settings(&collector.endpoint(), &home);
    settings.spool_limits.max_file_bytes = 128 << 10;
    let telemetry = Telemetry::start(settings).await.unwrap();
    telemetry.flush(Duration::from_secs(5)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(status.bad_spool_files, 1);
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    assert!(big.with_extension("bad").exists());
    collector.stop().await;
}

#[tokio::test]
async fn an_empty_or_relative_agent_telemetry_home_counts_as_unset() {
    let user_home = temp_dir("user-home");
    std::fs::create_dir_all(&user_home).unwrap();
    for value in ["", "relative/dir"] {
        let (code, stdout, stderr, _) = run_cli(
            &["telemetry", "status", "--json"],
            &[
                ("AGENT_TELEMETRY_HOME", value),
                ("HOME", user_home.to_str().unwrap()),
                ("XDG_CONFIG_HOME", ""),
            ],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            status["identity_dir"].as_str().unwrap(),
            user_home.join(".config/agent-telemetry").to_str().unwrap(),
            "{value:?}"
        );
    }
}

#[test]
fn the_debug_log_without_an_identity_directory_is_in_a_private_place() {
    let settings = agent_telemetry::TelemetrySettings::new("t", "1");
    let path = settings.debug_log_path().unwrap();
    assert!(
        !path.starts_with(std::env::temp_dir()),
        "not a fixed temporary path: {}",
        path.display()
    );
    assert!(path.starts_with(dirs_cache_dir()), "{}", path.display());
}

fn dirs_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
}

/// Two planted names that claim 10^26 events each, old enough to be evicted by the next
/// write: every count taken from them stops at `u64::MAX` (in this debug build an overflow
/// would panic). The worker's and the status's sums saturate the same way
/// (`host/src/counter.rs`).
#[test]
fn counts_from_spool_file_names_saturate() {
    let dir = temp_dir("saturate");
    std::fs::create_dir_all(&dir).unwrap();
    for tag in ["aaaaaa", "bbbbbb"] {
        let name = format!("000000000000000000000001-{tag}-99999999999999999999999999e.batch");
        std::fs::write(dir.join(name), b"{}").unwrap();
    }
    let spool = Spool::new(dir, SpoolLimits::default());
    assert_eq!(spool.pending_events(), u64::MAX);
    let body = serde_json::to_vec(&support::batch(1)).unwrap();
    let evicted = agent_telemetry::testing::write_to_spool(&spool, &body, 1).unwrap();
    assert_eq!(
        evicted,
        u64::MAX,
        "both planted files evicted, their count saturated"
    );
    assert_eq!(
        spool.pending_events(),
        1,
        "only the batch just written waits"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Untrusted agents get bounded resources.

/// The peak resident memory `run -v` reports, in KiB.
fn peak_memory_kib(stderr: &str) -> u64 {
    number_after(stderr, "peak_memory_kib=")
}

/// What the host may hold however an agent floods it: its 64 MiB hand-off, the component's
/// 64 MiB, one call's 16 MiB, the agent's own memory, and the runtime.
const HOST_MEMORY_BOUND_KIB: u64 = 512 << 10;

/// `run -v` of the flood agent in `mode`, sending to `endpoint`.
async fn run_flood(endpoint: &str, mode: &str) -> (i32, String, String) {
    let flood = wasm("fixture-flood");
    let args = [
        "-v",
        "run",
        "--endpoint",
        endpoint,
        flood.to_str().unwrap(),
        mode,
    ];
    let (code, stdout, stderr, _) = run_cli(&args, &[("AGENT_TELEMETRY_NO_NOTICE", "1")]).await;
    (code, stdout, stderr)
}

#[tokio::test]
async fn an_agent_handing_over_aliased_gigabytes_is_refused_and_the_host_stays_small() {
    let collector = collector().await;
    let (code, stdout, stderr) = run_flood(&collector.endpoint(), "alias").await;
    assert_ne!(code, 0, "{stdout}");
    assert!(!stdout.contains("the host took"), "{stdout}");
    assert!(stderr.contains("handed over more than"), "{stderr}");
    let peak = peak_memory_kib(&stderr);
    println!("aliased flood: host peak {} MiB", peak >> 10);
    assert!(peak < HOST_MEMORY_BOUND_KIB, "host peak {peak} KiB");
    collector.stop().await;
}

#[tokio::test]
async fn an_agent_recording_millions_of_events_has_the_excess_dropped_and_counted() {
    let collector = collector().await;
    let (code, stdout, stderr) = run_flood(&collector.endpoint(), "many").await;
    assert_eq!(code, 0, "{stderr}");
    let field = |name: &str| number_after(&stdout, &format!("{name} "));
    let (recorded, in_component, dropped) = (
        field("recorded"),
        field("status-recorded"),
        field("status-dropped"),
    );
    assert_eq!(recorded, 4_000_000);
    assert!(dropped > 0, "{stdout}");
    assert!(
        in_component + dropped >= recorded / 2,
        "every event is taken or counted: {stdout}"
    );
    let peak = peak_memory_kib(&stderr);
    println!("four million events: host peak {} MiB", peak >> 10);
    assert!(peak < HOST_MEMORY_BOUND_KIB, "host peak {peak} KiB");
    collector.stop().await;
}

#[tokio::test]
async fn an_agent_over_its_memory_or_time_is_stopped_with_a_clear_message() {
    let flood = wasm("fixture-flood");
    let (code, _, stderr, _) = run_cli(
        &[
            "run",
            "--max-memory",
            "32MiB",
            flood.to_str().unwrap(),
            "grow",
        ],
        &[],
    )
    .await;
    assert_ne!(code, 0);
    assert!(stderr.contains("memory limit"), "{stderr}");

    let (code, _, stderr, elapsed) = run_cli(
        &["run", "--timeout", "1s", flood.to_str().unwrap(), "spin"],
        &[],
    )
    .await;
    assert_eq!(code, agent_telemetry::agent::TIMEOUT_EXIT_CODE, "{stderr}");
    assert!(stderr.contains("--timeout of 1s"), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

/// The store limits are the agent's: with too few instances, tables or memories for it, the
/// same agent that runs under the defaults is refused at instantiation, with a clear error.
#[tokio::test]
async fn an_agent_over_its_instance_table_or_memory_count_is_refused() {
    use agent_telemetry::agent::{AgentLimits, AgentOptions, run_agent};
    let runtime = agent_telemetry::TelemetryRuntime::shared().unwrap();
    let telemetry = Telemetry::disabled(agent_telemetry::Consent::explicit(false, "test"));
    let hello = std::fs::read(wasm("fixture-hello")).unwrap();
    let run = |limits: AgentLimits| {
        let options = AgentOptions {
            limits,
            capture_output: true,
            ..AgentOptions::default()
        };
        let (telemetry, hello, engine) =
            (telemetry.clone(), hello.clone(), runtime.engine().clone());
        async move { run_agent(&engine, &telemetry, &hello, &options).await }
    };
    let exit = run(AgentLimits::default()).await.unwrap();
    assert_eq!(exit.code, 0);
    for (what, limits) in [
        (
            "instances",
            AgentLimits {
                instances: 1,
                ..AgentLimits::default()
            },
        ),
        (
            "tables",
            AgentLimits {
                tables: 0,
                ..AgentLimits::default()
            },
        ),
        (
            "memories",
            AgentLimits {
                memories: 0,
                ..AgentLimits::default()
            },
        ),
    ] {
        let error = run(limits).await.expect_err(what);
        let text = format!("{error:#}");
        assert!(text.contains("could not be instantiated"), "{what}: {text}");
    }
}

#[tokio::test]
async fn what_an_agent_sees_of_status_names_no_path_or_user() {
    let home = temp_dir("status-reason-alice");
    agent_telemetry::consent::write_choice(&home, false).unwrap();
    let flood = wasm("fixture-flood");
    let (code, stdout, stderr, _) = run_cli(
        &["run", flood.to_str().unwrap(), "status"],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("status off"), "{stdout}");
    assert!(
        !stdout.contains("alice") && !stdout.contains('/'),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Consent fails closed.

#[tokio::test]
async fn an_opt_out_or_a_choice_that_cannot_be_read_means_off_and_run_says_so() {
    let collector = collector().await;
    let endpoint = collector.endpoint();
    let hello = wasm("fixture-hello");
    // What the case is, the environment it sets, and the choice file it writes.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a [u8]>);
    let cases: [Case; 4] = [
        ("DO_NOT_TRACK=2", &[("DO_NOT_TRACK", "2")], None),
        (
            "TELEMETRY_ENABLED=disabled",
            &[("TELEMETRY_ENABLED", "disabled")],
            None,
        ),
        ("a byte-order mark", &[], Some("\u{feff}on".as_bytes())),
        ("UTF-16", &[], Some(b"o\0n\0")),
    ];
    for (what, env, choice) in cases {
        let home = temp_dir("fail-closed");
        if let Some(choice) = choice {
            std::fs::create_dir_all(&home).unwrap();
            std::fs::write(home.join("consent"), choice).unwrap();
        }
        let mut env = env.to_vec();
        env.push(home_env(&home));
        let (code, _, stderr, _) = run_cli(
            &["run", "--endpoint", &endpoint, hello.to_str().unwrap()],
            &env,
        )
        .await;
        assert_eq!(code, 0, "{what}: {stderr}");
        assert!(
            stderr.contains("so telemetry is off"),
            "{what}: run says so: {stderr}"
        );
        let status = status_json(&env).await;
        assert_eq!(status["enabled"], false, "{what}");
        assert!(!home.join("installation-id").exists(), "{what}: no id made");
    }
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    collector.stop().await;
}

#[tokio::test]
async fn telemetry_off_holds_for_a_program_without_an_identity_directory() {
    let collector = collector().await;
    let user = temp_dir("user-choice");
    agent_telemetry::consent::write_choice(&user, false).unwrap();
    let mut settings = agent_telemetry::TelemetrySettings::new("tool", "1.0")
        .endpoint(collector.endpoint())
        .consent(agent_telemetry::Consent::explicit(true, "test"));
    settings.user_choice_dir = Some(user.clone());
    let telemetry = Telemetry::start(settings).await.unwrap();
    assert!(!telemetry.is_enabled());
    telemetry.record(tool_call("read_file"));
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    collector.stop().await;
}

#[tokio::test]
async fn telemetry_off_discards_what_waits_in_the_spool() {
    let home = support::identity_dir("off-discards");
    plant(&home, "aaaaaa", &support::batch(2), 2);
    plant(&home, "bbbbbb", &support::batch(3), 1);
    let (code, stdout, stderr, _) = run_cli(&["telemetry", "off"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("discarded 5 event(s)"), "{stdout}");
    let left = Spool::new(home.join(SPOOL_DIR), SpoolLimits::default()).pending_events();
    assert_eq!(left, 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Outgoing requests are exactly the endpoint.

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_cut_off_by_the_host() {
    // Accepts connections and never speaks TLS.
    let silent = support::CountingListener::start().await;
    let endpoint = format!("https://{}/v1/batch", silent.addr);
    let mut settings = agent_telemetry::TelemetrySettings::new("tool", "1.0")
        .endpoint(&endpoint)
        .consent(agent_telemetry::Consent::explicit(true, "test"));
    settings.user_choice_dir = None;
    settings.show_notice = false;
    settings.request_timeout = Duration::from_millis(300);
    // The component itself would wait a minute for each request.
    settings.component_config = vec![("timeout-ms".into(), "60000".into())];
    let telemetry = Telemetry::start(settings).await.unwrap();
    telemetry.record(tool_call("read_file"));
    telemetry.flush(Duration::from_secs(5)).await;
    telemetry.shutdown(Duration::ZERO).await;
    let attempts = telemetry.egress_log();
    assert!(
        attempts.len() >= 2,
        "the host cut each attempt short, so there was time to retry: {attempts:?}"
    );
    assert!(
        attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out") || e.contains("timeout")),
        "{:?}",
        attempts[0]
    );
}

#[tokio::test]
async fn a_plain_http_endpoint_off_this_machine_is_refused() {
    let settings = agent_telemetry::TelemetrySettings::new("tool", "1.0")
        .endpoint("http://collector.example.com/v1/batch")
        .consent(agent_telemetry::Consent::explicit(true, "test"));
    let started = Telemetry::start(settings).await;
    let error = started.err().expect("refused");
    assert!(format!("{error:#}").contains("loopback"), "{error:#}");
}

// ---------------------------------------------------------------------------------------------
// 5. Counts that tell the truth.

/// What every count shown says, against what the collector acknowledged: the flush reports a
/// caller gets (summed), the status, and `agent-telemetry flush` afterwards.
#[tokio::test]
async fn every_count_shown_matches_what_the_collector_acknowledged() {
    use crate::support::faulty::{Fault, FaultyCollector};
    for case in ["healthy", "dead", "recovering"] {
        let collector = FaultyCollector::start().await;
        let home = temp_dir(&format!("counts-{case}"));
        if case != "healthy" {
            collector.go_down().await;
        }
        let mut settings = support::settings(&collector.url(), &home);
        settings.show_notice = false;
        settings.batch_max_events = 10;
        let telemetry = Telemetry::start(settings).await.unwrap();
        // Thirty events: full batches make the worker deliver on its own, in the background.
        let mut reported = 0u64;
        for _ in 0..3 {
            telemetry.record_many((0..10).map(|_| tool_call("read_file")).collect());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if case == "recovering" {
            collector.come_back().await;
        }
        reported += u64::from(telemetry.flush(Duration::from_secs(5)).await.sent);
        let status = telemetry.status().await;
        reported += u64::from(telemetry.shutdown(Duration::from_secs(2)).await.sent);
        let acknowledged = collector.store().counts().unwrap().events;
        assert_eq!(reported, acknowledged, "{case}: flush reports");
        assert_eq!(
            status.component.map_or(0, |c| c.sent),
            acknowledged,
            "{case}: the component's status"
        );
        assert_eq!(
            status.delivered_from_spool, acknowledged,
            "{case}: the spool's count"
        );
        // What is left, `agent-telemetry flush` delivers, and says so truly.
        collector.come_back().await;
        let (code, stdout, stderr, _) = run_cli(
            &["flush", "--endpoint", &collector.url()],
            &[home_env(&home)],
        )
        .await;
        let later = collector.store().counts().unwrap().events - acknowledged;
        assert_eq!(code, 0, "{case}: {stderr}");
        assert!(
            stdout.contains(&format!("delivered {later} events")),
            "{case}: {stdout} (the collector took {later})"
        );
        collector.set(Fault::None);
        collector.stop().await;
    }
    // An agent's own `flush()` and `run`'s summary, with the spool in between: together they
    // report what the collector took.
    let collector = collector().await;
    let home = temp_dir("counts-run");
    let every = wasm("fixture-every-event");
    let args = [
        "-v",
        "run",
        "--endpoint",
        &collector.endpoint(),
        every.to_str().unwrap(),
    ];
    let env = [home_env(&home), ("AGENT_TELEMETRY_NO_NOTICE", "1")];
    let (code, stdout, stderr, _) = run_cli(&args, &env).await;
    assert_eq!(code, 0, "{stderr}");
    let by_agent = number_after(&stdout, "flush sent ");
    let by_run = number_after(&stderr, "telemetry flushed sent=");
    let acknowledged = collector.store().counts().unwrap().events;
    assert!(acknowledged > 0);
    assert_eq!(by_agent + by_run, acknowledged, "{stdout}\n{stderr}");
    collector.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. The collector is a real server.

/// Sends raw bytes and returns what came back (until the server closed or `within`).
async fn raw(addr: std::net::SocketAddr, request: &[u8], within: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn post_head(addr: std::net::SocketAddr, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(body);
    head
}

#[tokio::test]
async fn the_collector_refuses_web_pages_other_types_and_never_echoes_its_input() {
    let collector = collector().await;
    let addr = collector.addr();
    let ok = serde_json::to_vec(&support::batch(1)).unwrap();
    let json = "Content-Type: application/json\r\n";
    let answer = raw(
        addr,
        &post_head(
            addr,
            &format!("{json}Origin: https://evil.example\r\n"),
            &ok,
        ),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let answer = raw(
        addr,
        &post_head(addr, "Content-Type: text/plain\r\n", &ok),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    let mut leaky = serde_json::to_value(support::batch(1)).unwrap();
    leaky["events"][0]["data"]["secret"] = "sk-live-0123456789abcdef".into();
    leaky["envelope"]["installation_id"] = serde_json::json!(["sk-live-0123456789abcdef"]);
    let answer = raw(
        addr,
        &post_head(addr, json, &serde_json::to_vec(&leaky).unwrap()),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        !answer.contains("sk-live") && !answer.contains("secret"),
        "{answer}"
    );
    let mut huge = serde_json::to_value(support::batch(1)).unwrap();
    huge["dropped_events"] = u64::MAX.into();
    let answer = raw(
        addr,
        &post_head(addr, json, &serde_json::to_vec(&huge).unwrap()),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "no wrap-around: {answer}"
    );
    assert_eq!(collector.store().counts().unwrap().batches, 0);
    let answer = raw(addr, &post_head(addr, json, &ok), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    collector.stop().await;
}

#[tokio::test]
async fn the_collector_times_out_slow_heads_and_limits_connections() {
    use agent_telemetry_collector::{Collector, CollectorOptions, EventStore};
    let options = CollectorOptions {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        max_connections: 4,
        ..CollectorOptions::default()
    };
    let collector = Collector::start_with(
        "127.0.0.1:0".parse().unwrap(),
        EventStore::open(None).unwrap(),
        options,
    )
    .await
    .unwrap();
    let addr = collector.addr();
    // A head that never ends: the server closes the connection.
    let started = std::time::Instant::now();
    let answer = raw(
        addr,
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed by the server, not by the test"
    );
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A body that never comes.
    let answer = raw(
        addr,
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Idle connections beyond the limit are closed at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw(
        addr,
        &post_head(addr, "Content-Type: application/json\r\n", b"{}"),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        answer.is_empty(),
        "the fifth connection is not served: {answer}"
    );
    assert!(collector.refused_connections() >= 1);
    drop(held);
    collector.stop().await;
}

#[tokio::test]
async fn no_command_panics_on_a_closed_pipe_or_an_odd_ledger() {
    let home = support::identity_dir("odd-ledger");
    std::fs::write(
        home.join("egress.jsonl"),
        "{\"at\":\"t\",\"endpoint\":\"e\",\"status\":200,\"bytes\":1,\"sha256\":\"é€é€é€é€é€é€é€é€é€\",\"events\":1}\n",
    )
    .unwrap();
    let (code, _, stderr, _) = run_cli(&["log"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // `telemetry status --json | head -1`: the reader goes away early.
    let cli = support::cli();
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' telemetry status --json | head -1",
            cli.display()
        ))
        .env("AGENT_TELEMETRY_HOME", &home)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{");
}
