//! The PostgreSQL store: several `collect` processes writing one database at once keep every
//! event once, `report --db postgres://...` says what the same bodies stored in SQLite say,
//! a deletion carried out by one collector keeps the others from storing that installation's
//! late events, and a database of a newer layout is refused.

use std::net::SocketAddr;

use serde_json::Value;

use crate::support::postgres::Postgres;
use crate::support::{self, collect, run_cli, temp_dir};

const BATCHES: usize = 60;
const PER_BATCH: usize = 50;

/// The native body of batch `b`: `PER_BATCH` events of commands, tool calls (some failing,
/// with durations), token use of three models, sessions and tasks, from one of seven
/// installations (two of them ephemeral container runs), over five days.
fn body(b: usize) -> Vec<u8> {
    let installation = match b % 7 {
        5 => "ephemeral_00000000000000a1".to_string(),
        6 => "ephemeral_00000000000000b2".to_string(),
        n => format!("install_{n:016x}"),
    };
    let events: Vec<String> = (0..PER_BATCH)
        .map(|i| {
            let n = b * PER_BATCH + i;
            let data = match n % 6 {
                0 => format!(
                    r#"{{"type":"command","action":"{}","outcome":"{}","arg_count":1,"flags":[]}}"#,
                    ["run", "new", "eval"][n / 6 % 3],
                    if n.is_multiple_of(5) { "failure" } else { "success" }
                ),
                1 | 2 => format!(
                    r#"{{"type":"tool_call","tool":"tool_{}","outcome":"{}","duration_ms":{}}}"#,
                    n % 17,
                    if n.is_multiple_of(4) { "failure" } else { "success" },
                    (n * 37) % 2000
                ),
                3 => format!(
                    r#"{{"type":"token_usage","model":"{}","input_tokens":{},"output_tokens":{},"cached_tokens":0,"reasoning_tokens":0,"session_id":"session_{:024x}"}}"#,
                    ["gpt-4o", "claude-sonnet-4", "made-up-model"][n / 6 % 3],
                    100 + n,
                    10 + n % 50,
                    n / 30
                ),
                4 if (n / 6).is_multiple_of(2) => format!(
                    r#"{{"type":"session_start","session_id":"session_{:024x}"}}"#,
                    n / 30
                ),
                4 => format!(
                    r#"{{"type":"session_end","session_id":"session_{:024x}","outcome":"{}","tasks_processed":1,"totals":{{"cost_usd":0.01,"duration_ms":{},"error_count":0,"input_tokens":10,"output_tokens":5,"tool_calls":1,"tool_failures":0}}}}"#,
                    n / 30,
                    ["success", "failure", "cancelled"][n / 12 % 3],
                    (n * 53) % 9000
                ),
                _ => format!(
                    r#"{{"type":"task","task_id":"task_{:024x}","state":"{}","tags":[],"has_parent":false}}"#,
                    n / 3,
                    ["created", "completed", "failed"][n / 6 % 3]
                ),
            };
            format!(
                r#"{{"event_id":"0190a0b0-0000-7000-8000-{n:012x}","occurred_at":"2026-03-0{day}T{hour:02}:00:00.000Z","schema_version":2,"source":"cli","environment":"production","installation_id":"{installation}","product":"agent","product_version":"1.{minor}.0","os":"linux","arch":"x86_64","ci":{ci},"data":{data}}}"#,
                day = 1 + b % 5,
                hour = i % 24,
                minor = b % 3,
                ci = b % 7 == 6,
            )
        })
        .collect();
    format!(
        r#"{{"schema":"agent-telemetry/batch","schema_version":2,"batch_id":"0190a0b0-0000-7000-9000-{b:012x}","sent_at":"2026-03-06T00:00:00.000Z","dropped_events":0,"events":[{}]}}"#,
        events.join(",")
    )
    .into_bytes()
}

/// Posts every batch from six senders at once, batch `b` to collector `b % 3`, and every
/// fourth batch a second time to the next collector at the same moment (a retry that lands on
/// another collector while the first still writes). Returns the events posted.
async fn send_all(collectors: &[SocketAddr]) -> usize {
    let mut senders = Vec::new();
    for s in 0..6 {
        let collectors = collectors.to_vec();
        senders.push(tokio::spawn(async move {
            let mut posted = 0;
            for b in (s..BATCHES).step_by(6) {
                let body = body(b);
                let to = collectors[b % collectors.len()];
                if b.is_multiple_of(4) {
                    let again = collectors[(b + 1) % collectors.len()];
                    let (first, second) = tokio::join!(
                        support::post(to, "/v1/batch", &body),
                        support::post(again, "/v1/batch", &body)
                    );
                    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
                    posted += 2 * PER_BATCH;
                } else {
                    let (status, text) = support::post(to, "/v1/batch", &body).await;
                    assert_eq!(status, 200, "{text}");
                    posted += PER_BATCH;
                }
            }
            posted
        }));
    }
    let mut posted = 0;
    for s in senders {
        posted += s.await.unwrap();
    }
    posted
}

