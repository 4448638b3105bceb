//! A run of several extractions (a Complet and the Deltas after it) killed
//! at any point converges, on the next run, to the tree a clean run gives —
//! entry for entry, logins included (issue 18 §2): progress is recorded in
//! the directory after each extraction, a re-run resumes at the first one
//! not fully applied, and logins depend only on the tree and the extraction.

mod common;

use aaf_sync::generator::{generate, GenConfig};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOW: &str = "2025-09-06";

/// A Complet of day 0 and the Deltas of days 1 and 2.
fn deliveries(dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut paths = Vec::new();
    let mut uai = Vec::new();
    for (sub, delta, days, date) in [
        ("c0", false, 0, "20250904"),
        ("d1", true, 1, "20250905"),
        ("d2", true, 2, "20250906"),
    ] {
        let p = dir.join(sub);
        let g = generate(
            &GenConfig {
                date: date.into(),
                delta,
                days,
                schools: 6,
                pupils_per_school: 150,
                schools_outside: 0,
                ..Default::default()
            },
            &p,
        )
        .unwrap();
        if uai.is_empty() {
            uai = g.uai_inside;
        }
        paths.push(p);
    }
    (paths, uai)
}

fn args<'a>(config: &'a str, paths: &'a [String]) -> Vec<&'a str> {
    let mut a = vec!["sync", "--config", config, "--now", NOW];
    a.extend(paths.iter().map(String::as_str));
    a
}

/// One connection, one operation in flight: slow enough to be stopped.
fn spawn(config: &str, paths: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
        .args(args(config, paths))
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .env("AAF_SYNC_LDAP__CONNECTIONS", "1")
        .env("AAF_SYNC_LDAP__IN_FLIGHT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn applied(l: &Slapd) -> Option<String> {
    let m = l.entries(
        BASE,
        "(objectClass=aafSyncControl)",
        &["aafSyncAppliedExtraction"],
    );
    m.values()
        .next()
        .and_then(|a| a.get("aafsyncappliedextraction"))
        .map(|v| v[0].clone())
}

/// Waits until `ready` holds, then kills the run (SIGKILL). False when the
/// run ended first.
fn kill_when(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the run never got there"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_multi_extraction_run_killed_anywhere_converges_to_the_clean_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (paths, uai) = deliveries(tmp.path());
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();

    // the clean run
    let want = Slapd::start();
    let wdir = tmp.path().join("want");
    std::fs::create_dir_all(&wdir).unwrap();
    let config = want.config(&wdir, &uai, "").display().to_string();
    let (_, err) = aaf_sync_ok(&args(&config, &paths), 0);
    assert!(err.contains("ENT1D_Delta_20250906"), "{err}");
    let reference = want.dump();
    let logins = want.count(BASE, "(ENTPersonLogin=*)");
    assert!(logins > 2000, "{logins}");

    let people = |l: &Slapd| l.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)");
    type Point = Box<dyn Fn(&Slapd) -> bool>;
    let points: Vec<(&str, Point)> = vec![
        (
            "in the Complet",
            Box::new(move |l: &Slapd| people(l) >= 400),
        ),
        (
            "between the Complet and the first Delta",
            Box::new(|l: &Slapd| applied(l).as_deref() == Some("ENT1D_Complet_20250904")),
        ),
    ];
    // the last Delta is small: its first write, seen in the journal (only
    // the bytes appended since the last look are read), is the only moment
    // sure to be inside it
    let in_last_delta = |dir: &Path, seen: &mut u64| {
        use std::io::{Read, Seek};
        let Ok(rd) = std::fs::read_dir(dir.join("work/journal")) else {
            return false;
        };
        let Some(path) = rd.flatten().map(|e| e.path()).next() else {
            return false;
        };
        let Ok(mut f) = std::fs::File::open(path) else {
            return false;
        };
        // back a little: a line may have been cut by the last look
        let from = seen.saturating_sub(256);
        let mut new = Vec::new();
        if f.seek(std::io::SeekFrom::Start(from)).is_err() || f.read_to_end(&mut new).is_err() {
            return false;
        }
        *seen = from + new.len() as u64;
        let needle = b"\"step\":\"ENT1D_Delta_20250906\",\"dn\"";
        new.windows(needle.len()).any(|w| w == needle)
    };
    let points = points
        .into_iter()
        .map(|(what, p)| (what, Some(p)))
        .chain([("in a Delta", None)]);
    for (what, ready) in points {
        let ldap = Slapd::start();
        let dir = tmp.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = ldap.config(&dir, &uai, "").display().to_string();
        let mut child = spawn(&config, &paths);
        let mut seen = 0;
        let killed = match &ready {
            Some(ready) => kill_when(&mut child, || ready(&ldap)),
            None => kill_when(&mut child, || in_last_delta(&dir, &mut seen)),
        };
        assert!(killed, "{what}: the run ended first");
        assert_ne!(
            ldap.dump(),
            reference,
            "{what}: killed too late to test anything"
        );
        // the next run (the same command) resumes and converges
        let (_, err) = aaf_sync_ok(&args(&config, &paths), 0);
        assert_eq!(ldap.dump(), reference, "{what}: {err}");
        // and a run after that has nothing left to do
        let before = csns(&ldap);
        aaf_sync_ok(&args(&config, &paths), 0);
        assert_eq!(csns(&ldap), before, "{what}");
    }
}

