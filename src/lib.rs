//! aaf-sync: keeps an OpenLDAP directory in step with AAF extracts.
//! `ARCHITECTURE.md` tells the pipeline and the rules. The folders, in the
//! order a run goes through them:
//!
//! ```text
//!  delivery ─► aaf ─► mapping ─► diff ─► retention ─► safety ─► ldap
//!  (SFTP,      (XML →  (record →  (plan)  (departures, (rails)   (reads,
//!   archives)  records) entries)           deadlines)            writes)
//!            └──────────── run (sync, run, export-ldif, status) ───────┘
//! ```
//!
//! - [`schema`]: the directory vocabulary — entry kinds, the sync's object
//!   classes and attributes, the lifecycle, the date formats ([`schema::date`]).
//! - [`model`]: the vocabulary every stage shares — DNs,
//!   entries, the entry store of a run, the plan ([`model::plan`]).
//! - [`host`]: the machine the run is on (process liveness, signals,
//!   progress output, files written atomically: [`host::fs`]).
//! - [`delivery`]: SFTP fetch, archives, bordereau, staging.
//! - [`aaf`]: extraction files → typed records (streaming XML, encodings).
//! - Pure core, the clock a parameter: [`mapping`] (record → desired entry:
//!   authorised fields, perimeter, logins, adoption, Delta semantics, the
//!   directory's subschema), [`diff`] (desired vs current → plan),
//!   [`retention`] (departures, deadlines, returns), [`safety`] (rails).
//! - [`config`]: the validated configuration, one file per section.
//! - [`ldap`]: the only module that talks to the directory (reads, writes,
//!   failover, a plan phase by phase, lock, replication, LDIF rendering;
//!   [`ldap::DirectoryError`] with its [`ldap::ResultCode`]).
//! - [`rights`]: export, erasure, purge, audit.
//! - [`ops`]: approval of held plans, journal, how a run ended
//!   ([`ops::outcome::Outcome`]), report, metrics.
//! - [`run`]: the commands that drive it all (session, preflight, sync
//!   and its steps — read, parse, plan, gate, apply —, run, export-ldif,
//!   control entry, status); [`cli`] their command line (one function per
//!   command in `cli::command`, `check` in `cli::check`).
//! - `generator` (cargo feature `generator`): synthetic extractions for
//!   `aaf-gen`, the tests and the benchmarks.

pub mod aaf;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod diff;
#[cfg(feature = "generator")]
pub mod generator;
pub mod host;
pub mod ldap;
pub mod mapping;
pub mod model;
pub mod ops;
pub mod retention;
pub mod rights;
pub mod run;
pub mod safety;
pub mod schema;
