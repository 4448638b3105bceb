//! The `[ldap]` section: the providers (one URL or the ordered list), the
//! consumer reads may go to, the bind, and the connection settings. Every
//! URL is checked here, so that no cleartext bind leaves the machine
//! unless the operator said the network is trusted.

use super::secrets::{password, PASSWORD_ENV};
use super::{invalid, ConfigError};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// `[ldap] url`: one URL, or the ordered list of the providers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawUrls {
    One(String),
    Many(Vec<String>),
}

impl RawUrls {
    fn into_vec(self) -> Vec<String> {
        match self {
            RawUrls::One(u) => vec![u],
            RawUrls::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLdap {
    url: RawUrls,
    read_url: Option<String>,
    #[serde(default = "d_read_wait")]
    read_wait_secs: u64,
    #[serde(default)]
    bind_dn: String,
    bind_password_file: Option<PathBuf>,
    base_dn: String,
    #[serde(default)]
    starttls: bool,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    allow_insecure: bool,
    #[serde(default = "d_timeout")]
    timeout_secs: u64,
    #[serde(default = "d_connections")]
    connections: usize,
    #[serde(default = "d_in_flight")]
    in_flight: usize,
    #[serde(default = "d_page")]
    page_size: i32,
    #[serde(default = "d_retries")]
    retries: u32,
    #[serde(default = "d_retry_wait")]
    retry_wait_ms: u64,
    #[serde(default = "d_retry_max_wait")]
    retry_max_wait_ms: u64,
    #[serde(default = "d_incremental")]
    incremental_read: bool,
}
fn d_incremental() -> bool {
    true
}
fn d_retries() -> u32 {
    6
}
fn d_read_wait() -> u64 {
    5
}
fn d_retry_wait() -> u64 {
    250
}
fn d_retry_max_wait() -> u64 {
    8000
}
fn d_timeout() -> u64 {
    30
}
fn d_connections() -> usize {
    2
}
fn d_in_flight() -> usize {
    32
}
fn d_page() -> i32 {
    1000
}

/// Validated LDAP settings.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// The designated provider: the first URL of `[ldap] url`. Writing
    /// runs take the run lock there and nowhere else.
    pub url: String,
    /// The other providers, in the order given: connections fail over to
    /// them when the designated provider does not answer (see
    /// `ldap`).
    pub failover_urls: Vec<String>,
    /// A consumer the managed tree may be read from, when it has caught up
    /// with the provider (its `contextCSN`).
    pub read_url: Option<String>,
    /// How long the read waits for the consumer to catch up before it
    /// reads from the provider instead.
    pub read_wait_secs: u64,
    pub bind_dn: String,
    pub bind_password: Option<String>,
    pub base_dn: String,
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: u64,
    pub connections: usize,
    pub in_flight: usize,
    pub page_size: i32,
    /// Retries of an operation that failed for a transient reason
    /// (connection lost, server busy or unavailable), waiting
    /// `retry_wait_ms`, then twice as long each time, at most
    /// `retry_max_wait_ms`.
    pub retries: u32,
    pub retry_wait_ms: u64,
    pub retry_max_wait_ms: u64,
    /// Read only what changed since the last run where the directory
    /// offers content synchronization (`syncprov`), over a copy of the
    /// managed tree kept in `work_dir` (see `ldap::incremental`).
    pub incremental_read: bool,
}

impl LdapConfig {
    /// Every provider, the designated one first.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.failover_urls.iter().map(String::as_str))
    }

    /// True when more than one server is configured (providers or a
    /// consumer to read from): a replicated directory.
    pub fn replicated(&self) -> bool {
        !self.failover_urls.is_empty() || self.read_url.is_some()
    }

    /// The same settings for `url` alone (no failover, no consumer).
    pub fn only(&self, url: &str) -> LdapConfig {
        LdapConfig {
            url: url.to_string(),
            failover_urls: Vec::new(),
            read_url: None,
            ..self.clone()
        }
    }
}

/// The validated `[ldap]` section; the password is read here (see
/// [`password`]) so that a bind DN without one is refused with the rest.
pub(super) fn validate(l: RawLdap) -> Result<LdapConfig, ConfigError> {
    let urls: Vec<String> = l
        .url
        .into_vec()
        .into_iter()
        .map(|u| u.trim().to_string())
        .collect();
    let Some((url, failover_urls)) = urls.split_first() else {
        return Err(invalid(
            "ldap.url",
            "no URL: give the provider, or the list of providers (the designated one first)",
        ));
    };
    for u in &urls {
        check_url(u, "ldap.url", l.starttls, l.allow_insecure)?;
    }
    let keys: Vec<String> = urls.iter().map(|u| url_key(u)).collect();
    if (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
        return Err(invalid("ldap.url", "a provider is listed twice"));
    }
    let read_url = l
        .read_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    if let Some(r) = &read_url {
        check_url(r, "ldap.read_url", l.starttls, l.allow_insecure)?;
    }
    if l.base_dn.trim().is_empty() || !l.base_dn.contains('=') {
        return Err(invalid(
            "ldap.base_dn",
            "must be a DN such as dc=example,dc=org",
        ));
    }
    if l.connections == 0 || l.in_flight == 0 || l.page_size <= 0 || l.timeout_secs == 0 {
        return Err(invalid(
            "ldap",
            "connections, in_flight, page_size and timeout_secs must be positive",
        ));
    }
    let bind_password = password(
        l.bind_password_file.as_deref(),
        PASSWORD_ENV,
        "ldap.bind_password_file",
    )?;
    if !l.bind_dn.is_empty() && bind_password.is_none() {
        return Err(invalid(
            "ldap.bind_password_file",
            format!("bind_dn is set but no password: set bind_password_file or {PASSWORD_ENV}"),
        ));
    }
    Ok(LdapConfig {
        url: url.clone(),
        failover_urls: failover_urls.to_vec(),
        read_url,
        read_wait_secs: l.read_wait_secs,
        bind_dn: l.bind_dn,
        bind_password,
        base_dn: l.base_dn,
        starttls: l.starttls,
        ca_file: l.ca_file,
        timeout_secs: l.timeout_secs,
        connections: l.connections,
        in_flight: l.in_flight,
        page_size: l.page_size,
        retries: l.retries,
        retry_wait_ms: l.retry_wait_ms.max(1),
        retry_max_wait_ms: l.retry_max_wait_ms.max(l.retry_wait_ms),
        incremental_read: l.incremental_read,
    })
}

/// Checks one LDAP URL of `key`: scheme, and no cleartext to a remote host
/// unless StartTLS or explicitly allowed.
fn check_url(
    url: &str,
    key: &'static str,
    starttls: bool,
    allow_insecure: bool,
) -> Result<(), ConfigError> {
    let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
    if !matches!(scheme.as_str(), "ldap" | "ldaps" | "ldapi") || !url.contains("://") {
        return Err(invalid(
            key,
            format!("{url:?} must start with ldap://, ldaps:// or ldapi://"),
        ));
    }
    if scheme == "ldap" && !starttls && !allow_insecure && !is_local_url(url) {
        return Err(invalid(
            key,
            format!(
                "{url}: plain ldap:// to a non-loopback server: use ldaps://, set starttls = true, \
                 or set allow_insecure = true if the network is trusted"
            ),
        ));
    }
    Ok(())
}

/// True for `ldap://` URLs whose host is on the loopback interface, and for
/// `ldapi://`: traffic that never leaves the machine.
pub fn is_local_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("ldapi") {
        return true;
    }
    let host = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL compared without case and trailing slash.
fn url_key(u: &str) -> String {
    u.trim_end_matches('/').to_ascii_lowercase()
}
