//! The AI tools on the gateway's machine (`GET /admin/tools`): for each, whether its
//! config points at this gateway and with which key, the environment lines to copy,
//! and connect / disconnect (`POST /admin/tools/{tool}/connect|disconnect`), which
//! edit the tool's own config files in the home directory of the user the gateway
//! runs as — what `patchbay connect` and `patchbay disconnect` do. Plus each SDK's
//! three lines.
//!
//! The file editing lives in the `patchbay` binary's crate: it hands the admin
//! listener a [`ToolHost`]. Without one (the gateway embedded as a library) the
//! answer has the snippets only. Changes are allowed only to a caller on this machine
//! that loaded the console by a loopback name: the peer must be a loopback address
//! and so must the `Host` the request was sent to (so a page of another site that
//! rebinds its DNS name to 127.0.0.1 cannot use the console's session to write
//! files; it could not get past the session cookie and CSRF token anyway).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::keys::{KeyStyle, NewKey};
use http::{Request, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reply::{ApiError, blocking, ok};
use crate::app::App;
use crate::listen::Peer;
use crate::respond::Answer;

/// Where the gateway's tools live: the user account it runs as, and the tools'
/// config files there. Implemented by the `patchbay` binary over `patchbay connect`.
/// Every method may touch the file system: the admin API calls them off its workers.
pub trait ToolHost: Send + Sync + 'static {
    /// The gateway's base URL the tools are pointed at (`http://127.0.0.1:4000`).
    fn gateway_url(&self) -> String;
    /// The user whose files are edited.
    fn account(&self) -> Result<Account, ToolError>;
    /// Every tool known, with its state now.
    fn tools(&self) -> Result<Vec<ToolStatus>, ToolError>;
    /// Points `tool` at the gateway with `key` (`patchbay connect <tool> --key`): the
    /// lines saying what was done.
    fn connect(&self, tool: &str, key: &str) -> Result<Vec<String>, ToolError>;
    /// Puts `tool`'s files back (`patchbay disconnect <tool>`): the lines saying what
    /// was done.
    fn disconnect(&self, tool: &str) -> Result<Vec<String>, ToolError>;
}

/// The account whose files a [`ToolHost`] edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// The home directory the tools' files are under.
    pub home: PathBuf,
}

/// One tool as a [`ToolHost`] finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolStatus {
    /// Its name (`claude-code`), as `patchbay connect` takes it.
    pub name: String,
    /// Its name for people (`Claude Code`).
    pub title: String,
    /// Its program is on the PATH or its config directory exists.
    pub installed: bool,
    /// The config files connect edits.
    pub files: Vec<PathBuf>,
    /// At least one of them exists.
    pub config_found: bool,
    /// Its config points at [`ToolHost::gateway_url`] now.
    pub connected: bool,
    /// Patchbay connected it (disconnect has something to restore).
    pub connected_by_patchbay: bool,
    /// The key its config holds, when it has one (looked up, never shown).
    pub key_in_config: Option<String>,
    /// The style of key it takes (a key made for it by connect has this style).
    pub key_style: KeyStyle,
    /// The `export NAME=value` lines that point it at the gateway for one shell.
    pub env: String,
}

/// A [`ToolHost`] refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name.
    #[error("{0}")]
    Unknown(String),
    /// Disconnect of a tool patchbay did not connect.
    #[error("{0}")]
    NotConnected(String),
    /// Reading or writing a file failed (the message names it).
    #[error("{0}")]
    Failed(String),
}

impl From<ToolError> for ApiError {
    fn from(err: ToolError) -> ApiError {
        match err {
            ToolError::Unknown(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found_error", m),
            ToolError::NotConnected(m) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_request_error", m)
            }
            // The message names the file and what went wrong with it.
            ToolError::Failed(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", m)
            }
        }
    }
}

/// The host handed to the admin listener, if any.
pub type Host = Option<Arc<dyn ToolHost>>;

/// The URL the snippets name when there is no host to say it.
const DEFAULT_URL: &str = "http://127.0.0.1:4000";

/// Where an admin request came from, for the loopback rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    peer: Option<IpAddr>,
    host: Option<String>,
}

