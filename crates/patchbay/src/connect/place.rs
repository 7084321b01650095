//! Where a tool's files are on each operating system. The tools' data rows name their
//! files as on Linux, relative to HOME (`.config/Code/User/settings.json`); [`Place`]
//! turns such a name into the path the tool reads on the chosen [`Platform`], which is
//! a value (not only `cfg!(target_os)`) so the macOS and Windows layouts can be tested
//! anywhere.
//!
//! What differs: VS Code's user settings (macOS `~/Library/Application Support/Code`,
//! Windows `%APPDATA%\Code`) and Crush's global config (Windows `%LOCALAPPDATA%\crush`).
//! Everything else lives under the home directory on all three (`~/.claude`, `~/.codex`,
//! `~/.gemini`, `~/.qwen`, `~/.kimi-code`, `~/.continue`, `~/.cline`, `~/.codebuddy`, and
//! opencode's `~/.config/opencode`, which it uses on Windows too).

use std::path::{Path, PathBuf};

/// The operating system whose file layout the tools follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// Linux and other Unixes: XDG directories.
    Linux,
    /// macOS: `~/Library/Application Support` for VS Code.
    Macos,
    /// Windows: `%APPDATA%` and `%LOCALAPPDATA%`.
    Windows,
}

impl Platform {
    /// The machine this runs on.
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::Macos
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Linux
        }
    }
}

/// Where the tools' files are: under HOME, or where the tools' own variables move
/// them (`CODEX_HOME`, `CLAUDE_CONFIG_DIR`, `CRUSH_GLOBAL_CONFIG`, `XDG_CONFIG_HOME`,
/// and on Windows `APPDATA`/`LOCALAPPDATA`), which are read only when HOME is the real
/// one (no `--home`).
#[derive(Debug, Clone)]
pub struct Place {
    /// The home directory.
    pub home: PathBuf,
    /// Whether the tools' variables apply.
    pub env: bool,
    /// Whose layout.
    pub platform: Platform,
}

/// `base` with the `/`-separated `rel` pushed one part at a time (so Windows paths get
/// its own separator).
fn join(base: &Path, rel: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    out.extend(rel.split('/').filter(|part| !part.is_empty()));
    out
}

/// What follows `prefix` in `rel` when `rel` is `prefix` or below it.
fn below<'a>(rel: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = rel.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

impl Place {
    /// A tool's variable naming a directory, when it applies and is set.
    fn var(&self, name: &str) -> Option<PathBuf> {
        self.env
            .then(|| std::env::var_os(name))
            .flatten()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// A Windows known folder: its variable, else its default place under HOME.
    fn known_folder(&self, var: &str, default: &str) -> PathBuf {
        self.var(var).unwrap_or_else(|| join(&self.home, default))
    }

    /// The directory or file the tool uses for the HOME-relative (Linux) name `rel`.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let moved = match rel {
            ".codex/config.toml" => self.var("CODEX_HOME").map(|d| d.join("config.toml")),
            ".claude/settings.json" => self
                .var("CLAUDE_CONFIG_DIR")
                .map(|d| d.join("settings.json")),
            ".config/crush/crush.json" => self
                .var("CRUSH_GLOBAL_CONFIG")
                .map(|d| d.join("crush.json")),
            _ => None,
        };
        moved
            .or_else(|| self.os_folder(rel))
            .or_else(|| self.xdg(rel))
            .unwrap_or_else(|| join(&self.home, rel))
    }

    /// The OS's own folder for `rel`, where the tool uses one rather than HOME.
    fn os_folder(&self, rel: &str) -> Option<PathBuf> {
        let (base, rest) = match self.platform {
            Platform::Linux => return None,
            Platform::Macos => (
                join(&self.home, "Library/Application Support/Code"),
                below(rel, ".config/Code")?,
            ),
            Platform::Windows => match below(rel, ".config/Code") {
                Some(rest) => (
                    join(&self.known_folder("APPDATA", "AppData/Roaming"), "Code"),
                    rest,
                ),
                None => (
                    join(&self.known_folder("LOCALAPPDATA", "AppData/Local"), "crush"),
                    below(rel, ".config/crush")?,
                ),
            },
        };
        Some(join(&base, rest))
    }

    /// `XDG_CONFIG_HOME` for what sits under `~/.config` (opencode honours it on every
    /// OS); patchbay's own files (the Roo import file) stay where the settings name them.
    fn xdg(&self, rel: &str) -> Option<PathBuf> {
        let rest = rel.strip_prefix(".config/")?;
        if rest.starts_with("patchbay/") {
            return None;
        }
        self.var("XDG_CONFIG_HOME").map(|d| join(&d, rest))
    }

    /// The file a tool reads for the HOME-relative (Linux) path `rel`.
    pub fn file(&self, rel: &str) -> PathBuf {
        let path = self.dir(rel);
        // Continue installs from before config.yaml have config.json.
        if rel == ".continue/config.yaml" && !path.exists() {
            let legacy = path.with_extension("json");
            if legacy.exists() {
                return legacy;
            }
        }
        // opencode reads `opencode.jsonc` too: edit that one when it is the file the
        // user has.
        if rel.starts_with(".config/opencode/") && !path.exists() {
            let jsonc = path.with_extension("jsonc");
            if jsonc.exists() {
                return jsonc;
            }
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(platform: Platform) -> Place {
        Place {
            home: PathBuf::from("/h"),
            env: false,
            platform,
        }
    }

    #[test]
    fn vs_code_settings_follow_each_os() {
        let rel = ".config/Code/User/settings.json";
        assert_eq!(
            at(Platform::Linux).file(rel),
            Path::new("/h/.config/Code/User/settings.json")
        );
        assert_eq!(
            at(Platform::Macos).file(rel),
            Path::new("/h/Library/Application Support/Code/User/settings.json")
        );
        assert_eq!(
            at(Platform::Windows).file(rel),
            Path::new("/h/AppData/Roaming/Code/User/settings.json")
        );
        assert_eq!(
            at(Platform::Macos).dir(".config/Code/User"),
            Path::new("/h/Library/Application Support/Code/User")
        );
    }

    #[test]
    fn crush_is_under_local_app_data_on_windows_only() {
        let rel = ".config/crush/crush.json";
        assert_eq!(
            at(Platform::Macos).file(rel),
            Path::new("/h/.config/crush/crush.json")
        );
        assert_eq!(
            at(Platform::Windows).file(rel),
            Path::new("/h/AppData/Local/crush/crush.json")
        );
    }

    #[test]
    fn home_dot_directories_and_patchbay_files_are_the_same_everywhere() {
        for platform in [Platform::Linux, Platform::Macos, Platform::Windows] {
            for rel in [
                ".codex/config.toml",
                ".claude/settings.json",
                ".codebuddy/models.json",
                ".config/opencode/opencode.json",
                ".config/patchbay/roo-settings.json",
            ] {
                assert_eq!(at(platform).file(rel), Path::new("/h").join(rel), "{rel}");
            }
        }
    }

    #[test]
    fn a_prefix_must_end_at_a_path_separator() {
        assert_eq!(below(".config/Code/User", ".config/Code"), Some("User"));
        assert_eq!(below(".config/Code", ".config/Code"), Some(""));
        assert_eq!(below(".config/Codeium/x", ".config/Code"), None);
    }
}
