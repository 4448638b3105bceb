//! The reader on records and values: what is read, what is rejected and
//! the ids a rejection is tied to. `wellformed` has the files refused whole.

use super::*;

mod wellformed;

pub(super) fn read_all(
    xml: &[u8],
    cat: FileCategory,
) -> Result<(Vec<ReadItem>, BTreeMap<String, String>), AafError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("P_Complet_20240101_Eleve_0000.xml");
    std::fs::write(&p, xml).unwrap();
    let mut r = RecordReader::open(&p, cat, None)?;
    let mut out = Vec::new();
    while let Some(i) = r.next_item()? {
        out.push(i);
    }
    Ok((out, r.header().clone()))
}

pub(super) const PUPIL: &str = r#"<addRequest>
<operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>
<identifier><id>1001</id></identifier>
<attributes>
<attr name="ENTPersonJointure"><value>1001</value></attr>
<attr name="ENTPersonNom"><value>  L&apos;H&Ocirc;TE  </value></attr>
<attr name="ENTPersonPrenom"><value>Ren&eacute;e</value></attr>
<attr name="ENTPersonAutresPrenoms"><value>A</value><value/><value>B</value></attr>
<attr name="ENTPersonMail"><value/></attr>
</attributes>
</addRequest>"#;

#[test]
fn reads_add_modify_delete_and_header() {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\r\n<ficAlimMENESR>\r\n<!-- versionAF=\"AAF-VE2407\" -->\n<!-- degre=\"1D\" -->\n{PUPIL}\n\
<modifyRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\
<identifier><id>1002</id></identifier><modifications><modification name=\"ENTPersonNom\" operation=\"replace\"><value>X</value></modification>\
<modification name=\"ENTPersonClasses\" operation=\"replace\"><value/></modification></modifications></modifyRequest>\n\
<deleteRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1003</id></identifier></deleteRequest>\n\
</ficAlimMENESR>\n"
    );
    let (items, header) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    assert_eq!(header.get("versionAF").unwrap(), "AAF-VE2407");
    assert_eq!(header.get("degre").unwrap(), "1D");
    assert_eq!(items.len(), 3);
    let ReadItem::Record(r) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!(r.op, Operation::Add);
    assert_eq!(r.id, "1001");
    assert_eq!(r.first("ENTPersonNom"), Some("L'HÔTE"));
    assert_eq!(r.first("ENTPersonPrenom"), Some("Renée"));
    assert_eq!(r.values("ENTPersonAutresPrenoms"), vec!["A", "B"]);
    assert_eq!(r.attr("ENTPersonMail").unwrap().values, vec![""]);
    let ReadItem::Record(m) = &items[1] else {
        panic!()
    };
    assert_eq!(m.op, Operation::Modify);
    assert_eq!(m.attr("ENTPersonClasses").unwrap().values, vec![""]);
    let ReadItem::Record(d) = &items[2] else {
        panic!()
    };
    assert_eq!(
        (d.op, d.id.as_str(), d.index),
        (Operation::Delete, "1003", 3)
    );
}

#[test]
fn double_escaped_value_is_decoded_once_more() {
    let xml = PUPIL.replace("L&apos;H&Ocirc;TE", "D&amp;apos;ETABLISSEMENT");
    let (items, _) = read_all(
        format!("<ficAlimMENESR>{xml}</ficAlimMENESR>").as_bytes(),
        FileCategory::Eleve,
    )
    .unwrap();
    let ReadItem::Record(r) = &items[0] else {
        panic!()
    };
    assert_eq!(r.first("ENTPersonNom"), Some("D'ETABLISSEMENT"));
}

#[test]
fn id_jointure_mismatch_rejects_only_that_record() {
    let bad = PUPIL.replace("<id>1001</id>", "<id>999</id>");
    let xml = format!("<ficAlimMENESR>{bad}{PUPIL}</ficAlimMENESR>");
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    let ReadItem::Rejected(e) = &items[0] else {
        panic!()
    };
    assert_eq!(e.index, 1);
    assert_eq!(e.field.as_deref(), Some("ENTPersonJointure"));
    assert_eq!(e.id.as_deref(), Some("999"));
    assert!(matches!(items[1], ReadItem::Record(_)));
}

