//! Real deployments (issue 19), against a real slapd: a departed person is
//! invisible to the login lookups real CAS servers run against SDET
//! directories, and comes back to the same DN, login and password; an
//! existing tree shaped like ESCO's is adopted by jointure without losing a
//! DN, a login or a password; what an ENT reads (displayName, the directed
//! school as a DN); a clean audit on a tree the sync wrote; 2D refused.

mod common;

use common::*;
use std::path::Path;

const PEOPLE: &str = "ou=people,dc=example,dc=org";
const NOW: &str = "2025-09-04";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn school(sid: &str, uai: &str) -> String {
    req(
        "EtabEducNat",
        sid,
        &[
            ("ENTStructureJointure", &[sid]),
            ("ENTStructureUAI", &[uai]),
            ("ENTStructureNomCourant", &[&format!("ECOLE {sid}")]),
        ],
    )
}

fn pupil(id: &str, name: &str, sid: &str, class: &str, parents: &[&str]) -> String {
    let auth: Vec<String> = parents.iter().map(|p| format!("{p}$10")).collect();
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
    let classes = format!("{sid}$1$1${class}${class}");
    req(
        "Eleve",
        id,
        &[
            ("ENTPersonJointure", &[id]),
            ("ENTPersonNom", &[name]),
            ("ENTPersonPrenom", &["Zoé"]),
            ("ENTPersonStructRattach", &[sid]),
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
            ("ENTPersonPrenom", &["Hélène"]),
            ("ENTPersRelEleveEleve", pupils),
            ("ENTPersonMail", &[&format!("p{id}@example.invalid")]),
        ],
    )
}

fn director(id: &str, sid: &str) -> String {
    req(
        "PersEducNat",
        id,
        &[
            ("ENTPersonJointure", &[id]),
            ("ENTPersonNom", &["DIRECTRICE"]),
            ("ENTPersonPrenom", &["Ève"]),
            ("ENTPersonStructRattach", &[sid]),
            ("ENTPersonFonctions", &[&format!("{sid}$DIR$DIRECTION$-$-")]),
            ("ENTEnsFonctionDir", &[sid]),
        ],
    )
}

/// Two schools, three pupils (1003 leaves when `with_1003` is false), their
/// parents and a director.
fn complet(dir: &Path, date: &str, with_1003: bool) {
    let mut pupils = pupil("1001", "UN", "100", "CPA", &["2001"])
        + &pupil("1002", "DEUX", "200", "CEA", &["2002"]);
    let mut parents =
        parent("2001", "PARENT-UN", &["1001"]) + &parent("2002", "PARENT-DEUX", &["1002"]);
    if with_1003 {
        pupils += &pupil("1003", "TROIS", "100", "CPA", &["2003"]);
        parents += &parent("2003", "PARENT-TROIS", &["1003"]);
    }
    write_extraction_files(
        dir,
        "Complet",
        date,
        &[
            (
                "EtabEducNat",
                school("100", "0920100J") + &school("200", "0921262X"),
            ),
            ("Eleve", pupils),
            ("PersRelEleve", parents),
            ("PersEducNat", director("3001", "100")),
        ],
    );
}

fn uais() -> Vec<String> {
    vec!["0920100J".into(), "0921262X".into()]
}

fn set_password(l: &Slapd, dn: &str, pw: &str) {
    l.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}\n"
    ));
}

/// The lookups of real CAS configurations for SDET directories (base
/// `ou=people`): how many entries each finds for `user`.
fn lookups(l: &Slapd, user: &str) -> Vec<usize> {
    [
        format!("(|(ENTPersonLogin={user})(ENTPersonAlias={user}))"),
        format!("(&(objectclass=ENTPerson)(ENTPersonLogin={user}))"),
        format!("(uid={user})"),
        format!("(mail={user})"),
    ]
    .iter()
    .map(|f| l.count(PEOPLE, f))
    .collect()
}

fn first(a: &Attrs, name: &str) -> String {
    a.get(&name.to_lowercase())
        .and_then(|v| v.first().cloned())
        .unwrap_or_default()
}

/// A Delta of 2025-09-05 renaming pupil 1001 (`sn` = RENOMME): it must
/// find them where they are.
fn rename_1001_by_delta(tmp: &std::path::Path, config: &str) {
    let d = tmp.join("d");
    write_extraction_files(
        &d,
        "Delta",
        "20250905",
        &[(
            "Eleve",
            modify_req("Eleve", "1001", &[("ENTPersonNom", &["RENOMME"])]),
        )],
    );
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", config, "--now", "2025-09-05", &s(&d)],
        0,
    );
    assert!(err.contains("changes planned: 2"), "{err}");
}

