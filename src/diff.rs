//! Desired entries vs entries in the directory → a [`Plan`] (pure).
//!
//! Only attributes the sync owns are compared ([`mapping::owned`](crate::mapping::owned)); object
//! classes are only added, except the auxiliary classes the sync manages;
//! create-only attributes (login, first-seen) are written when missing and
//! never changed. Multi-valued attributes change value by value. The plan is
//! plain data: it drives the apply step, the dry-run output and golden tests.

use crate::mapping::Desired;
use crate::model::{Entry, EntryMap};
use crate::schema::EntryKind;
use std::collections::HashSet;

use crate::model::plan::{phase, Absent, Change, Plan, Planned};
mod entry;
mod naming;
mod simulate;

pub use entry::diff_entry;
pub use simulate::simulate;

/// Plans the changes from the current managed entries (by DN key) to the
/// desired ones. Classes and groups absent from the extraction are deleted
/// (they are rebuilt from it); people and structures are only listed as absent.
pub fn plan(desired: &[Desired], current: &EntryMap) -> Plan {
    plan_owned(desired.to_vec(), current, &HashSet::new()).0
}

/// [`plan`], taking the desired entries: new ones move into their `Add`
/// instead of being copied (on a first sync of an académie, that is the
/// whole tree). Returns the plan and the desired entries that are not added.
/// Directory entries whose key is in `keep` (records present but rejected,
/// see [`crate::mapping::settle`]) are left exactly as they are: neither
/// absent nor deleted.
pub fn plan_owned(
    desired: Vec<Desired>,
    current: &EntryMap,
    keep: &HashSet<String>,
) -> (Plan, Vec<Desired>) {
    plan_within(desired, current, keep, None)
}

/// [`plan_owned`] for a Delta planned over part of the directory: the
/// entries `scope` leaves as they are count as unchanged, never absent.
pub fn plan_within(
    desired: Vec<Desired>,
    current: &EntryMap,
    keep: &HashSet<String>,
    scope: Option<&crate::mapping::scope::Scope>,
) -> (Plan, Vec<Desired>) {
    let mut p = Plan::default();
    let mut rest = Vec::new();
    // by position in `current`: a bit per entry, not a set of keys
    let mut seen = vec![false; current.len()];
    for d in desired {
        let Some((at, cur)) = current.get_full(d.entry.dn.as_str()) else {
            let kind = d.kind;
            let change = Change::Add { entry: d.entry };
            p.changes.push(Planned {
                kind,
                phase: phase(kind, &change),
                change,
            });
            continue;
        };
        seen[at] = true;
        let changes = diff_entry(d.kind, &d.entry, cur);
        if changes.is_empty() {
            p.unchanged += 1;
        } else {
            let change = Change::Modify {
                dn: cur.dn.clone(),
                changes,
            };
            p.changes.push(Planned {
                kind: d.kind,
                phase: phase(d.kind, &change),
                change,
            });
        }
        rest.push(d);
    }
    let mut gone: Vec<(String, &Entry)> = current
        .iter()
        .zip(&seen)
        .filter(|(_, &found)| !found)
        .map(|(e, _)| (e.dn.key(), e))
        .collect();
    gone.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, e) in gone {
        let key = key.as_str();
        if keep.contains(key) {
            p.kept += 1;
            continue;
        }
        if scope.is_some_and(|s| s.leaves(key, e)) {
            p.unchanged += 1;
            continue;
        }
        let Some(kind) = EntryKind::of(e) else {
            continue;
        };
        if kind.is_group() {
            let change = Change::Delete { dn: e.dn.clone() };
            p.changes.push(Planned {
                kind,
                phase: phase(kind, &change),
                change,
            });
        } else {
            p.absent.push(Absent {
                kind,
                dn: e.dn.clone(),
            });
        }
    }
    p.sort();
    (p, rest)
}

#[cfg(test)]
mod tests;
