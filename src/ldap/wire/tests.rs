//! Unit tests of the wire search's BER reader and requests: well-formed
//! responses decoded as `ldap3` decodes them, and truncated, oversized or
//! garbage bytes refused with an error, never a panic or an endless loop.

use super::page::{decode_batch, Done, Step};
use super::request::{self, structure};
use super::*;
use crate::ldap::search::to_entry;
use crate::ldap::ResultCode;
use crate::model::Entry;
use ldap3::asn1::{StructureTag, TagClass, PL};
use ldap3::{ResultEntry, SearchEntry};

fn prim(b: &[u8]) -> StructureTag {
    tagged(TagClass::Universal, 4, PL::P(b.to_vec()))
}
fn tagged(class: TagClass, id: u64, payload: PL) -> StructureTag {
    StructureTag { class, id, payload }
}
fn cons(id: u64, v: Vec<StructureTag>) -> StructureTag {
    tagged(TagClass::Universal, id, PL::C(v))
}
fn int(n: u8) -> StructureTag {
    tagged(TagClass::Universal, 2, PL::P(vec![n]))
}
fn attr(name: &str, values: &[&[u8]]) -> StructureTag {
    cons(
        16,
        vec![
            prim(name.as_bytes()),
            cons(17, values.iter().map(|v| prim(v)).collect()),
        ],
    )
}
fn entry_tag(dn: &[u8], attrs: Vec<StructureTag>) -> StructureTag {
    tagged(
        TagClass::Application,
        4,
        PL::C(vec![prim(dn), cons(16, attrs)]),
    )
}
/// An `LDAPMessage` around `op`, with `controls` when given.
fn msg(id: u8, op: StructureTag, controls: Option<StructureTag>) -> Vec<u8> {
    let mut parts = vec![int(id), op];
    parts.extend(controls);
    let mut out = Vec::new();
    structure(&mut out, &cons(16, parts));
    out
}
fn done(code: u8) -> StructureTag {
    let e = tagged(TagClass::Universal, 10, PL::P(vec![code]));
    tagged(
        TagClass::Application,
        5,
        PL::C(vec![e, prim(b""), prim(b"why")]),
    )
}
fn paged(cookie: &[u8]) -> StructureTag {
    let mut value = Vec::new();
    structure(&mut value, &cons(16, vec![int(0), prim(cookie)]));
    tagged(
        TagClass::Context,
        0,
        PL::C(vec![cons(
            16,
            vec![prim(ber::PAGED_OID.as_bytes()), prim(&value)],
        )]),
    )
}

/// Runs `decode_batch` over `data`: the entries (built as the sync builds
/// them), the bytes used and how the batch ended.
fn decode(data: &[u8], id: u32) -> Result<(Vec<Entry>, usize, Step), String> {
    let mut got = Vec::new();
    let mut count = 0;
    let (used, step) = decode_batch(data, id, &mut count, &mut |dn, a| {
        got.push(Entry::from_attrs(Dn::new(dn), a))
    })?;
    assert_eq!(count, got.len() as u64);
    Ok((got, used, step))
}

fn sample() -> StructureTag {
    let long = vec![b'x'; 70_000];
    entry_tag(
        "uid=AC-X-1,ou=people,dc=example,dc=org".as_bytes(),
        vec![
            attr("objectClass", &[b"top", b"ENTEleve", b"top"]),
            attr("sn", &["Éloïse".as_bytes()]),
            attr("member", &[b"uid=b,dc=x", b"UID=B,dc=x", b"uid=a,dc=x"]),
            // not UTF-8: left out whole, as construct puts it aside
            attr("jpegPhoto", &[b"\xff\xd8\xff", b"ok"]),
            attr("description", &[]),
            attr("ENTPersonLogin", &[&long[..200]]),
            attr("ENTPersonAlias", &[&long]),
        ],
    )
}

fn small() -> StructureTag {
    entry_tag(
        b"uid=x,dc=x",
        vec![attr("cn", &[b"x", b"y"]), attr("sn", &[b"z"])],
    )
}

