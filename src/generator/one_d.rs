//! The 1D population (primary schools): schools, pupils with their parents,
//! staff, as the four categories of a 1D extraction, then `evolve` lives its
//! days. Its output is fixed: `samples/1d-complet` is regenerated from it
//! byte for byte, so any change here must keep the random draws in order.

use super::evolve;
use super::names::{given_name, ine, person, word, Person, Rng};
use super::records::{v, Attrs, Req};
use super::{uai, GenConfig, GenSummary};
use crate::aaf::filename::FileCategory;
use std::io;
use std::path::Path;

#[derive(Debug, Clone)]
pub(super) struct School {
    pub sid: String,
    pub uai: String,
    pub name: String,
    pub classes: Vec<(String, String)>, // (code, label)
}

/// A staff record (`teacher`: in charge of `classes`).
pub(super) fn staff_attrs(
    rng: &mut Rng,
    p: &Person,
    sid: &str,
    func: &str,
    classes: Vec<String>,
    teacher: bool,
    director: bool,
) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&p.id)),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("ENTPersonNom", v(&p.nom)),
        ("ENTPersonPrenom", v(&p.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("ENTPersonCivilite", v(p.civ)),
        (
            "ENTPersonMail",
            v(&format!(
                "{}.{}@ac-test.invalid",
                crate::mapping::login::fold(&p.prenom),
                crate::mapping::login::fold(&p.nom)
            )),
        ),
        ("ENTPersonStructRattach", v(sid)),
        ("ENTPersonFonctions", v(func)),
        (
            "ENTPersonCategorieEnseignant",
            v(if teacher { "O" } else { "N" }),
        ),
        // real 1D files give the id of the school directed
        ("ENTEnsFonctionDir", if director { v(sid) } else { vec![] }),
        ("ENTEnsSpecialites", vec![]),
        ("ENTPersonClasses", classes),
        // not authorised for staff: must never reach LDAP
        (
            "ENTPersonAdresse",
            v(&format!("{} ALLEE DES TILLEULS$$", 1 + rng.below(90))),
        ),
        ("ENTPersonCodePostal", v("94100")),
        ("ENTPersonVille", v("VILLE PRIVEE")),
        (
            "ENTPersRelEleveTelMobile",
            v(&format!(
                "06 00 00 {:02} {:02}",
                rng.below(100),
                rng.below(100)
            )),
        ),
    ]
}

/// A parent record, naming their first pupil.
pub(super) fn parent_attrs(rng: &mut Rng, par: &Person, pupil: &str) -> Attrs {
    vec![
        ("ENTPersonJointure", v(&par.id)),
        ("ENTPersonNomPatro", v(&par.nom)),
        ("ENTPersonNom", v(&par.nom)),
        ("ENTPersonPrenom", v(&par.prenom)),
        ("ENTPersonAutresPrenoms", vec![]),
        ("ENTPersonCivilite", v(par.civ)),
        ("ENTPersRelEleveEleve", v(pupil)),
        (
            "ENTPersonAdresse",
            v(&format!("{} RUE DU MOULIN$BATIMENT B$", 1 + rng.below(120))),
        ),
        ("ENTPersonCodePostal", v("94000")),
        ("ENTPersonVille", v("VILLE TEST")),
        ("ENTPersonPays", v("FRANCE")),
        (
            "ENTPersonAdresseDiffusion",
            v(if rng.chance(50) { "O" } else { "N" }),
        ),
        (
            "ENTPersonTelPerso",
            v(&format!(
                "01 45 {:02} {:02} {:02}",
                rng.below(100),
                rng.below(100),
                rng.below(100)
            )),
        ),
        (
            "ENTPersRelEleveTelMobile",
            v(&format!(
                "06 12 {:02} {:02} {:02}",
                rng.below(100),
                rng.below(100),
                rng.below(100)
            )),
        ),
        (
            "ENTPersonMail",
            if rng.chance(70) {
                v(&format!("parent{}@example.invalid", par.id))
            } else {
                vec![]
            },
        ),
        ("ENTPersRelEleveTelPro", vec![]),
    ]
}

