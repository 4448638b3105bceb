//! Shared, I/O-free types: distinguished names, entries and their attributes.
//!
//! Attribute names are matched case-insensitively (as LDAP does) but keep the
//! spelling the mapping chose; values are kept sorted so that plans, LDIF and
//! golden files are deterministic.

pub mod store;

mod attrs;
mod codec;
mod dn;
mod entry;
mod matching;
mod names;

pub use attrs::{Attr, AttrRef, Attrs, Values, ValuesIter};
pub use dn::{dn_key, escape_filter_value, escape_rdn_value, split_first_rdn, Dn};
#[cfg(test)]
pub(crate) use entry::test_entry;
pub use entry::{Entry, EntryMap};
pub use matching::{same_value, value_key};
pub use names::FoldSet;

#[cfg(test)]
mod tests;
