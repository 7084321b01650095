//! The admission script's answer as gateway-auth's types: a [`Refused`] with the
//! retry delay MemoryLimiter would give, or where each limit stands, as the
//! [`LimitStatus`] of the answer's headers and the [`LimitUsage`] of the operator.

use gateway_auth::{
    Estimate, LimitKind, LimitStatus, LimitUsage, Limits, RateStatus, Refused, Scope,
};

use gateway_auth::limits::value_of;

use crate::error::StoreError;
use crate::keys::{Windows, amounts};

/// Numbers per subject in an admitted answer: (remaining, reset_ms) of the four
/// rates, then the seven counters' use.
const PER_SUBJECT: usize = 15;

/// Where one subject's limits stand, as the script reports them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Standing<'a> {
    numbers: &'a [i64],
}

impl Standing<'_> {
    fn rate(&self, i: usize) -> (u64, u64) {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        (n(self.numbers[2 * i]), n(self.numbers[2 * i + 1]))
    }

    fn used(&self, counter: usize) -> u64 {
        u64::try_from(self.numbers[8 + counter]).unwrap_or(0)
    }
}

/// The script's answer: refused, or the standings of each subject sent.
pub(crate) fn parse(
    reply: &[i64],
    subjects: usize,
) -> Result<Result<Vec<Standing<'_>>, RefusedAt>, StoreError> {
    match reply {
        [1, rest @ ..] if rest.len() == subjects * PER_SUBJECT => Ok(Ok(rest
            .chunks(PER_SUBJECT)
            .map(|numbers| Standing { numbers })
            .collect())),
        [0, subject, limit, remaining, wait_ms] => {
            let kind = usize::try_from(*limit)
                .ok()
                .and_then(|i| LimitKind::ALL.get(i).copied());
            match (kind, subject) {
                (Some(kind), 0 | 1) => Ok(Err(RefusedAt {
                    scope: if *subject == 0 {
                        Scope::Key
                    } else {
                        Scope::Project
                    },
                    kind,
                    remaining: u64::try_from(*remaining).unwrap_or(0),
                    wait_ms: u64::try_from(*wait_ms).ok(),
                })),
                _ => Err(StoreError::Reply(format!("{reply:?}"))),
            }
        }
        _ => Err(StoreError::Reply(format!("{reply:?}"))),
    }
}

/// A refusal as the script names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusedAt {
    scope: Scope,
    kind: LimitKind,
    remaining: u64,
    wait_ms: Option<u64>,
}

impl RefusedAt {
    /// Whose limit refused.
    pub(crate) fn scope(&self) -> Scope {
        self.scope
    }

    /// The refusal MemoryLimiter would give: rates retry once the units fit (never
    /// for a zero limit); quotas when their window ends, if the request fits an empty
    /// window; the lifetime budget never.
    pub(crate) fn refused(
        self,
        limits: &Limits,
        estimate: &Estimate,
        win: &Windows,
        now_ms: i64,
    ) -> Refused {
        let limit_value = value_of(limits, self.kind).unwrap_or(0);
        let retry_after_secs = if self.kind.is_rate() {
            self.wait_ms
                .filter(|_| limit_value > 0)
                .map(|ms| ms.div_ceil(1000).max(1))
        } else {
            let [input, output, money] = amounts(estimate).map(|a| u64::try_from(a).unwrap_or(0));
            let (amount, end) = match self.kind {
                LimitKind::DailyInputTokens => (input, Some(win.day_end_ms)),
                LimitKind::DailyOutputTokens => (output, Some(win.day_end_ms)),
                LimitKind::MonthlyInputTokens => (input, Some(win.month_end_ms)),
                LimitKind::MonthlyOutputTokens => (output, Some(win.month_end_ms)),
                LimitKind::DailyUsd => (money, Some(win.day_end_ms)),
                LimitKind::MonthlyUsd => (money, Some(win.month_end_ms)),
                _ => (money, None),
            };
            end.filter(|_| amount <= limit_value && limit_value > 0)
                .map(|end| {
                    u64::try_from((end - now_ms).max(1))
                        .unwrap_or(1)
                        .div_ceil(1000)
                })
        };
        Refused {
            limit: self.kind,
            scope: self.scope,
            retry_after_secs,
            limit_value,
            remaining: self.remaining,
            unavailable: false,
        }
    }
}

const RATES: [LimitKind; 4] = [
    LimitKind::Rpm,
    LimitKind::Rph,
    LimitKind::Rpd,
    LimitKind::Tpm,
];
const COUNTERS: [LimitKind; 7] = [
    LimitKind::DailyInputTokens,
    LimitKind::DailyOutputTokens,
    LimitKind::MonthlyInputTokens,
    LimitKind::MonthlyOutputTokens,
    LimitKind::DailyUsd,
    LimitKind::MonthlyUsd,
    LimitKind::TotalUsd,
];

fn window_end(kind: LimitKind, win: &Windows) -> Option<i64> {
    match kind {
        LimitKind::DailyInputTokens | LimitKind::DailyOutputTokens | LimitKind::DailyUsd => {
            Some(win.day_end_ms)
        }
        LimitKind::MonthlyInputTokens | LimitKind::MonthlyOutputTokens | LimitKind::MonthlyUsd => {
            Some(win.month_end_ms)
        }
        _ => None,
    }
}

impl Standing<'_> {
    /// Notes the set request and token limits into `status` (MemoryLimiter's
    /// `note_status`: a key's and its project's share one status, tightest wins).
    pub(crate) fn note(
        &self,
        limits: &Limits,
        win: &Windows,
        now_ms: i64,
        status: &mut LimitStatus,
    ) {
        for (i, kind) in RATES.into_iter().enumerate() {
            if let Some(limit) = value_of(limits, kind) {
                let (remaining, reset_ms) = self.rate(i);
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
        for (i, kind) in COUNTERS.into_iter().take(4).enumerate() {
            if let (Some(limit), Some(end)) = (value_of(limits, kind), window_end(kind, win)) {
                status.note(
                    kind,
                    RateStatus {
                        limit,
                        remaining: limit.saturating_sub(self.used(i)),
                        reset_ms: u64::try_from(end - now_ms).unwrap_or(0),
                    },
                );
            }
        }
    }

    /// Every limit's standing for the operator (MemoryLimiter's `usage`): the rates
    /// set, then all seven counters.
    pub(crate) fn usage(&self, limits: &Limits, win: &Windows, now_ms: i64) -> Vec<LimitUsage> {
        let mut out = Vec::with_capacity(LimitKind::ALL.len());
        for (i, kind) in RATES.into_iter().enumerate() {
            let Some(limit) = value_of(limits, kind) else {
                continue;
            };
            let (remaining, reset_ms) = self.rate(i);
            out.push(LimitUsage {
                kind,
                limit: Some(limit),
                used: limit.saturating_sub(remaining),
                remaining: Some(remaining),
                resets_ms: Some(now_ms.saturating_add(i64::try_from(reset_ms).unwrap_or(i64::MAX))),
            });
        }
        for (i, kind) in COUNTERS.into_iter().enumerate() {
            let used = self.used(i);
            let limit = value_of(limits, kind);
            out.push(LimitUsage {
                kind,
                limit,
                used,
                remaining: limit.map(|l| l.saturating_sub(used)),
                resets_ms: window_end(kind, win),
            });
        }
        out
    }
}
