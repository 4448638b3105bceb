//! Minimisation for secondary schools (2D): the AAF fields each category of
//! a 2D extraction may bring into the directory, and the LDAP attribute
//! each one becomes. The 1D table is [`super::fields`]; this one is read
//! the same way, alone, by a data-protection reviewer.
//!
//! **What it follows.** The regulation for ENTs is the *arrêté du 30
//! novembre 2006* creating the ENT processing (NOR MENT0602397A),
//! consolidated with the *arrêté du 13 octobre 2017* (NOR MENN1722182A),
//! issued after the CNIL's opinions n° 2006-104 (27 April 2006) and
//! n° 2017-199 (6 July 2017, "avis RU-003"): an ENT may process the
//! identity of its users, their contact details where the school needs to
//! reach them, and what organises school life (the school, the class, the
//! groups, the formation and subjects followed or taught, the functions of
//! staff); its recipients (art. 4) and retention (art. 6) are what the rest
//! of aaf-sync implements. The attribute names and formats are those of the
//! SDET (*schéma directeur des espaces numériques de travail*) 2D annex
//! ("Annexe 4bis") that the académie's AAF export follows. The conventions
//! of `seeds/` add two rules that hold in both degrees: no staff home
//! address without consent ([`super::fields::STAFF_CONSENTED`]), and
//! mobile numbers only for people in relation with the pupil (CNIL).
//!
//! **Left out on purpose** (dropped and counted by name in the report):
//! - pupils: scholarship (`ENTEleveBoursier`, social and financial
//!   situation), home address, e-mail and phone (the school reaches the
//!   family through the responsible persons, as in 1D), entry and leaving
//!   dates, internal ids of other systems (`ENTEleveStructRattachId`,
//!   `ENTEleveStructureRattachIdMEN`), the deprecated parent fields
//!   (`ENTEleveParents`, `ENTElevePere`, `ENTEleveMere`,
//!   `ENTElevePersRelEleve1/2`…: the links are rebuilt from
//!   `ENTElevePersRelEleve`);
//! - in `ENTElevePersRelEleve`, the financial-responsibility and payment
//!   flags (fields 3 and 6) are written empty: who pays is not school life;
//!   the relation code, legal responsibility and contact flags stay;
//! - people in relation with the pupil who are neither legal guardians
//!   nor named in `ENTEleveAutoriteParentale` (`respLegal` 0: a neighbour
//!   to call, a sibling): not linked, hence not kept (spec §6, like 1D);
//! - guardians: their birth date, and `ENTPersonMobileSMS` (a copy of a
//!   mobile number the record gives in `mobile`);
//! - staff: home address (unless consented), the posts' disciplines
//!   (`ENTAuxEnsDisciplinesPoste`), presence before pupils, the STS id and
//!   every `…Date` field (history of the posts);
//! - structures: internal codes (`ENTStructureCodeTypeStruct`,
//!   `ENTEtablissementCodeMinistereTutelle`, `ENTServAcCodeAcademie`),
//!   the duplicate `ENTEtablissementUAI`, administrative attachments
//!   (`ENTEtablissementStructRattachFctl`).
//!
//! Subjects (`MatiereEducNat`) and formations (`MefEducNat`) are reference
//! tables, not people: they are read and the codes people carry checked
//! against them (unknown ones counted), never written as entries; the SDET
//! holds them as values on people (`ENTEleveMEF`, `ENTEleveLibelleMEF`,
//! `ENTAuxEnsClassesMatieres`…), as each record gives them, and so does
//! aaf-sync.

use super::fields::{f, multi, Field, Rule::*};

/// Secondary schools (EtabEducNat, 2D). `ENTStructureClasses` and
/// `ENTStructureGroupes` (`code$label$…`) also give the class and group
/// entries their labels.
pub const STRUCTURE: &[Field] = &[
    f("ENTStructureUAI", "ENTStructureUAI", Text),
    f("ENTStructureSIREN", "ENTStructureSIREN", Text),
    f("ENTStructureNomCourant", "ENTStructureNomCourant", Text),
    f("ENTStructureTypeStruct", "ENTStructureTypeStruct", Text),
    f(
        "ENTEtablissementMinistereTutelle",
        "ENTEtablissementMinistereTutelle",
        Text,
    ),
    f("ENTEtablissementContrat", "ENTEtablissementContrat", Text),
    f("ENTEtablissementBassin", "ENTEtablissementBassin", Text),
    f("ENTServAcAcademie", "ENTServAcAcademie", Text),
    f("street", "street", Text),
    f("postOfficeBox", "postOfficeBox", Text),
    f("postalCode", "postalCode", Text),
    f("l", "l", Text),
    f("telephoneNumber", "telephoneNumber", Phone),
    f(
        "facsimileTelephoneNumber",
        "facsimileTelephoneNumber",
        Phone,
    ),
    f("ENTStructureEmail", "ENTStructureEmail", Mail),
    f("ENTStructureMailSI", "ENTStructureMailSI", Mail),
    multi("ENTStructureClasses", "ENTStructureClasses", Text),
    multi("ENTStructureGroupes", "ENTStructureGroupes", Text),
];

