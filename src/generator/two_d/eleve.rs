//! `Eleve` in 2D: pupils of collèges and lycées, in the 2020 fixture's
//! attribute order (research §2.2, §3.1): `sn`, `givenName`,
//! `personalTitle`, the links to their relatives, their MEF and its
//! labels, their options (`ENTEleveEnseignements`,
//! `ENTEleveCodeEnseignements`), one class `sid$code` and one group
//! `sid$code`, and the date they entered the class
//! (`sid$dd/mm/yyyy$code`).
//!
//! Chosen: the rentrée (01/09/2025) as every class entry date, moves
//! included; `ENTEleveStructRattachId` (the pupil's number in the school's
//! base, meaning not settled by the research) derived from the id; the
//! deprecated `ENTElevePere`, `ENTEleveMere`, `ENTEleveParents` left out.
//! `ENTEleveMajeur` is left out too: the research (§5.1) finds it in the
//! SDET schema but "not in AAF at all".

use super::super::names::{given_name, ine, Person, Rng};
use super::super::records::{v, Attrs};
use super::etab::{Etab, Kind};
use super::matiere::SUBJECTS;
use super::pers_rel_eleve::{authority, parse_link};

/// The first language every pupil learns (index into `SUBJECTS`).
const LV1: usize = 3;

/// The attributes that follow from a pupil's school, class and group, in
/// the records' order (from `ENTEleveMEF` to `ENTEleveGroupes`).
pub(in crate::generator) fn schooling(e: &Etab, class: usize, group: usize) -> Attrs {
    let c = &e.classes[class];
    let l = &e.levels[c.level];
    let g = &e.groups[group];
    let (lv1, opt) = (&SUBJECTS[LV1], &SUBJECTS[g.subject]);
    vec![
        ("ENTEleveMEF", v(l.mef)),
        ("ENTEleveLibelleMEF", v(l.label)),
        ("ENTEleveNivFormation", v(l.niv)),
        ("ENTEleveFiliere", v(l.filiere)),
        (
            "ENTEleveEnseignements",
            vec![lv1.label.to_string(), opt.label.to_string()],
        ),
        (
            "ENTEleveCodeEnseignements",
            vec![lv1.code.to_string(), opt.code.to_string()],
        ),
        ("ENTPersonStructRattach", v(&e.sid)),
        (
            "ENTEleveDateEntreeClasses",
            v(&format!("{}$01/09/2025${}", e.sid, c.code)),
        ),
        ("ENTEleveDateSortieClasses", vec![]),
        ("ENTEleveClasses", v(&format!("{}${}", e.sid, c.code))),
        ("ENTEleveGroupes", v(&format!("{}${}", e.sid, g.code))),
    ]
}

/// A group of the class's level for a pupil.
pub(in crate::generator) fn group_for(rng: &mut Rng, e: &Etab, class: usize) -> usize {
    let groups = e.groups_of(e.classes[class].level);
    *rng.pick(&groups)
}

/// A pupil's record.
pub(super) fn attrs(
    rng: &mut Rng,
    p: &Person,
    e: &Etab,
    class: usize,
    group: usize,
    links: Vec<String>,
) -> Attrs {
    let regime = match rng.below(10) {
        0..=5 => "DEMI-PENSIONNAIRE DANS L'ETABLISSEMENT",
        6..=8 => "EXTERNE LIBRE",
        _ => "INTERNE 5 JOURS",
    };
    let statut = if e.kind == Kind::Pro && rng.chance(10) {
        "APPRENTI"
    } else {
        "SCOLAIRE"
    };
    let number = 1 + p.id.parse::<u64>().unwrap_or_default() % 1_000_000;
    let address_of = links
        .first()
        .map(|l| v(parse_link(l).0))
        .unwrap_or_default();
    let mut a: Attrs = vec![
        ("ENTPersonJointure", v(&p.id)),
        ("ENTEleveINE", v(&ine(rng))),
        ("ENTEleveStructRattachId", v(&number.to_string())),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("sn", v(&p.nom)),
        ("givenName", v(&p.prenom)),
        (
            "ENTPersonAutresPrenoms",
            if rng.chance(30) {
                vec![given_name(rng), given_name(rng)]
            } else {
                vec![]
            },
        ),
        ("personalTitle", v(p.civ)),
        ("mail", vec![]),
        ("ENTEleveAutoriteParentale", authority(&links)),
        ("ENTElevePersRelEleve", links),
        (
            "ENTEleveBoursier",
            v(if rng.chance(25) { "O" } else { "N" }),
        ),
        ("ENTEleveRegime", v(regime)),
        (
            "ENTEleveTransport",
            v(if rng.chance(20) { "O" } else { "N" }),
        ),
        (
            "ENTPersonAdresse",
            v(&format!(
                "{} RUE DU MOULIN$BATIMENT B$$",
                1 + rng.below(120)
            )),
        ),
        ("ENTPersonCodePostal", v("94000")),
        ("ENTPersonVille", v("VILLE TEST")),
        ("ENTPersonPays", v("FRANCE")),
        ("ENTEleveAdresseRel", address_of),
        ("ENTEleveStatutEleve", v(statut)),
    ];
    a.extend(schooling(e, class, group));
    a
}
