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

// 1. A lost lock halts writing, always.

#[test]
fn the_lock_is_renewed_across_a_server_restart_so_a_second_run_stays_out() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 60, 200);
    let config = ldap.config(tmp.path(), &g.uai_inside, "[lock]\nttl_secs = 10\n");
    let ra = tmp.path().join("a.json");
    let mut a = spawn_sync(&config, &x, &ra, &SLOW);
    wait_people(&ldap, &mut a, 300);
    let before = gtime(&ldap.entry(LOCK_DN)["aafsynclockexpires"][0]);

    // slapd killed, back a second later (a crash, a restart by systemd)
    kill9_slapd(&ldap);
    std::thread::sleep(Duration::from_secs(1));
    ldap.restart();

    // past the expiry the lock had when slapd died: unless renewed since,
    // another run could take it over now
    while SystemTime::now() < before + Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        a.try_wait().unwrap().is_none(),
        "the first run finished too early for this test: {}",
        stderr_of(&ra)
    );
    let lock = ldap.entry(LOCK_DN);
    let ra_id_owner = lock["aafsynclockowner"][0].clone();
    assert!(
        gtime(&lock["aafsynclockexpires"][0]) > before,
        "renewed after the restart"
    );
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-04",
            x.to_str().unwrap(),
        ],
        2,
    );
    assert!(
        err.contains(&format!("held by {ra_id_owner}"))
            && err.contains("another aaf-sync run is at work"),
        "{err}"
    );

    // the first run rode out the restart and finished its work
    let (st, _) = wait_exit(&mut a, Duration::from_secs(180));
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&ra));
    let rep = report(&ra);
    assert_eq!(rep["outcome"], "ok");
    in_step(&config, &x);

    // its journal: every operation announced, then settled
    let lines = journal(&tmp.path().join("work"));
    let ops = ops_of(&lines, rep["run_id"].as_str().unwrap());
    let intents = ops.iter().filter(|v| v["event"] == "intent").count();
    let results = ops.iter().filter(|v| v["event"] == "result").count();
    assert_eq!(intents, results);
    assert_eq!(
        results as u64,
        rep["steps"][0]["plan"]["total"].as_u64().unwrap()
    );
    assert!(
        lines.iter().all(|v| v["run_id"] == rep["run_id"]),
        "the refused run wrote nothing"
    );
}

