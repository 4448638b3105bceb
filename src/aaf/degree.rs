//! 1D or 2D: which half of AAF a file belongs to (spec §4).
//!
//! Primary schools (1D) and secondary schools (2D) share the XML format but
//! not their field names: 2D writes `sn`, `givenName`, `personalTitle`,
//! `mail`, two-field `ENTEleveClasses`… where 1D writes `ENTPersonNom`,
//! `ENTPersonPrenom`, five-field `ENTPersonClasses`. A 2D file read as 1D
//! would import people without names, parents or classes, silently; this
//! version imports 1D only and refuses 2D before any write. The header
//! comment `degre` decides when present; otherwise `versionSDET` naming the
//! 2D annex (`Annexe 4bis`); otherwise the field names.

use std::collections::BTreeMap;

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
pub fn two_d_reason(header: &BTreeMap<String, String>, names: &[String]) -> Option<String> {
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
}
