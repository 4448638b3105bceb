//! Perimeter (spec §6): the ENT only receives data of its own schools.
//!
//! Defense in depth if the académie sends too much: a structure whose UAI is
//! not configured is refused, and so is a person attached only to refused
//! structures. A parent is kept only while one of their pupils is kept (the
//! mapper applies that rule once pupils are known).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The configured perimeter and the structures of the extraction found in it.
#[derive(Debug, Default)]
pub struct Perimeter {
    all: bool,
    uai: BTreeSet<String>,
    /// Structure ids here are matching forms ([`sid_key`]).
    kept_sids: HashSet<String>,
    /// Every structure id the extraction described, kept or not.
    seen_sids: HashSet<String>,
    seen_uai: BTreeSet<String>,
    /// UAI of each structure the extraction described outside the
    /// perimeter, by structure id.
    outside_sids: HashMap<String, String>,
    /// Structure ids the extraction described more than once: in or out of
    /// the perimeter, which record tells? Neither kept nor out.
    ambiguous: HashSet<String>,
    /// People records attached to each UAI outside the perimeter.
    outside: BTreeMap<String, u64>,
}

/// A UAI as every comparison of UAIs takes it: the directory matches
/// `ENTStructureUAI` ignoring case and blanks (`caseIgnoreMatch`), so a
/// school whose UAI another tool wrote ` 0920102L` is school `0920102L`
/// (compared as spelt, it was not: the guard for a school missing from a
/// Complet let its people be deleted).
pub fn uai_key(uai: &str) -> String {
    crate::model::value_key(uai).to_uppercase()
}

/// A structure id as the perimeter compares it: as the directory matches
/// ids, ignoring case ([`crate::model::value_key`]): a person whose
/// record names school `abc` is attached to the structure `ABC`.
fn sid_key(sid: &str) -> std::borrow::Cow<'_, str> {
    crate::model::value_key(sid)
}

impl Perimeter {
    pub fn new(uai: &[String], all: bool) -> Self {
        Perimeter {
            all,
            uai: uai.iter().map(|u| uai_key(u)).collect(),
            ..Default::default()
        }
    }

    /// Decides on a structure record; remembers its id when kept.
    pub fn admit_structure(&mut self, sid: &str, uai: Option<&str>) -> bool {
        let uai = uai.map(uai_key);
        let sid = sid_key(sid);
        self.seen_sids.insert(sid.to_string());
        if let Some(u) = &uai {
            self.seen_uai.insert(u.clone());
        }
        let ok = self.all || uai.as_ref().is_some_and(|u| self.uai.contains(u));
        if ok {
            self.kept_sids.insert(sid.to_string());
        } else if let Some(u) = uai {
            self.outside.entry(u.clone()).or_insert(0);
            self.outside_sids.insert(sid.to_string(), u);
        }
        ok
    }

    /// Keeps a structure whose record was rejected as it was: the people
    /// attached to it are not read as leaving the perimeter (whether its
    /// entry exists is settled against the directory afterwards).
    pub fn protect(&mut self, sid: &str) {
        let sid = sid_key(sid);
        if !self.ambiguous.contains(sid.as_ref()) {
            self.kept_sids.insert(sid.to_string());
        }
        self.seen_sids.insert(sid.to_string());
    }

    /// Marks `sid` as described again by another record: no longer kept
    /// (see [`Perimeter::is_ambiguous`]).
    pub fn describe_again(&mut self, sid: &str) {
        let sid = sid_key(sid);
        self.kept_sids.remove(sid.as_ref());
        self.ambiguous.insert(sid.into_owned());
    }

    /// True when two records of the extraction describe `sid` (two
    /// spellings of one id are one structure, as the directory sees it):
    /// its people are rejected, so they stay as the directory holds them.
    pub fn is_ambiguous(&self, sid: &str) -> bool {
        !self.ambiguous.is_empty() && self.ambiguous.contains(sid_key(sid).as_ref())
    }

    /// True when the extraction described the structure `sid` (kept, out
    /// of the perimeter, or rejected as it was).
    pub fn knows(&self, sid: &str) -> bool {
        self.seen_sids.contains(sid_key(sid).as_ref())
    }

    /// True when every structure is in the perimeter (`all = true`).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// True when a UAI is in the configured perimeter.
    pub fn uai_configured(&self, uai: &str) -> bool {
        self.all || self.uai.contains(&uai_key(uai))
    }

    /// True when the structure id belongs to a kept structure.
    pub fn has(&self, sid: &str) -> bool {
        self.kept_sids.contains(sid_key(sid).as_ref())
    }

    /// Configured UAIs that no structure record of the extraction carried.
    pub fn missing_uai(&self) -> Vec<String> {
        self.uai.difference(&self.seen_uai).cloned().collect()
    }

    /// Counts a person left out of the perimeter under the UAI of the first
    /// of their structure ids the extraction described outside it.
    pub fn count_outside<'s>(&mut self, sids: impl IntoIterator<Item = &'s str>) {
        let uai = sids
            .into_iter()
            .find_map(|s| self.outside_sids.get(sid_key(s).as_ref()));
        if let Some(n) = uai.and_then(|u| self.outside.get_mut(u)) {
            *n += 1;
        }
    }

    /// The UAIs the extraction holds outside the perimeter, each with the
    /// number of pupil and staff records attached to it (UAIs are public school
    /// codes, not personal data: they tell the operator what to configure).
    pub fn outside_uai(&self) -> BTreeMap<String, u64> {
        self.outside.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_configured_schools() {
        let mut p = Perimeter::new(&["0920484B".into(), "0921262X".into()], false);
        assert!(p.admit_structure("1", Some("0920484b")));
        assert!(!p.admit_structure("2", Some("0750001A")));
        assert!(!p.admit_structure("3", None));
        assert!(p.has("1") && !p.has("2") && !p.has("3"));
        assert!(p.knows("2") && !p.knows("4"));
        assert_eq!(p.missing_uai(), vec!["0921262X".to_string()]);
        p.count_outside(["9", "2"]);
        p.count_outside(["1"]);
        assert_eq!(
            p.outside_uai(),
            BTreeMap::from([("0750001A".to_string(), 1)])
        );
        let mut all = Perimeter::new(&[], true);
        assert!(all.admit_structure("9", None));
    }

    #[test]
    fn structure_ids_match_in_any_case() {
        let mut p = Perimeter::new(&["0920484B".into()], false);
        assert!(p.admit_structure("Ab-1", Some("0920484B")));
        assert!(!p.admit_structure("Zz-2", Some("0750001A")));
        p.protect("Éc-3");
        assert!(p.has("ab-1") && p.has("AB-1") && p.has("éC-3"));
        assert!(p.knows("ZZ-2") && !p.has("zz-2"));
        p.count_outside(["ZZ-2"]);
        assert_eq!(
            p.outside_uai(),
            BTreeMap::from([("0750001A".to_string(), 1)])
        );
    }

    #[test]
    fn a_structure_described_twice_is_neither_kept_nor_out() {
        let mut p = Perimeter::new(&["0920484B".into()], false);
        assert!(p.admit_structure("ABC", Some("0920484B")));
        p.describe_again("abc");
        p.protect("abc");
        assert!(p.is_ambiguous("Abc") && !p.has("ABC") && p.knows("abc"));
        assert!(!p.is_ambiguous("other"));
    }
}
