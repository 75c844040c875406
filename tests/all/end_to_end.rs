//! End to end: the real component in the real host, against real HTTP servers on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use agent_telemetry::agent::{AgentOptions, run_agent};
use agent_telemetry::event::{ErrorKind, Task, TaskState};
use agent_telemetry::wire::{Data, Event};
use agent_telemetry::{Consent, Telemetry, TelemetryRuntime, Tokens};

/// What the every-event fixture records, by wire type.
const FIXTURE_KINDS: &[(&str, usize)] = &[
    ("agent_registered", 1),
    ("command", 1),
    ("compaction", 1),
    ("schedule", 1),
    ("server", 2),
    ("session_cost", 1),
    ("session_end", 1),
    ("session_failure", 1),
    ("session_start", 1),
    ("task", 6),
    ("task_session_completed", 1),
    ("token_usage", 1),
    ("tool_call", 2),
    ("workflow", 2),
];

fn kinds(events: &[Event]) -> BTreeMap<&'static str, usize> {
    let mut map = BTreeMap::new();
    for e in events {
        *map.entry(e.data.kind()).or_default() += 1;
    }
    map
}

fn fixture_total() -> usize {
    FIXTURE_KINDS.iter().map(|(_, n)| n).sum()
}

fn assert_is_uuid_v7(id: &str) {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(hex.len(), 32, "{id}");
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(&hex[12..13], "7", "not a version 7 UUID: {id}");
}

#[tokio::test]
async fn native_api_delivers_every_event_with_its_envelope() {
    let collector = collector().await;
    let home = temp_dir("native");
    let mut settings = settings(&collector.endpoint(), &home);
    settings.flag_allowlist = vec!["debug".to_string()];
    let telemetry = Telemetry::start(settings).await.unwrap();

    telemetry.server_started();
    telemetry.agent_registered("planner");
    telemetry.session_start("sess-1", Some("planner"), Some("task-1"));
    telemetry.track_command(
        "run",
        &["--debug", "--token=sk-abc123", "/home/alice/notes.txt"],
        Ok(()),
    );
    telemetry.record_tool_call(
        "read_file",
        Some("sess-1"),
        Some("planner"),
        Duration::from_millis(12),
        Ok(()),
    );
    telemetry.record_tool_call(
        "shell",
        Some("sess-1"),
        None,
        Duration::from_millis(5),
        Err(ErrorKind::PermissionDenied),
    );
    telemetry.record_token_usage(
        "gpt-4o",
        Some("sess-1"),
        None,
        Tokens {
            input: 100,
            output: 50,
            ..Tokens::default()
        },
        Some(0.01),
    );
    telemetry.task(Task {
        task_id: "task-1".into(),
        state: TaskState::Completed,
        previous_state: Some(TaskState::Started),
        agent: Some("planner".into()),
        source: Some("api".into()),
        tags: vec!["nightly".into()],
        has_parent: true,
        priority: Some(3),
        duration_ms: Some(1500),
    });
    telemetry.session_end("sess-1", Some("planner"), Some("task-1"), Ok(()));
    telemetry.server_shutdown();
    let report = telemetry.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (report.sent, report.failed, report.dropped, report.pending),
        (10, 0, 0, 0)
    );

    let events = events(&collector, 10, Duration::from_secs(2)).await;
    assert_eq!(events.len(), 10);
    let installation_id = std::fs::read_to_string(home.join("installation-id")).unwrap();
    for e in &events {
        assert_is_uuid_v7(&e.event_id);
        assert!(
            e.occurred_at.ends_with('Z') && e.occurred_at.len() == 24,
            "{}",
            e.occurred_at
        );
        assert_eq!(e.schema_version, agent_telemetry::wire::SCHEMA_VERSION);
        assert_eq!(e.source, "test-suite");
        assert_eq!(e.environment, "development");
        assert_eq!(e.installation_id, installation_id.trim());
        assert_eq!(
            (e.product.as_str(), e.product_version.as_str()),
            ("test-product", "1.2.3")
        );
        assert_eq!(
            (e.os.as_str(), e.arch.as_str()),
            (std::env::consts::OS, std::env::consts::ARCH)
        );
        assert!(!e.ci);
    }
    let mut ids: Vec<_> = events.iter().map(|e| &e.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "event ids must be unique");
    assert_eq!(collector.store().counts().unwrap().duplicates, 0);

    let raw = serde_json::to_string(&events).unwrap();
    for secret in [
        "sess-1",
        "task-1",
        "sk-abc123",
        "--token",
        "/home/alice",
        "notes.txt",
    ] {
        assert!(
            !raw.contains(secret),
            "`{secret}` reached the collector: {raw}"
        );
    }
    for e in &events {
        match &e.data {
            Data::Command {
                action,
                arg_count,
                flags,
                ..
            } => {
                assert_eq!(action, "run");
                assert_eq!(*arg_count, 3);
                assert_eq!(flags, &vec!["debug".to_string()]);
            }
            Data::ToolCall {
                session_id, agent, ..
            } => {
                assert!(session_id.as_deref().unwrap().starts_with("session_"));
                if let Some(agent) = agent {
                    assert!(
                        agent.starts_with("agent_"),
                        "agent names are hashed unless allowlisted"
                    );
                }
            }
            Data::SessionEnd { totals, .. } => {
                assert_eq!((totals.tool_calls, totals.tool_failures), (2, 1));
                assert_eq!((totals.input_tokens, totals.output_tokens), (100, 50));
                assert!((totals.cost_usd - 0.01).abs() < 1e-9);
                assert!(totals.duration_ms.is_some());
            }
            Data::Task {
                state,
                has_parent,
                priority,
                tags,
                ..
            } => {
                assert_eq!(*state, agent_telemetry::wire::TaskState::Completed);
                assert!(*has_parent);
                assert_eq!(*priority, Some(3));
                assert_eq!(tags, &vec!["nightly".to_string()]);
            }
            _ => {}
        }
    }
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn run_delivers_the_agents_events_and_passes_output_and_exit_code() {
    let collector = collector().await;
    let home = temp_dir("run");
    let shared = temp_dir("run-shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("input.txt"), "12345").unwrap();
    let fixture = wasm("fixture-every-event");
    let dir = format!("{}::/data", shared.display());
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            "--endpoint",
            &collector.endpoint(),
            "--dir",
            &dir,
            "--env",
            "GREETING=hello",
            "--env",
            "READ_FILE=/data/input.txt",
            fixture.to_str().unwrap(),
            "--exit",
            "7",
        ],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(
        code, 7,
        "the agent's exit code passes through; stderr: {stderr}"
    );
    assert!(
        stdout.contains("recorded 22 events (telemetry enabled: true)"),
        "{stdout}"
    );
    assert!(stdout.contains("GREETING=hello"), "{stdout}");
    assert!(
        stdout.contains("read 5 bytes from /data/input.txt"),
        "{stdout}"
    );
    assert!(stderr.contains("exiting with 7"), "{stderr}");

    let events = events(&collector, fixture_total(), Duration::from_secs(2)).await;
    assert_eq!(kinds(&events), FIXTURE_KINDS.iter().copied().collect());
    let installation_id = std::fs::read_to_string(home.join("installation-id")).unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.installation_id == installation_id.trim())
    );
    assert!(events.iter().all(|e| e.product == "agent"));
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::remove_dir_all(&shared).unwrap();
}

