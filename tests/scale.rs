//! Académie-scale tooling: `export-ldif` for a first load with `slapadd -q`,
//! after which the first online sync writes nothing; and the benchmark
//! script kept working (a small run, figures not asserted).

mod common;

use aaf_sync::generator::{generate, GenConfig};
use common::*;

#[test]
fn export_ldif_loaded_by_slapadd_leaves_nothing_for_the_first_sync() {
    let ldap = Slapd::start_empty();
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(
        &GenConfig {
            schools: 3,
            pupils_per_school: 30,
            part_size: 40,
            ..Default::default()
        },
        &tmp.path().join("x"),
    )
    .unwrap();
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let x = tmp.path().join("x").display().to_string();
    let ldif = tmp.path().join("init.ldif");
    let (_, err) = aaf_sync_ok(
        &[
            "export-ldif",
            "--config",
            &config,
            "--now",
            "2025-09-04",
            "--with-base",
            "--out",
            ldif.to_str().unwrap(),
            &x,
        ],
        0,
    );
    assert!(err.contains("entries written"), "{err}");
    ldap.stop();
    ldap.slapadd(&ldif);
    ldap.restart();
    let loaded = ldap.dump();
    assert!(loaded.len() > 200, "{}", loaded.len());
    let r = tmp.path().join("r.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-04",
            "--report",
            r.to_str().unwrap(),
            &x,
        ],
        0,
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    assert_eq!(
        rep["steps"][0]["plan"]["total"], 0,
        "the first online sync writes nothing"
    );
    assert_eq!(ldap.dump(), loaded);

    // the same tree as an online first sync
    let online = Slapd::start_empty();
    let tmp2 = tempfile::tempdir().unwrap();
    let config2 = online
        .config(tmp2.path(), &g.uai_inside, "")
        .display()
        .to_string();
    online.modify(&format!(
        "dn: {BASE}\nchangetype: add\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n"
    ));
    aaf_sync_ok(
        &["sync", "--config", &config2, "--now", "2025-09-04", &x],
        0,
    );
    assert_eq!(online.dump(), loaded);
}
