//! The day-to-day life of a generated 2D population, as 1D's (`evolve`):
//! pupils arrive with their relatives, leave (relatives left with no pupil
//! leave too), change class, group or school, get a grant and their names
//! corrected; relatives change phone or mail, and now and then a guardian
//! takes over a pupil's authority from a relative; staff come and go,
//! teachers change classes or subjects; a school is renamed now and then.
//!
//! Each day has its own random stream and applies to what the previous
//! day left, so the Delta of day N over the Complet of day N−1 gives the
//! Complet of day N. A `modifyRequest` (`operation="replace"`) carries only
//! the attributes that changed.

use super::super::names::{family_name, given_name, person_born, short_title, Rng};
use super::super::records::{
    attached_to, get, how_many, id_of, index_by_id, set, v, Attrs, Population, Req,
};
use super::eleve::{group_for, schooling};
use super::etab::{name, Etab};
use super::matiere::SUBJECTS;
use super::pers_educ_nat::{other, staff_person, teaching, Teaching, ROLES};
use super::pers_rel_eleve::{self as rel, authority, parse_link};
use crate::aaf::filename::FileCategory;
use std::collections::{HashMap, HashSet};

/// Events per person and per day.
const PUPIL_RENAME: f64 = 0.001;
const PUPIL_CLASS_MOVE: f64 = 0.003;
const PUPIL_GROUP_MOVE: f64 = 0.002;
const PUPIL_SCHOOL_MOVE: f64 = 0.0005;
const PUPIL_GRANT: f64 = 0.002;
const PUPIL_LEAVE: f64 = 0.001;
const PUPIL_ARRIVE: f64 = 0.001;
const RELATIVE_CONTACT: f64 = 0.003;
const GUARDIAN_CHANGE: f64 = 0.0005;
const STAFF_LEAVE: f64 = 0.0005;
const STAFF_ARRIVE: f64 = 0.0005;
const TEACHER_CLASS: f64 = 0.001;
const TEACHER_SUBJECT: f64 = 0.0005;
const SCHOOL_RENAME: f64 = 0.0002;

/// The `sid$code` values' codes.
fn codes(values: &[String]) -> Vec<&str> {
    values.iter().filter_map(|x| x.split('$').nth(1)).collect()
}

struct Day<'a> {
    rng: Rng,
    pop: &'a mut Population,
    schools: &'a [Etab],
    inside: usize,
    inside_sids: HashSet<String>,
    inside_pupils: HashSet<String>,
    parent_at: HashMap<String, usize>,
    delta: Vec<(FileCategory, Req)>,
    touched: HashSet<String>,
    next_id: u64,
}

