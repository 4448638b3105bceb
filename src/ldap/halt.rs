//! The stop flag a run's writers share with the run lock ([`Halt`]): why
//! writes stopped, the lock's lease, and the [`Fence`] a failover provider
//! must show before it is written through.

use super::Directory;
use crate::model::Dn;
use std::sync::Arc;

/// Shared "stop writing" flag with its reason: the run lock's renewal and
/// the apply share it, so losing the lock stops the writes. It also carries
/// the run lock's [`Fence`] once the lock is taken: a directory sharing
/// this flag writes through a provider other than the designated one only
/// when that provider's copy of the lock names the run.
#[derive(Debug, Clone, Default)]
pub struct Halt {
    flag: Arc<std::sync::Mutex<Option<String>>>,
    fence: Arc<std::sync::OnceLock<Fence>>,
    /// Until when the run lock is known held (half its TTL past the last
    /// renewal): no operation is sent after it.
    lease: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The failover provider (URL) this run wrote through once its copy of
    /// the lock was found to name the run: the lock's release records the
    /// run's outcome there too when the designated provider is gone, so
    /// that `status`, which reads the provider that answers, tells the truth.
    failed_over_to: Arc<std::sync::Mutex<Option<String>>>,
}

impl std::ops::Deref for Halt {
    type Target = std::sync::Mutex<Option<String>>;
    fn deref(&self) -> &Self::Target {
        &self.flag
    }
}

/// The run lock a writing run holds: its entry and owner value.
#[derive(Debug, Clone)]
pub struct Fence {
    pub dn: Dn,
    pub owner: String,
}

impl Halt {
    /// Ties the run lock to this flag (once).
    pub fn set_fence(&self, f: Fence) {
        let _ = self.fence.set(f);
    }

    pub fn fence(&self) -> Option<&Fence> {
        self.fence.get()
    }

    /// Records that the run's writes moved to the failover provider `url`.
    pub(super) fn failed_over(&self, url: &str) {
        if let Ok(mut f) = self.failed_over_to.lock() {
            *f = Some(url.to_string());
        }
    }

    /// The failover provider the run last wrote through, if it failed over.
    pub fn failed_over_to(&self) -> Option<String> {
        self.failed_over_to.lock().ok().and_then(|f| f.clone())
    }

    /// The run lock is known held until `t` (set when taken and at each
    /// renewal).
    pub fn lease_valid_until(&self, t: std::time::Instant) {
        if let Ok(mut l) = self.lease.lock() {
            *l = Some(t);
        }
    }

    /// Why no operation may be sent now because the lease has lapsed: the
    /// renewal task may not have run yet (the process was paused, the
    /// runtime busy), so the writers look themselves.
    fn lease_lapsed(&self) -> Option<String> {
        let until = (*self.lease.lock().ok()?)?;
        (std::time::Instant::now() >= until).then(|| {
            "the run lock was not renewed in time (the process was paused, or the server away): \
             writes stopped before it could expire, so that no other run writes beside this one"
                .to_string()
        })
    }
}

impl Directory {
    /// Shares `h` as this directory's stop flag.
    pub fn share_halt(&mut self, h: &Halt) {
        self.halt = h.clone();
    }

    /// This directory's stop flag.
    pub fn halt_flag(&self) -> Halt {
        self.halt.clone()
    }

    /// Stops the writes of this run from now on (the reason is reported).
    pub fn halt(&self, reason: impl Into<String>) {
        if let Ok(mut h) = self.halt.lock() {
            h.get_or_insert_with(|| reason.into());
        }
    }

    /// Why writes stopped, if they did.
    pub fn halted(&self) -> Option<String> {
        if let Some(why) = self.halt.lease_lapsed() {
            self.halt(why);
        }
        self.halt.lock().ok().and_then(|h| h.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapsed_lease_stops_the_writers_by_itself() {
        // no renewal task needed: the flag answers from the lease alone
        let h = Halt::default();
        assert!(h.lease_lapsed().is_none(), "no lock taken: no lease");
        h.lease_valid_until(std::time::Instant::now() + std::time::Duration::from_secs(60));
        assert!(h.lease_lapsed().is_none());
        h.lease_valid_until(std::time::Instant::now() - std::time::Duration::from_millis(1));
        let why = h.lease_lapsed().unwrap();
        assert!(
            why.contains("writes stopped before it could expire"),
            "{why}"
        );
    }
}
