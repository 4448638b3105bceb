//! AAF file names and their grouping into extractions (spec §2).
//!
//! `<prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml`; the prefix may
//! itself contain underscores, so the name is read from the right. An
//! extraction is the set of files sharing prefix, type and date.

use crate::schema::date::format_date;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use time::Date;

/// Complet (full snapshot of the perimeter) or Delta (changes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ExtractionKind {
    Complet,
    Delta,
}

/// The category part of a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FileCategory {
    EtabEducNat,
    Eleve,
    PersRelEleve,
    PersEducNat,
    /// 2D only: the subjects (a reference table, no entries).
    MatiereEducNat,
    /// 2D only: the formations (MEF; a reference table, no entries).
    MefEducNat,
}

impl FileCategory {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EtabEducNat" => Self::EtabEducNat,
            "Eleve" => Self::Eleve,
            "PersRelEleve" => Self::PersRelEleve,
            "PersEducNat" => Self::PersEducNat,
            "MatiereEducNat" => Self::MatiereEducNat,
            "MefEducNat" => Self::MefEducNat,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EtabEducNat => "EtabEducNat",
            Self::Eleve => "Eleve",
            Self::PersRelEleve => "PersRelEleve",
            Self::PersEducNat => "PersEducNat",
            Self::MatiereEducNat => "MatiereEducNat",
            Self::MefEducNat => "MefEducNat",
        }
    }
    /// The category as a record's operational attribute names it: the file
    /// name's, but `MatEducNat` for subjects (`categorieMatiere`).
    pub fn in_record(self) -> &'static str {
        match self {
            Self::MatiereEducNat => "MatEducNat",
            other => other.as_str(),
        }
    }
    /// True for the 2D reference tables (subjects, formations): no person
    /// or structure, no entry of their own.
    pub fn is_reference(self) -> bool {
        matches!(self, Self::MatiereEducNat | Self::MefEducNat)
    }
    /// The four categories a 1D extraction is made of, in import order:
    /// structures first (people refer to them), pupils before their parents.
    pub const IMPORTED: [FileCategory; 4] = [
        Self::EtabEducNat,
        Self::Eleve,
        Self::PersRelEleve,
        Self::PersEducNat,
    ];
}

impl fmt::Display for FileCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed AAF file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AafFileName {
    pub prefix: String,
    pub kind: ExtractionKind,
    #[serde(serialize_with = "ser_date")]
    pub date: Date,
    pub category: FileCategory,
    pub part: u32,
}

pub(crate) fn ser_date<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_date(*d))
}

/// `yyyymmdd`, as in file names and extraction labels.
pub fn compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `yyyymmdd`.
pub fn parse_compact_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u8 = s[4..6].parse().ok()?;
    let d: u8 = s[6..8].parse().ok()?;
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

impl AafFileName {
    /// Parses a file name (not a path). Returns `None` for names that are not
    /// AAF extraction files.
    pub fn parse(name: &str) -> Option<Self> {
        let stem = name
            .strip_suffix(".xml")
            .or_else(|| name.strip_suffix(".XML"))?;
        let mut it = stem.rsplitn(5, '_');
        let part = it.next()?;
        let category = it.next()?;
        let date = it.next()?;
        let kind = it.next()?;
        let prefix = it.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() {
            return None;
        }
        let kind = match kind {
            "Complet" => ExtractionKind::Complet,
            "Delta" => ExtractionKind::Delta,
            _ => return None,
        };
        Some(AafFileName {
            prefix: prefix.to_string(),
            kind,
            date: parse_compact_date(date)?,
            category: FileCategory::parse(category)?,
            part: part.parse().ok()?,
        })
    }
}

/// One file of an extraction.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractFile {
    pub path: PathBuf,
    pub name: AafFileName,
}

/// All files sharing prefix, type and date.
#[derive(Debug, Clone, Serialize)]
pub struct Extraction {
    pub prefix: String,
    pub kind: ExtractionKind,
    #[serde(serialize_with = "ser_date")]
    pub date: Date,
    /// Sorted by category (import order) then part number.
    pub files: Vec<ExtractFile>,
}

impl Extraction {
    /// A short label for logs and reports: `prefix_Kind_yyyymmdd`.
    pub fn label(&self) -> String {
        format!(
            "{}_{:?}_{}",
            self.prefix,
            self.kind,
            compact_date(self.date)
        )
    }

    pub fn files_of(&self, cat: FileCategory) -> impl Iterator<Item = &ExtractFile> {
        self.files.iter().filter(move |f| f.name.category == cat)
    }

    /// What is wrong with the numbering of the parts: a category whose
    /// parts are not `_0000` … `_n` without a gap, or a part given twice.
    /// A part missing in the middle of a Complet would read as its people
    /// leaving; in a Delta, as changes that never happened.
    pub fn part_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for cat in FileCategory::IMPORTED {
            let parts: Vec<u32> = self.files_of(cat).map(|f| f.name.part).collect();
            if parts.is_empty() {
                continue;
            }
            let mut seen = std::collections::BTreeSet::new();
            for p in &parts {
                if !seen.insert(*p) {
                    out.push(format!("{} part {p:04} given twice", cat.as_str()));
                }
            }
            let missing: Vec<String> = (0..=*seen.last().unwrap_or(&0))
                .filter(|p| !seen.contains(p))
                .map(|p| format!("{p:04}"))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "{} part{} {} missing",
                    cat.as_str(),
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", ")
                ));
            }
        }
        out
    }

    /// Why the extraction cannot be read as a whole, if it cannot: a part
    /// missing or given twice, or for a Complet a category without a file
    /// (it would read as all its people leaving).
    pub fn not_whole(&self) -> Option<String> {
        let mut why = Vec::new();
        let missing = self.missing_categories();
        if self.kind == ExtractionKind::Complet && !missing.is_empty() {
            let m: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
            why.push(format!("incomplete Complet, no file for {}", m.join(", ")));
        }
        why.extend(self.part_problems());
        (!why.is_empty()).then(|| why.join("; "))
    }

    pub fn missing_categories(&self) -> Vec<FileCategory> {
        FileCategory::IMPORTED
            .into_iter()
            .filter(|c| self.files_of(*c).next().is_none())
            .collect()
    }
}

