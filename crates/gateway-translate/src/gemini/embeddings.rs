//! Gemini `embedContent` and `batchEmbedContents` ↔ [`EmbeddingsRequest`] /
//! [`EmbeddingsResponse`] (PROTOCOLS §6.6, §9.23).
//!
//! One `content` is one input (the text of its parts joined with `\n`). A batch is
//! one canonical request, so every entry must share `taskType`, `title` and
//! `outputDimensionality`. Gemini reports no token usage.

use gateway_protocol::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use serde::{Deserialize, Serialize};

use super::wire;
use crate::error::TranslateError;
use crate::json;

/// `embedContent` body (also one entry of a batch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedRequest {
    /// `models/<id>` (required inside a batch, absent for embedContent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What to embed.
    pub content: wire::Content,
    /// `RETRIEVAL_QUERY`, `RETRIEVAL_DOCUMENT`, ... (name or integer).
    #[serde(default, alias = "task_type", skip_serializing_if = "Option::is_none")]
    pub task_type: Option<wire::EnumValue>,
    /// Document title (with `RETRIEVAL_DOCUMENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Truncate vectors to this size.
    #[serde(
        default,
        alias = "output_dimensionality",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_dimensionality: Option<u32>,
}

/// `batchEmbedContents` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The entries, in order.
    pub requests: Vec<EmbedRequest>,
}

/// `{"values": [...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Embedding {
    /// The vector.
    #[serde(default)]
    pub values: Vec<f32>,
}

/// Either response form: `{"embedding": …}` or `{"embeddings": [...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmbedResponse {
    /// embedContent's vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
    /// batchEmbedContents' vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<Vec<Embedding>>,
}

/// `taskType` names by proto number.
const TASK_TYPES: &[&str] = &[
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];

fn input_text(content: &wire::Content, path: &str) -> Result<String, TranslateError> {
    let mut texts = Vec::with_capacity(content.parts.len());
    for (i, p) in content.parts.iter().enumerate() {
        match &p.text {
            Some(t) => texts.push(t.as_str()),
            None => {
                return Err(TranslateError::invalid(
                    format!("{path}.parts[{i}]"),
                    "only text parts can be embedded",
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

/// Decodes a caller's `embedContent` body (`model` comes from the URL).
pub fn decode_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let wire: EmbedRequest = json::decode_request(body)?;
    Ok(EmbeddingsRequest {
        inputs: vec![EmbeddingInput::Text(input_text(&wire.content, "content")?)],
        dimensions: wire.output_dimensionality,
        task_type: wire.task_type.map(|t| t.resolve(TASK_TYPES)),
        title: wire.title,
        ..Default::default()
    })
}

/// Decodes a caller's `batchEmbedContents` body (`model` comes from the URL).
pub fn decode_batch_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let wire: BatchRequest = json::decode_request(body)?;
    let mut req = EmbeddingsRequest::default();
    for (i, entry) in wire.requests.iter().enumerate() {
        let path = format!("requests[{i}]");
        req.inputs.push(EmbeddingInput::Text(input_text(
            &entry.content,
            &format!("{path}.content"),
        )?));
        let task = entry.task_type.as_ref().map(|t| t.resolve(TASK_TYPES));
        if i == 0 {
            req.task_type = task;
            req.title = entry.title.clone();
            req.dimensions = entry.output_dimensionality;
        } else if task != req.task_type
            || entry.title != req.title
            || entry.output_dimensionality != req.dimensions
        {
            return Err(TranslateError::invalid(
                path,
                "every request of a batch must use the same taskType, title and \
                 outputDimensionality",
            ));
        }
    }
    Ok(req)
}

fn model_name(model: &str) -> String {
    if model.starts_with("models/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    }
}

fn entries(req: &EmbeddingsRequest) -> Result<Vec<EmbedRequest>, TranslateError> {
    req.inputs
        .iter()
        .enumerate()
        .map(|(i, input)| match input {
            EmbeddingInput::Text(text) => Ok(EmbedRequest {
                model: Some(model_name(&req.model)),
                content: wire::Content {
                    role: None,
                    parts: vec![wire::WirePart {
                        text: Some(text.clone()),
                        ..Default::default()
                    }],
                },
                task_type: req.task_type.as_deref().map(wire::EnumValue::name),
                title: req.title.clone(),
                output_dimensionality: req.dimensions,
            }),
            EmbeddingInput::Tokens(_) => Err(TranslateError::untranslatable(
                format!("input[{i}]"),
                "gemini",
                "Gemini embeds text only; send the input as a string",
            )),
        })
        .collect()
}

/// Encodes a `batchEmbedContents` body for a Gemini upstream (what the official SDK
/// uses even for one input).
pub fn encode_batch_request(req: &EmbeddingsRequest) -> Result<Vec<u8>, TranslateError> {
    Ok(json::encode(&BatchRequest {
        requests: entries(req)?,
    }))
}

/// Encodes an `embedContent` body (one input) for a Gemini upstream.
pub fn encode_request(req: &EmbeddingsRequest) -> Result<Vec<u8>, TranslateError> {
    let mut all = entries(req)?;
    if all.len() != 1 {
        return Err(TranslateError::untranslatable(
            "input",
            "gemini",
            "embedContent takes exactly one input; use batchEmbedContents",
        ));
    }
    let mut one = all.swap_remove(0);
    one.model = None;
    Ok(json::encode(&one))
}

/// Decodes either upstream response form. `model` is the model the request named.
pub fn decode_response(body: &[u8], model: &str) -> Result<EmbeddingsResponse, TranslateError> {
    let wire: EmbedResponse = json::decode_upstream("embeddings response", body)?;
    let vectors = match (wire.embeddings, wire.embedding) {
        (Some(many), _) => many.into_iter().map(|e| e.values).collect(),
        (None, Some(one)) => vec![one.values],
        (None, None) => {
            return Err(TranslateError::upstream(
                "embeddings response",
                "neither `embedding` nor `embeddings` is present",
            ));
        }
    };
    Ok(EmbeddingsResponse {
        model: model.to_owned(),
        vectors,
        input_tokens: None,
    })
}

/// Encodes `{"embedding": {"values": …}}` (the first vector) for an embedContent caller.
pub fn encode_response(resp: &EmbeddingsResponse) -> Vec<u8> {
    json::encode(&EmbedResponse {
        embedding: Some(Embedding {
            values: resp.vectors.first().cloned().unwrap_or_default(),
        }),
        embeddings: None,
    })
}

/// Encodes `{"embeddings": [...]}` for a batchEmbedContents caller.
pub fn encode_batch_response(resp: &EmbeddingsResponse) -> Vec<u8> {
    json::encode(&EmbedResponse {
        embedding: None,
        embeddings: Some(
            resp.vectors
                .iter()
                .map(|v| Embedding { values: v.clone() })
                .collect(),
        ),
    })
}
