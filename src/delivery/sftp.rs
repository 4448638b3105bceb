//! Fetch (spec §2, §9): downloads new extraction files from the académie's
//! SFTP server into the private incoming directory.
//!
//! Key authentication only (RSA or ed25519 key, optional passphrase), the
//! server's host key pinned by a known_hosts file or a SHA256 fingerprint —
//! an unknown or changed key is refused before authenticating. Each file is
//! downloaded to a hidden `.NAME.part` (mode 0600, in a 0700 directory),
//! resumed from where an interrupted run stopped, checked against the
//! remote size and renamed when complete. A partial download that can no
//! longer be resumed (the server stopped listing its file, or it is older
//! than files stay on the server) is removed. A local ledger
//! (`fetched.jsonl`, JSON lines: name, size, modification time, date; no
//! content) remembers what was downloaded, so files that stay on the
//! server for days are fetched once; a remote name with control characters
//! is refused (it could forge ledger lines or fool a terminal).

use crate::config::{FetchConfig, RemoteDelete};
use crate::delivery::{archive::private_file, private_dir};
use serde::Serialize;
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::Date;

mod ledger;
use ledger::Ledger;

/// Why a fetch failed; nothing partial is ever renamed into place.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("SFTP: cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("SFTP: host key of {addr} refused: {reason}")]
    HostKey { addr: String, reason: String },
    #[error("SFTP: key authentication as {user} failed: {reason}")]
    Auth { user: String, reason: String },
    #[error("SFTP: {what}: {reason}")]
    Remote { what: String, reason: String },
    #[error("{}: {source}", path.display())]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Local {
        path: path.to_path_buf(),
        source,
    }
}

fn remote(what: impl Into<String>) -> impl FnOnce(ssh2::Error) -> FetchError {
    let what = what.into();
    move |e| FetchError::Remote {
        what,
        reason: e.to_string(),
    }
}

/// One file downloaded.
#[derive(Debug, Clone, Serialize)]
pub struct FetchedFile {
    pub name: String,
    pub bytes: u64,
    /// Bytes already there from an interrupted run (0: a fresh download).
    pub resumed_from: u64,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fetched {
    /// Remote files matching the pattern.
    pub listed: usize,
    /// Already fetched by an earlier run (in the ledger).
    pub known: usize,
    pub downloaded: Vec<FetchedFile>,
    /// With `--dry-run`: what would be downloaded.
    pub would_fetch: Vec<String>,
    pub remote_deleted: Vec<String>,
    /// Remote names refused (control characters), escaped.
    pub refused_names: Vec<String>,
    /// Partial downloads removed: their file is gone from the server.
    pub removed_partials: Vec<String>,
}

/// The private directory downloads land in.
pub fn incoming_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("incoming")
}

/// `*` and `?` glob on a file name.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

/// An authenticated SFTP session.
pub struct Client {
    sess: Session,
    sftp: ssh2::Sftp,
    remote_dir: PathBuf,
}

fn addr(cfg: &FetchConfig) -> String {
    format!("{}:{}", cfg.host, cfg.port)
}

