//! Tests of archive unpacking: hostile entries, bombs, limits, skipped entries.

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
        let e = unpack(&a, &dest, limits, &all).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("refused"), "{name}: {e}");
        assert!(!dest.exists(), "{name}: partial files left");
        assert!(!d.path().join("evil.xml").exists());
    }
    let many = d.path().join("many.zip");
    let names: Vec<String> = (0..11).map(|i| format!("{i}.xml")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    zip_file(&many, &entries);
    let e = unpack(&many, &d.path().join("m"), limits, &all).unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::Refused {
                reason: UnpackError::TooManyFiles { max: 10 },
                ..
            }
        ),
        "{e}"
    );
    let e = e.to_string();
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
    let e = unpack(&a, &dest, Limits::default(), &all)
        .unwrap_err()
        .to_string();
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
    let e = unpack(&a, &dest, huge, &all).unwrap_err().to_string();
    assert!(
        e.contains("would leave less than") && e.contains("min_free_bytes"),
        "{e}"
    );
    assert!(!dest.exists());

    // a skipped entry counts too: its data would be inflated to reach
    // the next one
    claiming(&a, "zeros.bin", 1 << 30, 4096);
    let e = unpack(&a, &dest, Limits::default(), &|_| false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bytes once unpacked"), "{e}");
}

#[test]
fn the_size_limit_follows_the_archive_size() {
    let l = Limits::default();
    assert_eq!(l.cap(10), 1 << 20, "a floor for tiny archives");
    assert_eq!(l.cap(20 << 20), 2000 << 20);
    assert_eq!(l.cap(1 << 30), 4 << 30, "at most max_bytes");
}
