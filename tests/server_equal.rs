//! Values the directory holds equal to the ones the sync compares: slapd
//! matches `ENTStructureUAI`, `ENTPersonLogin`, `ENTPersonAlias` and the
//! jointures with `caseIgnoreMatch`, where case and blanks at either end do
//! not count. Another tool (or a hand edit) that writes ` 0920102L` or
//! ` AC-CRETEIL$123` must not make the sync see another value: a guard that
//! lets a school's people be deleted, a login given twice, a person made
//! twice, a run that fails on every Complet.

mod common;

use aaf_sync::generator::{generate, GenConfig};
use base64::Engine;
use common::*;
use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The generator's extraction: a Complet of `schools` schools on `date`, or
/// the Delta of the next day.
fn gen(dir: &Path, date: &str, schools: usize, delta: bool) -> Vec<String> {
    generate(
        &GenConfig {
            date: date.into(),
            delta,
            days: u32::from(delta),
            schools,
            pupils_per_school: 20,
            schools_outside: 0,
            seed: 41,
            ..Default::default()
        },
        dir,
    )
    .unwrap()
    .uai_inside
}

/// `value` with a blank before it, as an LDIF line of `attr` (base64: LDIF
/// cannot carry a leading blank otherwise).
fn blank_before(attr: &str, value: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!(" {value}"));
    format!("{attr}:: {b}\n")
}

/// Every `attr: value` line of an LDIF text.
fn values_of(ldif: &str, attr: &str) -> Vec<String> {
    let p = format!("{attr}: ");
    ldif.lines()
        .filter_map(|l| l.strip_prefix(&p))
        .map(str::to_string)
        .collect()
}

/// A directory and the first Complet of two schools, not synced yet.
struct Setup {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    c1: std::path::PathBuf,
    uai: Vec<String>,
    config: String,
}

fn setup() -> Setup {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let uai = gen(&c1, "20250904", 2, false);
    let config = s(&ldap.config(tmp.path(), &uai, ""));
    Setup {
        ldap,
        tmp,
        c1,
        uai,
        config,
    }
}

impl Setup {
    /// `aaf-sync sync` of `x` on `now` with `extra` options, expecting exit
    /// `code`: its stdout and stderr.
    fn sync(&self, x: &Path, now: &str, extra: &[&str], code: i32) -> (String, String) {
        let x = s(x);
        let mut args = vec!["sync", "--config", &self.config, "--now", now];
        args.extend(extra);
        args.push(&x);
        aaf_sync_ok(&args, code)
    }

    /// The JSON report of a run of `x` on `now` (exit 0).
    fn report(&self, x: &Path, now: &str, name: &str) -> serde_json::Value {
        let report = s(&self.tmp.path().join(name));
        self.sync(x, now, &["--report", &report], 0);
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
    }

    /// The first values of `attr` the first Complet's dry run would write.
    fn planned(&self, attr: &str) -> Vec<String> {
        let (plan, _) = self.sync(&self.c1, "2025-09-04", &["--dry-run"], 0);
        values_of(&plan, attr)
    }
}

#[test]
fn a_school_whose_uai_has_a_blank_is_still_missed_by_a_complet() {
    let f = setup();
    f.sync(&f.c1, "2025-09-04", &[], 0);
    let school = f
        .ldap
        .entries(BASE, &format!("(ENTStructureUAI={})", f.uai[1]), &["1.1"]);
    let dn = school.keys().next().expect("the second school").clone();
    f.ldap.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: ENTStructureUAI\n{}",
        blank_before("ENTStructureUAI", &f.uai[1])
    ));
    let before = csns(&f.ldap);
    // the next Complet lacks the second school: held, nothing written
    let c2 = f.tmp.path().join("c2");
    gen(&c2, "20250911", 1, false);
    let (_, err) = f.sync(&c2, "2025-09-11", &[], 2);
    assert!(
        err.contains(&format!(
            "perimeter school {} is in the directory but not in this Complet",
            f.uai[1]
        )),
        "{err}"
    );
    assert_eq!(csns(&f.ldap), before, "written despite the hold");
}

#[test]
fn a_login_written_with_a_blank_is_taken_for_the_whole_and_the_targeted_read() {
    let f = setup();
    let stranger = |n: u32, login: &str| {
        f.ldap.add(&format!(
            "dn: uid=stranger{n},ou=people,{BASE}\nobjectClass: ENTPerson\nuid: stranger{n}\n\
             cn: Stranger {n}\nsn: Stranger\nENTPersonJointure: OTHER${n}\n{}",
            blank_before("ENTPersonLogin", login)
        ));
    };
    let given_once = |login: &str| {
        let holders = f
            .ldap
            .entries(BASE, &format!("(ENTPersonLogin={login})"), &["1.1"]);
        assert_eq!(holders.len(), 1, "{login} given twice: {holders:?}");
    };
    // the whole read: the login the first sync would give, taken first
    let first = f.planned("ENTPersonLogin")[0].clone();
    stranger(1, &first);
    f.sync(&f.c1, "2025-09-04", &[], 0);
    given_once(&first);
    // the targeted read of a Delta: the login of someone it adds
    let d1 = f.tmp.path().join("d1");
    gen(&d1, "20250905", 2, true);
    let (plan, _) = f.sync(&d1, "2025-09-05", &["--dry-run"], 0);
    let new = values_of(&plan, "ENTPersonLogin");
    assert!(!new.is_empty(), "the Delta adds nobody: {plan}");
    stranger(2, &new[0]);
    let r = f.report(&d1, "2025-09-05", "d1.json");
    assert_eq!(r["perf"]["read_mode"], "targeted", "{}", r["perf"]);
    given_once(&new[0]);
}

