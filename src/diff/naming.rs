//! The values that name an entry (its RDN) are never removed: an LDAP
//! server refuses it, and an adopted entry's name is not the sync's.

use crate::model::plan::AttrChange;
use crate::model::{Dn, Entry};

/// The attribute-value pairs of an entry's RDN (what names it: an LDAP
/// server refuses to remove them), unescaped.
fn rdn_values(dn: &Dn) -> Vec<(String, String)> {
    let rdn = crate::schema::rdn_of(dn.as_str());
    let mut out = Vec::new();
    let mut rest = rdn;
    // a multi-valued RDN `a=x+b=y`: each AVA in turn
    while let Some((attr, value, _)) = crate::model::split_first_rdn(rest) {
        out.push((attr.to_string(), value));
        let mut at = None;
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'+' => {
                    at = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        match at {
            Some(i) => rest = &rest[i + 1..],
            None => break,
        }
    }
    out
}

/// Changes that would remove a value naming the entry (an adopted tree's
/// `ENTStructureSIREN=…` RDN, say) are changed to keep it: an LDAP server
/// refuses them, and the entry's name is not the sync's to change.
pub(super) fn keep_naming_values(changes: Vec<AttrChange>, current: &Entry) -> Vec<AttrChange> {
    let naming = rdn_values(&current.dn);
    if naming.is_empty() {
        return changes;
    }
    let names = |attr: &str| -> Vec<&str> {
        naming
            .iter()
            .filter(|(a, _)| a.eq_ignore_ascii_case(attr))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let same = crate::model::same_value;
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        match c {
            AttrChange::Delete { attr, values } => {
                let keep = names(&attr);
                if keep.is_empty() {
                    out.push(AttrChange::Delete { attr, values });
                    continue;
                }
                // every value but the naming one(s)
                let all: Vec<String> = if values.is_empty() {
                    current.get(&attr).unwrap_or_default().to_vec()
                } else {
                    values
                };
                let left: Vec<String> = all
                    .into_iter()
                    .filter(|v| !keep.iter().any(|k| same(k, v)))
                    .collect();
                if !left.is_empty() {
                    out.push(AttrChange::Delete { attr, values: left });
                }
            }
            AttrChange::Replace { attr, values } => {
                let keep = names(&attr);
                if keep.is_empty() || keep.iter().all(|k| values.iter().any(|v| same(k, v))) {
                    out.push(AttrChange::Replace { attr, values });
                    continue;
                }
                // replace around the naming value: add the new values,
                // delete the old ones but the naming one
                let had: Vec<String> = current.get(&attr).unwrap_or_default().to_vec();
                let add: Vec<String> = values
                    .iter()
                    .filter(|v| !had.iter().any(|h| same(h, v)))
                    .cloned()
                    .collect();
                let del: Vec<String> = had
                    .into_iter()
                    .filter(|h| !keep.iter().any(|k| same(k, h)))
                    .filter(|h| !values.iter().any(|v| same(h, v)))
                    .collect();
                if !del.is_empty() {
                    out.push(AttrChange::Delete {
                        attr: attr.clone(),
                        values: del,
                    });
                }
                if !add.is_empty() && !crate::mapping::is_single_valued(&attr) {
                    out.push(AttrChange::Add { attr, values: add });
                }
            }
            other => out.push(other),
        }
    }
    out
}
