//! Every integration test, in one binary (as wasmtime's `crates/wasi-http/tests/all`), a
//! module per concern. Each runs the real component in the real host against real HTTP
//! servers on 127.0.0.1:
//!
//! - `end_to_end`: the native API, `run`, the egress policy, dead and hanging collectors,
//!   disabled telemetry, agents without network, the `collect` command, the demo;
//! - `privacy`: consent, the notice, debug mode, the ledger, pseudonyms, a hostile agent;
//! - `reliability`: the fault-injection suite and the spool;
//! - `isolation`: a component that spins, traps or eats memory;
//! - `audit`: a component's imports;
//! - `faulty_collector`: the faulty collector itself;
//! - `stock_wasmtime`: the component under stock `wasmtime run`.
//!
//! `support` is the test support crate (`tests/support`, which also builds the fixture agents)
//! and the CLI of this package.

mod audit;
mod end_to_end;
mod faulty_collector;
mod isolation;
mod privacy;
mod reliability;
mod stock_wasmtime;

mod support {
    use std::path::PathBuf;
    use std::time::Duration;

    pub use agent_telemetry_test_support::*;

    /// The CLI binary of the package these tests belong to.
    pub fn cli() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_agent-telemetry"))
    }

    /// Runs the CLI to completion; returns (exit code, stdout, stderr, elapsed).
    pub async fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String, Duration) {
        let start = std::time::Instant::now();
        let mut cmd = tokio::process::Command::new(cli());
        cmd.args(args).kill_on_drop(true);
        // The tests decide consent; the machine's own opt-outs must not change their outcome.
        // CI labelling is tested explicitly: the machine running the tests must not decide it.
        let ci = agent_telemetry::trust::consent::CI_VARIABLES
            .iter()
            .copied();
        for var in [
            "DO_NOT_TRACK",
            "TELEMETRY_ENABLED",
            "ANONYMIZED_TELEMETRY",
            "AGENT_TELEMETRY_ENDPOINT",
            "AGENT_TELEMETRY_HOME",
            "AGENT_TELEMETRY_DEBUG",
            "AGENT_TELEMETRY_NO_NOTICE",
            "AGENT_TELEMETRY_OFF_IN_CI",
        ]
        .into_iter()
        .chain(ci)
        {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("CLI hung")
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        (
            code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            start.elapsed(),
        )
    }
}