#[test]
fn a_departed_person_is_invisible_to_the_login_lookups_and_comes_back_whole() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    let pupil_dn = person_dn("1003");
    let parent_dn = person_dn("2003");
    let e = ldap.entry(&pupil_dn);
    let login = first(&e, "ENTPersonLogin");
    let uid = first(&e, "uid");
    let parent_login = first(&ldap.entry(&parent_dn), "ENTPersonLogin");
    set_password(&ldap, &pupil_dn, "pupil-pw");
    set_password(&ldap, &parent_dn, "parent-pw");
    // active: every lookup finds them (the parent by mail too)
    assert_eq!(lookups(&ldap, &login), [1, 1, 0, 0]);
    assert_eq!(lookups(&ldap, &uid), [0, 0, 1, 0]);
    assert_eq!(lookups(&ldap, "p2003@example.invalid"), [0, 0, 0, 1]);
    assert!(ldap.can_bind(&pupil_dn, "pupil-pw"));

    // the pupil leaves, and their parent with them
    let c2 = tmp.path().join("c2");
    complet(&c2, "20250911", false);
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c2)],
        0,
    );
    for user in [
        &login,
        &uid,
        &parent_login,
        &"p2003@example.invalid".to_string(),
    ] {
        assert_eq!(lookups(&ldap, user), [0, 0, 0, 0], "{user}: {err}");
    }
    let gone = pupil_dn.replace("ou=people", "ou=departed");
    assert!(!ldap.can_bind(&gone, "pupil-pw"), "no bind either");
    assert_eq!(first(&ldap.entry(&gone), "aafSyncDisabled"), "TRUE");
    // the audit finds nothing wrong in a tree the sync wrote, disabled
    // people (and their saved password) included
    let (out, _) = aaf_sync_ok(&["audit", "--config", &config, "--now", "2025-09-11"], 0);
    assert!(out.contains("no finding"), "{out}");

    // back the next week: the same DN, login and password
    let c3 = tmp.path().join("c3");
    complet(&c3, "20250918", true);
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-18", &s(&c3)],
        0,
    );
    assert!(err.contains("back from the departed branch: 2"), "{err}");
    let e = ldap.entry(&pupil_dn);
    assert_eq!(first(&e, "ENTPersonLogin"), login);
    assert!(!e.contains_key("aafsyncdisabled"));
    assert!(ldap.can_bind(&pupil_dn, "pupil-pw"));
    assert!(ldap.can_bind(&parent_dn, "parent-pw"));
    assert_eq!(lookups(&ldap, &login), [1, 1, 0, 0]);
    let classes = ldap.entries(
        &format!("ou=groups,{BASE}"),
        "(objectClass=ENTClasse)",
        &["member"],
    );
    assert!(classes.values().any(|c| c["member"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&pupil_dn))));
    let before = csns(&ldap);
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-18", &s(&c3)],
        0,
    );
    assert_eq!(csns(&ldap), before, "a re-run writes nothing");
    let (out, _) = aaf_sync_ok(&["audit", "--config", &config, "--now", "2025-09-18"], 0);
    assert!(out.contains("no finding"), "{out}");
}

#[test]
fn an_ent_that_filters_itself_can_keep_departed_people_in_place() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(
        tmp.path(),
        &uais(),
        "[retention]\ndeparted_branch = false\n",
    ));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    set_password(&ldap, &person_dn("1003"), "pupil-pw");
    let c2 = tmp.path().join("c2");
    complet(&c2, "20250911", false);
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c2)],
        0,
    );
    let e = ldap.entry(&person_dn("1003"));
    assert_eq!(first(&e, "aafSyncDisabled"), "TRUE");
    assert!(!ldap.can_bind(&person_dn("1003"), "pupil-pw"));
    assert_eq!(
        ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)"),
        0
    );
}

#[test]
fn what_an_ent_reads_display_name_and_the_directed_school_as_a_dn() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    let people = ldap.entries(PEOPLE, "(objectClass=ENTPerson)", &["displayName", "cn"]);
    assert_eq!(people.len(), 7);
    for (dn, a) in &people {
        assert_eq!(a.get("displayname"), a.get("cn"), "{dn}");
    }
    assert_eq!(
        first(&ldap.entry(&person_dn("1001")), "displayName"),
        "Zoé UN"
    );
    let d = ldap.entry(&person_dn("3001"));
    assert_eq!(
        first(&d, "ENTEnsFonctionDir").to_lowercase(),
        format!("ou=ac-creteil-100,ou=structures,{BASE}")
    );
    assert!(d["entpersonprofils"].contains(&"National_DIR".to_string()));
}

#[test]
fn two_d_extractions_are_refused_by_header_or_by_field_names() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let before = csns(&ldap);
    // the header says so
    let x = tmp.path().join("x");
    complet(&x, "20250904", true);
    for e in std::fs::read_dir(&x).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("degre=\"1D\"", "degre=\"2D\"");
        std::fs::write(&p, t).unwrap();
    }
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&x)], 2);
    assert!(
        err.contains("a 2D (secondary school) extraction — its header says degre=\"2D\""),
        "{err}"
    );
    // no header: the 2D field names tell
    let y = tmp.path().join("y");
    complet(&y, "20250904", true);
    for e in std::fs::read_dir(&y).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("<!-- degre=\"1D\" -->\n", "")
            .replace("name=\"ENTPersonNom\"", "name=\"sn\"")
            .replace("name=\"ENTPersonPrenom\"", "name=\"givenName\"");
        std::fs::write(&p, t).unwrap();
    }
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&y)], 2);
    assert!(
        err.contains("its records carry attributes of the 2D format (sn, givenName)"),
        "{err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(csns(&ldap), before);
}

