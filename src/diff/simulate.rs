//! A plan played on entries held in memory, as the directory would: a run
//! of several extractions plans each on the tree the last one leaves.

use crate::model::plan::{AttrChange, Change, Plan};
use crate::model::EntryMap;
use crate::schema::EntryKind;
use std::collections::HashSet;

/// Plays a plan on entries held in memory, as the directory would: used by
/// a run of several extractions, where each plan builds on the last. The
/// logins of entries deleted leave `logins` (every login of the tree), so
/// that the next extraction chooses logins from the tree as it will be: a
/// run resumed after this step, reading that tree, chooses the same.
pub fn simulate(plan: &Plan, entries: &mut EntryMap, logins: &mut HashSet<String>) {
    for p in &plan.changes {
        if p.kind == EntryKind::Control {
            continue;
        }
        match &p.change {
            Change::Add { entry } => {
                entries.insert(entry.clone());
            }
            Change::Delete { dn } => {
                // O(1); the order only serves locality
                if let Some(gone) = entries.swap_remove(dn.as_str()) {
                    if let Some(l) = gone.first("ENTPersonLogin") {
                        logins.remove(&crate::mapping::login::login_key(l));
                    }
                }
            }
            Change::Move { dn, to } => {
                if let Some(mut e) = entries.swap_remove(dn.as_str()) {
                    e.dn = to.clone();
                    entries.insert(e);
                }
            }
            Change::Modify { dn, changes } => {
                let Some(e) = entries.get_mut(dn.as_str()) else {
                    continue;
                };
                for c in changes {
                    match c {
                        AttrChange::Add { attr, values } => e.add(attr, values.iter().cloned()),
                        AttrChange::Delete { attr, values } if values.is_empty() => {
                            e.remove(attr);
                        }
                        AttrChange::Delete { attr, values } => e.remove_values(attr, values),
                        AttrChange::Replace { attr, values } => {
                            e.remove(attr);
                            e.add(attr, values.iter().cloned());
                        }
                        AttrChange::StashPassword | AttrChange::RestorePassword => {}
                    }
                }
            }
        }
    }
}
