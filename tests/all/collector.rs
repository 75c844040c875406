//! The local collector in every format, and its report. The real component in the real host
//! (through `run`) sends the every-event fixture's events to the real collector on 127.0.0.1
//! in each wire format; what it stored is reported alike whatever the format carried it.
//! Invalid bodies are refused with a short reason; replays are stored once; the report's HTML
//! page is rendered by headless Chromium, which must draw every chart.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use agent_telemetry_collector::report::{self, Range, Report};
use agent_telemetry_collector::{Collector, CollectorOptions, EventStore, Format};

use crate::support::*;

/// Events of the every-event fixture each format carries (the rest it has no type for).
const NATIVE: u64 = 22;
const DOCKER: u64 = 6;
const SWARM: u64 = 18;

/// Runs the every-event fixture with `args` against `collector`'s path for `format`; waits
/// for `n` events and returns the report of what was stored.
async fn through(format: Format, args: &[&str], n: u64) -> (Collector, Report) {
    let collector = collector().await;
    let home = temp_dir(format.name());
    let fixture = wasm("fixture-every-event");
    let endpoint = collector.endpoint_for(format);
    let mut cli = vec![
        "run",
        "--endpoint",
        &endpoint,
        "--flush-deadline-ms",
        "5000",
    ];
    cli.extend_from_slice(args);
    cli.push(fixture.to_str().unwrap());
    let (code, stdout, stderr, _) = run_cli(&cli, &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let stored = events_in(collector.store(), n, Duration::from_secs(5)).await;
    assert_eq!(stored, n, "{format:?}: {stderr}");
    let counts = collector.store().counts().unwrap();
    assert_eq!(counts.rejected_batches, 0, "{format:?}: {stderr}");
    assert_eq!(counts.duplicates, 0);
    let facts = collector.store().facts().unwrap();
    assert!(facts.iter().all(|f| f.format == format.name()), "{facts:?}");
    // Every kind the fixture records is one the collector names (none read back as `?`).
    assert!(facts.iter().all(|f| f.fact.kind != "?"), "{facts:?}");
    // The cache tokens each format carries, which the cost estimate prices (docker-agent's
    // records have none; Agent Swarm has no per-call token use).
    let mut token_events = 0;
    for f in &facts {
        let cache = (f.fact.cache_read_tokens, f.fact.cache_write_tokens);
        let want = match (f.fact.kind, format) {
            ("token_usage", Format::Docker) => (None, None),
            ("token_usage", _) => (Some(800), None),
            ("session_cost", _) => (Some(900), Some(120)),
            _ => continue,
        };
        assert_eq!(cache, want, "{format:?} {}", f.fact.kind);
        token_events += 1;
    }
    assert!(token_events > 0, "{format:?}: no token events");
    let report = Report::build(collector.store(), Range::default()).unwrap();
    std::fs::remove_dir_all(&home).ok();
    (collector, report)
}

/// What the every-event fixture records, as the report shows it from native batches.
fn assert_fixture_report(r: &Report) {
    let names = |v: &[report::Rate]| {
        v.iter()
            .map(|c| (c.name.clone(), c.count, c.succeeded))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&r.commands), [("run".to_string(), 1, 1)]);
    let tools: Vec<_> = r
        .tools
        .iter()
        .map(|t| {
            (
                t.rate.name.as_str(),
                t.rate.count,
                t.rate.succeeded,
                t.p50_ms,
                t.p95_ms,
            )
        })
        .collect();
    assert_eq!(
        tools,
        [
            ("read_file", 1, 1, Some(12), Some(12)),
            ("shell", 1, 0, Some(250), Some(250))
        ]
    );
    assert_eq!(r.models.len(), 1, "{:?}", r.models);
    assert_eq!(r.models[0].model, "gpt-4o");
    assert_eq!(
        (r.models[0].input_tokens, r.models[0].output_tokens),
        (1200, 300)
    );
    assert_eq!((r.sessions.started, r.sessions.ended), (1, 1));
    assert_eq!(r.sessions.outcomes[0].name, "success");
    assert!(r.sessions.cost_usd > 0.0);
    let states: Vec<&str> = r.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        states,
        [
            "cancelled",
            "claimed",
            "completed",
            "created",
            "failed",
            "started"
        ]
    );
    assert_eq!(r.installations, 1);
    assert_eq!(r.versions.len(), 1, "{:?}", r.versions);
}

