//! The guards on every kind of change beyond departures: renames,
//! modifications, additions, classes and groups deleted or added, records
//! rejected, counted from the plans of a run.

use super::{Hold, Limits, Safety, CATEGORIES};
use crate::model::plan::Plan;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one run changes, per category, beyond departures: counted from
/// its plans by [`ChangeCounts::add_plan`], judged by [`change_guards`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeCounts {
    /// People whose `sn` or `givenName` changes.
    pub renames: BTreeMap<String, u64>,
    /// Entries whose data changes (lifecycle marks aside).
    pub modified: BTreeMap<String, u64>,
    /// Entries added.
    pub added: BTreeMap<String, u64>,
    /// Classes and groups deleted.
    pub group_deletions: u64,
    /// Classes and groups added.
    pub group_additions: u64,
    /// Records rejected (read or mapped).
    pub rejected: BTreeMap<String, u64>,
    /// Records of each category in the extractions (a base for the
    /// rejection rate).
    pub records: BTreeMap<String, u64>,
}

fn bump(m: &mut BTreeMap<String, u64>, k: &str, n: u64) {
    *m.entry(k.to_string()).or_default() += n;
}

/// Attributes whose change is part of a departure, a restore or a school
/// year's rebuild rather than a change of the person's data.
fn lifecycle_only(c: &crate::model::plan::AttrChange) -> bool {
    use crate::model::plan::AttrChange;
    match c {
        AttrChange::StashPassword | AttrChange::RestorePassword => true,
        AttrChange::Add { attr, .. }
        | AttrChange::Delete { attr, .. }
        | AttrChange::Replace { attr, .. } => crate::schema::LIFECYCLE_ATTRS
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr)),
    }
}

impl ChangeCounts {
    /// Counts what `plan` changes.
    pub fn add_plan(&mut self, plan: &Plan) {
        use crate::model::plan::{AttrChange, Change};
        // people leaving to, or waiting in, the departed branch: what
        // changes on them (their links following their family) is part of
        // the departure, judged by the departure thresholds
        let leaving: std::collections::HashSet<String> = plan
            .changes
            .iter()
            .filter_map(|p| match &p.change {
                Change::Move { dn, to } if crate::mapping::layout::in_departed_branch(to) => {
                    Some(dn.key())
                }
                _ => None,
            })
            .collect();
        for p in &plan.changes {
            if let Change::Modify { dn, .. } = &p.change {
                if leaving.contains(&dn.key()) || crate::mapping::layout::in_departed_branch(dn) {
                    continue;
                }
            }
            let cat = p.kind.as_str();
            match &p.change {
                Change::Add { .. } if CATEGORIES.contains(&p.kind) => bump(&mut self.added, cat, 1),
                Change::Delete { .. } if p.kind.is_group() => self.group_deletions += 1,
                Change::Add { .. } if p.kind.is_group() => self.group_additions += 1,
                Change::Modify { changes, .. } if CATEGORIES.contains(&p.kind) => {
                    if changes.iter().all(lifecycle_only) {
                        continue;
                    }
                    bump(&mut self.modified, cat, 1);
                    let renamed = changes.iter().any(|c| match c {
                        AttrChange::Add { attr, .. }
                        | AttrChange::Delete { attr, .. }
                        | AttrChange::Replace { attr, .. } => {
                            attr.eq_ignore_ascii_case("sn")
                                || attr.eq_ignore_ascii_case("givenName")
                        }
                        _ => false,
                    });
                    if renamed && p.kind.is_person() {
                        bump(&mut self.renames, cat, 1);
                    }
                }
                _ => {}
            }
        }
    }

    /// Adds the counts of another step of the run.
    pub fn add(&mut self, o: &ChangeCounts) {
        for (m, from) in [
            (&mut self.renames, &o.renames),
            (&mut self.modified, &o.modified),
            (&mut self.added, &o.added),
            (&mut self.rejected, &o.rejected),
            (&mut self.records, &o.records),
        ] {
            for (c, n) in from {
                bump(m, c, *n);
            }
        }
        self.group_deletions += o.group_deletions;
        self.group_additions += o.group_additions;
    }

