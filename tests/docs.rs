//! Every command of the docs (README.md, ARCHITECTURE.md, BENCHMARKS.md and
//! docs/*.md: fenced blocks, and inline code spans that name a program) is
//! run or checked here, so that the docs cannot drift from the tool
//! (issue 21):
//!
//! - `aaf-sync` and `aaf-gen` run for real, in scenarios against the
//!   throwaway slapd and sshd of tests/common, with the placeholders of the
//!   docs replaced as [`SUBSTITUTIONS`] says; the exit code the doc implies
//!   and the output lines it shows are asserted ([`Row::code`],
//!   [`Row::expect`]), and what the doc says happens is read back;
//! - `ldapadd`, `slapadd`, `ssh-keygen`, `ssh-keyscan`, `shred`, `chmod`
//!   run in those scenarios too, the LDIF and TOML blocks are applied, and
//!   `systemctl stop|start slapd` stops and restarts the test slapd;
//! - synopses and mentions of a subcommand are held to the binary's
//!   `--help`; what a script or CI runs, to that script; cargo commands, to
//!   Cargo.toml and the targets; what needs a host (docker compose,
//!   useradd, systemctl), to the files it names; the systemd units and the
//!   cron line, to an INI reading (and `systemd-analyze` when there is one);
//! - a command the explicit table [`TABLE`] does not classify fails
//!   `every_doc_command_is_classified` with its file and line, and so does
//!   a row no doc holds any more.
//!
//! Only the binaries' command lines are used, never the library.

mod common;
#[path = "common/docs.rs"]
mod docs_md;

use common::*;
use docs_md::{Item, Origin, Simple};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The scenarios that run commands for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// README "Your first sync" on a bare slapd: schema, configuration
    /// from config/example.toml, the six commands, then the bare mentions
    /// (`aaf-sync status`…) with `AAF_SYNC_CONFIG`, logs, drift.
    FirstSync,
    /// docs/schema.md: the two `ldapadd` into a bare slapd.
    Schema,
    /// docs/operations.md "Approving a held run".
    Approve,
    /// docs/operations.md "Daily operation" against the test sshd, and the
    /// systemd unit's ExecStart.
    Daily,
    /// docs/scale.md "First load of a large directory".
    FirstLoad,
    /// scripts/slapd-replicated.sh and the `[ldap]` of "Replicated
    /// directories".
    Replicated,
    /// docs/data-protection.md: subject export, erase, unblock, audit,
    /// purge (every branch of their synopses), and the ACL line.
    DataSubject,
    /// README: `aaf-gen`.
    Generator,
    /// docs/operations.md "Configuration": environment, secret files.
    Config,
}
use Scenario::*;

/// How a command of the docs is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Run for real by a scenario.
    Run(Scenario),
    /// A synopsis or a mention of a subcommand: `aaf-sync <sub> --help`
    /// (or `aaf-gen --help`) exits 0 and lists every `--option` it names.
    Synopsis,
    /// What the named script (or CI) runs: a line of that script holds
    /// the command's words in order.
    RunBy(&'static str),
    /// A repository script: it exists and `bash -n` reads it; a synopsis
    /// of it (placeholders in capitals) is in its usage header.
    Script,
    /// A subcommand of the named script: its usage header holds it.
    Usage(&'static str),
    /// cargo: the subcommand is cargo's, the targets (`--test`, `--bench`,
    /// `--bin`) and features exist, lint flags come after `--`.
    Cargo,
    /// Needs a real host (docker compose, useradd, systemctl): the
    /// repository files, compose services and profiles, systemd units and
    /// user it names exist and agree.
    Host,
    /// A tool named with an option in prose (`kill -9`, `slapadd -q`): the
    /// program is installed.
    Mention,
    /// Environment variables alone: something in src/, scripts/, tests/ or
    /// benches/ reads each.
    Env,
    /// A diagram: nothing to run.
    Text,
}
use Class::*;

/// One command of the docs and how it is covered.
#[derive(Debug, Clone, Copy)]
struct Row {
    file: &'static str,
    /// The command as [`docs_md::Item::text`] gives it (for a block, its
    /// first line).
    text: &'static str,
    /// A fenced block that is not shell.
    block: bool,
    class: Class,
    /// The exit code the doc implies (scenarios).
    code: i32,
    /// What the output must hold (scenarios): what the doc says it shows.
    expect: &'static [&'static str],
}

const fn row(file: &'static str, text: &'static str, class: Class) -> Row {
    Row {
        file,
        text,
        block: false,
        class,
        code: 0,
        expect: &[],
    }
}

const fn block(file: &'static str, first_line: &'static str, class: Class) -> Row {
    Row {
        block: true,
        ..row(file, first_line, class)
    }
}

const README: &str = "README.md";
const ARCH: &str = "ARCHITECTURE.md";
const BENCH: &str = "BENCHMARKS.md";
const DEV: &str = "docs/development.md";
const HOW: &str = "docs/how-it-works.md";
const OPS: &str = "docs/operations.md";
const DP: &str = "docs/data-protection.md";
const SCALE: &str = "docs/scale.md";
const SCHEMA: &str = "docs/schema.md";

