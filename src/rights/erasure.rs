//! Erasures on request (spec §8): a person the académie asked to erase now
//! must not come back with the next extraction. Each erasure is recorded in
//! the directory, on `cn=aaf-sync-erasures-<source>,<base>`, as one value
//! `<sha256 of the jointure> <YYYY-MM-DD> <reason>` — a hash, not the id,
//! so the record itself holds no personal data. The sync skips the records
//! of a blocked person; the block is lifted when the académie's extraction
//! stops sending them (absent from a Complet, or a `deleteRequest`), or by
//! `aaf-sync subject unblock`. Pure: the values in, the changes out.

use crate::aaf::{FileCategory, Operation, Record};
use crate::mapping::layout::Layout;
use crate::model::plan::{AttrChange, Change, Planned};
use crate::model::{Dn, Entry};
use crate::schema;
use crate::schema::EntryKind;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub const ERASURES_CLASS: &str = "aafSyncErasures";
pub const ATTR_ERASED: &str = "aafSyncErased";

/// SHA-256 (hex) of a person's jointure `<source>$<id>`.
pub fn id_hash(source: &str, id: &str) -> String {
    let h = Sha256::digest(format!("{source}${id}").as_bytes());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The entry holding the erasures of `layout`'s source.
pub fn erasures_dn(layout: &Layout) -> Dn {
    Dn::child(
        &layout.base,
        "cn",
        &format!("aaf-sync-erasures-{}", layout.source),
    )
}

/// One recorded erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    pub hash: String,
    pub date: String,
    pub reason: String,
}

impl Erasure {
    pub fn value(&self) -> String {
        format!("{} {} {}", self.hash, self.date, self.reason)
    }
    pub fn parse(v: &str) -> Option<Erasure> {
        let mut it = v.splitn(3, ' ');
        let hash = it.next()?.to_string();
        if hash.len() != 64 {
            return None;
        }
        Some(Erasure {
            hash,
            date: it.next().unwrap_or("").to_string(),
            reason: it.next().unwrap_or("").to_string(),
        })
    }
}

/// What the blocks did in one extraction (counts only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlockStats {
    /// Records of erased people skipped.
    pub skipped: u64,
    /// Blocks lifted: the académie stopped sending the person.
    pub lifted: u64,
}

/// The blocks in force, and what one extraction did with them.
#[derive(Debug, Clone, Default)]
pub struct Blocks {
    /// Hash → the value as stored (to delete it exactly).
    values: BTreeMap<String, String>,
    seen: BTreeSet<String>,
    lifted: BTreeSet<String>,
    pub stats: BlockStats,
}

