//! `aaf-sync` command line: thin glue around the library (parse arguments,
//! load config, init logs, run, map the outcome to an exit code:
//! 0 done, 1 done with rejected records (the directory is in step with
//! what could be read), 3 done but some operations failed (not in step),
//! 2 refused, held or fatal).

use aaf_sync::cli::{Cli, Cmd, LogFormat, PlanFormat, SubjectCmd};
use aaf_sync::config::Config;
use aaf_sync::ldap::lock::RunLock;
use aaf_sync::ops::approval::Approval;
use aaf_sync::ops::journal::Journal;
use aaf_sync::ops::metrics::RunMetrics;
use aaf_sync::ops::report::Report;
use aaf_sync::run::sync::{self, RunPlan, SyncError, SyncOptions};
use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// mimalloc: the sync allocates and frees millions of small strings; glibc's
/// allocator spent a third of a no-change run consolidating free chunks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses `YYYY-MM-DD` or an RFC 3339 timestamp (its date part).
fn parse_now(s: &str) -> anyhow::Result<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &fmt) {
        return Ok(d);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--now {s:?}: expected YYYY-MM-DD or an RFC 3339 date-time"))?;
    Ok(t.date())
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AAF_SYNC_LOG")
        // warnings only, but the progress lines, so that a long run under
        // systemd shows it is alive (README, "Commands": `AAF_SYNC_LOG`)
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "warn,{}=info",
                aaf_sync::host::progress::TARGET
            ))
        });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        // the run id comes from the span every command runs in
        LogFormat::Json => b
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{:x}", nanos, std::process::id())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The runtime of a command that writes (or unpacks archives): SIGTERM and
/// SIGINT stop it at the next safe point instead of killing it
/// ([`aaf_sync::host::interrupt`]).
fn writing_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let rt = runtime()?;
    {
        let _in = rt.enter();
        aaf_sync::host::interrupt::install()
            .context("installing the SIGTERM and SIGINT handlers")?;
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
async fn until_stopped<T>(
    fut: impl std::future::Future<Output = T>,
    cut: impl FnOnce(String) -> T,
) -> T {
    tokio::select! {
        biased;
        r = fut => r,
        why = aaf_sync::host::interrupt::wait_then(STOP_GRACE) => {
            tracing::warn!("the run did not stop within {} s of the signal: operations in flight abandoned", STOP_GRACE.as_secs());
            cut(why)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    // bars on a terminal; in cron or under systemd, a log line every ~10 s
    aaf_sync::host::progress::set_mode(if cli.no_progress {
        aaf_sync::host::progress::Mode::Off
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        aaf_sync::host::progress::Mode::Bars
    } else {
        aaf_sync::host::progress::Mode::Lines
    });
    let id = run_id();
    let span = tracing::info_span!("run", run_id = %id);
    let _enter = span.enter();
    match real_main(cli, id) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aaf-sync: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn approval_of(flag: Option<String>) -> Approval {
    match flag {
        None => Approval::None,
        Some(d) if d.trim().is_empty() => Approval::Held,
        Some(d) => Approval::Digest(d),
    }
}

/// What a writing run holds: the run lock (with its stop flag) and the
/// journal. Dry runs and checks hold neither: they write nothing.
struct Session {
    lock: Option<RunLock>,
    journal: Option<Arc<Mutex<Journal>>>,
}

impl Session {
    async fn open(
        cfg: &Config,
        run_id: &str,
        command: &str,
        writes: bool,
    ) -> anyhow::Result<Session> {
        Session::open_with(cfg, run_id, command, writes, true).await
    }

    /// `journal`: false for the purge, which removes the journals.
    async fn open_with(
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
        aaf_sync::delivery::sweep_staging(&cfg.work_dir);
        let layout = cfg.layout();
        let lock = RunLock::acquire(&cfg.ldap, cfg.lock, &layout, run_id, command).await?;
        aaf_sync::host::interrupt::watch(&lock.halt_flag());
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
                lock.release("failed").await;
                anyhow::bail!("{}: cannot open the journal: {e}", cfg.work_dir.display());
            }
        };
        Ok(Session {
            lock: Some(lock),
            journal: Some(Arc::new(Mutex::new(journal))),
        })
    }

    fn options(&self, mut o: SyncOptions) -> SyncOptions {
        o.halt = self.lock.as_ref().map(|l| l.halt_flag());
        o.journal = self.journal.clone();
        o
    }

    fn halt(&self) -> Option<aaf_sync::ldap::Halt> {
        self.lock.as_ref().map(|l| l.halt_flag())
    }

    /// Journals an operation about to be sent.
    fn intent(&self, p: &aaf_sync::diff::Planned) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.intent(p);
            }
        }
    }

    /// Journals one settled operation.
    fn record(&self, p: &aaf_sync::diff::Planned, err: Option<&str>) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.record(p, err);
            }
        }
    }

    fn took_over(&self) -> Option<String> {
        self.lock.as_ref().and_then(|l| l.took_over.clone())
    }

    fn journal_path(&self) -> Option<String> {
        self.journal
            .as_ref()
            .and_then(|j| j.lock().ok().map(|j| j.path().display().to_string()))
    }

    async fn close(self, outcome: &str) {
        if let Some(j) = &self.journal {
            if let Ok(mut j) = j.lock() {
                j.end(outcome);
            }
        }
        drop(self.journal);
        if let Some(l) = self.lock {
            l.release(outcome).await;
        }
    }
}

