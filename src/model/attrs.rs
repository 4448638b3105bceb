//! The attributes of an entry in one buffer (`Attrs`), and the borrowed
//! views of its values (`Values`, `AttrRef`).

use super::codec::{encode, get_varint, Slot, SlotIter};
use super::names;
use super::store::{self, Store};
use serde::Serialize;
use std::fmt;

/// One attribute taken out of an entry: its display name and its values.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub values: Vec<String>,
}

/// The values of one attribute inside an entry's buffer: a cheap, copyable
/// view that iterates as `&str`.
#[derive(Clone, Copy, Default)]
pub struct Values<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> Values<'a> {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter {
            left: self.count,
            bytes: self.bytes,
            pos: 0,
        }
    }
    pub fn first(&self) -> Option<&'a str> {
        self.iter().next()
    }
    /// Exact (case-sensitive) membership.
    pub fn contains(&self, v: &str) -> bool {
        self.iter().any(|x| x == v)
    }
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Same values in the same order, byte for byte.
impl PartialEq for Values<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.bytes == other.bytes
    }
}

impl<S: AsRef<str>> PartialEq<&[S]> for Values<'_> {
    fn eq(&self, other: &&[S]) -> bool {
        self.count == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<&[S; N]> for Values<'_> {
    fn eq(&self, other: &&[S; N]) -> bool {
        *self == &other[..]
    }
}

impl<'a> IntoIterator for Values<'a> {
    type Item = &'a str;
    type IntoIter = ValuesIter<'a>;
    fn into_iter(self) -> ValuesIter<'a> {
        self.iter()
    }
}

pub struct ValuesIter<'a> {
    left: usize,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = get_varint(self.bytes, &mut self.pos);
        let end = (self.pos + len).min(self.bytes.len());
        let raw = &self.bytes[self.pos.min(end)..end];
        self.pos = end;
        // written from &str only: always UTF-8
        Some(std::str::from_utf8(raw).unwrap_or_default())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ValuesIter<'_> {}

/// One attribute of an entry, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct AttrRef<'a> {
    pub name: &'static str,
    pub values: Values<'a>,
}

/// The attributes of an entry, in one buffer: per attribute its name
/// numbers, its value count and its values, each length-prefixed, sorted by
/// lower-cased name. The sync holds the whole directory and the whole
/// extraction in memory: a string, a vector and an allocation per value cost
/// about five times the data itself at a million entries.
///
/// Once an entry is complete, [`super::Entry::freeze`] moves its buffer into the
/// run's [`super::store::Store`] (when it has one): the bytes then live in a
/// file-backed mapping, not on the heap, and an edit writes the changed
/// buffer again into the store they came from (the heap once it is closed).
#[derive(Clone, Default)]
pub struct Attrs(pub(super) Body);

#[derive(Clone)]
pub(super) enum Body {
    Heap(Vec<u8>),
    Stored(store::Stored),
}

impl Default for Body {
    fn default() -> Self {
        Body::Heap(Vec::new())
    }
}

/// Same attributes, values and spellings.
impl PartialEq for Attrs {
    fn eq(&self, other: &Self) -> bool {
        self.buf() == other.buf()
    }
}

impl Eq for Attrs {}

