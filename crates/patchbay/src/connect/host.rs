//! The console's Tools page over `patchbay connect`: [`LocalTools`] is the
//! `gateway_server::admin::ToolHost` `serve` hands the admin listener. Connect and
//! disconnect are [`connect`](super::connect) and [`disconnect`](super::disconnect)
//! themselves; the state of each tool is read with the same data rows.

use std::path::PathBuf;

use gateway_auth::keys::KeyStyle;
use gateway_server::admin::{Account, ToolError, ToolHost, ToolStatus};
use serde_json::Value;

use super::edit::{self, Format};
use super::place::{Place, Platform};
use super::tools::{Ctx, KeyKind, TOOLS, Tool};
use super::{ConnectArgs, DisconnectArgs, EnvArgs};

/// The tools of the user the gateway runs as, pointed at `url`.
#[derive(Debug, Clone)]
pub struct LocalTools {
    url: String,
    /// The home directory (`None`: `$HOME`, and the tools' own variables apply, as
    /// for `patchbay connect` without `--home`).
    home: Option<PathBuf>,
    /// Whose config locations (the machine's own, but for tests).
    platform: Platform,
}

impl LocalTools {
    /// The tools under `home` (`None`: `$HOME`), pointed at the gateway at `url`.
    pub fn new(url: impl Into<String>, home: Option<PathBuf>) -> LocalTools {
        LocalTools {
            url: url.into().trim_end_matches('/').to_owned(),
            home,
            platform: Platform::current(),
        }
    }

    /// The same tools, with the config locations of `platform`.
    pub fn on(self, platform: Platform) -> LocalTools {
        LocalTools { platform, ..self }
    }

    fn place(&self) -> Result<Place, ToolError> {
        super::place(self.home.as_ref(), Some(self.platform)).map_err(ToolError::Failed)
    }
}

fn named(name: &str) -> Result<&'static Tool, ToolError> {
    super::tool(name).map_err(ToolError::Unknown)
}

impl ToolHost for LocalTools {
    fn gateway_url(&self) -> String {
        self.url.clone()
    }

    fn account(&self) -> Result<Account, ToolError> {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .or_else(user_of_process)
            .unwrap_or_else(|| "(unknown)".to_owned());
        Ok(Account {
            user,
            home: self.place()?.home,
        })
    }

    fn tools(&self) -> Result<Vec<ToolStatus>, ToolError> {
        let place = self.place()?;
        TOOLS.iter().map(|tool| self.status(&place, tool)).collect()
    }

    fn connect(&self, tool: &str, key: &str) -> Result<Vec<String>, ToolError> {
        let tool = named(tool)?;
        let args = ConnectArgs {
            tool: Some(tool.name.to_owned()),
            list: false,
            key: Some(key.to_owned()),
            create_key: false,
            url: self.url.clone(),
            model: None,
            home: self.home.clone(),
            platform: Some(self.platform),
            config: None,
            db: None,
        };
        super::connect(&args).map(lines).map_err(ToolError::Failed)
    }

    fn disconnect(&self, tool: &str) -> Result<Vec<String>, ToolError> {
        let tool = named(tool)?;
        let place = self.place()?;
        if super::load_state(&place.home, tool)
            .map_err(ToolError::Failed)?
            .is_none()
        {
            return Err(ToolError::NotConnected(format!(
                "{} was not connected by patchbay: there is nothing to restore",
                tool.title
            )));
        }
        let args = DisconnectArgs {
            tool: tool.name.to_owned(),
            home: self.home.clone(),
        };
        super::disconnect(&args)
            .map(lines)
            .map_err(ToolError::Failed)
    }
}

impl LocalTools {
    fn status(&self, place: &Place, tool: &Tool) -> Result<ToolStatus, ToolError> {
        let ctx = Ctx {
            url: self.url.clone(),
            key: String::new(),
            model: tool.model.map(str::to_owned),
            now: String::new(),
        };
        let files: Vec<PathBuf> = (tool.plan)(&ctx)
            .iter()
            .map(|fe| place.file(fe.rel))
            .collect();
        let env = super::env(&EnvArgs {
            target: tool.name.to_owned(),
            url: self.url.clone(),
            key: None,
        })
        .map_err(ToolError::Failed)?;
        Ok(ToolStatus {
            name: tool.name.to_owned(),
            title: tool.title.to_owned(),
            installed: super::on_path(tool.binary) || place.dir(tool.dir).is_dir(),
            config_found: files.iter().any(|f| f.exists()),
            files,
            connected: super::is_connected(place, tool, &self.url),
            connected_by_patchbay: super::load_state(&place.home, tool)
                .ok()
                .flatten()
                .is_some(),
            key_in_config: key_in_config(place, tool),
            key_style: match tool.key {
                KeyKind::Anthropic => KeyStyle::Anthropic,
                KeyKind::OpenAi => KeyStyle::OpenAi,
            },
            env,
        })
    }
}

