//! A telemetry component that goes wrong stays inside its sandbox: the `faulty-recorder`
//! fixture takes the real component's place and, on request, spins forever, traps, or eats
//! memory past the host's cap. The caller never waits on it, the host counts what the lost
//! instance held, starts a fresh one, and an agent run beside it is unaffected.

use std::sync::Arc;
use std::time::Duration;

use agent_telemetry::agent::{AgentOptions, run_agent};
use agent_telemetry::event::{Event, Outcome, ToolCall};
use agent_telemetry::{Status, Telemetry, TelemetryRuntime};
use agent_telemetry_collector::Collector;
use tokio::time::Instant;

use crate::support;

/// The worker's CPU budget per component call (`CALL_BUDGET` in host/src/runtime/instance.rs).
const CALL_BUDGET: Duration = Duration::from_secs(2);

/// Room on top of the budget for epoch granularity, re-instantiation and a busy machine.
const SLACK: Duration = Duration::from_secs(3);

/// No test may take longer than this, whatever the component does.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// A record call only hands the event over: this is far more than it may take.
const RECORD_RETURNS_WITHIN: Duration = Duration::from_millis(50);

/// The faulty component, running under a real host against a real collector.
struct Faulty {
    runtime: Arc<TelemetryRuntime>,
    telemetry: Telemetry,
    collector: Collector,
    home: std::path::PathBuf,
}

impl Faulty {
    async fn start(label: &str) -> Faulty {
        let bytes = std::fs::read(support::wasm("fixture_faulty_recorder")).unwrap();
        let runtime = Arc::new(TelemetryRuntime::with_component(&bytes).unwrap());
        let collector = support::collector().await;
        let home = support::temp_dir(label);
        let mut settings = support::settings(&collector.endpoint(), &home);
        settings.show_notice = false;
        let telemetry = Telemetry::start_with(runtime.clone(), settings)
            .await
            .unwrap();
        Faulty {
            runtime,
            telemetry,
            collector,
            home,
        }
    }

    /// Records `event` and checks that the call returned at once.
    fn record(&self, event: Event) {
        let started = std::time::Instant::now();
        self.telemetry.record(event);
        let took = started.elapsed();
        assert!(
            took < RECORD_RETURNS_WITHIN,
            "record took {took:?}: the caller waited on the component"
        );
    }

    fn record_normal(&self, n: usize) {
        for _ in 0..n {
            self.record(tool_call("read_file"));
        }
    }

