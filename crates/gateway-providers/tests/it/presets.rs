//! The preset table: every name the issue lists, with a usable base URL.

use gateway_providers::preset;
use gateway_providers::presets::PRESETS;

#[test]
fn every_listed_preset_exists_with_an_https_base_url() {
    let hosted = [
        "deepseek",
        "mistral",
        "xai",
        "groq",
        "openrouter",
        "together",
        "fireworks",
        "perplexity",
        "dashscope",
        "dashscope-intl",
        "zhipu",
        "zai",
        "moonshot",
        "moonshot-intl",
        "minimax",
        "minimax-intl",
        "doubao",
        "byteplus",
    ];
    for name in hosted {
        let p = preset(name).unwrap_or_else(|| panic!("preset {name} missing"));
        assert!(p.base_url.starts_with("https://"), "{name}: {}", p.base_url);
        assert!(!p.base_url.ends_with('/'), "{name}");
        assert!(p.quirks.key_required, "{name}");
    }
    for name in ["lmstudio", "vllm"] {
        let p = preset(name).unwrap_or_else(|| panic!("preset {name} missing"));
        assert!(p.base_url.starts_with("http://127.0.0.1:"), "{name}");
        assert!(!p.quirks.key_required);
    }
    assert_eq!(PRESETS.len(), hosted.len() + 2);
    assert_eq!(
        preset("DashScope_Intl").map(|p| p.name),
        Some("dashscope-intl")
    );
    assert!(preset("unknown").is_none());
}
