//! The steps of [`super::apply`], each a method of [`Decisions`]: returns
//! restored, people already departed (deadlines), people departing now,
//! moves to the departed branch, structures, then the relinking and the
//! plan's order.

use super::relink::relink_departed;
use super::{id_of, Context, Lifecycle, Rule};
use crate::mapping::{self, layout::Layout};
use crate::model::plan::{AttrChange, Change, Plan, Planned};
use crate::model::{dn_key, Dn, Entry, EntryMap};
use crate::schema::{
    EntryKind, State, ATTR_DEADLINE, ATTR_DEPARTURE, ATTR_DISABLED, ATTR_HOME, ATTR_LAST_SEEN,
};
use std::collections::{HashMap, HashSet};
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

/// What [`super::apply`] decides, step by step: the report, and the new
/// changes in the order the plan receives them (a plan sorts by phase and
/// DN only, so that two changes of one entry in one phase keep this order).
pub(super) struct Decisions<'a, 'e> {
    ctx: Context<'a>,
    current: &'e EntryMap,
    out: Lifecycle,
    /// The deadline of each departed person decided so far, by DN key: a
    /// parent departing keeps theirs in step with their pupils'.
    deadlines: HashMap<String, Date>,
    /// Departed people who stay until their deadline: their links are kept
    /// in step, and the structures they refer to stay.
    kept: Vec<&'e Entry>,
    changes: Vec<(EntryKind, Change)>,
    /// Disabled people to move out of the people branch, with their id.
    moves: Vec<(EntryKind, Dn, String)>,
}

