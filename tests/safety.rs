//! Safety rails and operations against a real slapd: mass departures held
//! and approved by digest, sanity guards, the run lock under concurrent
//! runs, convergence after `kill -9` and after a server stop, the dry-run
//! LDIF applied by `ldapmodify`, `--check`, journal, metrics and status.

mod common;

use aaf_sync::generator::{generate, GenConfig, GenSummary};
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn gen(dir: &Path, date: &str, schools: usize, pupils: usize) -> GenSummary {
    generate(
        &GenConfig {
            date: date.into(),
            schools,
            pupils_per_school: pupils,
            schools_outside: 0,
            ..Default::default()
        },
        dir,
    )
    .unwrap()
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aaf-sync"));
    c.env_remove("AAF_SYNC_LDAP_PASSWORD");
    c
}

fn pupils(l: &Slapd) -> usize {
    l.count(
        &format!("ou=people,{BASE}"),
        "(&(objectClass=ENTEleve)(!(aafSyncDepartureDate=*)))",
    )
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A dry run leaves nothing that looks real: a plan that would be held is
/// saved as the last dry run (status shows no held plan), its LDIF carries
/// no password value unless asked, and the next real run removes it.
#[test]
fn a_dry_run_holds_nothing_and_keeps_no_secret() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen(&c1, "20250904", 2, 50);
    let config = s_(&ldap.config(tmp.path(), &g.uai_inside, ""));
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-04", &s_(&c1)],
        0,
    );
    for dn in ldap
        .entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["1.1"],
        )
        .into_keys()
    {
        ldap.modify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}hash-of-{dn}\n"
        ));
    }
    let c2 = tmp.path().join("c2");
    gen(&c2, "20250911", 2, 50);
    assert_eq!(drop_records(&c2, "Eleve", |i| i % 5 >= 2), 40);
    let plans = tmp.path().join("work/plans");
    let dry = |extra: &[&str]| {
        let mut args = vec![
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        let c2 = s_(&c2);
        args.push(&c2);
        aaf_sync_ok(&args, 0).0
    };
    let ldif = dry(&[]);
    assert!(
        ldif.contains("# aaf-sync moves userPassword to aafSyncSavedPassword here"),
        "{ldif}"
    );
    assert!(!ldif.contains("{SSHA}"), "no secret in a default plan");
    let saved = std::fs::read_to_string(plans.join("last-dry-run.ldif")).unwrap();
    assert!(!saved.contains("{SSHA}"), "no secret in the saved plan");
    assert!(!plans.join("held.ldif").exists() && !plans.join("held.meta.json").exists());
    let (st, _) = aaf_sync_ok(&["status", "--config", &config], 0);
    assert!(!st.contains("held plan"), "{st}");
    // asked for: the hashes, for an LDIF to apply by hand
    let ldif = dry(&["--with-passwords"]);
    assert!(ldif.contains("userPassword: {SSHA}hash-of-"), "{ldif}");
    assert!(ldif.contains("keep it private"), "{ldif}");
    // a real run (held here) and its approval remove the stale dry run
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s_(&c2)],
        2,
    );
    assert!(plans.join("held.ldif").exists());
    let held = std::fs::read_to_string(plans.join("held.ldif")).unwrap();
    assert!(!held.contains("{SSHA}"), "no secret in a held plan");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--allow-mass-departure",
            &s_(&c2),
        ],
        0,
    );
    assert!(!plans.join("last-dry-run.ldif").exists());
    assert!(!plans.join("last-dry-run.json").exists());
}

