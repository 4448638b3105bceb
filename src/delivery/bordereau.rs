//! The bordereau (spec §2): a text manifest delivered with the XML files,
//! giving header lines and each XML file's size in lines. When one is
//! present, every file it lists must exist with that line count, and only the
//! files it lists may be used: a truncated or partial delivery is refused
//! before anything is parsed, so it can never read as mass departures.
//!
//! Its layout is not published; accepted, line by line (blank lines and
//! lines starting with `#` are skipped):
//! - file lines `NAME LINES` or `NAME;LINES` (NAME ends with `.xml`, LINES
//!   is a number; blanks around `;` allowed);
//! - header lines `key: value` or `key=value` (kept for the report).
//!
//! Any other line refuses the bordereau, naming the file and the line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a bordereau, or a file it lists, is refused.
#[derive(Debug, thiserror::Error)]
pub enum BordereauError {
    /// The bordereau or a listed file cannot be read.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: larger than 1 MiB: not a bordereau", .0.display())]
    TooLarge(PathBuf),
    #[error("{}: line {line}: not understood (expected `NAME LINES`, `NAME;LINES`, `key: value` or `key=value`)", path.display())]
    NotUnderstood { path: PathBuf, line: usize },
    #[error("{}: lists no XML file", .0.display())]
    NoXmlFile(PathBuf),
    /// A listed file has not the line count the bordereau announces.
    #[error("{}: {lines} lines, the bordereau announces {announced}", path.display())]
    LineCount {
        path: PathBuf,
        lines: u64,
        announced: u64,
    },
}

/// An I/O error on `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BordereauError + '_ {
    move |error| BordereauError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A bordereau as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bordereau {
    pub path: PathBuf,
    pub header: BTreeMap<String, String>,
    /// Listed files and their announced line counts, in order.
    pub files: Vec<(String, u64)>,
}

/// True for a bordereau's file name: the configured name, else any name
/// containing `bordereau` (any case).
pub fn is_bordereau_name(name: &str, configured: Option<&str>) -> bool {
    match configured {
        Some(c) => name == c,
        None => name.to_lowercase().contains("bordereau"),
    }
}

fn file_line(line: &str) -> Option<(String, u64)> {
    let fields: Vec<&str> = if line.contains(';') {
        line.split(';').map(str::trim).collect()
    } else {
        line.split_whitespace().collect()
    };
    match fields.as_slice() {
        [name, lines]
            if name.to_lowercase().ends_with(".xml")
                && !lines.is_empty()
                && lines.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((name.to_string(), lines.parse().ok()?))
        }
        _ => None,
    }
}

fn header_line(line: &str) -> Option<(String, String)> {
    let cut = line.find([':', '='])?;
    let key = line[..cut].trim();
    (!key.is_empty()).then(|| (key.to_string(), line[cut + 1..].trim().to_string()))
}

/// Parses the text of a bordereau.
pub fn parse_text(path: &Path, text: &str) -> Result<Bordereau, BordereauError> {
    let mut b = Bordereau {
        path: path.to_path_buf(),
        ..Default::default()
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(f) = file_line(line) {
            b.files.push(f);
        } else if let Some((k, v)) = header_line(line) {
            b.header.insert(k, v);
        } else {
            return Err(BordereauError::NotUnderstood {
                path: path.to_path_buf(),
                line: i + 1,
            });
        }
    }
    if b.files.is_empty() {
        return Err(BordereauError::NoXmlFile(path.to_path_buf()));
    }
    Ok(b)
}

/// Largest bordereau read: a few lines per file of an extraction.
const MAX_BYTES: u64 = 1 << 20;

/// Reads and parses a bordereau (UTF-8, or Latin-1 when it is not). At
/// most [`MAX_BYTES`] are ever read: a huge file named like a bordereau
/// (4 GB of zeros) used to be loaded whole before its size was judged.
pub fn read(path: &Path) -> Result<Bordereau, BordereauError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io(path))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(BordereauError::TooLarge(path.to_path_buf()));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    parse_text(path, &text)
}

/// Lines of a file as `wc -l` counts them (newlines), and whether a last
/// line without a newline follows.
pub fn count_lines(path: &Path) -> std::io::Result<(u64, bool)> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    let mut last = b'\n';
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[k - 1];
    }
    Ok((n, last != b'\n'))
}

/// Checks one listed file against its announced count. Both conventions
/// are accepted for a last line without a newline (`wc -l`, or one more).
pub fn check_file(path: &Path, announced: u64) -> Result<(), BordereauError> {
    let (n, partial) = count_lines(path).map_err(io(path))?;
    if announced == n || (partial && announced == n + 1) {
        Ok(())
    } else {
        Err(BordereauError::LineCount {
            path: path.to_path_buf(),
            lines: n + u64::from(partial),
            announced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_layouts() {
        let text = "\u{feff}Code destinataire: ENT-94\ndate_envoi=04/09/2025\n# comment\n\n\
                    ENT1D_Complet_20250904_Eleve_0000.xml 1234\n\
                    ENT1D_Complet_20250904_EtabEducNat_0000.XML ; 56\n";
        let b = parse_text(Path::new("b.txt"), text).unwrap();
        assert_eq!(b.header["Code destinataire"], "ENT-94");
        assert_eq!(b.header["date_envoi"], "04/09/2025");
        assert_eq!(
            b.files,
            vec![
                ("ENT1D_Complet_20250904_Eleve_0000.xml".to_string(), 1234),
                (
                    "ENT1D_Complet_20250904_EtabEducNat_0000.XML".to_string(),
                    56
                )
            ]
        );
    }

    #[test]
    fn unknown_layouts_fail_clearly() {
        for (text, want) in [
            ("a.xml 12 345\n", "line 1: not understood"),
            ("x: y\nsomething else\n", "line 2: not understood"),
            ("a.xml;twelve\n", "line 1: not understood"),
            ("k: v\n", "lists no XML file"),
        ] {
            let e = parse_text(Path::new("bordereau.txt"), text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want) && e.starts_with("bordereau.txt"),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn names_and_line_counts() {
        assert!(is_bordereau_name("BORDEREAU_20250904.txt", None));
        assert!(is_bordereau_name("envoi.Bordereau", None));
        assert!(!is_bordereau_name("manifest.txt", None));
        assert!(is_bordereau_name("manifest.txt", Some("manifest.txt")));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.xml");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(count_lines(&p).unwrap(), (2, true));
        assert!(check_file(&p, 2).is_ok() && check_file(&p, 3).is_ok());
        let e = check_file(&p, 4).unwrap_err();
        assert!(
            matches!(
                e,
                BordereauError::LineCount {
                    lines: 3,
                    announced: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("3 lines, the bordereau announces 4"), "{e}");
        std::fs::write(&p, "a\n").unwrap();
        assert!(check_file(&p, 1).is_ok() && check_file(&p, 2).is_err());
    }
}
