//! The sync in a replicated OpenLDAP (issue 24): two providers in
//! multi-provider replication and a read-only consumer, real slapd
//! processes on loopback started by `scripts/slapd-replicated.sh`. Each
//! test states a promise of the README's "Replicated directories" and
//! checks it on what the servers hold: dumps compared entry by entry,
//! `sync --check` against each server, lock entries, journals, slapd's own
//! log of the searches it served.

mod common;

use aaf_sync::generator::{generate, GenConfig, GenSummary};
use common::*;
use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// These tests time what they kill and race: one at a time, so that two
/// heavy runs do not share the machine's cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LOCK_DN: &str = "cn=aaf-sync-lock-AC-CRETEIL,dc=example,dc=org";
const NOW: &str = "2025-09-04";

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

fn people(l: &Slapd) -> usize {
    l.count(&format!("ou=people,{BASE}"), "(objectClass=ENTPerson)")
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A background `sync` of `x`, its JSON report in `report` and its stderr
/// beside it (`.err`).
fn spawn_sync(config: &Path, x: &Path, report: &Path, env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aaf-sync"));
    c.env_remove("AAF_SYNC_LDAP_PASSWORD")
        .args(["sync", "--config"])
        .arg(config)
        .args(["--now", NOW, "--report"])
        .arg(report)
        .arg(x)
        .stdout(Stdio::null())
        .stderr(File::create(report.with_extension("err")).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn stderr_of(report: &Path) -> String {
    std::fs::read_to_string(report.with_extension("err")).unwrap_or_default()
}

fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > within {
            let _ = child.kill();
            panic!("still running {within:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 50 ms until it holds, for at most `within`.
fn wait_until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sync` of `x` in the foreground; (exit code, stderr).
fn sync(config: &Path, x: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["sync", "--config", config.to_str().unwrap(), "--now", NOW];
    args.extend_from_slice(extra);
    args.push(x.to_str().unwrap());
    let out = aaf_sync(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `sync --check` of `x` against `server` alone: exit 0 when that server
/// holds the managed tree the extraction gives.
fn in_step_on(tmp: &Path, server: &Slapd, uai: &[String], x: &Path) {
    let dir = tmp.join(format!("check-{}", server.url.rsplit(':').next().unwrap()));
    let config = replicated_config(&dir, &[&server.url], None, uai, "");
    let (code, err) = sync(&config, x, &["--check"]);
    assert_eq!(code, 0, "sync --check against {}: {err}", server.url);
}

/// The run lock's owner value on `server` (`-` when free, empty when
/// there is no lock entry).
fn lock_owner(server: &Slapd) -> String {
    server
        .entries(LOCK_DN, "(objectClass=*)", &["aafSyncLockOwner"])
        .remove(&LOCK_DN.to_lowercase())
        .and_then(|mut a| a.remove("aafsynclockowner"))
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default()
}

/// Lines of a work directory's journals that announce an operation.
fn intents(work: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(work.join("journal")) else {
        return 0;
    };
    rd.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .flat_map(|t| {
            t.lines()
                .filter(|l| l.contains("\"event\":\"intent\""))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .count()
}

// 1. One writer, even when two hosts designate different providers.

/// Two sync hosts whose configurations list the providers in opposite
/// orders (each designates another provider: the mistake the rule guards
/// against), started while replication between the providers is cut:
/// each takes the lock on its own provider. Once replication is back, the
/// conflict settles on one owner on both providers, and exactly one run
/// writes; the other refuses, having written nothing but its lock.
#[test]
fn two_hosts_on_two_providers_one_writes() {
    let _s = serial();
    let r = Replicated::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 3, 30);
    let extra = "[lock]\nreplication_wait_secs = 60\n";
    let h1 = replicated_config(
        &tmp.path().join("host1"),
        &[&r.a.url, &r.b.url],
        None,
        &g.uai_inside,
        extra,
    );
    let h2 = replicated_config(
        &tmp.path().join("host2"),
        &[&r.b.url, &r.a.url],
        None,
        &g.uai_inside,
        extra,
    );

    // a network partition between the providers
    let (sa, sb) = (r.a.cut_replication(), r.b.cut_replication());
    let (r1, r2) = (tmp.path().join("h1.json"), tmp.path().join("h2.json"));
    let mut p1 = spawn_sync(&h1, &x, &r1, &[]);
    let mut p2 = spawn_sync(&h2, &x, &r2, &[]);
    wait_until(Duration::from_secs(30), "both runs take the lock", || {
        let (oa, ob) = (lock_owner(&r.a), lock_owner(&r.b));
        !oa.is_empty() && !ob.is_empty() && oa != ob
    });
    let (oa, ob) = (lock_owner(&r.a), lock_owner(&r.b));
    // both wait for replication: nothing written but the locks
    std::thread::sleep(Duration::from_millis(500));
    assert!(p1.try_wait().unwrap().is_none() && p2.try_wait().unwrap().is_none());
    assert_eq!((people(&r.a), people(&r.b)), (0, 0));

    // the partition heals: replication settles the conflict
    r.a.set_syncrepl(&sa);
    r.b.set_syncrepl(&sb);
    let (s1, s2) = (
        wait_exit(&mut p1, Duration::from_secs(120)),
        wait_exit(&mut p2, Duration::from_secs(120)),
    );
    let codes = [s1.code(), s2.code()];
    let (winner, loser, win_owner, lose_owner, win_host, lose_host) = match codes {
        [Some(0), Some(2)] => (&r1, &r2, &oa, &ob, "host1", "host2"),
        [Some(2), Some(0)] => (&r2, &r1, &ob, &oa, "host2", "host1"),
        _ => panic!(
            "exactly one run must write: exits {codes:?}\nhost1: {}\nhost2: {}",
            stderr_of(&r1),
            stderr_of(&r2)
        ),
    };
    let err = stderr_of(loser);
    assert!(
        err.contains(&format!(
            "taken by {win_owner} on another provider at the same time"
        )) && err.contains("every sync host must list the same provider first")
            && err.contains("nothing written"),
        "{err}"
    );
    assert_eq!(report(loser)["outcome"], "refused");
    assert_eq!(report(winner)["outcome"], "ok");
    // the loser sent no operation, the winner every one of its plan
    assert_eq!(intents(&tmp.path().join(lose_host).join("work")), 0);
    let planned = report(winner)["steps"][0]["plan"]["total"]
        .as_u64()
        .unwrap();
    assert_eq!(
        intents(&tmp.path().join(win_host).join("work")) as u64,
        planned
    );
    assert!(planned > 100, "{planned}");
    assert!(!lose_owner.is_empty());

    // every server holds the winner's tree, and the lock it freed
    r.wait_same_tree(&r.all(), Duration::from_secs(30));
    assert_eq!(people(&r.c), g.pupils + g.parents + g.staff);
    for s in r.all() {
        in_step_on(tmp.path(), s, &g.uai_inside, &x);
        wait_until(Duration::from_secs(10), "the lock freed everywhere", || {
            lock_owner(s) == "-"
        });
        assert_eq!(
            s.entry(LOCK_DN)["aafsynclastrunid"][0],
            report(winner)["run_id"].as_str().unwrap()
        );
    }
}

// 2. Failover under a run, and convergence on every server.

/// One connection, one operation in flight: an apply long enough to kill
/// a provider under it.
const SLOW: [(&str, &str); 2] = [
    ("AAF_SYNC_LDAP__CONNECTIONS", "1"),
    ("AAF_SYNC_LDAP__IN_FLIGHT", "1"),
];

/// Provider A (designated) is killed by PID under a run: the run goes on
/// through B and finishes; a second host is kept out by the lock all
/// along; while A is down, writing runs that designate it refuse and
/// `check` and `status` say why; a run designating B converges B and the
/// consumer, and A, restarted, catches up: the three hold one tree, and
/// `sync --check` against each exits 0. The control entry and the erasures
/// replicate and are respected through either provider.
#[test]
fn a_provider_killed_under_a_run_the_run_fails_over_and_every_server_converges() {
    let _s = serial();
    let r = Replicated::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 10, 100);
    let all_people = g.pupils + g.parents + g.staff;
    // short retries: the release on the dead provider gives up sooner
    let extra = "[lock]\nttl_secs = 600\n";
    let quick = [("AAF_SYNC_LDAP__RETRIES", "3")];
    let host = |name: &str, providers: &[&str], extra: &str| {
        replicated_config(
            &tmp.path().join(name),
            providers,
            Some(&r.c.url),
            &g.uai_inside,
            extra,
        )
    };
    let h1 = host("host1", &[&r.a.url, &r.b.url], extra);
    let r1 = tmp.path().join("run1.json");
    let mut run1 = spawn_sync(&h1, &x, &r1, &[SLOW[0], SLOW[1], quick[0]]);
    wait_until(Duration::from_secs(120), "B holds 300 people", || {
        assert!(run1.try_wait().unwrap().is_none(), "{}", stderr_of(&r1));
        people(&r.b) >= 300
    });
    let owner = lock_owner(&r.b);
    assert!(owner.contains(' '), "{owner}");

    // another host, whatever provider it lists first, stays out
    let h2 = host("host2", &[&r.b.url, &r.a.url], "");
    let (code, err) = sync(&h2, &x, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("held by {owner}"))
            && err.contains("another aaf-sync run is at work"),
        "{err}"
    );

    // A dies under the run
    r.a.kill9();
    let st = wait_exit(&mut run1, Duration::from_secs(240));
    let err1 = stderr_of(&r1);
    assert!(
        matches!(st.code(), Some(0) | Some(3)),
        "the run goes on through B: {st:?}\n{err1}"
    );
    assert!(
        err1.contains("provider stopped answering: the run continues on the next one")
            && err1.contains(
                "writing through a failover provider: its copy of the run lock names this run"
            ),
        "{err1}"
    );
    let rep1 = report(&r1);
    let steps = &rep1["steps"][0];
    assert_eq!(
        steps["applied"]["not_attempted"].as_u64(),
        Some(0),
        "{rep1}"
    );
    // it could not free the lock on A: it records its end on B's copy,
    // which `status` reads while A is down
    assert!(err1.contains("could not free the run lock"), "{err1}");
    assert_eq!(lock_owner(&r.b), "-");

    // A down: the runs that designate it refuse, check and status say why
    let (code, err) = sync(&h1, &x, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "run lock: the designated provider {} (the first of [ldap] url) does not answer",
            r.a.url
        )) && err.contains("nothing written"),
        "{err}"
    );
    let out = aaf_sync(&["check", "--config", h1.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("designated provider {}: DOES NOT ANSWER", r.a.url))
            && text.contains(&format!("provider {}: answers", r.b.url))
            && text.contains("writing runs refuse"),
        "{text}"
    );
    let (st, _) = aaf_sync_ok(&["status", "--config", h1.to_str().unwrap()], 0);
    assert!(
        st.contains(&format!("directory: answered by {}", r.b.url))
            && st.contains("the designated provider does not answer"),
        "{st}"
    );

    // the operator points the sync at B: it converges B and the consumer
    let hb = host("host1b", &[&r.b.url, &r.a.url], "");
    let (code, err) = sync(&hb, &x, &[]);
    assert_eq!(code, 0, "{err}");
    in_step_on(tmp.path(), &r.b, &g.uai_inside, &x);
    r.wait_same_tree(&[&r.b, &r.c], Duration::from_secs(30));
    in_step_on(tmp.path(), &r.c, &g.uai_inside, &x);
    assert_eq!(people(&r.b), all_people);

    // A comes back and catches up from B
    r.a.restart();
    r.wait_same_tree(&r.all(), Duration::from_secs(60));
    for s in r.all() {
        in_step_on(tmp.path(), s, &g.uai_inside, &x);
    }
    let (code, err) = sync(&h1, &x, &[]);
    assert_eq!(code, 0, "A designated again: {err}");
    assert!(err.contains("changes planned: 0"), "{err}");

    // the control entry replicated: an older extraction is refused
    // through either provider
    let older = tmp.path().join("older");
    copy_extraction(&x, &older, "20250903");
    for first in [&r.a.url, &r.b.url] {
        let others: Vec<&str> = [&r.a.url, &r.b.url]
            .into_iter()
            .filter(|u| u != &first)
            .map(String::as_str)
            .collect();
        let c = host(
            &format!("older-{}", first.rsplit(':').next().unwrap()),
            &[first, others[0]],
            "",
        );
        let (code, err) = sync(&c, &older, &[]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("older than the last extraction applied"),
            "{err}"
        );
    }

    // an erasure through A holds through B
    let pupil =
        r.b.entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["ENTPersonJointure"],
        )
        .into_iter()
        .next()
        .unwrap();
    let (pdn, jointure) = (pupil.0, pupil.1["entpersonjointure"][0].clone());
    aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            h1.to_str().unwrap(),
            "--jointure",
            &jointure,
            "--reason",
            "test",
            "--now",
            NOW,
        ],
        0,
    );
    r.wait_same_tree(&r.all(), Duration::from_secs(30));
    let (code, err) = sync(&hb, &x, &[]);
    assert_eq!(code, 0, "{err}");
    r.wait_same_tree(&r.all(), Duration::from_secs(30));
    for s in r.all() {
        assert_eq!(
            s.count(&pdn, "(objectClass=*)"),
            0,
            "{} brought the erased person back",
            s.url
        );
        assert_eq!(
            s.count(
                &format!("cn=aaf-sync-erasures-AC-CRETEIL,{BASE}"),
                "(objectClass=aafSyncErasures)"
            ),
            1
        );
    }
}

/// A first load; provider A (designated) is killed by PID in the middle
/// of it (once the journal shows a few hundred operations sent). The run
/// fails over to B and may end `ok` only if every operation A
/// acknowledged is on B (read back there; missing adds sent again):
/// then B and the consumer hold the whole tree. Otherwise it ends
/// `partial` (exit 3), the extraction not recorded as applied, and a
/// second run through B (A still dead) converges and ends `ok`. Either
/// way `status` says the run ended, on B, after failing over from A.
#[test]
fn a_run_that_failed_over_claims_only_what_the_survivor_holds() {
    let _s = serial();
    let r = Replicated::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 4, 150);
    let all_people = g.pupils + g.parents + g.staff;
    let quick = [("AAF_SYNC_LDAP__RETRIES", "3")];
    let h1 = replicated_config(
        &tmp.path().join("host1"),
        &[&r.a.url, &r.b.url],
        Some(&r.c.url),
        &g.uai_inside,
        "",
    );
    let r1 = tmp.path().join("run1.json");
    let mut run1 = spawn_sync(&h1, &x, &r1, &[SLOW[0], SLOW[1], quick[0]]);
    let work = tmp.path().join("host1").join("work");
    wait_until(Duration::from_secs(120), "400 operations sent", || {
        assert!(run1.try_wait().unwrap().is_none(), "{}", stderr_of(&r1));
        intents(&work) >= 400
    });
    r.a.kill9();
    let st = wait_exit(&mut run1, Duration::from_secs(240));
    let err1 = stderr_of(&r1);
    let rep1 = report(&r1);
    let applied = &rep1["steps"][0]["applied"];
    let f = &applied["failover"];
    assert_eq!(f["from"][0].as_str(), Some(r.a.url.as_str()), "{rep1}");
    assert_eq!(f["to"].as_str(), Some(r.b.url.as_str()), "{rep1}");
    let checked = f["checked"].as_u64().unwrap();
    let missing = f["missing"].as_u64().unwrap();
    let unrecovered = f["unrecovered"].as_u64().unwrap();
    assert!(checked >= 300, "A acknowledged what it was sent: {rep1}");
    assert_eq!(
        f["replayed"].as_u64().unwrap() + unrecovered,
        missing,
        "{rep1}"
    );
    assert!(
        err1.contains(&format!(
            "failed over from {} to {}: {checked} operations acknowledged before read back there, {missing} missing",
            r.a.url, r.b.url
        )),
        "{err1}"
    );
    let done: u64 = applied["done"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    let status = |outcome: &str| {
        let (st, _) = aaf_sync_ok(&["status", "--config", h1.to_str().unwrap()], 0);
        assert!(
            st.contains(&format!(
                "outcome {outcome} (ended on {} after failing over from {}",
                r.b.url, r.a.url
            )) && !st.contains("did not finish"),
            "{st}"
        );
    };
    match st.code() {
        Some(0) => {
            // every operation counted done is on B, then on the consumer
            assert_eq!(unrecovered, 0, "{rep1}");
            assert_eq!(rep1["outcome"], "ok");
            assert_eq!(done, applied["planned"].as_u64().unwrap(), "{rep1}");
            status("ok");
        }
        Some(3) => {
            assert!(unrecovered > 0, "{rep1}");
            assert_eq!(rep1["outcome"], "partial");
            assert_eq!(rep1["steps"][0]["in_step"], false, "{rep1}");
            status("partial");
            // the operator lists B first; A is still dead
            let hb = replicated_config(
                &tmp.path().join("host1b"),
                &[&r.b.url, &r.a.url],
                Some(&r.c.url),
                &g.uai_inside,
                "",
            );
            let (code, err) = sync(&hb, &x, &[]);
            assert_eq!(code, 0, "the second run converges: {err}");
        }
        other => panic!("exit {other:?}\n{err1}"),
    }
    // what the ENT reads holds the whole extraction
    assert_eq!(people(&r.b), all_people);
    in_step_on(tmp.path(), &r.b, &g.uai_inside, &x);
    r.wait_same_tree(&[&r.b, &r.c], Duration::from_secs(30));
    assert_eq!(people(&r.c), all_people);
    in_step_on(tmp.path(), &r.c, &g.uai_inside, &x);
    assert_eq!(lock_owner(&r.b), "-");
}

// 3. Reads from the consumer only when it is in step; lag in check,
// status and the metrics.

/// What slapd logs of the managed tree's read (`SLAPD_DEBUG=stats`).
const MANAGED_READ: &str = "(ENTPersonLogin=*)";

/// Searches of the managed tree `server` served.
fn managed_reads(server: &Slapd) -> usize {
    server.log_count(MANAGED_READ)
}

/// The sample of `series` for `url` in the metrics text.
fn sample(metrics: &str, series: &str, url: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l.contains(&format!("url=\"{url}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| {
            if v == "+Inf" {
                f64::INFINITY
            } else {
                v.parse().unwrap()
            }
        })
}

/// The consumer refuses writes; a run reads the managed tree from it when
/// its contextCSN shows it in step with the provider, and from the provider
/// when it is behind — a hand edit the consumer has not received is then
/// repaired, not missed; `check`, `status` and the metrics show the lag.
#[test]
fn the_consumer_is_read_only_when_in_step_and_the_lag_is_shown() {
    let _s = serial();
    let r = Replicated::start_with(&[("SLAPD_DEBUG", "stats")]);
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 3, 30);
    let metrics = tmp.path().join("aaf_sync.prom");
    let config = replicated_config(
        &tmp.path().join("host"),
        &[&r.a.url, &r.b.url],
        Some(&r.c.url),
        &g.uai_inside,
        &format!("[monitoring]\nmetrics_file = \"{}\"\n", metrics.display()),
    );
    // a consumer cut off is given up on after a second
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[source]", "read_wait_secs = 1\n[source]"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // a read-only consumer: writes get a referral to the provider
    let out = Command::new("ldapadd")
        .args(["-x", "-H", &r.c.url, "-D", ADMIN, "-w", PW])
        .arg("-f")
        .arg({
            let f = tmp.path().join("ou.ldif");
            std::fs::write(
                &f,
                format!("dn: ou=x,{BASE}\nobjectClass: organizationalUnit\nou: x\n"),
            )
            .unwrap();
            f
        })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "referral");

    // in step: the read goes to the consumer
    let (code, err) = sync(Path::new(config), &x, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((managed_reads(&r.c), managed_reads(&r.a)), (1, 0));
    r.wait_same_tree(&r.all(), Duration::from_secs(30));
    let m = std::fs::read_to_string(&metrics).unwrap();
    for s in r.all() {
        assert_eq!(
            sample(&m, "aaf_sync_directory_up", &s.url),
            Some(1.0),
            "{m}"
        );
        assert_eq!(
            sample(&m, "aaf_sync_replication_lag_seconds", &s.url),
            Some(0.0),
            "{m}"
        );
    }
    let (out, _) = aaf_sync_ok(&["check", "--config", config], 0);
    assert!(
        out.contains(&format!("consumer {}: answers, in step", r.c.url))
            && out.contains(&format!(
                "designated provider {}: answers, in step, writes go here",
                r.a.url
            )),
        "{out}"
    );

    // the consumer stops receiving; a pupil is deleted by hand on A
    let saved = r.c.cut_replication();
    let pdn =
        r.a.entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["1.1"],
        )
        .into_iter()
        .next()
        .unwrap()
        .0;
    let del = Command::new("ldapdelete")
        .args(["-x", "-H", &r.a.url, "-D", ADMIN, "-w", PW, &pdn])
        .output()
        .unwrap();
    assert!(del.status.success());
    wait_until(Duration::from_secs(10), "B receives the delete", || {
        r.b.count(&pdn, "(objectClass=*)") == 0
    });
    assert_eq!(r.c.count(&pdn, "(objectClass=*)"), 1, "C is cut off");
    let out = aaf_sync(&["check", "--config", config]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("consumer {}: answers, replication lag", r.c.url)),
        "{text}"
    );
    let (st, _) = aaf_sync_ok(&["status", "--config", config], 0);
    assert!(
        st.contains(&format!("directory: answered by {}", r.a.url))
            && st.contains(&format!("managed entries read from {}", r.a.url))
            && st.contains(&format!("consumer {}: answers, replication lag", r.c.url)),
        "{st}"
    );

    // behind: the run reads the provider, and puts the pupil back
    let (c_before, a_before) = (managed_reads(&r.c), managed_reads(&r.a));
    let (code, err) = sync(Path::new(config), &x, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the consumer is not in step with the provider (contextCSN): the managed tree is read from the provider"),
        "{err}"
    );
    assert!(
        err.contains("changes planned: 1 "),
        "the pupil is put back: {err}"
    );
    assert_eq!(managed_reads(&r.c), c_before);
    assert_eq!(managed_reads(&r.a), a_before + 1);
    assert_eq!(r.a.count(&pdn, "(objectClass=*)"), 1);
    in_step_on(tmp.path(), &r.a, &g.uai_inside, &x);
    let m = std::fs::read_to_string(&metrics).unwrap();
    let lag = sample(&m, "aaf_sync_replication_lag_seconds", &r.c.url).unwrap();
    assert!(lag > 0.0, "{m}");
    assert_eq!(
        sample(&m, "aaf_sync_replication_lag_seconds", &r.b.url),
        Some(0.0),
        "{m}"
    );

    // back in step: the consumer serves the read again
    r.c.set_syncrepl(&saved);
    r.wait_same_tree(&r.all(), Duration::from_secs(30));
    let c_before = managed_reads(&r.c);
    let (code, err) = sync(Path::new(config), &x, &["--check"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(managed_reads(&r.c), c_before + 1);
}

// 4. No writes through a provider that does not hold the run's lock.

/// Provider B was down when the run took its lock and comes back cut off
/// from A (it never receives the lock); A is then killed under the run:
/// the run does not write through B, stops (exit 2) and says why. Once
/// both are back and replicating, the next run converges every server.
#[test]
fn a_failover_provider_without_the_runs_lock_is_not_written_through() {
    let _s = serial();
    let r = Replicated::start();
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let g = gen(&x, 5, 100);
    let saved = r.b.cut_replication();
    r.b.kill9();
    let h1 = replicated_config(
        &tmp.path().join("host1"),
        &[&r.a.url, &r.b.url],
        None,
        &g.uai_inside,
        "",
    );
    let r1 = tmp.path().join("run1.json");
    let mut run1 = spawn_sync(
        &h1,
        &x,
        &r1,
        &[SLOW[0], SLOW[1], ("AAF_SYNC_LDAP__RETRIES", "3")],
    );
    // B comes back (cut off from A) once the run holds its lock, and A is
    // killed as soon as it holds 200 people: B's restart is not in the
    // window between the two, which a loaded machine would stretch past
    // the end of the run
    wait_until(
        Duration::from_secs(120),
        "the run holds its lock on A",
        || {
            assert!(run1.try_wait().unwrap().is_none(), "{}", stderr_of(&r1));
            let o = lock_owner(&r.a);
            !o.is_empty() && o != "-"
        },
    );
    r.b.restart();
    assert_eq!(lock_owner(&r.b), "", "B never received the lock");
    wait_until(Duration::from_secs(120), "A holds 200 people", || {
        assert!(run1.try_wait().unwrap().is_none(), "{}", stderr_of(&r1));
        people(&r.a) >= 200
    });
    r.a.kill9();
    let st = wait_exit(&mut run1, Duration::from_secs(120));
    let err = stderr_of(&r1);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "provider {} does not hold this run's lock yet (no lock entry",
            r.b.url
        )) && err.contains("writes through it refused"),
        "{err}"
    );
    assert_eq!(report(&r1)["outcome"], "failed");
    assert_eq!(people(&r.b), 0, "nothing written through B");

    // both back, replicating: the next run converges
    r.a.restart();
    r.b.set_syncrepl(&saved);
    let (code, err) = sync(&h1, &x, &[]);
    assert_eq!(code, 0, "{err}");
    r.wait_same_tree(&r.all(), Duration::from_secs(60));
    for s in r.all() {
        in_step_on(tmp.path(), s, &g.uai_inside, &x);
    }
}
