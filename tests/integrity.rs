//! Integrity on messy input (issue 17), against a real slapd: a record that
//! was present but rejected is not a departure; one bad byte costs one
//! record; DN-special ids are stable; control characters never reach the
//! directory; squatters are never adopted; failed operations are honest and
//! retried; the safety rails watch more than departures.

mod common;

use aaf_sync::generator::{generate, GenConfig, GenEncoding, GenSummary};
use common::*;
use std::path::{Path, PathBuf};

const NOW: &str = "2025-09-04";

fn gen_with(
    dir: &Path,
    date: &str,
    schools: usize,
    pupils: usize,
    enc: [GenEncoding; 4],
) -> GenSummary {
    generate(
        &GenConfig {
            date: date.into(),
            schools,
            pupils_per_school: pupils,
            schools_outside: 0,
            encodings: enc,
            ..Default::default()
        },
        dir,
    )
    .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A slapd holding a first sync of a generated Complet (UTF-8 files).
struct Fixture {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    config: String,
    c1: PathBuf,
}

fn fixture(schools: usize, pupils: usize, extra: &str) -> Fixture {
    fixture_enc(schools, pupils, extra, [GenEncoding::Utf8; 4])
}

fn fixture_enc(schools: usize, pupils: usize, extra: &str, enc: [GenEncoding; 4]) -> Fixture {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen_with(&c1, "20250904", schools, pupils, enc);
    let config = s(&ldap.config(tmp.path(), &g.uai_inside, extra));
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    Fixture {
        ldap,
        tmp,
        config,
        c1,
    }
}

impl Fixture {
    /// `sync` of `paths` at `now`; checks the exit code, returns the
    /// report and stderr.
    fn sync(
        &self,
        now: &str,
        paths: &[&Path],
        extra: &[&str],
        code: i32,
    ) -> (serde_json::Value, String) {
        let r = self.tmp.path().join(format!("r-{}.json", rand_suffix()));
        let mut args = vec![
            "sync".to_string(),
            "--config".into(),
            self.config.clone(),
            "--now".into(),
            now.into(),
            "--report".into(),
            s(&r),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(paths.iter().map(|p| s(p)));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, err) = aaf_sync_ok(&a, code);
        (report(&r), err)
    }
    /// A copy of the first Complet, delivered on `date`.
    fn copy(&self, name: &str, date: &str) -> PathBuf {
        let d = self.tmp.path().join(name);
        copy_extraction(&self.c1, &d, date);
        d
    }
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// entryCSNs of the tree but the run lock and the control entry (which
/// records each extraction applied).
fn data_csns(l: &Slapd) -> std::collections::BTreeMap<String, String> {
    let mut m = csns(l);
    m.retain(|dn, _| !dn.starts_with("cn=aaf-sync-"));
    m
}

fn set_password(l: &Slapd, dn: &str, pw: &str) {
    l.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}\n"
    ));
}

fn rejected_fields(r: &serde_json::Value) -> Vec<(String, String)> {
    r["steps"][0]["rejected_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or("").to_string(),
                e["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_record_present_but_rejected_is_kept_exactly_as_it_is() {
    let f = fixture(2, 20, "");
    let staff = record_ids(&f.c1, "PersEducNat");
    let pupils = record_ids(&f.c1, "Eleve");
    let parents = record_ids(&f.c1, "PersRelEleve");
    // the ENT set passwords
    set_password(&f.ldap, &person_dn(&staff[0]), "staff-pw");
    set_password(&f.ldap, &person_dn(&pupils[0]), "pupil-pw");
    let before = data_csns(&f.ldap);

    // a week later, the same people, with damaged records
    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "PersEducNat", |n, rec| {
        if n == 0 {
            // ENTPersonJointure differs from <id>
            let from = format!(
                "<attr name=\"ENTPersonJointure\"><value>{}</value>",
                staff[0]
            );
            assert!(replace_bytes(
                rec,
                from.as_bytes(),
                b"<attr name=\"ENTPersonJointure\"><value>999999</value>"
            ));
        }
    });
    edit_records(&c2, "Eleve", |n, rec| match n {
        // a value over the limit
        0 => {
            let at = b"<attr name=\"ENTPersonPrenom\"><value>";
            let big = format!(
                "<attr name=\"ENTPersonPrenom\"><value>{}",
                "A".repeat(70_000)
            );
            assert!(replace_bytes(rec, at, big.as_bytes()));
        }
        // an element the format does not have
        1 => assert!(replace_bytes(rec, b"<attributes>", b"<attributes><bogus/>")),
        // more classes than a pupil has
        2 => {
            let many: String = (0..12)
                .map(|i| format!("<value>x$1$1$C{i}$C{i}</value>"))
                .collect();
            let at = b"<attr name=\"ENTPersonClasses\">";
            let with = format!("<attr name=\"ENTPersonClasses\">{many}");
            assert!(replace_bytes(rec, at, with.as_bytes()));
        }
        _ => {}
    });
    edit_records(&c2, "PersRelEleve", |n, rec| {
        if n == 0 {
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTPersonPrenom\"><value>",
                b"<attr name=\"ENTPersonPrenom\"><value>\x1b"
            ));
        }
    });
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 1);
    assert_eq!(r["outcome"], "rejected_records", "{err}");
    let mut got = rejected_fields(&r);
    got.sort();
    let mut want = vec![
        (staff[0].clone(), "ENTPersonJointure".to_string()),
        (pupils[0].clone(), "ENTPersonPrenom".to_string()),
        (pupils[1].clone(), "".to_string()),
        (pupils[2].clone(), "ENTPersonClasses".to_string()),
        (parents[0].clone(), "ENTPersonPrenom".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "{err}");
    assert_eq!(
        r["steps"][0]["protected_ids"], 6,
        "staff tied twice: <id> and jointure"
    );
    assert!(
        r["steps"][0]["lifecycle"]["departed"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{err}"
    );
    assert!(err.contains("kept exactly as they are"), "{err}");
    // nobody departed, disabled, deleted or modified: not one entry written
    assert_eq!(data_csns(&f.ldap), before, "{err}");
    assert!(f.ldap.can_bind(&person_dn(&staff[0]), "staff-pw"));
    assert!(f.ldap.can_bind(&person_dn(&pupils[0]), "pupil-pw"));
    // and no value reached the report
    assert!(!err.contains("AAAAAAAA"));
}

#[test]
fn a_record_without_a_readable_id_holds_the_departures_it_cannot_disprove() {
    let f = fixture(2, 20, "");
    let pupils = record_ids(&f.c1, "Eleve");
    let c2 = f.copy("c2", "20250911");
    // pupil 5 really left; pupil 0's record lost its id and jointure
    drop_records(&c2, "Eleve", |i| i != 5);
    edit_records(&c2, "Eleve", |n, rec| {
        if n == 0 {
            let id = format!("<id>{}</id>", pupils[0]);
            assert!(replace_bytes(rec, id.as_bytes(), b"<id>\x07</id>"));
            let j = format!("<value>{}</value>", pupils[0]);
            assert!(replace_bytes(rec, j.as_bytes(), b"<value/>"));
        }
    });
    let before = data_csns(&f.ldap);
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 2);
    assert_eq!(r["outcome"], "held");
    assert!(
        err.contains("1 record(s) were rejected without a readable id (1 Eleve)"),
        "{err}"
    );
    assert!(err.contains("would leave, but"), "{err}");
    assert_eq!(data_csns(&f.ldap), before, "nothing written");
    // the operator reviews and approves: the departures apply
    let (r, err) = f.sync("2025-09-11", &[&c2], &["--allow-mass-departure"], 1);
    let departed = &r["steps"][0]["lifecycle"]["departed"]["Eleve"];
    assert_eq!(departed.as_array().unwrap().len(), 2, "{err}");
}

