//! `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's shape (PROTOCOLS §4.2).

use gateway_protocol::{ModelInfo, ModelList};
use serde::{Deserialize, Serialize};

use crate::error::TranslateError;
use crate::json;

/// `{"object":"list","data":[...]}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct List {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// The models.
    #[serde(default)]
    pub data: Vec<Model>,
}

/// One model object.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Model {
    /// The id callers use.
    pub id: String,
    /// `model`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<u64>,
    /// The owning organisation.
    #[serde(default)]
    pub owned_by: Option<String>,
    /// Context window in tokens: not in OpenAI's own objects; a gateway that knows
    /// it says it (as several OpenAI-compatible servers do), clients ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Maximum output tokens, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// USD per million tokens, likewise, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct Pricing {
    /// Input (prompt) tokens.
    pub input_usd_per_mtok: f64,
    /// Output (completion) tokens.
    pub output_usd_per_mtok: f64,
}

/// `owned_by` when the canonical model does not say.
const DEFAULT_OWNER: &str = "system";

fn to_wire(m: &ModelInfo) -> Model {
    Model {
        id: m.id.clone(),
        object: "model".to_owned(),
        created: Some(m.created.unwrap_or(0)),
        owned_by: Some(
            m.owned_by
                .clone()
                .unwrap_or_else(|| DEFAULT_OWNER.to_owned()),
        ),
        context_window: m.context_window,
        max_output_tokens: m.max_output_tokens,
        pricing: match (m.input_micros_per_mtok, m.output_micros_per_mtok) {
            (Some(input), Some(output)) => Some(Pricing {
                input_usd_per_mtok: input as f64 / 1e6,
                output_usd_per_mtok: output as f64 / 1e6,
            }),
            _ => None,
        },
    }
}

fn from_wire(m: Model) -> ModelInfo {
    let micros = |usd: f64| (usd.is_finite() && usd >= 0.0).then(|| (usd * 1e6).round() as u64);
    ModelInfo {
        id: m.id,
        created: m.created,
        owned_by: m.owned_by,
        context_window: m.context_window,
        max_output_tokens: m.max_output_tokens,
        input_micros_per_mtok: m.pricing.and_then(|p| micros(p.input_usd_per_mtok)),
        output_micros_per_mtok: m.pricing.and_then(|p| micros(p.output_usd_per_mtok)),
        ..ModelInfo::default()
    }
}

/// The list body for a caller.
pub fn encode_list(list: &ModelList) -> Vec<u8> {
    json::encode(&List {
        object: "list".to_owned(),
        data: list.models.iter().map(to_wire).collect(),
    })
}

/// One model object for a caller (`GET /v1/models/{id}`).
pub fn encode_model(model: &ModelInfo) -> Vec<u8> {
    json::encode(&to_wire(model))
}

/// An upstream's list body.
pub fn decode_list(body: &[u8]) -> Result<ModelList, TranslateError> {
    let list: List = json::decode_upstream("model list", body)?;
    Ok(ModelList {
        models: list.data.into_iter().map(from_wire).collect(),
    })
}

/// An upstream's single model object.
pub fn decode_model(body: &[u8]) -> Result<ModelInfo, TranslateError> {
    json::decode_upstream::<Model>("model", body).map(from_wire)
}
