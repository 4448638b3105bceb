//! The plan vocabulary: what is to be done to the directory, operation by
//! operation, in phases. `diff` makes plans, `retention` and `run::control`
//! add to them, `safety` checks them, `ldap` applies them, the journal and
//! the reports tell them; it lives below all of them.

use crate::model::{Dn, Entry};
use crate::schema::EntryKind;
use serde::Serialize;

/// One attribute change inside a modify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum AttrChange {
    Add {
        attr: String,
        values: Vec<String>,
    },
    Delete {
        attr: String,
        values: Vec<String>,
    },
    Replace {
        attr: String,
        values: Vec<String>,
    },
    /// Moves `userPassword` into `aafSyncSavedPassword` (disabling the
    /// account). The values are read and moved at apply time, in one atomic
    /// modify: they never enter the plan, its LDIF or a report.
    #[serde(rename = "stash-password")]
    StashPassword,
    /// Moves `aafSyncSavedPassword` back into `userPassword` unchanged
    /// (unless a new password was set meanwhile, which wins).
    #[serde(rename = "restore-password")]
    RestorePassword,
}

/// One operation on one entry.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    Add {
        entry: Entry,
    },
    Modify {
        dn: Dn,
        changes: Vec<AttrChange>,
    },
    Delete {
        dn: Dn,
    },
    /// Moves an entry, keeping its RDN, to the DN `to` (a departed person
    /// out of the people branch, and back when they return).
    Move {
        dn: Dn,
        to: Dn,
    },
}

impl Change {
    pub fn dn(&self) -> &Dn {
        match self {
            Change::Add { entry } => &entry.dn,
            Change::Modify { dn, .. } | Change::Delete { dn } | Change::Move { dn, .. } => dn,
        }
    }
    pub fn op_name(&self) -> &'static str {
        match self {
            Change::Add { .. } => "add",
            Change::Modify { .. } => "modify",
            Change::Delete { .. } => "delete",
            Change::Move { .. } => "move",
        }
    }
}

/// A change with what it is about, in apply order.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub kind: EntryKind,
    /// Changes of one phase can run concurrently; phases run in order
    /// (structures before people before the groups that list them; deletes last).
    pub phase: u8,
    #[serde(flatten)]
    pub change: Change,
}

/// A managed entry of the directory that the extraction no longer contains.
#[derive(Debug, Clone, Serialize)]
pub struct Absent {
    pub kind: EntryKind,
    pub dn: Dn,
}

/// The whole plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub changes: Vec<Planned>,
    /// People and structures absent from the extraction, left untouched.
    pub absent: Vec<Absent>,
    pub unchanged: u64,
    /// `unchanged` is a lower bound: a Delta planned on a targeted read
    /// counts the entries it did not read only as far as the safety
    /// rails' verdict needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged_at_least: bool,
    /// Entries left exactly as they are: their record was present but
    /// rejected (or depends on one that was).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// Apply order: phase, then DN (deterministic plans and golden files).
    pub fn sort(&mut self) {
        self.changes.sort_by_key(|c| (c.phase, c.change.dn().key()));
    }
}

/// The phase of an operation: structures before people before the groups
/// that list them; deletes in the reverse order; the control entry last.
/// A person coming back from the departed branch is moved back with the
/// people added (so that the modifies after find them); one leaving is
/// moved out once nothing links to them any more.
pub fn phase(kind: EntryKind, op: &Change) -> u8 {
    match (op, kind) {
        (_, EntryKind::Control) => 9,
        (Change::Add { .. }, EntryKind::Structure) => 0,
        (Change::Add { .. }, k) if k.is_person() => 1,
        (Change::Move { to, .. }, _) if !is_departed_dn(to) => 1,
        (Change::Modify { .. }, k) if !k.is_group() => 2,
        (Change::Add { .. } | Change::Modify { .. }, _) => 3,
        (Change::Delete { .. }, k) if k.is_group() => 4,
        (Change::Move { .. }, _) => 5,
        (Change::Delete { .. }, k) if k.is_person() => 7,
        (Change::Delete { .. }, _) => 8,
    }
}

/// The phase of the link rewrites of people the diff does not keep in step
/// (see `retention`): after every move, before the deletions.
pub const PHASE_RELINK: u8 = 6;

/// True when `dn` is in a departed branch (`…,ou=departed,<base>`).
fn is_departed_dn(dn: &Dn) -> bool {
    crate::schema::in_departed_branch(&dn.key())
}
