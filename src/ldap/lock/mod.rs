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

use super::{Directory, DirectoryError};
use crate::config::LdapConfig;
use crate::mapping::layout::Layout;
use crate::model::{Dn, Entry};
use crate::schema::date;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

mod release;
mod renew;
mod take;

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

/// `YYYYMMDDHHMMSSZ` of a time ([`date::generalized_time`]), to the
/// second; a time before the epoch is written as the epoch.
pub fn gtime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(date::generalized_time)
        .unwrap_or_default()
}

/// Parses `YYYYMMDDHHMMSSZ` (what [`gtime`] writes,
/// [`date::parse_generalized_seconds`]); `None` before the epoch.
pub fn parse_gtime(s: &str) -> Option<SystemTime> {
    let d = date::parse_generalized_seconds(s)?;
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
}

impl RunLock {
    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    /// The owner value this run wrote (`host pid run-id`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The flag raised when the lock is lost or cannot be renewed: the
    /// run's directory shares it ([`Directory::share_halt`]) and stops
    /// writing.
    pub fn halt_flag(&self) -> crate::ldap::Halt {
        self.dir.halt_flag()
    }

    fn expires(&self) -> String {
        self.lease
            .lock()
            .map(|l| l.expires.clone())
            .unwrap_or_default()
    }
}
