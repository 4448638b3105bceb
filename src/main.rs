//! `aaf-sync` command line: clap, the logs, the clock, and the dispatch to
//! one function per command (`aaf_sync::cli::command`), whose result is
//! the exit code: 0 done, 1 done with rejected records (the directory is
//! in step with what could be read), 3 done but some operations failed
//! (not in step), 2 refused, held or fatal.

use aaf_sync::cli::{check, command, Cli, Cmd, LogFormat};
use aaf_sync::run::session::Ctx;
use aaf_sync::schema::date;
use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;

/// mimalloc: the sync allocates and frees millions of small strings; glibc's
/// allocator spent a third of a no-change run consolidating free chunks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses `YYYY-MM-DD` or an RFC 3339 timestamp (its date part).
fn parse_now(s: &str) -> anyhow::Result<time::Date> {
    date::parse_date_or_rfc3339(s)
        .with_context(|| format!("--now {s:?}: expected YYYY-MM-DD or an RFC 3339 date-time"))
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
    date::rfc3339(time::OffsetDateTime::now_utc())
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
    let ctx = Ctx {
        run_id: id,
        started: Instant::now(),
        now_rfc3339,
        unix_now,
        run_date,
    };
    match dispatch(cli.cmd, &ctx) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aaf-sync: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Each command to its function (`aaf_sync::cli::command`).
fn dispatch(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        Cmd::Check(a) => check::check(a),
        Cmd::Subject { cmd } => command::subject(ctx, cmd),
        Cmd::Purge(a) => command::purge(ctx, a),
        Cmd::ExportLdif(a) => command::export_ldif(ctx, a),
        Cmd::Audit(a) => command::audit(ctx, a),
        Cmd::Approve(a) => command::approve(a),
        Cmd::Status(a) => command::status(a),
        Cmd::Fetch(a) => command::fetch(ctx, a),
        Cmd::Run(a) => command::run(ctx, a),
        Cmd::Sync(a) => command::sync(ctx, a),
        Cmd::Retention(a) => command::retention(ctx, a),
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn run_date(now: Option<String>) -> anyhow::Result<time::Date> {
    match now {
        Some(s) => parse_now(&s),
        None => Ok(time::OffsetDateTime::now_utc().date()),
    }
}
