//! RFC 3339 timestamps ↔ Unix seconds (Ollama's `created_at`, Anthropic's model list),
//! on the shared calendar arithmetic of [`gateway_protocol::calendar`].

use gateway_protocol::calendar::{self, Date, SECS_PER_DAY};

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn format_rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    String::from_utf8_lossy(&calendar::rfc3339_secs(secs)).into_owned()
}

/// Parses an RFC 3339 timestamp (fraction and offset allowed) into Unix seconds.
/// Times before 1970 or unreadable text give `None`.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> { s.get(from..to)?.parse().ok() };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = Date::new(i64::from(y), mo, d).to_days();
    let clock = i64::from(h * 3600 + mi * 60 + sec);
    u64::try_from(days * SECS_PER_DAY + clock - offset).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_760_000_000), "2025-10-09T08:53:20Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2025-10-09T08:53:20Z"), Some(1_760_000_000));
        assert_eq!(
            parse_rfc3339("2025-10-09T10:53:20.499127+02:00"),
            Some(1_760_000_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_rfc3339("2025-10-09T08:53:20.Z"), None);
    }

    #[test]
    fn round_trips_many_days() {
        for secs in (0..200_000u64).map(|i| i * 86_399 * 7) {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs));
        }
    }

    #[test]
    fn huge_values_do_not_panic() {
        let _ = format_rfc3339(u64::MAX);
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59-23:59").map(|_| ()),
            Some(())
        );
    }
}
