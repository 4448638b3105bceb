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
//! back (restore); a modify of an id the directory does not hold is rejected.

use super::inverse::{self, category, member_class_lists};
use super::layout::Layout;
use super::perimeter::Perimeter;
use super::EntryKind;
use crate::aaf::reader::RecordAttr;
use crate::aaf::{FileCategory, Operation, Record, RecordError};
use crate::model::Entry;
use crate::retention::State;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
    /// Modifies of people attached only to structures outside the perimeter.
    pub out_of_perimeter: u64,
    pub rejected: u64,
}

/// What a Delta asked, by category.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeltaStats {
    pub categories: BTreeMap<String, DeltaCounts>,
}

/// The directory's records with a Delta played over them.
pub struct Overlay<'p> {
    active: Vec<BTreeMap<String, Record>>,
    departed: Vec<HashMap<String, Record>>,
    perimeter_uai: &'p Perimeter,
    pub stats: DeltaStats,
}

fn slot(c: FileCategory) -> Option<usize> {
    FileCategory::IMPORTED.iter().position(|x| *x == c)
}

/// Structure ids a person record refers to.
fn structure_ids(rec: &Record) -> Vec<&str> {
    [
        "ENTPersonStructRattach",
        "ENTPersonFonctions",
        "ENTPersonClasses",
        "ENTPersonGroupes",
    ]
    .iter()
    .flat_map(|a| rec.values(a))
    .map(|v| v.split('$').next().unwrap_or(v))
    .collect()
}

impl<'p> Overlay<'p> {
    /// One record per managed structure and person of the directory.
    pub fn from_directory(
        current: &HashMap<String, Entry>,
        layout: &Layout,
        perimeter: &'p Perimeter,
    ) -> Overlay<'p> {
        let n = FileCategory::IMPORTED.len();
        let mut o = Overlay {
            active: vec![BTreeMap::new(); n],
            departed: vec![HashMap::new(); n],
            perimeter_uai: perimeter,
            stats: DeltaStats::default(),
        };
        let lists = member_class_lists(current, layout);
        for e in current.values() {
            let Some(kind) = EntryKind::of(e) else {
                continue;
            };
            let Some(i) = category(kind).and_then(slot) else {
                continue;
            };
            let Some(rec) = inverse::record_of(kind, e, layout, &lists) else {
                continue;
            };
            if State::of(e).departed() {
                o.departed[i].insert(rec.id.clone(), rec);
            } else {
                o.active[i].insert(rec.id.clone(), rec);
            }
        }
        o
    }

    /// Number of active structures: a Delta needs a Complet applied first.
    pub fn structures(&self) -> usize {
        slot(FileCategory::EtabEducNat).map_or(0, |i| self.active[i].len())
    }

    fn counts(&mut self, c: FileCategory) -> &mut DeltaCounts {
        self.stats
            .categories
            .entry(c.as_str().to_string())
            .or_default()
    }

    /// Counts a record the reader rejected.
    pub fn count_rejected(&mut self, c: FileCategory) {
        self.counts(c).rejected += 1;
    }

    fn known_structure(&self, sid: &str) -> bool {
        slot(FileCategory::EtabEducNat).is_some_and(|i| self.active[i].contains_key(sid))
    }

    /// Plays one request of the Delta.
    pub fn apply(&mut self, rec: Record, file: &Path) -> Result<(), RecordError> {
        let cat = rec.category;
        let Some(i) = slot(cat) else {
            return Ok(());
        };
        let reject = |reason: &str| RecordError {
            file: file.to_path_buf(),
            index: rec.index,
            id: Some(rec.id.clone()),
            field: None,
            reason: reason.to_string(),
        };
        match rec.op {
            Operation::Add => {
                self.departed[i].remove(&rec.id);
                self.counts(cat).add += 1;
                self.active[i].insert(rec.id.clone(), rec);
            }
            Operation::Modify => {
                if !self.active[i].contains_key(&rec.id) {
                    if let Some(back) = self.departed[i].remove(&rec.id) {
                        self.active[i].insert(rec.id.clone(), back);
                    }
                }
                let outside = match cat {
                    FileCategory::EtabEducNat => rec
                        .first("ENTStructureUAI")
                        .is_some_and(|u| !self.perimeter_uai.uai_configured(u)),
                    _ => {
                        let sids = structure_ids(&rec);
                        !sids.is_empty() && !sids.iter().any(|s| self.known_structure(s))
                    }
                };
                let Some(base) = self.active[i].get_mut(&rec.id) else {
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
                if self.active[i].remove(&rec.id).is_some() {
                    self.counts(cat).delete += 1;
                } else if self.departed[i].contains_key(&rec.id) {
                    self.counts(cat).delete_already_departed += 1;
                } else {
                    self.counts(cat).delete_unknown += 1;
                }
            }
        }
        Ok(())
    }

    /// The records of the resulting view, category by category in import order.
    pub fn into_records(self) -> impl Iterator<Item = Record> {
        self.active.into_iter().flat_map(BTreeMap::into_values)
    }
}
