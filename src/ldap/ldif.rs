//! Renders a [`Plan`] as LDIF change records (RFC 2849) that `ldapmodify`
//! can apply as is.

use crate::model::plan::{AttrChange, Change, Plan};
use crate::model::Dn;
use base64::Engine;
use std::collections::HashMap;
use std::fmt::Write;

/// The password values of the entries whose password a plan moves
/// (departures, restores), read from the directory when the plan is
/// rendered: `userPassword` and `aafSyncSavedPassword` by DN key. With
/// them the LDIF does the same move as the sync, value for value, and
/// fails the same way if a password changed since.
pub type Passwords = HashMap<String, (Vec<Vec<u8>>, Vec<Vec<u8>>)>;

fn bytes_line(out: &mut String, name: &str, value: &[u8]) {
    match std::str::from_utf8(value) {
        Ok(v) if is_safe(v) => line(out, name, v),
        _ => {
            // base64 text is ASCII: folding it as text is exact
            let b = base64::engine::general_purpose::STANDARD.encode(value);
            let l = format!("{name}:: {b}");
            fold(out, &l);
        }
    }
}

/// SAFE-STRING of RFC 2849: otherwise the value is base64-encoded.
fn is_safe(v: &str) -> bool {
    let b = v.as_bytes();
    if b.is_empty() {
        return true;
    }
    if matches!(b[0], b' ' | b':' | b'<') || b[b.len() - 1] == b' ' {
        return false;
    }
    b.iter()
        .all(|&c| c.is_ascii() && c != 0 && c != b'\n' && c != b'\r')
}

/// Writes `name: value` (or `name:: base64`), folded at 76 columns.
fn line(out: &mut String, name: &str, value: &str) {
    let l = if is_safe(value) {
        format!("{name}: {value}")
    } else {
        format!(
            "{name}:: {}",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    };
    fold(out, &l);
}

fn fold(out: &mut String, l: &str) {
    let mut first = true;
    let mut rest = l;
    while !rest.is_empty() {
        let width = if first { 76 } else { 75 };
        let mut cut = rest.len().min(width);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&rest[..cut]);
        out.push('\n');
        rest = &rest[cut..];
        first = false;
    }
}

fn dn_line(out: &mut String, dn: &Dn) {
    line(out, "dn", dn.as_str());
}

/// One entry as an LDIF content record (for `slapadd`), blank line after.
pub fn entry_record(out: &mut String, entry: &crate::model::Entry) {
    dn_line(out, &entry.dn);
    for a in entry.attrs.values() {
        for v in a.values {
            line(out, a.name, v);
        }
    }
    out.push('\n');
}

/// The plan as LDIF (password moves as comments: no values known).
pub fn render(plan: &Plan) -> String {
    let mut out = String::from("version: 1\n\n");
    let _ = render_changes(&mut out, plan, &mut Passwords::new(), &mut |_| Ok(()));
    out
}

