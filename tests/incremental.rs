//! The incremental read (RFC 4533 content synchronization, slapd's
//! `syncprov`), against real slapds: a run after changes made by another
//! client reads only those changes and plans exactly what a full read
//! plans; every copy or cookie that does not match — missing, cut short,
//! edited, the cookie removed or altered — and a server without
//! `syncprov` give a full read, and the run reports which read it did.

mod common;

use aaf_sync::generator::{generate, GenConfig};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONTROL: &str = "cn=aaf-sync-AC-CRETEIL,dc=example,dc=org";

/// A slapd with `syncprov` on its database (checkpoint, session log 1000).
fn start_syncprov() -> Slapd {
    require_slapd();
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slapd-test-instance.sh"))
            .args([
                "start",
                dir.path().join("ldap").to_str().unwrap(),
                &port.to_string(),
            ])
            .env("MDB_FAST", "1")
            .env("SYNCPROV", "1")
            .output()
            .unwrap();
        if out.status.success() {
            let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
            return Slapd {
                dir,
                url,
                ldaps: None,
            };
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains("busy"), "slapd did not start: {err}");
    }
    panic!("no free port for slapd");
}

struct Fixture {
    tmp: tempfile::TempDir,
    ldap: Slapd,
    /// Incremental reads on (the default).
    config: String,
    /// The same directory read in full every time.
    full: String,
    files: Vec<String>,
    n: std::cell::Cell<u32>,
}

impl Fixture {
    fn new(ldap: Slapd) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let s = generate(
            &GenConfig {
                date: "20250904".into(),
                ..Default::default()
            },
            &tmp.path().join("x"),
        )
        .unwrap();
        let (a, b) = (tmp.path().join("inc"), tmp.path().join("full"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let config = ldap.config(&a, &s.uai_inside, "");
        let full = ldap.config(&b, &s.uai_inside, "");
        let text = std::fs::read_to_string(&full).unwrap();
        std::fs::write(
            &full,
            text.replacen("[ldap]\n", "[ldap]\nincremental_read = false\n", 1),
        )
        .unwrap();
        Fixture {
            config: config.display().to_string(),
            full: full.display().to_string(),
            files: s.files.iter().map(|f| f.display().to_string()).collect(),
            tmp,
            ldap,
            n: Default::default(),
        }
    }

    fn snapshot(&self) -> PathBuf {
        self.tmp.path().join("inc/work/snapshot-AC-CRETEIL.bin")
    }

    /// `sync` of the Complet; (report, stdout).
    fn sync(&self, config: &str, dry_run: bool) -> (serde_json::Value, String) {
        self.n.set(self.n.get() + 1);
        let report = self.tmp.path().join(format!("r{}.json", self.n.get()));
        let mut args = vec![
            "sync",
            "--config",
            config,
            "--now",
            "2025-09-05",
            "--report",
            report.to_str().unwrap(),
        ];
        if dry_run {
            args.push("--dry-run");
        }
        args.extend(self.files.iter().map(String::as_str));
        let (out, _) = aaf_sync_ok(&args, 0);
        let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (r, out)
    }

    /// A real run; (read mode, changes read, why a full read).
    fn run(&self) -> (String, u64, String) {
        let (r, _) = self.sync(&self.config, false);
        mode(&r)
    }

    fn mark(&self) -> Option<String> {
        self.ldap
            .entry(CONTROL)
            .get("aafsyncreadmark")
            .and_then(|v| v.first().cloned())
    }
}

fn mode(r: &serde_json::Value) -> (String, u64, String) {
    let p = &r["perf"];
    (
        p["read_mode"].as_str().unwrap_or_default().to_string(),
        p["read_changes"].as_u64().unwrap_or_default(),
        p["read_full_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn operations(r: &serde_json::Value) -> u64 {
    r["perf"]["apply_operations"].as_u64().unwrap()
}

/// Two people of the tree, as (dn, uid).
fn two_pupils(l: &Slapd) -> Vec<String> {
    let all = l.entries(BASE, "(objectClass=ENTEleve)", &["1.1"]);
    all.keys().take(2).cloned().collect()
}

#[test]
fn a_run_after_another_clients_changes_reads_only_them_and_plans_what_a_full_read_plans() {
    let f = Fixture::new(start_syncprov());
    let (out, _) = aaf_sync_ok(&["check", "--config", &f.config], 0);
    assert!(
        out.contains("incremental read: the directory offers content synchronization (syncprov)"),
        "{out}"
    );
    // a fresh machine reads everything, and keeps its copy
    let (m, _, why) = f.run();
    assert_eq!(m, "full");
    assert!(why.contains("no read cookie"), "{why}");
    assert!(f.snapshot().exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.snapshot())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        f.mark().is_some(),
        "the first run wrote its cookie at its end"
    );
    // the next run reads what the first one wrote (after its cookie)
    let (m, _, why) = f.run();
    assert_eq!(m, "incremental", "{why}");
    // nothing changed since: nothing read, nothing planned, the copy kept
    // as it is (only the cookie moves on)
    let (copy, mark) = (std::fs::read(f.snapshot()).unwrap(), f.mark());
    let (r, _) = f.sync(&f.config, false);
    assert_eq!(std::fs::read(f.snapshot()).unwrap(), copy);
    assert_ne!(f.mark(), mark);
    assert_eq!(mode(&r), ("incremental".into(), 0, String::new()));
    assert_eq!(operations(&r), 0);
    let managed = r["perf"]["read_entries"].as_u64().unwrap();
    assert!(managed > 50, "{r}");

    // another client changes the tree: a name edited, a person deleted,
    // a person moved out of the read's scope, an entry added with a login
    let p = two_pupils(&f.ldap);
    f.ldap.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: sn\nsn: EDITED\n",
        p[0]
    ));
    let out = Command::new("ldapdelete")
        .args(["-x", "-H", &f.ldap.url, "-D", ADMIN, "-w", PW, &p[1]])
        .output()
        .unwrap();
    assert!(out.status.success());
    f.ldap.add(
        "dn: uid=someone-else,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
         uid: someone-else\ncn: x\nsn: x\nENTPersonLogin: someone.else\nENTPersonJointure: OTHER$1\n",
    );
    let before_file = std::fs::read(f.snapshot()).unwrap();
    let before_mark = f.mark();

