//! A school year replayed against a real slapd with `--now`: Complets,
//! Deltas, departures, disables, restores, deletions at the deadline, the
//! September rebuild of classes and retention-only runs, each step checked
//! by reading the directory back.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const S: &str = "100";
const SCHOOL: &str = "ou=AC-CRETEIL-100,ou=structures,dc=example,dc=org";

fn dn(id: &str) -> String {
    format!("uid=AC-CRETEIL-{id},ou=people,dc=example,dc=org")
}

/// Where a disabled person waits for their deadline.
fn gone(id: &str) -> String {
    format!("uid=AC-CRETEIL-{id},ou=departed,dc=example,dc=org")
}

fn class(code: &str) -> String {
    format!("cn=AC-CRETEIL-100-classe-{code},ou=groups,dc=example,dc=org")
}

fn school() -> String {
    req(
        "EtabEducNat",
        S,
        &[
            ("ENTStructureJointure", &[S]),
            ("ENTStructureUAI", &["0920100J"]),
            ("ENTStructureNomCourant", &["ECOLE DES TILLEULS"]),
        ],
    )
}

fn pupil(id: &str, name: &str, class: &str, parents: &[&str]) -> String {
    let classes = format!("{S}$1$1${class}${class}");
    let auth: Vec<String> = parents.iter().map(|p| format!("{p}$10")).collect();
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
    req(
        "Eleve",
        id,
        &[
            ("ENTPersonJointure", &[id]),
            ("ENTPersonNom", &[name]),
            ("ENTPersonPrenom", &["Alex"]),
            ("ENTPersonAutresPrenoms", &["Camille"]),
            ("ENTPersonStructRattach", &[S]),
            ("ENTEleveRestaurantScolaire", &["O"]),
            ("ENTEleveAutoriteParentale", &auth),
            ("ENTPersonClasses", &[&classes]),
        ],
    )
}

fn parent(id: &str, name: &str, pupils: &[&str]) -> String {
    req(
        "PersRelEleve",
        id,
        &[
            ("ENTPersonJointure", &[id]),
            ("ENTPersonNom", &[name]),
            ("ENTPersonPrenom", &["Dominique"]),
            ("ENTPersRelEleveEleve", pupils),
        ],
    )
}

fn teacher(id: &str, name: &str, classes: &[&str]) -> String {
    let classes: Vec<String> = classes.iter().map(|c| format!("{S}$1$1${c}${c}")).collect();
    let classes: Vec<&str> = classes.iter().map(String::as_str).collect();
    req(
        "PersEducNat",
        id,
        &[
            ("ENTPersonJointure", &[id]),
            ("ENTPersonNom", &[name]),
            ("ENTPersonPrenom", &["Claude"]),
            ("ENTPersonStructRattach", &[S]),
            ("ENTPersonFonctions", &["100$ENS$ENSEIGNEMENT$-$-"]),
            ("ENTPersonClasses", &classes),
        ],
    )
}

struct Year {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    config: String,
}

impl Year {
    fn new() -> Year {
        let ldap = Slapd::start();
        let tmp = tempfile::tempdir().unwrap();
        let config = ldap
            .config(tmp.path(), &["0920100J".into()], "")
            .display()
            .to_string();
        Year { ldap, tmp, config }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn complet(
        &self,
        date: &str,
        pupils: &[String],
        parents: &[String],
        staff: &[String],
    ) -> PathBuf {
        let d = self.dir(&format!("complet-{date}"));
        write_extraction_files(
            &d,
            "Complet",
            date,
            &[
                ("EtabEducNat", school()),
                ("Eleve", pupils.concat()),
                ("PersRelEleve", parents.concat()),
                ("PersEducNat", staff.concat()),
            ],
        );
        d
    }

    fn delta(&self, date: &str, bodies: &[(&str, String)]) -> PathBuf {
        let d = self.dir(&format!("delta-{date}"));
        write_extraction_files(&d, "Delta", date, bodies);
        d
    }

    /// Runs `sync` with `--now` and a report; returns the report and stderr.
    fn sync(
        &self,
        now: &str,
        paths: &[&Path],
        extra: &[&str],
        code: i32,
    ) -> (serde_json::Value, String) {
        let report = self.dir(&format!("report-{now}-{}.json", paths.len()));
        let mut args = vec![
            "sync",
            "--config",
            &self.config,
            "--now",
            now,
            "--report",
            report.to_str().unwrap(),
        ];
        args.extend(extra);
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let (_, err) = aaf_sync_ok(&args, code);
        let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (r, err)
    }

    fn retention(&self, now: &str) -> serde_json::Value {
        let report = self.dir(&format!("retention-{now}.json"));
        aaf_sync_ok(
            &[
                "retention",
                "--config",
                &self.config,
                "--now",
                now,
                "--report",
                report.to_str().unwrap(),
            ],
            0,
        );
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
    }

    fn exists(&self, dn: &str) -> bool {
        !self
            .ldap
            .search(dn, "base", "(objectClass=*)", &["1.1"])
            .trim()
            .is_empty()
    }

    fn members(&self, class_code: &str) -> Vec<String> {
        let mut m: Vec<String> = self
            .ldap
            .entry(&class(class_code))
            .get("member")
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.to_lowercase())
            .collect();
        m.sort();
        m
    }

