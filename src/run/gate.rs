//! The gate between the plan and the first write: the directory's schema
//! checked against every entry the plans write, the safety rails'
//! thresholds, the approval of a held plan, and the plan saved for review
//! (a dry run's, or a held run's with why).

use crate::aaf::filename::Extraction;
use crate::config::Config;
use crate::ldap::Directory;
use crate::mapping::layout::Layout;
use crate::mapping::subschema::DirSchema;
use crate::model::plan::{self, Plan};
use crate::ops::approval;
use crate::ops::report::{Report, SafetyReport};
use crate::run::plan::Planned;
use crate::run::sync::{RunPlan, StepPlan, SyncError, SyncOptions};
use crate::safety;
use crate::schema::date;
use crate::schema::EntryKind;
use std::collections::BTreeMap;

/// A plan past the gate: the run's plan with its digest, and whether it is
/// to be applied (not a dry run, not a check, not held).
pub(crate) struct Gated {
    pub out: RunPlan,
    pub digest: String,
    pub apply: bool,
}

/// Judges the planned run: `Err` when the schema refuses it or the safety
/// rails hold it back (the plan saved for approval).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn gate(
    cfg: &Config,
    opts: &SyncOptions,
    report: &mut Report,
    layout: &Layout,
    dir: &Directory,
    schema: &DirSchema,
    extractions: &[&Extraction],
    planned: Planned,
) -> Result<Gated, SyncError> {
    let Planned {
        steps,
        active_before,
        mut holds,
        leaving,
        changes,
        school_year,
        counts_exact,
    } = planned;
    // every entry the plans write, against the directory's schema
    let problems = schema_problems(schema, steps.iter().map(|s: &StepPlan| &s.plan));
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
        active_at_least: !counts_exact,
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
    let stop = |out| {
        Ok(Gated {
            out,
            digest: digest.clone(),
            apply: false,
        })
    };
    if opts.check {
        return stop(out);
    }
    if opts.dry_run || held {
        // a dry run holds nothing: its plan is never taken for a held one
        let held_now = held && !opts.dry_run;
        save_plan(cfg, report, &out, held_now.then_some((&digest, &reasons)))?;
    }
    if opts.dry_run {
        return stop(out);
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
    Ok(Gated {
        out,
        digest,
        apply: true,
    })
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
                plan::Change::Add { entry } => {
                    for problem in checker.check(entry) {
                        note(p.kind, problem.to_string(), &entry.dn);
                    }
                }
                plan::Change::Modify { dn, changes } => {
                    for c in changes {
                        let attr = match c {
                            plan::AttrChange::Add { attr, .. }
                            | plan::AttrChange::Replace { attr, .. }
                            | plan::AttrChange::Delete { attr, .. } => attr.as_str(),
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

/// The branch OUs a first run creates, as a plan step (for the dry-run
/// LDIF, so that `ldapmodify` can apply it as is on an empty base).
fn branches_step(layout: &Layout, missing: &[crate::model::Dn]) -> StepPlan {
    let mut plan = Plan::default();
    for (ou, dn) in layout.branches() {
        if !missing.contains(dn) {
            continue;
        }
        let e = Layout::branch_entry(ou, dn);
        plan.changes.push(plan::Planned {
            kind: EntryKind::Control,
            phase: 0,
            change: plan::Change::Add { entry: e },
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
pub(crate) fn save_plan(
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
    let (l, j) = approval::save_plan(
        &cfg.work_dir,
        name,
        |w| plan.write_ldif(w),
        |w| plan.write_json(w),
    )
    .map_err(err)?;
    if let Some((digest, reasons)) = held {
        approval::record_held(
            &cfg.work_dir,
            &approval::Held {
                digest: digest.clone(),
                run_id: report.head.run_id.clone(),
                command: report.head.command.clone(),
                held_at: date::rfc3339(time::OffsetDateTime::now_utc()),
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
