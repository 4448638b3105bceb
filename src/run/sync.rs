//! The `sync` and `retention` commands: extraction files → desired tree →
//! plan (with the lifecycle decisions) → directory.
//!
//! Extractions given together are applied one after the other in date order
//! (a Complet before the Deltas of later days), each planned against the
//! directory as the previous one left it. Whatever can refuse an extraction
//! (bad files, not well-formed XML, an incomplete Complet, an extraction
//! older than the last one applied, an unreachable directory) happens before
//! its first write; the first refusal stops the run, and the extractions
//! already applied stay applied (the report lists them).
//!
//! The stages, each in its module: [`super::read`] (the directory before
//! planning, the tree read once), [`super::parse`] (files → mapped tree),
//! [`super::plan`] (plans and guards), [`super::gate`] (schema, safety
//! rails, approval, saved plans), [`super::apply`] (phase by phase, with
//! the journal and the control entry). Where the CPU stages run: see
//! [`super::read`].

use crate::aaf::filename::{self, Extraction, ExtractionKind};
use crate::aaf::AafError;
use crate::config::Config;
use crate::delivery;
use crate::ldap::{Directory, DirectoryError, Halt, Snapshot};
use crate::mapping::layout::Layout;
use crate::model::plan::{Absent, Plan};
use crate::model::Store;
use crate::ops::approval::{self, Approval};
use crate::ops::journal::Journal;
use crate::ops::report::{PlanCounts, Report, StepReport};
use crate::retention;
use crate::run::control::Control;
pub use crate::run::kept::Kept;
use crate::run::kept::Tree;
use crate::run::read::{interruptible_read, read_directory_and_first};
use crate::run::{apply, gate, plan, read, targeted};
use crate::schema::{date::format_date, EntryKind, State};
use std::path::{Path, PathBuf};
use time::Date;

pub use crate::run::parse::{read_delta, read_delta_for, read_extraction, read_extraction_for};

/// Why a run was refused (exit code 2, nothing written).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Aaf(#[from] AafError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The extraction is older than the last one applied.
    #[error("{0}")]
    Older(String),
    /// The safety rails held the run back (nothing written); the plan is
    /// saved for review and approval.
    #[error("{0}")]
    Held(String),
    /// The apply stopped midway (directory unreachable through every
    /// retry, run lock lost): part of the plan is applied.
    #[error("{0}")]
    Halted(String),
    /// What the sync would write does not fit the directory's schema
    /// (nothing written).
    #[error("{0}")]
    Schema(String),
}

/// Options of one `sync` run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub paths: Vec<PathBuf>,
    pub dry_run: bool,
    /// The run date: first-seen dates and retention deadlines.
    pub now: Date,
    /// Apply an extraction older than the last one applied.
    pub force: bool,
    /// Approval of a plan the safety rails hold back.
    pub approval: Approval,
    /// Plan only, to tell whether the directory drifted (`--check`): no
    /// plan file is saved.
    pub check: bool,
    /// The run lock's stop flag, shared by the directory's writes.
    pub halt: Option<Halt>,
    /// Where the applied operations are journaled.
    pub journal: Option<std::sync::Arc<std::sync::Mutex<Journal>>>,
    /// A dry run's LDIF carries the password values its moves need (to be
    /// applied by hand); without it a comment marks each move.
    pub with_passwords: bool,
}

impl SyncOptions {
    pub fn new(paths: Vec<PathBuf>, dry_run: bool, now: Date) -> SyncOptions {
        SyncOptions {
            paths,
            dry_run,
            now,
            force: false,
            approval: Approval::None,
            check: false,
            with_passwords: false,
            halt: None,
            journal: None,
        }
    }
}

/// What a run planned: its steps, and for an LDIF of them the password
/// values they move.
#[derive(Default)]
pub struct RunPlan {
    pub steps: Vec<StepPlan>,
    pub passwords: crate::ldap::ldif::Passwords,
}

impl RunPlan {
    pub fn ldif(&self) -> String {
        crate::ldap::ldif::render_steps(
            self.steps.iter().map(|s| (s.label.as_str(), &s.plan)),
            &self.passwords,
        )
    }

    /// [`RunPlan::ldif`], written as it is made (see
    /// [`crate::ldap::ldif::write_steps`]).
    pub fn write_ldif(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        crate::ldap::ldif::write_steps(
            w,
            self.steps.iter().map(|s| (s.label.as_str(), &s.plan)),
            &self.passwords,
        )
    }

