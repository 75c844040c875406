//! Forgetting on opt-out (issue 23): `telemetry off` has the collector delete everything this
//! installation sent, and nothing of any other; the ledger shows the request; a collector
//! that cannot be reached gets it later. The real CLI, the real component, a real `collect`
//! on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::{SPOOL_DIR, Spool, SpoolLimits};
use agent_telemetry_collector::{EventStore, Format};

use crate::support::{
    INSTALLATION, batch, collect, collector, events_in, home_env, post, run_cli, status_json,
    temp_dir, wasm,
};

/// Events the every-event fixture records.
const EVENTS: u64 = 22;

/// Runs the every-event fixture against `endpoint` with the identity directory `home`, and
/// returns the installation id it sent as.
async fn send_from(home: &Path, endpoint: &str) -> String {
    send_as(home, endpoint, "native").await
}

/// [`send_from`] in the wire format `format`.
async fn send_as(home: &Path, endpoint: &str, format: &str) -> String {
    let fixture = wasm("fixture-every-event");
    let args = [
        "run",
        "--endpoint",
        endpoint,
        "--format",
        format,
        "--flush-deadline-ms",
        "5000",
        fixture.to_str().unwrap(),
    ];
    let (code, _, stderr, _) = run_cli(&args, &[home_env(home)]).await;
    assert_eq!(code, 0, "{stderr}");
    agent_telemetry::identity::read_installation_id(home).expect("an installation id")
}

/// A fresh directory for the test's database, and the database's path in it.
fn database(label: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(label);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("collector.sqlite3");
    (dir, db)
}

/// The installation ids of every event the collector holds.
fn installations(store: &EventStore) -> Vec<String> {
    store
        .facts()
        .unwrap()
        .into_iter()
        .map(|f| f.fact.installation)
        .collect()
}

#[tokio::test]
async fn telemetry_off_has_the_collector_forget_this_installation_and_no_other() {
    let (dir, db) = database("forget");
    let (addr, mut collector) = collect(&db, &[]).await;
    let endpoint = format!("http://{addr}/v1/batch");
    let (gone, kept) = (temp_dir("forget-gone"), temp_dir("forget-kept"));
    let gone_id = send_from(&gone, &endpoint).await;
    let kept_id = send_from(&kept, &endpoint).await;
    assert_ne!(gone_id, kept_id);
    let store = EventStore::open(Some(&db)).unwrap();
    assert_eq!(
        events_in(&store, 2 * EVENTS, Duration::from_secs(10)).await,
        2 * EVENTS
    );

    let (code, stdout, stderr, _) = run_cli(&["telemetry", "off"], &[home_env(&gone)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "deletion request for {gone_id} carried out by {endpoint}: {EVENTS} event(s) deleted"
        )),
        "{stdout}"
    );

    // The collector holds nothing of that installation, and everything of the other.
    let left = installations(&store);
    assert_eq!(left.len() as u64, EVENTS, "{left:?}");
    assert!(left.iter().all(|id| *id == kept_id), "{left:?}");
    let counts = store.counts().unwrap();
    assert_eq!((counts.deletions, counts.deleted_events), (1, EVENTS));

    // The spool is empty, the id is gone (a later `telemetry on` is a new installation),
    // nothing is left pending, and the ledger shows the request and its outcome.
    let spool = Spool::new(gone.join(SPOOL_DIR), SpoolLimits::default());
    assert_eq!(spool.pending_events(), 0);
    assert_eq!(agent_telemetry::identity::read_installation_id(&gone), None);
    assert!(agent_telemetry::identity::read_installation_id(&kept).is_some());
    assert!(!gone.join(agent_telemetry::forget::PENDING_FILE).exists());
    let (code, log, _, _) = run_cli(&["log"], &[home_env(&gone)]).await;
    assert_eq!(code, 0);
    assert!(
        log.contains(&format!("deletion request: 200, {EVENTS} event(s) deleted")),
        "{log}"
    );
    let (_, json, _, _) = run_cli(&["log", "--json", "--body"], &[home_env(&gone)]).await;
    let request: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["deletion"] == true)
        .unwrap_or_else(|| panic!("no deletion request in the ledger: {json}"));
    assert_eq!(request["endpoint"], endpoint.as_str());
    assert_eq!(request["deleted"], EVENTS);
    // The request names the installation and nothing else.
    assert_eq!(
        request["body"],
        format!(
            r#"{{"schema":"agent-telemetry/deletion","schema_version":1,"installation_id":"{gone_id}"}}"#
        )
    );

    collector.kill().await.unwrap();
    for path in [dir, gone, kept] {
        std::fs::remove_dir_all(path).unwrap();
    }
}

