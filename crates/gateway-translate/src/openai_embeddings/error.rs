//! Embeddings errors use the OpenAI envelope of the Chat module.

pub use crate::openai_chat::error::{decode, encode};
