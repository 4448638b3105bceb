//! End-to-end: the `aaf-sync` binary against a real slapd, results read back
//! with ldapsearch.

mod common;

use common::*;
use std::path::Path;

const SCHOOL: &str = "ou=AC-CRETEIL-100,ou=structures,dc=example,dc=org";
const PUPIL: &str = "uid=AC-CRETEIL-1001,ou=people,dc=example,dc=org";
const TWIN: &str = "uid=AC-CRETEIL-1002,ou=people,dc=example,dc=org";
const MOTHER: &str = "uid=AC-CRETEIL-2001,ou=people,dc=example,dc=org";
const FATHER: &str = "uid=AC-CRETEIL-2002,ou=people,dc=example,dc=org";
const TEACHER: &str = "uid=AC-CRETEIL-3001,ou=people,dc=example,dc=org";
const CLASS: &str = "cn=AC-CRETEIL-100-classe-CPA,ou=groups,dc=example,dc=org";
const GROUP: &str = "cn=AC-CRETEIL-100-groupe-G1,ou=groups,dc=example,dc=org";

/// A hand-written 1D Complet with known values. `pupil_name` lets a test
/// rename the pupil.
fn write_extraction(dir: &Path, pupil_name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let etab = req(
        "EtabEducNat",
        "100",
        &[
            ("ENTStructureJointure", &["100"]),
            ("ENTStructureUAI", &["0920100J"]),
            (
                "ENTStructureNomCourant",
                &["ECOLE ELEMENTAIRE D&amp;apos;APPLICATION"],
            ),
            ("ENTStructureSIREN", &[]),
            ("ENTStructureTypeStruct", &["ECOLE ELEMENTAIRE PUBLIQUE"]),
            ("ENTStructureVille", &["CRÉTEIL"]),
            ("ENTStructureTelephone", &["01 45 00 00 00"]),
            ("ENTStructureCodeTypeStruct", &["151"]),
        ],
    ) + &req(
        "EtabEducNat",
        "200",
        &[
            ("ENTStructureJointure", &["200"]),
            ("ENTStructureUAI", &["0750655E"]),
            ("ENTStructureNomCourant", &["ECOLE HORS PERIMETRE"]),
        ],
    );
    let eleve = req(
        "Eleve",
        "1001",
        &[
            ("ENTPersonJointure", &["1001"]),
            ("ENTEleveINE", &["123456789AB"]),
            ("ENTPersonDateNaissance", &["03/02/2018"]),
            ("ENTPersonNomPatro", &["CŒUR"]),
            ("ENTPersonNom", &[pupil_name]),
            ("ENTPersonPrenom", &["Zoé"]),
            ("ENTPersonAutresPrenoms", &["Anaïs", "Noëlle"]),
            ("ENTPersonCivilite", &["Mlle"]),
            ("ENTPersonStructRattach", &["100"]),
            ("ENTEleveAutoriteParentale", &["2001$10", "2002$20"]),
            ("ENTEleveNiveau", &["CP"]),
            ("ENTEleveRestaurantScolaire", &["O"]),
            ("ENTPersonClasses", &["100$1$1$CPA$CP A"]),
            ("ENTPersonGroupes", &["100$1$1$G1$CHORALE"]),
            ("ENTPersonMail", &["zoe@example.invalid"]),
            ("ENTEleveNouvelAttribut", &["X"]),
        ],
    ) + &req(
        "Eleve",
        "1002",
        &[
            ("ENTPersonJointure", &["1002"]),
            ("ENTPersonNom", &["CŒUR"]),
            ("ENTPersonPrenom", &["Zoé"]),
            ("ENTPersonCivilite", &["Mlle"]),
            ("ENTPersonStructRattach", &["100"]),
            ("ENTEleveAutoriteParentale", &["2001$10"]),
            ("ENTPersonClasses", &["100$1$1$CPA$CP A"]),
        ],
    ) + &req(
        "Eleve",
        "1009",
        &[
            ("ENTPersonJointure", &["1009"]),
            ("ENTPersonNom", &["DEHORS"]),
            ("ENTPersonPrenom", &["Léo"]),
            ("ENTPersonStructRattach", &["200"]),
            ("ENTEleveAutoriteParentale", &["2009$10"]),
            ("ENTPersonClasses", &["200$1$1$CPB$CP B"]),
        ],
    );
    let parents = req(
        "PersRelEleve",
        "2001",
        &[
            ("ENTPersonJointure", &["2001"]),
            ("ENTPersonNom", &["C&OElig;UR"]),
            ("ENTPersonPrenom", &["H&eacute;l&egrave;ne"]),
            ("ENTPersonCivilite", &["Madame"]),
            ("ENTPersRelEleveEleve", &["1001", "1002"]),
            ("ENTPersonAdresse", &["3 RUE DES ÉCOLES$BAT B$"]),
            ("ENTPersonCodePostal", &["94000"]),
            ("ENTPersRelEleveTelMobile", &["06 11 22 33 44"]),
            ("ENTPersonTelPerso", &["01 11 22 33 44"]),
            ("ENTPersonMail", &["helene@example.invalid"]),
            ("ENTPersRelEleveTelPro", &[]),
        ],
    ) + &req(
        "PersRelEleve",
        "2002",
        &[
            ("ENTPersonJointure", &["2002"]),
            ("ENTPersonNom", &["MARTIN"]),
            ("ENTPersonPrenom", &["Jean"]),
            ("ENTPersonCivilite", &["M."]),
            ("ENTPersRelEleveEleve", &["1001"]),
        ],
    ) + &req(
        "PersRelEleve",
        "2009",
        &[
            ("ENTPersonJointure", &["2009"]),
            ("ENTPersonNom", &["DEHORS"]),
            ("ENTPersRelEleveEleve", &["1009"]),
        ],
    );
    let staff = req(
        "PersEducNat",
        "3001",
        &[
            ("ENTPersonJointure", &["3001"]),
            ("ENTPersonNom", &["MAÎTRE"]),
            ("ENTPersonPrenom", &["Paul"]),
            ("ENTPersonCivilite", &["Monsieur"]),
            ("ENTPersonStructRattach", &["100"]),
            ("ENTPersonFonctions", &["100$ENS$ENSEIGNEMENT$-$-"]),
            ("ENTPersonClasses", &["100$1$1$CPA$CP A"]),
            ("ENTPersonMail", &["paul.maitre@ac-creteil.invalid"]),
            ("ENTPersonAdresse", &["9 IMPASSE PRIVEE$$"]),
            ("ENTPersonVille", &["PRIVEE"]),
            ("ENTPersRelEleveTelMobile", &["06 99 99 99 99"]),
            ("ENTPersonTelPerso", &["01 99 99 99 99"]),
        ],
    ) + &req(
        "PersEducNat",
        "3002",
        &[
            ("ENTPersonJointure", &["3002"]),
            ("ENTPersonNom", &["DIRECTRICE"]),
            ("ENTPersonPrenom", &["Ève"]),
            ("ENTPersonStructRattach", &["100"]),
            ("ENTPersonFonctions", &["100$DIR$DIRECTION$-$-"]),
        ],
    ) + &req(
        "PersEducNat",
        "3009",
        &[
            ("ENTPersonJointure", &["3009"]),
            ("ENTPersonNom", &["AILLEURS"]),
            ("ENTPersonStructRattach", &["200"]),
        ],
    );
    let p = |cat: &str| dir.join(format!("ENT1D_Complet_20250904_{cat}_0000.xml"));
    std::fs::write(p("EtabEducNat"), file(Some("UTF-8"), &etab)).unwrap();
    // ISO-8859-15 with Œ (0xBC), as real files are
    let latin9 = encoding_rs::ISO_8859_15
        .encode(&file(Some("ISO-8859-15"), &eleve))
        .0
        .into_owned();
    assert!(latin9.contains(&0xBC));
    std::fs::write(p("Eleve"), latin9).unwrap();
    std::fs::write(p("PersRelEleve"), file(None, &parents)).unwrap();
    let latin9 = encoding_rs::ISO_8859_15
        .encode(&file(None, &staff))
        .0
        .into_owned();
    std::fs::write(p("PersEducNat"), latin9).unwrap();
}

