//! ollama codec (in progress).
