//! Secondary schools (2D), end to end against a real slapd: a generated 2D
//! Complet, the next day's Delta and the next week's Complet (departures)
//! sync with no failed operation and no rejected record, into the
//! project's schema and into a directory running the deployed SDET schema;
//! every pupil has names, classes, groups, formation and guardians, every
//! teacher classes and subjects; a re-run writes nothing; a 1D and a 2D
//! source share one tree without touching each other; a file of the other
//! degree is refused before any write.

mod common;

use aaf_sync::generator::{generate, Degree, GenConfig};
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PEOPLE: &str = "ou=people,dc=example,dc=org";

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A generated 2D extraction in `dir`: its UAIs in the perimeter.
fn gen2d(dir: &Path, date: &str, delta: bool, days: u32) -> Vec<String> {
    generate(
        &GenConfig {
            degree: Degree::Two,
            date: date.into(),
            delta,
            days,
            schools: 3,
            schools_outside: 1,
            pupils_per_school: 50,
            seed: 11,
            prefix: "ENT2D".into(),
            ..Default::default()
        },
        dir,
    )
    .unwrap()
    .uai_inside
}

/// A 2D config for `ldap` (source `AC-CRETEIL-2D`).
fn config_2d(ldap: &Slapd, dir: &Path, uai: &[String]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    // a week of a 150-pupil tree departs 5.4% of the guardians: over the
    // default 5% rail, which a real académie's size keeps far from
    let p = ldap.config(dir, uai, "[safety]\nmax_departures_percent = 10.0\n");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "name = \"AC-CRETEIL\"",
        "name = \"AC-CRETEIL-2D\"\ndegree = \"2d\"",
    );
    std::fs::write(&p, text).unwrap();
    s(&p)
}

/// Runs `sync` and returns its JSON report; checks 0 failed operations and
/// 0 rejected records in every step.
fn sync(config: &str, now: &str, x: &Path, report: &Path) -> Value {
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            config,
            "--now",
            now,
            "--report",
            &s(report),
            &s(x),
        ],
        0,
    );
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    for step in rep["steps"].as_array().unwrap() {
        let failures = step["applied"]["failures"].as_array().unwrap();
        assert!(failures.is_empty(), "{now}: {failures:?}\n{err}");
        let rejected = step["rejected_records"].as_array().unwrap();
        assert!(rejected.is_empty(), "{now}: {rejected:?}\n{err}");
    }
    rep
}

fn has(p: &Attrs, a: &str) -> bool {
    p.get(&a.to_ascii_lowercase())
        .is_some_and(|v| v.iter().any(|x| !x.is_empty()))
}

fn is(p: &Attrs, class: &str) -> bool {
    p["objectclass"]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(class))
}