    pub fn json(&self) -> String {
        let mut out = Vec::new();
        let _ = self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`RunPlan::json`], written as it is made: at an académie's scale,
    /// the plan as a JSON value, then as a string, was most of a run's
    /// peak memory.
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        #[derive(serde::Serialize)]
        struct Step<'a> {
            label: &'a str,
            plan: &'a Plan,
        }
        #[derive(serde::Serialize)]
        struct Steps<'a> {
            steps: Vec<Step<'a>>,
        }
        let steps = self
            .steps
            .iter()
            .map(|s| Step {
                label: &s.label,
                plan: &s.plan,
            })
            .collect();
        serde_json::to_writer_pretty(w, &Steps { steps }).map_err(std::io::Error::other)
    }

    /// True when the plan changes nothing (the directory is in step).
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|s| s.plan.is_empty())
    }
}

/// The plan of one extraction (or of the retention pass).
pub struct StepPlan {
    pub label: String,
    pub plan: Plan,
    /// The control state once the extraction is applied (`None` for the
    /// branches and the retention pass).
    pub next: Option<Control>,
}
/// The PATH arguments → the verified extraction files (archives unpacked
/// into `staging`, bordereaux checked). Any refusal refuses the run.
fn collect_files(
    cfg: &Config,
    paths: &[PathBuf],
    staging: &Path,
    report: &mut Report,
) -> Result<Vec<PathBuf>, SyncError> {
    let g = delivery::gather(paths, staging, &cfg.delivery)
        .map_err(|e| SyncError::Input(e.to_string()))?;
    report.ignored_files = g.unused.iter().map(|p| p.display().to_string()).collect();
    report
        .ignored_notes
        .extend(g.unused.iter().map(|p| ignored_note(p)));
    report.ignored_notes.extend(g.skipped.iter().cloned());
    report.ignored_files.extend(g.skipped);
    if let Some(r) = g.refused.first() {
        return Err(SyncError::Input(format!("{}: {}", r.what, r.reason)));
    }
    Ok(g.files.into_iter().map(|i| i.path).collect())
}

/// Why a file given was not read, for the summary: its name is not an
/// extraction file's, or the bordereau of its extraction does not list it.
fn ignored_note(p: &Path) -> String {
    let name = p.file_name().and_then(|n| n.to_str());
    if name.is_some_and(|n| filename::AafFileName::parse(n).is_some()) {
        format!(
            "{}: not listed by the bordereau of its extraction",
            p.display()
        )
    } else {
        format!("{} {NOT_AN_EXTRACTION}", p.display())
    }
}

/// The end of the line saying a file name is not an extraction file's.
const NOT_AN_EXTRACTION: &str =
    "does not match <prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml";

/// Runs `sync`. `Err` means the run was refused (or held) before any
/// write, or halted midway (`SyncError::Halted`).
///
/// Every extraction is planned first, each against the tree the previous
/// one leaves (simulated), so that the safety rails judge the whole run
/// before its first write; then the plans are applied in order.
pub async fn run(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
) -> Result<RunPlan, SyncError> {
    let mut kept = Kept::default();
    let result = run_kept(cfg, opts, report, &mut kept).await;
    kept.close().await;
    result
}

/// [`run`] on the connection and tree `kept` holds (`run`'s extractions,
/// one after the other).
pub async fn run_kept(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    kept: &mut Kept,
) -> Result<RunPlan, SyncError> {
    let r = run_on(cfg, opts, report, kept).await;
    kept.after_apply().await;
    r
}