/// The classifier: every command of the docs, by file and exact text. A
/// command added to a doc fails `every_doc_command_is_classified` until it
/// gets a row here (and, for `Run`, a step in its scenario).
static TABLE: &[Row] = &[
    // --- README.md
    row(README, "bash scripts/demo.sh", Script),
    row(README, "cargo fmt --check", RunBy("scripts/test.sh")),
    row(README, "cargo clippy -- -D warnings", RunBy("scripts/test.sh")),
    row(README, "cargo test", RunBy("scripts/test.sh")),
    row(README, "bash scripts/test.sh", Script),
    row(README, "DEMO_PORT=N", Env),
    row(README, "docker compose up --build --exit-code-from sync", Host),
    row(README, "docker compose down -v", Host),
    row(README, "docker compose run --rm sync …", Host),
    row(
        README,
        "bash scripts/slapd-replicated.sh start /tmp/aaf-repl",
        Run(Replicated),
    ),
    row(
        README,
        "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f …",
        Run(FirstSync),
    ),
    Row {
        expect: &[
            "reachable",
            "base dc=example,dc=org present",
            "schema loaded",
            "work directory",
            "passwords:",
            "schema: the directory's schema holds every attribute the sync writes",
        ],
        ..row(README, "aaf-sync check --config aaf-sync.toml", Run(FirstSync))
    },
    Row {
        expect: &["changetype: add"],
        ..row(
            README,
            "aaf-sync sync --config aaf-sync.toml --dry-run EXTRACTION > plan.ldif",
            Run(FirstSync),
        )
    },
    Row {
        expect: &["sync run", ": ok", "operations: 208 done, 0 failed"],
        ..row(
            README,
            "aaf-sync sync --config aaf-sync.toml EXTRACTION",
            Run(FirstSync),
        )
    },
    Row {
        expect: &["in_step"],
        ..row(
            README,
            "aaf-sync sync --config aaf-sync.toml --check EXTRACTION",
            Run(FirstSync),
        )
    },
    Row {
        expect: &["last run: sync", "outcome ok"],
        ..row(README, "aaf-sync status --config aaf-sync.toml", Run(FirstSync))
    },
    Row {
        expect: &["no finding"],
        ..row(README, "aaf-sync audit --config aaf-sync.toml", Run(FirstSync))
    },
    Row {
        expect: &["run", ": ok", "retention pass"],
        ..row(README, "aaf-sync run", Run(FirstSync))
    },
    block(
        README,
        "aaf-sync sync --config FILE [--dry-run [--format ldif|json] [--with-passwords] | --check] [--now YYYY-MM-DD] [--force]",
        Synopsis,
    ),
    row(README, "AAF_SYNC_LOG=info", Run(FirstSync)),
    row(README, "AAF_SYNC_LOG=warn", Run(FirstSync)),
    Row {
        expect: &["[perimeter]", "uai = ["],
        ..row(
            README,
            "cargo run --release --features generator --bin aaf-gen -- --out DIR",
            Run(Generator),
        )
    },
    Row {
        expect: &[
            "[perimeter]",
            "uai = [\"0920100J\", \"0920101K\"]",
            "\"0920102L\"",
        ],
        ..row(README, "aaf-gen --out samples/1d-complet", Run(Generator))
    },
    // --- ARCHITECTURE.md
    block(
        ARCH,
        "delivery ──► aaf ──► mapping ──► diff ──► retention ──► safety ──► ldap",
        Text,
    ),
    // --- BENCHMARKS.md
    row(BENCH, "bash scripts/bench.sh 400 100", Script),
    row(BENCH, "bash scripts/bench.sh 4000 150", Script),
    row(BENCH, "BENCH_REPEAT=3 bash scripts/bench.sh 400 100", Script),
    row(BENCH, "BENCH_REPEAT=3 bash scripts/bench.sh 4000 150", Script),
    row(BENCH, "BENCH_REPEAT=1 bash scripts/bench.sh 4000 150", Script),
    row(BENCH, "aaf-sync export-ldif", Synopsis),
    row(BENCH, "slapadd -q", Mention),
    row(BENCH, "aaf-sync sync", Synopsis),
    row(BENCH, "MDB_FAST=1", Env),
    row(BENCH, "bash scripts/bench.sh 4 20", RunBy("scripts/test.sh")),
    row(BENCH, "cargo bench --bench stages", Cargo),
    row(BENCH, "AAF_BENCH_SCHOOLS=400 cargo bench --bench stages", Cargo),
    row(BENCH, "cargo test --all-targets", RunBy("scripts/test.sh")),
    row(BENCH, "aaf-gen --days", Synopsis),
    row(BENCH, "cargo run --release --example wire_read -- CONFIG bench 1000 5", Cargo),
    row(BENCH, "BENCH_REPEAT=3 BENCH_DEGREE=2d bash scripts/bench.sh 64 600", Script),
    row(BENCH, "BENCH_DEGREE=2d", Env),
    row(BENCH, "BENCH_REPEAT=2", Env),
    row(BENCH, "BENCH_DEGREE=2d BENCH_REPEAT=2 bash scripts/bench.sh 960 600", Script),
    row(BENCH, "bash scripts/bench-delta.sh 400 100", Script),
    row(BENCH, "BENCH_REPEAT=2 bash scripts/bench-delta.sh 4000 150", Script),
    row(BENCH, "BENCH_REPEAT=3 bash scripts/bench-delta.sh 400 100", Script),
    row(
        BENCH,
        "BENCH_ACADEMIES=2 BENCH_REPEAT=1 bash scripts/bench-delta.sh 4000 150",
        Script,
    ),
    row(
        BENCH,
        "BENCH_DIR=/tmp/b3 BENCH_ACADEMIES=2 BENCH_REPEAT=1 bash scripts/bench-delta.sh 4000 150",
        Script,
    ),
    row(
        BENCH,
        "bash scripts/slapd-test-instance.sh restart /tmp/b3/ldap",
        Script,
    ),
    row(
        BENCH,
        "aaf-sync sync --config /tmp/b3/whole.toml --report c3m.json --force /tmp/b3/c1",
        Synopsis,
    ),
    row(BENCH, "AAF_SYNC_LOG=aaf_sync::ldap::targeted=debug", Env),
    row(BENCH, "AAF_SYNC_CHECK_TARGETED=1", Env),
    // --- docs/development.md
    row(DEV, "scripts/slapd-test-instance.sh start DIR PORT", Script),
    row(DEV, "scripts/slapd-replicated.sh start DIR", Script),
    row(DEV, "scripts/sftp-test-instance.sh start DIR PORT", Script),
    row(DEV, "AAF_SYNC_BLESS=1 cargo test --test schema", Cargo),
    // --- docs/how-it-works.md
    block(
        HOW,
        "SFTP (delivery/sftp.rs) ─► incoming/ ─► delivery/: unpack archives safely, check bordereaux ─► sync ─► destroy",
        Text,
    ),
    block(
        HOW,
        "extraction files ─► aaf/ ──────────► mapping/ ─────────► diff ─────────► retention ──────► ldap/",
        Text,
    ),
    // --- docs/operations.md
    Row {
        expect: &["run", ": ok", "0 downloaded"],
        ..row(OPS, "aaf-sync run --config FILE", Run(Daily))
    },
    row(OPS, "cargo build --release", Cargo),
    row(
        OPS,
        "useradd --system --home /var/lib/aaf-sync aaf-sync",
        Host,
    ),
    row(
        OPS,
        "ssh-keygen -t rsa -b 4096 -f /etc/aaf-sync/id_rsa",
        Run(Daily),
    ),
    row(
        OPS,
        "ssh-keyscan -p 22 sftp.example > /etc/aaf-sync/known_hosts",
        Run(Daily),
    ),
    Row {
        expect: &["SHA256:", "(ED25519)", "(RSA)"],
        ..row(OPS, "ssh-keygen -lf /etc/aaf-sync/known_hosts", Run(Daily))
    },
    Row {
        expect: &["schema loaded"],
        ..row(
            OPS,
            "aaf-sync check --config /etc/aaf-sync/aaf-sync.toml",
            Run(Daily),
        )
    },
    Row {
        expect: &[
            "would fetch ENT1D_Complet_20250904_Eleve_0000.xml",
            "would fetch ENT1D_Complet_20250904_PersRelEleve_0000.xml",
        ],
        ..row(OPS, "aaf-sync fetch --config … --dry-run", Run(Daily))
    },
    Row {
        expect: &["(dry run): ok", "4 to fetch"],
        ..row(OPS, "aaf-sync run --config … --dry-run", Run(Daily))
    },
    row(OPS, "AAF_SYNC_LDAP__URL=…", Run(Config)),
    row(
        OPS,
        "AAF_SYNC_LDAP__URL='[\"ldaps://a\", \"ldaps://b\"]'",
        Run(Replicated),
    ),
    row(OPS, "chmod 600", Run(Config)),
    Row {
        expect: &["held plan", "would leave out of", "held.ldif"],
        ..row(
            OPS,
            "aaf-sync status --config /etc/aaf-sync/aaf-sync.toml",
            Run(Approve),
        )
    },
    Row {
        expect: &["changetype: delete"],
        ..row(OPS, "less /var/lib/aaf-sync/plans/held.ldif", Run(Approve))
    },
    Row {
        expect: &["approved plan", "the next run applies it, once"],
        ..row(
            OPS,
            "aaf-sync approve --config /etc/aaf-sync/aaf-sync.toml 3f9a1c0d5e7b2a48",
            Run(Approve),
        )
    },
    Row {
        expect: &["run", ": ok", "imported", "safety rails: approved"],
        ..row(
            OPS,
            "aaf-sync run --config /etc/aaf-sync/aaf-sync.toml",
            Run(Approve),
        )
    },
    Row {
        expect: &["sync run", ": ok", "safety rails: approved"],
        ..row(
            OPS,
            "aaf-sync sync --config FILE --allow-mass-departure PATH...",
            Run(Approve),
        )
    },
    row(OPS, "wc -l", Mention),
    row(OPS, "kill -9", Mention),
    Row {
        code: 1,
        expect: &["drift"],
        ..row(OPS, "aaf-sync sync --check ...", Run(FirstSync))
    },
    Row {
        expect: &["last run:", "lock: free"],
        ..row(OPS, "aaf-sync status", Run(FirstSync))
    },
    row(OPS, "systemctl stop", Host),
    // --- docs/data-protection.md
    Row {
        expect: &["retention pass", ": ok"],
        ..row(DP, "aaf-sync retention", Run(FirstSync))
    },
    block(
        DP,
        "olcAccess: {N}to attrs=aafSyncSavedPassword by dn.exact=\"<sync bind DN>\" write by * none",
        Run(DataSubject),
    ),
    Row {
        expect: &["no finding"],
        ..row(DP, "aaf-sync audit", Run(FirstSync))
    },
    row(
        DP,
        "aaf-sync subject export --config FILE (--jointure ID | --login LOGIN | --dn DN) [--out FILE]",
        Run(DataSubject),
    ),
    Row {
        expect: &["erased", "blocked from re-creation", "\"deleted\": true"],
        ..row(
            DP,
            "aaf-sync subject erase --config FILE (--jointure ID | --login LOGIN | --dn DN) --reason TEXT",
            Run(DataSubject),
        )
    },
    Row {
        expect: &["erasure lifted"],
        ..row(
            DP,
            "aaf-sync subject unblock --config FILE --jointure ID",
            Run(DataSubject),
        )
    },
    Row {
        expect: &["certificate: ", "aaf-sync-deletion-certificate-"],
        ..row(
            DP,
            "aaf-sync purge --config FILE --confirm <base DN> --reference TEXT [--out DIR]",
            Run(DataSubject),
        )
    },
    row(
        DP,
        "aaf-sync audit --config FILE [--format text|json] [--now DATE]",
        Run(DataSubject),
    ),
    // --- docs/scale.md
    row(SCALE, "bash scripts/bench.sh SCHOOLS PUPILS", Script),
    row(SCALE, "AAF_SYNC_CHECK_TARGETED=1", Env),
    row(SCALE, "slapadd -q", Mention),
    row(SCALE, "cargo bench --bench stages", Cargo),
    Row {
        expect: &["entries written to", "load with slapadd -q"],
        ..row(
            SCALE,
            "aaf-sync export-ldif --config /etc/aaf-sync/aaf-sync.toml --with-base --out /var/tmp/aaf-initial.ldif /path/to/the/Complet",
            Run(FirstLoad),
        )
    },
    row(SCALE, "systemctl stop slapd", Run(FirstLoad)),
    row(
        SCALE,
        "slapadd -q -n 1 -l /var/tmp/aaf-initial.ldif",
        Run(FirstLoad),
    ),
    row(SCALE, "systemctl start slapd", Run(FirstLoad)),
    Row {
        expect: &["sync run", ": ok", "changes planned: 0"],
        ..row(
            SCALE,
            "aaf-sync sync --config /etc/aaf-sync/aaf-sync.toml /path/to/the/Complet",
            Run(FirstLoad),
        )
    },
    row(SCALE, "shred -u /var/tmp/aaf-initial.ldif", Run(FirstLoad)),
    block(SCALE, "[ldap]", Run(Replicated)),
    row(SCALE, "kill -9", Mention),
    row(
        SCALE,
        "scripts/slapd-replicated.sh start DIR [PORT_A PORT_B PORT_C]",
        Script,
    ),
    row(SCALE, "kill DIR a|b|c", Usage("scripts/slapd-replicated.sh")),
    row(
        SCALE,
        "docker compose --profile replicated up --build sync-replicated",
        Host,
    ),
    // --- docs/schema.md
    Row {
        expect: &["adding new entry \"cn=aaf-sdet,cn=schema,cn=config\""],
        ..row(
            SCHEMA,
            "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f schema/10-aaf-sdet.ldif",
            Run(Schema),
        )
    },
    Row {
        expect: &["adding new entry \"cn=aaf-sync,cn=schema,cn=config\""],
        ..row(
            SCHEMA,
            "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f schema/20-aaf-sync.ldif",
            Run(Schema),
        )
    },
    row(SCHEMA, "aaf-sync subject export", Synopsis),
    Row {
        expect: &["schema loaded"],
        ..row(SCHEMA, "aaf-sync check", Run(FirstSync))
    },
];

/// What the tests put in place of the docs' placeholders, and what they
/// change in a command to run it unattended. A scenario may only set a
/// placeholder listed here. Keys of two words (`-f …`) replace the second
/// word after the first; keys starting with `/` replace a path prefix too.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    // placeholders
    ("EXTRACTION", "samples/1d-complet, the bundled sample"),
    ("/path/to/the/Complet", "samples/1d-complet"),
    ("-f …", "each schema file the README's step 1 names, in its order"),
    ("ldapi:///", "the ldapi:// socket of the test slapd (its peer credentials are the test's, as root's are the system slapd's)"),
    ("/etc/aaf-sync/aaf-sync.toml", "the scenario's configuration"),
    ("--config …", "the scenario's configuration"),
    ("--config FILE", "the scenario's configuration"),
    ("...", "`--config FILE EXTRACTION` of the scenario (`sync --check ...`)"),
    ("/var/lib/aaf-sync", "the scenario's work_dir"),
    ("3f9a1c0d5e7b2a48", "the digest the held run printed"),
    ("PATH...", "the directory of the extraction the last run was held for"),
    ("/etc/aaf-sync/id_rsa", "the SFTP client key, in the scenario's directory"),
    ("/etc/aaf-sync/known_hosts", "the known_hosts file, in the scenario's directory"),
    ("sftp.example", "127.0.0.1, the test sshd"),
    ("-p 22", "the port of the test sshd"),
    ("/var/tmp/aaf-initial.ldif", "a file in the scenario's directory"),
    ("/tmp/aaf-repl", "a directory of the scenario"),
    ("ldaps://ldap1.example.org", "provider A of scripts/slapd-replicated.sh (plain ldap:// on loopback)"),
    ("ldaps://ldap2.example.org", "provider B"),
    ("ldaps://ldap-replica.example.org", "consumer C"),
    ("ldaps://a", "provider A"),
    ("ldaps://b", "provider B"),
    ("AAF_SYNC_LDAP__URL=…", "the URL of the test slapd (the configuration file names a port nothing listens on)"),
    ("--out FILE", "a file of the scenario (the export)"),
    ("ID", "the AAF id of a synthetic pupil of the sample (each erase its own)"),
    ("LOGIN", "that pupil's ENTPersonLogin, read back"),
    ("DN", "that pupil's DN"),
    ("TEXT", "a synthetic reason or reference"),
    ("<base DN>", "the base DN of the test slapd"),
    ("--out DIR", "a directory of the scenario"),
    ("DATE", "2025-09-20"),
    ("--out samples/1d-complet", "a directory of the scenario, then compared with samples/1d-complet byte for byte"),
    ("{N}", "{2}: before the test slapd's own `by * none` on aafSyncSavedPassword"),
    ("<sync bind DN>", "cn=aaf-sync,dc=example,dc=org, an entry the scenario adds"),
    // adaptations
    ("sudo", "dropped: the test slapd's ldapi socket answers the test's own uid"),
    ("systemctl stop slapd", "stops the test slapd (scripts/slapd-test-instance.sh stop)"),
    ("systemctl start slapd", "starts it again on the same data and port (restart)"),
    ("slapadd", "gets `-F` and the test slapd's cn=config directory (the system's is /etc/ldap/slapd.d)"),
    ("ssh-keygen -t", "gets `-q -N PASSPHRASE` (it would prompt), the passphrase going to [fetch] passphrase_file"),
    ("less", "the test reads the file"),
    ("chmod 600", "applied to the LDAP password file"),
    ("slapd-replicated.sh start", "three free ports appended (its defaults, 3890-3892, may be taken)"),
    ("aaf-sync <command>", "a bare mention runs with AAF_SYNC_CONFIG naming the configuration"),
    ("AAF_SYNC_LOG=", "set for a sync of the sample"),
];

