//! `subject erase`: the person erased now, with every reference to them,
//! and blocked from coming back (the erasure recorded before anything else),
//! and the incremental read's local copy of the tree, which held them,
//! removed.

use super::find::gather;
use super::{connect_err, SubjectError, Who};
use crate::ldap::{Directory, DirectoryError};
use crate::mapping::{self, layout::Layout};
use crate::model::plan::{AttrChange, Change, Plan, Planned};
use crate::model::{dn_key, Dn, Entry};
use crate::rights::erasure::{self, Erasure};
use crate::schema::{date, EntryKind};
use serde::Serialize;

/// The plan that erases `person`: the erasure recorded first (so that a
/// run cut short never lets the next sync recreate them), then every value
/// that refers to them removed from `referring` (a class or group left
/// without members is deleted: `groupOfNames` needs one), then the entry.
pub fn erase_plan(
    layout: &Layout,
    person: &Entry,
    referring: &[Entry],
    erasures: Option<&Entry>,
    erasure: &Erasure,
) -> Plan {
    let key = person.dn.key();
    let mut plan = Plan::default();
    plan.changes
        .push(erasure::record_change(layout, erasures, erasure));
    let is_ref = |attr: &str, v: &str| {
        if mapping::DN_VALUED
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
        {
            return dn_key(v) == key;
        }
        // `<parent DN>$<code>`, `<guardian DN>$<relation>$…` (2D)
        mapping::DN_PREFIXED
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
            && dn_key(v.split_once('$').map_or(v, |(d, _)| d)) == key
    };
    for e in referring {
        if e.dn.key() == key {
            continue;
        }
        let kind = EntryKind::of(e).unwrap_or(EntryKind::Control);
        let mut changes = Vec::new();
        let mut empties_group = false;
        for a in e.attrs.values() {
            let gone: Vec<String> = a
                .values
                .iter()
                .filter(|v| is_ref(a.name, v))
                .map(str::to_string)
                .collect();
            if gone.is_empty() {
                continue;
            }
            if a.name.eq_ignore_ascii_case("member") && gone.len() == a.values.len() {
                empties_group = true;
            }
            changes.push(AttrChange::Delete {
                attr: a.name.to_string(),
                values: gone,
            });
        }
        if changes.is_empty() {
            continue;
        }
        let change = if empties_group {
            Change::Delete { dn: e.dn.clone() }
        } else {
            Change::Modify {
                dn: e.dn.clone(),
                changes,
            }
        };
        plan.changes.push(Planned {
            kind,
            phase: 1,
            change,
        });
    }
    plan.changes.push(Planned {
        kind: EntryKind::of(person).unwrap_or(EntryKind::Staff),
        phase: 2,
        change: Change::Delete {
            dn: person.dn.clone(),
        },
    });
    plan.sort();
    plan
}

/// What `subject erase` did (DNs of the managed tree and counts only).
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// Written out through [`crate::mapping::layout::log_dn`]: the erased
    /// person's name must not survive in the erasure's own output.
    #[serde(serialize_with = "crate::mapping::layout::serialize_dn")]
    pub dn: String,
    /// SHA-256 of the jointure, as recorded to block re-creation.
    pub id_hash: String,
    pub date: String,
    /// Entries that referred to the person, cleaned.
    pub entries_modified: u64,
    /// Classes or groups deleted because the person was their last member.
    pub groups_deleted: u64,
    pub deleted: bool,
    pub failures: Vec<crate::ldap::apply::Failure>,
}

