//! Tests of the SDET adaptation: derived values (class codes, majority,
//! contract) come from the record, never invented.

use super::*;
use time::macros::date;

#[test]
fn values_are_derived_never_invented() {
    assert_eq!(class_code("ou=s,dc=x$1$1$CPA$CP A"), "ou=s,dc=x$CPA");
    assert_eq!(class_code("ou=s,dc=x$$$$CP A"), "ou=s,dc=x$CP A");
    let today = date!(2026 - 09 - 03);
    assert_eq!(majority(Some("03/09/2008"), today), "O");
    assert_eq!(majority(Some("04/09/2008"), today), "N");
    assert_eq!(majority(Some("01/01/2015"), today), "N");
    assert_eq!(majority(None, today), "N");
    assert_eq!(majority(Some("garbage"), today), "N");
    assert_eq!(contract(Some("ECOLE ELEMENTAIRE PUBLIQUE")), "PU");
    assert_eq!(contract(Some("ECOLE PRIMAIRE PRIVEE")), "PR");
    assert_eq!(contract(None), NEUTRAL);
}

#[test]
fn the_births_of_pupils_come_of_age_between_two_runs_every_way_they_are_written() {
    use time::macros::date;
    let b = births_coming_of_age(date!(2025 - 09 - 04), date!(2026 - 10 - 01));
    for born in [
        "04/09/2007",
        "4/9/2007",
        "01/10/2008",
        "1/10/2008",
        "29/02/2008",
    ] {
        assert!(b.iter().any(|x| x == born), "{born}");
    }
    assert!(!b.iter().any(|x| x == "01/01/2010" || x == "01/08/2007"));
    // 18 years on from 29 February: 28 February
    let leap = births_coming_of_age(date!(2026 - 02 - 28), date!(2026 - 02 - 28));
    assert!(leap.iter().any(|x| x == "28/02/2008"), "{leap:?}");
    // a pupil whose filled value is stale, and one whose is right
    let today = date!(2026 - 10 - 01);
    let pupil = |born: &str, majeur: &str| {
        crate::model::test_entry(
            "uid=p,dc=x",
            &[
                ("objectClass", &["ENTEleve"]),
                ("ENTPersonDateNaissance", &[born]),
                ("ENTEleveMajeur", &[majeur]),
            ],
        )
    };
    assert!(majority_changed(&pupil("01/10/2008", "N"), today));
    assert!(!majority_changed(&pupil("01/10/2008", "O"), today));
    assert!(!majority_changed(&pupil("02/10/2008", "N"), today));
}
