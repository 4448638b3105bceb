//! aaf-sync: keeps an OpenLDAP directory in step with AAF extracts.
//! `ARCHITECTURE.md` tells the pipeline and the rules; every module here:
//!
//! - Inputs: [`fetch`] (SFTP), [`inputs`] (archives, bordereau, staging),
//!   [`process`] (what dead runs left), [`aaf`] (files → typed records:
//!   streaming XML, encodings).
//! - Pure core (no I/O, the clock a parameter): [`mapping`] (record →
//!   desired entry: authorised fields, perimeter, logins, adoption, Delta
//!   semantics), [`diff`] (desired vs current → [`diff::Plan`]),
//!   [`retention`] (departures, deadlines, returns), [`safety`] (rails),
//!   [`model`] (DNs, entries), [`dirschema`] (the directory's subschema).
//! - Directory: [`ldap`] (the only module that talks to it: reads, writes,
//!   lock, replication), [`apply`] (a plan, phase by phase),
//!   [`preflight`] (what every command checks first), [`control`] and
//!   [`erasure`] (state kept in the directory).
//! - Runs: [`sync`] (the `sync` and `retention` commands), [`daily`]
//!   (`run`), [`initial`] (first load as LDIF), [`approval`], [`journal`],
//!   [`report`], [`metrics`], [`status`], [`progress`], [`interrupt`]
//!   (SIGTERM at a safe point), [`store`] (file-backed entry bytes).
//! - Rights: [`subject`] (export, erasure of one person), [`purge`], [`audit`].
//! - [`config`] the validated configuration, [`ldif`] renders plans,
//!   `generator` (cargo feature `generator`) writes synthetic extractions
//!   for `aaf-gen`, the tests and the benchmarks.

pub mod aaf;
pub mod apply;
pub mod approval;
pub mod audit;
pub mod cli;
pub mod config;
pub mod control;
pub mod daily;
pub mod diff;
pub mod dirschema;
pub mod erasure;
pub mod fetch;
#[cfg(feature = "generator")]
pub mod generator;
pub mod initial;
pub mod inputs;
pub mod interrupt;
pub mod journal;
pub mod ldap;
pub mod ldif;
pub mod mapping;
pub mod metrics;
pub mod model;
pub mod preflight;
pub mod process;
pub mod progress;
pub mod purge;
pub mod report;
pub mod retention;
pub mod safety;
pub mod status;
pub mod store;
pub mod subject;
pub mod sync;
