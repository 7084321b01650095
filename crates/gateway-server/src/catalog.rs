//! The model catalogue: context windows, output limits, capabilities and prices,
//! bundled from `data/models.json` and overridable with `[catalog.<model>]`.

use std::collections::BTreeMap;

use foldhash::HashMap;

use gateway_protocol::{ChatRequest, Usage};
use serde::Deserialize;

use crate::config::{CatalogOverride, Config};

const BUNDLED: &str = include_str!("../data/models.json");

/// First-party families, preferred when a name is listed under several providers and
/// no provider is known (`gpt-4o` is OpenAI's before it is Azure's).
const ORIGINS: [&str; 8] = [
    "anthropic",
    "openai",
    "gemini",
    "mistral",
    "deepseek",
    "xai",
    "qwen",
    "zhipu",
];

/// USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prices {
    /// Input (uncached).
    pub input: Option<f64>,
    /// Output (reasoning included).
    pub output: Option<f64>,
    /// Input read from the prompt cache.
    pub cache_read: Option<f64>,
    /// Input written to the prompt cache.
    pub cache_write: Option<f64>,
}

impl Prices {
    /// The cost of `usage` in USD, or `None` when input or output has no price.
    /// Cached input without its own price is charged as plain input.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        let (input, output) = (self.input?, self.output?);
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        Some(
            per(usage.uncached_input_tokens(), input)
                + per(usage.cache_read_tokens, self.cache_read.unwrap_or(input))
                + per(usage.cache_write_tokens, self.cache_write.unwrap_or(input))
                + per(usage.output_tokens, output),
        )
    }
}

/// What the catalogue knows of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Provider family (`anthropic`, `openai`, `azure_openai`, `gemini`, ...).
    pub provider: String,
    /// Model name as the provider spells it.
    pub model: String,
    /// `chat`, `responses` or `embedding`.
    pub mode: String,
    /// Context window (largest input) in tokens.
    pub context_window: Option<u64>,
    /// Largest output the model accepts.
    pub max_output_tokens: Option<u64>,
    /// Prices.
    pub prices: Prices,
    /// Supports function tools.
    pub tools: bool,
    /// Accepts images.
    pub vision: bool,
    /// Supports reasoning / thinking.
    pub reasoning: bool,
    /// Supports JSON-schema structured output.
    pub json_schema: bool,
    /// When the provider retires it (`YYYY-MM-DD`).
    pub deprecation_date: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    source: String,
    models: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    provider: String,
    model: String,
    mode: String,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cache_read_per_mtok: Option<f64>,
    cache_write_per_mtok: Option<f64>,
    #[serde(default)]
    tools: bool,
    #[serde(default)]
    vision: bool,
    #[serde(default)]
    reasoning: bool,
    #[serde(default)]
    json_schema: bool,
    deprecation_date: Option<String>,
}

impl From<Entry> for ModelInfo {
    fn from(e: Entry) -> Self {
        ModelInfo {
            provider: e.provider,
            model: e.model,
            mode: e.mode,
            context_window: e.max_input_tokens,
            max_output_tokens: e.max_output_tokens,
            prices: Prices {
                input: e.input_per_mtok,
                output: e.output_per_mtok,
                cache_read: e.cache_read_per_mtok,
                cache_write: e.cache_write_per_mtok,
            },
            tools: e.tools,
            vision: e.vision,
            reasoning: e.reasoning,
            json_schema: e.json_schema,
            deprecation_date: e.deprecation_date,
        }
    }
}

/// What [`Catalog::clamp`] changed: `(before, after)` pairs, for logs and headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clamped {
    /// `max_output_tokens` lowered to the model's limit.
    pub max_output_tokens: Option<(u64, u64)>,
    /// The thinking budget lowered below the output limit.
    pub budget_tokens: Option<(u64, u64)>,
}

impl Clamped {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.max_output_tokens.is_none() && self.budget_tokens.is_none()
    }
}

/// All known models, by name (a name may be listed under several providers).
#[derive(Debug, Clone)]
pub struct Catalog {
    source: String,
    by_name: HashMap<String, Vec<ModelInfo>>,
}