/// The rows of `item`.
fn rows_of(item: &Item) -> Vec<&'static Row> {
    TABLE
        .iter()
        .filter(|r| {
            r.file == item.file
                && r.text == item.text
                && r.block == matches!(item.origin, Origin::Block(_))
        })
        .collect()
}

/// Every command and block of the docs.
fn all_items() -> Vec<Item> {
    let mut out = Vec::new();
    for f in docs_md::doc_files(root()) {
        let f2 = f.clone();
        out.extend(docs_md::extract(root(), &f, &move |first| {
            TABLE
                .iter()
                .any(|r| r.block && r.file == f2 && r.text == first)
        }));
    }
    out
}

#[test]
fn every_doc_command_is_classified() {
    let items = all_items();
    let mut errors = Vec::new();
    for it in &items {
        match rows_of(it).len() {
            0 => errors.push(format!(
                "{}: `{}` ({:?}) is not classified: add a row to TABLE in tests/docs.rs (and a step to its scenario if it runs)",
                it.at(),
                it.text,
                it.origin
            )),
            1 => {}
            n => errors.push(format!("{}: `{}` has {n} rows in TABLE", it.at(), it.text)),
        }
    }
    for r in TABLE {
        let n = items
            .iter()
            .filter(|it| rows_of(it).iter().any(|x| std::ptr::eq(*x, r)))
            .count();
        if n == 0 {
            errors.push(format!(
                "TABLE row {}: `{}` is in no doc any more: remove it or fix the doc",
                r.file, r.text
            ));
        }
        if matches!(r.class, Run(_)) && n > 1 {
            errors.push(format!(
                "TABLE row {}: `{}` runs once, but the doc has it {n} times",
                r.file, r.text
            ));
        }
    }
    // every placeholder a scenario may set is documented once
    let mut keys: Vec<&str> = SUBSTITUTIONS.iter().map(|(k, _)| *k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        SUBSTITUTIONS.len(),
        "a key twice in SUBSTITUTIONS"
    );
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
    // and the extraction finds what it must: the README's first sync, the
    // fenced shell blocks and the inline commands
    assert!(items.len() > 80, "{} commands only", items.len());
}

// ---------------------------------------------------------------------------
// Running commands

/// What a command did.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A scenario's commands: taken one by one, all of them by the end.
struct Steps {
    left: Vec<(Item, &'static Row)>,
}

impl Steps {
    fn of(s: Scenario) -> Steps {
        let left: Vec<(Item, &'static Row)> = all_items()
            .into_iter()
            .filter_map(|it| {
                let r = *rows_of(&it).first()?;
                (r.class == Run(s)).then_some((it, r))
            })
            .collect();
        for r in TABLE.iter().filter(|r| r.class == Run(s)) {
            assert!(
                left.iter().any(|(_, x)| std::ptr::eq(*x, r)),
                "{s:?}: `{}` is no longer in {} (every_doc_command_is_classified says more)",
                r.text,
                r.file
            );
        }
        Steps { left }
    }

    fn take(&mut self, file: &str, text: &str) -> (Item, &'static Row) {
        let i = self
            .left
            .iter()
            .position(|(it, _)| it.file == file && it.text == text)
            .unwrap_or_else(|| panic!("{file}: `{text}` is not a command of this scenario"));
        self.left.remove(i)
    }

    fn done(self) {
        assert!(
            self.left.is_empty(),
            "commands of the scenario not run: {:?}",
            self.left
                .iter()
                .map(|(it, _)| format!("{} `{}`", it.at(), it.text))
                .collect::<Vec<_>>()
        );
    }
}

/// Where a scenario runs its commands and what it substitutes.
struct Ctx {
    tmp: tempfile::TempDir,
    subst: BTreeMap<String, Vec<String>>,
    env: Vec<(String, String)>,
    /// The test slapd's instance directory (`slapadd -F`, `systemctl`).
    slapd_dir: Option<PathBuf>,
}

/// Top-level directories of the repository: a command's relative path
/// into one of them is read from the repository.
const REPO_DIRS: &[&str] = &[
    "schema", "samples", "config", "scripts", "tests", "benches", "docs", ".ci",
];

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            tmp: tempfile::tempdir().unwrap(),
            subst: BTreeMap::new(),
            env: Vec::new(),
            slapd_dir: None,
        }
    }

    /// The working directory of the commands.
    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Sets a placeholder of [`SUBSTITUTIONS`].
    fn set(&mut self, key: &str, words: &[&str]) {
        assert!(
            SUBSTITUTIONS.iter().any(|(k, _)| *k == key),
            "{key}: not in SUBSTITUTIONS"
        );
        self.subst.insert(
            key.to_string(),
            words.iter().map(|w| w.to_string()).collect(),
        );
    }

    fn set_path(&mut self, key: &str, p: &Path) {
        self.set(key, &[p.to_str().unwrap()]);
    }

    fn words_for(&self, prev: Option<&str>, w: &str) -> Vec<String> {
        if let Some(p) = prev {
            if let Some(v) = self.subst.get(&format!("{p} {w}")) {
                return v.clone();
            }
        }
        if let Some(v) = self.subst.get(w) {
            return v.clone();
        }
        for (k, v) in &self.subst {
            if k.starts_with('/') && v.len() == 1 {
                if let Some(rest) = w.strip_prefix(&format!("{k}/")) {
                    return vec![format!("{}/{rest}", v[0])];
                }
            }
        }
        if let Some((opt, val)) = w.split_once('=') {
            if opt.starts_with("--") {
                if let Some(v) = self.subst.get(val) {
                    return vec![format!("{opt}={}", v.join(" "))];
                }
            }
        }
        let first = w.split('/').next().unwrap_or("");
        if w.contains('/') && REPO_DIRS.contains(&first) && root().join(w).exists() {
            assert!(
                prev != Some("--out"),
                "{w}: a command would write into the repository"
            );
            return vec![root().join(w).display().to_string()];
        }
        vec![w.to_string()]
    }

    fn substitute(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| args[j].as_str());
            out.extend(self.words_for(prev, a));
        }
        out
    }

    /// Environment assignments, with documented substitutions: a whole
    /// `NAME=value` key, or a key found inside the value.
    fn substitute_env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        env.iter()
            .map(|(n, v)| {
                if let Some(w) = self.subst.get(&format!("{n}={v}")) {
                    return (n.clone(), w.join(" "));
                }
                let mut v = v.clone();
                let mut keys: Vec<&String> =
                    self.subst.keys().filter(|k| k.contains("://")).collect();
                keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
                for k in keys {
                    v = v.replace(k.as_str(), &self.subst[k].join(" "));
                }
                (n.clone(), v)
            })
            .collect()
    }

    /// Runs one simple command as the doc writes it, substituted.
    fn exec(&self, c: &Simple, at: &str) -> Out {
        let args = self.substitute(&c.args);
        let env = self.substitute_env(&c.env);
        let spawn = |program: &str, args: &[String]| -> Out {
            let mut cmd = Command::new(program);
            cmd.args(args)
                .current_dir(self.dir())
                .stdin(std::process::Stdio::null());
            for (k, _) in std::env::vars() {
                if k.starts_with("AAF_SYNC_") {
                    cmd.env_remove(k);
                }
            }
            for (k, v) in self.env.iter().chain(&env) {
                cmd.env(k, v);
            }
            let o = cmd
                .output()
                .unwrap_or_else(|e| panic!("{at}: cannot run {program}: {e}"));
            Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).to_string(),
                stderr: String::from_utf8_lossy(&o.stderr).to_string(),
            }
        };
        let slapd_script = |what: &str| -> Out {
            let dir = self.slapd_dir.as_ref().expect("no test slapd");
            spawn(
                "bash",
                &[
                    root()
                        .join("scripts/slapd-test-instance.sh")
                        .display()
                        .to_string(),
                    what.to_string(),
                    dir.display().to_string(),
                ],
            )
        };
        let mut out = match c.program.as_str() {
            "aaf-sync" | "/usr/local/bin/aaf-sync" => spawn(env!("CARGO_BIN_EXE_aaf-sync"), &args),
            "aaf-gen" => spawn(env!("CARGO_BIN_EXE_aaf-gen"), &args),
            "systemctl" => match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["stop", "slapd"] => slapd_script("stop"),
                ["start", "slapd"] => slapd_script("restart"),
                _ => panic!("{at}: no test stand-in for systemctl {args:?}"),
            },
            "slapadd" => {
                let dir = self.slapd_dir.as_ref().expect("no test slapd");
                let mut a = vec!["-F".to_string(), dir.join("slapd.d").display().to_string()];
                a.extend(args.iter().cloned());
                spawn("/usr/sbin/slapadd", &a)
            }
            "less" => {
                let f = &args[0];
                match std::fs::read_to_string(self.dir().join(f)) {
                    Ok(s) => Out {
                        code: 0,
                        stdout: s,
                        stderr: String::new(),
                    },
                    Err(e) => Out {
                        code: 1,
                        stdout: String::new(),
                        stderr: format!("{f}: {e}"),
                    },
                }
            }
            "ldapadd" | "ldapmodify" | "ssh-keygen" | "ssh-keyscan" | "shred" | "chmod"
            | "bash" => spawn(&c.program, &args),
            other => panic!("{at}: no runner for {other}"),
        };
        if let Some(f) = &c.stdout {
            let f = self.words_for(Some(">"), f).remove(0);
            let p = self.dir().join(f);
            std::fs::write(&p, &out.stdout).unwrap();
        }
        if c.stderr_to_stdout {
            out.stdout.push_str(&out.stderr);
        }
        out
    }

    /// Runs `text` (the item's, or an adapted form of it) for `item`, and
    /// checks the exit code and output of its row.
    fn run_text(&self, item: &Item, row: &Row, text: &str, adapt: impl FnOnce(&mut Simple)) -> Out {
        let line = docs_md::parse(text).unwrap_or_else(|e| panic!("{}: {e}", item.at()));
        assert_eq!(
            line.commands.len(),
            1,
            "{}: one simple command per run: {text}",
            item.at()
        );
        let mut c = line.commands[0].clone();
        adapt(&mut c);
        self.check(item, row, self.exec(&c, &item.at()))
    }

    /// The exit code and output lines of `row`.
    fn check(&self, item: &Item, row: &Row, out: Out) -> Out {
        assert_eq!(
            out.code,
            row.code,
            "{} `{}`: exit code {} where the doc implies {}\nstdout:\n{}\nstderr:\n{}",
            item.at(),
            item.text,
            out.code,
            row.code,
            out.stdout,
            out.stderr
        );
        let all = out.all();
        // a `console` block's output lines, under the command
        for l in &item.body {
            assert!(
                all.contains(l.as_str()),
                "{} `{}`: the doc shows {l:?}, the command printed\n{all}",
                item.at(),
                item.text
            );
        }
        for e in row.expect {
            assert!(
                all.contains(e),
                "{} `{}`: the output lacks {e:?}\n{all}",
                item.at(),
                item.text
            );
        }
        out
    }

    /// Runs one line a synopsis stands for (words, not shell text: `<base
    /// DN>` is one word).
    fn run_words(&self, item: &Item, row: &Row, words: &[String]) -> Out {
        let c = Simple {
            program: words[0].clone(),
            args: words[1..].to_vec(),
            ..Simple::default()
        };
        self.check(item, row, self.exec(&c, &item.at()))
    }

    fn run(&self, item: &Item, row: &Row) -> Out {
        self.run_text(item, row, &item.text, |_| {})
    }

    /// Runs `command` with the environment assignments of `item` (an
    /// inline `NAME=value` span).
    fn run_with_env_of(&self, item: &Item, row: &Row, command: &str) -> Out {
        let env = docs_md::parse(&item.text).unwrap().commands.remove(0).env;
        assert!(!env.is_empty(), "{}: no assignment", item.at());
        self.run_text(item, row, command, |c| c.env.extend(env))
    }
}

