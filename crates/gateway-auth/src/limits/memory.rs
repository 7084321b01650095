//! [`MemoryLimiter`]: every subject's rates and counters in process memory, one mutex
//! per subject, so a check and its reservation are one critical section.

mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rusqlite::Connection;

use super::calendar::Windows;
use super::gcra::{Denied, Gcra};
use super::{
    Actual, Estimate, Held, LimitKind, LimitStatus, LimitUsage, Limiter, Refused, Reservation,
    Scope, usd_to_micros,
};
use crate::error::AuthError;
use crate::policy::{Limits, Subject};
use crate::usage::Spent;

const MINUTE_US: i64 = 60_000_000;
const HOUR_US: i64 = 60 * MINUTE_US;
const DAY_US: i64 = 24 * HOUR_US;

/// Shards of the subject maps: lookups of different subjects rarely meet on a lock.
const SHARDS: usize = 16;

/// The in-process limiter: exact under any concurrency, lost on restart except for
/// the quota and budget counters, which [`MemoryLimiter::seed_from`] reloads from the
/// usage rollups. Rates restart full. Subjects are kept for the process's lifetime
/// (a few hundred bytes per key or project ever seen).
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    keys: Subjects,
    projects: Subjects,
}

#[derive(Debug, Default)]
struct Subjects {
    shards: [RwLock<HashMap<Box<str>, Arc<Cell>>>; SHARDS],
}

type Cell = Mutex<State>;

fn lock(cell: &Cell) -> MutexGuard<'_, State> {
    // State is updated only after every check passed, with no panicking code in
    // between, so a poisoned lock still guards consistent numbers.
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Subjects {
    fn shard(&self, id: &str) -> &RwLock<HashMap<Box<str>, Arc<Cell>>> {
        // FNV-1a: ids are short; this only spreads them over the shards.
        let mut h: u32 = 0x811c_9dc5;
        for b in id.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        &self.shards[h as usize % SHARDS]
    }

    fn get(&self, id: &str) -> Option<Arc<Cell>> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(id).cloned()
    }

    fn get_or_insert(&self, id: &str) -> Arc<Cell> {
        if let Some(cell) = self.get(id) {
            return cell;
        }
        let mut shard = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        shard.entry(id.into()).or_default().clone()
    }
}

/// A counter over one calendar window (a day, a month, or forever: window 0).
#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    window: i64,
    used: u64,
}

impl Counter {
    fn roll(&mut self, window: i64) {
        if self.window != window {
            *self = Counter { window, used: 0 };
        }
    }

    /// Room for `amount` under `limit`: something must be left even for a zero
    /// estimate (an unpriced model against a spent budget).
    fn check(&self, limit: Option<u64>, amount: u64) -> Result<(), u64> {
        match limit {
            Some(limit) if self.used >= limit || self.used.saturating_add(amount) > limit => {
                Err(limit.saturating_sub(self.used))
            }
            _ => Ok(()),
        }
    }

    fn settle(&mut self, now_window: i64, reserved_window: i64, reserved: u64, actual: u64) {
        self.roll(now_window);
        // A window that rolled since the reservation no longer contains it.
        if self.window == reserved_window {
            self.used = self.used.saturating_sub(reserved);
        }
        self.used = self.used.saturating_add(actual);
    }

    fn release(&mut self, reserved_window: i64, reserved: u64) {
        if self.window == reserved_window {
            self.used = self.used.saturating_sub(reserved);
        }
    }
}

/// One key's or project's rates and counters.
#[derive(Debug, Default)]
struct State {
    rpm: Gcra,
    rph: Gcra,
    rpd: Gcra,
    tpm: Gcra,
    day_in: Counter,
    day_out: Counter,
    month_in: Counter,
    month_out: Counter,
    day_usd: Counter,
    month_usd: Counter,
    total_usd: Counter,
}

/// The amounts of one request, as reserved.
#[derive(Debug, Clone, Copy)]
struct Amounts {
    input: u64,
    output: u64,
    money: u64,
}

impl Amounts {
    fn of(input: u64, output: u64, cost_micros: Option<i64>) -> Amounts {
        Amounts {
            input,
            output,
            // Unknown cost charges nothing: budgets cannot count what has no price.
            money: cost_micros.map_or(0, |c| u64::try_from(c).unwrap_or(0)),
        }
    }

