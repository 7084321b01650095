//! gateway-redis against a real Redis (`scripts/services start` prints the
//! `PATCHBAY_TEST_REDIS` line): the same answers as gateway-auth's MemoryLimiter
//! case by case, exact limits across several limiters hammered at once, and what
//! each failure mode does when Redis is down. Without `PATCHBAY_TEST_REDIS` the
//! Redis cases print that they were skipped (they fail instead when
//! `PATCHBAY_REQUIRE_SERVICES` is set); the Redis-down cases always run.
// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod exact;
mod expiry;
mod faults;
mod same_as_memory;
mod support;
mod tally;
