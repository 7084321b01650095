//! The preset table: every name the issue lists, with a usable base URL.

use gateway_providers::presets::PRESETS;
use gateway_providers::{HttpClient, Provider, ProviderConfig, ProviderKind, preset};

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
        "hunyuan",
        "hunyuan-intl",
        "stepfun",
        "stepfun-intl",
        "lingyiwanwu",
        "01ai",
        "qianfan",
        "cohere",
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

/// A provider configured with only `preset = name` and a key.
fn from_preset(name: &str) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAiCompatible);
    cfg.preset = Some(name.to_owned());
    cfg.api_key = Some("k".to_owned());
    Provider::new("p", &cfg, &HttpClient::new().expect("client")).expect("provider")
}

#[test]
fn each_new_vendor_resolves_to_its_domestic_and_international_host() {
    for (name, base, env) in [
        (
            "hunyuan",
            "https://api.hunyuan.cloud.tencent.com/v1",
            "HUNYUAN_API_KEY",
        ),
        (
            "hunyuan-intl",
            "https://tokenhub-intl.tencentcloudmaas.com/v1",
            "TOKENHUB_API_KEY",
        ),
        ("stepfun", "https://api.stepfun.com/v1", "STEPFUN_API_KEY"),
        (
            "stepfun-intl",
            "https://api.stepfun.ai/v1",
            "STEPFUN_API_KEY",
        ),
        (
            "lingyiwanwu",
            "https://api.lingyiwanwu.com/v1",
            "YI_API_KEY",
        ),
        ("01ai", "https://api.01.ai/v1", "YI_API_KEY"),
        (
            "qianfan",
            "https://qianfan.baidubce.com/v2",
            "QIANFAN_API_KEY",
        ),
        (
            "cohere",
            "https://api.cohere.ai/compatibility/v1",
            "COHERE_API_KEY",
        ),
    ] {
        let p = from_preset(name);
        assert_eq!(p.base_url(), base, "{name}");
        assert_eq!(p.preset().map(|p| p.api_key_env), Some(env), "{name}");
    }
    // Spellings people use resolve too.
    assert_eq!(preset("StepFun_Intl").map(|p| p.name), Some("stepfun-intl"));
    assert_eq!(preset("01AI").map(|p| p.name), Some("01ai"));
}

#[test]
fn the_new_rows_carry_their_documented_quirks() {
    let quirks = |name: &str| preset(name).expect(name).quirks;
    for name in ["stepfun", "stepfun-intl"] {
        let q = quirks(name);
        assert!(q.reasoning_content, "{name}");
        assert_eq!(
            q.chat_defaults,
            &[("reasoning_format", "\"deepseek-style\"")],
            "{name}"
        );
    }
    for name in ["hunyuan", "qianfan", "cohere"] {
        assert!(quirks(name).embeddings, "{name}");
    }
    for name in ["hunyuan-intl", "lingyiwanwu", "01ai", "cohere"] {
        assert!(!quirks(name).reasoning_content, "{name}");
    }
    // Only StepFun needs its chat bodies changed.
    let edited: Vec<&str> = PRESETS
        .iter()
        .filter(|p| !p.quirks.chat_defaults.is_empty())
        .map(|p| p.name)
        .collect();
    assert_eq!(edited, ["stepfun", "stepfun-intl"]);
    for p in PRESETS {
        for (_, json) in p.quirks.chat_defaults {
            serde_json::from_str::<serde_json::Value>(json)
                .unwrap_or_else(|e| panic!("{}: {json}: {e}", p.name));
        }
    }
}

#[test]
fn docs_providers_has_a_row_for_every_preset_with_its_url_and_key_variable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROVIDERS.md");
    let whole = std::fs::read_to_string(path).expect("docs/PROVIDERS.md");
    // The presets' table only: a kind may share a preset's name (`cohere` is both).
    let doc = whole
        .split_once("\n## Presets\n")
        .map(|(_, rest)| rest.split_once("\n## ").map_or(rest, |(table, _)| table))
        .expect("a Presets section");
    for p in PRESETS {
        let head = format!("| `{}` |", p.name);
        let row = doc
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no row for {}", p.name));
        assert!(row.contains(&format!("`{}`", p.base_url)), "{row}");
        assert!(row.contains(&format!("`{}`", p.api_key_env)), "{row}");
    }
    let rows = doc
        .lines()
        .filter(|l| {
            PRESETS
                .iter()
                .any(|p| l.starts_with(&format!("| `{}` |", p.name)))
        })
        .count();
    assert_eq!(rows, PRESETS.len(), "one row per preset");
    assert!(
        whole.contains(&format!("{} presets", PRESETS.len())),
        "the count"
    );
}

#[test]
fn docs_providers_has_a_row_for_every_kind_and_says_how_many() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROVIDERS.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROVIDERS.md");
    for kind in gateway_providers::ProviderKind::ALL {
        let head = format!("| `{}` |", kind.as_str());
        assert!(
            doc.lines().any(|l| l.starts_with(&head)),
            "no row for kind {}",
            kind.as_str()
        );
    }
    let count = gateway_providers::ProviderKind::ALL.len();
    assert!(doc.contains(&format!("{count} kinds")), "the count");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&format!("{count} kinds")),
        "the README's count"
    );
}
