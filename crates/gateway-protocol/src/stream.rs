//! Stream events: the canonical grammar every streamed answer is made of.
//!
//! A well-formed stream is
//! `MessageStart (PartStart Delta* PartStop | Usage)* MessageStop`, or any prefix of it
//! followed by `Error`. Part indexes count every part of the answer from 0 in order,
//! and a part is stopped before the next one starts. `Usage` carries running totals:
//! the last one wins.

use crate::chat::StopReason;
use crate::error::GatewayError;
use crate::shape::Family;
use crate::usage::Usage;

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The answer begins.
    MessageStart {
        /// The provider's response id.
        id: String,
        /// The model that answers.
        model: String,
    },
    /// A new part begins at `index`.
    PartStart {
        /// Position of the part in the answer.
        index: usize,
        /// What kind of part.
        part: PartStart,
    },
    /// More content for the part at `index`.
    Delta {
        /// Position of the part in the answer.
        index: usize,
        /// The content.
        delta: Delta,
    },
    /// The part at `index` is complete.
    PartStop {
        /// Position of the part in the answer.
        index: usize,
    },
    /// Running usage totals (the last one wins).
    Usage(Usage),
    /// The answer is complete.
    MessageStop {
        /// Why it stopped.
        stop_reason: StopReason,
        /// The stop sequence that matched, when known.
        stop_sequence: Option<String>,
    },
    /// The stream failed; nothing follows.
    Error(GatewayError),
}

/// The kind of a part that starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PartStart {
    /// Text follows as [`Delta::Text`].
    Text,
    /// A tool call; arguments follow as [`Delta::ToolArguments`].
    ToolCall {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Gemini `thoughtSignature` of the call.
        signature: Option<String>,
    },
    /// Reasoning; text follows as [`Delta::Reasoning`], then maybe a [`Delta::Signature`].
    Reasoning {
        /// Provider id of the reasoning item (OpenAI Responses).
        id: Option<String>,
        /// The family that produced it.
        source: Option<Family>,
    },
    /// Redacted reasoning, complete at once (no deltas).
    RedactedReasoning {
        /// The opaque data.
        data: String,
        /// The family that produced it.
        source: Option<Family>,
    },
}

/// Content added to an open part.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// Text fragment.
    Text(String),
    /// Fragment of a tool call's JSON arguments.
    ToolArguments(String),
    /// Reasoning text fragment.
    Reasoning(String),
    /// Signature of the reasoning part (sent once, before it stops).
    Signature(String),
}
