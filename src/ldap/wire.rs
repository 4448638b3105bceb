//! A read-only search client for one job: the paged read of a whole tree
//! at the speed of `ldapsearch`. `ldap3` builds a `StructureTag` tree for
//! every message (a `Vec` per tag, a copy of every value) on its
//! connection task, over half the time of a read; here the responses land
//! in one growable buffer and each `SearchResultEntry` is decoded in place
//! by a small BER reader ([`ber`]), its DN, names and values handed to the
//! caller as slices of that buffer. `ldap3` keeps doing everything else
//! (and parses the filter for this one).
//!
//! [`search`] connects (`ldap://`, `ldaps://`, `ldap://` + StartTLS,
//! `ldapi://`; [`transport`]), binds simply, runs one paged subtree search
//! ([`request`]) and returns only when the server said the search is done
//! and successful: a refusal is a [`DirectoryError`] with its code, a
//! connection closed, a silence of `timeout_secs` or malformed bytes
//! mid-read an error — never a partial tree reported as complete.

mod ber;
mod page;
mod request;
mod transport;

#[cfg(test)]
mod tests;

use super::{op_err, DirectoryError};
use crate::config::LdapConfig;
use crate::model::Dn;
use ber::{tag, BerError};
use page::{answers, decode_batch_sized, ldap3_error, Done, Step};
pub use page::{Attrs, Values};
use std::time::Duration;
use transport::{Endpoint, Stream};

/// The largest message accepted from the server: an entry bigger than
/// this (a huge group, a photo) stops the read with an error rather than
/// growing the buffer without bound.
pub const MAX_MESSAGE: usize = 256 << 20;

/// The buffer the responses are read into at first (it grows for a
/// message that does not fit, up to [`MAX_MESSAGE`]).
const BUFFER: usize = 256 << 10;

/// The most a read waits for before it wakes (`SO_RCVLOWAT`), while a
/// page is sure to bring that much: a read woken for every entry the
/// server sends spent more time switching threads (a worker's epoll, then
/// the future's thread) than building the entries. Well under the
/// socket's first receive buffer (128 KiB): Linux clamps the TCP window
/// to a mark it has to grow the buffer for, and a sender held to the
/// window the reader waits for would go in lockstep with it.
const LOW_WATER: usize = 32 << 10;

/// How long a read waits for its low-water mark before it takes what
/// came (a page shorter than announced, entries smaller than any before).
const LOW_WATER_WAIT: Duration = Duration::from_millis(1);

/// What TLS may hold of the stream that the socket no longer does: a
/// record read in part (16 KiB of data, its header and tag).
const TLS_RECORD: usize = (16 << 10) + 512;

