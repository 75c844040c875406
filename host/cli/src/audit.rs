//! `audit COMPONENT.wasm`: what a component imports and exports, and which imports fall
//! outside what it is allowed to use. A component that exports `agent:telemetry/recorder`, and
//! neither exports `wasi:cli/run` nor imports `recorder`, is judged as a telemetry component
//! ([`ALLOWED_IMPORTS`]); any other as an agent (so an agent cannot pass as the component by
//! exporting a recorder of its own), which may
//! use WASI but never `wasi:http`, `wasi:config` or `wasi:sockets` ([`judge_agent_import`]):
//! composed with the telemetry component (`wac plug`) and run by a stock host that grants
//! those (`wasmtime run -S http -S config`), an agent importing them would share the
//! component's network and read its configuration, the pseudonymization key included.
//!
//! The component is read with wasmtime itself (compiled, never instantiated), so the audit
//! sees the same import names the runtime's linker would have to satisfy. The allowed set is
//! [`ALLOWED_IMPORTS`]; matching ignores the version, so a rebuild against a newer WASI
//! patch release audits the same.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::Serialize;
use wasmtime::component::{Component, types::ComponentItem};
use wasmtime::{Config, Engine, OptLevel};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// The component to inspect (.wasm).
    pub component: PathBuf,
    /// Print a machine-readable JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// An interface a telemetry component may import, and why.
pub struct AllowedImport {
    /// `namespace:package/interface`, without a version.
    pub interface: &'static str,
    pub why: &'static str,
}

const fn allow(interface: &'static str, why: &'static str) -> AllowedImport {
    AllowedImport { interface, why }
}

/// Everything the telemetry component may import. It needs to send HTTP requests (which the
/// host's egress policy checks), read its settings, tell the time and draw random ids; the
/// rest is what Rust's std imports into every wasm32-wasip2 component. Files and sockets
/// are not here: a component that can open a socket can send data past the HTTP allowlist,
/// and one that can read files can send what it finds.
pub const ALLOWED_IMPORTS: &[AllowedImport] = &[
    allow(
        "wasi:http/outgoing-handler",
        "sends telemetry batches; the host's egress policy decides where they may go",
    ),
    allow(
        "wasi:http/types",
        "the request, response and header types outgoing-handler is written in",
    ),
    allow(
        "wasi:config/store",
        "reads its settings (endpoint, consent, ids) from the host",
    ),
    allow("wasi:clocks/wall-clock", "timestamps on events and batches"),
    allow(
        "wasi:clocks/monotonic-clock",
        "request timeouts and retry back-off",
    ),
    allow("wasi:random/random", "random event and batch ids"),
    allow(
        "wasi:random/insecure",
        "Rust std: non-secret randomness, reveals nothing about the machine",
    ),
    allow(
        "wasi:random/insecure-seed",
        "Rust std: seeds hash maps, reveals nothing about the machine",
    ),
    allow("wasi:io/error", "errors of the wasi:http body streams"),
    allow("wasi:io/poll", "waiting on HTTP responses without spinning"),
    allow(
        "wasi:io/streams",
        "writing request bodies and reading responses",
    ),
    allow(
        "wasi:cli/environment",
        "Rust std imports it; a host can give an empty environment and no arguments",
    ),
    allow("wasi:cli/exit", "Rust std: exit on a panic or abort"),
    allow(
        "wasi:cli/stdin",
        "Rust std's standard input; a host can attach none",
    ),
    allow(
        "wasi:cli/stdout",
        "Rust std's standard output; a host can discard it",
    ),
    allow(
        "wasi:cli/stderr",
        "Rust std's standard error; a host can discard it",
    ),
    allow(
        "wasi:cli/terminal-input",
        "Rust std: the terminal resource type; it carries no data",
    ),
    allow(
        "wasi:cli/terminal-output",
        "Rust std: the terminal resource type; it carries no data",
    ),
    allow(
        "wasi:cli/terminal-stdin",
        "Rust std: whether stdin is a terminal, nothing more",
    ),
    allow(
        "wasi:cli/terminal-stdout",
        "Rust std: whether stdout is a terminal, nothing more",
    ),
    allow(
        "wasi:cli/terminal-stderr",
        "Rust std: whether stderr is a terminal, nothing more",
    ),
];

