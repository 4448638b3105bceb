//! The end-of-run report: one set of counters that feeds the JSON report
//! (`--report`) and the human summary (`summary.rs`). Ids, DNs of the
//! managed tree, field names and counts only: never a name, birth date,
//! address or phone.

use crate::aaf::decode::Detected;
use crate::aaf::RecordError;
use crate::ldap::apply::ApplyOutcome;
use crate::mapping::delta::DeltaStats;
use crate::mapping::MapStats;
use crate::model::plan::Plan;
use crate::model::Dn;
use crate::retention::Lifecycle;
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::ops::outcome::{Outcome, EXIT_PARTIAL};
pub use summary::uai_counts;

mod summary;

/// One file read.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub category: String,
    pub part: u32,
    pub encoding: Detected,
    pub records: u64,
    pub rejected: u64,
}

/// The extraction read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractionReport {
    pub label: String,
    pub kind: String,
    pub date: String,
    /// Header comments (versionAF, degre, codeAcademieExport…) of the first file.
    pub header: BTreeMap<String, String>,
    pub files: Vec<FileReport>,
}

/// Counts of planned operations by kind of entry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanCounts {
    pub by_kind: BTreeMap<String, BTreeMap<String, u64>>,
    pub unchanged: u64,
    /// `unchanged` is a lower bound (`SafetyReport::active_at_least`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unchanged_at_least: bool,
    pub total: u64,
}

impl PlanCounts {
    pub fn of(plan: &Plan) -> Self {
        let mut c = PlanCounts {
            unchanged: plan.unchanged,
            unchanged_at_least: plan.unchanged_at_least,
            total: plan.changes.len() as u64,
            ..Default::default()
        };
        for p in &plan.changes {
            *c.by_kind
                .entry(p.kind.as_str().to_string())
                .or_default()
                .entry(p.change.op_name().to_string())
                .or_default() += 1;
        }
        c
    }
}

/// Which part of the directory a Delta was planned over (see
/// [`crate::mapping::scope`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeltaScope {
    /// `targeted` (the entries the Delta can change) or `whole`.
    pub mode: String,
    /// Why the whole tree (a Delta that changes structures, a scope too
    /// large, targeted plans turned off…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// People whose entries were computed again, of all the active ones.
    pub people: u64,
    pub people_total: u64,
    /// Directory entries computed again (people, classes and groups,
    /// structures).
    pub entries: u64,
    /// Of the classes and groups computed again, those patched from their
    /// entry (their other members' records not needed: see
    /// `mapping::scope::Patch`); the others are rebuilt from all their
    /// members' records.
    pub classes_patched: u64,
    /// Members of the classes rebuilt read after the targeted read.
    pub members_read: u64,
    /// A targeted read (`perf.read_mode`) that was not enough for this
    /// Delta's plan: why the whole tree was read after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_again: Option<String>,
}

impl DeltaScope {
    pub fn of(s: &crate::mapping::scope::Scope) -> DeltaScope {
        DeltaScope {
            mode: "targeted".into(),
            reason: None,
            people: s.people.len() as u64,
            people_total: s.people_total,
            entries: s.touched.len() as u64,
            classes_patched: s.patches.len() as u64,
            members_read: 0,
            read_again: None,
        }
    }
    pub fn whole(reason: String, current: &crate::model::EntryMap) -> DeltaScope {
        let people = current
            .values()
            .filter(|e| {
                crate::schema::EntryKind::of(*e).is_some_and(crate::schema::EntryKind::is_person)
                    && !crate::schema::State::of(*e).departed()
            })
            .count() as u64;
        DeltaScope {
            mode: "whole".into(),
            reason: Some(reason),
            people,
            people_total: people,
            entries: current.len() as u64,
            classes_patched: 0,
            members_read: 0,
            read_again: None,
        }
    }
}

