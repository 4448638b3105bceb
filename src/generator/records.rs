//! The requests a generated file is made of (`addRequest`, `modifyRequest`,
//! `deleteRequest`) and the helpers both degrees' populations and their
//! day-to-day life use on them.

use crate::aaf::filename::FileCategory;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One request being written: `(attribute, values)`.
pub(super) type Attrs = Vec<(&'static str, Vec<String>)>;

pub(super) enum Req {
    Add(String, Attrs),
    /// Attributes replaced wholesale (`operation="replace"`).
    Modify(String, Attrs),
    Delete(String),
}

pub(super) fn v(x: &str) -> Vec<String> {
    vec![x.to_string()]
}

pub(super) fn id_of(r: &Req) -> &str {
    match r {
        Req::Add(id, _) | Req::Modify(id, _) => id,
        Req::Delete(id) => id,
    }
}

pub(super) fn attrs_mut(r: &mut Req) -> Option<&mut Attrs> {
    match r {
        Req::Add(_, a) | Req::Modify(_, a) => Some(a),
        Req::Delete(_) => None,
    }
}

/// The values of attribute `name` (none when absent).
pub(super) fn get<'a>(r: &'a Req, name: &str) -> &'a [String] {
    match r {
        Req::Add(_, a) | Req::Modify(_, a) => a
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default(),
        Req::Delete(_) => &[],
    }
}

/// Sets attributes of a record (adding the ones it lacks).
pub(super) fn set(r: &mut Req, changes: &Attrs) {
    let Some(a) = attrs_mut(r) else { return };
    for (k, vals) in changes {
        match a.iter_mut().find(|(n, _)| n == k) {
            Some((_, old)) => *old = vals.clone(),
            None => a.push((k, vals.clone())),
        }
    }
}

/// How many of `population` an event touches over one day.
pub(super) fn how_many(rate: f64, population: usize, floor: usize) -> usize {
    let n = (rate * population as f64).round() as usize;
    n.max(floor).min(population / 4)
}

/// Counts of a Delta's requests by category and operation (for the
/// generator's summary).
pub(super) fn describe(delta: &[(FileCategory, Req)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (c, r) in delta {
        let op = match r {
            Req::Add(..) => "add",
            Req::Modify(..) => "modify",
            Req::Delete(_) => "delete",
        };
        *out.entry(format!("{c} {op}")).or_default() += 1;
    }
    out
}

/// Records of the four categories, as `Req::Add` (a Complet), 1D or 2D.
pub(crate) struct Population {
    pub etab: Vec<Req>,
    pub eleves: Vec<Req>,
    pub parents: Vec<Req>,
    pub staff: Vec<Req>,
}

impl Population {
    pub(crate) fn of(&self, cat: FileCategory) -> &Vec<Req> {
        match cat {
            FileCategory::EtabEducNat => &self.etab,
            FileCategory::Eleve => &self.eleves,
            FileCategory::PersRelEleve => &self.parents,
            _ => &self.staff,
        }
    }

    pub(crate) fn of_mut(&mut self, cat: FileCategory) -> &mut Vec<Req> {
        match cat {
            FileCategory::EtabEducNat => &mut self.etab,
            FileCategory::Eleve => &mut self.eleves,
            FileCategory::PersRelEleve => &mut self.parents,
            _ => &mut self.staff,
        }
    }
}

/// The ids of the pupils attached to one of `sids`.
pub(super) fn attached_to(eleves: &[Req], sids: &HashSet<String>) -> HashSet<String> {
    eleves
        .iter()
        .filter(|r| {
            get(r, "ENTPersonStructRattach")
                .iter()
                .any(|s| sids.contains(s))
        })
        .map(|r| id_of(r).to_string())
        .collect()
}

/// Where each record of `reqs` is, by id.
pub(super) fn index_by_id(reqs: &[Req]) -> HashMap<String, usize> {
    reqs.iter()
        .enumerate()
        .map(|(i, r)| (id_of(r).to_string(), i))
        .collect()
}