/// The entries the plan lists as absent (the desired tree no longer holds
/// them), as read from the directory: the people, parents last (their
/// deadline follows their pupils'), and the structures, each by DN key.
pub(super) fn absent_entries<'e>(
    plan: &Plan,
    current: &'e EntryMap,
) -> (Vec<(EntryKind, &'e Entry)>, Vec<&'e Entry>) {
    let mut absent: Vec<(EntryKind, &Entry)> = plan
        .absent
        .iter()
        .filter_map(|a| current.get(&a.dn.key()).map(|e| (a.kind, e)))
        .collect();
    absent.sort_by_key(|(k, e)| {
        (
            *k == EntryKind::Parent,
            *k == EntryKind::Structure,
            e.dn.key(),
        )
    });
    let (structures, people): (Vec<_>, Vec<_>) = absent
        .into_iter()
        .partition(|(k, _)| *k == EntryKind::Structure);
    (people, structures.into_iter().map(|(_, e)| e).collect())
}

impl<'a, 'e> Decisions<'a, 'e> {
    pub(super) fn new(ctx: Context<'a>, current: &'e EntryMap) -> Self {
        Decisions {
            ctx,
            current,
            out: Lifecycle::default(),
            deadlines: HashMap::new(),
            kept: Vec::new(),
            changes: Vec::new(),
            moves: Vec::new(),
        }
    }

    fn source(&self) -> &'a str {
        self.ctx.layout.source.as_str()
    }

    fn pending(&mut self, kind: EntryKind) {
        *self
            .out
            .pending
            .entry(kind.as_str().to_string())
            .or_default() += 1;
    }

    fn modify(&mut self, kind: EntryKind, e: &Entry, changes: Vec<AttrChange>) {
        self.changes.push((
            kind,
            Change::Modify {
                dn: e.dn.clone(),
                changes,
            },
        ));
    }

    fn delete(&mut self, kind: EntryKind, e: &Entry, id: String) {
        self.changes
            .push((kind, Change::Delete { dn: e.dn.clone() }));
        Lifecycle::push(&mut self.out.deleted, kind, id);
    }

    /// Returns: a departed entry the desired tree holds again is restored.
    /// The diff's modify already clears its lifecycle marks; a disabled
    /// account also gets its password back.
    pub(super) fn restore_returns(&mut self, plan: &mut Plan) {
        let source = self.source();
        for p in plan.changes.iter_mut() {
            let Change::Modify { dn, changes } = &mut p.change else {
                continue;
            };
            let Some(cur) = self.current.get(&dn.key()) else {
                continue;
            };
            let st = State::of(cur);
            if st.departed() {
                Lifecycle::push(&mut self.out.restored, p.kind, id_of(cur, p.kind, source));
                if st.disabled {
                    changes.push(AttrChange::RestorePassword);
                }
            }
        }
    }

    /// One person the desired tree no longer holds: already departed, or
    /// departing in this run. A retention-only pass (no extraction) shows
    /// no departure: only those already departed are decided.
    pub(super) fn person_absent(&mut self, kind: EntryKind, e: &'e Entry) {
        let Some(&rule) = self.ctx.rules.for_kind(kind) else {
            return;
        };
        let st = State::of(e);
        let id = id_of(e, kind, self.source());
        if let Some(departure) = st.departure {
            self.deadline_step(kind, rule, e, &st, departure, id);
        } else if let Some(departure) = self.ctx.extraction_date {
            self.departs(kind, rule, e, departure, id);
        }
    }

    /// A person departed in an earlier run: deleted once their deadline
    /// has come. Until then they stay; one disabled before the departed
    /// branch existed is moved out of the ENT's lookups now, and a new
    /// school year clears last year's classes.
    fn deadline_step(
        &mut self,
        kind: EntryKind,
        rule: Rule,
        e: &'e Entry,
        st: &State,
        departure: Date,
        id: String,
    ) {
        let ctx = self.ctx;
        // the deadline written when they left wins over today's rules
        let deadline = st.deadline.unwrap_or_else(|| rule.deadline(departure));
        self.deadlines.insert(e.dn.key(), deadline);
        if ctx.now >= deadline {
            self.delete(kind, e, id);
            return;
        }
        self.pending(kind);
        self.kept.push(e);
        if st.disabled && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn) {
            if let Some(home) = home_change(ctx.layout, e, &id) {
                self.modify(kind, e, vec![home]);
            }
            self.moves.push((kind, e.dn.clone(), id));
        }
        if ctx.new_school_year {
            let clear = clear_class_lists(e);
            if !clear.is_empty() {
                self.modify(kind, e, clear);
            }
        }
    }

    /// The deadline of a person departing on `departure`: the rule's, but
    /// a parent's is their last pupil's (decided earlier in this run, or
    /// read from the directory), so that a family leaves together.
    fn departure_deadline(&self, kind: EntryKind, rule: Rule, e: &Entry, departure: Date) -> Date {
        if kind != EntryKind::Parent {
            return rule.deadline(departure);
        }
        e.get("ENTAuxPersRelEleveEleve")
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let k = dn_key(p);
                self.deadlines
                    .get(&k)
                    .copied()
                    .or_else(|| self.current.get(&k).and_then(|pe| State::of(pe).deadline))
            })
            .max()
            .unwrap_or_else(|| rule.deadline(departure))
    }

    /// A person this extraction shows leaving: deleted at once when the
    /// deadline is already due (no grace); else marked departed (departure,
    /// deadline, last seen), disabled when the rule says so, and set to
    /// move to the departed branch.
    fn departs(&mut self, kind: EntryKind, rule: Rule, e: &'e Entry, departure: Date, id: String) {
        let ctx = self.ctx;
        let deadline = self.departure_deadline(kind, rule, e, departure);
        self.deadlines.insert(e.dn.key(), deadline);
        Lifecycle::push(&mut self.out.departed, kind, id.clone());
        if ctx.now >= deadline {
            self.delete(kind, e, id);
            return;
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
            Lifecycle::push(&mut self.out.disabled, kind, id.clone());
        }
        if ctx.new_school_year {
            changes.extend(clear_class_lists(e));
        }
        let moving = rule.disable && ctx.rules.move_departed && !ctx.layout.is_departed(&e.dn);
        if moving {
            changes.extend(home_change(ctx.layout, e, &id));
        }
        self.pending(kind);
        self.kept.push(e);
        self.modify(kind, e, changes);
        if moving {
            self.moves.push((kind, e.dn.clone(), id));
        }
    }

    /// The moves to the departed branch, after every other change the
    /// people decisions made (the order within a phase is kept).
    pub(super) fn move_out(&mut self) {
        for (kind, dn, id) in std::mem::take(&mut self.moves) {
            let to = self.ctx.layout.departed_dn(&dn, &id);
            self.changes.push((kind, Change::Move { dn, to }));
        }
    }

    /// Structures out of the extraction: deleted once nothing that stays
    /// refers to them (the `remaining` entries, the departed people kept,
    /// what the plan adds); marked departed until then.
    pub(super) fn structures(
        &mut self,
        plan: &Plan,
        remaining: impl Iterator<Item = &'e Entry>,
        structures: Vec<&'e Entry>,
    ) {
        if structures.is_empty() {
            return;
        }
        let mut referenced = HashSet::new();
        for e in remaining.chain(self.kept.iter().copied()) {
            structure_refs(e, &mut referenced);
        }
        for p in &plan.changes {
            if let Change::Add { entry } = &p.change {
                structure_refs(entry, &mut referenced);
            }
        }
        let ctx = self.ctx;
        for e in structures {
            let kind = EntryKind::Structure;
            let id = id_of(e, kind, self.source());
            let st = State::of(e);
            if !referenced.contains(&e.dn.key()) {
                if !st.departed() {
                    Lifecycle::push(&mut self.out.departed, kind, id.clone());
                }
                self.delete(kind, e, id);
                continue;
            }
            self.pending(kind);
            if st.departed() {
                continue;
            }
            let Some(departure) = ctx.extraction_date else {
                continue;
            };
            Lifecycle::push(&mut self.out.departed, kind, id);
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
            self.modify(kind, e, changes);
        }
    }

    /// Writes the decisions into the plan, then the rewrite of the links of
    /// the people kept as they are (departed, or `frozen`: their record was
    /// rejected), and sorts the plan and the report's ids.
    pub(super) fn finish(mut self, plan: &mut Plan, frozen: &[&'e Entry]) -> Lifecycle {
        self.kept.extend(frozen.iter().copied());
        let relinks = relink_departed(
            self.ctx.layout,
            self.ctx.whole_tree,
            &self.kept,
            self.current,
            plan,
            &self.changes,
        );
        for (kind, change) in self.changes {
            push_change(plan, kind, change);
        }
        plan.changes.extend(relinks);
        plan.sort();
        let out = &mut self.out;
        for ids in out
            .departed
            .values_mut()
            .chain(out.disabled.values_mut())
            .chain(out.restored.values_mut())
            .chain(out.deleted.values_mut())
        {
            ids.sort();
        }
        self.out
    }
}
