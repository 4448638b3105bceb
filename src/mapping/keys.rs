//! A set of DN keys that answers "is this DN, however written, one of
//! them?" mostly without building the DN's key: the scope of a Delta and
//! the class lists of an overlay ask it of every member of every class
//! they look at.

use crate::model::{dn_key, value_key};
use std::collections::HashSet;

/// A set of DN keys, with cheap first looks: the first RDN's attribute
/// type, then its value as `caseIgnoreMatch` sees it (a DN written with
/// escapes, quotes or the characters a key escapes is always looked at in
/// full).
#[derive(Default)]
pub(crate) struct Keys {
    keys: HashSet<String>,
    /// First RDN attribute types, lower case (people's `uid`: a link to a
    /// school, `ou=…`, is passed over without a key made).
    types: HashSet<String>,
    firsts: HashSet<String>,
}

fn first_type(dn: &str) -> Option<String> {
    dn.split_once('=')
        .map(|(t, _)| t.trim().to_ascii_lowercase())
}

fn first_value(dn: &str) -> Option<&str> {
    let (_, rest) = dn.split_once('=')?;
    Some(rest.split([',', ';']).next().unwrap_or(rest))
}

/// `f` of `value_key(v)`: the first value as `dn_key` sees it (Unicode
/// lower case, NFKC, blanks collapsed: an ASCII-only lower-casing misses
/// `É` against the key's `é`). A short ASCII value whose blanks need
/// nothing is lower-cased on the stack: a look at a class's members made
/// one string per member, and classes are read by the ten thousand.
fn with_value_key<R>(v: &str, f: impl FnOnce(&str) -> R) -> R {
    const SHORT: usize = 64;
    let b = v.as_bytes();
    let plain = b.len() <= SHORT
        && v.is_ascii()
        && !b.starts_with(b" ")
        && !b.ends_with(b" ")
        && !v.contains("  ")
        && !b.iter().any(|c| *c != b' ' && (*c as char).is_whitespace());
    if plain {
        let mut buf = [0u8; SHORT];
        for (d, c) in buf.iter_mut().zip(b) {
            *d = c.to_ascii_lowercase();
        }
        if let Ok(k) = std::str::from_utf8(&buf[..b.len()]) {
            return f(k);
        }
    }
    f(&value_key(v))
}

impl Keys {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = &String> {
        self.keys.iter()
    }
    pub(crate) fn insert(&mut self, key: &str) -> bool {
        if let Some(f) = first_value(key) {
            with_value_key(f, |k| self.firsts.insert(k.to_string()));
        }
        if let Some(t) = first_type(key) {
            self.types.insert(t);
        }
        self.keys.insert(key.to_string())
    }
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
    /// The key of `dn` when it is in the set.
    pub(crate) fn holds(&self, dn: &str) -> Option<String> {
        // a key escapes these: its first value is not the one written
        let plain = !dn.contains(['\\', '"', '+', '<', '>', ';', '#', '\0']);
        if plain {
            // (a type written as an OID is looked at in full)
            let typed = dn.split_once('=').is_some_and(|(t, _)| {
                let t = t.trim();
                t.starts_with(|c: char| c.is_ascii_digit())
                    || self.types.iter().any(|k| k.eq_ignore_ascii_case(t))
            });
            let known = |f: &str| with_value_key(f, |k| self.firsts.contains(k));
            if !typed || !first_value(dn).is_some_and(known) {
                return None;
            }
        }
        let k = dn_key(dn);
        self.keys.contains(&k).then_some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_s_key_on_the_stack_is_its_key() {
        for v in [
            "AC-CRETEIL-1002",
            "ac-creteil-1002",
            " A  b ",
            "a\tb",
            "a\u{b}b",
            "Élève",
            &"X".repeat(65),
            "",
        ] {
            assert_eq!(with_value_key(v, str::to_string), value_key(v), "{v:?}");
        }
    }

    #[test]
    fn keys_find_a_dn_written_otherwise_than_its_key() {
        let mut k = Keys::default();
        for dn in [
            "uid=AC-CRETEIL-ÉLÈVE1,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-A  B,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-X\\<Y,ou=people,dc=example,dc=org",
            "uid=\\#AC,ou=people,dc=example,dc=org",
        ] {
            k.insert(&dn_key(dn));
        }
        for dn in [
            "uid=AC-CRETEIL-ÉLÈVE1,ou=people,dc=example,dc=org",
            "uid=ac-creteil-élève1,ou=People,dc=example,dc=org",
            // decomposed É: the same value to the directory
            "uid=AC-CRETEIL-E\u{301}LE\u{300}VE1,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-A B,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-a   b,ou=people,dc=example,dc=org",
            "uid=AC-CRETEIL-X\\<Y,ou=people,dc=example,dc=org",
            "uid=\\#AC,ou=people,dc=example,dc=org",
        ] {
            assert!(k.holds(dn).is_some(), "{dn}");
        }
        assert!(k
            .holds("uid=AC-CRETEIL-ÉLÈVE2,ou=people,dc=example,dc=org")
            .is_none());
    }
}
