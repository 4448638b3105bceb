//! What a run reads from the directory before it plans: the schema check,
//! the branches, the control entry (which extractions are new), the
//! erasures, the directory's own schema, and the managed tree, read once
//! for the whole run. Also the entry store the tree may live in.
//!
//! Where the CPU stages run: `main` drives a command with
//! `Runtime::block_on`, so its future runs on the main thread, beside the
//! two async workers that carry the LDAP traffic; parsing, mapping and
//! diffing (seconds to minutes, never awaiting) go through [`cpu`], which
//! on a multi-thread runtime is `block_in_place`: wherever the future runs
//! (the main thread, or a worker if it is ever spawned), no worker's other
//! tasks wait behind it. Not `spawn_blocking`: its `'static` bound would
//! force a copy of the tree. The first Complet is parsed on a scoped
//! thread beside the tree read ([`read_directory_and_first`]). On a
//! current-thread runtime (a test's) the stages run inline.

use crate::aaf::filename::{Extraction, ExtractionKind};
use crate::config::Config;
use crate::ldap::{Directory, Snapshot};
use crate::mapping::sdet::Adaptation;
use crate::mapping::subschema::DirSchema;
use crate::mapping::{self, layout::Layout};
use crate::model::{Entry, Store};
use crate::ops::report::{Report, StepReport};
use crate::rights::erasure::{self, Blocks};
use crate::run::control::{self, Control};
use crate::run::parse::read_extraction_for;
use crate::run::sync::{SyncError, SyncOptions};
use std::sync::Arc;
use time::Date;

/// Runs CPU-bound work `f` where the runtime expects it: on a multi-thread
/// runtime, `block_in_place` (the worker's other tasks move elsewhere);
/// on a current-thread runtime, inline (there is no other worker).
pub(crate) fn cpu<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// What a thread of a scope returned; its panic goes on up (the CPU
/// stages that split their work over both cores join their threads so).
pub(crate) fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// What the directory says before a run plans, besides the tree.
#[derive(Clone)]
pub(crate) struct Prelude<'x> {
    /// The extractions to apply, in order (those applied already skipped).
    pub extractions: Vec<&'x Extraction>,
    /// The control entry as read, and the state it records.
    pub control_entry: Option<Entry>,
    pub control: Control,
    /// People erased on request: their records are skipped.
    pub blocks: Blocks,
    /// The directory's schema, and how what the sync writes adapts to it.
    pub schema: DirSchema,
    pub adapt: Option<Arc<Adaptation>>,
}

/// Reads what a run needs before the tree: refuses an extraction older
/// than the last one applied, and a directory whose schema cannot hold
/// what the sync writes. Lists the branches a first run creates (created
/// just before the first write: a refused extraction writes nothing).
pub(crate) async fn prelude<'x>(
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    extractions: &'x [Extraction],
    dir: &Directory,
) -> Result<Prelude<'x>, SyncError> {
    dir.check_schema().await?;
    report.branches_created = dir.ensure_branches(layout, true).await?;
    let control_entry = dir.read_control(layout).await?;
    let control = control_entry
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
    let blocks = Blocks::from_entry(erasures.as_ref());
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
    Ok(Prelude {
        extractions,
        control_entry,
        control,
        blocks,
        schema,
        adapt,
    })
}

/// Reads the managed tree and, when the first extraction is a Complet
/// (whose mapping does not need the directory), parses and maps it at the
/// same time on another thread: on an académie the two take about as long
/// each, and a machine has at least two cores. A Delta is played over the
/// directory's records, so it waits for the read.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_directory_and_first(
    cfg: &Config,
    layout: &Layout,
    first: &Extraction,
    now: Date,
    dir: &Directory,
    blocks: &mut Blocks,
    step: &mut StepReport,
    report: &mut Report,
    adapt: Option<Arc<Adaptation>>,
    store: Option<&Store>,
) -> (
    Result<Snapshot, SyncError>,
    Option<Result<mapping::MappedTree, SyncError>>,
) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let parallel = first.kind == ExtractionKind::Complet
        && Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread;
    if !parallel {
        return (interruptible_read(dir, layout, report, store).await, None);
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            // the run id span goes with the work: every log line carries it
            let span = tracing::Span::current();
            let parse = s.spawn(move || {
                let _run = span.enter();
                blocks.start_step();
                read_extraction_for(cfg, layout, first, now, blocks, step, adapt, store)
            });
            let snap = Handle::current().block_on(interruptible_read(dir, layout, report, store));
            (snap, Some(joined(parse)))
        })
    })
}

