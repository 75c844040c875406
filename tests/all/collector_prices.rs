//! Estimated cost (issue 23): the real component in the real host sends token events to a
//! real `agent-telemetry collect` on 127.0.0.1, one without a cost for a model the price table
//! knows, one for a model it does not, one with its cost reported; `agent-telemetry report`
//! shows the reported and the estimated cost apart, the table it used, and what it could not
//! price. Then the same with `collect --prices FILE`, a table of the user's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::{Telemetry, Tokens};
use agent_telemetry_collector::EventStore;

use crate::support::*;

/// A table that prices only `llama-local`: $1 a million input tokens, $2 a million output.
const OWN_TABLE: &str = r#"{
    "name": "team prices",
    "date": "2026-01-31",
    "source": "what our GPU hours cost",
    "models": {"llama-local": {"input": 1.0, "output": 2.0}}
}"#;

/// Starts `collect --db <dir>/c.sqlite3` with `args`, sends the three token events through
/// the component to it, and returns the database once it holds them.
async fn three_token_events(dir: &Path, args: &[&str]) -> PathBuf {
    let db = dir.join("c.sqlite3");
    let (addr, child) = collect(&db, args).await;
    let home = dir.join("home");
    let telemetry = Telemetry::start(settings(&format!("http://{addr}/v1/batch"), &home))
        .await
        .unwrap();
    let tokens = Tokens {
        input: 1_000_000,
        output: 100_000,
        ..Tokens::default()
    };
    // A dated name: the table's `gpt-4o` prices it.
    telemetry.record_token_usage("gpt-4o-2024-08-06", None, None, tokens, None);
    telemetry.record_token_usage("llama-local", None, None, tokens, None);
    telemetry.record_token_usage("claude-sonnet-4-5", None, None, tokens, Some(0.25));
    let sent = telemetry.shutdown(Duration::from_secs(5)).await;
    assert_eq!((sent.sent, sent.failed, sent.dropped), (3, 0, 0));
    let store = EventStore::open(Some(&db)).unwrap();
    assert_eq!(events_in(&store, 3, Duration::from_secs(5)).await, 3);
    drop(child);
    db
}

/// `report --db <db> --json` and its text.
async fn report(db: &Path) -> (serde_json::Value, String) {
    let db = db.to_str().unwrap();
    let (code, json, stderr, _) = run_cli(&["report", "--db", db, "--json"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, text, stderr, _) = run_cli(&["report", "--db", db], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    (serde_json::from_str(&json).unwrap(), text)
}

/// Each model's (name, reported, estimated, unpriced), as the JSON report has them.
fn models(json: &serde_json::Value) -> Vec<(String, f64, f64, u64)> {
    let mut rows: Vec<_> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model"].as_str().unwrap().to_string(),
                m["cost_usd"].as_f64().unwrap(),
                m["estimated_cost_usd"].as_f64().unwrap(),
                m["unpriced_events"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[tokio::test]
async fn the_report_shows_reported_and_estimated_cost_apart_and_counts_the_unpriced() {
    let dir = temp_dir("prices-default");
    std::fs::create_dir_all(&dir).unwrap();
    let db = three_token_events(&dir, &[]).await;
    let (json, text) = report(&db).await;
    // gpt-4o at $2.50 and $10 a million: 1M input and 0.1M output are $3.50.
    assert_eq!(
        models(&json),
        [
            ("claude-sonnet-4-5".to_string(), 0.25, 0.0, 0),
            ("gpt-4o-2024-08-06".to_string(), 0.0, 3.5, 0),
            ("llama-local".to_string(), 0.0, 0.0, 1),
        ]
    );
    let cost = &json["cost"];
    assert_eq!(cost["reported_usd"], 0.25);
    assert_eq!(cost["estimated_usd"], 3.5);
    assert_eq!(
        (&cost["unpriced_events"], &cost["unpriced_models"]),
        (&1.into(), &1.into())
    );
    assert_eq!(
        cost["prices"],
        serde_json::json!(["agent-telemetry default (2025-11-24)"])
    );
    let summary = "cost $0.2500 reported, $3.5000 estimated (prices: agent-telemetry default \
        (2025-11-24)); unpriced: 1 event of 1 model";
    assert!(text.contains(summary), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn collect_prices_file_estimates_from_the_users_table_and_a_bad_one_stops_it() {
    let dir = temp_dir("prices-own");
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("prices.json");
    std::fs::write(&table, OWN_TABLE).unwrap();
    let db = three_token_events(&dir, &["--prices", table.to_str().unwrap()]).await;
    let (json, text) = report(&db).await;
    // Its table knows llama-local only: 1M input at $1 and 0.1M output at $2 are $1.20.
    assert_eq!(
        models(&json),
        [
            ("claude-sonnet-4-5".to_string(), 0.25, 0.0, 0),
            ("gpt-4o-2024-08-06".to_string(), 0.0, 0.0, 1),
            ("llama-local".to_string(), 0.0, 1.2, 0),
        ]
    );
    let label = format!("team prices (2026-01-31) from {}", table.display());
    assert_eq!(json["cost"]["prices"], serde_json::json!([label]));
    assert_eq!(json["cost"]["estimated_usd"], 1.2);
    assert!(
        text.contains(&format!("(prices: {label}); unpriced: 1 event of 1 model")),
        "{text}"
    );

    // A table that is not one: a clear error before it listens, not a panic.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "t", "date": "2026-01-31", "models": {"m": {"input": -1, "output": 1}}}"#,
    )
    .unwrap();
    let other_db = dir.join("other.sqlite3");
    let (code, stdout, stderr, _) = run_cli(
        &[
            "collect",
            "--port",
            "0",
            "--db",
            other_db.to_str().unwrap(),
            "--prices",
            bad.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("bad.json") && stderr.contains("`m` has a price that is negative"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
