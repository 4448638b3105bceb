//! Targeted Delta plans (issue 23), against a real slapd: each day's
//! generated Delta, 1D and 2D, is planned both ways on the same directory
//! — over the entries it can change, and over the whole tree — and the two
//! plans must be the same, change for change; then it is applied (targeted)
//! and the next day's is planned on the result. The last day runs past the
//! retention deadlines, so the plan deletes people who departed earlier.
//! A Delta that changes a structure is planned over the whole tree, and the
//! report says why.

mod common;

use aaf_sync::generator::{generate, Degree, GenConfig};
use common::*;
use serde_json::Value;
use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The generator's extraction of `days` after the base population.
fn gen(dir: &Path, degree: Degree, delta: bool, days: u32) -> Vec<String> {
    let date = time::macros::date!(2025 - 09 - 04) + time::Duration::days(days as i64);
    generate(
        &GenConfig {
            degree,
            date: format!(
                "{:04}{:02}{:02}",
                date.year(),
                date.month() as u8,
                date.day()
            ),
            delta,
            days,
            schools: 3,
            schools_outside: 1,
            pupils_per_school: 60,
            seed: 23,
            prefix: "ENTT".into(),
            ..Default::default()
        },
        dir,
    )
    .unwrap()
    .uai_inside
}

/// Two configurations of one directory: targeted Delta plans (the
/// default) and whole-tree plans.
fn configs(ldap: &Slapd, root: &Path, uai: &[String], two_d: bool) -> (String, String) {
    let mut out = Vec::new();
    for (name, targeted) in [("targeted", true), ("whole", false)] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let p = ldap.config(
            &dir,
            uai,
            "[safety]\nmax_departures_percent = 50.0\nmax_modified_percent = 90.0\n",
        );
        let mut text = std::fs::read_to_string(&p).unwrap();
        let mut source = String::from("name = \"AC-CRETEIL\"");
        if two_d {
            source.push_str("\ndegree = \"2d\"");
        }
        if !targeted {
            source.push_str("\ntargeted_delta = false");
        }
        text = text.replace("name = \"AC-CRETEIL\"", &source);
        std::fs::write(&p, text).unwrap();
        out.push(s(&p));
    }
    (out[0].clone(), out[1].clone())
}

