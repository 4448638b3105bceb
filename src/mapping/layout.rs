//! Where entries live in the tree (spec §5): the branch OUs and the DN of each
//! structure, person, class and group.
//!
//! DNs are derived from AAF identifiers only (never from names), so they never
//! change when a name does, and a reference (pupil → parent, class → member)
//! can be written without looking anything up. The source name is part of
//! every RDN so that several académies can share one tree.
//!
//! Entries adopted from an existing tree keep DNs of their own, which may
//! be built from names (`uid=zoe.coeur`): [`Layout::loggable`] (module
//! [`loggable`]) is how every DN is written where it outlives the run or
//! leaves the process, with such a value replaced by a stable pseudonym.

use crate::model::{dn_key, escape_rdn_value, split_first_rdn, Dn, Entry};

pub mod loggable;
pub use loggable::{log_dn, log_scrub, serialize_dn, use_for_logs, PSEUDONYM_MARK};

/// Description of the branch OUs the sync created.
pub const BRANCH_MARK: &str = "created by aaf-sync";

/// The RDN value of a new person or structure, from a template around
/// `{id}` (`{source}` is replaced once): `{source}-{id}` by default, so
/// that several sources share one tree; configurable to match an existing
/// tree's convention (`[layout]`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    prefix: String,
    suffix: String,
}

/// An RDN template refused (`[layout]`); the message quotes the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0:?}: the template must hold {{id}}")]
    NoId(String),
    #[error("{0:?}: only {{source}} and {{id}} (once) may be used, and no , + =")]
    Forbidden(String),
}

impl Template {
    fn new(template: &str, source: &str) -> Result<Template, TemplateError> {
        let t = template.replace("{source}", source);
        let (prefix, suffix) = t
            .split_once("{id}")
            .ok_or_else(|| TemplateError::NoId(template.to_string()))?;
        if prefix.contains(['{', '}', ',', '+', '=']) || suffix.contains(['{', '}', ',', '+', '='])
        {
            return Err(TemplateError::Forbidden(template.to_string()));
        }
        Ok(Template {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }
    fn value(&self, id: &str) -> String {
        format!("{}{id}{}", self.prefix, self.suffix)
    }
    fn id<'v>(&self, value: &'v str) -> Option<&'v str> {
        value
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)
            .filter(|id| !id.is_empty())
    }
}

/// The managed branches under the configured base DN.
#[derive(Debug, Clone)]
pub struct Layout {
    pub base: Dn,
    pub source: String,
    person_rdn: Template,
    structure_rdn: Template,
    pub people: Dn,
    pub structures: Dn,
    pub groups: Dn,
    /// Where disabled people wait for their deadline, out of the people
    /// branch the ENT's login lookups search.
    pub departed: Dn,
}

use crate::schema::{rdn_of, DEPARTED_OU};
/// True when `dn` is an entry of a departed branch (`…,ou=departed,<base>`).
pub fn in_departed_branch(dn: &Dn) -> bool {
    crate::schema::in_departed_branch(&dn.key())
}

impl Layout {
    pub fn new(base_dn: &str, source: &str) -> Self {
        let default = Template {
            prefix: format!("{source}-"),
            suffix: String::new(),
        };
        let base = Dn::new(base_dn.trim());
        Layout {
            person_rdn: default.clone(),
            structure_rdn: default,
            people: Dn::new(format!("ou=people,{base}")),
            structures: Dn::new(format!("ou=structures,{base}")),
            groups: Dn::new(format!("ou=groups,{base}")),
            departed: Dn::new(format!("ou={DEPARTED_OU},{base}")),
            base,
            source: source.to_string(),
        }
    }

