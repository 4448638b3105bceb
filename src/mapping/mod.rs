//! From AAF records to the desired LDAP entries (spec §4–6).
//!
//! [`Mapper`] takes the records of one Complet extraction, category by
//! category in import order (structures, pupils, parents, staff), and builds
//! the entries the directory should hold: structures, people with their
//! object classes, profiles and links as DNs, and the class and group entries
//! rebuilt from the pupils' and teachers' lists. Minimisation is the table in
//! [`fields`]; the perimeter rule lives in [`perimeter`]; logins are given
//! afterwards by [`login::assign`], once the directory's logins are known.
//! Pure: no I/O, the date of the run is a parameter.

pub mod align;
mod attrs;
mod category;
pub mod delta;
pub mod fields;
pub mod fields_2d;
pub mod inverse;
mod keyed;
mod keys;
pub mod layout;
pub mod limits;
mod links;
pub mod login;
pub mod perimeter;
pub mod protected;
pub mod scope;
pub mod sdet;
pub mod settle;
pub mod subschema;
mod two_d;
mod values;

use crate::aaf::degree::Degree;
use crate::aaf::{FileCategory, Operation, Record, RecordError};
use crate::model::{dn_key, value_key, Entry, EntryMap, Store};
use crate::schema::date::generalized_date;
use crate::schema::EntryKind;
use layout::{GroupKind, Layout};
use limits::RecordLimits;
use links::GroupAcc;
// how a class list names its class: the targeted read follows it
pub use links::class_value;
use perimeter::Perimeter;
use protected::Protected;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

// The attribute tables live in `attrs`; the diff and the retention name
// them `mapping::…`.
pub use attrs::{
    id_in, id_of_jointure, is_single_valued, other_degree_only, owned, CREATE_ONLY, DN_PREFIXED,
    DN_VALUED, MANAGED_AUX_CLASSES,
};

/// One entry the directory should hold.
#[derive(Debug, Clone, Serialize)]
pub struct Desired {
    pub kind: EntryKind,
    /// AAF id of the person or structure; `sid$code` for classes and groups.
    pub id: String,
    pub entry: Entry,
}

/// Per-category counts.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CategoryStats {
    /// Records mapped to a desired entry.
    pub mapped: u64,
    /// Records refused because outside the perimeter (spec §6).
    pub out_of_perimeter: u64,
    /// Records rejected (format or consistency errors).
    pub rejected: u64,
}

/// What the mapping counted; ids and field names only.
#[derive(Debug, Default, Clone, Serialize)]
pub struct MapStats {
    pub categories: BTreeMap<String, CategoryStats>,
    /// Fields not authorised for their category, by name: records carrying them.
    pub dropped_attributes: BTreeMap<String, u64>,
    /// Values refused for their syntax (bad civility, phone, mail), by field.
    pub invalid_values: BTreeMap<String, u64>,
    /// Staff records whose home address was withheld (no consent).
    pub staff_address_withheld: u64,
    /// Links to pupils, parents or structures that are not kept.
    pub dangling_links: u64,
    /// What writing into the directory's own schema changed.
    pub adapted: sdet::AdaptStats,
    /// 2D: people in relation with a pupil who are not their legal
    /// guardians (not linked, see [`fields_2d`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub relations_not_legal: u64,
    /// 2D: codes (formations, subjects) the extraction's reference tables
    /// do not list, by field: kept as given, counted for the académie.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown_codes: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Outcome of mapping one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Mapped {
    Kept,
    OutOfPerimeter,
}

/// Builds the desired tree of one Complet extraction.
pub struct Mapper<'a> {
    layout: &'a Layout,
    /// Which half of AAF the records are: which field tables apply.
    degree: Degree,
    /// 2D: the reference tables and the class labels the structures give.
    two_d: two_d::Tables,
    perimeter: Perimeter,
    consent: &'a BTreeSet<String>,
    first_seen: String,
    desired: keyed::Keyed,
    groups: BTreeMap<(GroupKind, String, String), GroupAcc>,
    /// Each pupil's links to their parents (by number, with the relation
    /// code), as written in the pupil's entry; `finish` drops the parents
    /// the extraction does not keep.
    parents_of_pupil: Vec<links::Link>,
    /// Parent → the kept pupils naming them (by number), taken when the
    /// parent is mapped.
    pupils_of_parent: HashMap<u32, Vec<u32>>,
    /// The numbers the link tables name people (and relation codes) by,
    /// and which of them were kept as pupils, as parents.
    names: links::Interned,
    /// People and structures whose record was rejected: kept as they are.
    protected: Protected,
    limits: RecordLimits,
    /// The adaptation to the directory's schema, when it is not the
    /// project's.
    adapt: Option<std::sync::Arc<sdet::Adaptation>>,
    /// The run's entry store, given by the caller: each desired entry is
    /// frozen into it once complete. None: entries stay on the heap.
    store: Option<&'a Store>,
    /// The people whose entries the caller wants (a Delta's scope): the
    /// others' records are mapped for their classes, groups and ties
    /// only, their entries not kept (DN keys in `elsewhere`, for the
    /// duplicate check). None: everyone's.
    outputs: Option<HashSet<(EntryKind, String)>>,
    elsewhere: HashSet<String>,
    today: time::Date,
    pub stats: MapStats,
}

