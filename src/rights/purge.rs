//! End of the convention (spec §8): `aaf-sync purge` destroys everything
//! the sync manages for its source — the people, structures, classes and
//! groups it created, its control, erasure and lock entries, the branch OUs
//! it created once they are empty — and its local files (downloads, plans,
//! approvals, journals, ledger, the incremental read's copy of the tree),
//! then writes a **deletion certificate**:
//! what, how many before and after, when, by which run and software, and a
//! digest of the ids deleted. Entries it does not manage stay, and so do
//! the OUs that still hold them. No personal data in the certificate.

use crate::mapping::layout::Layout;
use crate::model::plan::{Change, Plan, Planned};
use crate::model::{Entry, EntryMap};
use crate::schema::EntryKind;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "aaf-sync-deletion-certificate/1";

/// The deletion certificate.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Certificate {
    pub format: &'static str,
    pub run_id: String,
    pub software: String,
    /// The reference the operator gave (convention, ticket).
    pub reference: String,
    pub source: String,
    pub base_dn: String,
    pub started: String,
    pub finished: String,
    /// Entries of the source before the purge, by category.
    pub before: BTreeMap<String, u64>,
    /// Entries of the source left after it (all zero when complete).
    pub after: BTreeMap<String, u64>,
    /// SHA-256 over the sorted ids (jointures, else DNs) of the entries
    /// deleted, one per line: proves what was deleted without listing it.
    pub deleted_ids_sha256: String,
    pub deleted_entries: u64,
    /// Operations the directory refused (the purge is then incomplete).
    pub failed: u64,
    /// Branch OUs removed (created by the sync and now empty).
    pub branches_removed: Vec<String>,
    /// Local files and directories removed under the work directory.
    pub local_paths_removed: Vec<String>,
    /// True when nothing of the source is left.
    pub complete: bool,
}

/// Counts the entries of each category.
pub fn counts<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in entries {
        let k = EntryKind::of(e).map_or("other", |k| k.as_str());
        *m.entry(k.to_string()).or_default() += 1;
    }
    m
}

/// The id recorded for an entry in the digest.
fn id_of(e: &Entry) -> String {
    e.first("ENTPersonJointure")
        .or_else(|| e.first("ENTStructureJointure"))
        .map(str::to_string)
        .unwrap_or_else(|| e.dn.key())
}

/// SHA-256 (hex) of the sorted ids of `entries`, one per line.
pub fn ids_digest<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let mut ids: Vec<String> = entries.into_iter().map(id_of).collect();
    ids.sort();
    let mut h = Sha256::new();
    for i in ids {
        h.update(i.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The plan deleting `managed` (groups, then people, then structures) and
/// the sync's own entries (`own`: control, erasures) last.
pub fn plan(managed: &EntryMap, own: &[Entry]) -> Plan {
    let mut p = Plan::default();
    for e in managed.values() {
        let kind = EntryKind::of(e).unwrap_or(EntryKind::Control);
        let phase = match kind {
            EntryKind::Classe | EntryKind::Groupe => 1,
            k if k.is_person() => 2,
            EntryKind::Structure => 3,
            _ => 4,
        };
        p.changes.push(Planned {
            kind,
            phase,
            change: Change::Delete { dn: e.dn.clone() },
        });
    }
    for e in own {
        p.changes.push(Planned {
            kind: EntryKind::Control,
            phase: 5,
            change: Change::Delete { dn: e.dn.clone() },
        });
    }
    p.sort();
    p
}

/// The local paths of `work_dir` that hold data of the source (the work
/// directory itself stays: it may be a mount point).
pub fn local_paths(work_dir: &Path) -> Vec<PathBuf> {
    [
        "incoming",
        "staging",
        "plans",
        "approvals",
        "journal",
        "fetched.tsv",
        "fetched.jsonl",
        "last-report.json",
    ]
    .iter()
    .map(|n| work_dir.join(n))
    .chain(snapshot_copies(work_dir))
    .filter(|p| p.exists())
    .collect()
}

/// The incremental read's copies of the managed tree
/// (`snapshot-<source>.bin`, and a temporary left by a killed run):
/// personal data, gone with the rest.
fn snapshot_copies(work_dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(work_dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("snapshot-") && (n.ends_with(".bin") || n.ends_with(".bin.tmp"))
            })
        })
        .collect();
    v.sort();
    v
}