/// Exit code of a run whose operations partly failed (or entries were left
/// out): the directory is not in step with the extraction.
const EXIT_PARTIAL: u8 = aaf_sync::ops::report::EXIT_PARTIAL as u8;

/// Outcome and exit code of a `sync` or `retention` run.
fn outcome_of(
    result: &Result<RunPlan, SyncError>,
    rep: &Report,
    check: bool,
) -> (&'static str, u8) {
    match result {
        Err(SyncError::Held(_)) => ("held", 2),
        Err(SyncError::Schema(_)) => ("refused", 2),
        Err(SyncError::Halted(_)) => ("failed", 2),
        Err(_) => ("refused", 2),
        Ok(p) if check && !p.is_empty() => ("drift", 1),
        Ok(_) if check => ("in_step", 0),
        Ok(_) if rep.not_in_step() => ("partial", EXIT_PARTIAL),
        Ok(_) if rep.rejected() => ("rejected_records", 1),
        Ok(_) => ("ok", 0),
    }
}

/// Runs `sync` or `retention` under a session.
async fn sync_command(
    cfg: &Config,
    mut opts: SyncOptions,
    rep: &mut Report,
    retention: bool,
) -> anyhow::Result<(Result<RunPlan, SyncError>, &'static str, u8)> {
    let command = if retention { "retention" } else { "sync" };
    let writes = !opts.dry_run && !opts.check;
    if let Err(e) = aaf_sync::run::preflight::run(cfg).await {
        rep.command = command.into();
        return Ok((Err(SyncError::Input(format!("{e:#}"))), "refused", 2));
    }
    let session = match Session::open(cfg, &rep.run_id, command, writes).await {
        Ok(s) => s,
        Err(e) => {
            rep.command = command.into();
            let outcome = if aaf_sync::host::interrupt::requested() {
                "interrupted"
            } else {
                "refused"
            };
            return Ok((Err(SyncError::Input(format!("{e:#}"))), outcome, 2));
        }
    };
    opts = session.options(opts);
    rep.lock_taken_over_from = session.took_over();
    rep.journal = session.journal_path();
    let result = until_stopped(
        async {
            if retention {
                sync::retention_pass(cfg, &opts, rep).await
            } else {
                sync::run(cfg, &opts, rep).await
            }
        },
        |why| Err(SyncError::Halted(format!("{why}: the run was cut short"))),
    )
    .await;
    let (mut outcome, code) = outcome_of(&result, rep, opts.check);
    if result.is_err() && aaf_sync::host::interrupt::requested() {
        outcome = "interrupted";
    }
    session.close(outcome).await;
    Ok((result, outcome, code))
}