fn ldapi_url(l: &Slapd) -> String {
    let p = l.dir.path().join("ldap/ldapi").display().to_string();
    format!(
        "ldapi://{}",
        p.replace('%', "%25")
            .replace('/', "%2F")
            .replace(' ', "%20")
    )
}

/// config/example.toml with `edits` (section, key, TOML value) made —
/// a commented `# key = …` line is uncommented — and `drop`ped sections
/// removed: the file the docs tell the operator to start from.
fn from_example(edits: &[(&str, &str, String)], drop: &[&str]) -> String {
    let text = std::fs::read_to_string(root().join("config/example.toml")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let section_range = |lines: &[String], s: &str| {
        let start = lines
            .iter()
            .position(|l| l.trim() == format!("[{s}]"))
            .unwrap_or_else(|| panic!("config/example.toml: no [{s}]"));
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.starts_with('['))
            .map_or(lines.len(), |e| start + 1 + e);
        (start, end)
    };
    for (s, k, v) in edits {
        let (a, b) = section_range(&lines, s);
        let is_key = |l: &str| l.starts_with(&format!("{k} =")) || l.starts_with(&format!("{k}="));
        let i = (a..b)
            .find(|&i| is_key(&lines[i]))
            .or_else(|| (a..b).find(|&i| is_key(lines[i].trim_start_matches("# "))))
            .unwrap_or_else(|| panic!("config/example.toml: no {k} in [{s}]"));
        lines[i] = format!("{k} = {v}");
    }
    for s in drop {
        let (a, b) = section_range(&lines, s);
        lines.drain(a..b);
    }
    lines.join("\n") + "\n"
}

fn q(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

fn sample() -> PathBuf {
    root().join("samples/1d-complet")
}

const UAI: [&str; 2] = ["0920100J", "0920101K"];

fn uai_toml() -> String {
    format!("[\"{}\", \"{}\"]", UAI[0], UAI[1])
}

fn uais() -> Vec<String> {
    UAI.iter().map(|u| u.to_string()).collect()
}

/// The text of the README between two markers.
fn readme_between(from: &str, to: &str) -> String {
    let r = std::fs::read_to_string(root().join(README)).unwrap();
    let a = r
        .find(from)
        .unwrap_or_else(|| panic!("README: no {from:?}"));
    let b = r[a..]
        .find(to)
        .unwrap_or_else(|| panic!("README: no {to:?}"))
        + a;
    r[a..b].to_string()
}

// ---------------------------------------------------------------------------
// Scenarios

/// README "Your first sync", as a newcomer types it, on a slapd that has
/// never seen the schema; then what the other docs mention by name.
#[test]
fn first_sync_as_the_readme_says() {
    let mut steps = Steps::of(FirstSync);
    let ldap = Slapd::start_bare();
    let mut ctx = Ctx::new();
    ctx.slapd_dir = Some(ldap.dir.path().join("ldap"));
    ctx.set("ldapi:///", &[&ldapi_url(&ldap)]);
    // 1. Schema: the files step 1 names, in its order
    let step1 = readme_between("1. **Schema.**", "2. **Configuration.**");
    let files = ["schema/10-aaf-sdet.ldif", "schema/20-aaf-sync.ldif"];
    assert!(
        step1.contains(&format!("Load `{}` then `{}`", files[0], files[1])),
        "{step1}"
    );
    let (it, r) = steps.take(README, "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f …");
    for f in files {
        ctx.set("-f …", &[root().join(f).to_str().unwrap()]);
        let out = ctx.run(&it, r);
        assert!(
            out.all().contains("adding new entry \"cn="),
            "{}",
            out.all()
        );
    }
    // 2. Configuration: config/example.toml with the keys step 2 names
    let step2 = readme_between("2. **Configuration.**", "3. **Check, try");
    for k in [
        "`config/example.toml` to `aaf-sync.toml`",
        "`url`",
        "`bind_dn`",
        "`bind_password_file`",
        "`base_dn`",
        "`[source] name`",
        "`[perimeter] uai`",
        "`[paths] work_dir`",
        "`[fetch]`",
    ] {
        assert!(
            step2.contains(k),
            "README step 2 no longer says {k}: {step2}"
        );
    }
    let pw = ctx.path("ldap.secret");
    write_secret(&pw, &format!("{PW}\n"));
    let config = from_example(
        &[
            ("ldap", "url", format!("\"{}\"", ldap.url)),
            ("ldap", "bind_dn", format!("\"{ADMIN}\"")),
            ("ldap", "bind_password_file", q(&pw)),
            ("ldap", "base_dn", format!("\"{BASE}\"")),
            ("source", "name", "\"AC-CRETEIL\"".into()),
            ("perimeter", "uai", uai_toml()),
            ("paths", "work_dir", q(&ctx.path("work"))),
        ],
        &["fetch"],
    );
    std::fs::write(ctx.path("aaf-sync.toml"), config).unwrap();
    // 3. the six commands, in their order
    ctx.set_path("EXTRACTION", &sample());
    let (it, r) = steps.take(README, "aaf-sync check --config aaf-sync.toml");
    ctx.run(&it, r);
    let (it, r) = steps.take(
        README,
        "aaf-sync sync --config aaf-sync.toml --dry-run EXTRACTION > plan.ldif",
    );
    ctx.run(&it, r);
    let plan = std::fs::read_to_string(ctx.path("plan.ldif")).unwrap();
    // every change the sync makes next: 208 entries, and the branches
    assert!(plan.matches("changetype: add").count() >= 208, "{plan}");
    assert_eq!(
        ldap.count(BASE, "(objectClass=ENTPerson)"),
        0,
        "the dry run wrote"
    );
    let (it, r) = steps.take(README, "aaf-sync sync --config aaf-sync.toml EXTRACTION");
    ctx.run(&it, r);
    assert_eq!(ldap.count(BASE, "(objectClass=ENTPerson)"), 201);
    for text in [
        "aaf-sync sync --config aaf-sync.toml --check EXTRACTION",
        "aaf-sync status --config aaf-sync.toml",
        "aaf-sync audit --config aaf-sync.toml",
    ] {
        let (it, r) = steps.take(README, text);
        ctx.run(&it, r);
    }
    // commands the docs name bare: `--config` comes from AAF_SYNC_CONFIG
    ctx.env
        .push(("AAF_SYNC_CONFIG".into(), "aaf-sync.toml".into()));
    for (file, text) in [
        (SCHEMA, "aaf-sync check"),
        (OPS, "aaf-sync status"),
        (README, "aaf-sync run"),
        (DP, "aaf-sync retention"),
        (DP, "aaf-sync audit"),
    ] {
        let (it, r) = steps.take(file, text);
        ctx.run(&it, r);
    }
    ctx.env.clear();
    // logs: per-file counts at info, no progress lines at warn (the
    // progress interval at 0 so that the default shows them at once)
    ctx.env
        .push(("AAF_SYNC_PROGRESS_INTERVAL_MS".into(), "0".into()));
    let resync = "aaf-sync sync --config aaf-sync.toml EXTRACTION";
    let (it, r) = steps.take(README, "AAF_SYNC_LOG=info");
    let out = ctx.run_with_env_of(&it, r, resync);
    assert!(
        out.stderr
            .contains("file read file=ENT1D_Complet_20250904_Eleve_0000.xml records=120"),
        "{}: no per-file counts\n{}",
        it.at(),
        out.stderr
    );
    let by_default = ctx.run_text(&it, r, resync, |_| {});
    assert!(
        by_default
            .stderr
            .lines()
            .any(|l| l.contains("parse: ") && l.contains(" records (") && l.contains("/s) in "))
            && !by_default.stderr.contains("file read"),
        "the default log level: progress lines (`parse: N records (R/s)`, `… in T s` at the end), no per-file counts\n{}",
        by_default.stderr
    );
    let (it, r) = steps.take(README, "AAF_SYNC_LOG=warn");
    let out = ctx.run_with_env_of(&it, r, resync);
    assert!(
        !out.stderr.contains("parse: ") && !out.stderr.contains(" INFO "),
        "{}: progress lines at warn\n{}",
        it.at(),
        out.stderr
    );
    ctx.env.clear();
    // monitoring: a hand edit is a drift `sync --check` reports
    let someone = ldap
        .entries(
            &format!("ou=people,{BASE}"),
            "(objectClass=ENTEleve)",
            &["1.1"],
        )
        .into_keys()
        .next()
        .unwrap();
    ldap.modify(&format!(
        "dn: {someone}\nchangetype: modify\nreplace: sn\nsn: Edited By Hand\n"
    ));
    ctx.set(
        "...",
        &["--config", "aaf-sync.toml", sample().to_str().unwrap()],
    );
    let (it, r) = steps.take(OPS, "aaf-sync sync --check ...");
    ctx.run(&it, r);
    steps.done();
}

/// docs/schema.md: the two `ldapadd` load the schema into a slapd that
/// has only the stock schemas, after which `aaf-sync check` finds it.
#[test]
fn schema_loads_as_schema_md_says() {
    let mut steps = Steps::of(Schema);
    let ldap = Slapd::start_bare();
    let mut ctx = Ctx::new();
    ctx.set("ldapi:///", &[&ldapi_url(&ldap)]);
    for text in [
        "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f schema/10-aaf-sdet.ldif",
        "sudo ldapadd -Y EXTERNAL -H ldapi:/// -f schema/20-aaf-sync.ldif",
    ] {
        let (it, r) = steps.take(SCHEMA, text);
        ctx.run(&it, r);
    }
    steps.done();
    let dir = tempfile::tempdir().unwrap();
    let config = ldap.config(dir.path(), &uais(), "");
    let (out, _) = aaf_sync_ok(&["check", "--config", config.to_str().unwrap()], 0);
    assert!(out.contains("schema loaded"), "{out}");
    // both entries are in cn=schema, in file-name order
    let o = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &ldap.url, "-D", "cn=config", "-w", PW])
        .args(["-b", "cn=schema,cn=config", "-s", "one", "cn"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    let (a, b) = (s.find("aaf-sdet").unwrap(), s.find("aaf-sync").unwrap());
    assert!(a < b, "{s}");
}

/// Held, reviewed, approved, applied: docs/operations.md "Approving a held
/// run", both ways (`approve` then `run`, and `sync
/// --allow-mass-departure`).
#[test]
fn a_held_run_is_approved_as_operations_md_says() {
    let mut steps = Steps::of(Approve);
    let ldap = Slapd::start();
    let mut ctx = Ctx::new();
    let config = ldap.config(ctx.dir(), &uais(), "");
    let work = ctx.path("work");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            sample().to_str().unwrap(),
        ],
        0,
    );
    let pupils = || ldap.count(&format!("ou=people,{BASE}"), "(objectClass=ENTEleve)");
    assert_eq!(pupils(), 80);
    // a week later, a Complet without a fifth of the pupils, delivered
    // into incoming/: `run` holds it
    let incoming = work.join("incoming");
    copy_extraction(&sample(), &incoming, "20250911");
    assert!(drop_records(&incoming, "Eleve", |i| i % 5 != 0) > 20);
    let (_, err) = aaf_sync_ok(&["run", "--config", config.to_str().unwrap()], 2);
    assert!(
        err.contains("extraction ENT1D_Complet_20250911: held"),
        "{err}"
    );
    let digest = err
        .split("plan digest ")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest: {err}"))[..16]
        .to_string();
    ctx.set_path("/etc/aaf-sync/aaf-sync.toml", &config);
    ctx.set_path("/var/lib/aaf-sync", &work);
    ctx.set("3f9a1c0d5e7b2a48", &[&digest]);
    let (it, r) = steps.take(OPS, "aaf-sync status --config /etc/aaf-sync/aaf-sync.toml");
    let out = ctx.run(&it, r);
    assert!(
        out.stdout.contains(&format!("held plan {digest}")),
        "{}",
        out.stdout
    );
    let (it, r) = steps.take(OPS, "less /var/lib/aaf-sync/plans/held.ldif");
    ctx.run(&it, r);
    let (it, r) = steps.take(
        OPS,
        "aaf-sync approve --config /etc/aaf-sync/aaf-sync.toml 3f9a1c0d5e7b2a48",
    );
    ctx.run(&it, r);
    assert_eq!(pupils(), 80, "approving wrote");
    let (it, r) = steps.take(OPS, "aaf-sync run --config /etc/aaf-sync/aaf-sync.toml");
    ctx.run(&it, r);
    assert!(pupils() < 80, "the approved plan was not applied");
    assert_eq!(
        std::fs::read_dir(&incoming).unwrap().count(),
        0,
        "imported files kept"
    );
    assert!(
        !work.join("plans/held.ldif").exists(),
        "the held plan outlives its run"
    );
    // the other way: `sync --allow-mass-departure` on the plan held last
    let before = pupils();
    let next = ctx.path("next");
    copy_extraction(&sample(), &next, "20250918");
    drop_records(&next, "Eleve", |i| i % 5 != 0 && i % 3 != 0);
    let (_, err) = aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            next.to_str().unwrap(),
        ],
        2,
    );
    assert!(
        err.contains(": held") && err.contains("would leave"),
        "{err}"
    );
    ctx.set_path("--config FILE", &config);
    ctx.set_path("PATH...", &next);
    let (it, r) = steps.take(
        OPS,
        "aaf-sync sync --config FILE --allow-mass-departure PATH...",
    );
    ctx.run(&it, r);
    assert!(pupils() < before);
    steps.done();
}

