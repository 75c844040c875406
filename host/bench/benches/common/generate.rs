//! Generated native events, the same ones every run: what the report and ingest benches store.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use agent_telemetry_guest::anonymize::Anonymizer;
use agent_telemetry_guest::bindings::exports::agent::telemetry::recorder as wit;

use agent_telemetry::wire::{self, Data, Event, Outcome, SCHEMA_VERSION, SessionTotals, TaskState};

/// Days the events spread over, from [`START`].
pub const DAYS: u64 = 90;
/// 2026-01-01, in Unix seconds: a fixed start, so the data is the same whenever it is made.
pub const START: u64 = 1_767_225_600;

const TOOLS: [&str; 12] = [
    "read_file",
    "write_file",
    "shell",
    "search",
    "edit",
    "list_dir",
    "fetch",
    "grep",
    "git",
    "test",
    "build",
    "think",
];
const MODELS: [&str; 5] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet",
    "claude-haiku",
    "gemini-pro",
];
const COMMANDS: [&str; 4] = ["run", "exec", "new", "eval"];
const VERSIONS: [&str; 6] = ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "2.0.0"];

/// A small deterministic generator: the same database every time.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The `i`th of `total` events.
pub fn event(i: u64, total: u64, rng: &mut Lcg) -> Event {
    let day = i * DAYS / total;
    let at = START + day * 86_400 + rng.next(86_400);
    let installation = rng.next(2_000);
    // Newer versions spread over the days.
    let version = VERSIONS[((day * VERSIONS.len() as u64 / DAYS) + rng.next(2)).min(5) as usize];
    let session = format!("session_{:024x}", i / 40);
    let ok = |rng: &mut Lcg, per_mille: u64| {
        if rng.next(1000) < per_mille {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    };
    let data = match rng.next(100) {
        0..40 => {
            let tool = rng.next(TOOLS.len() as u64) as usize;
            Data::ToolCall {
                tool: TOOLS[tool].into(),
                session_id: Some(session),
                agent: None,
                duration_ms: 5 + rng.next(50 * (tool as u64 + 1)),
                outcome: ok(rng, 900 + tool as u64 * 8),
                error: None,
            }
        }
        40..65 => Data::TokenUsage {
            model: MODELS[rng.next(MODELS.len() as u64) as usize].into(),
            session_id: Some(session),
            agent: None,
            input_tokens: 500 + rng.next(5000),
            output_tokens: 100 + rng.next(1000),
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: Some(rng.next(1000) as f64 / 10_000.0),
        },
        65..75 => Data::Command {
            action: COMMANDS[rng.next(COMMANDS.len() as u64) as usize].into(),
            outcome: ok(rng, 970),
            error: None,
            arg_count: 1,
            flags: vec![],
        },
        75..80 => Data::SessionStart {
            session_id: session,
            agent: None,
            task_id: None,
        },
        80..85 => Data::SessionEnd {
            session_id: session,
            agent: None,
            task_id: None,
            outcome: ok(rng, 930),
            error: None,
            tasks_processed: None,
            totals: SessionTotals {
                duration_ms: Some(1_000 + rng.next(600_000)),
                cost_usd: rng.next(10_000) as f64 / 1000.0,
                ..SessionTotals::default()
            },
        },
        // The rest of the kinds, from tests/events/every-kind.json: a kind added there is in
        // the bench's data with nothing written here.
        95.. => {
            let others = other_kinds();
            others[rng.next(others.len() as u64) as usize].clone()
        }
        _ => Data::Task {
            task_id: format!("task_{:024x}", i),
            state: [
                TaskState::Created,
                TaskState::Started,
                TaskState::Completed,
                TaskState::Failed,
            ][rng.next(4) as usize],
            previous_state: None,
            agent: None,
            source: None,
            tags: vec![],
            has_parent: false,
            priority: None,
            duration_ms: None,
        },
    };
    Event {
        event_id: format!("0190{i:028x}"),
        occurred_at: humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs(at))
            .to_string(),
        schema_version: SCHEMA_VERSION,
        source: "bench".into(),
        environment: "production".into(),
        installation_id: format!("install_{installation:016x}"),
        product: "agent".into(),
        product_version: version.into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        ci: false,
        tags: Default::default(),
        data,
    }
}

/// The wire events of `tests/events/every-kind.json` (through the component's own conversion)
/// of the kinds [`event`] does not make itself.
fn other_kinds() -> &'static [Data] {
    static OTHERS: OnceLock<Vec<Data>> = OnceLock::new();
    OTHERS.get_or_init(|| {
        let generated = [
            "tool_call",
            "token_usage",
            "command",
            "session_start",
            "session_end",
            "task",
        ];
        let anonymizer = Anonymizer::new(vec![7; 32], Vec::new(), Vec::new(), Vec::new());
        agent_telemetry_test_events::every_kind::<wit::Event>()
            .iter()
            .map(|e| agent_telemetry_guest::event::to_wire(&anonymizer, e))
            .filter(|d| !generated.contains(&d.kind()))
            .collect()
    })
}

/// Events `from..to` of `total` as one native batch.
pub fn batch(from: u64, to: u64, total: u64, rng: &mut Lcg) -> wire::Batch {
    wire::Batch {
        schema: wire::SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        batch_id: format!("batch-{from}"),
        sent_at: String::new(),
        dropped_events: 0,
        events: (from..to).map(|i| event(i, total, rng)).collect(),
    }
}

/// `batch` as one component sends it: every event with the first one's envelope (its
/// installation and version), which a native batch of version 3 writes once.
#[allow(dead_code)]
pub fn from_one_installation(mut batch: wire::Batch) -> wire::Batch {
    if let Some(first) = batch.events.first().cloned() {
        for e in &mut batch.events {
            e.installation_id.clone_from(&first.installation_id);
            e.product_version.clone_from(&first.product_version);
        }
    }
    batch
}
