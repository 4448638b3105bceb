//! The schema ships twice (`.schema` for slapd.conf, `.ldif` for cn=config):
//! this test keeps the two in step, and checks that both load into a stock
//! slapd after core, cosine, nis and inetorgperson.
//! `AAF_SYNC_BLESS=1 cargo test --test schema` rewrites the LDIF files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

fn schema_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "schema"))
        .collect();
    v.sort();
    assert!(v.len() >= 2, "schema files missing: {v:?}");
    v
}

#[test]
fn ldif_matches_schema() {
    for f in schema_files() {
        common::check_golden(
            &f.with_extension("ldif"),
            &common::schema_to_ldif(&f),
            "schema",
        );
    }
}

#[test]
fn schema_files_load_in_slapd_conf_format() {
    common::require_slapd();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = String::new();
    for s in ["core", "cosine", "nis", "inetorgperson"] {
        conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
    }
    for f in schema_files() {
        conf.push_str(&format!("include {}\n", f.display()));
    }
    conf.push_str(&format!(
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\ndatabase mdb\nsuffix \"dc=example,dc=org\"\ndirectory {}\n",
        dir.path().display()
    ));
    let cf = dir.path().join("slapd.conf");
    std::fs::write(&cf, conf).unwrap();
    let out = Command::new("/usr/sbin/slaptest")
        .args(["-u", "-f"])
        .arg(&cf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slaptest refused the schema: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ldif_schema_loads_into_cn_config() {
    // the harness builds cn=config from schema/*.ldif with slapadd -n0
    let ldap = common::Slapd::start();
    let out = ldap.search(
        "cn=Subschema",
        "base",
        "(objectClass=*)",
        &["objectClasses"],
    );
    assert!(out.contains("'aafSyncState'"), "{out}");
    assert!(out.contains("'ENTEleve'"), "{out}");
}
