//! Finding the person a request names (by jointure, login or DN, wherever
//! the sync keeps them: `ou=people`, the departed branch, adopted entries
//! anywhere under the base) and gathering the entries linked to them.

use super::{SubjectError, Who};
use crate::ldap::{escape_filter, Directory};
use crate::mapping::{self, layout::Layout};
use crate::model::{dn_key, Dn, Entry};
use crate::schema::{self, ATTR_HOME, ATTR_SOURCE, STATE_CLASS};

/// The filter finding the entries that refer to `dn`.
pub fn referring_filter(dn: &Dn) -> String {
    let v = escape_filter(dn.as_str());
    let mut f = String::from("(|");
    for a in mapping::DN_VALUED {
        f.push_str(&format!("({a}={v})"));
    }
    f.push(')');
    f
}

/// The filter of the source's managed people (`aafSyncState`, this
/// source), without its closing parenthesis: a condition follows.
fn managed_people(layout: &Layout) -> String {
    format!(
        "(&(objectClass={})({}={})(objectClass=ENTPerson)",
        STATE_CLASS,
        ATTR_SOURCE,
        escape_filter(&layout.source)
    )
}

/// The filter finding the managed person a DN names: the entry itself, the
/// departed entry whose DN of origin it is (`aafSyncHome`, an adopted
/// entry), or the layout's departed DN of a person of `ou=people` (same
/// RDN under `ou=departed`): an operator may quote the DN a person had
/// before they left.
pub(super) fn dn_filter(layout: &Layout, dn: &str) -> String {
    let v = escape_filter(dn);
    let mut f = format!(
        "{}(|(entryDN={v})({}={v})",
        managed_people(layout),
        ATTR_HOME
    );
    let rdn = schema::rdn_of(dn);
    let parent = dn.get(rdn.len()..).unwrap_or_default();
    if !rdn.is_empty() && dn_key(parent.trim_start_matches(',')) == layout.people.key() {
        let away = format!("{rdn},{}", layout.departed);
        f.push_str(&format!("(entryDN={})", escape_filter(&away)));
    }
    f.push_str("))");
    f
}

/// Finds the managed person `who` names, wherever the sync keeps them:
/// `ou=people`, the departed branch, or an adopted DN anywhere under the
/// base. The whole base is searched by jointure, login or DN (never a DN
/// built from the id): a departed person's data is still there until their
/// deadline, and a request about them must reach it.
pub async fn find(dir: &Directory, layout: &Layout, who: &Who) -> Result<Entry, SubjectError> {
    let managed = managed_people(layout);
    let (found, what) = match who {
        Who::Jointure(j) => {
            let j = if j.contains('$') {
                j.clone()
            } else {
                layout.jointure(j)
            };
            let f = format!("{managed}(ENTPersonJointure={}))", escape_filter(&j));
            (dir.search(&layout.base, &f, &["*"]).await?, "jointure")
        }
        Who::Login(l) => {
            let l = escape_filter(l);
            let f = format!("{managed}(ENTPersonLogin={l}))");
            let mut found = dir.search(&layout.base, &f, &["*"]).await?;
            if found.is_empty() {
                // an adopted tree may know its people by `uid` alone
                let f = format!("{managed}(uid={l}))");
                found = dir.search(&layout.base, &f, &["*"]).await?;
            }
            (found, "login")
        }
        Who::Dn(d) if d.contains(crate::mapping::layout::PSEUDONYM_MARK) => {
            // a pseudonym read in a log or a report: the managed people
            // whose DN is written so
            let all = dir
                .search(&layout.base, &format!("{managed})"), &["1.1"])
                .await?;
            let mut found = Vec::new();
            for e in all.iter().filter(|e| layout.loggable_matches(&e.dn, d)) {
                found.extend(dir.read_entry(&e.dn).await?);
            }
            (found, "DN")
        }
        Who::Dn(d) => match dir
            .search(&layout.base, &dn_filter(layout, d), &["*"])
            .await
        {
            Ok(v) => (v, "DN"),
            // not a DN the server can read
            Err(_) => (Vec::new(), "DN"),
        },
    };
    let n = found.len();
    let mut found = found.into_iter();
    match (found.next(), n) {
        (Some(e), 1) => Ok(e),
        (_, 0) | (None, _) => Err(SubjectError::Unknown(format!(
            "no person of source {} with that {what} under {} (people, departed people, \
             adopted entries): nothing exported or erased",
            layout.source, layout.base
        ))),
        _ => Err(SubjectError::Unknown(format!(
            "{n} people match that {what}: name one by --jointure or --dn"
        ))),
    }
}

/// Reads what an export or an erasure needs: the person and the entries
/// they refer to or that refer to them.
pub async fn gather(
    dir: &Directory,
    layout: &Layout,
    who: &Who,
) -> Result<(Entry, Vec<Entry>), SubjectError> {
    let person = find(dir, layout, who).await?;
    let mut related = dir
        .search(&layout.base, &referring_filter(&person.dn), &["*"])
        .await?;
    let mut wanted: Vec<String> = mapping::DN_VALUED
        .iter()
        .flat_map(|a| person.get(a).unwrap_or_default().to_vec())
        .collect();
    // structures of the classes and groups
    for e in &related {
        wanted.extend(e.get("aafSyncStructure").unwrap_or_default().to_vec());
    }
    wanted.sort_by_key(|d| dn_key(d));
    wanted.dedup_by_key(|d| dn_key(d));
    for d in wanted {
        if related.iter().any(|e| e.dn.key() == dn_key(&d)) {
            continue;
        }
        if let Some(e) = dir.read_entry(&Dn::new(d)).await? {
            related.push(e);
        }
    }
    Ok((person, related))
}
