//! Metrics in the Prometheus text format, for node_exporter's textfile
//! collector: written after each run (atomically, through [`crate::host::fs`]),
//! one set of series per command so that `sync`, `retention` and `run`
//! share one file. Counts only.

use crate::ops::outcome::Outcome;
use crate::ops::report::{Header, Report};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// What one run tells the monitoring.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    pub command: String,
    pub outcome: Outcome,
    pub exit_code: i32,
    /// Unix seconds.
    pub finished: f64,
    pub duration_secs: f64,
    /// Operations applied, by (kind, operation).
    pub operations: BTreeMap<(String, String), u64>,
    pub failed_operations: u64,
    /// Operations not sent (the apply halted, or they depended on an add
    /// that failed).
    pub not_attempted_operations: u64,
    /// Operations sent whose answer was lost before the run halted.
    pub unknown_operations: u64,
    /// After a failover: operations the lost provider acknowledged that
    /// the survivor lacked, and of those, the ones not recovered.
    pub failover_missing_operations: u64,
    pub failover_unrecovered_operations: u64,
    pub rejected_records: u64,
    /// The directory is in step with the last extraction applied (`None`:
    /// not known, e.g. a retention pass).
    pub in_step: Option<bool>,
    /// Departures by category.
    pub departures: BTreeMap<String, u64>,
    /// Departed entries waiting for their deadline, by category.
    pub pending: BTreeMap<String, u64>,
    /// The run was held by the safety rails.
    pub held: bool,
    /// In a replicated directory, each configured server after the run:
    /// (URL, role, answered, lag in seconds).
    pub servers: Vec<ServerMetric>,
}

/// One configured server as the end of a run saw it.
#[derive(Debug, Clone, Default)]
pub struct ServerMetric {
    pub url: String,
    /// `designated_provider`, `provider` or `consumer`.
    pub role: String,
    pub up: bool,
    /// Seconds behind the newest change any server holds (`contextCSN`);
    /// infinite when it holds nothing of a server id; `None` when down.
    pub lag_secs: Option<f64>,
}

impl RunMetrics {
    /// The metrics of a run, assembled here only: `command` and how it
    /// ended (`head`), the reports of what it did (a `sync`'s or a
    /// `retention`'s; each extraction's and the retention pass's for
    /// `run`), when it finished (Unix seconds), how long it took, and the
    /// servers as it left them.
    pub fn of_run<'r>(
        command: &str,
        head: &Header,
        reports: impl IntoIterator<Item = &'r Report>,
        finished: f64,
        duration_secs: f64,
        topology: Option<&crate::ldap::replication::Topology>,
    ) -> RunMetrics {
        let mut m = RunMetrics {
            command: command.to_string(),
            outcome: head.outcome,
            exit_code: head.exit_code,
            finished,
            duration_secs,
            ..Default::default()
        };
        for r in reports {
            m.add_report(r);
            // an extraction of `run` held back by the rails
            m.held |= r.head.outcome == Outcome::Held;
        }
        if let Some(t) = topology {
            m.add_topology(t);
        }
        m
    }

    /// Records the servers of a replicated directory.
    pub fn add_topology(&mut self, t: &crate::ldap::replication::Topology) {
        self.servers = t
            .servers
            .iter()
            .map(|s| ServerMetric {
                url: s.url.clone(),
                role: s.role.label().to_string(),
                up: s.answered,
                lag_secs: s.lag_secs,
            })
            .collect();
    }
}