fn one(a: &Attrs, name: &str) -> String {
    let v = a
        .get(&name.to_lowercase())
        .unwrap_or_else(|| panic!("no {name} in {a:?}"));
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v[0].clone()
}

fn sorted(a: &Attrs, name: &str) -> Vec<String> {
    let mut v = a.get(&name.to_lowercase()).cloned().unwrap_or_default();
    v.sort();
    v
}

struct Fixture {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    config: String,
    extraction: String,
}

impl Fixture {
    /// A sync of the fixture's extraction that ends with exit 0; its JSON
    /// report (written to `name` in the temporary directory).
    fn sync_report(&self, name: &str) -> serde_json::Value {
        let report = self.tmp.path().join(name);
        aaf_sync_ok(
            &[
                "sync",
                "--config",
                &self.config,
                "--report",
                report.to_str().unwrap(),
                &self.extraction,
            ],
            0,
        );
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
    }
}

fn setup() -> Fixture {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = ldap
        .config(tmp.path(), &["0920100J".into(), "0921262X".into()], "")
        .display()
        .to_string();
    let ex = tmp.path().join("extraction");
    write_extraction(&ex, "CŒUR");
    Fixture {
        ldap,
        extraction: ex.display().to_string(),
        config,
        tmp,
    }
}

fn people(l: &Slapd) -> std::collections::BTreeMap<String, Attrs> {
    l.entries(
        "ou=people,dc=example,dc=org",
        "(objectClass=ENTPerson)",
        &["*"],
    )
}