/// `sync` of `x`; the JSON report.
fn sync(config: &str, now: &str, x: &Path, report: &Path, dry_run: bool) -> Value {
    let mut args = vec![
        "sync",
        "--config",
        config,
        "--now",
        now,
        "--report",
        report.to_str().unwrap(),
    ];
    if dry_run {
        args.push("--dry-run");
    }
    let xs = s(x);
    args.push(&xs);
    let out = aaf_sync(&args);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{now}: exit {code:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

/// The first sync of the Complet `c0`, on 2025-09-04 (report in `dir`).
fn first_sync(config: &str, c0: &Path, dir: &Path) -> Value {
    sync(config, "2025-09-04", c0, &dir.join("r0.json"), false)
}

/// Dry runs of `x` on 2025-09-05, targeted then whole (reports in `dir`).
fn dry_runs(targeted: &str, whole: &str, x: &Path, dir: &Path) -> (Value, Value) {
    (
        sync(targeted, "2025-09-05", x, &dir.join("t.json"), true),
        sync(whole, "2025-09-05", x, &dir.join("w.json"), true),
    )
}

/// The plan a dry run saved, as LDIF.
fn plan_of(report: &Value) -> String {
    let files = report["plan_files"].as_array().unwrap();
    let ldif = files
        .iter()
        .filter_map(Value::as_str)
        .find(|f| f.ends_with(".ldif"))
        .unwrap();
    std::fs::read_to_string(ldif).unwrap()
}

fn step(report: &Value) -> &Value {
    &report["steps"].as_array().unwrap()[0]
}

/// Plans every day's Delta both ways, compares, applies; returns how many
/// changes the Deltas planned in all.
fn week(degree: Degree) -> usize {
    week_on(Slapd::start(), degree)
}

/// [`week`] on the directory `ldap`.
fn week_on(ldap: Slapd, degree: Degree) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let two_d = matches!(degree, Degree::Two);
    let c0 = tmp.path().join("c0");
    let uai = gen(&c0, degree, false, 0);
    let (targeted, whole) = configs(&ldap, tmp.path(), &uai, two_d);
    let r = first_sync(&targeted, &c0, tmp.path());
    assert_eq!(step(&r)["plan"]["failed"].as_u64().unwrap_or(0), 0);
    let mut planned = 0;
    let mut departed_before_last = 0;
    for day in 1..=6u32 {
        let x = tmp.path().join(format!("d{day}"));
        gen(&x, degree, true, day);
        // the last day, a year on: the deadlines of earlier departures pass
        let now = if day == 6 {
            "2026-10-01".to_string()
        } else {
            format!("2025-09-{:02}", 4 + day)
        };
        if day == 6 {
            departed_before_last =
                ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)");
        }
        let rt = sync(
            &targeted,
            &now,
            &x,
            &tmp.path().join(format!("t{day}.json")),
            true,
        );
        let rw = sync(
            &whole,
            &now,
            &x,
            &tmp.path().join(format!("w{day}.json")),
            true,
        );
        let (st, sw) = (step(&rt), step(&rw));
        assert_eq!(st["delta_scope"]["mode"], "targeted", "day {day}: {st}");
        assert_eq!(
            rt["perf"]["read_mode"], "targeted",
            "day {day}: {}",
            rt["perf"]
        );
        assert!(st["delta_scope"]["read_again"].is_null(), "day {day}: {st}");
        // a year on, a day's departures and the deadlines of the year's
        // touch many of so small a tree's classes (read with every member)
        let share = if day == 6 { 1 } else { 2 };
        assert!(
            rt["perf"]["read_entries"].as_u64().unwrap() * share
                < rw["perf"]["read_entries"].as_u64().unwrap(),
            "day {day}: the targeted read read {} entries, the whole {}",
            rt["perf"]["read_entries"],
            rw["perf"]["read_entries"]
        );
        assert_eq!(sw["delta_scope"]["mode"], "whole", "day {day}");
        assert!(
            st["delta_scope"]["people"].as_u64().unwrap() * 2
                < st["delta_scope"]["people_total"].as_u64().unwrap(),
            "day {day}: the scope is most of the tree: {}",
            st["delta_scope"]
        );
        let (pt, pw) = (plan_of(&rt), plan_of(&rw));
        if pt != pw {
            std::fs::write("/tmp/pt.ldif", &pt).unwrap();
            std::fs::write("/tmp/pw.ldif", &pw).unwrap();
        }
        assert_eq!(
            pt, pw,
            "day {day}: the targeted plan differs from the whole one"
        );
        for k in ["plan", "lifecycle", "logins_created", "delta"] {
            assert_eq!(st[k], sw[k], "day {day}: {k}");
        }
        // the rails judge the same counts either way, and the report says
        // the same of the mapping (links dropped, values left out…); but
        // `adapted` counts what the SDET adaptation did to the entries
        // computed, and a targeted plan computes fewer (to the same end)
        let mapping = |s: &Value| {
            let mut m = s["mapping"].clone();
            m.as_object_mut().unwrap().remove("adapted");
            m
        };
        assert_eq!(mapping(st), mapping(sw), "day {day}: mapping");
        // the rails' own figures (active entries before, leaving, changes,
        // holds) and the digest an approval would name
        assert_eq!(rt["safety"], rw["safety"], "day {day}: safety");
        planned += pt.matches("\ndn: ").count() + usize::from(pt.starts_with("dn: "));
        eprintln!(
            "day {day}: {} read {} of {}",
            st["delta_scope"], rt["perf"]["read_entries"], rw["perf"]["read_entries"]
        );
        let ra = sync(
            &targeted,
            &now,
            &x,
            &tmp.path().join(format!("a{day}.json")),
            false,
        );
        let sa = step(&ra);
        assert_eq!(
            sa["plan"], st["plan"],
            "day {day}: applied what was planned"
        );
        assert!(sa["applied"]["failures"].as_array().unwrap().is_empty());
        assert_eq!(sa["in_step"], true, "day {day}");
    }
    let deleted = ldap.count(&format!("ou=departed,{BASE}"), "(objectClass=ENTPerson)");
    assert!(
        departed_before_last > 0 && deleted < departed_before_last,
        "the deadlines passed on the last day: {departed_before_last} → {deleted}"
    );
    planned
}