/// Reads every entry under `base` that matches `filter` (RFC 4515), with
/// the attributes `attrs` (`*` for every user attribute; empty: the
/// same), from the server at `url` with the connection settings of `cfg`
/// (`bind_dn` and its password, `starttls`, `ca_file`, `timeout_secs`,
/// `page_size`; `url` rather than `cfg.url`, so that a consumer or a
/// failover provider can be read). Each entry is handed to `on_entry` as
/// its DN and its attributes, borrowed for the call; the count of entries
/// is returned once the server said the search is complete.
///
/// Building the sync's entries without another copy of the values:
///
/// ```no_run
/// # async fn f(cfg: &aaf_sync::config::LdapConfig) -> Result<(), aaf_sync::ldap::DirectoryError> {
/// use aaf_sync::model::{Dn, Entry, EntryMap};
/// let mut tree = EntryMap::default();
/// let attrs = vec!["objectClass".to_string(), "uid".to_string()];
/// aaf_sync::ldap::wire::search(cfg, &cfg.url, &cfg.base_dn, "(objectClass=*)", &attrs, |dn, a| {
///     let e = Entry::from_attrs(Dn::new(dn), a);
///     tree.insert(e);
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn search(
    cfg: &LdapConfig,
    url: &str,
    base: &str,
    filter: &str,
    attrs: &[String],
    on_entry: impl FnMut(&str, Attrs<'_>),
) -> Result<u64, DirectoryError> {
    let mut reader = Reader::open(cfg, url).await?;
    let count = reader.search(base, filter, attrs, on_entry).await?;
    reader.close().await;
    Ok(count)
}

/// One connection for several searches in turn (a targeted read makes
/// dozens of small ones: a connection and a bind each cost more than the
/// search).
pub struct Reader {
    conn: Conn,
    page: u32,
}

impl Reader {
    /// Connects to `url` with the settings of `cfg` (see [`search`]).
    pub async fn open(cfg: &LdapConfig, url: &str) -> Result<Reader, DirectoryError> {
        let mut conn = Conn::open(cfg, url).await?;
        let page = u32::try_from(cfg.page_size.max(1)).unwrap_or(1000);
        conn.page_size = page;
        Ok(Reader { conn, page })
    }

    /// [`search`] on this connection.
    pub async fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        on_entry: impl FnMut(&str, Attrs<'_>),
    ) -> Result<u64, DirectoryError> {
        self.search_expecting(base, filter, attrs, None, on_entry)
            .await
    }

    /// [`Reader::search`] that expects about `about` entries at most (an OR
    /// of that many equalities on an identifier): the read then does not
    /// wait for a page's worth of entries that will not come (a wait bounded
    /// by a millisecond, but paid at the end of each of hundreds of small
    /// searches). A wrong guess costs wake-ups, never entries.
    pub async fn search_expecting(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        about: Option<u64>,
        on_entry: impl FnMut(&str, Attrs<'_>),
    ) -> Result<u64, DirectoryError> {
        let (count, _) = self
            .paged(
                base,
                request::Scope::Subtree,
                filter,
                attrs,
                about,
                on_entry,
                || false,
            )
            .await?;
        Ok(count)
    }

    /// The entry at `dn`, with `attrs` (0 or 1 entry; an error when `dn`
    /// does not exist). A base-scope search: the same search in subtree
    /// scope under a leaf with the paged-results control took slapd 0.6 s
    /// on a 1.5 M entry tree.
    pub async fn read_entry(
        &mut self,
        dn: &str,
        attrs: &[String],
        on_entry: impl FnMut(&str, Attrs<'_>),
    ) -> Result<u64, DirectoryError> {
        let (count, _) = self
            .paged(
                dn,
                request::Scope::Base,
                "(objectClass=*)",
                attrs,
                Some(1),
                on_entry,
                || false,
            )
            .await?;
        Ok(count)
    }

    /// [`Reader::search`] that may stop early: after each page,
    /// `enough()` says whether the caller has what it needs, and if so the
    /// search is abandoned as RFC 2696 has it (its cookie sent back with a
    /// size of 0). Returns the entries read and whether the search ended
    /// by itself (every matching entry read) rather than stopped.
    pub async fn search_until(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        on_entry: impl FnMut(&str, Attrs<'_>),
        enough: impl FnMut() -> bool,
    ) -> Result<(u64, bool), DirectoryError> {
        self.paged(
            base,
            request::Scope::Subtree,
            filter,
            attrs,
            None,
            on_entry,
            enough,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn paged(
        &mut self,
        base: &str,
        scope: request::Scope,
        filter: &str,
        attrs: &[String],
        about: Option<u64>,
        mut on_entry: impl FnMut(&str, Attrs<'_>),
        mut enough: impl FnMut() -> bool,
    ) -> Result<(u64, bool), DirectoryError> {
        let what = || format!("read {base}");
        let filter = request::Filter::parse(filter)
            .ok_or_else(|| op_err(what(), format!("invalid search filter {filter:?}")))?;
        let conn = &mut self.conn;
        conn.expect = about.unwrap_or(u64::MAX);
        let mut count = 0u64;
        let mut cookie = Vec::new();
        loop {
            let id = conn.id();
            let req = request::search(id, base, scope, &filter, attrs, self.page, &cookie);
            conn.send(&req).await.map_err(|e| op_err(what(), e))?;
            let done = conn
                .page(id, &mut count, &mut on_entry)
                .await
                .map_err(|e| op_err(what(), e))?;
            match done {
                Done::Refused(result) => {
                    return Err(op_err(what(), result).at(&Dn::new(base)));
                }
                Done::Page(next) if next.is_empty() => return Ok((count, true)),
                Done::Page(next) => cookie = next,
            }
            if enough() {
                // a page of none with the cookie: the server drops the
                // search and answers with its end
                let id = conn.id();
                let req = request::search(id, base, scope, &filter, attrs, 0, &cookie);
                conn.send(&req).await.map_err(|e| op_err(what(), e))?;
                let mut none = 0u64;
                conn.expect = 0;
                let done = conn
                    .page(id, &mut none, &mut |_: &str, _: Attrs<'_>| {})
                    .await
                    .map_err(|e| op_err(what(), e))?;
                if let Done::Refused(result) = done {
                    return Err(op_err(what(), result).at(&Dn::new(base)));
                }
                return Ok((count, false));
            }
        }
    }

    /// Unbinds and closes.
    pub async fn close(self) {
        self.conn.close().await;
    }
}

/// One connection and the buffer its responses are read into:
/// `buf[start..end]` holds what was received and not yet decoded.
struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    last_id: u32,
    timeout: Duration,
    /// Entries a page holds (the search's page size), and the length of
    /// the shortest entry message met: what a page still to come holds
    /// at least, for the low-water mark.
    page_size: u32,
    smallest: usize,
    /// Entries the search under way is expected to return at most.
    expect: u64,
    /// The socket's low-water mark as last set; `None` where it cannot
    /// be set (reads then wake for every byte).
    low_water: Option<usize>,
}

impl Conn {
    /// Connects to `url`, runs StartTLS when configured, and binds.
    async fn open(cfg: &LdapConfig, url: &str) -> Result<Conn, DirectoryError> {
        let failed = |reason: String| DirectoryError::Connect {
            url: url.to_string(),
            reason,
        };
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let at = Endpoint::parse(url).map_err(&failed)?;
        let stream = tokio::time::timeout(timeout, Stream::connect(&at, cfg))
            .await
            .map_err(|_| failed(format!("no answer in {timeout:?}")))?
            .map_err(&failed)?;
        let mut conn = Conn {
            stream,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            last_id: 0,
            timeout,
            page_size: 1,
            smallest: usize::MAX,
            expect: u64::MAX,
            low_water: Some(1),
        };
        if let (Endpoint::Tcp { host, tls, .. }, true) = (&at, cfg.starttls) {
            if !tls {
                conn.start_tls(host, cfg).await.map_err(&failed)?;
            }
        }
        if !cfg.bind_dn.is_empty() {
            let pw = cfg.bind_password.as_deref().unwrap_or("");
            let id = conn.id();
            conn.send(&request::bind(id, &cfg.bind_dn, pw))
                .await
                .map_err(|e| failed(format!("bind: {e}")))?;
            let refused = conn
                .answer(id, tag::BIND_RESPONSE, |b| {
                    ber::result(b).map(|r| (r.code != 0).then(|| (r.code, ldap3_error(&r))))
                })
                .await
                .map_err(|e| failed(format!("bind: {e}")))?;
            if let Some((code, e)) = refused {
                return Err(DirectoryError::Bind {
                    dn: cfg.bind_dn.clone(),
                    code: super::ResultCode(code),
                    reason: e.to_string(),
                });
            }
        }
        Ok(conn)
    }

    /// The StartTLS exchange, then the handshake on the same socket.
    async fn start_tls(&mut self, host: &str, cfg: &LdapConfig) -> Result<(), String> {
        let id = self.id();
        self.send(&request::starttls(id)).await?;
        let refused = self
            .answer(id, tag::EXTENDED_RESPONSE, |b| {
                ber::result(b).map(|r| (r.code != 0).then(|| ldap3_error(&r)))
            })
            .await
            .map_err(|e| format!("StartTLS: {e}"))?;
        if let Some(e) = refused {
            return Err(format!("StartTLS refused: {e}"));
        }
        if self.start != self.end {
            return Err("StartTLS: the server sent more than its answer".into());
        }
        let plain = std::mem::replace(&mut self.stream, Stream::Gone);
        let tls = tokio::time::timeout(self.timeout, plain.start_tls(host, cfg))
            .await
            .map_err(|_| format!("TLS handshake: no answer in {:?}", self.timeout))??;
        self.stream = tls;
        Ok(())
    }

    fn id(&mut self) -> u32 {
        self.last_id += 1;
        self.last_id
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| format!("the server took no request in {:?}", self.timeout))?
            .map_err(|e| format!("sending a request: {e}"))
    }

    /// Reads more of the server's answer, with room for a message of
    /// `need` bytes at `start`; an error when the connection closed or
    /// stayed silent for the timeout. `ahead`: how many bytes the server
    /// is sure to send after that message (entries of the page), so that
    /// the read need not wake before it has them
    /// ([`Conn::set_low_water`]).
    async fn fill(&mut self, need: usize, ahead: usize) -> Result<(), String> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.start < need || self.buf.len() - self.end < BUFFER / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        let data = &self.buf[self.start..self.end];
        // what the message being read still lacks for sure
        let missing = match ber::message_len(data, MAX_MESSAGE) {
            Ok(Some(len)) => len.saturating_sub(data.len()),
            _ => 1,
        };
        let room = self.buf.len() - self.end;
        let waiting = self.set_low_water((missing + ahead).min(room));
        let mut read = None;
        if waiting {
            let first = self.stream.read(&mut self.buf[self.end..]);
            read = tokio::time::timeout(LOW_WATER_WAIT, first).await.ok();
            if read.is_none() {
                // not that much came in time: whatever comes
                self.set_low_water(1);
            }
        }
        let read = match read {
            Some(r) => Ok(r),
            None => {
                let next = self.stream.read(&mut self.buf[self.end..]);
                tokio::time::timeout(self.timeout, next).await
            }
        };
        match read {
            Err(_) => Err(format!("no answer from the server in {:?}", self.timeout)),
            Ok(Err(e)) => Err(format!("connection lost: {e}")),
            Ok(Ok(0)) => Err("the server closed the connection".into()),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(())
            }
        }
    }

    /// Sets the socket's low-water mark to about `bytes` (at most
    /// [`LOW_WATER`]; TLS: less what its buffers may hold already):
    /// whether a read now waits for more than one byte. A read that waits
    /// is bounded by [`LOW_WATER_WAIT`], after which the mark goes back to
    /// one byte: a wrong guess costs a millisecond, never a hang.
    fn set_low_water(&mut self, bytes: usize) -> bool {
        let Some(current) = self.low_water else {
            return false;
        };
        let mut want = bytes.min(LOW_WATER);
        if matches!(self.stream, Stream::Tls(_)) {
            want = want.saturating_sub(TLS_RECORD);
        }
        // small marks save no wake-up worth a system call
        let want = if want < 4096 { 1 } else { want };
        if want != current {
            self.low_water = self.stream.set_low_water(want).then_some(want);
        }
        self.low_water.is_some_and(|w| w > 1)
    }

    /// The next whole message, which must answer operation `id` with a
    /// `want`: its body decoded by `decode` (small answers: bind, StartTLS).
    async fn answer<T>(
        &mut self,
        id: u32,
        want: u8,
        decode: impl FnOnce(&[u8]) -> Result<T, BerError>,
    ) -> Result<T, String> {
        loop {
            let data = &self.buf[self.start..self.end];
            match ber::message_len(data, MAX_MESSAGE).map_err(|e| e.to_string())? {
                Some(len) if len <= data.len() => {
                    let m = ber::message(&data[..len]).map_err(|e| e.to_string())?;
                    answers(&m, id)?;
                    if m.op != want {
                        return Err(format!(
                            "answered with tag {:#04x}, expected {want:#04x}",
                            m.op
                        ));
                    }
                    let r = decode(m.body).map_err(|e| e.to_string());
                    self.start += len;
                    return r;
                }
                Some(len) => self.fill(len, 0).await?,
                None => self.fill(16, 0).await?,
            }
        }
    }

    /// Reads one page of search `id`: every entry to `on_entry`, decoded
    /// in place, batch by batch of what the buffer holds.
    async fn page(
        &mut self,
        id: u32,
        count: &mut u64,
        on_entry: &mut impl FnMut(&str, Attrs<'_>),
    ) -> Result<Done, String> {
        let first = *count;
        loop {
            let data = &self.buf[self.start..self.end];
            let (used, step) = decode_batch_sized(data, id, count, &mut self.smallest, on_entry)?;
            self.start += used;
            match step {
                Step::Done(d) => return Ok(d),
                Step::More(need) => {
                    // the entries of the page after the one being read
                    let read = usize::try_from(*count - first).unwrap_or(usize::MAX);
                    let in_page = (self.page_size as usize).saturating_sub(read);
                    let in_search = self.expect.saturating_sub(*count);
                    let left = usize::try_from(in_search)
                        .unwrap_or(usize::MAX)
                        .min(in_page)
                        .saturating_sub(1);
                    let ahead = match self.smallest {
                        usize::MAX => 0,
                        s => left.saturating_mul(s),
                    };
                    self.fill(need, ahead).await?
                }
            }
        }
    }

    /// Unbinds and closes (best effort: the read is complete).
    async fn close(mut self) {
        let id = self.id();
        let _ = tokio::time::timeout(self.timeout, async {
            let _ = self.stream.write_all(&request::unbind(id)).await;
            self.stream.shutdown().await;
        })
        .await;
    }
}
