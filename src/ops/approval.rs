//! Plans kept for review, and the approvals that let one held plan through.
//!
//! A run that the safety rails hold back saves its plan (LDIF and JSON) and
//! a small record of why under `work_dir/plans/`, then stops before any
//! write. An operator reviews it and approves **that plan**, by digest:
//! either on the command line (`--allow-mass-departure[=DIGEST]`) or with
//! `aaf-sync approve`, which leaves a one-time token the next run (a cron
//! job) consumes. A later plan, even slightly different, has another digest
//! and is held again.
//!
//! Only the latest held plan and the latest dry-run plan are kept (they hold
//! personal data: spec §7 keeps no history); files are private (0600).

use crate::delivery::private_dir;
use crate::host::fs::write_private;
use crate::safety::Hold;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why and when a plan was held.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    pub digest: String,
    pub run_id: String,
    pub command: String,
    /// When it was held (RFC 3339).
    pub held_at: String,
    /// The reasons, as sentences (ids and counts only).
    pub reasons: Vec<String>,
    pub ldif: PathBuf,
    pub json: PathBuf,
}

pub fn plans_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("plans")
}

fn approvals_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("approvals")
}

/// Saves a plan as `<name>.ldif` and `<name>.json` in the plans directory,
/// each streamed by its writer.
pub fn save_plan(
    work_dir: &Path,
    name: &str,
    ldif: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    json: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<(PathBuf, PathBuf)> {
    let dir = plans_dir(work_dir);
    private_dir(&dir)?;
    let (l, j) = (
        dir.join(format!("{name}.ldif")),
        dir.join(format!("{name}.json")),
    );
    crate::host::fs::write_private_with(&l, ldif)?;
    crate::host::fs::write_private_with(&j, json)?;
    Ok((l, j))
}

/// Records a held plan (its files are already saved).
pub fn record_held(work_dir: &Path, held: &Held) -> std::io::Result<()> {
    let dir = plans_dir(work_dir);
    private_dir(&dir)?;
    let json = serde_json::to_vec_pretty(held).map_err(std::io::Error::other)?;
    write_private(&dir.join("held.meta.json"), &json)
}

/// The plan held last, if any.
pub fn held(work_dir: &Path) -> Option<Held> {
    let text = std::fs::read(plans_dir(work_dir).join("held.meta.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Forgets the held plan (it was applied): its files hold personal data.
pub fn clear_held(work_dir: &Path) {
    let dir = plans_dir(work_dir);
    for f in ["held.meta.json", "held.ldif", "held.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// Removes the last dry run's plan once a real run writes: it describes a
/// tree that is no longer there and holds personal data.
pub fn clear_dry_run(work_dir: &Path) {
    let dir = plans_dir(work_dir);
    for f in ["last-dry-run.ldif", "last-dry-run.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// The sentences of a list of holds.
pub fn reasons(holds: &[Hold]) -> Vec<String> {
    holds.iter().map(|h| h.to_string()).collect()
}

fn valid_digest(d: &str) -> bool {
    d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why `aaf-sync approve` left no token. Digests and run ids only: a plan's
/// content never goes into a message.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    /// `given` (trimmed, lower case) is not a digest prefix.
    #[error("{given:?}: give the plan digest (at least its first 12 hex digits) printed by the refused run")]
    NotADigest { given: String },
    #[error("no held plan in {}: nothing to approve", .0.display())]
    NothingHeld(PathBuf),
    /// The plan held is another one than the operator reviewed.
    #[error("the held plan is {held} (run {run_id}), not {given}: review it first")]
    OtherPlan {
        held: String,
        run_id: String,
        given: String,
    },
    /// The token cannot be written; `dir` is the approvals directory.
    #[error("{}: {error}", dir.display())]
    Io { dir: PathBuf, error: std::io::Error },
}

/// `aaf-sync approve`: approves the held plan whose digest starts with
/// `prefix` (at least 12 hex digits) by leaving a one-time token.
pub fn approve(work_dir: &Path, prefix: &str) -> Result<Held, ApproveError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApproveError::NotADigest { given: prefix });
    }
    let Some(h) = held(work_dir) else {
        return Err(ApproveError::NothingHeld(plans_dir(work_dir)));
    };
    if !h.digest.starts_with(&prefix) {
        return Err(ApproveError::OtherPlan {
            held: h.digest,
            run_id: h.run_id,
            given: prefix,
        });
    }
    let dir = approvals_dir(work_dir);
    let io = |error| ApproveError::Io {
        dir: dir.clone(),
        error,
    };
    private_dir(&dir).map_err(io)?;
    write_private(&dir.join(&h.digest), h.run_id.as_bytes()).map_err(io)?;
    Ok(h)
}

/// How a run may be approved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Approval {
    /// No approval given: held plans are refused (unless a token exists).
    #[default]
    None,
    /// `--allow-mass-departure` alone: the plan held last.
    Held,
    /// `--allow-mass-departure=DIGEST` (a prefix of at least 12 digits).
    Digest(String),
}

/// What approved a held plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    Flag,
    Token,
}

/// Why an approval given on the command line does not let this run's plan
/// through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalMismatch {
    /// `--allow-mass-departure` without a digest, and no plan held.
    #[error("--allow-mass-departure: no held plan to approve (give its digest)")]
    NothingHeld,
    /// The approval names another plan (`given`: the digest or prefix).
    #[error("the approval is for plan {given}, but this run's plan is {digest}: it changed since it was reviewed; review the new plan and approve it")]
    OtherPlan { given: String, digest: String },
}

/// Decides whether the plan of digest `digest` is approved. `Err` explains
/// why an approval given does not match.
pub fn check(
    work_dir: &Path,
    approval: &Approval,
    digest: &str,
) -> Result<Option<ApprovedBy>, ApprovalMismatch> {
    let given = match approval {
        Approval::None => {
            return Ok(valid_digest(digest)
                .then(|| approvals_dir(work_dir).join(digest))
                .filter(|p| p.is_file())
                .map(|_| ApprovedBy::Token))
        }
        Approval::Held => match held(work_dir) {
            Some(h) => h.digest,
            None => return Err(ApprovalMismatch::NothingHeld),
        },
        Approval::Digest(d) => d.trim().to_ascii_lowercase(),
    };
    if given.len() >= 12 && digest.starts_with(&given) {
        Ok(Some(ApprovedBy::Flag))
    } else {
        Err(ApprovalMismatch::OtherPlan {
            given,
            digest: digest.to_string(),
        })
    }
}

/// Uses up the token of an approved plan once it is applied.
pub fn consume(work_dir: &Path, digest: &str) {
    if valid_digest(digest) {
        let _ = std::fs::remove_file(approvals_dir(work_dir).join(digest));
    }
    clear_held(work_dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_at(dir: &Path, digest: &str) {
        record_held(
            dir,
            &Held {
                digest: digest.into(),
                run_id: "r1".into(),
                command: "sync".into(),
                held_at: "2026-11-24T00:00:00Z".into(),
                reasons: vec![],
                ldif: dir.join("plans/held.ldif"),
                json: dir.join("plans/held.json"),
            },
        )
        .unwrap();
    }

    #[test]
    fn an_approval_names_one_plan() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(check(w, &Approval::None, &a), Ok(None));
        assert!(check(w, &Approval::Held, &a).is_err());
        held_at(w, &a);
        assert_eq!(check(w, &Approval::Held, &a), Ok(Some(ApprovedBy::Flag)));
        assert!(check(w, &Approval::Held, &b)
            .unwrap_err()
            .to_string()
            .contains("changed since"));
        assert_eq!(
            check(w, &Approval::Digest(a[..12].to_string()), &a),
            Ok(Some(ApprovedBy::Flag))
        );
        assert!(check(w, &Approval::Digest(a[..8].to_string()), &a).is_err());
        // a token, once, for that plan only
        assert!(approve(w, &b[..12]).is_err());
        approve(w, &a[..12]).unwrap();
        assert_eq!(check(w, &Approval::None, &b), Ok(None));
        assert_eq!(check(w, &Approval::None, &a), Ok(Some(ApprovedBy::Token)));
        consume(w, &a);
        assert_eq!(check(w, &Approval::None, &a), Ok(None));
        assert!(held(w).is_none());
    }
}
