//! Errors of the directory: what stops a run before (or instead of) any
//! write ([`DirectoryError`]), and how one failed operation is classed
//! for retries ([`Fault`]).

/// Errors that stop the run before (or instead of) any write.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("LDAP: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// No provider of the list answers.
    #[error("LDAP: no provider answers: {0}")]
    NoProvider(String),
    #[error("LDAP: bind as {dn} failed: {reason}")]
    Bind { dn: String, reason: String },
    #[error("LDAP: {what}: {reason}")]
    Op { what: String, reason: String },
    #[error("LDAP: TLS CA file {path}: {reason}")]
    Tls { path: String, reason: String },
}

pub(super) fn op_err(what: impl Into<String>, e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Op {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// How an operation failed.
#[derive(Debug)]
pub(super) enum Fault {
    /// The connection is gone (reset, timeout, server stopped): reconnect
    /// and retry.
    Connection(String),
    /// The server is busy or unavailable for now: retry.
    Transient(String),
    /// The server refused this operation: counted, not retried.
    Permanent(String),
}

impl Fault {
    pub(super) fn of(e: ldap3::LdapError) -> Fault {
        use ldap3::LdapError as E;
        match e {
            E::LdapResult { result } => match result.rc {
                // busy, unavailable
                51 | 52 => Fault::Transient(E::LdapResult { result }.to_string()),
                _ => Fault::Permanent(E::LdapResult { result }.to_string()),
            },
            e @ (E::Io { .. }
            | E::OpSend { .. }
            | E::ResultRecv { .. }
            | E::IdScrubSend { .. }
            | E::MiscSend { .. }
            | E::Timeout { .. }
            | E::EndOfStream) => Fault::Connection(e.to_string()),
            e => Fault::Permanent(e.to_string()),
        }
    }
    pub(super) fn message(&self) -> &str {
        match self {
            Fault::Connection(m) | Fault::Transient(m) | Fault::Permanent(m) => m,
        }
    }
}

/// Result code of a failed operation, when the server answered.
pub(super) fn rc_of(e: &ldap3::LdapError) -> Option<u32> {
    match e {
        ldap3::LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}
