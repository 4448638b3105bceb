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
//!   their new records names: patched from its entry where the Delta's
//!   people write it as the entry has it (a [`Patch`]), else rebuilt from
//!   all its members' records (those records are mapped too, their own
//!   entries left as they are; a targeted read reads them then);
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
use super::keys::Keys;
use super::layout::{GroupKind, Layout};
use super::links::{classes_named, ClassKey};
use crate::aaf::degree::Degree;
use crate::aaf::Record;
use crate::model::{dn_key, value_key, Entry, EntryMap};
use crate::schema::{EntryKind, State};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A person or structure: its kind and the matching form of its AAF id
/// (see [`who`]).
pub type Who = (EntryKind, String);

/// The [`Who`] of `kind`'s `id` in any spelling: ids are matched as the
/// directory matches them (`caseIgnoreMatch`, [`value_key`]), so a Delta
/// naming `ABC1` names the person whose entry is `abc1`.
pub fn who(kind: EntryKind, id: &str) -> Who {
    (kind, value_key(id).into_owned())
}

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
    /// The classes and groups computed again from their entry, by DN key
    /// (see [`Patch`]); the others the scope touches are rebuilt from all
    /// their members' records.
    pub patches: BTreeMap<String, Patch>,
    /// DNs of members of the classes and groups rebuilt from all their
    /// members' records that `current` does not hold (a targeted read
    /// reads them, then the scope is finished again: [`resume`]).
    pub missing: Vec<String>,
    /// Who the Delta touches, kept while members are missing: the read
    /// of those members adds no one to it, so [`resume`] only finishes the
    /// scope over the tree that holds them.
    again: Option<Box<Closure>>,
}

/// The first part of a [`Scope`]: the people the Delta touches and what
/// the classes are judged by. Over a tree that holds the members it
/// lacked, finishing it again gives what computing it whole would.
#[derive(Default)]
struct Closure {
    people: HashSet<Who>,
    /// DN keys of the structures.
    structures: HashSet<String>,
    keys: Keys,
    /// (structure id, code key) of classes and groups the records name.
    codes: HashSet<(String, String)>,
    /// Structure DN key → id.
    sid_of: HashMap<String, String>,
    rewrites: Rewrites,
}

impl std::fmt::Debug for Closure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closure")
            .field("people", &self.people.len())
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// A class or group the Delta touches whose member list, code and label
/// are its entry's, with the Delta's people put in or taken out: its
/// other members' records are not needed. A whole plan rebuilds a class
/// from every member's record: the members in file order (pupils, then
/// staff, each by id), the code as they write it (the smallest spelling),
/// the label the smallest a pupil gives, else a teacher (1D; a 2D label
/// is the school's), in whatever order the records come. Those
/// stay the entry's when each person the Delta names who writes the class
/// otherwise than before now writes it with the entry's code and with its
/// label or none, and no one named leaves it or stops giving a label (the
/// leaver may be the one whose spelling or label the class has: only all
/// the records tell). The records mapped then put their people in, never
/// their label (a pupil the Delta does not change may write another).
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub key: ClassKey,
    /// The school's id and the code as the entry has them.
    pub sid: String,
    pub code: String,
    /// 1D: the entry's label.
    pub label: Option<String>,
    /// Ids of the members whose records are not mapped, as listed.
    pub others: Vec<String>,
    /// DN keys of the scope's people the entry lists: their records name
    /// it again, or the patch does not hold (the plan is made again over
    /// the whole tree).
    pub stay: Vec<String>,
}

/// What a [`Scope`] decides, for comparing two ways of computing it.
pub type Decisions<'s> = (
    &'s HashSet<Who>,
    &'s HashSet<Who>,
    &'s HashSet<String>,
    &'s BTreeMap<String, Patch>,
    &'s [String],
    u64,
);

impl Scope {
    /// Who is computed again, from which records, which entries and
    /// classes are touched and how, and what is missing.
    pub fn decisions(&self) -> Decisions<'_> {
        (
            &self.people,
            &self.inputs,
            &self.touched,
            &self.patches,
            &self.missing,
            self.people_total,
        )
    }

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

