//! One record of each category to its desired entry: structures, pupils,
//! parents, staff (object classes, profiles, the fields of the category's
//! table). `None` when the record is outside the perimeter.

use super::fields::{self, Field};
use super::{Desired, Mapper};
use crate::aaf::degree::Degree;
use crate::aaf::FileCategory;
use crate::aaf::Record;
use crate::model::Entry;
use crate::schema::{
    EntryKind, ATTR_FIRST_SEEN, ATTR_SOURCE, PROFILE_DIRECTOR, PROFILE_LIBRARIAN, PROFILE_PARENT,
    PROFILE_PUPIL, PROFILE_STAFF, PROFILE_TEACHER, STATE_CLASS,
};
use std::collections::BTreeSet;

/// Bytes of attributes a person's entry is built in: about 600 on average
/// (the entry store's 1.2 KB per directory entry holds two trees).
const PERSON_ROOM: usize = 1024;

const PERSON_CLASSES: [&str; 5] = [
    "top",
    "person",
    "organizationalPerson",
    "inetOrgPerson",
    "ENTPerson",
];
impl Mapper<'_> {
    pub(super) fn person_entry(&mut self, rec: &Record, kind: EntryKind, table: &[Field]) -> Entry {
        let l = self.layout;
        let dn = l.person_dn(&rec.id);
        if !self.wanted(kind, &rec.id) {
            // mapped for the classes and ties its record makes (a member of
            // a class a targeted Delta rebuilds), its entry left as the
            // directory has it: not built (its values' counts are those of
            // the entries computed again)
            return Entry::new(dn);
        }
        // built attribute by attribute, then frozen or shrunk once whole
        // ([`Mapper::freeze`]): room for a person's usual attributes
        let mut e = Entry::with_room(dn, PERSON_ROOM);
        let mut classes: Vec<&str> = PERSON_CLASSES.to_vec();
        classes.push(match kind {
            EntryKind::Pupil => "ENTEleve",
            EntryKind::Parent => "ENTAuxPersRelEleve",
            _ => "ENTPerson",
        });
        classes.push(STATE_CLASS);
        e.add("objectClass", classes);
        e.set("uid", l.person_uid(&rec.id));
        e.set("ENTPersonJointure", l.jointure(&rec.id));
        e.set(ATTR_SOURCE, l.source.clone());
        e.set(ATTR_FIRST_SEEN, self.first_seen.clone());
        self.apply(kind, rec, table, &mut e);
        // sn and cn are mandatory (person): fall back on the birth name, then
        // on the opaque uid, so that no real record is refused by slapd.
        if e.get("sn").is_none() {
            let fallback = e
                .first("ENTPersonNomPatro")
                .map(str::to_string)
                .unwrap_or_else(|| l.person_uid(&rec.id));
            e.set("sn", fallback);
        }
        let sn = e.first("sn").unwrap_or_default().to_string();
        let cn = match e.first("givenName") {
            Some(g) => format!("{g} {sn}"),
            None => sn,
        };
        // what an ENT shows (CAS's OIDC `name` claim)
        e.set("displayName", cn.clone());
        e.set("cn", cn);
        e
    }

    pub(super) fn map_structure(&mut self, rec: &Record) -> Option<Desired> {
        if !self
            .perimeter
            .admit_structure(&rec.id, rec.first("ENTStructureUAI"))
        {
            return None;
        }
        let l = self.layout;
        let mut e = Entry::new(l.structure_dn(&rec.id));
        e.add(
            "objectClass",
            [
                "top",
                "organizationalUnit",
                "ENTStructure",
                "ENTEtablissement",
                STATE_CLASS,
            ],
        );
        e.set("ou", l.structure_ou(&rec.id));
        e.set("ENTStructureJointure", l.jointure(&rec.id));
        e.set(ATTR_SOURCE, l.source.clone());
        let table = fields::fields_of(self.degree, FileCategory::EtabEducNat);
        self.apply(EntryKind::Structure, rec, table, &mut e);
        if self.degree == Degree::TwoD {
            self.two_d.school(&rec.id, rec);
        }
        Some(Desired {
            kind: EntryKind::Structure,
            id: rec.id.clone(),
            entry: e,
        })
    }

    /// Structure ids of composite values (`sid$…`) that are in the perimeter.
    fn kept_sids<'r>(&self, rec: &'r Record, attr: &str) -> Vec<&'r str> {
        rec.values(attr)
            .into_iter()
            .map(|v| v.split('$').next().unwrap_or(v).trim())
            .filter(|s| self.perimeter.has(s))
            .collect()
    }

    /// True when one of the fields that admit a person of `rec`'s
    /// category (see [`super::school_fields`]) names a kept school.
    fn admitted(&self, rec: &Record) -> bool {
        let admit = super::school_fields(self.degree, rec.category);
        admit
            .iter()
            .take(2)
            .any(|a| !self.kept_sids(rec, a).is_empty())
    }

    pub(super) fn map_pupil(&mut self, rec: &Record) -> Option<Desired> {
        if !self.admitted(rec) {
            return None;
        }
        let table = fields::fields_of(self.degree, FileCategory::Eleve);
        let mut e = self.person_entry(rec, EntryKind::Pupil, table);
        e.set("ENTPersonProfils", PROFILE_PUPIL);
        if self.degree == Degree::TwoD {
            self.two_d.check_formation(&e, &mut self.stats);
        }
        Some(Desired {
            kind: EntryKind::Pupil,
            id: rec.id.clone(),
            entry: e,
        })
    }

    pub(super) fn map_parent(&mut self, rec: &Record) -> Option<Desired> {
        // taken: each parent is mapped once (a second record with the same
        // id is refused as a duplicate)
        let mut pupils: Vec<u32> = self
            .names
            .find(&rec.id)
            .and_then(|me| self.pupils_of_parent.remove(&me))
            .unwrap_or_default();
        // 2D: the pupils' records decide (legal guardians only; the
        // parent's own list also names the pupils they are a contact for),
        // but for a pupil whose record was rejected: kept as the directory
        // holds them, their guardians are too
        let own: Vec<&str> = match self.degree {
            Degree::OneD => rec.values("ENTPersRelEleveEleve"),
            Degree::TwoD => {
                let mut rejected = rec.values("ENTAuxPersRelEleveEleve");
                rejected.retain(|p| self.protected.holds_person(p));
                if pupils.is_empty() && !rejected.is_empty() {
                    // only pupils whose records are unknown name them:
                    // as the directory holds them, never created anew
                    self.protect(FileCategory::PersRelEleve, &rec.id);
                    return None;
                }
                rejected
            }
        };
        use super::links::Mark;
        let mut any_kept = pupils.iter().any(|&n| self.names.is(n, Mark::KeptPupil));
        let mut named_twice = pupils.iter().any(|&n| self.names.is(n, Mark::Twice));
        for p in own {
            // a pupil whose record was rejected is still there
            let found = self.names.find(p);
            let kept = found.is_some_and(|n| self.names.is(n, Mark::KeptPupil));
            named_twice |= found.is_some_and(|n| self.names.is(n, Mark::Twice));
            if kept || self.protected.holds_person(p) {
                any_kept |= kept;
                let n = self.names.number(p);
                if !pupils.contains(&n) {
                    pupils.push(n);
                }
            } else {
                self.stats.dangling_links += 1;
            }
        }
        if pupils.is_empty() {
            return None;
        }
        if !any_kept && named_twice {
            // a parent of no kept pupil, named by or naming an id two
            // records gave (which pupil is theirs?), is kept as the
            // directory holds them, never created anew
            self.protect(FileCategory::PersRelEleve, &rec.id);
            return None;
        }
        let table = fields::fields_of(self.degree, FileCategory::PersRelEleve);
        let mut e = self.person_entry(rec, EntryKind::Parent, table);
        e.set("ENTPersonProfils", PROFILE_PARENT);
        e.add(
            "ENTAuxPersRelEleveEleve",
            pupils
                .iter()
                .map(|&p| self.layout.person_dn(self.names.get(p)).to_string()),
        );
        Some(Desired {
            kind: EntryKind::Parent,
            id: rec.id.clone(),
            entry: e,
        })
    }

    pub(super) fn map_staff(&mut self, rec: &Record) -> Option<Desired> {
        if !self.admitted(rec) {
            return None;
        }
        let table = fields::fields_of(self.degree, FileCategory::PersEducNat);
        let mut e = self.person_entry(rec, EntryKind::Staff, table);
        if self.degree == Degree::TwoD {
            self.two_d.check_subjects(rec, &mut self.stats);
        }
        let has_address = fields::STAFF_CONSENTED
            .iter()
            .any(|f| rec.first(f.aaf).is_some());
        if self.consent.contains(&rec.id) {
            self.apply(EntryKind::Staff, rec, fields::STAFF_CONSENTED, &mut e);
        } else if has_address {
            self.stats.staff_address_withheld += 1;
        }
        let mut profiles = BTreeSet::new();
        for v in rec.values("ENTPersonFonctions") {
            let mut parts = v.split('$');
            let sid = parts.next().unwrap_or("");
            if !self.perimeter.has(sid) {
                continue;
            }
            match parts.next().unwrap_or("").trim() {
                "ENS" => profiles.insert(PROFILE_TEACHER),
                "DOC" => profiles.insert(PROFILE_LIBRARIAN),
                "DIR" => profiles.insert(PROFILE_DIRECTOR),
                _ => false,
            };
        }
        if rec.first("ENTPersonCategorieEnseignant") == Some("O") {
            profiles.insert(PROFILE_TEACHER);
        }
        if rec
            .first("ENTEnsFonctionDir")
            .is_some_and(|v| !v.eq_ignore_ascii_case("N"))
        {
            profiles.insert(PROFILE_DIRECTOR);
        }
        if profiles.is_empty() {
            profiles.insert(PROFILE_STAFF);
        }
        // 2D lists of what one teaches need the class too
        let teaching = self.degree == Degree::TwoD
            && super::fields_2d::TEACHING
                .iter()
                .any(|a| e.get(a).is_some());
        if teaching || profiles.contains(PROFILE_TEACHER) || profiles.contains(PROFILE_LIBRARIAN) {
            e.add("objectClass", ["ENTAuxEnseignant"]);
        }
        e.add("ENTPersonProfils", profiles);
        Some(Desired {
            kind: EntryKind::Staff,
            id: rec.id.clone(),
            entry: e,
        })
    }
}
