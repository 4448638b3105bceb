//! Gathering inputs: bordereau coverage, refusals, archives.

use super::*;

fn write(dir: &Path, name: &str, lines: usize) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, "x\n".repeat(lines)).unwrap();
    p
}

const E: &str = "ENT_Complet_20250904_Eleve_0000.xml";
const S: &str = "ENT_Complet_20250904_EtabEducNat_0000.xml";
const D: &str = "ENT_Delta_20250905_Eleve_0000.xml";

fn names(v: &[Input]) -> Vec<String> {
    v.iter()
        .map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn without_bordereau_every_extraction_file_is_used() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), E, 3);
    write(t.path(), "notes.txt", 1);
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st"),
        &Rules::default(),
    )
    .unwrap();
    assert_eq!(names(&g.files), [E]);
    assert_eq!(g.unused.len(), 1);
    assert!(g.refused.is_empty());
}

#[test]
fn a_bordereau_covers_the_extractions_it_names() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), E, 3);
    write(t.path(), S, 2);
    write(t.path(), D, 5); // another extraction: not covered
    std::fs::write(
        t.path().join("Bordereau_20250904.txt"),
        format!("destinataire: ENT\n{E};3\n{S} 2\n"),
    )
    .unwrap();
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st"),
        &Rules::default(),
    )
    .unwrap();
    let mut used = names(&g.files);
    used.sort();
    assert_eq!(used, [E, S, D]);
    assert_eq!(g.bordereaux.len(), 1);
    assert!(g.refused.is_empty());
}

#[test]
fn a_file_of_a_covered_extraction_the_bordereau_leaves_out_refuses_it() {
    // the last part of a category left out of the bordereau would read as
    // its people leaving: the bordereau and the delivery disagree
    let t = tempfile::tempdir().unwrap();
    write(t.path(), E, 3);
    write(t.path(), "ENT_Complet_20250904_Eleve_0001.xml", 4);
    write(t.path(), S, 2);
    write(t.path(), D, 5);
    std::fs::write(
        t.path().join("Bordereau_20250904.txt"),
        format!("{E};3\n{S} 2\n"),
    )
    .unwrap();
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st"),
        &Rules::default(),
    )
    .unwrap();
    assert_eq!(names(&g.files), [D]);
    assert_eq!(g.refused.len(), 1);
    assert_eq!(g.refused[0].what, "ENT_Complet_20250904");
    assert!(
        g.refused[0].reason.contains(
            "ENT_Complet_20250904_Eleve_0001.xml: delivered with its extraction but not listed"
        ),
        "{:?}",
        g.refused
    );
}

#[test]
fn a_mismatch_refuses_the_whole_extraction() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), E, 3);
    write(t.path(), S, 2);
    write(t.path(), D, 5);
    std::fs::write(t.path().join("bordereau.txt"), format!("{E};4\n{S};2\n")).unwrap();
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st"),
        &Rules::default(),
    )
    .unwrap();
    assert_eq!(names(&g.files), [D]);
    assert_eq!(g.refused.len(), 1);
    assert_eq!(g.refused[0].what, "ENT_Complet_20250904");
    assert!(
        g.refused[0]
            .reason
            .contains("3 lines, the bordereau announces 4"),
        "{:?}",
        g.refused
    );
    assert_eq!(g.refused[0].origins.len(), 2);
    // a listed file missing
    std::fs::write(
        t.path().join("bordereau.txt"),
        format!("{E};3\nENT_Complet_20250904_PersRelEleve_0000.xml;9\n"),
    )
    .unwrap();
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st2"),
        &Rules::default(),
    )
    .unwrap();
    assert!(
        g.refused[0]
            .reason
            .contains("listed by the bordereau but not delivered"),
        "{:?}",
        g.refused
    );
    // an unreadable layout refuses the delivery
    std::fs::write(t.path().join("bordereau.txt"), "what is this\n").unwrap();
    let g = gather(
        &[t.path().to_path_buf()],
        &t.path().join("st3"),
        &Rules::default(),
    )
    .unwrap();
    assert!(g.files.is_empty());
    assert!(
        g.refused[0].reason.contains("not understood"),
        "{:?}",
        g.refused
    );
}

#[test]
fn archives_with_their_bordereau() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("envoi.tar.gz");
    {
        let f = std::fs::File::create(&a).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, body) in [
            (E.to_string(), "x\nx\n".to_string()),
            ("BORDEREAU.txt".to_string(), format!("{E} 2\n")),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("out/{name}"), body.as_bytes())
                .unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let g = gather(
        std::slice::from_ref(&a),
        &t.path().join("st"),
        &Rules::default(),
    )
    .unwrap();
    assert_eq!(names(&g.files), [E]);
    assert_eq!(g.files[0].origin, a);
    assert!(g.files[0].path.starts_with(t.path().join("st")));
    assert_eq!(g.bordereaux.len(), 1);
}

#[test]
fn staging_names_carry_their_owner() {
    let (pid, t) = staging_owner("sync-4242-18edab4fc9b44924").unwrap();
    assert_eq!(pid, 4242);
    assert_eq!(
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(),
        0x18edab4fc9b44924
    );
    assert!(staging_owner("run-x-1").is_none());
    assert!(staging_owner("notes").is_none());
}

#[test]
fn only_the_staging_of_dead_runs_is_swept() {
    let d = tempfile::tempdir().unwrap();
    let mine = Staging::new(d.path(), "sync").unwrap();
    let root = d.path().join("staging");
    // made by this process before it started: a reused pid, a dead run
    let dead = root.join(format!("sync-{}-1", std::process::id()));
    std::fs::create_dir_all(dead.join("x.tar.gz.d")).unwrap();
    std::fs::write(dead.join("x.tar.gz.d/a.xml"), "<a/>").unwrap();
    let other = root.join("kept-by-hand");
    std::fs::create_dir_all(&other).unwrap();
    let removed = sweep_staging(d.path());
    assert_eq!(removed, [format!("sync-{}-1", std::process::id())]);
    assert!(!dead.exists() && other.exists() && mine.path().exists());
    let p = mine.path().to_path_buf();
    drop(mine);
    assert!(!p.exists());
}
