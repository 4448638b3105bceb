//! The README's "Your first sync", line for line, against a throwaway
//! slapd: the commands a newcomer types are the ones that work.

mod common;

use common::*;
use std::path::Path;

#[test]
fn the_readmes_first_sync_runs_as_written() {
    let readme = include_str!("../README.md");
    let section = &readme[readme
        .find("\n## Your first sync\n")
        .expect("README: no \"Your first sync\" section")..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let block = &section[section.find("```sh\n").expect("no sh block") + 6..];
    let block = &block[..block.find("```").unwrap()];
    let commands: Vec<&str> = block
        .lines()
        .filter(|l| l.starts_with("aaf-sync "))
        .collect();
    assert!(commands.len() >= 5, "{block}");

    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap.config(tmp.path(), &["0920100J".into(), "0920101K".into()], "");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1d-complet");
    for line in commands {
        let (line, into) = match line.split_once(" > ") {
            Some((l, f)) => (l, Some(tmp.path().join(f.trim()))),
            None => (line, None),
        };
        let args: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(|a| match a {
                "aaf-sync.toml" => config.display().to_string(),
                "EXTRACTION" => sample.display().to_string(),
                other => other.to_string(),
            })
            .collect();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = aaf_sync_ok(&a, 0);
        if let Some(f) = into {
            std::fs::write(&f, &out).unwrap();
            assert!(out.contains("changetype: add"), "{line}: {out}");
        }
        if line.contains(" check ") {
            assert!(out.contains("schema loaded"), "{line}: {out}{err}");
        }
    }
    // the tree is there and in step
    assert!(ldap.count(BASE, "(objectClass=ENTPerson)") > 100);
}
