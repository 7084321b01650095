//! Changes without a restart: the config file reloaded (on SIGHUP, when it changes
//! on disk, or when the console asks) and providers added, changed or removed at
//! runtime. Either way the effective configuration — the file's, with the runtime
//! providers merged in — is validated whole and built into a new [`Table`], which
//! replaces the old one atomically: requests in flight finish on the table they
//! took, new ones get the new one. A configuration that does not validate changes
//! nothing; its error (with the path of the bad key) is logged and kept for the
//! console.
//!
//! What a reload changes: providers, routes, aliases, `[auto]`, the catalogue and
//! the declared keys. The listeners, storage, admin, metrics, logging, tracing,
//! media, discovery, `[limits]`, `[cache]` and key defaults are read at start only; a reload that changes them says
//! so (`restart_needed`) and leaves them as they are.

mod watch;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::app::App;
use crate::config::{Config, ConfigError};
use crate::table::Table;

pub use watch::watch;

/// How many reload outcomes the console can show.
const HISTORY: usize = 20;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// The file changed on disk.
    FileChanged,
    /// The start: the file with the runtime providers stored before.
    Start,
    /// The admin API (the console's "reload now").
    Admin,
    /// A provider added, changed or removed at runtime.
    RuntimeProvider,
}

/// What one reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// What asked for it.
    pub trigger: Trigger,
    /// True when the new configuration is in force.
    pub ok: bool,
    /// Why it was refused (the old configuration stays), with the bad key's path.
    pub error: Option<String>,
    /// The table in force after it.
    pub generation: u64,
    /// Sections read at start only whose value in the file now differs from the
    /// one read at start (a restart would apply them).
    pub restart_needed: Vec<&'static str>,
}

/// The config file's last good configuration and the reloads so far.
#[derive(Debug)]
pub(crate) struct ReloadState {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The file's configuration in force (runtime providers not merged in).
    file: Config,
    /// The file's configuration read at start: what the start-only sections hold.
    started: Config,
    /// The config file, when the gateway was started with one.
    path: Option<std::path::PathBuf>,
    /// The generation of the table in force.
    generation: u64,
    /// The SHA-256 of the file's bytes as the latest reload (or the watcher's
    /// start) read them: what the watcher compares the file with.
    read: Option<[u8; 32]>,
    history: VecDeque<ReloadReport>,
}

