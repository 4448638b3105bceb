//! The vocabulary every stage shares: distinguished names, entries and
//! their attributes, and the store a run opens for the bytes of its entries.
//!
//! Attribute names are matched case-insensitively (as LDAP does) but keep the
//! spelling the mapping chose; values are kept sorted so that plans, LDIF and
//! golden files are deterministic.
//!
//! | File | What it holds |
//! |---|---|
//! | `dn.rs` | [`Dn`], its comparison key [`dn_key`], RDN escaping and splitting |
//! | `matching.rs` | value equality as slapd's `caseIgnoreMatch` sees it ([`value_key`]) |
//! | `entry.rs` | [`Entry`] and [`EntryMap`], a whole tree of them |
//! | `attrs.rs` | [`Attrs`], an entry's attributes in one buffer, and its views |
//! | `codec.rs` | the byte format of that buffer (varints, one segment per attribute) |
//! | `names.rs` | attribute names interned as numbers, [`FoldSet`] |
//! | `table.rs` | [`DnTable`], entries by DN key without a copy of the key |
//! | `store.rs` | [`Store`], the file-backed store a run's frozen entries keep their bytes in |
//!
//! Everything is re-exported here: callers write `crate::model::Entry`,
//! never the file an item lives in.

pub mod plan;
pub mod store;

mod attrs;
mod codec;
mod dn;
mod entry;
mod matching;
mod names;
mod table;

pub use attrs::{Attr, AttrRef, Attrs, Values, ValuesIter};
pub use dn::{
    cmp_plain_keys, dn_key, escape_rdn_value, hash_key, key_is_lower_case, split_first_rdn, Dn,
};
#[cfg(test)]
pub(crate) use entry::test_entry;
pub use entry::{Entry, EntryMap};
pub use matching::{same_strictly, same_value, value_key};
pub use names::FoldSet;
pub use store::Store;
pub use table::{DnTable, HasDn};

#[cfg(test)]
mod tests;