/// Why an import outside [`ALLOWED_IMPORTS`] matters, by package; the first match wins.
const FLAGGED_PACKAGES: &[(&str, &str)] = &[
    (
        "wasi:filesystem",
        "file access: telemetry has no files to read, and what it reads it could send",
    ),
    (
        "wasi:sockets",
        "raw network access that would bypass the host's HTTP egress allowlist",
    ),
    (
        "wasi:http",
        "a wasi:http interface other than outgoing requests",
    ),
];

const FLAGGED_OTHER: &str = "not in the allowed set of imports";

/// Why an agent may not import a package, by package.
const AGENT_FLAGGED_PACKAGES: &[(&str, &str)] = &[
    (
        "wasi:http",
        "an agent's own network: `run` refuses it, and composed with the telemetry component \
         under a stock host (`wasmtime run -S http`, which has no allowlist) it could send \
         anything anywhere",
    ),
    (
        "wasi:config",
        "unsafe to compose with the telemetry component: under a stock host \
         (`wasmtime run -S config`) the agent reads the same keys the component gets, its \
         pseudonymization key and endpoint among them",
    ),
    (
        "wasi:sockets",
        "raw network access: `run` gives agents none",
    ),
];

const AGENT_RECORDER: &str = "how an agent reports its usage: the telemetry component serves it";
const AGENT_OTEL: &str = "OpenTelemetry the agent emits: `run` maps its GenAI spans to events \
     through the same anonymizer and drops everything else, content first (docs/opentelemetry.md)";
const AGENT_WASI: &str =
    "WASI an agent may use: `run` grants no network, and only the files given with --dir";

/// Judges one import of an agent: any WASI but [`AGENT_FLAGGED_PACKAGES`] (`wasi:otel`
/// among them), and `recorder`.
pub fn judge_agent_import(name: &str) -> Verdict {
    let (_, package) = interface_and_package(name);
    if let Some((_, why)) = AGENT_FLAGGED_PACKAGES.iter().find(|(p, _)| *p == package) {
        return Verdict {
            allowed: false,
            why,
        };
    }
    match package {
        "agent:telemetry" => Verdict {
            allowed: true,
            why: AGENT_RECORDER,
        },
        "wasi:otel" => Verdict {
            allowed: true,
            why: AGENT_OTEL,
        },
        _ if package.starts_with("wasi:") => Verdict {
            allowed: true,
            why: AGENT_WASI,
        },
        _ => Verdict {
            allowed: false,
            why: FLAGGED_OTHER,
        },
    }
}

/// What the audited component is, which decides the rules its imports are judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// It exports `agent:telemetry/recorder`, and neither exports `wasi:cli/run` nor imports
    /// `recorder`: [`ALLOWED_IMPORTS`].
    TelemetryComponent,
    /// Anything else: [`judge_agent_import`].
    Agent,
}

/// Whether an import may be used, and the reason either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub why: &'static str,
}

/// Judges one import name (`wasi:http/types@0.2.12`) against [`ALLOWED_IMPORTS`], ignoring
/// the version.
pub fn judge_import(name: &str) -> Verdict {
    let (interface, package) = interface_and_package(name);
    if let Some(entry) = ALLOWED_IMPORTS.iter().find(|a| a.interface == interface) {
        return Verdict {
            allowed: true,
            why: entry.why,
        };
    }
    let why = FLAGGED_PACKAGES
        .iter()
        .find(|(flagged, _)| *flagged == package)
        .map_or(FLAGGED_OTHER, |(_, why)| why);
    Verdict {
        allowed: false,
        why,
    }
}

/// `wasi:http/types@0.2.12` as `wasi:http/types` and `wasi:http`: the version is ignored.
fn interface_and_package(name: &str) -> (&str, &str) {
    let interface = name
        .split_once('@')
        .map_or(name, |(interface, _)| interface);
    let package = interface
        .split_once('/')
        .map_or(interface, |(package, _)| package);
    (interface, package)
}

