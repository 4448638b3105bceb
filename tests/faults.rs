//! Faults as a hostile operator causes them (issue 18), against a real
//! slapd (and sshd) whose processes are killed by PID: a server killed and
//! restarted under a writing run and the run lock, `kill -9` and SIGTERM
//! of the tool itself, concurrent writers of the journal, archive bombs,
//! and the small hardening of fetched files and secrets. Each test states
//! a promise of the README's "Operations" and checks it on what is left:
//! entries read back, journals parsed line by line, files on disk.

mod common;

use aaf_sync::generator::{generate, GenConfig, GenSummary};
use common::*;
use serde_json::Value;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// These tests time what they kill: one at a time, so that two heavy runs
/// do not share the machine's cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn gen(dir: &Path, schools: usize, pupils: usize) -> GenSummary {
    generate(
        &GenConfig {
            date: "20250904".into(),
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

fn people(l: &Slapd) -> usize {
    l.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)")
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const LOCK_DN: &str = "cn=aaf-sync-lock-AC-CRETEIL,dc=example,dc=org";

/// A background `sync` of `x` reporting to `report`, its stderr in
/// `report` + `.err`, with extra environment.
fn spawn_sync(config: &Path, x: &Path, report: &Path, env: &[(&str, &str)]) -> Child {
    let mut c = bin();
    c.args(["sync", "--config"])
        .arg(config)
        .args(["--now", "2025-09-04", "--report"])
        .arg(report)
        .arg(x)
        .stdout(Stdio::null())
        .stderr(File::create(err_path(report)).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn err_path(report: &Path) -> PathBuf {
    report.with_extension("err")
}

fn stderr_of(report: &Path) -> String {
    std::fs::read_to_string(err_path(report)).unwrap_or_default()
}

/// Waits until the directory holds `n` people; fails if `child` ended first.
fn wait_people(l: &Slapd, child: &mut Child, n: usize) {
    let t = Instant::now();
    loop {
        if people(l) >= n {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before the test could interrupt it"
        );
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the sync wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` at most `within`; its status and how long it took.
fn wait_exit(child: &mut Child, within: Duration) -> (ExitStatus, Duration) {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, t.elapsed());
        }
        if t.elapsed() > within {
            let _ = child.kill();
            panic!("still running {within:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running, not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn send(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// `kill -9` of the slapd process, by the PID its start script recorded.
fn kill9_slapd(l: &Slapd) -> SystemTime {
    let pid: i32 = std::fs::read_to_string(l.dir.path().join("ldap/slapd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send(pid as u32, libc::SIGKILL);
    let at = SystemTime::now();
    let t = Instant::now();
    while alive(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "slapd survived kill -9"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    at
}

/// Every line of every journal of `work`, each parsed as JSON (fails on
/// the first that is not).
fn journal(work: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(work.join("journal")) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{}: cut",
            p.display()
        );
        for (i, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {line:?}", p.display(), i + 1));
            out.push(v);
        }
    }
    out
}

fn time_of(v: &Value) -> SystemTime {
    let t = time::OffsetDateTime::parse(
        v["time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_nanos(t.unix_timestamp_nanos() as u64)
}

/// The operation lines (intents and results) of one run.
fn ops_of<'a>(lines: &'a [Value], run_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["run_id"] == run_id && (v["event"] == "intent" || v["event"] == "result"))
        .collect()
}

/// `(step, dn, op)` of an operation line.
fn op_key(v: &Value) -> (String, String, String) {
    (
        v["step"].as_str().unwrap().to_string(),
        v["dn"].as_str().unwrap().to_lowercase(),
        v["op"].as_str().unwrap().to_string(),
    )
}

/// The entries of `work/staging`.
fn staging(work: &Path) -> Vec<String> {
    std::fs::read_dir(work.join("staging"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn gtime(s: &str) -> SystemTime {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let d = time::PrimitiveDateTime::parse(s, &fmt)
        .unwrap()
        .assume_utc();
    SystemTime::UNIX_EPOCH + Duration::from_secs(d.unix_timestamp() as u64)
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `sync --check`: exit 0 when the directory is in step with `x`.
fn in_step(config: &Path, x: &Path) {
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-04",
            "--check",
            x.to_str().unwrap(),
        ],
        0,
    );
}

/// One connection, one operation in flight: an apply long enough to be
/// interrupted where the test wants.
const SLOW: [(&str, &str); 2] = [
    ("AAF_SYNC_LDAP__CONNECTIONS", "1"),
    ("AAF_SYNC_LDAP__IN_FLIGHT", "1"),
];

// 3. The journal survives kill -9 and concurrent writers.

#[test]
fn after_kill_9_the_journal_tells_what_may_have_been_done() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 10, 200);
    let config = ldap.config(tmp.path(), &g.uai_inside, "");
    let work = tmp.path().join("work");
    let ra = tmp.path().join("a.json");
    let mut a = spawn_sync(
        &config,
        &x,
        &ra,
        &[
            ("AAF_SYNC_LDAP__CONNECTIONS", "2"),
            ("AAF_SYNC_LDAP__IN_FLIGHT", "8"),
        ],
    );
    wait_people(&ldap, &mut a, 500);
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();

    let lines = journal(&work);
    let start = lines
        .iter()
        .find(|v| v["event"] == "start")
        .expect("a start line");
    let a_id = start["run_id"].as_str().unwrap().to_string();
    assert_eq!(start["command"], "sync");
    assert!(
        !lines.iter().any(|v| v["event"] == "end"),
        "the killed run never ended"
    );
    let ops = ops_of(&lines, &a_id);
    let intents: std::collections::BTreeSet<_> = ops
        .iter()
        .filter(|v| v["event"] == "intent")
        .map(|v| op_key(v))
        .collect();
    let done: std::collections::BTreeSet<_> = ops
        .iter()
        .filter(|v| v["event"] == "result" && v["ok"] == true)
        .map(|v| op_key(v))
        .collect();
    assert!(done.is_subset(&intents));
    // every entry the run added was announced first; every add it saw
    // done is there
    let present: std::collections::BTreeSet<String> = ldap
        .entries(
            BASE,
            "(&(aafSyncSource=AC-CRETEIL)(!(objectClass=aafSyncLock)))",
            &["1.1"],
        )
        .into_keys()
        .collect();
    let announced: std::collections::BTreeSet<String> =
        intents.iter().map(|(_, dn, _)| dn.clone()).collect();
    assert!(
        present.is_subset(&announced),
        "{:?} written without an intent",
        present.difference(&announced).collect::<Vec<_>>()
    );
    for (_, dn, op) in &done {
        assert!(
            op != "add" || present.contains(dn),
            "{dn} journaled done, absent"
        );
    }
    // what may have been done: at most the operations in flight
    let pending = intents.difference(&done).count();
    assert!(pending <= 8, "{pending} operations in doubt");

    // a writer killed inside its write(2): the next run repairs the cut
    // line before appending
    let day = std::fs::read_dir(work.join("journal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let cut = format!(
        r#"{{"run_id":"{a_id}","time":"2025-09-04T06:30:00Z","event":"intent","step":"ENT1D_Co"#
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&day)
        .unwrap()
        .write_all(cut.as_bytes())
        .unwrap();
    let rb = tmp.path().join("b.json");
    let mut b = spawn_sync(&config, &x, &rb, &[]);
    let (st, _) = wait_exit(&mut b, Duration::from_secs(120));
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&rb));
    let lines = journal(&work);
    let t = lines
        .iter()
        .find(|v| v["event"] == "truncated")
        .expect("the cut line, kept");
    assert_eq!(t["fragment"], cut.as_str());
    let b_id = report(&rb)["run_id"].as_str().unwrap().to_string();
    assert!(lines
        .iter()
        .any(|v| v["run_id"] == b_id && v["event"] == "end" && v["outcome"] == "ok"));
    in_step(&config, &x);
}

#[test]
fn two_runs_writing_one_journal_never_splice_lines() {
    let _s = serial();
    // two directories (two sources on one host), one work directory
    let (l1, l2) = (Slapd::start(), Slapd::start());
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 6, 200);
    let (d1, d2) = (tmp.path().join("1"), tmp.path().join("2"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let c1 = l1.config(&d1, &g.uai_inside, "");
    let c2 = l2.config(&d2, &g.uai_inside, "");
    let work = tmp.path().join("work");
    for c in [&c1, &c2] {
        let text = std::fs::read_to_string(c).unwrap();
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("work_dir") {
                    format!("work_dir = \"{}\"", work.display())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(c, text).unwrap();
    }
    let many = [
        ("AAF_SYNC_LDAP__CONNECTIONS", "2"),
        ("AAF_SYNC_LDAP__IN_FLIGHT", "16"),
    ];
    let (r1, r2) = (tmp.path().join("r1.json"), tmp.path().join("r2.json"));
    let mut a = spawn_sync(&c1, &x, &r1, &many);
    let mut b = spawn_sync(&c2, &x, &r2, &many);
    assert_eq!(
        wait_exit(&mut a, Duration::from_secs(120)).0.code(),
        Some(0)
    );
    assert_eq!(
        wait_exit(&mut b, Duration::from_secs(120)).0.code(),
        Some(0)
    );
    let lines = journal(&work);
    for r in [&r1, &r2] {
        let rep = report(r);
        let ops = ops_of(&lines, rep["run_id"].as_str().unwrap());
        let total = rep["steps"][0]["plan"]["total"].as_u64().unwrap() as usize;
        assert!(total > 1000);
        assert_eq!(ops.len(), 2 * total, "an intent and a result per operation");
    }
    // the runs did overlap in time
    let ids: Vec<Value> = [&r1, &r2]
        .iter()
        .map(|r| report(r)["run_id"].clone())
        .collect();
    let span = |id: &Value| {
        let t: Vec<SystemTime> = lines
            .iter()
            .filter(|v| &v["run_id"] == id)
            .map(time_of)
            .collect();
        (*t.iter().min().unwrap(), *t.iter().max().unwrap())
    };
    let (s1, e1) = span(&ids[0]);
    let (s2, e2) = span(&ids[1]);
    assert!(
        s1 < e2 && s2 < e1,
        "the two runs did not write at the same time"
    );
}