/// Result of scanning input paths: the extractions found (oldest first,
/// a Complet before the Delta of the same day) and the files that are not AAF
/// extraction files.
#[derive(Debug, Default)]
pub struct Scan {
    pub extractions: Vec<Extraction>,
    pub other_files: Vec<PathBuf>,
}

/// Groups files into extractions.
pub fn group_files(paths: impl IntoIterator<Item = PathBuf>) -> Scan {
    let mut groups: BTreeMap<(Date, ExtractionKind, String), Vec<ExtractFile>> = BTreeMap::new();
    let mut other = Vec::new();
    for path in paths {
        let parsed = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(AafFileName::parse);
        match parsed {
            Some(name) => groups
                .entry((name.date, name.kind, name.prefix.clone()))
                .or_default()
                .push(ExtractFile { path, name }),
            None => other.push(path),
        }
    }
    let extractions = groups
        .into_iter()
        .map(|((date, kind, prefix), mut files)| {
            files.sort_by(|a, b| {
                (a.name.category, a.name.part, &a.path).cmp(&(
                    b.name.category,
                    b.name.part,
                    &b.path,
                ))
            });
            Extraction {
                prefix,
                kind,
                date,
                files,
            }
        })
        .collect();
    other.sort();
    Scan {
        extractions,
        other_files: other,
    }
}

/// Lists the regular files of a directory (not recursive).
pub fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            out.push(e.path());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_or_a_twin_in_the_parts_is_named() {
        let scan = group_files(
            [
                "/a/P_Complet_20250905_Eleve_0000.xml",
                "/a/P_Complet_20250905_Eleve_0001.xml",
                "/a/P_Complet_20250905_Eleve_0003.xml",
                "/a/P_Complet_20250905_PersEducNat_0001.xml",
                "/a/P_Complet_20250905_EtabEducNat_0000.xml",
                "/b/P_Complet_20250905_EtabEducNat_0000.xml",
                "/a/P_Complet_20250905_PersRelEleve_0000.xml",
            ]
            .map(PathBuf::from),
        );
        assert_eq!(
            scan.extractions[0].part_problems(),
            [
                "EtabEducNat part 0000 given twice",
                "Eleve part 0002 missing",
                "PersEducNat part 0000 missing"
            ]
        );
        let scan = group_files(
            [
                "/a/P_Delta_20250905_Eleve_0000.xml",
                "/a/P_Delta_20250905_Eleve_0001.xml",
            ]
            .map(PathBuf::from),
        );
        assert!(scan.extractions[0].part_problems().is_empty());
    }

    #[test]
    fn parses_real_names() {
        let n = AafFileName::parse("ENT2DVA-ENT16_Complet_20240916_PersEducNat_0000.xml").unwrap();
        assert_eq!(n.prefix, "ENT2DVA-ENT16");
        assert_eq!(n.kind, ExtractionKind::Complet);
        assert_eq!(n.category, FileCategory::PersEducNat);
        assert_eq!(format_date(n.date), "2024-09-16");
        let n =
            AafFileName::parse("FULL_ENTTSSERVICES_Delta_20130117_PersRelEleve_0039.xml").unwrap();
        assert_eq!(n.prefix, "FULL_ENTTSSERVICES");
        assert_eq!(n.category, FileCategory::PersRelEleve);
        assert_eq!(n.part, 39);
        assert_eq!(n.kind, ExtractionKind::Delta);
    }

    #[test]
    fn rejects_other_names() {
        for n in [
            "bordereau.txt",
            "X_Complet_20241301_Eleve_0000.xml",
            "X_Full_20240101_Eleve_0000.xml",
            "X_Complet_20240101_Prof_0000.xml",
            "_Complet_20240101_Eleve_0000.xml",
            "X_Complet_20240101_Eleve_.xml",
        ] {
            assert!(AafFileName::parse(n).is_none(), "{n}");
        }
    }

    #[test]
    fn groups_and_orders() {
        let s = group_files(
            [
                "d/P_Delta_20240102_Eleve_0000.xml",
                "d/P_Complet_20240101_PersEducNat_0000.xml",
                "d/P_Complet_20240101_Eleve_0001.xml",
                "d/P_Complet_20240101_Eleve_0000.xml",
                "d/P_Complet_20240101_EtabEducNat_0000.xml",
                "d/bordereau.txt",
            ]
            .map(PathBuf::from),
        );
        assert_eq!(s.extractions.len(), 2);
        let c = &s.extractions[0];
        assert_eq!(c.kind, ExtractionKind::Complet);
        let names: Vec<_> = c.files.iter().map(|f| f.path.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "d/P_Complet_20240101_EtabEducNat_0000.xml",
                "d/P_Complet_20240101_Eleve_0000.xml",
                "d/P_Complet_20240101_Eleve_0001.xml",
                "d/P_Complet_20240101_PersEducNat_0000.xml"
            ]
        );
        assert_eq!(c.missing_categories(), vec![FileCategory::PersRelEleve]);
        assert_eq!(s.other_files, vec![PathBuf::from("d/bordereau.txt")]);
        assert_eq!(c.label(), "P_Complet_20240101");
    }
}
