//! The 2D generator (`aaf-gen --degree 2d`): its Complets and Deltas are
//! well-formed XML (read here with quick-xml, apart from the product's
//! reader), carry the six categories and the 2D header, and hold together
//! — every pupil's names, class, group, MEF and relatives, every teacher's
//! classes and subjects resolve to generated records; the Delta of a day
//! over the Complet of the day before gives that day's Complet; a seed
//! gives the same bytes; and 1D's output has not moved
//! (`samples/1d-complet` regenerates byte for byte).
//!
//! Size: a 1.5-million-entry 2D académie is
//! `aaf-gen --degree 2d --schools 960 --pupils-per-school 600 --part-size 200000`
//! (2.6 entries per pupil: 576,000 pupils, their relatives and staff).

#[path = "generator_2d/parse.rs"]
mod parse;

use aaf_sync::generator::{generate, Degree, GenConfig, GenSummary};
use parse::{parse, Op, Rec};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// An extraction read back: records by file category, and the headers.
struct Extraction {
    by_cat: BTreeMap<String, Vec<Rec>>,
    headers: Vec<BTreeMap<String, String>>,
}

fn read(sum: &GenSummary, prefix: &str, kind: &str, date: &str) -> Extraction {
    let mut by_cat: BTreeMap<String, Vec<Rec>> = BTreeMap::new();
    let mut headers = Vec::new();
    for f in &sum.files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let rest = name
            .strip_prefix(&format!("{prefix}_{kind}_{date}_"))
            .unwrap_or_else(|| panic!("{name}: not named as a 2D delivery"));
        let (cat, part) = rest.rsplit_once('_').unwrap();
        assert!(part.len() == 8 && part.ends_with(".xml"), "{name}");
        let file = parse(f);
        headers.push(file.header);
        by_cat
            .entry(cat.to_string())
            .or_default()
            .extend(file.records);
    }
    Extraction { by_cat, headers }
}

const SIX: [&str; 6] = [
    "EtabEducNat",
    "Eleve",
    "PersRelEleve",
    "PersEducNat",
    "MatiereEducNat",
    "MefEducNat",
];

fn cfg(dir_date: &str) -> GenConfig {
    GenConfig {
        degree: Degree::Two,
        prefix: "ENT2DVA-ENT24".into(),
        date: dir_date.into(),
        schools: 3,
        schools_outside: 1,
        pupils_per_school: 60,
        part_size: 50,
        seed: 3,
        ..Default::default()
    }
}

