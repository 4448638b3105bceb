//! `aaf-gen`: writes a synthetic 1D or 2D AAF extraction (see `aaf_sync::generator`).

use aaf_sync::generator::cli::GenArgs;
use aaf_sync::generator::generate;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let a = GenArgs::parse();
    let out = a.out.clone();
    let cfg = a.config()?;
    let s = generate(&cfg, &out)?;
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
    if s.subjects + s.mefs > 0 {
        println!("{} subjects, {} MEFs", s.subjects, s.mefs);
    }
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
