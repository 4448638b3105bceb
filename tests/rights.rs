//! Data-protection tooling against a real slapd: subject export checked
//! field by field against the directory (and the JSON Schema), erasure with
//! every reference and the block that keeps the next syncs from recreating
//! the person, purge with its certificate, and the minimisation audit.

mod common;

use aaf_sync::generator::{generate, GenConfig};
use common::*;
use std::path::Path;

struct Fixture {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    config: String,
    x: String,
}

fn setup() -> Fixture {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(
        &GenConfig {
            schools: 2,
            pupils_per_school: 20,
            ..Default::default()
        },
        &tmp.path().join("x"),
    )
    .unwrap();
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let x = tmp.path().join("x").display().to_string();
    aaf_sync_ok(&["sync", "--config", &config, "--now", "2025-09-04", &x], 0);
    Fixture {
        ldap,
        tmp,
        config,
        x,
    }
}

fn people() -> String {
    format!("ou=people,{BASE}")
}

/// A person of the class `object_class` that has every attribute in `with`.
fn pick(l: &Slapd, object_class: &str, with: &[&str]) -> (String, Attrs) {
    let mut f = format!("(&(objectClass={object_class})");
    for a in with {
        f.push_str(&format!("({a}=*)"));
    }
    f.push(')');
    l.entries(&people(), &f, &["*"])
        .into_iter()
        .next()
        .expect("a person")
}

fn export(f: &Fixture, how: &[&str]) -> serde_json::Value {
    export_with(&f.config, how)
}

fn export_with(config: &str, how: &[&str]) -> serde_json::Value {
    let mut args = vec!["subject", "export", "--config", config];
    args.extend_from_slice(how);
    let (out, _) = aaf_sync_ok(&args, 0);
    serde_json::from_str(&out).unwrap()
}

fn validate(doc: &serde_json::Value) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/subject-export.schema.json");
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
        ])
        .arg(&schema)
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export does not match the JSON Schema (python3-jsonschema; scripts/install-deps.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The export's attributes, as the directory holds them (names lower case,
/// values sorted).
fn exported_attrs(doc: &serde_json::Value) -> Attrs {
    doc["attributes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let mut vs: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            vs.sort();
            (k.to_lowercase(), vs)
        })
        .collect()
}

fn sorted_values(a: &Attrs) -> Attrs {
    a.iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect()
}

fn dns(doc: &serde_json::Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dn"].as_str().unwrap().to_lowercase())
        .collect();
    v.sort();
    v
}

fn lower_sorted(v: Option<&Vec<String>>) -> Vec<String> {
    let mut v: Vec<String> = v
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    v.sort();
    v
}

