//! Files only this user can read, in directories only this user can enter: every file the host
//! writes in the identity directory (id, key, choice, notice, ledger, debug log, spool) goes
//! through here, so none is ever created with the process's default mode.
//!
//! - [`create_private_dir`]: `0700`, with any missing parents;
//! - `write_new_private` (no longer used by the library; kept with its test): a new `0600`
//!   file, whole and synced, that must not exist yet;
//! - [`replace_private`]: a `0600` file replaced atomically (a temporary file in the same
//!   directory, synced, then renamed over it), so a reader sees the old file or the new one;
//! - [`create_private_once`]: the same, but the first writer wins and later ones keep its file;
//! - [`append_private`]: a `0600` file opened for appending, created if missing;
//! - [`read_private`]: a file read only if it is a regular file of this user's and not too
//!   large, without following a link (a FIFO or a link someone planted is refused, not read);
//! - [`check_private`]: whether a file or directory is this user's alone.
//!
//! Temporary files are named `<name>.<random>.tmp`, so a directory's owner (the spool, say)
//! can tell a crashed writer's leftovers.

use std::fs;
use std::io::Write;
use std::path::Path;

use tempfile::NamedTempFile;

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new file only this user can read, whole and synced; fails if it exists.
#[cfg(test)]
pub fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Replaces `path` with `content` atomically; the file is `0600` whatever it was before.
pub fn replace_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let temp = written_temp(path, content)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates `path` with `content` unless it exists; returns whether this call created it. Two
/// processes racing get one file, whole, and both read the same content afterwards.
pub fn create_private_once(path: &Path, content: &[u8]) -> std::io::Result<bool> {
    let temp = written_temp(path, content)?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.error),
    }
}

/// Opens a file only this user can read (created if missing) for appending; a link in its
/// place is refused.
pub fn append_private(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Opens `path` with `options` as a file someone else may have put there: no link is followed,
/// and opening a FIFO does not wait for the other end.
fn open_untrusted(options: &mut fs::OpenOptions, path: &Path) -> std::io::Result<fs::File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options.open(path)
}

/// Sets an existing regular file's modification time to now. A link is not followed and a
/// FIFO is not waited on (opened without blocking, then left alone).
pub fn touch(path: &Path) -> std::io::Result<()> {
    let file = open_untrusted(fs::OpenOptions::new().append(true), path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    file.set_modified(std::time::SystemTime::now())
}

/// The content of `path` if it is a regular file of this user's, writable by no one else,
/// and at most `max_bytes` long; `Ok(None)` if there is no such file. A link, a FIFO, a
/// device, someone else's file or an oversized one is an error: it is not read at all.
pub fn read_private(path: &Path, max_bytes: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut file = match open_untrusted(fs::OpenOptions::new().read(true), path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    if !meta.is_file() {
        return Err(refuse(format!("{} is not a regular file", path.display())));
    }
    check_private(&meta).map_err(|why| refuse(format!("{} {why}", path.display())))?;
    if meta.len() > max_bytes {
        return Err(refuse(format!(
            "{} is larger than {max_bytes} bytes",
            path.display()
        )));
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    Read::by_ref(&mut file)
        .take(max_bytes + 1)
        .read_to_end(&mut content)?;
    if content.len() as u64 > max_bytes {
        return Err(refuse(format!(
            "{} grew past {max_bytes} bytes",
            path.display()
        )));
    }
    Ok(Some(content))
}

/// Whether `dir` (if it exists) is a directory of this user's that no one else can write:
/// `Err` with the reason otherwise. It is not created here.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{} cannot be read: {e}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a link", dir.display()));
    }
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    check_private(&meta).map_err(|why| format!("{} {why}", dir.display()))
}

/// Owned by this user, and writable by no one else.
#[cfg(unix)]
pub fn check_private(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("belongs to user {} (this is {me})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "can be written by others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn check_private(_: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// `content` in a synced `0600` temporary file beside `path`.
fn written_temp(path: &Path, content: &[u8]) -> std::io::Result<NamedTempFile> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| format!("{}.", n.to_string_lossy()))
        .unwrap_or_default();
    // tempfile creates its files `0600` and with O_EXCL.
    let mut temp = tempfile::Builder::new()
        .prefix(&name)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(content)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn every_way_of_writing_gives_a_private_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        let (new, replaced, once, appended) = (
            dir.join("new"),
            dir.join("replaced"),
            dir.join("once"),
            dir.join("appended"),
        );
        write_new_private(&new, b"1").unwrap();
        assert!(
            write_new_private(&new, b"2").is_err(),
            "a new file must not exist"
        );
        // A file made world-readable by someone else comes back private.
        fs::write(&replaced, b"old").unwrap();
        replace_private(&replaced, b"new").unwrap();
        assert_eq!(fs::read(&replaced).unwrap(), b"new");
        assert!(create_private_once(&once, b"first").unwrap());
        assert!(!create_private_once(&once, b"second").unwrap());
        assert_eq!(fs::read(&once).unwrap(), b"first");
        append_private(&appended).unwrap().write_all(b"x").unwrap();
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir), 0o700);
            for file in [&new, &replaced, &once, &appended] {
                assert_eq!(mode(file), 0o600, "{}", file.display());
            }
        }
    }
}
