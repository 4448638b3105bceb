//! The links of the people the diff does not keep in step (departed, or
//! kept as they are) follow the people they name: to where they move,
//! or away when they are deleted.

use crate::mapping::{self, layout::Layout};
use crate::model::plan::{AttrChange, Change, Plan, Planned, PHASE_RELINK};
use crate::model::{dn_key, Dn, Entry, EntryMap};
use crate::schema::{EntryKind, ATTR_DEPARTURE, ATTR_HOME};
use std::collections::{HashMap, HashSet};

/// Where each managed person is once a plan is applied, by every DN they
/// may be named by: their DN now, their home in the people branch and
/// their DN in the departed branch. A link names a person by one of those
/// — the one that was right when it was written, maybe by a run killed
/// between a person's move and the rewrite of the links to them — and
/// must name them by the DN they end up at. `None`: deleted.
struct Whereabouts(HashMap<String, Option<Dn>>);

impl Whereabouts {
    fn new(layout: &Layout, current: &EntryMap, changes: &[&Change]) -> Whereabouts {
        let mut moved: HashMap<String, Dn> = HashMap::new();
        let mut deleted: HashSet<String> = HashSet::new();
        let mut added: Vec<Dn> = Vec::new();
        for c in changes {
            match c {
                Change::Move { dn, to } => {
                    moved.insert(dn.key(), to.clone());
                }
                Change::Delete { dn } => {
                    deleted.insert(dn.key());
                }
                Change::Add { entry } => added.push(entry.dn.clone()),
                Change::Modify { .. } => {}
            }
        }
        let source = layout.source.as_str();
        let mut by_alias: HashMap<String, Option<Dn>> = HashMap::new();
        let mut by_dn: HashMap<String, Option<Dn>> = HashMap::new();
        for e in current.values() {
            if !EntryKind::of(e).is_some_and(|k| k.is_person()) {
                continue;
            }
            let key = e.dn.key();
            // only people whose DN may differ from the one a link names:
            // departed, moving or deleted (an académie holds a million
            // others, named by their one DN, which the caller checks)
            let relevant = e.first(ATTR_DEPARTURE).is_some()
                || layout.is_departed(&e.dn)
                || moved.contains_key(&key)
                || deleted.contains(&key);
            if !relevant {
                continue;
            }
            let end = (!deleted.contains(&key))
                .then(|| moved.get(&key).cloned().unwrap_or_else(|| e.dn.clone()));
            if let Some(id) = mapping::id_in(e, "ENTPersonJointure", source) {
                let home = match e.get(ATTR_HOME).and_then(|v| v.first().map(Dn::new)) {
                    Some(h) => h,
                    None if layout.is_departed(&e.dn) => layout.person_dn(id),
                    None => e.dn.clone(),
                };
                let away = layout.departed_dn(&home, id);
                by_alias.insert(home.key(), end.clone());
                by_alias.insert(away.key(), end.clone());
            }
            if let Some(to) = moved.get(&key) {
                by_alias.insert(to.key(), end.clone());
            }
            by_dn.insert(key, end);
        }
        // an entry's own DN wins over another's alias; an entry this plan
        // adds is where it is added
        by_alias.extend(by_dn);
        for d in added {
            if let Some(w) = by_alias.get_mut(&d.key()) {
                *w = Some(d);
            }
        }
        Whereabouts(by_alias)
    }

    /// Where the person a link names by `key` ends up; `None` when the
    /// key names no departed, moving or deleted person (an active person
    /// is named by their DN, which the caller finds in the tree).
    fn of(&self, key: &str) -> Option<&Option<Dn>> {
        self.0.get(key)
    }
}

