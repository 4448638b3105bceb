//! Inputs of a run: PATH arguments or fetched files → the verified
//! extraction files to read (spec §2).
//!
//! Directories are listed (not recursively), archives unpacked safely into a
//! private staging directory ([`archive`]), and bordereaux checked
//! ([`bordereau`]) before anything is parsed. A bordereau covers every
//! extraction it names a file of: for those extractions only the files it
//! lists are used, and each must be there with its announced line count —
//! otherwise every extraction it covers is refused. Files are looked for in
//! the bordereau's own delivery (its archive or directory) first, then
//! among all the inputs. A bordereau that cannot be read refuses its whole
//! delivery.

pub mod archive;
pub mod bordereau;
pub mod sftp;

use crate::aaf::filename::AafFileName;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Creates a directory (and its parents) readable by its owner only.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A private directory for unpacked archives, removed (with the personal
/// data it holds) when dropped. Its name, `<tag>-<pid>-<nanos>`, says which
/// process made it and when, so that a later run can tell the staging
/// directory of a dead run (killed with `kill -9`, a power cut) from a live
/// one's and remove it ([`sweep_staging`]).
pub struct Staging(PathBuf);

impl Staging {
    pub fn new(work_dir: &Path, tag: &str) -> std::io::Result<Staging> {
        sweep_staging(work_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = staging_root(work_dir).join(format!("{tag}-{}-{nanos:x}", std::process::id()));
        // the run's own directory first, its parents made private after:
        // another run's drop may remove an empty `staging/` meanwhile, and
        // creating `p` recreates it, so it is made 0700 once it exists
        private_dir(&p)?;
        private_dir(&staging_root(work_dir))?;
        private_dir(work_dir)?;
        crate::host::interrupt::track_staging(&p);
        Ok(Staging(p))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        crate::host::interrupt::untrack_staging(&self.0);
        // an empty `staging/` left behind looks like something to inspect;
        // `remove_dir` fails, harmlessly, while another run's directory is in it
        if let Some(root) = self.0.parent() {
            let _ = std::fs::remove_dir(root);
        }
    }
}

fn staging_root(work_dir: &Path) -> PathBuf {
    work_dir.join("staging")
}

/// The process id and creation time a staging directory's name carries.
fn staging_owner(name: &str) -> Option<(u32, std::time::SystemTime)> {
    let mut it = name.rsplitn(3, '-');
    let nanos = u128::from_str_radix(it.next()?, 16).ok()?;
    let pid = it.next()?.parse().ok()?;
    it.next().filter(|tag| !tag.is_empty())?;
    let nanos = u64::try_from(nanos).ok()?;
    Some((
        pid,
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos),
    ))
}

/// Removes the staging directories of runs that are gone (their process
/// no longer exists, or its id now belongs to a process started after the
/// directory was made), with the unpacked files they hold. Directories of
/// live runs, and names this version did not make, are left alone.
/// Returns the names removed.
pub fn sweep_staging(work_dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(staging_root(work_dir)) else {
        return removed;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, created)) = staging_owner(&name) else {
            continue;
        };
        if crate::host::process::alive_since(pid, Some(created)) {
            continue;
        }
        match std::fs::remove_dir_all(e.path()) {
            Ok(()) => {
                tracing::warn!(dir = %e.path().display(), pid, "removed the staging directory of a run that died (its unpacked extraction files with it)");
                removed.push(name);
            }
            Err(err) => {
                tracing::warn!(dir = %e.path().display(), error = %err, "cannot remove the staging directory of a dead run")
            }
        }
    }
    removed
}

use crate::config::delivery::Rules;

/// Something refused, and the inputs it came from (kept for inspection).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refusal {
    /// Extraction label, or the archive or bordereau refused.
    pub what: String,
    pub reason: String,
    #[serde(skip)]
    pub origins: Vec<PathBuf>,
}

/// A usable file and the input it came from (itself, or its archive).
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub origin: PathBuf,
}

/// The verified inputs.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Files to read, each with its origin.
    pub files: Vec<Input>,
    /// Other files (not extraction files, or not listed by the bordereau
    /// covering their extraction): not used.
    pub unused: Vec<PathBuf>,
    /// Bordereaux checked and accepted, with the origin they came from.
    pub bordereaux: Vec<Input>,
    pub refused: Vec<Refusal>,
    /// Archive entries not unpacked (`archive: entry`): neither an AAF
    /// extraction file nor a bordereau.
    pub skipped: Vec<String>,
}

/// Extraction label of a file name (`prefix_Kind_date`), if it is one.
fn label_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let n = AafFileName::parse(name)?;
    Some(format!(
        "{}_{:?}_{}",
        n.prefix,
        n.kind,
        crate::aaf::filename::compact_date(n.date)
    ))
}

fn listable(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.starts_with('.') && !n.ends_with(".part"))
}

/// Why the inputs cannot be gathered at all (what is gathered but refused
/// goes to [`Gathered::refused`] instead).
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error("{}: cannot list: {error}", path.display())]
    CannotList {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: no such file or directory", .0.display())]
    Missing(PathBuf),
}