#[test]
fn many_rejected_records_hold_the_run() {
    let f = fixture(2, 20, "");
    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "Eleve", |n, rec| {
        if n % 3 == 0 {
            assert!(replace_bytes(rec, b"<attributes>", b"<attributes><bogus/>"));
        }
    });
    let before = data_csns(&f.ldap);
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 2);
    assert_eq!(r["outcome"], "held");
    assert!(
        err.contains("14 Eleve records rejected, out of 40 (limit 10%)"),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before);
}

#[test]
fn one_bad_byte_never_garbles_a_file() {
    // parents: UTF-8 declared ISO-8859-15; schools: UTF-8 declared UTF-8
    let enc = [
        GenEncoding::Utf8,
        GenEncoding::Utf8,
        GenEncoding::Utf8DeclaredLatin9,
        GenEncoding::Utf8,
    ];
    let f = fixture_enc(2, 40, "", enc);
    let parents = record_ids(&f.c1, "PersRelEleve");
    let schools = record_ids(&f.c1, "EtabEducNat");
    let names = |l: &Slapd| {
        l.entries(
            BASE,
            "(|(objectClass=ENTPerson)(objectClass=ENTStructure))",
            &["sn", "givenName", "cn", "ENTStructureNomCourant"],
        )
    };
    let before_names = names(&f.ldap);
    let before = data_csns(&f.ldap);
    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "PersRelEleve", |n, rec| {
        if n == 3 {
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTPersonPrenom\"><value>",
                b"<attr name=\"ENTPersonPrenom\"><value>Z\xff"
            ));
        }
    });
    edit_records(&c2, "EtabEducNat", |n, rec| {
        if n == 0 {
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTStructureNomCourant\"><value>",
                b"<attr name=\"ENTStructureNomCourant\"><value>\xe9"
            ));
        }
    });
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 1);
    let mut got = rejected_fields(&r);
    got.sort();
    let mut want = vec![
        (parents[3].clone(), "ENTPersonPrenom".to_string()),
        (schools[0].clone(), "ENTStructureNomCourant".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "{err}");
    assert!(
        err.contains("a byte sequence invalid in the file's encoding"),
        "{err}"
    );
    let files = r["steps"][0]["extraction"]["files"].as_array().unwrap();
    let parent_file = files
        .iter()
        .find(|x| x["category"] == "PersRelEleve")
        .unwrap();
    assert_eq!(parent_file["encoding"]["encoding"], "UTF-8");
    assert_eq!(parent_file["encoding"]["invalid_sequences"], 1);
    assert_eq!(names(&f.ldap), before_names, "no name changed");
    assert_eq!(data_csns(&f.ldap), before, "nothing written");
}

#[test]
fn a_file_read_in_the_wrong_encoding_is_held_as_mass_renames() {
    let f = fixture(2, 40, "");
    // forcing Latin-9 on UTF-8 files: every accented name would change
    let forced = f.config.replace(".toml", "-latin9.toml");
    let text = std::fs::read_to_string(&f.config).unwrap().replace(
        "[source]\nname = \"AC-CRETEIL\"\n",
        "[source]\nname = \"AC-CRETEIL\"\nencoding = \"windows-1252\"\n",
    );
    std::fs::write(&forced, text).unwrap();
    let before = data_csns(&f.ldap);
    let c2 = f.copy("c2", "20250911");
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &forced, "--now", "2025-09-11", &s(&c2)],
        2,
    );
    // the records whose names would be garbled are rejected as such, and
    // so many rejected records hold the run
    assert!(
        err.contains("UTF-8 text in a file read as windows-1252"),
        "{err}"
    );
    assert!(err.contains("records rejected, out of"), "{err}");
    assert_eq!(data_csns(&f.ldap), before);
    // names garbled in ways the reader cannot see (a Latin-9 file whose
    // accents all fall on other letters) are still held as mass renames
    let c3 = f.copy("c3", "20250912");
    for cat in ["Eleve", "PersRelEleve", "PersEducNat"] {
        edit_records(&c3, cat, |_, rec| {
            let t = String::from_utf8(rec.clone()).unwrap();
            let t = t.replace('é', "è").replace('É', "È");
            *rec = t.into_bytes();
        });
    }
    let (_, err) = f.sync("2025-09-12", &[&c3], &[], 2);
    assert!(err.contains("would be renamed out of"), "{err}");
    assert!(err.contains("a file read in the wrong encoding?"), "{err}");
    assert_eq!(data_csns(&f.ldap), before);
}

/// A hand-made Complet whose ids and class codes are full of the characters
/// DNs escape.
fn special_extraction(dir: &Path, date: &str) {
    let school = req(
        "EtabEducNat",
        "100",
        &[
            ("ENTStructureJointure", &["100"]),
            ("ENTStructureUAI", &["0920100J"]),
            ("ENTStructureNomCourant", &["ECOLE"]),
        ],
    );
    let ids = [
        "9,ou=x",
        "9+cn=x",
        "9=x",
        "9\\x",
        "9#x",
        "9&lt;&gt;;x",
        "9 \"q\"",
    ];
    let mut pupils = String::new();
    let mut parents = String::new();
    for (i, id) in ids.iter().enumerate() {
        let pid = format!("P{i},x");
        pupils += &req(
            "Eleve",
            id,
            &[
                ("ENTPersonJointure", &[id]),
                ("ENTPersonNom", &[&format!("NOM{i}")]),
                ("ENTPersonPrenom", &["Zoé"]),
                ("ENTPersonStructRattach", &["100"]),
                ("ENTEleveAutoriteParentale", &[&format!("{pid}$10")]),
                ("ENTPersonClasses", &["100$1$1$CM1+CM2 é,A$CM1 CM2"]),
                ("ENTPersonGroupes", &["100$1$1$G=1;x&quot;y$Chorale"]),
            ],
        );
        parents += &req(
            "PersRelEleve",
            &pid,
            &[
                ("ENTPersonJointure", &[&pid]),
                ("ENTPersonNom", &[&format!("PARENT{i}")]),
                ("ENTPersRelEleveEleve", &[id]),
            ],
        );
    }
    let staff = req(
        "PersEducNat",
        "T+1",
        &[
            ("ENTPersonJointure", &["T+1"]),
            ("ENTPersonNom", &["MAITRE"]),
            ("ENTPersonStructRattach", &["100"]),
            ("ENTPersonFonctions", &["100$ENS$ENSEIGNEMENT$-$-"]),
            ("ENTPersonClasses", &["100$1$1$CM1+CM2 é,A$CM1 CM2"]),
        ],
    );
    write_extraction_files(
        dir,
        "Complet",
        date,
        &[
            ("EtabEducNat", school),
            ("Eleve", pupils),
            ("PersRelEleve", parents),
            ("PersEducNat", staff),
        ],
    );
}