impl Attrs {
    pub(super) fn buf(&self) -> &[u8] {
        match &self.0 {
            Body::Heap(v) => v,
            Body::Stored(s) => s.bytes(),
        }
    }
    /// Edits the buffer; a stored one is copied out, edited and stored
    /// again in the store it came from (stored bytes never change; the
    /// edited bytes stay on the heap when that store is closed or full).
    pub(super) fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.0 {
            Body::Heap(v) => f(v),
            Body::Stored(s) => {
                let mut v = s.bytes().to_vec();
                f(&mut v);
                self.0 = match s.put_again(&v) {
                    Some(again) => Body::Stored(again),
                    None => Body::Heap(v),
                };
            }
        }
    }
    /// Empty, with room for `bytes` of attributes: an entry built value by
    /// value then grows without a copy per attribute (see [`Attrs::shrink`]).
    pub(super) fn with_room(bytes: usize) -> Attrs {
        Attrs(Body::Heap(Vec::with_capacity(bytes)))
    }
    /// Gives back a heap buffer's spare room.
    pub(super) fn shrink(&mut self) {
        if let Body::Heap(v) = &mut self.0 {
            v.shrink_to_fit();
        }
    }
    /// Moves heap bytes into `store`; stored bytes stay where they are.
    pub(super) fn freeze(&mut self, store: &Store) {
        if let Body::Heap(v) = &self.0 {
            if let Some(s) = store.put(v) {
                self.0 = Body::Stored(s);
            }
        }
    }
    pub(super) fn slots(&self) -> SlotIter<'_> {
        SlotIter {
            buf: self.buf(),
            pos: 0,
        }
    }
    pub(super) fn find_fold(&self, fold: u32) -> Option<Slot> {
        // `slots()`, but an attribute passed over is not decoded further
        // than its length (the hottest loop of a plan)
        let buf = self.buf();
        let mut pos = 0;
        while pos < buf.len() {
            let start = pos;
            let f = get_varint(buf, &mut pos) as u32;
            let disp = get_varint(buf, &mut pos) as u32;
            let len = get_varint(buf, &mut pos);
            let end = (pos + len).min(buf.len());
            if f == fold {
                let count = get_varint(buf, &mut pos);
                return Some(Slot {
                    fold: f,
                    disp,
                    start,
                    values_at: pos.min(end),
                    count,
                    end,
                });
            }
            pos = end;
        }
        None
    }
    pub(super) fn find(&self, name: &str) -> Option<Slot> {
        self.find_fold(names::fold_of(name)?)
    }
    pub(super) fn values_of(&self, s: &Slot) -> Values<'_> {
        Values {
            count: s.count,
            bytes: &self.buf()[s.values_at..s.end],
        }
    }
    /// The attributes, in name order.
    pub fn values(&self) -> impl Iterator<Item = AttrRef<'_>> {
        self.slots().map(|s| AttrRef {
            name: names::spelling(s.disp),
            values: self.values_of(&s),
        })
    }
    pub fn len(&self) -> usize {
        self.slots().count()
    }
    pub fn is_empty(&self) -> bool {
        self.buf().is_empty()
    }
    pub fn remove(&mut self, name: &str) -> Option<Attr> {
        let s = self.find(name)?;
        let out = Attr {
            name: names::spelling(s.disp).to_string(),
            values: self.values_of(&s).to_vec(),
        };
        self.edit(|b| {
            b.drain(s.start..s.end);
        });
        Some(out)
    }
    /// Replaces the attribute `name` by `values` (already sorted and
    /// deduplicated; none removes it), keeping the spelling it had.
    pub(super) fn put(&mut self, name: &str, values: &[&str]) {
        let (fold, disp) = names::intern(name);
        let existing = self.find_fold(fold);
        let disp = existing.as_ref().map_or(disp, |s| s.disp);
        let seg = encode(fold, disp, values);
        self.replace(existing, fold, seg);
    }

    /// Puts the encoded segment `seg` of attribute `fold` in place of
    /// `existing`, or at its rank by name.
    pub(super) fn replace(&mut self, existing: Option<Slot>, fold: u32, seg: Vec<u8>) {
        let (from, to) = match existing {
            Some(s) => (s.start, s.end),
            None => {
                let at = names::with_folded(|folded| {
                    let key = folded(fold);
                    self.slots()
                        .find(|s| folded(s.fold) > key)
                        .map_or(self.buf().len(), |s| s.start)
                });
                (at, at)
            }
        };
        // exact growth: entries live for the whole run, spare capacity
        // would be most of their size
        self.edit(|b| {
            b.reserve_exact(seg.len().saturating_sub(to - from));
            b.splice(from..to, seg);
        });
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values().map(|a| (a.name, a.values)))
            .finish()
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Vals<'a>(Values<'a>);
        impl Serialize for Vals<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut q = s.serialize_seq(Some(self.0.len()))?;
                for v in self.0 {
                    q.serialize_element(v)?;
                }
                q.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        for a in self.values() {
            m.serialize_entry(a.name, &Vals(a.values))?;
        }
        m.end()
    }
}
