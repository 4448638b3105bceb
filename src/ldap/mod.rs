//! The directory: the only module that talks to LDAP (through `ldap3`).
//!
//! Connects (ldap://, ldaps://, StartTLS, ldapi://) and binds a few
//! connections, reads the managed tree once with paged results, applies a
//! [`Plan`](crate::model::plan::Plan) phase by phase with many operations in
//! flight, checks every result and counts per-entry failures without
//! stopping the run.
//!
//! In a replicated directory (`[ldap] url` lists several providers), the
//! connections go to the first provider that answers, in the order given,
//! and move to the next one when it stops answering under a run (see
//! `Directory::reconnect`). A run that holds the run lock writes through
//! a provider other than the designated one (the first of the list) only
//! once that provider's copy of the lock names it (the [`Fence`]). The
//! managed tree may be read from a consumer (`read_url`) when its
//! `contextCSN` has caught up with the provider's ([`replication`]).
//!
//! The folder, one file per concern (this file keeps [`Directory`]):
//!
//! - `connection`: TLS, connect and bind, the providers in order,
//!   a broken connection replaced (`Directory::reconnect`).
//! - `error`: [`DirectoryError`], the [`ResultCode`] a server answered
//!   with, and how a failure is classed for retries.
//! - `halt`: the stop flag ([`Halt`]) the writers share with the lock.
//! - `read`: the paged read of the managed tree ([`Snapshot`]).
//! - [`incremental`]: the read of what changed since the last run, where
//!   the server offers content synchronization (RFC 4533, `syncprov`),
//!   over a local copy (`local_copy`), checked, else a full read;
//!   `content_sync`: the refreshOnly search and its controls.
//! - `search`: small reads (one entry, existence, squatters, counts).
//! - `filter`: [`escape_filter`], values written into filters.
//! - `write`: [`Directory::apply_ops`], retries, lost answers
//!   ([`OpResult`]); the branch OUs.
//! - `failover`: the fence on a failover provider, and what a lost
//!   provider acknowledged checked on the survivor.
//! - `passwords`: the passwords a departure moves aside.
//! - `preflight`: the directory checks every command makes first;
//!   [`indexes`]: the equality indexes `check` looks for in `cn=config`.
//! - [`apply`]: a plan phase by phase; [`lock`]: the run lock (take,
//!   renew, release); [`replication`]: `contextCSN` and the topology;
//!   [`ldif`]: the LDIF rendering of a plan.

use crate::config::LdapConfig;
use ldap3::{Ldap, LdapConnSettings};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

pub mod apply;
mod connection;
mod content_sync;
mod error;
mod failover;
mod filter;
mod halt;
pub mod incremental;
pub mod indexes;
pub mod ldif;
mod local_copy;
pub mod lock;
mod passwords;
mod preflight;
mod read;
pub mod replication;
mod search;
pub mod targeted;
pub mod wire;
mod write;

use error::{op_err, Fault};
pub use error::{DirectoryError, ResultCode};
pub use filter::escape_filter;
pub use halt::{Fence, Halt};
pub use preflight::PasswordAccess;
pub use read::{read_attrs, read_filter, Snapshot};
pub use write::{OpResult, Retry};

/// Bound connections to the directory. A connection that breaks is
/// replaced (reconnected and bound again) by the first operation that finds
/// it broken; the others wait for it. Every connection goes to the same
/// provider, `at` in the list of providers.
pub struct Directory {
    cfg: LdapConfig,
    settings: LdapConnSettings,
    slots: Vec<tokio::sync::Mutex<Slot>>,
    timeout: Duration,
    page_size: i32,
    /// Set when the run must stop writing (the directory stayed unreachable
    /// through every retry, or the run lock was lost): why.
    halt: Halt,
    /// Index, in [`LdapConfig::providers`], of the provider in use.
    at: AtomicUsize,
    /// The provider (index) whose copy of the run lock was found to name
    /// this run; `usize::MAX`: none yet.
    fenced: AtomicUsize,
    /// One check of the lock on a failover provider at a time.
    fence_check: tokio::sync::Mutex<()>,
    /// The server the last read of the managed tree came from.
    read_from: std::sync::Mutex<Option<String>>,
    /// The incremental read's copy of the tree, when reads use one.
    incremental: Option<incremental::Incremental>,
    /// The read cookie a first run writes once its control entry exists.
    pending_mark: std::sync::Mutex<Option<(crate::model::Dn, String)>>,
}

struct Slot {
    ldap: Ldap,
    /// Bumped at each reconnect, so that operations that failed on the same
    /// broken connection reconnect it once.
    generation: u64,
    /// The provider (index) this connection goes to.
    at: usize,
}
