//! Failover: writing through a provider other than the designated one
//! only once its copy of the run lock names the run, and checking what the
//! lost provider acknowledged is on the survivor.

use super::connection::provider;
use super::passwords::read_passwords;
use super::search::to_entry;
use super::{lock, op_err, Directory, DirectoryError, ResultCode};
use crate::mapping;
use crate::model::plan::{AttrChange, Change, Planned};
use crate::model::Dn;
use futures::stream::{self, StreamExt};
use ldap3::{Scope, SearchEntry};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

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

/// Writing through a failover provider refused: its copy of the run lock
/// does not name this run (or could not be read).
#[derive(Debug, Clone, thiserror::Error)]
#[error("provider {provider} {reason}: writes through it refused (the run lock is held on the designated provider {designated}; a run writes through another provider only once that provider's copy of the lock names it)")]
pub struct FenceRefused {
    /// The failover provider the connections are on.
    pub provider: String,
    /// The provider the lock was taken on.
    pub designated: String,
    pub reason: FenceReason,
}

/// Why a failover provider is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FenceReason {
    /// Its lock entry could not be read.
    #[error("cannot be checked ({0})")]
    Unchecked(String),
    /// Its lock entry names another holder (or there is none).
    #[error("does not hold this run's lock yet ({holder}: replication had not carried it when {designated} stopped answering)")]
    NotYetHeld { holder: String, designated: String },
}

impl Directory {
    /// With the run lock held and the connections on a provider other
    /// than the designated one: checks once per provider that its copy of
    /// the lock names this run (replication carried it there). `Err` says
    /// why writing through it is refused.
    pub(super) async fn check_fence(&self) -> Result<(), FenceRefused> {
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
        let refuse = |reason: FenceReason| FenceRefused {
            provider: url.to_string(),
            designated: self.cfg.url.clone(),
            reason,
        };
        let one = Directory::connect_n(&self.cfg.only(url), 1)
            .await
            .map_err(|e| refuse(FenceReason::Unchecked(e.to_string())))?;
        let entry = one.read_entry(&f.dn).await;
        one.close().await;
        let holder = match entry {
            Ok(Some(e)) => e.first(lock::ATTR_OWNER).unwrap_or(lock::FREE).to_string(),
            Ok(None) => "no lock entry".to_string(),
            Err(e) => return Err(refuse(FenceReason::Unchecked(e.to_string()))),
        };
        if holder != f.owner {
            return Err(refuse(FenceReason::NotYetHeld {
                holder,
                designated: self.cfg.url.clone(),
            }));
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
    pub(super) fn unreachable(&self) -> String {
        if self.cfg.failover_urls.is_empty() {
            self.cfg.url.clone()
        } else {
            let all: Vec<&str> = self.cfg.providers().collect();
            format!("no provider ({})", all.join(", "))
        }
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
                    Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => Ok(None),
                    Err(e) => Err(op_err(what(), e).at(&dn)),
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
                                        .map_err(|e| op_err(format!("read {dn}"), e).at(dn))?,
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
}
