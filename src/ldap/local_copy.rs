//! The local copy of the managed tree an incremental read starts from: the
//! entries a full read returns, by `entryUUID`, in the order the server
//! returned them (the cookie of the state they show is in the control
//! entry).
//!
//! The file (`<work_dir>/snapshot-<source>.bin`, mode 0600, replaced
//! atomically; length-prefixed binary records, read back without text
//! parsing) holds what the sync reads and nothing more: the managed
//! and adoptable entries with the attributes the read asks for, and for
//! everyone else only the logins they take (no DN, no name). Its SHA-256
//! is kept in the control entry beside the cookie: a file that is not the
//! one the last read wrote (edited, truncated, another machine's) does not
//! match, and the run reads everything again.

use super::read::{logins_of, Class, Classifier, Snapshot};
use crate::model::{Dn, Entry, Store};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The first line of the file: its format. Version 3: what is this
/// source's and who holds which login are decided as the directory
/// matches them (a copy of version 2 holds the old decisions: the tree is
/// read again in full once).
const MAGIC: &str = "aaf-sync snapshot 3";

/// What the file was read for: a file for another source, base or set
/// of attributes is not used. (The cookie of the state it shows is in the
/// control entry, beside the file's digest: a run that finds nothing
/// changed keeps the file and moves the cookie on.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Header {
    pub source: String,
    pub base: String,
    /// SHA-256 of the attribute list the read asks for.
    pub attrs: String,
}

impl Header {
    pub(super) fn new(source: &str, base: &str, attrs: &[String]) -> Header {
        let attrs = hex(&Sha256::digest(attrs.join("\n").as_bytes()));
        Header {
            source: source.to_string(),
            base: base.to_string(),
            attrs,
        }
    }
}

pub(super) fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    /// Managed or adoptable: the entry as read.
    Kept(Class, Entry),
    /// Someone else's: the logins it takes.
    Logins(Vec<String>),
}

/// The tree by entryUUID, in the server's order; a deleted entry leaves a
/// hole (`None`) rather than shifting every entry after it.
#[derive(Debug, Default)]
pub(super) struct Tree {
    items: IndexMap<String, Option<Item>>,
}

impl Tree {
    /// An entry the server returned (new, changed or moved), frozen into
    /// the run's entry `store` when it has one (as the full read does: an
    /// académie's tree is not held on the heap).
    pub(super) fn put(
        &mut self,
        uuid: String,
        mut e: Entry,
        classes: &Classifier,
        store: Option<&Store>,
    ) {
        let item = match classes.class(&e) {
            Class::Other => Item::Logins(logins_of(&e).collect()),
            c => {
                if let Some(store) = store {
                    e.freeze(store);
                }
                Item::Kept(c, e)
            }
        };
        self.items.insert(uuid, Some(item));
    }

    /// An entry gone (deleted, or out of the read's scope); false when the
    /// tree did not hold it (a session log may name entries deleted
    /// outside the read's scope, or again).
    pub(super) fn delete(&mut self, uuid: &str) -> bool {
        match self.items.get_mut(uuid) {
            Some(slot) => slot.take().is_some(),
            None => false,
        }
    }

    /// A present phase: every entry neither `present` nor in `sent` is
    /// gone. Returns how many went.
    pub(super) fn keep_only(&mut self, present: &HashSet<String>, sent: &HashSet<&str>) -> usize {
        let mut gone = 0;
        for (u, slot) in self.items.iter_mut() {
            if slot.is_some() && !present.contains(u) && !sent.contains(u.as_str()) {
                *slot = None;
                gone += 1;
            }
        }
        gone
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.items.values().filter(|s| s.is_some()).count()
    }

    /// The snapshot the rest of the run sees, as a full read builds it.
    pub(super) fn into_snapshot(self, store: Option<&Store>) -> Snapshot {
        let mut snap = Snapshot::default();
        // sized once: growing an académie's maps entry by entry rehashed
        // them a score of times and left up to half their room unused
        let (mut managed, mut adoptable) = (0, 0);
        for item in self.items.values().flatten() {
            match item {
                Item::Kept(Class::Managed, _) => managed += 1,
                Item::Kept(..) => adoptable += 1,
                Item::Logins(_) => {}
            }
        }
        snap.managed.reserve(managed);
        snap.adoptable.reserve(adoptable);
        snap.taken_logins.reserve(self.items.len());
        for item in self.items.into_values().flatten() {
            match item {
                Item::Kept(class, e) => snap.take(e, class, store),
                Item::Logins(l) => snap.taken_logins.extend(l),
            }
        }
        snap
    }