async fn run_on(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    kept: &mut Kept,
) -> Result<RunPlan, SyncError> {
    report.head.command = "sync".into();
    report.head.dry_run = opts.dry_run;
    report.head.now = format_date(opts.now);
    let staging = delivery::Staging::new(&cfg.work_dir, "sync")
        .map_err(|e| SyncError::Input(format!("{}: cannot create: {e}", cfg.work_dir.display())))?;
    let files = collect_files(cfg, &opts.paths, staging.path(), report)?;
    let scan = filename::group_files(files);
    report
        .ignored_files
        .extend(scan.other_files.iter().map(|p| p.display().to_string()));
    report.ignored_notes.extend(
        scan.other_files
            .iter()
            .map(|p| format!("{} {NOT_AN_EXTRACTION}", p.display())),
    );
    if scan.extractions.is_empty() {
        return Err(SyncError::Input(
            "no AAF extraction file (<prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml) in the given paths".into(),
        ));
    }
    for x in &scan.extractions {
        if let Some(why) = x.not_whole() {
            return Err(SyncError::Input(format!(
                "{}: {why}: refused (what is missing would read as people leaving or changes \
                 lost; deliver the whole extraction)",
                x.label()
            )));
        }
    }
    let layout = cfg.layout();
    let Kept { dir, tree, store } = kept;
    let store = Kept::store(store, cfg);
    let dir = Kept::connect(dir, cfg, opts).await?;
    plan_and_apply(
        cfg,
        opts,
        report,
        &layout,
        &scan.extractions,
        dir,
        tree,
        store,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn plan_and_apply(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    extractions: &[Extraction],
    dir: &Directory,
    tree: &mut Tree,
    store: Option<&Store>,
) -> Result<RunPlan, SyncError> {
    let keep_tree = tree.keep;
    // an extraction older than the last applied is refused here, before
    // the tree is touched: a kept tree stays good
    let mut pre = read::prelude(opts, report, layout, extractions, dir).await?;
    let start_entry = pre.control_entry.clone();
    // taken: whatever stops the run before a complete apply leaves no tree
    // a targeted read (one Delta) holds part of the tree: the retention
    // pass after it can use it, another extraction cannot
    let (mut snap, first) = match tree.snap.take().filter(|s| s.counts.is_none()) {
        Some(snap) => {
            // the tree a previous extraction of this run left, played forward
            report.perf.read_entries = snap.managed.len() as u64;
            (snap, None)
        }
        None if pre.extractions.len() == 1
            && pre.extractions[0].kind == ExtractionKind::Delta
            && cfg.targeted_delta =>
        {
            (
                read::read_for_delta(
                    cfg,
                    layout,
                    pre.extractions[0],
                    &pre,
                    opts.now,
                    dir,
                    report,
                    store,
                )
                .await?,
                None,
            )
        }
        None => {
            let mut first_step = StepReport::default();
            let (snap, first_tree) = read_directory_and_first(
                cfg,
                layout,
                pre.extractions[0],
                opts.now,
                dir,
                &mut pre.blocks,
                &mut first_step,
                report,
                pre.adapt.clone(),
                store,
            )
            .await;
            (snap?, Some((first_step, first_tree)))
        }
    };
    let check = (snap.counts.is_some() && std::env::var_os(targeted::CHECK_TARGETED).is_some())
        .then(|| pre.clone());
    let planned = plan::plan_all(
        cfg, opts, report, layout, dir, &mut pre, &mut snap, first, keep_tree, store,
    )
    .await?;
    if let Some(pre) = check {
        targeted::check(cfg, opts, layout, dir, pre, &planned, store).await?;
    }
    // the tree is large: freed before the apply unless it is kept
    let snap = keep_tree.then_some(snap);
    let g = gate::gate(
        cfg,
        opts,
        report,
        layout,
        dir,
        &pre.schema,
        &pre.extractions,
        planned,
    )
    .await?;
    if g.apply {
        apply::apply_all(
            cfg,
            opts,
            report,
            layout,
            dir,
            &g.out,
            start_entry,
            &g.digest,
        )
        .await?;
        // the tree as planned is the directory's only when everything
        // went through (no failure, no entry left out, no failover)
        let exact = !report.not_in_step()
            && report
                .steps
                .iter()
                .all(|st| st.applied.as_ref().is_some_and(|a| a.failover.is_none()));
        if exact {
            tree.snap = snap;
        }
    }
    Ok(g.out)
}

/// Runs `retention`: applies the deadlines without an extraction (days with
/// no delivery). No one departs in this pass; departed people whose
/// deadline has come are deleted, and departed structures nobody refers to.
/// Those deletions were counted by the rails when the people left: they
/// are not held back (the retention duty comes first).
pub async fn retention_pass(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
) -> Result<RunPlan, SyncError> {
    let mut kept = Kept::default();
    let result = retention_kept(cfg, opts, report, &mut kept).await;
    kept.close().await;
    result
}

/// [`retention_pass`] on the connection and tree `kept` holds: `run`'s
/// last step, on the tree its extractions left.
pub async fn retention_kept(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    kept: &mut Kept,
) -> Result<RunPlan, SyncError> {
    report.head.command = "retention".into();
    report.head.dry_run = opts.dry_run;
    report.head.now = format_date(opts.now);
    let store = Kept::store(&mut kept.store, cfg);
    let layout = cfg.layout();
    let dir = Kept::connect(&mut kept.dir, cfg, opts).await?;
    // the last use of the tree: taken
    let tree = kept.tree.snap.take();
    retention_inner(cfg, opts, report, &layout, dir, tree, store).await
}

async fn retention_inner(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    dir: &Directory,
    tree: Option<Snapshot>,
    store: Option<&Store>,
) -> Result<RunPlan, SyncError> {
    dir.check_schema().await?;
    let snap = match tree {
        Some(snap) => {
            report.perf.read_entries = snap.managed.len() as u64;
            snap
        }
        None => interruptible_read(dir, layout, report, store).await?,
    };
    let mut plan = Plan::default();
    let mut remaining = Vec::new();
    for e in snap.managed.values() {
        match EntryKind::of(e) {
            Some(kind) if !kind.is_group() && State::of(e).departed() => plan.absent.push(Absent {
                kind,
                dn: e.dn.clone(),
            }),
            _ => remaining.push(e),
        }
    }
    plan.absent.sort_by_key(|a| a.dn.key());
    let ctx = retention::Context {
        rules: &cfg.retention,
        layout,
        now: opts.now,
        extraction_date: None,
        previous_date: None,
        new_school_year: false,
        whole_tree: snap.counts.is_none(),
    };
    let mut step = StepReport {
        lifecycle: retention::apply(&ctx, &mut plan, &snap.managed, remaining.into_iter(), &[]),
        ..Default::default()
    };
    step.plan = PlanCounts::of(&plan);
    let out = RunPlan {
        steps: vec![StepPlan {
            label: "retention".into(),
            plan,
            next: None,
        }],
        ..Default::default()
    };
    if opts.dry_run && !opts.check {
        gate::save_plan(cfg, report, &out, None)?;
    }
    if !opts.dry_run {
        approval::clear_dry_run(&cfg.work_dir);
        let outcome = apply::apply_step(
            dir,
            opts,
            "retention",
            &out.steps[0].plan,
            &mut std::collections::HashSet::new(),
        )
        .await;
        let halted = outcome.halted.clone();
        step.applied = Some(outcome);
        report.steps.push(step);
        if let Some(why) = halted {
            return Err(SyncError::Halted(format!(
                "retention stopped: {why}; the next run converges from there"
            )));
        }
        return Ok(out);
    }
    report.steps.push(step);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::{AttrChange, Change, Planned};
    use crate::model::{Dn, Entry};
    use crate::schema::EntryKind;

    #[test]
    fn the_plan_s_json_streamed_holds_what_its_value_holds() {
        let mut e = Entry::new(Dn::new("uid=AC-1,ou=people,dc=x"));
        e.add("cn", ["Élodie \"Z\" \\ A"]);
        let plan = Plan {
            changes: vec![
                Planned {
                    kind: EntryKind::Pupil,
                    phase: 1,
                    change: Change::Add { entry: e },
                },
                Planned {
                    kind: EntryKind::Parent,
                    phase: 1,
                    change: Change::Modify {
                        dn: Dn::new("uid=AC-2,ou=people,dc=x"),
                        changes: vec![AttrChange::Replace {
                            attr: "mail".into(),
                            values: vec!["a@b.fr".into()],
                        }],
                    },
                },
            ],
            unchanged: 7,
            ..Plan::default()
        };
        let run = RunPlan {
            steps: vec![StepPlan {
                label: "ENT1D_Complet_20250904".into(),
                plan,
                next: None,
            }],
            ..RunPlan::default()
        };
        let mut streamed = Vec::new();
        run.write_json(&mut streamed).unwrap();
        let got: serde_json::Value = serde_json::from_slice(&streamed).unwrap();
        let want = serde_json::json!({ "steps": [
            { "label": run.steps[0].label, "plan": run.steps[0].plan }
        ] });
        assert_eq!(got, want);
        assert_eq!(run.json().as_bytes(), &streamed[..]);
        assert_eq!(
            got["steps"][0]["plan"]["changes"][0]["entry"]["attrs"]["cn"][0],
            "Élodie \"Z\" \\ A"
        );
    }
}