/// The fields of a person's record that name other people (a pupil's
/// parents, a parent's pupils), either degree: the first field of each
/// value is an id.
const PEOPLE_FIELDS: [&str; 4] = [
    "ENTEleveAutoriteParentale",
    "ENTElevePersRelEleve",
    "ENTPersRelEleveEleve",
    "ENTAuxPersRelEleveEleve",
];

impl Wanted {
    /// Adds a person's record of the Delta (any operation) of `degree`:
    /// its id, the people and the classes and groups it names (the
    /// mapper reads no other field as a reference; every id of
    /// [`record_refs`] was a search, names and dates included).
    pub fn add(&mut self, degree: Degree, rec: &Record) {
        self.ids.insert(rec.id.clone());
        for v in PEOPLE_FIELDS.iter().flat_map(|a| rec.values(a)) {
            let id = v.split('$').next().unwrap_or(v).trim();
            if !id.is_empty() {
                self.ids.insert(id.to_string());
            }
        }
        // the school id as written (the key's is lower case), the code
        // in its matching form, as the cn search takes them
        for ((_, _, code), n) in classes_named(degree, rec, |_| true).into_iter().flatten() {
            self.codes.insert((n.sid.to_string(), code));
        }
    }
}

/// Why a Delta is planned over the whole tree.
pub type Whole = String;

/// What the directory tells a [`scope`] besides its entries.
pub struct Lookups<ById, Old, Dated> {
    /// A managed entry, active or departed, by kind and id.
    pub by_id: ById,
    /// The directory's record of a person (before the Delta).
    pub old_record: Old,
    /// An entry whose desired state changes with the run date alone (a
    /// pupil come of age, where the directory's schema fills
    /// `ENTEleveMajeur`): those are in the scope too.
    pub dated: Dated,
}

/// How the people a Delta names write each class and group, before and
/// after: the classes someone leaves, and how the others now write the
/// classes they join or write otherwise.
#[derive(Default)]
struct Rewrites {
    left: HashSet<ClassKey>,
    now: HashMap<ClassKey, Vec<(String, Option<String>)>>,
}

impl Rewrites {
    fn of(
        degree: Degree,
        named: &[(EntryKind, &str, Option<&Record>)],
        old_record: impl Fn(EntryKind, &str) -> Option<Record>,
    ) -> Rewrites {
        let mut out = Rewrites::default();
        let written = |rec: Option<&Record>| -> HashMap<ClassKey, (String, Option<String>)> {
            rec.into_iter()
                .flat_map(|r| classes_named(degree, r, |_| true))
                .filter_map(Result::ok)
                .map(|(k, n)| (k, (n.code.to_string(), n.label.map(str::to_string))))
                .collect()
        };
        for (kind, id, rec) in named {
            if !kind.is_person() {
                continue;
            }
            let was = written(old_record(*kind, id).as_ref());
            let now = written(*rec);
            // leaving, or no longer giving a label: theirs may be the one
            // the class has
            for (k, (_, label)) in &was {
                let dropped = now
                    .get(k)
                    .is_none_or(|(_, l)| label.is_some() && l.is_none());
                if dropped {
                    out.left.insert(k.clone());
                }
            }
            for (k, n) in now {
                if was.get(&k) != Some(&n) {
                    out.now.entry(k).or_default().push(n);
                }
            }
        }
        out
    }

    /// Whether the class `key` whose entry has `code` and `label` keeps
    /// them (see [`Patch`]).
    fn keeps(&self, key: &ClassKey, code: &str, label: Option<&str>) -> bool {
        !self.left.contains(key)
            && self
                .now
                .get(key)
                .into_iter()
                .flatten()
                .all(|(c, l)| c == code && (l.is_none() || l.as_deref() == label))
    }
}