#[test]
fn complet_sync_writes_the_expected_tree() {
    let f = setup();
    let report = f.tmp.path().join("report.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--now",
            "2025-09-04",
            "--report",
            report.to_str().unwrap(),
            &f.extraction,
        ],
        0,
    );
    assert!(err.contains(": ok"), "{err}");
    let l = &f.ldap;

    // structure, with the doubly escaped name decoded once
    let s = l.entry(SCHOOL);
    assert_eq!(one(&s, "ENTStructureJointure"), "AC-CRETEIL$100");
    assert_eq!(one(&s, "ENTStructureUAI"), "0920100J");
    assert_eq!(
        one(&s, "ENTStructureNomCourant"),
        "ECOLE ELEMENTAIRE D'APPLICATION"
    );
    assert_eq!(one(&s, "l"), "CRÉTEIL");
    assert_eq!(
        sorted(&s, "objectClass"),
        [
            "ENTEtablissement",
            "ENTStructure",
            "aafSyncState",
            "organizationalUnit",
            "top"
        ]
    );
    assert!(
        !s.contains_key("entstructuresiren"),
        "empty value means no attribute"
    );

    // pupil: accents and Œ from an ISO-8859-15 file
    let p = l.entry(PUPIL);
    assert_eq!(one(&p, "sn"), "CŒUR");
    assert_eq!(one(&p, "givenName"), "Zoé");
    assert_eq!(one(&p, "cn"), "Zoé CŒUR");
    assert_eq!(one(&p, "ENTPersonNomPatro"), "CŒUR");
    assert_eq!(sorted(&p, "ENTPersonAutresPrenoms"), ["Anaïs", "Noëlle"]);
    assert_eq!(one(&p, "personalTitle"), "Mlle");
    assert_eq!(one(&p, "ENTPersonJointure"), "AC-CRETEIL$1001");
    assert_eq!(one(&p, "ENTPersonLogin"), "zoe.coeur");
    assert_eq!(one(&p, "ENTPersonProfils"), "National_ELV");
    assert_eq!(one(&p, "ENTPersonStructRattach"), SCHOOL);
    assert_eq!(one(&p, "ENTEleveINE"), "123456789AB");
    assert_eq!(one(&p, "ENTPersonDateNaissance"), "03/02/2018");
    assert_eq!(one(&p, "ENTEleveNiveau"), "CP");
    assert_eq!(
        one(&p, "ENTPersonClasses"),
        format!("{SCHOOL}$1$1$CPA$CP A")
    );
    assert_eq!(
        sorted(&p, "ENTEleveAutoriteParentale"),
        [format!("{MOTHER}$10"), format!("{FATHER}$20")]
    );
    assert_eq!(sorted(&p, "ENTEleveParents"), [MOTHER, FATHER]);
    assert!(sorted(&p, "objectClass").contains(&"ENTEleve".to_string()));
    assert!(
        !p.contains_key("mail"),
        "pupil mail is not an authorised field"
    );
    assert!(!p.contains_key("enteleveNouvelAttribut".to_lowercase().as_str()));
    assert_eq!(one(&p, "aafSyncFirstSeen"), "20250904000000Z");

    // homonym: unique login
    assert_eq!(one(&l.entry(TWIN), "ENTPersonLogin"), "zoe.coeur2");

    // parents: HTML entities, links as DNs, mobile allowed
    let m = l.entry(MOTHER);
    assert_eq!(one(&m, "sn"), "CŒUR");
    assert_eq!(one(&m, "givenName"), "Hélène");
    assert_eq!(one(&m, "personalTitle"), "Mme");
    assert_eq!(one(&m, "mobile"), "06 11 22 33 44");
    assert_eq!(one(&m, "homePhone"), "01 11 22 33 44");
    assert_eq!(one(&m, "ENTPersonAdresse"), "3 RUE DES ÉCOLES$BAT B$");
    assert_eq!(one(&m, "ENTPersonProfils"), "National_TUT");
    assert_eq!(sorted(&m, "ENTAuxPersRelEleveEleve"), [PUPIL, TWIN]);
    assert_eq!(sorted(&l.entry(FATHER), "ENTAuxPersRelEleveEleve"), [PUPIL]);

    // staff: no home address, no mobile, no personal phone
    let t = l.entry(TEACHER);
    assert_eq!(one(&t, "sn"), "MAÎTRE");
    assert_eq!(one(&t, "personalTitle"), "M.");
    assert_eq!(one(&t, "ENTPersonProfils"), "National_ENS");
    assert_eq!(
        one(&t, "ENTPersonFonctions"),
        format!("{SCHOOL}$ENS$ENSEIGNEMENT$-$-")
    );
    assert!(sorted(&t, "objectClass").contains(&"ENTAuxEnseignant".to_string()));
    for forbidden in [
        "ENTPersonAdresse",
        "ENTPersonVille",
        "mobile",
        "homePhone",
        "postalAddress",
        "street",
    ] {
        assert!(
            !t.contains_key(&forbidden.to_lowercase()),
            "staff carries {forbidden}"
        );
    }
    let d = l.entry("uid=AC-CRETEIL-3002,ou=people,dc=example,dc=org");
    assert_eq!(one(&d, "ENTPersonProfils"), "National_DIR");

    // classes and groups with their members
    let c = l.entry(CLASS);
    assert_eq!(sorted(&c, "member"), [PUPIL, TWIN, TEACHER]);
    assert_eq!(one(&c, "description"), "CP A");
    assert_eq!(one(&c, "aafSyncStructure"), SCHOOL);
    assert!(sorted(&c, "objectClass").contains(&"ENTClasse".to_string()));
    assert_eq!(sorted(&l.entry(GROUP), "member"), [PUPIL]);

    // nothing out of the perimeter: exact counts
    let all = people(l);
    assert_eq!(all.len(), 6, "{:?}", all.keys());
    assert!(all
        .keys()
        .all(|dn| !dn.contains("-1009,") && !dn.contains("-2009,") && !dn.contains("-3009,")));
    let structures = l.entries(
        "ou=structures,dc=example,dc=org",
        "(objectClass=ENTStructure)",
        &["1.1"],
    );
    assert_eq!(structures.len(), 1);
    let groups = l.entries(
        "ou=groups,dc=example,dc=org",
        "(objectClass=groupOfNames)",
        &["1.1"],
    );
    assert_eq!(groups.len(), 2);

    // logins unique across the tree
    let mut logins: Vec<String> = all.values().map(|a| one(a, "ENTPersonLogin")).collect();
    let n = logins.len();
    logins.sort();
    logins.dedup();
    assert_eq!(logins.len(), n);

    // the report: counts, ids, no personal data
    let text = std::fs::read_to_string(&report).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["steps"][0]["mapping"]["categories"]["Eleve"]["mapped"], 2);
    assert_eq!(
        r["steps"][0]["mapping"]["categories"]["Eleve"]["out_of_perimeter"],
        1
    );
    assert_eq!(
        r["steps"][0]["mapping"]["categories"]["PersRelEleve"]["out_of_perimeter"],
        1
    );
    assert_eq!(
        r["steps"][0]["mapping"]["categories"]["PersEducNat"]["out_of_perimeter"],
        1
    );
    assert_eq!(
        r["steps"][0]["mapping"]["categories"]["EtabEducNat"]["out_of_perimeter"],
        1
    );
    assert_eq!(
        r["steps"][0]["mapping"]["dropped_attributes"]["ENTEleveNouvelAttribut"],
        1
    );
    assert_eq!(r["steps"][0]["mapping"]["staff_address_withheld"], 1);
    assert_eq!(r["steps"][0]["perimeter_missing_uai"][0], "0921262X");
    assert_eq!(r["steps"][0]["plan"]["by_kind"]["Eleve"]["add"], 2);
    assert_eq!(
        r["steps"][0]["extraction"]["header"]["versionAF"],
        "AAF-VE2407"
    );
    for personal in [
        "CŒUR",
        "Zoé",
        "Hélène",
        "03/02/2018",
        "06 11",
        "RUE",
        "MAÎTRE",
        "helene@",
    ] {
        assert!(!text.contains(personal), "report leaks {personal}");
        assert!(!err.contains(personal), "summary leaks {personal}");
    }
}