#[test]
fn ids_with_dn_special_characters_are_stable() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = s(&ldap.config(tmp.path(), &["0920100J".to_string()], ""));
    let x = tmp.path().join("x");
    special_extraction(&x, "20250904");
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&x)], 0);
    assert!(err.contains("Eleve         mapped       7"), "{err}");
    let class = ldap.entries(BASE, "(objectClass=ENTClasse)", &["member", "cn"]);
    assert_eq!(class.len(), 1, "{class:?}");
    let members = &class.values().next().unwrap()["member"];
    assert_eq!(members.len(), 8, "7 pupils and the teacher: {members:?}");
    let parents = ldap.entries(
        BASE,
        "(objectClass=ENTAuxPersRelEleve)",
        &["ENTAuxPersRelEleveEleve"],
    );
    assert_eq!(parents.len(), 7);
    assert!(
        parents
            .values()
            .all(|p| p.get("entauxpersreleleveeleve").map(Vec::len) == Some(1)),
        "{parents:#?}\n{err}"
    );
    // a second and a third run write nothing; --check is in step
    let before = csns(&ldap);
    for _ in 0..2 {
        let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&x)], 0);
        assert!(err.contains("changes planned: 0"), "{err}");
    }
    assert_eq!(csns(&ldap), before);
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", NOW, "--check", &s(&x)],
        0,
    );

    // a Delta naming them: modified in place, never re-added
    let d = tmp.path().join("d");
    write_extraction_files(
        &d,
        "Delta",
        "20250905",
        &[(
            "Eleve",
            modify_req("Eleve", "9,ou=x", &[("ENTPersonNom", &["RENOMME"])]),
        )],
    );
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-05", &s(&d)],
        0,
    );
    assert!(
        err.contains("changes planned: 2"),
        "the pupil and the control entry: {err}"
    );
    let e = ldap.entries(BASE, "(ENTPersonJointure=AC-CRETEIL$9,ou=x)", &["sn"]);
    assert_eq!(e.values().next().unwrap()["sn"], vec!["RENOMME"]);
    let before = csns(&ldap);
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-05", &s(&d)],
        0,
    );
    assert_eq!(csns(&ldap), before);

    // an id that cannot make a stable RDN is refused with a clear message
    let y = tmp.path().join("y");
    special_extraction(&y, "20250906");
    std::fs::write(
        y.join("ENT1D_Complet_20250906_Eleve_0000.xml"),
        std::fs::read_to_string(y.join("ENT1D_Complet_20250906_Eleve_0000.xml"))
            .unwrap()
            .replace("<id>9=x</id>", "<id>9$x</id>"),
    )
    .unwrap();
    let (_, err) = aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-06", &s(&y)],
        1,
    );
    assert!(err.contains("id holding '$'"), "{err}");
}

#[test]
fn control_characters_and_entities_never_reach_the_directory() {
    let f = fixture(2, 20, "");
    let pupils = record_ids(&f.c1, "Eleve");
    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "Eleve", |n, rec| {
        let to: &[u8] = match n {
            0 => b"<attr name=\"ENTPersonNom\"><value>A\x00B",
            1 => b"<attr name=\"ENTPersonNom\"><value>A\x1bB",
            2 => b"<attr name=\"ENTPersonNom\"><value>A\x07B",
            3 => b"<attr name=\"ENTPersonNom\"><value>A&#x1B;&#7;B",
            4 => b"<attr name=\"ENTPersonNom\"><value>&lol9;",
            5 => b"<attr name=\"ENTPersonNom\"><value>&xxe;",
            _ => return,
        };
        assert!(replace_bytes(
            rec,
            b"<attr name=\"ENTPersonNom\"><value>",
            to
        ));
    });
    // the entities are declared (a billion laughs, an external entity)
    for e in std::fs::read_dir(&c2).unwrap() {
        let p = e.unwrap().path();
        if p.to_str().unwrap().contains("_Eleve_") {
            let text = std::fs::read(&p).unwrap();
            let head = b"<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">";
            let decl: &[u8] = b"<!DOCTYPE ficAlimMENESR [<!ENTITY lol \"lol\"><!ENTITY lol9 \"&lol;&lol;&lol;\"><!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>";
            let mut t = text.clone();
            assert!(replace_bytes(&mut t, head, decl));
            std::fs::write(&p, t).unwrap();
        }
    }
    let before = data_csns(&f.ldap);
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 1);
    let got: Vec<String> = rejected_fields(&r).into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, pupils[..6].to_vec(), "{err}");
    assert_eq!(data_csns(&f.ldap), before, "nothing written");
    for (dn, a, v) in all_values(&f.ldap) {
        assert!(
            !v.chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
            "{dn} {a} holds a control character"
        );
        assert!(!v.contains("root:") && !v.contains("&lol"), "{dn} {a}");
    }
}