#[test]
fn each_days_one_d_delta_plans_the_same_targeted_as_over_the_whole_tree() {
    let n = week(Degree::One);
    assert!(n > 50, "the Deltas planned {n} changes");
}

#[test]
fn each_days_two_d_delta_plans_the_same_targeted_as_over_the_whole_tree() {
    let n = week(Degree::Two);
    assert!(n > 50, "the Deltas planned {n} changes");
}

/// In a directory with the deployed SDET schema (what the sync writes is
/// adapted to it: attributes carried elsewhere, dropped, filled): a teacher
/// by `ENTPersonCategorieEnseignant` alone, which that schema cannot hold,
/// lost the teacher profile at every whole-tree Delta.
#[test]
fn each_days_delta_plans_the_same_both_ways_in_the_deployed_sdet_schema() {
    let n = week_on(Slapd::start_sdet(), Degree::Two);
    assert!(n > 50, "the Deltas planned {n} changes");
    let n = week_on(Slapd::start_sdet(), Degree::One);
    assert!(n > 50, "the Deltas planned {n} changes");
}

/// A structure's own change (its name) is planned targeted, with the plan
/// a whole one makes; one that changes its UAI (in or out of the
/// perimeter: all its people with it), or that deletes it, is planned over
/// the whole tree, and the report says why.
#[test]
fn a_delta_that_changes_a_structure_is_planned_targeted_unless_its_people_follow() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let uai = gen(&c0, Degree::One, false, 0);
    let (targeted, whole) = configs(&ldap, tmp.path(), &uai, false);
    first_sync(&targeted, &c0, tmp.path());
    let sid = record_ids(&c0, "EtabEducNat")[0].clone();
    let delta = |name: &str, body: String| {
        let d = tmp.path().join(name);
        write_extraction_files(&d, "Delta", "20250905", &[("EtabEducNat", body)]);
        d
    };
    let renamed = delta(
        "d1",
        modify_req(
            "EtabEducNat",
            &sid,
            &[("ENTStructureNomCourant", &["ECOLE RENOMMEE"])],
        ),
    );
    let rt = sync(
        &targeted,
        "2025-09-05",
        &renamed,
        &tmp.path().join("t1.json"),
        true,
    );
    let rw = sync(
        &whole,
        "2025-09-05",
        &renamed,
        &tmp.path().join("w1.json"),
        true,
    );
    assert_eq!(rt["perf"]["read_mode"], "targeted", "{}", rt["perf"]);
    assert_eq!(step(&rt)["delta_scope"]["mode"], "targeted");
    let plan = plan_of(&rt);
    assert_eq!(plan, plan_of(&rw));
    assert!(plan.contains("ECOLE RENOMMEE"), "{plan}");
    // its UAI changed: out of the perimeter, with its people
    let moved = delta(
        "d2",
        modify_req("EtabEducNat", &sid, &[("ENTStructureUAI", &["0999999Z"])]),
    );
    let r = sync(
        &targeted,
        "2025-09-05",
        &moved,
        &tmp.path().join("t2.json"),
        true,
    );
    let sc = &step(&r)["delta_scope"];
    assert_eq!(sc["mode"], "whole", "{sc}");
    assert_eq!(
        sc["read_again"], "the Delta changes a structure's ENTStructureUAI",
        "{sc}"
    );
    assert_eq!(
        plan_of(&r),
        plan_of(&sync(
            &whole,
            "2025-09-05",
            &moved,
            &tmp.path().join("w2.json"),
            true
        ))
    );
    // deleted
    let gone = delta("d3", delete_req("EtabEducNat", &sid));
    let r = sync(
        &targeted,
        "2025-09-05",
        &gone,
        &tmp.path().join("t3.json"),
        true,
    );
    assert_eq!(r["perf"]["read_mode"], "full", "{}", r["perf"]);
    assert_eq!(
        r["perf"]["targeted_reason"],
        "the Delta deletes a structure, or a file of it does not read"
    );
}

