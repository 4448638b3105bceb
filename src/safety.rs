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

use crate::diff::Plan;
use crate::mapping::EntryKind;
use crate::model::EntryMap;
use crate::retention::State;
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
        let limit = if n > l.max_count {
            Some(format!("{} per run", l.max_count))
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
    fn the_digest_follows_the_changes() {
        use crate::diff::{Change, Planned};
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
