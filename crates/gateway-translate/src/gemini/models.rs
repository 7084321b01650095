//! Gemini models list (`GET /v1beta/models`) ↔ [`ModelList`]. Names carry the
//! `models/` prefix on the wire and not in the canonical ids.

use gateway_protocol::{ModelInfo, ModelList};
use serde::{Deserialize, Serialize};

use crate::error::TranslateError;
use crate::json;

/// One model of the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireModel {
    /// `models/<id>`.
    pub name: String,
    /// Version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_limit: Option<u64>,
    /// Output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_limit: Option<u64>,
    /// Methods (`generateContent`, `countTokens`, `embedContent`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_generation_methods: Vec<String>,
}

/// The list body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireModelList {
    /// The models.
    #[serde(default)]
    pub models: Vec<WireModel>,
    /// Next page (the canonical list has no paging; dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Decodes an upstream models list.
pub fn decode(body: &[u8]) -> Result<ModelList, TranslateError> {
    let wire: WireModelList = json::decode_upstream("models list", body)?;
    Ok(ModelList {
        models: wire
            .models
            .into_iter()
            .map(|m| ModelInfo {
                id: m.name.strip_prefix("models/").unwrap_or(&m.name).to_owned(),
                display_name: m.display_name,
                created: None,
                owned_by: Some("google".into()),
                context_window: m.input_token_limit,
                max_output_tokens: m.output_token_limit,
                ..ModelInfo::default()
            })
            .collect(),
    })
}

/// Encodes a models list for a Gemini caller (every model offers `generateContent`
/// and `countTokens`).
pub fn encode(list: &ModelList) -> Vec<u8> {
    json::encode(&WireModelList {
        models: list.models.iter().map(to_wire).collect(),
        next_page_token: None,
    })
}

/// One model for a Gemini caller (`GET /v1beta/models/{name}`).
pub fn encode_model(model: &ModelInfo) -> Vec<u8> {
    json::encode(&to_wire(model))
}

fn to_wire(m: &ModelInfo) -> WireModel {
    WireModel {
        name: if m.id.starts_with("models/") {
            m.id.clone()
        } else {
            format!("models/{}", m.id)
        },
        version: None,
        display_name: m.display_name.clone(),
        input_token_limit: m.context_window,
        output_token_limit: m.max_output_tokens,
        supported_generation_methods: vec!["generateContent".into(), "countTokens".into()],
    }
}