/// The fields of a person's record that name their schools, by degree and
/// category: the first two admit the person into the perimeter (the
/// attachment, then the classes or functions); parents follow their
/// pupils instead.
pub fn school_fields(degree: Degree, category: FileCategory) -> &'static [&'static str] {
    match (degree, category) {
        (Degree::OneD, FileCategory::Eleve) => &[
            "ENTPersonStructRattach",
            "ENTPersonClasses",
            "ENTPersonGroupes",
        ],
        (Degree::TwoD, FileCategory::Eleve) => &[
            "ENTPersonStructRattach",
            "ENTEleveClasses",
            "ENTEleveGroupes",
        ],
        (Degree::OneD, FileCategory::PersEducNat) => {
            &["ENTPersonStructRattach", "ENTPersonFonctions"]
        }
        (Degree::TwoD, FileCategory::PersEducNat) => &[
            "ENTPersonStructRattach",
            "ENTPersonFonctions",
            "ENTAuxEnsClasses",
            "ENTAuxEnsGroupes",
            "ENTAuxEnsClassesMatieres",
            "ENTAuxEnsGroupesMatieres",
        ],
        _ => &[],
    }
}

/// The result: every desired entry, sorted by DN key, and the counts.
pub struct MappedTree {
    pub entries: Vec<Desired>,
    pub stats: MapStats,
    /// Configured UAIs absent from the extraction's structures.
    pub missing_uai: Vec<String>,
    /// UAIs of the extraction outside the perimeter, with their people.
    pub outside_uai: BTreeMap<String, u64>,
    /// Ids whose records were rejected: present, content unknown.
    pub protected: Protected,
    /// A Delta planned over part of the directory: the entries outside
    /// it stay as they are (see [`scope`]). `None`: the whole tree.
    pub scope: Option<scope::Scope>,
}

impl MappedTree {
    /// Nothing mapped: the scope `s` needs class members the tree it was
    /// computed over does not hold ([`scope::Scope::missing`]).
    pub fn needing(s: scope::Scope) -> MappedTree {
        MappedTree {
            entries: Vec::new(),
            stats: MapStats::default(),
            missing_uai: Vec::new(),
            outside_uai: BTreeMap::new(),
            protected: Protected::default(),
            scope: Some(s),
        }
    }

    /// The DNs of the class members to read before this Delta can be
    /// planned (see [`MappedTree::needing`]).
    pub fn unread_members(&self) -> Option<&[String]> {
        self.scope
            .as_ref()
            .map(|s| s.missing.as_slice())
            .filter(|m| !m.is_empty())
    }

    /// Gives a new login, not in `taken`, to every person whose entry in
    /// `existing` (by DN key) has none (see `login::assign`). Returns how
    /// many were created.
    pub fn assign_logins(&mut self, existing: &EntryMap, taken: &mut HashSet<String>) -> usize {
        login::assign(
            self.entries
                .iter_mut()
                .filter(|d| d.kind.is_person())
                .map(|d| &mut d.entry),
            existing,
            taken,
        )
    }
}

impl<'a> Mapper<'a> {
    /// `today` is the run date (`--now`), written as first-seen on new entries.
    pub fn new(
        layout: &'a Layout,
        perimeter: Perimeter,
        consent: &'a BTreeSet<String>,
        today: time::Date,
    ) -> Self {
        Mapper {
            layout,
            degree: Degree::OneD,
            two_d: two_d::Tables::default(),
            perimeter,
            consent,
            first_seen: generalized_date(today),
            desired: keyed::Keyed::default(),
            groups: BTreeMap::new(),
            parents_of_pupil: Vec::new(),
            pupils_of_parent: HashMap::new(),
            names: links::Interned::default(),
            protected: Protected::default(),
            limits: RecordLimits::default(),
            adapt: None,
            store: None,
            outputs: None,
            elsewhere: HashSet::new(),
            today,
            stats: MapStats::default(),
        }
    }

