//! Configuration: raw (as written, unknown keys refused) → validated.
//!
//! Layers, later wins: built-in defaults, the TOML file, then `AAF_SYNC_`
//! environment variables with `__` between section and key
//! (`AAF_SYNC_LDAP__URL`). Secrets never come from the TOML text: the LDAP
//! password is read from `AAF_SYNC_LDAP_PASSWORD` when set, else from the
//! first line of `bind_password_file`.

pub mod delivery;
mod explain;

use crate::retention::{Rule, Rules};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Environment variable holding the LDAP bind password.
pub const PASSWORD_ENV: &str = "AAF_SYNC_LDAP_PASSWORD";

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
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
struct RawSafety {
    max_departures: Option<u64>,
    max_departures_percent: Option<f64>,
    percent_floor: Option<u64>,
    school_year_percent: Option<f64>,
    complet_min_ratio: Option<f64>,
    guard_floor: Option<u64>,
    max_renames: Option<u64>,
    max_renames_percent: Option<f64>,
    max_modified_percent: Option<f64>,
    max_group_deletions: Option<u64>,
    max_group_deletions_percent: Option<f64>,
    max_group_additions: Option<u64>,
    max_group_additions_percent: Option<f64>,
    max_additions_percent: Option<f64>,
    max_rejected_percent: Option<f64>,
    #[serde(default)]
    record: RawRecordLimits,
    #[serde(default)]
    pupil: RawLimits,
    #[serde(default)]
    parent: RawLimits,
    #[serde(default)]
    staff: RawLimits,
    #[serde(default)]
    structure: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordLimits {
    pupil_classes: Option<usize>,
    pupil_groups: Option<usize>,
    parents_per_pupil: Option<usize>,
    pupils_per_parent: Option<usize>,
    staff_classes: Option<usize>,
    staff_groups: Option<usize>,
    staff_functions: Option<usize>,
    structures_per_person: Option<usize>,
}

fn record_limits(raw: &RawRecordLimits) -> crate::mapping::limits::RecordLimits {
    let d = crate::mapping::limits::RecordLimits::default();
    crate::mapping::limits::RecordLimits {
        pupil_classes: raw.pupil_classes.unwrap_or(d.pupil_classes),
        pupil_groups: raw.pupil_groups.unwrap_or(d.pupil_groups),
        parents_per_pupil: raw.parents_per_pupil.unwrap_or(d.parents_per_pupil),
        pupils_per_parent: raw.pupils_per_parent.unwrap_or(d.pupils_per_parent),
        staff_classes: raw.staff_classes.unwrap_or(d.staff_classes),
        staff_groups: raw.staff_groups.unwrap_or(d.staff_groups),
        staff_functions: raw.staff_functions.unwrap_or(d.staff_functions),
        structures_per_person: raw.structures_per_person.unwrap_or(d.structures_per_person),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_departures: Option<u64>,
    max_departures_percent: Option<f64>,
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

fn percent(v: f64, key: &'static str) -> Result<f64, ConfigError> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(
            key,
            format!("{v}: expected a percentage, 0 to 100"),
        ))
    }
}

