//! Where entries live in the tree (spec §5): the branch OUs and the DN of each
//! structure, person, class and group.
//!
//! DNs are derived from AAF identifiers only (never from names), so they never
//! change when a name does, and a reference (pupil → parent, class → member)
//! can be written without looking anything up. The source name is part of
//! every RDN so that several académies can share one tree.

use crate::model::{dn_key, split_first_rdn, Dn, Entry};

/// Description of the branch OUs the sync created.
pub const BRANCH_MARK: &str = "created by aaf-sync";

/// The managed branches under the configured base DN.
#[derive(Debug, Clone)]
pub struct Layout {
    pub base: Dn,
    pub source: String,
    pub people: Dn,
    pub structures: Dn,
    pub groups: Dn,
    /// Where disabled people wait for their deadline, out of the people
    /// branch the ENT's login lookups search.
    pub departed: Dn,
}

/// The RDN of the departed branch.
pub const DEPARTED_OU: &str = "departed";

/// True when `dn` is an entry of a departed branch (`…,ou=departed,<base>`).
pub fn in_departed_branch(dn: &Dn) -> bool {
    let k = dn.key();
    let rdn = rdn_of(&k);
    k[rdn.len()..].starts_with(&format!(",ou={DEPARTED_OU},"))
}

impl Layout {
    pub fn new(base_dn: &str, source: &str) -> Self {
        let base = Dn::new(base_dn.trim());
        Layout {
            people: Dn::new(format!("ou=people,{base}")),
            structures: Dn::new(format!("ou=structures,{base}")),
            groups: Dn::new(format!("ou=groups,{base}")),
            departed: Dn::new(format!("ou={DEPARTED_OU},{base}")),
            base,
            source: source.to_string(),
        }
    }

    /// The branch OUs, parents first.
    pub fn branches(&self) -> [(&'static str, &Dn); 4] {
        [
            ("structures", &self.structures),
            ("people", &self.people),
            ("groups", &self.groups),
            (DEPARTED_OU, &self.departed),
        ]
    }

    /// Where an entry goes while its person is departed: its RDN under
    /// the departed branch.
    pub fn departed_dn(&self, dn: &Dn) -> Dn {
        let rdn = rdn_of(dn.as_str());
        Dn::new(format!("{rdn},{}", self.departed))
    }

    /// True when `dn` is in this layout's departed branch.
    pub fn is_departed(&self, dn: &Dn) -> bool {
        let k = dn.key();
        let d = self.departed.key();
        k.len() > d.len() + 1 && k.ends_with(&d) && k.as_bytes()[k.len() - d.len() - 1] == b','
    }

    /// The entry of a branch OU the sync creates. Its description marks it
    /// as the sync's, so that `purge` removes it once empty, and only then.
    pub fn branch_entry(ou: &str, dn: &Dn) -> Entry {
        let mut e = Entry::new(dn.clone());
        e.add("objectClass", ["top", "organizationalUnit"]);
        e.add("ou", [ou]);
        e.add("description", [BRANCH_MARK]);
        e
    }

    /// RDN value of a person: `<source>-<id>`.
    pub fn person_uid(&self, id: &str) -> String {
        format!("{}-{}", self.source, id)
    }
    pub fn person_dn(&self, id: &str) -> Dn {
        Dn::child(&self.people, "uid", &self.person_uid(id))
    }
    pub fn structure_ou(&self, sid: &str) -> String {
        format!("{}-{}", self.source, sid)
    }
    pub fn structure_dn(&self, sid: &str) -> Dn {
        Dn::child(&self.structures, "ou", &self.structure_ou(sid))
    }
    /// `<source>$<id>`, the value of ENTPersonJointure / ENTStructureJointure.
    pub fn jointure(&self, id: &str) -> String {
        format!("{}${}", self.source, id)
    }
    /// The entry holding the state of the source's runs (last extraction
    /// applied, school year): `cn=aaf-sync-<source>,<base>`.
    pub fn control_dn(&self) -> Dn {
        Dn::child(&self.base, "cn", &format!("aaf-sync-{}", self.source))
    }
    /// The entry of the run lock and of the last run's outcome:
    /// `cn=aaf-sync-lock-<source>,<base>`.
    pub fn lock_dn(&self) -> Dn {
        Dn::child(&self.base, "cn", &format!("aaf-sync-lock-{}", self.source))
    }
    /// The AAF id of a person DN of this layout (`uid=<source>-<id>,ou=people,…`).
    pub fn id_of_person_dn(&self, dn: &str) -> Option<String> {
        self.id_under(dn, "uid", &self.people)
    }
    /// The AAF id of a structure DN of this layout.
    pub fn sid_of_structure_dn(&self, dn: &str) -> Option<String> {
        self.id_under(dn, "ou", &self.structures)
    }
    fn id_under(&self, dn: &str, attr: &str, branch: &Dn) -> Option<String> {
        let (a, v, parent) = split_first_rdn(dn)?;
        if !a.eq_ignore_ascii_case(attr) || dn_key(parent) != branch.key() {
            return None;
        }
        v.strip_prefix(&format!("{}-", self.source))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }
    pub fn class_cn(&self, kind: GroupKind, sid: &str, code: &str) -> String {
        format!("{}-{}-{}-{}", self.source, sid, kind.rdn_word(), code)
    }
    pub fn class_dn(&self, kind: GroupKind, sid: &str, code: &str) -> Dn {
        Dn::child(&self.groups, "cn", &self.class_cn(kind, sid, code))
    }
}

/// The first RDN of a DN, as written (escapes kept).
pub fn rdn_of(dn: &str) -> &str {
    let b = dn.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b',' => return &dn[..i],
            _ => i += 1,
        }
    }
    dn
}

