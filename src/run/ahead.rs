//! The extraction's files parsed on a thread of their own, ahead of the
//! mapper: an académie's Complet is gigabytes of XML, and parsing it and
//! mapping its records are about equal halves of a core's work, so with
//! the two in a pipeline they take the time of the longer one instead of
//! the sum (the directory read, when it overlaps, is mostly slapd's).
//!
//! The records come out in the order one reader would give them (files in
//! import order, records in file order), so what is mapped does not
//! depend on the thread: a plan is the same whether or not the files were
//! read ahead. The queue between the two is bounded (a few thousand
//! records), so reading ahead never holds a file in memory.

use crate::aaf::decode::Detected;
use crate::aaf::filename::FileCategory;
use crate::aaf::{AafError, ReadItem, RecordReader};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Records per message: one send per record would cost as much as the
/// parse of a small record.
const BATCH: usize = 256;
/// Messages in flight between the reader and the mapper.
const DEPTH: usize = 16;

/// What the reading thread tells the mapper, in file order.
pub(crate) enum Ahead {
    /// The next file is open.
    Opened { detected: Detected },
    /// Its next records (or requests the reader refused).
    Items(Vec<ReadItem>),
    /// The file is read to its end; its header (`<ficAlimMENESR>`
    /// attributes).
    Ended { header: BTreeMap<String, String> },
}

/// The files to read, in order, with their category.
pub(crate) type Files = Vec<(FileCategory, PathBuf)>;

/// Reads `files` in order on the calling thread, sending what it reads
/// to `tx`; stops at the first error (sent too) or when the receiver is
/// gone (the mapper stopped: an interruption, a refused file).
pub(crate) fn read_into(
    files: Files,
    forced: Option<&'static encoding_rs::Encoding>,
    tx: SyncSender<Message>,
) {
    for (cat, path) in files {
        let mut reader = match RecordReader::open(&path, cat, forced) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let detected = reader.detected().clone();
        if tx.send(Ok(Ahead::Opened { detected })).is_err() {
            return;
        }
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            match reader.next_item() {
                Ok(Some(item)) => {
                    batch.push(item);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(Ok(Ahead::Items(full))).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // what was read before the error is mapped first, as
                    // one reader would have
                    if !batch.is_empty() && tx.send(Ok(Ahead::Items(batch))).is_err() {
                        return;
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if !batch.is_empty() && tx.send(Ok(Ahead::Items(batch))).is_err() {
            return;
        }
        let header = reader.header().clone();
        if tx.send(Ok(Ahead::Ended { header })).is_err() {
            return;
        }
    }
}

/// One message of the queue: what was read, or why reading stopped.
pub(crate) type Message = Result<Ahead, AafError>;

/// The queue [`read_into`] fills.
pub(crate) fn queue() -> (SyncSender<Message>, Receiver<Message>) {
    sync_channel(DEPTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pupil's add request numbered `id`.
    fn pupil(id: u32) -> String {
        format!(
            "<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\
             <identifier><id>{id}</id></identifier><attributes>\
             <attr name=\"ENTPersonJointure\"><value>{id}</value></attr></attributes></addRequest>\n"
        )
    }

    fn file(
        dir: &std::path::Path,
        part: u32,
        records: std::ops::Range<u32>,
        tail: &str,
    ) -> PathBuf {
        let p = dir.join(format!("P_Complet_20240101_Eleve_{part:04}.xml"));
        let body: String = records.map(pupil).collect();
        std::fs::write(&p, format!("<ficAlimMENESR>\n{body}{tail}")).unwrap();
        p
    }

    fn ids(items: &[ReadItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                ReadItem::Record(r) => r.id.clone(),
                ReadItem::Rejected(e) => format!("rejected {e}"),
            })
            .collect()
    }

    #[test]
    fn files_come_whole_and_in_order_then_the_error_that_stops_them() {
        let dir = tempfile::tempdir().unwrap();
        // more records than a batch, then a file cut short after 3
        let a = file(
            dir.path(),
            0,
            0..(BATCH as u32 * 2 + 5),
            "</ficAlimMENESR>\n",
        );
        let b = file(dir.path(), 1, 1000..1003, "<addRequest>");
        let c = file(dir.path(), 2, 2000..2001, "</ficAlimMENESR>\n");
        let (tx, rx) = queue();
        let files = vec![
            (FileCategory::Eleve, a),
            (FileCategory::Eleve, b),
            (FileCategory::Eleve, c),
        ];
        std::thread::spawn(move || read_into(files, None, tx));
        let mut seen: Vec<String> = Vec::new();
        let mut events = Vec::new();
        let mut error = None;
        for m in rx {
            match m {
                Ok(Ahead::Opened { .. }) => events.push("opened".to_string()),
                Ok(Ahead::Items(items)) => {
                    assert!(!items.is_empty() && items.len() <= BATCH);
                    seen.extend(ids(&items));
                }
                Ok(Ahead::Ended { .. }) => events.push(format!("ended after {}", seen.len())),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let n = BATCH * 2 + 5;
        let want: Vec<String> = (0..n as u32)
            .chain(1000..1003)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(seen, want, "every record once, in file order");
        assert_eq!(events, ["opened", &format!("ended after {n}"), "opened"]);
        let error = error.expect("the cut file's error");
        assert!(
            error.contains("P_Complet_20240101_Eleve_0001.xml") && error.contains("end of file"),
            "{error}"
        );
    }

    #[test]
    fn the_reader_stops_when_the_mapper_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), 0, 0..(BATCH as u32 * 40), "</ficAlimMENESR>\n");
        let (tx, rx) = queue();
        let first = {
            let files = vec![(FileCategory::Eleve, a)];
            let reader = std::thread::spawn(move || read_into(files, None, tx));
            let first = rx.recv().unwrap().unwrap();
            drop(rx);
            // returns: its next send fails (a hung reader would hang the test)
            reader.join().unwrap();
            first
        };
        assert!(matches!(first, Ahead::Opened { .. }));
    }

    #[test]
    fn a_file_that_does_not_open_is_the_only_message() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("P_Complet_20240101_Eleve_0000.xml");
        let (tx, rx) = queue();
        read_into(vec![(FileCategory::Eleve, missing)], None, tx);
        let all: Vec<_> = rx.into_iter().collect();
        assert_eq!(all.len(), 1);
        let Err(e) = &all[0] else {
            panic!("an error first")
        };
        assert!(
            e.to_string().contains("P_Complet_20240101_Eleve_0000.xml"),
            "{e}"
        );
    }
}
