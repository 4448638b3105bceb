//! The schema ships twice (`.schema` for slapd.conf, `.ldif` for cn=config):
//! this test keeps the two in step, and checks that both load into a stock
//! slapd after core, cosine, nis and inetorgperson.
//! `AAF_SYNC_BLESS=1 cargo test --test schema` rewrites the LDIF files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

fn schema_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "schema"))
        .collect();
    v.sort();
    assert!(v.len() >= 2, "schema files missing: {v:?}");
    v
}

#[test]
fn ldif_matches_schema() {
    for f in schema_files() {
        common::check_golden(
            &f.with_extension("ldif"),
            &common::schema_to_ldif(&f),
            "schema",
        );
    }
}

#[test]
fn schema_files_load_in_slapd_conf_format() {
    common::require_slapd();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = String::new();
    for s in ["core", "cosine", "nis", "inetorgperson"] {
        conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
    }
    for f in schema_files() {
        conf.push_str(&format!("include {}\n", f.display()));
    }
    conf.push_str(&format!(
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\ndatabase mdb\nsuffix \"dc=example,dc=org\"\ndirectory {}\n",
        dir.path().display()
    ));
    let cf = dir.path().join("slapd.conf");
    std::fs::write(&cf, conf).unwrap();
    let out = Command::new("/usr/sbin/slaptest")
        .args(["-u", "-f"])
        .arg(&cf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slaptest refused the schema: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ldif_schema_loads_into_cn_config() {
    // the harness builds cn=config from schema/*.ldif with slapadd -n0
    let ldap = common::Slapd::start();
    let out = ldap.search(
        "cn=Subschema",
        "base",
        "(objectClass=*)",
        &["objectClasses"],
    );
    assert!(out.contains("'aafSyncState'"), "{out}");
    assert!(out.contains("'ENTEleve'"), "{out}");
}

// ---------------------------------------------------------------------------
// The deployed SDET's definitions

/// A schema file's definitions, tokenised: `(keyword, tokens)` with
/// `objectIdentifier` macros expanded (`ENT_globAttPrefixe:126` →
/// `1.1.1.1.126`), quoted strings as one token without their quotes.
fn definitions(path: &Path, macros: &mut Vec<(String, String)>) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.trim_start().starts_with('#') || l.trim().is_empty() {
            continue;
        }
        match lines.last_mut() {
            Some(last) if l.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(l.trim());
            }
            _ => lines.push(l.trim().to_string()),
        }
    }
    let expand = |t: &str, macros: &[(String, String)]| -> String {
        // a syntax's length bound (`{1}`) stays as it is
        let (t, bound) = t.split_at(t.find('{').unwrap_or(t.len()));
        let (head, tail) = t.split_once(':').unwrap_or((t, ""));
        match macros.iter().find(|(n, _)| n == head) {
            Some((_, v)) if tail.is_empty() => format!("{v}{bound}"),
            Some((_, v)) => format!("{v}.{tail}{bound}"),
            None => format!("{t}{bound}"),
        }
    };
    let mut out = Vec::new();
    for l in lines {
        let (kw, rest) = l.split_once(char::is_whitespace).unwrap();
        let kw = kw.to_ascii_lowercase();
        let mut tokens = Vec::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => tokens.push(chars.by_ref().take_while(|c| *c != '\'').collect()),
                '(' | ')' | '$' => tokens.push(c.to_string()),
                c if c.is_whitespace() => {}
                c => {
                    let mut t = c.to_string();
                    while let Some(n) =
                        chars.next_if(|n| !n.is_whitespace() && !"()$'".contains(*n))
                    {
                        t.push(n);
                    }
                    tokens.push(t);
                }
            }
        }
        let tokens: Vec<String> = tokens.iter().map(|t| expand(t, macros)).collect();
        if kw == "objectidentifier" {
            macros.push((tokens[0].clone(), tokens[1].clone()));
        } else {
            out.push((kw, tokens));
        }
    }
    out
}

/// One definition's fields: `NAME` → the name, `OID` → the OID, each other
/// keyword → its values (a list's members, `$` dropped), flags → `[]`.
fn fields(tokens: &[String]) -> BTreeMap<String, Vec<String>> {
    const FLAGS: &str =
        " SINGLE-VALUE STRUCTURAL AUXILIARY ABSTRACT OBSOLETE NO-USER-MODIFICATION ";
    // up to the parenthesis that closes the first (the SDET's
    // ENTPersonProfils has one more after it, which slapd accepts)
    let mut depth = 0;
    let end = tokens
        .iter()
        .position(|t| {
            depth += i32::from(t == "(") - i32::from(t == ")");
            depth == 0
        })
        .unwrap();
    let inner = &tokens[1..end];
    let mut m = BTreeMap::from([("OID".to_string(), vec![inner[0].clone()])]);
    let mut i = 1;
    while i < inner.len() {
        let kw = inner[i].to_ascii_uppercase();
        i += 1;
        let mut values = Vec::new();
        if !FLAGS.contains(&format!(" {kw} ")) {
            assert!(i < inner.len(), "{kw} without a value: {tokens:?}");
            if inner[i] == "(" {
                i += 1;
                while inner[i] != ")" {
                    if inner[i] != "$" {
                        values.push(inner[i].clone());
                    }
                    i += 1;
                }
            } else {
                values.push(inner[i].clone());
            }
            i += 1;
        }
        m.insert(kw, values);
    }
    m
}

