//! The commands that drive the pipeline: what each checks first
//! ([`preflight`]), `sync` and `retention` ([`sync`]), `run` ([`daily`]),
//! `export-ldif` ([`initial`]), the state a source's runs keep in the
//! directory ([`control`]) and `status` ([`status`]).

pub mod control;
pub mod daily;
pub mod initial;
pub mod preflight;
pub mod status;
pub mod sync;