/// Every link of a Complet resolves.
fn check_complet(x: &Extraction) {
    let ids =
        |cat: &str| -> BTreeSet<String> { x.by_cat[cat].iter().map(|r| r.id.clone()).collect() };
    for cat in SIX {
        assert!(!x.by_cat[cat].is_empty(), "{cat} is empty");
    }
    let subjects = ids("MatiereEducNat");
    let mefs = ids("MefEducNat");
    let relatives: HashMap<&str, &Rec> = x.by_cat["PersRelEleve"]
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    // structures: their classes (code → MEF) and groups
    let mut classes: HashMap<(String, String), String> = HashMap::new();
    let mut groups: BTreeSet<(String, String)> = BTreeSet::new();
    for s in &x.by_cat["EtabEducNat"] {
        assert_eq!(s.get("ENTStructureJointure"), vec![s.id.as_str()]);
        for c in s.get("ENTStructureClasses") {
            let f: Vec<&str> = c.split('$').collect();
            assert_eq!(f.len(), 3, "{c}");
            assert!(mefs.contains(f[2]), "class {c}: MEF unknown");
            classes.insert((s.id.clone(), f[0].into()), f[2].into());
        }
        for g in s.get("ENTStructureGroupes") {
            let f: Vec<&str> = g.split('$').collect();
            assert!(f.len() >= 3, "{g}");
            for c in &f[2..] {
                assert!(classes.contains_key(&(s.id.clone(), c.to_string())), "{g}");
            }
            groups.insert((s.id.clone(), f[0].into()));
        }
    }
    let pair = |v: &str| -> (String, String) {
        let (a, b) = v.split_once('$').unwrap();
        (a.into(), b.split('$').next().unwrap().into())
    };
    for p in &x.by_cat["Eleve"] {
        assert_eq!(p.category, ("categoriePersonne".into(), "Eleve".into()));
        assert_eq!(p.get("ENTPersonJointure"), vec![p.id.as_str()]);
        for a in ["sn", "givenName", "personalTitle", "ENTPersonDateNaissance"] {
            assert_eq!(p.get(a).len(), 1, "pupil {} without {a}", p.id);
        }
        let sid = p.get("ENTPersonStructRattach")[0].to_string();
        let class = p.get("ENTEleveClasses");
        assert_eq!(class.len(), 1, "pupil {}: one class", p.id);
        let c = pair(class[0]);
        assert_eq!(c.0, sid);
        let mef = classes
            .get(&c)
            .unwrap_or_else(|| panic!("pupil {}: class {c:?} unknown", p.id));
        assert_eq!(p.get("ENTEleveMEF"), vec![mef.as_str()], "pupil {}", p.id);
        assert!(!p.get("ENTEleveLibelleMEF").is_empty());
        let g = p.get("ENTEleveGroupes");
        assert!(!g.is_empty(), "pupil {} without a group", p.id);
        for g in g {
            assert!(
                groups.contains(&pair(g)),
                "pupil {}: group {g} unknown",
                p.id
            );
        }
        for code in p.get("ENTEleveCodeEnseignements") {
            assert!(subjects.contains(code), "option {code} unknown");
        }
        let links = p.get("ENTElevePersRelEleve");
        assert!(!links.is_empty(), "pupil {} without relatives", p.id);
        let mut legal = Vec::new();
        for l in links {
            let f: Vec<&str> = l.split('$').collect();
            assert_eq!(f.len(), 6, "{l}");
            let r = relatives
                .get(f[0])
                .unwrap_or_else(|| panic!("pupil {}: relative {} not generated", p.id, f[0]));
            assert!(
                r.get("ENTAuxPersRelEleveEleve").contains(&p.id.as_str()),
                "relative {} does not name pupil {}",
                f[0],
                p.id
            );
            if f[3] == "1" || f[3] == "2" {
                legal.push(f[0]);
            }
        }
        assert!(!legal.is_empty(), "pupil {}: nobody legal", p.id);
        assert_eq!(p.get("ENTEleveAutoriteParentale"), legal);
    }
    let pupils = ids("Eleve");
    for r in &x.by_cat["PersRelEleve"] {
        assert!(!r.get("sn").is_empty() && !r.get("givenName").is_empty());
        let of = r.get("ENTAuxPersRelEleveEleve");
        assert!(!of.is_empty(), "relative {} without pupil", r.id);
        for p in of {
            assert!(pupils.contains(p), "relative {}: pupil {p} unknown", r.id);
        }
    }
    let mut teachers = 0;
    for t in &x.by_cat["PersEducNat"] {
        assert!(!t.get("sn").is_empty() && !t.get("givenName").is_empty());
        let sid = t.get("ENTPersonStructRattach")[0].to_string();
        if !t
            .get("ENTPersonFonctions")
            .iter()
            .any(|f| f.contains("$ENS$"))
        {
            continue;
        }
        teachers += 1;
        let cm = t.get("ENTAuxEnsClassesMatieres");
        let gm = t.get("ENTAuxEnsGroupesMatieres");
        assert!(
            !cm.is_empty() || !gm.is_empty(),
            "teacher {} teaches nothing",
            t.id
        );
        for v in cm.iter().chain(&gm) {
            let f: Vec<&str> = v.split('$').collect();
            assert_eq!((f.len(), f[0]), (3, sid.as_str()), "{v}");
            assert!(
                subjects.contains(f[2]),
                "teacher {}: subject {v} unknown",
                t.id
            );
        }
        for v in cm.iter().chain(&t.get("ENTAuxEnsClasses")) {
            assert!(classes.contains_key(&pair(v)), "teacher {}: {v}", t.id);
        }
        for v in gm.iter().chain(&t.get("ENTAuxEnsGroupes")) {
            assert!(groups.contains(&pair(v)), "teacher {}: {v}", t.id);
        }
        for v in t.get("ENTAuxEnsMEF") {
            let f: Vec<&str> = v.split('$').collect();
            assert!(f.len() == 3 && mefs.contains(f[1]), "teacher {}: {v}", t.id);
        }
        assert!(!t.get("ENTAuxEnsMatiereEnseignEtab").is_empty());
    }
    assert!(teachers > 0);
    // every class has its principal teacher
    let principal: BTreeSet<(String, String)> = x.by_cat["PersEducNat"]
        .iter()
        .flat_map(|t| t.get("ENTAuxEnsClassesPrincipal"))
        .map(pair)
        .collect();
    assert_eq!(principal.len(), classes.len());
    for r in &x.by_cat["MatiereEducNat"] {
        assert_eq!(r.category, ("categorieMatiere".into(), "MatEducNat".into()));
        assert_eq!(r.get("ENTMatJointure"), vec![r.id.as_str()]);
        assert_eq!(r.id.len(), 6);
    }
    for r in &x.by_cat["MefEducNat"] {
        assert_eq!(r.category, ("categorieMef".into(), "MefEducNat".into()));
        assert_eq!(r.get("ENTMefJointure"), vec![r.id.as_str()]);
        assert_eq!(r.id.len(), 11);
    }
}