#[test]
fn a_run_that_cannot_renew_its_lock_stops_writing_before_it_expires() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 30, 200);
    let config = ldap.config(
        tmp.path(),
        &g.uai_inside,
        "[lock]\nttl_secs = 10\nwait_secs = 60\n",
    );
    // writers that would retry for longer than the server stays away
    let patient = [
        SLOW[0],
        SLOW[1],
        ("AAF_SYNC_LDAP__RETRIES", "60"),
        ("AAF_SYNC_LDAP__RETRY_WAIT_MS", "100"),
        ("AAF_SYNC_LDAP__RETRY_MAX_WAIT_MS", "400"),
        ("AAF_SYNC_LDAP__TIMEOUT_SECS", "2"),
    ];
    let (ra, rb) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    let mut a = spawn_sync(&config, &x, &ra, &patient);
    wait_people(&ldap, &mut a, 300);

    // slapd away for longer than the lock's TTL, then a second run at once
    let killed = kill9_slapd(&ldap);
    std::thread::sleep(Duration::from_secs(12));
    ldap.restart();
    let mut b = spawn_sync(&config, &x, &rb, &[]);
    let (sa, _) = wait_exit(&mut a, Duration::from_secs(120));
    let (sb, _) = wait_exit(&mut b, Duration::from_secs(180));

    let err = stderr_of(&ra);
    assert_eq!(sa.code(), Some(2), "{err}");
    assert!(
        err.contains("not renewed for 5 s (half of [lock] ttl_secs = 10): writes stopped before it could expire"),
        "{err}"
    );
    let rep_a = report(&ra);
    assert_eq!(rep_a["outcome"], "failed");
    assert!(rep_a["error"].as_str().unwrap().contains("not renewed"));
    // the operation in flight when slapd died went out and got no answer:
    // reported as such, not as done nor as not attempted
    let applied: Vec<&Value> = rep_a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|st| st.get("applied").filter(|a| !a.is_null()))
        .collect();
    let sum = |k: &str| applied.iter().map(|a| a[k].as_u64().unwrap()).sum::<u64>();
    assert!(sum("unknown") >= 1, "{applied:?}");
    let done: u64 = applied
        .iter()
        .flat_map(|a| a["done"].as_object().unwrap().values())
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    let failed: u64 = applied
        .iter()
        .map(|a| a["failures"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(
        done + failed + sum("not_attempted") + sum("unknown"),
        sum("planned"),
        "{applied:?}"
    );
    assert!(
        err.contains("sent without an answer (done or not)"),
        "{err}"
    );
    assert_eq!(sb.code(), Some(0), "{}", stderr_of(&rb));
    let rep_b = report(&rb);

    // the timeline of both journals: the first run's last operation came
    // before the lock could expire (it was renewed at most 2 s before the
    // kill), and before the second run's first
    let lines = journal(&tmp.path().join("work"));
    let ops_a = ops_of(&lines, rep_a["run_id"].as_str().unwrap());
    let ops_b = ops_of(&lines, rep_b["run_id"].as_str().unwrap());
    assert!(!ops_a.is_empty() && !ops_b.is_empty());
    let last_a = ops_a.iter().map(|v| time_of(v)).max().unwrap();
    let first_b = ops_b.iter().map(|v| time_of(v)).min().unwrap();
    assert!(last_a < first_b, "writes of both runs overlap");
    let last_intent_a = ops_a
        .iter()
        .filter(|v| v["event"] == "intent")
        .map(|v| time_of(v))
        .max()
        .unwrap();
    assert!(
        last_intent_a < killed + Duration::from_secs(8),
        "the first run sent an operation after its lock could have expired"
    );
    // and the second run converged from where the first stopped
    in_step(&config, &x);
    let lock = ldap.entry(LOCK_DN);
    assert_eq!(lock["aafsynclockowner"], ["-"]);
    assert_eq!(lock["aafsynclastrunoutcome"], ["ok"]);
}

/// A run paused (SIGSTOP, a frozen VM) past half its lock's TTL sends
/// nothing more once it resumes: the writers look at the lease themselves,
/// before the renewal task has had a chance to run.
#[test]
fn a_run_paused_past_its_lease_sends_nothing_when_it_resumes() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 20, 200);
    let config = ldap.config(tmp.path(), &g.uai_inside, "[lock]\nttl_secs = 6\n");
    let r = tmp.path().join("r.json");
    let mut a = spawn_sync(&config, &x, &r, &SLOW);
    wait_people(&ldap, &mut a, 200);
    send(a.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    let resumed = SystemTime::now();
    send(a.id(), libc::SIGCONT);
    let (st, _) = wait_exit(&mut a, Duration::from_secs(60));
    let err = stderr_of(&r);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        err.contains("writes stopped before it could expire"),
        "{err}"
    );
    let rep = report(&r);
    assert_eq!(rep["outcome"], "failed", "{err}");
    let lines = journal(&tmp.path().join("work"));
    let late: Vec<&Value> = ops_of(&lines, rep["run_id"].as_str().unwrap())
        .into_iter()
        .filter(|v| v["event"] == "intent" && time_of(v) > resumed)
        .collect();
    assert!(late.is_empty(), "sent after the lease lapsed: {late:?}");
    // the next run converges
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-04",
            x.to_str().unwrap(),
        ],
        0,
    );
    in_step(&config, &x);
}