#[test]
fn squatters_are_never_adopted_nor_linked() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen_with(&c1, "20250904", 2, 20, [GenEncoding::Utf8; 4]);
    let config = s(&ldap.config(tmp.path(), &g.uai_inside, ""));
    let pupils = record_ids(&c1, "Eleve");
    let squat = person_dn(&pupils[0]);
    ldap.modify(&format!(
        "dn: {squat}\nchangetype: add\nobjectClass: inetOrgPerson\nsn: SQUATTER\ncn: SQUATTER\n"
    ));
    let squat_before = ldap.entry(&squat);
    let r = tmp.path().join("r.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            NOW,
            "--report",
            &s(&r),
            &s(&c1),
        ],
        3,
    );
    let rep = report(&r);
    assert_eq!(rep["outcome"], "partial");
    let conflicts = rep["steps"][0]["settle"]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{err}");
    assert_eq!(conflicts[0]["dn"], squat.as_str());
    assert_eq!(err.matches(&squat).count(), 1, "reported once: {err}");
    assert!(err.contains("NOT in step"), "{err}");
    // nothing links to it, and it is left as it was
    let key = squat.to_lowercase();
    for (dn, a, v) in all_values(&ldap) {
        if dn != key {
            assert!(
                !v.to_lowercase().starts_with(&key),
                "{dn} {a} links to the squatter"
            );
        }
    }
    let mut now = ldap.entry(&squat);
    let mut was = squat_before.clone();
    for m in [&mut now, &mut was] {
        m.remove("modifytimestamp");
        m.remove("entrycsn");
    }
    assert_eq!(now, was);
    let ctl = ldap.entry(&format!("cn=aaf-sync-AC-CRETEIL,{BASE}"));
    assert_eq!(ctl["aafsyncnotinstep"], vec!["ENT1D_Complet_20250904"]);
    assert!(
        !ctl.contains_key("aafsyncappliedextraction"),
        "not recorded as applied"
    );
    let (st, _) = aaf_sync_ok(&["status", "--config", &config], 0);
    assert!(st.contains("NOT in step"), "{st}");

    // again: still left out, nothing else written
    let before = data_csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 3);
    assert_eq!(data_csns(&ldap), before);

    // the squatter removed: the same extraction converges
    ldap.modify(&format!("dn: {squat}\nchangetype: delete\n"));
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    let e = ldap.entry(&squat);
    assert_eq!(
        e["entpersonjointure"],
        vec![format!("AC-CRETEIL${}", pupils[0])]
    );
    let classes = ldap.entries(BASE, "(objectClass=ENTClasse)", &["member"]);
    assert!(
        classes
            .values()
            .any(|c| c["member"].iter().any(|m| m.to_lowercase() == key)),
        "{err}"
    );
    let ctl = ldap.entry(&format!("cn=aaf-sync-AC-CRETEIL,{BASE}"));
    assert!(!ctl.contains_key("aafsyncnotinstep"));
    assert_eq!(
        ctl["aafsyncappliedextraction"],
        vec!["ENT1D_Complet_20250904"]
    );
}

/// Gives `cn=sync` every right but on `denied` (the entry cannot be added).
fn restricted_account(l: &Slapd, denied: &str) {
    l.modify(&format!(
        "dn: cn=sync,{BASE}\nchangetype: add\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: sync\nuserPassword: sync-pw\n"
    ));
    l.config_modify(
        &format!(
            "dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\nolcAccess: {{1}}to dn.exact=\"{denied}\" by * read\nolcAccess: {{2}}to * by dn.exact=\"cn=sync,{BASE}\" manage by * break\n"
        ),
    );
}

#[test]
fn failed_operations_are_counted_apart_unlinked_and_retried() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = gen_with(&c1, "20250904", 2, 20, [GenEncoding::Utf8; 4]);
    let pupils = record_ids(&c1, "Eleve");
    let denied = person_dn(&pupils[0]);
    restricted_account(&ldap, &denied);
    let metrics = tmp.path().join("m.prom");
    let config = ldap.config(
        tmp.path(),
        &g.uai_inside,
        &format!("[monitoring]\nmetrics_file = \"{}\"\n", metrics.display()),
    );
    // bind as cn=sync
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("bind_dn = \"{ADMIN}\""),
        &format!("bind_dn = \"cn=sync,{BASE}\""),
    );
    std::fs::write(&config, text).unwrap();
    std::fs::write(tmp.path().join("ldap.secret"), "sync-pw\n").unwrap();
    let config = s(&config);
    let r = tmp.path().join("r.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            NOW,
            "--report",
            &s(&r),
            &s(&c1),
        ],
        3,
    );
    let rep = report(&r);
    assert_eq!(rep["outcome"], "partial");
    let a = &rep["steps"][0]["applied"];
    assert_eq!(a["failures"].as_array().unwrap().len(), 1, "{err}");
    assert_eq!(a["failures"][0]["dn"], denied.as_str());
    let planned = a["planned"].as_u64().unwrap();
    let done: u64 = a["done"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(done + 1 + a["not_attempted"].as_u64().unwrap(), planned);
    assert!(
        err.contains(&format!(
            "operations: {done} done, 1 failed, 0 not attempted (of {planned} planned)"
        )),
        "{err}"
    );
    // nothing points at the pupil that is not there
    let key = denied.to_lowercase();
    for (dn, attr, v) in all_values(&ldap) {
        assert!(
            !v.to_lowercase().starts_with(&key),
            "{dn} {attr} links to the missing pupil"
        );
    }
    let ctl = ldap.entry(&format!("cn=aaf-sync-AC-CRETEIL,{BASE}"));
    assert_eq!(ctl["aafsyncnotinstep"], vec!["ENT1D_Complet_20250904"]);
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(m.contains("aaf_sync_in_step{command=\"sync\"} 0"), "{m}");
    assert!(
        m.contains("aaf_sync_last_run_exit_code{command=\"sync\"} 3"),
        "{m}"
    );

    // the right granted: the same extraction again converges
    ldap.config_modify(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcAccess\nolcAccess: {1}\n",
    );
    let (_, err) = aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    let e = ldap.entry(&denied);
    assert!(e.contains_key("entpersonlogin"), "{err}");
    let classes = ldap.entries(BASE, "(objectClass=ENTClasse)", &["member"]);
    assert!(classes
        .values()
        .any(|c| c["member"].iter().any(|m| m.to_lowercase() == key)));
    let parents = ldap.entries(
        BASE,
        "(objectClass=ENTAuxPersRelEleve)",
        &["ENTAuxPersRelEleveEleve"],
    );
    assert!(parents.values().any(|p| p["entauxpersreleleveeleve"]
        .iter()
        .any(|m| m.to_lowercase() == key)));
    let ctl = ldap.entry(&format!("cn=aaf-sync-AC-CRETEIL,{BASE}"));
    assert!(!ctl.contains_key("aafsyncnotinstep"));
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(m.contains("aaf_sync_in_step{command=\"sync\"} 1"), "{m}");
    let before = csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, "--now", NOW, &s(&c1)], 0);
    assert_eq!(data_csns(&ldap), {
        let mut b = before;
        b.retain(|dn, _| !dn.starts_with("cn=aaf-sync-"));
        b
    });
}

#[test]
fn rails_watch_class_changes_and_records_over_the_limits() {
    let f = fixture(2, 20, "");
    // every pupil changes class in November: held
    let c2 = f.copy("c2", "20251106");
    for cat in ["Eleve", "PersEducNat"] {
        edit_records(&c2, cat, |_, rec| rename_classes(rec));
    }
    let before = data_csns(&f.ldap);
    let (_, err) = f.sync("2025-11-06", &[&c2], &[], 2);
    assert!(
        err.contains("Eleve would be modified out of 40 active (limit 30%)"),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before);
    // at the school-year start, the same changes go through
    let c3 = f.tmp.path().join("c3");
    copy_extraction(&c2, &c3, "20260901");
    let (r, err) = f.sync("2026-09-01", &[&c3], &[], 0);
    assert_eq!(r["steps"][0]["school_year_rebuild"], 2026, "{err}");

    // one record with 4000 classes: rejected, not one class created
    let c4 = f.tmp.path().join("c4");
    copy_extraction(&c3, &c4, "20260908");
    edit_records(&c4, "Eleve", |n, rec| {
        if n == 0 {
            let many: String = (0..4000)
                .map(|i| format!("<value>x$1$1$K{i}$K</value>"))
                .collect();
            let with = format!("<attr name=\"ENTPersonClasses\">{many}");
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTPersonClasses\">",
                with.as_bytes()
            ));
        }
    });
    let classes_before = f.ldap.count(BASE, "(objectClass=ENTClasse)");
    let (_, err) = f.sync("2026-09-08", &[&c4], &[], 1);
    assert!(
        err.contains("ENTPersonClasses: 4001 values, more than the 8 one Eleve record may carry ([safety.record] pupil_classes)"),
        "{err}"
    );
    assert_eq!(
        f.ldap.count(BASE, "(objectClass=ENTClasse)"),
        classes_before
    );
}

