//! The rest of the contract on the wire: the table is complete, ids are keyed pseudonyms,
//! numbers keep to their rules, times and durations are coarse.

use super::*;

// ---------------------------------------------------------------------------------------------
// The table is complete and every field is really on the wire.

/// `record.field` for every `string`, `option<string>` or `list<string>` field of every
/// record that the WIT `event` variant carries.
fn wit_string_fields() -> Vec<String> {
    let wit = include_str!("../../../wit/telemetry.wit");
    let variant = wit
        .split_once("variant event {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(body, _)| body)
        .expect("the WIT has `variant event`");
    let mut out = Vec::new();
    for case in variant.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let record = case
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(r, _)| r)
            .unwrap_or_else(|| panic!("cannot read the variant case `{case}`"));
        let body = wit
            .split_once(&format!("record {record} {{"))
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body)
            .unwrap_or_else(|| panic!("no `record {record}` in the WIT"));
        for line in body.lines().map(str::trim) {
            let Some((name, ty)) = line.split_once(':') else {
                continue;
            };
            if !line.starts_with("//") && ty.contains("string") {
                out.push(format!("{record}.{}", name.trim().trim_start_matches('%')));
            }
        }
    }
    out
}

#[test]
fn wit_string_fields_are_all_covered() {
    let mut wit = wit_string_fields();
    let mut table: Vec<String> = fields()
        .iter()
        .filter(|f| matches!(f.place, Place::Event))
        .map(|f| format!("{}.{}", f.record, f.field))
        .collect();
    wit.sort();
    table.sort();
    assert!(wit.len() >= 20, "the WIT reader found too little: {wit:?}");
    assert_eq!(wit, table, "every WIT string field needs a row in fields()");
    let names: Vec<String> = fields().iter().map(Field::name).collect();
    assert_eq!(
        names, CONTRACT_FIELDS,
        "every field of fields() needs its cases"
    );
}

/// Two harmless values a field must carry to the wire distinguishably, so that no leak test
/// passes merely because the field never reached the batch.
fn benign_pair(rule: Rule) -> (&'static str, &'static str) {
    match rule {
        Rule::InstallationId => ("install_0123456789abcdef", "install_fedcba9876543210"),
        Rule::Flag => ("debug", "verbose"),
        _ => ("marker-one", "marker-two"),
    }
}

