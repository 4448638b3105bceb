//! Progress of the long phases (parse, read, apply). On a terminal, bars
//! with counts, rates and ETA; elsewhere (cron, systemd) a log line at
//! info level every ~10 s, so that a journal shows a long first load is
//! alive instead of staying silent until the summary.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--no-progress`).
    Off,
    /// Bars on stderr (a terminal).
    Bars,
    /// An info log line every [`interval`] (no terminal).
    Lines,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// The log target of the progress lines: the default log filter lets it
/// through at info level while everything else stays at warn.
pub const TARGET: &str = "aaf_sync::host::progress";

/// The variable that sets the interval between progress lines, in
/// milliseconds (default 10 000); tests shorten it.
pub const INTERVAL_VAR: &str = "AAF_SYNC_PROGRESS_INTERVAL_MS";

/// One drawing surface for every bar: the directory read and the parse of
/// a Complet run at the same time, each on its own line.
static BARS: LazyLock<MultiProgress> =
    LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));

static INTERVAL: LazyLock<Duration> = LazyLock::new(|| {
    let ms = std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(10_000);
    Duration::from_millis(ms)
});

/// Chooses how progress is shown (the command line does: bars when stderr
/// is a terminal, log lines otherwise, nothing with `--no-progress`).
pub fn set_mode(m: Mode) {
    MODE.store(m as u8, Ordering::Relaxed);
}

fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Bars,
        2 => Mode::Lines,
        _ => Mode::Off,
    }
}

/// The interval between two progress lines.
pub fn interval() -> Duration {
    *INTERVAL
}

/// Clears whatever bar is still drawn, so that what is printed next (the
/// summary) starts on a line of its own.
pub fn clear() {
    if mode() == Mode::Bars {
        let _ = BARS.clear();
    }
}

/// `1234567` → `1,234,567`: counts read at a glance.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, rounded to a whole number (grouped), or to one
/// decimal below 10: `1,234/s`, `3.5/s`.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return "0/s".into();
    }
    if per_sec < 10.0 {
        return format!("{per_sec:.1}/s");
    }
    // a rate is far below u64::MAX; the cast saturates anyway
    format!("{}/s", grouped(per_sec.round() as u64))
}

/// The progress line of a phase: `parse: 12,345 records (1,234/s)`, or
/// with a known total `apply: 120/2,000 operations (40/s)`.
pub fn line(phase: &str, done: u64, total: Option<u64>, unit: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let per_sec = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let mut s = format!("{phase}: {}", grouped(done));
    if let Some(t) = total {
        let _ = write!(s, "/{}", grouped(t));
    }
    let _ = write!(s, " {unit} ({})", rate(per_sec));
    s
}

/// One phase's progress; a no-op when progress is off.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: Option<Lines>,
    unit: &'static str,
}

/// The log lines of one phase, without a terminal.
struct Lines {
    phase: String,
    total: Option<u64>,
    started: Instant,
    done: AtomicU64,
    /// When the last line was logged, in nanoseconds since `started`.
    last: AtomicU64,
}

impl Progress {
    /// `unit`: what is counted (`records`, `entries`, `operations`);
    /// `total`: the number of items when known (a bar with ETA), else a
    /// counter with its rate. A known total of 0 (a run with nothing to
    /// do) shows nothing: an empty `0/0` bar says nothing useful.
    pub fn new(phase: &str, unit: &'static str, total: Option<u64>) -> Progress {
        let off = Progress {
            bar: None,
            lines: None,
            unit,
        };
        if total == Some(0) {
            return off;
        }
        match mode() {
            Mode::Off => off,
            Mode::Lines => Progress {
                bar: None,
                lines: Some(Lines {
                    phase: phase.to_string(),
                    total,
                    started: Instant::now(),
                    done: AtomicU64::new(0),
                    last: AtomicU64::new(0),
                }),
                unit,
            },
            Mode::Bars => {
                let (bar, template) = match total {
                    Some(n) => (
                        ProgressBar::new(n),
                        format!("{{prefix:>8}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{rate}} eta {{eta}}"),
                    ),
                    None => (
                        ProgressBar::new_spinner(),
                        format!("{{prefix:>8}} {{spinner}} {{human_pos}} {unit} {{rate}} {{elapsed}}"),
                    ),
                };
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    // indicatif's own {per_sec} shows four decimals
                    let style = style.with_key(
                        "rate",
                        |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = w.write_str(&rate(st.per_sec()));
                        },
                    );
                    bar.set_style(style.progress_chars("=> "));
                }
                let bar = BARS.add(bar);
                bar.set_prefix(phase.to_string());
                Progress {
                    bar: Some(bar),
                    lines: None,
                    unit,
                }
            }
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(l) = &self.lines {
            let done = l.done.fetch_add(n, Ordering::Relaxed) + n;
            let now = l.started.elapsed();
            let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
            let last = l.last.load(Ordering::Relaxed);
            let due = u64::try_from(interval().as_nanos()).unwrap_or(u64::MAX);
            if nanos.saturating_sub(last) >= due
                && l.last
                    .compare_exchange(last, nanos, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::info!(target: TARGET, "{}", line(&l.phase, done, l.total, self.unit, now));
            }
        }
    }

    /// Ends the phase. The bar is cleared and its final count printed as a
    /// plain line above the others, so that nothing half-drawn is left for
    /// the summary to be glued to; without a terminal, a last line is
    /// logged when the phase lasted long enough to have logged any.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                let done = b.position();
                let total = b.length().filter(|_| !b.is_hidden());
                let text = line(
                    &format!("{:>8}", b.prefix()),
                    done,
                    total,
                    self.unit,
                    b.elapsed(),
                );
                b.finish_and_clear();
                let _ = BARS.println(format!("{text} in {}", elapsed(b.elapsed())));
            }
        }
        if let Some(l) = &self.lines {
            let now = l.started.elapsed();
            if now >= interval() {
                let done = l.done.load(Ordering::Relaxed);
                tracing::info!(
                    target: TARGET,
                    "{} in {}",
                    line(&l.phase, done, l.total, self.unit, now),
                    elapsed(now)
                );
            }
        }
    }
}

/// `75 s`, `3 min 05 s`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                // a phase cut short (an error): its bar goes, the error says why
                b.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_read_at_a_glance() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(rate(1234.5678), "1,235/s");
        assert_eq!(rate(3.4567), "3.5/s");
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(
            line("parse", 12_345, None, "records", Duration::from_secs(10)),
            "parse: 12,345 records (1,235/s)"
        );
        assert_eq!(
            line(
                "apply",
                120,
                Some(2000),
                "operations",
                Duration::from_secs(3)
            ),
            "apply: 120/2,000 operations (40/s)"
        );
        assert_eq!(
            line("read", 5, None, "entries", Duration::ZERO),
            "read: 5 entries (0/s)"
        );
        assert_eq!(elapsed(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(elapsed(Duration::from_secs(185)), "3 min 05 s");
    }

    #[test]
    fn nothing_to_do_draws_nothing() {
        set_mode(Mode::Lines);
        let p = Progress::new("apply", "operations", Some(0));
        assert!(p.bar.is_none() && p.lines.is_none());
        set_mode(Mode::Off);
    }
}
