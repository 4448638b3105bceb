//! `MefEducNat`: the MEF nomenclature (module élémentaire de formation,
//! research §3.1: `ENTMefJointure` 11 characters, `ENTLibelleMef`,
//! `ENTMEFRattach`, `ENTMEFSTAT11`, `ENTNivFormation`, `ENTFiliere`), and
//! the levels the generated collèges and lycées teach.
//!
//! Only 5EME's code (`10110001110`) appears in the research's fixtures;
//! the other codes are chosen in the same 11-character shape and not
//! checked against the BCN. `ENTMEFSTAT11` is derived from the code (its
//! real derivation is not in the research). NivFormation and Filiere
//! values are chosen (`BAC PRO` is the fixtures').

use super::super::records::{v, Attrs, Req};

/// A level of a school kind: its MEF, and what its pupils are.
pub(in crate::generator) struct Level {
    /// Class codes start with it (`6A`, `2NDB`, `TPROA`).
    pub prefix: &'static str,
    /// `ENTEleveLibelleMEF`, and the class labels' start.
    pub label: &'static str,
    pub mef: &'static str,
    /// `ENTLibelleMef`.
    pub mef_label: &'static str,
    pub niv: &'static str,
    pub filiere: &'static str,
    /// Birth year of a pupil on time (rentrée 2025).
    pub born: u64,
}

const fn level(
    prefix: &'static str,
    label: &'static str,
    mef: &'static str,
    mef_label: &'static str,
    niv: &'static str,
    filiere: &'static str,
    born: u64,
) -> Level {
    Level {
        prefix,
        label,
        mef,
        mef_label,
        niv,
        filiere,
        born,
    }
}

/// Collège: 6e to 3e.
pub(in crate::generator) const COLLEGE: &[Level] = &[
    level("6", "6EME", "10010012110", "6EME", "6EME", "COLLEGE", 2014),
    level("5", "5EME", "10110001110", "5EME", "5EME", "COLLEGE", 2013),
    level("4", "4EME", "10210001110", "4EME", "4EME", "COLLEGE", 2012),
    level("3", "3EME", "10310019110", "3EME", "3EME", "COLLEGE", 2011),
];

/// Lycée général et technologique.
pub(in crate::generator) const LYCEE: &[Level] = &[
    level(
        "2ND",
        "2NDE",
        "20010018110",
        "2NDE GENERALE ET TECHNOLOGIQUE",
        "2NDE",
        "GENERALE ET TECHNOLOGIQUE",
        2010,
    ),
    level(
        "1G",
        "1ERE",
        "20112001110",
        "1ERE GENERALE",
        "1ERE",
        "GENERALE ET TECHNOLOGIQUE",
        2009,
    ),
    level(
        "TG",
        "TERMINALE",
        "20212001110",
        "TERMINALE GENERALE",
        "TERMINALE",
        "GENERALE ET TECHNOLOGIQUE",
        2008,
    ),
];

/// Lycée professionnel.
pub(in crate::generator) const PRO: &[Level] = &[
    level(
        "2PRO",
        "2NDE PRO",
        "24720010110",
        "2NDPRO METIERS DE LA RELATION CLIENT",
        "BAC PRO",
        "BAC PRO",
        2010,
    ),
    level(
        "1PRO",
        "1ERE PRO",
        "24721010110",
        "1ERE PRO METIERS DU COMMERCE",
        "BAC PRO",
        "BAC PRO",
        2009,
    ),
    level(
        "TPRO",
        "TERM PRO",
        "24722010110",
        "TLEPRO METIERS DU COMMERCE",
        "BAC PRO",
        "BAC PRO",
        2008,
    ),
];

/// MEFs of the nomenclature no generated class uses, as the fixtures give
/// them: the académie sends its whole nomenclature. The second has the
/// fixtures' empty `ENTMEFRattach`.
const OTHERS: &[(&str, &str, &str)] = &[
    ("06110004110", "1ER DEGRE : ADAPTATION", "06110004110"),
    ("2212420A11A", "1BT VETEMENT CREATION MESURE", ""),
];

fn stat11(mef: &str) -> String {
    format!("2{}1{}", &mef[0..3], &mef[3..9])
}

/// Every MEF record of a Complet.
pub(super) fn records() -> Vec<Req> {
    let mut out = Vec::new();
    for l in COLLEGE.iter().chain(LYCEE).chain(PRO) {
        out.push(record(l.mef, l.mef_label, l.mef, l.niv, l.filiere));
    }
    for (code, label, rattach) in OTHERS {
        out.push(record(code, label, rattach, "", ""));
    }
    out
}

fn record(code: &str, label: &str, rattach: &str, niv: &str, filiere: &str) -> Req {
    let empty_or = |x: &str| if x.is_empty() { vec![] } else { v(x) };
    let attrs: Attrs = vec![
        ("ENTMefJointure", v(code)),
        ("ENTLibelleMef", v(label)),
        ("ENTMEFRattach", empty_or(rattach)),
        ("ENTMEFSTAT11", v(&stat11(code))),
        ("ENTNivFormation", empty_or(niv)),
        ("ENTFiliere", empty_or(filiere)),
    ];
    Req::Add(code.to_string(), attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eleven_characters_and_unique() {
        let recs = records();
        let mut seen = std::collections::HashSet::new();
        for r in &recs {
            let id = super::super::super::records::id_of(r);
            assert_eq!(id.len(), 11, "{id}");
            assert!(seen.insert(id.to_string()), "{id} twice");
        }
        assert_eq!(stat11("10110001110").len(), 11);
    }
}