/// docs/operations.md "Daily operation", steps 2 to 5, against the test
/// sshd, then the daily run as the systemd unit starts it, then again.
#[test]
fn the_daily_job_is_set_up_as_operations_md_says() {
    let mut steps = Steps::of(Daily);
    let mut ctx = Ctx::new();
    let etc = ctx.path("etc");
    std::fs::create_dir_all(&etc).unwrap();
    ctx.set_path("/etc/aaf-sync/id_rsa", &etc.join("id_rsa"));
    ctx.set_path("/etc/aaf-sync/known_hosts", &etc.join("known_hosts"));
    // 2. the key, with a passphrase in a file
    let passphrase = "synthetic passphrase 42";
    let (it, r) = steps.take(OPS, "ssh-keygen -t rsa -b 4096 -f /etc/aaf-sync/id_rsa");
    ctx.run_text(&it, r, &it.text, |c| {
        c.args.extend(["-q", "-N", passphrase].map(String::from))
    });
    write_secret(&etc.join("id_rsa.passphrase"), &format!("{passphrase}\n"));
    let sftp = Sftp::start(Some(&etc.join("id_rsa.pub")));
    for e in std::fs::read_dir(sample()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, sftp.files().join(p.file_name().unwrap())).unwrap();
    }
    // 3. the host key, pinned, and its fingerprints
    ctx.set("sftp.example", &["127.0.0.1"]);
    ctx.set("-p 22", &[&sftp.port.to_string()]);
    let (it, r) = steps.take(
        OPS,
        "ssh-keyscan -p 22 sftp.example > /etc/aaf-sync/known_hosts",
    );
    ctx.run(&it, r);
    let kh = std::fs::read_to_string(etc.join("known_hosts")).unwrap();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", sftp.port)),
        "{kh}"
    );
    let (it, r) = steps.take(OPS, "ssh-keygen -lf /etc/aaf-sync/known_hosts");
    let out = ctx.run(&it, r);
    let o = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sftp.host_key_pub("ed25519"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(out.stdout.contains(&fp), "{fp} not in {}", out.stdout);
    // 4. the configuration, from config/example.toml
    let ldap = Slapd::start();
    let pw = etc.join("ldap.secret");
    write_secret(&pw, &format!("{PW}\n"));
    let work = ctx.path("var-lib-aaf-sync");
    let config = etc.join("aaf-sync.toml");
    std::fs::write(
        &config,
        from_example(
            &[
                ("ldap", "url", format!("\"{}\"", ldap.url)),
                ("ldap", "bind_password_file", q(&pw)),
                ("perimeter", "uai", uai_toml()),
                ("paths", "work_dir", q(&work)),
                ("fetch", "host", "\"127.0.0.1\"".into()),
                ("fetch", "port", sftp.port.to_string()),
                ("fetch", "user", format!("\"{}\"", sftp.user)),
                ("fetch", "private_key_file", q(&etc.join("id_rsa"))),
                (
                    "fetch",
                    "passphrase_file",
                    q(&etc.join("id_rsa.passphrase")),
                ),
                ("fetch", "known_hosts_file", q(&etc.join("known_hosts"))),
                ("fetch", "timeout_secs", "10".into()),
            ],
            &[],
        ),
    )
    .unwrap();
    ctx.set_path("/etc/aaf-sync/aaf-sync.toml", &config);
    ctx.set_path("--config …", &config);
    ctx.set_path("--config FILE", &config);
    ctx.set_path("/var/lib/aaf-sync", &work);
    // 5. check, fetch --dry-run, run --dry-run: nothing written or deleted
    for text in [
        "aaf-sync check --config /etc/aaf-sync/aaf-sync.toml",
        "aaf-sync fetch --config … --dry-run",
        "aaf-sync run --config … --dry-run",
    ] {
        let (it, r) = steps.take(OPS, text);
        ctx.run(&it, r);
    }
    assert_eq!(ldap.count(BASE, "(objectClass=ENTPerson)"), 0);
    let incoming = work.join("incoming");
    assert!(!incoming.exists() || std::fs::read_dir(&incoming).unwrap().count() == 0);
    assert_eq!(std::fs::read_dir(sftp.files()).unwrap().count(), 4);
    // 6. the run the systemd unit starts, as its ExecStart writes it
    let unit = std::fs::read_to_string(root().join("config/systemd/aaf-sync.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let c = docs_md::parse(exec).unwrap().commands.remove(0);
    let out = ctx.exec(&c, "config/systemd/aaf-sync.service ExecStart");
    assert_eq!(out.code, 0, "ExecStart: {}", out.all());
    assert!(ldap.count(BASE, "(objectClass=ENTPerson)") > 100);
    assert_eq!(
        std::fs::read_dir(&incoming).unwrap().count(),
        0,
        "not destroyed"
    );
    let report = work.join("last-report.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&report).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // the next morning: fetched once, nothing new
    let (it, r) = steps.take(OPS, "aaf-sync run --config FILE");
    ctx.run(&it, r);
    steps.done();
}

/// docs/scale.md "First load of a large directory", on an empty database.
#[test]
fn a_first_load_goes_as_scale_md_says() {
    let mut steps = Steps::of(FirstLoad);
    let ldap = Slapd::start_empty();
    let mut ctx = Ctx::new();
    ctx.slapd_dir = Some(ldap.dir.path().join("ldap"));
    let config = ldap.config(ctx.dir(), &uais(), "");
    ctx.set_path("/etc/aaf-sync/aaf-sync.toml", &config);
    ctx.set_path("/var/tmp/aaf-initial.ldif", &ctx.path("aaf-initial.ldif"));
    ctx.set_path("/path/to/the/Complet", &sample());
    let (it, r) = steps.take(
        SCALE,
        "aaf-sync export-ldif --config /etc/aaf-sync/aaf-sync.toml --with-base --out /var/tmp/aaf-initial.ldif /path/to/the/Complet",
    );
    ctx.run(&it, r);
    for text in [
        "systemctl stop slapd",
        "slapadd -q -n 1 -l /var/tmp/aaf-initial.ldif",
        "systemctl start slapd",
    ] {
        let (it, r) = steps.take(SCALE, text);
        ctx.run(&it, r);
    }
    assert!(ldap.exists_dn(BASE), "--with-base: no base entry");
    let before = csns(&ldap);
    assert!(before.len() > 200);
    let (it, r) = steps.take(
        SCALE,
        "aaf-sync sync --config /etc/aaf-sync/aaf-sync.toml /path/to/the/Complet",
    );
    assert_eq!(it.comment.as_deref(), Some("writes nothing"));
    ctx.run(&it, r);
    assert_eq!(csns(&ldap), before, "{}: the sync wrote", it.at());
    let (it, r) = steps.take(SCALE, "shred -u /var/tmp/aaf-initial.ldif");
    ctx.run(&it, r);
    assert!(!ctx.path("aaf-initial.ldif").exists());
    steps.done();
}

/// Stops a topology of scripts/slapd-replicated.sh, whatever happens.
struct Topology(PathBuf);

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("scripts/slapd-replicated.sh"))
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// README: `scripts/slapd-replicated.sh start`; docs/scale.md: the
/// `[ldap]` of a replicated directory; docs/operations.md: the providers
/// as a list in the environment. `check` then reports every server.
#[test]
fn a_replicated_directory_is_configured_as_scale_md_says() {
    require_slapd();
    let mut steps = Steps::of(Replicated);
    let mut ctx = Ctx::new();
    let dir = ctx.path("aaf-repl");
    ctx.set_path("/tmp/aaf-repl", &dir);
    let (it, r) = steps.take(
        README,
        "bash scripts/slapd-replicated.sh start /tmp/aaf-repl",
    );
    let mut urls = Vec::new();
    let _stop = Topology(dir.clone());
    for _ in 0..5 {
        let ports = free_ports(3);
        let line = docs_md::parse(&it.text).unwrap();
        let mut c = line.commands[0].clone();
        c.args.extend(ports.iter().map(|p| p.to_string()));
        let out = ctx.exec(&c, &it.at());
        if out.code == r.code {
            urls = out.stdout.lines().map(str::to_string).collect();
            break;
        }
        assert!(out.stderr.contains("busy"), "{}: {}", it.at(), out.all());
    }
    assert_eq!(urls.len(), 3, "{}: {urls:?}", it.at());
    // the [ldap] block of docs/scale.md
    let (it, _) = steps.take(SCALE, "[ldap]");
    ctx.set("ldaps://ldap1.example.org", &[&urls[0]]);
    ctx.set("ldaps://ldap2.example.org", &[&urls[1]]);
    ctx.set("ldaps://ldap-replica.example.org", &[&urls[2]]);
    let mut ldap_block = it.body.join("\n");
    for (k, v) in &ctx.subst {
        ldap_block = ldap_block.replace(k.as_str(), &v[0]);
    }
    assert!(!ldap_block.contains("example.org\""), "{ldap_block}");
    let pw = ctx.path("ldap.secret");
    write_secret(&pw, &format!("{PW}\n"));
    let rest = format!(
        "bind_dn = \"{ADMIN}\"\nbind_password_file = {}\nbase_dn = \"{BASE}\"\nread_wait_secs = 5\n\
         [source]\nname = \"AC-CRETEIL\"\n[perimeter]\nuai = {}\n[paths]\nwork_dir = {}\n",
        q(&pw),
        uai_toml(),
        q(&ctx.path("work"))
    );
    let config = ctx.path("replicated.toml");
    std::fs::write(&config, format!("{ldap_block}\n{rest}")).unwrap();
    let cfg = config.to_str().unwrap();
    let (out, err) = aaf_sync_ok(&["check", "--config", cfg], 0);
    for want in [
        format!(
            "designated provider {}: answers, in step, writes go here",
            urls[0]
        ),
        format!("provider {}: answers", urls[1]),
        format!("consumer {}: answers", urls[2]),
    ] {
        assert!(
            out.contains(&want),
            "{}: {want:?} not in\n{out}{err}",
            it.at()
        );
    }
    aaf_sync_ok(&["sync", "--config", cfg, sample().to_str().unwrap()], 0);
    // the providers as a list in the environment, over a file that names
    // a port nothing listens on
    let (it, r) = steps.take(OPS, "AAF_SYNC_LDAP__URL='[\"ldaps://a\", \"ldaps://b\"]'");
    ctx.set("ldaps://a", &[&urls[0]]);
    ctx.set("ldaps://b", &[&urls[1]]);
    let other = ctx.path("env.toml");
    std::fs::write(
        &other,
        format!("[ldap]\nurl = \"ldap://127.0.0.1:1\"\n{rest}"),
    )
    .unwrap();
    let out = ctx.run_with_env_of(
        &it,
        r,
        &format!("aaf-sync check --config {}", other.display()),
    );
    for want in [
        format!("designated provider {}: answers", urls[0]),
        format!("provider {}: answers", urls[1]),
    ] {
        assert!(
            out.stdout.contains(&want),
            "{}: {want:?} not in {}",
            it.at(),
            out.all()
        );
    }
    steps.done();
}

/// docs/data-protection.md: the ACL line, then every branch of the
/// synopses of `subject export`, `subject erase`, `subject unblock`,
/// `audit` and `purge`.
#[test]
fn data_subject_commands_run_as_data_protection_md_says() {
    let mut steps = Steps::of(DataSubject);
    let ldap = Slapd::start();
    let mut ctx = Ctx::new();
    let config = ldap.config(ctx.dir(), &uais(), "");
    aaf_sync_ok(
        &[
            "sync",
            "--config",
            config.to_str().unwrap(),
            sample().to_str().unwrap(),
        ],
        0,
    );
    // the ACL on aafSyncSavedPassword, for the sync's bind DN
    let (it, _) = steps.take(
        DP,
        "olcAccess: {N}to attrs=aafSyncSavedPassword by dn.exact=\"<sync bind DN>\" write by * none",
    );
    let sync_dn = format!("cn=aaf-sync,{BASE}");
    ctx.set("{N}", &["{2}"]);
    ctx.set("<sync bind DN>", &[&sync_dn]);
    let mut acl = it.body.join("\n");
    for k in ["{N}", "<sync bind DN>"] {
        acl = acl.replace(k, &ctx.subst[k][0]);
    }
    ldap.config_modify(&format!(
        "dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n{acl}\n"
    ));
    for who in ["aaf-sync", "reader"] {
        ldap.add(&format!(
            "dn: cn={who},{BASE}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: {who}\nuserPassword: {PW}\n"
        ));
    }
    let pupils = ldap.entries(
        &format!("ou=people,{BASE}"),
        "(objectClass=ENTEleve)",
        &["ENTPersonJointure", "ENTPersonLogin"],
    );
    let people: Vec<(String, String, String)> = pupils
        .iter()
        .take(4)
        .map(|(dn, a)| {
            let id = a["entpersonjointure"][0]
                .split('$')
                .nth(1)
                .unwrap()
                .to_string();
            (id, a["entpersonlogin"][0].clone(), dn.clone())
        })
        .collect();
    ldap.modify(&format!(
        "dn: {}\nchangetype: modify\nadd: aafSyncSavedPassword\naafSyncSavedPassword: {{SSHA}}c3ludGhldGljc3ludGhldGlj\n",
        people[0].2
    ));
    let saved = |who: &str| {
        let o = Command::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-H",
                &ldap.url,
                "-D",
                &format!("cn={who},{BASE}"),
                "-w",
                PW,
            ])
            .args(["-b", &people[0].2, "-s", "base", "aafSyncSavedPassword"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains("aafSyncSavedPassword:")
    };
    assert!(
        saved("aaf-sync"),
        "{}: the sync's bind DN cannot read it",
        it.at()
    );
    assert!(!saved("reader"), "{}: another DN reads it", it.at());
    ctx.set_path("--config FILE", &config);
    ctx.set("TEXT", &["synthetic instruction 2025-17"]);
    let set_person = |ctx: &mut Ctx, p: &(String, String, String)| {
        ctx.set("ID", &[&p.0]);
        ctx.set("LOGIN", &[&p.1]);
        ctx.set("DN", &[&p.2]);
    };
    // export: every branch, to stdout and --out
    let (it, r) = steps.take(
        DP,
        "aaf-sync subject export --config FILE (--jointure ID | --login LOGIN | --dn DN) [--out FILE]",
    );
    set_person(&mut ctx, &people[0]);
    let variants = docs_md::expand(&it.text);
    assert_eq!(variants.len(), 6, "{variants:?}");
    for (n, v) in variants.iter().enumerate() {
        let out_file = ctx.path(&format!("export-{n}.json"));
        ctx.set_path("--out FILE", &out_file);
        let out = ctx.run_words(&it, r, v);
        let doc = if v.contains(&"--out".to_string()) {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::read_to_string(&out_file).unwrap()
        } else {
            out.stdout
        };
        let json: serde_json::Value = serde_json::from_str(&doc)
            .unwrap_or_else(|e| panic!("{} {v:?}: not JSON: {e}", it.at()));
        assert_eq!(json["format"], "aaf-sync-subject-export/1", "{v:?}");
        assert!(
            doc.contains(&format!("AC-CRETEIL${}", people[0].0)),
            "{v:?}"
        );
    }
    // erase: one person per branch
    let (it, r) = steps.take(
        DP,
        "aaf-sync subject erase --config FILE (--jointure ID | --login LOGIN | --dn DN) --reason TEXT",
    );
    let variants = docs_md::expand(&it.text);
    assert_eq!(variants.len(), 3);
    for (v, p) in variants.iter().zip(&people[1..]) {
        set_person(&mut ctx, p);
        ctx.run_words(&it, r, v);
        assert!(!ldap.exists_dn(&p.2), "{v:?}: {} still there", p.2);
    }
    // unblock the one erased by jointure
    let (it, r) = steps.take(DP, "aaf-sync subject unblock --config FILE --jointure ID");
    set_person(&mut ctx, &people[1]);
    ctx.run(&it, r);
    // audit: text, json, default, with and without --now
    let (it, r) = steps.take(
        DP,
        "aaf-sync audit --config FILE [--format text|json] [--now DATE]",
    );
    ctx.set("DATE", &["2025-09-20"]);
    let variants = docs_md::expand(&it.text);
    assert_eq!(variants.len(), 6);
    for v in &variants {
        let out = ctx.run_words(&it, r, v);
        if v.contains(&"json".to_string()) {
            let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert!(
                j["scanned"]["Eleve"].as_u64().unwrap() > 70,
                "{}",
                out.stdout
            );
        } else {
            assert!(out.stdout.contains("no finding"), "{v:?}: {}", out.all());
        }
        if v.contains(&"--now".to_string()) {
            assert!(out.stdout.contains("2025-09-20"), "{v:?}: {}", out.all());
        }
    }
    // purge: into --out DIR, then (nothing left) into the working directory
    let (it, r) = steps.take(
        DP,
        "aaf-sync purge --config FILE --confirm <base DN> --reference TEXT [--out DIR]",
    );
    ctx.set("<base DN>", &[BASE]);
    let cert_dir = ctx.path("certificates");
    std::fs::create_dir_all(&cert_dir).unwrap();
    ctx.set_path("--out DIR", &cert_dir);
    for (v, dir) in docs_md::expand(&it.text)
        .iter()
        .zip([cert_dir.clone(), ctx.dir().to_path_buf()])
    {
        let out = ctx.run_words(&it, r, v);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("aaf-sync-deletion-certificate-"))
            .collect();
        for ext in [".json", ".txt"] {
            assert!(
                names.iter().any(|n| n.ends_with(ext)),
                "{v:?}: no aaf-sync-deletion-certificate-<run id>{ext} in {}: {names:?}\n{}",
                dir.display(),
                out.all()
            );
        }
    }
    assert_eq!(ldap.count(BASE, "(objectClass=ENTPerson)"), 0);
    steps.done();
}

/// README: `aaf-gen`, through `cargo run` and as the sample was made.
#[test]
fn the_generator_runs_as_the_readme_says() {
    let mut steps = Steps::of(Generator);
    let mut ctx = Ctx::new();
    let (it, r) = steps.take(
        README,
        "cargo run --release --features generator --bin aaf-gen -- --out DIR",
    );
    // what `cargo run` would build: the aaf-gen binary of this feature
    let c = docs_md::parse(&it.text).unwrap().commands.remove(0);
    let own = c.cargo_run.clone().unwrap();
    let feature = &own[own.iter().position(|a| a == "--features").unwrap() + 1];
    let cargo_toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(&format!("\n{feature} = "))
            && cargo_toml.contains(&format!(
                "name = \"aaf-gen\"\npath = \"src/bin/aaf-gen.rs\"\nrequired-features = [\"{feature}\"]"
            )),
        "{}: Cargo.toml has no aaf-gen needing {feature}",
        it.at()
    );
    ctx.set_path("--out DIR", &ctx.path("gen"));
    ctx.run(&it, r);
    assert_eq!(std::fs::read_dir(ctx.path("gen")).unwrap().count(), 4);
    // samples/1d-complet, made again, byte for byte
    let (it, r) = steps.take(README, "aaf-gen --out samples/1d-complet");
    let again = ctx.path("1d-complet");
    ctx.set_path("--out samples/1d-complet", &again);
    ctx.run(&it, r);
    let mut names: Vec<_> = std::fs::read_dir(sample())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut made: Vec<_> = std::fs::read_dir(&again)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    made.sort();
    assert_eq!(names, made, "{}", it.at());
    for n in names {
        assert!(
            std::fs::read(sample().join(&n)).unwrap() == std::fs::read(again.join(&n)).unwrap(),
            "{}: {} differs from samples/1d-complet",
            it.at(),
            n.to_string_lossy()
        );
    }
    steps.done();
}

