//! What `run` keeps between its extractions: one connection to the
//! directory, the managed tree, read once and played forward plan by
//! plan (`sync::run_kept`, `sync::retention_kept`), and the entry store
//! the run's entries live in. The connection reads incrementally
//! (`ldap::incremental`) unless `[ldap] incremental_read = false` or a
//! consumer is configured to read from (`read_url`).

use crate::config::Config;
use crate::ldap::incremental::{snapshot_files, Incremental};
use crate::ldap::{Directory, Snapshot};
use crate::model::Store;
use crate::run::read::open_store;
use crate::run::sync::{SyncError, SyncOptions};

/// The directory `run` works on across its extractions: one connection,
/// and the managed tree read once, played forward plan by plan as long as
/// every apply leaves the directory exactly as planned. Anything else (a
/// dry run, an operation failed, an entry left out, a refusal, a hold, a
/// failover) drops the tree, and the next extraction reads it again; a
/// failover drops the connection too (the next one starts from the
/// designated provider, as a new run would).
#[derive(Default)]
pub struct Kept {
    pub(crate) dir: Option<Directory>,
    pub(crate) tree: Tree,
    /// The run's entry store, opened on first use ([`Kept::store`]) and
    /// held until the run ends: the kept tree's entries may live in it.
    pub(crate) store: Option<Store>,
}

/// The managed tree a run keeps between its extractions.
#[derive(Default)]
pub(crate) struct Tree {
    pub(crate) snap: Option<Snapshot>,
    /// Played forward after a complete apply (else never kept).
    pub(crate) keep: bool,
}

impl Kept {
    /// `keep_tree`: the tree is played forward after a complete apply
    /// (not for a dry run: each extraction is planned against the
    /// directory as it is, which a dry run leaves alone).
    pub fn new(keep_tree: bool) -> Kept {
        Kept {
            dir: None,
            tree: Tree {
                snap: None,
                keep: keep_tree,
            },
            store: None,
        }
    }

    /// The run's entry store, opened on first use when the configuration
    /// asks for one (`entry_store`); `None`: the entries stay on the heap.
    /// Takes the field, not `self`, like [`Kept::connect`]: both are held
    /// at once.
    pub(crate) fn store<'s>(store: &'s mut Option<Store>, cfg: &Config) -> Option<&'s Store> {
        if store.is_none() {
            *store = open_store(cfg);
        }
        store.as_ref()
    }

    /// The connection, opened on first use (with the run lock's stop flag).
    pub(crate) async fn connect<'d>(
        dir: &'d mut Option<Directory>,
        cfg: &Config,
        opts: &SyncOptions,
    ) -> Result<&'d Directory, SyncError> {
        if dir.is_none() {
            let mut d = Directory::connect(&cfg.ldap).await?;
            if let Some(h) = &opts.halt {
                d.share_halt(h);
            }
            // not with a consumer to read from (`read_url`): the reads go
            // there, in full, as that setting asks
            if cfg.ldap.incremental_read && cfg.ldap.read_url.is_none() {
                // a dry run reads from the copy but leaves it as it is
                let [_, path] = snapshot_files(&cfg.work_dir, &cfg.source);
                d.use_snapshot(Incremental {
                    path,
                    write: !opts.dry_run,
                });
            }
            *dir = Some(d);
        }
        match dir {
            Some(d) => Ok(d),
            None => unreachable!("connected just above"),
        }
    }

    /// Closes the connection, if one was opened (after writing the read
    /// cookie a first run could not write before its control entry).
    pub async fn close(mut self) {
        self.tree.snap = None;
        if let Some(d) = self.dir.take() {
            d.finish_read_mark().await;
            d.close().await;
        }
    }

    /// After a failover the next extraction connects again.
    pub(crate) async fn after_apply(&mut self) {
        let failed_over = self
            .dir
            .as_ref()
            .is_some_and(|d| d.halt_flag().failed_over_to().is_some());
        if failed_over {
            self.tree.snap = None;
            if let Some(d) = self.dir.take() {
                d.close().await;
            }
        }
    }
}