/// An existing tree shaped like ESCO's (`../shared/reference/sdet-esco-schema/
/// 21-structures.ldif`): schools under `ENTStructureSIREN=…`, people with
/// opaque `uid`s, logins and passwords of their own, created by another
/// feeder with the same source in their jointures.
fn esco_tree(l: &Slapd) {
    let mut ldif = String::new();
    for (sid, siren, uai) in [
        ("100", "19290009000015", "0920100J"),
        ("200", "19291595700018", "0921262X"),
    ] {
        ldif += &format!(
            "dn: ENTStructureSIREN={siren},ou=structures,{BASE}\nchangetype: add\nobjectClass: organizationalUnit\n\
             objectClass: ENTStructure\nobjectClass: ENTEtablissement\nou: OLD NAME {sid}\nENTStructureSIREN: {siren}\n\
             ENTStructureJointure: AC-CRETEIL${sid}\nENTStructureUAI: {uai}\nENTStructureNomCourant: OLD NAME {sid}\n\n"
        );
    }
    let people = [
        ("F17aa001", "1001", "ENTEleve", "zoe.un.old"),
        ("F17aa002", "1002", "ENTEleve", "zoe.deux.old"),
        (
            "F17aa201",
            "2001",
            "ENTAuxPersRelEleve",
            "helene.parent.old",
        ),
        ("F17aa301", "3001", "top", "eve.directrice.old"),
        // of the source, but not in the extraction: left alone
        ("F17aa999", "9999", "ENTEleve", "not.in.extraction"),
    ];
    for (uid, id, class, login) in people {
        ldif += &format!(
            "dn: uid={uid},ou=people,{BASE}\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
             objectClass: {class}\nuid: {uid}\nsn: OLD\ncn: OLD\nENTPersonJointure: AC-CRETEIL${id}\n\
             ENTPersonJointure: ENT${uid}\nENTPersonLogin: {login}\nuserPassword: pw-{uid}\ndescription: ent-preference\n\n"
        );
    }
    // the people branch exists already (the harness made it)
    l.modify(&format!(
        "dn: ou=structures,{BASE}\nchangetype: add\nobjectClass: organizationalUnit\nou: structures\n\n{ldif}"
    ));
}

#[test]
fn an_existing_tree_is_adopted_by_jointure_without_losing_a_login_or_a_password() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    esco_tree(&ldap);
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    // the dry run says what a sync would adopt, create and leave alone
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            NOW,
            "--dry-run",
            &s(&c1),
        ],
        0,
    );
    assert!(
        err.contains("adopted, existing entries of the source matched by jointure: Eleve 2, EtabEducNat 2, PersEducNat 1, PersRelEleve 1"),
        "{err}"
    );
    assert!(
        err.contains("not managed and not in the extraction, left alone: 1"),
        "{err}"
    );
    let alone = format!("uid=F17aa999,ou=people,{BASE}");
    let alone_before = ldap.entry(&alone);
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    assert!(err.contains("Eleve 2"), "{err}");
    // adopted where they are: DN, login, password and foreign data kept
    for (uid, login) in [
        ("F17aa001", "zoe.un.old"),
        ("F17aa201", "helene.parent.old"),
        ("F17aa301", "eve.directrice.old"),
    ] {
        let dn = format!("uid={uid},ou=people,{BASE}");
        let e = ldap.entry(&dn);
        assert_eq!(first(&e, "ENTPersonLogin"), login, "{dn}");
        assert_eq!(first(&e, "description"), "ent-preference", "{dn}");
        assert!(
            e["objectclass"].iter().any(|c| c == "aafSyncState"),
            "{dn} marked managed"
        );
        assert!(ldap.can_bind(&dn, &format!("pw-{uid}")), "{dn}");
        assert_ne!(first(&e, "sn"), "OLD", "{dn}: the extraction's data now");
        assert_eq!(
            e["entpersonjointure"].len(),
            2,
            "{dn}: the other source's jointure kept"
        );
    }
    // no duplicate was created for an adopted person
    assert!(!ldap.exists_dn(&person_dn("1001")));
    // links point to the adopted DNs
    let p = ldap.entry(&format!("uid=F17aa001,ou=people,{BASE}"));
    assert_eq!(
        first(&p, "ENTPersonStructRattach").to_lowercase(),
        format!("entstructuresiren=19290009000015,ou=structures,{BASE}")
    );
    assert_eq!(
        first(&p, "ENTEleveParents").to_lowercase(),
        format!("uid=f17aa201,ou=people,{BASE}")
    );
    let parent = ldap.entry(&format!("uid=F17aa201,ou=people,{BASE}"));
    assert_eq!(
        first(&parent, "ENTAuxPersRelEleveEleve").to_lowercase(),
        format!("uid=f17aa001,ou=people,{BASE}")
    );
    let classes = ldap.entries(
        &format!("ou=groups,{BASE}"),
        "(objectClass=ENTClasse)",
        &["member"],
    );
    assert!(classes.values().any(|c| c["member"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&format!("uid=F17aa001,ou=people,{BASE}")))));
    // a new pupil gets the layout's DN
    assert!(ldap.exists_dn(&person_dn("1003")));
    // the one the extraction does not carry is untouched
    assert_eq!(ldap.entry(&alone), alone_before);
    // a re-run writes nothing
    let before = csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    assert_eq!(csns(&ldap), before);

    // and a Delta renames an adopted pupil in place
    rename_1001_by_delta(tmp.path(), &config);
    let p = ldap.entry(&format!("uid=F17aa001,ou=people,{BASE}"));
    assert_eq!(first(&p, "sn"), "RENOMME");
    assert_eq!(
        first(&p, "ENTEleveParents").to_lowercase(),
        format!("uid=f17aa201,ou=people,{BASE}")
    );
}