impl Origin {
    /// The request's peer and the host it was addressed to (`Host`, or the HTTP/2
    /// `:authority`).
    pub(crate) fn of<B>(req: &Request<B>) -> Origin {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
        Origin {
            peer: req.extensions().get::<Peer>().map(|p| p.0.ip()),
            host,
        }
    }

    /// Why a change to the tools' files is refused for this request, if it is.
    fn refusal(&self, host: &Host) -> Option<String> {
        if host.is_none() {
            return Some(
                "this gateway was started without access to the tools' config files (embedded as a library): copy the environment lines instead".to_owned(),
            );
        }
        match self.peer {
            Some(ip) if is_loopback(ip) => {}
            Some(ip) => {
                return Some(format!(
                    "the console is reached from {ip}, not from the gateway's own machine: connect only works over loopback; copy the environment lines instead"
                ));
            }
            None => {
                return Some(
                    "the caller's address is unknown: connect only works over loopback".to_owned(),
                );
            }
        }
        match self.host.as_deref() {
            Some(h) if is_loopback_host(h) => None,
            Some(h) => Some(format!(
                "the console was opened as `{h}`, not as localhost or a loopback address: open it as http://127.0.0.1:<admin port>/ to connect tools"
            )),
            None => Some("the request names no host: connect only works over loopback".to_owned()),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `localhost`, `*.localhost`, or a loopback address, with or without a port.
fn is_loopback_host(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || after.starts_with(':') => inside,
            _ => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return false,
            None => authority,
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// `GET /admin/tools`.
pub(crate) async fn list(app: &App, host: &Host, origin: &Origin) -> Result<Answer, ApiError> {
    let mut refusal = origin.refusal(host);
    let url = host
        .as_ref()
        .map_or(DEFAULT_URL.to_owned(), |h| h.gateway_url());
    let found = match host {
        Some(h) => {
            let h = h.clone();
            tokio::task::spawn_blocking(move || Ok::<_, ToolError>((h.account()?, h.tools()?)))
                .await
                .map_err(|e| ApiError::internal(format!("a file task failed: {e}")))?
                .map(|(account, tools)| (Some(account), tools))
        }
        None => Ok((None, Vec::new())),
    };
    // The tools' files out of reach (no HOME, say): the snippets still help.
    let (account, tools) = found.unwrap_or_else(|err| {
        refusal = Some(format!("the tools' files cannot be read: {err}"));
        (None, Vec::new())
    });
    let tools: Vec<Value> = tools.iter().map(|t| tool_json(app, t)).collect();
    Ok(ok(&json!({
        "gateway_url": url,
        "host": account.map(|a| json!({"user": a.user, "home": a.home})),
        "connect": {"allowed": refusal.is_none(), "reason": refusal},
        "tools": tools,
        "env": env_snippets(&url),
        "sdks": sdk_snippets(&url),
    })))
}

fn tool_json(app: &App, t: &ToolStatus) -> Value {
    let (key, key_note) = match t.key_in_config.as_deref().filter(|k| !k.is_empty()) {
        None => (Value::Null, None),
        Some(secret) => match app.keys().authenticate(secret) {
            Ok(entry) => (json!({"id": entry.key_id(), "name": entry.name}), None),
            Err(refusal) => (Value::Null, Some(gateway_auth::refusal_message(&refusal))),
        },
    };
    json!({
        "name": t.name,
        "title": t.title,
        "installed": t.installed,
        "config_found": t.config_found,
        "files": t.files,
        "connected": t.connected,
        "connected_by_patchbay": t.connected_by_patchbay,
        "key": key,
        "key_note": key_note,
        "env": t.env,
    })
}

/// The body of `POST /admin/tools/{tool}/connect`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConnectBody {
    /// A key to write; without it a key named `connect-<tool>` is made.
    key: Option<String>,
}

/// `POST /admin/tools/{tool}/connect`: `patchbay connect <tool>` with the given key,
/// or with a new key `connect-<tool>` (as `--create-key`) made in this gateway's
/// database.
pub(crate) async fn connect(
    app: &App,
    host: &Host,
    origin: &Origin,
    tool: String,
    raw: &Bytes,
) -> Result<Answer, ApiError> {
    let h = allowed(host, origin)?;
    let body: ConnectBody = super::keys::body(raw, true)?;
    let status = find(&h, &tool).await?;
    let mut done = Vec::new();
    let (key, created) = match body.key.filter(|k| !k.trim().is_empty()) {
        Some(k) => (k, None),
        None => {
            let store = super::keys::store(app)?;
            let new = NewKey {
                name: format!("connect-{}", status.name),
                style: status.key_style,
                ..NewKey::default()
            };
            let (record, secret) = blocking(move || Ok(store.create(new)?)).await?;
            done.push(format!("created key {}", record.name));
            (secret, Some(record))
        }
    };
    let name = status.name.clone();
    let connected = {
        let h = h.clone();
        blocking(move || Ok(h.connect(&name, &key)?)).await
    };
    let lines = match connected {
        Ok(lines) => lines,
        Err(err) => {
            // The key was made for this connection only: it must not linger.
            if let (Some(record), Ok(store)) = (&created, super::keys::store(app)) {
                let id = record.id.clone();
                let _ = blocking(move || Ok(store.revoke(&id)?)).await;
            }
            return Err(err);
        }
    };
    done.extend(lines);
    let after = find(&h, &status.name).await?;
    Ok(ok(&json!({
        "tool": tool_json(app, &after),
        "created_key": created.map(|r| json!({"id": r.id, "name": r.name, "prefix": r.prefix})),
        "done": done,
    })))
}

/// `POST /admin/tools/{tool}/disconnect`: `patchbay disconnect <tool>`.
pub(crate) async fn disconnect(
    app: &App,
    host: &Host,
    origin: &Origin,
    tool: String,
    raw: &Bytes,
) -> Result<Answer, ApiError> {
    let h = allowed(host, origin)?;
    let super::keys::NoFields {} = super::keys::body(raw, true)?;
    let status = find(&h, &tool).await?;
    let name = status.name.clone();
    let done = {
        let h = h.clone();
        blocking(move || Ok(h.disconnect(&name)?)).await?
    };
    let after = find(&h, &status.name).await?;
    Ok(ok(&json!({"tool": tool_json(app, &after), "done": done})))
}

/// The host, when this request may change the tools' files; else a 403 saying why.
fn allowed(host: &Host, origin: &Origin) -> Result<Arc<dyn ToolHost>, ApiError> {
    match (origin.refusal(host), host) {
        (None, Some(h)) => Ok(h.clone()),
        (reason, _) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            reason.unwrap_or_default(),
        )),
    }
}

/// The status of the tool called `name` (404 if none is).
async fn find(host: &Arc<dyn ToolHost>, name: &str) -> Result<ToolStatus, ApiError> {
    let h = host.clone();
    let tools = blocking(move || Ok(h.tools()?)).await?;
    let known: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    tools.into_iter().find(|t| t.name == name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no tool `{name}`: expected one of {}", known.join(", ")),
        )
    })
}

