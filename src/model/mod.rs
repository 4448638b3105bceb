//! Shared, I/O-free types: distinguished names, entries and their attributes.
//!
//! Attribute names are matched case-insensitively (as LDAP does) but keep the
//! spelling the mapping chose; values are kept sorted so that plans, LDIF and
//! golden files are deterministic.

pub mod plan;
pub mod store;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// A distinguished name. `key` is the lower-cased form used for comparisons
/// (all RDN attributes the sync uses have case-insensitive matching).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct Dn(String);

impl AsRef<str> for Dn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Dn {
    pub fn new(s: impl Into<String>) -> Self {
        Dn(s.into())
    }
    /// `attr=value,parent` with the value escaped per RFC 4514.
    pub fn child(parent: &Dn, attr: &str, value: &str) -> Self {
        Dn(format!("{attr}={},{}", escape_rdn_value(value), parent.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        dn_key(&self.0)
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Normalised comparison key of a DN string, so that two spellings of one
/// DN give one key (RFC 4514 parsed; spec of issue "DN-special ids"):
/// attribute types lower-cased; each value unescaped (`\\2B`, `\\+` and `+`
/// inside quotes are one character), then compared as `caseIgnoreMatch`
/// compares (RFC 4518: lower case, leading and trailing blanks dropped,
/// inner runs of blanks as one); the AVAs of a multi-valued RDN sorted;
/// then re-escaped one canonical way. slapd returns DNs in its own pretty
/// form (`\\2B` for `+`, `\\3D` for `=`): without this, an entry whose id
/// holds such a character would never match the DN the sync built for it.
pub fn dn_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    let mut first_rdn = true;
    // AVAs of the current RDN: (type, value), only for multi-valued RDNs
    let mut avas: Vec<(String, String)> = Vec::new();
    let mut value_bytes: Vec<u8> = Vec::new();
    loop {
        // attribute type
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let t0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && b[i] != b'+' {
            i += 1;
        }
        let ty = s[t0..i].trim().to_ascii_lowercase();
        value_bytes.clear();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let mut quoted = false;
            while i < b.len() {
                let c = b[i];
                if c == b'\\' && i + 1 < b.len() {
                    let hex = |x: u8| (x as char).to_digit(16);
                    match (hex(b[i + 1]), b.get(i + 2).and_then(|&x| hex(x))) {
                        (Some(h), Some(l)) => {
                            value_bytes.push((h * 16 + l) as u8);
                            i += 3;
                        }
                        _ => {
                            value_bytes.push(b[i + 1]);
                            i += 2;
                        }
                    }
                    continue;
                }
                if c == b'"' {
                    quoted = !quoted;
                    i += 1;
                    continue;
                }
                if !quoted && (c == b',' || c == b'+' || c == b';') {
                    break;
                }
                value_bytes.push(c);
                i += 1;
            }
        }
        let value = normalise_value(&String::from_utf8_lossy(&value_bytes));
        let sep = b.get(i).copied();
        if sep.is_some() {
            i += 1;
        }
        if sep == Some(b'+') || !avas.is_empty() {
            avas.push((ty, value));
            if sep == Some(b'+') {
                continue;
            }
            avas.sort();
            if !first_rdn {
                out.push(',');
            }
            for (n, (t, v)) in avas.drain(..).enumerate() {
                if n > 0 {
                    out.push('+');
                }
                out.push_str(&t);
                out.push('=');
                push_escaped(&mut out, &v);
            }
        } else {
            if !first_rdn {
                out.push(',');
            }
            out.push_str(&ty);
            out.push('=');
            push_escaped(&mut out, &value);
        }
        first_rdn = false;
        if sep.is_none() {
            break;
        }
    }
    out
}

/// A value as `caseIgnoreMatch` sees it: lower case, no leading or trailing
/// blank, inner runs of blanks as one.
fn normalise_value(v: &str) -> String {
    value_key(v).into_owned()
}

/// The key under which slapd's `caseIgnoreMatch` sees a value, made a
/// little coarser where that is the safe side: compatibility-composed
/// (NFKC: `é` precomposed or as `e` + accent, `ﬁ` and `fi`, a no-break
/// space and a space are one), lower-cased, every white space a space,
/// no leading or trailing blank, inner runs of blanks as one. Two values
/// slapd holds for equal must never get two keys here, or the sync would
/// add a value (an entry, a member) the directory already has. Borrowed
/// when already a key (most ASCII values).
pub fn value_key(v: &str) -> Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    let b = v.as_bytes();
    if v.is_ascii() {
        let clean = !b
            .iter()
            .any(|c| c.is_ascii_uppercase() || (c.is_ascii_whitespace() && *c != b' '))
            && !b.starts_with(b" ")
            && !b.ends_with(b" ")
            && !v.contains("  ");
        if clean {
            return Cow::Borrowed(v);
        }
        return Cow::Owned(collapse_blanks(v.chars().map(|c| c.to_ascii_lowercase())));
    }
    // NFKC, then lower case, then NFKC again: lower-casing may leave a
    // sequence that composes (`İ` gives `i` + combining dot)
    let lowered: String = v.nfkc().flat_map(char::to_lowercase).collect();
    Cow::Owned(collapse_blanks(lowered.nfkc()))
}

/// Every white space as a space, none at either end, runs as one.
fn collapse_blanks(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    let mut blank = false;
    for c in chars {
        if c.is_whitespace() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push(' ');
            blank = false;
        }
        out.push(c);
    }
    out
}

