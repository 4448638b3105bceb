//! SIGTERM and SIGINT: a run stops at the next safe point instead of dying
//! where it stands.
//!
//! systemd sends SIGTERM on stop and on reboot, an operator presses Ctrl-C.
//! Killed outright, a run would leave unpacked personal data in its staging
//! directory and its lock held. Once [`install`]ed, the first signal is
//! recorded here and raised on the run's stop flags ([`watch`]): the apply
//! issues no new operation (those in flight finish), the parse and the read
//! of the directory stop, and the run ends normally — lock released with
//! outcome `interrupted`, staging removed, report and metrics written. A
//! second signal exits at once (the staging directories are still removed;
//! the lock, held by a dead process, is taken over by the next run).

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The first signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// A run's stop flag (`ldap::Halt` derefs to it): the reason it stops.
type Flag = Mutex<Option<String>>;
/// Raisers of the stop flags of the run's directories (the flag type is
/// `ldap`'s, which comes after `host`: held here as what raises it).
static HALTS: Mutex<Vec<Raiser>> = Mutex::new(Vec::new());
/// Raises one directory's stop flag with the reason given.
type Raiser = Box<dyn Fn(&str) + Send>;

fn raise_flag(flag: &Flag, why: &str) {
    if let Ok(mut h) = flag.lock() {
        h.get_or_insert_with(|| why.to_string());
    }
}
/// Live staging directories, removed by an exit on a second signal.
static STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// `interrupted by SIGTERM` once a signal came.
pub fn reason() -> Option<String> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(format!("interrupted by {}", name(s))),
    }
}

/// True once a signal came.
pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// Records `sig` as if it had been received (tests, and the signal task).
pub fn raise(sig: i32) {
    if SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return;
    }
    let why = reason().unwrap_or_default();
    if let Ok(hs) = HALTS.lock() {
        for raise_one in hs.iter() {
            raise_one(&why);
        }
    }
}

/// Raises the run's stop flag `h` on a signal (at once if one came already).
pub fn watch<H>(h: &H)
where
    H: Deref<Target = Flag> + Clone + Send + 'static,
{
    if let Ok(mut hs) = HALTS.lock() {
        let mine = h.clone();
        hs.push(Box::new(move |why| raise_flag(&mine, why)));
    }
    if let Some(why) = reason() {
        raise_flag(h, &why);
    }
}

/// Remembers a live staging directory (removed if a second signal exits).
pub fn track_staging(p: &std::path::Path) {
    if let Ok(mut v) = STAGING.lock() {
        v.push(p.to_path_buf());
    }
}

/// Forgets a staging directory removed by its owner.
pub fn untrack_staging(p: &std::path::Path) {
    if let Ok(mut v) = STAGING.lock() {
        v.retain(|x| x != p);
    }
}

/// Resolves once a signal came (polled: it only runs while something
/// waits for it).
pub async fn wait() -> String {
    loop {
        if let Some(why) = reason() {
            return why;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resolves `grace` after a signal: how long a run may take to stop at a
/// safe point before it is cut short.
pub async fn wait_then(grace: Duration) -> String {
    let why = wait().await;
    tokio::time::sleep(grace).await;
    why
}

/// `fut`, or `cut(why)` as soon as a signal comes.
pub async fn race<T>(
    fut: impl std::future::Future<Output = T>,
    cut: impl FnOnce(String) -> T,
) -> T {
    tokio::select! {
        biased;
        r = fut => r,
        why = wait() => cut(why),
    }
}

/// Installs the SIGTERM and SIGINT handlers; call from inside the runtime
/// of a writing command (a command that installs nothing dies on the
/// signal as usual, which is right when it writes nothing).
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                _ = term.recv() => libc::SIGTERM,
                _ = int.recv() => libc::SIGINT,
            };
            if requested() {
                exit_now(sig);
            }
            raise(sig);
            tracing::warn!(
                signal = name(sig),
                "stopping at the next safe point (no new write; lock released, staging removed); send it again to exit at once"
            );
        }
    });
    Ok(())
}

/// The second signal: remove the staging directories and exit.
fn exit_now(sig: i32) -> ! {
    if let Ok(v) = STAGING.lock() {
        for p in v.iter() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    eprintln!(
        "aaf-sync: {} again: exiting at once (staging removed; the run lock is taken over by the next run)",
        name(sig)
    );
    std::process::exit(2)
}
