//! Matches the desired tree with the directory by identity — the
//! jointure `<source>$<id>` — rather than by DN (pure).
//!
//! The layout gives every person and structure a DN built from its id; the
//! directory may hold them elsewhere:
//! - a person **disabled** after a departure waits under the departed
//!   branch (`ou=departed`); back in the extraction, they are moved back to
//!   the DN the layout gives them (the same DN as before: links, bookmarks
//!   and the ENT's own data stay valid), then updated;
//! - an **existing tree** (an ENT switching to aaf-sync from another
//!   feeder) holds entries of the source with DNs of its own
//!   (`uid=F17…`, `ENTStructureSIREN=…`): matched by jointure, they are
//!   **adopted** where they are — marked managed by the next modify, their
//!   DN, login and every attribute the sync does not own kept — and every
//!   link to them uses their DN. Entries of the source the extraction does
//!   not carry are left alone: adopting never deletes.

use super::Desired;
use crate::mapping::layout::Layout;
use crate::model::plan::{phase, Change, Planned};
use crate::model::{Dn, EntryMap};
use crate::schema::EntryKind;
use crate::schema::{State, ATTR_HOME};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What aligning did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Aligned {
    /// People moved back from the departed branch, as plan changes.
    #[serde(skip)]
    pub moves: Vec<Planned>,
    /// DN key the layout builds → the DN the entry keeps (adopted entries
    /// whose DN is not the layout's): links are written to these DNs.
    #[serde(skip)]
    pub redirect: HashMap<String, Dn>,
    /// Entries of the source adopted (not managed before), by kind.
    pub adopted: BTreeMap<String, u64>,
    /// Entries of the source the directory holds that the extraction does
    /// not carry and that are not managed: left alone.
    pub left_alone: u64,
    /// People moved back from the departed branch.
    pub returned: u64,
    /// DN key the layout builds → why the entry of the existing tree that
    /// carries the same jointure cannot be adopted (its structural class
    /// cannot become the one its category needs): left out, with its links.
    #[serde(skip)]
    pub unadoptable: HashMap<String, String>,
    /// Managed or adopted people and structures whose RDN value is not one
    /// the layout builds from an id (it may be a name): logs, the journal
    /// and reports write it as a pseudonym ([`Layout::loggable`]). Set by
    /// [`named_count`].
    pub named_dns: u64,
}

/// The DNs of `managed` (adopted entries are there once aligned) that
/// [`Layout::loggable`] hides, for [`Aligned::named_dns`].
pub fn named_count(managed: &EntryMap, layout: &Layout) -> u64 {
    let fixed = layout.fixed_keys();
    managed
        .values()
        .filter(|e| {
            matches!(
                EntryKind::of(e),
                Some(
                    EntryKind::Pupil | EntryKind::Parent | EntryKind::Staff | EntryKind::Structure
                )
            ) && !layout.clear_among(e.dn.as_str(), &fixed)
        })
        .count() as u64
}

/// The structural class an entry of `kind` must hold already to be
/// adopted: LDAP forbids changing an entry's structural class, so an
/// `ENTPerson` cannot become an `ENTEleve`, nor an `ENTServAc` an
/// `ENTEtablissement`.
fn structural_needed(kind: EntryKind) -> &'static [&'static str] {
    match kind {
        EntryKind::Pupil => &["ENTEleve"],
        EntryKind::Parent | EntryKind::Staff => &["ENTPerson", "ENTEleve"],
        EntryKind::Structure => &["ENTEtablissement"],
        _ => &[],
    }
}

/// The DN key the layout builds for a person or structure entry, from its
/// jointure (`None` for other entries, or another source's).
pub fn built_key(e: &crate::model::Entry, layout: &Layout) -> Option<String> {
    let kind = EntryKind::of(e)?;
    let id = super::inverse::id_of(kind, e, layout)?;
    Some(match kind {
        EntryKind::Structure => layout.structure_dn(id).key(),
        k if k.is_person() => layout.person_dn(id).key(),
        _ => return None,
    })
}

