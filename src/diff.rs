//! Desired entries vs entries in the directory → a [`Plan`] (pure).
//!
//! Only attributes the sync owns are compared ([`mapping::owned`]); object
//! classes are only added, except the auxiliary classes the sync manages;
//! create-only attributes (login, first-seen) are written when missing and
//! never changed. Multi-valued attributes change value by value. The plan is
//! plain data: it drives the apply step, the dry-run output and golden tests.

use crate::mapping::{self, Desired, EntryKind};
use crate::model::{dn_key, same_value, value_key, Dn, Entry, EntryMap, FoldSet};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

// The plan's vocabulary lives in `model::plan` (every later stage uses it);
// it stays reachable here, where plans are made.
pub use crate::model::plan::{phase, Absent, AttrChange, Change, Plan, Planned, PHASE_RELINK};

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
fn diff_full(kind: EntryKind, desired: &Entry, current: &Entry) -> Vec<AttrChange> {
    let out = diff_values(kind, desired, current);
    keep_naming_values(out, current)
}

/// The attribute-value pairs of an entry's RDN (what names it: an LDAP
/// server refuses to remove them), unescaped.
fn rdn_values(dn: &Dn) -> Vec<(String, String)> {
    let rdn = crate::mapping::layout::rdn_of(dn.as_str());
    let mut out = Vec::new();
    let mut rest = rdn;
    // a multi-valued RDN `a=x+b=y`: each AVA in turn
    while let Some((attr, value, _)) = crate::model::split_first_rdn(rest) {
        out.push((attr.to_string(), value));
        let mut at = None;
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'+' => {
                    at = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        match at {
            Some(i) => rest = &rest[i + 1..],
            None => break,
        }
    }
    out
}

/// Changes that would remove a value naming the entry (an adopted tree's
/// `ENTStructureSIREN=…` RDN, say) are changed to keep it: an LDAP server
/// refuses them, and the entry's name is not the sync's to change.
fn keep_naming_values(changes: Vec<AttrChange>, current: &Entry) -> Vec<AttrChange> {
    let naming = rdn_values(&current.dn);
    if naming.is_empty() {
        return changes;
    }
    let names = |attr: &str| -> Vec<&str> {
        naming
            .iter()
            .filter(|(a, _)| a.eq_ignore_ascii_case(attr))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let same = crate::model::same_value;
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        match c {
            AttrChange::Delete { attr, values } => {
                let keep = names(&attr);
                if keep.is_empty() {
                    out.push(AttrChange::Delete { attr, values });
                    continue;
                }
                // every value but the naming one(s)
                let all: Vec<String> = if values.is_empty() {
                    current.get(&attr).unwrap_or_default().to_vec()
                } else {
                    values
                };
                let left: Vec<String> = all
                    .into_iter()
                    .filter(|v| !keep.iter().any(|k| same(k, v)))
                    .collect();
                if !left.is_empty() {
                    out.push(AttrChange::Delete { attr, values: left });
                }
            }
            AttrChange::Replace { attr, values } => {
                let keep = names(&attr);
                if keep.is_empty() || keep.iter().all(|k| values.iter().any(|v| same(k, v))) {
                    out.push(AttrChange::Replace { attr, values });
                    continue;
                }
                // replace around the naming value: add the new values,
                // delete the old ones but the naming one
                let had: Vec<String> = current.get(&attr).unwrap_or_default().to_vec();
                let add: Vec<String> = values
                    .iter()
                    .filter(|v| !had.iter().any(|h| same(h, v)))
                    .cloned()
                    .collect();
                let del: Vec<String> = had
                    .into_iter()
                    .filter(|h| !keep.iter().any(|k| same(k, h)))
                    .filter(|h| !values.iter().any(|v| same(h, v)))
                    .collect();
                if !del.is_empty() {
                    out.push(AttrChange::Delete {
                        attr: attr.clone(),
                        values: del,
                    });
                }
                if !add.is_empty() && !crate::mapping::is_single_valued(&attr) {
                    out.push(AttrChange::Add { attr, values: add });
                }
            }
            other => out.push(other),
        }
    }
    out
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
            let prefix = |v: &str| v.split_once('$').map(|(p, _)| p.to_ascii_lowercase());
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
    let mut p = Plan::default();
    let mut rest = Vec::new();
    // by position in `current`: a bit per entry, not a set of keys
    let mut seen = vec![false; current.len()];
    for d in desired {
        let Some((at, _, cur)) = current.get_full(&d.entry.dn.key()) else {
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
    let mut gone: Vec<(&String, &Entry)> = current
        .iter()
        .zip(&seen)
        .filter(|(_, &found)| !found)
        .map(|(kv, _)| kv)
        .collect();
    gone.sort_by(|a, b| a.0.cmp(b.0));
    for (key, e) in gone {
        if keep.contains(key) {
            p.kept += 1;
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
                entries.insert(entry.dn.key(), entry.clone());
            }
            Change::Delete { dn } => {
                // O(1); the order only serves locality
                if let Some(gone) = entries.swap_remove(&dn.key()) {
                    if let Some(l) = gone.first("ENTPersonLogin") {
                        logins.remove(&l.to_lowercase());
                    }
                }
            }
            Change::Move { dn, to } => {
                if let Some(mut e) = entries.swap_remove(&dn.key()) {
                    e.dn = to.clone();
                    entries.insert(to.key(), e);
                }
            }
            Change::Modify { dn, changes } => {
                let Some(e) = entries.get_mut(&dn.key()) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::test_entry as entry;

    #[test]
    fn a_value_naming_the_entry_is_never_removed_and_other_sources_jointures_stay() {
        // an adopted school named by its SIREN, which the extraction lacks
        let cur = entry(
            "ENTStructureSIREN=1929,ou=structures,dc=x",
            &[
                ("ENTStructureSIREN", &["1929"]),
                ("ENTStructureJointure", &["S$100"]),
                ("ENTStructureNomCourant", &["OLD"]),
            ],
        );
        let want = entry(
            "ENTStructureSIREN=1929,ou=structures,dc=x",
            &[
                ("ENTStructureJointure", &["S$100"]),
                ("ENTStructureNomCourant", &["NEW"]),
            ],
        );
        let got = serde_json::to_string(&diff_entry(EntryKind::Structure, &want, &cur)).unwrap();
        assert_eq!(
            got,
            r#"[{"op":"replace","attr":"ENTStructureNomCourant","values":["NEW"]}]"#
        );
        // a person carrying a jointure of another source besides ours
        let cur = entry(
            "uid=F17,ou=people,dc=x",
            &[("ENTPersonJointure", &["S$1", "ENT$F17"]), ("sn", &["A"])],
        );
        let want = entry(
            "uid=F17,ou=people,dc=x",
            &[("ENTPersonJointure", &["S$1"]), ("sn", &["A"])],
        );
        assert!(diff_entry(EntryKind::Pupil, &want, &cur).is_empty());
    }

    #[test]
    fn table() {
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a [&'a str])],
            &'a [(&'a str, &'a [&'a str])],
            &'a str,
        );
        let cases: &[Case] = &[
            ("equal", &[("sn", &["A"])], &[("sn", &["A"])], "[]"),
            (
                "foreign attributes are ignored",
                &[("sn", &["A"])],
                &[
                    ("sn", &["A"]),
                    ("userPassword", &["x"]),
                    ("description", &["y"]),
                ],
                "[]",
            ),
            (
                "single value changes by replace",
                &[("sn", &["B"])],
                &[("sn", &["A"])],
                r#"[{"op":"replace","attr":"sn","values":["B"]}]"#,
            ),
            (
                "emptied attribute is deleted",
                &[("sn", &["A"])],
                &[("sn", &["A"]), ("mail", &["a@b.c"])],
                r#"[{"op":"delete","attr":"mail","values":[]}]"#,
            ),
            (
                "new attribute is added",
                &[("sn", &["A"]), ("mail", &["a@b.c"])],
                &[("sn", &["A"])],
                r#"[{"op":"add","attr":"mail","values":["a@b.c"]}]"#,
            ),
            (
                "multi-valued by value",
                &[("ENTPersonAutresPrenoms", &["a", "c"])],
                &[("ENTPersonAutresPrenoms", &["a", "b"])],
                r#"[{"op":"delete","attr":"ENTPersonAutresPrenoms","values":["b"]},{"op":"add","attr":"ENTPersonAutresPrenoms","values":["c"]}]"#,
            ),
            (
                "case change replaces",
                &[("ENTPersonAutresPrenoms", &["A", "c"])],
                &[("ENTPersonAutresPrenoms", &["a", "c"])],
                r#"[{"op":"replace","attr":"ENTPersonAutresPrenoms","values":["A","c"]}]"#,
            ),
            (
                "DN values compare as DNs",
                &[("ENTPersonStructRattach", &["ou=X-1,ou=structures,dc=x"])],
                &[("ENTPersonStructRattach", &["OU=x-1, ou=Structures,dc=x"])],
                "[]",
            ),
            (
                "login is never changed",
                &[("ENTPersonLogin", &["new"])],
                &[("ENTPersonLogin", &["old"])],
                "[]",
            ),
            (
                "login is added if missing",
                &[("ENTPersonLogin", &["new"])],
                &[],
                r#"[{"op":"add","attr":"ENTPersonLogin","values":["new"]}]"#,
            ),
            (
                "classes only added",
                &[("objectClass", &["ENTPerson"])],
                &[("objectClass", &["ENTPerson", "pwdPolicy"])],
                "[]",
            ),
            (
                "managed aux removed",
                &[("objectClass", &["ENTPerson"])],
                &[("objectClass", &["ENTPerson", "ENTAuxEnseignant"])],
                r#"[{"op":"delete","attr":"objectClass","values":["ENTAuxEnseignant"]}]"#,
            ),
            (
                "values in another order are the same",
                &[("ENTPersonAutresPrenoms", &["a", "b"]), ("sn", &["A"])],
                &[("ENTPersonAutresPrenoms", &["b", "a"]), ("sn", &["A"])],
                "[]",
            ),
            (
                "attribute spelling does not matter",
                &[("sn", &["A"]), ("mail", &["m"])],
                &[("SN", &["A"]), ("Mail", &["m"])],
                "[]",
            ),
            (
                "create-only values differing are no change",
                &[("sn", &["A"]), ("ENTPersonLogin", &["x"])],
                &[("sn", &["A"]), ("ENTPersonLogin", &["y"])],
                "[]",
            ),
            (
                "the same values but one more",
                &[("sn", &["A"]), ("mail", &["m"])],
                &[("sn", &["A"])],
                r#"[{"op":"add","attr":"mail","values":["m"]}]"#,
            ),
        ];
        for (name, d, c, want) in cases {
            let (d, c) = (entry("uid=1", d), entry("uid=1", c));
            let got = diff_entry(EntryKind::Staff, &d, &c);
            assert_eq!(serde_json::to_string(&got).unwrap(), *want, "{name}");
            // the one-pass check never hides a change the full diff sees
            assert_eq!(got, diff_full(EntryKind::Staff, &d, &c), "{name}");
        }
    }

    #[test]
    fn plan_orders_and_lists_absent() {
        let l = crate::mapping::layout::Layout::new("dc=x", "S");
        let d = |kind, dn: &Dn| Desired {
            kind,
            id: "1".into(),
            entry: entry(dn.as_str(), &[("sn", &["A"])]),
        };
        let desired = vec![
            d(EntryKind::Pupil, &l.person_dn("1")),
            d(EntryKind::Structure, &l.structure_dn("9")),
        ];
        let mut current = EntryMap::new();
        let gone_pupil = entry(l.person_dn("2").as_str(), &[("objectClass", &["ENTEleve"])]);
        let gone_class = entry("cn=c,ou=groups,dc=x", &[("objectClass", &["ENTClasse"])]);
        current.insert(gone_pupil.dn.key(), gone_pupil);
        current.insert(gone_class.dn.key(), gone_class);
        let p = plan(&desired, &current);
        let ops: Vec<(u8, &str)> = p
            .changes
            .iter()
            .map(|c| (c.phase, c.change.op_name()))
            .collect();
        assert_eq!(ops, vec![(0, "add"), (1, "add"), (4, "delete")]);
        assert_eq!(p.absent.len(), 1);
        assert_eq!(p.absent[0].kind, EntryKind::Pupil);
    }
}