#[test]
fn entries_decode_in_place_as_search_entry_construct_does() {
    let mut data = msg(7, sample(), None);
    data.extend(msg(
        7,
        tagged(TagClass::Application, 19, PL::C(vec![])),
        None,
    ));
    data.extend(msg(7, done(0), Some(paged(b"next"))));
    let (got, used, step) = decode(&data, 7).unwrap();
    assert_eq!(used, data.len());
    assert!(matches!(step, Step::Done(Done::Page(c)) if c == b"next"));
    let want = to_entry(SearchEntry::construct(ResultEntry::new(sample())));
    assert_eq!(got, vec![want]);
    let e = &got[0];
    assert!(e.get("jpegPhoto").is_none());
    assert_eq!(e.get("objectclass").unwrap(), &["ENTEleve", "top"]);
    assert_eq!(e.first("ENTPersonAlias").map(str::len), Some(70_000));

    // the last page: no cookie, or no control at all
    for controls in [Some(paged(b"")), None] {
        let (_, _, step) = decode(&msg(7, done(0), controls), 7).unwrap();
        assert!(matches!(step, Step::Done(Done::Page(c)) if c.is_empty()));
    }
    // a refusal keeps its code, rendered as ldap3 renders it
    let (_, _, step) = decode(&msg(7, done(32), None), 7).unwrap();
    let Step::Done(Done::Refused(e)) = step else {
        panic!("not refused")
    };
    assert_eq!(ResultCode::of(&e), Some(ResultCode::NO_SUCH_OBJECT));
    assert!(e.to_string().contains("rc=32 (noSuchObject)"), "{e}");
}

#[test]
fn every_cut_of_a_page_waits_for_more_and_every_split_reads_the_same() {
    let mut data = msg(3, sample(), None);
    data.extend(msg(3, sample(), None));
    data.extend(msg(3, done(0), None));
    let (whole, _, _) = decode(&data, 3).unwrap();
    assert_eq!(whole.len(), 2);
    for cut in (0..data.len())
        .step_by(97)
        .chain(data.len() - 40..data.len())
    {
        let (first, used, step) = decode(&data[..cut], 3).unwrap();
        let Step::More(need) = step else {
            panic!("a cut page ended at {cut}")
        };
        assert!(
            used <= cut && used + need > cut,
            "cut {cut}: {used} + {need}"
        );
        // what the connection does: keep the rest, read on
        let (rest, _, step) = decode(&data[used..], 3).unwrap();
        assert!(matches!(step, Step::Done(_)));
        let mut all = first;
        all.extend(rest);
        assert_eq!(all, whole, "cut at {cut}");
    }
}

#[test]
fn malformed_answers_are_errors() {
    let good = msg(1, small(), None);
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("indefinite", vec![0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]),
        ("length of 5 bytes", vec![0x30, 0x85, 1, 0, 0, 0, 0]),
        ("tag 0x31", vec![0x31, 0x03, 0x02, 0x01, 0x01]),
        ("multi-byte tag", vec![0x30, 0x03, 0x1f, 0x01, 0x01]),
        ("at most", vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]),
        // an inner length running past its message
        ("longer", vec![0x30, 0x05, 0x02, 0x09, 0x01, 0x64, 0x00]),
        // an id that answers another operation
        ("expected 1", msg(2, sample(), None)),
        (
            "unexpected answer tag 0x61",
            msg(1, tagged(TagClass::Application, 1, PL::C(vec![])), None),
        ),
        (
            "not UTF-8",
            msg(1, entry_tag(b"uid=\xff", vec![attr("cn", &[b"x"])]), None),
        ),
        (
            "attribute values",
            msg(
                1,
                entry_tag(b"uid=x", vec![cons(16, vec![prim(b"cn")])]),
                None,
            ),
        ),
        (
            "ended the connection",
            msg(0, tagged(TagClass::Application, 24, PL::C(vec![])), None),
        ),
    ];
    let mut trailing = good.clone();
    trailing[1] += 2;
    trailing.extend([0x04, 0x00]);
    cases.push(("too many", trailing));
    for (why, bytes) in cases {
        let err = decode(&bytes, 1)
            .err()
            .unwrap_or_else(|| panic!("{why}: accepted"));
        assert!(err.contains(why), "{why}: {err}");
    }
}

/// A small deterministic generator (xorshift), for the fuzzing below.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn garbage_and_flipped_bytes_never_panic_nor_loop() {
    let mut page = msg(1, small(), None);
    page.extend(msg(1, small(), None));
    page.extend(msg(1, done(0), Some(paged(b"c"))));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let mut b = if round % 2 == 0 {
            page.clone()
        } else {
            (0..rng.next() % 64).map(|_| rng.next() as u8).collect()
        };
        for _ in 0..1 + rng.next() % 4 {
            if !b.is_empty() {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
        }
        // Ok (more needed, or a page), or an error: anything but a panic
        if let Ok((_, used, Step::More(need))) = decode(&b, 1) {
            assert!(used <= b.len() && need > 0);
        }
    }
}