/// Whether `name` ends in Bedrock's `:<n>` version.
fn versioned(name: &str) -> bool {
    // By bytes: `rsplit_once(':')`'s searcher cost more than the rest of a lookup.
    let bytes = name.as_bytes();
    bytes.iter().rposition(|&b| b == b':').is_some_and(|colon| {
        let n = &bytes[colon + 1..];
        !n.is_empty() && n.iter().all(u8::is_ascii_digit)
    })
}

/// Where `provider` stands among [`ORIGINS`] (after them when it is not one).
fn origin_rank(provider: &str) -> usize {
    ORIGINS
        .iter()
        .position(|o| *o == provider)
        .unwrap_or(ORIGINS.len())
}

impl Catalog {
    /// The catalogue bundled in the binary.
    pub fn bundled() -> Catalog {
        // The bundled data is checked by a unit test; an empty catalogue (no clamping,
        // no prices) is the safe fallback should it ever not parse.
        Catalog::from_json(BUNDLED).unwrap_or_else(|e| {
            tracing::error!("bundled model catalogue unreadable: {e}");
            Catalog {
                source: String::new(),
                by_name: HashMap::default(),
            }
        })
    }

    /// The bundled catalogue with `config`'s `[catalog.<model>]` overrides applied.
    pub fn from_config(config: &Config) -> Catalog {
        let mut c = Catalog::bundled();
        c.apply_overrides(&config.catalog);
        c
    }

    /// A catalogue from text in the bundled format: `{"source": "...", "models": [...]}`.
    pub fn from_json(text: &str) -> Result<Catalog, serde_json::Error> {
        let data: Data = serde_json::from_str(text)?;
        let mut by_name: HashMap<String, Vec<ModelInfo>> = HashMap::default();
        for e in data.models {
            by_name.entry(e.model.clone()).or_default().push(e.into());
        }
        let mut catalog = Catalog {
            source: data.source,
            by_name,
        };
        catalog.order_by_origin();
        Ok(catalog)
    }

    /// Puts each name's first-party entry first (a stable sort: otherwise the order
    /// stays), so that [`Catalog::pick`] without a hint takes the first entry.
    fn order_by_origin(&mut self) {
        for entries in self.by_name.values_mut() {
            entries.sort_by_key(|e| origin_rank(&e.provider));
        }
    }

    /// Applies overrides: fields given replace the entry's (every provider's entry of
    /// that name, or only `provider`'s when given); unknown models are added.
    pub fn apply_overrides(&mut self, overrides: &BTreeMap<String, CatalogOverride>) {
        for (model, o) in overrides {
            let entries = self.by_name.entry(model.clone()).or_default();
            let mut matched = false;
            for info in entries.iter_mut() {
                if o.provider.as_ref().is_none_or(|p| *p == info.provider) {
                    apply(info, o);
                    matched = true;
                }
            }
            if !matched {
                let mut info = ModelInfo {
                    provider: o.provider.clone().unwrap_or_else(|| "custom".to_owned()),
                    model: model.clone(),
                    mode: "chat".to_owned(),
                    context_window: None,
                    max_output_tokens: None,
                    prices: Prices::default(),
                    tools: true,
                    vision: false,
                    reasoning: false,
                    json_schema: false,
                    deprecation_date: None,
                };
                apply(&mut info, o);
                // Configured entries win over bundled ones of other providers.
                entries.insert(0, info);
            }
        }
        self.order_by_origin();
    }

    /// Where the data comes from and how current it is (the `source` note).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How many model names are known.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every model name the catalogue lists.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Looks `model` up, tolerating provider prefixes (`anthropic/claude-sonnet-4-6`,
    /// `models/gemini-2.5-pro`) and dated suffixes (`claude-sonnet-4-6-20260217` →
    /// `claude-sonnet-4-6` when the dated name is not listed).
    pub fn lookup(&self, model: &str) -> Option<&ModelInfo> {
        self.lookup_for(model, None)
    }

