//! The ledger of fetched files (`fetched.jsonl` in the work directory):
//! what was downloaded (name, size, modification time, date; no content),
//! so that files staying on the server for days are fetched once.

use super::{local, FetchError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use time::Date;

/// One file fetched, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LedgerEntry {
    name: String,
    size: u64,
    mtime: u64,
    /// `yyyymmdd` of the fetch.
    fetched: String,
}

/// The ledger of fetched files, one JSON object per line: names are
/// escaped whatever they hold.
pub(super) struct Ledger {
    path: PathBuf,
    entries: Vec<LedgerEntry>,
    keys: HashSet<(String, u64, u64)>,
    /// An old `fetched.tsv` was read: it is replaced at the next save.
    pub(super) migrated_from: Option<PathBuf>,
}

/// Ledger entries are kept this long: longer than files stay on the server.
const LEDGER_DAYS: i64 = 60;

impl Ledger {
    pub(super) fn load(work_dir: &Path, today: Date) -> Result<Ledger, FetchError> {
        let path = work_dir.join("fetched.jsonl");
        let old = work_dir.join("fetched.tsv");
        let read = |p: &Path| match std::fs::read_to_string(p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(local(p)(e)),
        };
        let mut l = Ledger {
            path: path.clone(),
            entries: Vec::new(),
            keys: HashSet::new(),
            migrated_from: None,
        };
        let entries: Vec<LedgerEntry> = if let Some(text) = read(&path)? {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        } else if let Some(text) = read(&old)? {
            // the tab-separated ledger of earlier versions: only lines of
            // exactly four sane fields are carried over
            l.migrated_from = Some(old);
            text.lines()
                .filter_map(|line| {
                    let f: Vec<&str> = line.split('\t').collect();
                    let [name, size, mtime, day] = f.as_slice() else {
                        return None;
                    };
                    (!name.chars().any(char::is_control)).then_some(())?;
                    Some(LedgerEntry {
                        name: name.to_string(),
                        size: size.parse().ok()?,
                        mtime: mtime.parse().ok()?,
                        fetched: day.to_string(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let oldest = today - time::Duration::days(LEDGER_DAYS);
        for e in entries {
            let Some(day) = crate::aaf::filename::parse_compact_date(&e.fetched) else {
                continue;
            };
            if day < oldest {
                continue;
            }
            l.keys.insert((e.name.clone(), e.size, e.mtime));
            l.entries.push(e);
        }
        Ok(l)
    }

    pub(super) fn knows(&self, name: &str, size: u64, mtime: u64) -> bool {
        self.keys.contains(&(name.to_string(), size, mtime))
    }

    pub(super) fn add(&mut self, name: &str, size: u64, mtime: u64, today: Date) {
        self.entries.push(LedgerEntry {
            name: name.to_string(),
            size,
            mtime,
            fetched: crate::aaf::filename::compact_date(today),
        });
        self.keys.insert((name.to_string(), size, mtime));
    }

    pub(super) fn save(&mut self) -> Result<(), FetchError> {
        let mut text = Vec::new();
        for e in &self.entries {
            serde_json::to_writer(&mut text, e).map_err(|e| local(&self.path)(e.into()))?;
            text.push(b'\n');
        }
        crate::host::fs::write_private(&self.path, &text).map_err(local(&self.path))?;
        if let Some(old) = self.migrated_from.take() {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}
