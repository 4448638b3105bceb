//! `aaf-sync status`: what an operator asks first, read from the directory
//! (so any host can answer): the last extraction applied, the last run and
//! the run lock, the active entries and the departures pending with their
//! deadlines, and a plan held back for approval on this host. In a
//! replicated directory, the topology too: which server answered, which
//! one the managed tree was read from, and each server's replication lag
//! as its `contextCSN` shows it.

use crate::config::Config;
use crate::ldap::lock::LockState;
use crate::ldap::Directory;
use crate::ops::approval::{self, Held};
use crate::run::control::Control;
use crate::safety;
use crate::schema::date::{self, format_date};
use crate::schema::EntryKind;
use crate::schema::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use time::{OffsetDateTime, UtcOffset};

/// Departed entries of one category waiting for their deadline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pending {
    pub count: u64,
    /// Deadline (YYYY-MM-DD) → entries deleted on the first run from then.
    pub deadlines: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub source: String,
    pub base_dn: String,
    pub last_extraction: Option<String>,
    pub last_extraction_date: Option<String>,
    pub last_complet_date: Option<String>,
    pub school_year: Option<i32>,
    /// The directory is in step with the extractions applied; when not,
    /// `not_in_step` names the first one applied with failures since.
    pub in_step: bool,
    pub not_in_step: Option<String>,
    pub lock: Option<LockState>,
    pub active: BTreeMap<String, u64>,
    pub pending: BTreeMap<String, Pending>,
    /// A plan held back on this host, waiting for approval.
    pub held_plan: Option<Held>,
    /// The provider that answered (the lock and control entries were read
    /// there).
    pub answered_by: String,
    /// Where the managed entries were counted (a consumer when it had
    /// caught up).
    pub read_from: Option<String>,
    /// Every configured server, when there are several.
    pub topology: Option<crate::ldap::replication::Topology>,
}

/// Reads the status of `cfg`'s source.
pub async fn read(cfg: &Config) -> anyhow::Result<Status> {
    let layout = cfg.layout();
    let dir = Directory::connect_n(&cfg.ldap, 1).await?;
    let control = dir.read_control(&layout).await?;
    let lock = dir.read_lock(&layout).await?;
    let snap = dir.read_managed(&layout).await?;
    let answered_by = dir.url().to_string();
    let read_from = dir.read_from();
    dir.close().await;
    let topology = if cfg.ldap.replicated() {
        Some(crate::ldap::replication::probe(&cfg.ldap, std::time::Duration::ZERO).await)
    } else {
        None
    };
    let c = control
        .as_ref()
        .map(Control::from_entry)
        .unwrap_or_default();
    let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
    for e in snap.managed.values() {
        let Some(kind) = EntryKind::of(e).filter(|k| safety::CATEGORIES.contains(k)) else {
            continue;
        };
        let st = State::of(e);
        if !st.departed() {
            continue;
        }
        let p = pending.entry(kind.as_str().to_string()).or_default();
        p.count += 1;
        let when = st
            .deadline
            .map(format_date)
            .unwrap_or_else(|| "when unreferenced".into());
        *p.deadlines.entry(when).or_default() += 1;
    }
    Ok(Status {
        source: cfg.source.clone(),
        base_dn: cfg.ldap.base_dn.clone(),
        last_extraction: c.applied.as_ref().map(|a| a.label.clone()),
        last_extraction_date: c.applied.as_ref().map(|a| format_date(a.date)),
        last_complet_date: c.complet_date.map(format_date),
        school_year: c.school_year,
        in_step: c.in_step(),
        not_in_step: c.not_in_step.clone(),
        lock,
        active: safety::active_counts(&snap.managed),
        pending,
        held_plan: approval::held(&cfg.work_dir),
        answered_by,
        read_from,
        topology,
    })
}

/// The clock the readable status is written against: the current time,
/// and the local offset at a given instant (daylight saving time moves
/// it). A parameter, so that tests fix both.
pub struct Clock {
    pub now: OffsetDateTime,
    pub local: fn(OffsetDateTime) -> UtcOffset,
}

