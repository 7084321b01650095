//! The generic cell rate algorithm in exact integers.
//!
//! A limit of `L` units per period `P` spends `P / L` of time per unit. To stay exact
//! when `L` does not divide `P`, time is kept scaled by `L`: the theoretical arrival
//! time `tat` is in µs × L, so one unit is exactly `P` (µs) scaled units and the burst
//! tolerance is `P × L`. i128 holds it for any u64 limit and any date.

/// Why a GCRA cell refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Denied {
    /// µs until the units would fit.
    pub wait_us: u64,
    /// Units that would fit now.
    pub remaining: u64,
}

/// One rate: `tat` scaled by `limit`, the limit it is scaled for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gcra {
    tat: i128,
    limit: u64,
}

impl Gcra {
    /// Re-expresses `tat` for `limit` (a policy may change between requests), keeping
    /// the time already spent in proportion. A fresh cell starts full.
    fn rescale(&mut self, limit: u64, now_us: i64) {
        if self.limit == limit {
            return;
        }
        let now_new = i128::from(now_us) * i128::from(limit);
        self.tat = if self.limit == 0 {
            now_new
        } else {
            let old = i128::from(self.limit);
            let owed = (self.tat - i128::from(now_us) * old).max(0);
            now_new + owed * i128::from(limit) / old
        };
        self.limit = limit;
    }

    /// Checks room for `units` under `limit` per `period_us`; on success returns the
    /// `tat` to commit. A request larger than the whole limit passes only when the
    /// cell is full (else it could never pass) and then owes its full size.
    pub(crate) fn check(
        &mut self,
        limit: u64,
        period_us: i64,
        units: u64,
        now_us: i64,
    ) -> Result<i128, Denied> {
        self.rescale(limit, now_us);
        let (l, p) = (i128::from(limit), i128::from(period_us));
        let now = i128::from(now_us) * l;
        let base = self.tat.max(now);
        let cap = p * l;
        let needed = base - now + i128::from(units.min(limit)) * p;
        if limit > 0 && needed <= cap {
            return Ok(base + i128::from(units) * p);
        }
        let remaining = ((cap - (base - now)) / p.max(1)).max(0);
        let wait = if limit == 0 {
            i128::from(u64::MAX)
        } else {
            // Round up: after `wait_us` the units must fit.
            (needed - cap + l - 1) / l
        };
        Err(Denied {
            wait_us: u64::try_from(wait).unwrap_or(u64::MAX),
            remaining: u64::try_from(remaining).unwrap_or(u64::MAX),
        })
    }

    /// Commits a `tat` returned by [`Gcra::check`].
    pub(crate) fn commit(&mut self, tat: i128) {
        self.tat = tat;
    }

    /// Adds (or with a negative `units`, gives back) units already admitted: a
    /// settled request that used more or less than it reserved. A `tat` that falls
    /// behind the clock just means a full cell, since checks start from `max(tat,
    /// now)`, so no clock is needed here.
    pub(crate) fn adjust(&mut self, units: i128, period_us: i64) {
        if self.limit > 0 {
            self.tat += units * i128::from(period_us);
        }
    }

    /// Units that would fit now and µs until the cell is full again.
    pub(crate) fn status(&self, limit: u64, period_us: i64, now_us: i64) -> (u64, u64) {
        let mut cell = *self;
        cell.rescale(limit, now_us);
        let (l, p) = (i128::from(limit), i128::from(period_us));
        if limit == 0 {
            return (0, 0);
        }
        let now = i128::from(now_us) * l;
        let owed = (cell.tat - now).max(0);
        let remaining = div((p * l - owed).max(0), p).min(l);
        let reset = div(owed + l - 1, l);
        (
            u64::try_from(remaining).unwrap_or(0),
            u64::try_from(reset).unwrap_or(u64::MAX),
        )
    }
}

/// `a / b` for `a >= 0`, `b > 0`: in u64 when both fit, as they do for any limit
/// below about 3 million per minute (i128 division is a slower library call).
fn div(a: i128, b: i128) -> i128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) if b > 0 => i128::from(a / b),
        _ => a / b.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn take(g: &mut Gcra, limit: u64, units: u64, now: i64) -> Result<(), Denied> {
        let tat = g.check(limit, MINUTE, units, now)?;
        g.commit(tat);
        Ok(())
    }

    #[test]
    fn a_burst_of_exactly_the_limit_then_one_per_interval() {
        let mut g = Gcra::default();
        let t0 = 1_700_000_000_000_000;
        for _ in 0..60 {
            take(&mut g, 60, 1, t0).unwrap();
        }
        let denied = take(&mut g, 60, 1, t0).unwrap_err();
        assert_eq!(
            denied,
            Denied {
                wait_us: 1_000_000,
                remaining: 0
            }
        );
        assert!(take(&mut g, 60, 1, t0 + 999_999).is_err());
        take(&mut g, 60, 1, t0 + 1_000_000).unwrap();
        assert_eq!(g.status(60, MINUTE, t0 + 1_000_000), (0, 60_000_000));
        assert_eq!(g.status(60, MINUTE, t0 + 61_000_000), (60, 0));
    }

    #[test]
    fn limits_that_do_not_divide_the_period_stay_exact() {
        // 7 per minute: 8,571,428.57… µs each. Over 7 minutes exactly 49 + 7 burst pass.
        let mut g = Gcra::default();
        let mut admitted = 0;
        for ms in 0..7 * 60_000 {
            if take(&mut g, 7, 1, ms * 1000).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(
            admitted,
            7 + 49 - 1,
            "the 49th refill lands exactly at 7 min"
        );
        take(&mut g, 7, 1, 7 * MINUTE).unwrap();
    }

    #[test]
    fn oversized_requests_pass_on_a_full_cell_and_owe_their_size() {
        let mut g = Gcra::default();
        take(&mut g, 100, 250, 0).unwrap();
        let d = take(&mut g, 100, 1, 0).unwrap_err();
        // 150 tokens over, then 1 to fit: 151 × 0.6 s.
        assert_eq!(d.wait_us, 151 * 600_000);
        g.adjust(-250, MINUTE);
        take(&mut g, 100, 100, 0).unwrap();
    }

    #[test]
    fn a_changed_limit_keeps_the_spent_share() {
        let mut g = Gcra::default();
        for _ in 0..30 {
            take(&mut g, 60, 1, 0).unwrap();
        }
        // Half spent at 60 rpm is half spent at 120 rpm.
        assert_eq!(g.status(120, MINUTE, 0).0, 60);
        assert_eq!(g.status(60, MINUTE, 0).0, 30);
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut g = Gcra::default();
        assert_eq!(take(&mut g, 0, 1, 0).unwrap_err().remaining, 0);
    }
}
