//! Rate limits, quotas and budgets: the [`Limiter`] trait the server calls around every
//! request, and [`MemoryLimiter`], the in-process implementation.
//!
//! Rates (rpm, rph, rpd) are GCRA cells: exact, a burst of at most the limit, refilled
//! continuously. Tokens per minute is a GCRA cell counting tokens. Quotas (tokens per
//! UTC day / calendar month) and budgets (micro-dollars per day / month / lifetime) are
//! counters over calendar windows.
//!
//! Tokens and money follow *reserve, then settle*: [`Limiter::admit`] checks every limit
//! of the key and its project and reserves the request's [`Estimate`] in one atomic
//! step (all or nothing), so concurrent requests cannot overspend; the [`Reservation`]
//! it returns is settled with the real usage ([`Reservation::settle`]) once the answer
//! (or the stream) has ended. Dropping it unsettled releases the tokens and money it
//! held. A request slot of rpm/rph/rpd, once admitted, stays spent either way: the
//! request reached the gateway, and a client must not regain slots by disconnecting.
//!
//! Time is passed in (`now_ms`, Unix milliseconds, UTC), so tests drive the clock.

mod calendar;

pub use calendar::{iso_utc, window_starts};
mod gcra;
mod memory;
mod report;
mod status;

use std::fmt;

use gateway_protocol::{ErrorKind, GatewayError};

use crate::policy::{Limits, Subject};

pub use memory::MemoryLimiter;
pub use report::{LimitUsage, Window, value_of};
pub use status::{HeaderFamily, LimitStatus, RateStatus};

/// Converts US dollars (as written in a policy) to micro-dollars, rounding to nearest.
pub fn usd_to_micros(usd: f64) -> i64 {
    // `as` saturates on overflow and maps NaN to 0: a nonsense budget cannot wrap.
    (usd * 1_000_000.0).round() as i64
}

/// Converts micro-dollars to US dollars (for display).
pub fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// What a request is expected to consume, reserved before the upstream call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Input tokens (a local count of the prompt).
    pub input_tokens: u64,
    /// Output tokens (the request's `max_tokens`, or the route's default).
    pub output_tokens: u64,
    /// Cost in micro-dollars at the catalogue's prices; `None` when the model has no
    /// price (then budgets only check that some money is left).
    pub cost_micros: Option<i64>,
}

/// What a request really consumed, as the upstream reported it (0s when it failed
/// before reporting anything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actual {
    /// Input tokens (`Usage::input_tokens`, cache reads and writes included).
    pub input_tokens: u64,
    /// Output tokens (`Usage::output_tokens`, reasoning included).
    pub output_tokens: u64,
    /// Cost in micro-dollars; `None` when unknown (nothing is charged to budgets).
    pub cost_micros: Option<i64>,
}

impl Actual {
    /// The actual amounts of `usage` costing `cost_micros`.
    pub fn from_usage(usage: &gateway_protocol::Usage, cost_micros: Option<i64>) -> Self {
        Actual {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_micros,
        }
    }
}

/// Whose limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The key's own policy.
    Key,
    /// The key's project, shared by all its keys.
    Project,
}

impl Scope {
    /// `key` or `project`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Project => "project",
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Requests.
    Requests,
    /// Tokens.
    Tokens,
    /// Micro-dollars (millionths of a US dollar).
    MicroUsd,
}

/// One limit of [`Limits`], named as in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Requests per minute.
    Rpm,
    /// Requests per hour.
    Rph,
    /// Requests per day (rolling, GCRA).
    Rpd,
    /// Tokens per minute.
    Tpm,
    /// Input tokens per UTC day.
    DailyInputTokens,
    /// Output tokens per UTC day.
    DailyOutputTokens,
    /// Input tokens per UTC calendar month.
    MonthlyInputTokens,
    /// Output tokens per UTC calendar month.
    MonthlyOutputTokens,
    /// Dollars per UTC day.
    DailyUsd,
    /// Dollars per UTC calendar month.
    MonthlyUsd,
    /// Dollars over the lifetime.
    TotalUsd,
}

