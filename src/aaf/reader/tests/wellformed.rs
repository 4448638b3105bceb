//! Files the reader refuses whole: XML that is not well-formed, in what
//! quick-xml checks and in what it leaves unchecked. The error names the
//! file and the line, never the data.

use super::{read_all, PUPIL};
use crate::aaf::filename::FileCategory;
use crate::aaf::{AafError, ReadItem};

#[test]
fn not_well_formed_names_line() {
    let xml =
        format!("<ficAlimMENESR>\n{PUPIL}\n<addRequest><identifier></addRequest></ficAlimMENESR>");
    let err = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap_err();
    let AafError::NotWellFormed { line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, 13, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("P_Complet_20240101_Eleve_0000.xml"), "{msg}");
    let err = read_all(b"<ficAlimMENESR><addRequest>", FileCategory::Eleve).unwrap_err();
    assert!(err.to_string().contains("end of file"), "{err}");
    let err = read_all(b"<html></html>", FileCategory::Eleve).unwrap_err();
    assert!(err.to_string().contains("root element"), "{err}");
    let err = read_all(b"", FileCategory::Eleve).unwrap_err();
    assert!(err.to_string().contains("no root"), "{err}");
}

#[test]
fn xml_errors_never_show_a_tag_made_of_data() {
    // a `<` in a value turns a name into a tag: the error names the
    // line, never the tag
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("Ren&eacute;e", "<DUPONTEL>x")
    );
    let err = read_all(xml.as_bytes(), FileCategory::Eleve)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("DUPONTEL"), "{err}");
    assert!(err.contains("line"), "{err}");
    let err = read_all(b"<SECRETNAME></SECRETNAME>", FileCategory::Eleve)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("SECRETNAME"), "{err}");
}

/// The reason of a file refused as not well-formed, checking that the
/// error names the file and a line and never shows `SECRET` (data).
fn refused(xml: &str) -> (u64, String) {
    match read_all(xml.as_bytes(), FileCategory::Eleve) {
        Err(e @ AafError::NotWellFormed { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("P_Complet_20240101_Eleve_0000.xml"), "{msg}");
            assert!(!msg.contains("SECRET"), "no data in the error: {msg}");
            let AafError::NotWellFormed { line, reason, .. } = e else {
                unreachable!()
            };
            (line, reason)
        }
        other => panic!("{xml:?} accepted: {other:?}"),
    }
}

#[test]
fn a_cdata_end_in_character_data_refuses_the_file() {
    // §2.4: a literal `]]>` in content is not XML; quick-xml takes it
    let xml = format!(
        "<ficAlimMENESR>\n{}\n{}</ficAlimMENESR>",
        PUPIL.replace("1001", "1002"),
        PUPIL.replace("Ren&eacute;e", "SECRET]]>")
    );
    let (line, reason) = refused(&xml);
    assert_eq!(line, 19, "the line of the `]]>`");
    assert!(reason.contains("]]>"), "{reason}");
    // between records, and in the whitespace of a record, too
    refused(&format!("<ficAlimMENESR>]]>{PUPIL}</ficAlimMENESR>"));
    refused(&format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("<attributes>", "<attributes>]]>")
    ));
    // what is XML: `]]&gt;`, `]]` alone, a CDATA section
    for (v, read) in [
        ("A]]&gt;B", "A]]>B"),
        ("A]]B]", "A]]B]"),
        ("<![CDATA[A]]]]><![CDATA[>B]]>", "A]]>B"),
    ] {
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", v)
        );
        let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
        assert!(
            matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some(read)),
            "{v}: {:?}",
            items[0]
        );
    }
}

#[test]
fn markup_characters_in_text_refuse_the_file() {
    for bad in [
        "SECRET & CO",
        "SECRET & CO;",
        "SECRET &#x;",
        "SECRET &#12a;",
        "SECRET &",
        "SECRET<",
        "SECRET</value >",
    ] {
        refused(&format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace("Ren&eacute;e", bad)
        ));
    }
}

