//! aaf-sync: keeps an OpenLDAP directory in step with AAF extracts.
//!
//! # Layout
//! The pipeline, one module per stage:
//! - [`aaf`]: extraction files → typed records (streaming XML, encodings);
//! - [`mapping`]: record → desired LDAP entry (minimisation, perimeter, logins);
//! - [`diff`]: desired vs current entries → [`diff::Plan`] (pure);
//! - [`retention`]: departures, disables, restores and deletions (pure, the
//!   clock is a parameter); [`control`] the state of the runs (last
//!   extraction applied, school year) kept in the directory;
//! - [`ldap`]: the only module that talks to the directory;
//! - [`sync`]: runs the stages for the `sync` and `retention` commands and
//!   fills the [`report`].
//!
//! [`model`] holds the shared types, [`config`] the validated configuration,
//! [`ldif`] renders plans, `generator` (cargo feature `generator`) writes
//! synthetic extractions for `aaf-gen`, the tests and the benchmarks.
//! [`interrupt`] stops a run at a safe point on SIGTERM or SIGINT, and
//! [`process`] tells what a dead run left (staging, lock) from a live one's.

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
