//! The bounded label values of metrics: providers and models known at start (the
//! rest fold into `other`), and the fixed names of operations, status classes,
//! error kinds and blame.

use foldhash::HashMap;
use std::sync::Arc;

use gateway_protocol::{Blame, ErrorKind};

use crate::catalog::Catalog;

/// The label of a model outside the known set, and of a request with no provider.
const OTHER: &str = "other";
const NONE: &str = "none";

/// Providers and models by small id; id 0 is `none` (providers) or `other` (models).
#[derive(Debug, Default, Clone)]
pub(crate) struct LabelNames {
    providers: Vec<Arc<String>>,
    provider_ids: HashMap<String, u16>,
    models: Vec<Arc<String>>,
    model_ids: HashMap<String, u16>,
}

impl LabelNames {
    /// `providers` as they are configured; models: the catalogue's and `models`
    /// (the configured routes' upstream models).
    pub(crate) fn new<'a>(
        providers: impl IntoIterator<Item = &'a str>,
        models: impl IntoIterator<Item = &'a str>,
        catalog: &'a Catalog,
    ) -> LabelNames {
        let mut names = LabelNames {
            providers: vec![Arc::new(NONE.to_owned())],
            models: vec![Arc::new(OTHER.to_owned())],
            ..LabelNames::default()
        };
        for p in providers {
            intern(&mut names.providers, &mut names.provider_ids, p);
        }
        for m in catalog.model_names().chain(models) {
            intern(&mut names.models, &mut names.model_ids, m);
        }
        names
    }

    /// Adds `more`'s providers and models after the ones known (ids unchanged).
    pub(crate) fn extend(&mut self, more: &LabelNames) {
        for p in more.providers.iter().skip(1) {
            intern(&mut self.providers, &mut self.provider_ids, p);
        }
        for m in more.models.iter().skip(1) {
            intern(&mut self.models, &mut self.model_ids, m);
        }
    }

    /// The id of `provider` (0 when there is none, or it is not configured).
    pub(crate) fn provider_id(&self, provider: Option<&str>) -> u16 {
        provider
            .and_then(|p| self.provider_ids.get(p))
            .copied()
            .unwrap_or(0)
    }

    /// The id of `model` when it is a known name, else 0 (`other`): a caller's
    /// made-up or dated names (through glob routes) must not add series.
    pub(crate) fn model_id(&self, model: Option<&str>) -> u16 {
        model
            .and_then(|m| self.model_ids.get(m))
            .copied()
            .unwrap_or(0)
    }

    /// Provider ids run from 1 to this, exclusive (0 is `none`).
    pub(crate) fn provider_count(&self) -> u16 {
        u16::try_from(self.providers.len()).unwrap_or(u16::MAX)
    }

    pub(crate) fn provider(&self, id: u16) -> Arc<String> {
        self.providers[usize::from(id).min(self.providers.len() - 1)].clone()
    }

    pub(crate) fn model(&self, id: u16) -> Arc<String> {
        self.models[usize::from(id).min(self.models.len() - 1)].clone()
    }
}

fn intern(names: &mut Vec<Arc<String>>, ids: &mut HashMap<String, u16>, name: &str) {
    if ids.contains_key(name) {
        return;
    }
    // Past 65,535 names the rest are `other`: labels stay bounded whatever is configured.
    let Ok(id) = u16::try_from(names.len()) else {
        return;
    };
    names.push(Arc::new(name.to_owned()));
    ids.insert(name.to_owned(), id);
}

/// The operations a request can be, in a fixed order (their index is part of a
/// series id).
const OPERATIONS: [&str; 7] = [
    "chat",
    "embeddings",
    "count_tokens",
    "list_models",
    "estimate",
    "stored_response",
    "responses_socket",
];

pub(crate) fn operation_index(operation: &str) -> u8 {
    OPERATIONS
        .iter()
        .position(|o| *o == operation)
        .map_or(15, |i| i as u8)
}

/// A status's class as an index and a label (`2xx` ... `5xx`).
pub(crate) fn status_class(status: u16) -> (u8, &'static str) {
    match status {
        100..=199 => (1, "1xx"),
        200..=299 => (2, "2xx"),
        300..=399 => (3, "3xx"),
        400..=498 => (4, "4xx"),
        // The caller left before the answer (nginx's 499).
        499 => (6, "499"),
        _ => (5, "5xx"),
    }
}

