//! The day-to-day life of a generated 1D population, for realistic Deltas and
//! later Complets: pupils arrive (with new parents), leave (their parents
//! with them when they have no other child), change class or school and get
//! their names corrected; parents change phone or mail; staff come and go
//! and teachers change class; a school is renamed now and then.
//!
//! Each day is drawn from its own random stream (seed and day number) and
//! applied to the population the previous day left, so the Delta of day N
//! applied over the Complet of day N−1 gives exactly the Complet of day N.
//! Rates are per day and per person, with at least one event of each kind
//! for people (so that small test extractions exercise every path).

use super::names::{family_name, given_name, person, word, Rng};
use super::one_d::{parent_attrs, pupil_attrs, staff_attrs, School};
use super::records::{
    attached_to, get, how_many, id_of, index_by_id, set, v, Attrs, Population, Req,
};
use crate::aaf::filename::FileCategory;
use std::collections::HashSet;

/// Events per person and per day.
const PUPIL_RENAME: f64 = 0.001;
const PUPIL_CLASS_MOVE: f64 = 0.003;
const PUPIL_SCHOOL_MOVE: f64 = 0.0005;
const PUPIL_SERVICE: f64 = 0.005;
const PUPIL_LEAVE: f64 = 0.001;
const PUPIL_ARRIVE: f64 = 0.001;
const PARENT_CONTACT: f64 = 0.003;
const STAFF_LEAVE: f64 = 0.0005;
const STAFF_ARRIVE: f64 = 0.0005;
const TEACHER_CLASS: f64 = 0.001;
const SCHOOL_RENAME: f64 = 0.0002;

/// One day of changes, applied to `pop`; returns that day's Delta requests.
struct Day<'a> {
    rng: Rng,
    pop: &'a mut Population,
    schools: &'a [School],
    inside: usize,
    inside_sids: HashSet<String>,
    inside_pupils: HashSet<String>,
    /// Where each parent is in `pop.parents`.
    parent_at: std::collections::HashMap<String, usize>,
    delta: Vec<(FileCategory, Req)>,
    touched: HashSet<String>,
}

