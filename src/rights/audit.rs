//! Minimisation audit (spec §6–7), the report a data-protection officer
//! asks for: a scan of the managed tree that lists, by DN and attribute
//! **name** (never a value), every attribute outside the authorised set of
//! its entry's category, staff entries carrying an address without consent
//! or a mobile, people outside the perimeter, and departed people kept past
//! their deadline. Pure: the entries, the rules and the date in.

use crate::aaf::degree::Degree;
use crate::mapping::{self, fields, layout::Layout, perimeter::Perimeter};
use crate::model::{dn_key, Entry, EntryMap};
use crate::schema::date::format_date;
use crate::schema::EntryKind;
use crate::schema::State;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::Date;

/// Attributes that identify an entry, or that the directory or the ENT set
/// for authentication, allowed on every managed entry.
pub const ALWAYS_ALLOWED: &[&str] = &[
    "objectClass",
    "uid",
    "cn",
    "ou",
    "userPassword",
    "pwdAccountLockedTime",
    "pwdChangedTime",
    "pwdFailureTime",
    "pwdHistory",
    "pwdPolicySubentry",
    "pwdReset",
    "pwdGraceUseTime",
    "pwdLastSuccess",
    // the sync's own: a disabled person's password, set aside
    crate::schema::ATTR_SAVED_PASSWORD,
];

/// One thing the audit found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// `unauthorised_attribute`, `staff_address`, `mobile_not_parent`,
    /// `outside_perimeter` or `retention_overdue`.
    pub rule: &'static str,
    /// Written out through [`crate::mapping::layout::log_dn`]: `subject
    /// export --dn` takes the pseudonym back.
    #[serde(serialize_with = "crate::mapping::layout::serialize_dn")]
    pub dn: String,
    /// Attribute names, or the deadline passed: never a value.
    pub detail: String,
}

/// The audit's report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Audit {
    pub date: String,
    pub scanned: BTreeMap<String, u64>,
    pub counts: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
}

/// What is allowed beyond the category's own fields.
pub struct Rules<'a> {
    pub layout: &'a Layout,
    pub perimeter: &'a Perimeter,
    pub consent: &'a BTreeSet<String>,
    /// Attributes the ENT writes itself (`[audit] allowed_attributes`).
    pub extra_allowed: &'a [String],
    pub today: Date,
    /// The source's degree: the other degree's fields are not its own.
    pub degree: Degree,
}

fn allowed(kind: EntryKind, name: &str, extra: &[String], degree: Degree) -> bool {
    let eq = |a: &str| a.eq_ignore_ascii_case(name);
    ALWAYS_ALLOWED.iter().any(|a| eq(a))
        || extra.iter().any(|a| eq(a))
        || mapping::owned(kind).iter().any(|a| eq(a))
            && !mapping::other_degree_only(kind, degree, name)
}

/// Scans `managed` (entries read with all their attributes).
pub fn audit(rules: &Rules, managed: &EntryMap) -> Audit {
    let mut out = Audit {
        date: format_date(rules.today),
        ..Default::default()
    };
    let uai_of: HashMap<String, String> = managed
        .values()
        .filter(|e| EntryKind::of(e) == Some(EntryKind::Structure))
        .filter_map(|e| {
            let uai = e.first("ENTStructureUAI")?;
            Some((e.dn.key(), crate::mapping::perimeter::uai_key(uai)))
        })
        .collect();
    let staff_address: Vec<&str> = fields::STAFF_CONSENTED.iter().map(|f| f.ldap).collect();
    let mut push = |rule, e: &Entry, detail: String| {
        out.findings.push(Finding {
            rule,
            dn: e.dn.to_string(),
            detail,
        })
    };
    for e in managed.values() {
        let Some(kind) = EntryKind::of(e) else {
            continue;
        };
        *out.scanned.entry(kind.as_str().to_string()).or_default() += 1;
        // attributes outside the authorised set (the consented staff
        // address is judged below, person by person)
        let mut outside: Vec<&str> = e
            .attrs
            .values()
            .map(|a| a.name)
            .filter(|n| !allowed(kind, n, rules.extra_allowed, rules.degree))
            .collect();
        if kind == EntryKind::Staff {
            let id = e
                .first("ENTPersonJointure")
                .and_then(|j| mapping::id_of_jointure(j, &rules.layout.source))
                .unwrap_or("");
            let address: Vec<&str> = e
                .attrs
                .values()
                .map(|a| a.name)
                .filter(|n| staff_address.iter().any(|s| s.eq_ignore_ascii_case(n)))
                .collect();
            if !address.is_empty() && !rules.consent.contains(id) {
                push("staff_address", e, address.join(", "));
            }
        }
        if kind != EntryKind::Parent && e.get("mobile").is_some() {
            push("mobile_not_parent", e, "mobile".into());
            outside.retain(|n| !n.eq_ignore_ascii_case("mobile"));
        }
        if !outside.is_empty() {
            outside.sort_unstable();
            push("unauthorised_attribute", e, outside.join(", "));
        }
        // perimeter
        if !rules.perimeter.is_all() {
            let uais: Vec<&str> = match kind {
                EntryKind::Structure => e
                    .get("ENTStructureUAI")
                    .unwrap_or_default()
                    .iter()
                    .collect(),
                k if k.is_person() => e
                    .get("ENTPersonStructRattach")
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| uai_of.get(&dn_key(d)).map(String::as_str))
                    .collect(),
                _ => Vec::new(),
            };
            let has_links =
                kind == EntryKind::Structure || e.get("ENTPersonStructRattach").is_some();
            if has_links && !uais.iter().any(|u| rules.perimeter.uai_configured(u)) {
                push("outside_perimeter", e, "ENTPersonStructRattach".into());
            }
        }
        // retention
        if let Some(deadline) = State::of(e).deadline {
            if deadline < rules.today {
                push(
                    "retention_overdue",
                    e,
                    format!("deadline {}", format_date(deadline)),
                );
            }
        }
    }
    out.findings.sort();
    for f in &out.findings {
        *out.counts.entry(f.rule.to_string()).or_default() += 1;
    }
    out
}

