//! `aaf-sync status`: what an operator asks first, read from the directory
//! (so any host can answer): the last extraction applied, the last run and
//! the run lock, the active entries and the departures pending with their
//! deadlines, and a plan held back for approval on this host. In a
//! replicated directory, the topology too: which server answered, which
//! one the managed tree was read from, and each server's replication lag
//! as its `contextCSN` shows it.

use crate::aaf::filename::format_date;
use crate::approval::{self, Held};
use crate::config::Config;
use crate::control::Control;
use crate::ldap::lock::LockState;
use crate::ldap::Directory;
use crate::mapping::EntryKind;
use crate::retention::State;
use crate::safety;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

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

impl Status {
    /// The readable form.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
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
                    or(&l.last_run_started),
                );
                let _ = match (&l.holder, &l.last_run_finished) {
                    (Some(_), None) if l.stale => {
                        writeln!(s, "{run}: did not finish (it died holding the lock)")
                    }
                    (Some(_), None) => writeln!(s, "{run}: still running"),
                    _ => writeln!(
                        s,
                        "{run} finished {} outcome {}{}",
                        or(&l.last_run_finished),
                        or(&l.last_run_outcome),
                        l.last_run_note
                            .as_ref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    ),
                };
                let _ = writeln!(s, "{}", lock_line(l));
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
                h.held_at,
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
fn lock_line(l: &LockState) -> String {
    let Some(h) = &l.holder else {
        return "lock: free".into();
    };
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let (since, until) = (or(&l.since), or(&l.expires));
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
