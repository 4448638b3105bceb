//! Unit tests of the diff: attribute by attribute, and a plan's order.

use super::entry::diff_full;
use super::*;
use crate::model::test_entry as entry;
use crate::model::Dn;

#[test]
fn a_value_naming_the_entry_is_never_removed_and_other_sources_jointures_stay() {
    // an adopted school named by its SIREN, which the extraction lacks
    let cur = entry(
        "ENTStructureSIREN=1929,ou=structures,dc=x",
        &[
            ("ENTStructureSIREN", &["1929"]),
            ("ENTStructureJointure", &["S$100"]),
            ("ENTStructureNomCourant", &["OLD"]),
        ],
    );
    let want = entry(
        "ENTStructureSIREN=1929,ou=structures,dc=x",
        &[
            ("ENTStructureJointure", &["S$100"]),
            ("ENTStructureNomCourant", &["NEW"]),
        ],
    );
    let got = serde_json::to_string(&diff_entry(EntryKind::Structure, &want, &cur)).unwrap();
    assert_eq!(
        got,
        r#"[{"op":"replace","attr":"ENTStructureNomCourant","values":["NEW"]}]"#
    );
    // a person carrying a jointure of another source besides ours
    let cur = entry(
        "uid=F17,ou=people,dc=x",
        &[("ENTPersonJointure", &["S$1", "ENT$F17"]), ("sn", &["A"])],
    );
    let want = entry(
        "uid=F17,ou=people,dc=x",
        &[("ENTPersonJointure", &["S$1"]), ("sn", &["A"])],
    );
    assert!(diff_entry(EntryKind::Pupil, &want, &cur).is_empty());
}

#[test]
fn table() {
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a [&'a str])],
        &'a [(&'a str, &'a [&'a str])],
        &'a str,
    );
    let cases: &[Case] = &[
        ("equal", &[("sn", &["A"])], &[("sn", &["A"])], "[]"),
        (
            "foreign attributes are ignored",
            &[("sn", &["A"])],
            &[
                ("sn", &["A"]),
                ("userPassword", &["x"]),
                ("description", &["y"]),
            ],
            "[]",
        ),
        (
            "single value changes by replace",
            &[("sn", &["B"])],
            &[("sn", &["A"])],
            r#"[{"op":"replace","attr":"sn","values":["B"]}]"#,
        ),
        (
            "emptied attribute is deleted",
            &[("sn", &["A"])],
            &[("sn", &["A"]), ("mail", &["a@b.c"])],
            r#"[{"op":"delete","attr":"mail","values":[]}]"#,
        ),
        (
            "new attribute is added",
            &[("sn", &["A"]), ("mail", &["a@b.c"])],
            &[("sn", &["A"])],
            r#"[{"op":"add","attr":"mail","values":["a@b.c"]}]"#,
        ),
        (
            "multi-valued by value",
            &[("ENTPersonAutresPrenoms", &["a", "c"])],
            &[("ENTPersonAutresPrenoms", &["a", "b"])],
            r#"[{"op":"delete","attr":"ENTPersonAutresPrenoms","values":["b"]},{"op":"add","attr":"ENTPersonAutresPrenoms","values":["c"]}]"#,
        ),
        (
            "case change replaces",
            &[("ENTPersonAutresPrenoms", &["A", "c"])],
            &[("ENTPersonAutresPrenoms", &["a", "c"])],
            r#"[{"op":"replace","attr":"ENTPersonAutresPrenoms","values":["A","c"]}]"#,
        ),
        (
            "DN values compare as DNs",
            &[("ENTPersonStructRattach", &["ou=X-1,ou=structures,dc=x"])],
            &[("ENTPersonStructRattach", &["OU=x-1, ou=Structures,dc=x"])],
            "[]",
        ),
        (
            "login is never changed",
            &[("ENTPersonLogin", &["new"])],
            &[("ENTPersonLogin", &["old"])],
            "[]",
        ),
        (
            "login is added if missing",
            &[("ENTPersonLogin", &["new"])],
            &[],
            r#"[{"op":"add","attr":"ENTPersonLogin","values":["new"]}]"#,
        ),
        (
            "classes only added",
            &[("objectClass", &["ENTPerson"])],
            &[("objectClass", &["ENTPerson", "pwdPolicy"])],
            "[]",
        ),
        (
            "managed aux removed",
            &[("objectClass", &["ENTPerson"])],
            &[("objectClass", &["ENTPerson", "ENTAuxEnseignant"])],
            r#"[{"op":"delete","attr":"objectClass","values":["ENTAuxEnseignant"]}]"#,
        ),
        (
            "values in another order are the same",
            &[("ENTPersonAutresPrenoms", &["a", "b"]), ("sn", &["A"])],
            &[("ENTPersonAutresPrenoms", &["b", "a"]), ("sn", &["A"])],
            "[]",
        ),
        (
            "attribute spelling does not matter",
            &[("sn", &["A"]), ("mail", &["m"])],
            &[("SN", &["A"]), ("Mail", &["m"])],
            "[]",
        ),
        (
            "create-only values differing are no change",
            &[("sn", &["A"]), ("ENTPersonLogin", &["x"])],
            &[("sn", &["A"]), ("ENTPersonLogin", &["y"])],
            "[]",
        ),
        (
            "the same values but one more",
            &[("sn", &["A"]), ("mail", &["m"])],
            &[("sn", &["A"])],
            r#"[{"op":"add","attr":"mail","values":["m"]}]"#,
        ),
    ];
    for (name, d, c, want) in cases {
        let (d, c) = (entry("uid=1", d), entry("uid=1", c));
        let got = diff_entry(EntryKind::Staff, &d, &c);
        assert_eq!(serde_json::to_string(&got).unwrap(), *want, "{name}");
        // the one-pass check never hides a change the full diff sees
        assert_eq!(got, diff_full(EntryKind::Staff, &d, &c), "{name}");
    }
}

#[test]
fn plan_orders_and_lists_absent() {
    let l = crate::mapping::layout::Layout::new("dc=x", "S");
    let d = |kind, dn: &Dn| Desired {
        kind,
        id: "1".into(),
        entry: entry(dn.as_str(), &[("sn", &["A"])]),
    };
    let desired = vec![
        d(EntryKind::Pupil, &l.person_dn("1")),
        d(EntryKind::Structure, &l.structure_dn("9")),
    ];
    let mut current = EntryMap::new();
    let gone_pupil = entry(l.person_dn("2").as_str(), &[("objectClass", &["ENTEleve"])]);
    let gone_class = entry("cn=c,ou=groups,dc=x", &[("objectClass", &["ENTClasse"])]);
    current.insert(gone_pupil);
    current.insert(gone_class);
    let p = plan(&desired, &current);
    let ops: Vec<(u8, &str)> = p
        .changes
        .iter()
        .map(|c| (c.phase, c.change.op_name()))
        .collect();
    assert_eq!(ops, vec![(0, "add"), (1, "add"), (4, "delete")]);
    assert_eq!(p.absent.len(), 1);
    assert_eq!(p.absent[0].kind, EntryKind::Pupil);
}
