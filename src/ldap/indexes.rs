//! The equality indexes the sync's searches need (docs/schema.md,
//! "Recommended indexes"), checked on the database that holds the base
//! (`olcDbIndex` in `cn=config`) when the bind may read it: without them
//! every search by login or jointure, and the read's filter, scan the
//! whole database. `check` warns, naming the attribute; it says it could
//! not verify when `cn=config` is not readable.

use super::Directory;
use crate::model::dn_key;
use ldap3::{Scope, SearchEntry};

/// Attributes the sync searches by equality (docs/schema.md): the
/// targeted read of a Delta (`targeted`) finds people by jointure, the
/// people tied to them by `ENTEleveParents`, `ENTAuxPersRelEleveEleve` and
/// `member`, classes by `cn`, and new logins among logins (and the
/// aliases of an ESCO directory, `ENTPersonAlias`, which the project's
/// schema does not define).
pub const RECOMMENDED: [&str; 8] = [
    "ENTPersonLogin",
    "ENTPersonJointure",
    "ENTStructureJointure",
    "aafSyncSource",
    "member",
    "ENTEleveParents",
    "ENTAuxPersRelEleveEleve",
    "cn",
];

/// What the check of the indexes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexes {
    /// The database of `suffix` has an equality index on each of them.
    Set { suffix: String },
    /// These have none (the database of `suffix`).
    Missing {
        suffix: String,
        attributes: Vec<&'static str>,
    },
    /// `cn=config` could not be read (why), or holds no database for the
    /// base.
    Unverified(String),
}

/// The attributes of [`RECOMMENDED`] that `olcDbIndex` values leave
/// without an equality index. A value is `attrs [types]`: attributes
/// separated by commas (`default` sets the types of a value without
/// any), types by commas (`eq`, `pres`, `sub`, `approx`).
pub fn missing_eq<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let lines: Vec<(Vec<String>, Option<Vec<String>>)> = values
        .into_iter()
        .filter_map(|v| {
            let mut parts = v.split_whitespace();
            let attrs = parts.next()?;
            let split = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            };
            Some((split(attrs), parts.next().map(split)))
        })
        .collect();
    let default: Vec<String> = lines
        .iter()
        .find(|(a, _)| a.iter().any(|x| x == "default"))
        .and_then(|(_, t)| t.clone())
        .unwrap_or_default();
    let has_eq = |types: &[String]| {
        types
            .iter()
            .any(|t| t == "eq" || t == "equality" || t.starts_with("eq"))
    };
    RECOMMENDED
        .into_iter()
        .filter(|want| {
            let want = want.to_ascii_lowercase();
            !lines.iter().any(|(attrs, types)| {
                attrs.contains(&want) && has_eq(types.as_deref().unwrap_or(&default))
            })
        })
        .collect()
}

impl Directory {
    /// The equality indexes of the database holding `base`, read from
    /// `cn=config`.
    pub async fn check_indexes(&self, base: &str) -> Indexes {
        let mut l = self.conn(0).await;
        let found = l
            .search(
                "cn=config",
                Scope::OneLevel,
                "(olcSuffix=*)",
                vec!["olcSuffix", "olcDbIndex"],
            )
            .await
            .and_then(|r| r.success());
        let entries = match found {
            Ok((rs, _)) => rs,
            Err(e) => {
                return Indexes::Unverified(format!("cn=config not readable by this bind ({e})"))
            }
        };
        let key = dn_key(base);
        let db = entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| {
                let get = |a: &str| {
                    e.attrs
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(a))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let suffix = get("olcSuffix").into_iter().find(|s| {
                    let s = dn_key(s);
                    key == s || key.ends_with(&format!(",{s}"))
                })?;
                Some((suffix, get("olcDbIndex")))
            })
            .max_by_key(|(s, _)| s.len());
        let Some((suffix, index)) = db else {
            return Indexes::Unverified(
                "cn=config shows no database holding the base (not readable by this bind?)".into(),
            );
        };
        let attributes = missing_eq(index.iter().map(String::as_str));
        match attributes.is_empty() {
            true => Indexes::Set { suffix },
            false => Indexes::Missing { suffix, attributes },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_olc_db_index_values() {
        let all = [
            "objectClass eq",
            "ENTPersonLogin,ENTPersonJointure eq,sub",
            "entstructurejointure  eq",
            "aafSyncSource pres,eq",
            "member,memberUid eq",
            "cn,uid eq",
            "ENTEleveParents,ENTAuxPersRelEleveEleve eq",
        ];
        assert!(missing_eq(all).is_empty());
        assert_eq!(
            missing_eq(["ENTPersonLogin sub", "member eq", "cn eq"]),
            [
                "ENTPersonLogin",
                "ENTPersonJointure",
                "ENTStructureJointure",
                "aafSyncSource",
                "ENTEleveParents",
                "ENTAuxPersRelEleveEleve",
            ]
        );
        // a value without types takes the default's
        assert_eq!(
            missing_eq([
                "default eq",
                "ENTPersonLogin,ENTPersonJointure,ENTStructureJointure",
                "aafSyncSource,member,cn",
                "ENTEleveParents,ENTAuxPersRelEleveEleve"
            ]),
            Vec::<&str>::new()
        );
        assert_eq!(missing_eq(["ENTPersonLogin"]).len(), RECOMMENDED.len());
    }
}
