//! The XML well-formedness rules quick-xml leaves unchecked (XML 1.0
//! §2.2–§2.8, §4.1): names, attributes, references, what may come outside
//! the root, and the bound on bytes without markup that keeps memory flat.

use std::io::Read;

/// The longest run of bytes without `<` or `>` accepted: quick-xml holds
/// one whole event (a text, a tag, a comment) in memory, so a file of
/// zeros would be read into memory whole. Real files have markup every
/// few dozen bytes and values of at most [`MAX_VALUE_BYTES`](super::MAX_VALUE_BYTES).
pub const MAX_MARKUP_GAP: u64 = 16 << 20;

/// Refuses a stream with more than [`MAX_MARKUP_GAP`] bytes between two
/// markup characters, so that memory stays bounded whatever the input.
pub(super) struct MarkupGap<R> {
    inner: R,
    /// Bytes read since the last markup character.
    gap: u64,
}

impl<R> MarkupGap<R> {
    pub(super) fn new(inner: R) -> Self {
        MarkupGap { inner, gap: 0 }
    }
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

/// True when `v` holds a character outside XML 1.0's `Char` (§2.2): C0
/// controls but TAB, LF and CR, and U+FFFE, U+FFFF. (DEL and C1 controls
/// are XML; values refuse them apart, see [`forbidden_char`](super::forbidden_char).)
pub(super) fn not_xml_char(v: &[u8]) -> bool {
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
pub(super) fn text_outside_record(t: &[u8], outside_root: bool) -> Option<&'static str> {
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
pub(super) fn tag_not_well_formed(s: &quick_xml::events::BytesStart) -> Option<&'static str> {
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
/// one costs its record only. `#X` is HTML's, taken as [`entities`](crate::aaf::entities) takes
/// HTML's named entities.
pub(super) fn reference_well_formed(r: &[u8]) -> bool {
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
