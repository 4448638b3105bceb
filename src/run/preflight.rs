//! What every command checks before it reads or writes, and says the same
//! way `check` does: the work directory can be written, the key files of
//! the fetch can be read, the directory answers with this bind, holds the
//! base and has the sync's schema loaded. A command that would fail on any
//! of them fails here first, with the message that says what to fix,
//! instead of on its first write with the server's raw answer (a lock
//! entry refused for its object class, "no global superior knowledge").

use crate::config::Config;
use crate::ldap::{Directory, DirectoryError};
use std::path::Path;

/// Why a command cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The work directory cannot be created or written in.
#[derive(Debug, thiserror::Error)]
#[error(
    "configuration: paths.work_dir: {what} {}: {source} (it holds downloads, staging, plans and journals: \
     create it, owned by the user the sync runs as, mode 0700)",
    dir.display()
)]
pub struct WorkDirError {
    /// `cannot create` or `cannot write in`.
    what: &'static str,
    dir: std::path::PathBuf,
    source: std::io::Error,
}

/// The local half: the work directory (created private when missing) can
/// be written, and the fetch's key and known_hosts files can be read.
pub fn local(cfg: &Config) -> Result<(), PreflightError> {
    writable_dir(&cfg.work_dir)?;
    if let Some(f) = &cfg.fetch {
        readable(&f.private_key_file, "fetch.private_key_file")?;
        if let Some(k) = &f.known_hosts_file {
            readable(k, "fetch.known_hosts_file")?;
        }
    }
    Ok(())
}

/// The whole preflight: [`local`], then the directory ([`Directory::preflight`]).
pub async fn run(cfg: &Config) -> Result<(), PreflightError> {
    local(cfg)?;
    let dir = Directory::connect_n(&cfg.ldap, 1).await?;
    let r = dir.preflight(&cfg.layout()).await;
    dir.close().await;
    Ok(r?)
}

fn writable_dir(dir: &Path) -> Result<(), WorkDirError> {
    let fail = |what: &'static str, source: std::io::Error| WorkDirError {
        what,
        dir: dir.to_path_buf(),
        source,
    };
    crate::delivery::private_dir(dir).map_err(|e| fail("cannot create", e))?;
    let probe = dir.join(format!(".aaf-sync-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| fail("cannot write in", e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn readable(path: &Path, key: &'static str) -> Result<(), PreflightError> {
    std::fs::File::open(path).map(drop).map_err(|e| {
        PreflightError::Local(format!(
            "configuration: {key}: cannot read {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_dir_that_cannot_be_written_is_named() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let e = writable_dir(&file.join("work")).unwrap_err().to_string();
        assert!(
            e.starts_with("configuration: paths.work_dir: cannot create ")
                && e.contains("not-a-dir/work"),
            "{e}"
        );
        let ok = d.path().join("work");
        writable_dir(&ok).unwrap();
        assert_eq!(std::fs::read_dir(&ok).unwrap().count(), 0, "no probe left");
    }
}
