//! Freeing the run lock: the run's outcome recorded by compare-and-swap
//! on the owner, on the other providers too when the designated one is gone.

use super::renew::{swap, SwapError};
use super::{gtime, name, set, Lease, RunLock};
use super::{ATTR_EXPIRES, ATTR_FINISHED, ATTR_NOTE, ATTR_OUTCOME, ATTR_OWNER, FREE};
use crate::ldap::Directory;
use ldap3::Mod;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

impl RunLock {
    /// Frees the lock and records the run's outcome. Only our own lock is
    /// freed: the owner value is checked in the same modify. Retried like
    /// the writers (a new connection when the old one broke, doubling
    /// waits); if the server stays away the entry keeps naming this run
    /// until its expiry, and says so.
    pub async fn release(self, outcome: &str) {
        self.renew.abort();
        let finished = gtime(SystemTime::now());
        let dn = self.dn.clone();
        let owner = self.owner.clone();
        let outcome = outcome.to_string();
        let failed_over = self.dir.halt_flag().failed_over_to();
        let designated = self.ldap.url.clone();
        let mods = |note: Option<String>| {
            let (owner, finished, outcome) = (owner.clone(), finished.clone(), outcome.clone());
            move |expires: &str| {
                vec![
                    Mod::Delete(name(ATTR_OWNER), set(&owner)),
                    Mod::Add(name(ATTR_OWNER), set(FREE)),
                    Mod::Delete(name(ATTR_EXPIRES), set(expires)),
                    Mod::Replace(name(ATTR_FINISHED), set(&finished)),
                    Mod::Replace(name(ATTR_OUTCOME), set(&outcome)),
                    Mod::Replace(
                        name(ATTR_NOTE),
                        note.as_deref().map(set).unwrap_or_default(),
                    ),
                ]
            }
        };
        let note = failed_over
            .as_ref()
            .map(|to| format!("failed over from {designated} to {to} during the run"));
        let here = swap(
            &self.dir,
            &dn,
            &self.owner,
            &self.lease,
            mods(note),
            "release",
        )
        .await;
        match &here {
            Ok(()) => {}
            Err(e @ SwapError::Lost(_)) => {
                tracing::warn!(dn = %dn, error = %e, "the run lock was not ours any more at release")
            }
            Err(e @ SwapError::Failed(_)) => {
                let expires = self.expires();
                tracing::error!(dn = %dn, error = %e, "could not free the run lock: it names this run until it expires ({expires}); `aaf-sync status` shows it; the next run on this host takes it over at once, from another host after the expiry");
            }
        }
        if matches!(here, Err(SwapError::Failed(_))) {
            // The designated provider is gone: its copy names this run
            // until it comes back. The other providers' copies name it too
            // (replication carried the lock there before the first write),
            // and `status` reads the first provider that answers: without
            // this, it would say the run died holding the lock. Freeing
            // them is safe: the run writes nothing more, and when the
            // designated provider returns, replication carries this newer
            // change to it (or a newer take-over there wins).
            let to = failed_over.clone();
            let note = match &to {
                Some(to) => format!(
                    "ended on {to} after failing over from {designated}; {designated} did not answer at the end of the run (its copy of this lock names the run until it is back)"
                ),
                None => format!(
                    "{designated} did not answer at the end of the run: outcome recorded on the other providers (its copy of this lock names the run until it is back)"
                ),
            };
            self.release_elsewhere(mods(Some(note))).await;
        }
        if let Ok(d) = Arc::try_unwrap(self.dir) {
            d.close().await;
        }
    }

    /// The release of [`RunLock::release`] on every other provider that
    /// answers and whose copy of the lock still names this run (the
    /// compare-and-swap on the owner leaves any other holder alone).
    async fn release_elsewhere(&self, mods: impl Fn(&str) -> Vec<Mod<Vec<u8>>>) {
        let mut quick = self.ldap.clone();
        quick.timeout_secs = self.ldap.timeout_secs.clamp(1, 5);
        quick.retries = quick.retries.min(2);
        for url in &self.ldap.failover_urls {
            let d = match Directory::connect_n(&quick.only(url), 1).await {
                Ok(d) => d,
                Err(error) => {
                    tracing::warn!(%url, %error, "provider does not answer: the run's outcome is not recorded there");
                    continue;
                }
            };
            // that copy's expiry may be an older renewal's: the swap adopts it
            let lease = Mutex::new(Lease {
                expires: self.expires(),
                renewed: Instant::now(),
            });
            match swap(&d, &self.dn, &self.owner, &lease, &mods, "release").await {
                Ok(()) => {
                    tracing::warn!(%url, dn = %self.dn, "the designated provider does not answer: the run's outcome was recorded on this provider's copy of the run lock")
                }
                Err(error) => {
                    tracing::warn!(%url, dn = %self.dn, %error, "the run's outcome could not be recorded on this provider")
                }
            }
            d.close().await;
        }
    }

    /// Frees the lock by deleting its entry (the purge leaves nothing of
    /// the source behind, its lock included).
    pub async fn release_deleting(self) {
        self.renew.abort();
        let mut l = self.dir.conn(0).await;
        if let Err(e) = l.delete(self.dn.as_str()).await.and_then(|r| r.success()) {
            tracing::warn!(dn = %self.dn, error = %e, "could not delete the run lock");
        }
        if let Ok(d) = Arc::try_unwrap(self.dir) {
            d.close().await;
        }
    }
}
