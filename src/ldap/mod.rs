//! The directory: the only module that talks to LDAP (through `ldap3`).
//!
//! Connects (ldap://, ldaps://, StartTLS, ldapi://) and binds a few
//! connections, reads the managed tree once with paged results, applies a
//! [`Plan`] phase by phase with many operations in flight, checks every
//! result and counts per-entry failures without stopping the run.
//!
//! In a replicated directory (`[ldap] url` lists several providers), the
//! connections go to the first provider that answers, in the order given,
//! and move to the next one when it stops answering under a run (see
//! [`Directory::reconnect`]). A run that holds the run lock writes through
//! a provider other than the designated one (the first of the list) only
//! once that provider's copy of the lock names it (the [`Fence`]). The
//! managed tree may be read from a consumer (`read_url`) when its
//! `contextCSN` has caught up with the provider's ([`replication`]).

use crate::config::LdapConfig;
use crate::diff::{AttrChange, Change, Plan, Planned};
use crate::mapping::layout::{log_dn, log_scrub};
use crate::mapping::{self, layout::Layout, EntryKind};
use crate::model::{dn_key, escape_filter_value, Dn, Entry, EntryMap};
use crate::retention;
use futures::stream::{self, StreamExt};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{StructureTag, PL};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, ResultEntry, Scope, SearchEntry};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod apply;
pub mod ldif;
pub mod lock;
pub mod replication;

/// Shared "stop writing" flag with its reason: the run lock's renewal and
/// the apply share it, so losing the lock stops the writes. It also carries
/// the run lock's [`Fence`] once the lock is taken: a directory sharing
/// this flag writes through a provider other than the designated one only
/// when that provider's copy of the lock names the run.
#[derive(Debug, Clone, Default)]
pub struct Halt {
    flag: Arc<std::sync::Mutex<Option<String>>>,
    fence: Arc<std::sync::OnceLock<Fence>>,
    /// Until when the run lock is known held (half its TTL past the last
    /// renewal): no operation is sent after it.
    lease: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The failover provider (URL) this run wrote through once its copy of
    /// the lock was found to name the run: the lock's release records the
    /// run's outcome there too when the designated provider is gone, so
    /// that `status`, which reads the provider that answers, tells the truth.
    failed_over_to: Arc<std::sync::Mutex<Option<String>>>,
}

impl std::ops::Deref for Halt {
    type Target = std::sync::Mutex<Option<String>>;
    fn deref(&self) -> &Self::Target {
        &self.flag
    }
}

/// The run lock a writing run holds: its entry and owner value.
#[derive(Debug, Clone)]
pub struct Fence {
    pub dn: Dn,
    pub owner: String,
}

impl Halt {
    /// Ties the run lock to this flag (once).
    pub fn set_fence(&self, f: Fence) {
        let _ = self.fence.set(f);
    }

    pub fn fence(&self) -> Option<&Fence> {
        self.fence.get()
    }

    /// Records that the run's writes moved to the failover provider `url`.
    fn failed_over(&self, url: &str) {
        if let Ok(mut f) = self.failed_over_to.lock() {
            *f = Some(url.to_string());
        }
    }

    /// The failover provider the run last wrote through, if it failed over.
    pub fn failed_over_to(&self) -> Option<String> {
        self.failed_over_to.lock().ok().and_then(|f| f.clone())
    }

    /// The run lock is known held until `t` (set when taken and at each
    /// renewal).
    pub fn lease_valid_until(&self, t: std::time::Instant) {
        if let Ok(mut l) = self.lease.lock() {
            *l = Some(t);
        }
    }

    /// Why no operation may be sent now because the lease has lapsed: the
    /// renewal task may not have run yet (the process was paused, the
    /// runtime busy), so the writers look themselves.
    fn lease_lapsed(&self) -> Option<String> {
        let until = (*self.lease.lock().ok()?)?;
        (std::time::Instant::now() >= until).then(|| {
            "the run lock was not renewed in time (the process was paused, or the server away): \
             writes stopped before it could expire, so that no other run writes beside this one"
                .to_string()
        })
    }
}

/// Errors that stop the run before (or instead of) any write.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("LDAP: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// No provider of the list answers.
    #[error("LDAP: no provider answers: {0}")]
    NoProvider(String),
    #[error("LDAP: bind as {dn} failed: {reason}")]
    Bind { dn: String, reason: String },
    #[error("LDAP: {what}: {reason}")]
    Op { what: String, reason: String },
    #[error("LDAP: TLS CA file {path}: {reason}")]
    Tls { path: String, reason: String },
}

