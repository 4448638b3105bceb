//! Data subjects' rights (spec §8): `subject export` (access and
//! portability: everything the directory holds about one person, as one
//! JSON document described by `schema/subject-export.schema.json`),
//! `subject erase` (now, with every reference, and blocked from coming back)
//! and `subject unblock`.
//!
//! The documents and plans are built by pure functions from the entries
//! read; the I/O is the directory's.
//!
//! By concern: `find` finds the person (by jointure, login or DN, across
//! `ou=people`, the departed branch and adopted entries) and gathers what
//! refers to them; `export` builds the export document; `erase` plans
//! and applies an erasure; `unblock` lifts one. Their items are re-exported
//! here, where the commands name them.

use crate::ldap::DirectoryError;

mod erase;
mod export;
mod find;
mod unblock;

pub use erase::{erase, erase_plan, Erased};
pub use export::{
    export, export_document, Export, GroupRef, Person, Ref, StructureRef, SyncState, FORMAT,
    WITHHELD,
};
pub use find::{find, gather, referring_filter};
pub use unblock::unblock;

/// How the person is named on the command line.
#[derive(Debug, Clone)]
pub enum Who {
    /// `ENTPersonJointure` (`<source>$<id>`) or the bare AAF id.
    Jointure(String),
    Login(String),
    Dn(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

fn connect_err(e: DirectoryError) -> SubjectError {
    SubjectError::Directory(e)
}

#[cfg(test)]
mod tests;
