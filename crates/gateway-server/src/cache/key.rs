//! The cache key: a SHA-256 over what decides an answer — the canonical request
//! without the fields that only change how it is delivered or logged, the route and
//! its targets, and whose answers may be shared (the key, or its project).
//!
//! The request is written into the digest through its `Debug` form, field by field.
//! That form is deterministic (structs, vectors, `BTreeMap`s and JSON maps print in
//! a fixed order; floats print exactly), and it covers every field of the canonical
//! model by construction: a field added to `ChatRequest` later is part of the key
//! unless it is left out here on purpose, so a new answer-changing field can never
//! make two different requests share an answer. The form may change between builds;
//! `VERSION` and the crate version are part of the key, so instances of different
//! builds sharing one Redis miss rather than misread each other.

use std::fmt::{self, Write as _};

use gateway_protocol::ChatRequest;
use sha2::{Digest, Sha256};

use crate::routing::RoutePlan;

/// Changes when what the key covers changes.
const VERSION: &str = "patchbay-response-cache/1";

/// Members of the caller's shape-specific parameters (`extensions.params`) that do
/// not change the answer: storage and logging flags, end-user ids, labels, the
/// provider's prompt-cache routing hints, delivery options.
const NOT_ANSWER: &[&str] = &[
    "store",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "stream_options",
    "service_tier",
];

/// A cached answer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub [u8; 32]);

impl Key {
    /// The digest in lowercase hex (the Redis key's tail).
    pub(crate) fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

/// Writes formatted text into the digest, without building the text.
struct Hashing(Sha256);

impl fmt::Write for Hashing {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// The key of `req` routed by `plan`, for the answers shared by `scope`
/// (`key:<id>` or `project:<id>`).
pub(crate) fn of(req: &ChatRequest, plan: &RoutePlan, scope: &str) -> Key {
    let mut h = Hashing(Sha256::new());
    // Each piece ends with a separator no piece's text can fake (NUL).
    let _ = write!(h, "{VERSION}/{}\0{scope}\0", env!("CARGO_PKG_VERSION"));
    // Where it may go: the route and its targets as a set (a weighted draw or a
    // cool-down reorders them per request; any of them may answer).
    let _ = write!(h, "{}\0", plan.route_name);
    let mut targets: Vec<String> = plan.attempts.iter().map(ToString::to_string).collect();
    targets.sort_unstable();
    for t in &targets {
        let _ = write!(h, "{t}\0");
    }
    // What was asked. Left out: `model` (the route stands for it: aliases of one
    // route share answers), `stream` and `include_usage` (delivery: a cached answer
    // is replayed in either form), `user` (an end-user id for abuse tracking).
    let ChatRequest {
        model: _,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        sampling,
        response_format,
        reasoning,
        stream: _,
        include_usage: _,
        user: _,
        extensions,
    } = req;
    let _ = write!(
        h,
        "{system:?}\0{messages:?}\0{tools:?}\0{tool_choice:?}\0{parallel_tool_calls:?}\0\
         {sampling:?}\0{response_format:?}\0{reasoning:?}\0"
    );
    // Member by member, so a family whose members are all left out adds nothing.
    for (family, params) in &extensions.params {
        for (name, value) in params {
            if !NOT_ANSWER.contains(&name.as_str()) {
                let _ = write!(h, "{family}\0{name}\0{value:?}\0");
            }
        }
    }
    let _ = write!(h, "{:?}", extensions.binding);
    Key(h.0.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Target;
    use gateway_protocol::{Message, Role};

    fn plan(targets: &[(&str, &str)]) -> RoutePlan {
        RoutePlan {
            route_name: "r".to_owned(),
            attempts: targets.iter().map(|(p, m)| Target::new(*p, *m)).collect(),
            retries: 0,
            backoff: crate::routing::Backoff::default(),
            timeout: std::time::Duration::from_secs(1),
            auto_rule: None,
            cache: None,
        }
    }

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".to_owned(),
            messages: vec![Message::text(Role::User, text)],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn delivery_fields_do_not_change_the_key_and_answer_fields_do() {
        let p = plan(&[("a", "x"), ("b", "y")]);
        let base = of(&req("hi"), &p, "key:k");
        let mut delivered = req("hi");
        delivered.stream = true;
        delivered.include_usage = true;
        delivered.user = Some("u1".to_owned());
        delivered.model = "alias".to_owned();
        delivered
            .extensions
            .insert("openai", "store", serde_json::json!(true));
        delivered
            .extensions
            .insert("openai", "metadata", serde_json::json!({"a": 1}));
        assert_eq!(of(&delivered, &p, "key:k"), base);
        // The targets as a set: another order is the same route.
        assert_eq!(
            of(&req("hi"), &plan(&[("b", "y"), ("a", "x")]), "key:k"),
            base
        );

        let mut warmer = req("hi");
        warmer.sampling.temperature = Some(0.7);
        let mut param = req("hi");
        param
            .extensions
            .insert("openai", "logprobs", serde_json::json!(true));
        for (what, key) in [
            ("text", of(&req("hi!"), &p, "key:k")),
            ("temperature", of(&warmer, &p, "key:k")),
            ("a parameter", of(&param, &p, "key:k")),
            ("scope", of(&req("hi"), &p, "key:other")),
            ("targets", of(&req("hi"), &plan(&[("a", "x")]), "key:k")),
        ] {
            assert_ne!(key, base, "{what} must change the key");
        }
    }
}
