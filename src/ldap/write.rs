//! Writes: one planned operation at a time with retries (transient
//! faults wait, broken connections are replaced, lost answers are told
//! apart from refusals), many in flight ([`Directory::apply_ops`]).

use super::error::{Fault, ResultCode};
use super::passwords::{read_passwords, PASSWORD};
use super::{op_err, Directory, DirectoryError};
use crate::mapping::layout::{log_dn, log_scrub, Layout};
use crate::model::plan::{AttrChange, Change, Planned};
use crate::model::Dn;
use crate::schema;
use futures::stream::{self, StreamExt};
use ldap3::{Ldap, Mod};
use std::collections::HashSet;
use std::time::Duration;

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

fn to_set(values: crate::model::Values) -> HashSet<String> {
    values.iter().map(str::to_string).collect()
}

fn bytes_set(values: &[String]) -> HashSet<Vec<u8>> {
    values.iter().map(|v| v.as_bytes().to_vec()).collect()
}

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
                        name(schema::ATTR_SAVED_PASSWORD),
                        user.clone(),
                    ));
                }
            }
            AttrChange::RestorePassword => {
                if !saved.is_empty() {
                    mods.push(Mod::Delete(
                        name(schema::ATTR_SAVED_PASSWORD),
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
            let rdn = crate::schema::rdn_of(to.as_str());
            let parent = to.as_str()[rdn.len()..].trim_start_matches(',');
            // the values of the old RDN stay: a departed entry's RDN may add
            // its jointure (`uid=100+ENTPersonJointure=…`), which must stay
            // on the entry when it moves back to `uid=100`
            ldap.modifydn(dn.as_str(), rdn, false, Some(parent)).await
        }
    };
    res?.success().map(|_| ())
}

/// Retries of operations that failed for a transient reason.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Retry {
    pub(super) fn wait(&self, attempt: u32) -> Duration {
        let w = self.first_wait.saturating_mul(1u32 << attempt.min(16));
        w.min(self.max_wait)
    }
}

impl Directory {
    pub(super) fn retry(&self) -> Retry {
        Retry {
            attempts: self.cfg.retries,
            first_wait: Duration::from_millis(self.cfg.retry_wait_ms),
            max_wait: Duration::from_millis(self.cfg.retry_max_wait_ms),
        }
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
                self.halt(why.to_string());
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
                match (&p.change, ResultCode::of(&err)) {
                    (Change::Add { .. }, Some(ResultCode::ENTRY_ALREADY_EXISTS))
                    | (
                        Change::Delete { .. } | Change::Move { .. },
                        Some(ResultCode::NO_SUCH_OBJECT),
                    ) => return Ok(at),
                    _ => {}
                }
            }
            // a move onto a DN something else holds: say what is in the way
            let blocked = match (&p.change, ResultCode::of(&err)) {
                (Change::Move { to, .. }, Some(ResultCode::ENTRY_ALREADY_EXISTS)) => Some(to),
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
                    self.halt(why.to_string());
                    return Err(op_err(format!("create {dn}"), why.to_string()));
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
                    .map_err(|e| op_err(format!("create {dn}"), e).at(dn))?;
            }
            created.push(dn.clone());
        }
        Ok(created)
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
}
