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

use crate::aaf::filename::{self, format_date, Extraction, ExtractionKind, FileCategory};
use crate::aaf::{AafError, ReadItem, RecordError, RecordReader};
use crate::config::Config;
use crate::control::{self, Control};
use crate::diff::{self, Absent, Plan};
use crate::inputs;
use crate::ldap::{Directory, DirectoryError, Snapshot};
use crate::mapping::delta::Overlay;
use crate::mapping::{self, layout::Layout, login, perimeter::Perimeter, EntryKind, Mapper};
use crate::model::Entry;
use crate::report::{ExtractionReport, FileReport, PlanCounts, Report, StepReport};
use crate::retention::{self, State};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use time::Date;

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
}

/// The plan of one extraction (or of the retention pass).
pub struct StepPlan {
    pub label: String,
    pub plan: Plan,
}

/// The PATH arguments → the verified extraction files (archives unpacked
/// into `staging`, bordereaux checked). Any refusal refuses the run.
fn collect_files(
    cfg: &Config,
    paths: &[PathBuf],
    staging: &Path,
    report: &mut Report,
) -> Result<Vec<PathBuf>, SyncError> {
    let g = inputs::gather(paths, staging, &cfg.delivery).map_err(SyncError::Input)?;
    report.ignored_files = g.unused.iter().map(|p| p.display().to_string()).collect();
    if let Some(r) = g.refused.first() {
        return Err(SyncError::Input(format!("{}: {}", r.what, r.reason)));
    }
    Ok(g.files.into_iter().map(|i| i.path).collect())
}

/// Where the records of an extraction go.
enum Sink<'a, 'p> {
    /// A Complet: straight into the mapper.
    Complet(Box<Mapper<'a>>),
    /// A Delta: played over the directory's records.
    Delta(Overlay<'p>),
}

impl Sink<'_, '_> {
    fn feed(&mut self, cat: FileCategory, item: ReadItem, file: &Path) -> Option<RecordError> {
        match (self, item) {
            (Sink::Complet(m), ReadItem::Record(rec)) => m.map(&rec, file).err(),
            (Sink::Delta(o), ReadItem::Record(rec)) => o.apply(rec, file).err(),
            (Sink::Complet(m), ReadItem::Rejected(e)) => {
                m.count_rejected(cat);
                Some(e)
            }
            (Sink::Delta(o), ReadItem::Rejected(e)) => {
                o.count_rejected(cat);
                Some(e)
            }
        }
    }
}

/// Streams every file of an extraction, category by category in import
/// order, into `sink`.
fn read_files(
    cfg: &Config,
    extraction: &Extraction,
    sink: &mut Sink,
    step: &mut StepReport,
) -> Result<(), SyncError> {
    let mut xr = ExtractionReport {
        label: extraction.label(),
        kind: format!("{:?}", extraction.kind),
        date: format_date(extraction.date),
        ..Default::default()
    };
    for cat in FileCategory::IMPORTED {
        for f in extraction.files_of(cat) {
            let mut reader = RecordReader::open(&f.path, cat, cfg.encoding)?;
            let mut fr = FileReport {
                file: f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                category: cat.as_str().to_string(),
                part: f.name.part,
                encoding: reader.detected().clone(),
                records: 0,
                rejected: 0,
            };
            while let Some(item) = reader.next_item()? {
                fr.records += 1;
                if let Some(e) = sink.feed(cat, item, &f.path) {
                    fr.rejected += 1;
                    step.rejected_records.push(e);
                }
            }
            if xr.header.is_empty() {
                xr.header = reader.header().clone();
            }
            if reader
                .header()
                .get("degre")
                .is_some_and(|d| d.eq_ignore_ascii_case("2D"))
            {
                return Err(SyncError::Input(format!(
                    "{}: a 2D (secondary) extraction: this version imports 1D extractions only",
                    f.path.display()
                )));
            }
            tracing::info!(file = %fr.file, records = fr.records, rejected = fr.rejected, encoding = fr.encoding.encoding, "file read");
            xr.files.push(fr);
        }
    }
    step.extraction = Some(xr);
    Ok(())
}

fn perimeter(cfg: &Config) -> Perimeter {
    Perimeter::new(&cfg.perimeter_uai, cfg.perimeter_all)
}

/// Reads and maps one Complet extraction (no LDAP here).
pub fn read_extraction(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    let mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now);
    let mut sink = Sink::Complet(Box::new(mapper));
    read_files(cfg, extraction, &mut sink, step)?;
    let Sink::Complet(mapper) = sink else {
        unreachable!("the sink keeps its kind")
    };
    Ok(mapper.finish())
}

/// Reads one Delta extraction, plays it over the directory's records
/// (`current`) and maps the result (no LDAP here).
pub fn read_delta(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    current: &HashMap<String, Entry>,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    let uai = perimeter(cfg);
    let overlay = Overlay::from_directory(current, layout, &uai);
    if overlay.structures() == 0 {
        return Err(SyncError::Input(format!(
            "{}: a Delta needs a Complet applied first: the directory holds no structure of source {}",
            extraction.label(),
            layout.source
        )));
    }
    let mut sink = Sink::Delta(overlay);
    read_files(cfg, extraction, &mut sink, step)?;
    let Sink::Delta(overlay) = sink else {
        unreachable!("the sink keeps its kind")
    };
    step.delta = Some(overlay.stats.clone());
    let mut mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now);
    let from = Path::new("(directory records with the Delta applied)");
    for rec in overlay.into_records() {
        if let Err(e) = mapper.map(&rec, from) {
            step.rejected_records.push(e);
        }
    }
    Ok(mapper.finish())
}

