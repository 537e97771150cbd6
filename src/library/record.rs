//! The character record (`<id>/character.json`, SPEC section 2). Unknown fields are kept on
//! rewrite so a newer castbook's additions survive an older one's edit. Schema 2 keeps each
//! provider registration as `{id, registered_at, expires_at?, depends_on_url?}`; a schema 1
//! record (`"provider_ids": {"NAME": "remote id"}`) reads the same and is written as schema 2.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const SCHEMA: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Character {
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub source: Source,
    pub start_s: f64,
    pub path_taken: PathTaken,
    pub clip: ClipRecord,
    pub keyframes: Vec<String>,
    pub signature: RawJson,
    #[serde(default)]
    pub warnings: Vec<Warning>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub provider_ids: BTreeMap<String, ProviderEntry>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One provider registration (`provider_ids.NAME`). Read from a plain string (schema 1) or
/// an object (schema 2); always written as an object. Unknown fields are kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderEntry {
    /// The ID to use with this provider.
    pub id: String,
    /// When it was registered (RFC 3339, UTC); absent for registrations carried over from a
    /// schema 1 record, which did not keep the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    /// When the provider forgets it (RFC 3339, UTC), when it says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A hosted URL the registration refers to: when that URL expires, so does the
    /// registration (its expiry is then in `expires_at` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProviderEntry {
    /// A registration made now.
    pub fn new(id: impl Into<String>) -> ProviderEntry {
        ProviderEntry {
            id: id.into(),
            registered_at: Some(
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ),
            expires_at: None,
            depends_on_url: None,
            extra: Map::new(),
        }
    }

    /// A registration known only by its ID (as a schema 1 record kept it).
    pub fn id_only(id: impl Into<String>) -> ProviderEntry {
        ProviderEntry {
            id: id.into(),
            registered_at: None,
            expires_at: None,
            depends_on_url: None,
            extra: Map::new(),
        }
    }

    /// When it expires, parsed; `None` when it does not (or the time cannot be read).
    pub fn expiry(&self) -> Option<std::time::SystemTime> {
        self.expires_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok())
    }

    /// Whether it has expired at `now`.
    pub fn expired_at(&self, now: std::time::SystemTime) -> bool {
        self.expiry().is_some_and(|e| e <= now)
    }

    /// Whether it has expired.
    pub fn expired(&self) -> bool {
        self.expired_at(std::time::SystemTime::now())
    }
}

impl PartialEq<str> for ProviderEntry {
    fn eq(&self, other: &str) -> bool {
        self.id == other
    }
}

impl PartialEq<&str> for ProviderEntry {
    fn eq(&self, other: &&str) -> bool {
        self.id == *other
    }
}

impl<'de> Deserialize<'de> for ProviderEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ProviderEntry, D::Error> {
        #[derive(Deserialize)]
        struct Full {
            id: String,
            #[serde(default)]
            registered_at: Option<String>,
            #[serde(default)]
            expires_at: Option<String>,
            #[serde(default)]
            depends_on_url: Option<String>,
            #[serde(flatten)]
            extra: Map<String, Value>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Plain(String),
            Full(Full),
        }
        match Either::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a provider registration is a remote ID (a string) or {\"id\": ..., \"registered_at\": ...}",
            )
        })? {
            Either::Plain(id) => Ok(ProviderEntry::id_only(id)),
            Either::Full(f) => Ok(ProviderEntry {
                id: f.id,
                registered_at: f.registered_at,
                expires_at: f.expires_at,
                depends_on_url: f.depends_on_url,
                extra: f.extra,
            }),
        }
    }
}

/// A JSON value kept as its compact text: written back exactly as read (a newer signature
/// version survives an edit), in a fraction of the memory a parsed value takes, which matters
/// with thousands of characters loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct RawJson(String);