/// `a` and `b` are the same report: equal but for the last bits of sums of floats, which
/// each database adds in its own order.
fn same(a: &Value, b: &Value) {
    fn walk(a: &Value, b: &Value, at: &str) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}"
                );
                for (k, v) in x {
                    walk(v, &y[k], &format!("{at}.{k}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    walk(v, w, &format!("{at}[{i}]"));
                }
            }
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{at}: {x} != {y}");
            }
            _ => assert_eq!(a, b, "{at}: PostgreSQL and SQLite disagree"),
        }
    }
    walk(a, b, "report");
}

async fn report_json(db: &str) -> Value {
    let (code, out, err, _) = run_cli(&["report", "--db", db, "--json"], &[]).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The store's own counts, read with the library (its PostgreSQL client blocks: on a thread).
async fn counts(db: &str) -> agent_telemetry_collector::CollectorCounts {
    let db = db.to_string();
    tokio::task::spawn_blocking(move || {
        agent_telemetry_collector::EventStore::open_location(&db)
            .unwrap()
            .counts()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_collectors_share_one_postgres_database_and_report_what_sqlite_reports() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("three_collectors");
    let mut children = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let (addr, child) = collect(std::path::Path::new(&url), &[]).await;
        addrs.push(addr);
        children.push(child);
    }
    let posted = send_all(&addrs).await;
    let unique = BATCHES * PER_BATCH;
    assert!(posted > unique);

    let stored = counts(&url).await;
    assert_eq!(stored.events, unique as u64, "every event once");
    assert_eq!(stored.duplicates, (posted - unique) as u64);
    assert_eq!(stored.batches, (posted / PER_BATCH) as u64);

    // The same bodies, once each, into one SQLite collector: the same report.
    let dir = temp_dir("postgres-sqlite");
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = dir.join("same.sqlite3");
    let (addr, child) = collect(&sqlite, &[]).await;
    send_all(&[addr]).await;
    let from_postgres = report_json(&url).await;
    let from_sqlite = report_json(sqlite.to_str().unwrap()).await;
    assert_eq!(from_postgres["events"], unique as u64);
    assert_eq!(from_postgres["installations"], 5);
    assert_eq!(from_postgres["container_runs"], 1);
    assert_eq!(from_postgres["ci_runs"], 1);
    assert!(
        from_postgres["tools"].as_array().unwrap().len() > 3,
        "{from_postgres}"
    );
    assert!(from_postgres["sessions"]["p95_ms"].as_u64().unwrap() > 0);
    same(&from_postgres, &from_sqlite);
    // And filtered alike.
    let filtered = |db: String| async move {
        let args = [
            "report",
            "--db",
            &db,
            "--json",
            "--version",
            "1.1.0",
            "--kind",
            "tool_call,token_usage",
            "--since",
            "2026-03-02",
        ];
        let (code, out, err, _) = run_cli(&args, &[]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let (a, b) = (
        filtered(url.clone()).await,
        filtered(sqlite.to_str().unwrap().to_string()).await,
    );
    assert!(a["events"].as_u64().unwrap() > 0);
    assert!(a["events"].as_u64().unwrap() < unique as u64);
    same(&a, &b);
    drop(child);
    drop(children);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_at_one_collector_keeps_the_others_from_storing_that_installation() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("forget_across");
    let (one, _a) = collect(std::path::Path::new(&url), &[]).await;
    let (two, _b) = collect(std::path::Path::new(&url), &[]).await;
    // Batch 0 is of install_0000000000000000; batch 1 of another installation.
    assert_eq!(support::post(one, "/v1/batch", &body(0)).await.0, 200);
    assert_eq!(support::post(two, "/v1/batch", &body(1)).await.0, 200);
    let request =
        agent_telemetry_contract::deletion::DeletionRequest::new("install_0000000000000000")
            .unwrap()
            .to_json();
    let (status, receipt) = support::post(one, "/v1/batch", &request).await;
    assert_eq!(status, 200, "{receipt}");
    assert!(receipt.contains(&PER_BATCH.to_string()), "{receipt}");
    // A late copy of the forgotten installation's batch, at the other collector.
    let (status, text) = support::post(two, "/v1/batch", &body(7)).await;
    assert_eq!(status, 200, "{text}");
    let stored = counts(&url).await;
    assert_eq!(
        stored.events, PER_BATCH as u64,
        "only the other installation's"
    );
    assert_eq!(
        (stored.deletions, stored.deleted_events),
        (1, PER_BATCH as u64)
    );
    // Ctrl-C: the collector closes its connection and exits cleanly (the client's close
    // blocks, which an async thread must not).
    let mut a = _a;
    let pid = a.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), a.wait())
        .await
        .expect("collect did not stop on ctrl-c")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_of_a_newer_layout_is_refused_and_an_unreachable_one_named_safely() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("layout");
    let opened = url.clone();
    tokio::task::spawn_blocking(move || {
        // Opened twice: the second open finds the layout in place.
        drop(agent_telemetry_collector::EventStore::open_location(&opened).unwrap());
        drop(agent_telemetry_collector::EventStore::open_location(&opened).unwrap());
        let mut client = postgres::Client::connect(&opened, postgres::NoTls).unwrap();
        client
            .batch_execute("UPDATE agent_telemetry_layout SET version = 99")
            .unwrap();
    })
    .await
    .unwrap();
    let (code, _, err, _) = run_cli(&["report", "--db", &url], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("newer collector (layout 99)"), "{err}");
    // A server that is not there: an error that names it without the password.
    let dead = format!(
        "postgres://someone:s3cret@{}/nothing?connect_timeout=5",
        support::dead_port()
    );
    let (code, _, err, _) = run_cli(&["report", "--db", &dead], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot connect to the PostgreSQL database nothing"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// The advisory lock a `forget` of `installation` takes: the first eight bytes of the id's
/// SHA-256, as the deletions table keeps it.
fn forget_lock(installation: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(installation.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_stored_while_a_forget_runs_waits_and_then_finds_the_deletion() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("forget_race");
    tokio::task::spawn_blocking(move || {
        use agent_telemetry_collector::EventStore;
        let store = EventStore::connect(&url).unwrap();
        let installation = "install_0000000000000000";
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(installation.as_bytes()))
        };
        // A forget at another collector, stopped between its start and its commit.
        let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut forget = other.transaction().unwrap();
        forget
            .execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&forget_lock(installation)],
            )
            .unwrap();
        let batch: agent_telemetry_contract::wire::Batch =
            serde_json::from_slice(&body(0)).unwrap();
        let storing = std::thread::spawn(move || store.ingest(&batch).unwrap());
        // Long enough for the body to have been stored, had it not waited.
        std::thread::sleep(std::time::Duration::from_millis(500));
        forget
            .execute(
                "INSERT INTO deletions (installation_sha256, at_ms, deleted_events)
                 VALUES ($1, 0, 0)",
                &[&hash],
            )
            .unwrap();
        forget.commit().unwrap();
        let ingested = storing.join().unwrap();
        assert_eq!(
            (ingested.accepted, ingested.forgotten),
            (0, PER_BATCH),
            "the body waited for the forget and found it"
        );
        let events: i64 = other
            .query_one("SELECT COUNT(*) FROM events", &[])
            .unwrap()
            .get(0);
        assert_eq!(events, 0);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_connects_again_after_its_session_is_ended_and_a_reader_needs_no_write_right() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("reconnect");
    let (addr, _collector) = collect(std::path::Path::new(&url), &[]).await;
    assert_eq!(support::post(addr, "/v1/batch", &body(0)).await.0, 200);
    // An administrator ends every other session (as a server restart would).
    let admin = url.clone();
    let ended: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
                &[],
            )
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert!(ended >= 1, "the collector's session was ended");
    // The body sent next finds the connection closed, and the collector opens a new one.
    let (status, text) = support::post(addr, "/v1/batch", &body(1)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(counts(&url).await.events, 2 * PER_BATCH as u64);

    // A role that may only read: `report` needs nothing more of a database of its layout.
    let admin = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "CREATE ROLE reader LOGIN;
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;",
            )
            .unwrap();
    })
    .await
    .unwrap();
    let reader = reader_url(&url);
    let report = report_json(&reader).await;
    assert_eq!(report["events"], 2 * PER_BATCH as u64);
    // And `--max-db-size` is refused, with the reason, rather than never clearing.
    let (code, _, err, _) = run_cli(
        &[
            "collect",
            "--db",
            &url,
            "--port",
            "0",
            "--max-db-size",
            "1M",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server's quotas"), "{err}");
}

/// `url` as the user `reader` (a parameter after the URL's own user wins).
fn reader_url(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}user=reader")
}

/// The report from PostgreSQL's day tables is its report from the events, over ranges that
/// cut days anywhere, after duplicates, a forget and retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_tables_read_as_the_events_in_postgres() {
    use agent_telemetry_collector::report::{Filter, Range, Report};
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.database("daily");
    tokio::task::spawn_blocking(move || {
        let store = agent_telemetry_collector::EventStore::connect(&url).unwrap();
        for b in (0..BATCHES).chain(0..5) {
            let batch: agent_telemetry_contract::wire::Batch =
                serde_json::from_slice(&body(b)).unwrap();
            store.ingest(&batch).unwrap();
        }
        // 2026-03-01, 00:00 UTC.
        const MARCH: i64 = 1_772_323_200_000;
        const DAY: i64 = 86_400_000;
        let check = |store: &agent_telemetry_collector::EventStore| {
            let filters = [
                Filter::default(),
                Filter {
                    version: Some("1.1.0".into()),
                    ..Filter::default()
                },
                Filter {
                    kinds: vec!["tool_call".into()],
                    ..Filter::default()
                },
            ];
            for (since, until) in [
                (None, None),
                (
                    Some(MARCH + DAY + 3_600_000 + 7),
                    Some(MARCH + 4 * DAY - 11),
                ),
                (Some(MARCH + 2 * DAY), None),
                (
                    Some(MARCH + 2 * DAY + 60_000),
                    Some(MARCH + 2 * DAY + 7_200_000),
                ),
            ] {
                for filter in &filters {
                    let range = Range { since, until };
                    let daily = Report::build_filtered(store, range, filter.clone(), 15).unwrap();
                    let raw = Report::build_from_events(store, range, filter.clone(), 15).unwrap();
                    same(
                        &serde_json::to_value(&daily).unwrap(),
                        &serde_json::to_value(&raw).unwrap(),
                    );
                }
            }
        };
        check(&store);
        // Two collectors' retention at once (each runs it when it starts): the events they
        // delete are taken out of the day tables once.
        let other = agent_telemetry_collector::EventStore::connect(&url).unwrap();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| store.delete_outside(MARCH + 3_600_000, i64::MAX));
            let b = s.spawn(|| other.delete_outside(MARCH + 3_600_000, i64::MAX));
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        assert!(a + b > 0, "the first hour's events were deleted");
        check(&store);
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let of_two: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM events WHERE installation = 'install_0000000000000002'",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(of_two > 0);
        assert_eq!(
            store.forget("install_0000000000000002").unwrap(),
            of_two as u64
        );
        check(&store);
        assert!(
            store
                .delete_outside(MARCH + DAY + 5 * 3_600_000, MARCH + 4 * DAY + 7_000_000)
                .unwrap()
                > 0
        );
        check(&store);
        let left: i64 = client
            .query_one("SELECT COUNT(*) FROM daily_events WHERE events <= 0", &[])
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
    })
    .await
    .unwrap();
}

