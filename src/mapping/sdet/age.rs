//! `ENTEleveMajeur`, which the deployed SDET makes a MUST of `ENTEleve` and
//! AAF does not carry: filled from the birth date at the run date, so it
//! changes with the date alone (a targeted Delta looks for the pupils come
//! of age, see `mapping::scope`).

use crate::model::Entry;
use crate::schema::EntryKind;

/// `O` or `N`: 18 or more at `today` from a `dd/mm/yyyy` birth date.
pub fn majority(birth: Option<&str>, today: time::Date) -> &'static str {
    let Some(b) = birth else { return "N" };
    let p: Vec<&str> = b.trim().split('/').collect();
    let (Some(d), Some(m), Some(y)) = (
        p.first().and_then(|x| x.parse::<u8>().ok()),
        p.get(1).and_then(|x| x.parse::<u8>().ok()),
        p.get(2).and_then(|x| x.parse::<i32>().ok()),
    ) else {
        return "N";
    };
    let Ok(month) = time::Month::try_from(m) else {
        return "N";
    };
    // 18 full years: a year difference over 18, or 18 and the birthday past
    let adult =
        (today.year() - y, u8::from(today.month()), today.day()) >= (18, u8::from(month), d);
    if adult {
        "O"
    } else {
        "N"
    }
}

/// A managed pupil whose `ENTEleveMajeur`, as filled, is not what the
/// birth date gives at `today` (they came of age since it was written).
pub fn majority_changed(e: &Entry, today: time::Date) -> bool {
    EntryKind::of(e) == Some(EntryKind::Pupil)
        && !crate::schema::State::of(e).departed()
        && e.first("ENTEleveMajeur") != Some(majority(e.first("ENTPersonDateNaissance"), today))
}

/// The ways a birth date may be written (`dd/mm/yyyy`, and without the
/// leading zeros), for the dates from `from` to `to`: the pupils who may
/// have come of age between the two run dates are born on those days, 18
/// years before (a day of margin each side).
pub fn births_coming_of_age(from: time::Date, to: time::Date) -> Vec<String> {
    let back = |d: time::Date| {
        let y = d.year() - 18;
        time::Date::from_calendar_date(y, d.month(), d.day())
            .or_else(|_| time::Date::from_calendar_date(y, d.month(), 28))
            .ok()
    };
    let (Some(mut d), Some(end)) = (
        back(from).and_then(|d| d.previous_day()),
        back(to).and_then(|d| d.next_day()),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while d <= end {
        let (dd, mm, y) = (d.day(), u8::from(d.month()), d.year());
        for (a, b) in [(2, 2), (1, 1), (1, 2), (2, 1)] {
            out.push(format!("{dd:0a$}/{mm:0b$}/{y}"));
        }
        let Some(next) = d.next_day() else { break };
        d = next;
    }
    out.dedup();
    out
}
