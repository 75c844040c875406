//! A per-user cache of compiled code, so that a process loads the telemetry component (and an
//! agent) in milliseconds instead of compiling it with cranelift every time.
//!
//! An entry is the output of `Component::serialize` for one component and one engine
//! configuration: its file name is the SHA-256 of the component's bytes and a hash of
//! everything wasmtime needs to be the same for compiled code to be usable
//! (`Engine::precompile_compatibility_hash`: wasmtime's version, target and settings). Each
//! file starts with a magic line and the SHA-256 of what follows, so a truncated or altered
//! file is noticed before wasmtime reads it; wasmtime itself refuses code from another version
//! or configuration. Either way the component is compiled again and the entry replaced.
//!
//! Why loading code from here is safe: compiled code is run as it is, so whoever can write
//! this directory could make this process run anything. The directory is therefore private:
//! created `0700`, and used only if it is owned by this user and not writable by anyone else;
//! entries are `0600` regular files owned by this user, opened without following links. Anyone
//! who can still write there is this user, who can run code as this user anyway. The checksum
//! is against damage (a full disk, a crash mid-write), not against that user.
//!
//! The directory is `AGENT_TELEMETRY_CACHE_DIR`, else the platform's cache directory
//! (`~/.cache/agent-telemetry/code` on Linux); `AGENT_TELEMETRY_CACHE=off` turns the cache off.
//! It is bounded in bytes: past [`DEFAULT_MAX_BYTES`] the entries used longest ago go first.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::trust::private_files::{
    check_private_dir, create_private_dir, read_private, replace_private, touch,
};

/// Where compiled code is kept, if not in the platform's cache directory.
pub const CACHE_DIR_VAR: &str = "AGENT_TELEMETRY_CACHE_DIR";
/// `off` (or `0`, `false`, `no`): compile every time, keep nothing.
pub const CACHE_SWITCH_VAR: &str = "AGENT_TELEMETRY_CACHE";
/// The bound on the cache's total size.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Opens every entry; changing it makes every older entry unreadable, as it should.
const MAGIC: &[u8] = b"agent-telemetry compiled code, format 1\n";
const DIGEST_LEN: usize = 32;
/// A file larger than this is not read as an entry.
const MAX_ENTRY_BYTES: u64 = 1 << 30;
const ENTRY_EXTENSION: &str = "cwasm";

/// How a component was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Loaded from a valid entry.
    Hit,
    /// No entry: compiled, and stored.
    Miss,
    /// An entry was there but could not be used (damaged, not ours, from another wasmtime or
    /// configuration): compiled, and the entry replaced.
    Replaced,
    /// The cache directory cannot be used safely: compiled, nothing stored.
    Uncached,
}

