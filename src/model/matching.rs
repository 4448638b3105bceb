//! Equality of values as slapd's `caseIgnoreMatch` sees it: the key of a
//! value (DN keys and entry values both go through it).

use std::borrow::Cow;

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
            .any(|c| c.is_ascii_uppercase() || ((*c as char).is_whitespace() && *c != b' '))
            && !b.starts_with(b" ")
            && !b.ends_with(b" ")
            && !v.contains("  ");
        if clean {
            return Cow::Borrowed(v);
        }
        let mut out = String::with_capacity(v.len());
        let mut blank = false;
        for &c in b {
            if (c as char).is_whitespace() {
                blank = !out.is_empty();
                continue;
            }
            if blank {
                out.push(' ');
                blank = false;
            }
            out.push(c.to_ascii_lowercase() as char);
        }
        return Cow::Owned(out);
    }
    // NFKC, then lower case, then NFKC again: lower-casing may leave a
    // sequence that composes
    let mut lowered = String::with_capacity(v.len());
    for c in v.nfkc() {
        match c {
            // slapd lower-cases by the simple mapping of its Unicode
            // tables: `İ` is `i` (it finds `İD1` for `id1`), where Rust's
            // full mapping gives `i` and a combining dot
            'İ' => lowered.push('i'),
            // its tables predate the capital sharp s: `ẞ` is not `ß` there
            'ẞ' => lowered.push(c),
            c => lowered.extend(c.to_lowercase()),
        }
    }
    Cow::Owned(collapse_blanks(lowered.nfkc()))
}

/// Every white space as a space, none at either end, runs as one.
fn collapse_blanks(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::with_capacity(chars.size_hint().0);
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

/// Equality of two values as slapd's `caseIgnoreMatch` sees it (see
/// [`value_key`]), without allocating for plain ASCII.
pub fn same_value(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    // two plain values differing beyond ASCII case have two keys: the
    // mapper compares every new value of an entry this way
    !(plain(a) && plain(b)) && value_key(a) == value_key(b)
}

/// Equality never coarser than slapd's `caseIgnoreMatch` as OpenLDAP
/// applies it: ASCII case aside, and spaces (U+0020) at either end aside —
/// not tabs, line ends or other blanks, which slapd's filters do not
/// ignore. For deciding what belongs to this source (its `aafSyncSource`,
/// its jointures): [`same_value`] is coarser on purpose (a value slapd
/// holds for equal must never be written twice), but here coarser would
/// claim, then change or delete, an entry the server does not give as
/// ours. Stricter is the safe side: such an entry stays someone else's.
pub fn same_strictly(a: &str, b: &str) -> bool {
    a.trim_matches(' ')
        .eq_ignore_ascii_case(b.trim_matches(' '))
}

/// Whether `v` is its own value key once lower-cased: printable ASCII,
/// blanks single spaces inside it. Two such values are equal for
/// [`same_value`] (and have one [`value_key`]) exactly when they are
/// equal ignoring ASCII case.
pub fn plain(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter().all(|c| (b' '..=b'~').contains(c))
        && !b.starts_with(b" ")
        && !b.ends_with(b" ")
        && !b.windows(2).any(|w| w == b"  ")
}
