//! The commands of the Markdown docs, for `tests/docs.rs`: every fenced
//! code block and every inline code span that names a program, read the
//! way a shell reads them (line continuations, `$ ` prompts, comments,
//! environment prefixes, `sudo`, redirections, pipes, `cargo run … --`),
//! and the synopses (`(a | b)`, `[x]`, `text|json`) expanded into the
//! command lines they stand for. Pure text: nothing here runs anything.

use std::path::Path;

/// Programs an inline code span or an untagged block may start with to be
/// read as a command (besides any `*.sh` path).
pub const PROGRAMS: &[&str] = &[
    "aaf-sync",
    "aaf-gen",
    "bash",
    "sh",
    "cargo",
    "ldapadd",
    "ldapmodify",
    "ldapsearch",
    "ldapwhoami",
    "ldapdelete",
    "slapadd",
    "slapcat",
    "slapindex",
    "slaptest",
    "systemctl",
    "journalctl",
    "docker",
    "ssh",
    "sftp",
    "ssh-keygen",
    "ssh-keyscan",
    "useradd",
    "chmod",
    "chown",
    "cp",
    "mv",
    "rm",
    "mkdir",
    "install",
    "less",
    "cat",
    "shred",
    "crontab",
    "kill",
    "python3",
    "adduser",
    "groupadd",
    "apt-get",
    "apt",
    "openssl",
    "tar",
    "unzip",
    "wc",
    "grep",
    "git",
    "make",
    "curl",
    "ldappasswd",
    "slappasswd",
    "systemd-analyze",
    "/usr/local/bin/aaf-sync",
];

/// Fenced block languages read as shell, one command per line.
pub const SHELL_LANGS: &[&str] = &["sh", "bash", "shell", "console"];

/// Where a command was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a fenced shell block (`sh`, `bash`, `shell`, `console`,
    /// or untagged when its first word is a program of [`PROGRAMS`]).
    Shell,
    /// An inline code span.
    Inline,
    /// A fenced block that is not shell (its language, "" when untagged):
    /// one item, named by its first line.
    Block(String),
}

/// One command (or non-shell block) of a doc.
#[derive(Debug, Clone)]
pub struct Item {
    /// Path from the repository root (`docs/schema.md`).
    pub file: String,
    /// 1-based line where it starts.
    pub line: usize,
    /// The command as one line: continuations joined, prompt and trailing
    /// comment removed, runs of blanks made one, `\|` (a pipe escaped in a
    /// Markdown table) made `|`; for a block, its first line.
    pub text: String,
    /// The trailing `# comment` of a shell line.
    pub comment: Option<String>,
    /// A block's whole text; for a `console` command, the output lines the
    /// doc shows under it.
    pub body: Vec<String>,
    pub origin: Origin,
}

impl Item {
    /// `docs/schema.md:17` for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The docs: every `*.md` at the root of the repository and in `docs/`,
/// sorted, as paths from the root.
pub fn doc_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["", "docs"] {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".md"))
            .map(|n| {
                if dir.is_empty() {
                    n
                } else {
                    format!("{dir}/{n}")
                }
            })
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}

/// The first word of `words` after environment assignments and `sudo`
/// (with its options).
fn program_of<'a>(words: &[&'a str]) -> (usize, Option<&'a str>) {
    let mut i = 0;
    let mut assignments = 0;
    while i < words.len() && is_assignment(words[i]) {
        i += 1;
        assignments += 1;
    }
    if words.get(i) == Some(&"sudo") {
        i += 1;
        while i < words.len() && words[i].starts_with('-') {
            if words[i] == "-u" {
                i += 1;
            }
            i += 1;
        }
    }
    (assignments, words.get(i).copied())
}

/// `NAME=value` with an upper-case shell name.
pub fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((n, _)) => {
            !n.is_empty()
                && n.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        }
        None => false,
    }
}

fn is_program(w: &str) -> bool {
    PROGRAMS.contains(&w) || (w.ends_with(".sh") && !w.contains('`'))
}

