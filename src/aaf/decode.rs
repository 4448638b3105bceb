//! Character encoding of AAF files (spec §3).
//!
//! Real extracts are declared UTF-8, ISO-8859-15 or ISO-8859-1, or carry no
//! declaration at all, and files declared ISO-8859-15 that are really UTF-8
//! occur. The rule, decided before parsing by one cheap streaming pass that
//! counts the valid multi-byte UTF-8 sequences and the invalid ones:
//! - a file with at least as many valid multi-byte sequences as invalid
//!   ones is read as UTF-8, whatever it declares: Latin text seldom forms a
//!   valid sequence (a pair such as `Ïœ`), UTF-8 text with a few stray
//!   bytes forms many. A wrong guess either way costs records, never
//!   names: toward UTF-8, the records with bad bytes are rejected (their
//!   people kept as they are); toward Latin-9, the records holding UTF-8
//!   text read as `Ã©` are rejected by the reader.
//!   Each invalid sequence decodes to U+FFFD, and the reader rejects the
//!   record that carries it (file, record, id, field named): one bad byte
//!   costs one record, never a file;
//! - otherwise the declared encoding is used, and a file with no usable
//!   declaration (or one declared UTF-8 without a single valid multi-byte
//!   sequence) is read as ISO-8859-15 (Latin-9, a superset in practice of
//!   what the académies send).
//!
//! The config can force an encoding.

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
    /// Byte sequences invalid in UTF-8, in a file read as UTF-8: each one
    /// rejects the record that carries it.
    #[serde(skip_serializing_if = "is_zero")]
    pub invalid_sequences: u64,
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

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one pass over a file found of UTF-8.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Stats {
    /// Valid multi-byte sequences (non-ASCII characters).
    pub multibyte: u64,
    /// Invalid sequences (each maximal invalid run as the UTF-8 decoder sees it).
    pub invalid: u64,
}

impl Utf8Stats {
    /// The bytes are read as UTF-8: no invalid sequence, or at least as
    /// many valid multi-byte sequences as invalid ones.
    pub fn reads_as_utf8(&self) -> bool {
        self.invalid == 0 || self.multibyte >= self.invalid
    }
}

/// Bytes [`utf8_stats`] reads at a time.
const SCAN_CHUNK: usize = 256 * 1024;

/// Streams through `r` counting valid multi-byte and invalid UTF-8 sequences.
pub fn utf8_stats(mut r: impl Read) -> io::Result<Utf8Stats> {
    let mut st = Utf8Stats::default();
    let mut buf = vec![0u8; SCAN_CHUNK];
    let mut carry = 0usize;
    loop {
        let n = r.read(&mut buf[carry..])?;
        if n == 0 {
            if carry > 0 {
                st.invalid += 1; // a sequence cut by the end of the file
            }
            return Ok(st);
        }
        let filled = carry + n;
        let mut at = 0;
        carry = 0;
        while at < filled {
            match std::str::from_utf8(&buf[at..filled]) {
                Ok(v) => {
                    st.multibyte += leads(v.as_bytes());
                    at = filled;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    st.multibyte += leads(&buf[at..at + valid]);
                    match e.error_len() {
                        Some(bad) => {
                            st.invalid += 1;
                            at += valid + bad;
                        }
                        None => {
                            // an incomplete sequence at the end of the chunk:
                            // keep it for the next read
                            let rest = at + valid;
                            buf.copy_within(rest..filled, 0);
                            carry = filled - rest;
                            at = filled;
                        }
                    }
                }
            }
        }
    }
}

/// Lead bytes of multi-byte sequences in valid UTF-8 `v`. Counted in
/// byte-wide lanes, 255 bytes at a time (the compiler makes it a vector
/// loop): this pass reads every byte of an académie's 2 GB, and a count
/// byte by byte took a core a second and a half.
fn leads(v: &[u8]) -> u64 {
    v.chunks(255)
        .map(|c| c.iter().fold(0u8, |n, &b| n + u8::from(b >= 0xC0)) as u64)
        .sum()
}

