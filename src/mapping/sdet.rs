//! Writing into the schema the directory has (spec §5): the adaptation
//! table, for a directory that runs the deployed SDET schema rather than
//! the project's (`schema/10-aaf-sdet.schema`).
//!
//! This file *is* the rule a data-protection reviewer reads, as
//! [`super::fields`] is for minimisation. For each AAF field whose LDAP
//! attribute the directory lacks (or does not allow on the entry's
//! classes):
//! - [`CARRY`]: carried in the SDET attribute that holds the same
//!   information, when the directory has it;
//! - otherwise dropped, and counted by attribute name in the report and in
//!   `check` ("the directory's schema has no ENTEcoleRPI: not written").
//!
//! An attribute the directory keeps single-valued gets one value: the
//! **first the record gives** (the primary school of `ENTPersonStructRattach`,
//! say). A MUST attribute the extraction cannot fill gets the value of
//! [`FILL`]: derived from the record where it can be (a pupil's majority
//! from the birth date at the run date, a school's contract from its type),
//! otherwise the neutral value [`NEUTRAL`] — never invented personal data.
//! A neutral value never overwrites a value the directory already holds.
//! A MUST nothing fills, or a class the directory lacks, is a problem:
//! the run is refused before any write, one message per problem.

use crate::aaf::FileCategory;
use crate::mapping::subschema::DirSchema;
use crate::schema::EntryKind;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod age;
pub use age::{births_coming_of_age, majority, majority_changed};

/// The value written for a MUST the extraction cannot fill: "not given by
/// AAF" (the dash AAF itself writes for "none" in composite values).
pub const NEUTRAL: &str = "-";

/// How a carried value is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// As it is.
    Copy,
    /// A 1D class or group `<school DN>$…$…$code$label` becomes the SDET
    /// two-field form `<school DN>$code`.
    ClassCode,
}

/// AAF fields carried in another attribute when the directory lacks theirs:
/// (entry kind, the project's attribute, the SDET attribute, how).
pub const CARRY: &[(EntryKind, &str, &str, Carry)] = &[
    (
        EntryKind::Pupil,
        "ENTPersonClasses",
        "ENTEleveClasses",
        Carry::ClassCode,
    ),
    (
        EntryKind::Pupil,
        "ENTPersonGroupes",
        "ENTEleveGroupes",
        Carry::ClassCode,
    ),
    (
        EntryKind::Pupil,
        "ENTEleveNiveau",
        "ENTEleveNivFormation",
        Carry::Copy,
    ),
    (
        EntryKind::Structure,
        "ENTEcoleMinistereTutelle",
        "ENTEtablissementMinistereTutelle",
        Carry::Copy,
    ),
];

/// How a MUST attribute is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// [`NEUTRAL`].
    Neutral,
    /// `O` when the birth date (`ENTPersonDateNaissance`, dd/mm/yyyy) is 18
    /// years or more before the run date, else `N` (also without a birth
    /// date: 1D pupils are children).
    Majority,
    /// `PR` when the school's type (`ENTStructureTypeStruct`) says PRIVE,
    /// `PU` when it says PUBLIC, else neutral.
    Contract,
}

/// MUST attributes of the SDET classes that AAF 1D data does not fill:
/// (class, attribute, how). Applied only when the entry has no value.
pub const FILL: &[(&str, &str, Fill)] = &[
    ("ENTEleve", "ENTEleveStatutEleve", Fill::Neutral),
    ("ENTEleve", "ENTEleveMEF", Fill::Neutral),
    ("ENTEleve", "ENTEleveLibelleMEF", Fill::Neutral),
    ("ENTEleve", "ENTEleveNivFormation", Fill::Neutral),
    ("ENTEleve", "ENTEleveFiliere", Fill::Neutral),
    ("ENTEleve", "ENTEleveClasses", Fill::Neutral),
    ("ENTEleve", "ENTEleveMajeur", Fill::Majority),
    (
        "ENTEtablissement",
        "ENTEtablissementMinistereTutelle",
        Fill::Neutral,
    ),
    (
        "ENTEtablissement",
        "ENTEtablissementContrat",
        Fill::Contract,
    ),
    ("ENTStructure", "ENTStructureSIREN", Fill::Neutral),
    ("ENTStructure", "ENTStructureNomCourant", Fill::Neutral),
];