    // a dry run reads only those changes and plans what a full read plans
    let (r, inc_plan) = f.sync(&f.config, true);
    let (m, changes, _) = mode(&r);
    assert_eq!(m, "incremental");
    assert!(
        (2..=4).contains(&changes),
        "only the changes are read: {changes}"
    );
    let (r_full, full_plan) = f.sync(&f.full, true);
    assert_eq!(mode(&r_full).0, "full");
    assert_eq!(inc_plan, full_plan);
    assert!(inc_plan.contains("EDITED") || inc_plan.contains("replace: sn"));
    assert!(inc_plan.contains("changetype: add"), "{inc_plan}");
    assert_eq!(
        r["perf"]["read_entries"], r_full["perf"]["read_entries"],
        "the same tree"
    );
    // a dry run leaves the copy and the cookie as they were
    assert_eq!(std::fs::read(f.snapshot()).unwrap(), before_file);
    assert_eq!(f.mark(), before_mark);

    // applied, then nothing left to do, read either way
    let (r, _) = f.sync(&f.config, false);
    assert_eq!(mode(&r).0, "incremental");
    assert!(operations(&r) >= 2, "{r}");
    // the writes' CPU time is this process's, over the writes' time only
    let (cpu, wall) = (
        r["perf"]["apply_cpu_secs"].as_f64().unwrap(),
        r["perf"]["apply_secs"].as_f64().unwrap(),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    assert!(
        cpu >= 0.0 && cpu <= wall * cores + 0.02,
        "{cpu} s over {wall} s"
    );
    let (_, inc_plan) = f.sync(&f.config, true);
    let (_, full_plan) = f.sync(&f.full, true);
    assert_eq!(inc_plan, full_plan);
    let (r, _) = f.sync(&f.config, false);
    assert_eq!(operations(&r), 0, "{r}");

    // an entry that comes into the read's scope (an older feeder's
    // structure naming the source), then leaves it (renamed to another
    // source): the copy follows
    const FOREIGN: &str = "ou=foreign,dc=example,dc=org";
    f.ldap.add(&format!(
        "dn: {FOREIGN}\nobjectClass: ENTStructure\nou: foreign\nENTStructureJointure: AC-CRETEIL$999\n"
    ));
    assert_eq!(f.run().0, "incremental");
    let has = |dn: &str| {
        let b = std::fs::read(f.snapshot()).unwrap();
        b.windows(dn.len()).any(|w| w == dn.as_bytes())
    };
    assert!(has(FOREIGN));
    f.ldap.modify(&format!(
        "dn: {FOREIGN}\nchangetype: modify\nreplace: ENTStructureJointure\nENTStructureJointure: OTHER$999\n"
    ));
    assert_eq!(f.run().0, "incremental");
    assert!(!has(FOREIGN));

    // (the same records, in the server's order)
    let kept = std::fs::read(f.snapshot()).unwrap();
    std::fs::remove_file(f.snapshot()).unwrap();
    assert_eq!(f.run().0, "full");
    assert_eq!(std::fs::read(f.snapshot()).unwrap(), kept);
}

#[test]
fn without_a_session_log_the_present_phase_gives_the_same_tree() {
    let f = Fixture::new(start_syncprov());
    f.ldap.config_modify(
        "dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcSpSessionLog\n",
    );
    f.run();
    f.run();
    let p = two_pupils(&f.ldap);
    let out = Command::new("ldapdelete")
        .args(["-x", "-H", &f.ldap.url, "-D", ADMIN, "-w", PW, &p[0]])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (r, inc_plan) = f.sync(&f.config, true);
    assert_eq!(mode(&r).0, "incremental", "{r}");
    let (_, full_plan) = f.sync(&f.full, true);
    assert_eq!(inc_plan, full_plan);
    assert!(inc_plan.contains("changetype: add"), "{inc_plan}");
}

#[test]
fn anything_that_does_not_match_gives_a_full_read_and_a_new_copy() {
    let f = Fixture::new(start_syncprov());
    f.run();
    assert_eq!(f.run().0, "incremental");
    let back_to_incremental = || {
        let (m, _, why) = f.run();
        assert_eq!(m, "incremental", "{why}");
    };
    let full_because = |what: &str| {
        let (r, _) = f.sync(&f.config, false);
        let (m, _, why) = mode(&r);
        assert_eq!(m, "full", "{what}");
        assert_eq!(
            operations(&r),
            0,
            "{what}: the tree read in full is the right one"
        );
        why
    };

    // no copy
    std::fs::remove_file(f.snapshot()).unwrap();
    assert!(full_because("missing").contains("no snapshot file"));
    back_to_incremental();

    // cut short
    let body = std::fs::read(f.snapshot()).unwrap();
    std::fs::write(f.snapshot(), &body[..body.len() / 2]).unwrap();
    assert!(full_because("truncated").contains("digest"));
    back_to_incremental();

    // edited: one byte of a value changed in place, same length
    let mut edited = std::fs::read(f.snapshot()).unwrap();
    let at = edited.windows(7).position(|w| w == b"AC-CRET").unwrap();
    edited[at + 3] = b'X';
    std::fs::write(f.snapshot(), &edited).unwrap();
    assert!(full_because("tampered").contains("digest"));
    back_to_incremental();

    // the cookie removed from the control entry
    f.ldap.modify(&format!(
        "dn: {CONTROL}\nchangetype: modify\ndelete: aafSyncReadMark\n"
    ));
    assert!(full_because("no cookie").contains("no read cookie"));
    back_to_incremental();

    // the cookie altered: another file's digest, a garbled value, a CSN
    // the directory does not hold (a directory restored from a backup)
    let mark = f.mark().unwrap();
    let parts: Vec<&str> = mark.split(' ').collect();
    let other = format!("1 {} {}", "0".repeat(64), parts[2]);
    f.ldap.modify(&format!(
        "dn: {CONTROL}\nchangetype: modify\nreplace: aafSyncReadMark\naafSyncReadMark: {other}\n"
    ));
    assert!(full_because("other digest").contains("digest"));
    back_to_incremental();
    f.ldap.modify(&format!(
        "dn: {CONTROL}\nchangetype: modify\nreplace: aafSyncReadMark\naafSyncReadMark: garbled\n"
    ));
    assert!(full_because("garbled").contains("malformed"));
    back_to_incremental();
    // the cookie rewritten to name a CSN the directory does not hold (as
    // after a restore from an older backup)
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mark = f.mark().unwrap();
    let parts: Vec<&str> = mark.split(' ').collect();
    let cookie = String::from_utf8(b64.decode(parts[2]).unwrap()).unwrap();
    let future = cookie
        .split(',')
        .map(|p| match p.strip_prefix("csn=") {
            Some(c) => format!("csn=2999{}", &c[4..]),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    assert_ne!(future, cookie);
    f.ldap.modify(&format!(
        "dn: {CONTROL}\nchangetype: modify\nreplace: aafSyncReadMark\naafSyncReadMark: 1 {} {}\n",
        parts[1],
        b64.encode(&future)
    ));
    assert!(full_because("future cookie").contains("contextCSN is older than the read cookie"));
    back_to_incremental();

    // a copy an earlier version wrote (its decisions made by older rules),
    // its digest in the mark as that version would have put it
    let body = std::fs::read(f.snapshot()).unwrap();
    let end = body.iter().position(|b| *b == b'\n').unwrap();
    assert!(body.starts_with(b"aaf-sync snapshot "));
    let mut older = b"aaf-sync snapshot 2".to_vec();
    older.extend_from_slice(&body[end..]);
    std::fs::write(f.snapshot(), &older).unwrap();
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&older)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let mark = f.mark().unwrap();
    let parts: Vec<&str> = mark.split(' ').collect();
    f.ldap.modify(&format!(
        "dn: {CONTROL}\nchangetype: modify\nreplace: aafSyncReadMark\naafSyncReadMark: {} {digest} {}\n",
        parts[0], parts[2]
    ));
    assert!(full_because("older format").contains("another format"));
    back_to_incremental();
}

#[test]
fn a_server_without_syncprov_is_read_in_full_and_no_copy_is_kept() {
    let f = Fixture::new(Slapd::start());
    let (m, _, _) = f.run();
    assert_eq!(m, "full");
    let (m, _, why) = f.run();
    assert_eq!(m, "full");
    assert!(why.contains("content synchronization"), "{why}");
    assert!(!f.snapshot().exists());
    assert!(f.mark().is_none());
    // switched off: a full read, no reason given
    let (r, _) = f.sync(&f.full, false);
    assert_eq!(mode(&r), ("full".into(), 0, String::new()));
}

#[test]
fn an_erasure_and_a_purge_take_the_local_copy_with_them() {
    let f = Fixture::new(start_syncprov());
    f.run();
    assert_eq!(f.run().0, "incremental");
    let copy = String::from_utf8_lossy(&std::fs::read(f.snapshot()).unwrap()).to_string();
    let pupil = two_pupils(&f.ldap).remove(0);
    let jointure = f.ldap.entry(&pupil)["entpersonjointure"][0].clone();
    let id = jointure.split('$').nth(1).unwrap().to_string();
    assert!(copy.to_lowercase().contains(&pupil));

    aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            &f.config,
            "--jointure",
            &id,
            "--reason",
            "request 1",
            "--now",
            "2025-09-05",
        ],
        0,
    );
    assert!(!f.snapshot().exists(), "the copy held the erased person");
    assert!(f.mark().is_none());
    // the next run reads everything, without them
    let (m, _, why) = f.run();
    assert_eq!(m, "full");
    assert!(why.contains("no read cookie"), "{why}");
    let copy = String::from_utf8_lossy(&std::fs::read(f.snapshot()).unwrap()).to_lowercase();
    assert!(!copy.contains(&pupil) && !copy.contains(&jointure.to_lowercase()));
    assert_eq!(f.run().0, "incremental");

