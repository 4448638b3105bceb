//! Table-driven tests of the retention rules and decisions, the clock as input.

use super::*;
use crate::model::plan::Absent;
use crate::model::plan::Change;
use crate::model::Dn;
use crate::schema::{ATTR_DEADLINE, ATTR_DEPARTURE, ATTR_DISABLED};
use time::macros::date;
use time::Duration;

#[test]
fn deadlines() {
    let family = Rules::default().pupil;
    let staff = Rules::default().staff;
    let no_year_end = Rule {
        grace_days: 90,
        end_of_year: false,
        disable: true,
    };
    let cases = [
        (
            "20 December: 31 December",
            family,
            date!(2026 - 12 - 20),
            date!(2026 - 12 - 31),
        ),
        (
            "2 January: +90 days",
            family,
            date!(2026 - 01 - 02),
            date!(2026 - 04 - 02),
        ),
        (
            "30 June: +90 days",
            family,
            date!(2026 - 06 - 30),
            date!(2026 - 09 - 28),
        ),
        (
            "2 October: 31 December",
            family,
            date!(2026 - 10 - 02),
            date!(2026 - 12 - 31),
        ),
        (
            "3 October: 31 December",
            family,
            date!(2026 - 10 - 03),
            date!(2026 - 12 - 31),
        ),
        (
            "leap year",
            family,
            date!(2028 - 01 - 02),
            date!(2028 - 04 - 01),
        ),
        (
            "31 December: same day",
            family,
            date!(2026 - 12 - 31),
            date!(2026 - 12 - 31),
        ),
        (
            "staff: departure day",
            staff,
            date!(2026 - 03 - 10),
            date!(2026 - 03 - 10),
        ),
        (
            "no year end",
            no_year_end,
            date!(2026 - 12 - 20),
            date!(2027 - 03 - 20),
        ),
    ];
    for (name, rule, departure, want) in cases {
        assert_eq!(rule.deadline(departure), want, "{name}");
    }
}

#[test]
fn school_years() {
    let r = Rules::default();
    assert_eq!(r.school_year(date!(2026 - 08 - 31)), 2025);
    assert_eq!(r.school_year(date!(2026 - 09 - 01)), 2026);
    assert_eq!(r.school_year(date!(2027 - 01 - 15)), 2026);
}

fn layout() -> Layout {
    Layout::new("dc=x", "S")
}

fn person(kind: EntryKind, id: &str, extra: &[(&str, &str)]) -> Entry {
    let l = layout();
    let mut e = Entry::new(l.person_dn(id));
    let class = match kind {
        EntryKind::Pupil => "ENTEleve",
        EntryKind::Parent => "ENTAuxPersRelEleve",
        _ => "ENTPerson",
    };
    e.add("objectClass", ["ENTPerson", class, "aafSyncState"]);
    e.set("ENTPersonJointure", l.jointure(id));
    for (a, v) in extra {
        e.add(a, [*v]);
    }
    e
}

fn structure(sid: &str, extra: &[(&str, &str)]) -> Entry {
    let l = layout();
    let mut e = Entry::new(l.structure_dn(sid));
    e.add("objectClass", ["ENTStructure", "aafSyncState"]);
    e.set("ENTStructureJointure", l.jointure(sid));
    for (a, v) in extra {
        e.add(a, [*v]);
    }
    e
}

/// Runs the decisions with every given entry absent from the desired tree.
fn decide(
    entries: Vec<Entry>,
    remaining: &[Entry],
    now: Date,
    extraction: Option<Date>,
) -> (Plan, Lifecycle) {
    let rules = Rules::default();
    let l = layout();
    let ctx = Context {
        rules: &rules,
        layout: &l,
        now,
        extraction_date: extraction,
        previous_date: extraction.map(|d| d - Duration::days(1)),
        new_school_year: false,
        whole_tree: true,
    };
    let mut plan = Plan::default();
    let mut current = crate::model::EntryMap::new();
    for e in entries {
        plan.absent.push(Absent {
            kind: EntryKind::of(&e).unwrap(),
            dn: e.dn.clone(),
        });
        current.insert(e);
    }
    let lc = apply(&ctx, &mut plan, &current, remaining.iter(), &[]);
    (plan, lc)
}

fn ops(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|p| format!("{} {}", p.change.op_name(), p.change.dn()))
        .collect()
}

fn ids(m: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    m.iter()
        .flat_map(|(c, v)| v.iter().map(move |i| format!("{c}:{i}")))
        .collect()
}

