//! Secrets: the LDAP bind password and the SFTP key's passphrase. They
//! never come from the TOML text: the environment variable wins when set
//! (as for every key), else the first line of a private file. A file
//! readable by everyone is refused, as ssh refuses such a key.

use super::{invalid, ConfigError};
use std::path::{Path, PathBuf};

/// Environment variable holding the LDAP bind password.
pub const PASSWORD_ENV: &str = "AAF_SYNC_LDAP_PASSWORD";

/// Environment variable holding the SFTP key's passphrase.
pub const PASSPHRASE_ENV: &str = "AAF_SYNC_SFTP_PASSPHRASE";

/// A file holding a secret that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is readable by everyone (mode {mode:04o}): a secret must be private; chmod 600 it", path.display())]
    Public { path: PathBuf, mode: u32 },
}

/// Checks the permissions of a file holding a secret (a password, a
/// passphrase, a private key), as ssh does for keys: readable by everyone
/// is refused; readable or writable by the group gets a warning. `key`
/// names the setting in the warning.
pub fn check_secret_file(path: &Path, key: &str) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| SecretFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o004 != 0 {
        return Err(SecretFileError::Public {
            path: path.to_path_buf(),
            mode,
        });
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
pub(super) fn secret(
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
    check_secret_file(p, key).map_err(|e| invalid(key, e.to_string()))?;
    let text = std::fs::read_to_string(p)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", p.display())))?;
    Ok(Some(text.lines().next().unwrap_or("").to_string()))
}

/// The LDAP password: [`secret`], refused when it cannot be right.
pub(super) fn password(
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