/// Bytes of the journals of `dir` after `from` (the journal of the runs
/// before is left out), and how many times `needle` occurs in them.
fn journal_after(dir: &Path, from: u64, needle: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(dir.join("work/journal")) else {
        return 0;
    };
    let mut text = Vec::new();
    for e in rd.flatten() {
        text.extend(std::fs::read(e.path()).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&text[(from as usize).min(text.len())..]).to_string();
    text.matches(needle).count()
}

fn journal_len(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("work/journal"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// Two months of a small population's life move more than the rails let
/// through unapproved: not what this test is about.
const RAILS: &str = "[safety]\nmax_departures_percent = 100.0\nmax_renames_percent = 100.0\n\
                     max_modified_percent = 100.0\n";

/// A Complet in which people leave (pupils with their parents, staff),
/// killed among the moves to the departed branch and the rewrites of the
/// links between departed people that follow them: the next run converges
/// to the clean run's tree, departed pupils and parents still naming each
/// other, whatever DN each was named by when the run died.
#[test]
fn a_departures_run_killed_among_moves_and_link_rewrites_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = |sub: &str, date: &str, days: u32| {
        let p = tmp.path().join(sub);
        let g = generate(
            &GenConfig {
                date: date.into(),
                days,
                schools: 3,
                pupils_per_school: 100,
                schools_outside: 0,
                ..Default::default()
            },
            &p,
        )
        .unwrap();
        (p.display().to_string(), g.uai_inside)
    };
    let (c0, uai) = mk("c0", "20250904", 0);
    let (c60, _) = mk("c60", "20251103", 60);
    let day = |config: &str, x: &str, now: &str| {
        let (_, err) = aaf_sync_ok(&["sync", "--config", config, "--now", now, x], 0);
        err
    };

    let want = Slapd::start();
    let wdir = tmp.path().join("want");
    std::fs::create_dir_all(&wdir).unwrap();
    let config = want.config(&wdir, &uai, RAILS).display().to_string();
    day(&config, &c0, "2025-09-04");
    let from = journal_len(&wdir);
    day(&config, &c60, "2025-11-03");
    let reference = want.dump();
    let moves = journal_after(&wdir, from, "\"op\":\"move\"");
    let relinks = journal_after(
        &wdir,
        from,
        ",ou=departed,dc=example,dc=org\",\"op\":\"modify\"",
    );
    assert!(
        moves >= 10 && relinks >= 5,
        "moves {moves}, relinks {relinks}"
    );
    let linked = want.count(
        &format!("ou=departed,{BASE}"),
        "(|(ENTEleveParents=*)(ENTAuxPersRelEleveEleve=*))",
    );
    assert!(linked >= 10, "departed people naming each other: {linked}");

    for (what, needle, n) in [
        ("at the first move", "\"op\":\"move\"", 1),
        ("halfway through the moves", "\"op\":\"move\"", moves / 2),
        (
            "at the first link rewrite",
            ",ou=departed,dc=example,dc=org\",\"op\":\"modify\"",
            1,
        ),
    ] {
        let ldap = Slapd::start();
        let dir = tmp.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = ldap.config(&dir, &uai, RAILS).display().to_string();
        day(&config, &c0, "2025-09-04");
        let from = journal_len(&dir);
        let mut child = Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
            .args(["sync", "--config", &config, "--now", "2025-11-03", &c60])
            .env_remove("AAF_SYNC_LDAP_PASSWORD")
            .env("AAF_SYNC_LDAP__CONNECTIONS", "1")
            .env("AAF_SYNC_LDAP__IN_FLIGHT", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = kill_when(&mut child, || journal_after(&dir, from, needle) >= n);
        assert!(killed, "{what}: the run ended first");
        assert_ne!(ldap.dump(), reference, "{what}: killed too late");
        let err = day(&config, &c60, "2025-11-03");
        assert_eq!(ldap.dump(), reference, "{what}: {err}");
        let before = csns(&ldap);
        day(&config, &c60, "2025-11-03");
        assert_eq!(csns(&ldap), before, "{what}: a re-run writes nothing");
    }
}
