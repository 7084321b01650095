//! The codecs' integration tests in one binary: per-shape fixture runners, the
//! cross-shape matrix and edge cases, the fast path, properties, the fuzz-corpus
//! replay and the crate's dependency rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod bedrock;
mod cohere;
mod cross_shape;
mod dependency_rules;
mod edge_cases;
mod fastpath;
mod fuzz_corpus;
mod gemini;
mod ollama;
mod ollama_ingress;
mod openai_chat;
mod openai_embeddings;
mod openai_responses;
mod properties;
mod support;