/// Aligns `desired` (sorted by DN key, kept sorted) with `managed` and
/// `adoptable` (entries of the source not marked managed yet): adopted
/// entries move from `adoptable` into `managed`; people coming back from
/// the departed branch are re-keyed in `managed` as if already moved.
///
/// A departed person whose retention deadline has come (`now`) is not
/// brought back: the deadline deletes them, and a return after it is a new
/// entry (the README's promise, whether or not a retention pass ran on the
/// day of the deadline).
///
/// With `unmapped` (a Delta planned on a targeted read), the people of
/// `managed` kept at a DN of their own (adopted) that `desired` does not
/// hold are redirected too: such a Delta maps the members of a class it
/// rebuilds only for the classes they make, with no entry of their own,
/// and their links (the class's `member`) must still go to where they
/// are, as a whole plan's do.
pub fn align(
    desired: &mut [Desired],
    managed: &mut EntryMap,
    adoptable: &mut EntryMap,
    layout: &Layout,
    now: time::Date,
    unmapped: bool,
) -> Aligned {
    // entries whose DN is not the one the layout builds, by built key
    let mut elsewhere: HashMap<String, (bool, String)> = HashMap::new();
    // the managed ones in order, (built key, key): those left unmapped
    // are redirected (the first one a built key meets)
    let mut managed_elsewhere = Vec::new();
    for e in managed.iter() {
        let key = &e.dn.key();
        if let Some(b) = built_key(e, layout).filter(|b| b != key) {
            elsewhere.insert(b.clone(), (true, key.clone()));
            if unmapped {
                managed_elsewhere.push((b, key.clone()));
            }
        }
    }
    let out = align_found(desired, managed, adoptable, layout, now, elsewhere);
    redirect_unmapped(out, desired, managed, managed_elsewhere)
}

/// The people of `managed_elsewhere` (built key, key in `managed`) that
/// `desired` does not hold, redirected to where they are (see [`align`]).
fn redirect_unmapped(
    mut out: Aligned,
    desired: &[Desired],
    managed: &EntryMap,
    managed_elsewhere: Vec<(String, String)>,
) -> Aligned {
    if managed_elsewhere.is_empty() {
        return out;
    }
    let mapped: std::collections::HashSet<String> =
        desired.iter().map(|d| d.entry.dn.key()).collect();
    for (built, key) in managed_elsewhere {
        let Some(e) = managed.get(&key) else {
            continue;
        };
        if mapped.contains(&key)
            || !EntryKind::of(e).is_some_and(EntryKind::is_person)
            || State::of(e).departed()
        {
            continue;
        }
        out.redirect.entry(built).or_insert_with(|| e.dn.clone());
    }
    out
}

