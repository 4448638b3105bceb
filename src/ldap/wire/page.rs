//! One page of the wire search decoded from the connection's buffer: the
//! whole messages it holds, each entry handed to the caller as borrowed
//! [`Attrs`], up to the page's `SearchResultDone` (its code, its cookie).

use super::ber::{self, tag, BerError};
use super::MAX_MESSAGE;

/// The values of one attribute, borrowed from the connection's buffer:
/// a slice of `&str` (`Deref`), and an iterator of `&str` as
/// [`Entry::from_attrs`](crate::model::Entry::from_attrs) takes it.
#[derive(Debug, Clone, Copy)]
pub struct Values<'e>(&'e [&'e str]);

impl<'e> std::ops::Deref for Values<'e> {
    type Target = [&'e str];
    fn deref(&self) -> &[&'e str] {
        self.0
    }
}

impl<'e> IntoIterator for Values<'e> {
    type Item = &'e str;
    type IntoIter = std::iter::Copied<std::slice::Iter<'e, &'e str>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().copied()
    }
}

/// The attributes of one entry, in the order the server sent them: (name,
/// values). An attribute with a value that is not UTF-8 is not there
/// (as `read.rs`'s `decode_entry` leaves it out).
#[derive(Debug, Clone)]
pub struct Attrs<'e> {
    spans: std::slice::Iter<'e, (&'e str, usize, usize)>,
    vals: &'e [&'e str],
}

impl<'e> Iterator for Attrs<'e> {
    type Item = (&'e str, Values<'e>);
    fn next(&mut self) -> Option<Self::Item> {
        let &(name, from, to) = self.spans.next()?;
        Some((name, Values(self.vals.get(from..to).unwrap_or_default())))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Attrs<'_> {}

impl<'e> Attrs<'e> {
    /// The non-empty values of every attribute named `attr` (ASCII case
    /// aside), as an entry built of them holds them.
    fn named<'a>(&self, attr: &'a str) -> impl Iterator<Item = &'e str> + use<'e, 'a> {
        self.clone()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(attr))
            .flat_map(|(_, vs)| vs)
            .filter(|v| !v.is_empty())
    }
}

/// What an [`Entry`](crate::model::Entry) built of these attributes
/// answers, without building it (a walk of the whole tree asks a few
/// questions of each of 1.5 M entries). `first` is the server's first
/// value, an entry's the smallest: the same for the single-valued
/// attributes it is asked of.
impl crate::schema::Attributes for Attrs<'_> {
    fn first(&self, attr: &str) -> Option<&str> {
        self.named(attr).next()
    }
    fn has_value(&self, attr: &str, value: &str) -> bool {
        self.named(attr).any(|v| v.eq_ignore_ascii_case(value))
    }
    fn has_values(&self, attr: &str, values: &[&str]) -> u32 {
        let mut found = 0;
        for v in self.named(attr) {
            for (i, want) in values.iter().take(32).enumerate() {
                if v.eq_ignore_ascii_case(want) {
                    found |= 1 << i;
                }
            }
        }
        found
    }
}

/// How a page ended.
pub(super) enum Done {
    /// Successfully: the cookie of the next page (empty: none).
    Page(Vec<u8>),
    /// With an error code, as `ldap3` renders it.
    Refused(ldap3::LdapError),
}

/// An `LDAPResult` as `ldap3`'s error, so that refusals read (and class)
/// the same whichever reader met them.
pub(super) fn ldap3_error(r: &ber::LdapResult<'_>) -> ldap3::LdapError {
    ldap3::LdapError::LdapResult {
        result: ldap3::LdapResult {
            rc: r.code,
            matched: r.matched.to_string(),
            text: r.text.to_string(),
            refs: vec![],
            ctrls: vec![],
        },
    }
}

/// Refuses a message that does not answer operation `id`: a notice of
/// disconnection (id 0) or another operation's answer.
pub(super) fn answers(m: &ber::Message<'_>, id: u32) -> Result<(), String> {
    if m.id == id {
        return Ok(());
    }
    if m.id == 0 && m.op == tag::EXTENDED_RESPONSE {
        let why = ber::result(m.body)
            .map(|r| format!("{}", ldap3_error(&r)))
            .unwrap_or_else(|e| e.to_string());
        return Err(format!("the server ended the connection: {why}"));
    }
    Err(format!("answer to message {}, expected {id}", m.id))
}

/// What the buffer held: the page's end, or the need of more bytes (at
/// least this many from the first undecoded one).
pub(super) enum Step {
    Done(Done),
    More(usize),
}

/// Decodes the whole messages at the front of `data`: how many bytes they
/// took, and whether the page ended.
#[cfg(test)]
pub(super) fn decode_batch(
    data: &[u8],
    id: u32,
    count: &mut u64,
    on_entry: &mut impl FnMut(&str, Attrs<'_>),
) -> Result<(usize, Step), String> {
    let mut smallest = usize::MAX;
    decode_batch_sized(data, id, count, &mut smallest, on_entry)
}

/// [`decode_batch`], `smallest` lowered to the length of the shortest
/// entry message met (how much a page still to come holds at least).
pub(super) fn decode_batch_sized(
    data: &[u8],
    id: u32,
    count: &mut u64,
    smallest: &mut usize,
    on_entry: &mut impl FnMut(&str, Attrs<'_>),
) -> Result<(usize, Step), String> {
    // sized for most entries: no growth per entry, one allocation a batch
    let mut vals: Vec<&str> = Vec::with_capacity(256);
    let mut spans: Vec<(&str, usize, usize)> = Vec::with_capacity(64);
    let mut used = 0;
    let fail = |e: BerError| e.to_string();
    loop {
        let rest = &data[used..];
        let len = match ber::message_len(rest, MAX_MESSAGE).map_err(fail)? {
            Some(len) if len <= rest.len() => len,
            Some(len) => return Ok((used, Step::More(len))),
            None => return Ok((used, Step::More(16))),
        };
        let m = ber::message(&rest[..len]).map_err(fail)?;
        answers(&m, id)?;
        used += len;
        match m.op {
            tag::SEARCH_ENTRY => {
                vals.clear();
                spans.clear();
                let dn = ber::entry(m.body, &mut vals, &mut spans).map_err(fail)?;
                on_entry(
                    dn,
                    Attrs {
                        spans: spans.iter(),
                        vals: &vals,
                    },
                );
                *count += 1;
                *smallest = (*smallest).min(len);
            }
            tag::SEARCH_REFERENCE => {}
            tag::SEARCH_DONE => {
                let r = ber::result(m.body).map_err(fail)?;
                if r.code != 0 {
                    return Ok((used, Step::Done(Done::Refused(ldap3_error(&r)))));
                }
                let cookie = match m.controls {
                    Some(c) => ber::paged_cookie(c).map_err(fail)?.unwrap_or_default(),
                    None => &[],
                };
                return Ok((used, Step::Done(Done::Page(cookie.to_vec()))));
            }
            other => return Err(format!("unexpected answer tag {other:#04x} in a search")),
        }
    }
}
