//! Configuration errors in the operator's words: the file and line (or the
//! environment variable), the key, what is wrong, and for an unknown key
//! the closest valid one — not figment's own message, with its profile
//! prefix (`default.`), nested backticks and no line number.

use figment::error::Kind;
use std::path::Path;

/// A TOML syntax error: file, line and column, and the parser's reason.
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let reason = e.message().trim_end().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{} line {line}, column {col}: {reason}", path.display())
        }
        None => format!("{}: {reason}", path.display()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The line of `key` (its path: `["ldap", "bind_dn"]`) in a TOML file,
/// when it is written there as `name = …` under its `[table]` header (or
/// as a dotted key).
fn line_of_key(text: &str, key: &[String]) -> Option<usize> {
    let wanted = key.join(".");
    let mut table = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('#') {
            continue;
        }
        if let Some(h) = l.strip_prefix('[') {
            // `[a.b]` or `[[a.b]]`
            table = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .split('.')
                .map(|p| p.trim().trim_matches('"'))
                .collect::<Vec<_>>()
                .join(".");
            // an unknown table is found by its header
            if table == wanted {
                return Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k: Vec<&str> = k.split('.').map(|p| p.trim().trim_matches('"')).collect();
        let k = k.join(".");
        let full = if table.is_empty() {
            k
        } else {
            format!("{table}.{k}")
        };
        if full == wanted {
            return Some(i + 1);
        }
    }
    None
}

/// Edit distance (Levenshtein) between two keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = i;
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if ca == *cb {
                diag
            } else {
                1 + diag.min(up).min(row[j])
            };
            diag = up;
        }
    }
    row[b.len()]
}

/// The valid key closest to an unknown one, when it is close enough to be
/// a slip (at most a third of its letters wrong, at least one allowed).
pub fn closest_key<'a>(unknown: &str, valid: &[&'a str]) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (distance(unknown, v), *v))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, v)| v)
}

/// What to say about an unknown name among `valid` ones.
fn hint(unknown: &str, valid: &[&str], list: &str) -> String {
    match closest_key(unknown, valid) {
        Some(k) => format!("did you mean {k}?"),
        None if valid.is_empty() => "this table takes no key".into(),
        None => format!("{list} {}", valid.join(", ")),
    }
}

/// figment's errors, one `PLACE: KEY: WHAT` each, joined by `; `.
pub fn explain(path: &Path, text: &str, e: figment::Error) -> String {
    let mut out = Vec::new();
    for e in e {
        let mut key = e.path.clone();
        // the key at fault itself, when figment gives only its table
        let named = match &e.kind {
            Kind::UnknownField(f, _) => Some(f.to_string()),
            Kind::MissingField(f) => Some(f.to_string()),
            _ => None,
        };
        if let Some(f) = named {
            if key.last() != Some(&f) {
                key.push(f);
            }
        }
        let from_env = e
            .metadata
            .as_ref()
            .is_some_and(|m| m.name.contains("environment"));
        let dotted = key.join(".");
        let place = if from_env {
            let var: Vec<String> = key.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("environment variable AAF_SYNC_{}", var.join("__"))
        } else {
            match line_of_key(text, &key).filter(|_| !matches!(e.kind, Kind::MissingField(_))) {
                Some(l) => format!("{} line {l}", path.display()),
                None => path.display().to_string(),
            }
        };
        let what = match &e.kind {
            Kind::UnknownField(f, valid) => {
                format!(
                    "{dotted}: unknown key; {}",
                    hint(f, valid, "valid keys here:")
                )
            }
            Kind::MissingField(_) => format!("{dotted}: missing (this key is required)"),
            Kind::InvalidType(actual, expected) => {
                format!("{dotted}: expected {expected}, found {actual}")
            }
            Kind::InvalidValue(actual, expected) => {
                format!("{dotted}: invalid value {actual}: expected {expected}")
            }
            Kind::UnknownVariant(v, valid) => {
                format!(
                    "{dotted}: unknown value {v:?}; {}",
                    hint(v, valid, "expected one of")
                )
            }
            other => format!("{dotted}: {other}"),
        };
        out.push(format!("{place}: {what}"));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_key_is_a_slip_away() {
        let valid = ["url", "bind_dn", "base_dn", "bind_password_file"];
        assert_eq!(closest_key("bnd_dn", &valid), Some("bind_dn"));
        assert_eq!(
            closest_key("bind_password_fle", &valid),
            Some("bind_password_file")
        );
        assert_eq!(closest_key("uri", &valid), Some("url"));
        assert_eq!(closest_key("timeout", &valid), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn keys_found_by_line() {
        let text = "# c\n[ldap]\nurl = \"x\"\n\n[source]\nname = \"y\"\nldap.z = 1\n";
        let k = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(line_of_key(text, &k("ldap.url")), Some(3));
        assert_eq!(line_of_key(text, &k("source.name")), Some(6));
        assert_eq!(line_of_key(text, &k("source.ldap.z")), Some(7));
        assert_eq!(line_of_key(text, &k("ldap.name")), None);
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
