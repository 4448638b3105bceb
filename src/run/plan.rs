//! Planning: each extraction against the tree the previous one leaves
//! (simulated), with the lifecycle decisions and the guards the safety
//! rails judge the whole run by. Nothing is written here; the only
//! directory reads are the DNs new entries would take (squatters).

use crate::aaf::filename::{Extraction, ExtractionKind};
use crate::config::Config;
use crate::diff;
use crate::ldap::{Directory, Snapshot};
use crate::mapping::sdet::Adaptation;
use crate::mapping::{self, align, layout::Layout, settle};
use crate::model::plan::Plan;
use crate::model::{Entry, Store};
use crate::ops::report::{PlanCounts, Report, StepReport};
use crate::retention;
use crate::rights::erasure::Blocks;
use crate::run::control::Control;
use crate::run::parse::{
    play_delta, read_delta_for, read_extraction_for, resume_delta, DeltaRun, DeltaTree,
};
use crate::run::read::{cpu, joined, Prelude};
use crate::run::sync::{StepPlan, SyncError, SyncOptions};
use crate::run::targeted;
use crate::safety::{self, Hold};
use crate::schema::EntryKind;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::Date;

/// Every extraction of a run planned, and what the safety rails judge the
/// run by.
pub(crate) struct Planned {
    pub steps: Vec<StepPlan>,
    /// Active entries per category before the run.
    pub active_before: BTreeMap<String, u64>,
    pub holds: Vec<Hold>,
    /// Active entries leaving, per category.
    pub leaving: BTreeMap<String, u64>,
    pub changes: safety::ChangeCounts,
    /// Some extraction starts a school year (classes rebuilt).
    pub school_year: bool,
    /// Whether `active_before` and the figures that follow from it are the
    /// directory's (else lower bounds, enough for the rails' verdict: a
    /// Delta planned on a targeted read).
    pub counts_exact: bool,
}

/// A tree parsed beside the read of the directory (the first Complet), with
/// its step report.
pub(crate) type Parsed = (StepReport, Option<Result<mapping::MappedTree, SyncError>>);

/// Plans every extraction of `pre` against `snap` (nothing written). Each
/// step report goes into `report`, the refused one too. `keep_tree`: the
/// last plan is played over `snap` as well (a caller that plans again on
/// the same tree once it is applied).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan_all(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    dir: &Directory,
    pre: &mut Prelude<'_>,
    snap: &mut Snapshot,
    first: Option<Parsed>,
    keep_tree: bool,
    store: Option<&Store>,
) -> Result<Planned, SyncError> {
    let extractions = &pre.extractions;
    let mut control = pre.control.clone();
    let mut control_entry = pre.control_entry.clone();
    // plan every extraction (nothing written yet)
    let mut active_before = None;
    let mut holds = Vec::new();
    let mut leaving: BTreeMap<String, u64> = BTreeMap::new();
    let mut changes = safety::ChangeCounts::default();
    let mut school_year = false;
    let mut counts_exact = true;
    let mut steps = Vec::new();
    let n = extractions.len();
    let mut first = first;
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
        let step_first_load = control.applied.is_none();
        let planned = plan_extraction(
            cfg,
            layout,
            x,
            opts.now,
            snap,
            &control,
            control_entry.as_ref(),
            &mut pre.blocks,
            &mut step,
            parsed,
            dir,
            pre.adapt.clone(),
            store,
        )
        .await;
        let mut p = match planned {
            Ok(p) => p,
            Err(e) => {
                report.steps.push(step);
                return Err(e);
            }
        };
        let mut step_leaving = BTreeMap::new();
        for (cat, ids) in &step.lifecycle.departed {
            *leaving.entry(cat.clone()).or_default() += ids.len() as u64;
            step_leaving.insert(cat.clone(), ids.len() as u64);
        }
        if snap.counts.is_some() {
            let judged = Judged {
                safety: &cfg.safety,
                label: x.label(),
                leaving: &step_leaving,
                school_year: step.school_year_rebuild.is_some(),
                first_load: step_first_load,
            };
            if let Err(e) = count_targeted(&judged, snap, &mut p, &mut step).await {
                report.steps.push(step);
                return Err(e);
            }
            counts_exact = snap.counts.as_ref().is_some_and(|c| c.exact());
        }
        report.perf.parse_secs += step.parse_secs;
        report.perf.parse_bytes += step.parse_bytes;
        let parse_inside = if parsed_before { 0.0 } else { step.parse_secs };
        report.perf.plan_secs += t.elapsed().as_secs_f64() - parse_inside;
        holds.extend(p.guards);
        let (step_base, step_groups) = (p.base, p.groups);
        if i == 0 {
            active_before = Some(step_base.clone());
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
        if i + 1 < n || keep_tree {
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
    Ok(Planned {
        steps,
        active_before: active_before.unwrap_or_else(|| targeted::active_counts(snap)),
        holds,
        leaving,
        changes,
        school_year,
        counts_exact,
    })
}

/// What the rails judge a step's counts against, besides its plan.
struct Judged<'a> {
    safety: &'a safety::Safety,
    label: String,
    leaving: &'a BTreeMap<String, u64>,
    school_year: bool,
    first_load: bool,
}

impl Judged<'_> {
    /// The holds of `p` were the directory to hold `active` and `groups`.
    fn holds(&self, p: &Planned1, active: &BTreeMap<String, u64>, groups: u64) -> Vec<Hold> {
        let mut changes = p.changes.clone();
        if let Some(read) = &p.active_read {
            changes.add_records(&targeted::unread(active, read), &BTreeMap::new());
        }
        let mut holds = safety::change_guards(
            self.safety,
            &self.label,
            active,
            groups,
            &changes,
            self.school_year,
            self.first_load,
        );
        holds.extend(safety::thresholds(
            self.safety,
            &self.label,
            active,
            self.leaving,
            self.school_year,
        ));
        holds
    }
}