fn s_(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn mass_departure_is_held_then_applied_once_that_plan_is_approved() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen(&c1, "20250904", 2, 50);
    let metrics = tmp.path().join("aaf_sync.prom");
    let config = ldap
        .config(
            tmp.path(),
            &g.uai_inside,
            &format!("[monitoring]\nmetrics_file = \"{}\"\n", metrics.display()),
        )
        .display()
        .to_string();
    let s = |p: &Path| p.display().to_string();
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-04", &s(&c1)],
        0,
    );
    assert_eq!(pupils(&ldap), 100);

    // a week later the Complet lacks 40% of the pupils
    let c2 = tmp.path().join("c2");
    gen(&c2, "20250911", 2, 50);
    assert_eq!(drop_records(&c2, "Eleve", |i| i % 5 >= 2), 40);
    let before = csns(&ldap);
    let r1 = tmp.path().join("r1.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            &s(&r1),
            &s(&c2),
        ],
        2,
    );
    assert!(
        err.contains("held back by the safety rails, nothing written"),
        "{err}"
    );
    assert!(
        err.contains("40 Eleve would leave out of 100 active"),
        "{err}"
    );
    assert_eq!(csns(&ldap), before, "nothing written");
    let rep = report(&r1);
    assert_eq!(rep["outcome"], "held");
    let digest1 = rep["safety"]["digest"].as_str().unwrap().to_string();
    assert_eq!(digest1.len(), 64);
    let held = tmp.path().join("work/plans/held.ldif");
    let ldif = std::fs::read_to_string(&held).unwrap();
    assert!(
        ldif.contains("aafSyncDepartureDate: 20250911000000Z"),
        "{ldif}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&held).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        m.contains("aaf_sync_last_run_held{command=\"sync\"} 1"),
        "{m}"
    );
    let (st, _) = aaf_sync_ok(&["status", "--config", &config], 0);
    assert!(st.contains(&format!("held plan {digest1}")), "{st}");

    // the extraction changes again: the approval of the reviewed plan
    // does not cover the new one
    assert_eq!(drop_records(&c2, "Eleve", |i| i != 0), 1);
    let r2 = tmp.path().join("r2.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            &s(&r2),
            &format!("--allow-mass-departure={}", &digest1[..16]),
            &s(&c2),
        ],
        2,
    );
    assert!(err.contains("changed since it was reviewed"), "{err}");
    assert_eq!(csns(&ldap), before, "nothing written");
    let digest2 = report(&r2)["safety"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(digest1, digest2);

    // approving a plan that was never held is refused
    let (_, err) = aaf_sync_ok(&["approve", "--config", &config, &digest1[..16]], 2);
    assert!(err.contains("not"), "{err}");
    // the operator approves the new plan; the next run applies it, once
    let (out, _) = aaf_sync_ok(&["approve", "--config", &config, &digest2[..16]], 0);
    assert!(out.contains(&digest2), "{out}");
    let r3 = tmp.path().join("r3.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            &s(&r3),
            &s(&c2),
        ],
        0,
    );
    let rep = report(&r3);
    assert_eq!(rep["safety"]["approved_by"], "token");
    assert_eq!(rep["safety"]["digest"], digest2.as_str());
    assert_eq!(pupils(&ldap), 59);
    assert!(
        !tmp.path().join("work/approvals").join(&digest2).exists(),
        "token used up"
    );
    assert!(
        !held.exists(),
        "the held plan (personal data) is gone once applied"
    );

    // journal: every operation with the run id, attribute names, no value
    let run_id = rep["run_id"].as_str().unwrap();
    let journal_dir = tmp.path().join("work/journal");
    let text: String = std::fs::read_dir(&journal_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let mine: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["run_id"] == run_id && v["event"] == "result")
        .collect();
    let applied: u64 = rep["steps"][0]["plan"]["total"].as_u64().unwrap();
    assert_eq!(mine.len() as u64, applied);
    assert!(mine.iter().any(|v| v["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "aafSyncDepartureDate")));
    let some_sn = ldap.entries(
        &format!("ou=people,{BASE}"),
        "(objectClass=ENTEleve)",
        &["sn"],
    );
    let sn = some_sn.values().next().unwrap()["sn"][0].clone();
    assert!(
        !text.contains(&format!("\"{sn}\"")),
        "no value in the journal"
    );
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        m.contains("aaf_sync_last_run_exit_code{command=\"sync\"} 0"),
        "{m}"
    );
    assert!(
        m.contains("aaf_sync_last_run_departures{command=\"sync\",category=\"Eleve\"} 41"),
        "{m}"
    );

    // the same extraction again: nothing leaves, nothing is held
    let before = csns(&ldap);
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c2)],
        0,
    );
    assert_eq!(csns(&ldap), before);
}