/// Every pupil whole, every teacher with classes and subjects, the
/// classes listing their teachers, under `people`.
fn check_tree(ldap: &Slapd, when: &str) {
    let people = ldap.entries(PEOPLE, "(ENTPersonJointure=AC-CRETEIL-2D$*)", &["*"]);
    let pupils: Vec<_> = people.iter().filter(|(_, p)| is(p, "ENTEleve")).collect();
    assert!(pupils.len() > 100, "{when}: {} pupils", pupils.len());
    let mut with_guardians = 0;
    for (dn, p) in &pupils {
        for a in [
            "sn",
            "givenName",
            "ENTPersonLogin",
            "ENTEleveClasses",
            "ENTEleveMEF",
            "ENTEleveLibelleMEF",
            "ENTPersonStructRattach",
        ] {
            assert!(has(p, a), "{when}: pupil {dn} has no {a}");
        }
        for c in &p["enteleveclasses"] {
            assert!(
                c.contains(",ou=structures,") && c.contains('$'),
                "{dn}: {c}"
            );
        }
        assert!(!has(p, "ENTEleveBoursier") && !has(p, "mail"), "{dn}");
        if has(p, "ENTElevePersRelEleve") {
            with_guardians += 1;
            for r in &p["enteleveparents"] {
                assert!(ldap.exists_dn(r), "{when}: {dn} → {r}");
            }
            for r in &p["entelevepersreleleve"] {
                let f: Vec<&str> = r.split('$').collect();
                assert_eq!(f.len(), 6, "{r}");
                assert!(f[0].contains(",ou=people,"), "{r}");
                assert!(ldap.exists_dn(f[0]), "{when}: {dn} → {r}");
                assert!(f[2].is_empty() && f[5].is_empty(), "payment flags: {r}");
            }
        }
    }
    // the generator gives every pupil legal guardians and groups
    assert_eq!(
        with_guardians,
        pupils.len(),
        "{when}: {with_guardians} of {} pupils have guardians",
        pupils.len()
    );
    for (dn, p) in &pupils {
        assert!(has(p, "ENTEleveGroupes"), "{when}: pupil {dn} in no group");
        assert!(has(p, "ENTEleveAutoriteParentale"), "{when}: {dn}");
    }
    let teachers: Vec<_> = people
        .iter()
        // those whose function is to teach (a librarian of the teachers'
        // category is National_ENS too, and teaches no class)
        .filter(|(_, p)| {
            p.get("entpersonfonctions")
                .is_some_and(|f| f.iter().any(|v| v.contains("$ENS$")))
        })
        .collect();
    assert!(teachers.len() > 5, "{when}: {} teachers", teachers.len());
    for (dn, t) in &teachers {
        assert!(is(t, "ENTAuxEnseignant"), "{dn}");
        // every teacher teaches a subject to classes or to groups
        let lists = ["ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres"];
        assert!(
            lists.iter().any(|a| has(t, a)),
            "{when}: teacher {dn} teaches nothing"
        );
        for a in lists {
            for v in t.get(&a.to_ascii_lowercase()).into_iter().flatten() {
                let f: Vec<&str> = v.split('$').collect();
                assert!(f.len() == 3 && f[0].contains(",ou=structures,"), "{v}");
                assert!(f[2].len() == 6, "subject code: {v}");
            }
        }
        assert!(!has(t, "ENTPersonAdresse") && !has(t, "mobile"), "{dn}");
    }
    // parents: only with a pupil, mobile allowed
    for (dn, p) in people.iter().filter(|(_, p)| is(p, "ENTAuxPersRelEleve")) {
        for pupil in &p["entauxpersreleleveeleve"] {
            assert!(ldap.exists_dn(pupil), "{dn} → {pupil}");
        }
    }
    // classes list their pupils and their teachers
    let classes = ldap.entries(
        &format!("ou=groups,{BASE}"),
        "(&(objectClass=ENTClasse)(aafSyncSource=AC-CRETEIL-2D))",
        &["member", "description"],
    );
    assert!(!classes.is_empty(), "{when}: no class");
    let teacher_dns: BTreeSet<String> = teachers.iter().map(|(d, _)| d.to_lowercase()).collect();
    let with_teacher = classes
        .values()
        .filter(|c| {
            c["member"]
                .iter()
                .any(|m| teacher_dns.contains(&m.to_lowercase()))
        })
        .count();
    assert!(
        with_teacher * 2 > classes.len(),
        "{when}: {with_teacher}/{}",
        classes.len()
    );
    assert!(
        classes.values().all(|c| has(c, "description")),
        "{when}: a class without its label"
    );
}

/// The week: Complet, Delta, next week's Complet, each re-run writing
/// nothing; departures wait out of ou=people; audit clean.
fn week(ldap: &Slapd, sdet: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let d1 = tmp.path().join("d1");
    let c7 = tmp.path().join("c7");
    let uai = gen2d(&c0, "20250904", false, 0);
    gen2d(&d1, "20250905", true, 1);
    gen2d(&c7, "20250911", false, 7);
    let config = config_2d(ldap, &tmp.path().join("cfg"), &uai);
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    if sdet {
        assert!(
            out.contains("schema: Eleve: MUST ENTEleveMajeur filled"),
            "{out}"
        );
        // a 2D source is not told about the 1D fields it never writes
        assert!(
            !out.contains("ENTEcoleRPI") && !out.contains("ENTPersonClasses"),
            "{out}"
        );
    } else {
        assert!(out.contains("nothing to adapt"), "{out}");
    }
    for (x, now) in [
        (&c0, "2025-09-04"),
        (&d1, "2025-09-05"),
        (&c7, "2025-09-11"),
    ] {
        let rep = sync(&config, now, x, &tmp.path().join(format!("r-{now}.json")));
        let stats = &rep["steps"][0]["mapping"];
        if now == "2025-09-04" {
            // the generator's contacts without legal responsibility
            assert!(
                stats["relations_not_legal"].as_u64().unwrap() > 0,
                "{stats}"
            );
            assert!(
                stats["dropped_attributes"]["ENTEleveBoursier"]
                    .as_u64()
                    .unwrap()
                    > 100
            );
        }
        check_tree(ldap, now);
        let before = csns(ldap);
        let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", now, &s(x)], 0);
        assert_eq!(csns(ldap), before, "{now}: a re-run wrote\n{err}\n{stats}");
    }
    let departed = ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)");
    assert!(departed > 0, "the week's departures are there");
    let (out, _) = aaf_sync_ok(&["audit", "--config", &config, "--now", "2025-09-11"], 0);
    assert!(!out.contains("unauthorised"), "{out}");
}

#[test]
fn a_two_d_week_syncs_into_the_project_schema() {
    week(&Slapd::start(), false);
}

#[test]
fn a_two_d_week_syncs_into_the_deployed_sdet_schema() {
    week(&Slapd::start_sdet(), true);
}

