//! The installation id and the pseudonymization key, kept by the host, never by the component.
//!
//! Both live in one directory (mode 0700), each in its own file (mode 0600). They are created
//! only when telemetry is on, race-safely: the content is written to a private temporary file
//! and linked into place only if no file is there yet, so a reader never sees a half-written
//! file and two processes starting at once agree on one id. When the directory cannot be used
//! the identity is ephemeral: the component then makes an `ephemeral_` id, and the key lives
//! in memory only.
//!
//! A home that will not outlive the run (a container's, a CI runner's) would make every run a
//! new installation: there nothing is written, and the run is ephemeral, unless the program
//! hands in an id ([`Identity::for_run`]).

use std::path::{Path, PathBuf};

use agent_telemetry_contract::ids::{self, INSTALLATION_PREFIX};

use super::private_files::{create_private_dir, create_private_once, read_private};

/// An id or a key is a line of at most 64 hex digits; a larger file is not one.
const IDENTITY_FILE_MAX_BYTES: u64 = 256;

/// The installation id's file in the identity directory.
pub const ID_FILE: &str = "installation-id";
const KEY_FILE: &str = "hash-key";

#[derive(Clone)]
pub(crate) struct Identity {
    /// `install_` + 16 hex digits; `None` for an ephemeral identity.
    pub(crate) installation_id: Option<String>,
    /// 32 random bytes, hex-encoded.
    pub(crate) hash_key: String,
    /// Where the identity is stored, if it is.
    pub(crate) dir: Option<PathBuf>,
}

impl std::fmt::Debug for Identity {
    // The key stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("installation_id", &self.installation_id)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The installation id stored in `dir`, without creating one: read as every file there is (no
/// link followed, no FIFO waited on, at most a line), and only if it is an id.
pub fn read_installation_id(dir: &Path) -> Option<String> {
    read_valid(&dir.join(ID_FILE), ids::is_installation_id)
        .ok()
        .flatten()
}

impl Identity {
    pub(crate) fn ephemeral() -> Identity {
        Identity {
            installation_id: None,
            hash_key: random_hex(ids::HASH_KEY_BYTES),
            dir: None,
        }
    }

    /// The identity of a run: the id handed in (`handed_in`, already held to the id format) if
    /// any, else the one stored in `dir`, created if missing. Where the home will not survive
    /// the run (`passing`: a container or a CI run) nothing is written: with an id handed in,
    /// the key lives in memory; without one, the run is ephemeral.
    pub(crate) fn for_run(dir: Option<&Path>, handed_in: Option<&str>, passing: bool) -> Identity {
        let dir = dir.filter(|_| !passing);
        let Some(id) = handed_in else {
            return dir.map_or_else(Identity::ephemeral, Identity::load_or_create);
        };
        let stored_key = dir.and_then(|dir| {
            let key = create_private_dir(dir).and_then(|()| stored_key(dir));
            key.inspect_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "telemetry key cannot be stored; using one for this run"))
                .ok()
                .map(|key| (key, dir.to_path_buf()))
        });
        let (hash_key, dir) = match stored_key {
            Some((key, dir)) => (key, Some(dir)),
            None => (random_hex(ids::HASH_KEY_BYTES), None),
        };
        Identity {
            installation_id: Some(id.to_string()),
            hash_key,
            dir,
        }
    }

    /// Reads the identity in `dir`, creating what is missing; ephemeral (with a warning) when
    /// the directory cannot be used.
    pub(crate) fn load_or_create(dir: &Path) -> Identity {
        match Self::try_load_or_create(dir) {
            Ok(identity) => identity,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "telemetry identity cannot be stored; using an ephemeral one");
                Identity::ephemeral()
            }
        }
    }

    fn try_load_or_create(dir: &Path) -> std::io::Result<Identity> {
        create_private_dir(dir)?;
        let installation_id = read_or_create(
            &dir.join(ID_FILE),
            || {
                format!(
                    "{INSTALLATION_PREFIX}{}",
                    random_hex(ids::ID_HEX_DIGITS / 2)
                )
            },
            ids::is_installation_id,
        )?;
        let hash_key = stored_key(dir)?;
        Ok(Identity {
            installation_id: Some(installation_id),
            hash_key,
            dir: Some(dir.to_path_buf()),
        })
    }
}