fn real_main(cli: Cli, run_id: String) -> anyhow::Result<u8> {
    let started = Instant::now();
    match cli.cmd {
        Cmd::Check { config } => {
            let cfg = load_local(&config)?;
            let rt = runtime()?;
            rt.block_on(async {
                let dir = aaf_sync::ldap::Directory::connect(&cfg.ldap).await?;
                let layout = cfg.layout();
                dir.preflight(&layout).await?;
                let missing = dir.ensure_branches(&layout, true).await?;
                let passwords = dir.password_access(&layout).await?;
                let schema = dir.read_schema(&layout.base).await?;
                let adoptable = dir.count_adoptable(&layout).await?;
                let named = dir.count_named_dns(&layout).await?;
                let answered = dir.url().to_string();
                dir.close().await;
                for m in &missing {
                    println!("branch {m} missing: sync will create it");
                }
                println!("work directory {} writable", cfg.work_dir.display());
                let mut refused = false;
                match passwords {
                    None => println!(
                        "passwords: no managed person yet: the access of {} to userPassword is checked once there is one",
                        cfg.ldap.bind_dn
                    ),
                    Some(p) => {
                        let at = aaf_sync::mapping::layout::log_dn(p.dn.as_str());
                        if !p.write {
                            refused = true;
                            eprintln!(
                                "aaf-sync: passwords: {} cannot write userPassword and aafSyncSavedPassword (tried on {at}): \
                                 departures could not set passwords aside; grant it write access (docs/data-protection.md, \"Departures and retention\")",
                                cfg.ldap.bind_dn
                            );
                        } else if !p.read {
                            println!(
                                "passwords: {} may write userPassword; it could not read one (tried on {at}): \
                                 if an ACL hides it, departed people keep theirs (docs/data-protection.md, \"Departures and retention\")",
                                cfg.ldap.bind_dn
                            );
                        } else {
                            println!("passwords: {} can read and write userPassword and aafSyncSavedPassword", cfg.ldap.bind_dn);
                        }
                    }
                }
                if refused {
                    return Ok(2);
                }
                // what the sync writes into this directory's schema
                let adaptation = aaf_sync::mapping::sdet::Adaptation::compile(&schema);
                for line in adaptation.describe() {
                    println!("schema: {line}");
                }
                if adoptable > 0 {
                    println!(
                        "{adoptable} entries carry a jointure of source {} without being managed (an existing tree): \
                         a sync adopts those its extraction carries and leaves the others alone \
                         (sync --dry-run shows how many)",
                        cfg.source
                    );
                }
                if named > 0 {
                    println!(
                        "warning: {named} entries of source {} have DNs whose RDN value is not an AAF id \
                         (an adopted tree, perhaps built from names): logs, the journal and reports \
                         write it as a pseudonym (uid=#sha256:…); `subject export --dn` takes the \
                         pseudonym back",
                        cfg.source
                    );
                }
                if !adaptation.problems.is_empty() {
                    for p in &adaptation.problems {
                        eprintln!("aaf-sync: schema: {p}");
                    }
                    eprintln!("aaf-sync: the directory's schema cannot hold what the sync writes: a sync would be refused");
                    return Ok(2);
                }
                println!(
                    "configuration valid; {answered} reachable, schema loaded, base {} present",
                    cfg.ldap.base_dn
                );
                if !cfg.ldap.replicated() {
                    return Ok::<_, anyhow::Error>(0);
                }
                // a replicated directory: every server, and the lag
                let topo = aaf_sync::ldap::replication::probe(&cfg.ldap, settle(&cfg)).await;
                for l in topo.lines() {
                    println!("{l}");
                }
                if !topo.designated_up() {
                    println!(
                        "the designated provider {} does not answer: writing runs refuse (the run lock lives there)",
                        cfg.ldap.url
                    );
                    return Ok(2);
                }
                Ok(if topo.healthy() { 0 } else { 1 })
            })
        }
        Cmd::Subject { cmd } => subject_command(cmd, &run_id),
        Cmd::Purge {
            config,
            confirm,
            reference,
            out,
        } => {
            let cfg = load_checked(&config)?;
            if aaf_sync::model::dn_key(&confirm) != aaf_sync::model::dn_key(&cfg.ldap.base_dn) {
                eprintln!(
                    "aaf-sync: purge: --confirm must repeat the base DN of the configuration ({}): nothing done",
                    cfg.ldap.base_dn
                );
                return Ok(2);
            }
            if reference.trim().is_empty() {
                anyhow::bail!("purge: --reference must name the convention or the request");
            }
            std::fs::create_dir_all(&out)
                .with_context(|| format!("certificate directory {}", out.display()))?;
            writing_runtime()?.block_on(async {
                let session = Session::open_with(&cfg, &run_id, "purge", true, false).await?;
                let r = aaf_sync::rights::purge::run(
                    &cfg,
                    &reference,
                    &run_id,
                    session.halt().as_ref(),
                )
                .await;
                let cert = match r {
                    Ok(c) => c,
                    Err(e) => {
                        session.close("failed").await;
                        return Err(e.into());
                    }
                };
                if let Some(l) = session.lock {
                    l.release_deleting().await;
                }
                let (json, text) = aaf_sync::rights::purge::certificate_paths(&out, &run_id);
                std::fs::write(&json, serde_json::to_string_pretty(&cert)?)
                    .with_context(|| format!("writing {}", json.display()))?;
                std::fs::write(&text, cert.text())
                    .with_context(|| format!("writing {}", text.display()))?;
                print!("{}", cert.text());
                eprintln!("certificate: {} and {}", json.display(), text.display());
                Ok::<u8, anyhow::Error>(if cert.complete { 0 } else { 1 })
            })
        }
        Cmd::ExportLdif {
            config,
            out,
            with_base,
            now,
            paths,
        } => {
            let now = run_date(now)?;
            let cfg = load_config(&config)?;
            match aaf_sync::run::initial::export(&cfg, &paths, now, with_base, &out) {
                Ok(x) => {
                    eprintln!(
                        "{}: {} entries written to {} ({} logins); load with slapadd -q, then sync the same extraction: it writes nothing",
                        x.extraction,
                        x.entries,
                        out.display(),
                        x.step.logins_created
                    );
                    Ok(if x.step.rejected_records.is_empty() {
                        0
                    } else {
                        1
                    })
                }
                Err(e) => {
                    eprintln!("aaf-sync: {e}");
                    Ok(2)
                }
            }
        }
        Cmd::Audit {
            config,
            format,
            now,
        } => {
            let today = run_date(now)?;
            let cfg = load_checked(&config)?;
            let a = runtime()?.block_on(aaf_sync::rights::audit::run(&cfg, today))?;
            match format {
                LogFormat::Json => println!("{}", serde_json::to_string_pretty(&a)?),
                LogFormat::Text => print!("{}", a.text()),
            }
            Ok(if a.findings.is_empty() { 0 } else { 1 })
        }
        Cmd::Approve { config, digest } => {
            let cfg = load_local(&config)?;
            match aaf_sync::ops::approval::approve(&cfg.work_dir, &digest) {
                Ok(h) => {
                    println!(
                        "approved plan {} (held by run {} at {}): the next run applies it, once",
                        h.digest, h.run_id, h.held_at
                    );
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("aaf-sync: {e}");
                    Ok(2)
                }
            }
        }
        Cmd::Status { config, format } => {
            let cfg = load_checked(&config)?;
            let st = runtime()?.block_on(aaf_sync::run::status::read(&cfg))?;
            match format {
                LogFormat::Json => println!("{}", serde_json::to_string_pretty(&st)?),
                LogFormat::Text => print!("{}", st.text()),
            }
            Ok(0)
        }
        Cmd::Fetch {
            config,
            dry_run,
            now,
        } => {
            let now = run_date(now)?;
            let cfg = load_local(&config)?;
            let f = cfg
                .fetch
                .as_ref()
                .context("no [fetch] section in the configuration")?;
            let done = aaf_sync::delivery::sftp::fetch(f, &cfg.work_dir, dry_run, now)?;
            for n in &done.would_fetch {
                println!("would fetch {n}");
            }
            for d in &done.downloaded {
                println!(
                    "fetched {} ({} bytes{})",
                    d.name,
                    d.bytes,
                    if d.resumed_from > 0 {
                        format!(", resumed from {}", d.resumed_from)
                    } else {
                        String::new()
                    }
                );
            }
            for n in &done.refused_names {
                eprintln!("refused remote name \"{n}\": control characters (not fetched)");
            }
            for n in &done.removed_partials {
                eprintln!(
                    "removed the partial download of {n}: its file is not on the server any more"
                );
            }
            eprintln!(
                "fetch: {} listed, {} already fetched, {} downloaded into {}",
                done.listed,
                done.known,
                done.downloaded.len(),
                aaf_sync::delivery::sftp::incoming_dir(&cfg.work_dir).display()
            );
            Ok(0)
        }
        Cmd::Run {
            config,
            dry_run,
            now,
            report,
            allow_mass_departure,
        } => {
            let now = run_date(now)?;
            let base = new_report(&run_id);
            let mut rep = aaf_sync::run::daily::RunReport {
                run_id: base.run_id,
                version: base.version,
                started: base.started,
                ..Default::default()
            };
            let mut metrics = None;
            let code = match load_config(&config) {
                Ok(cfg) => {
                    let code = writing_runtime()?.block_on(async {
                        if let Err(e) = aaf_sync::run::preflight::run(&cfg).await {
                            rep.errors.push(format!("{e:#}"));
                            return 2;
                        }
                        let session = match Session::open(&cfg, &run_id, "run", !dry_run).await {
                            Ok(s) => s,
                            Err(e) => {
                                rep.errors.push(format!("{e:#}"));
                                return 2;
                            }
                        };
                        let mut opts = SyncOptions::new(Vec::new(), dry_run, now);
                        opts.approval = approval_of(allow_mass_departure);
                        let opts = session.options(opts);
                        let code = until_stopped(
                            async { Ok(aaf_sync::run::daily::run(&cfg, &opts, &mut rep).await) },
                            |why| Err(format!("{why}: the run was cut short")),
                        )
                        .await;
                        let code = match code {
                            Ok(c) => c,
                            Err(e) => {
                                rep.errors.push(e);
                                2
                            }
                        };
                        session.close(run_outcome(code)).await;
                        code
                    });
                    metrics = cfg
                        .metrics_file
                        .clone()
                        .filter(|_| !dry_run)
                        .map(|m| (m, topology_after_run(&cfg)));
                    code
                }
                Err(e) => {
                    rep.errors.push(e.to_string());
                    2
                }
            };
            rep.finished = now_rfc3339();
            rep.exit_code = code;
            rep.outcome = run_outcome(code).into();
            if let Some(path) = report {
                // ids and counts only, but still nobody else's business
                aaf_sync::ops::approval::write_private(
                    &path,
                    serde_json::to_string_pretty(&rep)?.as_bytes(),
                )
                .with_context(|| format!("writing the report {}", path.display()))?;
            }
            if let Some((m, topo)) = metrics.filter(|_| !dry_run) {
                let mut rm = RunMetrics {
                    command: "run".into(),
                    outcome: rep.outcome.clone(),
                    exit_code: code,
                    finished: unix_now(),
                    duration_secs: started.elapsed().as_secs_f64(),
                    ..Default::default()
                };
                for r in rep
                    .extractions
                    .iter()
                    .filter_map(|x| x.report.as_ref())
                    .chain(rep.retention.as_ref())
                {
                    rm.add_report(r);
                }
                rm.held |= rep.extractions.iter().any(|x| x.outcome == "held");
                if let Some(t) = &topo {
                    rm.add_topology(t);
                }
                write_metrics(&m, &rm);
            }
            aaf_sync::host::progress::clear();
            eprint!("{}", rep.summary());
            Ok(u8::try_from(code).unwrap_or(2))
        }
        Cmd::Sync {
            config,
            dry_run,
            force,
            check,
            allow_mass_departure,
            format,
            with_passwords,
            now,
            report,
            paths,
        } => {
            let now = run_date(now)?;
            let mut rep = new_report(&run_id);
            let mut opts = SyncOptions::new(paths, dry_run || check, now);
            opts.with_passwords = with_passwords;
            opts.force = force;
            opts.check = check;
            opts.approval = approval_of(allow_mass_departure);
            let out = with_config("sync", &config, &mut rep, |cfg, rep| {
                writing_runtime()?.block_on(sync_command(cfg, opts, rep, false))
            });
            finish(rep, out, dry_run.then_some(format), report, started)
        }
        Cmd::Retention {
            config,
            dry_run,
            check,
            format,
            now,
            report,
        } => {
            let now = run_date(now)?;
            let mut rep = new_report(&run_id);
            let mut opts = SyncOptions::new(Vec::new(), dry_run || check, now);
            opts.check = check;
            let out = with_config("retention", &config, &mut rep, |cfg, rep| {
                writing_runtime()?.block_on(sync_command(cfg, opts, rep, true))
            });
            finish(rep, out, dry_run.then_some(format), report, started)
        }
    }
}