impl ReloadState {
    pub(crate) fn new(file: Config) -> ReloadState {
        ReloadState {
            inner: Mutex::new(Inner {
                started: file.clone(),
                file,
                path: None,
                generation: 1,
                read: None,
                history: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The reload state as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// The config file, when there is one.
    pub path: Option<String>,
    /// The table in force.
    pub generation: u64,
    /// The latest reloads, newest first.
    pub history: Vec<ReloadReport>,
}

/// Why a runtime provider change was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RuntimeChangeError {
    /// The configuration it would make does not validate.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The database refused it.
    #[error(transparent)]
    Store(#[from] gateway_auth::AuthError),
}

/// A provider added at runtime, as the table is built from it: its name and its
/// `[providers.<name>]` table (key included).
pub(crate) type RuntimeProvider = (String, toml::Table);

impl App {
    /// Remembers the config file reloads read (`serve -c`).
    pub fn set_config_path(&self, path: std::path::PathBuf) {
        self.reload.lock().path = Some(path);
    }

    /// The config file reloads read, if any.
    pub fn config_path(&self) -> Option<std::path::PathBuf> {
        self.reload.lock().path.clone()
    }

    /// Reloads the config file (when the gateway has one): see the module's docs.
    pub fn reload_file(&self, trigger: Trigger) -> ReloadReport {
        let Some(path) = self.config_path() else {
            return self.refused(
                trigger,
                "the gateway was started without a config file (`serve -c <file>`): there is nothing to reload".into(),
            );
        };
        // Whatever asked, the watcher now compares the file with this reading.
        self.reload.lock().read = watch::digest(&path);
        self.reload_with(Config::load(&path), trigger)
    }

    /// The digest of the file as last read by a reload; the file's own now when none
    /// has read it yet.
    pub(crate) fn last_read(&self, path: &std::path::Path) -> Option<[u8; 32]> {
        let mut inner = self.reload.lock();
        if inner.read.is_none() {
            inner.read = watch::digest(path);
        }
        inner.read
    }

    /// Puts `loaded` (a freshly read file configuration, or why it could not be
    /// read) in force, merged with the runtime providers, if it validates.
    pub fn reload_with(
        &self,
        loaded: Result<Config, ConfigError>,
        trigger: Trigger,
    ) -> ReloadReport {
        let mut file = match loaded {
            Ok(c) => c,
            Err(err) => return self.refused(trigger, err.to_string()),
        };
        let mut inner = self.reload.lock();
        // The listener's address may come from the command line; it is not
        // reloadable either way.
        file.server.listen = inner.file.server.listen;
        // Against the start, not the previous file: a section changed and changed
        // back needs no restart.
        let restart_needed = start_only_changes(&inner.started, &file);
        let runtime = match self.runtime_providers() {
            Ok(r) => r,
            Err(err) => {
                drop(inner);
                return self.refused(trigger, err.to_string());
            }
        };
        let generation = inner.generation + 1;
        match self.build(&file, &runtime, generation) {
            Ok(()) => {
                for w in &file.warnings {
                    tracing::warn!("{w}");
                }
                inner.file = file;
                inner.generation = generation;
                let report = ReloadReport {
                    at_ms: gateway_auth::cache::now_ms(),
                    trigger,
                    ok: true,
                    error: None,
                    generation,
                    restart_needed,
                };
                if report.restart_needed.is_empty() {
                    tracing::info!(generation, ?trigger, "configuration reloaded");
                } else {
                    tracing::warn!(
                        generation,
                        ?trigger,
                        sections = ?report.restart_needed,
                        "configuration reloaded; these sections change at the next start only"
                    );
                }
                remember(&mut inner, report.clone());
                report
            }
            Err(err) => {
                drop(inner);
                self.refused(trigger, err.to_string())
            }
        }
    }

    /// Builds the table again from the file in force and the runtime providers as
    /// the database holds them now (another instance changed them).
    pub fn reload_runtime(&self) -> ReloadReport {
        let file = self.reload.lock().file.clone();
        self.reload_with(Ok(file), Trigger::RuntimeProvider)
    }

    /// Waits until the database announces a change to the runtime providers (never,
    /// for a database that does not announce them).
    pub async fn runtime_providers_changed(&self) {
        self.providers_changed.notified().await;
    }

    /// Changes the runtime providers: `edit` changes the current list, the result
    /// is validated with the file's configuration and built, and only then `commit`
    /// persists the change and the new table is put in force. One change at a time
    /// (the reload lock), so two operators cannot interleave.
    pub(crate) fn change_runtime<T>(
        &self,
        edit: impl FnOnce(&mut Vec<RuntimeProvider>),
        commit: impl FnOnce() -> Result<T, gateway_auth::AuthError>,
    ) -> Result<T, RuntimeChangeError> {
        let mut inner = self.reload.lock();
        let mut runtime = self.runtime_providers()?;
        edit(&mut runtime);
        let generation = inner.generation + 1;
        let (table, effective) = self.prepare(&inner.file, &runtime, generation)?;
        let committed = commit()?;
        self.put_in_force(table, &effective)?;
        inner.generation = generation;
        let report = ReloadReport {
            at_ms: gateway_auth::cache::now_ms(),
            trigger: Trigger::RuntimeProvider,
            ok: true,
            error: None,
            generation,
            restart_needed: Vec::new(),
        };
        tracing::info!(generation, "runtime providers changed");
        remember(&mut inner, report);
        Ok(committed)
    }

    /// The reload state for the admin API.
    pub fn reload_status(&self) -> ReloadStatus {
        let inner = self.reload.lock();
        ReloadStatus {
            path: inner.path.as_ref().map(|p| p.display().to_string()),
            generation: inner.generation,
            history: inner.history.iter().rev().cloned().collect(),
        }
    }

    /// The stored runtime providers as tables (key opened), by name.
    pub(crate) fn runtime_providers(&self) -> Result<Vec<RuntimeProvider>, ConfigError> {
        let Some(store) = &self.upstreams else {
            return Ok(Vec::new());
        };
        let stored = store
            .list_opened()
            .map_err(|e| ConfigError::invalid("providers", e.to_string()))?;
        stored
            .into_iter()
            .map(|(s, key)| {
                let table = provider_table(&s.name, &s.settings, key.as_deref())?;
                Ok((s.name, table))
            })
            .collect()
    }

    fn build(
        &self,
        file: &Config,
        runtime: &[RuntimeProvider],
        generation: u64,
    ) -> Result<(), ConfigError> {
        let (table, effective) = self.prepare(file, runtime, generation)?;
        self.put_in_force(table, &effective)
    }

    /// The effective configuration of `file` with `runtime`, validated, and its table.
    fn prepare(
        &self,
        file: &Config,
        runtime: &[RuntimeProvider],
        generation: u64,
    ) -> Result<(Table, Config), ConfigError> {
        let effective = merged(file, runtime)?;
        let names: BTreeSet<String> = runtime.iter().map(|(n, _)| n.clone()).collect();
        let table = Table::build(&effective, self.client(), names, generation)?;
        // Declared keys are checked before anything is swapped.
        effective.declared_keys()?;
        Ok((table, effective))
    }

    fn put_in_force(&self, table: Table, effective: &Config) -> Result<(), ConfigError> {
        let declared = effective.declared_keys()?;
        self.observer.learn(effective, &table.catalog);
        self.keys.replace_declared(&declared);
        self.install(table);
        Ok(())
    }

    fn refused(&self, trigger: Trigger, error: String) -> ReloadReport {
        tracing::error!(
            ?trigger,
            "configuration not reloaded, the old one stays: {error}"
        );
        let mut inner = self.reload.lock();
        let report = ReloadReport {
            at_ms: gateway_auth::cache::now_ms(),
            trigger,
            ok: false,
            error: Some(error),
            generation: inner.generation,
            restart_needed: Vec::new(),
        };
        remember(&mut inner, report.clone());
        report
    }
}

fn remember(inner: &mut Inner, report: ReloadReport) {
    if inner.history.len() == HISTORY {
        inner.history.pop_front();
    }
    inner.history.push_back(report);
}

/// `file` with `runtime`'s providers added and the whole validated. A runtime
/// provider may not take a name the file uses.
pub(crate) fn merged(file: &Config, runtime: &[RuntimeProvider]) -> Result<Config, ConfigError> {
    let mut effective = file.clone();
    for (name, table) in runtime {
        if effective.providers.contains_key(name) {
            return Err(ConfigError::invalid(
                format!("providers.{name}"),
                "the config file now has a provider of this name, and one was added at runtime: rename or remove one of them",
            ));
        }
        effective.providers.insert(name.clone(), table.clone());
    }
    crate::config::validate(&mut effective)?;
    Ok(effective)
}

/// A runtime provider's `[providers.<name>]` table from its stored JSON settings and key.
pub(crate) fn provider_table(
    name: &str,
    settings: &serde_json::Map<String, serde_json::Value>,
    key: Option<&str>,
) -> Result<toml::Table, ConfigError> {
    use serde::Deserialize as _;
    let value = serde_json::Value::Object(settings.clone());
    let mut table = toml::Table::deserialize(value).map_err(|e| {
        ConfigError::invalid(
            format!("providers.{name}"),
            format!("settings are not a provider table: {e}"),
        )
    })?;
    if let Some(key) = key {
        // Vertex AI's secret is an access token and Bedrock's a secret access key;
        // the sealed key stands for it.
        let setting = match table.get("kind").and_then(toml::Value::as_str) {
            Some("vertex" | "vertex_anthropic") => "access_token",
            Some("bedrock" | "bedrock_anthropic") => "secret_access_key",
            _ => "api_key",
        };
        table.insert(setting.into(), toml::Value::String(key.to_owned()));
    }
    Ok(table)
}

/// The sections read at start only that differ between `old` and `new`.
fn start_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            changed.push(name);
        }
    };
    check("server", old.server == new.server);
    check("storage", old.storage == new.storage);
    check("admin", old.admin == new.admin);
    check("metrics", old.metrics == new.metrics);
    check("access_log", old.access_log == new.access_log);
    check("tracing", old.tracing == new.tracing);
    check("media", old.media == new.media);
    check("discovery", old.discovery == new.discovery);
    check("limits", old.limits == new.limits);
    check("key_defaults", old.key_defaults == new.key_defaults);
    check("cache", old.cache == new.cache);
    changed
}

#[cfg(test)]
mod tests;
