//! gemini codec (in progress).
