//! Data subjects' rights (spec §8): `subject export` (access and
//! portability: everything the directory holds about one person, as one
//! JSON document described by `schema/subject-export.schema.json`),
//! `subject erase` (now, with every reference, and blocked from coming back)
//! and `subject unblock`.
//!
//! The documents and plans are built by pure functions from the entries
//! read; the I/O is the directory's.

use crate::diff::{AttrChange, Change, Plan, Planned};
use crate::ldap::{escape_filter, Directory, DirectoryError};
use crate::mapping::{self, layout::Layout, EntryKind};
use crate::model::{dn_key, Dn, Entry};
use crate::retention::{self, State};
use crate::rights::erasure::{self, Erasure};
use serde::Serialize;
use std::collections::BTreeMap;

/// How the person is named on the command line.
#[derive(Debug, Clone)]
pub enum Who {
    /// `ENTPersonJointure` (`<source>$<id>`) or the bare AAF id.
    Jointure(String),
    Login(String),
    Dn(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Attributes whose values are never exported (secrets, not data about the
/// person): their names are listed instead.
pub const WITHHELD: [&str; 2] = ["userPassword", retention::ATTR_SAVED_PASSWORD];

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
        .and_then(retention::parse_generalized_date)
        .map(crate::aaf::filename::format_date)
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
        source: person.first(mapping::ATTR_SOURCE).map(str::to_string),
        first_seen: date_of(person, mapping::ATTR_FIRST_SEEN),
        last_seen: date_of(person, retention::ATTR_LAST_SEEN),
        departure: st.departure.map(crate::aaf::filename::format_date),
        deadline: st.deadline.map(crate::aaf::filename::format_date),
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

/// The plan that erases `person`: the erasure recorded first (so that a
/// run cut short never lets the next sync recreate them), then every value
/// that refers to them removed from `referring` (a class or group left
/// without members is deleted: `groupOfNames` needs one), then the entry.
pub fn erase_plan(
    layout: &Layout,
    person: &Entry,
    referring: &[Entry],
    erasures: Option<&Entry>,
    erasure: &Erasure,
) -> Plan {
    let key = person.dn.key();
    let mut plan = Plan::default();
    plan.changes
        .push(erasure::record_change(layout, erasures, erasure));
    let is_ref = |attr: &str, v: &str| {
        if mapping::DN_VALUED
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
        {
            return dn_key(v) == key;
        }
        // `<parent DN>$<code>`
        attr.eq_ignore_ascii_case("ENTEleveAutoriteParentale")
            && v.rsplit_once('$').is_some_and(|(d, _)| dn_key(d) == key)
    };
    for e in referring {
        if e.dn.key() == key {
            continue;
        }
        let kind = EntryKind::of(e).unwrap_or(EntryKind::Control);
        let mut changes = Vec::new();
        let mut empties_group = false;
        for a in e.attrs.values() {
            let gone: Vec<String> = a
                .values
                .iter()
                .filter(|v| is_ref(a.name, v))
                .map(str::to_string)
                .collect();
            if gone.is_empty() {
                continue;
            }
            if a.name.eq_ignore_ascii_case("member") && gone.len() == a.values.len() {
                empties_group = true;
            }
            changes.push(AttrChange::Delete {
                attr: a.name.to_string(),
                values: gone,
            });
        }
        if changes.is_empty() {
            continue;
        }
        let change = if empties_group {
            Change::Delete { dn: e.dn.clone() }
        } else {
            Change::Modify {
                dn: e.dn.clone(),
                changes,
            }
        };
        plan.changes.push(Planned {
            kind,
            phase: 1,
            change,
        });
    }
    plan.changes.push(Planned {
        kind: EntryKind::of(person).unwrap_or(EntryKind::Staff),
        phase: 2,
        change: Change::Delete {
            dn: person.dn.clone(),
        },
    });
    plan.sort();
    plan
}

/// The filter finding the entries that refer to `dn`.
pub fn referring_filter(dn: &Dn) -> String {
    let v = escape_filter(dn.as_str());
    let mut f = String::from("(|");
    for a in mapping::DN_VALUED {
        f.push_str(&format!("({a}={v})"));
    }
    f.push(')');
    f
}

/// The filter of the source's managed people (`aafSyncState`, this
/// source), without its closing parenthesis: a condition follows.
fn managed_people(layout: &Layout) -> String {
    format!(
        "(&(objectClass={})({}={})(objectClass=ENTPerson)",
        mapping::STATE_CLASS,
        mapping::ATTR_SOURCE,
        escape_filter(&layout.source)
    )
}

/// The filter finding the managed person a DN names: the entry itself, the
/// departed entry whose DN of origin it is (`aafSyncHome`, an adopted
/// entry), or the layout's departed DN of a person of `ou=people` (same
/// RDN under `ou=departed`): an operator may quote the DN a person had
/// before they left.
fn dn_filter(layout: &Layout, dn: &str) -> String {
    let v = escape_filter(dn);
    let mut f = format!(
        "{}(|(entryDN={v})({}={v})",
        managed_people(layout),
        retention::ATTR_HOME
    );
    let rdn = crate::mapping::layout::rdn_of(dn);
    let parent = dn.get(rdn.len()..).unwrap_or_default();
    if !rdn.is_empty() && dn_key(parent.trim_start_matches(',')) == layout.people.key() {
        let away = format!("{rdn},{}", layout.departed);
        f.push_str(&format!("(entryDN={})", escape_filter(&away)));
    }
    f.push_str("))");
    f
}

/// Finds the managed person `who` names, wherever the sync keeps them:
/// `ou=people`, the departed branch, or an adopted DN anywhere under the
/// base. The whole base is searched by jointure, login or DN (never a DN
/// built from the id): a departed person's data is still there until their
/// deadline, and a request about them must reach it.
pub async fn find(dir: &Directory, layout: &Layout, who: &Who) -> Result<Entry, SubjectError> {
    let managed = managed_people(layout);
    let (found, what) = match who {
        Who::Jointure(j) => {
            let j = if j.contains('$') {
                j.clone()
            } else {
                layout.jointure(j)
            };
            let f = format!("{managed}(ENTPersonJointure={}))", escape_filter(&j));
            (dir.search(&layout.base, &f, &["*"]).await?, "jointure")
        }
        Who::Login(l) => {
            let l = escape_filter(l);
            let f = format!("{managed}(ENTPersonLogin={l}))");
            let mut found = dir.search(&layout.base, &f, &["*"]).await?;
            if found.is_empty() {
                // an adopted tree may know its people by `uid` alone
                let f = format!("{managed}(uid={l}))");
                found = dir.search(&layout.base, &f, &["*"]).await?;
            }
            (found, "login")
        }
        Who::Dn(d) if d.contains(crate::mapping::layout::PSEUDONYM_MARK) => {
            // a pseudonym read in a log or a report: the managed people
            // whose DN is written so
            let all = dir
                .search(&layout.base, &format!("{managed})"), &["1.1"])
                .await?;
            let mut found = Vec::new();
            for e in all.iter().filter(|e| layout.loggable_matches(&e.dn, d)) {
                found.extend(dir.read_entry(&e.dn).await?);
            }
            (found, "DN")
        }
        Who::Dn(d) => match dir
            .search(&layout.base, &dn_filter(layout, d), &["*"])
            .await
        {
            Ok(v) => (v, "DN"),
            // not a DN the server can read
            Err(_) => (Vec::new(), "DN"),
        },
    };
    let n = found.len();
    let mut found = found.into_iter();
    match (found.next(), n) {
        (Some(e), 1) => Ok(e),
        (_, 0) | (None, _) => Err(SubjectError::Unknown(format!(
            "no person of source {} with that {what} under {} (people, departed people, \
             adopted entries): nothing exported or erased",
            layout.source, layout.base
        ))),
        _ => Err(SubjectError::Unknown(format!(
            "{n} people match that {what}: name one by --jointure or --dn"
        ))),
    }
}

/// Reads what an export or an erasure needs: the person and the entries
/// they refer to or that refer to them.
pub async fn gather(
    dir: &Directory,
    layout: &Layout,
    who: &Who,
) -> Result<(Entry, Vec<Entry>), SubjectError> {
    let person = find(dir, layout, who).await?;
    let mut related = dir
        .search(&layout.base, &referring_filter(&person.dn), &["*"])
        .await?;
    let mut wanted: Vec<String> = mapping::DN_VALUED
        .iter()
        .flat_map(|a| person.get(a).unwrap_or_default().to_vec())
        .collect();
    // structures of the classes and groups
    for e in &related {
        wanted.extend(e.get("aafSyncStructure").unwrap_or_default().to_vec());
    }
    wanted.sort_by_key(|d| dn_key(d));
    wanted.dedup_by_key(|d| dn_key(d));
    for d in wanted {
        if related.iter().any(|e| e.dn.key() == dn_key(&d)) {
            continue;
        }
        if let Some(e) = dir.read_entry(&Dn::new(d)).await? {
            related.push(e);
        }
    }
    Ok((person, related))
}

fn connect_err(e: DirectoryError) -> SubjectError {
    SubjectError::Directory(e)
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
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(export_document(&person, &related, &cfg.source, now))
}

/// What `subject erase` did (DNs of the managed tree and counts only).
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// Written out through [`crate::mapping::layout::log_dn`]: the erased
    /// person's name must not survive in the erasure's own output.
    #[serde(serialize_with = "crate::mapping::layout::serialize_dn")]
    pub dn: String,
    /// SHA-256 of the jointure, as recorded to block re-creation.
    pub id_hash: String,
    pub date: String,
    /// Entries that referred to the person, cleaned.
    pub entries_modified: u64,
    /// Classes or groups deleted because the person was their last member.
    pub groups_deleted: u64,
    pub deleted: bool,
    pub failures: Vec<crate::ldap::apply::Failure>,
}

/// `subject erase`: the caller holds the run lock.
pub async fn erase(
    cfg: &crate::config::Config,
    who: &Who,
    reason: &str,
    today: time::Date,
    halt: Option<&crate::ldap::Halt>,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> Result<Erased, SubjectError> {
    let layout = cfg.layout();
    let mut dir = Directory::connect(&cfg.ldap).await.map_err(connect_err)?;
    if let Some(h) = halt {
        dir.share_halt(h);
    }
    let r = erase_inner(&dir, &layout, who, reason, today, intent, done).await;
    dir.close().await;
    r
}

async fn erase_inner(
    dir: &Directory,
    layout: &Layout,
    who: &Who,
    reason: &str,
    today: time::Date,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> Result<Erased, SubjectError> {
    let (person, related) = gather(dir, layout, who).await?;
    // the block is on this source's jointure: an adopted entry may carry
    // other sources' too, and the erasure must match what the next
    // extraction sends
    let Some(id) = mapping::id_in(&person, "ENTPersonJointure", &layout.source) else {
        return Err(SubjectError::Unknown(format!(
            "{} carries no jointure of source {}: nothing erased",
            crate::mapping::layout::log_dn(person.dn.as_str()),
            layout.source
        )));
    };
    let e = Erasure {
        hash: erasure::id_hash(&layout.source, id),
        date: crate::aaf::filename::format_date(today),
        // one line: the value is `hash date reason`
        reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let current = dir
        .read_own(
            &erasure::erasures_dn(layout),
            erasure::ERASURES_CLASS,
            "erasures entry",
        )
        .await?;
    let referring: Vec<Entry> = related
        .into_iter()
        .filter(|r| {
            mapping::DN_VALUED.iter().any(|a| {
                r.get(a)
                    .unwrap_or_default()
                    .iter()
                    .any(|v| dn_key(v) == person.dn.key())
            })
        })
        .collect();
    let plan = erase_plan(layout, &person, &referring, current.as_ref(), &e);
    let outcome = crate::ldap::apply::apply_all(dir, &plan, intent, done).await;
    let failed = |dn: &Dn| outcome.failures.iter().any(|f| f.dn.key() == dn.key());
    let mut out = Erased {
        dn: person.dn.to_string(),
        id_hash: e.hash.clone(),
        date: e.date.clone(),
        entries_modified: 0,
        groups_deleted: 0,
        deleted: false,
        failures: outcome.failures.clone(),
    };
    for p in plan.changes.iter().filter(|p| p.phase == 1) {
        if failed(p.change.dn()) {
            continue;
        }
        match p.change {
            Change::Delete { .. } => out.groups_deleted += 1,
            _ => out.entries_modified += 1,
        }
    }
    out.deleted = !failed(&person.dn) && outcome.halted.is_none();
    if let Some(why) = outcome.halted {
        return Err(SubjectError::Directory(DirectoryError::Op {
            what: "erase".into(),
            reason: format!("{why}; run the erasure again"),
        }));
    }
    Ok(out)
}

/// `subject unblock`: lifts the erasure of `jointure` (the next sync
/// recreates the person if the extraction carries them). Returns how many
/// records were lifted (0: none was recorded).
pub async fn unblock(cfg: &crate::config::Config, jointure: &str) -> Result<u64, SubjectError> {
    let layout = cfg.layout();
    let id = mapping::id_of_jointure(jointure, &layout.source).unwrap_or(jointure);
    let hash = erasure::id_hash(&layout.source, id);
    let dir = Directory::connect_n(&cfg.ldap, 1)
        .await
        .map_err(connect_err)?;
    let dn = erasure::erasures_dn(&layout);
    let current = dir.read_entry(&dn).await?;
    let values: Vec<String> = current
        .as_ref()
        .and_then(|e| e.get(erasure::ATTR_ERASED))
        .unwrap_or_default()
        .iter()
        .filter(|v| Erasure::parse(v).is_some_and(|x| x.hash == hash))
        .map(str::to_string)
        .collect();
    let n = values.len() as u64;
    if n > 0 {
        let mut plan = Plan::default();
        plan.changes.push(Planned {
            kind: EntryKind::Control,
            phase: 0,
            change: Change::Modify {
                dn,
                changes: vec![AttrChange::Delete {
                    attr: erasure::ATTR_ERASED.into(),
                    values,
                }],
            },
        });
        let o = crate::ldap::apply::apply_all(&dir, &plan, &|_| {}, &mut |_, _| {}).await;
        if let Some(f) = o.failures.first() {
            dir.close().await;
            return Err(SubjectError::Directory(DirectoryError::Op {
                what: format!("unblock {}", f.dn),
                reason: f.error.clone(),
            }));
        }
    }
    dir.close().await;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::test_entry as entry;

    const P: &str = "uid=AC-1,ou=people,dc=x";
    const PARENT: &str = "uid=AC-2,ou=people,dc=x";
    const S: &str = "ENTStructureJointure=AC$9,ou=structures,dc=x";
    const C: &str = "cn=AC-9-classe-CM1,ou=groups,dc=x";

    fn fixture() -> (Entry, Vec<Entry>) {
        let pupil = entry(
            P,
            &[
                ("objectClass", &["ENTPerson", "ENTEleve", "aafSyncState"]),
                ("sn", &["Durand"]),
                ("userPassword", &["{SSHA}x"]),
                ("ENTPersonJointure", &["AC$1"]),
                ("ENTPersonStructRattach", &[S]),
                ("ENTEleveParents", &[PARENT]),
                ("ENTEleveAutoriteParentale", &[&format!("{PARENT}$1")]),
                ("aafSyncSource", &["AC"]),
                ("aafSyncFirstSeen", &["20250904000000Z"]),
                ("entPreference", &["dark"]),
            ],
        );
        let related = vec![
            entry(
                PARENT,
                &[
                    ("objectClass", &["ENTPerson", "ENTAuxPersRelEleve"]),
                    ("ENTPersonJointure", &["AC$2"]),
                    ("ENTAuxPersRelEleveEleve", &[P]),
                ],
            ),
            entry(
                S,
                &[
                    ("objectClass", &["ENTStructure"]),
                    ("ENTStructureUAI", &["0920001A"]),
                ],
            ),
            entry(
                C,
                &[
                    ("objectClass", &["groupOfNames", "ENTClasse"]),
                    ("member", &[P]),
                    ("aafSyncCode", &["CM1"]),
                    ("aafSyncStructure", &[S]),
                ],
            ),
        ];
        (pupil, related)
    }

    #[test]
    fn the_export_holds_the_entry_its_links_and_its_state() {
        let (pupil, related) = fixture();
        let x = export_document(&pupil, &related, "AC", "t".into());
        assert_eq!(x.person.category, "Eleve");
        assert_eq!(x.attributes["sn"], ["Durand"]);
        assert!(!x.attributes.contains_key("userPassword"));
        assert_eq!(x.withheld, ["userPassword"]);
        assert!(x.attributes_other.contains(&"entPreference".to_string()));
        assert!(x.attributes_from_aaf.contains(&"sn".to_string()));
        assert_eq!(x.sync_state.first_seen.as_deref(), Some("2025-09-04"));
        assert_eq!(x.structures.len(), 1);
        assert_eq!(x.structures[0].uai.as_deref(), Some("0920001A"));
        assert_eq!(x.classes[0].code.as_deref(), Some("CM1"));
        assert_eq!(
            x.linked_parents,
            [Ref {
                dn: PARENT.into(),
                jointure: Some("AC$2".into())
            }]
        );
        assert!(x.linked_pupils.is_empty());
    }

    #[test]
    fn a_dn_finds_the_entry_where_it_is_or_where_it_was() {
        let layout = Layout::new("dc=x", "AC");
        let f = dn_filter(&layout, P);
        assert!(f.contains("(entryDN=uid=AC-1,ou=people,dc=x)"), "{f}");
        assert!(f.contains("(aafSyncHome=uid=AC-1,ou=people,dc=x)"), "{f}");
        assert!(f.contains("(entryDN=uid=AC-1,ou=departed,dc=x)"), "{f}");
        assert!(
            f.starts_with("(&(objectClass=aafSyncState)(aafSyncSource=AC)"),
            "{f}"
        );
        // a DN elsewhere: no departed candidate; filter values escaped
        let f = dn_filter(&layout, "uid=a*b,ou=eleves,ou=people,dc=x");
        assert!(!f.contains("ou=departed"), "{f}");
        assert!(f.contains("uid=a\\2ab"), "{f}");
    }

    #[test]
    fn erasing_removes_every_reference_then_the_entry() {
        let (pupil, mut related) = fixture();
        let layout = Layout::new("dc=x", "AC");
        let e = Erasure {
            hash: erasure::id_hash("AC", "1"),
            date: "2026-11-24".into(),
            reason: "r".into(),
        };
        // the parent refers to the pupil; the pupil's own links go with it
        related.push(pupil.clone());
        let plan = erase_plan(&layout, &pupil, &related, None, &e);
        let ops: Vec<(String, &str)> = plan
            .changes
            .iter()
            .map(|p| (p.change.dn().to_string(), p.change.op_name()))
            .collect();
        assert_eq!(
            ops,
            [
                ("cn=aaf-sync-erasures-AC,dc=x".to_string(), "add"),
                (C.to_string(), "delete"),
                (PARENT.to_string(), "modify"),
                (P.to_string(), "delete"),
            ]
        );
    }
}
