//! The daily job, `aaf-sync run` (spec §2): fetch what the académie
//! deposited, verify it, sync every new extraction in date order, apply the
//! retention deadlines, then destroy the local copies of what was imported
//! (and the remote ones when configured).
//!
//! An extraction that is refused (bad bordereau, not well-formed XML, an
//! unreachable directory…) is kept in the incoming directory for the next
//! try, and so are the later ones (order matters: a Delta builds on the
//! previous day). An extraction older than the last one applied is obsolete:
//! it is skipped and destroyed. Destruction deletes the downloaded files,
//! the archives they came from and their bordereaux once everything they
//! carried is imported; unpacked copies never outlive the run.
//!
//! Nothing else lingers in the incoming directory: a file the fetch pattern
//! brought that is not an extraction file, an archive or a bordereau (a
//! `LISEZMOI.txt`) is reported and removed, and so is a partial download
//! that can no longer be resumed (see [`sftp::remove_stale_partials`]).
//! On SIGTERM or SIGINT the extractions not started yet wait for the next
//! run.
//!
//! The extractions share one connection and one read of the managed tree
//! ([`sync::Kept`]): each is planned against the tree the previous one
//! left, played forward, as `sync` plans several; the retention pass too.
//! The tree is read again only after an apply that did not go exactly as
//! planned (and for a dry run, whose extractions each see the directory
//! as it is).

use crate::aaf::filename;
use crate::config::{Config, RemoteDelete};
use crate::delivery::sftp::{self, Fetched};
use crate::delivery::{self, Refusal, Staging};
use crate::ops::outcome::Outcome;
use crate::ops::report::{Header, Report};
use crate::run::sync::{self, SyncError, SyncOptions};
use crate::schema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What happened to one extraction.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractionRun {
    pub label: String,
    /// `imported`, `imported_with_rejects` (records rejected, the rest in
    /// step), `partial` (operations failed or entries left out: kept, the
    /// next run applies it again), `skipped_older`, `refused`, `held` (by
    /// the safety rails, plan saved for approval), `failed` (apply stopped
    /// midway) or `waiting` (after one of these).
    pub outcome: Outcome,
    pub error: Option<String>,
    pub report: Option<Report>,
}

/// The report of `run`: the header every report has, then what the daily
/// job adds; each extraction's own [`Report`] inside.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub head: Header,
    pub fetch: Option<Fetched>,
    pub fetch_error: Option<String>,
    /// Bordereaux checked and accepted (file names).
    pub bordereaux: Vec<String>,
    /// Deliveries or extractions refused before parsing, kept for inspection.
    pub refused: Vec<Refusal>,
    /// Files not used (not extraction files, or not listed by their bordereau).
    pub unused_files: Vec<String>,
    pub extractions: Vec<ExtractionRun>,
    pub retention: Option<Report>,
    /// Local files destroyed after import (names).
    pub destroyed: Vec<String>,
    /// Files removed from the incoming directory unused, with why: not an
    /// extraction file, or a partial download that cannot be resumed.
    pub removed: Vec<String>,
    pub remote_deleted: Vec<String>,
    pub errors: Vec<String>,
}