/// Removes the local paths; returns those removed and the errors.
pub fn remove_local(work_dir: &Path) -> (Vec<String>, Vec<String>) {
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    for p in local_paths(work_dir) {
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match r {
            Ok(()) => done.push(p.display().to_string()),
            Err(e) => errors.push(format!("{}: {e}", p.display())),
        }
    }
    (done, errors)
}

impl Certificate {
    /// The readable form, for the convention's file.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "CERTIFICATE OF DELETION OF PERSONAL DATA");
        let _ = writeln!(s, "========================================\n");
        let _ = writeln!(s, "Reference:        {}", self.reference);
        let _ = writeln!(s, "Source:           {}", self.source);
        let _ = writeln!(s, "Directory tree:   {}", self.base_dn);
        let _ = writeln!(s, "Run:              {}", self.run_id);
        let _ = writeln!(s, "Software:         {}", self.software);
        let _ = writeln!(s, "Started:          {}", self.started);
        let _ = writeln!(s, "Finished:         {}", self.finished);
        let _ = writeln!(s, "\nEntries by category      before     after");
        for (k, b) in &self.before {
            let a = self.after.get(k).copied().unwrap_or(0);
            let _ = writeln!(s, "  {k:<20} {b:>10} {a:>9}");
        }
        let _ = writeln!(s, "\nEntries deleted:  {}", self.deleted_entries);
        let _ = writeln!(s, "Refused by the directory: {}", self.failed);
        let _ = writeln!(s, "SHA-256 of the ids deleted: {}", self.deleted_ids_sha256);
        let _ = writeln!(s, "Branches removed: {}", self.branches_removed.join(", "));
        let _ = writeln!(
            s,
            "Local files removed: {}",
            self.local_paths_removed.join(", ")
        );
        let _ = writeln!(
            s,
            "\nResult: {}",
            if self.complete {
                "complete - no personal data of this source is left in the directory or the work directory"
            } else {
                "INCOMPLETE - see the counts after; run the purge again"
            }
        );
        s
    }
}

/// Names the certificate files for `run_id` in `dir`.
pub fn certificate_paths(dir: &Path, run_id: &str) -> (PathBuf, PathBuf) {
    let stem = format!("aaf-sync-deletion-certificate-{run_id}");
    (
        dir.join(format!("{stem}.json")),
        dir.join(format!("{stem}.txt")),
    )
}

/// Whether the branch `e` may go: created by the sync (its mark) and empty.
pub fn removable_branch(e: &Entry, children: usize) -> bool {
    children == 0
        && e.get("description")
            .unwrap_or_default()
            .iter()
            .any(|d| d == crate::mapping::layout::BRANCH_MARK)
}

/// The branch OUs of a layout, in the order they can go.
pub fn branches(layout: &Layout) -> Vec<crate::model::Dn> {
    layout
        .branches()
        .iter()
        .map(|(_, d)| (*d).clone())
        .collect()
}

/// The sync's own entries at `dns` (DN, class): an entry of someone else at
/// one of these DNs is not the sync's to delete, and is left alone.
async fn read_own(
    dir: &crate::ldap::Directory,
    dns: &[(crate::model::Dn, &str)],
) -> Result<Vec<Entry>, crate::ldap::DirectoryError> {
    let mut v = Vec::new();
    for (d, class) in dns {
        if let Some(e) = dir.read_entry(d).await? {
            let ours = e
                .get("objectClass")
                .unwrap_or_default()
                .iter()
                .any(|c| c.eq_ignore_ascii_case(class));
            if ours {
                v.push(e);
            }
        }
    }
    Ok(v)
}