impl Clock {
    /// The system's clock and time zone (`TZ`, else `/etc/localtime`).
    pub fn system() -> Clock {
        Clock {
            now: OffsetDateTime::now_utc(),
            local: system_offset,
        }
    }
}

/// The local offset at `t`, from the C library (the `time` crate refuses
/// to read it in a multi-threaded process); UTC when it cannot say.
fn system_offset(t: OffsetDateTime) -> UtcOffset {
    // time_t is 64 bits on every target this runs on
    let secs: libc::time_t = t.unix_timestamp();
    // SAFETY: localtime_r only writes the `tm` it is given; a zeroed `tm`
    // is a valid value of that plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return UtcOffset::UTC;
    }
    i32::try_from(tm.tm_gmtoff)
        .ok()
        .and_then(|s| UtcOffset::from_whole_seconds(s).ok())
        .unwrap_or(UtcOffset::UTC)
}

/// A time the directory or a plan file holds (`20261203042525Z`, or RFC
/// 3339), as a person reads it: local date and time, and how long ago (or
/// in how long): `2026-12-03 05:25 (3 h ago)`. A value that is not a time
/// is given as it is.
pub fn when(value: &str, clock: &Clock) -> String {
    let Some(t) = parse_time(value) else {
        return value.to_string();
    };
    let local = t.to_offset((clock.local)(t));
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let shown = local.format(&fmt).unwrap_or_else(|_| value.to_string());
    format!("{shown} ({})", age(clock.now - t))
}

fn parse_time(v: &str) -> Option<OffsetDateTime> {
    date::parse_generalized_time(v).or_else(|| date::parse_rfc3339(v))
}

/// `3 h ago`, `in 4 min`, `just now`.
fn age(d: time::Duration) -> String {
    let secs = d.whole_seconds();
    let n = secs.unsigned_abs();
    let amount = match n {
        0..60 => return "just now".into(),
        60..3600 => format!("{} min", n / 60),
        3600..172_800 => format!("{} h", n / 3600),
        _ => format!("{} days", n / 86_400),
    };
    if secs > 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

impl Status {
    /// The readable form, against the system's clock.
    pub fn text(&self) -> String {
        self.text_at(&Clock::system())
    }

    /// The readable form: times local, with their age on `clock`.
    pub fn text_at(&self, clock: &Clock) -> String {
        let mut s = String::new();
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        let at = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "none".into(), |t| when(t, clock))
        };
        let _ = writeln!(s, "source {} under {}", self.source, self.base_dn);
        if let Some(t) = &self.topology {
            let _ = writeln!(
                s,
                "directory: answered by {}, managed entries read from {}",
                self.answered_by,
                self.read_from.as_deref().unwrap_or("none")
            );
            for l in t.lines() {
                let _ = writeln!(s, "  {l}");
            }
            if !t.designated_up() {
                let _ = writeln!(
                    s,
                    "  the designated provider does not answer: writing runs refuse (the run lock lives there)"
                );
            }
        }
        let _ = writeln!(
            s,
            "last extraction applied: {} (Complet of {}){}",
            or(&self.last_extraction),
            or(&self.last_complet_date),
            self.school_year
                .map(|y| format!(", school year {y}-{}", y + 1))
                .unwrap_or_default()
        );
        if let Some(x) = &self.not_in_step {
            let _ = writeln!(
                s,
                "directory NOT in step: {x} was applied with failed operations or entries left out; the next run applies it again (see the last report)"
            );
        }
        match &self.lock {
            None => {
                let _ = writeln!(s, "last run: none recorded; lock: free");
            }
            Some(l) => {
                let run = format!(
                    "last run: {} {} started {}",
                    or(&l.last_run_command),
                    or(&l.last_run_id),
                    at(&l.last_run_started),
                );
                let _ = match (&l.holder, &l.last_run_finished) {
                    (Some(_), None) if l.stale => {
                        writeln!(s, "{run}: did not finish (it died holding the lock)")
                    }
                    (Some(_), None) => writeln!(s, "{run}: still running"),
                    _ => writeln!(
                        s,
                        "{run} finished {} outcome {}{}",
                        at(&l.last_run_finished),
                        or(&l.last_run_outcome),
                        l.last_run_note
                            .as_ref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    ),
                };
                let _ = writeln!(s, "{}", lock_line(l, clock));
            }
        }
        let active: Vec<String> = self
            .active
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "active: {}", active.join(", "));
        if self.pending.is_empty() {
            let _ = writeln!(s, "pending departures: none");
        }
        for (cat, p) in &self.pending {
            let d: Vec<String> = p
                .deadlines
                .iter()
                .map(|(d, n)| format!("{d}: {n}"))
                .collect();
            let _ = writeln!(s, "pending departures {cat} {}: {}", p.count, d.join(", "));
        }
        if let Some(h) = &self.held_plan {
            let _ = writeln!(
                s,
                "held plan {} (run {} at {}), review {} then `aaf-sync approve`:",
                h.digest,
                h.run_id,
                when(&h.held_at, clock),
                h.ldif.display()
            );
            for r in &h.reasons {
                let _ = writeln!(s, "  {r}");
            }
        }
        s
    }
}

