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

mod relink;
mod rules;
mod steps;

use crate::mapping::{self, layout::Layout};
use crate::model::plan::Plan;
use crate::model::{Entry, EntryMap};
use crate::schema::EntryKind;
use serde::Serialize;
use std::collections::BTreeMap;
use steps::{absent_entries, Decisions};
use time::Date;

pub use rules::{Rule, Rules};

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
    /// The tree read is the whole managed tree. A targeted read's is not:
    /// a link to an entry it did not read is not a link to nothing.
    pub whole_tree: bool,
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
    // the steps run in this order: it is the order of the changes of one
    // entry within a phase (the plan sorts by phase and DN only)
    let mut d = Decisions::new(*ctx, current);
    d.restore_returns(plan);
    let (people, structures) = absent_entries(plan, current);
    for (kind, e) in people {
        d.person_absent(kind, e);
    }
    d.move_out();
    d.structures(plan, remaining, structures);
    d.finish(plan, frozen)
}

#[cfg(test)]
mod tests;
