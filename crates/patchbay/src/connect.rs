//! `patchbay connect|disconnect|env`: point an AI tool at the gateway by editing the
//! tool's own config files, and put them back.
//!
//! Connect backs each file up byte for byte to `<file>.bak` before the first write
//! (a later connect keeps the first backup) and records, in
//! `~/.config/patchbay/connect/<tool>.json`, whether the file existed and the SHA-256 of
//! what was written. Disconnect restores the backup (or deletes a file that did not
//! exist) when the file is unchanged since; if the user edited it, only our keys are
//! taken out (old values from the backup come back).

pub mod edit;
pub mod host;
mod jsonc;
pub mod place;
pub mod tools;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use gateway_auth::keys::{KeyStyle, NewKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use place::{Place, Platform};
use tools::{Ctx, KeyKind, TOOLS, Tool};

/// The gateway URL used without `--url`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:4000";

/// `patchbay connect`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ConnectArgs {
    /// The tool: claude-code, codex, gemini, opencode, qwen, kimi, crush, continue, cline,
    /// roo, codebuddy.
    #[arg(required_unless_present = "list")]
    pub tool: Option<String>,
    /// Show which tools are installed and connected.
    #[arg(long)]
    pub list: bool,
    /// The virtual key to write.
    #[arg(long, value_name = "KEY", conflicts_with = "create_key")]
    pub key: Option<String>,
    /// Create a key named `connect-<tool>` in the database.
    #[arg(long)]
    pub create_key: bool,
    /// The gateway's base URL.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// The model the tool should ask for, where it needs one.
    #[arg(long)]
    pub model: Option<String>,
    /// Home directory (default: $HOME, else %USERPROFILE%).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Whose config locations to use (default: this machine's OS).
    #[arg(long, value_enum, value_name = "OS")]
    pub platform: Option<Platform>,
    /// Config file whose `[storage] path` names the database (for --create-key).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database file (for --create-key).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// `patchbay disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DisconnectArgs {
    /// The tool.
    pub tool: String,
    /// Home directory (default: $HOME).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
}

/// `patchbay env`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct EnvArgs {
    /// A tool, or an SDK: openai, anthropic, gemini, ollama.
    pub target: String,
    /// The gateway's base URL.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// The virtual key (default: `$PATCHBAY_KEY`, left for the shell to expand).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// What connect remembers about one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileState {
    rel: String,
    /// Where the file was written, when that is not `rel` under HOME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    existed: bool,
    sha256: String,
}

/// What connect remembers about one tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    url: String,
    files: Vec<FileState>,
}

fn place(arg: Option<&PathBuf>, platform: Option<Platform>) -> Result<Place, String> {
    let home = arg
        .cloned()
        .or_else(|| {
            ["HOME", "USERPROFILE"]
                .iter()
                .find_map(|v| std::env::var_os(v).filter(|h| !h.is_empty()))
                .map(PathBuf::from)
        })
        .ok_or_else(|| "HOME is not set: pass --home DIR".to_owned())?;
    Ok(Place {
        home,
        env: arg.is_none(),
        platform: platform.unwrap_or_else(Platform::current),
    })
}

fn tool(name: &str) -> Result<&'static Tool, String> {
    tools::find(name).ok_or_else(|| {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        format!(
            "unknown tool `{name}`: expected one of {}",
            names.join(", ")
        )
    })
}

fn state_path(home: &Path, tool: &Tool) -> PathBuf {
    home.join(".config/patchbay/connect")
        .join(format!("{}.json", tool.name))
}

