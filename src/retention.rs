//! Departures and retention (spec §7): who departs, who is disabled, restored
//! or deleted, and when. Pure: the rules, the entries read from the directory
//! and the run date come in, plan changes and a report come out.
//!
//! The lifecycle lives on each entry (`aafSyncState`):
//! - *active*: no departure date;
//! - *departed*: `aafSyncDepartureDate` (the date of the first extraction that
//!   showed the departure, never moved afterwards), `aafSyncDeadline`,
//!   `aafSyncLastSeen` (the last extraction that still carried the person) and,
//!   when the rule disables, `aafSyncDisabled: TRUE` with `userPassword` set
//!   aside in `aafSyncSavedPassword` (no bind is possible on a stock slapd
//!   without a password; the value is moved back unchanged on restore);
//! - *deleted* by the first run whose date is on or after the deadline.
//!
//! A person departs when the desired tree no longer holds them: absent from a
//! Complet, named by a `deleteRequest`, or (parents) no kept pupil links to
//! them any more. A structure out of the extraction is deleted once no
//! remaining entry refers to it, and marked departed until then.

use crate::mapping::{self, layout::Layout, EntryKind};
use crate::model::plan::{AttrChange, Change, Plan, Planned, PHASE_RELINK};
use crate::model::{dn_key, Dn, Entry, EntryMap};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::{Date, Duration, Month};

// The lifecycle's attributes and state are the directory's vocabulary
// (`schema`); reachable here for the stages that still name them
// `retention::…`.
pub use crate::schema::date::parse_generalized_date;
pub use crate::schema::{
    State, ATTR_DEADLINE, ATTR_DEPARTURE, ATTR_DISABLED, ATTR_HOME, ATTR_LAST_SEEN,
    ATTR_SAVED_PASSWORD, LIFECYCLE_ATTRS,
};

/// Retention of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Days between the departure and the deletion.
    pub grace_days: u32,
    /// Delete at the latest on 31 December of the departure year.
    pub end_of_year: bool,
    /// Until the deadline, the account cannot bind and is out of classes.
    pub disable: bool,
}

impl Rule {
    /// The date from which the departed entry is deleted.
    pub fn deadline(&self, departure: Date) -> Date {
        let by_grace = departure
            .checked_add(Duration::days(self.grace_days.into()))
            .unwrap_or(Date::MAX);
        if self.end_of_year {
            let dec31 =
                Date::from_calendar_date(departure.year(), Month::December, 31).unwrap_or(by_grace);
            by_grace.min(dec31)
        } else {
            by_grace
        }
    }
}

/// The rules of every category, and the school-year start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub pupil: Rule,
    pub parent: Rule,
    pub staff: Rule,
    /// Month and day the school year starts (classes are rebuilt from the
    /// first Complet on or after it).
    pub school_year_start: (Month, u8),
    /// Disabled people wait for their deadline under the departed branch
    /// (`ou=departed`), where the ENT's login lookups of `ou=people` do not
    /// find them; they come back to the same DN on their return.
    pub move_departed: bool,
}

impl Default for Rules {
    /// The conventions' defaults: staff are not kept beyond their departure;
    /// pupils and their parents are kept, disabled, until the earlier of
    /// 31 December of the departure year and departure + 90 days.
    fn default() -> Self {
        let family = Rule {
            grace_days: 90,
            end_of_year: true,
            disable: true,
        };
        Rules {
            pupil: family,
            parent: family,
            staff: Rule {
                grace_days: 0,
                end_of_year: false,
                disable: true,
            },
            school_year_start: (Month::September, 1),
            move_departed: true,
        }
    }
}

impl Rules {
    pub fn for_kind(&self, kind: EntryKind) -> Option<&Rule> {
        match kind {
            EntryKind::Pupil => Some(&self.pupil),
            EntryKind::Parent => Some(&self.parent),
            EntryKind::Staff => Some(&self.staff),
            _ => None,
        }
    }

    /// The school year of a date, named by its first calendar year
    /// (2026 for 2026-2027).
    pub fn school_year(&self, d: Date) -> i32 {
        let (m, day) = self.school_year_start;
        if (u8::from(d.month()), d.day()) >= (u8::from(m), day) {
            d.year()
        } else {
            d.year() - 1
        }
    }
}

/// What the run is applying.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rules: &'a Rules,
    pub layout: &'a Layout,
    /// The run date (`--now`): deletions are due on or after the deadline.
    pub now: Date,
    /// Date of the extraction applied, the departure date of whoever it
    /// shows leaving; `None` in a retention-only pass (no new departure).
    pub extraction_date: Option<Date>,
    /// Date of the extraction applied before: the last that still carried
    /// whoever departs now.
    pub previous_date: Option<Date>,
    /// First Complet of a new school year: departed people's class and
    /// group lists (last year's) are cleared, so that a return later in the
    /// year never brings old classes back.
    pub new_school_year: bool,
}

