//! The README's "Commands" synopsis against the options clap accepts, and
//! a description for every option in `--help`: neither can drift from
//! the code.

use aaf_sync::cli::Cli;
use aaf_sync::generator::cli::GenArgs;
use clap::CommandFactory;
use std::collections::BTreeSet;

/// The synopsis block: the first fenced block after `## Commands`, one
/// command per line (indented lines continue the one above).
fn synopsis() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme.find("\n## Commands\n").expect("a Commands section");
    let rest = &readme[start..];
    let open = rest.find("```\n").expect("a synopsis block") + 4;
    let close = rest[open..].find("```").expect("the end of the block") + open;
    let mut lines: Vec<String> = Vec::new();
    for l in rest[open..close].lines() {
        if l.starts_with(' ') {
            let last = lines
                .last_mut()
                .expect("a continued line follows a command");
            last.push(' ');
            last.push_str(l.trim());
        } else if !l.trim().is_empty() {
            lines.push(l.to_string());
        }
    }
    lines
}

/// `aaf-sync subject export --config FILE …` → (["aaf-sync", "subject",
/// "export"], {"config", …}).
fn split(line: &str) -> (Vec<String>, BTreeSet<String>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let path = words
        .iter()
        .take_while(|w| {
            w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
        })
        .map(|w| w.to_string())
        .collect();
    let mut flags = BTreeSet::new();
    let mut rest = line;
    while let Some(i) = rest.find("--") {
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        rest = &rest[i + 2 + name.len()..];
        flags.insert(name);
    }
    (path, flags)
}

/// The long options of a command, without help, version and the global
/// ones (listed apart in the README).
fn options(cmd: &clap::Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set())
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "help" && l != "version")
        .collect()
}

fn find<'a>(root: &'a clap::Command, path: &[String]) -> &'a clap::Command {
    let mut cmd = root;
    for p in path {
        cmd = cmd
            .find_subcommand(p)
            .unwrap_or_else(|| panic!("README synopsis: no subcommand {p} in {path:?}"));
    }
    cmd
}

/// Every leaf command: its path from the root.
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push(path);
        return;
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s.get_name().to_string());
        leaves(s, p, out);
    }
}

#[test]
fn readme_synopsis_matches_clap() {
    let sync = Cli::command();
    let gen = GenArgs::command();
    let mut seen = BTreeSet::new();
    for line in synopsis() {
        let (path, flags) = split(&line);
        let (program, sub) = path.split_first().expect("a program name");
        let root = match program.as_str() {
            "aaf-sync" => &sync,
            "aaf-gen" => &gen,
            other => panic!("README synopsis: unknown program {other} in {line:?}"),
        };
        let cmd = find(root, sub);
        assert_eq!(
            flags,
            options(cmd),
            "README synopsis of `{}` (left) and clap's options (right) differ",
            path.join(" ")
        );
        seen.insert(path.clone());
    }
    let mut all = Vec::new();
    leaves(&sync, vec!["aaf-sync".into()], &mut all);
    all.push(vec!["aaf-gen".into()]);
    for p in all {
        assert!(
            seen.contains(&p),
            "`{}` has no line in the README synopsis",
            p.join(" ")
        );
    }
    // the global options, listed under the block
    let readme = include_str!("../README.md");
    let globals: BTreeSet<String> = sync
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    let line = readme
        .lines()
        .find(|l| l.starts_with("Global options:"))
        .expect("a Global options line");
    assert_eq!(split(line).1, globals, "{line}");
}

fn described(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    if cmd.get_about().is_none() && cmd.get_name() != "help" {
        missing.push(format!("{path}: no description"));
    }
    for a in cmd.get_arguments() {
        if a.get_help().is_none() && a.get_long_help().is_none() {
            missing.push(format!("{path} {}", a.get_id()));
        }
    }
    for s in cmd.get_subcommands() {
        described(s, &format!("{path} {}", s.get_name()), missing);
    }
}

#[test]
fn every_option_has_a_description() {
    let mut missing = Vec::new();
    described(&Cli::command(), "aaf-sync", &mut missing);
    described(&GenArgs::command(), "aaf-gen", &mut missing);
    assert!(
        missing.is_empty(),
        "without a description in --help: {missing:?}"
    );
}

#[test]
fn config_help_names_its_variable() {
    let mut cmd = Cli::command();
    let help = cmd
        .find_subcommand_mut("sync")
        .expect("sync")
        .render_help()
        .to_string();
    assert!(
        help.contains("--config <CONFIG>")
            && help.contains("The configuration file (TOML; see config/example.toml)")
            && help.contains("[env: AAF_SYNC_CONFIG=]"),
        "{help}"
    );
    assert!(help.contains("archives (.tar.gz, .tgz, .zip"), "{help}");
}
