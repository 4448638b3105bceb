//! Character encoding of AAF files (spec §3).
//!
//! Real extracts are declared UTF-8, ISO-8859-15 or ISO-8859-1, or carry no
//! declaration at all, and files declared ISO-8859-15 that are really UTF-8
//! occur. The rule, decided before parsing by one cheap streaming pass:
//! a file that is valid UTF-8 is read as UTF-8 whatever it declares (Latin text
//! that happens to be valid UTF-8 would need sequences such as `Ã©` that do not
//! occur in names); otherwise the declared encoding is used, and a file with no
//! usable declaration is read as ISO-8859-15 (Latin-9, a superset in practice of
//! what the académies send). The config can force an encoding.

use encoding_rs::Encoding;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// What the sniffing pass found.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// Encoding name used to decode the file.
    pub encoding: &'static str,
    /// The encoding named in the XML declaration, if any.
    pub declared: Option<String>,
    /// True when the declaration was overridden because the bytes say otherwise.
    pub mismatch: bool,
    #[serde(skip)]
    pub(crate) enc: &'static Encoding,
}

/// Maps an encoding label (declaration or config) to an encoding. ISO-8859-1
/// maps to windows-1252, a superset on every printable character, as browsers
/// and encoding_rs do.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let l = label.trim().to_ascii_lowercase();
    match l.as_str() {
        "iso-8859-15" | "iso8859-15" | "latin-9" | "latin9" | "l9" => {
            Some(encoding_rs::ISO_8859_15)
        }
        _ => Encoding::for_label(l.as_bytes()),
    }
}

/// Extracts `encoding="..."` from an XML declaration at the start of `head`.
pub fn declared_encoding(head: &[u8]) -> Option<String> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let head = std::str::from_utf8(&head[..head.len().min(512)])
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let pos = decl.find("encoding")?;
    let rest = decl[pos + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_string())
}

/// Streams through `r` and tells whether it is valid UTF-8.
pub fn is_valid_utf8(mut r: impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    loop {
        let n = r.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                // an incomplete sequence at the end of the chunk: keep it
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Decides the encoding of a file (see the module documentation).
pub fn detect(path: &Path, forced: Option<&'static Encoding>) -> io::Result<Detected> {
    let mut head = Vec::with_capacity(512);
    File::open(path)?.take(512).read_to_end(&mut head)?;
    let declared = declared_encoding(&head);
    if let Some(enc) = forced {
        return Ok(Detected {
            encoding: enc.name(),
            declared,
            mismatch: false,
            enc,
        });
    }
    let valid = is_valid_utf8(BufReader::new(File::open(path)?))?;
    let declared_enc = declared.as_deref().and_then(encoding_for_label);
    let (enc, mismatch) = if valid {
        (
            encoding_rs::UTF_8,
            declared_enc.is_some_and(|d| d != encoding_rs::UTF_8),
        )
    } else {
        match declared_enc {
            Some(d) if d != encoding_rs::UTF_8 => (d, false),
            // declared UTF-8 but not valid UTF-8: Latin-9 bytes
            Some(_) => (encoding_rs::ISO_8859_15, true),
            None => (encoding_rs::ISO_8859_15, false),
        }
    };
    Ok(Detected {
        encoding: enc.name(),
        declared,
        mismatch,
        enc,
    })
}

/// Opens a file as a stream of UTF-8 bytes in the detected encoding.
pub fn open_decoded(path: &Path, detected: &Detected) -> io::Result<impl Read> {
    let file = File::open(path)?;
    Ok(encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(detected.enc))
        .bom_override(true)
        .build(BufReader::with_capacity(256 * 1024, file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_bytes(bytes: &[u8]) -> (Detected, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.xml");
        std::fs::write(&p, bytes).unwrap();
        let d = detect(&p, None).unwrap();
        let mut s = String::new();
        open_decoded(&p, &d)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        (d, s)
    }

    #[test]
    fn reads_declaration() {
        assert_eq!(
            declared_encoding(b"<?xml version=\"1.0\" encoding='ISO-8859-15'?><a/>").as_deref(),
            Some("ISO-8859-15")
        );
        assert_eq!(declared_encoding(b"<!DOCTYPE a><a/>"), None);
        assert_eq!(
            declared_encoding(b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\" ?>")
                .as_deref(),
            Some("UTF-8")
        );
    }

    #[test]
    fn latin9_oe_and_euro() {
        // "Œ" is 0xBC and "€" 0xA4 in ISO-8859-15 (¼ and ¤ in ISO-8859-1)
        let (d, s) = detect_bytes(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><a>\xBCil \xA4 \xE9</a>",
        );
        assert_eq!(d.encoding, "ISO-8859-15");
        assert!(s.contains("Œil € é"), "{s}");
    }

    #[test]
    fn latin1_declared() {
        let (d, s) =
            detect_bytes(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE9\xE8</a>");
        assert_eq!(d.encoding, "windows-1252");
        assert!(s.contains("éè"));
    }

    #[test]
    fn declared_latin_but_utf8() {
        let (d, s) =
            detect_bytes("<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><a>Œé</a>".as_bytes());
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.mismatch);
        assert!(s.contains("Œé"));
    }

    #[test]
    fn no_declaration_latin_falls_back_to_latin9() {
        let (d, s) = detect_bytes(b"<!DOCTYPE a SYSTEM \"a.dtd\"><a>\xBC</a>");
        assert_eq!(d.encoding, "ISO-8859-15");
        assert!(s.contains('Œ'));
        let (d, _) = detect_bytes("<a>é</a>".as_bytes());
        assert_eq!(d.encoding, "UTF-8");
    }

    #[test]
    fn utf8_validation_across_chunks() {
        let mut v = vec![b'a'; 64 * 1024 - 1];
        v.extend("é".as_bytes()); // straddles the chunk boundary
        assert!(is_valid_utf8(&v[..]).unwrap());
        v.push(0xE9);
        assert!(!is_valid_utf8(&v[..]).unwrap());
        assert!(!is_valid_utf8(&[b'a', 0xC3][..]).unwrap());
    }
}
