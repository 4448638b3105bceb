//! The retention rules of each category: the grace after a departure, the
//! end-of-year bound, whether the account is disabled meanwhile, and the
//! school year.

use crate::schema::EntryKind;
use serde::Serialize;
use time::{Date, Duration, Month};

/// Retention of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Days between the departure and the deletion.
    pub grace_days: u32,
    /// Delete at the latest on 31 December of the departure year.
    pub end_of_year: bool,
    /// Until the deadline, the account cannot bind and is out of classes.
    pub disable: bool,
}

impl Rule {
    /// The date from which the departed entry is deleted.
    pub fn deadline(&self, departure: Date) -> Date {
        let by_grace = departure
            .checked_add(Duration::days(self.grace_days.into()))
            .unwrap_or(Date::MAX);
        if self.end_of_year {
            let dec31 =
                Date::from_calendar_date(departure.year(), Month::December, 31).unwrap_or(by_grace);
            by_grace.min(dec31)
        } else {
            by_grace
        }
    }
}

/// The rules of every category, and the school-year start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub pupil: Rule,
    pub parent: Rule,
    pub staff: Rule,
    /// Month and day the school year starts (classes are rebuilt from the
    /// first Complet on or after it).
    pub school_year_start: (Month, u8),
    /// Disabled people wait for their deadline under the departed branch
    /// (`ou=departed`), where the ENT's login lookups of `ou=people` do not
    /// find them; they come back to the same DN on their return.
    pub move_departed: bool,
}

impl Default for Rules {
    /// The conventions' defaults: staff are not kept beyond their departure;
    /// pupils and their parents are kept, disabled, until the earlier of
    /// 31 December of the departure year and departure + 90 days.
    fn default() -> Self {
        let family = Rule {
            grace_days: 90,
            end_of_year: true,
            disable: true,
        };
        Rules {
            pupil: family,
            parent: family,
            staff: Rule {
                grace_days: 0,
                end_of_year: false,
                disable: true,
            },
            school_year_start: (Month::September, 1),
            move_departed: true,
        }
    }
}

impl Rules {
    pub fn for_kind(&self, kind: EntryKind) -> Option<&Rule> {
        match kind {
            EntryKind::Pupil => Some(&self.pupil),
            EntryKind::Parent => Some(&self.parent),
            EntryKind::Staff => Some(&self.staff),
            _ => None,
        }
    }

    /// The school year of a date, named by its first calendar year
    /// (2026 for 2026-2027).
    pub fn school_year(&self, d: Date) -> i32 {
        let (m, day) = self.school_year_start;
        if (u8::from(d.month()), d.day()) >= (u8::from(m), day) {
            d.year()
        } else {
            d.year() - 1
        }
    }
}
