//! Adversarial tests of the 2D (secondary school) import: hostile but
//! real-shaped values in the composite fields, odd relations, reference
//! tables missing or broken, Deltas touching one list, departures and
//! returns, a 1D and a 2D source in one tree, runs killed by SIGKILL, the
//! deployed SDET schema. Each test reads the outcome back from a real slapd.

mod common;

use aaf_sync::generator::{generate, Degree, GenConfig, GenEncoding};
use aaf_sync::mapping::layout::Layout;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SOURCE: &str = "AC-CRETEIL-2D";
const PEOPLE: &str = "ou=people,dc=example,dc=org";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn layout() -> Layout {
    Layout::new(BASE, SOURCE)
}

fn dn(id: &str) -> String {
    layout().person_dn(id).to_string()
}

fn sdn(sid: &str) -> String {
    layout().structure_dn(sid).to_string()
}

fn gen_cfg(date: &str, delta: bool, days: u32, schools: usize, pupils: usize) -> GenConfig {
    GenConfig {
        degree: Degree::Two,
        date: date.into(),
        delta,
        days,
        schools,
        schools_outside: 1,
        pupils_per_school: pupils,
        seed: 11,
        prefix: "ENT2D".into(),
        // every file UTF-8: a 0xFF byte is then always invalid
        encodings: [GenEncoding::Utf8; 4],
        ..Default::default()
    }
}

/// A small generated 2D extraction in `dir`; returns (inside, outside) UAIs.
fn gen2d(dir: &Path, date: &str, delta: bool, days: u32) -> (Vec<String>, Vec<String>) {
    let g = generate(&gen_cfg(date, delta, days, 2, 30), dir).unwrap();
    (g.uai_inside, g.uai_outside)
}

/// A 2D config (source `AC-CRETEIL-2D`) in `dir`.
fn config_2d(ldap: &Slapd, dir: &Path, uai: &[String]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let p = ldap.config(dir, uai, "[safety]\nmax_departures_percent = 50.0\n");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "name = \"AC-CRETEIL\"",
        &format!("name = \"{SOURCE}\"\ndegree = \"2d\""),
    );
    std::fs::write(&p, text).unwrap();
    s(&p)
}

/// One run's exit code, JSON report (Null when none) and stderr.
struct Run {
    code: i32,
    report: Value,
    err: String,
}

impl Run {
    fn failures(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(steps) = self.report["steps"].as_array() {
            for st in steps {
                if let Some(f) = st["applied"]["failures"].as_array() {
                    out.extend(f.iter().cloned());
                }
            }
        }
        out
    }
    fn rejected(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(steps) = self.report["steps"].as_array() {
            for st in steps {
                if let Some(f) = st["rejected_records"].as_array() {
                    out.extend(f.iter().cloned());
                }
            }
        }
        out
    }
    fn text(&self) -> String {
        format!("{}\n{}", self.report, self.err)
    }
}

fn sync_args(config: &str, now: &str, paths: &[&Path], extra: &[&str]) -> Run {
    let report = tempfile::NamedTempFile::new().unwrap();
    let rp = s(report.path());
    let mut args: Vec<String> = vec![
        "sync".into(),
        "--config".into(),
        config.into(),
        "--now".into(),
        now.into(),
        "--report".into(),
        rp.clone(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(paths.iter().map(|p| s(p)));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = aaf_sync(&a);
    let report = std::fs::read_to_string(&rp)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        report,
        err: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn sync(config: &str, now: &str, paths: &[&Path]) -> Run {
    sync_args(config, now, paths, &[])
}

/// Runs, expects `code` and no failed LDAP operation; then the same run
/// again must write nothing.
fn sync_idempotent(ldap: &Slapd, config: &str, now: &str, x: &Path, code: i32) -> Run {
    let r = sync(config, now, &[x]);
    assert_eq!(r.code, code, "{now}: exit\n{}", r.text());
    assert!(r.failures().is_empty(), "{now}: {:?}", r.failures());
    let before = csns(ldap);
    let again = sync(config, now, &[x]);
    assert_eq!(again.code, code, "{now}: re-run exit\n{}", again.text());
    assert_eq!(
        csns(ldap),
        before,
        "{now}: a re-run of the same extraction wrote\n{}",
        again.text()
    );
    r
}

// ---- raw record editing (the tags are ASCII whatever the encoding) ----

fn find(h: &[u8], n: &[u8], from: usize) -> Option<usize> {
    h.get(from..)?
        .windows(n.len())
        .position(|w| w == n)
        .map(|p| p + from)
}

fn xml_esc(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn xml_unesc(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The element of `attr` in one request: (start, end) byte range.
fn element(rec: &[u8], attr: &str) -> Option<(usize, usize)> {
    let needle = format!("name=\"{attr}\"");
    let at = find(rec, needle.as_bytes(), 0)?;
    let start = rec[..at].iter().rposition(|b| *b == b'<')?;
    let close = if rec[start..].starts_with(b"<modification ") {
        "</modification>"
    } else {
        "</attr>"
    };
    let end = find(rec, close.as_bytes(), at)? + close.len();
    Some((start, end))
}

/// The values of `attr` in one request (raw bytes, `&amp;` decoded).
fn values_of(rec: &[u8], attr: &str) -> Vec<String> {
    let Some((a, b)) = element(rec, attr) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&rec[a..b]).to_string();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<value>") {
        let after = &rest[i + 7..];
        let j = after.find("</value>").unwrap();
        out.push(xml_unesc(&after[..j]));
        rest = &after[j..];
    }
    out
}

/// Replaces (or adds) `attr` of one request with raw `values` (bytes
/// written as given: escape them first when they are text).
fn set_raw(rec: &mut Vec<u8>, attr: &str, values: &[Vec<u8>]) {
    let modify = rec.starts_with(b"<modifyRequest");
    let mut el: Vec<u8> = if modify {
        format!("<modification name=\"{attr}\" operation=\"replace\">").into_bytes()
    } else {
        format!("<attr name=\"{attr}\">").into_bytes()
    };
    if values.is_empty() {
        el.extend_from_slice(b"<value/>");
    }
    for v in values {
        el.extend_from_slice(b"<value>");
        el.extend_from_slice(v);
        el.extend_from_slice(b"</value>");
    }
    el.extend_from_slice(if modify {
        b"</modification>" as &[u8]
    } else {
        b"</attr>"
    });
    match element(rec, attr) {
        Some((a, b)) => {
            rec.splice(a..b, el);
        }
        None => {
            let close: &[u8] = if modify {
                b"</modifications>"
            } else {
                b"</attributes>"
            };
            let at = find(rec, close, 0).expect("an attribute list");
            el.push(b'\n');
            rec.splice(at..at, el);
        }
    }
}

fn set(rec: &mut Vec<u8>, attr: &str, values: &[&str]) {
    let v: Vec<Vec<u8>> = values.iter().map(|v| xml_esc(v).into_bytes()).collect();
    set_raw(rec, attr, &v);
}

fn id_in(rec: &[u8]) -> String {
    let a = find(rec, b"<id>", 0).unwrap() + 4;
    let b = find(rec, b"</id>", a).unwrap();
    String::from_utf8_lossy(&rec[a..b]).to_string()
}

/// Every request of `cat` in `dir`: (index, id, values of `attr`).
fn scan(dir: &Path, cat: &str, attr: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    edit_records(dir, cat, |n, rec| {
        out.push((n, id_in(rec), values_of(rec, attr)));
    });
    out
}

/// Edits the request of `cat` whose id is `id`.
fn edit_id(dir: &Path, cat: &str, id: &str, mut f: impl FnMut(&mut Vec<u8>)) {
    let mut hit = false;
    edit_records(dir, cat, |_, rec| {
        if id_in(rec) == id {
            f(rec);
            hit = true;
        }
    });
    assert!(hit, "{cat} {id} not found");
}

/// Legal guardians (`respLegal` 1 or 2) of an `ENTElevePersRelEleve` list.
fn legal(rel: &[String]) -> Vec<String> {
    rel.iter()
        .filter(|v| matches!(v.split('$').nth(3), Some("1" | "2")))
        .map(|v| v.split('$').next().unwrap().to_string())
        .collect()
}

/// A pupil (index, id, guardians) whose guardians are named by no other
/// pupil, and who has two of them.
fn lone_family(dir: &Path) -> (usize, String, Vec<String>) {
    let pupils = scan(dir, "Eleve", "ENTElevePersRelEleve");
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, rel) in &pupils {
        for g in legal(rel) {
            *named.entry(g).or_default() += 1;
        }
    }
    pupils
        .into_iter()
        .map(|(n, id, rel)| (n, id, legal(&rel)))
        .find(|(_, _, g)| g.len() == 2 && g.iter().all(|g| named[g] == 1))
        .expect("a pupil with two guardians of their own")
}

/// The sid of the pupil's class and its code (`ENTEleveClasses` `sid$code`).
fn class_of(dir: &Path, id: &str) -> (String, String) {
    let mut out = None;
    edit_id(dir, "Eleve", id, |rec| {
        let v = values_of(rec, "ENTEleveClasses");
        let (sid, code) = v[0].split_once('$').unwrap();
        out = Some((sid.to_string(), code.to_string()));
    });
    out.unwrap()
}

fn entries_2d(ldap: &Slapd) -> BTreeMap<String, Attrs> {
    ldap.entries(BASE, &format!("(aafSyncSource={SOURCE})"), &["*"])
}

fn class_entries(ldap: &Slapd) -> BTreeMap<String, Attrs> {
    ldap.entries(
        &format!("ou=groups,{BASE}"),
        &format!("(&(|(objectClass=ENTClasse)(objectClass=ENTGroupe))(aafSyncSource={SOURCE}))"),
        &["*"],
    )
}

fn vals(a: &Attrs, attr: &str) -> Vec<String> {
    a.get(&attr.to_ascii_lowercase())
        .cloned()
        .unwrap_or_default()
}

/// Surnames and given names of the people of an extraction (4 letters and
/// more): none of them may appear in a report or on stderr.
fn names_of(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for cat in ["Eleve", "PersRelEleve", "PersEducNat"] {
        for attr in ["sn", "givenName"] {
            for (_, _, v) in scan(dir, cat, attr) {
                out.extend(v.into_iter().filter(|n| n.chars().count() >= 4));
            }
        }
    }
    out
}

fn assert_no_names(names: &BTreeSet<String>, text: &str) {
    for n in names {
        assert!(!text.contains(n.as_str()), "personal data out: {n}\n{text}");
    }
}

/// No value anywhere under the base holds a control character (tab, CR
/// and LF aside, as tests/integrity.rs allows them).
fn assert_no_controls(ldap: &Slapd) {
    for (d, a, v) in all_values(ldap) {
        if a == "userpassword" {
            continue;
        }
        assert!(
            !v.chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
            "{d} {a} holds a control character: {v:?}"
        );
    }
}

/// A slapd, a generated Complet `c0` and its config.
struct Fx {
    ldap: Slapd,
    tmp: tempfile::TempDir,
    c0: PathBuf,
    config: String,
    uai: Vec<String>,
    outside: Vec<String>,
}

impl Fx {
    fn new(ldap: Slapd) -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let c0 = tmp.path().join("c0");
        let (uai, outside) = gen2d(&c0, "20250904", false, 0);
        let config = config_2d(&ldap, &tmp.path().join("cfg"), &uai);
        Fx {
            ldap,
            tmp,
            c0,
            config,
            uai,
            outside,
        }
    }
    /// `c0` delivered again on `date` as `name`.
    fn copy(&self, name: &str, date: &str) -> PathBuf {
        let to = self.tmp.path().join(name);
        copy_extraction(&self.c0, &to, date);
        to
    }
    /// The structure id of the school of UAI `uai`.
    fn sid_of_uai(&self, uai: &str) -> String {
        scan(&self.c0, "EtabEducNat", "ENTStructureUAI")
            .into_iter()
            .find(|(_, _, v)| v.first().map(String::as_str) == Some(uai))
            .map(|(_, id, _)| id)
            .expect("the school")
    }
}

// ---------------------------------------------------------------------------
// 1. A rejected pupil record: the pupil kept as is, and their guardians too
// ---------------------------------------------------------------------------

#[test]
fn a_rejected_pupil_record_keeps_the_pupil_and_their_guardians() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, guardians) = lone_family(&f.c0);
    let before: BTreeMap<String, Attrs> = std::iter::once(pupil.clone())
        .chain(guardians.iter().cloned())
        .map(|id| (id.clone(), f.ldap.entry(&dn(&id))))
        .collect();
    let c1 = f.copy("c1", "20250905");
    edit_id(&c1, "Eleve", &pupil, |rec| {
        set_raw(rec, "sn", &[b"Z\xffZ".to_vec()]);
    });
    let names = names_of(&c1);
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert_eq!(r.code, 1, "rejected_records\n{}", r.text());
    assert_eq!(r.rejected().len(), 1, "{:?}", r.rejected());
    assert_no_names(&names, &r.text());
    for (id, was) in &before {
        assert!(
            f.ldap.exists_dn(&dn(id)),
            "{id} left ou=people although only its pupil's record was unreadable\n{}",
            r.text()
        );
        assert_eq!(&f.ldap.entry(&dn(id)), was, "{id} changed");
    }
}