/// Keeps the links of the people the diff does not keep in step — departed
/// people waiting for their deadline, and people whose record was rejected
/// (kept as they are) — pointing at entries that exist once the plan is
/// applied: a link to a person follows them wherever they are or go (see
/// [`Whereabouts`]); a link to a person deleted, or to an entry of the tree
/// that will not exist, goes. Only the sync's own link values change.
/// These modifies run after the moves (a phase of their own), on the DN
/// the entry ends up at: a move that fails takes its target out of the
/// links written after it (see `apply`), never leaving one that names
/// whatever else sits at that DN.
pub(super) fn relink_departed(
    layout: &Layout,
    whole_tree: bool,
    kept: &[&Entry],
    current: &EntryMap,
    plan: &Plan,
    new_changes: &[(EntryKind, Change)],
) -> Vec<Planned> {
    if kept.is_empty() {
        return Vec::new(); // a first load: nobody departed, nothing kept
    }
    let changes: Vec<&Change> = plan
        .changes
        .iter()
        .map(|p| &p.change)
        .chain(new_changes.iter().map(|(_, c)| c))
        .collect();
    let whereabouts = Whereabouts::new(layout, current, &changes);
    let mut exists: HashSet<String> = HashSet::new();
    let mut gone: HashSet<String> = HashSet::new();
    for c in &changes {
        match c {
            Change::Add { entry } => {
                exists.insert(entry.dn.key());
            }
            Change::Delete { dn } => {
                gone.insert(dn.key());
            }
            _ => {}
        }
    }
    let base = layout.base.key();
    let under_base = |k: &str| k.len() > base.len() && k.ends_with(&base);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for e in kept {
        let Some(kind) = EntryKind::of(e).filter(|k| k.is_person()) else {
            continue;
        };
        let at = match whereabouts.of(&e.dn.key()) {
            Some(Some(at)) => at,
            Some(None) => continue, // deleted by this plan
            None => &e.dn,          // stays where it is
        };
        if !seen.insert(e.dn.key()) {
            continue;
        }
        let mut changes = Vec::new();
        let owned = mapping::owned(kind);
        let links = mapping::DN_VALUED.iter().chain(mapping::DN_PREFIXED.iter());
        // only the sync's own links (never a `seeAlso` the ENT wrote)
        for attr in links.filter(|a| owned.iter().any(|o| o.eq_ignore_ascii_case(a))) {
            let prefixed = mapping::DN_PREFIXED.contains(attr);
            let Some(values) = e.get(attr) else { continue };
            let (mut del, mut add) = (Vec::new(), Vec::new());
            for v in values.iter() {
                let (target, rest) = match v.split_once('$') {
                    Some((t, r)) if prefixed => (t, Some(r)),
                    _ => (v, None),
                };
                let key = dn_key(target);
                match whereabouts.of(&key) {
                    Some(Some(to)) if to.key() == key => {}
                    Some(Some(to)) => {
                        del.push(v.to_string());
                        add.push(match rest {
                            Some(r) => format!("{to}${r}"),
                            None => to.to_string(),
                        });
                    }
                    Some(None) => del.push(v.to_string()),
                    // not a person: a structure or a class, which do not
                    // move; gone when deleted or not in the tree (never a
                    // value such as the neutral `-` of an SDET MUST; and
                    // when the tree read is only part of it, only what
                    // this plan deletes)
                    None => {
                        if gone.contains(&key)
                            || whole_tree
                                && under_base(&key)
                                && !(current.contains_key(&key) || exists.contains(&key))
                        {
                            del.push(v.to_string());
                        }
                    }
                }
            }
            if !del.is_empty()
                && add.is_empty()
                && del.len() == values.len()
                && mapping::sdet::is_fillable(attr)
            {
                // a MUST of the deployed SDET is never left empty
                changes.push(AttrChange::Replace {
                    attr: attr.to_string(),
                    values: vec![mapping::sdet::NEUTRAL.to_string()],
                });
            } else if !del.is_empty() {
                changes.push(AttrChange::Delete {
                    attr: attr.to_string(),
                    values: del,
                });
            }
            if !add.is_empty() {
                changes.push(AttrChange::Add {
                    attr: attr.to_string(),
                    values: add,
                });
            }
        }
        if !changes.is_empty() {
            out.push(Planned {
                kind,
                phase: PHASE_RELINK,
                change: Change::Modify {
                    dn: at.clone(),
                    changes,
                },
            });
        }
    }
    out
}
