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

pub use crate::config::delivery::Limits;

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
fn check_path(raw: &Path) -> Result<(), String> {
    for c in raw.components() {
        match c {
            Component::ParentDir => {
                return Err(format!("entry {}: path traversal (..)", raw.display()))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("entry {}: absolute path", raw.display()))
            }
            Component::Normal(_) | Component::CurDir => {}
        }
    }
    Ok(())
}

/// The flat file name of an entry path, or why it is refused.
fn safe_name(raw: &Path) -> Result<String, String> {
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
        .ok_or_else(|| format!("entry {}: no usable file name", raw.display()))?;
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
    fn count(&mut self, size: u64) -> Result<(), String> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(format!(
                "more than {} files ([delivery] max_archive_files)",
                self.limits.max_files
            ));
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.cap {
            return Err(format!(
                "more than {} bytes once unpacked (the limit: {} times the archive's size, at most {} bytes; [delivery] max_archive_ratio, max_archive_bytes)",
                self.cap, self.limits.max_ratio, self.limits.max_bytes
            ));
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
    fn check_room(&self, name: &str, size: u64) -> Result<(), String> {
        let free = free_bytes(self.dest).map_err(|e| format!("{}: {e}", self.dest.display()))?;
        if free < size.saturating_add(self.limits.min_free_bytes) {
            return Err(format!(
                "entry {name}: {size} bytes would leave less than {} bytes free on the file system of {} ({free} free; [delivery] min_free_bytes)",
                self.limits.min_free_bytes,
                self.dest.display()
            ));
        }
        Ok(())
    }

    /// Writes entry `name`, declared `size` bytes, streamed from `from`.
    fn write(&mut self, name: &str, size: u64, from: impl Read) -> Result<(), String> {
        self.check_room(name, size)?;
        let path = self.dest.join(name);
        if path.exists() {
            return Err(format!("entry {name}: twice in the archive"));
        }
        let mut f = private_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.out.files.push(path.clone());
        // io::copy goes through a small buffer: memory stays flat whatever
        // the entry's size
        let n = io::copy(&mut from.take(size.saturating_add(1)), &mut f)
            .map_err(|e| format!("entry {name}: {e}"))?;
        if n > size {
            return Err(format!(
                "entry {name}: inflates past its declared size of {size} bytes"
            ));
        }
        f.flush().map_err(|e| format!("{}: {e}", path.display()))
    }
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
) -> Result<Unpacked, String> {
    let kind = kind_of(archive)
        .ok_or_else(|| format!("{}: not a .tar.gz, .tgz or .zip", archive.display()))?;
    let archive_bytes = std::fs::metadata(archive)
        .map_err(|e| format!("{}: {e}", archive.display()))?
        .len();
    crate::delivery::private_dir(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
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
            Err(format!("{}: refused: {e}", archive.display()))
        }
    }
}

