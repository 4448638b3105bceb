//! Safe unpacking of delivered archives (`.tar.gz`, `.tgz`, `.zip`) into a
//! private directory (spec §2, §9).
//!
//! Hostile archives are refused whole, before anything is used: an entry
//! with an absolute path or a `..` component (path traversal), a link or
//! device entry, more files than the limit, two entries with the same file
//! name, or more bytes than the size limit — the smaller of an absolute
//! cap and a multiple of the archive's own size (real extractions compress
//! about 20 times; a bomb of zeros a thousand times). Sizes are checked on
//! each entry's header before a byte of it is written (and a zip entry
//! that inflates past its declared size is refused), so a bomb never
//! reaches the disk, and the file system must keep a reserve free after
//! each entry. Only AAF extraction files and bordereaux are unpacked; any
//! other entry is skipped and reported. Files are written flat (their
//! directory inside the archive is dropped) with mode 0600, streamed
//! through a small buffer whatever their size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::config::delivery::Limits;

/// The ratio cap never goes below this: a tiny archive may hold a few
/// files that compress well.
const RATIO_FLOOR: u64 = 1 << 20;

impl Limits {
    /// The size limit for an archive of `archive_bytes`.
    fn cap(&self, archive_bytes: u64) -> u64 {
        self.max_ratio
            .saturating_mul(archive_bytes)
            .max(RATIO_FLOOR)
            .min(self.max_bytes)
    }
}

/// Why an archive is refused: the archive and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: not a .tar.gz, .tgz or .zip", .0.display())]
    NotAnArchive(PathBuf),
    /// The archive cannot be read, or the directory to unpack it into
    /// cannot be made (`path` says which).
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    /// Its content is refused; nothing of it is kept.
    #[error("{}: refused: {reason}", archive.display())]
    Refused {
        archive: PathBuf,
        reason: UnpackError,
    },
}

/// Why the content of an archive is refused. The messages name the
/// entry, the limit and the setting that raises it.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("entry {}: path traversal (..)", .0.display())]
    Traversal(PathBuf),
    #[error("entry {}: absolute path", .0.display())]
    Absolute(PathBuf),
    #[error("entry {}: no usable file name", .0.display())]
    NoFileName(PathBuf),
    #[error("entry {}: a link or special file ({kind:?})", path.display())]
    Special { path: PathBuf, kind: tar::EntryType },
    #[error("entry {}: a link", .0.display())]
    Link(PathBuf),
    #[error("more than {max} files ([delivery] max_archive_files)")]
    TooManyFiles { max: usize },
    #[error("more than {cap} bytes once unpacked (the limit: {ratio} times the archive's size, at most {max} bytes; [delivery] max_archive_ratio, max_archive_bytes)")]
    TooLarge { cap: u64, ratio: u64, max: u64 },
    #[error("entry {name}: {size} bytes would leave less than {reserve} bytes free on the file system of {} ({free} free; [delivery] min_free_bytes)", dest.display())]
    NoRoom {
        name: String,
        size: u64,
        reserve: u64,
        dest: PathBuf,
        free: u64,
    },
    #[error("entry {0}: twice in the archive")]
    Twice(String),
    #[error("entry {name}: inflates past its declared size of {size} bytes")]
    Inflates { name: String, size: u64 },
    /// Reading an entry's data failed (a corrupt stream).
    #[error("entry {name}: {error}")]
    Entry { name: String, error: io::Error },
    /// A local file or the staging file system failed.
    #[error("{}: {error}", path.display())]
    Local { path: PathBuf, error: io::Error },
    /// The archive's structure (gzip, tar, zip) cannot be read.
    #[error("{0}")]
    Format(String),
}

/// What an archive gave.
#[derive(Debug, Clone, Default)]
pub struct Unpacked {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Entries not unpacked (not an AAF extraction file nor a bordereau).
    pub skipped: Vec<String>,
}

/// The kind of archive a file name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TarGz,
    Zip,
}

pub fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else if name.ends_with(".zip") {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Refuses absolute paths and `..` components.
fn check_path(raw: &Path) -> Result<(), UnpackError> {
    for c in raw.components() {
        match c {
            Component::ParentDir => return Err(UnpackError::Traversal(raw.to_path_buf())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Absolute(raw.to_path_buf()))
            }
            Component::Normal(_) | Component::CurDir => {}
        }
    }
    Ok(())
}

/// The flat file name of an entry path, or why it is refused.
fn safe_name(raw: &Path) -> Result<String, UnpackError> {
    check_path(raw)?;
    let name = raw
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .next_back();
    let name = name
        .and_then(|n| n.to_str())
        .ok_or_else(|| UnpackError::NoFileName(raw.to_path_buf()))?;
    Ok(name.to_string())
}

/// Free bytes for an unprivileged writer on the file system of `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statvfs fills the struct we pass; the path is NUL-terminated
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // u32 or u64 depending on the platform
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

struct Writer<'a> {
    dest: &'a Path,
    limits: Limits,
    /// Size limit of this archive.
    cap: u64,
    keep: &'a dyn Fn(&str) -> bool,
    files: usize,
    /// Declared sizes of the entries seen, skipped ones included.
    bytes: u64,
    out: Unpacked,
}