/// Opens the entry store in the work directory when configured (the run
/// owns it and hands it to the tree read and the mapping). Without it the
/// run is the same, only in memory: a failure is logged, not fatal.
pub(crate) fn open_store(cfg: &Config) -> Option<Store> {
    if !cfg.entry_store {
        return None;
    }
    match Store::open(&cfg.work_dir) {
        Ok(store) => Some(store),
        Err(e) => {
            tracing::warn!(dir = %cfg.work_dir.display(), error = %e, "entry store not opened, entries stay in memory");
            None
        }
    }
}

/// [`timed_read`], stopped at once by SIGTERM or SIGINT (nothing is
/// written while the tree is read).
/// The read for a run whose only extraction is the Delta `x`: only what
/// its plan needs ([`crate::ldap::targeted`]), or the whole tree when that
/// cannot answer (the report says why).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_for_delta(
    cfg: &Config,
    layout: &Layout,
    x: &Extraction,
    pre: &Prelude<'_>,
    now: Date,
    dir: &Directory,
    report: &mut Report,
    store: Option<&Store>,
) -> Result<Snapshot, SyncError> {
    let wanted = cpu(|| crate::run::parse::delta_wanted(cfg, x))
        .ok_or_else(|| "the Delta deletes a structure, or a file of it does not read".to_string());
    // where the schema fills `ENTEleveMajeur` from the birth date at the
    // run date, the pupils come of age since the last Complet change too
    let wanted = match (wanted, &pre.adapt) {
        (Ok(mut w), Some(a)) if a.fills_majority() => match pre.control.complet_date {
            Some(from) if (now - from).whole_days() <= 400 => {
                w.births = crate::mapping::sdet::births_coming_of_age(from, now);
                Ok(w)
            }
            _ => Err("pupils may have come of age since a Complet over a year old".to_string()),
        },
        (w, _) => w,
    };
    let why = match wanted {
        Err(why) => why,
        Ok(wanted) => {
            let t = std::time::Instant::now();
            let read = reading(dir.read_targeted(layout, &wanted, store)).await?;
            match read {
                Ok((mut snap, counts)) => {
                    report.perf.read_secs = t.elapsed().as_secs_f64();
                    report.perf.read_entries = snap.managed.len() as u64;
                    report.perf.read_mode = "targeted".into();
                    tracing::info!(
                        managed = snap.managed.len(),
                        mode = "targeted",
                        "directory read"
                    );
                    snap.counts = Some(counts);
                    return Ok(snap);
                }
                Err(why) => why,
            }
        }
    };
    tracing::info!(reason = %why, "the Delta needs the whole tree");
    let snap = interruptible_read(dir, layout, report, store).await?;
    report.perf.targeted_reason = Some(why);
    Ok(snap)
}

pub(crate) async fn interruptible_read(
    dir: &Directory,
    layout: &Layout,
    report: &mut Report,
    store: Option<&Store>,
) -> Result<Snapshot, SyncError> {
    reading(timed_read(dir, layout, report, store)).await
}

/// A read of the directory that a stop request (signal, deadline) ends,
/// before anything is written.
pub(crate) async fn reading<T, E: Into<SyncError>>(
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SyncError> {
    crate::host::interrupt::race(async { read.await.map_err(Into::into) }, |why| {
        Err(SyncError::Halted(format!(
            "{why} while reading the directory: nothing written"
        )))
    })
    .await
}

/// Reads the managed tree, with its time, size and kind (full or
/// incremental) in the report, its entries frozen into the run's `store`
/// when it has one.
async fn timed_read(
    dir: &Directory,
    layout: &Layout,
    report: &mut Report,
    store: Option<&Store>,
) -> Result<Snapshot, SyncError> {
    let t = std::time::Instant::now();
    // incremental where the server and the copy in work_dir allow it
    // (`ldap::incremental`): the same Snapshot either way
    let (snap, how) = dir.read_tree(layout, store).await?;
    report.perf.read_secs = t.elapsed().as_secs_f64();
    report.perf.read_entries = snap.managed.len() as u64;
    report.perf.read_mode = how.mode.as_str().to_string();
    report.perf.read_changes = how.changes;
    report.perf.read_full_reason = how.full_reason;
    // once per read of the tree: `run` reads it once for all its
    // extractions (tests/run_once.rs counts these lines)
    tracing::info!(
        managed = snap.managed.len(),
        mode = how.mode.as_str(),
        "directory read"
    );
    Ok(snap)
}
