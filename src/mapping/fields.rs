//! Minimisation (spec §6): the AAF fields each category may bring into the
//! directory, and the LDAP attribute each one becomes.
//!
//! This table *is* the minimisation rule: a field not listed for its category
//! never reaches LDAP (it is dropped and counted). Read it alone to review what
//! the directory may hold. Notable absences, on purpose:
//! - staff (PersEducNat) home address: only with the person's consent
//!   ([`STAFF_CONSENTED`]), never by default (convention 001, art. 5);
//! - mobile numbers: only for PersRelEleve (CNIL: people in relation with the
//!   pupil), so no mobile for staff or pupils whatever the extract carries.

use crate::aaf::degree::Degree;
use crate::aaf::FileCategory;

/// How one AAF field becomes LDAP values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Copied as is (directory string).
    Text,
    /// `M.`, `Mme`, `Mlle` (accepting the 1D spellings `Monsieur`, `Madame`…).
    Civility,
    /// A structure id, rewritten as the structure's DN.
    StructureDn,
    /// A `$`-separated value whose first field is a structure id, rewritten as
    /// the structure's DN.
    StructureComposite,
    /// A telephone number (PrintableString characters only).
    Phone,
    /// An e-mail address (ASCII).
    Mail,
}

/// One authorised field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub aaf: &'static str,
    pub ldap: &'static str,
    pub rule: Rule,
    /// A real AAF record carries this field once (one surname, one birth
    /// date, one UAI…). A record giving it several values is rejected (see
    /// [`several_values`]): keeping one would be a guess, keeping all would
    /// put two surnames, or a login built from the wrong one, in the
    /// directory. Multi-valued (`false`) are only the fields the format
    /// lists with several `<value>`s: other first names, structures of
    /// attachment (1D staff, see the schema), classes, groups, functions,
    /// direction, specialities and parents' mobiles.
    pub single: bool,
}

/// A field a real record carries once.
pub(super) const fn f(aaf: &'static str, ldap: &'static str, rule: Rule) -> Field {
    Field {
        aaf,
        ldap,
        rule,
        single: true,
    }
}

/// A field the format lists with several values.
pub(super) const fn multi(aaf: &'static str, ldap: &'static str, rule: Rule) -> Field {
    Field {
        aaf,
        ldap,
        rule,
        single: false,
    }
}
use Rule::*;

/// Schools (EtabEducNat, 1D).
pub const STRUCTURE: &[Field] = &[
    f("ENTStructureUAI", "ENTStructureUAI", Text),
    f("ENTStructureSIREN", "ENTStructureSIREN", Text),
    f("ENTStructureNomCourant", "ENTStructureNomCourant", Text),
    f("ENTStructureTypeStruct", "ENTStructureTypeStruct", Text),
    f("ENTEcoleMinistereTutelle", "ENTEcoleMinistereTutelle", Text),
    f("ENTEcoleSecteur", "ENTEcoleSecteur", Text),
    f("ENTEcoleCirconscription", "ENTEcoleCirconscription", Text),
    f("ENTEcoleCommune", "ENTEcoleCommune", Text),
    f("ENTEcoleRPI", "ENTEcoleRPI", Text),
    f("ENTServAcAcademie", "ENTServAcAcademie", Text),
    f("ENTStructureAdresse", "street", Text),
    f("ENTStructureBoitePostale", "postOfficeBox", Text),
    f("ENTStructureCodePostal", "postalCode", Text),
    f("ENTStructureVille", "l", Text),
    f("ENTStructureTelephone", "telephoneNumber", Phone),
    f("ENTStructureFax", "facsimileTelephoneNumber", Phone),
    f("ENTStructureEmail", "ENTStructureEmail", Mail),
    f("ENTStructureMailSI", "ENTStructureMailSI", Mail),
];

/// Identity fields shared by the three person categories.
const IDENTITY: [Field; 5] = [
    f("ENTPersonNomPatro", "ENTPersonNomPatro", Text),
    f("ENTPersonNom", "sn", Text),
    f("ENTPersonPrenom", "givenName", Text),
    multi("ENTPersonAutresPrenoms", "ENTPersonAutresPrenoms", Text),
    f("ENTPersonCivilite", "personalTitle", Civility),
];

/// Pupils (Eleve, 1D). `ENTEleveAutoriteParentale` is handled by the mapper
/// (its person ids become DNs of the parents actually created).
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
    f(
        "ENTEleveRestaurantScolaire",
        "ENTEleveRestaurantScolaire",
        Text,
    ),
    f("ENTEleveTransport", "ENTEleveTransport", Text),
    f("ENTEleveGarderieMatin", "ENTEleveGarderieMatin", Text),
    f("ENTEleveGarderieSoir", "ENTEleveGarderieSoir", Text),
    f(
        "ENTEleveEtudesSurveillees",
        "ENTEleveEtudesSurveillees",
        Text,
    ),
    f("ENTEleveNiveau", "ENTEleveNiveau", Text),
    f("ENTEleveCycle", "ENTEleveCycle", Text),
    f("ENTEleveTypeClasse", "ENTEleveTypeClasse", Text),
    multi("ENTPersonClasses", "ENTPersonClasses", StructureComposite),
    multi("ENTPersonGroupes", "ENTPersonGroupes", StructureComposite),
];