/// The same with the guardian's record rejected: the pupil's links stay.
#[test]
fn a_rejected_guardian_record_keeps_the_guardian_and_the_links() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, guardians) = lone_family(&f.c0);
    let p_before = f.ldap.entry(&dn(&pupil));
    let g_before = f.ldap.entry(&dn(&guardians[0]));
    let c1 = f.copy("c1", "20250905");
    edit_id(&c1, "PersRelEleve", &guardians[0], |rec| {
        set_raw(rec, "givenName", &[b"\xff\xfe".to_vec()]);
    });
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert_eq!(f.ldap.entry(&dn(&guardians[0])), g_before);
    assert_eq!(f.ldap.entry(&dn(&pupil)), p_before);
}

// ---------------------------------------------------------------------------
// 2. Class and group codes: case, DN-special characters, empty fields,
//    control characters, length
// ---------------------------------------------------------------------------

#[test]
fn class_codes_differing_only_in_case_lose_no_member() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let (_, a, ca) = &pupils[0];
    let (sid, code) = ca[0].split_once('$').unwrap();
    // another pupil of the same school, put in the lower-case twin class
    let (_, b, _) = pupils
        .iter()
        .find(|(_, id, c)| id != a && c[0].starts_with(&format!("{sid}$")) && c[0] != ca[0])
        .expect("another pupil of that school");
    let twin = format!("{sid}${}x", code.to_lowercase());
    let upper = format!("{sid}${}X", code);
    edit_id(&f.c0, "Eleve", a, |rec| {
        set(rec, "ENTEleveClasses", &[upper.as_str()])
    });
    edit_id(&f.c0, "Eleve", b, |rec| {
        set(rec, "ENTEleveClasses", &[twin.as_str()])
    });
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    for id in [a, b] {
        let member_of: Vec<String> = class_entries(&f.ldap)
            .into_iter()
            .filter(|(_, c)| {
                vals(c, "objectClass").iter().any(|o| o == "ENTClasse")
                    && vals(c, "member")
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(&dn(id)))
            })
            .map(|(d, _)| d)
            .collect();
        assert_eq!(member_of.len(), 1, "pupil {id} is in {member_of:?}");
    }
}

/// Codes with `,` `+` `=` `"` `\` `#`, leading and trailing spaces: the
/// class entries exist, hold their pupils, a re-run writes nothing, and
/// the pupil's value names the class the entry is.
#[test]
fn dn_special_class_and_group_codes_sync_and_stay_in_step() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let codes = [
        "2,A", "2+B", "C=3", "\"Q\"", "B\\S", "#1", " 5E ", "A;B", "<x>", "S&T",
    ];
    let mut want = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let (_, id, c) = &pupils[i];
        let sid = c[0].split_once('$').unwrap().0.to_string();
        let v = format!("{sid}${code}");
        edit_id(&f.c0, "Eleve", id, |rec| {
            set(rec, "ENTEleveClasses", &[v.as_str()]);
            set(rec, "ENTEleveGroupes", &[format!("{sid}$G{code}").as_str()]);
        });
        want.push((id.clone(), sid, code.trim().to_string()));
    }
    let names = names_of(&f.c0);
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    assert_no_names(&names, &r.text());
    let classes = class_entries(&f.ldap);
    for (id, sid, code) in &want {
        let c = classes
            .values()
            .find(|c| {
                vals(c, "aafSyncCode") == [code.clone()]
                    && vals(c, "objectClass").iter().any(|o| o == "ENTClasse")
            })
            .unwrap_or_else(|| panic!("no class {code:?}"));
        assert!(
            vals(c, "member")
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&dn(id))),
            "{code:?}: {c:?}"
        );
        let p = f.ldap.entry(&dn(id));
        let v = vals(&p, "ENTEleveClasses");
        assert_eq!(v.len(), 1, "{v:?}");
        let (sdn_got, code_got) = v[0].rsplit_once('$').unwrap();
        assert!(sdn_got.eq_ignore_ascii_case(&sdn(sid)), "{v:?}");
        assert_eq!(code_got.trim(), code, "{v:?}");
    }
}

/// `sid$`, `$code`, `sid$$`, `$`, a lone sid, a school outside the
/// perimeter: no class with an empty code, no value naming an outside
/// school, nothing written twice.
#[test]
fn empty_fields_in_class_values_make_no_empty_class() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let outside = f.sid_of_uai(&f.outside[0]);
    let (_, id, c) = &pupils[0];
    let sid = c[0].split_once('$').unwrap().0.to_string();
    let hostile = [
        format!("{sid}$"),
        "$6Z".to_string(),
        format!("{sid}$$"),
        "$".to_string(),
        sid.clone(),
        format!("{outside}$6Z"),
        c[0].clone(),
    ];
    let hv: Vec<&str> = hostile.iter().map(String::as_str).collect();
    edit_id(&f.c0, "Eleve", id, |rec| set(rec, "ENTEleveClasses", &hv));
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    for (d, c) in class_entries(&f.ldap) {
        let code = vals(&c, "aafSyncCode");
        assert!(code.iter().all(|v| !v.trim().is_empty()), "{d}: empty code");
    }
    let p = f.ldap.entry(&dn(id));
    let broken: Vec<String> = vals(&p, "ENTEleveClasses")
        .into_iter()
        .filter(|v| {
            let (s, code) = v.split_once('$').unwrap_or((v, ""));
            let code = code.trim_matches(|c: char| c == '$' || c.is_whitespace());
            !s.contains(",ou=structures,") || code.is_empty() || s.contains(&outside)
        })
        .collect();
    assert!(
        broken.is_empty(),
        "the pupil holds broken class values {broken:?}"
    );
    let o = outside.to_lowercase();
    assert!(!f
        .ldap
        .dump()
        .keys()
        .any(|d| d.contains(&format!("-{o},")) || d.contains(&format!("-{o}-"))));
}

/// Control characters (BEL, ESC) inside a class code, and a tab: no
/// control character reaches the directory (a tab may, as in names), no
/// LDAP operation fails, a re-run writes nothing.
#[test]
fn control_characters_in_class_values() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let raws: Vec<Vec<u8>> = vec![b"6\x07A".to_vec(), b"6\tB".to_vec(), b"6\x1bC".to_vec()];
    for (i, raw) in raws.iter().enumerate() {
        let (_, id, c) = &pupils[i];
        let sid = c[0].split_once('$').unwrap().0.to_string();
        let mut v = format!("{sid}$").into_bytes();
        v.extend_from_slice(raw);
        edit_id(&f.c0, "Eleve", id, |rec| {
            set_raw(rec, "ENTEleveClasses", std::slice::from_ref(&v))
        });
    }
    let r = sync(&f.config, "2025-09-04", &[&f.c0]);
    assert!(matches!(r.code, 0 | 1), "{}", r.text());
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_no_controls(&f.ldap);
    let before = csns(&f.ldap);
    sync(&f.config, "2025-09-04", &[&f.c0]);
    assert_eq!(csns(&f.ldap), before, "a re-run wrote");
}

