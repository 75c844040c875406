//! The installation id and the pseudonymization key, kept by the host, never by the component.
//!
//! Both live in one directory (mode 0700), each in its own file (mode 0600). They are created
//! only when telemetry is on, race-safely: the content is written to a private temporary file
//! and hard-linked into place, so a reader never sees a half-written file and two processes
//! starting at once agree on one id. When the directory cannot be used the identity is
//! ephemeral: the component then makes an `ephemeral_` id, and the key lives in memory only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const ID_FILE: &str = "installation-id";
const KEY_FILE: &str = "hash-key";

#[derive(Clone)]
pub struct Identity {
    /// `install_` + 16 hex digits; `None` for an ephemeral identity.
    pub installation_id: Option<String>,
    /// 32 random bytes, hex-encoded.
    pub hash_key: String,
    /// Where the identity is stored, if it is.
    pub dir: Option<PathBuf>,
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

impl Identity {
    pub fn ephemeral() -> Identity {
        Identity {
            installation_id: None,
            hash_key: random_hex(32),
            dir: None,
        }
    }

    /// Reads the identity in `dir`, creating what is missing; ephemeral (with a warning) when
    /// the directory cannot be used.
    pub fn load_or_create(dir: &Path) -> Identity {
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
            || format!("install_{}", random_hex(8)),
            is_installation_id,
        )?;
        let hash_key = read_or_create(
            &dir.join(KEY_FILE),
            || random_hex(32),
            |k| k.len() == 64 && is_hex(k),
        )?;
        Ok(Identity {
            installation_id: Some(installation_id),
            hash_key,
            dir: Some(dir.to_path_buf()),
        })
    }
}

pub fn is_installation_id(id: &str) -> bool {
    id.strip_prefix("install_")
        .is_some_and(|h| h.len() == 16 && is_hex(h))
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn read_or_create(
    path: &Path,
    make: impl Fn() -> String,
    valid: impl Fn(&str) -> bool,
) -> std::io::Result<String> {
    for _ in 0..3 {
        match fs::read_to_string(path) {
            Ok(content) if valid(content.trim()) => return Ok(content.trim().to_string()),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not in the expected format", path.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let temp = path.with_extension(format!("tmp-{}", random_hex(6)));
        write_private(&temp, make().as_bytes())?;
        // hard_link fails if another process got there first; then its file wins.
        let linked = fs::hard_link(&temp, path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "{} could not be created",
        path.display()
    )))
}

pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new file only this user can read, whole and synced; fails if it exists.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Opens a file only this user can read (created if missing) for appending.
pub(crate) fn append_private(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not recoverable in any meaningful way for an id.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_private_modes() {
        let dir = std::env::temp_dir().join(format!("agent-telemetry-id-{}", random_hex(6)));
        let first = Identity::load_or_create(&dir);
        let second = Identity::load_or_create(&dir);
        assert!(is_installation_id(
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
    fn unusable_directory_gives_an_ephemeral_identity() {
        let file = std::env::temp_dir().join(format!("agent-telemetry-file-{}", random_hex(6)));
        fs::write(&file, "not a directory").unwrap();
        let identity = Identity::load_or_create(&file.join("sub"));
        assert!(identity.installation_id.is_none() && identity.dir.is_none());
        fs::remove_file(&file).unwrap();
    }
}
