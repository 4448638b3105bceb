//! The departure guards: thresholds on who leaves in one run, the sanity
//! guards of a Complet (empty, truncated, a school gone), and departures a
//! Complet cannot prove.

use super::{Hold, Safety, CATEGORIES};
use crate::mapping::perimeter::uai_key;
use crate::model::EntryMap;
use crate::schema::EntryKind;
use crate::schema::State;
use std::collections::BTreeMap;

/// Active (not departed) entries of each watched category.
pub fn active_counts(current: &EntryMap) -> BTreeMap<String, u64> {
    // by position in CATEGORIES: no key built per entry of an académie
    let mut n = [0u64; CATEGORIES.len()];
    for e in current.values() {
        if let Some(i) = counted(e).and_then(|k| CATEGORIES.iter().position(|c| *c == k)) {
            n[i] += 1;
        }
    }
    CATEGORIES
        .iter()
        .zip(n)
        .map(|(k, n)| (k.as_str().to_string(), n))
        .collect()
}

/// Every watched category, at zero (the counts list them all).
pub fn no_counts() -> BTreeMap<String, u64> {
    CATEGORIES
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect()
}

/// The category `e` counts in among the active entries, if any: the one
/// rule of [`active_counts`], for counts made entry by entry elsewhere (a
/// targeted read's).
pub fn counted(e: &(impl crate::schema::Attributes + ?Sized)) -> Option<EntryKind> {
    EntryKind::of(e).filter(|k| CATEGORIES.contains(k) && !State::of(e).departed())
}

/// UAIs of the active structures of the directory.
pub fn active_uais(current: &EntryMap) -> Vec<String> {
    let mut v: Vec<String> = current
        .values()
        .filter(|e| EntryKind::of(e) == Some(EntryKind::Structure) && !State::of(e).departed())
        .filter_map(|e| e.first("ENTStructureUAI").map(uai_key))
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
    let hold = Hold::of(extraction);
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
