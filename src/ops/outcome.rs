//! How a run, or one extraction of `run`, ended: one vocabulary for the
//! report's `outcome`, the journal's last line, the lock's last holder,
//! the metrics and the exit code. The strings are the ones the reports
//! have always carried (tests and monitoring read them).

use serde::Serialize;

/// Exit code of a run that finished with operations failed or entries
/// left out: the directory is not in step with the extraction (1 is for
/// records rejected, with the directory in step with what could be read;
/// 2 for a run refused, held or stopped).
pub const EXIT_PARTIAL: i32 = 3;

/// The outcome of a run (`sync`, `retention`, `run`, `subject erase`…) or,
/// in `run`'s report, of one extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done; the directory is in step.
    #[default]
    Ok,
    /// Done, records rejected: in step with what could be read.
    RejectedRecords,
    /// Done, but operations failed or entries were left out: not in step.
    Partial,
    /// Held back by the safety rails: nothing written, plan saved.
    Held,
    /// Refused before any write (input, configuration, directory, schema).
    Refused,
    /// Stopped midway (the directory went away, the lock was lost).
    Failed,
    /// Stopped by SIGTERM or SIGINT.
    Interrupted,
    /// `--check`: the directory drifted from the extraction.
    Drift,
    /// `--check`: the directory is in step.
    InStep,
    /// `run`, one extraction: applied.
    Imported,
    /// `run`, one extraction: applied, records rejected.
    ImportedWithRejects,
    /// `run`, one extraction: older than the last applied, destroyed.
    SkippedOlder,
    /// `run`, one extraction: kept for the next run (one before it was
    /// refused, held or failed, or the run was stopped).
    Waiting,
}

impl Outcome {
    /// The word the reports, the journal and the lock carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RejectedRecords => "rejected_records",
            Outcome::Partial => "partial",
            Outcome::Held => "held",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Drift => "drift",
            Outcome::InStep => "in_step",
            Outcome::Imported => "imported",
            Outcome::ImportedWithRejects => "imported_with_rejects",
            Outcome::SkippedOlder => "skipped_older",
            Outcome::Waiting => "waiting",
        }
    }

    /// The exit code of a run that ended so: 0 done, 1 done with rejected
    /// records (or `--check` found a drift), 3 not in step, 2 refused,
    /// held, stopped. An extraction of `run` counts as the run would.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok | Outcome::InStep | Outcome::Imported | Outcome::SkippedOlder => 0,
            Outcome::Waiting => 0,
            Outcome::RejectedRecords | Outcome::Drift | Outcome::ImportedWithRejects => 1,
            Outcome::Partial => EXIT_PARTIAL,
            Outcome::Held | Outcome::Refused | Outcome::Failed | Outcome::Interrupted => 2,
        }
    }

    /// The outcome of a run that ended with exit code `code` (`run`, whose
    /// code combines its extractions'): 2 is `interrupted` after a signal,
    /// else `failed`.
    pub fn of_code(code: i32) -> Outcome {
        match code {
            0 => Outcome::Ok,
            1 => Outcome::RejectedRecords,
            EXIT_PARTIAL => Outcome::Partial,
            _ if crate::host::interrupt::requested() => Outcome::Interrupted,
            _ => Outcome::Failed,
        }
    }

    /// Refused, held or stopped: what follows it in `run` waits.
    pub fn blocks(self) -> bool {
        matches!(self, Outcome::Refused | Outcome::Held | Outcome::Failed)
    }

    /// The worse of two exit codes: 2 (refused, held, stopped) over 3 (not
    /// in step) over 1 (rejected records) over 0.
    pub fn worse_code(a: i32, b: i32) -> i32 {
        let rank = |c: i32| match c {
            0 => 0,
            1 => 1,
            EXIT_PARTIAL => 2,
            _ => 3,
        };
        if rank(b) > rank(a) {
            b
        } else {
            a
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_codes_are_the_reports() {
        for (o, s, c) in [
            (Outcome::Ok, "ok", 0),
            (Outcome::RejectedRecords, "rejected_records", 1),
            (Outcome::Partial, "partial", 3),
            (Outcome::Held, "held", 2),
            (Outcome::Refused, "refused", 2),
            (Outcome::Failed, "failed", 2),
            (Outcome::Interrupted, "interrupted", 2),
            (Outcome::Drift, "drift", 1),
            (Outcome::InStep, "in_step", 0),
            (Outcome::ImportedWithRejects, "imported_with_rejects", 1),
            (Outcome::SkippedOlder, "skipped_older", 0),
        ] {
            assert_eq!(o.as_str(), s);
            assert_eq!(o.exit_code(), c, "{s}");
            assert_eq!(serde_json::to_value(o).unwrap(), s);
        }
        assert_eq!(Outcome::worse_code(1, 3), 3);
        assert_eq!(Outcome::worse_code(2, 3), 2);
        assert_eq!(Outcome::worse_code(0, 1), 1);
    }
}