type Defs = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// (attribute types, object classes) by name, of schema files read in order.
fn schema_defs(files: &[PathBuf]) -> (Defs, Defs) {
    let (mut at, mut oc, mut macros) = (Defs::new(), Defs::new(), Vec::new());
    for f in files {
        for (kw, tokens) in definitions(f, &mut macros) {
            let m = fields(&tokens);
            let name = m["NAME"][0].clone();
            match kw.as_str() {
                "attributetype" => at.insert(name, m),
                "objectclass" => oc.insert(name, m),
                other => panic!("{}: unknown keyword {other}", f.display()),
            };
        }
    }
    (at, oc)
}

fn sdet_defs() -> (Defs, Defs) {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sdet-esco-schema");
    let files = ["11-esco-const", "13-esco-personne", "17-esco-structure"];
    schema_defs(&files.map(|f| d.join(format!("{f}.schema"))))
}

fn our_sdet_schema() -> PathBuf {
    schema_dir().join("10-aaf-sdet.schema")
}

/// The header's list of differences from the deployed SDET, one string a
/// bullet (`#  - …`).
fn header_bullets() -> Vec<String> {
    let text = std::fs::read_to_string(our_sdet_schema()).unwrap();
    let mut bullets: Vec<String> = Vec::new();
    for l in text.lines().take_while(|l| l.starts_with('#')) {
        match (l.strip_prefix("#  - "), bullets.last_mut()) {
            (Some(b), _) => bullets.push(b.to_string()),
            (None, Some(last)) if l.starts_with("#    ") => last.push_str(&l[4..]),
            _ => {}
        }
    }
    bullets
}

/// True when a bullet of the header names `attr` and says `what`.
fn listed(bullets: &[String], attr: &str, what: &str) -> bool {
    bullets
        .iter()
        .any(|b| b.contains(what) && b.split(|c: char| !c.is_alphanumeric()).any(|w| w == attr))
}

/// Every difference of an attribute type from the deployed SDET: the
/// attribute, the field that differs, what its header bullet says.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    ("ENTPersonStructRattach", "SINGLE-VALUE", "multi-valued"),
    ("ENTStructureEmail", "EQUALITY", "IA5"),
    ("ENTStructureEmail", "SUBSTR", "IA5"),
    ("ENTStructureEmail", "SYNTAX", "IA5"),
    ("ENTStructureMailSI", "EQUALITY", "IA5"),
    ("ENTStructureMailSI", "SUBSTR", "IA5"),
    ("ENTStructureMailSI", "SYNTAX", "IA5"),
    ("ENTPersonAdresseDiffusion", "SYNTAX", "no length bound"),
    ("ENTEleveTransport", "SYNTAX", "no length bound"),
    ("ENTEleveMajeur", "SYNTAX", "no length bound"),
];

/// The 2D attributes of issue 22, on the class that allows them, with the
/// values the slapd test writes: `|` between values; `{S}`, `{O}` the DNs
/// of two schools, `{P1}`, `{P2}` of two relatives. Realistic composite
/// values (research §3.3, §5.3), accented labels, several values where
/// multi-valued.
const ATTRS_2D: &[(&str, &[(&str, &str)])] = &[
    ("ENTEleve", PUPIL),
    ("ENTAuxEnseignant", TEACHER),
    ("ENTEtablissement", SCHOOL),
];

const PUPIL: &[(&str, &str)] = &[
    ("ENTEleveRegime", "DEMI-PENSIONNAIRE DANS L'ÉTABLISSEMENT"),
    ("ENTEleveStatutEleve", "SCOLAIRE"),
    ("ENTEleveMEF", "20111010110"),
    ("ENTEleveLibelleMEF", "1ERE GENERALE"),
    ("ENTEleveNivFormation", "PREMIÈRE GÉNÉRALE ET TECHNOLOGIQUE"),
    ("ENTEleveFiliere", "GÉNÉRAL"),
    (
        "ENTEleveEnseignements",
        "ANGLAIS LV1|ESPAGNOL LV2|HUMANITÉS, LITTÉRATURE",
    ),
    ("ENTEleveCodeEnseignements", "030201|030602|023200"),
    ("ENTEleveClasses", "{S}$1G2|{O}$2NDE4"),
    ("ENTEleveGroupes", "{S}$2ESP2|{S}$1HLP"),
    ("ENTElevePersRelEleve", "{P1}$10$1$1$1$1|{P2}$20$0$1$1$0"),
    ("ENTEleveMajeur", "N"),
];