    /// Polls the status until `done` holds; panics with the last status after `within`.
    async fn wait_for(&self, within: Duration, done: impl Fn(&Status) -> bool) -> Status {
        let started = Instant::now();
        loop {
            let status = self.telemetry.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "not reached within {within:?}; last status: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first restart; returns the status then.
    async fn wait_for_restart(&self) -> Status {
        self.wait_for(CALL_BUDGET + SLACK, |s| s.restarts >= 1)
            .await
    }

    /// Waits until the live instance reports `n` recorded events.
    async fn wait_for_recorded(&self, n: u64) -> Status {
        self.wait_for(SLACK, |s| recorded(s) == Some(n)).await
    }

    async fn stop(self) {
        self.telemetry.shutdown(Duration::from_secs(1)).await;
        self.collector.stop().await;
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A tool call; the fixture misbehaves when `tool` is `spin`, `trap` or `grow`.
fn tool_call(tool: &str) -> Event {
    Event::ToolCall(ToolCall {
        tool: tool.to_string(),
        session_id: Some("session-1".to_string()),
        agent: Some("planner".to_string()),
        duration_ms: 5,
        outcome: Outcome::Success,
        error: None,
    })
}

/// Events the live instance has recorded, if it answered.
fn recorded(status: &Status) -> Option<u64> {
    status.component.as_ref().map(|c| c.recorded)
}

/// Runs `test` under [`TEST_LIMIT`]: a hang is a failure, not a stuck suite.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test hung: something waited on the component without a bound");
}

// Multi-threaded: a component call runs on a runtime thread until its budget ends it, and the
// test must keep measuring meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_component_is_cut_off_by_its_cpu_budget_and_restarted() {
    bounded(async {
        let faulty = Faulty::start("spin").await;
        faulty.record_normal(1);
        let spun = Instant::now();
        faulty.record(tool_call("spin"));
        faulty.record_normal(2);

        let status = faulty.wait_for_restart().await;
        let cut_off = spun.elapsed();
        eprintln!("spin cut off and the instance restarted after {cut_off:?}");
        assert!(
            cut_off >= CALL_BUDGET - Duration::from_millis(100),
            "restarted after {cut_off:?}, before the budget of {CALL_BUDGET:?} ran out: the \
             component did not spin"
        );
        assert_eq!(status.restarts, 1, "{status:?}");
        assert!(
            status.dropped_before_component >= 1,
            "the spinning instance's events are counted as lost: {status:?}"
        );

        // The fresh instance records what comes next.
        let before = faulty.wait_for(SLACK, |s| recorded(s).is_some()).await;
        let before = recorded(&before).unwrap_or_default();
        faulty.record_normal(5);
        let after = faulty.wait_for_recorded(before + 5).await;
        assert_eq!(after.restarts, 1, "no further restarts: {after:?}");
        faulty.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_component_is_restarted_and_its_loss_is_counted() {
    bounded(async {
        let faulty = Faulty::start("trap").await;
        faulty.record_normal(3);
        // The status call also leaves the worker a snapshot: 3 events held by this instance.
        let status = faulty.wait_for_recorded(3).await;
        assert_eq!(status.dropped_before_component, 0, "{status:?}");
        assert_eq!(status.restarts, 0, "{status:?}");

        faulty.record(tool_call("trap"));
        let status = faulty.wait_for_restart().await;
        assert_eq!(status.restarts, 1, "{status:?}");
        assert_eq!(
            status.dropped_before_component, 4,
            "the 3 events the instance held and the one it trapped on are lost: {status:?}"
        );
        assert_eq!(
            recorded(&status),
            Some(0),
            "a fresh instance answers: {status:?}"
        );

        faulty.record_normal(2);
        let status = faulty.wait_for_recorded(2).await;
        assert_eq!(status.restarts, 1, "{status:?}");
        assert_eq!(status.dropped_before_component, 4, "{status:?}");
        // What an agent's `status` import sees includes the loss as well.
        assert!(faulty.telemetry.component_status().dropped >= 4);
        faulty.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_over_its_memory_cap_is_restarted() {
    bounded(async {
        let faulty = Faulty::start("grow").await;
        faulty.record_normal(1);
        faulty.record(tool_call("grow"));
        let status = faulty.wait_for_restart().await;
        assert_eq!(status.restarts, 1, "{status:?}");
        assert!(status.dropped_before_component >= 1, "{status:?}");

        // The host is fine, and so is the next instance.
        faulty.record_normal(4);
        let status = faulty.wait_for_recorded(4).await;
        assert_eq!(status.restarts, 1, "{status:?}");
        faulty.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_run_is_unaffected_by_a_failing_telemetry_component() {
    bounded(async {
        let faulty = Faulty::start("agent").await;
        faulty.record(tool_call("spin"));
        // Let the worker get into the spinning call before the agent starts recording.
        tokio::time::sleep(Duration::from_millis(50)).await;

        let agent = std::fs::read(support::wasm("fixture-every-event")).unwrap();
        let options = AgentOptions {
            capture_output: true,
            ..AgentOptions::default()
        };
        let started = Instant::now();
        let exit = run_agent(faulty.runtime.engine(), &faulty.telemetry, &agent, &options)
            .await
            .unwrap();
        let took = started.elapsed();
        eprintln!("the agent ran in {took:?} beside a spinning component");
        let stdout = String::from_utf8_lossy(&exit.stdout);
        let stderr = String::from_utf8_lossy(&exit.stderr);
        assert_eq!(exit.code, 0, "stdout: {stdout}\nstderr: {stderr}");
        assert!(
            stdout.contains("every-event: recorded 22 events (telemetry enabled: true)"),
            "{stdout}"
        );
        assert!(stdout.contains("every-event: flush sent"), "{stdout}");
        // The agent's own flush waits at most 3 s; the spin may not add to that.
        let bound = Duration::from_secs(3) + SLACK;
        assert!(
            took < bound,
            "the agent run took {took:?}, more than {bound:?}"
        );

        // Its events went to the fresh instance, not down with the spinning one.
        let status = faulty.wait_for_recorded(22).await;
        assert_eq!(status.restarts, 1, "{status:?}");
        faulty.stop().await;
    })
    .await;
}
