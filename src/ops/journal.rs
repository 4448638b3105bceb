//! The journal of operations: every operation a run applies, in
//! `work_dir/journal/<date>.jsonl`, one JSON line when it is about to be
//! sent (`"event": "intent"`) and one when it settled (`"event": "result"`,
//! with `ok` and the error): run id, time, step, DN, operation, entry kind,
//! attribute names. Never a value (spec §7: no history of personal data):
//! it tells what was touched, not what it held. A run also writes a
//! `start` and an `end` line (with its outcome).
//!
//! After a crash the journal tells exactly what may have been done: an
//! intent with no result of the same run, step, DN and operation was sent,
//! or about to be, and may or may not have been applied; everything else is
//! either done (`ok`) or not (an error, or no intent at all).
//!
//! Several runs may append to one file at once (two sources sharing a
//! work directory, an erasure beside a sync): the file is opened with
//! `O_APPEND` and each line goes out whole in one `write(2)`, under an
//! exclusive `flock` so that a repair never races an append. A line cut
//! short (a process killed inside its write, a full disk) is found before
//! the next append and replaced by a `truncated` line that keeps the cut
//! text as a JSON string, so every line of every journal parses as JSON.
//! Files older than the configured days are removed.

use crate::mapping::layout::{log_dn, log_scrub};
use crate::model::plan::{AttrChange, Change, Planned};
use crate::schema::date;
use serde::Serialize;
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// One operation, before it is sent or once settled.
#[derive(Serialize)]
struct OpLine<'a> {
    run_id: &'a str,
    time: String,
    event: &'static str,
    step: &'a str,
    /// Through [`log_dn`]: a name in an adopted DN never reaches the journal.
    dn: Cow<'a, str>,
    op: &'a str,
    kind: &'a str,
    attrs: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Cow<'a, str>>,
}

/// The start or the end of a run.
#[derive(Serialize)]
struct RunLine<'a> {
    run_id: &'a str,
    time: String,
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
}

/// A line cut short by a crash, kept as text.
#[derive(Serialize)]
struct TruncatedLine<'a> {
    run_id: &'a str,
    time: String,
    event: &'static str,
    /// The bytes of the cut line (lossy UTF-8), at most [`MAX_FRAGMENT`].
    fragment: String,
    bytes: u64,
}

/// Longest cut line kept in a `truncated` line.
const MAX_FRAGMENT: u64 = 64 * 1024;

/// An open journal file.
pub struct Journal {
    file: File,
    path: PathBuf,
    run_id: String,
    step: String,
    /// Where this process's last line ended: when the file still ends
    /// there, no other writer came in between and nothing needs checking.
    end: Option<u64>,
}

pub fn journal_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("journal")
}

fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn now_text() -> String {
    date::rfc3339(now_utc())
}

