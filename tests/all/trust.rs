//! Trust, round three (issue 20), the cases outside the collector: each was reproduced by
//! running the built CLI on the main branch before the fix, and each test here fails there.
//!
//! - 1: planted compiled code;
//! - 2: the identity and the cache reachable under another environment, and
//!   `AgentOptions::default()`;
//! - 6: switches that failed open;
//! - 7: duplicate JSON keys in a spooled batch;
//! - 8: `--max-memory` per memory instead of in all;
//! - 9: flushes an agent could time, a ledger with nothing to audit for gzip or protobuf, and
//!   agents that import what the component imports (the endpoint on a child's command line: a
//!   unit test of `host/cli/src/run.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::SPOOL_DIR;
use agent_telemetry::agent::{AgentOptions, run_agent};
use agent_telemetry::shared_engine;
use agent_telemetry::{Telemetry, wire};

use crate::support::capture::CaptureServer;
use crate::support::{self, CountingListener, home_env, run_cli, status_json, temp_dir, wasm};

// ---------------------------------------------------------------------------------------------
// 1. Planted compiled code.

/// The code cache's entries, oldest first.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(cache)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// As it was done: one run with the cache off and `--dir` over it let an agent copy its own
/// compiled entry over another program's, and the next ordinary run of that program ran the
/// agent's code. Now the `--dir` is refused whatever the cache switch says, and an entry
/// copied there anyway (by anything that can write the directory) is not loaded.
#[tokio::test]
async fn planted_compiled_code_is_never_loaded() {
    let cache = temp_dir("planted-code");
    let cache_env = ("AGENT_TELEMETRY_CACHE_DIR", cache.to_str().unwrap());
    let (hello, every) = (wasm("fixture-hello"), wasm("fixture-every-event"));

    let dir = format!("{}::/cache", cache.display());
    std::fs::create_dir_all(&cache).unwrap();
    let (code, _, stderr, _) = run_cli(
        &["run", "--dir", &dir, hello.to_str().unwrap()],
        &[cache_env, ("AGENT_TELEMETRY_CACHE", "off")],
    )
    .await;
    assert_eq!(
        code, 2,
        "the cache is refused to agents with the cache off: {stderr}"
    );
    assert!(stderr.contains("cannot be given to the agent"), "{stderr}");

    // Each program compiled once, into its own entry (telemetry is off: no endpoint).
    let (code, stdout, stderr, _) = run_cli(&["run", every.to_str().unwrap()], &[cache_env]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("every-event: recorded"), "{stdout}");
    let victim = entries(&cache).pop().expect("an entry for every-event");
    let (code, _, stderr, _) = run_cli(&["run", hello.to_str().unwrap()], &[cache_env]).await;
    assert_eq!(code, 0, "{stderr}");
    let planted = entries(&cache)
        .into_iter()
        .find(|p| *p != victim)
        .expect("an entry for hello");

    // hello's compiled code, planted under every-event's name.
    std::fs::copy(&planted, &victim).unwrap();
    let (code, stdout, stderr, _) = run_cli(&["run", every.to_str().unwrap()], &[cache_env]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("every-event: recorded") && !stdout.contains("hello"),
        "the planted code ran instead of the program's own: {stdout}"
    );
    assert_ne!(
        std::fs::read(&victim).unwrap(),
        std::fs::read(&planted).unwrap(),
        "the planted entry was replaced"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Every place this user's telemetry keeps state is refused to agents, always.

/// As it was done: with `AGENT_TELEMETRY_HOME` set elsewhere for one run, the default identity
/// directory was accepted for `--dir`, and the agent could read the real `hash-key`. The same
/// for the code cache and its key with the cache off, and for a configured cache directory.
#[tokio::test]
async fn no_environment_opens_this_users_identity_or_cache_to_an_agent() {
    let user = temp_dir("state-dirs-user");
    let (config, cache, data) = (
        user.join(".config"),
        user.join(".cache"),
        user.join(".local/share"),
    );
    let identity = config.join("agent-telemetry");
    std::fs::create_dir_all(&identity).unwrap();
    std::fs::write(identity.join("hash-key"), "00".repeat(32)).unwrap();
    let configured_cache = temp_dir("state-dirs-cache");
    std::fs::create_dir_all(&configured_cache).unwrap();
    let elsewhere = temp_dir("state-dirs-elsewhere");
    let env = [
        ("HOME", user.to_str().unwrap()),
        ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ("XDG_CACHE_HOME", cache.to_str().unwrap()),
        ("XDG_DATA_HOME", data.to_str().unwrap()),
        // This run's own home is elsewhere, and its cache is off.
        home_env(&elsewhere),
        ("AGENT_TELEMETRY_CACHE", "off"),
        (
            "AGENT_TELEMETRY_CACHE_DIR",
            configured_cache.to_str().unwrap(),
        ),
    ];
    let hello = wasm("fixture-hello");
    for given in [
        identity.clone(),
        cache.join("agent-telemetry/code"),
        data.join("agent-telemetry"),
        configured_cache.clone(),
        config.clone(),
    ] {
        std::fs::create_dir_all(&given).unwrap();
        let dir = format!("{}::/data", given.display());
        let (code, _, stderr, _) =
            run_cli(&["run", "--dir", &dir, hello.to_str().unwrap()], &env).await;
        assert_eq!(code, 2, "{} was given: {stderr}", given.display());
        assert!(stderr.contains("cannot be given to the agent"), "{stderr}");
    }
    let other = user.join("work");
    std::fs::create_dir_all(&other).unwrap();
    let dir = format!("{}::/data", other.display());
    let (code, stdout, stderr, _) =
        run_cli(&["run", "--dir", &dir, hello.to_str().unwrap()], &env).await;
    assert_eq!((code, stdout.contains("hello")), (0, true), "{stderr}");
}

/// A program embedding `run_agent` with `AgentOptions::default()` gave an agent any directory,
/// its own telemetry's identity directory included.
#[tokio::test]
async fn default_agent_options_protect_the_recorders_identity() {
    let home = support::identity_dir("default-options");
    let listener = CountingListener::start().await;
    let telemetry = Telemetry::start(support::settings(&listener.url(), &home))
        .await
        .unwrap();
    let engine = shared_engine().unwrap();
    let hello = std::fs::read(wasm("fixture-hello")).unwrap();
    for given in [home.clone(), home.join(SPOOL_DIR)] {
        std::fs::create_dir_all(&given).unwrap();
        let options = AgentOptions {
            dirs: vec![(given.clone(), "/id".to_string())],
            capture_output: true,
            ..AgentOptions::default()
        };
        let outcome = run_agent(&engine, &telemetry, &hello, &options).await;
        let error = format!("{:#}", outcome.expect_err("the identity was given"));
        assert!(error.contains("cannot be given to the agent"), "{error}");
    }
    telemetry.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Switches fail closed.

/// As it was done: `AGENT_TELEMETRY_DEBUG=y` (or `2`) sent for real, and `CI=1
/// AGENT_TELEMETRY_OFF_IN_CI=2` left telemetry on, with no warning either way.
#[tokio::test]
async fn a_misspelt_switch_falls_on_its_safe_side_and_says_so() {
    let listener = CountingListener::start().await;
    let every = wasm("fixture-every-event");
    for value in ["y", "2", "enabled", ""] {
        let home = temp_dir("switch-debug");
        let env = [home_env(&home), ("AGENT_TELEMETRY_DEBUG", value)];
        let (code, _, stderr, _) = run_cli(
            &[
                "run",
                "--endpoint",
                &listener.url(),
                every.to_str().unwrap(),
            ],
            &env,
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("AGENT_TELEMETRY_DEBUG"),
            "{value:?}: no warning: {stderr}"
        );
        let status = status_json(&env).await;
        assert_eq!(status["debug"], true, "{value:?}: {status}");
        assert!(
            status["warnings"]
                .to_string()
                .contains("AGENT_TELEMETRY_DEBUG"),
            "{status}"
        );
    }
    assert_eq!(listener.connections(), 0, "debug mode sends nothing");

    for value in ["2", "maybe"] {
        let home = temp_dir("switch-ci");
        let env = [
            home_env(&home),
            ("CI", "1"),
            ("AGENT_TELEMETRY_OFF_IN_CI", value),
            ("AGENT_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch"),
        ];
        let status = status_json(&env).await;
        assert_eq!(status["enabled"], false, "{value}: {status}");
        assert!(
            status["warnings"]
                .to_string()
                .contains("AGENT_TELEMETRY_OFF_IN_CI"),
            "{status}"
        );
    }
    // The documented spellings still mean what they say, with no warning.
    let home = temp_dir("switch-ok");
    let env = [
        home_env(&home),
        ("AGENT_TELEMETRY_DEBUG", "No"),
        ("AGENT_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch"),
    ];
    let status = status_json(&env).await;
    assert_eq!(
        (&status["debug"], &status["enabled"], &status["warnings"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(true),
            &serde_json::json!([])
        ),
        "{status}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. The spool sends what it checked.

/// As it was done: `"tags":{"note":"<free text>","note":"ok"}` passed the spool's check (serde
/// kept the last value) while the native format sent the file's own bytes, so the first
/// value reached the collector.
#[tokio::test]
async fn a_key_twice_in_a_spooled_batch_never_smuggles_its_first_value_out() {
    let server = CaptureServer::start().await;
    let home = support::identity_dir("duplicate-keys");
    let dir = home.join(SPOOL_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    let clean = serde_json::to_string(&support::batch(1)).unwrap();
    // The tags are the envelope's, written once per batch after `ci`.
    let smuggled = clean.replacen(
        "\"ci\":false",
        "\"ci\":false,\"tags\":{\"note\":\"my-secret-free-text\",\"note\":\"ok\"}",
        1,
    );
    assert_ne!(clean, smuggled);
    let batch: wire::Batch = serde_json::from_str(&smuggled).unwrap();
    assert_eq!(
        batch.events[0].tags["note"], "ok",
        "read leniently, it passes"
    );
    std::fs::write(dir.join(format!("{:024}-aaaaaa-1e.batch", 1)), &smuggled).unwrap();
    // And a clean one beside it, which is delivered.
    std::fs::write(dir.join(format!("{:024}-bbbbbb-1e.batch", 2)), &clean).unwrap();

    let telemetry = Telemetry::start(support::settings(&server.url("/v1/batch"), &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(5)).await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    let bodies: Vec<String> = server
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.decoded_body()).into_owned())
        .collect();
    assert_eq!(bodies.len(), 1, "only the clean batch: {bodies:?}");
    assert!(bodies.iter().all(|b| !b.contains("my-secret-free-text")));
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter()
            .any(|n| n.contains("aaaaaa") && !n.ends_with(".batch")),
        "the smuggling file is set aside: {left:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Agent limits in total.

/// A command component with eight linear memories, each grown by 8 MiB, and a table grown by
/// a million elements: about 72 MiB in all, each memory far under 64 MiB. It exits with 1
/// when any growth was refused.
const MANY_MEMORIES: &str = r#"
(component
  (core module $m
    (memory $a 1) (memory $b 1) (memory $c 1) (memory $d 1)
    (memory $e 1) (memory $f 1) (memory $g 1) (memory $h 1)
    (table $t 1 funcref)
    (func (export "run") (result i32)
      (local $refused i32)
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $a (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $b (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $c (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $d (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $e (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $f (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $g (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused) (i32.eq (memory.grow $h (i32.const 128)) (i32.const -1))))
      (local.set $refused (i32.or (local.get $refused)
        (i32.eq (table.grow $t (ref.null func) (i32.const 1048575)) (i32.const -1))))
      (local.get $refused))
  )
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.12" (instance $cli))
)
"#;

/// As it was done: `--max-memory` bounded each linear memory on its own, so eight memories
/// got eight times the limit, and tables were outside it.
#[tokio::test]
async fn max_memory_bounds_every_memory_and_table_together() {
    let dir = temp_dir("many-memories");
    std::fs::create_dir_all(&dir).unwrap();
    let agent = dir.join("many-memories.wasm");
    std::fs::write(&agent, wat::parse_str(MANY_MEMORIES).unwrap()).unwrap();
    let run = |limit: &'static str| {
        let agent = agent.clone();
        async move {
            run_cli(
                &["run", "--max-memory", limit, agent.to_str().unwrap()],
                &[],
            )
            .await
        }
    };
    let (code, _, stderr, _) = run("256M").await;
    assert_eq!(code, 0, "all of it fits in 256 MiB: {stderr}");
    let (code, _, stderr, _) = run("64M").await;
    assert_eq!(code, 1, "72 MiB in all is over 64 MiB: {stderr}");
    // The memories alone are 64.5 MiB: the table's 8 MiB is what tips them over 70.
    let (code, _, stderr, _) = run("70M").await;
    assert_eq!(code, 1, "the table counts too: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// 9. The smaller ones.

/// As it was done: every `recorder.flush` of an agent was a request (and a spool write and
/// fsync), so an agent decided when each request left, to the millisecond.
#[tokio::test]
async fn an_agents_flushes_are_coalesced() {
    let server = CaptureServer::start().await;
    let every = wasm("fixture-every-event");
    let run = |interval: &'static str| {
        let (url, every) = (server.url("/v1/batch"), every.clone());
        async move {
            run_cli(
                &[
                    "run",
                    "--endpoint",
                    &url,
                    "--min-flush-interval",
                    interval,
                    every.to_str().unwrap(),
                    "--flushes",
                    "40",
                ],
                &[("AGENT_TELEMETRY_NO_NOTICE", "1")],
            )
            .await
        }
    };
    let (code, stdout, stderr, _) = run("1h").await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("40 flushes, 1 let through"), "{stdout}");
    // The first flush, and the host's own after the agent exits: nothing in between.
    let requests = server.requests().len();
    assert!(requests <= 2, "{requests} requests for 40 flushes");
    // Configurable: with no interval every flush goes through, as before (a flush that
    // missed its deadline would merge its event into the next request: fewer than 40).
    let (code, stdout, stderr, _) = run("0s").await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("40 flushes, 40 let through"), "{stdout}");
    assert!(
        server.requests().len() > requests + 4,
        "{}",
        server.requests().len()
    );
}

/// As it was done: the ledger kept a body only when it was UTF-8, so with gzip or OTLP
/// protobuf `log --body` showed nothing to audit.
#[tokio::test]
async fn the_ledger_shows_what_left_in_every_format() {
    let server = CaptureServer::start().await;
    let every = wasm("fixture-every-event");
    for (format, extra) in [("native", "--gzip"), ("otlp", "--gzip"), ("otlp", "")] {
        let home = temp_dir("ledger-body");
        let url = server.url(if format == "otlp" {
            "/v1/logs"
        } else {
            "/v1/batch"
        });
        let mut args = vec![
            "run",
            "--endpoint",
            &url,
            "--format",
            format,
            every.to_str().unwrap(),
        ];
        if !extra.is_empty() {
            args.insert(1, extra);
        }
        let env = [home_env(&home), ("AGENT_TELEMETRY_NO_NOTICE", "1")];
        let (code, _, stderr, _) = run_cli(&args, &env).await;
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, stderr, _) = run_cli(&["log", "--body"], &env).await;
        assert_eq!(code, 0, "{stderr}");
        let case = format!("{format} {extra}");
        assert!(!stdout.contains("not kept"), "{case}: {stdout}");
        // Readable: the tool names this agent recorded are there as text.
        assert!(stdout.contains("read_file"), "{case}: {stdout}");
        if format == "otlp" {
            assert!(
                stdout.contains("resourceLogs"),
                "{case}: OTLP/JSON: {stdout}"
            );
        }
        let (_, json, _, _) = run_cli(&["log", "--json", "--body"], &env).await;
        assert!(json.contains("read_file"), "{case}: {json}");
    }
}

/// An agent that imports `wasi:config/store` itself, composed with the component and run by a
/// stock host with `-S config`, reads the keys the component gets: `audit` says so.
const CONFIG_READING_AGENT: &str = r#"
(component
  (import "wasi:config/store@0.2.0-rc.1" (instance
    (export "get-all" (func (result (list (tuple string string)))))))
  (import "agent:telemetry/recorder@0.2.0" (instance))
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.12" (instance $cli))
)
"#;

#[tokio::test]
async fn audit_flags_an_agent_that_imports_config_or_http() {
    let dir = temp_dir("audit-agent");
    std::fs::create_dir_all(&dir).unwrap();
    let config_agent = dir.join("config-agent.wasm");
    std::fs::write(&config_agent, wat::parse_str(CONFIG_READING_AGENT).unwrap()).unwrap();
    for (agent, flagged) in [
        (config_agent, "wasi:config/store@"),
        (wasm("fixture-http-import"), "wasi:http/outgoing-handler@"),
    ] {
        let (code, stdout, stderr, _) = run_cli(&["audit", agent.to_str().unwrap()], &[]).await;
        assert_eq!(code, 1, "{stdout}\n{stderr}");
        assert!(stdout.contains("role: agent"), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.contains(flagged))
            .unwrap_or_else(|| panic!("{flagged} not listed: {stdout}"));
        assert!(line.trim_start().starts_with("FLAGGED"), "{line}");
        assert!(
            line.contains("compose") || line.contains("network"),
            "{line}"
        );
    }
    // The bundled example agent imports neither: it passes.
    let (code, stdout, _, _) = run_cli(
        &["audit", wasm("fixture-every-event").to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("role: agent"), "{stdout}");
}
