//! Shared helpers for the fixture-driven test runners: fixture paths, snapshot files
//! that `BLESS=1` rewrites, and re-chunking of byte streams.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gateway_translate::framing::{Frame, Framer, Framing};

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: impl AsRef<Path>) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The case directories under `tests/fixtures/<shape>/`, sorted.
pub fn cases(shape: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture(shape))
        .unwrap_or_else(|e| panic!("no fixtures for {shape}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Reads a fixture file's bytes, if it exists.
pub fn read_opt(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Compares `actual` with the snapshot file at `path`. With `BLESS=1` the file is
/// (re)written instead; a missing file is an error otherwise.
pub fn check_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create snapshot dir");
        }
        std::fs::write(path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {} (run with BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "snapshot {} differs (BLESS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// Frames `bytes` fed in the given chunk sizes (cycled), then finished.
pub fn frames_chunked(framing: Framing, bytes: &[u8], sizes: &[usize]) -> Vec<Frame> {
    let mut framer = Framer::new(framing);
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        framer.push(&rest[..n], &mut out).expect("frames fit");
        rest = &rest[n..];
        i += 1;
    }
    framer.finish(&mut out);
    out
}

/// Frames `bytes` in one chunk.
pub fn frames(framing: Framing, bytes: &[u8]) -> Vec<Frame> {
    frames_chunked(framing, bytes, &[usize::MAX])
}

/// Pretty JSON for snapshots (stable key order from serde_json's map).
pub fn pretty_json(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)));
    let mut s = serde_json::to_string_pretty(&v).expect("serialise");
    s.push('\n');
    s
}