impl LimitKind {
    /// The policy field's name (`rpm`, `daily_usd`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Rph => "rph",
            LimitKind::Rpd => "rpd",
            LimitKind::Tpm => "tpm",
            LimitKind::DailyInputTokens => "daily_input_tokens",
            LimitKind::DailyOutputTokens => "daily_output_tokens",
            LimitKind::MonthlyInputTokens => "monthly_input_tokens",
            LimitKind::MonthlyOutputTokens => "monthly_output_tokens",
            LimitKind::DailyUsd => "daily_usd",
            LimitKind::MonthlyUsd => "monthly_usd",
            LimitKind::TotalUsd => "total_usd",
        }
    }

    /// What the limit's value and remaining amount count.
    pub fn unit(self) -> Unit {
        match self {
            LimitKind::Rpm | LimitKind::Rph | LimitKind::Rpd => Unit::Requests,
            LimitKind::Tpm
            | LimitKind::DailyInputTokens
            | LimitKind::DailyOutputTokens
            | LimitKind::MonthlyInputTokens
            | LimitKind::MonthlyOutputTokens => Unit::Tokens,
            LimitKind::DailyUsd | LimitKind::MonthlyUsd | LimitKind::TotalUsd => Unit::MicroUsd,
        }
    }

    /// Rates refill with time (429 rate limited); quotas and budgets are spent until
    /// their window ends (429 quota exceeded).
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            LimitKind::Rpm | LimitKind::Rph | LimitKind::Rpd | LimitKind::Tpm
        )
    }
}

/// Why a request was not admitted: enough for the 429's message and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Which limit.
    pub limit: LimitKind,
    /// The key's or the project's.
    pub scope: Scope,
    /// Seconds until the request could pass; `None` when waiting cannot help (a
    /// lifetime budget, or an estimate larger than the whole limit).
    pub retry_after_secs: Option<u64>,
    /// The limit's value, in [`LimitKind::unit`]s.
    pub limit_value: u64,
    /// What is left now, in the same unit.
    pub remaining: u64,
    /// The limiter could not decide: its shared store did not answer in time and it
    /// is configured to fail closed ([`Refused::unavailable`]). A 503, not a 429; the
    /// fields above describe no limit then.
    pub unavailable: bool,
}

impl Refused {
    /// A refusal because the limiter's shared store is unreachable (a limiter that
    /// fails closed): the caller may retry after `retry_after_secs`.
    pub fn unavailable(retry_after_secs: u64) -> Refused {
        Refused {
            limit: LimitKind::Rpm,
            scope: Scope::Key,
            retry_after_secs: Some(retry_after_secs),
            limit_value: 0,
            remaining: 0,
            unavailable: true,
        }
    }

    /// The client-facing error: `rate_limited` for rates, `quota_exceeded` for quotas
    /// and budgets, with the retry delay.
    pub fn to_gateway_error(&self) -> GatewayError {
        let (kind, code) = if self.unavailable {
            (ErrorKind::Overloaded, "limiter_unavailable")
        } else if self.limit.is_rate() {
            (ErrorKind::RateLimited, "rate_limit_exceeded")
        } else {
            (ErrorKind::QuotaExceeded, "quota_exceeded")
        };
        let mut err = GatewayError::new(kind, self.to_string()).with_code(code);
        if let Some(secs) = self.retry_after_secs {
            err = err.with_retry_after(secs);
        }
        err
    }

