//! The incremental read of the managed tree: where the directory offers
//! content synchronization (RFC 4533, slapd's `syncprov`), a run reads
//! only what changed since the last read and plays it over the local copy
//! that read left ([`local_copy`](super::local_copy)), so that a day with few
//! changes does not cost a read of the whole académie.
//!
//! The copy is trusted only when everything agrees: the control entry
//! holds the cookie of the last read and the SHA-256 of the file it wrote
//! (`aafSyncReadMark`); the file has that digest and was written for this
//! source, base and attribute list; the directory's
//! `contextCSN` holds at least the changes the cookie names (a directory
//! restored from an older backup does not); and the server answers the
//! refresh (no e-syncRefreshRequired). Anything else — a fresh machine, no
//! file, a file edited or cut short, another machine's file, a cookie
//! missing or altered, a server without `syncprov` — and the run reads
//! everything, as it always did, and writes a new copy. Either way the
//! rest of the run sees the same [`Snapshot`].
//!
//! The file is written before the mark that names it (a crash between
//! the two leaves a mark naming the old file: the next run reads
//! everything); a read that found nothing changed keeps the file and
//! writes only the new cookie. A dry run reads the same way and writes
//! neither.

use super::content_sync::RefreshError;
use super::local_copy::{b64, Header, Tree};
use super::read::{read_attrs, Classifier, Snapshot};
use super::replication::{context_csn, covers};
use super::{op_err, Directory, DirectoryError, ResultCode};
use crate::mapping::layout::Layout;
use crate::model::{Dn, Store};
use crate::schema::ATTR_READ_MARK;
use base64::Engine;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;

pub use super::local_copy::snapshot_files;

/// Where the incremental read keeps its copy, and whether this run may
/// write it (not a dry run).
#[derive(Debug, Clone)]
pub struct Incremental {
    pub path: PathBuf,
    pub write: bool,
}

/// Which read a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// The whole managed tree.
    #[default]
    Full,
    /// Only what changed since the last read, over the local copy.
    Incremental,
}

impl ReadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::Full => "full",
            ReadMode::Incremental => "incremental",
        }
    }
}

/// What the read did, for the report.
#[derive(Debug, Clone, Default)]
pub struct ReadInfo {
    pub mode: ReadMode,
    /// Entries the server sent again or said were gone (incremental).
    pub changes: u64,
    /// Why a full read (when incremental reads are on).
    pub full_reason: Option<String>,
}

/// The value of `aafSyncReadMark`: `1 <sha256 of the file> <cookie, base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mark {
    pub digest: String,
    pub cookie: Vec<u8>,
}

impl Mark {
    pub(super) fn parse(v: &str) -> Option<Mark> {
        let mut it = v.split(' ');
        let (version, digest, cookie) = (it.next()?, it.next()?, it.next()?);
        if version != "1" || it.next().is_some() || digest.len() != 64 {
            return None;
        }
        let cookie = base64::engine::general_purpose::STANDARD
            .decode(cookie)
            .ok()?;
        Some(Mark {
            digest: digest.to_string(),
            cookie,
        })
    }
    pub(super) fn value(&self) -> String {
        format!("1 {} {}", self.digest, b64(&self.cookie))
    }
}

/// What an incremental read found.
struct Changed {
    tree: Tree,
    /// The cookie of the state the tree now shows.
    cookie: Vec<u8>,
    /// Entries sent again or gone.
    changes: u64,
    /// Nothing changed: the digest of the copy, which stays as it is.
    kept: Option<String>,
}

/// The CSNs a cookie names (`rid=…,sid=…,csn=a;b`), by server id.
pub(super) fn cookie_csn(cookie: &[u8]) -> super::replication::ContextCsn {
    let text = String::from_utf8_lossy(cookie);
    let csns = text
        .split(',')
        .filter_map(|p| p.strip_prefix("csn="))
        .flat_map(|v| v.split(';'))
        .map(str::to_string)
        .collect::<Vec<_>>();
    context_csn(csns.iter().map(String::as_str))
}

