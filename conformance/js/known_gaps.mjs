// Gateway gaps the suite found, as `sdk › test [upstream]` → reason. Each entry is a
// strict expected failure: it passes while the gap is open and fails once the gateway
// is fixed, so the entry must then be removed. Every entry is described in
// conformance/KNOWN_GAPS.md.
export const GAPS = {};