/// A long class code (the record limits let it through): either the record
/// is rejected, or the class is written; never a failed LDAP add that
/// leaves the run `partial` every day.
#[test]
fn a_long_class_code_never_leaves_the_run_partial() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let (_, id, c) = &pupils[0];
    let sid = c[0].split_once('$').unwrap().0.to_string();
    let v = format!("{sid}${}", "L".repeat(400));
    edit_id(&f.c0, "Eleve", id, |rec| {
        set(rec, "ENTEleveClasses", &[v.as_str()])
    });
    let r = sync(&f.config, "2025-09-04", &[&f.c0]);
    assert!(
        r.failures().is_empty(),
        "exit {}: {:?}",
        r.code,
        r.failures()
    );
    assert!(matches!(r.code, 0 | 1), "{}", r.text());
}

/// Spaces around the school id of a class value: the pupil's value and the
/// class entry's members agree (member of a class ⇔ the class in the
/// pupil's `ENTEleveClasses`).
#[test]
fn spaces_around_the_school_id_keep_value_and_membership_in_step() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let (_, id, c) = &pupils[0];
    let (sid, code) = c[0].split_once('$').unwrap();
    let v = format!(" {sid} $ {code} ");
    edit_id(&f.c0, "Eleve", id, |rec| {
        set(rec, "ENTEleveClasses", &[v.as_str()])
    });
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let p = f.ldap.entry(&dn(id));
    let in_classes: Vec<String> = class_entries(&f.ldap)
        .into_iter()
        .filter(|(_, c)| {
            vals(c, "objectClass").iter().any(|o| o == "ENTClasse")
                && vals(c, "member")
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&dn(id)))
        })
        .map(|(_, c)| vals(&c, "aafSyncCode")[0].clone())
        .collect();
    let values = vals(&p, "ENTEleveClasses");
    assert_eq!(in_classes, [code.to_string()], "{values:?}");
    assert_eq!(
        values.len(),
        1,
        "member of {in_classes:?}, value {values:?}"
    );
    assert!(values[0].trim_end().ends_with(&format!("${code}")) || values[0].ends_with(code));
}

// ---------------------------------------------------------------------------
// 3. Relations: shapes, flags, self links, twice named, unknown guardians
// ---------------------------------------------------------------------------

/// Odd `ENTElevePersRelEleve` values: 4 and 8 fields, letters as flags,
/// the pupil's own id, one guardian named twice with different flags, an
/// authority naming nobody the extraction has. Only real guardians are
/// linked, the payment flags are empty, no pupil names themself.
#[test]
fn odd_relation_values_link_only_real_guardians() {
    let f = Fx::new(Slapd::start());
    let (_, pupil, g) = lone_family(&f.c0);
    let (_, other, g2) = {
        let pupils = scan(&f.c0, "Eleve", "ENTElevePersRelEleve");
        pupils
            .into_iter()
            .map(|(n, id, r)| (n, id, legal(&r)))
            .find(|(_, id, g)| *id != pupil && !g.is_empty())
            .unwrap()
    };
    let rel = [
        format!("{}$20$1$1", g[0]),         // 4 fields
        format!("{}$10$1$2$1$1$X$Y", g[1]), // 8 fields
        format!("{pupil}$20$0$1$1$0"),      // the pupil's own id
        format!("{}$39$0$A$1$0", g2[0]),    // a letter as the legal flag
    ];
    let rv: Vec<&str> = rel.iter().map(String::as_str).collect();
    let auth = [g[0].as_str(), g[1].as_str(), "99999999", pupil.as_str()];
    edit_id(&f.c0, "Eleve", &pupil, |rec| {
        set(rec, "ENTElevePersRelEleve", &rv);
        set(rec, "ENTEleveAutoriteParentale", &auth);
    });
    // the other pupil names their guardian twice: not legal, then legal
    let twice = [
        format!("{}$90$0$0$1$0", g2[0]),
        format!("{}$20$0$1$0$0", g2[0]),
    ];
    let tv: Vec<&str> = twice.iter().map(String::as_str).collect();
    edit_id(&f.c0, "Eleve", &other, |rec| {
        set(rec, "ENTElevePersRelEleve", &tv);
        set(rec, "ENTEleveAutoriteParentale", &[g2[0].as_str()]);
    });
    let names = names_of(&f.c0);
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    assert_no_names(&names, &r.text());
    let p = f.ldap.entry(&dn(&pupil));
    let parents: BTreeSet<String> = vals(&p, "ENTEleveParents")
        .iter()
        .map(|v| v.to_lowercase())
        .collect();
    let want: BTreeSet<String> = [dn(&g[0]), dn(&g[1])]
        .iter()
        .map(|v| v.to_lowercase())
        .collect();
    assert_eq!(parents, want, "{p:?}");
    for v in vals(&p, "ENTElevePersRelEleve") {
        let fl: Vec<&str> = v.split('$').collect();
        assert_eq!(fl.len(), 6, "{v}");
        assert!(fl[2].is_empty() && fl[5].is_empty(), "payment flags: {v}");
        assert!(!fl[0].eq_ignore_ascii_case(&dn(&pupil)), "self link {v}");
    }
    for v in vals(&p, "ENTEleveAutoriteParentale") {
        assert!(
            !v.to_lowercase().contains(&dn(&pupil).to_lowercase()),
            "{v}"
        );
        assert!(!v.contains("99999999"), "{v}");
    }
    // the guardian named twice: linked once, with the legal flags
    let o = f.ldap.entry(&dn(&other));
    let rels = vals(&o, "ENTElevePersRelEleve");
    assert_eq!(rels.len(), 1, "{rels:?}");
    let fl: Vec<&str> = rels[0].split('$').collect();
    assert_eq!((fl[1], fl[3]), ("20", "1"), "{rels:?}");
    for (d, e) in f
        .ldap
        .entries(PEOPLE, "(objectClass=ENTAuxPersRelEleve)", &["*"])
    {
        for pupil in vals(&e, "ENTAuxPersRelEleveEleve") {
            assert!(f.ldap.exists_dn(&pupil), "{d} -> {pupil}");
        }
    }
}

/// The same guardian twice in the other order (legal first, then a
/// contact-only value): the legal value wins whatever the order.
#[test]
fn a_guardian_named_twice_is_linked_the_same_whatever_the_order() {
    let f = Fx::new(Slapd::start());
    let (_, pupil, g) = lone_family(&f.c0);
    let a = format!("{}$20$0$1$1$0", g[0]);
    let b = format!("{}$90$0$0$0$0", g[0]);
    edit_id(&f.c0, "Eleve", &pupil, |rec| {
        set(rec, "ENTElevePersRelEleve", &[b.as_str(), a.as_str()]);
        set(rec, "ENTEleveAutoriteParentale", &[g[0].as_str()]);
    });
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let first = vals(&f.ldap.entry(&dn(&pupil)), "ENTElevePersRelEleve");
    let c1 = f.copy("c1", "20250905");
    edit_id(&c1, "Eleve", &pupil, |rec| {
        set(rec, "ENTElevePersRelEleve", &[a.as_str(), b.as_str()]);
    });
    sync_idempotent(&f.ldap, &f.config, "2025-09-05", &c1, 0);
    let second = vals(&f.ldap.entry(&dn(&pupil)), "ENTElevePersRelEleve");
    assert_eq!(first, second, "the order of the values changed the link");
}

// ---------------------------------------------------------------------------
// 4. Teachers: lists naming empty classes, outside schools, two schools
// ---------------------------------------------------------------------------

#[test]
fn teacher_lists_naming_outside_schools_and_pupil_less_classes() {
    let f = Fx::new(Slapd::start());
    let outside = f.sid_of_uai(&f.outside[0]);
    let teachers = scan(&f.c0, "PersEducNat", "ENTAuxEnsClassesMatieres");
    let (_, t, cm) = teachers
        .iter()
        .find(|(_, _, v)| !v.is_empty())
        .expect("a teacher");
    let sid = cm[0].split('$').next().unwrap().to_string();
    let subject = cm[0].split('$').nth(2).unwrap().to_string();
    // the other school inside the perimeter
    let other = f
        .uai
        .iter()
        .map(|u| f.sid_of_uai(u))
        .find(|s| *s != sid)
        .unwrap();
    let mut list = cm.clone();
    list.push(format!("{sid}$NOPUPIL${subject}"));
    list.push(format!("{outside}$6A${subject}"));
    list.push(format!("{other}$6A${subject}"));
    list.push(format!("{sid}$6A$NOSUCHSUBJECT"));
    let lv: Vec<&str> = list.iter().map(String::as_str).collect();
    let rattach = [sid.as_str(), other.as_str(), outside.as_str()];
    edit_id(&f.c0, "PersEducNat", t, |rec| {
        set(rec, "ENTAuxEnsClassesMatieres", &lv);
        set(rec, "ENTPersonStructRattach", &rattach);
    });
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let e = f.ldap.entry(&dn(t));
    let got = vals(&e, "ENTAuxEnsClassesMatieres");
    assert!(
        got.iter().all(|v| !v.contains(&outside)),
        "an outside school in {got:?}"
    );
    assert!(got.iter().any(|v| v.contains("$NOPUPIL$")), "{got:?}");
    let rattach = vals(&e, "ENTPersonStructRattach");
    assert_eq!(rattach.len(), 2, "{rattach:?}");
    // the pupil-less class exists with the teacher as its only member
    let classes = class_entries(&f.ldap);
    let c = classes
        .values()
        .find(|c| vals(c, "aafSyncCode") == ["NOPUPIL".to_string()])
        .expect("the class a teacher alone names");
    assert_eq!(vals(c, "member").len(), 1);
    let unknown = &r.report["steps"][0]["mapping"]["unknown_codes"];
    assert!(
        unknown["ENTAuxEnsClassesMatieres"].as_u64().unwrap_or(0) >= 1,
        "{unknown}"
    );
}

