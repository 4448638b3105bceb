//! `subject unblock`: an erasure lifted, so that the next sync may
//! recreate the person.

use super::{connect_err, SubjectError};
use crate::ldap::{Directory, DirectoryError};
use crate::mapping;
use crate::model::plan::{AttrChange, Change, Plan, Planned};
use crate::rights::erasure::{self, Erasure};
use crate::schema::EntryKind;

/// `subject unblock`: lifts the erasure of `jointure` (the next sync
/// recreates the person if the extraction carries them). Returns how many
/// records were lifted (0: none was recorded).
pub async fn unblock(cfg: &crate::config::Config, jointure: &str) -> Result<u64, SubjectError> {
    let layout = cfg.layout();
    let id = mapping::id_of_jointure(jointure, &layout.source).unwrap_or(jointure);
    let hash = erasure::id_hash(&layout.source, id);
    let dir = Directory::connect_n(&cfg.ldap, 1)
        .await
        .map_err(connect_err)?;
    let dn = erasure::erasures_dn(&layout);
    let current = dir.read_entry(&dn).await?;
    let values: Vec<String> = current
        .as_ref()
        .and_then(|e| e.get(erasure::ATTR_ERASED))
        .unwrap_or_default()
        .iter()
        .filter(|v| Erasure::parse(v).is_some_and(|x| x.hash == hash))
        .map(str::to_string)
        .collect();
    let n = values.len() as u64;
    if n > 0 {
        let mut plan = Plan::default();
        plan.changes.push(Planned {
            kind: EntryKind::Control,
            phase: 0,
            change: Change::Modify {
                dn,
                changes: vec![AttrChange::Delete {
                    attr: erasure::ATTR_ERASED.into(),
                    values,
                }],
            },
        });
        let o = crate::ldap::apply::apply_all(&dir, &plan, &|_| {}, &mut |_, _| {}).await;
        if let Some(f) = o.failures.first() {
            dir.close().await;
            return Err(SubjectError::Directory(DirectoryError::Op {
                what: format!("unblock {}", f.dn),
                reason: f.error.clone(),
            }));
        }
    }
    dir.close().await;
    Ok(n)
}
