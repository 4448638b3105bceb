//! Unit tests of the model: DN keys, value keys, escaping, entries.

use std::borrow::Cow;

use super::*;

#[test]
fn dn_keys_ignore_case_and_blanks() {
    assert_eq!(dn_key("UID=A-1, ou=People,dc=X"), "uid=a-1,ou=people,dc=x");
    assert_eq!(dn_key("cn=a\\,B,dc=x"), "cn=a\\,b,dc=x");
}

#[test]
fn dn_keys_are_one_per_dn_however_it_is_spelt() {
    // what the sync builds, and what slapd returns for it
    let pairs = [
        (
            "cn=CM1\\+CM2 é\\,A,ou=g,dc=x",
            "CN=CM1\\2BCM2 \\C3\\A9\\2CA, ou=g,dc=x",
        ),
        ("cn=G\\=1\\;x\\\"y,dc=x", "cn=G\\3D1\\3Bx\\22y,dc=x"),
        ("uid=S-9\\,ou\\=x,dc=x", "uid=S-9\\2Cou\\3Dx,dc=x"),
        ("uid=S-9\\+cn\\=x,dc=x", "uid=s-9\\2bcn=x,dc=x"),
        ("uid=S-9=x,dc=x", "uid=S-9\\3Dx,dc=x"),
        ("cn=a  b,dc=x", "cn=A b ,dc=x"),
        ("cn=\\#1,dc=x", "cn=\\231,dc=x"),
        ("cn=a+sn=b,dc=x", "SN=B+cn=A,dc=x"),
        ("cn=\\ a\\ ,dc=x", "cn=a,dc=x"),
        ("cn=\"a,b\",dc=x", "cn=a\\,b,dc=x"),
    ];
    for (a, b) in pairs {
        assert_eq!(dn_key(a), dn_key(b), "{a} vs {b}");
    }
    assert_ne!(dn_key("cn=a+b,dc=x"), dn_key("cn=a\\+b,dc=x"));
    assert_ne!(dn_key("cn=a\\,b,dc=x"), dn_key("cn=a,cn=b,dc=x"));
    assert_eq!(dn_key(""), "");
    // the key of a key is itself
    for (a, _) in pairs {
        assert_eq!(dn_key(&dn_key(a)), dn_key(a));
    }
}

#[test]
fn values_slapd_holds_for_equal_have_one_key() {
    // composed or decomposed accents, compatibility forms, no-break and
    // other spaces, case: slapd's caseIgnoreMatch sees one value
    for (a, b) in [
        ("\u{e9}t\u{e9}", "e\u{301}te\u{301}"),
        ("\u{fb01}x", "FIX"),
        ("K\u{212a}", "kk"),
        ("9\u{a0}z", "9 z"),
        ("a\u{2003}\u{3000}b", "A B"),
        ("\tx  y ", "X y"),
        ("\u{c9}LODIE", "\u{e9}lodie"),
    ] {
        assert_eq!(value_key(a), value_key(b), "{a:?} vs {b:?}");
        assert!(same_value(a, b), "{a:?} vs {b:?}");
        assert_eq!(
            dn_key(&format!("uid={a},dc=x")),
            dn_key(&format!("UID={b},dc=x"))
        );
    }
    // slapd's simple lower-casing: İ is i; its tables have no capital ß
    assert_eq!(value_key("\u{130}D1"), "id1");
    assert!(same_value("\u{130}D1", "id1"));
    assert_eq!(dn_key("uid=\u{130}D1,dc=x"), dn_key("uid=id1,dc=x"));
    for (a, b) in [
        ("stra\u{df}e", "strasse"),
        ("x", "y"),
        ("ab", "a b"),
        ("STRA\u{1e9e}E", "stra\u{df}e"),
    ] {
        assert_ne!(value_key(a), value_key(b), "{a:?} vs {b:?}");
    }
    // most values are their own key: no allocation
    assert!(matches!(value_key("uid=s-1,ou=people"), Cow::Borrowed(_)));
    // plain ASCII takes a shorter way to the same key as any other value
    for (ascii, other) in [
        (" Jean\t\r\n MARTIN \u{c}", "jean martin\u{e9}"),
        ("A\u{b}B", "a b\u{e9}"),
        // a vertical tab is a blank to slapd (RFC 4518), in lower case too
        ("a\u{b}b", "a b\u{e9}"),
    ] {
        let k = value_key(other);
        assert_eq!(value_key(ascii), k.trim_end_matches('\u{e9}'), "{ascii:?}");
    }
    // a DN key escapes what it must, and copies the rest whole
    assert_eq!(dn_key("UID=#A\\,B ,DC=X"), "uid=\\#a\\,b,dc=x");
    // a key's key is itself
    for v in ["\u{130}x", "e\u{301}", "\u{fb01}", " A\u{a0} b "] {
        assert_eq!(value_key(&value_key(v)), value_key(v), "{v:?}");
    }
    let mut e = Entry::new(Dn::new("uid=a,dc=x"));
    e.add("cn", ["\u{e9}t\u{e9}", "e\u{301}te\u{301}", "ETE"]);
    assert_eq!(e.get("cn").unwrap().len(), 2);
}