    /// [`Catalog::lookup`] preferring the entry of provider family `provider`.
    pub fn lookup_for(&self, model: &str, provider: Option<&str>) -> Option<&ModelInfo> {
        // The usual case, a listed name as it is, without building the candidates: it
        // is the search's own first answer (with a hint, the hinted entry of the
        // name itself; without one, when no candidate can carry a hint).
        let plain = || !model.contains('/') && !versioned(model);
        match provider {
            Some(h) => {
                let hinted = self
                    .by_name
                    .get(model)
                    .and_then(|e| e.iter().find(|e| e.provider == h));
                if hinted.is_some() {
                    return hinted;
                }
            }
            None if plain() => {
                if let Some(found) = self.pick(model, None) {
                    return Some(found);
                }
            }
            None => {}
        }
        self.search(model, provider)
    }

    /// [`Catalog::lookup_for`]'s whole search.
    fn search(&self, model: &str, provider: Option<&str>) -> Option<&ModelInfo> {
        // Candidate names: the whole name, then with each leading `prefix/` removed
        // (a removed prefix serves as the provider hint); each also without a date.
        let mut names: Vec<(&str, Option<&str>)> = vec![(model, provider)];
        let mut rest = model;
        while let Some((prefix, tail)) = rest.split_once('/') {
            let hint = provider.or_else(|| prefix.rsplit('/').next());
            names.push((tail, hint));
            rest = tail;
        }
        // Bedrock ids name the vendor and version around the model's own name
        // (`us.anthropic.claude-haiku-4-5-20251001-v1:0`); the vendor prices it. Read
        // so for Bedrock providers, and, with no provider named (the usage records),
        // for names ending in Bedrock's `:<n>` version.
        let bedrock = matches!(provider, Some("bedrock" | "bedrock_anthropic"));
        let bare: Vec<(&str, Option<&str>)> = names
            .iter()
            .filter(|&&(name, _)| bedrock || (provider.is_none() && versioned(name)))
            .filter_map(|&(name, _)| bedrock_base(name).map(|(n, vendor)| (n, Some(vendor))))
            .collect();
        names.extend(bare);
        let dated: Vec<(&str, Option<&str>)> = names
            .iter()
            .filter_map(|&(name, hint)| strip_date(name).map(|n| (n, hint)))
            .collect();
        let all = || names.iter().chain(&dated);
        // First an entry of the hinted provider (so `anthropic/claude-sonnet-4-6` is
        // Anthropic's model, not a reseller's entry spelled that way), then any.
        all()
            .find_map(|&(name, hint)| {
                let h = hint?;
                self.by_name.get(name)?.iter().find(|e| e.provider == h)
            })
            .or_else(|| all().find_map(|&(name, hint)| self.pick(name, hint)))
    }

    fn pick(&self, name: &str, hint: Option<&str>) -> Option<&ModelInfo> {
        let entries = self.by_name.get(name)?;
        // Without a hint: the first entry, a first-party one when there is one
        // (`order_by_origin`).
        hint.and_then(|h| entries.iter().find(|e| e.provider == h))
            .or_else(|| entries.first())
    }

    /// Keeps `req` within what `target_model` accepts: `max_output_tokens` at most the
    /// model's output limit (some tools send the whole context size), and a thinking
    /// budget below `max_output_tokens` (or below the model's limit when the request
    /// sets none). Unknown models only get the budget rule.
    pub fn clamp(&self, req: &mut ChatRequest, target_model: &str) -> Clamped {
        let limit = self
            .lookup(target_model)
            .and_then(|m| m.max_output_tokens.or(m.context_window));
        let mut out = Clamped::default();
        if let (Some(max), Some(limit)) = (req.sampling.max_output_tokens, limit) {
            if max > limit {
                req.sampling.max_output_tokens = Some(limit);
                out.max_output_tokens = Some((max, limit));
            }
        }
        let ceiling = req.sampling.max_output_tokens.or(limit);
        if let (Some(reasoning), Some(ceiling)) = (req.reasoning.as_mut(), ceiling) {
            if let Some(budget) = reasoning.effective_budget() {
                if budget > 0 && budget >= ceiling {
                    let lowered = ceiling.saturating_sub(1).max(1);
                    reasoning.budget_tokens = Some(lowered);
                    out.budget_tokens = Some((budget, lowered));
                }
            }
        }
        out
    }
}