fn subject_command(cmd: SubjectCmd, run_id: &str) -> anyhow::Result<u8> {
    use aaf_sync::rights::subject::{self, SubjectError};
    let unknown = |e: SubjectError| -> anyhow::Result<u8> {
        match e {
            SubjectError::Unknown(m) => {
                eprintln!("aaf-sync: {m}");
                Ok(2)
            }
            SubjectError::Directory(d) => Err(d.into()),
        }
    };
    match cmd {
        SubjectCmd::Export { config, who, out } => {
            let cfg = load_checked(&config)?;
            let x = match runtime()?.block_on(subject::export(&cfg, &who.who())) {
                Ok(x) => x,
                Err(e) => return unknown(e),
            };
            let json = serde_json::to_string_pretty(&x)? + "\n";
            match out {
                Some(p) => {
                    aaf_sync::ops::approval::write_private(&p, json.as_bytes())
                        .with_context(|| format!("writing {}", p.display()))?;
                    eprintln!(
                        "export of {} written to {}",
                        aaf_sync::mapping::layout::log_dn(&x.person.dn),
                        p.display()
                    );
                }
                None => print!("{json}"),
            }
            Ok(0)
        }
        SubjectCmd::Erase {
            config,
            who,
            reason,
            now,
        } => {
            let today = run_date(now)?;
            let cfg = load_checked(&config)?;
            if reason.trim().is_empty() {
                anyhow::bail!("subject erase: --reason must say why (the académie's instruction)");
            }
            writing_runtime()?.block_on(async {
                let session = Session::open(&cfg, run_id, "erase", true).await?;
                let r = subject::erase(
                    &cfg,
                    &who.who(),
                    &reason,
                    today,
                    session.halt().as_ref(),
                    &|p| session.intent(p),
                    &mut |p, e| session.record(p, e),
                )
                .await;
                let outcome = match &r {
                    Ok(x) if x.failures.is_empty() => "ok",
                    Ok(_) => "partial",
                    Err(_) if aaf_sync::host::interrupt::requested() => "interrupted",
                    Err(_) => "failed",
                };
                session.close(outcome).await;
                let x = match r {
                    Ok(x) => x,
                    Err(e) => return unknown(e),
                };
                println!("{}", serde_json::to_string_pretty(&x)?);
                eprintln!(
                    "erased {}: {} entries cleaned, {} groups deleted; blocked from re-creation (id hash {})",
                    aaf_sync::mapping::layout::log_dn(&x.dn),
                    x.entries_modified,
                    x.groups_deleted,
                    x.id_hash
                );
                Ok(if x.failures.is_empty() && x.deleted { 0 } else { 1 })
            })
        }
        SubjectCmd::Unblock { config, jointure } => {
            let cfg = load_checked(&config)?;
            match runtime()?.block_on(subject::unblock(&cfg, &jointure)) {
                Ok(0) => {
                    eprintln!("aaf-sync: no erasure recorded for that jointure: nothing to lift");
                    Ok(2)
                }
                Ok(n) => {
                    println!("erasure lifted ({n} record): the next sync recreates the person if the extraction carries them");
                    Ok(0)
                }
                Err(e) => unknown(e),
            }
        }
    }
}

