//! Taking the run lock: an add, or a compare-and-swap over a free or
//! stale holder; then, under replication, waiting until every provider
//! holds it before the first write.

use super::renew::renew_loop;
use super::{gtime, name, owner_of, set, Lease, LockError, LockState, Locked, RunLock};
use super::{ATTR_COMMAND, ATTR_EXPIRES, ATTR_FINISHED, ATTR_NOTE, ATTR_OUTCOME, ATTR_OWNER};
use super::{ATTR_RUN_ID, ATTR_SINCE, ATTR_STARTED, FREE, LOCK_CLASS};
use crate::config::{LdapConfig, LockConfig};
use crate::ldap::{op_err, Directory, DirectoryError, ResultCode};
use crate::mapping::layout::Layout;
use crate::schema;
use ldap3::Mod;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

impl RunLock {
    /// Takes the lock of `layout`'s source for run `run_id`, waiting up to
    /// `cfg.wait_secs` for another run to finish.
    pub async fn acquire(
        ldap: &LdapConfig,
        cfg: LockConfig,
        layout: &Layout,
        run_id: &str,
        command: &str,
    ) -> Result<RunLock, LockError> {
        let designated = ldap.only(&ldap.url);
        let dir = match Directory::connect_n(&designated, 1).await {
            Ok(d) => Arc::new(d),
            Err(DirectoryError::Connect { reason, .. }) if !ldap.failover_urls.is_empty() => {
                return Err(LockError::DesignatedDown {
                    url: ldap.url.clone(),
                    reason,
                })
            }
            Err(e) => return Err(e.into()),
        };
        let dn = layout.lock_dn();
        let owner = owner_of(run_id);
        let ttl = Duration::from_secs(cfg.ttl_secs);
        let deadline = Instant::now() + Duration::from_secs(cfg.wait_secs);
        // rounds that saw the entry but could neither read it nor swap it:
        // a few are races with another run, many are an ACL
        let mut blind = 0u32;
        loop {
            if let Some(why) = crate::host::interrupt::reason() {
                return Err(LockError::Interrupted(why));
            }
            if blind >= 20 {
                return Err(LockError::NoAccess {
                    dn: dn.to_string(),
                    what: "read or change",
                });
            }
            let now = SystemTime::now();
            let sent = Instant::now();
            let expires = gtime(now + ttl);
            let mut l = dir.conn(0).await;
            let attrs = vec![
                (
                    "objectClass".to_string(),
                    HashSet::from(["top".to_string(), LOCK_CLASS.to_string()]),
                ),
                (
                    "cn".to_string(),
                    HashSet::from([format!("aaf-sync-lock-{}", layout.source)]),
                ),
                (
                    schema::ATTR_SOURCE.to_string(),
                    HashSet::from([layout.source.clone()]),
                ),
                (ATTR_OWNER.to_string(), HashSet::from([owner.clone()])),
                (ATTR_EXPIRES.to_string(), HashSet::from([expires.clone()])),
                (ATTR_SINCE.to_string(), HashSet::from([gtime(now)])),
                (ATTR_RUN_ID.to_string(), HashSet::from([run_id.to_string()])),
                (
                    ATTR_COMMAND.to_string(),
                    HashSet::from([command.to_string()]),
                ),
                (ATTR_STARTED.to_string(), HashSet::from([gtime(now)])),
            ];
            let added = l.add(dn.as_str(), attrs).await.and_then(|r| r.success());
            let took_over = match added {
                Ok(_) => Some(None),
                Err(e) if ResultCode::of(&e) == Some(ResultCode::ENTRY_ALREADY_EXISTS) => {
                    let cur = dir.read_entry(&dn).await?;
                    let Some(cur) = cur else {
                        // there to add, not there to read: freed in between,
                        // or hidden from the bind DN
                        blind += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let classes = cur.get("objectClass").unwrap_or_default();
                    if !classes.iter().any(|c| c.eq_ignore_ascii_case(LOCK_CLASS)) {
                        return Err(LockError::Foreign {
                            dn: dn.to_string(),
                            classes: classes.iter().collect::<Vec<_>>().join(", "),
                        });
                    }
                    let state = LockState::of(&cur, now);
                    let seen = cur.first(ATTR_OWNER).unwrap_or(FREE).to_string();
                    if state.holder.is_none() || state.stale {
                        let mods = vec![
                            Mod::Delete(name(ATTR_OWNER), set(&seen)),
                            Mod::Add(name(ATTR_OWNER), set(&owner)),
                            Mod::Replace(name(ATTR_EXPIRES), set(&expires)),
                            Mod::Replace(name(ATTR_SINCE), set(&gtime(now))),
                            Mod::Replace(name(ATTR_RUN_ID), set(run_id)),
                            Mod::Replace(name(ATTR_COMMAND), set(command)),
                            Mod::Replace(name(ATTR_STARTED), set(&gtime(now))),
                            Mod::Replace(name(ATTR_FINISHED), HashSet::new()),
                            Mod::Replace(name(ATTR_OUTCOME), HashSet::new()),
                            Mod::Replace(name(ATTR_NOTE), HashSet::new()),
                        ];
                        match l.modify(dn.as_str(), mods).await.and_then(|r| r.success()) {
                            Ok(_) => Some(state.holder),
                            // someone else changed it first: look again
                            Err(e)
                                if matches!(
                                    ResultCode::of(&e),
                                    Some(
                                        ResultCode::NO_SUCH_ATTRIBUTE
                                            | ResultCode::ATTRIBUTE_OR_VALUE_EXISTS
                                    )
                                ) =>
                            {
                                blind += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                None
                            }
                            Err(e)
                                if ResultCode::of(&e)
                                    == Some(ResultCode::INSUFFICIENT_ACCESS_RIGHTS) =>
                            {
                                return Err(LockError::NoAccess {
                                    dn: dn.to_string(),
                                    what: "change",
                                })
                            }
                            Err(e) => return Err(op_err(format!("take {dn}"), e).at(&dn).into()),
                        }
                    } else if Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        None
                    } else {
                        return Err(Locked {
                            dn: dn.to_string(),
                            holder: state.holder.unwrap_or_default(),
                            since: state.since.unwrap_or_default(),
                            expires: state.expires.unwrap_or_default(),
                        }
                        .into());
                    }
                }
                Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => {
                    return Err(op_err(
                        format!("base {}", layout.base),
                        "does not exist: create it first (docs/operations.md, \"Daily operation\", step 1)",
                    )
                    .into())
                }
                Err(e) if ResultCode::of(&e) == Some(ResultCode::INSUFFICIENT_ACCESS_RIGHTS) => {
                    return Err(LockError::NoAccess {
                        dn: dn.to_string(),
                        what: "create",
                    })
                }
                Err(e) => return Err(op_err(format!("take {dn}"), e).at(&dn).into()),
            };
            let Some(took_over) = took_over else { continue };
            if let Some(prev) = &took_over {
                tracing::warn!(dn = %dn, previous = %prev, "took over a stale run lock: the previous run died; this run converges from where it stopped");
            }
            // writers check this before each send: a run paused (SIGSTOP,
            // a frozen VM) past it must not send what was in its hands
            dir.halt_flag().lease_valid_until(sent + ttl / 2);
            let lease = Arc::new(Mutex::new(Lease {
                expires,
                renewed: sent,
            }));
            let renew = tokio::spawn(renew_loop(
                dir.clone(),
                dn.clone(),
                owner.clone(),
                ttl,
                lease.clone(),
            ));
            dir.halt_flag().set_fence(crate::ldap::Fence {
                dn: dn.clone(),
                owner: owner.clone(),
            });
            let lock = RunLock {
                dir,
                ldap: ldap.clone(),
                dn,
                owner,
                lease,
                renew,
                took_over,
            };
            let wait = Duration::from_secs(cfg.replication_wait_secs);
            return match lock.confirm_replicated(ldap, wait).await {
                Ok(()) => Ok(lock),
                Err(Confirm::Lost(why)) => {
                    // not ours any more: nothing to free
                    lock.renew.abort();
                    Err(LockError::Replication(why))
                }
                Err(Confirm::NotCarried(why)) => {
                    lock.release("refused").await;
                    Err(LockError::Replication(why))
                }
            };
        }
    }

