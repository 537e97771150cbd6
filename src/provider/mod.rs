//! Video providers a character is registered with (SPEC section 6): the `Provider` trait, the
//! registry of providers configured in `config.toml` under `[providers.NAME]`, and the step
//! that registers a saved character and records the remote ID in its `provider_ids`.
//!
//! ```toml
//! [providers.sora]
//! kind = "openai"              # POST {base_url}/videos/characters
//! base_url = "https://..."     # default: OPENAI_BASE_URL, else https://api.openai.com/v1
//! api_key_env = "OPENAI_API_KEY"
//! timeout_s = 120
//! [providers.mine]
//! kind = "command"             # argv with {clip} {name} {id}; prints {"id": ...}
//! command = ["my-uploader", "{clip}", "{name}"]
//! [providers.kling]
//! preset = "kling-elements"    # kind = "http": steps described as data (see `http`)
//! base_url = "https://..."
//! api_key_env = "KLING_API_KEY"
//! ```

pub mod command;
pub mod http;
pub mod openai;
pub mod template;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::library::{Character, Library, ProviderEntry};
use crate::pipeline::job::{Reporter, Stage};
use crate::util::escape_display as esc;

pub use command::CommandProvider;
pub use http::HttpProvider;
pub use openai::OpenAi;

/// The most castbook reads of a provider's reply (an HTTP body, a command's stdout): an
/// answer is a few hundred bytes; anything past this is refused, not stored.
pub const MAX_REPLY_BYTES: usize = 1_000_000;

/// The longest remote ID castbook stores.
pub const MAX_REMOTE_ID_CHARS: usize = 200;

/// What a provider is asked to register.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The prepared clip (absolute path).
    pub clip: &'a Path,
    pub name: &'a str,
    /// The castbook ID.
    pub id: &'a str,
    /// The keyframes (absolute paths), in order.
    pub keyframes: Vec<PathBuf>,
    /// What the character is (its notes), for providers that take a description.
    pub description: &'a str,
    /// The clip's length in seconds.
    pub clip_duration_s: f64,
    /// The blake3 of the clip and of each keyframe, when the record keeps them.
    pub clip_blake3: Option<&'a str>,
    pub keyframe_blake3: Option<Vec<&'a str>>,
}

