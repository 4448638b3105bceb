//! From a managed entry back to the AAF record it was made from.
//!
//! A Delta only carries what changed; to map a changed person the same way a
//! Complet would, the rest of their record is rebuilt from the directory: each
//! authorised field from its LDAP attribute (the tables of [`super::fields`]
//! read backwards), DNs turned back into AAF ids. Mapping the rebuilt record
//! gives the entry back unchanged, so people a Delta does not name are left
//! exactly as they are (a test checks this over a whole generated tree).
//! Teachers' class lists are not stored on their entry; they come back from
//! the class and group entries that list them.

use super::fields::{self, Rule};
use super::layout::{GroupKind, Layout};
use crate::aaf::degree::Degree;
use crate::aaf::reader::RecordAttr;
use crate::aaf::{FileCategory, Operation, Record};
use crate::model::{dn_key, value_key, Entry, EntryMap};
use crate::schema::EntryKind;
use std::collections::HashMap;
use std::sync::Arc;

/// The AAF category of a kind of entry.
pub fn category(kind: EntryKind) -> Option<FileCategory> {
    Some(match kind {
        EntryKind::Structure => FileCategory::EtabEducNat,
        EntryKind::Pupil => FileCategory::Eleve,
        EntryKind::Parent => FileCategory::PersRelEleve,
        EntryKind::Staff => FileCategory::PersEducNat,
        _ => return None,
    })
}

/// True when a person's class and group lists come back from the class
/// and group entries: 1D staff always (their lists are not stored on their
/// entry); 1D pupils in a directory that holds their classes only in the
/// SDET form (`ENTEleveClasses`, no label). 2D people hold theirs.
fn lists_from_groups(e: &Entry, degree: Degree) -> bool {
    if degree == Degree::TwoD {
        return false;
    }
    match EntryKind::of(e) {
        Some(EntryKind::Staff) => true,
        Some(EntryKind::Pupil) => {
            e.get("ENTPersonClasses").is_none() && e.get("ENTPersonGroupes").is_none()
        }
        _ => false,
    }
}

/// DNs back to AAF ids: the layout's DNs parse back; entries the
/// directory holds elsewhere (adopted at their own DN) are looked up.
#[derive(Debug, Default)]
pub struct Ids {
    /// DN key → AAF id of the entries whose DN is not the layout's.
    elsewhere: HashMap<String, String>,
}

impl Ids {
    /// The ids of `entries` placed elsewhere than `layout` would.
    pub fn of(entries: &EntryMap, layout: &Layout) -> Ids {
        let mut elsewhere = HashMap::new();
        for e in entries {
            let Some(kind) = EntryKind::of(e) else {
                continue;
            };
            let (Some(id), Some(built)) =
                (id_of(kind, e, layout), super::align::built_key(e, layout))
            else {
                continue;
            };
            let key = e.dn.key();
            if built != key {
                elsewhere.insert(key, id.to_string());
            }
        }
        Ids { elsewhere }
    }
    fn person(&self, layout: &Layout, dn: &str) -> Option<String> {
        layout
            .id_of_person_dn(dn)
            .or_else(|| self.elsewhere.get(&dn_key(dn)).cloned())
    }
    fn structure(&self, layout: &Layout, dn: &str) -> Option<String> {
        layout
            .sid_of_structure_dn(dn)
            .or_else(|| self.elsewhere.get(&dn_key(dn)).cloned())
    }
}

/// Class and group lists rebuilt from the class and group entries.
#[derive(Debug, Default)]
pub struct ClassLists {
    /// The classes and groups, by member DN key: staff always (their
    /// lists are not stored on their entry); pupils whose directory holds
    /// their classes only in the SDET form. On an académie, keeping every
    /// pupil's here would copy a label per pupil for nothing.
    by_member: HashMap<String, Vec<(GroupKind, Arc<Listed>)>>,
    /// The same by (kind, structure DN key, code key): a pupil no longer
    /// a member (departed) finds his classes back from his own SDET list
    /// (`<school DN>$code`).
    by_code: HashMap<(GroupKind, String, String), Arc<Listed>>,
}

/// A class or group as a member's list names it.
#[derive(Debug)]
struct Listed {
    /// Its structure's DN key and its code key, as an SDET list value
    /// (`<school DN>$code`) finds it.
    sdn: String,
    code_key: String,
    sid: String,
    code: String,
    label: String,
}