/// One extraction applied (or, for `retention`, the retention pass).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    /// The extraction; `None` for a retention-only pass.
    pub extraction: Option<ExtractionReport>,
    /// What a Delta asked, by category.
    pub delta: Option<DeltaStats>,
    /// A Delta: which part of the directory it was planned over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_scope: Option<DeltaScope>,
    /// Mapping counts (for a Delta: of the directory's records with the
    /// Delta played over them).
    pub mapping: MapStats,
    pub rejected_records: Vec<RecordError>,
    /// Configured UAIs that no structure of the extraction carried.
    pub perimeter_missing_uai: Vec<String>,
    /// UAIs the extraction holds outside the perimeter, each with the
    /// number of people records attached to it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub perimeter_outside_uai: BTreeMap<String, u64>,
    pub logins_created: u64,
    /// The school year whose classes this step rebuilt (first Complet on or
    /// after the configured start).
    pub school_year_rebuild: Option<i32>,
    pub plan: PlanCounts,
    /// Departures, disables, restores and deletions, by category (AAF ids).
    pub lifecycle: Lifecycle,
    /// Time reading and mapping the files, and their size.
    #[serde(skip)]
    pub parse_secs: f64,
    #[serde(skip)]
    pub parse_bytes: u64,
    /// Records of people erased on request, skipped; blocks lifted.
    pub erasures: crate::rights::erasure::BlockStats,
    /// Ids whose records were present but rejected: kept as they are.
    pub protected_ids: u64,
    /// Rejected records whose id could not be read, by category.
    pub unidentified_rejects: BTreeMap<String, u64>,
    /// Entries left out (squatters) or kept as they are, links dropped.
    pub settle: crate::mapping::settle::Settled,
    /// Entries matched by jointure: adopted, or back from the departed
    /// branch.
    pub aligned: crate::mapping::align::Aligned,
    pub applied: Option<ApplyOutcome>,
    /// After the apply: the directory is in step with the extractions
    /// applied (every operation succeeded, no entry left out).
    pub in_step: Option<bool>,
}

impl StepReport {
    pub fn failed_operations(&self) -> usize {
        self.applied.as_ref().map_or(0, |a| a.failures.len())
    }
    /// Operations failed or not attempted, and entries left out: the
    /// directory is not in step with what could be read.
    pub fn not_in_step(&self) -> bool {
        self.in_step == Some(false)
            || self.applied.as_ref().is_some_and(|a| !a.complete())
            || !self.settle.conflicts.is_empty()
    }
}

/// What every report starts with: which run, when, how it ended. The
/// report of `sync` and `retention` ([`Report`]) and the report of `run`
/// (`run::daily::RunReport`) both begin with it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    pub run_id: String,
    pub version: String,
    /// `sync` or `retention`; absent from `run`'s own report (the
    /// extractions it imports carry theirs).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    pub started: String,
    pub finished: String,
    /// The run date (`--now`).
    pub now: String,
    pub dry_run: bool,
    /// `ok` (0), `rejected_records` (1: records rejected, the directory in
    /// step with the rest), `partial` (3: operations failed or entries
    /// left out, not in step), `held`, `refused` or `failed` (2); `drift`
    /// or `in_step` for `--check`; for an extraction of `run`, see
    /// `run::daily::ExtractionRun`.
    pub outcome: Outcome,
    pub exit_code: i32,
}

impl Header {
    /// The header of a run that started at `started` (RFC 3339).
    pub fn new(run_id: &str, started: String) -> Header {
        Header {
            run_id: run_id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started,
            ..Default::default()
        }
    }

    /// The header of a report inside another (an extraction of `run`):
    /// the same run id and version, no times of its own.
    pub fn within(&self) -> Header {
        Header {
            run_id: self.run_id.clone(),
            version: self.version.clone(),
            ..Default::default()
        }
    }

    /// Marks the run ended at `finished` (RFC 3339) with `outcome` and
    /// `exit_code`.
    pub fn end(&mut self, finished: String, outcome: Outcome, exit_code: i32) {
        self.finished = finished;
        self.outcome = outcome;
        self.exit_code = exit_code;
    }
}

/// Everything a run reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub head: Header,
    pub error: Option<String>,
    /// Files given that are not AAF extraction files (not read).
    pub ignored_files: Vec<String>,
    /// The same, one line each for the summary on stderr, saying why
    /// (`ignored: FILE does not match …`): a misnamed file is otherwise
    /// only visible in the JSON report. File names are not personal data.
    #[serde(skip)]
    pub ignored_notes: Vec<String>,
    /// Extractions given that were applied already (a resumed run).
    pub already_applied: Vec<String>,
    pub branches_created: Vec<Dn>,
    /// One step per extraction applied, in order.
    pub steps: Vec<StepReport>,
    /// What the safety rails found, and the digest of the run's plan.
    pub safety: Option<SafetyReport>,
    /// The plan saved for review (dry run, or a run held back).
    pub plan_files: Vec<String>,
    /// The journal the applied operations went to.
    pub journal: Option<String>,
    /// The holder of a stale run lock this run took over (it died).
    pub lock_taken_over_from: Option<String>,
    /// Time per phase and memory: what the benchmarks read.
    pub perf: Perf,
}

