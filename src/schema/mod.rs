//! The directory vocabulary every stage shares: the kinds of managed
//! entries, the object classes and attributes of the sync's own schema
//! (`schema/20-aaf-sync.schema`), the lifecycle an entry carries, the
//! departed branch's RDN, and the date formats ([`date`]).
//!
//! It is the bottom of the folder order (ARCHITECTURE.md): `mapping`,
//! `retention`, `run::control` and `ldap` all name these attributes, and
//! they name them here rather than in each other, which is how the circle
//! `mapping` → `retention` → `mapping` started. Names and pure functions of
//! strings and dates only: an entry is seen through [`Attributes`], which
//! `model::Entry` implements, since `model` comes after this module.

pub mod date;

use serde::Serialize;
use time::Date;

/// What this vocabulary needs to read from an entry: its first value of an
/// attribute, and whether it holds a value (attribute names and values
/// compared case-insensitively, as `model::Entry` does).
pub trait Attributes {
    fn first(&self, attr: &str) -> Option<&str>;
    fn has_value(&self, attr: &str, value: &str) -> bool;
    /// Which of `values` (at most 32) `attr` holds, ASCII case aside: bit
    /// `i` for `values[i]`. One look at the attribute where the entry can
    /// (`EntryKind::of` asks for ten classes, on every entry, many times).
    fn has_values(&self, attr: &str, values: &[&str]) -> u32 {
        values
            .iter()
            .take(32)
            .enumerate()
            .filter(|(_, v)| self.has_value(attr, v))
            .fold(0, |m, (i, _)| m | 1 << i)
    }
}

/// Callers hold `&Entry` in iterators and closures (`EntryKind::of(e)` on
/// a `&&Entry`), as they did when these took `&Entry`.
impl<T: Attributes + ?Sized> Attributes for &T {
    fn first(&self, attr: &str) -> Option<&str> {
        T::first(self, attr)
    }
    fn has_value(&self, attr: &str, value: &str) -> bool {
        T::has_value(self, attr, value)
    }
    fn has_values(&self, attr: &str, values: &[&str]) -> u32 {
        T::has_values(self, attr, values)
    }
}

/// What kind of managed entry this is; decides which attributes it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum EntryKind {
    Structure,
    Pupil,
    Parent,
    Staff,
    Classe,
    Groupe,
    /// The entry holding the state of the source's runs.
    Control,
}

impl EntryKind {
    pub const ALL: [EntryKind; 7] = [
        EntryKind::Structure,
        EntryKind::Pupil,
        EntryKind::Parent,
        EntryKind::Staff,
        EntryKind::Classe,
        EntryKind::Groupe,
        EntryKind::Control,
    ];

    pub fn is_person(self) -> bool {
        matches!(
            self,
            EntryKind::Pupil | EntryKind::Parent | EntryKind::Staff
        )
    }
    pub fn is_group(self) -> bool {
        matches!(self, EntryKind::Classe | EntryKind::Groupe)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Structure => "EtabEducNat",
            EntryKind::Pupil => "Eleve",
            EntryKind::Parent => "PersRelEleve",
            EntryKind::Staff => "PersEducNat",
            EntryKind::Classe => "ENTClasse",
            EntryKind::Groupe => "ENTGroupe",
            EntryKind::Control => "control",
        }
    }

    /// Classifies an entry read from the directory by its object classes.
    pub fn of(entry: &(impl Attributes + ?Sized)) -> Option<EntryKind> {
        // one look at objectClass, one bit per class, in this order
        const CLASSES: [&str; 10] = [
            CONTROL_CLASS,
            "ENTEleve",
            "ENTClasse",
            "ENTGroupe",
            "ENTStructure",
            "ENTEtablissement",
            "ENTServAc",
            "ENTCollLoc",
            "ENTAuxPersRelEleve",
            "ENTPerson",
        ];
        let found = entry.has_values("objectClass", &CLASSES);
        let has = |c: &str| {
            CLASSES
                .iter()
                .position(|k| *k == c)
                .is_some_and(|i| found & 1 << i != 0)
        };
        Some(if has(CONTROL_CLASS) {
            EntryKind::Control
        } else if has("ENTEleve") {
            EntryKind::Pupil
        } else if has("ENTClasse") {
            EntryKind::Classe
        } else if has("ENTGroupe") {
            EntryKind::Groupe
        } else if has("ENTStructure")
            // an entry may list only its most specific class: slapd knows
            // the rest from the schema
            || has("ENTEtablissement")
            || has("ENTServAc")
            || has("ENTCollLoc")
        {
            EntryKind::Structure
        } else if has("ENTAuxPersRelEleve") || entry.has_value("ENTPersonProfils", PROFILE_PARENT) {
            EntryKind::Parent
        } else if has("ENTPerson") {
            EntryKind::Staff
        } else {
            return None;
        })
    }
}

