//! The directory's own schema, as its subschema entry publishes it
//! (RFC 4512 `objectClasses` and `attributeTypes`), and the checks an entry
//! must pass before it is written (pure: the definitions in, problems out).
//!
//! A directory may run the project's schema or the SDET schema a real ENT
//! deploys (`../shared/reference/sdet-esco-schema/`): the sync reads which
//! one at the start of every run, adapts what it writes to it (see
//! [`crate::mapping::sdet`]) and validates every planned entry against it
//! before the first write, so that what cannot fit is refused with one clear
//! message per problem rather than sent to fail thousands of times.

use std::collections::{HashMap, HashSet};

/// One attribute type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrType {
    /// The first NAME, as the server spells it.
    pub name: String,
    pub sup: Option<String>,
    /// Syntax OID (without the length bound), own or inherited.
    pub syntax: Option<String>,
    pub single: bool,
}

/// The kind of an object class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassKind {
    #[default]
    Structural,
    Auxiliary,
    Abstract,
}

/// One object class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjClass {
    pub name: String,
    pub sup: Vec<String>,
    pub kind: ClassKind,
    pub must: Vec<String>,
    pub may: Vec<String>,
}

/// The schema of a directory: classes and attribute types by every name
/// (lower case).
#[derive(Debug, Clone, Default)]
pub struct DirSchema {
    attrs: HashMap<String, AttrType>,
    classes: HashMap<String, ObjClass>,
}

/// Syntax OIDs checked before a write.
pub mod syntax {
    pub const BOOLEAN: &str = "1.3.6.1.4.1.1466.115.121.1.7";
    pub const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
    pub const DIRECTORY_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.15";
    pub const GENERALIZED_TIME: &str = "1.3.6.1.4.1.1466.115.121.1.24";
    pub const IA5: &str = "1.3.6.1.4.1.1466.115.121.1.26";
    pub const PRINTABLE: &str = "1.3.6.1.4.1.1466.115.121.1.44";
    pub const TELEPHONE: &str = "1.3.6.1.4.1.1466.115.121.1.50";
}

/// The tokens of a definition: `(`, `)`, `$`, quoted strings (unquoted),
/// and bare words.
fn tokens(def: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = def.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '(' | ')' | '$' => out.push(c.to_string()),
            '\'' => {
                let mut s = String::new();
                for c in it.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    s.push(c);
                }
                out.push(s);
            }
            c if c.is_whitespace() => {}
            c => {
                let mut s = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_whitespace() || matches!(n, '(' | ')' | '$' | '\'') {
                        break;
                    }
                    s.push(n);
                    it.next();
                }
                out.push(s);
            }
        }
    }
    out
}

/// The value after a keyword: one word, or a parenthesised list (`$` or
/// blank separated).
fn list(t: &[String], i: &mut usize) -> Vec<String> {
    let mut out = Vec::new();
    if t.get(*i).map(String::as_str) == Some("(") {
        *i += 1;
        while let Some(w) = t.get(*i) {
            *i += 1;
            match w.as_str() {
                ")" => break,
                "$" => {}
                w => out.push(w.to_string()),
            }
        }
    } else if let Some(w) = t.get(*i) {
        out.push(w.clone());
        *i += 1;
    }
    out
}

/// Parses one `objectClasses` or `attributeTypes` value: the names and
/// the keyword → values pairs.
fn parse_def(def: &str) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let t = tokens(def);
    let mut names = Vec::new();
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    // skip "(" and the OID
    let mut i = 2;
    while i < t.len() {
        let kw = t[i].to_ascii_uppercase();
        i += 1;
        match kw.as_str() {
            ")" => break,
            "NAME" => names = list(&t, &mut i),
            "DESC" | "EQUALITY" | "ORDERING" | "SUBSTR" | "SYNTAX" | "USAGE" => {
                fields.insert(kw, list(&t, &mut i));
            }
            "SUP" | "MUST" | "MAY" => {
                fields.insert(kw, list(&t, &mut i));
            }
            "SINGLE-VALUE"
            | "STRUCTURAL"
            | "AUXILIARY"
            | "ABSTRACT"
            | "OBSOLETE"
            | "COLLECTIVE"
            | "NO-USER-MODIFICATION" => {
                fields.insert(kw, Vec::new());
            }
            x if x.starts_with("X-") => {
                list(&t, &mut i);
            }
            _ => {}
        }
    }
    (names, fields)
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.to_ascii_lowercase()).collect()
}

