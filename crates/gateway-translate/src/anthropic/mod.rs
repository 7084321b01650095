//! anthropic codec (in progress).
