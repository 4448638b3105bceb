//! The `[retention]` section: per category, how long a departed person is
//! kept and whether they are disabled, and when the school year starts.

use super::{invalid, ConfigError};
use crate::retention::{Rule, Rules};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    /// `MM-DD`.
    school_year_start: Option<String>,
    /// Move disabled people under `ou=departed` (default true).
    departed_branch: Option<bool>,
    #[serde(default)]
    pupil: RawRule,
    #[serde(default)]
    parent: RawRule,
    #[serde(default)]
    staff: RawRule,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    grace_days: Option<u32>,
    end_of_year: Option<bool>,
    disable: Option<bool>,
}

/// Longest grace accepted: a year. Anything longer is a typo, and keeping a
/// departed person's data longer would break the conventions (spec §7).
const MAX_GRACE_DAYS: u32 = 366;

fn rule(raw: &RawRule, default: Rule, key: &'static str) -> Result<Rule, ConfigError> {
    let grace_days = raw.grace_days.unwrap_or(default.grace_days);
    if grace_days > MAX_GRACE_DAYS {
        return Err(invalid(
            key,
            format!("grace_days {grace_days} is more than {MAX_GRACE_DAYS}"),
        ));
    }
    Ok(Rule {
        grace_days,
        end_of_year: raw.end_of_year.unwrap_or(default.end_of_year),
        disable: raw.disable.unwrap_or(default.disable),
    })
}

/// The validated `[retention]` section, defaults where not set.
pub(super) fn rules(raw: &RawRetention) -> Result<Rules, ConfigError> {
    let d = Rules::default();
    let school_year_start = match &raw.school_year_start {
        None => d.school_year_start,
        Some(s) => {
            let bad = || {
                invalid(
                    "retention.school_year_start",
                    format!("{s:?}: expected MM-DD"),
                )
            };
            let (m, day) = s.trim().split_once('-').ok_or_else(bad)?;
            let m: u8 = m.parse().map_err(|_| bad())?;
            let day: u8 = day.parse().map_err(|_| bad())?;
            let month = time::Month::try_from(m).map_err(|_| bad())?;
            // a day every year has (no 29 February)
            time::Date::from_calendar_date(2025, month, day).map_err(|_| bad())?;
            (month, day)
        }
    };
    Ok(Rules {
        pupil: rule(&raw.pupil, d.pupil, "retention.pupil")?,
        parent: rule(&raw.parent, d.parent, "retention.parent")?,
        staff: rule(&raw.staff, d.staff, "retention.staff")?,
        school_year_start,
        move_departed: raw.departed_branch.unwrap_or(d.move_departed),
    })
}
