//! The steps of [`super::apply`]: the changes each lifecycle decision
//! writes.

use crate::mapping::{self, layout::Layout};
use crate::model::plan::{AttrChange, Change, Plan, Planned};
use crate::model::{dn_key, Entry};
use crate::schema::{EntryKind, ATTR_HOME};
use std::collections::HashSet;
use time::Date;

/// Structure DNs (as keys) an entry refers to, directly or as the first
/// field of a composite value.
pub(super) fn structure_refs(e: &Entry, out: &mut HashSet<String>) {
    for attr in [
        "ENTPersonStructRattach",
        "ENTPersonClasses",
        "ENTPersonGroupes",
        "ENTPersonFonctions",
        "aafSyncStructure",
    ] {
        for v in e.get(attr).unwrap_or_default() {
            out.insert(dn_key(v.split('$').next().unwrap_or(v)));
        }
    }
}

/// The home a departing adopted person will go back to, when their DN is
/// not the one the layout builds (an adopted entry): recorded on the entry
/// before it moves.
pub(super) fn home_change(layout: &Layout, e: &Entry, id: &str) -> Option<AttrChange> {
    (e.dn.key() != layout.person_dn(id).key()).then(|| AttrChange::Replace {
        attr: ATTR_HOME.into(),
        values: vec![e.dn.to_string()],
    })
}

pub(super) fn gt(d: Date) -> String {
    crate::schema::date::generalized_date(d)
}

pub(super) fn push_change(plan: &mut Plan, kind: EntryKind, change: Change) {
    let phase = crate::model::plan::phase(kind, &change);
    plan.changes.push(Planned {
        kind,
        phase,
        change,
    });
}

/// A person's class and group lists: the project's, and the SDET's that a
/// directory with the deployed schema holds them in.
const CLASS_LISTS: [&str; 4] = [
    "ENTPersonClasses",
    "ENTPersonGroupes",
    "ENTEleveClasses",
    "ENTEleveGroupes",
];

/// Clears last year's class and group lists of a departed person: deleted,
/// or, for a MUST of the deployed SDET (`ENTEleveClasses` on `ENTEleve`),
/// set to the neutral value the adaptation writes when there is none.
pub(super) fn clear_class_lists(e: &Entry) -> Vec<AttrChange> {
    let neutral = mapping::sdet::NEUTRAL;
    CLASS_LISTS
        .iter()
        .filter_map(|a| {
            let v = e.get(a)?;
            if mapping::sdet::is_fillable(a) {
                (v.len() != 1 || v.first() != Some(neutral)).then(|| AttrChange::Replace {
                    attr: a.to_string(),
                    values: vec![neutral.to_string()],
                })
            } else {
                Some(AttrChange::Delete {
                    attr: a.to_string(),
                    values: vec![],
                })
            }
        })
        .collect()
}
