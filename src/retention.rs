//! Departures and retention (spec §7): who departs, who is disabled, restored
//! or deleted, and when. Pure: the rules, the entries read from the directory
//! and the run date come in, plan changes and a report come out.
//!
//! The lifecycle lives on each entry (`aafSyncState`):
//! - *active*: no departure date;
//! - *departed*: `aafSyncDepartureDate` (the date of the first extraction that
//!   showed the departure, never moved afterwards), `aafSyncDeadline`,
//!   `aafSyncLastSeen` (the last extraction that still carried the person) and,
//!   when the rule disables, `aafSyncDisabled: TRUE` with `userPassword` set
//!   aside in `aafSyncSavedPassword` (no bind is possible on a stock slapd
//!   without a password; the value is moved back unchanged on restore);
//! - *deleted* by the first run whose date is on or after the deadline.
//!
//! A person departs when the desired tree no longer holds them: absent from a
//! Complet, named by a `deleteRequest`, or (parents) no kept pupil links to
//! them any more. A structure out of the extraction is deleted once no
//! remaining entry refers to it, and marked departed until then.

mod relink;
mod rules;
mod steps;

use crate::mapping::{self, layout::Layout, EntryKind};
use crate::model::plan::{AttrChange, Change, Plan};
use crate::model::{dn_key, Dn, Entry, EntryMap};
use relink::relink_departed;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use steps::{clear_class_lists, gt, home_change, push_change, structure_refs};
use time::Date;

// The lifecycle's attributes and state are the directory's vocabulary
// (`schema`); reachable here for the stages that still name them
// `retention::…`.
pub use crate::schema::date::parse_generalized_date;
pub use crate::schema::{
    State, ATTR_DEADLINE, ATTR_DEPARTURE, ATTR_DISABLED, ATTR_HOME, ATTR_LAST_SEEN,
    ATTR_SAVED_PASSWORD, LIFECYCLE_ATTRS,
};

pub use rules::{Rule, Rules};

/// What the run is applying.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rules: &'a Rules,
    pub layout: &'a Layout,
    /// The run date (`--now`): deletions are due on or after the deadline.
    pub now: Date,
    /// Date of the extraction applied, the departure date of whoever it
    /// shows leaving; `None` in a retention-only pass (no new departure).
    pub extraction_date: Option<Date>,
    /// Date of the extraction applied before: the last that still carried
    /// whoever departs now.
    pub previous_date: Option<Date>,
    /// First Complet of a new school year: departed people's class and
    /// group lists (last year's) are cleared, so that a return later in the
    /// year never brings old classes back.
    pub new_school_year: bool,
}

/// What the lifecycle step did, by category, as AAF ids (no personal data).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lifecycle {
    /// People and structures that departed in this run.
    pub departed: BTreeMap<String, Vec<String>>,
    /// Accounts disabled in this run (departed, before their deadline).
    pub disabled: BTreeMap<String, Vec<String>>,
    /// Departed people and structures back in the extraction, restored.
    pub restored: BTreeMap<String, Vec<String>>,
    /// Entries deleted: deadline reached, or structures no longer referenced.
    pub deleted: BTreeMap<String, Vec<String>>,
    /// Departed entries kept, by category: their deadline is ahead (people)
    /// or someone still refers to them (structures).
    pub pending: BTreeMap<String, u64>,
}

impl Lifecycle {
    fn push(map: &mut BTreeMap<String, Vec<String>>, kind: EntryKind, id: String) {
        map.entry(kind.as_str().to_string()).or_default().push(id);
    }
    pub fn count(map: &BTreeMap<String, Vec<String>>) -> usize {
        map.values().map(Vec::len).sum()
    }
}

/// The AAF id of a managed entry (its jointure), else its DN.
pub fn id_of(e: &Entry, kind: EntryKind, source: &str) -> String {
    let attr = if kind == EntryKind::Structure {
        "ENTStructureJointure"
    } else {
        "ENTPersonJointure"
    };
    mapping::id_in(e, attr, source)
        .map(str::to_string)
        // reports list ids: a DN stands in only as it may be written out
        .unwrap_or_else(|| mapping::layout::log_dn(e.dn.as_str()).into_owned())
}