fn untar(archive: &Path, w: &mut Writer) -> Result<(), String> {
    let f = File::open(archive).map_err(|e| e.to_string())?;
    let mut t = tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f)));
    for entry in t.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let raw = entry.path().map_err(|e| e.to_string())?.into_owned();
        let ty = entry.header().entry_type();
        if ty.is_dir() {
            check_path(&raw)?;
            continue;
        }
        if ty.is_pax_global_extensions() || ty.is_pax_local_extensions() || ty.is_gnu_longname() {
            continue;
        }
        if !ty.is_file() {
            return Err(format!(
                "entry {}: a link or special file ({ty:?})",
                raw.display()
            ));
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

fn unzip(archive: &Path, w: &mut Writer) -> Result<(), String> {
    let f = File::open(archive).map_err(|e| e.to_string())?;
    let mut z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| e.to_string())?;
    // the central directory gives every entry first: check them all
    // before writing anything
    let mut todo = Vec::new();
    for i in 0..z.len() {
        let entry = z.by_index_raw(i).map_err(|e| e.to_string())?;
        let raw = PathBuf::from(entry.name().replace('\\', "/"));
        if entry.is_symlink() {
            return Err(format!("entry {}: a link", raw.display()));
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
        let entry = z.by_index(i).map_err(|e| e.to_string())?;
        w.write(&name, size, entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(path: &Path, entries: &[(&str, &[u8])], link: Option<(&str, &str)>) {
        let f = File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses "..": write the raw name as a hostile tool would
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        if let Some((name, target)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, name, target).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    fn zip_file(path: &Path, entries: &[(&str, &[u8])]) {
        let f = File::create(path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        for (name, data) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn unpacks_flat_and_private() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("x.tar.gz");
        tar_gz(&a, &[("out/a.xml", b"<a/>\n"), ("b.txt", b"x")], None);
        let got = unpack(&a, &d.path().join("u"), Limits::default(), &all)
            .unwrap()
            .files;
        assert_eq!(got.len(), 2);
        assert_eq!(std::fs::read(d.path().join("u/a.xml")).unwrap(), b"<a/>\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(d.path().join("u/a.xml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600);
            let m = std::fs::metadata(d.path().join("u"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o700);
        }
        let z = d.path().join("x.zip");
        zip_file(&z, &[("dir/a.xml", b"<a/>")]);
        assert_eq!(
            unpack(&z, &d.path().join("z"), Limits::default(), &all)
                .unwrap()
                .files
                .len(),
            1
        );
    }

    #[test]
    fn a_tar_gz_of_several_gzip_members_is_read_whole() {
        // concatenated gzip members (pigz, bgzip, `cat a.gz b.gz`) are one
        // stream to gunzip and `tar xzf`: reading the first member only
        // would lose the files of the others
        let d = tempfile::tempdir().unwrap();
        let mut t = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("a.xml", b"<a/>\n"),
            ("b.xml", b"<b/>\n"),
            ("c.xml", b"<c/>\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, &data[..]).unwrap();
        }
        let raw = t.into_inner().unwrap();
        let mut out = Vec::new();
        for chunk in [&raw[..1024], &raw[1024..]] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(chunk).unwrap();
            out.extend(gz.finish().unwrap());
        }
        let a = d.path().join("m.tar.gz");
        std::fs::write(&a, out).unwrap();
        let mut got: Vec<String> = unpack(&a, &d.path().join("u"), Limits::default(), &all)
            .unwrap()
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, ["a.xml", "b.xml", "c.xml"]);
    }

    #[test]
    fn hostile_archives_are_refused_whole() {
        let d = tempfile::tempdir().unwrap();
        type Make = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Make, &str)> = vec![
            (
                "t1.tar.gz",
                Box::new(|p| tar_gz(p, &[("a.xml", b"x"), ("../../evil.xml", b"x")], None)),
                "path traversal",
            ),
            (
                "t2.tar.gz",
                Box::new(|p| tar_gz(p, &[("/etc/evil.xml", b"x")], None)),
                "absolute path",
            ),
            (
                "t3.tar.gz",
                Box::new(|p| tar_gz(p, &[("a.xml", b"x")], Some(("l.xml", "/etc/passwd")))),
                "a link",
            ),
            (
                "t4.tar.gz",
                Box::new(|p| tar_gz(p, &[("a/x.xml", b"x"), ("b/x.xml", b"y")], None)),
                "twice",
            ),
            (
                "z1.zip",
                Box::new(|p| zip_file(p, &[("../evil.xml", b"x")])),
                "path traversal",
            ),
            (
                "z2.zip",
                Box::new(|p| zip_file(p, &[("a.xml", &[0u8; 5000])])),
                "more than 4096 bytes",
            ),
        ];
        let limits = Limits {
            max_files: 10,
            max_bytes: 4096,
            ..Limits::default()
        };
        for (name, make, want) in cases {
            let a = d.path().join(name);
            make(&a);
            let dest = d.path().join(format!("{name}.d"));
            let e = unpack(&a, &dest, limits, &all).unwrap_err();
            assert!(e.contains(want) && e.contains("refused"), "{name}: {e}");
            assert!(!dest.exists(), "{name}: partial files left");
            assert!(!d.path().join("evil.xml").exists());
        }
        let many = d.path().join("many.zip");
        let names: Vec<String> = (0..11).map(|i| format!("{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        zip_file(&many, &entries);
        let e = unpack(&many, &d.path().join("m"), limits, &all).unwrap_err();
        assert!(e.contains("more than 10 files"), "{e}");
    }

    /// A tar.gz whose one entry's header claims `size` bytes and whose
    /// data is only zeros up to `data` bytes (the data never matters when
    /// the header is refused).
    fn claiming(path: &Path, name: &str, size: u64, data: usize) {
        let f = File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(name).unwrap();
        h.set_cksum();
        // only the header and a bit of data: a hostile stream may lie
        gz.write_all(h.as_bytes()).unwrap();
        gz.write_all(&vec![0u8; data]).unwrap();
        gz.finish().unwrap();
    }

    #[test]
    fn only_aaf_files_and_bordereaux_are_unpacked() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("x.tar.gz");
        let xml = "ENT1D_Complet_20250904_Eleve_0000.xml";
        tar_gz(
            &a,
            &[
                (&format!("out/{xml}")[..], b"<a/>\n"),
                ("LISEZMOI.txt", b"x"),
                ("__MACOSX/._x.xml", b"x"),
                ("BORDEREAU.txt", b"y"),
            ],
            None,
        );
        let keep = |n: &str| {
            crate::aaf::filename::AafFileName::parse(n).is_some()
                || crate::delivery::bordereau::is_bordereau_name(n, None)
        };
        let u = unpack(&a, &d.path().join("u"), Limits::default(), &keep).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(d.path().join("u"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["BORDEREAU.txt", xml]);
        assert_eq!(u.files.len(), 2);
        assert_eq!(u.skipped, ["LISEZMOI.txt", "._x.xml"]);
    }

    #[test]
    fn sizes_are_judged_on_headers_before_anything_is_written() {
        let d = tempfile::tempdir().unwrap();
        // 1 GiB claimed in a tiny archive: more than 100 times its size
        let a = d.path().join("bomb.tar.gz");
        claiming(&a, "ENT1D_Complet_20250904_Eleve_0000.xml", 1 << 30, 4096);
        let dest = d.path().join("b");
        let e = unpack(&a, &dest, Limits::default(), &all).unwrap_err();
        assert!(
            e.contains("more than 1048576 bytes once unpacked")
                && e.contains("100 times the archive's size"),
            "{e}"
        );
        assert!(!dest.exists());

        // within generous limits, but more than the disk holds
        let huge = Limits {
            max_bytes: u64::MAX,
            max_ratio: u64::MAX,
            ..Limits::default()
        };
        claiming(&a, "ENT1D_Complet_20250904_Eleve_0000.xml", 1 << 50, 4096);
        let e = unpack(&a, &dest, huge, &all).unwrap_err();
        assert!(
            e.contains("would leave less than") && e.contains("min_free_bytes"),
            "{e}"
        );
        assert!(!dest.exists());

        // a skipped entry counts too: its data would be inflated to reach
        // the next one
        claiming(&a, "zeros.bin", 1 << 30, 4096);
        let e = unpack(&a, &dest, Limits::default(), &|_| false).unwrap_err();
        assert!(e.contains("bytes once unpacked"), "{e}");
    }

    #[test]
    fn the_size_limit_follows_the_archive_size() {
        let l = Limits::default();
        assert_eq!(l.cap(10), 1 << 20, "a floor for tiny archives");
        assert_eq!(l.cap(20 << 20), 2000 << 20);
        assert_eq!(l.cap(1 << 30), 4 << 30, "at most max_bytes");
    }
}
