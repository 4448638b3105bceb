//! Synthetic AAF extractions, 1D (primary) or 2D (secondary): every
//! category of the degree (1D: four; 2D: six, with the subjects and MEFs),
//! Complet or Delta, any size, reproducible from a seed, with the
//! real-world quirks of spec §3 (Latin-9 files with "Œ", no XML declaration,
//! HTML entities, values escaped twice, unknown attributes, CRLF, empty
//! values, parts). Names are made of random syllables: no real person is
//! ever in the data.
//!
//! `names` (who), `records` (the requests), `write` (the files) are shared;
//! `one_d` + `evolve` and `two_d` build and live each degree's population.
//! Used for the bundled sample, the tests and the benchmarks (`aaf-gen`).

pub mod cli;
mod evolve;
mod names;
mod one_d;
mod records;
mod two_d;
mod write;

pub use names::{uai, Rng};
use std::io;
use std::path::{Path, PathBuf};

/// Which half of AAF to write (spec §4): 1D primary schools or 2D
/// collèges and lycées.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Degree {
    /// Primary schools (the four categories, `degre="1D"`).
    #[default]
    #[value(name = "1d")]
    One,
    /// Collèges and lycées (six categories, `degre="2D"`, SDET annex 4bis).
    #[value(name = "2d")]
    Two,
}

/// Output encoding of the generated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenEncoding {
    Utf8,
    /// ISO-8859-15, declared.
    Latin9,
    /// ISO-8859-1, declared (names limited to Latin-1).
    Latin1,
    /// ISO-8859-15 bytes and no XML declaration at all.
    Latin9NoDecl,
    /// Declared ISO-8859-15 but written in UTF-8 (seen in real deliveries).
    Utf8DeclaredLatin9,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    pub prefix: String,
    /// `yyyymmdd`.
    pub date: String,
    /// Write the Delta of day `days` (at least 1) instead of a Complet.
    pub delta: bool,
    /// Days of life after the base population: a Complet of that day, or
    /// the Delta of that day (see `evolve`). 0: the base population.
    pub days: u32,
    /// Schools inside the perimeter.
    pub schools: usize,
    /// Extra schools the académie sends although outside the perimeter.
    pub schools_outside: usize,
    pub pupils_per_school: usize,
    /// Records per file part (`_0000`, `_0001`…).
    pub part_size: usize,
    /// Encoding per category, in `FileCategory::IMPORTED` order (2D:
    /// `MatiereEducNat` as `EtabEducNat`, `MefEducNat` as `Eleve`).
    pub encodings: [GenEncoding; 4],
    pub crlf: bool,
    /// First UAI number (7 digits; the check letter is computed). 2D
    /// schools start 500 further, so that a 1D and a 2D extraction of one
    /// seed can describe the same académie.
    pub uai_base: u32,
    /// 1D or 2D.
    pub degree: Degree,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            prefix: "ENT1D".into(),
            date: "20250904".into(),
            delta: false,
            days: 0,
            schools: 2,
            schools_outside: 1,
            pupils_per_school: 40,
            part_size: 100_000,
            encodings: [
                GenEncoding::Utf8,
                GenEncoding::Latin9,
                GenEncoding::Utf8DeclaredLatin9,
                GenEncoding::Latin9NoDecl,
            ],
            crlf: false,
            uai_base: 920_100,
            degree: Degree::One,
        }
    }
}

/// What was generated (for tests and the demo config).
#[derive(Debug, Clone, Default)]
pub struct GenSummary {
    pub files: Vec<PathBuf>,
    /// UAIs of the schools inside the perimeter.
    pub uai_inside: Vec<String>,
    pub uai_outside: Vec<String>,
    pub schools: usize,
    pub pupils: usize,
    pub parents: usize,
    pub staff: usize,
    /// 2D: records of `MatiereEducNat` and `MefEducNat`.
    pub subjects: usize,
    pub mefs: usize,
    /// Requests of a Delta by category and operation (`Eleve add`...).
    pub changes: std::collections::BTreeMap<String, usize>,
}

/// Writes an extraction of `cfg.degree` into `dir`.
pub fn generate(cfg: &GenConfig, dir: &Path) -> io::Result<GenSummary> {
    std::fs::create_dir_all(dir)?;
    match cfg.degree {
        Degree::One => one_d::generate(cfg, dir),
        Degree::Two => two_d::generate(cfg, dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_from_seed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = GenConfig::default();
        let sa = generate(&cfg, a.path()).unwrap();
        generate(&cfg, b.path()).unwrap();
        assert_eq!(sa.files.len(), 4);
        for f in &sa.files {
            let name = f.file_name().unwrap();
            assert_eq!(
                std::fs::read(f).unwrap(),
                std::fs::read(b.path().join(name)).unwrap()
            );
        }
    }
}
