//! Redis key names and script arguments of one admission: four keys per subject (its
//! rates, this UTC day's and this month's counters, the lifetime spend) under the
//! configured prefix, and the limits in [`LimitKind::ALL`]'s order.

use gateway_auth::limits::value_of;
use gateway_auth::{Estimate, LimitKind, Limits, Scope};
use gateway_protocol::calendar::{Date, MS_PER_DAY};

/// Lua numbers are doubles: integers are exact below 2^53. Limits and amounts are
/// clamped to it (9 × 10^15 tokens or micro-dollars: no real limit comes near).
pub(crate) const LUA_MAX: u64 = (1 << 53) - 1;

/// The UTC day and calendar month of a moment, with their ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    pub day: i64,
    pub month: i64,
    pub day_end_ms: i64,
    pub month_end_ms: i64,
}

impl Windows {
    pub(crate) fn at(now_ms: i64) -> Windows {
        let day = now_ms.div_euclid(MS_PER_DAY);
        let month = Date::from_days(day).month_number();
        Windows {
            day,
            month,
            day_end_ms: (day + 1) * MS_PER_DAY,
            month_end_ms: Date::first_of_month(month + 1).to_days() * MS_PER_DAY,
        }
    }
}

/// One key's or project's keys.
#[derive(Debug, Clone)]
pub(crate) struct SubjectKeys {
    base: String,
}

impl SubjectKeys {
    pub(crate) fn new(prefix: &str, scope: Scope, id: &str) -> SubjectKeys {
        let tag = match scope {
            Scope::Key => 'k',
            Scope::Project => 'p',
        };
        SubjectKeys {
            base: format!("{prefix}{tag}:{id}"),
        }
    }

    pub(crate) fn rates(&self) -> String {
        format!("{}:rate", self.base)
    }

    pub(crate) fn day(&self, day: i64) -> String {
        format!("{}:d:{day}", self.base)
    }

    pub(crate) fn month(&self, month: i64) -> String {
        format!("{}:m:{month}", self.base)
    }

    pub(crate) fn total(&self) -> String {
        format!("{}:total", self.base)
    }
}

/// The 11 limits of `limits` as script arguments: -1 when unset.
pub(crate) fn limit_args(limits: &Limits) -> [i64; 11] {
    LimitKind::ALL.map(|kind| value_of(limits, kind).map_or(-1, lua_int))
}

/// An amount as a script argument.
pub(crate) fn lua_int(v: u64) -> i64 {
    // LUA_MAX fits i64.
    i64::try_from(v.min(LUA_MAX)).unwrap_or(0)
}

/// The amounts of an estimate as the script counts them: input, output, money.
pub(crate) fn amounts(e: &Estimate) -> [i64; 3] {
    [
        lua_int(e.input_tokens),
        lua_int(e.output_tokens),
        // Unknown cost charges nothing, as in MemoryLimiter.
        e.cost_micros.map_or(0, |c| c.clamp(0, LUA_MAX as i64)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_at_utc_midnight_and_the_first_of_next_month() {
        // 2024-12-31T12:00:00Z.
        let now = Date::new(2024, 12, 31).to_days() * MS_PER_DAY + 43_200_000;
        let w = Windows::at(now);
        let jan1 = Date::new(2025, 1, 1).to_days() * MS_PER_DAY;
        assert_eq!((w.day_end_ms, w.month_end_ms), (jan1, jan1));
        assert_eq!(Windows::at(jan1).month, w.month + 1);
    }

    #[test]
    fn keys_and_projects_never_share_a_redis_key() {
        let k = SubjectKeys::new("pb:", Scope::Key, "x");
        let p = SubjectKeys::new("pb:", Scope::Project, "x");
        assert_ne!(k.rates(), p.rates());
        assert_eq!(k.day(3), "pb:k:x:d:3");
    }

    #[test]
    fn limits_beyond_what_lua_counts_exactly_are_clamped() {
        let limits = Limits {
            tpm: Some(u64::MAX),
            daily_usd: Some(2.5),
            ..Limits::default()
        };
        let args = limit_args(&limits);
        assert_eq!(args[0], -1);
        assert_eq!(args[3], LUA_MAX as i64);
        assert_eq!(args[8], 2_500_000);
    }
}