impl Listed {
    /// The 1D composite value (`sid$$$code$label`), the code written
    /// `code`: a pupil's own SDET list keeps the spelling the pupil's
    /// record gave, which the class's (the smallest of its members') may
    /// not be, and the record rebuilt must map to the entry it came from.
    fn value(&self, code: &str) -> String {
        format!("{}$$${code}${}", self.sid, self.label)
    }
}

/// The class and group lists of [`ClassLists`], from `entries`.
pub fn member_class_lists(
    entries: &EntryMap,
    layout: &Layout,
    ids: &Ids,
    degree: Degree,
) -> ClassLists {
    let mut out = ClassLists::default();
    if degree == Degree::TwoD {
        return out;
    }
    // the few members whose lists are the groups' (staff, mostly): a
    // member is looked up by its key only when its DN may be one of them
    let mut listed = super::keys::Keys::default();
    for e in entries {
        if lists_from_groups(e, degree) {
            listed.insert(&e.dn.key());
        }
    }
    for e in entries.values() {
        let gk = match EntryKind::of(e) {
            Some(EntryKind::Classe) => GroupKind::Classe,
            Some(EntryKind::Groupe) => GroupKind::Groupe,
            _ => continue,
        };
        let (Some(sdn), Some(code)) = (e.first("aafSyncStructure"), e.first("aafSyncCode")) else {
            continue;
        };
        let Some(sid) = ids.structure(layout, sdn) else {
            continue;
        };
        let class = Arc::new(Listed {
            sdn: dn_key(sdn),
            code_key: value_key(code).into_owned(),
            sid,
            code: code.to_string(),
            label: e.first("description").unwrap_or("").to_string(),
        });
        out.by_code.insert(
            (gk, class.sdn.clone(), class.code_key.clone()),
            class.clone(),
        );
        for m in e.get("member").unwrap_or_default() {
            if let Some(key) = listed.holds(m) {
                out.by_member
                    .entry(key)
                    .or_default()
                    .push((gk, class.clone()));
            }
        }
    }
    out
}

fn attr(name: &str, values: Vec<String>) -> Option<RecordAttr> {
    (!values.is_empty()).then(|| RecordAttr {
        name: name.to_string(),
        values,
    })
}

/// `<structure DN>$rest` → `sid$rest`.
fn composite_back(layout: &Layout, ids: &Ids, v: &str) -> Option<String> {
    let (dn, rest) = match v.split_once('$') {
        Some((d, r)) => (d, Some(r)),
        None => (v, None),
    };
    let sid = ids.structure(layout, dn)?;
    Some(match rest {
        Some(r) => format!("{sid}${r}"),
        None => sid,
    })
}

fn jointure_attr(kind: EntryKind) -> &'static str {
    if kind == EntryKind::Structure {
        "ENTStructureJointure"
    } else {
        "ENTPersonJointure"
    }
}

/// The AAF id of a managed structure or person: what [`record_of`] gives
/// its record; `None` when it would give none.
pub fn id_of<'e>(kind: EntryKind, e: &'e Entry, layout: &Layout) -> Option<&'e str> {
    category(kind)?;
    super::id_in(e, jointure_attr(kind), &layout.source)
}

/// The class and group fields of a record, from the class and group
/// entries listing the person — or, for a pupil they no longer list (a
/// departed pupil, out of his classes while away), from his own SDET lists
/// (`ENTEleveClasses: <school DN>$code`), so that a return puts him back.
fn class_lists_back(attrs: &mut Vec<RecordAttr>, e: &Entry, lists: &ClassLists) {
    let member = lists.by_member.get(&e.dn.key());
    for (gk, name, sdet) in [
        (GroupKind::Classe, "ENTPersonClasses", "ENTEleveClasses"),
        (GroupKind::Groupe, "ENTPersonGroupes", "ENTEleveGroupes"),
    ] {
        // the pupil's own SDET list: (structure DN key, code key) → the
        // code as the pupil's record wrote it
        // (a few values: found again by a look along them)
        let own: Vec<(String, String, &str)> = e
            .get(sdet)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| {
                let (sdn, code) = v.split_once('$')?;
                Some((dn_key(sdn), value_key(code).into_owned(), code))
            })
            .collect();
        let spelt = |c: &Listed| {
            let code = own
                .iter()
                .find(|(sdn, key, _)| *sdn == c.sdn && *key == c.code_key)
                .map_or(c.code.as_str(), |o| o.2);
            c.value(code)
        };
        let mut values: Vec<String> = member
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k == gk)
            .map(|(_, c)| spelt(c))
            .collect();
        if values.is_empty() {
            values = own
                .iter()
                .filter_map(|(sdn, key, _)| lists.by_code.get(&(gk, sdn.clone(), key.clone())))
                .map(|c| spelt(c))
                .collect();
        }
        attrs.extend(attr(name, values));
    }
}

