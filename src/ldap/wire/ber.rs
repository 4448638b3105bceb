//! The small BER reader of the wire search: definite lengths only, each
//! element checked against the bytes around it, decoding LDAP messages in
//! place (slices of the connection's buffer, never a copy). Only what a
//! paged search needs is understood: the message envelope, a
//! `SearchResultEntry`, an `LDAPResult` (bind, search done, extended) and
//! the paged-results control of a `SearchResultDone`. Anything else the
//! server sends is refused with a [`BerError`]; no input makes it panic or
//! loop (every step consumes at least a tag and a length byte).

/// Why bytes from the server were refused. Carries no value of the entry
/// (personal data stays out of errors): only the shape that was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BerError(pub String);

impl std::fmt::Display for BerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed LDAP message: {}", self.0)
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, BerError> {
    Err(BerError(why.into()))
}

/// Universal and LDAP tags (RFC 4511), as the one identifier byte they
/// take (every tag LDAP uses is below 31).
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const ENUMERATED: u8 = 0x0a;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    pub const BIND_RESPONSE: u8 = 0x61;
    pub const SEARCH_ENTRY: u8 = 0x64;
    pub const SEARCH_DONE: u8 = 0x65;
    pub const SEARCH_REFERENCE: u8 = 0x73;
    pub const EXTENDED_RESPONSE: u8 = 0x78;
    /// `[0]` constructed: the controls of a message.
    pub const CONTROLS: u8 = 0xa0;
}

/// A cursor over the content of one constructed element.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

/// The header of one element: its identifier byte, the header length and
/// the content length.
fn header(b: &[u8]) -> Result<Option<(u8, usize, usize)>, BerError> {
    let (Some(&id), Some(&first)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if id & 0x1f == 0x1f {
        return bad("multi-byte tag");
    }
    if first < 0x80 {
        return Ok(Some((id, 2, usize::from(first))));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 {
        return bad("indefinite length");
    }
    if n > 4 {
        return bad(format!("length of {n} bytes"));
    }
    let Some(bytes) = b.get(2..2 + n) else {
        return Ok(None);
    };
    let len = bytes
        .iter()
        .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
    Ok(Some((id, 2 + n, len)))
}

/// The total length of the LDAP message at the front of `b` (header and
/// content), `None` while its header is incomplete. Refuses what is not
/// an `LDAPMessage` (a SEQUENCE) and a message longer than `max`.
pub fn message_len(b: &[u8], max: usize) -> Result<Option<usize>, BerError> {
    let Some((id, h, len)) = header(b)? else {
        return Ok(None);
    };
    if id != tag::SEQUENCE {
        return bad(format!("message starts with tag {id:#04x}"));
    }
    if len > max {
        return bad(format!("message of {len} bytes (at most {max} accepted)"));
    }
    h.checked_add(len)
        .map(Some)
        .ok_or_else(|| BerError("message length out of range".into()))
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { rest: b }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element: its identifier and its content.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let Some((id, h, len)) = header(self.rest)? else {
            return bad("element cut short");
        };
        let end = h.checked_add(len);
        let (Some(content), Some(rest)) = (
            end.and_then(|e| self.rest.get(h..e)),
            end.and_then(|e| self.rest.get(e..)),
        ) else {
            return bad("element longer than what holds it");
        };
        self.rest = rest;
        Ok((id, content))
    }

    /// The next element, which must be `want`: its content.
    pub fn expect(&mut self, want: u8, what: &str) -> Result<&'a [u8], BerError> {
        let (id, content) = self
            .any()
            .map_err(|e| BerError(format!("{what}: {}", e.0)))?;
        if id != want {
            return bad(format!("{what}: tag {id:#04x}, expected {want:#04x}"));
        }
        Ok(content)
    }

    /// The next element, which must be constructed `want`: a reader of it.
    pub fn nested(&mut self, want: u8, what: &str) -> Result<Reader<'a>, BerError> {
        self.expect(want, what).map(Reader::new)
    }

    /// The next element when it is `want`, else nothing (and nothing read).
    pub fn optional(&mut self, want: u8) -> Result<Option<&'a [u8]>, BerError> {
        match self.rest.first() {
            Some(&id) if id == want => self.expect(want, "optional").map(Some),
            _ => Ok(None),
        }
    }

    /// A non-negative INTEGER or ENUMERATED (message ids, result codes,
    /// page sizes) that fits in 32 bits.
    pub fn uint(&mut self, want: u8, what: &str) -> Result<u32, BerError> {
        let b = self.expect(want, what)?;
        let Some((&first, _)) = b.split_first() else {
            return bad(format!("{what}: empty integer"));
        };
        if first & 0x80 != 0 {
            return bad(format!("{what}: negative"));
        }
        let digits = if first == 0 { &b[1..] } else { b };
        if digits.len() > 4 {
            return bad(format!("{what}: out of range"));
        }
        Ok(digits
            .iter()
            .fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    }

    /// An OCTET STRING that must be UTF-8 (DNs, names, messages).
    pub fn text(&mut self, what: &str) -> Result<&'a str, BerError> {
        let b = self.expect(tag::OCTET_STRING, what)?;
        std::str::from_utf8(b).or_else(|_| bad(format!("{what}: not UTF-8")))
    }

    /// Nothing must be left.
    pub fn end(&self, what: &str) -> Result<(), BerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            bad(format!("{what}: {} bytes too many", self.rest.len()))
        }
    }
}

