//! Provider-specific parameters that have no common equivalent.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::shape::{ApiShape, Family};

/// Parameters carried beside the canonical request for one provider (family) only.
///
/// `params["anthropic"]["service_tier"] = "standard_only"` is applied when an Anthropic
/// upstream serves the request and ignored otherwise. Sources: fields of the caller's
/// own shape that the canonical model does not name, and the caller's explicit
/// `{"patchbay": {"ext": {"<provider>": {...}}}}` body key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extensions {
    /// Top-level body fields per provider key (`"openai"`, `"anthropic"`, `"gemini"`,
    /// `"ollama"`, or a provider name such as `"deepseek"`).
    pub params: BTreeMap<String, Map<String, Value>>,
    /// Fields the caller sent that change the answer and that only its own family
    /// understands. A target of another family must refuse the request rather than
    /// drop them silently.
    pub binding: Vec<BindingField>,
}

/// A caller field that only `family` can honour (`n: 3`, `previous_response_id`,
/// a hosted `web_search` tool, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingField {
    /// The family that understands the field.
    pub family: Family,
    /// The one shape of that family that understands it, when its siblings do not
    /// (`previous_response_id` means nothing to OpenAI Chat Completions).
    pub only_shape: Option<ApiShape>,
    /// The field's path in the caller's body, e.g. `tools[2]` or `n`.
    pub path: String,
    /// Why it cannot be dropped, in words for the caller.
    pub reason: String,
}

impl Extensions {
    /// True when nothing is carried.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty() && self.binding.is_empty()
    }

    /// The parameters for one provider key, if any.
    pub fn for_key(&self, key: &str) -> Option<&Map<String, Value>> {
        self.params.get(key)
    }

    /// Adds one parameter for a provider key.
    pub fn insert(&mut self, key: &str, field: impl Into<String>, value: Value) {
        self.params
            .entry(key.to_owned())
            .or_default()
            .insert(field.into(), value);
    }

    /// The first binding field that an upstream of shape `target` cannot honour.
    pub fn first_binding_against(&self, target: ApiShape) -> Option<&BindingField> {
        self.binding.iter().find(|b| match b.only_shape {
            Some(shape) => shape != target,
            None => b.family != target.family(),
        })
    }
}
