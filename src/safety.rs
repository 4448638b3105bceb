//! Safety rails (pure): the checks that hold a run back before any write
//! when its plan looks like an accident rather than real life, and the
//! digest that lets an operator approve one reviewed plan and no other.
//!
//! Two families of checks, both per category of entry:
//! - **thresholds** on the people (and structures) that leave in one run:
//!   an absolute count and a percentage of those active in the directory;
//! - **sanity guards** on a Complet: an empty category, a category or a
//!   whole Complet much smaller than the directory, a perimeter school that
//!   vanished. An absent file or a truncated export must never read as
//!   "everyone left".
//!
//! Deletions of people already departed (their deadline came) are not
//! counted: they were counted when they left, and holding them back would
//! break the retention duty.
//!
//! Beyond departures, a third family watches **every kind of change** a
//! damaged extraction could cause at scale: people renamed (a file decoded
//! in the wrong encoding renames everyone), entries modified, classes and
//! groups deleted, entries added far above the population, and records
//! rejected. A rejected record is not a departure, but a Complet whose
//! rejected records cannot even be tied to an id cannot prove anyone's
//! absence: its departures are held. The school-year Complet rebuilds every
//! class: it may modify every pupil and delete every class.

use crate::mapping::EntryKind;
use crate::model::plan::Plan;
use crate::model::EntryMap;
use crate::schema::State;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The categories the rails watch, as the reports name them.
pub const CATEGORIES: [EntryKind; 4] = [
    EntryKind::Structure,
    EntryKind::Pupil,
    EntryKind::Parent,
    EntryKind::Staff,
];

/// Departure limits of one category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most departures (and deletions of active entries) in one run.
    pub max_count: u64,
    /// Most departures as a percentage of the active entries of the category.
    pub max_percent: f64,
}

/// Every setting of the rails (`[safety]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Safety {
    pub pupil: Limits,
    pub parent: Limits,
    pub staff: Limits,
    pub structure: Limits,
    /// The percentage limits count only above this many departures: in a
    /// school of forty pupils, two leaving is not a mass departure.
    pub percent_floor: u64,
    /// Percentage limit on the Complet that starts a school year, when the
    /// leavers of the last class go at once.
    pub school_year_percent: f64,
    /// A Complet whose category (or whole) holds fewer entries than this
    /// ratio of what the directory holds is refused.
    pub complet_min_ratio: f64,
    /// The ratio guard applies from this many active entries on.
    pub guard_floor: u64,
    /// People whose name (`sn` or `givenName`) changes, per category.
    pub renames: Limits,
    /// Entries modified, percentage of the category's active entries
    /// (not limited on the school-year Complet).
    pub max_modified_percent: f64,
    /// Classes and groups deleted (not limited on the school-year Complet).
    pub group_deletions: Limits,
    /// Classes and groups added (not limited on the school-year Complet
    /// nor on a first load).
    pub group_additions: Limits,
    /// Entries added, percentage of the category's active entries (from
    /// `guard_floor` active entries on: a first sync is not held).
    pub max_additions_percent: f64,
    /// Records rejected, percentage of the category's active entries or
    /// records, whichever is larger.
    pub max_rejected_percent: f64,
}

impl Default for Safety {
    fn default() -> Self {
        let l = Limits {
            max_count: 500,
            max_percent: 5.0,
        };
        Safety {
            pupil: l,
            parent: l,
            staff: l,
            structure: Limits {
                max_count: 20,
                max_percent: 5.0,
            },
            percent_floor: 10,
            school_year_percent: 25.0,
            complet_min_ratio: 0.5,
            guard_floor: 20,
            renames: Limits {
                max_count: 500,
                max_percent: 10.0,
            },
            max_modified_percent: 30.0,
            group_deletions: Limits {
                max_count: 100,
                max_percent: 20.0,
            },
            group_additions: Limits {
                max_count: 100,
                max_percent: 20.0,
            },
            max_additions_percent: 50.0,
            max_rejected_percent: 10.0,
        }
    }
}

