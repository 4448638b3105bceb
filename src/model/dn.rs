//! Distinguished names: the `Dn` type, the comparison key of a DN
//! (`dn_key`, RFC 4514 parsed and RFC 4518 compared), RDN escaping and
//! splitting.

use super::matching::value_key;
use serde::Serialize;
use std::fmt;

/// A distinguished name. `key` is the lower-cased form used for comparisons
/// (all RDN attributes the sync uses have case-insensitive matching).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct Dn(Box<str>);

impl AsRef<str> for Dn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Dn {
    pub fn new(s: impl Into<String>) -> Self {
        // no spare room, and no capacity field: a directory and its
        // mapped tree hold three million of these for the whole run
        Dn(s.into().into_boxed_str())
    }
    /// `attr=value,parent` with the value escaped per RFC 4514.
    pub fn child(parent: &Dn, attr: &str, value: &str) -> Self {
        // sized exactly: a mapped tree holds a DN per entry for the whole
        // run, and `format!`'s spare room was a third of each
        let value = escape_rdn_value(value);
        let mut s = String::with_capacity(attr.len() + value.len() + parent.0.len() + 2);
        s.push_str(attr);
        s.push('=');
        s.push_str(&value);
        s.push(',');
        s.push_str(&parent.0);
        Dn(s.into_boxed_str())
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
    // a plan computes a key per DN several times over an académie's
    // million DNs: most are plain ASCII, whose key is their lower case
    if plain_dn(s.as_bytes()) {
        return s.to_ascii_lowercase();
    }
    parsed_key(s)
}

/// Feeds `h` the bytes of `dn`'s key ([`dn_key`]) without building it
/// when the DN is plain (most): a table of DNs hashed this way needs no
/// copy of each key beside the DN.
pub fn hash_key<H: std::hash::Hasher>(dn: &str, h: &mut H) {
    if plain_dn(dn.as_bytes()) {
        let mut buf = [0u8; 64];
        for chunk in dn.as_bytes().chunks(buf.len()) {
            let low = &mut buf[..chunk.len()];
            low.copy_from_slice(chunk);
            low.make_ascii_lowercase();
            h.write(low);
        }
    } else {
        h.write(parsed_key(dn).as_bytes());
    }
}

/// Whether [`dn_key`] of `dn` is its ASCII lower case (see
/// [`cmp_plain_keys`]).
pub fn key_is_lower_case(dn: &str) -> bool {
    plain_dn(dn.as_bytes())
}

/// The order of the keys of two DNs ([`dn_key`]), `plain` saying for each
/// whether [`key_is_lower_case`] (found once per DN by the caller: a sort
/// compares each DN a score of times), without building the keys of
/// plain ones.
pub fn cmp_plain_keys(a: (&str, bool), b: (&str, bool)) -> std::cmp::Ordering {
    let ((a, a_plain), (b, b_plain)) = (a, b);
    if a_plain && b_plain {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        dn_key(a).cmp(&dn_key(b))
    }
}

/// True when the key of `b` is its ASCII lower case: every RDN one
/// `type=value`, both non-empty, of letters, digits and `-._$@` only (no
/// blank to drop, nothing escaped, quoted or to escape, no `+`). The
/// parse would give the same (`tests::plain_dns_key_as_parsed`).
fn plain_dn(b: &[u8]) -> bool {
    let mut rdn_start = 0;
    let mut eq = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'=' if eq.is_none() && i > rdn_start => eq = Some(i),
            b',' => match eq {
                Some(e) if i > e + 1 => {
                    rdn_start = i + 1;
                    eq = None;
                }
                _ => return false,
            },
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'$' | b'@' => {}
            _ => return false,
        }
    }
    matches!(eq, Some(e) if b.len() > e + 1)
}

/// [`dn_key`] by the full RFC 4514 parse.
fn parsed_key(s: &str) -> String {
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

/// The canonical escaping of a normalised value inside a key.
fn push_escaped(out: &mut String, v: &str) {
    // most values escape nothing: copied whole
    let special = |c: u8| matches!(c, b'\\' | b',' | b'+' | b'"' | b'<' | b'>' | b';' | b'\0');
    if !v.starts_with('#') && !v.bytes().any(special) {
        out.push_str(v);
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings over the characters that matter to a DN's key, each read
    /// both ways: the shortcut must never give a key the parse would not.
    #[test]
    fn plain_dns_key_as_parsed() {
        let typical = [
            "uid=AC-CRETEIL$1234,ou=people,dc=example,dc=org",
            "cn=0750001A$CM2-A,ou=classes,dc=X",
            "ENTStructureUAI=0750001A,ou=structures,dc=x",
        ];
        for dn in typical {
            assert!(plain_dn(dn.as_bytes()), "{dn}");
            assert_eq!(dn_key(dn), parsed_key(dn), "{dn}");
        }
        // half the strings over the shortcut's own characters
        let all: Vec<char> = "aZ0-._$@=,=, \\+\"#;<>\tÉé".chars().collect();
        let plain_chars = &all[..10];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut plain = 0;
        for _ in 0..200_000 {
            let len = (next() % 14) as usize;
            let alphabet = if next() % 2 == 0 {
                &all[..]
            } else {
                plain_chars
            };
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            plain += usize::from(plain_dn(s.as_bytes()));
            assert_eq!(dn_key(&s), parsed_key(&s), "{s:?}");
        }
        // the shortcut was taken often enough to be tested by this
        assert!(plain > 5_000, "{plain}");
        for s in [
            "", "=", "a=", "=a", "a=b,", ",a=b", "a=b=c", "a=b,,c=d", "a=b,c",
        ] {
            assert!(!plain_dn(s.as_bytes()), "{s:?}");
            assert_eq!(dn_key(s), parsed_key(s), "{s:?}");
        }
    }
}
