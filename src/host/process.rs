//! Is the process that left something behind still alive?
//!
//! A run names what it leaves while it works (its staging directory, the
//! run lock) with its process id. After a crash another run must tell a
//! live owner from a dead one; a bare `/proc/PID` test is not enough,
//! since process ids are reused: a process with that id started after the
//! thing was created is another process, and the owner is gone. Start
//! times come from `/proc/PID/stat` and the boot time in `/proc/stat`
//! (Linux; elsewhere every owner is taken as alive, the safe answer).

use std::time::{Duration, SystemTime};

/// Slack on start times: `/proc` gives them to the clock tick and the boot
/// time to the second.
const SLACK: Duration = Duration::from_secs(2);

/// True when process `pid` exists (not a zombie) and started no later than
/// `created` (plus a little slack): it can be the process that created
/// something at that time. `created = None` skips the start-time test.
pub fn alive_since(pid: u32, created: Option<SystemTime>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        // no such process (or no /proc at all: then say alive)
        return !std::path::Path::new("/proc/self/stat").exists();
    };
    // the command name is in parentheses and may hold anything: the
    // fields that matter follow the last ')'
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return true;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3), fields[19] the start time (field 22)
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return false;
    }
    let (Some(created), Some(start)) = (created, fields.get(19).and_then(|s| s.parse().ok()))
    else {
        return true;
    };
    match started_at(start) {
        Some(t) => t <= created + SLACK,
        None => true,
    }
}

/// Wall-clock time of a start time in clock ticks since boot.
fn started_at(ticks: u64) -> Option<SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a system constant
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|h| *h > 0)?;
    let since_boot = Duration::from_millis(ticks.saturating_mul(1000) / hz);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(btime) + since_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_live_dead_and_reused_ids() {
        let me = std::process::id();
        assert!(alive_since(me, None));
        assert!(alive_since(me, Some(SystemTime::now())));
        // created before this process started: another process had the id
        assert!(!alive_since(me, Some(SystemTime::UNIX_EPOCH)));
        // a child that exited and was reaped
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert!(!alive_since(pid, None));
    }
}