/// What the lifecycle step did, by category, as AAF ids (no personal data).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lifecycle {
    /// People and structures that departed in this run.
    pub departed: BTreeMap<String, Vec<String>>,
    /// Accounts disabled in this run (departed, before their deadline).
    pub disabled: BTreeMap<String, Vec<String>>,
    /// Departed people and structures back in the extraction, restored.
    pub restored: BTreeMap<String, Vec<String>>,
    /// Entries deleted: deadline reached, or structures no longer referenced.
    pub deleted: BTreeMap<String, Vec<String>>,
    /// Departed entries kept, by category: their deadline is ahead (people)
    /// or someone still refers to them (structures).
    pub pending: BTreeMap<String, u64>,
}

impl Lifecycle {
    fn push(map: &mut BTreeMap<String, Vec<String>>, kind: EntryKind, id: String) {
        map.entry(kind.as_str().to_string()).or_default().push(id);
    }
    pub fn count(map: &BTreeMap<String, Vec<String>>) -> usize {
        map.values().map(Vec::len).sum()
    }
}

/// The AAF id of a managed entry (its jointure), else its DN.
pub fn id_of(e: &Entry, kind: EntryKind, source: &str) -> String {
    let attr = if kind == EntryKind::Structure {
        "ENTStructureJointure"
    } else {
        "ENTPersonJointure"
    };
    mapping::id_in(e, attr, source)
        .map(str::to_string)
        // reports list ids: a DN stands in only as it may be written out
        .unwrap_or_else(|| mapping::layout::log_dn(e.dn.as_str()).into_owned())
}