/// Runs the purge (the caller holds the run lock and checked the
/// confirmation). The local files go last, once the directory is clean.
pub async fn run(
    cfg: &crate::config::Config,
    reference: &str,
    run_id: &str,
    halt: Option<&crate::ldap::Halt>,
) -> Result<Certificate, crate::ldap::DirectoryError> {
    let now = || crate::schema::date::rfc3339(time::OffsetDateTime::now_utc());
    let mut cert = Certificate {
        format: FORMAT,
        run_id: run_id.to_string(),
        software: format!("aaf-sync {}", env!("CARGO_PKG_VERSION")),
        reference: reference.to_string(),
        source: cfg.source.clone(),
        base_dn: cfg.ldap.base_dn.clone(),
        started: now(),
        ..Default::default()
    };
    let layout = cfg.layout();
    let mut dir = crate::ldap::Directory::connect(&cfg.ldap).await?;
    if let Some(h) = halt {
        dir.share_halt(h);
    }
    let own_dns = [
        (layout.control_dn(), crate::schema::CONTROL_CLASS),
        (
            crate::rights::erasure::erasures_dn(&layout),
            crate::rights::erasure::ERASURES_CLASS,
        ),
    ];
    let snap = dir.read_managed(&layout).await?;
    let own = read_own(&dir, &own_dns).await?;
    cert.before = counts(snap.managed.values().chain(own.iter()));
    let p = plan(&snap.managed, &own);
    let outcome = crate::ldap::apply::apply_all(&dir, &p, &|_| {}, &mut |_, _| {}).await;
    cert.failed = outcome.failures.len() as u64 + outcome.not_attempted;
    let failed: std::collections::HashSet<String> =
        outcome.failures.iter().map(|f| f.dn.key()).collect();
    let deleted: Vec<&Entry> = snap
        .managed
        .values()
        .chain(own.iter())
        .filter(|e| !failed.contains(&e.dn.key()))
        .collect();
    cert.deleted_entries = deleted.len() as u64;
    cert.deleted_ids_sha256 = ids_digest(deleted);
    if let Some(why) = outcome.halted {
        return Err(crate::ldap::DirectoryError::Op {
            what: "purge".into(),
            reason: format!("{why}; run the purge again"),
        });
    }
    // the branch OUs the sync created, once empty
    for dn in branches(&layout) {
        let Some(e) = dir.read_entry(&dn).await? else {
            continue;
        };
        let children = dir
            .search(&dn, "(objectClass=*)", &["1.1"])
            .await?
            .len()
            .saturating_sub(1);
        if removable_branch(&e, children) {
            let mut bp = Plan::default();
            bp.changes.push(Planned {
                kind: EntryKind::Control,
                phase: 0,
                change: Change::Delete { dn: dn.clone() },
            });
            let o = crate::ldap::apply::apply_all(&dir, &bp, &|_| {}, &mut |_, _| {}).await;
            if o.failures.is_empty() {
                cert.branches_removed.push(dn.to_string());
            } else {
                cert.failed += 1;
            }
        }
    }
    let after = dir.read_managed(&layout).await?;
    let own_after = read_own(&dir, &own_dns).await?;
    dir.close().await;
    cert.after = cert
        .before
        .keys()
        .map(|k| (k.clone(), 0))
        .chain(counts(after.managed.values().chain(own_after.iter())))
        .collect();
    let (removed, errors) = remove_local(&cfg.work_dir);
    cert.local_paths_removed = removed;
    cert.failed += errors.len() as u64;
    for e in errors {
        tracing::error!(error = %e, "purge: local file not removed");
    }
    cert.complete = cert.failed == 0 && cert.after.values().all(|n| *n == 0);
    cert.finished = now();
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dn;

    #[test]
    fn plan_deletes_groups_then_people_then_structures_then_own_entries() {
        let mk = |dn: &str, class: &str| {
            let mut e = Entry::new(Dn::new(dn));
            e.add("objectClass", [class]);
            e
        };
        let managed: EntryMap = [
            mk("uid=a,ou=people,dc=x", "ENTEleve"),
            mk("cn=c,ou=groups,dc=x", "ENTClasse"),
            mk("s=1,ou=structures,dc=x", "ENTStructure"),
        ]
        .into_iter()
        .collect();
        let own = [mk("cn=aaf-sync-AC,dc=x", "aafSyncControl")];
        let p = plan(&managed, &own);
        let dns: Vec<&str> = p.changes.iter().map(|c| c.change.dn().as_str()).collect();
        assert_eq!(
            dns,
            [
                "cn=c,ou=groups,dc=x",
                "uid=a,ou=people,dc=x",
                "s=1,ou=structures,dc=x",
                "cn=aaf-sync-AC,dc=x"
            ]
        );
        let d1 = ids_digest(managed.values());
        assert_eq!(d1.len(), 64);
        let mut rev: Vec<&Entry> = managed.values().collect();
        rev.reverse();
        assert_eq!(d1, ids_digest(rev), "order does not matter");
        let c = counts(managed.values());
        assert_eq!(c["Eleve"], 1);
        let mut ou = Entry::new(Dn::new("ou=people,dc=x"));
        assert!(!removable_branch(&ou, 0), "not created by the sync");
        ou.add("description", [crate::mapping::layout::BRANCH_MARK]);
        assert!(removable_branch(&ou, 0));
        assert!(!removable_branch(&ou, 1));
    }
}
