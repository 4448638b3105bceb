//! What surrounds every command of `aaf-sync`: the async runtime (with the
//! SIGTERM and SIGINT handlers for a command that writes), the run lock
//! and the journal a writing run holds ([`Session`]), the grace a signal
//! leaves ([`until_stopped`]), the configuration loaded and checked, and
//! the end of a run: its report written, its metrics, its summary.
//!
//! The clock is `main`'s ([`Ctx`]): the report's times and the run date
//! come from there.

use crate::config::Config;
use crate::ldap::lock::RunLock;
use crate::ops::approval::Approval;
use crate::ops::journal::Journal;
use crate::ops::metrics::RunMetrics;
use crate::ops::outcome::Outcome;
use crate::ops::report::{Header, Report};
use crate::run::daily::RunReport;
use crate::run::sync::{RunPlan, SyncError, SyncOptions};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::Date;

/// What every command gets from `main`: the run id, when it started, and
/// the clock.
pub struct Ctx {
    pub run_id: String,
    pub started: Instant,
    /// Now, RFC 3339 (UTC): a report's `started` and `finished`.
    pub now_rfc3339: fn() -> String,
    /// Now, Unix seconds: the metrics.
    pub unix_now: fn() -> f64,
    /// `--now` (default today): the run date.
    pub run_date: fn(Option<String>) -> anyhow::Result<Date>,
}

impl Ctx {
    /// The header of this run's report.
    pub fn header(&self) -> Header {
        Header::new(&self.run_id, (self.now_rfc3339)())
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The runtime of a command that writes (or unpacks archives): SIGTERM and
/// SIGINT stop it at the next safe point instead of killing it
/// ([`crate::host::interrupt`]).
pub fn writing_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let rt = runtime()?;
    {
        let _in = rt.enter();
        crate::host::interrupt::install().context("installing the SIGTERM and SIGINT handlers")?;
    }
    Ok(rt)
}

/// How long a run may take, after SIGTERM or SIGINT, to stop at a safe
/// point (the operations in flight settle) before it is cut short: well
/// within systemd's default stop timeout (90 s), with time left to free
/// the lock.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// `fut`, cut short `STOP_GRACE` after a signal by `cut(why)`. Cutting it
/// abandons the operations still in flight: the journal shows them as
/// intents without a result.
pub async fn until_stopped<T>(
    fut: impl std::future::Future<Output = T>,
    cut: impl FnOnce(String) -> T,
) -> T {
    tokio::select! {
        biased;
        r = fut => r,
        why = crate::host::interrupt::wait_then(STOP_GRACE) => {
            tracing::warn!("the run did not stop within {} s of the signal: operations in flight abandoned", STOP_GRACE.as_secs());
            cut(why)
        }
    }
}

/// `--allow-mass-departure[=DIGEST]` as an approval.
pub fn approval_of(flag: Option<String>) -> Approval {
    match flag {
        None => Approval::None,
        Some(d) if d.trim().is_empty() => Approval::Held,
        Some(d) => Approval::Digest(d),
    }
}

/// What a writing run holds: the run lock (with its stop flag) and the
/// journal. Dry runs and checks hold neither: they write nothing.
pub struct Session {
    lock: Option<RunLock>,
    journal: Option<Arc<Mutex<Journal>>>,
}

impl Session {
    pub async fn open(
        cfg: &Config,
        run_id: &str,
        command: &str,
        writes: bool,
    ) -> anyhow::Result<Session> {
        Session::open_with(cfg, run_id, command, writes, true).await
    }

    /// `journal`: false for the purge, which removes the journals.
    pub async fn open_with(
        cfg: &Config,
        run_id: &str,
        command: &str,
        writes: bool,
        journal: bool,
    ) -> anyhow::Result<Session> {
        if !writes {
            return Ok(Session {
                lock: None,
                journal: None,
            });
        }
        // what dead runs left behind goes first (their unpacked files)
        crate::delivery::sweep_staging(&cfg.work_dir);
        let layout = cfg.layout();
        let lock = RunLock::acquire(&cfg.ldap, cfg.lock, &layout, run_id, command).await?;
        crate::host::interrupt::watch(&lock.halt_flag());
        if !journal {
            return Ok(Session {
                lock: Some(lock),
                journal: None,
            });
        }
        let journal = match Journal::open(&cfg.work_dir, run_id, cfg.journal_keep_days) {
            Ok(mut j) => {
                j.start(command);
                j
            }
            Err(e) => {
                lock.release(Outcome::Failed.as_str()).await;
                anyhow::bail!("{}: cannot open the journal: {e}", cfg.work_dir.display());
            }
        };
        Ok(Session {
            lock: Some(lock),
            journal: Some(Arc::new(Mutex::new(journal))),
        })
    }

