//! Embeddings on Vertex AI: its `:predict` method takes `instances` and answers
//! `predictions`, where Gemini's `batchEmbedContents` (the shape a `vertex` provider
//! is sent) has `requests` and `embeddings`. These two functions rewrite one into the
//! other; the vectors pass as their exact text.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Gemini `batchEmbedContents` (the fields `:predict` has a place for).
#[derive(Deserialize)]
struct Batch {
    requests: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    content: Content,
    task_type: Option<String>,
    title: Option<String>,
    output_dimensionality: Option<u32>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

/// Vertex `:predict` for text-embedding models.
#[derive(Serialize)]
struct Predict {
    instances: Vec<Instance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters>,
}

/// One input; Vertex spells these fields in snake case.
#[derive(Serialize)]
struct Instance {
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    output_dimensionality: u32,
}

/// Vertex's answer.
#[derive(Deserialize)]
struct Predictions {
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: Vectors,
}

#[derive(Deserialize)]
struct Vectors {
    values: Box<RawValue>,
}

/// Gemini's answer.
#[derive(Serialize)]
struct BatchAnswer<'a> {
    embeddings: Vec<Values<'a>>,
}

#[derive(Serialize)]
struct Values<'a> {
    values: &'a RawValue,
}

/// A `batchEmbedContents` body as a `:predict` body: each request's text parts as
/// one instance (joined by new lines), its task type and title kept, and the
/// first output dimensionality as the call's (Vertex sets it per call). `None`: not
/// a batch (it goes as it came, and the upstream says what is wrong).
pub(crate) fn predict_request(body: &[u8]) -> Option<Vec<u8>> {
    let batch: Batch = serde_json::from_slice(body).ok()?;
    let dimensionality = batch.requests.iter().find_map(|r| r.output_dimensionality);
    let instances = batch
        .requests
        .into_iter()
        .map(|r| Instance {
            content: r
                .content
                .parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join("\n"),
            task_type: r.task_type,
            title: r.title,
        })
        .collect();
    serde_json::to_vec(&Predict {
        instances,
        parameters: dimensionality.map(|output_dimensionality| Parameters {
            output_dimensionality,
        }),
    })
    .ok()
}

/// A `:predict` answer as a `batchEmbedContents` answer, vectors in order; `None`
/// when it is not one.
pub(crate) fn batch_answer(body: &[u8]) -> Option<Vec<u8>> {
    let answer: Predictions = serde_json::from_slice(body).ok()?;
    let embeddings = answer
        .predictions
        .iter()
        .map(|p| Values {
            values: &p.embeddings.values,
        })
        .collect();
    serde_json::to_vec(&BatchAnswer { embeddings }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_becomes_instances_with_one_dimensionality() {
        let batch = r#"{"requests":[
            {"model":"models/text-embedding-005","content":{"parts":[{"text":"first"},{"text":"line"}]},"taskType":"RETRIEVAL_QUERY","outputDimensionality":256},
            {"model":"models/text-embedding-005","content":{"parts":[{"text":"second"}]},"title":"Doc"}
        ]}"#;
        let predict = predict_request(batch.as_bytes()).expect("a batch");
        let v: serde_json::Value = serde_json::from_slice(&predict).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "instances": [
                    {"content": "first\nline", "task_type": "RETRIEVAL_QUERY"},
                    {"content": "second", "title": "Doc"}
                ],
                "parameters": {"outputDimensionality": 256}
            })
        );
        assert_eq!(predict_request(b"{\"input\":\"x\"}"), None);
    }

    #[test]
    fn predictions_become_embeddings_with_the_vectors_exact() {
        let answer = r#"{"predictions":[
            {"embeddings":{"statistics":{"truncated":false,"token_count":2},"values":[0.10,-2.5e-3]}},
            {"embeddings":{"statistics":{"truncated":false,"token_count":1},"values":[1]}}
        ],"metadata":{"billableCharacterCount":9}}"#;
        let batch = batch_answer(answer.as_bytes()).expect("predictions");
        assert_eq!(
            String::from_utf8(batch).expect("utf-8"),
            r#"{"embeddings":[{"values":[0.10,-2.5e-3]},{"values":[1]}]}"#
        );
        assert_eq!(batch_answer(b"{\"embeddings\":[]}"), None);
    }
}
