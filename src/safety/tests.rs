//! Unit tests of the rails: thresholds, guards, the digest.

use super::*;
use crate::model::plan::Plan;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn counts(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn thresholds_count_and_percent_with_a_floor() {
    let s = Safety::default();
    let base = counts(&[("Eleve", 1000), ("PersRelEleve", 100), ("PersEducNat", 50)]);
    // 40 pupils of 1000 = 4%: fine; 60 = 6%: held
    assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 40)]), false).is_empty());
    let h = thresholds(&s, "x", &base, &counts(&[("Eleve", 60)]), false);
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].category.as_str(), h[0].count, h[0].base),
        ("Eleve", 60, 1000)
    );
    assert!(
        h[0].to_string()
            .contains("60 Eleve would leave out of 1000"),
        "{}",
        h[0]
    );
    // 10 parents of 100 = 10% but not above the floor of 10
    assert!(thresholds(&s, "x", &base, &counts(&[("PersRelEleve", 10)]), false).is_empty());
    assert_eq!(
        thresholds(&s, "x", &base, &counts(&[("PersRelEleve", 11)]), false).len(),
        1
    );
    // the absolute limit, whatever the base
    let big = counts(&[("Eleve", 100_000)]);
    let h = thresholds(&s, "x", &big, &counts(&[("Eleve", 501)]), false);
    assert_eq!(h[0].limit, "500 per run");
    // the school-year Complet allows 25%
    let base = counts(&[("Eleve", 1000)]);
    assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 200)]), true).is_empty());
    assert_eq!(
        thresholds(&s, "x", &base, &counts(&[("Eleve", 260)]), true).len(),
        1
    );
    // and its count limit grows to that share: 510 CM2 leavers of 4200
    let base = counts(&[("Eleve", 4200)]);
    assert!(thresholds(&s, "x", &base, &counts(&[("Eleve", 510)]), true).is_empty());
    assert_eq!(
        thresholds(&s, "x", &base, &counts(&[("Eleve", 510)]), false)[0].limit,
        "500 per run"
    );
    let h = thresholds(&s, "x", &base, &counts(&[("Eleve", 1051)]), true);
    assert_eq!(h[0].limit, "1050 per run");
}

#[test]
fn complet_guards_catch_empty_and_truncated_extractions() {
    let s = Safety::default();
    let base = counts(&[
        ("EtabEducNat", 2),
        ("Eleve", 100),
        ("PersRelEleve", 150),
        ("PersEducNat", 10),
    ]);
    let same = base.clone();
    assert!(complet_guards(&s, "x", &base, &same, &[]).is_empty());
    // no staff at all: an empty file
    let mut d = base.clone();
    d.insert("PersEducNat".into(), 0);
    let h = complet_guards(&s, "x", &base, &d, &[]);
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].rule, h[0].category.as_str()),
        ("empty_category", "PersEducNat")
    );
    // 40 pupils where 100 are: truncated
    let mut d = base.clone();
    d.insert("Eleve".into(), 40);
    let h = complet_guards(&s, "x", &base, &d, &[]);
    assert_eq!(h[0].rule, "smaller_than_directory");
    assert_eq!((h[0].count, h[0].base), (40, 100));
    // a fresh directory: nothing to compare with
    let empty = BTreeMap::new();
    assert!(complet_guards(&s, "x", &empty, &d, &[]).is_empty());
    // a school gone
    let h = complet_guards(&s, "x", &base, &same, &["0920484B".into()]);
    assert_eq!(h[0].rule, "school_vanished");
    assert!(h[0].to_string().contains("0920484B"));
}

#[test]
fn change_guards_watch_renames_modifications_deletions_additions_and_rejects() {
    let s = Safety::default();
    let base = counts(&[
        ("Eleve", 1000),
        ("PersRelEleve", 1500),
        ("PersEducNat", 100),
    ]);
    let quiet = ChangeCounts {
        renames: counts(&[("Eleve", 20)]),
        modified: counts(&[("Eleve", 200)]),
        added: counts(&[("Eleve", 150)]),
        group_deletions: 3,
        group_additions: 5,
        rejected: counts(&[("Eleve", 30)]),
        records: counts(&[("Eleve", 1000)]),
    };
    assert!(change_guards(&s, "x", &base, 60, &quiet, false, false).is_empty());
    let rules = |c: &ChangeCounts, year: bool, first: bool| -> Vec<&'static str> {
        change_guards(&s, "x", &base, 60, c, year, first)
            .into_iter()
            .map(|h| h.rule)
            .collect()
    };
    let loud = ChangeCounts {
        renames: counts(&[("PersRelEleve", 900)]),
        modified: counts(&[("Eleve", 1000)]),
        added: counts(&[("PersEducNat", 60)]),
        group_deletions: 60,
        group_additions: 101,
        rejected: counts(&[("Eleve", 101)]),
        records: counts(&[("Eleve", 1000)]),
    };
    assert_eq!(
        rules(&loud, false, false),
        vec![
            "rejected",
            "modifications",
            "renames",
            "additions",
            "group_deletions",
            "group_additions"
        ]
    );
    // the school-year Complet rebuilds every class: modifications and
    // deletions of classes go through; a first load adds everyone
    assert_eq!(rules(&loud, true, true), vec!["rejected", "renames"]);
    let h = &change_guards(&s, "x", &base, 60, &loud, false, false)[4];
    assert_eq!(
        h.to_string(),
        "x: 60 classes and groups would be deleted out of 60 (limit 20%; the school-year Complet is not limited)"
    );
    let h = &change_guards(&s, "x", &base, 60, &loud, false, false)[5];
    assert_eq!(
        h.to_string(),
        "x: 101 classes and groups would be added to 60 (limit 100 per run; the school-year Complet and a first load are not limited)"
    );
}

