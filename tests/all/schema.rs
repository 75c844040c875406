//! The native batch's JSON Schema: published in `guest/contract/batch.schema.json`, generated
//! from the wire types so it cannot drift, and checked by an independent validator (the
//! `jsonschema` crate) on every batch the tests' collectors take (`support::schema_check`).

use crate::support::{self, BATCH_SCHEMA, run_cli};

#[tokio::test]
async fn the_published_schema_is_the_one_the_wire_types_generate() {
    let (code, stdout, stderr, _) = run_cli(&["schema"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let generated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let published: serde_json::Value = serde_json::from_str(BATCH_SCHEMA).unwrap();
    assert!(
        generated == published,
        "guest/contract/batch.schema.json is out of date: regenerate it with \
         `cargo run --bin agent-telemetry -- schema > guest/contract/batch.schema.json`"
    );
}

#[tokio::test]
async fn the_published_counts_schema_is_the_one_the_upload_types_generate() {
    let (code, stdout, stderr, _) = run_cli(&["schema", "--counts"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let generated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let published: serde_json::Value = serde_json::from_str(support::COUNTS_SCHEMA).unwrap();
    assert!(
        generated == published,
        "guest/contract/counts.schema.json is out of date: regenerate it with \
         `cargo run --bin agent-telemetry -- schema --counts > guest/contract/counts.schema.json`"
    );
}

#[test]
fn the_validator_takes_a_batch_and_refuses_what_the_schema_does_not_describe() {
    let check = support::schema_check();
    let good = serde_json::to_value(support::batch(2)).unwrap();
    let bytes = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
    assert_eq!(check(&bytes(&good)), Ok(()));

    type Spoil = fn(&mut serde_json::Value);
    let bad: [(&str, Spoil); 7] = [
        ("an unknown field", |b| b["prompt"] = "hello".into()),
        ("an unknown field in an event", |b| {
            b["events"][0]["cwd"] = "/home".into()
        }),
        ("a string for a number", |b| {
            b["dropped_events"] = "3".into()
        }),
        ("an unknown event type", |b| {
            b["events"][0]["data"]["type"] = "keystroke".into()
        }),
        ("a missing field", |b| {
            b["envelope"]
                .as_object_mut()
                .unwrap()
                .remove("installation_id");
        }),
        ("a missing event field", |b| {
            b["events"][1]
                .as_object_mut()
                .unwrap()
                .remove("occurred_at");
        }),
        ("the envelope in an event, as version 2 wrote it", |b| {
            b["events"][0]["installation_id"] = b["envelope"]["installation_id"].clone()
        }),
    ];
    for (what, spoil) in bad {
        let mut batch = good.clone();
        spoil(&mut batch);
        assert!(check(&bytes(&batch)).is_err(), "{what} passed the schema");
    }
}
