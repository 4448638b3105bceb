//! Data subjects' rights (spec §8): export and erasure of one person
//! ([`subject`]), erasures recorded in the directory ([`erasure`]), purge of
//! a source's entries ([`purge`]) and the minimisation audit ([`audit`]).

pub mod audit;
pub mod erasure;
pub mod purge;
pub mod subject;