#[test]
fn departures_a_complet_cannot_prove_are_held() {
    let unidentified = counts(&[("Eleve", 2)]);
    let unproven = vec!["Eleve".to_string(), "PersRelEleve".to_string()];
    let h = unproven_departures("x", &unidentified, &unproven, &counts(&[("Eleve", 3)]));
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].to_string(),
        "x: 3 Eleve would leave, but 2 record(s) were rejected without a readable id (2 Eleve): this Complet cannot prove they are not among them"
    );
    assert!(unproven_departures(
        "x",
        &unidentified,
        &unproven,
        &counts(&[("PersEducNat", 3)])
    )
    .is_empty());
}

#[test]
fn the_digest_follows_the_changes() {
    use crate::model::plan::{Change, Planned};
    use crate::model::Dn;
    let mut p = Plan::default();
    let a = digest([("x", &p)]);
    assert_eq!(a.len(), 64);
    assert_eq!(a, digest([("x", &p)]));
    assert_ne!(a, digest([("y", &p)]));
    p.changes.push(Planned {
        kind: EntryKind::Pupil,
        phase: 1,
        change: Change::Delete {
            dn: Dn::new("uid=a,dc=x"),
        },
    });
    assert_ne!(a, digest([("x", &p)]));
    // what is left untouched is not part of what is approved
    let b = digest([("x", &p)]);
    p.unchanged = 12;
    assert_eq!(b, digest([("x", &p)]));
    // streamed, it is the hash of the plan's JSON: approvals given
    // before the streaming still name the same plans
    let mut h = Sha256::new();
    h.update(b"x\0");
    h.update(serde_json::to_vec(&p.changes).expect("plain data"));
    h.update([0u8]);
    let whole: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(b, whole);
}

/// What a targeted Delta's counts rely on (`ldap::targeted::Counts`): from
/// the guard floor on, the rails a Delta meets never hold more when the
/// directory holds more, so that a verdict reached on lower bounds is the
/// verdict on the directory's figures. Checked over random settings,
/// changes and pairs of bases.
#[test]
fn the_rails_of_a_delta_hold_no_more_when_the_directory_holds_more() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let rules = |h: &[Hold]| {
        h.iter()
            .map(|h| (h.rule, h.category.clone()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    for _ in 0..20_000 {
        let d = Safety::default();
        let s = Safety {
            percent_floor: rnd(20),
            guard_floor: rnd(40),
            max_modified_percent: rnd(100) as f64 + 0.5,
            max_additions_percent: rnd(100) as f64,
            max_rejected_percent: rnd(30) as f64,
            pupil: Limits {
                max_percent: rnd(50) as f64,
                ..d.pupil
            },
            renames: Limits {
                max_percent: rnd(50) as f64,
                ..d.renames
            },
            group_deletions: Limits {
                max_percent: rnd(50) as f64,
                ..d.group_deletions
            },
            ..d
        };
        let mut c = ChangeCounts::default();
        let mut leaving = BTreeMap::new();
        let (mut low, mut high) = (BTreeMap::new(), BTreeMap::new());
        for k in CATEGORIES {
            let cat = k.as_str().to_string();
            for m in [
                &mut c.renames,
                &mut c.modified,
                &mut c.added,
                &mut c.rejected,
            ] {
                m.insert(cat.clone(), rnd(400));
            }
            c.records.insert(cat.clone(), rnd(5000));
            leaving.insert(cat.clone(), rnd(600));
            let b = s.guard_floor + rnd(4000);
            low.insert(cat.clone(), b);
            high.insert(cat, b + rnd(4000));
        }
        c.group_deletions = rnd(150);
        c.group_additions = rnd(150);
        let (g, more) = (rnd(2000), rnd(2000));
        let year = rnd(4) == 0;
        let first = rnd(4) == 0;
        let judge = |base: &BTreeMap<String, u64>, groups: u64| {
            let mut h = change_guards(&s, "x", base, groups, &c, year, first);
            h.extend(thresholds(&s, "x", base, &leaving, year));
            rules(&h)
        };
        let (at_low, at_high) = (judge(&low, g), judge(&high, g + more));
        assert!(
            at_high.is_subset(&at_low),
            "more entries, more holds: {at_high:?} against {at_low:?} ({s:?}, {c:?})"
        );
    }
}