const TEACHER: &[(&str, &str)] = &[
    (
        "ENTAuxEnsCategoDiscipline",
        "02$LETTRES|05$LANGUES VIVANTES ÉTRANGÈRES",
    ),
    (
        "ENTAuxEnsMEF",
        "{S}$20010018110$2NDE GÉNÉRALE ET TECHNO.|{S}$20111010110$1ERE GENERALE",
    ),
    (
        "ENTAuxEnsMatiereEnseignEtab",
        "{S}$FRANÇAIS|{O}$LITTÉRATURE",
    ),
    ("ENTAuxEnsClasses", "{S}$2NDE1|{S}$1G2"),
    ("ENTAuxEnsGroupes", "{S}$2ESP2|{O}$1HLP"),
    (
        "ENTAuxEnsClassesMatieres",
        "{S}$2NDE1$020100|{S}$1G2$020100",
    ),
    (
        "ENTAuxEnsGroupesMatieres",
        "{S}$1HLP$023200|{O}$1HLP$023200",
    ),
    ("ENTAuxEnsClassesPrincipal", "{S}$2NDE1|{O}$2NDE4"),
];

const SCHOOL: &[(&str, &str)] = &[
    (
        "ENTEtablissementMinistereTutelle",
        "MINISTÈRE DE L'ÉDUCATION NATIONALE",
    ),
    ("ENTEtablissementContrat", "PU"),
    ("ENTEtablissementBassin", "94001$BASSIN DE CRÉTEIL-NORD"),
    (
        "ENTStructureClasses",
        "2NDE1$SECONDE 1$20010018110|1G2$PREMIÈRE GÉNÉRALE 2$20111010110\
         |TSTMG$TERMINALE STMG$21133101110$21133102110",
    ),
    (
        "ENTStructureGroupes",
        "2ESP2$ESPAGNOL LV2$2NDE1$1G2|1HLP$HUMANITÉS, LITTÉRATURE$1G2",
    ),
];

#[test]
fn sdet_attributes_are_the_deployed_ones_but_the_listed_deviations() {
    let (sdet, sdet_oc) = sdet_defs();
    let (ours, ours_oc) = schema_defs(&[our_sdet_schema()]);
    let bullets = header_bullets();
    // the 2D attributes exist in both, allowed by the same class
    for (class, attrs) in ATTRS_2D {
        for (a, _) in *attrs {
            assert!(sdet.contains_key(*a), "{a}: not in the deployed SDET");
            assert!(ours.contains_key(*a), "{a}: not in 10-aaf-sdet.schema");
            for (name, oc) in [("the SDET", &sdet_oc), ("ours", &ours_oc)] {
                let c = &oc[*class];
                let mut allowed = c.get("MAY").into_iter().chain(c.get("MUST")).flatten();
                assert!(allowed.any(|x| x == a), "{a}: not on {class} in {name}");
            }
        }
    }
    // every SDET attribute type of ours: same OID, matching rules, syntax
    // (with its length bound) and SINGLE-VALUE flag, but the deviations
    let mut compared = 0;
    for (name, def) in &ours {
        let Some(theirs) = sdet.get(name) else {
            let oid = &def["OID"][0];
            assert!(
                oid.starts_with("1.1.9.1."),
                "{name}: not in the SDET but {oid}"
            );
            continue;
        };
        compared += 1;
        for f in ["OID", "EQUALITY", "SUBSTR", "SYNTAX", "SINGLE-VALUE"] {
            let same = def.get(f) == theirs.get(f);
            if let Some((_, _, what)) = DEVIATIONS.iter().find(|d| d.0 == name && d.1 == f) {
                assert!(
                    !same,
                    "{name} {f}: listed as a deviation but the same as the SDET"
                );
                assert!(
                    listed(&bullets, name, what),
                    "{name} {f}: not in the header's list"
                );
            } else {
                let (o, t) = (def.get(f), theirs.get(f));
                assert!(same, "{name} {f}: ours {o:?}, the SDET {t:?}");
            }
        }
    }
    assert!(compared >= 50, "only {compared} SDET attributes compared");
    // an SDET MUST of a class we define is a MUST here or named in the header
    for (class, theirs) in &sdet_oc {
        let Some(def) = ours_oc.get(class) else {
            continue;
        };
        assert_eq!(def["OID"], theirs["OID"], "{class}");
        for a in theirs.get("MUST").into_iter().flatten() {
            let must = def.get("MUST").into_iter().flatten().any(|x| x == a);
            let relaxed = listed(&bullets, a, "MUST attributes");
            assert!(must || relaxed, "{class} MUST {a}: relaxed silently");
        }
    }
}