// ---------------------------------------------------------------------------
// 5. Reference tables: missing, empty, malformed, duplicated
// ---------------------------------------------------------------------------

fn files_of(dir: &Path, cat: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).contains(&format!("_{cat}_")))
        .collect();
    v.sort();
    v
}

#[test]
fn a_complet_without_its_reference_tables_departs_nobody_and_keeps_labels() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let before = csns(&f.ldap);
    let c1 = f.copy("c1", "20250905");
    for cat in ["MatiereEducNat", "MefEducNat"] {
        for p in files_of(&c1, cat) {
            std::fs::remove_file(p).unwrap();
        }
    }
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert!(matches!(r.code, 0 | 2), "{}", r.text());
    let mut after = csns(&f.ldap);
    let mut before = before;
    // the control entry records the extraction applied
    after.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    before.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    assert_eq!(
        after, before,
        "a Complet without its tables changed entries"
    );
}

#[test]
fn empty_malformed_and_duplicated_reference_tables() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let before = csns(&f.ldap);
    // empty subjects table
    let c1 = f.copy("c1", "20250905");
    drop_records(&c1, "MatiereEducNat", |_| false);
    // MEF: one malformed record, one id twice with another label
    let mut first = None;
    edit_records(&c1, "MefEducNat", |n, rec| {
        if n == 0 {
            first = Some(rec.clone());
            set_raw(rec, "ENTLibelleMef", &[b"\xff".to_vec()]);
        }
    });
    for p in files_of(&c1, "MefEducNat").iter().take(1) {
        let mut bytes = std::fs::read(p).unwrap();
        let mut dup = first.clone().unwrap();
        set(&mut dup, "ENTLibelleMef", &["AUTRE LIBELLE"]);
        let at = find(&bytes, b"</ficAlimMENESR>", 0).unwrap();
        bytes.splice(at..at, dup);
        std::fs::write(p, bytes).unwrap();
    }
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(matches!(r.code, 0 | 1), "{}", r.text());
    let mut after = csns(&f.ldap);
    let mut before = before;
    after.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    before.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    assert_eq!(
        after,
        before,
        "broken reference tables changed people\n{}",
        r.text()
    );
}

// ---------------------------------------------------------------------------
// 6. Deltas
// ---------------------------------------------------------------------------

/// A Delta of `date` in `dir`: the generated Delta's files, their requests
/// replaced by `bodies` (category → requests), other categories empty.
fn delta(f: &Fx, name: &str, date: &str, bodies: &[(&str, String)]) -> PathBuf {
    delta_in(f.tmp.path(), name, date, bodies)
}

fn delta_in(tmp: &Path, name: &str, date: &str, bodies: &[(&str, String)]) -> PathBuf {
    let dir = tmp.join(name);
    gen2d(&dir, date, true, 1);
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let fname = s(&p);
        let body = bodies
            .iter()
            .find(|(c, _)| fname.contains(&format!("_{c}_")))
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let bytes = std::fs::read(&p).unwrap();
        let starts = [
            &b"<addRequest>"[..],
            b"<modifyRequest>",
            b"<deleteRequest>",
            b"</ficAlimMENESR>",
        ];
        let first = starts
            .iter()
            .filter_map(|t| find(&bytes, t, 0))
            .min()
            .unwrap();
        let end = find(&bytes, b"</ficAlimMENESR>", 0).unwrap();
        let mut out = bytes[..first].to_vec();
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(&bytes[end..]);
        std::fs::write(&p, out).unwrap();
    }
    dir
}

fn person_attrs(ldap: &Slapd, id: &str) -> Attrs {
    let mut a = ldap.entry(&dn(id));
    a.remove("entrycsn");
    a
}

/// A Delta changing only one pupil's relations, another's class and a
/// teacher's subjects: those change, nothing else does, the guardian the
/// pupil stops naming leaves, a re-run writes nothing.
#[test]
fn a_delta_touching_one_list_changes_only_that_list() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, g) = lone_family(&f.c0);
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let (sid, code) = class_of(&f.c0, &pupil);
    let (_, mover, _) = pupils
        .iter()
        .find(|(_, id, c)| *id != pupil && c[0].starts_with(&format!("{sid}$")))
        .unwrap();
    let new_class = pupils
        .iter()
        .map(|(_, _, c)| c[0].clone())
        .find(|c| c.starts_with(&format!("{sid}$")) && *c != format!("{sid}${code}"))
        .unwrap();
    let teachers = scan(&f.c0, "PersEducNat", "ENTAuxEnsClassesMatieres");
    let (_, t, cm) = teachers.iter().find(|(_, _, v)| v.len() >= 2).unwrap();
    let before = entries_2d(&f.ldap);
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[
            (
                "Eleve",
                modify_req(
                    "Eleve",
                    &pupil,
                    &[
                        (
                            "ENTElevePersRelEleve",
                            &[format!("{}$10$1$1$0$1", g[0]).as_str()],
                        ),
                        ("ENTEleveAutoriteParentale", &[g[0].as_str()]),
                    ],
                ) + &modify_req(
                    "Eleve",
                    mover,
                    &[("ENTEleveClasses", &[new_class.as_str()])],
                ),
            ),
            (
                "PersEducNat",
                modify_req(
                    "PersEducNat",
                    t,
                    &[("ENTAuxEnsClassesMatieres", &[cm[0].as_str()])],
                ),
            ),
        ],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    let p = f.ldap.entry(&dn(&pupil));
    assert_eq!(
        vals(&p, "ENTElevePersRelEleve"),
        [format!("{}$10$$1$0$", dn(&g[0]))],
        "{}",
        r.text()
    );
    assert_eq!(vals(&p, "ENTEleveParents").len(), 1);
    assert!(
        !f.ldap.exists_dn(&dn(&g[1])),
        "the guardian the pupil stopped naming is still active"
    );
    let m = f.ldap.entry(&dn(mover));
    let mc = vals(&m, "ENTEleveClasses");
    assert_eq!(mc.len(), 1);
    assert!(
        mc[0].ends_with(new_class.split_once('$').unwrap().1),
        "{mc:?}"
    );
    let te = f.ldap.entry(&dn(t));
    assert_eq!(vals(&te, "ENTAuxEnsClassesMatieres").len(), 1);
    // nobody else moved
    let after = entries_2d(&f.ldap);
    let touched: Vec<String> = [&pupil, mover, t, &g[0], &g[1]]
        .iter()
        .map(|id| dn(id).to_lowercase())
        .collect();
    for (d, a) in &before {
        let is_group = vals(a, "objectClass")
            .iter()
            .any(|o| o == "ENTClasse" || o == "ENTGroupe");
        if touched.contains(&d.to_lowercase()) || is_group || d.starts_with("cn=aaf-sync") {
            continue;
        }
        let mut a = a.clone();
        let mut b = after.get(d).cloned().unwrap_or_default();
        a.remove("entrycsn");
        b.remove("entrycsn");
        // the guardian kept lists the pupil either way
        assert_eq!(a, b, "{d} changed by a Delta that does not name it");
    }
}

/// A Delta deleting a guardian: the pupil stops naming them, they leave.
/// Then a Complet without a pupil (departure), then the pupil back
/// (restore): classes, guardians and login as before.
#[test]
fn a_guardian_deleted_a_pupil_leaving_and_coming_back() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, g) = lone_family(&f.c0);
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[("PersRelEleve", delete_req("PersRelEleve", &g[0]))],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    assert!(!f.ldap.exists_dn(&dn(&g[0])), "{}", r.text());
    let p = f.ldap.entry(&dn(&pupil));
    for a in [
        "ENTEleveParents",
        "ENTEleveAutoriteParentale",
        "ENTElevePersRelEleve",
    ] {
        for v in vals(&p, a) {
            assert!(
                !v.to_lowercase().starts_with(&dn(&g[0]).to_lowercase()),
                "{a} still names the deleted guardian: {v}"
            );
        }
    }
    // the next Complet leaves the pupil out
    let (_, leaver, lg) = {
        let all = scan(&f.c0, "Eleve", "ENTElevePersRelEleve");
        let mut named: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, r) in &all {
            for x in legal(r) {
                *named.entry(x).or_default() += 1;
            }
        }
        all.into_iter()
            .map(|(n, id, r)| (n, id, legal(&r)))
            .find(|(_, id, g)| *id != pupil && !g.is_empty() && g.iter().all(|x| named[x] == 1))
            .unwrap()
    };
    let was = person_attrs(&f.ldap, &leaver);
    let was_g = person_attrs(&f.ldap, &lg[0]);
    let c1 = f.copy("c1", "20250911");
    let idx = scan(&c1, "Eleve", "sn")
        .into_iter()
        .find(|(_, id, _)| *id == leaver)
        .unwrap()
        .0;
    drop_records(&c1, "Eleve", |n| n != idx);
    sync_idempotent(&f.ldap, &f.config, "2025-09-11", &c1, 0);
    assert!(
        !f.ldap.exists_dn(&dn(&leaver)),
        "the leaver is still active"
    );
    assert!(
        !f.ldap.exists_dn(&dn(&lg[0])),
        "their guardian is still active"
    );
    assert_eq!(
        f.ldap.count(
            &format!("ou=departed,{BASE}"),
            &format!("(ENTPersonJointure={SOURCE}${leaver})")
        ),
        1
    );
    // and back a week later
    let c2 = f.copy("c2", "20250918");
    sync_idempotent(&f.ldap, &f.config, "2025-09-18", &c2, 0);
    let back = person_attrs(&f.ldap, &leaver);
    for a in [
        "entpersonlogin",
        "enteleveclasses",
        "entelevegroupes",
        "entelevepersreleleve",
        "enteleveparents",
        "enteleveautoriteparentale",
        "entelevemef",
    ] {
        let sorted = |x: Option<&Vec<String>>| {
            let mut v = x.cloned().unwrap_or_default();
            v.sort();
            v
        };
        assert_eq!(
            sorted(back.get(a)),
            sorted(was.get(a)),
            "{a} after the return"
        );
    }
    let back_g = person_attrs(&f.ldap, &lg[0]);
    assert_eq!(
        back_g.get("entpersonlogin"),
        was_g.get("entpersonlogin"),
        "guardian login"
    );
    assert_eq!(
        back_g.get("entauxpersreleleveeleve").map(|v| v.len()),
        was_g.get("entauxpersreleleveeleve").map(|v| v.len())
    );
}

