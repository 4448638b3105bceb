//! The AAF source: extraction files in, typed records out (spec §2–3).
//!
//! Knows nothing of LDAP. `filename` groups files into extractions, `decode`
//! settles each file's encoding, `entities` resolves the HTML entities real
//! files carry, `reader` streams records out of one file.

pub mod decode;
pub mod degree;
pub mod entities;
pub mod filename;
pub mod reader;

pub use filename::{Extraction, ExtractionKind, FileCategory};
pub use reader::{Operation, ReadItem, Record, RecordReader};

use serde::Serialize;
use std::path::PathBuf;

/// Fatal errors: the extraction cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum AafError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: not well-formed XML: {reason}", file.display())]
    NotWellFormed {
        file: PathBuf,
        line: u64,
        reason: String,
    },
}

/// One record skipped because it breaks the format. Carries ids and field
/// names only, never values.
///
/// A rejected record is not an absence (spec §7): the person or structure
/// it was about is *present, content unknown*, and whatever the directory
/// holds for them is left exactly as it is. [`RecordError::tied_ids`] are
/// the ids the reader could tie it to; a record tied to none makes its
/// category unable to prove anyone's absence.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{}: record {index}{}{}: {reason}", file.display(),
    id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default(),
    field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default())]
pub struct RecordError {
    pub file: PathBuf,
    /// The category of the file the record came from.
    pub category: Option<FileCategory>,
    pub index: u64,
    pub id: Option<Box<str>>,
    /// Other ids the record names for itself (a jointure that differs from
    /// `identifier/id`).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub other_ids: Box<[String]>,
    pub field: Option<String>,
    pub reason: String,
}

impl RecordError {
    pub fn new(
        file: &std::path::Path,
        category: FileCategory,
        index: u64,
        id: Option<&str>,
        field: Option<&str>,
        reason: impl Into<String>,
    ) -> RecordError {
        RecordError {
            file: file.to_path_buf(),
            category: Some(category),
            index,
            id: id.map(Box::from),
            other_ids: Box::default(),
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// The ids this record is about (none when none could be read).
    pub fn tied_ids(&self) -> impl Iterator<Item = &str> {
        self.id
            .as_deref()
            .into_iter()
            .chain(self.other_ids.iter().map(String::as_str))
            .filter(|i| !i.is_empty())
    }
}