/// The `<addRequest>` blocks of a generated file (UTF-8).
fn blocks(dir: &Path, cat: &str) -> Vec<String> {
    let f = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(&format!("_{cat}_")))
        .unwrap();
    let text = std::fs::read_to_string(f).unwrap();
    text.split("<addRequest>")
        .skip(1)
        .map(|b| b.split("</addRequest>").next().unwrap().to_string())
        .collect()
}

/// The value of `attr` in a record block.
fn value_of(block: &str, attr: &str) -> String {
    let open = format!("<attr name=\"{attr}\"><value>");
    let from = block.find(&open).unwrap() + open.len();
    block[from..].split("</value>").next().unwrap().to_string()
}

#[test]
fn new_people_named_as_someone_the_delta_does_not_touch_get_the_next_free_login() {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let uai = generate(
        &GenConfig {
            date: "20250904".into(),
            schools: 3,
            pupils_per_school: 60,
            seed: 23,
            prefix: "ENTT".into(),
            encodings: [aaf_sync::generator::GenEncoding::Utf8; 4],
            ..Default::default()
        },
        &c0,
    )
    .unwrap()
    .uai_inside;
    let (targeted, whole) = configs(&ldap, tmp.path(), &uai, false);
    first_sync(&targeted, &c0, tmp.path());
    // a parent of the first school; two new pupils of the last school, named
    // as that parent (someone no part of this Delta reads)
    let parent = &blocks(&c0, "PersRelEleve")[0];
    let (nom, prenom) = (
        value_of(parent, "ENTPersonNom"),
        value_of(parent, "ENTPersonPrenom"),
    );
    let pid = value_of(parent, "ENTPersonJointure");
    let login = ldap.entry(&person_dn(&pid))["entpersonlogin"][0].clone();
    // a pupil of another school in the perimeter than the parent's pupil
    let inside: Vec<String> = blocks(&c0, "EtabEducNat")
        .iter()
        .filter(|b| uai.contains(&value_of(b, "ENTStructureUAI")))
        .map(|b| value_of(b, "ENTStructureJointure"))
        .collect();
    let pupils = blocks(&c0, "Eleve");
    let first_school = value_of(&pupils[0], "ENTPersonStructRattach");
    let pupil = pupils
        .iter()
        .rev()
        .find(|b| {
            let sid = value_of(b, "ENTPersonStructRattach");
            sid != first_school && inside.contains(&sid)
        })
        .unwrap()
        .clone();
    let old = value_of(&pupil, "ENTPersonJointure");
    let mut body = String::new();
    for new in ["4399998", "4399999"] {
        let b = pupil
            .replace(&format!(">{old}<"), &format!(">{new}<"))
            .replace(
                &format!(
                    "ENTPersonNom\"><value>{}<",
                    value_of(&pupil, "ENTPersonNom")
                ),
                &format!("ENTPersonNom\"><value>{nom}<"),
            )
            .replace(
                &format!(
                    "ENTPersonPrenom\"><value>{}<",
                    value_of(&pupil, "ENTPersonPrenom")
                ),
                &format!("ENTPersonPrenom\"><value>{prenom}<"),
            );
        body.push_str(&format!("<addRequest>{b}</addRequest>\n"));
    }
    let d = tmp.path().join("d1");
    write_extraction_files(&d, "Delta", "20250905", &[("Eleve", body)]);
    let (rt, rw) = dry_runs(&targeted, &whole, &d, tmp.path());
    assert_eq!(rt["perf"]["read_mode"], "targeted");
    assert_eq!(step(&rt)["delta_scope"]["mode"], "targeted");
    assert!(step(&rt)["delta_scope"]["read_again"].is_null());
    // the parent was not read, yet its login is taken
    assert!(
        rt["perf"]["read_entries"].as_u64().unwrap() < 150,
        "{}",
        rt["perf"]
    );
    let (pt, pw) = (plan_of(&rt), plan_of(&rw));
    assert_eq!(pt, pw);
    for n in ["2", "3"] {
        assert!(
            pt.contains(&format!("ENTPersonLogin: {login}{n}\n")),
            "{login}{n}:\n{pt}"
        );
    }
}