/// Parents and other legal guardians (PersRelEleve, 1D).
/// `ENTPersRelEleveEleve` is handled by the mapper (pupil DNs).
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
    f("ENTPersonTelPerso", "homePhone", Phone),
    multi("ENTPersRelEleveTelMobile", "mobile", Phone),
    f("ENTPersonMail", "mail", Mail),
    f("ENTPersRelEleveTelPro", "telephoneNumber", Phone),
];

/// Staff (PersEducNat, 1D). No address, no phone.
pub const STAFF: &[Field] = &[
    IDENTITY[0],
    IDENTITY[1],
    IDENTITY[2],
    IDENTITY[3],
    IDENTITY[4],
    f("ENTPersonDateNaissance", "ENTPersonDateNaissance", Text),
    f("ENTPersonMail", "mail", Mail),
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
    // the id of the school the person directs: a link, as a DN
    multi("ENTEnsFonctionDir", "ENTEnsFonctionDir", StructureDn),
    multi("ENTEnsSpecialites", "ENTEnsSpecialites", Text),
];

/// Staff home address: written only for staff listed in the consent file.
pub const STAFF_CONSENTED: &[Field] = &[
    f("ENTPersonAdresse", "ENTPersonAdresse", Text),
    f("ENTPersonCodePostal", "ENTPersonCodePostal", Text),
    f("ENTPersonVille", "ENTPersonVille", Text),
    f("ENTPersonPays", "ENTPersonPays", Text),
];

/// Fields read by the mapper itself (identifiers and links), per category.
/// They are used, not dropped, though not copied as they are.
pub fn handled(cat: FileCategory) -> &'static [&'static str] {
    match cat {
        FileCategory::EtabEducNat => &["ENTStructureJointure"],
        FileCategory::Eleve => &["ENTPersonJointure", "ENTEleveAutoriteParentale"],
        FileCategory::PersRelEleve => &["ENTPersonJointure", "ENTPersRelEleveEleve"],
        // staff class/group lists only make the teacher a member of the class
        // entry (spec §5); they are not copied onto the staff entry.
        FileCategory::PersEducNat => &["ENTPersonJointure", "ENTPersonClasses", "ENTPersonGroupes"],
        _ => &[],
    }
}

pub fn fields(cat: FileCategory) -> &'static [Field] {
    match cat {
        FileCategory::EtabEducNat => STRUCTURE,
        FileCategory::Eleve => PUPIL,
        FileCategory::PersRelEleve => PARENT,
        FileCategory::PersEducNat => STAFF,
        _ => &[],
    }
}

/// The authorised fields of `cat` in an extraction of `degree`: this
/// file's tables for 1D, [`super::fields_2d`]'s for 2D.
pub fn fields_of(degree: Degree, cat: FileCategory) -> &'static [Field] {
    use super::fields_2d as d2;
    match degree {
        Degree::OneD => fields(cat),
        Degree::TwoD => match cat {
            FileCategory::EtabEducNat => d2::STRUCTURE,
            FileCategory::Eleve => d2::PUPIL,
            FileCategory::PersRelEleve => d2::PARENT,
            FileCategory::PersEducNat => d2::STAFF,
            _ => &[],
        },
    }
}

/// The fields of `cat` the mapper reads itself, in `degree`.
pub fn handled_of(degree: Degree, cat: FileCategory) -> &'static [&'static str] {
    match degree {
        Degree::OneD => handled(cat),
        Degree::TwoD => super::fields_2d::handled(cat),
    }
}

/// Every authorised field of `cat` in either degree: what the sync may
/// write on an entry of that kind, whichever source wrote it.
pub fn all_fields(cat: FileCategory) -> impl Iterator<Item = &'static Field> {
    fields_of(Degree::OneD, cat)
        .iter()
        .chain(fields_of(Degree::TwoD, cat))
}

/// True when a record of `cat` carries `aaf` once in the real format (see
/// [`Field::single`]). Fields outside the tables are dropped anyway; the
/// jointure is checked by the reader (it must equal the id).
pub fn is_single(degree: Degree, cat: FileCategory, aaf: &str) -> bool {
    let consented: &[Field] = match cat {
        FileCategory::PersEducNat => STAFF_CONSENTED,
        _ => &[],
    };
    fields_of(degree, cat)
        .iter()
        .chain(consented)
        .any(|f| f.single && f.aaf == aaf)
}

