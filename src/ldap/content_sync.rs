//! The content synchronization operation (RFC 4533, slapd's `syncprov`
//! overlay) as the incremental read uses it: one refreshOnly search, with
//! the cookie of the last read or none, whose answer is what changed since
//! (entries added or modified, entries deleted or gone out of the read's
//! scope, by `entryUUID`) and the cookie to start from next time.
//!
//! The sync controls and the Sync Info message are decoded here rather
//! than by `ldap3`'s parsers, which panic on a value they do not expect: a
//! malformed answer is an error, and the run falls back to a full read.

use super::read::{decode_entry, read_attrs, read_filter};
use super::{op_err, Directory, DirectoryError};
use crate::mapping::layout::Layout;
use crate::model::Entry;
use ldap3::asn1::{parse_tag, StructureTag, TagClass, PL};
use ldap3::controls::{RefreshMode, SyncRequest};
use ldap3::{ResultEntry, Scope};
use std::collections::HashSet;

const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
/// e-syncRefreshRequired: the server cannot tell what changed since this
/// cookie, the client must read everything again.
const REFRESH_REQUIRED: u32 = 4096;

/// What a refresh returned.
#[derive(Debug, Default)]
pub(super) struct Refresh {
    /// Entries added or modified since the cookie (or, in a present
    /// phase, every entry the server did not list as present), with their
    /// `entryUUID`.
    pub upserts: Vec<(String, Entry)>,
    /// `entryUUID`s of entries deleted or gone out of scope.
    pub deletes: Vec<String>,
    /// `entryUUID`s the server listed as present (unchanged).
    pub present: HashSet<String>,
    /// False: a present phase — every entry neither listed as present nor
    /// sent again is gone (RFC 4533 §3.3.1).
    pub refresh_deletes: bool,
    /// The cookie to start from next time (`None`: the server sent none).
    pub cookie: Option<Vec<u8>>,
}

/// Why a refresh gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum RefreshError {
    /// The server asks for a full read (e-syncRefreshRequired).
    #[error("the server asks for a full refresh (e-syncRefreshRequired)")]
    Required,
    /// The server does not offer content synchronization, refused the
    /// request, or answered something this reader cannot decode.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The text form of a 16-byte UUID, as slapd writes `entryUUID`.
