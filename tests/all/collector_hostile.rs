//! The collector against hostile senders, as the `collect` command runs it: small bodies that
//! inflate or decode into far more memory than they weigh, records padded with properties,
//! names and times out of bounds, a database that must not grow past its size, and stored
//! records that the report must survive (whatever wrote them).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use agent_telemetry_collector::ingest::{Fact, Received};
use agent_telemetry_collector::{EventStore, Format};

use crate::support::*;

const JSON: (&str, &str) = ("content-type", "application/json");
const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const GZIP: (&str, &str) = ("content-encoding", "gzip");

/// Just under the collector's 16 MiB inflated limit: what a bomb inflates to.
const INFLATED: usize = (16 << 20) - (64 << 10);

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// `head`, then `item` as often as fits in [`INFLATED`], then `tail`.
fn repeated(head: &str, item: &str, tail: &str) -> Vec<u8> {
    let n = (INFLATED - head.len() - tail.len()) / item.len();
    let mut body = Vec::with_capacity(INFLATED);
    body.extend_from_slice(head.as_bytes());
    for _ in 0..n {
        body.extend_from_slice(item.as_bytes());
    }
    // A trailing separator the item left is dropped so the JSON stays well formed.
    if body.last() == Some(&b',') {
        body.pop();
    }
    body.extend_from_slice(tail.as_bytes());
    body
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// An OTLP export request of one resource, one scope and as many empty log records as fit:
/// two bytes each on the wire, a whole `LogRecord` each once decoded.
fn otlp_bomb() -> Vec<u8> {
    let records = [0x12u8, 0x00].repeat((INFLATED - 16) / 2);
    let mut scope = vec![0x12];
    varint(records.len() as u64, &mut scope);
    scope.extend_from_slice(&records);
    let mut request = vec![0x0a];
    varint(scope.len() as u64, &mut request);
    request.extend_from_slice(&scope);
    request
}

/// A request's headers: (name, value).
type Headers = Vec<(&'static str, &'static str)>;

/// The hostile bodies: each a gzip of 16 to 25 KB that inflates to nearly 16 MiB.
fn bombs() -> Vec<(&'static str, Headers, Vec<u8>)> {
    vec![
        ("/v1/logs", vec![PROTOBUF, GZIP], gzip(&otlp_bomb())),
        (
            "/v1/logs",
            vec![JSON, GZIP],
            gzip(&repeated(
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":["#,
                "{},",
                "]}]}]}",
            )),
        ),
        (
            "/events/v1/track",
            vec![JSON, GZIP],
            gzip(&repeated(r#"{"records":["#, r#"{"a":0},"#, "]}")),
        ),
        (
            "/v1/events",
            vec![JSON, GZIP],
            gzip(&repeated(
                r#"{"product":"agent-swarm","properties":{"a":["#,
                r#"{"a":0},"#,
                "]}}",
            )),
        ),
        (
            "/v1/batch",
            vec![JSON, GZIP],
            gzip(&repeated(
                r#"{"schema":"agent-telemetry/batch","schema_version":2,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{"event_id":"e","occurred_at":"2026-01-01T00:00:00.000Z","schema_version":2,"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false,"data":{"type":"command","action":"run","outcome":"success","arg_count":0,"flags":["#,
                r#""","#,
                "]}}]}",
            )),
        ),
    ]
}

/// The most memory the process `pid` has had resident, in bytes (Linux's `VmHWM`).
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    kb * 1024
}

/// POSTs like `post_with`, but a connection closed by a collector that died is a status of 0
/// rather than a panic, so the test says what happened.
async fn try_post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    let path = path.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = body.to_vec();
    tokio::spawn(async move {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        post_with(addr, &path, &headers, &body).await.0
    })
    .await
    .unwrap_or(0)
}

const DOCKER_OK: &str = r#"{"records":[{"event":"tool","event_timestamp":1767225600000,"source":"test","properties":{"action":"call","tool_name":"shell","duration_ms":5,"is_success":true,"user_uuid":"u1","version":"1.0","os":"linux"}}]}"#;

/// Issue 20, case 3: 16 KB bodies that decode to gigabytes. 64 of them at once (as many as the
/// collector serves) leave it under 256 MiB resident, each is refused, and it still serves.
#[tokio::test]
async fn sixty_four_hostile_bodies_at_once_keep_the_collector_under_256_mib() {
    let dir = temp_dir("hostile-rss");
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, child) = collect(&dir.join("c.sqlite3"), &[]).await;
    let pid = child.id().unwrap();
    let bombs = bombs();
    for (path, _, body) in &bombs {
        assert!(body.len() <= 32 << 10, "{path}: {} bytes", body.len());
    }
    let mut sent = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (path, headers, body) = bombs[i % bombs.len()].clone();
        sent.spawn(async move { (path, try_post(addr, path, &headers, &body).await) });
    }
    let mut statuses = Vec::new();
    while let Some(done) = sent.join_next().await {
        statuses.push(done.unwrap());
    }
    let peak = peak_resident(pid);
    eprintln!("collect's peak resident memory: {} MiB", peak >> 20);
    for (path, status) in &statuses {
        assert!(
            *status == 400 || *status == 413,
            "{path} got {status}: {statuses:?}"
        );
    }
    assert!(peak < 256 << 20, "peak resident {} MiB", peak >> 20);
    let (status, response) =
        post_with(addr, "/events/v1/track", &[JSON], DOCKER_OK.as_bytes()).await;
    assert_eq!(status, 200, "{response}");
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 20, case 3, without gzip: 64 bodies of 8 MiB at once are 512 MiB, which the collector
/// once held all together before decoding any; now the bodies it holds at once are bounded
/// (`CollectorOptions::max_body_bytes_held`), the others wait their turn, and each is still
/// answered.
#[tokio::test]
async fn sixty_four_large_plain_bodies_at_once_are_held_a_few_at_a_time() {
    let dir = temp_dir("plain-rss");
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, child) = collect(&dir.join("c.sqlite3"), &[]).await;
    let pid = child.id().unwrap();
    let body = format!(
        r#"{{"records":[{{"event":"tool","event_timestamp":1767225600000,"source":"test","properties":{{"x":"{}"}}}}]}}"#,
        "a".repeat(8 << 20)
    );
    // One body shared by every request (a copy each would put half a gigabyte in this test
    // process, and every process the other tests start at the same time would inherit it).
    let body = bytes::Bytes::from(body);
    let mut sent = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let body = body.clone();
        sent.spawn(async move { post_shared(addr, "/events/v1/track", body).await });
    }
    let mut statuses = Vec::new();
    while let Some(done) = sent.join_next().await {
        statuses.push(done.unwrap());
    }
    let peak = peak_resident(pid);
    eprintln!("collect's peak resident memory: {} MiB", peak >> 20);
    // Each refused for its record's size, none lost to a dead or stuck collector.
    assert!(statuses.iter().all(|s| *s == 413), "{statuses:?}");
    assert!(peak < 256 << 20, "peak resident {} MiB", peak >> 20);
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

