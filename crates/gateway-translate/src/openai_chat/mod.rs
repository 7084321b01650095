//! openai_chat codec (in progress).