type CommandOut = (Result<RunPlan, SyncError>, &'static str, u8);

/// Loads the configuration and runs `f`; a bad configuration is a refusal.
/// `command` names the run in the summary even when the configuration
/// cannot be read (the library sets it only once it runs).
fn with_config(
    command: &str,
    path: &std::path::Path,
    rep: &mut Report,
    f: impl FnOnce(&Config, &mut Report) -> anyhow::Result<CommandOut>,
) -> (anyhow::Result<CommandOut>, Option<Config>) {
    rep.command = command.into();
    match load_config(path) {
        Ok(cfg) => {
            let r = f(&cfg, rep);
            (r, Some(cfg))
        }
        Err(e) => (
            Ok((Err(SyncError::Input(e.to_string())), "refused", 2)),
            None,
        ),
    }
}

fn run_outcome(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "rejected_records",
        aaf_sync::ops::report::EXIT_PARTIAL => "partial",
        _ if aaf_sync::host::interrupt::requested() => "interrupted",
        _ => "failed",
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How long `check` and the metrics wait for the replicas to settle after
/// the last writes: as long as a read waits for a consumer.
fn settle(cfg: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(cfg.ldap.read_wait_secs)
}

/// In a replicated directory, every configured server as the run leaves
/// them (for the metrics): a few seconds at most.
fn topology_after_run(cfg: &Config) -> Option<aaf_sync::ldap::replication::Topology> {
    if !cfg.ldap.replicated() || cfg.metrics_file.is_none() {
        return None;
    }
    let rt = runtime().ok()?;
    Some(rt.block_on(aaf_sync::ldap::replication::probe(&cfg.ldap, settle(cfg))))
}

fn write_metrics(path: &std::path::Path, m: &RunMetrics) {
    if let Err(e) = aaf_sync::ops::metrics::write(path, m) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file");
    }
}

fn run_date(now: Option<String>) -> anyhow::Result<time::Date> {
    match now {
        Some(s) => parse_now(&s),
        None => Ok(time::OffsetDateTime::now_utc().date()),
    }
}

fn new_report(run_id: &str) -> Report {
    Report {
        run_id: run_id.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: now_rfc3339(),
        ..Default::default()
    }
}

/// Settles the report, prints the dry-run plan (when `plan_format` is
/// given) and the summary, writes the JSON report and the metrics.
fn finish(
    mut rep: Report,
    out: (anyhow::Result<CommandOut>, Option<Config>),
    plan_format: Option<PlanFormat>,
    report_path: Option<PathBuf>,
    started: Instant,
) -> anyhow::Result<u8> {
    let (res, cfg) = out;
    let (result, outcome, code) = res?;
    rep.finished = now_rfc3339();
    rep.perf.peak_rss_mib = aaf_sync::ops::report::peak_rss_mib();
    rep.perf.store_peak_mib = aaf_sync::model::store::peak_bytes() as f64 / (1 << 20) as f64;
    rep.outcome = outcome.into();
    rep.exit_code = code.into();
    if let Err(e) = &result {
        rep.error = Some(format!("{e:#}"));
    }
    if let (Ok(plan), Some(format)) = (&result, plan_format) {
        match format {
            PlanFormat::Ldif => print!("{}", plan.ldif()),
            PlanFormat::Json => println!("{}", plan.json()),
        }
    }
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&rep)?;
        aaf_sync::ops::approval::write_private(&path, json.as_bytes())
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    if let Some(m) = cfg.as_ref().and_then(|c| c.metrics_file.as_ref()) {
        if !rep.dry_run {
            let mut rm = RunMetrics {
                command: rep.command.clone(),
                outcome: rep.outcome.clone(),
                exit_code: rep.exit_code,
                finished: unix_now(),
                duration_secs: started.elapsed().as_secs_f64(),
                ..Default::default()
            };
            rm.add_report(&rep);
            if let Some(t) = cfg.as_ref().and_then(topology_after_run) {
                rm.add_topology(&t);
            }
            write_metrics(m, &rm);
        }
    }
    aaf_sync::host::progress::clear();
    eprint!("{}", rep.summary());
    Ok(code)
}

/// Loads the configuration, and makes its layout the one every DN written
/// out (journal, reports, logs, errors) is judged by: from here on, a name
/// in an adopted DN is written as its pseudonym (README, "Data protection").
fn load_config(path: &std::path::Path) -> Result<Config, aaf_sync::config::ConfigError> {
    let cfg = Config::load(path)?;
    aaf_sync::mapping::layout::use_for_logs(&cfg.layout());
    Ok(cfg)
}

/// [`load_config`] and the local half of the preflight (work directory,
/// key files): for commands that do not use the directory.
fn load_local(path: &std::path::Path) -> anyhow::Result<Config> {
    let cfg = load_config(path)?;
    aaf_sync::run::preflight::local(&cfg)?;
    Ok(cfg)
}

/// [`load_config`] and the whole preflight, `check`'s checks: a command
/// fails there, saying what to fix, rather than on the server's answer.
fn load_checked(path: &std::path::Path) -> anyhow::Result<Config> {
    let cfg = load_config(path)?;
    runtime()?.block_on(aaf_sync::run::preflight::run(&cfg))?;
    Ok(cfg)
}