/// `subject erase`: the caller holds the run lock.
pub async fn erase(
    cfg: &crate::config::Config,
    who: &Who,
    reason: &str,
    today: time::Date,
    halt: Option<&crate::ldap::Halt>,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> Result<Erased, SubjectError> {
    let layout = cfg.layout();
    let mut dir = Directory::connect(&cfg.ldap).await.map_err(connect_err)?;
    if let Some(h) = halt {
        dir.share_halt(h);
    }
    let r = erase_inner(&dir, &layout, who, reason, today, intent, done).await;
    // even when cut short: part of it may be erased already
    forget_copy(cfg, &dir, &layout).await;
    dir.close().await;
    r
}

/// The incremental read's copy of the tree holds the erased person as
/// they were: removed, and its cookie with it (the next run reads the
/// whole tree, without them, and writes a new copy).
async fn forget_copy(cfg: &crate::config::Config, dir: &Directory, layout: &Layout) {
    for p in crate::ldap::incremental::snapshot_files(&cfg.work_dir, &cfg.source) {
        match std::fs::remove_file(&p) {
            Ok(()) => {
                tracing::info!(file = %p.display(), "erasure: the local copy of the tree removed")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::error!(file = %p.display(), %error, "erasure: the local copy of the tree not removed: remove it by hand")
            }
        }
    }
    if let Err(error) = dir.forget_read_mark(layout).await {
        tracing::warn!(%error, "erasure: the read cookie not removed from the control entry");
    }
}

async fn erase_inner(
    dir: &Directory,
    layout: &Layout,
    who: &Who,
    reason: &str,
    today: time::Date,
    intent: &(dyn Fn(&Planned) + Sync),
    done: &mut dyn FnMut(&Planned, Option<&str>),
) -> Result<Erased, SubjectError> {
    let (person, related) = gather(dir, layout, who).await?;
    // the block is on this source's jointure: an adopted entry may carry
    // other sources' too, and the erasure must match what the next
    // extraction sends
    let Some(id) = mapping::id_in(&person, "ENTPersonJointure", &layout.source) else {
        return Err(SubjectError::Unknown(format!(
            "{} carries no jointure of source {}: nothing erased",
            crate::mapping::layout::log_dn(person.dn.as_str()),
            layout.source
        )));
    };
    let e = Erasure {
        hash: erasure::id_hash(&layout.source, id),
        date: date::format_date(today),
        // one line: the value is `hash date reason`
        reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let current = dir
        .read_own(
            &erasure::erasures_dn(layout),
            erasure::ERASURES_CLASS,
            "erasures entry",
        )
        .await?;
    let referring: Vec<Entry> = related
        .into_iter()
        .filter(|r| {
            let prefixed = mapping::DN_PREFIXED.iter().map(|a| (a, true));
            let valued = mapping::DN_VALUED.iter().map(|a| (a, false));
            valued.chain(prefixed).any(|(a, prefixed)| {
                r.get(a).unwrap_or_default().iter().any(|v| {
                    let dn = if prefixed {
                        v.split_once('$').map_or(v, |(d, _)| d)
                    } else {
                        v
                    };
                    dn_key(dn) == person.dn.key()
                })
            })
        })
        .collect();
    let plan = erase_plan(layout, &person, &referring, current.as_ref(), &e);
    let outcome = crate::ldap::apply::apply_all(dir, &plan, intent, done).await;
    let failed = |dn: &Dn| outcome.failures.iter().any(|f| f.dn.key() == dn.key());
    let mut out = Erased {
        dn: person.dn.to_string(),
        id_hash: e.hash.clone(),
        date: e.date.clone(),
        entries_modified: 0,
        groups_deleted: 0,
        deleted: false,
        failures: outcome.failures.clone(),
    };
    for p in plan.changes.iter().filter(|p| p.phase == 1) {
        if failed(p.change.dn()) {
            continue;
        }
        match p.change {
            Change::Delete { .. } => out.groups_deleted += 1,
            _ => out.entries_modified += 1,
        }
    }
    out.deleted = !failed(&person.dn) && outcome.halted.is_none();
    if let Some(why) = outcome.halted {
        return Err(SubjectError::Directory(DirectoryError::Op {
            what: "erase".into(),
            reason: format!("{why}; run the erasure again"),
        }));
    }
    Ok(out)
}
