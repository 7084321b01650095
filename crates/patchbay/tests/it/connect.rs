//! `patchbay connect|disconnect|env` run as the real binary against a temporary HOME,
//! checking the written files byte for byte against `tests/fixtures/connect/<tool>/`:
//! `empty/` (connect on an empty HOME), `before/` (a config with other settings) and
//! `after/` (connect over `before/`). `UPDATE_EXPECT=1` rewrites `empty/` and `after/`.
//! `tests/fixtures/connect/{macos,windows}/<tool>/` hold the same for `--platform`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use patchbay::connect::edit::{self, Format};
use serde_json::Value;

const TOOLS: &[&str] = &[
    "claude-code",
    "codex",
    "gemini",
    "opencode",
    "qwen",
    "kimi",
    "crush",
    "continue",
    "cline",
    "roo",
    "codebuddy",
];
const KEY: &str = "sk-test-0123456789";

struct Home(PathBuf);

impl Home {
    fn new() -> Home {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "patchbay-connect-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixtures(tool: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/connect")
        .join(tool)
}

/// Files under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The tool's files in `home` (not patchbay's own state).
fn tool_files(home: &Path) -> Vec<PathBuf> {
    files(home)
        .into_iter()
        .filter(|p| !p.starts_with(".config/patchbay/connect"))
        .collect()
}

/// Variables with which tools move their files away from HOME.
const MOVING_VARS: &[&str] = &[
    "CODEX_HOME",
    "CLAUDE_CONFIG_DIR",
    "CRUSH_GLOBAL_CONFIG",
    "XDG_CONFIG_HOME",
    "APPDATA",
    "LOCALAPPDATA",
];

fn run(home: &Path, args: &[&str]) -> String {
    run_with(home, &[], args)
}

fn run_with(home: &Path, vars: &[(&str, &Path)], args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(args)
        .env("HOME", home)
        .env("PATH", home.join("no-bin"));
    for var in MOVING_VARS {
        cmd.env_remove(var);
    }
    let out = cmd.envs(vars.iter().copied()).output().unwrap();
    assert!(
        out.status.success(),
        "patchbay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    for rel in files(from) {
        let dst = to.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dst).unwrap();
    }
}

/// Compares `home`'s tool files with `expected/`, or rewrites `expected/` when blessing.
fn check_tree(home: &Path, expected: &Path) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let _ = std::fs::remove_dir_all(expected);
        for rel in tool_files(home).iter().filter(|p| !is_bak(p)) {
            let dst = expected.join(rel);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(home.join(rel), dst).unwrap();
        }
        return;
    }
    let got: Vec<PathBuf> = tool_files(home)
        .into_iter()
        .filter(|p| !is_bak(p))
        .collect();
    assert_eq!(got, files(expected), "files in {}", expected.display());
    for rel in got {
        let (a, b) = (
            std::fs::read_to_string(home.join(&rel)).unwrap(),
            std::fs::read_to_string(expected.join(&rel)).unwrap(),
        );
        assert_eq!(stamp_free(&a), stamp_free(&b), "{}", rel.display());
    }
}

/// `text` with Cline's `"updatedAt": "<time of connect>"` values blanked.
fn stamp_free(text: &str) -> String {
    const KEY: &str = "\"updatedAt\": \"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        out.push_str("<time>");
        rest = &tail[tail.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

fn is_bak(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "bak")
}

fn format_of(p: &Path) -> Format {
    match p.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        Some("toml") => Format::Toml,
        Some("yaml") => Format::YamlModels,
        _ => Format::Dotenv,
    }
}

/// A user's own change to a file, applied the same way to the connected file and to
/// the original, so disconnect must give the latter.
fn user_edit(p: &Path, text: &str) -> String {
    match format_of(p) {
        Format::YamlModels => format!("{text}# my own note\n"),
        Format::Dotenv => format!("{text}USER_ADDED=1\n"),
        f => edit::apply(f, text, &[(vec!["userAdded".into()], Value::Bool(true))]).unwrap(),
    }
}

#[test]
fn connect_on_an_empty_home_writes_the_expected_files_and_disconnect_removes_them() {
    for tool in TOOLS {
        let home = Home::new();
        run(&home.0, &["connect", tool, "--key", KEY]);
        check_tree(&home.0, &fixtures(tool).join("empty"));
        assert!(
            !tool_files(&home.0).iter().any(|p| is_bak(p)),
            "{tool}: no backup of nothing"
        );
        run(&home.0, &["disconnect", tool]);
        assert_eq!(tool_files(&home.0), Vec::<PathBuf>::new(), "{tool}");
        assert!(!home.0.join(".config/patchbay/connect").exists(), "{tool}");
    }
}

