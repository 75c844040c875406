//! Every integration test, in one binary (as wasmtime's `crates/wasi-http/tests/all`), a
//! module per concern. Each runs the real component in the real host against real HTTP
//! servers on 127.0.0.1:
//!
//! - `end_to_end`: the native API, `run`, the egress policy, dead and hanging collectors,
//!   disabled telemetry, agents without network, the `collect` command, the demo;
//! - `privacy`: consent, the notice, debug mode, the ledger, pseudonyms, a hostile agent;
//! - `reliability`: the fault-injection suite and the spool;
//! - `isolation`: a component that spins, traps or eats memory;
//! - `hardening`: untrusted files, untrusted agents, consent that fails closed, exact egress,
//!   true counts, the collector as a real server;
//! - `formats`: docker-agent's, Agent Swarm's and OTLP's wire formats (OTLP read back by the
//!   official Python classes), agents built against an older WIT;
//! - `aggregate`: counts-only mode, a week of it, a crash, the user's choice;
//! - `audit`: a component's imports;
//! - `schema`: the native batch's published JSON Schema (every test's batches are checked
//!   against it by the collectors in `support`);
//! - `faulty_collector`: the faulty collector itself;
//! - `forget`: forgetting on opt-out: `telemetry off`'s deletion request, carried out by a
//!   real `collect`, and kept for later when the collector is down;
//! - `stock_wasmtime`: the component under stock `wasmtime run`;
//! - `languages`: agents in Python (componentize-py) and JavaScript (componentize-js) under
//!   `run`;
//! - `outside_wasmtime`: the component transpiled by `jco transpile`, under Node;
//! - `collector_prices`: the collector's cost estimated from a price table, through `collect`
//!   and `report`;
//! - `installations`: containers and CI runs counted as runs, not installations;
//! - `otel_collector`: the component's OTLP through a real OpenTelemetry collector (rotel);
//! - `otel`: OpenTelemetry in: an agent importing `wasi:otel` under `run`, and a Python agent
//!   using the official SDK through `relay`.
//!
//! `support` is the test support crate (`tests/support`, which also builds the fixture agents)
//! and the CLI of this package.

mod aggregate;
mod audit;
mod collector;
mod collector_hostile;
mod collector_prices;
mod end_to_end;
mod faulty_collector;
mod forget;
mod formats;
mod hardening;
mod installations;
mod isolation;
mod languages;
mod otel;
mod otel_collector;
mod outside_wasmtime;
mod postgres;
mod privacy;
mod reliability;
mod schema;
mod stock_wasmtime;
mod trust;

mod support {
    use std::path::PathBuf;
    use std::time::Duration;

    pub use agent_telemetry_test_support::*;

    /// The environment that points the CLI at the identity directory `home`.
    pub fn home_env(home: &std::path::Path) -> (&'static str, &str) {
        ("AGENT_TELEMETRY_HOME", home.to_str().unwrap())
    }

    /// `telemetry status --json` in `env`, which must succeed.
    pub async fn status_json(env: &[(&str, &str)]) -> serde_json::Value {
        let (code, stdout, stderr, _) = run_cli(&["telemetry", "status", "--json"], env).await;
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// The number that follows the first `label` in `text` (a CLI's or an agent's output).
    pub fn number_after(text: &str, label: &str) -> u64 {
        text.split(label)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after `{label}` in: {text}"))
    }

    /// Runs tests/tools/install.sh, which puts every tool the tests use into target/tools
    /// (once: it finds what is there already, and waits for an install running elsewhere).
    pub fn install_tools() {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/install.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(target_dir())
            .status()
            .expect("bash is needed to install the tests' tools");
        assert!(status.success(), "{} failed", script.display());
    }

    /// `target/tools/<dir>`, installed first if `<marker>` is not in it yet.
    pub fn installed_tool(dir: &str, marker: &str) -> PathBuf {
        let dir = target_dir().join("tools").join(dir);
        if !dir.join(marker).exists() {
            install_tools();
        }
        dir
    }

    /// `agent-telemetry collect` as a child process (on a free port unless `args` name one):
    /// its address and the child. Its address space is capped at 4 GiB so that a collector
    /// without bounds fails here rather than take the machine's memory.
    pub async fn collect(
        db: &std::path::Path,
        args: &[&str],
    ) -> (std::net::SocketAddr, tokio::process::Child) {
        use tokio::io::AsyncBufReadExt as _;
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("-c")
            .arg(r#"ulimit -v 4194304; exec "$0" "$@""#)
            .arg(cli())
            .args(["collect", "--db", db.to_str().unwrap()])
            .args(if args.contains(&"--port") {
                &[][..]
            } else {
                &["--port", "0"][..]
            })
            .args(args)
            .env("MALLOC_ARENA_MAX", "2")
            .env("AGENT_TELEMETRY_HOME", temp_dir("home"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("collect did not start")
            .unwrap()
            .expect("collect printed nothing");
        let addr = first
            .strip_prefix("collector listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .parse()
            .unwrap();
        // The rest of its output is read so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (addr, child)
    }

    /// The CLI binary of the package these tests belong to.
    pub fn cli() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_agent-telemetry"))
    }

    /// Runs the CLI to completion; returns (exit code, stdout, stderr, elapsed).
    pub async fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String, Duration) {
        let start = std::time::Instant::now();
        let mut cmd = cli_command(args, env);
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

    /// The CLI with `args`, in an environment of the tests' own with `env` on top: nothing of
    /// the machine's opt-outs, its CI or its user's directories (killed when dropped).
    pub fn cli_command(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(cli());
        cmd.args(args).kill_on_drop(true);
        // The tests decide consent; the machine's own opt-outs must not change their outcome.
        // CI labelling is tested explicitly: the machine running the tests must not decide it.
        let ci = agent_telemetry::consent::CI_VARIABLES.iter().copied();
        for var in [
            "DO_NOT_TRACK",
            "TELEMETRY_ENABLED",
            "ANONYMIZED_TELEMETRY",
            "AGENT_TELEMETRY_ENDPOINT",
            "AGENT_TELEMETRY_HOME",
            "AGENT_TELEMETRY_DEBUG",
            "AGENT_TELEMETRY_NO_NOTICE",
            "AGENT_TELEMETRY_OFF_IN_CI",
            "AGENT_TELEMETRY_FORMAT",
            "AGENT_TELEMETRY_HEADERS",
            "TELEMETRY_TAGS",
        ]
        .into_iter()
        .chain(ci)
        {
            cmd.env_remove(var);
        }
        // Tests run in containers too (this machine's CI does): each test that is about
        // ephemeral runs says so (`AGENT_TELEMETRY_EPHEMERAL` empty: detected).
        cmd.env("AGENT_TELEMETRY_EPHEMERAL", "0");
        cmd.env_remove("container");
        // Compiled code, and the key that vouches for it, go to the build's directory, not
        // the user's.
        cmd.env_remove("AGENT_TELEMETRY_CACHE")
            .env(
                "AGENT_TELEMETRY_CACHE_DIR",
                target_dir().join("test-code-cache"),
            )
            .env(
                "AGENT_TELEMETRY_KEY_DIR",
                target_dir().join("test-code-cache-key"),
            );
        // Nor does anything go to the user's identity directory: a test that names none gets
        // a fresh one of its own.
        if !env.iter().any(|(k, _)| *k == "AGENT_TELEMETRY_HOME") {
            cmd.env("AGENT_TELEMETRY_HOME", temp_dir("home"));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}