#[test]
fn export_of_a_pupil_a_parent_and_a_staff_member_matches_the_directory() {
    let f = setup();
    // a password and an ENT attribute written by others
    let (pdn, _) = pick(&f.ldap, "ENTEleve", &["ENTEleveParents"]);
    f.ldap.modify(&format!(
        "dn: {pdn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}secret-hash\n\
         -\nreplace: description\ndescription: note by the ENT\n"
    ));
    let (_, pupil) = pick(&f.ldap, "ENTEleve", &["ENTEleveParents", "userPassword"]);
    let jointure = pupil["entpersonjointure"][0].clone();
    let doc = export(&f, &["--jointure", &jointure]);
    validate(&doc);
    let mut want = sorted_values(&pupil);
    want.remove("userpassword");
    assert_eq!(
        exported_attrs(&doc),
        want,
        "every attribute, field by field"
    );
    assert_eq!(doc["withheld"], serde_json::json!(["userPassword"]));
    assert!(!doc.to_string().contains("secret-hash"));
    assert!(doc["attributes_other"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "description"));
    assert_eq!(doc["person"]["category"], "Eleve");
    assert_eq!(doc["person"]["dn"].as_str().unwrap().to_lowercase(), pdn);
    assert_eq!(doc["sync_state"]["first_seen"], "2025-09-04");
    assert_eq!(doc["sync_state"]["disabled"], false);
    assert_eq!(
        dns(&doc, "linked_parents"),
        lower_sorted(pupil.get("enteleveparents"))
    );
    let mut classes: Vec<String> = f
        .ldap
        .entries(
            &format!("ou=groups,{BASE}"),
            &format!("(&(objectClass=ENTClasse)(member={pdn}))"),
            &["1.1"],
        )
        .into_keys()
        .collect();
    classes.sort();
    assert!(!classes.is_empty());
    assert_eq!(dns(&doc, "classes"), classes);
    assert_eq!(
        dns(&doc, "structures"),
        lower_sorted(pupil.get("entpersonstructrattach"))
    );
    // the same person by login and by DN
    let login = pupil["entpersonlogin"][0].clone();
    assert_eq!(
        export(&f, &["--login", &login])["attributes"],
        doc["attributes"]
    );
    assert_eq!(export(&f, &["--dn", &pdn])["attributes"], doc["attributes"]);

    // a parent: their pupils as references
    let parent_dn = pupil["enteleveparents"][0].to_lowercase();
    let parent = f
        .ldap
        .entries(&parent_dn, "(objectClass=*)", &["*"])
        .remove(&parent_dn)
        .unwrap();
    let doc = export(&f, &["--dn", &parent_dn]);
    validate(&doc);
    assert_eq!(exported_attrs(&doc), sorted_values(&parent));
    assert_eq!(doc["person"]["category"], "PersRelEleve");
    assert_eq!(
        dns(&doc, "linked_pupils"),
        lower_sorted(
            parent
                .get("entauxperseleveeleve")
                .or(parent.get("entauxpersreleleveeleve"))
        )
    );
    assert!(dns(&doc, "linked_pupils").contains(&pdn));

    // a staff member
    let (sdn, staff) = pick(&f.ldap, "ENTAuxEnseignant", &[]);
    let doc = export(&f, &["--jointure", &staff["entpersonjointure"][0]]);
    validate(&doc);
    assert_eq!(exported_attrs(&doc), sorted_values(&staff));
    assert_eq!(doc["person"]["category"], "PersEducNat");
    assert_eq!(doc["person"]["dn"].as_str().unwrap().to_lowercase(), sdn);
    assert_eq!(
        dns(&doc, "structures"),
        lower_sorted(staff.get("entpersonstructrattach"))
    );

    // unknown: exit 2, clear message
    let (_, err) = aaf_sync_ok(
        &[
            "subject",
            "export",
            "--config",
            &f.config,
            "--jointure",
            "AC-CRETEIL$999999999",
        ],
        2,
    );
    assert!(
        err.contains("no person of source AC-CRETEIL with that jointure"),
        "{err}"
    );
}

#[test]
fn erasure_removes_every_reference_and_the_next_syncs_do_not_bring_the_person_back() {
    let f = setup();
    let (pdn, pupil) = pick(&f.ldap, "ENTEleve", &["ENTEleveParents"]);
    let jointure = pupil["entpersonjointure"][0].clone();
    let referring = |l: &Slapd| {
        l.entries(
            BASE,
            &format!(
                "(|(member={pdn})(ENTEleveParents={pdn})(ENTAuxPersRelEleveEleve={pdn})(ENTPersonStructRattach={pdn}))"
            ),
            &["1.1"],
        )
        .len()
    };
    assert!(
        referring(&f.ldap) >= 2,
        "in a class and linked from a parent"
    );
    let (out, err) = aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            &f.config,
            "--jointure",
            &jointure,
            "--reason",
            "instruction DSDEN 2026-117",
            "--now",
            "2026-11-24",
        ],
        0,
    );
    let x: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(x["deleted"], true, "{err}");
    assert!(
        f.ldap.count(
            &people(),
            &format!("(ENTPersonJointure={})", jointure.replace('$', "\\24"))
        ) == 0
    );
    assert_eq!(f.ldap.count(BASE, &format!("(entryDN={pdn})")), 0);
    assert_eq!(referring(&f.ldap), 0, "no reference left");
    let erasures = f
        .ldap
        .entry(&format!("cn=aaf-sync-erasures-AC-CRETEIL,{BASE}"));
    let v = &erasures["aafsyncerased"][0];
    assert!(v.ends_with(" 2026-11-24 instruction DSDEN 2026-117"), "{v}");
    assert!(!v.contains(&jointure), "a hash, not the id");

    // the next sync of the same extraction does not recreate them
    let r = f.tmp.path().join("r.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--now",
            "2025-09-04",
            "--report",
            r.to_str().unwrap(),
            &f.x,
        ],
        0,
    );
    assert_eq!(f.ldap.count(BASE, &format!("(entryDN={pdn})")), 0);
    assert_eq!(referring(&f.ldap), 0);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    assert_eq!(rep["steps"][0]["erasures"]["skipped"], 1);

    // unblock: the next sync brings them back
    let (_, err) = aaf_sync_ok(
        &[
            "subject",
            "unblock",
            "--config",
            &f.config,
            "--jointure",
            "AC-CRETEIL$0",
        ],
        2,
    );
    assert!(err.contains("no erasure recorded"), "{err}");
    aaf_sync_ok(
        &[
            "subject",
            "unblock",
            "--config",
            &f.config,
            "--jointure",
            &jointure,
        ],
        0,
    );
    aaf_sync_ok(
        &["sync", "--config", &f.config, "--now", "2025-09-04", &f.x],
        0,
    );
    assert_eq!(f.ldap.count(BASE, &format!("(entryDN={pdn})")), 1);
    assert!(referring(&f.ldap) >= 2);

    // erased again, then an extraction without them lifts the block
    aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            &f.config,
            "--jointure",
            &jointure,
            "--reason",
            "again",
        ],
        0,
    );
    let x2 = f.tmp.path().join("x2");
    generate(
        &GenConfig {
            schools: 2,
            pupils_per_school: 20,
            date: "20250911".into(),
            ..Default::default()
        },
        &x2,
    )
    .unwrap();
    let id = jointure.split('$').nth(1).unwrap().to_string();
    // remove that one pupil's record
    for e in std::fs::read_dir(&x2).unwrap() {
        let p = e.unwrap().path();
        if !p.to_str().unwrap().contains("_Eleve_") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let needle = format!("<id>{id}</id>");
        let Some(at) = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        else {
            continue;
        };
        let start = bytes[..at]
            .windows(11)
            .rposition(|w| w == b"<addRequest")
            .unwrap();
        let end = at
            + bytes[at..]
                .windows(13)
                .position(|w| w == b"</addRequest>")
                .unwrap()
            + 13;
        let mut out = bytes[..start].to_vec();
        out.extend_from_slice(&bytes[end..]);
        std::fs::write(&p, out).unwrap();
    }
    let r2 = f.tmp.path().join("r2.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--now",
            "2025-09-11",
            "--report",
            r2.to_str().unwrap(),
            x2.to_str().unwrap(),
        ],
        0,
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r2).unwrap()).unwrap();
    assert_eq!(rep["steps"][0]["erasures"]["lifted"], 1);
    let erasures = f
        .ldap
        .entry(&format!("cn=aaf-sync-erasures-AC-CRETEIL,{BASE}"));
    assert!(!erasures.contains_key("aafsyncerased"), "{erasures:?}");
}

