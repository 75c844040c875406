//! A per-user cache of compiled code, so that a process loads the telemetry component (and an
//! agent) in milliseconds instead of compiling it with cranelift every time.
//!
//! An entry is the output of `Component::serialize` for one component and one engine
//! configuration: its file name is the SHA-256 of the component's bytes and a hash of
//! everything wasmtime needs to be the same for compiled code to be usable
//! (`Engine::precompile_compatibility_hash`: wasmtime's version, target and settings).
//!
//! # Threat model
//! An entry is native machine code that this process runs as it is, with the user's rights,
//! outside any sandbox: `Component::deserialize` checks only that the code was made by a
//! compatible engine, not who made it. So an entry is loaded only when it carries a valid
//! HMAC-SHA256 tag, made with a per-user secret key over the entry's name and its code:
//!
//! - Whoever can write the cache directory but cannot read the key (an agent given the
//!   directory with `run --dir`, a cache restored from another machine or user, a shared
//!   volume) cannot make an entry that is loaded: a planted or altered entry, a checksum
//!   recomputed over it, and a valid entry of another program copied over this one's name all
//!   fail the tag, and the component is compiled again and the entry replaced.
//! - The key lives apart from the entries, in a private directory of its own
//!   (`AGENT_TELEMETRY_KEY_DIR`, else `~/.local/share/agent-telemetry/code-cache-key` on
//!   Linux), created `0700` with the key `0600`, and never in the cache directory itself:
//!   reading the entries does not give the key. A key file that others could read is not
//!   trusted: a fresh key replaces it. Agents are refused both directories, always (see
//!   `agent::state_dirs`).
//! - Both directories are used only if they are owned by this user and writable by no one
//!   else, and files there are opened without following links. Anyone who can still read the
//!   key is this user, who can run code as this user anyway.
//! - The tag also catches damage (a full disk, a crash mid-write).
//!
//! The directory is `AGENT_TELEMETRY_CACHE_DIR`, else the platform's cache directory
//! (`~/.cache/agent-telemetry/code` on Linux); `AGENT_TELEMETRY_CACHE=off` turns the cache off
//! (a value that is not an on/off spelling turns it off too, with a warning). It is bounded in
//! bytes: past [`DEFAULT_MAX_BYTES`] the entries used longest ago go first.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::trust::consent::Switch;
use crate::trust::private_files::{
    check_private_dir, create_private_dir, create_private_once, read_private, replace_private,
    touch,
};

/// Where compiled code is kept, if not in the platform's cache directory.
pub const CACHE_DIR_VAR: &str = crate::environment::CACHE_DIR;
/// `off` (or `0`, `false`, `no`): compile every time, keep nothing.
pub const CACHE_SWITCH_VAR: &str = crate::environment::CACHE;
/// Where the cache's key is kept, if not in the platform's data directory.
pub const KEY_DIR_VAR: &str = crate::environment::KEY_DIR;
/// The key's file in its directory.
pub const KEY_FILE: &str = "key";
/// The bound on the cache's total size.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Opens every entry; changing it makes every older entry unreadable, as it should (format 1
/// carried a plain checksum, which proves nothing about who wrote the file).
const MAGIC: &[u8] = b"agent-telemetry compiled code, format 2\n";
const TAG_LEN: usize = 32;
/// A file larger than this is not read as an entry.
const MAX_ENTRY_BYTES: u64 = 1 << 30;
const ENTRY_EXTENSION: &str = "cwasm";
/// The key is 64 hex digits and a newline; a larger file is not one.
const KEY_FILE_MAX_BYTES: u64 = 256;

type HmacSha256 = Hmac<Sha256>;

/// How a component was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Loaded from a valid entry.
    Hit,
    /// No entry: compiled, and stored.
    Miss,
    /// An entry was there but could not be used (damaged, planted, another program's, from
    /// another wasmtime or configuration): compiled, and the entry replaced.
    Replaced,
    /// The cache directory or its key cannot be used safely: compiled, nothing stored.
    Uncached,
}

/// A directory of compiled code and the directory of the key that vouches for it (see the
/// module docs: the threat model).
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
    key_dir: PathBuf,
    max_bytes: u64,
}

