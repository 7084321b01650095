//! Embedding `gateway-translate` in another program, with no gateway around it.
//!
//! ```text
//! embed-translate request  [FROM] [TO]  < request.json    # prints the translated request
//! embed-translate stream   [FROM] [TO]  < upstream.sse    # prints the caller's stream
//! ```
//! Shapes: `openai-chat`, `openai-responses`, `anthropic`, `gemini`, `ollama`.
//! `request` defaults to openai-chat → anthropic: a caller's body in, the upstream's
//! body out. `stream` defaults to anthropic → openai-chat: an upstream's transcript in,
//! the caller's stream out.

use std::io::{Read, Write};
use std::process::ExitCode;

use gateway_protocol::ApiShape;
use gateway_translate::codec::{self, Transcoder};
use gateway_translate::{EncodeOptions, ResponseContext};

fn shape(name: &str) -> Option<ApiShape> {
    ApiShape::ALL.into_iter().find(|s| s.as_str() == name)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("request");
    let parse = |i: usize, default: ApiShape| match args.get(i) {
        Some(name) => shape(name).ok_or_else(|| format!("unknown shape `{name}`")),
        None => Ok(default),
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    let result = match mode {
        "request" => parse(1, ApiShape::OpenAiChat)
            .and_then(|from| parse(2, ApiShape::Anthropic).map(|to| (from, to)))
            .and_then(|(from, to)| translate_request(from, to, &input)),
        "stream" => parse(1, ApiShape::Anthropic)
            .and_then(|from| parse(2, ApiShape::OpenAiChat).map(|to| (from, to)))
            .map(|(from, to)| transcode_stream(from, to, &input)),
        other => Err(format!("unknown mode `{other}`; use `request` or `stream`")),
    };
    match result {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// A caller's request in `from` → the body an upstream of shape `to` receives.
fn translate_request(from: ApiShape, to: ApiShape, body: &[u8]) -> Result<Vec<u8>, String> {
    let req = codec::decode_request(from, body).map_err(|e| e.to_string())?;
    let mut out =
        codec::encode_request(to, &req, &EncodeOptions::default()).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// An upstream's stream in `upstream` → the stream a caller of shape `caller` reads,
/// fed in small chunks as a network would deliver it.
fn transcode_stream(upstream: ApiShape, caller: ApiShape, bytes: &[u8]) -> Vec<u8> {
    // The codecs are pure: the embedding program supplies the clock and the id seed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ctx = ResponseContext {
        model: "example-model".into(),
        include_usage: true,
        created: now,
        id_seed: format!("example{now}"),
        ..ResponseContext::default()
    };
    let mut transcoder = Transcoder::new(upstream, caller, &ctx);
    let mut out = Vec::new();
    for chunk in bytes.chunks(64) {
        transcoder.push(chunk, &mut out);
    }
    transcoder.finish(&mut out);
    out
}
