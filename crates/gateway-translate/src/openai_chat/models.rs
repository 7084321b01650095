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
    }
}

fn from_wire(m: Model) -> ModelInfo {
    ModelInfo {
        id: m.id,
        created: m.created,
        owned_by: m.owned_by,
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
