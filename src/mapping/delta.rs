//! Delta extractions (spec §3, §7): the records of the directory, with a
//! Delta's requests played over them.
//!
//! The view starts as one record per active managed entry, rebuilt by
//! [`super::inverse`]; then, in file order, an `addRequest` replaces (or
//! creates) a record, a `modifyRequest` replaces the attributes it lists (a
//! lone empty value clears one), a `deleteRequest` removes the record. The
//! result goes through the same [`super::Mapper`] as a Complet, so links,
//! classes and the perimeter follow the same rules; and since every person
//! the Delta does not name keeps their record, a Delta never implies a
//! departure by absence. A departed person named by an add or a modify comes
//! back (restore); a modify of an id the directory does not hold is rejected (but for
//! a person in relation with the pupil: one linked to no kept pupil is not
//! held, and counted out of the perimeter).

use super::inverse::{self, category, member_class_lists};
use super::layout::Layout;
use super::perimeter::Perimeter;
use super::scope::Who;
use crate::aaf::degree::Degree;
use crate::aaf::reader::RecordAttr;
use crate::aaf::{FileCategory, Operation, Record, RecordError};
use crate::model::{value_key, Entry, EntryMap};
use crate::schema::EntryKind;
use crate::schema::State;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Requests of a Delta, per category.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeltaCounts {
    pub add: u64,
    pub modify: u64,
    pub delete: u64,
    /// Deletes of people already departed: nothing to do.
    pub delete_already_departed: u64,
    /// Deletes of ids the directory does not hold (never imported, or out
    /// of the perimeter): nothing to do.
    pub delete_unknown: u64,
    /// Modifies of people attached only to structures outside the
    /// perimeter, or of people in relation with no kept pupil.
    pub out_of_perimeter: u64,
    pub rejected: u64,
}

/// What a Delta asked, by category.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeltaStats {
    pub categories: BTreeMap<String, DeltaCounts>,
}

/// The directory's records with a Delta played over them.
///
/// Only the records the Delta names are held; the others are rebuilt from
/// their entries one at a time as [`Overlay::into_records`] hands them out
/// (on an académie, rebuilding every record up front took gigabytes).
pub struct Overlay<'p> {
    layout: &'p Layout,
    /// The degree of the source: which fields records are rebuilt with.
    degree: Degree,
    /// Class lists, from the class and group entries.
    lists: inverse::ClassLists,
    /// Ids of the entries held at another DN than the layout's.
    ids: inverse::Ids,
    /// Per category (import order): id → the entry, and whether departed.
    /// Ids here and in `changed` are matching forms ([`value_key`]): the
    /// directory matches them ignoring case, and so does a Delta naming
    /// `ABC1` the person whose entry is `abc1` (taken apart, the modify
    /// was rejected and the delete left them active).
    index: Vec<HashMap<Cow<'p, str>, (&'p Entry, bool)>>,
    /// Per category: the records the Delta added or changed (`Some`) or
    /// deleted (`None`).
    changed: Vec<HashMap<String, Option<Record>>>,
    perimeter_uai: &'p Perimeter,
    pub stats: DeltaStats,
}

fn slot(c: FileCategory) -> Option<usize> {
    FileCategory::IMPORTED.iter().position(|x| *x == c)
}

/// The kind of entry of the records of slot `i`.
fn kind_of_slot(i: usize) -> Option<EntryKind> {
    [
        EntryKind::Structure,
        EntryKind::Pupil,
        EntryKind::Parent,
        EntryKind::Staff,
    ]
    .into_iter()
    .find(|k| category(*k).and_then(slot) == Some(i))
}

/// Structure ids a person record refers to (either degree's fields).
fn structure_ids(rec: &Record) -> Vec<&str> {
    [Degree::OneD, Degree::TwoD]
        .iter()
        .flat_map(|d| super::school_fields(*d, rec.category))
        .chain(&["ENTPersonFonctions", "ENTPersonClasses", "ENTPersonGroupes"])
        .flat_map(|a| rec.values(a))
        .map(|v| v.split('$').next().unwrap_or(v))
        .collect()
}

/// The requests of a Delta played over the directory's records, apart
/// from the tree they were played over: kept while more of that tree is
/// read ([`Overlay::replay`]), instead of reading the files again.
#[derive(Debug)]
pub struct Played {
    changed: Vec<HashMap<String, Option<Record>>>,
    stats: DeltaStats,
}

impl<'p> Overlay<'p> {
    /// The requests played so far, for [`Overlay::replay`].
    pub fn into_played(self) -> Played {
        Played {
            changed: self.changed,
            stats: self.stats,
        }
    }

