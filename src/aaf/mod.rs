//! The AAF source: extraction files in, typed records out (spec §2–3).
//!
//! Knows nothing of LDAP. `filename` groups files into extractions, `decode`
//! settles each file's encoding, `entities` resolves the HTML entities real
//! files carry, `reader` streams records out of one file.

pub mod decode;
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
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{}: record {index}{}{}: {reason}", file.display(),
    id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default(),
    field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default())]
pub struct RecordError {
    pub file: PathBuf,
    pub index: u64,
    pub id: Option<String>,
    pub field: Option<String>,
    pub reason: String,
}
