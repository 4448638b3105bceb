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
pub mod delta;
pub mod fields;
pub mod inverse;
pub mod layout;
pub mod limits;
pub mod login;
pub mod perimeter;
pub mod protected;
pub mod sdet;
pub mod settle;
pub mod subschema;

use crate::aaf::{FileCategory, Operation, Record, RecordError};
use crate::model::{Entry, EntryMap};
use crate::schema::date::generalized_date;
use crate::schema::{CONTROL_OWNED, LIFECYCLE_ATTRS};
use fields::{Field, Rule};
use layout::{GroupKind, Layout};
use limits::RecordLimits;
use perimeter::Perimeter;
use protected::Protected;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

// The vocabulary of entry kinds, profiles and the sync's own attributes
// lives in `schema`; its names stay reachable here for the stages that
// still spell them `mapping::…`.
pub use crate::schema::{
    EntryKind, ATTR_FIRST_SEEN, ATTR_SOURCE, CONTROL_CLASS, PROFILE_DIRECTOR, PROFILE_LIBRARIAN,
    PROFILE_PARENT, PROFILE_PUPIL, PROFILE_STAFF, PROFILE_TEACHER, STATE_CLASS,
};

const PERSON_CLASSES: [&str; 5] = [
    "top",
    "person",
    "organizationalPerson",
    "inetOrgPerson",
    "ENTPerson",
];

/// Auxiliary classes the sync adds or removes as a person's role changes.
/// Other object classes are only ever added, never removed.
pub const MANAGED_AUX_CLASSES: [&str; 2] = ["ENTAuxPersRelEleve", "ENTAuxEnseignant"];

/// Attributes written once, when the entry is created (or if missing), and
/// never changed afterwards.
pub const CREATE_ONLY: [&str; 2] = ["ENTPersonLogin", ATTR_FIRST_SEEN];

/// Attributes whose values are DNs (compared as DNs).
pub const DN_VALUED: [&str; 7] = [
    "member",
    "ENTPersonStructRattach",
    "ENTEleveParents",
    "ENTAuxPersRelEleveEleve",
    "ENTEnsFonctionDir",
    "aafSyncStructure",
    "seeAlso",
];

/// Attributes whose values start with a DN, then `$` and more fields
/// (composite values whose ids became DNs).
pub const DN_PREFIXED: [&str; 6] = [
    "ENTEleveAutoriteParentale",
    "ENTPersonClasses",
    "ENTPersonGroupes",
    "ENTPersonFonctions",
    // the SDET forms a directory with its own schema holds classes in
    "ENTEleveClasses",
    "ENTEleveGroupes",
];

/// Attributes single-valued in the schema: only the first value is kept.
const SINGLE_VALUED: [&str; 24] = [
    "ENTPersonNomPatro",
    "ENTPersonDateNaissance",
    "ENTPersonAdresse",
    "ENTPersonCodePostal",
    "ENTPersonVille",
    "ENTPersonPays",
    "ENTPersonAdresseDiffusion",
    "ENTEleveINE",
    "ENTEleveTransport",
    "ENTEleveRestaurantScolaire",
    "ENTEleveGarderieMatin",
    "ENTEleveGarderieSoir",
    "ENTEleveEtudesSurveillees",
    "ENTEleveNiveau",
    "ENTEleveCycle",
    "ENTEleveTypeClasse",
    "ENTPersonCategorieEnseignant",
    "ENTStructureUAI",
    "ENTStructureSIREN",
    "ENTStructureNomCourant",
    "ENTStructureTypeStruct",
    "ENTStructureEmail",
    "ENTStructureMailSI",
    "ENTServAcAcademie",
];