// ---------------------------------------------------------------------------
// 7. 1D and 2D in one tree
// ---------------------------------------------------------------------------

/// The 2D config given the 1D source's name by mistake: the 2D Complet
/// must not depart (or rewrite) the 1D tree.
#[test]
fn a_two_d_feed_under_the_one_d_source_name_leaves_the_one_d_tree_alone() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c1 = tmp.path().join("c1");
    let uai1 = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 2,
            pupils_per_school: 40,
            ..Default::default()
        },
        &c1,
    )
    .unwrap()
    .uai_inside;
    std::fs::create_dir_all(tmp.path().join("cfg1")).unwrap();
    let cfg1 = s(&ldap.config(&tmp.path().join("cfg1"), &uai1, ""));
    let r = sync(&cfg1, "2025-09-04", &[&c1]);
    assert_eq!(r.code, 0, "{}", r.text());
    let one_d = ldap.dump();
    // 2D under the 1D name, both perimeters listed
    let c2 = tmp.path().join("c2");
    let (uai2, _) = gen2d(&c2, "20250905", false, 0);
    let dir2 = tmp.path().join("cfg2");
    std::fs::create_dir_all(&dir2).unwrap();
    let mut both = uai1.clone();
    both.extend(uai2);
    let p = ldap.config(&dir2, &both, "");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "name = \"AC-CRETEIL\"",
        "name = \"AC-CRETEIL\"\ndegree = \"2d\"",
    );
    std::fs::write(&p, text).unwrap();
    let r = sync(&s(&p), "2025-09-05", &[&c2]);
    assert_ne!(r.code, 0, "{}", r.text());
    eprintln!("MISNAMED exit {}\n{}", r.code, r.err);
    let after = ldap.dump();
    for (d, a) in &one_d {
        if d.starts_with("cn=aaf-sync") {
            continue;
        }
        assert_eq!(after.get(d), Some(a), "{d}: the 2D run touched 1D");
    }
}

/// The same AAF ids in a 1D and a 2D feed (two académie systems): two
/// entries, nothing shared, logins unique.
#[test]
fn the_same_ids_in_a_one_d_and_a_two_d_feed_stay_apart() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c2 = tmp.path().join("c2");
    let (uai2, _) = gen2d(&c2, "20250904", false, 0);
    let cfg2 = config_2d(&ldap, &tmp.path().join("cfg2"), &uai2);
    // a 1D feed whose people carry the 2D pupils' ids
    let c1 = tmp.path().join("c1");
    let uai1 = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 1,
            pupils_per_school: 30,
            ..Default::default()
        },
        &c1,
    )
    .unwrap()
    .uai_inside;
    let ids2: Vec<String> = record_ids(&c2, "Eleve");
    let ids1: Vec<String> = record_ids(&c1, "Eleve");
    for (a, b) in ids1.iter().zip(&ids2) {
        edit_records(&c1, "Eleve", |_, rec| {
            replace_bytes(
                rec,
                format!("<id>{a}</id>").as_bytes(),
                format!("<id>{b}</id>").as_bytes(),
            );
            replace_bytes(
                rec,
                format!("<value>{a}</value>").as_bytes(),
                format!("<value>{b}</value>").as_bytes(),
            );
        });
        edit_records(&c1, "PersRelEleve", |_, rec| {
            while replace_bytes(
                rec,
                format!(">{a}<").as_bytes(),
                format!(">{b}<").as_bytes(),
            ) {}
            while replace_bytes(
                rec,
                format!(">{a}$").as_bytes(),
                format!(">{b}$").as_bytes(),
            ) {}
        });
    }
    std::fs::create_dir_all(tmp.path().join("cfg1")).unwrap();
    let cfg1 = s(&ldap.config(&tmp.path().join("cfg1"), &uai1, ""));
    let r = sync(&cfg1, "2025-09-04", &[&c1]);
    assert_eq!(r.code, 0, "{}", r.text());
    let one_d = ldap.entries(BASE, "(aafSyncSource=AC-CRETEIL)", &["*"]);
    let r = sync(&cfg2, "2025-09-04", &[&c2]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(
        ldap.entries(BASE, "(aafSyncSource=AC-CRETEIL)", &["*"]),
        one_d,
        "the 2D run touched 1D"
    );
    for id in ids2.iter().take(30) {
        let n = ldap.count(PEOPLE, &format!("(ENTPersonJointure=*${id})"));
        assert_eq!(n, 2, "{id}: one entry per source");
    }
    let mut seen = BTreeSet::new();
    for (d, p) in ldap.entries(BASE, "(ENTPersonLogin=*)", &["ENTPersonLogin"]) {
        for l in &p["entpersonlogin"] {
            assert!(seen.insert(l.to_lowercase()), "{d}: login {l} twice");
        }
    }
}

// ---------------------------------------------------------------------------
// 8. Killed runs converge
// ---------------------------------------------------------------------------

