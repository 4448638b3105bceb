//! Safe unpacking of delivered archives (`.tar.gz`, `.tgz`, `.zip`) into a
//! private directory (spec §2, §9).
//!
//! Hostile archives are refused whole, before anything is used: an entry
//! with an absolute path or a `..` component (path traversal), a link or
//! device entry, more files or more bytes than the limits (counted on the
//! bytes actually decompressed, not on what headers claim), or two entries
//! with the same file name. Files are written flat (their directory inside
//! the archive is dropped) with mode 0600.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Limits of one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_files: usize,
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 1000,
            max_bytes: 20 << 30,
        }
    }
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
    if name.starts_with('.') {
        return Err(format!("entry {}: hidden file name", raw.display()));
    }
    Ok(name.to_string())
}

struct Writer<'a> {
    dest: &'a Path,
    limits: Limits,
    files: usize,
    bytes: u64,
    written: Vec<PathBuf>,
}

impl Writer<'_> {
    fn write(&mut self, name: String, mut from: impl Read) -> Result<(), String> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(format!("more than {} files", self.limits.max_files));
        }
        let path = self.dest.join(&name);
        if path.exists() {
            return Err(format!("entry {name}: twice in the archive"));
        }
        let mut f = private_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.written.push(path.clone());
        let room = self.limits.max_bytes - self.bytes;
        let n = io::copy(&mut (&mut from).take(room + 1), &mut f)
            .map_err(|e| format!("entry {name}: {e}"))?;
        if n > room {
            return Err(format!(
                "more than {} bytes once unpacked",
                self.limits.max_bytes
            ));
        }
        self.bytes += n;
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

/// Unpacks `archive` into `dest` (created, must not exist). On error the
/// files written so far are removed and the message says why.
pub fn unpack(archive: &Path, dest: &Path, limits: Limits) -> Result<Vec<PathBuf>, String> {
    let kind = kind_of(archive)
        .ok_or_else(|| format!("{}: not a .tar.gz, .tgz or .zip", archive.display()))?;
    crate::inputs::private_dir(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut w = Writer {
        dest,
        limits,
        files: 0,
        bytes: 0,
        written: Vec::new(),
    };
    let res = match kind {
        Kind::TarGz => untar(archive, &mut w),
        Kind::Zip => unzip(archive, &mut w),
    };
    match res {
        Ok(()) => Ok(w.written),
        Err(e) => {
            let _ = std::fs::remove_dir_all(dest);
            Err(format!("{}: refused: {e}", archive.display()))
        }
    }
}

fn untar(archive: &Path, w: &mut Writer) -> Result<(), String> {
    let f = File::open(archive).map_err(|e| e.to_string())?;
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(f)));
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
        w.write(name, entry)?;
    }
    Ok(())
}

fn unzip(archive: &Path, w: &mut Writer) -> Result<(), String> {
    let f = File::open(archive).map_err(|e| e.to_string())?;
    let mut z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| e.to_string())?;
    for i in 0..z.len() {
        let entry = z.by_index(i).map_err(|e| e.to_string())?;
        let raw = PathBuf::from(entry.name().replace('\\', "/"));
        if entry.is_symlink() {
            return Err(format!("entry {}: a link", raw.display()));
        }
        let name = safe_name(&raw)?;
        if entry.is_dir() {
            continue;
        }
        w.write(name, entry)?;
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

    #[test]
    fn unpacks_flat_and_private() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("x.tar.gz");
        tar_gz(&a, &[("out/a.xml", b"<a/>\n"), ("b.txt", b"x")], None);
        let got = unpack(&a, &d.path().join("u"), Limits::default()).unwrap();
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
            unpack(&z, &d.path().join("z"), Limits::default())
                .unwrap()
                .len(),
            1
        );
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
        };
        for (name, make, want) in cases {
            let a = d.path().join(name);
            make(&a);
            let dest = d.path().join(format!("{name}.d"));
            let e = unpack(&a, &dest, limits).unwrap_err();
            assert!(e.contains(want) && e.contains("refused"), "{name}: {e}");
            assert!(!dest.exists(), "{name}: partial files left");
            assert!(!d.path().join("evil.xml").exists());
        }
        let many = d.path().join("many.zip");
        let names: Vec<String> = (0..11).map(|i| format!("{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        zip_file(&many, &entries);
        let e = unpack(&many, &d.path().join("m"), limits).unwrap_err();
        assert!(e.contains("more than 10 files"), "{e}");
    }
}