impl Day<'_> {
    /// A random record of the perimeter not yet touched today.
    fn pick(&mut self, cat: FileCategory, pred: impl Fn(&Req) -> bool) -> Option<usize> {
        let n = self.pop.of(cat).len() as u64;
        for _ in 0..64 {
            let i = self.rng.below(n) as usize;
            let r = &self.pop.of(cat)[i];
            let inside = if cat == FileCategory::PersRelEleve {
                get(r, "ENTAuxPersRelEleveEleve")
                    .iter()
                    .any(|p| self.inside_pupils.contains(p))
            } else {
                get(r, "ENTPersonStructRattach")
                    .iter()
                    .any(|s| self.inside_sids.contains(s))
            };
            if inside && !self.touched.contains(id_of(r)) && pred(r) {
                self.touched.insert(id_of(r).to_string());
                return Some(i);
            }
        }
        None
    }

    /// Sets what differs of `changes` on record `i`: a `modifyRequest`.
    fn modify(&mut self, cat: FileCategory, i: usize, changes: Attrs) {
        let r = &mut self.pop.of_mut(cat)[i];
        let changes: Attrs = changes
            .into_iter()
            .filter(|(k, vals)| get(r, k) != vals.as_slice())
            .collect();
        if changes.is_empty() {
            return;
        }
        set(r, &changes);
        let id = id_of(r).to_string();
        self.delta.push((cat, Req::Modify(id, changes)));
    }

    fn add(&mut self, cat: FileCategory, id: String, attrs: Attrs) {
        self.touched.insert(id.clone());
        if cat == FileCategory::PersRelEleve {
            self.parent_at.insert(id.clone(), self.pop.parents.len());
        }
        self.pop
            .of_mut(cat)
            .push(Req::Add(id.clone(), attrs.clone()));
        self.delta.push((cat, Req::Add(id, attrs)));
    }

    fn school_of(&self, r: &Req) -> Option<usize> {
        let sid = get(r, "ENTPersonStructRattach").first()?;
        self.schools.iter().position(|s| &s.sid == sid)
    }

    /// School, class and group of a pupil.
    fn placement(&self, r: &Req) -> Option<(usize, usize, usize)> {
        let si = self.school_of(r)?;
        let e = &self.schools[si];
        let class = codes(get(r, "ENTEleveClasses"))
            .first()
            .and_then(|c| e.classes.iter().position(|k| k.code == *c))?;
        let group = codes(get(r, "ENTEleveGroupes"))
            .first()
            .and_then(|g| e.groups.iter().position(|k| k.code == *g))?;
        Some((si, class, group))
    }

    fn pupils(&mut self) {
        let n = self.pop.eleves.len();
        const E: FileCategory = FileCategory::Eleve;
        for _ in 0..how_many(PUPIL_RENAME, n, 1) {
            let Some(i) = self.pick(E, |_| true) else {
                continue;
            };
            let change = if self.rng.chance(50) {
                vec![
                    ("givenName", v(&given_name(&mut self.rng))),
                    ("ENTPersonAutresPrenoms", vec![]),
                ]
            } else {
                let nom = family_name(&mut self.rng);
                vec![("sn", v(&nom)), ("ENTPersonNomPatro", v(&nom))]
            };
            self.modify(E, i, change);
        }
        for _ in 0..how_many(PUPIL_CLASS_MOVE, n, 1) {
            let Some(i) = self.pick(E, |_| true) else {
                continue;
            };
            let Some((si, class, group)) = self.placement(&self.pop.eleves[i]) else {
                continue;
            };
            let e = &self.schools[si];
            let others: Vec<usize> = e
                .classes_of(e.classes[class].level)
                .into_iter()
                .filter(|c| *c != class)
                .collect();
            if others.is_empty() {
                continue;
            }
            let to = *self.rng.pick(&others);
            self.modify(E, i, schooling(e, to, group));
        }
        for _ in 0..how_many(PUPIL_GROUP_MOVE, n, 1) {
            let Some(i) = self.pick(E, |_| true) else {
                continue;
            };
            let Some((si, class, group)) = self.placement(&self.pop.eleves[i]) else {
                continue;
            };
            let e = &self.schools[si];
            let Some(to) = e
                .groups_of(e.classes[class].level)
                .into_iter()
                .find(|g| *g != group)
            else {
                continue;
            };
            self.modify(E, i, schooling(e, class, to));
        }
        if self.inside > 1 {
            for _ in 0..how_many(PUPIL_SCHOOL_MOVE, n, 1) {
                let Some(i) = self.pick(E, |_| true) else {
                    continue;
                };
                let from = self.school_of(&self.pop.eleves[i]).unwrap_or(0);
                // to a school of the same kind when there is one
                let same: Vec<usize> = (0..self.inside)
                    .filter(|s| *s != from && self.schools[*s].kind == self.schools[from].kind)
                    .collect();
                let any: Vec<usize> = (0..self.inside).filter(|s| *s != from).collect();
                let to = *self.rng.pick(if same.is_empty() { &any } else { &same });
                let e = &self.schools[to];
                let class = self.rng.below(e.classes.len() as u64) as usize;
                let group = group_for(&mut self.rng, e, class);
                self.modify(E, i, schooling(e, class, group));
            }
        }
        for _ in 0..how_many(PUPIL_GRANT, n, 1) {
            let Some(i) = self.pick(E, |_| true) else {
                continue;
            };
            let now = get(&self.pop.eleves[i], "ENTEleveBoursier").first();
            let flipped = if now.is_some_and(|x| x == "O") {
                "N"
            } else {
                "O"
            };
            self.modify(E, i, vec![("ENTEleveBoursier", v(flipped))]);
        }
        for _ in 0..how_many(PUPIL_LEAVE, n, 1) {
            let Some(i) = self.pick(E, |_| true) else {
                continue;
            };
            let r = self.pop.eleves.swap_remove(i);
            let pid = id_of(&r).to_string();
            self.delta.push((E, Req::Delete(pid.clone())));
            for l in get(&r, "ENTElevePersRelEleve") {
                self.unlink(parse_link(l).0, &pid);
            }
        }
        for _ in 0..how_many(PUPIL_ARRIVE, n, 1) {
            self.pupil_arrives();
        }
    }

    /// Relative `parent` no longer has pupil `pupil`: a `modifyRequest`, or
    /// a `deleteRequest` when no pupil is left.
    fn unlink(&mut self, parent: &str, pupil: &str) {
        let Some(&pi) = self.parent_at.get(parent) else {
            return;
        };
        let left: Vec<String> = get(&self.pop.parents[pi], "ENTAuxPersRelEleveEleve")
            .iter()
            .filter(|x| *x != pupil)
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
                vec![("ENTAuxPersRelEleveEleve", left)],
            );
        }
    }

    /// A new pupil in a perimeter school, with a new family.
    fn pupil_arrives(&mut self) {
        let e = &self.schools[self.rng.below(self.inside as u64) as usize];
        let class = self.rng.below(e.classes.len() as u64) as usize;
        let born = e.levels[e.classes[class].level].born;
        let mut p = person_born(&mut self.rng, format!("{}", self.next_id), false, born, 1);
        self.next_id += 1;
        p.civ = short_title(p.civ);
        let mut links = Vec::new();
        for r in rel::family(&mut self.rng, &mut self.next_id, &p) {
            let attrs = rel::attrs(&mut self.rng, &r.person, v(&p.id));
            self.add(FileCategory::PersRelEleve, r.person.id, attrs);
            links.push(r.link);
        }
        let group = group_for(&mut self.rng, e, class);
        let attrs = super::eleve::attrs(&mut self.rng, &p, e, class, group, links);
        self.inside_pupils.insert(p.id.clone());
        self.add(FileCategory::Eleve, p.id, attrs);
    }

    fn relatives(&mut self) {
        const R: FileCategory = FileCategory::PersRelEleve;
        for _ in 0..how_many(RELATIVE_CONTACT, self.pop.parents.len(), 1) {
            let Some(i) = self.pick(R, |_| true) else {
                continue;
            };
            let mobile = format!(
                "07 {:02} {:02} {:02} {:02}",
                self.rng.below(100),
                self.rng.below(100),
                self.rng.below(100),
                self.rng.below(100)
            );
            let mut change = vec![("mobile", v(&mobile))];
            if self.rng.chance(50) {
                let id = id_of(&self.pop.parents[i]).to_string();
                change.push(("mail", v(&format!("p{id}.new@example.invalid"))));
            }
            self.modify(R, i, change);
        }
        // a guardian takes over from a pupil's last relative
        for _ in 0..how_many(GUARDIAN_CHANGE, self.pop.eleves.len(), 1) {
            let has_links = |r: &Req| !get(r, "ENTElevePersRelEleve").is_empty();
            let Some(i) = self.pick(FileCategory::Eleve, has_links) else {
                continue;
            };
            let pid = id_of(&self.pop.eleves[i]).to_string();
            let mut links = get(&self.pop.eleves[i], "ENTElevePersRelEleve").to_vec();
            let Some(old) = links.pop() else { continue };
            let g = rel::guardian(&mut self.rng, &mut self.next_id);
            let attrs = rel::attrs(&mut self.rng, &g.person, v(&pid));
            self.add(R, g.person.id, attrs);
            links.push(g.link);
            self.modify(
                FileCategory::Eleve,
                i,
                vec![
                    ("ENTEleveAutoriteParentale", authority(&links)),
                    ("ENTElevePersRelEleve", links),
                ],
            );
            self.unlink(parse_link(&old).0, &pid);
        }
    }

    /// What teacher `r` teaches, read back from their record.
    fn teaching_of(&self, r: &Req) -> Option<(usize, Teaching)> {
        let si = self.school_of(r)?;
        let e = &self.schools[si];
        let subject_code = get(r, "ENTAuxEnsClassesMatieres")
            .iter()
            .chain(get(r, "ENTAuxEnsGroupesMatieres"))
            .find_map(|x| x.split('$').nth(2))?;
        let subject = SUBJECTS.iter().position(|s| s.code == subject_code)?;
        let classes = codes(get(r, "ENTAuxEnsClasses"))
            .iter()
            .filter_map(|c| e.classes.iter().position(|k| k.code == *c))
            .collect();
        let groups = codes(get(r, "ENTAuxEnsGroupes"))
            .iter()
            .filter_map(|g| e.groups.iter().position(|k| k.code == *g))
            .collect();
        Some((
            si,
            Teaching {
                subject,
                classes,
                groups,
            },
        ))
    }

    fn staff(&mut self) {
        const S: FileCategory = FileCategory::PersEducNat;
        let n = self.pop.staff.len();
        let head = |r: &Req| {
            get(r, "ENTPersonFonctions")
                .iter()
                .any(|f| f.contains("$DIR$"))
        };
        for _ in 0..how_many(STAFF_LEAVE, n, 1) {
            let Some(i) = self.pick(S, |r| !head(r)) else {
                continue;
            };
            let r = self.pop.staff.swap_remove(i);
            self.delta.push((S, Req::Delete(id_of(&r).to_string())));
        }
        for _ in 0..how_many(STAFF_ARRIVE, n, 1) {
            let e = &self.schools[self.rng.below(self.inside as u64) as usize];
            let p = staff_person(&mut self.rng, &mut self.next_id);
            if let Req::Add(id, attrs) = other(&e.sid, &p, ROLES.len() - 1) {
                self.add(S, id, attrs);
            }
        }
        let class_teacher = |r: &Req| !get(r, "ENTAuxEnsClasses").is_empty();
        for _ in 0..how_many(TEACHER_CLASS, n, 1) {
            let Some(i) = self.pick(S, class_teacher) else {
                continue;
            };
            let Some((si, mut t)) = self.teaching_of(&self.pop.staff[i]) else {
                continue;
            };
            let e = &self.schools[si];
            let free: Vec<usize> = (0..e.classes.len())
                .filter(|c| !t.classes.contains(c))
                .collect();
            if free.is_empty() {
                continue;
            }
            let k = self.rng.below(t.classes.len() as u64) as usize;
            t.classes[k] = *self.rng.pick(&free);
            t.classes.sort_unstable();
            self.modify(S, i, teaching(e, &t));
        }
        for _ in 0..how_many(TEACHER_SUBJECT, n, 1) {
            let Some(i) = self.pick(S, class_teacher) else {
                continue;
            };
            let Some((si, mut t)) = self.teaching_of(&self.pop.staff[i]) else {
                continue;
            };
            let e = &self.schools[si];
            let others: Vec<usize> = e.core.iter().copied().filter(|s| *s != t.subject).collect();
            t.subject = *self.rng.pick(&others);
            self.modify(S, i, teaching(e, &t));
        }
    }

    fn structures(&mut self) {
        for _ in 0..how_many(SCHOOL_RENAME, self.inside, 0) {
            let i = self.rng.below(self.inside as u64) as usize;
            let n = name(&mut self.rng, &self.schools[i], false);
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
                vec![("ENTStructureNomCourant", v(&n))],
            );
        }
    }
}

/// Lives `days` days; returns the last day's requests (its Delta), `pop`
/// becoming the population after it (its Complet).
pub(super) fn live(
    pop: &mut Population,
    schools: &[Etab],
    inside: usize,
    seed: u64,
    days: u32,
) -> Vec<(FileCategory, Req)> {
    let mut last = Vec::new();
    if inside == 0 {
        return last;
    }
    for day in 1..=days {
        let inside_sids: HashSet<String> =
            schools[..inside].iter().map(|s| s.sid.clone()).collect();
        let inside_pupils = attached_to(&pop.eleves, &inside_sids);
        let parent_at = index_by_id(&pop.parents);
        let mut d = Day {
            rng: Rng::new(seed ^ (u64::from(day) << 32) ^ 0x2D17_0000),
            pop,
            schools,
            inside,
            inside_sids,
            inside_pupils,
            parent_at,
            delta: Vec::new(),
            touched: HashSet::new(),
            // fresh ids per day, clear of the base ranges
            next_id: 80_000_000 + u64::from(day) * 100_000 + super::id_base(seed),
        };
        d.structures();
        d.pupils();
        d.relatives();
        d.staff();
        last = d.delta;
    }
    last
}
