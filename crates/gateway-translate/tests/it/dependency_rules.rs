//! Keeps the workspace's dependency edges as STYLE.md allows them: `protocol` ← none,
//! `translate` ← protocol only, `patchbay` (the binary) ← every library and nothing
//! ← `patchbay`, and the pure crates never pull an async runtime, an HTTP stack or a
//! database.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Workspace crate → the workspace crates it may depend on.
const ALLOWED: [(&str, &[&str]); 9] = [
    ("gateway-protocol", &[]),
    ("gateway-console", &[]),
    ("gateway-translate", &["gateway-protocol"]),
    ("gateway-auth", &["gateway-protocol"]),
    // The shared limiter on Redis: a `Limiter` of gateway-auth's.
    ("gateway-redis", &["gateway-protocol", "gateway-auth"]),
    // The store on PostgreSQL: gateway-auth's store traits, implemented.
    ("gateway-postgres", &["gateway-auth"]),
    (
        "gateway-providers",
        &["gateway-protocol", "gateway-translate"],
    ),
    (
        "gateway-server",
        &[
            "gateway-protocol",
            "gateway-translate",
            "gateway-providers",
            "gateway-auth",
            "gateway-console",
            "gateway-redis",
            "gateway-postgres",
        ],
    ),
    (
        "patchbay",
        &[
            "gateway-protocol",
            "gateway-translate",
            "gateway-providers",
            "gateway-auth",
            "gateway-redis",
            "gateway-postgres",
            "gateway-server",
        ],
    ),
];

/// The binary: no workspace package (library or example) may depend on it.
const BINARY: &str = "patchbay";

/// Crates the pure codec crates must not depend on (directly).
const IMPURE: [&str; 6] = [
    "tokio",
    "hyper",
    "reqwest",
    "rusqlite",
    "tower",
    "async-trait",
];

#[test]
fn workspace_edges_follow_the_design() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.into_iter().collect();
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let deps: Vec<(&str, Option<&str>)> = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["name"].as_str().unwrap_or_default(), d["kind"].as_str()))
            .collect();
        assert!(
            !deps.iter().any(|(dep, _)| *dep == BINARY),
            "{name} must not depend on {BINARY}: it is the binary; use the libraries"
        );
        let Some(ok) = allowed.get(name) else {
            continue;
        };
        for (dep, kind) in &deps {
            if names.contains(dep) && kind.is_none() {
                assert!(ok.contains(dep), "{name} must not depend on {dep}");
            }
        }
        if matches!(name, "gateway-protocol" | "gateway-translate") {
            for (dep, kind) in &deps {
                assert!(
                    kind.is_some() || !IMPURE.contains(dep),
                    "{name} is pure and must not depend on {dep}"
                );
            }
        }
    }
}
