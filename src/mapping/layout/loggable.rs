//! How DNs are written out (spec §7, §9: no personal data in logs,
//! reports or journals). The DNs the layout builds hold AAF ids only; an
//! adopted tree keeps the DNs of its former feeder, which may be built from
//! names (`uid=zoe.coeur`). [`Layout::loggable`] is the one function every
//! DN goes through where it outlives the run or leaves the process — the
//! journal, the text and JSON reports, failure lists, logs, error messages,
//! `status`, the dry-run and `check` summaries — with an RDN value that may
//! be a name replaced by a stable pseudonym. [`log_dn`] applies it with the
//! layout of the running configuration, for code that has no layout at
//! hand (the LDAP layer, serialisation).

use super::{Layout, Template};
use crate::model::{dn_key, split_first_rdn, Dn};
use crate::schema::rdn_of;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::RwLock;

impl Template {
    /// True when `value` is one this template builds from an AAF id
    /// (compared case-insensitively, as RDN values are). A bare `{id}`
    /// template would match any value, a name included: there only digits
    /// count as an id (AAF ids are numbers), anything else is taken for what
    /// an older feeder may have written.
    fn builds(&self, value: &str) -> bool {
        let (p, s, v) = (
            self.prefix.to_lowercase(),
            self.suffix.to_lowercase(),
            value.to_lowercase(),
        );
        let Some(id) = v
            .strip_prefix(p.as_str())
            .and_then(|v| v.strip_suffix(s.as_str()))
            .filter(|id| !id.is_empty())
        else {
            return false;
        };
        !(p.is_empty() && s.is_empty()) || id.bytes().all(|b| b.is_ascii_digit())
    }
}

/// RDN attribute types whose values are identifiers, never names (adopted
/// structures are often named `ENTStructureSIREN=…`, departed adopted
/// people get their jointure beside their RDN).
const ID_RDN_ATTRS: [&str; 4] = [
    "ENTPersonJointure",
    "ENTStructureJointure",
    "ENTStructureUAI",
    "ENTStructureSIREN",
];

/// What replaces an RDN value that may be a name, before its hash.
pub const PSEUDONYM_MARK: &str = "#sha256:";

/// The pseudonym of one RDN attribute-value pair: [`PSEUDONYM_MARK`] and
/// the first 12 hex digits of the SHA-256 of `attr=value`, lower case,
/// escapes resolved. Only that pair is hashed, not the whole DN, so that a
/// person keeps one pseudonym when moved to the departed branch and back:
/// one `grep` finds every line about them.
fn ava_pseudonym(attr: &str, value: &str) -> String {
    let norm = format!("{}={}", attr.trim().to_lowercase(), value.to_lowercase());
    let h = Sha256::digest(norm.as_bytes());
    let hex: String = h.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{PSEUDONYM_MARK}{hex}")
}

/// The attribute-value pairs of an RDN as written (`uid=a+cn=b`), split on
/// the unescaped `+`.
fn avas(rdn: &str) -> Vec<&str> {
    let b = rdn.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'+' => {
                out.push(&rdn[start..i]);
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push(&rdn[start.min(rdn.len())..]);
    out
}

/// `needle` replaced by `with` in `text` wherever it stands as a whole
/// word (not inside a longer run of letters and digits), whatever the case
/// (DN values compare case-insensitively, and a server may echo them in
/// its own case). `None` when it is not there.
fn replace_word_ignore_case(text: &str, needle: &str, with: &str) -> Option<String> {
    if needle.is_empty() {
        return None;
    }
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut prev: Option<char> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let mut t = rest.char_indices();
        let mut end = Some(0);
        for n in needle.chars() {
            match t.next() {
                Some((i, c)) if same(c, n) => end = Some(i + c.len_utf8()),
                _ => {
                    end = None;
                    break;
                }
            }
        }
        if let Some(end) = end.filter(|&e| !word(prev) && !word(rest[e..].chars().next())) {
            out.push_str(with);
            prev = rest[..end].chars().next_back();
            rest = &rest[end..];
            found = true;
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
            prev = Some(c);
        }
        rest = chars.as_str();
    }
    found.then_some(out)
}

/// The layout of the running configuration, for [`log_dn`] and
/// [`log_scrub`]: installed once the configuration is loaded.
static LOG_LAYOUT: RwLock<Option<Layout>> = RwLock::new(None);

/// Makes `layout` the one [`log_dn`] judges DNs by (the binary calls it as
/// soon as the configuration is loaded, before anything is written).
pub fn use_for_logs(layout: &Layout) {
    if let Ok(mut g) = LOG_LAYOUT.write() {
        *g = Some(layout.clone());
    }
}

