//! Where one subject's limits stand, read from its [`State`]: the tightest request
//! and token limits for the rate-limit headers of an admitted request's answer, and
//! every limit for the operator.

use super::{DAY_US, HOUR_US, MINUTE_US, State};
use crate::limits::calendar::{DAY_MS, Windows};
use crate::limits::report::value_of;
use crate::limits::{LimitKind, LimitStatus, LimitUsage, RateStatus};
use crate::policy::Limits;

impl State {
    /// Notes in `status` where the set request and token limits stand at `now_ms` (a
    /// counter of a past window counts as empty): a key's and its project's go into
    /// the same status, each slot keeping the tighter.
    pub(super) fn note_status(
        &self,
        limits: &Limits,
        win: &Windows,
        now_ms: i64,
        status: &mut LimitStatus,
    ) {
        let now_us = now_ms.saturating_mul(1000);
        let rates = [
            (
                &self.rpm,
                LimitKind::Rpm,
                limits.rpm.map(u64::from),
                MINUTE_US,
            ),
            (
                &self.rph,
                LimitKind::Rph,
                limits.rph.map(u64::from),
                HOUR_US,
            ),
            (&self.rpd, LimitKind::Rpd, limits.rpd.map(u64::from), DAY_US),
            (&self.tpm, LimitKind::Tpm, limits.tpm, MINUTE_US),
        ];
        for (cell, kind, limit, period) in rates {
            if let Some(limit) = limit {
                let (remaining, reset_us) = cell.status(limit, period, now_us);
                let reset_ms = reset_us.div_ceil(1000);
                status.note(
                    kind,
                    RateStatus {
                        limit,
                        remaining,
                        reset_ms,
                    },
                );
            }
        }
        let token_quotas = [
            limits.daily_input_tokens,
            limits.daily_output_tokens,
            limits.monthly_input_tokens,
            limits.monthly_output_tokens,
        ];
        if token_quotas.iter().all(Option::is_none) {
            return;
        }
        let day_end = win.day_start_ms() + DAY_MS;
        // Calendar arithmetic only when a monthly quota needs it.
        let monthly = limits.monthly_input_tokens.or(limits.monthly_output_tokens);
        let month_end = monthly.map_or(0, |_| win.next_month_start_ms());
        let quotas = [
            (
                &self.day_in,
                LimitKind::DailyInputTokens,
                limits.daily_input_tokens,
                win.day,
                day_end,
            ),
            (
                &self.day_out,
                LimitKind::DailyOutputTokens,
                limits.daily_output_tokens,
                win.day,
                day_end,
            ),
            (
                &self.month_in,
                LimitKind::MonthlyInputTokens,
                limits.monthly_input_tokens,
                win.month,
                month_end,
            ),
            (
                &self.month_out,
                LimitKind::MonthlyOutputTokens,
                limits.monthly_output_tokens,
                win.month,
                month_end,
            ),
        ];
        for (counter, kind, limit, window, end_ms) in quotas {
            if let Some(limit) = limit {
                let used = if counter.window == window {
                    counter.used
                } else {
                    0
                };
                let reset_ms = u64::try_from(end_ms - now_ms).unwrap_or(0);
                let remaining = limit.saturating_sub(used);
                status.note(
                    kind,
                    RateStatus {
                        limit,
                        remaining,
                        reset_ms,
                    },
                );
            }
        }
    }
}

impl State {
    /// Every limit's standing at `now_ms` (see [`Limiter::usage`]): the rates set in
    /// `limits`, then the seven quota and budget counters (a counter of a past window
    /// counts as empty).
    ///
    /// [`Limiter::usage`]: crate::limits::Limiter::usage
    pub(super) fn usage(&self, limits: &Limits, win: &Windows, now_ms: i64) -> Vec<LimitUsage> {
        let now_us = now_ms.saturating_mul(1000);
        let mut out = Vec::with_capacity(LimitKind::ALL.len());
        for (cell, kind, period) in [
            (&self.rpm, LimitKind::Rpm, MINUTE_US),
            (&self.rph, LimitKind::Rph, HOUR_US),
            (&self.rpd, LimitKind::Rpd, DAY_US),
            (&self.tpm, LimitKind::Tpm, MINUTE_US),
        ] {
            let Some(limit) = value_of(limits, kind) else {
                continue;
            };
            let (remaining, reset_us) = cell.status(limit, period, now_us);
            let reset_ms = i64::try_from(reset_us.div_ceil(1000)).unwrap_or(i64::MAX);
            out.push(LimitUsage {
                kind,
                limit: Some(limit),
                used: limit.saturating_sub(remaining),
                remaining: Some(remaining),
                resets_ms: Some(now_ms.saturating_add(reset_ms)),
            });
        }
        let day_end = win.day_start_ms() + DAY_MS;
        let month_end = win.next_month_start_ms();
        for (counter, kind, window, end) in [
            (
                &self.day_in,
                LimitKind::DailyInputTokens,
                win.day,
                Some(day_end),
            ),
            (
                &self.day_out,
                LimitKind::DailyOutputTokens,
                win.day,
                Some(day_end),
            ),
            (
                &self.month_in,
                LimitKind::MonthlyInputTokens,
                win.month,
                Some(month_end),
            ),
            (
                &self.month_out,
                LimitKind::MonthlyOutputTokens,
                win.month,
                Some(month_end),
            ),
            (&self.day_usd, LimitKind::DailyUsd, win.day, Some(day_end)),
            (
                &self.month_usd,
                LimitKind::MonthlyUsd,
                win.month,
                Some(month_end),
            ),
            (&self.total_usd, LimitKind::TotalUsd, 0, None),
        ] {
            let used = if counter.window == window {
                counter.used
            } else {
                0
            };
            let limit = value_of(limits, kind);
            out.push(LimitUsage {
                kind,
                limit,
                used,
                remaining: limit.map(|l| l.saturating_sub(used)),
                resets_ms: end,
            });
        }
        out
    }
}
