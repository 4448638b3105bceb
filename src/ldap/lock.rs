//! The run lock, held in the directory itself so that two hosts, or a cron
//! job overlapping a manual run, never write at the same time.
//!
//! One entry per source, `cn=aaf-sync-lock-<source>,<base>` (class
//! `aafSyncLock`), names its holder (`host pid run-id`) and an expiry the
//! holder renews every third of the TTL. Taking it is atomic: an LDAP add
//! (fails if the entry exists), or, to take over a free or stale lock, one
//! modify that deletes the exact owner value seen and adds ours (fails if
//! anyone changed it in between). A lock is stale past its expiry, or at
//! once when its holder ran on this host and that process is gone (a
//! `kill -9`). Releasing writes the free owner `-` and the outcome of the
//! run, which `status` shows.

use super::{op_err, Directory, DirectoryError};
use crate::config::{LdapConfig, LockConfig};
use crate::mapping::{self, layout::Layout};
use crate::model::{Dn, Entry};
use ldap3::{Mod, Scope, SearchEntry};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const LOCK_CLASS: &str = "aafSyncLock";
pub const ATTR_OWNER: &str = "aafSyncLockOwner";
pub const ATTR_EXPIRES: &str = "aafSyncLockExpires";
pub const ATTR_SINCE: &str = "aafSyncLockSince";
pub const ATTR_RUN_ID: &str = "aafSyncLastRunId";
pub const ATTR_COMMAND: &str = "aafSyncLastRunCommand";
pub const ATTR_STARTED: &str = "aafSyncLastRunStarted";
pub const ATTR_FINISHED: &str = "aafSyncLastRunFinished";
pub const ATTR_OUTCOME: &str = "aafSyncLastRunOutcome";
/// Owner value of a free lock.
pub const FREE: &str = "-";