/// POSTs `body` as JSON without copying it; the status, or 0 when the connection broke.
async fn post_shared(addr: SocketAddr, path: &str, body: bytes::Bytes) -> u16 {
    use http_body_util::Full;
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return 0;
    };
    let connection = tokio::spawn(connection);
    let request = http::Request::post(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .unwrap();
    let status = match sender.send_request(request).await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    };
    drop(sender);
    let _ = connection.await;
    status
}

/// A docker-agent body of one record with `extra` more properties of `value`.
fn padded_docker(extra: usize, value: &str) -> String {
    let mut props = String::from(
        r#""action":"call","tool_name":"shell","duration_ms":5,"is_success":true,"user_uuid":"u1","version":"1.0","os":"linux""#,
    );
    for i in 0..extra {
        props.push_str(&format!(r#","extra_{i}":"{value}""#));
    }
    format!(
        r#"{{"records":[{{"event":"tool","event_timestamp":1767225600000,"source":"test","properties":{{{props}}}}}]}}"#
    )
}

/// Bytes stored per event (the largest row's body).
fn largest_body(db: &Path) -> usize {
    let store = EventStore::open(Some(db)).unwrap();
    store
        .facts()
        .unwrap()
        .iter()
        .map(|f| f.fact.body.len())
        .max()
        .unwrap_or(0)
}

/// Issue 20, case 4: what one record can store is bounded, the 256-byte name rule holds in
/// every format, and `--max-db-size` refuses with a status the sender retries.
#[tokio::test]
async fn stored_bytes_are_bounded_per_record_and_per_database() {
    let dir = temp_dir("hostile-size");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("c.sqlite3");
    let (addr, child) = collect(&db, &["--max-db-size", "1M"]).await;

    // Extra properties past the bound are dropped, and the answer says how many.
    let body = padded_docker(2000, "0123456789abcdef");
    assert!(body.len() > 40 << 10);
    let (status, response) = post_with(
        addr,
        "/events/v1/track",
        &[JSON, GZIP],
        &gzip(body.as_bytes()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let answer: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert!(
        answer["dropped_properties"].as_u64().unwrap() >= 1900,
        "{answer}"
    );
    let stored = largest_body(&db);
    assert!(stored <= 16 << 10, "one record stored {stored} bytes");

    // A name over 256 bytes is refused in every format, the native one included.
    let long = "n".repeat(300);
    let mut native = batch(1);
    native.events[0].product = long.clone();
    let native = serde_json::to_vec(&native).unwrap();
    let (status, response) = post_with(addr, "/v1/batch", &[JSON], &native).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("longer than 256 bytes"), "{response}");
    let swarm = format!(
        r#"{{"product":"agent-swarm","event":"session.started","occurred_at":"2026-01-01T00:00:00.000Z","source":"server","actor_mode":"anonymous","actor_anonymous_id":"a1","properties":{{"sessionId":"{long}"}},"metadata":{{"transport":"http","schema_version":1,"environment":"production"}}}}"#
    );
    let (status, response) = post_with(addr, "/v1/events", &[JSON], swarm.as_bytes()).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("longer than 256 bytes"), "{response}");

    // A NUL character in a name is refused in every store alike (PostgreSQL's text cannot
    // hold one: stored by SQLite, it would be a body PostgreSQL refuses on every retry).
    let mut native = batch(1);
    native.events[0].product = "agent\0".to_string();
    let native = serde_json::to_vec(&native).unwrap();
    let (status, response) = post_with(addr, "/v1/batch", &[JSON], &native).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("NUL character"), "{response}");
    let swarm = r#"{"product":"agent-swarm","event":"session.started","occurred_at":"2026-01-01T00:00:00.000Z","source":"server","actor_mode":"anonymous","actor_anonymous_id":"a1","properties":{"sessionId":"s\u0000"},"metadata":{"transport":"http","schema_version":1,"environment":"production"}}"#;
    let (status, response) = post_with(addr, "/v1/events", &[JSON], swarm.as_bytes()).await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("NUL character"), "{response}");

    // A time past 9999 is refused, not stored for the report to trip on.
    let far = DOCKER_OK.replace("1767225600000", "253402300800000");
    let (status, response) = post_with(addr, "/events/v1/track", &[JSON], far.as_bytes()).await;
    assert_eq!(status, 400, "{response}");

    // Distinct records until the database is full: then 503 with a Retry-After, which the
    // sender retries later, and nothing more is stored.
    let mut refused = None;
    for n in 0..200u64 {
        let records: Vec<String> = (0..200)
            .map(|i| {
                DOCKER_OK
                    .trim_start_matches(r#"{"records":["#)
                    .trim_end_matches("]}")
                    .replace("1767225600000", &(1767225600000 + n * 1000 + i).to_string())
            })
            .collect();
        let body = format!(r#"{{"records":[{}]}}"#, records.join(","));
        let (status, response) =
            post_with(addr, "/events/v1/track", &[JSON], body.as_bytes()).await;
        if status != 200 {
            refused = Some((n, status, response));
            break;
        }
    }
    let (n, status, response) = refused.expect("a 1 MB database was never full");
    assert_eq!(status, 503, "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after:"),
        "{response}"
    );
    assert!(n > 0, "refused before anything was stored");
    drop(child);
    let size = std::fs::metadata(&db).unwrap().len();
    assert!(size < 2 << 20, "the database grew to {size} bytes");
    std::fs::remove_dir_all(&dir).ok();
}

/// What the report reads is bounded as well as what it does not: an OTLP attribute the report
/// reads cannot be a map that stores far more than it weighs; a native event's tags and flags
/// are held to the name rule; and two docker-agent records that differ only in what the bounds
/// drop stay two.
#[tokio::test]
async fn what_the_report_reads_is_bounded_too() {
    let dir = temp_dir("hostile-read");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("c.sqlite3");
    let (addr, child) = collect(&db, &[]).await;

    // `gen_ai.conversation.id` is read for every kind; here it is a map of 2,000 entries.
    let entries = vec![r#"{"key":"","value":{}}"#; 2000].join(",");
    let otlp = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"p"}}}},
            {{"key":"service.version","value":{{"stringValue":"1.0"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"i1"}}}}]}},
          "scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1767225600000000000","eventName":"agent_telemetry.command",
            "attributes":[{{"key":"log.record.uid","value":{{"stringValue":"u-1"}}}},
              {{"key":"agent_telemetry.command.action","value":{{"stringValue":"run"}}}},
              {{"key":"agent_telemetry.outcome","value":{{"stringValue":"success"}}}},
              {{"key":"gen_ai.conversation.id","value":{{"kvlistValue":{{"values":[{entries}]}}}}}}]}}]}}]}}]}}"#
    );
    let (status, response) = post_with(addr, "/v1/logs", &[JSON], otlp.as_bytes()).await;
    assert_eq!(status, 200, "{response}");
    let stored = largest_body(&db);
    assert!(stored <= 4 << 10, "one OTLP record stored {stored} bytes");

    // A tag value or a list of flags past the rule, in a native event.
    let mut tagged = batch(1);
    tagged.events[0]
        .tags
        .insert("note".to_string(), "t".repeat(300));
    let (status, response) = post_with(
        addr,
        "/v1/batch",
        &[JSON],
        &serde_json::to_vec(&tagged).unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{response}");
    let mut flagged = batch(1);
    flagged.events[0].data = agent_telemetry::wire::Data::Command {
        action: "run".to_string(),
        outcome: agent_telemetry::wire::Outcome::Success,
        error: None,
        arg_count: 0,
        flags: vec!["--x".to_string(); 100],
    };
    let (status, response) = post_with(
        addr,
        "/v1/batch",
        &[JSON],
        &serde_json::to_vec(&flagged).unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{response}");

    // Two records, the same but for properties past the bound: both stored.
    // `zzz` sorts after the 200 extra properties, so it is among those dropped.
    let a = padded_docker(200, "aaaa");
    let b = a.replacen(r#""os":"linux""#, r#""os":"linux","zzz":"b""#, 1);
    assert_ne!(a, b);
    let records = |body: &str| {
        body.trim_start_matches(r#"{"records":["#)
            .trim_end_matches("]}")
            .to_string()
    };
    let both = format!(r#"{{"records":[{},{}]}}"#, records(&a), records(&b));
    let (status, response) = post_with(addr, "/events/v1/track", &[JSON], both.as_bytes()).await;
    assert_eq!(status, 200, "{response}");
    let answer: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(answer["accepted"], 2, "{answer}");
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

/// `--retain DAYS` deletes what is older when the collector starts.
#[tokio::test]
async fn retain_deletes_older_events_at_start() {
    let dir = temp_dir("hostile-retain");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("c.sqlite3");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    {
        let store = EventStore::open(Some(&db)).unwrap();
        // Older than 30 days, a day old, and dated in the year 9000 (a sender's clock, or a
        // record meant never to age out).
        let facts = [
            now_ms - 40 * 86_400_000,
            now_ms - 86_400_000,
            221_845_392_000_000,
        ]
        .iter()
        .map(|&at| fact(&format!("t{at}"), at, "command", "run"))
        .collect();
        store
            .store(
                Format::Docker,
                &Received {
                    facts,
                    ..Received::default()
                },
            )
            .unwrap();
    }
    let (_, child) = collect(&db, &["--retain", "30"]).await;
    let left: Vec<i64> = EventStore::open(Some(&db))
        .unwrap()
        .facts()
        .unwrap()
        .iter()
        .map(|f| f.fact.occurred_ms)
        .collect();
    assert_eq!(left, [now_ms - 86_400_000]);
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

fn fact(id: &str, occurred_ms: i64, kind: &'static str, subject: &str) -> Fact {
    Fact {
        id: id.to_string(),
        occurred_ms,
        kind,
        installation: "i".to_string(),
        product: "p".to_string(),
        version: "1".to_string(),
        os: "linux".to_string(),
        subject: Some(subject.to_string()),
        outcome: Some("success".to_string()),
        body: "{}".to_string(),
        ..Fact::default()
    }
}

/// Issue 20, case 5: whatever is stored (a time past 9999 or before 1970, sums past any
/// float, terminal escapes in names, 100,000 distinct names), `report` prints text, JSON and
/// the page, each bounded, and the text carries no control character.
#[tokio::test]
async fn report_survives_anything_stored() {
    let dir = temp_dir("hostile-report");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("c.sqlite3");
    {
        let store = EventStore::open(Some(&db)).unwrap();
        let mut facts = vec![
            fact("far", 253_402_300_800_000 + 86_400_000, "command", "far"),
            fact("before", -86_400_000, "command", "before"),
            fact("max", i64::MAX, "tool_call", "max"),
            fact(
                "escape",
                1_767_225_600_000,
                "tool_call",
                "\x1b[2J\x1b]0;owned\x07red",
            ),
        ];
        for (i, cost) in [f64::MAX, f64::MAX].into_iter().enumerate() {
            let mut f = fact(&format!("cost{i}"), 1_767_225_600_000, "token_usage", "m");
            f.cost_usd = Some(cost);
            f.input_tokens = Some(i64::MAX);
            facts.push(f);
        }
        for i in 0..100_000 {
            facts.push(fact(
                &format!("tool{i}"),
                1_767_225_600_000 + i,
                "tool_call",
                &format!("tool-{i}"),
            ));
            facts.push(fact(
                &format!("cmd{i}"),
                1_767_225_600_000 + i,
                "command",
                &format!("cmd-{i}"),
            ));
            let mut v = fact(
                &format!("v{i}"),
                1_767_225_600_000 + i * 86_400_000,
                "server",
                "started",
            );
            v.version = format!("v{i}");
            facts.push(v);
        }
        store
            .store(
                Format::Docker,
                &Received {
                    facts,
                    ..Received::default()
                },
            )
            .unwrap();
    }
    let db_arg = db.to_str().unwrap();
    let page = dir.join("page.html");
    let (code, text, stderr, _) = run_cli(
        &["report", "--db", db_arg, "--html", page.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in the text report"
    );
    assert!(
        text.lines().count() < 1000,
        "{} lines",
        text.lines().count()
    );
    // 100,000 tools, less the top: one `other` row sums them.
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("other ({} names)", 100_000 + 2 - 15))),
        "no `other (K names)` row in the text"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 1 << 20, "the page is {} bytes", html.len());
    assert!(!html.contains('\x1b'));
    let (code, json, stderr, _) = run_cli(&["report", "--db", db_arg, "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(json.len() < 1 << 20, "the JSON is {} bytes", json.len());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        json["tools"].as_array().unwrap().len() <= 100,
        "{}",
        json["tools"]
    );
    assert!(
        json["more"]["tools"].as_u64().unwrap() > 99_000,
        "{}",
        json["more"]
    );
    let tools = json["tools"].as_array().unwrap();
    let other = tools.last().unwrap();
    assert_eq!(other["folded"], json["more"]["tools"], "{other}");
    assert_eq!(other["count"], other["folded"], "one call each: {other}");
    // The over-time sections are bounded too, whatever the times stored.
    assert!(json["over_time"]["periods"].as_array().unwrap().len() <= 104);
    assert!(json["retention"]["weeks"].as_array().unwrap().len() <= 104);
    std::fs::remove_dir_all(&dir).ok();
}