/// The environment lines of each API family, for tools not listed.
fn env_snippets(url: &str) -> Value {
    json!([
        {"family": "openai", "snippet": format!("export OPENAI_BASE_URL='{url}/v1'\nexport OPENAI_API_KEY=\"$PATCHBAY_KEY\"\n")},
        {"family": "anthropic", "snippet": format!("export ANTHROPIC_BASE_URL='{url}'\nexport ANTHROPIC_AUTH_TOKEN=\"$PATCHBAY_KEY\"\n")},
        {"family": "gemini", "snippet": format!("export GOOGLE_GEMINI_BASE_URL='{url}'\nexport GEMINI_API_KEY=\"$PATCHBAY_KEY\"\n")},
    ])
}

/// Each SDK pointed at the gateway in three lines, with a placeholder key.
fn sdk_snippets(url: &str) -> Value {
    const KEY: &str = "YOUR_PATCHBAY_KEY";
    json!([
        {"name": "Python · openai", "language": "python", "snippet": format!(
            "from openai import OpenAI\nclient = OpenAI(base_url=\"{url}/v1\", api_key=\"{KEY}\")\nprint(client.chat.completions.create(model=\"gpt-5-mock\", messages=[{{\"role\": \"user\", \"content\": \"Hi\"}}]).choices[0].message.content)\n")},
        {"name": "Python · anthropic", "language": "python", "snippet": format!(
            "import anthropic\nclient = anthropic.Anthropic(base_url=\"{url}\", api_key=\"{KEY}\")\nprint(client.messages.create(model=\"claude-opus-4-8\", max_tokens=256, messages=[{{\"role\": \"user\", \"content\": \"Hi\"}}]).content[0].text)\n")},
        {"name": "Python · google-genai", "language": "python", "snippet": format!(
            "from google import genai\nclient = genai.Client(api_key=\"{KEY}\", http_options=genai.types.HttpOptions(base_url=\"{url}\"))\nprint(client.models.generate_content(model=\"gemini-3.5-flash\", contents=\"Hi\").text)\n")},
        {"name": "JavaScript · openai", "language": "javascript", "snippet": format!(
            "import OpenAI from \"openai\";\nconst client = new OpenAI({{ baseURL: \"{url}/v1\", apiKey: \"{KEY}\" }});\nconsole.log((await client.chat.completions.create({{ model: \"gpt-5-mock\", messages: [{{ role: \"user\", content: \"Hi\" }}] }})).choices[0].message.content);\n")},
        {"name": "curl", "language": "shell", "snippet": format!(
            "curl {url}/v1/chat/completions \\\n  -H \"Authorization: Bearer {KEY}\" -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"gpt-5-mock\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}]}}'\n")},
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(peer: &str, host: Option<&str>) -> Origin {
        Origin {
            peer: Some(peer.parse().unwrap()),
            host: host.map(str::to_owned),
        }
    }

    struct NoTools;
    impl ToolHost for NoTools {
        fn gateway_url(&self) -> String {
            DEFAULT_URL.to_owned()
        }
        fn account(&self) -> Result<Account, ToolError> {
            Err(ToolError::Failed("unused".to_owned()))
        }
        fn tools(&self) -> Result<Vec<ToolStatus>, ToolError> {
            Ok(Vec::new())
        }
        fn connect(&self, _: &str, _: &str) -> Result<Vec<String>, ToolError> {
            Ok(Vec::new())
        }
        fn disconnect(&self, _: &str) -> Result<Vec<String>, ToolError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn only_loopback_peers_addressing_a_loopback_host_may_change_files() {
        let host: Host = Some(Arc::new(NoTools));
        for (peer, h) in [
            ("127.0.0.1", "127.0.0.1:4001"),
            ("127.0.0.1", "localhost:4001"),
            ("127.0.0.1", "LOCALHOST"),
            ("127.0.0.1", "console.localhost:4001"),
            ("::1", "[::1]:4001"),
            ("::ffff:127.0.0.1", "127.0.0.2"),
        ] {
            assert_eq!(origin(peer, Some(h)).refusal(&host), None, "{peer} {h}");
        }
        for (peer, h) in [
            ("10.0.0.5", "127.0.0.1:4001"),
            ("127.0.0.1", "evil.example:4001"),
            ("127.0.0.1", "localhost.evil.example"),
            ("127.0.0.1", "127.0.0.1.nip.io"),
            ("127.0.0.1", "[::1"),
            ("127.0.0.1", "10.0.0.1:4001"),
        ] {
            let why = origin(peer, Some(h)).refusal(&host);
            assert!(why.is_some(), "{peer} {h}");
        }
        assert!(origin("127.0.0.1", None).refusal(&host).is_some());
        let refused = origin("127.0.0.1", Some("localhost")).refusal(&None);
        assert!(refused.unwrap().contains("embedded"));
    }

    #[test]
    fn sdk_snippets_are_three_lines_naming_the_gateway() {
        let url = "http://127.0.0.1:4567";
        for s in sdk_snippets(url).as_array().unwrap() {
            let text = s["snippet"].as_str().unwrap();
            assert_eq!(text.lines().count(), 3, "{text}");
            assert!(text.contains(url), "{text}");
            assert!(text.contains("YOUR_PATCHBAY_KEY"), "{text}");
        }
    }
}
