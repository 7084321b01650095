//! Media given by URL, fetched and put inline for upstreams that read no URLs (Gemini
//! beyond its Files API and YouTube, Ollama, Bedrock beyond S3), under the `[media]`
//! fetch policy.
//!
//! A request's URLs are one fetch phase, bounded whatever the request says: distinct
//! URLs only (a URL named three times is fetched once), at most `max_urls` of them and
//! `max_total_bytes` in all (fetched, and put inline counting every copy),
//! [`AT_ONCE`] at a time, and the whole phase within the route's timeout. The phase belongs to the request, not to a target: a second
//! inline-only target reuses what was fetched (it is in the request by then) and gets
//! a failure at once instead of fetching again.

use std::collections::HashMap;

use base64::Engine as _;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, Blame, ChatRequest, ErrorKind, GatewayError, MediaSource, Part};
use gateway_providers::MediaFetcher;
use gateway_providers::fetch::{Budget, Fetched};
use gateway_translate::gemini;
use tokio::time::{Duration, Instant};

/// Fetches of one request in flight at once.
const AT_ONCE: usize = 4;

/// Whether `upstream` needs `url` fetched and sent inline.
fn needs_fetch(upstream: ApiShape, url: &str) -> bool {
    let web = url.starts_with("http://") || url.starts_with("https://");
    match upstream {
        ApiShape::Gemini => web && !gemini::takes_by_reference(url),
        ApiShape::Ollama | ApiShape::Bedrock => web,
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

/// One request's media fetching: its deadline, byte budget, fetch count and failures.
pub(crate) struct Media {
    deadline: Instant,
    timeout: Duration,
    budget: Option<Budget>,
    /// Fetches started for this request (each counts, even if the phase failed).
    started: usize,
    /// URLs that failed, with why: another inline-only target gets the same answer.
    failed: HashMap<String, GatewayError>,
}

impl Media {
    /// The fetching of a request whose route allows `timeout` (the phase's deadline
    /// starts now).
    pub(crate) fn new(timeout: Duration) -> Media {
        Media {
            deadline: Instant::now() + timeout,
            timeout,
            budget: None,
            started: 0,
            failed: HashMap::new(),
        }
    }

    /// Fetches every URL `upstream` cannot read and replaces it with the bytes. True
    /// when something was replaced (the caller's bytes no longer match the request).
    /// On failure the request is left as it was.
    pub(crate) async fn inline(
        &mut self,
        fetcher: &MediaFetcher,
        req: &mut ChatRequest,
        upstream: ApiShape,
    ) -> Result<bool, GatewayError> {
        // Every other upstream reads URLs itself: nothing to walk.
        if !matches!(upstream, ApiShape::Gemini | ApiShape::Ollama) {
            return Ok(false);
        }
        // The slots to fill, each with the index of its URL among the distinct ones.
        let mut urls: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut slots: Vec<(&mut MediaSource, usize)> = Vec::new();
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
            let at = match index.get(url) {
                Some(&at) => at,
                None => {
                    index.insert(url.clone(), urls.len());
                    urls.push(url.clone());
                    urls.len() - 1
                }
            };
            slots.push((source, at));
        }
        if urls.is_empty() {
            return Ok(false);
        }
        let fetched = self.fetch_all(fetcher, &urls).await?;
        // A URL fetched once still goes inline once per part naming it: the total
        // counts every copy, or one small request could name one file a million times.
        let inlined = slots.iter().try_fold(0usize, |sum, (_, at)| {
            sum.checked_add(fetched[*at].bytes.len())
        });
        let budget = self.budget.get_or_insert_with(|| fetcher.budget());
        if inlined.is_none_or(|n| n > budget.total()) {
            return Err(budget.exceeded());
        }
        let encoded: Vec<(String, String)> = fetched
            .into_iter()
            .map(|f| {
                let data = base64::engine::general_purpose::STANDARD.encode(&f.bytes);
                (f.media_type, data)
            })
            .collect();
        for (slot, at) in slots {
            let (media_type, data) = &encoded[at];
            *slot = MediaSource::Base64 {
                media_type: media_type.clone(),
                data: data.clone(),
            };
        }
        Ok(true)
    }

    /// Fetches `urls` (distinct), [`AT_ONCE`] at a time, within the deadline; the
    /// first failure ends the phase and cancels the fetches still running.
    async fn fetch_all(
        &mut self,
        fetcher: &MediaFetcher,
        urls: &[String],
    ) -> Result<Vec<Fetched>, GatewayError> {
        let policy = fetcher.policy();
        if let Some(err) = urls.iter().find_map(|u| self.failed.get(u)) {
            return Err(err.clone());
        }
        // (Switched off, the first fetch says so without reaching anything.)
        if policy.enabled && self.started + urls.len() > policy.max_urls {
            return Err(GatewayError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "this request has {} media URLs to fetch for an upstream that takes media inline only; at most {} are fetched per request ([media] max_urls): send fewer, or some inline as base64",
                    self.started + urls.len(),
                    policy.max_urls
                ),
            ));
        }
        self.started += urls.len();
        let budget: &Budget = self.budget.get_or_insert_with(|| fetcher.budget());
        let phase = async {
            let mut out: Vec<Option<Fetched>> = vec![None; urls.len()];
            // Made up front: a lazily mapped stream held across an await makes the
            // future's `Send` proof fail on the closure's lifetimes.
            let fetches: Vec<_> = (0..urls.len())
                .map(|i| fetch_one(fetcher, budget, &urls[i], i))
                .collect();
            let mut running = futures_util::stream::iter(fetches).buffer_unordered(AT_ONCE);
            while let Some((i, result)) = running.next().await {
                match result {
                    Ok(fetched) => out[i] = Some(fetched),
                    Err(err) => return Err((i, err)),
                }
            }
            Ok(out.into_iter().flatten().collect::<Vec<_>>())
        };
        let outcome = tokio::time::timeout_at(self.deadline, phase).await;
        match outcome {
            Ok(Ok(all)) => Ok(all),
            Ok(Err((i, err))) => {
                self.failed.insert(urls[i].clone(), err.clone());
                Err(err)
            }
            Err(_) => {
                let err = self.late();
                for url in urls {
                    self.failed.insert(url.clone(), err.clone());
                }
                Err(err)
            }
        }
    }

    /// The phase outlived the route's timeout. A 504 (the gateway waited on another
    /// server), blamed on the caller, whose URLs they are.
    fn late(&self) -> GatewayError {
        let mut err = GatewayError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "the media URLs of this request were not all fetched within the route's timeout ({} ms); send the media inline as base64, or from a faster host",
                self.timeout.as_millis()
            ),
        );
        err.blame = Blame::Client;
        err.retryable = false;
        err
    }
}

/// One fetch, tagged with its URL's index.
async fn fetch_one(
    fetcher: &MediaFetcher,
    budget: &Budget,
    url: &str,
    i: usize,
) -> (usize, Result<Fetched, GatewayError>) {
    (i, fetcher.fetch(url, budget).await)
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