/// The canonical escaping of a normalised value inside a key.
fn push_escaped(out: &mut String, v: &str) {
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' | ',' | '+' | '"' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
}

/// Escapes an RDN attribute value (RFC 4514 section 2.4).
pub fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Splits a DN into its first RDN's attribute, its unescaped value and the
/// parent DN. `None` for a DN without `=` or with a multi-valued first RDN.
pub fn split_first_rdn(dn: &str) -> Option<(&str, String, &str)> {
    let (attr, rest) = dn.split_once('=')?;
    let mut raw = Vec::new();
    // unescaped blanks around the value are not part of it
    let mut kept = 0;
    let mut bytes = rest.bytes().enumerate();
    let mut parent = "";
    while let Some((i, b)) = bytes.next() {
        match b {
            b'\\' => {
                let (_, n) = bytes.next()?;
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(n), rest.as_bytes().get(i + 2).and_then(|&c| hex(c))) {
                    (Some(h), Some(l)) => {
                        bytes.next();
                        raw.push((h * 16 + l) as u8);
                    }
                    _ => raw.push(n),
                }
                kept = raw.len();
            }
            b',' => {
                parent = rest[i + 1..].trim_start();
                break;
            }
            b'+' => return None,
            b' ' if raw.is_empty() => {}
            b' ' => raw.push(b),
            _ => {
                raw.push(b);
                kept = raw.len();
            }
        }
    }
    raw.truncate(kept);
    let value = String::from_utf8(raw).ok()?;
    Some((attr.trim(), value, parent))
}

/// Escapes a value for use inside an LDAP search filter (RFC 4515).
pub fn escape_filter_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Entries by DN key, iterated in the order they were inserted. A whole
/// directory is held this way during a sync, its bytes in the entry store
/// in the same order: walking it in insertion order reads the store
/// front to back (a page brought in serves the entries after it), where a
/// hash order would bring in a page per entry.
pub type EntryMap = indexmap::IndexMap<String, Entry>;

/// A set of attribute names, as the numbers entries store: checking an
/// attribute against it is a bit test, not a name lookup.
#[derive(Debug, Clone, Default)]
pub struct FoldSet(Vec<u64>);

impl FoldSet {
    /// The set of `names` (case-insensitive).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut bits = Vec::new();
        for n in names {
            let (fold, _) = names::intern(n);
            let (word, bit) = (fold as usize / 64, fold % 64);
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            bits[word] |= 1u64 << bit;
        }
        FoldSet(bits)
    }
    fn contains(&self, fold: u32) -> bool {
        self.0
            .get(fold as usize / 64)
            .is_some_and(|w| w & (1u64 << (fold % 64)) != 0)
    }
}

