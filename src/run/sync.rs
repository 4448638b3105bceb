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
use crate::delivery;
use crate::diff::{self, Absent, Plan};
use crate::host::progress::Progress;
use crate::ldap::{Directory, DirectoryError, Halt, Snapshot};
use crate::mapping::delta::Overlay;
use crate::mapping::sdet::Adaptation;
use crate::mapping::{
    self, align, layout::Layout, perimeter::Perimeter, settle, EntryKind, Mapper,
};
use crate::model::{Entry, EntryMap};
use crate::ops::approval::{self, Approval};
use crate::ops::journal::Journal;
use crate::ops::report::{
    ExtractionReport, FileReport, PlanCounts, Report, SafetyReport, StepReport,
};
use crate::retention::{self, State};
use crate::rights::erasure::{self, Blocks};
use crate::run::control::{self, Control};
use crate::safety::{self, Hold};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

    pub fn json(&self) -> String {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| serde_json::json!({ "label": s.label, "plan": s.plan }))
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "steps": steps })).unwrap_or_default()
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

/// Where the records of an extraction go.
enum Sink<'a, 'p> {
    /// A Complet: straight into the mapper.
    Complet(Box<Mapper<'a>>),
    /// A Delta: played over the directory's records.
    Delta(Box<Overlay<'p>>),
}

impl Sink<'_, '_> {
    fn feed(&mut self, cat: FileCategory, item: ReadItem, file: &Path) -> Option<RecordError> {
        // a field a real record carries once, given several values: the
        // record is damaged, rejected like a record the reader refused (in a
        // Delta its request is not played), so the person or structure stays
        // exactly as the directory holds them
        let item = match item {
            ReadItem::Record(rec) => match mapping::fields::several_values(&rec) {
                Some((field, n)) => ReadItem::Rejected(RecordError::new(
                    file,
                    rec.category,
                    rec.index,
                    Some(&rec.id),
                    Some(field),
                    format!("{n} values in a field a real record carries once"),
                )),
                None => ReadItem::Record(rec),
            },
            rejected => rejected,
        };
        match (self, item) {
            (Sink::Complet(m), ReadItem::Record(rec)) => m.map(&rec, file).err(),
            (Sink::Delta(o), ReadItem::Record(rec)) => o.apply(rec, file).err(),
            (Sink::Complet(m), ReadItem::Rejected(e)) => {
                m.rejected(cat, &e);
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
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<(), SyncError> {
    let bar = Progress::new("parse", "records", None);
    let started = std::time::Instant::now();
    let mut xr = ExtractionReport {
        label: extraction.label(),
        kind: format!("{:?}", extraction.kind),
        date: format_date(extraction.date),
        ..Default::default()
    };
    for cat in FileCategory::IMPORTED {
        for f in extraction.files_of(cat) {
            let mut reader = RecordReader::open(&f.path, cat, cfg.encoding)?;
            let mut two_d_names: Vec<String> = Vec::new();
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
                // SIGTERM or SIGINT: stop reading now (a large Complet
                // takes minutes); nothing is written before the parse ends
                if let Some(why) = crate::host::interrupt::reason() {
                    return Err(SyncError::Halted(format!(
                        "{why} while reading {}: nothing written",
                        f.path.display()
                    )));
                }
                fr.records += 1;
                bar.inc(1);
                if let ReadItem::Record(rec) = &item {
                    for a in &rec.attrs {
                        if crate::aaf::degree::is_two_d_name(&a.name)
                            && !two_d_names.contains(&a.name)
                        {
                            two_d_names.push(a.name.clone());
                        }
                    }
                    if blocks.skip(&cfg.source, rec) {
                        continue;
                    }
                }
                if let Some(e) = sink.feed(cat, item, &f.path) {
                    fr.rejected += 1;
                    step.rejected_records.push(e);
                }
            }
            if xr.header.is_empty() {
                xr.header = reader.header().clone();
            }
            if let Some(why) = crate::aaf::degree::two_d_reason(reader.header(), &two_d_names) {
                return Err(SyncError::Input(format!(
                    "{}: a 2D (secondary school) extraction — {why}: this version imports 1D \
                     extractions only; refused, nothing written",
                    f.path.display()
                )));
            }
            tracing::info!(file = %fr.file, records = fr.records, rejected = fr.rejected, encoding = fr.encoding.encoding, "file read");
            xr.files.push(fr);
        }
    }
    bar.finish();
    step.parse_secs = started.elapsed().as_secs_f64();
    step.parse_bytes = extraction
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    step.extraction = Some(xr);
    Ok(())
}

/// Refuses a Complet of which nothing is in the perimeter: applied, it
/// would read as every person leaving (or, on an empty directory, end "ok"
/// having written nothing), when what is wrong is the configuration. The
/// message lists the schools the extraction does hold.
fn nothing_in_perimeter(
    cfg: &Config,
    x: &Extraction,
    tree: &mapping::MappedTree,
) -> Result<(), SyncError> {
    let cats = tree.stats.categories.values();
    let (mapped, outside) = cats.fold((0, 0), |(m, o), c| (m + c.mapped, o + c.out_of_perimeter));
    if mapped > 0 || outside == 0 {
        return Ok(());
    }
    Err(SyncError::Input(format!(
        "{}: nothing in this extraction is in the perimeter: no school has a UAI of [perimeter] uai = [{}]. \
         It holds the schools (UAI: pupils and staff) {}. Set [perimeter] uai to your ENT's schools \
         (or all = true to take every school of the extraction); nothing written",
        x.label(),
        cfg.perimeter_uai
            .iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", "),
        crate::ops::report::uai_counts(&tree.outside_uai, 30),
    )))
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
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    read_extraction_for(cfg, layout, extraction, now, blocks, step, None)
}

/// [`read_extraction`] into a directory whose schema needs `adapt`.
pub fn read_extraction_for(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    blocks: &mut Blocks,
    step: &mut StepReport,
    adapt: Option<Arc<Adaptation>>,
) -> Result<mapping::MappedTree, SyncError> {
    let mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now)
        .with_limits(cfg.record_limits)
        .with_adaptation(adapt);
    let mut sink = Sink::Complet(Box::new(mapper));
    read_files(cfg, extraction, &mut sink, blocks, step)?;
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
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<mapping::MappedTree, SyncError> {
    read_delta_for(cfg, layout, extraction, now, current, blocks, step, None)
}

/// [`read_delta`] into a directory whose schema needs `adapt`.
#[allow(clippy::too_many_arguments)]
pub fn read_delta_for(
    cfg: &Config,
    layout: &Layout,
    extraction: &Extraction,
    now: Date,
    current: &EntryMap,
    blocks: &mut Blocks,
    step: &mut StepReport,
    adapt: Option<Arc<Adaptation>>,
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
    let mut sink = Sink::Delta(Box::new(overlay));
    read_files(cfg, extraction, &mut sink, blocks, step)?;
    let Sink::Delta(overlay) = sink else {
        unreachable!("the sink keeps its kind")
    };
    step.delta = Some(overlay.stats.clone());
    let mut mapper = Mapper::new(layout, perimeter(cfg), &cfg.staff_address_consent, now)
        .with_limits(cfg.record_limits)
        .with_adaptation(adapt);
    let from = Path::new("(directory records with the Delta applied)");
    for rec in overlay.into_records() {
        if let Err(e) = mapper.map(&rec, from) {
            step.rejected_records.push(e);
        }
    }
    Ok(mapper.finish())
}

/// What planning one extraction gives: the plan, the control state once
/// it is applied, the guards it raised and what it changes.
struct Planned1 {
    plan: Plan,
    next: Control,
    guards: Vec<Hold>,
    changes: safety::ChangeCounts,
    unproven: Vec<String>,
}

/// Plans one extraction against the directory as read (`snap`, `control`).
#[allow(clippy::too_many_arguments)]
async fn plan_extraction(
    cfg: &Config,
    layout: &Layout,
    x: &Extraction,
    now: Date,
    snap: &mut Snapshot,
    control: &Control,
    control_entry: Option<&Entry>,
    blocks: &mut Blocks,
    step: &mut StepReport,
    parsed: Option<mapping::MappedTree>,
    dir: &Directory,
    adapt: Option<Arc<Adaptation>>,
) -> Result<Planned1, SyncError> {
    let mut tree = match (parsed, x.kind) {
        (Some(tree), _) => tree,
        (None, ExtractionKind::Complet) => {
            blocks.start_step();
            read_extraction_for(cfg, layout, x, now, blocks, step, adapt.clone())?
        }
        (None, ExtractionKind::Delta) => {
            blocks.start_step();
            read_delta_for(
                cfg,
                layout,
                x,
                now,
                &snap.managed,
                blocks,
                step,
                adapt.clone(),
            )?
        }
    };
    step.mapping = tree.stats.clone();
    step.perimeter_missing_uai = tree.missing_uai.clone();
    step.perimeter_outside_uai = tree.outside_uai.clone();
    if x.kind == ExtractionKind::Complet && !cfg.perimeter_all {
        nothing_in_perimeter(cfg, x, &tree)?;
    }
    step.protected_ids = tree.protected.len() as u64;
    step.unidentified_rejects = tree.protected.unidentified.clone();

    // people and structures found by jointure where the layout would not
    // put them: back from the departed branch, or adopted where they are
    let mut aligned = if cfg.adopt {
        align::align(
            &mut tree.entries,
            &mut snap.managed,
            &mut snap.adoptable,
            layout,
            now,
        )
    } else {
        align::align(
            &mut tree.entries,
            &mut snap.managed,
            &mut crate::model::EntryMap::new(),
            layout,
            now,
        )
    };
    // an adopted tree's DNs may be built from names: say so once per
    // extraction (logs and reports write those as pseudonyms)
    aligned.count_named(&snap.managed, layout);
    // entries that cannot be created (a squatter holds the DN) and records
    // present but unreadable: settled against the directory before the diff
    let protected = tree.protected.keys(layout);
    let new: Vec<&crate::model::Dn> = tree
        .entries
        .iter()
        .map(|d| &d.entry.dn)
        .filter(|dn| {
            let k = dn.key();
            !snap.managed.contains_key(&k) && !protected.contains(&k)
        })
        .collect();
    let squatted = dir.foreign_at(layout, &new).await?;
    drop(new);
    let settled = settle::settle(
        &mut tree.entries,
        &snap.managed,
        &protected,
        &squatted,
        &aligned.unadoptable,
        &aligned.redirect,
    );

    let guards = if x.kind == ExtractionKind::Complet {
        let mut desired: BTreeMap<String, u64> = BTreeMap::new();
        for d in &tree.entries {
            *desired.entry(d.kind.as_str().to_string()).or_default() += 1;
        }
        // kept as they are: present in the Complet, if unreadable
        let mut kept_uai = Vec::new();
        for k in &settled.keep {
            let Some(e) = snap.managed.get(k) else {
                continue;
            };
            if let Some(kind) = EntryKind::of(e) {
                *desired.entry(kind.as_str().to_string()).or_default() += 1;
                if kind == EntryKind::Structure {
                    kept_uai.extend(e.first("ENTStructureUAI").map(str::to_uppercase));
                }
            }
        }
        let present = safety::active_uais(&snap.managed);
        let vanished: Vec<String> = tree
            .missing_uai
            .iter()
            .filter(|u| present.binary_search(u).is_ok() && !kept_uai.contains(u))
            .cloned()
            .collect();
        safety::complet_guards(
            &cfg.safety,
            &x.label(),
            &safety::active_counts(&snap.managed),
            &desired,
            &vanished,
        )
    } else {
        Vec::new()
    };
    // new logins go straight into the snapshot's set: the next extraction
    // of the run must not give them again, and a copy of an académie's
    // logins costs a hundred megabytes
    step.logins_created = tree.assign_logins(&snap.managed, &mut snap.taken_logins) as u64;
    let (mut plan, rest) = diff::plan_owned(
        std::mem::take(&mut tree.entries),
        &snap.managed,
        &settled.keep,
    );
    plan.changes.extend(aligned.moves.iter().cloned());
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
    // entries kept as they are still refer to their structures
    let kept: Vec<&Entry> = settled
        .keep
        .iter()
        .filter_map(|k| snap.managed.get(k))
        .collect();
    step.lifecycle = retention::apply(
        &ctx,
        &mut plan,
        &snap.managed,
        rest.iter().map(|d| &d.entry).chain(kept.iter().copied()),
        &kept,
    );
    drop(rest);
    let mut changes = safety::ChangeCounts::default();
    changes.add_plan(&plan);
    let mut records: BTreeMap<String, u64> = BTreeMap::new();
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    for (cat, c) in &tree.stats.categories {
        records.insert(cat.clone(), c.mapped + c.out_of_perimeter + c.rejected);
        rejected.insert(cat.clone(), c.rejected);
    }
    if let Some(d) = &step.delta {
        for (cat, c) in &d.categories {
            *rejected.entry(cat.clone()).or_default() += c.rejected;
            *records.entry(cat.clone()).or_default() += c.add + c.modify + c.delete + c.rejected;
        }
    }
    changes.add_records(&records, &rejected);
    let unproven = if x.kind == ExtractionKind::Complet {
        tree.protected.unproven()
    } else {
        Vec::new()
    };
    step.settle = settled;
    step.aligned = aligned;
    let next = control.after(x, year);
    if let Some(c) = next.change(layout, control_entry) {
        plan.changes.push(c);
    }
    if let Some(c) = blocks.lift_change(layout, x.kind == ExtractionKind::Complet) {
        plan.changes.push(c);
    }
    plan.sort();
    step.erasures = blocks.stats.clone();
    step.plan = PlanCounts::of(&plan);
    Ok(Planned1 {
        plan,
        next,
        guards,
        changes,
        unproven,
    })
}

/// Reads the managed tree and, when the first extraction is a Complet
/// (whose mapping does not need the directory), parses and maps it at the
/// same time on another thread: on an académie the two take about as long
/// each, and a machine has at least two cores. A Delta is played over the
/// directory's records, so it waits for the read.
#[allow(clippy::too_many_arguments)]
async fn read_directory_and_first(
    cfg: &Config,
    layout: &Layout,
    first: &Extraction,
    now: Date,
    dir: &Directory,
    blocks: &mut Blocks,
    step: &mut StepReport,
    report: &mut Report,
    adapt: Option<Arc<Adaptation>>,
) -> (
    Result<Snapshot, SyncError>,
    Option<Result<mapping::MappedTree, SyncError>>,
) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let parallel = first.kind == ExtractionKind::Complet
        && Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread;
    if !parallel {
        return (interruptible_read(dir, layout, report).await, None);
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            // the run id span goes with the work: every log line carries it
            let span = tracing::Span::current();
            let parse = s.spawn(move || {
                let _run = span.enter();
                blocks.start_step();
                read_extraction_for(cfg, layout, first, now, blocks, step, adapt)
            });
            let snap = Handle::current().block_on(interruptible_read(dir, layout, report));
            let tree = match parse.join() {
                Ok(t) => t,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (snap, Some(tree))
        })
    })
}

/// Opens the entry store in the work directory when configured. Without
/// it the run is the same, only in memory: a failure is logged, not fatal.
fn open_store(cfg: &Config) -> Option<crate::model::store::Handle> {
    if !cfg.entry_store {
        return None;
    }
    match crate::model::store::open(&cfg.work_dir) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(dir = %cfg.work_dir.display(), error = %e, "entry store not opened, entries stay in memory");
            None
        }
    }
}