impl RunMetrics {
    /// Adds the counts of a `sync` or `retention` report.
    pub fn add_report(&mut self, r: &Report) {
        for s in &r.steps {
            if let Some(a) = &s.applied {
                for (kind, ops) in &a.done {
                    for (op, n) in ops {
                        *self
                            .operations
                            .entry((kind.clone(), op.clone()))
                            .or_default() += n;
                    }
                }
                self.failed_operations += a.failures.len() as u64;
                self.not_attempted_operations += a.not_attempted;
                self.unknown_operations += a.unknown;
                if let Some(f) = &a.failover {
                    self.failover_missing_operations += f.missing;
                    self.failover_unrecovered_operations += f.unrecovered;
                }
            }
            if s.extraction.is_some() && s.applied.is_some() {
                let ok = !s.not_in_step();
                self.in_step = Some(self.in_step.unwrap_or(true) && ok);
            }
            self.rejected_records += s.rejected_records.len() as u64;
            for (cat, ids) in &s.lifecycle.departed {
                *self.departures.entry(cat.clone()).or_default() += ids.len() as u64;
            }
            for (cat, n) in &s.lifecycle.pending {
                self.pending.insert(cat.clone(), *n);
            }
        }
        self.held |= r
            .safety
            .as_ref()
            .is_some_and(|s| !s.holds.is_empty() && s.approved_by.is_none());
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every series: name and help.
const SERIES: [(&str, &str); 19] = [
    (
        "aaf_sync_last_run_timestamp_seconds",
        "End of the last run (Unix time).",
    ),
    (
        "aaf_sync_last_run_success",
        "1 when the last run ended ok or with rejected records (exit 0 or 1).",
    ),
    ("aaf_sync_last_run_exit_code", "Exit code of the last run."),
    (
        "aaf_sync_last_run_duration_seconds",
        "Duration of the last run.",
    ),
    (
        "aaf_sync_last_run_held",
        "1 when the safety rails held the last run back.",
    ),
    (
        "aaf_sync_last_success_timestamp_seconds",
        "End of the last run that ended ok or with rejected records.",
    ),
    (
        "aaf_sync_last_run_operations",
        "Operations applied by the last run.",
    ),
    (
        "aaf_sync_last_run_failed_operations",
        "Operations the directory refused in the last run.",
    ),
    (
        "aaf_sync_last_run_rejected_records",
        "Extraction records rejected in the last run.",
    ),
    (
        "aaf_sync_last_run_departures",
        "Departures in the last run, by category.",
    ),
    (
        "aaf_sync_pending_departures",
        "Departed entries waiting for their deadline, by category.",
    ),
    (
        "aaf_sync_last_run_interrupted",
        "1 when SIGTERM or SIGINT stopped the last run.",
    ),
    (
        "aaf_sync_last_run_not_attempted_operations",
        "Operations the last run planned but did not send (halted, or depending on a failed add).",
    ),
    (
        "aaf_sync_in_step",
        "1 when the directory is in step with the last extraction applied (every operation succeeded), 0 when not.",
    ),
    (
        "aaf_sync_directory_up",
        "1 when the configured LDAP server answered at the end of the last run, by URL and role.",
    ),
    (
        "aaf_sync_replication_lag_seconds",
        "Seconds the server is behind the newest change any configured server holds, from contextCSN (+Inf: it holds nothing of a server id), at the end of the last run.",
    ),
    (
        "aaf_sync_last_run_unknown_operations",
        "Operations the last run sent without getting an answer before it halted (done or not: the next run converges).",
    ),
    (
        "aaf_sync_last_run_failover_missing_operations",
        "Operations acknowledged by a provider the last run failed over from that the provider it ended on lacked.",
    ),
    (
        "aaf_sync_last_run_failover_unrecovered_operations",
        "Of those, the ones the last run could not write again (the extraction is not recorded as applied).",
    ),
];

/// A sample value in the text format (`+Inf` for infinity).
fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        v.to_string()
    }
}

/// The samples of one run: (series, sample line).
fn samples(m: &RunMetrics, last_success: Option<f64>) -> Vec<(&'static str, String)> {
    let c = esc(&m.command);
    let mut out = Vec::new();
    let mut push = |name: &'static str, labels: String, v: f64| {
        out.push((
            name,
            format!("{name}{{command=\"{c}\"{labels}}} {}", num(v)),
        ));
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    push(SERIES[0].0, String::new(), m.finished);
    push(SERIES[1].0, String::new(), flag(m.exit_code <= 1));
    push(SERIES[2].0, String::new(), f64::from(m.exit_code));
    push(SERIES[3].0, String::new(), m.duration_secs);
    push(SERIES[4].0, String::new(), flag(m.held));
    if let Some(t) = last_success {
        push(SERIES[5].0, String::new(), t);
    }
    for ((k, op), n) in &m.operations {
        push(
            SERIES[6].0,
            format!(",kind=\"{}\",op=\"{}\"", esc(k), esc(op)),
            *n as f64,
        );
    }
    push(SERIES[7].0, String::new(), m.failed_operations as f64);
    push(SERIES[8].0, String::new(), m.rejected_records as f64);
    push(
        SERIES[12].0,
        String::new(),
        m.not_attempted_operations as f64,
    );
    push(SERIES[16].0, String::new(), m.unknown_operations as f64);
    push(
        SERIES[17].0,
        String::new(),
        m.failover_missing_operations as f64,
    );
    push(
        SERIES[18].0,
        String::new(),
        m.failover_unrecovered_operations as f64,
    );
    if let Some(ok) = m.in_step {
        push(SERIES[13].0, String::new(), flag(ok));
    }
    for (k, n) in &m.departures {
        push(SERIES[9].0, format!(",category=\"{}\"", esc(k)), *n as f64);
    }
    for (k, n) in &m.pending {
        push(SERIES[10].0, format!(",category=\"{}\"", esc(k)), *n as f64);
    }
    push(
        SERIES[11].0,
        String::new(),
        flag(m.outcome == Outcome::Interrupted),
    );
    for s in &m.servers {
        let labels = format!(",url=\"{}\",role=\"{}\"", esc(&s.url), esc(&s.role));
        push(SERIES[14].0, labels.clone(), flag(s.up));
        if let Some(lag) = s.lag_secs {
            push(SERIES[15].0, labels, lag);
        }
    }
    out
}