/// True when an inline code span is a command: a program of [`PROGRAMS`]
/// (or a `*.sh` script) with at least one argument, or environment
/// assignments alone (`AAF_SYNC_LOG=info`). A lone name (`ldapmodify`) is
/// a name, not a command.
pub fn is_inline_command(span: &str) -> bool {
    let words: Vec<String> = match tokenize(span) {
        Ok(toks) => toks
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w),
                Tok::Op(_) => None,
            })
            .collect(),
        Err(_) => span.split_whitespace().map(str::to_string).collect(),
    };
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (assignments, program) = program_of(&words);
    match program {
        None => assignments > 0,
        Some(p) => is_program(p) && words.len() >= 2,
    }
}

/// Collapses runs of blanks into one space.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a shell line into code and trailing comment: a `#` that starts
/// a word, outside quotes.
pub fn split_comment(line: &str) -> (String, Option<String>) {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            prev_blank = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => escaped = true,
            Some(_) => {}
            None => match c {
                '\\' => escaped = true,
                '\'' | '"' => quote = Some(c),
                '#' if prev_blank => {
                    return (
                        line[..i].trim_end().to_string(),
                        Some(line[i + 1..].trim().to_string()),
                    )
                }
                _ => {}
            },
        }
        prev_blank = c.is_whitespace();
    }
    (line.trim_end().to_string(), None)
}

/// Every command and non-shell block of one doc. `text_block(first_line)`
/// says whether an untagged block is listed as text (a synopsis, a
/// diagram…) rather than read as shell.
pub fn extract(root: &Path, file: &str, text_block: &dyn Fn(&str) -> bool) -> Vec<Item> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut prose: Vec<(usize, &str)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let fence = if t.starts_with("```") {
            "```"
        } else if t.starts_with("~~~") {
            "~~~"
        } else {
            ""
        };
        if fence.is_empty() {
            prose.push((i + 1, lines[i]));
            i += 1;
            continue;
        }
        let lang = t[3..].split_whitespace().next().unwrap_or("").to_string();
        let open = i + 1;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != fence {
            body.push((i + 1, lines[i]));
            i += 1;
        }
        assert!(
            i < lines.len(),
            "{file}:{open}: a fenced block never closed"
        );
        i += 1;
        prose.push((open, "")); // a block ends a paragraph
        let first = body
            .iter()
            .map(|(_, l)| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        let first_word = first.split_whitespace().next().unwrap_or("");
        let shell = SHELL_LANGS.contains(&lang.as_str())
            || (lang.is_empty()
                && !text_block(&squeeze(&first))
                && (is_program(first_word)
                    || first_word == "$"
                    || is_assignment(first_word)
                    || first_word == "sudo"));
        if shell {
            items.extend(shell_lines(file, &lang, &body));
        } else {
            items.push(Item {
                file: file.to_string(),
                line: open,
                text: squeeze(&first),
                comment: None,
                body: body.iter().map(|(_, l)| l.to_string()).collect(),
                origin: Origin::Block(lang),
            });
        }
    }
    items.extend(inline_spans(file, &prose));
    items.sort_by_key(|x| x.line);
    items
}

