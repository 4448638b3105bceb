//! The Delta view (no LDAP): the directory's records rebuilt from the
//! entries a Complet produced map back to exactly those entries, so a Delta
//! touches only whom it names; and a generated Delta changes what it says.

mod common;

use aaf_sync::config::Config;
use aaf_sync::generator::{generate, GenConfig};
use aaf_sync::mapping::delta::Overlay;
use aaf_sync::mapping::perimeter::Perimeter;
use aaf_sync::mapping::{layout::Layout, login, EntryKind, MappedTree, Mapper};
use aaf_sync::model::Entry;
use aaf_sync::report::StepReport;
use common::offline_config as config;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use time::macros::date;

fn complet(cfg: &Config, dir: &Path) -> MappedTree {
    let files = aaf_sync::aaf::filename::list_dir(dir).unwrap();
    let scan = aaf_sync::aaf::filename::group_files(files);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let mut step = StepReport::default();
    let mut tree = aaf_sync::sync::read_extraction(
        cfg,
        &layout,
        &scan.extractions[0],
        date!(2025 - 09 - 04),
        &mut Default::default(),
        &mut step,
    )
    .unwrap();
    login::assign(
        tree.entries
            .iter_mut()
            .filter(|d| d.kind.is_person())
            .map(|d| &mut d.entry),
        &HashMap::new(),
        &mut HashSet::new(),
    );
    tree
}

fn as_directory(tree: &MappedTree) -> HashMap<String, Entry> {
    tree.entries
        .iter()
        .map(|d| (d.entry.dn.key(), d.entry.clone()))
        .collect()
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
    let current = as_directory(&tree);
    assert!(tree
        .entries
        .iter()
        .any(|d| d.entry.get("ENTPersonAdresse").is_some()));
    assert!(tree.entries.iter().any(|d| d.kind == EntryKind::Classe));

    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let uai = Perimeter::new(&cfg.perimeter_uai, false);
    let overlay = Overlay::from_directory(&current, &layout, &uai);
    let mut mapper = Mapper::new(
        &layout,
        Perimeter::new(&cfg.perimeter_uai, false),
        &cfg.staff_address_consent,
        date!(2025 - 09 - 05),
    );
    for rec in overlay.into_records() {
        mapper.map(&rec, Path::new("dir")).unwrap();
    }
    let again = mapper.finish();
    let plan = aaf_sync::diff::plan(&again.entries, &current);
    let changes = serde_json::to_string_pretty(&plan.changes).unwrap();
    assert!(plan.changes.is_empty(), "{changes}");
    assert!(plan.absent.is_empty(), "{:?}", plan.absent);
    assert_eq!(again.entries.len(), tree.entries.len());
}

#[test]
fn a_generated_delta_changes_only_whom_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("complet");
    let d = tmp.path().join("delta");
    let gen = GenConfig {
        schools: 2,
        pupils_per_school: 40,
        ..Default::default()
    };
    let sum = generate(&gen, &c).unwrap();
    generate(
        &GenConfig {
            delta: true,
            date: "20250905".into(),
            ..gen
        },
        &d,
    )
    .unwrap();
    let cfg = config(&sum.uai_inside, BTreeSet::new());
    let tree = complet(&cfg, &c);
    let current = as_directory(&tree);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let files = aaf_sync::aaf::filename::list_dir(&d).unwrap();
    let scan = aaf_sync::aaf::filename::group_files(files);
    let mut step = StepReport::default();
    let mut delta = aaf_sync::sync::read_delta(
        &cfg,
        &layout,
        &scan.extractions[0],
        date!(2025 - 09 - 05),
        &current,
        &mut Default::default(),
        &mut step,
    )
    .unwrap();
    assert!(
        step.rejected_records.is_empty(),
        "{:?}",
        step.rejected_records
    );
    let stats = &step.delta.as_ref().unwrap().categories["Eleve"];
    assert!(stats.modify > 0 && stats.delete > 0, "{stats:?}");
    let logins: HashMap<String, String> = current
        .iter()
        .filter_map(|(k, e)| {
            e.first("ENTPersonLogin")
                .map(|l| (k.clone(), l.to_string()))
        })
        .collect();
    let mut taken: HashSet<String> = logins.values().cloned().collect();
    login::assign(
        delta
            .entries
            .iter_mut()
            .filter(|d| d.kind.is_person())
            .map(|d| &mut d.entry),
        &logins,
        &mut taken,
    );
    let plan = aaf_sync::diff::plan(&delta.entries, &current);
    // the deleted pupils are absent (departures), nobody else
    let absent_pupils = plan
        .absent
        .iter()
        .filter(|a| a.kind == EntryKind::Pupil)
        .count() as u64;
    assert_eq!(absent_pupils, stats.delete);
    // each modified pupil: given name (and cn) replaced, other first names cleared
    let person_mods = plan
        .changes
        .iter()
        .filter(|p| p.kind == EntryKind::Pupil)
        .count() as u64;
    assert_eq!(person_mods, stats.modify);
    for p in plan.changes.iter().filter(|p| p.kind == EntryKind::Pupil) {
        let json = serde_json::to_string(&p.change).unwrap();
        assert!(json.contains(r#""attr":"givenName""#), "{json}");
        assert!(!json.contains(r#""attr":"sn""#), "{json}");
    }
}
