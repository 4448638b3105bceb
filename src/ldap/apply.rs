//! Applying a plan to the directory, honestly.
//!
//! Phases run in order (structures, people, modifies, groups, deletes; see
//! [`crate::model::plan::phase`]), the operations of one phase concurrently. An
//! operation the directory refuses does not stop the run, but nothing may
//! point at an entry that does not exist: when an add fails, every link to
//! that entry planned after it (a `member`, a parent's pupil, a school) is
//! dropped from the operations still to come, and the links written in the
//! same phase, before the failure was known, are taken back by a repair
//! modify right after the phase. The outcome counts what was done, what
//! failed and what was not attempted, separately: the report, the metrics
//! and the control entry must never claim more than was done.

use crate::ldap::{Directory, OpResult};
use crate::mapping::{settle, DN_PREFIXED, DN_VALUED};
use crate::model::plan::{AttrChange, Change, Plan, Planned};
use crate::model::{dn_key, Dn};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What applying a plan did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ApplyOutcome {
    /// Operations the plan held.
    pub planned: u64,
    /// Successful operations by kind then operation.
    pub done: BTreeMap<String, BTreeMap<String, u64>>,
    pub failures: Vec<Failure>,
    /// Operations not sent: the apply halted (directory unreachable, run
    /// lock lost, stop requested), or they depended on an add that failed.
    pub not_attempted: u64,
    /// Operations sent whose answer was lost before the apply halted:
    /// done or not, the next run plans from what the directory holds.
    pub unknown: u64,
    /// Link values dropped from later operations because the entry they
    /// point to could not be added.
    pub dropped_links: u64,
    /// Modifies that took back links written in the same phase as a
    /// failed add (extra operations, not in `planned` nor `done`).
    pub repairs: u64,
    /// Why the apply halted before the end (directory unreachable, run
    /// lock lost); the next run converges from where it stopped.
    pub halted: Option<String>,
    /// In a replicated directory: each operation done, by its index in the
    /// plan, with the index of the provider that acknowledged it. After a
    /// failover the run checks on the survivor what the lost provider
    /// acknowledged (see [`crate::ldap::Directory::missing_here`]).
    #[serde(skip)]
    pub acked: Vec<(usize, usize)>,
    /// What the run found after it failed over to another provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverCheck>,
}

/// What a run that failed over found on the provider it ended on, of the
/// operations acknowledged by the provider it lost.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FailoverCheck {
    /// The provider(s) lost, and the one the run ended on.
    pub from: Vec<String>,
    pub to: String,
    /// Operations acknowledged by a lost provider, read back on `to`.
    pub checked: u64,
    /// Of those, not there: acknowledged, never passed on.
    pub missing: u64,
    /// Missing adds sent again through `to`, and acknowledged there.
    pub replayed: u64,
    /// Missing and not recovered in this run: the extraction is not
    /// recorded as applied and the next run plans them again.
    pub unrecovered: u64,
}

impl FailoverCheck {
    pub fn merge(&mut self, o: FailoverCheck) {
        for f in o.from {
            if !self.from.contains(&f) {
                self.from.push(f);
            }
        }
        self.to = o.to;
        self.checked += o.checked;
        self.missing += o.missing;
        self.replayed += o.replayed;
        self.unrecovered += o.unrecovered;
    }
}

impl ApplyOutcome {
    /// Operations done.
    pub fn done_count(&self) -> u64 {
        self.done.values().flat_map(|m| m.values()).sum()
    }
    /// True when every planned operation was done.
    pub fn complete(&self) -> bool {
        self.failures.is_empty()
            && self.not_attempted == 0
            && self.unknown == 0
            && self.halted.is_none()
            && self.failover.as_ref().is_none_or(|f| f.unrecovered == 0)
    }
    fn count_done(&mut self, p: &Planned) {
        *self
            .done
            .entry(p.kind.as_str().to_string())
            .or_default()
            .entry(p.change.op_name().to_string())
            .or_default() += 1;
    }
}

/// One operation the directory refused. It keeps the real DN (the run
/// compares it with its plan); wherever it is written — a report, a
/// summary — it goes through [`Failure::shown_dn`] and
/// [`Failure::shown_error`], so that a name in an adopted DN stays out.
#[derive(Debug, Clone)]
pub struct Failure {
    pub dn: Dn,
    pub op: &'static str,
    pub error: String,
}

impl Failure {
    /// The DN as written out ([`crate::mapping::layout::log_dn`]).
    pub fn shown_dn(&self) -> std::borrow::Cow<'_, str> {
        crate::mapping::layout::log_dn(self.dn.as_str())
    }
    /// The server's message, with what it quotes of the DN pseudonymised.
    pub fn shown_error(&self) -> std::borrow::Cow<'_, str> {
        crate::mapping::layout::log_scrub(&self.error, self.dn.as_str())
    }
}

impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Failure", 3)?;
        st.serialize_field("dn", &self.shown_dn())?;
        st.serialize_field("op", self.op)?;
        st.serialize_field("error", &self.shown_error())?;
        st.end()
    }
}

fn is_link(attr: &str) -> bool {
    DN_VALUED
        .iter()
        .chain(DN_PREFIXED.iter())
        .any(|a| a.eq_ignore_ascii_case(attr))
}

fn target(attr: &str, v: &str) -> String {
    if DN_PREFIXED.iter().any(|a| a.eq_ignore_ascii_case(attr)) {
        dn_key(v.split('$').next().unwrap_or(v))
    } else {
        dn_key(v)
    }
}

/// `p` without its link values to `failed` entries: `None` when nothing is
/// left to do (a modify emptied, or an add left without what makes it
/// valid), or when it modifies or deletes a `failed` DN itself (never added
/// or moved there: what sits there is not the entry planned). The count is
/// the values dropped.
pub fn without_links_to(p: &Planned, failed: &HashSet<String>) -> (Option<Planned>, u64) {
    if failed.is_empty() {
        return (Some(p.clone()), 0);
    }
    match &p.change {
        Change::Add { entry } => {
            let mut e = entry.clone();
            let n = settle::drop_links(&mut e, failed);
            if n == 0 {
                return (Some(p.clone()), 0);
            }
            if settle::hollow(p.kind, &e) {
                return (None, n);
            }
            let change = Change::Add { entry: e };
            (
                Some(Planned {
                    kind: p.kind,
                    phase: p.phase,
                    change,
                }),
                n,
            )
        }
        // an entry that was never added there, or never moved there: what
        // sits at that DN (if anything) is not it
        Change::Modify { dn, .. } | Change::Delete { dn } if failed.contains(&dn.key()) => {
            (None, 0)
        }
        Change::Modify { dn, changes } => {
            let mut n = 0;
            let mut kept = Vec::with_capacity(changes.len());
            for c in changes {
                match c {
                    AttrChange::Add { attr, values } | AttrChange::Replace { attr, values }
                        if is_link(attr) =>
                    {
                        let left: Vec<String> = values
                            .iter()
                            .filter(|v| !failed.contains(&target(attr, v)))
                            .cloned()
                            .collect();
                        n += (values.len() - left.len()) as u64;
                        if left.is_empty() {
                            // a replace emptied would delete the attribute:
                            // leave it as it is instead
                            continue;
                        }
                        kept.push(match c {
                            AttrChange::Add { .. } => AttrChange::Add {
                                attr: attr.clone(),
                                values: left,
                            },
                            _ => AttrChange::Replace {
                                attr: attr.clone(),
                                values: left,
                            },
                        });
                    }
                    other => kept.push(other.clone()),
                }
            }
            if n == 0 {
                return (Some(p.clone()), 0);
            }
            if kept.is_empty() {
                return (None, n);
            }
            let change = Change::Modify {
                dn: dn.clone(),
                changes: kept,
            };
            (
                Some(Planned {
                    kind: p.kind,
                    phase: p.phase,
                    change,
                }),
                n,
            )
        }
        Change::Delete { .. } | Change::Move { .. } => (Some(p.clone()), 0),
    }
}

/// The modify taking back, from an operation already applied, its link
/// values to `failed` entries; `None` when it wrote none.
pub fn repair(p: &Planned, failed: &HashSet<String>) -> Option<Planned> {
    let mut by_attr: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut take = |attr: &str, v: &str| {
        if is_link(attr) && failed.contains(&target(attr, v)) {
            by_attr
                .entry(attr.to_string())
                .or_default()
                .push(v.to_string());
        }
    };
    match &p.change {
        Change::Add { entry } => {
            for a in entry.attrs.values() {
                for v in a.values {
                    take(a.name, v);
                }
            }
        }
        Change::Modify { changes, .. } => {
            for c in changes {
                if let AttrChange::Add { attr, values } | AttrChange::Replace { attr, values } = c {
                    for v in values {
                        take(attr, v);
                    }
                }
            }
        }
        Change::Delete { .. } | Change::Move { .. } => {}
    }
    if by_attr.is_empty() {
        return None;
    }
    let changes = by_attr
        .into_iter()
        .map(|(attr, values)| AttrChange::Delete { attr, values })
        .collect();
    let change = Change::Modify {
        dn: p.change.dn().clone(),
        changes,
    };
    Some(Planned {
        kind: p.kind,
        phase: p.phase,
        change,
    })
}

