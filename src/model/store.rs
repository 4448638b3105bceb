//! Where the attribute bytes of the big entry sets live during a run: a
//! temporary file in the work directory, mapped into memory.
//!
//! A sync holds the extraction's entries and the directory's at the same
//! time: about 1.2 KiB each, so 3.5 GiB of heap at 1.5 million people.
//! With a store open, [`crate::model::Attrs`] keeps its bytes here instead:
//! the file's pages sit in the page cache, which the kernel writes out and
//! drops when memory runs short, and a trimmer thread unmaps the pages the
//! process touched every tenth of a second, so that its own resident
//! memory stays the indexes and whatever it is working on.
//!
//! The file is unlinked as soon as it is created (nothing is left behind,
//! even after a crash), readable by its owner only while it exists, and
//! its blocks are reserved before use: a full disk makes [`put`] decline
//! (the bytes then stay on the heap) instead of failing a write into a
//! mapping later, which would kill the process.
//!
//! Stored bytes are immutable; a changed entry is written again, and a chunk
//! no entry refers to any more is unmapped and its blocks given back.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Size of one mapping. Entries larger than this (none in practice: a
/// class of a thousand members is 60 KiB) stay on the heap.
const CHUNK: usize = 64 << 20;

/// How often the trimmer gives the touched pages back.
const TRIM_EVERY: Duration = Duration::from_millis(100);

/// One mapped region of the file.
struct Chunk {
    ptr: *mut u8,
    file: Arc<File>,
    file_off: u64,
}

// SAFETY: the region is only written below the store's lock, at offsets
// no `Stored` refers to yet; published bytes are never written again, so
// sharing `&[u8]` views of them between threads is sound.
unsafe impl Send for Chunk {}
unsafe impl Sync for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the start of a CHUNK-long mapping this chunk
        // owns; no `Stored` points into it any more (they hold an Arc).
        unsafe {
            libc::munmap(self.ptr.cast(), CHUNK);
            // give the blocks back to the file system; best effort
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                self.file_off as libc::off_t,
                CHUNK as libc::off_t,
            );
        }
    }
}

/// Bytes kept in the store: cheap to clone, read as a slice.
#[derive(Clone)]
pub struct Stored {
    chunk: Arc<Chunk>,
    off: u32,
    len: u32,
}

impl Stored {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: [off, off + len) lies inside the chunk's mapping and was
        // fully written before this value was made; it is never written
        // again, and the mapping lives as long as `self.chunk`.
        unsafe {
            std::slice::from_raw_parts(self.chunk.ptr.add(self.off as usize), self.len as usize)
        }
    }
}

struct Store {
    file: Arc<File>,
    /// Chunks made so far (the next one goes at `made * CHUNK`).
    made: u64,
    tail: Option<(Arc<Chunk>, usize)>,
    /// Every chunk still alive, for the trimmer.
    chunks: Vec<Weak<Chunk>>,
    /// Open handles; the store closes when the last one goes.
    users: usize,
    /// Dropped to stop the trimmer.
    _stop: mpsc::Sender<()>,
    /// Set when the disk refused a chunk: no further attempt.
    full: bool,
}

static STORE: Mutex<Option<Store>> = Mutex::new(None);

/// Largest file size reached in this process.
static PEAK: AtomicU64 = AtomicU64::new(0);

fn lock() -> MutexGuard<'static, Option<Store>> {
    match STORE.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Keeps the store open; the store closes when the last handle is dropped
/// (bytes already stored stay readable: they hold their chunk).
pub struct Handle(());

impl Drop for Handle {
    fn drop(&mut self) {
        let mut g = lock();
        if let Some(s) = g.as_mut() {
            s.users -= 1;
            if s.users == 0 {
                *g = None;
            }
        }
    }
}

/// Opens the store in `dir` (or joins the one already open in this
/// process). The file is created there with mode 0600 and unlinked at once.
pub fn open(dir: &Path) -> std::io::Result<Handle> {
    let mut g = lock();
    if let Some(s) = g.as_mut() {
        s.users += 1;
        return Ok(Handle(()));
    }
    std::fs::create_dir_all(dir)?;
    let file = create_unlinked(dir)?;
    let (stop, stopped) = mpsc::channel();
    std::thread::Builder::new()
        .name("store-trim".into())
        .spawn(move || trim_loop(stopped))?;
    *g = Some(Store {
        file: Arc::new(file),
        made: 0,
        tail: None,
        chunks: Vec::new(),
        users: 1,
        _stop: stop,
        full: false,
    });
    Ok(Handle(()))
}