fn check_host_key(sess: &Session, cfg: &FetchConfig) -> Result<(), FetchError> {
    let refused = |reason: String| FetchError::HostKey {
        addr: addr(cfg),
        reason,
    };
    let (key, _) = sess
        .host_key()
        .ok_or_else(|| refused("the server sent no host key".into()))?;
    if let Some(pin) = &cfg.host_key_fingerprint {
        use base64::Engine;
        let hash = sess
            .host_key_hash(HashType::Sha256)
            .ok_or_else(|| refused("no SHA256 hash of the host key".into()))?;
        let got = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
        );
        if got != pin.trim_end_matches('=') {
            return Err(refused(format!(
                "its fingerprint is {got}, the configuration pins {pin}; a changed key may \
                 be an attack: update the pin only after checking it with the académie"
            )));
        }
    }
    if let Some(path) = &cfg.known_hosts_file {
        let mut kh = sess.known_hosts().map_err(|e| refused(e.to_string()))?;
        kh.read_file(path, KnownHostFileKind::OpenSSH)
            .map_err(|e| refused(format!("{}: {e}", path.display())))?;
        match kh.check_port(&cfg.host, cfg.port, key) {
            CheckResult::Match => {}
            CheckResult::Mismatch => {
                return Err(refused(format!(
                    "it CHANGED since {} recorded it; a changed key may be an attack: \
                     check it with the académie before updating the file",
                    path.display()
                )))
            }
            CheckResult::NotFound => {
                return Err(refused(format!(
                    "unknown host: no key for it in {}",
                    path.display()
                )))
            }
            CheckResult::Failure => {
                return Err(refused(format!(
                    "cannot check it against {}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

impl Client {
    /// Connects, checks the host key, authenticates with the key.
    pub fn connect(cfg: &FetchConfig) -> Result<Client, FetchError> {
        // a private key anyone can read is no longer private: refused, as
        // ssh refuses it, before anything goes on the network
        crate::config::check_secret_file(&cfg.private_key_file, "fetch.private_key_file").map_err(
            |e| FetchError::Auth {
                user: cfg.user.clone(),
                reason: e.to_string(),
            },
        )?;
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let conn_err = |reason: String| FetchError::Connect {
            addr: addr(cfg),
            reason,
        };
        let sa = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| conn_err(e.to_string()))?
            .next()
            .ok_or_else(|| conn_err("no address".into()))?;
        let tcp = TcpStream::connect_timeout(&sa, timeout).map_err(|e| conn_err(e.to_string()))?;
        let _ = tcp.set_read_timeout(Some(timeout));
        let _ = tcp.set_write_timeout(Some(timeout));
        let mut sess = Session::new().map_err(|e| conn_err(e.to_string()))?;
        sess.set_tcp_stream(tcp);
        sess.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        sess.handshake().map_err(|e| conn_err(e.to_string()))?;
        check_host_key(&sess, cfg)?;
        let auth = |reason: String| FetchError::Auth {
            user: cfg.user.clone(),
            reason,
        };
        sess.userauth_pubkey_file(
            &cfg.user,
            None,
            &cfg.private_key_file,
            cfg.passphrase.as_deref(),
        )
        .map_err(|e| auth(format!("key {}: {e}", cfg.private_key_file.display())))?;
        if !sess.authenticated() {
            return Err(auth("not authenticated".into()));
        }
        let sftp = sess.sftp().map_err(remote("start the SFTP subsystem"))?;
        Ok(Client {
            sess,
            sftp,
            remote_dir: PathBuf::from(&cfg.remote_dir),
        })
    }

    /// Regular files of the remote directory matching `pattern`: (name,
    /// size, mtime), and the names refused (control characters), escaped.
    pub fn list(&self, pattern: &str) -> Result<Listing, FetchError> {
        let entries = self
            .sftp
            .readdir(&self.remote_dir)
            .map_err(remote(format!("list {}", self.remote_dir.display())))?;
        let mut out = Listing::default();
        for (p, st) in entries.into_iter().filter(|(_, st)| st.is_file()) {
            let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if name.starts_with('.') || !glob(pattern, &name) {
                continue;
            }
            if name.chars().any(char::is_control) || name.contains('\u{fffd}') {
                let shown = name.escape_debug().to_string();
                tracing::warn!(name = %shown, "remote file name with control characters (or not UTF-8) refused");
                out.refused.push(shown);
                continue;
            }
            out.files
                .push((name, st.size.unwrap_or(0), st.mtime.unwrap_or(0)));
        }
        out.files.sort();
        Ok(out)
    }

    /// Downloads `name` into `dir`, resuming a `.NAME.part` left there.
    pub fn download(&self, name: &str, size: u64, dir: &Path) -> Result<FetchedFile, FetchError> {
        let part = dir.join(part_name(name));
        let done = dir.join(name);
        let mut offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if offset > size {
            std::fs::remove_file(&part).map_err(local(&part))?;
            offset = 0;
        }
        let rpath = self.remote_dir.join(name);
        let mut rf = self
            .sftp
            .open(&rpath)
            .map_err(remote(format!("open {}", rpath.display())))?;
        let mut lf = if offset > 0 {
            rf.seek(SeekFrom::Start(offset)).map_err(local(&part))?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .map_err(local(&part))?
        } else {
            private_file(&part).map_err(local(&part))?
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            if let Some(why) = crate::host::interrupt::reason() {
                return Err(FetchError::Remote {
                    what: format!("download {name}"),
                    reason: format!("{why}: the partial download is kept and resumed next run"),
                });
            }
            let n = rf.read(&mut buf).map_err(local(&rpath))?;
            if n == 0 {
                break;
            }
            lf.write_all(&buf[..n]).map_err(local(&part))?;
        }
        lf.sync_all().map_err(local(&part))?;
        #[cfg(unix)]
        {
            // a .part left by another tool may have wider permissions
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o600))
                .map_err(local(&part))?;
        }
        let got = std::fs::metadata(&part).map_err(local(&part))?.len();
        if got != size {
            return Err(FetchError::Remote {
                what: format!("download {name}"),
                reason: format!("{got} bytes received of {size}: kept to resume next run"),
            });
        }
        std::fs::rename(&part, &done).map_err(local(&done))?;
        Ok(FetchedFile {
            name: name.to_string(),
            bytes: size,
            resumed_from: offset,
        })
    }

    /// Deletes files of the remote directory; returns those deleted.
    pub fn delete(&self, names: &[String]) -> Result<Vec<String>, FetchError> {
        let mut out = Vec::new();
        for n in names {
            let p = self.remote_dir.join(n);
            match self.sftp.unlink(&p) {
                Ok(()) => out.push(n.clone()),
                // already gone (the server purges after 5 working days)
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(2) => {}
                Err(e) => return Err(remote(format!("delete {}", p.display()))(e)),
            }
        }
        Ok(out)
    }

    pub fn close(self) {
        drop(self.sftp);
        let _ = self.sess.disconnect(None, "done", None);
    }
}

/// What the server lists.
#[derive(Debug, Default)]
pub struct Listing {
    /// (name, size, mtime) of the files to consider.
    pub files: Vec<(String, u64, u64)>,
    /// Names refused, escaped.
    pub refused: Vec<String>,
}

/// The partial download of `name`.
fn part_name(name: &str) -> String {
    format!(".{name}.part")
}

/// Removes the partial downloads of `incoming` whose remote file is not
/// listed any more (`listed`: the names the server lists): they can
/// never be resumed. Returns the names removed.
fn remove_orphan_partials(incoming: &Path, listed: &HashSet<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(incoming) else {
        return out;
    };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_prefix('.').and_then(|f| f.strip_suffix(".part")) else {
            continue;
        };
        if !listed.contains(name) && std::fs::remove_file(e.path()).is_ok() {
            out.push(name.to_string());
        }
    }
    out
}

/// How long a partial download is kept when the server cannot be asked:
/// files stay there at most 5 working days, a week with the weekend.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Removes the partial downloads of `incoming` not written to for
/// [`PARTIAL_MAX_AGE`] (as of `now`): their file has left the server, they
/// can never be completed. Returns the names removed.
pub fn remove_stale_partials(incoming: &Path, now: std::time::SystemTime) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(incoming) else {
        return out;
    };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_prefix('.').and_then(|f| f.strip_suffix(".part")) else {
            continue;
        };
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > PARTIAL_MAX_AGE);
        if old && std::fs::remove_file(e.path()).is_ok() {
            out.push(name.to_string());
        }
    }
    out
}

