// Shared by the build scripts that need wasm (included with `#[path]`): the library's (the
// telemetry component), the CLI's (the bundled example agent) and the test support crate's
// (the fixture agents). Builds workspace packages for wasm32-wasip2 with a nested cargo,
// installing the target first if needed. The nested build has its own target directory, so it
// never waits on the outer build's lock; two nested builds at once take turns on its lock.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// Builds `packages` and returns the directory holding their `.wasm` files; the build runs
/// again when anything under `watch` (paths from the workspace root) changes.
pub fn build(packages: &[&str], watch: &[&str]) -> PathBuf {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = workspace_root(&manifest_dir);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("wasm");
    ensure_target();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--profile",
            "wasm",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    // Flags meant for the outer (native) build must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not run cargo for the wasm build");
    assert!(
        status.success(),
        "building {packages:?} for {TARGET} failed"
    );

    // Cargo scans a directory named here recursively. The workspace's manifest holds the
    // `wasm` profile, and the lock file the versions built.
    for dir in watch.iter().chain(&["Cargo.toml", "Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    target_dir.join(TARGET).join("wasm")
}

/// The nearest directory at or above `start` whose Cargo.toml declares the workspace.
fn workspace_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "[workspace]"))
        })
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// `rustup target add` is idempotent, but asking rustc first keeps builds offline-friendly.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok();
    let installed = sysroot
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (one time)");
    let ok = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`rustup target add {TARGET}` failed; install the target and build again"
    );
}