/// The scope of a Delta over `current`, a tree of `degree`: `named` are
/// the people and structures it adds, modifies or deletes, with their new
/// record (none for a delete); `look` finds what the directory says of
/// them. `partial`: `current` is part of the directory (a targeted read),
/// whose class members are not all there, with the DN keys that read
/// looked for and did not find (asked for again, they would not be
/// there either).
pub fn scope<'e, ById, Old, Dated>(
    current: &'e EntryMap,
    layout: &Layout,
    degree: Degree,
    named: &[(EntryKind, &str, Option<&Record>)],
    look: Lookups<ById, Old, Dated>,
    partial: Option<&HashSet<String>>,
) -> Result<Scope, Whole>
where
    ById: Fn(EntryKind, &str) -> Option<&'e Entry>,
    Old: Fn(EntryKind, &str) -> Option<Record>,
    Dated: Fn(&Entry) -> bool,
{
    let Lookups {
        by_id,
        old_record,
        dated,
    } = look;
    for (kind, id, rec) in named {
        if *kind == EntryKind::Structure {
            structure_stays(by_id(*kind, id), *rec)?;
        }
    }
    let mut s = Closure::default();
    let mut keys = Keys::default();
    let mut queue: Vec<&Entry> = Vec::new();
    // (structure id, code key) of classes and groups the new records name
    let mut codes: HashSet<(String, String)> = HashSet::new();
    let add = |s: &mut Closure, keys: &mut Keys, queue: &mut Vec<&'e Entry>, e: &'e Entry| {
        let key = e.dn.key();
        if keys.contains_key(&key) {
            return;
        }
        let Some(kind) = EntryKind::of(e).filter(|k| k.is_person()) else {
            return;
        };
        if let Some(id) = inverse::id_of(kind, e, layout) {
            s.people.insert(who(kind, id));
        }
        keys.insert(&key);
        queue.push(e);
    };
    for (kind, id, rec) in named {
        s.people.insert(who(*kind, id));
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
    for e in current {
        if EntryKind::of(e) == Some(EntryKind::Structure) {
            let k = &e.dn.key();
            if let Some(id) = inverse::id_of(EntryKind::Structure, e, layout) {
                s.sid_of.insert(k.clone(), id.to_string());
            }
            s.structures.insert(k.clone());
        }
    }
    // a departed person is in no class: coming back, they join
    s.rewrites = Rewrites::of(degree, named, |k, id| {
        by_id(k, id)
            .filter(|e| !State::of(e).departed())
            .and_then(|_| old_record(k, id))
    });
    s.keys = keys;
    s.codes = codes;
    Ok(finish(s, current, layout, degree, partial))
}

/// [`Scope`] `s` finished again over `current`, which now holds the
/// members it lacked (or says they are absent: `partial`). `None` when
/// one of them would join the people the Delta touches (tied to one of
/// them otherwise than by the links the targeted read follows back,
/// `dated`, or departed half-way): only [`scope`] over `current` then
/// says who they are.
pub fn resume(
    mut s: Scope,
    current: &EntryMap,
    layout: &Layout,
    degree: Degree,
    partial: Option<&HashSet<String>>,
    dated: impl Fn(&Entry) -> bool,
) -> Option<Scope> {
    let Some(c) = s.again.take() else {
        return Some(s);
    };
    let departed_branch = layout.branches()[3].1.key();
    let joins = |e: &Entry| {
        let away = || {
            State::of(e).departed()
                && crate::model::split_first_rdn(e.dn.as_str())
                    .is_some_and(|(_, _, parent)| dn_key(parent) != departed_branch)
        };
        EntryKind::of(e).is_some_and(EntryKind::is_person)
            && (dated(e) || away() || refs(e).any(|r| c.keys.holds(r).is_some()))
    };
    let read = s.missing.iter().filter_map(|m| current.get(&dn_key(m)));
    for e in read {
        if joins(e) {
            return None;
        }
    }
    Some(finish(*c, current, layout, degree, partial))
}

/// The classes and groups the people of `c` touch, patched or rebuilt
/// (with the members whose records rebuild them), and the counts.
fn finish(
    c: Closure,
    current: &EntryMap,
    layout: &Layout,
    degree: Degree,
    partial: Option<&HashSet<String>>,
) -> Scope {
    let mut s = Scope {
        people: c.people.clone(),
        touched: c.structures.clone(),
        ..Scope::default()
    };
    let (keys, codes, rewrites) = (&c.keys, &c.codes, &c.rewrites);
    // the classes and groups rebuilt from all their members' records
    let mut rebuilt: Vec<&Entry> = Vec::new();
    let mut patched: Vec<(String, &Entry, Patch)> = Vec::new();
    for g in current {
        let Some(kind) = EntryKind::of(g).filter(|k| k.is_group()) else {
            continue;
        };
        let k = &g.dn.key();
        let members = g.get("member").unwrap_or_default();
        let sid = g
            .first("aafSyncStructure")
            .and_then(|d| c.sid_of.get(&dn_key(d)).map(String::as_str));
        let code = g.first("aafSyncCode");
        let key = sid.zip(code).map(|(sid, code)| {
            let gk = if kind == EntryKind::Classe {
                GroupKind::Classe
            } else {
                GroupKind::Groupe
            };
            (
                gk,
                value_key(sid).into_owned(),
                value_key(code).into_owned(),
            )
        });
        let named_code = key
            .as_ref()
            .is_some_and(|(_, sid, code)| codes.contains(&(sid.clone(), code.clone())));
        if !(members.iter().any(|m| keys.holds(m).is_some()) || named_code) {
            continue;
        }
        s.touched.insert(k.clone());
        let label = (degree == Degree::OneD)
            .then(|| g.first("description").map(str::to_string))
            .flatten();
        let patch = match (key, sid, code) {
            (Some(key), Some(sid), Some(code)) if rewrites.keeps(&key, code, label.as_deref()) => {
                Some(Patch {
                    key,
                    sid: sid.to_string(),
                    code: code.to_string(),
                    label,
                    others: Vec::new(),
                    stay: Vec::new(),
                })
            }
            _ => None,
        };
        // a member at a DN of its own (an adopted tree's) is found by
        // its entry only
        let patch = patch.filter(|_| {
            members
                .iter()
                .all(|m| keys.holds(m).is_some() || layout.id_of_person_dn(m).is_some())
        });
        match patch {
            Some(p) => patched.push((k.clone(), g, p)),
            None => rebuilt.push(g),
        }
    }
    for g in rebuilt {
        for m in g.get("member").unwrap_or_default().iter() {
            let key = dn_key(m);
            let Some(e) = current.get(&key) else {
                if partial.is_some_and(|absent| !absent.contains(&key)) {
                    s.missing.push(m.to_string());
                }
                continue;
            };
            if let Some(kind) = EntryKind::of(e).filter(|k| k.is_person()) {
                if let Some(id) = inverse::id_of(kind, e, layout) {
                    s.inputs.insert(who(kind, id));
                }
            }
        }
    }
    s.missing.sort();
    s.missing.dedup();
    s.inputs.extend(s.people.iter().cloned());
    let input_ids: HashSet<&str> = s.inputs.iter().map(|(_, id)| id.as_str()).collect();
    let mut patches = BTreeMap::new();
    for (k, g, mut p) in patched {
        for m in g.get("member").unwrap_or_default().iter() {
            if let Some(key) = keys.holds(m) {
                p.stay.push(key);
                continue;
            }
            let Some(id) = layout.id_of_person_dn(m) else {
                continue;
            };
            // over the whole tree, a member the tree does not hold (or
            // holds departed) has no record: a whole plan drops it too
            let held = partial.is_some()
                || current.get(&dn_key(m)).is_some_and(|e| {
                    EntryKind::of(e).is_some_and(EntryKind::is_person) && !State::of(e).departed()
                });
            // (a member whose record is mapped puts itself in)
            if held && !input_ids.contains(value_key(&id).as_ref()) {
                p.others.push(id);
            }
        }
        patches.insert(k, p);
    }
    drop(input_ids);
    s.patches = patches;
    s.touched.extend(keys.iter().cloned());
    for e in current {
        let Some(kind) = EntryKind::of(e) else {
            continue;
        };
        if !kind.is_person() || State::of(e).departed() {
            continue;
        }
        let k = &e.dn.key();
        s.people_total += 1;
        *s.active_read.entry(kind).or_default() += 1;
        let mapped = !s.leaves(k, e)
            || inverse::id_of(kind, e, layout).is_some_and(|id| s.inputs.contains(&who(kind, id)));
        if !mapped {
            *s.unmapped.entry(kind).or_default() += 1;
        }
    }
    if !s.missing.is_empty() {
        s.again = Some(Box::new(c));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aaf::reader::RecordAttr;
    use crate::aaf::{FileCategory, Operation};

    fn pupil(id: &str, attrs: &[(&str, &[&str])]) -> Record {
        Record {
            op: Operation::Add,
            category: FileCategory::Eleve,
            id: id.into(),
            attrs: attrs
                .iter()
                .map(|(n, vs)| RecordAttr {
                    name: n.to_string(),
                    values: vs.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
            index: 1,
        }
    }

    #[test]
    fn wanted_takes_the_people_and_classes_a_record_names_not_its_names() {
        let rec = pupil(
            "1001",
            &[
                ("ENTPersonNom", &["2002"]),
                ("ENTEleveAutoriteParentale", &["2001$10"]),
                ("ENTPersonClasses", &["100$1$1$CP A$Cours préparatoire"]),
            ],
        );
        let mut w = Wanted::default();
        w.add(Degree::OneD, &rec);
        assert_eq!(
            w.ids.iter().map(String::as_str).collect::<Vec<_>>(),
            ["1001", "2001"]
        );
        assert_eq!(
            w.codes.into_iter().collect::<Vec<_>>(),
            [("100".to_string(), "cp a".to_string())]
        );
    }

    #[test]
    fn a_class_keeps_its_code_and_label_unless_a_named_person_leaves_or_rewrites_it() {
        let class = |code: &str, label: &str| format!("100$1$1${code}${label}");
        let (a, b) = (class("CPA", "CP A"), class("CPA", "CP-A"));
        let key = (GroupKind::Classe, "100".to_string(), "cpa".to_string());
        let was = pupil("1", &[("ENTPersonClasses", &[&a])]);
        let old = |_: EntryKind, _: &str| Some(was.clone());
        let keeps = |now: Option<&Record>, code: &str| {
            let named = [(EntryKind::Pupil, "1", now)];
            Rewrites::of(Degree::OneD, &named, old).keeps(&key, code, Some("CP A"))
        };
        // the same value, or another field changed: kept
        assert!(keeps(
            Some(&pupil("1", &[("ENTPersonClasses", &[&a])])),
            "CPA"
        ));
        // unchanged, whatever the entry's spelling (not the named
        // person's doing)
        assert!(keeps(
            Some(&pupil("1", &[("ENTPersonClasses", &[&a])])),
            "cpa"
        ));
        // another label
        assert!(!keeps(
            Some(&pupil("1", &[("ENTPersonClasses", &[&b])])),
            "CPA"
        ));
        // leaving the class, or deleted
        assert!(!keeps(Some(&pupil("1", &[])), "CPA"));
        assert!(!keeps(None, "CPA"));
        // no longer giving a label: theirs may have been the class's
        let unlabelled = pupil("1", &[("ENTPersonClasses", &[&class("CPA", "")])]);
        assert!(!keeps(Some(&unlabelled), "CPA"));
        // joining it with no label: kept
        let none = |_: EntryKind, _: &str| None;
        let named = [(
            EntryKind::Pupil,
            "2",
            Some(&pupil("2", &[("ENTPersonClasses", &["100$1$1$CPA$"])])),
        )];
        let named: Vec<_> = named
            .iter()
            .map(|(k, i, r)| (*k, *i, r.as_ref().copied()))
            .collect();
        assert!(Rewrites::of(Degree::OneD, &named, none).keeps(&key, "CPA", Some("CP A")));
        // joining it with its code in another case
        let cpa = pupil("2", &[("ENTPersonClasses", &[&class("cpa", "CP A")])]);
        let named = [(EntryKind::Pupil, "2", Some(&cpa))];
        assert!(!Rewrites::of(Degree::OneD, &named, none).keeps(&key, "CPA", Some("CP A")));
    }

    /// A school, pupils 1001 and 1002 in its class CPA (1001's parent
    /// 2001), and 1001 deleted by a Delta: CPA is rebuilt, 1002 missing
    /// from a targeted read's tree.
    fn class_left() -> (Layout, EntryMap, Entry) {
        use crate::model::test_entry;
        let l = Layout::new("dc=example,dc=org", "AC-CRETEIL");
        let (school, p1, p2, parent) = (
            l.structure_dn("100").to_string(),
            l.person_dn("1001").to_string(),
            l.person_dn("1002").to_string(),
            l.person_dn("2001").to_string(),
        );
        let class = l.class_dn(GroupKind::Classe, "100", "CPA").to_string();
        let mut current = EntryMap::new();
        for e in [
            test_entry(
                &school,
                &[
                    ("objectClass", &["ENTEtablissement"]),
                    ("ENTStructureJointure", &[&l.jointure("100")]),
                ],
            ),
            test_entry(
                &p1,
                &[
                    ("objectClass", &["ENTEleve"]),
                    ("ENTPersonJointure", &[&l.jointure("1001")]),
                    ("ENTEleveParents", &[&parent]),
                ],
            ),
            test_entry(
                &parent,
                &[
                    ("objectClass", &["ENTAuxPersRelEleve"]),
                    ("ENTPersonJointure", &[&l.jointure("2001")]),
                    ("ENTAuxPersRelEleveEleve", &[&p1]),
                ],
            ),
            test_entry(
                &class,
                &[
                    ("objectClass", &["ENTClasse"]),
                    ("member", &[p1.as_str(), p2.as_str()]),
                    ("aafSyncStructure", &[&school]),
                    ("aafSyncCode", &["CPA"]),
                ],
            ),
        ] {
            current.insert(e);
        }
        let member = test_entry(
            &p2,
            &[
                ("objectClass", &["ENTEleve"]),
                ("ENTPersonJointure", &[&l.jointure("1002")]),
            ],
        );
        (l, current, member)
    }

    fn scope_over(l: &Layout, current: &EntryMap, absent: &HashSet<String>) -> Scope {
        let named = [(EntryKind::Pupil, "1001", None)];
        let by_id = |k: EntryKind, id: &str| {
            current
                .values()
                .find(|e| EntryKind::of(*e) == Some(k) && inverse::id_of(k, e, l) == Some(id))
        };
        scope(
            current,
            l,
            Degree::OneD,
            &named,
            Lookups {
                by_id,
                old_record: |_: EntryKind, id: &str| {
                    (id == "1001").then(|| pupil(id, &[("ENTPersonClasses", &["100$1$1$CPA$"])]))
                },
                dated: |_: &Entry| false,
            },
            Some(absent),
        )
        .expect("targeted")
    }

    #[test]
    fn a_scope_finished_over_the_members_read_is_the_scope_computed_over_them() {
        let (l, mut current, member) = class_left();
        let none = HashSet::new();
        let first = scope_over(&l, &current, &none);
        assert_eq!(first.missing, [member.dn.to_string()]);
        assert!(first.patches.is_empty(), "1001 leaves CPA: rebuilt");
        current.insert(member.clone());
        let resumed = resume(first, &current, &l, Degree::OneD, Some(&none), |_| false)
            .expect("1002 is tied to no one the Delta touches");
        let whole = scope_over(&l, &current, &none);
        assert_eq!(resumed.decisions(), whole.decisions());
        assert!(resumed.inputs.contains(&(EntryKind::Pupil, "1002".into())));
        assert!(!resumed.people.contains(&(EntryKind::Pupil, "1002".into())));
        // a member the read did not find: absent, not missing again
        let (l, current, member) = class_left();
        let first = scope_over(&l, &current, &none);
        let absent: HashSet<String> = [member.dn.key()].into();
        let resumed = resume(first, &current, &l, Degree::OneD, Some(&absent), |_| false)
            .expect("nothing read");
        assert!(resumed.missing.is_empty());
        assert_eq!(
            resumed.decisions(),
            scope_over(&l, &current, &absent).decisions()
        );
    }

    #[test]
    fn a_member_read_tied_to_the_delta_s_people_sends_the_scope_back_whole() {
        let (l, mut current, mut member) = class_left();
        let none = HashSet::new();
        let first = scope_over(&l, &current, &none);
        // 1002 names 2001 (1001's parent) otherwise than by the links a
        // targeted read follows back: a whole scope computes 1002 again
        let parent = format!("{}$10", l.person_dn("2001"));
        member.add("ENTEleveAutoriteParentale", [parent.as_str()]);
        current.insert(member.clone());
        assert!(resume(first, &current, &l, Degree::OneD, Some(&none), |_| false).is_none());
        assert!(scope_over(&l, &current, &none)
            .people
            .contains(&(EntryKind::Pupil, "1002".into())));
        // come of age (a directory whose schema says so): the same
        let (l, mut current, member) = class_left();
        let first = scope_over(&l, &current, &none);
        current.insert(member);
        assert!(resume(first, &current, &l, Degree::OneD, Some(&none), |_| true).is_none());
    }
}
