//! What a person reads (issue 21 §6): progress lines without a terminal,
//! files ignored named on stderr, the summary on a line of its own, no
//! staging directory left, the command named when the configuration is
//! missing, and configuration errors that say file, line, key and the
//! closest valid key.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const NOT_AN_EXTRACTION: &str =
    "does not match <prefix>_<Complet|Delta>_<yyyymmdd>_<category>_<nnnn>.xml";

/// Runs aaf-sync with the progress lines every `interval_ms` (stderr is a
/// pipe: no terminal); returns (exit code, stderr).
fn run_with_progress(args: &[&str], interval_ms: Option<u64>) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aaf-sync"));
    c.args(args)
        .env_remove("AAF_SYNC_LDAP_PASSWORD")
        .env_remove("AAF_SYNC_LOG");
    match interval_ms {
        Some(ms) => c.env("AAF_SYNC_PROGRESS_INTERVAL_MS", ms.to_string()),
        None => c.env_remove("AAF_SYNC_PROGRESS_INTERVAL_MS"),
    };
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The progress messages of a run's stderr (text log lines of the target
/// `aaf_sync::host::progress`).
fn progress_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split_once(" aaf_sync::host::progress: ")
                .map(|(_, m)| m.to_string())
        })
        .collect()
}

/// `phase: 1,234[/5,678] unit (12/s)[ in 1.5 s]`.
fn well_formed(m: &str) -> bool {
    let Some((phase, rest)) = m.split_once(": ") else {
        return false;
    };
    let unit = match phase {
        "parse" => "records",
        "read" => "entries",
        "apply" => "operations",
        _ => return false,
    };
    let Some((counts, rest)) = rest.split_once(' ') else {
        return false;
    };
    let count = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == ',');
    let counts_ok = match counts.split_once('/') {
        Some((d, t)) => count(d) && count(t),
        None => count(counts),
    };
    let Some(rest) = rest.strip_prefix(unit).and_then(|r| r.strip_prefix(" (")) else {
        return false;
    };
    let Some((rate, tail)) = rest.split_once("/s)") else {
        return false;
    };
    let rate_ok = rate
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
        && rate.split('.').nth(1).is_none_or(|d| d.len() == 1);
    counts_ok && rate_ok && (tail.is_empty() || tail.starts_with(" in ") && tail.ends_with(" s"))
}

#[test]
fn a_run_without_a_terminal_shows_progress_and_names_what_it_ignored() {
    use aaf_sync::generator::{generate, GenConfig};
    let ldap = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let g = generate(
        &GenConfig {
            schools: 2,
            pupils_per_school: 30,
            ..Default::default()
        },
        &tmp.path().join("x"),
    )
    .unwrap();
    let x = tmp.path().join("x");
    std::fs::write(x.join("ENT1D_Complet_2025_Eleve.xml"), "<x/>").unwrap();
    std::fs::write(x.join("notes.txt"), "hello").unwrap();
    let config = ldap
        .config(tmp.path(), &g.uai_inside, "")
        .display()
        .to_string();
    let xs = x.display().to_string();

    let (code, err) = run_with_progress(&["sync", "--config", &config, &xs], Some(0));
    assert_eq!(code, 0, "{err}");
    let lines = progress_lines(&err);
    for m in &lines {
        assert!(well_formed(m), "progress line {m:?}\n{err}");
    }
    for phase in ["parse: ", "read: ", "apply: "] {
        assert!(lines.iter().any(|m| m.starts_with(phase)), "{phase}\n{err}");
    }
    // the apply's total is known; every phase ends with its duration
    assert!(
        lines
            .iter()
            .any(|m| m.starts_with("apply: ") && m.contains('/') && m.contains(" in ")),
        "{err}"
    );
    for f in ["ENT1D_Complet_2025_Eleve.xml", "notes.txt"] {
        let want = format!("\nignored: {} {NOT_AN_EXTRACTION}\n", x.join(f).display());
        assert!(err.contains(&want), "{want}\n{err}");
    }
    // the summary starts a line of its own
    let header = format!("\naaf-sync {} sync run ", env!("CARGO_PKG_VERSION"));
    assert!(err.contains(&header), "{err}");
    // nothing left in the work directory's staging (not even the directory)
    assert!(!tmp.path().join("work/staging").exists());

    // nothing to do: no apply line (no 0/0)
    let (code, err) = run_with_progress(&["sync", "--config", &config, &xs], Some(0));
    assert_eq!(code, 0, "{err}");
    let lines = progress_lines(&err);
    assert!(lines.iter().any(|m| m.starts_with("parse: ")), "{err}");
    assert!(!lines.iter().any(|m| m.starts_with("apply: ")), "{err}");

    // the default interval (10 s): a run this short logs no progress line
    let (code, err) = run_with_progress(&["sync", "--config", &config, &xs], None);
    assert_eq!(code, 0, "{err}");
    assert!(progress_lines(&err).is_empty(), "{err}");

    // --no-progress: none at all
    let (code, err) = run_with_progress(
        &["--no-progress", "sync", "--config", &config, &xs],
        Some(0),
    );
    assert_eq!(code, 0, "{err}");
    assert!(progress_lines(&err).is_empty(), "{err}");
}