#[test]
fn wrong_category_and_missing_id_are_rejected() {
    let xml = format!(
        "<ficAlimMENESR>{}{}</ficAlimMENESR>",
        PUPIL.replace(">Eleve<", ">PersEducNat<"),
        PUPIL.replace("<id>1001</id>", "<id> </id>")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    let reasons: Vec<_> = items
        .iter()
        .map(|i| match i {
            ReadItem::Rejected(e) => e.field.clone().unwrap_or_default(),
            ReadItem::Record(_) => "ok".into(),
        })
        .collect();
    assert_eq!(reasons, vec!["operationalAttributes", "identifier"]);
}

#[test]
fn declared_entities_are_not_expanded_and_reject_their_record() {
    let xml =
        "<?xml version=\"1.0\"?><!DOCTYPE ficAlimMENESR [<!ENTITY x \"BOOM\">]><ficAlimMENESR>"
            .to_string()
            + &PUPIL.replace("Ren&eacute;e", "&x;")
            + &PUPIL.replace("1001", "1002")
            + "</ficAlimMENESR>";
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    let ReadItem::Rejected(e) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!(e.field.as_deref(), Some("ENTPersonPrenom"));
    assert_eq!(e.id.as_deref(), Some("1001"));
    assert!(e.reason.contains("never expanded"), "{}", e.reason);
    assert!(matches!(&items[1], ReadItem::Record(r) if r.id == "1002"));
}

#[test]
fn control_characters_reject_their_record_raw_or_referenced() {
    for bad in [
        "Ren\u{1b}e",
        "Ren&#x1B;e",
        "Re&#7;n",
        "R\u{0}e",
        "Re&#0;",
        "Re\u{85}",
        "Re\u{fffd}",
        "R&amp;#x1B;",
    ] {
        let xml = format!(
            "<ficAlimMENESR>{}{}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", bad),
            PUPIL.replace("1001", "1002")
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!("{bad:?}: {:?}", items[0])
        };
        assert_eq!(e.field.as_deref(), Some("ENTPersonPrenom"), "{bad:?}");
        assert_eq!(e.id.as_deref(), Some("1001"), "{bad:?}");
        assert!(!e.to_string().contains("Ren"), "no value in the error: {e}");
        assert!(matches!(&items[1], ReadItem::Record(r) if r.id == "1002"));
    }
    // tabs and line ends are text
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("Ren&eacute;e", "Ren&#9;e")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    assert!(matches!(&items[0], ReadItem::Record(_)));
}

#[test]
fn ids_that_cannot_make_a_stable_rdn_are_rejected_and_tied() {
    let cases = [
        ("<id>9$1</id>", "'$'"),
        ("<id>1001\u{1}</id>", "U+0001"),
        ("<id>10\t01</id>", "a tab"),
        ("<id>10\u{200B}01</id>", "invisible"),
        ("<id>10\u{A0}01</id>", "a tab"),
    ];
    for (id, why) in cases {
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("<id>1001</id>", id)
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        let ReadItem::Rejected(e) = &items[0] else {
            panic!("{id}: {:?}", items[0])
        };
        assert!(e.reason.contains(why), "{id}: {}", e.reason);
        // the jointure still ties it to a person
        assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["1001"], "{id}");
    }
    // a mismatch ties both ids
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("<id>1001</id>", "<id>999</id>")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    let ReadItem::Rejected(e) = &items[0] else {
        panic!()
    };
    assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["999", "1001"]);
    assert_eq!(e.category, Some(FileCategory::Eleve));
    // an unexpected element early in the record: the id is still read
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("<identifier>", "<bogus/><identifier>")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    let ReadItem::Rejected(e) = &items[0] else {
        panic!()
    };
    assert_eq!(e.tied_ids().collect::<Vec<_>>(), vec!["1001"]);
}

