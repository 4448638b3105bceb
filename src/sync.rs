//! The `sync` command: extraction files → desired tree → plan → directory.
//!
//! Everything that can refuse the run (bad files, not well-formed XML, an
//! incomplete Complet, an unreachable directory) happens before the first
//! write. Then the plan is applied and the report filled.

use crate::aaf::filename::{self, format_date, ExtractionKind, FileCategory};
use crate::aaf::{AafError, ReadItem, RecordReader};
use crate::config::Config;
use crate::diff::{self, Plan};
use crate::ldap::{Directory, DirectoryError};
use crate::mapping::{self, layout::Layout, login, perimeter::Perimeter, EntryKind, Mapper};
use crate::report::{ExtractionReport, FileReport, PlanCounts, Report};
use std::path::PathBuf;
use time::Date;

/// Why a run was refused (exit code 2, nothing written).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Aaf(#[from] AafError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Options of one `sync` run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub paths: Vec<PathBuf>,
    pub dry_run: bool,
    /// The run date: first-seen dates and, later, retention deadlines.
    pub now: Date,
}

/// What a run produced.
pub struct SyncOutcome {
    pub report: Report,
    pub plan: Plan,
}

/// Collects the files of the PATH arguments (directories, or files).
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SyncError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(
                filename::list_dir(p)
                    .map_err(|e| SyncError::Input(format!("{}: cannot list: {e}", p.display())))?,
            );
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(SyncError::Input(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(files)
}

/// Reads and maps one Complet extraction (no LDAP here).
pub fn read_extraction(
    cfg: &Config,
    layout: &Layout,
    extraction: &filename::Extraction,
    now: Date,
    report: &mut Report,
) -> Result<mapping::MappedTree, SyncError> {
    let perimeter = Perimeter::new(&cfg.perimeter_uai, cfg.perimeter_all);
    let mut mapper = Mapper::new(layout, perimeter, &cfg.staff_address_consent, now);
    let mut xr = ExtractionReport {
        label: extraction.label(),
        kind: format!("{:?}", extraction.kind),
        date: format_date(extraction.date),
        ..Default::default()
    };
    for cat in FileCategory::IMPORTED {
        for f in extraction.files_of(cat) {
            let mut reader = RecordReader::open(&f.path, cat, cfg.encoding)?;
            let mut fr = FileReport {
                file: f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                category: cat.as_str().to_string(),
                part: f.name.part,
                encoding: reader.detected().clone(),
                records: 0,
                rejected: 0,
            };
            while let Some(item) = reader.next_item()? {
                fr.records += 1;
                match item {
                    ReadItem::Record(rec) => {
                        if let Err(e) = mapper.map(&rec, &f.path) {
                            fr.rejected += 1;
                            report.rejected_records.push(e);
                        }
                    }
                    ReadItem::Rejected(e) => {
                        fr.rejected += 1;
                        mapper.count_rejected(cat);
                        report.rejected_records.push(e);
                    }
                }
            }
            if xr.header.is_empty() {
                xr.header = reader.header().clone();
            }
            if reader
                .header()
                .get("degre")
                .is_some_and(|d| d.eq_ignore_ascii_case("2D"))
            {
                return Err(SyncError::Input(format!(
                    "{}: a 2D (secondary) extraction: this version imports 1D extractions only",
                    f.path.display()
                )));
            }
            tracing::info!(file = %fr.file, records = fr.records, rejected = fr.rejected, encoding = fr.encoding.encoding, "file read");
            xr.files.push(fr);
        }
    }
    report.extraction = Some(xr);
    Ok(mapper.finish())
}

/// Runs `sync`. `Err` means refused before any write.
pub async fn run(cfg: &Config, opts: &SyncOptions, report: &mut Report) -> Result<Plan, SyncError> {
    report.dry_run = opts.dry_run;
    report.now = format_date(opts.now);
    let files = collect_files(&opts.paths)?;
    let scan = filename::group_files(files);
    report.ignored_files = scan
        .other_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let extraction = match scan.extractions.as_slice() {
        [] => {
            return Err(SyncError::Input(
                "no AAF extraction file (<prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml) in the given paths".into(),
            ))
        }
        [one] => one,
        many => {
            let labels: Vec<String> = many.iter().map(|e| e.label()).collect();
            return Err(SyncError::Input(format!(
                "{} extractions given ({}): give one extraction per run",
                many.len(),
                labels.join(", ")
            )));
        }
    };
    if extraction.kind == ExtractionKind::Delta {
        return Err(SyncError::Input(format!(
            "{}: Delta extractions are not applied by this version; sync a Complet",
            extraction.label()
        )));
    }
    let missing = extraction.missing_categories();
    if !missing.is_empty() {
        let m: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
        return Err(SyncError::Input(format!(
            "{}: incomplete Complet, no file for {}: refused (it would read as everyone leaving)",
            extraction.label(),
            m.join(", ")
        )));
    }
    let layout = Layout::new(&cfg.ldap.base_dn, &cfg.source);
    let mut tree = read_extraction(cfg, &layout, extraction, opts.now, report)?;
    report.mapping = tree.stats.clone();
    report.perimeter_missing_uai = tree.missing_uai.clone();

    let dir = Directory::connect(&cfg.ldap).await?;
    dir.check_schema().await?;
    report.branches_created = dir.ensure_branches(&layout, opts.dry_run).await?;
    let snap = dir.read_managed(&layout).await?;
    tracing::info!(managed = snap.managed.len(), "directory read");

    let mut taken = snap.taken_logins.clone();
    report.logins_created = login::assign(
        tree.entries
            .iter_mut()
            .filter(|d| d.kind.is_person())
            .map(|d| &mut d.entry),
        &snap.logins,
        &mut taken,
    ) as u64;
    let plan = diff::plan(&tree.entries, &snap.managed);
    report.plan = PlanCounts::of(&plan);
    for a in &plan.absent {
        let id = snap
            .managed
            .get(&a.dn.key())
            .and_then(|e| {
                e.first(if a.kind == EntryKind::Structure {
                    "ENTStructureJointure"
                } else {
                    "ENTPersonJointure"
                })
            })
            .and_then(|j| mapping::id_of_jointure(j, &cfg.source))
            .map(str::to_string)
            .unwrap_or_else(|| a.dn.to_string());
        report
            .absent
            .entry(a.kind.as_str().to_string())
            .or_default()
            .push(id);
    }
    if !opts.dry_run {
        let outcome = dir.apply(&plan, cfg.ldap.in_flight).await;
        tracing::info!(failures = outcome.failures.len(), "plan applied");
        report.applied = Some(outcome);
    }
    dir.close().await;
    Ok(plan)
}