    /// Response headers for the 429: `retry-after`, OpenAI's `x-ratelimit-*` triple
    /// of the refused limit (requests or tokens; none for money) and
    /// `x-patchbay-limit` naming the limit as `<scope>.<name>`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(5);
        if let Some(secs) = self.retry_after_secs {
            out.push(("retry-after", secs.to_string()));
        }
        if self.unavailable {
            return out;
        }
        out.extend(self.status(0).headers());
        out.push((
            "x-patchbay-limit",
            format!("{}.{}", self.scope.as_str(), self.limit.name()),
        ));
        out
    }

    /// The refused limit as a [`LimitStatus`] at `now_ms` (for other header
    /// families): it resets when the request could pass.
    pub fn status(&self, now_ms: i64) -> LimitStatus {
        let mut status = LimitStatus::at(now_ms);
        if self.unavailable {
            return status;
        }
        status.note(
            self.limit,
            RateStatus {
                limit: self.limit_value,
                remaining: self.remaining,
                reset_ms: self.retry_after_secs.map_or(0, |s| s.saturating_mul(1000)),
            },
        );
        status
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unavailable {
            return write!(
                f,
                "the gateway cannot check this key's limits right now (its limit store \
                 is unreachable); retry after {} s",
                self.retry_after_secs.unwrap_or(1)
            );
        }
        let what = match self.limit {
            LimitKind::Rpm => "requests per minute",
            LimitKind::Rph => "requests per hour",
            LimitKind::Rpd => "requests per day",
            LimitKind::Tpm => "tokens per minute",
            LimitKind::DailyInputTokens => "input tokens per day",
            LimitKind::DailyOutputTokens => "output tokens per day",
            LimitKind::MonthlyInputTokens => "input tokens per month",
            LimitKind::MonthlyOutputTokens => "output tokens per month",
            LimitKind::DailyUsd => "USD per day",
            LimitKind::MonthlyUsd => "USD per month",
            LimitKind::TotalUsd => "USD in total",
        };
        let value = match self.limit.unit() {
            Unit::MicroUsd => format!("{:.2}", micros_to_usd(self.limit_value as i64)),
            _ => self.limit_value.to_string(),
        };
        write!(
            f,
            "this {}'s limit of {value} {what} (`{}`) is reached",
            self.scope.as_str(),
            self.limit.name()
        )?;
        match self.retry_after_secs {
            Some(s) => write!(f, "; retry after {s} s"),
            None => f.write_str("; waiting will not help, ask for a higher limit"),
        }
    }
}

/// Enforces [`Limits`] per key and per project.
///
/// Synchronous on purpose: the in-memory limiter answers in well under a microsecond,
/// and the crate has no async runtime. A Redis-backed limiter would do the same check
/// and reservation as one Lua script per `admit` (and per settle/release), holding in
/// its [`Held`] what it needs to correct the counters; how it behaves when Redis is
/// unreachable (admit and log, or refuse) is its own configuration, not this trait's.
pub trait Limiter: Send + Sync {
    /// Checks every limit of the key and, when `subject` has a project and `project`
    /// limits are given, of the project; if all pass, counts the request against the
    /// rates and reserves `estimate`'s tokens and money, atomically. A refusal
    /// reserves nothing anywhere. The reservation should carry where the limits stand
    /// after it ([`Reservation::with_status`]): that is what the answer's rate-limit
    /// headers report (none without it).
    fn admit(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Result<Reservation, Refused>;

    /// How [`LimitLayer`](crate::LimitLayer) admits a request: at once by default
    /// (an in-process limiter answers [`Limiter::admit`] without waiting). A limiter
    /// whose counters live in a shared store (one round trip per admission) answers
    /// [`Admit::Later`] with a future owning what it needs, and the layer calls the
    /// inner service once it resolves.
    fn admission(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Admit {
        Admit::Now(self.admit(subject, key, project, estimate, now_ms))
    }

    /// Where the key's and project's request and token limits stand, changing
    /// nothing.
    fn status(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        now_ms: i64,
    ) -> LimitStatus;

    /// Where every limit of one key ([`Scope::Key`]) or project ([`Scope::Project`])
    /// with public id `id` stands under `limits`, changing nothing: the rates that
    /// are set, and every quota and budget, set or not (see [`LimitUsage`]).
    fn usage(&self, scope: Scope, id: &str, limits: &Limits, now_ms: i64) -> Vec<LimitUsage>;
}

/// An admission still waiting on a shared store.
pub type AdmitFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reservation, Refused>> + Send>>;

/// A limiter's answer to an admission: decided now, or after a round trip.
pub enum Admit {
    /// Decided in process.
    Now(Result<Reservation, Refused>),
    /// Decided by a shared store; the future owns what it needs.
    Later(AdmitFuture),
}

impl std::fmt::Debug for Admit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admit::Now(r) => f.debug_tuple("Now").field(&r.is_ok()).finish(),
            Admit::Later(_) => f.write_str("Later"),
        }
    }
}