#[test]
fn sanity_guards_refuse_empty_and_truncated_complets() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen(&c1, "20250904", 2, 30);
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let s = |p: &Path| p.display().to_string();
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-04", &s(&c1)],
        0,
    );
    let before = csns(&ldap);

    // an empty staff file
    let c2 = tmp.path().join("c2");
    gen(&c2, "20250911", 2, 30);
    let n = drop_records(&c2, "PersEducNat", |_| false);
    assert!(n > 0);
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c2)],
        2,
    );
    assert!(
        err.contains("no PersEducNat at all in this Complet"),
        "{err}"
    );
    assert_eq!(csns(&ldap), before);

    // a school of the perimeter vanished
    let c3 = tmp.path().join("c3");
    gen(&c3, "20250911", 1, 30);
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c3)],
        2,
    );
    assert!(
        err.contains(&format!(
            "perimeter school {} is in the directory but not in this Complet",
            g.uai_inside[1]
        )),
        "{err}"
    );
    assert_eq!(csns(&ldap), before);
    // the operator approves that plan (the one held last) from the command line
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--allow-mass-departure",
            &s(&c3),
        ],
        0,
    );
    assert_eq!(pupils(&ldap), 30);
}

/// A `sync` in the background, reporting to `dir/r<i>.json`.
fn spawn_sync(config: &str, dir: &Path, i: usize, x: &str) -> Child {
    bin()
        .args(["sync", "--config", config, "--report"])
        .arg(dir.join(format!("r{i}.json")))
        .arg(x)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_run_lock_lets_one_run_write_at_a_time() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, "20250904", 4, 150);
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let x = x.display().to_string();
    let lock_dn = format!("cn=aaf-sync-lock-AC-CRETEIL,{BASE}");

    // a lock held by another host, not expired: refused, nothing written
    ldap.modify(&format!(
        "dn: {lock_dn}\nchangetype: add\nobjectClass: aafSyncLock\ncn: aaf-sync-lock-AC-CRETEIL\n\
         aafSyncSource: AC-CRETEIL\naafSyncLockOwner: other-host 4242 r-1\n\
         aafSyncLockExpires: 29990101000000Z\naafSyncLockSince: 20250101000000Z\n"
    ));
    let before = csns(&ldap);
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, &x], 2);
    assert!(err.contains("held by other-host 4242 r-1"), "{err}");
    assert_eq!(csns(&ldap), before);
    let (st, _) = aaf_sync_ok(&["status", "--config", &config], 0);
    assert!(
        // local time and age, whatever the machine's time zone
        st.contains("lock: held by other-host 4242 r-1 since 202")
            && (st.contains(" days ago) until 2998-12-31 ")
                || st.contains(" days ago) until 2999-01-01 ")),
        "{st}"
    );

    // expired: the next run takes it over and says so
    ldap.modify(&format!(
        "dn: {lock_dn}\nchangetype: modify\nreplace: aafSyncLockExpires\naafSyncLockExpires: 20250101000000Z\n"
    ));
    let r = tmp.path().join("r.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--report",
            r.to_str().unwrap(),
            &x,
        ],
        0,
    );
    assert_eq!(report(&r)["lock_taken_over_from"], "other-host 4242 r-1");
    let lock = ldap.entry(&lock_dn);
    assert_eq!(lock["aafsynclockowner"], ["-"]);
    assert_eq!(lock["aafsynclastrunoutcome"], ["ok"]);

    // two runs at once on a fresh tree: exactly one writes
    let ldap2 = Slapd::start();
    let tmp2 = tempfile::tempdir().unwrap();
    let config2 = ldap2
        .config(tmp2.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let (a, b) = (
        spawn_sync(&config2, tmp2.path(), 0, &x),
        spawn_sync(&config2, tmp2.path(), 1, &x),
    );
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 2], "{codes:?}");
    let loser = codes.iter().position(|c| *c == 2).unwrap();
    let err = String::from_utf8_lossy(&outs[loser].stderr);
    assert!(err.contains("another aaf-sync run is at work"), "{err}");
    let rep = report(&tmp2.path().join(format!("r{loser}.json")));
    assert!(
        rep["steps"].as_array().unwrap().is_empty(),
        "the refused run planned nothing"
    );

    // with a wait, the second run waits for the first, then finds nothing to do
    let ldap3 = Slapd::start();
    let tmp3 = tempfile::tempdir().unwrap();
    let config3 = ldap3
        .config(tmp3.path(), &g.uai_inside, "[lock]\nwait_secs = 120\n")
        .display()
        .to_string();
    let (a, b) = (
        spawn_sync(&config3, tmp3.path(), 0, &x),
        spawn_sync(&config3, tmp3.path(), 1, &x),
    );
    assert_eq!(a.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(b.wait_with_output().unwrap().status.code(), Some(0));
    let totals: Vec<u64> = (0..2)
        .map(|i| {
            report(&tmp3.path().join(format!("r{i}.json")))["steps"][0]["plan"]["total"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        totals.contains(&0) && totals.iter().any(|t| *t > 1000),
        "one run wrote everything, the other nothing: {totals:?}"
    );
}

/// Starts a slow sync (one connection, one operation in flight) and waits
/// until it has written `n` people; fails if it finished first.
fn start_slow_sync(l: &Slapd, config: &str, x: &str, n: usize) -> Child {
    let mut child = bin()
        .args(["sync", "--config", config, "--now", "2025-09-04", x])
        .env("AAF_SYNC_LDAP__CONNECTIONS", "1")
        .env("AAF_SYNC_LDAP__IN_FLIGHT", "1")
        .env("AAF_SYNC_LDAP__RETRIES", "2")
        .env("AAF_SYNC_LDAP__RETRY_WAIT_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let people = l.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)");
        if people >= n {
            return child;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before the test could interrupt it ({people} people)"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the sync wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reference(x: &str, uai: &[String]) -> (Slapd, tempfile::TempDir) {
    let l = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = l.config(tmp.path(), uai, "").display().to_string();
    aaf_sync_ok(&["sync", "--config", &config, "--now", "2025-09-04", x], 0);
    (l, tmp)
}

#[test]
fn a_run_killed_mid_apply_converges_on_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let xdir = tmp.path().join("x");
    let g = gen(&xdir, "20250904", 6, 200);
    let x = xdir.display().to_string();
    let (want, _keep) = reference(&x, &g.uai_inside);
    let total = want.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)");

    let ldap = Slapd::start();
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let mut child = start_slow_sync(&ldap, &config, &x, 200);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = ldap.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)");
    assert!(partial > 0 && partial < total, "{partial} of {total}");

    // the dead run's lock is taken over at once on this host
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
    assert!(report(&r)["lock_taken_over_from"].is_string());
    assert_eq!(ldap.dump(), want.dump());
}

