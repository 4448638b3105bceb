//! `aaf-sync` command line: thin glue around the library (parse arguments,
//! load config, init logs, run, map the outcome to an exit code:
//! 0 done, 1 done with rejected records or failed operations, 2 refused or
//! fatal with nothing written).

use aaf_sync::config::Config;
use aaf_sync::report::Report;
use aaf_sync::sync::{self, StepPlan, SyncOptions};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "aaf-sync",
    version,
    about = "Keeps an OpenLDAP directory in step with AAF extracts"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanFormat {
    Ldif,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sync AAF extractions (Complet and Delta) into the directory, in date
    /// order, then apply the retention deadlines.
    Sync {
        #[arg(long, env = "AAF_SYNC_CONFIG")]
        config: PathBuf,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply an extraction older than the last one applied.
        #[arg(long)]
        force: bool,
        /// Plan format for --dry-run.
        #[arg(long, value_enum, default_value = "ldif")]
        format: PlanFormat,
        /// Run date, YYYY-MM-DD (RFC 3339 accepted); default today (UTC).
        #[arg(long)]
        now: Option<String>,
        /// Write the JSON report there.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Directories (or files) holding the extractions.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Apply the retention deadlines without an extraction (days with no
    /// delivery): delete departed people whose deadline has come.
    Retention {
        #[arg(long, env = "AAF_SYNC_CONFIG")]
        config: PathBuf,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Plan format for --dry-run.
        #[arg(long, value_enum, default_value = "ldif")]
        format: PlanFormat,
        /// Run date, YYYY-MM-DD (RFC 3339 accepted); default today (UTC).
        #[arg(long)]
        now: Option<String>,
        /// Write the JSON report there.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Download new extraction files over SFTP into the work directory.
    Fetch {
        #[arg(long, env = "AAF_SYNC_CONFIG")]
        config: PathBuf,
        /// List what would be fetched; download nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run date, YYYY-MM-DD; default today (UTC).
        #[arg(long)]
        now: Option<String>,
    },
    /// The daily job: fetch, verify, sync every new extraction in date
    /// order, apply the retention deadlines, destroy what was imported.
    Run {
        #[arg(long, env = "AAF_SYNC_CONFIG")]
        config: PathBuf,
        /// Fetch nothing, write nothing, destroy nothing; report what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Run date, YYYY-MM-DD (RFC 3339 accepted); default today (UTC).
        #[arg(long)]
        now: Option<String>,
        /// Write the JSON report there.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Validate the configuration and reach the directory.
    Check {
        #[arg(long, env = "AAF_SYNC_CONFIG")]
        config: PathBuf,
    },
}

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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aaf-sync: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Check { config } => {
            let cfg = Config::load(&config)?;
            let rt = runtime()?;
            rt.block_on(async {
                let dir = aaf_sync::ldap::Directory::connect(&cfg.ldap).await?;
                dir.check_schema().await?;
                let layout = aaf_sync::mapping::layout::Layout::new(&cfg.ldap.base_dn, &cfg.source);
                let missing = dir.ensure_branches(&layout, true).await?;
                dir.close().await;
                for m in &missing {
                    println!("branch {m} missing: sync will create it");
                }
                println!(
                    "configuration valid; {} reachable, schema loaded, base {} present",
                    cfg.ldap.url, cfg.ldap.base_dn
                );
                Ok::<_, anyhow::Error>(0)
            })
        }
        Cmd::Fetch {
            config,
            dry_run,
            now,
        } => {
            let now = run_date(now)?;
            let cfg = Config::load(&config)?;
            let f = cfg
                .fetch
                .as_ref()
                .context("no [fetch] section in the configuration")?;
            let done = aaf_sync::fetch::fetch(f, &cfg.work_dir, dry_run, now)?;
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
            eprintln!(
                "fetch: {} listed, {} already fetched, {} downloaded into {}",
                done.listed,
                done.known,
                done.downloaded.len(),
                aaf_sync::fetch::incoming_dir(&cfg.work_dir).display()
            );
            Ok(0)
        }
        Cmd::Run {
            config,
            dry_run,
            now,
            report,
        } => {
            let now = run_date(now)?;
            let base = new_report();
            let mut rep = aaf_sync::daily::RunReport {
                run_id: base.run_id,
                version: base.version,
                started: base.started,
                ..Default::default()
            };
            let code = match Config::load(&config) {
                Ok(cfg) => runtime()?.block_on(aaf_sync::daily::run(&cfg, dry_run, now, &mut rep)),
                Err(e) => {
                    rep.errors.push(e.to_string());
                    2
                }
            };
            rep.finished = now_rfc3339();
            rep.exit_code = code;
            rep.outcome = match code {
                0 => "ok",
                1 => "partial",
                _ => "failed",
            }
            .into();
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_string_pretty(&rep)?)
                    .with_context(|| format!("writing the report {}", path.display()))?;
            }
            eprint!("{}", rep.summary());
            Ok(u8::try_from(code).unwrap_or(2))
        }
        Cmd::Sync {
            config,
            dry_run,
            force,
            format,
            now,
            report,
            paths,
        } => {
            let now = run_date(now)?;
            let mut rep = new_report();
            let result = Config::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(|cfg| {
                    let opts = SyncOptions {
                        paths,
                        dry_run,
                        now,
                        force,
                    };
                    runtime()?
                        .block_on(sync::run(&cfg, &opts, &mut rep))
                        .map_err(anyhow::Error::from)
                });
            finish(rep, result, dry_run.then_some(format), report)
        }
        Cmd::Retention {
            config,
            dry_run,
            format,
            now,
            report,
        } => {
            let now = run_date(now)?;
            let mut rep = new_report();
            let result = Config::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(|cfg| {
                    runtime()?
                        .block_on(sync::retention_pass(&cfg, dry_run, now, &mut rep))
                        .map(|p| vec![p])
                        .map_err(anyhow::Error::from)
                });
            finish(rep, result, dry_run.then_some(format), report)
        }
    }
}