/// Gives every class of a record a new code (`sid$…$…$code$label`).
fn rename_classes(rec: &mut Vec<u8>) {
    let t = String::from_utf8(rec.clone()).unwrap();
    let open = "<attr name=\"ENTPersonClasses\">";
    let Some(a) = t.find(open) else { return };
    let body0 = a + open.len();
    let body1 = t[body0..].find("</attr>").unwrap() + body0;
    let body = t[body0..body1]
        .split("<value>")
        .map(|chunk| match chunk.split_once("</value>") {
            Some((v, rest)) => {
                let mut parts: Vec<String> = v.split('$').map(str::to_string).collect();
                if parts.len() > 3 {
                    parts[3] = format!("NEW{}", parts[3]);
                }
                format!("<value>{}</value>{rest}", parts.join("$"))
            }
            None => chunk.to_string(),
        })
        .collect::<String>();
    *rec = format!("{}{}{}", &t[..body0], body, &t[body1..]).into_bytes();
}

/// The acceptance run: a generated Complet of about 100k entries,
/// loaded with `export-ldif` + `slapadd -q`, then the same Complet with 1%
/// of its records damaged in each of the ways above: nobody departs, not
/// one entry is written (no name garbled), and a re-run writes nothing.
#[test]
fn a_hundred_thousand_entries_with_damaged_records_lose_nothing() {
    let ldap = Slapd::start_empty();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 400,
            pupils_per_school: 100,
            schools_outside: 0,
            part_size: 20_000,
            ..Default::default()
        },
        &c1,
    )
    .unwrap();
    let config = s(&ldap.config(tmp.path(), &g.uai_inside, ""));
    let ldif = tmp.path().join("init.ldif");
    aaf_sync_ok(
        &[
            "export-ldif",
            "--config",
            &config,
            "--now",
            NOW,
            "--with-base",
            "--out",
            &s(&ldif),
            &s(&c1),
        ],
        0,
    );
    ldap.stop();
    ldap.slapadd(&ldif);
    ldap.restart();
    let total = ldap.count(BASE, "(objectClass=*)");
    assert!(total > 100_000, "{total} entries");
    let r = tmp.path().join("r1.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            NOW,
            "--report",
            &s(&r),
            &s(&c1),
        ],
        0,
    );
    let before = data_csns(&ldap);

    let c2 = tmp.path().join("c2");
    copy_extraction(&c1, &c2, "20250911");
    let mut damaged = 0usize;
    for cat in ["Eleve", "PersRelEleve", "PersEducNat"] {
        edit_records(&c2, cat, |n, rec| {
            // one way per record, 1% of the records for each way
            let way = match n % 100 {
                w @ 0..=7 => w,
                _ => return,
            };
            let done = match way {
                0 => replace_bytes(
                    rec,
                    b"<attr name=\"ENTPersonJointure\"><value>",
                    b"<attr name=\"ENTPersonJointure\"><value>X",
                ),
                1 => {
                    let big = format!("<attr name=\"ENTPersonNom\"><value>{}", "N".repeat(70_000));
                    replace_bytes(rec, b"<attr name=\"ENTPersonNom\"><value>", big.as_bytes())
                }
                2 => replace_bytes(rec, b"<attributes>", b"<attributes><unexpected/>"),
                3 => replace_bytes(
                    rec,
                    b"<attr name=\"ENTPersonNom\"><value>",
                    b"<attr name=\"ENTPersonNom\"><value>\x85",
                ),
                4 => replace_bytes(
                    rec,
                    b"<attr name=\"ENTPersonNom\"><value>",
                    b"<attr name=\"ENTPersonNom\"><value>\x1b",
                ),
                5 => replace_bytes(
                    rec,
                    b"<attr name=\"ENTPersonNom\"><value>",
                    b"<attr name=\"ENTPersonNom\"><value>&#x7;",
                ),
                6 => replace_bytes(
                    rec,
                    b"<attr name=\"ENTPersonNom\"><value>",
                    b"<attr name=\"ENTPersonNom\"><value>&xxe;",
                ),
                _ => {
                    let many: String = (0..200)
                        .map(|i| format!("<value>x$1$1$K{i}$K</value>"))
                        .collect();
                    let with = format!("<attr name=\"ENTPersonJointure\">{many}");
                    let attr = if cat == "PersRelEleve" {
                        "ENTPersRelEleveEleve"
                    } else {
                        "ENTPersonClasses"
                    };
                    let with = with.replace("ENTPersonJointure", attr);
                    replace_bytes(
                        rec,
                        format!("<attr name=\"{attr}\">").as_bytes(),
                        with.as_bytes(),
                    )
                }
            };
            if done {
                damaged += 1;
            }
        });
    }
    assert!(damaged > 1000, "{damaged}");
    let r = tmp.path().join("r2.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &config,
            "--now",
            "2025-09-11",
            "--report",
            &s(&r),
            &s(&c2),
        ],
        1,
    );
    let rep = report(&r);
    let rejected = rep["steps"][0]["rejected_records"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(rejected, damaged, "{err}");
    assert!(
        rep["steps"][0]["lifecycle"]["departed"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{err}"
    );
    assert_eq!(data_csns(&ldap), before, "not one entry written: {err}");
    // and again: nothing
    aaf_sync_ok(
        &["sync", "--config", &config, "--now", "2025-09-11", &s(&c2)],
        1,
    );
    assert_eq!(data_csns(&ldap), before);
}

/// What a delivery leaves out must never read as people leaving: a part
/// missing in the middle, a file its bordereau does not list, or pupils
/// whose school the extraction does not describe. Each refuses or rejects
/// with a message naming what is missing, and the tree is not touched.
#[test]
fn what_a_delivery_leaves_out_is_never_read_as_departures() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let g = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 2,
            pupils_per_school: 20,
            schools_outside: 0,
            part_size: 15,
            encodings: [GenEncoding::Utf8; 4],
            ..Default::default()
        },
        &c1,
    )
    .unwrap();
    let config = s(&ldap.config(tmp.path(), &g.uai_inside, ""));
    let f = Fixture {
        ldap,
        tmp,
        config,
        c1,
    };
    aaf_sync_ok(&["sync", "--config", &f.config, "--now", NOW, &s(&f.c1)], 0);
    let before = data_csns(&f.ldap);
    let part = |dir: &Path, n: u32| dir.join(format!("ENT1D_Complet_20250905_Eleve_{n:04}.xml"));

    // a part missing in the middle
    let c2 = f.copy("c2", "20250905");
    assert!(part(&c2, 2).exists(), "three Eleve parts expected");
    std::fs::remove_file(part(&c2, 1)).unwrap();
    let (_, err) = f.sync("2025-09-05", &[&c2], &[], 2);
    assert!(
        err.contains("ENT1D_Complet_20250905: Eleve part 0001 missing: refused"),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before);

    // the last part delivered but left out of the bordereau
    let c3 = f.copy("c3", "20250905");
    let mut listed: Vec<PathBuf> = std::fs::read_dir(&c3)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| *p != part(&c3, 2))
        .collect();
    listed.sort();
    std::fs::write(c3.join("bordereau.txt"), bordereau_for(&listed)).unwrap();
    let (_, err) = f.sync("2025-09-05", &[&c3], &[], 2);
    assert!(
        err.contains(
            "ENT1D_Complet_20250905_Eleve_0002.xml: delivered with its extraction but not listed by its bordereau"
        ),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before);

    // a pupil whose every structure reference names a school the
    // extraction does not describe: rejected, kept as they are
    let c4 = f.copy("c4", "20250905");
    let mut victim = String::new();
    edit_records(&c4, "Eleve", |n, rec| {
        if n == 3 {
            let t = String::from_utf8(rec.clone()).unwrap();
            let open = "<attr name=\"ENTPersonStructRattach\"><value>";
            let a = t.find(open).unwrap() + open.len();
            let sid = &t[a..a + t[a..].find('<').unwrap()];
            let i = t.find("<id>").unwrap() + 4;
            victim = t[i..i + t[i..].find('<').unwrap()].to_string();
            *rec = t
                .replace(&format!(">{sid}<"), ">999999<")
                .replace(&format!(">{sid}$"), ">999999$")
                .into_bytes();
        }
    });
    let (r, err) = f.sync("2025-09-05", &[&c4], &[], 1);
    assert_eq!(
        rejected_fields(&r),
        vec![(victim.clone(), "ENTPersonStructRattach".to_string())],
        "{err}"
    );
    assert!(
        err.contains("refers only to structure ids the extraction does not describe"),
        "{err}"
    );
    assert!(
        r["steps"][0]["lifecycle"]["departed"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before, "{err}");
}

