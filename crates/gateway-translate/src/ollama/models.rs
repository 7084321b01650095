//! `GET /api/tags` ↔ [`ModelList`] (PROTOCOLS §7.2); and, for Ollama callers,
//! `POST /api/show` (one model's facts), `GET /api/ps` (loaded models) and
//! `GET /api/version`.

use gateway_protocol::{Capabilities, ModelInfo, ModelList};
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

/// The `/api/show` body: what Ollama tells about one model. Patchbay knows no
/// modelfile, template or weights; it tells the owner, the context window and the
/// output limit where the catalogue knows them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Show {
    /// The model's Modelfile (empty: there is none).
    #[serde(default)]
    pub modelfile: String,
    /// Default parameters, one per line (empty).
    #[serde(default)]
    pub parameters: String,
    /// The prompt template (empty: the upstream applies its own).
    #[serde(default)]
    pub template: String,
    /// `format`, `family`, `families`, `parameter_size`, `quantization_level`.
    #[serde(default)]
    pub details: Map<String, Value>,
    /// GGUF-style keys: `general.architecture`, `<architecture>.context_length`, ...
    #[serde(default)]
    pub model_info: Map<String, Value>,
    /// What the model can do (`completion`, `tools`, ...).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub modified_at: String,
}

/// The architecture name under which `/api/show` reports the catalogue's limits.
pub const ARCHITECTURE: &str = "patchbay";

/// Writes `/api/show` for `model`. `capabilities` lists what the catalogue knows
/// (`completion` or `embedding`, `tools`, `vision`, `thinking`: the words Ollama uses,
/// which clients such as Open WebUI read to offer image upload or a thinking switch);
/// a model the catalogue does not know is said to take completions and tools, which
/// every chat route through the gateway accepts.
pub fn encode_show(model: &ModelInfo) -> Vec<u8> {
    let family = model
        .owned_by
        .clone()
        .unwrap_or_else(|| ARCHITECTURE.to_owned());
    let mut details = Map::new();
    details.insert("parent_model".into(), Value::String(String::new()));
    details.insert("format".into(), Value::String(ARCHITECTURE.into()));
    details.insert("family".into(), Value::String(family.clone()));
    details.insert("families".into(), Value::from(vec![family]));
    details.insert("parameter_size".into(), Value::String(String::new()));
    details.insert("quantization_level".into(), Value::String(String::new()));
    let mut info = Map::new();
    info.insert("general.architecture".into(), ARCHITECTURE.into());
    info.insert("general.basename".into(), model.id.clone().into());
    if let Some(n) = model.context_window {
        info.insert(format!("{ARCHITECTURE}.context_length"), n.into());
    }
    if let Some(n) = model.max_output_tokens {
        info.insert(format!("{ARCHITECTURE}.max_output_tokens"), n.into());
    }
    json::encode(&Show {
        details,
        model_info: info,
        capabilities: capability_words(model.capabilities),
        modified_at: format_rfc3339(model.created.unwrap_or(0)),
        ..Show::default()
    })
}

fn capability_words(known: Option<Capabilities>) -> Vec<String> {
    let Some(c) = known else {
        return vec!["completion".into(), "tools".into()];
    };
    if c.embeddings {
        return vec!["embedding".into()];
    }
    let mut words = vec!["completion".to_owned()];
    for (has, word) in [
        (c.tools, "tools"),
        (c.vision, "vision"),
        (c.reasoning, "thinking"),
    ] {
        if has {
            words.push(word.to_owned());
        }
    }
    words
}

/// Writes `/api/ps`: the gateway holds no model in memory, so the list is empty.
pub fn encode_running() -> Vec<u8> {
    json::encode(&Tags::default())
}

/// Writes `/api/version` with `version`.
pub fn encode_version(version: &str) -> Vec<u8> {
    json::encode(&serde_json::json!({ "version": version }))
}

/// An `/api/show` request: the model by `model`, or by `name` as older clients send it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShowRequest {
    /// The model name.
    #[serde(default)]
    pub model: Option<String>,
    /// The model name (older clients).
    #[serde(default)]
    pub name: Option<String>,
}

/// Reads a caller's `/api/show` body: the model it names.
pub fn decode_show_request(body: &[u8]) -> Result<String, TranslateError> {
    let req: ShowRequest = json::decode_request(body)?;
    req.model
        .or(req.name)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TranslateError::invalid("model", "name the model to show in `model`"))
}
