//! Errors of the directory: what stops a run before (or instead of) any
//! write ([`DirectoryError`]), the LDAP result code it keeps when the
//! server answered ([`ResultCode`]), and how one failed operation is
//! classed for retries ([`Fault`]).

use crate::model::Dn;

/// An LDAP result code (RFC 4511, appendix A), named: the code decides
/// what a failure means (an entry already there, a value already gone, a
/// busy server), never the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResultCode(pub u32);

impl ResultCode {
    pub const SUCCESS: ResultCode = ResultCode(0);
    pub const OPERATIONS_ERROR: ResultCode = ResultCode(1);
    pub const PROTOCOL_ERROR: ResultCode = ResultCode(2);
    pub const TIME_LIMIT_EXCEEDED: ResultCode = ResultCode(3);
    pub const SIZE_LIMIT_EXCEEDED: ResultCode = ResultCode(4);
    pub const ADMIN_LIMIT_EXCEEDED: ResultCode = ResultCode(11);
    pub const NO_SUCH_ATTRIBUTE: ResultCode = ResultCode(16);
    pub const UNDEFINED_ATTRIBUTE_TYPE: ResultCode = ResultCode(17);
    pub const CONSTRAINT_VIOLATION: ResultCode = ResultCode(19);
    pub const ATTRIBUTE_OR_VALUE_EXISTS: ResultCode = ResultCode(20);
    pub const INVALID_ATTRIBUTE_SYNTAX: ResultCode = ResultCode(21);
    pub const NO_SUCH_OBJECT: ResultCode = ResultCode(32);
    pub const INVALID_DN_SYNTAX: ResultCode = ResultCode(34);
    pub const INVALID_CREDENTIALS: ResultCode = ResultCode(49);
    pub const INSUFFICIENT_ACCESS_RIGHTS: ResultCode = ResultCode(50);
    pub const BUSY: ResultCode = ResultCode(51);
    pub const UNAVAILABLE: ResultCode = ResultCode(52);
    pub const UNWILLING_TO_PERFORM: ResultCode = ResultCode(53);
    pub const NAMING_VIOLATION: ResultCode = ResultCode(64);
    pub const OBJECT_CLASS_VIOLATION: ResultCode = ResultCode(65);
    pub const NOT_ALLOWED_ON_NON_LEAF: ResultCode = ResultCode(66);
    pub const NOT_ALLOWED_ON_RDN: ResultCode = ResultCode(67);
    pub const ENTRY_ALREADY_EXISTS: ResultCode = ResultCode(68);
    pub const OTHER: ResultCode = ResultCode(80);

    /// The code the server answered with, when `e` is such an answer
    /// (not a lost connection or a timeout).
    pub fn of(e: &ldap3::LdapError) -> Option<ResultCode> {
        match e {
            ldap3::LdapError::LdapResult { result } => Some(ResultCode(result.rc)),
            _ => None,
        }
    }

    /// The server cannot serve now but may in a moment: worth a retry.
    pub fn is_transient(self) -> bool {
        matches!(self, ResultCode::BUSY | ResultCode::UNAVAILABLE)
    }

    /// The RFC 4511 name (`noSuchObject`), or `unknown`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "success",
            1 => "operationsError",
            2 => "protocolError",
            3 => "timeLimitExceeded",
            4 => "sizeLimitExceeded",
            11 => "adminLimitExceeded",
            16 => "noSuchAttribute",
            17 => "undefinedAttributeType",
            19 => "constraintViolation",
            20 => "attributeOrValueExists",
            21 => "invalidAttributeSyntax",
            32 => "noSuchObject",
            34 => "invalidDNSyntax",
            49 => "invalidCredentials",
            50 => "insufficientAccessRights",
            51 => "busy",
            52 => "unavailable",
            53 => "unwillingToPerform",
            64 => "namingViolation",
            65 => "objectClassViolation",
            66 => "notAllowedOnNonLeaf",
            67 => "notAllowedOnRDN",
            68 => "entryAlreadyExists",
            80 => "other",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Errors that stop the run before (or instead of) any write. The
/// messages are what operators read (and what tests assert on): a refusal
/// keeps ldap3's rendering of the server's answer as its reason, and the
/// code and DN beside it for the callers.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("LDAP: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// No provider of the list answers.
    #[error("LDAP: no provider answers: {0}")]
    NoProvider(String),
    /// The server refused the bind (every provider would alike).
    #[error("LDAP: bind as {dn} failed: {reason}")]
    Bind {
        dn: String,
        code: ResultCode,
        reason: String,
    },
    /// An operation failed without a verdict of the server (the
    /// connection went, the answer was malformed), or a check of the sync
    /// refused what it found.
    #[error("LDAP: {what}: {reason}")]
    Op { what: String, reason: String },
    /// The server answered an operation with an error result code. `dn`,
    /// when known, is the entry the operation was on: kept out of the
    /// message, which names it in `what` as logs may show it.
    #[error("LDAP: {what}: {reason}")]
    Refused {
        what: String,
        dn: Option<Dn>,
        code: ResultCode,
        reason: String,
    },
    #[error("LDAP: TLS CA file {path}: {reason}")]
    Tls { path: String, reason: String },
}