#[test]
fn connect_over_other_settings_keeps_them_and_disconnect_restores_the_original() {
    for tool in TOOLS {
        let home = Home::new();
        let before = fixtures(tool).join("before");
        copy_tree(&before, &home.0);
        run(&home.0, &["connect", tool, "--key", KEY]);
        check_tree(&home.0, &fixtures(tool).join("after"));
        for rel in files(&before) {
            let mut bak = home.0.join(&rel).into_os_string();
            bak.push(".bak");
            assert_eq!(
                std::fs::read(&bak).unwrap(),
                std::fs::read(before.join(&rel)).unwrap(),
                "{tool}: {}",
                rel.display()
            );
        }
        // A second connect keeps the first backup: the original.
        run(&home.0, &["connect", tool, "--key", "sk-other"]);
        run(&home.0, &["disconnect", tool]);
        assert_eq!(tool_files(&home.0), files(&before), "{tool}");
        for rel in files(&before) {
            assert_eq!(
                std::fs::read(home.0.join(&rel)).unwrap(),
                std::fs::read(before.join(&rel)).unwrap(),
                "{tool}: {}",
                rel.display()
            );
        }
    }
}

#[test]
fn disconnect_after_a_user_edit_removes_only_our_keys() {
    for tool in TOOLS {
        let home = Home::new();
        let before = fixtures(tool).join("before");
        copy_tree(&before, &home.0);
        run(&home.0, &["connect", tool, "--key", KEY]);
        for rel in files(&before) {
            let path = home.0.join(&rel);
            let edited = user_edit(&rel, &std::fs::read_to_string(&path).unwrap());
            std::fs::write(&path, edited).unwrap();
        }
        run(&home.0, &["disconnect", tool]);
        for rel in files(&before) {
            let original = std::fs::read_to_string(before.join(&rel)).unwrap();
            let expected = user_edit(&rel, &original);
            let got = std::fs::read_to_string(home.0.join(&rel)).unwrap();
            assert_eq!(got, expected, "{tool}: {}", rel.display());
        }
        assert!(!tool_files(&home.0).iter().any(|p| is_bak(p)), "{tool}");
    }
}

#[test]
fn list_shows_installed_and_connected_tools() {
    let home = Home::new();
    std::fs::create_dir_all(home.0.join(".codex")).unwrap();
    run(&home.0, &["connect", "claude-code", "--key", KEY]);
    let out = run(&home.0, &["connect", "--list"]);
    let expected = "\
tool         installed  connected
claude-code  yes        yes
codex        yes        no
gemini       no         no
opencode     no         no
qwen         no         no
kimi         no         no
crush        no         no
continue     no         no
cline        no         no
roo          no         no
codebuddy    no         no
";
    assert_eq!(out, expected);
}

#[test]
fn env_prints_export_lines() {
    let home = Home::new();
    let out = run(
        &home.0,
        &["env", "claude-code", "--key", KEY, "--url", "http://h:1/"],
    );
    assert_eq!(
        out,
        "export ANTHROPIC_BASE_URL='http://h:1'\nexport ANTHROPIC_AUTH_TOKEN='sk-test-0123456789'\n"
    );
    let out = run(&home.0, &["env", "openai"]);
    assert_eq!(
        out,
        "export OPENAI_BASE_URL='http://127.0.0.1:4000/v1'\nexport OPENAI_API_KEY=\"$PATCHBAY_KEY\"\n"
    );
    let out = run(&home.0, &["env", "gemini", "--key", KEY]);
    assert_eq!(
        out,
        "export GOOGLE_GEMINI_BASE_URL='http://127.0.0.1:4000'\nexport GEMINI_API_KEY='sk-test-0123456789'\n"
    );
    let out = run(&home.0, &["env", "ollama", "--key", KEY]);
    assert_eq!(
        out,
        "export OLLAMA_HOST='http://127.0.0.1:4000'\nexport OLLAMA_API_KEY='sk-test-0123456789'\n"
    );
}

#[test]
fn connect_without_a_key_says_how() {
    let home = Home::new();
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["connect", "codex"])
        .env("HOME", &home.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--create-key"));
    assert!(tool_files(&home.0).is_empty());
}

