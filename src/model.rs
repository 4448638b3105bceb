//! Shared, I/O-free types: distinguished names, entries and their attributes.
//!
//! Attribute names are matched case-insensitively (as LDAP does) but keep the
//! spelling the mapping chose; values are kept sorted so that plans, LDIF and
//! golden files are deterministic.

use serde::Serialize;
use std::fmt;

/// A distinguished name. `key` is the lower-cased form used for comparisons
/// (all RDN attributes the sync uses have case-insensitive matching).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct Dn(String);

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

/// Normalised comparison key of a DN string: lower case, no blanks around
/// separators (slapd may return `a=b, c=d` for a value written `a=b,c=d`).
pub fn dn_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                escaped = true;
            }
            ',' | '=' | '+' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
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

/// One attribute: its display name and its values (sorted, no duplicates).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub values: Vec<String>,
}

/// The attributes of an entry, sorted by lower-cased name: a flat vector
/// looked up by binary search. A tree map costs its nodes for every entry,
/// and the sync holds the whole directory and the whole extraction in
/// memory (about 2.5 times less memory this way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs(Vec<Attr>);

fn cmp_names(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

impl Attrs {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|a| cmp_names(&a.name, name))
    }
    /// The attributes, in name order.
    pub fn values(&self) -> std::slice::Iter<'_, Attr> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.find(name).ok().map(|i| &self.0[i])
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Attr> {
        self.find(name).ok().map(|i| &mut self.0[i])
    }
    pub fn remove(&mut self, name: &str) -> Option<Attr> {
        self.find(name).ok().map(|i| self.0.remove(i))
    }
    /// The attribute `name`, created empty when missing.
    fn get_or_insert(&mut self, name: &str) -> &mut Attr {
        let i = match self.find(name) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(
                    i,
                    Attr {
                        name: name.to_string(),
                        values: Vec::new(),
                    },
                );
                i
            }
        };
        &mut self.0[i]
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for a in &self.0 {
            m.serialize_entry(&a.name, &a.values)?;
        }
        m.end()
    }
}

/// Case-insensitive equality of two values, without allocating for ASCII.
fn same_value(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
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
        let attr = self.attrs.get_or_insert(name);
        let incoming: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v: &String| !v.is_empty())
            .collect();
        if attr.values.len() + incoming.len() <= 16 {
            // most attributes hold a value or a few: compare in place
            for v in incoming {
                if !attr.values.iter().any(|x| same_value(x, &v)) {
                    attr.values.push(v);
                }
            }
        } else {
            // long lists (group members): one set, not a scan per value
            let mut seen: std::collections::HashSet<String> =
                attr.values.iter().map(|x| x.to_lowercase()).collect();
            for v in incoming {
                if seen.insert(v.to_lowercase()) {
                    attr.values.push(v);
                }
            }
        }
        attr.values.sort();
        attr.values.shrink_to_fit();
        if attr.values.is_empty() {
            self.attrs.remove(name);
        }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.attrs.remove(name);
        self.add(name, [value.into()]);
    }

    pub fn remove(&mut self, name: &str) -> Option<Attr> {
        self.attrs.remove(name)
    }

    /// Removes some values (case-insensitively); the attribute goes when empty.
    pub fn remove_values(&mut self, name: &str, values: &[String]) {
        if let Some(a) = self.attrs.get_mut(name) {
            a.values
                .retain(|v| !values.iter().any(|x| x.to_lowercase() == v.to_lowercase()));
            if a.values.is_empty() {
                self.attrs.remove(name);
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.attrs.get(name).map(|a| a.values.as_slice())
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.get(name)
            .is_some_and(|vs| vs.iter().any(|v| v.eq_ignore_ascii_case(value)))
    }
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
        assert_eq!(e.get("SN").unwrap(), &["A".to_string(), "b".to_string()]);
        e.add("mail", Vec::<String>::new());
        assert!(e.get("mail").is_none());
    }
}