/// Plans one extraction against the directory as read (`snap`, `control`).
/// Returns the plan and the control state once it is applied.
#[allow(clippy::too_many_arguments)]
fn plan_extraction(
    cfg: &Config,
    layout: &Layout,
    x: &Extraction,
    now: Date,
    snap: &Snapshot,
    control: &Control,
    control_entry: Option<&Entry>,
    step: &mut StepReport,
) -> Result<(Plan, Control), SyncError> {
    let mut tree = match x.kind {
        ExtractionKind::Complet => read_extraction(cfg, layout, x, now, step)?,
        ExtractionKind::Delta => read_delta(cfg, layout, x, now, &snap.managed, step)?,
    };
    step.mapping = tree.stats.clone();
    step.perimeter_missing_uai = tree.missing_uai.clone();
    let mut taken = snap.taken_logins.clone();
    step.logins_created = login::assign(
        tree.entries
            .iter_mut()
            .filter(|d| d.kind.is_person())
            .map(|d| &mut d.entry),
        &snap.logins,
        &mut taken,
    ) as u64;
    let mut plan = diff::plan(&tree.entries, &snap.managed);
    let year = cfg.retention.school_year(x.date);
    let new_year = x.kind == ExtractionKind::Complet && control.starts_school_year(year);
    if new_year {
        step.school_year_rebuild = Some(year);
    }
    let ctx = retention::Context {
        rules: &cfg.retention,
        layout,
        now,
        extraction_date: Some(x.date),
        previous_date: control.applied.as_ref().map(|a| a.date),
        new_school_year: new_year,
    };
    step.lifecycle = retention::apply(
        &ctx,
        &mut plan,
        &snap.managed,
        tree.entries.iter().map(|d| &d.entry),
    );
    let next = control.after(x, year);
    if let Some(c) = next.change(layout, control_entry) {
        plan.changes.push(c);
        plan.sort();
    }
    step.plan = PlanCounts::of(&plan);
    Ok((plan, next))
}

/// Keeps the in-memory snapshot in step with a plan a dry run did not apply.
fn simulate(plan: &Plan, snap: &mut Snapshot) {
    diff::simulate(plan, &mut snap.managed);
    for p in &plan.changes {
        if let diff::Change::Add { entry } = &p.change {
            if let Some(l) = entry.first("ENTPersonLogin") {
                snap.logins.insert(entry.dn.key(), l.to_string());
                snap.taken_logins.insert(l.to_lowercase());
            }
        }
    }
}

