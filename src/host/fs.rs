//! Whole files written atomically and privately: a reader (the next run, an
//! operator, node_exporter) sees the old file or the new one, never half a
//! file, and a power cut does not leave an empty one behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `<path>.tmp`, next to the file: the rename stays within one file system.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `data` to `path` with mode 0600: into a temporary file in the
/// same directory, synced, renamed over `path`, then the directory synced
/// so that the rename itself survives a crash.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic(path, data, 0o600)
}

/// [`write_private`] of what `write` writes, streamed: a plan's JSON at an
/// académie's scale was hundreds of megabytes as one string.
pub fn write_private_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_with(path, 0o600, write)
}

/// [`write_private`] with another creation `mode` (still masked by the
/// umask): the metrics file is read by node_exporter, another user.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, mode, |f| f.write_all(data))
}

fn write_atomic_with(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temporary(path);
    // a leftover of a run killed while writing
    let _ = std::fs::remove_file(&tmp);
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
        let mut f = std::io::BufWriter::new(o.open(&tmp)?);
        let written = write(&mut f).and_then(|()| f.flush());
        if let Err(e) = written.and_then(|()| f.get_ref().sync_all()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Syncs the directory holding `path` (the rename's durability).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_fails_leaves_the_old_file_and_no_temporary() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("plan.json");
        write_private_with(&p, |w| w.write_all(b"old")).unwrap();
        let err = write_private_with(&p, |w| {
            w.write_all(&[b'x'; 100_000])?;
            Err(std::io::Error::other("serializer gave up"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "serializer gave up");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(!temporary(&p).exists());
        write_private_with(&p, |w| w.write_all(&[b'y'; 100_000])).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), vec![b'y'; 100_000]);
    }

    #[test]
    fn replaces_the_file_privately_and_leaves_no_temporary() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("plan.json");
        std::fs::write(temporary(&p), "leftover").unwrap();
        write_atomic(&p, b"one", 0o644).unwrap();
        write_private(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert!(!temporary(&p).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