/// One LDAP message, split: its id, its operation (tag and content) and
/// its controls (their content, when any).
pub struct Message<'a> {
    pub id: u32,
    pub op: u8,
    pub body: &'a [u8],
    pub controls: Option<&'a [u8]>,
}

/// Splits the message `b` (exactly one, as [`message_len`] framed it).
pub fn message(b: &[u8]) -> Result<Message<'_>, BerError> {
    let mut outer = Reader::new(b);
    let mut m = outer.nested(tag::SEQUENCE, "message")?;
    outer.end("message")?;
    let id = m.uint(tag::INTEGER, "message id")?;
    let (op, body) = m.any()?;
    let controls = m.optional(tag::CONTROLS)?;
    m.end("message")?;
    Ok(Message {
        id,
        op,
        body,
        controls,
    })
}

/// Decodes a `SearchResultEntry` body: returns its DN and appends its
/// attributes to `spans` (name, range of its values in `vals`), the
/// values to `vals`. An attribute with a value that is not UTF-8 is left
/// out whole, as `ldap3`'s `SearchEntry::construct` puts it aside (none of
/// the managed attributes is binary); a DN or name that is not UTF-8 is
/// malformed.
pub fn entry<'a>(
    body: &'a [u8],
    vals: &mut Vec<&'a str>,
    spans: &mut Vec<(&'a str, usize, usize)>,
) -> Result<&'a str, BerError> {
    let mut r = Reader::new(body);
    let dn = r.text("entry DN")?;
    let mut attrs = r.nested(tag::SEQUENCE, "entry attributes")?;
    r.end("entry")?;
    while !attrs.is_empty() {
        let mut pa = attrs.nested(tag::SEQUENCE, "attribute")?;
        let name = pa.text("attribute name")?;
        let mut set = pa.nested(tag::SET, "attribute values")?;
        pa.end("attribute")?;
        let start = vals.len();
        let mut text = true;
        while !set.is_empty() {
            let v = set.expect(tag::OCTET_STRING, "attribute value")?;
            if text {
                match std::str::from_utf8(v) {
                    Ok(s) => vals.push(s),
                    Err(_) => text = false,
                }
            }
        }
        if text {
            spans.push((name, start, vals.len()));
        } else {
            vals.truncate(start);
        }
    }
    Ok(dn)
}

/// An `LDAPResult` (RFC 4511 4.1.9), borrowed.
#[derive(Debug, PartialEq, Eq)]
pub struct LdapResult<'a> {
    pub code: u32,
    pub matched: &'a str,
    pub text: &'a str,
}

/// Decodes the `LDAPResult` at the front of a response body; what follows
/// it (a referral, SASL credentials, an extended response's name and
/// value) is checked for shape and left aside.
pub fn result(body: &[u8]) -> Result<LdapResult<'_>, BerError> {
    let mut r = Reader::new(body);
    let code = r.uint(tag::ENUMERATED, "result code")?;
    let matched = r.expect(tag::OCTET_STRING, "matched DN")?;
    let text = r.expect(tag::OCTET_STRING, "diagnostic message")?;
    while !r.is_empty() {
        r.any()?;
    }
    Ok(LdapResult {
        code,
        // a server's message is shown, never trusted: lossy is enough
        matched: std::str::from_utf8(matched).unwrap_or("(not UTF-8)"),
        text: std::str::from_utf8(text).unwrap_or("(not UTF-8)"),
    })
}

/// The OID of the Simple Paged Results control (RFC 2696).
pub const PAGED_OID: &str = "1.2.840.113556.1.4.319";

/// The cookie of the paged-results control among `controls` (empty: the
/// last page); `None` when the server sent no such control.
pub fn paged_cookie(controls: &[u8]) -> Result<Option<&[u8]>, BerError> {
    let mut list = Reader::new(controls);
    while !list.is_empty() {
        let mut c = list.nested(tag::SEQUENCE, "control")?;
        let oid = c.expect(tag::OCTET_STRING, "control type")?;
        c.optional(tag::BOOLEAN)?;
        let value = c.optional(tag::OCTET_STRING)?;
        c.end("control")?;
        if oid != PAGED_OID.as_bytes() {
            continue;
        }
        let Some(value) = value else {
            return bad("paged results control without a value");
        };
        let mut outer = Reader::new(value);
        let mut v = outer.nested(tag::SEQUENCE, "paged results value")?;
        outer.end("paged results value")?;
        v.uint(tag::INTEGER, "paged results size")?;
        let cookie = v.expect(tag::OCTET_STRING, "paged results cookie")?;
        v.end("paged results value")?;
        return Ok(Some(cookie));
    }
    Ok(None)
}