#[test]
fn the_lock_is_freed_once_the_server_is_back_or_status_names_the_dead_run() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 20, 200);
    let config = ldap.config(tmp.path(), &g.uai_inside, "[lock]\nttl_secs = 10\n");
    let c = config.to_str().unwrap();

    // the server comes back while the run retries the release: freed,
    // with the run's outcome
    let patient = [
        SLOW[0],
        SLOW[1],
        ("AAF_SYNC_LDAP__RETRIES", "40"),
        ("AAF_SYNC_LDAP__RETRY_WAIT_MS", "100"),
        ("AAF_SYNC_LDAP__RETRY_MAX_WAIT_MS", "500"),
        ("AAF_SYNC_LDAP__TIMEOUT_SECS", "2"),
    ];
    let ra = tmp.path().join("a.json");
    let mut a = spawn_sync(&config, &x, &ra, &patient);
    wait_people(&ldap, &mut a, 300);
    kill9_slapd(&ldap);
    std::thread::sleep(Duration::from_secs(8));
    ldap.restart();
    let (st, _) = wait_exit(&mut a, Duration::from_secs(60));
    assert_eq!(st.code(), Some(2), "{}", stderr_of(&ra));
    let lock = ldap.entry(LOCK_DN);
    assert_eq!(lock["aafsynclockowner"], ["-"], "{}", stderr_of(&ra));
    assert_eq!(lock["aafsynclastrunoutcome"], ["failed"]);
    assert_eq!(lock["aafsynclastrunid"][0], report(&ra)["run_id"]);

    // the server stays away until the run gave up: the lock names it
    let quick = [
        SLOW[0],
        SLOW[1],
        ("AAF_SYNC_LDAP__RETRIES", "1"),
        ("AAF_SYNC_LDAP__RETRY_WAIT_MS", "100"),
        ("AAF_SYNC_LDAP__TIMEOUT_SECS", "2"),
    ];
    let rb = tmp.path().join("b.json");
    let n = people(&ldap);
    let mut b = spawn_sync(&config, &x, &rb, &quick);
    wait_people(&ldap, &mut b, n + 300);
    kill9_slapd(&ldap);
    let (st, _) = wait_exit(&mut b, Duration::from_secs(60));
    assert_eq!(st.code(), Some(2));
    let err = stderr_of(&rb);
    assert!(
        err.contains("could not free the run lock: it names this run until it expires"),
        "{err}"
    );
    ldap.restart();
    let b_id = report(&rb)["run_id"].as_str().unwrap().to_string();
    let (st, _) = aaf_sync_ok(&["status", "--config", c], 0);
    assert!(
        st.contains(&format!("last run: sync {b_id} started"))
            && st.contains(": did not finish (it died holding the lock)"),
        "{st}"
    );
    assert!(
        st.contains(&format!(" {b_id} since "))
            && st.contains("a dead run (its process is gone from this host; expires 20")
            && st.contains("the next run takes it over at once"),
        "{st}"
    );
    let (js, _) = aaf_sync_ok(&["status", "--config", c, "--format", "json"], 0);
    let js: Value = serde_json::from_str(&js).unwrap();
    assert_eq!(js["lock"]["holder_alive"], false);
    assert_eq!(js["lock"]["stale"], true);

    // and the next run takes it over at once, and converges
    let rc = tmp.path().join("c.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            c,
            "--now",
            "2025-09-04",
            "--report",
            rc.to_str().unwrap(),
            x.to_str().unwrap(),
        ],
        0,
    );
    assert!(report(&rc)["lock_taken_over_from"]
        .as_str()
        .unwrap()
        .ends_with(&b_id));
    in_step(&config, &x);
}

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

// 4. Nothing personal is left behind by a crash or a stop.

/// `x` packed as `out`, and the total size of its files.
fn pack(x: &Path, out: &Path) -> u64 {
    let mut files = Vec::new();
    let mut total = 0;
    for e in std::fs::read_dir(x).unwrap() {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        total += data.len() as u64;
        files.push((p.file_name().unwrap().to_str().unwrap().to_string(), data));
    }
    tar_gz(out, &files);
    total
}

