//! Conversions shared by the Ollama codecs: raw JSON arguments and image types.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

/// Removes insignificant whitespace from JSON text without reordering keys, so that
/// arguments read from a pretty-printed body equal those other shapes carry.
pub(crate) fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The canonical arguments text of Ollama's `arguments`: compact JSON of the object.
/// A JSON string (some Ollama-compatible servers send one) is taken as the text itself.
pub(crate) fn arguments_text(raw: &RawValue) -> String {
    let text = raw.get().trim();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(text) {
            return s;
        }
    }
    compact_json(text)
}

/// Ollama's `arguments` object for canonical arguments text; `Err` when the text is
/// not a JSON object. Empty text means no arguments (`{}`).
pub(crate) fn arguments_object(text: &str) -> Result<Box<RawValue>, String> {
    let text = text.trim();
    let text = if text.is_empty() { "{}" } else { text };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => RawValue::from_string(compact_json(text))
            .map_err(|e| format!("arguments are not JSON: {e}")),
        Ok(_) => Err("tool-call arguments must be a JSON object".to_owned()),
        Err(e) => Err(format!("tool-call arguments are not valid JSON: {e}")),
    }
}

/// The media type of base64 image data, sniffed from its first bytes (Ollama images
/// carry no type). Unknown data gives `application/octet-stream`.
pub(crate) fn sniff_image_type(b64: &str) -> &'static str {
    let head: String = b64
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(16)
        .collect();
    let bytes = STANDARD
        .decode(head.as_bytes())
        .or_else(|_| STANDARD.decode(head.get(..12).unwrap_or("").as_bytes()))
        .unwrap_or_default();
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_without_touching_strings() {
        assert_eq!(
            compact_json("{ \"b\" : \"x y\\\" z\",\n \"a\": [1, 2] }"),
            "{\"b\":\"x y\\\" z\",\"a\":[1,2]}"
        );
    }

    #[test]
    fn arguments_must_be_objects() {
        assert_eq!(
            arguments_object("").map(|r| r.get().to_owned()),
            Ok("{}".to_owned())
        );
        assert!(arguments_object("[1]").is_err());
        assert!(arguments_object("{\"a\":").is_err());
    }

    #[test]
    fn sniffs_png_and_jpeg() {
        assert_eq!(
            sniff_image_type("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"),
            "image/png"
        );
        assert_eq!(sniff_image_type("/9j/4AAQSkZJRgABAQ"), "image/jpeg");
        assert_eq!(sniff_image_type("UklGRiQAAABXRUJQVlA4"), "image/webp");
        assert_eq!(sniff_image_type("???"), "application/octet-stream");
    }
}
