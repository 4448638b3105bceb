//! The 2D population (collèges and lycées) and its extraction: the six
//! categories of a 2D delivery (research §2.5), one module each —
//! `etab` (structures, their classes and groups), `eleve` (pupils),
//! `pers_rel_eleve` (relatives), `pers_educ_nat` (staff), `matiere`
//! (subjects), `mef` (MEFs) — and `evolve`, its day-to-day life for Deltas
//! and later Complets. Names, ids, encodings, parts and the XML are the
//! shared ones of 1D (`names`, `records`, `write`); the header says
//! `degre="2D"` and `versionSDET="Annexe 4bis version 6.4"`.
//!
//! Ids do not meet 1D's of the same seed (structures from 500 000, people
//! from 20 million, 100 million per seed), nor do UAIs (`uai_base` + 500):
//! a 1D and a 2D extraction can describe one académie.
//!
//! Size: about 2.6 entries per pupil (1.5 relatives, one member of staff per 15 pupils).
//! A 1.5-million-entry académie:
//! `aaf-gen --degree 2d --schools 960 --pupils-per-school 600 --part-size 200000`
//! (576,000 pupils; measured: 2.60 entries per pupil at 600 a school).

mod eleve;
mod etab;
mod evolve;
mod matiere;
mod mef;
mod pers_educ_nat;
mod pers_rel_eleve;

use super::names::{person_born, short_title, Rng};
use super::records::{describe, get, v, Req};
use super::write::write_categories;
use super::{GenConfig, GenSummary};
use crate::aaf::filename::FileCategory;
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// The six categories of a 2D extraction, in the order they are written.
const CATEGORIES: [FileCategory; 6] = [
    FileCategory::EtabEducNat,
    FileCategory::Eleve,
    FileCategory::PersRelEleve,
    FileCategory::PersEducNat,
    FileCategory::MatiereEducNat,
    FileCategory::MefEducNat,
];

/// Where ids of seed `seed` start.
fn id_base(seed: u64) -> u64 {
    seed % 1000 * 100_000_000
}

/// Writes a 2D extraction into `dir`.
pub(super) fn generate(cfg: &GenConfig, dir: &Path) -> io::Result<GenSummary> {
    // a stream of its own: the 1D draws stay what they are
    let mut rng = Rng::new(cfg.seed ^ 0x2D00_0000_0000_0000);
    let mut sum = GenSummary::default();
    let total = cfg.schools + cfg.schools_outside;
    let schools = etab::schools(
        total,
        500_000 + cfg.seed % 1000 * 1000,
        cfg.uai_base + 500,
        cfg.pupils_per_school,
    );
    for (i, e) in schools.iter().enumerate() {
        if i < cfg.schools {
            sum.uai_inside.push(e.uai.clone());
        } else {
            sum.uai_outside.push(e.uai.clone());
        }
    }
    sum.schools = schools.len();
    let etab = etab::records(&mut rng, &schools, cfg.schools);
    let base = id_base(cfg.seed);
    let mut next_pupil = 20_000_000 + base;
    let mut next_parent = 40_000_000 + base;
    let mut next_staff = 60_000_000 + base;
    let mut staff = Vec::new();
    let mut eleves: Vec<Req> = Vec::new();
    let mut parents: Vec<Req> = Vec::new();
    let mut parent_at: HashMap<String, usize> = HashMap::new();
    for e in &schools {
        staff.extend(pers_educ_nat::school_staff(
            &mut rng,
            &mut next_staff,
            e,
            cfg.pupils_per_school,
        ));
        // the links and family name of the last family, for siblings
        let mut family: Option<(Vec<String>, String)> = None;
        for n in 0..cfg.pupils_per_school {
            let class = n % e.classes.len();
            let level = &e.levels[e.classes[class].level];
            let late = rng.chance(12);
            let mut p = person_born(
                &mut rng,
                format!("{next_pupil}"),
                false,
                level.born - u64::from(late),
                1,
            );
            next_pupil += 1;
            p.civ = short_title(p.civ);
            if n % 17 == 5 {
                // a homonym of the previous pupil: logins must differ
                if let Some(prev) = eleves.last() {
                    p.nom = get(prev, "sn").first().cloned().unwrap_or(p.nom);
                    p.prenom = get(prev, "givenName").first().cloned().unwrap_or(p.prenom);
                }
            }
            let sibling = n > 0 && family.is_some() && rng.chance(20);
            let links = match (&family, sibling) {
                (Some((links, name)), true) => {
                    p.nom = name.clone();
                    // found by index: a scan of every relative would be quadratic
                    for l in links {
                        let id = pers_rel_eleve::parse_link(l).0;
                        if let Some(Req::Add(_, a)) =
                            parent_at.get(id).and_then(|i| parents.get_mut(*i))
                        {
                            if let Some((_, pupils)) =
                                a.iter_mut().find(|(k, _)| *k == "ENTAuxPersRelEleveEleve")
                            {
                                pupils.push(p.id.clone());
                            }
                        }
                    }
                    links.clone()
                }
                _ => {
                    let mut links = Vec::new();
                    for r in pers_rel_eleve::family(&mut rng, &mut next_parent, &p) {
                        let attrs = pers_rel_eleve::attrs(&mut rng, &r.person, v(&p.id));
                        parent_at.insert(r.person.id.clone(), parents.len());
                        parents.push(Req::Add(r.person.id, attrs));
                        links.push(r.link);
                    }
                    links
                }
            };
            family = Some((links.clone(), p.nom.clone()));
            let group = eleve::group_for(&mut rng, e, class);
            let mut attrs = eleve::attrs(&mut rng, &p, e, class, group, links);
            if n % 11 == 3 {
                // a newer AAF version's attribute: dropped and counted
                attrs.push(("ENTEleveNouvelAttribut", v("X")));
            }
            if n % 13 == 7 {
                // attributes in another order, as files of other versions have
                attrs.rotate_left(3);
            }
            eleves.push(Req::Add(p.id.clone(), attrs));
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
    let subjects = matiere::records();
    let mefs = mef::records();
    sum.subjects = subjects.len();
    sum.mefs = mefs.len();
    let mut by_cat: Vec<(FileCategory, Vec<Req>)> = if cfg.delta {
        // the nomenclatures do not change from day to day: empty files
        sum.changes = describe(&delta);
        let mut v: Vec<(FileCategory, Vec<Req>)> =
            CATEGORIES.iter().map(|c| (*c, Vec::new())).collect();
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
            (FileCategory::MatiereEducNat, subjects),
            (FileCategory::MefEducNat, mefs),
        ]
    };
    sum.files = write_categories(cfg, dir, &mut by_cat)?;
    Ok(sum)
}
