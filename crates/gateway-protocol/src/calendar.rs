//! UTC calendar arithmetic without a date crate: days since 1970-01-01 ↔ proleptic
//! Gregorian dates, month numbers for calendar-month windows, and the English month
//! abbreviations of HTTP dates.
//!
//! The conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`
//! ("chrono-Compatible Low-Level Date Algorithms"), exact for every date whose day
//! count fits comfortably in an `i64` (years within about ±25 trillion). Unix time has
//! no leap seconds, so a day is always [`SECS_PER_DAY`] seconds. Callers that read
//! years from untrusted text should bound them first (four digits is what every
//! format here uses).

/// Seconds in a UTC day.
pub const SECS_PER_DAY: i64 = 86_400;

/// Milliseconds in a UTC day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A date of the proleptic Gregorian calendar.
///
/// Fields are not validated: [`Date::to_days`] of `2025-02-30` is the day count of
/// `2025-03-02`, as `mktime` would normalise it. [`Date::is_valid`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, astronomical numbering (year 0 is 1 BC).
    pub year: i64,
    /// Month, 1 (January) to 12.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
}

impl Date {
    /// The date `year-month-day`.
    pub const fn new(year: i64, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    /// The date `days` days after 1970-01-01 (negative: before it).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468; // days since 0000-03-01
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097; // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
        let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Date {
            year: yoe + era * 400 + i64::from(month <= 2),
            // Both are in range by construction ([1, 12] and [1, 31]).
            month: month as u32,
            day: day as u32,
        }
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn to_days(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400; // [0, 399]
        let mp = (m + 9) % 12; // March = 0
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The month as one running number, `year * 12 + month - 1`: consecutive months
    /// have consecutive numbers (December 2023 + 1 is January 2024).
    pub fn month_number(self) -> i64 {
        self.year * 12 + i64::from(self.month) - 1
    }

    /// The first day of the month numbered `n` (see [`Date::month_number`]).
    pub fn first_of_month(n: i64) -> Date {
        // rem_euclid(12) is in [0, 11].
        Date::new(n.div_euclid(12), n.rem_euclid(12) as u32 + 1, 1)
    }

    /// True when the month is 1..=12 and the day exists in that month.
    pub fn is_valid(self) -> bool {
        self.day >= 1 && self.day <= days_in_month(self.year, self.month)
    }
}

/// True for Gregorian leap years: divisible by 4, except centuries not divisible by
/// 400 (2000 is one, 1900 and 2100 are not).
pub const fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`; 0 for a month outside 1..=12.
pub const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Splits Unix seconds into the UTC date and the seconds into that day (0..86_400).
pub fn split_unix_secs(secs: i64) -> (Date, i64) {
    (
        Date::from_days(secs.div_euclid(SECS_PER_DAY)),
        secs.rem_euclid(SECS_PER_DAY),
    )
}

/// Splits Unix milliseconds into the UTC date and the milliseconds into that day
/// (0..86_400_000).
pub fn split_unix_ms(ms: i64) -> (Date, i64) {
    (
        Date::from_days(ms.div_euclid(MS_PER_DAY)),
        ms.rem_euclid(MS_PER_DAY),
    )
}

/// `ms` (Unix milliseconds) as an RFC 3339 UTC time with milliseconds,
/// `2026-11-23T16:20:06.123Z`, written into a fixed buffer (no allocation: access
/// log lines and response headers write these per request).
pub fn rfc3339_millis(ms: i64) -> [u8; 24] {
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let (date, in_day) = split_unix_ms(ms);
    write_date_time(&mut out, date, in_day / 1000);
    write_digits(&mut out[20..23], in_day % 1000);
    out
}

/// `secs` (Unix seconds) as an RFC 3339 UTC time without fraction,
/// `2026-11-23T16:20:06Z`.
pub fn rfc3339_secs(secs: i64) -> [u8; 20] {
    let mut out = *b"0000-00-00T00:00:00Z";
    let (date, in_day) = split_unix_secs(secs);
    write_date_time(&mut out, date, in_day);
    out
}

/// Fills `YYYY-MM-DDTHH:MM:SS` at the start of `out` (years past four digits keep
/// their last four).
fn write_date_time(out: &mut [u8], date: Date, secs_in_day: i64) {
    write_digits(&mut out[0..4], date.year);
    write_digits(&mut out[5..7], i64::from(date.month));
    write_digits(&mut out[8..10], i64::from(date.day));
    write_digits(&mut out[11..13], secs_in_day / 3600);
    write_digits(&mut out[14..16], secs_in_day / 60 % 60);
    write_digits(&mut out[17..19], secs_in_day % 60);
}

/// `n`'s last `out.len()` decimal digits, zero-padded.
fn write_digits(out: &mut [u8], mut n: i64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + n.rem_euclid(10) as u8;
        n = n.div_euclid(10);
    }
}

/// The month number (1..=12) of an English three-letter abbreviation as HTTP dates
/// write it (`Jan` … `Dec`, case-sensitive as RFC 9110 requires).
pub fn month_from_abbrev(name: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let i = NAMES.iter().position(|&n| n == name)?;
    u32::try_from(i + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(Date::from_days(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_days(-1), Date::new(1969, 12, 31));
        assert_eq!(Date::new(2000, 3, 1).to_days(), 11_017);
        assert_eq!(Date::from_days(19_782), Date::new(2024, 2, 29));
        assert_eq!(Date::new(1600, 1, 1).to_days(), -135_140);
        assert_eq!(Date::from_days(-719_468), Date::new(0, 3, 1));
    }

    #[test]
    fn days_round_trip_across_leap_years_and_centuries() {
        for day in -800_000..800_000 {
            let date = Date::from_days(day);
            assert!(date.is_valid(), "{date:?}");
            assert_eq!(date.to_days(), day, "{date:?}");
        }
    }

    #[test]
    fn consecutive_days_walk_every_month_to_its_last_day() {
        // From 1599-01-01 to 2401-12-31: every month end, leap day and century.
        let mut prev = Date::new(1598, 12, 31);
        for day in Date::new(1599, 1, 1).to_days()..=Date::new(2401, 12, 31).to_days() {
            let date = Date::from_days(day);
            if date.day == 1 {
                assert_eq!(prev.day, days_in_month(prev.year, prev.month), "{prev:?}");
                assert_eq!(date.month_number(), prev.month_number() + 1);
            } else {
                assert_eq!((date.year, date.month), (prev.year, prev.month));
                assert_eq!(date.day, prev.day + 1);
            }
            prev = date;
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        for (year, leap) in [
            (2024, true),
            (2023, false),
            (2000, true),
            (1900, false),
            (2100, false),
            (2400, true),
            (0, true),
            (-4, true),
            (-100, false),
        ] {
            assert_eq!(is_leap_year(year), leap, "{year}");
            let feb = if leap { 29 } else { 28 };
            assert_eq!(days_in_month(year, 2), feb, "{year}");
            let march_first = Date::new(year, 3, 1).to_days();
            assert_eq!(Date::from_days(march_first - 1), Date::new(year, 2, feb));
        }
        assert!(!Date::new(2023, 2, 29).is_valid());
        assert!(Date::new(2024, 2, 29).is_valid());
        assert!(!Date::new(2024, 4, 31).is_valid());
        assert!(!Date::new(2024, 13, 1).is_valid());
        assert!(!Date::new(2024, 1, 0).is_valid());
    }

    #[test]
    fn out_of_range_days_normalise_into_the_next_month() {
        assert_eq!(
            Date::new(2025, 2, 30).to_days(),
            Date::new(2025, 3, 2).to_days()
        );
        assert_eq!(
            Date::new(2024, 2, 30).to_days(),
            Date::new(2024, 3, 1).to_days()
        );
    }

    #[test]
    fn month_numbers_roll_over_the_year() {
        let dec = Date::new(2023, 12, 15);
        assert_eq!(dec.month_number(), 2023 * 12 + 11);
        assert_eq!(
            Date::first_of_month(dec.month_number() + 1),
            Date::new(2024, 1, 1)
        );
        assert_eq!(
            Date::first_of_month(Date::new(2024, 1, 31).month_number() - 1),
            Date::new(2023, 12, 1)
        );
        assert_eq!(Date::first_of_month(-1), Date::new(-1, 12, 1));
    }

    #[test]
    fn unix_times_split_at_utc_midnight() {
        assert_eq!(&rfc3339_secs(0), b"1970-01-01T00:00:00Z");
        assert_eq!(&rfc3339_secs(951_782_400 + 3_723), b"2000-02-29T01:02:03Z");
        assert_eq!(
            &rfc3339_millis(1_709_210_096_789),
            b"2024-02-29T12:34:56.789Z"
        );
        assert_eq!(&rfc3339_millis(-1), b"1969-12-31T23:59:59.999Z");
        assert_eq!(split_unix_secs(0), (Date::new(1970, 1, 1), 0));
        assert_eq!(split_unix_secs(-1), (Date::new(1969, 12, 31), 86_399));
        assert_eq!(
            split_unix_secs(951_782_400 + 3_723),
            (Date::new(2000, 2, 29), 3_723)
        );
        // 2024-01-31T23:59:59.999Z and a millisecond later.
        let feb = Date::new(2024, 2, 1).to_days() * MS_PER_DAY;
        assert_eq!(
            split_unix_ms(feb - 1),
            (Date::new(2024, 1, 31), MS_PER_DAY - 1)
        );
        assert_eq!(split_unix_ms(feb), (Date::new(2024, 2, 1), 0));
    }

    #[test]
    fn month_abbreviations() {
        assert_eq!(month_from_abbrev("Jan"), Some(1));
        assert_eq!(month_from_abbrev("Nov"), Some(11));
        assert_eq!(month_from_abbrev("Dec"), Some(12));
        assert_eq!(month_from_abbrev("dec"), None);
        assert_eq!(month_from_abbrev("December"), None);
        assert_eq!(month_from_abbrev(""), None);
    }
}