/// [`align`] once `elsewhere` (built key → whether managed, key) is known.
fn align_found(
    desired: &mut [Desired],
    managed: &mut EntryMap,
    adoptable: &mut EntryMap,
    layout: &Layout,
    now: time::Date,
    mut elsewhere: HashMap<String, (bool, String)>,
) -> Aligned {
    let mut out = Aligned::default();
    for e in adoptable.iter() {
        if let Some(b) = built_key(e, layout) {
            elsewhere.entry(b).or_insert_with(|| (false, e.dn.key()));
        }
    }
    if elsewhere.is_empty() {
        out.left_alone = adoptable.len() as u64;
        return out;
    }
    let mut moved_dns = false;
    for d in desired.iter_mut() {
        if !(d.kind.is_person() || d.kind == EntryKind::Structure) {
            continue;
        }
        let built = d.entry.dn.key();
        if managed.contains_key(&built) {
            continue;
        }
        let Some((was_managed, key)) = elsewhere.remove(&built) else {
            continue;
        };
        let expired = |e: &crate::model::Entry| {
            layout.is_departed(&e.dn) && State::of(e).deadline.is_some_and(|d| now >= d)
        };
        if was_managed && managed.get(&key).is_some_and(expired) {
            continue;
        }
        if !was_managed {
            let needed = structural_needed(d.kind);
            let fits = adoptable
                .get(&key)
                .is_some_and(|e| needed.iter().any(|c| e.has_value("objectClass", c)));
            if !fits {
                // left alone; the record is left out rather than created
                // beside it (two entries with one jointure)
                out.unadoptable.insert(
                    built,
                    format!(
                        "the existing tree holds this {} under another DN (same jointure), \
                         but its structural object class is not {}: LDAP cannot change an \
                         entry's structural class, so it cannot be adopted; left out, with \
                         every link to it, until that entry is recreated with that class or \
                         removed",
                        d.kind.as_str(),
                        needed.join(" or ")
                    ),
                );
                continue;
            }
        }
        let entry = if was_managed {
            managed.swap_remove(&key)
        } else {
            *out.adopted.entry(d.kind.as_str().to_string()).or_default() += 1;
            adoptable.swap_remove(&key)
        };
        let Some(mut entry) = entry else { continue };
        if layout.is_departed(&entry.dn) {
            // back from the departed branch, to the DN it had: its home in
            // the existing tree when it was adopted there, else the
            // layout's
            let home = entry
                .first(ATTR_HOME)
                .map(Dn::new)
                .filter(|h| !layout.is_departed(h));
            let to = home.unwrap_or_else(|| d.entry.dn.clone());
            let change = Change::Move {
                dn: entry.dn.clone(),
                to: to.clone(),
            };
            out.moves.push(Planned {
                kind: d.kind,
                phase: phase(d.kind, &change),
                change,
            });
            out.returned += 1;
            entry.dn = to.clone();
            if to.key() != built {
                out.redirect.insert(built, to.clone());
                d.entry.dn = to.clone();
                moved_dns = true;
            }
            managed.insert(entry);
        } else {
            // adopted where it is
            if key != built {
                out.redirect.insert(built, entry.dn.clone());
                d.entry.dn = entry.dn.clone();
                moved_dns = true;
            }
            managed.insert(entry);
        }
    }
    out.left_alone = adoptable.len() as u64;
    if moved_dns {
        desired.sort_by_cached_key(|d| d.entry.dn.key());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_entry;

    fn person(dn: &str, id: &str) -> crate::model::Entry {
        test_entry(
            dn,
            &[
                ("objectClass", &["ENTPerson", "ENTEleve"]),
                ("ENTPersonJointure", &[&format!("S${id}")]),
            ],
        )
    }

    fn desired(l: &Layout, id: &str) -> Desired {
        Desired {
            kind: EntryKind::Pupil,
            id: id.into(),
            entry: person(l.person_dn(id).as_str(), id),
        }
    }

    #[test]
    fn departed_people_come_back_and_foreign_dns_are_adopted_where_they_are() {
        let l = Layout::new("dc=x", "S");
        let mut managed = EntryMap::new();
        let gone = l.departed_dn(&l.person_dn("1"), "1");
        managed.insert(person(gone.as_str(), "1"));
        let mut adoptable = EntryMap::new();
        let esco = "uid=F17abc,ou=people,dc=x";
        adoptable.insert(person(esco, "2"));
        let other = "uid=F17zzz,ou=people,dc=x";
        adoptable.insert(person(other, "3"));
        let mut d = vec![desired(&l, "1"), desired(&l, "2")];
        d.sort_by_key(|x| x.entry.dn.key());
        let a = align(
            &mut d,
            &mut managed,
            &mut adoptable,
            &l,
            time::macros::date!(2026 - 01 - 01),
            false,
        );
        assert_eq!(a.returned, 1);
        assert_eq!(a.moves.len(), 1);
        let Change::Move { dn, to } = &a.moves[0].change else {
            panic!()
        };
        assert_eq!((dn, to), (&gone, &l.person_dn("1")));
        assert!(managed.contains_key(&l.person_dn("1").key()));
        // adopted at its own DN, links redirected there
        assert_eq!(a.adopted.get("Eleve"), Some(&1));
        assert!(d.iter().any(|x| x.entry.dn.as_str() == esco));
        assert_eq!(a.redirect[&l.person_dn("2").key()].as_str(), esco);
        assert!(managed.contains_key(&crate::model::dn_key(esco)));
        // the one the extraction does not carry is left alone
        assert_eq!(a.left_alone, 1);
        assert!(d
            .windows(2)
            .all(|w| w[0].entry.dn.key() <= w[1].entry.dn.key()));
    }
}