impl Safety {
    pub fn limits(&self, kind: EntryKind) -> Option<Limits> {
        match kind {
            EntryKind::Pupil => Some(self.pupil),
            EntryKind::Parent => Some(self.parent),
            EntryKind::Staff => Some(self.staff),
            EntryKind::Structure => Some(self.structure),
            _ => None,
        }
    }
}

/// One reason to hold a run back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// `threshold`, `empty_category`, `smaller_than_directory` or
    /// `school_vanished`.
    pub rule: &'static str,
    /// Category (AAF name), or `all`.
    pub category: String,
    /// What the run would do (departures, entries in the Complet…).
    pub count: u64,
    /// What the directory holds (active entries of the category).
    pub base: u64,
    /// The limit crossed, for the message.
    pub limit: String,
    /// The extraction it is about.
    pub extraction: String,
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rule {
            "threshold" => write!(
                f,
                "{}: {} {} would leave out of {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "empty_category" => write!(
                f,
                "{}: no {} at all in this Complet while the directory holds {}: an empty or missing file?",
                self.extraction, self.category, self.base
            ),
            "smaller_than_directory" => write!(
                f,
                "{}: the Complet holds {} {} where the directory holds {} (limit {}): a truncated extraction?",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "school_vanished" => write!(
                f,
                "{}: perimeter school {} is in the directory but not in this Complet",
                self.extraction, self.category
            ),
            "renames" => write!(
                f,
                "{}: {} {} would be renamed out of {} active (limit {}): a file read in the wrong encoding?",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "modifications" => write!(
                f,
                "{}: {} {} would be modified out of {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "group_deletions" => write!(
                f,
                "{}: {} classes and groups would be deleted out of {} (limit {}; the school-year Complet is not limited)",
                self.extraction, self.count, self.base, self.limit
            ),
            "group_additions" => write!(
                f,
                "{}: {} classes and groups would be added to {} (limit {}; the school-year Complet and a first load are not limited)",
                self.extraction, self.count, self.base, self.limit
            ),
            "additions" => write!(
                f,
                "{}: {} {} would be added to {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "rejected" => write!(
                f,
                "{}: {} {} records rejected, out of {} (limit {}): a damaged extraction? (rejected people are kept as they are)",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "unproven_departures" => write!(
                f,
                "{}: {} {} would leave, but {}",
                self.extraction, self.count, self.category, self.limit
            ),
            other => write!(f, "{}: {other}", self.extraction),
        }
    }
}

/// Active (not departed) entries of each watched category.
pub fn active_counts(current: &EntryMap) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = CATEGORIES
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect();
    for e in current.values() {
        if let Some(k) = EntryKind::of(e).filter(|k| CATEGORIES.contains(k)) {
            if !State::of(e).departed() {
                *out.entry(k.as_str().to_string()).or_default() += 1;
            }
        }
    }
    out
}

/// UAIs of the active structures of the directory.
pub fn active_uais(current: &EntryMap) -> Vec<String> {
    let mut v: Vec<String> = current
        .values()
        .filter(|e| EntryKind::of(e) == Some(EntryKind::Structure) && !State::of(e).departed())
        .filter_map(|e| e.first("ENTStructureUAI").map(|u| u.to_uppercase()))
        .collect();
    v.sort();
    v
}

