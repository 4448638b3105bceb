//! The extraction's files streamed into the mapper (a Complet) or the
//! Delta's overlay ([`Sink`]), parsed on a thread of their own ahead of
//! it ([`read_into`]; the sink's side, with the per-file checks and
//! report, is [`read_files`]). An académie's Complet is gigabytes of XML;
//! parsing it and mapping its records are about equal halves of a core's
//! work, so with
//! the two in a pipeline they take the time of the longer one instead of
//! the sum (the directory read, when it overlaps, is mostly slapd's).
//!
//! The records come out in the order one reader would give them (files in
//! import order, records in file order), so what is mapped does not
//! depend on the thread: a plan is the same whether or not the files were
//! read ahead. The queue between the two is bounded (a few thousand
//! records), so reading ahead never holds a file in memory.

use crate::aaf::decode::Detected;
use crate::aaf::degree::{self, Degree};
use crate::aaf::filename::{ExtractFile, Extraction, FileCategory};
use crate::aaf::{AafError, ReadItem, RecordError, RecordReader};
use crate::config::Config;
use crate::host::progress::Progress;
use crate::mapping::{self, delta::Overlay, Mapper};
use crate::ops::report::{ExtractionReport, FileReport, StepReport};
use crate::rights::erasure::Blocks;
use crate::run::sync::SyncError;
use crate::schema::date::format_date;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// Where the records of an extraction go.
pub(crate) enum Sink<'a, 'p> {
    /// A Complet: straight into the mapper.
    Complet(Box<Mapper<'a>>),
    /// A Delta: played over the directory's records.
    Delta(Box<Overlay<'p>>),
}

impl Sink<'_, '_> {
    fn degree(&self) -> crate::aaf::degree::Degree {
        match self {
            Sink::Complet(m) => m.degree(),
            Sink::Delta(o) => o.degree(),
        }
    }
    fn feed(&mut self, cat: FileCategory, item: ReadItem, file: &Path) -> Option<RecordError> {
        // a field a real record carries once, given several values: the
        // record is damaged, rejected like a record the reader refused (in a
        // Delta its request is not played), so the person or structure stays
        // exactly as the directory holds them
        let item = match item {
            ReadItem::Record(rec) => match mapping::fields::several_values(self.degree(), &rec) {
                Some((field, n)) => ReadItem::Rejected(RecordError::new(
                    file,
                    rec.category,
                    rec.index,
                    Some(&rec.id),
                    Some(field),
                    format!("{n} values in a field a real record carries once"),
                )),
                None => ReadItem::Record(rec),
            },
            rejected => rejected,
        };
        match (self, item) {
            (Sink::Complet(m), ReadItem::Record(rec)) => m.map(&rec, file).err(),
            (Sink::Delta(o), ReadItem::Record(rec)) => o.apply(rec, file).err(),
            (Sink::Complet(m), ReadItem::Rejected(e)) => {
                m.rejected(cat, &e);
                Some(e)
            }
            (Sink::Delta(o), ReadItem::Rejected(e)) => {
                o.count_rejected(cat);
                Some(e)
            }
        }
    }
}

/// Streams every file of an extraction, category by category in import
/// order, into `sink`.
pub(crate) fn read_files(
    cfg: &Config,
    extraction: &Extraction,
    sink: &mut Sink,
    blocks: &mut Blocks,
    step: &mut StepReport,
) -> Result<(), SyncError> {
    let bar = Progress::new("parse", "records", None);
    let started = std::time::Instant::now();
    let mut xr = ExtractionReport {
        label: extraction.label(),
        kind: format!("{:?}", extraction.kind),
        date: format_date(extraction.date),
        ..Default::default()
    };
    let files: Vec<(FileCategory, &ExtractFile)> = cfg
        .degree
        .categories()
        .iter()
        .flat_map(|&cat| extraction.files_of(cat).map(move |f| (cat, f)))
        .collect();
    let (tx, rx) = queue();
    std::thread::scope(|s| {
        let to_read = files.iter().map(|(c, f)| (*c, f.path.clone())).collect();
        s.spawn(move || read_into(to_read, cfg.encoding, tx));
        // `rx` goes with the mapper: when it stops early, the reader's
        // next send fails and the thread ends before the scope does
        map_files(cfg, &files, rx, sink, blocks, step, &bar, &mut xr)
    })?;
    bar.finish();
    step.parse_secs = started.elapsed().as_secs_f64();
    step.parse_bytes = extraction
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    step.extraction = Some(xr);
    Ok(())
}

/// The mapper's side of [`read_files`]: what the reading thread sends,
/// file by file, into `sink`.
#[allow(clippy::too_many_arguments)]
fn map_files(
    cfg: &Config,
    files: &[(FileCategory, &ExtractFile)],
    rx: Receiver<Message>,
    sink: &mut Sink,
    blocks: &mut Blocks,
    step: &mut StepReport,
    bar: &Progress,
    xr: &mut ExtractionReport,
) -> Result<(), SyncError> {
    // the files of the other degree: refused below, read by nobody
    let other_names = match cfg.degree {
        Degree::OneD => degree::is_two_d_name,
        Degree::TwoD => degree::is_one_d_name,
    };
    let next = || match rx.recv() {
        Ok(m) => m.map_err(SyncError::from),
        // the reader ends only after a file's end or an error, both sent
        Err(_) => Err(SyncError::Input(
            "the extraction's reading thread stopped before the end of its files".into(),
        )),
    };
    for &(cat, f) in files {
        let path = &f.path;
        let Ahead::Opened { detected } = next()? else {
            return Err(out_of_order(path));
        };
        let mut other_degree: Vec<String> = Vec::new();
        let mut fr = FileReport {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            category: cat.as_str().to_string(),
            part: f.name.part,
            encoding: detected,
            records: 0,
            rejected: 0,
        };
        let header = loop {
            let items = match next()? {
                Ahead::Items(items) => items,
                Ahead::Ended { header } => break header,
                Ahead::Opened { .. } => return Err(out_of_order(path)),
            };
            for item in items {
                // SIGTERM or SIGINT: stop reading now (a large Complet
                // takes minutes); nothing is written before the parse ends
                if let Some(why) = crate::host::interrupt::reason() {
                    return Err(SyncError::Halted(format!(
                        "{why} while reading {}: nothing written",
                        path.display()
                    )));
                }
                fr.records += 1;
                bar.inc(1);
                if let ReadItem::Record(rec) = &item {
                    for a in &rec.attrs {
                        if other_names(&a.name) && !other_degree.contains(&a.name) {
                            other_degree.push(a.name.clone());
                        }
                    }
                    if blocks.skip(&cfg.source, rec) {
                        continue;
                    }
                }
                if let Some(e) = sink.feed(cat, item, path) {
                    fr.rejected += 1;
                    step.rejected_records.push(e);
                }
            }
        };
        if xr.header.is_empty() {
            xr.header = header.clone();
        }
        if let Some(why) = degree::mismatch(cfg.degree, &header, &other_degree) {
            let (is, expected) = match cfg.degree {
                Degree::OneD => ("a 2D (secondary school)", "1D"),
                Degree::TwoD => ("a 1D (primary school)", "2D"),
            };
            return Err(SyncError::Input(format!(
                "{}: {is} extraction — {why}: the source is configured for {expected} \
                 extractions ([source] degree); refused, nothing written",
                path.display()
            )));
        }
        tracing::info!(file = %fr.file, records = fr.records, rejected = fr.rejected, encoding = fr.encoding.encoding, "file read");
        xr.files.push(fr);
    }
    Ok(())
}

/// The reading thread sent something out of turn: a bug, not the file's
/// fault, but the run stops before anything is written.
fn out_of_order(path: &Path) -> SyncError {
    SyncError::Input(format!(
        "{}: the extraction's reading thread sent its records out of turn; nothing written",
        path.display()
    ))
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
        // a reader that went on would open the next file, a FIFO nobody
        // writes to, and block there for good
        let fifo = dir.path().join("P_Complet_20240101_Eleve_0001.xml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let (tx, rx) = queue();
        let (done_tx, done) = std::sync::mpsc::channel();
        let files = vec![(FileCategory::Eleve, a), (FileCategory::Eleve, fifo)];
        std::thread::spawn(move || {
            read_into(files, None, tx);
            let _ = done_tx.send(());
        });
        let first = rx.recv().unwrap().unwrap();
        assert!(matches!(first, Ahead::Opened { .. }));
        // the queue holds 16 batches of a file of 40: the reader is blocked
        // on a send when the mapper goes, and must end there
        drop(rx);
        assert!(
            done.recv_timeout(std::time::Duration::from_secs(30))
                .is_ok(),
            "the reader kept going after the mapper stopped"
        );
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
