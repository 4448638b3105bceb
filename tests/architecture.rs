//! The dependency order of the folders (ARCHITECTURE.md, "Where each concern
//! lives"), checked on the source text: a module imports only from folders
//! earlier in [`ORDER`]. An import pointing later is how a dependency circle
//! starts (a stage that needs a constant of the stage after it), so the
//! test names the file, the line and the path, and the fix is to move the
//! shared thing down (usually into `schema/` or `model/`).
//!
//! What counts as an import: every `crate::x` path outside the test code —
//! `use` lines, `use crate::{a, b}` groups, inline paths and doc links —
//! and `super::` paths that climb to the crate root. Test code (`tests.rs`
//! files, `#[cfg(test)]` items) may also reach up to the `generator`, the
//! development helper on top of everything, and to nothing else later.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first; mirrored in ARCHITECTURE.md's table.
/// `cli` and `main` read the command line and drive `run`; `generator` (the
/// synthetic extractions) and `bin` (`aaf-gen`) sit on top: the product
/// never imports them.
const ORDER: &[&str] = &[
    "schema",
    "model",
    "host",
    "aaf",
    "mapping",
    "diff",
    "retention",
    "safety",
    "config",
    "delivery",
    "ldap",
    "rights",
    "ops",
    "run",
    "cli",
    "main",
    "generator",
    "bin",
];

