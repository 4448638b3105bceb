//! The `[safety]` section: the rails' thresholds (departures per
//! category, renames, group changes, additions, rejected records) and the
//! per-record limits of multi-valued fields (`[safety.record]`).

use super::{invalid, ConfigError};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSafety {
    max_departures: Option<u64>,
    max_departures_percent: Option<f64>,
    percent_floor: Option<u64>,
    school_year_percent: Option<f64>,
    complet_min_ratio: Option<f64>,
    guard_floor: Option<u64>,
    max_renames: Option<u64>,
    max_renames_percent: Option<f64>,
    max_modified_percent: Option<f64>,
    max_group_deletions: Option<u64>,
    max_group_deletions_percent: Option<f64>,
    max_group_additions: Option<u64>,
    max_group_additions_percent: Option<f64>,
    max_additions_percent: Option<f64>,
    max_rejected_percent: Option<f64>,
    #[serde(default)]
    record: RawRecordLimits,
    #[serde(default)]
    pupil: RawLimits,
    #[serde(default)]
    parent: RawLimits,
    #[serde(default)]
    staff: RawLimits,
    #[serde(default)]
    structure: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordLimits {
    pupil_classes: Option<usize>,
    pupil_groups: Option<usize>,
    parents_per_pupil: Option<usize>,
    pupils_per_parent: Option<usize>,
    staff_classes: Option<usize>,
    staff_groups: Option<usize>,
    staff_functions: Option<usize>,
    structures_per_person: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_departures: Option<u64>,
    max_departures_percent: Option<f64>,
}

/// The per-record limits (`[safety.record]`), defaults where not set.
pub(super) fn record_limits(raw: &RawSafety) -> crate::mapping::limits::RecordLimits {
    let raw = &raw.record;
    let d = crate::mapping::limits::RecordLimits::default();
    crate::mapping::limits::RecordLimits {
        pupil_classes: raw.pupil_classes.unwrap_or(d.pupil_classes),
        pupil_groups: raw.pupil_groups.unwrap_or(d.pupil_groups),
        parents_per_pupil: raw.parents_per_pupil.unwrap_or(d.parents_per_pupil),
        pupils_per_parent: raw.pupils_per_parent.unwrap_or(d.pupils_per_parent),
        staff_classes: raw.staff_classes.unwrap_or(d.staff_classes),
        staff_groups: raw.staff_groups.unwrap_or(d.staff_groups),
        staff_functions: raw.staff_functions.unwrap_or(d.staff_functions),
        structures_per_person: raw.structures_per_person.unwrap_or(d.structures_per_person),
    }
}

fn percent(v: f64, key: &'static str) -> Result<f64, ConfigError> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(
            key,
            format!("{v}: expected a percentage, 0 to 100"),
        ))
    }
}

/// The rails' thresholds, defaults where not set, percentages checked.
pub(super) fn validate(raw: &RawSafety) -> Result<crate::safety::Safety, ConfigError> {
    use crate::safety::{Limits, Safety};
    let d = Safety::default();
    let people = Limits {
        max_count: raw.max_departures.unwrap_or(d.pupil.max_count),
        max_percent: percent(
            raw.max_departures_percent.unwrap_or(d.pupil.max_percent),
            "safety.max_departures_percent",
        )?,
    };
    let limits = |r: &RawLimits, base: Limits, key| -> Result<Limits, ConfigError> {
        Ok(Limits {
            max_count: r.max_departures.unwrap_or(base.max_count),
            max_percent: percent(r.max_departures_percent.unwrap_or(base.max_percent), key)?,
        })
    };
    let ratio = raw.complet_min_ratio.unwrap_or(d.complet_min_ratio);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(invalid(
            "safety.complet_min_ratio",
            format!("{ratio}: expected 0 to 1"),
        ));
    }
    Ok(Safety {
        pupil: limits(&raw.pupil, people, "safety.pupil.max_departures_percent")?,
        parent: limits(&raw.parent, people, "safety.parent.max_departures_percent")?,
        staff: limits(&raw.staff, people, "safety.staff.max_departures_percent")?,
        structure: limits(
            &raw.structure,
            d.structure,
            "safety.structure.max_departures_percent",
        )?,
        percent_floor: raw.percent_floor.unwrap_or(d.percent_floor),
        school_year_percent: percent(
            raw.school_year_percent.unwrap_or(d.school_year_percent),
            "safety.school_year_percent",
        )?,
        complet_min_ratio: ratio,
        guard_floor: raw.guard_floor.unwrap_or(d.guard_floor),
        renames: Limits {
            max_count: raw.max_renames.unwrap_or(d.renames.max_count),
            max_percent: percent(
                raw.max_renames_percent.unwrap_or(d.renames.max_percent),
                "safety.max_renames_percent",
            )?,
        },
        max_modified_percent: percent(
            raw.max_modified_percent.unwrap_or(d.max_modified_percent),
            "safety.max_modified_percent",
        )?,
        group_deletions: Limits {
            max_count: raw
                .max_group_deletions
                .unwrap_or(d.group_deletions.max_count),
            max_percent: percent(
                raw.max_group_deletions_percent
                    .unwrap_or(d.group_deletions.max_percent),
                "safety.max_group_deletions_percent",
            )?,
        },
        group_additions: Limits {
            max_count: raw
                .max_group_additions
                .unwrap_or(d.group_additions.max_count),
            max_percent: percent(
                raw.max_group_additions_percent
                    .unwrap_or(d.group_additions.max_percent),
                "safety.max_group_additions_percent",
            )?,
        },
        max_additions_percent: {
            let v = raw.max_additions_percent.unwrap_or(d.max_additions_percent);
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    "safety.max_additions_percent",
                    format!("{v}: expected a percentage (may be above 100)"),
                ));
            }
            v
        },
        max_rejected_percent: percent(
            raw.max_rejected_percent.unwrap_or(d.max_rejected_percent),
            "safety.max_rejected_percent",
        )?,
    })
}