/// Identity fields shared by the three person categories (2D names).
const IDENTITY: [Field; 5] = [
    f("ENTPersonNomPatro", "ENTPersonNomPatro", Text),
    f("sn", "sn", Text),
    f("givenName", "givenName", Text),
    multi("ENTPersonAutresPrenoms", "ENTPersonAutresPrenoms", Text),
    f("personalTitle", "personalTitle", Civility),
];

/// Pupils (Eleve, 2D). `ENTElevePersRelEleve` and
/// `ENTEleveAutoriteParentale` are handled by the mapper (person ids
/// become the DNs of the parents actually kept).
pub const PUPIL: &[Field] = &[
    IDENTITY[0],
    IDENTITY[1],
    IDENTITY[2],
    IDENTITY[3],
    IDENTITY[4],
    f("ENTEleveINE", "ENTEleveINE", Text),
    f("ENTPersonDateNaissance", "ENTPersonDateNaissance", Text),
    multi(
        "ENTPersonStructRattach",
        "ENTPersonStructRattach",
        StructureDn,
    ),
    f("ENTEleveRegime", "ENTEleveRegime", Text),
    f("ENTEleveTransport", "ENTEleveTransport", Text),
    f("ENTEleveStatutEleve", "ENTEleveStatutEleve", Text),
    f("ENTEleveMEF", "ENTEleveMEF", Text),
    f("ENTEleveLibelleMEF", "ENTEleveLibelleMEF", Text),
    f("ENTEleveNivFormation", "ENTEleveNivFormation", Text),
    f("ENTEleveFiliere", "ENTEleveFiliere", Text),
    multi("ENTEleveEnseignements", "ENTEleveEnseignements", Text),
    multi(
        "ENTEleveCodeEnseignements",
        "ENTEleveCodeEnseignements",
        Text,
    ),
    multi("ENTEleveClasses", "ENTEleveClasses", StructureComposite),
    multi("ENTEleveGroupes", "ENTEleveGroupes", StructureComposite),
];

/// People in relation with the pupil (PersRelEleve, 2D), kept while a
/// kept pupil names them as legal guardian.
pub const PARENT: &[Field] = &[
    IDENTITY[0],
    IDENTITY[1],
    IDENTITY[2],
    IDENTITY[3],
    IDENTITY[4],
    f("ENTPersonAdresse", "ENTPersonAdresse", Text),
    f("ENTPersonCodePostal", "ENTPersonCodePostal", Text),
    f("ENTPersonVille", "ENTPersonVille", Text),
    f("ENTPersonPays", "ENTPersonPays", Text),
    f(
        "ENTPersonAdresseDiffusion",
        "ENTPersonAdresseDiffusion",
        Text,
    ),
    f("homePhone", "homePhone", Phone),
    multi("mobile", "mobile", Phone),
    f("mail", "mail", Mail),
    f("telephoneNumber", "telephoneNumber", Phone),
];

/// Staff (PersEducNat, 2D): identity, schools, functions, and what a
/// teacher teaches where (classes and groups with their subject, head of
/// class, formations). No address (see [`super::fields::STAFF_CONSENTED`]),
/// no phone.
pub const STAFF: &[Field] = &[
    IDENTITY[0],
    IDENTITY[1],
    IDENTITY[2],
    IDENTITY[3],
    IDENTITY[4],
    f("ENTPersonDateNaissance", "ENTPersonDateNaissance", Text),
    f("mail", "mail", Mail),
    multi(
        "ENTPersonStructRattach",
        "ENTPersonStructRattach",
        StructureDn,
    ),
    multi(
        "ENTPersonFonctions",
        "ENTPersonFonctions",
        StructureComposite,
    ),
    f(
        "ENTPersonCategorieEnseignant",
        "ENTPersonCategorieEnseignant",
        Text,
    ),
    multi("ENTEnsFonctionDir", "ENTEnsFonctionDir", StructureDn),
    multi(
        "ENTAuxEnsCategoDiscipline",
        "ENTAuxEnsCategoDiscipline",
        Text,
    ),
    multi("ENTAuxEnsMEF", "ENTAuxEnsMEF", StructureComposite),
    multi(
        "ENTAuxEnsMatiereEnseignEtab",
        "ENTAuxEnsMatiereEnseignEtab",
        StructureComposite,
    ),
    multi("ENTAuxEnsClasses", "ENTAuxEnsClasses", StructureComposite),
    multi("ENTAuxEnsGroupes", "ENTAuxEnsGroupes", StructureComposite),
    multi(
        "ENTAuxEnsClassesMatieres",
        "ENTAuxEnsClassesMatieres",
        StructureComposite,
    ),
    multi(
        "ENTAuxEnsGroupesMatieres",
        "ENTAuxEnsGroupesMatieres",
        StructureComposite,
    ),
    multi(
        "ENTAuxEnsClassesPrincipal",
        "ENTAuxEnsClassesPrincipal",
        StructureComposite,
    ),
];