    /// The degree of the records mapped.
    pub fn degree(&self) -> Degree {
        self.degree
    }

    /// Maps records of `degree` (1D unless told).
    pub fn with_degree(mut self, degree: Degree) -> Self {
        self.degree = degree;
        self
    }

    /// Per-record limits other than the defaults.
    pub fn with_limits(mut self, limits: RecordLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Protects the id of a record of category `cat` whose content is
    /// unknown: a structure stays in the perimeter for the people attached
    /// to it; a person stays a valid link target.
    fn protect(&mut self, cat: FileCategory, id: &str) {
        if cat == FileCategory::EtabEducNat {
            self.perimeter.protect(id);
        }
        self.protected.protect(cat, id);
    }

    fn cat(&mut self, c: FileCategory) -> &mut CategoryStats {
        self.stats
            .categories
            .entry(c.as_str().to_string())
            .or_default()
    }

    /// Counts a record rejected before mapping (by the reader), and
    /// protects the ids it is tied to.
    pub fn rejected(&mut self, c: FileCategory, e: &RecordError) {
        self.cat(c).rejected += 1;
        let mut ids: Vec<String> = e.tied_ids().map(str::to_string).collect();
        // a record names its own id (and its jointure's) once
        ids.sort_by(|a, b| value_key(a).cmp(&value_key(b)));
        ids.dedup_by(|a, b| value_key(a) == value_key(b));
        for id in &ids {
            // an unreadable copy of an id counts among its records: beside
            // a readable one, neither tells which is true
            if !c.is_reference() {
                self.saw(c, id);
            }
            self.protect(c, id);
        }
        if ids.is_empty() {
            self.protected.record(e, c);
        }
    }

    /// Maps one record of a Complet. Records must come category by category
    /// in [`FileCategory::IMPORTED`] order.
    pub fn map(&mut self, rec: &Record, file: &std::path::Path) -> Result<Mapped, RecordError> {
        let reject = |field: Option<&str>, reason: &str| {
            RecordError::new(file, rec.category, rec.index, Some(&rec.id), field, reason)
        };
        let over = self.limits.check(rec);
        let result = if rec.op != Operation::Add {
            Err(reject(
                None,
                "only addRequest is expected in a Complet extraction",
            ))
        } else if let Some((field, why)) = over {
            Err(reject(Some(field), &why))
        } else if rec.category.is_reference() {
            self.two_d.reference(rec);
            Ok(Mapped::Kept)
        } else if self.seen_before(rec) {
            // two records of one id (its spellings are one id, as they are
            // one DN): which one tells the truth? Both are present, their
            // content unknown, the entry left as the directory holds it.
            // (Kept apart, a record out of the perimeter and one in it gave
            // the first one's links to the second's person.)
            Err(reject(
                Some("identifier"),
                "duplicate id: already seen in this extraction \
                 (ids are compared as the directory compares them, ignoring case)",
            ))
        } else if let Some(field) = self.ambiguous_school(rec) {
            Err(reject(
                Some(field),
                "refers to a structure id that the extraction describes more than once",
            ))
        } else if let Some(field) = self.only_unknown_schools(rec) {
            // an extraction that names schools it does not describe is
            // damaged: read as "out of the perimeter", its people would leave
            Err(reject(
                Some(field),
                "refers only to structure ids the extraction does not describe",
            ))
        } else {
            self.count_dropped(rec);
            let d = match rec.category {
                FileCategory::EtabEducNat => self.map_structure(rec),
                FileCategory::Eleve => self.map_pupil(rec),
                FileCategory::PersRelEleve => self.map_parent(rec),
                FileCategory::PersEducNat => self.map_staff(rec),
                _ => None,
            };
            match d {
                None => {
                    self.count_outside(rec);
                    Ok(Mapped::OutOfPerimeter)
                }
                Some(d) => {
                    let dn = d.entry.dn.as_str();
                    if self.desired.contains_key(dn)
                        || (!self.elsewhere.is_empty() && self.elsewhere.contains(&dn_key(dn)))
                    {
                        Err(reject(
                            Some("identifier"),
                            "duplicate id: already seen in this extraction",
                        ))
                    } else {
                        let mut d = d;
                        self.finish_entry(d.kind, Some(rec), &mut d.entry);
                        let wanted = self.wanted(d.kind, &d.id);
                        self.after_insert(&mut d, rec, wanted);
                        if wanted {
                            self.freeze(&mut d.entry);
                            self.desired.insert(d);
                        } else {
                            self.elsewhere.insert(d.entry.dn.key());
                        }
                        Ok(Mapped::Kept)
                    }
                }
            }
        };
        let stats = self.cat(rec.category);
        match &result {
            Ok(Mapped::Kept) => stats.mapped += 1,
            Ok(Mapped::OutOfPerimeter) => stats.out_of_perimeter += 1,
            Err(_) => stats.rejected += 1,
        }
        if result.is_err() {
            self.protect(rec.category, &rec.id);
        }
        result
    }

    /// True when an earlier record of the extraction had the id of `rec`
    /// (in any spelling; pupils, parents and staff share one namespace of
    /// DNs): the person's marks of being kept go, both records standing
    /// for a person whose content is unknown.
    fn seen_before(&mut self, rec: &Record) -> bool {
        self.saw(rec.category, &rec.id)
    }

    /// Records that a record of category `cat` gave `id`; true when one
    /// already had (see [`Mapper::seen_before`]).
    fn saw(&mut self, cat: FileCategory, id: &str) -> bool {
        use links::Mark;
        if cat == FileCategory::EtabEducNat {
            if self.perimeter.knows(id) {
                self.perimeter.describe_again(id);
                return true;
            }
            return false;
        }
        let n = self.names.number(id);
        if self.names.is(n, Mark::Seen) {
            self.names.mark(n, Mark::Twice);
            self.names.unmark(n, Mark::KeptPupil);
            self.names.unmark(n, Mark::KeptParent);
            return true;
        }
        self.names.mark(n, Mark::Seen);
        false
    }

    /// For a person: the field naming a structure that two records of the
    /// extraction describe (see [`Perimeter::is_ambiguous`]).
    fn ambiguous_school(&self, rec: &Record) -> Option<&'static str> {
        school_fields(self.degree, rec.category)
            .iter()
            .find(|a| {
                rec.values(a).iter().any(|v| {
                    self.perimeter
                        .is_ambiguous(v.split('$').next().unwrap_or(v).trim())
                })
            })
            .copied()
    }

