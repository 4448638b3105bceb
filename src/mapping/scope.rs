//! Which directory entries a Delta can change (issue 23: a day's Delta
//! costs what it changes, not what the directory holds).
//!
//! A Delta names a few hundred people; the rest of an académie's directory
//! keeps its records, so mapping them again gives their entries back
//! unchanged (the inverse rebuild is exact, `tests/delta_view.rs`). Only
//! the entries whose desired state depends on a named record are worth
//! mapping, and that set is closed by the mapper's own rules:
//!
//! - a named person, and every person tied to them by a link, either way
//!   (a pupil's parents, a parent's pupils, and theirs in turn: a parent is
//!   kept while one kept pupil names them, so all their pupils decide);
//! - every class and group that lists one of them now, or that one of
//!   their new records names (its member list is rebuilt from all its
//!   members' records: those records are mapped too, their own entries
//!   left as they are);
//! - every structure (few, and the perimeter needs them all).
//!
//! Everything else is *untouched*: active, not mapped, not diffed, never a
//! departure. Departed entries always go through the diff, so the
//! retention deadlines are decided as in a full plan. A Delta that deletes
//! a structure or changes its UAI or 2D labels, or whose people are tied to
//! others past 16 links, is planned in full ([`scope`] says why), and so is
//! one whose records make a class the directory does not hold (the run's
//! `narrow` finds it once mapped). Pure: the directory as read comes in.

use super::attrs::{DN_PREFIXED, DN_VALUED};
use super::inverse;
use super::layout::Layout;
use crate::aaf::Record;
use crate::model::{dn_key, value_key, Entry, EntryMap};
use crate::schema::{EntryKind, State};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A person or structure: its kind and AAF id.
pub type Who = (EntryKind, String);

/// The part of the directory a Delta is planned over.
#[derive(Debug, Default)]
pub struct Scope {
    /// DN keys of the directory entries computed again: the people of
    /// [`Scope::people`] the directory holds, their classes and groups,
    /// every structure.
    pub touched: HashSet<String>,
    /// The people whose entries are computed again.
    pub people: HashSet<Who>,
    /// The records the mapper is given besides the structures: the people
    /// above and every member of their classes and groups.
    pub inputs: HashSet<Who>,
    /// Active people whose records are not mapped, by kind (a whole plan
    /// maps them: the rails count them as mapped).
    pub unmapped: BTreeMap<EntryKind, u64>,
    /// Active people in the directory, all told.
    pub people_total: u64,
    /// Active people of the tree this scope was computed over, by kind
    /// (a targeted read's tree holds part of the directory's).
    pub active_read: BTreeMap<EntryKind, u64>,
}

impl Scope {
    /// True when `key`'s entry, active, is left as it is.
    pub fn leaves(&self, key: &str, e: &Entry) -> bool {
        !self.touched.contains(key)
            && EntryKind::of(e).is_some_and(|k| k.is_person() || k.is_group())
            && !State::of(e).departed()
    }
}

/// The links an entry holds: the values of the attributes holding DNs,
/// or DNs before a `$`.
pub fn refs(e: &Entry) -> impl Iterator<Item = &str> {
    DN_VALUED
        .iter()
        .chain(DN_PREFIXED.iter())
        .filter_map(|a| e.get(a))
        .flat_map(|vs| vs.iter())
        .map(|v| v.split('$').next().unwrap_or(v))
}

/// A set of DN keys, with a cheap first look: the first RDN's value, as
/// `caseIgnoreMatch` sees it (a DN written with escapes, quotes or the
/// characters a key escapes is always looked at in full).
#[derive(Default)]
struct Keys {
    keys: HashSet<String>,
    firsts: HashSet<String>,
}

fn first_value(dn: &str) -> Option<String> {
    let (_, rest) = dn.split_once('=')?;
    let v = rest.split([',', ';']).next().unwrap_or(rest);
    // as `dn_key` sees it: Unicode lower case, NFKC, blanks collapsed (an
    // ASCII-only lower-casing misses `É` against the key's `é`)
    Some(value_key(v).into_owned())
}