fn safety(raw: &RawSafety) -> Result<crate::safety::Safety, ConfigError> {
    use crate::safety::{Limits, Safety};
    let d = Safety::default();
    let people = Limits {
        max_count: raw.max_departures.unwrap_or(d.pupil.max_count),
        max_percent: percent(
            raw.max_departures_percent.unwrap_or(d.pupil.max_percent),
            "safety.max_departures_percent",
        )?,
    };
    let limits = |r: &RawLimits, base: Limits, key| -> Result<Limits, ConfigError> {
        Ok(Limits {
            max_count: r.max_departures.unwrap_or(base.max_count),
            max_percent: percent(r.max_departures_percent.unwrap_or(base.max_percent), key)?,
        })
    };
    let ratio = raw.complet_min_ratio.unwrap_or(d.complet_min_ratio);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(invalid(
            "safety.complet_min_ratio",
            format!("{ratio}: expected 0 to 1"),
        ));
    }
    Ok(Safety {
        pupil: limits(&raw.pupil, people, "safety.pupil.max_departures_percent")?,
        parent: limits(&raw.parent, people, "safety.parent.max_departures_percent")?,
        staff: limits(&raw.staff, people, "safety.staff.max_departures_percent")?,
        structure: limits(
            &raw.structure,
            d.structure,
            "safety.structure.max_departures_percent",
        )?,
        percent_floor: raw.percent_floor.unwrap_or(d.percent_floor),
        school_year_percent: percent(
            raw.school_year_percent.unwrap_or(d.school_year_percent),
            "safety.school_year_percent",
        )?,
        complet_min_ratio: ratio,
        guard_floor: raw.guard_floor.unwrap_or(d.guard_floor),
        renames: Limits {
            max_count: raw.max_renames.unwrap_or(d.renames.max_count),
            max_percent: percent(
                raw.max_renames_percent.unwrap_or(d.renames.max_percent),
                "safety.max_renames_percent",
            )?,
        },
        max_modified_percent: percent(
            raw.max_modified_percent.unwrap_or(d.max_modified_percent),
            "safety.max_modified_percent",
        )?,
        group_deletions: Limits {
            max_count: raw
                .max_group_deletions
                .unwrap_or(d.group_deletions.max_count),
            max_percent: percent(
                raw.max_group_deletions_percent
                    .unwrap_or(d.group_deletions.max_percent),
                "safety.max_group_deletions_percent",
            )?,
        },
        group_additions: Limits {
            max_count: raw
                .max_group_additions
                .unwrap_or(d.group_additions.max_count),
            max_percent: percent(
                raw.max_group_additions_percent
                    .unwrap_or(d.group_additions.max_percent),
                "safety.max_group_additions_percent",
            )?,
        },
        max_additions_percent: {
            let v = raw.max_additions_percent.unwrap_or(d.max_additions_percent);
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    "safety.max_additions_percent",
                    format!("{v}: expected a percentage (may be above 100)"),
                ));
            }
            v
        },
        max_rejected_percent: percent(
            raw.max_rejected_percent.unwrap_or(d.max_rejected_percent),
            "safety.max_rejected_percent",
        )?,
    })
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
struct RawFetch {
    host: String,
    #[serde(default = "d_ssh_port")]
    port: u16,
    user: String,
    private_key_file: PathBuf,
    passphrase_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    host_key_fingerprint: Option<String>,
    #[serde(default = "d_remote_dir")]
    remote_dir: String,
    #[serde(default = "d_pattern")]
    pattern: String,
    #[serde(default = "d_remote_delete")]
    remote_delete: String,
    #[serde(default = "d_fetch_timeout")]
    timeout_secs: u64,
}
fn d_ssh_port() -> u16 {
    22
}
fn d_remote_dir() -> String {
    ".".into()
}
fn d_pattern() -> String {
    "*".into()
}
fn d_remote_delete() -> String {
    "never".into()
}
fn d_fetch_timeout() -> u64 {
    60
}

/// Checks the permissions of a file holding a secret (a password, a
/// passphrase, a private key), as ssh does for keys: readable by everyone
/// is refused; readable or writable by the group gets a warning. `key`
/// names the setting in the warning.
pub fn check_secret_file(path: &Path, key: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} is readable by everyone (mode {mode:04o}): a secret must be private; chmod 600 it",
            path.display()
        ));
    }
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:04o}"),
            "{key}: the file is accessible to its group: a secret should be private (chmod 600)"
        );
    }
    Ok(())
}

/// A secret: the environment variable `env` when set (the environment
/// overrides the configuration, as for every key), else the first line of
/// `file` (a private file, see [`check_secret_file`]), else none. For the
/// LDAP password, see [`password`]: an empty one, or one with spaces
/// around it, is refused with a message naming where it came from (slapd
/// answers the first with an anonymous bind's `unwillingToPerform` and the
/// second with `invalidCredentials`, neither of which says what to fix).
/// An SSH key's passphrase may be anything, empty included.
fn secret(
    file: Option<&Path>,
    env: &'static str,
    key: &'static str,
) -> Result<Option<String>, ConfigError> {
    if let Some(v) = std::env::var_os(env) {
        let v = v
            .into_string()
            .map_err(|_| invalid(env, "is not valid UTF-8".to_string()))?;
        return Ok(Some(v));
    }
    let Some(p) = file else {
        return Ok(None);
    };
    check_secret_file(p, key).map_err(|reason| invalid(key, reason))?;
    let text = std::fs::read_to_string(p)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", p.display())))?;
    Ok(Some(text.lines().next().unwrap_or("").to_string()))
}

/// The LDAP password: [`secret`], refused when it cannot be right.
fn password(
    file: Option<&Path>,
    env: &'static str,
    key: &'static str,
) -> Result<Option<String>, ConfigError> {
    let Some(v) = secret(file, env, key)? else {
        return Ok(None);
    };
    if std::env::var_os(env).is_some() {
        return usable_secret(v, env, "the environment variable").map(Some);
    }
    let from = file.map_or(String::new(), |p| {
        format!("the first line of {}", p.display())
    });
    usable_secret(v, key, &from).map(Some)
}

