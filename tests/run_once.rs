//! `run` with several deliveries waiting reads the managed tree once: each
//! extraction is planned against the tree the previous one left, played
//! forward, and the retention pass too. Against two real slapds: the tree
//! a `run` of two deliveries leaves is the tree two `run`s leave, one
//! delivery each, and each of those reads the tree once as well.

mod common;

use aaf_sync::generator::{generate, GenConfig};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gen(dir: &Path, delta: bool, date: &str) -> (Vec<PathBuf>, Vec<String>) {
    let s = generate(
        &GenConfig {
            delta,
            date: date.into(),
            ..Default::default()
        },
        dir,
    )
    .unwrap();
    (s.files, s.uai_inside)
}

/// Copies extraction files into the work directory's incoming directory,
/// where `run` finds what `fetch` left.
fn deliver(config_dir: &Path, files: &[PathBuf]) {
    let incoming = config_dir.join("work/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    for f in files {
        std::fs::copy(f, incoming.join(f.file_name().unwrap())).unwrap();
    }
}

/// `run` with the library's info lines on stderr; (report, stderr, number
/// of times the managed tree was read).
fn run(config: &Path, report: &Path) -> (serde_json::Value, String, usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-05",
            "--report",
            report.to_str().unwrap(),
        ])
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .env("AAF_SYNC_LOG", "warn,aaf_sync=info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let r = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let reads = err.lines().filter(|l| l.contains("directory read")).count();
    (r, err, reads)
}

#[test]
fn a_run_of_two_deliveries_reads_the_tree_once_and_leaves_what_two_runs_leave() {
    require_slapd();
    let tmp = tempfile::tempdir().unwrap();
    let (complet, uai) = gen(&tmp.path().join("c"), false, "20250904");
    let (delta, _) = gen(&tmp.path().join("d"), true, "20250905");
    let (one, two) = (Slapd::start(), Slapd::start());
    let (dir_one, dir_two) = (tmp.path().join("one"), tmp.path().join("two"));
    std::fs::create_dir_all(&dir_one).unwrap();
    std::fs::create_dir_all(&dir_two).unwrap();
    let config_one = one.config(&dir_one, &uai, "");
    let config_two = two.config(&dir_two, &uai, "");

    // both deliveries waiting: one run
    deliver(&dir_one, &complet);
    deliver(&dir_one, &delta);
    let (r, err, reads) = run(&config_one, &tmp.path().join("r1.json"));
    let outcomes: Vec<&str> = r["extractions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["imported", "imported"], "{err}");
    assert_eq!(r["retention"]["outcome"], "ok", "{err}");
    assert_eq!(
        reads, 1,
        "the tree read once for both and the retention pass:\n{err}"
    );
    // the Delta's report says what it was planned against
    let read = &r["extractions"][1]["report"]["perf"]["read_entries"];
    assert!(read.as_u64().unwrap() > 0, "{r}");

    // one delivery a run
    deliver(&dir_two, &complet);
    let (r, err, reads) = run(&config_two, &tmp.path().join("r2.json"));
    assert_eq!(r["extractions"][0]["outcome"], "imported", "{err}");
    assert_eq!(reads, 1, "{err}");
    deliver(&dir_two, &delta);
    let (r, err, reads) = run(&config_two, &tmp.path().join("r3.json"));
    assert_eq!(r["extractions"][0]["outcome"], "imported", "{err}");
    assert_eq!(reads, 1, "{err}");

    assert_eq!(one.dump(), two.dump());
}
