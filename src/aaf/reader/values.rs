//! What a value or an id of a record may hold: characters that may not
//! reach the directory, ids that make a stable RDN, attribute names, UTF-8
//! text read in a single-byte encoding.

use super::messages::describe_char;

/// True when `v`, decoded from single-byte `enc`, holds a letter `Â`, `Ã`
/// or `Å` followed by a character whose byte is a UTF-8 continuation byte:
/// the UTF-8 form of the accented letters of French names (`é` read as
/// `Ã©`, `œ` as `Å“`, a no-break space as `Â `). Other pairs (`Ïœ`) may be
/// real names; these three letters are never followed by such a symbol.
pub(super) fn utf8_read_as_single_byte(v: &str, enc: &'static encoding_rs::Encoding) -> bool {
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
pub(super) fn forbidden_in(v: &str) -> Option<String> {
    if has_forbidden(v) {
        v.chars().find_map(forbidden_char)
    } else {
        None
    }
}

/// `ENTPersonNom`, `categoriePersonne`: what an attribute name looks like.
pub(super) fn is_attribute_name(n: &str) -> bool {
    n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b';')
}