/// `v` when it can be a secret; `what` says where it was read.
fn usable_secret(v: String, key: &'static str, what: &str) -> Result<String, ConfigError> {
    if v.is_empty() {
        return Err(invalid(
            key,
            format!("{what} is empty: write the secret there (an empty password would bind anonymously)"),
        ));
    }
    if v.trim() != v {
        return Err(invalid(
            key,
            format!("{what} begins or ends with a space or a tab: remove it (a secret with spaces around it is refused, they are almost always a copy-paste slip)"),
        ));
    }
    Ok(v)
}

/// Environment variable holding the SFTP key's passphrase.
pub const PASSPHRASE_ENV: &str = "AAF_SYNC_SFTP_PASSPHRASE";

fn fetch_config(raw: RawFetch) -> Result<FetchConfig, ConfigError> {
    if raw.known_hosts_file.is_none() && raw.host_key_fingerprint.is_none() {
        return Err(invalid(
            "fetch.known_hosts_file",
            "pin the server's host key: set known_hosts_file or host_key_fingerprint",
        ));
    }
    if let Some(f) = &raw.host_key_fingerprint {
        if !f.starts_with("SHA256:") {
            return Err(invalid(
                "fetch.host_key_fingerprint",
                "expected SHA256:<base64>, as `ssh-keygen -lf` prints it",
            ));
        }
    }
    let remote_delete = match raw.remote_delete.as_str() {
        "never" => RemoteDelete::Never,
        "after_download" => RemoteDelete::AfterDownload,
        "after_import" => RemoteDelete::AfterImport,
        other => {
            return Err(invalid(
                "fetch.remote_delete",
                format!("{other:?}: expected never, after_download or after_import"),
            ))
        }
    };
    let passphrase = secret(
        raw.passphrase_file.as_deref(),
        PASSPHRASE_ENV,
        "fetch.passphrase_file",
    )?;
    if raw.host.trim().is_empty() || raw.user.trim().is_empty() || raw.timeout_secs == 0 {
        return Err(invalid("fetch", "host, user and timeout_secs must be set"));
    }
    Ok(FetchConfig {
        host: raw.host,
        port: raw.port,
        user: raw.user,
        private_key_file: raw.private_key_file,
        passphrase,
        known_hosts_file: raw.known_hosts_file,
        host_key_fingerprint: raw.host_key_fingerprint,
        remote_dir: raw.remote_dir,
        pattern: raw.pattern,
        remote_delete,
        timeout_secs: raw.timeout_secs,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    /// `MM-DD`.
    school_year_start: Option<String>,
    /// Move disabled people under `ou=departed` (default true).
    departed_branch: Option<bool>,
    #[serde(default)]
    pupil: RawRule,
    #[serde(default)]
    parent: RawRule,
    #[serde(default)]
    staff: RawRule,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    grace_days: Option<u32>,
    end_of_year: Option<bool>,
    disable: Option<bool>,
}

/// Longest grace accepted: a year. Anything longer is a typo, and keeping a
/// departed person's data longer would break the conventions (spec §7).
const MAX_GRACE_DAYS: u32 = 366;

fn rule(raw: &RawRule, default: Rule, key: &'static str) -> Result<Rule, ConfigError> {
    let grace_days = raw.grace_days.unwrap_or(default.grace_days);
    if grace_days > MAX_GRACE_DAYS {
        return Err(invalid(
            key,
            format!("grace_days {grace_days} is more than {MAX_GRACE_DAYS}"),
        ));
    }
    Ok(Rule {
        grace_days,
        end_of_year: raw.end_of_year.unwrap_or(default.end_of_year),
        disable: raw.disable.unwrap_or(default.disable),
    })
}

fn retention_rules(raw: &RawRetention) -> Result<Rules, ConfigError> {
    let d = Rules::default();
    let school_year_start = match &raw.school_year_start {
        None => d.school_year_start,
        Some(s) => {
            let bad = || {
                invalid(
                    "retention.school_year_start",
                    format!("{s:?}: expected MM-DD"),
                )
            };
            let (m, day) = s.trim().split_once('-').ok_or_else(bad)?;
            let m: u8 = m.parse().map_err(|_| bad())?;
            let day: u8 = day.parse().map_err(|_| bad())?;
            let month = time::Month::try_from(m).map_err(|_| bad())?;
            // a day every year has (no 29 February)
            time::Date::from_calendar_date(2025, month, day).map_err(|_| bad())?;
            (month, day)
        }
    };
    Ok(Rules {
        pupil: rule(&raw.pupil, d.pupil, "retention.pupil")?,
        parent: rule(&raw.parent, d.parent, "retention.parent")?,
        staff: rule(&raw.staff, d.staff, "retention.staff")?,
        school_year_start,
        move_departed: raw.departed_branch.unwrap_or(d.move_departed),
    })
}

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
struct RawLdap {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    #[serde(default = "d_encoding")]
    encoding: String,
    /// Adopt the entries of this source an existing tree holds (matched by
    /// jointure) instead of leaving them alone.
    adopt: Option<bool>,
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
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub ldap: LdapConfig,
    /// Source name, prefix of every jointure (`AC-CRETEIL`).
    pub source: String,
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

/// When fetched files are deleted on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteDelete {
    Never,
    AfterDownload,
    AfterImport,
}

/// Validated SFTP settings.
#[derive(Clone)]
pub struct FetchConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub private_key_file: PathBuf,
    pub passphrase: Option<String>,
    pub known_hosts_file: Option<PathBuf>,
    /// `SHA256:<base64>` of the server's host key.
    pub host_key_fingerprint: Option<String>,
    pub remote_dir: String,
    /// File-name pattern (`*` and `?`) of the files to fetch.
    pub pattern: String,
    pub remote_delete: RemoteDelete,
    pub timeout_secs: u64,
}

impl std::fmt::Debug for FetchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the passphrase
        f.debug_struct("FetchConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("remote_dir", &self.remote_dir)
            .finish_non_exhaustive()
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
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

fn valid_uai(u: &str) -> bool {
    u.len() == 8
        && u[..7].bytes().all(|b| b.is_ascii_digit())
        && u.as_bytes()[7].is_ascii_alphabetic()
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

    fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let l = raw.ldap;
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
                    .map_err(|e| invalid(key, e))?;
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
        let retention = retention_rules(&raw.retention)?;
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
        let fetch = raw.fetch.map(fetch_config).transpose()?;
        Ok(Config {
            ldap: LdapConfig {
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
            },
            source,
            encoding,
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
            safety: safety(&raw.safety)?,
            record_limits: record_limits(&raw.safety.record),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, body).unwrap();
        p
    }

    /// A password file with `mode`.
    fn pw_file(dir: &Path, body: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("pw");
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn secret_files_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let pw = pw_file(d.path(), "s3cret\n", 0o644);
        let body = OK.replace("PW", pw.to_str().unwrap());
        let e = Config::load(&write(d.path(), &body))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ldap.bind_password_file")
                && e.contains("readable by everyone (mode 0644)")
                && !e.contains("s3cret"),
            "{e}"
        );
        // the group: a warning, accepted; private: accepted
        for mode in [0o640, 0o600, 0o400] {
            pw_file(d.path(), "s3cret\n", mode);
            let c = Config::load(&write(d.path(), &body)).unwrap();
            assert_eq!(c.ldap.bind_password.as_deref(), Some("s3cret"));
        }
    }

    const OK: &str = r#"
[ldap]
url = "ldap://127.0.0.1:3890"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password_file = "PW"
base_dn = "dc=example,dc=org"
[source]
name = "AC-CRETEIL"
[perimeter]
uai = ["0920484b", "0921262X"]
[paths]
work_dir = "/tmp/x"
"#;

    #[test]
    fn loads_and_validates() {
        let d = tempfile::tempdir().unwrap();
        let pw = pw_file(d.path(), "s3cret\n", 0o600);
        let body = OK.replace("PW", pw.to_str().unwrap());
        let c = Config::load(&write(d.path(), &body)).unwrap();
        assert_eq!(c.ldap.bind_password.as_deref(), Some("s3cret"));
        assert_eq!(c.perimeter_uai, vec!["0920484B", "0921262X"]);
        assert_eq!(c.ldap.in_flight, 32);
        assert!(c.encoding.is_none());
    }

    #[test]
    fn refuses_unknown_keys_and_inline_password() {
        let d = tempfile::tempdir().unwrap();
        let body = OK.replace("[source]", "bind_password = \"x\"\n[source]");
        let e = Config::load(&write(d.path(), &body))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind_password"), "{e}");
    }

    #[test]
    fn refuses_cleartext_to_remote_and_bad_uai() {
        let d = tempfile::tempdir().unwrap();
        let pw = pw_file(d.path(), "x", 0o600);
        let body = OK.replace("PW", pw.to_str().unwrap());
        let e = Config::load(&write(
            d.path(),
            &body.replace("127.0.0.1", "ldap.example.org"),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("ldap.url"), "{e}");
        let e = Config::load(&write(d.path(), &body.replace("0921262X", "12")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("perimeter.uai"), "{e}");
        let e = Config::load(&write(d.path(), &OK.replace("PW", "/nonexistent")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /nonexistent"), "{e}");
    }

    #[test]
    fn retention_defaults_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let pw = pw_file(d.path(), "x", 0o600);
        let body = OK.replace("PW", pw.to_str().unwrap());
        let c = Config::load(&write(d.path(), &body)).unwrap();
        assert_eq!(c.retention, Rules::default());
        let more = format!(
            "{body}[retention]\nschool_year_start = \"08-25\"\n[retention.staff]\ngrace_days = 7\n"
        );
        let c = Config::load(&write(d.path(), &more)).unwrap();
        assert_eq!(c.retention.staff.grace_days, 7);
        assert!(c.retention.staff.disable);
        assert_eq!(c.retention.school_year_start, (time::Month::August, 25));
        let e = Config::load(&write(d.path(), &more.replace("08-25", "02-30")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention.school_year_start"), "{e}");
        let e = Config::load(&write(d.path(), &more.replace("= 7", "= 4000")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention.staff"), "{e}");
    }

    #[test]
    fn providers_as_a_list_or_one_url_and_a_consumer() {
        let d = tempfile::tempdir().unwrap();
        let pw = pw_file(d.path(), "x", 0o600);
        let body = OK.replace("PW", pw.to_str().unwrap());
        // one URL, as before: no failover, no consumer
        let c = Config::load(&write(d.path(), &body)).unwrap();
        assert_eq!(c.ldap.url, "ldap://127.0.0.1:3890");
        assert!(c.ldap.failover_urls.is_empty() && c.ldap.read_url.is_none());
        assert!(!c.ldap.replicated());
        assert_eq!(
            (c.ldap.read_wait_secs, c.lock.replication_wait_secs),
            (5, 30)
        );
        // a list: the first is the designated provider
        let list = body.replace(
            "url = \"ldap://127.0.0.1:3890\"",
            "url = [\"ldap://127.0.0.1:3890\", \"ldaps://ldap2.example.org\"]\nread_url = \"ldap://[::1]:3892\"\nread_wait_secs = 2",
        );
        let c = Config::load(&write(d.path(), &list)).unwrap();
        assert_eq!(c.ldap.url, "ldap://127.0.0.1:3890");
        assert_eq!(c.ldap.failover_urls, vec!["ldaps://ldap2.example.org"]);
        assert_eq!(c.ldap.read_url.as_deref(), Some("ldap://[::1]:3892"));
        assert_eq!(c.ldap.read_wait_secs, 2);
        assert!(c.ldap.replicated());
        let all: Vec<&str> = c.ldap.providers().collect();
        assert_eq!(all, ["ldap://127.0.0.1:3890", "ldaps://ldap2.example.org"]);
        let one = c.ldap.only("ldaps://ldap2.example.org");
        assert_eq!(one.url, "ldaps://ldap2.example.org");
        assert!(!one.replicated());
        // every URL is checked, the consumer's too; none twice; not empty
        for (bad, key) in [
            (
                "url = [\"ldap://127.0.0.1:3890\", \"ldap://ldap2.example.org\"]",
                "plain ldap:// to a non-loopback server",
            ),
            (
                "url = \"ldap://127.0.0.1:3890\"\nread_url = \"ldap://replica.example.org\"",
                "ldap.read_url",
            ),
            (
                "url = [\"ldap://127.0.0.1:3890\", \"LDAP://127.0.0.1:3890/\"]",
                "listed twice",
            ),
            ("url = []", "no URL"),
            ("url = [\"http://x\"]", "must start with ldap://"),
        ] {
            let text = body.replace("url = \"ldap://127.0.0.1:3890\"", bad);
            let e = Config::load(&write(d.path(), &text))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn local_urls() {
        assert!(is_local_url("ldap://127.0.0.1:389"));
        assert!(is_local_url("ldap://localhost"));
        assert!(is_local_url("ldap://[::1]:389/"));
        assert!(is_local_url("ldapi://%2Frun%2Fslapd"));
        assert!(!is_local_url("ldap://10.0.0.1"));
    }
}
