//! One record built from the events of one request: the elements the
//! format allows where, the values decoded once (entities, NFC), the
//! limits, and the checks that accept the record or reject it with the ids
//! it names.

use super::messages::element;
use super::values::{forbidden_in, is_attribute_name, usable_id, utf8_read_as_single_byte};
use super::{
    Operation, ReadItem, Record, RecordAttr, RecordError, RecordReader, MAX_ITEMS_PER_RECORD,
    MAX_VALUE_BYTES,
};
use crate::aaf::entities;
use crate::aaf::filename::FileCategory;
use std::borrow::Cow;

#[derive(Default)]
pub(super) struct Builder {
    pub(super) op: Option<Operation>,
    pub(super) category: Option<String>,
    pub(super) id: Option<String>,
    pub(super) attrs: Vec<RecordAttr>,
    pub(super) current: Option<(bool, RecordAttr)>, // (operational, attr)
    pub(super) text: Option<String>,
    pub(super) error: Option<(Option<String>, String)>, // (field, reason)
}

impl Builder {
    pub(super) fn fail(&mut self, field: Option<&str>, reason: String) {
        if self.error.is_none() {
            self.error = Some((field.map(str::to_string), reason));
        }
    }
}

fn jointure_attr(cat: FileCategory) -> &'static str {
    match cat {
        FileCategory::EtabEducNat => "ENTStructureJointure",
        FileCategory::MatiereEducNat => "ENTMatJointure",
        FileCategory::MefEducNat => "ENTMefJointure",
        _ => "ENTPersonJointure",
    }
}

impl RecordReader {
    pub(super) fn reject(&self, b: Builder, field: Option<String>, reason: String) -> ReadItem {
        // every id the record names for itself is protected: `<id>` and
        // the jointure, when they can be read
        let id = b.id.filter(|i| !i.is_empty());
        let jname = jointure_attr(self.category);
        let mut other_ids: Vec<String> = b
            .attrs
            .iter()
            .filter(|a| a.name == jname)
            .flat_map(|a| a.non_empty().map(str::to_string))
            .filter(|j| id.as_deref() != Some(j.as_str()) && usable_id(j).is_ok())
            .collect();
        other_ids.sort();
        other_ids.dedup();
        ReadItem::Rejected(RecordError {
            file: self.path.clone(),
            category: Some(self.category),
            index: self.index,
            id: id.filter(|i| usable_id(i).is_ok()).map(Box::from),
            other_ids: other_ids.into(),
            field,
            reason,
        })
    }

    /// [`Self::finish`], remembering the record's size for the next one
    /// (at most 64 attributes: a hostile record does not size the rest).
    pub(super) fn finish_sized(&mut self, b: Builder) -> ReadItem {
        self.attrs_hint = b.attrs.len().min(64);
        self.finish(b)
    }

    pub(super) fn finish(&self, mut b: Builder) -> ReadItem {
        if let Some((field, reason)) = b.error.take() {
            return self.reject(b, field, reason);
        }
        // a file read in a single-byte encoding that holds UTF-8 text in
        // places: those values would be stored as mojibake (`Ã©` for `é`)
        if self.detected.enc != encoding_rs::UTF_8 {
            let garbled = b.attrs.iter().find(|a| {
                a.values
                    .iter()
                    .any(|v| utf8_read_as_single_byte(v, self.detected.enc))
            });
            if let Some(a) = garbled {
                let field = Some(a.name.clone());
                return self.reject(
                    b,
                    field,
                    format!(
                        "UTF-8 text in a file read as {}: the file is UTF-8 or mixes \
                         encodings; the value would be stored garbled",
                        self.detected.encoding
                    ),
                );
            }
        }
        let Some(op) = b.op else {
            return self.reject(b, None, "not a request".into());
        };
        let Some(cat) = b.category.clone() else {
            return self.reject(
                b,
                Some("operationalAttributes".into()),
                "no categoriePersonne/categorieStructure".into(),
            );
        };
        if cat != self.category.in_record() {
            return self.reject(
                b,
                Some("operationalAttributes".into()),
                format!("category {cat} in a {} file", self.category.as_str()),
            );
        }
        let id = match b.id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return self.reject(b, Some("identifier".into()), "empty or missing id".into()),
        };
        b.id = Some(id.clone());
        if let Err(why) = usable_id(&id) {
            return self.reject(b, Some("identifier".into()), why.into());
        }
        let jname = jointure_attr(self.category);
        if let Some(j) = b.attrs.iter().find(|a| a.name == jname) {
            let jv: Vec<&str> = j.non_empty().collect();
            if jv.len() > 1 || jv.first().is_some_and(|v| *v != id) {
                return self.reject(
                    b,
                    Some(jname.into()),
                    "identifier/id differs from the jointure".into(),
                );
            }
        }
        ReadItem::Record(Record {
            op,
            category: self.category,
            id,
            attrs: std::mem::take(&mut b.attrs),
            index: self.index,
        })
    }
}