/// Downloads the new files (or, with `dry_run`, lists them).
pub fn fetch(
    cfg: &FetchConfig,
    work_dir: &Path,
    dry_run: bool,
    today: Date,
) -> Result<Fetched, FetchError> {
    let incoming = incoming_dir(work_dir);
    private_dir(work_dir).map_err(local(work_dir))?;
    private_dir(&incoming).map_err(local(&incoming))?;
    let mut ledger = Ledger::load(work_dir, today)?;
    let client = Client::connect(cfg)?;
    let mut out = Fetched::default();
    let listing = client.list(&cfg.pattern)?;
    out.listed = listing.files.len();
    out.refused_names = listing.refused;
    if !dry_run {
        let names: HashSet<&str> = listing.files.iter().map(|(n, _, _)| n.as_str()).collect();
        out.removed_partials = remove_orphan_partials(&incoming, &names);
        if ledger.migrated_from.is_some() {
            ledger.save()?;
        }
    }
    let mut delete_now = Vec::new();
    for (name, size, mtime) in listing.files {
        if ledger.knows(&name, size, mtime) {
            out.known += 1;
            continue;
        }
        if dry_run {
            out.would_fetch.push(name);
            continue;
        }
        let f = client.download(&name, size, &incoming)?;
        tracing::info!(file = %f.name, bytes = f.bytes, resumed_from = f.resumed_from, "fetched");
        ledger.add(&name, size, mtime, today);
        ledger.save()?;
        if cfg.remote_delete == RemoteDelete::AfterDownload {
            delete_now.push(name.clone());
        }
        out.downloaded.push(f);
    }
    out.remote_deleted = client.delete(&delete_now)?;
    client.close();
    Ok(out)
}

/// Deletes imported files on the server (`remote_delete = "after_import"`).
pub fn delete_remote(cfg: &FetchConfig, names: &[String]) -> Result<Vec<String>, FetchError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let client = Client::connect(cfg)?;
    let out = client.delete(names);
    client.close();
    out
}

#[cfg(test)]
mod tests;
