//! Keeping the run lock: the compare-and-swap every change of the lock
//! goes through, and the renewal loop that stops the writes when the lock
//! cannot be proven held.

use super::{gtime, name, set, Lease, ATTR_EXPIRES, ATTR_OWNER, FREE};
use crate::ldap::{Directory, ResultCode};
use crate::model::Dn;
use ldap3::Mod;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Why a compare-and-swap on the lock failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum SwapError {
    /// Another run holds it (or it was freed or deleted): `who`.
    #[error("the lock is not ours any more ({0})")]
    Lost(String),
    /// The server did not answer, through every retry.
    #[error("{0}")]
    Failed(String),
}

/// One compare-and-swap modify of the lock (`mods` built on the expiry
/// value we believe is there), retried on transient faults with a new
/// connection when the old one broke. A swap that finds another expiry
/// while we are still the owner (a renewal applied whose answer was lost)
/// adopts the server's value and tries again.
pub(super) async fn swap(
    dir: &Directory,
    dn: &Dn,
    owner: &str,
    lease: &Mutex<Lease>,
    mods: impl Fn(&str) -> Vec<Mod<Vec<u8>>>,
    what: &str,
) -> Result<(), SwapError> {
    let retry = dir.retry();
    let mut attempt = 0;
    let mut adopted = false;
    loop {
        let expires = lease.lock().map(|l| l.expires.clone()).unwrap_or_default();
        let (mut l, generation, _) = dir.conn_gen(0).await;
        let r = l
            .modify(dn.as_str(), mods(&expires))
            .await
            .and_then(|r| r.success());
        let err = match r {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match ResultCode::of(&err) {
            // the exact values we compare were not there: our expiry
            // changed (a renewal whose answer was lost), or the owner did
            Some(ResultCode::NO_SUCH_ATTRIBUTE | ResultCode::ATTRIBUTE_OR_VALUE_EXISTS)
                if !adopted =>
            {
                // look: still ours with another expiry, or taken
                let cur = dir
                    .read_entry(dn)
                    .await
                    .map_err(|e| SwapError::Failed(e.to_string()))?;
                let Some(cur) = cur else {
                    return Err(SwapError::Lost("entry deleted".into()));
                };
                let holder = cur.first(ATTR_OWNER).unwrap_or(FREE).to_string();
                if holder != owner {
                    return Err(SwapError::Lost(format!("held by {holder}")));
                }
                if let (Some(v), Ok(mut l)) = (cur.first(ATTR_EXPIRES), lease.lock()) {
                    l.expires = v.to_string();
                }
                adopted = true;
                continue;
            }
            Some(ResultCode::NO_SUCH_ATTRIBUTE | ResultCode::ATTRIBUTE_OR_VALUE_EXISTS) => {
                return Err(SwapError::Lost("changed by another run".into()))
            }
            Some(ResultCode::NO_SUCH_OBJECT) => {
                return Err(SwapError::Lost("entry deleted".into()))
            }
            _ => {}
        }
        let fault = crate::ldap::Fault::of(err);
        if let crate::ldap::Fault::Permanent(m) = &fault {
            return Err(SwapError::Failed(format!("{what} {dn}: {m}")));
        }
        if attempt >= retry.attempts {
            return Err(SwapError::Failed(format!(
                "{what} {dn}: {} unreachable after {} retries ({})",
                dir.cfg.url,
                retry.attempts,
                fault.message()
            )));
        }
        tokio::time::sleep(retry.wait(attempt)).await;
        attempt += 1;
        if let crate::ldap::Fault::Connection(_) = fault {
            let _ = dir.reconnect(0, generation).await;
        }
    }
}

/// Renews the expiry every fifth of the TTL with a compare-and-swap on the
/// value last written; a failed swap means another run took the lock.
/// Renewal reconnects like the writers do. When no renewal succeeded for
/// half the TTL, the run cannot prove it still holds the lock: its stop
/// flag is raised, so it sends nothing more while the lock is still valid
/// for the other half — before anyone else may take it over. Renewing at a
/// fifth leaves three tenths of the TTL to ride out a server restart
/// before the halt.
pub(super) async fn renew_loop(
    dir: Arc<Directory>,
    dn: Dn,
    owner: String,
    ttl: Duration,
    lease: Arc<Mutex<Lease>>,
) {
    let every = ttl / 5;
    let halt_after = ttl / 2;
    let renewed = |lease: &Mutex<Lease>| {
        lease
            .lock()
            .map(|l| l.renewed)
            .unwrap_or_else(|_| Instant::now())
    };
    let mut failing_since: Option<Instant> = None;
    loop {
        let last = renewed(&lease);
        let halt_at = last + halt_after;
        let next = if failing_since.is_some() {
            // the server was away: try again soon
            Instant::now() + (ttl / 20).clamp(Duration::from_millis(200), Duration::from_secs(2))
        } else {
            last + every
        };
        tokio::time::sleep_until(next.min(halt_at).into()).await;
        if Instant::now() >= halt_at {
            let why = format!(
                "run lock {dn} not renewed for {} s (half of [lock] ttl_secs = {}): writes stopped before it could expire, so that no other run writes beside this one",
                halt_after.as_secs(),
                ttl.as_secs()
            );
            tracing::error!(dn = %dn, "{why}");
            dir.halt(why);
            return;
        }
        let sent = Instant::now();
        let new = gtime(SystemTime::now() + ttl);
        let mods = |old: &str| {
            vec![
                Mod::Delete(name(ATTR_EXPIRES), set(old)),
                Mod::Add(name(ATTR_EXPIRES), set(&new)),
            ]
        };
        // never wait past the moment writes must stop
        let r = tokio::time::timeout_at(
            halt_at.into(),
            swap(&dir, &dn, &owner, &lease, mods, "renew"),
        )
        .await;
        match r {
            Ok(Ok(())) => {
                if let Ok(mut l) = lease.lock() {
                    l.expires = new;
                    l.renewed = sent;
                }
                dir.halt_flag().lease_valid_until(sent + halt_after);
                if let Some(t) = failing_since.take() {
                    tracing::warn!(dn = %dn, after_secs = t.elapsed().as_secs(), "run lock renewed again");
                }
            }
            Ok(Err(SwapError::Lost(who))) => {
                let why = format!("run lock {dn} lost ({who}): writes stopped");
                tracing::error!(dn = %dn, "{why}");
                dir.halt(why);
                return;
            }
            Ok(Err(SwapError::Failed(e))) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::warn!(dn = %dn, error = %e, "could not renew the run lock; retrying (writes stop if it is not renewed within half the TTL)");
                }
            }
            // the halt check comes first at the next turn
            Err(_) => {
                failing_since.get_or_insert_with(Instant::now);
            }
        }
    }
}