    /// `o` with the lock's stop flag and the journal.
    pub fn options(&self, mut o: SyncOptions) -> SyncOptions {
        o.halt = self.halt();
        o.journal = self.journal.clone();
        o
    }

    pub fn halt(&self) -> Option<crate::ldap::Halt> {
        self.lock.as_ref().map(|l| l.halt_flag())
    }

    /// Journals an operation about to be sent.
    pub fn intent(&self, p: &crate::model::plan::Planned) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.intent(p);
            }
        }
    }

    /// Journals one settled operation.
    pub fn record(&self, p: &crate::model::plan::Planned, err: Option<&str>) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.record(p, err);
            }
        }
    }

    /// Puts in the report the stale lock this run took over and the journal.
    pub fn note(&self, rep: &mut Report) {
        rep.lock_taken_over_from = self.lock.as_ref().and_then(|l| l.took_over.clone());
        rep.journal = self
            .journal
            .as_ref()
            .and_then(|j| j.lock().ok().map(|j| j.path().display().to_string()));
    }

    /// Ends the journal and frees the lock, both saying how the run ended.
    pub async fn close(self, outcome: Outcome) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.end(outcome.as_str());
            }
        }
        drop(self.journal);
        if let Some(l) = self.lock {
            l.release(outcome.as_str()).await;
        }
    }

    /// Frees the lock by deleting it (the purge: nothing of the source
    /// stays in the directory).
    pub async fn close_deleting(self) {
        if let Some(l) = self.lock {
            l.release_deleting().await;
        }
    }
}

/// How a `sync` or `retention` run ended, from its result.
pub fn outcome_of(result: &Result<RunPlan, SyncError>, rep: &Report, check: bool) -> Outcome {
    match result {
        Err(_) if crate::host::interrupt::requested() => Outcome::Interrupted,
        Err(SyncError::Held(_)) => Outcome::Held,
        Err(SyncError::Halted(_)) => Outcome::Failed,
        Err(_) => Outcome::Refused,
        Ok(p) if check && !p.is_empty() => Outcome::Drift,
        Ok(_) if check => Outcome::InStep,
        Ok(_) if rep.not_in_step() => Outcome::Partial,
        Ok(_) if rep.rejected() => Outcome::RejectedRecords,
        Ok(_) => Outcome::Ok,
    }
}

/// Loads the configuration, and makes its layout the one every DN written
/// out (journal, reports, logs, errors) is judged by: from here on, a name
/// in an adopted DN is written as its pseudonym (README, "Data protection").
pub fn load_config(path: &Path) -> Result<Config, crate::config::ConfigError> {
    let cfg = Config::load(path)?;
    crate::mapping::layout::use_for_logs(&cfg.layout());
    Ok(cfg)
}

/// [`load_config`] and the local half of the preflight (work directory,
/// key files): for commands that do not use the directory.
pub fn load_local(path: &Path) -> anyhow::Result<Config> {
    let cfg = load_config(path)?;
    crate::run::preflight::local(&cfg)?;
    Ok(cfg)
}

/// [`load_config`] and the whole preflight, `check`'s checks: a command
/// fails there, saying what to fix, rather than on the server's answer.
pub fn load_checked(path: &Path) -> anyhow::Result<Config> {
    let cfg = load_config(path)?;
    runtime()?.block_on(crate::run::preflight::run(&cfg))?;
    Ok(cfg)
}

/// How long `check` and the metrics wait for the replicas to settle after
/// the last writes: as long as a read waits for a consumer.
pub fn settle(cfg: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(cfg.ldap.read_wait_secs)
}

/// In a replicated directory, every configured server as the run leaves
/// them (for the metrics): a few seconds at most.
fn topology_after_run(cfg: &Config) -> Option<crate::ldap::replication::Topology> {
    if !cfg.ldap.replicated() || cfg.metrics_file.is_none() {
        return None;
    }
    let rt = runtime().ok()?;
    Some(rt.block_on(crate::ldap::replication::probe(&cfg.ldap, settle(cfg))))
}