    aaf_sync_ok(
        &[
            "purge",
            "--config",
            &f.config,
            "--confirm",
            BASE,
            "--reference",
            "end",
            "--out",
            f.tmp.path().join("certs").to_str().unwrap(),
        ],
        0,
    );
    assert!(!f.snapshot().exists(), "purge removes the copy");
}

/// `run` (the daily job) reports its read in each extraction's report.
#[test]
fn the_daily_run_reports_which_read_it_did() {
    let f = Fixture::new(start_syncprov());
    let delta = generate(
        &GenConfig {
            delta: true,
            date: "20250905".into(),
            ..Default::default()
        },
        &f.tmp.path().join("d"),
    )
    .unwrap();
    let incoming = f.tmp.path().join("inc/work/incoming");
    let deliver = |files: Vec<PathBuf>| {
        std::fs::create_dir_all(&incoming).unwrap();
        for p in files {
            std::fs::copy(&p, incoming.join(p.file_name().unwrap())).unwrap();
        }
    };
    let run = |n: &str| {
        let report = f.tmp.path().join(format!("run-{n}.json"));
        aaf_sync_ok(
            &[
                "run",
                "--config",
                &f.config,
                "--now",
                "2025-09-05",
                "--report",
                report.to_str().unwrap(),
            ],
            0,
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
        r["extractions"][0]["report"]["perf"]["read_mode"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    deliver(f.files.iter().map(PathBuf::from).collect());
    assert_eq!(run("1"), "full");
    // a lone Delta reads only what its plan needs (tests/targeted.rs)
    deliver(delta.files);
    assert_eq!(run("2"), "targeted");
    // a Complet reads what changed since the copy
    let next = generate(
        &GenConfig {
            days: 2,
            date: "20250906".into(),
            ..Default::default()
        },
        &f.tmp.path().join("c2"),
    )
    .unwrap();
    deliver(next.files);
    assert_eq!(run("3"), "incremental");
}
