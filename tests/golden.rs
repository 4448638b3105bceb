//! Golden test: a small extraction (tests/data/golden/extraction) through the
//! pure stages (read, map, logins, diff against an empty directory) gives
//! exactly tests/data/golden/plan.json. `AAF_SYNC_BLESS=1` rewrites it after
//! an intended change; review the diff.

mod common;

use aaf_sync::mapping::layout::Layout;
use aaf_sync::ops::report::StepReport;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

#[test]
fn plan_matches_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let cfg = common::offline_config(&["0920100J".into()], BTreeSet::new());
    let files = aaf_sync::aaf::filename::list_dir(&root.join("extraction")).unwrap();
    let scan = aaf_sync::aaf::filename::group_files(files);
    assert_eq!(scan.extractions.len(), 1);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let mut report = StepReport::default();
    let mut tree = aaf_sync::run::sync::read_extraction(
        &cfg,
        &layout,
        &scan.extractions[0],
        time::macros::date!(2025 - 09 - 04),
        &mut Default::default(),
        &mut report,
    )
    .unwrap();
    tree.assign_logins(&aaf_sync::model::EntryMap::new(), &mut HashSet::new());
    let plan = aaf_sync::diff::plan(&tree.entries, &aaf_sync::model::EntryMap::new());
    let got = serde_json::to_string_pretty(&plan).unwrap() + "\n";
    common::check_golden(&root.join("plan.json"), &got, "golden");
    // and the LDIF rendering of it stays loadable text
    assert_eq!(
        aaf_sync::ldap::ldif::render(&plan)
            .matches("changetype: add")
            .count(),
        plan.changes.len()
    );
}
