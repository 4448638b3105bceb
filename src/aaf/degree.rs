//! 1D or 2D: which half of AAF a file belongs to (spec §4).
//!
//! Primary schools (1D) and secondary schools (2D) share the XML format but
//! not their field names: 2D writes `sn`, `givenName`, `personalTitle`,
//! `mail`, two-field `ENTEleveClasses`… where 1D writes `ENTPersonNom`,
//! `ENTPersonPrenom`, five-field `ENTPersonClasses`. A 2D file read as 1D
//! would import people without names, parents or classes, silently (and a
//! 1D file read as 2D the same): each source is configured with its degree
//! (`[source] degree`), and a file of the other degree is refused before
//! any write. The header comment `degre` decides when present; otherwise
//! `versionSDET` naming the 2D annex (`Annexe 4bis`); otherwise the field
//! names.

use std::collections::BTreeMap;

/// The half of AAF a source delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Degree {
    /// Primary schools (écoles).
    #[default]
    OneD,
    /// Secondary schools (collèges, lycées).
    TwoD,
}

impl Degree {
    /// `1d` or `2d` (any case).
    pub fn parse(s: &str) -> Option<Degree> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1d" => Some(Degree::OneD),
            "2d" => Some(Degree::TwoD),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Degree::OneD => "1D",
            Degree::TwoD => "2D",
        }
    }
    /// The categories of an extraction of this degree, in import order:
    /// structures first (people refer to them), the 2D reference tables of
    /// subjects and formations next, pupils before their parents.
    pub fn categories(self) -> &'static [FileCategory] {
        use FileCategory::*;
        match self {
            Degree::OneD => &[EtabEducNat, Eleve, PersRelEleve, PersEducNat],
            Degree::TwoD => &[
                EtabEducNat,
                MatiereEducNat,
                MefEducNat,
                Eleve,
                PersRelEleve,
                PersEducNat,
            ],
        }
    }
}

use super::FileCategory;

/// Attribute names only 1D extractions carry.
pub const ONE_D_NAMES: &[&str] = &[
    "ENTPersonNom",
    "ENTPersonPrenom",
    "ENTPersonCivilite",
    "ENTPersonMail",
    "ENTPersonTelPerso",
    "ENTPersonClasses",
    "ENTPersonGroupes",
    "ENTPersRelEleveEleve",
    "ENTPersRelEleveTelMobile",
    "ENTEcoleMinistereTutelle",
    "ENTStructureAdresse",
];

/// True when `name` is an attribute only 1D extractions carry.
pub fn is_one_d_name(name: &str) -> bool {
    ONE_D_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Why a file is not of `expected`'s degree, from its header and the
/// names its records carry that only the other degree uses (`names`:
/// [`is_two_d_name`] ones for a 1D source, [`is_one_d_name`] ones for a
/// 2D source); `None` when it is of that degree.
pub fn mismatch(
    expected: Degree,
    header: &BTreeMap<String, String>,
    names: &[String],
) -> Option<String> {
    match expected {
        Degree::OneD => two_d_reason(header, names),
        Degree::TwoD => one_d_reason(header, names),
    }
}

/// Why a file is 1D when a 2D one is expected.
fn one_d_reason(header: &BTreeMap<String, String>, names: &[String]) -> Option<String> {
    if let Some(d) = header.get("degre") {
        return d
            .eq_ignore_ascii_case("1D")
            .then(|| "its header says degre=\"1D\"".to_string());
    }
    if header.get("versionSDET").is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("annexe") && !v.contains("4bis")
    }) {
        return Some("its header names an annex other than the 2D one (versionSDET)".to_string());
    }
    (!names.is_empty()).then(|| {
        format!(
            "its records carry attributes of the 1D format ({})",
            names.join(", ")
        )
    })
}

/// Attribute names only 2D extractions carry.
pub const TWO_D_NAMES: &[&str] = &[
    "sn",
    "givenName",
    "personalTitle",
    "mail",
    "homePhone",
    "mobile",
    "ENTEleveClasses",
    "ENTEleveGroupes",
    "ENTElevePersRelEleve",
    "ENTEleveMEF",
    "ENTEleveStatutEleve",
    "ENTAuxEnsClassesMatieres",
    "ENTAuxEnsGroupesMatieres",
    "ENTAuxEnsMEF",
    "ENTEtablissementContrat",
    "ENTStructureClasses",
    "ENTStructureGroupes",
];

/// True when `name` is an attribute only 2D extractions carry.
pub fn is_two_d_name(name: &str) -> bool {
    TWO_D_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Why a file is 2D, from its header and the 2D-only names its records
/// carry; `None` when it is 1D.
fn two_d_reason(header: &BTreeMap<String, String>, names: &[String]) -> Option<String> {
    if let Some(d) = header.get("degre") {
        return d
            .eq_ignore_ascii_case("2D")
            .then(|| "its header says degre=\"2D\"".to_string());
    }
    if header
        .get("versionSDET")
        .is_some_and(|v| v.to_ascii_lowercase().contains("4bis"))
    {
        return Some("its header names the 2D annex (versionSDET \"Annexe 4bis\")".to_string());
    }
    (!names.is_empty()).then(|| {
        format!(
            "its records carry attributes of the 2D format ({})",
            names.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_first_then_names() {
        let h = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let sn = vec!["sn".to_string()];
        assert!(two_d_reason(&h("degre", "2D"), &[]).is_some());
        // a 1D header wins over names (an unknown attribute is dropped)
        assert!(two_d_reason(&h("degre", "1D"), &sn).is_none());
        assert!(two_d_reason(&h("versionSDET", "Annexe 4bis version 6.4"), &[]).is_some());
        assert_eq!(
            two_d_reason(&BTreeMap::new(), &sn).unwrap(),
            "its records carry attributes of the 2D format (sn)"
        );
        assert!(two_d_reason(&BTreeMap::new(), &[]).is_none());
        assert!(is_two_d_name("GIVENNAME") && !is_two_d_name("ENTPersonNom"));
    }

    #[test]
    fn a_two_d_source_refuses_one_d_files() {
        let h = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let nom = vec!["ENTPersonNom".to_string()];
        assert!(mismatch(Degree::TwoD, &h("degre", "2D"), &[]).is_none());
        assert!(mismatch(Degree::TwoD, &h("degre", "1D"), &[]).is_some());
        assert!(mismatch(Degree::TwoD, &BTreeMap::new(), &nom).is_some());
        assert!(mismatch(
            Degree::TwoD,
            &h("versionSDET", "Annexe 4bis version 6.4"),
            &[]
        )
        .is_none());
        assert!(mismatch(Degree::OneD, &h("degre", "2D"), &[]).is_some());
        assert_eq!(Degree::parse("2D"), Some(Degree::TwoD));
        assert_eq!(Degree::parse("3d"), None);
        assert!(is_one_d_name("entpersonnom") && !is_one_d_name("sn"));
    }
}