/// Waits until a staging directory of `work` holds `bytes` of unpacked
/// files (the archive is unpacked: the parse starts).
fn wait_unpacked(work: &Path, child: &mut Child, bytes: u64) -> PathBuf {
    let t = Instant::now();
    loop {
        for d in staging(work) {
            let dir = work.join("staging").join(&d);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for sub in rd.flatten() {
                let got: u64 = std::fs::read_dir(sub.path())
                    .map(|rd| {
                        rd.flatten()
                            .filter_map(|f| f.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    })
                    .unwrap_or(0);
                if got == bytes {
                    return dir;
                }
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the sync ended first");
        assert!(t.elapsed() < Duration::from_secs(60), "nothing unpacked");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_stops_a_sync_promptly_and_leaves_nothing_behind() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 60, 200);
    let big = tmp.path().join("big.tar.gz");
    let bytes = pack(&x, &big);
    let metrics = tmp.path().join("aaf_sync.prom");
    let config = ldap.config(
        tmp.path(),
        &g.uai_inside,
        &format!("[monitoring]\nmetrics_file = \"{}\"\n", metrics.display()),
    );
    let work = tmp.path().join("work");
    let before = csns(&ldap);

    // during the parse of the unpacked archive (seconds of work left)
    let r = tmp.path().join("r.json");
    let mut child = spawn_sync(&config, &big, &r, &[]);
    let dir = wait_unpacked(&work, &mut child, bytes);
    std::thread::sleep(Duration::from_millis(300));
    send(child.id(), libc::SIGTERM);
    let (st, took) = wait_exit(&mut child, Duration::from_secs(30));
    let err = stderr_of(&r);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} to stop: {err}"
    );
    assert!(
        !dir.exists() && staging(&work).is_empty(),
        "staging removed"
    );
    let rep = report(&r);
    assert_eq!(rep["outcome"], "interrupted");
    let e = rep["error"].as_str().unwrap();
    assert!(
        e.contains("interrupted by SIGTERM while reading") && e.contains("nothing written"),
        "{e}"
    );
    assert_eq!(mode(&r), 0o600, "the report is private");
    assert_eq!(csns(&ldap), before, "nothing written");
    let lock = ldap.entry(LOCK_DN);
    assert_eq!(lock["aafsynclockowner"], ["-"]);
    assert_eq!(lock["aafsynclastrunoutcome"], ["interrupted"]);
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        m.contains("aaf_sync_last_run_interrupted{command=\"sync\"} 1")
            && m.contains("aaf_sync_last_run_exit_code{command=\"sync\"} 2"),
        "{m}"
    );

    // during the apply: the operations in flight finish, nothing new goes
    let r = tmp.path().join("r2.json");
    let mut child = spawn_sync(
        &config,
        &x,
        &r,
        &[
            ("AAF_SYNC_LDAP__CONNECTIONS", "2"),
            ("AAF_SYNC_LDAP__IN_FLIGHT", "4"),
        ],
    );
    wait_people(&ldap, &mut child, 300);
    send(child.id(), libc::SIGTERM);
    let (st, took) = wait_exit(&mut child, Duration::from_secs(30));
    let err = stderr_of(&r);
    assert_eq!(st.code(), Some(2), "{err}");
    // promptly: well within systemd's stop timeout (90 s by default),
    // with room for a loaded 2-core machine (an operation in flight per
    // connection finishes, the lock is released, the report written)
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} to stop: {err}"
    );
    let rep = report(&r);
    assert_eq!(rep["outcome"], "interrupted");
    let applied = &rep["steps"][0]["applied"];
    assert_eq!(applied["halted"], "interrupted by SIGTERM");
    assert!(applied["not_attempted"].as_u64().unwrap() > 1000);
    let run_id = rep["run_id"].as_str().unwrap();
    let lines = journal(&work);
    let ops = ops_of(&lines, run_id);
    let intents: std::collections::BTreeSet<_> = ops
        .iter()
        .filter(|v| v["event"] == "intent")
        .map(|v| op_key(v))
        .collect();
    let settled: std::collections::BTreeSet<_> = ops
        .iter()
        .filter(|v| v["event"] == "result")
        .map(|v| op_key(v))
        .collect();
    assert!(
        intents.is_subset(&settled),
        "every operation sent was settled"
    );
    assert!(lines
        .iter()
        .any(|v| v["run_id"] == run_id && v["event"] == "end" && v["outcome"] == "interrupted"));
    let lock = ldap.entry(LOCK_DN);
    assert_eq!(lock["aafsynclockowner"], ["-"]);
    assert_eq!(lock["aafsynclastrunoutcome"], ["interrupted"]);
    assert!(staging(&work).is_empty());
    // the next run finishes the work
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-04",
            x.to_str().unwrap(),
        ],
        0,
    );
    in_step(&config, &x);
}