/// docs/operations.md "Configuration": a key from the environment; a
/// secret file anyone can read, refused until `chmod 600`; and the
/// README's example of a configuration error, as printed.
#[test]
fn configuration_behaves_as_operations_md_says() {
    let mut steps = Steps::of(Config);
    let ldap = Slapd::start();
    let mut ctx = Ctx::new();
    let config = ldap.config(ctx.dir(), &uais(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    let away = ctx.path("away.toml");
    std::fs::write(
        &away,
        text.replace(
            &format!("url = \"{}\"", ldap.url),
            "url = \"ldap://127.0.0.1:1\"",
        ),
    )
    .unwrap();
    let check_away = format!("aaf-sync check --config {}", away.display());
    // the environment wins over the file
    aaf_sync_ok(&["check", "--config", away.to_str().unwrap()], 2);
    let (it, r) = steps.take(OPS, "AAF_SYNC_LDAP__URL=…");
    ctx.set("AAF_SYNC_LDAP__URL=…", &[&ldap.url]);
    let out = ctx.run_with_env_of(&it, r, &check_away);
    assert!(out.stdout.contains("reachable"), "{}", out.all());
    // a password file anyone can read: refused, naming it; chmod 600
    let pw = ctx.path("ldap.secret");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = aaf_sync_ok(&["check", "--config", config.to_str().unwrap()], 2);
    assert!(err.contains("bind_password_file"), "{err}");
    assert!(err.contains(pw.to_str().unwrap()), "{err}");
    let (it, r) = steps.take(OPS, "chmod 600");
    ctx.run_text(&it, r, &it.text, |c| c.args.push(pw.display().to_string()));
    aaf_sync_ok(&["check", "--config", config.to_str().unwrap()], 0);
    steps.done();
    // README: `aaf-sync.toml line 4: ldap.bnd_dn: unknown key; did you mean bind_dn?`
    let readme = std::fs::read_to_string(root().join(README)).unwrap();
    let a = readme
        .find("(`aaf-sync.toml line 4:")
        .expect("README: the example")
        + 2;
    let shown = docs_md::squeeze(&readme[a..a + readme[a..].find('`').unwrap()]);
    let typo = format!(
        "# {}\n{}",
        "the line 4 of the README's example",
        text.replacen("\nbind_dn = ", "\nbnd_dn = ", 1)
    );
    assert!(
        typo.lines().nth(3).unwrap().starts_with("bnd_dn = "),
        "{typo}"
    );
    std::fs::write(ctx.path("aaf-sync.toml"), typo).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aaf-sync"))
        .args(["check", "--config", "aaf-sync.toml"])
        .current_dir(ctx.dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&shown),
        "README shows {shown:?}; aaf-sync says {err}"
    );
}

// ---------------------------------------------------------------------------
// Commands that do not run here

/// The items of a class.
fn items_of(pred: impl Fn(Class) -> bool) -> Vec<(Item, &'static Row)> {
    all_items()
        .into_iter()
        .filter_map(|it| {
            let r = *rows_of(&it).first()?;
            pred(r.class).then_some((it, r))
        })
        .collect()
}

fn bin_of(program: &str) -> &'static str {
    match program {
        "aaf-sync" => env!("CARGO_BIN_EXE_aaf-sync"),
        "aaf-gen" => env!("CARGO_BIN_EXE_aaf-gen"),
        other => panic!("no binary {other}"),
    }
}