impl DirSchema {
    /// The schema of the `objectClasses` and `attributeTypes` values of a
    /// subschema entry.
    pub fn parse<'a>(
        object_classes: impl IntoIterator<Item = &'a str>,
        attribute_types: impl IntoIterator<Item = &'a str>,
    ) -> DirSchema {
        let mut s = DirSchema::default();
        for def in attribute_types {
            let (names, f) = parse_def(def);
            let Some(first) = names.first() else { continue };
            let syntax = f
                .get("SYNTAX")
                .and_then(|v| v.first())
                .map(|x| x.split('{').next().unwrap_or(x).to_string());
            let a = AttrType {
                name: first.clone(),
                sup: f.get("SUP").and_then(|v| v.first()).cloned(),
                syntax,
                single: f.contains_key("SINGLE-VALUE"),
            };
            for n in &names {
                s.attrs.insert(n.to_ascii_lowercase(), a.clone());
            }
        }
        // inherited syntaxes
        let names: Vec<String> = s.attrs.keys().cloned().collect();
        for n in names {
            let mut syntax = None;
            let mut cur = s.attrs.get(&n).cloned();
            for _ in 0..16 {
                let Some(a) = cur else { break };
                if a.syntax.is_some() {
                    syntax = a.syntax.clone();
                    break;
                }
                cur = a
                    .sup
                    .and_then(|p| s.attrs.get(&p.to_ascii_lowercase()).cloned());
            }
            if let Some(a) = s.attrs.get_mut(&n) {
                a.syntax = syntax;
            }
        }
        for def in object_classes {
            let (names, f) = parse_def(def);
            let Some(first) = names.first() else { continue };
            let kind = if f.contains_key("AUXILIARY") {
                ClassKind::Auxiliary
            } else if f.contains_key("ABSTRACT") {
                ClassKind::Abstract
            } else {
                ClassKind::Structural
            };
            let c = ObjClass {
                name: first.clone(),
                sup: lower(f.get("SUP").map(Vec::as_slice).unwrap_or_default()),
                kind,
                must: lower(f.get("MUST").map(Vec::as_slice).unwrap_or_default()),
                may: lower(f.get("MAY").map(Vec::as_slice).unwrap_or_default()),
            };
            for n in &names {
                s.classes.insert(n.to_ascii_lowercase(), c.clone());
            }
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    pub fn attr(&self, name: &str) -> Option<&AttrType> {
        self.attrs.get(&name.to_ascii_lowercase())
    }

    pub fn class(&self, name: &str) -> Option<&ObjClass> {
        self.classes.get(&name.to_ascii_lowercase())
    }

    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    pub fn has_class(&self, name: &str) -> bool {
        self.class(name).is_some()
    }

    /// True when the directory keeps one value at most of `name`.
    pub fn single_valued(&self, name: &str) -> bool {
        self.attr(name).is_some_and(|a| a.single)
    }

    /// The canonical (first) name of an attribute, lower case: `commonName`
    /// and `cn` are one attribute.
    pub fn canonical(&self, name: &str) -> String {
        self.attr(name)
            .map(|a| a.name.to_ascii_lowercase())
            .unwrap_or_else(|| name.to_ascii_lowercase())
    }

    /// The MUST and MAY attributes (canonical names) of a set of classes
    /// and all their superclasses.
    pub fn allowed(&self, classes: &[&str]) -> (HashSet<String>, HashSet<String>) {
        let mut must = HashSet::new();
        let mut may = HashSet::new();
        let mut todo: Vec<String> = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
        let mut seen = HashSet::new();
        while let Some(c) = todo.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            let Some(oc) = self.classes.get(&c) else {
                continue;
            };
            must.extend(oc.must.iter().map(|a| self.canonical(a)));
            may.extend(oc.may.iter().map(|a| self.canonical(a)));
            todo.extend(oc.sup.iter().cloned());
        }
        may.insert("objectclass".into());
        (must, may)
    }

    /// True when a value fits the attribute's syntax, for the syntaxes
    /// checked cheaply (others always fit).
    pub fn fits(&self, attr: &str, value: &str) -> bool {
        let Some(syn) = self.attr(attr).and_then(|a| a.syntax.as_deref()) else {
            return true;
        };
        match syn {
            syntax::IA5 => value.is_ascii(),
            syntax::PRINTABLE => value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)),
            syntax::BOOLEAN => value == "TRUE" || value == "FALSE",
            syntax::GENERALIZED_TIME => {
                value.len() >= 11
                    && value.ends_with('Z')
                    && value[..value.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
            }
            syntax::DN => {
                value.is_empty()
                    || crate::model::split_first_rdn(value).is_some()
                    || value.contains('+')
            }
            syntax::TELEPHONE => !value.trim().is_empty(),
            _ => true,
        }
    }
}

