//! The event loop: quick-xml's events, one at a time, turned into records,
//! rejected records or the fatal error of a file that is not well-formed.

use super::messages::{describe_char, describe_xml_error, element};
use super::record::{end_inner, start_inner, text_into, Builder};
use super::values::forbidden_char;
use super::wellformed::{not_xml_char, reference_well_formed, text_outside_record};
use super::{parse_header_comment, Operation, ReadItem, RecordReader};
use crate::aaf::{entities, AafError};
use quick_xml::events::Event;

impl RecordReader {
    /// The next record, rejected record, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<ReadItem>, AafError> {
        let mut b: Option<Builder> = None;
        loop {
            let pos = self.reader.buffer_position();
            self.buf.clear();
            let ev = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => {
                    let at = self.reader.error_position();
                    return Err(self.not_well_formed(at, describe_xml_error(&e)));
                }
            };
            let first_event = !self.started;
            self.started = true;
            match ev {
                Event::Start(ref s) | Event::Empty(ref s) => {
                    // quick-xml checks tags loosely: the rest of the
                    // reader relies on names and attributes being XML
                    let tag = self.tags.judge(s);
                    if let Some(why) = tag.why {
                        return Err(self.not_well_formed(pos, why.into()));
                    }
                    let (name_attr, bad_operation) = (tag.name_attr, tag.bad_operation);
                    let empty = matches!(ev, Event::Empty(_));
                    let mut name = self.spare.pop().unwrap_or_default();
                    name.clear();
                    name.push_str(s.name().as_ref());
                    let depth = self.stack.len();
                    if depth == 0 {
                        if self.seen_root {
                            return Err(self.not_well_formed(pos, "a second root element".into()));
                        }
                        self.seen_root = true;
                        if name != "ficAlimMENESR" {
                            return Err(self.not_well_formed(
                                pos,
                                format!(
                                    "root element is {}, expected <ficAlimMENESR>",
                                    element(&name)
                                ),
                            ));
                        }
                    } else if depth == 1 {
                        self.index += 1;
                        let mut nb = Builder {
                            attrs: Vec::with_capacity(self.attrs_hint),
                            ..Builder::default()
                        };
                        nb.op = match name.as_str() {
                            "addRequest" => Some(Operation::Add),
                            "modifyRequest" => Some(Operation::Modify),
                            "deleteRequest" => Some(Operation::Delete),
                            _ => {
                                nb.fail(None, format!("unexpected element {}", element(&name)));
                                None
                            }
                        };
                        b = Some(nb);
                    } else if let Some(nb) = b.as_mut() {
                        start_inner(nb, &self.stack, &name, name_attr);
                        if bad_operation {
                            let field = nb.current.as_ref().map(|c| c.1.name.clone());
                            nb.fail(
                                field.as_deref(),
                                "a modification whose operation is not \"replace\", the only \
                                 one the format defines"
                                    .into(),
                            );
                        }
                    }
                    if empty {
                        // an empty element is its own end
                        if let Some(nb) = b.as_mut() {
                            if depth >= 2 {
                                end_inner(nb, &name);
                            }
                        }
                        self.spare.push(name);
                        if depth == 1 {
                            return Ok(Some(self.finish_sized(b.take().unwrap_or_default())));
                        }
                        if depth == 0 {
                            // <ficAlimMENESR/>: an empty file
                            continue;
                        }
                    } else {
                        self.stack.push(name);
                    }
                }
                Event::End(_) => {
                    let name = self.stack.pop().unwrap_or_default();
                    let depth = self.stack.len();
                    if depth >= 2 {
                        if let Some(nb) = b.as_mut() {
                            end_inner(nb, &name);
                        }
                    }
                    self.spare.push(name);
                    if depth == 1 {
                        return Ok(Some(self.finish_sized(b.take().unwrap_or_default())));
                    }
                }
                Event::Text(t) => {
                    // quick-xml does not look for the CDATA end in text: a
                    // literal `]]>` in content is not well-formed (XML 1.0
                    // §2.4), the mark of a file cut or spliced by hand
                    if let Some(i) = t.find("]]>") {
                        return Err(self.not_well_formed(
                            pos + i as u64,
                            "]]> in character data, where it may only end a CDATA section".into(),
                        ));
                    }
                    if b.is_none() {
                        // outside any record nothing is read, so nothing
                        // can be rejected: a character XML does not allow
                        // (or any text at all, outside the root) is the file's
                        if let Some(why) = text_outside_record(t.as_bytes(), self.stack.is_empty())
                        {
                            return Err(self.not_well_formed(pos, why.into()));
                        }
                    }
                    // borrowed from the buffer: no copy of the text (nor of
                    // the indentation between elements)
                    let text = t.xml10_content();
                    let r = text_into(&mut b, &text, self.stack.is_empty());
                    self.text_refused(r, pos)?;
                }
                Event::CData(t) => {
                    if self.stack.is_empty() {
                        return Err(self.not_well_formed(
                            pos,
                            "a CDATA section outside the root element".into(),
                        ));
                    }
                    let text = t.into_inner();
                    let r = text_into(&mut b, &text, self.stack.is_empty());
                    self.text_refused(r, pos)?;
                }
                Event::GeneralRef(r) => {
                    // a reference is content: outside the root it is not XML
                    // (even `&#32;`, which `text_into` would take for a blank)
                    if self.stack.is_empty() {
                        return Err(self
                            .not_well_formed(pos, "a reference outside the root element".into()));
                    }
                    // `& CO;` or `&#x;`: quick-xml takes anything up to the
                    // `;` for a reference; a bare `&` is markup gone wrong
                    if !reference_well_formed(r.as_bytes()) {
                        return Err(self.not_well_formed(
                            pos,
                            "a '&' that starts no reference, in text".into(),
                        ));
                    }
                    let name = r.xml10_content();
                    match entities::resolve(&name).filter(|c| forbidden_char(*c).is_none()) {
                        Some(c) => {
                            let r = text_into(
                                &mut b,
                                c.encode_utf8(&mut [0; 4]),
                                self.stack.is_empty(),
                            );
                            self.text_refused(r, pos)?;
                        }
                        // a declared entity (never expanded), an unknown
                        // name, or a reference to a control character: the
                        // value cannot be read as the académie meant it
                        None => {
                            if let Some(nb) = b.as_mut() {
                                let field = nb.current.as_ref().map(|c| c.1.name.clone());
                                let reason = match entities::resolve(&name) {
                                    Some(c) => format!(
                                        "character reference to {}, not allowed in a value",
                                        describe_char(c)
                                    ),
                                    None => "an entity reference that is not a known character \
                                             entity (declared entities are never expanded)"
                                        .to_string(),
                                };
                                nb.fail(field.as_deref(), reason);
                            } else if self.stack.is_empty() {
                                return Err(self.not_well_formed(
                                    pos,
                                    "entity reference outside the root element".into(),
                                ));
                            }
                        }
                    }
                }
                Event::Comment(c) => {
                    if not_xml_char(c.as_bytes()) {
                        return Err(self.not_well_formed(
                            pos,
                            "a character XML does not allow, in a comment".into(),
                        ));
                    }
                    if self.index == 0 {
                        parse_header_comment(&c.xml10_content(), &mut self.header);
                    }
                }
                // quick-xml takes these wherever they come; XML 1.0 §2.8
                // allows one declaration, first, and one DOCTYPE, before
                // the root
                Event::Decl(_) if !first_event => {
                    return Err(self.not_well_formed(
                        pos,
                        "an XML declaration that is not at the very start of the file".into(),
                    ));
                }
                Event::DocType(_) if self.seen_root || self.seen_doctype => {
                    return Err(self.not_well_formed(
                        pos,
                        "a DOCTYPE after the root element or a second DOCTYPE".into(),
                    ));
                }
                Event::DocType(_) => self.seen_doctype = true,
                Event::PI(p) if p.target().eq_ignore_ascii_case("xml") => {
                    return Err(self.not_well_formed(
                        pos,
                        "a processing instruction named xml (reserved)".into(),
                    ));
                }
                Event::Decl(_) | Event::PI(_) => {}
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.not_well_formed(
                            pos,
                            format!("unexpected end of file inside <{open}>"),
                        ));
                    }
                    if !self.seen_root {
                        return Err(self.not_well_formed(pos, "no root element".into()));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// A text [`text_into`] refused is a fatal error of the file.
    fn text_refused(&self, r: Result<(), &'static str>, pos: u64) -> Result<(), AafError> {
        r.map_err(|reason| self.not_well_formed(pos, reason.into()))
    }
}
