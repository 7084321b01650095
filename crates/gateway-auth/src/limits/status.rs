//! Where a key's (and its project's) limits stand — the tightest request limit and the
//! tightest token limits — and that status as the rate-limit headers SDKs read:
//! OpenAI's `x-ratelimit-*` and Anthropic's `anthropic-ratelimit-*`.

use gateway_protocol::calendar;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::LimitKind;
use super::Unit;

/// Where one limit stands: for `x-ratelimit-{limit,remaining,reset}-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The limit's value.
    pub limit: u64,
    /// What could be admitted right now.
    pub remaining: u64,
    /// Milliseconds until the limit is whole again (a rate refilled, a quota's
    /// window over).
    pub reset_ms: u64,
}

impl RateStatus {
    /// The tighter of two statuses counting the same unit: the one with fewer
    /// remaining, on a tie the one that takes longer to reset.
    ///
    /// Fewest remaining, not smallest remaining fraction: the smallest remaining is
    /// how many more requests (or tokens) the caller can send before one of its limits
    /// refuses, which is what a client pacing itself needs. A fraction would name
    /// a large, mostly spent daily limit over a small per-minute one that refuses
    /// first (2 of 10 per minute left against 100 of 1,000 per day).
    pub fn tighter(a: Option<RateStatus>, b: Option<RateStatus>) -> Option<RateStatus> {
        match (a, b) {
            (Some(a), Some(b)) => {
                let b_tighter = (b.remaining, std::cmp::Reverse(b.reset_ms))
                    < (a.remaining, std::cmp::Reverse(a.reset_ms));
                Some(if b_tighter { b } else { a })
            }
            (a, b) => a.or(b),
        }
    }
}

/// The tightest limits of a key and its project at one moment, for the headers of an
/// answer. A slot is `None` when no limit of its kind is set (then no header for it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStatus {
    /// The tightest of rpm, rph, rpd.
    pub requests: Option<RateStatus>,
    /// The tightest token limit: tpm and the daily and monthly input and output
    /// token quotas.
    pub tokens: Option<RateStatus>,
    /// The tightest input token quota (daily or monthly).
    pub input_tokens: Option<RateStatus>,
    /// The tightest output token quota (daily or monthly).
    pub output_tokens: Option<RateStatus>,
    /// The moment described, Unix ms: resets count from it.
    pub at_ms: i64,
}

/// Which rate-limit headers an answer carries, by the SDK family of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFamily {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; resets as durations
    /// (`1s`, `6m0s`).
    OpenAi,
    /// `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
    /// remaining,reset}`; resets as RFC 3339 times.
    Anthropic,
}

type Triple = [HeaderName; 3];

const REQUEST_NAMES: [&str; 3] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];
const TOKEN_NAMES: [&str; 3] = [
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];
const OPENAI_REQUESTS: Triple = [
    HeaderName::from_static(REQUEST_NAMES[0]),
    HeaderName::from_static(REQUEST_NAMES[1]),
    HeaderName::from_static(REQUEST_NAMES[2]),
];
const OPENAI_TOKENS: Triple = [
    HeaderName::from_static(TOKEN_NAMES[0]),
    HeaderName::from_static(TOKEN_NAMES[1]),
    HeaderName::from_static(TOKEN_NAMES[2]),
];
const ANTHROPIC_REQUESTS: Triple = [
    HeaderName::from_static("anthropic-ratelimit-requests-limit"),
    HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
    HeaderName::from_static("anthropic-ratelimit-requests-reset"),
];
const ANTHROPIC_TOKENS: Triple = [
    HeaderName::from_static("anthropic-ratelimit-tokens-limit"),
    HeaderName::from_static("anthropic-ratelimit-tokens-remaining"),
    HeaderName::from_static("anthropic-ratelimit-tokens-reset"),
];
const ANTHROPIC_INPUT: Triple = [
    HeaderName::from_static("anthropic-ratelimit-input-tokens-limit"),
    HeaderName::from_static("anthropic-ratelimit-input-tokens-remaining"),
    HeaderName::from_static("anthropic-ratelimit-input-tokens-reset"),
];
const ANTHROPIC_OUTPUT: Triple = [
    HeaderName::from_static("anthropic-ratelimit-output-tokens-limit"),
    HeaderName::from_static("anthropic-ratelimit-output-tokens-remaining"),
    HeaderName::from_static("anthropic-ratelimit-output-tokens-reset"),
];

impl LimitStatus {
    /// A status at `at_ms` with nothing in it yet.
    pub fn at(at_ms: i64) -> LimitStatus {
        LimitStatus {
            at_ms,
            ..LimitStatus::default()
        }
    }

    /// Nothing to report: no request or token limit is set.
    pub fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// Folds one limit's status into the slots it belongs to (money has none).
    pub fn note(&mut self, kind: LimitKind, status: RateStatus) {
        let slot = match kind.unit() {
            Unit::Requests => &mut self.requests,
            Unit::Tokens => &mut self.tokens,
            Unit::MicroUsd => return,
        };
        *slot = RateStatus::tighter(*slot, Some(status));
        let side = match kind {
            LimitKind::DailyInputTokens | LimitKind::MonthlyInputTokens => &mut self.input_tokens,
            LimitKind::DailyOutputTokens | LimitKind::MonthlyOutputTokens => {
                &mut self.output_tokens
            }
            _ => return,
        };
        *side = RateStatus::tighter(*side, Some(status));
    }

