//! `aaf-gen`: writes a synthetic 1D AAF extraction (see `aaf_sync::generator`).

use aaf_sync::generator::{generate, GenConfig, GenEncoding};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "aaf-gen",
    about = "Writes a synthetic 1D AAF extraction (generated names only)"
)]
struct Args {
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// File name prefix.
    #[arg(long, default_value = "ENT1D")]
    prefix: String,
    /// Extraction date, yyyymmdd.
    #[arg(long, default_value = "20250904")]
    date: String,
    /// Write the Delta of day --days (default 1): arrivals, departures,
    /// moves, renames, contact and staff changes, as a real day brings.
    #[arg(long)]
    delta: bool,
    /// Days of life after the base population: with --delta, the Delta of
    /// that day; without, the Complet of that day (e.g. 7: next week's).
    #[arg(long, default_value_t = 0)]
    days: u32,
    /// Schools inside the perimeter.
    #[arg(long, default_value_t = 2)]
    schools: usize,
    /// Schools outside the perimeter, sent anyway.
    #[arg(long, default_value_t = 1)]
    schools_outside: usize,
    #[arg(long, default_value_t = 40)]
    pupils_per_school: usize,
    /// Records per file part.
    #[arg(long, default_value_t = 100_000)]
    part_size: usize,
    /// Write every file in UTF-8 (default: the real-world mix of encodings).
    #[arg(long)]
    utf8: bool,
    /// CRLF line ends.
    #[arg(long)]
    crlf: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.date.len() == 8 && a.date.bytes().all(|b| b.is_ascii_digit()),
        "--date must be yyyymmdd"
    );
    let mut cfg = GenConfig {
        seed: a.seed,
        prefix: a.prefix,
        date: a.date,
        delta: a.delta,
        days: a.days,
        schools: a.schools,
        schools_outside: a.schools_outside,
        pupils_per_school: a.pupils_per_school,
        part_size: a.part_size,
        crlf: a.crlf,
        ..Default::default()
    };
    if a.utf8 {
        cfg.encodings = [GenEncoding::Utf8; 4];
    }
    let s = generate(&cfg, &a.out)?;
    let toml = |v: &[String]| {
        let q: Vec<String> = v.iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", q.join(", "))
    };
    println!(
        "{} files: {} schools, {} pupils, {} parents, {} staff",
        s.files.len(),
        s.schools,
        s.pupils,
        s.parents,
        s.staff,
    );
    // ready to paste into the configuration's [perimeter] table
    println!("[perimeter]\nuai = {}", toml(&s.uai_inside));
    if !s.uai_outside.is_empty() {
        println!("# schools outside the perimeter: {}", toml(&s.uai_outside));
    }
    if !s.changes.is_empty() {
        let c: Vec<String> = s.changes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("Delta requests: {}", c.join(", "));
    }
    Ok(())
}
