//! The journal of operations: every operation a run applies, one JSON line
//! each (run id, time, step, DN, operation, attribute names, outcome), in
//! `work_dir/journal/<date>.jsonl`. Never a value (spec §7: no history of
//! personal data): it tells what was touched, not what it held. Lines are
//! flushed as the apply goes, so a run killed midway leaves a journal of
//! what it did. Files older than the configured days are removed.

use crate::diff::{AttrChange, Change, Planned};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Line<'a> {
    run_id: &'a str,
    time: String,
    step: &'a str,
    dn: &'a str,
    op: &'a str,
    kind: &'a str,
    attrs: Vec<&'a str>,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// An open journal file.
pub struct Journal {
    out: BufWriter<File>,
    path: PathBuf,
    run_id: String,
    step: String,
    pending: usize,
}

pub fn journal_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("journal")
}

fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The attribute names an operation touches (never their values).
pub fn attr_names(change: &Change) -> Vec<&str> {
    match change {
        Change::Add { entry } => entry.attrs.values().map(|a| a.name).collect(),
        Change::Modify { changes, .. } => {
            let mut v = Vec::new();
            for c in changes {
                match c {
                    AttrChange::Add { attr, .. }
                    | AttrChange::Delete { attr, .. }
                    | AttrChange::Replace { attr, .. } => v.push(attr.as_str()),
                    AttrChange::StashPassword | AttrChange::RestorePassword => {
                        v.push("userPassword");
                        v.push(crate::retention::ATTR_SAVED_PASSWORD);
                    }
                }
            }
            v.dedup();
            v
        }
        Change::Delete { .. } => Vec::new(),
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (appends to) today's journal, and removes the files older than
    /// `keep_days`.
    pub fn open(work_dir: &Path, run_id: &str, keep_days: u32) -> std::io::Result<Journal> {
        let dir = journal_dir(work_dir);
        crate::inputs::private_dir(&dir)?;
        let today = now_utc().date();
        prune(&dir, today, keep_days);
        let path = dir.join(format!(
            "{}.jsonl",
            crate::aaf::filename::format_date(today)
        ));
        let mut o = std::fs::OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let f = o.open(&path)?;
        Ok(Journal {
            out: BufWriter::new(f),
            path,
            run_id: run_id.to_string(),
            step: String::new(),
            pending: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names the step (extraction label, `retention`) of the next lines.
    pub fn step(&mut self, label: &str) {
        self.step = label.to_string();
    }

    /// Records one settled operation.
    pub fn record(&mut self, p: &Planned, error: Option<&str>) {
        let line = Line {
            run_id: &self.run_id,
            time: now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            step: &self.step,
            dn: p.change.dn().as_str(),
            op: p.change.op_name(),
            kind: p.kind.as_str(),
            attrs: attr_names(&p.change),
            ok: error.is_none(),
            error,
        };
        let written = serde_json::to_writer(&mut self.out, &line)
            .map_err(std::io::Error::other)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "journal write failed");
        }
        self.pending += 1;
        if self.pending >= 256 {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        self.pending = 0;
        if let Err(e) = self.out.flush() {
            tracing::warn!(path = %self.path.display(), error = %e, "journal write failed");
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Removes journal files dated more than `keep_days` before `today`.
fn prune(dir: &Path, today: time::Date, keep_days: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let oldest = today - time::Duration::days(i64::from(keep_days));
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let date = name.strip_suffix(".jsonl").and_then(|d| {
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok()
        });
        if date.is_some_and(|d| d < oldest) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::EntryKind;
    use crate::model::{Dn, Entry};

    #[test]
    fn lines_name_attributes_never_values() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(journal_dir(t.path())).unwrap();
        std::fs::write(journal_dir(t.path()).join("2000-01-01.jsonl"), "old\n").unwrap();
        let mut j = Journal::open(t.path(), "run-1", 30).unwrap();
        assert!(
            !journal_dir(t.path()).join("2000-01-01.jsonl").exists(),
            "pruned"
        );
        j.step("AC_Complet_20261124");
        let mut e = Entry::new(Dn::new("uid=AC-CRETEIL-1,ou=people,dc=x"));
        e.add("sn", ["Zorglub"]);
        e.add("objectClass", ["ENTEleve"]);
        j.record(
            &Planned {
                kind: EntryKind::Pupil,
                phase: 1,
                change: Change::Add { entry: e },
            },
            None,
        );
        j.record(
            &Planned {
                kind: EntryKind::Pupil,
                phase: 2,
                change: Change::Modify {
                    dn: Dn::new("uid=AC-CRETEIL-2,ou=people,dc=x"),
                    changes: vec![
                        AttrChange::Replace {
                            attr: "mail".into(),
                            values: vec!["zorglub@example.org".into()],
                        },
                        AttrChange::StashPassword,
                    ],
                },
            },
            Some("rc=50 insufficientAccessRights"),
        );
        let path = j.path().to_path_buf();
        drop(j);
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["run_id"], "run-1");
        assert_eq!(lines[0]["op"], "add");
        assert_eq!(lines[0]["attrs"], serde_json::json!(["objectClass", "sn"]));
        assert_eq!(
            lines[1]["attrs"],
            serde_json::json!(["mail", "userPassword", "aafSyncSavedPassword"])
        );
        assert_eq!(lines[1]["ok"], false);
        assert!(
            !text.contains("Zorglub") && !text.contains("zorglub@"),
            "{text}"
        );
    }
}