fn spawn(config: &str, now: &str, paths: &[&Path]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aaf-sync"));
    cmd.args(["sync", "--config", config, "--now", now])
        .args(paths.iter().map(|p| s(p)))
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .env("AAF_SYNC_LDAP__CONNECTIONS", "1")
        .env("AAF_SYNC_LDAP__IN_FLIGHT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

fn kill_when(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            // SIGKILL, by the child's PID
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(t.elapsed() < Duration::from_secs(180), "never got there");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The config at `path`, its rails letting every pupil be modified.
fn lenient(path: String) -> String {
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[safety]\n", "[safety]\nmax_modified_percent = 100.0\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every pupil of `c0` moved to the class of the next pupil of the same
/// school, and their regime changed: a Delta of a few hundred operations.
fn big_delta(tmp: &Path, c0: &Path) -> PathBuf {
    let pupils = scan(c0, "Eleve", "ENTEleveClasses");
    let mut body = String::new();
    for (i, (_, id, c)) in pupils.iter().enumerate() {
        let sid = c[0].split_once('$').unwrap().0;
        let next = pupils[i + 1..]
            .iter()
            .chain(&pupils[..i])
            .map(|(_, _, c)| c[0].clone())
            .find(|v| v.starts_with(&format!("{sid}$")) && *v != c[0])
            .unwrap_or_else(|| c[0].clone());
        body += &modify_req(
            "Eleve",
            id,
            &[
                ("ENTEleveClasses", &[next.as_str()]),
                ("ENTEleveRegime", &["EXTERNE LIBRE"]),
            ],
        );
    }
    delta_in(tmp, "big-delta", "20250905", &[("Eleve", body)])
}

#[test]
fn a_two_d_first_load_and_delta_killed_converge_to_the_clean_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let g = generate(&gen_cfg("20250904", false, 0, 3, 100), &c0).unwrap();
    let d1 = big_delta(tmp.path(), &c0);
    let uai = g.uai_inside;
    let now = "2025-09-05";
    // the clean runs
    let want = Slapd::start();
    let wcfg = lenient(config_2d(&want, &tmp.path().join("want"), &uai));
    let r = sync(&wcfg, now, &[&c0]);
    assert_eq!(r.code, 0, "{}", r.text());
    let ref_c0 = want.dump();
    let r = sync(&wcfg, now, &[&d1]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.failures().is_empty());
    let ref_d1 = want.dump();
    assert_ne!(ref_c0, ref_d1);

    // killed in the first load
    let ldap = Slapd::start();
    let dir = tmp.path().join("killed");
    let cfg = lenient(config_2d(&ldap, &dir, &uai));
    let mut child = spawn(&cfg, now, &[&c0]);
    let people = |l: &Slapd| l.count(PEOPLE, "(objectClass=ENTPerson)");
    assert!(
        kill_when(&mut child, || people(&ldap) >= 150),
        "ended first"
    );
    assert_ne!(ldap.dump(), ref_c0, "killed too late");
    let r = sync(&cfg, now, &[&c0]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(ldap.dump(), ref_c0, "the first load did not converge");
    // killed in the Delta, after its 50th operation
    let work = dir.join("work");
    let mut child = spawn(&cfg, now, &[&d1]);
    assert!(
        kill_when(&mut child, || journal_count(&work, "ENT2D_Delta_20250905")
            >= 50),
        "the Delta ended first"
    );
    assert_ne!(ldap.dump(), ref_d1, "killed too late");
    let r = sync(&cfg, now, &[&d1]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(ldap.dump(), ref_d1, "the Delta did not converge");
    let before = csns(&ldap);
    sync(&cfg, now, &[&d1]);
    assert_eq!(csns(&ldap), before, "a third run wrote");
}

/// Operations of `step` the journal of `work` holds.
fn journal_count(work: &Path, step: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(work.join("journal")) else {
        return 0;
    };
    let needle = format!("\"step\":\"{step}\",\"dn\"");
    rd.flatten()
        .map(|e| {
            std::fs::read(e.path())
                .map(|b| {
                    b.windows(needle.len())
                        .filter(|w| *w == needle.as_bytes())
                        .count()
                })
                .unwrap_or(0)
        })
        .sum()
}

/// A Delta whose modify of a pupil is unreadable: the pupil and their
/// guardians stay as they are.
#[test]
fn a_rejected_pupil_modify_in_a_delta_keeps_their_guardians() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, g) = lone_family(&f.c0);
    let mut body =
        modify_req("Eleve", &pupil, &[("ENTEleveRegime", &["EXTERNE LIBRE"])]).into_bytes();
    set_raw(&mut body, "sn", &[b"Z\xffZ".to_vec()]);
    let d1 = delta(&f, "d1", "20250905", &[]);
    for p in files_of(&d1, "Eleve") {
        let mut bytes = std::fs::read(&p).unwrap();
        let at = find(&bytes, b"</ficAlimMENESR>", 0).unwrap();
        bytes.splice(at..at, body.clone());
        std::fs::write(&p, bytes).unwrap();
    }
    let before: Vec<Attrs> = g.iter().map(|id| f.ldap.entry(&dn(id))).collect();
    let r = sync(&f.config, "2025-09-05", &[&d1]);
    assert_eq!(r.code, 1, "{}", r.text());
    for (id, was) in g.iter().zip(&before) {
        assert!(
            f.ldap.exists_dn(&dn(id)),
            "guardian {id} left\n{}",
            r.text()
        );
        assert_eq!(&f.ldap.entry(&dn(id)), was);
    }
}

/// A Delta giving an existing pupil a new guardian (their add and the
/// pupil's modify): linked both ways; the next Complet that carries the
/// same keeps it as is.
#[test]
fn a_delta_adding_a_guardian_links_them_both_ways() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, g) = lone_family(&f.c0);
    let new_id = "1149999999";
    let parent = req(
        "PersRelEleve",
        new_id,
        &[
            ("ENTPersonJointure", &[new_id]),
            ("sn", &["TESTNOUVEAU"]),
            ("givenName", &["Tuteur"]),
            ("personalTitle", &["M"]),
            ("ENTAuxPersRelEleveEleve", &[pupil.as_str()]),
        ],
    );
    let rel = [
        format!("{}$10$0$1$1$0", g[0]),
        format!("{}$20$0$1$1$0", g[1]),
        format!("{new_id}$50$1$2$1$1"),
    ];
    let rv: Vec<&str> = rel.iter().map(String::as_str).collect();
    let auth = [g[0].as_str(), g[1].as_str(), new_id];
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[
            ("PersRelEleve", parent),
            (
                "Eleve",
                modify_req(
                    "Eleve",
                    &pupil,
                    &[
                        ("ENTElevePersRelEleve", &rv),
                        ("ENTEleveAutoriteParentale", &auth),
                    ],
                ),
            ),
        ],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    assert!(f.ldap.exists_dn(&dn(new_id)), "{}", r.text());
    let np = f.ldap.entry(&dn(new_id));
    assert_eq!(
        vals(&np, "ENTAuxPersRelEleveEleve")
            .iter()
            .map(|v| v.to_lowercase())
            .collect::<Vec<_>>(),
        [dn(&pupil).to_lowercase()]
    );
    let p = f.ldap.entry(&dn(&pupil));
    assert_eq!(vals(&p, "ENTEleveParents").len(), 3, "{p:?}");
    assert!(vals(&p, "ENTElevePersRelEleve").contains(&format!("{}$50$$2$1$", dn(new_id))));
}

// ---------------------------------------------------------------------------
// 9. The deployed SDET schema
// ---------------------------------------------------------------------------

#[test]
fn hostile_codes_and_relations_into_the_deployed_sdet_schema() {
    let f = Fx::new(Slapd::start_sdet());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    for (i, code) in ["2,A", "#1", "B\\S", "\"Q\""].iter().enumerate() {
        let (_, id, c) = &pupils[i];
        let sid = c[0].split_once('$').unwrap().0.to_string();
        let v = format!("{sid}${code}");
        edit_id(&f.c0, "Eleve", id, |rec| {
            set(rec, "ENTEleveClasses", &[v.as_str()])
        });
    }
    let (_, pupil, g) = lone_family(&f.c0);
    let rel = [format!("{}$20$1$1", g[0]), format!("{}$10$1$2$1$1$X", g[1])];
    let rv: Vec<&str> = rel.iter().map(String::as_str).collect();
    edit_id(&f.c0, "Eleve", &pupil, |rec| {
        set(rec, "ENTElevePersRelEleve", &rv)
    });
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let p = f.ldap.entry(&dn(&pupil));
    assert_eq!(vals(&p, "ENTEleveParents").len(), 2, "{p:?}");
    assert!(class_entries(&f.ldap).len() > 4);
}

// ---------------------------------------------------------------------------
// 10. More Deltas: a pupil leaving the perimeter, a staff member gaining and
//     losing a teaching list; the dry-run LDIF of hostile codes
// ---------------------------------------------------------------------------

/// A Delta moving a pupil to a school outside the perimeter (which a Delta
/// does not describe): whatever the sync decides for the pupil, their
/// guardians follow it — never a pupil kept with their guardians departed.
#[test]
fn a_delta_moving_a_pupil_out_of_the_perimeter_keeps_the_family_together() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (_, pupil, g) = lone_family(&f.c0);
    let was = f.ldap.entry(&dn(&pupil));
    let outside = f.sid_of_uai(&f.outside[0]);
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[(
            "Eleve",
            modify_req(
                "Eleve",
                &pupil,
                &[
                    ("ENTPersonStructRattach", &[outside.as_str()]),
                    ("ENTEleveClasses", &[format!("{outside}$6A").as_str()]),
                    ("ENTEleveGroupes", &[format!("{outside}$6G").as_str()]),
                ],
            ),
        )],
    );
    let r = sync(&f.config, "2025-09-05", &[&d1]);
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let active = f.ldap.exists_dn(&dn(&pupil));
    for id in &g {
        assert_eq!(
            f.ldap.exists_dn(&dn(id)),
            active,
            "pupil active: {active}, guardian {id} not the same\n{}",
            r.text()
        );
    }
    if active {
        assert_eq!(
            f.ldap.entry(&dn(&pupil)),
            was,
            "the pupil kept as is changed"
        );
    }
}

/// A member of staff with no teaching list is given one by a Delta, then
/// loses it: the class entries follow, no LDAP operation fails, and no
/// teaching attribute is left behind.
#[test]
fn a_staff_member_gaining_then_losing_a_teaching_list() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let staff = scan(&f.c0, "PersEducNat", "ENTAuxEnsClassesMatieres");
    let inside: BTreeSet<String> = f.uai.iter().map(|u| f.sid_of_uai(u)).collect();
    let rattach = scan(&f.c0, "PersEducNat", "ENTPersonStructRattach");
    let (_, who, _) = staff
        .iter()
        .find(|(n, _, v)| {
            v.is_empty()
                && rattach[*n]
                    .2
                    .first()
                    .is_some_and(|s| inside.contains(s.as_str()))
        })
        .expect("a member of staff who does not teach");
    assert!(f.ldap.exists_dn(&dn(who)));
    let sid = rattach.iter().find(|(_, id, _)| id == who).unwrap().2[0].clone();
    let (_, _, c) = scan(&f.c0, "Eleve", "ENTEleveClasses")
        .into_iter()
        .find(|(_, _, c)| c[0].starts_with(&format!("{sid}$")))
        .unwrap();
    let code = c[0].split_once('$').unwrap().1.to_string();
    let cm = format!("{sid}${code}$030201");
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[(
            "PersEducNat",
            modify_req(
                "PersEducNat",
                who,
                &[("ENTAuxEnsClassesMatieres", &[cm.as_str()])],
            ),
        )],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    let e = f.ldap.entry(&dn(who));
    assert_eq!(
        vals(&e, "ENTAuxEnsClassesMatieres").len(),
        1,
        "{}",
        r.text()
    );
    let member_of = |l: &Slapd| {
        class_entries(l)
            .into_iter()
            .filter(|(_, c)| {
                vals(c, "member")
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&dn(who)))
            })
            .count()
    };
    assert_eq!(member_of(&f.ldap), 1);
    let d2 = delta(
        &f,
        "d2",
        "20250906",
        &[(
            "PersEducNat",
            modify_req("PersEducNat", who, &[("ENTAuxEnsClassesMatieres", &[])]),
        )],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-06", &d2, 0);
    let e = f.ldap.entry(&dn(who));
    assert!(
        vals(&e, "ENTAuxEnsClassesMatieres").is_empty(),
        "{}",
        r.text()
    );
    assert_eq!(member_of(&f.ldap), 0);
}

/// The dry-run LDIF of a Complet with DN-special codes, applied by
/// `ldapmodify`, gives the tree the real run gives; `--check` then says in
/// step; `audit` finds nothing unauthorised.
#[test]
fn the_dry_run_ldif_of_hostile_codes_applies_as_is() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    for (i, code) in ["2,A", "#1", " 5E ", "B\\S", "\"Q\"", "x+y=z", "é;è"]
        .iter()
        .enumerate()
    {
        let (_, id, c) = &pupils[i];
        let sid = c[0].split_once('$').unwrap().0.to_string();
        let v = format!("{sid}${code}");
        edit_id(&f.c0, "Eleve", id, |rec| {
            set(rec, "ENTEleveClasses", &[v.as_str()])
        });
    }
    let other = Slapd::start();
    let ocfg = config_2d(&other, &f.tmp.path().join("other"), &f.uai);
    let (ldif, _) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            &ocfg,
            "--now",
            "2025-09-04",
            "--dry-run",
            &s(&f.c0),
        ],
        0,
    );
    other.modify(&ldif);
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    assert_eq!(other.dump(), f.ldap.dump(), "the LDIF gave another tree");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            &f.config,
            "--now",
            "2025-09-04",
            "--check",
            &s(&f.c0),
        ],
        0,
    );
    let (out, _) = aaf_sync_ok(&["audit", "--config", &f.config, "--now", "2025-09-04"], 0);
    assert!(!out.contains("unauthorised"), "{out}");
}