/// A CA, and a certificate for 127.0.0.1 it signed with its key, in `dir`: `ca.pem`,
/// `server.crt` and `server.key`.
fn certificates(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_takes_only_tls_is_reached_with_its_ca_and_refused_without() {
    let dir = temp_dir("postgres-tls-certs");
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let (pg, tls_url) = tokio::task::spawn_blocking(move || Postgres::start_tls(&cert, &key))
        .await
        .unwrap();
    let socket = pg.database("tls");
    let name = socket.split('/').nth(3).unwrap().split('?').next().unwrap();
    let url = support::postgres::with_database(&tls_url, name);
    let ca = dir.join("ca.pem");
    let ca_param = format!("sslrootcert={}", ca.display());

    // The server refuses a connection without TLS on its port.
    let (code, _, err, _) =
        run_cli(&["report", "--db", &format!("{url}?sslmode=disable")], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot connect to the PostgreSQL database"),
        "{err}"
    );
    // Its certificate is not from a public CA: refused without the CA given.
    let (code, _, err, _) =
        run_cli(&["report", "--db", &format!("{url}?sslmode=require")], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // A CA named in the URL requires TLS: on the server's socket, where there is none, the
    // connection is refused rather than made in the clear.
    let sep = if socket.contains('?') { '&' } else { '?' };
    let (code, _, err, _) = run_cli(
        &["report", "--db", &format!("{socket}{sep}{ca_param}")],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot connect"), "{err}");

    // With the CA, in the URL (as libpq's `sslmode=verify-full&sslrootcert=`): a collector
    // stores and the report reads, over TLS, since the server takes nothing else there.
    let verified = format!("{url}?sslmode=verify-full&{ca_param}");
    let (addr, _collector) = collect(std::path::Path::new(&verified), &[]).await;
    let (status, text) = support::post(addr, "/v1/batch", &body(0)).await;
    assert_eq!(status, 200, "{text}");
    let report = report_json(&verified).await;
    assert_eq!(report["events"], PER_BATCH as u64);
    // Or in PGSSLROOTCERT, the URL saying nothing of TLS (`prefer`: TLS when offered).
    let ca_file = ca.display().to_string();
    let (code, out, err, _) = run_cli(
        &["report", "--db", &url, "--json"],
        &[("PGSSLROOTCERT", ca_file.as_str())],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["events"], PER_BATCH as u64);
    // The server saw TLS sessions: its own view of them.
    let used: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&socket, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE s.ssl AND a.datname = current_database()",
                &[],
            )
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert!(used >= 1, "the collector's session is a TLS one");
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
