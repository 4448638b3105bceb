//! Unit tests of `Entry`: building one from a search result's attributes
//! gives the same bytes as adding them one by one.

use super::*;

/// The entry `Entry::add` builds, attribute after attribute: what
/// `from_attrs` must build, byte for byte.
fn added(attrs: &[(&str, Vec<&str>)]) -> Entry {
    let mut e = Entry::new(Dn::new("uid=x,dc=x"));
    for (name, vals) in attrs {
        e.add(name, vals.iter().copied());
    }
    e
}

fn built(attrs: &[(&str, Vec<&str>)]) -> Entry {
    Entry::from_attrs(
        Dn::new("uid=x,dc=x"),
        attrs.iter().map(|(n, v)| (*n, v.iter().copied())),
    )
}

#[test]
fn plain_values_are_exactly_those_that_are_their_own_key_lower_cased() {
    for v in [
        "abc",
        "ENTEleve",
        "uid=AC-1,ou=people,dc=x",
        "a b",
        "a  b",
        " a",
        "a ",
        "a\tb",
        "a\u{b}b",
        "a\u{c}b",
        "a\rb",
        "a\nb",
        "a\u{1f}b",
        "a\u{7f}b",
        "é",
        "~!@#$%^&*()_+{}|:<>?",
    ] {
        if plain(v) {
            assert_eq!(value_key(v), v.to_ascii_lowercase(), "{v:?}");
        }
    }
    assert!(plain("Tilael ZAKA") && plain("uid=AC-1,dc=x"));
    assert!(!plain("a  b") && !plain(" a") && !plain("a\tb") && !plain("é"));
}

#[test]
fn from_attrs_builds_what_add_builds() {
    let members: Vec<String> = (0..40).map(|i| format!("uid=U{i},dc=x")).collect();
    let mut many: Vec<&str> = members.iter().map(String::as_str).collect();
    // duplicates of a long list, in another case, and the list again
    many.extend(["UID=U3,DC=X", "uid=u39,dc=x", "uid=U0,dc=x"]);
    many.extend(members.iter().rev().map(String::as_str));
    let mut unicode = many.clone();
    unicode.extend([
        "\u{c9}lodie",
        "\u{e9}lodie",
        "e\u{301}lodie",
        "uid=u7,dc=x ",
    ]);
    let cases: Vec<Vec<(&str, Vec<&str>)>> = vec![
        vec![],
        vec![("cn", vec![])],
        vec![("cn", vec![""])],
        vec![("cn", vec!["", "B", ""])],
        vec![(
            "objectClass",
            vec!["top", "ENTEleve", "TOP", "entEleve", "person"],
        )],
        vec![("cn", vec!["b", "a", "B", "A", "c"])],
        vec![("cn", vec!["a b", "A  B", " a b", "a\tb", "A B"])],
        vec![("cn", vec!["a\u{b}b", "A\u{b}B", "a b"])],
        vec![(
            "sn",
            vec!["\u{c9}LODIE", "\u{e9}lodie", "e\u{301}lodie", "x"],
        )],
        vec![("cn", vec!["\u{fb01}x", "FIX", "fix"])],
        vec![("member", many.clone())],
        vec![("member", unicode.clone())],
        // the order the server chose, and names in any case
        vec![
            ("uid", vec!["AC-1"]),
            ("CN", vec!["Zoé", "zoé"]),
            ("objectclass", vec!["top", "person"]),
            ("ENTPersonLogin", vec!["z.a"]),
            ("memberUid", many.clone()),
        ],
        // one attribute under two spellings
        vec![
            ("cn", vec!["a", "b"]),
            ("sn", vec!["s"]),
            ("CN", vec!["B", "c"]),
        ],
    ];
    for attrs in &cases {
        let (a, b) = (added(attrs), built(attrs));
        assert_eq!(a, b, "{attrs:?}");
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{attrs:?}");
    }
    // a long list: first spellings kept, sorted
    let e = built(&[("member", many)]);
    let m = e.get("member").unwrap();
    assert_eq!(m.len(), 40);
    assert!(m.contains("uid=U3,dc=x") && !m.contains("UID=U3,DC=X"));
}

/// `has_values` answers what `has_value` answers for each value, in one
/// look (`EntryKind::of` relies on it), ASCII case aside.
#[test]
fn has_values_answers_as_has_value_does() {
    use crate::schema::{Attributes, EntryKind};
    let e = test_entry(
        "uid=p,ou=people,dc=x",
        &[
            ("objectClass", &["top", "entperson", "ENTAuxPersRelEleve"]),
            ("ENTPersonProfils", &["National_TUT"]),
        ],
    );
    let asked = [
        "ENTPerson",
        "ENTEleve",
        "top",
        "ENTAUXPERSRELELEVE",
        "person",
    ];
    let one_by_one = asked
        .iter()
        .enumerate()
        .filter(|(_, v)| e.has_value("objectClass", v))
        .fold(0u32, |m, (i, _)| m | 1 << i);
    assert_eq!(
        Attributes::has_values(&e, "objectClass", &asked),
        one_by_one
    );
    assert_eq!(one_by_one, 0b01101);
    assert_eq!(Attributes::has_values(&e, "absent", &asked), 0);
    assert_eq!(EntryKind::of(&e), Some(EntryKind::Parent));
    // a parent known by its profile only, and a staff member
    let tut = test_entry(
        "uid=t,dc=x",
        &[
            ("objectClass", &["ENTPerson"]),
            ("ENTPersonProfils", &["national_tut"]),
        ],
    );
    assert_eq!(EntryKind::of(&tut), Some(EntryKind::Parent));
    let staff = test_entry("uid=s,dc=x", &[("objectClass", &["ENTPerson"])]);
    assert_eq!(EntryKind::of(&staff), Some(EntryKind::Staff));
}

#[test]
fn an_entry_built_with_room_is_the_entry_built_without() {
    let build = |mut e: Entry| {
        e.add("objectClass", ["top", "person", "ENTPerson"]);
        e.set("sn", "ZAKA");
        e.add("mail", ["a@x.fr", "A@X.FR", "b@x.fr"]);
        e.set("cn", "Tilael ZAKA");
        e.add("objectClass", ["ENTEleve", "PERSON"]);
        e
    };
    let dn = || Dn::new("uid=AC-1,ou=eleves,dc=x");
    let plain = build(Entry::new(dn()));
    // room to spare, and room too small: both grow into the same bytes
    for room in [1024, 8] {
        let mut roomy = build(Entry::with_room(dn(), room));
        assert_eq!(roomy, plain);
        roomy.shrink();
        assert_eq!(roomy, plain);
        assert_eq!(roomy.get("objectClass").map(|v| v.len()), Some(4));
    }
}