fn apply(info: &mut ModelInfo, o: &CatalogOverride) {
    if let Some(p) = &o.provider {
        info.provider.clone_from(p);
    }
    let set = |slot: &mut Option<u64>, v: Option<u64>| {
        if v.is_some() {
            *slot = v;
        }
    };
    set(&mut info.context_window, o.context_window);
    set(&mut info.max_output_tokens, o.max_output_tokens);
    let setf = |slot: &mut Option<f64>, v: Option<f64>| {
        if v.is_some() {
            *slot = v;
        }
    };
    setf(&mut info.prices.input, o.input_per_mtok);
    setf(&mut info.prices.output, o.output_per_mtok);
    setf(&mut info.prices.cache_read, o.cache_read_per_mtok);
    setf(&mut info.prices.cache_write, o.cache_write_per_mtok);
    info.tools = o.tools.unwrap_or(info.tools);
    info.vision = o.vision.unwrap_or(info.vision);
    info.reasoning = o.reasoning.unwrap_or(info.reasoning);
    info.json_schema = o.json_schema.unwrap_or(info.json_schema);
}

/// The vendor's own name in a Bedrock model id or inference profile, and the vendor:
/// `us.anthropic.claude-haiku-4-5-20251001-v1:0` → (`claude-haiku-4-5-20251001`,
/// `anthropic`). `None` for names not spelled that way.
fn bedrock_base(name: &str) -> Option<(&str, &str)> {
    const GEOS: [&str; 8] = [
        "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.",
    ];
    let rest = GEOS
        .iter()
        .find_map(|g| name.strip_prefix(g))
        .unwrap_or(name);
    let (vendor, rest) = rest.split_once('.')?;
    if vendor.is_empty()
        || !vendor
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return None;
    }
    let rest = match rest.rsplit_once(':') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => rest,
    };
    let rest = match rest.rsplit_once("-v") {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => rest,
    };
    (!rest.is_empty()).then_some((rest, vendor))
}

