//! Tests of the journal: lines name attributes, never values; a line cut
//! short is repaired before the next append; concurrent writers never
//! splice lines.

use super::*;
use crate::model::{Dn, Entry};
use crate::schema::EntryKind;

#[test]
fn lines_name_attributes_never_values() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(journal_dir(t.path())).unwrap();
    std::fs::write(journal_dir(t.path()).join("2000-01-01.jsonl"), "old\n").unwrap();
    let mut j = Journal::open(t.path(), "run-1", 30).unwrap();
    assert!(
        !journal_dir(t.path()).join("2000-01-01.jsonl").exists(),
        "pruned"
    );
    j.step("AC_Complet_20261124");
    let mut e = Entry::new(Dn::new("uid=AC-CRETEIL-1,ou=people,dc=x"));
    e.add("sn", ["Zorglub"]);
    e.add("objectClass", ["ENTEleve"]);
    j.record(
        &Planned {
            kind: EntryKind::Pupil,
            phase: 1,
            change: Change::Add { entry: e },
        },
        None,
    );
    j.record(
        &Planned {
            kind: EntryKind::Pupil,
            phase: 2,
            change: Change::Modify {
                dn: Dn::new("uid=AC-CRETEIL-2,ou=people,dc=x"),
                changes: vec![
                    AttrChange::Replace {
                        attr: "mail".into(),
                        values: vec!["zorglub@example.org".into()],
                    },
                    AttrChange::StashPassword,
                ],
            },
        },
        Some("rc=50 insufficientAccessRights"),
    );
    let path = j.path().to_path_buf();
    drop(j);
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["run_id"], "run-1");
    assert_eq!(lines[0]["event"], "result");
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["op"], "add");
    assert_eq!(lines[0]["attrs"], serde_json::json!(["objectClass", "sn"]));
    assert_eq!(
        lines[1]["attrs"],
        serde_json::json!(["mail", "userPassword", "aafSyncSavedPassword"])
    );
    assert_eq!(lines[1]["ok"], false);
    assert!(
        !text.contains("Zorglub") && !text.contains("zorglub@"),
        "{text}"
    );
}

fn planned(i: usize) -> Planned {
    let mut e = Entry::new(Dn::new(format!("uid=AC-CRETEIL-{i},ou=people,dc=x")));
    e.add("objectClass", ["ENTEleve"]);
    Planned {
        kind: EntryKind::Pupil,
        phase: 1,
        change: Change::Add { entry: e },
    }
}

fn parse_all(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn a_line_cut_by_a_crash_is_kept_as_a_truncated_line_before_appending() {
    let t = tempfile::tempdir().unwrap();
    let mut j = Journal::open(t.path(), "run-1", 30).unwrap();
    j.start("sync");
    j.intent(&planned(1));
    let path = j.path().to_path_buf();
    drop(j);
    // a writer killed inside its write(2)
    let cut =
        r#"{"run_id":"run-1","time":"2026-01-01T00:00:00Z","event":"intent","dn":"uid=AC-CRE"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(cut.as_bytes())
        .unwrap();
    let mut j = Journal::open(t.path(), "run-2", 30).unwrap();
    j.start("sync");
    drop(j);
    let lines = parse_all(&path);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[2]["event"], "truncated");
    assert_eq!(lines[2]["run_id"], "run-2");
    assert_eq!(lines[2]["fragment"], cut);
    assert_eq!(lines[2]["bytes"], cut.len());
    assert_eq!(lines[3]["event"], "start");
    assert_eq!(lines[3]["run_id"], "run-2");
}

#[test]
fn concurrent_writers_never_splice_lines() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                // each its own open file, as separate processes have
                let mut j = Journal::open(&dir, &format!("run-{w}"), 30).unwrap();
                for i in 0..500 {
                    let p = planned(i);
                    j.intent(&p);
                    j.record(&p, None);
                }
                j.path().to_path_buf()
            })
        })
        .collect();
    let paths: Vec<PathBuf> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let lines = parse_all(&paths[0]);
    assert_eq!(lines.len(), 4 * 1000);
    for w in 0..4 {
        let mine = lines
            .iter()
            .filter(|l| l["run_id"] == format!("run-{w}"))
            .count();
        assert_eq!(mine, 1000);
    }
}