/// A teacher by `ENTPersonCategorieEnseignant: O` alone (no `ENS`
/// function) in a directory whose schema does not hold that attribute (the
/// deployed SDET's): the entry keeps the teacher profile, the record gets
/// the field back, so that mapping it keeps the profile (it went at every
/// Delta planned over the whole tree, and came back at the next Complet).
fn teacher_back(attrs: &mut Vec<RecordAttr>, e: &Entry) {
    let teacher = e.has_value("ENTPersonProfils", crate::schema::PROFILE_TEACHER);
    let stored = e.get("ENTPersonCategorieEnseignant").is_some();
    let by_function = attrs
        .iter()
        .filter(|a| a.name == "ENTPersonFonctions")
        .flat_map(|a| &a.values)
        .any(|v| v.split('$').nth(1).map(str::trim) == Some("ENS"));
    if teacher && !stored && !by_function {
        attrs.push(RecordAttr {
            name: "ENTPersonCategorieEnseignant".into(),
            values: vec!["O".into()],
        });
    }
}

/// Rebuilds the record of a managed structure or person; `None` for other
/// entries or an entry without a jointure of this source.
pub fn record_of(
    kind: EntryKind,
    e: &Entry,
    layout: &Layout,
    ids: &Ids,
    class_lists: &ClassLists,
    degree: Degree,
) -> Option<Record> {
    let category = category(kind)?;
    let jointure_attr = jointure_attr(kind);
    let id = id_of(kind, e, layout)?.to_string();
    let mut attrs = vec![RecordAttr {
        name: jointure_attr.to_string(),
        values: vec![id.clone()],
    }];
    let mut table: Vec<&fields::Field> = fields::fields_of(degree, category).iter().collect();
    if kind == EntryKind::Staff {
        table.extend(fields::STAFF_CONSENTED.iter());
    }
    for f in table {
        // a field carried in another attribute (a directory with the SDET
        // schema) comes back from there
        let carried = super::sdet::CARRY
            .iter()
            .find(|c| c.0 == kind && c.1 == f.ldap && c.3 == super::sdet::Carry::Copy)
            .filter(|_| e.get(f.ldap).is_none())
            .map(|c| c.2);
        let values: Vec<String> = e
            .get(carried.unwrap_or(f.ldap))
            .unwrap_or_default()
            .iter()
            .filter(|v| carried.is_none() || *v != super::sdet::NEUTRAL)
            .filter_map(|v| match f.rule {
                Rule::StructureDn | Rule::StructureComposite => composite_back(layout, ids, v),
                _ => Some(v.to_string()),
            })
            .collect();
        attrs.extend(attr(f.aaf, values));
    }
    let person_ids = |a: &str| -> Vec<String> {
        e.get(a)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| {
                let (dn, code) = match v.split_once('$') {
                    Some((d, c)) => (d, Some(c)),
                    None => (v, None),
                };
                let id = ids.person(layout, dn)?;
                Some(match code {
                    Some(c) => format!("{id}${c}"),
                    None => id,
                })
            })
            .collect()
    };
    match kind {
        EntryKind::Pupil => {
            attrs.extend(attr(
                "ENTEleveAutoriteParentale",
                person_ids("ENTEleveAutoriteParentale"),
            ));
            if degree == Degree::TwoD {
                attrs.extend(attr(
                    "ENTElevePersRelEleve",
                    person_ids("ENTElevePersRelEleve"),
                ));
            }
            if lists_from_groups(e, degree) {
                class_lists_back(&mut attrs, e, class_lists);
            }
        }
        EntryKind::Parent => {
            let name = match degree {
                Degree::OneD => "ENTPersRelEleveEleve",
                Degree::TwoD => "ENTAuxPersRelEleveEleve",
            };
            attrs.extend(attr(name, person_ids("ENTAuxPersRelEleveEleve")));
        }
        EntryKind::Staff => {
            if lists_from_groups(e, degree) {
                class_lists_back(&mut attrs, e, class_lists);
            }
            teacher_back(&mut attrs, e);
        }
        _ => {}
    }
    Some(Record {
        op: Operation::Add,
        category,
        id,
        attrs,
        index: 0,
    })
}