/// The name of the user this process runs as, from `/etc/passwd` (services often
/// run without `USER`), else `uid N`.
#[cfg(target_os = "linux")]
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // `/proc/self` belongs to the process's effective user.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

#[cfg(not(target_os = "linux"))]
fn user_of_process() -> Option<String> {
    None
}

fn lines(text: String) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// Stands for the key in a planned edit, to find where the key goes.
const PROBE: &str = "\u{1}patchbay-key\u{1}";

/// The key the tool's config holds where connect writes one.
fn key_in_config(place: &Place, tool: &Tool) -> Option<String> {
    let ctx = Ctx {
        url: String::new(),
        key: PROBE.to_owned(),
        model: tool.model.map(str::to_owned),
        now: String::new(),
    };
    for fe in (tool.plan)(&ctx) {
        let file = place.file(fe.rel);
        let Ok(Some(bytes)) = super::read(&file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let format = fe.format.for_path(&file);
        for (path, value) in &fe.sets {
            let Some(pointer) = pointer_to(value, "") else {
                continue;
            };
            let found = if pointer.is_empty() {
                edit::get(format, &text, path)
            } else if matches!(format, Format::YamlModels | Format::JsonModels) {
                // A list entry: its field is looked up by name.
                let field = pointer.rsplit('/').next().unwrap_or_default();
                edit::get(format, &text, &["models".to_owned(), field.to_owned()])
            } else {
                edit::get(format, &text, path)
                    .and_then(|whole| serde_json::from_str::<Value>(&whole).ok())
                    .and_then(|v| {
                        v.pointer(&pointer)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
            };
            // YAML entries hold JSON-quoted values.
            let found = found.map(|k| serde_json::from_str::<String>(&k).unwrap_or(k));
            if let Some(key) = found.filter(|k| !k.is_empty()) {
                return Some(key);
            }
        }
    }
    None
}

/// The JSON pointer (below `at`) to the [`PROBE`] in `value`.
fn pointer_to(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(s) if s == PROBE => Some(at.to_owned()),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            pointer_to(
                v,
                &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
            )
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| pointer_to(v, &format!("{at}/{i}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_home(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("patchbay-host-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_tool_connected_reads_as_connected_with_its_key_and_back() {
        for platform in [Platform::Linux, Platform::Macos, Platform::Windows] {
            let home = temp_home(&format!("{platform:?}"));
            let host = LocalTools::new("http://127.0.0.1:4999/", Some(home.clone())).on(platform);
            for tool in TOOLS {
                let key = format!("sk-test-{}", tool.name);
                let before = host.status(&host.place().unwrap(), tool).unwrap();
                assert!(
                    !before.connected && before.key_in_config.is_none(),
                    "{before:?}"
                );
                host.connect(tool.name, &key).unwrap();
                let after = host.status(&host.place().unwrap(), tool).unwrap();
                assert!(after.connected, "{} connected on {platform:?}", tool.name);
                assert!(after.connected_by_patchbay);
                assert!(after.config_found && after.installed, "{after:?}");
                assert_eq!(
                    after.key_in_config.as_deref(),
                    Some(key.as_str()),
                    "{}",
                    tool.name
                );
                assert!(after.env.contains("http://127.0.0.1:4999"), "{}", after.env);
                host.disconnect(tool.name).unwrap();
                let undone = host.status(&host.place().unwrap(), tool).unwrap();
                assert!(
                    !undone.connected && !undone.connected_by_patchbay,
                    "{undone:?}"
                );
            }
            assert!(matches!(
                host.disconnect("codex"),
                Err(ToolError::NotConnected(_))
            ));
            assert!(matches!(
                host.connect("vim", "k"),
                Err(ToolError::Unknown(_))
            ));
            let _ = std::fs::remove_dir_all(&home);
        }
    }

    #[test]
    fn the_files_shown_are_those_of_the_chosen_platform() {
        let home = PathBuf::from("/nonexistent-home");
        let roo = super::super::tools::find("roo").unwrap();
        let host = LocalTools::new("http://h:1", Some(home.clone())).on(Platform::Windows);
        let status = host.status(&host.place().unwrap(), roo).unwrap();
        assert!(
            status
                .files
                .contains(&home.join("AppData/Roaming/Code/User/settings.json")),
            "{:?}",
            status.files
        );
    }
}