/// The commands of a shell block.
fn shell_lines(file: &str, lang: &str, body: &[(usize, &str)]) -> Vec<Item> {
    let console = lang == "console";
    let mut out: Vec<Item> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for &(ln, raw) in body {
        let mut l = raw.trim_end().to_string();
        if pending.is_none() {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix("$ ") {
                l = rest.to_string();
            } else if console {
                // output the doc shows under the last command
                if let Some(last) = out.last_mut() {
                    if !t.is_empty() {
                        last.body.push(t.to_string());
                    }
                }
                continue;
            } else {
                l = t.to_string();
            }
        }
        if let Some(stripped) = l.strip_suffix('\\') {
            let (start, mut acc) = pending.take().unwrap_or((ln, String::new()));
            acc.push_str(stripped);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        let (start, whole) = match pending.take() {
            Some((s, mut acc)) => {
                acc.push_str(&l);
                (s, acc)
            }
            None => (ln, l),
        };
        let (code, comment) = split_comment(&whole);
        let code = squeeze(&code);
        if code.is_empty() {
            continue; // a blank or comment-only line
        }
        out.push(Item {
            file: file.to_string(),
            line: start,
            text: code,
            comment,
            body: Vec::new(),
            origin: Origin::Shell,
        });
    }
    assert!(
        pending.is_none(),
        "{file}: a shell block ends on a continued line"
    );
    out
}

/// The inline code spans of the prose that are commands. A span may wrap
/// over lines of a paragraph, never over a blank line.
fn inline_spans(file: &str, prose: &[(usize, &str)]) -> Vec<Item> {
    let mut out = Vec::new();
    // paragraphs: consecutive non-blank lines
    let mut para: Vec<(usize, &str)> = Vec::new();
    let flush = |para: &mut Vec<(usize, &str)>, out: &mut Vec<Item>| {
        if para.is_empty() {
            return;
        }
        let mut text = String::new();
        let mut line_at = Vec::new(); // char index -> line
        for (ln, l) in para.iter() {
            for c in l.chars() {
                text.push(c);
                line_at.push(*ln);
            }
            text.push('\n');
            line_at.push(*ln);
        }
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '`' {
                i += 1;
                continue;
            }
            let mut n = 0;
            while i + n < chars.len() && chars[i + n] == '`' {
                n += 1;
            }
            // the closing run of exactly n backticks
            let mut j = i + n;
            let mut close = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let mut m = 0;
                    while j + m < chars.len() && chars[j + m] == '`' {
                        m += 1;
                    }
                    if m == n {
                        close = Some(j);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            match close {
                Some(j) => {
                    let span: String = chars[i + n..j].iter().collect();
                    let span = squeeze(&span.replace("\\|", "|"));
                    if is_inline_command(&span) {
                        out.push(Item {
                            file: file.to_string(),
                            line: line_at[i],
                            text: span,
                            comment: None,
                            body: Vec::new(),
                            origin: Origin::Inline,
                        });
                    }
                    i = j + n;
                }
                None => i += n,
            }
        }
        para.clear();
    };
    for &(ln, l) in prose {
        if l.trim().is_empty() {
            flush(&mut para, &mut out);
        } else {
            para.push((ln, l));
        }
    }
    flush(&mut para, &mut out);
    out
}

/// A shell token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    /// `|`, `||`, `&&`, `;`, `&`, `>`, `>>`, `<`, `2>`, `2>&1`
    Op(String),
}

/// Splits a command line into words and operators, with shell quoting.
pub fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let end_word = |word: &mut String, in_word: &mut bool, out: &mut Vec<Tok>| {
        if *in_word {
            out.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                end_word(&mut word, &mut in_word, &mut out);
                i += 1;
            }
            '\'' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or_else(|| format!("unclosed ' in {s:?}"))?;
                word.extend(&chars[i + 1..i + 1 + close]);
                in_word = true;
                i += close + 2;
            }
            '"' => {
                i += 1;
                loop {
                    let Some(&x) = chars.get(i) else {
                        return Err(format!("unclosed \" in {s:?}"));
                    };
                    i += 1;
                    match x {
                        '"' => break,
                        '\\' if matches!(chars.get(i), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i]);
                            i += 1;
                        }
                        _ => word.push(x),
                    }
                }
                in_word = true;
            }
            '\\' => {
                if let Some(&x) = chars.get(i + 1) {
                    word.push(x);
                }
                in_word = true;
                i += 2;
            }
            '|' | '&' | ';' | '<' | '>' => {
                // `2>` and `2>&1`: a lone digit word before a redirection
                let fd = if c == '>' && in_word && (word == "1" || word == "2") {
                    let d = std::mem::take(&mut word);
                    in_word = false;
                    d
                } else {
                    end_word(&mut word, &mut in_word, &mut out);
                    String::new()
                };
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = if c == '>' && two == ">&" {
                    let mut o = format!("{fd}>&");
                    let mut k = i + 2;
                    while k < chars.len() && chars[k].is_ascii_digit() {
                        o.push(chars[k]);
                        k += 1;
                    }
                    i = k;
                    o
                } else if ["||", "&&", ">>"].contains(&two.as_str()) {
                    i += 2;
                    format!("{fd}{two}")
                } else {
                    i += 1;
                    format!("{fd}{c}")
                };
                out.push(Tok::Op(op));
            }
            _ => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut out);
    Ok(out)
}

/// One simple command of a pipeline or list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simple {
    /// `NAME=value` prefixes.
    pub env: Vec<(String, String)>,
    /// Run under `sudo` (its options dropped).
    pub sudo: bool,
    /// The program: for `cargo run … --bin X -- ARGS`, `X`.
    pub program: String,
    pub args: Vec<String>,
    /// `cargo run`'s own options (`--release`, `--features generator`…),
    /// when the program came from `cargo run`.
    pub cargo_run: Option<Vec<String>>,
    /// `> FILE` (`append`: `>>`).
    pub stdout: Option<String>,
    pub append: bool,
    /// `2>&1`
    pub stderr_to_stdout: bool,
    /// `2> FILE`
    pub stderr: Option<String>,
    /// `< FILE`
    pub stdin: Option<String>,
}