/// A pupil record in class number `class` of school `s`.
pub(super) fn pupil_attrs(
    rng: &mut Rng,
    p: &Person,
    s: &School,
    class: usize,
    pids: &[String],
    choir: bool,
) -> Attrs {
    let (code, label) = s.classes[class].clone();
    let lvl = label.split(' ').next().unwrap_or("CP").to_string();
    vec![
        ("ENTPersonJointure", v(&p.id)),
        ("ENTEleveINE", v(&ine(rng))),
        ("ENTPersonDateNaissance", v(&p.birth)),
        ("ENTPersonNomPatro", v(&p.nom)),
        ("ENTPersonNom", v(&p.nom)),
        ("ENTPersonPrenom", v(&p.prenom)),
        (
            "ENTPersonAutresPrenoms",
            if rng.chance(30) {
                vec![given_name(rng), given_name(rng)]
            } else {
                vec![]
            },
        ),
        ("ENTPersonCivilite", v(p.civ)),
        ("ENTPersonStructRattach", v(&s.sid)),
        (
            "ENTEleveAutoriteParentale",
            pids.iter()
                .enumerate()
                .map(|(k, id)| format!("{id}${}", if k == 0 { 10 } else { 20 }))
                .collect(),
        ),
        (
            "ENTEleveRestaurantScolaire",
            v(if rng.chance(70) { "O" } else { "N" }),
        ),
        ("ENTEleveTransport", v("N")),
        (
            "ENTEleveGarderieMatin",
            v(if rng.chance(30) { "O" } else { "N" }),
        ),
        (
            "ENTEleveGarderieSoir",
            v(if rng.chance(30) { "O" } else { "N" }),
        ),
        ("ENTEleveEtudesSurveillees", v("N")),
        ("ENTEleveNiveau", v(&lvl)),
        (
            "ENTEleveCycle",
            v(if ["PS", "MS", "GS"].contains(&lvl.as_str()) {
                "1"
            } else {
                "2"
            }),
        ),
        ("ENTEleveTypeClasse", v("ORDINAIRE")),
        (
            "ENTPersonClasses",
            v(&format!("{}$1$1${code}${label}", s.sid)),
        ),
        (
            "ENTPersonGroupes",
            if choir {
                v(&format!(
                    "{}$1$1$G{}CHORALE$CHORALE",
                    s.sid,
                    &s.sid[s.sid.len() - 3..]
                ))
            } else {
                vec![]
            },
        ),
    ]
}

