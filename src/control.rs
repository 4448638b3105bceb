//! The control entry: what a source's runs have applied, kept in the
//! directory itself (`cn=aaf-sync-<source>,<base>`, class `aafSyncControl`)
//! so that a fresh machine resumes with no local state.
//!
//! It records the last extraction applied (label, date, kind) to refuse an
//! older one, the last Complet's date, and the school year whose classes the
//! tree holds (for the rebuild at the school-year start). Pure: the entry is
//! read and written by the caller through the plan.

use crate::aaf::filename::{format_date, Extraction, ExtractionKind};
use crate::diff::{diff_entry, Change, Planned};
use crate::mapping::{self, layout::Layout, EntryKind};
use crate::model::Entry;
use crate::retention::parse_generalized_date;
use time::Date;

const ATTR_LABEL: &str = "aafSyncAppliedExtraction";
const ATTR_DATE: &str = "aafSyncAppliedDate";
const ATTR_KIND: &str = "aafSyncAppliedKind";
const ATTR_COMPLET: &str = "aafSyncCompletDate";
const ATTR_YEAR: &str = "aafSyncSchoolYear";

/// The attributes the sync owns on the control entry.
pub const OWNED: [&str; 6] = [
    mapping::ATTR_SOURCE,
    ATTR_LABEL,
    ATTR_DATE,
    ATTR_KIND,
    ATTR_COMPLET,
    ATTR_YEAR,
];

/// The last extraction applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub label: String,
    pub date: Date,
    pub kind: ExtractionKind,
}

impl Applied {
    /// Apply order: by date, a Complet before the Delta of the same day.
    fn order(&self) -> (Date, u8) {
        (self.date, kind_rank(self.kind))
    }
}

fn kind_rank(k: ExtractionKind) -> u8 {
    match k {
        ExtractionKind::Complet => 0,
        ExtractionKind::Delta => 1,
    }
}

/// The state of a source's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    pub applied: Option<Applied>,
    pub complet_date: Option<Date>,
    pub school_year: Option<i32>,
}

impl Control {
    pub fn from_entry(e: &Entry) -> Control {
        let date = |a| e.first(a).and_then(parse_generalized_date);
        let kind = match e.first(ATTR_KIND) {
            Some(k) if k.eq_ignore_ascii_case("Delta") => ExtractionKind::Delta,
            _ => ExtractionKind::Complet,
        };
        Control {
            applied: date(ATTR_DATE).map(|d| Applied {
                label: e.first(ATTR_LABEL).unwrap_or_default().to_string(),
                date: d,
                kind,
            }),
            complet_date: date(ATTR_COMPLET),
            school_year: e.first(ATTR_YEAR).and_then(|y| y.parse().ok()),
        }
    }

    /// True when `x` comes before the last extraction applied (re-applying
    /// that same extraction is not older).
    pub fn is_older(&self, x: &Extraction) -> bool {
        self.applied
            .as_ref()
            .is_some_and(|a| (x.date, kind_rank(x.kind)) < a.order())
    }

    /// The state once `x` is applied; `school_year` is the extraction's.
    /// An older extraction applied with `--force` does not move the state
    /// back: what was applied after it stays the reference.
    pub fn after(&self, x: &Extraction, school_year: i32) -> Control {
        if self.is_older(x) {
            return self.clone();
        }
        let complet = x.kind == ExtractionKind::Complet;
        Control {
            applied: Some(Applied {
                label: x.label(),
                date: x.date,
                kind: x.kind,
            }),
            complet_date: if complet {
                Some(x.date)
            } else {
                self.complet_date
            },
            school_year: if complet {
                Some(school_year.max(self.school_year.unwrap_or(i32::MIN)))
            } else {
                self.school_year
            },
        }
    }

    /// True when a Complet of `school_year` starts a new school year for the
    /// tree (a first Complet ever is not a rebuild: there is nothing to clear).
    pub fn starts_school_year(&self, school_year: i32) -> bool {
        self.school_year.is_some_and(|y| school_year > y)
    }

    /// The control entry holding this state.
    pub fn entry(&self, layout: &Layout) -> Entry {
        let mut e = Entry::new(layout.control_dn());
        e.add("objectClass", ["top", mapping::CONTROL_CLASS]);
        e.set("cn", format!("aaf-sync-{}", layout.source));
        e.set(mapping::ATTR_SOURCE, layout.source.clone());
        if let Some(a) = &self.applied {
            e.set(ATTR_LABEL, a.label.clone());
            e.set(ATTR_DATE, mapping::generalized_date(a.date));
            e.set(ATTR_KIND, format!("{:?}", a.kind));
        }
        if let Some(d) = self.complet_date {
            e.set(ATTR_COMPLET, mapping::generalized_date(d));
        }
        if let Some(y) = self.school_year {
            e.set(ATTR_YEAR, y.to_string());
        }
        e
    }

    /// The change that writes this state over `current` (the entry read
    /// from the directory, if any); `None` when it already holds it.
    pub fn change(&self, layout: &Layout, current: Option<&Entry>) -> Option<Planned> {
        let want = self.entry(layout);
        let change = match current {
            None => Change::Add { entry: want },
            Some(cur) => {
                let changes = diff_entry(EntryKind::Control, &want, cur);
                if changes.is_empty() {
                    return None;
                }
                Change::Modify {
                    dn: cur.dn.clone(),
                    changes,
                }
            }
        };
        Some(Planned {
            kind: EntryKind::Control,
            phase: crate::diff::phase(EntryKind::Control, &change),
            change,
        })
    }
}

/// `date kind` of an extraction for messages.
pub fn describe(a: &Applied) -> String {
    format!("{} ({:?} of {})", a.label, a.kind, format_date(a.date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aaf::filename::{group_files, Extraction};
    use std::path::PathBuf;
    use time::macros::date;

    fn extraction(kind: &str, date: &str) -> Extraction {
        let f = PathBuf::from(format!("/x/ENT_{kind}_{date}_Eleve_0000.xml"));
        group_files(vec![f]).extractions.remove(0)
    }

    #[test]
    fn order_and_round_trip() {
        let l = Layout::new("dc=x", "S");
        let c = Control::default().after(&extraction("Complet", "20261119"), 2026);
        assert!(!c.is_older(&extraction("Complet", "20261119")));
        assert!(!c.is_older(&extraction("Delta", "20261119")));
        assert!(c.is_older(&extraction("Delta", "20261118")));
        let d = c.after(&extraction("Delta", "20261120"), 2026);
        assert!(d.is_older(&extraction("Complet", "20261120")));
        assert_eq!(d.complet_date, Some(date!(2026 - 11 - 19)));
        let Some(Planned {
            change: Change::Add { entry },
            ..
        }) = d.change(&l, None)
        else {
            panic!("expected an add")
        };
        assert_eq!(Control::from_entry(&entry), d);
        assert!(d.change(&l, Some(&entry)).is_none());
        assert!(d.starts_school_year(2027) && !d.starts_school_year(2026));
        // forcing an older extraction does not move the state back
        assert_eq!(d.after(&extraction("Complet", "20260101"), 2025), d);
        assert!(!Control::default().starts_school_year(2026));
    }
}