    fn set_password(&self, id: &str, pw: &str) {
        self.ldap.modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}\n-\n",
            dn(id)
        ));
    }
}

fn first(a: &Attrs, name: &str) -> Option<String> {
    a.get(&name.to_lowercase()).map(|v| v[0].clone())
}

fn lower(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|i| dn(i).to_lowercase()).collect();
    v.sort();
    v
}

fn ids(r: &serde_json::Value, step: usize, what: &str, cat: &str) -> serde_json::Value {
    r["steps"][step]["lifecycle"][what][cat].clone()
}

#[test]
fn a_school_year() {
    let y = Year::new();
    // September 2025: P1 (CM2A), P2 P3 P4 (CM1A); parents 2001 (of P1),
    // 2002 (of P2 and P3), 2004 (of P4); teachers 3001 (both classes), 3002.
    let p1 = pupil("1001", "UN", "CM2A", &["2001"]);
    let p2 = pupil("1002", "DEUX", "CM1A", &["2002"]);
    let p3 = pupil("1003", "TROIS", "CM1A", &["2002"]);
    let p4 = pupil("1004", "QUATRE", "CM1A", &["2004"]);
    let parents = [
        parent("2001", "PARENT-UN", &["1001"]),
        parent("2002", "PARENT-DEUX", &["1002", "1003"]),
        parent("2004", "PARENT-QUATRE", &["1004"]),
    ];
    let t1 = teacher("3001", "MAITRE", &["CM1A", "CM2A"]);
    let t2 = teacher("3002", "PARTANT", &[]);
    let c1 = y.complet(
        "20250904",
        &[p1.clone(), p2.clone(), p3.clone(), p4.clone()],
        &parents,
        &[t1.clone(), t2.clone()],
    );
    let (r, _) = y.sync("2025-09-04", &[&c1], &[], 0);
    assert_eq!(r["steps"][0]["plan"]["by_kind"]["Eleve"]["add"], 4);
    assert_eq!(y.members("CM1A"), lower(&["1002", "1003", "1004", "3001"]));
    let control = y.ldap.entry("cn=aaf-sync-AC-CRETEIL,dc=example,dc=org");
    assert_eq!(
        first(&control, "aafSyncAppliedExtraction").unwrap(),
        "ENT1D_Complet_20250904"
    );
    assert_eq!(first(&control, "aafSyncSchoolYear").unwrap(), "2025");
    for id in ["1001", "1002", "1004", "2001"] {
        y.set_password(id, &format!("pw-{id}"));
        assert!(y.ldap.can_bind(&dn(id), &format!("pw-{id}")));
    }
    let login2 = first(&y.ldap.entry(&dn("1002")), "ENTPersonLogin").unwrap();

    // 5 September, Delta: P3 renamed and other first names cleared (a lone
    // empty value), P1 re-sent whole with a change; nobody else is touched
    let before = csns(&y.ldap);
    let d1 = y.delta(
        "20250905",
        &[(
            "Eleve",
            modify_req(
                "Eleve",
                "1003",
                &[
                    ("ENTPersonNom", &["TROIS-BIS"]),
                    ("ENTPersonAutresPrenoms", &[]),
                ],
            ) + &p1.replace("<value>O</value>", "<value>N</value>"),
        )],
    );
    let (r, _) = y.sync("2025-09-05", &[&d1], &[], 0);
    assert_eq!(r["steps"][0]["delta"]["categories"]["Eleve"]["modify"], 1);
    let e3 = y.ldap.entry(&dn("1003"));
    assert_eq!(first(&e3, "sn").unwrap(), "TROIS-BIS");
    assert_eq!(first(&e3, "cn").unwrap(), "Alex TROIS-BIS");
    assert!(!e3.contains_key("entpersonautresprenoms"));
    assert_eq!(first(&e3, "ENTPersonLogin").unwrap(), "alex.trois");
    assert_eq!(
        first(&y.ldap.entry(&dn("1001")), "ENTEleveRestaurantScolaire").unwrap(),
        "N"
    );
    let after = csns(&y.ldap);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    let mut want = lower(&["1001", "1003"]);
    want.push("cn=aaf-sync-ac-creteil,dc=example,dc=org".into());
    want.sort();
    let mut changed: Vec<String> = changed.into_iter().cloned().collect();
    changed.sort();
    assert_eq!(changed, want, "a Delta touches only whom it names");
    // the same Delta again writes nothing
    let before = csns(&y.ldap);
    y.sync("2025-09-05", &[&d1], &[], 0);
    assert_eq!(csns(&y.ldap), before);

    // 8 January, Complet without teacher 3002: staff are deleted at departure
    let c2 = y.complet(
        "20260108",
        &[
            p1.replace("<value>O</value>", "<value>N</value>"),
            p2.clone(),
            pupil("1003", "TROIS-BIS", "CM1A", &["2002"])
                .replace("<value>Camille</value>", "<value/>"),
            p4.clone(),
        ],
        &parents,
        std::slice::from_ref(&t1),
    );
    let (r, _) = y.sync("2026-01-08", &[&c2], &[], 0);
    assert_eq!(
        ids(&r, 0, "departed", "PersEducNat"),
        serde_json::json!(["3002"])
    );
    assert_eq!(
        ids(&r, 0, "deleted", "PersEducNat"),
        serde_json::json!(["3002"])
    );
    assert!(!y.exists(&dn("3002")));
    assert_eq!(
        r["steps"][0]["plan"]["total"], 2,
        "3002 and the control entry"
    );

    // an extraction older than the last applied is refused, unless --force
    let (_, err) = y.sync("2026-01-09", &[&d1], &[], 2);
    assert!(
        err.contains("older than the last extraction applied"),
        "{err}"
    );
    let before = csns(&y.ldap);
    y.sync("2026-01-09", &[&d1], &["--force"], 0);
    assert_eq!(csns(&y.ldap), before, "forced, but nothing differs");

    // 10 March, Delta: P4 named by a deleteRequest, and a modify of an id
    // the directory does not hold (rejected, exit 1)
    let d2 = y.delta(
        "20260310",
        &[(
            "Eleve",
            delete_req("Eleve", "1004") + &modify_req("Eleve", "1999", &[("ENTPersonNom", &["X"])]),
        )],
    );
    let (r, err) = y.sync("2026-03-10", &[&d2], &[], 1);
    assert!(err.contains("id 1999"), "{err}");
    assert_eq!(ids(&r, 0, "departed", "Eleve"), serde_json::json!(["1004"]));
    assert_eq!(
        ids(&r, 0, "departed", "PersRelEleve"),
        serde_json::json!(["2004"])
    );
    assert!(!y.exists(&dn("1004")), "out of the people branch");
    let e4 = y.ldap.entry(&gone("1004"));
    assert_eq!(
        first(&e4, "aafSyncDepartureDate").unwrap(),
        "20260310000000Z"
    );
    assert_eq!(first(&e4, "aafSyncDeadline").unwrap(), "20260608000000Z");
    assert_eq!(first(&e4, "aafSyncLastSeen").unwrap(), "20260108000000Z");
    assert_eq!(first(&e4, "aafSyncDisabled").unwrap(), "TRUE");
    assert!(!e4.contains_key("userpassword"));
    assert!(
        !y.ldap.can_bind(&gone("1004"), "pw-1004"),
        "disabled: no bind"
    );
    assert_eq!(
        first(&y.ldap.entry(&gone("2004")), "aafSyncDeadline").unwrap(),
        "20260608000000Z",
        "the parent has the deadline of their last pupil"
    );
    assert_eq!(y.members("CM1A"), lower(&["1002", "1003", "3001"]));

    // retention-only runs: nothing before the deadline, deletion on it
    let r = y.retention("2026-06-07");
    assert!(r["steps"][0]["lifecycle"]["deleted"]
        .as_object()
        .unwrap()
        .is_empty());
    assert!(y.exists(&gone("1004")));
    let r = y.retention("2026-06-08");
    assert_eq!(ids(&r, 0, "deleted", "Eleve"), serde_json::json!(["1004"]));
    assert_eq!(
        ids(&r, 0, "deleted", "PersRelEleve"),
        serde_json::json!(["2004"])
    );
    assert!(!y.exists(&gone("1004")) && !y.exists(&gone("2004")));

    // 30 June, last Complet of the year: P1 and P2 leave; parent 2001 (only
    // child P1) departs with P1's deadline; 2002 stays (P3)
    let c3 = y.complet(
        "20260630",
        &[pupil("1003", "TROIS-BIS", "CM1A", &["2002"])],
        &[parent("2002", "PARENT-DEUX", &["1003"])],
        std::slice::from_ref(&t1),
    );
    let (r, _) = y.sync("2026-06-30", &[&c3], &[], 0);
    assert_eq!(
        ids(&r, 0, "disabled", "Eleve"),
        serde_json::json!(["1001", "1002"])
    );
    assert_eq!(
        ids(&r, 0, "departed", "PersRelEleve"),
        serde_json::json!(["2001"])
    );
    for id in ["1001", "1002", "2001"] {
        let e = y.ldap.entry(&gone(id));
        assert_eq!(
            first(&e, "aafSyncDeadline").unwrap(),
            "20260928000000Z",
            "{id}"
        );
        assert!(
            !y.ldap.can_bind(&gone(id), &format!("pw-{id}")),
            "{id} disabled"
        );
    }
    assert!(!y.exists(&class("CM2A")) || y.members("CM2A") == lower(&["3001"]));
    assert_eq!(y.members("CM1A"), lower(&["1003", "3001"]));
    let saved = y.ldap.entry(&gone("1002"));
    assert!(saved.contains_key("aafsyncsavedpassword"));

    // 3 September, first Complet of 2026-2027: P2 comes back (restored:
    // same entry, login and password), P3 moves up; CM1A is gone, CM2A
    // rebuilt; P1, still departed, loses last year's class list
    let c4 = y.complet(
        "20260903",
        &[
            pupil("1002", "DEUX", "CM2A", &["2002"]),
            pupil("1003", "TROIS-BIS", "CM2A", &["2002"]),
        ],
        &[parent("2002", "PARENT-DEUX", &["1002", "1003"])],
        &[teacher("3001", "MAITRE", &["CM2A"])],
    );
    let (r, err) = y.sync("2026-09-03", &[&c4], &[], 0);
    assert_eq!(r["steps"][0]["school_year_rebuild"], 2026, "{err}");
    assert!(err.contains("school year 2026-2027"), "{err}");
    assert_eq!(ids(&r, 0, "restored", "Eleve"), serde_json::json!(["1002"]));
    let e2 = y.ldap.entry(&dn("1002"));
    assert_eq!(first(&e2, "ENTPersonLogin").unwrap(), login2);
    for a in [
        "aafsyncdeparturedate",
        "aafsyncdeadline",
        "aafsyncdisabled",
        "aafsynclastseen",
        "aafsyncsavedpassword",
    ] {
        assert!(!e2.contains_key(a), "{a} left after the restore");
    }
    assert!(
        y.ldap.can_bind(&dn("1002"), "pw-1002"),
        "password back, unchanged"
    );
    assert!(!y.exists(&class("CM1A")), "last year's class is gone");
    assert_eq!(y.members("CM2A"), lower(&["1002", "1003", "3001"]));
    assert!(!y.exists(&gone("1002")), "back in the people branch");
    let e1 = y.ldap.entry(&gone("1001"));
    assert!(!e1.contains_key("entpersonclasses"));
    assert_eq!(first(&e1, "aafSyncDisabled").unwrap(), "TRUE");
    let control = y.ldap.entry("cn=aaf-sync-AC-CRETEIL,dc=example,dc=org");
    assert_eq!(first(&control, "aafSyncSchoolYear").unwrap(), "2026");
    // a repeated sync writes nothing
    let before = csns(&y.ldap);
    let (r, _) = y.sync("2026-09-03", &[&c4], &[], 0);
    assert_eq!(r["steps"][0]["plan"]["total"], 0);
    assert_eq!(csns(&y.ldap), before);

    // 28 September: deadline of P1 and parent 2001, retention-only
    let r = y.retention("2026-09-28");
    assert_eq!(ids(&r, 0, "deleted", "Eleve"), serde_json::json!(["1001"]));
    assert_eq!(
        ids(&r, 0, "deleted", "PersRelEleve"),
        serde_json::json!(["2001"])
    );
    assert!(!y.exists(&gone("1001")) && !y.exists(&gone("2001")));
    assert!(y.exists(SCHOOL));

    // 1 and 2 October, two Deltas in one run, applied in date order: P5
    // arrives with parent 2002, then is renamed
    let d3 = y.delta(
        "20261001",
        &[("Eleve", pupil("1005", "CINQ", "CM2A", &["2002"]))],
    );
    let d4 = y.delta(
        "20261002",
        &[(
            "Eleve",
            modify_req("Eleve", "1005", &[("ENTPersonNom", &["CINQ-BIS"])]),
        )],
    );
    let (r, _) = y.sync("2026-10-02", &[&d4, &d3], &[], 0);
    assert_eq!(r["steps"][0]["extraction"]["label"], "ENT1D_Delta_20261001");
    assert_eq!(r["steps"][1]["extraction"]["label"], "ENT1D_Delta_20261002");
    assert_eq!(first(&y.ldap.entry(&dn("1005")), "sn").unwrap(), "CINQ-BIS");
    assert_eq!(y.members("CM2A"), lower(&["1002", "1003", "1005", "3001"]));
    let mut links = y.ldap.entry(&dn("2002"))["entauxpersreleleveeleve"].clone();
    links.iter_mut().for_each(|l| *l = l.to_lowercase());
    links.sort();
    assert_eq!(links, lower(&["1002", "1003", "1005"]));
}
