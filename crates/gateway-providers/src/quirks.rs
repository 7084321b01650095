//! A preset's quirks applied to the chat bodies sent to it: the fields the vendor
//! needs (`Quirks::chat_defaults`) added when the caller did not set them.
//!
//! The body is edited as bytes, not re-serialised: its fields keep their order and
//! their exact text (numbers, escapes), and only the top level is read.

use bytes::Bytes;
use serde::de::IgnoredAny;

use crate::spec::Quirks;

/// `body` with the absent `chat_defaults` appended to its top-level object; `body`
/// itself when nothing is missing or it is not a JSON object (the upstream then says
/// what is wrong with it).
pub(crate) fn chat_body(body: Bytes, quirks: &Quirks) -> Bytes {
    if quirks.chat_defaults.is_empty() {
        return body;
    }
    // The values are skipped, not built.
    let Ok(fields) = serde_json::from_slice::<std::collections::HashMap<String, IgnoredAny>>(&body)
    else {
        return body;
    };
    let missing: Vec<&(&str, &str)> = quirks
        .chat_defaults
        .iter()
        .filter(|(name, _)| !fields.contains_key(*name))
        .collect();
    if missing.is_empty() {
        return body;
    }
    let Some(close) = body.iter().rposition(|&b| b == b'}') else {
        return body;
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&body[..close]);
    let mut first = fields.is_empty();
    for (name, value) in missing {
        if !first {
            out.push(b',');
        }
        first = false;
        // Names are plain identifiers written in the preset table.
        out.extend_from_slice(format!("\"{name}\":{value}").as_bytes());
    }
    out.extend_from_slice(&body[close..]);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Quirks = Quirks {
        key_required: true,
        embeddings: false,
        reasoning_content: true,
        chat_defaults: &[("reasoning_format", "\"deepseek-style\"")],
    };

    fn edited(body: &str) -> String {
        String::from_utf8(chat_body(Bytes::from(body.to_owned()), &STEP).to_vec()).expect("utf-8")
    }

    #[test]
    fn a_missing_default_is_appended_and_the_rest_kept_byte_for_byte() {
        let body = r#"{"model":"step-3.5-flash","temperature":0.70,"messages":[{"role":"user","content":"}\u00e9"}]}"#;
        let out = edited(body);
        assert_eq!(
            out,
            format!(
                "{},\"reasoning_format\":\"deepseek-style\"}}",
                &body[..body.len() - 1]
            )
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(v["reasoning_format"], "deepseek-style");
    }

    #[test]
    fn the_callers_own_value_wins() {
        let body = r#"{"model":"m","reasoning_format":"general"}"#;
        assert_eq!(edited(body), body);
    }

    #[test]
    fn an_empty_object_gets_no_leading_comma_and_trailing_space_stays() {
        assert_eq!(
            edited("{ }\n"),
            "{ \"reasoning_format\":\"deepseek-style\"}\n"
        );
    }

    #[test]
    fn what_is_not_a_json_object_goes_as_it_came() {
        for body in ["[1,2]", "{\"a\":", "not json", ""] {
            assert_eq!(edited(body), body);
        }
    }
}
