//! The requests of the wire search, encoded in BER: a simple bind, the
//! StartTLS extended request, one page of a subtree search with the
//! paged-results control, and the unbind. The filter is parsed by `ldap3`
//! (RFC 4515, the same parser the rest of the sync uses) and only written
//! out here.

use super::ber::{tag, PAGED_OID};
use ldap3::asn1::{StructureTag, TagClass, PL};

/// The OID of the StartTLS extended operation (RFC 4511 4.14).
pub const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";

/// Writes the identifier and length of an element.
pub(super) fn head(out: &mut Vec<u8>, id: &[u8], len: usize) {
    out.extend_from_slice(id);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Writes one element whose content `body` writes.
fn element(out: &mut Vec<u8>, id: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    head(out, &[id], inner.len());
    out.extend_from_slice(&inner);
}

fn octets(out: &mut Vec<u8>, id: u8, b: &[u8]) {
    head(out, &[id], b.len());
    out.extend_from_slice(b);
}

fn integer(out: &mut Vec<u8>, id: u8, n: u32) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut digits = bytes[skip..].to_vec();
    if digits[0] & 0x80 != 0 {
        digits.insert(0, 0);
    }
    octets(out, id, &digits);
}

/// Writes a tag built by `ldap3` (the parsed filter).
pub(super) fn structure(out: &mut Vec<u8>, t: &StructureTag) {
    let class = match t.class {
        TagClass::Universal => 0x00,
        TagClass::Application => 0x40,
        TagClass::Context => 0x80,
        TagClass::Private => 0xc0,
    };
    let constructed = matches!(t.payload, PL::C(_));
    let mut id = vec![class | if constructed { 0x20 } else { 0 }];
    if t.id < 31 {
        id[0] |= t.id as u8;
    } else {
        id[0] |= 0x1f;
        let mut groups = Vec::new();
        let mut n = t.id;
        loop {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().enumerate().rev() {
            id.push(if i > 0 { g | 0x80 } else { *g });
        }
    }
    match &t.payload {
        PL::P(b) => {
            head(out, &id, b.len());
            out.extend_from_slice(b);
        }
        PL::C(parts) => {
            let mut inner = Vec::new();
            for p in parts {
                structure(&mut inner, p);
            }
            head(out, &id, inner.len());
            out.extend_from_slice(&inner);
        }
    }
}

/// An `LDAPMessage` with id `id` around the operation `op` writes.
fn message(id: u32, op: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    element(&mut out, tag::SEQUENCE, |m| {
        integer(m, tag::INTEGER, id);
        op(m);
    });
    out
}

/// A simple bind (RFC 4511 4.2), LDAPv3.
pub fn bind(id: u32, dn: &str, password: &str) -> Vec<u8> {
    message(id, |m| {
        element(m, 0x60, |b| {
            integer(b, tag::INTEGER, 3);
            octets(b, tag::OCTET_STRING, dn.as_bytes());
            octets(b, 0x80, password.as_bytes());
        })
    })
}

/// The StartTLS extended request.
pub fn starttls(id: u32) -> Vec<u8> {
    message(id, |m| {
        element(m, 0x77, |x| octets(x, 0x80, STARTTLS_OID.as_bytes()))
    })
}

/// The unbind request.
pub fn unbind(id: u32) -> Vec<u8> {
    message(id, |m| octets(m, 0x42, &[]))
}

/// A parsed search filter, ready to be written into each page's request.
pub struct Filter(pub(super) Vec<u8>);

impl Filter {
    /// Parses an RFC 4515 filter with `ldap3`'s parser; `None` if invalid.
    pub fn parse(filter: &str) -> Option<Filter> {
        use ldap3::asn1::ASNTag;
        let t = ldap3::parse_filter(filter).ok()?.into_structure();
        let mut out = Vec::new();
        structure(&mut out, &t);
        Some(Filter(out))
    }
}

/// How far under its base a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base entry only.
    Base = 0,
    /// The base and everything under it.
    Subtree = 2,
}

/// One page of a search under `base` (aliases never dereferenced, no size
/// or time limit but the server's, values wanted), with the paged-results
/// control: `size` entries after `cookie` (empty: the first page). The
/// control is not critical, as `ldap3`'s and `ldapsearch`'s: a server that
/// does not page answers the whole search at once.
pub fn search(
    id: u32,
    base: &str,
    scope: Scope,
    filter: &Filter,
    attrs: &[String],
    size: u32,
    cookie: &[u8],
) -> Vec<u8> {
    message(id, |m| {
        element(m, 0x63, |s| {
            octets(s, tag::OCTET_STRING, base.as_bytes());
            integer(s, tag::ENUMERATED, scope as u32);
            integer(s, tag::ENUMERATED, 0); // neverDerefAliases
            integer(s, tag::INTEGER, 0);
            integer(s, tag::INTEGER, 0);
            octets(s, tag::BOOLEAN, &[0]);
            s.extend_from_slice(&filter.0);
            element(s, tag::SEQUENCE, |a| {
                for name in attrs {
                    octets(a, tag::OCTET_STRING, name.as_bytes());
                }
            });
        });
        element(m, tag::CONTROLS, |cs| {
            element(cs, tag::SEQUENCE, |c| {
                octets(c, tag::OCTET_STRING, PAGED_OID.as_bytes());
                let mut value = Vec::new();
                element(&mut value, tag::SEQUENCE, |v| {
                    integer(v, tag::INTEGER, size);
                    octets(v, tag::OCTET_STRING, cookie);
                });
                octets(c, tag::OCTET_STRING, &value);
            });
        });
    })
}