/// Every attribute an adaptation may write (owned by the sync on the
/// kinds concerned, see [`super::owned`]).
pub fn written(kind: EntryKind) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = CARRY.iter().filter(|c| c.0 == kind).map(|c| c.2).collect();
    let classes: &[&str] = match kind {
        EntryKind::Pupil => &["ENTEleve"],
        EntryKind::Structure => &["ENTEtablissement", "ENTStructure"],
        _ => &[],
    };
    v.extend(FILL.iter().filter(|f| classes.contains(&f.0)).map(|f| f.1));
    v.sort_unstable();
    v.dedup();
    v
}

/// True when `attr` may hold [`NEUTRAL`] as a placeholder.
pub fn is_fillable(attr: &str) -> bool {
    FILL.iter().any(|f| f.1.eq_ignore_ascii_case(attr))
}

/// What the sync writes for one kind of entry into this directory.
#[derive(Debug, Clone, Default)]
pub struct KindRules {
    /// The project's attribute → (the attribute written, how).
    pub carry: HashMap<String, (&'static str, Carry)>,
    /// Attributes not written (lower case → spelling).
    pub drop: HashMap<String, String>,
    /// MUSTs filled when the entry has no value.
    pub fill: Vec<(&'static str, Fill)>,
    /// Attributes the directory keeps single-valued (lower case).
    pub single: BTreeSet<String>,
}

/// The adaptation to one directory's schema.
#[derive(Debug, Clone, Default)]
pub struct Adaptation {
    /// False for a directory running the project's schema (nothing to
    /// adapt): the rules are empty.
    pub active: bool,
    pub kinds: HashMap<EntryKind, KindRules>,
    /// What cannot fit: refused before any write.
    pub problems: Vec<String>,
}

/// What the sync writes, per kind: the classes and the attributes.
fn plan_of(kind: EntryKind) -> (Vec<&'static str>, Vec<&'static str>) {
    use super::fields;
    let person = [
        "top",
        "person",
        "organizationalPerson",
        "inetOrgPerson",
        "ENTPerson",
    ];
    let state = crate::schema::STATE_CLASS;
    let mut attrs: Vec<&'static str> = Vec::new();
    let classes: Vec<&'static str> = match kind {
        EntryKind::Structure => {
            attrs.extend(fields::all_fields(FileCategory::EtabEducNat).map(|f| f.ldap));
            attrs.extend(["ou", "ENTStructureJointure", crate::schema::ATTR_SOURCE]);
            vec![
                "top",
                "organizationalUnit",
                "ENTStructure",
                "ENTEtablissement",
                state,
            ]
        }
        EntryKind::Pupil => {
            attrs.extend(fields::all_fields(FileCategory::Eleve).map(|f| f.ldap));
            attrs.extend([
                "ENTEleveAutoriteParentale",
                "ENTEleveParents",
                "ENTElevePersRelEleve",
            ]);
            person.iter().copied().chain(["ENTEleve", state]).collect()
        }
        EntryKind::Parent => {
            attrs.extend(fields::all_fields(FileCategory::PersRelEleve).map(|f| f.ldap));
            attrs.push("ENTAuxPersRelEleveEleve");
            person
                .iter()
                .copied()
                .chain(["ENTAuxPersRelEleve", state])
                .collect()
        }
        EntryKind::Staff => {
            attrs.extend(fields::all_fields(FileCategory::PersEducNat).map(|f| f.ldap));
            attrs.extend(fields::STAFF_CONSENTED.iter().map(|f| f.ldap));
            person
                .iter()
                .copied()
                .chain(["ENTAuxEnseignant", state])
                .collect()
        }
        EntryKind::Classe | EntryKind::Groupe => {
            attrs.extend([
                "cn",
                "member",
                "description",
                "aafSyncStructure",
                "aafSyncCode",
            ]);
            let c = if kind == EntryKind::Classe {
                "ENTClasse"
            } else {
                "ENTGroupe"
            };
            vec!["top", "groupOfNames", c, state]
        }
        EntryKind::Control => vec![],
    };
    if kind.is_person() {
        attrs.extend([
            "uid",
            "cn",
            "displayName",
            "ENTPersonJointure",
            "ENTPersonLogin",
            "ENTPersonProfils",
            crate::schema::ATTR_SOURCE,
            crate::schema::ATTR_FIRST_SEEN,
        ]);
    }
    (classes, attrs)
}

/// Attributes every entry of a kind has whatever its record: they fill
/// their classes' MUSTs.
fn always(kind: EntryKind) -> &'static [&'static str] {
    match kind {
        EntryKind::Structure => &[
            "ou",
            "ENTStructureJointure",
            "objectClass",
            crate::schema::ATTR_SOURCE,
        ],
        k if k.is_person() => &[
            "sn",
            "cn",
            "uid",
            "ENTPersonLogin",
            "ENTPersonJointure",
            "ENTAuxPersRelEleveEleve",
            "objectClass",
            crate::schema::ATTR_SOURCE,
        ],
        EntryKind::Classe | EntryKind::Groupe => {
            &["cn", "member", "objectClass", crate::schema::ATTR_SOURCE]
        }
        _ => &["objectClass"],
    }
}

