//! Tests of the apply: links to failed adds left out, and taken back.

use super::*;
use crate::model::test_entry;
use crate::schema::EntryKind;

fn planned(kind: EntryKind, phase: u8, change: Change) -> Planned {
    Planned {
        kind,
        phase,
        change,
    }
}

#[test]
fn later_operations_lose_their_links_to_a_failed_add() {
    let failed = HashSet::from([dn_key("uid=S-1,ou=people,dc=x")]);
    // slapd's spelling, or the sync's: the same entry
    let class = test_entry(
        "cn=c,ou=groups,dc=x",
        &[(
            "member",
            &["UID=S-1, ou=people,dc=x", "uid=S-2,ou=people,dc=x"],
        )],
    );
    let (kept, n) = without_links_to(
        &planned(EntryKind::Classe, 3, Change::Add { entry: class }),
        &failed,
    );
    assert_eq!(n, 1);
    let Some(Planned {
        change: Change::Add { entry },
        ..
    }) = kept
    else {
        panic!()
    };
    assert_eq!(
        entry.get("member").unwrap().to_vec(),
        vec!["uid=S-2,ou=people,dc=x"]
    );
    // a class left with no member is not sent at all
    let lonely = test_entry(
        "cn=d,ou=groups,dc=x",
        &[("member", &["uid=S-1,ou=people,dc=x"])],
    );
    let (kept, _) = without_links_to(
        &planned(EntryKind::Classe, 3, Change::Add { entry: lonely }),
        &failed,
    );
    assert!(kept.is_none());
    // a modify: adds lose the value, a replace is never emptied
    let m = planned(
        EntryKind::Parent,
        2,
        Change::Modify {
            dn: Dn::new("uid=S-9,ou=people,dc=x"),
            changes: vec![
                AttrChange::Add {
                    attr: "ENTAuxPersRelEleveEleve".into(),
                    values: vec!["uid=S-1,ou=people,dc=x".into()],
                },
                AttrChange::Replace {
                    attr: "sn".into(),
                    values: vec!["X".into()],
                },
            ],
        },
    );
    let (kept, n) = without_links_to(&m, &failed);
    assert_eq!(n, 1);
    let Some(Planned {
        change: Change::Modify { changes, .. },
        ..
    }) = kept
    else {
        panic!()
    };
    assert_eq!(changes.len(), 1);
}

#[test]
fn links_written_beside_a_failed_add_are_taken_back() {
    let failed = HashSet::from([dn_key("uid=S-1,ou=people,dc=x")]);
    let pupil = test_entry(
        "uid=S-2,ou=people,dc=x",
        &[
            ("ENTEleveParents", &["uid=S-1,ou=people,dc=x"]),
            ("ENTEleveAutoriteParentale", &["uid=S-1,ou=people,dc=x$10"]),
            ("sn", &["X"]),
        ],
    );
    let r = repair(
        &planned(EntryKind::Pupil, 1, Change::Add { entry: pupil }),
        &failed,
    )
    .expect("a repair");
    let Change::Modify { dn, changes } = r.change else {
        panic!()
    };
    assert_eq!(dn.as_str(), "uid=S-2,ou=people,dc=x");
    assert_eq!(changes.len(), 2);
    assert!(changes
        .iter()
        .all(|c| matches!(c, AttrChange::Delete { values, .. } if values.len() == 1)));
}
