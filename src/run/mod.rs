//! The commands that drive the pipeline: what each checks first
//! ([`preflight`]), `sync` and `retention` ([`sync`]), `run` ([`daily`]),
//! `export-ldif` ([`initial`]), the state a source's runs keep in the
//! directory ([`control`]) and `status` ([`status`]).

mod apply;
pub mod control;
pub mod daily;
mod gate;
pub mod initial;
mod parse;
mod plan;
pub mod preflight;
mod read;
pub mod status;
pub mod sync;