impl<'a> Request<'a> {
    /// A request with only a clip, a name and an ID (no keyframes).
    pub fn basic(clip: &'a Path, name: &'a str, id: &'a str) -> Request<'a> {
        Request {
            clip,
            name,
            id,
            keyframes: Vec::new(),
            description: "",
            clip_duration_s: 0.0,
            clip_blake3: None,
            keyframe_blake3: None,
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// The ID to use with this provider.
    pub remote_id: String,
    /// Unix time the provider gives, if any.
    pub created_at: Option<i64>,
    /// When the provider forgets the registration, if it says (or the hosted URL it refers
    /// to expires).
    pub expires_at: Option<std::time::SystemTime>,
    /// The hosted URL (without its query) the registration refers to, if any.
    pub depends_on_url: Option<String>,
}

/// A video provider that characters can be registered with.
pub trait Provider {
    /// The configured name (`[providers.NAME]`).
    fn name(&self) -> &str;
    /// The kind: `openai`, `command` or `http`.
    fn kind(&self) -> &'static str;
    /// Check, before any work, that the provider can be called (a key is set, ...).
    fn check(&self) -> Result<()>;
    /// Register the clip; progress is reported as `Stage::Register`.
    fn register(
        &self,
        req: &Request<'_>,
        reporter: &mut Reporter,
        cancel: &CancellationToken,
    ) -> impl Future<Output = Result<Registration>> + Send;
}

/// A configured provider of any kind.
#[derive(Debug, Clone)]
pub enum AnyProvider {
    OpenAi(OpenAi),
    Command(CommandProvider),
    Http(Box<HttpProvider>),
}

impl Provider for AnyProvider {
    fn name(&self) -> &str {
        match self {
            AnyProvider::OpenAi(p) => p.name(),
            AnyProvider::Command(p) => p.name(),
            AnyProvider::Http(p) => p.name(),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            AnyProvider::OpenAi(p) => p.kind(),
            AnyProvider::Command(p) => p.kind(),
            AnyProvider::Http(p) => p.kind(),
        }
    }
    fn check(&self) -> Result<()> {
        match self {
            AnyProvider::OpenAi(p) => p.check(),
            AnyProvider::Command(p) => p.check(),
            AnyProvider::Http(p) => p.check(),
        }
    }
    async fn register(
        &self,
        req: &Request<'_>,
        reporter: &mut Reporter,
        cancel: &CancellationToken,
    ) -> Result<Registration> {
        match self {
            AnyProvider::OpenAi(p) => p.register(req, reporter, cancel).await,
            AnyProvider::Command(p) => p.register(req, reporter, cancel).await,
            AnyProvider::Http(p) => p.register(req, reporter, cancel).await,
        }
    }
}

/// `[providers.NAME]` as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum ProviderConfig {
    Openai(openai::OpenAiConfig),
    Command(command::CommandConfig),
}

/// The providers configured in `config.toml`, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    providers: BTreeMap<String, AnyProvider>,
    config_path: Option<PathBuf>,
}

impl Registry {
    /// Read every `[providers.NAME]` table; a broken one is one error naming it and the key.
    pub fn from_config(cfg: &Config) -> Result<Registry> {
        let file = cfg
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the config".to_string());
        let mut providers = BTreeMap::new();
        // The config's text, to say on which line a broken key is.
        let text = cfg
            .path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        for (name, value) in &cfg.providers {
            let bad = |why: String| {
                let line = line_of(&text, name, "")
                    .map(|l| format!("line {l}: "))
                    .unwrap_or_default();
                Error::input(
                    "config",
                    format!("{file}: {line}[providers.{}]: {why}", esc(name)),
                )
            };
            if let Some(table) = value.as_table()
                && (table.contains_key("preset")
                    || table.get("kind").and_then(|k| k.as_str()) == Some("http"))
            {
                let built = http::resolve(table)
                    .and_then(|resolved| HttpProvider::from_table(name, &resolved));
                let provider = built.map_err(|e| {
                    let line = line_of(&text, name, &e.key)
                        .or_else(|| line_of(&text, name, ""))
                        .map(|l| format!("line {l}: "))
                        .unwrap_or_default();
                    let from_preset = match table.get("preset").and_then(|p| p.as_str()) {
                        Some(p)
                            if !user_sets(table, &e.key)
                                && !e.key.is_empty()
                                && e.key != "preset" =>
                        {
                            format!(" (from the preset {})", esc(p))
                        }
                        _ => String::new(),
                    };
                    Error::input(
                        "config",
                        format!(
                            "{file}: {line}[providers.{}] {}{from_preset}: {}",
                            esc(name),
                            if e.key.is_empty() { "" } else { e.key.as_str() },
                            e.message
                        ),
                    )
                })?;
                providers.insert(
                    name.clone(),
                    AnyProvider::Http(Box::new(provider.with_hosting(cfg))),
                );
                continue;
            }
            let parsed: ProviderConfig = value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let msg = e.message().trim().to_string();
                    if msg.contains("missing field `kind`") {
                        "it has no `kind`: set kind = \"openai\", \"command\" or \"http\", or preset = \"kling-elements\" (or another preset)".to_string()
                    } else if msg.contains("unknown variant") {
                        format!("{msg}: use kind = \"openai\", \"command\" or \"http\"")
                    } else {
                        msg
                    }
                })
                .map_err(bad)?;
            let provider = match parsed {
                ProviderConfig::Openai(c) => {
                    AnyProvider::OpenAi(OpenAi::new(name, c).map_err(bad)?)
                }
                ProviderConfig::Command(c) => {
                    AnyProvider::Command(CommandProvider::new(name, c).map_err(bad)?)
                }
            };
            providers.insert(name.clone(), provider);
        }
        Ok(Registry {
            providers,
            config_path: cfg.path.clone(),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// The provider called `name`, or an error listing the configured ones.
    pub fn get(&self, name: &str) -> Result<&AnyProvider> {
        self.providers.get(name).ok_or_else(|| {
            let file = self
                .config_path
                .as_ref()
                .map(|p| p.display().to_string())
                .or_else(|| crate::config::config_path().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "config.toml".into());
            let known: Vec<&str> = self.names().collect();
            let have = if known.is_empty() {
                "no providers are configured".to_string()
            } else {
                format!("configured: {}", known.join(", "))
            };
            Error::input(
                "unknown_provider",
                format!(
                    "no provider called {:?} ({have}): add a [providers.{}] table to {file}",
                    esc(name),
                    esc(name)
                ),
            )
        })
    }
}

/// Whether the user's table sets the dotted `key` itself (not its preset).
fn user_sets(table: &toml::Table, key: &str) -> bool {
    let mut cur = table;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let part = part.split('[').next().unwrap_or(part);
        match cur.get(part) {
            Some(toml::Value::Table(t)) if i + 1 < parts.len() => cur = t,
            Some(_) => return true,
            None => return false,
        }
    }
    false
}

/// The line (1-based) of `key` (dotted, e.g. `poll.deadline_s`) in the `[providers.NAME]`
/// table of a config's text, or of the table's header when `key` is empty or not found
/// there. Keys set in sub-tables (`[providers.NAME.poll]`) and dotted keys both count.
pub fn line_of(text: &str, provider: &str, key: &str) -> Option<usize> {
    let table = format!("providers.{provider}");
    let parts: Vec<&str> = key
        .split('.')
        .map(|p| p.split('[').next().unwrap_or(p))
        .filter(|p| !p.is_empty())
        .collect();
    let mut header_line = None;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .split('.')
                .map(|s| s.trim().trim_matches('"'))
                .collect::<Vec<_>>()
                .join(".");
            if current == table && header_line.is_none() {
                header_line = Some(i + 1);
            }
            continue;
        }
        let Some(rest) = current.strip_prefix(&table) else {
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        let sub: Vec<&str> = rest.split('.').filter(|s| !s.is_empty()).collect();
        // The key as written on this line, relative to the provider's table.
        let Some((lhs, _)) = t.split_once('=') else {
            continue;
        };
        let mut written: Vec<&str> = sub.clone();
        written.extend(lhs.split('.').map(|s| s.trim().trim_matches('"')));
        if written.len() <= parts.len() && written[..] == parts[..written.len()] {
            return Some(i + 1);
        }
    }
    header_line
}

