//! Logins (`ENTPersonLogin`, spec §5): `prenom.nom` folded to lower-case ASCII,
//! unique in the tree with a numeric suffix on collision, assigned once and
//! then kept even when the name changes.

use crate::model::{Entry, EntryMap};
use std::collections::HashSet;

/// A login or alias as the set of taken logins holds it: as the directory
/// matches `ENTPersonLogin` and `ENTPersonAlias` (`caseIgnoreMatch`: case,
/// leading, trailing and repeated blanks aside). Lower-cased only, a login
/// another tool wrote ` jean.x` did not take `jean.x`, and the sync gave
/// it to someone else: two people the CAS finds under one login.
pub fn login_key(v: &str) -> String {
    crate::model::value_key(v).into_owned()
}

/// Longest login stem before a suffix.
const MAX_STEM: usize = 48;

/// ASCII transliteration of the letters found in French and European names.
fn fold_char(c: char, out: &mut String) {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
        'š' | 'Š' => "s",
        'ž' | 'Ž' => "z",
        'ß' => "ss",
        '-' => "-",
        _ if c.is_ascii_alphanumeric() => {
            out.push(c.to_ascii_lowercase());
            return;
        }
        // spaces, apostrophes and anything else vanish: "Le Goff" → "legoff"
        _ => "",
    };
    out.push_str(s);
}

/// Folds a name part to `[a-z0-9-]`, hyphens collapsed and trimmed.
pub fn fold(s: &str) -> String {
    let mut raw = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut raw);
    }
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The login a person would get with no collision.
pub fn stem(given: Option<&str>, name: Option<&str>) -> String {
    let g = given.map(fold).unwrap_or_default();
    let n = name.map(fold).unwrap_or_default();
    let mut s = match (g.is_empty(), n.is_empty()) {
        (false, false) => format!("{g}.{n}"),
        (true, false) => n,
        (false, true) => g,
        (true, true) => "utilisateur".to_string(),
    };
    if s.len() > MAX_STEM {
        s.truncate(MAX_STEM);
        while s.ends_with(['-', '.']) {
            s.pop();
        }
    }
    s
}

/// Gives each person entry that needs one a login. `existing` holds the
/// entries already in the directory, by DN key: one that has a login keeps
/// it, and its desired entry is left as it is (the login is create-only: the
/// diff never changes it, and writing it into every entry of an académie
/// would copy each of them once more). `taken` holds every login of the
/// tree (lower case) and receives the new ones. Entries are visited in the
/// order given, so the result is deterministic. Returns how many were
/// created.
pub fn assign<'a>(
    people: impl IntoIterator<Item = &'a mut Entry>,
    existing: &EntryMap,
    taken: &mut HashSet<String>,
) -> usize {
    let mut created = 0;
    for e in people {
        let had = existing
            .get(&e.dn.key())
            .and_then(|cur| cur.first("ENTPersonLogin"));
        if had.is_some() {
            continue;
        }
        let base = stem(e.first("givenName"), e.first("sn"));
        let mut candidate = base.clone();
        let mut n = 1u32;
        while taken.contains(&candidate) {
            n += 1;
            candidate = format!("{base}{n}");
        }
        taken.insert(candidate.clone());
        e.set("ENTPersonLogin", candidate);
        created += 1;
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dn;

    #[test]
    fn folds_names() {
        assert_eq!(fold("Maïwenn"), "maiwenn");
        assert_eq!(fold("Jean-Pierre"), "jean-pierre");
        assert_eq!(fold("L'HÔTE"), "lhote");
        assert_eq!(fold("Le Goff"), "legoff");
        assert_eq!(fold("Œdipe--Ça "), "oedipe-ca");
        assert_eq!(fold("-Zoé-"), "zoe");
        assert_eq!(stem(Some("Éloïse"), Some("D'Ávila")), "eloise.davila");
        assert_eq!(stem(None, Some("ASE 92")), "ase92");
        assert_eq!(stem(Some("中"), None), "utilisateur");
    }

    #[test]
    fn suffixes_on_collision_and_keeps_existing() {
        let mut a = Entry::new(Dn::new("uid=1"));
        a.set("givenName", "Léa");
        a.set("sn", "Martin");
        let mut b = a.clone();
        b.dn = Dn::new("uid=2");
        let mut c = a.clone();
        c.dn = Dn::new("uid=3");
        c.set("sn", "Renamed");
        let mut in_dir = Entry::new(Dn::new("uid=3"));
        in_dir.set("ENTPersonLogin", "lea.martin");
        let existing = EntryMap::from_iter([in_dir]);
        let mut taken = HashSet::from(["lea.martin".to_string()]);
        let n = assign([&mut a, &mut b, &mut c], &existing, &mut taken);
        assert_eq!(n, 2);
        assert_eq!(a.first("ENTPersonLogin"), Some("lea.martin2"));
        assert_eq!(b.first("ENTPersonLogin"), Some("lea.martin3"));
        // kept in the directory; nothing to write in the desired entry
        assert_eq!(c.first("ENTPersonLogin"), None);
    }
}