/// One school (UAI 0920100J), pupils with one parent each, in class CPA.
fn small_complet(dir: &Path, date: &str, pupils: &[(&str, &str)]) {
    let school = req(
        "EtabEducNat",
        "100",
        &[
            ("ENTStructureJointure", &["100"]),
            ("ENTStructureUAI", &["0920100J"]),
            ("ENTStructureNomCourant", &["ECOLE 100"]),
        ],
    );
    let (mut eleves, mut parents) = (String::new(), String::new());
    for (pupil, parent) in pupils {
        eleves += &req(
            "Eleve",
            pupil,
            &[
                ("ENTPersonJointure", &[pupil]),
                ("ENTPersonNom", &[&format!("NOM{pupil}")]),
                ("ENTPersonPrenom", &["Zoé"]),
                ("ENTPersonStructRattach", &["100"]),
                ("ENTEleveAutoriteParentale", &[&format!("{parent}$10")]),
                ("ENTPersonClasses", &["100$1$1$CPA$CPA"]),
            ],
        );
        parents += &req(
            "PersRelEleve",
            parent,
            &[
                ("ENTPersonJointure", &[parent]),
                ("ENTPersonNom", &[&format!("NOM{parent}")]),
                ("ENTPersonPrenom", &["Hélène"]),
                ("ENTPersRelEleveEleve", &[pupil]),
            ],
        );
    }
    write_extraction_files(
        dir,
        "Complet",
        date,
        &[
            ("EtabEducNat", school),
            ("Eleve", eleves),
            ("PersRelEleve", parents),
            (
                "PersEducNat",
                req(
                    "PersEducNat",
                    "3001",
                    &[
                        ("ENTPersonJointure", &["3001"]),
                        ("ENTPersonNom", &["PROF"]),
                        ("ENTPersonPrenom", &["Ève"]),
                        ("ENTPersonStructRattach", &["100"]),
                    ],
                ),
            ),
        ],
    );
}