impl Audit {
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let scanned: Vec<String> = self
            .scanned
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "audit of {}: scanned {}", self.date, scanned.join(", "));
        if self.findings.is_empty() {
            let _ = writeln!(
                s,
                "no finding: the tree holds only what the conventions allow"
            );
        }
        for (rule, n) in &self.counts {
            let _ = writeln!(s, "{rule}: {n}");
        }
        for f in &self.findings {
            let _ = writeln!(
                s,
                "  {} {}: {}",
                f.rule,
                crate::mapping::layout::log_dn(&f.dn),
                f.detail
            );
        }
        s
    }
}

/// `aaf-sync audit`: reads the managed tree with every attribute.
pub async fn run(
    cfg: &crate::config::Config,
    today: Date,
) -> Result<Audit, crate::ldap::DirectoryError> {
    let layout = cfg.layout();
    let dir = crate::ldap::Directory::connect_n(&cfg.ldap, 1).await?;
    let snap = dir.read_managed_all(&layout).await;
    dir.close().await;
    let perimeter = Perimeter::new(&cfg.perimeter_uai, cfg.perimeter_all);
    let rules = Rules {
        layout: &layout,
        perimeter: &perimeter,
        consent: &cfg.staff_address_consent,
        extra_allowed: &cfg.audit_allowed_attributes,
        today,
        degree: cfg.degree,
    };
    Ok(audit(&rules, &snap?.managed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dn;

    #[test]
    fn finds_planted_violations_and_passes_a_clean_tree() {
        let layout = Layout::new("dc=x", "AC");
        let perimeter = Perimeter::new(&["0920001A".to_string()], false);
        let consent = BTreeSet::from(["7".to_string()]);
        let today = time::macros::date!(2026 - 01 - 10);
        let rules = Rules {
            layout: &layout,
            perimeter: &perimeter,
            consent: &consent,
            extra_allowed: &["entPreference".to_string()],
            today,
            degree: Degree::OneD,
        };
        let mk = |dn: &str, attrs: &[(&str, &str)]| {
            let mut e = Entry::new(Dn::new(dn));
            for (a, v) in attrs {
                e.add(a, [*v]);
            }
            e
        };
        let s = "ENTStructureJointure=AC$9,ou=structures,dc=x";
        let mut tree: EntryMap = [
            mk(
                s,
                &[
                    ("objectClass", "ENTStructure"),
                    ("ENTStructureUAI", "0920001A"),
                ],
            ),
            mk(
                "uid=AC-6,ou=people,dc=x",
                &[
                    ("objectClass", "ENTPerson"),
                    ("ENTPersonJointure", "AC$6"),
                    ("ENTPersonStructRattach", s),
                    ("entPreference", "dark"),
                ],
            ),
            mk(
                "uid=AC-7,ou=people,dc=x",
                &[
                    ("objectClass", "ENTPerson"),
                    ("ENTPersonJointure", "AC$7"),
                    ("ENTPersonStructRattach", s),
                    ("ENTPersonAdresse", "consented"),
                ],
            ),
        ]
        .into_iter()
        .collect();
        let a = audit(&rules, &tree);
        assert!(a.findings.is_empty(), "{:?}", a.findings);
        assert_eq!(a.scanned["PersEducNat"], 2);

        let mut e = mk(
            "uid=AC-6,ou=people,dc=x",
            &[
                ("objectClass", "ENTPerson"),
                ("ENTPersonJointure", "AC$6"),
                (
                    "ENTPersonStructRattach",
                    "ENTStructureJointure=AC$8,ou=structures,dc=x",
                ),
                ("ENTPersonAdresse", "by hand"),
                ("mobile", "0600000000"),
                ("ENTEleveClasses", "x"),
                ("aafSyncDepartureDate", "20251201000000Z"),
                ("aafSyncDeadline", "20251231000000Z"),
            ],
        );
        e.add("objectClass", ["aafSyncState"]);
        tree.insert(e);
        let a = audit(&rules, &tree);
        let rules_found: Vec<&str> = a.findings.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules_found,
            [
                "mobile_not_parent",
                "outside_perimeter",
                "retention_overdue",
                "staff_address",
                "unauthorised_attribute"
            ]
        );
        let f = &a.findings[4];
        assert_eq!(f.detail, "ENTEleveClasses");
        assert!(!format!("{a:?}").contains("by hand") && !format!("{a:?}").contains("0600000000"));
    }
}