#[test]
fn a_jointure_written_with_a_blank_is_this_sources() {
    let f = setup();
    let jointures = f.planned("ENTPersonJointure");
    let (adopted, managed) = (&jointures[0], &jointures[1]);
    // a pupil an older feeder made, its jointure written with a blank
    f.ldap.add(&format!(
        "dn: uid=older,ou=people,{BASE}\nobjectClass: ENTEleve\nuid: older\ncn: Older\n\
         sn: Older\nENTPersonLogin: older.login\n{}",
        blank_before("ENTPersonJointure", adopted)
    ));
    f.sync(&f.c1, "2025-09-04", &[], 0);
    let holders = f
        .ldap
        .entries(BASE, &format!("(ENTPersonJointure={adopted})"), &["1.1"]);
    assert_eq!(
        holders.keys().collect::<Vec<_>>(),
        [&format!("uid=older,ou=people,{BASE}")],
        "not adopted: the person made twice"
    );
    // a managed entry's jointure rewritten with a blank: the same person
    let dn = f
        .ldap
        .entries(BASE, &format!("(ENTPersonJointure={managed})"), &["1.1"])
        .into_keys()
        .next()
        .unwrap();
    f.ldap.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: ENTPersonJointure\n{}",
        blank_before("ENTPersonJointure", managed)
    ));
    // read as this source's, it is written back as the sync spells it
    // (it failed on every Complet: attributeOrValueExists)
    let plan = &f.report(&f.c1, "2025-09-04", "again.json")["steps"][0]["plan"];
    assert_eq!(
        plan["by_kind"],
        serde_json::json!({"Eleve": {"modify": 1}}),
        "{plan}"
    );
    let e = f.ldap.entry(&dn);
    assert_eq!(
        e.get("entpersonjointure"),
        Some(&vec![managed.clone()]),
        "{e:?}"
    );
    let before = csns(&f.ldap);
    let r = f.report(&f.c1, "2025-09-04", "third.json");
    assert_eq!(r["steps"][0]["plan"]["total"], 0);
    assert_eq!(csns(&f.ldap), before, "an entry changed on the server");
}

/// The other side of the rule: slapd ignores spaces at either end, not a
/// tab. An entry whose source or jointure carries one is not this
/// source's for the server's filters, so it is not for the sync either:
/// never adopted, changed or deleted (a comparison ignoring every blank
/// claimed the first, then deleted it).
#[test]
fn an_entry_the_directory_does_not_give_as_ours_stays_someone_elses() {
    let f = setup();
    let jointure = f.planned("ENTPersonJointure")[0].clone();
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    f.ldap.add(&format!(
        "dn: uid=foreign1,ou=people,{BASE}\nobjectClass: ENTPerson\nobjectClass: aafSyncState\n\
         uid: foreign1\ncn: Foreign One\nsn: One\nENTPersonLogin: foreign.one\n\
         ENTPersonJointure: OTHER$1\naafSyncSource:: {}\n",
        b64("AC-CRETEIL\t")
    ));
    f.ldap.add(&format!(
        "dn: uid=foreign2,ou=people,{BASE}\nobjectClass: ENTEleve\nuid: foreign2\n\
         cn: Foreign Two\nsn: Two\nENTPersonLogin: foreign.two\nENTPersonJointure:: {}\n",
        b64(&format!("\t{jointure}"))
    ));
    // the server's own view: neither is this source's
    let ours = f.ldap.entries(
        BASE,
        "(&(objectClass=aafSyncState)(aafSyncSource=AC-CRETEIL))",
        &["1.1"],
    );
    assert!(ours.is_empty(), "{ours:?}");
    let foreign = || {
        f.ldap
            .entries(BASE, "(|(uid=foreign1)(uid=foreign2))", &["*"])
    };
    let before = foreign();
    assert_eq!(before.len(), 2);
    f.sync(&f.c1, "2025-09-04", &[], 0);
    f.sync(&f.c1, "2025-09-04", &[], 0);
    assert_eq!(foreign(), before, "someone else's entries were changed");
    // the person of that jointure has an entry of this source's, its own
    let holders = f
        .ldap
        .entries(BASE, &format!("(ENTPersonJointure={jointure})"), &["1.1"]);
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(
        !holders.contains_key(&format!("uid=foreign2,ou=people,{BASE}")),
        "{holders:?}"
    );
}
