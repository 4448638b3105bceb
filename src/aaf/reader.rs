//! Streaming reader of one AAF XML file (`ficAlimMENESR`, spec §3).
//!
//! The file is decoded to UTF-8 on the fly (see `decode`) and read event by
//! event with quick-xml: memory holds one record at a time, whatever the file
//! size. Each `addRequest`, `modifyRequest` or `deleteRequest` becomes a
//! [`Record`]; a record that breaks the format is returned as a
//! [`RecordError`] and reading goes on; a file that is not well-formed XML is a
//! fatal [`AafError`] naming file, line and reason. The DOCTYPE is skipped:
//! no DTD is fetched and no declared entity is expanded.
//!
//! This file holds what the rest of the crate sees (the record types and
//! [`RecordReader`]); the reading itself is split by concern:
//!
//! - `events`: the event loop, [`RecordReader::next_item`];
//! - `record`: one record built from its events, then accepted or
//!   rejected with the ids it names;
//! - `wellformed`: the XML rules quick-xml leaves unchecked, and the bound
//!   on bytes without markup ([`MAX_MARKUP_GAP`]);
//! - `values`: what a value or an id may hold ([`usable_id`],
//!   [`forbidden_char`]);
//! - `messages`: how refusals are worded, never with the file's data.

mod events;
mod messages;
mod record;
mod tags;
#[cfg(test)]
mod tests;
mod values;
mod wellformed;

pub use values::{forbidden_char, has_forbidden, usable_id, MAX_ID_BYTES};
pub use wellformed::MAX_MARKUP_GAP;

use super::decode::{self, Detected};
use super::filename::FileCategory;
use super::{AafError, RecordError};
use quick_xml::Reader;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use wellformed::MarkupGap;

/// The longest value accepted, in bytes; a longer one rejects its record.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most attributes or values one record may carry.
pub const MAX_ITEMS_PER_RECORD: usize = 4096;

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
    /// Attributes of the last record: the next one's vector is sized for
    /// as many (a file's records are alike; growing it from empty was a
    /// tenth of the parse's allocations).
    attrs_hint: usize,
    /// Start tags judged so far.
    tags: tags::Tags,
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
        let stream: Box<dyn Read> = Box::new(MarkupGap::new(
            decode::open_decoded(path, &detected).map_err(io)?,
        ));
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
            attrs_hint: 0,
            tags: tags::Tags::default(),
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