/// A pupil who left and their parent wait in `ou=departed` until their
/// deadline, with their data: `subject export` finds them by jointure,
/// login, their departed DN and the DN they had; `subject erase` (by
/// jointure, or by the DN they had) deletes them and every link to them,
/// as for active people. A person the directory does not hold: exit 2.
#[test]
fn rights_requests_reach_departed_people() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap
        .config(tmp.path(), &["0920100J".to_string()], "")
        .display()
        .to_string();
    let (c1, c2) = (tmp.path().join("c1"), tmp.path().join("c2"));
    small_complet(&c1, "20250904", &[("1001", "2001"), ("1002", "2002")]);
    small_complet(&c2, "20250911", &[("1002", "2002")]);
    for (dir, now) in [(&c1, "2025-09-04"), (&c2, "2025-09-11")] {
        let d = dir.display().to_string();
        aaf_sync_ok(&["sync", "--config", &config, "--now", now, &d], 0);
    }
    let departed = |id: &str| person_dn(id).replace(",ou=people,", ",ou=departed,");
    let (pupil, parent) = (departed("1001"), departed("2001"));
    assert!(ldap.exists_dn(&pupil) && ldap.exists_dn(&parent));
    assert!(!ldap.exists_dn(&person_dn("1001")));
    let login = ldap.entry(&pupil)["entpersonlogin"][0].clone();
    // the departed parent still lists the departed pupil
    assert_eq!(
        lower_sorted(ldap.entry(&parent).get("entauxpersreleleveeleve")),
        [pupil.to_lowercase()]
    );

    let pdn = person_dn("1001");
    for how in [
        ["--jointure", "1001"],
        ["--jointure", "AC-CRETEIL$1001"],
        ["--login", login.as_str()],
        ["--dn", pupil.as_str()],
        ["--dn", pdn.as_str()],
    ] {
        let doc = export_with(&config, &how);
        assert_eq!(doc["person"]["dn"].as_str().unwrap(), pupil, "{how:?}");
        assert_eq!(doc["sync_state"]["departure"], "2025-09-11", "{how:?}");
        assert_eq!(doc["sync_state"]["disabled"], true, "{how:?}");
        assert_eq!(dns(&doc, "linked_parents"), [parent.to_lowercase()]);
        validate(&doc);
    }
    let (_, err) = aaf_sync_ok(
        &[
            "subject",
            "export",
            "--config",
            &config,
            "--jointure",
            "9999",
        ],
        2,
    );
    assert!(
        err.contains("no person of source AC-CRETEIL with that jointure"),
        "{err}"
    );

    // erase the departed pupil: the departed parent's link goes with them
    let erase = |how: &[&str]| {
        let mut args = vec!["subject", "erase", "--config", config.as_str()];
        args.extend_from_slice(how);
        args.extend_from_slice(&["--reason", "instruction 7", "--now", "2025-09-12"]);
        let (out, _) = aaf_sync_ok(&args, 0);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let x = erase(&["--jointure", "1001"]);
    assert_eq!(x["dn"].as_str().unwrap(), pupil);
    assert_eq!(
        (x["deleted"].as_bool(), x["entries_modified"].as_u64()),
        (Some(true), Some(1))
    );
    assert!(!ldap.exists_dn(&pupil));
    assert_eq!(ldap.count(BASE, "(ENTPersonJointure=AC-CRETEIL$1001)"), 0);
    assert_eq!(
        ldap.count(
            BASE,
            &format!(
                "(|(member={pupil})(ENTAuxPersRelEleveEleve={pupil})(ENTEleveParents={pupil}))"
            )
        ),
        0
    );
    // the parent, by the DN they had before they left
    let x = erase(&["--dn", &person_dn("2001")]);
    assert_eq!(x["dn"].as_str().unwrap(), parent);
    assert!(!ldap.exists_dn(&parent));
    let erasures = ldap.entry(&format!("cn=aaf-sync-erasures-AC-CRETEIL,{BASE}"));
    assert_eq!(erasures["aafsyncerased"].len(), 2);
    // the active pupil and parent are untouched
    assert!(ldap.exists_dn(&person_dn("1002")) && ldap.exists_dn(&person_dn("2002")));
    assert_eq!(
        ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)"),
        0
    );
    let (_, err) = aaf_sync_ok(
        &[
            "subject",
            "erase",
            "--config",
            &config,
            "--jointure",
            "1001",
            "--reason",
            "again",
        ],
        2,
    );
    assert!(err.contains("no person of source AC-CRETEIL"), "{err}");
}

