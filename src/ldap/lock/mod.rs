//! The run lock, held in the directory itself so that two hosts, or a cron
//! job overlapping a manual run, never write at the same time.
//!
//! One entry per source, `cn=aaf-sync-lock-<source>,<base>` (class
//! `aafSyncLock`), names its holder (`host pid run-id`) and an expiry the
//! holder renews every fifth of the TTL. Taking it is atomic: an LDAP add
//! (fails if the entry exists), or, to take over a free or stale lock, one
//! modify that deletes the exact owner value seen and adds ours (fails if
//! anyone changed it in between). A lock is stale past its expiry, or at
//! once when its holder ran on this host and that process is gone (a
//! `kill -9`). Releasing writes the free owner `-` and the outcome of the
//! run, which `status` shows.
//!
//! A holder that cannot prove it still holds the lock must stop writing
//! before anyone else may take it: renewal reconnects like the writers do,
//! and when no renewal has succeeded for half the TTL the run's stop flag
//! is raised (no new operation is sent; those in flight settle well before
//! the expiry). Release is retried the same way; if it still fails, the
//! entry keeps naming the dead run and its expiry, which `status` reports.
//!
//! **Under multi-provider replication** two providers could each accept
//! an add of the lock before replication carries either (the conflict is
//! settled later, by CSN: too late). So the lock has one arbiter: the
//! designated provider, the first of `[ldap] url`. The lock is taken,
//! renewed and freed there only; when it does not answer, writing runs
//! refuse (never a second arbiter that a host cut off from the first could
//! pick). After taking it, a run waits until every other provider that
//! answers holds its lock too (replication carried it) before its first
//! write; if its own entry is meanwhile replaced by another holder's (a
//! host that lists another provider first took the lock there at the same
//! time, and won), it refuses, and so it does if replication does not
//! carry the lock within `[lock] replication_wait_secs`. Writes fail over
//! to another provider only while that provider's copy of the lock names
//! the run ([`super::Fence`]), and for at most half the TTL after the last
//! renewal on the designated provider, as above.

use super::{op_err, Directory, DirectoryError};
use crate::config::{LdapConfig, LockConfig};
use crate::mapping::{self, layout::Layout};
use crate::model::{Dn, Entry};
use ldap3::{Mod, Scope, SearchEntry};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub const LOCK_CLASS: &str = "aafSyncLock";
pub const ATTR_OWNER: &str = "aafSyncLockOwner";
pub const ATTR_EXPIRES: &str = "aafSyncLockExpires";
pub const ATTR_SINCE: &str = "aafSyncLockSince";
pub const ATTR_RUN_ID: &str = "aafSyncLastRunId";
pub const ATTR_COMMAND: &str = "aafSyncLastRunCommand";
pub const ATTR_STARTED: &str = "aafSyncLastRunStarted";
pub const ATTR_FINISHED: &str = "aafSyncLastRunFinished";
pub const ATTR_OUTCOME: &str = "aafSyncLastRunOutcome";
/// What the last run's end says besides its outcome: that it failed over,
/// and where its outcome was recorded (the class allows `description`).
pub const ATTR_NOTE: &str = "description";
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

/// Where a process id means this process: the host name, the boot and the
/// pid namespace. Two containers may share a host name; a pid is only
/// known dead from inside the namespace (and boot) that gave it.
fn pid_space() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| {
            b.trim()
                .chars()
                .filter(|c| *c != '-')
                .take(12)
                .collect::<String>()
        })
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.split_once('[')?.1.trim_end_matches(']').to_string())
        })
        .unwrap_or_default();
    format!("{}#{boot}.{ns}", hostname())
}

/// `host#boot.pidns pid run-id` of this process.
pub fn owner_of(run_id: &str) -> String {
    format!("{} {} {run_id}", pid_space(), std::process::id())
}