/// A few records naming many new classes each stay within their own
/// limits but would add classes by the dozen: held, then applied on the
/// school-year Complet.
#[test]
fn a_flood_of_new_classes_is_held() {
    let f = fixture(2, 20, "");
    let classes = f.ldap.count(BASE, "(objectClass=ENTClasse)");
    let c2 = f.copy("c2", "20251106");
    edit_records(&c2, "PersEducNat", |n, rec| {
        if n < 4 {
            let t = String::from_utf8(rec.clone()).unwrap();
            let open = "<attr name=\"ENTPersonStructRattach\"><value>";
            let a = t.find(open).unwrap() + open.len();
            let sid = t[a..a + t[a..].find('<').unwrap()].to_string();
            let many: String = (0..6)
                .map(|i| format!("<value>{sid}$1$1$F{n}K{i}$F{n}K{i}</value>"))
                .collect();
            *rec = t
                .replace(
                    "</attributes>",
                    &format!("<attr name=\"ENTPersonGroupes\">{many}</attr></attributes>"),
                )
                .into_bytes();
        }
    });
    let before = data_csns(&f.ldap);
    let (_, err) = f.sync("2025-11-06", &[&c2], &[], 2);
    assert!(
        err.contains("24 classes and groups would be added to"),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before);
    assert_eq!(f.ldap.count(BASE, "(objectClass=ENTClasse)"), classes);
    // the school-year Complet builds the classes of the year
    let c3 = f.tmp.path().join("c3");
    copy_extraction(&c2, &c3, "20260901");
    f.sync("2026-09-01", &[&c3], &[], 0);
    let groups = f.ldap.count(BASE, "(objectClass=ENTGroupe)");
    assert!(groups >= 24, "{groups}");
}

/// Every DN-valued link of every person names an entry that exists.
fn dangling(l: &Slapd) -> Vec<String> {
    let attrs = [
        "ENTEleveParents",
        "ENTAuxPersRelEleveEleve",
        "ENTEleveAutoriteParentale",
    ];
    let mut out = Vec::new();
    for (dn, e) in l.entries(BASE, "(objectClass=ENTPerson)", &attrs) {
        for a in attrs {
            for v in e.get(&a.to_lowercase()).into_iter().flatten() {
                let target = v.split('$').next().unwrap_or(v);
                if !l.exists_dn(target) {
                    out.push(format!("{dn} {a}: {target}"));
                }
            }
        }
    }
    out
}

/// A parent whose record is rejected (kept as they are) while their pupil
/// leaves: the parent's link follows the pupil to the departed branch.
/// A pupil leaving whose departed DN an entry of someone else holds: the
/// move fails and says why, and the pupil's departing parent is never
/// linked to that entry. No link names a DN that does not exist.
#[test]
fn links_follow_departures_from_kept_entries_and_never_name_a_squatter() {
    let f = fixture(1, 20, "[safety]\nmax_departures_percent = 100.0\n");
    // parents of one pupil each, and that pupil
    let parents = f.ldap.entries(
        &format!("ou=people,{BASE}"),
        "(objectClass=ENTAuxPersRelEleve)",
        &["ENTAuxPersRelEleveEleve", "ENTPersonJointure"],
    );
    let single: Vec<(String, String, String)> = parents
        .iter()
        .filter_map(|(dn, a)| {
            let pupils = a.get("entauxpersreleleveeleve")?;
            let id = a.get("entpersonjointure")?[0]
                .split('$')
                .nth(1)?
                .to_string();
            (pupils.len() == 1).then(|| (dn.clone(), id, pupils[0].clone()))
        })
        .collect();
    assert!(single.len() >= 2, "{parents:?}");
    let pupil_ids = record_ids(&f.c1, "Eleve");
    let id_of = |dn: &str| {
        pupil_ids
            .iter()
            .position(|i| person_dn(i).eq_ignore_ascii_case(dn))
            .unwrap()
    };
    // two parents of two different pupils
    let (p_kept, p_kept_id, e_gone) = single[0].clone();
    let (_, _, e_squatted) = single
        .iter()
        .find(|(_, _, e)| !e.eq_ignore_ascii_case(&e_gone))
        .cloned()
        .unwrap();
    let (gone_n, squatted_n) = (id_of(&e_gone), id_of(&e_squatted));
    let squat_dn = e_squatted
        .to_lowercase()
        .replace(",ou=people,", ",ou=departed,");
    f.ldap.add(&format!(
        "dn: {squat_dn}\nobjectClass: inetOrgPerson\ncn: someone\nsn: else\n\
         uid: {}\n",
        aaf_sync::model::Dn::new(&e_squatted)
            .as_str()
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("uid=")
    ));
    let squat_before = f.ldap.entry(&squat_dn);

    let c2 = f.copy("c2", "20250911");
    assert_eq!(
        drop_records(&c2, "Eleve", |n| n != gone_n && n != squatted_n),
        2
    );
    let parent_ids = record_ids(&c2, "PersRelEleve");
    let kept_n = parent_ids.iter().position(|i| *i == p_kept_id).unwrap();
    edit_records(&c2, "PersRelEleve", |n, rec| {
        if n == kept_n {
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTPersonPrenom\"><value>",
                b"<attr name=\"ENTPersonPrenom\"><value>\x07"
            ));
        }
    });
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 3);
    assert_eq!(r["outcome"], "partial", "{err}");
    assert!(
        err.contains("another entry, which this sync does not manage, is at"),
        "{err}"
    );
    // the kept parent: where it was, its link following the pupil
    let gone_away = e_gone
        .to_lowercase()
        .replace(",ou=people,", ",ou=departed,");
    assert!(f.ldap.exists_dn(&gone_away), "{err}");
    let kept = f.ldap.entry(&p_kept);
    assert_eq!(
        kept["entauxpersreleleveeleve"]
            .iter()
            .map(|v| v.to_lowercase())
            .collect::<Vec<_>>(),
        [gone_away],
        "{err}"
    );
    // the squatted pupil stays where it is; nobody names the squatter
    assert!(f.ldap.exists_dn(&e_squatted));
    assert_eq!(f.ldap.entry(&squat_dn), squat_before);
    let naming = f.ldap.count(
        BASE,
        &format!("(|(ENTEleveParents={squat_dn})(ENTAuxPersRelEleveEleve={squat_dn}))"),
    );
    assert_eq!(naming, 0, "{err}");
    assert_eq!(dangling(&f.ldap), Vec::<String>::new(), "{err}");
    // and the next runs say the same, linking nobody to it either
    let (_, err) = f.sync("2025-09-11", &[&c2], &[], 3);
    assert_eq!(dangling(&f.ldap), Vec::<String>::new(), "{err}");
    assert_eq!(f.ldap.entry(&squat_dn), squat_before);
}

