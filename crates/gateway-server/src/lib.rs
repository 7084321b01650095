//! The patchbay binary (in progress).
