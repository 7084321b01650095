#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::{merged, provider_table, start_only_changes};
use crate::config::Config;

fn config(text: &str) -> Config {
    Config::from_toml_str(text, &|_| None).unwrap()
}

#[test]
fn a_runtime_provider_cannot_take_a_name_the_file_uses() {
    let file = config("[providers.p]\nkind = \"mock\"\n");
    let table = provider_table("p", json!({"kind": "mock"}).as_object().unwrap(), None).unwrap();
    let err = merged(&file, &[("p".into(), table.clone())]).unwrap_err();
    assert!(err.to_string().contains("providers.p"), "{err}");
    let ok = merged(&file, &[("q".into(), table)]).unwrap();
    assert_eq!(ok.providers.len(), 2);
}

#[test]
fn a_runtime_table_gets_its_key_and_bad_settings_name_the_provider() {
    let settings = json!({"kind": "openai", "timeouts": {"connect_ms": 5}});
    let table = provider_table("p", settings.as_object().unwrap(), Some("sk-1")).unwrap();
    assert_eq!(table["api_key"].as_str(), Some("sk-1"));
    assert_eq!(table["timeouts"]["connect_ms"].as_integer(), Some(5));
    let null = json!({"kind": null});
    let err = provider_table("p", null.as_object().unwrap(), None).unwrap_err();
    assert!(err.to_string().contains("providers.p"), "{err}");
    let wrong = provider_table("q", json!({"kind": "nope"}).as_object().unwrap(), None).unwrap();
    let err = crate::app::provider_config("q", &wrong).unwrap_err();
    assert!(err.to_string().contains("providers.q.kind"), "{err}");
}

#[test]
fn only_start_only_sections_are_reported() {
    let old = config("[providers.p]\nkind = \"mock\"\n");
    let routes = config(
        "[providers.p]\nkind = \"mock\"\n[[routes]]\nmodel = \"m\"\ntargets = [{ provider = \"p\" }]\n",
    );
    assert!(start_only_changes(&old, &routes).is_empty());
    let both = config(
        "[providers.p]\nkind = \"mock\"\n[metrics]\nenabled = false\n[storage]\nretention_days = 3\n",
    );
    assert_eq!(start_only_changes(&old, &both), vec!["storage", "metrics"]);
}