#[test]
fn create_key_makes_an_anthropic_style_key_for_claude_code() {
    let home = Home::new();
    let db = home.0.join("keys.db");
    let out = run(
        &home.0,
        &[
            "connect",
            "claude-code",
            "--create-key",
            "--db",
            db.to_str().unwrap(),
            "--model",
            "claude-opus-4-8",
        ],
    );
    assert!(out.contains("created key connect-claude-code"), "{out}");
    let settings = home.0.join(".claude/settings.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    let key = v["env"]["ANTHROPIC_AUTH_TOKEN"].as_str().unwrap();
    assert!(key.starts_with("sk-ant-"), "{key}");
    assert_eq!(v["env"]["ANTHROPIC_MODEL"], "claude-opus-4-8");
    let listed = run(&home.0, &["keys", "--db", db.to_str().unwrap(), "list"]);
    assert!(listed.contains("connect-claude-code"), "{listed}");
    // A user edit, then disconnect: the optional model key goes too.
    let mut edited = v.clone();
    edited["theme"] = "light".into();
    std::fs::write(&settings, serde_json::to_string(&edited).unwrap()).unwrap();
    run(&home.0, &["disconnect", "claude-code"]);
    // The user's compact formatting is theirs to keep.
    let left = std::fs::read_to_string(&settings).unwrap();
    assert_eq!(left, r#"{"theme":"light"}"#);
}

#[test]
fn a_file_that_cannot_be_parsed_stops_connect_before_any_write() {
    let home = Home::new();
    let dir = home.0.join(".gemini");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.json"), "{ // cut short\n  \"a\": \n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["connect", "gemini", "--key", KEY])
        .env("HOME", &home.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    assert_eq!(
        tool_files(&home.0),
        [PathBuf::from(".gemini/settings.json")]
    );
}

#[test]
fn opencode_jsonc_is_edited_in_place_with_its_comments() {
    let home = Home::new();
    let dir = home.0.join(".config/opencode");
    std::fs::create_dir_all(&dir).unwrap();
    let original = "{\n  // my settings\n  \"theme\": \"tokyonight\", /* dark */\n}\n";
    std::fs::write(dir.join("opencode.jsonc"), original).unwrap();
    run(&home.0, &["connect", "opencode", "--key", KEY]);
    assert!(!dir.join("opencode.json").exists(), "no second config file");
    let connected = std::fs::read_to_string(dir.join("opencode.jsonc")).unwrap();
    assert!(
        connected.starts_with("{\n  // my settings\n  \"theme\": \"tokyonight\", /* dark */\n"),
        "{connected}"
    );
    assert_eq!(
        edit::get(Format::Json, &connected, &["model".to_owned()]).as_deref(),
        Some("patchbay/gpt-5-mock")
    );
    run(&home.0, &["disconnect", "opencode"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("opencode.jsonc")).unwrap(),
        original
    );
}

#[test]
fn tools_config_variables_move_the_files_connect_edits() {
    for (tool, var, file) in [
        ("codex", "CODEX_HOME", "config.toml"),
        ("crush", "CRUSH_GLOBAL_CONFIG", "crush.json"),
        ("claude-code", "CLAUDE_CONFIG_DIR", "settings.json"),
    ] {
        let home = Home::new();
        let elsewhere = home.0.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join(file), "").unwrap();
        let vars = [(var, elsewhere.as_path())];
        run_with(&home.0, &vars, &["connect", tool, "--key", KEY]);
        let written = std::fs::read_to_string(elsewhere.join(file)).unwrap();
        assert!(written.contains(KEY), "{tool}: {written}");
        assert_eq!(
            tool_files(&home.0),
            [
                PathBuf::from(format!("elsewhere/{file}")),
                PathBuf::from(format!("elsewhere/{file}.bak"))
            ],
            "{tool}: nothing written under HOME"
        );
        // Disconnect finds the file where connect wrote it, even without the variable.
        run(&home.0, &["disconnect", tool]);
        assert_eq!(std::fs::read_to_string(elsewhere.join(file)).unwrap(), "");
        assert_eq!(
            tool_files(&home.0),
            [PathBuf::from(format!("elsewhere/{file}"))]
        );
    }
}

#[test]
fn continue_legacy_config_json_gets_a_first_model_entry_and_loses_it_again() {
    let home = Home::new();
    let dir = home.0.join(".continue");
    std::fs::create_dir_all(&dir).unwrap();
    let original = "{\n  \"models\": [\n    {\n      \"title\": \"Local\",\n      \"provider\": \"ollama\",\n      \"model\": \"qwen3\"\n    }\n  ],\n  \"allowAnonymousTelemetry\": false\n}\n";
    std::fs::write(dir.join("config.json"), original).unwrap();
    run(&home.0, &["connect", "continue", "--key", KEY]);
    assert!(!dir.join("config.yaml").exists(), "no second config file");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        v["models"][0],
        serde_json::json!({
            "title": "Patchbay",
            "provider": "openai",
            "model": "gpt-5-mock",
            "apiBase": "http://127.0.0.1:4000/v1",
            "apiKey": KEY,
        })
    );
    assert_eq!(v["models"][1]["title"], "Local");
    let listed = run(&home.0, &["connect", "--list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("continue") && l.ends_with("yes")),
        "{listed}"
    );
    // A user edit in between: only our entry goes.
    let edited = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("false", "true");
    std::fs::write(dir.join("config.json"), &edited).unwrap();
    run(&home.0, &["disconnect", "continue"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        original.replace("false", "true")
    );
}

/// Connect, with `--platform os`, over `<os>/<tool>/before/`; the files must match
/// `after/` (nothing written anywhere else) and come back byte for byte on disconnect.
fn connect_on(os: &str, tool: &str) {
    let home = Home::new();
    let dir = fixtures(os).join(tool);
    let before = dir.join("before");
    copy_tree(&before, &home.0);
    run(&home.0, &["connect", tool, "--key", KEY, "--platform", os]);
    check_tree(&home.0, &dir.join("after"));
    let listed = run(&home.0, &["connect", "--list", "--platform", os]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&format!("{tool} ")) && l.ends_with("yes        yes")),
        "{os} {tool}: {listed}"
    );
    // Disconnect needs no `--platform`: it finds the files where connect wrote them.
    run(&home.0, &["disconnect", tool]);
    assert_eq!(tool_files(&home.0), files(&before), "{os} {tool}");
    for rel in files(&before) {
        assert_eq!(
            std::fs::read(home.0.join(&rel)).unwrap(),
            std::fs::read(before.join(&rel)).unwrap(),
            "{os} {tool}: {}",
            rel.display()
        );
    }
}

#[test]
fn on_macos_vs_code_settings_are_under_library_application_support() {
    connect_on("macos", "roo");
    // Crush keeps `~/.config/crush` there.
    connect_on("macos", "crush");
}

#[test]
fn on_windows_vs_code_is_under_app_data_and_crush_under_local_app_data() {
    connect_on("windows", "roo");
    connect_on("windows", "crush");
    // `%USERPROFILE%\.codex`, as on Linux.
    connect_on("windows", "codex");
}

#[test]
fn on_windows_the_app_data_variables_move_the_files() {
    for (tool, var, file) in [
        ("roo", "APPDATA", "Code/User/settings.json"),
        ("crush", "LOCALAPPDATA", "crush/crush.json"),
    ] {
        let home = Home::new();
        let elsewhere = home.0.join("elsewhere");
        let vars = [(var, elsewhere.as_path())];
        let args = ["connect", tool, "--key", KEY, "--platform", "windows"];
        run_with(&home.0, &vars, &args);
        let written = std::fs::read_to_string(elsewhere.join(file)).unwrap();
        assert!(
            written.contains(KEY) || written.contains("roo-settings.json"),
            "{tool}: {written}"
        );
        assert!(
            !home.0.join("AppData").exists(),
            "{tool}: not the default place"
        );
        run(&home.0, &["disconnect", tool]);
        assert!(
            !elsewhere.join(file).exists(),
            "{tool}: the file connect made is gone"
        );
    }
}

#[test]
fn codebuddy_connected_twice_keeps_one_patchbay_model_entry() {
    let home = Home::new();
    copy_tree(&fixtures("codebuddy").join("before"), &home.0);
    run(&home.0, &["connect", "codebuddy", "--key", KEY]);
    run(
        &home.0,
        &[
            "connect",
            "codebuddy",
            "--key",
            "sk-other",
            "--model",
            "glm-5",
        ],
    );
    let models: Value =
        serde_json::from_slice(&std::fs::read(home.0.join(".codebuddy/models.json")).unwrap())
            .unwrap();
    let models = models["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{models:?}");
    assert_eq!(models[0]["name"], "Patchbay");
    assert_eq!(models[0]["id"], "glm-5");
    assert_eq!(models[0]["apiKey"], "sk-other");
    assert_eq!(
        models[0]["url"],
        "http://127.0.0.1:4000/v1/chat/completions"
    );
    assert_eq!(models[1]["id"], "qwen3-coder");
    let settings: Value =
        serde_json::from_slice(&std::fs::read(home.0.join(".codebuddy/settings.json")).unwrap())
            .unwrap();
    assert_eq!(settings["model"], "glm-5");
    // A user edit in between: disconnect takes out only our entry and our model.
    let path = home.0.join(".codebuddy/models.json");
    let edited = user_edit(&path, &std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, edited).unwrap();
    run(&home.0, &["disconnect", "codebuddy"]);
    let original =
        std::fs::read_to_string(fixtures("codebuddy").join("before/.codebuddy/models.json"))
            .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        user_edit(&path, &original)
    );
}
