//! `subject export` (access and portability): the document that holds
//! everything the directory keeps about one person — the entry, its links,
//! the sync's state — built by a pure function from the entries read.

use super::find::gather;
use super::{connect_err, SubjectError, Who};
use crate::ldap::Directory;
use crate::mapping;
use crate::model::{dn_key, Entry};
use crate::schema::{
    date, EntryKind, State, ATTR_FIRST_SEEN, ATTR_LAST_SEEN, ATTR_SAVED_PASSWORD, ATTR_SOURCE,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Attributes whose values are never exported (secrets, not data about the
/// person): their names are listed instead.
pub const WITHHELD: [&str; 2] = ["userPassword", ATTR_SAVED_PASSWORD];

/// A reference to another entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ref {
    pub dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jointure: Option<String>,
}

/// A structure the person belongs to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct StructureRef {
    pub dn: String,
    pub uai: Option<String>,
    pub name: Option<String>,
    pub jointure: Option<String>,
}

/// A class or group the person is a member of.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupRef {
    pub dn: String,
    pub code: Option<String>,
    pub name: Option<String>,
    pub structure: Option<String>,
}

/// The sync's own state about the person.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    pub source: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub departure: Option<String>,
    pub deadline: Option<String>,
    pub disabled: bool,
}

/// Who the export is about.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub dn: String,
    /// `Eleve`, `PersRelEleve` or `PersEducNat`.
    pub category: String,
    pub jointure: Option<String>,
    pub login: Option<String>,
}

/// The export document (`schema/subject-export.schema.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub generated_at: String,
    pub software: String,
    pub source: String,
    pub person: Person,
    /// Every attribute of the entry with its values, those of [`WITHHELD`]
    /// excepted. Values that are not UTF-8 are given as `base64:<…>`.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Attributes present whose values are not exported (password hashes).
    pub withheld: Vec<String>,
    /// Names of the attributes the sync writes from the AAF extraction.
    pub attributes_from_aaf: Vec<String>,
    /// Names of the attributes written by others (the ENT, an operator).
    pub attributes_other: Vec<String>,
    pub sync_state: SyncState,
    pub structures: Vec<StructureRef>,
    pub classes: Vec<GroupRef>,
    pub groups: Vec<GroupRef>,
    pub linked_pupils: Vec<Ref>,
    pub linked_parents: Vec<Ref>,
}

pub const FORMAT: &str = "aaf-sync-subject-export/1";

fn date_of(e: &Entry, attr: &str) -> Option<String> {
    e.first(attr)
        .and_then(date::parse_generalized_date)
        .map(date::format_date)
}

