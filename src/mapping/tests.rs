//! Unit tests of the mapping, on hand-written records.

use super::*;
use crate::aaf::reader::RecordAttr;
use crate::schema::{ATTR_FIRST_SEEN, PROFILE_PUPIL, PROFILE_TEACHER};
use std::path::Path;

fn rec(cat: FileCategory, id: &str, attrs: &[(&str, &[&str])]) -> Record {
    Record {
        op: Operation::Add,
        category: cat,
        id: id.into(),
        attrs: attrs
            .iter()
            .map(|(n, v)| RecordAttr {
                name: n.to_string(),
                values: v.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        index: 1,
    }
}

fn tree(records: &[Record], consent: &BTreeSet<String>) -> MappedTree {
    let layout = Layout::new("dc=x", "AC");
    let mut m = Mapper::new(
        &layout,
        Perimeter::new(&["0920001A".into()], false),
        consent,
        time::macros::date!(2025 - 09 - 04),
    );
    for r in records {
        let _ = m.map(r, Path::new("f.xml"));
    }
    m.finish()
}

fn find<'t>(t: &'t MappedTree, dn: &str) -> &'t Entry {
    &t.entries
        .iter()
        .find(|d| d.entry.dn.as_str() == dn)
        .unwrap_or_else(|| {
            panic!(
                "{dn} not in {:?}",
                t.entries
                    .iter()
                    .map(|d| d.entry.dn.as_str())
                    .collect::<Vec<_>>()
            )
        })
        .entry
}

fn sample() -> Vec<Record> {
    use FileCategory::*;
    vec![
        rec(
            EtabEducNat,
            "1",
            &[
                ("ENTStructureJointure", &["1"]),
                ("ENTStructureUAI", &["0920001A"]),
                ("ENTStructureNomCourant", &["ECOLE A"]),
                ("ENTStructureSIREN", &[""]),
                ("ENTStructureTelephone", &["01 02 03 04 05"]),
            ],
        ),
        rec(
            EtabEducNat,
            "2",
            &[
                ("ENTStructureJointure", &["2"]),
                ("ENTStructureUAI", &["0750001Z"]),
            ],
        ),
        rec(
            Eleve,
            "10",
            &[
                ("ENTPersonNom", &["CŒUR"]),
                ("ENTPersonPrenom", &["Zoé"]),
                ("ENTPersonCivilite", &["Mlle"]),
                ("ENTPersonStructRattach", &["1"]),
                ("ENTEleveAutoriteParentale", &["20$10", "21$20"]),
                ("ENTPersonClasses", &["1$x$y$CPA$CP A"]),
                ("ENTPersonGroupes", &["1$x$y$G1$CHORALE"]),
                ("ENTPersonMail", &["pupil@x.fr"]),
                ("ENTEleveNouveau", &["?"]),
            ],
        ),
        rec(
            Eleve,
            "11",
            &[
                ("ENTPersonNom", &["OUT"]),
                ("ENTPersonStructRattach", &["2"]),
                ("ENTEleveAutoriteParentale", &["22$10"]),
            ],
        ),
        rec(
            PersRelEleve,
            "20",
            &[
                ("ENTPersonNom", &["CŒUR"]),
                ("ENTPersonPrenom", &["Anne"]),
                ("ENTPersonCivilite", &["Madame"]),
                ("ENTPersRelEleveEleve", &["10"]),
                ("ENTPersRelEleveTelMobile", &["06 01 02 03 04"]),
                ("ENTPersonMail", &["pas une adresse"]),
            ],
        ),
        rec(
            PersRelEleve,
            "22",
            &[
                ("ENTPersonNom", &["OUT"]),
                ("ENTPersRelEleveEleve", &["11"]),
            ],
        ),
        rec(
            PersEducNat,
            "30",
            &[
                ("ENTPersonNom", &["MAITRE"]),
                ("ENTPersonPrenom", &["Paul"]),
                ("ENTPersonCivilite", &["M."]),
                ("ENTPersonStructRattach", &["1", "2"]),
                (
                    "ENTPersonFonctions",
                    &["1$ENS$ENSEIGNEMENT$-$-", "2$DIR$DIRECTION$-$-"],
                ),
                ("ENTPersonClasses", &["1$x$y$CPA$CP A"]),
                ("ENTPersonAdresse", &["1 RUE PRIVEE"]),
                ("ENTPersRelEleveTelMobile", &["06 00 00 00 00"]),
            ],
        ),
        rec(
            PersEducNat,
            "31",
            &[
                ("ENTPersonNom", &["OUT"]),
                ("ENTPersonStructRattach", &["2"]),
            ],
        ),
    ]
}

