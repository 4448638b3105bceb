//! One desired entry against the one in the directory: the changes on the
//! attributes the sync owns, value by value (object classes only added but
//! the managed auxiliaries, create-only attributes written when missing,
//! another source's jointure left alone).

use super::naming::keep_naming_values;
use crate::mapping;
use crate::model::plan::AttrChange;
use crate::model::{dn_key, same_value, value_key, Entry, FoldSet};
use crate::schema::EntryKind;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

fn is_dn_valued(attr: &str) -> bool {
    mapping::DN_VALUED
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
}

fn norm(attr: &str, v: &str) -> String {
    if is_dn_valued(attr) {
        dn_key(v)
    } else {
        v.to_string()
    }
}

/// What [`diff_entry`] looks at for one kind of entry, as fold sets.
struct Compared {
    /// Object classes and the owned attributes but the create-only ones:
    /// equal values on all of them, and no change is due there.
    compared: FoldSet,
    /// Create-only attributes: a change only when the directory lacks one.
    create_only: FoldSet,
}

fn compared(kind: EntryKind) -> &'static Compared {
    static CACHE: OnceLock<HashMap<EntryKind, Compared>> = OnceLock::new();
    let map = CACHE.get_or_init(|| {
        EntryKind::ALL
            .iter()
            .map(|&k| {
                let owned = mapping::owned(k);
                let compared = FoldSet::of(
                    std::iter::once("objectClass").chain(
                        owned
                            .iter()
                            .copied()
                            .filter(|a| !mapping::CREATE_ONLY.contains(a)),
                    ),
                );
                let create_only = FoldSet::of(
                    owned
                        .iter()
                        .copied()
                        .filter(|a| mapping::CREATE_ONLY.contains(a)),
                );
                (
                    k,
                    Compared {
                        compared,
                        create_only,
                    },
                )
            })
            .collect()
    });
    &map[&kind]
}

/// Changes that turn `current` into `desired` on the attributes of `kind`.
pub fn diff_entry(kind: EntryKind, desired: &Entry, current: &Entry) -> Vec<AttrChange> {
    // most entries of a run are unchanged: tell so in one pass over each
    let c = compared(kind);
    if desired.same_on(current, &c.compared) && desired.present_in(current, &c.create_only) {
        return Vec::new();
    }
    diff_full(kind, desired, current)
}

/// [`diff_entry`] attribute by attribute.
pub(super) fn diff_full(kind: EntryKind, desired: &Entry, current: &Entry) -> Vec<AttrChange> {
    let out = diff_values(kind, desired, current);
    keep_naming_values(out, current)
}

/// Attributes that hold one value per source (`<source>$<id>`): only the
/// values of the desired entry's source are the sync's.
const PER_SOURCE: [&str; 2] = ["ENTPersonJointure", "ENTStructureJointure"];

/// The changes on values, attribute by attribute.
fn diff_values(kind: EntryKind, desired: &Entry, current: &Entry) -> Vec<AttrChange> {
    let mut out = Vec::new();
    // object classes: add what is missing; remove only managed auxiliaries
    let want = desired.get("objectClass").unwrap_or_default();
    let have = current.get("objectClass").unwrap_or_default();
    let missing: Vec<String> = want
        .iter()
        .filter(|w| !have.iter().any(|h| h.eq_ignore_ascii_case(w)))
        .map(str::to_string)
        .collect();
    let extra: Vec<String> = have
        .iter()
        .filter(|h| {
            mapping::MANAGED_AUX_CLASSES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(h))
                && !want.iter().any(|w| w.eq_ignore_ascii_case(h))
        })
        .map(str::to_string)
        .collect();
    if !missing.is_empty() {
        out.push(AttrChange::Add {
            attr: "objectClass".into(),
            values: missing,
        });
    }
    if !extra.is_empty() {
        out.push(AttrChange::Delete {
            attr: "objectClass".into(),
            values: extra,
        });
    }
    for &attr in mapping::owned(kind) {
        let d = desired.get(attr).unwrap_or_default();
        let c = current.get(attr).unwrap_or_default();
        if PER_SOURCE.contains(&attr) {
            // another source's jointure on the same entry is not ours
            // (spaces before it aside, as the directory matches the value)
            let prefix = |v: &str| {
                v.trim_start_matches(' ')
                    .split_once('$')
                    .map(|(p, _)| p.to_ascii_lowercase())
            };
            let ours: Vec<Option<String>> = d.iter().map(prefix).collect();
            let theirs = |v: &&str| !ours.contains(&prefix(v));
            if c.iter().any(|v| theirs(&v)) {
                let c: Vec<&str> = c.iter().filter(|v| !theirs(v)).collect();
                let d: Vec<&str> = d.iter().collect();
                if c.iter().map(|v| value_key(v)).collect::<BTreeSet<_>>()
                    != d.iter().map(|v| value_key(v)).collect::<BTreeSet<_>>()
                {
                    if !c.is_empty() {
                        out.push(AttrChange::Delete {
                            attr: attr.into(),
                            values: c.iter().map(|v| v.to_string()).collect(),
                        });
                    }
                    out.push(AttrChange::Add {
                        attr: attr.into(),
                        values: d.iter().map(|v| v.to_string()).collect(),
                    });
                }
                continue;
            }
        }
        // a neutral placeholder for a MUST never overwrites a real value
        if !c.is_empty()
            && d.len() == 1
            && d.first() == Some(mapping::sdet::NEUTRAL)
            && mapping::sdet::is_fillable(attr)
        {
            continue;
        }
        if mapping::CREATE_ONLY.contains(&attr) {
            if c.is_empty() && !d.is_empty() {
                out.push(AttrChange::Add {
                    attr: attr.into(),
                    values: d.to_vec(),
                });
            }
            continue;
        }
        match (d.is_empty(), c.is_empty()) {
            (true, true) => continue,
            (true, false) => out.push(AttrChange::Delete {
                attr: attr.into(),
                values: vec![],
            }),
            (false, true) => out.push(AttrChange::Add {
                attr: attr.into(),
                values: d.to_vec(),
            }),
            // the common case: the same values in the same order
            (false, false) if d == c => continue,
            (false, false) => {
                let dset: BTreeSet<String> = d.iter().map(|v| norm(attr, v)).collect();
                let cset: BTreeSet<String> = c.iter().map(|v| norm(attr, v)).collect();
                if dset == cset {
                    continue;
                }
                let add: Vec<String> = d
                    .iter()
                    .filter(|v| !cset.contains(&norm(attr, v)))
                    .map(str::to_string)
                    .collect();
                let del: Vec<String> = c
                    .iter()
                    .filter(|v| !dset.contains(&norm(attr, v)))
                    .map(str::to_string)
                    .collect();
                // a value changing only in case would match the one deleted
                // in the same modify: replace the attribute instead
                let case_clash = add.iter().any(|a| del.iter().any(|x| same_value(x, a)));
                if case_clash || d.len() == 1 && c.len() == 1 {
                    out.push(AttrChange::Replace {
                        attr: attr.into(),
                        values: d.to_vec(),
                    });
                } else {
                    if !del.is_empty() {
                        out.push(AttrChange::Delete {
                            attr: attr.into(),
                            values: del,
                        });
                    }
                    if !add.is_empty() {
                        out.push(AttrChange::Add {
                            attr: attr.into(),
                            values: add,
                        });
                    }
                }
            }
        }
    }
    out
}