/// Writes a 1D extraction into `dir`.
pub(super) fn generate(cfg: &GenConfig, dir: &Path) -> io::Result<GenSummary> {
    let mut rng = Rng::new(cfg.seed);
    let mut sum = GenSummary::default();
    let levels = ["PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2"];
    let total_schools = cfg.schools + cfg.schools_outside;
    let mut schools = Vec::new();
    for i in 0..total_schools {
        let sid = format!("{}", 100_000 + cfg.seed % 1000 * 1000 + i as u64);
        let u = uai(cfg.uai_base + i as u32);
        if i < cfg.schools {
            sum.uai_inside.push(u.clone());
        } else {
            sum.uai_outside.push(u.clone());
        }
        let nclasses = (cfg.pupils_per_school / 24).max(1);
        let classes = (0..nclasses)
            .map(|c| {
                let lvl = levels[c % levels.len()];
                (
                    format!("C{}{c:02}", &sid[sid.len() - 3..]),
                    format!("{lvl} {}", (b'A' + (c / levels.len()) as u8) as char),
                )
            })
            .collect();
        let name = if i == 0 {
            // escaped twice, as real files do
            "ECOLE ELEMENTAIRE D&apos;APPLICATION".to_string()
        } else {
            format!("ECOLE PRIMAIRE {}", word(&mut rng, 3).to_uppercase())
        };
        schools.push(School {
            sid,
            uai: u,
            name,
            classes,
        });
    }
    let mut etab = Vec::new();
    let mut eleves = Vec::new();
    let mut parents = Vec::new();
    let mut parent_index: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    let mut staff = Vec::new();
    let mut next_pupil = 2_000_000 + cfg.seed % 1000 * 100_000;
    let mut next_parent = 3_000_000 + cfg.seed % 1000 * 100_000;
    let mut next_staff = 4_000_000 + cfg.seed % 1000 * 100_000;
    for (si, s) in schools.iter().enumerate() {
        let v = |x: &str| vec![x.to_string()];
        etab.push(Req::Add(
            s.sid.clone(),
            vec![
                ("ENTStructureJointure", v(&s.sid)),
                ("ENTStructureUAI", v(&s.uai)),
                ("ENTStructureSIREN", vec![]),
                ("ENTStructureNomCourant", v(&s.name)),
                ("ENTStructureTypeStruct", v("ECOLE ELEMENTAIRE PUBLIQUE")),
                (
                    "ENTEcoleMinistereTutelle",
                    v("MINISTERE DE L'EDUCATION NATIONALE"),
                ),
                ("ENTEcoleSecteur", v("PU")),
                ("ENTEcoleCirconscription", v("CIRCONSCRIPTION NORD")),
                ("ENTEcoleCommune", v("COMMUNE TEST")),
                ("ENTEcoleRPI", vec![]),
                ("ENTServAcAcademie", v("CRETEIL")),
                (
                    "ENTStructureAdresse",
                    v(&format!("{} RUE DES ECOLES", 1 + si)),
                ),
                ("ENTStructureBoitePostale", vec![]),
                ("ENTStructureCodePostal", v("94000")),
                ("ENTStructureVille", v("VILLE TEST")),
                (
                    "ENTStructureTelephone",
                    v(&format!("01 40 00 00 {:02}", si % 100)),
                ),
                ("ENTStructureFax", vec![]),
                (
                    "ENTStructureEmail",
                    v(&format!("ce.{}@ac-test.invalid", s.uai.to_lowercase())),
                ),
                ("ENTStructureMailSI", vec![]),
                ("ENTStructureCodeTypeStruct", v("151")),
            ],
        ));
        sum.schools += 1;
        // staff: a director, one teacher per class, one non-teaching member
        for role in 0..(s.classes.len() + 2) {
            let p = person(&mut rng, format!("{next_staff}"), true);
            next_staff += 1;
            let (func, classes) = if role == 0 {
                (format!("{}$DIR$DIRECTION$-$-", s.sid), vec![])
            } else if role <= s.classes.len() {
                let (code, label) = &s.classes[role - 1];
                (
                    format!("{}$ENS$ENSEIGNEMENT$-$-", s.sid),
                    vec![format!("{}$1$1${code}${label}", s.sid)],
                )
            } else {
                (format!("{}$ASE$ACCOMPAGNEMENT$-$-", s.sid), vec![])
            };
            staff.push(Req::Add(
                p.id.clone(),
                staff_attrs(
                    &mut rng,
                    &p,
                    &s.sid,
                    &func,
                    classes,
                    role > 0 && role <= s.classes.len(),
                    role == 0,
                ),
            ));
            sum.staff += 1;
        }
        // pupils and their parents (siblings share them)
        let mut family: Option<(Vec<String>, String)> = None;
        for n in 0..cfg.pupils_per_school {
            let mut p = person(&mut rng, format!("{next_pupil}"), false);
            next_pupil += 1;
            if n % 17 == 5 {
                // a homonym of the previous pupil: logins must differ
                if let Some(Req::Add(_, prev)) = eleves.last() {
                    for (k, vals) in prev {
                        match *k {
                            "ENTPersonNom" => p.nom = vals[0].clone(),
                            "ENTPersonPrenom" => p.prenom = vals[0].clone(),
                            _ => {}
                        }
                    }
                }
            }
            let sibling = n > 0 && rng.chance(20) && family.is_some();
            let (pids, fam_name) = if sibling {
                family.clone().unwrap_or_default()
            } else {
                let np = if rng.chance(15) { 1 } else { 2 };
                let mut ids = Vec::new();
                for k in 0..np {
                    let mut par = person(&mut rng, format!("{next_parent}"), true);
                    next_parent += 1;
                    par.civ = if k == 0 { "Mme" } else { "M." };
                    if k == 1 {
                        par.nom = p.nom.clone();
                    }
                    ids.push(par.id.clone());
                    parent_index.insert(par.id.clone(), parents.len());
                    parents.push(Req::Add(
                        par.id.clone(),
                        parent_attrs(&mut rng, &par, &p.id),
                    ));
                    sum.parents += 1;
                }
                (ids, p.nom.clone())
            };
            if sibling {
                p.nom = fam_name.clone();
                // the sibling is also named on the parents' records (found
                // by index: a scan of every parent would be quadratic)
                for pid in &pids {
                    let Some(&i) = parent_index.get(pid) else {
                        continue;
                    };
                    if let Some(Req::Add(_, attrs)) = parents.get_mut(i) {
                        if let Some((_, vals)) =
                            attrs.iter_mut().find(|(k, _)| *k == "ENTPersRelEleveEleve")
                        {
                            vals.push(p.id.clone());
                        }
                    }
                }
            }
            family = Some((pids.clone(), p.nom.clone()));
            let mut attrs = pupil_attrs(&mut rng, &p, s, n % s.classes.len(), &pids, n % 5 == 0);
            if n % 11 == 3 {
                // a newer AAF version's attribute: dropped and counted
                attrs.push(("ENTEleveNouvelAttribut", v("X")));
            }
            eleves.push(Req::Add(p.id.clone(), attrs));
            sum.pupils += 1;
        }
    }
    let mut pop = super::records::Population {
        etab,
        eleves,
        parents,
        staff,
    };
    let days = if cfg.delta { cfg.days.max(1) } else { cfg.days };
    let delta = evolve::live(&mut pop, &schools, cfg.schools, cfg.seed, days);
    sum.pupils = pop.eleves.len();
    sum.parents = pop.parents.len();
    sum.staff = pop.staff.len();
    let mut by_cat: Vec<(FileCategory, Vec<Req>)> = if cfg.delta {
        sum.changes = super::records::describe(&delta);
        let mut v: Vec<(FileCategory, Vec<Req>)> = FileCategory::IMPORTED
            .iter()
            .map(|c| (*c, Vec::new()))
            .collect();
        for (c, r) in delta {
            if let Some((_, list)) = v.iter_mut().find(|(k, _)| *k == c) {
                list.push(r);
            }
        }
        v
    } else {
        vec![
            (FileCategory::EtabEducNat, pop.etab),
            (FileCategory::Eleve, pop.eleves),
            (FileCategory::PersRelEleve, pop.parents),
            (FileCategory::PersEducNat, pop.staff),
        ]
    };
    sum.files = super::write::write_categories(cfg, dir, &mut by_cat)?;
    Ok(sum)
}
