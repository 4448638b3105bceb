//! How the reader words what it refuses: element names only when the
//! format has them, XML errors without the text they were found on, the
//! line of a byte offset. No value of the file ever reaches a message.

use super::RecordReader;
use crate::aaf::decode::{self, Detected};
use crate::aaf::AafError;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

impl RecordReader {
    pub(super) fn not_well_formed(&self, offset: u64, reason: String) -> AafError {
        AafError::NotWellFormed {
            file: self.path.clone(),
            line: line_at(&self.path, &self.detected, offset),
            reason,
        }
    }
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
pub(super) fn element(name: &str) -> String {
    if ELEMENTS.contains(&name) {
        format!("<{name}>")
    } else {
        "an element the format does not have".to_string()
    }
}

/// What went wrong in the XML, without the text it went wrong on (a tag
/// made of a value may be a name).
pub(super) fn describe_xml_error(e: &quick_xml::Error) -> String {
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

pub(super) fn describe_char(c: char) -> String {
    let what = if c.is_control() {
        "control character"
    } else {
        "character"
    };
    format!("{what} U+{:04X}", c as u32)
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
