//! Where each limit of one key or project stands, for the operator (the admin API's
//! remaining amounts): what the window allows, what is used, what is left and when
//! it is whole again. Unlike [`LimitStatus`](super::LimitStatus), which keeps only
//! the tightest limits for an answer's headers, this lists every limit.

use super::{LimitKind, usd_to_micros};
use crate::policy::Limits;

/// The span a limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// A rolling minute (rpm, tpm).
    Minute,
    /// A rolling hour (rph).
    Hour,
    /// A rolling 24 hours (rpd).
    RollingDay,
    /// The UTC day.
    Day,
    /// The UTC calendar month.
    Month,
    /// The key's or project's whole life.
    Lifetime,
}

impl Window {
    /// `minute`, `hour`, `rolling_day`, `day`, `month` or `lifetime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::RollingDay => "rolling_day",
            Window::Day => "day",
            Window::Month => "month",
            Window::Lifetime => "lifetime",
        }
    }
}

impl LimitKind {
    /// Every limit, in the policy's order.
    pub const ALL: [LimitKind; 11] = [
        LimitKind::Rpm,
        LimitKind::Rph,
        LimitKind::Rpd,
        LimitKind::Tpm,
        LimitKind::DailyInputTokens,
        LimitKind::DailyOutputTokens,
        LimitKind::MonthlyInputTokens,
        LimitKind::MonthlyOutputTokens,
        LimitKind::DailyUsd,
        LimitKind::MonthlyUsd,
        LimitKind::TotalUsd,
    ];

    /// The span the limit counts over.
    pub fn window(self) -> Window {
        match self {
            LimitKind::Rpm | LimitKind::Tpm => Window::Minute,
            LimitKind::Rph => Window::Hour,
            LimitKind::Rpd => Window::RollingDay,
            LimitKind::DailyInputTokens | LimitKind::DailyOutputTokens | LimitKind::DailyUsd => {
                Window::Day
            }
            LimitKind::MonthlyInputTokens
            | LimitKind::MonthlyOutputTokens
            | LimitKind::MonthlyUsd => Window::Month,
            LimitKind::TotalUsd => Window::Lifetime,
        }
    }
}

/// Where one limit of a key or project stands, in [`LimitKind::unit`]s (requests,
/// tokens or micro-dollars).
///
/// Quotas and budgets are counted whether or not a limit is set (a limit set later
/// in the day sees the day's spending), so they are always reported; a rate is
/// reported only while it is set. `used` includes the estimates of requests still in
/// flight (reserved, not yet settled with their real usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitUsage {
    /// Which limit.
    pub kind: LimitKind,
    /// The limit's value; `None` when none is set.
    pub limit: Option<u64>,
    /// What the current window has used. For a rate, the part of the limit not yet
    /// refilled.
    pub used: u64,
    /// What is left (`limit - used`, never below 0); `None` without a limit.
    pub remaining: Option<u64>,
    /// When the window ends (a quota or budget) or the rate is whole again, Unix ms;
    /// `None` for the lifetime budget.
    pub resets_ms: Option<i64>,
}

/// `limits`' value of `kind` in its unit (dollars as micro-dollars); `None` if unset
/// (also for limiters kept outside this crate).
pub fn value_of(limits: &Limits, kind: LimitKind) -> Option<u64> {
    let usd = |v: Option<f64>| v.map(|u| u64::try_from(usd_to_micros(u)).unwrap_or(0));
    match kind {
        LimitKind::Rpm => limits.rpm.map(u64::from),
        LimitKind::Rph => limits.rph.map(u64::from),
        LimitKind::Rpd => limits.rpd.map(u64::from),
        LimitKind::Tpm => limits.tpm,
        LimitKind::DailyInputTokens => limits.daily_input_tokens,
        LimitKind::DailyOutputTokens => limits.daily_output_tokens,
        LimitKind::MonthlyInputTokens => limits.monthly_input_tokens,
        LimitKind::MonthlyOutputTokens => limits.monthly_output_tokens,
        LimitKind::DailyUsd => usd(limits.daily_usd),
        LimitKind::MonthlyUsd => usd(limits.monthly_usd),
        LimitKind::TotalUsd => usd(limits.total_usd),
    }
}