/// Subjects (MatiereEducNat): code → label, used to check the codes
/// teachers' lists give; nothing written.
pub const SUBJECT: &[&str] = &["ENTMatJointure", "ENTLibelleMatiere"];

/// Formations (MefEducNat): the codes pupils' `ENTEleveMEF` is checked
/// against; nothing written.
pub const FORMATION: &[&str] = &[
    "ENTMefJointure",
    "ENTLibelleMef",
    "ENTNivFormation",
    "ENTFiliere",
];

/// Fields read by the mapper itself (identifiers and links), per category.
pub fn handled(cat: crate::aaf::FileCategory) -> &'static [&'static str] {
    use crate::aaf::FileCategory::*;
    match cat {
        EtabEducNat => &["ENTStructureJointure"],
        Eleve => &[
            "ENTPersonJointure",
            "ENTElevePersRelEleve",
            "ENTEleveAutoriteParentale",
        ],
        // the pupils' records decide the links (legal guardians only)
        PersRelEleve => &["ENTPersonJointure", "ENTAuxPersRelEleveEleve"],
        PersEducNat => &["ENTPersonJointure"],
        MatiereEducNat => SUBJECT,
        MefEducNat => FORMATION,
    }
}

/// Attributes of a 2D staff entry that need the `ENTAuxEnseignant` class.
pub const TEACHING: &[&str] = &[
    "ENTAuxEnsCategoDiscipline",
    "ENTAuxEnsMEF",
    "ENTAuxEnsMatiereEnseignEtab",
    "ENTAuxEnsClasses",
    "ENTAuxEnsGroupes",
    "ENTAuxEnsClassesMatieres",
    "ENTAuxEnsGroupesMatieres",
    "ENTAuxEnsClassesPrincipal",
    "ENTEnsFonctionDir",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_d_keeps_the_one_d_rules() {
        // mobile numbers for people in relation with the pupil only
        for t in [STRUCTURE, PUPIL, STAFF] {
            assert!(!t.iter().any(|f| f.ldap == "mobile" || f.aaf == "mobile"));
        }
        assert!(PARENT.iter().any(|f| f.ldap == "mobile"));
        // no staff or pupil home address or phone by default
        for t in [PUPIL, STAFF] {
            for f in t {
                assert!(
                    ![
                        "ENTPersonAdresse",
                        "ENTPersonCodePostal",
                        "ENTPersonVille",
                        "ENTPersonPays",
                        "homePhone",
                        "telephoneNumber"
                    ]
                    .contains(&f.aaf),
                    "{}",
                    f.aaf
                );
            }
        }
        assert!(!PUPIL.iter().any(|f| f.aaf == "ENTEleveBoursier"));
    }
}

#[cfg(test)]
mod degree_tests {
    use crate::aaf::degree::Degree;
    use crate::mapping::other_degree_only;
    use crate::schema::EntryKind;

    #[test]
    fn the_other_degrees_fields_are_not_a_sources_own() {
        assert!(other_degree_only(
            EntryKind::Pupil,
            Degree::OneD,
            "ENTEleveRegime"
        ));
        assert!(other_degree_only(
            EntryKind::Pupil,
            Degree::TwoD,
            "ENTPersonClasses"
        ));
        assert!(other_degree_only(
            EntryKind::Staff,
            Degree::OneD,
            "ENTAuxEnsClassesMatieres"
        ));
        // common to both, or written by the SDET adaptation of a 1D source
        assert!(!other_degree_only(EntryKind::Pupil, Degree::OneD, "sn"));
        assert!(!other_degree_only(
            EntryKind::Pupil,
            Degree::OneD,
            "ENTEleveClasses"
        ));
        assert!(!other_degree_only(
            EntryKind::Pupil,
            Degree::TwoD,
            "ENTElevePersRelEleve"
        ));
        assert!(!other_degree_only(
            EntryKind::Classe,
            Degree::TwoD,
            "member"
        ));
    }
}