/// [`timed_read`], stopped at once by SIGTERM or SIGINT (nothing is
/// written while the tree is read).
async fn interruptible_read(
    dir: &Directory,
    layout: &Layout,
    report: &mut Report,
) -> Result<Snapshot, SyncError> {
    crate::host::interrupt::race(timed_read(dir, layout, report), |why| {
        Err(SyncError::Halted(format!(
            "{why} while reading the directory: nothing written"
        )))
    })
    .await
}

/// Reads the managed tree, with its time and size in the report.
async fn timed_read(
    dir: &Directory,
    layout: &Layout,
    report: &mut Report,
) -> Result<Snapshot, SyncError> {
    let t = std::time::Instant::now();
    let snap = dir.read_managed(layout).await?;
    report.perf.read_secs = t.elapsed().as_secs_f64();
    report.perf.read_entries = snap.managed.len() as u64;
    Ok(snap)
}

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
    report.command = "sync".into();
    report.dry_run = opts.dry_run;
    report.now = format_date(opts.now);
    let staging = delivery::Staging::new(&cfg.work_dir, "sync")
        .map_err(|e| SyncError::Input(format!("{}: cannot create: {e}", cfg.work_dir.display())))?;
    let _store = open_store(cfg);
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
    let mut dir = Directory::connect(&cfg.ldap).await?;
    if let Some(h) = &opts.halt {
        dir.share_halt(h);
    }
    let result = plan_and_apply(cfg, opts, report, &layout, &scan.extractions, &dir).await;
    dir.close().await;
    result
}