/// Whether the holder `owner` (`host#boot.pidns pid run-id`), which took
/// the lock at `since`, is alive: `None` when it ran in another pid space
/// (another host, container or boot: only its expiry tells). A process
/// with that id started after `since` is another one.
fn holder_alive_here(owner: &str, since: Option<SystemTime>) -> Option<bool> {
    let mut it = owner.split(' ');
    let (space, pid) = (it.next()?, it.next()?.parse::<u32>().ok()?);
    if space != pid_space() {
        return None;
    }
    Some(pid == std::process::id() || crate::host::process::alive_since(pid, since))
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
    /// Whether the holder's process is alive, when it ran on this host
    /// (`false`: it died without freeing the lock).
    pub holder_alive: Option<bool>,
    /// True when the expiry has passed.
    pub expired: bool,
    pub last_run_id: Option<String>,
    pub last_run_command: Option<String>,
    pub last_run_started: Option<String>,
    pub last_run_finished: Option<String>,
    pub last_run_outcome: Option<String>,
    /// How the last run ended besides its outcome (a failover).
    pub last_run_note: Option<String>,
}

impl LockState {
    fn of(e: &Entry, now: SystemTime) -> LockState {
        let s = |a: &str| e.first(a).map(str::to_string);
        let owner = s(ATTR_OWNER).filter(|o| o != FREE);
        let expires = s(ATTR_EXPIRES);
        let since = s(ATTR_SINCE);
        let alive = owner
            .as_deref()
            .and_then(|o| holder_alive_here(o, since.as_deref().and_then(parse_gtime)));
        let expired = owner.is_some()
            && expires
                .as_deref()
                .and_then(parse_gtime)
                .is_none_or(|t| t < now);
        LockState {
            since: owner.as_ref().and(since),
            expires: owner.as_ref().and(expires),
            holder: owner,
            stale: alive == Some(false) || expired,
            holder_alive: alive,
            expired,
            last_run_id: s(ATTR_RUN_ID),
            last_run_command: s(ATTR_COMMAND),
            last_run_started: s(ATTR_STARTED),
            last_run_finished: s(ATTR_FINISHED),
            last_run_outcome: s(ATTR_OUTCOME),
            last_run_note: s(ATTR_NOTE),
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
    /// A signal came while waiting for the lock.
    #[error("{0} while waiting for the run lock: nothing written")]
    Interrupted(String),
    /// The designated provider, where the lock lives, does not answer.
    #[error("run lock: the designated provider {url} (the first of [ldap] url) does not answer ({reason}): the lock is taken there only, so that two hosts never write at once; nothing written. Bring it back, or list another provider first on every sync host")]
    DesignatedDown { url: String, reason: String },
    /// Replication did not carry the lock to the other providers, or
    /// another run took it on another provider at the same time.
    #[error("{0}: nothing written")]
    Replication(String),
    /// Another entry sits at the lock's DN.
    #[error("run lock {dn}: an entry that is not aaf-sync's run lock is there (object classes {classes}): aaf-sync never takes over an entry it did not make; remove or rename it; nothing written")]
    Foreign { dn: String, classes: String },
    /// The entry exists but the bind DN cannot read or change it.
    #[error("run lock {dn}: the entry exists but the bind DN cannot {what} it (an ACL?): grant the sync's bind DN read and write access to it (docs/operations.md, \"One run at a time\"); nothing written")]
    NoAccess { dn: String, what: &'static str },
}

fn set(v: &str) -> HashSet<Vec<u8>> {
    HashSet::from([v.as_bytes().to_vec()])
}

fn name(a: &str) -> Vec<u8> {
    a.as_bytes().to_vec()
}

/// What the holder knows of its lease.
#[derive(Debug)]
struct Lease {
    /// The expiry value last written (the compare-and-swap compares it).
    expires: String,
    /// When the request that wrote it was sent: the server's expiry is at
    /// least this plus the TTL.
    renewed: Instant,
}

/// A lock held by this run; renewed in the background until released.
pub struct RunLock {
    dir: Arc<Directory>,
    /// Every provider: the release records the outcome on the failover
    /// providers too when the designated one does not answer.
    ldap: LdapConfig,
    dn: Dn,
    owner: String,
    lease: Arc<Mutex<Lease>>,
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
        let designated = ldap.only(&ldap.url);
        let dir = match Directory::connect_n(&designated, 1).await {
            Ok(d) => Arc::new(d),
            Err(DirectoryError::Connect { reason, .. }) if !ldap.failover_urls.is_empty() => {
                return Err(LockError::DesignatedDown {
                    url: ldap.url.clone(),
                    reason,
                })
            }
            Err(e) => return Err(e.into()),
        };
        let dn = layout.lock_dn();
        let owner = owner_of(run_id);
        let ttl = Duration::from_secs(cfg.ttl_secs);
        let deadline = Instant::now() + Duration::from_secs(cfg.wait_secs);
        // rounds that saw the entry but could neither read it nor swap it:
        // a few are races with another run, many are an ACL
        let mut blind = 0u32;
        loop {
            if let Some(why) = crate::host::interrupt::reason() {
                return Err(LockError::Interrupted(why));
            }
            if blind >= 20 {
                return Err(LockError::NoAccess {
                    dn: dn.to_string(),
                    what: "read or change",
                });
            }
            let now = SystemTime::now();
            let sent = Instant::now();
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
                    let Some(cur) = cur else {
                        // there to add, not there to read: freed in between,
                        // or hidden from the bind DN
                        blind += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let classes = cur.get("objectClass").unwrap_or_default();
                    if !classes.iter().any(|c| c.eq_ignore_ascii_case(LOCK_CLASS)) {
                        return Err(LockError::Foreign {
                            dn: dn.to_string(),
                            classes: classes.iter().collect::<Vec<_>>().join(", "),
                        });
                    }
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
                            Mod::Replace(name(ATTR_NOTE), HashSet::new()),
                        ];
                        match l.modify(dn.as_str(), mods).await.and_then(|r| r.success()) {
                            Ok(_) => Some(state.holder),
                            // someone else changed it first: look again
                            Err(ldap3::LdapError::LdapResult { result })
                                if matches!(result.rc, 16 | 20) =>
                            {
                                blind += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                None
                            }
                            Err(ldap3::LdapError::LdapResult { result })
                                if matches!(result.rc, 50) =>
                            {
                                return Err(LockError::NoAccess {
                                    dn: dn.to_string(),
                                    what: "change",
                                })
                            }
                            Err(e) => return Err(op_err(format!("take {dn}"), e).into()),
                        }
                    } else if Instant::now() < deadline {
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
                        "does not exist: create it first (docs/operations.md, \"Daily operation\", step 1)",
                    )
                    .into())
                }
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 50 => {
                    return Err(LockError::NoAccess {
                        dn: dn.to_string(),
                        what: "create",
                    })
                }
                Err(e) => return Err(op_err(format!("take {dn}"), e).into()),
            };
            let Some(took_over) = took_over else { continue };
            if let Some(prev) = &took_over {
                tracing::warn!(dn = %dn, previous = %prev, "took over a stale run lock: the previous run died; this run converges from where it stopped");
            }
            // writers check this before each send: a run paused (SIGSTOP,
            // a frozen VM) past it must not send what was in its hands
            dir.halt_flag().lease_valid_until(sent + ttl / 2);
            let lease = Arc::new(Mutex::new(Lease {
                expires,
                renewed: sent,
            }));
            let renew = tokio::spawn(renew_loop(
                dir.clone(),
                dn.clone(),
                owner.clone(),
                ttl,
                lease.clone(),
            ));
            dir.halt_flag().set_fence(super::Fence {
                dn: dn.clone(),
                owner: owner.clone(),
            });
            let lock = RunLock {
                dir,
                ldap: ldap.clone(),
                dn,
                owner,
                lease,
                renew,
                took_over,
            };
            let wait = Duration::from_secs(cfg.replication_wait_secs);
            return match lock.confirm_replicated(ldap, wait).await {
                Ok(()) => Ok(lock),
                Err(Confirm::Lost(why)) => {
                    // not ours any more: nothing to free
                    lock.renew.abort();
                    Err(LockError::Replication(why))
                }
                Err(Confirm::NotCarried(why)) => {
                    lock.release("refused").await;
                    Err(LockError::Replication(why))
                }
            };
        }
    }

    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    /// The owner value this run wrote (`host pid run-id`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Waits until every provider of `ldap` but the designated one, among
    /// those that answer, holds this run's lock (replication carried it),
    /// checking meanwhile that the designated provider's entry still names
    /// this run: another holder there means a run that took the lock on
    /// another provider at the same time won the conflict.
    async fn confirm_replicated(&self, ldap: &LdapConfig, wait: Duration) -> Result<(), Confirm> {
        if ldap.failover_urls.is_empty() {
            return Ok(());
        }
        let mut quick = ldap.clone();
        quick.timeout_secs = ldap.timeout_secs.clamp(1, 5);
        let mut pending = Vec::new();
        for url in &ldap.failover_urls {
            match Directory::connect_n(&quick.only(url), 1).await {
                Ok(d) => pending.push((url.clone(), d, String::new())),
                Err(error) => {
                    tracing::warn!(%url, %error, "provider does not answer: the run lock cannot be checked there (writes never fail over to it unless its copy of the lock names this run)")
                }
            }
        }
        let deadline = Instant::now() + wait;
        let result = loop {
            let here = self.dir.read_entry(&self.dn).await;
            let holder = match &here {
                Ok(Some(e)) => e.first(ATTR_OWNER).unwrap_or(FREE).to_string(),
                Ok(None) => "no lock entry".into(),
                Err(e) => break Err(Confirm::NotCarried(format!("run lock {}: {e}", self.dn))),
            };
            if holder != self.owner {
                break Err(Confirm::Lost(format!(
                    "run lock {}: taken by {holder} on another provider at the same time as this run took it on {} (replication settled the conflict for the other run); every sync host must list the same provider first in [ldap] url",
                    self.dn, ldap.url
                )));
            }
            let mut still = Vec::new();
            for (url, d, _) in pending {
                let seen = match d.read_entry(&self.dn).await {
                    Ok(Some(e)) => e.first(ATTR_OWNER).unwrap_or(FREE).to_string(),
                    Ok(None) => "no lock entry".into(),
                    Err(e) => e.to_string(),
                };
                if seen == self.owner {
                    d.close().await;
                } else {
                    still.push((url, d, seen));
                }
            }
            pending = still;
            if pending.is_empty() {
                break Ok(());
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = pending
                    .iter()
                    .map(|(u, _, s)| format!("{u} shows {s}"))
                    .collect();
                break Err(Confirm::NotCarried(format!(
                    "run lock {}: taken on {} but not carried to the other providers within {} s ([lock] replication_wait_secs): {}; is replication between the providers working?",
                    self.dn,
                    ldap.url,
                    wait.as_secs(),
                    seen.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for (_, d, _) in pending {
            d.close().await;
        }
        result
    }

    /// The flag raised when the lock is lost or cannot be renewed: the
    /// run's directory shares it ([`Directory::share_halt`]) and stops
    /// writing.
    pub fn halt_flag(&self) -> super::Halt {
        self.dir.halt_flag()
    }

    fn expires(&self) -> String {
        self.lease
            .lock()
            .map(|l| l.expires.clone())
            .unwrap_or_default()
    }

    /// Frees the lock and records the run's outcome. Only our own lock is
    /// freed: the owner value is checked in the same modify. Retried like
    /// the writers (a new connection when the old one broke, doubling
    /// waits); if the server stays away the entry keeps naming this run
    /// until its expiry, and says so.
    pub async fn release(self, outcome: &str) {
        self.renew.abort();
        let finished = gtime(SystemTime::now());
        let dn = self.dn.clone();
        let owner = self.owner.clone();
        let outcome = outcome.to_string();
        let failed_over = self.dir.halt_flag().failed_over_to();
        let designated = self.ldap.url.clone();
        let mods = |note: Option<String>| {
            let (owner, finished, outcome) = (owner.clone(), finished.clone(), outcome.clone());
            move |expires: &str| {
                vec![
                    Mod::Delete(name(ATTR_OWNER), set(&owner)),
                    Mod::Add(name(ATTR_OWNER), set(FREE)),
                    Mod::Delete(name(ATTR_EXPIRES), set(expires)),
                    Mod::Replace(name(ATTR_FINISHED), set(&finished)),
                    Mod::Replace(name(ATTR_OUTCOME), set(&outcome)),
                    Mod::Replace(
                        name(ATTR_NOTE),
                        note.as_deref().map(set).unwrap_or_default(),
                    ),
                ]
            }
        };
        let note = failed_over
            .as_ref()
            .map(|to| format!("failed over from {designated} to {to} during the run"));
        let here = swap(
            &self.dir,
            &dn,
            &self.owner,
            &self.lease,
            mods(note),
            "release",
        )
        .await;
        match &here {
            Ok(()) => {}
            Err(e @ SwapError::Lost(_)) => {
                tracing::warn!(dn = %dn, error = %e, "the run lock was not ours any more at release")
            }
            Err(e @ SwapError::Failed(_)) => {
                let expires = self.expires();
                tracing::error!(dn = %dn, error = %e, "could not free the run lock: it names this run until it expires ({expires}); `aaf-sync status` shows it; the next run on this host takes it over at once, from another host after the expiry");
            }
        }
        if matches!(here, Err(SwapError::Failed(_))) {
            // The designated provider is gone: its copy names this run
            // until it comes back. The other providers' copies name it too
            // (replication carried the lock there before the first write),
            // and `status` reads the first provider that answers: without
            // this, it would say the run died holding the lock. Freeing
            // them is safe: the run writes nothing more, and when the
            // designated provider returns, replication carries this newer
            // change to it (or a newer take-over there wins).
            let to = failed_over.clone();
            let note = match &to {
                Some(to) => format!(
                    "ended on {to} after failing over from {designated}; {designated} did not answer at the end of the run (its copy of this lock names the run until it is back)"
                ),
                None => format!(
                    "{designated} did not answer at the end of the run: outcome recorded on the other providers (its copy of this lock names the run until it is back)"
                ),
            };
            self.release_elsewhere(mods(Some(note))).await;
        }
        if let Ok(d) = Arc::try_unwrap(self.dir) {
            d.close().await;
        }
    }

    /// The release of [`RunLock::release`] on every other provider that
    /// answers and whose copy of the lock still names this run (the
    /// compare-and-swap on the owner leaves any other holder alone).
    async fn release_elsewhere(&self, mods: impl Fn(&str) -> Vec<Mod<Vec<u8>>>) {
        let mut quick = self.ldap.clone();
        quick.timeout_secs = self.ldap.timeout_secs.clamp(1, 5);
        quick.retries = quick.retries.min(2);
        for url in &self.ldap.failover_urls {
            let d = match Directory::connect_n(&quick.only(url), 1).await {
                Ok(d) => d,
                Err(error) => {
                    tracing::warn!(%url, %error, "provider does not answer: the run's outcome is not recorded there");
                    continue;
                }
            };
            // that copy's expiry may be an older renewal's: the swap adopts it
            let lease = Mutex::new(Lease {
                expires: self.expires(),
                renewed: Instant::now(),
            });
            match swap(&d, &self.dn, &self.owner, &lease, &mods, "release").await {
                Ok(()) => {
                    tracing::warn!(%url, dn = %self.dn, "the designated provider does not answer: the run's outcome was recorded on this provider's copy of the run lock")
                }
                Err(error) => {
                    tracing::warn!(%url, dn = %self.dn, %error, "the run's outcome could not be recorded on this provider")
                }
            }
            d.close().await;
        }
    }

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

/// Why the lock taken on the designated provider is not good to write with.
enum Confirm {
    /// Another run holds it now.
    Lost(String),
    /// Replication did not carry it in time.
    NotCarried(String),
}

/// Why a compare-and-swap on the lock failed.
#[derive(Debug, thiserror::Error)]
enum SwapError {
    /// Another run holds it (or it was freed or deleted): `who`.
    #[error("the lock is not ours any more ({0})")]
    Lost(String),
    /// The server did not answer, through every retry.
    #[error("{0}")]
    Failed(String),
}

/// One compare-and-swap modify of the lock (`mods` built on the expiry
/// value we believe is there), retried on transient faults with a new
/// connection when the old one broke. A swap that finds another expiry
/// while we are still the owner (a renewal applied whose answer was lost)
/// adopts the server's value and tries again.
async fn swap(
    dir: &Directory,
    dn: &Dn,
    owner: &str,
    lease: &Mutex<Lease>,
    mods: impl Fn(&str) -> Vec<Mod<Vec<u8>>>,
    what: &str,
) -> Result<(), SwapError> {
    let retry = dir.retry();
    let mut attempt = 0;
    let mut adopted = false;
    loop {
        let expires = lease.lock().map(|l| l.expires.clone()).unwrap_or_default();
        let (mut l, generation, _) = dir.conn_gen(0).await;
        let r = l
            .modify(dn.as_str(), mods(&expires))
            .await
            .and_then(|r| r.success());
        let err = match r {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match super::rc_of(&err) {
            Some(16 | 20) if !adopted => {
                // look: still ours with another expiry, or taken
                let cur = dir
                    .read_entry(dn)
                    .await
                    .map_err(|e| SwapError::Failed(e.to_string()))?;
                let Some(cur) = cur else {
                    return Err(SwapError::Lost("entry deleted".into()));
                };
                let holder = cur.first(ATTR_OWNER).unwrap_or(FREE).to_string();
                if holder != owner {
                    return Err(SwapError::Lost(format!("held by {holder}")));
                }
                if let (Some(v), Ok(mut l)) = (cur.first(ATTR_EXPIRES), lease.lock()) {
                    l.expires = v.to_string();
                }
                adopted = true;
                continue;
            }
            Some(16 | 20) => return Err(SwapError::Lost("changed by another run".into())),
            Some(32) => return Err(SwapError::Lost("entry deleted".into())),
            _ => {}
        }
        let fault = super::Fault::of(err);
        if let super::Fault::Permanent(m) = &fault {
            return Err(SwapError::Failed(format!("{what} {dn}: {m}")));
        }
        if attempt >= retry.attempts {
            return Err(SwapError::Failed(format!(
                "{what} {dn}: {} unreachable after {} retries ({})",
                dir.cfg.url,
                retry.attempts,
                fault.message()
            )));
        }
        tokio::time::sleep(retry.wait(attempt)).await;
        attempt += 1;
        if let super::Fault::Connection(_) = fault {
            let _ = dir.reconnect(0, generation).await;
        }
    }
}

/// Renews the expiry every fifth of the TTL with a compare-and-swap on the
/// value last written; a failed swap means another run took the lock.
/// Renewal reconnects like the writers do. When no renewal succeeded for
/// half the TTL, the run cannot prove it still holds the lock: its stop
/// flag is raised, so it sends nothing more while the lock is still valid
/// for the other half — before anyone else may take it over. Renewing at a
/// fifth leaves three tenths of the TTL to ride out a server restart
/// before the halt.
async fn renew_loop(
    dir: Arc<Directory>,
    dn: Dn,
    owner: String,
    ttl: Duration,
    lease: Arc<Mutex<Lease>>,
) {
    let every = ttl / 5;
    let halt_after = ttl / 2;
    let renewed = |lease: &Mutex<Lease>| {
        lease
            .lock()
            .map(|l| l.renewed)
            .unwrap_or_else(|_| Instant::now())
    };
    let mut failing_since: Option<Instant> = None;
    loop {
        let last = renewed(&lease);
        let halt_at = last + halt_after;
        let next = if failing_since.is_some() {
            // the server was away: try again soon
            Instant::now() + (ttl / 20).clamp(Duration::from_millis(200), Duration::from_secs(2))
        } else {
            last + every
        };
        tokio::time::sleep_until(next.min(halt_at).into()).await;
        if Instant::now() >= halt_at {
            let why = format!(
                "run lock {dn} not renewed for {} s (half of [lock] ttl_secs = {}): writes stopped before it could expire, so that no other run writes beside this one",
                halt_after.as_secs(),
                ttl.as_secs()
            );
            tracing::error!(dn = %dn, "{why}");
            dir.halt(why);
            return;
        }
        let sent = Instant::now();
        let new = gtime(SystemTime::now() + ttl);
        let mods = |old: &str| {
            vec![
                Mod::Delete(name(ATTR_EXPIRES), set(old)),
                Mod::Add(name(ATTR_EXPIRES), set(&new)),
            ]
        };
        // never wait past the moment writes must stop
        let r = tokio::time::timeout_at(
            halt_at.into(),
            swap(&dir, &dn, &owner, &lease, mods, "renew"),
        )
        .await;
        match r {
            Ok(Ok(())) => {
                if let Ok(mut l) = lease.lock() {
                    l.expires = new;
                    l.renewed = sent;
                }
                dir.halt_flag().lease_valid_until(sent + halt_after);
                if let Some(t) = failing_since.take() {
                    tracing::warn!(dn = %dn, after_secs = t.elapsed().as_secs(), "run lock renewed again");
                }
            }
            Ok(Err(SwapError::Lost(who))) => {
                let why = format!("run lock {dn} lost ({who}): writes stopped");
                tracing::error!(dn = %dn, "{why}");
                dir.halt(why);
                return;
            }
            Ok(Err(SwapError::Failed(e))) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::warn!(dn = %dn, error = %e, "could not renew the run lock; retrying (writes stop if it is not renewed within half the TTL)");
                }
            }
            // the halt check comes first at the next turn
            Err(_) => {
                failing_since.get_or_insert_with(Instant::now);
            }
        }
    }
}
