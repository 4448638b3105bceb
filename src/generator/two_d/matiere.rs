//! `MatiereEducNat`: the subjects' nomenclature (research §3.1:
//! `ENTMatJointure`, a 6-digit BCN code, and `ENTLibelleMatiere`; the
//! operational attribute is `categorieMatiere` = `MatEducNat`).
//!
//! Codes seen in the research (`006600`, `009800`, `030101`, `030102`,
//! `402200`, `050700`) keep their fixture labels; the others are chosen in
//! the same shape. `ENTMatiereRattach` is listed by the research without
//! its format: it is written as the subject's own code (as `ENTMEFRattach`
//! usually is). The discipline of the teachers of a subject (their
//! `ENTPersonFonctions`, `ENTAuxEnsCategoDiscipline` `NN$LABEL`,
//! `ENTAuxEnsDisciplinesPoste` `LABEL$NN`) is chosen too: `L1500`/`15`
//! SCIENCES PHYSIQUES ET CHIMIQUES and `L1100` SCIENCES ECONOMIQUES ET
//! SOCIALES are the research's, the rest follow their shape.

use super::super::records::{v, Req};

pub(in crate::generator) struct Subject {
    pub code: &'static str,
    pub label: &'static str,
    /// `ENTPersonFonctions`' discipline code and label.
    pub disc: &'static str,
    pub disc_label: &'static str,
    /// `ENTAuxEnsCategoDiscipline`'s two digits.
    pub catego: &'static str,
}

const fn s(
    code: &'static str,
    label: &'static str,
    disc: &'static str,
    disc_label: &'static str,
    catego: &'static str,
) -> Subject {
    Subject {
        code,
        label,
        disc,
        disc_label,
        catego,
    }
}

/// Every subject a generated school teaches; indices are used by
/// `Etab::core` and `Etab::options`.
pub(in crate::generator) const SUBJECTS: &[Subject] = &[
    s("020700", "FRANCAIS", "L0202", "LETTRES MODERNES", "02"),
    s("061300", "MATHEMATIQUES", "L1300", "MATHEMATIQUES", "13"),
    s(
        "040700",
        "HISTOIRE-GEOGRAPHIE",
        "L1000",
        "HISTOIRE GEOGRAPHIE",
        "10",
    ),
    s("030201", "ANGLAIS LV1", "L0422", "ANGLAIS", "04"),
    s(
        "062900",
        "SCIENCES VIE ET TERRE",
        "L1600",
        "SCIENCES DE LA VIE ET DE LA TERRE",
        "16",
    ),
    s(
        "063300",
        "PHYSIQUE-CHIMIE",
        "L1500",
        "SCIENCES PHYSIQUES ET CHIMIQUES",
        "15",
    ),
    s(
        "100100",
        "EDUCATION PHYSIQUE ET SPORTIVE",
        "L1900",
        "EDUCATION PHYSIQUE ET SPORTIVE",
        "19",
    ),
    s("070600", "TECHNOLOGIE", "L1400", "TECHNOLOGIE", "14"),
    s(
        "083900",
        "ARTS PLASTIQUES",
        "L1800",
        "ARTS PLASTIQUES",
        "18",
    ),
    s(
        "084200",
        "EDUCATION MUSICALE",
        "L1700",
        "EDUCATION MUSICALE",
        "17",
    ),
    s("013000", "PHILOSOPHIE", "L0100", "PHILOSOPHIE", "01"),
    s(
        "050700",
        "SCIENCES ECONOMIQUES ET SOCIALES",
        "L1100",
        "SCIENCES ECONOMIQUES ET SOCIALES",
        "11",
    ),
    s(
        "402200",
        "ACTIVITES PROFESSIONNELLES",
        "P8012",
        "VENTE",
        "80",
    ),
    s("030102", "ALLEMAND LV2", "L0421", "ALLEMAND", "04"),
    s("030602", "ESPAGNOL LV2", "L0426", "ESPAGNOL", "04"),
];

/// Subjects of the nomenclature no generated school teaches, with the
/// fixtures' labels (the first with its typo).
const OTHERS: &[(&str, &str)] = &[
    ("009800", "ACCCOMPAGN.EDUCATIF- AIDE DEVOIRS LECONS"),
    ("006600", "ACCOMPAGNEMENT PERSONNALISE"),
    ("030101", "ALLEMAND LV1"),
];

/// Every subject record of a Complet.
pub(super) fn records() -> Vec<Req> {
    SUBJECTS
        .iter()
        .map(|s| (s.code, s.label))
        .chain(OTHERS.iter().copied())
        .map(|(code, label)| {
            Req::Add(
                code.to_string(),
                vec![
                    ("ENTMatJointure", v(code)),
                    ("ENTLibelleMatiere", v(label)),
                    ("ENTMatiereRattach", v(code)),
                ],
            )
        })
        .collect()
}