/// A synopsis line against `--help`: the subcommand exists, and every
/// `--option` it names is one the help lists.
fn check_synopsis(at: &str, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let program = words[0];
    let path: Vec<&str> = words[1..]
        .iter()
        .take_while(|w| {
            w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
        })
        .copied()
        .collect();
    let o = Command::new(bin_of(program))
        .args(&path)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{at}: `{program} {} --help` fails: {}",
        path.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    for opt in docs_md::long_options(line) {
        let named = help.match_indices(&format!("--{opt}")).any(|(i, m)| {
            !help[i + m.len()..]
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
        assert!(
            named,
            "{at}: `{program} {}` has no --{opt} (its --help:\n{help})",
            path.join(" ")
        );
    }
}

#[test]
fn synopses_and_mentions_match_the_binaries() {
    for (it, _) in items_of(|c| c == Synopsis) {
        match &it.origin {
            Origin::Block(_) => {
                // one command per line; indented lines continue it
                let mut lines: Vec<(usize, String)> = Vec::new();
                for (k, l) in it.body.iter().enumerate() {
                    if l.starts_with(' ') {
                        lines
                            .last_mut()
                            .unwrap()
                            .1
                            .push_str(&format!(" {}", l.trim()));
                    } else if !l.trim().is_empty() {
                        lines.push((it.line + 1 + k, l.clone()));
                    }
                }
                assert!(lines.len() > 10, "{}: {lines:?}", it.at());
                for (n, l) in lines {
                    check_synopsis(&format!("{}:{n}", it.file), &l);
                }
            }
            _ => check_synopsis(&it.at(), &it.text),
        }
    }
}

/// The usage header of a script: its comment lines up to `set -e`.
fn script_header(path: &str) -> String {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .take_while(|l| !l.starts_with("set -e"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn bash_n(at: &str, path: &str) {
    let o = Command::new("bash")
        .arg("-n")
        .arg(root().join(path))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{at}: bash -n {path}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn unbracket(s: &str) -> String {
    docs_md::squeeze(&s.replace(['[', ']'], ""))
}

#[test]
fn scripts_and_what_runs_them_exist() {
    for (it, r) in items_of(|c| matches!(c, Script | Usage(_) | RunBy(_))) {
        let c = docs_md::parse(&it.text).unwrap().commands.remove(0);
        match r.class {
            Script => {
                let (script, args) = if c.program == "bash" {
                    (c.args[0].clone(), c.args[1..].to_vec())
                } else {
                    (c.program.clone(), c.args.clone())
                };
                bash_n(&it.at(), &script);
                // a synopsis (placeholders in capitals): in the usage
                if args
                    .iter()
                    .any(|a| a.chars().any(|c| c.is_ascii_uppercase()))
                {
                    let name = Path::new(&script).file_name().unwrap().to_str().unwrap();
                    let usage = unbracket(&script_header(&script));
                    let want = unbracket(&format!("{name} {}", args.join(" ")));
                    assert!(
                        usage.contains(&want),
                        "{}: {script}'s usage does not say {want:?}",
                        it.at()
                    );
                }
            }
            Usage(script) => {
                bash_n(&it.at(), script);
                assert!(
                    script_header(script).contains(&it.text),
                    "{}: {script}'s usage does not say {:?}",
                    it.at(),
                    it.text
                );
            }
            RunBy(script) => {
                let text = std::fs::read_to_string(root().join(script)).unwrap();
                let want: Vec<String> = std::iter::once(c.program.clone())
                    .chain(c.args.clone())
                    .collect();
                let found = text.lines().any(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let mut k = 0;
                    for w in &words {
                        if k < want.len() && *w == want[k] {
                            k += 1;
                        }
                    }
                    k == want.len()
                });
                assert!(found, "{}: {script} does not run `{}`", it.at(), it.text);
                if c.program == "cargo" {
                    check_cargo(&it.at(), &c);
                }
            }
            _ => unreachable!(),
        }
    }
}

/// Short options cargo itself takes (anything else, like clippy's `-D`,
/// belongs after `--`).
const CARGO_SHORT: &[&str] = &["-p", "-j", "-q", "-v", "-vv", "-r", "-F", "-h", "-V", "-Z"];

fn check_cargo(at: &str, c: &Simple) {
    if let Some(own) = &c.cargo_run {
        // `cargo run --example NAME`: the example exists
        if own.iter().any(|a| a == "--example") {
            assert!(
                root().join(format!("examples/{}.rs", c.program)).exists(),
                "{at}: no examples/{}.rs",
                c.program
            );
            return;
        }
    }
    assert_eq!(c.program, "cargo", "{at}");
    let sub = c.args[0].as_str();
    assert!(
        ["build", "test", "bench", "run", "fmt", "clippy", "check", "doc"].contains(&sub),
        "{at}: cargo {sub}?"
    );
    let own: Vec<&String> = c.args[1..].iter().take_while(|a| *a != "--").collect();
    for a in &own {
        if a.starts_with('-') && !a.starts_with("--") {
            assert!(
                CARGO_SHORT.contains(&a.as_str()),
                "{at}: `{a}` is not an option of cargo {sub} (put it after `--`)"
            );
        }
    }
    let cargo_toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let value = |opt: &str| {
        own.iter()
            .position(|a| *a == opt)
            .map(|i| own[i + 1].to_string())
    };
    if let Some(t) = value("--test") {
        assert!(
            root().join(format!("tests/{t}.rs")).exists(),
            "{at}: no tests/{t}.rs"
        );
    }
    if let Some(b) = value("--bench") {
        assert!(
            root().join(format!("benches/{b}.rs")).exists(),
            "{at}: no benches/{b}.rs"
        );
        assert!(
            cargo_toml.contains(&format!("[[bench]]\nname = \"{b}\"")),
            "{at}"
        );
    }
    if let Some(b) = value("--bin") {
        assert!(
            cargo_toml.contains(&format!("[[bin]]\nname = \"{b}\"")),
            "{at}"
        );
    }
    if let Some(f) = value("--features") {
        assert!(
            cargo_toml.contains(&format!("\n{f} = ")),
            "{at}: no feature {f}"
        );
    }
}

/// Something in the repository reads the environment variable `name`.
/// (This file and its helper name every variable of the docs: they do
/// not count.)
fn read_somewhere(name: &str) -> bool {
    fn walk(p: &Path, name: &str) -> bool {
        if p.is_dir() {
            return std::fs::read_dir(p)
                .unwrap()
                .any(|e| walk(&e.unwrap().path(), name));
        }
        let me = [
            root().join("tests/docs.rs"),
            root().join("tests/common/docs.rs"),
        ];
        !me.iter().any(|m| m == p) && std::fs::read_to_string(p).is_ok_and(|t| t.contains(name))
    }
    !name.is_empty()
        && ["src", "scripts", "tests", "benches"]
            .iter()
            .any(|d| walk(&root().join(d), name))
}

#[test]
fn cargo_env_host_and_mentions_hold() {
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let services = compose_services(&compose);
    let unit = std::fs::read_to_string(root().join("config/systemd/aaf-sync.service")).unwrap();
    let unit_key = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("aaf-sync.service: no {k}="))
            .to_string()
    };
    for (it, r) in items_of(|c| matches!(c, Cargo | Env | Host | Mention | Text)) {
        let at = it.at();
        if r.class == Text {
            continue;
        }
        let c = docs_md::parse(&it.text).unwrap().commands.remove(0);
        for (name, _) in &c.env {
            assert!(
                read_somewhere(name),
                "{at}: nothing in src/, scripts/, tests/ or benches/ reads {name}"
            );
        }
        // every repository path it names exists
        for a in &c.args {
            let first = a.split('/').next().unwrap();
            if a.contains('/') && REPO_DIRS.contains(&first) {
                assert!(root().join(a).exists(), "{at}: {a} does not exist");
            }
        }
        match r.class {
            Cargo => check_cargo(&at, &c),
            Env => assert!(c.program.is_empty(), "{at}"),
            Mention => {
                let found = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
                    .iter()
                    .any(|d| Path::new(d).join(&c.program).exists());
                assert!(found, "{at}: {} is not installed", c.program);
            }
            Host => match c.program.as_str() {
                "docker" => {
                    assert_eq!(c.args[0], "compose", "{at}");
                    let mut profile = None;
                    let mut names = Vec::new();
                    let mut i = 1;
                    while i < c.args.len() {
                        let a = c.args[i].as_str();
                        match a {
                            "--profile" | "--exit-code-from" => {
                                if a == "--profile" {
                                    profile = Some(c.args[i + 1].clone());
                                } else {
                                    names.push(c.args[i + 1].clone());
                                }
                                i += 2;
                            }
                            "up" | "down" | "run" | "stop" | "…" => i += 1,
                            _ if a.starts_with('-') => i += 1,
                            _ => {
                                names.push(a.to_string());
                                i += 1;
                            }
                        }
                    }
                    for n in names {
                        let profiles = services.get(&n).unwrap_or_else(|| {
                            panic!("{at}: docker-compose.yml has no service {n}")
                        });
                        if let Some(p) = &profile {
                            assert!(profiles.contains(p), "{at}: {n} is not in profile {p}");
                        }
                    }
                    if let Some(p) = profile {
                        assert!(
                            services.values().any(|v| v.contains(&p)),
                            "{at}: no profile {p}"
                        );
                    }
                }
                "useradd" => {
                    // the user the unit runs as, its state directory its home
                    let user = c.args.last().unwrap();
                    assert_eq!(user, &unit_key("User"), "{at}");
                    let home = &c.args[c.args.iter().position(|a| a == "--home").unwrap() + 1];
                    assert_eq!(
                        home,
                        &format!("/var/lib/{}", unit_key("StateDirectory")),
                        "{at}"
                    );
                }
                "systemctl" => {
                    for u in c
                        .args
                        .iter()
                        .filter(|a| a.ends_with(".timer") || a.ends_with(".service"))
                    {
                        assert!(
                            root().join("config/systemd").join(u).exists(),
                            "{at}: no unit {u}"
                        );
                    }
                    assert_eq!(
                        unit_key("KillSignal"),
                        "SIGTERM",
                        "{at}: systemctl stop sends it"
                    );
                }
                other => panic!("{at}: no host check for {other}"),
            },
            _ => unreachable!(),
        }
    }
}

/// Service name → its profiles, from docker-compose.yml (two-space keys
/// under `services:`).
fn compose_services(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut in_services = false;
    let mut current: Option<String> = None;
    for l in text.lines() {
        if !l.starts_with(' ') && !l.starts_with('#') && !l.is_empty() {
            in_services = l.trim() == "services:";
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = l.strip_prefix("  ").and_then(|r| r.strip_suffix(':')) {
            if !name.starts_with(' ') && !name.starts_with('#') {
                out.insert(name.to_string(), Vec::new());
                current = Some(name.to_string());
                continue;
            }
        }
        if let (Some(c), Some(p)) = (&current, l.trim().strip_prefix("profiles: [")) {
            let ps = p
                .trim_end_matches(']')
                .split(',')
                .map(|s| s.trim().to_string());
            out.get_mut(c).unwrap().extend(ps);
        }
    }
    assert!(out.contains_key("sync"), "{out:?}");
    out
}

/// A systemd unit read as INI: sections and `Key=Value` lines.
fn ini(path: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut section = None;
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = Some(s.to_string());
            out.entry(s.to_string()).or_default();
            continue;
        }
        let (k, v) = l
            .split_once('=')
            .unwrap_or_else(|| panic!("{}:{}: not Key=Value: {l}", path.display(), n + 1));
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()),
            "{}:{}: bad key {k:?}",
            path.display(),
            n + 1
        );
        let s = section
            .clone()
            .unwrap_or_else(|| panic!("{}:{}: a key before any section", path.display(), n + 1));
        out.get_mut(&s)
            .unwrap()
            .push((k.to_string(), v.to_string()));
    }
    out
}