#[test]
fn overlong_value_rejects_record() {
    let long = "A".repeat(MAX_VALUE_BYTES + 1);
    let xml = format!(
        "<ficAlimMENESR>{}{PUPIL}</ficAlimMENESR>",
        PUPIL.replace("Ren&eacute;e", &long)
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    assert!(
        matches!(&items[0], ReadItem::Rejected(e) if e.field.as_deref() == Some("ENTPersonPrenom"))
    );
    assert!(matches!(items[1], ReadItem::Record(_)));
}

#[test]
fn never_panics_on_mangled_input() {
    // a cheap fuzz: truncations and byte flips of a valid file must give
    // records, rejections or a clean error, never a panic
    let base = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><ficAlimMENESR>{PUPIL}{PUPIL}</ficAlimMENESR>");
    let bytes = base.as_bytes();
    let mut rng = crate::generator::Rng::new(7);
    for i in 0..400 {
        let mut b = bytes.to_vec();
        if i % 2 == 0 {
            b.truncate(rng.below(bytes.len() as u64) as usize);
        }
        for _ in 0..(1 + rng.below(4)) {
            let pos = rng.below(b.len().max(1) as u64) as usize;
            if pos < b.len() {
                b[pos] = rng.below(256) as u8;
            }
        }
        let _ = read_all(&b, FileCategory::Eleve);
    }
}

#[test]
fn a_modification_other_than_replace_rejects_its_record() {
    let modify = |op: &str, id: &str| {
        format!(
            "<modifyRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\
<identifier><id>{id}</id></identifier><modifications><modification name=\"ENTPersonNom\" operation=\"{op}\"><value>X</value></modification></modifications></modifyRequest>"
        )
    };
    let xml = format!(
        "<ficAlimMENESR>{}{}{}</ficAlimMENESR>",
        modify("delete", "1001"),
        modify("add", "1002"),
        modify("replace", "1003")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    for (i, id) in [(0, "1001"), (1, "1002")] {
        let ReadItem::Rejected(e) = &items[i] else {
            panic!("{:?}", items[i])
        };
        assert_eq!(e.id.as_deref(), Some(id));
        assert_eq!(e.field.as_deref(), Some("ENTPersonNom"));
        assert!(e.reason.contains("replace"), "{}", e.reason);
    }
    assert!(matches!(&items[2], ReadItem::Record(r) if r.id == "1003"));
}

#[test]
fn utf8_text_in_a_latin_file_rejects_its_record() {
    // a Latin-9 file (many accents, bytes invalid as UTF-8) where one
    // record was pasted in UTF-8: that record would be stored as `Ã©`
    let latin = |id: &str| {
        PUPIL.replace("1001", id).replace(
            "Ren&eacute;e",
            "H\u{e9}l\u{e8}ne \u{e9}t\u{e9} MA\u{cf}\u{153}",
        )
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><ficAlimMENESR>{}{}{}</ficAlimMENESR>",
        latin("1001"),
        PUPIL
            .replace("1001", "1002")
            .replace("Ren&eacute;e", "MARKER"),
        latin("1003"),
    );
    let (enc, _, _) = encoding_rs::ISO_8859_15.encode(&xml);
    let mut bytes = enc.into_owned();
    let at = bytes.windows(6).position(|w| w == b"MARKER").unwrap();
    bytes.splice(at..at + 6, "Ren\u{e9}e".bytes());
    let (items, _) = read_all(&bytes, FileCategory::Eleve).unwrap();
    assert!(
        matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some("Hélène été MAÏœ"))
    );
    let ReadItem::Rejected(e) = &items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(
        (e.id.as_deref(), e.field.as_deref()),
        (Some("1002"), Some("ENTPersonPrenom"))
    );
    assert!(
        e.reason
            .contains("UTF-8 text in a file read as ISO-8859-15"),
        "{}",
        e.reason
    );
    assert!(matches!(&items[2], ReadItem::Record(r) if r.id == "1003"));
}
