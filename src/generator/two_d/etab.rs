//! `EtabEducNat` in 2D: collèges, lycées généraux et technologiques and
//! lycées professionnels, with their classes (`ENTStructureClasses`
//! `code$libellé$mef`) and groups (`ENTStructureGroupes`
//! `code$libellé$class…`), research §3.1 and §3.3. Attribute names and
//! order are the 2024 fixture's (`ENTEtablissementUAI`, `street`,
//! `postalCode`, `l`…), classes and groups last as in the 2013 one.
//!
//! Chosen where the research is silent: type codes 300 (lycée GT) and 320
//! (LP) beside the fixture's 340 (collège); every school `PU` (public),
//! the ones outside the perimeter with the 2013 fixture's empty contract;
//! two groups per level, the LV2 (German or Spanish) in collèges and
//! lycées, two workshops in LPs.

use super::super::names::{word, Rng};
use super::super::records::{v, Attrs, Req};
use super::super::uai;
use super::matiere::SUBJECTS;
use super::mef::{Level, COLLEGE, LYCEE, PRO};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::generator) enum Kind {
    College,
    Lycee,
    Pro,
}

pub(in crate::generator) struct Class {
    pub code: String,
    pub label: String,
    /// Index into `Etab::levels`.
    pub level: usize,
}

pub(in crate::generator) struct Group {
    pub code: String,
    pub label: String,
    /// Index into `SUBJECTS`.
    pub subject: usize,
    pub level: usize,
    /// Indices into `Etab::classes`: the classes its pupils come from.
    pub classes: Vec<usize>,
}

pub(in crate::generator) struct Etab {
    pub sid: String,
    pub uai: String,
    pub kind: Kind,
    pub levels: &'static [Level],
    pub classes: Vec<Class>,
    pub groups: Vec<Group>,
    /// Subjects taught to whole classes (indices into `SUBJECTS`).
    pub core: &'static [usize],
}

impl Etab {
    /// The groups of a level.
    pub fn groups_of(&self, level: usize) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|g| self.groups[*g].level == level)
            .collect()
    }

    /// Classes of a level.
    pub fn classes_of(&self, level: usize) -> Vec<usize> {
        (0..self.classes.len())
            .filter(|c| self.classes[*c].level == level)
            .collect()
    }
}

fn letter(k: usize) -> String {
    let l = (b'A' + (k % 26) as u8) as char;
    if k < 26 {
        l.to_string()
    } else {
        format!("{l}{}", k / 26)
    }
}

/// The schools: `schools` inside the perimeter, then the ones outside.
/// Every third is a lycée GT, every third a LP, the rest collèges.
pub(super) fn schools(n: usize, sid_base: u64, uai_base: u32, pupils: usize) -> Vec<Etab> {
    (0..n)
        .map(|i| {
            let kind = match i % 3 {
                0 => Kind::College,
                1 => Kind::Lycee,
                _ => Kind::Pro,
            };
            let (levels, core, options): (&[Level], &[usize], [usize; 2]) = match kind {
                Kind::College => (COLLEGE, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [13, 14]),
                Kind::Lycee => (LYCEE, &[0, 1, 2, 3, 4, 5, 6, 10, 11], [13, 14]),
                Kind::Pro => (PRO, &[0, 1, 2, 3, 6], [12, 12]),
            };
            let sid = format!("{}", sid_base + i as u64);
            let nclasses = (pupils / 26).max(levels.len());
            let classes: Vec<Class> = (0..nclasses)
                .map(|c| {
                    let l = &levels[c % levels.len()];
                    let k = letter(c / levels.len());
                    Class {
                        code: format!("{}{k}", l.prefix),
                        label: format!("{} {k}", l.label),
                        level: c % levels.len(),
                    }
                })
                .collect();
            let mut groups = Vec::new();
            for (li, l) in levels.iter().enumerate() {
                let of_level: Vec<usize> = (0..classes.len())
                    .filter(|c| classes[*c].level == li)
                    .collect();
                for (k, subject) in options.iter().enumerate() {
                    let (code, label) = if kind == Kind::Pro {
                        let ab = if k == 0 { "A" } else { "B" };
                        (
                            format!("{}AT{ab}", l.prefix),
                            format!("ATELIER {ab} {}", l.label),
                        )
                    } else {
                        let short = &SUBJECTS[*subject].label[..3];
                        (
                            format!("{}{short}2", l.prefix),
                            format!("{} {}", SUBJECTS[*subject].label, l.label),
                        )
                    };
                    groups.push(Group {
                        code,
                        label,
                        subject: *subject,
                        level: li,
                        classes: of_level.clone(),
                    });
                }
            }
            Etab {
                sid,
                uai: uai(uai_base + i as u32),
                kind,
                levels,
                classes,
                groups,
                core,
            }
        })
        .collect()
}

