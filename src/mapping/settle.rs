//! Settles the desired tree against the directory before it is diffed
//! (pure: both trees in, the settled tree out).
//!
//! The mapper builds links from ids, trusting that every id it keeps will
//! have an entry. Two things break that trust, and both are settled here:
//! - **protected ids** (records present but rejected, see
//!   [`super::protected`]): their directory entry, if any, is kept exactly
//!   as it is, with its class memberships; links to them stay only when
//!   that entry exists;
//! - **squatters**: an entry the sync does not manage already sits at the
//!   DN a new entry would take. The new entry is left out (reported once),
//!   and so is every link to it, until the conflict is solved.
//!
//! Leaving someone out can leave another entry without what makes it
//! valid — a person with no school left, a parent with no pupil left, a
//! class with no member — and such an entry is itself left as the
//! directory has it (or not created), and so on until nothing moves.
//! Links therefore only ever point to entries the sync manages and that
//! exist, or are created by the same plan.

use super::{Desired, DN_PREFIXED, DN_VALUED};
use crate::model::{dn_key, Dn, Entry, EntryMap};
use crate::schema::EntryKind;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// An entry that could not be created: something else holds its DN.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// AAF id of the record left out (`sid$code` for a class).
    pub id: String,
    pub kind: EntryKind,
    /// Written out through [`super::layout::log_dn`] (an adopted DN may
    /// hold a name).
    #[serde(serialize_with = "super::layout::serialize_dn")]
    pub dn: String,
    pub reason: String,
}

/// What settling did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Settled {
    /// DN keys of directory entries to leave exactly as they are (not
    /// absent, not modified, not deleted).
    #[serde(skip)]
    pub keep: HashSet<String>,
    /// Entries left out because another entry holds their DN.
    pub conflicts: Vec<Conflict>,
    /// Entries left as they are (or not created), by kind: protected, or
    /// left without what makes them valid.
    pub kept_as_they_are: BTreeMap<String, u64>,
    /// Link values dropped because their target does not exist.
    pub dropped_links: u64,
    /// Link values written to an adopted entry's own DN.
    pub redirected_links: u64,
}

/// A pupil's links to their parents (DNs), and a parent's to their pupils.
const PUPIL_TO_PARENT: &str = "ENTEleveParents";
const PARENT_TO_PUPIL: &str = "ENTAuxPersRelEleveEleve";

/// Structure references of a person (either degree): at least one must
/// remain.
const STRUCTURE_REFS: [&str; 11] = [
    "ENTPersonStructRattach",
    "ENTPersonClasses",
    "ENTPersonGroupes",
    "ENTPersonFonctions",
    "ENTEleveClasses",
    "ENTEleveGroupes",
    "ENTAuxEnsClasses",
    "ENTAuxEnsGroupes",
    "ENTAuxEnsClassesMatieres",
    "ENTAuxEnsGroupesMatieres",
    "ENTAuxEnsClassesPrincipal",
];

fn link_target(attr: &str, value: &str) -> Option<String> {
    if DN_VALUED.iter().any(|a| a.eq_ignore_ascii_case(attr)) {
        Some(dn_key(value))
    } else if DN_PREFIXED.iter().any(|a| a.eq_ignore_ascii_case(attr)) {
        Some(dn_key(value.split('$').next().unwrap_or(value)))
    } else {
        None
    }
}

/// Removes the link values of `e` whose target is in `gone`; returns how
/// many went.
pub(crate) fn drop_links(e: &mut Entry, gone: &HashSet<String>) -> u64 {
    let mut dropped = 0;
    let attrs: Vec<String> = e
        .attrs
        .values()
        .filter(|a| {
            DN_VALUED
                .iter()
                .chain(DN_PREFIXED.iter())
                .any(|l| l.eq_ignore_ascii_case(a.name))
        })
        .map(|a| a.name.to_string())
        .collect();
    for attr in attrs {
        let bad: Vec<String> = e
            .get(&attr)
            .unwrap_or_default()
            .iter()
            .filter(|v| link_target(&attr, v).is_some_and(|k| gone.contains(&k)))
            .map(str::to_string)
            .collect();
        if !bad.is_empty() {
            dropped += bad.len() as u64;
            e.remove_values(&attr, &bad);
        }
    }
    dropped
}