/// `configs` with `safety` as the `[safety]` section and `page_size` in
/// `[ldap]` (a walk of the rails' counts stops at a page's end).
fn configs_with(
    ldap: &Slapd,
    root: &Path,
    uai: &[String],
    safety: &str,
    page_size: u32,
) -> (String, String) {
    let (t, w) = configs(ldap, root, uai, false);
    for p in [&t, &w] {
        let text = std::fs::read_to_string(p).unwrap();
        let text = text
            .replace(
                "[safety]\nmax_departures_percent = 50.0\nmax_modified_percent = 90.0\n",
                safety,
            )
            .replace(
                &format!("base_dn = \"{BASE}\"\n"),
                &format!("base_dn = \"{BASE}\"\npage_size = {page_size}\n"),
            );
        std::fs::write(p, text).unwrap();
    }
    (t, w)
}

/// The first day's Delta over the base population, planned both ways
/// (dry runs): (targeted report, whole report, the same plan).
fn first_day_both_ways(safety: &str, page_size: u32) -> (Value, Value) {
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let c0 = tmp.path().join("c0");
    let uai = gen(&c0, Degree::One, false, 0);
    let (targeted, whole) = configs_with(&ldap, tmp.path(), &uai, safety, page_size);
    let r = first_sync(&targeted, &c0, tmp.path());
    assert_eq!(step(&r)["in_step"], true, "{}", step(&r));
    let x = tmp.path().join("d1");
    gen(&x, Degree::One, true, 1);
    let (rt, rw) = dry_runs(&targeted, &whole, &x, tmp.path());
    assert_eq!(rt["perf"]["read_mode"], "targeted", "{}", rt["perf"]);
    assert_eq!(plan_of(&rt), plan_of(&rw), "the same plan either way");
    // the plan saved for review says when its unchanged count is a bound
    let saved = |r: &Value| {
        let files = r["plan_files"].as_array().unwrap();
        let json = files
            .iter()
            .filter_map(Value::as_str)
            .find(|f| f.ends_with(".json"));
        std::fs::read_to_string(json.unwrap()).unwrap()
    };
    let bound = rt["safety"]["active_at_least"] == true;
    assert_eq!(saved(&rt).contains("\"unchanged_at_least\": true"), bound);
    assert!(!saved(&rw).contains("unchanged_at_least"));
    (rt, rw)
}