fn op_err(what: impl Into<String>, e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Op {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// What [`Directory::password_access`] found on a managed person.
#[derive(Debug)]
pub struct PasswordAccess {
    pub dn: Dn,
    /// `userPassword` came back with the entry (false: no value, or hidden).
    pub read: bool,
    /// `userPassword` and `aafSyncSavedPassword` may be written.
    pub write: bool,
}

/// Bound connections to the directory. A connection that breaks is
/// replaced (reconnected and bound again) by the first operation that finds
/// it broken; the others wait for it. Every connection goes to the same
/// provider, `at` in the list of providers.
pub struct Directory {
    cfg: LdapConfig,
    settings: LdapConnSettings,
    slots: Vec<tokio::sync::Mutex<Slot>>,
    timeout: Duration,
    page_size: i32,
    /// Set when the run must stop writing (the directory stayed unreachable
    /// through every retry, or the run lock was lost): why.
    halt: Halt,
    /// Index, in [`LdapConfig::providers`], of the provider in use.
    at: AtomicUsize,
    /// The provider (index) whose copy of the run lock was found to name
    /// this run; `usize::MAX`: none yet.
    fenced: AtomicUsize,
    /// One check of the lock on a failover provider at a time.
    fence_check: tokio::sync::Mutex<()>,
    /// The server the last read of the managed tree came from.
    read_from: std::sync::Mutex<Option<String>>,
}

struct Slot {
    ldap: Ldap,
    /// Bumped at each reconnect, so that operations that failed on the same
    /// broken connection reconnect it once.
    generation: u64,
    /// The provider (index) this connection goes to.
    at: usize,
}

/// How an operation failed.
#[derive(Debug)]
enum Fault {
    /// The connection is gone (reset, timeout, server stopped): reconnect
    /// and retry.
    Connection(String),
    /// The server is busy or unavailable for now: retry.
    Transient(String),
    /// The server refused this operation: counted, not retried.
    Permanent(String),
}

impl Fault {
    fn of(e: ldap3::LdapError) -> Fault {
        use ldap3::LdapError as E;
        match e {
            E::LdapResult { result } => match result.rc {
                // busy, unavailable
                51 | 52 => Fault::Transient(E::LdapResult { result }.to_string()),
                _ => Fault::Permanent(E::LdapResult { result }.to_string()),
            },
            e @ (E::Io { .. }
            | E::OpSend { .. }
            | E::ResultRecv { .. }
            | E::IdScrubSend { .. }
            | E::MiscSend { .. }
            | E::Timeout { .. }
            | E::EndOfStream) => Fault::Connection(e.to_string()),
            e => Fault::Permanent(e.to_string()),
        }
    }
    fn message(&self) -> &str {
        match self {
            Fault::Connection(m) | Fault::Transient(m) | Fault::Permanent(m) => m,
        }
    }
}

/// Result code of a failed operation, when the server answered.
fn rc_of(e: &ldap3::LdapError) -> Option<u32> {
    match e {
        ldap3::LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

fn tls_config(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let err = |r: String| DirectoryError::Tls {
        path: ca.display().to_string(),
        reason: r,
    };
    let pem = std::fs::read(ca).map_err(|e| err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no certificate found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The attributes read from managed entries: what the sync owns, plus what
/// identifies an entry. Never `userPassword` or other foreign attributes.
fn read_attrs() -> Vec<String> {
    let mut v: Vec<String> = [
        "objectClass",
        "uid",
        "ou",
        "cn",
        "ENTPersonLogin",
        "ENTPersonAlias",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in [
        EntryKind::Structure,
        EntryKind::Pupil,
        EntryKind::Parent,
        EntryKind::Staff,
        EntryKind::Classe,
    ] {
        v.extend(mapping::owned(k).iter().map(|s| s.to_string()));
    }
    v.sort_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

/// The managed tree as read from the directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Entries of this source, by DN key.
    pub managed: EntryMap,
    /// Entries whose jointure names this source but that are not managed
    /// (an older feeder's): adopted when the extraction carries them.
    pub adoptable: EntryMap,
    /// Every login in the tree (managed or not), lower case.
    pub taken_logins: HashSet<String>,
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Done,
    /// The directory refused it (the message says why).
    Failed(String),
    /// Not sent: the apply halted first.
    NotAttempted,
    /// Sent, but its answer was lost and the apply halted before it could
    /// be retried: it may or may not have been done. The next run plans
    /// from what the directory then holds.
    Unknown(String),
}

/// Why [`Directory::apply_retrying`] gave up on an operation.
enum GaveUp {
    /// The directory answered with a refusal.
    Refused(String),
    /// Never sent: the apply had halted.
    NotSent(String),
    /// Sent at least once without an answer, then the apply halted.
    Lost(String),
}

fn to_entry(se: SearchEntry) -> Entry {
    Entry::from_attrs(
        Dn::new(se.dn),
        se.attrs
            .iter()
            .map(|(n, v)| (n.as_str(), v.iter().map(String::as_str))),
    )
}

/// A search result decoded straight from its BER structure, values
/// borrowed until they land in the entry's buffer: the read of an
/// académie's tree spent more time in `SearchEntry::construct` (a map and
/// a string per value) than in the network. As `construct` does, an
/// attribute with a value that is not UTF-8 is left out (none of the
/// managed attributes is binary). `None` for a malformed result, where
/// `construct` would panic.
fn decode_entry(re: &ResultEntry) -> Option<Entry> {
    fn parts(t: &StructureTag) -> Option<&[StructureTag]> {
        match &t.payload {
            PL::C(v) => Some(v),
            PL::P(_) => None,
        }
    }
    fn text(t: &StructureTag) -> Option<&str> {
        match &t.payload {
            PL::P(b) => std::str::from_utf8(b).ok(),
            PL::C(_) => None,
        }
    }
    if re.0.id != 4 {
        return None;
    }
    let [dn, attrs] = parts(&re.0)? else {
        return None;
    };
    let mut list = Vec::new();
    for pa in parts(attrs)? {
        let [name, values] = parts(pa)? else {
            return None;
        };
        let values = parts(values)?;
        let vals: Option<Vec<&str>> = values.iter().map(text).collect();
        if let Some(vals) = vals {
            list.push((text(name)?, vals));
        }
    }
    Some(Entry::from_attrs(Dn::new(text(dn)?), list))
}

fn to_set(values: crate::model::Values) -> HashSet<String> {
    values.iter().map(str::to_string).collect()
}

fn bytes_set(values: &[String]) -> HashSet<Vec<u8>> {
    values.iter().map(|v| v.as_bytes().to_vec()).collect()
}

/// The values of `userPassword` and `aafSyncSavedPassword` of one entry, as
/// bytes (hashes are usually ASCII but the syntax is octet string).
pub(crate) async fn read_passwords(
    ldap: &mut Ldap,
    dn: &str,
) -> Result<(HashSet<Vec<u8>>, HashSet<Vec<u8>>), ldap3::LdapError> {
    let (rs, _) = ldap
        .search(
            dn,
            Scope::Base,
            "(objectClass=*)",
            vec![PASSWORD, retention::ATTR_SAVED_PASSWORD],
        )
        .await
        .and_then(|r| r.success())?;
    let mut user = HashSet::new();
    let mut saved = HashSet::new();
    for re in rs {
        let se = SearchEntry::construct(re);
        let text = se.attrs.into_iter().map(|(a, vs)| {
            (
                a,
                vs.into_iter().map(String::into_bytes).collect::<Vec<_>>(),
            )
        });
        for (a, vs) in text.chain(se.bin_attrs) {
            if a.eq_ignore_ascii_case(PASSWORD) {
                user.extend(vs);
            } else if a.eq_ignore_ascii_case(retention::ATTR_SAVED_PASSWORD) {
                saved.extend(vs);
            }
        }
    }
    Ok((user, saved))
}

const PASSWORD: &str = "userPassword";

/// The modifications of a planned modify. Moving a password is done with
/// value-exact deletes in the same modify as the rest: if the password
/// changed since it was read, the whole modify fails (and is retried by the
/// next run) instead of losing the new value.
async fn modifications(
    ldap: &mut Ldap,
    dn: &str,
    changes: &[AttrChange],
) -> Result<Vec<Mod<Vec<u8>>>, ldap3::LdapError> {
    let moves = changes
        .iter()
        .any(|c| matches!(c, AttrChange::StashPassword | AttrChange::RestorePassword));
    let (user, saved) = if moves {
        read_passwords(ldap, dn).await?
    } else {
        Default::default()
    };
    let name = |a: &str| a.as_bytes().to_vec();
    let mut mods = Vec::with_capacity(changes.len() + 2);
    for c in changes {
        match c {
            AttrChange::Add { attr, values } => mods.push(Mod::Add(name(attr), bytes_set(values))),
            AttrChange::Delete { attr, values } => {
                mods.push(Mod::Delete(name(attr), bytes_set(values)))
            }
            AttrChange::Replace { attr, values } => {
                mods.push(Mod::Replace(name(attr), bytes_set(values)))
            }
            AttrChange::StashPassword => {
                if !user.is_empty() {
                    mods.push(Mod::Delete(name(PASSWORD), user.clone()));
                    mods.push(Mod::Replace(
                        name(retention::ATTR_SAVED_PASSWORD),
                        user.clone(),
                    ));
                }
            }
            AttrChange::RestorePassword => {
                if !saved.is_empty() {
                    mods.push(Mod::Delete(
                        name(retention::ATTR_SAVED_PASSWORD),
                        saved.clone(),
                    ));
                    if user.is_empty() {
                        mods.push(Mod::Add(name(PASSWORD), saved.clone()));
                    }
                }
            }
        }
    }
    Ok(mods)
}

async fn apply_one(mut ldap: Ldap, p: &Planned) -> Result<(), ldap3::LdapError> {
    let res = match &p.change {
        Change::Add { entry } => {
            let attrs: Vec<(String, HashSet<String>)> = entry
                .attrs
                .values()
                .map(|a| (a.name.to_string(), to_set(a.values)))
                .collect();
            ldap.add(entry.dn.as_str(), attrs).await
        }
        Change::Modify { dn, changes } => {
            let mods = modifications(&mut ldap, dn.as_str(), changes).await?;
            if mods.is_empty() {
                return Ok(());
            }
            ldap.modify(dn.as_str(), mods).await
        }
        Change::Delete { dn } => ldap.delete(dn.as_str()).await,
        Change::Move { dn, to } => {
            let rdn = crate::mapping::layout::rdn_of(to.as_str());
            let parent = to.as_str()[rdn.len()..].trim_start_matches(',');
            // the values of the old RDN stay: a departed entry's RDN may add
            // its jointure (`uid=100+ENTPersonJointure=…`), which must stay
            // on the entry when it moves back to `uid=100`
            ldap.modifydn(dn.as_str(), rdn, false, Some(parent)).await
        }
    };
    res?.success().map(|_| ())
}

/// A value as compared when checking that an operation is on a server:
/// DN-valued attributes by their DN key (the server may respell a DN),
/// the rest exactly as written.
fn value_key(attr: &str, v: &str) -> String {
    let is = |list: &[&str]| list.iter().any(|a| a.eq_ignore_ascii_case(attr));
    if is(&mapping::DN_VALUED) {
        crate::model::dn_key(v)
    } else if is(&mapping::DN_PREFIXED) {
        match v.split_once('$') {
            Some((dn, rest)) => format!("{}${rest}", crate::model::dn_key(dn)),
            None => crate::model::dn_key(v),
        }
    } else {
        v.to_string()
    }
}

/// Retries of operations that failed for a transient reason.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Retry {
    fn wait(&self, attempt: u32) -> Duration {
        let w = self.first_wait.saturating_mul(1u32 << attempt.min(16));
        w.min(self.max_wait)
    }
}

/// Opens and binds one connection to `url`.
async fn open(
    cfg: &LdapConfig,
    settings: &LdapConnSettings,
    url: &str,
) -> Result<Ldap, DirectoryError> {
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings.clone(), url)
        .await
        .map_err(|e| DirectoryError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    ldap3::drive!(conn);
    if !cfg.bind_dn.is_empty() {
        let pw = cfg.bind_password.as_deref().unwrap_or("");
        ldap.with_timeout(timeout);
        ldap.simple_bind(&cfg.bind_dn, pw)
            .await
            .and_then(|r| r.success())
            .map_err(|e| match rc_of(&e) {
                // the server answered: refused credentials are refused
                // by every provider alike
                Some(_) => DirectoryError::Bind {
                    dn: cfg.bind_dn.clone(),
                    reason: e.to_string(),
                },
                None => DirectoryError::Connect {
                    url: url.to_string(),
                    reason: format!("bind: {e}"),
                },
            })?;
    }
    Ok(ldap)
}

/// The URL of provider `i` (the designated one for an index out of range).
fn provider(cfg: &LdapConfig, i: usize) -> &str {
    cfg.providers().nth(i).unwrap_or(cfg.url.as_str())
}

/// Opens one bound connection to provider `from` if it answers, else to
/// the first other provider of the list that does: its index and the
/// connection. Every provider refusing is one error naming each.
async fn open_first(
    cfg: &LdapConfig,
    settings: &LdapConnSettings,
    from: usize,
) -> Result<(usize, Ldap), DirectoryError> {
    let n = cfg.failover_urls.len() + 1;
    let order = std::iter::once(from.min(n - 1)).chain((0..n).filter(|&i| i != from));
    let mut errors = Vec::new();
    for i in order {
        let url = provider(cfg, i);
        match open(cfg, settings, url).await {
            Ok(l) => {
                if !errors.is_empty() {
                    tracing::warn!(
                        url,
                        "connected to a failover provider: {}",
                        errors.join("; ")
                    );
                }
                return Ok((i, l));
            }
            // a refused bind is the same everywhere: no failover
            Err(e @ DirectoryError::Bind { .. }) => return Err(e),
            Err(e) if n == 1 => return Err(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(DirectoryError::NoProvider(errors.join("; ")))
}

impl Directory {
    /// Opens `cfg.connections` bound connections.
    pub async fn connect(cfg: &LdapConfig) -> Result<Directory, DirectoryError> {
        Directory::connect_n(cfg, cfg.connections).await
    }

    /// Opens `n` bound connections (the run lock keeps one of its own) to
    /// the first provider that answers, in the order of the list.
    pub async fn connect_n(cfg: &LdapConfig, n: usize) -> Result<Directory, DirectoryError> {
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(cfg.starttls);
        if let Some(ca) = &cfg.ca_file {
            settings = settings.set_config(tls_config(ca)?);
        }
        let (at, first) = open_first(cfg, &settings, 0).await?;
        let url = provider(cfg, at);
        let mut slots = Vec::with_capacity(n);
        slots.push(tokio::sync::Mutex::new(Slot {
            ldap: first,
            generation: 0,
            at,
        }));
        for _ in 1..n.max(1) {
            let ldap = open(cfg, &settings, url).await?;
            slots.push(tokio::sync::Mutex::new(Slot {
                ldap,
                generation: 0,
                at,
            }));
        }
        Ok(Directory {
            cfg: cfg.clone(),
            settings,
            slots,
            timeout,
            page_size: cfg.page_size,
            halt: Halt::default(),
            at: AtomicUsize::new(at),
            fenced: AtomicUsize::new(usize::MAX),
            fence_check: tokio::sync::Mutex::new(()),
            read_from: Default::default(),
        })
    }

    /// The URL of the provider the connections go to.
    pub fn url(&self) -> &str {
        provider(&self.cfg, self.at.load(Ordering::SeqCst))
    }

    /// The server the last read of the managed tree came from (a consumer
    /// when it had caught up, else the provider).
    pub fn read_from(&self) -> Option<String> {
        self.read_from.lock().ok().and_then(|r| r.clone())
    }

    /// A handle on connection `i` (modulo their number), and its generation.
    /// A connection still on a provider the others left is moved first.
    async fn conn_gen(&self, i: usize) -> (Ldap, u64, usize) {
        let mut slot = self.slots[i % self.slots.len()].lock().await;
        let at = self.at.load(Ordering::SeqCst);
        if slot.at != at {
            if let Ok(ldap) = open(&self.cfg, &self.settings, provider(&self.cfg, at)).await {
                slot.ldap = ldap;
                slot.at = at;
                slot.generation += 1;
            }
        }
        let mut l = slot.ldap.clone();
        l.with_timeout(self.timeout);
        (l, slot.generation, slot.at)
    }

    async fn conn(&self, i: usize) -> Ldap {
        self.conn_gen(i).await.0
    }

    /// Index, among the providers, of the one the connections go to now.
    pub fn provider_in_use(&self) -> usize {
        self.at.load(Ordering::SeqCst)
    }

    /// The URL of provider `i` of the list.
    pub fn provider_url(&self, i: usize) -> &str {
        provider(&self.cfg, i)
    }

    /// True when writes may move between providers (several listed):
    /// only then does the apply keep which provider acknowledged what.
    pub fn replicated(&self) -> bool {
        !self.cfg.failover_urls.is_empty()
    }

    /// Replaces connection `i` if it is still the broken one (`generation`):
    /// on the provider in use if it answers, else on the next provider of
    /// the list that does (failover; the other connections follow). A run
    /// holding the lock does not move to a provider whose copy of the lock
    /// does not name it: its writes stop instead.
    async fn reconnect(&self, i: usize, generation: u64) -> Result<(), DirectoryError> {
        let mut slot = self.slots[i % self.slots.len()].lock().await;
        if slot.generation != generation {
            return Ok(()); // another operation did it
        }
        let from = self.at.load(Ordering::SeqCst);
        let (at, ldap) = open_first(&self.cfg, &self.settings, from).await?;
        if at != from {
            tracing::warn!(
                from = provider(&self.cfg, from),
                to = provider(&self.cfg, at),
                "provider stopped answering: the run continues on the next one"
            );
            self.at.store(at, Ordering::SeqCst);
        }
        slot.ldap = ldap;
        slot.at = at;
        slot.generation += 1;
        drop(slot);
        tracing::info!(
            connection = i % self.slots.len(),
            url = provider(&self.cfg, at),
            "LDAP connection re-established"
        );
        if let Err(why) = self.check_fence().await {
            self.halt(why.clone());
            return Err(op_err("failover", why));
        }
        Ok(())
    }

    /// With the run lock held and the connections on a provider other
    /// than the designated one: checks once per provider that its copy of
    /// the lock names this run (replication carried it there). `Err` says
    /// why writing through it is refused.
    async fn check_fence(&self) -> Result<(), String> {
        let Some(f) = self.halt.fence() else {
            return Ok(());
        };
        let at = self.at.load(Ordering::SeqCst);
        if at == 0 || self.fenced.load(Ordering::SeqCst) == at {
            return Ok(());
        }
        // the operations in flight wait for one check
        let _one = self.fence_check.lock().await;
        if self.fenced.load(Ordering::SeqCst) == at {
            return Ok(());
        }
        let url = provider(&self.cfg, at);
        let refuse = |what: String| {
            format!(
                "provider {url} {what}: writes through it refused (the run lock is held on the designated provider {}; a run writes through another provider only once that provider's copy of the lock names it)",
                self.cfg.url
            )
        };
        let one = Directory::connect_n(&self.cfg.only(url), 1)
            .await
            .map_err(|e| refuse(format!("cannot be checked ({e})")))?;
        let entry = one.read_entry(&f.dn).await;
        one.close().await;
        let holder = match entry {
            Ok(Some(e)) => e.first(lock::ATTR_OWNER).unwrap_or(lock::FREE).to_string(),
            Ok(None) => "no lock entry".to_string(),
            Err(e) => return Err(refuse(format!("cannot be checked ({e})"))),
        };
        if holder != f.owner {
            return Err(refuse(format!(
                "does not hold this run's lock yet ({holder}: replication had not carried it when {} stopped answering)",
                self.cfg.url
            )));
        }
        self.fenced.store(at, Ordering::SeqCst);
        self.halt.failed_over(url);
        tracing::warn!(
            url,
            "writing through a failover provider: its copy of the run lock names this run"
        );
        Ok(())
    }

    /// The providers a halted apply names: the one in use, or all of them.
    fn unreachable(&self) -> String {
        if self.cfg.failover_urls.is_empty() {
            self.cfg.url.clone()
        } else {
            let all: Vec<&str> = self.cfg.providers().collect();
            format!("no provider ({})", all.join(", "))
        }
    }

    fn retry(&self) -> Retry {
        Retry {
            attempts: self.cfg.retries,
            first_wait: Duration::from_millis(self.cfg.retry_wait_ms),
            max_wait: Duration::from_millis(self.cfg.retry_max_wait_ms),
        }
    }

    /// Shares `h` as this directory's stop flag.
    pub fn share_halt(&mut self, h: &Halt) {
        self.halt = h.clone();
    }

    /// This directory's stop flag.
    pub fn halt_flag(&self) -> Halt {
        self.halt.clone()
    }

    /// Stops the writes of this run from now on (the reason is reported).
    pub fn halt(&self, reason: impl Into<String>) {
        if let Ok(mut h) = self.halt.lock() {
            h.get_or_insert_with(|| reason.into());
        }
    }

    /// Why writes stopped, if they did.
    pub fn halted(&self) -> Option<String> {
        if let Some(why) = self.halt.lease_lapsed() {
            self.halt(why);
        }
        self.halt.lock().ok().and_then(|h| h.clone())
    }

    /// Runs one planned operation with retries: transient failures wait
    /// (doubling) and try again, on a new connection when it broke. When
    /// the retries run out on an unreachable server the whole apply halts:
    /// piling up failures would only hide the cause.
    /// `Ok`: the index of the provider that acknowledged it.
    async fn apply_retrying(&self, i: usize, p: &Planned, retry: Retry) -> Result<usize, GaveUp> {
        let mut attempt = 0;
        loop {
            if let Err(why) = self.check_fence().await {
                self.halt(why);
            }
            if let Some(why) = self.halted() {
                // an earlier attempt went out unanswered: it may be done
                return Err(if attempt == 0 {
                    GaveUp::NotSent(format!("not attempted: {why}"))
                } else {
                    GaveUp::Lost(format!("outcome unknown (sent, no answer): {why}"))
                });
            }
            let (ldap, generation, at) = self.conn_gen(i).await;
            let err = match apply_one(ldap, p).await {
                Ok(()) => return Ok(at),
                Err(e) => e,
            };
            // an add or delete whose answer was lost may have been done
            if attempt > 0 {
                match (&p.change, rc_of(&err)) {
                    (Change::Add { .. }, Some(68))
                    | (Change::Delete { .. } | Change::Move { .. }, Some(32)) => return Ok(at),
                    _ => {}
                }
            }
            // a move onto a DN something else holds: say what is in the way
            let blocked = match (&p.change, rc_of(&err)) {
                (Change::Move { to, .. }, Some(68)) => Some(to),
                _ => None,
            };
            let fault = Fault::of(err);
            if let Fault::Permanent(m) = fault {
                return Err(GaveUp::Refused(match blocked {
                    Some(to) => format!(
                        "{m}: another entry, which this sync does not manage, is at {}: \
                         remove or rename it; until then the entry stays where it is",
                        log_dn(to.as_str())
                    ),
                    None => m,
                }));
            }
            if attempt >= retry.attempts {
                let why = format!(
                    "{} unreachable after {} retries ({})",
                    self.unreachable(),
                    retry.attempts,
                    fault.message()
                );
                self.halt(why.clone());
                return Err(GaveUp::Lost(format!(
                    "outcome unknown (sent, no answer): {why}"
                )));
            }
            tracing::debug!(dn = %log_dn(p.change.dn().as_str()), attempt, error = %log_scrub(fault.message(), p.change.dn().as_str()), "LDAP operation will be retried");
            tokio::time::sleep(retry.wait(attempt)).await;
            attempt += 1;
            if let Fault::Connection(_) = fault {
                if let Err(e) = self.reconnect(i, generation).await {
                    tracing::debug!(error = %e, "reconnect failed");
                }
            }
        }
    }

    /// True when an entry exists.
    pub async fn exists(&self, dn: &Dn) -> Result<bool, DirectoryError> {
        let mut l = self.conn(0).await;
        match l
            .search(dn.as_str(), Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
        {
            Ok(r) => match r.success() {
                Ok(_) => Ok(true),
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(false),
                Err(e) => Err(op_err(format!("read {}", log_dn(dn.as_str())), e)),
            },
            Err(e) => Err(op_err(format!("read {}", log_dn(dn.as_str())), e)),
        }
    }

    /// The DN keys, among `candidates` (DNs the plan would add), of
    /// entries that exist and that this source does not manage: squatters
    /// an add would fail on. A few candidates are looked up one by one;
    /// many (a first sync) by one paged search of the branches for entries
    /// that are not ours, DNs only.
    pub async fn foreign_at(
        &self,
        layout: &Layout,
        candidates: &[&Dn],
    ) -> Result<HashSet<String>, DirectoryError> {
        let not_ours = format!(
            "(!(&(objectClass={})({}={})))",
            mapping::STATE_CLASS,
            mapping::ATTR_SOURCE,
            escape_filter_value(&layout.source)
        );
        let mut found = HashSet::new();
        if candidates.is_empty() {
            return Ok(found);
        }
        if candidates.len() <= 2000 {
            let not_ours = &not_ours;
            let mut results = stream::iter(candidates.iter().enumerate())
                .map(|(i, dn)| async move {
                    let mut l = self.conn(i).await;
                    let r = l
                        .search(dn.as_str(), Scope::Base, not_ours, vec!["1.1"])
                        .await
                        .and_then(|r| r.success());
                    (dn, r)
                })
                .buffer_unordered(self.cfg.in_flight.max(1));
            while let Some((dn, r)) = results.next().await {
                match r {
                    Ok((rs, _)) if !rs.is_empty() => {
                        found.insert(dn.key());
                    }
                    Ok(_) => {}
                    Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => {}
                    Err(e) => return Err(op_err(format!("read {}", log_dn(dn.as_str())), e)),
                }
            }
            return Ok(found);
        }
        let wanted: HashSet<String> = candidates.iter().map(|d| d.key()).collect();
        for (_, branch) in layout.branches() {
            if !self.exists(branch).await? {
                continue;
            }
            let mut l = self.conn(0).await;
            let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
                Box::new(EntriesOnly::new()),
                Box::new(PagedResults::new(self.page_size)),
            ];
            let what = || format!("read {branch}");
            let mut s = l
                .streaming_search_with(
                    adapters,
                    branch.as_str(),
                    Scope::Subtree,
                    &not_ours,
                    vec!["1.1"],
                )
                .await
                .map_err(|e| op_err(what(), e))?;
            while let Some(re) = s.next().await.map_err(|e| op_err(what(), e))? {
                let se = SearchEntry::construct(re);
                let key = crate::model::dn_key(&se.dn);
                if wanted.contains(&key) {
                    found.insert(key);
                }
            }
            s.finish().await.success().map_err(|e| op_err(what(), e))?;
        }
        Ok(found)
    }

    /// The directory's schema: the subschema entry the base names
    /// (`subschemaSubentry`), read whole.
    pub async fn read_schema(
        &self,
        base: &Dn,
    ) -> Result<crate::mapping::subschema::DirSchema, DirectoryError> {
        let mut l = self.conn(0).await;
        let sub = match l
            .search(
                base.as_str(),
                Scope::Base,
                "(objectClass=*)",
                vec!["subschemaSubentry"],
            )
            .await
            .and_then(|r| r.success())
        {
            Ok((rs, _)) => rs
                .into_iter()
                .map(SearchEntry::construct)
                .find_map(|e| {
                    e.attrs
                        .into_iter()
                        .find(|(a, _)| a.eq_ignore_ascii_case("subschemaSubentry"))
                        .and_then(|(_, v)| v.into_iter().next())
                })
                .unwrap_or_else(|| "cn=Subschema".to_string()),
            Err(_) => "cn=Subschema".to_string(),
        };
        let (entries, _) = l
            .search(
                &sub,
                Scope::Base,
                "(objectClass=*)",
                vec!["objectClasses", "attributeTypes"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err(format!("read {sub}"), e))?;
        let mut classes = Vec::new();
        let mut types = Vec::new();
        for e in entries.into_iter().map(SearchEntry::construct) {
            for (a, vs) in e.attrs {
                if a.eq_ignore_ascii_case("objectClasses") {
                    classes.extend(vs);
                } else if a.eq_ignore_ascii_case("attributeTypes") {
                    types.extend(vs);
                }
            }
        }
        Ok(crate::mapping::subschema::DirSchema::parse(
            classes.iter().map(String::as_str),
            types.iter().map(String::as_str),
        ))
    }

    /// How many entries carry a jointure of the layout's source without
    /// being managed (an existing tree the sync may adopt).
    pub async fn count_adoptable(&self, layout: &Layout) -> Result<usize, DirectoryError> {
        let src = escape_filter_value(&layout.source);
        let filter = format!(
            "(&(|(ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))(!(objectClass={})))",
            mapping::STATE_CLASS
        );
        Ok(self.search(&layout.base, &filter, &["1.1"]).await?.len())
    }

    /// How many entries of the source, managed or adoptable, have a DN whose
    /// first RDN value the layout does not build from an id (an adopted
    /// tree's `uid=zoe.coeur`): logs write those as pseudonyms.
    pub async fn count_named_dns(&self, layout: &Layout) -> Result<usize, DirectoryError> {
        let src = escape_filter_value(&layout.source);
        let filter = format!(
            "(|(&(objectClass={})({}={src})(|(objectClass=ENTPerson)(ENTStructureJointure=*)))\
             (ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))",
            mapping::STATE_CLASS,
            mapping::ATTR_SOURCE,
        );
        Ok(self
            .search(&layout.base, &filter, &["1.1"])
            .await?
            .iter()
            .filter(|e| !layout.clear(e.dn.as_str()))
            .count())
    }

    /// Checks that the directory knows the project's schema.
    /// What every command checks first (see [`crate::run::preflight`]): the
    /// server holds the base, the base exists, the sync's schema is loaded.
    pub async fn preflight(&self, layout: &Layout) -> Result<(), DirectoryError> {
        self.base_present(&layout.base).await?;
        self.check_schema().await
    }

    /// The base exists; when it does not, whether it is missing from a
    /// suffix this server holds (create it) or outside every suffix (the
    /// server answers "no global superior knowledge": a wrong `base_dn`).
    async fn base_present(&self, base: &Dn) -> Result<(), DirectoryError> {
        if self.exists(base).await.unwrap_or(false) {
            return Ok(());
        }
        let contexts = self.naming_contexts().await.unwrap_or_default();
        let key = base.key();
        let held = contexts.iter().any(|c| {
            let c = dn_key(c);
            key == c || key.ends_with(&format!(",{c}"))
        });
        if held || contexts.is_empty() {
            return Err(op_err(
                format!("base {}", base),
                "does not exist: create it first (docs/operations.md, \"Daily operation\", step 1); \
                 the sync creates the branches under it, not the base itself",
            ));
        }
        Err(op_err(
            format!("base {}", base),
            format!(
                "is not held by this server: its naming contexts are {}; \
                 set [ldap] base_dn to one of them or to an entry under one",
                contexts.join(", ")
            ),
        ))
    }

    /// Whether this bind can move passwords as departures and returns do
    /// (read `userPassword`; write it and `aafSyncSavedPassword`), tried on
    /// a managed person without changing anything: a delete of a value no
    /// entry has is refused for access (50) before it is found missing
    /// (16). `None`: no managed person to try it on yet.
    pub async fn password_access(
        &self,
        layout: &Layout,
    ) -> Result<Option<PasswordAccess>, DirectoryError> {
        let managed = format!(
            "(&(objectClass=ENTPerson)(objectClass=aafSyncState)(aafSyncSource={}))",
            escape_filter_value(&layout.source)
        );
        let mut found = None;
        for filter in [format!("(&{managed}(userPassword=*))"), managed] {
            let mut l = self.conn(0).await;
            let r = l
                .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                .search(
                    layout.base.as_str(),
                    Scope::Subtree,
                    &filter,
                    vec![PASSWORD],
                )
                .await
                .map_err(|e| op_err("read a managed person", e))?;
            let ldap3::SearchResult(entries, res) = r;
            if res.rc != 0 && res.rc != 4 {
                return Err(op_err(
                    "read a managed person",
                    ldap3::LdapError::LdapResult { result: res },
                ));
            }
            if let Some(e) = entries.into_iter().next() {
                let e = SearchEntry::construct(e);
                let read = e.attrs.contains_key(PASSWORD) || e.bin_attrs.contains_key(PASSWORD);
                found = Some((Dn::new(e.dn), read));
                break;
            }
        }
        let Some((dn, read)) = found else {
            return Ok(None);
        };
        let nonce = format!("aaf-sync check {}", std::process::id()).into_bytes();
        let probe = |a: &str| Mod::Delete(a.as_bytes().to_vec(), HashSet::from([nonce.clone()]));
        let mut l = self.conn(0).await;
        let res = l
            .modify(
                dn.as_str(),
                vec![probe(retention::ATTR_SAVED_PASSWORD), probe(PASSWORD)],
            )
            .await
            .map_err(|e| op_err(format!("try {}", log_dn(dn.as_str())), e))?;
        let write = match res.rc {
            16 | 0 => true,
            50 => false,
            _ => {
                return Err(op_err(
                    format!("try {}", log_dn(dn.as_str())),
                    ldap3::LdapError::LdapResult { result: res },
                ))
            }
        };
        Ok(Some(PasswordAccess { dn, read, write }))
    }

    /// The server's naming contexts (root DSE), its suffixes.
    async fn naming_contexts(&self) -> Result<Vec<String>, DirectoryError> {
        let mut l = self.conn(0).await;
        let (entries, _) = l
            .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err("read the root DSE", e))?;
        Ok(entries
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .collect())
    }

    pub async fn check_schema(&self) -> Result<(), DirectoryError> {
        let mut l = self.conn(0).await;
        let (entries, _) = l
            .search(
                "cn=Subschema",
                Scope::Base,
                "(objectClass=*)",
                vec!["objectClasses", "attributeTypes"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err("read cn=Subschema", e))?;
        let defs: Vec<String> = entries
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .collect();
        let has = |name: &str| defs.iter().any(|v| v.contains(&format!("'{name}'")));
        if !has("aafSyncState") {
            return Err(op_err(
                "schema",
                "object class aafSyncState unknown: load schema/*.ldif (or *.schema) into slapd",
            ));
        }
        // the newest definitions of this version: an older schema loaded
        for (class, attr) in [
            ("aafSyncControl", "aafSyncNotInStep"),
            ("aafSyncState", "aafSyncHome"),
        ] {
            if !defs
                .iter()
                .any(|v| v.contains(&format!("'{class}'")) && v.contains(attr))
            {
                return Err(op_err(
                    "schema",
                    format!(
                        "the aaf-sync schema loaded in slapd is older than this version ({class} lacks {attr}): \
                         reload schema/20-aaf-sync.ldif (docs/schema.md, \"Schema\": upgrading)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The password values of the entries whose password `plans` move,
    /// for an LDIF that does the same (see [`crate::ldap::ldif::Passwords`]).
    pub async fn passwords_for<'a>(
        &self,
        plans: impl IntoIterator<Item = &'a Plan>,
    ) -> Result<crate::ldap::ldif::Passwords, DirectoryError> {
        let mut out = crate::ldap::ldif::Passwords::new();
        // an entry moved by the plan (a return from the departed branch)
        // is read where it is now
        let mut moved_from: std::collections::HashMap<String, Dn> = Default::default();
        for plan in plans {
            for p in &plan.changes {
                if let Change::Move { dn, to } = &p.change {
                    let from = moved_from.remove(&dn.key()).unwrap_or_else(|| dn.clone());
                    moved_from.insert(to.key(), from);
                    continue;
                }
                let Change::Modify { dn, changes } = &p.change else {
                    continue;
                };
                let moves = changes
                    .iter()
                    .any(|c| matches!(c, AttrChange::StashPassword | AttrChange::RestorePassword));
                if !moves || out.contains_key(&dn.key()) {
                    continue;
                }
                let mut l = self.conn(0).await;
                let at = moved_from.get(&dn.key()).unwrap_or(dn);
                let (user, saved) = match read_passwords(&mut l, at.as_str()).await {
                    Ok(p) => p,
                    // added by an earlier extraction of the same run: no
                    // password set yet
                    Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => {
                        Default::default()
                    }
                    Err(e) => return Err(op_err(format!("read {}", log_dn(dn.as_str())), e)),
                };
                let sorted = |s: HashSet<Vec<u8>>| {
                    let mut v: Vec<Vec<u8>> = s.into_iter().collect();
                    v.sort();
                    v
                };
                out.insert(dn.key(), (sorted(user), sorted(saved)));
            }
        }
        Ok(out)
    }

    /// Entries under `base` (whole subtree) matching `filter`, with `attrs`
    /// (`*` for all user attributes). For small answers: one search, no
    /// paging.
    pub async fn search(
        &self,
        base: &Dn,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, DirectoryError> {
        let mut l = self.conn(0).await;
        let (rs, _) = l
            .search(base.as_str(), Scope::Subtree, filter, attrs.to_vec())
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err(format!("search {}", log_dn(base.as_str())), e))?;
        Ok(rs
            .into_iter()
            .map(|re| {
                let se = SearchEntry::construct(re);
                let bin = se.bin_attrs.clone();
                let mut e = to_entry(se);
                // values that are not UTF-8 (photos, some hashes)
                for (name, vs) in bin {
                    use base64::Engine;
                    let enc = base64::engine::general_purpose::STANDARD;
                    e.add(
                        &name,
                        vs.iter().map(|v| format!("base64:{}", enc.encode(v))),
                    );
                }
                e
            })
            .collect())
    }

    /// Reads the control entry of the layout's source, if there is one.
    pub async fn read_control(&self, layout: &Layout) -> Result<Option<Entry>, DirectoryError> {
        self.read_own(
            &layout.control_dn(),
            mapping::CONTROL_CLASS,
            "control entry",
        )
        .await
    }

    /// Reads one of the sync's own entries (control, erasures), refusing
    /// an entry of someone else at its DN: the sync would otherwise read
    /// its state from it, or fail to write it on every run.
    pub async fn read_own(
        &self,
        dn: &Dn,
        class: &str,
        what: &str,
    ) -> Result<Option<Entry>, DirectoryError> {
        let Some(e) = self.read_entry(dn).await? else {
            return Ok(None);
        };
        let classes = e.get("objectClass").unwrap_or_default();
        if classes.iter().any(|c| c.eq_ignore_ascii_case(class)) {
            return Ok(Some(e));
        }
        Err(op_err(
            format!("{what} {}", log_dn(dn.as_str())),
            format!(
                "an entry that is not aaf-sync's {what} is there (object classes {}): \
                 aaf-sync never takes over an entry it did not make; remove or rename it",
                classes.iter().collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// Creates the branch OUs that are missing (the base entry must exist).
    /// Returns the DNs created (or that would be, with `dry_run`).
    pub async fn ensure_branches(
        &self,
        layout: &Layout,
        dry_run: bool,
    ) -> Result<Vec<Dn>, DirectoryError> {
        if !self.exists(&layout.base).await? {
            return Err(op_err(
                format!("base {}", layout.base),
                "does not exist: create it first (docs/operations.md, \"Daily operation\", step 1)",
            ));
        }
        let mut created = Vec::new();
        for (ou, dn) in layout.branches() {
            if self.exists(dn).await? {
                continue;
            }
            if !dry_run {
                if let Err(why) = self.check_fence().await {
                    self.halt(why.clone());
                    return Err(op_err(format!("create {dn}"), why));
                }
                let mut l = self.conn(0).await;
                let attrs: Vec<(String, HashSet<String>)> = Layout::branch_entry(ou, dn)
                    .attrs
                    .values()
                    .map(|a| (a.name.to_string(), to_set(a.values)))
                    .collect();
                l.add(dn.as_str(), attrs)
                    .await
                    .and_then(|r| r.success())
                    .map_err(|e| op_err(format!("create {dn}"), e))?;
            }
            created.push(dn.clone());
        }
        Ok(created)
    }

    /// Reads the managed entries of `source`, and every login under the base
    /// (logins are unique in the whole tree), with one paged search: from
    /// the consumer of `read_url` when it has caught up with the provider,
    /// else from the provider ([`Directory::fresh_reader`]).
    pub async fn read_managed(&self, layout: &Layout) -> Result<Snapshot, DirectoryError> {
        if let Some(reader) = self.fresh_reader().await {
            let snap = reader.read_managed_with(layout, read_attrs()).await;
            let url = reader.url().to_string();
            reader.close().await;
            match snap {
                Ok(snap) => {
                    self.set_read_from(&url);
                    return Ok(snap);
                }
                Err(error) => {
                    tracing::warn!(consumer = %url, %error, "reading the consumer failed: reading the provider instead")
                }
            }
        }
        self.set_read_from(self.url());
        self.read_managed_with(layout, read_attrs()).await
    }

    fn set_read_from(&self, url: &str) {
        if let Ok(mut r) = self.read_from.lock() {
            *r = Some(url.to_string());
        }
    }

    /// [`Directory::read_managed`] with every user attribute (the audit).
    pub async fn read_managed_all(&self, layout: &Layout) -> Result<Snapshot, DirectoryError> {
        self.read_managed_with(layout, vec!["*".to_string()]).await
    }

    async fn read_managed_with(
        &self,
        layout: &Layout,
        attrs: Vec<String>,
    ) -> Result<Snapshot, DirectoryError> {
        let mut snap = Snapshot::default();
        let src = escape_filter_value(&layout.source);
        let filter = format!(
            "(|(&(objectClass={})({}={src}))(ENTPersonLogin=*)(ENTPersonAlias=*)(ENTPersonJointure={src}$*)(ENTStructureJointure={src}$*))",
            mapping::STATE_CLASS,
            mapping::ATTR_SOURCE,
        );
        let jointure_prefix = format!("{}$", layout.source.to_ascii_lowercase());
        let mut l = self.conn(0).await;
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(self.page_size)),
        ];
        let what = || format!("read {}", layout.base);
        let mut s = l
            .streaming_search_with(
                adapters,
                layout.base.as_str(),
                Scope::Subtree,
                &filter,
                attrs,
            )
            .await
            .map_err(|e| op_err(what(), e))?;
        let bar = crate::host::progress::Progress::new("read", "entries", None);
        while let Some(re) = s.next().await.map_err(|e| op_err(what(), e))? {
            bar.inc(1);
            let e = decode_entry(&re)
                .ok_or_else(|| op_err(what(), "malformed search result entry from the server"))?;
            // a login must differ from every login and every alias: the
            // ENT's CAS looks people up by either
            for a in ["ENTPersonLogin", "ENTPersonAlias"] {
                for v in e.get(a).unwrap_or_default().iter() {
                    snap.taken_logins.insert(v.to_lowercase());
                }
            }
            let ours = e.has_value("objectClass", mapping::STATE_CLASS)
                && e.first(mapping::ATTR_SOURCE) == Some(layout.source.as_str());
            if ours {
                let mut e = e;
                e.freeze();
                snap.managed.insert(e.dn.key(), e);
            } else if !e.has_value("objectClass", mapping::STATE_CLASS)
                && ["ENTPersonJointure", "ENTStructureJointure"]
                    .iter()
                    .any(|a| {
                        e.get(a).is_some_and(|vs| {
                            vs.iter()
                                .any(|v| v.to_ascii_lowercase().starts_with(&jointure_prefix))
                        })
                    })
            {
                let mut e = e;
                e.freeze();
                snap.adoptable.insert(e.dn.key(), e);
            }
        }
        s.finish().await.success().map_err(|e| op_err(what(), e))?;
        bar.finish();
        Ok(snap)
    }

    /// Applies operations that do not depend on each other (one phase of a
    /// plan), with up to `in_flight` outstanding spread over the
    /// connections. `intent` sees each operation just before it is sent
    /// (the journal records it first, so that after a crash it tells what
    /// may have been done); `done` sees it once settled (journal,
    /// progress), with its error if any. Returns each operation's result,
    /// in the order given.
    pub async fn apply_ops(
        &self,
        ops: &[&Planned],
        intent: &(dyn Fn(&Planned) + Sync),
        done: &mut dyn FnMut(&Planned, Option<&str>),
    ) -> Vec<OpResult> {
        self.apply_ops_acked(ops, intent, done).await.0
    }

    /// [`Directory::apply_ops`], with, for each operation done, the index
    /// of the provider that acknowledged it: after a failover, what the
    /// lost provider acknowledged may never have reached the survivor
    /// (see [`Directory::missing_here`]).
    pub async fn apply_ops_acked(
        &self,
        ops: &[&Planned],
        intent: &(dyn Fn(&Planned) + Sync),
        done: &mut dyn FnMut(&Planned, Option<&str>),
    ) -> (Vec<OpResult>, Vec<usize>) {
        let (in_flight, retry) = (self.cfg.in_flight, self.retry());
        let mut out = vec![OpResult::NotAttempted; ops.len()];
        let mut by = vec![usize::MAX; ops.len()];
        let mut results = stream::iter(ops.iter().enumerate())
            .map(|(i, p)| async move {
                if self.halted().is_none() {
                    intent(p);
                }
                (i, self.apply_retrying(i, p, retry).await)
            })
            .buffer_unordered(in_flight.max(1));
        while let Some((i, r)) = results.next().await {
            let p = ops[i];
            out[i] = match r {
                Ok(at) => {
                    by[i] = at;
                    OpResult::Done
                }
                Err(GaveUp::NotSent(why)) => {
                    done(p, Some(&why));
                    OpResult::NotAttempted
                }
                Err(GaveUp::Lost(why)) => {
                    done(p, Some(&why));
                    OpResult::Unknown(why)
                }
                Err(GaveUp::Refused(error)) => {
                    tracing::warn!(dn = %log_dn(p.change.dn().as_str()), op = p.change.op_name(), error = %log_scrub(&error.to_string(), p.change.dn().as_str()), "LDAP operation failed");
                    done(p, Some(&error));
                    OpResult::Failed(error)
                }
            };
            if out[i] == OpResult::Done {
                done(p, None);
            }
        }
        (out, by)
    }

    /// Which of `ops`, each acknowledged by a provider this run has since
    /// left, the provider in use now lacks: `true` for an operation whose
    /// effect is not there (an add whose entry is absent, a delete whose
    /// entry is still there, a modify whose values are not as written).
    /// A provider killed outright may never pass on its last changes; the
    /// run must not count as done what the survivor, and the consumers fed
    /// by it, do not hold. Reads only; a modify a later operation of the
    /// same run overwrote reads as missing (the run then ends `partial`,
    /// never `ok` on a guess).
    pub async fn missing_here(&self, ops: &[&Planned]) -> Result<Vec<bool>, DirectoryError> {
        let mut out = vec![false; ops.len()];
        let mut results = stream::iter(ops.iter().enumerate())
            .map(|(i, p)| async move { (i, self.lacks(i, p).await) })
            .buffer_unordered(self.cfg.in_flight.max(1));
        while let Some((i, r)) = results.next().await {
            out[i] = r?;
        }
        Ok(out)
    }

    /// Whether the provider in use lacks the effect of `p` (see
    /// [`Directory::missing_here`]).
    async fn lacks(&self, i: usize, p: &Planned) -> Result<bool, DirectoryError> {
        let read = |dn: &Dn| {
            let dn = dn.clone();
            async move {
                let mut l = self.conn(i).await;
                let what = || format!("read {dn}");
                match l
                    .search(dn.as_str(), Scope::Base, "(objectClass=*)", vec!["*"])
                    .await
                    .and_then(|r| r.success())
                {
                    Ok((rs, _)) => Ok(rs
                        .into_iter()
                        .next()
                        .map(|re| to_entry(SearchEntry::construct(re)))),
                    Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(None),
                    Err(e) => Err(op_err(what(), e)),
                }
            }
        };
        Ok(match &p.change {
            Change::Add { entry } => read(&entry.dn).await?.is_none(),
            Change::Delete { dn } => read(dn).await?.is_some(),
            Change::Move { to, .. } => read(to).await?.is_none(),
            Change::Modify { dn, changes } => {
                let Some(e) = read(dn).await? else {
                    return Ok(true);
                };
                let mut passwords = None;
                for c in changes {
                    let held = |attr: &str| -> HashSet<String> {
                        e.get(attr)
                            .map(|vs| vs.iter().map(|v| value_key(attr, v)).collect())
                            .unwrap_or_default()
                    };
                    let keys = |attr: &str, values: &[String]| -> HashSet<String> {
                        values.iter().map(|v| value_key(attr, v)).collect()
                    };
                    let there = match c {
                        AttrChange::Add { attr, values } => {
                            keys(attr, values).is_subset(&held(attr))
                        }
                        AttrChange::Replace { attr, values } => keys(attr, values) == held(attr),
                        AttrChange::Delete { attr, values } if values.is_empty() => {
                            held(attr).is_empty()
                        }
                        AttrChange::Delete { attr, values } => {
                            keys(attr, values).is_disjoint(&held(attr))
                        }
                        AttrChange::StashPassword | AttrChange::RestorePassword => {
                            if passwords.is_none() {
                                let mut l = self.conn(i).await;
                                passwords = Some(
                                    read_passwords(&mut l, dn.as_str())
                                        .await
                                        .map_err(|e| op_err(format!("read {dn}"), e))?,
                                );
                            }
                            let (user, saved) = passwords
                                .as_ref()
                                .map(|(u, s)| (u.len(), s.len()))
                                .unwrap_or_default();
                            match c {
                                // moved aside: no live password left
                                AttrChange::StashPassword => user == 0,
                                // moved back: nothing left aside
                                _ => saved == 0,
                            }
                        }
                    };
                    if !there {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }

    pub async fn close(self) {
        for s in self.slots {
            let mut l = s.into_inner().ldap;
            let _ = l.unbind().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::TagClass;

    fn prim(b: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        }
    }
    fn cons(id: u64, v: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(v),
        }
    }
    fn attr(name: &str, values: &[&[u8]]) -> StructureTag {
        cons(
            16,
            vec![
                prim(name.as_bytes()),
                cons(17, values.iter().map(|v| prim(v)).collect()),
            ],
        )
    }

    #[test]
    fn a_lapsed_lease_stops_the_writers_by_itself() {
        // no renewal task needed: the flag answers from the lease alone
        let h = Halt::default();
        assert!(h.lease_lapsed().is_none(), "no lock taken: no lease");
        h.lease_valid_until(std::time::Instant::now() + std::time::Duration::from_secs(60));
        assert!(h.lease_lapsed().is_none());
        h.lease_valid_until(std::time::Instant::now() - std::time::Duration::from_millis(1));
        let why = h.lease_lapsed().unwrap();
        assert!(
            why.contains("writes stopped before it could expire"),
            "{why}"
        );
    }

    #[test]
    fn decodes_a_search_result_as_search_entry_construct_does() {
        let tag = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![
                prim("uid=AC-X-1,ou=people,dc=example,dc=org".as_bytes()),
                cons(
                    16,
                    vec![
                        attr("objectClass", &[b"top", b"ENTEleve", b"top"]),
                        attr("sn", &["Éloïse".as_bytes()]),
                        attr("member", &[b"uid=b,dc=x", b"UID=B,dc=x", b"uid=a,dc=x"]),
                        // not UTF-8: left out, as construct puts it aside
                        attr("jpegPhoto", &[b"\xff\xd8\xff", b"ok"]),
                        attr("description", &[]),
                    ],
                ),
            ]),
        };
        let re = ResultEntry::new(tag);
        let direct = decode_entry(&re).expect("well formed");
        let via = to_entry(SearchEntry::construct(re));
        assert_eq!(direct, via);
        assert_eq!(direct.dn.as_str(), "uid=AC-X-1,ou=people,dc=example,dc=org");
        assert_eq!(direct.get("objectclass").unwrap(), &["ENTEleve", "top"]);
        assert_eq!(direct.get("member").unwrap().len(), 2);
        assert!(direct.get("jpegPhoto").is_none());

        // what construct would panic on is refused
        let bad = ResultEntry::new(cons(4, vec![prim(b"uid=x")]));
        assert!(decode_entry(&bad).is_none());
        let bad = ResultEntry::new(cons(4, vec![prim(b"\xff"), cons(16, vec![])]));
        assert!(decode_entry(&bad).is_none());
    }
}