fn check_headers(x: &Extraction, date: &str) {
    for h in &x.headers {
        assert_eq!(h.get("degre").map(String::as_str), Some("2D"));
        assert!(h["versionSDET"].starts_with("Annexe 4bis"), "{h:?}");
        assert_eq!(
            h["dateGenerationExport"],
            format!("{}/{}/{}", &date[6..8], &date[4..6], &date[0..4])
        );
    }
}

#[test]
fn a_complet_is_well_formed_and_holds_together() {
    let dir = tempfile::tempdir().unwrap();
    let sum = generate(&cfg("20250904"), dir.path()).unwrap();
    let x = read(&sum, "ENT2DVA-ENT24", "Complet", "20250904");
    assert_eq!(
        x.by_cat.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        SIX.into()
    );
    check_headers(&x, "20250904");
    check_complet(&x);
    // several parts per category, as large categories come
    let eleve_parts = sum
        .files
        .iter()
        .filter(|f| f.to_string_lossy().contains("_Eleve_"))
        .count();
    assert!(eleve_parts > 1, "{eleve_parts}");
    assert_eq!(x.by_cat["Eleve"].len(), sum.pupils);
    assert_eq!(x.by_cat["MatiereEducNat"].len(), sum.subjects);
    assert_eq!(sum.uai_inside.len(), 3);
    // the real-world quirks: an undeclared named entity, a doubly escaped
    // value, an empty value, Latin-9 bytes, CRLF when asked
    let all: Vec<u8> = sum
        .files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let all_text = String::from_utf8_lossy(&all);
    for quirk in [
        "&eacute;",
        "&amp;apos;",
        "<value/>",
        "encoding=\"ISO-8859-15\"",
    ] {
        assert!(all_text.contains(quirk), "no {quirk}");
    }
    let crlf = generate(
        &GenConfig {
            crlf: true,
            ..cfg("20250904")
        },
        &dir.path().join("crlf"),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&crlf.files[0])
        .unwrap()
        .contains("\r\n"));
}

/// Applies a Delta's requests to a Complet's records.
fn apply(complet: &mut BTreeMap<String, Vec<Rec>>, delta: &BTreeMap<String, Vec<Rec>>) {
    for (cat, reqs) in delta {
        let list = complet.get_mut(cat).unwrap();
        for r in reqs {
            match r.op {
                Op::Add => list.push(Rec {
                    op: Op::Add,
                    ..r.clone()
                }),
                Op::Delete => list.retain(|x| x.id != r.id),
                Op::Modify => {
                    let x = list
                        .iter_mut()
                        .find(|x| x.id == r.id)
                        .unwrap_or_else(|| panic!("modify of {} unknown", r.id));
                    for (k, v) in &r.attrs {
                        match x.attrs.iter_mut().find(|(n, _)| n == k) {
                            Some((_, old)) => *old = v.clone(),
                            None => x.attrs.push((k.clone(), v.clone())),
                        }
                    }
                }
            }
        }
    }
}

/// Records by category, then by id, their attributes sorted.
type ById = BTreeMap<String, BTreeMap<String, Vec<(String, Vec<String>)>>>;

fn sorted(x: &BTreeMap<String, Vec<Rec>>) -> ById {
    x.iter()
        .map(|(c, recs)| {
            let by_id = recs
                .iter()
                .map(|r| {
                    let mut a = r.attrs.clone();
                    a.sort();
                    (r.id.clone(), a)
                })
                .collect();
            (c.clone(), by_id)
        })
        .collect()
}