fn run_date(now: Option<String>) -> anyhow::Result<time::Date> {
    match now {
        Some(s) => parse_now(&s),
        None => Ok(time::OffsetDateTime::now_utc().date()),
    }
}

fn new_report() -> Report {
    Report {
        run_id: run_id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: now_rfc3339(),
        ..Default::default()
    }
}

/// Settles the outcome and exit code, prints the dry-run plan (when
/// `plan_format` is given) and the summary, writes the JSON report.
fn finish(
    mut rep: Report,
    result: anyhow::Result<Vec<StepPlan>>,
    plan_format: Option<PlanFormat>,
    report_path: Option<PathBuf>,
) -> anyhow::Result<u8> {
    rep.finished = now_rfc3339();
    let code: u8 = match &result {
        Err(e) => {
            rep.outcome = "refused".into();
            rep.error = Some(format!("{e:#}"));
            2
        }
        Ok(_) if rep.partial() => {
            rep.outcome = "partial".into();
            1
        }
        Ok(_) => {
            rep.outcome = "ok".into();
            0
        }
    };
    rep.exit_code = code.into();
    if let (Ok(steps), Some(format)) = (&result, plan_format) {
        match format {
            PlanFormat::Ldif => print!(
                "{}",
                aaf_sync::ldif::render_steps(steps.iter().map(|s| (s.label.as_str(), &s.plan)))
            ),
            PlanFormat::Json => {
                let steps: Vec<serde_json::Value> = steps
                    .iter()
                    .map(|s| serde_json::json!({ "label": s.label, "plan": s.plan }))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "steps": steps }))?
                );
            }
        }
    }
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&rep)?;
        std::fs::write(&path, json)
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    eprint!("{}", rep.summary());
    Ok(code)
}