#[test]
fn the_next_run_removes_the_staging_a_killed_run_left() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 20, 200);
    let big = tmp.path().join("big.tar.gz");
    let bytes = pack(&x, &big);
    let config = ldap.config(tmp.path(), &g.uai_inside, "");
    let work = tmp.path().join("work");
    let r = tmp.path().join("r.json");
    let mut child = spawn_sync(&config, &big, &r, &[]);
    let dead = wait_unpacked(&work, &mut child, bytes);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(dead.exists(), "kill -9 leaves the unpacked files");

    // a live run's staging is kept; one whose pid now belongs to a process
    // started after it (a reused pid) is not
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let live = work
        .join("staging")
        .join(format!("sync-{}-{now:x}", sleeper.id()));
    let reused = work
        .join("staging")
        .join(format!("sync-{}-{:x}", sleeper.id(), 1_000_000_000u64));
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&reused).unwrap();

    // any writing run sweeps first, even one that unpacks nothing
    aaf_sync_ok(
        &[
            "retention",
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2025-09-04",
        ],
        0,
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(!dead.exists(), "the dead run's unpacked files are gone");
    assert!(!reused.exists());
    assert!(live.exists(), "a live run's staging is kept");
}

// 5. Archives cannot exhaust memory or disk.

/// A .tar.gz of the files of `x` plus `name` holding `zeros` zero bytes,
/// compressed by the system's gzip (fast, as a bomb maker would).
fn bomb(x: &Path, out: &Path, name: &str, zeros: u64) {
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(File::create(out).unwrap())
        .spawn()
        .unwrap();
    {
        let mut b = tar::Builder::new(gz.stdin.take().unwrap());
        for e in std::fs::read_dir(x).unwrap() {
            let p = e.unwrap().path();
            b.append_path_with_name(&p, p.file_name().unwrap()).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(zeros);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, std::io::repeat(0).take(zeros))
            .unwrap();
        b.into_inner().unwrap();
    }
    assert!(gz.wait().unwrap().success());
}

#[test]
fn archive_bombs_are_refused_with_bounded_memory_and_disk() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 2, 50);
    let config = ldap.config(tmp.path(), &g.uai_inside, "");
    let c = config.to_str().unwrap();
    let before = csns(&ldap);
    let zeros = 256u64 << 20;
    let xml = tmp.path().join("xml-bomb.tar.gz");
    bomb(&x, &xml, "ENT1D_Complet_20250904_Eleve_0001.xml", zeros);
    let border = tmp.path().join("bordereau-bomb.tar.gz");
    bomb(&x, &border, "BORDEREAU.txt", zeros);

    // default limits: refused on the entry's header, before it is written
    let r = tmp.path().join("r1.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            c,
            "--report",
            r.to_str().unwrap(),
            xml.to_str().unwrap(),
        ],
        2,
    );
    assert!(
        err.contains("refused: more than")
            && err.contains("bytes once unpacked (the limit: 100 times the archive's size"),
        "{err}"
    );
    assert!(report(&r)["perf"]["peak_rss_mib"].as_f64().unwrap() < 150.0);
    assert!(staging(&tmp.path().join("work")).is_empty());

    // limits raised far above real extractions: the entries are unpacked,
    // and still memory stays flat whatever their size
    let generous = tmp.path().join("generous.toml");
    std::fs::write(
        &generous,
        std::fs::read_to_string(&config).unwrap()
            + "[delivery]\nmax_archive_ratio = 100000\nmax_archive_bytes = 8589934592\n",
    )
    .unwrap();
    let gc = generous.to_str().unwrap();
    for (archive, want) in [
        (&xml, "bytes without markup: not an AAF file"),
        (&border, "larger than 1 MiB: not a bordereau"),
    ] {
        let r = tmp.path().join("r2.json");
        let (_, err) = aaf_sync_ok(
            &[
                "sync",
                "--config",
                gc,
                "--report",
                r.to_str().unwrap(),
                archive.to_str().unwrap(),
            ],
            2,
        );
        assert!(err.contains(want), "{err}");
        let rss = report(&r)["perf"]["peak_rss_mib"].as_f64().unwrap();
        assert!(rss < 150.0, "{rss} MiB for a {zeros}-byte entry");
    }
    assert_eq!(csns(&ldap), before, "nothing written");
}

