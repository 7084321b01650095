//! Model discovery: each provider's own model list, fetched from the upstream at
//! start and every `[discovery] refresh_secs`, so `GET /v1/models` can list the
//! models that glob and default routes reach (`*` routes list nothing by name).
//!
//! A list that fails to come keeps the last good one (its error is kept beside it)
//! and is asked again sooner. Lists are kept by provider name, outside the routing
//! table, so a reload keeps them; a provider new to the table is fetched at once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;
use futures_util::StreamExt;
use gateway_protocol::GatewayError;
use gateway_providers::{Operation, Provider, ProviderKind, UpstreamCall};
use gateway_translate::codec;

use crate::app::App;
use crate::config::DiscoveryConfig;

/// The most of a model list read.
const MAX_LIST: usize = 8 << 20;

/// One provider's list as last fetched.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// The model ids, sorted, from the last good fetch.
    pub models: Arc<Vec<String>>,
    /// When the last good fetch ended, ms since the epoch (0: never).
    pub fetched_ms: i64,
    /// Why the latest fetch failed, when it did.
    pub error: Option<String>,
}

/// Every provider's list.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    lists: RwLock<HashMap<String, Listed>>,
}

impl Discovery {
    pub(crate) fn new(config: DiscoveryConfig) -> Discovery {
        Discovery {
            config,
            lists: RwLock::new(HashMap::default()),
        }
    }

    /// `provider`'s list as last fetched.
    pub fn listed(&self, provider: &str) -> Option<Listed> {
        self.read().get(provider).cloned()
    }

    /// Every provider's models (the last good lists).
    pub fn all(&self) -> Vec<(String, Arc<Vec<String>>)> {
        let mut all: Vec<_> = self
            .read()
            .iter()
            .map(|(p, l)| (p.clone(), l.models.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Listed>> {
        self.lists.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn put(&self, provider: &str, fetched: Result<Vec<String>, String>) {
        let mut lists = self.lists.write().unwrap_or_else(|p| p.into_inner());
        let entry = lists.entry(provider.to_owned()).or_default();
        match fetched {
            Ok(models) => {
                entry.models = Arc::new(models);
                entry.fetched_ms = gateway_auth::cache::now_ms();
                entry.error = None;
            }
            Err(err) => entry.error = Some(err),
        }
    }
}

/// The model ids `provider` lists now: its model-list endpoint, read in its own
/// shape; an Azure deployment's names from its config (its list endpoint names base
/// models, not the deployments callers use).
pub async fn fetch(provider: &Provider, timeout: Duration) -> Result<Vec<String>, GatewayError> {
    if provider.kind() == ProviderKind::AzureOpenAi {
        let mut names: Vec<String> = provider.deployments().keys().cloned().collect();
        names.sort();
        return Ok(names);
    }
    ask(provider, timeout).await.map(|listed| listed.models)
}

/// An upstream's answer to its model-list request.
pub(crate) struct Asked {
    /// Its HTTP status (2xx: other statuses are errors).
    pub status: u16,
    /// The model ids, sorted, without Gemini's `models/`.
    pub models: Vec<String>,
}

/// Sends `provider` its model-list request and reads the answer in its shape, within
/// `timeout` (the connection test uses this too). A body that is not a model list is
/// an error saying so.
pub(crate) async fn ask(provider: &Provider, timeout: Duration) -> Result<Asked, GatewayError> {
    let call = UpstreamCall {
        operation: Operation::ListModels,
        model: String::new(),
        stream: false,
        body: Bytes::new(),
        headers: Default::default(),
    };
    let asked = async {
        let mut reply = provider.send(call).await?;
        let mut body = Vec::new();
        while let Some(chunk) = reply.body.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_LIST {
                return Err(GatewayError::new(
                    gateway_protocol::ErrorKind::Upstream,
                    format!("the model list is larger than {MAX_LIST} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((reply.status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, asked).await.map_err(|_| {
        GatewayError::new(
            gateway_protocol::ErrorKind::UpstreamTimeout,
            format!("no answer within {} ms", timeout.as_millis()),
        )
    })??;
    let list = codec::decode_model_list(provider.shape(), &body).map_err(|_| {
        let mut err = GatewayError::new(
            gateway_protocol::ErrorKind::Upstream,
            "the upstream answered, but not with a model list",
        );
        err.upstream_status = Some(status);
        err
    })?;
    let mut models: Vec<String> = list
        .models
        .into_iter()
        .map(|m| {
            m.id.strip_prefix("models/")
                .map(str::to_owned)
                .unwrap_or(m.id)
        })
        .collect();
    models.sort();
    models.dedup();
    Ok(Asked { status, models })
}

impl App {
    /// Fetches every provider's list now (those without a list endpoint are left
    /// out), all at once; a failure keeps that provider's last good list.
    pub async fn refresh_models(&self) {
        let table = self.table();
        let timeout = Duration::from_millis(self.discovery.config.timeout_ms);
        let asked = table
            .providers()
            .filter(|(_, p)| {
                p.supports(Operation::ListModels) || p.kind() == ProviderKind::AzureOpenAi
            })
            .map(|(name, p)| async move { (name, fetch(p, timeout).await) });
        for (name, fetched) in futures_util::future::join_all(asked).await {
            if let Err(err) = &fetched {
                tracing::warn!(provider = name, "model list not fetched: {}", err.message);
            }
            self.discovery.put(name, fetched.map_err(|e| e.message));
        }
    }

    /// The model lists.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }
}

/// Keeps `app`'s model lists fresh until the runtime stops: at once, then every
/// `refresh_secs` (a tenth of it after a failure), and at once when a reload brings
/// a new table.
pub async fn run(app: Arc<App>) {
    if !app.discovery.config.enabled {
        return;
    }
    let every = Duration::from_secs(app.discovery.config.refresh_secs);
    loop {
        app.refresh_models().await;
        let generation = app.table().generation();
        let failed = app.table().providers().any(|(name, _)| {
            app.discovery
                .listed(name)
                .is_some_and(|l| l.error.is_some())
        });
        let wait = if failed { every / 10 } else { every };
        let until = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(1).min(wait)).await;
            if app.table().generation() != generation {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Discovery;
    use crate::config::DiscoveryConfig;

    #[test]
    fn a_failed_fetch_keeps_the_last_good_list_and_says_why() {
        let d = Discovery::new(DiscoveryConfig::default());
        assert!(d.listed("p").is_none());
        d.put("p", Ok(vec!["a".into(), "b".into()]));
        let good = d.listed("p").unwrap();
        assert!(good.fetched_ms > 0 && good.error.is_none());
        d.put("p", Err("503 from the upstream".into()));
        let kept = d.listed("p").unwrap();
        assert_eq!(*kept.models, ["a", "b"]);
        assert_eq!(kept.fetched_ms, good.fetched_ms);
        assert_eq!(kept.error.as_deref(), Some("503 from the upstream"));
        d.put("p", Ok(vec!["c".into()]));
        assert_eq!(*d.listed("p").unwrap().models, ["c"]);
        assert!(d.listed("p").unwrap().error.is_none());
        assert_eq!(d.all().len(), 1);
    }
}