fn bak(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn text(path: &Path, bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{}: not UTF-8", path.display()))
}

/// Writes `bytes` to `path` through a temporary file and a rename; a new file is
/// readable by its owner only (it holds a key), an existing one keeps its permissions.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".patchbay-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err)?;
    let perms = match std::fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(_) => new_file_permissions(),
    };
    if let Some(p) = perms {
        std::fs::set_permissions(&tmp, p).map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

fn load_state(home: &Path, tool: &Tool) -> Result<Option<State>, String> {
    let path = state_path(home, tool);
    match read(&path)? {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(None),
    }
}

/// Runs `patchbay connect`; the text to print, or the error message.
pub fn connect(args: &ConnectArgs) -> Result<String, String> {
    let place = place(args.home.as_ref(), args.platform)?;
    let home = place.home.clone();
    if args.list {
        return list(&place, &args.url);
    }
    let tool = tool(args.tool.as_deref().unwrap_or_default())?;
    let mut out = String::new();
    let key = match (&args.key, args.create_key) {
        (Some(k), _) => k.clone(),
        (None, true) => {
            let secret = create_key(args, tool)?;
            let _ = writeln!(out, "created key connect-{}", tool.name);
            secret
        }
        (None, false) => return Err("pass --key KEY or --create-key".to_owned()),
    };
    let ctx = Ctx {
        url: args.url.trim_end_matches('/').to_owned(),
        key,
        model: args.model.clone().or(tool.model.map(str::to_owned)),
        now: gateway_auth::limits::iso_utc(gateway_auth::cache::now_ms()),
    };
    let previous = load_state(&home, tool)?;
    // Every file is read and edited before any is written, so a file that cannot be
    // parsed leaves everything as it was.
    let mut edits = Vec::new();
    for fe in (tool.plan)(&ctx) {
        let path = place.file(fe.rel);
        let before = read(&path)?;
        let current = match &before {
            Some(b) => text(&path, b)?,
            None => String::new(),
        };
        let new = edit::apply(fe.format.for_path(&path), &current, &fe.sets)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        edits.push((fe.rel, path, before, new));
    }
    let mut files = Vec::new();
    for (rel, path, before, new) in edits {
        let old = previous
            .as_ref()
            .and_then(|s| s.files.iter().find(|f| f.rel == rel));
        let existed = old.map_or(before.is_some(), |f| f.existed);
        // The first connect's backup is the original: never replaced.
        if let Some(b) = &before
            && old.is_none()
            && read(&bak(&path))?.is_none()
        {
            write_atomic(&bak(&path), b)?;
        }
        write_atomic(&path, new.as_bytes())?;
        let _ = writeln!(out, "wrote {}", path.display());
        files.push(FileState {
            rel: rel.to_owned(),
            path: (path != home.join(rel)).then(|| path.clone()),
            existed,
            sha256: sha(new.as_bytes()),
        });
    }
    let state = State {
        url: ctx.url.clone(),
        files,
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
    write_atomic(&state_path(&home, tool), &json)?;
    let _ = writeln!(
        out,
        "{} now uses {}; undo with `patchbay disconnect {}`",
        tool.name, ctx.url, tool.name
    );
    Ok(out)
}

fn create_key(args: &ConnectArgs, tool: &Tool) -> Result<String, String> {
    let store = crate::keys_cli::open_store(args.config.as_deref(), args.db.as_deref())?;
    let style = match tool.key {
        KeyKind::Anthropic => KeyStyle::Anthropic,
        KeyKind::OpenAi => KeyStyle::OpenAi,
    };
    let (_, secret) = store
        .create(NewKey {
            name: format!("connect-{}", tool.name),
            style,
            project: None,
            policy: None,
            expires_ms: None,
        })
        .map_err(|e| e.to_string())?;
    Ok(secret)
}

/// Runs `patchbay disconnect`; the text to print, or the error message.
pub fn disconnect(args: &DisconnectArgs) -> Result<String, String> {
    // The files are where connect recorded them.
    let place = place(args.home.as_ref(), None)?;
    let home = place.home.clone();
    let tool = tool(&args.tool)?;
    let Some(state) = load_state(&home, tool)? else {
        return Err(format!(
            "{} was not connected by patchbay (no {})",
            tool.name,
            state_path(&home, tool).display()
        ));
    };
    // The keys to take out do not depend on the values; `Some` model includes the
    // optional model keys.
    let ctx = Ctx {
        url: state.url.clone(),
        key: String::new(),
        model: Some(String::new()),
        now: String::new(),
    };
    let plan = (tool.plan)(&ctx);
    let mut out = String::new();
    for fs in &state.files {
        let path = fs.path.clone().unwrap_or_else(|| home.join(&fs.rel));
        let backup = bak(&path);
        let original = if fs.existed { read(&backup)? } else { None };
        let now = read(&path)?;
        match now {
            Some(now) if sha(&now) != fs.sha256 => {
                let Some(fe) = plan.iter().find(|f| f.rel == fs.rel) else {
                    continue;
                };
                let orig_text = match &original {
                    Some(b) => text(&backup, b)?,
                    None => String::new(),
                };
                let format = fe.format.for_path(&path);
                let new = edit::remove(format, &text(&path, &now)?, &orig_text, &fe.sets)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                write_atomic(&path, new.as_bytes())?;
                let _ = writeln!(out, "removed patchbay's keys from {}", path.display());
            }
            _ => match &original {
                Some(b) => {
                    write_atomic(&path, b)?;
                    let _ = writeln!(out, "restored {}", path.display());
                }
                None => {
                    if path.exists() {
                        std::fs::remove_file(&path)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                    }
                    let _ = writeln!(out, "removed {}", path.display());
                }
            },
        }
        if original.is_some() {
            std::fs::remove_file(&backup).map_err(|e| format!("{}: {e}", backup.display()))?;
        }
    }
    let sp = state_path(&home, tool);
    std::fs::remove_file(&sp).map_err(|e| format!("{}: {e}", sp.display()))?;
    if let Some(dir) = sp.parent() {
        // Only succeeds when empty.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(out)
}

/// `connect --list`: one line per tool, `name installed connected`.
fn list(place: &Place, url: &str) -> Result<String, String> {
    let home = &place.home;
    let mut out = String::new();
    let _ = writeln!(out, "{:<12} {:<10} connected", "tool", "installed");
    for tool in TOOLS {
        let installed = on_path(tool.binary) || place.dir(tool.dir).is_dir();
        let state = load_state(home, tool).ok().flatten();
        let url = state.as_ref().map_or(url, |s| s.url.as_str()).to_owned();
        let connected = is_connected(place, tool, &url);
        let _ = writeln!(
            out,
            "{:<12} {:<10} {}",
            tool.name,
            if installed { "yes" } else { "no" },
            if connected { "yes" } else { "no" }
        );
    }
    Ok(out)
}

/// Every file of the tool holds, in at least one of our keys, a value naming `url`.
fn is_connected(place: &Place, tool: &Tool, url: &str) -> bool {
    let ctx = Ctx {
        url: url.to_owned(),
        key: String::new(),
        model: tool.model.map(str::to_owned),
        now: String::new(),
    };
    (tool.plan)(&ctx).iter().all(|fe| {
        let file = place.file(fe.rel);
        let Ok(Some(bytes)) = read(&file) else {
            return false;
        };
        let t = String::from_utf8_lossy(&bytes);
        let format = fe.format.for_path(&file);
        let named = fe
            .sets
            .iter()
            .any(|(path, _)| edit::get(format, &t, path).is_some_and(|v| v.contains(url)));
        // Files that hold no URL (Gemini's settings.json) count when all keys are set.
        named
            || (!fe.sets.iter().any(|(_, v)| v.to_string().contains(url))
                && fe
                    .sets
                    .iter()
                    .all(|(path, _)| edit::get(format, &t, path).is_some()))
    })
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

/// Runs `patchbay env`: `export NAME='value'` lines for a POSIX shell.
pub fn env(args: &EnvArgs) -> Result<String, String> {
    let quoted = args.key.is_some();
    let ctx = Ctx {
        url: args.url.trim_end_matches('/').to_owned(),
        key: args
            .key
            .clone()
            .unwrap_or_else(|| "$PATCHBAY_KEY".to_owned()),
        model: None,
        now: String::new(),
    };
    let vars = match args.target.as_str() {
        "openai" => tools::openai_env(&ctx),
        "anthropic" => tools::anthropic_sdk_env(&ctx),
        "gemini" | "google" => tools::gemini_env(&ctx),
        "ollama" => tools::ollama_env(&ctx),
        other => (tool(other)?.env)(&ctx),
    };
    let mut out = String::new();
    for (name, value) in vars {
        if value == ctx.key && !quoted {
            let _ = writeln!(out, "export {name}=\"{value}\"");
        } else {
            let _ = writeln!(out, "export {name}='{}'", value.replace('\'', r"'\''"));
        }
    }
    Ok(out)
}
