//! openai_responses codec (in progress).