    /// The tighter of each slot of two statuses (a key's and its project's).
    pub fn merge(self, other: LimitStatus) -> LimitStatus {
        LimitStatus {
            requests: RateStatus::tighter(self.requests, other.requests),
            tokens: RateStatus::tighter(self.tokens, other.tokens),
            input_tokens: RateStatus::tighter(self.input_tokens, other.input_tokens),
            output_tokens: RateStatus::tighter(self.output_tokens, other.output_tokens),
            at_ms: self.at_ms.max(other.at_ms),
        }
    }

    /// OpenAI's `x-ratelimit-*` headers for what is set, as name and value.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        for (slot, names) in [(self.requests, REQUEST_NAMES), (self.tokens, TOKEN_NAMES)] {
            if let Some(s) = slot {
                out.push((names[0], s.limit.to_string()));
                out.push((names[1], s.remaining.to_string()));
                out.push((names[2], format_reset(s.reset_ms)));
            }
        }
        out
    }

    /// Sets `family`'s headers for what is set. Anthropic's input and output token
    /// triples appear only when an input or output token quota is set.
    pub fn write(&self, family: HeaderFamily, headers: &mut HeaderMap) {
        let slots = match family {
            HeaderFamily::OpenAi => [
                (self.requests, &OPENAI_REQUESTS),
                (self.tokens, &OPENAI_TOKENS),
                (None, &OPENAI_TOKENS),
                (None, &OPENAI_TOKENS),
            ],
            HeaderFamily::Anthropic => [
                (self.requests, &ANTHROPIC_REQUESTS),
                (self.tokens, &ANTHROPIC_TOKENS),
                (self.input_tokens, &ANTHROPIC_INPUT),
                (self.output_tokens, &ANTHROPIC_OUTPUT),
            ],
        };
        for (slot, names) in slots {
            let Some(s) = slot else { continue };
            headers.insert(names[0].clone(), HeaderValue::from(s.limit));
            headers.insert(names[1].clone(), HeaderValue::from(s.remaining));
            let mut reset = Ascii::default();
            match family {
                HeaderFamily::OpenAi => reset.duration(s.reset_ms),
                HeaderFamily::Anthropic => {
                    let reset_ms = i64::try_from(s.reset_ms).unwrap_or(i64::MAX);
                    reset.rfc3339(self.at_ms.saturating_add(reset_ms));
                }
            }
            if let Some(v) = reset.value() {
                headers.insert(names[2].clone(), v);
            }
        }
    }
}

/// Formats a reset delay as OpenAI does: `20ms`, `1s`, `6m0s`, `1h2m3s`.
pub(crate) fn format_reset(ms: u64) -> String {
    let mut out = Ascii::default();
    out.duration(ms);
    out.as_str().to_owned()
}

/// A short ASCII header value built on the stack: header values are written per
/// answer, and `format!` costs more than the rest of the header together.
#[derive(Default)]
struct Ascii {
    buf: [u8; 32],
    len: usize,
}

impl Ascii {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `n` in decimal, at least `width` digits (zero-padded).
    fn number(&mut self, n: u64, width: usize) {
        let mut digits = [0u8; 20];
        let (mut n, mut i) = (n, digits.len());
        while n > 0 || digits.len() - i < width.max(1) {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        for &d in &digits[i..] {
            self.push(d);
        }
    }

    /// A delay as OpenAI writes it: `20ms`, `1s`, `6m0s`, `1h2m3s`. Rounded up to
    /// the second past one: a client waiting the advertised time must find room.
    fn duration(&mut self, ms: u64) {
        if ms < 1000 {
            self.number(ms, 1);
            self.push(b'm');
            self.push(b's');
            return;
        }
        let secs = ms.div_ceil(1000);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            self.number(h, 1);
            self.push(b'h');
        }
        if h > 0 || m > 0 {
            self.number(m, 1);
            self.push(b'm');
        }
        self.number(s, 1);
        self.push(b's');
    }