/// Two runs' sessions agree, but for their durations (each run's clock's own), which both have.
fn assert_same_sessions(a: &report::Sessions, b: &report::Sessions) {
    let timeless = |s: &report::Sessions| {
        assert!(s.p50_ms.is_some() && s.p95_ms.is_some(), "{s:?}");
        report::Sessions {
            p50_ms: None,
            p95_ms: None,
            ..s.clone()
        }
    };
    assert_eq!(timeless(a), timeless(b));
}

#[tokio::test]
async fn native_batches_are_stored_and_reported() {
    let (collector, report) = through(Format::Native, &[], NATIVE).await;
    assert_fixture_report(&report);
    assert_eq!(report.events, NATIVE);
    assert_eq!(report.versions[0].product, "agent");
    collector.stop().await;
}

#[tokio::test]
async fn otlp_protobuf_gzip_is_stored_and_reported_as_native_batches_are() {
    let (collector, report) = through(Format::Otlp, &["--format", "otlp", "--gzip"], NATIVE).await;
    assert_fixture_report(&report);
    collector.stop().await;
}

#[tokio::test]
async fn otlp_json_is_stored_and_reported_as_native_batches_are() {
    let (collector, report) = through(
        Format::Otlp,
        &["--format", "otlp", "--otlp-protocol", "http/json"],
        NATIVE,
    )
    .await;
    assert_fixture_report(&report);
    collector.stop().await;
}

#[tokio::test]
async fn docker_records_are_stored_and_their_sections_reported_as_native_batches_are() {
    let (collector, report) =
        through(Format::Docker, &["--format", "docker", "--gzip"], DOCKER).await;
    let (_, native) = through(Format::Native, &[], NATIVE).await;
    // docker-agent's events are commands, tools, tokens and sessions: those sections agree.
    assert_eq!(report.commands, native.commands);
    assert_eq!(report.tools, native.tools);
    assert_eq!(report.models, native.models);
    assert_same_sessions(&report.sessions, &native.sessions);
    assert!(report.tasks.is_empty());
    assert_eq!(
        report.versions[0].product, "",
        "docker-agent's records name no product"
    );
    collector.stop().await;
}

#[tokio::test]
async fn swarm_events_are_stored_and_their_sections_reported_as_native_batches_are() {
    let (collector, report) = through(Format::Swarm, &["--format", "swarm"], SWARM).await;
    let (_, native) = through(Format::Native, &[], NATIVE).await;
    // Agent Swarm's events are sessions, tasks and the server's: those sections agree.
    assert_same_sessions(&report.sessions, &native.sessions);
    assert_eq!(report.tasks, native.tasks);
    assert!(report.commands.is_empty() && report.tools.is_empty());
    // Its cost comes per session: the session's cost event stands for its model.
    assert!(!report.models.is_empty(), "{report:?}");
    collector.stop().await;
}

type Headers = Vec<(&'static str, &'static str)>;

const JSON: (&str, &str) = ("content-type", "application/json");
const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const GZIP: (&str, &str) = ("content-encoding", "gzip");

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// A docker-agent record with `properties`, as a body.
fn docker(properties: &str) -> Vec<u8> {
    format!(
        r#"{{"records":[{{"event":"tool","event_timestamp":1767225600000,"source":"test","properties":{properties}}}]}}"#
    )
    .into_bytes()
}

const DOCKER_OK: &str = r#"{"action":"call","tool_name":"shell","duration_ms":5,"is_success":true,"user_uuid":"u1","version":"1.0","os":"linux"}"#;

fn swarm(event: &str) -> Vec<u8> {
    format!(
        r#"{{"product":"agent-swarm","event":"{event}","occurred_at":"2026-01-01T00:00:00.000Z","source":"server","actor_mode":"anonymous","actor_anonymous_id":"a1","properties":{{"sessionId":"s1","outcome":"success","durationMs":1000,"swarmVersion":"1.2.3"}},"metadata":{{"transport":"http","schema_version":1,"environment":"production"}}}}"#
    )
    .into_bytes()
}