/// Register a saved character with `provider` and record the remote ID in its
/// `provider_ids`. Returns the updated record and the remote ID.
pub async fn register_character(
    lib: &Library,
    provider: &AnyProvider,
    character: &Character,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<(Character, Registration)> {
    let dir = lib.character_dir(&character.id);
    let clip = dir.join(&character.clip.path);
    let req = Request {
        clip: &clip,
        name: &character.name,
        id: &character.id,
        keyframes: character.keyframes.iter().map(|k| dir.join(k)).collect(),
        description: &character.notes,
        clip_duration_s: character.clip.duration_s,
        clip_blake3: character.clip.blake3(),
        keyframe_blake3: character.keyframe_hashes(),
    };
    reporter.progress(
        Stage::Register,
        0.0,
        format!("registering with {}", provider.name()),
    );
    let reg = provider.register(&req, reporter, cancel).await?;
    if let Err(why) = check_remote_id(&reg.remote_id) {
        return Err(Error::network(
            "provider",
            format!(
                "registering with {} failed: it answered with an ID castbook will not store, {} ({why}); nothing was saved, but the character may exist remotely: check with the provider",
                esc(provider.name()),
                snippet_quoted(&reg.remote_id)
            ),
        ));
    }
    let name = provider.name().to_string();
    let mut entry = ProviderEntry::new(reg.remote_id.clone());
    entry.expires_at = reg
        .expires_at
        .map(|t| humantime::format_rfc3339_seconds(t).to_string());
    entry.depends_on_url = reg.depends_on_url.clone();
    let updated = lib
        .update(&character.id, move |rec| {
            rec.provider_ids.insert(name, entry);
            Ok(())
        })
        .map_err(|mut e| {
            // The remote character exists: its ID must not be lost with the error.
            e.message = format!(
                "{} registered it as {}, but the record could not be updated: {}",
                esc(provider.name()),
                esc(&reg.remote_id),
                e.message
            );
            e
        })?;
    reporter.progress(
        Stage::Register,
        1.0,
        format!("registered with {}", provider.name()),
    );
    Ok((updated, reg))
}

/// Check a remote ID before it is stored, printed or used in a path: 1 to
/// `MAX_REMOTE_ID_CHARS` characters of `A-Z a-z 0-9 . _ : -`, and not `.` or `..`.
/// The error says what is wrong with it.
/// Where a provider's API key comes from; it is read when needed, never stored.
#[derive(Clone)]
pub(crate) enum KeySource {
    Env(String),
    Inline(String),
}

impl KeySource {
    /// The key now, or what is wrong (for provider `name`).
    pub(crate) fn read(&self, name: &str) -> std::result::Result<String, String> {
        match self {
            KeySource::Inline(k) if !k.trim().is_empty() => Ok(k.trim().to_string()),
            KeySource::Inline(_) => Err(
                "its api_key in the config is empty: set it, or remove it and use api_key_env"
                    .to_string(),
            ),
            KeySource::Env(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Ok(k.trim().to_string()),
                _ => Err(format!(
                    "no API key: set the environment variable {var} (or api_key_env in [providers.{}])",
                    crate::util::escape_display(name)
                )),
            },
        }
    }

    /// Where the key was read from, for messages.
    pub(crate) fn hint(&self, name: &str) -> String {
        match self {
            KeySource::Env(v) => format!("the key in {v}"),
            KeySource::Inline(_) => format!(
                "api_key in [providers.{}]",
                crate::util::escape_display(name)
            ),
        }
    }
}

pub fn check_remote_id(id: &str) -> std::result::Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    let count = id.chars().count();
    if count == 0 {
        return Err("it is empty".into());
    }
    if count > MAX_REMOTE_ID_CHARS {
        return Err(format!(
            "it is {count} characters long, over the {MAX_REMOTE_ID_CHARS}-character limit"
        ));
    }
    if let Some(c) = id.chars().find(|c| !allowed(*c)) {
        let what = if c.is_control() {
            format!("the control character U+{:04X}", c as u32)
        } else if c == '/' || c == '\\' {
            format!("a path separator {c:?}")
        } else {
            format!("{:?} (U+{:04X})", c, c as u32)
        };
        return Err(format!(
            "it contains {what}; an ID may only hold A-Z a-z 0-9 . _ : -"
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("{id:?} is not an ID"));
    }
    Ok(())
}

/// The start of `text`, escaped and quoted, for a message about it.
fn snippet_quoted(text: &str) -> String {
    format!("\"{}\"", snippet(text, 80))
}

/// Remove every trace of `secret` from `text` (a server may echo the key in its errors):
/// the whole key, and any word that contains a recognisable piece of it.
pub fn redact(text: &str, secret: &str) -> String {
    const MARK: &str = "[redacted]";
    if secret.trim().is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(secret, MARK);
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 12 {
        let head: String = chars[..8].iter().collect();
        let tail: String = chars[chars.len() - 6..].iter().collect();
        let words: Vec<String> = out
            .split_inclusive(char::is_whitespace)
            .map(|w| {
                if w.contains(&head) || w.contains(&tail) {
                    let trimmed = w.trim_end();
                    format!("{MARK}{}", &w[trimmed.len()..])
                } else {
                    w.to_string()
                }
            })
            .collect();
        out = words.concat();
    }
    out
}

/// At most `max` characters of `text`, escaped for display, with `…` when cut.
pub fn snippet(text: &str, max: usize) -> String {
    let t = text.trim();
    let cut: String = t.chars().take(max).collect();
    let more = if t.chars().count() > max { "…" } else { "" };
    format!("{}{more}", esc(&cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_the_key_and_pieces_of_it() {
        let key = "sk-test-0123456789abcdefXYZ";
        assert_eq!(
            redact(&format!("bad key {key}."), key),
            "bad key [redacted]."
        );
        let partial = "Incorrect API key provided: sk-test-****XYZ ok";
        assert_eq!(
            redact(partial, key),
            partial.replace("sk-test-****XYZ", "[redacted]")
        );
        let partial = "key sk-test-01******defXYZ here";
        assert_eq!(redact(partial, key), "key [redacted] here");
        assert_eq!(redact("nothing here", key), "nothing here");
    }

    #[test]
    fn remote_ids_are_checked() {
        for ok in ["char_abc", "el-1234", "a.b:c_d", "7", &"x".repeat(200)] {
            assert_eq!(check_remote_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../x/../../etc/passwd",
            "a/b",
            "a\\b",
            "a\u{1b}[2Jb",
            "a\r\nb",
            "a b",
            "é",
            &"x".repeat(201),
        ] {
            assert!(check_remote_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_remote_id("a\u{1b}b").unwrap_err().contains("U+001B"));
    }

    #[test]
    fn the_readme_provider_examples_build() {
        let readme = include_str!("../../README.md");
        let mut built = 0;
        for block in readme.split("```toml\n").skip(1) {
            let text = block.split("```").next().unwrap();
            let cfg = Config::parse(text).unwrap();
            let reg =
                Registry::from_config(&cfg).unwrap_or_else(|e| panic!("{}\n{text}", e.message));
            built += reg.names().count();
        }
        assert!(built >= 4, "the README shows the kinds and a preset");
    }

    #[test]
    fn config_lines_of_keys() {
        let text = "[providers.k]\npreset = \"x\"\nsubmit.url = \"u\"\n[providers.k.poll]\n\ndeadline_s = 1\n[[providers.k.upload.steps]]\nurl = \"v\"\n";
        assert_eq!(line_of(text, "k", ""), Some(1));
        assert_eq!(line_of(text, "k", "preset"), Some(2));
        assert_eq!(line_of(text, "k", "submit.url"), Some(3));
        assert_eq!(line_of(text, "k", "poll.deadline_s"), Some(6));
        assert_eq!(line_of(text, "k", "upload.steps[0].url"), Some(8));
        assert_eq!(line_of(text, "k", "vars.model"), Some(1));
        assert_eq!(line_of(text, "other", "preset"), None);
    }

    #[test]
    fn registry_reads_both_kinds_and_names_broken_ones() {
        let cfg = Config::parse(
            "[providers.sora]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1/\"\n\
             [providers.mine]\nkind = \"command\"\ncommand = [\"up\", \"{clip}\"]\n",
        )
        .unwrap();
        let reg = Registry::from_config(&cfg).unwrap();
        assert_eq!(reg.names().collect::<Vec<_>>(), ["mine", "sora"]);
        assert_eq!(reg.get("sora").unwrap().kind(), "openai");
        assert_eq!(reg.get("mine").unwrap().kind(), "command");
        let e = reg.get("other").unwrap_err();
        assert_eq!(e.code, "unknown_provider");
        assert!(
            e.message.contains("configured: mine, sora"),
            "{}",
            e.message
        );

        for (text, needle) in [
            ("[providers.x]\nbase_url = \"http://h\"\n", "no `kind`"),
            ("[providers.x]\nkind = \"ftp\"\n", "kind = \"openai\""),
            (
                "[providers.x]\nkind = \"openai\"\nbase_ur = \"h\"\n",
                "base_ur",
            ),
            (
                "[providers.x]\nkind = \"command\"\ncommand = []\n",
                "command",
            ),
            (
                "[providers.x]\nkind = \"openai\"\nbase_url = \"ftp://h\"\n",
                "base_url",
            ),
        ] {
            let cfg = Config::parse(text).unwrap();
            let e = Registry::from_config(&cfg).unwrap_err();
            assert_eq!(e.code, "config");
            assert!(e.message.contains("[providers.x]"), "{}", e.message);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }
}