/// A class (ENTClasse) or a group (ENTGroupe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKind {
    Classe,
    Groupe,
}

impl GroupKind {
    fn rdn_word(self) -> &'static str {
        match self {
            GroupKind::Classe => "classe",
            GroupKind::Groupe => "groupe",
        }
    }
    pub fn object_class(self) -> &'static str {
        match self {
            GroupKind::Classe => "ENTClasse",
            GroupKind::Groupe => "ENTGroupe",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_are_derived_from_ids() {
        let l = Layout::new("dc=example,dc=org", "AC-CRETEIL");
        assert_eq!(
            l.person_dn("1001").as_str(),
            "uid=AC-CRETEIL-1001,ou=people,dc=example,dc=org"
        );
        assert_eq!(
            l.structure_dn("52006").as_str(),
            "ou=AC-CRETEIL-52006,ou=structures,dc=example,dc=org"
        );
        assert_eq!(
            l.class_dn(GroupKind::Classe, "52006", "CP A,1").as_str(),
            "cn=AC-CRETEIL-52006-classe-CP A\\,1,ou=groups,dc=example,dc=org"
        );
        assert_eq!(l.jointure("7"), "AC-CRETEIL$7");
        assert_eq!(
            l.control_dn().as_str(),
            "cn=aaf-sync-AC-CRETEIL,dc=example,dc=org"
        );
    }

    #[test]
    fn departed_people_keep_their_rdn_in_the_departed_branch() {
        let l = Layout::new("dc=example,dc=org", "AC-CRETEIL");
        let dn = l.person_dn("9,ou=x");
        let gone = l.departed_dn(&dn);
        assert_eq!(
            gone.as_str(),
            "uid=AC-CRETEIL-9\\,ou\\=x,ou=departed,dc=example,dc=org"
        );
        assert!(l.is_departed(&gone) && in_departed_branch(&gone));
        assert!(!l.is_departed(&dn) && !in_departed_branch(&dn));
        assert!(!l.is_departed(&l.departed));
    }

    #[test]
    fn ids_come_back_from_dns() {
        let l = Layout::new("dc=example,dc=org", "AC-CRETEIL");
        let dn = l.person_dn("10,01");
        assert_eq!(l.id_of_person_dn(dn.as_str()).as_deref(), Some("10,01"));
        assert_eq!(
            l.sid_of_structure_dn("OU=AC-CRETEIL-52006, ou=Structures,dc=example,dc=org")
                .as_deref(),
            Some("52006")
        );
        assert_eq!(l.id_of_person_dn(l.structure_dn("1").as_str()), None);
        assert_eq!(
            l.id_of_person_dn("uid=AC-LYON-1,ou=people,dc=example,dc=org"),
            None
        );
    }
}
