//! `GET /v1/models` in Anthropic's shape: `{data, has_more, first_id, last_id}` with
//! RFC 3339 `created_at` (PROTOCOLS §5.6).

use gateway_protocol::{ModelInfo, ModelList};
use serde::{Deserialize, Serialize};

use crate::error::TranslateError;
use crate::json;

/// The list body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct List {
    /// The models.
    pub data: Vec<Model>,
    /// Whether another page follows.
    #[serde(default)]
    pub has_more: bool,
    /// First id of this page.
    #[serde(default)]
    pub first_id: Option<String>,
    /// Last id of this page.
    #[serde(default)]
    pub last_id: Option<String>,
}

/// One model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Always `model`.
    #[serde(rename = "type", default = "model_type")]
    pub kind: String,
    /// Model id.
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub display_name: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created_at: String,
    /// Context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
    /// Output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

fn model_type() -> String {
    "model".to_owned()
}

/// Encodes a model list (one page, `has_more: false`). Unknown creation times are
/// shown as the Unix epoch (`created_at` is required in this shape).
pub fn encode(list: &ModelList) -> Vec<u8> {
    let data: Vec<Model> = list.models.iter().map(to_wire).collect();
    json::encode(&List {
        first_id: data.first().map(|m| m.id.clone()),
        last_id: data.last().map(|m| m.id.clone()),
        has_more: false,
        data,
    })
}

/// One model for a caller (`GET /v1/models/{model_id}`).
pub fn encode_model(model: &ModelInfo) -> Vec<u8> {
    json::encode(&to_wire(model))
}

fn to_wire(m: &ModelInfo) -> Model {
    Model {
        kind: model_type(),
        id: m.id.clone(),
        display_name: m.display_name.clone().unwrap_or_else(|| m.id.clone()),
        created_at: rfc3339(m.created.unwrap_or(0)),
        max_input_tokens: m.context_window,
        max_tokens: m.max_output_tokens,
    }
}

/// Decodes an upstream model list.
pub fn decode(body: &[u8]) -> Result<ModelList, TranslateError> {
    let list: List = json::decode_upstream("model list", body)?;
    Ok(ModelList {
        models: list
            .data
            .into_iter()
            .map(|m| ModelInfo {
                created: parse_rfc3339(&m.created_at),
                display_name: (!m.display_name.is_empty()).then_some(m.display_name),
                owned_by: Some("anthropic".to_owned()),
                context_window: m.max_input_tokens,
                max_output_tokens: m.max_tokens,
                id: m.id,
                ..ModelInfo::default()
            })
            .collect(),
    })
}

pub use crate::time::{format_rfc3339 as rfc3339, parse_rfc3339};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_760_000_000), "2025-10-09T08:53:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-02-17T00:00:00Z"), Some(1_771_286_400));
        for t in [0, 59, 86_399, 951_782_400, 1_760_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2025-10-09T10:53:20.5+02:00"),
            Some(1_760_000_000)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }
}