impl CodeCache {
    /// A cache of entries in `dir`, tagged with the key kept in `key_dir` (made there on first
    /// use). The two must differ: the key is never beside the entries it vouches for.
    pub fn new(dir: impl Into<PathBuf>, key_dir: impl Into<PathBuf>) -> CodeCache {
        CodeCache {
            dir: dir.into(),
            key_dir: key_dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The same cache bounded to `max_bytes` in all (1 GiB by default).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> CodeCache {
        self.max_bytes = max_bytes;
        self
    }

    /// The cache the environment asks for (see the module docs); `None` when it is off or
    /// there is no cache or data directory.
    pub fn from_env() -> Option<CodeCache> {
        CodeCache::from_vars(
            crate::environment::var,
            dirs::cache_dir(),
            dirs::data_local_dir(),
        )
    }

    /// [`from_env`](Self::from_env) with the environment and the platform's cache and data
    /// directories given.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<std::ffi::OsString>,
        platform_cache: Option<PathBuf>,
        platform_data: Option<PathBuf>,
    ) -> Option<CodeCache> {
        if !switch(&get).on {
            return None;
        }
        let (dir, key_dir) = dirs_from_vars(&get, platform_cache, platform_data);
        Some(CodeCache::new(dir?, key_dir?))
    }

    /// Where the entries are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the key is.
    pub fn key_dir(&self) -> &Path {
        &self.key_dir
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
        let key = match self.ensure_private_dir().and_then(|()| self.key()) {
            Ok(key) => key,
            Err(why) => {
                tracing::warn!(dir = %self.dir.display(), why, "the code cache cannot be used; compiling without it");
                return Ok((compile(engine, wasm)?, Lookup::Uncached));
            }
        };
        let path = self.entry_path(engine, wasm);
        let mut lookup = Lookup::Miss;
        match read_entry(&path, &key) {
            Ok(None) => {}
            Ok(Some(code)) => {
                // SAFETY: the code carries a tag that only a holder of this user's cache key
                // can make, over this entry's name (see the module docs: the threat model);
                // wasmtime checks that it is for this engine.
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
                if let Err(e) = self.store(&path, &key, &code) {
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

    /// The key, made on first use; `Err` with the reason when its directory is not this
    /// user's alone, or is the cache directory itself.
    fn key(&self) -> Result<CacheKey, String> {
        let resolve = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        create_private_dir(&self.key_dir)
            .map_err(|e| format!("cannot create the key's directory: {e}"))?;
        let (dir, key_dir) = (resolve(&self.dir), resolve(&self.key_dir));
        if dir.starts_with(&key_dir) || key_dir.starts_with(&dir) {
            return Err("the key's directory and the cache's must not hold one another".into());
        }
        check_private_dir(&self.key_dir).map_err(|why| format!("the key's directory: {why}"))?;
        CacheKey::load_or_create(&self.key_dir.join(KEY_FILE))
    }

    fn store(&self, path: &Path, key: &CacheKey, code: &[u8]) -> std::io::Result<()> {
        let mut entry = Vec::with_capacity(MAGIC.len() + TAG_LEN + code.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&key.tag(path, code).finalize().into_bytes());
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

/// `AGENT_TELEMETRY_CACHE`, read as every switch is: on unless it says off, and off (with a
/// warning) when it says something that is not an on/off spelling.
pub fn switch(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Switch {
    let value = get(CACHE_SWITCH_VAR).map(|v| v.to_string_lossy().into_owned());
    Switch::read(CACHE_SWITCH_VAR, value.as_deref(), true, false)
}

/// Where the cache and its key are (or would be): the cache directory and the key's, whether
/// or not the cache is on (agents are refused both either way).
pub fn dirs_from_vars(
    get: impl Fn(&str) -> Option<std::ffi::OsString>,
    platform_cache: Option<PathBuf>,
    platform_data: Option<PathBuf>,
) -> (Option<PathBuf>, Option<PathBuf>) {
    // Like every path setting here: empty or relative means unset.
    let absolute = |name: &str| get(name).map(PathBuf::from).filter(|d| d.is_absolute());
    (
        absolute(CACHE_DIR_VAR)
            .or_else(|| platform_cache.map(|d| d.join("agent-telemetry").join("code"))),
        // A directory of its own: on Windows the data and cache directories are one.
        absolute(KEY_DIR_VAR)
            .or_else(|| platform_data.map(|d| d.join("agent-telemetry").join("code-cache-key"))),
    )
}

/// The secret that tags entries: 32 random bytes, kept as 64 hex digits.
struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key in `path`; a fresh one written there when there is none, or when the file there
    /// is not a key (planted, cut short, a link, another user's, one others can read).
    fn load_or_create(path: &Path) -> Result<CacheKey, String> {
        let read = || {
            let bytes = read_private(path, KEY_FILE_MAX_BYTES).ok().flatten()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::symlink_metadata(path).ok()?.permissions().mode();
                if mode & 0o077 != 0 {
                    return None;
                }
            }
            CacheKey::parse(&bytes)
        };
        let unwritable = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
        if let Some(key) = read() {
            return Ok(key);
        }
        let fresh = format!("{}\n", crate::trust::identity::random_hex(32));
        if path.symlink_metadata().is_ok() {
            // Something that is not a key is there: replaced, and every entry it tagged (none
            // of ours) is compiled again.
            replace_private(path, fresh.as_bytes()).map_err(unwritable)?;
        } else {
            // Two processes starting at once agree on one key.
            create_private_once(path, fresh.as_bytes()).map_err(unwritable)?;
        }
        read().ok_or_else(|| format!("{} cannot be read back", path.display()))
    }

    fn parse(bytes: &[u8]) -> Option<CacheKey> {
        let text = std::str::from_utf8(bytes).ok()?.trim_end_matches('\n');
        let mut key = [0u8; 32];
        hex::decode_to_slice(text, &mut key).ok()?;
        Some(CacheKey(key))
    }

    /// The MAC over the entry's file name and its code: a tag made for one entry does not
    /// vouch for another program's code copied under its name.
    fn tag(&self, path: &Path, code: &[u8]) -> HmacSha256 {
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(name);
        mac.update(&[0]);
        mac.update(code);
        mac
    }
}

/// The compiled code in the entry at `path`: `Ok(None)` when there is none, `Err` with the
/// reason when there is a file that cannot be used.
fn read_entry(path: &Path, key: &CacheKey) -> Result<Option<Vec<u8>>, String> {
    let Some(mut entry) = read_private(path, MAX_ENTRY_BYTES).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let head = MAGIC.len() + TAG_LEN;
    if entry.len() < head || !entry.starts_with(MAGIC) {
        return Err("it is not an entry of this cache (or it was cut short)".to_string());
    }
    key.tag(path, &entry[head..])
        .verify_slice(&entry[MAGIC.len()..head])
        .map_err(|_| {
            "its tag does not match: not made with this user's key for this entry (planted, \
             copied from another entry, cut short or altered)"
                .to_string()
        })?;
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
        let cache = CodeCache::new(root.path().join("code"), root.path().join("key"));
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
        let cache = CodeCache::new(root.path().join("code"), root.path().join("key"));
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
        let cache = CodeCache::new(root.path().join("code"), root.path().join("key"));
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
        let cache = CodeCache::new(&open, root.path().join("key"));
        let engine = engine();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Uncached);
        assert!(entries(&open).is_empty(), "nothing is stored there");

        let cache = CodeCache::new(root.path().join("private"), root.path().join("key"));
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
        let cache =
            CodeCache::new(root.path().join("code"), root.path().join("key")).with_max_bytes(1);
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
        let platform = || {
            (
                Some(PathBuf::from("/home/u/.cache")),
                Some(PathBuf::from("/home/u/.local/share")),
            )
        };
        let from = |pairs: &'static [(&'static str, &'static str)]| {
            let (cache, data) = platform();
            CodeCache::from_vars(vars(pairs), cache, data)
                .map(|c| (c.dir().to_path_buf(), c.key_dir().to_path_buf()))
        };
        let default = (
            PathBuf::from("/home/u/.cache/agent-telemetry/code"),
            PathBuf::from("/home/u/.local/share/agent-telemetry/code-cache-key"),
        );
        assert_eq!(from(&[]), Some(default.clone()));
        assert_eq!(
            from(&[(CACHE_DIR_VAR, "/srv/cache"), (KEY_DIR_VAR, "/srv/key")]),
            Some((PathBuf::from("/srv/cache"), PathBuf::from("/srv/key")))
        );
        for set in [
            &[(CACHE_DIR_VAR, ""), (KEY_DIR_VAR, "")],
            &[
                (CACHE_DIR_VAR, "relative/dir"),
                (KEY_DIR_VAR, "relative/key"),
            ],
        ] {
            assert_eq!(from(set), Some(default.clone()), "{set:?} counts as unset");
        }
        assert_eq!(from(&[(CACHE_SWITCH_VAR, "on")]), Some(default.clone()));
        assert!(from(&[(CACHE_SWITCH_VAR, "off")]).is_none());
        // A value that is not an on/off spelling turns the cache off, and says so.
        assert!(from(&[(CACHE_SWITCH_VAR, "disable")]).is_none());
        assert!(
            switch(vars(&[(CACHE_SWITCH_VAR, "disable")]))
                .warning
                .is_some()
        );
        assert!(CodeCache::from_vars(vars(&[]), None, None).is_none());
    }

    /// The attack of issue 20: an agent that could write the cache copied its own entry over
    /// another program's, and the next run of that program ran the agent's code.
    #[test]
    fn a_valid_entry_copied_under_another_programs_name_is_not_loaded() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(root.path().join("code"), root.path().join("key"));
        let engine = engine();
        cache.component(&engine, EMPTY).unwrap();
        cache.component(&engine, OTHER).unwrap();
        let (victim, planted) = (
            cache.entry_path(&engine, EMPTY),
            cache.entry_path(&engine, OTHER),
        );
        fs::copy(&planted, &victim).unwrap();
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        assert_ne!(
            fs::read(&victim).unwrap(),
            fs::read(&planted).unwrap(),
            "the planted entry is replaced by the program's own"
        );
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Hit);
    }

    /// Whoever can write the cache but not read the key cannot make an entry that is loaded:
    /// not with a checksum (format 1), not with a tag made under another key.
    #[test]
    fn an_entry_not_tagged_with_this_users_key_is_not_loaded() {
        let root = tempfile::tempdir().unwrap();
        let engine = engine();
        let ours = CodeCache::new(root.path().join("code"), root.path().join("key"));
        let theirs = CodeCache::new(root.path().join("code"), root.path().join("other-key"));
        let path = ours.entry_path(&engine, EMPTY);

        // An entry of the format before, with its checksum recomputed over the code.
        theirs.component(&engine, EMPTY).unwrap();
        let code = fs::read(&path).unwrap()[MAGIC.len() + TAG_LEN..].to_vec();
        let mut old = b"agent-telemetry compiled code, format 1\n".to_vec();
        old.extend_from_slice(&Sha256::digest(&code));
        old.extend_from_slice(&code);
        fs::write(&path, &old).unwrap();
        assert_eq!(ours.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);

        // The same code, tagged under another key.
        theirs.component(&engine, EMPTY).unwrap();
        assert_eq!(ours.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        assert_eq!(ours.component(&engine, EMPTY).unwrap().1, Lookup::Hit);
    }

    #[test]
    fn a_key_file_that_is_not_a_key_is_replaced_and_the_key_never_sits_with_the_entries() {
        let root = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CodeCache::new(root.path().join("code"), root.path().join("key"));
        let key_file = cache.key_dir().join(KEY_FILE);
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Miss);
        let first = fs::read_to_string(&key_file).unwrap();
        fs::write(&key_file, "0000").unwrap();
        // A fresh key, so the entry the old one tagged is compiled again.
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
        let key = fs::read_to_string(&key_file).unwrap();
        assert_eq!(key.trim().len(), 64, "a fresh key: {key:?}");
        assert_ne!(key, first);
        #[cfg(unix)]
        {
            // A key others could have read vouches for nothing: replaced too.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Replaced);
            assert_ne!(fs::read_to_string(&key_file).unwrap(), key);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode(cache.key_dir()), mode(&key_file)), (0o700, 0o600));
        }
        assert_eq!(cache.component(&engine, EMPTY).unwrap().1, Lookup::Hit);

        for (dir, key_dir) in [
            ("code", "code"),
            ("code", "code/key"),
            ("both/code", "both"),
        ] {
            let cache = CodeCache::new(root.path().join(dir), root.path().join(key_dir));
            assert_eq!(
                cache.component(&engine, EMPTY).unwrap().1,
                Lookup::Uncached,
                "{dir} with its key in {key_dir}"
            );
        }
    }
}