/// The ESCO schema files + `20-aaf-sync.schema` only: a generated 1D
/// Complet, a Delta and the Complet of a week later (departures) end with
/// no failed operation; every person has a login, names, displayName, a
/// school link and classes; every re-run writes nothing; `check` says what
/// is carried, dropped and filled.
#[test]
fn a_directory_running_the_deployed_sdet_schema_is_written_without_a_failure() {
    use aaf_sync::generator::{generate, GenConfig};
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let gen = |name: &str, date: &str, delta: bool, days: u32| {
        let dir = tmp.path().join(name);
        let g = generate(
            &GenConfig {
                date: date.into(),
                delta,
                days,
                schools: 3,
                pupils_per_school: 60,
                ..Default::default()
            },
            &dir,
        )
        .unwrap();
        (dir, g.uai_inside)
    };
    let (c0, uai) = gen("c0", "20250904", false, 0);
    let (d1, _) = gen("d1", "20250905", true, 1);
    let (c7, _) = gen("c7", "20250911", false, 7);
    let config = s(&ldap.config(tmp.path(), &uai, ""));
    let (out, _) = aaf_sync_ok(&["check", "--config", &config], 0);
    for line in [
        "schema: Eleve: carried ENTPersonClasses → ENTEleveClasses",
        "schema: EtabEducNat: the directory's schema has no ENTEcoleRPI (or does not allow it): not written",
        "schema: Eleve: MUST ENTEleveMajeur filled: O or N from the birth date at the run date",
        "schema: Eleve: ENTPersonStructRattach is single-valued in the directory: the record's first value is written",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    for (x, now) in [
        (&c0, "2025-09-04"),
        (&d1, "2025-09-05"),
        (&c7, "2025-09-11"),
    ] {
        let r = tmp.path().join(format!("r-{now}.json"));
        let (_, err) = aaf_sync_ok(
            &[
                "sync",
                "--config",
                &config,
                "--now",
                now,
                "--report",
                &s(&r),
                &s(x),
            ],
            0,
        );
        let rep: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
        let a = &rep["steps"][0]["applied"];
        assert_eq!(a["failures"].as_array().unwrap().len(), 0, "{now}: {err}");
        assert!(
            rep["steps"][0]["rejected_records"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{now}: {err}"
        );
        // every person present, whole
        let people = ldap.entries(PEOPLE, "(objectClass=ENTPerson)", &["*"]);
        assert!(people.len() > 300, "{}", people.len());
        for (dn, p) in &people {
            for attr in [
                "entpersonlogin",
                "sn",
                "cn",
                "displayname",
                "entpersonjointure",
            ] {
                assert!(p.contains_key(attr), "{now}: {dn} has no {attr}");
            }
            let staff_or_pupil = p["objectclass"].iter().any(|c| c == "ENTEleve")
                || p.contains_key("entpersonfonctions");
            if staff_or_pupil {
                assert!(p.contains_key("entpersonstructrattach"), "{now}: {dn}");
            }
            if p["objectclass"].iter().any(|c| c == "ENTEleve") {
                let classes = &p["enteleveclasses"];
                assert!(
                    classes
                        .iter()
                        .all(|c| c.contains("ou=structures") && c.contains('$')),
                    "{dn}: {classes:?}"
                );
            }
        }
        // a re-run writes nothing
        let before = csns(&ldap);
        let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", now, &s(x)], 0);
        assert_eq!(csns(&ldap), before, "{now}: {err}");
    }
    let departed = ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)");
    assert!(departed > 0, "the week's departures are there");
    // the ENT's login lookups find the active, never the departed
    let gone = ldap.entries(
        &format!("ou=departed,{BASE}"),
        "(objectClass=ENTPerson)",
        &["ENTPersonLogin", "uid"],
    );
    for (dn, p) in gone.iter().take(5) {
        let login = &p["entpersonlogin"][0];
        for filter in [
            format!("(|(ENTPersonLogin={login})(ENTPersonAlias={login}))"),
            format!("(&(objectclass=ENTPerson)(ENTPersonLogin={login}))"),
            format!("(uid={})", p["uid"][0]),
        ] {
            assert_eq!(ldap.count(PEOPLE, &filter), 0, "{dn}: {filter}");
        }
    }
    // audit is clean on what the sync wrote, departed people included,
    // and once retention has deleted them at their deadline
    let (out, _) = aaf_sync_ok(&["audit", "--config", &config, "--now", "2025-09-11"], 0);
    assert!(!out.contains("unauthorised"), "{out}");
    aaf_sync_ok(
        &["retention", "--config", &config, "--now", "2026-01-02"],
        0,
    );
    assert_eq!(
        ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)"),
        0
    );
    aaf_sync_ok(&["audit", "--config", &config, "--now", "2026-01-02"], 0);
}

#[test]
fn the_rdns_of_new_entries_follow_the_configured_templates() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(
        tmp.path(),
        &uais(),
        "[layout]\nperson_uid = \"{id}\"\nstructure_ou = \"ecole-{id}\"\n",
    ));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    let p = ldap.entry(&format!("uid=1001,{PEOPLE}"));
    assert_eq!(
        first(&p, "ENTPersonStructRattach").to_lowercase(),
        format!("ou=ecole-100,ou=structures,{BASE}")
    );
    assert_eq!(
        first(&p, "ENTEleveParents").to_lowercase(),
        format!("uid=2001,{PEOPLE}")
    );
    let before = csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    assert_eq!(csns(&ldap), before);
    // a Delta finds them back by their DNs
    rename_1001_by_delta(tmp.path(), &config);
    // a template without {id} is refused with the key named
    let bad = s(&ldap.config(tmp.path(), &uais(), "[layout]\nperson_uid = \"{source}\"\n"));
    let (_, err) = aaf_sync_ok(&["check", "--config", &bad], 2);
    assert!(err.contains("layout.person_uid"), "{err}");
}

