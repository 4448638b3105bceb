//! Configuration: raw (as written, unknown keys refused) → validated.
//!
//! Layers, later wins: built-in defaults, the TOML file, then `AAF_SYNC_`
//! environment variables with `__` between section and key
//! (`AAF_SYNC_LDAP__URL`). Secrets never come from the TOML text: the LDAP
//! password is read from `AAF_SYNC_LDAP_PASSWORD` when set, else from the
//! first line of `bind_password_file`.
//!
//! One file per concern:
//!
//! - here: [`Config`], [`Config::load`], [`ConfigError`], the run lock;
//! - `validate`: the raw configuration as written, and its validation;
//! - `ldap`: providers, consumer, bind, URL checks ([`LdapConfig`]);
//! - `secrets`: the password and passphrase (environment, private files);
//! - `fetch`: the SFTP settings ([`FetchConfig`]);
//! - `safety`, `retention`: the rails' thresholds, the departures' rules;
//! - [`delivery`]: how deliveries are checked;
//! - `explain`: load errors in the operator's words (file, line, key).

pub mod delivery;
mod explain;
mod fetch;
mod ldap;
mod retention;
mod safety;
mod secrets;
mod validate;

pub use fetch::{FetchConfig, RemoteDelete};
pub use ldap::{is_local_url, LdapConfig};
pub use secrets::{check_secret_file, SecretFileError, PASSPHRASE_ENV, PASSWORD_ENV};

use crate::retention::Rules;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use std::path::{Path, PathBuf};
use validate::RawConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    // `error` is not a `source`: the message carries it once, not twice
    // when the chain is printed.
    #[error("configuration: cannot read {}: {error}", path.display())]
    Secret {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub ldap: LdapConfig,
    /// Source name, prefix of every jointure (`AC-CRETEIL`).
    pub source: String,
    /// Which half of AAF the source delivers: 1D (écoles) or 2D (collèges
    /// and lycées); a file of the other degree is refused.
    pub degree: crate::aaf::degree::Degree,
    /// A Delta is planned over the entries it can change, not the whole
    /// tree (see [`crate::mapping::scope`]); false: always the whole tree.
    pub targeted_delta: bool,
    /// Entries of the source found in the tree but not managed (an older
    /// feeder's) are adopted when the extraction carries them.
    pub adopt: bool,
    /// RDN templates of new people and structures (`[layout]`).
    pub person_uid: String,
    pub structure_ou: String,
    /// Forced encoding of the XML files; `None` detects it per file.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// UAIs of the schools in the perimeter (upper case); empty when `all`.
    pub perimeter_uai: Vec<String>,
    pub perimeter_all: bool,
    pub work_dir: PathBuf,
    /// Whether a sync keeps the entries it holds in a temporary mapped file
    /// in `work_dir` rather than on the heap (see [`crate::model::store`]).
    pub entry_store: bool,
    /// Staff ids that consented to their home address being published.
    pub staff_address_consent: std::collections::BTreeSet<String>,
    /// Departures and retention, per category.
    pub retention: Rules,
    /// How deliveries (archives, bordereaux) are checked.
    pub delivery: delivery::Rules,
    /// Where extractions are fetched from; `None`: no SFTP.
    pub fetch: Option<FetchConfig>,
    /// Thresholds and sanity guards.
    pub safety: crate::safety::Safety,
    /// Per-record limits on multi-valued fields (`[safety.record]`).
    pub record_limits: crate::mapping::limits::RecordLimits,
    /// The run lock held in the directory.
    pub lock: LockConfig,
    /// Prometheus text file written after each run (node_exporter's
    /// textfile collector); `None`: no metrics.
    pub metrics_file: Option<PathBuf>,
    /// Days the journals of operations are kept.
    pub journal_keep_days: u32,
    /// Attributes the ENT writes itself on managed entries, which the
    /// minimisation audit accepts.
    pub audit_allowed_attributes: Vec<String>,
}

/// The run lock (`[lock]`).
#[derive(Debug, Clone, Copy)]
pub struct LockConfig {
    /// A lock not renewed for this long is stale (its holder died on
    /// another host); the holder renews it every fifth of it, and stops
    /// writing when it could not renew it for half of it.
    pub ttl_secs: u64,
    /// How long a run waits for a lock held by another run (0: fail at once).
    pub wait_secs: u64,
    /// With several providers: how long a run that took the lock on the
    /// designated provider waits for replication to carry it to the other
    /// providers that answer, before its first write.
    pub replication_wait_secs: u64,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// RDN value of new people and structures: the source and the AAF id.
pub const DEFAULT_RDN: &str = "{source}-{id}";

impl Config {
    /// Where entries live in the tree (base, branches, RDNs).
    pub fn layout(&self) -> crate::mapping::layout::Layout {
        crate::mapping::layout::Layout::new(&self.ldap.base_dn, &self.source)
            .with_rdns(&self.person_uid, &self.structure_ou)
            // checked when the configuration was loaded
            .unwrap_or_else(|_| {
                crate::mapping::layout::Layout::new(&self.ldap.base_dn, &self.source)
            })
    }

    /// Loads and validates the configuration file plus environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::Load(format!(
                "{}: no such file",
                path.display()
            )));
        }
        let env = Env::prefixed("AAF_SYNC_")
            .filter(|k| k.as_str().contains("__"))
            .split("__");
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Load(format!("{}: cannot read: {e}", path.display())))?;
        // parsed here first for the line and column figment does not give
        if let Err(e) = text.parse::<toml::Table>() {
            return Err(ConfigError::Load(explain::toml_error(path, &text, &e)));
        }
        let raw: RawConfig = Figment::new()
            .merge(Toml::string(&text))
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(explain::explain(path, &text, e)))?;
        Config::validate(raw)
    }
}

#[cfg(test)]
mod tests;