/// `name` without a trailing date: `-YYYYMMDD`, `-YYYY-MM-DD` or `@YYYYMMDD` (Vertex).
fn strip_date(name: &str) -> Option<&str> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let year_ok = |s: &str| s.starts_with("20") || s.starts_with("19");
    // The last `n` bytes after a non-empty head; `None` also when that would split a
    // character, which cannot start a date (its bytes are all ASCII).
    let split = |n: usize| {
        (name.len() > n)
            .then(|| name.split_at_checked(name.len() - n))
            .flatten()
    };
    if let Some((head, tail)) = split(9) {
        if (tail.starts_with('-') || tail.starts_with('@'))
            && digits(&tail[1..])
            && year_ok(&tail[1..])
        {
            return Some(head);
        }
    }
    if let Some((head, tail)) = split(11) {
        let b = tail.as_bytes();
        if b[0] == b'-'
            && b[5] == b'-'
            && b[8] == b'-'
            && digits(&tail[1..5])
            && digits(&tail[6..8])
            && digits(&tail[9..])
            && year_ok(&tail[1..5])
        {
            return Some(head);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::{Effort, ReasoningConfig, Sampling};

    #[test]
    fn the_quick_lookup_answers_as_the_whole_search_does() {
        let c = Catalog::from_json(BUNDLED).unwrap();
        let mut providers: Vec<&str> = c
            .by_name
            .values()
            .flatten()
            .map(|e| e.provider.as_str())
            .collect();
        providers.sort_unstable();
        providers.dedup();
        let same = |a: Option<&ModelInfo>, b: Option<&ModelInfo>| match (a, b) {
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        let mut names: Vec<String> = c.model_names().map(str::to_owned).collect();
        names.extend(["unknown-model", "openai/gpt-4o", "gpt-4o-2024-08-06"].map(String::from));
        for name in &names {
            assert!(
                same(c.lookup_for(name, None), c.search(name, None)),
                "{name}"
            );
            for p in &providers {
                let hint = Some(*p);
                assert!(
                    same(c.lookup_for(name, hint), c.search(name, hint)),
                    "{name} {p}"
                );
            }
        }
    }

    #[test]
    fn bundled_data_parses_and_names_its_source() {
        let c = Catalog::from_json(BUNDLED).unwrap();
        assert!(c.len() > 1000, "{}", c.len());
        assert!(c.source().contains("litellm"));
        assert!(c.source().contains("per million tokens"));
    }

    #[test]
    fn lookup_tolerates_prefixes_and_dates() {
        let c = Catalog::bundled();
        let base = c.lookup("claude-sonnet-4-6").unwrap();
        assert_eq!(base.provider, "anthropic");
        assert_eq!(c.lookup("claude-sonnet-4-6-20260217"), Some(base));
        assert_eq!(c.lookup("anthropic/claude-sonnet-4-6"), Some(base));
        assert_eq!(
            c.lookup("openrouter/anthropic/claude-sonnet-4-6-20260217"),
            Some(base)
        );
        assert_eq!(c.lookup("claude-sonnet-4-6@20260217"), Some(base));
        assert_eq!(c.lookup("claude-sonnet-4-6-2026-02-17"), Some(base));
        // An exact dated name that is listed wins over stripping.
        assert_eq!(
            c.lookup("claude-opus-4-5-20251101").unwrap().model,
            "claude-opus-4-5-20251101"
        );
        assert!(c.lookup("no-such-model").is_none());
        assert!(c.lookup("gpt-5-mock").is_none());
    }

    #[test]
    fn names_under_several_providers_prefer_the_hint_then_the_origin() {
        let c = Catalog::bundled();
        assert_eq!(c.lookup("gpt-4o").unwrap().provider, "openai");
        assert_eq!(
            c.lookup_for("gpt-4o", Some("azure_openai"))
                .unwrap()
                .provider,
            "azure_openai"
        );
        assert_eq!(
            c.lookup("azure_openai/gpt-4o").unwrap().provider,
            "azure_openai"
        );
        // A slash that is part of the name is found whole.
        assert_eq!(
            c.lookup("apac/gpt-6.1-sol").unwrap().provider,
            "azure_openai"
        );
    }

    #[test]
    fn a_first_party_entry_is_preferred_wherever_it_is_listed() {
        let entry = |provider: &str, model: &str| {
            format!(r#"{{"provider":"{provider}","model":"{model}","mode":"chat"}}"#)
        };
        let models = [
            entry("azure_openai", "m"),
            entry("openai", "m"),
            entry("reseller_b", "n"),
            entry("reseller_a", "n"),
            entry("reseller_a", "o"),
            entry("anthropic", "o"),
            entry("openai", "o"),
        ];
        let text = format!(r#"{{"source":"t","models":[{}]}}"#, models.join(","));
        let mut c = Catalog::from_json(&text).unwrap();
        assert_eq!(c.lookup("m").unwrap().provider, "openai");
        // No first-party entry: the first listed.
        assert_eq!(c.lookup("n").unwrap().provider, "reseller_b");
        // Several: the earlier origin.
        assert_eq!(c.lookup("o").unwrap().provider, "anthropic");
        assert_eq!(
            c.lookup_for("o", Some("reseller_a")).unwrap().provider,
            "reseller_a"
        );
        // A configured entry of another provider comes before the listed resellers,
        // still after a first-party entry.
        let custom = CatalogOverride {
            provider: Some("mine".to_owned()),
            ..CatalogOverride::default()
        };
        c.apply_overrides(&BTreeMap::from([
            ("n".to_owned(), custom.clone()),
            ("m".to_owned(), custom),
        ]));
        assert_eq!(c.lookup("n").unwrap().provider, "mine");
        assert_eq!(c.lookup("m").unwrap().provider, "openai");
    }

    #[test]
    fn bedrock_model_ids_are_priced_as_their_vendors_models() {
        let c = Catalog::bundled();
        for id in [
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        ] {
            let m = c.lookup_for(id, Some("bedrock")).expect(id);
            // The dated name is listed too: either spelling is the same model.
            assert_eq!(m.provider, "anthropic", "{id}");
            assert!(m.model.starts_with("claude-haiku-4-5"), "{id}: {}", m.model);
            assert!(m.prices.input.is_some(), "{id}");
        }
        assert_eq!(
            bedrock_base("meta.llama3-1-70b-instruct-v1:0"),
            Some(("llama3-1-70b-instruct", "meta"))
        );
        assert_eq!(bedrock_base("gpt-4.1"), None);
        // With no provider named (a usage record), a versioned id is read as one.
        let m = c
            .lookup("us.anthropic.claude-haiku-4-5-20251001-v1:0")
            .expect("priced");
        assert_eq!(m.provider, "anthropic");
        // Other kinds' names are not read as Bedrock ids.
        assert!(
            c.lookup_for("anthropic.claude-haiku-4-5-20251001-v1:0", Some("openai"))
                .is_none()
        );
    }

    #[test]
    fn vertex_model_names_are_priced_as_their_publishers_models() {
        // Vertex spells a Claude version `@date`; the vertex kinds have no entries of
        // their own, so the publisher's (an origin) prices them.
        let c = Catalog::bundled();
        let claude = c
            .lookup_for("claude-sonnet-4-5@20250929", Some("vertex_anthropic"))
            .expect("priced");
        assert_eq!(
            (claude.provider.as_str(), claude.model.as_str()),
            ("anthropic", "claude-sonnet-4-5")
        );
        let gemini = c
            .lookup_for("gemini-2.5-pro", Some("vertex"))
            .expect("priced");
        assert_eq!(gemini.provider, "gemini");
    }

    #[test]
    fn cohere_models_are_priced_for_the_kind_the_preset_and_usage_records() {
        // The `cohere` kind and the `cohere` preset both hint `cohere`; a usage record
        // names no provider. Cohere's dated names are its catalogue names.
        let c = Catalog::bundled();
        for hint in [Some("cohere"), None] {
            let a = c.lookup_for("command-a-03-2025", hint).expect("priced");
            assert_eq!(a.provider, "cohere", "{hint:?}");
            assert_eq!((a.prices.input, a.prices.output), (Some(2.5), Some(10.0)));
            let r = c
                .lookup_for("cohere/command-r-08-2024", hint)
                .expect("priced");
            assert_eq!((r.prices.input, r.prices.output), (Some(0.15), Some(0.6)));
        }
    }

    #[test]
    fn overrides_replace_fields_and_add_models() {
        let mut c = Catalog::bundled();
        let mut o = BTreeMap::new();
        o.insert(
            "claude-sonnet-4-6".to_owned(),
            CatalogOverride {
                max_output_tokens: Some(1000),
                input_per_mtok: Some(1.5),
                ..Default::default()
            },
        );
        o.insert(
            "my-local-llama".to_owned(),
            CatalogOverride {
                provider: Some("ollama".to_owned()),
                context_window: Some(8192),
                input_per_mtok: Some(0.0),
                output_per_mtok: Some(0.0),
                ..Default::default()
            },
        );
        c.apply_overrides(&o);
        let s = c.lookup("claude-sonnet-4-6").unwrap();
        assert_eq!(s.max_output_tokens, Some(1000));
        assert_eq!(s.prices.input, Some(1.5));
        assert_eq!(s.prices.output, Some(15.0));
        let l = c.lookup("my-local-llama").unwrap();
        assert_eq!(
            (l.provider.as_str(), l.context_window),
            ("ollama", Some(8192))
        );
    }

    fn request(max: Option<u64>, reasoning: Option<ReasoningConfig>) -> ChatRequest {
        ChatRequest {
            model: "m".to_owned(),
            sampling: Sampling {
                max_output_tokens: max,
                ..Default::default()
            },
            reasoning,
            ..Default::default()
        }
    }

    #[test]
    fn clamp_lowers_max_tokens_to_the_model_limit() {
        let c = Catalog::bundled();
        // Qwen Code / Kimi send the whole context size as max_tokens.
        let mut req = request(Some(1_000_000), None);
        let got = c.clamp(&mut req, "claude-haiku-4-5");
        assert_eq!(req.sampling.max_output_tokens, Some(64_000));
        assert_eq!(got.max_output_tokens, Some((1_000_000, 64_000)));
        let mut req = request(Some(1000), None);
        assert!(c.clamp(&mut req, "claude-haiku-4-5").is_empty());
        let mut req = request(Some(1_000_000), None);
        assert!(c.clamp(&mut req, "unknown-model").is_empty());
    }

    #[test]
    fn clamp_keeps_the_thinking_budget_below_max_tokens() {
        let c = Catalog::bundled();
        let budget = |b| {
            Some(ReasoningConfig {
                budget_tokens: Some(b),
                ..Default::default()
            })
        };
        let mut req = request(Some(8000), budget(16_000));
        c.clamp(&mut req, "claude-haiku-4-5");
        assert_eq!(req.reasoning.as_ref().unwrap().budget_tokens, Some(7999));
        // Both too big: max first, then the budget under it.
        let mut req = request(Some(200_000), budget(200_000));
        let got = c.clamp(&mut req, "claude-haiku-4-5");
        assert_eq!(got.max_output_tokens, Some((200_000, 64_000)));
        assert_eq!(got.budget_tokens, Some((200_000, 63_999)));
        // An effort whose budget exceeds max_tokens becomes an explicit budget.
        let mut req = request(
            Some(4096),
            Some(ReasoningConfig {
                effort: Some(Effort::Max),
                ..Default::default()
            }),
        );
        c.clamp(&mut req, "unknown-model");
        let r = req.reasoning.unwrap();
        assert_eq!((r.budget_tokens, r.effort), (Some(4095), Some(Effort::Max)));
        // No max_tokens: the model's limit bounds the budget.
        let mut req = request(None, budget(100_000));
        c.clamp(&mut req, "claude-haiku-4-5");
        assert_eq!(req.reasoning.unwrap().budget_tokens, Some(63_999));
    }

    #[test]
    fn prices_cost_usage() {
        let c = Catalog::bundled();
        let p = c.lookup("claude-sonnet-4-6").unwrap().prices;
        let usage = Usage {
            input_tokens: 1_000_000,
            cache_read_tokens: 500_000,
            cache_write_tokens: 0,
            output_tokens: 100_000,
            reasoning_tokens: 0,
        };
        // 0.5 M uncached × $3 + 0.5 M cached × $0.3 + 0.1 M out × $15
        let cost = p.cost(&usage).unwrap();
        assert!((cost - (1.5 + 0.15 + 1.5)).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn cache_writes_are_priced_apart_and_reasoning_is_output() {
        let p = Prices {
            input: Some(2.0),
            output: Some(10.0),
            cache_read: Some(0.2),
            cache_write: Some(2.5),
        };
        // Input counts include cache reads and writes; output includes reasoning.
        let usage = Usage {
            input_tokens: 1_000_000,
            cache_read_tokens: 200_000,
            cache_write_tokens: 300_000,
            output_tokens: 400_000,
            reasoning_tokens: 350_000,
        };
        // 0.5 M plain × $2 + 0.2 M read × $0.2 + 0.3 M written × $2.5 + 0.4 M out × $10
        let cost = p.cost(&usage).unwrap();
        assert!((cost - (1.0 + 0.04 + 0.75 + 4.0)).abs() < 1e-9, "{cost}");
        // Without a cache-write price, writes cost plain input; without an output
        // price the cost is unknown, never zero.
        let p2 = Prices {
            cache_write: None,
            ..p
        };
        assert!((p2.cost(&usage).unwrap() - (1.0 + 0.04 + 0.6 + 4.0)).abs() < 1e-9);
        let unpriced = Prices { output: None, ..p };
        assert_eq!(unpriced.cost(&usage), None);
    }

    #[test]
    fn dates_are_recognised() {
        assert_eq!(strip_date("claude-x-20260217"), Some("claude-x"));
        assert_eq!(strip_date("gemini-x-2025-06-05"), Some("gemini-x"));
        assert_eq!(strip_date("claude-x@20240620"), Some("claude-x"));
        assert_eq!(strip_date("gpt-4-0613"), None);
        assert_eq!(strip_date("model-12345678"), None);
        assert_eq!(strip_date("20260217"), None);
    }

    #[test]
    fn a_model_name_with_a_multibyte_character_near_its_end_is_no_panic() {
        // Found by the http_ingress fuzz target: `mo%ffck-embed` in a Gemini URL
        // decodes to `mo\u{fffd}ck-embed`, and the date check split inside the
        // three-byte character.
        for name in [
            "mo\u{fffd}ck-embed",
            "m\u{fffd}\u{fffd}0-00-00",
            "é1234567890",
        ] {
            assert_eq!(strip_date(name), None, "{name}");
            let _ = Catalog::bundled().lookup(name);
        }
        assert_eq!(strip_date("modèle-20260217"), Some("modèle"));
        assert_eq!(strip_date("modèle-2026-02-17"), Some("modèle"));
    }
}