/// The same adoption, in a directory that runs the deployed SDET schema,
/// its schools loaded from ESCO's own `21-structures.ldif`.
#[test]
fn an_esco_tree_under_the_sdet_schema_is_adopted_as_it_is() {
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sdet-esco-schema");
    let base = |f: &str| {
        std::fs::read_to_string(data.join(f))
            .unwrap()
            .replace("dc=esco-centre,dc=fr", BASE)
            .replace("\n tures,", "tures,")
    };
    // ou=people exists already (the harness made it)
    let ous: String = base("01-ou.ldif")
        .split("\n\n")
        .filter(|b| !b.contains("ou=people,"))
        .collect::<Vec<_>>()
        .join("\n\n");
    ldap.modify(&ous);
    ldap.add(&base("21-structures.ldif"));
    let pupil = format!(
        "dn: uid=F29aa001,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
         objectClass: ENTEleve\nuid: F29aa001\nsn: OLD\ncn: OLD\nENTPersonJointure: AC-RENNES$5001\n\
         ENTPersonLogin: old.login\nuserPassword: pw-old\nENTEleveStatutEleve: SCOLAIRE\nENTEleveMEF: 2111\n\
         ENTEleveLibelleMEF: 6EME\nENTEleveNivFormation: 6EME\nENTEleveFiliere: GENERALE\n\
         ENTEleveClasses: ENTStructureSIREN=19291595700018,ou=structures,{BASE}$6A\nENTEleveMajeur: N\n"
    );
    ldap.modify(&pupil);
    let config =
        s(&ldap.config(tmp.path(), &["0290009C".into(), "0291595B".into()], "")).to_string();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("AC-CRETEIL", "AC-RENNES");
    std::fs::write(&config, text).unwrap();
    let x = tmp.path().join("x");
    write_extraction_files(
        &x,
        "Complet",
        "20250904",
        &[
            (
                "EtabEducNat",
                school("2828", "0290009C") + &school("3019", "0291595B"),
            ),
            ("Eleve", pupil_of("5001", "3019")),
            ("PersRelEleve", parent("6001", "PARENT", &["5001"])),
            ("PersEducNat", director("7001", "3019")),
        ],
    );
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&x)], 0);
    assert!(err.contains("Eleve 1, EtabEducNat 2"), "{err}");
    // the schools keep their DN, SIREN and ESCO data
    let sdn = format!("ENTStructureSIREN=19291595700018,ou=structures,{BASE}");
    let sch = ldap.entry(&sdn);
    assert_eq!(first(&sch, "ENTStructureSIREN"), "19291595700018");
    assert_eq!(first(&sch, "ESCODomaines"), "lycees.netocentre.fr");
    assert_eq!(first(&sch, "ENTStructureNomCourant"), "ECOLE 3019");
    // the pupil keeps DN, login, password and the MEF the other feeder set
    let pdn = format!("uid=F29aa001,{PEOPLE}");
    let p = ldap.entry(&pdn);
    assert_eq!(first(&p, "ENTPersonLogin"), "old.login");
    assert!(ldap.can_bind(&pdn, "pw-old"));
    assert_eq!(
        first(&p, "ENTEleveMEF"),
        "2111",
        "a neutral value never overwrites"
    );
    assert_eq!(
        first(&p, "ENTPersonStructRattach").to_lowercase(),
        sdn.to_lowercase()
    );
    assert!(
        p["enteleveclasses"]
            .iter()
            .any(|c| c.to_lowercase() == format!("{}$cpa", sdn.to_lowercase())),
        "{:?}",
        p["enteleveclasses"]
    );
    let before = csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&x)], 0);
    assert_eq!(csns(&ldap), before, "a re-run writes nothing");
}

fn pupil_of(id: &str, sid: &str) -> String {
    pupil(id, "ELEVE", sid, "CPA", &["6001"])
}

/// Every link value (a DN, or a DN then `$…`) of every entry under the
/// base that names an entry the directory does not hold.
fn dangling_links(l: &Slapd) -> Vec<String> {
    let all = l.entries(BASE, "(objectClass=*)", &["*"]);
    let norm = |d: &str| d.to_lowercase().replace(", ", ",");
    let dns: std::collections::HashSet<String> = all.keys().map(|d| norm(d)).collect();
    let mut out = Vec::new();
    for (dn, a) in &all {
        for attr in [
            "member",
            "entpersonstructrattach",
            "enteleveparents",
            "enteleveautoriteparentale",
            "entauxpersreleveeleve",
            "entensfonctiondir",
            "enteleveclasses",
            "entelevegroupes",
        ] {
            for v in a.get(attr).into_iter().flatten() {
                let target = norm(v.split('$').next().unwrap_or(v));
                if target.contains("dc=") && !dns.contains(&target) {
                    out.push(format!("{dn} {attr}: {v}"));
                }
            }
        }
    }
    out
}

const ESCO_MUSTS: &str = "ENTEleveStatutEleve: X\nENTEleveMEF: X\nENTEleveLibelleMEF: X\n\
    ENTEleveNivFormation: X\nENTEleveFiliere: X\nENTEleveClasses: X\nENTEleveMajeur: N\n";

