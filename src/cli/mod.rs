//! The `aaf-sync` command line, as clap sees it. It lives in the library
//! (not in `main.rs`) so that a test can compare the README's synopsis
//! with the options clap actually accepts (`tests/cli.rs`): the two cannot
//! drift apart. One `…Args` struct per command, and one function per
//! command that takes it ([`command`], [`check`]); the options several
//! commands repeat are flattened in ([`ConfigArg`], [`ReportArgs`]).

use clap::{Parser, Subcommand, ValueEnum};

pub mod check;
pub mod command;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "aaf-sync",
    version,
    about = "Keeps an OpenLDAP directory in step with AAF extracts"
)]
pub struct Cli {
    /// Log format on stderr; every line carries the run id.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// No progress bars (they are drawn only on a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Text or JSON (logs, `status`).
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Ldif,
    Json,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Sync AAF extractions (Complet and Delta: XML files, or tar.gz and
    /// zip archives) into the directory, in date order, then apply the
    /// retention deadlines.
    Sync(SyncArgs),
    /// Apply the retention deadlines without an extraction (days with no
    /// delivery): delete departed people whose deadline has come.
    Retention(RetentionArgs),
    /// Download new extraction files over SFTP into the work directory.
    Fetch(FetchArgs),
    /// The daily job: fetch, verify, sync every new extraction in date
    /// order, apply the retention deadlines, destroy what was imported.
    Run(RunArgs),
    /// Approve the plan a run was held back for (by its digest): the next
    /// run applies that plan, and only that one, once.
    Approve(ApproveArgs),
    /// Last run, run lock, held plan and pending departures, read from the
    /// directory.
    Status(StatusArgs),
    /// Data subjects' rights: export, erase, unblock one person.
    Subject {
        #[command(subcommand)]
        cmd: SubjectCmd,
    },
    /// End of the convention: delete everything the sync manages for its
    /// source, and its local files, then write a deletion certificate.
    Purge(PurgeArgs),
    /// Write the tree a first sync of one Complet would create, as LDIF for
    /// `slapadd -q` (first load of a large directory; see README).
    ExportLdif(ExportLdifArgs),
    /// Minimisation audit of the managed tree; exit 1 on any finding.
    Audit(AuditArgs),
    /// Validate the configuration and reach the directory.
    Check(CheckArgs),
}

#[derive(Subcommand)]
pub enum SubjectCmd {
    /// Everything the directory holds about one person, as JSON
    /// (schema/subject-export.schema.json) on stdout or in --out.
    Export(SubjectExportArgs),
    /// Erase one person now, with every reference to them, and keep the
    /// next syncs from recreating them. Found as `export` finds them.
    Erase(SubjectEraseArgs),
    /// Lift an erasure: the next sync recreates the person if the
    /// extraction carries them.
    Unblock(SubjectUnblockArgs),
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct WhoArgs {
    /// ENTPersonJointure (<source>$<id>) or the AAF id.
    #[arg(long)]
    pub jointure: Option<String>,
    /// ENTPersonLogin (else `uid`).
    #[arg(long)]
    pub login: Option<String>,
    /// The entry's DN, wherever it is (people, departed, an adopted DN),
    /// the DN a departed person had, or the pseudonymised DN a log or a
    /// report wrote (`uid=#sha256:…`).
    #[arg(long)]
    pub dn: Option<String>,
}

impl WhoArgs {
    pub fn who(self) -> crate::rights::subject::Who {
        use crate::rights::subject::Who;
        match (self.jointure, self.login, self.dn) {
            (Some(j), _, _) => Who::Jointure(j),
            (_, Some(l), _) => Who::Login(l),
            (_, _, Some(d)) => Who::Dn(d),
            // clap requires one of the three
            _ => Who::Dn(String::new()),
        }
    }
}

/// The run date and the JSON report, of the commands that write one
/// (`sync`, `retention`, `run`).
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run date, YYYY-MM-DD (RFC 3339 accepted); default today (UTC).
    #[arg(long)]
    pub now: Option<String>,
    /// Write the JSON report there.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// The configuration file, which every command takes.
#[derive(clap::Args)]
pub struct ConfigArg {
    /// The configuration file (TOML; see config/example.toml).
    #[arg(long, env = "AAF_SYNC_CONFIG")]
    pub config: PathBuf,
}

#[derive(clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply an extraction older than the last one applied.
    #[arg(long)]
    pub force: bool,
    /// Plan only; exit 1 when the directory drifted from the
    /// extraction (monitoring), 0 when it is in step.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Approve the plan the safety rails held back: alone, the plan held
    /// last; with =DIGEST, the plan of that digest (its first 12+ hex
    /// digits). A plan that differs is held again.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "DIGEST")]
    pub allow_mass_departure: Option<String>,
    /// Plan format for --dry-run.
    #[arg(long, value_enum, default_value = "ldif")]
    pub format: PlanFormat,
    /// With --dry-run: put in the LDIF the password hashes that
    /// departures and returns move, so that it can be applied by hand
    /// (keep it private). Without it a comment marks each move.
    #[arg(long, requires = "dry_run")]
    pub with_passwords: bool,
    #[command(flatten)]
    pub run: ReportArgs,
    /// Directories, extraction files or archives (.tar.gz, .tgz, .zip,
    /// unpacked privately) holding the extractions; bordereaux beside
    /// them are checked.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Plan only; exit 1 when some deadline is due.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Plan format for --dry-run.
    #[arg(long, value_enum, default_value = "ldif")]
    pub format: PlanFormat,
    #[command(flatten)]
    pub run: ReportArgs,
}

#[derive(clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// List what would be fetched; download nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run date, YYYY-MM-DD; default today (UTC).
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Fetch nothing, write nothing, destroy nothing; report what would be done.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: ReportArgs,
    /// Approve the plan the safety rails held back (see `sync`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "DIGEST")]
    pub allow_mass_departure: Option<String>,
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The digest printed by the held run (at least its first 12 hex digits).
    pub digest: String,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output format: text with local times and ages, or JSON with the
    /// directory's own (machine-readable) values.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LogFormat,
}

#[derive(clap::Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The base DN of the configuration, typed again.
    #[arg(long)]
    pub confirm: String,
    /// A reference for the certificate (convention, ticket).
    #[arg(long)]
    pub reference: String,
    /// Directory the certificate (JSON and text) is written to.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportLdifArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The LDIF file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Include the base entry (for an empty database).
    #[arg(long)]
    pub with_base: bool,
    /// Run date (first-seen dates), YYYY-MM-DD; default today.
    #[arg(long)]
    pub now: Option<String>,
    /// Directories (or files, archives) holding one Complet.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output format: the findings as text, or the whole audit as JSON.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LogFormat,
    /// Audit date (retention deadlines), YYYY-MM-DD; default today.
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(clap::Args)]
pub struct SubjectExportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub who: WhoArgs,
    /// Write the document there (mode 0600) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SubjectEraseArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub who: WhoArgs,
    /// Why (the académie's instruction): recorded with the erasure.
    #[arg(long)]
    pub reason: String,
    /// Erasure date, YYYY-MM-DD; default today.
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(clap::Args)]
pub struct SubjectUnblockArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// ENTPersonJointure (<source>$<id>) or the AAF id of the person
    /// erased.
    #[arg(long)]
    pub jointure: String,
}