impl Writer<'_> {
    /// Counts one entry of `size` bytes against the limits.
    fn count(&mut self, size: u64) -> Result<(), UnpackError> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(UnpackError::TooManyFiles {
                max: self.limits.max_files,
            });
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.cap {
            return Err(UnpackError::TooLarge {
                cap: self.cap,
                ratio: self.limits.max_ratio,
                max: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    /// Whether entry `name` is unpacked; the others are reported.
    fn wanted(&mut self, name: &str) -> bool {
        let ok = !name.starts_with('.') && (self.keep)(name);
        if !ok {
            self.out.skipped.push(name.to_string());
        }
        ok
    }

    /// Refuses an entry of `size` bytes the file system cannot hold while
    /// keeping its reserve.
    fn check_room(&self, name: &str, size: u64) -> Result<(), UnpackError> {
        let free = free_bytes(self.dest).map_err(local(self.dest))?;
        if free < size.saturating_add(self.limits.min_free_bytes) {
            return Err(UnpackError::NoRoom {
                name: name.to_string(),
                size,
                reserve: self.limits.min_free_bytes,
                dest: self.dest.to_path_buf(),
                free,
            });
        }
        Ok(())
    }

    /// Writes entry `name`, declared `size` bytes, streamed from `from`.
    fn write(&mut self, name: &str, size: u64, from: impl Read) -> Result<(), UnpackError> {
        self.check_room(name, size)?;
        let path = self.dest.join(name);
        if path.exists() {
            return Err(UnpackError::Twice(name.to_string()));
        }
        let mut f = private_file(&path).map_err(local(&path))?;
        self.out.files.push(path.clone());
        // io::copy goes through a small buffer: memory stays flat whatever
        // the entry's size
        let n = io::copy(&mut from.take(size.saturating_add(1)), &mut f).map_err(|error| {
            UnpackError::Entry {
                name: name.to_string(),
                error,
            }
        })?;
        if n > size {
            return Err(UnpackError::Inflates {
                name: name.to_string(),
                size,
            });
        }
        f.flush().map_err(local(&path))
    }
}

/// A local I/O error on `path`.
fn local(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |error| UnpackError::Local {
        path: path.to_path_buf(),
        error,
    }
}

/// An unreadable archive structure, in the reader's words (tar and gzip
/// report through `io::Error`, zip through its own type).
fn format(e: impl std::fmt::Display) -> UnpackError {
    UnpackError::Format(e.to_string())
}

/// Creates a file readable by its owner only.
pub fn private_file(path: &Path) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Unpacks `archive` into `dest` (created, must not exist): the entries
/// whose file name `keep` accepts (and that are not hidden); the others
/// are skipped and listed. On error nothing is left in `dest` and the
/// message says why.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    limits: Limits,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Unpacked, ArchiveError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ArchiveError::Io { path, error }
    };
    let kind = kind_of(archive).ok_or_else(|| ArchiveError::NotAnArchive(archive.to_path_buf()))?;
    let archive_bytes = std::fs::metadata(archive).map_err(io(archive))?.len();
    crate::delivery::private_dir(dest).map_err(io(dest))?;
    let mut w = Writer {
        dest,
        limits,
        cap: limits.cap(archive_bytes),
        keep,
        files: 0,
        bytes: 0,
        out: Unpacked::default(),
    };
    let res = match kind {
        Kind::TarGz => untar(archive, &mut w),
        Kind::Zip => unzip(archive, &mut w),
    };
    match res {
        Ok(()) => Ok(w.out),
        Err(e) => {
            let _ = std::fs::remove_dir_all(dest);
            Err(ArchiveError::Refused {
                archive: archive.to_path_buf(),
                reason: e,
            })
        }
    }
}

fn untar(archive: &Path, w: &mut Writer) -> Result<(), UnpackError> {
    let f = File::open(archive).map_err(format)?;
    let mut t = tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f)));
    for entry in t.entries().map_err(format)? {
        let entry = entry.map_err(format)?;
        let raw = entry.path().map_err(format)?.into_owned();
        let ty = entry.header().entry_type();
        if ty.is_dir() {
            check_path(&raw)?;
            continue;
        }
        if ty.is_pax_global_extensions() || ty.is_pax_local_extensions() || ty.is_gnu_longname() {
            continue;
        }
        if !ty.is_file() {
            return Err(UnpackError::Special {
                path: raw,
                kind: ty,
            });
        }
        let name = safe_name(&raw)?;
        // the header's size, before any data is read: a bomb stops here
        let size = entry.size();
        w.count(size)?;
        if w.wanted(&name) {
            w.write(&name, size, entry)?;
        }
        // a skipped entry's data is read past (and inflated) by the next
        // iteration, within the counted limit
    }
    Ok(())
}

fn unzip(archive: &Path, w: &mut Writer) -> Result<(), UnpackError> {
    let f = File::open(archive).map_err(format)?;
    let mut z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(format)?;
    // the central directory gives every entry first: check them all
    // before writing anything
    let mut todo = Vec::new();
    for i in 0..z.len() {
        let entry = z.by_index_raw(i).map_err(format)?;
        let raw = PathBuf::from(entry.name().replace('\\', "/"));
        if entry.is_symlink() {
            return Err(UnpackError::Link(raw));
        }
        let name = safe_name(&raw)?;
        if entry.is_dir() {
            continue;
        }
        let size = entry.size();
        w.count(size)?;
        if w.wanted(&name) {
            todo.push((i, name, size));
        }
    }
    let total: u64 = todo.iter().map(|(_, _, s)| s).sum();
    w.check_room("(all entries)", total)?;
    for (i, name, size) in todo {
        let entry = z.by_index(i).map_err(format)?;
        w.write(&name, size, entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