/// An existing tree whose people share an RDN across the branches of the
/// old feeder (`uid=100,ou=eleves` and `uid=100,ou=parents`), whose school
/// lists only its most specific class, and where another feeder uses a
/// login as an alias: adopted; the two people leave (distinct departed
/// DNs, out of every lookup, links following them) and come back to their
/// own DNs, `uid`, login and password.
#[test]
fn adopted_people_leave_and_come_back_to_their_own_dns() {
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let pupil_dn = format!("uid=100,ou=eleves,{PEOPLE}");
    let parent_dn = format!("uid=100,ou=parents,{PEOPLE}");
    let school_dn = format!("ENTStructureSIREN=19290009000015,ou=structures,{BASE}");
    ldap.add(&format!(
        "dn: ou=structures,{BASE}\nobjectClass: organizationalUnit\nou: structures\n\n\
         dn: {school_dn}\nobjectClass: ENTEtablissement\nENTEtablissementContrat: PU\n\
         ENTEtablissementMinistereTutelle: MEN\nENTStructureJointure: AC-CRETEIL$100\n\
         ENTStructureNomCourant: ECOLE A\nENTStructureSIREN: 19290009000015\nou: ECOLE A\n\
         ENTStructureUAI: 0920100J\n\n\
         dn: ou=eleves,{PEOPLE}\nobjectClass: organizationalUnit\nou: eleves\n\n\
         dn: ou=parents,{PEOPLE}\nobjectClass: organizationalUnit\nou: parents\n\n\
         dn: {pupil_dn}\nobjectClass: ENTEleve\nuid: 100\ncn: x\nsn: x\nENTPersonLogin: zcoeur\n\
         ENTPersonJointure: AC-CRETEIL$1001\nuserPassword: zoe-pw\n{ESCO_MUSTS}\n\
         dn: {parent_dn}\nobjectClass: ENTPerson\nobjectClass: ENTAuxPersRelEleve\nuid: 100\ncn: x\n\
         sn: x\nENTPersonLogin: acoeur\nENTPersonJointure: AC-CRETEIL$2001\nuserPassword: anne-pw\n\
         ENTAuxPersRelEleveEleve: {pupil_dn}\n\n\
         dn: uid=other,{PEOPLE}\nobjectClass: ENTPerson\nuid: other\ncn: o\nsn: o\n\
         ENTPersonLogin: o.ther\nENTPersonJointure: AUTRE$1\nENTPersonAlias: zoe.deux\n"
    ));
    let config = s(&ldap.config(tmp.path(), &["0920100J".into()], ""));
    let day = |name: &str, date: &str, with_1001: bool| {
        let dir = tmp.path().join(name);
        let mut pupils = pupil("1002", "DEUX", "100", "CPA", &["2002"]);
        let mut parents = parent("2002", "PARENT-DEUX", &["1002"]);
        if with_1001 {
            pupils += &pupil("1001", "UN", "100", "CPA", &["2001"]);
            parents += &parent("2001", "PARENT-UN", &["1001"]);
        }
        write_extraction_files(
            &dir,
            "Complet",
            date,
            &[
                ("EtabEducNat", school("100", "0920100J")),
                ("Eleve", pupils),
                ("PersRelEleve", parents),
                ("PersEducNat", director("3001", "100")),
            ],
        );
        dir
    };
    let sync = |dir: &Path, now: &str| {
        let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", now, &s(dir)], 0);
        err
    };
    let err = sync(&day("c1", "20250904", true), "2025-09-04");
    // the school listing only ENTEtablissement is adopted, not doubled
    assert!(
        !ldap.exists_dn(&format!("ou=AC-CRETEIL-100,ou=structures,{BASE}")),
        "{err}"
    );
    assert_eq!(ldap.count(BASE, "(ENTStructureJointure=AC-CRETEIL$100)"), 1);
    // a new login never equals another account's alias
    let deux = ldap.entry(&person_dn("1002"));
    assert_eq!(first(&deux, "ENTPersonLogin"), "zoe.deux2");
    assert!(
        dangling_links(&ldap).is_empty(),
        "{:?}",
        dangling_links(&ldap)
    );

    // both leave: two departed DNs, found by no lookup, links followed
    let err = sync(&day("c2", "20250911", false), "2025-09-11");
    assert!(err.contains(" 0 failed"), "{err}");
    let away = ldap.entries(
        &format!("ou=departed,{BASE}"),
        "(objectClass=ENTPerson)",
        &["uid", "aafSyncHome"],
    );
    assert_eq!(away.len(), 2, "{away:?}");
    for login in ["zcoeur", "acoeur"] {
        assert_eq!(lookups(&ldap, login), [0, 0, 0, 0], "{login}");
    }
    assert!(!ldap.exists_dn(&pupil_dn) && !ldap.exists_dn(&parent_dn));
    assert!(
        dangling_links(&ldap).is_empty(),
        "{:?}",
        dangling_links(&ldap)
    );

    // back: to their own DNs, uid, login and password
    let err = sync(&day("c3", "20250918", true), "2025-09-18");
    for (dn, login, pw) in [
        (&pupil_dn, "zcoeur", "zoe-pw"),
        (&parent_dn, "acoeur", "anne-pw"),
    ] {
        let e = ldap.entry(dn);
        assert_eq!(e["uid"], ["100"], "{dn}: {err}");
        assert_eq!(first(&e, "ENTPersonLogin"), login);
        assert!(!e.contains_key("aafsynchome"), "{e:?}");
        assert!(ldap.can_bind(dn, pw), "{dn}");
    }
    assert_eq!(
        ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)"),
        0
    );
    assert!(
        dangling_links(&ldap).is_empty(),
        "{:?}",
        dangling_links(&ldap)
    );
    let before = csns(&ldap);
    sync(&day("c3", "20250918", true), "2025-09-18");
    assert_eq!(csns(&ldap), before, "a re-run writes nothing");
}

