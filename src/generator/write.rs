//! Writing an extraction, shared by 1D and 2D: the requests as XML, the
//! header comments of each degree, the encodings (and their quirks: no
//! declaration, declared Latin-9 but UTF-8, HTML named entities), CRLF,
//! and the split of a category into numbered parts.

use super::records::Req;
use super::{Degree, GenConfig, GenEncoding};
use crate::aaf::filename::FileCategory;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn esc(v: &str, entities: bool) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' if entities => s.push_str("&apos;"),
            'é' if entities => s.push_str("&eacute;"),
            _ => s.push(c),
        }
    }
    s
}

/// The operational attribute of a category: its name and value. The
/// subjects' files say `MatEducNat`, not their file name's
/// `MatiereEducNat` (research §2.2, EC fixtures).
fn operational(cat: FileCategory) -> (&'static str, &'static str) {
    match cat {
        FileCategory::EtabEducNat => ("categorieStructure", "EtabEducNat"),
        FileCategory::MatiereEducNat => ("categorieMatiere", "MatEducNat"),
        FileCategory::MefEducNat => ("categorieMef", "MefEducNat"),
        other => ("categoriePersonne", other.as_str()),
    }
}

fn render_req(out: &mut String, cat: FileCategory, req: &Req, entities: bool) {
    let (tag, id, attrs) = match req {
        Req::Add(id, a) => ("addRequest", id, Some(a)),
        Req::Modify(id, a) => ("modifyRequest", id, Some(a)),
        Req::Delete(id) => ("deleteRequest", id, None),
    };
    let (opname, opvalue) = operational(cat);
    let _ = write!(
        out,
        "<{tag}>\n<operationalAttributes><attr name=\"{opname}\"><value>{opvalue}</value></attr></operationalAttributes>\n<identifier><id>{id}</id></identifier>\n"
    );
    if let Some(attrs) = attrs {
        let (wrap, item, extra) = if matches!(req, Req::Modify(..)) {
            ("modifications", "modification", " operation=\"replace\"")
        } else {
            ("attributes", "attr", "")
        };
        let _ = writeln!(out, "<{wrap}>");
        for (name, values) in attrs {
            let _ = write!(out, "<{item} name=\"{name}\"{extra}>");
            if values.is_empty() {
                out.push_str("<value/>");
            }
            for v in values {
                let _ = write!(out, "<value>{}</value>", esc(v, entities));
            }
            let _ = writeln!(out, "</{item}>");
        }
        let _ = writeln!(out, "</{wrap}>");
    }
    let _ = writeln!(out, "</{tag}>");
}

fn encode(text: &str, enc: GenEncoding) -> Vec<u8> {
    match enc {
        GenEncoding::Utf8 | GenEncoding::Utf8DeclaredLatin9 => text.as_bytes().to_vec(),
        GenEncoding::Latin9 | GenEncoding::Latin9NoDecl => {
            encoding_rs::ISO_8859_15.encode(text).0.into_owned()
        }
        GenEncoding::Latin1 => encoding_rs::WINDOWS_1252.encode(text).0.into_owned(),
    }
}

/// The header comments after the root tag, as real files of the degree
/// carry them (research §2.1: 2D files name the SDET annex `4bis`).
fn header(cfg: &GenConfig) -> String {
    let date = format!(
        "{}/{}/{}",
        &cfg.date[6..8],
        &cfg.date[4..6],
        &cfg.date[0..4]
    );
    match cfg.degree {
        Degree::One => format!(
            "<!-- versionAF=\"AAF-VE2407\" -->\n<!-- codeAcademieExport=\"24\" -->\n<!-- degre=\"1D\" -->\n<!-- dateGenerationExport=\"{date}\" -->\n"
        ),
        Degree::Two => format!(
            "<!-- versionAF=\"AAF-VE2407\" -->\n<!-- versionSDET=\"Annexe 4bis version 6.4\" -->\n<!-- codeAcademieExport=\"24\" -->\n<!-- degre=\"2D\" -->\n<!-- dateGenerationExport=\"{date}\" -->\n"
        ),
    }
}

fn write_file(
    path: &Path,
    cat: FileCategory,
    reqs: &[Req],
    cfg: &GenConfig,
    enc: GenEncoding,
    entities: bool,
) -> io::Result<()> {
    let mut s = String::new();
    let decl = match enc {
        GenEncoding::Utf8 => Some("UTF-8"),
        GenEncoding::Latin9 | GenEncoding::Utf8DeclaredLatin9 => Some("ISO-8859-15"),
        GenEncoding::Latin1 => Some("ISO-8859-1"),
        GenEncoding::Latin9NoDecl => None,
    };
    if let Some(d) = decl {
        let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"{d}\"?>");
    }
    s.push_str("<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<ficAlimMENESR>\n");
    s.push_str(&header(cfg));
    for r in reqs {
        render_req(&mut s, cat, r, entities);
    }
    s.push_str("</ficAlimMENESR>\n");
    if cfg.crlf {
        s = s.replace('\n', "\r\n");
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(&encode(&s, enc))?;
    Ok(())
}

fn latin1_safe(s: &str) -> String {
    s.replace('œ', "oe").replace('Œ', "OE")
}

/// The encoding of a category's files: `cfg.encodings` in
/// `FileCategory::IMPORTED` order; 2D's subjects take the structures' and
/// its MEFs the pupils' (the configuration has four slots, 1D's).
fn encoding_of(cfg: &GenConfig, cat: FileCategory) -> GenEncoding {
    let i = match cat {
        FileCategory::MatiereEducNat => 0,
        FileCategory::MefEducNat => 1,
        c => FileCategory::IMPORTED
            .iter()
            .position(|k| *k == c)
            .unwrap_or(0),
    };
    cfg.encodings[i]
}

/// Writes each category's requests into `dir`, split into parts of
/// `cfg.part_size` (an empty category still gets its `_0000` file), and
/// returns the paths in order.
pub(super) fn write_categories(
    cfg: &GenConfig,
    dir: &Path,
    by_cat: &mut [(FileCategory, Vec<Req>)],
) -> io::Result<Vec<PathBuf>> {
    let kind = if cfg.delta { "Delta" } else { "Complet" };
    let mut files = Vec::new();
    for (cat, reqs) in by_cat.iter_mut() {
        let enc = encoding_of(cfg, *cat);
        if enc == GenEncoding::Latin1 {
            for r in reqs.iter_mut() {
                if let Req::Add(_, a) | Req::Modify(_, a) = r {
                    for (_, vals) in a.iter_mut() {
                        for v in vals.iter_mut() {
                            *v = latin1_safe(v);
                        }
                    }
                }
            }
        }
        let chunks: Vec<&[Req]> = if reqs.is_empty() {
            vec![&[]]
        } else {
            reqs.chunks(cfg.part_size.max(1)).collect()
        };
        for (part, chunk) in chunks.into_iter().enumerate() {
            let path = dir.join(format!(
                "{}_{kind}_{}_{}_{part:04}.xml",
                cfg.prefix, cfg.date, cat
            ));
            // the parents' files carry HTML named entities, as some real ones do
            write_file(
                &path,
                *cat,
                chunk,
                cfg,
                enc,
                *cat == FileCategory::PersRelEleve,
            )?;
            files.push(path);
        }
    }
    Ok(files)
}