#[tokio::test]
async fn a_deletion_request_the_collector_cannot_take_is_kept_and_delivered_later() {
    let (dir, db) = database("forget-later");
    let (addr, mut collector) = collect(&db, &[]).await;
    let endpoint = format!("http://{addr}/v1/batch");
    let home = temp_dir("forget-later-home");
    let id = send_from(&home, &endpoint).await;
    {
        let store = EventStore::open(Some(&db)).unwrap();
        assert_eq!(
            events_in(&store, EVENTS, Duration::from_secs(10)).await,
            EVENTS
        );
    }
    collector.kill().await.unwrap();
    collector.wait().await.unwrap();

    // The collector is down: `telemetry off` returns, says so, and keeps the request.
    let (code, stdout, stderr, _) = run_cli(&["telemetry", "off"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "deletion request for {id} NOT delivered to {endpoint}"
        )),
        "{stdout}"
    );
    assert_eq!(agent_telemetry::identity::read_installation_id(&home), None);
    let status = status_json(&[home_env(&home)]).await;
    assert_eq!(status["pending_deletions"], 1, "{status}");
    let (_, log, _, _) = run_cli(&["log"], &[home_env(&home)]).await;
    assert!(log.contains("kept pending"), "{log}");

    // Back on the same port: `flush` delivers it (telemetry being off does not stop it).
    let port = addr.port().to_string();
    let (_, mut collector) = collect(&db, &["--port", &port]).await;
    let (code, stdout, stderr, _) = run_cli(&["flush"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "deletion request for {id} carried out by {endpoint}: {EVENTS} event(s) deleted"
        )),
        "{stdout}"
    );
    let store = EventStore::open(Some(&db)).unwrap();
    assert_eq!(installations(&store), Vec::<String>::new());
    assert_eq!(store.counts().unwrap().deletions, 1);
    let status = status_json(&[home_env(&home)]).await;
    assert_eq!(status["pending_deletions"], 0, "{status}");

    collector.kill().await.unwrap();
    for path in [dir, home] {
        std::fs::remove_dir_all(path).unwrap();
    }
}

/// One installation sends in every format to one collector (as `collect` takes them all):
/// the deletion request goes to the native endpoint only (the others' real collectors have
/// none, which the output and the ledger say), and the collector deletes that installation's
/// rows in every format.
#[tokio::test]
async fn the_collector_forgets_an_installations_rows_in_every_format() {
    let collector = collector().await;
    let home = temp_dir("forget-formats");
    let mut sent = 0;
    let mut id = None;
    for format in Format::ALL {
        let endpoint = collector.endpoint_for(format);
        id = Some(send_as(&home, &endpoint, format.name()).await);
        let before = sent;
        sent = events_in(collector.store(), before + 1, Duration::from_secs(10)).await;
        assert!(sent > before, "{format:?} stored nothing");
    }
    // Let the last run's events all arrive.
    let sent = events_in(collector.store(), u64::MAX, Duration::from_millis(500)).await;

    let (code, stdout, stderr, _) = run_cli(&["telemetry", "off"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    let id = id.unwrap();
    assert!(
        stdout.contains(&format!(
            "deletion request for {id} carried out by {}: {sent} event(s) deleted",
            collector.endpoint()
        )),
        "{stdout}"
    );
    for format in [Format::Docker, Format::Swarm, Format::Otlp] {
        assert!(
            stdout.contains(&format!(
                "no deletion request to {}: the {} format has none",
                collector.endpoint_for(format),
                format.name()
            )),
            "{stdout}"
        );
    }
    assert_eq!(collector.store().counts().unwrap().events, 0);
    let (_, log, _, _) = run_cli(&["log"], &[home_env(&home)]).await;
    assert!(
        log.contains("no deletion request: the docker format has none"),
        "{log}"
    );
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

/// The collector's side over HTTP: a deletion request is read strictly (anything else on the
/// native path is a batch, or refused), is carried out even when the database is full, and
/// keeps out what that installation sends afterwards.
#[tokio::test]
async fn a_deletion_request_is_read_strictly_and_carried_out_even_when_the_database_is_full() {
    let collector = collector().await;
    let addr = collector.addr();
    let deletion = |id: &str, version: u32| {
        format!(
            r#"{{"schema":"agent-telemetry/deletion","schema_version":{version},"installation_id":"{id}"}}"#
        )
    };
    let (status, text) = post(addr, "/v1/batch", &serde_json::to_vec(&batch(3)).unwrap()).await;
    assert_eq!(status, 200, "{text}");
    for bad in [
        deletion("ephemeral_0123456789abcdef", 1),
        deletion(INSTALLATION, 2),
        deletion("install_x' OR 1=1 --", 1),
        deletion(INSTALLATION, 1).replace('}', r#","product":"p"}"#),
    ] {
        let (status, text) = post(addr, "/v1/batch", bad.as_bytes()).await;
        assert_eq!(status, 400, "{bad}: {text}");
    }
    // Another format's path is not where deletions go: nothing is deleted there.
    post(addr, "/v1/logs", deletion(INSTALLATION, 1).as_bytes()).await;
    assert_eq!(collector.store().counts().unwrap().events, 3);

    // A full database refuses batches, but takes a deletion (which makes room).
    collector.store().set_max_bytes(Some(1)).unwrap();
    let (status, _) = post(addr, "/v1/batch", &serde_json::to_vec(&batch(1)).unwrap()).await;
    assert_eq!(status, 503);
    let (status, text) = post(addr, "/v1/batch", deletion(INSTALLATION, 1).as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(r#"{"deleted":3}"#), "{text}");
    collector.store().set_max_bytes(None).unwrap();
    let (status, text) = post(addr, "/v1/batch", deletion(INSTALLATION, 1).as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(r#"{"deleted":0}"#), "idempotent: {text}");

    // A batch of it still in flight somewhere arrives later: not stored.
    let (status, text) = post(addr, "/v1/batch", &serde_json::to_vec(&batch(2)).unwrap()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""forgotten":2"#), "{text}");
    let counts = collector.store().counts().unwrap();
    assert_eq!(
        (counts.events, counts.deletions, counts.deleted_events),
        (0, 1, 3),
        "one installation, asked twice"
    );
    collector.stop().await;
}