/// `ENTStructureNomCourant` as 2024 files write it: `TYPE$NAME$CITY`.
pub(super) fn name(rng: &mut Rng, e: &Etab, first: bool) -> String {
    let (t, long) = match e.kind {
        Kind::College => ("CLG", "CLG"),
        Kind::Lycee => ("LYC", "LYCEE"),
        Kind::Pro => ("LP", "LP"),
    };
    if first {
        // escaped twice, as real files do
        format!("{t}${long} D&apos;APPLICATION$VILLE TEST")
    } else {
        format!("{t}${long} {}$VILLE TEST", word(rng, 3).to_uppercase())
    }
}

/// The structure's record.
pub(super) fn attrs(e: &Etab, si: usize, name: String, inside: bool) -> Attrs {
    let (typ, code) = match e.kind {
        Kind::College => ("COLLEGE", "340"),
        Kind::Lycee => ("LYCEE GENERAL ET TECHNOLOGIQUE", "300"),
        Kind::Pro => ("LYCEE PROFESSIONNEL", "320"),
    };
    vec![
        ("ENTStructureJointure", v(&e.sid)),
        ("ENTStructureUAI", v(&e.uai)),
        ("ENTEtablissementUAI", v(&e.uai)),
        (
            "ENTStructureSIREN",
            v(&format!("{:014}", 19_940_000_000_000u64 + si as u64)),
        ),
        ("ENTStructureNomCourant", v(&name)),
        ("ENTStructureTypeStruct", v(typ)),
        ("ENTStructureCodeTypeStruct", v(code)),
        (
            "ENTEtablissementMinistereTutelle",
            v("MINISTERE DE L'EDUCATION NATIONALE"),
        ),
        ("ENTEtablissementCodeMinistereTutelle", v("06")),
        (
            "ENTEtablissementContrat",
            if inside { v("PU") } else { vec![] },
        ),
        ("postOfficeBox", vec![]),
        ("street", v(&format!("{} AVENUE DES LYCEES", 1 + si))),
        ("postalCode", v("94000")),
        ("l", v("VILLE TEST")),
        (
            "telephoneNumber",
            v(&format!("+33 1 40 00 01 {:02}", si % 100)),
        ),
        ("facsimileTelephoneNumber", vec![]),
        (
            "ENTStructureMailSI",
            v(&format!("ce.{}@ac-test.invalid", e.uai.to_lowercase())),
        ),
        ("ENTEtablissementStructRattachFctl", vec![]),
        ("ENTEtablissementBassin", v("94001$BASSIN NORD")),
        ("ENTServAcAcademie", v("CRETEIL")),
        ("ENTServAcCodeAcademie", v("024")),
        (
            "ENTStructureClasses",
            e.classes
                .iter()
                .map(|c| format!("{}${}${}", c.code, c.label, e.levels[c.level].mef))
                .collect(),
        ),
        (
            "ENTStructureGroupes",
            e.groups
                .iter()
                .map(|g| {
                    let mut s = format!("{}${}", g.code, g.label);
                    for c in &g.classes {
                        s.push('$');
                        s.push_str(&e.classes[*c].code);
                    }
                    s
                })
                .collect(),
        ),
    ]
}

/// The record of each school, inside the perimeter first.
pub(super) fn records(rng: &mut Rng, schools: &[Etab], inside: usize) -> Vec<Req> {
    schools
        .iter()
        .enumerate()
        .map(|(si, e)| {
            let n = name(rng, e, si == 0);
            Req::Add(e.sid.clone(), attrs(e, si, n, si < inside))
        })
        .collect()
}
