//! The `aaf-gen` command line. In the library (with the generator) so that
//! `tests/cli.rs` can hold the README's synopsis to the options clap
//! accepts.

use super::{Degree, GenConfig, GenEncoding};
use crate::aaf::filename::{compact_date, parse_compact_date};
use clap::Parser;
use std::path::PathBuf;

/// The date of the base population (day 0).
pub const BASE_DATE: &str = "20250904";

#[derive(Parser)]
#[command(
    name = "aaf-gen",
    about = "Writes a synthetic 1D or 2D AAF extraction (generated names only)"
)]
pub struct GenArgs {
    /// Output directory (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the population: the same seed writes the same people.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 1d: primary schools (four categories); 2d: collèges and lycées
    /// (six categories, with the subjects and MEFs).
    #[arg(long, value_enum, default_value_t = Degree::One)]
    pub degree: Degree,
    /// File name prefix (default ENT1D, or ENT2D with --degree 2d).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Extraction date, yyyymmdd; default the base date (20250904) plus the
    /// days lived (--days, at least 1 with --delta).
    #[arg(long)]
    pub date: Option<String>,
    /// Write the Delta of day --days (default 1): arrivals, departures,
    /// moves, renames, contact and staff changes, as a real day brings.
    #[arg(long)]
    pub delta: bool,
    /// Days of life after the base population: with --delta, the Delta of
    /// that day; without, the Complet of that day (e.g. 7: next week's).
    #[arg(long, default_value_t = 0)]
    pub days: u32,
    /// Schools inside the perimeter.
    #[arg(long, default_value_t = 2)]
    pub schools: usize,
    /// Schools outside the perimeter, sent anyway.
    #[arg(long, default_value_t = 1)]
    pub schools_outside: usize,
    /// Pupils in each school (parents and staff follow from it).
    #[arg(long, default_value_t = 40)]
    pub pupils_per_school: usize,
    /// Records per file part.
    #[arg(long, default_value_t = 100_000)]
    pub part_size: usize,
    /// Write every file in UTF-8 (default: the real-world mix of encodings).
    #[arg(long)]
    pub utf8: bool,
    /// CRLF line ends.
    #[arg(long)]
    pub crlf: bool,
}

/// Why the command line does not make a generator configuration.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenArgsError {
    #[error("--date {0:?}: expected yyyymmdd")]
    Date(String),
    #[error("the base date is invalid")]
    BaseDate,
    #[error("--days {0}: past the last representable date")]
    Days(u32),
}

impl GenArgs {
    /// The generator's configuration. Without `--date` the extraction is
    /// dated by the days lived, so that the Complet of day 30 does not
    /// carry the base Complet's label (a sync would take it for the same
    /// extraction, or an older one).
    pub fn config(self) -> Result<GenConfig, GenArgsError> {
        let days = if self.delta {
            self.days.max(1)
        } else {
            self.days
        };
        let date = match self.date {
            Some(d) => {
                if d.len() != 8 || parse_compact_date(&d).is_none() {
                    return Err(GenArgsError::Date(d));
                }
                d
            }
            None => {
                let base = parse_compact_date(BASE_DATE).ok_or(GenArgsError::BaseDate)?;
                let day = base
                    .checked_add(time::Duration::days(i64::from(days)))
                    .ok_or(GenArgsError::Days(days))?;
                compact_date(day)
            }
        };
        let mut cfg = GenConfig {
            seed: self.seed,
            prefix: self.prefix.unwrap_or_else(|| {
                match self.degree {
                    Degree::One => "ENT1D",
                    Degree::Two => "ENT2D",
                }
                .to_string()
            }),
            degree: self.degree,
            date,
            delta: self.delta,
            days: self.days,
            schools: self.schools,
            schools_outside: self.schools_outside,
            pupils_per_school: self.pupils_per_school,
            part_size: self.part_size,
            crlf: self.crlf,
            ..Default::default()
        };
        if self.utf8 {
            cfg.encodings = [GenEncoding::Utf8; 4];
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> GenArgs {
        GenArgs::try_parse_from([&["aaf-gen", "--out", "x"], a].concat()).expect("valid arguments")
    }

    #[test]
    fn dated_by_the_days_lived() {
        assert_eq!(args(&[]).config().map(|c| c.date), Ok("20250904".into()));
        assert_eq!(
            args(&["--days", "30"]).config().map(|c| c.date),
            Ok("20251004".into())
        );
        // a Delta is at least day 1
        assert_eq!(
            args(&["--delta"]).config().map(|c| c.date),
            Ok("20250905".into())
        );
        assert_eq!(
            args(&["--days", "30", "--date", "20260101"])
                .config()
                .map(|c| c.date),
            Ok("20260101".into())
        );
        assert_eq!(
            args(&["--date", "2026-01-01"]).config().map(|c| c.date),
            Err(GenArgsError::Date("2026-01-01".into()))
        );
    }

    #[test]
    fn degree_selects_the_generator_and_the_prefix() {
        let one = args(&[]).config().unwrap();
        assert_eq!((one.degree, one.prefix.as_str()), (Degree::One, "ENT1D"));
        let two = args(&["--degree", "2d"]).config().unwrap();
        assert_eq!((two.degree, two.prefix.as_str()), (Degree::Two, "ENT2D"));
        let named = args(&["--degree", "2d", "--prefix", "ENT2DVA-ENT16"])
            .config()
            .unwrap();
        assert_eq!(named.prefix, "ENT2DVA-ENT16");
        assert!(GenArgs::try_parse_from(["aaf-gen", "--out", "x", "--degree", "3d"]).is_err());
    }
}