#[test]
fn second_sync_of_the_same_extraction_writes_nothing() {
    let f = setup();
    aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 0);
    let before = csns(&f.ldap);
    assert!(before.len() > 10);
    let r = f.sync_report("r2.json");
    assert_eq!(csns(&f.ldap), before, "an entry changed on the server");
    assert_eq!(r["steps"][0]["plan"]["total"], 0);
    assert_eq!(r["steps"][0]["plan"]["unchanged"], 9);
}

/// `aafSyncSource` matches as the schema says (`caseIgnoreMatch`): an entry
/// whose source another tool wrote in another case, or with blanks, is
/// still this source's, not a stranger holding its DN (the run tried to
/// add it again and failed); the sync writes its own spelling back.
#[test]
fn the_source_is_matched_ignoring_case_as_the_schema_says() {
    let f = setup();
    aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 0);
    for (dn, spelling) in [
        (PUPIL, "ac-creteil"),
        (CLASS, "Ac-Creteil"),
        (SCHOOL, " AC-CRETEIL "),
    ] {
        f.ldap.modify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: aafSyncSource\naafSyncSource: {spelling}\n"
        ));
    }
    let run = |name: &str| f.sync_report(name)["steps"][0]["plan"].clone();
    let plan = run("r2.json");
    assert_eq!(
        plan["by_kind"],
        serde_json::json!({
            "ENTClasse": {"modify": 1},
            "Eleve": {"modify": 1},
            "EtabEducNat": {"modify": 1},
        }),
        "{plan}"
    );
    assert_eq!(plan["unchanged"], 6, "{plan}");
    for dn in [PUPIL, CLASS, SCHOOL] {
        assert_eq!(
            one(&f.ldap.entry(dn), "aafSyncSource"),
            "AC-CRETEIL",
            "{dn}"
        );
    }
    let before = csns(&f.ldap);
    let plan = run("r3.json");
    assert_eq!(
        (plan["total"].as_u64(), plan["unchanged"].as_u64()),
        (Some(0), Some(9)),
        "{plan}"
    );
    assert_eq!(csns(&f.ldap), before, "an entry changed on the server");
}