#[test]
fn a_server_stopped_mid_run_gives_a_clear_error_then_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let xdir = tmp.path().join("x");
    let g = gen(&xdir, "20250904", 6, 200);
    let x = xdir.display().to_string();
    let (want, _keep) = reference(&x, &g.uai_inside);

    let ldap = Slapd::start();
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let child = start_slow_sync(&ldap, &config, &x, 200);
    ldap.stop();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unreachable after 2 retries"), "{err}");
    assert!(err.contains("the next run converges"), "{err}");
    assert!(err.contains("failed"), "{err}");

    ldap.restart();
    aaf_sync_ok(&["sync", "--config", &config, "--now", "2025-09-04", &x], 0);
    assert_eq!(ldap.dump(), want.dump());
}

/// `ldapmodify` applying the file.
fn ldapmodify(l: &Slapd, ldif: &str) {
    l.modify(ldif);
}

#[test]
fn the_dry_run_ldif_applied_by_ldapmodify_gives_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen(&c1, "20250904", 2, 30);
    let (a, b) = (Slapd::start(), Slapd::start());
    std::fs::create_dir_all(tmp.path().join("a")).unwrap();
    std::fs::create_dir_all(tmp.path().join("b")).unwrap();
    let ca = a.config(&tmp.path().join("a"), &g.uai_inside, "");
    let cb = b.config(&tmp.path().join("b"), &g.uai_inside, "");
    let (ca, cb) = (ca.display().to_string(), cb.display().to_string());
    let s = |p: &Path| p.display().to_string();

    // a first run on an empty base
    let (ldif, _) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &ca,
            "--now",
            "2025-09-04",
            "--dry-run",
            &s(&c1),
        ],
        0,
    );
    ldapmodify(&a, &ldif);
    aaf_sync_ok(
        &["sync", "--config", &cb, "--now", "2025-09-04", &s(&c1)],
        0,
    );
    assert_eq!(a.dump(), b.dump());
    assert!(tmp.path().join("a/work/plans/last-dry-run.ldif").exists());
    assert!(tmp.path().join("a/work/plans/last-dry-run.json").exists());

    // three pupils leave; their passwords move aside, value for value
    let gone: Vec<String> = b
        .entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["1.1"],
        )
        .into_keys()
        .take(3)
        .collect();
    let _ = gone;
    let c2 = tmp.path().join("c2");
    gen(&c2, "20250911", 2, 30);
    assert_eq!(drop_records(&c2, "Eleve", |i| i >= 3), 3);
    // passwords on every pupil, the same on both servers
    for l in [&a, &b] {
        for dn in l
            .entries(
                &format!("ou=people,{BASE}"),
                "(objectClass=ENTEleve)",
                &["1.1"],
            )
            .into_keys()
        {
            l.modify(&format!(
                "dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}h-{dn}\n"
            ));
        }
    }
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &cb,
            "--check",
            "--now",
            "2025-09-11",
            &s(&c2),
        ],
        1,
    );
    assert!(err.contains("drift"), "{err}");
    let (ldif, _) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &ca,
            "--now",
            "2025-09-11",
            "--dry-run",
            "--with-passwords",
            &s(&c2),
        ],
        0,
    );
    assert!(ldif.contains("delete: userPassword\n"), "{ldif}");
    ldapmodify(&a, &ldif);
    aaf_sync_ok(
        &["sync", "--config", &cb, "--now", "2025-09-11", &s(&c2)],
        0,
    );
    let (da, db) = (a.dump(), b.dump());
    assert_eq!(da, db);
    let saved = db
        .values()
        .filter(|e| e.contains_key("aafsyncsavedpassword") && !e.contains_key("userpassword"))
        .count();
    assert!(saved >= 3, "departed pupils' passwords set aside: {saved}");
    // in step now
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &cb,
            "--check",
            "--now",
            "2025-09-11",
            &s(&c2),
        ],
        0,
    );
    assert!(err.contains("in_step"), "{err}");

    // logs in JSON carry the run id on every line
    let out = bin()
        .args([
            "--log-format",
            "json",
            "sync",
            "--config",
            &cb,
            "--now",
            "2025-09-11",
            &s(&c2),
        ])
        .env("AAF_SYNC_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() >= 3, "{err}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["span"]["run_id"].is_string(), "{l}");
    }
}