/// True when an entry of this kind lacks what makes it valid once links
/// went: a person without a school, a parent without a pupil, a class
/// without a member.
pub(crate) fn hollow(kind: EntryKind, e: &Entry) -> bool {
    match kind {
        EntryKind::Parent => e.get("ENTAuxPersRelEleveEleve").is_none(),
        k if k.is_person() => STRUCTURE_REFS.iter().all(|a| e.get(a).is_none()),
        k if k.is_group() => e.get("member").is_none(),
        _ => false,
    }
}

/// Rewrites the link values of `e` whose target the layout placed
/// elsewhere (`redirect`: built key → the DN the entry keeps); returns how
/// many changed.
fn redirect_links(e: &mut Entry, redirect: &HashMap<String, Dn>) -> u64 {
    let mut n = 0;
    let attrs: Vec<String> = e
        .attrs
        .values()
        .filter(|a| {
            DN_VALUED
                .iter()
                .chain(DN_PREFIXED.iter())
                .any(|l| l.eq_ignore_ascii_case(a.name))
        })
        .map(|a| a.name.to_string())
        .collect();
    for attr in attrs {
        let prefixed = DN_PREFIXED.iter().any(|l| l.eq_ignore_ascii_case(&attr));
        let mut changed = false;
        let values: Vec<String> = e
            .get(&attr)
            .unwrap_or_default()
            .iter()
            .map(|v| {
                let (dn, rest) = match v.split_once('$') {
                    Some((d, r)) if prefixed => (d, Some(r)),
                    _ => (v, None),
                };
                match redirect.get(&dn_key(dn)) {
                    Some(to) => {
                        changed = true;
                        n += 1;
                        match rest {
                            Some(r) => format!("{to}${r}"),
                            None => to.to_string(),
                        }
                    }
                    None => v.to_string(),
                }
            })
            .collect();
        if changed {
            e.remove(&attr);
            e.add(&attr, values);
        }
    }
    n
}