/// The attribute names an operation touches (never their values).
pub fn attr_names(change: &Change) -> Vec<&str> {
    match change {
        Change::Add { entry } => entry.attrs.values().map(|a| a.name).collect(),
        Change::Move { .. } => Vec::new(),
        Change::Modify { changes, .. } => {
            let mut v = Vec::new();
            for c in changes {
                match c {
                    AttrChange::Add { attr, .. }
                    | AttrChange::Delete { attr, .. }
                    | AttrChange::Replace { attr, .. } => v.push(attr.as_str()),
                    AttrChange::StashPassword | AttrChange::RestorePassword => {
                        v.push("userPassword");
                        v.push(crate::schema::ATTR_SAVED_PASSWORD);
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

/// Holds an exclusive `flock` on the journal file while alive.
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn new(f: &'a File) -> std::io::Result<Flock<'a>> {
        loop {
            // SAFETY: flock on a file descriptor we own
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Flock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: as above
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Journal {
    /// Opens (appends to) today's journal, and removes the files older than
    /// `keep_days`.
    pub fn open(work_dir: &Path, run_id: &str, keep_days: u32) -> std::io::Result<Journal> {
        let dir = journal_dir(work_dir);
        crate::delivery::private_dir(&dir)?;
        let today = now_utc().date();
        prune(&dir, today, keep_days);
        let path = dir.join(format!("{}.jsonl", date::format_date(today)));
        let mut o = std::fs::OpenOptions::new();
        // read: to look at the end of the file before appending
        o.read(true).append(true).create(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o.open(&path)?;
        let mut j = Journal {
            file,
            path,
            run_id: run_id.to_string(),
            step: String::new(),
            end: None,
        };
        // a line cut by a crash is repaired now, not only at the first op
        j.append(Vec::new())?;
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names the step (extraction label, `retention`) of the next lines.
    pub fn step(&mut self, label: &str) {
        self.step = label.to_string();
    }

    /// Records the start of the run.
    pub fn start(&mut self, command: &str) {
        let line = RunLine {
            run_id: &self.run_id,
            time: now_text(),
            event: "start",
            command: Some(command),
            pid: Some(std::process::id()),
            outcome: None,
        };
        let bytes = serde_json::to_vec(&line);
        self.write_bytes(bytes);
    }

    /// Records the end of the run and its outcome.
    pub fn end(&mut self, outcome: &str) {
        let line = RunLine {
            run_id: &self.run_id,
            time: now_text(),
            event: "end",
            command: None,
            pid: None,
            outcome: Some(outcome),
        };
        let bytes = serde_json::to_vec(&line);
        self.write_bytes(bytes);
    }

    fn op_line<'a>(
        &'a self,
        p: &'a Planned,
        event: &'static str,
        result: Option<Option<&'a str>>,
    ) -> OpLine<'a> {
        OpLine {
            run_id: &self.run_id,
            time: now_text(),
            event,
            step: &self.step,
            dn: log_dn(p.change.dn().as_str()),
            op: p.change.op_name(),
            kind: p.kind.as_str(),
            attrs: attr_names(&p.change),
            ok: result.map(|e| e.is_none()),
            // a server's message may quote the DN
            error: result
                .flatten()
                .map(|e| log_scrub(e, p.change.dn().as_str())),
        }
    }

    /// Records an operation about to be sent.
    pub fn intent(&mut self, p: &Planned) {
        let line = serde_json::to_vec(&self.op_line(p, "intent", None));
        self.write_bytes(line);
    }

    /// Records one settled operation.
    pub fn record(&mut self, p: &Planned, error: Option<&str>) {
        let line = serde_json::to_vec(&self.op_line(p, "result", Some(error)));
        self.write_bytes(line);
    }

    fn write_bytes(&mut self, bytes: serde_json::Result<Vec<u8>>) {
        let written = bytes.map_err(std::io::Error::other).and_then(|mut b| {
            b.push(b'\n');
            self.append(b)
        });
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "journal write failed");
        }
    }

    /// Appends one whole line (none: only repairs), under the lock.
    fn append(&mut self, line: Vec<u8>) -> std::io::Result<()> {
        let _lock = Flock::new(&self.file)?;
        let mut len = self.file.metadata()?.len();
        if self.end != Some(len) && len > 0 {
            // another writer came in between, or first look: is the last
            // line whole?
            let mut last = [0u8; 1];
            self.file.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                self.repair(len)?;
                len = self.file.metadata()?.len();
            }
        }
        if line.is_empty() {
            self.end = Some(len);
            return Ok(());
        }
        // one write(2): with O_APPEND the line lands whole after the others
        let n = (&self.file).write(&line)?;
        if n < line.len() {
            // a full disk: the cut line is repaired before the next one
            self.end = None;
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("{n} of {} bytes written", line.len()),
            ));
        }
        self.end = Some(len + n as u64);
        Ok(())
    }

    /// Replaces the cut last line (the file is `len` bytes and does not end
    /// with a newline) by a `truncated` line holding its text.
    fn repair(&self, len: u64) -> std::io::Result<()> {
        // find the start of the last line, reading backwards
        let mut start = len;
        let mut chunk = vec![0u8; 8192];
        'back: while start > 0 {
            let from = start.saturating_sub(chunk.len() as u64);
            let n = (start - from) as usize;
            self.file.read_exact_at(&mut chunk[..n], from)?;
            for i in (0..n).rev() {
                if chunk[i] == b'\n' {
                    start = from + i as u64 + 1;
                    break 'back;
                }
            }
            start = from;
        }
        let cut = len - start;
        let keep = cut.min(MAX_FRAGMENT);
        let mut frag = vec![0u8; keep as usize];
        self.file.read_exact_at(&mut frag, start)?;
        self.file.set_len(start)?;
        let line = TruncatedLine {
            run_id: &self.run_id,
            time: now_text(),
            event: "truncated",
            fragment: String::from_utf8_lossy(&frag).into_owned(),
            bytes: cut,
        };
        let mut b = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        b.push(b'\n');
        (&self.file).write_all(&b)?;
        tracing::warn!(path = %self.path.display(), bytes = cut, "journal: a line cut short by a crash was found and kept as a `truncated` line");
        Ok(())
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
        let date = name.strip_suffix(".jsonl").and_then(date::parse_date);
        if date.is_some_and(|d| d < oldest) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests;