/// A command line: simple commands joined by `|` (`piped[i]`: the output
/// of command i goes to command i+1) or by `;`, `&&`, `||`.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub commands: Vec<Simple>,
    /// The operator after each command but the last.
    pub joins: Vec<String>,
}

/// Parses a command line.
pub fn parse(s: &str) -> Result<Line, String> {
    let toks = tokenize(s)?;
    let mut line = Line::default();
    let mut cur: Vec<Tok> = Vec::new();
    for t in toks {
        match &t {
            Tok::Op(o) if ["|", "||", "&&", ";", "&"].contains(&o.as_str()) => {
                line.commands.push(simple(std::mem::take(&mut cur), s)?);
                line.joins.push(o.clone());
            }
            _ => cur.push(t),
        }
    }
    line.commands.push(simple(cur, s)?);
    Ok(line)
}

fn simple(toks: Vec<Tok>, whole: &str) -> Result<Simple, String> {
    let mut c = Simple::default();
    let mut words: Vec<String> = Vec::new();
    let mut it = toks.into_iter();
    while let Some(t) = it.next() {
        match t {
            Tok::Word(w) => words.push(w),
            Tok::Op(o) => {
                if o == "2>&1" {
                    c.stderr_to_stdout = true;
                    continue;
                }
                let Some(Tok::Word(target)) = it.next() else {
                    return Err(format!("{o} without a file in {whole:?}"));
                };
                match o.as_str() {
                    ">" | "1>" => c.stdout = Some(target),
                    ">>" | "1>>" => {
                        c.stdout = Some(target);
                        c.append = true;
                    }
                    "2>" => c.stderr = Some(target),
                    "<" => c.stdin = Some(target),
                    other => return Err(format!("unsupported redirection {other} in {whole:?}")),
                }
            }
        }
    }
    let mut i = 0;
    while i < words.len() && is_assignment(&words[i]) {
        let (n, v) = words[i].split_once('=').unwrap();
        c.env.push((n.to_string(), v.to_string()));
        i += 1;
    }
    if words.get(i).map(String::as_str) == Some("sudo") {
        c.sudo = true;
        i += 1;
        while i < words.len() && words[i].starts_with('-') {
            if words[i] == "-u" {
                i += 1;
            }
            i += 1;
        }
    }
    let Some(program) = words.get(i) else {
        return Ok(c); // assignments alone
    };
    c.program = program.clone();
    c.args = words[i + 1..].to_vec();
    if c.program == "cargo" && c.args.first().map(String::as_str) == Some("run") {
        let dashdash = c.args.iter().position(|a| a == "--");
        let own: Vec<String> = c.args[1..dashdash.unwrap_or(c.args.len())].to_vec();
        // `--bin NAME`, or `--example NAME` (a file of examples/)
        let bin = own
            .iter()
            .position(|a| a == "--bin" || a == "--example")
            .and_then(|k| own.get(k + 1))
            .ok_or_else(|| format!("cargo run without --bin or --example in {whole:?}"))?
            .clone();
        c.args = dashdash.map_or(Vec::new(), |d| c.args[d + 1..].to_vec());
        c.program = bin;
        c.cargo_run = Some(own);
    }
    Ok(c)
}

/// A piece of a synopsis.
#[derive(Debug, Clone)]
enum Syn {
    Word(String),
    /// `(a | b)` (required) or `[a | b]` (optional).
    Group(Vec<Vec<Syn>>, bool),
}