/// Streams through `r` and tells whether it is valid UTF-8.
pub fn is_valid_utf8(r: impl Read) -> io::Result<bool> {
    Ok(utf8_stats(r)?.invalid == 0)
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
            invalid_sequences: 0,
            enc,
        });
    }
    let stats = utf8_stats(BufReader::new(File::open(path)?))?;
    let declared_enc = declared.as_deref().and_then(encoding_for_label);
    let declared_utf8 = declared_enc == Some(encoding_rs::UTF_8);
    // a wrong guess toward UTF-8 costs the records with bad bytes
    // (rejected, their people kept); a wrong guess toward Latin-9 garbles
    // every name with an accent: the rule leans toward UTF-8
    let utf8 = if declared_utf8 {
        // only a file whose non-ASCII bytes are clearly Latin overturns
        // the declaration
        !(stats.invalid >= 3 && stats.invalid > 20 * stats.multibyte)
    } else {
        stats.reads_as_utf8()
    };
    let (enc, mismatch) = if utf8 {
        (
            encoding_rs::UTF_8,
            declared_enc.is_some() && !declared_utf8 && stats.multibyte > 0,
        )
    } else {
        match declared_enc {
            Some(d) if d != encoding_rs::UTF_8 => (d, false),
            // declared UTF-8 but its non-ASCII bytes are Latin-9
            Some(_) => (encoding_rs::ISO_8859_15, true),
            None => (encoding_rs::ISO_8859_15, false),
        }
    };
    Ok(Detected {
        encoding: enc.name(),
        declared,
        mismatch,
        invalid_sequences: if utf8 { stats.invalid } else { 0 },
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
    fn one_bad_byte_does_not_turn_a_utf8_file_into_latin9() {
        // declared Latin-9, really UTF-8, one stray byte in one name
        let mut bytes = "<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><a>ZÉMO Hélène Œil"
            .as_bytes()
            .to_vec();
        bytes.push(0xFF);
        bytes.extend("é</a>".as_bytes());
        let (d, s) = detect_bytes(&bytes);
        assert_eq!(d.encoding, "UTF-8");
        assert_eq!(d.invalid_sequences, 1);
        assert!(s.contains("ZÉMO Hélène Œil\u{FFFD}é"), "{s}");
        // declared UTF-8, same
        let bytes = [
            b"<a>\xC3\x89l\xC3\xA9a et L\xE9a ".as_slice(),
            "é è ê".as_bytes(),
        ]
        .concat();
        let (d, _) = detect_bytes(&bytes);
        assert_eq!((d.encoding, d.invalid_sequences), ("UTF-8", 1));
        // a real Latin-9 file: every accent is an invalid UTF-8 sequence
        let (d, s) = detect_bytes(b"<a>\xC9lodie H\xE9l\xE8ne \xBCil</a>");
        assert_eq!((d.encoding, d.invalid_sequences), ("ISO-8859-15", 0));
        assert!(s.contains("Élodie Hélène Œil"), "{s}");
    }

    #[test]
    fn utf8_stats_count_sequences() {
        let st = utf8_stats("aé€😀".as_bytes()).unwrap();
        assert_eq!(
            st,
            Utf8Stats {
                multibyte: 3,
                invalid: 0
            }
        );
        let st = utf8_stats(&b"\xE9t\xE9 \xC3\xA9"[..]).unwrap();
        assert_eq!(
            st,
            Utf8Stats {
                multibyte: 1,
                invalid: 2
            }
        );
        // one stray valid pair among Latin-9 accents is Latin-9…
        assert!(!st.reads_as_utf8());
        // …a few bad bytes among UTF-8 accents are UTF-8
        let st = utf8_stats("\u{e9}t\u{e9} \u{e0} \u{e8} \u{e9}\u{ff}".as_bytes()).unwrap();
        let mut bytes = "\u{e9}t\u{e9} \u{e0} \u{e8}".as_bytes().to_vec();
        bytes.extend(b"\xE9\xE8");
        let st2 = utf8_stats(&bytes[..]).unwrap();
        assert_eq!((st.multibyte, st.invalid), (6, 0));
        assert_eq!((st2.multibyte, st2.invalid), (4, 2));
        assert!(st2.reads_as_utf8());
    }

    #[test]
    fn utf8_validation_across_chunks() {
        let mut v = vec![b'a'; SCAN_CHUNK - 1];
        v.extend("é".as_bytes()); // straddles the chunk boundary
        assert!(is_valid_utf8(&v[..]).unwrap());
        assert_eq!(utf8_stats(&v[..]).unwrap().multibyte, 1);
        v.push(0xE9);
        assert!(!is_valid_utf8(&v[..]).unwrap());
        assert!(!is_valid_utf8(&[b'a', 0xC3][..]).unwrap());
    }

    #[test]
    fn leads_are_counted_in_long_runs() {
        // past the 255-byte lanes, and at every offset within them
        let text = "é€😀a".repeat(300);
        for from in [0, 1, 7, 254, 255, 256, 600] {
            let v = &text.as_bytes()[from..];
            let naive = v.iter().filter(|b| **b >= 0xC0).count() as u64;
            assert_eq!(leads(v), naive, "{from}");
        }
        assert_eq!(leads(&[0xFF; 1000]), 1000);
        assert_eq!(leads(&[]), 0);
    }
}