// ---------------------------------------------------------------------------
// 2D entries in a slapd that runs the project's schema

/// One LDIF line, base64 when the value is not plain ASCII (RFC 2849).
fn ldif_line(name: &str, value: &str) -> String {
    use base64::Engine;
    let safe = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{name}: {value}\n")
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        format!("{name}:: {b64}\n")
    }
}

/// LDIF lines of (attribute, values) pairs.
fn attrs_ldif(attrs: &[(&str, Vec<String>)]) -> String {
    let lines = attrs
        .iter()
        .flat_map(|(a, vs)| vs.iter().map(|v| ldif_line(a, v)));
    lines.collect()
}

/// `ldapmodify` that may fail: (exit code, stderr).
fn try_modify(ldap: &common::Slapd, ldif: &str) -> (Option<i32>, String) {
    ldap.try_ldapmodify(ldif, false)
}

const SCHOOL_DN: &str = "ou=AC-CRETEIL-2001,ou=structures,dc=example,dc=org";
const OTHER_DN: &str = "ou=AC-CRETEIL-2002,ou=structures,dc=example,dc=org";

/// A table's values, split at `|`, with the DNs put in.
fn values(table: &[(&'static str, &str)]) -> Vec<(&'static str, Vec<String>)> {
    let dns = [
        ("{S}", SCHOOL_DN.to_string()),
        ("{O}", OTHER_DN.to_string()),
        ("{P1}", common::person_dn("7000001")),
        ("{P2}", common::person_dn("7000002")),
    ];
    let put = |v: &str| {
        dns.iter()
            .fold(v.to_string(), |v, (k, dn)| v.replace(k, dn))
    };
    table
        .iter()
        .map(|(a, v)| (*a, v.split('|').map(put).collect()))
        .collect()
}

/// A person's own attributes (an accented name, as in real files).
fn person(id: &str, classes: &str) -> String {
    let own = format!(
        "objectClass={classes};uid=AC-CRETEIL-{id};cn=Élise Bérénice;sn=Bérénice;\
         givenName=Élise;ENTPersonLogin=elise.berenice{id};ENTPersonJointure=AC-CRETEIL${id}"
    );
    let pairs = own.split(';').map(|p| p.split_once('=').unwrap());
    let pairs: Vec<_> = pairs
        .map(|(a, v)| (a, v.split('|').map(str::to_string).collect()))
        .collect();
    attrs_ldif(&pairs)
}

#[test]
fn entries_with_every_2d_attribute_are_stored_and_second_single_values_refused() {
    let ldap = common::Slapd::start();
    ldap.add(
        "dn: ou=structures,dc=example,dc=org\nobjectClass: organizationalUnit\nou: structures\n",
    );
    let school = |id: &str| {
        format!("objectClass: ENTEtablissement\nou: AC-CRETEIL-{id}\nENTStructureJointure: AC-CRETEIL${id}\n")
    };
    ldap.add(&format!("dn: {OTHER_DN}\n{}", school("2002")));
    let entries = [
        (SCHOOL_DN.to_string(), school("2001"), SCHOOL),
        (
            common::person_dn("6000001"),
            person("6000001", "ENTEleve"),
            PUPIL,
        ),
        (
            common::person_dn("6000002"),
            person("6000002", "ENTPerson|ENTAuxEnseignant"),
            TEACHER,
        ),
    ];
    let (ours, _) = schema_defs(&[our_sdet_schema()]);
    let mut refused = 0;
    for (dn, own, table) in entries {
        let new = values(table);
        ldap.add(&format!(
            "{}{own}{}",
            ldif_line("dn", &dn),
            attrs_ldif(&new)
        ));
        // every new attribute reads back with exactly the values written
        let got = ldap.entry(&dn);
        for (a, want) in &new {
            let mut got = got.get(&a.to_lowercase()).cloned().unwrap_or_default();
            let mut want = want.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{dn}: {a}");
        }
        // a second value of a single-valued one is refused, the first kept
        for (a, want) in &new {
            if !ours[*a].contains_key("SINGLE-VALUE") {
                assert!(want.len() >= 2, "{a}: multi-valued, write several values");
                continue;
            }
            let change = format!(
                "{}changetype: modify\nadd: {a}\n{a}: X2\n",
                ldif_line("dn", &dn)
            );
            let (code, err) = try_modify(&ldap, &change);
            assert_eq!(code, Some(19), "{dn}: a second {a} was not refused: {err}");
            assert!(err.contains("multiple values"), "{a}: {err}");
            assert_eq!(ldap.entry(&dn)[&a.to_lowercase()], *want, "{dn}: {a}");
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "single-valued 2D attributes");
}