/// [`Layout::loggable`] with the layout of the running configuration. With
/// none installed (a library caller that did not call [`use_for_logs`]),
/// every RDN value but an identifier attribute's is taken for a name: it
/// fails closed.
pub fn log_dn(dn: &str) -> Cow<'_, str> {
    match LOG_LAYOUT.read() {
        Ok(g) => match g.as_ref() {
            Some(l) => l.loggable_str(dn),
            None => Layout::new("", "").loggable_str(dn),
        },
        Err(_) => Layout::new("", "").loggable_str(dn),
    }
}

/// [`Layout::scrub`] with the layout of the running configuration.
pub fn log_scrub<'t>(text: &'t str, dn: &str) -> Cow<'t, str> {
    match LOG_LAYOUT.read() {
        Ok(g) => match g.as_ref() {
            Some(l) => l.scrub(text, dn),
            None => Layout::new("", "").scrub(text, dn),
        },
        Err(_) => Layout::new("", "").scrub(text, dn),
    }
}

/// For `#[serde(serialize_with)]`: a DN field written through [`log_dn`].
pub fn serialize_dn<S: serde::Serializer, D: AsRef<str>>(dn: &D, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&log_dn(dn.as_ref()))
}

impl Layout {
    /// How `dn` is written wherever it outlives the run or leaves the
    /// process — the journal (kept `journal_keep_days`), the JSON and text
    /// reports, failure lists, logs, error messages, `status` — since no
    /// personal data may go there (spec §7, §9).
    ///
    /// As is when every value of its first RDN is one the sync builds from
    /// an id ([`Layout::rdn_from_ids`]), and for the base and the branch
    /// OUs. Otherwise — an adopted tree's `uid=zoe.coeur` — each such value
    /// is replaced by its pseudonym (`uid=#sha256:<12 hex>,ou=people,…`),
    /// the same every time for the same RDN value, wherever the entry is
    /// (`ou=people`, `ou=departed`). Only the first RDN is judged: the
    /// parents are branches or containers of the tree, not people.
    pub fn loggable<'d>(&self, dn: &'d Dn) -> Cow<'d, str> {
        self.loggable_str(dn.as_str())
    }

    /// [`Layout::loggable`] for a DN held as text.
    pub fn loggable_str<'d>(&self, dn: &'d str) -> Cow<'d, str> {
        if self.clear(dn) {
            return Cow::Borrowed(dn);
        }
        let rdn = rdn_of(dn);
        let parent = dn.get(rdn.len()..).unwrap_or_default();
        let parts: Vec<String> = avas(rdn)
            .into_iter()
            .map(|ava| match self.hidden_ava(ava, parent) {
                Some((attr, value)) => format!("{}={}", attr.trim(), ava_pseudonym(attr, &value)),
                None => ava.to_string(),
            })
            .collect();
        Cow::Owned(format!("{}{parent}", parts.join("+")))
    }

    /// `text` (an error, a message) with what it holds of `dn`'s hidden RDN
    /// values replaced by their pseudonyms: a server's message may quote
    /// the DN it refused.
    pub fn scrub<'t>(&self, text: &'t str, dn: &str) -> Cow<'t, str> {
        if self.clear(dn) {
            return Cow::Borrowed(text);
        }
        let rdn = rdn_of(dn);
        let parent = dn.get(rdn.len()..).unwrap_or_default();
        let mut out = Cow::Borrowed(text);
        for ava in avas(rdn) {
            let Some((attr, value)) = self.hidden_ava(ava, parent) else {
                continue;
            };
            let mark = ava_pseudonym(attr, &value);
            // the value as written (escapes kept), then unescaped
            let written = ava.split_once('=').map(|(_, v)| v.trim()).unwrap_or(ava);
            for v in [written, value.trim()] {
                if let Some(s) = replace_word_ignore_case(&out, v, &mark) {
                    out = Cow::Owned(s);
                }
            }
        }
        out
    }

    /// True when [`Layout::loggable`] writes `dn` as is.
    pub fn clear(&self, dn: &str) -> bool {
        self.clear_among(dn, &self.fixed_keys())
    }

    /// The keys of the base and of the branches: [`Layout::clear_among`]
    /// many DNs with them computed once.
    pub fn fixed_keys(&self) -> [String; 5] {
        let [a, b, c, d] = self.branches().map(|(_, dn)| dn.key());
        [self.base.key(), a, b, c, d]
    }

    /// [`Layout::clear`], `fixed` being [`Layout::fixed_keys`].
    pub fn clear_among(&self, dn: &str, fixed: &[String; 5]) -> bool {
        if dn.trim().is_empty() {
            return true;
        }
        let key = dn_key(dn);
        if fixed.contains(&key) {
            return true;
        }
        let rdn = rdn_of(dn);
        let parent = dn.get(rdn.len()..).unwrap_or_default();
        avas(rdn)
            .into_iter()
            .all(|ava| self.hidden_ava(ava, parent).is_none())
    }

    /// The attribute and (unescaped) value of `ava`, the pair of an RDN
    /// over `parent` (`,…`), when its value may be a name; `None` when the
    /// sync builds it from an id: an identifier attribute
    /// (`ENTStructureSIREN`, jointures, UAI), a `uid` or `ou` of the
    /// layout's templates, a class or group `cn` under the groups branch,
    /// the sync's own entries under the base.
    fn hidden_ava<'a>(&self, ava: &'a str, parent: &str) -> Option<(&'a str, String)> {
        let Some((attr, value, _)) = split_first_rdn(ava) else {
            // not an `attr=value` pair: hide it whole
            return Some(("?", ava.to_string()));
        };
        let is = |a: &str| attr.eq_ignore_ascii_case(a);
        if ID_RDN_ATTRS.iter().any(|a| is(a)) {
            return None;
        }
        let v = value.to_lowercase();
        let built = if is("uid") {
            self.person_rdn.builds(&v)
        } else if is("ou") {
            self.structure_rdn.builds(&v)
        } else if is("cn") {
            let parent = dn_key(parent.trim_start_matches(',').trim());
            let source = self.source.to_lowercase();
            if parent == self.base.key() {
                ["aaf-sync-", "aaf-sync-lock-", "aaf-sync-erasures-"]
                    .iter()
                    .any(|p| v == format!("{p}{source}"))
            } else {
                // `<source>-<sid>-classe-<code>`, `<source>-<sid>-groupe-<code>`
                parent == self.groups.key()
                    && v.strip_prefix(&format!("{source}-"))
                        .is_some_and(|r| r.contains("-classe-") || r.contains("-groupe-"))
            }
        } else {
            false
        };
        (!built).then_some((attr, value))
    }

    /// True when `pseudonymised` is what [`Layout::loggable`] writes for
    /// `dn`: how a pseudonym read in a log or a report finds its entry back
    /// (`subject export --dn 'uid=#sha256:…,ou=people,…'`).
    pub fn loggable_matches(&self, dn: &Dn, pseudonymised: &str) -> bool {
        dn_key(&self.loggable(dn)) == dn_key(pseudonymised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::layout::GroupKind;

    #[test]
    fn dns_built_from_ids_are_written_as_they_are_names_as_pseudonyms() {
        let l = Layout::new("dc=x", "AC");
        for dn in [
            "dc=x".to_string(),
            "ou=departed,dc=x".to_string(),
            l.person_dn("1001").to_string(),
            l.departed_dn(&l.person_dn("1001"), "1001").to_string(),
            l.structure_dn("52006").to_string(),
            l.class_dn(GroupKind::Classe, "52006", "CP A").to_string(),
            l.control_dn().to_string(),
            "cn=aaf-sync-erasures-AC,dc=x".to_string(),
            "ENTStructureSIREN=19290009000015,ou=structures,dc=x".to_string(),
        ] {
            assert_eq!(l.loggable_str(&dn), dn, "{dn}");
        }
        let zoe = Dn::new("uid=zoe.coeur,ou=people,dc=x");
        let shown = l.loggable(&zoe);
        assert!(shown.starts_with("uid=#sha256:"), "{shown}");
        assert!(shown.ends_with(",ou=people,dc=x"), "{shown}");
        assert!(!shown.to_lowercase().contains("zoe"), "{shown}");
        // one pseudonym for one RDN value: whatever its case or escapes,
        // and once departed, beside the jointure written in clear
        let hash = &shown[4..shown.find(',').unwrap()];
        assert_eq!(
            l.loggable_str("UID=Zoe\\2eCoeur,ou=people,dc=x"),
            format!("UID={hash},ou=people,dc=x")
        );
        let away = l.departed_dn(&zoe, "7");
        let away_shown = l.loggable(&away);
        assert_eq!(
            away_shown,
            format!("uid={hash}+ENTPersonJointure=AC$7,ou=departed,dc=x")
        );
        assert!(l.loggable_matches(&away, &away_shown));
        assert!(!l.loggable_matches(&l.person_dn("7"), &shown));
        // a bare {id} template: digits only are ids
        let bare = Layout::new("dc=x", "AC").with_rdns("{id}", "{id}").unwrap();
        assert_eq!(
            bare.loggable_str("uid=128407,ou=people,dc=x"),
            "uid=128407,ou=people,dc=x"
        );
        assert!(bare
            .loggable_str("uid=zoe,ou=people,dc=x")
            .contains("#sha256:"));
        // a server's message quoting the DN is scrubbed too
        let msg = "entry uid=Zoe.Coeur,ou=people,dc=x already exists; zoe.coeurs kept";
        let scrubbed = l.scrub(msg, zoe.as_str());
        assert_eq!(
            scrubbed,
            format!("entry uid={hash},ou=people,dc=x already exists; zoe.coeurs kept")
        );
        assert_eq!(l.scrub(msg, l.person_dn("1").as_str()), msg);
    }
}
