//! Fetch and the daily run against a real OpenSSH server (temporary host and
//! client keys, loopback) and a real slapd: key authentication, pinned host
//! keys, tar.gz and zip deliveries with bordereaux, refusals that write
//! nothing, a resumed download, destruction after import.

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

fn members(files: &[PathBuf], with_bordereau: bool) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            (
                format!("out/{}", f.file_name().unwrap().to_str().unwrap()),
                std::fs::read(f).unwrap(),
            )
        })
        .collect();
    if with_bordereau {
        v.push((
            "out/BORDEREAU.txt".into(),
            bordereau_for(files).into_bytes(),
        ));
    }
    v
}

fn people(l: &Slapd) -> usize {
    l.entries(
        "ou=people,dc=example,dc=org",
        "(objectClass=ENTPerson)",
        &["1.1"],
    )
    .len()
}

fn run(config: &str, now: &str, report: &Path, code: i32) -> (serde_json::Value, String) {
    let (_, err) = aaf_sync_ok(
        &[
            "run",
            "--config",
            config,
            "--now",
            now,
            "--report",
            report.to_str().unwrap(),
        ],
        code,
    );
    let r = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (r, err)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn daily_run_fetches_archives_imports_and_destroys() {
    let ldap = Slapd::start();
    let sftp = Sftp::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let (complet, uai) = gen(&tmp.path().join("c"), false, "20250904");
    tar_gz(
        &sftp.files().join("ENT1D_20250904.tar.gz"),
        &members(&complet, true),
    );
    let pin = format!("known_hosts_file = \"{}\"", sftp.known_hosts().display());
    let config = ldap
        .config(
            tmp.path(),
            &uai,
            &sftp.fetch_section(&sftp.key, &pin, "remote_delete = \"after_import\""),
        )
        .display()
        .to_string();
    let (r, err) = run(&config, "2025-09-04", &tmp.path().join("r1.json"), 0);
    assert_eq!(
        r["fetch"]["downloaded"][0]["name"], "ENT1D_20250904.tar.gz",
        "{err}"
    );
    assert_eq!(r["bordereaux"][0], "BORDEREAU.txt");
    assert_eq!(r["extractions"][0]["label"], "ENT1D_Complet_20250904");
    assert_eq!(r["extractions"][0]["outcome"], "imported", "{err}");
    assert_eq!(r["destroyed"], serde_json::json!(["ENT1D_20250904.tar.gz"]));
    assert_eq!(
        r["remote_deleted"],
        serde_json::json!(["ENT1D_20250904.tar.gz"])
    );
    assert!(err.contains("bordereau BORDEREAU.txt: verified"), "{err}");
    assert_eq!(people(&ldap), 80 + 115 + 6);
    let work = tmp.path().join("work");
    assert!(
        files_in(&work.join("incoming")).is_empty(),
        "local copies destroyed"
    );
    assert!(files_in(&sftp.files()).is_empty(), "remote copy deleted");
    assert!(
        files_in(&work.join("staging")).is_empty(),
        "no unpacked copy left"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&work), 0o700);
        assert_eq!(mode(&work.join("incoming")), 0o700);
    }
    // the run's staging directory is gone, and `staging/` with it once empty
    assert!(!work.join("staging").exists(), "no empty staging/ left");

    // next day: a Delta as a zip, without bordereau
    let (delta, _) = gen(&tmp.path().join("d"), true, "20250905");
    zip(
        &sftp.files().join("ENT1D_20250905.zip"),
        &members(&delta, false),
    );
    let (r, err) = run(&config, "2025-09-05", &tmp.path().join("r2.json"), 0);
    assert_eq!(
        r["extractions"][0]["label"], "ENT1D_Delta_20250905",
        "{err}"
    );
    assert_eq!(r["extractions"][0]["outcome"], "imported", "{err}");
    let step = &r["extractions"][0]["report"]["steps"][0];
    assert!(
        step["delta"]["categories"]["Eleve"]["modify"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(!step["lifecycle"]["departed"]["Eleve"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(files_in(&work.join("incoming")).is_empty());

    // a day with no delivery: nothing fetched, the retention pass runs
    let (r, _) = run(&config, "2025-09-06", &tmp.path().join("r3.json"), 0);
    assert_eq!(r["fetch"]["listed"], 0);
    assert!(r["extractions"].as_array().unwrap().is_empty());
    assert_eq!(r["retention"]["outcome"], "ok");
}

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// A config with only a `[fetch]` section worth using (LDAP is not reached by `fetch`).
fn fetch_config(dir: &Path, sftp: &Sftp, key: &Path, pin: &str, extra: &str) -> String {
    let pw = dir.join("ldap.secret");
    write_secret(&pw, "x\n");
    let body = format!(
        "[ldap]\nurl = \"ldap://127.0.0.1:1\"\nbind_dn = \"cn=admin,dc=example,dc=org\"\nbind_password_file = \"{}\"\nbase_dn = \"dc=example,dc=org\"\n\
         [source]\nname = \"AC-CRETEIL\"\n[perimeter]\nall = true\n[paths]\nwork_dir = \"{}\"\n{}",
        pw.display(),
        dir.join("work").display(),
        sftp.fetch_section(key, pin, extra)
    );
    let p = dir.join(format!("fetch-{}.toml", body.len()));
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn host_keys_are_pinned_keys_authenticate_and_downloads_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let ed = tmp.path().join("client_ed25519");
    keygen(&ed, "ed25519", "s3cret phrase");
    let sftp = Sftp::start(Some(&ed.with_extension("pub")));
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| b"abcdefghij\n"[(i % 11) as usize])
        .collect();
    std::fs::write(
        sftp.files().join("ENT1D_Complet_20250904_Eleve_0000.xml"),
        &big,
    )
    .unwrap();
    let name = "ENT1D_Complet_20250904_Eleve_0000.xml";

    // unknown host, changed key, wrong fingerprint: refused before any download
    let empty = tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let other = tmp.path().join("other_host");
    keygen(&other, "ed25519", "");
    let changed = tmp.path().join("changed_known_hosts");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let fields: Vec<&str> = other_pub.split_whitespace().collect();
    let mut lines = String::new();
    for kind in ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"] {
        lines.push_str(&format!("[127.0.0.1]:{} {kind} {}\n", sftp.port, fields[1]));
    }
    std::fs::write(&changed, lines).unwrap();
    for (pin, want) in [
        (
            format!("known_hosts_file = \"{}\"", empty.display()),
            "unknown host",
        ),
        (
            format!("known_hosts_file = \"{}\"", changed.display()),
            "CHANGED",
        ),
        (
            "host_key_fingerprint = \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\""
                .to_string(),
            "the configuration pins",
        ),
    ] {
        let c = fetch_config(tmp.path(), &sftp, &sftp.key, &pin, "");
        let (_, err) = aaf_sync_ok(&["fetch", "--config", &c], 2);
        assert!(
            err.contains("host key of 127.0.0.1") && err.contains(want),
            "{want}: {err}"
        );
        assert!(files_in(&tmp.path().join("work/incoming")).is_empty());
    }

    // the right fingerprint (whichever host key the server presents)
    let fps: Vec<String> = ["ed25519", "rsa"]
        .iter()
        .map(|k| fingerprint(&sftp.host_key_pub(k)))
        .collect();
    let c = fetch_config(
        tmp.path(),
        &sftp,
        &sftp.key,
        &format!("host_key_fingerprint = \"{}\"", fps[0]),
        "",
    );
    let out = aaf_sync(&["fetch", "--config", &c, "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let c = if out.status.success() {
        c
    } else {
        assert!(err.contains(&fps[1]), "{err}");
        fetch_config(
            tmp.path(),
            &sftp,
            &sftp.key,
            &format!("host_key_fingerprint = \"{}\"", fps[1]),
            "",
        )
    };
    let (o, _) = aaf_sync_ok(&["fetch", "--config", &c, "--dry-run"], 0);
    assert!(o.contains(&format!("would fetch {name}")), "{o}");
    assert!(
        files_in(&tmp.path().join("work/incoming")).is_empty(),
        "dry run downloads nothing"
    );

    // an interrupted download is resumed; the file is private
    let incoming = tmp.path().join("work/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(incoming.join(format!(".{name}.part")), &big[..100_000]).unwrap();
    let (o, _) = aaf_sync_ok(&["fetch", "--config", &c], 0);
    assert!(o.contains("resumed from 100000"), "{o}");
    assert_eq!(std::fs::read(incoming.join(name)).unwrap(), big);
    assert_eq!(files_in(&incoming), [name]);
    #[cfg(unix)]
    assert_eq!(mode(&incoming.join(name)), 0o600);
    // fetched once: the ledger remembers it
    let (o, err) = aaf_sync_ok(&["fetch", "--config", &c], 0);
    assert!(
        o.is_empty() && err.contains("1 already fetched"),
        "{o}{err}"
    );

    // an ed25519 key with a passphrase from a file; a wrong one fails
    let known = format!("known_hosts_file = \"{}\"", sftp.known_hosts().display());
    let pf = tmp.path().join("passphrase");
    write_secret(&pf, "wrong\n");
    let extra = format!("passphrase_file = \"{}\"", pf.display());
    let c = fetch_config(tmp.path(), &sftp, &ed, &known, &extra);
    let (_, err) = aaf_sync_ok(&["fetch", "--config", &c, "--dry-run"], 2);
    assert!(err.contains("key authentication as"), "{err}");
    assert!(!err.contains("wrong"), "the passphrase must not be printed");
    std::fs::write(&pf, "s3cret phrase\n").unwrap();
    let (_, err) = aaf_sync_ok(&["fetch", "--config", &c, "--dry-run"], 0);
    assert!(err.contains("1 already fetched"), "{err}");
}

#[test]
fn refused_deliveries_are_kept_and_write_nothing() {
    let ldap = Slapd::start();
    let sftp = Sftp::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let (complet, uai) = gen(&tmp.path().join("c"), false, "20250904");
    let pin = format!("known_hosts_file = \"{}\"", sftp.known_hosts().display());
    let config = ldap
        .config(tmp.path(), &uai, &sftp.fetch_section(&sftp.key, &pin, ""))
        .display()
        .to_string();
    let incoming = tmp.path().join("work/incoming");
    let before = csns(&ldap);
    let clear = |dir: &Path| {
        for f in files_in(dir) {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
    };

    // plain files whose bordereau announces another line count
    for f in &complet {
        std::fs::copy(f, sftp.files().join(f.file_name().unwrap())).unwrap();
    }
    let mut b = bordereau_for(&complet);
    b = b.replacen(";", ";1", 1);
    std::fs::write(sftp.files().join("bordereau_20250904.txt"), b).unwrap();
    let (r, err) = run(&config, "2025-09-04", &tmp.path().join("r1.json"), 2);
    assert_eq!(r["refused"][0]["what"], "ENT1D_Complet_20250904", "{err}");
    assert!(r["refused"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("the bordereau announces"));
    assert_eq!(csns(&ldap), before, "nothing written");
    assert_eq!(files_in(&incoming).len(), 5, "kept for inspection");
    clear(&incoming);
    clear(&sftp.files());

    // a Complet without its staff file
    let partial: Vec<&PathBuf> = complet
        .iter()
        .filter(|f| !f.to_str().unwrap().contains("PersEducNat"))
        .collect();
    let files: Vec<(String, Vec<u8>)> = partial
        .iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_str().unwrap().to_string(),
                std::fs::read(f).unwrap(),
            )
        })
        .collect();
    zip(&sftp.files().join("partial.zip"), &files);
    let (r, err) = run(&config, "2025-09-04", &tmp.path().join("r2.json"), 2);
    assert_eq!(r["extractions"][0]["outcome"], "refused", "{err}");
    assert!(
        r["extractions"][0]["error"]
            .as_str()
            .unwrap()
            .contains("incomplete Complet, no file for PersEducNat"),
        "{err}"
    );
    assert_eq!(csns(&ldap), before);
    assert_eq!(files_in(&incoming), ["partial.zip"]);
    clear(&incoming);
    clear(&sftp.files());

    // a malicious archive: a path-traversal entry
    let mut evil = members(&complet, false);
    evil.push(("../../evil.xml".into(), b"<x/>".to_vec()));
    {
        // tar::Builder refuses "..": write the raw name as a hostile tool would
        let f = std::fs::File::create(sftp.files().join("evil.tar.gz")).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut tb = tar::Builder::new(gz);
        for (name, data) in &evil {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            tb.append(&h, data.as_slice()).unwrap();
        }
        tb.into_inner().unwrap().finish().unwrap();
    }
    let (r, err) = run(&config, "2025-09-04", &tmp.path().join("r3.json"), 2);
    assert_eq!(r["refused"][0]["what"], "evil.tar.gz", "{err}");
    assert!(
        r["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("path traversal"),
        "{err}"
    );
    assert!(!tmp.path().join("work/evil.xml").exists() && !tmp.path().join("evil.xml").exists());
    assert_eq!(csns(&ldap), before);
    assert_eq!(files_in(&incoming), ["evil.tar.gz"]);

    // `sync` takes an archive as a PATH too
    let good = tmp.path().join("good.tar.gz");
    tar_gz(&good, &members(&complet, true));
    aaf_sync_ok(&["sync", "--config", &config, good.to_str().unwrap()], 0);
    assert_eq!(people(&ldap), 80 + 115 + 6);
    assert!(good.exists(), "sync never deletes its inputs");
}
