//! `PersEducNat` in 2D: teachers and the rest of a school's staff, in the
//! 2024 fixture's attribute order (research §2.2, §3.1). A teacher has one
//! subject, taught to whole classes (`ENTAuxEnsClassesMatieres`
//! `sid$class$subjectCode`) or to groups (`ENTAuxEnsGroupesMatieres`), with
//! `ENTAuxEnsClasses`/`ENTAuxEnsGroupes` `sid$code`, `ENTAuxEnsMEF`
//! `sid$mef$label`, `ENTAuxEnsMatiereEnseignEtab` `sid$label`, and each
//! class has one teacher as its `ENTAuxEnsClassesPrincipal` `sid$class`.
//! Non-teaching staff carry every `ENTAuxEns*` empty, as in the fixture.
//!
//! Chosen: up to six classes a teacher; function codes `DIR` (the head's
//! label escaped twice, `CHEF D&apos;ETABLISSEMENT`, as EC's code expects
//! it), `EDU`, `DOC` (a teacher not in front of pupils), `ADF`, `AED`, and
//! their discipline codes; `ENTEnsFonctionDir` left out (not in the 2024
//! fixture). One teacher in seven carries `ENTPersonSTSId`, an attribute
//! of the 2025 AAF version (research §3.1).

use super::super::names::{person_born, short_title, Person, Rng};
use super::super::records::{v, Attrs, Req};
use super::etab::Etab;
use super::matiere::SUBJECTS;

/// What one teacher teaches.
pub(in crate::generator) struct Teaching {
    pub subject: usize,
    pub classes: Vec<usize>,
    pub groups: Vec<usize>,
}

/// Classes a teacher takes at most.
const CLASSES_PER_TEACHER: usize = 6;

/// The teaching posts of a school: its core subjects shared out over its
/// classes, one teacher per option subject for all its groups.
pub(super) fn posts(e: &Etab) -> Vec<Teaching> {
    let n = e.classes.len();
    let per = n.div_ceil(CLASSES_PER_TEACHER);
    let mut out = Vec::new();
    for &s in e.core {
        for t in 0..per {
            out.push(Teaching {
                subject: s,
                classes: (0..n).filter(|c| c % per == t).collect(),
                groups: vec![],
            });
        }
    }
    let mut options: Vec<usize> = e.groups.iter().map(|g| g.subject).collect();
    options.dedup();
    options.sort_unstable();
    options.dedup();
    for s in options {
        out.push(Teaching {
            subject: s,
            classes: vec![],
            groups: (0..e.groups.len())
                .filter(|g| e.groups[*g].subject == s)
                .collect(),
        });
    }
    out
}

/// The post (index into `posts`) of each class's principal teacher: the
/// teacher of one of its core subjects, in turn.
pub(super) fn principals(e: &Etab, posts: &[Teaching]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); posts.len()];
    for c in 0..e.classes.len() {
        let s = e.core[c % e.core.len()];
        if let Some(t) = posts
            .iter()
            .position(|p| p.subject == s && p.classes.contains(&c))
        {
            out[t].push(c);
        }
    }
    out
}

/// A teacher's `ENTAuxEns*` (but `ENTAuxEnsClassesPrincipal`) and
/// `ENTPersonFonctions`, from what they teach.
pub(in crate::generator) fn teaching(e: &Etab, t: &Teaching) -> Attrs {
    let s = &SUBJECTS[t.subject];
    let sid = &e.sid;
    let mut levels: Vec<usize> = t
        .classes
        .iter()
        .map(|c| e.classes[*c].level)
        .chain(t.groups.iter().map(|g| e.groups[*g].level))
        .collect();
    levels.sort_unstable();
    levels.dedup();
    vec![
        (
            "ENTAuxEnsCategoDiscipline",
            v(&format!("{}${}", s.catego, s.disc_label)),
        ),
        (
            "ENTAuxEnsDisciplinesPoste",
            v(&format!("{}${}", s.disc_label, s.catego)),
        ),
        (
            "ENTAuxEnsMEF",
            levels
                .iter()
                .map(|l| format!("{sid}${}${}", e.levels[*l].mef, e.levels[*l].mef_label))
                .collect(),
        ),
        (
            "ENTAuxEnsMatiereEnseignEtab",
            v(&format!("{sid}${}", s.label)),
        ),
        (
            "ENTAuxEnsClasses",
            t.classes
                .iter()
                .map(|c| format!("{sid}${}", e.classes[*c].code))
                .collect(),
        ),
        (
            "ENTAuxEnsGroupes",
            t.groups
                .iter()
                .map(|g| format!("{sid}${}", e.groups[*g].code))
                .collect(),
        ),
        (
            "ENTAuxEnsClassesMatieres",
            t.classes
                .iter()
                .map(|c| format!("{sid}${}${}", e.classes[*c].code, s.code))
                .collect(),
        ),
        (
            "ENTAuxEnsGroupesMatieres",
            t.groups
                .iter()
                .map(|g| format!("{sid}${}${}", e.groups[*g].code, s.code))
                .collect(),
        ),
        (
            "ENTPersonFonctions",
            v(&format!(
                "{sid}$ENS$ENSEIGNEMENT${}${}",
                s.disc, s.disc_label
            )),
        ),
    ]
}

/// A new member of staff.
pub(super) fn staff_person(rng: &mut Rng, next_id: &mut u64) -> Person {
    let mut p = person_born(rng, format!("{next_id}"), true, 1960, 40);
    *next_id += 1;
    p.civ = short_title(p.civ);
    p
}