fn name_of(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The report of one step of `run` (an extraction, the retention pass).
fn sub_report(head: &Header) -> Report {
    Report {
        head: head.within(),
        ..Default::default()
    }
}

/// Runs the daily job. Returns the exit code: 0 all imported, 1 imported
/// with rejected records, 3 operations failed (not in step; kept for the
/// next run), 2 something refused, held or failed.
/// `base` carries the run's options (dry run, date, approval, lock flag,
/// journal); its paths are ignored.
pub async fn run(cfg: &Config, base: &SyncOptions, rep: &mut RunReport) -> i32 {
    let (dry_run, now) = (base.dry_run, base.now);
    rep.head.dry_run = dry_run;
    rep.head.now = schema::date::format_date(now);
    let incoming = sftp::incoming_dir(&cfg.work_dir);
    if let Err(e) = delivery::private_dir(&incoming) {
        rep.errors
            .push(format!("{}: cannot create: {e}", incoming.display()));
        return 2;
    }
    if !dry_run {
        rep.removed.extend(
            sftp::remove_stale_partials(&incoming, std::time::SystemTime::now())
                .into_iter()
                .map(|n| {
                    format!(
                        "{n} (partial download older than 7 days: its file has left the server)"
                    )
                }),
        );
    }
    let mut code = 0;
    if let Some(f) = &cfg.fetch {
        let (f, wd) = (f.clone(), cfg.work_dir.clone());
        match tokio::task::spawn_blocking(move || sftp::fetch(&f, &wd, dry_run, now)).await {
            Ok(Ok(done)) => {
                rep.removed.extend(done.removed_partials.iter().map(|n| {
                    format!("{n} (partial download: its file is not on the server any more)")
                }));
                rep.fetch = Some(done)
            }
            Ok(Err(e)) => {
                rep.fetch_error = Some(e.to_string());
                code = 2;
            }
            Err(e) => {
                rep.fetch_error = Some(e.to_string());
                code = 2;
            }
        }
    }

    let staging = match Staging::new(&cfg.work_dir, "run") {
        Ok(s) => s,
        Err(e) => {
            rep.errors.push(format!("staging: {e}"));
            return 2;
        }
    };
    let g = match delivery::gather(
        std::slice::from_ref(&incoming),
        staging.path(),
        &cfg.delivery,
    ) {
        Ok(g) => g,
        Err(e) => {
            rep.errors.push(e.to_string());
            return 2;
        }
    };
    rep.bordereaux = g.bordereaux.iter().map(|b| name_of(&b.path)).collect();
    rep.unused_files = g.unused.iter().map(|p| name_of(p)).collect();
    rep.unused_files.extend(g.skipped.iter().cloned());
    if !dry_run {
        remove_foreign(&incoming, &g.unused, &cfg.delivery, rep);
    }
    if !g.refused.is_empty() {
        code = 2;
    }
    rep.refused = g.refused.clone();

    // which inputs (archives, loose files) each extraction comes from
    let mut origins_of: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
    let paths: Vec<PathBuf> = g.files.iter().map(|i| i.path.clone()).collect();
    let scan = filename::group_files(paths);
    for x in &scan.extractions {
        let set = origins_of.entry(x.label()).or_default();
        for f in &x.files {
            if let Some(i) = g.files.iter().find(|i| i.path == f.path) {
                set.insert(i.origin.clone());
            }
        }
    }

    // an extraction refused before parsing blocks the later ones too
    let refused_from = g
        .refused
        .iter()
        .filter_map(|r| r.what.rsplit('_').next())
        .filter_map(filename::parse_compact_date)
        .min();
    let mut done_labels = BTreeSet::new();
    let mut kept = sync::Kept::new(!dry_run);
    let mut blocked = false;
    let mut halted = false;
    for x in &scan.extractions {
        let label = x.label();
        if refused_from.is_some_and(|d| x.date > d) {
            blocked = true;
        }
        if let Some(why) = crate::host::interrupt::reason() {
            rep.extractions.push(ExtractionRun {
                label,
                outcome: Outcome::Waiting,
                error: Some(format!("{why}: kept for the next run")),
                report: None,
            });
            halted = true;
            code = 2;
            continue;
        }
        if blocked {
            rep.extractions.push(ExtractionRun {
                label,
                outcome: Outcome::Waiting,
                error: Some("an earlier extraction was refused: kept for the next run".into()),
                report: None,
            });
            continue;
        }
        let mut r = sub_report(&rep.head);
        let opts = SyncOptions {
            paths: x.files.iter().map(|f| f.path.clone()).collect(),
            ..base.clone()
        };
        let res = sync::run_kept(cfg, &opts, &mut r, &mut kept).await;
        let (outcome, error) = match res {
            // not in step: kept, the next run applies it again
            Ok(_) if r.not_in_step() => (Outcome::Partial, None),
            Ok(_) if r.rejected() => (Outcome::ImportedWithRejects, None),
            Ok(_) => (Outcome::Imported, None),
            Err(SyncError::Older(e)) => (Outcome::SkippedOlder, Some(e)),
            Err(SyncError::Held(e)) => (Outcome::Held, Some(e)),
            Err(SyncError::Halted(e)) => (Outcome::Failed, Some(e)),
            Err(e) => (Outcome::Refused, Some(e.to_string())),
        };
        halted |= outcome == Outcome::Failed;
        blocked |= outcome.blocks();
        code = Outcome::worse_code(code, outcome.exit_code());
        if !outcome.blocks() && outcome != Outcome::Partial {
            done_labels.insert(label.clone());
        }
        r.head.outcome = outcome;
        r.error = error.clone();
        rep.extractions.push(ExtractionRun {
            label,
            outcome,
            error,
            report: Some(r),
        });
    }

    // the directory went away or the lock was lost: stop here
    if !halted {
        let mut ret = sub_report(&rep.head);
        let outcome = match sync::retention_kept(cfg, base, &mut ret, &mut kept).await {
            Ok(_) if ret.not_in_step() => Outcome::Partial,
            Ok(_) => Outcome::Ok,
            Err(e) => {
                ret.error = Some(e.to_string());
                Outcome::Refused
            }
        };
        code = Outcome::worse_code(code, outcome.exit_code());
        ret.head.outcome = outcome;
        rep.retention = Some(ret);
    }
    kept.close().await;

    if !dry_run {
        destroy(cfg, &g, &origins_of, &done_labels, rep, &mut code).await;
    }
    drop(staging);
    code
}

/// Removes from `incoming` the loose files among `unused` that are not
/// extraction files, archives or bordereaux: the fetch pattern brought
/// them, nothing will ever use them, and they would stay for ever.
fn remove_foreign(
    incoming: &std::path::Path,
    unused: &[PathBuf],
    rules: &crate::config::delivery::Rules,
    rep: &mut RunReport,
) {
    for p in unused.iter().filter(|p| p.parent() == Some(incoming)) {
        let name = name_of(p);
        let ours = filename::AafFileName::parse(&name).is_some()
            || delivery::archive::kind_of(p).is_some()
            || delivery::bordereau::is_bordereau_name(&name, rules.bordereau_name.as_deref());
        if ours {
            continue;
        }
        match std::fs::remove_file(p) {
            Ok(()) => rep.removed.push(format!(
                "{name} (not an AAF extraction file, archive or bordereau)"
            )),
            Err(e) => rep.errors.push(format!("remove {}: {e}", p.display())),
        }
    }
}

/// Deletes the inputs whose every extraction is done, and the bordereaux
/// that came with them.
async fn destroy(
    cfg: &Config,
    g: &delivery::Gathered,
    origins_of: &BTreeMap<String, BTreeSet<PathBuf>>,
    done: &BTreeSet<String>,
    rep: &mut RunReport,
    code: &mut i32,
) {
    let mut pending: BTreeSet<&PathBuf> = BTreeSet::new();
    let mut finished: BTreeSet<&PathBuf> = BTreeSet::new();
    for (label, origins) in origins_of {
        if done.contains(label) {
            finished.extend(origins);
        } else {
            pending.extend(origins);
        }
    }
    for r in &g.refused {
        pending.extend(r.origins.iter());
    }
    let mut targets: Vec<PathBuf> = finished
        .into_iter()
        .filter(|o| !pending.contains(o))
        .cloned()
        .collect();
    // a loose bordereau goes with the files it covered
    for b in &g.bordereaux {
        if b.origin == b.path && !targets.contains(&b.origin) {
            let covered_pending = pending.iter().any(|p| p.parent() == b.path.parent());
            if !covered_pending {
                targets.push(b.path.clone());
            }
        }
    }
    let mut remote_names = Vec::new();
    for t in targets {
        match std::fs::remove_file(&t) {
            Ok(()) => {
                rep.destroyed.push(name_of(&t));
                remote_names.push(name_of(&t));
            }
            Err(e) => {
                rep.errors.push(format!("destroy {}: {e}", t.display()));
                *code = 2;
            }
        }
    }
    if let Some(f) = &cfg.fetch {
        if f.remote_delete == RemoteDelete::AfterImport && !remote_names.is_empty() {
            let f = f.clone();
            match tokio::task::spawn_blocking(move || sftp::delete_remote(&f, &remote_names)).await
            {
                Ok(Ok(names)) => rep.remote_deleted = names,
                Ok(Err(e)) => {
                    rep.errors.push(e.to_string());
                    *code = 2;
                }
                Err(e) => {
                    rep.errors.push(e.to_string());
                    *code = 2;
                }
            }
        }
    }
}

impl RunReport {
    /// How the whole `run` ended, given its exit code `code` (which
    /// combines its steps'): a run stopped by a held or refused
    /// extraction (or delivery) says so, as `sync` does, rather than
    /// `failed`; a signal makes it `interrupted`.
    pub fn outcome(&self, code: i32) -> Outcome {
        let general = Outcome::of_code(code);
        if general != Outcome::Failed {
            return general;
        }
        let steps: Vec<Outcome> = self
            .extractions
            .iter()
            .map(|x| x.outcome)
            .chain(self.retention.as_ref().map(|r| r.head.outcome))
            .collect();
        if steps.contains(&Outcome::Failed) || self.fetch_error.is_some() {
            Outcome::Failed
        } else if steps.contains(&Outcome::Held) {
            Outcome::Held
        } else if steps.contains(&Outcome::Refused) || !self.refused.is_empty() {
            Outcome::Refused
        } else {
            Outcome::Failed
        }
    }

    /// The human summary printed on stderr.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "aaf-sync {} run {}{}: {}",
            self.head.version,
            self.head.run_id,
            if self.head.dry_run { " (dry run)" } else { "" },
            self.head.outcome
        );
        if let Some(f) = &self.fetch {
            let _ = writeln!(
                s,
                "  fetch: {} listed, {} already fetched, {} downloaded{}",
                f.listed,
                f.known,
                f.downloaded.len(),
                if f.would_fetch.is_empty() {
                    String::new()
                } else {
                    format!(", {} to fetch", f.would_fetch.len())
                }
            );
        }
        if let Some(e) = &self.fetch_error {
            let _ = writeln!(s, "  fetch failed: {e}");
        }
        if let Some(f) = &self.fetch {
            for n in &f.refused_names {
                let _ = writeln!(
                    s,
                    "  refused remote name \"{n}\": control characters (not fetched)"
                );
            }
        }
        for r in &self.removed {
            let _ = writeln!(s, "  removed from incoming: {r}");
        }
        for b in &self.bordereaux {
            let _ = writeln!(s, "  bordereau {b}: verified");
        }
        for r in &self.refused {
            let _ = writeln!(s, "  refused {}: {}", r.what, r.reason);
        }
        for x in &self.extractions {
            let _ = writeln!(
                s,
                "  extraction {}: {}{}",
                x.label,
                x.outcome,
                x.error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            if let Some(r) = &x.report {
                for line in r.summary().lines().skip(1) {
                    let _ = writeln!(s, "    {line}");
                }
            }
        }
        if let Some(r) = &self.retention {
            for line in r.summary().lines().skip(1) {
                let _ = writeln!(s, "  {line}");
            }
        }
        if !self.destroyed.is_empty() {
            let _ = writeln!(s, "  destroyed after import: {}", self.destroyed.join(", "));
        }
        if !self.remote_deleted.is_empty() {
            let _ = writeln!(
                s,
                "  deleted on the server: {}",
                self.remote_deleted.join(", ")
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        s
    }
}
