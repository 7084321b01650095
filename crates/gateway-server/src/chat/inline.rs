//! Media given by URL, fetched and put inline for upstreams that read no URLs (Gemini
//! beyond its Files API and YouTube, Ollama), under the `[media]` fetch policy.

use base64::Engine as _;
use gateway_protocol::{ApiShape, ChatRequest, GatewayError, MediaSource, Part};
use gateway_providers::MediaFetcher;
use gateway_translate::gemini;

/// Whether `upstream` needs `url` fetched and sent inline.
fn needs_fetch(upstream: ApiShape, url: &str) -> bool {
    let web = url.starts_with("http://") || url.starts_with("https://");
    match upstream {
        ApiShape::Gemini => web && !gemini::takes_by_reference(url),
        ApiShape::Ollama => web,
        _ => false,
    }
}

/// The media source of a part, images and documents alike, tool results included.
fn sources(parts: &mut [Part]) -> Vec<&mut MediaSource> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Image(image) => out.push(&mut image.source),
            Part::Document(doc) => out.push(&mut doc.source),
            Part::ToolResult(result) => out.extend(sources(&mut result.content)),
            _ => {}
        }
    }
    out
}

/// Fetches every URL `upstream` cannot read and replaces it with the bytes. True
/// when something was replaced (the caller's bytes no longer match the request).
pub(crate) async fn inline_media(
    fetcher: &MediaFetcher,
    req: &mut ChatRequest,
    upstream: ApiShape,
) -> Result<bool, GatewayError> {
    // Every other upstream reads URLs itself: nothing to walk.
    if !matches!(upstream, ApiShape::Gemini | ApiShape::Ollama) {
        return Ok(false);
    }
    let mut changed = false;
    let parts = req
        .system
        .iter_mut()
        .chain(req.messages.iter_mut().flat_map(|m| m.parts.iter_mut()));
    for source in parts.flat_map(|p| sources(std::slice::from_mut(p))) {
        let MediaSource::Url(url) = &*source else {
            continue;
        };
        if !needs_fetch(upstream, url) {
            continue;
        }
        let fetched = fetcher.fetch(url).await?;
        *source = MediaSource::Base64 {
            media_type: fetched.media_type,
            data: base64::engine::general_purpose::STANDARD.encode(&fetched.bytes),
        };
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_only_upstreams_fetch_web_urls() {
        let png = "https://example.com/cat.png";
        assert!(needs_fetch(ApiShape::Gemini, png));
        assert!(needs_fetch(ApiShape::Ollama, png));
        assert!(!needs_fetch(ApiShape::Anthropic, png));
        assert!(!needs_fetch(ApiShape::OpenAiChat, png));
        assert!(!needs_fetch(
            ApiShape::Gemini,
            "https://www.youtube.com/watch?v=abc"
        ));
        assert!(!needs_fetch(ApiShape::Gemini, "gs://bucket/file.pdf"));
    }
}