/// Runs `sync`. `Err` means the extraction at hand was refused before any
/// write (those before it, listed in the report, were applied).
pub async fn run(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
) -> Result<Vec<StepPlan>, SyncError> {
    report.command = "sync".into();
    report.dry_run = opts.dry_run;
    report.now = format_date(opts.now);
    let staging = inputs::Staging::new(&cfg.work_dir, "sync")
        .map_err(|e| SyncError::Input(format!("{}: cannot create: {e}", cfg.work_dir.display())))?;
    let files = collect_files(cfg, &opts.paths, staging.path(), report)?;
    let scan = filename::group_files(files);
    report
        .ignored_files
        .extend(scan.other_files.iter().map(|p| p.display().to_string()));
    if scan.extractions.is_empty() {
        return Err(SyncError::Input(
            "no AAF extraction file (<prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml) in the given paths".into(),
        ));
    }
    for x in &scan.extractions {
        let missing = x.missing_categories();
        if x.kind == ExtractionKind::Complet && !missing.is_empty() {
            let m: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
            return Err(SyncError::Input(format!(
                "{}: incomplete Complet, no file for {}: refused (it would read as everyone leaving)",
                x.label(),
                m.join(", ")
            )));
        }
    }
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let dir = Directory::connect(&cfg.ldap).await?;
    dir.check_schema().await?;
    // listed now, created just before the first write: a refused
    // extraction writes nothing at all
    report.branches_created = dir.ensure_branches(&layout, true).await?;
    let mut control_entry = dir.read_control(&layout).await?;
    let mut control = control_entry
        .as_ref()
        .map(Control::from_entry)
        .unwrap_or_default();
    if let Some(applied) = &control.applied {
        // extractions are sorted: the first is the oldest
        let first = &scan.extractions[0];
        if control.is_older(first) && !opts.force {
            return Err(SyncError::Older(format!(
                "{}: older than the last extraction applied, {}: refused (--force applies it anyway)",
                first.label(),
                control::describe(applied)
            )));
        }
    }
    let mut snap = dir.read_managed(&layout).await?;
    tracing::info!(managed = snap.managed.len(), "directory read");
    let mut plans = Vec::new();
    let n = scan.extractions.len();
    for (i, x) in scan.extractions.iter().enumerate() {
        let mut step = StepReport::default();
        let planned = plan_extraction(
            cfg,
            &layout,
            x,
            opts.now,
            &snap,
            &control,
            control_entry.as_ref(),
            &mut step,
        );
        let (plan, next) = match planned {
            Ok(p) => p,
            Err(e) => {
                report.steps.push(step);
                dir.close().await;
                return Err(e);
            }
        };
        let last = i + 1 == n;
        if opts.dry_run {
            if !last {
                simulate(&plan, &mut snap);
                control_entry = Some(next.entry(&layout));
            }
        } else {
            if i == 0 {
                dir.ensure_branches(&layout, false).await?;
            }
            let outcome = dir.apply(&plan, cfg.ldap.in_flight).await;
            tracing::info!(extraction = %x.label(), failures = outcome.failures.len(), "plan applied");
            step.applied = Some(outcome);
            if !last {
                snap = dir.read_managed(&layout).await?;
                control_entry = dir.read_control(&layout).await?;
            }
        }
        control = next;
        report.steps.push(step);
        plans.push(StepPlan {
            label: x.label(),
            plan,
        });
    }
    dir.close().await;
    Ok(plans)
}

/// Runs `retention`: applies the deadlines without an extraction (days with
/// no delivery). No one departs in this pass; departed people whose
/// deadline has come are deleted, and departed structures nobody refers to.
pub async fn retention_pass(
    cfg: &Config,
    dry_run: bool,
    now: Date,
    report: &mut Report,
) -> Result<StepPlan, SyncError> {
    report.command = "retention".into();
    report.dry_run = dry_run;
    report.now = format_date(now);
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let dir = Directory::connect(&cfg.ldap).await?;
    dir.check_schema().await?;
    let snap = dir.read_managed(&layout).await?;
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
        layout: &layout,
        now,
        extraction_date: None,
        previous_date: None,
        new_school_year: false,
    };
    let mut step = StepReport {
        lifecycle: retention::apply(&ctx, &mut plan, &snap.managed, remaining.into_iter()),
        ..Default::default()
    };
    step.plan = PlanCounts::of(&plan);
    if !dry_run {
        step.applied = Some(dir.apply(&plan, cfg.ldap.in_flight).await);
    }
    dir.close().await;
    report.steps.push(step);
    Ok(StepPlan {
        label: "retention".into(),
        plan,
    })
}
