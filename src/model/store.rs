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
//! its blocks are reserved before use: a full disk makes [`Store::put`]
//! decline (the bytes then stay on the heap) instead of failing a write into a
//! mapping later, which would kill the process.
//!
//! Stored bytes are immutable; a changed entry is written again, and a chunk
//! no entry refers to any more is unmapped and its blocks given back.
//!
//! Heap fallback: where a chunk cannot be reserved or mapped, and on
//! systems other than Linux (no `fallocate`, so no way to reserve the
//! blocks a mapping will write), [`Store::put`] declines and the entry
//! keeps its bytes on the heap: the run is the same, only in memory.
//!
//! A [`Store`] is a value, owned by the run that opens it
//! ([`Store::open`]) and handed down to whatever freezes entries
//! ([`crate::model::Entry::freeze`]): there is no store of the process.
//! Stored bytes know the store they came from ([`Stored::put_again`]), so
//! that an edit of a frozen entry goes back there (or to the heap once
//! that store is closed). The one process-wide thing is a figure, the
//! largest size a store's file reached ([`peak_bytes`]), for the report.

use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Size of one mapping. Entries larger than this (none in practice: a
/// class of a thousand members is 60 KiB) stay on the heap.
const CHUNK: usize = 64 << 20;

/// How often the trimmer gives the touched pages back, at the least.
const TRIM_EVERY: Duration = Duration::from_millis(100);

/// How often the trimmer looks at the process's resident file pages, and
/// how many more than after its last trim make it trim at once: a walk
/// over the whole store (the plan's counts, a Delta's index of the tree)
/// maps pages back at gigabytes a second, and 100 ms of it put 400 MiB
/// on top of the heap's peak.
const LOOK_EVERY: Duration = Duration::from_millis(5);
const TRIM_ABOVE: u64 = 32 << 20;
/// Past this resident size, the trimmer looks every LOOK_TIGHT and trims
/// above TRIM_TIGHT. A plan's diff touches entries in key order, not in
/// the store's: each touch maps a page and the kernel's fault-around maps
/// its neighbours too (MADV_RANDOM does not stop it), and between two
/// looks 5 ms apart that put up to 280 MiB over a 1.5 M tree's heap
/// peak. Looking this often costs re-faults (8% of a whole-tree Delta):
/// paid only where memory is short.
const TIGHT_FROM: u64 = 640 << 20;
const LOOK_TIGHT: Duration = Duration::from_millis(1);
const TRIM_TIGHT: u64 = 16 << 20;
const FLOOR_FOR: Duration = Duration::from_secs(1);

/// Whether this system can reserve a file's blocks before mapping them
/// (see [`reserve`]); elsewhere the store keeps nothing and entries stay
/// on the heap.
const MAPPED: bool = cfg!(target_os = "linux");

/// Blocks `[off, off + CHUNK)` of the store's file, reserved for one
/// chunk; given back to the file system when dropped.
struct Blocks {
    file: Arc<File>,
    off: u64,
}

impl Drop for Blocks {
    fn drop(&mut self) {
        give_back(&self.file, self.off);
    }
}

/// One mapped region of the file. Field order matters: `map` is dropped
/// (unmapped) before `blocks` punches the hole, so that no page of a
/// live mapping ever loses its blocks.
struct Chunk {
    map: MmapRaw,
    _blocks: Blocks,
    /// The store that made this chunk, where an edit of its bytes is
    /// written again ([`Stored::put_again`]). Weak: what is stored does
    /// not keep a closed store open (its trimmer would never stop).
    home: Weak<Mutex<State>>,
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
        // SAFETY: the mapping is MAP_SHARED (memmap2's `map_raw`) of a file
        // only this process holds: created 0600 with `create_new` and
        // unlinked at once, so nothing else can open, map, write or
        // truncate it. Its blocks were reserved (fallocate) before it was
        // mapped, and the file is only ever extended, chunk after chunk,
        // never truncated: reading a mapped page cannot fault (SIGBUS).
        // [off, off + len) lies inside this chunk, was fully written
        // before this value was made and is never written again, and the
        // mapping lives as long as `self.chunk`. Pages the trimmer dropped
        // (MADV_DONTNEED on a shared file mapping) are read back from the
        // page cache or the file, unchanged.
        unsafe {
            std::slice::from_raw_parts(
                self.chunk.map.as_ptr().add(self.off as usize),
                self.len as usize,
            )
        }
    }

    /// Copies `bytes` into the store these bytes came from ([`Store::put`]):
    /// an edited entry stays where it was. `None` when that store is closed
    /// or declines: the caller keeps them on the heap.
    pub fn put_again(&self, bytes: &[u8]) -> Option<Stored> {
        let state = self.chunk.home.upgrade()?;
        Store { state }.put(bytes)
    }
}