#[test]
fn foreign_attributes_survive_and_logins_stay_after_a_rename() {
    let f = setup();
    aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 0);
    // the ENT sets a password and a preference of its own
    f.ldap.modify(&format!(
        "dn: {PUPIL}\nchangetype: modify\nadd: userPassword\nuserPassword: pupil-pw\n-\nadd: description\ndescription: ENT preference\n-\n"
    ));
    assert!(f.ldap.can_bind(PUPIL, "pupil-pw"));
    // next day, the pupil's name changes
    write_extraction(Path::new(&f.extraction), "NOUVEAU-NOM");
    let (_, err) = aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 0);
    assert!(err.contains("Eleve         modify 1"), "{err}");
    let p = f.ldap.entry(PUPIL);
    assert_eq!(one(&p, "sn"), "NOUVEAU-NOM");
    assert_eq!(one(&p, "cn"), "Zoé NOUVEAU-NOM");
    assert_eq!(
        one(&p, "ENTPersonLogin"),
        "zoe.coeur",
        "login kept across a rename"
    );
    assert_eq!(one(&p, "description"), "ENT preference");
    assert!(p.contains_key("userpassword"));
    assert!(
        f.ldap.can_bind(PUPIL, "pupil-pw"),
        "the ENT's password still works"
    );
}

