//! Upstream adapters (in progress).
