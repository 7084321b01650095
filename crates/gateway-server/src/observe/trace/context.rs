//! W3C trace context: the caller's `traceparent` read, ours written, and the
//! sampling decision (parent-based, else a share of trace ids).

use http::{HeaderMap, HeaderName, HeaderValue};

pub(super) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(super) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// `tracestate` longer than this is dropped rather than carried (the W3C limit of
/// 32 members fits well under it).
const MAX_TRACESTATE: usize = 512;

/// A caller's span, from its `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
    /// Its `tracestate`, carried onto our spans and upstream.
    pub state: Option<HeaderValue>,
}

/// The caller's context in `headers`, when its `traceparent` is valid: version
/// `00` exactly, or a later version's first four fields; ids not all zeros;
/// lower-case hex.
pub(super) fn parent(headers: &HeaderMap) -> Option<Parent> {
    let line = headers.get(TRACEPARENT)?.as_bytes();
    if line.len() < 55 || line[2] != b'-' || line[35] != b'-' || line[52] != b'-' {
        return None;
    }
    let version = hex_byte(&line[0..2])?;
    if version == 0xff
        || (version == 0 && line.len() != 55)
        || (line.len() > 55 && line[55] != b'-')
    {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(&line[3 + 2 * i..5 + 2 * i])?;
    }
    for (i, b) in span_id.iter_mut().enumerate() {
        *b = hex_byte(&line[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&line[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    let state = headers
        .get(TRACESTATE)
        .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
        .cloned();
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        state,
    })
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

/// Whether a trace of its own (no caller's decision) is kept: the trace id's low
/// 63 bits against `ratio` of their range, so every service sampling by the same
/// rule keeps the same traces.
pub(super) fn sampled_by_ratio(trace_id: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let drawn = u64::from_be_bytes(low) >> 1;
    // `as` saturates; ratio < 1 keeps it under 2^63.
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    drawn < bound
}

/// A fresh, non-zero trace id.
pub(super) fn new_trace_id() -> [u8; 16] {
    fastrand::u128(1..).to_be_bytes()
}

/// A fresh, non-zero span id.
pub(super) fn new_span_id() -> [u8; 8] {
    fastrand::u64(1..).to_be_bytes()
}

/// `traceparent` (`00-<trace id>-<span id>-<flags>`) naming `span_id`, and the
/// `tracestate` when there is one.
pub(super) fn headers(
    trace_id: &[u8; 16],
    span_id: &[u8; 8],
    sampled: bool,
    state: Option<&HeaderValue>,
) -> HeaderMap {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut line = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let flags = [u8::from(sampled)];
    let fields: [(usize, &[u8]); 3] = [(3, trace_id), (36, span_id), (53, &flags)];
    for (at, bytes) in fields {
        for (i, b) in bytes.iter().enumerate() {
            line[at + 2 * i] = HEX[usize::from(b >> 4)];
            line[at + 2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
    let mut out = HeaderMap::with_capacity(2);
    if let Ok(v) = HeaderValue::from_bytes(&line) {
        out.insert(TRACEPARENT, v);
    }
    if let Some(state) = state {
        out.insert(TRACESTATE, state.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(parent: &str, state: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, parent.parse().unwrap());
        if let Some(state) = state {
            h.insert(TRACESTATE, state.parse().unwrap());
        }
        h
    }

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const SPAN: &str = "b7ad6b7169203331";

    #[test]
    fn the_w3c_example_reads_and_writes_back_unchanged() {
        let line = format!("00-{TRACE}-{SPAN}-01");
        let got = parent(&with(&line, Some("congo=t61rcWkgMzE"))).unwrap();
        assert!(got.sampled);
        assert_eq!(got.state.as_ref().unwrap(), "congo=t61rcWkgMzE");
        let written = headers(&got.trace_id, &got.span_id, true, got.state.as_ref());
        assert_eq!(written[TRACEPARENT], line.as_str());
        assert_eq!(written[TRACESTATE], "congo=t61rcWkgMzE");
        let unsampled = parent(&with(&format!("00-{TRACE}-{SPAN}-00"), None)).unwrap();
        assert!(!unsampled.sampled && unsampled.state.is_none());
        let written = headers(&unsampled.trace_id, &unsampled.span_id, false, None);
        assert_eq!(
            written[TRACEPARENT],
            format!("00-{TRACE}-{SPAN}-00").as_str()
        );
        assert!(written.get(TRACESTATE).is_none());
    }

    #[test]
    fn invalid_traceparents_are_no_parent() {
        let zeros = "0".repeat(32);
        for bad in [
            format!("00-{TRACE}-{SPAN}"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{zeros}-{SPAN}-01"),
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00_{TRACE}-{SPAN}-01"),
            format!("0g-{TRACE}-{SPAN}-01"),
            format!("01-{TRACE}-{SPAN}-01x"),
        ] {
            assert_eq!(parent(&with(&bad, None)), None, "{bad}");
        }
        // A later version: its first four fields count.
        let later = parent(&with(&format!("01-{TRACE}-{SPAN}-01-what-comes"), None));
        assert!(later.is_some_and(|p| p.sampled));
        assert_eq!(parent(&HeaderMap::new()), None);
    }

    #[test]
    fn a_tracestate_that_is_empty_or_too_long_is_not_carried() {
        let line = format!("00-{TRACE}-{SPAN}-01");
        assert!(parent(&with(&line, Some(""))).unwrap().state.is_none());
        let long = "k=".to_owned() + &"v".repeat(MAX_TRACESTATE);
        assert!(parent(&with(&line, Some(&long))).unwrap().state.is_none());
    }

    #[test]
    fn the_ratio_keeps_its_share_of_trace_ids() {
        assert!(sampled_by_ratio(&[0xff; 16], 1.0));
        assert!(!sampled_by_ratio(&[0; 16], 0.0));
        let kept = (0..20_000)
            .filter(|_| sampled_by_ratio(&new_trace_id(), 0.25))
            .count();
        assert!((4_400..5_600).contains(&kept), "{kept} of 20000 at 0.25");
        // The decision is the id's: the same id, the same answer.
        let id = new_trace_id();
        assert_eq!(sampled_by_ratio(&id, 0.5), sampled_by_ratio(&id, 0.5));
    }

    #[test]
    fn fresh_ids_are_never_zero() {
        for _ in 0..1000 {
            assert_ne!(new_trace_id(), [0; 16]);
            assert_ne!(new_span_id(), [0; 8]);
        }
    }
}