/// An error kind as a label or log value.
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::Authentication => "authentication",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::NotFound => "not_found",
        ErrorKind::PayloadTooLarge => "payload_too_large",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::QuotaExceeded => "quota_exceeded",
        ErrorKind::ContextLengthExceeded => "context_length_exceeded",
        ErrorKind::Upstream => "upstream",
        ErrorKind::UpstreamTimeout => "upstream_timeout",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Internal => "internal",
    }
}

pub(crate) fn blame_name(blame: Blame) -> &'static str {
    match blame {
        Blame::Client => "client",
        Blame::Upstream => "upstream",
        Blame::Gateway => "gateway",
    }
}

/// Why the gateway refused a request it answered with `status` and `kind`: the
/// limit's class for limit refusals (`rpm`, `tpm`, `quota`, `budget`), else what
/// the caller got wrong; `None` for answers that are not refusals (successes,
/// failures of the gateway). Only for requests no upstream was asked: an
/// upstream's own 4xx or 503 is not the gateway refusing.
pub(crate) fn refusal_reason(
    limit: Option<gateway_auth::LimitKind>,
    kind: Option<ErrorKind>,
    status: u16,
) -> Option<&'static str> {
    use gateway_auth::LimitKind as L;
    if let Some(limit) = limit {
        return Some(match limit {
            L::Rpm | L::Rph | L::Rpd | L::Tpm => limit.name(),
            L::DailyInputTokens
            | L::DailyOutputTokens
            | L::MonthlyInputTokens
            | L::MonthlyOutputTokens => "quota",
            L::DailyUsd | L::MonthlyUsd | L::TotalUsd => "budget",
        });
    }
    let kind = kind?;
    Some(match kind {
        // A body too slow to arrive (an invalid request answered 408).
        _ if status == 408 => "body_timeout",
        ErrorKind::Authentication => "unauthenticated",
        ErrorKind::PermissionDenied => "model_not_allowed",
        ErrorKind::InvalidRequest
        | ErrorKind::ContextLengthExceeded
        | ErrorKind::NotFound
        | ErrorKind::PayloadTooLarge
        | ErrorKind::RateLimited
        | ErrorKind::QuotaExceeded => kind_name(kind),
        // Shed at the door: no upstream was asked.
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Upstream | ErrorKind::UpstreamTimeout | ErrorKind::Internal => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_models_and_providers_fold_into_one_label() {
        let catalog = Catalog::bundled();
        let names = LabelNames::new(["openai", "local"], ["my-fine-tune"], &catalog);
        let known = names.model_id(Some("my-fine-tune"));
        assert_ne!(known, 0);
        assert_eq!(names.model(known).as_str(), "my-fine-tune");
        let listed = catalog.model_names().next().unwrap();
        assert_ne!(
            names.model_id(Some(listed)),
            0,
            "catalogue models keep their name"
        );
        // Names a caller makes up through a glob route add no series.
        assert_eq!(names.model_id(Some("made-up-1")), 0);
        assert_eq!(names.model_id(Some("made-up-2")), 0);
        assert_eq!(names.model(0).as_str(), "other");
        assert_eq!(
            names.provider(names.provider_id(Some("local"))).as_str(),
            "local"
        );
        assert_eq!(
            names.provider(names.provider_id(Some("nope"))).as_str(),
            "none"
        );
        assert_eq!(names.provider(names.provider_id(None)).as_str(), "none");
    }

    #[test]
    fn refusals_name_the_limit_class_or_what_the_caller_got_wrong() {
        use gateway_auth::LimitKind as L;
        assert_eq!(refusal_reason(Some(L::Rpm), None, 429), Some("rpm"));
        assert_eq!(refusal_reason(Some(L::Tpm), None, 429), Some("tpm"));
        assert_eq!(
            refusal_reason(Some(L::DailyInputTokens), None, 429),
            Some("quota")
        );
        assert_eq!(
            refusal_reason(Some(L::MonthlyUsd), None, 429),
            Some("budget")
        );
        let kind = |k| refusal_reason(None, Some(k), k.status());
        assert_eq!(kind(ErrorKind::PermissionDenied), Some("model_not_allowed"));
        assert_eq!(kind(ErrorKind::Authentication), Some("unauthenticated"));
        assert_eq!(kind(ErrorKind::Overloaded), Some("overloaded"));
        assert_eq!(kind(ErrorKind::Upstream), None);
        assert_eq!(
            refusal_reason(None, Some(ErrorKind::InvalidRequest), 408),
            Some("body_timeout")
        );
        assert_eq!(refusal_reason(None, None, 200), None);
    }
}