#[test]
fn a_delta_is_well_formed_and_leads_to_the_next_complet() {
    let dir = tempfile::tempdir().unwrap();
    let day = |delta: bool, days: u32, date: &str, sub: &str| -> (GenSummary, PathBuf) {
        let out = dir.path().join(sub);
        let s = generate(
            &GenConfig {
                delta,
                days,
                ..cfg(date)
            },
            &out,
        )
        .unwrap();
        (s, out)
    };
    let (c1, _) = day(false, 1, "20250905", "c1");
    let (d2, _) = day(true, 2, "20250906", "d2");
    let (c2, _) = day(false, 2, "20250906", "c2");
    let delta = read(&d2, "ENT2DVA-ENT24", "Delta", "20250906");
    check_headers(&delta, "20250906");
    assert_eq!(delta.by_cat.len(), 6);
    for (what, n) in &d2.changes {
        assert!(*n > 0, "{what}");
    }
    for what in [
        "Eleve add",
        "Eleve delete",
        "Eleve modify",
        "PersRelEleve add",
        "PersRelEleve modify",
        "PersEducNat add",
        "PersEducNat delete",
        "PersEducNat modify",
    ] {
        assert!(d2.changes.contains_key(what), "no {what}: {:?}", d2.changes);
    }
    let all: Vec<&Rec> = delta.by_cat.values().flatten().collect();
    assert!(all
        .iter()
        .filter(|r| r.op == Op::Modify)
        .all(|r| !r.operations.is_empty() && r.operations.iter().all(|o| o == "replace")));
    // pupils changing class or group, a guardian taking over, a teacher's
    // subjects changing: all present in a day
    let modified = |cat: &str, attr: &str| {
        delta.by_cat[cat]
            .iter()
            .any(|r| r.op == Op::Modify && r.attrs.iter().any(|(k, _)| k == attr))
    };
    assert!(modified("Eleve", "ENTEleveGroupes"));
    assert!(modified("Eleve", "ENTElevePersRelEleve"));
    assert!(modified("PersEducNat", "ENTAuxEnsClassesMatieres"));
    let mut before = read(&c1, "ENT2DVA-ENT24", "Complet", "20250905").by_cat;
    let after = read(&c2, "ENT2DVA-ENT24", "Complet", "20250906");
    check_complet(&after);
    apply(&mut before, &delta.by_cat);
    assert_eq!(sorted(&before), sorted(&after.by_cat));
}

#[test]
fn a_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let files = |sub: &str, seed: u64, delta: bool| -> Vec<(String, Vec<u8>)> {
        let c = GenConfig {
            seed,
            delta,
            days: 1,
            ..cfg("20250905")
        };
        let s = generate(&c, &dir.path().join(sub)).unwrap();
        s.files
            .iter()
            .map(|f| {
                (
                    f.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read(f).unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(files("a", 3, false), files("b", 3, false));
    assert_eq!(files("c", 3, true), files("d", 3, true));
    assert_ne!(files("e", 4, false), files("a", 3, false));
}

#[test]
fn the_1d_sample_is_byte_identical() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1d-complet");
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&GenConfig::default(), dir.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&sample)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut made: Vec<String> = s
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    made.sort();
    assert_eq!(names, made);
    for n in names {
        assert!(
            std::fs::read(sample.join(&n)).unwrap() == std::fs::read(dir.path().join(&n)).unwrap(),
            "{n} differs from samples/1d-complet"
        );
    }
}

/// `aaf-gen --degree 2d --schools 4 --pupils-per-school 20`: quick, and
/// the six categories. (A 1.5-million-entry académie: see the top.)
#[test]
fn the_command_writes_a_small_academie_fast() {
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aaf-gen"))
        .args([
            "--degree",
            "2d",
            "--schools",
            "4",
            "--pupils-per-school",
            "20",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("6 files: 5 schools, 100 pupils"),
        "{stdout}"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let want: Vec<String> = {
        let mut w: Vec<String> = SIX
            .iter()
            .map(|c| format!("ENT2D_Complet_20250904_{c}_0000.xml"))
            .collect();
        w.sort();
        w
    };
    assert_eq!(names, want);
}