impl DirectoryError {
    /// The result code the server answered with, if it answered.
    pub fn code(&self) -> Option<ResultCode> {
        match self {
            DirectoryError::Bind { code, .. } | DirectoryError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The entry a refused operation was on, when known.
    pub fn dn(&self) -> Option<&Dn> {
        match self {
            DirectoryError::Refused { dn, .. } => dn.as_ref(),
            _ => None,
        }
    }

    /// Records the entry the operation was on (a refusal only).
    pub(super) fn at(mut self, entry: &Dn) -> Self {
        if let DirectoryError::Refused { dn, .. } = &mut self {
            *dn = Some(entry.clone());
        }
        self
    }
}

/// Why an operation failed, as [`op_err`] takes it: an error of ldap3
/// (its result code kept when the server answered), or a sentence.
pub(super) struct Cause {
    code: Option<ResultCode>,
    reason: String,
}

impl From<ldap3::LdapError> for Cause {
    fn from(e: ldap3::LdapError) -> Cause {
        Cause {
            code: ResultCode::of(&e),
            reason: e.to_string(),
        }
    }
}

impl From<&str> for Cause {
    fn from(s: &str) -> Cause {
        Cause {
            code: None,
            reason: s.to_string(),
        }
    }
}

impl From<String> for Cause {
    fn from(reason: String) -> Cause {
        Cause { code: None, reason }
    }
}

/// The error of operation `what` (its message: `LDAP: {what}: {reason}`),
/// a [`DirectoryError::Refused`] when the server answered with a code.
pub(super) fn op_err(what: impl Into<String>, cause: impl Into<Cause>) -> DirectoryError {
    let Cause { code, reason } = cause.into();
    let what = what.into();
    match code {
        Some(code) => DirectoryError::Refused {
            what,
            dn: None,
            code,
            reason,
        },
        None => DirectoryError::Op { what, reason },
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
            E::LdapResult { result } if ResultCode(result.rc).is_transient() => {
                Fault::Transient(E::LdapResult { result }.to_string())
            }
            e @ E::LdapResult { .. } => Fault::Permanent(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rc: u32) -> ldap3::LdapError {
        ldap3::LdapError::LdapResult {
            result: ldap3::LdapResult {
                rc,
                matched: String::new(),
                text: "why".into(),
                refs: vec![],
                ctrls: vec![],
            },
        }
    }

    #[test]
    fn names_are_those_ldap3_prints() {
        for rc in (0..=128).map(ResultCode) {
            if rc.name() != "unknown" {
                let shown = answer(rc.0).to_string();
                assert!(
                    shown.contains(&format!("rc={} ({})", rc.0, rc.name())),
                    "{shown}"
                );
            }
        }
        assert_eq!(ResultCode::NO_SUCH_OBJECT.to_string(), "noSuchObject (32)");
    }

    #[test]
    fn a_refusal_keeps_its_code_and_its_message() {
        let dn = Dn::new("uid=1,ou=people,dc=x".to_string());
        let e = op_err("read uid=1,ou=people,dc=x", answer(32)).at(&dn);
        assert_eq!(e.code(), Some(ResultCode::NO_SUCH_OBJECT));
        assert_eq!(e.dn(), Some(&dn));
        // the text operators read, as before the code was kept
        assert_eq!(
            e.to_string(),
            "LDAP: read uid=1,ou=people,dc=x: LDAP operation result: rc=32 (noSuchObject), dn: \"\", text: \"why\""
        );
        let e = op_err("schema", "object class aafSyncState unknown").at(&dn);
        assert_eq!(e.code(), None);
        assert_eq!(e.dn(), None);
        assert_eq!(
            e.to_string(),
            "LDAP: schema: object class aafSyncState unknown"
        );
        // a connection lost: no code
        assert_eq!(op_err("read", ldap3::LdapError::EndOfStream).code(), None);
    }

    #[test]
    fn busy_and_unavailable_are_retried() {
        assert!(matches!(Fault::of(answer(51)), Fault::Transient(_)));
        assert!(matches!(Fault::of(answer(52)), Fault::Transient(_)));
        assert!(matches!(Fault::of(answer(53)), Fault::Permanent(_)));
        assert!(matches!(Fault::of(answer(68)), Fault::Permanent(_)));
        assert!(matches!(
            Fault::of(ldap3::LdapError::EndOfStream),
            Fault::Connection(_)
        ));
    }
}
