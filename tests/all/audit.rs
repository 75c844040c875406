//! `agent-telemetry audit`: the shipped component passes, components that can reach files or
//! sockets are flagged, `--json` says the same as the text, and bad input is an error.

use std::collections::BTreeSet;

use agent_telemetry::TELEMETRY_COMPONENT;
use agent_telemetry_cli::audit::audit;

use crate::support;

/// The import names the text report lists (between `imports (n):` and `exports (n):`), with
/// whether each was marked FLAGGED.
fn listed_imports(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("imports ("))
        .skip(1)
        .take_while(|l| !l.starts_with("exports ("))
        .map(|l| {
            let mut words = l.split_whitespace();
            let mark = words.next().unwrap_or_default();
            let name = words.next().unwrap_or_default();
            (name.to_string(), mark == "FLAGGED")
        })
        .collect()
}

fn listed_exports(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("exports ("))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn is_file_or_socket(name: &str) -> bool {
    name.starts_with("wasi:filesystem/") || name.starts_with("wasi:sockets/")
}

#[tokio::test]
async fn shipped_component_passes_the_audit() {
    let wasm = support::wasm("agent_telemetry_guest");
    let (code, stdout, stderr, _) = support::run_cli(&["audit", wasm.to_str().unwrap()], &[]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let imports = listed_imports(&stdout);
    assert!(!imports.is_empty(), "no imports listed:\n{stdout}");
    let files_or_sockets: Vec<_> = imports
        .iter()
        .filter(|(name, _)| is_file_or_socket(name))
        .collect();
    assert!(
        files_or_sockets.is_empty(),
        "the telemetry component imports {files_or_sockets:?}"
    );
    assert!(
        imports.iter().all(|(_, flagged)| !flagged),
        "flagged:\n{stdout}"
    );
    assert!(
        imports
            .iter()
            .any(|(name, _)| name.starts_with("wasi:http/outgoing-handler@")),
        "wasi:http/outgoing-handler not listed:\n{stdout}"
    );
    let exports = listed_exports(&stdout);
    assert!(
        exports
            .iter()
            .any(|name| name.starts_with("agent:telemetry/recorder@")),
        "agent:telemetry/recorder not among the exports {exports:?}"
    );
}

/// The component carried in the binary (the one `run` uses), not only the file on disk.
#[test]
fn embedded_component_passes_the_audit() {
    let audit = audit(TELEMETRY_COMPONENT).unwrap();
    let flagged: Vec<_> = audit.flagged().map(|i| i.name.as_str()).collect();
    assert!(flagged.is_empty(), "flagged: {flagged:?}");
    assert!(
        !audit.imports.iter().any(|i| is_file_or_socket(&i.name)),
        "{:?}",
        audit.imports
    );
}

#[tokio::test]
async fn component_with_files_and_sockets_is_flagged() {
    // Exports `recorder` like the telemetry component, but its std reaches for the
    // filesystem and it opens a TCP connection.
    let wasm = support::wasm("fixture_sandbox_probe");
    let (code, stdout, stderr, _) = support::run_cli(&["audit", wasm.to_str().unwrap()], &[]).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let flagged: BTreeSet<String> = listed_imports(&stdout)
        .into_iter()
        .filter(|(_, flagged)| *flagged)
        .map(|(name, _)| name)
        .collect();
    for interface in [
        "wasi:filesystem/types",
        "wasi:filesystem/preopens",
        "wasi:sockets/tcp",
        "wasi:sockets/tcp-create-socket",
    ] {
        assert!(
            flagged
                .iter()
                .any(|name| name.starts_with(&format!("{interface}@"))),
            "{interface} not flagged:\n{stdout}"
        );
    }
    assert!(
        flagged.iter().all(|name| is_file_or_socket(name)),
        "flagged more than files and sockets: {flagged:?}"
    );
    // The summary names each flagged import again.
    let summary = stdout
        .split_once("import(s) flagged:")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    for name in &flagged {
        assert!(summary.contains(name.as_str()), "{name} not in the summary");
    }
}

#[tokio::test]
async fn json_report_matches_the_component() {
    for (fixture, expected_code) in [("fixture-net-probe", 1), ("agent_telemetry_guest", 0)] {
        let wasm = support::wasm(fixture);
        let (code, stdout, stderr, _) =
            support::run_cli(&["audit", "--json", wasm.to_str().unwrap()], &[]).await;
        assert_eq!(code, expected_code, "{fixture}: {stdout}\n{stderr}");

        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{fixture}: not JSON ({e}):\n{stdout}"));
        assert_eq!(report["component"], wasm.to_str().unwrap());

        let expected = audit(&std::fs::read(&wasm).unwrap()).unwrap();
        let imports = report["imports"].as_array().expect("imports array");
        let names: Vec<&str> = imports.iter().filter_map(|i| i["name"].as_str()).collect();
        let expected_names: Vec<&str> = expected.imports.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, expected_names, "{fixture}");

        let flagged: Vec<&str> = imports
            .iter()
            .filter(|i| i["allowed"] == false)
            .filter_map(|i| i["name"].as_str())
            .collect();
        assert_eq!(report["flagged"], flagged.len(), "{fixture}");
        for import in imports {
            assert!(import["allowed"].is_boolean(), "{import}");
            assert!(import["why"].as_str().is_some_and(|w| !w.is_empty()));
        }

        let exports: Vec<&str> = report["exports"]
            .as_array()
            .expect("exports array")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(exports.len(), expected.exports.len(), "{fixture}");

        if fixture == "fixture-net-probe" {
            assert!(
                flagged.iter().any(|n| n.starts_with("wasi:sockets/tcp@")),
                "{flagged:?}"
            );
            assert!(flagged.iter().all(|n| n.starts_with("wasi:sockets/")));
            assert!(exports.iter().any(|n| n.starts_with("wasi:cli/run@")));
        } else {
            assert!(flagged.is_empty(), "{flagged:?}");
            assert!(
                exports
                    .iter()
                    .any(|n| n.starts_with("agent:telemetry/recorder@"))
            );
        }
    }
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let dir = support::temp_dir("audit");
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not a component").unwrap();
    let core_module = dir.join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let truncated = dir.join("truncated.wasm");
    std::fs::write(
        &truncated,
        &TELEMETRY_COMPONENT[..TELEMETRY_COMPONENT.len() / 2],
    )
    .unwrap();
    let missing = dir.join("missing.wasm");

    for (path, message) in [
        (&garbage, "not a WebAssembly file"),
        (&core_module, "core WebAssembly module, not a component"),
        (&truncated, "not a valid WebAssembly component"),
        (&missing, "cannot read"),
    ] {
        for json in [false, true] {
            let mut args = vec!["audit"];
            if json {
                args.push("--json");
            }
            args.push(path.to_str().unwrap());
            let (code, stdout, stderr, _) = support::run_cli(&args, &[]).await;
            assert!(
                code != 0 && code != 1,
                "{args:?}: exit {code} should be an error, not a verdict"
            );
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
            assert!(
                stderr.contains(path.file_name().unwrap().to_str().unwrap()),
                "{args:?}: the error should name the file: {stderr}"
            );
            assert!(stdout.is_empty(), "{args:?}: {stdout}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