#[test]
fn every_field_reaches_the_wire() {
    for f in fields() {
        let (one, two) = benign_pair(f.rule);
        let (a, b) = (wire(&f, one, &[]), wire(&f, two, &[]));
        assert_ne!(a, b, "{}: the value never reaches the batch", f.name());
        let shown = wire_value(&f, &a);
        let shown = shown
            .as_str()
            .or_else(|| shown[0].as_str())
            .unwrap_or_default();
        match f.rule {
            Rule::Name | Rule::Flag | Rule::InstallationId => {
                assert_eq!(shown, one, "{}: a plain value is sent as written", f.name())
            }
            Rule::Id | Rule::Agent => assert!(
                shown.contains('_') && !shown.contains(one),
                "{}: `{shown}` is not a pseudonym",
                f.name()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pseudonyms and agent names, at the pipeline level.

fn is_pseudonym(value: &str, kind: &str) -> bool {
    value
        .strip_prefix(kind)
        .and_then(|v| v.strip_prefix('_'))
        .is_some_and(|h| {
            h.len() == 24
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[test]
fn agent_names_are_hashed_unless_allowlisted() {
    let agents: Vec<Field> = fields()
        .into_iter()
        .filter(|f| f.rule == Rule::Agent)
        .collect();
    assert_eq!(agents.len(), 10);
    for f in agents {
        let allowed = wire_value(&f, &wire(&f, "planner", &[]));
        assert_eq!(
            allowed,
            "planner",
            "{}: allowlisted names are sent",
            f.name()
        );
        let other = wire_value(&f, &wire(&f, "reviewer", &[]));
        let other = other.as_str().unwrap_or_default();
        assert!(is_pseudonym(other, "agent"), "{}: `{other}`", f.name());
    }
}

#[test]
fn ids_are_pseudonymized_with_the_installation_key() {
    let ids: Vec<Field> = fields()
        .into_iter()
        .filter(|f| f.rule == Rule::Id)
        .collect();
    assert_eq!(ids.len(), 12);
    for f in ids
        .iter()
        .chain(fields().iter().filter(|f| f.rule == Rule::Agent))
    {
        let kind = match f.field {
            "session-id" => "session",
            "task-id" => "task",
            "workflow-id" => "workflow",
            _ => "agent",
        };
        let pseudonym = |value: &str, key: &'static str| {
            let v = wire_value(f, &wire_with(f, value, &[], key));
            v.as_str().unwrap_or_default().to_string()
        };
        let first = pseudonym("id-1", HASH_KEY);
        assert!(is_pseudonym(&first, kind), "{}: `{first}`", f.name());
        assert_eq!(
            first,
            pseudonym("id-1", HASH_KEY),
            "{}: same key, same id",
            f.name()
        );
        assert_ne!(first, pseudonym("id-2", HASH_KEY), "{}: two ids", f.name());
        assert_ne!(
            first,
            pseudonym("id-1", OTHER_HASH_KEY),
            "{}: two keys",
            f.name()
        );
    }
}

#[test]
fn the_same_id_has_the_same_pseudonym_in_every_event() {
    // So a session can be followed across its events, and only within one installation.
    let mut seen = Vec::new();
    for f in fields().iter().filter(|f| f.field == "session-id") {
        seen.push(wire_value(f, &wire(f, "sess-42", &[])));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn the_hash_key_never_leaves() {
    for f in fields() {
        let body = wire(&f, "anything", &[]);
        assert!(leak(&body, HASH_KEY).is_none(), "{}", f.name());
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers, times and durations, on the wire.

fn record_all(events: &[wit::Event], times: &[SystemTime]) -> Value {
    let mut p = Pipeline::new(Settings::from_pairs(base_config(HASH_KEY)), &mut Fixed(0));
    let mut entropy = Fixed(100);
    for (e, t) in events.iter().zip(times) {
        p.record(e, *t, &mut entropy);
    }
    let batch = p.take_batch(at(), &mut entropy).expect("a batch");
    json(&batch.body)
}

#[test]
fn costs_that_are_negative_not_finite_or_over_a_million_dollars_are_not_sent() {
    for bad in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.01,
        -f64::MAX,
        1_000_000.01,
        f64::MAX,
    ] {
        let mut usage = event("token-usage");
        if let wit::Event::TokenUsage(t) = &mut usage {
            t.cost_usd = Some(bad);
        }
        let mut cost = event("session-cost");
        if let wit::Event::SessionCost(c) = &mut cost {
            c.cost_usd = bad;
        }
        let events = [event("session-start"), usage, cost, event("session-end")];
        let batch = record_all(&events, &[at(); 4]);
        let e = &batch["events"];
        assert!(e[1]["data"].get("cost_usd").is_none(), "token_usage {bad}");
        assert!(e[2]["data"].get("cost_usd").is_none(), "session_cost {bad}");
        assert_eq!(e[3]["data"]["totals"]["cost_usd"], 0.0, "totals {bad}");
    }
}

#[test]
fn session_totals_saturate_instead_of_overflowing() {
    let mut huge = event("token-usage");
    if let wit::Event::TokenUsage(t) = &mut huge {
        t.input_tokens = u64::MAX;
        t.output_tokens = u64::MAX - 1;
        t.cost_usd = Some(600_000.0);
    }
    let events = [
        event("session-start"),
        huge.clone(),
        huge,
        event("session-end"),
    ];
    let batch = record_all(&events, &[at(); 4]);
    let totals = &batch["events"][3]["data"]["totals"];
    assert_eq!(totals["input_tokens"], u64::MAX);
    assert_eq!(totals["output_tokens"], u64::MAX);
    // Twice $600,000 is past the most one cost may be (and a sum may reach infinity, which
    // JSON cannot carry): the sum stops short.
    assert_eq!(totals["cost_usd"], 600_000.0);
}

#[test]
fn the_largest_numbers_survive_the_wire() {
    let mut cmd = event("command");
    if let wit::Event::Command(c) = &mut cmd {
        c.arg_count = u32::MAX;
    }
    let mut usage = event("token-usage");
    if let wit::Event::TokenUsage(t) = &mut usage {
        t.cached_tokens = u64::MAX;
        t.reasoning_tokens = u64::MAX;
    }
    let mut t = event("task");
    if let wit::Event::Task(t) = &mut t {
        t.priority = Some(u8::MAX);
        t.duration_ms = Some(u64::MAX);
    }
    let batch = record_all(&[cmd, usage, t], &[at(); 3]);
    let e = &batch["events"];
    assert_eq!(e[0]["data"]["arg_count"], u32::MAX);
    assert_eq!(e[1]["data"]["cached_tokens"], u64::MAX);
    assert_eq!(e[1]["data"]["reasoning_tokens"], u64::MAX);
    assert_eq!(e[2]["data"]["priority"], u8::MAX);
    assert_eq!(e[2]["data"]["duration_ms"], 18_000_000_000_000_000_000_u64);
}

/// The millisecond time a UUIDv7 carries in its first 48 bits.
fn uuid_v7_millis(id: &str) -> u64 {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    u64::from_str_radix(&hex, 16).expect("a UUID")
}

#[test]
fn times_on_the_wire_are_whole_seconds() {
    let times = [
        at(),
        at() + Duration::from_millis(1),
        at() + Duration::from_millis(543),
        at() + Duration::from_millis(1_001),
    ];
    let batch = record_all(&vec![event("server"); 4], &times);
    let e = &batch["events"];
    for (i, expected) in [
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:24.000Z",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(e[i]["occurred_at"], *expected, "event {i}");
        let id = e[i]["event_id"].as_str().unwrap_or_default();
        assert_eq!(
            uuid_v7_millis(id) % 1000,
            0,
            "the event id's clock too: {id}"
        );
        assert_eq!(&id[14..15], "7", "still a UUIDv7: {id}");
    }
    assert_eq!(
        uuid_v7_millis(e[0]["event_id"].as_str().unwrap_or_default()),
        1_700_000_123_000
    );
    assert_eq!(batch["sent_at"], "2023-11-14T22:15:23.000Z");
    assert_eq!(
        uuid_v7_millis(batch["batch_id"].as_str().unwrap_or_default()) % 1000,
        0
    );
}

#[test]
fn durations_on_the_wire_have_two_significant_digits() {
    let mut call = event("tool-call");
    if let wit::Event::ToolCall(t) = &mut call {
        t.duration_ms = 1234;
    }
    let mut short = event("task");
    if let wit::Event::Task(t) = &mut short {
        t.duration_ms = Some(87);
    }
    let events = [event("session-start"), call, short, event("session-end")];
    let start = at();
    let times = [start, start, start, start + Duration::from_millis(61_789)];
    let batch = record_all(&events, &times);
    let e = &batch["events"];
    assert_eq!(e[1]["data"]["duration_ms"], 1200);
    assert_eq!(e[2]["data"]["duration_ms"], 87);
    assert_eq!(e[3]["data"]["totals"]["duration_ms"], 61_000);
}

#[test]
fn a_clock_past_the_year_9999_does_not_trap() {
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
    let batch = record_all(&[event("server")], &[far]);
    assert_eq!(
        batch["events"][0]["occurred_at"],
        "9999-12-31T23:59:59.000Z"
    );
}
