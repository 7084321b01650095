//! Building a provider from its config: the kind's shape, base URL, credentials and
//! fixed headers, resolved once (Vertex AI's and Bedrock's their own way).

use super::*;

impl Provider {
    /// Resolves `cfg` for the provider called `name`.
    pub fn new(
        name: &str,
        cfg: &ProviderConfig,
        client: &HttpClient,
    ) -> Result<Provider, ProviderError> {
        let kind = cfg.kind;
        let preset = match (&cfg.preset, kind) {
            (None, _) => None,
            (Some(p), ProviderKind::OpenAiCompatible) => Some(
                crate::presets::preset(p).ok_or_else(|| ProviderError::UnknownPreset {
                    provider: name.to_owned(),
                    preset: p.clone(),
                    known: crate::presets::names(),
                })?,
            ),
            (Some(_), _) => {
                return Err(ProviderError::PresetNeedsCompatible {
                    provider: name.to_owned(),
                    kind: kind.as_str(),
                });
            }
        };
        let not_for = |setting| ProviderError::NotForKind {
            provider: name.to_owned(),
            setting,
            kind: kind.as_str(),
        };
        if !cfg.deployments.is_empty() && kind != ProviderKind::AzureOpenAi {
            return Err(not_for("deployments"));
        }
        if cfg.api_version.is_some()
            && !matches!(
                kind,
                ProviderKind::AzureOpenAi
                    | ProviderKind::Anthropic
                    | ProviderKind::VertexAnthropic
                    | ProviderKind::BedrockAnthropic
            )
        {
            return Err(not_for("api_version"));
        }
        let vertex = matches!(kind, ProviderKind::Vertex | ProviderKind::VertexAnthropic);
        let bedrock = matches!(kind, ProviderKind::Bedrock | ProviderKind::BedrockAnthropic);
        for (setting, set) in [
            ("region", cfg.region.is_some()),
            ("access_key_id", cfg.access_key_id.is_some()),
            ("secret_access_key", cfg.secret_access_key.is_some()),
            ("session_token", cfg.session_token.is_some()),
        ] {
            if set && !bedrock {
                return Err(not_for(setting));
            }
        }
        for (setting, set) in [
            ("project", cfg.project.is_some()),
            ("location", cfg.location.is_some()),
            ("access_token", cfg.access_token.is_some()),
            ("credentials_file", cfg.credentials_file.is_some()),
        ] {
            if set && !vertex {
                return Err(not_for(setting));
            }
        }
        if (vertex || bedrock) && cfg.api_key.is_some() {
            return Err(not_for("api_key"));
        }
        if cfg.mock != MockConfig::default() && kind != ProviderKind::Mock {
            return Err(not_for("mock"));
        }

        let mut provider = Provider {
            name: Arc::from(name),
            kind,
            shape: shape_of(kind, &cfg.mock),
            preset,
            base: String::new(),
            host: Arc::from(""),
            headers: HeaderMap::new(),
            api_version: String::new(),
            deployments: cfg.deployments.clone(),
            timeouts: cfg.timeouts,
            client: None,
            supported: Operation::ALL
                .into_iter()
                .filter(|op| routes::supports(kind, *op))
                .fold(0, |set, op| set | op.bit()),
            mock: cfg.mock.clone(),
            google: None,
            aws: None,
            urls: Arc::default(),
        };
        if kind == ProviderKind::Mock {
            if cfg.base_url.is_some() {
                return Err(not_for("base_url"));
            }
            provider.host = Arc::from("mock");
            return Ok(provider);
        }

        if vertex {
            return provider.resolve_vertex(cfg, client);
        }
        if bedrock {
            let env = |name: &str| std::env::var(name).ok();
            return provider.resolve_bedrock(cfg, client, &env);
        }
        let raw_base = cfg
            .base_url
            .as_deref()
            .or(preset.map(|p| p.base_url))
            .or(routes::default_base(kind))
            .ok_or_else(|| ProviderError::MissingBaseUrl {
                provider: name.to_owned(),
                kind: kind.as_str(),
                example: match kind {
                    ProviderKind::AzureOpenAi => "https://my-resource.openai.azure.com",
                    _ => "http://127.0.0.1:8080/v1",
                },
            })?;
        provider.base = routes::normalise_base(name, kind, raw_base)?;
        provider.host = host_of(&provider.base);
        provider.api_version = match kind {
            ProviderKind::AzureOpenAi => {
                cfg.api_version.clone().unwrap_or(AZURE_API_VERSION.into())
            }
            ProviderKind::Anthropic => cfg.api_version.clone().unwrap_or(ANTHROPIC_VERSION.into()),
            _ => String::new(),
        };

        let key = cfg.api_key.as_deref().filter(|k| !k.trim().is_empty());
        let key_required = match kind {
            ProviderKind::Ollama => false,
            ProviderKind::OpenAiCompatible => preset.is_some_and(|p| p.quirks.key_required),
            _ => true,
        };
        if key.is_none() && key_required {
            return Err(ProviderError::MissingApiKey {
                provider: name.to_owned(),
                kind: preset.map_or(kind.as_str().to_owned(), |p| {
                    format!("{} (preset {})", kind.as_str(), p.name)
                }),
                env: preset.map_or(key_env(kind), |p| p.api_key_env),
            });
        }
        provider.headers = headers(name, kind, key, &provider.api_version, &cfg.headers)?;
        provider.client = Some(client.clone());
        Ok(provider)
    }