/// Adds a piece of text to the value being read; outside a record, only
/// blanks are allowed (`outside_root`: no element is open).
pub(super) fn text_into(
    b: &mut Option<Builder>,
    text: &str,
    outside_root: bool,
) -> Result<(), &'static str> {
    match b.as_mut() {
        Some(nb) => {
            if let Some(t) = nb.text.as_mut() {
                if t.len() + text.len() > MAX_VALUE_BYTES {
                    let field = nb.current.as_ref().map(|c| c.1.name.clone());
                    nb.fail(
                        field.as_deref(),
                        format!("value longer than {MAX_VALUE_BYTES} bytes"),
                    );
                } else {
                    t.push_str(text);
                }
            } else if !text.trim().is_empty() {
                nb.fail(None, "text outside a <value> or <id>".into());
            }
            Ok(())
        }
        // the caller refuses text outside any record (`text_outside_record`)
        // (and references and CDATA outside the root) before it gets here;
        // kept as a second guard
        None if outside_root && !text.trim().is_empty() => Err("text outside the root element"),
        None => Ok(()),
    }
}

pub(super) fn start_inner(
    b: &mut Builder,
    stack: &[String],
    name: &str,
    name_attr: Option<String>,
) {
    let parent = stack.last().map(String::as_str).unwrap_or("");
    match (parent, name) {
        ("operationalAttributes", "attr")
        | ("attributes", "attr")
        | ("modifications", "modification") => {
            let Some(attr_name) = name_attr.filter(|n| !n.is_empty()) else {
                b.fail(None, format!("<{name}> without a name"));
                return;
            };
            if !is_attribute_name(&attr_name) {
                b.fail(
                    None,
                    format!("<{name}> whose name is not an attribute name (letters, digits, '-', '_'; at most 64)"),
                );
                return;
            }
            b.current = Some((
                parent == "operationalAttributes",
                RecordAttr {
                    name: attr_name,
                    values: Vec::new(),
                },
            ));
        }
        ("attr", "value") | ("modification", "value") | ("identifier", "id") => {
            b.text = Some(String::new());
        }
        (_, "operationalAttributes" | "identifier" | "attributes" | "modifications")
            if stack.len() == 2 => {}
        _ => b.fail(
            None,
            format!(
                "unexpected element {} in {}",
                element(name),
                element(parent)
            ),
        ),
    }
}

pub(super) fn end_inner(b: &mut Builder, name: &str) {
    match name {
        "value" => {
            let raw = b.text.take().unwrap_or_default();
            // checked before trimming: a control character at either end
            // (U+0085 is white space to `trim`) is no less a defect
            let mut bad = forbidden_in(&raw);
            let v = match entities::unescape_once(raw.trim()) {
                // the common case: nothing to trim or unescape, no copy
                Cow::Borrowed(u) if u.len() == raw.len() => raw,
                // unescaped once more (`&amp;#x1B;`): look again
                u => {
                    let u = u.trim().to_string();
                    bad = bad.or_else(|| forbidden_in(&u));
                    u
                }
            };
            if let Some(c) = bad {
                let n = b.current.as_ref().map(|c| c.1.name.clone());
                b.fail(n.as_deref(), c);
                return;
            }
            // one canonical form (NFC): `é` precomposed or as `e` + accent
            // is one name to a reader, and must be one value to the diff
            let v = if v.is_ascii()
                || unicode_normalization::is_nfc_quick(v.chars())
                    == unicode_normalization::IsNormalized::Yes
            {
                v
            } else {
                use unicode_normalization::UnicodeNormalization;
                v.nfc().collect()
            };
            if let Some((_, a)) = b.current.as_mut() {
                if a.values.len() >= MAX_ITEMS_PER_RECORD {
                    let n = a.name.clone();
                    b.fail(Some(&n), "too many values".into());
                } else {
                    a.values.push(v);
                }
            }
        }
        "id" => {
            let raw = b.text.take().unwrap_or_default();
            if let Some(c) = forbidden_in(&raw) {
                b.fail(Some("identifier"), c);
                return;
            }
            b.id = Some(raw.trim().to_string());
        }
        "attr" | "modification" => {
            if let Some((operational, a)) = b.current.take() {
                if a.values.is_empty() {
                    b.fail(Some(&a.name), "attribute without <value>".into());
                } else if operational {
                    if [
                        "categoriePersonne",
                        "categorieStructure",
                        "categorieMatiere",
                        "categorieMef",
                    ]
                    .contains(&a.name.as_str())
                    {
                        b.category = a.values.first().cloned();
                    }
                } else if b.attrs.len() >= MAX_ITEMS_PER_RECORD {
                    b.fail(None, "too many attributes".into());
                } else if let Some(existing) = b.attrs.iter_mut().find(|x| x.name == a.name) {
                    // an attribute repeated: its values count together
                    if existing.values.len() + a.values.len() > MAX_ITEMS_PER_RECORD {
                        let n = a.name.clone();
                        b.fail(Some(&n), "too many values".into());
                    } else {
                        existing.values.extend(a.values);
                    }
                } else {
                    b.attrs.push(a);
                }
            }
        }
        _ => {}
    }
}