    /// Waits until every provider of `ldap` but the designated one, among
    /// those that answer, holds this run's lock (replication carried it),
    /// checking meanwhile that the designated provider's entry still names
    /// this run: another holder there means a run that took the lock on
    /// another provider at the same time won the conflict.
    async fn confirm_replicated(&self, ldap: &LdapConfig, wait: Duration) -> Result<(), Confirm> {
        if ldap.failover_urls.is_empty() {
            return Ok(());
        }
        let mut quick = ldap.clone();
        quick.timeout_secs = ldap.timeout_secs.clamp(1, 5);
        let mut pending = Vec::new();
        for url in &ldap.failover_urls {
            match Directory::connect_n(&quick.only(url), 1).await {
                Ok(d) => pending.push((url.clone(), d, String::new())),
                Err(error) => {
                    tracing::warn!(%url, %error, "provider does not answer: the run lock cannot be checked there (writes never fail over to it unless its copy of the lock names this run)")
                }
            }
        }
        let deadline = Instant::now() + wait;
        let result = loop {
            let here = self.dir.read_entry(&self.dn).await;
            let holder = match &here {
                Ok(Some(e)) => e.first(ATTR_OWNER).unwrap_or(FREE).to_string(),
                Ok(None) => "no lock entry".into(),
                Err(e) => break Err(Confirm::NotCarried(format!("run lock {}: {e}", self.dn))),
            };
            if holder != self.owner {
                break Err(Confirm::Lost(format!(
                    "run lock {}: taken by {holder} on another provider at the same time as this run took it on {} (replication settled the conflict for the other run); every sync host must list the same provider first in [ldap] url",
                    self.dn, ldap.url
                )));
            }
            let mut still = Vec::new();
            for (url, d, _) in pending {
                let seen = match d.read_entry(&self.dn).await {
                    Ok(Some(e)) => e.first(ATTR_OWNER).unwrap_or(FREE).to_string(),
                    Ok(None) => "no lock entry".into(),
                    Err(e) => e.to_string(),
                };
                if seen == self.owner {
                    d.close().await;
                } else {
                    still.push((url, d, seen));
                }
            }
            pending = still;
            if pending.is_empty() {
                break Ok(());
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = pending
                    .iter()
                    .map(|(u, _, s)| format!("{u} shows {s}"))
                    .collect();
                break Err(Confirm::NotCarried(format!(
                    "run lock {}: taken on {} but not carried to the other providers within {} s ([lock] replication_wait_secs): {}; is replication between the providers working?",
                    self.dn,
                    ldap.url,
                    wait.as_secs(),
                    seen.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for (_, d, _) in pending {
            d.close().await;
        }
        result
    }
}

/// Why the lock taken on the designated provider is not good to write with.
pub(super) enum Confirm {
    /// Another run holds it now.
    Lost(String),
    /// Replication did not carry it in time.
    NotCarried(String),
}
