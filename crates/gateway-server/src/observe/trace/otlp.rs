//! OTLP's protobuf messages for spans, written straight from the gateway's own
//! span records: no SDK span objects, no message structs, no allocation per
//! attribute. Field numbers are those of `opentelemetry/proto/trace/v1/trace.proto`
//! and its neighbours; the tests decode what is written here with the generated
//! `opentelemetry-proto` types.

/// `Span.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// An attribute's value (`AnyValue`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// One span, as recorded.
#[derive(Debug)]
pub(super) struct Span<'a> {
    pub trace_id: &'a [u8; 16],
    pub span_id: &'a [u8; 8],
    pub parent_id: Option<&'a [u8; 8]>,
    /// The parent is the caller's (another process's) span.
    pub parent_remote: bool,
    pub trace_state: Option<&'a [u8]>,
    /// The name: its parts joined by single spaces.
    pub name: &'a [&'a str],
    pub kind: Kind,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `Status { code: ERROR, message }` when set.
    pub error: Option<&'a str>,
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

#[inline(always)]
fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    encode_varint(field << 3 | wire, out);
}

/// Protobuf's base-128 varint (most of ours are one byte: lengths and tags).
#[inline(always)]
fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn encoded_len_varint(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a varint from the front of `bytes`: (value, bytes read).
fn decode_varint(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len().min(10))
}

/// The encoded length of a length-delimited field numbered under 16 holding `n` bytes.
fn field_len(n: usize) -> usize {
    1 + encoded_len_varint(n as u64) + n
}

#[inline]
fn bytes_field(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    tag(out, field, LEN);
    encode_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn any_value_len(value: Value<'_>) -> usize {
    match value {
        Value::Str(s) => field_len(s.len()),
        Value::Int(i) => 1 + encoded_len_varint(i as u64),
        Value::Bool(_) => 2,
        Value::Double(_) => 9,
    }
}

/// A `KeyValue` as field `field` (under 16) of its message.
fn attribute(out: &mut Vec<u8>, field: u64, key: &str, value: Value<'_>) {
    let any = any_value_len(value);
    let kv = field_len(key.len()) + field_len(any);
    // Most attributes are short strings: every length is one byte, and the
    // message's bytes go in four copies.
    if let Value::Str(text) = value
        && kv < 0x80
    {
        out.reserve(kv + 2);
        out.extend_from_slice(&[(field << 3 | LEN) as u8, kv as u8, 0x0a, key.len() as u8]);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&[0x12, any as u8, 0x0a, text.len() as u8]);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    tag(out, field, LEN);
    encode_varint(kv as u64, out);
    bytes_field(out, 1, key.as_bytes());
    tag(out, 2, LEN);
    encode_varint(any as u64, out);
    match value {
        Value::Str(s) => bytes_field(out, 1, s.as_bytes()),
        Value::Bool(b) => {
            tag(out, 2, VARINT);
            out.push(u8::from(b));
        }
        Value::Int(i) => {
            tag(out, 3, VARINT);
            encode_varint(i as u64, out);
        }
        Value::Double(d) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
}

/// Appends `span` as a `Span` message body (unframed) to `out`, with the
/// attributes that are `Some`.
pub(super) fn span(out: &mut Vec<u8>, span: &Span<'_>, attributes: &[(&str, Option<Value<'_>>)]) {
    out.reserve(512);
    span_start(out, span, attributes);
    span_end(out, span.end_ns, span.error, &[]);
}