#[tokio::test]
async fn requests_to_any_other_authority_are_denied_and_counted() {
    let allowed = collector().await;
    let other = CountingListener::start().await;
    let home = temp_dir("denied");
    let mut settings = settings(&allowed.endpoint(), &home);
    // The component is told to send elsewhere: as a compromised component would.
    settings.component_config = vec![("endpoint".to_string(), other.url())];
    let runtime = TelemetryRuntime::shared().unwrap();
    let telemetry = Telemetry::start_with(runtime.clone(), settings)
        .await
        .unwrap();

    let options = AgentOptions {
        capture_output: true,
        ..AgentOptions::default()
    };
    let wasm = std::fs::read(wasm("fixture-every-event")).unwrap();
    let exit = run_agent(runtime.engine(), &telemetry, &wasm, &options)
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&exit.stdout);
    assert_eq!(exit.code, 0, "the agent is unaffected");
    assert!(stdout.contains("flush sent 0 failed 22"), "{stdout}");

    let status = telemetry.status().await;
    assert!(status.requests_denied >= 1);
    assert_eq!(status.requests_allowed, 0);
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        other.connections(),
        0,
        "no connection may reach a non-allowed authority"
    );
    assert_eq!(allowed.store().counts().unwrap().events, 0);
    allowed.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn a_hanging_collector_holds_the_cli_no_longer_than_the_flush_deadline() {
    let hanging = CountingListener::start().await;
    let home = temp_dir("hang-cli");
    let fixture = wasm("fixture-every-event");
    // First without telemetry, to know what the run costs by itself on this machine.
    let (_, _, _, baseline) = run_cli(
        &["run", fixture.to_str().unwrap()],
        &[("TELEMETRY_ENABLED", "false")],
    )
    .await;
    // The fixture's own flush asks for 3 s; the host's final flush is given 1 s.
    let (code, stdout, stderr, elapsed) = run_cli(
        &[
            "run",
            "--endpoint",
            &hanging.url(),
            "--flush-deadline-ms",
            "1000",
            fixture.to_str().unwrap(),
        ],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("flush sent 0 failed 22"), "{stdout}");
    assert!(hanging.connections() >= 1);
    let limit = baseline + Duration::from_millis(3000 + 1000 + 1000);
    assert!(elapsed < limit, "took {elapsed:?}, baseline {baseline:?}");
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn a_dead_collector_does_not_hold_the_agent() {
    let dead = format!("http://{}/v1/batch", dead_port());
    let home = temp_dir("dead");
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            "--endpoint",
            &dead,
            "--flush-deadline-ms",
            "1500",
            wasm("fixture-every-event").to_str().unwrap(),
        ],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("flush sent 0 failed 22"), "{stdout}");
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn a_collector_that_never_answers_costs_at_most_the_flush_deadline() {
    let hanging = CountingListener::start().await;
    let home = temp_dir("hang");
    // The component loaded first: on a busy machine, compiling it could take the whole
    // deadline, and then no request would be made at all.
    tokio::task::spawn_blocking(agent_telemetry::TelemetryRuntime::shared)
        .await
        .unwrap()
        .unwrap();
    let telemetry = Telemetry::start(settings(&hanging.url(), &home))
        .await
        .unwrap();
    telemetry.server_started();
    telemetry.track_command("run", &[] as &[&str], Ok(()));

    let deadline = Duration::from_millis(800);
    let start = Instant::now();
    let report = telemetry.shutdown(deadline).await;
    let waited = start.elapsed();
    // The collector never answers: without the deadline this would wait 5 s or more.
    assert!(
        waited <= deadline + Duration::from_millis(400),
        "waited {waited:?}"
    );
    assert_eq!(report.sent, 0);
    assert_eq!(
        hanging.connections(),
        1,
        "the request did go to the (hanging) collector"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn disabled_telemetry_sends_nothing_and_creates_no_id() {
    let listener = CountingListener::start().await;
    let home = temp_dir("off-lib");
    let settings = settings(&listener.url(), &home)
        .consent(Consent::explicit(false, "TELEMETRY_ENABLED=false"));
    let telemetry = Telemetry::start(settings).await.unwrap();
    assert!(!telemetry.is_enabled());
    telemetry.track_command("run", &["--x"], Ok(()));
    telemetry.server_started();
    let report = telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.sent, report.pending), (0, 0));
    let status = telemetry.status().await;
    assert!(!status.enabled && status.installation_id.is_none());
    assert!(
        !home.exists(),
        "no identity may be created when telemetry is off"
    );

    // The same through the CLI, decided by the environment.
    let cli_home = temp_dir("off-cli");
    for (var, value) in [
        ("TELEMETRY_ENABLED", "false"),
        ("DO_NOT_TRACK", "1"),
        ("ANONYMIZED_TELEMETRY", "No"),
    ] {
        let (code, stdout, stderr, _) = run_cli(
            &[
                "run",
                "--endpoint",
                &listener.url(),
                wasm("fixture-every-event").to_str().unwrap(),
            ],
            &[home_env(&cli_home), (var, value)],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("telemetry enabled: false"),
            "{var}: {stdout}"
        );
    }
    assert_eq!(listener.connections(), 0, "no request at all when disabled");
    assert!(
        !cli_home.exists(),
        "no identity may be created when telemetry is off"
    );
}