#[test]
fn archive_entries_that_are_not_aaf_files_are_not_unpacked() {
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 2, 50);
    let config = ldap.config(tmp.path(), &g.uai_inside, "");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in std::fs::read_dir(&x).unwrap() {
        let p = e.unwrap().path();
        files.push((
            format!("out/{}", p.file_name().unwrap().to_str().unwrap()),
            std::fs::read(&p).unwrap(),
        ));
    }
    files.push(("out/LISEZMOI.txt".into(), b"Bonjour\n".to_vec()));
    files.push(("zeros.bin".into(), vec![0; 4096]));
    let a = tmp.path().join("d.zip");
    zip(&a, &files);
    let r = tmp.path().join("r.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            "--report",
            r.to_str().unwrap(),
            a.to_str().unwrap(),
        ],
        0,
    );
    let rep = report(&r);
    let ignored: Vec<&str> = rep["ignored_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        ignored,
        [
            "d.zip: LISEZMOI.txt (not an AAF extraction file nor a bordereau: not unpacked)",
            "d.zip: zeros.bin (not an AAF extraction file nor a bordereau: not unpacked)"
        ]
    );
    assert_eq!(rep["outcome"], "ok");
    assert!(people(&ldap) >= g.pupils + g.staff);
}

// 6. Small hardening.

#[test]
fn incoming_keeps_no_stale_partials_nor_foreign_files() {
    let _s = serial();
    let ldap = Slapd::start();
    let sftp = Sftp::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 2, 50);
    for e in std::fs::read_dir(&x).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, sftp.files().join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(sftp.files().join("LISEZMOI.txt"), "Bonjour\n").unwrap();
    // a name that would forge a line of a tab-separated ledger
    let evil = "ENT1D\tforged\n2025.xml";
    std::fs::write(sftp.files().join(evil), "x").unwrap();
    // the key and known hosts outlive the server (stopped below): the
    // preflight reads them before anything else
    let key = tmp.path().join("id_rsa");
    std::fs::copy(&sftp.key, &key).unwrap();
    let known = tmp.path().join("known_hosts");
    std::fs::copy(sftp.known_hosts(), &known).unwrap();
    let pin = format!("known_hosts_file = \"{}\"", known.display());
    let config = ldap.config(
        tmp.path(),
        &g.uai_inside,
        &sftp.fetch_section(&key, &pin, ""),
    );
    let c = config.to_str().unwrap();
    let work = tmp.path().join("work");
    let incoming = work.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    // an old ledger, and partial downloads: one whose file left the
    // server, one older than files stay there (when the server cannot be
    // asked), one still resumable
    std::fs::write(work.join("fetched.tsv"), "OLD.zip\t10\t100\t20250903\n").unwrap();
    std::fs::write(incoming.join(".GONE.zip.part"), "x").unwrap();
    let fresh = incoming.join(".LISEZMOI.txt.part");
    std::fs::write(&fresh, "Bon").unwrap();

    let r = tmp.path().join("r.json");
    let (_, err) = aaf_sync_ok(
        &[
            "run",
            "--config",
            c,
            "--now",
            "2025-09-04",
            "--report",
            r.to_str().unwrap(),
        ],
        0,
    );
    let rep = report(&r);
    assert_eq!(rep["extractions"][0]["outcome"], "imported", "{err}");
    assert_eq!(
        rep["fetch"]["refused_names"],
        serde_json::json!(["ENT1D\\tforged\\n2025.xml"])
    );
    assert!(
        err.contains("refused remote name \"ENT1D\\tforged\\n2025.xml\""),
        "{err}"
    );
    let removed: Vec<&str> = rep["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        removed,
        [
            "GONE.zip (partial download: its file is not on the server any more)",
            "LISEZMOI.txt (not an AAF extraction file, archive or bordereau)"
        ]
    );
    let left: Vec<String> = std::fs::read_dir(&incoming)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(mode(&r), 0o600);
    // the ledger: JSON lines, the old entry carried over, no forged line
    assert!(!work.join("fetched.tsv").exists());
    assert_eq!(mode(&work.join("fetched.jsonl")), 0o600);
    let ledger: Vec<Value> = std::fs::read_to_string(work.join("fetched.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ledger[0]["name"], "OLD.zip");
    let names: Vec<&str> = ledger.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&"LISEZMOI.txt") && !names.iter().any(|n| n.contains('\t')));

    // when the server cannot be asked, a partial older than a week goes
    let old = incoming.join(".OLD.zip.part");
    std::fs::write(&old, "x").unwrap();
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(8 * 86400))
        .unwrap();
    let recent = incoming.join(".NEW.zip.part");
    std::fs::write(&recent, "x").unwrap();
    drop(sftp);
    let r = tmp.path().join("r2.json");
    aaf_sync_ok(
        &[
            "run",
            "--config",
            c,
            "--now",
            "2025-09-05",
            "--report",
            r.to_str().unwrap(),
        ],
        2,
    );
    let rep = report(&r);
    assert_eq!(
        rep["removed"],
        serde_json::json!([
            "OLD.zip (partial download older than 7 days: its file has left the server)"
        ])
    );
    assert!(!old.exists() && recent.exists());
}

