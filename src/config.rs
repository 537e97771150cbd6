//! `config.toml` (SPEC section 3): the platform config dir, or the file `CASTBOOK_CONFIG`
//! names. Missing means defaults; a broken file is one clear error naming the file, line and
//! key. Sections other front ends own (keys, providers) are kept as TOML tables here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Library folder.
    pub library: Option<PathBuf>,
    /// Theme name (TUI).
    pub theme: Option<String>,
    /// Key map overrides (TUI): action = "key".
    #[serde(default)]
    pub keys: toml::Table,
    /// Configured providers by name.
    #[serde(default)]
    pub providers: toml::Table,
    #[serde(default)]
    pub defaults: Defaults,
    /// URL downloads: size cap and timeouts.
    #[serde(default)]
    pub fetch: FetchConfig,
    /// The terminal app's behaviour.
    #[serde(default)]
    pub ui: UiConfig,
    /// Where the clip and keyframes are put for providers and models that take URLs.
    pub hosting: Option<crate::hosting::HostingConfig>,
    /// Where this config was read from (not a TOML key).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Window start in seconds for new characters.
    pub start: Option<f64>,
    /// Reject non-MP4 input instead of converting it.
    pub strict: Option<bool>,
    /// Folder the files pane opens in.
    pub folder: Option<PathBuf>,
    /// Provider the terminal app registers with (`R`, and every new character).
    pub provider: Option<String>,
}

/// `[ui]`: the terminal app.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Take the mouse (click to focus and select, wheel to scroll); default true. Off, the
    /// terminal's own selection works as usual.
    pub mouse: Option<bool>,
}

/// `[fetch]`: limits of URL downloads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Largest download in MB (1 MB = 1,000,000 bytes); default 500.
    pub max_mb: Option<f64>,
    /// Seconds to wait for a connection; default 15.
    pub connect_timeout_s: Option<f64>,
    /// Seconds without any data before a download is given up; default 30.
    pub idle_timeout_s: Option<f64>,
    /// Seconds a whole download may take before it is given up; default 600.
    pub deadline_s: Option<f64>,
}

/// The platform directories of castbook.
pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "castbook")
}

/// The config file in use: `CASTBOOK_CONFIG`, else the platform config dir's `config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CASTBOOK_CONFIG") {
        return Some(PathBuf::from(p));
    }
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// The platform config dir (user themes live in `themes/` under it).
pub fn config_dir() -> Option<PathBuf> {
    config_path().and_then(|p| p.parent().map(Path::to_path_buf))
}

impl Config {
    /// Load the config in use; a missing file means defaults.
    pub fn load() -> Result<Config> {
        match config_path() {
            Some(p) => Self::load_from(&p),
            None => Ok(Config::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(Error::input(
                    "config",
                    format!("cannot read the config {}: {e}", path.display()),
                ));
            }
        };
        let mut cfg = Self::parse(&text).map_err(|m| {
            Error::input(
                "config",
                format!("{}: {m}: fix or remove that line", path.display()),
            )
        })?;
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parse TOML text; the error says the line and what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        toml::from_str::<Config>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let key = e
                .span()
                .and_then(|s| text.get(s.clone()))
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty() && k.len() < 60);
            let msg = e.message().trim().to_string();
            match (line, key) {
                (Some(l), Some(k)) => format!("line {l}, at `{k}`: {msg}"),
                (Some(l), None) => format!("line {l}: {msg}"),
                _ => msg,
            }
        })
    }
}

/// The library folder: `--library` / `CASTBOOK_LIBRARY` (given), else the config's, else the
/// platform data dir.
pub fn library_path(given: Option<PathBuf>, cfg: &Config) -> Result<PathBuf> {
    if let Some(p) = given.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(p);
    }
    if let Some(p) = &cfg.library {
        return Ok(expand_home(p));
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::other(
                "no_library",
                "no home folder to keep the library in: pass --library DIR or set CASTBOOK_LIBRARY",
            )
        })
}

fn expand_home(p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    p.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_config_names_line_and_key() {
        let err = Config::parse("theme = \"dark\"\nlibrary = 3\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = Config::parse("theme = \"dark\"\n\nthem = 1\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("them"), "{err}");
    }

    #[test]
    fn the_readme_examples_parse() {
        let readme = include_str!("../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .collect();
        assert!(blocks.len() >= 2, "the README has its config examples");
        for b in blocks {
            if let Err(e) = Config::parse(b) {
                panic!("README example does not parse: {e}\n{b}");
            }
        }
    }

    #[test]
    fn empty_config_is_default() {
        let c = Config::parse("").unwrap();
        assert!(c.library.is_none());
    }
}