/// One import of the audited component.
#[derive(Debug, Clone, Serialize)]
pub struct AuditedImport {
    pub name: String,
    /// `instance`, `func`, `type`, … (what the component model calls the item).
    pub kind: &'static str,
    pub allowed: bool,
    /// Why it is allowed, or why it is flagged.
    pub why: &'static str,
}

/// One export of the audited component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentExport {
    pub name: String,
    pub kind: &'static str,
}

/// What a component imports and exports, with a verdict on each import.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub role: Role,
    pub imports: Vec<AuditedImport>,
    pub exports: Vec<ComponentExport>,
}

impl Audit {
    pub fn flagged(&self) -> impl Iterator<Item = &AuditedImport> {
        self.imports.iter().filter(|i| !i.allowed)
    }

    pub fn passes(&self) -> bool {
        self.flagged().next().is_none()
    }
}

/// Why a file could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    #[error("wasmtime could not be set up to read the component: {0}")]
    Engine(String),
}

const WASM_MAGIC: &[u8] = b"\0asm";
/// Bytes 6..8 of the header: the layer, 0 for a core module, 1 for a component.
const CORE_MODULE_LAYER: [u8; 2] = [0, 0];

/// Reads the imports and exports of a component from its bytes.
pub fn audit(bytes: &[u8]) -> Result<Audit, AuditError> {
    // wasmtime would reject these too, but with a message about parser internals.
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(AuditError::NotWasm);
    }
    if bytes[6..8] == CORE_MODULE_LAYER {
        return Err(AuditError::CoreModule);
    }

    let mut config = Config::new();
    config.wasm_component_model(true);
    // The code is compiled only to get at the types and is never run: skip optimizing it.
    config.cranelift_opt_level(OptLevel::None);
    let engine = Engine::new(&config).map_err(|e| AuditError::Engine(format!("{e:#}")))?;
    let component = Component::from_binary(&engine, bytes)
        .map_err(|e| AuditError::InvalidComponent(format!("{e:#}")))?;
    let ty = component.component_type();

    let exports: Vec<ComponentExport> = ty
        .exports(&engine)
        .map(|(name, item)| ComponentExport {
            name: name.to_string(),
            kind: kind_of(&item.ty),
        })
        .collect();
    let exports_any = |prefix: &str| exports.iter().any(|e| e.name.starts_with(prefix));
    let imports_recorder = ty
        .imports(&engine)
        .any(|(name, _)| name.starts_with("agent:telemetry/recorder@"));
    let role = if exports_any("agent:telemetry/recorder@")
        && !exports_any("wasi:cli/run@")
        && !imports_recorder
    {
        Role::TelemetryComponent
    } else {
        Role::Agent
    };
    let imports = ty
        .imports(&engine)
        .map(|(name, item)| {
            let verdict = match role {
                Role::TelemetryComponent => judge_import(name),
                Role::Agent => judge_agent_import(name),
            };
            AuditedImport {
                name: name.to_string(),
                kind: kind_of(&item.ty),
                allowed: verdict.allowed,
                why: verdict.why,
            }
        })
        .collect();
    Ok(Audit {
        role,
        imports,
        exports,
    })
}

fn kind_of(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// The `--json` report.
#[derive(Serialize)]
struct JsonReport<'a> {
    component: String,
    role: Role,
    imports: &'a [AuditedImport],
    exports: &'a [ComponentExport],
    flagged: usize,
}

/// Prints the audit; the exit code is 0 when every import is allowed, 1 otherwise. A file
/// that cannot be read or is not a component is an error (the CLI exits 2).
pub fn run(args: &AuditArgs) -> Result<i32> {
    let path = args.component.display();
    let bytes = std::fs::read(&args.component).with_context(|| format!("cannot read {path}"))?;
    let audit = audit(&bytes).with_context(|| format!("cannot audit {path}"))?;
    let flagged = audit.flagged().count();

    if args.json {
        let report = JsonReport {
            component: path.to_string(),
            role: audit.role,
            imports: &audit.imports,
            exports: &audit.exports,
            flagged,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text_report(&path.to_string(), &audit));
    }
    Ok(if flagged == 0 { 0 } else { 1 })
}

