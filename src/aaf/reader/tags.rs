//! Start tags judged once per spelling: an académie's files repeat a few
//! dozen tags (`<attr name="ENTPersonNom">`, `<value>`) millions of times,
//! and parsing each one's attributes again (well-formedness, the `name`
//! and `operation` the reader needs) was a fifth of the parse.

use super::wellformed::tag_not_well_formed;
use quick_xml::events::BytesStart;
use std::collections::HashMap;

/// What the reader needs of a start tag: all of it follows from the tag's
/// text alone, so one judgement serves every tag spelt the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tag {
    /// Why the tag is not well-formed, if it is not.
    pub why: Option<&'static str>,
    /// The `name="…"` of an `<attr>` or `<modification>`, trimmed.
    pub name_attr: Option<String>,
    /// A `<modification>` whose `operation` is not `replace`.
    pub bad_operation: bool,
}

/// Tags judged so far, by their text.
#[derive(Debug, Default)]
pub(super) struct Tags(HashMap<Box<str>, Tag>);

/// Distinct tags remembered: real files have a few dozen; a file made of
/// distinct tags is judged tag by tag past this, as before, with bounded
/// memory.
const MAX_TAGS: usize = 1024;

/// Longest tag remembered (a real one is a few dozen bytes).
const MAX_TAG_LEN: usize = 256;

impl Tags {
    /// The judgement of `s`, remembered when it is worth it.
    pub(super) fn judge(&mut self, s: &BytesStart) -> Tag {
        let text: &str = s;
        if let Some(t) = self.0.get(text) {
            return t.clone();
        }
        let t = judge(s);
        if self.0.len() < MAX_TAGS && text.len() <= MAX_TAG_LEN {
            self.0.insert(text.into(), t.clone());
        }
        t
    }
}

/// Judges one tag (what [`Tags::judge`] remembers).
pub(super) fn judge(s: &BytesStart) -> Tag {
    let why = tag_not_well_formed(s);
    let name = s.name();
    let name = name.as_ref();
    // only these carry a name="…" that means something
    let name_attr = if why.is_none() && matches!(name, "attr" | "modification") {
        s.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == "name")
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            })
    } else {
        None
    };
    // the format knows one operation: replace
    let bad_operation = name == "modification"
        && s.attributes()
            .flatten()
            .any(|a| a.key.as_ref() == "operation" && a.value.trim() != "replace");
    Tag {
        why,
        name_attr,
        bad_operation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(text: &str) -> BytesStart<'_> {
        let mut r = quick_xml::Reader::from_str(text);
        match r.read_event() {
            Ok(quick_xml::events::Event::Start(s)) | Ok(quick_xml::events::Event::Empty(s)) => {
                s.into_owned()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_remembered_tag_is_judged_as_a_fresh_one() {
        let mut tags = Tags::default();
        for text in [
            r#"<attr name=" ENTPersonNom ">"#,
            r#"<attr name="ENTPersonNom">"#,
            r#"<modification name="sn" operation="replace">"#,
            r#"<modification name="sn" operation="add">"#,
            r#"<attr name="a" name="b">"#,
            r#"<attr 1name="a">"#,
            r#"<attr name="a&amp;b">"#,
            r#"<attr name="a&b">"#,
            "<value>",
            "<value/>",
        ] {
            let s = start(text);
            let fresh = judge(&s);
            // the first judgement and the remembered one
            assert_eq!(tags.judge(&s), fresh, "{text}");
            assert_eq!(tags.judge(&s), fresh, "{text}");
        }
        assert_eq!(
            judge(&start(r#"<attr name=" ENTPersonNom ">"#))
                .name_attr
                .as_deref(),
            Some("ENTPersonNom")
        );
        assert!(judge(&start(r#"<modification name="sn" operation="add">"#)).bad_operation);
        assert!(judge(&start(r#"<attr name="a" name="b">"#)).why.is_some());
        assert!(judge(&start(r#"<attr name="a&b">"#)).why.is_some());
    }

    #[test]
    fn memory_stays_bounded_whatever_the_tags() {
        let mut tags = Tags::default();
        for i in 0..MAX_TAGS + 10 {
            let text = format!(r#"<attr name="n{i}">"#);
            let s = start(&text);
            assert_eq!(tags.judge(&s).name_attr, Some(format!("n{i}")));
        }
        let long = format!(r#"<attr name="{}">"#, "x".repeat(MAX_TAG_LEN));
        let mut few = Tags::default();
        few.judge(&start(&long));
        assert_eq!((tags.0.len(), few.0.len()), (MAX_TAGS, 0));
    }
}
