//! Streaming reader of one AAF XML file (`ficAlimMENESR`, spec §3).
//!
//! The file is decoded to UTF-8 on the fly (see `decode`) and read event by
//! event with quick-xml: memory holds one record at a time, whatever the file
//! size. Each `addRequest`, `modifyRequest` or `deleteRequest` becomes a
//! [`Record`]; a record that breaks the format is returned as a
//! [`RecordError`] and reading goes on; a file that is not well-formed XML is a
//! fatal [`AafError`] naming file, line and reason. The DOCTYPE is skipped:
//! no DTD is fetched and no declared entity is expanded.

use super::decode::{self, Detected};
use super::entities;
use super::filename::FileCategory;
use super::{AafError, RecordError};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The longest value accepted, in bytes; a longer one rejects its record.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most attributes or values one record may carry.
pub const MAX_ITEMS_PER_RECORD: usize = 4096;

/// The longest run of bytes without `<` or `>` accepted: quick-xml holds
/// one whole event (a text, a tag, a comment) in memory, so a file of
/// zeros would be read into memory whole. Real files have markup every
/// few dozen bytes and values of at most [`MAX_VALUE_BYTES`].
pub const MAX_MARKUP_GAP: u64 = 16 << 20;

/// Refuses a stream with more than [`MAX_MARKUP_GAP`] bytes between two
/// markup characters, so that memory stays bounded whatever the input.
struct MarkupGap<R> {
    inner: R,
    gap: u64,
}

impl<R: Read> Read for MarkupGap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // the last markup character of the chunk, searched from its end:
        // a real file has one within a few bytes
        match buf[..n].iter().rposition(|&b| b == b'<' || b == b'>') {
            Some(i) => self.gap = (n - 1 - i) as u64,
            None => self.gap += n as u64,
        }
        if self.gap > MAX_MARKUP_GAP {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {MAX_MARKUP_GAP} bytes without markup: not an AAF file"),
            ));
        }
        Ok(n)
    }
}

/// The three request types of the DTD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operation {
    Add,
    Modify,
    Delete,
}

/// One attribute of a record, values in file order (empty `<value/>` kept as "").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordAttr {
    pub name: String,
    pub values: Vec<String>,
}

impl RecordAttr {
    /// Values that are not empty.
    pub fn non_empty(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// One request of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub op: Operation,
    pub category: FileCategory,
    /// `identifier/id`, equal to the jointure.
    pub id: String,
    pub attrs: Vec<RecordAttr>,
    /// 1-based position of the request in the file.
    pub index: u64,
}

impl Record {
    pub fn attr(&self, name: &str) -> Option<&RecordAttr> {
        self.attrs.iter().find(|a| a.name == name)
    }
    /// Non-empty values of an attribute.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.attr(name)
            .map(|a| a.non_empty().collect())
            .unwrap_or_default()
    }
    pub fn first(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(|a| a.non_empty().next())
    }
}

/// What the reader yields.
#[derive(Debug)]
pub enum ReadItem {
    Record(Record),
    Rejected(RecordError),
}

/// Reads the records of one file.
pub struct RecordReader {
    path: PathBuf,
    category: FileCategory,
    detected: Detected,
    reader: Reader<BufReader<Box<dyn Read>>>,
    buf: Vec<u8>,
    stack: Vec<String>,
    /// Names popped off `stack`, reused: an element per value, millions
    /// of them in an académie's files.
    spare: Vec<String>,
    seen_root: bool,
    /// An event was read: an XML declaration may only come first.
    started: bool,
    seen_doctype: bool,
    header: BTreeMap<String, String>,
    index: u64,
}

#[derive(Default)]
struct Builder {
    op: Option<Operation>,
    category: Option<String>,
    id: Option<String>,
    attrs: Vec<RecordAttr>,
    current: Option<(bool, RecordAttr)>, // (operational, attr)
    text: Option<String>,
    error: Option<(Option<String>, String)>, // (field, reason)
}

impl Builder {
    fn fail(&mut self, field: Option<&str>, reason: String) {
        if self.error.is_none() {
            self.error = Some((field.map(str::to_string), reason));
        }
    }
}

fn jointure_attr(cat: FileCategory) -> &'static str {
    match cat {
        FileCategory::EtabEducNat => "ENTStructureJointure",
        _ => "ENTPersonJointure",
    }
}

impl RecordReader {
    /// Opens a file whose category comes from its name. `forced` overrides
    /// encoding detection.
    pub fn open(
        path: &Path,
        category: FileCategory,
        forced: Option<&'static encoding_rs::Encoding>,
    ) -> Result<Self, AafError> {
        let io = |e| AafError::Io {
            file: path.to_path_buf(),
            source: e,
        };
        let detected = decode::detect(path, forced).map_err(io)?;
        let stream: Box<dyn Read> = Box::new(MarkupGap {
            inner: decode::open_decoded(path, &detected).map_err(io)?,
            gap: 0,
        });
        let mut reader = Reader::from_reader(BufReader::with_capacity(128 * 1024, stream));
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        // `--` inside a comment is not well-formed (XML 1.0 §2.5)
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        Ok(RecordReader {
            path: path.to_path_buf(),
            category,
            detected,
            reader,
            buf: Vec::with_capacity(4096),
            stack: Vec::new(),
            spare: Vec::new(),
            seen_root: false,
            started: false,
            seen_doctype: false,
            header: BTreeMap::new(),
            index: 0,
        })
    }

    /// Header metadata from the comments after the root tag
    /// (`versionAF`, `degre`, `dateGenerationExport`…).
    pub fn header(&self) -> &BTreeMap<String, String> {
        &self.header
    }

    pub fn detected(&self) -> &Detected {
        &self.detected
    }