#[test]
fn secrets_anyone_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let _s = serial();
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap.config(tmp.path(), &["0920100J".to_string()], "");
    let c = config.to_str().unwrap();
    let pw = tmp.path().join("ldap.secret");
    let chmod =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    chmod(&pw, 0o644);
    let (_, err) = aaf_sync_ok(&["check", "--config", c], 2);
    assert!(
        err.contains("ldap.bind_password_file")
            && err.contains("is readable by everyone (mode 0644)"),
        "{err}"
    );
    chmod(&pw, 0o640);
    let (_, err) = aaf_sync_ok(&["check", "--config", c], 0);
    assert!(err.contains("accessible to its group"), "{err}");
    chmod(&pw, 0o600);
    let (_, err) = aaf_sync_ok(&["check", "--config", c], 0);
    assert!(!err.contains("accessible"), "{err}");

    // the SFTP key and its passphrase file
    let sftp = Sftp::start(None);
    let key = tmp.path().join("id_rsa");
    std::fs::copy(&sftp.key, &key).unwrap();
    let pf = tmp.path().join("passphrase");
    write_secret(&pf, "\n");
    let pin = format!("known_hosts_file = \"{}\"", sftp.known_hosts().display());
    let fc = tmp.path().join("fetch.toml");
    std::fs::write(
        &fc,
        std::fs::read_to_string(&config).unwrap()
            + &sftp.fetch_section(
                &key,
                &pin,
                &format!("passphrase_file = \"{}\"", pf.display()),
            ),
    )
    .unwrap();
    let fc = fc.to_str().unwrap();
    chmod(&key, 0o644);
    let (_, err) = aaf_sync_ok(&["fetch", "--config", fc, "--dry-run"], 2);
    assert!(
        err.contains("key authentication as")
            && err.contains("is readable by everyone (mode 0644)"),
        "{err}"
    );
    chmod(&key, 0o600);
    chmod(&pf, 0o604);
    let (_, err) = aaf_sync_ok(&["fetch", "--config", fc, "--dry-run"], 2);
    assert!(
        err.contains("fetch.passphrase_file") && err.contains("(mode 0604)"),
        "{err}"
    );
    chmod(&pf, 0o600);
    aaf_sync_ok(&["fetch", "--config", fc, "--dry-run"], 0);
}
