//! The Delta view (no LDAP): the directory's records rebuilt from the
//! entries a Complet produced map back to exactly those entries, so a Delta
//! touches only whom it names; and a generated Delta changes what it says.

mod common;

use aaf_sync::config::Config;
use aaf_sync::generator::{generate, GenConfig};
use aaf_sync::mapping::delta::Overlay;
use aaf_sync::mapping::perimeter::Perimeter;
use aaf_sync::mapping::{layout::Layout, MappedTree, Mapper};
use aaf_sync::model::EntryMap;
use aaf_sync::ops::report::StepReport;
use aaf_sync::schema::EntryKind;
use common::offline_config as config;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use time::macros::date;

fn complet(cfg: &Config, dir: &Path) -> MappedTree {
    complet_on(cfg, dir, date!(2025 - 09 - 04))
}

fn complet_on(cfg: &Config, dir: &Path, now: time::Date) -> MappedTree {
    let files = aaf_sync::aaf::filename::list_dir(dir).unwrap();
    let scan = aaf_sync::aaf::filename::group_files(files);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let mut step = StepReport::default();
    let mut tree = aaf_sync::run::sync::read_extraction(
        cfg,
        &layout,
        &scan.extractions[0],
        now,
        &mut Default::default(),
        &mut step,
    )
    .unwrap();
    tree.assign_logins(&EntryMap::new(), &mut HashSet::new());
    tree
}

fn as_directory(tree: &MappedTree) -> EntryMap {
    tree.entries.iter().map(|d| d.entry.clone()).collect()
}

#[test]
fn records_rebuilt_from_the_directory_map_back_to_the_same_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = GenConfig {
        schools: 3,
        pupils_per_school: 30,
        ..Default::default()
    };
    let sum = generate(&gen, tmp.path()).unwrap();
    // one staff member consented to their address: it must survive too
    let first = complet(&config(&sum.uai_inside, BTreeSet::new()), tmp.path());
    let staff_id = first
        .entries
        .iter()
        .find(|d| d.kind == EntryKind::Staff)
        .map(|d| d.id.clone())
        .unwrap();
    let cfg = config(&sum.uai_inside, BTreeSet::from([staff_id]));
    let tree = complet(&cfg, tmp.path());
    assert!(tree
        .entries
        .iter()
        .any(|d| d.entry.get("ENTPersonAdresse").is_some()));
    assert!(tree.entries.iter().any(|d| d.kind == EntryKind::Classe));
    assert_maps_back(&cfg, &tree);
}

/// Rebuilds every record of `tree` from its entries, as a Delta does with
/// the directory's, maps them again and checks nothing would change.
fn assert_maps_back(cfg: &Config, tree: &MappedTree) {
    let current = as_directory(tree);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let uai = Perimeter::new(&cfg.perimeter_uai, false);
    let overlay = Overlay::from_directory(&current, &layout, &uai, cfg.degree);
    let mut mapper = Mapper::new(
        &layout,
        Perimeter::new(&cfg.perimeter_uai, false),
        &cfg.staff_address_consent,
        date!(2025 - 09 - 05),
    )
    .with_degree(cfg.degree);
    for rec in overlay.into_records() {
        mapper.map(&rec, Path::new("dir")).unwrap();
    }
    let again = mapper.finish();
    let plan = aaf_sync::diff::plan(&again.entries, &current);
    let changes = serde_json::to_string_pretty(&plan.changes).unwrap();
    assert!(
        plan.changes.is_empty(),
        "{}",
        &changes[..changes.len().min(6000)]
    );
    assert!(plan.absent.is_empty(), "{:?}", plan.absent);
    assert_eq!(again.entries.len(), tree.entries.len());
}

/// The same in 2D: every field and link of a 2D tree comes back from the
/// entries it wrote.
#[test]
fn two_d_records_rebuilt_from_the_directory_map_back_to_the_same_entries() {
    use aaf_sync::aaf::degree::Degree;
    let tmp = tempfile::tempdir().unwrap();
    let gen = GenConfig {
        degree: aaf_sync::generator::Degree::Two,
        prefix: "ENT2D".into(),
        schools: 3,
        pupils_per_school: 30,
        ..Default::default()
    };
    let sum = generate(&gen, tmp.path()).unwrap();
    let mut cfg = config(&sum.uai_inside, BTreeSet::new());
    cfg.degree = Degree::TwoD;
    let tree = complet(&cfg, tmp.path());
    assert!(tree
        .entries
        .iter()
        .any(|d| d.entry.get("ENTElevePersRelEleve").is_some()));
    assert_maps_back(&cfg, &tree);
}