    fn tokens(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// The new `tat`s a passed check will commit.
#[derive(Debug, Default)]
struct Plan {
    rpm: Option<i128>,
    rph: Option<i128>,
    rpd: Option<i128>,
    tpm: Option<i128>,
}

fn rate(
    cell: &mut Gcra,
    kind: LimitKind,
    scope: Scope,
    limit: u64,
    period_us: i64,
    units: u64,
    now_us: i64,
) -> Result<i128, Refused> {
    cell.check(limit, period_us, units, now_us)
        .map_err(|Denied { wait_us, remaining }| Refused {
            limit: kind,
            scope,
            // Waiting cannot help a zero limit.
            retry_after_secs: (limit > 0).then(|| wait_us.div_ceil(1_000_000).max(1)),
            limit_value: limit,
            remaining,
            unavailable: false,
        })
}

fn quota(
    counter: &Counter,
    kind: LimitKind,
    scope: Scope,
    limit: Option<u64>,
    amount: u64,
    window_end_ms: Option<i64>,
    now_ms: i64,
) -> Result<(), Refused> {
    counter.check(limit, amount).map_err(|remaining| {
        let limit_value = limit.unwrap_or(0);
        // The window's end helps only if the request fits an empty window.
        let retry_after_secs = window_end_ms
            .filter(|_| amount <= limit_value && limit_value > 0)
            .map(|end| {
                u64::try_from((end - now_ms).max(1))
                    .unwrap_or(1)
                    .div_ceil(1000)
            });
        Refused {
            limit: kind,
            scope,
            retry_after_secs,
            limit_value,
            remaining,
            unavailable: false,
        }
    })
}

fn micros(usd: Option<f64>) -> Option<u64> {
    usd.map(|u| u64::try_from(usd_to_micros(u)).unwrap_or(0))
}

impl State {
    /// Checks every limit; rolls stale windows on the way (which reserves nothing).
    fn check(
        &mut self,
        limits: &Limits,
        scope: Scope,
        est: &Amounts,
        win: &Windows,
        now_ms: i64,
    ) -> Result<Plan, Refused> {
        let now_us = now_ms.saturating_mul(1000);
        let mut plan = Plan::default();
        if let Some(l) = limits.rpm {
            plan.rpm = Some(rate(
                &mut self.rpm,
                LimitKind::Rpm,
                scope,
                l.into(),
                MINUTE_US,
                1,
                now_us,
            )?);
        }
        if let Some(l) = limits.rph {
            plan.rph = Some(rate(
                &mut self.rph,
                LimitKind::Rph,
                scope,
                l.into(),
                HOUR_US,
                1,
                now_us,
            )?);
        }
        if let Some(l) = limits.rpd {
            plan.rpd = Some(rate(
                &mut self.rpd,
                LimitKind::Rpd,
                scope,
                l.into(),
                DAY_US,
                1,
                now_us,
            )?);
        }
        if let Some(l) = limits.tpm {
            plan.tpm = Some(rate(
                &mut self.tpm,
                LimitKind::Tpm,
                scope,
                l,
                MINUTE_US,
                est.tokens(),
                now_us,
            )?);
        }
        self.roll(win);
        let day_end = Some(win.day_start_ms() + super::calendar::DAY_MS);
        let month_end = Some(win.next_month_start_ms());
        let checks = [
            (
                &self.day_in,
                LimitKind::DailyInputTokens,
                limits.daily_input_tokens,
                est.input,
                day_end,
            ),
            (
                &self.day_out,
                LimitKind::DailyOutputTokens,
                limits.daily_output_tokens,
                est.output,
                day_end,
            ),
            (
                &self.month_in,
                LimitKind::MonthlyInputTokens,
                limits.monthly_input_tokens,
                est.input,
                month_end,
            ),
            (
                &self.month_out,
                LimitKind::MonthlyOutputTokens,
                limits.monthly_output_tokens,
                est.output,
                month_end,
            ),
            (
                &self.day_usd,
                LimitKind::DailyUsd,
                micros(limits.daily_usd),
                est.money,
                day_end,
            ),
            (
                &self.month_usd,
                LimitKind::MonthlyUsd,
                micros(limits.monthly_usd),
                est.money,
                month_end,
            ),
            (
                &self.total_usd,
                LimitKind::TotalUsd,
                micros(limits.total_usd),
                est.money,
                None,
            ),
        ];
        for (counter, kind, limit, amount, end) in checks {
            quota(counter, kind, scope, limit, amount, end, now_ms)?;
        }
        Ok(plan)
    }

    fn roll(&mut self, win: &Windows) {
        self.day_in.roll(win.day);
        self.day_out.roll(win.day);
        self.day_usd.roll(win.day);
        self.month_in.roll(win.month);
        self.month_out.roll(win.month);
        self.month_usd.roll(win.month);
    }

    /// Commits a passed check and, for a subject with quotas or budgets
    /// (`reserve`), reserves the estimate in the counters. Counters count even
    /// without a limit (what was spent is added at the settle), so a limit set later
    /// during the day sees the day's spending.
    fn apply(&mut self, plan: Plan, est: &Amounts, reserve: bool) {
        for (cell, tat) in [
            (&mut self.rpm, plan.rpm),
            (&mut self.rph, plan.rph),
            (&mut self.rpd, plan.rpd),
            (&mut self.tpm, plan.tpm),
        ] {
            if let Some(tat) = tat {
                cell.commit(tat);
            }
        }
        if reserve {
            let amounts = per_counter(est);
            for (counter, amount) in self.counters().into_iter().zip(amounts) {
                counter.used = counter.used.saturating_add(amount);
            }
        }
    }

    /// The seven counters, in the order of [`per_counter`] and [`window_ids`].
    fn counters(&mut self) -> [&mut Counter; 7] {
        [
            &mut self.day_in,
            &mut self.day_out,
            &mut self.month_in,
            &mut self.month_out,
            &mut self.day_usd,
            &mut self.month_usd,
            &mut self.total_usd,
        ]
    }

    fn settle(&mut self, held: &Hold, flags: Flags, actual: &Amounts, now: &Windows) {
        if flags.tpm {
            let delta = i128::from(actual.tokens()) - i128::from(held.est.tokens());
            self.tpm.adjust(delta, MINUTE_US);
        }
        let reserved = if flags.reserved {
            per_counter(&held.est)
        } else {
            [0; 7]
        };
        let actual = per_counter(actual);
        let (then, now) = (window_ids(&held.win), window_ids(now));
        for (i, counter) in self.counters().into_iter().enumerate() {
            counter.settle(now[i], then[i], reserved[i], actual[i]);
        }
    }

    fn release(&mut self, held: &Hold, flags: Flags) {
        if flags.tpm {
            self.tpm.adjust(-i128::from(held.est.tokens()), MINUTE_US);
        }
        if !flags.reserved {
            return;
        }
        let (reserved, then) = (per_counter(&held.est), window_ids(&held.win));
        for (i, counter) in self.counters().into_iter().enumerate() {
            counter.release(then[i], reserved[i]);
        }
    }
}

/// What each counter of [`State::counters`] counts of `a`.
fn per_counter(a: &Amounts) -> [u64; 7] {
    [
        a.input, a.output, a.input, a.output, a.money, a.money, a.money,
    ]
}

/// The window each counter of [`State::counters`] is in (0: the lifetime).
fn window_ids(w: &Windows) -> [i64; 7] {
    [w.day, w.day, w.month, w.month, w.day, w.month, 0]
}

/// What a subject's limits made an admission take, for its settle.
#[derive(Debug, Clone, Copy)]
struct Flags {
    /// The tpm cell took the estimate.
    tpm: bool,
    /// The counters took the estimate (a quota or budget was set).
    reserved: bool,
}

impl Flags {
    fn of(limits: &Limits) -> Flags {
        Flags {
            tpm: limits.tpm.is_some(),
            reserved: limits.reserves_spending(),
        }
    }
}

/// What one admitted request holds in a [`MemoryLimiter`].
struct Hold {
    key: Arc<Cell>,
    project: Option<Arc<Cell>>,
    est: Amounts,
    win: Windows,
    key_flags: Flags,
    project_flags: Flags,
}

impl Held for Hold {
    fn settle(self: Box<Self>, actual: &Actual, now_ms: i64) {
        let actual = Amounts::of(
            actual.input_tokens,
            actual.output_tokens,
            actual.cost_micros,
        );
        let now = Windows::at(now_ms);
        // The two are corrected one after the other: settling needs no atomicity
        // across subjects, only within each.
        lock(&self.key).settle(&self, self.key_flags, &actual, &now);
        if let Some(project) = &self.project {
            lock(project).settle(&self, self.project_flags, &actual, &now);
        }
    }

    fn release(self: Box<Self>) {
        lock(&self.key).release(&self, self.key_flags);
        if let Some(project) = &self.project {
            lock(project).release(&self, self.project_flags);
        }
    }
}

impl MemoryLimiter {
    /// An empty limiter: every rate full, every counter at zero.
    pub fn new() -> Self {
        MemoryLimiter::default()
    }

    /// Loads today's, this month's and the lifetime's token and money sums of every
    /// key and project from `usage_hourly`, replacing the counters, so quotas and
    /// budgets survive a restart (see [`MemoryLimiter::seed`]).
    pub fn seed_from(&self, conn: &Connection, now_ms: i64) -> Result<(), AuthError> {
        let win = Windows::at(now_ms);
        let spent = crate::usage::reader::spent(conn, win.day_start_ms(), win.month_start_ms())?;
        self.seed(&spent, now_ms);
        Ok(())
    }

    /// Sets the counters of the keys and projects in `spent` (read with the windows
    /// of `now_ms`: [`window_starts`](crate::limits::window_starts)). Call it
    /// at startup, before admitting requests (reservations in flight would be
    /// overwritten). Hours align with UTC days, so the rollups give the windows
    /// exactly.
    pub fn seed(&self, spent: &[Spent], now_ms: i64) {
        let win = Windows::at(now_ms);
        for one in spent {
            let subjects = match one.scope {
                Scope::Key => &self.keys,
                Scope::Project => &self.projects,
            };
            let cell = subjects.get_or_insert(&one.id);
            let mut s = lock(&cell);
            let c = |window, used| Counter { window, used };
            let sums = &one.sums;
            s.day_in = c(win.day, sums.day_input);
            s.day_out = c(win.day, sums.day_output);
            s.day_usd = c(win.day, sums.day_micros);
            s.month_in = c(win.month, sums.month_input);
            s.month_out = c(win.month, sums.month_output);
            s.month_usd = c(win.month, sums.month_micros);
            s.total_usd = c(0, sums.total_micros);
        }
    }
}

impl Limiter for MemoryLimiter {
    fn admit(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Result<Reservation, Refused> {
        let est = Amounts::of(
            estimate.input_tokens,
            estimate.output_tokens,
            estimate.cost_micros,
        );
        let win = Windows::at(now_ms);
        let key_cell = self.keys.get_or_insert(&subject.key_id);
        // A project's counters are kept even without limits, so limits set later
        // see what its keys already spent.
        let project_cell = subject
            .project_id
            .as_deref()
            .map(|id| self.projects.get_or_insert(id));
        let unlimited = Limits::default();
        let project_limits = project.unwrap_or(&unlimited);

        // Key, then project: the one lock order everywhere, so two admits never wait
        // on each other crosswise. Both stay held until both are applied, so a
        // refusal by the project leaves the key untouched (all or nothing).
        // Where the limits stand is read under the same locks, right after the
        // reservation is counted: no second lookup or lock for the answer's headers.
        let mut k = lock(&key_cell);
        let key_plan = k.check(key, Scope::Key, &est, &win, now_ms)?;
        let mut status = LimitStatus::at(now_ms);
        if let Some(cell) = &project_cell {
            let mut p = lock(cell);
            let project_plan = p.check(project_limits, Scope::Project, &est, &win, now_ms)?;
            p.apply(project_plan, &est, project_limits.reserves_spending());
            p.note_status(project_limits, &win, now_ms, &mut status);
        }
        k.apply(key_plan, &est, key.reserves_spending());
        k.note_status(key, &win, now_ms, &mut status);
        drop(k);

        let reservation = Reservation::new(Box::new(Hold {
            key: key_cell,
            project: project_cell,
            est,
            win,
            key_flags: Flags::of(key),
            project_flags: Flags::of(project_limits),
        }));
        Ok(reservation.with_status(status))
    }

    fn status(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        now_ms: i64,
    ) -> LimitStatus {
        let win = Windows::at(now_ms);
        let mut status = LimitStatus::at(now_ms);
        let mut note = |cell: Option<Arc<Cell>>, limits: &Limits| match cell {
            Some(cell) => lock(&cell).note_status(limits, &win, now_ms, &mut status),
            None => State::default().note_status(limits, &win, now_ms, &mut status),
        };
        note(self.keys.get(&subject.key_id), key);
        if let (Some(id), Some(limits)) = (&subject.project_id, project) {
            note(self.projects.get(id), limits);
        }
        status
    }

    fn usage(&self, scope: Scope, id: &str, limits: &Limits, now_ms: i64) -> Vec<LimitUsage> {
        let subjects = match scope {
            Scope::Key => &self.keys,
            Scope::Project => &self.projects,
        };
        let win = Windows::at(now_ms);
        match subjects.get(id) {
            Some(cell) => lock(&cell).usage(limits, &win, now_ms),
            None => State::default().usage(limits, &win, now_ms),
        }
    }
}