#[test]
fn the_daily_run_keeps_a_held_delivery_until_its_plan_is_approved() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen(&c1, "20250904", 2, 40);
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-04",
            c1.to_str().unwrap(),
        ],
        0,
    );
    let incoming = tmp.path().join("work/incoming");
    let g2 = gen(&incoming, "20250911", 2, 40);
    assert_eq!(drop_records(&incoming, "Eleve", |i| i % 2 == 0), 40);
    let before = csns(&ldap);
    let r = tmp.path().join("r.json");
    let (_, err) = aaf_sync_ok(
        &[
            "run",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            r.to_str().unwrap(),
        ],
        2,
    );
    let rep = report(&r);
    assert_eq!(rep["extractions"][0]["outcome"], "held", "{err}");
    // the run as a whole says held too (summary, report, lock), not failed
    assert_eq!(rep["outcome"], "held", "{err}");
    assert!(err.contains(": held\n"), "{err}");
    assert_eq!(csns(&ldap), before);
    assert_eq!(
        std::fs::read_dir(&incoming).unwrap().count(),
        g2.files.len(),
        "kept"
    );

    let (st, _) = aaf_sync_ok(&["status", "--config", &config, "--format", "json"], 0);
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    let digest = st["held_plan"]["digest"].as_str().unwrap().to_string();
    assert_eq!(st["active"]["Eleve"], 80);
    assert_eq!(st["lock"]["last_run_outcome"], "held");
    aaf_sync_ok(&["approve", "--config", &config, &digest[..12]], 0);
    let (_, err) = aaf_sync_ok(
        &[
            "run",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            r.to_str().unwrap(),
        ],
        0,
    );
    let rep = report(&r);
    assert_eq!(rep["extractions"][0]["outcome"], "imported", "{err}");
    assert_eq!(pupils(&ldap), 40);
    assert_eq!(
        std::fs::read_dir(&incoming).unwrap().count(),
        0,
        "destroyed after import"
    );
    let (st, _) = aaf_sync_ok(&["status", "--config", &config, "--format", "json"], 0);
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["pending"]["Eleve"]["count"], 40);
    assert_eq!(st["pending"]["Eleve"]["deadlines"]["2025-12-10"], 40);
    assert_eq!(st["lock"]["last_run_command"], "run");
    assert_eq!(st["lock"]["last_run_outcome"], "ok");
    assert!(st["held_plan"].is_null());
}