#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl CodeCache {
    pub fn new(dir: impl Into<PathBuf>) -> CodeCache {
        CodeCache {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    pub fn with_max_bytes(mut self, max_bytes: u64) -> CodeCache {
        self.max_bytes = max_bytes;
        self
    }

    /// The cache the environment asks for (see the module docs); `None` when it is off or
    /// there is no cache directory.
    pub fn from_env() -> Option<CodeCache> {
        CodeCache::from_vars(|name| std::env::var_os(name), dirs::cache_dir())
    }

    /// [`from_env`](Self::from_env) with the environment and the platform's cache directory
    /// given.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<std::ffi::OsString>,
        platform_cache: Option<PathBuf>,
    ) -> Option<CodeCache> {
        let switch = get(CACHE_SWITCH_VAR).unwrap_or_default();
        if crate::trust::consent::parse_bool(&switch.to_string_lossy()) == Some(false) {
            return None;
        }
        // Like every path setting here: empty or relative means unset.
        let dir = get(CACHE_DIR_VAR)
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
            .or_else(|| platform_cache.map(|d| d.join("agent-telemetry").join("code")))?;
        Some(CodeCache::new(dir))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `wasm` compiled for `engine`: through `cache` when there is one, else compiled.
    pub fn load(
        cache: Option<&CodeCache>,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, Lookup)> {
        match cache {
            Some(cache) => cache.component(engine, wasm),
            None => Ok((compile(engine, wasm)?, Lookup::Uncached)),
        }
    }

    /// `wasm` compiled for `engine`: from the cache when a valid entry is there, else compiled
    /// and stored.
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, Lookup)> {
        if let Err(why) = self.ensure_private_dir() {
            tracing::warn!(dir = %self.dir.display(), why, "the code cache cannot be used; compiling without it");
            return Ok((compile(engine, wasm)?, Lookup::Uncached));
        }
        let path = self.entry_path(engine, wasm);
        let mut lookup = Lookup::Miss;
        match read_entry(&path) {
            Ok(None) => {}
            Ok(Some(code)) => {
                // SAFETY: the code is this user's own compiler output, read from a directory
                // only this user can write (see the module docs) and checked against its
                // checksum; wasmtime checks that it is for this engine.
                match unsafe { Component::deserialize(engine, &code) } {
                    Ok(component) => {
                        // Marks the entry as just used, so the bound evicts others first.
                        let _ = touch(&path);
                        return Ok((component, Lookup::Hit));
                    }
                    Err(e) => {
                        tracing::info!(path = %path.display(), error = %e, "cached code is not for this engine; compiling again");
                        lookup = Lookup::Replaced;
                    }
                }
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), why, "cached code cannot be used; compiling again");
                lookup = Lookup::Replaced;
            }
        }
        let component = compile(engine, wasm)?;
        match component.serialize() {
            Ok(code) => {
                if let Err(e) = self.store(&path, &code) {
                    tracing::warn!(path = %path.display(), error = %e, "compiled code cannot be cached");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "compiled code cannot be serialized for the cache")
            }
        }
        Ok((component, lookup))
    }

    /// `<sha-256 of the component, 32 hex digits>-<engine hash, 16 hex digits>.cwasm`.
    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let content = hex::encode(&Sha256::digest(wasm)[..16]);
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine = hasher.finish();
        self.dir
            .join(format!("{content}-{engine:016x}.{ENTRY_EXTENSION}"))
    }

    /// Creates the directory if needed; `Err` with the reason when it is not this user's
    /// alone.
    fn ensure_private_dir(&self) -> Result<(), String> {
        create_private_dir(&self.dir).map_err(|e| format!("cannot create it: {e}"))?;
        check_private_dir(&self.dir)
    }

    fn store(&self, path: &Path, code: &[u8]) -> std::io::Result<()> {
        let mut entry = Vec::with_capacity(MAGIC.len() + DIGEST_LEN + code.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&Sha256::digest(code));
        entry.extend_from_slice(code);
        replace_private(path, &entry)?;
        self.evict_beyond_bound(path);
        Ok(())
    }

    /// Removes the entries used longest ago until the cache is within its bound; `keep` (the
    /// entry just written) stays whatever its size.
    fn evict_beyond_bound(&self, keep: &Path) {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = listing
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == ENTRY_EXTENSION))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