impl Keys {
    fn insert(&mut self, key: &str) -> bool {
        if let Some(f) = first_value(key) {
            self.firsts.insert(f);
        }
        self.keys.insert(key.to_string())
    }
    fn contains_key(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
    /// The key of `dn` when it is in the set.
    fn holds(&self, dn: &str) -> Option<String> {
        // a key escapes these: its first value is not the one written
        let plain = !dn.contains(['\\', '"', '+', '<', '>', ';', '#', '\0']);
        if plain && !first_value(dn).is_some_and(|f| self.firsts.contains(&f)) {
            return None;
        }
        let k = dn_key(dn);
        self.keys.contains(&k).then_some(k)
    }
}

/// A structure a Delta adds or changes: planned targeted when it stays in
/// or out of the perimeter as it was (same UAI) and keeps its 2D class and
/// group labels (the classes take them). Everything else depends on a
/// structure's people or classes only through its DN, which its id makes.
/// A structure the Delta deletes, or that changes its UAI or labels,
/// needs the whole tree.
fn structure_stays(now: Option<&Entry>, rec: Option<&Record>) -> Result<(), Whole> {
    let Some(rec) = rec else {
        return Err("the Delta deletes a structure".into());
    };
    let Some(e) = now else {
        return Ok(()); // a new structure: no one refers to it yet
    };
    if State::of(e).departed() {
        return Err("the Delta names a departed structure".into());
    }
    let set = |vs: Vec<&str>| -> std::collections::BTreeSet<String> {
        vs.into_iter()
            .map(|v| value_key(v).into_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    for attr in [
        "ENTStructureUAI",
        "ENTStructureClasses",
        "ENTStructureGroupes",
    ] {
        let was = set(e.get(attr).map(|v| v.iter().collect()).unwrap_or_default());
        if was != set(rec.values(attr)) {
            return Err(format!("the Delta changes a structure's {attr}"));
        }
    }
    Ok(())
}

/// What a record of a Delta may name: the first field of each value (a
/// person's id, a structure's), and (structure id, code key) of each
/// later field (a class or a group). More than it names, never less.
pub fn record_refs(rec: &Record) -> (Vec<&str>, Vec<(String, String)>) {
    let mut ids = Vec::new();
    let mut codes = Vec::new();
    for v in rec.attrs.iter().flat_map(|a| &a.values) {
        let mut parts = v.split('$').map(str::trim);
        let first = parts.next().unwrap_or_default();
        if first.is_empty() {
            continue;
        }
        ids.push(first);
        for p in parts.filter(|p| !p.is_empty()) {
            codes.push((first.to_string(), value_key(p).into_owned()));
        }
    }
    (ids, codes)
}

/// What a targeted read of the directory starts from (see
/// `ldap::targeted`): the ids a Delta names or may name, and the classes
/// and groups its records may name.
#[derive(Debug, Default, Clone)]
pub struct Wanted {
    pub ids: std::collections::BTreeSet<String>,
    pub codes: std::collections::BTreeSet<(String, String)>,
    /// Birth dates (as written) of the pupils who may have come of age
    /// since the last Complet, where the schema fills `ENTEleveMajeur`.
    pub births: Vec<String>,
}

impl Wanted {
    /// Adds a person's record of the Delta (any operation).
    pub fn add(&mut self, rec: &Record) {
        self.ids.insert(rec.id.clone());
        let (ids, codes) = record_refs(rec);
        self.ids.extend(ids.into_iter().map(str::to_string));
        self.codes.extend(codes);
    }
}

/// Why a Delta is planned over the whole tree.
pub type Whole = String;

/// The scope of a Delta over `current`: `named` are the people and
/// structures it adds, modifies or deletes, with their new record (none
/// for a delete); `by_id` finds a managed entry, active or departed, by
/// kind and id; `dated` tells an entry whose desired state changes with the
/// run date alone (a pupil come of age, where the directory's schema fills
/// `ENTEleveMajeur`): those are in the scope too.
pub fn scope<'e>(
    current: &'e EntryMap,
    layout: &Layout,
    named: &[(EntryKind, &str, Option<&Record>)],
    by_id: impl Fn(EntryKind, &str) -> Option<&'e Entry>,
    dated: impl Fn(&Entry) -> bool,
) -> Result<Scope, Whole> {
    for (kind, id, rec) in named {
        if *kind == EntryKind::Structure {
            structure_stays(by_id(*kind, id), *rec)?;
        }
    }
    let mut s = Scope::default();
    let mut keys = Keys::default();
    let mut queue: Vec<&Entry> = Vec::new();
    // (structure id, code key) of classes and groups the new records name
    let mut codes: HashSet<(String, String)> = HashSet::new();
    let add = |s: &mut Scope, keys: &mut Keys, queue: &mut Vec<&'e Entry>, e: &'e Entry| {
        let key = e.dn.key();
        if keys.contains_key(&key) {
            return;
        }
        let Some(kind) = EntryKind::of(e).filter(|k| k.is_person()) else {
            return;
        };
        if let Some(id) = inverse::id_of(kind, e, layout) {
            s.people.insert((kind, id.to_string()));
        }
        keys.insert(&key);
        queue.push(e);
    };
    for (kind, id, rec) in named {
        s.people.insert((*kind, id.to_string()));
        if let Some(e) = by_id(*kind, id) {
            add(&mut s, &mut keys, &mut queue, e);
        }
        if let Some(rec) = rec {
            let (ids, named_codes) = record_refs(rec);
            // any value may be a person's id (a pupil's parents): taking
            // one too many only maps one more record
            for first in ids {
                for k in [EntryKind::Pupil, EntryKind::Parent, EntryKind::Staff] {
                    if let Some(e) = by_id(k, first) {
                        add(&mut s, &mut keys, &mut queue, e);
                    }
                }
            }
            codes.extend(named_codes);
        }
    }
    for e in current.values() {
        if dated(e) {
            add(&mut s, &mut keys, &mut queue, e);
        }
    }
    // a departure half done: a run killed between a person's departure
    // (their entry marked) and its move to the departed branch with their
    // ties' update left them marked where they were, still tied to active
    // people (a Delta deleting them again counts them as already departed,
    // and names nobody); a whole plan finishes it, and departs a parent
    // whose last pupil it was. Only there: a departed person in the
    // departed branch keeps their ties (to come back) and is no reason to
    // plan the people they are tied to (a targeted read did not follow
    // those people's ties)
    let departed_branch = layout.branches()[3].1.key();
    for e in current.values() {
        let departed_person = EntryKind::of(e).is_some_and(EntryKind::is_person)
            && State::of(e).departed()
            && crate::model::split_first_rdn(e.dn.as_str())
                .is_some_and(|(_, _, parent)| dn_key(parent) != departed_branch);
        if departed_person
            && refs(e).any(|r| {
                current.get(&dn_key(r)).is_some_and(|t| {
                    EntryKind::of(t).is_some_and(EntryKind::is_person) && !State::of(t).departed()
                })
            })
        {
            add(&mut s, &mut keys, &mut queue, e);
        }
    }
    // people tied to people, either way, until nothing is added
    for _round in 0..16 {
        while let Some(e) = queue.pop() {
            for r in refs(e) {
                if let Some(t) = current.get(&dn_key(r)) {
                    add(&mut s, &mut keys, &mut queue, t);
                }
            }
        }
        for e in current.values() {
            if EntryKind::of(e).is_some_and(EntryKind::is_person)
                && refs(e).any(|r| keys.holds(r).is_some())
            {
                add(&mut s, &mut keys, &mut queue, e);
            }
        }
        if queue.is_empty() {
            break;
        }
    }
    if !queue.is_empty() {
        return Err("the people the Delta names are tied to too many others".into());
    }
    // structure DN key → id, for the classes the records name
    let mut sid_of: HashMap<String, &str> = HashMap::new();
    for (k, e) in current {
        if EntryKind::of(e) == Some(EntryKind::Structure) {
            if let Some(id) = inverse::id_of(EntryKind::Structure, e, layout) {
                sid_of.insert(k.clone(), id);
            }
            s.touched.insert(k.clone());
        }
    }
    for (k, g) in current {
        if !EntryKind::of(g).is_some_and(EntryKind::is_group) {
            continue;
        }
        let members = g.get("member").unwrap_or_default();
        let named_code = || {
            let sid = g
                .first("aafSyncStructure")
                .and_then(|d| sid_of.get(&dn_key(d)));
            let code = g.first("aafSyncCode").map(|c| value_key(c).into_owned());
            match (sid, code) {
                (Some(sid), Some(code)) => codes.contains(&(sid.to_string(), code)),
                _ => false,
            }
        };
        if !(members.iter().any(|m| keys.holds(m).is_some()) || named_code()) {
            continue;
        }
        s.touched.insert(k.clone());
        for m in members.iter() {
            let Some(e) = current.get(&dn_key(m)) else {
                continue;
            };
            if let Some(kind) = EntryKind::of(e).filter(|k| k.is_person()) {
                if let Some(id) = inverse::id_of(kind, e, layout) {
                    s.inputs.insert((kind, id.to_string()));
                }
            }
        }
    }
    s.touched.extend(keys.keys);
    s.inputs.extend(s.people.iter().cloned());
    for (k, e) in current {
        let Some(kind) = EntryKind::of(e) else {
            continue;
        };
        if !kind.is_person() || State::of(e).departed() {
            continue;
        }
        s.people_total += 1;
        *s.active_read.entry(kind).or_default() += 1;
        let mapped = !s.leaves(k, e)
            || inverse::id_of(kind, e, layout)
                .is_some_and(|id| s.inputs.contains(&(kind, id.to_string())));
        if !mapped {
            *s.unmapped.entry(kind).or_default() += 1;
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_find_a_dn_written_otherwise_than_its_key() {
        let mut k = Keys::default();
        for dn in [
            "uid=AC-CRETEIL-ÉLÈVE1,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-A  B,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-X\\<Y,ou=people,dc=example,dc=org",
            "uid=\\#AC,ou=people,dc=example,dc=org",
        ] {
            k.insert(&dn_key(dn));
        }
        for dn in [
            "uid=AC-CRETEIL-ÉLÈVE1,ou=people,dc=example,dc=org",
            "uid=ac-creteil-élève1,ou=People,dc=example,dc=org",
            // decomposed É: the same value to the directory
            "uid=AC-CRETEIL-E\u{301}LE\u{300}VE1,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-A B,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-a   b,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-X\\<Y,ou=people,dc=example,dc=org",
            "uid=\\#AC,ou=people,dc=example,dc=org",
        ] {
            assert!(k.holds(dn).is_some(), "{dn}");
        }
        assert!(k
            .holds("uid=AC-CRETEIL-ÉLÈVE2,ou=people,dc=example,dc=org")
            .is_none());
    }
}