#[test]
fn a_removed_value_is_removed_and_an_absent_pupil_is_disabled() {
    let f = setup();
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--now",
            "2025-09-04",
            &f.extraction,
        ],
        0,
    );
    // the twin leaves: drop its record from the pupils' file
    let eleve = Path::new(&f.extraction).join("ENT1D_Complet_20250904_Eleve_0000.xml");
    let text = encoding_rs::ISO_8859_15
        .decode(&std::fs::read(&eleve).unwrap())
        .0
        .into_owned();
    let start = text.find("<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>1002").unwrap();
    let end = start + text[start..].find("</addRequest>").unwrap() + "</addRequest>\n".len();
    let cut = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&eleve, encoding_rs::ISO_8859_15.encode(&cut).0).unwrap();
    let report = f.tmp.path().join("r.json");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--report",
            report.to_str().unwrap(),
            "--now",
            "2025-09-05",
            &f.extraction,
        ],
        0,
    );
    // kept, disabled until its deadline, data unchanged, out of the
    // people branch the ENT's login lookups search
    assert!(
        f.ldap
            .count(&format!("ou=people,{BASE}"), "(uid=AC-CRETEIL-1002)")
            == 0
    );
    let twin = f.ldap.entry(&TWIN.replace("ou=people", "ou=departed"));
    assert_eq!(one(&twin, "sn"), "CŒUR");
    assert_eq!(one(&twin, "aafSyncDepartureDate"), "20250904000000Z");
    assert_eq!(one(&twin, "aafSyncDeadline"), "20251203000000Z");
    assert_eq!(one(&twin, "aafSyncDisabled"), "TRUE");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        r["steps"][0]["lifecycle"]["departed"]["Eleve"],
        serde_json::json!(["1002"])
    );
    // but no longer a member of the class rebuilt from the extraction
    assert_eq!(sorted(&f.ldap.entry(CLASS), "member"), [PUPIL, TEACHER]);
    // the mother now has one pupil in this extraction's links
    assert_eq!(
        sorted(&f.ldap.entry(MOTHER), "ENTAuxPersRelEleveEleve"),
        [PUPIL]
    );
}

/// A dry run whose plan cannot be printed whole (stdout on a full disk)
/// fails, says why in its summary and report, and writes nothing: a cut
/// plan must not pass for the plan (`ldapmodify` would apply half of it).
#[test]
fn a_dry_run_whose_plan_cannot_be_printed_whole_fails() {
    let f = setup();
    let before = csns(&f.ldap);
    let report = f.tmp.path().join("full.json");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
        .args(["sync", "--config", &f.config, "--dry-run", "--report"])
        .arg(&report)
        .arg(&f.extraction)
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("writing the plan to stdout: No space left on device"),
        "{err}"
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(rep["outcome"], "failed", "{rep}");
    assert_eq!(rep["exit_code"], 2, "{rep}");
    assert_eq!(csns(&f.ldap), before);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let f = setup();
    let before = csns(&f.ldap);
    let (ldif, _) = aaf_sync_ok(
        &["sync", "--config", &f.config, "--dry-run", &f.extraction],
        0,
    );
    assert!(
        ldif.contains(&format!("dn: {PUPIL}\nchangetype: add\n")),
        "{ldif}"
    );
    // nine entries, the control entry and the three branches still missing
    // (structures, groups, departed)
    assert_eq!(ldif.matches("changetype: add").count(), 13);
    assert!(ldif.contains(&format!("dn: ou=groups,{BASE}\nchangetype: add\n")));
    assert_eq!(csns(&f.ldap), before);
    let (json, _) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--dry-run",
            "--format",
            "json",
            &f.extraction,
        ],
        0,
    );
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(plan["steps"][0]["label"], "branches");
    assert_eq!(
        plan["steps"][1]["plan"]["changes"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn malformed_xml_refuses_the_run_before_any_write() {
    let f = setup();
    let staff = Path::new(&f.extraction).join("ENT1D_Complet_20250904_PersEducNat_0000.xml");
    let mut bytes = std::fs::read(&staff).unwrap();
    let cut = bytes.len() - 40;
    bytes.truncate(cut);
    bytes.extend_from_slice(b"<attr name=\"x\"></addRequest>\n</ficAlimMENESR>\n");
    std::fs::write(&staff, bytes).unwrap();
    let before = csns(&f.ldap);
    let (_, err) = aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 2);
    assert!(
        err.contains("ENT1D_Complet_20250904_PersEducNat_0000.xml: line "),
        "{err}"
    );
    assert!(err.contains("not well-formed"), "{err}");
    assert_eq!(csns(&f.ldap), before, "nothing may be written");
}

#[test]
fn a_bad_record_is_skipped_reported_and_exits_1() {
    let f = setup();
    let etab = Path::new(&f.extraction).join("ENT1D_Complet_20250904_EtabEducNat_0000.xml");
    let text = std::fs::read_to_string(&etab)
        .unwrap()
        .replace("<id>200</id>", "<id>201</id>");
    std::fs::write(&etab, text).unwrap();
    let report = f.tmp.path().join("r.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--report",
            report.to_str().unwrap(),
            &f.extraction,
        ],
        1,
    );
    assert!(
        err.contains("record 2 (id 201), field ENTStructureJointure"),
        "{err}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["outcome"], "rejected_records");
    assert_eq!(
        r["steps"][0]["rejected_records"][0]["field"],
        "ENTStructureJointure"
    );
    // the rest is imported
    assert_eq!(people(&f.ldap).len(), 6);
}

#[test]
fn an_incomplete_complet_or_a_delta_on_an_empty_tree_is_refused() {
    let f = setup();
    std::fs::remove_file(
        Path::new(&f.extraction).join("ENT1D_Complet_20250904_PersRelEleve_0000.xml"),
    )
    .unwrap();
    let (_, err) = aaf_sync_ok(&["sync", "--config", &f.config, &f.extraction], 2);
    assert!(
        err.contains("incomplete Complet, no file for PersRelEleve"),
        "{err}"
    );
    let d = f.tmp.path().join("delta");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("ENT1D_Delta_20250905_Eleve_0000.xml"),
        file(None, ""),
    )
    .unwrap();
    let (_, err) = aaf_sync_ok(&["sync", "--config", &f.config, d.to_str().unwrap()], 2);
    assert!(
        err.contains("a Delta needs a Complet applied first"),
        "{err}"
    );
    assert_eq!(people(&f.ldap).len(), 0);
}