/// The rails' counts of a step planned on a targeted read, as far as its
/// verdict needs (`ldap::targeted::Counts::settle`: exact when it may be a
/// hold), then the figures of its report that follow from them: the
/// people the read did not see, in step, counted as mapped and unchanged
/// as a whole plan counts them.
async fn count_targeted(
    j: &Judged<'_>,
    snap: &mut Snapshot,
    p: &mut Planned1,
    step: &mut StepReport,
) -> Result<(), SyncError> {
    let Some(c) = snap.counts.as_mut() else {
        return Ok(());
    };
    let judge = |active: &BTreeMap<String, u64>, groups: u64| {
        let mut short = crate::ldap::targeted::Short::default();
        for h in j.holds(p, active, groups) {
            match safety::CATEGORIES.iter().find(|k| k.as_str() == h.category) {
                Some(k) if !short.categories.contains(k) => short.categories.push(*k),
                Some(_) => {}
                None if h.rule.starts_with("group_") => short.groups = true,
                None => short.exactly = true,
            }
        }
        // under the floor the change guards do not judge a category: a
        // bound under it could hide a hold
        for k in safety::CATEGORIES {
            let n = active.get(k.as_str()).copied().unwrap_or(0);
            if n < j.safety.guard_floor && !short.categories.contains(&k) {
                short.categories.push(k);
            }
        }
        short
    };
    crate::host::interrupt::race(
        async { c.settle(judge).await.map_err(SyncError::from) },
        |why| {
            Err(SyncError::Halted(format!(
                "{why} while counting the directory's entries: nothing written"
            )))
        },
    )
    .await?;
    p.base = c.active().clone();
    p.groups = c.groups();
    if let Some(read) = &p.active_read {
        let unread = targeted::unread(c.active(), read);
        for (cat, n) in &unread {
            step.mapping
                .categories
                .entry(cat.clone())
                .or_default()
                .mapped += n;
        }
        p.changes.add_records(&unread, &BTreeMap::new());
        if let Some(d) = step.delta_scope.as_mut() {
            d.people_total = targeted::people_total(c.active());
        }
    }
    p.plan.unchanged_at_least = !c.exact();
    p.plan.unchanged += targeted::unchanged_unread(snap);
    step.plan = PlanCounts::of(&p.plan);
    Ok(())
}