// ---------------------------------------------------------------------------
// 11. A code whose case changes; logs at their most verbose
// ---------------------------------------------------------------------------

/// The académie writes a class code in lower case from one day on (`6A`
/// then `6a`): the class DN is the same for LDAP, so the sync must not try
/// to rewrite its RDN value with a modify; the run ends `ok` and a re-run
/// writes nothing.
#[test]
fn a_class_code_changing_case_is_no_failed_operation() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let (sid, code) = class_of(&f.c0, &scan(&f.c0, "Eleve", "sn")[0].1);
    let lower = code.to_lowercase();
    assert_ne!(lower, code, "a code with letters");
    let c1 = f.copy("c1", "20250905");
    for cat in ["Eleve", "PersEducNat"] {
        edit_records(&c1, cat, |_, rec| {
            for (from, to) in [
                (
                    format!("{sid}${code}</value>"),
                    format!("{sid}${lower}</value>"),
                ),
                (format!("{sid}${code}$"), format!("{sid}${lower}$")),
            ] {
                while replace_bytes(rec, from.as_bytes(), to.as_bytes()) {}
            }
        });
    }
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &c1, 0);
    let classes = class_entries(&f.ldap);
    let c = classes
        .values()
        .find(|c| {
            vals(c, "aafSyncCode")
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&code))
        })
        .unwrap_or_else(|| panic!("no class {code}\n{}", r.text()));
    assert!(vals(c, "member").len() > 5, "{c:?}");
}

/// With the most verbose logs (`AAF_SYNC_LOG=trace`), a 2D run still puts
/// no name of a pupil, guardian or teacher on stderr.
#[test]
fn trace_logs_of_a_two_d_run_carry_no_names() {
    let f = Fx::new(Slapd::start());
    let names = names_of(&f.c0);
    let c1 = f.copy("c1", "20250905");
    let (_, pupil, _) = lone_family(&c1);
    edit_id(&c1, "Eleve", &pupil, |rec| {
        set_raw(rec, "givenName", &[b"Z\xffZ".to_vec()])
    });
    for (x, now) in [(&f.c0, "2025-09-04"), (&c1, "2025-09-05")] {
        let out = Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
            .args(["sync", "--config", &f.config, "--now", now, &s(x)])
            .env_remove("AAF_SYNC_LDAP_PASSWORD")
            .env("AAF_SYNC_LOG", "trace")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
        for n in &names {
            assert!(
                !err.contains(n.as_str()),
                "{now}: the name {n} is on stderr at trace level"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 12. Siblings; departures killed midway
// ---------------------------------------------------------------------------

/// A Delta deleting one of two siblings: the shared guardian stays, names
/// only the sibling left; the departed pupil is in the departed branch.
#[test]
fn a_delta_deleting_one_sibling_keeps_the_shared_guardian() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let pupils = scan(&f.c0, "Eleve", "ENTElevePersRelEleve");
    let mut by_guardian: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, id, rel) in &pupils {
        for g in legal(rel) {
            by_guardian.entry(g).or_default().push(id.clone());
        }
    }
    let (g, kids) = by_guardian
        .into_iter()
        .find(|(g, k)| k.len() == 2 && f.ldap.exists_dn(&dn(g)))
        .expect("siblings sharing a guardian");
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[("Eleve", delete_req("Eleve", &kids[0]))],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    assert!(!f.ldap.exists_dn(&dn(&kids[0])), "{}", r.text());
    assert!(f.ldap.exists_dn(&dn(&g)), "the shared guardian left");
    let ge = f.ldap.entry(&dn(&g));
    let lists: Vec<String> = vals(&ge, "ENTAuxPersRelEleveEleve")
        .iter()
        .map(|v| v.to_lowercase())
        .collect();
    assert_eq!(lists, [dn(&kids[1]).to_lowercase()], "{ge:?}");
}

/// The Complet a week later with ten pupils gone (departures: moves to the
/// departed branch, guardians following, links rewritten in
/// `ENTElevePersRelEleve`), killed by SIGKILL midway: the next run gives
/// the tree a clean run gives.
#[test]
fn two_d_departures_killed_midway_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let (uai, _) = gen2d(&c0, "20250904", false, 0);
    let c1 = tmp.path().join("c1");
    copy_extraction(&c0, &c1, "20250911");
    assert_eq!(drop_records(&c1, "Eleve", |n| n % 9 != 4), 10);
    let want = Slapd::start();
    let wcfg = config_2d(&want, &tmp.path().join("want"), &uai);
    for (x, now) in [(&c0, "2025-09-04"), (&c1, "2025-09-11")] {
        let r = sync(&wcfg, now, &[x]);
        assert_eq!(r.code, 0, "{}", r.text());
    }
    let reference = want.dump();
    let ldap = Slapd::start();
    let dir = tmp.path().join("killed");
    let cfg = config_2d(&ldap, &dir, &uai);
    assert_eq!(sync(&cfg, "2025-09-04", &[&c0]).code, 0);
    let work = dir.join("work");
    let mut child = spawn(&cfg, "2025-09-11", &[&c1]);
    assert!(
        kill_when(&mut child, || journal_count(
            &work,
            "ENT2D_Complet_20250911"
        ) >= 12),
        "the run ended first"
    );
    assert_ne!(ldap.dump(), reference, "killed too late");
    let r = sync(&cfg, "2025-09-11", &[&c1]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(ldap.dump(), reference, "the departures did not converge");
}

// ---------------------------------------------------------------------------
// 13. Formation labels completed from the MefEducNat table, then a Delta
// ---------------------------------------------------------------------------

/// A pupil whose record leaves the formation labels empty keeps them
/// empty (the `MefEducNat` table only checks codes). A Delta then changes
/// only their MEF code (the modify carries the code alone): the directory
/// must not hold any formation's label, level and stream beside the new
/// code.
#[test]
fn a_delta_changing_a_mef_code_leaves_no_stale_formation_label() {
    let f = Fx::new(Slapd::start());
    let (_, pupil, _) = lone_family(&f.c0);
    let mut old_mef = String::new();
    edit_id(&f.c0, "Eleve", &pupil, |rec| {
        old_mef = values_of(rec, "ENTEleveMEF")[0].clone();
        for a in [
            "ENTEleveLibelleMEF",
            "ENTEleveNivFormation",
            "ENTEleveFiliere",
        ] {
            set(rec, a, &[]);
        }
    });
    let mefs = scan(&f.c0, "MefEducNat", "ENTLibelleMef");
    let old_label = mefs
        .iter()
        .find(|(_, id, _)| *id == old_mef)
        .map(|(_, _, l)| l[0].clone())
        .expect("the pupil's MEF in the table");
    let (_, new_mef, new_label) = mefs
        .iter()
        .find(|(_, id, l)| *id != old_mef && l.first() != Some(&old_label))
        .cloned()
        .expect("another MEF");
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let p = f.ldap.entry(&dn(&pupil));
    // written as the record gives them: the table checks codes, it
    // completes nothing (what a Delta, without the table, could not undo)
    assert!(vals(&p, "ENTEleveLibelleMEF").is_empty(), "{p:?}");
    let _ = &old_label;
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[(
            "Eleve",
            modify_req("Eleve", &pupil, &[("ENTEleveMEF", &[new_mef.as_str()])]),
        )],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    let p = f.ldap.entry(&dn(&pupil));
    assert_eq!(
        vals(&p, "ENTEleveMEF"),
        std::slice::from_ref(&new_mef),
        "{}",
        r.text()
    );
    let label = vals(&p, "ENTEleveLibelleMEF");
    assert!(
        label.is_empty() || label == new_label,
        "MEF {new_mef} ({new_label:?}) with the label of {old_mef}: {label:?}"
    );
}

/// A Delta renaming a class in the school's `ENTStructureClasses`: the
/// class entry's description follows, nothing else moves.
#[test]
fn a_delta_renaming_a_class_updates_its_label() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let sid = f.sid_of_uai(&f.uai[0]);
    let mut classes = Vec::new();
    edit_id(&f.c0, "EtabEducNat", &sid, |rec| {
        classes = values_of(rec, "ENTStructureClasses");
    });
    let first = classes[0].clone();
    let mut parts: Vec<String> = first.split('$').map(str::to_string).collect();
    let code = parts[0].clone();
    parts[1] = "NOUVEAU LIBELLE".into();
    classes[0] = parts.join("$");
    let cv: Vec<&str> = classes.iter().map(String::as_str).collect();
    let d1 = delta(
        &f,
        "d1",
        "20250905",
        &[(
            "EtabEducNat",
            modify_req("EtabEducNat", &sid, &[("ENTStructureClasses", &cv)]),
        )],
    );
    let r = sync_idempotent(&f.ldap, &f.config, "2025-09-05", &d1, 0);
    let c = class_entries(&f.ldap)
        .into_values()
        .find(|c| {
            vals(c, "aafSyncCode") == [code.clone()]
                && vals(c, "aafSyncStructure")
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&sdn(&sid)))
        })
        .expect("the class");
    assert_eq!(
        vals(&c, "description"),
        ["NOUVEAU LIBELLE".to_string()],
        "{}",
        r.text()
    );
}

// ---------------------------------------------------------------------------
// 14. The other feed's commands: retention, audit, purge, erasure
// ---------------------------------------------------------------------------

