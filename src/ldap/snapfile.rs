//! The local copy of the managed tree an incremental read starts from: the
//! entries a full read returns, by `entryUUID`, in the order the server
//! returned them, and the cookie of the directory state they show.
//!
//! The file (`<work_dir>/snapshot-<source>.jsonl`, mode 0600, replaced
//! atomically) holds what the sync reads and nothing more: the managed
//! and adoptable entries with the attributes the read asks for, and for
//! everyone else only the logins they take (no DN, no name). Its SHA-256
//! is kept in the control entry beside the cookie: a file that is not the
//! one the last read wrote (edited, truncated, another machine's) does not
//! match, and the run reads everything again.

use super::read::{logins_of, Class, Classifier, Snapshot};
use crate::model::{Dn, Entry, Store};
use base64::Engine;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The first line of the file: its format.
const MAGIC: &str = "aaf-sync snapshot 1";

/// What the file was read for: a file for another source, base or set
/// of attributes is not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Header {
    pub source: String,
    pub base: String,
    /// SHA-256 of the attribute list the read asks for.
    pub attrs: String,
    /// The sync cookie, base64.
    pub cookie: String,
}

impl Header {
    pub(super) fn new(source: &str, base: &str, attrs: &[String], cookie: &[u8]) -> Header {
        let attrs = hex(&Sha256::digest(attrs.join("\n").as_bytes()));
        Header {
            source: source.to_string(),
            base: base.to_string(),
            attrs,
            cookie: b64(cookie),
        }
    }
}

pub(super) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One line of the file.
#[derive(Serialize, Deserialize)]
struct Line {
    /// entryUUID.
    u: String,
    /// `m` managed, `a` adoptable, `o` someone else's logins.
    c: char,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dn: Option<String>,
    /// Attributes (managed, adoptable) or logins (others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    a: Vec<(String, Vec<String>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    l: Vec<String>,
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
                for (u, item) in &self.items {
                    let Some(item) = item else { continue };
                    serde_json::to_writer(&mut w, &line(u, item))?;
                    writeln!(w)?;
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
    /// the tree. `Err` says why not (no personal data: the file's lines
    /// are never quoted).
    pub(super) fn read(
        path: &Path,
        digest: &str,
        store: Option<&Store>,
    ) -> Result<(Header, Tree), String> {
        let f = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no snapshot file".to_string(),
            _ => format!("snapshot file unreadable: {e}"),
        })?;
        // the digest first, over the whole file: nothing of a file that
        // is not the one the last read wrote is parsed
        let mut hash = Sha256::new();
        std::io::copy(&mut std::io::BufReader::new(&f), &mut hash)
            .map_err(|e| format!("snapshot file unreadable: {e}"))?;
        if hex(&hash.finalize()) != digest {
            return Err("the snapshot file is not the one the control entry names (digest)".into());
        }
        let f = std::fs::File::open(path).map_err(|e| format!("snapshot file unreadable: {e}"))?;
        let mut lines = std::io::BufReader::with_capacity(1 << 20, f).lines();
        let bad = |n: usize| format!("snapshot file malformed at line {n}");
        let mut next = |n: usize| -> Result<String, String> {
            match lines.next() {
                Some(Ok(l)) => Ok(l),
                _ => Err(bad(n)),
            }
        };
        if next(1)? != MAGIC {
            return Err("snapshot file of another format".into());
        }
        let header: Header = serde_json::from_str(&next(2)?).map_err(|_| bad(2))?;
        let mut tree = Tree::default();
        for (n, l) in lines.enumerate() {
            let l = l.map_err(|_| bad(n + 3))?;
            let Line { u, c, dn, a, l } = serde_json::from_str(&l).map_err(|_| bad(n + 3))?;
            let item = match (c, dn) {
                ('o', None) => Item::Logins(l),
                ('m' | 'a', Some(dn)) => {
                    let class = if c == 'm' {
                        Class::Managed
                    } else {
                        Class::Adoptable
                    };
                    let attrs = a
                        .iter()
                        .map(|(n, vs)| (n.as_str(), vs.iter().map(String::as_str)));
                    let mut e = Entry::from_attrs(Dn::new(dn), attrs);
                    if let Some(store) = store {
                        e.freeze(store);
                    }
                    Item::Kept(class, e)
                }
                _ => return Err(bad(n + 3)),
            };
            tree.items.insert(u, Some(item));
        }
        Ok((header, tree))
    }
}

fn line(u: &str, item: &Item) -> Line {
    match item {
        Item::Kept(class, e) => Line {
            u: u.to_string(),
            c: if *class == Class::Managed { 'm' } else { 'a' },
            dn: Some(e.dn.as_str().to_string()),
            a: e.attrs
                .values()
                .map(|a| (a.name.to_string(), a.values.to_vec()))
                .collect(),
            l: Vec::new(),
        },
        Item::Logins(l) => Line {
            u: u.to_string(),
            c: 'o',
            dn: None,
            a: Vec::new(),
            l: l.clone(),
        },
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
    let p = work_dir.join(format!("snapshot-{safe}.jsonl"));
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
        assert!(
            p.starts_with(t.path()) && p.to_string_lossy().ends_with("snapshot-AC-X_.._y.jsonl")
        );
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
        let h = Header::new("AC-X", "dc=x", &["a".into()], b"cookie");
        let d = tree.write(&p, &h).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // someone else's DN is not in the file
        assert!(!std::fs::read_to_string(&p).unwrap().contains("uid=2"));
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