#[test]
fn purge_leaves_only_what_the_sync_does_not_manage_and_certifies_it() {
    let f = setup();
    // entries the sync does not manage
    f.ldap.modify(&format!(
        "dn: uid=admin-local,ou=people,{BASE}\nchangetype: add\nobjectClass: inetOrgPerson\n\
         uid: admin-local\ncn: Local Admin\nsn: Admin\n\n\
         dn: ou=apps,{BASE}\nchangetype: add\nobjectClass: organizationalUnit\nou: apps\n"
    ));
    let count = |filter: &str| f.ldap.count(BASE, filter) as u64;
    let before_pupils = count("(objectClass=ENTEleve)");
    let before_classes = count("(objectClass=ENTClasse)");
    let sn = f
        .ldap
        .entries(&people(), "(objectClass=ENTEleve)", &["sn"])
        .into_values()
        .next()
        .unwrap()["sn"][0]
        .clone();
    let work = f.tmp.path().join("work");
    assert!(work.join("journal").is_dir());

    let (_, err) = aaf_sync_ok(
        &[
            "purge",
            "--config",
            &f.config,
            "--confirm",
            "dc=other,dc=org",
            "--reference",
            "CONV-1",
        ],
        2,
    );
    assert!(err.contains("--confirm must repeat the base DN"), "{err}");
    assert!(count("(objectClass=ENTEleve)") > 0);

    let out_dir = f.tmp.path().join("certs");
    let (text, _) = aaf_sync_ok(
        &[
            "purge",
            "--config",
            &f.config,
            "--confirm",
            "DC=example, DC=org",
            "--reference",
            "convention 2024-17 end",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        0,
    );
    assert!(
        text.contains("CERTIFICATE OF DELETION OF PERSONAL DATA"),
        "{text}"
    );
    let left: Vec<String> = f
        .ldap
        .entries(BASE, "(objectClass=*)", &["1.1"])
        .into_keys()
        .collect();
    assert_eq!(
        left,
        [
            "dc=example,dc=org".to_string(),
            format!("ou=apps,{BASE}"),
            format!("ou=people,{BASE}"),
            format!("uid=admin-local,ou=people,{BASE}"),
        ],
        "only what the sync does not manage"
    );
    let certs: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let json = certs
        .iter()
        .find(|p| p.extension().unwrap() == "json")
        .unwrap();
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(c["before"]["Eleve"], before_pupils);
    assert_eq!(c["before"]["ENTClasse"], before_classes);
    assert_eq!(c["after"]["Eleve"], 0);
    assert!(c["after"].as_object().unwrap().values().all(|v| v == 0));
    assert_eq!(c["complete"], true);
    assert_eq!(c["reference"], "convention 2024-17 end");
    assert_eq!(c["deleted_ids_sha256"].as_str().unwrap().len(), 64);
    let total: u64 = c["before"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(c["deleted_entries"], total);
    assert!(
        c["branches_removed"].as_array().unwrap().len() == 3,
        "ou=structures, ou=groups and ou=departed: {c}"
    );
    let all_text = std::fs::read_to_string(json).unwrap() + &text;
    assert!(
        !all_text.contains(&sn),
        "no personal data in the certificate"
    );
    assert!(!work.join("journal").exists() && !work.join("plans").exists());
}

#[test]
fn audit_finds_planted_violations_and_passes_a_clean_tree() {
    let f = setup();
    let (out, _) = aaf_sync_ok(&["audit", "--config", &f.config, "--now", "2025-09-05"], 0);
    assert!(out.contains("no finding"), "{out}");

    let (sdn, _) = pick(&f.ldap, "ENTAuxEnseignant", &[]);
    f.ldap.modify(&format!(
        "dn: {sdn}\nchangetype: modify\nadd: ENTPersonAdresse\nENTPersonAdresse: 1 rue planted\n"
    ));
    let (pdn, _) = pick(&f.ldap, "ENTEleve", &[]);
    f.ldap.modify(&format!(
        "dn: {pdn}\nchangetype: modify\nreplace: aafSyncDepartureDate\naafSyncDepartureDate: 20250601000000Z\n\
         -\nreplace: aafSyncDeadline\naafSyncDeadline: 20250901000000Z\n"
    ));
    let (out, _) = aaf_sync_ok(
        &[
            "audit",
            "--config",
            &f.config,
            "--now",
            "2025-09-05",
            "--format",
            "json",
        ],
        1,
    );
    let a: serde_json::Value = serde_json::from_str(&out).unwrap();
    let found: Vec<(String, String)> = a["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["rule"].as_str().unwrap().to_string(),
                x["dn"].as_str().unwrap().to_lowercase(),
            )
        })
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.contains(&("staff_address".into(), sdn.clone())),
        "{found:?}"
    );
    assert!(
        found.contains(&("retention_overdue".into(), pdn.clone())),
        "{found:?}"
    );
    assert!(!out.contains("planted"), "names, never values");
}