    /// Writes the tree to `path` (0600, through a temporary file renamed
    /// over it, synced) and returns the file's SHA-256, hex. Streamed: an
    /// académie's tree is not held twice in memory.
    pub(super) fn write(&self, path: &Path, header: &Header) -> std::io::Result<String> {
        let tmp = temporary(path);
        let _ = std::fs::remove_file(&tmp);
        let digest = {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let f = o.open(&tmp)?;
            let mut w = Hashing {
                inner: std::io::BufWriter::with_capacity(1 << 20, f),
                hash: Sha256::new(),
            };
            let written = (|| {
                writeln!(w, "{MAGIC}")?;
                serde_json::to_writer(&mut w, header)?;
                writeln!(w)?;
                let mut rec = Vec::new();
                for (u, item) in &self.items {
                    let Some(item) = item else { continue };
                    record(&mut rec, u, item)?;
                    w.write_all(&(rec.len() as u32).to_le_bytes())?;
                    w.write_all(&rec)?;
                }
                w.inner.flush()?;
                w.inner.get_ref().sync_all()
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            hex(&w.hash.finalize())
        };
        if let Err(e) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(digest)
    }

    /// Reads the tree `path` holds, if its SHA-256 is `digest`: the header,
    /// the tree. One pass: the file is hashed as it is parsed, and nothing
    /// of it is used unless the digest matches at the end. `Err` says why
    /// not (no personal data: the file's content is never quoted).
    pub(super) fn read(
        path: &Path,
        digest: &str,
        store: Option<&Store>,
    ) -> Result<(Header, Tree), String> {
        let f = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no snapshot file".to_string(),
            _ => format!("snapshot file unreadable: {e}"),
        })?;
        let mut r = HashingReader {
            inner: std::io::BufReader::with_capacity(1 << 20, f),
            hash: Sha256::new(),
        };
        let parsed = parse(&mut r, store);
        // what a parse error left unread is hashed too: a file that is not
        // the one the control entry names is said to be so
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        if hex(&r.hash.finalize()) != digest {
            return Err("the snapshot file is not the one the control entry names (digest)".into());
        }
        parsed
    }
}

/// The largest record read back (a managed entry is a few KiB).
const MAX_RECORD: usize = 64 << 20;

fn parse<R: BufRead>(r: &mut R, store: Option<&Store>) -> Result<(Header, Tree), String> {
    let bad = || "snapshot file malformed".to_string();
    let mut line = String::new();
    r.read_line(&mut line).map_err(|_| bad())?;
    if line.trim_end() != MAGIC {
        return Err("snapshot file of another format".into());
    }
    line.clear();
    r.read_line(&mut line).map_err(|_| bad())?;
    let header: Header = serde_json::from_str(&line).map_err(|_| bad())?;
    let mut tree = Tree::default();
    let mut rec = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match r.read(&mut len[..1]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(bad()),
        }
        r.read_exact(&mut len[1..]).map_err(|_| bad())?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(bad());
        }
        rec.resize(len, 0);
        r.read_exact(&mut rec).map_err(|_| bad())?;
        let (u, item) = unrecord(&rec, store).ok_or_else(bad)?;
        tree.items.insert(u, Some(item));
    }
    Ok((header, tree))
}