fn identity(p: &Person, sid: &str) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&p.id)),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("sn", v(&p.nom)),
        ("givenName", v(&p.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("personalTitle", v(p.civ)),
        (
            "mail",
            v(&format!(
                "{}.{}@ac-test.invalid",
                crate::mapping::login::fold(&p.prenom),
                crate::mapping::login::fold(&p.nom)
            )),
        ),
        ("ENTPersonStructRattach", v(sid)),
    ]
}

/// A teacher's record.
pub(super) fn teacher(e: &Etab, p: &Person, t: &Teaching, principal: &[usize]) -> Req {
    let mut a = identity(p, &e.sid);
    let mut teach = teaching(e, t);
    let fonctions = teach.pop();
    a.extend(teach);
    a.push((
        "ENTAuxEnsClassesPrincipal",
        principal
            .iter()
            .map(|c| format!("{}${}", e.sid, e.classes[*c].code))
            .collect(),
    ));
    a.extend(fonctions);
    a.push(("ENTPersonCategorieEnseignant", v("O")));
    a.push(("PersEducNatPresenceDevantEleves", v("O")));
    Req::Add(p.id.clone(), a)
}

/// The non-teaching functions of a school: `(code, label, discipline,
/// discipline label, teacher)`.
pub(super) const ROLES: &[(&str, &str, &str, &str, bool)] = &[
    (
        "DIR",
        "DIRECTION",
        "D0010",
        "CHEF D&apos;ETABLISSEMENT",
        false,
    ),
    (
        "EDU",
        "EDUCATION",
        "E0030",
        "CONSEILLER PRINCIPAL D'EDUCATION",
        false,
    ),
    ("DOC", "DOCUMENTATION", "L0080", "DOCUMENTATION", true),
    (
        "ADF",
        "PERSONNELS ADMINISTRATIFS",
        "A0010",
        "SECRETARIAT",
        false,
    ),
    ("AED", "ASSISTANCE EDUCATIVE", "-", "-", false),
];

/// A non-teaching member of staff with role `ROLES[role]`.
pub(super) fn other(sid: &str, p: &Person, role: usize) -> Req {
    let (code, label, disc, disc_label, teacher) = ROLES[role];
    let mut a = identity(p, sid);
    let head = code == "DIR";
    a.extend([
        (
            "ENTAuxEnsCategoDiscipline",
            if head { v("00$NON SPECIALISE") } else { vec![] },
        ),
        (
            "ENTAuxEnsDisciplinesPoste",
            if head {
                v(&format!("{disc_label}$00"))
            } else {
                vec![]
            },
        ),
        ("ENTAuxEnsMEF", vec![]),
        ("ENTAuxEnsMatiereEnseignEtab", vec![]),
        ("ENTAuxEnsClasses", vec![]),
        ("ENTAuxEnsGroupes", vec![]),
        ("ENTAuxEnsClassesMatieres", vec![]),
        ("ENTAuxEnsGroupesMatieres", vec![]),
        ("ENTAuxEnsClassesPrincipal", vec![]),
        (
            "ENTPersonFonctions",
            v(&format!("{sid}${code}${label}${disc}${disc_label}")),
        ),
        (
            "ENTPersonCategorieEnseignant",
            v(if teacher { "O" } else { "N" }),
        ),
        ("PersEducNatPresenceDevantEleves", v("N")),
    ]);
    Req::Add(p.id.clone(), a)
}

/// Every member of staff of a school: the head, the other roles (one
/// assistant per 150 pupils), then the teachers.
pub(super) fn school_staff(rng: &mut Rng, next_id: &mut u64, e: &Etab, pupils: usize) -> Vec<Req> {
    let mut out = Vec::new();
    let mut roles: Vec<usize> = (0..ROLES.len() - 1).collect();
    roles.extend(std::iter::repeat_n(ROLES.len() - 1, (pupils / 150).max(1)));
    for role in roles {
        let p = staff_person(rng, next_id);
        out.push(other(&e.sid, &p, role));
    }
    let posts = posts(e);
    let principal = principals(e, &posts);
    for (i, t) in posts.iter().enumerate() {
        let p = staff_person(rng, next_id);
        let mut r = teacher(e, &p, t, &principal[i]);
        if i % 7 == 2 {
            if let Req::Add(_, a) = &mut r {
                // a newer AAF version's attribute
                let sts = p.id.parse::<u64>().unwrap_or_default() % 100_000_000;
                a.push(("ENTPersonSTSId", v(&format!("{sts:08}"))));
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::etab::schools;
    use super::*;

    #[test]
    fn every_class_has_a_principal_and_every_core_subject_a_teacher() {
        for e in schools(3, 500_000, 920_600, 700) {
            let posts = posts(&e);
            let principal = principals(&e, &posts);
            let mut classes: Vec<usize> = principal.concat();
            classes.sort_unstable();
            assert_eq!(classes, (0..e.classes.len()).collect::<Vec<_>>());
            for c in 0..e.classes.len() {
                for s in e.core {
                    let n = posts
                        .iter()
                        .filter(|p| p.subject == *s && p.classes.contains(&c))
                        .count();
                    assert_eq!(n, 1, "class {c}, subject {s}");
                }
            }
            assert!(posts.iter().all(|p| p.classes.len() <= CLASSES_PER_TEACHER));
        }
    }
}
