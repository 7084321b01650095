//! `patchbay keys`: key management on the database, for people and scripts. `create`
//! and `rotate` print the new secret as the last line of stdout, so scripts can take
//! it with `tail -n1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gateway_auth::keys::{KeyRecord, KeyStyle, KeyUpdate, NewKey, parse_json};
use gateway_auth::{AuthError, KeyPolicy, KeyStore};

use crate::cli::{KeysAction, KeysArgs};
use gateway_server::config::{Config, DEFAULT_DATABASE};

/// Runs one `keys` action; the text to print, or the error message.
pub fn run(args: &KeysArgs) -> Result<String, String> {
    let store = open_store(args.config.as_deref(), args.db.as_deref())?;
    act(&store, &args.action, args.json).map_err(|e| e.to_string())
}

/// The key store the CLI acts on: the SQLite file `--db` names; else the config's
/// `[storage]` (PostgreSQL at `url`, or SQLite at `path`); else `patchbay.db`. New
/// keys without a policy get the config's `[key_defaults]`.
pub(crate) fn open_store(config: Option<&Path>, db: Option<&Path>) -> Result<KeyStore, String> {
    let config = match config {
        Some(p) => Some(Config::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let path = db
        .map(Path::to_path_buf)
        .or_else(|| config.as_ref().map(|c| c.storage.path.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE));
    match &config {
        Some(config) if db.is_none() && config.storage.url.is_some() => {
            gateway_server::app::open_key_store(config, &path)
                .map_err(|e| format!("storage.url: {e}"))
        }
        _ => {
            let defaults = config.map(|c| c.key_defaults).unwrap_or_default();
            KeyStore::open(&path, defaults).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

/// Performs `action` on `store`.
pub fn act(store: &KeyStore, action: &KeysAction, json: bool) -> Result<String, AuthError> {
    let show = |r: &KeyRecord| describe(r, json);
    Ok(match action {
        KeysAction::Create {
            name,
            style,
            project,
            models,
            expires_in_days,
            policy,
        } => {
            let mut policy = match policy {
                Some(text) => Some(parse_json::<KeyPolicy>("policy", text)?),
                None => None,
            };
            if !models.is_empty() {
                policy
                    .get_or_insert_with(|| store.defaults().clone())
                    .models
                    .clone_from(models);
            }
            let new = NewKey {
                name: name.clone(),
                style: parse_style(style)?,
                project: project.clone(),
                policy,
                expires_ms: expires_in_days
                    .map(|d| gateway_auth::cache::now_ms() + i64::from(d) * 86_400_000),
            };
            let (record, secret) = store.create(new)?;
            format!("{}\n{secret}\n", show(&record))
        }
        KeysAction::List => {
            let keys = store.list()?;
            if json {
                format!("{}\n", serde_json::to_string_pretty(&keys)?)
            } else {
                keys.iter().map(|k| line(k) + "\n").collect()
            }
        }
        KeysAction::Show { key } => format!("{}\n", show(&store.get(key)?)),
        KeysAction::Update { key, changes } => {
            let update: KeyUpdate = parse_json("changes", changes)?;
            format!("{}\n", show(&store.update(key, update)?))
        }
        KeysAction::Disable { key } => format!("{}\n", show(&store.set_disabled(key, true)?)),
        KeysAction::Enable { key } => format!("{}\n", show(&store.set_disabled(key, false)?)),
        KeysAction::Revoke { key } => format!("{}\n", show(&store.revoke(key)?)),
        KeysAction::Rotate { key, grace_secs } => {
            let (record, secret) = store.rotate(key, Duration::from_secs(*grace_secs))?;
            format!("{}\n{secret}\n", show(&record))
        }
    })
}

fn parse_style(style: &str) -> Result<KeyStyle, AuthError> {
    match style {
        "patchbay" | "pbk" => Ok(KeyStyle::Patchbay),
        "openai" | "sk" => Ok(KeyStyle::OpenAi),
        "anthropic" | "sk-ant" => Ok(KeyStyle::Anthropic),
        other => Err(AuthError::Invalid {
            field: "style".to_owned(),
            message: format!("`{other}`: expected patchbay, openai or anthropic"),
        }),
    }
}

fn describe(r: &KeyRecord, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(r).unwrap_or_default()
    } else {
        line(r)
    }
}

/// One line per key: id, name, state, display prefix, project, models.
fn line(r: &KeyRecord) -> String {
    let state = format!("{:?}", r.state(gateway_auth::cache::now_ms())).to_lowercase();
    format!(
        "{}  {}  {}  {}  project={}  models={}",
        r.id,
        r.name,
        state,
        r.prefix,
        r.project_id.as_deref().unwrap_or("-"),
        r.policy.models.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(store: &KeyStore, name: &str, extra: &[&str]) -> String {
        let mut argv = vec!["patchbay", "keys", "create", "--name", name];
        argv.extend_from_slice(extra);
        let cli = <crate::cli::Cli as clap::Parser>::parse_from(argv);
        let crate::cli::Command::Keys(args) = cli.command else {
            panic!()
        };
        act(store, &args.action, false).unwrap()
    }

    #[test]
    fn create_prints_the_secret_last_and_it_authenticates() {
        let store = KeyStore::open_in_memory(KeyPolicy::default()).unwrap();
        let out = create(
            &store,
            "ci",
            &["--style", "anthropic", "--model", "claude-*"],
        );
        let secret = out.lines().last().unwrap();
        assert!(secret.starts_with("sk-ant-"), "{out}");
        let entry = store.authenticate(secret).unwrap();
        assert_eq!(entry.policy.models, ["claude-*"]);
        // The record line never holds the secret.
        assert!(!out.lines().next().unwrap().contains(secret));
    }

    #[test]
    fn revoke_and_rotate_through_the_cli() {
        let store = KeyStore::open_in_memory(KeyPolicy::default()).unwrap();
        let first = create(&store, "bot", &[]);
        let old = first.lines().last().unwrap().to_owned();
        let rotated = act(
            &store,
            &KeysAction::Rotate {
                key: "bot".into(),
                grace_secs: 0,
            },
            false,
        )
        .unwrap();
        let new = rotated.lines().last().unwrap().to_owned();
        assert!(store.authenticate(&old).is_err());
        assert!(store.authenticate(&new).is_ok());
        act(&store, &KeysAction::Revoke { key: "bot".into() }, false).unwrap();
        assert!(store.authenticate(&new).is_err());
        let listed = act(&store, &KeysAction::List, false).unwrap();
        assert!(listed.contains("revoked"), "{listed}");
    }

    #[test]
    fn bad_policy_json_names_the_field() {
        let store = KeyStore::open_in_memory(KeyPolicy::default()).unwrap();
        let err = act(
            &store,
            &KeysAction::Update {
                key: "x".into(),
                changes: r#"{"policy":{"limits":{"rmp":1}}}"#.into(),
            },
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("rmp"), "{err}");
    }
}