    /// The Vertex AI kinds' settings: the project's base, the body's
    /// `anthropic_version`, and the token or key.
    fn resolve_vertex(
        mut self,
        cfg: &ProviderConfig,
        client: &HttpClient,
    ) -> Result<Provider, ProviderError> {
        let name = self.name.clone();
        self.base = crate::vertex::base(&name, self.kind, cfg)?;
        self.host = host_of(&self.base);
        if self.kind == ProviderKind::VertexAnthropic {
            self.api_version = cfg
                .api_version
                .clone()
                .unwrap_or(crate::vertex::VERTEX_ANTHROPIC_VERSION.into());
        }
        let env_file = std::env::var(crate::vertex::CREDENTIALS_ENV).ok();
        let token = match crate::vertex::credentials(&name, self.kind, cfg, env_file, client)? {
            crate::vertex::Credentials::Static(token) => Some(token),
            crate::vertex::Credentials::ServiceAccount(source) => {
                self.google = Some(source);
                None
            }
        };
        self.headers = headers(&name, self.kind, token.as_deref(), "", &cfg.headers)?;
        self.client = Some(client.clone());
        Ok(self)
    }

    /// Bedrock: the region and credentials (from `env` when not configured), and the
    /// region's runtime host unless `base_url` replaces it.
    fn resolve_bedrock(
        mut self,
        cfg: &ProviderConfig,
        client: &HttpClient,
        env: crate::aws::Env<'_>,
    ) -> Result<Provider, ProviderError> {
        let name = self.name.clone();
        let signer = crate::aws::signer(&name, self.kind, cfg, env)?;
        self.base = match &cfg.base_url {
            Some(url) => routes::normalise_base(&name, self.kind, url)?,
            None => crate::aws::default_root(&signer.region),
        };
        self.host = host_of(&self.base);
        self.aws = Some(Arc::new(signer));
        if self.kind == ProviderKind::BedrockAnthropic {
            self.api_version = cfg
                .api_version
                .clone()
                .unwrap_or(gateway_translate::bedrock::invoke::ANTHROPIC_VERSION.into());
        }
        self.headers = headers(&name, self.kind, None, "", &cfg.headers)?;
        self.client = Some(client.clone());
        Ok(self)
    }
}

/// The shape a kind speaks.
fn shape_of(kind: ProviderKind, mock: &MockConfig) -> ApiShape {
    match kind {
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi | ProviderKind::OpenAiCompatible => {
            ApiShape::OpenAiChat
        }
        ProviderKind::Anthropic
        | ProviderKind::VertexAnthropic
        | ProviderKind::BedrockAnthropic => ApiShape::Anthropic,
        ProviderKind::Gemini | ProviderKind::Vertex => ApiShape::Gemini,
        ProviderKind::Ollama => ApiShape::Ollama,
        ProviderKind::Bedrock => ApiShape::Bedrock,
        ProviderKind::Cohere => ApiShape::Cohere,
        ProviderKind::Mock => mock.shape.unwrap_or(ApiShape::OpenAiChat),
    }
}

/// `host[:port]` of a stored base URL, for the operator's log.
fn host_of(base: &str) -> Arc<str> {
    Arc::from(
        url::Url::parse(base)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    format!(
                        "{h}{}",
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    )
                })
            })
            .unwrap_or_default(),
    )
}

/// The environment variable a kind's key usually lives in.
fn key_env(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::AzureOpenAi => "AZURE_OPENAI_API_KEY",
        ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        ProviderKind::Gemini => "GEMINI_API_KEY",
        ProviderKind::Cohere => "COHERE_API_KEY",
        _ => "OPENAI_API_KEY",
    }
}

/// Auth, version and configured headers, validated once.
fn headers(
    provider: &str,
    kind: ProviderKind,
    key: Option<&str>,
    api_version: &str,
    extra: &BTreeMap<String, String>,
) -> Result<HeaderMap, ProviderError> {
    let bad = |header: &str, reason: String| ProviderError::BadHeader {
        provider: provider.to_owned(),
        header: header.to_owned(),
        reason,
    };
    let mut out = HeaderMap::new();
    if let Some(key) = key {
        let (name, value) = match kind {
            ProviderKind::AzureOpenAi => ("api-key", key.to_owned()),
            ProviderKind::Anthropic => ("x-api-key", key.to_owned()),
            ProviderKind::Gemini => ("x-goog-api-key", key.to_owned()),
            _ => ("authorization", format!("Bearer {key}")),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            bad(
                "api_key",
                "the key contains characters not allowed in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        out.insert(HeaderName::from_static(name), value);
    }
    if kind == ProviderKind::Anthropic {
        let value = HeaderValue::from_str(api_version)
            .map_err(|e| bad("anthropic-version", e.to_string()))?;
        out.insert(HeaderName::from_static("anthropic-version"), value);
    }
    for (name, value) in extra {
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(name, e.to_string()))?;
        let mut value = HeaderValue::from_str(value).map_err(|e| bad(name, e.to_string()))?;
        value.set_sensitive(true);
        out.insert(header, value);
    }
    Ok(out)
}