/// The guards of one Complet: `desired` counts the entries of each category
/// it maps to, `base` the active ones of the directory, `vanished` the
/// configured schools the directory holds and the Complet lacks.
pub fn complet_guards(
    s: &Safety,
    extraction: &str,
    base: &BTreeMap<String, u64>,
    desired: &BTreeMap<String, u64>,
    vanished: &[String],
) -> Vec<Hold> {
    let mut out = Vec::new();
    let hold = |rule, category: &str, count, base, limit: String| Hold {
        rule,
        category: category.to_string(),
        count,
        base,
        limit,
        extraction: extraction.to_string(),
    };
    let (mut total_base, mut total_want) = (0, 0);
    for k in CATEGORIES {
        let cat = k.as_str();
        let b = base.get(cat).copied().unwrap_or(0);
        let d = desired.get(cat).copied().unwrap_or(0);
        total_base += b;
        total_want += d;
        if b > 0 && d == 0 {
            out.push(hold("empty_category", cat, 0, b, "at least one".into()));
        } else if b >= s.guard_floor && (d as f64) < b as f64 * s.complet_min_ratio {
            out.push(hold(
                "smaller_than_directory",
                cat,
                d,
                b,
                format!("{:.0}%", s.complet_min_ratio * 100.0),
            ));
        }
    }
    if out.is_empty()
        && total_base >= s.guard_floor
        && (total_want as f64) < total_base as f64 * s.complet_min_ratio
    {
        out.push(hold(
            "smaller_than_directory",
            "all",
            total_want,
            total_base,
            format!("{:.0}%", s.complet_min_ratio * 100.0),
        ));
    }
    for uai in vanished {
        out.push(hold("school_vanished", uai, 0, 1, "present".into()));
    }
    out
}

/// The thresholds over a whole run: `leaving` counts the active entries of
/// each category that depart or are deleted, `base` the active ones before
/// the run.
pub fn thresholds(
    s: &Safety,
    extraction: &str,
    base: &BTreeMap<String, u64>,
    leaving: &BTreeMap<String, u64>,
    school_year: bool,
) -> Vec<Hold> {
    let mut out = Vec::new();
    for k in CATEGORIES {
        let Some(l) = s.limits(k) else { continue };
        let cat = k.as_str();
        let n = leaving.get(cat).copied().unwrap_or(0);
        let b = base.get(cat).copied().unwrap_or(0);
        let pct = if school_year {
            l.max_percent.max(s.school_year_percent)
        } else {
            l.max_percent
        };
        // the leavers of a school year are a share of the whole: in a large
        // perimeter they outnumber any fixed count, so that year the count
        // grows to the school-year share of the active entries
        let max_count = if school_year {
            l.max_count.max((pct * b as f64 / 100.0).ceil() as u64)
        } else {
            l.max_count
        };
        let limit = if n > max_count {
            Some(format!("{max_count} per run"))
        } else if n > s.percent_floor && (n as f64) * 100.0 > pct * b as f64 {
            Some(format!("{pct}% of the active ones"))
        } else {
            None
        };
        if let Some(limit) = limit {
            out.push(Hold {
                rule: "threshold",
                category: cat.to_string(),
                count: n,
                base: b,
                limit,
                extraction: extraction.to_string(),
            });
        }
    }
    out
}

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
    let hold = |rule, category: &str, count, base, limit: String| Hold {
        rule,
        category: category.to_string(),
        count,
        base,
        limit,
        extraction: extraction.to_string(),
    };
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

/// Departures a Complet cannot prove: some records of `unidentified`'s
/// categories were rejected without a readable id, so whoever they were
/// may be among those leaving. `unproven` lists the categories concerned
/// (see [`crate::mapping::protected::Protected::unproven`]).
pub fn unproven_departures(
    extraction: &str,
    unidentified: &BTreeMap<String, u64>,
    unproven: &[String],
    leaving: &BTreeMap<String, u64>,
) -> Vec<Hold> {
    let n: u64 = unidentified.values().sum();
    let from: Vec<String> = unidentified
        .iter()
        .map(|(c, k)| format!("{k} {c}"))
        .collect();
    unproven
        .iter()
        .filter_map(|cat| {
            let l = leaving.get(cat).copied().unwrap_or(0);
            (l > 0).then(|| Hold {
                rule: "unproven_departures",
                category: cat.clone(),
                count: l,
                base: n,
                limit: format!(
                    "{} record(s) were rejected without a readable id ({}): this Complet cannot prove they are not among them",
                    n,
                    from.join(", ")
                ),
                extraction: extraction.to_string(),
            })
        })
        .collect()
}