/// What the lock says: free, held by a live run, or held by a run that is
/// gone (and from when the next run may take it).
fn lock_line(l: &LockState, clock: &Clock) -> String {
    let Some(h) = &l.holder else {
        return "lock: free".into();
    };
    let at = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "none".into(), |t| when(t, clock))
    };
    let (since, until) = (at(&l.since), at(&l.expires));
    match (l.holder_alive, l.expired) {
        (Some(false), _) => format!(
            "lock: held by {h} since {since}, a dead run (its process is gone from this host; expires {until}): the next run takes it over at once"
        ),
        (_, true) => format!(
            "lock: held by {h} since {since}, expired {until}: its run is gone or stalled; the next run takes it over"
        ),
        (Some(true), false) => {
            format!("lock: held by {h} since {since} until {until} (a run alive on this host)")
        }
        (None, false) => format!(
            "lock: held by {h} since {since} until {until} (renewed while that run lives; if it died, free from {until})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris_winter(_: OffsetDateTime) -> UtcOffset {
        UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC)
    }

    fn clock() -> Clock {
        Clock {
            now: time::macros::datetime!(2026-12-03 07:30:00 UTC),
            local: paris_winter,
        }
    }

    #[test]
    fn times_are_local_with_their_age() {
        let c = clock();
        assert_eq!(when("20261203042525Z", &c), "2026-12-03 05:25 (3 h ago)");
        assert_eq!(when("20261203072945.5Z", &c), "2026-12-03 08:29 (just now)");
        assert_eq!(when("20261203073500Z", &c), "2026-12-03 08:35 (in 5 min)");
        assert_eq!(when("20261128073000Z", &c), "2026-11-28 08:30 (5 days ago)");
        assert_eq!(
            when("2026-12-02T07:30:00Z", &c),
            "2026-12-02 08:30 (24 h ago)"
        );
        assert_eq!(when("not a time", &c), "not a time");
    }

    #[test]
    fn the_text_gives_local_times() {
        let st = Status {
            source: "AC-X".into(),
            base_dn: "dc=x".into(),
            lock: Some(LockState {
                holder: Some("host 42 r-1".into()),
                since: Some("20261203072000Z".into()),
                expires: Some("20261203074000Z".into()),
                holder_alive: Some(true),
                last_run_id: Some("r-1".into()),
                last_run_command: Some("sync".into()),
                last_run_started: Some("20261203072000Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = st.text_at(&clock());
        assert!(
            t.contains("last run: sync r-1 started 2026-12-03 08:20 (10 min ago): still running\n"),
            "{t}"
        );
        assert!(
            t.contains("lock: held by host 42 r-1 since 2026-12-03 08:20 (10 min ago) until 2026-12-03 08:40 (in 10 min) (a run alive on this host)\n"),
            "{t}"
        );
        assert!(!t.contains("Z "), "{t}");
    }
}