#[test]
fn maps_the_four_categories() {
    let t = tree(&sample(), &BTreeSet::new());
    let s = find(&t, "ou=AC-1,ou=structures,dc=x");
    assert_eq!(s.first("ENTStructureJointure"), Some("AC$1"));
    assert_eq!(s.first("telephoneNumber"), Some("01 02 03 04 05"));
    assert!(s.get("ENTStructureSIREN").is_none());

    let p = find(&t, "uid=AC-10,ou=people,dc=x");
    assert!(p.has_value("objectClass", "ENTEleve"));
    assert_eq!(p.first("sn"), Some("CŒUR"));
    assert_eq!(p.first("cn"), Some("Zoé CŒUR"));
    assert_eq!(p.first("ENTPersonJointure"), Some("AC$10"));
    assert_eq!(
        p.first("ENTPersonStructRattach"),
        Some("ou=AC-1,ou=structures,dc=x")
    );
    assert_eq!(p.first("ENTPersonProfils"), Some(PROFILE_PUPIL));
    assert_eq!(
        p.first("ENTPersonClasses"),
        Some("ou=AC-1,ou=structures,dc=x$x$y$CPA$CP A")
    );
    // parent 21 is not in the extraction: no dangling link
    assert_eq!(
        p.get("ENTEleveAutoriteParentale").unwrap(),
        &["uid=AC-20,ou=people,dc=x$10".to_string()]
    );
    assert_eq!(
        p.get("ENTEleveParents").unwrap(),
        &["uid=AC-20,ou=people,dc=x".to_string()]
    );
    assert!(p.get("mail").is_none(), "pupil mail is not authorised");
    assert_eq!(p.first(ATTR_FIRST_SEEN), Some("20250904000000Z"));

    let parent = find(&t, "uid=AC-20,ou=people,dc=x");
    assert!(parent.has_value("objectClass", "ENTAuxPersRelEleve"));
    assert_eq!(parent.first("personalTitle"), Some("Mme"));
    assert_eq!(parent.first("mobile"), Some("06 01 02 03 04"));
    assert!(parent.get("mail").is_none(), "invalid mail dropped");
    assert_eq!(
        parent.get("ENTAuxPersRelEleveEleve").unwrap(),
        &["uid=AC-10,ou=people,dc=x".to_string()]
    );

    let staff = find(&t, "uid=AC-30,ou=people,dc=x");
    assert!(staff.has_value("objectClass", "ENTAuxEnseignant"));
    assert_eq!(
        staff.get("ENTPersonStructRattach").unwrap().len(),
        1,
        "out-of-perimeter school dropped"
    );
    assert_eq!(
        staff.get("ENTPersonProfils").unwrap(),
        &[PROFILE_TEACHER.to_string()]
    );
    assert!(staff.get("mobile").is_none());
    assert!(staff.get("ENTPersonAdresse").is_none());

    let class = find(&t, "cn=AC-1-classe-CPA,ou=groups,dc=x");
    assert_eq!(
        class.get("member").unwrap(),
        &[
            "uid=AC-10,ou=people,dc=x".to_string(),
            "uid=AC-30,ou=people,dc=x".to_string()
        ]
    );
    assert_eq!(class.first("description"), Some("CP A"));
    let group = find(&t, "cn=AC-1-groupe-G1,ou=groups,dc=x");
    assert_eq!(group.get("member").unwrap().len(), 1);

    // out of perimeter: school 2, pupil 11, parent 22, staff 31
    assert_eq!(t.entries.len(), 6);
    for c in ["EtabEducNat", "Eleve", "PersRelEleve", "PersEducNat"] {
        assert_eq!(t.stats.categories[c].out_of_perimeter, 1, "{c}");
    }
    assert_eq!(t.stats.dropped_attributes["ENTEleveNouveau"], 1);
    assert_eq!(t.stats.dropped_attributes["ENTPersonMail"], 1, "pupil mail");
    assert_eq!(
        t.stats.dropped_attributes["ENTPersRelEleveTelMobile"], 1,
        "staff mobile"
    );
    assert_eq!(t.stats.staff_address_withheld, 1);
    assert_eq!(t.stats.invalid_values["ENTPersonMail"], 1);
}

#[test]
fn staff_address_with_consent() {
    let consent = BTreeSet::from(["30".to_string()]);
    let t = tree(&sample(), &consent);
    let staff = find(&t, "uid=AC-30,ou=people,dc=x");
    assert_eq!(staff.first("ENTPersonAdresse"), Some("1 RUE PRIVEE"));
    assert!(staff.get("mobile").is_none());
    assert_eq!(t.stats.staff_address_withheld, 0);
}

#[test]
fn duplicates_and_non_add_are_rejected() {
    let layout = Layout::new("dc=x", "AC");
    let consent = BTreeSet::new();
    let mut m = Mapper::new(
        &layout,
        Perimeter::new(&[], true),
        &consent,
        time::macros::date!(2025 - 01 - 01),
    );
    let s = rec(FileCategory::EtabEducNat, "1", &[]);
    assert_eq!(m.map(&s, Path::new("f")).unwrap(), Mapped::Kept);
    let e = m.map(&s, Path::new("f")).unwrap_err();
    assert!(e.reason.contains("duplicate"), "{e}");
    let mut d = s.clone();
    d.op = Operation::Delete;
    assert!(m.map(&d, Path::new("f")).is_err());
}

#[test]
fn missing_name_falls_back_on_uid() {
    let mut r = sample();
    r[2] = rec(
        FileCategory::Eleve,
        "10",
        &[("ENTPersonStructRattach", &["1"])],
    );
    let t = tree(&r, &BTreeSet::new());
    let p = find(&t, "uid=AC-10,ou=people,dc=x");
    assert_eq!(p.first("sn"), Some("AC-10"));
    assert_eq!(p.first("cn"), Some("AC-10"));
}

#[test]
fn owned_lists_cover_every_mapped_attribute() {
    let t = tree(&sample(), &BTreeSet::from(["30".to_string()]));
    for d in &t.entries {
        for a in d.entry.attrs.values() {
            let name = a.name;
            if ["objectClass", "uid", "ou", "cn"].contains(&name) {
                continue;
            }
            assert!(
                owned(d.kind).contains(&name),
                "{name} not owned by {:?}",
                d.kind
            );
        }
    }
}
