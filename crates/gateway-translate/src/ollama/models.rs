//! `GET /api/tags` ↔ [`ModelList`] (PROTOCOLS §7.2).

use gateway_protocol::{ModelInfo, ModelList};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::TranslateError;
use crate::json;
use crate::time::{format_rfc3339, parse_rfc3339};

/// The `/api/tags` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tags {
    /// Locally available models.
    #[serde(default)]
    pub models: Vec<Model>,
}

/// One local model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    /// `name:tag`.
    pub name: String,
    /// Same as `name` on current servers.
    #[serde(default)]
    pub model: String,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub modified_at: String,
    /// Size on disk in bytes.
    #[serde(default)]
    pub size: u64,
    /// `sha256` hex digest of the manifest.
    #[serde(default)]
    pub digest: String,
    /// `format`, `family`, `parameter_size`, `quantization_level`, ...
    #[serde(default)]
    pub details: Map<String, Value>,
}

/// Reads an upstream `/api/tags` answer; a model's id is its `name`.
pub fn decode(body: &[u8]) -> Result<ModelList, TranslateError> {
    let tags: Tags = json::decode_upstream("model list", body)?;
    Ok(ModelList {
        models: tags
            .models
            .into_iter()
            .map(|m| ModelInfo {
                id: if m.name.is_empty() { m.model } else { m.name },
                created: parse_rfc3339(&m.modified_at),
                ..ModelInfo::default()
            })
            .collect(),
    })
}

/// Writes `/api/tags`. Ollama's size and details are unknown here: size 0, empty
/// details, and a digest derived from the name so that it is stable.
pub fn encode(list: &ModelList) -> Vec<u8> {
    let models = list
        .models
        .iter()
        .map(|m| Model {
            name: m.id.clone(),
            model: m.id.clone(),
            modified_at: format_rfc3339(m.created.unwrap_or(0)),
            size: 0,
            digest: Sha256::digest(m.id.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            details: Map::new(),
        })
        .collect();
    json::encode(&Tags { models })
}