/// An entry of the existing tree whose structural class cannot become its
/// category's (`ENTPerson` for a pupil): never adopted nor linked, never
/// doubled at the layout's DN; the dry run says so as the run does.
#[test]
fn an_entry_whose_structural_class_cannot_change_is_left_out() {
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let wrong = format!("uid=F1,{PEOPLE}");
    ldap.add(&format!(
        "dn: {wrong}\nobjectClass: ENTPerson\nuid: F1\ncn: x\nsn: x\nENTPersonLogin: zcoeur\n\
         ENTPersonJointure: AC-CRETEIL$1001\n"
    ));
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    let (out, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            NOW,
            "--dry-run",
            &s(&c1),
        ],
        3,
    );
    let why = "its structural object class is not ENTEleve: LDAP cannot change an entry's structural class";
    assert!(err.contains(why), "{err}");
    assert!(!out.contains("uid=F1"), "{out}");
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 3);
    assert!(err.contains(why), "{err}");
    assert!(
        !err.contains("failed: 1") && !err.contains("objectClassModsProhibited"),
        "{err}"
    );
    assert!(!ldap.exists_dn(&person_dn("1001")), "not doubled");
    for (dn, a, v) in all_values(&ldap) {
        assert!(
            !v.to_lowercase().contains("uid=f1,"),
            "{dn} {a} links to it"
        );
    }
    assert_eq!(first(&ldap.entry(&wrong), "ENTPersonLogin"), "zcoeur");
}

/// In a directory with the deployed SDET schema, classes live in
/// `ENTEleveClasses` (a MUST of `ENTEleve`): a pupil back by a Delta goes
/// back into his class and groups; the school-year Complet sets the lists
/// of those still away to the neutral value, never last year's class.
#[test]
fn sdet_class_lists_follow_departures_returns_and_the_school_year() {
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &uais(), ""));
    let c1 = tmp.path().join("c1");
    complet(&c1, "20250904", true);
    let sync = |dir: &Path, now: &str| {
        aaf_sync_ok(&["sync", "--config", &config, "--now", now, &s(dir)], 0).1
    };
    sync(&c1, NOW);
    let class = format!("cn=AC-CRETEIL-100-classe-CPA,ou=groups,{BASE}");
    let member = |l: &Slapd| {
        l.entry(&class)["member"]
            .iter()
            .any(|m| m.to_lowercase() == person_dn("1003").to_lowercase())
    };
    assert!(member(&ldap));
    let delta = |name: &str, date: &str, body: String| {
        let d = tmp.path().join(name);
        write_extraction_files(&d, "Delta", date, &[("Eleve", body)]);
        d
    };
    sync(
        &delta("d1", "20250906", delete_req("Eleve", "1003")),
        "2025-09-06",
    );
    assert!(!member(&ldap));
    let err = sync(
        &delta(
            "d2",
            "20250907",
            modify_req("Eleve", "1003", &[("ENTPersonNom", &["TROIS-NEUF"])]),
        ),
        "2025-09-07",
    );
    assert!(member(&ldap), "back in his class: {err}");
    let p = ldap.entry(&person_dn("1003"));
    assert!(
        p["enteleveclasses"].iter().any(|c| c.ends_with("$CPA")),
        "{p:?}"
    );
    // leaves again in June; the next school year's Complet (his deadline,
    // 90 days on, still ahead) leaves no class on him
    sync(
        &delta("d3", "20260615", delete_req("Eleve", "1003")),
        "2026-06-15",
    );
    let c2 = tmp.path().join("c2");
    complet(&c2, "20260901", false);
    let err = sync(&c2, "2026-09-01");
    let away = ldap.entries(
        &format!("ou=departed,{BASE}"),
        "(ENTPersonJointure=AC-CRETEIL$1003)",
        &["ENTEleveClasses"],
    );
    let lists: Vec<&String> = away.values().flat_map(|a| &a["enteleveclasses"]).collect();
    assert_eq!(lists, [&"-".to_string()], "{err}");
}