/// Writes the run's series into `path`, keeping the other commands' series
/// and this command's last success time when this run failed. Each series
/// is one group under its HELP and TYPE lines, as the format requires.
pub fn write(path: &Path, m: &RunMetrics) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mine = format!("command=\"{}\"", esc(&m.command));
    let mut last_success = if m.exit_code <= 1 {
        Some(m.finished)
    } else {
        None
    };
    let mut lines: Vec<(&'static str, String)> = Vec::new();
    for line in old.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some(&(name, _)) = SERIES
            .iter()
            .find(|(n, _)| line.strip_prefix(n).is_some_and(|r| r.starts_with('{')))
        else {
            continue;
        };
        if line.contains(&mine) {
            if last_success.is_none() && name == SERIES[5].0 {
                last_success = line.rsplit(' ').next().and_then(|v| v.parse().ok());
            }
            continue;
        }
        lines.push((name, line.to_string()));
    }
    lines.extend(samples(m, last_success));
    let mut text = String::new();
    for (name, help) in SERIES {
        let group: Vec<&String> = lines
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, l)| l)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
        for l in group {
            let _ = writeln!(text, "{l}");
        }
    }
    // 0666 under the umask, as `std::fs::write` created it: the textfile
    // collector runs as another user and must read the file
    crate::host::fs::write_atomic(path, text.as_bytes(), 0o666)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_a_replicated_directory_with_their_lag() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("aaf_sync.prom");
        let server = |url: &str, role: &str, up, lag| ServerMetric {
            url: url.into(),
            role: role.into(),
            up,
            lag_secs: lag,
        };
        let m = RunMetrics {
            command: "sync".into(),
            servers: vec![
                server("ldap://a", "designated_provider", true, Some(0.0)),
                server("ldap://b", "provider", false, None),
                server("ldap://c", "consumer", true, Some(f64::INFINITY)),
            ],
            ..Default::default()
        };
        write(&p, &m).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        for line in [
            "aaf_sync_directory_up{command=\"sync\",url=\"ldap://a\",role=\"designated_provider\"} 1\n",
            "aaf_sync_directory_up{command=\"sync\",url=\"ldap://b\",role=\"provider\"} 0\n",
            "aaf_sync_replication_lag_seconds{command=\"sync\",url=\"ldap://a\",role=\"designated_provider\"} 0\n",
            "aaf_sync_replication_lag_seconds{command=\"sync\",url=\"ldap://c\",role=\"consumer\"} +Inf\n",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        // no lag for a server that did not answer
        assert!(!text.contains("lag_seconds{command=\"sync\",url=\"ldap://b\""));
        // a later run without servers drops them (one command, one set)
        write(
            &p,
            &RunMetrics {
                command: "sync".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("aaf_sync_directory_up{"), "{text}");
    }

    #[test]
    fn keeps_other_commands_and_the_last_success() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("aaf_sync.prom");
        let mut m = RunMetrics {
            command: "run".into(),
            outcome: Outcome::Ok,
            finished: 100.0,
            duration_secs: 2.5,
            ..Default::default()
        };
        m.operations.insert(("Eleve".into(), "add".into()), 3);
        write(&p, &m).unwrap();
        let r = RunMetrics {
            command: "retention".into(),
            finished: 150.0,
            ..Default::default()
        };
        write(&p, &r).unwrap();
        m.exit_code = 2;
        m.finished = 200.0;
        m.operations.clear();
        write(&p, &m).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("aaf_sync_last_run_exit_code{command=\"run\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("aaf_sync_last_success_timestamp_seconds{command=\"run\"} 100\n"),
            "{text}"
        );
        assert!(
            text.contains("aaf_sync_last_run_timestamp_seconds{command=\"retention\"} 150\n"),
            "{text}"
        );
        assert!(!text.contains("kind=\"Eleve\""), "{text}");
        assert_eq!(
            text.matches("aaf_sync_last_run_exit_code{command=\"run\"}")
                .count(),
            1
        );
        assert_eq!(
            text.matches("# TYPE aaf_sync_last_run_exit_code gauge")
                .count(),
            1
        );
    }
}