/// One entry as a record: kind (`m`, `a`, `o`), entryUUID, then the DN and
/// the attributes, or the logins; lengths little-endian.
fn record(out: &mut Vec<u8>, u: &str, item: &Item) -> std::io::Result<()> {
    fn put(out: &mut Vec<u8>, b: &[u8]) -> std::io::Result<()> {
        let n = u32::try_from(b.len()).map_err(|_| std::io::Error::other("value too long"))?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(b);
        Ok(())
    }
    out.clear();
    match item {
        Item::Kept(class, e) => {
            out.push(if *class == Class::Managed { b'm' } else { b'a' });
            put(out, u.as_bytes())?;
            put(out, e.dn.as_str().as_bytes())?;
            let attrs: Vec<_> = e.attrs.values().collect();
            out.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
            for a in attrs {
                put(out, a.name.as_bytes())?;
                out.extend_from_slice(&(a.values.len() as u32).to_le_bytes());
                for v in a.values.iter() {
                    put(out, v.as_bytes())?;
                }
            }
        }
        Item::Logins(l) => {
            out.push(b'o');
            put(out, u.as_bytes())?;
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for v in l {
                put(out, v.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// A record read back; `None` when malformed.
fn unrecord(rec: &[u8], store: Option<&Store>) -> Option<(String, Item)> {
    struct Cur<'a>(&'a [u8]);
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn n(&mut self) -> Option<usize> {
            let b = self.take(4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
        fn text(&mut self) -> Option<&'a str> {
            let n = self.n()?;
            std::str::from_utf8(self.take(n)?).ok()
        }
    }
    let mut c = Cur(rec);
    let kind = *c.take(1)?.first()?;
    let u = c.text()?.to_string();
    let item = match kind {
        b'o' => {
            let n = c.n()?;
            let mut l = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                l.push(c.text()?.to_string());
            }
            Item::Logins(l)
        }
        b'm' | b'a' => {
            let dn = c.text()?;
            let n = c.n()?;
            let mut attrs = Vec::with_capacity(n.min(256));
            for _ in 0..n {
                let name = c.text()?;
                let k = c.n()?;
                let mut vals = Vec::with_capacity(k.min(1024));
                for _ in 0..k {
                    vals.push(c.text()?);
                }
                attrs.push((name, vals));
            }
            let mut e = Entry::from_attrs(Dn::new(dn), attrs);
            if let Some(store) = store {
                e.freeze(store);
            }
            let class = match kind {
                b'm' => Class::Managed,
                _ => Class::Adoptable,
            };
            Item::Kept(class, e)
        }
        _ => return None,
    };
    c.0.is_empty().then_some((u, item))
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: BufRead> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let n = amt.min(b.len());
            self.hash.update(&b[..n]);
        }
        self.inner.consume(amt);
    }
}

/// A writer that hashes what it writes.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `<path>.tmp`, next to the file (as `host::fs` does for whole files;
/// this one is streamed).
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The snapshot file of `source` in `work_dir`, and its temporary.
pub fn snapshot_files(work_dir: &Path, source: &str) -> [PathBuf; 2] {
    let safe: String = source
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    let p = work_dir.join(format!("snapshot-{safe}.bin"));
    [temporary(&p), p]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::layout::Layout;

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
        Entry::from_attrs(
            Dn::new(dn),
            attrs.iter().map(|(n, vs)| (*n, vs.iter().copied())),
        )
    }

    #[test]
    fn round_trips_and_refuses_a_file_it_did_not_write() {
        let t = tempfile::tempdir().unwrap();
        let [_, p] = snapshot_files(t.path(), "AC-X/../y");
        assert!(p.starts_with(t.path()) && p.to_string_lossy().ends_with("snapshot-AC-X_.._y.bin"));
        let classes = Classifier::new(&Layout::new("dc=x", "AC-X"));
        let mut tree = Tree::default();
        let managed = entry(
            "uid=1,dc=x",
            &[
                ("objectClass", &["ENTEleve", "aafSyncState"]),
                ("aafSyncSource", &["AC-X"]),
                ("ENTPersonLogin", &["Jean.X"]),
            ],
        );
        tree.put("u1".into(), managed.clone(), &classes, None);
        tree.put(
            "u2".into(),
            entry(
                "uid=2,dc=x",
                &[
                    ("objectClass", &["ENTPerson"]),
                    ("ENTPersonAlias", &["Other"]),
                ],
            ),
            &classes,
            None,
        );
        tree.put(
            "u3".into(),
            entry("uid=3,dc=x", &[("ENTPersonJointure", &["AC-X$9"])]),
            &classes,
            None,
        );
        let h = Header::new("AC-X", "dc=x", &["a".into()]);
        let d = tree.write(&p, &h).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // someone else's DN is not in the file
        let bytes = std::fs::read(&p).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"uid=2"));
        assert!(bytes.windows(5).any(|w| w == b"uid=1"));
        // a record cut short, or with bytes left over, is malformed
        let item = &tree.items["u1"];
        let mut rec = Vec::new();
        record(&mut rec, "u1", item.as_ref().unwrap()).unwrap();
        assert!(unrecord(&rec, None).is_some());
        assert!(unrecord(&rec[..rec.len() - 1], None).is_none());
        rec.push(0);
        assert!(unrecord(&rec, None).is_none());
        let (h2, back) = Tree::read(&p, &d, None).unwrap();
        assert_eq!(h2, h);
        assert_eq!(back.items, tree.items);
        let snap = back.into_snapshot(None);
        assert_eq!(snap.managed.len(), 1);
        assert_eq!(snap.managed.values().next(), Some(&managed));
        assert_eq!(snap.adoptable.len(), 1);
        assert!(snap.taken_logins.contains("jean.x") && snap.taken_logins.contains("other"));
        // a byte changed, a line cut: refused by the digest
        let body = std::fs::read(&p).unwrap();
        std::fs::write(&p, &body[..body.len() - 3]).unwrap();
        assert!(Tree::read(&p, &d, None).unwrap_err().contains("digest"));
        std::fs::remove_file(&p).unwrap();
        assert_eq!(Tree::read(&p, &d, None).unwrap_err(), "no snapshot file");
        // deletions and a present phase
        assert!(tree.delete("u2") && !tree.delete("u2") && !tree.delete("u9"));
        assert_eq!(tree.len(), 2);
        assert_eq!(
            tree.keep_only(&HashSet::from(["u1".to_string()]), &HashSet::new()),
            1
        );
        assert_eq!(tree.len(), 1);
    }
}