/// SHA-256 (hex, first 12 digits) of `rdn`: the pseudonym README "Data
/// protection" promises, computed here independently of the code under test.
fn pseudonym(rdn: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(rdn.as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("#sha256:{}", &hex[..12])
}

/// An adopted tree whose DNs are built from names (`uid=zoe.coeur`): the
/// person is adopted, leaves to the departed branch and comes back, and
/// her name is in no journal line, no report, no log or summary line and
/// no status output — her DN is written with a pseudonym, the same in
/// `ou=people` and in `ou=departed`. `check` and the dry-run say so once;
/// the dry-run LDIF, written for the operator to apply, keeps the real DN.
#[test]
fn names_in_adopted_dns_never_reach_the_journal_reports_or_logs() {
    let ldap = Slapd::start_sdet();
    let tmp = tempfile::tempdir().unwrap();
    let zoe = format!("uid=zoe.coeur,{PEOPLE}");
    ldap.add(&format!(
        "dn: ou=structures,{BASE}\nobjectClass: organizationalUnit\nou: structures\n\n\
         dn: {zoe}\nobjectClass: ENTEleve\nuid: zoe.coeur\ncn: Zoe Coeur\nsn: Coeur\n\
         ENTPersonLogin: zoe.coeur\nENTPersonJointure: AC-CRETEIL$1001\nuserPassword: zoe-pw\n{ESCO_MUSTS}"
    ));
    let config = s(&ldap.config(tmp.path(), &["0920100J".into()], ""));
    let pupil = |id: &str, name: &str, parent: &str| {
        req(
            "Eleve",
            id,
            &[
                ("ENTPersonJointure", &[id]),
                ("ENTPersonNom", &[name]),
                (
                    "ENTPersonPrenom",
                    &[if id == "1001" { "Zoé" } else { "Léa" }],
                ),
                ("ENTPersonStructRattach", &["100"]),
                ("ENTEleveAutoriteParentale", &[&format!("{parent}$10")]),
                ("ENTPersonClasses", &["100$1$1$CPA$CPA"]),
            ],
        )
    };
    let day = |name: &str, date: &str, with_1001: bool| {
        let dir = tmp.path().join(name);
        let mut pupils = pupil("1002", "MARTIN", "2002");
        let mut parents = parent("2002", "PARENT-DEUX", &["1002"]);
        if with_1001 {
            pupils += &pupil("1001", "COEUR", "2001");
            parents += &parent("2001", "PARENT-UN", &["1001"]);
        }
        write_extraction_files(
            &dir,
            "Complet",
            date,
            &[
                ("EtabEducNat", school("100", "0920100J")),
                ("Eleve", pupils),
                ("PersRelEleve", parents),
                ("PersEducNat", director("3001", "100")),
            ],
        );
        dir
    };
    // everything the runs write out, but the explicit data exports
    let mut said = String::new();
    let (out, err) = aaf_sync_ok(&["check", "--config", &config], 0);
    assert!(
        out.contains(
            "warning: 1 entries of source AC-CRETEIL have DNs whose RDN value is not an AAF id"
        ),
        "{out}"
    );
    said += &(out + &err);
    let sync = |dir: &Path, now: &str, report: &str| {
        let r = tmp.path().join(report);
        let (out, err) = aaf_sync_ok(
            &[
                "sync",
                "--config",
                &config,
                "--now",
                now,
                "--report",
                &s(&r),
                &s(dir),
            ],
            0,
        );
        let all = out + &err + &std::fs::read_to_string(&r).unwrap();
        (err, all)
    };
    let (err, all) = sync(&day("c1", "20250904", true), "2025-09-04", "r1.json");
    said += &all;
    assert!(
        err.contains("adopted, existing entries of the source matched by jointure: Eleve 1"),
        "{err}"
    );
    assert!(
        err.contains("warning: 1 managed entries have DNs whose RDN value is not an AAF id"),
        "{err}"
    );
    assert!(ldap.exists_dn(&zoe));
    let c2 = day("c2", "20250911", false);
    // the dry run warns too; its LDIF is the operator's to apply: real DNs
    let (ldif, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--dry-run",
            &s(&c2),
        ],
        0,
    );
    assert!(err.contains("warning: 1 managed entries"), "{err}");
    assert!(ldif.contains("dn: uid=zoe.coeur,"), "{ldif}");
    said += &err;
    said += &sync(&c2, "2025-09-11", "r2.json").1;
    let away = ldap.entries(
        &format!("ou=departed,{BASE}"),
        "(ENTPersonJointure=AC-CRETEIL$1001)",
        &["1.1"],
    );
    assert_eq!(away.len(), 1, "{away:?}");
    assert!(!ldap.exists_dn(&zoe));
    for format in ["text", "json"] {
        let (out, err) = aaf_sync_ok(&["status", "--config", &config, "--format", format], 0);
        said += &(out + &err);
    }
    said += &sync(&day("c3", "20250918", true), "2025-09-18", "r3.json").1;
    assert!(ldap.exists_dn(&zoe), "back at her own DN");
    assert!(ldap.can_bind(&zoe, "zoe-pw"));
    let (out, err) = aaf_sync_ok(&["status", "--config", &config], 0);
    said += &(out + &err);

    let mut journal = String::new();
    for f in std::fs::read_dir(tmp.path().join("work/journal")).unwrap() {
        journal += &std::fs::read_to_string(f.unwrap().path()).unwrap();
    }
    for (what, text) in [("journal", &journal), ("output", &said)] {
        let lower = text.to_lowercase();
        for name in ["zoe", "coeur"] {
            assert!(!lower.contains(name), "{what} names {name}:\n{text}");
        }
    }
    let p = pseudonym("uid=zoe.coeur");
    // adopted, then departed (her RDN beside the jointure), then back
    for dn in [
        format!("uid={p},{PEOPLE}"),
        format!("ENTPersonJointure=AC-CRETEIL$1001+uid={p},ou=departed,{BASE}"),
    ] {
        assert!(
            journal.contains(&format!("\"dn\":\"{dn}\"")),
            "{dn} not in the journal:\n{journal}"
        );
    }
    // a pseudonym read in the journal finds her back
    let doc: serde_json::Value = serde_json::from_str(
        &aaf_sync_ok(
            &[
                "subject",
                "export",
                "--config",
                &config,
                "--dn",
                &format!("uid={p},{PEOPLE}"),
            ],
            0,
        )
        .0,
    )
    .unwrap();
    assert_eq!(
        doc["person"]["dn"].as_str().unwrap().to_lowercase(),
        zoe.to_lowercase()
    );
}
