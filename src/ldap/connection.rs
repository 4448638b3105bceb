//! Connections: TLS, connect and bind, the providers in the order given,
//! a broken connection replaced (on the next provider when the one in use
//! stopped answering).

use super::{op_err, Directory, DirectoryError, Halt, ResultCode, Slot};
use crate::config::LdapConfig;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The rustls configuration of every connection, ldap3's and the wire
/// reader's: the roots of `ca_file` when given (refused when it holds no
/// certificate), else the system's (a system certificate rustls refuses is
/// skipped, as ldap3 does).
pub(super) fn tls_config(
    ca: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let err = |path: &str, r: String| DirectoryError::Tls {
        path: path.to_string(),
        reason: r,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            let path = ca.display().to_string();
            let pem = std::fs::read(ca).map_err(|e| err(&path, e.to_string()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots
                    .add(cert.map_err(|e| err(&path, e.to_string()))?)
                    .map_err(|e| err(&path, e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(err(&path, "no certificate found".into()));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("(system roots)", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Opens and binds one connection to `url`.
pub(super) async fn open(
    cfg: &LdapConfig,
    settings: &LdapConnSettings,
    url: &str,
) -> Result<Ldap, DirectoryError> {
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings.clone(), url)
        .await
        .map_err(|e| DirectoryError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    ldap3::drive!(conn);
    if !cfg.bind_dn.is_empty() {
        let pw = cfg.bind_password.as_deref().unwrap_or("");
        ldap.with_timeout(timeout);
        ldap.simple_bind(&cfg.bind_dn, pw)
            .await
            .and_then(|r| r.success())
            .map_err(|e| match ResultCode::of(&e) {
                // the server answered: refused credentials are refused
                // by every provider alike
                Some(code) => DirectoryError::Bind {
                    dn: cfg.bind_dn.clone(),
                    code,
                    reason: e.to_string(),
                },
                None => DirectoryError::Connect {
                    url: url.to_string(),
                    reason: format!("bind: {e}"),
                },
            })?;
    }
    Ok(ldap)
}

/// The URL of provider `i` (the designated one for an index out of range).
pub(super) fn provider(cfg: &LdapConfig, i: usize) -> &str {
    cfg.providers().nth(i).unwrap_or(cfg.url.as_str())
}

/// Opens one bound connection to provider `from` if it answers, else to
/// the first other provider of the list that does: its index and the
/// connection. Every provider refusing is one error naming each.
pub(super) async fn open_first(
    cfg: &LdapConfig,
    settings: &LdapConnSettings,
    from: usize,
) -> Result<(usize, Ldap), DirectoryError> {
    let n = cfg.failover_urls.len() + 1;
    let order = std::iter::once(from.min(n - 1)).chain((0..n).filter(|&i| i != from));
    let mut errors = Vec::new();
    for i in order {
        let url = provider(cfg, i);
        match open(cfg, settings, url).await {
            Ok(l) => {
                if !errors.is_empty() {
                    tracing::warn!(
                        url,
                        "connected to a failover provider: {}",
                        errors.join("; ")
                    );
                }
                return Ok((i, l));
            }
            // a refused bind is the same everywhere: no failover
            Err(e @ DirectoryError::Bind { .. }) => return Err(e),
            Err(e) if n == 1 => return Err(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(DirectoryError::NoProvider(errors.join("; ")))
}

impl Directory {
    /// Opens `cfg.connections` bound connections.
    pub async fn connect(cfg: &LdapConfig) -> Result<Directory, DirectoryError> {
        Directory::connect_n(cfg, cfg.connections).await
    }

    /// Opens `n` bound connections (the run lock keeps one of its own) to
    /// the first provider that answers, in the order of the list.
    pub async fn connect_n(cfg: &LdapConfig, n: usize) -> Result<Directory, DirectoryError> {
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(cfg.starttls);
        if let Some(ca) = &cfg.ca_file {
            settings = settings.set_config(tls_config(Some(ca))?);
        }
        let (at, first) = open_first(cfg, &settings, 0).await?;
        let url = provider(cfg, at);
        let mut slots = Vec::with_capacity(n);
        slots.push(tokio::sync::Mutex::new(Slot {
            ldap: first,
            generation: 0,
            at,
        }));
        for _ in 1..n.max(1) {
            let ldap = open(cfg, &settings, url).await?;
            slots.push(tokio::sync::Mutex::new(Slot {
                ldap,
                generation: 0,
                at,
            }));
        }
        Ok(Directory {
            cfg: cfg.clone(),
            settings,
            slots,
            timeout,
            page_size: cfg.page_size,
            halt: Halt::default(),
            at: AtomicUsize::new(at),
            fenced: AtomicUsize::new(usize::MAX),
            fence_check: tokio::sync::Mutex::new(()),
            read_from: Default::default(),
            incremental: None,
            pending_mark: Default::default(),
        })
    }

    /// The URL of the provider the connections go to.
    pub fn url(&self) -> &str {
        provider(&self.cfg, self.at.load(Ordering::SeqCst))
    }

    /// The server the last read of the managed tree came from (a consumer
    /// when it had caught up, else the provider).
    pub fn read_from(&self) -> Option<String> {
        self.read_from.lock().ok().and_then(|r| r.clone())
    }

    /// A handle on connection `i` (modulo their number), and its generation.
    /// A connection still on a provider the others left is moved first.
    pub(super) async fn conn_gen(&self, i: usize) -> (Ldap, u64, usize) {
        let mut slot = self.slots[i % self.slots.len()].lock().await;
        let at = self.at.load(Ordering::SeqCst);
        if slot.at != at {
            if let Ok(ldap) = open(&self.cfg, &self.settings, provider(&self.cfg, at)).await {
                slot.ldap = ldap;
                slot.at = at;
                slot.generation += 1;
            }
        }
        let mut l = slot.ldap.clone();
        l.with_timeout(self.timeout);
        (l, slot.generation, slot.at)
    }

    pub(super) async fn conn(&self, i: usize) -> Ldap {
        self.conn_gen(i).await.0
    }

    /// Index, among the providers, of the one the connections go to now.
    pub fn provider_in_use(&self) -> usize {
        self.at.load(Ordering::SeqCst)
    }

    /// The URL of provider `i` of the list.
    pub fn provider_url(&self, i: usize) -> &str {
        provider(&self.cfg, i)
    }

    /// True when writes may move between providers (several listed):
    /// only then does the apply keep which provider acknowledged what.
    pub fn replicated(&self) -> bool {
        !self.cfg.failover_urls.is_empty()
    }

    /// Replaces connection `i` if it is still the broken one (`generation`):
    /// on the provider in use if it answers, else on the next provider of
    /// the list that does (failover; the other connections follow). A run
    /// holding the lock does not move to a provider whose copy of the lock
    /// does not name it: its writes stop instead.
    pub(super) async fn reconnect(&self, i: usize, generation: u64) -> Result<(), DirectoryError> {
        let mut slot = self.slots[i % self.slots.len()].lock().await;
        if slot.generation != generation {
            return Ok(()); // another operation did it
        }
        let from = self.at.load(Ordering::SeqCst);
        let (at, ldap) = open_first(&self.cfg, &self.settings, from).await?;
        if at != from {
            tracing::warn!(
                from = provider(&self.cfg, from),
                to = provider(&self.cfg, at),
                "provider stopped answering: the run continues on the next one"
            );
            self.at.store(at, Ordering::SeqCst);
        }
        slot.ldap = ldap;
        slot.at = at;
        slot.generation += 1;
        drop(slot);
        tracing::info!(
            connection = i % self.slots.len(),
            url = provider(&self.cfg, at),
            "LDAP connection re-established"
        );
        if let Err(why) = self.check_fence().await {
            self.halt(why.to_string());
            return Err(op_err("failover", why.to_string()));
        }
        Ok(())
    }

    pub async fn close(self) {
        for s in self.slots {
            let mut l = s.into_inner().ldap;
            let _ = l.unbind().await;
        }
    }
}