/// One attribute taken out of an entry: its display name and its values.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub values: Vec<String>,
}

/// Attribute names, interned for the life of the process: an entry stores
/// two small numbers per attribute instead of a string. `fold` numbers the
/// lower-cased name (what lookups compare), `disp` the spelling as written
/// (what LDIF and reports show). The set of names is bounded by the schema.
mod names {
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::{LazyLock, RwLock};

    /// FNV-1a: names are short and not attacker-chosen, and every attribute
    /// lookup hashes one, so SipHash's cost shows in profiles.
    struct Fnv(u64);

    impl Default for Fnv {
        fn default() -> Self {
            Fnv(0xcbf2_9ce4_8422_2325)
        }
    }

    impl Hasher for Fnv {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }

    type Map<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

    #[derive(Default)]
    struct Table {
        by_spelling: Map<(u32, u32)>,
        by_fold: Map<u32>,
        spellings: Vec<&'static str>,
        folds: Vec<&'static str>,
    }

    static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(Default::default);

    /// `(fold, disp)` of a name.
    pub fn intern(name: &str) -> (u32, u32) {
        if let Ok(t) = TABLE.read() {
            if let Some(&ids) = t.by_spelling.get(name) {
                return ids;
            }
        }
        let mut t = match TABLE.write() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(&ids) = t.by_spelling.get(name) {
            return ids;
        }
        let lower = name.to_ascii_lowercase();
        let fold = match t.by_fold.get(lower.as_str()) {
            Some(&f) => f,
            None => {
                let f = t.folds.len() as u32;
                let leaked: &'static str = Box::leak(lower.into_boxed_str());
                t.folds.push(leaked);
                t.by_fold.insert(leaked, f);
                f
            }
        };
        let disp = t.spellings.len() as u32;
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        t.spellings.push(leaked);
        t.by_spelling.insert(leaked, (fold, disp));
        (fold, disp)
    }

    /// The fold number of a name already interned (`None`: no entry can
    /// hold it), without interning it.
    pub fn fold_of(name: &str) -> Option<u32> {
        let t = TABLE.read().ok()?;
        if let Some(&(f, _)) = t.by_spelling.get(name) {
            return Some(f);
        }
        t.by_fold.get(name.to_ascii_lowercase().as_str()).copied()
    }