/// A figure of a report, 0 when absent.
fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A Delta the rails let through is judged on counts made only as far as
/// that verdict needs (a walk per category, stopped at the page where it
/// has enough): the report says they are lower bounds, each no more than
/// the directory's, and everything else about the run is the whole plan's.
#[test]
fn a_delta_let_through_is_counted_only_as_far_as_the_verdict_needs() {
    let safety =
        "[safety]\nguard_floor = 2\nmax_departures_percent = 50.0\nmax_modified_percent = 90.0\n";
    let (rt, rw) = first_day_both_ways(safety, 2);
    let (t, w) = (&rt["safety"], &rw["safety"]);
    assert_eq!(t["active_at_least"], true, "{t}");
    assert!(w["active_at_least"].is_null(), "{w}");
    assert!(t["holds"].as_array().unwrap().is_empty(), "{t}");
    assert!(w["holds"].as_array().unwrap().is_empty(), "{w}");
    let (at, aw) = (
        t["active_before"].as_object().unwrap(),
        w["active_before"].as_object().unwrap(),
    );
    assert_eq!(at.keys().collect::<Vec<_>>(), aw.keys().collect::<Vec<_>>());
    for (cat, exact) in aw {
        let bound = n(&at[cat]);
        assert!(
            bound >= 2 && bound <= n(exact),
            "{cat}: counted {bound} of {exact}"
        );
    }
    // pupils: the walk stopped far short of the 180 there are
    assert!(n(&at["Eleve"]) * 2 < n(&aw["Eleve"]), "{t}");
    // what follows from the counts follows from the bounds; the rest is
    // the whole plan's
    for k in ["leaving", "digest"] {
        assert_eq!(t[k], w[k], "{k}");
    }
    let (ct, cw) = (&t["changes"], &w["changes"]);
    for k in [
        "renames",
        "modified",
        "added",
        "group_deletions",
        "group_additions",
        "rejected",
    ] {
        assert_eq!(ct[k], cw[k], "changes.{k}");
    }
    let (st, sw) = (step(&rt), step(&rw));
    assert!(n(&st["plan"]["unchanged"]) < n(&sw["plan"]["unchanged"]));
    assert_eq!(st["plan"]["unchanged_at_least"], true, "{}", st["plan"]);
    assert!(sw["plan"]["unchanged_at_least"].is_null(), "{}", sw["plan"]);
    assert_eq!(st["plan"]["total"], sw["plan"]["total"]);
    assert_eq!(st["plan"]["by_kind"], sw["plan"]["by_kind"]);
    for (cat, c) in sw["mapping"]["categories"].as_object().unwrap() {
        let mapped = n(&st["mapping"]["categories"][cat]["mapped"]);
        assert!(mapped <= n(&c["mapped"]), "{cat}: {mapped} mapped, {c}");
    }
    assert!(n(&st["delta_scope"]["people_total"]) < n(&sw["delta_scope"]["people_total"]));
}

/// A Delta the rails hold is judged on the directory's own figures: the
/// same holds, with the same counts in their messages, as over the whole
/// tree. So is one of a tree where a category has fewer entries than the
/// guard floor (the change guards do not judge it: a bound under the
/// floor could hide a hold).
#[test]
fn a_delta_the_rails_may_hold_is_judged_on_exact_counts() {
    for safety in [
        // a day's modifications are far above half a percent of the pupils
        "[safety]\nguard_floor = 2\npercent_floor = 0\nmax_departures_percent = 50.0\nmax_modified_percent = 0.5\n",
        // three schools: fewer structures than the default floor of 20
        "[safety]\nmax_departures_percent = 50.0\nmax_modified_percent = 90.0\n",
    ] {
        let (rt, rw) = first_day_both_ways(safety, 2);
        assert!(rt["safety"]["active_at_least"].is_null(), "{}", rt["safety"]);
        assert_eq!(rt["safety"], rw["safety"], "{safety}");
        let (st, sw) = (step(&rt), step(&rw));
        assert_eq!(st["plan"], sw["plan"]);
        assert_eq!(st["delta_scope"]["people_total"], sw["delta_scope"]["people_total"]);
    }
    let (rt, _) = first_day_both_ways(
        "[safety]\nguard_floor = 2\npercent_floor = 0\nmax_departures_percent = 50.0\nmax_modified_percent = 0.5\n",
        1000,
    );
    let holds = rt["safety"]["holds"].as_array().unwrap();
    assert!(
        holds.iter().any(|h| h["rule"] == "modifications"),
        "{}",
        rt["safety"]
    );
}
