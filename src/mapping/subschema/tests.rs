//! Tests of the subschema: definitions parse (aliases, inheritance, bounds)
//! and entries are checked against them.

use super::*;
use crate::model::test_entry;

fn esco_like() -> DirSchema {
    DirSchema::parse(
        [
            "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
            "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber ) )",
            "( 1.1.1.2.1 NAME 'ENTPerson' DESC 'CDC MENESR : x' SUP person STRUCTURAL MUST ( ENTPersonLogin $ ENTPersonJointure ) MAY ( ENTPersonStructRattach ) )",
            "( 1.1.1.2.2 NAME 'ENTEleve' SUP ENTPerson STRUCTURAL MUST ( ENTEleveMajeur ) MAY ( ENTEleveClasses ) X-ORIGIN 'test' )",
        ],
        [
            "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} )",
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s)' SUP name )",
            "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )",
            "( 2.5.4.0 NAME 'objectClass' SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
            "( 1.1.1.1.109 NAME 'ENTPersonLogin' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
            "( 1.1.1.1.111 NAME 'ENTPersonJointure' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
            "( 1.1.1.1.112 NAME 'ENTPersonStructRattach' SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE )",
            "( 1.1.1.1.143 NAME 'ENTEleveMajeur' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1} SINGLE-VALUE )",
            "( 1.1.1.1.135 NAME 'ENTEleveClasses' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
            "( 2.5.4.20 NAME 'telephoneNumber' SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
        ],
    )
}

#[test]
fn definitions_parse_with_aliases_inheritance_and_bounds() {
    let s = esco_like();
    assert_eq!(s.canonical("commonName"), "cn");
    assert_eq!(
        s.attr("cn").unwrap().syntax.as_deref(),
        Some(syntax::DIRECTORY_STRING),
        "inherited from name"
    );
    assert!(s.single_valued("ENTEleveMajeur") && !s.single_valued("cn"));
    let (must, may) = s.allowed(&["ENTEleve"]);
    for m in [
        "sn",
        "cn",
        "enteleveMajeur",
        "entpersonlogin",
        "objectclass",
    ] {
        assert!(must.contains(&m.to_ascii_lowercase()), "{m}");
    }
    assert!(may.contains("enteleveclasses") && may.contains("telephonenumber"));
    assert_eq!(s.class("ENTEleve").unwrap().kind, ClassKind::Structural);
}

#[test]
fn entries_are_checked_for_classes_attributes_musts_values_and_syntaxes() {
    let s = esco_like();
    let e = test_entry(
        "uid=1,dc=x",
        &[
            (
                "objectClass",
                &["top", "person", "ENTPerson", "ENTEleve", "aafSyncState"],
            ),
            ("sn", &["A"]),
            ("cn", &["A"]),
            ("ENTPersonLogin", &["a"]),
            ("ENTPersonJointure", &["S$1"]),
            ("ENTPersonStructRattach", &["ou=a,dc=x", "ou=b,dc=x"]),
            ("ENTEcoleRPI", &["x"]),
            ("telephoneNumber", &["01"]),
        ],
    );
    let p = s.check_entry(&e);
    assert_eq!(
        p,
        vec![
            Problem::UnknownClass("aafSyncState".into()),
            Problem::UnknownAttr("ENTEcoleRPI".into()),
            Problem::MissingMust("ENTEleveMajeur".into()),
            Problem::SingleValued("ENTPersonStructRattach".into()),
        ]
    );
    assert!(!s.fits("ENTPersonStructRattach", "not a dn"));
}
