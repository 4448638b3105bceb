//! The attribute tables of the mapping: what the sync owns on each kind of
//! entry, which attributes hold DNs, which are single-valued or written
//! once, and the jointure helpers that find an entry's AAF id. The diff and
//! the retention read them to know what is theirs to change.

use super::{fields, sdet};
use crate::aaf::degree::Degree;
use crate::aaf::FileCategory;
use crate::model::Entry;
use crate::schema::{EntryKind, ATTR_FIRST_SEEN, ATTR_SOURCE, CONTROL_OWNED, LIFECYCLE_ATTRS};
use std::collections::HashMap;
use std::sync::OnceLock;

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
pub const DN_PREFIXED: [&str; 14] = [
    "ENTEleveAutoriteParentale",
    "ENTPersonClasses",
    "ENTPersonGroupes",
    "ENTPersonFonctions",
    // the SDET forms: 2D, and a 1D directory with the SDET schema
    "ENTEleveClasses",
    "ENTEleveGroupes",
    // 2D
    "ENTElevePersRelEleve",
    "ENTAuxEnsClasses",
    "ENTAuxEnsGroupes",
    "ENTAuxEnsClassesMatieres",
    "ENTAuxEnsGroupesMatieres",
    "ENTAuxEnsClassesPrincipal",
    "ENTAuxEnsMEF",
    "ENTAuxEnsMatiereEnseignEtab",
];

/// Attributes single-valued in the schema: only the first value is kept.
pub(super) const SINGLE_VALUED: [&str; 33] = [
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
    // 2D
    "ENTEleveRegime",
    "ENTEleveStatutEleve",
    "ENTEleveMEF",
    "ENTEleveLibelleMEF",
    "ENTEleveNivFormation",
    "ENTEleveFiliere",
    "ENTEtablissementMinistereTutelle",
    "ENTEtablissementContrat",
    "ENTEtablissementBassin",
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
        // both degrees' tables: a kind of entry is the same whichever
        // source wrote it, and one tree may hold a 1D and a 2D source
        let person = |extra: &[&'static str], cat: FileCategory| {
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
            v.extend(fields::all_fields(cat).map(|f| f.ldap));
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut pupil_extra = vec![
            "ENTEleveAutoriteParentale",
            "ENTEleveParents",
            "ENTElevePersRelEleve",
        ];
        pupil_extra.extend(sdet::written(EntryKind::Pupil));
        m.insert(EntryKind::Pupil, person(&pupil_extra, FileCategory::Eleve));
        m.insert(
            EntryKind::Parent,
            person(&["ENTAuxPersRelEleveEleve"], FileCategory::PersRelEleve),
        );
        let consented: Vec<&'static str> = fields::STAFF_CONSENTED.iter().map(|f| f.ldap).collect();
        m.insert(
            EntryKind::Staff,
            person(&consented, FileCategory::PersEducNat),
        );
        let mut s = vec!["ENTStructureJointure", ATTR_SOURCE];
        s.extend(sdet::written(EntryKind::Structure));
        s.extend(LIFECYCLE_ATTRS);
        s.extend(fields::all_fields(FileCategory::EtabEducNat).map(|f| f.ldap));
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

/// True when `attr` is written on an entry of `kind` only by sources of
/// the other degree than `degree` ([`owned`] covers both): on an entry of
/// a `degree` source, such an attribute was not written by the sync.
pub fn other_degree_only(kind: EntryKind, degree: Degree, attr: &str) -> bool {
    let Some(cat) = super::inverse::category(kind) else {
        return false;
    };
    let other = match degree {
        Degree::OneD => Degree::TwoD,
        Degree::TwoD => Degree::OneD,
    };
    let eq = |f: &fields::Field| f.ldap.eq_ignore_ascii_case(attr);
    // the 2D guardians' relation list is written by the mapper, not a table
    let two_d_link = degree == Degree::TwoD && attr.eq_ignore_ascii_case("ENTElevePersRelEleve");
    fields::fields_of(other, cat).iter().any(eq)
        && !fields::fields_of(degree, cat).iter().any(eq)
        && !sdet::written(kind)
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
        && !two_d_link
}

/// Splits `<source>$<id>` and returns the id when the source matches.
/// Jointures match as slapd's `caseIgnoreMatch` does, never coarser: case,
/// and spaces at either end, aside (the directory finds ` AC-X$1` under
/// `AC-X$1`: read as another source's, its entry was neither adopted nor
/// updated, and a second entry was made for the person), but not a tab
/// or a line end (see [`crate::model::same_strictly`]).
pub fn id_of_jointure<'j>(jointure: &'j str, source: &str) -> Option<&'j str> {
    let (s, id) = jointure.trim_matches(' ').split_once('$')?;
    s.eq_ignore_ascii_case(source).then_some(id)
}

/// The AAF id of an entry of `source`: among its jointures (an entry may
/// carry one per source), the one of `source`.
pub fn id_in<'e>(e: &'e Entry, attr: &str, source: &str) -> Option<&'e str> {
    e.get(attr)?.iter().find_map(|j| id_of_jointure(j, source))
}