    /// Counts the records of one extraction and those rejected.
    pub fn add_records(
        &mut self,
        records: &BTreeMap<String, u64>,
        rejected: &BTreeMap<String, u64>,
    ) {
        for (c, n) in records {
            bump(&mut self.records, c, *n);
        }
        for (c, n) in rejected {
            bump(&mut self.rejected, c, *n);
        }
    }
}

/// Over a limit: `n` against `base`, with the floor under which a
/// percentage is not judged.
fn over(n: u64, base: u64, l: Limits, floor: u64) -> Option<String> {
    if n > l.max_count {
        Some(format!("{} per run", l.max_count))
    } else if n > floor && (n as f64) * 100.0 > l.max_percent * base as f64 {
        Some(format!("{}%", l.max_percent))
    } else {
        None
    }
}

/// The guards on what a run changes besides departures. `groups` is the
/// number of class and group entries in the directory before the run.
/// `first_load`: no extraction was ever applied completely (a first sync,
/// or one resumed after a crash): additions are what it is for.
pub fn change_guards(
    s: &Safety,
    extraction: &str,
    base: &BTreeMap<String, u64>,
    groups: u64,
    c: &ChangeCounts,
    school_year: bool,
    first_load: bool,
) -> Vec<Hold> {
    let mut out = Vec::new();
    let hold = Hold::of(extraction);
    let unlimited = Limits {
        max_count: u64::MAX,
        max_percent: 100.0,
    };
    for k in CATEGORIES {
        let cat = k.as_str();
        let b = base.get(cat).copied().unwrap_or(0);
        let get = |m: &BTreeMap<String, u64>| m.get(cat).copied().unwrap_or(0);
        let rejected = Limits {
            max_count: u64::MAX,
            max_percent: s.max_rejected_percent,
        };
        let rb = b.max(get(&c.records));
        if let Some(l) = over(get(&c.rejected), rb, rejected, s.percent_floor) {
            out.push(hold("rejected", cat, get(&c.rejected), rb, l));
        }
        // changes to entries are judged once there are entries to change
        if b < s.guard_floor {
            continue;
        }
        if let Some(l) = over(get(&c.renames), b, s.renames, s.percent_floor) {
            out.push(hold("renames", cat, get(&c.renames), b, l));
        }
        let modified = Limits {
            max_count: u64::MAX,
            max_percent: s.max_modified_percent,
        };
        let modified = if school_year { unlimited } else { modified };
        if let Some(l) = over(get(&c.modified), b, modified, s.percent_floor) {
            out.push(hold("modifications", cat, get(&c.modified), b, l));
        }
        let added = Limits {
            max_count: u64::MAX,
            max_percent: s.max_additions_percent,
        };
        if !first_load {
            if let Some(l) = over(get(&c.added), b, added, s.percent_floor) {
                out.push(hold("additions", cat, get(&c.added), b, l));
            }
        }
    }
    let gl = if school_year {
        unlimited
    } else {
        s.group_deletions
    };
    if let Some(l) = over(c.group_deletions, groups, gl, s.percent_floor) {
        out.push(hold(
            "group_deletions",
            "ENTClasse/ENTGroupe",
            c.group_deletions,
            groups,
            l,
        ));
    }
    // a record can name a hundred classes within its own limits: five such
    // records make a thousand entries nobody asked for
    if !(school_year || first_load) {
        if let Some(l) = over(
            c.group_additions,
            groups,
            s.group_additions,
            s.percent_floor,
        ) {
            out.push(hold(
                "group_additions",
                "ENTClasse/ENTGroupe",
                c.group_additions,
                groups,
                l,
            ));
        }
    }
    out
}