/// Every command line a synopsis stands for: `(a | b)` gives one line per
/// branch, `[x]` one with and one without, and a value `text|json` one
/// per value. `<base DN>` stays one word.
pub fn expand(synopsis: &str) -> Vec<Vec<String>> {
    // tokens: ( ) [ ] | and words; `<…>` is one word; a `|` inside a
    // word (no blank around it) separates values, not branches
    let chars: Vec<char> = synopsis.chars().collect();
    let mut toks: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "()[]".contains(c) {
            toks.push(c.to_string());
            i += 1;
        } else if c == '|' {
            toks.push("|".into());
            i += 1;
        } else {
            let mut w = String::new();
            while i < chars.len() {
                let x = chars[i];
                if x == '<' {
                    while i < chars.len() && chars[i] != '>' {
                        w.push(chars[i]);
                        i += 1;
                    }
                    continue;
                }
                if x.is_whitespace() || "()[]".contains(x) {
                    break;
                }
                if x == '|' && w.is_empty() {
                    break;
                }
                w.push(x);
                i += 1;
            }
            toks.push(w);
        }
    }
    let mut pos = 0;
    let seq = parse_seq(&toks, &mut pos);
    assert_eq!(pos, toks.len(), "unbalanced synopsis {synopsis:?}");
    expand_seq(&seq)
}

fn parse_seq(toks: &[String], pos: &mut usize) -> Vec<Syn> {
    let mut seq = Vec::new();
    while *pos < toks.len() {
        let t = toks[*pos].as_str();
        match t {
            "(" | "[" => {
                *pos += 1;
                let mut branches = vec![parse_seq(toks, pos)];
                while toks.get(*pos).map(String::as_str) == Some("|") {
                    *pos += 1;
                    branches.push(parse_seq(toks, pos));
                }
                let close = if t == "(" { ")" } else { "]" };
                assert_eq!(
                    toks.get(*pos).map(String::as_str),
                    Some(close),
                    "synopsis: {t} not closed"
                );
                *pos += 1;
                seq.push(Syn::Group(branches, t == "["));
            }
            ")" | "]" | "|" => return seq,
            _ => {
                seq.push(Syn::Word(t.to_string()));
                *pos += 1;
            }
        }
    }
    seq
}

fn expand_seq(seq: &[Syn]) -> Vec<Vec<String>> {
    let mut acc: Vec<Vec<String>> = vec![Vec::new()];
    for s in seq {
        let options: Vec<Vec<String>> = match s {
            Syn::Word(w) if w.contains('|') && !w.starts_with('-') => {
                w.split('|').map(|v| vec![v.to_string()]).collect()
            }
            Syn::Word(w) => vec![vec![w.clone()]],
            Syn::Group(branches, optional) => {
                let mut v: Vec<Vec<String>> = branches.iter().flat_map(|b| expand_seq(b)).collect();
                if *optional {
                    v.push(Vec::new());
                }
                v
            }
        };
        acc = acc
            .iter()
            .flat_map(|a| {
                options.iter().map(move |o| {
                    let mut x = a.clone();
                    x.extend(o.iter().cloned());
                    x
                })
            })
            .collect();
    }
    acc
}

/// The `--long` options a command line or synopsis names (`--dry-run`,
/// `--allow-mass-departure` of `--allow-mass-departure[=DIGEST]`).
pub fn long_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("--") {
        let before = rest[..i].chars().last();
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        rest = &rest[i + 2 + name.len()..];
        if name.is_empty() || before.is_some_and(|c| !(c.is_whitespace() || "([|".contains(c))) {
            continue;
        }
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_reading() {
        let l = parse("AAF_SYNC_LDAP_PASSWORD=x sudo -u openldap aaf-sync sync --config 'a b' P > out.ldif 2>&1 | logger -t x").unwrap();
        assert_eq!(l.commands.len(), 2);
        let c = &l.commands[0];
        assert_eq!(c.env, [("AAF_SYNC_LDAP_PASSWORD".into(), "x".into())]);
        assert!(c.sudo && c.stderr_to_stdout);
        assert_eq!(c.program, "aaf-sync");
        assert_eq!(c.args, ["sync", "--config", "a b", "P"]);
        assert_eq!(c.stdout.as_deref(), Some("out.ldif"));
        let c = &parse("cargo run --release --bin aaf-gen -- --out DIR")
            .unwrap()
            .commands[0];
        assert_eq!(
            (c.program.as_str(), &c.args[..]),
            ("aaf-gen", &["--out".to_string(), "DIR".into()][..])
        );
        assert_eq!(split_comment("a '#b' c  # d").1.as_deref(), Some("d"));
        assert_eq!(expand("x (--a A | --b) [--f text|json]").len(), 6);
        assert_eq!(
            expand("p --confirm <base DN> [--out DIR]")[1],
            ["p", "--confirm", "<base DN>"]
        );
    }
}
