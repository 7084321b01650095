#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::{Trigger, merged, provider_table, start_only_changes};
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
fn a_runtime_vertex_providers_sealed_key_is_its_access_token() {
    let settings = json!({"kind": "vertex", "project": "p1"});
    let table = provider_table("v", settings.as_object().unwrap(), Some("ya29.sealed")).unwrap();
    assert_eq!(table["access_token"].as_str(), Some("ya29.sealed"));
    assert!(table.get("api_key").is_none());
    let cfg = crate::app::provider_config("v", &table).unwrap();
    assert_eq!(cfg.access_token.as_deref(), Some("ya29.sealed"));
}

#[test]
fn a_runtime_bedrock_providers_sealed_key_is_its_secret_access_key() {
    let settings = json!({"kind": "bedrock", "region": "us-east-1", "access_key_id": "AKID"});
    let table = provider_table("b", settings.as_object().unwrap(), Some("aws-sealed")).unwrap();
    assert_eq!(table["secret_access_key"].as_str(), Some("aws-sealed"));
    assert!(table.get("api_key").is_none());
    let cfg = crate::app::provider_config("b", &table).unwrap();
    assert_eq!(cfg.secret_access_key.as_deref(), Some("aws-sealed"));
    assert_eq!(cfg.access_key_id.as_deref(), Some("AKID"));
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

#[test]
fn a_provider_that_cannot_be_built_names_the_setting_at_fault() {
    let client = gateway_providers::HttpClient::new().unwrap();
    for (settings, path) in [
        (
            "kind = \"openai_compatible\"\nbase_url = \"not a url\"",
            "providers.p.base_url",
        ),
        ("kind = \"openai_compatible\"", "providers.p.base_url"),
        ("kind = \"openai\"", "providers.p.api_key"),
        (
            "kind = \"openai\"\npreset = \"deepseek\"\napi_key = \"k\"",
            "providers.p.preset",
        ),
        (
            "kind = \"mock\"\napi_version = \"1\"",
            "providers.p.api_version",
        ),
    ] {
        let file = config(&format!("[providers.p]\n{settings}\n"));
        let err = crate::table::Table::build(&file, &client, Default::default(), 1).unwrap_err();
        let crate::config::ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(problems[0].path, path, "{settings}: {err}");
    }
}

#[tokio::test]
async fn a_start_only_section_changed_back_needs_no_restart() {
    let text = "[storage]\npath = \":memory:\"\n[providers.p]\nkind = \"mock\"\n";
    let start = config(text);
    let app = crate::app::App::from_config(&start).unwrap();
    let changed = config(&format!("{text}[server]\nmax_body_bytes = 1000\n"));
    let report = app.reload_with(Ok(changed.clone()), Trigger::Admin);
    assert_eq!(report.restart_needed, vec!["server"]);
    let again = app.reload_with(Ok(changed), Trigger::Admin);
    assert_eq!(again.restart_needed, vec!["server"], "still not applied");
    let back = app.reload_with(Ok(start), Trigger::FileChanged);
    assert!(back.ok && back.restart_needed.is_empty(), "{back:?}");
}
