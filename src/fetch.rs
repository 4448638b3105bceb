//! Fetch (spec §2, §9): downloads new extraction files from the académie's
//! SFTP server into the private incoming directory.
//!
//! Key authentication only (RSA or ed25519 key, optional passphrase), the
//! server's host key pinned by a known_hosts file or a SHA256 fingerprint —
//! an unknown or changed key is refused before authenticating. Each file is
//! downloaded to a hidden `.NAME.part` (mode 0600, in a 0700 directory),
//! resumed from where an interrupted run stopped, checked against the
//! remote size and renamed when complete. A local ledger (`fetched.tsv`:
//! name, size, modification time, date; no content) remembers what was
//! downloaded, so files that stay on the server for days are fetched once.

use crate::config::{FetchConfig, RemoteDelete};
use crate::inputs::{archive::private_file, private_dir};
use serde::Serialize;
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::Date;

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

    /// Regular files of the remote directory matching `pattern`: (name, size, mtime).
    pub fn list(&self, pattern: &str) -> Result<Vec<(String, u64, u64)>, FetchError> {
        let entries = self
            .sftp
            .readdir(&self.remote_dir)
            .map_err(remote(format!("list {}", self.remote_dir.display())))?;
        let mut out: Vec<(String, u64, u64)> = entries
            .into_iter()
            .filter(|(_, st)| st.is_file())
            .filter_map(|(p, st)| {
                let name = p.file_name()?.to_str()?.to_string();
                (!name.starts_with('.') && glob(pattern, &name))
                    .then(|| (name, st.size.unwrap_or(0), st.mtime.unwrap_or(0)))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Downloads `name` into `dir`, resuming a `.NAME.part` left there.
    pub fn download(&self, name: &str, size: u64, dir: &Path) -> Result<FetchedFile, FetchError> {
        let part = dir.join(format!(".{name}.part"));
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
            if let Some(why) = crate::interrupt::reason() {
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

/// The ledger of fetched files.
struct Ledger {
    path: PathBuf,
    lines: Vec<String>,
    keys: HashSet<String>,
}

/// Ledger entries are kept this long: longer than files stay on the server.
const LEDGER_DAYS: i64 = 60;

impl Ledger {
    fn key(name: &str, size: u64, mtime: u64) -> String {
        format!("{name}\t{size}\t{mtime}")
    }

    fn load(work_dir: &Path, today: Date) -> Result<Ledger, FetchError> {
        let path = work_dir.join("fetched.tsv");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(local(&path)(e)),
        };
        let oldest = today - time::Duration::days(LEDGER_DAYS);
        let mut l = Ledger {
            path,
            lines: Vec::new(),
            keys: HashSet::new(),
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let Some(day) = f
                .get(3)
                .and_then(|d| crate::aaf::filename::parse_compact_date(d))
            else {
                continue;
            };
            if day < oldest {
                continue;
            }
            l.keys.insert(f[..3].join("\t"));
            l.lines.push(line.to_string());
        }
        Ok(l)
    }

    fn add(&mut self, name: &str, size: u64, mtime: u64, today: Date) {
        let k = Self::key(name, size, mtime);
        self.lines.push(format!(
            "{k}\t{}",
            crate::aaf::filename::compact_date(today)
        ));
        self.keys.insert(k);
    }

    fn save(&self) -> Result<(), FetchError> {
        let tmp = self.path.with_extension("tsv.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(local(&tmp))?;
        for l in &self.lines {
            writeln!(f, "{l}").map_err(local(&tmp))?;
        }
        f.sync_all().map_err(local(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(local(&self.path))
    }
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
    let files = client.list(&cfg.pattern)?;
    out.listed = files.len();
    let mut delete_now = Vec::new();
    for (name, size, mtime) in files {
        if ledger.keys.contains(&Ledger::key(&name, size, mtime)) {
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
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "a.xml"));
        assert!(glob(
            "ENT*_Complet_*.xml",
            "ENT1D_Complet_20250904_Eleve_0000.xml"
        ));
        assert!(!glob("*.zip", "a.xml"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
    }
}
