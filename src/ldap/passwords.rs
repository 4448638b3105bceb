//! Passwords a departure moves aside and a return moves back: read as
//! bytes (octet string syntax), for the writes and for an LDIF.

use super::{op_err, Directory, DirectoryError, ResultCode};
use crate::mapping::layout::log_dn;
use crate::model::plan::{AttrChange, Change, Plan};
use crate::model::Dn;
use crate::schema;
use ldap3::{Ldap, Scope, SearchEntry};
use std::collections::HashSet;

/// The values of `userPassword` and `aafSyncSavedPassword` of one entry, as
/// bytes (hashes are usually ASCII but the syntax is octet string).
pub(crate) async fn read_passwords(
    ldap: &mut Ldap,
    dn: &str,
) -> Result<(HashSet<Vec<u8>>, HashSet<Vec<u8>>), ldap3::LdapError> {
    let (rs, _) = ldap
        .search(
            dn,
            Scope::Base,
            "(objectClass=*)",
            vec![PASSWORD, schema::ATTR_SAVED_PASSWORD],
        )
        .await
        .and_then(|r| r.success())?;
    let mut user = HashSet::new();
    let mut saved = HashSet::new();
    for re in rs {
        let se = SearchEntry::construct(re);
        let text = se.attrs.into_iter().map(|(a, vs)| {
            (
                a,
                vs.into_iter().map(String::into_bytes).collect::<Vec<_>>(),
            )
        });
        for (a, vs) in text.chain(se.bin_attrs) {
            if a.eq_ignore_ascii_case(PASSWORD) {
                user.extend(vs);
            } else if a.eq_ignore_ascii_case(schema::ATTR_SAVED_PASSWORD) {
                saved.extend(vs);
            }
        }
    }
    Ok((user, saved))
}

pub(super) const PASSWORD: &str = "userPassword";

impl Directory {
    /// The password values of the entries whose password `plans` move,
    /// for an LDIF that does the same (see [`crate::ldap::ldif::Passwords`]).
    pub async fn passwords_for<'a>(
        &self,
        plans: impl IntoIterator<Item = &'a Plan>,
    ) -> Result<crate::ldap::ldif::Passwords, DirectoryError> {
        let mut out = crate::ldap::ldif::Passwords::new();
        // an entry moved by the plan (a return from the departed branch)
        // is read where it is now
        let mut moved_from: std::collections::HashMap<String, Dn> = Default::default();
        for plan in plans {
            for p in &plan.changes {
                if let Change::Move { dn, to } = &p.change {
                    let from = moved_from.remove(&dn.key()).unwrap_or_else(|| dn.clone());
                    moved_from.insert(to.key(), from);
                    continue;
                }
                let Change::Modify { dn, changes } = &p.change else {
                    continue;
                };
                let moves = changes
                    .iter()
                    .any(|c| matches!(c, AttrChange::StashPassword | AttrChange::RestorePassword));
                if !moves || out.contains_key(&dn.key()) {
                    continue;
                }
                let mut l = self.conn(0).await;
                let at = moved_from.get(&dn.key()).unwrap_or(dn);
                let (user, saved) = match read_passwords(&mut l, at.as_str()).await {
                    Ok(p) => p,
                    // added by an earlier extraction of the same run: no
                    // password set yet
                    Err(e) if ResultCode::of(&e) == Some(ResultCode::NO_SUCH_OBJECT) => {
                        Default::default()
                    }
                    Err(e) => return Err(op_err(format!("read {}", log_dn(dn.as_str())), e).at(dn)),
                };
                let sorted = |s: HashSet<Vec<u8>>| {
                    let mut v: Vec<Vec<u8>> = s.into_iter().collect();
                    v.sort();
                    v
                };
                out.insert(dn.key(), (sorted(user), sorted(saved)));
            }
        }
        Ok(out)
    }
}