/// What belongs to this source is decided never more coarsely than the
/// server matches: spaces at either end and ASCII case aside, nothing else.
#[test]
fn a_value_is_ours_strictly_as_the_server_matches_it() {
    for (a, b) in [("AC-X", "ac-x"), ("AC-X", " AC-X  "), ("  ac-x", "AC-X ")] {
        assert!(same_strictly(a, b), "{a:?} vs {b:?}");
    }
    for (a, b) in [
        ("AC-X", "AC-X\t"),
        ("AC-X", "\nAC-X"),
        ("AC-X", "AC-X2"),
        ("AC X", "AC  X"),
        ("\u{c9}", "\u{e9}"),
    ] {
        assert!(!same_strictly(a, b), "{a:?} vs {b:?}");
    }
}

#[test]
fn rdn_values_are_escaped() {
    assert_eq!(escape_rdn_value("a,b+c"), "a\\,b\\+c");
    assert_eq!(escape_rdn_value(" #x "), "\\ #x\\ ");
    assert_eq!(escape_rdn_value("#x"), "\\#x");
    assert_eq!(
        Dn::child(&Dn::new("dc=x"), "cn", "a=b").as_str(),
        "cn=a\\=b,dc=x"
    );
}

#[test]
fn first_rdn_is_split_and_unescaped() {
    let dn = Dn::child(&Dn::new("ou=people,dc=x"), "uid", "S-1,2 ");
    let (a, v, parent) = split_first_rdn(dn.as_str()).unwrap();
    assert_eq!((a, v.as_str(), parent), ("uid", "S-1,2 ", "ou=people,dc=x"));
    let (_, v, _) = split_first_rdn("cn=\\41\\c3\\a9, dc=x").unwrap();
    assert_eq!(v, "Aé");
    assert!(split_first_rdn("cn=a+sn=b,dc=x").is_none());
    assert!(split_first_rdn("nonsense").is_none());
}

#[test]
fn entry_dedups_case_insensitively_and_sorts() {
    let mut e = Entry::new(Dn::new("dc=x"));
    e.add("sn", ["b", "A", "a", ""]);
    assert_eq!(e.get("SN").unwrap().to_vec(), ["A", "b"]);
    e.add("mail", Vec::<String>::new());
    assert!(e.get("mail").is_none());
}

#[test]
fn attributes_keep_order_spelling_and_values_through_edits() {
    let mut e = Entry::new(Dn::new("dc=x"));
    e.add("sn", ["Durand"]);
    e.add("objectClass", ["top", "person"]);
    e.add("cn", ["A B"]);
    e.add("SN", ["durand", "Dupont"]);
    let names: Vec<&str> = e.attrs.values().map(|a| a.name).collect();
    assert_eq!(names, ["cn", "objectClass", "sn"]);
    assert_eq!(e.get("sn").unwrap().to_vec(), ["Dupont", "Durand"]);
    e.remove_values("objectclass", &["PERSON".to_string()]);
    assert_eq!(e.get("objectClass").unwrap().to_vec(), ["top"]);
    let long = "é".repeat(300);
    e.set("description", long.clone());
    assert_eq!(e.first("Description"), Some(long.as_str()));
    let gone = e.remove("cn").unwrap();
    assert_eq!(
        (gone.name.as_str(), gone.values),
        ("cn", vec!["A B".to_string()])
    );
    e.remove_values("objectClass", &["top".to_string()]);
    assert!(e.get("objectClass").is_none());
    assert_eq!(e.attrs.len(), 2);
    assert_eq!(
        serde_json::to_string(&e.attrs).unwrap(),
        format!(r#"{{"description":["{long}"],"sn":["Dupont","Durand"]}}"#)
    );
    let members: Vec<String> = (0..40).map(|i| format!("uid=u{i},dc=x")).collect();
    e.add("member", members.iter().cloned());
    e.add("member", ["UID=U3,dc=x"]);
    assert_eq!(e.get("member").unwrap().len(), 40);
    // built in one go, the same entry as attribute by attribute
    let attrs: Vec<(String, Vec<String>)> = e
        .attrs
        .values()
        .map(|a| (a.name.to_uppercase(), a.values.to_vec()))
        .collect();
    let mut again = Entry::from_attrs(
        e.dn.clone(),
        attrs
            .iter()
            .map(|(n, v)| (n.as_str(), v.iter().map(String::as_str))),
    );
    assert_eq!(
        format!("{:?}", again.attrs).to_lowercase(),
        format!("{:?}", e.attrs).to_lowercase()
    );
    again.add("DESCRIPTION", ["x"]);
    assert_eq!(again.get("description").unwrap().len(), 2);
}

#[test]
fn a_frozen_entry_edited_goes_back_to_its_store_or_to_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let store = super::store::Store::open(dir.path()).unwrap();
    let mut e = test_entry("uid=a,dc=x", &[("cn", &["A"]), ("sn", &["B"])]);
    e.freeze(&store);
    let stored = |e: &Entry| matches!(e.attrs.0, super::attrs::Body::Stored(_));
    assert_eq!(stored(&e), cfg!(target_os = "linux"));
    e.set("cn", "C");
    assert_eq!(stored(&e), cfg!(target_os = "linux"));
    assert_eq!(e.first("cn"), Some("C"));
    drop(store);
    // the store is closed: the edit stays on the heap, the entry is the same
    e.set("sn", "D");
    assert!(!stored(&e));
    assert_eq!((e.first("cn"), e.first("sn")), (Some("C"), Some("D")));
}
