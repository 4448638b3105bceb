//! Safety rails (pure): the checks that hold a run back before any write
//! when its plan looks like an accident rather than real life, and the
//! digest that lets an operator approve one reviewed plan and no other.
//!
//! Two families of checks, both per category of entry:
//! - **thresholds** on the people (and structures) that leave in one run:
//!   an absolute count and a percentage of those active in the directory;
//! - **sanity guards** on a Complet: an empty category, a category or a
//!   whole Complet much smaller than the directory, a perimeter school that
//!   vanished. An absent file or a truncated export must never read as
//!   "everyone left".
//!
//! Deletions of people already departed (their deadline came) are not
//! counted: they were counted when they left, and holding them back would
//! break the retention duty.
//!
//! Beyond departures, a third family watches **every kind of change** a
//! damaged extraction could cause at scale: people renamed (a file decoded
//! in the wrong encoding renames everyone), entries modified, classes and
//! groups deleted, entries added far above the population, and records
//! rejected. A rejected record is not a departure, but a Complet whose
//! rejected records cannot even be tied to an id cannot prove anyone's
//! absence: its departures are held. The school-year Complet rebuilds every
//! class: it may modify every pupil and delete every class.

use crate::schema::EntryKind;

mod changes;
mod digest;
mod guards;
mod hold;

pub use changes::{change_guards, ChangeCounts};
pub use digest::digest;
pub use guards::{
    active_counts, active_uais, complet_guards, counted, no_counts, thresholds, unproven_departures,
};
pub use hold::Hold;

/// The categories the rails watch, as the reports name them.
pub const CATEGORIES: [EntryKind; 4] = [
    EntryKind::Structure,
    EntryKind::Pupil,
    EntryKind::Parent,
    EntryKind::Staff,
];

/// Departure limits of one category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most departures (and deletions of active entries) in one run.
    pub max_count: u64,
    /// Most departures as a percentage of the active entries of the category.
    pub max_percent: f64,
}

/// Every setting of the rails (`[safety]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Safety {
    pub pupil: Limits,
    pub parent: Limits,
    pub staff: Limits,
    pub structure: Limits,
    /// The percentage limits count only above this many departures: in a
    /// school of forty pupils, two leaving is not a mass departure.
    pub percent_floor: u64,
    /// Percentage limit on the Complet that starts a school year, when the
    /// leavers of the last class go at once.
    pub school_year_percent: f64,
    /// A Complet whose category (or whole) holds fewer entries than this
    /// ratio of what the directory holds is refused.
    pub complet_min_ratio: f64,
    /// The ratio guard applies from this many active entries on.
    pub guard_floor: u64,
    /// People whose name (`sn` or `givenName`) changes, per category.
    pub renames: Limits,
    /// Entries modified, percentage of the category's active entries
    /// (not limited on the school-year Complet).
    pub max_modified_percent: f64,
    /// Classes and groups deleted (not limited on the school-year Complet).
    pub group_deletions: Limits,
    /// Classes and groups added (not limited on the school-year Complet
    /// nor on a first load).
    pub group_additions: Limits,
    /// Entries added, percentage of the category's active entries (from
    /// `guard_floor` active entries on: a first sync is not held).
    pub max_additions_percent: f64,
    /// Records rejected, percentage of the category's active entries or
    /// records, whichever is larger.
    pub max_rejected_percent: f64,
}

impl Default for Safety {
    fn default() -> Self {
        let l = Limits {
            max_count: 500,
            max_percent: 5.0,
        };
        Safety {
            pupil: l,
            parent: l,
            staff: l,
            structure: Limits {
                max_count: 20,
                max_percent: 5.0,
            },
            percent_floor: 10,
            school_year_percent: 25.0,
            complet_min_ratio: 0.5,
            guard_floor: 20,
            renames: Limits {
                max_count: 500,
                max_percent: 10.0,
            },
            max_modified_percent: 30.0,
            group_deletions: Limits {
                max_count: 100,
                max_percent: 20.0,
            },
            group_additions: Limits {
                max_count: 100,
                max_percent: 20.0,
            },
            max_additions_percent: 50.0,
            max_rejected_percent: 10.0,
        }
    }
}

impl Safety {
    pub fn limits(&self, kind: EntryKind) -> Option<Limits> {
        match kind {
            EntryKind::Pupil => Some(self.pupil),
            EntryKind::Parent => Some(self.parent),
            EntryKind::Staff => Some(self.staff),
            EntryKind::Structure => Some(self.structure),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