/// A 1D and a 2D source in one tree, one 1D pupil departed: the 2D
/// source's `retention` far in the future, `audit`, `subject erase` of a
/// 1D person and `purge` leave every 1D entry as it is; the 1D source's
/// `retention` and `purge` leave the 2D entries.
#[test]
fn the_other_feeds_retention_audit_erase_and_purge_leave_a_tree_alone() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c2 = tmp.path().join("c2");
    let (uai2, _) = gen2d(&c2, "20250904", false, 0);
    let cfg2 = config_2d(&ldap, &tmp.path().join("cfg2"), &uai2);
    let c1 = tmp.path().join("c1");
    let uai1 = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 2,
            pupils_per_school: 30,
            ..Default::default()
        },
        &c1,
    )
    .unwrap()
    .uai_inside;
    std::fs::create_dir_all(tmp.path().join("cfg1")).unwrap();
    let cfg1 = s(&ldap.config(&tmp.path().join("cfg1"), &uai1, ""));
    assert_eq!(sync(&cfg1, "2025-09-04", &[&c1]).code, 0);
    // one 1D pupil leaves a week later
    let c1b = tmp.path().join("c1b");
    copy_extraction(&c1, &c1b, "20250911");
    drop_records(&c1b, "Eleve", |n| n != 0);
    let r = sync(&cfg1, "2025-09-11", &[&c1b]);
    assert_eq!(r.code, 0, "{}", r.text());
    let r = sync(&cfg2, "2025-09-11", &[&c2]);
    assert_eq!(r.code, 0, "{}", r.text());
    let of = |src: &str| ldap.entries(BASE, &format!("(aafSyncSource={src})"), &["*"]);
    let one_d = of("AC-CRETEIL");
    assert!(
        ldap.count(&format!("ou=departed,{BASE}"), "(aafSyncSource=AC-CRETEIL)") >= 1,
        "a departed 1D pupil"
    );
    // the 2D source's commands
    let (_, err) = aaf_sync_ok(&["retention", "--config", &cfg2, "--now", "2035-09-11"], 0);
    assert_eq!(of("AC-CRETEIL"), one_d, "2D retention touched 1D\n{err}");
    let (out, _) = aaf_sync_ok(&["audit", "--config", &cfg2, "--now", "2025-09-11"], 0);
    assert!(!out.contains("unauthorised"), "{out}");
    let one_d_pupil = one_d
        .iter()
        .find(|(d, a)| {
            d.contains("ou=people") && vals(a, "objectClass").iter().any(|o| o == "ENTEleve")
        })
        .map(|(_, a)| vals(a, "ENTPersonJointure")[0].clone())
        .unwrap();
    let one_d_id = one_d_pupil.split_once('$').unwrap().1.to_string();
    let out = aaf_sync(&[
        "subject",
        "erase",
        "--config",
        &cfg2,
        "--jointure",
        &one_d_id,
        "--reason",
        "test",
        "--now",
        "2025-09-11",
    ]);
    assert_eq!(
        of("AC-CRETEIL"),
        one_d,
        "the 2D source's erase touched a 1D person: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = aaf_sync(&[
        "purge",
        "--config",
        &cfg2,
        "--confirm",
        BASE,
        "--reference",
        "END-2D",
        "--out",
        &s(&tmp.path().join("cert")),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(of("AC-CRETEIL"), one_d, "the 2D purge touched 1D");
    assert!(of(SOURCE).is_empty(), "the 2D purge left 2D entries");
    // and the 1D source's retention does not need the 2D branch
    aaf_sync_ok(&["retention", "--config", &cfg1, "--now", "2025-09-12"], 0);
}

/// A school's record unreadable (one bad byte) in the next Complet: the
/// school is kept as it is, and so are its classes — their labels come
/// from that very record, which cannot be read.
#[test]
fn a_rejected_school_record_keeps_its_class_labels() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let sid = f.sid_of_uai(&f.uai[0]);
    let before = class_entries(&f.ldap);
    assert!(before.values().all(|c| !vals(c, "description").is_empty()));
    let c1 = f.copy("c1", "20250905");
    edit_id(&c1, "EtabEducNat", &sid, |rec| {
        set_raw(rec, "ENTStructureNomCourant", &[b"COLLEGE \xff".to_vec()])
    });
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert_eq!(r.code, 1, "{}", r.text());
    let after = class_entries(&f.ldap);
    for (d, c) in &before {
        assert_eq!(
            after.get(d).map(|a| vals(a, "description")),
            Some(vals(c, "description")),
            "{d}: label lost with its school's record unreadable\n{}",
            r.text()
        );
    }
}

/// Pupils whose records leave the formation labels empty (completed from
/// `MefEducNat`); the next Complet's table has that formation's record
/// unreadable: the pupils keep their labels (a rejected record changes
/// nobody).
#[test]
fn a_rejected_formation_record_changes_no_pupil() {
    let f = Fx::new(Slapd::start());
    let mef_of: Vec<(usize, String, Vec<String>)> = scan(&f.c0, "Eleve", "ENTEleveMEF");
    let mef = mef_of[0].2[0].clone();
    let same: Vec<String> = mef_of
        .iter()
        .filter(|(_, _, m)| m.first() == Some(&mef))
        .map(|(_, id, _)| id.clone())
        .collect();
    for id in &same {
        edit_id(&f.c0, "Eleve", id, |rec| {
            for a in [
                "ENTEleveLibelleMEF",
                "ENTEleveNivFormation",
                "ENTEleveFiliere",
            ] {
                set(rec, a, &[]);
            }
        });
    }
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let before: Vec<Attrs> = same.iter().map(|id| f.ldap.entry(&dn(id))).collect();
    assert!(
        vals(&before[0], "ENTEleveLibelleMEF").is_empty(),
        "labels as the record gives them"
    );
    let c1 = f.copy("c1", "20250905");
    edit_id(&c1, "MefEducNat", &mef, |rec| {
        set_raw(rec, "ENTLibelleMef", &[b"\xff".to_vec()])
    });
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert_eq!(r.code, 1, "{}", r.text());
    for (id, was) in same.iter().zip(&before) {
        assert_eq!(
            &f.ldap.entry(&dn(id)),
            was,
            "pupil {id} changed by an unreadable MefEducNat record"
        );
    }
}

/// The same pupils, and a Complet delivered without its `MefEducNat`
/// file: labels completed yesterday must not flap away today.
#[test]
fn a_complet_without_mef_table_keeps_completed_labels() {
    let f = Fx::new(Slapd::start());
    let ids: Vec<String> = record_ids(&f.c0, "Eleve");
    for id in ids.iter().take(5) {
        edit_id(&f.c0, "Eleve", id, |rec| {
            for a in [
                "ENTEleveLibelleMEF",
                "ENTEleveNivFormation",
                "ENTEleveFiliere",
            ] {
                set(rec, a, &[]);
            }
        });
    }
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let before = csns(&f.ldap);
    let c1 = f.copy("c1", "20250905");
    for p in files_of(&c1, "MefEducNat") {
        std::fs::remove_file(p).unwrap();
    }
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    let mut after = csns(&f.ldap);
    let mut before = before;
    after.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    before.retain(|d, _| !d.starts_with("cn=aaf-sync-"));
    assert_eq!(after, before, "people changed\n{}", r.text());
}

// ---------------------------------------------------------------------------
// 15. The per-record limits ([safety.record]) in 2D
// ---------------------------------------------------------------------------

/// A pupil's record with 100 classes, and a teacher's with 500 class and
/// subject values: over `pupil_classes` (8) and `staff_classes` (100), the
/// records are rejected as 1D's are, not turned into 600 class entries.
#[test]
fn the_record_limits_apply_to_the_two_d_lists() {
    let f = Fx::new(Slapd::start());
    let pupils = scan(&f.c0, "Eleve", "ENTEleveClasses");
    let (_, id, c) = &pupils[0];
    let sid = c[0].split_once('$').unwrap().0.to_string();
    let many: Vec<String> = (0..100).map(|i| format!("{sid}$X{i}")).collect();
    let mv: Vec<&str> = many.iter().map(String::as_str).collect();
    edit_id(&f.c0, "Eleve", id, |rec| set(rec, "ENTEleveClasses", &mv));
    let teachers = scan(&f.c0, "PersEducNat", "ENTAuxEnsClassesMatieres");
    let (_, t, _) = teachers.iter().find(|(_, _, v)| !v.is_empty()).unwrap();
    let lots: Vec<String> = (0..500).map(|i| format!("{sid}$T{i}$030201")).collect();
    let lv: Vec<&str> = lots.iter().map(String::as_str).collect();
    edit_id(&f.c0, "PersEducNat", t, |rec| {
        set(rec, "ENTAuxEnsClassesMatieres", &lv)
    });
    let r = sync(&f.config, "2025-09-04", &[&f.c0]);
    let fields: BTreeSet<String> = r
        .rejected()
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        fields.contains("ENTEleveClasses") && fields.contains("ENTAuxEnsClassesMatieres"),
        "{fields:?}"
    );
    assert!(class_entries(&f.ldap).len() < 100);
}

/// The pupils' file of the next Complet written in ISO-8859-15 while it
/// declares UTF-8: no name changes, no guardian leaves (the reader may
/// read it in its real encoding, or reject the pupils with an accent and
/// keep them as they are).
#[test]
fn a_pupils_file_in_the_wrong_encoding_changes_no_name_and_departs_no_guardian() {
    let f = Fx::new(Slapd::start());
    sync_idempotent(&f.ldap, &f.config, "2025-09-04", &f.c0, 0);
    let names = |l: &Slapd| l.entries(PEOPLE, "(objectClass=ENTEleve)", &["sn", "givenName"]);
    let before = names(&f.ldap);
    let guardians = f
        .ldap
        .entries(PEOPLE, "(objectClass=ENTAuxPersRelEleve)", &["1.1"]);
    let c1 = f.copy("c1", "20250905");
    for p in files_of(&c1, "Eleve") {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("encoding=\"UTF-8\""));
        let (bytes, _, _) = encoding_rs::ISO_8859_15.encode(&text);
        std::fs::write(&p, &bytes[..]).unwrap();
    }
    let r = sync(&f.config, "2025-09-05", &[&c1]);
    assert!(matches!(r.code, 0..=2), "{}", r.text());
    assert_eq!(names(&f.ldap), before, "names changed\n{}", r.err);
    let left: Vec<&String> = guardians.keys().filter(|d| !f.ldap.exists_dn(d)).collect();
    assert!(left.is_empty(), "guardians left: {left:?}\n{}", r.err);
}