impl Day<'_> {
    /// A random record of `list` in a perimeter school, not yet touched today.
    fn pick(&mut self, cat: FileCategory, pred: impl Fn(&Req) -> bool) -> Option<usize> {
        let n = self.pop.of(cat).len() as u64;
        for _ in 0..64 {
            let i = self.rng.below(n) as usize;
            let r = &self.pop.of(cat)[i];
            // people of the perimeter only: the directory knows no one else
            let inside = if cat == FileCategory::PersRelEleve {
                get(r, "ENTPersRelEleveEleve")
                    .iter()
                    .any(|p| self.inside_pupils.contains(p))
            } else {
                get(r, "ENTPersonStructRattach")
                    .iter()
                    .any(|s| self.inside_sids.contains(s.as_str()))
            };
            let ok = !self.touched.contains(id_of(r)) && pred(r) && inside;
            if ok {
                let id = id_of(r).to_string();
                self.touched.insert(id);
                return Some(i);
            }
        }
        None
    }

    /// Changes some attributes of record `i`: a `modifyRequest`.
    fn modify(&mut self, cat: FileCategory, i: usize, changes: Attrs) {
        let r = &mut self.pop.of_mut(cat)[i];
        set(r, &changes);
        let id = id_of(r).to_string();
        self.delta.push((cat, Req::Modify(id, changes)));
    }

    fn school_of(&self, r: &Req) -> Option<usize> {
        let sid = get(r, "ENTPersonStructRattach").first()?;
        self.schools.iter().position(|s| &s.sid == sid)
    }

    fn class_attrs(s: &School, class: usize) -> Attrs {
        let (code, label) = &s.classes[class];
        let lvl = label.split(' ').next().unwrap_or("CP");
        let cycle = if ["PS", "MS", "GS"].contains(&lvl) {
            "1"
        } else {
            "2"
        };
        vec![
            (
                "ENTPersonClasses",
                v(&format!("{}$1$1${code}${label}", s.sid)),
            ),
            ("ENTEleveNiveau", v(lvl)),
            ("ENTEleveCycle", v(cycle)),
        ]
    }

    fn pupils(&mut self, next_id: &mut u64) {
        let pupils = self.pop.eleves.len();
        for _ in 0..how_many(PUPIL_RENAME, pupils, 1) {
            let Some(i) = self.pick(FileCategory::Eleve, |_| true) else {
                continue;
            };
            let change = if self.rng.chance(50) {
                vec![
                    ("ENTPersonPrenom", v(&given_name(&mut self.rng))),
                    ("ENTPersonAutresPrenoms", vec![]),
                ]
            } else {
                let nom = family_name(&mut self.rng);
                vec![("ENTPersonNom", v(&nom)), ("ENTPersonNomPatro", v(&nom))]
            };
            self.modify(FileCategory::Eleve, i, change);
        }
        for _ in 0..how_many(PUPIL_CLASS_MOVE, pupils, 1) {
            let Some(i) = self.pick(FileCategory::Eleve, |_| true) else {
                continue;
            };
            let Some(si) = self.school_of(&self.pop.eleves[i]) else {
                continue;
            };
            let s = &self.schools[si];
            let class = self.rng.below(s.classes.len() as u64) as usize;
            let change = Self::class_attrs(s, class);
            self.modify(FileCategory::Eleve, i, change);
        }
        if self.inside > 1 {
            for _ in 0..how_many(PUPIL_SCHOOL_MOVE, pupils, 1) {
                let Some(i) = self.pick(FileCategory::Eleve, |_| true) else {
                    continue;
                };
                let from = self.school_of(&self.pop.eleves[i]).unwrap_or(0);
                let to = (from + 1 + self.rng.below(self.inside as u64 - 1) as usize) % self.inside;
                let s = &self.schools[to];
                let class = self.rng.below(s.classes.len() as u64) as usize;
                let mut change = vec![("ENTPersonStructRattach", v(&s.sid))];
                change.extend(Self::class_attrs(s, class));
                change.push(("ENTPersonGroupes", vec![]));
                self.modify(FileCategory::Eleve, i, change);
            }
        }
        for _ in 0..how_many(PUPIL_SERVICE, pupils, 1) {
            let Some(i) = self.pick(FileCategory::Eleve, |_| true) else {
                continue;
            };
            let now = get(&self.pop.eleves[i], "ENTEleveRestaurantScolaire").first();
            let flipped = if now.is_some_and(|x| x == "O") {
                "N"
            } else {
                "O"
            };
            self.modify(
                FileCategory::Eleve,
                i,
                vec![("ENTEleveRestaurantScolaire", v(flipped))],
            );
        }
        for _ in 0..how_many(PUPIL_LEAVE, pupils, 1) {
            let Some(i) = self.pick(FileCategory::Eleve, |_| true) else {
                continue;
            };
            self.pupil_leaves(i);
        }
        for _ in 0..how_many(PUPIL_ARRIVE, pupils, 1) {
            self.pupil_arrives(next_id);
        }
    }

    /// A pupil leaves; so do their parents when they have no other child.
    fn pupil_leaves(&mut self, i: usize) {
        // order within a file does not matter; a shift of the whole list
        // per departure would, at an académie's size
        let r = self.pop.eleves.swap_remove(i);
        let pid = id_of(&r).to_string();
        self.delta
            .push((FileCategory::Eleve, Req::Delete(pid.clone())));
        for auth in get(&r, "ENTEleveAutoriteParentale") {
            let parent = auth.split('$').next().unwrap_or_default();
            let Some(&pi) = self.parent_at.get(parent) else {
                continue;
            };
            let left: Vec<String> = get(&self.pop.parents[pi], "ENTPersRelEleveEleve")
                .iter()
                .filter(|x| **x != pid)
                .cloned()
                .collect();
            self.touched.insert(parent.to_string());
            if left.is_empty() {
                self.pop.parents.swap_remove(pi);
                self.parent_at.remove(parent);
                if let Some(moved) = self.pop.parents.get(pi) {
                    self.parent_at.insert(id_of(moved).to_string(), pi);
                }
                self.delta
                    .push((FileCategory::PersRelEleve, Req::Delete(parent.to_string())));
            } else {
                self.modify(
                    FileCategory::PersRelEleve,
                    pi,
                    vec![("ENTPersRelEleveEleve", left)],
                );
            }
        }
    }

    /// A new pupil in a perimeter school, with one or two new parents.
    fn pupil_arrives(&mut self, next_id: &mut u64) {
        let s = &self.schools[self.rng.below(self.inside as u64) as usize];
        let p = person(&mut self.rng, format!("{next_id}"), false);
        *next_id += 1;
        let mut pids = Vec::new();
        for k in 0..(1 + self.rng.below(2)) {
            let mut par = person(&mut self.rng, format!("{next_id}"), true);
            *next_id += 1;
            if k == 1 {
                par.nom = p.nom.clone();
            }
            let attrs = parent_attrs(&mut self.rng, &par, &p.id);
            pids.push(par.id.clone());
            self.parent_at
                .insert(par.id.clone(), self.pop.parents.len());
            self.pop
                .parents
                .push(Req::Add(par.id.clone(), attrs.clone()));
            self.delta
                .push((FileCategory::PersRelEleve, Req::Add(par.id, attrs)));
        }
        let class = self.rng.below(s.classes.len() as u64) as usize;
        let attrs = pupil_attrs(&mut self.rng, &p, s, class, &pids, false);
        self.touched.insert(p.id.clone());
        self.pop.eleves.push(Req::Add(p.id.clone(), attrs.clone()));
        self.delta
            .push((FileCategory::Eleve, Req::Add(p.id, attrs)));
    }

    fn parents(&mut self) {
        for _ in 0..how_many(PARENT_CONTACT, self.pop.parents.len(), 1) {
            let Some(i) = self.pick(FileCategory::PersRelEleve, |_| true) else {
                continue;
            };
            let mobile = format!(
                "07 {:02} {:02} {:02} {:02}",
                self.rng.below(100),
                self.rng.below(100),
                self.rng.below(100),
                self.rng.below(100)
            );
            let mut change = vec![("ENTPersRelEleveTelMobile", v(&mobile))];
            if self.rng.chance(50) {
                let id = id_of(&self.pop.parents[i]).to_string();
                change.push(("ENTPersonMail", v(&format!("p{id}.new@example.invalid"))));
            }
            self.modify(FileCategory::PersRelEleve, i, change);
        }
    }

    fn staff(&mut self, next_id: &mut u64) {
        let n = self.pop.staff.len();
        let director = |r: &Req| {
            get(r, "ENTPersonFonctions")
                .iter()
                .any(|f| f.contains("$DIR$"))
        };
        for _ in 0..how_many(STAFF_LEAVE, n, 1) {
            let Some(i) = self.pick(FileCategory::PersEducNat, |r| !director(r)) else {
                continue;
            };
            let r = self.pop.staff.swap_remove(i);
            self.delta.push((
                FileCategory::PersEducNat,
                Req::Delete(id_of(&r).to_string()),
            ));
        }
        for _ in 0..how_many(STAFF_ARRIVE, n, 1) {
            let s = &self.schools[self.rng.below(self.inside as u64) as usize];
            let p = person(&mut self.rng, format!("{next_id}"), true);
            *next_id += 1;
            let func = format!("{}$ASE$ACCOMPAGNEMENT$-$-", s.sid);
            let attrs = staff_attrs(&mut self.rng, &p, &s.sid, &func, vec![], false, false);
            self.touched.insert(p.id.clone());
            self.pop.staff.push(Req::Add(p.id.clone(), attrs.clone()));
            self.delta
                .push((FileCategory::PersEducNat, Req::Add(p.id, attrs)));
        }
        let teacher = |r: &Req| !get(r, "ENTPersonClasses").is_empty();
        for _ in 0..how_many(TEACHER_CLASS, n, 1) {
            let Some(i) = self.pick(FileCategory::PersEducNat, teacher) else {
                continue;
            };
            let Some(si) = self.school_of(&self.pop.staff[i]) else {
                continue;
            };
            let s = &self.schools[si];
            let (code, label) = &s.classes[self.rng.below(s.classes.len() as u64) as usize];
            let change = vec![(
                "ENTPersonClasses",
                v(&format!("{}$1$1${code}${label}", s.sid)),
            )];
            self.modify(FileCategory::PersEducNat, i, change);
        }
    }

    fn structures(&mut self) {
        for _ in 0..how_many(SCHOOL_RENAME, self.inside, 0) {
            let i = self.rng.below(self.inside as u64) as usize;
            let name = format!("ECOLE PRIMAIRE {}", word(&mut self.rng, 3).to_uppercase());
            let Some(ri) = self
                .pop
                .etab
                .iter()
                .position(|r| id_of(r) == self.schools[i].sid)
            else {
                continue;
            };
            self.modify(
                FileCategory::EtabEducNat,
                ri,
                vec![("ENTStructureNomCourant", v(&name))],
            );
        }
    }
}