#[test]
fn departures_by_category() {
    let d = date!(2026 - 06 - 30);
    let pupil = person(EntryKind::Pupil, "1", &[]);
    let staff = person(EntryKind::Staff, "2", &[]);
    let parent = person(
        EntryKind::Parent,
        "3",
        &[("ENTAuxPersRelEleveEleve", "uid=S-1,ou=people,dc=x")],
    );
    let (plan, lc) = decide(vec![pupil, staff, parent], &[], d, Some(d));
    assert_eq!(
        ids(&lc.departed),
        ["Eleve:1", "PersEducNat:2", "PersRelEleve:3"]
    );
    assert_eq!(ids(&lc.disabled), ["Eleve:1", "PersRelEleve:3"]);
    assert_eq!(ids(&lc.deleted), ["PersEducNat:2"]);
    assert_eq!(
        ops(&plan),
        [
            "modify uid=S-1,ou=people,dc=x",
            "modify uid=S-3,ou=people,dc=x",
            // out of the people branch, once disabled
            "move uid=S-1,ou=people,dc=x",
            "move uid=S-3,ou=people,dc=x",
            // then the parent's link follows the pupil there
            "modify uid=S-3,ou=departed,dc=x",
            "delete uid=S-2,ou=people,dc=x"
        ]
    );
    let Change::Move { to, .. } = &plan.changes[2].change else {
        panic!()
    };
    assert_eq!(to.as_str(), "uid=S-1,ou=departed,dc=x");
    assert_eq!(
        serde_json::to_string(&plan.changes[4].change).unwrap(),
        r#"{"change":"modify","dn":"uid=S-3,ou=departed,dc=x","changes":[{"op":"delete","attr":"ENTAuxPersRelEleveEleve","values":["uid=S-1,ou=people,dc=x"]},{"op":"add","attr":"ENTAuxPersRelEleveEleve","values":["uid=S-1,ou=departed,dc=x"]}]}"#
    );
    let Change::Modify { changes, .. } = &plan.changes[0].change else {
        panic!()
    };
    let json = serde_json::to_string(changes).unwrap();
    assert!(
        json.contains(
            r#"{"op":"replace","attr":"aafSyncDepartureDate","values":["20260630000000Z"]}"#
        ),
        "{json}"
    );
    assert!(json.contains(r#""values":["20260928000000Z"]"#), "{json}");
    assert!(
        json.contains(r#""values":["20260629000000Z"]"#),
        "last seen: {json}"
    );
    assert!(json.contains(r#"{"op":"stash-password"}"#), "{json}");
}

#[test]
fn parent_takes_the_deadline_of_their_last_pupil() {
    // the pupil left in June (deadline 28 September); the parent's last
    // link goes in August: same deadline as the pupil
    let pupil = person(
        EntryKind::Pupil,
        "1",
        &[
            (ATTR_DEPARTURE, "20260630000000Z"),
            (ATTR_DEADLINE, "20260928000000Z"),
        ],
    );
    let parent = person(
        EntryKind::Parent,
        "3",
        &[("ENTAuxPersRelEleveEleve", "uid=S-1,ou=people,dc=x")],
    );
    let d = date!(2026 - 08 - 20);
    let (plan, lc) = decide(vec![pupil, parent], &[], d, Some(d));
    assert_eq!(ids(&lc.departed), ["PersRelEleve:3"]);
    let json = serde_json::to_string(&plan).unwrap();
    assert!(
        json.contains(r#""attr":"aafSyncDeadline","values":["20260928000000Z"]"#),
        "{json}"
    );
}

#[test]
fn deadlines_are_applied_on_or_after_the_date() {
    let departed = |id| {
        person(
            EntryKind::Pupil,
            id,
            &[
                (ATTR_DEPARTURE, "20260630000000Z"),
                (ATTR_DEADLINE, "20260928000000Z"),
                (ATTR_DISABLED, "TRUE"),
            ],
        )
    };
    let cases = [
        (date!(2026 - 09 - 27), 0, 1),
        (date!(2026 - 09 - 28), 1, 0),
        (date!(2027 - 01 - 01), 1, 0),
    ];
    for (now, deleted, pending) in cases {
        // a retention-only pass (no extraction): no new departure
        let (plan, lc) = decide(vec![departed("1")], &[], now, None);
        assert_eq!(Lifecycle::count(&lc.deleted), deleted, "{now}");
        assert_eq!(
            lc.pending.get("Eleve").copied().unwrap_or(0),
            pending,
            "{now}"
        );
        // one departed before the departed branch existed is moved there
        assert_eq!(plan.changes.len(), 1, "{now}");
        let op = if deleted == 1 { "delete" } else { "move" };
        assert_eq!(plan.changes[0].change.op_name(), op, "{now}");
        assert!(lc.departed.is_empty());
    }
    // a later absence does not move the departure
    let (plan, lc) = decide(
        vec![departed("1")],
        &[],
        date!(2026 - 07 - 10),
        Some(date!(2026 - 07 - 09)),
    );
    assert_eq!(ops(&plan), ["move uid=S-1,ou=people,dc=x"]);
    assert!(lc.departed.is_empty());
}

#[test]
fn active_people_do_not_depart_in_a_retention_pass() {
    let (plan, lc) = decide(
        vec![person(EntryKind::Pupil, "1", &[])],
        &[],
        date!(2026 - 07 - 01),
        None,
    );
    assert!(plan.changes.is_empty() && lc.departed.is_empty());
}

#[test]
fn structures_go_when_nothing_refers_to_them() {
    let l = layout();
    let d = date!(2026 - 07 - 01);
    let sdn = l.structure_dn("9").to_string();
    // a departed pupil still attached to it keeps it
    let pupil = person(
        EntryKind::Pupil,
        "1",
        &[
            (ATTR_DEPARTURE, "20260630000000Z"),
            (ATTR_DEADLINE, "20260928000000Z"),
            ("ENTPersonStructRattach", &sdn),
        ],
    );
    let (plan, lc) = decide(vec![structure("9", &[]), pupil.clone()], &[], d, Some(d));
    assert_eq!(ids(&lc.departed), ["EtabEducNat:9"]);
    assert!(lc.deleted.is_empty());
    assert_eq!(ops(&plan), [format!("modify {sdn}")]);
    // once the pupil is deleted, the structure goes in the same run
    let departed_structure = structure("9", &[(ATTR_DEPARTURE, "20260701000000Z")]);
    let (plan, lc) = decide(
        vec![departed_structure, pupil],
        &[],
        date!(2026 - 09 - 28),
        None,
    );
    assert_eq!(ids(&lc.deleted), ["Eleve:1", "EtabEducNat:9"]);
    assert_eq!(
        ops(&plan),
        [
            "delete uid=S-1,ou=people,dc=x".to_string(),
            format!("delete {sdn}")
        ]
    );
    // an active entry referring to it keeps it too (composite value)
    let teacher = person(
        EntryKind::Staff,
        "5",
        &[("ENTPersonFonctions", &format!("{sdn}$ENS$-$-$-"))],
    );
    let (_, lc) = decide(vec![structure("9", &[])], &[teacher], d, Some(d));
    assert!(lc.deleted.is_empty());
}

#[test]
fn restores_put_the_password_back() {
    let rules = Rules::default();
    let l = layout();
    let ctx = Context {
        rules: &rules,
        layout: &l,
        now: date!(2026 - 09 - 01),
        extraction_date: Some(date!(2026 - 09 - 01)),
        previous_date: None,
        new_school_year: false,
        whole_tree: true,
    };
    let cur = person(
        EntryKind::Pupil,
        "1",
        &[
            (ATTR_DEPARTURE, "20260630000000Z"),
            (ATTR_DEADLINE, "20260928000000Z"),
            (ATTR_DISABLED, "TRUE"),
        ],
    );
    let want = person(EntryKind::Pupil, "1", &[]);
    let mut current = crate::model::EntryMap::new();
    current.insert(cur);
    let mut plan = crate::diff::plan(
        &[crate::mapping::Desired {
            kind: EntryKind::Pupil,
            id: "1".into(),
            entry: want.clone(),
        }],
        &current,
    );
    let lc = apply(&ctx, &mut plan, &current, [&want].into_iter(), &[]);
    assert_eq!(ids(&lc.restored), ["Eleve:1"]);
    let json = serde_json::to_string(&plan.changes).unwrap();
    for attr in [ATTR_DEPARTURE, ATTR_DEADLINE, ATTR_DISABLED] {
        assert!(
            json.contains(&format!(r#"{{"op":"delete","attr":"{attr}","values":[]}}"#)),
            "{json}"
        );
    }
    assert!(json.contains(r#"{"op":"restore-password"}"#), "{json}");
}

#[test]
fn new_school_year_clears_departed_class_lists() {
    let rules = Rules::default();
    let l = layout();
    let ctx = Context {
        rules: &rules,
        layout: &l,
        now: date!(2026 - 09 - 03),
        extraction_date: Some(date!(2026 - 09 - 03)),
        previous_date: None,
        new_school_year: true,
        whole_tree: true,
    };
    let cur = person(
        EntryKind::Pupil,
        "1",
        &[
            (ATTR_DEPARTURE, "20260630000000Z"),
            (ATTR_DEADLINE, "20260928000000Z"),
            ("ENTPersonClasses", "ou=S-9,ou=structures,dc=x$$$CM1$CM1"),
        ],
    );
    let mut current = crate::model::EntryMap::new();
    current.insert(cur.clone());
    let mut plan = Plan {
        absent: vec![Absent {
            kind: EntryKind::Pupil,
            dn: cur.dn.clone(),
        }],
        ..Default::default()
    };
    apply(&ctx, &mut plan, &current, std::iter::empty(), &[]);
    assert_eq!(
        serde_json::to_string(&plan.changes[0].change).unwrap(),
        r#"{"change":"modify","dn":"uid=S-1,ou=people,dc=x","changes":[{"op":"delete","attr":"ENTPersonClasses","values":[]}]}"#
    );
}

/// A run killed between moves and link rewrites leaves departed people
/// naming each other by a DN that was right at some point: the people
/// branch DN of someone already moved, or the departed DN of someone not
/// moved yet. The next plan resolves both to where the person ends up, and
/// drops a link to someone deleted; a kept-as-is entry (rejected record)
/// gets its links rewritten too, nothing else.
#[test]
fn links_follow_people_whatever_dn_names_them() {
    let d = date!(2026 - 06 - 30);
    let l = layout();
    let departed = [
        (ATTR_DEPARTURE, "20260601000000Z"),
        (ATTR_DEADLINE, "20260928000000Z"),
        (ATTR_DISABLED, "TRUE"),
    ];
    // pupil 1 already moved; its link names parent 3 by the departed DN
    // parent 3 was not moved to yet
    let mut p1 = person(
        EntryKind::Pupil,
        "1",
        &[
            ("ENTEleveParents", "uid=S-3,ou=departed,dc=x"),
            ("ENTEleveParents", "uid=S-4,ou=people,dc=x"),
        ],
    );
    p1.dn = Dn::new("uid=S-1,ou=departed,dc=x");
    for (a, v) in departed {
        p1.set(a, v);
    }
    // parent 3 disabled but not moved; names pupil 1 by the old DN
    let mut p3 = person(
        EntryKind::Parent,
        "3",
        &[("ENTAuxPersRelEleveEleve", "uid=S-1,ou=people,dc=x")],
    );
    for (a, v) in departed {
        p3.set(a, v);
    }
    // parent 4: departed long ago, deleted now
    let mut p4 = person(EntryKind::Parent, "4", &[]);
    p4.dn = Dn::new("uid=S-4,ou=departed,dc=x");
    p4.set(ATTR_DEPARTURE, "20250601000000Z");
    p4.set(ATTR_DEADLINE, "20250901000000Z");
    // pupil 5, kept as it is, names pupil 1's old DN in a foreign way
    let p5 = person(
        EntryKind::Pupil,
        "5",
        &[("ENTEleveParents", "uid=S-3,ou=people,dc=x")],
    );
    let rules = Rules::default();
    let ctx = Context {
        rules: &rules,
        layout: &l,
        now: d,
        extraction_date: Some(d),
        previous_date: None,
        new_school_year: false,
        whole_tree: true,
    };
    let mut plan = Plan::default();
    let mut current = crate::model::EntryMap::new();
    for e in [&p1, &p3, &p4] {
        plan.absent.push(Absent {
            kind: EntryKind::of(e).unwrap(),
            dn: e.dn.clone(),
        });
    }
    for e in [&p1, &p3, &p4, &p5] {
        current.insert(e.clone());
    }
    apply(&ctx, &mut plan, &current, [&p5].into_iter(), &[&p5]);
    let json: Vec<String> = plan
        .changes
        .iter()
        .filter(|p| p.phase == crate::model::plan::PHASE_RELINK)
        .map(|p| serde_json::to_string(&p.change).unwrap())
        .collect();
    assert_eq!(
        json,
        [
            r#"{"change":"modify","dn":"uid=S-1,ou=departed,dc=x","changes":[{"op":"delete","attr":"ENTEleveParents","values":["uid=S-4,ou=people,dc=x"]}]}"#,
            r#"{"change":"modify","dn":"uid=S-3,ou=departed,dc=x","changes":[{"op":"delete","attr":"ENTAuxPersRelEleveEleve","values":["uid=S-1,ou=people,dc=x"]},{"op":"add","attr":"ENTAuxPersRelEleveEleve","values":["uid=S-1,ou=departed,dc=x"]}]}"#,
            r#"{"change":"modify","dn":"uid=S-5,ou=people,dc=x","changes":[{"op":"delete","attr":"ENTEleveParents","values":["uid=S-3,ou=people,dc=x"]},{"op":"add","attr":"ENTEleveParents","values":["uid=S-3,ou=departed,dc=x"]}]}"#,
        ]
    );
    assert!(ops(&plan).contains(&"move uid=S-3,ou=people,dc=x".to_string()));
    assert!(ops(&plan).contains(&"delete uid=S-4,ou=departed,dc=x".to_string()));
}
