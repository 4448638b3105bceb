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