    fn not_well_formed(&self, offset: u64, reason: String) -> AafError {
        AafError::NotWellFormed {
            file: self.path.clone(),
            line: line_at(&self.path, &self.detected, offset),
            reason,
        }
    }

    fn reject(&self, b: Builder, field: Option<String>, reason: String) -> ReadItem {
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

    /// The next record, rejected record, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<ReadItem>, AafError> {
        let mut b: Option<Builder> = None;
        loop {
            let pos = self.reader.buffer_position();
            self.buf.clear();
            let ev = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => {
                    let at = self.reader.error_position();
                    return Err(self.not_well_formed(at, describe_xml_error(&e)));
                }
            };
            let first_event = !self.started;
            self.started = true;
            match ev {
                Event::Start(ref s) | Event::Empty(ref s) => {
                    // quick-xml checks tags loosely: the rest of the
                    // reader relies on names and attributes being XML
                    if let Some(why) = tag_not_well_formed(s) {
                        return Err(self.not_well_formed(pos, why.into()));
                    }
                    let empty = matches!(ev, Event::Empty(_));
                    let mut name = self.spare.pop().unwrap_or_default();
                    name.clear();
                    name.push_str(s.name().as_ref());
                    // only these carry a name="…" that means something
                    let name_attr = matches!(name.as_str(), "attr" | "modification")
                        .then(|| {
                            s.attributes()
                                .flatten()
                                .find(|a| a.key.as_ref() == "name")
                                .map(|a| {
                                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                        .map(|v| v.trim().to_string())
                                        .unwrap_or_default()
                                })
                        })
                        .flatten();
                    // the format knows one operation: replace
                    let bad_operation = name == "modification"
                        && s.attributes()
                            .flatten()
                            .any(|a| a.key.as_ref() == "operation" && a.value.trim() != "replace");
                    let depth = self.stack.len();
                    if depth == 0 {
                        if self.seen_root {
                            return Err(self.not_well_formed(pos, "a second root element".into()));
                        }
                        self.seen_root = true;
                        if name != "ficAlimMENESR" {
                            return Err(self.not_well_formed(
                                pos,
                                format!(
                                    "root element is {}, expected <ficAlimMENESR>",
                                    element(&name)
                                ),
                            ));
                        }
                    } else if depth == 1 {
                        self.index += 1;
                        let mut nb = Builder::default();
                        nb.op = match name.as_str() {
                            "addRequest" => Some(Operation::Add),
                            "modifyRequest" => Some(Operation::Modify),
                            "deleteRequest" => Some(Operation::Delete),
                            _ => {
                                nb.fail(None, format!("unexpected element {}", element(&name)));
                                None
                            }
                        };
                        b = Some(nb);
                    } else if let Some(nb) = b.as_mut() {
                        start_inner(nb, &self.stack, &name, name_attr);
                        if bad_operation {
                            let field = nb.current.as_ref().map(|c| c.1.name.clone());
                            nb.fail(
                                field.as_deref(),
                                "a modification whose operation is not \"replace\", the only \
                                 one the format defines"
                                    .into(),
                            );
                        }
                    }
                    if empty {
                        // an empty element is its own end
                        if let Some(nb) = b.as_mut() {
                            if depth >= 2 {
                                end_inner(nb, &name);
                            }
                        }
                        self.spare.push(name);
                        if depth == 1 {
                            return Ok(Some(self.finish(b.take().unwrap_or_default())));
                        }
                        if depth == 0 {
                            // <ficAlimMENESR/>: an empty file
                            continue;
                        }
                    } else {
                        self.stack.push(name);
                    }
                }
                Event::End(_) => {
                    let name = self.stack.pop().unwrap_or_default();
                    let depth = self.stack.len();
                    if depth >= 2 {
                        if let Some(nb) = b.as_mut() {
                            end_inner(nb, &name);
                        }
                    }
                    self.spare.push(name);
                    if depth == 1 {
                        return Ok(Some(self.finish(b.take().unwrap_or_default())));
                    }
                }
                Event::Text(t) => {
                    // quick-xml does not look for the CDATA end in text: a
                    // literal `]]>` in content is not well-formed (XML 1.0
                    // §2.4), the mark of a file cut or spliced by hand
                    if let Some(i) = t.find("]]>") {
                        return Err(self.not_well_formed(
                            pos + i as u64,
                            "]]> in character data, where it may only end a CDATA section".into(),
                        ));
                    }
                    if b.is_none() {
                        // outside any record nothing is read, so nothing
                        // can be rejected: a character XML does not allow
                        // (or any text at all, outside the root) is the file's
                        if let Some(why) = text_outside_record(t.as_bytes(), self.stack.is_empty())
                        {
                            return Err(self.not_well_formed(pos, why.into()));
                        }
                    }
                    // borrowed from the buffer: no copy of the text (nor of
                    // the indentation between elements)
                    let text = t.xml10_content();
                    let r = text_into(&mut b, &text, self.stack.is_empty());
                    self.text_refused(r, pos)?;
                }
                Event::CData(t) => {
                    if self.stack.is_empty() {
                        return Err(self.not_well_formed(
                            pos,
                            "a CDATA section outside the root element".into(),
                        ));
                    }
                    let text = t.into_inner();
                    let r = text_into(&mut b, &text, self.stack.is_empty());
                    self.text_refused(r, pos)?;
                }
                Event::GeneralRef(r) => {
                    // a reference is content: outside the root it is not XML
                    // (even `&#32;`, which `text_into` would take for a blank)
                    if self.stack.is_empty() {
                        return Err(self
                            .not_well_formed(pos, "a reference outside the root element".into()));
                    }
                    // `& CO;` or `&#x;`: quick-xml takes anything up to the
                    // `;` for a reference; a bare `&` is markup gone wrong
                    if !reference_well_formed(r.as_bytes()) {
                        return Err(self.not_well_formed(
                            pos,
                            "a '&' that starts no reference, in text".into(),
                        ));
                    }
                    let name = r.xml10_content();
                    match entities::resolve(&name).filter(|c| forbidden_char(*c).is_none()) {
                        Some(c) => {
                            let r = text_into(
                                &mut b,
                                c.encode_utf8(&mut [0; 4]),
                                self.stack.is_empty(),
                            );
                            self.text_refused(r, pos)?;
                        }
                        // a declared entity (never expanded), an unknown
                        // name, or a reference to a control character: the
                        // value cannot be read as the académie meant it
                        None => {
                            if let Some(nb) = b.as_mut() {
                                let field = nb.current.as_ref().map(|c| c.1.name.clone());
                                let reason = match entities::resolve(&name) {
                                    Some(c) => format!(
                                        "character reference to {}, not allowed in a value",
                                        describe_char(c)
                                    ),
                                    None => "an entity reference that is not a known character \
                                             entity (declared entities are never expanded)"
                                        .to_string(),
                                };
                                nb.fail(field.as_deref(), reason);
                            } else if self.stack.is_empty() {
                                return Err(self.not_well_formed(
                                    pos,
                                    "entity reference outside the root element".into(),
                                ));
                            }
                        }
                    }
                }
                Event::Comment(c) => {
                    if not_xml_char(c.as_bytes()) {
                        return Err(self.not_well_formed(
                            pos,
                            "a character XML does not allow, in a comment".into(),
                        ));
                    }
                    if self.index == 0 {
                        parse_header_comment(&c.xml10_content(), &mut self.header);
                    }
                }
                // quick-xml takes these wherever they come; XML 1.0 §2.8
                // allows one declaration, first, and one DOCTYPE, before
                // the root
                Event::Decl(_) if !first_event => {
                    return Err(self.not_well_formed(
                        pos,
                        "an XML declaration that is not at the very start of the file".into(),
                    ));
                }
                Event::DocType(_) if self.seen_root || self.seen_doctype => {
                    return Err(self.not_well_formed(
                        pos,
                        "a DOCTYPE after the root element or a second DOCTYPE".into(),
                    ));
                }
                Event::DocType(_) => self.seen_doctype = true,
                Event::PI(p) if p.target().eq_ignore_ascii_case("xml") => {
                    return Err(self.not_well_formed(
                        pos,
                        "a processing instruction named xml (reserved)".into(),
                    ));
                }
                Event::Decl(_) | Event::PI(_) => {}
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.not_well_formed(
                            pos,
                            format!("unexpected end of file inside <{open}>"),
                        ));
                    }
                    if !self.seen_root {
                        return Err(self.not_well_formed(pos, "no root element".into()));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// A text [`text_into`] refused is a fatal error of the file.
    fn text_refused(&self, r: Result<(), &'static str>, pos: u64) -> Result<(), AafError> {
        r.map_err(|reason| self.not_well_formed(pos, reason.into()))
    }

    fn finish(&self, mut b: Builder) -> ReadItem {
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
        if cat != self.category.as_str() {
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
fn text_into(b: &mut Option<Builder>, text: &str, outside_root: bool) -> Result<(), &'static str> {
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

fn start_inner(b: &mut Builder, stack: &[String], name: &str, name_attr: Option<String>) {
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

fn end_inner(b: &mut Builder, name: &str) {
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
                    if a.name == "categoriePersonne" || a.name == "categorieStructure" {
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

/// True when `v`, decoded from single-byte `enc`, holds a letter `Â`, `Ã`
/// or `Å` followed by a character whose byte is a UTF-8 continuation byte:
/// the UTF-8 form of the accented letters of French names (`é` read as
/// `Ã©`, `œ` as `Å“`, a no-break space as `Â `). Other pairs (`Ïœ`) may be
/// real names; these three letters are never followed by such a symbol.
fn utf8_read_as_single_byte(v: &str, enc: &'static encoding_rs::Encoding) -> bool {
    let mut prev: Option<char> = None;
    for c in v.chars() {
        if let Some(p) = prev {
            if matches!(p, '\u{C2}' | '\u{C3}' | '\u{C5}') {
                let mut buf = [0u8; 4];
                let (bytes, _, unmappable) = enc.encode(c.encode_utf8(&mut buf));
                if !unmappable && bytes.len() == 1 && (0x80..=0xBF).contains(&bytes[0]) {
                    return true;
                }
            }
        }
        prev = Some(c);
    }
    false
}

/// True when `v` holds a character outside XML 1.0's `Char` (§2.2): C0
/// controls but TAB, LF and CR, and U+FFFE, U+FFFF. (DEL and C1 controls
/// are XML; values refuse them apart, see [`forbidden_char`].)
fn not_xml_char(v: &[u8]) -> bool {
    v.iter().enumerate().any(|(i, &x)| match x {
        b'\t' | b'\n' | b'\r' => false,
        0..=0x1F => true,
        0xEF => v.get(i + 1) == Some(&0xBF) && v.get(i + 2).is_some_and(|n| *n >= 0xBE),
        _ => false,
    })
}

/// Why text read outside any record is not well-formed, if it is not:
/// outside the root only XML white space may come (§2.8, `Misc`); between
/// records, text is ignored but must still be made of XML characters.
fn text_outside_record(t: &[u8], outside_root: bool) -> Option<&'static str> {
    if outside_root && !t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        Some("text outside the root element")
    } else if not_xml_char(t) {
        Some("a character XML does not allow, between records")
    } else {
        None
    }
}

/// Why a start tag is not well-formed, if it is not, in what quick-xml
/// leaves unchecked: the element name, and each attribute — a name, `=`, a
/// quoted value without `<`, whose `&` each start a reference (§2.3, §3.1),
/// given once. The reader picks attributes by name: a repeated or garbled
/// one would leave which value counts to chance.
fn tag_not_well_formed(s: &quick_xml::events::BytesStart) -> Option<&'static str> {
    if !is_xml_name(s.name().as_ref()) {
        return Some("an element name that is not an XML name");
    }
    for a in s.attributes() {
        let Ok(a) = a else {
            return Some("a malformed or repeated attribute");
        };
        if !is_xml_name(a.key.as_ref()) {
            return Some("an attribute name that is not an XML name");
        }
        let v: &[u8] = a.value.as_bytes();
        if v.contains(&b'<') {
            return Some("a '<' in an attribute value");
        }
        if not_xml_char(v) {
            return Some("a character XML does not allow, in an attribute value");
        }
        if !references_well_formed(v) {
            return Some("a '&' that starts no reference, in an attribute value");
        }
    }
    None
}

/// True when every `&` of `v` starts `&name;`, `&#digits;` or `&#xhex;`.
fn references_well_formed(v: &[u8]) -> bool {
    let mut rest = v;
    while let Some(i) = rest.iter().position(|&b| b == b'&') {
        let after = &rest[i + 1..];
        let Some(end) = after.iter().position(|&b| b == b';') else {
            return false;
        };
        if !reference_well_formed(&after[..end]) {
            return false;
        }
        rest = &after[end + 1..];
    }
    true
}

/// True when `r`, what comes between `&` and `;`, is a name, `#digits` or
/// `#xhex` (§4.1). Whether the name is known is another matter: an unknown
/// one costs its record only. `#X` is HTML's, taken as [`entities`] takes
/// HTML's named entities.
fn reference_well_formed(r: &[u8]) -> bool {
    match r {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        name => std::str::from_utf8(name).is_ok_and(is_xml_name),
    }
}

/// XML 1.0 (fifth edition) `Name` (§2.3): what an element or attribute
/// name, or an entity reference, must be.
fn is_xml_name(n: &str) -> bool {
    let start = |c: char| {
        matches!(c, ':' | '_' | 'A'..='Z' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
            | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
            | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
            | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    };
    let rest = |c: char| {
        start(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    };
    let mut chars = n.chars();
    chars.next().is_some_and(start) && chars.all(rest)
}

/// The elements of the format (`ficAlimMENESR`): their names are shown in
/// messages; any other name came from the data (a `<` in a value) and is
/// never shown (it may be a name).
const ELEMENTS: [&str; 12] = [
    "ficAlimMENESR",
    "addRequest",
    "modifyRequest",
    "deleteRequest",
    "operationalAttributes",
    "identifier",
    "id",
    "attributes",
    "attr",
    "value",
    "modifications",
    "modification",
];

/// `<name>` for an element of the format, else a neutral phrase.
fn element(name: &str) -> String {
    if ELEMENTS.contains(&name) {
        format!("<{name}>")
    } else {
        "an element the format does not have".to_string()
    }
}

/// What went wrong in the XML, without the text it went wrong on (a tag
/// made of a value may be a name).
fn describe_xml_error(e: &quick_xml::Error) -> String {
    use quick_xml::errors::{IllFormedError as I, SyntaxError as S};
    match e {
        quick_xml::Error::Io(e) => format!("cannot read: {e}"),
        quick_xml::Error::Syntax(s) => match s {
            S::InvalidBangMarkup => "an unknown <!…> construct".into(),
            S::UnclosedPI | S::UnclosedXmlDecl => "an unclosed <?…?>".into(),
            S::UnclosedComment => "an unclosed comment".into(),
            S::UnclosedDoctype => "an unclosed DOCTYPE".into(),
            S::UnclosedCData => "an unclosed CDATA section".into(),
            S::UnclosedTag => "an unclosed tag".into(),
            _ => "an XML syntax error".into(),
        },
        quick_xml::Error::IllFormed(i) => match i {
            I::MismatchedEndTag { expected, found } => format!(
                "end tag {} does not close {}",
                element(found),
                element(expected)
            ),
            I::UnmatchedEndTag(n) => format!("end tag {} closes nothing", element(n)),
            I::MissingEndTag(n) => format!("{} is never closed", element(n)),
            I::DoubleHyphenInComment => "a comment holding --".into(),
            _ => "XML that is not well-formed".into(),
        },
        quick_xml::Error::Encoding(_) => "bytes invalid in the document's encoding".into(),
        quick_xml::Error::Escape(_) => "an invalid escape (&…;)".into(),
        quick_xml::Error::Namespace(_) => "an invalid namespace".into(),
        _ => "XML that is not well-formed".into(),
    }
}

/// `versionAF="AAF-VE2407"` style comments.
fn parse_header_comment(c: &str, header: &mut BTreeMap<String, String>) {
    let c = c.trim();
    if let Some((k, v)) = c.split_once('=') {
        let k = k.trim();
        let v = v.trim().trim_matches('"').trim();
        if !k.is_empty()
            && k.len() <= 64
            && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && v.len() <= 256
            && !v.chars().any(|ch| ch.is_control())
        {
            header.insert(k.to_string(), v.to_string());
        }
    }
}

/// The longest id accepted, in bytes: AAF ids are a few digits; a longer
/// one cannot make a sensible RDN.
pub const MAX_ID_BYTES: usize = 256;

/// Why an id cannot be used (it must make a valid, stable RDN and a
/// jointure `<source>$<id>` that splits back), if it cannot.
pub fn usable_id(id: &str) -> Result<(), &'static str> {
    if id.trim().is_empty() {
        Err("empty id")
    } else if id.len() > MAX_ID_BYTES {
        Err("id longer than 256 bytes")
    } else if id.contains('$') {
        Err("id holding '$', the separator of composite values and jointures")
    } else if id.trim() != id {
        Err("id with leading or trailing blanks")
    } else if has_forbidden(id) {
        Err("id holding a control character")
    } else if id
        .chars()
        .any(|c| c != ' ' && c.is_whitespace() || is_invisible(c))
    {
        // the directory sees a tab as a blank and an invisible character
        // not at all: the id would not name one entry
        Err("id holding a tab, a line end or an invisible character")
    } else {
        Ok(())
    }
}

/// Invisible format characters (soft hyphen, zero-width spaces and joiners,
/// direction marks, word joiner, byte order mark).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Why a character may not reach the directory, if it may not: C0 and C1
/// controls but TAB, LF and CR (outside XML 1.0's `Char`, or the mark of a
/// mis-decoded byte), DEL, the non-characters U+FFFE and U+FFFF, and U+FFFD,
/// which is what a byte invalid in the file's encoding decodes to.
pub fn forbidden_char(c: char) -> Option<String> {
    match c {
        '\t' | '\n' | '\r' => None,
        '\u{FFFD}' => Some(
            "a byte sequence invalid in the file's encoding (decoded as U+FFFD): \
             the value cannot be read as sent"
                .to_string(),
        ),
        c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
            Some(format!("{} in a value", describe_char(c)))
        }
        _ => None,
    }
}

fn describe_char(c: char) -> String {
    let what = if c.is_control() {
        "control character"
    } else {
        "character"
    };
    format!("{what} U+{:04X}", c as u32)
}

/// True when `v` holds a character [`forbidden_char`] refuses; one pass
/// over the bytes, as every value of every file goes through it.
pub fn has_forbidden(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter().enumerate().any(|(i, &x)| match x {
        b'\t' | b'\n' | b'\r' => false,
        0..=0x1F | 0x7F => true,
        // C1 controls: U+0080..U+009F
        0xC2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)),
        // U+FFFD, U+FFFE, U+FFFF
        0xEF => b.get(i + 1) == Some(&0xBF) && b.get(i + 2).is_some_and(|n| *n >= 0xBD),
        _ => false,
    })
}

/// The reason the first forbidden character of `v` gives, if any.
fn forbidden_in(v: &str) -> Option<String> {
    if has_forbidden(v) {
        v.chars().find_map(forbidden_char)
    } else {
        None
    }
}

/// `ENTPersonNom`, `categoriePersonne`: what an attribute name looks like.
fn is_attribute_name(n: &str) -> bool {
    n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b';')
}

/// 1-based line of a byte offset in the decoded stream (only computed when
/// reporting an error, so re-reading the file is acceptable).
fn line_at(path: &Path, detected: &Detected, offset: u64) -> u64 {
    let Ok(r) = decode::open_decoded(path, detected) else {
        return 0;
    };
    let mut r = BufReader::new(r.take(offset));
    let mut line = 1u64;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) if !b.is_empty() => b,
            _ => return line,
        };
        line += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        xml: &[u8],
        cat: FileCategory,
    ) -> Result<(Vec<ReadItem>, BTreeMap<String, String>), AafError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("P_Complet_20240101_Eleve_0000.xml");
        std::fs::write(&p, xml).unwrap();
        let mut r = RecordReader::open(&p, cat, None)?;
        let mut out = Vec::new();
        while let Some(i) = r.next_item()? {
            out.push(i);
        }
        Ok((out, r.header().clone()))
    }

    const PUPIL: &str = r#"<addRequest>
<operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>
<identifier><id>1001</id></identifier>
<attributes>
<attr name="ENTPersonJointure"><value>1001</value></attr>
<attr name="ENTPersonNom"><value>  L&apos;H&Ocirc;TE  </value></attr>
<attr name="ENTPersonPrenom"><value>Ren&eacute;e</value></attr>
<attr name="ENTPersonAutresPrenoms"><value>A</value><value/><value>B</value></attr>
<attr name="ENTPersonMail"><value/></attr>
</attributes>
</addRequest>"#;

    #[test]
    fn reads_add_modify_delete_and_header() {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\r\n<ficAlimMENESR>\r\n<!-- versionAF=\"AAF-VE2407\" -->\n<!-- degre=\"1D\" -->\n{PUPIL}\n\
<modifyRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\
<identifier><id>1002</id></identifier><modifications><modification name=\"ENTPersonNom\" operation=\"replace\"><value>X</value></modification>\
<modification name=\"ENTPersonClasses\" operation=\"replace\"><value/></modification></modifications></modifyRequest>\n\
<deleteRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1003</id></identifier></deleteRequest>\n\
</ficAlimMENESR>\n"
        );
        let (items, header) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert_eq!(header.get("versionAF").unwrap(), "AAF-VE2407");
        assert_eq!(header.get("degre").unwrap(), "1D");
        assert_eq!(items.len(), 3);
        let ReadItem::Record(r) = &items[0] else {
            panic!("{:?}", items[0])
        };
        assert_eq!(r.op, Operation::Add);
        assert_eq!(r.id, "1001");
        assert_eq!(r.first("ENTPersonNom"), Some("L'HÔTE"));
        assert_eq!(r.first("ENTPersonPrenom"), Some("Renée"));
        assert_eq!(r.values("ENTPersonAutresPrenoms"), vec!["A", "B"]);
        assert_eq!(r.attr("ENTPersonMail").unwrap().values, vec![""]);
        let ReadItem::Record(m) = &items[1] else {
            panic!()
        };
        assert_eq!(m.op, Operation::Modify);
        assert_eq!(m.attr("ENTPersonClasses").unwrap().values, vec![""]);
        let ReadItem::Record(d) = &items[2] else {
            panic!()
        };
        assert_eq!(
            (d.op, d.id.as_str(), d.index),
            (Operation::Delete, "1003", 3)
        );
    }

    #[test]
    fn double_escaped_value_is_decoded_once_more() {
        let xml = PUPIL.replace("L&apos;H&Ocirc;TE", "D&amp;apos;ETABLISSEMENT");
        let (items, _) = read_all(
            format!("<ficAlimMENESR>{xml}</ficAlimMENESR>").as_bytes(),
            FileCategory::Eleve,
        )
        .unwrap();
        let ReadItem::Record(r) = &items[0] else {
            panic!()
        };
        assert_eq!(r.first("ENTPersonNom"), Some("D'ETABLISSEMENT"));
    }

    #[test]
    fn id_jointure_mismatch_rejects_only_that_record() {
        let bad = PUPIL.replace("<id>1001</id>", "<id>999</id>");
        let xml = format!("<ficAlimMENESR>{bad}{PUPIL}</ficAlimMENESR>");
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!()
        };
        assert_eq!(e.index, 1);
        assert_eq!(e.field.as_deref(), Some("ENTPersonJointure"));
        assert_eq!(e.id.as_deref(), Some("999"));
        assert!(matches!(items[1], ReadItem::Record(_)));
    }

    #[test]
    fn wrong_category_and_missing_id_are_rejected() {
        let xml = format!(
            "<ficAlimMENESR>{}{}</ficAlimMENESR>",
            PUPIL.replace(">Eleve<", ">PersEducNat<"),
            PUPIL.replace("<id>1001</id>", "<id> </id>")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let reasons: Vec<_> = items
            .iter()
            .map(|i| match i {
                ReadItem::Rejected(e) => e.field.clone().unwrap_or_default(),
                ReadItem::Record(_) => "ok".into(),
            })
            .collect();
        assert_eq!(reasons, vec!["operationalAttributes", "identifier"]);
    }

    #[test]
    fn not_well_formed_names_line() {
        let xml = format!(
            "<ficAlimMENESR>\n{PUPIL}\n<addRequest><identifier></addRequest></ficAlimMENESR>"
        );
        let err = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap_err();
        let AafError::NotWellFormed { line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 13, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("P_Complet_20240101_Eleve_0000.xml"), "{msg}");
        let err = read_all(b"<ficAlimMENESR><addRequest>", FileCategory::Eleve).unwrap_err();
        assert!(err.to_string().contains("end of file"), "{err}");
        let err = read_all(b"<html></html>", FileCategory::Eleve).unwrap_err();
        assert!(err.to_string().contains("root element"), "{err}");
        let err = read_all(b"", FileCategory::Eleve).unwrap_err();
        assert!(err.to_string().contains("no root"), "{err}");
    }

    #[test]
    fn declared_entities_are_not_expanded_and_reject_their_record() {
        let xml =
            "<?xml version=\"1.0\"?><!DOCTYPE ficAlimMENESR [<!ENTITY x \"BOOM\">]><ficAlimMENESR>"
                .to_string()
                + &PUPIL.replace("Ren&eacute;e", "&x;")
                + &PUPIL.replace("1001", "1002")
                + "</ficAlimMENESR>";
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!("{:?}", items[0])
        };
        assert_eq!(e.field.as_deref(), Some("ENTPersonPrenom"));
        assert_eq!(e.id.as_deref(), Some("1001"));
        assert!(e.reason.contains("never expanded"), "{}", e.reason);
        assert!(matches!(&items[1], ReadItem::Record(r) if r.id == "1002"));
    }

    #[test]
    fn control_characters_reject_their_record_raw_or_referenced() {
        for bad in [
            "Ren\u{1b}e",
            "Ren&#x1B;e",
            "Re&#7;n",
            "R\u{0}e",
            "Re&#0;",
            "Re\u{85}",
            "Re\u{fffd}",
            "R&amp;#x1B;",
        ] {
            let xml = format!(
                "<ficAlimMENESR>{}{}</ficAlimMENESR>",
                PUPIL.replace("Ren&eacute;e", bad),
                PUPIL.replace("1001", "1002")
            );
            let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
            let ReadItem::Rejected(e) = &items[0] else {
                panic!("{bad:?}: {:?}", items[0])
            };
            assert_eq!(e.field.as_deref(), Some("ENTPersonPrenom"), "{bad:?}");
            assert_eq!(e.id.as_deref(), Some("1001"), "{bad:?}");
            assert!(!e.to_string().contains("Ren"), "no value in the error: {e}");
            assert!(matches!(&items[1], ReadItem::Record(r) if r.id == "1002"));
        }
        // tabs and line ends are text
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", "Ren&#9;e")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(matches!(&items[0], ReadItem::Record(_)));
    }

    #[test]
    fn ids_that_cannot_make_a_stable_rdn_are_rejected_and_tied() {
        let cases = [
            ("<id>9$1</id>", "'$'"),
            ("<id>1001\u{1}</id>", "U+0001"),
            ("<id>10\t01</id>", "a tab"),
            ("<id>10\u{200B}01</id>", "invisible"),
            ("<id>10\u{A0}01</id>", "a tab"),
        ];
        for (id, why) in cases {
            let xml = format!(
                "<ficAlimMENESR>{}</ficAlimMENESR>",
                PUPIL.replace("<id>1001</id>", id)
            );
            let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
            let ReadItem::Rejected(e) = &items[0] else {
                panic!("{id}: {:?}", items[0])
            };
            assert!(e.reason.contains(why), "{id}: {}", e.reason);
            // the jointure still ties it to a person
            assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["1001"], "{id}");
        }
        // a mismatch ties both ids
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("<id>1001</id>", "<id>999</id>")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!()
        };
        assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["999", "1001"]);
        assert_eq!(e.category, Some(FileCategory::Eleve));
        // an unexpected element early in the record: the id is still read
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("<identifier>", "<bogus/><identifier>")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!()
        };
        assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["1001"]);
    }

    #[test]
    fn overlong_value_rejects_record() {
        let long = "A".repeat(MAX_VALUE_BYTES + 1);
        let xml = format!(
            "<ficAlimMENESR>{}{PUPIL}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", &long)
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(
            matches!(&items[0], ReadItem::Rejected(e) if e.field.as_deref() == Some("ENTPersonPrenom"))
        );
        assert!(matches!(items[1], ReadItem::Record(_)));
    }

    #[test]
    fn never_panics_on_mangled_input() {
        // a cheap fuzz: truncations and byte flips of a valid file must give
        // records, rejections or a clean error, never a panic
        let base = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><ficAlimMENESR>{PUPIL}{PUPIL}</ficAlimMENESR>");
        let bytes = base.as_bytes();
        let mut rng = crate::generator::Rng::new(7);
        for i in 0..400 {
            let mut b = bytes.to_vec();
            if i % 2 == 0 {
                b.truncate(rng.below(bytes.len() as u64) as usize);
            }
            for _ in 0..(1 + rng.below(4)) {
                let pos = rng.below(b.len().max(1) as u64) as usize;
                if pos < b.len() {
                    b[pos] = rng.below(256) as u8;
                }
            }
            let _ = read_all(&b, FileCategory::Eleve);
        }
    }

    #[test]
    fn a_modification_other_than_replace_rejects_its_record() {
        let modify = |op: &str, id: &str| {
            format!(
                "<modifyRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\
<identifier><id>{id}</id></identifier><modifications><modification name=\"ENTPersonNom\" operation=\"{op}\"><value>X</value></modification></modifications></modifyRequest>"
            )
        };
        let xml = format!(
            "<ficAlimMENESR>{}{}{}</ficAlimMENESR>",
            modify("delete", "1001"),
            modify("add", "1002"),
            modify("replace", "1003")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        for (i, id) in [(0, "1001"), (1, "1002")] {
            let ReadItem::Rejected(e) = &items[i] else {
                panic!("{:?}", items[i])
            };
            assert_eq!(e.id.as_deref(), Some(id));
            assert_eq!(e.field.as_deref(), Some("ENTPersonNom"));
            assert!(e.reason.contains("replace"), "{}", e.reason);
        }
        assert!(matches!(&items[2], ReadItem::Record(r) if r.id == "1003"));
    }

    #[test]
    fn utf8_text_in_a_latin_file_rejects_its_record() {
        // a Latin-9 file (many accents, bytes invalid as UTF-8) where one
        // record was pasted in UTF-8: that record would be stored as `Ã©`
        let latin = |id: &str| {
            PUPIL.replace("1001", id).replace(
                "Ren&eacute;e",
                "H\u{e9}l\u{e8}ne \u{e9}t\u{e9} MA\u{cf}\u{153}",
            )
        };
        let xml =
            format!(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><ficAlimMENESR>{}{}{}</ficAlimMENESR>",
            latin("1001"),
            PUPIL.replace("1001", "1002").replace("Ren&eacute;e", "MARKER"),
            latin("1003"),
        );
        let (enc, _, _) = encoding_rs::ISO_8859_15.encode(&xml);
        let mut bytes = enc.into_owned();
        let at = bytes.windows(6).position(|w| w == b"MARKER").unwrap();
        bytes.splice(at..at + 6, "Ren\u{e9}e".bytes());
        let (items, _) = read_all(&bytes, FileCategory::Eleve).unwrap();
        assert!(
            matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some("Hélène été MAÏœ"))
        );
        let ReadItem::Rejected(e) = &items[1] else {
            panic!("{:?}", items[1])
        };
        assert_eq!(
            (e.id.as_deref(), e.field.as_deref()),
            (Some("1002"), Some("ENTPersonPrenom"))
        );
        assert!(
            e.reason
                .contains("UTF-8 text in a file read as ISO-8859-15"),
            "{}",
            e.reason
        );
        assert!(matches!(&items[2], ReadItem::Record(r) if r.id == "1003"));
    }

    #[test]
    fn xml_errors_never_show_a_tag_made_of_data() {
        // a `<` in a value turns a name into a tag: the error names the
        // line, never the tag
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", "<DUPONTEL>x")
        );
        let err = read_all(xml.as_bytes(), FileCategory::Eleve)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("DUPONTEL"), "{err}");
        assert!(err.contains("line"), "{err}");
        let err = read_all(b"<SECRETNAME></SECRETNAME>", FileCategory::Eleve)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRETNAME"), "{err}");
    }

    /// The reason of a file refused as not well-formed, checking that the
    /// error names the file and a line and never shows `SECRET` (data).
    fn refused(xml: &str) -> (u64, String) {
        match read_all(xml.as_bytes(), FileCategory::Eleve) {
            Err(e @ AafError::NotWellFormed { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("P_Complet_20240101_Eleve_0000.xml"), "{msg}");
                assert!(!msg.contains("SECRET"), "no data in the error: {msg}");
                let AafError::NotWellFormed { line, reason, .. } = e else {
                    unreachable!()
                };
                (line, reason)
            }
            other => panic!("{xml:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn a_cdata_end_in_character_data_refuses_the_file() {
        // §2.4: a literal `]]>` in content is not XML; quick-xml takes it
        let xml = format!(
            "<ficAlimMENESR>\n{}\n{}</ficAlimMENESR>",
            PUPIL.replace("1001", "1002"),
            PUPIL.replace("Ren&eacute;e", "SECRET]]>")
        );
        let (line, reason) = refused(&xml);
        assert_eq!(line, 19, "the line of the `]]>`");
        assert!(reason.contains("]]>"), "{reason}");
        // between records, and in the whitespace of a record, too
        refused(&format!("<ficAlimMENESR>]]>{PUPIL}</ficAlimMENESR>"));
        refused(&format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("<attributes>", "<attributes>]]>")
        ));
        // what is XML: `]]&gt;`, `]]` alone, a CDATA section
        for (v, read) in [
            ("A]]&gt;B", "A]]>B"),
            ("A]]B]", "A]]B]"),
            ("<![CDATA[A]]]]><![CDATA[>B]]>", "A]]>B"),
        ] {
            let xml = format!(
                "<ficAlimMENESR>{}</ficAlimMENESR>",
                PUPIL.replace("Ren&eacute;e", v)
            );
            let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
            assert!(
                matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some(read)),
                "{v}: {:?}",
                items[0]
            );
        }
    }

    #[test]
    fn markup_characters_in_text_refuse_the_file() {
        for bad in [
            "SECRET & CO",
            "SECRET & CO;",
            "SECRET &#x;",
            "SECRET &#12a;",
            "SECRET &",
            "SECRET<",
            "SECRET</value >",
        ] {
            refused(&format!(
                "<ficAlimMENESR>{}</ficAlimMENESR>",
                PUPIL.replace("Ren&eacute;e", bad)
            ));
        }
    }

    #[test]
    fn malformed_attributes_refuse_the_file() {
        for tag in [
            // given twice: which name counts would be chance
            r#"<attr name="ENTPersonPrenom" name="ENTPersonNom">"#,
            r#"<attr name=ENTPersonPrenom>"#,
            r#"<attr name>"#,
            r#"<attr name="ENTPersonPrenom>"#,
            r#"<attr name='ENTPersonPrenom"#,
            r#"<attr name="ENTPerson<Prenom">"#,
            r#"<attr name="ENTPerson&Prenom">"#,
            r#"<attr name="ENTPersonPrenom" x="&#;">"#,
            r#"<attr name="ENTPersonPrenom" 1x="1">"#,
            "<attr name=\"ENTPersonPrenom\" x=\"\u{1}\">",
        ] {
            let xml = format!(
                "<ficAlimMENESR>{}</ficAlimMENESR>",
                PUPIL.replace(r#"<attr name="ENTPersonPrenom">"#, tag)
            );
            refused(&xml);
        }
        // references and quotes XML allows: read as before
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace(
                r#"<attr name="ENTPersonPrenom">"#,
                r#"<attr name='ENTPerson&#80;renom' x="&amp;&#x41;">"#
            )
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(
            matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some("Renée"))
        );
    }

    #[test]
    fn names_that_are_not_xml_and_mismatched_tags_refuse_the_file() {
        for bad in [
            PUPIL.replace("<identifier>", "<1identifier/><identifier>"),
            PUPIL.replace("<identifier>", "<-x/><identifier>"),
            PUPIL.replace(
                "</value></attr>\n<attr name=\"ENTPersonPrenom\">",
                "</vlaue></attr>\n<attr name=\"ENTPersonPrenom\">",
            ),
            PUPIL.replace("</identifier>", "</identifier></id>"),
        ] {
            refused(&format!("<ficAlimMENESR>{bad}</ficAlimMENESR>"));
        }
        // a name that is XML but not the format's costs the record only
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("<identifier>", "<bogus/><identifier>")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(matches!(&items[0], ReadItem::Rejected(_)));
    }

    #[test]
    fn what_surrounds_the_root_must_be_xml() {
        let root = format!("<ficAlimMENESR>{PUPIL}</ficAlimMENESR>");
        for bad in [
            format!("{root}<ficAlimMENESR/>"),
            format!("{root}SECRET"),
            format!("{root}<![CDATA[ ]]>"),
            format!("{root}&#32;"),
            format!("&amp;{root}"),
            format!("{root}<!DOCTYPE ficAlimMENESR>"),
            format!("<!DOCTYPE a><!DOCTYPE b>{root}"),
            format!("\n<?xml version=\"1.0\"?>{root}"),
            format!("<!-- c --><?xml version=\"1.0\"?>{root}"),
            format!("{root}<?xml version=\"1.0\"?>"),
            format!("<?XML version=\"1.0\"?>{root}"),
            format!("\u{A0}{root}"),
            // a comment holding `--`, or a control character
            format!("{root}<!-- a -- b -->"),
            format!("<!-- \u{1} -->{root}"),
            // a character XML does not allow, between records
            format!("<ficAlimMENESR>\u{1}{PUPIL}</ficAlimMENESR>"),
            format!("<ficAlimMENESR>{PUPIL}\u{FFFF}</ficAlimMENESR>"),
        ] {
            refused(&bad);
        }
        // what XML allows around the root: a declaration first (after a
        // byte order mark), a DOCTYPE, comments, instructions, blanks
        let ok = format!(
            "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- versionAF=\"X\" -->\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<?pi x?>\n{root}\n<!-- end -->\n<?pi y?>\n"
        );
        let (items, header) = read_all(ok.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(matches!(&items[0], ReadItem::Record(_)));
        assert_eq!(header.get("versionAF").map(String::as_str), Some("X"));
    }

    #[test]
    fn a_file_without_markup_is_refused_with_bounded_memory() {
        // 20 MiB of zeros after the root tag: one text event of that size
        // used to be buffered whole (4 GB of zeros took 6 GB of memory)
        let mut xml = b"<ficAlimMENESR>".to_vec();
        xml.resize(xml.len() + (20 << 20), 0);
        let e = read_all(&xml, FileCategory::Eleve).unwrap_err().to_string();
        assert!(e.contains("bytes without markup"), "{e}");
    }
}