/// The digest of the plans of a run (label and changes of each, in order):
/// what an approval names. Any change in what would be written changes it.
pub fn digest<'a>(plans: impl IntoIterator<Item = (&'a str, &'a Plan)>) -> String {
    let mut h = Sha256::new();
    for (label, plan) in plans {
        h.update(label.as_bytes());
        h.update([0u8]);
        // streamed into the hash: at académie scale the JSON of a first
        // sync's plan is gigabytes. Serialising plain data into a hasher
        // cannot fail; if it did, the digest would still be stable.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, HashWriter(&mut h));
        let _ = serde_json::to_writer(&mut w, &plan.changes);
        let _ = std::io::Write::flush(&mut w);
        drop(w);
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `io::Write` into a SHA-256 state.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn thresholds_count_and_percent_with_a_floor() {
        let s = Safety::default();
        let base = counts(&[("Eleve", 1000), ("PersRelEleve", 100), ("PersEducNat", 50)]);
        // 40 pupils of 1000 = 4%: fine; 60 = 6%: held
        assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 40)]), false).is_empty());
        let h = thresholds(&s, "x", &base, &counts(&[("Eleve", 60)]), false);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].category.as_str(), h[0].count, h[0].base),
            ("Eleve", 60, 1000)
        );
        assert!(
            h[0].to_string()
                .contains("60 Eleve would leave out of 1000"),
            "{}",
            h[0]
        );
        // 10 parents of 100 = 10% but not above the floor of 10
        assert!(thresholds(&s, "x", &base, &counts(&[("PersRelEleve", 10)]), false).is_empty());
        assert_eq!(
            thresholds(&s, "x", &base, &counts(&[("PersRelEleve", 11)]), false).len(),
            1
        );
        // the absolute limit, whatever the base
        let big = counts(&[("Eleve", 100_000)]);
        let h = thresholds(&s, "x", &big, &counts(&[("Eleve", 501)]), false);
        assert_eq!(h[0].limit, "500 per run");
        // the school-year Complet allows 25%
        let base = counts(&[("Eleve", 1000)]);
        assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 200)]), true).is_empty());
        assert_eq!(
            thresholds(&s, "x", &base, &counts(&[("Eleve", 260)]), true).len(),
            1
        );
        // and its count limit grows to that share: 510 CM2 leavers of 4200
        let base = counts(&[("Eleve", 4200)]);
        assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 510)]), true).is_empty());
        assert_eq!(
            thresholds(&s, "x", &base, &counts(&[("Eleve", 510)]), false)[0].limit,
            "500 per run"
        );
        let h = thresholds(&s, "x", &base, &counts(&[("Eleve", 1051)]), true);
        assert_eq!(h[0].limit, "1050 per run");
    }

    #[test]
    fn complet_guards_catch_empty_and_truncated_extractions() {
        let s = Safety::default();
        let base = counts(&[
            ("EtabEducNat", 2),
            ("Eleve", 100),
            ("PersRelEleve", 150),
            ("PersEducNat", 10),
        ]);
        let same = base.clone();
        assert!(complet_guards(&s, "x", &base, &same, &[]).is_empty());
        // no staff at all: an empty file
        let mut d = base.clone();
        d.insert("PersEducNat".into(), 0);
        let h = complet_guards(&s, "x", &base, &d, &[]);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].rule, h[0].category.as_str()),
            ("empty_category", "PersEducNat")
        );
        // 40 pupils where 100 are: truncated
        let mut d = base.clone();
        d.insert("Eleve".into(), 40);
        let h = complet_guards(&s, "x", &base, &d, &[]);
        assert_eq!(h[0].rule, "smaller_than_directory");
        assert_eq!((h[0].count, h[0].base), (40, 100));
        // a fresh directory: nothing to compare with
        let empty = BTreeMap::new();
        assert!(complet_guards(&s, "x", &empty, &d, &[]).is_empty());
        // a school gone
        let h = complet_guards(&s, "x", &base, &same, &["0920484B".into()]);
        assert_eq!(h[0].rule, "school_vanished");
        assert!(h[0].to_string().contains("0920484B"));
    }

    #[test]
    fn change_guards_watch_renames_modifications_deletions_additions_and_rejects() {
        let s = Safety::default();
        let base = counts(&[
            ("Eleve", 1000),
            ("PersRelEleve", 1500),
            ("PersEducNat", 100),
        ]);
        let quiet = ChangeCounts {
            renames: counts(&[("Eleve", 20)]),
            modified: counts(&[("Eleve", 200)]),
            added: counts(&[("Eleve", 150)]),
            group_deletions: 3,
            group_additions: 5,
            rejected: counts(&[("Eleve", 30)]),
            records: counts(&[("Eleve", 1000)]),
        };
        assert!(change_guards(&s, "x", &base, 60, &quiet, false, false).is_empty());
        let rules = |c: &ChangeCounts, year: bool, first: bool| -> Vec<&'static str> {
            change_guards(&s, "x", &base, 60, c, year, first)
                .into_iter()
                .map(|h| h.rule)
                .collect()
        };
        let loud = ChangeCounts {
            renames: counts(&[("PersRelEleve", 900)]),
            modified: counts(&[("Eleve", 1000)]),
            added: counts(&[("PersEducNat", 60)]),
            group_deletions: 60,
            group_additions: 101,
            rejected: counts(&[("Eleve", 101)]),
            records: counts(&[("Eleve", 1000)]),
        };
        assert_eq!(
            rules(&loud, false, false),
            vec![
                "rejected",
                "modifications",
                "renames",
                "additions",
                "group_deletions",
                "group_additions"
            ]
        );
        // the school-year Complet rebuilds every class: modifications and
        // deletions of classes go through; a first load adds everyone
        assert_eq!(rules(&loud, true, true), vec!["rejected", "renames"]);
        let h = &change_guards(&s, "x", &base, 60, &loud, false, false)[4];
        assert_eq!(
            h.to_string(),
            "x: 60 classes and groups would be deleted out of 60 (limit 20%; the school-year Complet is not limited)"
        );
        let h = &change_guards(&s, "x", &base, 60, &loud, false, false)[5];
        assert_eq!(
            h.to_string(),
            "x: 101 classes and groups would be added to 60 (limit 100 per run; the school-year Complet and a first load are not limited)"
        );
    }

    #[test]
    fn departures_a_complet_cannot_prove_are_held() {
        let unidentified = counts(&[("Eleve", 2)]);
        let unproven = vec!["Eleve".to_string(), "PersRelEleve".to_string()];
        let h = unproven_departures("x", &unidentified, &unproven, &counts(&[("Eleve", 3)]));
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].to_string(),
            "x: 3 Eleve would leave, but 2 record(s) were rejected without a readable id (2 Eleve): this Complet cannot prove they are not among them"
        );
        assert!(unproven_departures(
            "x",
            &unidentified,
            &unproven,
            &counts(&[("PersEducNat", 3)])
        )
        .is_empty());
    }

    #[test]
    fn the_digest_follows_the_changes() {
        use crate::model::plan::{Change, Planned};
        use crate::model::Dn;
        let mut p = Plan::default();
        let a = digest([("x", &p)]);
        assert_eq!(a.len(), 64);
        assert_eq!(a, digest([("x", &p)]));
        assert_ne!(a, digest([("y", &p)]));
        p.changes.push(Planned {
            kind: EntryKind::Pupil,
            phase: 1,
            change: Change::Delete {
                dn: Dn::new("uid=a,dc=x"),
            },
        });
        assert_ne!(a, digest([("x", &p)]));
        // what is left untouched is not part of what is approved
        let b = digest([("x", &p)]);
        p.unchanged = 12;
        assert_eq!(b, digest([("x", &p)]));
        // streamed, it is the hash of the plan's JSON: approvals given
        // before the streaming still name the same plans
        let mut h = Sha256::new();
        h.update(b"x\0");
        h.update(serde_json::to_vec(&p.changes).expect("plain data"));
        h.update([0u8]);
        let whole: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(b, whole);
    }
}