async fn plan_and_apply(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    extractions: &[Extraction],
    dir: &Directory,
) -> Result<RunPlan, SyncError> {
    dir.check_schema().await?;
    // listed now, created just before the first write: a refused
    // extraction writes nothing at all
    report.branches_created = dir.ensure_branches(layout, true).await?;
    let mut control_entry = dir.read_control(layout).await?;
    let start_entry = control_entry.clone();
    let mut control = control_entry
        .as_ref()
        .map(Control::from_entry)
        .unwrap_or_default();
    // a run stopped midway resumes at the first extraction not yet fully
    // applied; one older than the last applied is refused
    let (extractions, skipped) = match control.to_apply(extractions, opts.force) {
        Ok(x) => x,
        Err(first) => {
            let applied = control
                .applied
                .as_ref()
                .map(control::describe)
                .unwrap_or_default();
            return Err(SyncError::Older(format!(
                "{}: older than the last extraction applied, {applied}: refused (--force applies it anyway)",
                first.label(),
            )));
        }
    };
    report.already_applied = skipped.iter().map(|x| x.label()).collect();
    let erasures = dir
        .read_own(
            &erasure::erasures_dn(layout),
            erasure::ERASURES_CLASS,
            "erasures entry",
        )
        .await?;
    let mut blocks = Blocks::from_entry(erasures.as_ref());
    // the directory's own schema: what the sync writes is adapted to it,
    // and what cannot fit is refused now, before anything is read
    let schema = dir.read_schema(&layout.base).await?;
    let adaptation = Adaptation::compile(&schema);
    if !adaptation.problems.is_empty() {
        return Err(SyncError::Schema(format!(
            "the directory's schema cannot hold what the sync writes, nothing written:\n  {}",
            adaptation.problems.join("\n  ")
        )));
    }
    let adapt = adaptation.active.then(|| Arc::new(adaptation));
    let mut first_step = StepReport::default();
    let (snap, first_tree) = read_directory_and_first(
        cfg,
        layout,
        extractions[0],
        opts.now,
        dir,
        &mut blocks,
        &mut first_step,
        report,
        adapt.clone(),
    )
    .await;
    let mut snap = snap?;
    tracing::info!(managed = snap.managed.len(), "directory read");

    // plan every extraction (nothing written yet)
    let active_before = safety::active_counts(&snap.managed);
    let mut holds = Vec::new();
    let mut leaving: BTreeMap<String, u64> = BTreeMap::new();
    let mut changes = safety::ChangeCounts::default();
    let mut school_year = false;
    let mut steps = Vec::new();
    let n = extractions.len();
    let mut first = Some((first_step, first_tree));
    for (i, x) in extractions.iter().enumerate() {
        let (mut step, parsed) = match first.take() {
            Some((step, Some(Ok(tree)))) => (step, Some(tree)),
            Some((step, Some(Err(e)))) => {
                report.steps.push(step);
                return Err(e);
            }
            Some((step, None)) => (step, None),
            None => (StepReport::default(), None),
        };
        // a tree parsed beside the read: its parse is not in this interval
        let parsed_before = parsed.is_some();
        let t = std::time::Instant::now();
        // each extraction's changes are judged against the tree it applies to
        let step_base = if i == 0 {
            active_before.clone()
        } else {
            safety::active_counts(&snap.managed)
        };
        let step_groups = snap
            .managed
            .values()
            .filter(|e| EntryKind::of(e).is_some_and(EntryKind::is_group))
            .count() as u64;
        let step_first_load = control.applied.is_none();
        let planned = plan_extraction(
            cfg,
            layout,
            x,
            opts.now,
            &mut snap,
            &control,
            control_entry.as_ref(),
            &mut blocks,
            &mut step,
            parsed,
            dir,
            adapt.clone(),
        )
        .await;
        let p = match planned {
            Ok(p) => p,
            Err(e) => {
                report.steps.push(step);
                return Err(e);
            }
        };
        report.perf.parse_secs += step.parse_secs;
        report.perf.parse_bytes += step.parse_bytes;
        let parse_inside = if parsed_before { 0.0 } else { step.parse_secs };
        report.perf.plan_secs += t.elapsed().as_secs_f64() - parse_inside;
        holds.extend(p.guards);
        let mut step_leaving = BTreeMap::new();
        for (cat, ids) in &step.lifecycle.departed {
            *leaving.entry(cat.clone()).or_default() += ids.len() as u64;
            step_leaving.insert(cat.clone(), ids.len() as u64);
        }
        holds.extend(safety::unproven_departures(
            &x.label(),
            &step.unidentified_rejects,
            &p.unproven,
            &step_leaving,
        ));
        holds.extend(safety::change_guards(
            &cfg.safety,
            &x.label(),
            &step_base,
            step_groups,
            &p.changes,
            step.school_year_rebuild.is_some(),
            step_first_load,
        ));
        changes.add(&p.changes);
        school_year |= step.school_year_rebuild.is_some();
        if i + 1 < n {
            // new logins are in the taken set already (assigned there)
            diff::simulate(&p.plan, &mut snap.managed, &mut snap.taken_logins);
            control_entry = Some(p.next.entry(layout));
        }
        control = p.next.clone();
        report.steps.push(step);
        steps.push(StepPlan {
            label: x.label(),
            plan: p.plan,
            next: Some(p.next),
        });
    }
    // every entry the plans write, against the directory's schema
    let problems = schema_problems(&schema, steps.iter().map(|s: &StepPlan| &s.plan));
    if !problems.is_empty() {
        return Err(SyncError::Schema(format!(
            "refused before any write: entries would not fit the directory's schema:\n  {}",
            problems.join("\n  ")
        )));
    }
    let label = extractions
        .iter()
        .map(|x| x.label())
        .collect::<Vec<_>>()
        .join(" + ");
    holds.extend(safety::thresholds(
        &cfg.safety,
        &label,
        &active_before,
        &leaving,
        school_year,
    ));
    let digest = safety::digest(steps.iter().map(|s| (s.label.as_str(), &s.plan)));
    let mut sr = SafetyReport {
        digest: digest.clone(),
        active_before,
        leaving,
        changes,
        holds,
        approved_by: None,
    };
    let approved = if sr.holds.is_empty() {
        Ok(None)
    } else {
        approval::check(&cfg.work_dir, &opts.approval, &digest)
    };
    let mut out = RunPlan {
        steps,
        ..Default::default()
    };
    if !report.branches_created.is_empty() {
        out.steps
            .insert(0, branches_step(layout, &report.branches_created));
    }
    let held = !sr.holds.is_empty() && !matches!(approved, Ok(Some(_)));
    // secrets only in a plan asked for them: a held plan is for review,
    // and its approval re-plans from the directory
    if opts.dry_run && opts.with_passwords {
        out.passwords = dir.passwords_for(out.steps.iter().map(|s| &s.plan)).await?;
    }
    if let Ok(Some(by)) = &approved {
        sr.approved_by = Some(by.clone());
    }
    let reasons = approval::reasons(&sr.holds);
    report.safety = Some(sr);
    if opts.check {
        return Ok(out);
    }
    if opts.dry_run || held {
        // a dry run holds nothing: its plan is never taken for a held one
        let held_now = held && !opts.dry_run;
        save_plan(cfg, report, &out, held_now.then_some((&digest, &reasons)))?;
    }
    if opts.dry_run {
        return Ok(out);
    }
    if held {
        let mut msg = format!(
            "run held back by the safety rails, nothing written:\n  {}\n",
            reasons.join("\n  ")
        );
        if let Err(e) = &approved {
            msg.push_str(&format!("  {e}\n"));
        }
        msg.push_str(&format!(
            "review the plan ({}) then approve it: aaf-sync approve --config FILE {} (or rerun with --allow-mass-departure={})",
            report.plan_files.join(", "),
            &digest[..16],
            &digest[..16],
        ));
        return Err(SyncError::Held(msg));
    }

    // apply, in order; the control entry after each extraction
    approval::clear_dry_run(&cfg.work_dir);
    dir.ensure_branches(layout, false).await?;
    let first = usize::from(!report.branches_created.is_empty());
    let control_key = layout.control_dn().key();
    let mut failed_adds = std::collections::HashSet::new();
    let mut recorded = start_entry;
    let mut last_complete = recorded
        .as_ref()
        .map(Control::from_entry)
        .unwrap_or_default();
    // every extraction of this run so far applied completely
    let mut run_complete = true;
    // after a failover: the operations a lost provider acknowledged are
    // read back on the survivor (the bodies are kept for that), and the
    // control entry goes back to the state before the first extraction
    // with some of them missing for good
    let mut bodies: Vec<(String, Plan)> = Vec::new();
    let mut before: Vec<Control> = Vec::new();
    let mut acks: Vec<Ack> = Vec::new();
    let mut rolled_back: Option<usize> = None;
    // who acknowledged the last control entry write
    let mut control_by: Option<usize> = None;
    for (i, sp) in out.steps.iter().enumerate().skip(first) {
        let t = std::time::Instant::now();
        // the control entry is written once the step's outcome is known
        let body = Plan {
            changes: sp
                .plan
                .changes
                .iter()
                .filter(|c| c.change.dn().key() != control_key)
                .cloned()
                .collect(),
            ..Default::default()
        };
        let mut outcome = apply_step(dir, opts, &sp.label, &body, &mut failed_adds).await;
        report.perf.apply_operations += body.changes.len() as u64;
        let b = bodies.len();
        acks.extend(
            outcome
                .acked
                .drain(..)
                .map(|(op, by)| Ack { step: b, op, by }),
        );
        bodies.push((sp.label.clone(), body));
        before.push(last_complete.clone());
        if let Some((fc, earliest)) =
            check_failover(dir, opts, &bodies, &mut acks, &mut failed_adds).await
        {
            outcome.failover = Some(fc);
            rolled_back = min_some(rolled_back, earliest);
            if outcome.halted.is_none() {
                outcome.halted = dir.halted();
            }
        }
        report.perf.apply_secs += t.elapsed().as_secs_f64();
        tracing::info!(extraction = %sp.label, failures = outcome.failures.len(), "plan applied");
        let step = &mut report.steps[i - first];
        let halted = outcome.halted.clone();
        if halted.is_none() {
            if let Some(next) = &sp.next {
                // recorded as applied only when every operation succeeded,
                // and every extraction before it in this run too
                run_complete &= outcome.complete() && step.settle.conflicts.is_empty();
                let state = match rolled_back {
                    // acknowledged, then lost with the provider: what
                    // follows that extraction is not applied on the
                    // survivor, whatever the control entry said there
                    Some(j) => before[j].incomplete(&bodies[j].0),
                    None if run_complete => next.clone(),
                    None => last_complete.incomplete(&sp.label),
                };
                if dir.halt_flag().failed_over_to().is_some() {
                    // written against what the survivor holds, not what
                    // the lost provider acknowledged
                    if let Ok(now) = dir.read_control(layout).await {
                        recorded = now;
                    }
                }
                if let Some(c) = state.change(layout, recorded.as_ref()) {
                    let one = Plan {
                        changes: vec![c],
                        ..Default::default()
                    };
                    let mut o = apply_step(dir, opts, &sp.label, &one, &mut failed_adds).await;
                    control_by = o.acked.drain(..).next().map(|(_, by)| by).or(control_by);
                    merge_outcome(&mut outcome, o);
                }
                if outcome.halted.is_none() {
                    recorded = Some(state.entry(layout));
                    last_complete = state;
                }
                step.in_step = Some(last_complete.in_step());
            }
        }
        let halted = outcome.halted.clone().or(halted);
        step.applied = Some(outcome);
        if let Some(why) = halted {
            return Err(SyncError::Halted(format!(
                "apply of {} stopped: {why}; part of the plan is applied, the next run converges from there",
                sp.label
            )));
        }
    }
    // a failover during (or right after) the last control entry write: the
    // operations acknowledged before it are read back on the survivor, and
    // the control entry written there again
    if control_by.is_some_and(|by| by != dir.provider_in_use()) {
        if let Some((fc, earliest)) =
            check_failover(dir, opts, &bodies, &mut acks, &mut failed_adds).await
        {
            rolled_back = min_some(rolled_back, earliest);
            let state = match rolled_back {
                Some(j) => before[j].incomplete(&bodies[j].0),
                None => last_complete.clone(),
            };
            let survivor = dir.read_control(layout).await.ok().flatten();
            let mut o = crate::ldap::apply::ApplyOutcome::default();
            if let Some(c) = state.change(layout, survivor.as_ref()) {
                let one = Plan {
                    changes: vec![c],
                    ..Default::default()
                };
                let label = bodies.last().map(|b| b.0.clone()).unwrap_or_default();
                o = apply_step(dir, opts, &label, &one, &mut failed_adds).await;
            }
            if let Some(last) = report.steps.last_mut() {
                if last.in_step.is_some() {
                    last.in_step = Some(state.in_step() && o.complete());
                }
                if let Some(a) = last.applied.as_mut() {
                    match a.failover.as_mut() {
                        Some(f) => f.merge(fc),
                        None => a.failover = Some(fc),
                    }
                    merge_outcome(a, o);
                }
            }
            if let Some(why) = dir.halted() {
                return Err(SyncError::Halted(format!(
                    "apply stopped after a failover: {why}; the next run converges from there"
                )));
            }
        }
    }
    if report
        .safety
        .as_ref()
        .is_some_and(|s| s.approved_by.is_some())
    {
        approval::consume(&cfg.work_dir, &digest);
    }
    Ok(out)
}

