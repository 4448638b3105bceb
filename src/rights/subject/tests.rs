//! Tests of the subject rights: the export document, the DN filter that
//! finds a person where they are or were, the erasure plan.

use super::find::dn_filter;
use super::*;
use crate::mapping::layout::Layout;
use crate::model::{test_entry as entry, Entry};
use crate::rights::erasure::{self, Erasure};

const P: &str = "uid=AC-1,ou=people,dc=x";
const PARENT: &str = "uid=AC-2,ou=people,dc=x";
const S: &str = "ENTStructureJointure=AC$9,ou=structures,dc=x";
const C: &str = "cn=AC-9-classe-CM1,ou=groups,dc=x";

fn fixture() -> (Entry, Vec<Entry>) {
    let pupil = entry(
        P,
        &[
            ("objectClass", &["ENTPerson", "ENTEleve", "aafSyncState"]),
            ("sn", &["Durand"]),
            ("userPassword", &["{SSHA}x"]),
            ("ENTPersonJointure", &["AC$1"]),
            ("ENTPersonStructRattach", &[S]),
            ("ENTEleveParents", &[PARENT]),
            ("ENTEleveAutoriteParentale", &[&format!("{PARENT}$1")]),
            ("aafSyncSource", &["AC"]),
            ("aafSyncFirstSeen", &["20250904000000Z"]),
            ("entPreference", &["dark"]),
        ],
    );
    let related = vec![
        entry(
            PARENT,
            &[
                ("objectClass", &["ENTPerson", "ENTAuxPersRelEleve"]),
                ("ENTPersonJointure", &["AC$2"]),
                ("ENTAuxPersRelEleveEleve", &[P]),
            ],
        ),
        entry(
            S,
            &[
                ("objectClass", &["ENTStructure"]),
                ("ENTStructureUAI", &["0920001A"]),
            ],
        ),
        entry(
            C,
            &[
                ("objectClass", &["groupOfNames", "ENTClasse"]),
                ("member", &[P]),
                ("aafSyncCode", &["CM1"]),
                ("aafSyncStructure", &[S]),
            ],
        ),
    ];
    (pupil, related)
}

#[test]
fn the_export_holds_the_entry_its_links_and_its_state() {
    let (pupil, related) = fixture();
    let x = export_document(&pupil, &related, "AC", "t".into());
    assert_eq!(x.person.category, "Eleve");
    assert_eq!(x.attributes["sn"], ["Durand"]);
    assert!(!x.attributes.contains_key("userPassword"));
    assert_eq!(x.withheld, ["userPassword"]);
    assert!(x.attributes_other.contains(&"entPreference".to_string()));
    assert!(x.attributes_from_aaf.contains(&"sn".to_string()));
    assert_eq!(x.sync_state.first_seen.as_deref(), Some("2025-09-04"));
    assert_eq!(x.structures.len(), 1);
    assert_eq!(x.structures[0].uai.as_deref(), Some("0920001A"));
    assert_eq!(x.classes[0].code.as_deref(), Some("CM1"));
    assert_eq!(
        x.linked_parents,
        [Ref {
            dn: PARENT.into(),
            jointure: Some("AC$2".into())
        }]
    );
    assert!(x.linked_pupils.is_empty());
}

#[test]
fn a_dn_finds_the_entry_where_it_is_or_where_it_was() {
    let layout = Layout::new("dc=x", "AC");
    let f = dn_filter(&layout, P);
    assert!(f.contains("(entryDN=uid=AC-1,ou=people,dc=x)"), "{f}");
    assert!(f.contains("(aafSyncHome=uid=AC-1,ou=people,dc=x)"), "{f}");
    assert!(f.contains("(entryDN=uid=AC-1,ou=departed,dc=x)"), "{f}");
    assert!(
        f.starts_with("(&(objectClass=aafSyncState)(aafSyncSource=AC)"),
        "{f}"
    );
    // a DN elsewhere: no departed candidate; filter values escaped
    let f = dn_filter(&layout, "uid=a*b,ou=eleves,ou=people,dc=x");
    assert!(!f.contains("ou=departed"), "{f}");
    assert!(f.contains("uid=a\\2ab"), "{f}");
}

#[test]
fn erasing_removes_every_reference_then_the_entry() {
    let (pupil, mut related) = fixture();
    let layout = Layout::new("dc=x", "AC");
    let e = Erasure {
        hash: erasure::id_hash("AC", "1"),
        date: "2026-11-24".into(),
        reason: "r".into(),
    };
    // the parent refers to the pupil; the pupil's own links go with it
    related.push(pupil.clone());
    let plan = erase_plan(&layout, &pupil, &related, None, &e);
    let ops: Vec<(String, &str)> = plan
        .changes
        .iter()
        .map(|p| (p.change.dn().to_string(), p.change.op_name()))
        .collect();
    assert_eq!(
        ops,
        [
            ("cn=aaf-sync-erasures-AC,dc=x".to_string(), "add"),
            (C.to_string(), "delete"),
            (PARENT.to_string(), "modify"),
            (P.to_string(), "delete"),
        ]
    );
}