#[test]
fn a_missing_configuration_names_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.toml");
    let m = missing.display().to_string();
    for cmd in ["sync", "retention"] {
        let mut args = vec![cmd, "--config", &m];
        if cmd == "sync" {
            args.push(".");
        }
        let (_, err) = aaf_sync_ok(&args, 2);
        let header = format!("aaf-sync {} {cmd} run ", env!("CARGO_PKG_VERSION"));
        assert!(
            err.starts_with(&header) && err.contains(": refused\n"),
            "{err}"
        );
        assert!(
            err.contains(&format!("  error: configuration: {m}: no such file\n")),
            "{err}"
        );
    }
}

fn check_error(dir: &Path, body: &str) -> (String, String) {
    let p = dir.join("aaf-sync.toml");
    std::fs::write(&p, body).unwrap();
    let (_, err) = aaf_sync_ok(&["check", "--config", &p.display().to_string()], 2);
    (p.display().to_string(), err)
}

#[test]
fn configuration_errors_say_file_line_key_and_the_closest_key() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "[ldap]\nurl = \"ldap://127.0.0.1:1\"\nbind_dn = \"cn=a\"\nbase_dn = \"dc=x\"\n\
                [source]\nname = \"AC-X\"\n[perimeter]\nuai = [\"0920100J\"]\n";

    let (p, err) = check_error(tmp.path(), &base.replace("bind_dn = ", "bnd_dn = "));
    assert_eq!(
        err,
        format!("aaf-sync: configuration: {p} line 3: ldap.bnd_dn: unknown key; did you mean bind_dn?\n")
    );

    let (p, err) = check_error(tmp.path(), &format!("{base}[perimetre]\nuai = []\n"));
    assert_eq!(
        err,
        format!("aaf-sync: configuration: {p} line 9: perimetre: unknown key; did you mean perimeter?\n")
    );

    // far from every key: the valid ones are listed
    let (p, err) = check_error(tmp.path(), &format!("{base}colour = 1\n"));
    assert!(
        err.starts_with(&format!(
            "aaf-sync: configuration: {p} line 9: perimeter.colour: unknown key; valid keys here: uai"
        )),
        "{err}"
    );

    let (p, err) = check_error(
        tmp.path(),
        &base.replace("url = \"ldap://127.0.0.1:1\"\n", ""),
    );
    assert_eq!(
        err,
        format!("aaf-sync: configuration: {p}: ldap.url: missing (this key is required)\n")
    );

    // a syntax error: line and column, no `default.` prefix
    let (p, err) = check_error(tmp.path(), &base.replace("[source]", "[source"));
    assert_eq!(
        err,
        format!("aaf-sync: configuration: {p} line 5, column 8: invalid table header; expected `.`, `]`\n")
    );
}