/// The problems of the entries `plans` add, and of the attributes their
/// modifies write, against the directory's schema: one line per kind of
/// problem, with a count and an example DN (an empty schema, as a server
/// that does not publish one, checks nothing).
fn schema_problems<'a>(
    schema: &crate::mapping::subschema::DirSchema,
    plans: impl IntoIterator<Item = &'a Plan>,
) -> Vec<String> {
    if schema.is_empty() {
        return Vec::new();
    }
    let mut found: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    let mut checker = schema.checker();
    let mut note = |kind: EntryKind, p: String, dn: &crate::model::Dn| {
        let e = found
            .entry((kind.as_str().to_string(), p))
            .or_insert((0, dn.to_string()));
        e.0 += 1;
    };
    for plan in plans {
        for p in &plan.changes {
            match &p.change {
                diff::Change::Add { entry } => {
                    for problem in checker.check(entry) {
                        note(p.kind, problem.to_string(), &entry.dn);
                    }
                }
                diff::Change::Modify { dn, changes } => {
                    for c in changes {
                        let attr = match c {
                            diff::AttrChange::Add { attr, .. }
                            | diff::AttrChange::Replace { attr, .. }
                            | diff::AttrChange::Delete { attr, .. } => attr.as_str(),
                            _ => continue,
                        };
                        if !schema.has_attr(attr) {
                            let pb =
                                crate::mapping::subschema::Problem::UnknownAttr(attr.to_string());
                            note(p.kind, pb.to_string(), dn);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    found
        .into_iter()
        .map(|((kind, p), (n, dn))| {
            let dn = crate::mapping::layout::log_dn(&dn);
            format!(
                "{kind}: {p} ({n} entries, e.g. {dn}): load schema/10-aaf-sdet.ldif, or make the \
                 directory's schema accept it"
            )
        })
        .collect()
}

/// One operation a provider acknowledged in this run: the extraction
/// (index in the run's bodies), the operation (index in its plan), and
/// the provider that holds it as far as the run knows.
struct Ack {
    step: usize,
    op: usize,
    by: usize,
}

fn min_some(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// After a failover: reads back, on the provider in use, every operation
/// of this run acknowledged by a provider the run has left (a provider
/// killed outright may never pass on its last changes), and sends again
/// the missing adds (nothing else writes those entries: safe to repeat).
/// What is missing and cannot be replayed (a modify, a delete, a move, an
/// add refused now) is counted `unrecovered`: the run must not claim it.
/// `None` when nothing was acknowledged elsewhere; else the check and the
/// first extraction (index in `bodies`) left with unrecovered operations.
async fn check_failover(
    dir: &Directory,
    opts: &SyncOptions,
    bodies: &[(String, Plan)],
    acks: &mut Vec<Ack>,
    failed_adds: &mut std::collections::HashSet<String>,
) -> Option<(crate::ldap::apply::FailoverCheck, Option<usize>)> {
    let now = dir.provider_in_use();
    let (pending, kept): (Vec<Ack>, Vec<Ack>) = acks.drain(..).partition(|a| a.by != now);
    *acks = kept;
    if pending.is_empty() {
        return None;
    }
    let mut fc = crate::ldap::apply::FailoverCheck {
        to: dir.provider_url(now).to_string(),
        checked: pending.len() as u64,
        ..Default::default()
    };
    for a in &pending {
        let url = dir.provider_url(a.by).to_string();
        if !fc.from.contains(&url) {
            fc.from.push(url);
        }
    }
    let op = |a: &Ack| bodies.get(a.step).and_then(|b| b.1.changes.get(a.op));
    let ops: Vec<&diff::Planned> = pending.iter().filter_map(op).collect();
    let missing = if ops.len() == pending.len() {
        match dir.missing_here(&ops).await {
            Ok(m) => m,
            Err(error) => {
                // not proven there: counted missing, never claimed
                tracing::warn!(%error, to = %fc.to, "cannot read back on the failover provider what the lost provider acknowledged");
                vec![true; pending.len()]
            }
        }
    } else {
        vec![true; pending.len()]
    };
    fc.missing = missing.iter().filter(|m| **m).count() as u64;
    let mut earliest: Option<usize> = None;
    // missing adds, by extraction, in plan order (parents first)
    let mut replay: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (a, gone) in pending.iter().zip(&missing) {
        if !*gone {
            // on the survivor: what it holds is what later checks compare
            acks.push(Ack { by: now, ..*a });
            continue;
        }
        match op(a).map(|p| &p.change) {
            Some(diff::Change::Add { .. }) if dir.halted().is_none() => {
                replay.entry(a.step).or_default().push(a.op);
            }
            _ => {
                fc.unrecovered += 1;
                earliest = min_some(earliest, Some(a.step));
            }
        }
    }
    for (step, mut idx) in replay {
        idx.sort_unstable();
        let Some((label, body)) = bodies.get(step) else {
            continue;
        };
        let plan = Plan {
            changes: idx
                .iter()
                .filter_map(|&i| body.changes.get(i).cloned())
                .collect(),
            ..Default::default()
        };
        let o = apply_step(dir, opts, label, &plan, failed_adds).await;
        let done: std::collections::HashMap<usize, usize> = o.acked.iter().copied().collect();
        for (k, i) in idx.iter().enumerate() {
            match done.get(&k) {
                Some(&by) => {
                    fc.replayed += 1;
                    acks.push(Ack { step, op: *i, by });
                }
                None => {
                    fc.unrecovered += 1;
                    earliest = min_some(earliest, Some(step));
                }
            }
        }
    }
    tracing::warn!(
        from = %fc.from.join(", "),
        to = %fc.to,
        checked = fc.checked,
        missing = fc.missing,
        replayed = fc.replayed,
        unrecovered = fc.unrecovered,
        "failed over: operations acknowledged by the lost provider read back on the survivor"
    );
    Some((fc, earliest))
}

/// Adds the counts of `o` (the control entry's write) to `out`.
fn merge_outcome(out: &mut crate::ldap::apply::ApplyOutcome, o: crate::ldap::apply::ApplyOutcome) {
    out.planned += o.planned;
    for (k, ops) in o.done {
        for (op, n) in ops {
            *out.done
                .entry(k.clone())
                .or_default()
                .entry(op)
                .or_default() += n;
        }
    }
    out.failures.extend(o.failures);
    out.not_attempted += o.not_attempted;
    out.unknown += o.unknown;
    out.halted = out.halted.take().or(o.halted);
    if let Some(f) = o.failover {
        match out.failover.as_mut() {
            Some(mine) => mine.merge(f),
            None => out.failover = Some(f),
        }
    }
}

/// Applies one plan with a progress bar, journaling each operation before
/// it is sent and once settled.
async fn apply_step(
    dir: &Directory,
    opts: &SyncOptions,
    label: &str,
    plan: &Plan,
    failed_adds: &mut std::collections::HashSet<String>,
) -> crate::ldap::apply::ApplyOutcome {
    let bar = Progress::new("apply", "operations", Some(plan.changes.len() as u64));
    let journal = |f: &mut dyn FnMut(&mut Journal)| {
        if let Some(mut j) = opts.journal.as_ref().and_then(|j| j.lock().ok()) {
            f(&mut j);
        }
    };
    journal(&mut |j| j.step(label));
    let intent = |p: &diff::Planned| journal(&mut |j| j.intent(p));
    let outcome = crate::ldap::apply::apply_plan(dir, plan, failed_adds, &intent, &mut |p, err| {
        bar.inc(1);
        journal(&mut |j| j.record(p, err));
    })
    .await;
    bar.finish();
    outcome
}

/// The branch OUs a first run creates, as a plan step (for the dry-run
/// LDIF, so that `ldapmodify` can apply it as is on an empty base).
fn branches_step(layout: &Layout, missing: &[crate::model::Dn]) -> StepPlan {
    let mut plan = Plan::default();
    for (ou, dn) in layout.branches() {
        if !missing.contains(dn) {
            continue;
        }
        let e = Layout::branch_entry(ou, dn);
        plan.changes.push(diff::Planned {
            kind: EntryKind::Control,
            phase: 0,
            change: diff::Change::Add { entry: e },
        });
    }
    StepPlan {
        label: "branches".into(),
        plan,
        next: None,
    }
}

/// Saves the plan as LDIF and JSON for review: `last-dry-run` for a dry
/// run, `held` (with why) for a run held back.
fn save_plan(
    cfg: &Config,
    report: &mut Report,
    plan: &RunPlan,
    held: Option<(&String, &Vec<String>)>,
) -> Result<(), SyncError> {
    let name = if held.is_some() {
        "held"
    } else {
        "last-dry-run"
    };
    let err = |e: std::io::Error| {
        SyncError::Input(format!(
            "{}: cannot save the plan: {e}",
            approval::plans_dir(&cfg.work_dir).display()
        ))
    };
    let (l, j) =
        approval::save_plan(&cfg.work_dir, name, &plan.ldif(), &plan.json()).map_err(err)?;
    if let Some((digest, reasons)) = held {
        approval::record_held(
            &cfg.work_dir,
            &approval::Held {
                digest: digest.clone(),
                run_id: report.run_id.clone(),
                command: report.command.clone(),
                held_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                reasons: reasons.clone(),
                ldif: l.clone(),
                json: j.clone(),
            },
        )
        .map_err(err)?;
    }
    report.plan_files = vec![l.display().to_string(), j.display().to_string()];
    Ok(())
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
    report.command = "retention".into();
    report.dry_run = opts.dry_run;
    report.now = format_date(opts.now);
    let _store = open_store(cfg);
    let layout = cfg.layout();
    let mut dir = Directory::connect(&cfg.ldap).await?;
    if let Some(h) = &opts.halt {
        dir.share_halt(h);
    }
    let r = retention_inner(cfg, opts, report, &layout, &dir).await;
    dir.close().await;
    r
}

async fn retention_inner(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    dir: &Directory,
) -> Result<RunPlan, SyncError> {
    dir.check_schema().await?;
    let snap = interruptible_read(dir, layout, report).await?;
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
        save_plan(cfg, report, &out, None)?;
    }
    if !opts.dry_run {
        approval::clear_dry_run(&cfg.work_dir);
        let outcome = apply_step(
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