/// A problem of one entry against the directory's schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// An object class the directory does not have.
    UnknownClass(String),
    /// An attribute the directory does not have.
    UnknownAttr(String),
    /// An attribute the entry's classes do not allow.
    NotAllowed(String),
    /// A MUST attribute the entry lacks.
    MissingMust(String),
    /// More than one value of a single-valued attribute.
    SingleValued(String),
    /// A value that does not fit the attribute's syntax.
    Syntax(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::UnknownClass(c) => write!(f, "object class {c} unknown to the directory"),
            Problem::UnknownAttr(a) => write!(f, "attribute {a} unknown to the directory"),
            Problem::NotAllowed(a) => write!(f, "attribute {a} not allowed by the entry's classes"),
            Problem::MissingMust(a) => write!(f, "MUST attribute {a} missing"),
            Problem::SingleValued(a) => write!(f, "several values of single-valued {a}"),
            Problem::Syntax(a) => write!(f, "a value of {a} does not fit its syntax"),
        }
    }
}

/// The MUST and MAY attributes of a set of classes.
type Allowed = std::sync::Arc<(HashSet<String>, HashSet<String>)>;

/// Checks many entries, remembering the allowed attributes of each set of
/// classes (a first load checks a million entries of a few shapes).
pub struct Checker<'a> {
    schema: &'a DirSchema,
    cache: HashMap<String, Allowed>,
}

impl DirSchema {
    pub fn checker(&self) -> Checker<'_> {
        Checker {
            schema: self,
            cache: HashMap::new(),
        }
    }

    /// The problems of a whole entry (an add), given its attributes.
    pub fn check_entry(&self, e: &crate::model::Entry) -> Vec<Problem> {
        self.checker().check(e)
    }
}

impl Checker<'_> {
    /// The problems of a whole entry (an add), given its attributes.
    pub fn check(&mut self, e: &crate::model::Entry) -> Vec<Problem> {
        let schema = self.schema;
        let mut out = Vec::new();
        let classes: Vec<&str> = e.get("objectClass").unwrap_or_default().iter().collect();
        for c in &classes {
            if !schema.has_class(c) {
                out.push(Problem::UnknownClass(c.to_string()));
            }
        }
        let key = classes.join("\0").to_ascii_lowercase();
        let sets = self
            .cache
            .entry(key)
            .or_insert_with(|| std::sync::Arc::new(schema.allowed(&classes)))
            .clone();
        let (must, may) = (&sets.0, &sets.1);
        let this = schema;
        let mut present = HashSet::new();
        for a in e.attrs.values() {
            let Some(t) = this.attr(a.name) else {
                out.push(Problem::UnknownAttr(a.name.to_string()));
                continue;
            };
            let canon = t.name.to_ascii_lowercase();
            if !must.contains(&canon) && !may.contains(&canon) {
                out.push(Problem::NotAllowed(a.name.to_string()));
            }
            if t.single && a.values.len() > 1 {
                out.push(Problem::SingleValued(a.name.to_string()));
            }
            if a.values.iter().any(|v| !this.fits(a.name, v)) {
                out.push(Problem::Syntax(a.name.to_string()));
            }
            present.insert(canon);
        }
        let mut missing: Vec<&String> = must.iter().filter(|m| !present.contains(*m)).collect();
        missing.sort();
        for m in missing {
            out.push(Problem::MissingMust(
                this.attr(m)
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| m.clone()),
            ));
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests;