fn create_unlinked(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut n = 0u32;
    loop {
        let path = dir.join(format!(".entries-{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Copies `bytes` into the store. `None` when no store is open, the bytes
/// are too large or the disk has no room: the caller keeps them on the heap.
pub fn put(bytes: &[u8]) -> Option<Stored> {
    if bytes.is_empty() || bytes.len() > CHUNK {
        return None;
    }
    let mut g = lock();
    let s = g.as_mut()?;
    let fits = s
        .tail
        .as_ref()
        .is_some_and(|(_, used)| used + bytes.len() <= CHUNK);
    if !fits {
        if s.full {
            return None;
        }
        match new_chunk(s) {
            Ok(c) => {
                s.chunks.retain(|w| w.strong_count() > 0);
                s.chunks.push(Arc::downgrade(&c));
                s.tail = Some((c, 0));
            }
            Err(e) => {
                s.full = true;
                s.tail = None;
                tracing::warn!(error = %e, "entry store: no more room in the work directory, entries stay in memory");
                return None;
            }
        }
    }
    let (chunk, used) = s.tail.as_mut()?;
    let off = *used;
    // SAFETY: [off, off + len) is inside the mapping (checked above) and
    // not yet handed out; the lock keeps other writers away.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), chunk.ptr.add(off), bytes.len());
    }
    *used += bytes.len();
    Some(Stored {
        chunk: Arc::clone(chunk),
        off: off as u32,
        len: bytes.len() as u32,
    })
}

fn new_chunk(s: &mut Store) -> std::io::Result<Arc<Chunk>> {
    let file_off = s.made * CHUNK as u64;
    let fd = s.file.as_raw_fd();
    // SAFETY: plain system calls on our own descriptor; the mapping is
    // checked before use and owned by the Chunk, which unmaps it.
    unsafe {
        // blocks reserved now, so that writing through the mapping cannot
        // hit a full disk (SIGBUS)
        if libc::fallocate(fd, 0, file_off as libc::off_t, CHUNK as libc::off_t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            CHUNK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            file_off as libc::off_t,
        );
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // entries are looked up in no particular order: mapping a page
        // should not map its neighbours too (fault-around), or the
        // resident set grows sixteen pages per entry read
        libc::madvise(ptr, CHUNK, libc::MADV_RANDOM);
        s.made += 1;
        PEAK.fetch_max(s.made * CHUNK as u64, Ordering::Relaxed);
        Ok(Arc::new(Chunk {
            ptr: ptr.cast(),
            file: Arc::clone(&s.file),
            file_off,
        }))
    }
}

/// Unmaps the pages of every live chunk each TRIM_EVERY. Their content
/// stays in the file (page cache); the next read maps it back in.
fn trim_loop(stop: mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(TRIM_EVERY) {
        let live: Vec<Arc<Chunk>> = match lock().as_ref() {
            Some(s) => s.chunks.iter().filter_map(Weak::upgrade).collect(),
            None => return,
        };
        for c in &live {
            // SAFETY: DONTNEED on a shared file mapping only drops the page
            // table entries; the data stays in the file and reads see it.
            unsafe {
                libc::madvise(c.ptr.cast(), CHUNK, libc::MADV_DONTNEED);
            }
        }
    }
}

/// Size of the open store's file (chunks made so far; 0 when closed).
pub fn mapped_bytes() -> u64 {
    lock().as_ref().map_or(0, |s| s.made * CHUNK as u64)
}

/// Largest size a store's file reached in this process, for the report
/// (the disk space a run needs beside its extractions).
pub fn peak_bytes() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_after_trims_and_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path()).unwrap();
        // the file is unlinked as soon as it exists
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let many: Vec<(Vec<u8>, Stored)> = (0..60_000u32)
            .map(|i| {
                let b = format!("entry {i} {}", "x".repeat((i % 5000) as usize)).into_bytes();
                let s = put(&b).unwrap();
                (b, s)
            })
            .collect();
        assert!(mapped_bytes() >= 2 * CHUNK as u64, "spans several chunks");
        assert!(peak_bytes() >= mapped_bytes());
        std::thread::sleep(TRIM_EVERY * 2);
        for (b, s) in &many {
            assert_eq!(s.bytes(), &b[..]);
        }
        drop(h);
        // closed (no other test opens it): nothing more is stored, what
        // was stays readable
        assert!(put(b"late").is_none());
        assert_eq!(mapped_bytes(), 0);
        assert_eq!(many[7].1.bytes(), &many[7].0[..]);
        assert!(put(&vec![0u8; CHUNK + 1]).is_none());
    }
}
