//! UTC days and calendar months as quota window ids, on the shared calendar
//! arithmetic of [`gateway_protocol::calendar`].

use gateway_protocol::calendar::{self, Date};

/// Milliseconds in a UTC day (no leap seconds in Unix time).
pub(crate) const DAY_MS: i64 = calendar::MS_PER_DAY;

/// The quota windows a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    /// Days since 1970-01-01.
    pub day: i64,
    /// `year * 12 + month - 1` ([`Date::month_number`]).
    pub month: i64,
}

impl Windows {
    pub(crate) fn at(now_ms: i64) -> Windows {
        let day = now_ms.div_euclid(DAY_MS);
        Windows {
            day,
            month: Date::from_days(day).month_number(),
        }
    }

    /// Start of the day, Unix ms.
    pub(crate) fn day_start_ms(&self) -> i64 {
        self.day * DAY_MS
    }

    /// Start of the month, Unix ms.
    pub(crate) fn month_start_ms(&self) -> i64 {
        month_start_ms(self.month)
    }

    /// Start of the next month, Unix ms.
    pub(crate) fn next_month_start_ms(&self) -> i64 {
        month_start_ms(self.month + 1)
    }
}

/// The starts (Unix ms) of the UTC day and month `now_ms` falls in: the quota and
/// budget windows, as [`crate::usage::UsageReader::spent`] takes them.
pub fn window_starts(now_ms: i64) -> (i64, i64) {
    let win = Windows::at(now_ms);
    (win.day_start_ms(), win.month_start_ms())
}

fn month_start_ms(month: i64) -> i64 {
    Date::first_of_month(month).to_days() * DAY_MS
}

/// `ms` (Unix milliseconds) as an ISO 8601 UTC time, `2026-11-23T16:20:05.123Z`.
pub fn iso_utc(ms: i64) -> String {
    let (Date { year, month, day }, in_day) = calendar::split_unix_ms(ms);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
        Date::new(y, m, d).to_days()
    }

    #[test]
    fn iso_times_are_utc_with_milliseconds() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_utc(951_782_400_000 + 3_723_004),
            "2000-02-29T01:02:03.004Z"
        );
    }

    #[test]
    fn windows_change_at_utc_midnight_and_on_the_first_of_the_month() {
        // 2024-01-31T23:59:59.999Z and a millisecond later.
        let before = days_from_civil(2024, 2, 1) * DAY_MS - 1;
        let (a, b) = (Windows::at(before), Windows::at(before + 1));
        assert_eq!(b.day, a.day + 1);
        assert_eq!(b.month, a.month + 1);
        assert_eq!(b.month_start_ms(), before + 1);
        assert_eq!(a.next_month_start_ms(), before + 1);
        assert_eq!(b.day_start_ms(), before + 1);
        // December rolls into January of the next year.
        let dec = Windows::at(days_from_civil(2023, 12, 15) * DAY_MS);
        assert_eq!(
            dec.next_month_start_ms(),
            days_from_civil(2024, 1, 1) * DAY_MS
        );
    }
}