/// Structure DNs (as keys) an entry refers to, directly or as the first
/// field of a composite value.
fn structure_refs(e: &Entry, out: &mut HashSet<String>) {
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
fn relink_departed(
    layout: &Layout,
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
                    // value such as the neutral `-` of an SDET MUST)
                    None => {
                        if gone.contains(&key)
                            || under_base(&key)
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

/// The home a departing adopted person will go back to, when their DN is
/// not the one the layout builds (an adopted entry): recorded on the entry
/// before it moves.
fn home_change(layout: &Layout, e: &Entry, id: &str) -> Option<AttrChange> {
    (e.dn.key() != layout.person_dn(id).key()).then(|| AttrChange::Replace {
        attr: ATTR_HOME.into(),
        values: vec![e.dn.to_string()],
    })
}

fn gt(d: Date) -> String {
    crate::schema::date::generalized_date(d)
}

fn push_change(plan: &mut Plan, kind: EntryKind, change: Change) {
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
fn clear_class_lists(e: &Entry) -> Vec<AttrChange> {
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

/// Adds the lifecycle decisions to a plan made by [`crate::diff::plan`]:
/// restores among its modifies, departures and deletions among its absent
/// entries. `remaining` are the entries that stay active after the plan
/// besides those the plan adds (the rest of the desired tree), to know
/// which structures are still referred to.
///
/// `frozen` are the entries kept exactly as they are (their record was
/// rejected): only their links to people who move or go are rewritten.
pub fn apply<'e>(
    ctx: &Context,
    plan: &mut Plan,
    current: &'e EntryMap,
    remaining: impl Iterator<Item = &'e Entry>,
    frozen: &[&'e Entry],
) -> Lifecycle {
    let mut out = Lifecycle::default();
    let source = ctx.layout.source.as_str();

    // restores: a departed entry the desired tree holds again
    for p in plan.changes.iter_mut() {
        let Change::Modify { dn, changes } = &mut p.change else {
            continue;
        };
        let Some(cur) = current.get(&dn.key()) else {
            continue;
        };
        let st = State::of(cur);
        if st.departed() {
            Lifecycle::push(&mut out.restored, p.kind, id_of(cur, p.kind, source));
            if st.disabled {
                changes.push(AttrChange::RestorePassword);
            }
        }
    }

    let mut absent: Vec<(EntryKind, &Entry)> = plan
        .absent
        .iter()
        .filter_map(|a| current.get(&a.dn.key()).map(|e| (a.kind, e)))
        .collect();
    // parents last: their deadline follows their pupils'
    absent.sort_by_key(|(k, e)| {
        (
            *k == EntryKind::Parent,
            *k == EntryKind::Structure,
            e.dn.key(),
        )
    });

    let mut deadlines: HashMap<String, Date> = HashMap::new();
    let mut kept: Vec<&Entry> = Vec::new();
    let mut departed_structures: Vec<&Entry> = Vec::new();
    let mut new_changes: Vec<(EntryKind, Change)> = Vec::new();
    // disabled people to move out of the people branch, with their id
    let mut moves: Vec<(EntryKind, Dn, String)> = Vec::new();

    for (kind, e) in absent {
        if kind == EntryKind::Structure {
            departed_structures.push(e);
            continue;
        }
        let Some(rule) = ctx.rules.for_kind(kind) else {
            continue;
        };
        let st = State::of(e);
        let id = id_of(e, kind, source);
        if let Some(departure) = st.departure {
            let deadline = st.deadline.unwrap_or_else(|| rule.deadline(departure));
            deadlines.insert(e.dn.key(), deadline);
            if ctx.now >= deadline {
                new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
                Lifecycle::push(&mut out.deleted, kind, id);
            } else {
                *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
                kept.push(e);
                if st.disabled && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn) {
                    // departed before the branch existed: out of the lookups now
                    if let Some(home) = home_change(ctx.layout, e, &id) {
                        new_changes.push((
                            kind,
                            Change::Modify {
                                dn: e.dn.clone(),
                                changes: vec![home],
                            },
                        ));
                    }
                    moves.push((kind, e.dn.clone(), id.clone()));
                }
                if ctx.new_school_year {
                    let clear = clear_class_lists(e);
                    if !clear.is_empty() {
                        new_changes.push((
                            kind,
                            Change::Modify {
                                dn: e.dn.clone(),
                                changes: clear,
                            },
                        ));
                    }
                }
            }
            continue;
        }
        let Some(departure) = ctx.extraction_date else {
            continue; // a retention-only pass shows no departure
        };
        let deadline = if kind == EntryKind::Parent {
            // same deadline as their last pupil
            e.get("ENTAuxPersRelEleveEleve")
                .unwrap_or_default()
                .iter()
                .filter_map(|p| {
                    let k = dn_key(p);
                    deadlines
                        .get(&k)
                        .copied()
                        .or_else(|| current.get(&k).and_then(|pe| State::of(pe).deadline))
                })
                .max()
                .unwrap_or_else(|| rule.deadline(departure))
        } else {
            rule.deadline(departure)
        };
        deadlines.insert(e.dn.key(), deadline);
        Lifecycle::push(&mut out.departed, kind, id.clone());
        if ctx.now >= deadline {
            new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
            Lifecycle::push(&mut out.deleted, kind, id);
            continue;
        }
        let mut changes = vec![
            AttrChange::Replace {
                attr: ATTR_DEPARTURE.into(),
                values: vec![gt(departure)],
            },
            AttrChange::Replace {
                attr: ATTR_DEADLINE.into(),
                values: vec![gt(deadline)],
            },
        ];
        if let Some(prev) = ctx.previous_date {
            changes.push(AttrChange::Replace {
                attr: ATTR_LAST_SEEN.into(),
                values: vec![gt(prev)],
            });
        }
        if rule.disable {
            changes.push(AttrChange::Replace {
                attr: ATTR_DISABLED.into(),
                values: vec!["TRUE".into()],
            });
            changes.push(AttrChange::StashPassword);
            Lifecycle::push(&mut out.disabled, kind, id.clone());
        }
        if ctx.new_school_year {
            changes.extend(clear_class_lists(e));
        }
        let moving = rule.disable && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn);
        if moving {
            changes.extend(home_change(ctx.layout, e, &id));
        }
        *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
        kept.push(e);
        new_changes.push((
            kind,
            Change::Modify {
                dn: e.dn.clone(),
                changes,
            },
        ));
        if moving {
            moves.push((kind, e.dn.clone(), id));
        }
    }
    for (kind, dn, id) in moves {
        let to = ctx.layout.departed_dn(&dn, &id);
        new_changes.push((kind, Change::Move { dn, to }));
    }

    // structures: deleted once nothing that stays refers to them
    if !departed_structures.is_empty() {
        let mut referenced = HashSet::new();
        for e in remaining.chain(kept.iter().copied()) {
            structure_refs(e, &mut referenced);
        }
        for p in &plan.changes {
            if let Change::Add { entry } = &p.change {
                structure_refs(entry, &mut referenced);
            }
        }
        for e in departed_structures {
            let kind = EntryKind::Structure;
            let id = id_of(e, kind, source);
            let st = State::of(e);
            if !referenced.contains(&e.dn.key()) {
                if !st.departed() {
                    Lifecycle::push(&mut out.departed, kind, id.clone());
                }
                new_changes.push((kind, Change::Delete { dn: e.dn.clone() }));
                Lifecycle::push(&mut out.deleted, kind, id);
                continue;
            }
            *out.pending.entry(kind.as_str().to_string()).or_default() += 1;
            if st.departed() {
                continue;
            }
            let Some(departure) = ctx.extraction_date else {
                continue;
            };
            Lifecycle::push(&mut out.departed, kind, id);
            let mut changes = vec![AttrChange::Replace {
                attr: ATTR_DEPARTURE.into(),
                values: vec![gt(departure)],
            }];
            if let Some(prev) = ctx.previous_date {
                changes.push(AttrChange::Replace {
                    attr: ATTR_LAST_SEEN.into(),
                    values: vec![gt(prev)],
                });
            }
            new_changes.push((
                kind,
                Change::Modify {
                    dn: e.dn.clone(),
                    changes,
                },
            ));
        }
    }

    kept.extend(frozen.iter().copied());
    let relinks = relink_departed(ctx.layout, &kept, current, plan, &new_changes);
    for (kind, change) in new_changes {
        push_change(plan, kind, change);
    }
    plan.changes.extend(relinks);
    plan.sort();
    for ids in out
        .departed
        .values_mut()
        .chain(out.disabled.values_mut())
        .chain(out.restored.values_mut())
        .chain(out.deleted.values_mut())
    {
        ids.sort();
    }
    out
}

#[cfg(test)]
mod tests;