/// Gathers and verifies the inputs; archives are unpacked under `staging`
/// (a private directory; the caller removes it when done).
pub fn gather(paths: &[PathBuf], staging: &Path, rules: &Rules) -> Result<Gathered, GatherError> {
    let mut g = Gathered::default();
    // (path, origin, delivery): delivery = archive, or the directory
    let mut pool: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    let mut borders: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    let mut plain: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|error| GatherError::CannotList {
                    path: p.clone(),
                    error,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && listable(f))
                .collect();
            v.sort();
            plain.extend(v);
        } else if p.is_file() {
            plain.push(p.clone());
        } else {
            return Err(GatherError::Missing(p.clone()));
        }
    }
    let is_border = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| bordereau::is_bordereau_name(n, rules.bordereau_name.as_deref()))
    };
    for f in plain {
        let delivery = f.parent().map(Path::to_path_buf).unwrap_or_default();
        if archive::kind_of(&f).is_some() {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dest = staging.join(format!("{name}.d"));
            let keep = |n: &str| {
                AafFileName::parse(n).is_some()
                    || bordereau::is_bordereau_name(n, rules.bordereau_name.as_deref())
            };
            match archive::unpack(&f, &dest, rules.limits, &keep) {
                Ok(u) => {
                    g.skipped.extend(
                        u.skipped
                            .iter()
                            .map(|m| format!("{name}: {m} (not an AAF extraction file nor a bordereau: not unpacked)")),
                    );
                    let mut members = u.files;
                    members.sort();
                    for m in members {
                        if is_border(&m) {
                            borders.push((m, f.clone(), f.clone()));
                        } else {
                            pool.push((m, f.clone(), f.clone()));
                        }
                    }
                }
                Err(reason) => g.refused.push(Refusal {
                    what: name,
                    reason: reason.to_string(),
                    origins: vec![f.clone()],
                }),
            }
        } else if is_border(&f) {
            borders.push((f.clone(), f.clone(), delivery));
        } else {
            pool.push((f.clone(), f.clone(), delivery));
        }
    }

    let mut covered: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut refused_labels: BTreeMap<String, String> = BTreeMap::new();
    let mut refused_deliveries: Vec<PathBuf> = Vec::new();
    let mut accepted: Vec<Input> = Vec::new();
    for (bpath, borigin, bdelivery) in &borders {
        let b = match bordereau::read(bpath) {
            Ok(b) => b,
            Err(reason) => {
                refused_deliveries.push(bdelivery.clone());
                g.refused.push(Refusal {
                    what: bpath.display().to_string(),
                    reason: format!("bordereau refused, and the files delivered with it: {reason}"),
                    origins: vec![borigin.clone()],
                });
                continue;
            }
        };
        let mut labels = BTreeSet::new();
        let mut listed = BTreeSet::new();
        let mut problems = Vec::new();
        for (name, lines) in &b.files {
            if let Some(l) = label_of(Path::new(name)) {
                labels.insert(l);
            }
            let found = pool
                .iter()
                .filter(|(p, _, d)| {
                    p.file_name().is_some_and(|n| n == name.as_str()) && d == bdelivery
                })
                .chain(
                    pool.iter()
                        .filter(|(p, _, _)| p.file_name().is_some_and(|n| n == name.as_str())),
                )
                .map(|(p, _, _)| p.clone())
                .next();
            match found {
                None => problems.push(format!("{name}: listed by the bordereau but not delivered")),
                Some(p) => {
                    if let Err(e) = bordereau::check_file(&p, *lines) {
                        problems.push(e.to_string());
                    }
                    listed.insert(p);
                }
            }
        }
        if labels.is_empty() {
            problems.push("lists no AAF extraction file".into());
        }
        for l in &labels {
            covered
                .entry(l.clone())
                .or_default()
                .extend(listed.iter().cloned());
        }
        if problems.is_empty() {
            accepted.push(Input {
                path: bpath.clone(),
                origin: borigin.clone(),
            });
        } else {
            let reason = format!("bordereau {}: {}", bpath.display(), problems.join("; "));
            for l in &labels {
                refused_labels
                    .entry(l.clone())
                    .or_insert_with(|| reason.clone());
            }
            if labels.is_empty() {
                refused_deliveries.push(bdelivery.clone());
                g.refused.push(Refusal {
                    what: bpath.display().to_string(),
                    reason,
                    origins: vec![borigin.clone()],
                });
            }
        }
    }
    g.bordereaux = accepted;

    // a file of an extraction its bordereau covers but does not list: the
    // bordereau and the delivery disagree on what the extraction is (a
    // last part left out would read as its people leaving)
    for (p, _, delivery) in &pool {
        if refused_deliveries.contains(delivery) {
            continue;
        }
        let Some(label) = label_of(p) else { continue };
        let Some(set) = covered.get(&label) else {
            continue;
        };
        let listed_copy = set.iter().any(|q| q.file_name() == p.file_name());
        if !listed_copy {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let why =
                format!("{name}: delivered with its extraction but not listed by its bordereau");
            refused_labels
                .entry(label)
                .and_modify(|r| {
                    r.push_str("; ");
                    r.push_str(&why);
                })
                .or_insert(why);
        }
    }

    let mut refused_origins: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for (p, origin, delivery) in pool {
        if refused_deliveries.contains(&delivery) {
            continue;
        }
        let Some(label) = label_of(&p) else {
            g.unused.push(p);
            continue;
        };
        if refused_labels.contains_key(&label) {
            refused_origins.entry(label).or_default().push(origin);
            continue;
        }
        if covered.get(&label).is_some_and(|set| !set.contains(&p)) {
            g.unused.push(p);
            continue;
        }
        g.files.push(Input { path: p, origin });
    }
    for (label, reason) in refused_labels {
        let mut origins = refused_origins.remove(&label).unwrap_or_default();
        origins.sort();
        origins.dedup();
        g.refused.push(Refusal {
            what: label,
            reason,
            origins,
        });
    }
    Ok(g)
}

#[cfg(test)]
mod tests;