/// Maps `dir` (a Delta) over `current`, logins kept for those who have one.
fn delta_over(cfg: &Config, dir: &Path, current: &EntryMap) -> (MappedTree, StepReport) {
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let files = aaf_sync::aaf::filename::list_dir(dir).unwrap();
    let scan = aaf_sync::aaf::filename::group_files(files);
    let mut step = StepReport::default();
    let mut tree = aaf_sync::run::sync::read_delta(
        cfg,
        &layout,
        &scan.extractions[0],
        date!(2025 - 09 - 05),
        current,
        &mut Default::default(),
        &mut step,
    )
    .unwrap();
    assign_logins(&mut tree, current);
    (tree, step)
}

fn assign_logins(tree: &mut MappedTree, current: &EntryMap) {
    let mut taken: HashSet<String> = current
        .values()
        .filter_map(|e| e.first("ENTPersonLogin"))
        .map(str::to_lowercase)
        .collect();
    tree.assign_logins(current, &mut taken);
}

/// The plan of `tree` over `current` (a targeted Delta's over its scope).
fn plan_of(tree: &MappedTree, current: &EntryMap) -> aaf_sync::model::plan::Plan {
    let keep = HashSet::new();
    let (mut plan, _) =
        aaf_sync::diff::plan_within(tree.entries.clone(), current, &keep, tree.scope.as_ref());
    plan.sort();
    plan
}

fn plan_json(tree: &MappedTree, current: &EntryMap) -> (String, String) {
    let plan = plan_of(tree, current);
    let mut absent: Vec<String> = plan.absent.iter().map(|a| a.dn.to_string()).collect();
    absent.sort();
    (
        serde_json::to_string_pretty(&plan.changes).unwrap(),
        absent.join("\n"),
    )
}

#[test]
fn the_delta_of_a_day_over_the_day_before_gives_that_days_complet() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = GenConfig {
        schools: 3,
        pupils_per_school: 60,
        ..Default::default()
    };
    let sum = generate(&gen, &tmp.path().join("c0")).unwrap();
    let d1 = generate(
        &GenConfig {
            delta: true,
            days: 1,
            date: "20250905".into(),
            ..gen.clone()
        },
        &tmp.path().join("d1"),
    )
    .unwrap();
    generate(
        &GenConfig {
            days: 1,
            date: "20250905".into(),
            ..gen.clone()
        },
        &tmp.path().join("c1"),
    )
    .unwrap();
    // a real day: arrivals, departures and changes in every category of people
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
        assert!(
            d1.changes.get(what).is_some_and(|n| *n > 0),
            "{what}: {:?}",
            d1.changes
        );
    }
    // the Delta planned over the whole tree, and over what it can change
    for targeted in [false, true] {
        let mut cfg = config(&sum.uai_inside, BTreeSet::new());
        cfg.targeted_delta = targeted;
        delta_gives_the_complet(&cfg, tmp.path(), &d1, targeted);
    }
}

fn delta_gives_the_complet(
    cfg: &Config,
    tmp: &Path,
    d1: &aaf_sync::generator::GenSummary,
    targeted: bool,
) {
    let current = as_directory(&complet(cfg, &tmp.join("c0")));
    let (delta, step) = delta_over(cfg, &tmp.join("d1"), &current);
    assert_eq!(delta.scope.is_some(), targeted);
    assert!(
        step.rejected_records.is_empty(),
        "{:?}",
        step.rejected_records
    );
    let mut next = complet_on(cfg, &tmp.join("c1"), date!(2025 - 09 - 05));
    for d in &mut next.entries {
        d.entry.remove("ENTPersonLogin");
    }
    assign_logins(&mut next, &current);
    let (by_delta, absent_delta) = plan_json(&delta, &current);
    let (by_complet, absent_complet) = plan_json(&next, &current);
    assert!(
        by_delta == by_complet,
        "the plans differ:\n{by_delta}\n---\n{by_complet}"
    );
    assert_eq!(absent_delta, absent_complet);
    // the plan carries each kind of change, and only as many as the Delta named
    let plan = plan_of(&delta, &current);
    let count = |k: EntryKind, add: bool| {
        plan.changes
            .iter()
            .filter(|p| {
                p.kind == k && matches!(p.change, aaf_sync::model::plan::Change::Add { .. }) == add
            })
            .count()
    };
    assert_eq!(count(EntryKind::Pupil, true), d1.changes["Eleve add"]);
    assert_eq!(
        count(EntryKind::Parent, true),
        d1.changes["PersRelEleve add"]
    );
    assert_eq!(count(EntryKind::Staff, true), d1.changes["PersEducNat add"]);
    let absent = |k: EntryKind| plan.absent.iter().filter(|a| a.kind == k).count();
    assert_eq!(absent(EntryKind::Pupil), d1.changes["Eleve delete"]);
    assert_eq!(absent(EntryKind::Staff), d1.changes["PersEducNat delete"]);
    assert!(count(EntryKind::Pupil, false) > 0 && count(EntryKind::Classe, false) > 0);
    assert!(count(EntryKind::Pupil, false) <= d1.changes["Eleve modify"]);
}
