"""Gateway gaps the suite found, as `module::test[param]` → reason.

Each entry is a strict expected failure: the suite stays green while the gap is open
and fails once the gateway is fixed, so the entry must then be removed. Every entry is
described in conformance/KNOWN_GAPS.md.
"""

GAPS: dict[str, str] = {}