/// Writes the metrics of a run that wrote (a dry run tells the monitoring
/// nothing): `reports` are what it did.
fn write_metrics<'r>(
    ctx: &Ctx,
    cfg: &Config,
    command: &str,
    head: &Header,
    reports: impl IntoIterator<Item = &'r Report>,
) {
    let Some(path) = cfg.metrics_file.as_ref().filter(|_| !head.dry_run) else {
        return;
    };
    let topology = topology_after_run(cfg);
    let m = RunMetrics::of_run(
        command,
        head,
        reports,
        (ctx.unix_now)(),
        ctx.started.elapsed().as_secs_f64(),
        topology.as_ref(),
    );
    if let Err(e) = crate::ops::metrics::write(path, &m) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file");
    }
}

/// Writes a report as JSON: ids and counts only, but still nobody else's
/// business (mode 0600).
fn write_report(path: &Path, json: &impl serde::Serialize) -> anyhow::Result<()> {
    crate::host::fs::write_private(path, serde_json::to_string_pretty(json)?.as_bytes())
        .with_context(|| format!("writing the report {}", path.display()))
}

/// What a `sync` or `retention` command ends with: its result and how it
/// ended, and the configuration when it could be read (for the metrics).
pub type SyncEnd = (Result<RunPlan, SyncError>, Outcome, Option<Config>);

/// Writes a dry run's plan to stdout, in the format asked for.
pub type PlanWriter = fn(&RunPlan, &mut dyn std::io::Write) -> std::io::Result<()>;

/// Settles the report of a `sync` or `retention` run, prints the dry-run
/// plan (rendered by `plan_text`, when given) and the summary, writes the
/// JSON report and the metrics. Returns the exit code.
pub fn finish_sync(
    ctx: &Ctx,
    mut rep: Report,
    end: SyncEnd,
    plan_text: Option<PlanWriter>,
    report_path: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let (result, mut outcome, cfg) = end;
    if let Err(e) = &result {
        rep.error = Some(format!("{e:#}"));
    }
    if let (Ok(plan), Some(write)) = (&result, plan_text) {
        // streamed: a first sync's plan is the whole tree
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let written = write(plan, &mut out).and_then(|()| std::io::Write::flush(&mut out));
        // a reader that stopped early (`| head`) chose to; a plan cut
        // short any other way (a full disk) must not pass for the plan
        match written {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                outcome = Outcome::Failed;
                rep.error = Some(format!("writing the plan to stdout: {e}"));
            }
            _ => {}
        }
    }
    rep.head
        .end((ctx.now_rfc3339)(), outcome, outcome.exit_code());
    rep.perf.peak_rss_mib = crate::ops::report::peak_rss_mib();
    rep.perf.store_peak_mib = crate::model::store::peak_bytes() as f64 / (1 << 20) as f64;
    if let Some(path) = report_path {
        write_report(&path, &rep)?;
    }
    if let Some(cfg) = &cfg {
        write_metrics(ctx, cfg, &rep.head.command, &rep.head, [&rep]);
    }
    crate::host::progress::clear();
    eprint!("{}", rep.summary());
    Ok(exit_byte(outcome.exit_code()))
}

/// Settles the report of `run` (its exit code `code` combines its
/// extractions'), writes it and the metrics, prints the summary.
pub fn finish_run(
    ctx: &Ctx,
    mut rep: RunReport,
    code: i32,
    cfg: Option<&Config>,
    report_path: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let outcome = rep.outcome(code);
    rep.head.end((ctx.now_rfc3339)(), outcome, code);
    if let Some(path) = report_path {
        write_report(&path, &rep)?;
    }
    if let Some(cfg) = cfg {
        let reports = rep
            .extractions
            .iter()
            .filter_map(|x| x.report.as_ref())
            .chain(rep.retention.as_ref());
        write_metrics(ctx, cfg, "run", &rep.head, reports);
    }
    crate::host::progress::clear();
    eprint!("{}", rep.summary());
    Ok(exit_byte(code))
}

/// An exit code as the process returns it (2 if it does not fit).
pub fn exit_byte(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(2)
}