#[tokio::test]
async fn an_agent_importing_wasi_http_is_refused_before_it_runs() {
    let listener = CountingListener::start().await;
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            wasm("fixture-http-import").to_str().unwrap(),
            &listener.addr.to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("wasi:http/outgoing-handler") && stderr.contains("without network"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "the agent must not have run: {stdout}");
    assert_eq!(listener.connections(), 0);
}

#[tokio::test]
async fn an_agent_cannot_open_sockets() {
    let listener = CountingListener::start().await;
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            wasm("fixture-net-probe").to_str().unwrap(),
            &listener.addr.to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("denied"), "{stdout}");
    assert_eq!(
        listener.connections(),
        0,
        "the sandbox let a connection through"
    );
}

#[tokio::test]
async fn the_collect_command_stores_deduplicates_and_refuses_malformed_batches() {
    let dir = temp_dir("collect");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("events.sqlite3");
    let (addr, mut child) = collect(&db, &[]).await;
    assert!(addr.ip().is_loopback());

    let body = serde_json::to_vec(&batch(2)).unwrap();
    let (status, text) = post(addr, "/v1/batch", &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(r#""accepted":2"#) && text.contains(r#""duplicates":0"#),
        "{text}"
    );
    let (status, text) = post(addr, "/v1/batch", &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(r#""accepted":0"#) && text.contains(r#""duplicates":2"#),
        "{text}"
    );

    let mut unknown_field = serde_json::to_value(batch(1)).unwrap();
    unknown_field["events"][0]["data"]["prompt"] = "summarise my secrets".into();
    for bad in [
        b"not json".to_vec(),
        b"{}".to_vec(),
        serde_json::to_vec(&unknown_field).unwrap(),
    ] {
        let (status, text) = post(addr, "/v1/batch", &bad).await;
        assert_eq!(status, 400, "{text}");
    }

    let stored = agent_telemetry_collector::EventStore::open(Some(&db)).unwrap();
    let counts = stored.counts().unwrap();
    assert_eq!(
        (counts.events, counts.batches, counts.duplicates),
        (2, 2, 2)
    );
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_demo_shows_what_the_collector_stored_and_points_at_its_report() {
    // The demo keeps its database and page in the data directory: a fresh one here.
    let data = temp_dir("demo-data");
    let (code, stdout, stderr, _) =
        run_cli(&["demo"], &[("XDG_DATA_HOME", data.to_str().unwrap())]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("the collector stored 22 events in 1 batch(es)"),
        "{stdout}"
    );
    // The count it shows of what was sent is what the collector took.
    assert!(stdout.contains("the component sent 22 events"), "{stdout}");
    assert!(
        stdout.contains("session_end") && stdout.contains("gpt-4o"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Tool calls") && stdout.contains("read_file"),
        "{stdout}"
    );
    let page = data.join("agent-telemetry/demo-report.html");
    assert!(
        stdout.contains(&format!("with charts: {}", page.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("gpt-4o"), "{html}");
    // Its database is there for `report`.
    let db = data.join("agent-telemetry/demo.sqlite3");
    let (code, json, stderr, _) =
        run_cli(&["report", "--db", db.to_str().unwrap(), "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["events"], 22);
    std::fs::remove_dir_all(&data).unwrap();
}

#[tokio::test]
async fn the_telemetry_component_gets_no_environment_files_stdin_or_sockets() {
    // The probe takes the telemetry component's place and reports what it can see.
    let probe = std::fs::read(wasm("fixture_sandbox_probe")).unwrap();
    let runtime = std::sync::Arc::new(TelemetryRuntime::with_component(&probe).unwrap());
    let listener = CountingListener::start().await;
    let home = temp_dir("probe");
    let mut settings = settings(&listener.url(), &home);
    settings.component_config = vec![("probe-addr".to_string(), listener.addr.to_string())];
    let telemetry = Telemetry::start_with(runtime, settings).await.unwrap();
    let reason = telemetry
        .status()
        .await
        .component
        .expect("the probe answers")
        .reason;
    assert!(
        std::env::vars().count() > 0,
        "the test process itself has an environment"
    );
    assert_eq!(reason, "env=0 args=0 files=false stdin=0 tcp=false");
    assert_eq!(listener.connections(), 0);
    telemetry.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn bad_input_to_run_gets_a_clear_error() {
    let dir = temp_dir("bad-input");
    std::fs::create_dir_all(&dir).unwrap();
    let not_wasm = dir.join("agent.wasm");
    std::fs::write(&not_wasm, "this is not a component").unwrap();
    let missing = dir.join("missing.wasm");
    let fixture = wasm("fixture-every-event");
    let cases: [(&[&str], &str); 3] = [
        (
            &["run", not_wasm.to_str().unwrap()],
            "not a valid wasm component",
        ),
        (&["run", missing.to_str().unwrap()], "cannot read"),
        (
            &["run", "--env", "NO_EQUALS_SIGN", fixture.to_str().unwrap()],
            "is not of the form",
        ),
    ];
    for (args, expected) in cases {
        let (code, _, stderr, _) = run_cli(args, &[]).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Start-up pays only for what it uses: with telemetry off, `run` neither compiles nor loads
/// the telemetry component; with it on, it loads the code compiled when the library was built,
/// so even a first run on a fresh install compiles nothing but the agent. Either way the code
/// cache ends up with the agent's code alone, and a second run loads it without compiling
/// again.
#[tokio::test]
async fn the_component_is_never_compiled_at_run_time_and_the_agent_once() {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    let collector = collector().await;
    let agent = wasm("fixture-every-event");
    let entries = |dir: &std::path::Path| -> Vec<(std::path::PathBuf, u64)> {
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                    .map(|e| {
                        #[cfg(unix)]
                        let inode = e.metadata().unwrap().ino();
                        #[cfg(not(unix))]
                        let inode = 0;
                        (e.path(), inode)
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    };
    for (label, off) in [("off", true), ("on", false)] {
        let cache = temp_dir(&format!("cache-{label}"));
        let home = temp_dir(&format!("cache-home-{label}"));
        let mut env = vec![
            ("AGENT_TELEMETRY_CACHE_DIR", cache.to_str().unwrap()),
            home_env(&home),
            ("AGENT_TELEMETRY_NO_NOTICE", "1"),
        ];
        if off {
            env.push(("DO_NOT_TRACK", "1"));
        }
        let endpoint = collector.endpoint();
        let args = ["run", "--endpoint", &endpoint, agent.to_str().unwrap()];
        let (code, stdout, stderr, _) = run_cli(&args, &env).await;
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("every-event: recorded"), "{stdout}");
        // On, the component ran: the agent's 22 events were delivered.
        let stored = collector.store().counts().unwrap().events;
        assert_eq!(stored, if off { 0 } else { 22 }, "telemetry {label}");
        let first = entries(&cache);
        assert_eq!(
            first.len(),
            1,
            "telemetry {label}: only the agent's code is cached: {first:?}"
        );
        let (code, _, stderr, _) = run_cli(&args, &env).await;
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            entries(&cache),
            first,
            "telemetry {label}: the second run loads the same files, compiling nothing"
        );
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(&home);
    }
    collector.stop().await;
}

/// `Telemetry::start` does not wait for the component: on this single-threaded runtime the
/// worker that loads it cannot run until the test yields, so every event below is recorded
/// before there is a component. They wait in the hand-off (none dropped, none lost) and are
/// all delivered once it is loaded. (How long start-up takes is measured by
/// `cargo bench -p agent-telemetry-bench --bench startup`, not here.)
#[tokio::test(flavor = "current_thread")]
async fn events_recorded_before_the_component_is_loaded_wait_and_are_delivered() {
    use agent_telemetry::event::{Event as Recorded, Server, ServerState};
    let collector = collector().await;
    let home = temp_dir("before-loaded");
    let telemetry = Telemetry::start(settings(&collector.endpoint(), &home))
        .await
        .unwrap();
    // No await between start and these: the worker has not run, no component is loaded.
    for _ in 0..50 {
        telemetry.record(Recorded::Server(Server {
            state: ServerState::Started,
            uptime_ms: None,
            sessions_processed: None,
        }));
    }
    let report = telemetry.flush(Duration::from_secs(10)).await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.sent, 50, "{report:?}");
    assert_eq!(collector.store().counts().unwrap().events, 50);
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// On a terminal, `run` says on one line what it compiles while it does (the code cache off,
/// so the agent compiles: a Python agent, as the users who wait for it have, some seconds),
/// then erases the line; with its output in a pipe it says nothing of it.
#[tokio::test]
async fn a_slow_compile_is_said_on_a_terminal_and_never_in_a_pipe() {
    let dead = format!("http://{}/v1/batch", dead_port());
    let home = temp_dir("notice");
    let agent = crate::languages::python_agent("python-agent-notice").await;
    let args = [
        "run",
        "--endpoint",
        &dead,
        "--flush-deadline-ms",
        "200",
        agent.to_str().unwrap(),
    ];
    let env = [home_env(&home), ("AGENT_TELEMETRY_CACHE", "off")];
    let (code, _, stderr, _) = run_cli(&args, &env).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("compiling"), "{stderr}");

    // The same under a pseudo-terminal (util-linux `script`), with the CLI's environment.
    let cli = cli_command(&args, &env);
    let quoted: Vec<String> = std::iter::once(cli.as_std().get_program())
        .chain(cli.as_std().get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap().replace('\'', r"'\''")))
        .collect();
    let mut script = tokio::process::Command::new("script");
    script.args(["-qec", &quoted.join(" "), "/dev/null"]);
    for (key, value) in cli.as_std().get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let out = tokio::time::timeout(Duration::from_secs(120), script.output())
        .await
        .expect("run under script hung")
        .expect("util-linux `script` runs the CLI on a pseudo-terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(
            "compiling python-agent-notice.wasm for this machine (the code cache is off: every run compiles)"
        ),
        "{shown}"
    );
    assert!(shown.contains("\r\x1b[K"), "the line is erased: {shown:?}");
    let _ = std::fs::remove_dir_all(&home);
}