/// Builds the export of `person` from the entries that refer to it or that
/// it refers to (`related`, any order).
pub fn export_document(
    person: &Entry,
    related: &[Entry],
    source: &str,
    generated_at: String,
) -> Export {
    let kind = EntryKind::of(person).unwrap_or(EntryKind::Staff);
    let owned = mapping::owned(kind);
    let by_key: BTreeMap<String, &Entry> = related.iter().map(|e| (e.dn.key(), e)).collect();
    let key = person.dn.key();
    let mut attributes = BTreeMap::new();
    let mut withheld = Vec::new();
    let (mut from_aaf, mut other) = (Vec::new(), Vec::new());
    for a in person.attrs.values() {
        if WITHHELD.iter().any(|w| w.eq_ignore_ascii_case(a.name)) {
            withheld.push(a.name.to_string());
        } else {
            attributes.insert(a.name.to_string(), a.values.to_vec());
        }
        let ours = a.name.eq_ignore_ascii_case("objectClass")
            || owned.iter().any(|o| o.eq_ignore_ascii_case(a.name));
        if ours {
            from_aaf.push(a.name.to_string());
        } else {
            other.push(a.name.to_string());
        }
    }
    let st = State::of(person);
    let sync_state = SyncState {
        source: person.first(ATTR_SOURCE).map(str::to_string),
        first_seen: date_of(person, ATTR_FIRST_SEEN),
        last_seen: date_of(person, ATTR_LAST_SEEN),
        departure: st.departure.map(date::format_date),
        deadline: st.deadline.map(date::format_date),
        disabled: st.disabled,
    };
    let mut structures = Vec::new();
    let mut classes = Vec::new();
    let mut groups = Vec::new();
    let mut pupils = Vec::new();
    let mut parents = Vec::new();
    let sref = |e: &Entry| StructureRef {
        dn: e.dn.to_string(),
        uai: e.first("ENTStructureUAI").map(str::to_string),
        name: e.first("ENTStructureNomCourant").map(str::to_string),
        jointure: e.first("ENTStructureJointure").map(str::to_string),
    };
    let pref = |e: &Entry| Ref {
        dn: e.dn.to_string(),
        jointure: e.first("ENTPersonJointure").map(str::to_string),
    };
    // what the person refers to
    for attr in mapping::DN_VALUED {
        for v in person.get(attr).unwrap_or_default() {
            let Some(e) = by_key.get(&dn_key(v)) else {
                continue;
            };
            match EntryKind::of(e) {
                Some(EntryKind::Structure) => structures.push(sref(e)),
                Some(EntryKind::Pupil) => pupils.push(pref(e)),
                Some(EntryKind::Parent) => parents.push(pref(e)),
                _ => {}
            }
        }
    }
    // what refers to the person
    for e in related {
        let refers = mapping::DN_VALUED.iter().any(|a| {
            e.get(a)
                .unwrap_or_default()
                .iter()
                .any(|v| dn_key(v) == key)
        });
        if !refers {
            continue;
        }
        let g = || GroupRef {
            dn: e.dn.to_string(),
            code: e.first("aafSyncCode").map(str::to_string),
            name: e.first("description").map(str::to_string),
            structure: e.first("aafSyncStructure").map(str::to_string),
        };
        match EntryKind::of(e) {
            Some(EntryKind::Classe) => classes.push(g()),
            Some(EntryKind::Groupe) => groups.push(g()),
            Some(EntryKind::Pupil) => pupils.push(pref(e)),
            Some(EntryKind::Parent) => parents.push(pref(e)),
            _ => {}
        }
    }
    // the structures of the classes and groups too
    for s in classes
        .iter()
        .chain(groups.iter())
        .filter_map(|g| g.structure.as_ref())
    {
        if let Some(e) = by_key.get(&dn_key(s)) {
            structures.push(sref(e));
        }
    }
    for v in [&mut pupils, &mut parents] {
        v.sort();
        v.dedup();
    }
    structures.sort();
    structures.dedup();
    classes.sort();
    groups.sort();
    Export {
        format: FORMAT,
        generated_at,
        software: format!("aaf-sync {}", env!("CARGO_PKG_VERSION")),
        source: source.to_string(),
        person: Person {
            dn: person.dn.to_string(),
            category: kind.as_str().to_string(),
            jointure: person.first("ENTPersonJointure").map(str::to_string),
            login: person.first("ENTPersonLogin").map(str::to_string),
        },
        attributes,
        withheld,
        attributes_from_aaf: from_aaf,
        attributes_other: other,
        sync_state,
        structures,
        classes,
        groups,
        linked_pupils: pupils,
        linked_parents: parents,
    }
}

/// `subject export`.
pub async fn export(cfg: &crate::config::Config, who: &Who) -> Result<Export, SubjectError> {
    let layout = cfg.layout();
    let dir = Directory::connect_n(&cfg.ldap, 1)
        .await
        .map_err(connect_err)?;
    let r = gather(&dir, &layout, who).await;
    dir.close().await;
    let (person, related) = r?;
    let now = date::rfc3339(time::OffsetDateTime::now_utc());
    Ok(export_document(&person, &related, &cfg.source, now))
}