/// The first field of `rec` that a real record carries once but that `rec`
/// gives several non-empty values, with their number. Such a record is
/// damaged or forged: it is rejected whole (its person or structure kept as
/// the directory holds them), never reduced to one value by a guess.
pub fn several_values(degree: Degree, rec: &crate::aaf::Record) -> Option<(&str, usize)> {
    rec.attrs.iter().find_map(|a| {
        if !is_single(degree, rec.category, &a.name) {
            return None;
        }
        let n = a.non_empty().count();
        (n > 1).then_some((a.name.as_str(), n))
    })
}

/// Normalises a civility; `None` for a value that is not one.
pub fn civility(v: &str) -> Option<&'static str> {
    match v.trim().trim_end_matches('.').to_lowercase().as_str() {
        "m" | "mr" | "monsieur" => Some("M."),
        "mme" | "madame" => Some("Mme"),
        "mlle" | "mademoiselle" => Some("Mlle"),
        _ => None,
    }
}

/// PrintableString (the syntax slapd enforces for telephone numbers).
pub fn is_printable_string(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:?=".contains(c))
}

pub fn is_mail(v: &str) -> bool {
    v.is_ascii()
        && !v.contains(' ')
        && v.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_never_get_home_address_or_mobile() {
        for f in STAFF {
            assert!(
                ![
                    "ENTPersonAdresse",
                    "ENTPersonCodePostal",
                    "ENTPersonVille",
                    "ENTPersonPays"
                ]
                .contains(&f.aaf),
                "{}",
                f.aaf
            );
            assert!(
                !["mobile", "homePhone", "ENTPersonAdresse"].contains(&f.ldap),
                "{}",
                f.ldap
            );
        }
        for f in PUPIL {
            assert_ne!(f.ldap, "mobile");
        }
    }

    #[test]
    fn fields_carried_once_are_single_and_true_lists_are_not() {
        use FileCategory::*;
        for (cat, name) in [
            (Eleve, "ENTPersonNom"),
            (Eleve, "ENTPersonPrenom"),
            (Eleve, "ENTPersonNomPatro"),
            (Eleve, "ENTPersonCivilite"),
            (Eleve, "ENTPersonDateNaissance"),
            (Eleve, "ENTEleveINE"),
            (PersRelEleve, "ENTPersonMail"),
            (PersRelEleve, "ENTPersonTelPerso"),
            (PersRelEleve, "ENTPersRelEleveTelPro"),
            (PersRelEleve, "ENTPersonAdresse"),
            (PersEducNat, "ENTPersonMail"),
            (PersEducNat, "ENTPersonAdresse"),
            (PersEducNat, "ENTPersonCategorieEnseignant"),
            (EtabEducNat, "ENTStructureUAI"),
            (EtabEducNat, "ENTStructureNomCourant"),
            (EtabEducNat, "ENTStructureTypeStruct"),
        ] {
            assert!(is_single(Degree::OneD, cat, name), "{cat:?} {name}");
        }
        for (cat, name) in [
            (Eleve, "ENTPersonAutresPrenoms"),
            (Eleve, "ENTPersonClasses"),
            (Eleve, "ENTPersonStructRattach"),
            (PersRelEleve, "ENTPersRelEleveTelMobile"),
            (PersEducNat, "ENTPersonFonctions"),
            (PersEducNat, "ENTEnsFonctionDir"),
            // handled by the mapper, lists of links
            (Eleve, "ENTEleveAutoriteParentale"),
            (PersRelEleve, "ENTPersRelEleveEleve"),
            // not authorised: dropped whatever its values
            (Eleve, "ENTUnknown"),
        ] {
            assert!(!is_single(Degree::OneD, cat, name), "{cat:?} {name}");
        }
        // what the schema holds once must come from a field carried once
        for cat in FileCategory::IMPORTED {
            for f in all_fields(cat) {
                if crate::mapping::is_single_valued(f.ldap) {
                    assert!(f.single, "{}", f.aaf);
                }
            }
        }
    }

    #[test]
    fn civilities() {
        assert_eq!(civility("M."), Some("M."));
        assert_eq!(civility("Monsieur"), Some("M."));
        assert_eq!(civility("MME"), Some("Mme"));
        assert_eq!(civility("Madame"), Some("Mme"));
        assert_eq!(civility("Mlle"), Some("Mlle"));
        assert_eq!(civility("Dr"), None);
    }

    #[test]
    fn syntaxes() {
        assert!(is_printable_string("01 23 45 67 89"));
        assert!(is_printable_string("+33 (0)1.23"));
        assert!(!is_printable_string("01é"));
        assert!(is_mail("a.b@ac-creteil.fr"));
        assert!(!is_mail("é@x.fr"));
        assert!(!is_mail("nobody"));
    }
}