/// What a limiter holds for one admitted request; the limiter's side of a
/// [`Reservation`].
pub trait Held: Send {
    /// Replaces the reserved estimate by `actual`, charged in the windows of `now_ms`.
    fn settle(self: Box<Self>, actual: &Actual, now_ms: i64);
    /// Gives the reserved tokens and money back (the request will not be settled).
    fn release(self: Box<Self>);
}

/// An admitted request's hold on tokens and money. Settle it with the real usage
/// once known; dropping it unsettled releases what it holds.
#[must_use = "dropping a reservation releases it at once; settle it when the request ends"]
pub struct Reservation {
    held: Option<Box<dyn Held>>,
    status: LimitStatus,
}

impl Reservation {
    /// A reservation of `held` (for limiter implementations).
    pub fn new(held: Box<dyn Held>) -> Self {
        Reservation {
            held: Some(held),
            status: LimitStatus::default(),
        }
    }

    /// A reservation holding nothing (limits off).
    pub fn empty() -> Self {
        Reservation {
            held: None,
            status: LimitStatus::default(),
        }
    }

    /// This reservation, saying where the limits stand once it is counted.
    pub fn with_status(mut self, status: LimitStatus) -> Self {
        self.status = status;
        self
    }

    /// Where the limits stood once this reservation was counted (empty when the
    /// limiter does not say).
    pub fn status(&self) -> &LimitStatus {
        &self.status
    }

    /// Charges `actual` in place of the estimate.
    pub fn settle(mut self, actual: &Actual, now_ms: i64) {
        if let Some(held) = self.held.take() {
            held.settle(actual, now_ms);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            held.release();
        }
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("held", &self.held.is_some())
            .field("status", &self.status)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_convert_to_micros_exactly() {
        assert_eq!(usd_to_micros(2.5), 2_500_000);
        assert_eq!(usd_to_micros(0.000_001), 1);
        assert_eq!(usd_to_micros(0.1 + 0.2), 300_000);
        assert_eq!(usd_to_micros(f64::NAN), 0);
        assert_eq!(micros_to_usd(1_500_000), 1.5);
    }

    #[test]
    fn a_refusal_names_its_limit_in_headers_and_message() {
        let r = Refused {
            limit: LimitKind::Rpm,
            scope: Scope::Project,
            retry_after_secs: Some(2),
            limit_value: 60,
            remaining: 0,
            unavailable: false,
        };
        let h = r.headers();
        assert!(h.contains(&("retry-after", "2".to_owned())));
        assert!(h.contains(&("x-ratelimit-limit-requests", "60".to_owned())));
        assert!(h.contains(&("x-ratelimit-remaining-requests", "0".to_owned())));
        assert!(h.contains(&("x-ratelimit-reset-requests", "2s".to_owned())));
        assert!(h.contains(&("x-patchbay-limit", "project.rpm".to_owned())));
        let e = r.to_gateway_error();
        assert_eq!((e.status, e.retry_after), (429, Some(2)));
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(
            e.message.contains("60 requests per minute"),
            "{}",
            e.message
        );

        let budget = Refused {
            limit: LimitKind::TotalUsd,
            scope: Scope::Key,
            retry_after_secs: None,
            limit_value: 5_000_000,
            remaining: 0,
            unavailable: false,
        };
        let e = budget.to_gateway_error();
        assert_eq!((e.kind, e.retry_after), (ErrorKind::QuotaExceeded, None));
        assert!(e.message.contains("5.00 USD in total"), "{}", e.message);
        assert!(!budget.headers().iter().any(|(n, _)| *n == "retry-after"));
    }

    #[test]
    fn an_unreachable_limit_store_is_a_503_with_retry_after_and_no_limit_headers() {
        let r = Refused::unavailable(1);
        let e = r.to_gateway_error();
        assert_eq!((e.status, e.retry_after), (503, Some(1)));
        assert_eq!(e.kind, ErrorKind::Overloaded);
        assert_eq!(r.headers(), vec![("retry-after", "1".to_owned())]);
        assert!(r.status(0).is_empty());
        assert!(r.to_string().contains("unreachable"), "{r}");
    }
}
