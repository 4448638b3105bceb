//! `aaf-sync export-ldif`: the first load of a large directory. Online adds
//! go at the pace of slapd's transactions; `slapadd -q` on a stopped server
//! loads many times faster. This writes the tree a first `sync` would
//! create from one Complet — branch OUs, structures, people (with logins),
//! classes and groups, and the control entry recording the extraction as
//! applied — as LDIF content records, so that the first online `sync`
//! afterwards finds everything in step and writes nothing.
//!
//! Meant for an empty database: logins are assigned as in an empty tree.

use crate::aaf::filename::{self, ExtractionKind};
use crate::config::Config;
use crate::mapping::layout::Layout;
use crate::model::{split_first_rdn, Entry, EntryMap};
use crate::ops::report::StepReport;
use crate::rights::erasure::Blocks;
use crate::run::control::Control;
use crate::run::sync::SyncError;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::Date;

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Exported {
    pub extraction: String,
    pub entries: u64,
    pub step: StepReport,
}

/// The base entry itself, for a database that does not hold it yet.
pub fn base_entry(layout: &Layout) -> Option<Entry> {
    let (attr, value, _) = split_first_rdn(layout.base.as_str())?;
    let mut e = Entry::new(layout.base.clone());
    match attr.to_ascii_lowercase().as_str() {
        "dc" => {
            e.add("objectClass", ["top", "dcObject", "organization"]);
            e.add("dc", [value.as_str()]);
            e.add("o", [value.as_str()]);
        }
        "o" => {
            e.add("objectClass", ["top", "organization"]);
            e.add("o", [value.as_str()]);
        }
        "ou" => {
            e.add("objectClass", ["top", "organizationalUnit"]);
            e.add("ou", [value.as_str()]);
        }
        _ => return None,
    }
    Some(e)
}

/// Writes the LDIF of the Complet found in `paths` to `out`.
pub fn export(
    cfg: &Config,
    paths: &[PathBuf],
    now: Date,
    with_base: bool,
    out: &Path,
) -> Result<Exported, SyncError> {
    let staging = crate::delivery::Staging::new(&cfg.work_dir, "export")
        .map_err(|e| SyncError::Input(format!("{}: cannot create: {e}", cfg.work_dir.display())))?;
    let g = crate::delivery::gather(paths, staging.path(), &cfg.delivery)
        .map_err(|e| SyncError::Input(e.to_string()))?;
    if let Some(r) = g.refused.first() {
        return Err(SyncError::Input(format!("{}: {}", r.what, r.reason)));
    }
    let scan = filename::group_files(g.files.into_iter().map(|i| i.path).collect::<Vec<_>>());
    let completes: Vec<_> = scan
        .extractions
        .iter()
        .filter(|x| x.kind == ExtractionKind::Complet)
        .collect();
    let [x] = completes.as_slice() else {
        return Err(SyncError::Input(format!(
            "export-ldif needs exactly one Complet extraction in the given paths, found {}",
            completes.len()
        )));
    };
    if let Some(why) = x.not_whole() {
        return Err(SyncError::Input(format!("{}: {why}", x.label())));
    }
    let layout = cfg.layout();
    let mut step = StepReport::default();
    let mut tree =
        crate::run::sync::read_extraction(cfg, &layout, x, now, &mut Blocks::default(), &mut step)?;
    step.logins_created = tree.assign_logins(&EntryMap::new(), &mut HashSet::new()) as u64;
    let control = Control::default().after(x, cfg.retention.school_year(x.date));
    let io = |e: std::io::Error| SyncError::Input(format!("{}: {e}", out.display()));
    let f = std::fs::File::create(out).map_err(io)?;
    let mut w = std::io::BufWriter::new(f);
    let mut n = 0u64;
    let mut buf = String::new();
    let mut emit = |e: &Entry, w: &mut std::io::BufWriter<std::fs::File>| {
        buf.clear();
        crate::ldap::ldif::entry_record(&mut buf, e);
        n += 1;
        w.write_all(buf.as_bytes())
    };
    // no `version: 1` line: slapadd takes plain content records
    if with_base {
        let b = base_entry(&layout).ok_or_else(|| {
            SyncError::Input(format!(
                "--with-base: cannot make an entry for {} (dc=, o= or ou= expected)",
                layout.base
            ))
        })?;
        emit(&b, &mut w).map_err(io)?;
    }
    for (ou, dn) in layout.branches() {
        emit(&Layout::branch_entry(ou, dn), &mut w).map_err(io)?;
    }
    // the branches come first (slapadd wants parents before children);
    // then a stable order, for files that compare
    tree.entries.sort_by_key(|d| (d.kind, d.entry.dn.key()));
    for d in &tree.entries {
        emit(&d.entry, &mut w).map_err(io)?;
    }
    emit(&control.entry(&layout), &mut w).map_err(io)?;
    w.flush().map_err(io)?;
    Ok(Exported {
        extraction: x.label(),
        entries: n,
        step,
    })
}
