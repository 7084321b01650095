//! What a key (and its project) may do: the policy stored with each, as JSON.
//!
//! Shared vocabulary of the store (`keys`), the limiter (`limits`) and the server.
//! Every limit is optional; `None` means unlimited.

use serde::{Deserialize, Serialize};

/// Rates, quotas and budgets. Used by keys and by projects alike: a request must pass
/// both its key's and its project's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Requests per hour.
    pub rph: Option<u32>,
    /// Requests per day.
    pub rpd: Option<u32>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
    /// Input tokens per UTC day.
    pub daily_input_tokens: Option<u64>,
    /// Output tokens per UTC day.
    pub daily_output_tokens: Option<u64>,
    /// Input tokens per UTC calendar month.
    pub monthly_input_tokens: Option<u64>,
    /// Output tokens per UTC calendar month.
    pub monthly_output_tokens: Option<u64>,
    /// US dollars per UTC day.
    pub daily_usd: Option<f64>,
    /// US dollars per UTC calendar month.
    pub monthly_usd: Option<f64>,
    /// US dollars over the key's (or project's) lifetime.
    pub total_usd: Option<f64>,
}

impl Limits {
    /// True when nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        *self == Limits::default()
    }

    /// True when a token quota or a budget is set: then an admission reserves its
    /// estimate in the spending counters. Otherwise the counters only track, and a
    /// request is added to them when it settles, at what it really spent.
    pub fn reserves_spending(&self) -> bool {
        self.daily_input_tokens.is_some()
            || self.daily_output_tokens.is_some()
            || self.monthly_input_tokens.is_some()
            || self.monthly_output_tokens.is_some()
            || self.daily_usd.is_some()
            || self.monthly_usd.is_some()
            || self.total_usd.is_some()
    }
}

/// What to do with a request asking for more output tokens than the key allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensMode {
    /// Lower it to the limit.
    #[default]
    Clamp,
    /// Refuse the request (400).
    Reject,
}

/// Who owns a key and how it is labelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// The person or team responsible.
    pub owner: Option<String>,
    /// Free labels.
    pub tags: Vec<String>,
}

/// A key's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyPolicy {
    /// Model-name globs the key may use (`*` for all).
    pub models: Vec<String>,
    /// Provider names the key may reach (`*` for all).
    pub providers: Vec<String>,
    /// The model used when a request names none.
    pub default_model: Option<String>,
    /// Rates, quotas, budgets.
    pub limits: Limits,
    /// Largest `max_tokens` a request may ask for.
    pub max_tokens_per_request: Option<u64>,
    /// Clamp or refuse above `max_tokens_per_request`.
    pub max_tokens_mode: MaxTokensMode,
    /// A system prompt put before the caller's own.
    pub system_prompt: Option<String>,
    /// Owner and tags.
    pub metadata: Metadata,
    /// Store request and response bodies in the request log (off by default).
    pub log_bodies: bool,
    /// The gateway's response cache for this key's chat requests: `true` on, `false`
    /// off, whatever the route and `[cache] enabled` say; unset, they decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

impl KeyPolicy {
    /// Whether the key may use the public model name `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|g| crate::glob::glob_match(g, model))
    }

    /// Whether the key may reach the provider `provider`.
    pub fn allows_provider(&self, provider: &str) -> bool {
        self.providers
            .iter()
            .any(|g| crate::glob::glob_match(g, provider))
    }

    /// Whether the key or its project has any limit (else no limiter is asked).
    pub fn is_limited(&self, project: Option<&Limits>) -> bool {
        !self.limits.is_unlimited() || project.is_some_and(|p| !p.is_unlimited())
    }
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy {
            models: vec!["*".to_owned()],
            providers: vec!["*".to_owned()],
            default_model: None,
            limits: Limits::default(),
            max_tokens_per_request: None,
            max_tokens_mode: MaxTokensMode::Clamp,
            system_prompt: None,
            metadata: Metadata::default(),
            log_bodies: false,
            cache: None,
        }
    }
}

/// Whom a request is charged to: its key and, when the key belongs to one, its
/// project. Both ids are public ids (never secrets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The key's public id.
    pub key_id: String,
    /// The project's public id.
    pub project_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_as_json_and_reject_unknown_fields() {
        let mut p = KeyPolicy::default();
        p.limits.rpm = Some(60);
        p.limits.daily_usd = Some(2.5);
        p.metadata.tags = vec!["ci".into()];
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<KeyPolicy>(&text).unwrap(), p);
        let err = serde_json::from_str::<KeyPolicy>(r#"{"limits":{"rmp":5}}"#).unwrap_err();
        assert!(err.to_string().contains("rmp"), "{err}");
        // An empty object is the default policy.
        assert_eq!(
            serde_json::from_str::<KeyPolicy>("{}").unwrap(),
            KeyPolicy::default()
        );
    }
}