/// The entries of one source: DN → attributes (operational ones aside).
fn of_source(ldap: &Slapd, source: &str) -> BTreeMap<String, Attrs> {
    ldap.entries(BASE, &format!("(aafSyncSource={source})"), &["*"])
}

#[test]
fn a_one_d_and_a_two_d_source_share_one_tree_without_touching_each_other() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    // 2D
    let c2 = tmp.path().join("c2");
    let c2next = tmp.path().join("c2next");
    let uai2 = gen2d(&c2, "20250904", false, 0);
    gen2d(&c2next, "20250911", false, 7);
    let cfg2 = config_2d(&ldap, &tmp.path().join("cfg2"), &uai2);
    // 1D: its own source name, so its RDNs, classes and lock differ
    let c1: PathBuf = tmp.path().join("c1");
    let c1next = tmp.path().join("c1next");
    let g1 = |dir: &Path, date: &str, days: u32| {
        generate(
            &GenConfig {
                date: date.into(),
                days,
                schools: 3,
                pupils_per_school: 50,
                ..Default::default()
            },
            dir,
        )
        .unwrap()
        .uai_inside
    };
    let uai1 = g1(&c1, "20250904", 0);
    g1(&c1next, "20250911", 7);
    std::fs::create_dir_all(tmp.path().join("cfg1")).unwrap();
    let cfg1 = s(&ldap.config(&tmp.path().join("cfg1"), &uai1, ""));
    sync(&cfg1, "2025-09-04", &c1, &tmp.path().join("r1.json"));
    let one_d = of_source(&ldap, "AC-CRETEIL");
    sync(&cfg2, "2025-09-04", &c2, &tmp.path().join("r2.json"));
    assert_eq!(
        of_source(&ldap, "AC-CRETEIL"),
        one_d,
        "the 2D run touched 1D"
    );
    let two_d = of_source(&ldap, "AC-CRETEIL-2D");
    assert!(two_d.len() > 300, "{}", two_d.len());
    // a week later: each source's departures are its own
    sync(&cfg1, "2025-09-11", &c1next, &tmp.path().join("r3.json"));
    assert_eq!(
        of_source(&ldap, "AC-CRETEIL-2D"),
        two_d,
        "the 1D run touched 2D"
    );
    let one_d = of_source(&ldap, "AC-CRETEIL");
    sync(&cfg2, "2025-09-11", &c2next, &tmp.path().join("r4.json"));
    assert_eq!(
        of_source(&ldap, "AC-CRETEIL"),
        one_d,
        "the 2D run touched 1D"
    );
    // logins unique across both sources
    let logins = ldap.entries(BASE, "(ENTPersonLogin=*)", &["ENTPersonLogin"]);
    let mut seen = BTreeSet::new();
    for (dn, p) in &logins {
        for l in &p["entpersonlogin"] {
            assert!(seen.insert(l.to_lowercase()), "{dn}: login {l} twice");
        }
    }
    assert!(seen.len() > 600, "{}", seen.len());
}

