//! An LDAP entry as the sync sees it (`Entry`), and the map that holds a
//! whole tree of them (`EntryMap`).

use super::attrs::{Attrs, Body, Values};
use super::codec::{encode, encode_into, segment_len, SlotIter};
use super::matching::{same_value, value_key};
use super::names::{self, FoldSet};
use super::store::Store;
use super::{Attr, Dn};
use serde::Serialize;

/// Entries by DN key, iterated in the order they were inserted. A whole
/// directory is held this way during a sync, its bytes in the entry store
/// in the same order: walking it in insertion order reads the store
/// front to back (a page brought in serves the entries after it), where a
/// hash order would bring in a page per entry.
pub type EntryMap = indexmap::IndexMap<String, Entry>;

/// Adds `incoming` to `all` without empty values or case-insensitive
/// duplicates (the first spelling stays), then sorts.
fn merge_values<'a>(all: &mut Vec<&'a str>, incoming: impl Iterator<Item = &'a str>) {
    let incoming: Vec<&str> = incoming.filter(|v| !v.is_empty()).collect();
    if all.len() + incoming.len() <= 16 {
        // most attributes hold a value or a few: compare in place
        for v in incoming {
            if !all.iter().any(|x| same_value(x, v)) {
                all.push(v);
            }
        }
    } else {
        // long lists (group members): one set, not a scan per value
        let mut seen: std::collections::HashSet<String> =
            all.iter().map(|x| value_key(x).into_owned()).collect();
        for v in incoming {
            if seen.insert(value_key(v).into_owned()) {
                all.push(v);
            }
        }
    }
    all.sort_unstable();
}

/// An LDAP entry as the sync sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub dn: Dn,
    pub attrs: Attrs,
}

impl Entry {
    pub fn new(dn: Dn) -> Self {
        Entry {
            dn,
            attrs: Attrs::default(),
        }
    }

    /// Adds values to an attribute, dropping empty strings and duplicates
    /// (case-insensitively: most directory attributes match case-insensitively
    /// and slapd refuses two values that match).
    pub fn add<I, S>(&mut self, name: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let incoming: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v: &String| !v.is_empty())
            .collect();
        if incoming.is_empty() {
            return;
        }
        let current = self.attrs.find(name);
        let mut all: Vec<&str> = match &current {
            Some(s) => self.attrs.values_of(s).iter().collect(),
            None => Vec::new(),
        };
        merge_values(&mut all, incoming.iter().map(String::as_str));
        let (fold, disp) = names::intern(name);
        let disp = current.as_ref().map_or(disp, |s| s.disp);
        let seg = encode(fold, disp, &all);
        self.attrs.replace(current, fold, seg);
    }

    /// An entry built in one go from its attributes (a search result):
    /// one buffer written once, instead of an insertion per attribute.
    pub fn from_attrs<'a, V>(dn: Dn, attrs: impl IntoIterator<Item = (&'a str, V)>) -> Entry
    where
        V: IntoIterator<Item = &'a str>,
    {
        let mut parts: Vec<(&'static str, u32, u32, Vec<&str>)> = Vec::new();
        for (name, values) in attrs {
            let mut vals = Vec::new();
            merge_values(&mut vals, values.into_iter());
            if vals.is_empty() {
                continue;
            }
            let (fold, disp) = names::intern(name);
            parts.push((names::folded(fold), fold, disp, vals));
        }
        parts.sort_by(|a, b| a.0.cmp(b.0));
        let mut e = Entry::new(dn);
        if parts.windows(2).any(|w| w[0].1 == w[1].1) {
            // one attribute under two spellings: merge the slow way
            for (_, _, disp, vals) in parts {
                e.add(names::spelling(disp), vals);
            }
            return e;
        }
        // sized exactly: one allocation per entry, none wasted
        let size = parts
            .iter()
            .map(|(_, fold, disp, vals)| segment_len(*fold, *disp, vals))
            .sum();
        let mut buf = Vec::with_capacity(size);
        for (_, fold, disp, vals) in &parts {
            encode_into(&mut buf, *fold, *disp, vals);
        }
        e.attrs = Attrs(Body::Heap(buf));
        e
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let v = value.into();
        if v.is_empty() {
            self.attrs.remove(name);
        } else {
            self.attrs.put(name, &[&v]);
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Attr> {
        self.attrs.remove(name)
    }

    /// Removes some values (case-insensitively); the attribute goes when empty.
    pub fn remove_values(&mut self, name: &str, values: &[String]) {
        let Some(s) = self.attrs.find(name) else {
            return;
        };
        let fold = s.fold;
        let kept: Vec<&str> = self
            .attrs
            .values_of(&s)
            .iter()
            .filter(|v| !values.iter().any(|x| same_value(x, v)))
            .collect();
        let seg = encode(s.fold, s.disp, &kept);
        self.attrs.replace(Some(s), fold, seg);
    }

    /// Moves the attributes into the run's entry store `store`: for
    /// entries held for the whole run (the extraction's, the directory's).
    /// Later edits go back to that store ([`Attrs`]).
    pub fn freeze(&mut self, store: &Store) {
        self.attrs.freeze(store);
    }

    /// Whether both entries hold the same values, in the same order and
    /// byte for byte, for every attribute of `set` (spelling aside): one
    /// pass over each buffer, no name lookup.
    pub fn same_on(&self, other: &Entry, set: &FoldSet) -> bool {
        let (a, b) = (self.attrs.buf(), other.attrs.buf());
        let mut x = SlotIter { buf: a, pos: 0 }.filter(|s| set.contains(s.fold));
        let mut y = SlotIter { buf: b, pos: 0 }.filter(|s| set.contains(s.fold));
        loop {
            match (x.next(), y.next()) {
                (None, None) => return true,
                (Some(s), Some(t))
                    if s.fold == t.fold
                        && s.count == t.count
                        && a.get(s.values_at..s.end) == b.get(t.values_at..t.end) => {}
                _ => return false,
            }
        }
    }

    /// Whether every attribute of `set` this entry has, `other` has too.
    pub fn present_in(&self, other: &Entry, set: &FoldSet) -> bool {
        self.attrs
            .slots()
            .filter(|s| set.contains(s.fold))
            .all(|s| other.attrs.find_fold(s.fold).is_some())
    }

    pub fn get(&self, name: &str) -> Option<Values<'_>> {
        let s = self.attrs.find(name)?;
        Some(self.attrs.values_of(&s))
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.first())
    }

    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.get(name)
            .is_some_and(|vs| vs.iter().any(|v| v.eq_ignore_ascii_case(value)))
    }
}

/// An entry from `(attribute, values)` pairs, for unit tests.
#[cfg(test)]
pub(crate) fn test_entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
    let mut e = Entry::new(Dn::new(dn));
    for (a, vs) in attrs {
        e.add(a, vs.iter().copied());
    }
    e
}

/// An entry seen through the schema's vocabulary (`EntryKind::of`,
/// `State::of`): `schema` comes before `model`, so the impl is ours.
impl crate::schema::Attributes for Entry {
    fn first(&self, attr: &str) -> Option<&str> {
        Entry::first(self, attr)
    }
    fn has_value(&self, attr: &str, value: &str) -> bool {
        Entry::has_value(self, attr, value)
    }
}