    /// The overlay of `played` over `current`, a tree that holds the one
    /// they were played over and entries the Delta does not name (class
    /// members read since): each named record was built from an entry of
    /// that first tree, which holds every person and structure the Delta
    /// names.
    pub fn replay(
        current: &'p EntryMap,
        layout: &'p Layout,
        perimeter: &'p Perimeter,
        degree: Degree,
        played: Played,
    ) -> Overlay<'p> {
        let mut o = Overlay::from_directory(current, layout, perimeter, degree);
        o.changed = played.changed;
        o.stats = played.stats;
        o
    }

    /// One record per managed structure and person of the directory.
    pub fn from_directory(
        current: &'p EntryMap,
        layout: &'p Layout,
        perimeter: &'p Perimeter,
        degree: Degree,
    ) -> Overlay<'p> {
        let n = FileCategory::IMPORTED.len();
        let ids = inverse::Ids::of(current, layout);
        let mut o = Overlay {
            layout,
            degree,
            lists: member_class_lists(current, layout, &ids, degree),
            ids,
            index: vec![HashMap::new(); n],
            changed: vec![HashMap::new(); n],
            perimeter_uai: perimeter,
            stats: DeltaStats::default(),
        };
        for e in current.values() {
            let Some(kind) = EntryKind::of(e) else {
                continue;
            };
            let Some(i) = category(kind).and_then(slot) else {
                continue;
            };
            let Some(id) = inverse::id_of(kind, e, layout) else {
                continue;
            };
            o.index[i].insert(value_key(id), (e, State::of(e).departed()));
        }
        o
    }

    /// The degree of the source.
    pub fn degree(&self) -> Degree {
        self.degree
    }

    /// `id` is a matching form (see [`Overlay::index`]).
    fn is_active(&self, i: usize, id: &str) -> bool {
        match self.changed[i].get(id) {
            Some(now) => now.is_some(),
            None => self.index[i].get(id).is_some_and(|(_, departed)| !departed),
        }
    }

    /// Departed in the directory, and not named by the Delta since (`id`
    /// a matching form).
    fn is_departed(&self, i: usize, id: &str) -> bool {
        !self.changed[i].contains_key(id)
            && self.index[i].get(id).is_some_and(|(_, departed)| *departed)
    }

    /// The directory's record of `id` (active or departed; any spelling).
    fn rebuild(&self, i: usize, id: &str) -> Option<Record> {
        let (e, _) = self.index[i].get(value_key(id).as_ref())?;
        self.record_of(i, e)
    }

    /// The record of entry `e` of slot `i`.
    fn record_of(&self, i: usize, e: &Entry) -> Option<Record> {
        inverse::record_of(
            kind_of_slot(i)?,
            e,
            self.layout,
            &self.ids,
            &self.lists,
            self.degree,
        )
    }

    /// Number of active structures: a Delta needs a Complet applied first.
    pub fn structures(&self) -> usize {
        slot(FileCategory::EtabEducNat).map_or(0, |i| {
            self.index[i]
                .keys()
                .filter(|id| self.is_active(i, id))
                .count()
        })
    }

    fn counts(&mut self, c: FileCategory) -> &mut DeltaCounts {
        self.stats
            .categories
            .entry(c.as_str().to_string())
            .or_default()
    }

    /// Counts a record the reader rejected. Its ids keep their directory
    /// record: the request is not played, so the person or structure stays
    /// exactly as it was.
    pub fn count_rejected(&mut self, c: FileCategory) {
        self.counts(c).rejected += 1;
    }

    fn known_structure(&self, sid: &str) -> bool {
        slot(FileCategory::EtabEducNat).is_some_and(|i| self.is_active(i, &value_key(sid)))
    }

    /// Plays one request of the Delta.
    pub fn apply(&mut self, rec: Record, file: &Path) -> Result<(), RecordError> {
        let cat = rec.category;
        let Some(i) = slot(cat) else {
            // the 2D reference tables: read, nothing to play (see
            // `fields_2d`: no entry of their own)
            let c = self.counts(cat);
            match rec.op {
                Operation::Add => c.add += 1,
                Operation::Modify => c.modify += 1,
                Operation::Delete => c.delete += 1,
            }
            return Ok(());
        };
        let reject =
            |reason: &str| RecordError::new(file, cat, rec.index, Some(&rec.id), None, reason);
        let key = value_key(&rec.id).into_owned();
        match rec.op {
            Operation::Add => {
                self.counts(cat).add += 1;
                self.changed[i].insert(key, Some(rec));
            }
            Operation::Modify => {
                if !self.changed[i].contains_key(&key)
                    && (self.is_active(i, &key) || self.is_departed(i, &key))
                {
                    // the base of the modify: the directory's record (a
                    // departed person named again comes back)
                    let base = self.rebuild(i, &key);
                    self.changed[i].insert(key.clone(), base);
                }
                let outside = match cat {
                    FileCategory::EtabEducNat => rec
                        .first("ENTStructureUAI")
                        .is_some_and(|u| !self.perimeter_uai.uai_configured(u)),
                    // a person in relation with no kept pupil is not held
                    // (2D contacts, relatives of pupils of other schools):
                    // the académie still sends their changes
                    FileCategory::PersRelEleve => true,
                    _ => {
                        let sids = structure_ids(&rec);
                        !sids.is_empty() && !sids.iter().any(|s| self.known_structure(s))
                    }
                };
                let Some(Some(base)) = self.changed[i].get_mut(&key) else {
                    if outside {
                        self.counts(cat).out_of_perimeter += 1;
                        return Ok(());
                    }
                    self.counts(cat).rejected += 1;
                    return Err(reject(
                        "modifyRequest for an id the directory does not hold: \
                         the person or structure will come with the next Complet",
                    ));
                };
                for m in rec.attrs {
                    base.attrs.retain(|a| a.name != m.name);
                    if m.values.iter().any(|v| !v.is_empty()) {
                        base.attrs.push(RecordAttr {
                            name: m.name,
                            values: m.values,
                        });
                    }
                }
                self.counts(cat).modify += 1;
            }
            Operation::Delete => {
                if self.is_active(i, &key) {
                    self.changed[i].insert(key, None);
                    self.counts(cat).delete += 1;
                } else if self.is_departed(i, &key) {
                    self.counts(cat).delete_already_departed += 1;
                } else {
                    self.counts(cat).delete_unknown += 1;
                }
            }
        }
        Ok(())
    }

    /// The records of the resulting view, category by category in import
    /// order, by id within a category; rebuilt one at a time.
    pub fn into_records(self) -> Records<'p> {
        self.into_records_within(None)
    }

    /// [`Overlay::into_records`], but of the directory's records only the
    /// structures and the people of `inputs` (a Delta's
    /// [`super::scope::Scope`]); every record the Delta gives comes out.
    pub fn into_records_within(self, inputs: Option<HashSet<Who>>) -> Records<'p> {
        Records {
            overlay: self,
            slot: 0,
            queue: Vec::new().into_iter(),
            inputs,
        }
    }

    /// The people and structures the Delta added, modified or deleted
    /// (their ids' matching forms), with their record now (`None`:
    /// deleted).
    pub fn named(&self) -> Vec<(EntryKind, &str, Option<&Record>)> {
        let mut out = Vec::new();
        for (i, changed) in self.changed.iter().enumerate() {
            let Some(kind) = kind_of_slot(i) else {
                continue;
            };
            for (id, rec) in changed {
                out.push((kind, id.as_str(), rec.as_ref()));
            }
        }
        out
    }

    /// The directory's record of `id` (active or departed), of a kind, as
    /// it was before the Delta.
    pub fn old_record(&self, kind: EntryKind, id: &str) -> Option<Record> {
        let i = category(kind).and_then(slot)?;
        self.rebuild(i, id)
    }

    /// The directory's entry of `id` (active or departed; any spelling),
    /// of a kind.
    pub fn entry_of(&self, kind: EntryKind, id: &str) -> Option<&'p Entry> {
        let i = category(kind).and_then(slot)?;
        self.index[i].get(value_key(id).as_ref()).map(|(e, _)| *e)
    }
}