/// A pupil and parent who left come back in a Complet after their
/// retention deadline, the pupil's record rejected: the deadline deletes
/// both (a return after it is a new entry, and the pupil's record cannot
/// make one); the parent is never brought back into the people branch.
#[test]
fn people_back_after_their_deadline_are_not_brought_back_half_way() {
    let f = fixture(1, 20, "[safety]\nmax_departures_percent = 100.0\n");
    let parents = f.ldap.entries(
        &format!("ou=people,{BASE}"),
        "(objectClass=ENTAuxPersRelEleve)",
        &["ENTAuxPersRelEleveEleve"],
    );
    let (parent, pupil) = parents
        .iter()
        .find_map(|(dn, a)| {
            let p = a.get("entauxpersreleleveeleve")?;
            (p.len() == 1).then(|| (dn.clone(), p[0].to_lowercase()))
        })
        .unwrap();
    // only that pupil names that parent
    let pupil_ids = record_ids(&f.c1, "Eleve");
    let n = pupil_ids
        .iter()
        .position(|i| person_dn(i).eq_ignore_ascii_case(&pupil))
        .unwrap();
    let c2 = f.copy("c2", "20250911");
    assert_eq!(drop_records(&c2, "Eleve", |i| i != n), 1);
    f.sync("2025-09-11", &[&c2], &[], 0);
    let away = |dn: &str| dn.replace(",ou=people,", ",ou=departed,");
    assert!(f.ldap.exists_dn(&away(&parent)) && f.ldap.exists_dn(&away(&pupil)));

    // after the deadline: back, the pupil's record damaged
    let c3 = f.copy("c3", "20260105");
    edit_records(&c3, "Eleve", |i, rec| {
        if i == n {
            assert!(replace_bytes(
                rec,
                b"<attr name=\"ENTPersonPrenom\"><value>",
                b"<attr name=\"ENTPersonPrenom\"><value>\x07"
            ));
        }
    });
    let (r, err) = f.sync("2026-01-05", &[&c3], &[], 1);
    assert_eq!(r["outcome"], "rejected_records", "{err}");
    for dn in [&parent, &pupil] {
        assert!(
            !f.ldap.exists_dn(dn),
            "{dn} back in the people branch: {err}"
        );
        assert!(
            !f.ldap.exists_dn(&away(dn)),
            "{dn} kept past its deadline: {err}"
        );
    }
    assert_eq!(dangling(&f.ldap), Vec::<String>::new(), "{err}");
    let (r, err) = f.sync("2026-01-05", &[&c3], &[], 1);
    assert_eq!(r["steps"][0]["plan"]["total"], 0, "{err}");
}

/// What a person entry shows of the fields a real record carries once.
const ONCE: [&str; 9] = [
    "sn",
    "givenName",
    "cn",
    "displayName",
    "ENTPersonLogin",
    "personalTitle",
    "ENTPersonDateNaissance",
    "mail",
    "ENTPersonAutresPrenoms",
];

/// Inserts `<value>{extra}</value>` before the first value of `attr` (an
/// empty `<value/>` stays: the record then has one value more than before).
fn one_value_more(rec: &mut Vec<u8>, attr: &str, extra: &str) {
    let at = format!("<attr name=\"{attr}\">");
    let with = format!("<attr name=\"{attr}\"><value>{extra}</value>");
    assert!(replace_bytes(rec, at.as_bytes(), with.as_bytes()), "{attr}");
}