/// The hash key in `dir` (an existing directory), made if missing.
fn stored_key(dir: &Path) -> std::io::Result<String> {
    read_or_create(
        &dir.join(KEY_FILE),
        || random_hex(ids::HASH_KEY_BYTES),
        ids::is_hash_key,
    )
}

fn read_or_create(
    path: &Path,
    make: impl Fn() -> String,
    valid: impl Fn(&str) -> bool,
) -> std::io::Result<String> {
    for _ in 0..3 {
        if let Some(content) = read_valid(path, &valid)? {
            return Ok(content);
        }
        // Another process may get there first; then its file wins, and is read next time round.
        create_private_once(path, make().as_bytes())?;
    }
    Err(std::io::Error::other(format!(
        "{} could not be created",
        path.display()
    )))
}

/// The line in `path`, trimmed, if there is such a file; `Err` if there is one and it is not
/// valid. Untrusted input: not followed if a link, not read if large, never used unless valid.
fn read_valid(path: &Path, valid: impl Fn(&str) -> bool) -> std::io::Result<Option<String>> {
    let Some(bytes) = read_private(path, IDENTITY_FILE_MAX_BYTES)? else {
        return Ok(None);
    };
    let content = String::from_utf8(bytes).unwrap_or_default();
    let line = content.trim();
    if !valid(line) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not in the expected format", path.display()),
        ));
    }
    Ok(Some(line.to_string()))
}

/// Removes the installation id and the key in `dir` (after `telemetry off`: a later
/// `telemetry on` is a new installation, unlinkable to this one); returns whether there was an
/// id. A file that is a link is removed as a link, never followed.
pub(crate) fn remove_identity(dir: &Path) -> std::io::Result<bool> {
    let mut had_id = false;
    for name in [ID_FILE, KEY_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => had_id |= name == ID_FILE,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(had_id)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not recoverable in any meaningful way for an id.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn created_once_then_reused_with_private_modes() {
        let dir = std::env::temp_dir().join(format!("agent-telemetry-id-{}", random_hex(6)));
        let first = Identity::load_or_create(&dir);
        let second = Identity::load_or_create(&dir);
        assert!(ids::is_installation_id(
            first.installation_id.as_deref().unwrap()
        ));
        assert_eq!(first.installation_id, second.installation_id);
        assert_eq!(first.hash_key, second.hash_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(ID_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_passing_home_gets_nothing_written_and_a_handed_in_id_wins() {
        let dir = std::env::temp_dir().join(format!("agent-telemetry-id-{}", random_hex(6)));
        let run = Identity::for_run(Some(&dir), None, true);
        assert!(run.installation_id.is_none() && run.dir.is_none());
        assert!(
            !dir.exists(),
            "nothing may be written in a container or CI run"
        );

        let fleet = "install_00112233aabbccdd";
        let run = Identity::for_run(Some(&dir), Some(fleet), true);
        assert_eq!(run.installation_id.as_deref(), Some(fleet));
        assert!(run.dir.is_none() && !dir.exists());

        // On a machine that keeps its home, the id handed in is used and only the key stored.
        let run = Identity::for_run(Some(&dir), Some(fleet), false);
        assert_eq!(run.installation_id.as_deref(), Some(fleet));
        assert_eq!(run.dir.as_deref(), Some(dir.as_path()));
        assert!(dir.join(KEY_FILE).exists() && !dir.join(ID_FILE).exists());
        let again = Identity::for_run(Some(&dir), Some(fleet), false);
        assert_eq!(again.hash_key, run.hash_key);

        let stored = Identity::for_run(Some(&dir), None, false);
        assert!(ids::is_installation_id(
            stored.installation_id.as_deref().unwrap()
        ));
        assert_ne!(stored.installation_id.as_deref(), Some(fleet));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unusable_directory_gives_an_ephemeral_identity() {
        let file = std::env::temp_dir().join(format!("agent-telemetry-file-{}", random_hex(6)));
        fs::write(&file, "not a directory").unwrap();
        let identity = Identity::load_or_create(&file.join("sub"));
        assert!(identity.installation_id.is_none() && identity.dir.is_none());
        fs::remove_file(&file).unwrap();
    }
}
