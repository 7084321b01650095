//! openai_embeddings codec (in progress).