impl Directory {
    /// Whether the server offers content synchronization on the base
    /// (`check`); `Err` says why not.
    pub async fn offers_content_sync(&self, layout: &Layout) -> Result<(), String> {
        self.sync_cookie(layout)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Turns the incremental read on for this connection's reads.
    pub fn use_snapshot(&mut self, inc: Incremental) {
        self.incremental = Some(inc);
    }

    /// Reads the managed tree: incrementally when the server and the local
    /// copy allow it, else in full ([`Directory::read_managed_in`]).
    pub async fn read_tree(
        &self,
        layout: &Layout,
        store: Option<&Store>,
    ) -> Result<(Snapshot, ReadInfo), DirectoryError> {
        let Some(inc) = self.incremental.clone() else {
            let snap = self.read_managed_in(layout, store).await?;
            return Ok((snap, ReadInfo::default()));
        };
        let classes = Classifier::new(layout);
        let why = match self.read_changes(layout, &inc, &classes, store).await {
            Ok(Changed {
                tree,
                cookie,
                changes,
                kept,
            }) => {
                self.set_read_from(self.url());
                if inc.write {
                    self.save(layout, &inc, &tree, cookie, kept).await;
                }
                let info = ReadInfo {
                    mode: ReadMode::Incremental,
                    changes,
                    full_reason: None,
                };
                return Ok((tree.into_snapshot(store), info));
            }
            Err(why) => why,
        };
        tracing::info!(reason = %why, "reading the whole managed tree");
        let info = ReadInfo {
            full_reason: Some(why),
            ..Default::default()
        };
        // the cookie first: the read then holds all it names
        let cookie = match self.sync_cookie(layout).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(reason = %e, "no incremental read next time");
                let info = ReadInfo {
                    full_reason: Some(format!("no content synchronization: {e}")),
                    ..info
                };
                return Ok((self.read_managed_in(layout, store).await?, info));
            }
        };
        let tree = match self.read_full_tree(layout, &classes, store).await {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, "the full read by entryUUID failed: reading without");
                return Ok((self.read_managed_in(layout, store).await?, info));
            }
        };
        if inc.write {
            self.save(layout, &inc, &tree, cookie, None).await;
        }
        Ok((tree.into_snapshot(store), info))
    }

    /// The copy, checked, with what changed since played over it; `Err`
    /// says why a full read is needed instead.
    async fn read_changes(
        &self,
        layout: &Layout,
        inc: &Incremental,
        classes: &Classifier,
        store: Option<&Store>,
    ) -> Result<Changed, String> {
        let control = self.read_control(layout).await.map_err(|e| e.to_string())?;
        let mark = control
            .as_ref()
            .and_then(|e| e.first(ATTR_READ_MARK))
            .ok_or("no read cookie in the control entry")?;
        let mark = Mark::parse(mark).ok_or("the read cookie in the control entry is malformed")?;
        let (header, mut tree) = Tree::read(&inc.path, &mark.digest, store)?;
        let attrs = read_attrs();
        if header != Header::new(&layout.source, layout.base.as_str(), &attrs) {
            return Err(
                "the snapshot file was written for another source, base or attribute list".into(),
            );
        }
        // the directory holds at least the state the cookie names (one
        // restored from an older backup does not)
        let named = cookie_csn(&mark.cookie);
        let now = self.context_csn().await.map_err(|e| e.to_string())?;
        if named.is_empty() {
            return Err("the read cookie names no CSN".into());
        }
        if !covers(&now, &named) {
            return Err("the directory's contextCSN is older than the read cookie (restored from a backup?)".into());
        }
        let r = match self.refresh(layout, mark.cookie.clone()).await {
            Ok(r) => r,
            Err(RefreshError::Directory(e)) => return Err(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        let mut gone = 0;
        if !r.refresh_deletes {
            // a present phase: what is neither listed nor sent is gone
            if r.present.is_empty() && r.upserts.is_empty() && tree.len() > 0 {
                return Err("the server listed no entry as present: not trusted".into());
            }
            let sent: HashSet<&str> = r.upserts.iter().map(|(u, _)| u.as_str()).collect();
            gone += tree.keep_only(&r.present, &sent);
        }
        gone += r.deletes.iter().filter(|u| tree.delete(u)).count();
        let changes = (r.upserts.len() + gone) as u64;
        for (u, e) in r.upserts {
            tree.put(u, e, classes, store);
        }
        let cookie = r.cookie.unwrap_or(mark.cookie);
        tracing::info!(changes, "incremental read of the managed tree");
        Ok(Changed {
            tree,
            cookie,
            changes,
            // nothing changed: the file stays, only the cookie moves on
            kept: (changes == 0).then_some(mark.digest),
        })
    }

    /// The whole tree by entryUUID, from the provider (incremental reads
    /// are not used with a consumer to read from: `run::kept`).
    async fn read_full_tree(
        &self,
        layout: &Layout,
        classes: &Classifier,
        store: Option<&Store>,
    ) -> Result<Tree, DirectoryError> {
        self.set_read_from(self.url());
        self.read_tree_here(layout, classes, store).await
    }

    async fn read_tree_here(
        &self,
        layout: &Layout,
        classes: &Classifier,
        store: Option<&Store>,
    ) -> Result<Tree, DirectoryError> {
        let mut attrs = read_attrs();
        attrs.push("entryUUID".into());
        let mut tree = Tree::default();
        self.read_each(layout, attrs, |e, uuid| {
            let uuid = uuid.ok_or_else(|| op_err("read", "an entry without entryUUID"))?;
            tree.put(uuid, e, classes, store);
            Ok(())
        })
        .await?;
        Ok(tree)
    }

    /// Writes the copy (unless `kept`, the digest of the copy as it is),
    /// then the mark that names it. A failure costs the next run a full
    /// read, never this one.
    async fn save(
        &self,
        layout: &Layout,
        inc: &Incremental,
        tree: &Tree,
        cookie: Vec<u8>,
        kept: Option<String>,
    ) {
        let digest = match kept {
            Some(d) => d,
            None => {
                let header = Header::new(&layout.source, layout.base.as_str(), &read_attrs());
                match tree.write(&inc.path, &header) {
                    Ok(d) => d,
                    Err(error) => {
                        tracing::warn!(file = %inc.path.display(), %error, "snapshot not written: the next run reads the whole tree");
                        return;
                    }
                }
            }
        };
        let mark = Mark { digest, cookie };
        let dn = layout.control_dn();
        match self.write_read_mark(&dn, Some(&mark.value())).await {
            Ok(()) => {}
            Err(e) if e.code() == Some(ResultCode::NO_SUCH_OBJECT) => {
                // a first run: the control entry is written by the apply
                if let Ok(mut p) = self.pending_mark.lock() {
                    *p = Some((dn, mark.value()));
                }
            }
            Err(error) => {
                tracing::warn!(%error, "read cookie not written to the control entry (schema/20-aaf-sync loaded?): the next run reads the whole tree")
            }
        }
    }

    /// Writes the mark a first run could not write before its control
    /// entry existed (the run's end).
    pub async fn finish_read_mark(&self) {
        let pending = self.pending_mark.lock().ok().and_then(|mut p| p.take());
        if let Some((dn, value)) = pending {
            if let Err(error) = self.write_read_mark(&dn, Some(&value)).await {
                tracing::info!(%error, "read cookie not written: the next run reads the whole tree");
            }
        }
    }

    /// Sets (or with `None` removes) `aafSyncReadMark` on the control
    /// entry `dn`.
    pub(super) async fn write_read_mark(
        &self,
        dn: &Dn,
        value: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let values: HashSet<String> = value.into_iter().map(str::to_string).collect();
        let mut l = self.conn(0).await;
        let what = || format!("write the read cookie on {}", dn.as_str());
        l.modify(
            dn.as_str(),
            vec![ldap3::Mod::Replace(ATTR_READ_MARK.to_string(), values)],
        )
        .await
        .and_then(|r| r.success())
        .map(|_| ())
        .map_err(|e| op_err(what(), e).at(dn))
    }

    /// Forgets the incremental read's copy: removes the mark from the
    /// control entry of `layout` (the file itself is removed by the
    /// caller). For `purge` and erasures.
    pub async fn forget_read_mark(&self, layout: &Layout) -> Result<(), DirectoryError> {
        match self.write_read_mark(&layout.control_dn(), None).await {
            Err(e) if e.code() == Some(ResultCode::NO_SUCH_OBJECT) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_round_trips_and_refuses_anything_else() {
        let m = Mark {
            digest: "a".repeat(64),
            cookie: b"rid=000,csn=20261203120000.000001Z#000000#000#000000".to_vec(),
        };
        assert_eq!(Mark::parse(&m.value()), Some(m.clone()));
        assert_eq!(Mark::parse("2 x y"), None);
        assert_eq!(Mark::parse(&format!("1 {} !!", "a".repeat(64))), None);
        assert_eq!(Mark::parse(&format!("1 {} eA== z", "a".repeat(64))), None);
        let c = cookie_csn(&m.cookie);
        assert_eq!(
            c.get("000").map(String::as_str),
            Some("20261203120000.000001Z#000000#000#000000")
        );
        let two = cookie_csn(b"rid=001,sid=002,csn=20260101000000.000000Z#000000#001#000000;20260102000000.000000Z#000000#002#000000");
        assert_eq!(two.len(), 2);
        assert!(cookie_csn(b"rid=000").is_empty());
    }
}
