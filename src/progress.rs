//! Progress bars for the long phases (parse, read, apply) with rates and
//! ETA, on a terminal only: in cron or under systemd nothing is drawn.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// One drawing surface for every bar: the directory read and the parse of
/// a Complet run at the same time, each on its own line.
static BARS: LazyLock<MultiProgress> =
    LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));

/// Turns the bars on (the command line does, when stderr is a terminal).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// One phase's bar; a no-op when bars are off.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// `total`: the number of items when known (a bar with ETA), else a
    /// counter with its rate.
    pub fn new(phase: &str, total: Option<u64>) -> Progress {
        if !ENABLED.load(Ordering::Relaxed) {
            return Progress(None);
        }
        let (bar, template) = match total {
            Some(n) => (
                ProgressBar::new(n),
                "{prefix:>8} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{prefix:>8} {spinner} {human_pos} {per_sec} {elapsed}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        let bar = BARS.add(bar);
        bar.set_prefix(phase.to_string());
        Progress(Some(bar))
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