/// [`apply_plan`] of a plan alone (no failed adds carried in or out).
pub async fn apply_all(
    dir: &Directory,
    plan: &Plan,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> ApplyOutcome {
    apply_plan(dir, plan, &mut HashSet::new(), intent, done).await
}

/// Applies `plan`, phase by phase. `failed_adds` carries the DN keys of
/// the entries whose add failed from one plan to the next of the same run
/// (a Delta after a Complet); `intent` sees every operation just before
/// it is sent, `done` once settled (the journal).
pub async fn apply_plan(
    dir: &Directory,
    plan: &Plan,
    failed_adds: &mut HashSet<String>,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> ApplyOutcome {
    let mut out = ApplyOutcome {
        planned: plan.changes.len() as u64,
        ..Default::default()
    };
    // entries whose move failed, by the DN they were to move to: what the
    // plan modifies there after the move is done where they stayed
    let mut stayed: HashMap<String, Dn> = HashMap::new();
    let mut start = 0;
    while start < plan.changes.len() {
        let phase = plan.changes[start].phase;
        let end = plan.changes[start..]
            .iter()
            .position(|c| c.phase != phase)
            .map_or(plan.changes.len(), |n| start + n);
        if dir.halted().is_some() {
            break;
        }
        // what this phase still makes sense to send
        let mut batch: Vec<Planned> = Vec::with_capacity(end - start);
        // index in the plan of each operation of the batch
        let mut batch_at: Vec<usize> = Vec::with_capacity(end - start);
        for (j, p) in plan.changes[start..end].iter().enumerate() {
            let redirected = match &p.change {
                Change::Modify { dn, changes } => stayed.get(&dn.key()).map(|at| Planned {
                    kind: p.kind,
                    phase: p.phase,
                    change: Change::Modify {
                        dn: at.clone(),
                        changes: changes.clone(),
                    },
                }),
                _ => None,
            };
            let p = redirected.as_ref().unwrap_or(p);
            let (kept, dropped) = without_links_to(p, failed_adds);
            out.dropped_links += dropped;
            match kept {
                Some(k) => {
                    batch.push(k);
                    batch_at.push(start + j);
                }
                None => {
                    out.not_attempted += 1;
                    if matches!(p.change, Change::Add { .. }) {
                        // never created: what points at it goes too
                        failed_adds.insert(p.change.dn().key());
                    }
                }
            }
        }
        let refs: Vec<&Planned> = batch.iter().collect();
        let (results, by) = dir.apply_ops_acked(&refs, intent, done).await;
        if dir.replicated() {
            out.acked.extend(
                batch_at
                    .iter()
                    .zip(&by)
                    .zip(&results)
                    .filter(|(_, r)| **r == OpResult::Done)
                    .map(|((at, by), _)| (*at, *by)),
            );
        }
        let mut new_failed = HashSet::new();
        for (p, r) in batch.iter().zip(&results) {
            match r {
                OpResult::Done => out.count_done(p),
                OpResult::Failed(error) => {
                    match &p.change {
                        Change::Add { entry } => {
                            new_failed.insert(entry.dn.key());
                        }
                        // a person who could not move: not there
                        Change::Move { dn, to } => {
                            new_failed.insert(to.key());
                            stayed.insert(to.key(), dn.clone());
                        }
                        _ => {}
                    }
                    out.failures.push(Failure {
                        dn: p.change.dn().clone(),
                        op: p.change.op_name(),
                        error: error.clone(),
                    });
                }
                OpResult::NotAttempted => out.not_attempted += 1,
                OpResult::Unknown(_) => out.unknown += 1,
            }
        }
        // links written in this phase to entries that failed in it
        if !new_failed.is_empty() {
            let repairs: Vec<Planned> = batch
                .iter()
                .zip(&results)
                .filter(|(_, r)| **r == OpResult::Done)
                .filter_map(|(p, _)| repair(p, &new_failed))
                .collect();
            if !repairs.is_empty() {
                let refs: Vec<&Planned> = repairs.iter().collect();
                let results = dir.apply_ops(&refs, intent, done).await;
                for (p, r) in repairs.iter().zip(&results) {
                    match r {
                        OpResult::Done => out.repairs += 1,
                        OpResult::Failed(error) => out.failures.push(Failure {
                            dn: p.change.dn().clone(),
                            op: p.change.op_name(),
                            error: error.clone(),
                        }),
                        OpResult::NotAttempted => out.not_attempted += 1,
                        OpResult::Unknown(_) => out.unknown += 1,
                    }
                }
            }
            failed_adds.extend(new_failed);
        }
        start = end;
    }
    if start < plan.changes.len() {
        out.not_attempted += (plan.changes.len() - start) as u64;
    }
    out.halted = dir.halted();
    out.failures.sort_by(|a, b| a.dn.cmp(&b.dn));
    if out.failures.iter().any(|f| f.op == "add") {
        tracing::warn!(
            failed_adds = out.failures.iter().filter(|f| f.op == "add").count(),
            dropped_links = out.dropped_links,
            repairs = out.repairs,
            "some entries could not be added: links to them were left out"
        );
    }
    out
}

#[cfg(test)]
mod tests;
