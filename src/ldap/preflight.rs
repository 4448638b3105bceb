//! The checks every command makes of the directory first: the base is
//! there and held by this server, the sync's schema is loaded, the bind can
//! move passwords; and the subschema read for the mapping.

use super::passwords::PASSWORD;
use super::{escape_filter, op_err, Directory, DirectoryError, ResultCode};
use crate::mapping::layout::{log_dn, Layout};
use crate::model::{dn_key, Dn};
use crate::schema;
use ldap3::{Mod, Scope, SearchEntry};
use std::collections::HashSet;

/// What [`Directory::password_access`] found on a managed person.
#[derive(Debug)]
pub struct PasswordAccess {
    pub dn: Dn,
    /// `userPassword` came back with the entry (false: no value, or hidden).
    pub read: bool,
    /// `userPassword` and `aafSyncSavedPassword` may be written.
    pub write: bool,
}

impl Directory {
    /// The directory's schema: the subschema entry the base names
    /// (`subschemaSubentry`), read whole.
    pub async fn read_schema(
        &self,
        base: &Dn,
    ) -> Result<crate::mapping::subschema::DirSchema, DirectoryError> {
        let mut l = self.conn(0).await;
        let sub = match l
            .search(
                base.as_str(),
                Scope::Base,
                "(objectClass=*)",
                vec!["subschemaSubentry"],
            )
            .await
            .and_then(|r| r.success())
        {
            Ok((rs, _)) => rs
                .into_iter()
                .map(SearchEntry::construct)
                .find_map(|e| {
                    e.attrs
                        .into_iter()
                        .find(|(a, _)| a.eq_ignore_ascii_case("subschemaSubentry"))
                        .and_then(|(_, v)| v.into_iter().next())
                })
                .unwrap_or_else(|| "cn=Subschema".to_string()),
            Err(_) => "cn=Subschema".to_string(),
        };
        let (entries, _) = l
            .search(
                &sub,
                Scope::Base,
                "(objectClass=*)",
                vec!["objectClasses", "attributeTypes"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err(format!("read {sub}"), e))?;
        let mut classes = Vec::new();
        let mut types = Vec::new();
        for e in entries.into_iter().map(SearchEntry::construct) {
            for (a, vs) in e.attrs {
                if a.eq_ignore_ascii_case("objectClasses") {
                    classes.extend(vs);
                } else if a.eq_ignore_ascii_case("attributeTypes") {
                    types.extend(vs);
                }
            }
        }
        Ok(crate::mapping::subschema::DirSchema::parse(
            classes.iter().map(String::as_str),
            types.iter().map(String::as_str),
        ))
    }

    /// Checks that the directory knows the project's schema.
    /// What every command checks first (see `run::preflight`): the
    /// server holds the base, the base exists, the sync's schema is loaded.
    pub async fn preflight(&self, layout: &Layout) -> Result<(), DirectoryError> {
        self.base_present(&layout.base).await?;
        self.check_schema().await
    }

    /// The base exists; when it does not, whether it is missing from a
    /// suffix this server holds (create it) or outside every suffix (the
    /// server answers "no global superior knowledge": a wrong `base_dn`).
    async fn base_present(&self, base: &Dn) -> Result<(), DirectoryError> {
        if self.exists(base).await.unwrap_or(false) {
            return Ok(());
        }
        let contexts = self.naming_contexts().await.unwrap_or_default();
        let key = base.key();
        let held = contexts.iter().any(|c| {
            let c = dn_key(c);
            key == c || key.ends_with(&format!(",{c}"))
        });
        if held || contexts.is_empty() {
            return Err(op_err(
                format!("base {}", base),
                "does not exist: create it first (docs/operations.md, \"Daily operation\", step 1); \
                 the sync creates the branches under it, not the base itself",
            ));
        }
        Err(op_err(
            format!("base {}", base),
            format!(
                "is not held by this server: its naming contexts are {}; \
                 set [ldap] base_dn to one of them or to an entry under one",
                contexts.join(", ")
            ),
        ))
    }

    /// Whether this bind can move passwords as departures and returns do
    /// (read `userPassword`; write it and `aafSyncSavedPassword`), tried on
    /// a managed person without changing anything: a delete of a value no
    /// entry has is refused for access (50) before it is found missing
    /// (16). `None`: no managed person to try it on yet.
    pub async fn password_access(
        &self,
        layout: &Layout,
    ) -> Result<Option<PasswordAccess>, DirectoryError> {
        let managed = format!(
            "(&(objectClass=ENTPerson)(objectClass=aafSyncState)(aafSyncSource={}))",
            escape_filter(&layout.source)
        );
        let mut found = None;
        for filter in [format!("(&{managed}(userPassword=*))"), managed] {
            let mut l = self.conn(0).await;
            let r = l
                .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                .search(
                    layout.base.as_str(),
                    Scope::Subtree,
                    &filter,
                    vec![PASSWORD],
                )
                .await
                .map_err(|e| op_err("read a managed person", e))?;
            let ldap3::SearchResult(entries, res) = r;
            if !matches!(
                ResultCode(res.rc),
                ResultCode::SUCCESS | ResultCode::SIZE_LIMIT_EXCEEDED
            ) {
                return Err(op_err(
                    "read a managed person",
                    ldap3::LdapError::LdapResult { result: res },
                ));
            }
            if let Some(e) = entries.into_iter().next() {
                let e = SearchEntry::construct(e);
                let read = e.attrs.contains_key(PASSWORD) || e.bin_attrs.contains_key(PASSWORD);
                found = Some((Dn::new(e.dn), read));
                break;
            }
        }
        let Some((dn, read)) = found else {
            return Ok(None);
        };
        let nonce = format!("aaf-sync check {}", std::process::id()).into_bytes();
        let probe = |a: &str| Mod::Delete(a.as_bytes().to_vec(), HashSet::from([nonce.clone()]));
        let mut l = self.conn(0).await;
        let res = l
            .modify(
                dn.as_str(),
                vec![probe(schema::ATTR_SAVED_PASSWORD), probe(PASSWORD)],
            )
            .await
            .map_err(|e| op_err(format!("try {}", log_dn(dn.as_str())), e).at(&dn))?;
        let write = match ResultCode(res.rc) {
            ResultCode::NO_SUCH_ATTRIBUTE | ResultCode::SUCCESS => true,
            ResultCode::INSUFFICIENT_ACCESS_RIGHTS => false,
            _ => {
                return Err(op_err(
                    format!("try {}", log_dn(dn.as_str())),
                    ldap3::LdapError::LdapResult { result: res },
                ))
            }
        };
        Ok(Some(PasswordAccess { dn, read, write }))
    }

    /// The server's naming contexts (root DSE), its suffixes.
    async fn naming_contexts(&self) -> Result<Vec<String>, DirectoryError> {
        let mut l = self.conn(0).await;
        let (entries, _) = l
            .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err("read the root DSE", e))?;
        Ok(entries
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .collect())
    }

    pub async fn check_schema(&self) -> Result<(), DirectoryError> {
        let mut l = self.conn(0).await;
        let (entries, _) = l
            .search(
                "cn=Subschema",
                Scope::Base,
                "(objectClass=*)",
                vec!["objectClasses", "attributeTypes"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| op_err("read cn=Subschema", e))?;
        let defs: Vec<String> = entries
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_values().flatten())
            .collect();
        let has = |name: &str| defs.iter().any(|v| v.contains(&format!("'{name}'")));
        if !has("aafSyncState") {
            return Err(op_err(
                "schema",
                "object class aafSyncState unknown: load schema/*.ldif (or *.schema) into slapd",
            ));
        }
        // the newest definitions of this version: an older schema loaded
        for (class, attr) in [
            ("aafSyncControl", "aafSyncNotInStep"),
            ("aafSyncState", "aafSyncHome"),
        ] {
            if !defs
                .iter()
                .any(|v| v.contains(&format!("'{class}'")) && v.contains(attr))
            {
                return Err(op_err(
                    "schema",
                    format!(
                        "the aaf-sync schema loaded in slapd is older than this version ({class} lacks {attr}): \
                         reload schema/20-aaf-sync.ldif (docs/schema.md, \"Schema\": upgrading)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