/// What planning one extraction gives: the plan, the control state once
/// it is applied, the guards it raised and what it changes.
struct Planned1 {
    plan: Plan,
    next: Control,
    guards: Vec<Hold>,
    changes: safety::ChangeCounts,
    unproven: Vec<String>,
    /// Active entries per category before it, and classes and groups
    /// (after a targeted read: counted by plan_all, once it is known).
    base: BTreeMap<String, u64>,
    groups: u64,
    /// After a targeted read: the active people read, per kind.
    active_read: Option<BTreeMap<EntryKind, u64>>,
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
    store: Option<&Store>,
) -> Result<Planned1, SyncError> {
    // a targeted read's Delta: the state before its files are read, in
    // case it must be planned again over the whole tree
    let mut saved = None;
    let mut tree = match (parsed, x.kind) {
        (Some(tree), _) => tree,
        (None, ExtractionKind::Complet) => {
            blocks.start_step();
            cpu(|| read_extraction_for(cfg, layout, x, now, blocks, step, adapt.clone(), store))?
        }
        (None, ExtractionKind::Delta) => {
            blocks.start_step();
            saved = snap
                .counts
                .is_some()
                .then(|| (blocks.clone(), step.clone()));
            let d = DeltaRun {
                cfg,
                layout,
                extraction: x,
                now,
                adapt: adapt.clone(),
                store,
            };
            let mut played = cpu(|| play_delta(&d, &snap.managed, blocks, step, partial(snap)))?;
            // members of classes only their records rebuild: read, then
            // the same requests mapped over the tree that holds them (each
            // round reads what the last did not hold)
            let mut members_read = 0;
            let tree = loop {
                let pending = match played {
                    DeltaTree::Mapped(tree) => break tree,
                    DeltaTree::Needs(p) => p,
                };
                let before = snap.managed.len();
                let dns = pending.members();
                crate::run::read::reading(dir.read_members(layout, dns, snap, store)).await?;
                members_read += snap.managed.len() - before;
                played =
                    cpu(|| resume_delta(&d, &snap.managed, blocks, step, partial(snap), *pending))?;
            };
            if let Some(d) = step.delta_scope.as_mut() {
                d.members_read = members_read as u64;
            }
            tree
        }
    };
    if snap.counts.is_some() && tree.scope.is_none() {
        // a targeted read holds part of the tree: a Delta that must be
        // planned over the whole tree (its scope could not be closed) reads
        // it whole, then is planned again
        let why = step
            .delta_scope
            .as_ref()
            .and_then(|d| d.reason.clone())
            .unwrap_or_default();
        tracing::warn!(reason = %why, "the Delta needs the whole tree: reading it");
        let mut perf = crate::ops::report::Report::default();
        *snap = crate::run::read::interruptible_read(dir, layout, &mut perf, store).await?;
        if let Some((b, st)) = saved {
            *blocks = b;
            *step = st;
        }
        tree = delta_tree(cfg, layout, x, now, snap, blocks, step, &adapt, store)?;
        if let Some(d) = step.delta_scope.as_mut() {
            d.read_again = Some(why);
        }
    }
    // each extraction's changes are judged against the tree it applies to
    // (a targeted read's counts are made once its plan is known: plan_all)
    let (base, groups) = if snap.counts.is_some() {
        (BTreeMap::new(), 0)
    } else {
        let snap = &*snap;
        // two walks of a whole tree, one per core
        std::thread::scope(|s| {
            let groups = s.spawn(|| targeted::group_count(snap));
            (targeted::active_counts(snap), joined(groups))
        })
    };
    let active_read = tree.scope.as_ref().map(|s| s.active_read.clone());
    if snap.counts.is_some() {
        targeted::check_logins(dir, layout, &tree, snap).await?;
    }
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
    let unmapped = tree.scope.is_some();
    let mut aligned = if cfg.adopt {
        align::align(
            &mut tree.entries,
            &mut snap.managed,
            &mut snap.adoptable,
            layout,
            now,
            unmapped,
        )
    } else {
        align::align(
            &mut tree.entries,
            &mut snap.managed,
            &mut crate::model::EntryMap::new(),
            layout,
            now,
            unmapped,
        )
    };
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
    // the diff and the lifecycle decisions: CPU only, off the async worker
    Ok(cpu(|| {
        std::thread::scope(|s| {
            // two walks of the whole tree that the plan does not wait for, on
            // the other core (the parse and the read are over: it is idle).
            // An adopted tree's DNs may be built from names: say so once per
            // extraction (logs and reports write those as pseudonyms)
            let named = s.spawn(|| align::named_count(&snap.managed, layout));
            let uais = (x.kind == ExtractionKind::Complet)
                .then(|| s.spawn(|| safety::active_uais(&snap.managed)));
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
                            kept_uai.extend(
                                e.first("ENTStructureUAI")
                                    .map(crate::mapping::perimeter::uai_key),
                            );
                        }
                    }
                }
                let present = uais.map(joined).unwrap_or_default();
                let vanished: Vec<String> = tree
                    .missing_uai
                    .iter()
                    .filter(|u| present.binary_search(u).is_ok() && !kept_uai.contains(u))
                    .cloned()
                    .collect();
                safety::complet_guards(&cfg.safety, &x.label(), &base, &desired, &vanished)
            } else {
                Vec::new()
            };
            // new logins go straight into the snapshot's set: the next extraction
            // of the run must not give them again, and a copy of an académie's
            // logins costs a hundred megabytes
            step.logins_created = tree.assign_logins(&snap.managed, &mut snap.taken_logins) as u64;
            let scope = tree.scope.take();
            let (mut plan, rest) = diff::plan_within(
                std::mem::take(&mut tree.entries),
                &snap.managed,
                &settled.keep,
                scope.as_ref(),
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
                whole_tree: snap.counts.is_none(),
            };
            // entries kept as they are still refer to their structures
            let kept: Vec<&Entry> = settled
                .keep
                .iter()
                .filter_map(|k| snap.managed.get(k))
                .collect();
            // a Delta planned over part of the tree: what it leaves as it is
            // stays active and keeps referring to its structures
            let untouched = snap
                .managed
                .iter()
                .filter(|e| scope.as_ref().is_some_and(|s| s.leaves(&e.dn.key(), e)));
            step.lifecycle = retention::apply(
                &ctx,
                &mut plan,
                &snap.managed,
                rest.iter()
                    .map(|d| &d.entry)
                    .chain(kept.iter().copied())
                    .chain(untouched),
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
                    *records.entry(cat.clone()).or_default() +=
                        c.add + c.modify + c.delete + c.rejected;
                }
            }
            changes.add_records(&records, &rejected);
            let unproven = if x.kind == ExtractionKind::Complet {
                tree.protected.unproven()
            } else {
                Vec::new()
            };
            step.settle = settled;
            aligned.named_dns = joined(named);
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
            Planned1 {
                plan,
                next,
                guards,
                changes,
                unproven,
                base,
                groups,
                active_read,
            }
        })
    }))
}

/// The DN keys a targeted read looked for and did not find (`None`: the
/// whole tree was read).
fn partial(snap: &Snapshot) -> Option<&std::collections::HashSet<String>> {
    snap.counts.is_some().then_some(&snap.absent)
}

/// The Delta `x` played over the tree read (part of it, after a targeted
/// read) and mapped, off the async workers.
#[allow(clippy::too_many_arguments)]
fn delta_tree(
    cfg: &Config,
    layout: &Layout,
    x: &Extraction,
    now: Date,
    snap: &Snapshot,
    blocks: &mut Blocks,
    step: &mut StepReport,
    adapt: &Option<Arc<Adaptation>>,
    store: Option<&Store>,
) -> Result<mapping::MappedTree, SyncError> {
    cpu(|| {
        read_delta_for(
            cfg,
            layout,
            x,
            now,
            &snap.managed,
            blocks,
            step,
            adapt.clone(),
            store,
            partial(snap),
        )
    })
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
