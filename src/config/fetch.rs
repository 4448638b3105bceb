//! The `[fetch]` section: where extractions are fetched from by SFTP, the
//! server's pinned host key, and when fetched files are deleted there.

use super::secrets::{secret, PASSPHRASE_ENV};
use super::{invalid, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFetch {
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

/// The validated `[fetch]` section.
pub(super) fn validate(raw: RawFetch) -> Result<FetchConfig, ConfigError> {
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