/// Several plans, applied in order, as one LDIF file; each starts with a
/// comment naming what it applies. Password moves use `passwords` (and
/// keep it in step from one plan to the next); an entry missing from it
/// gets a comment instead.
pub fn render_steps<'a>(
    steps: impl IntoIterator<Item = (&'a str, &'a Plan)>,
    passwords: &Passwords,
) -> String {
    let mut out = Vec::new();
    // into memory: nothing to fail
    let _ = write_steps(&mut out, steps, passwords);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render_steps`] written to `w` as it is made, a few changes at a time:
/// a first sync's plan is an académie's whole tree, gigabytes as one
/// string.
pub fn write_steps<'a>(
    w: &mut dyn std::io::Write,
    steps: impl IntoIterator<Item = (&'a str, &'a Plan)>,
    passwords: &Passwords,
) -> std::io::Result<()> {
    let mut pw = passwords.clone();
    let mut out = String::from("version: 1\n\n");
    if !pw.is_empty() {
        out.push_str(
            "# This plan moves password hashes (departures, restores): keep it private.\n\n",
        );
    }
    let mut spill = |out: &mut String| {
        w.write_all(out.as_bytes())?;
        out.clear();
        Ok(())
    };
    for (label, plan) in steps {
        let _ = writeln!(out, "# {label}: {} changes\n", plan.changes.len());
        render_changes(&mut out, plan, &mut pw, &mut spill)?;
    }
    spill(&mut out)
}

/// How much LDIF [`write_steps`] gathers before writing it.
const SPILL_AT: usize = 1 << 16;

/// The LDIF of a password move, as the sync does it (see `ldap`), updating
/// `pw`; `None` when the values are unknown.
fn password_move(out: &mut String, dn: &Dn, stash: bool, pw: &mut Passwords) -> bool {
    let Some((user, saved)) = pw.get_mut(&dn.key()) else {
        return false;
    };
    const USER: &str = "userPassword";
    const SAVED: &str = crate::schema::ATTR_SAVED_PASSWORD;
    let block = |out: &mut String, op: &str, attr: &str, values: &[Vec<u8>]| {
        line(out, op, attr);
        for v in values {
            bytes_line(out, attr, v);
        }
        out.push_str("-\n");
    };
    if stash {
        if !user.is_empty() {
            block(out, "delete", USER, user);
            block(out, "replace", SAVED, user);
            *saved = std::mem::take(user);
        }
    } else if !saved.is_empty() {
        block(out, "delete", SAVED, saved);
        if user.is_empty() {
            block(out, "add", USER, saved);
            *user = std::mem::take(saved);
        } else {
            saved.clear();
        }
    }
    true
}

/// Appends the changes of `plan` to `out`, handing `out` to `spill` each
/// time it holds SPILL_AT bytes (a spill that keeps them just lets it grow).
fn render_changes(
    out: &mut String,
    plan: &Plan,
    pw: &mut Passwords,
    spill: &mut dyn FnMut(&mut String) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for p in &plan.changes {
        match &p.change {
            Change::Add { entry } => {
                dn_line(out, &entry.dn);
                line(out, "changetype", "add");
                for a in entry.attrs.values() {
                    for v in a.values {
                        line(out, a.name, v);
                    }
                }
            }
            Change::Modify { dn, changes } => {
                dn_line(out, dn);
                line(out, "changetype", "modify");
                for c in changes {
                    let (op, attr, values) = match c {
                        AttrChange::Add { attr, values } => ("add", attr, values),
                        AttrChange::Delete { attr, values } => ("delete", attr, values),
                        AttrChange::Replace { attr, values } => ("replace", attr, values),
                        AttrChange::StashPassword if password_move(out, dn, true, pw) => continue,
                        AttrChange::RestorePassword if password_move(out, dn, false, pw) => {
                            continue
                        }
                        AttrChange::StashPassword => {
                            out.push_str(
                                "# aaf-sync moves userPassword to aafSyncSavedPassword here \
                                 (values are never printed)\n",
                            );
                            continue;
                        }
                        AttrChange::RestorePassword => {
                            out.push_str(
                                "# aaf-sync moves aafSyncSavedPassword back to userPassword here \
                                 (values are never printed)\n",
                            );
                            continue;
                        }
                    };
                    line(out, op, attr);
                    for v in values {
                        line(out, attr, v);
                    }
                    out.push_str("-\n");
                }
            }
            Change::Delete { dn } => {
                dn_line(out, dn);
                line(out, "changetype", "delete");
            }
            Change::Move { dn, to } => {
                let rdn = crate::schema::rdn_of(to.as_str());
                dn_line(out, dn);
                line(out, "changetype", "modrdn");
                line(out, "newrdn", rdn);
                // the old RDN's values stay, as the sync moves them (an
                // adopted RDN may gain or lose the jointure on the way)
                line(out, "deleteoldrdn", "0");
                line(
                    out,
                    "newsuperior",
                    to.as_str()[rdn.len()..].trim_start_matches(','),
                );
                // the passwords go with the entry
                if let Some(p) = pw.remove(&dn.key()) {
                    pw.insert(to.key(), p);
                }
            }
        }
        out.push('\n');
        if out.len() >= SPILL_AT {
            spill(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::Planned;
    use crate::model::Entry;
    use crate::schema::EntryKind;

    #[test]
    fn a_plan_written_in_pieces_is_the_plan_rendered_whole() {
        let changes: Vec<Planned> = (0..3000)
            .map(|i| {
                let mut e = Entry::new(Dn::new(format!("uid=S-{i},ou=people,dc=x")));
                e.add("sn", ["Élodie", " lead", "x".repeat(i % 200).as_str()]);
                Planned {
                    kind: EntryKind::Pupil,
                    phase: 1,
                    change: Change::Add { entry: e },
                }
            })
            .collect();
        let plan = Plan {
            changes,
            ..Plan::default()
        };
        /// Counts the writes it is given.
        struct Pieces(Vec<u8>, usize);
        impl std::io::Write for Pieces {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.extend_from_slice(b);
                self.1 += 1;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = Pieces(Vec::new(), 0);
        write_steps(&mut w, [("D", &plan)], &Passwords::new()).unwrap();
        assert!(w.1 > 3, "written in pieces: {}", w.1);
        let whole =
            render(&plan).replacen("version: 1\n\n", "version: 1\n\n# D: 3000 changes\n\n", 1);
        assert_eq!(String::from_utf8(w.0).unwrap(), whole);
    }

    #[test]
    fn renders_changes_with_base64_and_folding() {
        let mut e = Entry::new(Dn::new("uid=S-1,ou=people,dc=x"));
        e.add("sn", ["Élodie"]);
        e.add("description", [" lead", "x".repeat(100).as_str()]);
        let plan = Plan {
            changes: vec![
                Planned {
                    kind: EntryKind::Pupil,
                    phase: 1,
                    change: Change::Add { entry: e },
                },
                Planned {
                    kind: EntryKind::Pupil,
                    phase: 2,
                    change: Change::Modify {
                        dn: Dn::new("uid=S-2,ou=people,dc=x"),
                        changes: vec![AttrChange::Delete {
                            attr: "mail".into(),
                            values: vec![],
                        }],
                    },
                },
                Planned {
                    kind: EntryKind::Classe,
                    phase: 4,
                    change: Change::Delete {
                        dn: Dn::new("cn=c,dc=x"),
                    },
                },
            ],
            ..Default::default()
        };
        let l = render(&plan);
        assert!(l.contains("sn:: w4lsb2RpZQ==\n"), "{l}");
        assert!(l.contains("description:: IGxlYWQ=\n"), "{l}");
        assert!(
            l.contains(&format!(
                "description: {}\n {}\n",
                "x".repeat(63),
                "x".repeat(37)
            )),
            "{l}"
        );
        assert!(
            l.contains("dn: uid=S-2,ou=people,dc=x\nchangetype: modify\ndelete: mail\n-\n"),
            "{l}"
        );
        assert!(l.contains("dn: cn=c,dc=x\nchangetype: delete\n"), "{l}");
    }
}