    pub fn spelling(disp: u32) -> &'static str {
        TABLE
            .read()
            .ok()
            .and_then(|t| t.spellings.get(disp as usize).copied())
            .unwrap_or("")
    }

    pub fn folded(fold: u32) -> &'static str {
        TABLE
            .read()
            .ok()
            .and_then(|t| t.folds.get(fold as usize).copied())
            .unwrap_or("")
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`; the buffers are only ever written by
/// `put_varint`, so a short read means 0 rather than a panic.
fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
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

/// Where one attribute sits in the buffer.
struct Slot {
    fold: u32,
    disp: u32,
    start: usize,
    values_at: usize,
    count: usize,
    end: usize,
}

/// The attributes of an entry, in one buffer: per attribute its name
/// numbers, its value count and its values, each length-prefixed, sorted by
/// lower-cased name. The sync holds the whole directory and the whole
/// extraction in memory: a string, a vector and an allocation per value cost
/// about five times the data itself at a million entries.
///
/// Once an entry is complete, [`Entry::freeze`] moves its buffer into the
/// [`store`] (when one is open): the bytes then live in a file-backed
/// mapping, not on the heap, and an edit writes the changed buffer there
/// again.
#[derive(Clone, Default)]
pub struct Attrs(Body);

#[derive(Clone)]
enum Body {
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
    fn buf(&self) -> &[u8] {
        match &self.0 {
            Body::Heap(v) => v,
            Body::Stored(s) => s.bytes(),
        }
    }
    /// Edits the buffer; a stored one is copied out, edited and stored
    /// again (stored bytes never change).
    fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.0 {
            Body::Heap(v) => f(v),
            Body::Stored(s) => {
                let mut v = s.bytes().to_vec();
                f(&mut v);
                self.0 = Body::Heap(v);
                self.freeze();
            }
        }
    }
    fn freeze(&mut self) {
        if let Body::Heap(v) = &self.0 {
            if let Some(s) = store::put(v) {
                self.0 = Body::Stored(s);
            }
        }
    }
    fn slots(&self) -> SlotIter<'_> {
        SlotIter {
            buf: self.buf(),
            pos: 0,
        }
    }
    fn find_fold(&self, fold: u32) -> Option<Slot> {
        self.slots().find(|s| s.fold == fold)
    }
    fn find(&self, name: &str) -> Option<Slot> {
        self.find_fold(names::fold_of(name)?)
    }
    fn values_of(&self, s: &Slot) -> Values<'_> {
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
    fn put(&mut self, name: &str, values: &[&str]) {
        let (fold, disp) = names::intern(name);
        let existing = self.find_fold(fold);
        let disp = existing.as_ref().map_or(disp, |s| s.disp);
        let seg = encode(fold, disp, values);
        self.replace(existing, fold, seg);
    }

    /// Puts the encoded segment `seg` of attribute `fold` in place of
    /// `existing`, or at its rank by name.
    fn replace(&mut self, existing: Option<Slot>, fold: u32, seg: Vec<u8>) {
        let (from, to) = match existing {
            Some(s) => (s.start, s.end),
            None => {
                let key = names::folded(fold);
                let at = self
                    .slots()
                    .find(|s| names::folded(s.fold) > key)
                    .map_or(self.buf().len(), |s| s.start);
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

/// One attribute's segment: name numbers, the length of the rest (so a
/// lookup skips an attribute in one step), value count, values. No values:
/// no segment.
fn encode(fold: u32, disp: u32, values: &[&str]) -> Vec<u8> {
    let mut seg = Vec::new();
    encode_into(&mut seg, fold, disp, values);
    seg
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Length of the body of a segment: value count, then each value.
fn body_len(values: &[&str]) -> usize {
    varint_len(values.len())
        + values
            .iter()
            .map(|v| varint_len(v.len()) + v.len())
            .sum::<usize>()
}

/// Length of the whole segment [`encode_into`] writes.
fn segment_len(fold: u32, disp: u32, values: &[&str]) -> usize {
    if values.is_empty() {
        return 0;
    }
    let body = body_len(values);
    varint_len(fold as usize) + varint_len(disp as usize) + varint_len(body) + body
}

/// Appends the segment of one attribute to `out` (nothing for no value).
fn encode_into(out: &mut Vec<u8>, fold: u32, disp: u32, values: &[&str]) {
    if values.is_empty() {
        return;
    }
    let body = body_len(values);
    out.reserve(segment_len(fold, disp, values));
    put_varint(out, fold as usize);
    put_varint(out, disp as usize);
    put_varint(out, body);
    put_varint(out, values.len());
    for v in values {
        put_varint(out, v.len());
        out.extend_from_slice(v.as_bytes());
    }
}

struct SlotIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for SlotIter<'_> {
    type Item = Slot;
    fn next(&mut self) -> Option<Slot> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let fold = get_varint(self.buf, &mut self.pos) as u32;
        let disp = get_varint(self.buf, &mut self.pos) as u32;
        let len = get_varint(self.buf, &mut self.pos);
        let end = (self.pos + len).min(self.buf.len());
        let count = get_varint(self.buf, &mut self.pos);
        let values_at = self.pos.min(end);
        self.pos = end;
        Some(Slot {
            fold,
            disp,
            start,
            values_at,
            count,
            end,
        })
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

/// Equality of two values as slapd's `caseIgnoreMatch` sees it (see
/// [`value_key`]), without allocating for plain ASCII.
pub fn same_value(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || value_key(a) == value_key(b)
}

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

    /// Moves the attributes into the entry store, if one is open: for
    /// entries held for the whole run (the extraction's, the directory's).
    pub fn freeze(&mut self) {
        self.attrs.freeze();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_keys_ignore_case_and_blanks() {
        assert_eq!(dn_key("UID=A-1, ou=People,dc=X"), "uid=a-1,ou=people,dc=x");
        assert_eq!(dn_key("cn=a\\,B,dc=x"), "cn=a\\,b,dc=x");
    }

    #[test]
    fn dn_keys_are_one_per_dn_however_it_is_spelt() {
        // what the sync builds, and what slapd returns for it
        let pairs = [
            (
                "cn=CM1\\+CM2 é\\,A,ou=g,dc=x",
                "CN=CM1\\2BCM2 \\C3\\A9\\2CA, ou=g,dc=x",
            ),
            ("cn=G\\=1\\;x\\\"y,dc=x", "cn=G\\3D1\\3Bx\\22y,dc=x"),
            ("uid=S-9\\,ou\\=x,dc=x", "uid=S-9\\2Cou\\3Dx,dc=x"),
            ("uid=S-9\\+cn\\=x,dc=x", "uid=s-9\\2bcn=x,dc=x"),
            ("uid=S-9=x,dc=x", "uid=S-9\\3Dx,dc=x"),
            ("cn=a  b,dc=x", "cn=A b ,dc=x"),
            ("cn=\\#1,dc=x", "cn=\\231,dc=x"),
            ("cn=a+sn=b,dc=x", "SN=B+cn=A,dc=x"),
            ("cn=\\ a\\ ,dc=x", "cn=a,dc=x"),
            ("cn=\"a,b\",dc=x", "cn=a\\,b,dc=x"),
        ];
        for (a, b) in pairs {
            assert_eq!(dn_key(a), dn_key(b), "{a} vs {b}");
        }
        assert_ne!(dn_key("cn=a+b,dc=x"), dn_key("cn=a\\+b,dc=x"));
        assert_ne!(dn_key("cn=a\\,b,dc=x"), dn_key("cn=a,cn=b,dc=x"));
        assert_eq!(dn_key(""), "");
        // the key of a key is itself
        for (a, _) in pairs {
            assert_eq!(dn_key(&dn_key(a)), dn_key(a));
        }
    }

    #[test]
    fn values_slapd_holds_for_equal_have_one_key() {
        // composed or decomposed accents, compatibility forms, no-break and
        // other spaces, case: slapd's caseIgnoreMatch sees one value
        for (a, b) in [
            ("\u{e9}t\u{e9}", "e\u{301}te\u{301}"),
            ("\u{fb01}x", "FIX"),
            ("K\u{212a}", "kk"),
            ("9\u{a0}z", "9 z"),
            ("a\u{2003}\u{3000}b", "A B"),
            ("\tx  y ", "X y"),
            ("\u{c9}LODIE", "\u{e9}lodie"),
        ] {
            assert_eq!(value_key(a), value_key(b), "{a:?} vs {b:?}");
            assert!(same_value(a, b), "{a:?} vs {b:?}");
            assert_eq!(
                dn_key(&format!("uid={a},dc=x")),
                dn_key(&format!("UID={b},dc=x"))
            );
        }
        for (a, b) in [("stra\u{df}e", "strasse"), ("x", "y"), ("ab", "a b")] {
            assert_ne!(value_key(a), value_key(b), "{a:?} vs {b:?}");
        }
        // most values are their own key: no allocation
        assert!(matches!(value_key("uid=s-1,ou=people"), Cow::Borrowed(_)));
        // a key's key is itself
        for v in ["\u{130}x", "e\u{301}", "\u{fb01}", " A\u{a0} b "] {
            assert_eq!(value_key(&value_key(v)), value_key(v), "{v:?}");
        }
        let mut e = Entry::new(Dn::new("uid=a,dc=x"));
        e.add("cn", ["\u{e9}t\u{e9}", "e\u{301}te\u{301}", "ETE"]);
        assert_eq!(e.get("cn").unwrap().len(), 2);
    }

    #[test]
    fn rdn_values_are_escaped() {
        assert_eq!(escape_rdn_value("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rdn_value(" #x "), "\\ #x\\ ");
        assert_eq!(escape_rdn_value("#x"), "\\#x");
        assert_eq!(
            Dn::child(&Dn::new("dc=x"), "cn", "a=b").as_str(),
            "cn=a\\=b,dc=x"
        );
    }

    #[test]
    fn first_rdn_is_split_and_unescaped() {
        let dn = Dn::child(&Dn::new("ou=people,dc=x"), "uid", "S-1,2 ");
        let (a, v, parent) = split_first_rdn(dn.as_str()).unwrap();
        assert_eq!((a, v.as_str(), parent), ("uid", "S-1,2 ", "ou=people,dc=x"));
        let (_, v, _) = split_first_rdn("cn=\\41\\c3\\a9, dc=x").unwrap();
        assert_eq!(v, "Aé");
        assert!(split_first_rdn("cn=a+sn=b,dc=x").is_none());
        assert!(split_first_rdn("nonsense").is_none());
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(escape_filter_value("a*(b)\\"), "a\\2a\\28b\\29\\5c");
    }

    #[test]
    fn entry_dedups_case_insensitively_and_sorts() {
        let mut e = Entry::new(Dn::new("dc=x"));
        e.add("sn", ["b", "A", "a", ""]);
        assert_eq!(e.get("SN").unwrap().to_vec(), ["A", "b"]);
        e.add("mail", Vec::<String>::new());
        assert!(e.get("mail").is_none());
    }

    #[test]
    fn attributes_keep_order_spelling_and_values_through_edits() {
        let mut e = Entry::new(Dn::new("dc=x"));
        e.add("sn", ["Durand"]);
        e.add("objectClass", ["top", "person"]);
        e.add("cn", ["A B"]);
        e.add("SN", ["durand", "Dupont"]);
        let names: Vec<&str> = e.attrs.values().map(|a| a.name).collect();
        assert_eq!(names, ["cn", "objectClass", "sn"]);
        assert_eq!(e.get("sn").unwrap().to_vec(), ["Dupont", "Durand"]);
        e.remove_values("objectclass", &["PERSON".to_string()]);
        assert_eq!(e.get("objectClass").unwrap().to_vec(), ["top"]);
        let long = "é".repeat(300);
        e.set("description", long.clone());
        assert_eq!(e.first("Description"), Some(long.as_str()));
        let gone = e.remove("cn").unwrap();
        assert_eq!(
            (gone.name.as_str(), gone.values),
            ("cn", vec!["A B".to_string()])
        );
        e.remove_values("objectClass", &["top".to_string()]);
        assert!(e.get("objectClass").is_none());
        assert_eq!(e.attrs.len(), 2);
        assert_eq!(
            serde_json::to_string(&e.attrs).unwrap(),
            format!(r#"{{"description":["{long}"],"sn":["Dupont","Durand"]}}"#)
        );
        let members: Vec<String> = (0..40).map(|i| format!("uid=u{i},dc=x")).collect();
        e.add("member", members.iter().cloned());
        e.add("member", ["UID=U3,dc=x"]);
        assert_eq!(e.get("member").unwrap().len(), 40);
        // built in one go, the same entry as attribute by attribute
        let attrs: Vec<(String, Vec<String>)> = e
            .attrs
            .values()
            .map(|a| (a.name.to_uppercase(), a.values.to_vec()))
            .collect();
        let mut again = Entry::from_attrs(
            e.dn.clone(),
            attrs
                .iter()
                .map(|(n, v)| (n.as_str(), v.iter().map(String::as_str))),
        );
        assert_eq!(
            format!("{:?}", again.attrs).to_lowercase(),
            format!("{:?}", e.attrs).to_lowercase()
        );
        again.add("DESCRIPTION", ["x"]);
        assert_eq!(again.get("description").unwrap().len(), 2);
    }
}