#[test]
fn requests_are_the_bytes_ldap_expects() {
    // RFC 4511 simple bind, LDAPv3
    let mut want = vec![0x30, 0x12, 0x02, 0x01, 0x01, 0x60, 0x0d, 0x02, 0x01, 0x03];
    want.extend([0x04, 0x04]);
    want.extend(b"cn=a");
    want.extend([0x80, 0x02]);
    want.extend(b"pw");
    assert_eq!(request::bind(1, "cn=a", "pw"), want);
    assert_eq!(
        request::unbind(9),
        vec![0x30, 0x05, 0x02, 0x01, 0x09, 0x42, 0x00]
    );
    // (objectClass=*): a present filter, [7]
    let f = request::Filter::parse("(objectClass=*)").unwrap();
    let mut want = vec![0x87, 0x0b];
    want.extend(b"objectClass");
    assert_eq!(f.0, want);
    assert!(request::Filter::parse("(objectClass=*").is_none());
    // long lengths
    let mut out = Vec::new();
    request::head(&mut out, &[0x04], 300);
    assert_eq!(out, vec![0x04, 0x82, 0x01, 0x2c]);
    // a search request reads back through the reader: its size and cookie
    let s = request::search(
        200,
        "dc=x",
        request::Scope::Subtree,
        &f,
        &["cn".into()],
        1000,
        b"ck",
    );
    let m = ber::message(&s).unwrap();
    assert_eq!((m.id, m.op), (200, 0x63));
    // the scope, an ENUMERATED after the base: wholeSubtree, or baseObject
    let scope_of = |req: &[u8]| {
        let at = req.windows(4).position(|w| w == b"dc=x").unwrap() + 4;
        req[at..at + 3].to_vec()
    };
    assert_eq!(scope_of(&s), [0x0a, 0x01, 0x02]);
    let b = request::search(
        201,
        "dc=x",
        request::Scope::Base,
        &f,
        &["cn".into()],
        1000,
        b"",
    );
    assert_eq!(scope_of(&b), [0x0a, 0x01, 0x00]);
    assert_eq!(
        ber::paged_cookie(m.controls.unwrap()).unwrap(),
        Some(&b"ck"[..])
    );
}

/// The questions a walk asks of each entry get the same answers from the
/// server's attributes as from the entry built of them (the rails' count
/// classifies 1.5 M entries without building one).
#[test]
fn borrowed_attributes_answer_as_the_entry_built_of_them() {
    use crate::schema::{Attributes, EntryKind, State};
    let entries = [
        // a managed pupil, classes in another case and twice
        vec![
            attr(
                "objectClass",
                &[b"top", b"enteleve", b"AAFSYNCSTATE", b"ENTPerson"],
            ),
            attr("aafSyncSource", &[b"AC-CRETEIL"]),
        ],
        // a departed parent known by their profile only, an empty value
        vec![
            attr("objectClass", &[b"ENTPerson", b"aafSyncState"]),
            attr("aafSyncSource", &[b"", b"AC-CRETEIL"]),
            attr("ENTPersonProfils", &[b"National_TUT"]),
            attr("aafSyncDepartureDate", &[b"20250901000000Z"]),
        ],
        // a class of another source; a structure by its specific class
        vec![
            attr(
                "objectClass",
                &[b"groupOfNames", b"ENTClasse", b"aafSyncState"],
            ),
            attr("aafSyncSource", &[b"AC-VERSAILLES"]),
        ],
        vec![
            attr("objectclass", &[b"ENTEtablissement"]),
            attr("AAFSYNCSOURCE", &[b"AC-CRETEIL"]),
        ],
        // nothing the sync knows; a value that is not UTF-8 (left out)
        vec![attr("objectClass", &[b"top", b"\xff"]), attr("cn", &[b"x"])],
    ];
    let classes = [
        "top",
        crate::schema::STATE_CLASS,
        "ENTEleve",
        "ENTClasse",
        "groupOfNames",
    ];
    for (i, attrs) in entries.into_iter().enumerate() {
        let data = msg(2, entry_tag(b"cn=x,dc=example,dc=org", attrs), None);
        let mut count = 0;
        let mut asked = 0;
        decode_batch(&data, 2, &mut count, &mut |dn, a| {
            let e = Entry::from_attrs(Dn::new(dn), a.clone());
            assert_eq!(EntryKind::of(&a), EntryKind::of(&e), "entry {i}");
            assert_eq!(State::of(&a), State::of(&e), "entry {i}");
            // (`first` of the single-valued attributes only: an entry's is
            // its smallest value, the server's the first it sent)
            for attr in [
                "aafSyncSource",
                "AAFSYNCSOURCE",
                "aafSyncDepartureDate",
                "cn",
                "sn",
            ] {
                assert_eq!(a.first(attr), e.first(attr), "entry {i}: {attr}");
            }
            for attr in ["aafSyncSource", "AAFSYNCSOURCE", "objectClass", "cn", "sn"] {
                assert_eq!(
                    a.has_values(attr, &classes),
                    e.has_values(attr, &classes),
                    "entry {i}: {attr}"
                );
                assert_eq!(
                    a.has_value(attr, "AC-CRETEIL"),
                    e.has_value(attr, "AC-CRETEIL"),
                    "entry {i}: {attr}"
                );
            }
            asked += 1;
        })
        .unwrap();
        assert_eq!(asked, 1);
    }
}