/// True when the sync keeps one value only of `attr` (single-valued in the
/// schema).
pub fn is_single_valued(attr: &str) -> bool {
    SINGLE_VALUED.iter().any(|a| a.eq_ignore_ascii_case(attr))
        || ["displayName", "ENTPersonLogin"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
}

/// The attributes the sync owns on an entry of this kind: the only ones it
/// ever modifies or removes. Everything else (userPassword, ENT preferences…)
/// is left alone.
pub fn owned(kind: EntryKind) -> &'static [&'static str] {
    static CACHE: OnceLock<HashMap<EntryKind, Vec<&'static str>>> = OnceLock::new();
    let map = CACHE.get_or_init(|| {
        let mut m = HashMap::new();
        let person = |extra: &[&'static str], table: &[Field]| {
            let mut v = vec![
                "cn",
                "displayName",
                "ENTPersonJointure",
                "ENTPersonLogin",
                "ENTPersonProfils",
                ATTR_SOURCE,
                ATTR_FIRST_SEEN,
            ];
            v.extend(extra);
            v.extend(LIFECYCLE_ATTRS);
            v.extend(table.iter().map(|f| f.ldap));
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut pupil_extra = vec!["ENTEleveAutoriteParentale", "ENTEleveParents"];
        pupil_extra.extend(sdet::written(EntryKind::Pupil));
        m.insert(EntryKind::Pupil, person(&pupil_extra, fields::PUPIL));
        m.insert(
            EntryKind::Parent,
            person(&["ENTAuxPersRelEleveEleve"], fields::PARENT),
        );
        let consented: Vec<&'static str> = fields::STAFF_CONSENTED.iter().map(|f| f.ldap).collect();
        m.insert(EntryKind::Staff, person(&consented, fields::STAFF));
        let mut s = vec!["ENTStructureJointure", ATTR_SOURCE];
        s.extend(sdet::written(EntryKind::Structure));
        s.extend(LIFECYCLE_ATTRS);
        s.extend(fields::STRUCTURE.iter().map(|f| f.ldap));
        s.sort_unstable();
        s.dedup();
        m.insert(EntryKind::Structure, s);
        m.insert(EntryKind::Control, CONTROL_OWNED.to_vec());
        let g = vec![
            "member",
            "description",
            "aafSyncStructure",
            "aafSyncCode",
            ATTR_SOURCE,
        ];
        m.insert(EntryKind::Classe, g.clone());
        m.insert(EntryKind::Groupe, g);
        m
    });
    map.get(&kind).map(Vec::as_slice).unwrap_or_default()
}

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
}

/// Outcome of mapping one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Mapped {
    Kept,
    OutOfPerimeter,
}

#[derive(Default)]
struct GroupAcc {
    name: Option<String>,
    /// Ids of the members (their DNs are made in `finish`: an id is a
    /// third of a DN, and an académie has a million memberships).
    members: Vec<Box<str>>,
}

/// A pupil's parent as the pupil's record names it: id, relation code.
type ParentRef = (Box<str>, Option<Box<str>>);

/// Writes a pupil's links to `parents`: `ENTEleveParents` (DNs) and
/// `ENTEleveAutoriteParentale` (DN, then `$` and the relation code if any).
fn add_parent_links(layout: &Layout, pupil: &mut Entry, parents: &[ParentRef]) {
    let mut auth = Vec::with_capacity(parents.len());
    let mut dns = Vec::with_capacity(parents.len());
    for (pid, code) in parents {
        let pdn = layout.person_dn(pid).to_string();
        auth.push(match code {
            Some(c) => format!("{pdn}${c}"),
            None => pdn.clone(),
        });
        dns.push(pdn);
    }
    pupil.add("ENTEleveAutoriteParentale", auth);
    pupil.add("ENTEleveParents", dns);
}