/// The compiled code in the entry at `path`: `Ok(None)` when there is none, `Err` with the
/// reason when there is a file that cannot be used.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let Some(mut entry) = read_private(path, MAX_ENTRY_BYTES).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let head = MAGIC.len() + DIGEST_LEN;
    if entry.len() < head || !entry.starts_with(MAGIC) {
        return Err("it is not an entry of this cache (or it was cut short)".to_string());
    }
    if Sha256::digest(&entry[head..])[..] != entry[MAGIC.len()..head] {
        return Err("its checksum does not match (cut short or altered)".to_string());
    }
    Ok(Some(entry.split_off(head)))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    Ok(Component::new(engine, wasm)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component there is, and another one (a custom section more).
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";
    const OTHER: &[u8] = b"\0asm\x0d\0\x01\0\x00\x04\x03abc";

    fn engine() -> Engine {
        crate::runtime::engine::new_engine().unwrap()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        found.retain(|p| p.extension().is_some_and(|x| x == ENTRY_EXTENSION));
        found.sort();
        found
    }

    #[test]
    fn a_miss_compiles_and_stores_and_the_next_lookup_is_a_hit() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(root.path().join("code"));
        let engine = engine();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Miss);
        let stored = entries(cache.dir());
        assert_eq!(stored.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode(cache.dir()), mode(&stored[0])), (0o700, 0o600));
        }
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Hit);
        assert_eq!(cache.component(&engine, OTHER).unwrap().1, Lookup::Miss);
        assert_eq!(entries(cache.dir()).len(), 2, "one entry per component");
    }

    #[test]
    fn a_truncated_or_altered_entry_is_compiled_again_and_replaced() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(root.path());
        let engine = engine();
        cache.component(&engine, EMPTY).unwrap();
        let path = entries(cache.dir()).remove(0);
        let whole = fs::read(&path).unwrap();

        fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        assert_eq!(fs::read(&path).unwrap(), whole, "the entry is whole again");

        let mut altered = whole.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        fs::write(&path, &altered).unwrap();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);

        fs::write(&path, b"not an entry").unwrap();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Hit);
    }

    #[test]
    fn code_from_another_engine_configuration_is_not_used() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(root.path());
        let ours = engine();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let theirs = Engine::new(&config).unwrap();
        cache.component(&ours, EMPTY).unwrap();
        // Another configuration looks for another entry...
        assert_eq!(cache.component(&theirs, EMPTY).unwrap().1, Lookup::Miss);
        let [a, b] = <[PathBuf; 2]>::try_from(entries(cache.dir())).unwrap();
        // ...and code from another configuration under its name is refused by wasmtime.
        let ours_path = cache.entry_path(&ours, EMPTY);
        let theirs_path = if ours_path == a { b } else { a };
        fs::copy(&theirs_path, &ours_path).unwrap();
        assert_eq!(cache.component(&ours, EMPTY).unwrap().1, Lookup::Replaced);
        assert_eq!(cache.component(&ours, EMPTY).unwrap().1, Lookup::Hit);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_not_used_and_a_link_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let cache = CodeCache::new(&open);
        let engine = engine();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Uncached);
        assert!(entries(&open).is_empty(), "nothing is stored there");

        let cache = CodeCache::new(root.path().join("private"));
        cache.component(&engine, EMPTY).unwrap();
        let path = entries(cache.dir()).remove(0);
        let elsewhere = root.path().join("elsewhere.cwasm");
        fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
    }

    #[test]
    fn the_entries_used_longest_ago_go_first_beyond_the_bound() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(root.path()).with_max_bytes(1);
        let engine = engine();
        cache.component(&engine, EMPTY).unwrap();
        cache.component(&engine, OTHER).unwrap();
        let left = entries(cache.dir());
        assert_eq!(
            left,
            [cache.entry_path(&engine, OTHER)],
            "only the newest stays"
        );
    }

    #[test]
    fn the_cache_directory_comes_from_the_environment_and_can_be_turned_off() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let platform = Some(PathBuf::from("/home/u/.cache"));
        let dir = |c: Option<CodeCache>| c.map(|c| c.dir().to_path_buf());
        assert_eq!(
            dir(CodeCache::from_vars(vars(&[]), platform.clone())),
            Some(PathBuf::from("/home/u/.cache/agent-telemetry/code"))
        );
        assert_eq!(
            dir(CodeCache::from_vars(
                vars(&[(CACHE_DIR_VAR, "/srv/cache")]),
                platform.clone()
            )),
            Some(PathBuf::from("/srv/cache"))
        );
        for unset in ["", "relative/dir"] {
            let set: &'static [(&str, &str)] = if unset.is_empty() {
                &[(CACHE_DIR_VAR, "")]
            } else {
                &[(CACHE_DIR_VAR, "relative/dir")]
            };
            assert_eq!(
                dir(CodeCache::from_vars(vars(set), platform.clone())),
                Some(PathBuf::from("/home/u/.cache/agent-telemetry/code")),
                "{unset:?} counts as unset"
            );
        }
        assert!(
            CodeCache::from_vars(vars(&[(CACHE_SWITCH_VAR, "off")]), platform.clone()).is_none()
        );
        assert!(CodeCache::from_vars(vars(&[]), None).is_none());
    }
}