    /// `ms` (Unix milliseconds) rounded up to the second, as an RFC 3339 UTC time
    /// without fraction, `2026-11-23T16:20:06Z`, as Anthropic writes its resets.
    fn rfc3339(&mut self, ms: i64) {
        let secs = ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0);
        for b in calendar::rfc3339_secs(secs) {
            self.push(b);
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn value(&self) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.buf[..self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(limit: u64, remaining: u64, reset_ms: u64) -> RateStatus {
        RateStatus {
            limit,
            remaining,
            reset_ms,
        }
    }

    fn rfc3339(ms: i64) -> String {
        let mut out = Ascii::default();
        out.rfc3339(ms);
        out.as_str().to_owned()
    }

    #[test]
    fn rfc3339_times_round_up_to_the_second() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1), "1970-01-01T00:00:01Z");
        assert_eq!(rfc3339(951_782_400_000 + 3_723_000), "2000-02-29T01:02:03Z");
        assert_eq!(rfc3339(253_402_300_799_000), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn resets_are_formatted_as_openai_does() {
        assert_eq!(format_reset(0), "0ms");
        assert_eq!(format_reset(59_000), "59s");
        assert_eq!(format_reset(3_600_000), "1h0m0s");
        assert_eq!(format_reset(u64::MAX), "5124095576030h25m52s");
        assert_eq!(format_reset(20), "20ms");
        assert_eq!(format_reset(1000), "1s");
        assert_eq!(format_reset(1001), "2s");
        assert_eq!(format_reset(360_000), "6m0s");
        assert_eq!(format_reset(3_723_000), "1h2m3s");
    }

    #[test]
    fn the_tightest_limit_has_the_fewest_remaining_not_the_smallest_share() {
        let per_minute = st(10, 2, 48_000);
        let per_day = st(1_000, 100, 80_000_000);
        let mut s = LimitStatus::at(0);
        s.note(LimitKind::Rpd, per_day);
        s.note(LimitKind::Rpm, per_minute);
        assert_eq!(s.requests, Some(per_minute));
        s.note(LimitKind::Rph, st(50, 1, 60_000));
        assert_eq!(s.requests.unwrap().remaining, 1);
    }

    #[test]
    fn on_a_tie_the_limit_that_resets_later_is_tighter() {
        let soon = st(10, 0, 6_000);
        let late = st(100, 0, 3_600_000);
        assert_eq!(RateStatus::tighter(Some(soon), Some(late)), Some(late));
        assert_eq!(RateStatus::tighter(Some(late), Some(soon)), Some(late));
        assert_eq!(RateStatus::tighter(None, Some(soon)), Some(soon));
    }

    #[test]
    fn token_quotas_fill_their_side_and_the_shared_token_slot() {
        let mut s = LimitStatus::at(0);
        s.note(LimitKind::Tpm, st(10_000, 9_000, 6_000));
        s.note(LimitKind::DailyInputTokens, st(50_000, 400, 3_600_000));
        s.note(
            LimitKind::MonthlyOutputTokens,
            st(90_000, 80_000, 9_000_000),
        );
        s.note(LimitKind::DailyUsd, st(5, 0, 1));
        assert_eq!(s.tokens.unwrap().remaining, 400);
        assert_eq!(s.input_tokens.unwrap().remaining, 400);
        assert_eq!(s.output_tokens.unwrap().remaining, 80_000);
        assert!(s.requests.is_none(), "money is not requests");
    }

    #[test]
    fn a_key_and_its_project_merge_slot_by_slot() {
        let mut key = LimitStatus::at(5);
        key.note(LimitKind::Rpm, st(60, 50, 10_000));
        let mut project = LimitStatus::at(5);
        project.note(LimitKind::Rph, st(100, 20, 3_000_000));
        project.note(LimitKind::Tpm, st(1_000, 900, 6_000));
        let both = key.merge(project);
        assert_eq!(both.requests.unwrap().remaining, 20);
        assert_eq!(both.tokens.unwrap().remaining, 900);
    }

    #[test]
    fn each_family_writes_its_own_headers() {
        // 2026-02-01T00:00:00Z.
        let mut s = LimitStatus::at(1_769_904_000_000);
        s.note(LimitKind::Rpm, st(60, 57, 3_000));
        s.note(LimitKind::DailyInputTokens, st(1_000, 700, 1_500));
        let mut openai = HeaderMap::new();
        s.write(HeaderFamily::OpenAi, &mut openai);
        assert_eq!(openai["x-ratelimit-limit-requests"], "60");
        assert_eq!(openai["x-ratelimit-remaining-requests"], "57");
        assert_eq!(openai["x-ratelimit-reset-requests"], "3s");
        assert_eq!(openai["x-ratelimit-remaining-tokens"], "700");
        assert_eq!(openai.len(), 6);
        let mut anthropic = HeaderMap::new();
        s.write(HeaderFamily::Anthropic, &mut anthropic);
        assert_eq!(anthropic["anthropic-ratelimit-requests-limit"], "60");
        assert_eq!(anthropic["anthropic-ratelimit-requests-remaining"], "57");
        assert_eq!(
            anthropic["anthropic-ratelimit-requests-reset"],
            "2026-02-01T00:00:03Z"
        );
        assert_eq!(
            anthropic["anthropic-ratelimit-tokens-reset"],
            "2026-02-01T00:00:02Z"
        );
        assert_eq!(
            anthropic["anthropic-ratelimit-input-tokens-remaining"],
            "700"
        );
        assert!(!anthropic.contains_key("anthropic-ratelimit-output-tokens-limit"));
        assert_eq!(anthropic.len(), 9);
        let mut none = HeaderMap::new();
        LimitStatus::at(0).write(HeaderFamily::Anthropic, &mut none);
        assert!(none.is_empty() && LimitStatus::at(0).is_empty());
    }
}