    /// For a pupil or a staff member whose structure references all name
    /// structures no record of the extraction described: the field that
    /// holds them. A reference to a known structure, even out of the
    /// perimeter, is a real answer and leaves the record to the perimeter.
    fn only_unknown_schools(&self, rec: &Record) -> Option<&'static str> {
        let mut first = None;
        for attr in school_fields(self.degree, rec.category) {
            for v in rec.values(attr) {
                let sid = v.split('$').next().unwrap_or(v).trim();
                if sid.is_empty() {
                    continue;
                }
                if self.perimeter.knows(sid) {
                    return None;
                }
                first.get_or_insert(*attr);
            }
        }
        first
    }

    /// Counts a person left out under the UAI of their school (the report
    /// tells the operator which schools the extraction holds).
    fn count_outside(&mut self, rec: &Record) {
        let sids = school_fields(self.degree, rec.category)
            .iter()
            .flat_map(|a| {
                rec.values(a)
                    .into_iter()
                    .map(|v| v.split('$').next().unwrap_or(v).trim())
            });
        self.perimeter.count_outside(sids);
    }

    /// Freezes the desired entries into the run's entry `store` (none: they
    /// stay on the heap).
    pub fn with_store(mut self, store: Option<&'a Store>) -> Self {
        self.store = store;
        self
    }

    /// Keeps the entries of `people` only (see [`Mapper::outputs`]).
    pub fn with_outputs(mut self, people: Option<HashSet<(EntryKind, String)>>) -> Self {
        self.outputs = people;
        self
    }

    /// Whether the caller wants the entry of `kind`'s `id`.
    fn wanted(&self, kind: EntryKind, id: &str) -> bool {
        !kind.is_person()
            || self
                .outputs
                .as_ref()
                .is_none_or(|o| o.contains(&scope::who(kind, id)))
    }

    /// Writes into a directory whose schema needs `adapt`.
    pub fn with_adaptation(mut self, adapt: Option<std::sync::Arc<sdet::Adaptation>>) -> Self {
        self.adapt = adapt.filter(|a| a.active);
        self
    }

    /// Drops the pupil → parent links to parents the extraction does not
    /// keep and builds the class and group entries.
    pub fn finish(mut self) -> MappedTree {
        self.drop_unkept_parents();
        self.build_groups();
        MappedTree {
            entries: self.desired.into_sorted(),
            stats: self.stats,
            missing_uai: self.perimeter.missing_uai(),
            outside_uai: self.perimeter.outside_uai(),
            protected: self.protected,
            scope: None,
        }
    }
}

#[cfg(test)]
mod tests;
