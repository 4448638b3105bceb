//! The date and time formats of the directory, the reports and the files,
//! in one place: GeneralizedTime (`YYYYMMDDHHMMSSZ`, what LDAP stores),
//! ISO dates (`YYYY-MM-DD`, reports and journal file names) and RFC 3339
//! (times in reports, approvals and certificates).
//!
//! No clock here: the caller passes the time (the pure core takes the run
//! date as a parameter; the edges read `OffsetDateTime::now_utc()`).

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

/// `YYYYMMDD000000Z` (GeneralizedTime of a date).
pub fn generalized_date(d: Date) -> String {
    format!(
        "{:04}{:02}{:02}000000Z",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// `YYYYMMDD…Z` → the date (the time of day, if any, is not read).
pub fn parse_generalized_date(v: &str) -> Option<Date> {
    let y: i32 = v.get(0..4)?.parse().ok()?;
    let m: u8 = v.get(4..6)?.parse().ok()?;
    let d: u8 = v.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// `YYYYMMDDHHMMSS[.fraction]Z` → the time, the fraction of a second
/// dropped; `None` for anything else.
pub fn parse_generalized_time(v: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let digits = v.strip_suffix('Z')?;
    let whole = digits.split(['.', ',']).next().unwrap_or(digits);
    PrimitiveDateTime::parse(whole, &fmt)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// `YYYYMMDDHHMMSSZ` of a time, to the second (the run lock's times);
/// empty should the time not be representable (a year beyond 9999), as
/// the lock did before.
pub fn generalized_time(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// Exactly `YYYYMMDDHHMMSSZ` (what [`generalized_time`] writes) → the
/// time; unlike [`parse_generalized_time`], no fraction is accepted.
pub fn parse_generalized_seconds(v: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    PrimitiveDateTime::parse(v, &fmt)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// `YYYY-MM-DD` or an RFC 3339 time (its date part): the `--now` of the
/// command line. The error is the RFC 3339 parser's (the command line
/// shows it under its own message).
pub fn parse_date_or_rfc3339(s: &str) -> Result<Date, time::error::Parse> {
    match parse_date(s) {
        Some(d) => Ok(d),
        None => OffsetDateTime::parse(s, &Rfc3339).map(OffsetDateTime::date),
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `YYYY-MM-DD` → the date.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// RFC 3339 of a time (`2026-12-03T05:25:00Z`); empty should the time not
/// be representable (a year beyond 9999), as every caller did before.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An RFC 3339 time → the time.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn generalized_dates_round_trip() {
        let d = date!(2026 - 03 - 09);
        assert_eq!(generalized_date(d), "20260309000000Z");
        assert_eq!(parse_generalized_date("20260309000000Z"), Some(d));
        assert_eq!(parse_generalized_date("20260309"), Some(d));
        assert_eq!(parse_generalized_date("2026-03-09"), None);
        assert_eq!(parse_generalized_date("20261309000000Z"), None);
    }

    #[test]
    fn generalized_times_drop_the_fraction() {
        let t = datetime!(2026-12-03 05:25:07 UTC);
        assert_eq!(parse_generalized_time("20261203052507Z"), Some(t));
        assert_eq!(parse_generalized_time("20261203052507.123456Z"), Some(t));
        assert_eq!(parse_generalized_time("20261203052507"), None);
    }

    #[test]
    fn generalized_seconds_as_the_lock_writes_them() {
        let t = datetime!(2026-12-03 05:25:07 UTC);
        assert_eq!(generalized_time(t), "20261203052507Z");
        assert_eq!(parse_generalized_seconds("20261203052507Z"), Some(t));
        assert_eq!(parse_generalized_seconds("20261203052507.5Z"), None);
        assert_eq!(parse_generalized_seconds("20261203052507"), None);
        let paris = datetime!(2026-12-03 06:25:07 +1);
        assert_eq!(generalized_time(paris), "20261203052507Z");
    }

    #[test]
    fn now_is_a_date_or_an_rfc3339_time() {
        let d = date!(2026 - 12 - 03);
        assert_eq!(parse_date_or_rfc3339("2026-12-03").ok(), Some(d));
        assert_eq!(
            parse_date_or_rfc3339("2026-12-03T23:00:00+01:00").ok(),
            Some(d)
        );
        assert!(parse_date_or_rfc3339("20261203").is_err());
    }

    #[test]
    fn iso_and_rfc3339() {
        let d = date!(2024 - 09 - 16);
        assert_eq!(format_date(d), "2024-09-16");
        assert_eq!(parse_date("2024-09-16"), Some(d));
        assert_eq!(parse_date("20240916"), None);
        let t = datetime!(2026-12-03 05:25:00 UTC);
        assert_eq!(rfc3339(t), "2026-12-03T05:25:00Z");
        assert_eq!(parse_rfc3339("2026-12-03T05:25:00Z"), Some(t));
    }
}