/// Builds the desired tree of one Complet extraction.
pub struct Mapper<'a> {
    layout: &'a Layout,
    perimeter: Perimeter,
    consent: &'a BTreeSet<String>,
    first_seen: String,
    desired: BTreeMap<String, Desired>,
    groups: BTreeMap<(GroupKind, String, String), GroupAcc>,
    /// Pupil id → (parent id, relation code), as written in the pupil's
    /// entry; `finish` drops the parents the extraction does not keep.
    parents_of_pupil: HashMap<Box<str>, Vec<ParentRef>>,
    /// Parent id → ids of the kept pupils naming them, taken when the
    /// parent is mapped.
    pupils_of_parent: HashMap<Box<str>, Vec<Box<str>>>,
    kept_pupils: HashSet<Box<str>>,
    kept_parents: HashSet<Box<str>>,
    /// People and structures whose record was rejected: kept as they are.
    protected: Protected,
    limits: RecordLimits,
    /// The adaptation to the directory's schema, when it is not the
    /// project's.
    adapt: Option<std::sync::Arc<sdet::Adaptation>>,
    today: time::Date,
    pub stats: MapStats,
}

/// The fields of a person's record that name their schools, by category,
/// the attachment first (parents follow their pupils instead).
fn school_fields(category: FileCategory) -> &'static [&'static str] {
    match category {
        FileCategory::Eleve => &[
            "ENTPersonStructRattach",
            "ENTPersonClasses",
            "ENTPersonGroupes",
        ],
        FileCategory::PersEducNat => &["ENTPersonStructRattach", "ENTPersonFonctions"],
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
}

impl MappedTree {
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
            perimeter,
            consent,
            first_seen: generalized_date(today),
            desired: BTreeMap::new(),
            groups: BTreeMap::new(),
            parents_of_pupil: HashMap::new(),
            pupils_of_parent: HashMap::new(),
            kept_pupils: HashSet::new(),
            kept_parents: HashSet::new(),
            protected: Protected::default(),
            limits: RecordLimits::default(),
            adapt: None,
            today,
            stats: MapStats::default(),
        }
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
        let ids: Vec<String> = e.tied_ids().map(str::to_string).collect();
        for id in &ids {
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
                    let key = d.entry.dn.key();
                    if self.desired.contains_key(&key) {
                        Err(reject(
                            Some("identifier"),
                            "duplicate id: already seen in this extraction",
                        ))
                    } else {
                        let mut d = d;
                        self.finish_entry(d.kind, Some(rec), &mut d.entry);
                        self.after_insert(&mut d, rec);
                        d.entry.freeze();
                        self.desired.insert(key, d);
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

    /// For a pupil or a staff member whose structure references all name
    /// structures no record of the extraction described: the field that
    /// holds them. A reference to a known structure, even out of the
    /// perimeter, is a real answer and leaves the record to the perimeter.
    fn only_unknown_schools(&self, rec: &Record) -> Option<&'static str> {
        let mut first = None;
        for attr in school_fields(rec.category) {
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
        let sids = school_fields(rec.category).iter().flat_map(|a| {
            rec.values(a)
                .into_iter()
                .map(|v| v.split('$').next().unwrap_or(v).trim())
        });
        self.perimeter.count_outside(sids);
    }

    fn count_dropped(&mut self, rec: &Record) {
        let table = fields::fields(rec.category);
        let handled = fields::handled(rec.category);
        for a in &rec.attrs {
            let name = a.name.as_str();
            if table.iter().any(|f| f.aaf == name) || handled.contains(&name) {
                continue;
            }
            if rec.category == FileCategory::PersEducNat
                && fields::STAFF_CONSENTED.iter().any(|f| f.aaf == name)
            {
                continue; // counted as withheld by map_staff
            }
            *self
                .stats
                .dropped_attributes
                .entry(a.name.clone())
                .or_default() += 1;
        }
    }

    /// Applies a field table to an entry. Structure references outside the
    /// perimeter are left out. Into a directory with another schema, each
    /// field is carried, dropped or kept single as [`sdet`] says.
    fn apply(&mut self, kind: EntryKind, rec: &Record, table: &[Field], e: &mut Entry) {
        let adapt = self.adapt.clone();
        let rules = adapt.as_ref().and_then(|a| a.rules(kind));
        for f in table {
            let Some(a) = rec.attr(f.aaf) else { continue };
            let lower = f.ldap.to_ascii_lowercase();
            if let Some(r) = rules {
                if r.drop.contains_key(&lower) {
                    if a.non_empty().next().is_some() {
                        *self
                            .stats
                            .adapted
                            .dropped
                            .entry(f.ldap.to_string())
                            .or_default() += 1;
                    }
                    continue;
                }
            }
            let mut out: Vec<String> = Vec::new();
            for v in a.non_empty() {
                let mapped = match f.rule {
                    Rule::Text => Some(v.to_string()),
                    Rule::Civility => fields::civility(v).map(str::to_string),
                    Rule::Phone => fields::is_printable_string(v).then(|| v.to_string()),
                    Rule::Mail => fields::is_mail(v).then(|| v.to_string()),
                    Rule::StructureDn => {
                        if self.perimeter.has(v) {
                            Some(self.layout.structure_dn(v).to_string())
                        } else {
                            self.stats.dangling_links += 1;
                            continue;
                        }
                    }
                    Rule::StructureComposite => {
                        let (sid, rest) = v.split_once('$').unwrap_or((v, ""));
                        if self.perimeter.has(sid) {
                            Some(format!("{}${rest}", self.layout.structure_dn(sid)))
                        } else {
                            self.stats.dangling_links += 1;
                            continue;
                        }
                    }
                };
                match mapped {
                    Some(m) => out.push(m),
                    None => {
                        *self
                            .stats
                            .invalid_values
                            .entry(f.aaf.to_string())
                            .or_default() += 1
                    }
                }
            }
            let mut target = f.ldap;
            if let Some((to, how)) = rules.and_then(|r| r.carry.get(&lower)) {
                if !out.is_empty() {
                    *self
                        .stats
                        .adapted
                        .carried
                        .entry(format!("{} → {to}", f.ldap))
                        .or_default() += 1;
                }
                if *how == sdet::Carry::ClassCode {
                    out = out.iter().map(|v| sdet::class_code(v)).collect();
                }
                target = to;
            }
            // the record's first value is the primary one
            let single = SINGLE_VALUED.contains(&f.ldap)
                || rules.is_some_and(|r| r.single.contains(&target.to_ascii_lowercase()));
            if single {
                out.truncate(1);
            }
            e.add(target, out);
        }
    }

    /// Into a directory with another schema: drops what it cannot hold and
    /// fills the MUSTs the record leaves empty (see [`sdet`]).
    fn finish_entry(&mut self, kind: EntryKind, rec: Option<&Record>, e: &mut Entry) {
        let Some(adapt) = self.adapt.clone() else {
            return;
        };
        let Some(r) = adapt.rules(kind) else { return };
        let names: Vec<String> = e
            .attrs
            .values()
            .map(|a| a.name.to_string())
            .filter(|n| r.drop.contains_key(&n.to_ascii_lowercase()))
            .collect();
        for n in names {
            e.remove(&n);
            *self.stats.adapted.dropped.entry(n).or_default() += 1;
        }
        for (attr, how) in &r.fill {
            if e.get(attr).is_some() {
                continue;
            }
            let v = match how {
                sdet::Fill::Neutral => sdet::NEUTRAL,
                sdet::Fill::Majority => sdet::majority(
                    rec.and_then(|r| r.first("ENTPersonDateNaissance")),
                    self.today,
                ),
                sdet::Fill::Contract => {
                    sdet::contract(rec.and_then(|r| r.first("ENTStructureTypeStruct")))
                }
            };
            e.set(attr, v);
            *self
                .stats
                .adapted
                .filled
                .entry(attr.to_string())
                .or_default() += 1;
        }
    }

    /// Writes into a directory whose schema needs `adapt`.
    pub fn with_adaptation(mut self, adapt: Option<std::sync::Arc<sdet::Adaptation>>) -> Self {
        self.adapt = adapt.filter(|a| a.active);
        self
    }

    fn person_entry(&mut self, rec: &Record, kind: EntryKind, table: &[Field]) -> Entry {
        let l = self.layout;
        let mut e = Entry::new(l.person_dn(&rec.id));
        let mut classes: Vec<&str> = PERSON_CLASSES.to_vec();
        classes.push(match kind {
            EntryKind::Pupil => "ENTEleve",
            EntryKind::Parent => "ENTAuxPersRelEleve",
            _ => "ENTPerson",
        });
        classes.push(STATE_CLASS);
        e.add("objectClass", classes);
        e.set("uid", l.person_uid(&rec.id));
        e.set("ENTPersonJointure", l.jointure(&rec.id));
        e.set(ATTR_SOURCE, l.source.clone());
        e.set(ATTR_FIRST_SEEN, self.first_seen.clone());
        self.apply(kind, rec, table, &mut e);
        // sn and cn are mandatory (person): fall back on the birth name, then
        // on the opaque uid, so that no real record is refused by slapd.
        if e.get("sn").is_none() {
            let fallback = e
                .first("ENTPersonNomPatro")
                .map(str::to_string)
                .unwrap_or_else(|| l.person_uid(&rec.id));
            e.set("sn", fallback);
        }
        let sn = e.first("sn").unwrap_or_default().to_string();
        let cn = match e.first("givenName") {
            Some(g) => format!("{g} {sn}"),
            None => sn,
        };
        // what an ENT shows (CAS's OIDC `name` claim)
        e.set("displayName", cn.clone());
        e.set("cn", cn);
        e
    }

    fn map_structure(&mut self, rec: &Record) -> Option<Desired> {
        if !self
            .perimeter
            .admit_structure(&rec.id, rec.first("ENTStructureUAI"))
        {
            return None;
        }
        let l = self.layout;
        let mut e = Entry::new(l.structure_dn(&rec.id));
        e.add(
            "objectClass",
            [
                "top",
                "organizationalUnit",
                "ENTStructure",
                "ENTEtablissement",
                STATE_CLASS,
            ],
        );
        e.set("ou", l.structure_ou(&rec.id));
        e.set("ENTStructureJointure", l.jointure(&rec.id));
        e.set(ATTR_SOURCE, l.source.clone());
        self.apply(EntryKind::Structure, rec, fields::STRUCTURE, &mut e);
        Some(Desired {
            kind: EntryKind::Structure,
            id: rec.id.clone(),
            entry: e,
        })
    }

    /// Structure ids of composite values (`sid$…`) that are in the perimeter.
    fn kept_sids<'r>(&self, rec: &'r Record, attr: &str) -> Vec<&'r str> {
        rec.values(attr)
            .into_iter()
            .map(|v| v.split('$').next().unwrap_or(v))
            .filter(|s| self.perimeter.has(s))
            .collect()
    }

    fn map_pupil(&mut self, rec: &Record) -> Option<Desired> {
        let attached = self.kept_sids(rec, "ENTPersonStructRattach");
        let in_classes = self.kept_sids(rec, "ENTPersonClasses");
        if attached.is_empty() && in_classes.is_empty() {
            return None;
        }
        let mut e = self.person_entry(rec, EntryKind::Pupil, fields::PUPIL);
        e.set("ENTPersonProfils", PROFILE_PUPIL);
        Some(Desired {
            kind: EntryKind::Pupil,
            id: rec.id.clone(),
            entry: e,
        })
    }

    fn map_parent(&mut self, rec: &Record) -> Option<Desired> {
        // taken: each parent is mapped once (a second record with the same
        // id is refused as a duplicate)
        let mut pupils: Vec<Box<str>> = self
            .pupils_of_parent
            .remove(rec.id.as_str())
            .unwrap_or_default();
        for p in rec.values("ENTPersRelEleveEleve") {
            // a pupil whose record was rejected is still there
            if self.kept_pupils.contains(p) || self.protected.people.contains(p) {
                pupils.push(p.into());
            } else {
                self.stats.dangling_links += 1;
            }
        }
        if pupils.is_empty() {
            return None;
        }
        let mut e = self.person_entry(rec, EntryKind::Parent, fields::PARENT);
        e.set("ENTPersonProfils", PROFILE_PARENT);
        e.add(
            "ENTAuxPersRelEleveEleve",
            pupils.iter().map(|p| self.layout.person_dn(p).to_string()),
        );
        Some(Desired {
            kind: EntryKind::Parent,
            id: rec.id.clone(),
            entry: e,
        })
    }

    fn map_staff(&mut self, rec: &Record) -> Option<Desired> {
        let attached = self.kept_sids(rec, "ENTPersonStructRattach");
        let functions = self.kept_sids(rec, "ENTPersonFonctions");
        if attached.is_empty() && functions.is_empty() {
            return None;
        }
        let mut e = self.person_entry(rec, EntryKind::Staff, fields::STAFF);
        let has_address = fields::STAFF_CONSENTED
            .iter()
            .any(|f| rec.first(f.aaf).is_some());
        if self.consent.contains(&rec.id) {
            self.apply(EntryKind::Staff, rec, fields::STAFF_CONSENTED, &mut e);
        } else if has_address {
            self.stats.staff_address_withheld += 1;
        }
        let mut profiles = BTreeSet::new();
        for v in rec.values("ENTPersonFonctions") {
            let mut parts = v.split('$');
            let sid = parts.next().unwrap_or("");
            if !self.perimeter.has(sid) {
                continue;
            }
            match parts.next().unwrap_or("").trim() {
                "ENS" => profiles.insert(PROFILE_TEACHER),
                "DOC" => profiles.insert(PROFILE_LIBRARIAN),
                "DIR" => profiles.insert(PROFILE_DIRECTOR),
                _ => false,
            };
        }
        if rec.first("ENTPersonCategorieEnseignant") == Some("O") {
            profiles.insert(PROFILE_TEACHER);
        }
        if rec
            .first("ENTEnsFonctionDir")
            .is_some_and(|v| !v.eq_ignore_ascii_case("N"))
        {
            profiles.insert(PROFILE_DIRECTOR);
        }
        if profiles.is_empty() {
            profiles.insert(PROFILE_STAFF);
        }
        if profiles.contains(PROFILE_TEACHER) || profiles.contains(PROFILE_LIBRARIAN) {
            e.add("objectClass", ["ENTAuxEnseignant"]);
        }
        e.add("ENTPersonProfils", profiles);
        Some(Desired {
            kind: EntryKind::Staff,
            id: rec.id.clone(),
            entry: e,
        })
    }

    /// Bookkeeping once a person is kept: class/group membership and the
    /// pupil ↔ parent links, checked at the end.
    fn after_insert(&mut self, d: &mut Desired, rec: &Record) {
        if !d.kind.is_person() {
            return;
        }
        let id: Box<str> = d.id.as_str().into();
        for (attr, kind) in [
            ("ENTPersonClasses", GroupKind::Classe),
            ("ENTPersonGroupes", GroupKind::Groupe),
        ] {
            for v in rec.values(attr) {
                // 1D: sid$?$?$code$label; fields 1 and 2 are not interpreted
                let f: Vec<&str> = v.split('$').map(str::trim).collect();
                let sid = f[0];
                let label = f.get(4).copied().filter(|s| !s.is_empty());
                let code = f
                    .get(3)
                    .copied()
                    .filter(|s| !s.is_empty())
                    .or(label)
                    .or_else(|| f.get(1).copied().filter(|s| !s.is_empty()));
                let Some(code) = code else {
                    *self
                        .stats
                        .invalid_values
                        .entry(attr.to_string())
                        .or_default() += 1;
                    continue;
                };
                if !self.perimeter.has(sid) {
                    continue;
                }
                let acc = self
                    .groups
                    .entry((kind, sid.to_string(), code.to_string()))
                    .or_default();
                if d.kind == EntryKind::Pupil || acc.name.is_none() {
                    if let Some(l) = label {
                        acc.name = Some(l.to_string());
                    }
                }
                acc.members.push(id.clone());
            }
        }
        match d.kind {
            EntryKind::Pupil => {
                self.kept_pupils.insert(id.clone());
                let mut refs = Vec::new();
                for v in rec.values("ENTEleveAutoriteParentale") {
                    let (pid, code) = match v.split_once('$') {
                        Some((p, c)) => (
                            p.trim(),
                            Some(c.trim()).filter(|c| !c.is_empty()).map(Box::from),
                        ),
                        None => (v.trim(), None),
                    };
                    if pid.is_empty() {
                        continue;
                    }
                    self.pupils_of_parent
                        .entry(pid.into())
                        .or_default()
                        .push(id.clone());
                    refs.push((pid.into(), code));
                }
                // written now, while the entry is being built: `finish`
                // only rewrites the pupils naming a parent the extraction
                // does not keep (an entry is stored once, not twice)
                add_parent_links(self.layout, &mut d.entry, &refs);
                self.parents_of_pupil.insert(id, refs);
            }
            EntryKind::Parent => {
                self.kept_parents.insert(id);
            }
            _ => {}
        }
    }

    /// Drops the pupil → parent links to parents the extraction does not
    /// keep and builds the class and group entries.
    pub fn finish(mut self) -> MappedTree {
        for (pupil, mut refs) in std::mem::take(&mut self.parents_of_pupil) {
            let before = refs.len();
            refs.retain(|(pid, _)| {
                self.kept_parents.contains(pid) || self.protected.people.contains(pid)
            });
            if refs.len() == before {
                continue;
            }
            self.stats.dangling_links += (before - refs.len()) as u64;
            let key = self.layout.person_dn(&pupil).key();
            let Some(d) = self.desired.get_mut(&key) else {
                continue;
            };
            d.entry.remove("ENTEleveAutoriteParentale");
            d.entry.remove("ENTEleveParents");
            add_parent_links(self.layout, &mut d.entry, &refs);
        }
        for ((kind, sid, code), acc) in std::mem::take(&mut self.groups) {
            let l = self.layout;
            let mut e = Entry::new(l.class_dn(kind, &sid, &code));
            e.add(
                "objectClass",
                ["top", "groupOfNames", kind.object_class(), STATE_CLASS],
            );
            e.set("cn", l.class_cn(kind, &sid, &code));
            e.add(
                "member",
                acc.members.iter().map(|id| l.person_dn(id).to_string()),
            );
            if let Some(n) = acc.name {
                e.set("description", n);
            }
            e.set("aafSyncStructure", l.structure_dn(&sid).to_string());
            e.set("aafSyncCode", code.clone());
            e.set(ATTR_SOURCE, l.source.clone());
            let d = Desired {
                kind: match kind {
                    GroupKind::Classe => EntryKind::Classe,
                    GroupKind::Groupe => EntryKind::Groupe,
                },
                id: format!("{sid}${code}"),
                entry: e,
            };
            let mut d = d;
            self.finish_entry(d.kind, None, &mut d.entry);
            d.entry.freeze();
            self.desired.insert(d.entry.dn.key(), d);
        }
        MappedTree {
            entries: self.desired.into_values().collect(),
            stats: self.stats,
            missing_uai: self.perimeter.missing_uai(),
            outside_uai: self.perimeter.outside_uai(),
            protected: self.protected,
        }
    }
}

/// Splits `<source>$<id>` and returns the id when the source matches.
pub fn id_of_jointure<'j>(jointure: &'j str, source: &str) -> Option<&'j str> {
    let (s, id) = jointure.split_once('$')?;
    // jointures match case-insensitively (caseIgnoreMatch)
    s.eq_ignore_ascii_case(source).then_some(id)
}

/// The AAF id of an entry of `source`: among its jointures (an entry may
/// carry one per source), the one of `source`.
pub fn id_in<'e>(e: &'e Entry, attr: &str, source: &str) -> Option<&'e str> {
    e.get(attr)?.iter().find_map(|j| id_of_jointure(j, source))
}

#[cfg(test)]
mod tests;