/// SDET profile names written in `ENTPersonProfils`.
pub const PROFILE_PUPIL: &str = "National_ELV";
pub const PROFILE_PARENT: &str = "National_TUT";
pub const PROFILE_TEACHER: &str = "National_ENS";
pub const PROFILE_LIBRARIAN: &str = "National_DOC";
pub const PROFILE_DIRECTOR: &str = "National_DIR";
pub const PROFILE_STAFF: &str = "National_ETA";

/// The sync-state auxiliary class and its attributes (schema/20-aaf-sync.schema).
pub const STATE_CLASS: &str = "aafSyncState";
pub const ATTR_SOURCE: &str = "aafSyncSource";
pub const ATTR_FIRST_SEEN: &str = "aafSyncFirstSeen";
/// The structural class of the control entry (`run::control`).
pub const CONTROL_CLASS: &str = "aafSyncControl";
/// On the control entry: the cookie of the last read of the managed tree
/// and the digest of the local copy it left (`ldap::incremental`). Not
/// one of the control entry's owned attributes: the run's control
/// changes leave it alone.
pub const ATTR_READ_MARK: &str = "aafSyncReadMark";

// The lifecycle of a person or structure (`retention`).
pub const ATTR_LAST_SEEN: &str = "aafSyncLastSeen";
pub const ATTR_DEPARTURE: &str = "aafSyncDepartureDate";
pub const ATTR_DEADLINE: &str = "aafSyncDeadline";
pub const ATTR_DISABLED: &str = "aafSyncDisabled";
pub const ATTR_SAVED_PASSWORD: &str = "aafSyncSavedPassword";
/// Where a departed adopted person goes back to (`Layout::departed_dn`).
pub const ATTR_HOME: &str = "aafSyncHome";

/// The lifecycle attributes the sync owns on people and structures: absent
/// from every desired entry, so the diff removes them when someone returns.
pub const LIFECYCLE_ATTRS: [&str; 5] = [
    ATTR_LAST_SEEN,
    ATTR_DEPARTURE,
    ATTR_DEADLINE,
    ATTR_DISABLED,
    ATTR_HOME,
];

/// The lifecycle state stored on an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub departure: Option<Date>,
    pub deadline: Option<Date>,
    pub disabled: bool,
}

impl State {
    pub fn of(e: &(impl Attributes + ?Sized)) -> State {
        let date = |a| e.first(a).and_then(date::parse_generalized_date);
        State {
            departure: date(ATTR_DEPARTURE),
            deadline: date(ATTR_DEADLINE),
            disabled: e.has_value(ATTR_DISABLED, "TRUE"),
        }
    }
    pub fn departed(&self) -> bool {
        self.departure.is_some()
    }
}

// The control entry (`run::control`): what a source's runs have applied.
pub const ATTR_APPLIED_LABEL: &str = "aafSyncAppliedExtraction";
pub const ATTR_APPLIED_DATE: &str = "aafSyncAppliedDate";
pub const ATTR_APPLIED_KIND: &str = "aafSyncAppliedKind";
pub const ATTR_COMPLET_DATE: &str = "aafSyncCompletDate";
pub const ATTR_SCHOOL_YEAR: &str = "aafSyncSchoolYear";
/// The extraction applied with failures since the last complete one:
/// the directory is not in step (absent when it is).
pub const ATTR_NOT_IN_STEP: &str = "aafSyncNotInStep";

/// The attributes the sync owns on the control entry.
pub const CONTROL_OWNED: [&str; 7] = [
    ATTR_SOURCE,
    ATTR_APPLIED_LABEL,
    ATTR_APPLIED_DATE,
    ATTR_APPLIED_KIND,
    ATTR_COMPLET_DATE,
    ATTR_SCHOOL_YEAR,
    ATTR_NOT_IN_STEP,
];

/// The RDN value of the departed branch (`ou=departed,<base>`).
pub const DEPARTED_OU: &str = "departed";

/// The first RDN of a DN string (up to its first unescaped comma).
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

/// True when the DN whose key (`model::Dn::key`) is `key` is an entry of a
/// departed branch (`…,ou=departed,<base>`).
pub fn in_departed_branch(key: &str) -> bool {
    let rdn = rdn_of(key);
    key[rdn.len()..].starts_with(&format!(",ou={DEPARTED_OU},"))
}