impl Adaptation {
    /// The adaptation to `schema`. A directory with the project's schema
    /// (every class and attribute the sync writes, no MUST left unfilled)
    /// gives an inactive one.
    pub fn compile(schema: &DirSchema) -> Adaptation {
        let mut out = Adaptation::default();
        if schema.is_empty() {
            return out;
        }
        for kind in EntryKind::ALL
            .into_iter()
            .filter(|k| *k != EntryKind::Control)
        {
            let (classes, attrs) = plan_of(kind);
            let mut rules = KindRules::default();
            for c in &classes {
                if !schema.has_class(c) {
                    let fix = if c.starts_with("aafSync") {
                        "load schema/20-aaf-sync.ldif (the sync's own state schema) into slapd"
                    } else {
                        "load the SDET schema (schema/10-aaf-sdet.ldif, or the deployed SDET files)"
                    };
                    out.problems.push(format!(
                        "{}: object class {c} unknown to the directory: {fix}",
                        kind.as_str()
                    ));
                }
            }
            let (must, may) = schema.allowed(&classes);
            let allowed = |a: &str| {
                let c = schema.canonical(a);
                schema.has_attr(a) && (must.contains(&c) || may.contains(&c))
            };
            for a in &attrs {
                if allowed(a) {
                    if schema.single_valued(a) {
                        rules.single.insert(a.to_ascii_lowercase());
                    }
                    continue;
                }
                let carried = CARRY
                    .iter()
                    .find(|c| c.0 == kind && c.1.eq_ignore_ascii_case(a))
                    .filter(|c| allowed(c.2));
                match carried {
                    Some(c) => {
                        rules.carry.insert(a.to_ascii_lowercase(), (c.2, c.3));
                        if schema.single_valued(c.2) {
                            rules.single.insert(c.2.to_ascii_lowercase());
                        }
                    }
                    None => {
                        rules.drop.insert(a.to_ascii_lowercase(), a.to_string());
                    }
                }
            }
            // MUSTs nothing the sync writes may fill
            let produced: BTreeSet<String> = attrs
                .iter()
                .filter(|a| allowed(a))
                .map(|a| schema.canonical(a))
                .chain(rules.carry.values().map(|(t, _)| schema.canonical(t)))
                .collect();
            let mut musts: Vec<&String> = must.iter().collect();
            musts.sort();
            for m in musts {
                let fill = FILL.iter().find(|f| schema.canonical(f.1) == *m);
                if let Some(f) = fill {
                    if !rules.fill.iter().any(|x| x.0 == f.1) {
                        rules.fill.push((f.1, f.2));
                    }
                    continue;
                }
                if always(kind).iter().any(|a| schema.canonical(a) == *m) {
                    continue;
                }
                if produced.contains(m) {
                    // written when the record has it: the others would fail
                    out.problems.push(format!(
                        "{}: MUST attribute {m} is not in every record and nothing fills it: \
                         make it MAY in the directory's schema, or load schema/10-aaf-sdet.ldif",
                        kind.as_str()
                    ));
                    continue;
                }
                out.problems.push(format!(
                    "{}: MUST attribute {m} of the directory's classes cannot be filled from AAF data: \
                     make it MAY, or load schema/10-aaf-sdet.ldif",
                    kind.as_str()
                ));
            }
            let adapts =
                !rules.carry.is_empty() || !rules.drop.is_empty() || !rules.fill.is_empty();
            out.active |= adapts;
            out.kinds.insert(kind, rules);
        }
        out.problems.sort();
        out.problems.dedup();
        out
    }

