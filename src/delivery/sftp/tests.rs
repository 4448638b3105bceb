//! Tests of the SFTP fetch helpers that need no server.

use super::*;

#[test]
fn globs() {
    assert!(glob("*", "a.xml"));
    assert!(glob(
        "ENT*_Complet_*.xml",
        "ENT1D_Complet_20250904_Eleve_0000.xml"
    ));
    assert!(!glob("*.zip", "a.xml"));
    assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
}
