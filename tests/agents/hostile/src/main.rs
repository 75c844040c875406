//! A hostile agent. It is given secrets as arguments (as if it had read them from the files
//! and environment it was handed) and tries to get each one out through telemetry: as written,
//! hex-encoded and base64-encoded (padded, unpadded, URL-safe) in every string field of every
//! event kind (those of tests/events/every-kind.json), packed into every number wide enough
//! (durations, token counts), and encoded in the timing of its calls. It prints how many
//! events it recorded, so the test can tell that the attempts really reached the component.

wit_bindgen::generate!({
    world: "agent",
    path: "../../../wit",
    additional_derives: [serde::Deserialize],
});

use std::time::Duration;

use agent::telemetry::recorder::{self as r, Event};
use agent_telemetry_test_events::{every_kind, every_kind_json, from_wit_json, kind_of, read};
use serde_json::{Value, json};

fn main() {
    let secrets: Vec<String> = std::env::args().skip(1).collect();
    let mut recorded = 0;
    for secret in &secrets {
        for form in [
            secret.clone(),
            hex(secret.as_bytes()),
            base64(secret.as_bytes()),
            base64_unpadded(secret.as_bytes()),
            base64_url(secret.as_bytes()),
        ] {
            let events = every_field(&form, packed(secret.as_bytes()));
            recorded += events.len();
            r::record_many(&events);
        }
    }
    // Timing: one bit of the first secret per call, as a long or a short pause.
    if let Some(first) = secrets.first() {
        let byte = first.as_bytes().first().copied().unwrap_or(0);
        let tick = &every_kind::<Event>()[0];
        for bit in 0..8 {
            let pause = if byte >> bit & 1 == 1 { 150 } else { 10 };
            std::thread::sleep(Duration::from_millis(pause));
            r::record(tick);
            recorded += 1;
        }
    }
    println!("recorded {recorded}");
}

/// One event of each kind, with `value` in every field that takes text (a list gets it as
/// written, as a flag and as a flag's value) and `number` in every field that takes a number
/// that large.
fn every_field(value: &str, number: u64) -> Vec<Event> {
    let text = json!(value);
    let list = json!([value, format!("--{value}"), format!("--token={value}")]);
    let number = json!(number);
    let mut events = Vec::new();
    for mut event in every_kind_json() {
        let kind = kind_of(&event).to_string();
        let fields: Vec<String> = event[&kind]
            .as_object()
            .map(|record| record.keys().cloned().collect())
            .unwrap_or_default();
        for field in fields {
            let original = event[&kind][&field].clone();
            let attempts = [if original.is_array() { &list } else { &text }, &number];
            // JSON does not tell text from an enum's case, nor a u64 from a u8: the binding
            // does. A value it refuses is not put there.
            let taken = attempts.into_iter().find(|attempt| {
                event[&kind][&field] = (*attempt).clone();
                fits(&event)
            });
            event[&kind][&field] = taken.cloned().unwrap_or(original);
        }
        events.push(read(event));
    }
    events
}

fn fits(event: &Value) -> bool {
    from_wit_json::<Event>(event.clone()).is_ok()
}

/// The first eight bytes of `secret` as one number, to smuggle through a duration.
fn packed(secret: &[u8]) -> u64 {
    secret
        .iter()
        .take(8)
        .fold(0u64, |n, b| n << 8 | u64::from(*b))
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// With padding, as most encoders write it.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Without padding: no `=` for the charset rule to catch.
fn base64_unpadded(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// URL-safe and unpadded: only `-` and `_` beside letters and digits, all allowed in a name.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