/// The entry store of a run: one unlinked file in the work directory,
/// mapped chunk by chunk, and the thread that trims its resident pages.
/// Dropping the last clone closes it (stops the trimmer); bytes already
/// stored stay readable, each [`Stored`] holding its chunk.
#[derive(Clone)]
pub struct Store {
    state: Arc<Mutex<State>>,
}

struct State {
    /// `None` on systems where the store cannot map (see [`MAPPED`]).
    file: Option<Arc<File>>,
    /// Chunks made so far (the next one goes at `made * CHUNK`).
    made: u64,
    tail: Option<(Arc<Chunk>, usize)>,
    /// Every chunk still alive, for the trimmer.
    chunks: Vec<Weak<Chunk>>,
    /// Dropped to stop the trimmer.
    _stop: mpsc::Sender<()>,
    /// Set when the disk or the kernel refused a chunk: no further attempt.
    full: bool,
}

/// Largest file size reached in this process, all stores together: the
/// figure [`peak_bytes`] reads.
static PEAK: AtomicU64 = AtomicU64::new(0);

fn locked(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Store {
    /// Opens a store in `dir`: the file is created there with mode 0600
    /// and unlinked at once. Off Linux, no file: a store that keeps
    /// nothing.
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let file = if MAPPED {
            Some(Arc::new(create_unlinked(dir)?))
        } else {
            None
        };
        // the trimmer stops when `stop` goes, with the state it is in
        let (stop, stopped) = mpsc::channel();
        let state = Arc::new(Mutex::new(State {
            file,
            made: 0,
            tail: None,
            chunks: Vec::new(),
            _stop: stop,
            full: !MAPPED,
        }));
        if MAPPED {
            let weak = Arc::downgrade(&state);
            std::thread::Builder::new()
                .name("store-trim".into())
                .spawn(move || trim_loop(weak, stopped))?;
        }
        Ok(Store { state })
    }

    /// Copies `bytes` into the store. `None` when the bytes are too large
    /// or no chunk can be had (disk full, mapping refused, not Linux): the
    /// caller keeps them on the heap.
    pub fn put(&self, bytes: &[u8]) -> Option<Stored> {
        if bytes.is_empty() || bytes.len() > CHUNK {
            return None;
        }
        let mut g = locked(&self.state);
        let s = &mut *g;
        let fits = s
            .tail
            .as_ref()
            .is_some_and(|(_, used)| used + bytes.len() <= CHUNK);
        if !fits {
            if s.full {
                return None;
            }
            match new_chunk(s, Arc::downgrade(&self.state)) {
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
        // SAFETY: [off, off + len) is inside the mapping (checked above)
        // and not yet handed out to any `Stored`: no reader can see it
        // while it is written, and the lock keeps other writers away. The
        // blocks under it are reserved, so the write cannot fault.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                chunk.map.as_mut_ptr().add(off),
                bytes.len(),
            );
        }
        *used += bytes.len();
        Some(Stored {
            chunk: Arc::clone(chunk),
            off: off as u32,
            len: bytes.len() as u32,
        })
    }

    /// Size of this store's file (chunks made so far).
    pub fn mapped_bytes(&self) -> u64 {
        locked(&self.state).made * CHUNK as u64
    }
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

/// Reserves the blocks of `[off, off + CHUNK)` (growing the file), so that
/// writing through the mapping cannot hit a full disk (SIGBUS).
#[cfg(target_os = "linux")]
fn reserve(file: &File, off: u64) -> std::io::Result<()> {
    use rustix::fs::{fallocate, FallocateFlags};
    Ok(fallocate(file, FallocateFlags::empty(), off, CHUNK as u64)?)
}

#[cfg(not(target_os = "linux"))]
fn reserve(_: &File, _: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Gives the blocks of an unmapped chunk back to the file system (the
/// file keeps its size: later chunks stay where they are); best effort.
#[cfg(target_os = "linux")]
fn give_back(file: &File, off: u64) {
    use rustix::fs::{fallocate, FallocateFlags};
    let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
    let _ = fallocate(file, flags, off, CHUNK as u64);
}

#[cfg(not(target_os = "linux"))]
fn give_back(_: &File, _: u64) {}

fn new_chunk(s: &mut State, home: Weak<Mutex<State>>) -> std::io::Result<Arc<Chunk>> {
    let Some(file) = &s.file else {
        return Err(std::io::ErrorKind::Unsupported.into());
    };
    let off = s.made * CHUNK as u64;
    reserve(file, off)?;
    // Still reserved if the mapping fails: the hole is punched then.
    let blocks = Blocks {
        file: Arc::clone(file),
        off,
    };
    // MAP_SHARED, read and write: the kernel writes the pages back to the
    // file and drops them under memory pressure, where a private or
    // anonymous mapping would have to swap them.
    let map = MmapOptions::new().offset(off).len(CHUNK).map_raw(&**file)?;
    // entries are looked up in no particular order: mapping a page
    // should not map its neighbours too (fault-around), or the
    // resident set grows sixteen pages per entry read; advice only
    let _ = map.advise(memmap2::Advice::Random);
    s.made += 1;
    PEAK.fetch_max(s.made * CHUNK as u64, Ordering::Relaxed);
    Ok(Arc::new(Chunk {
        map,
        _blocks: blocks,
        home,
    }))
}

/// Resident file-backed pages of this process, in bytes (`/proc/self/statm`,
/// third field: the store's mapped pages, the program's own text and
/// libraries). `None` where it cannot be read.
fn resident_file_bytes(statm: &mut Option<File>) -> Option<u64> {
    resident_bytes(statm).map(|(_, file)| file)
}

/// Resident pages of this process, all of them and the file-backed ones,
/// in bytes (`/proc/self/statm`, second and third fields).
fn resident_bytes(statm: &mut Option<File>) -> Option<(u64, u64)> {
    use std::io::{Read, Seek};
    let f = match statm {
        Some(f) => f,
        None => statm.insert(File::open("/proc/self/statm").ok()?),
    };
    let mut text = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut text).ok()?;
    let mut fields = text.split_whitespace().skip(1);
    let total: u64 = fields.next()?.parse().ok()?;
    let file: u64 = fields.next()?.parse().ok()?;
    Some((total * 4096, file * 4096))
}

/// Unmaps the pages of every live chunk each TRIM_EVERY, and sooner when
/// the resident file pages grew by TRIM_ABOVE since the last trim. Their
/// content stays in the file (page cache); the next read maps it back in.
/// Goes on once the store is closed, for as long as bytes stored in it
/// live: a dry run prints its plan from them after the run is over, and a
/// first sync's plan is the whole store.
fn trim_loop(state: Weak<Mutex<State>>, stop: mpsc::Receiver<()>) {
    let mut statm = None;
    let mut after_trim = resident_file_bytes(&mut statm);
    let mut last = std::time::Instant::now();
    let mut known: Vec<Weak<Chunk>> = Vec::new();
    let mut open = true;
    let mut floor_at = std::time::Instant::now();
    let mut tight = false;
    loop {
        let look = if tight { LOOK_TIGHT } else { LOOK_EVERY };
        if open {
            if !matches!(stop.recv_timeout(look), Err(RecvTimeoutError::Timeout)) {
                open = false;
            }
        } else {
            std::thread::sleep(look);
        }
        let now = resident_bytes(&mut statm);
        tight = now.is_some_and(|(total, _)| total > TIGHT_FROM);
        let above = if tight { TRIM_TIGHT } else { TRIM_ABOVE };
        let grown = match (after_trim, now) {
            (Some(base), Some((_, file))) => file > base + above,
            _ => false,
        };
        let due = grown || last.elapsed() >= TRIM_EVERY;
        if open && !due {
            continue;
        }
        if let Some(st) = state.upgrade() {
            known = locked(&st).chunks.clone();
        }
        let live: Vec<Arc<Chunk>> = known.iter().filter_map(Weak::upgrade).collect();
        if live.is_empty() && state.strong_count() == 0 {
            return;
        }
        if !due {
            continue;
        }
        for c in &live {
            // SAFETY: MADV_DONTNEED on a MAP_SHARED file mapping only
            // drops the page table entries: the data stays in the page
            // cache and the file (blocks reserved, never truncated), and
            // the next read faults it back in unchanged. (On a private
            // mapping it would zero the pages; this one is never private.)
            unsafe {
                let _ = c.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed);
            }
        }
        drop(live);
        // the least reading after a trim: one taken while a walk went on
        // mapping pages would raise the mark, and the next walks would
        // stay mapped until the period; renewed each FLOOR_FOR, so that
        // other file pages of the process do not make it trim in a loop
        let now = resident_file_bytes(&mut statm);
        after_trim = match (after_trim, now) {
            (Some(a), Some(n)) if floor_at.elapsed() < FLOOR_FOR => Some(a.min(n)),
            _ => {
                floor_at = std::time::Instant::now();
                now
            }
        };
        last = std::time::Instant::now();
    }
}

/// Largest size a store's file reached in this process, all stores
/// together, for the report's `store_peak_mib` (the disk space a run needs
/// beside its extractions). A figure, not a store: nothing is reached
/// through it.
pub fn peak_bytes() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_over_the_store_is_given_back_before_the_trimmer_s_period() {
        let mut statm = None;
        if !MAPPED {
            // the store maps (and trims) only on Linux
            return;
        }
        let before = resident_file_bytes(&mut statm).expect("/proc/self/statm on Linux");
        assert!(before > 0, "the program's own text is file-backed");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let block = vec![7u8; 1 << 20];
        let stored: Vec<Stored> = (0..96).filter_map(|_| store.put(&block)).collect();
        assert_eq!(stored.len(), 96);
        // every page walked, four times, as the plan's walks do: far more
        // than TRIM_ABOVE mapped at once if nothing gave it back; each
        // walk given back within a fifth of the trimmer's period; the
        // last one once the store is closed (a dry run prints its plan
        // from the stored bytes after the run)
        let mut store = Some(store);
        for walk in 0..4 {
            if walk == 3 {
                drop(store.take());
            }
            for s in &stored {
                let b = s.bytes();
                assert!(b.iter().step_by(4096).all(|&x| x == 7));
            }
            let mut least = u64::MAX;
            let deadline = std::time::Instant::now() + TRIM_EVERY / 5;
            while std::time::Instant::now() < deadline {
                if let Some(now) = resident_file_bytes(&mut statm) {
                    least = least.min(now);
                }
                std::thread::sleep(LOOK_EVERY / 5);
            }
            assert!(
                least < before + 48 * (1 << 20),
                "walk {walk}: resident file pages {least} against {before} before 96 MiB were walked"
            );
        }
    }

    #[test]
    fn bytes_come_back_after_trims_and_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // the file is unlinked as soon as it exists
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let many: Vec<(Vec<u8>, Stored)> = (0..60_000u32)
            .map(|i| {
                let b = format!("entry {i} {}", "x".repeat((i % 5000) as usize)).into_bytes();
                let s = store.put(&b).unwrap();
                (b, s)
            })
            .collect();
        assert!(
            store.mapped_bytes() >= 2 * CHUNK as u64,
            "spans several chunks"
        );
        assert!(peak_bytes() >= store.mapped_bytes());
        std::thread::sleep(TRIM_EVERY * 2);
        for (b, s) in &many {
            assert_eq!(s.bytes(), &b[..]);
        }
        // an edit goes back to the store the bytes came from
        let again = many[3].1.put_again(b"edited").unwrap();
        assert_eq!(again.bytes(), b"edited");
        assert!(store.put(&vec![0u8; CHUNK + 1]).is_none());
        drop(store);
        // closed: nothing more is stored, what was stays readable
        assert!(many[5].1.put_again(b"late").is_none());
        assert_eq!(many[7].1.bytes(), &many[7].0[..]);
        assert_eq!(again.bytes(), b"edited");
    }

    #[test]
    fn stored_bytes_cost_no_more_than_before() {
        // a million entries hold one each: the pointer back to the store
        // is the chunk's, not every entry's
        assert_eq!(std::mem::size_of::<Stored>(), 16);
    }

    #[test]
    fn a_store_is_a_value_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            Store::open(dir.path()).unwrap(),
            Store::open(dir.path()).unwrap(),
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let x = a.put(b"in a").unwrap();
        let y = b.clone().put(b"in b").unwrap();
        assert_eq!(
            (a.mapped_bytes(), b.mapped_bytes()),
            (CHUNK as u64, CHUNK as u64)
        );
        // written again where it came from: b's chunk, not a's
        let y2 = y.put_again(b"again in b").unwrap();
        assert!(Arc::ptr_eq(&y2.chunk, &y.chunk) && !Arc::ptr_eq(&y2.chunk, &x.chunk));
        drop((a, b));
        assert!(x.put_again(b"late").is_none());
        // closed: what was stored stays readable
        assert_eq!((x.bytes(), y.bytes()), (&b"in a"[..], &b"in b"[..]));
        assert!(Store::open(dir.path()).unwrap().put(b"").is_none());
    }
}