/// Where the next record comes from, with its id's matching form.
enum Source<'p> {
    Directory(Cow<'p, str>, &'p Entry),
    Delta(String, Box<Record>),
}

impl Source<'_> {
    fn id(&self) -> &str {
        match self {
            Source::Directory(id, _) => id,
            Source::Delta(id, _) => id,
        }
    }
}

/// The records of an [`Overlay`], see [`Overlay::into_records`].
pub struct Records<'p> {
    overlay: Overlay<'p>,
    slot: usize,
    queue: std::vec::IntoIter<Source<'p>>,
    /// The directory's people to rebuild (none: all of them).
    inputs: Option<HashSet<Who>>,
}

impl<'p> Records<'p> {
    /// The active records of the next category, sorted by id.
    fn fill(&mut self) -> bool {
        let o = &mut self.overlay;
        let Some(index) = o.index.get_mut(self.slot) else {
            return false;
        };
        let index = std::mem::take(index);
        let changed = std::mem::take(&mut o.changed[self.slot]);
        let kind = kind_of_slot(self.slot);
        let wanted = |id: &str| match (&self.inputs, kind) {
            (None, _) | (_, Some(EntryKind::Structure)) => true,
            (Some(set), Some(k)) => set.contains(&(k, id.to_string())),
            (Some(_), None) => false,
        };
        let mut q: Vec<Source<'p>> = index
            .into_iter()
            .filter(|(id, (_, departed))| {
                !departed && !changed.contains_key(id.as_ref()) && wanted(id)
            })
            .map(|(id, (e, _))| Source::Directory(id, e))
            .collect();
        q.extend(
            changed
                .into_iter()
                .filter_map(|(id, r)| Some(Source::Delta(id, Box::new(r?)))),
        );
        q.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        self.queue = q.into_iter();
        self.slot += 1;
        true
    }
}

impl Iterator for Records<'_> {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        loop {
            match self.queue.next() {
                Some(Source::Delta(_, r)) => return Some(*r),
                Some(Source::Directory(_, e)) => {
                    if let Some(r) = self.overlay.record_of(self.slot - 1, e) {
                        return Some(r);
                    }
                }
                None => {
                    if !self.fill() {
                        return None;
                    }
                }
            }
        }
    }
}