fn otlp_json(event_name: &str, uid: &str) -> Vec<u8> {
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"p"}}}},
            {{"key":"service.version","value":{{"stringValue":"1.0"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"i1"}}}}]}},
          "scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1767225600000000000","eventName":"{event_name}",
            "attributes":[{{"key":"log.record.uid","value":{{"stringValue":"{uid}"}}}},
              {{"key":"agent_telemetry.command.action","value":{{"stringValue":"run"}}}},
              {{"key":"agent_telemetry.outcome","value":{{"stringValue":"success"}}}}]}}]}}]}}]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn invalid_bodies_are_refused_with_a_short_reason_in_every_format() {
    let collector = collector().await;
    let addr = collector.addr();
    let marker = "MARKER-4711";
    let long = "x".repeat(300);
    let bomb = gzip(&vec![b'{'; 17 << 20]);
    let cases: Vec<(&str, Headers, Vec<u8>, u16, &str)> =
        vec![
        (
            "/v1/batch",
            vec![JSON],
            format!(r#"{{"{marker}":1}}"#).into_bytes(),
            400,
            "failed the collector's check",
        ),
        (
            "/v1/batch",
            vec![JSON, GZIP],
            b"not gzip".to_vec(),
            400,
            "not valid gzip",
        ),
        (
            // A finite cost so large that sums of it would reach infinity.
            "/v1/events",
            vec![JSON],
            String::from_utf8(swarm("session.ended"))
                .unwrap()
                .replace(r#""durationMs":1000"#, r#""durationMs":1000,"totalCostUsd":1e308"#)
                .into_bytes(),
            400,
            "over $1,000,000 for one event",
        ),

        (
            "/v1/batch",
            vec![("content-type", "text/plain")],
            b"{}".to_vec(),
            415,
            "application/json",
        ),
        (
            "/v1/logs",
            vec![PROTOBUF],
            vec![0xff, 0xff, 0xff, 0x01],
            400,
            "not an OTLP logs export request (protobuf)",
        ),
        (
            "/v1/logs",
            vec![JSON],
            format!(r#"{{"resourceLogs":"{marker}"}}"#).into_bytes(),
            400,
            "not an OTLP logs export request (JSON)",
        ),
        (
            "/v1/logs",
            vec![JSON],
            otlp_json(marker, "id-1"),
            400,
            "not an agent_telemetry event",
        ),
        (
            "/v1/logs",
            vec![JSON, GZIP],
            gzip(&otlp_json("agent_telemetry.command", "")),
            400,
            "log record 0: `log.record.uid` is missing",
        ),
        (
            "/v1/logs",
            vec![("content-type", "application/grpc")],
            vec![],
            415,
            "application/x-protobuf",
        ),
        (
            "/events/v1/track",
            vec![JSON],
            docker(r#"{"tool_name":"shell"}"#),
            400,
            "record 0: `user_uuid` is missing",
        ),
        (
            "/events/v1/track",
            vec![JSON],
            docker(&DOCKER_OK.replace("5,", "-5,")),
            400,
            "record 0: `duration_ms` is not a count",
        ),
        (
            "/events/v1/track",
            vec![JSON],
            docker(&DOCKER_OK.replace("\"shell\"", &format!("\"{long}\""))),
            400,
            "longer than 256 bytes",
        ),
        (
            "/events/v1/track",
            vec![JSON],
            docker(&DOCKER_OK.replace("true", &format!("\"{marker}\""))),
            400,
            "`is_success` is not true or false",
        ),
        (
            "/events/v1/track",
            vec![JSON],
            br#"{"records":[{"event":"launch","event_timestamp":1,"source":"s","properties":{}}]}"#
                .to_vec(),
            400,
            "not a docker-agent event name",
        ),
        (
            "/events/v1/track",
            vec![JSON, GZIP],
            bomb,
            400,
            "too large once inflated",
        ),
        (
            "/v1/events",
            vec![JSON],
            swarm(marker),
            400,
            "not an Agent Swarm event name",
        ),
        (
            "/v1/events",
            vec![JSON],
            br#"{"product":"agent-swarm"}"#.to_vec(),
            400,
            "not an Agent Swarm event envelope",
        ),
        (
            "/v1/events",
            vec![JSON],
            String::from_utf8(swarm("session.ended"))
                .unwrap()
                .replace("2026-01-01T00:00:00.000Z", marker)
                .into_bytes(),
            400,
            "not RFC 3339",
        ),
    ];
    let mut refused = 0;
    for (path, headers, body, status, reason) in &cases {
        let (got, response) = post_with(addr, path, headers, body).await;
        assert_eq!(got, *status, "{path} {headers:?}: {response}");
        assert!(
            response.contains(reason),
            "{path}: `{reason}` in {response}"
        );
        assert!(
            !response.contains(marker),
            "the answer quotes the input: {response}"
        );
        refused += u64::from(*status == 400);
    }
    let counts = collector.store().counts().unwrap();
    assert_eq!(counts.events, 0);
    assert_eq!(counts.rejected_batches, refused);
    collector.stop().await;
}

#[tokio::test]
async fn a_replayed_body_is_stored_once_in_every_format() {
    let collector = collector().await;
    let addr = collector.addr();
    let native = serde_json::to_vec(&batch(3)).unwrap();
    let bodies: Vec<(&str, Headers, Vec<u8>, u64)> = vec![
        ("/v1/batch", vec![JSON], native, 3),
        (
            "/v1/logs",
            vec![JSON],
            otlp_json("agent_telemetry.command", "uid-1"),
            1,
        ),
        (
            "/events/v1/track",
            vec![JSON, GZIP],
            gzip(&docker(DOCKER_OK)),
            1,
        ),
        ("/v1/events", vec![JSON], swarm("session.ended"), 1),
    ];
    let mut expected = 0;
    for (path, headers, body, n) in &bodies {
        for _ in 0..2 {
            let (status, response) = post_with(addr, path, headers, body).await;
            assert_eq!(status, 200, "{path}: {response}");
        }
        expected += n;
    }
    let counts = collector.store().counts().unwrap();
    assert_eq!(counts.events, expected);
    assert_eq!(
        counts.duplicates, expected,
        "each second copy is a duplicate"
    );
    collector.stop().await;
}

/// A native batch of `version` with `n` events: version 3 writes the envelope once; versions
/// 1 and 2 (builds before it) write it in every event.
fn native_of_version(version: u32, n: usize) -> Vec<u8> {
    let mut b = batch(n);
    b.schema_version = version;
    for e in &mut b.events {
        e.schema_version = version;
    }
    serde_json::to_vec(&b).unwrap()
}

/// The collector reads native batches of versions 1, 2 and 3 alike and stores every event
/// whole; a batch of version 3 with its envelope missing, after its events or inside one,
/// and a batch of version 2 with an envelope, are refused.
#[tokio::test]
async fn native_batches_of_versions_1_2_and_3_are_stored_alike() {
    let collector = collector().await;
    let addr = collector.addr();
    for version in 1..=3 {
        let body = native_of_version(version, 2);
        let text = String::from_utf8(body.clone()).unwrap();
        assert_eq!(text.contains("\"envelope\""), version == 3, "{text}");
        assert_eq!(
            text.matches(INSTALLATION).count(),
            if version == 3 { 1 } else { 2 }
        );
        let (status, response) = post_with(addr, "/v1/batch", &[JSON], &body).await;
        assert_eq!(status, 200, "version {version}: {response}");
    }
    let stored = collector.store().events().unwrap();
    let mut versions: Vec<u32> = stored.iter().map(|e| e.schema_version).collect();
    versions.sort();
    assert_eq!(versions, [1, 1, 2, 2, 3, 3]);
    for e in &stored {
        let whole = (
            e.installation_id.as_str(),
            e.product.as_str(),
            e.product_version.as_str(),
            e.source.as_str(),
            e.environment.as_str(),
            e.os.as_str(),
            e.arch.as_str(),
        );
        let want = (
            INSTALLATION,
            "test",
            "1.0.0",
            "test",
            "development",
            "linux",
            "x86_64",
        );
        assert_eq!(whole, want, "{e:?}");
    }

    let current = native_of_version(3, 2);
    let value: serde_json::Value = serde_json::from_slice(&current).unwrap();
    let text = String::from_utf8(current).unwrap();
    // The envelope as written (serde_json's own map would sort its keys).
    let start = text.find("\"envelope\":").unwrap();
    let end = text.find(",\"events\":").unwrap();
    let envelope = &text[start + "\"envelope\":".len()..end];
    let without = text.replace(&format!("\"envelope\":{envelope},"), "");
    assert_ne!(without, text);
    let after = format!(
        "{},\"envelope\":{envelope}}}",
        &without[..without.len() - 1]
    );
    let mut missing = value.clone();
    missing.as_object_mut().unwrap().remove("envelope");
    let mut inside = value.clone();
    inside["events"][0]["installation_id"] = INSTALLATION.into();
    let mut flat_with_one: serde_json::Value =
        serde_json::from_slice(&native_of_version(2, 1)).unwrap();
    flat_with_one["envelope"] = value["envelope"].clone();
    let refused = [
        ("the envelope after the events", after.into_bytes()),
        ("no envelope", serde_json::to_vec(&missing).unwrap()),
        (
            "an envelope field in an event",
            serde_json::to_vec(&inside).unwrap(),
        ),
        (
            "version 2 with an envelope",
            serde_json::to_vec(&flat_with_one).unwrap(),
        ),
    ];
    let check = schema_check();
    for (what, body) in &refused {
        // The published schema (version 3's) refuses each too, where it can see it.
        if what.starts_with("version 2") {
            assert_eq!(
                check(body),
                Ok(()),
                "older versions are the collector's to check"
            );
        } else if !what.contains("after") {
            assert!(check(body).is_err(), "{what}: the schema takes it");
        }
        let plain = CollectorOptions::default();
        let strict_alone = Collector::start_with(
            "127.0.0.1:0".parse().unwrap(),
            EventStore::open(None).unwrap(),
            plain,
        )
        .await
        .unwrap();
        let (status, response) = post_with(strict_alone.addr(), "/v1/batch", &[JSON], body).await;
        assert_eq!(status, 400, "{what}: {response}");
        assert_eq!(strict_alone.store().counts().unwrap().events, 0, "{what}");
        strict_alone.stop().await;
    }
    collector.stop().await;
}

#[tokio::test]
async fn the_page_escapes_every_name_a_sender_gave() {
    let collector = collector().await;
    let hostile = r#"<script>alert(1)</script>"#;
    let img = r#""><img src=x onerror=alert(1)>"#;
    let props = DOCKER_OK
        .replace("\"shell\"", &serde_json::to_string(hostile).unwrap())
        .replace("\"1.0\"", &serde_json::to_string(img).unwrap());
    let (status, response) = post_with(
        collector.addr(),
        "/events/v1/track",
        &[JSON],
        &docker(&props),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let r = Report::build(collector.store(), Range::default()).unwrap();
    assert_eq!(r.tools[0].rate.name, hostile);
    let page = report::html::render(&r);
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    collector.stop().await;
}

/// The report's three forms from the CLI, over a database `collect --db` would write.
#[tokio::test]
async fn report_prints_text_and_json_and_writes_the_page_for_a_time_range() {
    let dir = temp_dir("report-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("collector.sqlite3");
    {
        let store = EventStore::open(Some(&db)).unwrap();
        store.ingest(&batch(4)).unwrap();
    }
    let db_arg = db.to_str().unwrap();
    let (code, text, stderr, _) = run_cli(&["report", "--db", db_arg], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("4 events from 1 installation"), "{text}");
    for heading in [
        "Commands",
        "Tool calls",
        "Tokens and cost by model",
        "Sessions",
        "Task outcomes",
        "Over time, by day",
        "Tokens and cost by model and day",
        "Versions by day",
        "New and returning installations by week",
        "Weekly retention",
    ] {
        assert!(text.contains(heading), "{heading} in {text}");
    }
    let page = dir.join("page.html");
    let (code, json, stderr, _) = run_cli(
        &[
            "report",
            "--db",
            db_arg,
            "--json",
            "--html",
            page.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["events"], 4);
    // One day, one installation: a day's period with the four events, and a new installation.
    assert_eq!(json["over_time"]["granularity"], "day");
    assert_eq!(json["over_time"]["periods"][0]["events"], 4);
    assert_eq!(json["over_time"]["periods"][0]["installations"], 1);
    assert_eq!(json["retention"]["weeks"][0]["new"], 1);
    assert_eq!(json["retention"]["cohorts"][0]["installations"], 1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "{html}"
    );
    // batch()'s events are of 2026-01-01: a range after it, or before it, holds none.
    for range in [
        ["--since", "2026-01-02"],
        ["--until", "2025-12-31T23:59:59Z"],
    ] {
        let (code, json, stderr, _) = run_cli(
            &["report", "--db", db_arg, "--json", range[0], range[1]],
            &[],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["events"], 0, "{range:?}: {json}");
    }
    let (code, _, stderr, _) =
        run_cli(&["report", "--db", db_arg, "--since", "last tuesday"], &[]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("--since"), "{stderr}");
    let missing = dir.join("none.sqlite3");
    let (code, _, stderr, _) = run_cli(&["report", "--db", missing.to_str().unwrap()], &[]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no collector database"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Chromium: from PATH, else installed by tests/tools/install.sh (as root, from Debian).
fn chromium() -> PathBuf {
    let found = |name: &str| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("chromium") {
        install_tools();
    }
    PathBuf::from("chromium")
}

/// Pixels of `colour` (`#rrggbb`) in an RGBA or RGB image.
fn pixels_of(image: &[u8], channels: usize, colour: &str) -> usize {
    let rgb: Vec<u8> = (0..3)
        .map(|i| u8::from_str_radix(&colour[1 + 2 * i..3 + 2 * i], 16).unwrap())
        .collect();
    image
        .chunks_exact(channels)
        .filter(|p| p[..3] == rgb[..])
        .count()
}

#[tokio::test]
async fn headless_chromium_draws_every_chart_of_the_page() {
    let (collector, r) = through(Format::Native, &[], NATIVE).await;
    collector.stop().await;
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let page = artifacts.join("report.html");
    let shot = artifacts.join("report.png");
    let html = report::html::render(&r);
    // The over-time sections are on the page, drawn (the charts checked below) and in tables.
    for section in [
        "Over time, by day",
        "Cost by model and day",
        "Installations by day and version",
        "New and returning installations by week",
        "Weekly retention",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains(r#"<table data-chart="retention">"#));
    std::fs::write(&page, html).unwrap();
    let _ = std::fs::remove_file(&shot);
    let chromium = tokio::task::spawn_blocking(chromium).await.unwrap();
    let profile = temp_dir("chromium");
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        // Colours as written: what the check below compares with.
        .args(["--force-color-profile=srgb", "--window-size=1400,2600"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut image = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut image).unwrap();
    let channels = info.color_type.samples();
    assert!(info.width >= 1200 && channels >= 3, "{info:?}");
    for (chart, colour) in report::html::CHARTS {
        // A bar or column is thousands of pixels; a legend's swatch is a hundred.
        let drawn = pixels_of(&image[..info.buffer_size()], channels, colour);
        assert!(
            drawn > 1000,
            "chart {chart} drew {drawn} pixels of {colour}; see {}",
            shot.display()
        );
    }
    std::fs::remove_dir_all(&profile).ok();
}

/// `report --product --version --kind` reads only what they name, in every output; an unknown
/// kind is a clear error.
#[tokio::test]
async fn the_report_filters_by_product_version_and_kind() {
    let dir = temp_dir("report-filters");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("filters.sqlite3");
    {
        let store = EventStore::open(Some(&db)).unwrap();
        let mut batch = batch(12);
        for (i, e) in batch.events.iter_mut().enumerate() {
            e.product = ["alpha", "beta"][i % 2].to_string();
            e.product_version = ["1.0.0", "2.0.0", "2.0.0"][i % 3].to_string();
            if i % 4 == 0 {
                e.data = agent_telemetry::wire::Data::Command {
                    action: "run".to_string(),
                    outcome: agent_telemetry::wire::Outcome::Success,
                    error: None,
                    arg_count: 0,
                    flags: Vec::new(),
                };
            }
        }
        store.ingest(&batch).unwrap();
    }
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--db", db.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, stdout, stderr, _) = run_cli(&args, &[]).await;
            assert_eq!(code, 0, "{stderr}");
            serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
        }
    };
    assert_eq!(report(&[]).await["events"], 12);
    let alpha = report(&["--product", "alpha"]).await;
    assert_eq!(alpha["events"], 6);
    assert_eq!(alpha["filter"]["product"], "alpha");
    // alpha is every even event: versions 1.0.0 at 0 and 6, 2.0.0 at 2, 4, 8, 10.
    assert_eq!(
        report(&["--product", "alpha", "--version", "2.0.0"]).await["events"],
        4
    );
    let commands = report(&["--kind", "command"]).await;
    assert_eq!(commands["events"], 3);
    assert_eq!(commands["commands"][0]["count"], 3);
    assert_eq!(report(&["--kind", "command,server"]).await["events"], 12);
    let (code, text, _, _) = run_cli(
        &[
            "report",
            "--db",
            db.to_str().unwrap(),
            "--product",
            "beta",
            "--kind",
            "server",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0);
    assert!(text.contains("only: product beta, kinds server"), "{text}");
    let (code, _, stderr, _) = run_cli(
        &[
            "report",
            "--db",
            db.to_str().unwrap(),
            "--kind",
            "keystroke",
        ],
        &[],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("`keystroke` is not an event kind"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
