//! A hit served in the caller's shape: the kept canonical answer encoded as a whole
//! answer, or replayed as the events of a stream in the caller's grammar (one part
//! after another, each in one delta), whichever form and shape stored it.

use bytes::Bytes;
use gateway_translate::ResponseContext;
use gateway_translate::assemble::events_of;
use gateway_translate::codec::{self, StreamEncoder};
use http::HeaderValue;
use http_body::Frame;

use super::{CACHE, Stored};
use crate::accounting::Ticket;
use crate::ingress::ChatCall;
use crate::respond::{self, Answer, Served};

/// The answer to a request of `call` found in the cache, in the caller's shape and
/// form (`stream`); its account closed as a cache hit.
pub(crate) fn answer(
    hit: &Stored,
    call: &ChatCall,
    stream: bool,
    mut ctx: ResponseContext,
    mut ticket: Ticket,
) -> Answer {
    let served = Served {
        provider: &hit.provider,
        model: &hit.model,
        attempts: 0,
        notes: &[],
    };
    let elapsed = ticket.elapsed_ns();
    let mut resp = if stream {
        let mut encoder = StreamEncoder::new(call.shape, &ctx);
        encoder.set_clock(elapsed);
        let mut out = Vec::new();
        for event in events_of(&hit.response) {
            encoder.encode(&event, &mut out);
        }
        ticket.streamed_bytes(&out);
        ticket.cache_hit(&hit.provider, &hit.model);
        let body = futures_util::stream::iter([Ok(Frame::data(Bytes::from(out)))]);
        respond::stream(
            body,
            respond::stream_content_type(call.shape, call.json_array),
            served,
        )
    } else {
        if call.shape == gateway_protocol::ApiShape::Ollama {
            ctx.elapsed_ns = Some(elapsed);
        }
        let body = codec::encode_response(call.shape, &hit.response, &ctx);
        ticket.response_body(&body);
        ticket.cache_hit(&hit.provider, &hit.model);
        respond::whole(body, served)
    };
    resp.headers_mut()
        .insert(CACHE, HeaderValue::from_static("hit"));
    resp
}