#[test]
fn malformed_attributes_refuse_the_file() {
    for tag in [
        // given twice: which name counts would be chance
        r#"<attr name="ENTPersonPrenom" name="ENTPersonNom">"#,
        r#"<attr name=ENTPersonPrenom>"#,
        r#"<attr name>"#,
        r#"<attr name="ENTPersonPrenom>"#,
        r#"<attr name='ENTPersonPrenom"#,
        r#"<attr name="ENTPerson<Prenom">"#,
        r#"<attr name="ENTPerson&Prenom">"#,
        r#"<attr name="ENTPersonPrenom" x="&#;">"#,
        r#"<attr name="ENTPersonPrenom" 1x="1">"#,
        "<attr name=\"ENTPersonPrenom\" x=\"\u{1}\">",
    ] {
        let xml = format!(
            "<ficAlimMENESR>{}</ficAlimMENESR>",
            PUPIL.replace(r#"<attr name="ENTPersonPrenom">"#, tag)
        );
        refused(&xml);
    }
    // references and quotes XML allows: read as before
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace(
            r#"<attr name="ENTPersonPrenom">"#,
            r#"<attr name='ENTPerson&#80;renom' x="&amp;&#x41;">"#
        )
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    assert!(
        matches!(&items[0], ReadItem::Record(r) if r.first("ENTPersonPrenom") == Some("Renée"))
    );
}

#[test]
fn names_that_are_not_xml_and_mismatched_tags_refuse_the_file() {
    for bad in [
        PUPIL.replace("<identifier>", "<1identifier/><identifier>"),
        PUPIL.replace("<identifier>", "<-x/><identifier>"),
        PUPIL.replace(
            "</value></attr>\n<attr name=\"ENTPersonPrenom\">",
            "</vlaue></attr>\n<attr name=\"ENTPersonPrenom\">",
        ),
        PUPIL.replace("</identifier>", "</identifier></id>"),
    ] {
        refused(&format!("<ficAlimMENESR>{bad}</ficAlimMENESR>"));
    }
    // a name that is XML but not the format's costs the record only
    let xml = format!(
        "<ficAlimMENESR>{}</ficAlimMENESR>",
        PUPIL.replace("<identifier>", "<bogus/><identifier>")
    );
    let (items, _) = read_all(xml.as_bytes(), FileCategory::Eleve).unwrap();
    assert!(matches!(&items[0], ReadItem::Rejected(_)));
}

#[test]
fn what_surrounds_the_root_must_be_xml() {
    let root = format!("<ficAlimMENESR>{PUPIL}</ficAlimMENESR>");
    for bad in [
        format!("{root}<ficAlimMENESR/>"),
        format!("{root}SECRET"),
        format!("{root}<![CDATA[ ]]>"),
        format!("{root}&#32;"),
        format!("&amp;{root}"),
        format!("{root}<!DOCTYPE ficAlimMENESR>"),
        format!("<!DOCTYPE a><!DOCTYPE b>{root}"),
        format!("\n<?xml version=\"1.0\"?>{root}"),
        format!("<!-- c --><?xml version=\"1.0\"?>{root}"),
        format!("{root}<?xml version=\"1.0\"?>"),
        format!("<?XML version=\"1.0\"?>{root}"),
        format!("\u{A0}{root}"),
        // a comment holding `--`, or a control character
        format!("{root}<!-- a -- b -->"),
        format!("<!-- \u{1} -->{root}"),
        // a character XML does not allow, between records
        format!("<ficAlimMENESR>\u{1}{PUPIL}</ficAlimMENESR>"),
        format!("<ficAlimMENESR>{PUPIL}\u{FFFF}</ficAlimMENESR>"),
    ] {
        refused(&bad);
    }
    // what XML allows around the root: a declaration first (after a
    // byte order mark), a DOCTYPE, comments, instructions, blanks
    let ok = format!(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- versionAF=\"X\" -->\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<?pi x?>\n{root}\n<!-- end -->\n<?pi y?>\n"
    );
    let (items, header) = read_all(ok.as_bytes(), FileCategory::Eleve).unwrap();
    assert!(matches!(&items[0], ReadItem::Record(_)));
    assert_eq!(header.get("versionAF").map(String::as_str), Some("X"));
}

#[test]
fn a_file_without_markup_is_refused_with_bounded_memory() {
    // 20 MiB of zeros after the root tag: one text event of that size
    // used to be buffered whole (4 GB of zeros took 6 GB of memory)
    let mut xml = b"<ficAlimMENESR>".to_vec();
    xml.resize(xml.len() + (20 << 20), 0);
    let e = read_all(&xml, FileCategory::Eleve).unwrap_err().to_string();
    assert!(e.contains("bytes without markup"), "{e}");
}
