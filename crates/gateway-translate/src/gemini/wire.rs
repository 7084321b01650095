//! Gemini `generateContent` wire types with Google's exact field names.
//!
//! Responses use lowerCamelCase; requests follow proto3 JSON rules, so every field
//! also accepts its snake_case spelling (`#[serde(alias)]`) and enum fields accept
//! names or integers ([`EnumValue`]). Unknown fields are ignored, except top-level
//! and `generationConfig` extras, which are kept in `extra`.

use gateway_protocol::RawJson;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An enum value as sent: a name (`"AUTO"`) or an integer (`1`), kept as text
/// (`"1"` for integers); decoders map both spellings with a table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumValue(pub String);

impl EnumValue {
    /// The value by name.
    pub fn name(name: &str) -> Self {
        EnumValue(name.to_owned())
    }

    /// The name for this value: names pass through, integers index `names`.
    pub fn resolve(&self, names: &[&'static str]) -> String {
        match self.0.parse::<usize>() {
            Ok(i) => names.get(i).map_or(self.0.clone(), |n| (*n).to_owned()),
            Err(_) => self.0.clone(),
        }
    }
}

impl Serialize for EnumValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnumValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EnumValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an enum name or integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnumValue, E> {
                Ok(EnumValue(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<EnumValue, E> {
                Ok(EnumValue(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EnumValue, E> {
                Ok(EnumValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Writes a float that holds a whole number as an integer (`40`, not `40.0`).
pub(crate) fn whole_number<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15 => s.serialize_u64(*f as u64),
        Some(f) => s.serialize_f64(*f),
        None => s.serialize_none(),
    }
}

/// `FunctionCallingConfig.mode` names by proto number.
pub const MODE_NAMES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];

/// `FinishReason` names by proto number.
pub const FINISH_REASON_NAMES: &[&str] = &[
    "FINISH_REASON_UNSPECIFIED",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "LANGUAGE",
];

/// `BlockReason` names by proto number.
pub const BLOCK_REASON_NAMES: &[&str] = &[
    "BLOCK_REASON_UNSPECIFIED",
    "SAFETY",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
];

/// `ThinkingLevel` names by proto number.
pub const THINKING_LEVEL_NAMES: &[&str] = &[
    "THINKING_LEVEL_UNSPECIFIED",
    "LOW",
    "MEDIUM",
    "HIGH",
    "MINIMAL",
];

/// `GenerateContentRequest` (also the `generateContentRequest` of countTokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Only inside countTokens' `generateContentRequest`; the URL names the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation.
    pub contents: Vec<Content>,
    /// System instruction (its role is ignored).
    #[serde(
        default,
        alias = "system_instruction",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_instruction: Option<Content>,
    /// Function declarations and hosted tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Function-calling mode.
    #[serde(
        default,
        alias = "tool_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_config: Option<ToolConfig>,
    /// Sampling, limits, structured output, thinking.
    #[serde(
        default,
        alias = "generation_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub generation_config: Option<GenerationConfig>,
    /// Other top-level fields (`safetySettings`, `cachedContent`, `patchbay`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A turn: a role and its parts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// `user` or `model` (absent in `systemInstruction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<WirePart>,
}

/// One part: exactly one data field plus modifiers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePart {
    /// Text (thought summary when `thought` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline bytes.
    #[serde(
        default,
        alias = "inline_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub inline_data: Option<Blob>,
    /// A file by URI.
    #[serde(default, alias = "file_data", skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A call the model made.
    #[serde(
        default,
        alias = "function_call",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_call: Option<FunctionCall>,
    /// A tool result sent back.
    #[serde(
        default,
        alias = "function_response",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_response: Option<FunctionResponse>,
    /// Code written by the hosted code-execution tool.
    #[serde(
        default,
        alias = "executable_code",
        skip_serializing_if = "Option::is_none"
    )]
    pub executable_code: Option<Value>,
    /// Output of the hosted code-execution tool.
    #[serde(
        default,
        alias = "code_execution_result",
        skip_serializing_if = "Option::is_none"
    )]
    pub code_execution_result: Option<Value>,
    /// The text is a thought summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque base64 thought signature.
    #[serde(
        default,
        alias = "thought_signature",
        skip_serializing_if = "Option::is_none"
    )]
    pub thought_signature: Option<String>,
}

/// `inlineData`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// MIME type.
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    /// Base64 bytes.
    pub data: String,
}

/// `fileData`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// MIME type, when known.
    #[serde(default, alias = "mime_type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Files-API or YouTube URI.
    #[serde(alias = "file_uri")]
    pub file_uri: String,
}

/// `functionCall`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    /// Call id (newer models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// `functionResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// The id of the call answered, when the call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The called function's name (required by Gemini).
    pub name: String,
    /// The result object.
    #[serde(default)]
    pub response: Value,
    /// Media parts of the result (newer API versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<WirePart>,
}

/// One entry of `tools`: function declarations or one hosted tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Function declarations.
    #[serde(
        default,
        alias = "function_declarations",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_declarations: Option<Vec<FunctionDeclaration>>,
    /// Hosted tools (`googleSearch`, `codeExecution`, `urlContext`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function declaration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OpenAPI-subset schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Real JSON Schema (exclusive with `parameters`).
    #[serde(
        default,
        alias = "parameters_json_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<RawJson>,
}

/// `toolConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// Function-calling mode.
    #[serde(
        default,
        alias = "function_calling_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

/// `functionCallingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY`, `NONE`, `VALIDATED` (or 1–4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<EnumValue>,
    /// Names the model may call.
    #[serde(
        default,
        alias = "allowed_function_names",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_function_names: Vec<String>,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Stop sequences (≤ 5).
    #[serde(
        default,
        alias = "stop_sequences",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub stop_sequences: Vec<String>,
    /// `application/json` for JSON output.
    #[serde(
        default,
        alias = "response_mime_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_mime_type: Option<String>,
    /// OpenAPI-subset output schema.
    #[serde(
        default,
        alias = "response_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_schema: Option<Value>,
    /// JSON Schema of the output.
    #[serde(
        default,
        alias = "response_json_schema",
        alias = "_responseJsonSchema",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_json_schema: Option<Value>,
    /// Number of candidates.
    #[serde(
        default,
        alias = "candidate_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub candidate_count: Option<u64>,
    /// Output limit.
    #[serde(
        default,
        alias = "max_output_tokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<u64>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, alias = "top_p", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k (a float in the proto).
    #[serde(
        default,
        alias = "top_k",
        serialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_k: Option<f64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Presence penalty.
    #[serde(
        default,
        alias = "presence_penalty",
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(
        default,
        alias = "frequency_penalty",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f64>,
    /// Thinking settings.
    #[serde(
        default,
        alias = "thinking_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_config: Option<ThinkingConfig>,
    /// Other fields (`responseLogprobs`, `responseModalities`, `mediaResolution`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `thinkingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Return thought summaries.
    #[serde(
        default,
        alias = "include_thoughts",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_thoughts: Option<bool>,
    /// Thinking tokens (0 disables, −1 dynamic).
    #[serde(
        default,
        alias = "thinking_budget",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_budget: Option<i64>,
    /// `MINIMAL`, `LOW`, `MEDIUM`, `HIGH` (Gemini 3).
    #[serde(
        default,
        alias = "thinking_level",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking_level: Option<EnumValue>,
}