/// Settles `desired` (sorted by DN key) against `current`. `protected`
/// holds the DN keys of rejected records; `squatted` the DN keys of new
/// entries that something the sync does not manage already holds;
/// `redirect` the entries kept at another DN than the layout's (adopted).
pub fn settle(
    desired: &mut Vec<Desired>,
    current: &EntryMap,
    protected: &HashSet<String>,
    squatted: &HashSet<String>,
    unadoptable: &HashMap<String, String>,
    redirect: &HashMap<String, Dn>,
) -> Settled {
    let mut out = Settled::default();
    if !redirect.is_empty() {
        for d in desired.iter_mut() {
            out.redirected_links += redirect_links(&mut d.entry, redirect);
        }
    }
    if protected.is_empty() && squatted.is_empty() && unadoptable.is_empty() {
        return out;
    }
    // targets that will not exist after the plan
    let mut gone: HashSet<String> = HashSet::new();
    for k in protected {
        if current.contains_key(k) {
            out.keep.insert(k.clone());
        } else {
            gone.insert(k.clone());
        }
    }
    gone.extend(squatted.iter().cloned());
    gone.extend(unadoptable.keys().cloned());
    let mut removed = vec![false; desired.len()];
    for (i, d) in desired.iter().enumerate() {
        let key = d.entry.dn.key();
        let blocked = unadoptable.get(&key);
        if squatted.contains(&key) || blocked.is_some() {
            removed[i] = true;
            let reason = blocked.cloned().unwrap_or_else(|| {
                "an entry that aaf-sync does not manage (no aafSyncState with this \
                 source) already holds this DN: left out, with every link to it, until \
                 that entry is removed or marked as managed"
                    .to_string()
            });
            out.conflicts.push(Conflict {
                id: d.id.clone(),
                kind: d.kind,
                dn: d.entry.dn.to_string(),
                reason,
            });
        } else if protected.contains(&key) {
            // two records for one id, one of them rejected: the content
            // is unknown, the entry stays as it is (counted below when
            // the directory has it)
            removed[i] = true;
            if !current.contains_key(&key) {
                *out.kept_as_they_are
                    .entry(d.kind.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }
    // drop links to what will not exist; an entry left hollow is left
    // out in turn, until nothing moves
    loop {
        let mut grew = false;
        for (i, d) in desired.iter_mut().enumerate() {
            if removed[i] {
                continue;
            }
            let n = drop_links(&mut d.entry, &gone);
            if n == 0 {
                continue;
            }
            out.dropped_links += n;
            if hollow(d.kind, &d.entry) {
                removed[i] = true;
                let key = d.entry.dn.key();
                *out.kept_as_they_are
                    .entry(d.kind.as_str().to_string())
                    .or_default() += 1;
                if current.contains_key(&key) {
                    out.keep.insert(key);
                } else {
                    gone.insert(key);
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    let mut i = 0;
    desired.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
    // people kept as they are keep their class and group memberships
    let kept_people: HashSet<&String> = out
        .keep
        .iter()
        .filter(|k| {
            current
                .get(k)
                .and_then(EntryKind::of)
                .is_some_and(EntryKind::is_person)
        })
        .collect();
    if !kept_people.is_empty() {
        let mut keep_groups = Vec::new();
        for g in current {
            if !EntryKind::of(g).is_some_and(EntryKind::is_group) {
                continue;
            }
            let gkey = &g.dn.key();
            if out.keep.contains(gkey) {
                continue;
            }
            let members: Vec<&str> = g
                .get("member")
                .unwrap_or_default()
                .iter()
                .filter(|m| kept_people.contains(&dn_key(m)))
                .collect();
            if members.is_empty() {
                continue;
            }
            match desired.binary_search_by(|d| d.entry.dn.key().cmp(gkey)) {
                Ok(at) => desired[at].entry.add("member", members),
                // the extraction has no such group any more: it stays
                Err(_) => keep_groups.push(gkey.clone()),
            }
        }
        for g in keep_groups {
            *out.kept_as_they_are
                .entry(
                    current
                        .get(&g)
                        .and_then(EntryKind::of)
                        .map_or("group", EntryKind::as_str)
                        .to_string(),
                )
                .or_default() += 1;
            out.keep.insert(g);
        }
    }
    // a pupil kept as they are keeps their parents: a parent the
    // extraction keeps lists them again (their own record may not name
    // the pupil, whose record, unknown today, did). Left out, the link
    // was one-way, and a Delta planned over the whole tree (which reads
    // it back from the pupil's entry) wrote it again each time.
    // A parent the extraction does not keep stays as they are: a parent
    // leaves when no kept pupil links to them any more (departed, the
    // pupil's entry would have been rewritten to their new DN, and left
    // pointing nowhere once retention deleted them)
    let mut parents_kept = Vec::new();
    for k in &out.keep {
        let Some(p) = current.get(k) else { continue };
        if EntryKind::of(p) != Some(EntryKind::Pupil) {
            continue;
        }
        for parent in p.get(PUPIL_TO_PARENT).unwrap_or_default().iter() {
            let pkey = dn_key(parent);
            let Ok(at) = desired.binary_search_by(|d| d.entry.dn.key().cmp(&pkey)) else {
                let is_parent = current
                    .get(&pkey)
                    .is_some_and(|e| EntryKind::of(e) == Some(EntryKind::Parent));
                if is_parent && !out.keep.contains(&pkey) {
                    parents_kept.push(pkey);
                }
                continue;
            };
            let d = &mut desired[at];
            if d.kind != EntryKind::Parent {
                continue;
            }
            let listed = d
                .entry
                .get(PARENT_TO_PUPIL)
                .unwrap_or_default()
                .iter()
                .any(|v| dn_key(v) == *k);
            if !listed {
                d.entry.add(PARENT_TO_PUPIL, [p.dn.as_str()]);
            }
        }
    }
    for k in parents_kept {
        if out.keep.insert(k) {
            *out.kept_as_they_are
                .entry(EntryKind::Parent.as_str().to_string())
                .or_default() += 1;
        }
    }
    // a school kept as it is (its record rejected) gave no labels today:
    // its classes and groups keep theirs (2D labels come from the school)
    for d in desired.iter_mut() {
        let kept_school = d
            .entry
            .first("aafSyncStructure")
            .is_some_and(|s| out.keep.contains(&dn_key(s)));
        if d.kind.is_group() && kept_school && d.entry.get("description").is_none() {
            let label = current
                .get(&d.entry.dn.key())
                .and_then(|c| c.first("description"))
                .map(str::to_string);
            if let Some(l) = label {
                d.entry.set("description", l);
            }
        }
    }
    for k in protected {
        if let Some(kind) = current.get(k).and_then(EntryKind::of) {
            *out.kept_as_they_are
                .entry(kind.as_str().to_string())
                .or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::layout::Layout;
    use crate::model::test_entry;

    /// [`settle`] with protected ids only (no squatter, nothing adopted).
    fn settle_protected(
        d: &mut Vec<Desired>,
        current: &EntryMap,
        protected: &HashSet<String>,
    ) -> Settled {
        settle(
            d,
            current,
            protected,
            &HashSet::new(),
            &HashMap::new(),
            &HashMap::new(),
        )
    }

    fn desired(kind: EntryKind, e: Entry) -> Desired {
        Desired {
            kind,
            id: e.dn.to_string(),
            entry: e,
        }
    }

    #[test]
    fn links_to_what_will_not_exist_go_and_hollow_entries_follow() {
        let l = Layout::new("dc=x", "S");
        let school = l.structure_dn("1").to_string();
        let pupil = l.person_dn("10").to_string(); // rejected, not in the directory
        let parent = l.person_dn("20").to_string(); // only that pupil: hollow
        let other = l.person_dn("11").to_string();
        let class = l
            .class_dn(crate::mapping::layout::GroupKind::Classe, "1", "A")
            .to_string();
        let mut d = vec![
            desired(
                EntryKind::Parent,
                test_entry(&parent, &[("ENTAuxPersRelEleveEleve", &[&pupil])]),
            ),
            desired(
                EntryKind::Pupil,
                test_entry(
                    &other,
                    &[
                        ("ENTPersonStructRattach", &[&school]),
                        ("ENTEleveParents", &[&parent]),
                        ("ENTEleveAutoriteParentale", &[&format!("{parent}$10")]),
                    ],
                ),
            ),
            desired(
                EntryKind::Classe,
                test_entry(&class, &[("member", &[&other, &pupil])]),
            ),
        ];
        d.sort_by_key(|x| x.entry.dn.key());
        let protected = HashSet::from([l.person_dn("10").key()]);
        let s = settle_protected(&mut d, &EntryMap::new(), &protected);
        let dns: Vec<String> = d.iter().map(|x| x.entry.dn.to_string()).collect();
        assert_eq!(dns.len(), 2, "{dns:?}");
        assert!(!dns.contains(&parent));
        let o = d.iter().find(|x| x.entry.dn.as_str() == other).unwrap();
        assert!(o.entry.get("ENTEleveParents").is_none());
        assert!(o.entry.get("ENTEleveAutoriteParentale").is_none());
        let c = d.iter().find(|x| x.kind == EntryKind::Classe).unwrap();
        assert_eq!(c.entry.get("member").unwrap().to_vec(), vec![other.clone()]);
        assert_eq!(s.dropped_links, 4);
        assert!(s.keep.is_empty());
    }

    #[test]
    fn a_protected_person_in_the_directory_stays_with_memberships() {
        let l = Layout::new("dc=x", "S");
        let pupil = l.person_dn("10");
        let class = l.class_dn(crate::mapping::layout::GroupKind::Classe, "1", "A");
        let gone_class = l.class_dn(crate::mapping::layout::GroupKind::Classe, "1", "B");
        let mut current = EntryMap::new();
        let mut pe = test_entry(pupil.as_str(), &[("objectClass", &["ENTEleve"])]);
        pe.add("sn", ["X"]);
        current.insert(pe);
        for c in [&class, &gone_class] {
            current.insert(test_entry(
                c.as_str(),
                &[
                    ("objectClass", &["ENTClasse"]),
                    ("member", &[pupil.as_str()]),
                ],
            ));
        }
        let mut d = vec![desired(
            EntryKind::Classe,
            test_entry(class.as_str(), &[("member", &["uid=S-11,ou=people,dc=x"])]),
        )];
        let protected = HashSet::from([pupil.key()]);
        let s = settle_protected(&mut d, &current, &protected);
        assert!(s.keep.contains(&pupil.key()));
        assert!(
            s.keep.contains(&gone_class.key()),
            "a class only they hold stays"
        );
        assert_eq!(d[0].entry.get("member").unwrap().len(), 2);
    }

    #[test]
    fn a_protected_pupil_in_the_directory_keeps_their_parents() {
        let l = Layout::new("dc=x", "S");
        let pupil = l.person_dn("10");
        let (parent, other) = (l.person_dn("20"), l.person_dn("11"));
        let mut current = EntryMap::new();
        current.insert(test_entry(
            pupil.as_str(),
            &[
                ("objectClass", &["ENTEleve"]),
                ("ENTEleveParents", &[parent.as_str()]),
            ],
        ));
        // the parent's record names another pupil only
        let mut d = vec![desired(
            EntryKind::Parent,
            test_entry(
                parent.as_str(),
                &[("ENTAuxPersRelEleveEleve", &[other.as_str()])],
            ),
        )];
        let protected = HashSet::from([pupil.key()]);
        settle_protected(&mut d, &current, &protected);
        let mut listed = d[0].entry.get("ENTAuxPersRelEleveEleve").unwrap().to_vec();
        listed.sort();
        assert_eq!(listed, vec![pupil.to_string(), other.to_string()]);
    }

    #[test]
    fn a_protected_pupils_parent_the_extraction_lacks_stays() {
        let l = Layout::new("dc=x", "S");
        let (pupil, parent) = (l.person_dn("10"), l.person_dn("20"));
        let mut current = EntryMap::new();
        current.insert(test_entry(
            pupil.as_str(),
            &[
                ("objectClass", &["ENTEleve"]),
                ("ENTEleveParents", &[parent.as_str()]),
            ],
        ));
        current.insert(test_entry(
            parent.as_str(),
            &[("objectClass", &["ENTAuxPersRelEleve"])],
        ));
        let protected = HashSet::from([pupil.key()]);
        let s = settle_protected(&mut Vec::new(), &current, &protected);
        assert!(s.keep.contains(&parent.key()), "{:?}", s.keep);
        assert_eq!(s.kept_as_they_are.get("PersRelEleve"), Some(&1));
    }

    #[test]
    fn squatted_entries_are_left_out_with_their_links() {
        let l = Layout::new("dc=x", "S");
        let pupil = l.person_dn("10");
        let class = l.class_dn(crate::mapping::layout::GroupKind::Classe, "1", "A");
        let mut d = vec![
            desired(
                EntryKind::Classe,
                test_entry(
                    class.as_str(),
                    &[("member", &[pupil.as_str(), "uid=S-11,ou=people,dc=x"])],
                ),
            ),
            desired(
                EntryKind::Pupil,
                test_entry(
                    pupil.as_str(),
                    &[("ENTPersonStructRattach", &["ou=S-1,ou=structures,dc=x"])],
                ),
            ),
        ];
        d.sort_by_key(|x| x.entry.dn.key());
        // slapd's spelling of the DN: still the same entry
        let squatted = HashSet::from([dn_key("UID=S-10 , OU=people,dc=x")]);
        let s = settle(
            &mut d,
            &EntryMap::new(),
            &HashSet::new(),
            &squatted,
            &HashMap::new(),
            &HashMap::new(),
        );
        assert_eq!(s.conflicts.len(), 1);
        assert_eq!(s.conflicts[0].dn, pupil.to_string());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].entry.get("member").unwrap().len(), 1);
    }
}