pub(super) fn uuid_text(b: &[u8]) -> Option<String> {
    if b.len() != 16 {
        return None;
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn prim(t: &StructureTag) -> Option<&[u8]> {
    match &t.payload {
        PL::P(b) => Some(b),
        PL::C(_) => None,
    }
}

fn cons(t: &StructureTag) -> Option<&[StructureTag]> {
    match &t.payload {
        PL::C(v) => Some(v),
        PL::P(_) => None,
    }
}

fn parse(val: &[u8]) -> Option<StructureTag> {
    parse_tag(val).ok().map(|(_, t)| t)
}

fn is_universal(t: &StructureTag, id: u64) -> bool {
    t.class == TagClass::Universal && t.id == id
}

const OCTET_STRING: u64 = 4;
const BOOLEAN: u64 = 1;
const ENUMERATED: u64 = 10;
const SET: u64 = 17;

/// The Sync State control: (state, entryUUID). States: 0 present, 1 add,
/// 2 modify, 3 delete.
pub(super) fn parse_state(val: &[u8]) -> Option<(u8, String)> {
    let t = parse(val)?;
    let parts = cons(&t)?;
    let state = parts.first().filter(|t| is_universal(t, ENUMERATED))?;
    let state = match prim(state)? {
        [s] if *s <= 3 => *s,
        _ => return None,
    };
    let uuid = parts.get(1).filter(|t| is_universal(t, OCTET_STRING))?;
    Some((state, uuid_text(prim(uuid)?)?))
}

/// The Sync Done control: (cookie, refreshDeletes).
pub(super) fn parse_done(val: &[u8]) -> Option<(Option<Vec<u8>>, bool)> {
    let t = parse(val)?;
    let (mut cookie, mut deletes) = (None, false);
    for p in cons(&t)? {
        if is_universal(p, OCTET_STRING) {
            cookie = Some(prim(p)?.to_vec());
        } else if is_universal(p, BOOLEAN) {
            deletes = prim(p)?.first().is_some_and(|b| *b != 0);
        } else {
            return None;
        }
    }
    Some((cookie, deletes))
}

/// A Sync Info message, as far as a refreshOnly read needs it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Info {
    /// A new cookie, or the end of a phase (its cookie, if any).
    Cookie(Option<Vec<u8>>),
    /// A set of entryUUIDs: deleted (`true`) or present (`false`).
    IdSet {
        cookie: Option<Vec<u8>>,
        deletes: bool,
        uuids: Vec<String>,
    },
}

/// Decodes the value of a Sync Info intermediate response.
pub(super) fn parse_info(re: &ResultEntry) -> Option<Info> {
    let value = cons(&re.0)?
        .iter()
        .find(|t| t.class == TagClass::Context && t.id == 1)?;
    let v = parse(prim(value)?)?;
    if v.class != TagClass::Context {
        return None;
    }
    match v.id {
        0 => Some(Info::Cookie(Some(prim(&v)?.to_vec()))),
        1 | 2 => {
            let cookie = cons(&v)?
                .iter()
                .find(|t| is_universal(t, OCTET_STRING))
                .and_then(prim)
                .map(<[u8]>::to_vec);
            Some(Info::Cookie(cookie))
        }
        3 => {
            let (mut cookie, mut deletes, mut uuids) = (None, false, Vec::new());
            for p in cons(&v)? {
                if is_universal(p, OCTET_STRING) {
                    cookie = Some(prim(p)?.to_vec());
                } else if is_universal(p, BOOLEAN) {
                    deletes = prim(p)?.first().is_some_and(|b| *b != 0);
                } else if is_universal(p, SET) {
                    for u in cons(p)? {
                        uuids.push(uuid_text(prim(u)?)?);
                    }
                } else {
                    return None;
                }
            }
            Some(Info::IdSet {
                cookie,
                deletes,
                uuids,
            })
        }
        _ => None,
    }
}

impl Directory {
    /// The cookie of the directory as it is now: a refreshOnly search of
    /// the base entry alone. Taken just before a full read, it names a
    /// state that read holds all of (what changes meanwhile is sent again
    /// by the next refresh, which is harmless).
    pub(super) async fn sync_cookie(&self, layout: &Layout) -> Result<Vec<u8>, RefreshError> {
        let r = self.refresh_at(layout, Scope::Base, None).await?;
        r.cookie
            .filter(|c| !c.is_empty())
            .ok_or_else(|| RefreshError::Refused("the server sent no sync cookie".into()))
    }

    /// What changed under the base, in the read's scope, since `cookie`.
    pub(super) async fn refresh(
        &self,
        layout: &Layout,
        cookie: Vec<u8>,
    ) -> Result<Refresh, RefreshError> {
        self.refresh_at(layout, Scope::Subtree, Some(cookie)).await
    }

    async fn refresh_at(
        &self,
        layout: &Layout,
        scope: Scope,
        cookie: Option<Vec<u8>>,
    ) -> Result<Refresh, RefreshError> {
        let (filter, attrs) = match scope {
            Scope::Base => ("(objectClass=*)".to_string(), vec!["1.1".to_string()]),
            _ => (read_filter(layout), read_attrs()),
        };
        let what = || format!("content synchronization of {}", layout.base);
        let bad = |why: &str| RefreshError::Refused(format!("{}: {why}", what()));
        let mut l = self.conn(0).await;
        let request = SyncRequest {
            mode: RefreshMode::RefreshOnly,
            cookie,
            reload_hint: false,
        };
        let mut s = l
            .with_controls(request)
            .streaming_search(layout.base.as_str(), scope, &filter, attrs)
            .await
            .map_err(|e| op_err(what(), e).at(&layout.base))?;
        let mut out = Refresh::default();
        let base_only = matches!(scope, Scope::Base);
        let bar =
            (!base_only).then(|| crate::host::progress::Progress::new("refresh", "entries", None));
        loop {
            let re = match s.next().await {
                Ok(Some(re)) => re,
                Ok(None) => break,
                Err(e) => return Err(op_err(what(), e).at(&layout.base).into()),
            };
            if let Some(b) = &bar {
                b.inc(1);
            }
            if re.is_intermediate() {
                match parse_info(&re).ok_or_else(|| bad("malformed Sync Info message"))? {
                    Info::Cookie(c) => out.cookie = c.or(out.cookie.take()),
                    Info::IdSet {
                        cookie,
                        deletes,
                        uuids,
                    } => {
                        out.cookie = cookie.or(out.cookie.take());
                        match deletes {
                            true => out.deletes.extend(uuids),
                            false => out.present.extend(uuids),
                        }
                    }
                }
                continue;
            }
            if re.is_ref() || base_only {
                continue;
            }
            let state =
                re.1.iter()
                    .find(|c| c.1.ctype == SYNC_STATE_OID)
                    .and_then(|c| c.1.val.as_deref())
                    .and_then(parse_state)
                    .ok_or_else(|| bad("an entry without a valid Sync State control"))?;
            match state {
                (0, uuid) => {
                    out.present.insert(uuid);
                }
                (3, uuid) => out.deletes.push(uuid),
                (_, uuid) => {
                    let (e, _) =
                        decode_entry(&re).ok_or_else(|| bad("malformed search result entry"))?;
                    out.upserts.push((uuid, e));
                }
            }
        }
        let done = s.finish().await;
        if done.rc == REFRESH_REQUIRED {
            return Err(RefreshError::Required);
        }
        let done = done
            .success()
            .map_err(|e| RefreshError::Refused(format!("{}: {e}", what())))?;
        let (cookie, deletes) = done
            .ctrls
            .iter()
            .find(|c| c.1.ctype == SYNC_DONE_OID)
            .map(|c| parse_done(c.1.val.as_deref().unwrap_or_default()))
            .ok_or_else(|| {
                bad("no Sync Done control: the server does not offer content synchronization here")
            })?
            .ok_or_else(|| bad("malformed Sync Done control"))?;
        out.cookie = cookie.or(out.cookie.take());
        out.refresh_deletes = deletes;
        if let Some(b) = bar {
            b.finish();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
    ];
    const UT: &str = "12345678-9abc-def0-0001-020304050607";

    fn with(head: &[u8], tail: &[u8]) -> Vec<u8> {
        [head, &U, tail].concat()
    }

    #[test]
    fn decodes_the_sync_controls_and_refuses_what_it_does_not_expect() {
        // SEQUENCE { ENUMERATED delete, OCTET STRING uuid }
        let state = with(b"\x30\x15\x0a\x01\x03\x04\x10", b"");
        assert_eq!(parse_state(&state), Some((3, UT.to_string())));
        assert_eq!(parse_state(&state[..state.len() - 2]), None);
        assert_eq!(parse_state(b"\x30\x00"), None);
        // a state out of range, a UUID of the wrong size
        assert_eq!(
            parse_state(&with(b"\x30\x15\x0a\x01\x07\x04\x10", b"")),
            None
        );
        assert_eq!(parse_state(b"\x30\x06\x0a\x01\x01\x04\x01\x00"), None);
        // SEQUENCE { cookie, refreshDeletes TRUE }
        let done = b"\x30\x12\x04\x0drid=000,csn=x\x01\x01\xff";
        assert_eq!(
            parse_done(done),
            Some((Some(b"rid=000,csn=x".to_vec()), true))
        );
        assert_eq!(parse_done(b"\x30\x00"), Some((None, false)));
        assert_eq!(parse_done(b"\x30\x02\x02\x00"), None);
        assert_eq!(uuid_text(&U[..15]), None);
    }

    fn info(value: Vec<u8>) -> ResultEntry {
        ResultEntry::new(StructureTag {
            class: TagClass::Application,
            id: 25,
            payload: PL::C(vec![StructureTag {
                class: TagClass::Context,
                id: 1,
                payload: PL::P(value),
            }]),
        })
    }

    #[test]
    fn decodes_a_sync_id_set() {
        // [3] { refreshDeletes TRUE, SET { uuid } }
        let value = with(b"\xa3\x17\x01\x01\xff\x31\x12\x04\x10", b"");
        assert_eq!(
            parse_info(&info(value)),
            Some(Info::IdSet {
                cookie: None,
                deletes: true,
                uuids: vec![UT.to_string()]
            })
        );
        assert_eq!(
            parse_info(&info(b"\x80\x03abc".to_vec())),
            Some(Info::Cookie(Some(b"abc".to_vec())))
        );
        assert_eq!(parse_info(&info(vec![0xa7, 0x00])), None);
        assert_eq!(parse_info(&info(vec![0xa3, 0x02, 0x02, 0x00])), None);
    }
}