/// An entry of someone else at the DN of the run lock, the control entry
/// or the erasures entry is refused with its DN and classes, never taken
/// over, read as state, nor deleted by `purge`; a lock the bind DN may not
/// read ends the run at once with what to grant, instead of looping.
#[test]
fn entries_of_others_at_the_sync_own_dns_are_refused_never_taken_over() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, "20250904", 2, 20);
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let x = x.display().to_string();
    let people = |l: &Slapd| l.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)");
    for (cn, what) in [
        ("aaf-sync-lock-AC-CRETEIL", "aaf-sync's run lock"),
        ("aaf-sync-AC-CRETEIL", "aaf-sync's control entry"),
        ("aaf-sync-erasures-AC-CRETEIL", "aaf-sync's erasures entry"),
    ] {
        let dn = format!("cn={cn},{BASE}");
        ldap.modify(&format!(
            "dn: {dn}\nchangetype: add\nobjectClass: organizationalRole\ncn: {cn}\ndescription: someone else's\n"
        ));
        let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", "2025-09-04", &x], 2);
        assert!(
            err.contains(&format!(
                "{dn}: an entry that is not {what} is there (object classes organizationalRole"
            )),
            "{err}"
        );
        assert!(err.contains("remove or rename it"), "{err}");
        assert_eq!(people(&ldap), 0, "{cn}: nothing written");
        assert_eq!(ldap.entry(&dn)["description"], ["someone else's"]);
        ldap.modify(&format!("dn: {dn}\nchangetype: delete\n"));
    }

    aaf_sync_ok(&["sync", "--config", &config, "--now", "2025-09-04", &x], 0);
    assert!(people(&ldap) > 0);

    // a bind DN that may not read the lock entry: a clear error, at once
    ldap.modify(&format!(
        "dn: cn=sync,{BASE}\nchangetype: add\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: sync\nuserPassword: sync-pw\n"
    ));
    ldap.config_modify(&format!(
        "dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n\
         olcAccess: {{0}}to dn.exact=\"cn=aaf-sync-lock-AC-CRETEIL,{BASE}\" by dn.exact=\"{ADMIN}\" write by * none\n\
         olcAccess: {{1}}to * by dn.exact=\"cn=sync,{BASE}\" write by * break\n"
    ));
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("bind_dn = \"{ADMIN}\""),
        &format!("bind_dn = \"cn=sync,{BASE}\""),
    );
    let restricted = tmp.path().join("restricted.toml");
    std::fs::write(&restricted, text).unwrap();
    let pw = tmp.path().join("sync.secret");
    write_secret(&pw, "sync-pw\n");
    let text = std::fs::read_to_string(&restricted).unwrap().replace(
        &format!("{}", tmp.path().join("ldap.secret").display()),
        &format!("{}", pw.display()),
    );
    std::fs::write(&restricted, text).unwrap();
    let t = Instant::now();
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            restricted.to_str().unwrap(),
            "--now",
            "2025-09-04",
            &x,
        ],
        2,
    );
    assert!(
        err.contains("the entry exists but the bind DN cannot read or change it (an ACL?)"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    // purge deletes what the sync made, never an entry of someone else at
    // one of its DNs
    let erasures = format!("cn=aaf-sync-erasures-AC-CRETEIL,{BASE}");
    ldap.modify(&format!(
        "dn: {erasures}
changetype: add
objectClass: organizationalRole
cn: aaf-sync-erasures-AC-CRETEIL
"
    ));
    aaf_sync_ok(
        &[
            "purge",
            "--config",
            &config,
            "--confirm",
            BASE,
            "--reference",
            "test",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(people(&ldap), 0);
    assert!(ldap.exists_dn(&erasures), "someone else's entry stays");
}