/// The fields of `span` but its end time and status: a span still open, to be
/// completed by [`span_end`] (a message's fields may come in any order).
pub(super) fn span_start(
    out: &mut Vec<u8>,
    span: &Span<'_>,
    attributes: &[(&str, Option<Value<'_>>)],
) {
    bytes_field(out, 1, span.trace_id);
    bytes_field(out, 2, span.span_id);
    if let Some(state) = span.trace_state {
        bytes_field(out, 3, state);
    }
    if let Some(parent) = span.parent_id {
        bytes_field(out, 4, parent);
    }
    let name_len = span.name.iter().map(|p| p.len()).sum::<usize>() + span.name.len().max(1) - 1;
    tag(out, 5, LEN);
    encode_varint(name_len as u64, out);
    for (i, part) in span.name.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(part.as_bytes());
    }
    tag(out, 6, VARINT);
    out.push(span.kind as u8);
    tag(out, 7, FIXED64);
    out.extend_from_slice(&span.start_ns.to_le_bytes());
    attributes_into(out, attributes);
    // `flags`: the W3C flags (sampled) and whether the parent is remote (bits 8, 9).
    let remote = if span.parent_remote { 0x300 } else { 0x100 };
    tag(out, 16, FIXED32);
    out.extend_from_slice(&(0x01u32 | remote).to_le_bytes());
}

/// Completes a span begun by [`span_start`]: its end, more attributes, and an
/// error status when `error` is set.
pub(super) fn span_end(
    out: &mut Vec<u8>,
    end_ns: u64,
    error: Option<&str>,
    attributes: &[(&str, Option<Value<'_>>)],
) {
    tag(out, 8, FIXED64);
    out.extend_from_slice(&end_ns.to_le_bytes());
    attributes_into(out, attributes);
    if let Some(message) = error {
        // `Status { message = 2, code = 3 }`, code ERROR = 2.
        tag(out, 15, LEN);
        encode_varint((field_len(message.len()) + 2) as u64, out);
        bytes_field(out, 2, message.as_bytes());
        tag(out, 3, VARINT);
        out.push(2);
    }
}

fn attributes_into(out: &mut Vec<u8>, attributes: &[(&str, Option<Value<'_>>)]) {
    for (key, value) in attributes {
        if let Some(value) = value {
            attribute(out, 9, key, *value);
        }
    }
}

/// Frames a `Span` body as one entry of `ScopeSpans.spans` (field 2).
pub(super) fn framed_span(out: &mut Vec<u8>, body: &[u8]) {
    bytes_field(out, 2, body);
}

/// The parts of every export request that do not change: the resource (the
/// service) and the instrumentation scope.
#[derive(Debug)]
pub(super) struct Envelope {
    resource: Vec<u8>,
    scope: Vec<u8>,
}

impl Envelope {
    pub(super) fn new(service_name: &str) -> Envelope {
        let mut resource = Vec::new();
        attribute(&mut resource, 1, "service.name", Value::Str(service_name));
        let version = env!("CARGO_PKG_VERSION");
        attribute(&mut resource, 1, "service.version", Value::Str(version));
        attribute(
            &mut resource,
            1,
            "telemetry.sdk.language",
            Value::Str("rust"),
        );
        attribute(
            &mut resource,
            1,
            "telemetry.sdk.name",
            Value::Str("patchbay"),
        );
        let mut scope = Vec::new();
        bytes_field(&mut scope, 1, b"patchbay");
        bytes_field(&mut scope, 2, version.as_bytes());
        Envelope { resource, scope }
    }

    /// An `ExportTraceServiceRequest` holding `spans`, entries framed by
    /// [`framed_span`].
    pub(super) fn request(&self, spans: &[u8]) -> Vec<u8> {
        let scope_spans = field_len(self.scope.len()) + spans.len();
        let resource_spans = field_len(self.resource.len()) + field_len(scope_spans);
        let mut out = Vec::with_capacity(field_len(resource_spans));
        tag(&mut out, 1, LEN);
        encode_varint(resource_spans as u64, &mut out);
        bytes_field(&mut out, 1, &self.resource);
        tag(&mut out, 2, LEN);
        encode_varint(scope_spans as u64, &mut out);
        bytes_field(&mut out, 1, &self.scope);
        out.extend_from_slice(spans);
        out
    }
}

/// Splits framed span entries after at most `n` spans: (the first `n`, the rest).
pub(super) fn split_after(spans: &[u8], n: usize) -> (&[u8], &[u8]) {
    let mut at = 0;
    for _ in 0..n {
        if at >= spans.len() {
            break;
        }
        let (len, read) = decode_varint(&spans[at + 1..]);
        at += 1 + read + len as usize;
    }
    spans.split_at(at.min(spans.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use prost::Message;

    fn record<'a>(name: &'a [&'a str], error: Option<&'a str>) -> Span<'a> {
        Span {
            trace_id: &[7; 16],
            span_id: &[9; 8],
            parent_id: Some(&[3; 8]),
            parent_remote: true,
            trace_state: Some(b"vendor=1"),
            name,
            kind: Kind::Client,
            start_ns: 1_700_000_000_000_000_000,
            end_ns: 1_700_000_000_123_456_789,
            error,
        }
    }

    #[test]
    fn what_is_written_is_what_the_generated_types_read() {
        let envelope = Envelope::new("svc");
        let mut entries = Vec::new();
        let long = "m".repeat(300);
        let mut body = Vec::new();
        span(
            &mut body,
            &record(&["chat", &long], Some("overloaded")),
            &[
                ("s", Some(Value::Str("text"))),
                ("absent", None),
                ("neg", Some(Value::Int(-5))),
                ("big", Some(Value::Int(i64::MAX))),
                ("yes", Some(Value::Bool(true))),
                ("usd", Some(Value::Double(0.000_003))),
                ("long", Some(Value::Str(&long))),
            ],
        );
        framed_span(&mut entries, &body);
        body.clear();
        let mut root = record(&["request"], None);
        root.kind = Kind::Server;
        root.parent_id = None;
        root.trace_state = None;
        span(&mut body, &root, &[]);
        framed_span(&mut entries, &body);

        let request = ExportTraceServiceRequest::decode(&envelope.request(&entries)[..]).unwrap();
        assert_eq!(request.resource_spans.len(), 1);
        let rs = &request.resource_spans[0];
        let resource = rs.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].key, "service.name");
        let service = resource.attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_ref();
        assert_eq!(service, Some(&Any::StringValue("svc".into())));
        let scope = rs.scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "patchbay");
        let spans = &rs.scope_spans[0].spans;
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert_eq!(s.trace_id, [7; 16]);
        assert_eq!(s.span_id, [9; 8]);
        assert_eq!(s.parent_span_id, [3; 8]);
        assert_eq!(s.trace_state, "vendor=1");
        assert_eq!(s.name, format!("chat {long}"));
        assert_eq!(s.kind(), SpanKind::Client);
        assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(s.flags, 0x301);
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.code(), StatusCode::Error);
        assert_eq!(status.message, "overloaded");
        let values: Vec<_> = s
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
            .collect();
        assert_eq!(
            values,
            [
                ("s", Any::StringValue("text".into())),
                ("neg", Any::IntValue(-5)),
                ("big", Any::IntValue(i64::MAX)),
                ("yes", Any::BoolValue(true)),
                ("usd", Any::DoubleValue(0.000_003)),
                ("long", Any::StringValue(long.clone())),
            ]
        );
        let r = &spans[1];
        assert_eq!((r.name.as_str(), r.kind()), ("request", SpanKind::Server));
        assert!(r.parent_span_id.is_empty() && r.status.is_none() && r.attributes.is_empty());
    }

    #[test]
    fn varints_are_prosts() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            encode_varint(v, &mut ours);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            assert_eq!(
                encoded_len_varint(v),
                prost::encoding::encoded_len_varint(v)
            );
            assert_eq!(decode_varint(&ours), (v, ours.len()));
        }
    }

    #[test]
    fn framed_entries_split_on_span_boundaries() {
        let mut entries = Vec::new();
        let mut sizes = Vec::new();
        for i in 0..5 {
            let mut body = Vec::new();
            let name = "x".repeat(i * 60);
            span(&mut body, &record(&[&name], None), &[]);
            let before = entries.len();
            framed_span(&mut entries, &body);
            sizes.push(entries.len() - before);
        }
        let (first, rest) = split_after(&entries, 2);
        assert_eq!(first.len(), sizes[0] + sizes[1]);
        assert_eq!(rest.len(), sizes[2] + sizes[3] + sizes[4]);
        let (all, none) = split_after(&entries, 10);
        assert_eq!((all.len(), none.len()), (entries.len(), 0));
        let envelope = Envelope::new("svc");
        let decoded = ExportTraceServiceRequest::decode(&envelope.request(rest)[..]).unwrap();
        assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 3);
    }
}
