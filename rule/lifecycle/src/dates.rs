//! Calendar dates as the rule uses them: strict `YYYY-MM-DD`, UTC days.

use jiff::Timestamp;
use jiff::civil::Date;

/// Parses a strict `YYYY-MM-DD` date (no time, no offset, no other digits count), rejecting
/// impossible days such as 2026-02-30.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return Err(format!("{:?} is not a YYYY-MM-DD date", shorten(text, 40)));
    }
    text.parse::<Date>()
        .map_err(|_| format!("{text:?} is not a calendar date"))
}

/// A timestamp as Lambda and Config write them: `2026-03-01T10:00:00.000+0000` (Lambda's
/// lastModified) or RFC 3339 (`...Z`, `...+00:00`).
pub fn parse_lambda_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse::<Timestamp>().ok().or_else(|| {
        jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", text)
            .ok()?
            .to_timestamp()
            .ok()
    })
}

/// The UTC calendar day of a timestamp in a form [`parse_lambda_timestamp`] reads.
pub fn utc_day_of_timestamp(text: &str) -> Option<Date> {
    let timestamp = parse_lambda_timestamp(text)?;
    Some(jiff::tz::Offset::UTC.to_datetime(timestamp).date())
}

/// Whole days from `earlier` to `later` (negative when `later` is before `earlier`).
pub fn days_between(earlier: Date, later: Date) -> i64 {
    // Both are civil dates; the span in days is exact and cannot overflow for jiff's date range.
    earlier
        .until(later)
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(0)
}

/// `date` moved by `days` (negative: back), saturating at jiff's calendar limits.
pub fn add_days(date: Date, days: i64) -> Date {
    let limit = if days < 0 { Date::MIN } else { Date::MAX };
    // try_days, not days(): the panicking conversion must never see a value from input.
    match jiff::Span::new().try_days(days) {
        Ok(span) => date.checked_add(span).unwrap_or(limit),
        Err(_) => limit,
    }
}

/// Today's UTC date.
pub fn today_utc() -> Date {
    jiff::tz::Offset::UTC.to_datetime(Timestamp::now()).date()
}

/// At most `max` characters of `text`, for messages that quote input.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn strict_dates() {
        assert_eq!(parse_date("2027-02-01"), Ok(date(2027, 2, 1)));
        assert_eq!(parse_date("2028-02-29"), Ok(date(2028, 2, 29)));
        for bad in [
            "2027-2-1",
            "2026-02-30",
            "2027-13-01",
            "2027/02/01",
            "20270201",
            "2027-02-01T00:00:00Z",
            " 2027-02-01",
            "",
            "tomorrow",
            "+02027-02-01",
            "2027-02-1a",
            "2027-00-10",
            "0000-00-00",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn lambda_and_config_timestamps() {
        assert_eq!(
            utc_day_of_timestamp("2026-03-01T10:00:00.000+0000"),
            Some(date(2026, 3, 1))
        );
        assert_eq!(
            utc_day_of_timestamp("2026-03-01T23:30:00.000-0200"),
            Some(date(2026, 3, 2))
        );
        assert_eq!(
            utc_day_of_timestamp("2026-03-01T10:00:00Z"),
            Some(date(2026, 3, 1))
        );
        assert_eq!(
            utc_day_of_timestamp("2026-03-01T10:00:00.123+00:00"),
            Some(date(2026, 3, 1))
        );
        assert_eq!(utc_day_of_timestamp("2026-03-01"), None);
        assert_eq!(utc_day_of_timestamp("garbage"), None);
    }

    #[test]
    fn day_arithmetic() {
        assert_eq!(days_between(date(2026, 11, 22), date(2027, 3, 3)), 101);
        assert_eq!(days_between(date(2027, 3, 3), date(2026, 11, 22)), -101);
        assert_eq!(add_days(date(2027, 3, 3), -101), date(2026, 11, 22));
        assert_eq!(add_days(date(2027, 3, 3), i64::MAX), Date::MAX);
        assert_eq!(add_days(date(2027, 3, 3), i64::MIN), Date::MIN);
    }
}
