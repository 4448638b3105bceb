//! An LDAP entry as the sync sees it (`Entry`), and the map that holds a
//! whole tree of them (`EntryMap`).

use super::attrs::{Attrs, Body, Values};
use super::codec::{encode, encode_into, segment_len, SlotIter};
use super::matching::{plain, same_value, value_key};
use super::names::{self, FoldSet};
use super::store::Store;
use super::{Attr, Dn};
use serde::Serialize;

/// Entries by DN key, iterated in the order they were inserted. A whole
/// directory is held this way during a sync, its bytes in the entry store
/// in the same order: walking it in insertion order reads the store
/// front to back (a page brought in serves the entries after it), where a
/// hash order would bring in a page per entry.
pub type EntryMap = super::DnTable<Entry>;

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

/// One attribute of an entry being built: its name and where its values
/// sit in the entry's vector of values.
struct Part {
    folded: &'static str,
    fold: u32,
    disp: u32,
    from: usize,
    to: usize,
}

/// A plain value hashed and compared ignoring ASCII case (see [`plain`]):
/// a set of them without a lower-cased copy of each.
struct Caseless<'a>(&'a str);

impl std::hash::Hash for Caseless<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for b in self.0.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.write_u8(0xff);
    }
}

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

/// `vals[from..]` (no empty value) as [`merge_values`] leaves an empty
/// list it adds them to: duplicates for `caseIgnoreMatch` dropped (the
/// first spelling stays), then sorted. Plain values (most) are compared
/// ignoring ASCII case, which for them is the same equality, without a
/// key per value; any other value takes `merge_values` itself.
fn dedup_sort<'a>(vals: &mut Vec<&'a str>, from: usize) {
    let n = vals.len() - from;
    if n < 2 {
        return;
    }
    if !vals[from..].iter().all(|v| plain(v)) {
        let incoming: Vec<&'a str> = vals.drain(from..).collect();
        let mut all = Vec::with_capacity(incoming.len());
        merge_values(&mut all, incoming.into_iter());
        vals.extend(all);
        return;
    }
    let mut kept = from;
    if n <= 16 {
        for i in from..vals.len() {
            let v = vals[i];
            if !vals[from..kept].iter().any(|x| x.eq_ignore_ascii_case(v)) {
                vals[kept] = v;
                kept += 1;
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        for i in from..vals.len() {
            let v = vals[i];
            if seen.insert(Caseless(v)) {
                vals[kept] = v;
                kept += 1;
            }
        }
    }
    vals.truncate(kept);
    let range = &mut vals[from..];
    if !range.is_sorted() {
        range.sort_unstable();
    }
}

/// An attribute name's numbers and folded spelling ([`names`]).
#[derive(Clone, Copy)]
struct Name {
    spelling: &'static str,
    fold: u32,
    disp: u32,
    folded: &'static str,
}

/// FNV-1a, as `names` hashes: short names, not attacker-chosen.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameCache = std::collections::HashMap<&'static str, Name, std::hash::BuildHasherDefault<Fnv>>;

thread_local! {
    /// The names this thread has built entries with, by spelling: a read
    /// meets the same few dozen names on every entry, and `names` takes a
    /// lock (twice: numbers, then folded spelling) for each.
    static NAMES: std::cell::RefCell<NameCache> = Default::default();
    /// The names of the last entry built, in the order they came: the
    /// entries of a read mostly come with the same names in the same
    /// order, found here by one comparison each.
    static RECENT: std::cell::RefCell<Vec<Name>> = Default::default();
}

/// [`names::intern`] and [`names::folded`] of `name`, from this thread's
/// table once seen.
fn name_of(name: &str) -> Name {
    let cached = NAMES.with(|t| t.try_borrow().ok().and_then(|t| t.get(name).copied()));
    if let Some(n) = cached {
        return n;
    }
    let (fold, disp) = names::intern(name);
    // the key: the interned spelling, which lives as long as the process
    let spelling = names::spelling(disp);
    let n = Name {
        spelling,
        fold,
        disp,
        folded: names::folded(fold),
    };
    if spelling == name {
        NAMES.with(|t| {
            if let Ok(mut t) = t.try_borrow_mut() {
                t.insert(spelling, n);
            }
        });
    }
    n
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

    /// An entry about to be built attribute by attribute, with room for
    /// `bytes` of them; [`Entry::shrink`] (or [`Entry::freeze`]) once
    /// built, or the room stays taken for as long as the entry lives.
    pub fn with_room(dn: Dn, bytes: usize) -> Self {
        Entry {
            dn,
            attrs: Attrs::with_room(bytes),
        }
    }

    /// Gives back the room [`Entry::with_room`] left unused (entries on the
    /// heap live for the whole run).
    pub fn shrink(&mut self) {
        self.attrs.shrink();
    }

    /// Adds values to an attribute, dropping empty strings and duplicates
    /// (case-insensitively: most directory attributes match case-insensitively
    /// and slapd refuses two values that match).
    pub fn add<I, S>(&mut self, name: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // borrowed as given: a person's entry is built from a score of
        // these, and a copy of each value was a tenth of the mapping
        let incoming: Vec<S> = values
            .into_iter()
            .filter(|v| !v.as_ref().is_empty())
            .collect();
        if incoming.is_empty() {
            return;
        }
        let current = self.attrs.find(name);
        let mut all: Vec<&str> = match &current {
            Some(s) => self.attrs.values_of(s).iter().collect(),
            None => Vec::with_capacity(incoming.len()),
        };
        if all.is_empty() && incoming.len() == 1 {
            // one value: nothing to merge nor sort
            all.push(incoming[0].as_ref());
        } else {
            merge_values(&mut all, incoming.iter().map(AsRef::as_ref));
        }
        let (fold, disp) = names::intern(name);
        let disp = current.as_ref().map_or(disp, |s| s.disp);
        let seg = encode(fold, disp, &all);
        self.attrs.replace(current, fold, seg);
    }

    /// An entry built in one go from its attributes (a search result):
    /// one buffer written once, instead of an insertion per attribute.
    /// The same entry as [`Entry::add`] of each attribute in turn would
    /// make, for less: every value of the entry in one vector, attribute
    /// names looked up in a per-thread table ([`name_of`]), duplicates
    /// found without a key per value when the values are plain ASCII
    /// ([`dedup_sort`]), the buffer sized exactly.
    pub fn from_attrs<'a, V>(dn: Dn, attrs: impl IntoIterator<Item = (&'a str, V)>) -> Entry
    where
        V: IntoIterator<Item = &'a str>,
    {
        let attrs = attrs.into_iter();
        // every value of the entry, attribute after attribute
        let mut vals: Vec<&'a str> = Vec::with_capacity(32);
        let mut parts: Vec<Part> = Vec::with_capacity(attrs.size_hint().0);
        RECENT.with(|recent| {
            let mut recent = recent.try_borrow_mut().ok();
            for (name, values) in attrs {
                let from = vals.len();
                vals.extend(values.into_iter().filter(|v| !v.is_empty()));
                if vals.len() == from {
                    continue;
                }
                dedup_sort(&mut vals, from);
                let i = parts.len();
                let n = match recent.as_deref_mut() {
                    Some(r) => match r.get(i) {
                        Some(n) if n.spelling == name => *n,
                        _ => {
                            let n = name_of(name);
                            if n.spelling == name && i <= r.len() {
                                r.truncate(i);
                                r.push(n);
                            }
                            n
                        }
                    },
                    None => name_of(name),
                };
                parts.push(Part {
                    folded: n.folded,
                    fold: n.fold,
                    disp: n.disp,
                    from,
                    to: vals.len(),
                });
            }
        });
        // servers mostly send them in the order the sync wrote them
        if !parts.is_sorted_by(|a, b| a.folded <= b.folded) {
            parts.sort_by(|a, b| a.folded.cmp(b.folded));
        }
        let mut e = Entry::new(dn);
        if parts.windows(2).any(|w| w[0].fold == w[1].fold) {
            // one attribute under two spellings: merge the slow way
            for p in &parts {
                e.add(names::spelling(p.disp), vals[p.from..p.to].iter().copied());
            }
            return e;
        }
        // sized exactly: one allocation per entry, none wasted
        let size = parts
            .iter()
            .map(|p| segment_len(p.fold, p.disp, &vals[p.from..p.to]))
            .sum();
        let mut buf = Vec::with_capacity(size);
        for p in &parts {
            encode_into(&mut buf, p.fold, p.disp, &vals[p.from..p.to]);
        }
        e.attrs = Attrs(Body::Heap(buf));
        e
    }

    pub fn set(&mut self, name: &str, value: impl AsRef<str>) {
        let v = value.as_ref();
        if v.is_empty() {
            self.attrs.remove(name);
        } else {
            self.attrs.put(name, &[v]);
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
    fn has_values(&self, attr: &str, values: &[&str]) -> u32 {
        let mut found = 0;
        for v in self.get(attr).unwrap_or_default().iter() {
            for (i, want) in values.iter().take(32).enumerate() {
                if v.eq_ignore_ascii_case(want) {
                    found |= 1 << i;
                }
            }
        }
        found
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
