//! A reader of generated files for `tests/generator_2d.rs`, on quick-xml
//! and apart from the product's reader: records with their operation,
//! operational attribute, id and attributes, and the header comments.
//! Anything not well-formed panics.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Add,
    Modify,
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub op: Op,
    /// The operational attribute's name and value.
    pub category: (String, String),
    pub id: String,
    pub attrs: Vec<(String, Vec<String>)>,
    /// `operation` of each `modification`.
    pub operations: Vec<String>,
}

impl Rec {
    pub fn get(&self, name: &str) -> Vec<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

pub struct File {
    pub header: BTreeMap<String, String>,
    pub records: Vec<Rec>,
}

/// The text of a generated file: UTF-8 when it is, else Latin-9 (the
/// generator declares Latin-9 on UTF-8 files, or nothing).
fn text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    match String::from_utf8(bytes.clone()) {
        Ok(s) => s,
        Err(_) => encoding_rs::ISO_8859_15.decode(&bytes).0.into_owned(),
    }
}

fn entity(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        // the HTML named entity some real files carry
        "eacute" => "é".into(),
        other => panic!("unexpected entity &{other};"),
    }
}

/// Reads a file with quick-xml; panics on anything not well-formed.
pub fn parse(path: &Path) -> File {
    let text = text(path);
    let mut r = Reader::from_str(&text);
    r.config_mut().check_end_names = true;
    let mut header = BTreeMap::new();
    let mut records = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut cur: Option<Rec> = None;
    let mut value: Option<String> = None;
    loop {
        let ev = r
            .read_event()
            .unwrap_or_else(|e| panic!("{}: not well-formed: {e}", path.display()));
        match ev {
            Event::Eof => break,
            Event::Comment(c) => {
                let c = c.xml10_content().trim().to_string();
                if let Some((k, v)) = c.split_once('=') {
                    header.insert(k.to_string(), v.trim_matches('"').to_string());
                }
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = s.name().as_ref().to_string();
                let attr = |k: &str| s.try_get_attribute(k).unwrap().map(|a| a.value.to_string());
                match name.as_str() {
                    "addRequest" | "modifyRequest" | "deleteRequest" => {
                        cur = Some(Rec {
                            op: match name.as_str() {
                                "addRequest" => Op::Add,
                                "modifyRequest" => Op::Modify,
                                _ => Op::Delete,
                            },
                            category: Default::default(),
                            id: String::new(),
                            attrs: vec![],
                            operations: vec![],
                        })
                    }
                    "attr" | "modification" => {
                        let rec = cur.as_mut().expect("attr inside a request");
                        let n = attr("name").expect("a name");
                        if stack.last().map(String::as_str) == Some("operationalAttributes") {
                            rec.category.0 = n;
                        } else {
                            if name == "modification" {
                                rec.operations.push(attr("operation").unwrap_or_default());
                            }
                            rec.attrs.push((n, vec![]));
                        }
                    }
                    "value" | "id" => {
                        if empty {
                            // an empty value: no value
                        } else {
                            value = Some(String::new());
                        }
                    }
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                }
            }
            Event::Text(t) => {
                if let Some(v) = value.as_mut() {
                    v.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let v = value.as_mut().expect("references only in values");
                v.push_str(&entity(&g.xml10_content()));
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_string();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
                match name.as_str() {
                    "value" => {
                        let v = value.take().unwrap_or_default();
                        let rec = cur.as_mut().unwrap();
                        if stack.contains(&"operationalAttributes".to_string()) {
                            rec.category.1 = v;
                        } else if !v.is_empty() {
                            rec.attrs.last_mut().unwrap().1.push(v);
                        }
                    }
                    "id" => cur.as_mut().unwrap().id = value.take().unwrap_or_default(),
                    "addRequest" | "modifyRequest" | "deleteRequest" => {
                        records.push(cur.take().unwrap())
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert!(stack.is_empty(), "{}: unclosed elements", path.display());
    File { header, records }
}