/// Durations of the phases of a run, and its peak memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Perf {
    /// Reading the managed tree from the directory.
    pub read_secs: f64,
    pub read_entries: u64,
    /// Which read this run did: `full` (the whole managed tree) or
    /// `incremental` (what changed since the last run, over the copy in
    /// `work_dir`); empty when the run read no tree.
    pub read_mode: String,
    /// Incremental: entries the server sent again or said were gone.
    pub read_changes: u64,
    /// Why a full read where incremental reads are on (no copy yet, a
    /// copy that does not match, a server without `syncprov`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_full_reason: Option<String>,
    /// A run whose only extraction is a Delta: why the whole tree was read
    /// rather than what the Delta needs (`read_mode` `targeted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targeted_reason: Option<String>,
    /// Parsing and mapping the extraction files.
    pub parse_secs: f64,
    pub parse_bytes: u64,
    /// Diff and lifecycle decisions.
    pub plan_secs: f64,
    /// Writing to the directory.
    pub apply_secs: f64,
    pub apply_operations: u64,
    /// CPU time this process used while writing, every thread (on two
    /// cores, up to twice `apply_secs`): with the server's, what bounds the
    /// write rate on a machine the server shares.
    pub apply_cpu_secs: f64,
    /// Peak resident memory of the process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Largest size the entry store's file reached, MiB (0: no store).
    pub store_peak_mib: f64,
}

/// CPU time this process has used so far, user and system, every thread
/// (seconds; 0 where the system will not say).
pub fn cpu_secs() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage it is given, or fails and leaves
    // it zeroed (all zeroes is a valid rusage)
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Peak resident memory of this process, MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The safety rails' verdict on a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SafetyReport {
    /// SHA-256 of the run's plans: what an approval names.
    pub digest: String,
    /// Active entries per category before the run.
    pub active_before: BTreeMap<String, u64>,
    /// `active_before` holds lower bounds, not the directory's figures: a
    /// Delta planned on a targeted read counts the directory only as far
    /// as the rails' verdict needs (exactly when it may be a hold). The
    /// unread people counted as mapped and unchanged (`mapping`, `plan`,
    /// `delta_scope.people_total`) follow from them and are lower bounds
    /// too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub active_at_least: bool,
    /// Active entries leaving in this run, per category.
    pub leaving: BTreeMap<String, u64>,
    /// What the run changes besides departures.
    pub changes: crate::safety::ChangeCounts,
    /// Reasons to hold the run back; empty when none.
    pub holds: Vec<crate::safety::Hold>,
    /// Set when the holds were approved.
    pub approved_by: Option<crate::ops::approval::ApprovedBy>,
}

impl Report {
    /// True when some record was rejected or some operation failed.
    pub fn partial(&self) -> bool {
        self.rejected() || self.not_in_step()
    }

    /// True when some record was rejected (the directory is in step with
    /// what could be read).
    pub fn rejected(&self) -> bool {
        self.steps.iter().any(|st| !st.rejected_records.is_empty())
    }

    /// True when some operation failed or was not attempted, or some entry
    /// was left out: the directory is not in step with the extraction.
    pub fn not_in_step(&self) -> bool {
        self.steps.iter().any(StepReport::not_in_step)
    }
}

#[cfg(test)]
mod cpu_tests {
    #[test]
    fn cpu_time_counts_the_work_of_every_thread() {
        let spin = || {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < std::time::Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            x
        };
        let (c0, t0) = (super::cpu_secs(), std::time::Instant::now());
        let other = std::thread::spawn(spin);
        spin();
        other.join().unwrap();
        let (cpu, wall) = (super::cpu_secs() - c0, t0.elapsed().as_secs_f64());
        // two threads spinning 0.3 s each: over 0.3 s of CPU even on one
        // core, never more than the cores could give
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(cpu > 0.25, "{cpu}");
        assert!(cpu <= wall * cores + 0.05, "{cpu} over {wall}");
    }
}
