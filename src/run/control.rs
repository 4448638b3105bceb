//! The control entry: what a source's runs have applied, kept in the
//! directory itself (`cn=aaf-sync-<source>,<base>`, class `aafSyncControl`)
//! so that a fresh machine resumes with no local state.
//!
//! It records the last extraction applied completely — every one of its
//! operations succeeded — (label, date, kind) to refuse an older one, the
//! last Complet's date, and the school year whose classes the tree holds
//! (for the rebuild at the school-year start). An extraction applied with
//! failures is not recorded as applied: its label goes to
//! `aafSyncNotInStep`, and the next run applies it again and retries what is
//! missing. The entry is written after each extraction of a run, so that a
//! run stopped midway resumes at the first extraction not yet fully
//! applied. Pure: the entry is read and written by the caller.

use crate::aaf::filename::{Extraction, ExtractionKind};
use crate::diff::diff_entry;
use crate::mapping::layout::Layout;
use crate::model::plan::{phase, Change, Planned};
use crate::model::Entry;
use crate::schema::date::{format_date, generalized_date, parse_generalized_date};
use crate::schema::EntryKind;
use time::Date;

use crate::schema::{
    ATTR_APPLIED_DATE as ATTR_DATE, ATTR_APPLIED_KIND as ATTR_KIND,
    ATTR_APPLIED_LABEL as ATTR_LABEL, ATTR_COMPLET_DATE as ATTR_COMPLET, ATTR_NOT_IN_STEP,
    ATTR_SCHOOL_YEAR as ATTR_YEAR,
};

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
    /// The first extraction applied with failures since `applied`: the
    /// directory is not in step with the extractions it was given.
    pub not_in_step: Option<String>,
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
            not_in_step: e.first(ATTR_NOT_IN_STEP).map(str::to_string),
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
            not_in_step: None,
        }
    }

    /// This state (the one before an extraction), recording that
    /// `label` was applied with failures: not recorded as applied, the next
    /// run applies it again. The first such extraction is the one named.
    pub fn incomplete(&self, label: &str) -> Control {
        let mut c = self.clone();
        c.not_in_step.get_or_insert_with(|| label.to_string());
        c
    }

    /// True when the directory is in step with the extractions applied.
    pub fn in_step(&self) -> bool {
        self.not_in_step.is_none()
    }

    /// Which of `xs` (in apply order) a run applies, and which it skips as
    /// already applied. With `force`, all. Otherwise an extraction older
    /// than the last one applied is skipped, and so is the last one applied
    /// itself when a later one follows (it was applied completely, or it
    /// would not be recorded): a run stopped midway resumes at the first
    /// extraction not yet fully applied. Alone, the last one applied is applied again (a repeated
    /// sync writes nothing, or retries what failed). `Err` names the first
    /// extraction when every one is older than the last applied.
    pub fn to_apply<'x>(
        &self,
        xs: &'x [Extraction],
        force: bool,
    ) -> Result<(Vec<&'x Extraction>, Vec<&'x Extraction>), &'x Extraction> {
        let Some(a) = self.applied.as_ref().filter(|_| !force) else {
            return Ok((xs.iter().collect(), Vec::new()));
        };
        let order = |x: &Extraction| (x.date, kind_rank(x.kind));
        let newer = xs.iter().any(|x| order(x) > a.order());
        let (mut apply, mut skip) = (Vec::new(), Vec::new());
        for x in xs {
            let o = order(x);
            if o < a.order() || (o == a.order() && newer) {
                skip.push(x);
            } else {
                apply.push(x);
            }
        }
        match apply.is_empty() {
            true => Err(skip[0]),
            false => Ok((apply, skip)),
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
        e.add("objectClass", ["top", crate::schema::CONTROL_CLASS]);
        e.set("cn", format!("aaf-sync-{}", layout.source));
        e.set(crate::schema::ATTR_SOURCE, layout.source.clone());
        if let Some(a) = &self.applied {
            e.set(ATTR_LABEL, a.label.clone());
            e.set(ATTR_DATE, generalized_date(a.date));
            e.set(ATTR_KIND, format!("{:?}", a.kind));
        }
        if let Some(l) = &self.not_in_step {
            e.set(ATTR_NOT_IN_STEP, l.clone());
        }
        if let Some(d) = self.complet_date {
            e.set(ATTR_COMPLET, generalized_date(d));
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
            phase: phase(EntryKind::Control, &change),
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
        // an incomplete one is not recorded as applied, but named
        let half = c.incomplete("ENT_Delta_20261120").incomplete("later");
        assert!(!half.in_step() && c.in_step());
        assert_eq!(half.applied, c.applied);
        assert_eq!(half.not_in_step.as_deref(), Some("ENT_Delta_20261120"));
        assert_eq!(Control::from_entry(&half.entry(&l)), half);
        // the next complete one clears it
        assert!(half.after(&extraction("Delta", "20261120"), 2026).in_step());
    }

    #[test]
    fn a_run_resumes_at_the_first_extraction_not_fully_applied() {
        let c = extraction("Complet", "20261119");
        let d = extraction("Delta", "20261120");
        let xs = vec![c.clone(), d.clone()];
        let labels = |v: Vec<&Extraction>| v.iter().map(|x| x.label()).collect::<Vec<_>>();
        // nothing applied yet: both
        let (a, s) = Control::default().to_apply(&xs, false).unwrap();
        assert_eq!((a.len(), s.len()), (2, 0));
        // the Complet applied completely: resume at the Delta
        let after_c = Control::default().after(&c, 2026);
        let (a, s) = after_c.to_apply(&xs, false).unwrap();
        assert_eq!((labels(a), labels(s)), (vec![d.label()], vec![c.label()]));
        // the Complet applied with failures is not recorded: both again
        let (a, _) = Control::default()
            .incomplete(&c.label())
            .to_apply(&xs, false)
            .unwrap();
        assert_eq!(a.len(), 2);
        // alone, the last one applied is applied again
        let (a, _) = after_c.to_apply(std::slice::from_ref(&c), false).unwrap();
        assert_eq!(a.len(), 1);
        // both applied: the Delta again, the Complet skipped
        let after_d = after_c.after(&d, 2026);
        let (a, s) = after_d.to_apply(&xs, false).unwrap();
        assert_eq!((labels(a), labels(s)), (vec![d.label()], vec![c.label()]));
        // every one older: refused, naming the first
        let later = after_d.after(&extraction("Delta", "20261121"), 2026);
        assert_eq!(later.to_apply(&xs, false).unwrap_err().label(), c.label());
        assert_eq!(later.to_apply(&xs, true).unwrap().0.len(), 2);
    }
}