/// The bundled sample with `config/example.toml`'s perimeter: nothing in
/// it is in the perimeter. Refused (not "ok"), with the UAIs it holds and
/// how many people each carries; the dry run says the same; the report of
/// a run that keeps something lists the schools left out.
#[test]
fn a_complet_with_nothing_in_the_perimeter_is_refused_with_its_uais() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let sample = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/1d-complet");
    let sample = sample.to_str().unwrap();
    let wrong = ldap.config(tmp.path(), &["0920484B".into(), "0921262X".into()], "");
    let wrong = wrong.to_str().unwrap();
    for dry in [true, false] {
        let mut args = vec!["sync", "--config", wrong, sample];
        if dry {
            args.insert(1, "--dry-run");
        }
        let (_, err) = aaf_sync_ok(&args, 2);
        assert!(err.contains(": refused"), "{err}");
        assert!(
            err.contains(
                "nothing in this extraction is in the perimeter: no school has a UAI of \
                 [perimeter] uai = [\"0920484B\", \"0921262X\"]. It holds the schools \
                 (UAI: pupils and staff) 0920100J: 43, 0920101K: 43, 0920102L: 43."
            ),
            "{err}"
        );
    }
    assert_eq!(
        ldap.count("dc=example,dc=org", "(objectClass=ENTPerson)"),
        0
    );

    let tmp2 = tempfile::tempdir().unwrap();
    let right = ldap.config(tmp2.path(), &["0920100J".into()], "");
    let report = tmp2.path().join("report.json");
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            right.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            sample,
        ],
        0,
    );
    assert!(
        err.contains(
            "schools outside the perimeter (UAI: pupils and staff): 0920101K: 43, 0920102L: 43"
        ),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let outside = &json["steps"][0]["perimeter_outside_uai"];
    assert_eq!(outside["0920102L"], 43, "{json}");
    assert_eq!(outside["0920101K"], 43, "{json}");
}