fn text_report(component: &str, audit: &Audit) -> String {
    use std::fmt::Write as _;

    let width = audit
        .imports
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "component: {component}");
    let _ = writeln!(
        out,
        "role: {}",
        match audit.role {
            Role::TelemetryComponent => "telemetry component (it exports agent:telemetry/recorder)",
            Role::Agent => "agent (judged by the rules for agents)",
        }
    );
    let _ = writeln!(out, "imports ({}):", audit.imports.len());
    for import in &audit.imports {
        let mark = if import.allowed { "ok     " } else { "FLAGGED" };
        let _ = writeln!(out, "  {mark}  {:width$}  {}", import.name, import.why);
    }
    let _ = writeln!(out, "exports ({}):", audit.exports.len());
    for export in &audit.exports {
        let _ = writeln!(out, "  {} ({})", export.name, export.kind);
    }
    let flagged = audit.flagged().count();
    if flagged == 0 {
        let _ = writeln!(out, "every import is in the allowed set");
    } else {
        let _ = writeln!(out, "{flagged} import(s) flagged:");
        for import in audit.flagged() {
            let _ = writeln!(out, "  {}", import.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_imports_match_whatever_the_version() {
        for name in [
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:http/outgoing-handler",
            "wasi:http/types@0.2.12",
            "wasi:config/store@0.2.0-rc.1",
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.12",
            "wasi:random/random@0.2.12",
            "wasi:random/insecure@0.2.0",
            "wasi:random/insecure-seed@0.2.4",
            "wasi:io/error@0.2.0",
            "wasi:io/poll@0.2.12",
            "wasi:io/streams@0.2.12",
            "wasi:cli/environment@0.2.6",
            "wasi:cli/exit@0.2.6",
            "wasi:cli/stdin@0.2.6",
            "wasi:cli/stdout@0.2.6",
            "wasi:cli/stderr@0.2.6",
            "wasi:cli/terminal-input@0.2.6",
            "wasi:cli/terminal-output@0.2.6",
            "wasi:cli/terminal-stdin@0.2.6",
            "wasi:cli/terminal-stdout@0.2.6",
            "wasi:cli/terminal-stderr@0.2.6",
        ] {
            let verdict = judge_import(name);
            assert!(verdict.allowed, "{name} should be allowed");
            assert!(!verdict.why.is_empty());
        }
    }

    #[test]
    fn files_and_sockets_are_flagged() {
        for name in [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:sockets/tcp@0.2.6",
            "wasi:sockets/udp@0.2.6",
            "wasi:sockets/ip-name-lookup@0.2.6",
            "wasi:sockets/instance-network",
        ] {
            let verdict = judge_import(name);
            assert!(!verdict.allowed, "{name} should be flagged");
            assert_ne!(verdict.why, FLAGGED_OTHER, "{name} should say why");
        }
    }

    #[test]
    fn lookalike_names_are_flagged() {
        for name in [
            // Near misses of allowed names must not pass on a prefix or suffix.
            "wasi:http/outgoing-handler-extra@0.2.12",
            "wasi:http/incoming-handler@0.2.12",
            "wasi:httpx/types@0.2.12",
            "evil:http/types@0.2.12",
            "wasi:cli/terminal-anything@0.2.6",
            "wasi:cli/run@0.2.6",
            "wasi:http/types/extra@0.2.12",
            "agent:telemetry/recorder@0.1.0",
            "types",
            "",
        ] {
            assert!(!judge_import(name).allowed, "{name:?} should be flagged");
        }
    }

    #[test]
    fn non_wasm_and_core_modules_are_errors() {
        assert!(matches!(audit(b""), Err(AuditError::NotWasm)));
        assert!(matches!(
            audit(b"this is not wasm at all"),
            Err(AuditError::NotWasm)
        ));
        // The smallest core module: magic, version 1, layer 0.
        assert!(matches!(
            audit(b"\0asm\x01\0\0\0"),
            Err(AuditError::CoreModule)
        ));
        // A component header followed by garbage.
        assert!(matches!(
            audit(b"\0asm\x0d\0\x01\0\xff\xff\xff"),
            Err(AuditError::InvalidComponent(_))
        ));
    }
}