/// Adds the lifecycle decisions to a plan made by [`crate::diff::plan`]:
/// restores among its modifies, departures and deletions among its absent
/// entries. `remaining` are the entries that stay active after the plan
/// besides those the plan adds (the rest of the desired tree), to know
/// which structures are still referred to.
///
/// `frozen` are the entries kept exactly as they are (their record was
/// rejected): only their links to people who move or go are rewritten.
pub fn apply<'e>(
    ctx: &Context,
    plan: &mut Plan,
    current: &'e EntryMap,
    remaining: impl Iterator<Item = &'e Entry>,
    frozen: &[&'e Entry],
) -> Lifecycle {
    let mut out = Lifecycle::default();
    let source = ctx.layout.source.as_str();

    // restores: a departed entry the desired tree holds again
    for p in plan.changes.iter_mut() {
        let Change::Modify { dn, changes } = &mut p.change else {
            continue;
        };
        let Some(cur) = current.get(&dn.key()) else {
            continue;
        };
        let st = State::of(cur);
        if st.departed() {
            Lifecycle::push(&mut out.restored, p.kind, id_of(cur, p.kind, source));
            if st.disabled {
                changes.push(AttrChange::RestorePassword);
            }
        }
    }

    let mut absent: Vec<(EntryKind, &Entry)> = plan
        .absent
        .iter()
        .filter_map(|a| current.get(&a.dn.key()).map(|e| (a.kind, e)))
        .collect();
    // parents last: their deadline follows their pupils'
    absent.sort_by_key(|(k, e)| {
        (
            *k == EntryKind::Parent,
            *k == EntryKind::Structure,
            e.dn.key(),
        )
    });

    let mut deadlines: HashMap<String, Date> = HashMap::new();
    let mut kept: Vec<&Entry> = Vec::new();
    let mut departed_structures: Vec<&Entry> = Vec::new();
    let mut new_changes: Vec<(EntryKind, Change)> = Vec::new();
    // disabled people to move out of the people branch, with their id
    let mut moves: Vec<(EntryKind, Dn, String)> = Vec::new();

    for (kind, e) in absent {
        if kind == EntryKind::Structure {
            departed_structures.push(e);
            continue;
        }
        let Some(rule) = ctx.rules.for_kind(kind) else {
            continue;
        };
        let st = State::of(e);
        let id = id_of(e, kind, source);
        if let Some(departure) = st.departure {
            let deadline = st.deadline.unwrap_or_else(|| rule.deadline(departure));
            deadlines.insert(e.dn.key(), deadline);
            if ctx.now >= deadline {
                new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
                Lifecycle::push(&mut out.deleted, kind, id);
            } else {
                *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
                kept.push(e);
                if st.disabled && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn) {
                    // departed before the branch existed: out of the lookups now
                    if let Some(home) = home_change(ctx.layout, e, &id) {
                        new_changes.push((
                            kind,
                            Change::Modify {
                                dn: e.dn.clone(),
                                changes: vec![home],
                            },
                        ));
                    }
                    moves.push((kind, e.dn.clone(), id.clone()));
                }
                if ctx.new_school_year {
                    let clear = clear_class_lists(e);
                    if !clear.is_empty() {
                        new_changes.push((
                            kind,
                            Change::Modify {
                                dn: e.dn.clone(),
                                changes: clear,
                            },
                        ));
                    }
                }
            }
            continue;
        }
        let Some(departure) = ctx.extraction_date else {
            continue; // a retention-only pass shows no departure
        };
        let deadline = if kind == EntryKind::Parent {
            // same deadline as their last pupil
            e.get("ENTAuxPersRelEleveEleve")
                .unwrap_or_default()
                .iter()
                .filter_map(|p| {
                    let k = dn_key(p);
                    deadlines
                        .get(&k)
                        .copied()
                        .or_else(|| current.get(&k).and_then(|pe| State::of(pe).deadline))
                })
                .max()
                .unwrap_or_else(|| rule.deadline(departure))
        } else {
            rule.deadline(departure)
        };
        deadlines.insert(e.dn.key(), deadline);
        Lifecycle::push(&mut out.departed, kind, id.clone());
        if ctx.now >= deadline {
            new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
            Lifecycle::push(&mut out.deleted, kind, id);
            continue;
        }
        let mut changes = vec![
            AttrChange::Replace {
                attr: ATTR_DEPARTURE.into(),
                values: vec![gt(departure)],
            },
            AttrChange::Replace {
                attr: ATTR_DEADLINE.into(),
                values: vec![gt(deadline)],
            },
        ];
        if let Some(prev) = ctx.previous_date {
            changes.push(AttrChange::Replace {
                attr: ATTR_LAST_SEEN.into(),
                values: vec![gt(prev)],
            });
        }
        if rule.disable {
            changes.push(AttrChange::Replace {
                attr: ATTR_DISABLED.into(),
                values: vec!["TRUE".into()],
            });
            changes.push(AttrChange::StashPassword);
            Lifecycle::push(&mut out.disabled, kind, id.clone());
        }
        if ctx.new_school_year {
            changes.extend(clear_class_lists(e));
        }
        let moving = rule.disable && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn);
        if moving {
            changes.extend(home_change(ctx.layout, e, &id));
        }
        *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
        kept.push(e);
        new_changes.push((
            kind,
            Change::Modify {
                dn: e.dn.clone(),
                changes,
            },
        ));
        if moving {
            moves.push((kind, e.dn.clone(), id));
        }
    }
    for (kind, dn, id) in moves {
        let to = ctx.layout.departed_dn(&dn, &id);
        new_changes.push((kind, Change::Move { dn, to }));
    }

    // structures: deleted once nothing that stays refers to them
    if !departed_structures.is_empty() {
        let mut referenced = HashSet::new();
        for e in remaining.chain(kept.iter().copied()) {
            structure_refs(e, &mut referenced);
        }
        for p in &plan.changes {
            if let Change::Add { entry } = &p.change {
                structure_refs(entry, &mut referenced);
            }
        }
        for e in departed_structures {
            let kind = EntryKind::Structure;
            let id = id_of(e, kind, source);
            let st = State::of(e);
            if !referenced.contains(&e.dn.key()) {
                if !st.departed() {
                    Lifecycle::push(&mut out.departed, kind, id.clone());
                }
                new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
                Lifecycle::push(&mut out.deleted, kind, id);
                continue;
            }
            *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
            if st.departed() {
                continue;
            }
            let Some(departure) = ctx.extraction_date else {
                continue;
            };
            Lifecycle::push(&mut out.departed, kind, id);
            let mut changes = vec![AttrChange::Replace {
                attr: ATTR_DEPARTURE.into(),
                values: vec![gt(departure)],
            }];
            if let Some(prev) = ctx.previous_date {
                changes.push(AttrChange::Replace {
                    attr: ATTR_LAST_SEEN.into(),
                    values: vec![gt(prev)],
                });
            }
            new_changes.push((
                kind,
                Change::Modify {
                    dn: e.dn.clone(),
                    changes,
                },
            ));
        }
    }

    kept.extend(frozen.iter().copied());
    let relinks = relink_departed(ctx.layout, &kept, current, plan, &new_changes);
    for (kind, change) in new_changes {
        push_change(plan, kind, change);
    }
    plan.changes.extend(relinks);
    plan.sort();
    for ids in out
        .departed
        .values_mut()
        .chain(out.disabled.values_mut())
        .chain(out.restored.values_mut())
        .chain(out.deleted.values_mut())
    {
        ids.sort();
    }
    out
}

#[cfg(test)]
mod tests;