/// Lives `days` days of the population's life. Returns the requests of the
/// last day (the Delta of that day); `pop` becomes the population after it
/// (the Complet of that day).
pub(super) fn live(
    pop: &mut Population,
    schools: &[School],
    inside: usize,
    seed: u64,
    days: u32,
) -> Vec<(FileCategory, Req)> {
    let mut last = Vec::new();
    if inside == 0 {
        return last;
    }
    for day in 1..=days {
        // fresh ids per day, clear of the base ranges (2–4 million)
        let mut next_id = 10_000_000 + u64::from(day) * 100_000 + seed % 1000 * 10_000_000;
        let inside_sids: HashSet<String> =
            schools[..inside].iter().map(|s| s.sid.clone()).collect();
        let inside_pupils = attached_to(&pop.eleves, &inside_sids);
        let parent_at = index_by_id(&pop.parents);
        let mut d = Day {
            rng: Rng::new(seed ^ (u64::from(day) << 32) ^ 0xD417_0000),
            pop,
            schools,
            inside,
            inside_sids,
            inside_pupils,
            parent_at,
            delta: Vec::new(),
            touched: HashSet::new(),
        };
        d.structures();
        d.pupils(&mut next_id);
        d.parents();
        d.staff(&mut next_id);
        last = d.delta;
    }
    last
}
