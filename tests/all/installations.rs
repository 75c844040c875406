//! Installations that containers and CI do not inflate: 100 container starts and 20 CI runs,
//! each with a fresh empty home as they would have, through the real `run` into the real
//! collector, are reported as container runs and CI runs, never as 120 installations; a
//! machine that keeps its home, and a fleet that hands in one id, are one installation each.

use std::path::Path;

use agent_telemetry_collector::report::{Range, Report};

use crate::support::*;

/// One `run` of the every-event agent with `env`, in a fresh home unless `home` is given.
async fn run_once(endpoint: &str, home: Option<&Path>, env: &[(&str, &str)]) {
    let fresh = temp_dir("passing-home");
    let home = home.unwrap_or(&fresh);
    let agent = wasm("fixture-every-event");
    let args = [
        "run",
        "--endpoint",
        endpoint,
        "--flush-deadline-ms",
        "5000",
        agent.to_str().unwrap(),
    ];
    let mut vars = vec![home_env(home), ("AGENT_TELEMETRY_NO_NOTICE", "1")];
    vars.extend_from_slice(env);
    let (code, stdout, stderr, _) = run_cli(&args, &vars).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    if home == fresh {
        // Nothing was written to a home that will not survive: not even the directory.
        let left: Vec<_> = std::fs::read_dir(&fresh)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{env:?} wrote {left:?}");
        let _ = std::fs::remove_dir_all(&fresh);
    }
}

/// Runs `n` of `run_once` with `env`, a few at a time.
async fn runs(endpoint: &str, n: usize, env: &'static [(&'static str, &'static str)]) {
    let mut started = 0;
    while started < n {
        let batch = (n - started).min(6);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let endpoint = endpoint.to_string();
            set.spawn(async move { run_once(&endpoint, None, env).await });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
        started += batch;
    }
}

#[tokio::test]
async fn containers_and_ci_runs_are_counted_as_runs_not_installations() {
    let collector = collector().await;
    let endpoint = collector.endpoint();
    // `AGENT_TELEMETRY_EPHEMERAL` empty: detected, as on a user's machine.
    runs(
        &endpoint,
        100,
        &[("container", "docker"), ("AGENT_TELEMETRY_EPHEMERAL", "")],
    )
    .await;
    runs(
        &endpoint,
        20,
        &[("CI", "true"), ("AGENT_TELEMETRY_EPHEMERAL", "")],
    )
    .await;
    // As the issue has it: 100 container starts and 20 CI runs are runs, never installations.
    let report = Report::build(collector.store(), Range::default()).unwrap();
    assert_eq!(
        (report.installations, report.container_runs, report.ci_runs),
        (0, 100, 20),
        "{report:?}"
    );
    // A fleet of images that hands in one id: one installation, however many starts.
    runs(
        &endpoint,
        5,
        &[
            ("container", "docker"),
            ("AGENT_TELEMETRY_EPHEMERAL", ""),
            (
                "AGENT_TELEMETRY_INSTALLATION_ID",
                "install_00aa11bb22cc33dd",
            ),
        ],
    )
    .await;
    // A machine that keeps its home: one installation over three runs.
    let home = temp_dir("kept-home");
    for _ in 0..3 {
        run_once(&endpoint, Some(&home), &[]).await;
    }
    let stored = agent_telemetry::identity::read_installation_id(&home).expect("stored");

    let report = Report::build(collector.store(), Range::default()).unwrap();
    assert_eq!(report.installations, 2, "{report:?}");
    assert_eq!(report.container_runs, 100);
    assert_eq!(report.ci_runs, 20);
    let facts = collector.store().facts().unwrap();
    let ids: std::collections::BTreeSet<_> =
        facts.iter().map(|f| f.fact.installation.as_str()).collect();
    assert!(ids.contains(stored.as_str()) && ids.contains("install_00aa11bb22cc33dd"));
    assert_eq!(ids.len(), 2 + 100 + 20, "one ephemeral id a run");
    // The CI runs say so on the wire, and the others do not.
    let ci: std::collections::BTreeSet<_> = facts
        .iter()
        .filter(|f| f.fact.ci)
        .map(|f| f.fact.installation.as_str())
        .collect();
    assert_eq!(ci.len(), 20);
    assert!(ci.iter().all(|id| id.starts_with("ephemeral_")));

    // Every output says the same.
    let text = agent_telemetry_collector::report::text::render(&report);
    assert!(
        text.contains("from 2 installations") && text.contains("100 container runs and 20 CI runs"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        (
            &json["installations"],
            &json["container_runs"],
            &json["ci_runs"]
        ),
        (&2.into(), &100.into(), &20.into())
    );
    let html = agent_telemetry_collector::report::html::render(&report);
    assert!(html.contains("100 container runs and 20 CI runs"), "{html}");
    let _ = std::fs::remove_dir_all(&home);
    collector.stop().await;
}

/// Every wire format marks a run ephemeral (its id) and CI (a field or property), so the
/// report tells container runs, CI runs and installations apart whatever carried them.
#[tokio::test]
async fn every_format_tells_ephemeral_and_ci_runs_apart() {
    use agent_telemetry_collector::Format;
    for format in [Format::Docker, Format::Swarm, Format::Otlp] {
        let collector = collector().await;
        let endpoint = collector.endpoint_for(format);
        let name = format.name();
        for env in [
            &[("container", "docker"), ("AGENT_TELEMETRY_EPHEMERAL", "")][..],
            &[("container", "docker"), ("AGENT_TELEMETRY_EPHEMERAL", "")],
            &[("CI", "true"), ("AGENT_TELEMETRY_EPHEMERAL", "")],
        ] {
            let mut env = env.to_vec();
            env.push(("AGENT_TELEMETRY_FORMAT", name));
            run_once(&endpoint, None, &env).await;
        }
        run_once(
            &endpoint,
            Some(&temp_dir("kept")),
            &[("AGENT_TELEMETRY_FORMAT", name)],
        )
        .await;
        let report = Report::build(collector.store(), Range::default()).unwrap();
        assert_eq!(
            (report.installations, report.container_runs, report.ci_runs),
            (1, 2, 1),
            "{name}: {report:?}"
        );
        collector.stop().await;
    }
}