impl RawJson {
    /// Serialise `value` compactly.
    pub fn of<T: Serialize>(value: &T) -> serde_json::Result<RawJson> {
        serde_json::to_string(value).map(RawJson)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Parse the text as a `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.0)
    }
}

impl From<Value> for RawJson {
    fn from(v: Value) -> RawJson {
        RawJson(v.to_string())
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawJson, D::Error> {
        Value::deserialize(d).map(RawJson::from)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub size_bytes: u64,
    pub blake3: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Whether a character's source is still where it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// The same bytes (size and blake3) are still at the recorded path.
    Present,
    /// A file is there, but not the same one (another size or hash).
    Changed,
    /// Nothing readable is there any more (moved, removed, or another machine's path).
    Missing,
    /// The record keeps no local path (a download).
    NoPath,
}

impl SourceState {
    pub fn describe(self) -> &'static str {
        match self {
            SourceState::Present => "still there",
            SourceState::Changed => "changed since (another file is there)",
            SourceState::Missing => "no longer there",
            SourceState::NoPath => "downloaded, no local copy kept",
        }
    }
}

impl Source {
    /// The source file's name: the last part of its path, or of its URL.
    pub fn file_name(&self) -> Option<String> {
        if let Some(p) = &self.path {
            return std::path::Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
        }
        let url = self.url.as_deref()?;
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let after_host = path.splitn(4, '/').nth(3)?;
        after_host
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(String::from)
    }

    /// Whether the source is still at its recorded path. The path is only a local hint: the
    /// size is compared first, and the blake3 only when the size is the same.
    pub fn check(&self) -> SourceState {
        let Some(p) = &self.path else {
            return SourceState::NoPath;
        };
        let path = std::path::Path::new(p);
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {
                if m.len() != self.size_bytes {
                    return SourceState::Changed;
                }
                match crate::library::id::SourceDigest::of_file(path) {
                    Ok(d) if d.blake3 == self.blake3 && d.size_bytes == self.size_bytes => {
                        SourceState::Present
                    }
                    Ok(_) => SourceState::Changed,
                    Err(_) => SourceState::Missing,
                }
            }
            Ok(_) => SourceState::Changed,
            Err(_) => SourceState::Missing,
        }
    }

    /// The path or URL, for display.
    pub fn display(&self) -> &str {
        self.path
            .as_deref()
            .or(self.url.as_deref())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathTaken {
    /// The source was already compliant and was stream-copied.
    Copy,
    /// The source was re-encoded.
    Encode,
}

impl PathTaken {
    pub fn as_str(self) -> &'static str {
        match self {
            PathTaken::Copy => "copy",
            PathTaken::Encode => "encode",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipRecord {
    pub path: String,
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
    pub fps: f64,
    pub size_bytes: u64,
    pub has_audio: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A warning: something converted, or a quality hint. Never a rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub rule: String,
    pub message: String,
}

impl Warning {
    pub fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Warning {
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl Character {
    /// The ID to use with `provider`, or the castbook ID when it is not registered there.
    pub fn id_for(&self, provider: Option<&str>) -> &str {
        provider
            .and_then(|p| self.provider_ids.get(p))
            .map(|e| e.id.as_str())
            .unwrap_or(&self.id)
    }
}

/// How to use a character: with a provider's remote ID, that ID, a prompt snippet that names
/// the character and the JSON fragment; with none (the castbook ID is local, no model takes
/// it), the command that says what to send each model.
pub fn usage_lines(name: &str, id: &str, remote: Option<&str>) -> Vec<String> {
    match remote {
        Some(remote) => {
            let fragment = serde_json::json!({"characters": [{"id": remote}]});
            vec![
                format!("use it: {remote}"),
                format!("prompt: \"{name} walks through a park at dusk\""),
                format!("json:   {fragment}"),
            ]
        }
        None => vec![
            format!("use it: castbook use {id} --for MODEL"),
            format!(
                "        ({id} is local: no provider knows it; MODEL: {})",
                crate::usage::model_names().join(", ")
            ),
        ],
    }
}

impl Character {
    /// The remote ID of the first provider this character is registered with (by name), of
    /// the registrations that have not expired.
    pub fn first_remote(&self) -> Option<(&str, &str)> {
        self.provider_ids
            .iter()
            .find(|(_, e)| !e.expired())
            .map(|(p, e)| (p.as_str(), e.id.as_str()))
    }
}

/// The record key holding the blake3 of each keyframe, in the order of `keyframes`.
const KEYFRAME_HASHES: &str = "keyframes_blake3";

impl ClipRecord {
    /// The blake3 (hex) of the clip as saved; `None` in records written before it was kept.
    pub fn blake3(&self) -> Option<&str> {
        self.extra.get("blake3").and_then(Value::as_str)
    }
}

impl Character {
    /// The blake3 (hex) of each keyframe, in the order of `keyframes`; `None` in records
    /// written before they were kept, or when the list does not match `keyframes`.
    pub fn keyframe_hashes(&self) -> Option<Vec<&str>> {
        let list = self.extra.get(KEYFRAME_HASHES)?.as_array()?;
        let hashes: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        (hashes.len() == list.len() && hashes.len() == self.keyframes.len()).then_some(hashes)
    }

    /// Record the hashes of the clip (when given) and of the keyframes (`clip.blake3`,
    /// `keyframes_blake3`).
    pub(crate) fn set_file_hashes(&mut self, clip: Option<String>, keyframes: Vec<String>) {
        if let Some(clip) = clip {
            self.clip.extra.insert("blake3".into(), Value::String(clip));
        }
        self.extra.insert(
            KEYFRAME_HASHES.into(),
            Value::Array(keyframes.into_iter().map(Value::String).collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: Option<&str>, url: Option<&str>) -> Source {
        Source {
            path: path.map(String::from),
            url: url.map(String::from),
            size_bytes: 1,
            blake3: "00".into(),
            extra: Default::default(),
        }
    }

    #[test]
    fn schema_1_provider_ids_read_and_are_written_as_entries_keeping_unknown_fields() {
        let rec = serde_json::json!({
            "schema": 1, "id": "char_aaaaaaaaaaaa", "name": "Hero",
            "created_at": "2026-11-01T10:00:00Z",
            "source": {"size_bytes": 1, "blake3": "0"},
            "start_s": 0.0, "path_taken": "copy",
            "clip": {"path": "clip.mp4", "width": 1280, "height": 720, "duration_s": 4.0,
                     "fps": 25.0, "size_bytes": 1, "has_audio": false},
            "keyframes": [], "signature": {},
            "provider_ids": {
                "sora": "remote-1",
                "kling": {"id": "863121023120580600", "registered_at": "2026-11-02T10:00:00Z",
                          "expires_at": "2026-11-03T10:00:00Z", "region": {"x": [1, 2.5]}}
            }
        });
        let c: Character = serde_json::from_value(rec).unwrap();
        assert_eq!(c.provider_ids["sora"], ProviderEntry::id_only("remote-1"));
        assert_eq!(c.id_for(Some("kling")), "863121023120580600");
        let kling = &c.provider_ids["kling"];
        assert!(kling.expired());
        let before = humantime::parse_rfc3339("2026-11-03T09:59:59Z").unwrap();
        assert!(!kling.expired_at(before));
        assert!(!c.provider_ids["sora"].expired());
        let out = serde_json::to_value(&c).unwrap();
        assert_eq!(
            out["provider_ids"]["sora"],
            serde_json::json!({"id": "remote-1"})
        );
        assert_eq!(
            out["provider_ids"]["kling"]["region"],
            serde_json::json!({"x": [1, 2.5]})
        );
        assert_eq!(
            out["provider_ids"]["kling"]["expires_at"],
            "2026-11-03T10:00:00Z"
        );
        // What is neither a string nor an entry is refused with a clear message.
        let bad = serde_json::from_value::<ProviderEntry>(serde_json::json!(7)).unwrap_err();
        assert!(bad.to_string().contains("remote ID"), "{bad}");
    }

    #[test]
    fn file_names_from_paths_and_urls() {
        assert_eq!(
            source(Some("/a/b/take 1.mp4"), None).file_name().as_deref(),
            Some("take 1.mp4")
        );
        assert_eq!(
            source(None, Some("https://x.example/c/hero.mp4?sig=1#t"))
                .file_name()
                .as_deref(),
            Some("hero.mp4")
        );
        assert_eq!(source(None, Some("https://x.example/")).file_name(), None);
        assert_eq!(source(None, Some("https://x.example")).file_name(), None);
        assert_eq!(source(None, None).file_name(), None);
        assert_eq!(source(None, Some("https://x")).check(), SourceState::NoPath);
        assert_eq!(
            source(Some("/nonexistent/castbook/x.mp4"), None).check(),
            SourceState::Missing
        );
    }
}