#[test]
fn check_validates_config_and_connectivity() {
    let f = setup();
    let (out, _) = aaf_sync_ok(&["check", "--config", &f.config], 0);
    assert!(out.contains("schema loaded"), "{out}");
    std::fs::write(f.tmp.path().join("ldap.secret"), "wrong\n").unwrap();
    let (_, err) = aaf_sync_ok(&["check", "--config", &f.config], 2);
    assert!(
        err.contains("bind as cn=admin,dc=example,dc=org failed"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the password must not be printed");
}

/// A password file or variable that cannot be right says so, naming where
/// it was read, before any bind; the environment variable wins over the
/// file (as the environment overrides every key).
#[test]
fn secrets_that_cannot_be_right_are_named_and_the_environment_wins() {
    let f = setup();
    let secret = f.tmp.path().join("ldap.secret");
    let run = |env: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aaf-sync"));
        c.args(["check", "--config", &f.config])
            .env_remove("AAF_SYNC_LDAP_PASSWORD");
        if let Some(v) = env {
            c.env("AAF_SYNC_LDAP_PASSWORD", v);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let shown = secret.display().to_string();
    for (body, says) in [
        (
            "",
            "the first line of FILE is empty: write the secret there",
        ),
        (
            "\nsecret\n",
            "the first line of FILE is empty: write the secret there",
        ),
        (
            "secret \n",
            "the first line of FILE begins or ends with a space or a tab: remove it",
        ),
        (
            "\tsecret",
            "the first line of FILE begins or ends with a space or a tab: remove it",
        ),
    ] {
        write_secret(&secret, body);
        let (code, err) = run(None);
        assert_eq!(code, Some(2), "{body:?}: {err}");
        let says = format!(
            "configuration: ldap.bind_password_file: {}",
            says.replace("FILE", &shown)
        );
        assert!(err.contains(&says), "{body:?}: {err}");
    }
    // a missing file: named, and its error said once
    std::fs::remove_file(&secret).unwrap();
    let (code, err) = run(None);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains(&format!("cannot read {shown}")), "{err}");
    // the variable wins over a wrong file; an empty one is refused
    write_secret(&secret, "wrong\n");
    let (code, err) = run(Some("secret"));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run(Some(""));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "configuration: AAF_SYNC_LDAP_PASSWORD: the environment variable is empty: write the secret there"
        ),
        "{err}"
    );
}

#[test]
fn generated_extraction_in_parts_syncs_and_converges() {
    use aaf_sync::generator::{generate, GenConfig};
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        schools: 3,
        pupils_per_school: 60,
        part_size: 50,
        crlf: true,
        ..Default::default()
    };
    let g = generate(&cfg, &tmp.path().join("x")).unwrap();
    assert!(g
        .files
        .iter()
        .any(|f| f.to_str().unwrap().ends_with("_Eleve_0003.xml")));
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let x = tmp.path().join("x").display().to_string();
    aaf_sync_ok(&["sync", "--config", &config, &x], 0);
    let all = people(&ldap);
    let pupils = all
        .values()
        .filter(|a| sorted(a, "objectClass").contains(&"ENTEleve".to_string()))
        .count();
    assert_eq!(pupils, 180);
    let mut logins: Vec<String> = all.values().map(|a| one(a, "ENTPersonLogin")).collect();
    let n = logins.len();
    logins.sort();
    logins.dedup();
    assert_eq!(logins.len(), n, "logins must be unique");
    for a in all.values() {
        if sorted(a, "ENTPersonProfils") != ["National_ELV"]
            && sorted(a, "ENTPersonProfils") != ["National_TUT"]
        {
            assert!(
                !a.contains_key("mobile") && !a.contains_key("entpersonadresse"),
                "staff data leaked"
            );
        }
    }
    let before = csns(&ldap);
    aaf_sync_ok(&["sync", "--config", &config, &x], 0);
    assert_eq!(csns(&ldap), before);
}

#[test]
fn tls_ldaps_and_starttls_with_a_pinned_ca() {
    let ldap = Slapd::start_tls();
    let (ldaps, ca) = ldap.ldaps.clone().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ex = tmp.path().join("x");
    write_extraction(&ex, "CŒUR");
    let ca_line = format!("ca_file = \"{}\"\n", ca.display());
    // ldaps:// with the test CA
    let cfg = ldap.config(tmp.path(), &["0920100J".into()], "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let ldaps_cfg = tmp.path().join("ldaps.toml");
    std::fs::write(
        &ldaps_cfg,
        text.replace(&ldap.url, &ldaps)
            .replace("[source]", &format!("{ca_line}[source]")),
    )
    .unwrap();
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            ldaps_cfg.to_str().unwrap(),
            ex.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(people(&ldap).len(), 6);
    // StartTLS on ldap://
    let st_cfg = tmp.path().join("starttls.toml");
    std::fs::write(
        &st_cfg,
        text.replace("[source]", &format!("starttls = true\n{ca_line}[source]")),
    )
    .unwrap();
    let (out, _) = aaf_sync_ok(&["check", "--config", st_cfg.to_str().unwrap()], 0);
    assert!(out.contains("schema loaded"), "{out}");
    // an unknown CA is refused
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, text.replace(&ldap.url, &ldaps)).unwrap();
    let (_, err) = aaf_sync_ok(&["check", "--config", bad.to_str().unwrap()], 2);
    assert!(err.contains("cannot connect"), "{err}");
}