/// `YYYYMMDDHHMMSSZ` of a time.
pub fn gtime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year][month][day][hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Parses `YYYYMMDDHHMMSSZ` (what [`gtime`] writes).
pub fn parse_gtime(s: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let d = time::PrimitiveDateTime::parse(s, &fmt).ok()?.assume_utc();
    let secs = u64::try_from(d.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or_else(|| "unknown-host".into())
}

/// `host pid run-id` of this process.
pub fn owner_of(run_id: &str) -> String {
    format!("{} {} {run_id}", hostname(), std::process::id())
}

/// True when `owner` ran on this host as a process that no longer exists.
fn holder_is_dead_here(owner: &str) -> bool {
    let mut it = owner.split(' ');
    let (Some(host), Some(pid)) = (it.next(), it.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The lock entry as `status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockState {
    /// `None` when free.
    pub holder: Option<String>,
    pub since: Option<String>,
    pub expires: Option<String>,
    /// True when the holder is gone (expired, or dead on this host): the
    /// next run takes it over.
    pub stale: bool,
    pub last_run_id: Option<String>,
    pub last_run_command: Option<String>,
    pub last_run_started: Option<String>,
    pub last_run_finished: Option<String>,
    pub last_run_outcome: Option<String>,
}

impl LockState {
    fn of(e: &Entry, now: SystemTime) -> LockState {
        let s = |a: &str| e.first(a).map(str::to_string);
        let owner = s(ATTR_OWNER).filter(|o| o != FREE);
        let expires = s(ATTR_EXPIRES);
        let stale = owner.as_deref().is_some_and(|o| {
            holder_is_dead_here(o)
                || expires
                    .as_deref()
                    .and_then(parse_gtime)
                    .is_none_or(|t| t < now)
        });
        LockState {
            since: owner.as_ref().and(s(ATTR_SINCE)),
            expires: owner.as_ref().and(expires),
            holder: owner,
            stale,
            last_run_id: s(ATTR_RUN_ID),
            last_run_command: s(ATTR_COMMAND),
            last_run_started: s(ATTR_STARTED),
            last_run_finished: s(ATTR_FINISHED),
            last_run_outcome: s(ATTR_OUTCOME),
        }
    }
}

/// Held by another run.
#[derive(Debug, thiserror::Error)]
#[error("run lock {dn} held by {holder} since {since} (expires {expires}): another aaf-sync run is at work; try later, or raise [lock] wait_secs")]
pub struct Locked {
    pub dn: String,
    pub holder: String,
    pub since: String,
    pub expires: String,
}

/// Errors taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Locked(#[from] Locked),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

fn set(v: &str) -> HashSet<Vec<u8>> {
    HashSet::from([v.as_bytes().to_vec()])
}

fn name(a: &str) -> Vec<u8> {
    a.as_bytes().to_vec()
}

/// A lock held by this run; renewed in the background until released.
pub struct RunLock {
    dir: Arc<Directory>,
    dn: Dn,
    owner: String,
    expires: Arc<std::sync::Mutex<String>>,
    renew: tokio::task::JoinHandle<()>,
    /// The stale holder this run took over from, if any.
    pub took_over: Option<String>,
}

impl Directory {
    /// Reads the lock entry.
    pub async fn read_lock(&self, layout: &Layout) -> Result<Option<LockState>, DirectoryError> {
        let dn = layout.lock_dn();
        Ok(self
            .read_entry(&dn)
            .await?
            .map(|e| LockState::of(&e, SystemTime::now())))
    }

    /// One entry by DN, all user attributes; `None` if absent.
    pub async fn read_entry(&self, dn: &Dn) -> Result<Option<Entry>, DirectoryError> {
        let mut l = self.conn(0).await;
        let what = || format!("read {dn}");
        match l
            .search(dn.as_str(), Scope::Base, "(objectClass=*)", vec!["*"])
            .await
        {
            Ok(r) => match r.success() {
                Ok((rs, _)) => Ok(rs
                    .into_iter()
                    .next()
                    .map(|re| super::to_entry(SearchEntry::construct(re)))),
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(None),
                Err(e) => Err(op_err(what(), e)),
            },
            Err(e) => Err(op_err(what(), e)),
        }
    }
}

impl RunLock {
    /// Takes the lock of `layout`'s source for run `run_id`, waiting up to
    /// `cfg.wait_secs` for another run to finish.
    pub async fn acquire(
        ldap: &LdapConfig,
        cfg: LockConfig,
        layout: &Layout,
        run_id: &str,
        command: &str,
    ) -> Result<RunLock, LockError> {
        let dir = Arc::new(Directory::connect_n(ldap, 1).await?);
        let dn = layout.lock_dn();
        let owner = owner_of(run_id);
        let ttl = Duration::from_secs(cfg.ttl_secs);
        let deadline = std::time::Instant::now() + Duration::from_secs(cfg.wait_secs);
        loop {
            let now = SystemTime::now();
            let expires = gtime(now + ttl);
            let mut l = dir.conn(0).await;
            let attrs = vec![
                (
                    "objectClass".to_string(),
                    HashSet::from(["top".to_string(), LOCK_CLASS.to_string()]),
                ),
                (
                    "cn".to_string(),
                    HashSet::from([format!("aaf-sync-lock-{}", layout.source)]),
                ),
                (
                    mapping::ATTR_SOURCE.to_string(),
                    HashSet::from([layout.source.clone()]),
                ),
                (ATTR_OWNER.to_string(), HashSet::from([owner.clone()])),
                (ATTR_EXPIRES.to_string(), HashSet::from([expires.clone()])),
                (ATTR_SINCE.to_string(), HashSet::from([gtime(now)])),
                (ATTR_RUN_ID.to_string(), HashSet::from([run_id.to_string()])),
                (
                    ATTR_COMMAND.to_string(),
                    HashSet::from([command.to_string()]),
                ),
                (ATTR_STARTED.to_string(), HashSet::from([gtime(now)])),
            ];
            let added = l.add(dn.as_str(), attrs).await.and_then(|r| r.success());
            let took_over = match added {
                Ok(_) => Some(None),
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 68 => {
                    let cur = dir.read_entry(&dn).await?;
                    let Some(cur) = cur else { continue };
                    let state = LockState::of(&cur, now);
                    let seen = cur.first(ATTR_OWNER).unwrap_or(FREE).to_string();
                    if state.holder.is_none() || state.stale {
                        let mods = vec![
                            Mod::Delete(name(ATTR_OWNER), set(&seen)),
                            Mod::Add(name(ATTR_OWNER), set(&owner)),
                            Mod::Replace(name(ATTR_EXPIRES), set(&expires)),
                            Mod::Replace(name(ATTR_SINCE), set(&gtime(now))),
                            Mod::Replace(name(ATTR_RUN_ID), set(run_id)),
                            Mod::Replace(name(ATTR_COMMAND), set(command)),
                            Mod::Replace(name(ATTR_STARTED), set(&gtime(now))),
                            Mod::Replace(name(ATTR_FINISHED), HashSet::new()),
                            Mod::Replace(name(ATTR_OUTCOME), HashSet::new()),
                        ];
                        match l.modify(dn.as_str(), mods).await.and_then(|r| r.success()) {
                            Ok(_) => Some(state.holder),
                            // someone else changed it first: look again
                            Err(ldap3::LdapError::LdapResult { result })
                                if matches!(result.rc, 16 | 20) =>
                            {
                                None
                            }
                            Err(e) => return Err(op_err(format!("take {dn}"), e).into()),
                        }
                    } else if std::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        None
                    } else {
                        return Err(Locked {
                            dn: dn.to_string(),
                            holder: state.holder.unwrap_or_default(),
                            since: state.since.unwrap_or_default(),
                            expires: state.expires.unwrap_or_default(),
                        }
                        .into());
                    }
                }
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => {
                    return Err(op_err(
                        format!("base {}", layout.base),
                        "does not exist: create it first (see README)",
                    )
                    .into())
                }
                Err(e) => return Err(op_err(format!("take {dn}"), e).into()),
            };
            let Some(took_over) = took_over else { continue };
            if let Some(prev) = &took_over {
                tracing::warn!(dn = %dn, previous = %prev, "took over a stale run lock: the previous run died; this run converges from where it stopped");
            }
            let expires = Arc::new(std::sync::Mutex::new(expires));
            let renew = tokio::spawn(renew_loop(dir.clone(), dn.clone(), ttl, expires.clone()));
            return Ok(RunLock {
                dir,
                dn,
                owner,
                expires,
                renew,
                took_over,
            });
        }
    }

    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    /// The flag raised when the lock is lost: the run's directory shares it
    /// ([`Directory::share_halt`]) and stops writing.
    pub fn halt_flag(&self) -> super::Halt {
        self.dir.halt_flag()
    }

    /// Frees the lock and records the run's outcome. Only our own lock is
    /// freed: the owner value is checked in the same modify.
    pub async fn release(self, outcome: &str) {
        self.renew.abort();
        let expires = self.expires.lock().map(|e| e.clone()).unwrap_or_default();
        let mut l = self.dir.conn(0).await;
        let mods = vec![
            Mod::Delete(name(ATTR_OWNER), set(&self.owner)),
            Mod::Add(name(ATTR_OWNER), set(FREE)),
            Mod::Delete(name(ATTR_EXPIRES), set(&expires)),
            Mod::Replace(name(ATTR_FINISHED), set(&gtime(SystemTime::now()))),
            Mod::Replace(name(ATTR_OUTCOME), set(outcome)),
        ];
        if let Err(e) = l
            .modify(self.dn.as_str(), mods)
            .await
            .and_then(|r| r.success())
        {
            tracing::warn!(dn = %self.dn, error = %e, "could not release the run lock (it expires by itself)");
        }
        if let Ok(d) = Arc::try_unwrap(self.dir) {
            d.close().await;
        }
    }
}

impl RunLock {
    /// Frees the lock by deleting its entry (the purge leaves nothing of
    /// the source behind, its lock included).
    pub async fn release_deleting(self) {
        self.renew.abort();
        let mut l = self.dir.conn(0).await;
        if let Err(e) = l.delete(self.dn.as_str()).await.and_then(|r| r.success()) {
            tracing::warn!(dn = %self.dn, error = %e, "could not delete the run lock");
        }
        if let Ok(d) = Arc::try_unwrap(self.dir) {
            d.close().await;
        }
    }
}

/// Renews the expiry every third of the TTL with a compare-and-swap on the
/// value last written; a failed swap means another run took the lock.
async fn renew_loop(
    dir: Arc<Directory>,
    dn: Dn,
    ttl: Duration,
    expires: Arc<std::sync::Mutex<String>>,
) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let old = expires.lock().map(|e| e.clone()).unwrap_or_default();
        let new = gtime(SystemTime::now() + ttl);
        let mut l = dir.conn(0).await;
        let r = l
            .modify(
                dn.as_str(),
                vec![
                    Mod::Delete(name(ATTR_EXPIRES), set(&old)),
                    Mod::Add(name(ATTR_EXPIRES), set(&new)),
                ],
            )
            .await
            .and_then(|r| r.success());
        match r {
            Ok(_) => {
                if let Ok(mut e) = expires.lock() {
                    *e = new;
                }
            }
            Err(ldap3::LdapError::LdapResult { result }) if matches!(result.rc, 16 | 20 | 32) => {
                tracing::error!(dn = %dn, "run lock lost: another run took it over; stopping writes");
                dir.halt(format!("run lock {dn} lost to another run"));
                return;
            }
            Err(e) => {
                // the server may be restarting: the apply's own retries
                // decide; try again at the next tick
                tracing::warn!(dn = %dn, error = %e, "could not renew the run lock");
            }
        }
    }
}