impl Blocks {
    pub fn from_entry(e: Option<&Entry>) -> Blocks {
        let mut b = Blocks::default();
        for v in e.and_then(|e| e.get(ATTR_ERASED)).unwrap_or_default() {
            if let Some(x) = Erasure::parse(v) {
                b.values.insert(x.hash, v.to_string());
            }
        }
        b
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Starts counting for the next extraction.
    pub fn start_step(&mut self) {
        self.seen.clear();
        self.lifted.clear();
        self.stats = BlockStats::default();
    }

    pub fn contains(&self, hash: &str) -> bool {
        self.values.contains_key(hash)
    }

    /// True when `rec` is of an erased person (the record is skipped). A
    /// `deleteRequest` for them lifts the block.
    pub fn skip(&mut self, source: &str, rec: &Record) -> bool {
        if self.values.is_empty() || rec.category == FileCategory::EtabEducNat {
            return false;
        }
        let h = id_hash(source, &rec.id);
        if !self.values.contains_key(&h) {
            return false;
        }
        if rec.op == Operation::Delete {
            self.lifted.insert(h.clone());
        }
        self.seen.insert(h);
        self.stats.skipped += 1;
        true
    }

    /// The change lifting the blocks this extraction ended: those it named
    /// in a `deleteRequest`, and for a Complet those it no longer carries.
    pub fn lift_change(&mut self, layout: &Layout, complet: bool) -> Option<Planned> {
        let mut gone: Vec<String> = Vec::new();
        for (h, v) in &self.values {
            if self.lifted.contains(h) || (complet && !self.seen.contains(h)) {
                gone.push(v.clone());
            }
        }
        self.stats.lifted = gone.len() as u64;
        if gone.is_empty() {
            return None;
        }
        for v in &gone {
            if let Some(x) = Erasure::parse(v) {
                self.values.remove(&x.hash);
            }
        }
        Some(Planned {
            kind: EntryKind::Control,
            phase: 8,
            change: Change::Modify {
                dn: erasures_dn(layout),
                changes: vec![AttrChange::Delete {
                    attr: ATTR_ERASED.into(),
                    values: gone,
                }],
            },
        })
    }
}

/// The change recording `erasure` (creating the entry when missing).
pub fn record_change(layout: &Layout, current: Option<&Entry>, erasure: &Erasure) -> Planned {
    let dn = erasures_dn(layout);
    let change = match current {
        Some(_) => Change::Modify {
            dn,
            changes: vec![AttrChange::Add {
                attr: ATTR_ERASED.into(),
                values: vec![erasure.value()],
            }],
        },
        None => {
            let mut e = Entry::new(dn);
            e.add("objectClass", ["top", ERASURES_CLASS]);
            e.set("cn", format!("aaf-sync-erasures-{}", layout.source));
            e.set(schema::ATTR_SOURCE, layout.source.clone());
            e.add(ATTR_ERASED, [erasure.value()]);
            Change::Add { entry: e }
        }
    };
    Planned {
        kind: EntryKind::Control,
        phase: 0,
        change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aaf::reader::RecordAttr;

    fn rec(cat: FileCategory, op: Operation, id: &str) -> Record {
        Record {
            category: cat,
            op,
            id: id.into(),
            attrs: Vec::<RecordAttr>::new(),
            index: 1,
        }
    }

    #[test]
    fn blocked_people_are_skipped_until_the_extraction_stops_sending_them() {
        let layout = Layout::new("dc=x", "AC");
        let e1 = Erasure {
            hash: id_hash("AC", "1"),
            date: "2026-11-24".into(),
            reason: "request 42".into(),
        };
        let e2 = Erasure {
            hash: id_hash("AC", "2"),
            ..e1.clone()
        };
        let Planned {
            change: Change::Add { mut entry },
            ..
        } = record_change(&layout, None, &e1)
        else {
            panic!("an add first")
        };
        entry.add(ATTR_ERASED, [e2.value()]);
        assert_eq!(Erasure::parse(&e1.value()), Some(e1.clone()));

        // a Complet still sending 1 but not 2: 1 stays blocked, 2 is lifted
        let mut b = Blocks::from_entry(Some(&entry));
        assert!(b.skip("AC", &rec(FileCategory::Eleve, Operation::Add, "1")));
        assert!(!b.skip("AC", &rec(FileCategory::Eleve, Operation::Add, "3")));
        assert!(!b.skip("AC", &rec(FileCategory::EtabEducNat, Operation::Add, "1")));
        let Some(Planned {
            change: Change::Modify { changes, .. },
            ..
        }) = b.lift_change(&layout, true)
        else {
            panic!("a lift")
        };
        assert_eq!(
            changes,
            vec![AttrChange::Delete {
                attr: ATTR_ERASED.into(),
                values: vec![e2.value()]
            }]
        );
        assert_eq!((b.stats.skipped, b.stats.lifted), (1, 1));

        // a Delta: only a deleteRequest lifts
        let mut b = Blocks::from_entry(Some(&entry));
        assert!(b.skip(
            "AC",
            &rec(FileCategory::PersRelEleve, Operation::Modify, "1")
        ));
        assert!(b.lift_change(&layout, false).is_none());
        assert!(b.skip("AC", &rec(FileCategory::Eleve, Operation::Delete, "2")));
        assert!(b.lift_change(&layout, false).is_some());
    }
}