    /// This layout with the RDN values of new people (`uid`) and
    /// structures (`ou`) from templates around `{id}` and `{source}`.
    pub fn with_rdns(mut self, person: &str, structure: &str) -> Result<Layout, TemplateError> {
        self.person_rdn = Template::new(person, &self.source)?;
        self.structure_rdn = Template::new(structure, &self.source)?;
        Ok(self)
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

    /// Where a person's entry goes while they are departed: its RDN under
    /// the departed branch. The RDNs the sync builds hold the id, so they
    /// are unique there; an adopted entry's RDN (`uid=100`, unique only in
    /// its own branch of the old tree) gets the jointure beside it
    /// (`uid=100+ENTPersonJointure=<source>$<id>`), which the entry holds
    /// already: two people never meet at one departed DN.
    pub fn departed_dn(&self, dn: &Dn, id: &str) -> Dn {
        let rdn = rdn_of(dn.as_str());
        if dn.key() == self.person_dn(id).key() {
            Dn::new(format!("{rdn},{}", self.departed))
        } else {
            Dn::new(format!(
                "{rdn}+ENTPersonJointure={},{}",
                escape_rdn_value(&self.jointure(id)),
                self.departed
            ))
        }
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
        self.person_rdn.value(id)
    }
    pub fn person_dn(&self, id: &str) -> Dn {
        Dn::child(&self.people, "uid", &self.person_uid(id))
    }
    pub fn structure_ou(&self, sid: &str) -> String {
        self.structure_rdn.value(sid)
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
        self.id_under(dn, "uid", &self.people, &self.person_rdn)
    }
    /// The AAF id of a structure DN of this layout.
    pub fn sid_of_structure_dn(&self, dn: &str) -> Option<String> {
        self.id_under(dn, "ou", &self.structures, &self.structure_rdn)
    }
    fn id_under(&self, dn: &str, attr: &str, branch: &Dn, t: &Template) -> Option<String> {
        let (a, v, parent) = split_first_rdn(dn)?;
        // the parent as this layout writes it, most often: no keys made
        let same = |p: &str| p.eq_ignore_ascii_case(branch.as_str()) || dn_key(p) == branch.key();
        if !a.eq_ignore_ascii_case(attr) || !same(parent) {
            return None;
        }
        // RDN values compare case-insensitively
        let lower = |s: &str| s.to_lowercase();
        let t = Template {
            prefix: lower(&t.prefix),
            suffix: lower(&t.suffix),
        };
        let lv = lower(&v);
        let id = t.id(&lv)?;
        // the id as written (its length in the lower-cased value may
        // differ only for exotic characters: fall back to the lower case)
        let start = v.len().checked_sub(lv.len() - t.prefix.len())?;
        Some(
            v.get(start..start + id.len())
                .filter(|s| lower(s) == id)
                .unwrap_or(id)
                .to_string(),
        )
    }
    pub fn class_cn(&self, kind: GroupKind, sid: &str, code: &str) -> String {
        format!("{}-{}-{}-{}", self.source, sid, kind.rdn_word(), code)
    }
    pub fn class_dn(&self, kind: GroupKind, sid: &str, code: &str) -> Dn {
        Dn::child(&self.groups, "cn", &self.class_cn(kind, sid, code))
    }
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
    fn rdn_templates_match_an_existing_tree_and_parse_back() {
        let l = Layout::new("dc=x", "AC-RENNES")
            .with_rdns("{id}", "ent-{source}-{id}")
            .unwrap();
        assert_eq!(l.person_dn("128407").as_str(), "uid=128407,ou=people,dc=x");
        assert_eq!(
            l.id_of_person_dn("UID=128407,ou=People,dc=x").as_deref(),
            Some("128407")
        );
        assert_eq!(
            l.structure_dn("2828").as_str(),
            "ou=ent-AC-RENNES-2828,ou=structures,dc=x"
        );
        assert_eq!(
            l.sid_of_structure_dn("ou=ENT-ac-rennes-2828,ou=structures,dc=x")
                .as_deref(),
            Some("2828")
        );
        for bad in ["{source}", "{id}{id}", "{ident}-{id}"] {
            assert!(
                Layout::new("dc=x", "S").with_rdns(bad, "{id}").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn departed_people_keep_their_rdn_in_the_departed_branch() {
        let l = Layout::new("dc=example,dc=org", "AC-CRETEIL");
        let dn = l.person_dn("9,ou=x");
        let gone = l.departed_dn(&dn, "9,ou=x");
        assert_eq!(
            gone.as_str(),
            "uid=AC-CRETEIL-9\\,ou\\=x,ou=departed,dc=example,dc=org"
        );
        assert!(l.is_departed(&gone) && in_departed_branch(&gone));
        assert!(!l.is_departed(&dn) && !in_departed_branch(&dn));
        assert!(!l.is_departed(&l.departed));
        // adopted entries of one old branch each, same RDN: two DNs
        let pupil = Dn::new("uid=100,ou=eleves,ou=people,dc=example,dc=org");
        let parent = Dn::new("uid=100,ou=parents,ou=people,dc=example,dc=org");
        let (a, b) = (
            l.departed_dn(&pupil, "2001"),
            l.departed_dn(&parent, "3001"),
        );
        assert_eq!(
            a.as_str(),
            "uid=100+ENTPersonJointure=AC-CRETEIL$2001,ou=departed,dc=example,dc=org"
        );
        assert_ne!(a.key(), b.key());
        assert!(l.is_departed(&a) && l.is_departed(&b));
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
