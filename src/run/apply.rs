//! The apply: each extraction's plan phase by phase, every operation
//! journaled before it is sent and once settled, then the control entry
//! recording how far the run got. After a failover, what a lost provider
//! acknowledged is read back on the survivor and the missing adds sent
//! again; what cannot be recovered keeps the extraction unrecorded.

use crate::config::Config;
use crate::host::progress::Progress;
use crate::ldap::Directory;
use crate::mapping::layout::Layout;
use crate::model::plan::{self, Plan};
use crate::model::Entry;
use crate::ops::approval;
use crate::ops::journal::Journal;
use crate::ops::report::Report;
use crate::run::control::Control;
use crate::run::sync::{RunPlan, SyncError, SyncOptions};
use std::collections::BTreeMap;

/// Applies `out` (past the gate) in order; `start_entry` is the control
/// entry as the run read it, `digest` the plan's (an approval used is
/// consumed once the run is through).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_all(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    dir: &Directory,
    out: &RunPlan,
    start_entry: Option<Entry>,
    digest: &str,
) -> Result<(), SyncError> {
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
        let cpu = crate::ops::report::cpu_secs();
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
        report.perf.apply_cpu_secs += crate::ops::report::cpu_secs() - cpu;
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
        approval::consume(&cfg.work_dir, digest);
    }
    Ok(())
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
    let ops: Vec<&plan::Planned> = pending.iter().filter_map(op).collect();
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
            Some(plan::Change::Add { .. }) if dir.halted().is_none() => {
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
pub(crate) async fn apply_step(
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
    let intent = |p: &plan::Planned| journal(&mut |j| j.intent(p));
    let outcome = crate::ldap::apply::apply_plan(dir, plan, failed_adds, &intent, &mut |p, err| {
        bar.inc(1);
        journal(&mut |j| j.record(p, err));
    })
    .await;
    bar.finish();
    outcome
}
