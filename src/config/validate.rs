//! The configuration as written (`Raw*`: every section, unknown keys
//! refused) and its validation into [`Config`]: the sections are checked
//! in a fixed order (ldap first), so the error reported is always the same.

use super::fetch::RawFetch;
use super::ldap::RawLdap;
use super::retention::RawRetention;
use super::safety::RawSafety;
use super::{
    delivery, fetch, invalid, ldap, retention, safety, Config, ConfigError, LockConfig, DEFAULT_RDN,
};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    ldap: RawLdap,
    source: RawSource,
    perimeter: RawPerimeter,
    paths: RawPaths,
    #[serde(default)]
    minimisation: RawMinimisation,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    delivery: RawDelivery,
    fetch: Option<RawFetch>,
    #[serde(default)]
    safety: RawSafety,
    #[serde(default)]
    lock: RawLock,
    #[serde(default)]
    monitoring: RawMonitoring,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    layout: RawLayout,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    /// RDN value (`uid`) of new people: `{source}-{id}` by default.
    person_uid: Option<String>,
    /// RDN value (`ou`) of new structures: `{source}-{id}` by default.
    structure_ou: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    #[serde(default)]
    allowed_attributes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    ttl_secs: Option<u64>,
    wait_secs: Option<u64>,
    replication_wait_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    metrics_file: Option<PathBuf>,
    journal_keep_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    bordereau_name: Option<String>,
    max_archive_files: Option<usize>,
    max_archive_bytes: Option<u64>,
    max_archive_ratio: Option<u64>,
    min_free_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    #[serde(default = "d_encoding")]
    encoding: String,
    /// Adopt the entries of this source an existing tree holds (matched by
    /// jointure) instead of leaving them alone.
    adopt: Option<bool>,
    /// `1d` (primary schools, the default) or `2d` (secondary schools).
    degree: Option<String>,
    /// Plan a Delta over the entries it can change only (default true).
    targeted_delta: Option<bool>,
}
fn d_encoding() -> String {
    "auto".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerimeter {
    #[serde(default)]
    uai: Vec<String>,
    #[serde(default)]
    all: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    work_dir: PathBuf,
    entry_store: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMinimisation {
    staff_address_consent_file: Option<PathBuf>,
}

impl Config {
    pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let ldap = ldap::validate(raw.ldap)?;
        let source = raw.source.name.trim().to_string();
        if source.is_empty()
            || source.len() > 64
            || !source
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(
                "source.name",
                "1 to 64 characters among A-Z a-z 0-9 - _ .",
            ));
        }
        for (key, t) in [
            ("layout.person_uid", &raw.layout.person_uid),
            ("layout.structure_ou", &raw.layout.structure_ou),
        ] {
            if let Some(t) = t {
                crate::mapping::layout::Layout::new("dc=x", &source)
                    .with_rdns(t, DEFAULT_RDN)
                    .map_err(|e| invalid(key, e.to_string()))?;
            }
        }
        let encoding = match raw.source.encoding.trim() {
            "" | "auto" => None,
            label => Some(
                crate::aaf::decode::encoding_for_label(label).ok_or_else(|| {
                    invalid("source.encoding", format!("unknown encoding {label:?}"))
                })?,
            ),
        };
        let degree = match raw.source.degree.as_deref() {
            None => crate::aaf::degree::Degree::OneD,
            Some(d) => crate::aaf::degree::Degree::parse(d).ok_or_else(|| {
                invalid(
                    "source.degree",
                    format!("{d:?}: \"1d\" (primary schools) or \"2d\" (secondary schools)"),
                )
            })?,
        };
        let mut uai = Vec::new();
        for u in &raw.perimeter.uai {
            let u = u.trim().to_ascii_uppercase();
            if !valid_uai(&u) {
                return Err(invalid(
                    "perimeter.uai",
                    format!("{u:?} is not a UAI (7 digits and a letter)"),
                ));
            }
            uai.push(u);
        }
        uai.sort();
        uai.dedup();
        if uai.is_empty() && !raw.perimeter.all {
            return Err(invalid(
                "perimeter.uai",
                "list the UAIs of the schools of the ENT, or set all = true",
            ));
        }
        let mut consent = std::collections::BTreeSet::new();
        if let Some(p) = &raw.minimisation.staff_address_consent_file {
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Secret {
                path: p.clone(),
                error: e,
            })?;
            consent.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
        let retention = retention::rules(&raw.retention)?;
        let d = delivery::Limits::default();
        if raw.delivery.max_archive_ratio == Some(0) || raw.delivery.max_archive_bytes == Some(0) {
            return Err(invalid(
                "delivery",
                "max_archive_ratio and max_archive_bytes must be positive",
            ));
        }
        let delivery = delivery::Rules {
            bordereau_name: raw.delivery.bordereau_name.filter(|n| !n.trim().is_empty()),
            limits: delivery::Limits {
                max_files: raw.delivery.max_archive_files.unwrap_or(d.max_files),
                max_bytes: raw.delivery.max_archive_bytes.unwrap_or(d.max_bytes),
                max_ratio: raw.delivery.max_archive_ratio.unwrap_or(d.max_ratio),
                min_free_bytes: raw.delivery.min_free_bytes.unwrap_or(d.min_free_bytes),
            },
        };
        let fetch = raw.fetch.map(fetch::validate).transpose()?;
        Ok(Config {
            ldap,
            source,
            encoding,
            degree,
            targeted_delta: raw.source.targeted_delta.unwrap_or(true),
            adopt: raw.source.adopt.unwrap_or(true),
            person_uid: raw
                .layout
                .person_uid
                .clone()
                .unwrap_or_else(|| DEFAULT_RDN.into()),
            structure_ou: raw
                .layout
                .structure_ou
                .clone()
                .unwrap_or_else(|| DEFAULT_RDN.into()),
            perimeter_uai: uai,
            perimeter_all: raw.perimeter.all,
            entry_store: raw.paths.entry_store.unwrap_or(true),
            work_dir: raw.paths.work_dir,
            staff_address_consent: consent,
            retention,
            delivery,
            fetch,
            safety: safety::validate(&raw.safety)?,
            record_limits: safety::record_limits(&raw.safety),
            lock: LockConfig {
                ttl_secs: raw.lock.ttl_secs.unwrap_or(600).max(10),
                wait_secs: raw.lock.wait_secs.unwrap_or(0),
                replication_wait_secs: raw.lock.replication_wait_secs.unwrap_or(30),
            },
            metrics_file: raw.monitoring.metrics_file,
            journal_keep_days: raw.monitoring.journal_keep_days.unwrap_or(400),
            audit_allowed_attributes: raw.audit.allowed_attributes,
        })
    }
}

fn valid_uai(u: &str) -> bool {
    u.len() == 8
        && u[..7].bytes().all(|b| b.is_ascii_digit())
        && u.as_bytes()[7].is_ascii_alphabetic()
}
