//! What one Responses WebSocket connection remembers between its messages: its
//! latest response (OpenAI's connection-local cache), so that a `response.create`
//! with `previous_response_id` and only the new input continues it even with
//! `store: false` (what Codex sends), and a warm-up (`generate: false`) whose input
//! the next message builds on.
//!
//! Only the latest of each is kept, as OpenAI does: a client that chains from an
//! older response needs it stored (`store: true`), and then the database has it.
//! The memory goes with the connection; nothing of it reaches the database.

use std::sync::Mutex;

use gateway_translate::stored::Conversation;
use serde_json::Value;

/// A connection's memory (shared by its messages' requests through their
/// extensions).
#[derive(Debug, Default)]
pub struct Memory {
    latest: Mutex<Option<Remembered>>,
    warmup: Mutex<Option<Warmup>>,
}

/// The latest answered response: its conversation up to and including its output.
#[derive(Debug)]
struct Remembered {
    id: String,
    key_id: String,
    conversation: Conversation,
}

/// A `generate: false` message: no answer, only an id that a later message
/// continues; its input (and what it continued) goes in front of that message's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Warmup {
    /// The id its `response.completed` gave.
    pub(crate) id: String,
    /// The `previous_response_id` it named, if any.
    pub(crate) previous: Option<String>,
    /// Its `input` as items.
    pub(crate) input: Vec<Value>,
}

impl Memory {
    /// Keeps `conversation` as the connection's latest response.
    pub(crate) fn remember(&self, id: &str, key_id: &str, conversation: Conversation) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *latest = Some(Remembered {
            id: id.to_owned(),
            key_id: key_id.to_owned(),
            conversation,
        });
    }

    /// The conversation of `id`, if it is the connection's latest response and the
    /// key `key_id` made it (every message of a connection is authenticated anew).
    pub(crate) fn recall(&self, id: &str, key_id: &str) -> Option<Conversation> {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest
            .as_ref()
            .filter(|r| r.id == id && r.key_id == key_id)
            .map(|r| r.conversation.clone())
    }

    /// Keeps a warm-up, replacing the previous one.
    pub(crate) fn warm(&self, warmup: Warmup) {
        *self.warmup.lock().unwrap_or_else(|e| e.into_inner()) = Some(warmup);
    }

    /// The warm-up `id`, if it is the connection's latest.
    pub(crate) fn warmup(&self, id: &str) -> Option<Warmup> {
        let warmup = self.warmup.lock().unwrap_or_else(|e| e.into_inner());
        warmup.as_ref().filter(|w| w.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::{Message, Role};

    #[test]
    fn only_the_latest_response_is_recalled() {
        let memory = Memory::default();
        let talk = |t: &str| Conversation {
            system: Vec::new(),
            messages: vec![Message::text(Role::User, t)],
        };
        memory.remember("resp_a", "k1", talk("a"));
        assert_eq!(memory.recall("resp_a", "k1"), Some(talk("a")));
        memory.remember("resp_b", "k1", talk("b"));
        assert_eq!(memory.recall("resp_a", "k1"), None);
        assert_eq!(memory.recall("resp_b", "k1"), Some(talk("b")));
    }

    #[test]
    fn another_keys_response_is_not_recalled() {
        let memory = Memory::default();
        memory.remember("resp_a", "k2", Conversation::default());
        assert_eq!(memory.recall("resp_a", "k1"), None);
    }
}