#[test]
fn a_file_of_the_other_degree_is_refused_before_any_write() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c2 = tmp.path().join("c2");
    let uai2 = gen2d(&c2, "20250904", false, 0);
    let c1 = tmp.path().join("c1");
    let uai1 = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 2,
            pupils_per_school: 20,
            ..Default::default()
        },
        &c1,
    )
    .unwrap()
    .uai_inside;
    std::fs::create_dir_all(tmp.path().join("cfg1")).unwrap();
    let cfg1 = s(&ldap.config(&tmp.path().join("cfg1"), &uai1, ""));
    let cfg2 = config_2d(&ldap, &tmp.path().join("cfg2"), &uai2);
    let before = csns(&ldap);
    let out = aaf_sync(&["sync", "--config", &cfg1, "--now", "2025-09-04", &s(&c2)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("a 2D (secondary school) extraction") && err.contains("degree"),
        "{err}"
    );
    let out = aaf_sync(&["sync", "--config", &cfg2, "--now", "2025-09-04", &s(&c1)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("a 1D (primary school) extraction"), "{err}");
    assert_eq!(csns(&ldap), before, "nothing written");
    // a bad degree in the config is named
    let bad = std::fs::read_to_string(&cfg2)
        .unwrap()
        .replace("degree = \"2d\"", "degree = \"3d\"");
    std::fs::write(&cfg2, bad).unwrap();
    let out = aaf_sync(&["check", "--config", &cfg2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source.degree") && err.contains("\"3d\""),
        "{err}"
    );
}

/// The rights commands on a 2D tree: a pupil's export lists their
/// guardians and classes; erasing a guardian leaves no value anywhere that
/// names them (the 2D `ENTElevePersRelEleve` included), and the next
/// Complet does not bring them back.
#[test]
fn rights_commands_serve_a_two_d_tree() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let uai = gen2d(&c0, "20250904", false, 0);
    let config = config_2d(&ldap, &tmp.path().join("cfg"), &uai);
    sync(&config, "2025-09-04", &c0, &tmp.path().join("r.json"));
    let pupils = ldap.entries(
        PEOPLE,
        "(&(objectClass=ENTEleve)(ENTElevePersRelEleve=*))",
        &["*"],
    );
    let (pdn, pupil) = pupils.iter().next().expect("a pupil with guardians");
    let (out, _) = aaf_sync_ok(
        &[
            "subject",
            "export",
            "--config",
            &config,
            "--jointure",
            &pupil["entpersonjointure"][0],
        ],
        0,
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["person"]["category"], "Eleve", "{out}");
    assert!(out.contains("ENTElevePersRelEleve"), "{out}");
    assert!(out.contains("ENTEleveClasses"), "{out}");
    let guardian = pupil["enteleveparents"][0].clone();
    let g = ldap.entry(&guardian);
    let (_, err) = aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            &config,
            "--jointure",
            &g["entpersonjointure"][0],
            "--reason",
            "instruction of the académie",
            "--now",
            "2025-09-05",
        ],
        0,
    );
    assert!(!ldap.exists_dn(&guardian), "{err}");
    let key = guardian.to_lowercase();
    for (dn, attr, v) in all_values(&ldap) {
        assert!(
            !v.to_lowercase().contains(&key),
            "{dn} {attr} still names the erased guardian: {v}"
        );
    }
    assert!(ldap.exists_dn(pdn));
    sync(&config, "2025-09-05", &c0, &tmp.path().join("r2.json"));
    assert!(
        !ldap.exists_dn(&guardian),
        "the next Complet brought them back"
    );
    let (out, _) = aaf_sync_ok(&["audit", "--config", &config, "--now", "2025-09-05"], 0);
    assert!(!out.contains("unauthorised"), "{out}");
}

/// A 2D Delta: the académie sends changes of people in relation with a
/// pupil whom the tree does not hold (contacts without legal
/// responsibility): counted, not an error; a pupil moved to another class
/// by a `modifyRequest` leaves the old class entry for the new one.
#[test]
fn a_two_d_delta_moves_a_pupil_and_ignores_relations_the_tree_does_not_hold() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let uai = gen2d(&c0, "20250904", false, 0);
    let config = config_2d(&ldap, &tmp.path().join("cfg"), &uai);
    sync(&config, "2025-09-04", &c0, &tmp.path().join("r0.json"));
    let pupils = ldap.entries(PEOPLE, "(objectClass=ENTEleve)", &["*"]);
    let (pdn, pupil) = pupils.iter().next().unwrap();
    let id = pupil["entpersonjointure"][0]
        .split_once('$')
        .unwrap()
        .1
        .to_string();
    let old = pupil["enteleveclasses"][0].clone();
    let (school_dn, _) = old.split_once('$').unwrap();
    let sid = school_dn
        .split(',')
        .next()
        .unwrap()
        .rsplit_once('-')
        .unwrap()
        .1
        .to_string();
    let d1 = tmp.path().join("d1");
    std::fs::create_dir_all(&d1).unwrap();
    let write = |cat: &str, body: String| {
        std::fs::write(
            d1.join(format!("ENT2D_Delta_20250905_{cat}_0000.xml")),
            file(Some("UTF-8"), &body).replace("degre=\"1D\"", "degre=\"2D\""),
        )
        .unwrap();
    };
    write(
        "Eleve",
        modify_req(
            "Eleve",
            &id,
            &[("ENTEleveClasses", &[&format!("{sid}$4NEW")])],
        ),
    );
    write(
        "PersRelEleve",
        modify_req(
            "PersRelEleve",
            "999999",
            &[("sn", &["X"]), ("mobile", &["0600000000"])],
        ),
    );
    let rep = sync(&config, "2025-09-05", &d1, &tmp.path().join("r1.json"));
    let counts = &rep["steps"][0]["delta"]["categories"];
    assert_eq!(counts["PersRelEleve"]["out_of_perimeter"], 1, "{counts}");
    assert_eq!(rep["outcome"], "ok", "{rep}");
    let now = ldap.entry(pdn);
    assert_eq!(now["enteleveclasses"], [format!("{school_dn}$4NEW")]);
    let class = format!("cn=AC-CRETEIL-2D-{sid}-classe-4NEW,ou=groups,{BASE}");
    let members = ldap.entry(&class)["member"].clone();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].to_lowercase(), pdn.to_lowercase());
    assert_eq!(
        ldap.count(PEOPLE, "(ENTPersonJointure=AC-CRETEIL-2D$999999)"),
        0
    );
}