#[test]
fn fields_a_real_record_carries_once_given_several_values_reject_the_record() {
    let f = fixture(2, 20, "");
    let pupils = record_ids(&f.c1, "Eleve");
    let parents = record_ids(&f.c1, "PersRelEleve");
    let staff = record_ids(&f.c1, "PersEducNat");
    let schools = record_ids(&f.c1, "EtabEducNat");
    set_password(&f.ldap, &person_dn(&pupils[0]), "pupil-pw");
    let people = |l: &Slapd| l.entries(BASE, "(objectClass=ENTPerson)", &ONCE);
    let before_people = people(&f.ldap);
    let before = data_csns(&f.ldap);

    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "Eleve", |n, rec| match n {
        0 => one_value_more(rec, "ENTPersonNom", "INTRUS"),
        1 => one_value_more(rec, "ENTPersonPrenom", "INTRUSE"),
        2 => one_value_more(rec, "ENTPersonCivilite", "Mme"),
        3 => one_value_more(rec, "ENTPersonDateNaissance", "02/02/2019"),
        4 => one_value_more(rec, "ENTPersonNomPatro", "INTRUS"),
        // other first names are a list: two are a real record
        5 => {
            let at = b"<attr name=\"ENTPersonAutresPrenoms\">";
            let to = b"<attr name=\"ENTPersonAutresPrenoms\"><value>ALIX</value><value>MAEL</value></attr><attr name=\"Unused\">";
            assert!(replace_bytes(rec, at, to));
        }
        _ => {}
    });
    edit_records(&c2, "PersRelEleve", |n, rec| match n {
        0 => {
            one_value_more(rec, "ENTPersonMail", "un@example.invalid");
            one_value_more(rec, "ENTPersonMail", "deux@example.invalid");
        }
        1 => one_value_more(rec, "ENTPersonCivilite", "M."),
        _ => {}
    });
    edit_records(&c2, "PersEducNat", |n, rec| {
        if n == 0 {
            one_value_more(rec, "ENTPersonMail", "un@example.invalid");
            one_value_more(rec, "ENTPersonMail", "deux@example.invalid");
        }
    });
    edit_records(&c2, "EtabEducNat", |n, rec| {
        if n == 0 {
            one_value_more(rec, "ENTStructureNomCourant", "ECOLE INTRUSE");
        }
    });
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 1);
    assert_eq!(r["outcome"], "rejected_records", "{err}");
    let mut got = rejected_fields(&r);
    got.sort();
    let mut want: Vec<(String, String)> = [
        (&pupils[0], "ENTPersonNom"),
        (&pupils[1], "ENTPersonPrenom"),
        (&pupils[2], "ENTPersonCivilite"),
        (&pupils[3], "ENTPersonDateNaissance"),
        (&pupils[4], "ENTPersonNomPatro"),
        (&parents[0], "ENTPersonMail"),
        (&parents[1], "ENTPersonCivilite"),
        (&staff[0], "ENTPersonMail"),
        (&schools[0], "ENTStructureNomCourant"),
    ]
    .iter()
    .map(|(id, field)| (id.to_string(), field.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{err}");
    // each names its file and record, and no value
    for e in r["steps"][0]["rejected_records"].as_array().unwrap() {
        assert!(e["file"].as_str().unwrap().contains("_20250911_"), "{e}");
        assert!(e["index"].as_u64().unwrap() >= 1, "{e}");
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .ends_with("values in a field a real record carries once"),
            "{e}"
        );
    }
    assert!(
        err.contains("_Eleve_0000.xml: record 1 (id ") && err.contains("field ENTPersonNom"),
        "{err}"
    );
    let report_text = r.to_string();
    for v in ["INTRUS", "example.invalid", "02/02/2019"] {
        assert!(!err.contains(v) && !report_text.contains(v), "{v}: {err}");
    }
    assert_eq!(r["steps"][0]["protected_ids"], 9, "{err}");
    // the rejected entries are exactly as they were; only the pupil whose
    // other first names are a list changed
    let after = data_csns(&f.ldap);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(dn, csn)| before.get(*dn) != Some(csn))
        .map(|(dn, _)| dn)
        .collect();
    let p5 = person_dn(&pupils[5]);
    assert_eq!(changed.len(), 1, "{changed:?} {err}");
    assert!(changed[0].eq_ignore_ascii_case(&p5), "{changed:?}");
    let after_people = people(&f.ldap);
    for (dn, attrs) in &before_people {
        if dn.eq_ignore_ascii_case(&p5) {
            // (a multi-valued attribute changes value by value: any order)
            let mut v = after_people[dn]["entpersonautresprenoms"].clone();
            v.sort();
            assert_eq!(v, ["ALIX", "MAEL"]);
        } else {
            assert_eq!(&after_people[dn], attrs, "{dn}");
        }
    }
    assert!(f.ldap.can_bind(&person_dn(&pupils[0]), "pupil-pw"));
    // one surname, one login, as before
    // (names and DNs as the LDIF parser gives them: lower case)
    let p0 = &after_people[&person_dn(&pupils[0]).to_lowercase()];
    assert_eq!(p0["sn"].len(), 1);
    assert_eq!(p0["entpersonlogin"].len(), 1);

    // a Delta: a replace with several values is rejected like an add, its
    // request not played; a replace with one value is
    let d = f.tmp.path().join("d");
    let mut add = String::new();
    edit_records(&c2, "Eleve", |n, rec| {
        if n == 1 {
            // pupil 1's record of the week before, two first names
            add = String::from_utf8(rec.clone()).unwrap();
        }
    });
    write_extraction_files(
        &d,
        "Delta",
        "20250912",
        &[
            (
                "Eleve",
                modify_req("Eleve", &pupils[0], &[("ENTPersonNom", &["AUTRE", "NOM"])])
                    + &add
                    + &modify_req("Eleve", &pupils[6], &[("ENTPersonNom", &["RENOMME"])]),
            ),
            (
                "PersRelEleve",
                modify_req(
                    "PersRelEleve",
                    &parents[2],
                    &[(
                        "ENTPersonMail",
                        &["a@example.invalid", "", "b@example.invalid"],
                    )],
                ),
            ),
        ],
    );
    let before_people = people(&f.ldap);
    let (r, err) = f.sync("2025-09-12", &[&d], &[], 1);
    assert_eq!(r["outcome"], "rejected_records", "{err}");
    let mut got = rejected_fields(&r);
    got.sort();
    let mut want = vec![
        (pupils[0].clone(), "ENTPersonNom".to_string()),
        (pupils[1].clone(), "ENTPersonPrenom".to_string()),
        (parents[2].clone(), "ENTPersonMail".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "{err}");
    assert!(
        err.contains("_Delta_20250912_Eleve_0000.xml: record 1"),
        "{err}"
    );
    let after_people = people(&f.ldap);
    let p6 = person_dn(&pupils[6]);
    for (dn, attrs) in &before_people {
        if dn.eq_ignore_ascii_case(&p6) {
            assert_eq!(after_people[dn]["sn"], ["RENOMME"]);
        } else {
            assert_eq!(&after_people[dn], attrs, "{dn}");
        }
    }
}

#[test]
fn a_cdata_end_in_a_value_refuses_the_file_before_any_write() {
    let f = fixture(2, 20, "");
    let before = data_csns(&f.ldap);
    let c2 = f.copy("c2", "20250911");
    edit_records(&c2, "Eleve", |n, rec| {
        if n == 3 {
            let at = b"<attr name=\"ENTPersonNom\"><value>";
            assert!(replace_bytes(
                rec,
                at,
                b"<attr name=\"ENTPersonNom\"><value>SECRET]]>"
            ));
        }
    });
    let (r, err) = f.sync("2025-09-11", &[&c2], &[], 2);
    assert_eq!(r["outcome"], "refused", "{err}");
    assert!(
        err.contains("_Complet_20250911_Eleve_0000.xml: line "),
        "{err}"
    );
    assert!(
        err.contains("not well-formed XML: ]]> in character data"),
        "{err}"
    );
    assert!(
        !err.contains("SECRET") && !r.to_string().contains("SECRET"),
        "{err}"
    );
    assert_eq!(data_csns(&f.ldap), before, "nothing written");
    for (dn, a, v) in all_values(&f.ldap) {
        assert!(!v.contains("]]>"), "{dn} {a}");
    }
}