/// What a test module may import from above its own folder.
const TEST_HELPERS: &[&str] = &["generator"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|m| *m == module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file relative to `src/`: `mapping/align.rs` →
/// `[mapping, align]`, `mapping/mod.rs` → `[mapping]`, `lib.rs` → `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

/// Marks, byte by byte, what is code (not in a string, a char literal or a
/// comment), so that braces in `'{'` or `"}"` do not end a block.
fn code_mask(text: &str) -> Vec<bool> {
    let b = text.as_bytes();
    let mut mask = vec![true; b.len()];
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (i == 0 || !is_ident(b[i - 1]))
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
        {
            // raw string r"…", r#"…"#: ends at the quote followed by as many #
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (1..=hashes).all(|k| b.get(j + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i] == b'\'' {
            // a char literal ('x', '\n', '\u{7b}', 'é'), or a lifetime
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else {
                let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                if b.get(i + 1 + ch_len) == Some(&b'\'') {
                    i += 2 + ch_len;
                } else {
                    i += 1;
                    continue;
                }
            }
        } else {
            i += 1;
            continue;
        }
        for m in &mut mask[start..i.min(b.len())] {
            *m = false;
        }
    }
    mask
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The byte ranges of `#[cfg(test)]` items (`mod tests { … }`, a test-only
/// `use` or function): the text after the attribute up to the end of the
/// item's block or its `;`.
fn test_ranges(text: &str, mask: &[bool]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        from = start + 1;
        if !mask[start] {
            continue;
        }
        let mut i = start + "#[cfg(test)]".len();
        let mut depth = 0usize;
        while i < b.len() {
            if mask[i] {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' if depth == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        out.push((start, i));
        from = i.max(from);
    }
    out
}

/// One `crate::` (or `super::` up to the root) path: the top-level module
/// it names, its line, and the path as written (for the message).
struct Import {
    target: String,
    offset: usize,
    line: usize,
    written: String,
}

/// The top-level modules the paths of `text` name. `module` is the file's
/// module path, for `super::`.
fn imports(text: &str, module: &[String]) -> Vec<Import> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let line_of = |i: usize| text[..i].matches('\n').count() + 1;
    let mut i = 0;
    while i < b.len() {
        if !text.is_char_boundary(i) || (i > 0 && (is_ident(b[i - 1]) || b[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let after_root = if let Some(r) = rest.strip_prefix("crate::") {
            Some(r)
        } else if let Some(r) = rest.strip_prefix("aaf_sync::") {
            Some(r)
        } else if rest.starts_with("super::") {
            // climb: each super drops one level of the file's module path
            let mut r = rest;
            let mut level = module.len();
            while let Some(next) = r.strip_prefix("super::") {
                r = next;
                level = level.saturating_sub(1);
            }
            (level == 0).then_some(r)
        } else {
            None
        };
        let Some(after) = after_root else {
            i += 1;
            continue;
        };
        let at = b.len() - after.len();
        let end = at
            + after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
        let targets: Vec<String> = if after.starts_with('{') {
            group_heads(after)
        } else {
            vec![text[at..end].to_string()]
        };
        let written_end = text[i..]
            .find(|c: char| {
                c.is_whitespace() || c == ';' || c == '`' || c == ')' || c == ']' || c == '('
            })
            .map_or(b.len(), |n| i + n);
        for target in targets {
            if target.is_empty() || target == "self" {
                continue;
            }
            out.push(Import {
                target,
                offset: i,
                line: line_of(i),
                written: text[i..written_end].to_string(),
            });
        }
        i = end.max(i + 1);
    }
    out
}

/// `{a, b::c, d::{e, f}}` → `[a, b, d]`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_head = false;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    at_head = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                heads.push(std::mem::take(&mut current));
                at_head = true;
            }
            c if depth == 1 && at_head => {
                if c.is_alphanumeric() || c == '_' {
                    current.push(c);
                } else if !current.is_empty() {
                    at_head = false;
                }
            }
            _ => {}
        }
    }
    heads.push(current);
    heads
}

fn is_test_file(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
}

#[test]
fn imports_point_down_the_order() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut wrong = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).expect("under src/");
        let module = module_path(rel);
        let Some(own) = module.first() else {
            continue; // lib.rs: it declares the modules (checked below)
        };
        let own_rank = rank(own).unwrap_or_else(|| {
            panic!(
                "src/{} belongs to `{own}`, which is not in tests/architecture.rs's ORDER",
                rel.display()
            )
        });
        let text = fs::read_to_string(path).expect("source is UTF-8");
        let mask = code_mask(&text);
        let tests = test_ranges(&text, &mask);
        let whole_file_is_test = is_test_file(rel);
        for imp in imports(&text, &module) {
            let Some(target_rank) = rank(&imp.target) else {
                continue; // a macro or item at the root (`crate::Foo`): not a folder
            };
            if target_rank <= own_rank {
                continue;
            }
            let in_test = whole_file_is_test
                || tests
                    .iter()
                    .any(|&(s, e)| s <= imp.offset && imp.offset < e);
            if in_test && TEST_HELPERS.contains(&imp.target.as_str()) {
                continue;
            }
            wrong.push(format!(
                "src/{}:{}: `{}` — `{own}` imports `{}`, which comes later in the order{}",
                rel.display(),
                imp.line,
                imp.written,
                imp.target,
                if in_test { " (test code)" } else { "" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up the folder order ({}); move the shared thing down:\n{}",
        ORDER.join(" < "),
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_is_in_the_order() {
    let root = src();
    let mut unknown = BTreeSet::new();
    for entry in fs::read_dir(&root).expect("src/ is readable") {
        let p = entry.expect("directory entry").path();
        let name = p
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let module = name.trim_end_matches(".rs").to_string();
        if module == "lib" || !(p.is_dir() || name.ends_with(".rs")) {
            continue;
        }
        if rank(&module).is_none() {
            unknown.insert(module);
        }
    }
    let lib = fs::read_to_string(root.join("lib.rs")).expect("lib.rs");
    for line in lib.lines() {
        let decl = line.trim().trim_start_matches("pub ");
        if let Some(m) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if rank(m).is_none() {
                unknown.insert(m.to_string());
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "top-level modules missing from ORDER in tests/architecture.rs (and from \
         ARCHITECTURE.md's table): {unknown:?}"
    );
}

#[test]
fn lib_doc_mentions_every_module() {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let doc: String = lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let decl = l.trim().trim_start_matches("pub ");
            decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';'))
        })
        .filter(|m| !doc.contains(&format!("`{m}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "lib.rs's doc does not mention: {missing:?}"
    );
}

#[test]
fn architecture_md_lists_the_order() {
    let md = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    // the table's rows, in order: | `model/` | … |  or  | `diff.rs` | … |
    let rows: Vec<String> = md
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(|m| m.trim_end_matches('/').trim_end_matches(".rs").to_string())
        .collect();
    let listed: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|m| rows.iter().any(|r| r == m))
        .collect();
    let in_md: Vec<&str> = rows
        .iter()
        .map(String::as_str)
        .filter(|r| rank(r).is_some())
        .collect();
    assert_eq!(
        in_md, listed,
        "ARCHITECTURE.md's table and tests/architecture.rs's ORDER disagree"
    );
    for m in ORDER {
        if ["cli", "main", "bin"].contains(m) {
            continue; // the command line: described in "The pipeline"
        }
        assert!(
            rows.iter().any(|r| r == m),
            "ARCHITECTURE.md's table has no row for `{m}`"
        );
    }
}