    /// Pupils' `ENTEleveMajeur` is filled from the birth date at the run
    /// date: it changes with the date, record or not.
    pub fn fills_majority(&self) -> bool {
        self.rules(EntryKind::Pupil).is_some_and(|r| {
            r.fill
                .iter()
                .any(|(a, f)| a.eq_ignore_ascii_case("ENTEleveMajeur") && *f == Fill::Majority)
        })
    }

    pub fn rules(&self, kind: EntryKind) -> Option<&KindRules> {
        self.kinds.get(&kind).filter(|_| self.active)
    }

    /// The lines `check` prints for a source of `degree`: what is carried
    /// where, dropped, filled (the other degree's fields left out: such a
    /// source never writes them).
    pub fn describe(&self, degree: crate::aaf::degree::Degree) -> Vec<String> {
        let mine = |k: EntryKind, a: &str| !super::other_degree_only(k, degree, a);
        let mut out = Vec::new();
        if !self.active {
            out.push(
                "the directory's schema holds every attribute the sync writes: nothing to adapt"
                    .into(),
            );
            return out;
        }
        let mut kinds: Vec<&EntryKind> = self.kinds.keys().collect();
        kinds.sort();
        for k in kinds {
            let r = &self.kinds[k];
            let mut carry: Vec<String> = r
                .carry
                .iter()
                .filter(|(from, _)| mine(*k, from))
                .map(|(from, (to, _))| {
                    let from = CARRY
                        .iter()
                        .find(|c| c.1.eq_ignore_ascii_case(from))
                        .map_or(from.as_str(), |c| c.1);
                    format!("{from} → {to}")
                })
                .collect();
            carry.sort();
            for c in carry {
                out.push(format!("{}: carried {c}", k.as_str()));
            }
            let mut drop: Vec<&String> = r.drop.values().filter(|d| mine(*k, d)).collect();
            drop.sort();
            for d in drop {
                out.push(format!(
                    "{}: the directory's schema has no {d} (or does not allow it): not written",
                    k.as_str()
                ));
            }
            let (_, attrs) = plan_of(*k);
            for a in attrs {
                let lower = a.to_ascii_lowercase();
                if r.single.contains(&lower)
                    && mine(*k, a)
                    && !super::is_single_valued(a)
                    && !lower.starts_with("aafsync")
                    && !["cn", "uid", "ou", "description"].contains(&lower.as_str())
                {
                    out.push(format!(
                        "{}: {a} is single-valued in the directory: the record's first value is written",
                        k.as_str()
                    ));
                }
            }
            for (a, f) in &r.fill {
                let how = match f {
                    Fill::Neutral => format!("\"{NEUTRAL}\" when the entry has none"),
                    Fill::Majority => "O or N from the birth date at the run date".into(),
                    Fill::Contract => "PU or PR from ENTStructureTypeStruct".into(),
                };
                out.push(format!("{}: MUST {a} filled: {how}", k.as_str()));
            }
        }
        out
    }
}

/// A 1D class value `<DN>$…$…$code$label` as `<DN>$code`.
pub fn class_code(v: &str) -> String {
    let f: Vec<&str> = v.split('$').collect();
    let code = f
        .get(3)
        .filter(|s| !s.is_empty())
        .or_else(|| f.get(4).filter(|s| !s.is_empty()))
        .or_else(|| f.get(1).filter(|s| !s.is_empty()))
        .copied()
        .unwrap_or("");
    format!("{}${code}", f[0])
}

/// `PR`, `PU` or neutral, from a school's type.
pub fn contract(type_struct: Option<&str>) -> &'static str {
    match type_struct.map(str::to_uppercase) {
        Some(t) if t.contains("PRIV") => "PR",
        Some(t) if t.contains("PUBLI") => "PU",
        _ => NEUTRAL,
    }
}

/// Counts of what the adaptation did, by attribute name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AdaptStats {
    /// Values not written: the directory has no such attribute.
    pub dropped: BTreeMap<String, u64>,
    /// Values carried in another attribute.
    pub carried: BTreeMap<String, u64>,
    /// MUSTs filled.
    pub filled: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests;
