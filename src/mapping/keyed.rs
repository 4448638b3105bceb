//! The desired entries of a mapping, found by DN key without a copy of the
//! key (`Keyed`): at an académie's 1.5 million entries, a key string per
//! entry and a B-tree keyed by them were a quarter of the run's memory.

use super::Desired;
use crate::model::{DnTable, HasDn};

impl HasDn for Desired {
    fn dn_str(&self) -> &str {
        self.entry.dn.as_str()
    }
}

/// Desired entries in the order they came, found by DN key.
pub(super) type Keyed = DnTable<Desired>;
