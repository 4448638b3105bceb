//! `PersRelEleve` in 2D: the pupils' relatives (research §3.1: `sn`,
//! `givenName`, `personalTitle`, `homePhone`, `telephoneNumber`, `mobile`,
//! `mail`…, `ENTAuxPersRelEleveEleve` naming their pupils), and the links
//! a pupil's record carries to them: `ENTElevePersRelEleve`
//! `personId$relationCode$respFinancier$respLegal$contact$paiement` and
//! `ENTEleveAutoriteParentale`, the bare ids with respLegal 1 or 2
//! (research §3.3).
//!
//! Relation codes are the 2-digit BCN ones of the 2020 fixture (10 mother,
//! 20 father, 39 other family member, 50 guardian), never the 1-digit ones
//! of 2013 (one file does not mix them). Chosen: who pays and who is
//! contacted; the birth date left empty for most ("often empty").

use super::super::names::{person_born, short_title, Person, Rng};
use super::super::records::{v, Attrs};

/// One relative of a pupil: the person and the pupil's link value.
pub(super) struct Relative {
    pub person: Person,
    pub link: String,
}

fn link(id: &str, code: &str, fin: u8, legal: u8, contact: u8, pay: u8) -> String {
    format!("{id}${code}${fin}${legal}${contact}${pay}")
}

/// `(id, respLegal)` of a link value.
pub(in crate::generator) fn parse_link(value: &str) -> (&str, &str) {
    let mut f = value.split('$');
    let id = f.next().unwrap_or_default();
    (id, f.nth(2).unwrap_or_default())
}

/// The ids a pupil's `ENTEleveAutoriteParentale` lists: legal ones.
pub(in crate::generator) fn authority(links: &[String]) -> Vec<String> {
    links
        .iter()
        .map(|l| parse_link(l))
        .filter(|(_, legal)| *legal == "1" || *legal == "2")
        .map(|(id, _)| id.to_string())
        .collect()
}

fn adult(rng: &mut Rng, next_id: &mut u64) -> Person {
    let mut p = person_born(rng, format!("{next_id}"), true, 1965, 30);
    *next_id += 1;
    p.civ = short_title(p.civ);
    p
}

/// A new family for pupil `of`: one or two legal relatives (now and then
/// a guardian alone), and sometimes a relative to contact who has no
/// parental authority.
pub(super) fn family(rng: &mut Rng, next_id: &mut u64, of: &Person) -> Vec<Relative> {
    let mut out = Vec::new();
    let r = rng.below(100);
    let (mother, father, tutor) = match r {
        0..=11 => (true, false, false),
        12..=14 => (false, true, false),
        15..=17 => (false, false, true),
        _ => (true, true, false),
    };
    if mother {
        let mut p = adult(rng, next_id);
        p.civ = "Mme";
        if rng.chance(50) {
            p.nom = of.nom.clone();
        }
        let l = link(&p.id, "10", 1, 1, 1, 1);
        out.push(Relative { person: p, link: l });
    }
    if father {
        let mut p = adult(rng, next_id);
        p.civ = "M.";
        p.nom = of.nom.clone();
        let first = u8::from(!mother);
        let l = link(&p.id, "20", first, 1, 1, first);
        out.push(Relative { person: p, link: l });
    }
    if tutor {
        let p = adult(rng, next_id);
        let l = link(&p.id, "50", 1, 1, 1, 1);
        out.push(Relative { person: p, link: l });
    }
    if rng.chance(10) {
        let p = adult(rng, next_id);
        let l = link(&p.id, "39", 0, 0, 1, 0);
        out.push(Relative { person: p, link: l });
    }
    out
}

/// A guardian who takes over a pupil's authority (a Delta's change).
pub(super) fn guardian(rng: &mut Rng, next_id: &mut u64) -> Relative {
    let p = adult(rng, next_id);
    let l = link(&p.id, "50", 1, 1, 1, 1);
    Relative { person: p, link: l }
}

fn phone(rng: &mut Rng, prefix: &str) -> String {
    format!(
        "{prefix} {:02} {:02} {:02} {:02}",
        rng.below(100),
        rng.below(100),
        rng.below(100),
        rng.below(100)
    )
}

/// A relative's record, naming their pupils.
pub(super) fn attrs(rng: &mut Rng, p: &Person, pupils: Vec<String>) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&p.id)),
        (
            "ENTPersonDateNaissance",
            if rng.chance(30) { v(&p.birth) } else { vec![] },
        ),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("sn", v(&p.nom)),
        ("givenName", v(&p.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("personalTitle", v(p.civ)),
        ("homePhone", v(&phone(rng, "01"))),
        ("telephoneNumber", vec![]),
        (
            "mobile",
            if rng.chance(20) {
                vec![phone(rng, "06"), phone(rng, "07")]
            } else {
                v(&phone(rng, "06"))
            },
        ),
        ("ENTPersonMobileSMS", vec![]),
        (
            "mail",
            if rng.chance(70) {
                v(&format!("parent{}@example.invalid", p.id))
            } else {
                vec![]
            },
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
        (
            "ENTPersonAdresseDiffusion",
            v(if rng.chance(50) { "O" } else { "N" }),
        ),
        ("ENTAuxPersRelEleveEleve", pupils),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_the_legal_links() {
        let links = vec![
            link("1", "10", 1, 1, 1, 1),
            link("2", "20", 0, 2, 1, 0),
            link("3", "39", 0, 0, 1, 0),
        ];
        assert_eq!(authority(&links), vec!["1", "2"]);
        assert_eq!(parse_link("7$10$1$1$1$1"), ("7", "1"));
    }
}