/// The units the docs point to (config/systemd/) parse, the timer starts
/// the service, and the cron line of config/cron.example runs what the
/// unit runs.
#[test]
fn the_systemd_units_and_the_cron_line_parse() {
    let dir = root().join("config/systemd");
    for d in [OPS, README] {
        let t = std::fs::read_to_string(root().join(d)).unwrap();
        assert!(
            t.contains("config/systemd/"),
            "{d} no longer names config/systemd/"
        );
    }
    let service = ini(&dir.join("aaf-sync.service"));
    let timer = ini(&dir.join("aaf-sync.timer"));
    let get = |u: &BTreeMap<String, Vec<(String, String)>>, s: &str, k: &str| {
        u.get(s)
            .and_then(|v| v.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()))
            .unwrap_or_else(|| panic!("no {k} in [{s}]"))
    };
    assert_eq!(get(&service, "Service", "Type"), "oneshot");
    let exec = get(&service, "Service", "ExecStart");
    assert!(exec.starts_with('/'), "{exec}");
    assert!(get(&timer, "Timer", "OnCalendar").contains("06:30"));
    assert_eq!(get(&timer, "Install", "WantedBy"), "timers.target");
    assert!(
        timer.get("Timer").unwrap().iter().all(|(k, _)| k != "Unit"),
        "the timer starts aaf-sync.service by its name"
    );
    // systemd's own reading, where systemd is installed
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let tmp = tempfile::tempdir().unwrap();
        for u in ["aaf-sync.service", "aaf-sync.timer"] {
            let t = std::fs::read_to_string(dir.join(u))
                .unwrap()
                .replace("/usr/local/bin/aaf-sync", env!("CARGO_BIN_EXE_aaf-sync"));
            std::fs::write(tmp.path().join(u), t).unwrap();
        }
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .arg(tmp.path().join("aaf-sync.service"))
            .arg(tmp.path().join("aaf-sync.timer"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        eprintln!("systemd-analyze not installed: the units were read as INI only");
    }
    // /etc/cron.d format: five time fields, the user, the command
    let cron = std::fs::read_to_string(root().join("config/cron.example")).unwrap();
    let lines: Vec<&str> = cron
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.len(), 1, "{cron}");
    let f: Vec<&str> = lines[0].splitn(7, ' ').collect();
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (v, (lo, hi)) in f[..5].iter().zip(ranges) {
        assert!(
            *v == "*" || v.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n)),
            "cron field {v}"
        );
    }
    assert_eq!(
        f[5],
        get(&service, "Service", "User"),
        "cron runs as the unit's user"
    );
    let line = docs_md::parse(f[6]).unwrap();
    let run = line
        .commands
        .iter()
        .find(|c| c.program == "/usr/local/bin/aaf-sync")
        .expect("the cron line runs aaf-sync");
    let unit_run = docs_md::parse(&exec).unwrap().commands.remove(0);
    assert_eq!(
        run.args, unit_run.args,
        "cron and the unit run the same command"
    );
    assert!(
        run.stderr_to_stdout,
        "the summary (stderr) goes to logger too"
    );
    assert_eq!(line.commands[0].program, "umask");
}

/// Relative links and repository paths in inline code: what the docs
/// point to exists (src/ paths aside: modules move, ARCHITECTURE.md is
/// their map).
#[test]
fn paths_the_docs_name_exist() {
    let mut missing = Vec::new();
    for f in docs_md::doc_files(root()) {
        let text = std::fs::read_to_string(root().join(&f)).unwrap();
        let base = Path::new(&f).parent().unwrap();
        for (n, l) in text.lines().enumerate() {
            // [text](target)
            let mut rest = l;
            while let Some(i) = rest.find("](") {
                let after = &rest[i + 2..];
                let end = after.find(')').unwrap_or(after.len());
                let target = after[..end].split('#').next().unwrap();
                if !target.is_empty()
                    && !target.contains("://")
                    && !root().join(base).join(target).exists()
                {
                    missing.push(format!("{f}:{}: link {target}", n + 1));
                }
                rest = &after[end..];
            }
            // `config/…`, `schema/…`, `scripts/…`: from the root
            for span in l.split('`').skip(1).step_by(2) {
                let first = span.split('/').next().unwrap();
                if span.contains('/')
                    && !span.contains(' ')
                    && REPO_DIRS.contains(&first)
                    && !span.contains('<')
                    && !span.contains('*')
                    && !root().join(span.trim_end_matches('/')).exists()
                {
                    missing.push(format!("{f}:{}: {span}", n + 1));
                }
            }
        }
    }
    // `(docs/x.md, "Section")` in the configuration files and scripts
    let mut files: Vec<PathBuf> = ["config", "config/systemd", "scripts"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.push(root().join("docker-compose.yml"));
    files.push(root().join("Dockerfile"));
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        let flat = docs_md::squeeze(&text.replace("\n#", " "));
        for (i, _) in flat.match_indices(", \"") {
            let doc = flat[..i].rsplit([' ', '(']).next().unwrap();
            let doc = if doc == "README" { "README.md" } else { doc };
            if !doc.ends_with(".md") {
                continue;
            }
            let title = &flat[i + 3..];
            let title = &title[..title.find('"').unwrap()];
            let target = std::fs::read_to_string(root().join(doc)).unwrap_or_default();
            if !target
                .lines()
                .any(|l| l.starts_with('#') && l.trim_start_matches('#').trim() == title)
            {
                missing.push(format!(
                    "{}: ({doc}, \"{title}\"): no such section",
                    p.display()
                ));
            }
        }
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}
