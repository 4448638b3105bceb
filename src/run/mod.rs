//! The commands that drive the pipeline (`cli::command` calls them): the
//! [`session`] each runs in (runtime, lock, journal, report and metrics);
//! what each checks first ([`preflight`]); `sync` and
//! `retention` ([`sync`], by stage: `read`, `parse`, `plan`, `gate`,
//! `apply`; `targeted` for a lone Delta's targeted read), `run` ([`daily`]), `export-ldif` ([`initial`]), the state a
//! source's runs keep in the directory ([`control`]) and `status`
//! ([`status`]).

mod ahead;
mod apply;
pub mod control;
pub mod daily;
mod gate;
pub mod initial;
mod kept;
mod parse;
mod plan;
pub mod preflight;
mod read;
pub mod session;
pub mod status;
pub mod sync;
mod targeted;
