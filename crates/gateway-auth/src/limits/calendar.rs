//! UTC days and calendar months as window ids, without a date crate (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`, exact for the proleptic Gregorian calendar).

/// Milliseconds in a UTC day (no leap seconds in Unix time).
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The quota windows a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    /// Days since 1970-01-01.
    pub day: i64,
    /// `year * 12 + month - 1`.
    pub month: i64,
}

impl Windows {
    pub(crate) fn at(now_ms: i64) -> Windows {
        let day = now_ms.div_euclid(DAY_MS);
        let (y, m, _) = civil_from_days(day);
        Windows {
            day,
            month: y * 12 + m - 1,
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

fn month_start_ms(month: i64) -> i64 {
    days_from_civil(month.div_euclid(12), month.rem_euclid(12) + 1, 1) * DAY_MS
}

/// `ms` (Unix milliseconds) as an ISO 8601 UTC time, `2026-11-23T16:20:05.123Z`.
pub fn iso_utc(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 of `y-m-d` (month 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month 1..=12, day 1..=31)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_are_utc_with_milliseconds() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_utc(951_782_400_000 + 3_723_004),
            "2000-02-29T01:02:03.004Z"
        );
    }

    #[test]
    fn civil_dates_round_trip_across_leap_years_and_centuries() {
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2024-02-29 is day 19782.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
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
