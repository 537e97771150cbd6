//! The `http` provider kind: a provider described as data in `config.toml`. A few steps, each
//! an HTTP request from templates: `upload` (the files a provider needs as URLs: a multipart
//! POST, or a PUT to a URL an earlier request returned), `submit` (a JSON body with
//! `{clip_url}`, `{keyframe_urls}`, `{front_url}`, `{name}`, `{description}`, `{id}`),
//! `poll` (GET until a JSON pointer says done or failed, with bounded backoff and an overall
//! deadline) and `result` (JSON pointers to the remote ID and an optional expiry). The key
//! comes from an environment variable into a header template and goes only to the hosts the
//! config names. Retries follow SPEC 6 as the `openai` kind does: 429 (Retry-After), 5xx and
//! failures before a request was sent; a submit whose reply never came is not sent again.
//! Presets (`presets/*.toml`, embedded) fill in the steps of known APIs; a user's table
//! overrides any key of its preset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::KeySource;
use super::openai::{RETRY_AFTER_MAX, ReadFail, backoff, connect_message, read_capped};
use super::template::{self, EACH_KEYFRAME, Val, Vars};
use super::{MAX_REPLY_BYTES, Provider, Registration, Request, redact, snippet};
use crate::error::{Error, ErrorKind, Result};
use crate::http;
use crate::pipeline::job::{Reporter, Stage};
use crate::util::{escape_display as esc, human_size};

/// The presets embedded in the binary: name, TOML text.
pub const PRESETS: [(&str, &str); 3] = [
    (
        "kling-elements",
        include_str!("../../presets/kling-elements.toml"),
    ),
    ("fal-queue", include_str!("../../presets/fal-queue.toml")),
    ("kie-task", include_str!("../../presets/kie-task.toml")),
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_RETRIES: u32 = 4;
const DEFAULT_INTERVAL_S: f64 = 2.0;
const DEFAULT_MAX_INTERVAL_S: f64 = 15.0;
const DEFAULT_DEADLINE_S: f64 = 600.0;
/// The longest value castbook takes from a reply to use in a later request.
const MAX_CAPTURE_CHARS: usize = 4000;

/// `[providers.NAME]` with `kind = "http"` (after its preset is merged in).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub kind: Option<String>,
    /// The documentation the steps follow (shown in errors that point at the API).
    pub docs: Option<String>,
    pub base_url: Option<String>,
    /// The environment variable holding the key.
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`).
    pub api_key: Option<String>,
    /// The header that carries the key (default `Authorization`).
    pub auth_header: Option<String>,
    /// Its value, with `{key}` (default `Bearer {key}`).
    pub auth_value: Option<String>,
    /// Seconds to wait for a connection, for upload progress, and for each reply.
    pub timeout_s: Option<f64>,
    /// Retries of one request after a 429, a 5xx or a failure before it was sent.
    pub max_retries: Option<u32>,
    /// Values for the templates (`{model}`, ...); URL values name hosts the key may go to.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub upload: Option<UploadConfig>,
    pub submit: Option<StepConfig>,
    pub fallback: Option<FallbackConfig>,
    pub poll: Option<StepConfig>,
    pub result: Option<StepConfig>,
}

/// `[upload]`: how one file becomes a URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// The file's URL once uploaded, from the steps' captures (e.g. `"{file_url}"`).
    pub file_url: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepConfig>,
}

/// `[fallback]`: another submit body, used when the clip is too short for the first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    pub when_clip_shorter_than_s: Option<f64>,
    pub body: Option<String>,
}

/// One request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub method: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send the key with this request (default true; only ever to the config's hosts).
    pub auth: Option<bool>,
    /// A JSON body template.
    pub body: Option<String>,
    /// Upload steps: `file` (the bytes as the body) or `multipart`.
    pub send: Option<String>,
    /// The multipart field of the file (default `file`).
    pub file_field: Option<String>,
    /// Other multipart fields (templates).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Values to keep from the reply: name -> JSON pointer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A reply is only a success when this pointer holds one of `ok_values`.
    pub ok_pointer: Option<String>,
    #[serde(default)]
    pub ok_values: Vec<String>,
    /// Where the reply says what went wrong.
    pub message_pointer: Option<String>,
    /// poll: where the task's state is, and the states that end it.
    pub status_pointer: Option<String>,
    #[serde(default)]
    pub done_values: Vec<String>,
    #[serde(default)]
    pub failed_values: Vec<String>,
    /// poll: the first wait, the longest wait, and the overall deadline, in seconds.
    pub interval_s: Option<f64>,
    pub max_interval_s: Option<f64>,
    pub deadline_s: Option<f64>,
    /// result: the remote ID, and when it expires (Unix seconds or RFC 3339).
    pub id_pointer: Option<String>,
    pub expires_pointer: Option<String>,
    /// result: the registration refers to the hosted clip URL (it expires with it).
    pub refers_to_url: Option<bool>,
    /// submit: the most reference images `{keyframe_url}` / `{keyframe_urls}` stand for.
    pub max_keyframes: Option<usize>,
}

/// What a request sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    Nothing,
    Json,
    File,
    Multipart,
}

/// A checked request template.
#[derive(Debug, Clone)]
struct Step {
    /// Where it comes from in the config, e.g. `submit`, `upload.steps[1]`.
    at: String,
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    auth: bool,
    body: Option<Value>,
    send: Send,
    file_field: String,
    fields: Vec<(String, String)>,
    capture: Vec<(String, String)>,
    ok: Option<(String, Vec<String>)>,
    message_pointer: Option<String>,
}

#[derive(Debug, Clone)]
struct Poll {
    step: Step,
    status_pointer: String,
    done: Vec<String>,
    failed: Vec<String>,
    interval: Duration,
    max_interval: Duration,
    deadline: Duration,
}

#[derive(Debug, Clone)]
struct ResultStep {
    /// A request to read the result; without one, the last reply holds it.
    step: Option<Step>,
    id_pointer: String,
    expires_pointer: Option<String>,
    refers_to_url: bool,
}

#[derive(Debug, Clone)]
struct Upload {
    steps: Vec<Step>,
    file_url: String,
}

/// A provider described as data.
#[derive(Clone)]
pub struct HttpProvider {
    name: String,
    preset: Option<String>,
    docs: Option<String>,
    base_url: String,
    key: KeySource,
    auth_header: String,
    auth_value: String,
    /// Hosts (host:port) the key may be sent to: base_url's and the URL vars'.
    key_hosts: Vec<String>,
    timeout: Duration,
    max_retries: u32,
    vars: BTreeMap<String, String>,
    upload: Option<Upload>,
    /// Whether a submit body takes files as URLs (an upload step or hosting gives them).
    needs_urls: bool,
    /// The config, when it has `[hosting]`: files become presigned URLs on that store when
    /// there is no upload step.
    hosting: Option<Arc<crate::config::Config>>,
    submit: Step,
    fallback: Option<(f64, Value)>,
    max_keyframes: Option<usize>,
    poll: Option<Poll>,
    result: ResultStep,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("HttpProvider")
            .field("name", &self.name)
            .field("preset", &self.preset)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A config problem: the key (dotted, inside `[providers.NAME]`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// The preset called `name`, parsed.
pub fn preset(name: &str) -> Option<toml::Table> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.parse::<toml::Table>().expect("embedded presets parse"))
}

/// `over` laid over `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The table a provider's config describes: its preset (if any) with the user's keys laid
/// over it. The error names the key.
pub fn resolve(table: &toml::Table) -> std::result::Result<toml::Table, ConfigError> {
    let mut user = table.clone();
    let Some(name) = user.remove("preset") else {
        return Ok(user);
    };
    let name = name.as_str().map(str::to_string).ok_or_else(|| {
        bad(
            "preset",
            "preset is the name of a preset, e.g. preset = \"kling-elements\"",
        )
    })?;
    let mut base = preset(&name).ok_or_else(|| {
        let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        bad(
            "preset",
            format!(
                "no preset called {:?}: the presets are {}",
                esc(&name),
                known.join(", ")
            ),
        )
    })?;
    merge(&mut base, &user);
    base.insert("preset_name".into(), toml::Value::String(name));
    Ok(base)
}

fn seconds(key: &str, v: Option<f64>, default: f64) -> std::result::Result<Duration, ConfigError> {
    match v {
        None => Ok(Duration::from_secs_f64(default)),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e7 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(bad(
            key,
            format!("{key} = {s} is not a number of seconds > 0"),
        )),
    }
}

fn http_url(key: &str, url: &str) -> std::result::Result<reqwest::Url, ConfigError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        bad(
            key,
            format!(
                "{:?} is not a URL ({e}): use e.g. \"https://api.example\"",
                esc(url)
            ),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(key, format!("{:?} is not http or https", esc(url))));
    }
    Ok(parsed)
}

fn host_of(url: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// What the placeholders of each place may name.
struct Known {
    base: Vec<String>,
}

impl Known {
    fn check(
        &self,
        key: &str,
        names: &[String],
        extra: &[&str],
    ) -> std::result::Result<(), ConfigError> {
        for n in names {
            if !self.base.iter().any(|b| b == n) && !extra.contains(&n.as_str()) {
                let mut all: Vec<&str> = self.base.iter().map(String::as_str).collect();
                all.extend(extra);
                return Err(bad(
                    key,
                    format!(
                        "unknown placeholder {{{n}}}: known here are {}",
                        all.iter()
                            .map(|a| format!("{{{a}}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

const URL_NAMES: [&str; 4] = ["clip_url", "keyframe_urls", EACH_KEYFRAME, "front_url"];
const FILE_NAMES: [&str; 3] = ["file_name", "content_type", "file_size"];

impl StepConfig {
    fn build(
        self,
        at: &str,
        default_method: &str,
        known: &Known,
        extra: &[&str],
    ) -> std::result::Result<Step, ConfigError> {
        let key = |k: &str| format!("{at}.{k}");
        let method_text = self
            .method
            .unwrap_or_else(|| default_method.to_string())
            .to_ascii_uppercase();
        let method = match method_text.as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            other => {
                return Err(bad(
                    key("method"),
                    format!("method {other:?} is not GET, POST, PUT or PATCH"),
                ));
            }
        };
        let url = self
            .url
            .ok_or_else(|| bad(key("url"), format!("{at} has no url")))?;
        known.check(&key("url"), &template::names(&url), extra)?;
        if !url.starts_with('{') {
            http_url(&key("url"), &url)?;
        }
        let body = match &self.body {
            Some(text) => {
                let v: Value = serde_json::from_str(text).map_err(|e| {
                    bad(
                        key("body"),
                        format!(
                            "the body is not JSON ({e}): write the JSON the API takes, with placeholders inside strings, e.g. \"{{name}}\""
                        ),
                    )
                })?;
                known.check(&key("body"), &template::json_names(&v), extra)?;
                Some(v)
            }
            None => None,
        };
        let send = match (self.send.as_deref(), body.is_some()) {
            (None | Some("json"), true) => Send::Json,
            (None, false) => Send::Nothing,
            (Some("file"), false) => Send::File,
            (Some("multipart"), false) => Send::Multipart,
            (Some("json"), false) => return Err(bad(key("send"), "send = \"json\" needs a body")),
            (Some("file" | "multipart"), true) => {
                return Err(bad(
                    key("body"),
                    "a step sends a file or a JSON body, not both",
                ));
            }
            (Some(other), _) => {
                return Err(bad(
                    key("send"),
                    format!("send = {other:?}: use \"file\" or \"multipart\""),
                ));
            }
        };
        for (h, v) in &self.headers {
            reqwest::header::HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| bad(key("headers"), format!("{h:?} is not a header name")))?;
            known.check(&key("headers"), &template::names(v), extra)?;
        }
        for v in self.fields.values() {
            known.check(&key("fields"), &template::names(v), extra)?;
        }
        for (name, p) in &self.capture {
            template::check_pointer(p).map_err(|e| bad(key("capture"), e))?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(bad(
                    key("capture"),
                    format!("{name:?} is not a name: use a-z and _"),
                ));
            }
        }
        for p in [&self.ok_pointer, &self.message_pointer]
            .into_iter()
            .flatten()
        {
            template::check_pointer(p).map_err(|e| bad(at.to_string(), e))?;
        }
        let ok = match self.ok_pointer {
            Some(p) if self.ok_values.is_empty() => {
                return Err(bad(
                    key("ok_values"),
                    format!("ok_pointer = {p:?} needs ok_values, e.g. [\"0\"]"),
                ));
            }
            Some(p) => Some((p, self.ok_values)),
            None => None,
        };
        Ok(Step {
            at: at.to_string(),
            method,
            url,
            headers: self.headers.into_iter().collect(),
            auth: self.auth.unwrap_or(true),
            body,
            send,
            file_field: self.file_field.unwrap_or_else(|| "file".into()),
            fields: self.fields.into_iter().collect(),
            capture: self.capture.into_iter().collect(),
            ok,
            message_pointer: self.message_pointer,
        })
    }
}

impl HttpProvider {
    /// Build from a resolved table (`resolve`); the error names the key.
    pub fn from_table(
        name: &str,
        table: &toml::Table,
    ) -> std::result::Result<HttpProvider, ConfigError> {
        let mut table = table.clone();
        let preset = table
            .remove("preset_name")
            .and_then(|v| v.as_str().map(str::to_string));
        let cfg: HttpConfig =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let msg = e.message().trim().to_string();
                    let key = msg
                        .split('`')
                        .nth(1)
                        .map(|k| find_key(&table, k))
                        .unwrap_or_default();
                    bad(key, msg)
                })?;
        if let Some(k) = cfg.kind.as_deref().filter(|k| *k != "http") {
            return Err(bad(
                "kind",
                format!("kind = {k:?} with the keys of an http provider: use kind = \"http\""),
            ));
        }
        let base_url = cfg
            .base_url
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                bad(
                    "base_url",
                    "base_url is not set: the API's address, e.g. \"https://api.example\"",
                )
            })?;
        let base = http_url("base_url", &base_url)?;
        let mut key_hosts = vec![host_of(&base)];
        for (k, v) in &cfg.vars {
            if !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(bad(format!("vars.{k}"), "a var's name is a-z, 0-9 and _"));
            }
            if v.starts_with("http://") || v.starts_with("https://") {
                key_hosts.push(host_of(&http_url(&format!("vars.{k}"), v)?));
            }
        }
        let mut base_names: Vec<String> = ["base_url", "name", "description", "id"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        base_names.extend(cfg.vars.keys().cloned());
        let mut known = Known { base: base_names };
        let timeout = seconds("timeout_s", cfg.timeout_s, DEFAULT_TIMEOUT.as_secs_f64())?;
        let auth_value = cfg.auth_value.unwrap_or_else(|| "Bearer {key}".into());
        if !template::names(&auth_value).iter().any(|n| n == "key") {
            return Err(bad(
                "auth_value",
                "auth_value has no {key}: e.g. \"Bearer {key}\" or \"Key {key}\"",
            ));
        }
        let auth_header = cfg.auth_header.unwrap_or_else(|| "Authorization".into());
        reqwest::header::HeaderName::from_bytes(auth_header.as_bytes()).map_err(|_| {
            bad(
                "auth_header",
                format!("{auth_header:?} is not a header name"),
            )
        })?;
        let key = match (cfg.api_key, cfg.api_key_env) {
            (Some(k), _) => KeySource::Inline(k),
            (None, Some(env)) if !env.trim().is_empty() => KeySource::Env(env),
            _ => {
                return Err(bad(
                    "api_key_env",
                    "api_key_env is not set: the environment variable that holds the key",
                ));
            }
        };

        // Upload steps: each sees the file's placeholders and the captures of the steps
        // before it.
        let upload = match cfg.upload {
            None => None,
            Some(u) => {
                let mut seen: Vec<String> = Vec::new();
                let mut steps = Vec::new();
                if u.steps.is_empty() {
                    return Err(bad("upload.steps", "[upload] has no steps"));
                }
                for (i, s) in u.steps.into_iter().enumerate() {
                    let at = format!("upload.steps[{i}]");
                    let mut extra: Vec<&str> = FILE_NAMES.to_vec();
                    extra.extend(seen.iter().map(String::as_str));
                    let step = s.build(&at, "POST", &known, &extra)?;
                    seen.extend(step.capture.iter().map(|(n, _)| n.clone()));
                    steps.push(step);
                }
                if !steps
                    .iter()
                    .any(|s| matches!(s.send, Send::File | Send::Multipart))
                {
                    return Err(bad(
                        "upload.steps",
                        "no upload step sends the file: set send = \"file\" or send = \"multipart\" on one",
                    ));
                }
                let file_url = u.file_url.ok_or_else(|| {
                    bad(
                        "upload.file_url",
                        "[upload] needs file_url, e.g. \"{file_url}\" from a step's capture",
                    )
                })?;
                let extra: Vec<&str> = seen.iter().map(String::as_str).collect();
                known.check("upload.file_url", &template::names(&file_url), &extra)?;
                Some(Upload { steps, file_url })
            }
        };

        let submit_cfg = cfg
            .submit
            .ok_or_else(|| bad("submit", "an http provider needs a [submit] step"))?;
        let max_keyframes = submit_cfg.max_keyframes;
        let submit = submit_cfg.build("submit", "POST", &known, &URL_NAMES)?;
        let fallback = match cfg.fallback {
            None => None,
            Some(f) => {
                let when = f.when_clip_shorter_than_s.ok_or_else(|| {
                    bad(
                        "fallback.when_clip_shorter_than_s",
                        "[fallback] needs when_clip_shorter_than_s",
                    )
                })?;
                let text = f
                    .body
                    .ok_or_else(|| bad("fallback.body", "[fallback] needs a body"))?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| bad("fallback.body", format!("the body is not JSON ({e})")))?;
                known.check("fallback.body", &template::json_names(&v), &URL_NAMES)?;
                Some((when, v))
            }
        };
        known
            .base
            .extend(submit.capture.iter().map(|(n, _)| n.clone()));

        let poll = match cfg.poll {
            None => None,
            Some(p) => {
                let status_pointer = p.status_pointer.clone().ok_or_else(|| {
                    bad(
                        "poll.status_pointer",
                        "[poll] needs status_pointer, the JSON pointer to the task's state",
                    )
                })?;
                template::check_pointer(&status_pointer)
                    .map_err(|e| bad("poll.status_pointer", e))?;
                if p.done_values.is_empty() {
                    return Err(bad(
                        "poll.done_values",
                        "[poll] needs done_values, the states that mean done",
                    ));
                }
                let interval = seconds("poll.interval_s", p.interval_s, DEFAULT_INTERVAL_S)?;
                let max_interval = seconds(
                    "poll.max_interval_s",
                    p.max_interval_s,
                    DEFAULT_MAX_INTERVAL_S,
                )?
                .max(interval);
                let deadline = seconds("poll.deadline_s", p.deadline_s, DEFAULT_DEADLINE_S)?;
                let done = p.done_values.clone();
                let failed = p.failed_values.clone();
                let step = p.build("poll", "GET", &known, &[])?;
                known
                    .base
                    .extend(step.capture.iter().map(|(n, _)| n.clone()));
                Some(Poll {
                    step,
                    status_pointer,
                    done,
                    failed,
                    interval,
                    max_interval,
                    deadline,
                })
            }
        };
        let r = cfg.result.unwrap_or_default();
        let id_pointer = r.id_pointer.clone().ok_or_else(|| {
            bad(
                "result.id_pointer",
                "[result] needs id_pointer, the JSON pointer to the remote ID",
            )
        })?;
        template::check_pointer(&id_pointer).map_err(|e| bad("result.id_pointer", e))?;
        if let Some(p) = &r.expires_pointer {
            template::check_pointer(p).map_err(|e| bad("result.expires_pointer", e))?;
        }
        let expires_pointer = r.expires_pointer.clone();
        let refers_to_url = r.refers_to_url.unwrap_or(false);
        let result_step = match r.url {
            Some(_) => Some(r.build("result", "GET", &known, &[])?),
            None => None,
        };
        let max_retries = cfg.max_retries.unwrap_or(DEFAULT_RETRIES).min(10);
        if cfg.vars.get("model").is_some_and(|m| m.trim().is_empty()) {
            return Err(bad(
                "vars.model",
                "vars.model is empty: set it to the model that makes a character, e.g. vars = { model = \"...\" }",
            ));
        }
        Ok(HttpProvider {
            name: name.to_string(),
            preset,
            docs: cfg.docs,
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            key,
            auth_header,
            auth_value,
            key_hosts,
            timeout,
            max_retries,
            vars: cfg.vars,
            needs_urls: {
                let (clip, keyframes) = submit.body.as_ref().map_or((false, false), Self::needs);
                let (fb_clip, fb_keyframes) = fallback
                    .as_ref()
                    .map_or((false, false), |(_, b)| Self::needs(b));
                clip || keyframes || fb_clip || fb_keyframes
            },
            upload,
            hosting: None,
            submit,
            fallback,
            max_keyframes,
            poll,
            result: ResultStep {
                step: result_step,
                id_pointer,
                expires_pointer,
                refers_to_url,
            },
        })
    }

    pub fn preset(&self) -> Option<&str> {
        self.preset.as_deref()
    }

    /// Use the config's `[hosting]` (if it has one) for files a step needs as URLs.
    pub fn with_hosting(mut self, cfg: &crate::config::Config) -> HttpProvider {
        self.hosting = cfg.hosting.is_some().then(|| Arc::new(cfg.clone()));
        self
    }

    /// The store files go to, checked now (its keys are set, ...).
    fn hosting(&self) -> Result<Option<crate::hosting::Hosting>> {
        match &self.hosting {
            Some(cfg) => crate::hosting::Hosting::from_config(cfg),
            None => Ok(None),
        }
    }

    /// The key, read now.
    fn key(&self) -> Result<String> {
        self.key.read(&self.name).map_err(|what| self.error(&what))
    }

    fn key_hint(&self) -> String {
        self.key.hint(&self.name)
    }

    fn error(&self, what: &str) -> Error {
        Error::network(
            "provider",
            format!("registering with {} failed: {what}", esc(&self.name)),
        )
    }

    /// The error when files are needed as URLs and nothing can give them.
    fn no_urls(&self) -> Error {
        Error::input(
            "hosting",
            format!(
                "{} takes the clip or keyframes as URLs: set up [hosting] (kind = \"s3\") in the config, or give [providers.{}] an [upload] step",
                esc(&self.name),
                esc(&self.name)
            ),
        )
    }

    /// The base values of the templates.
    fn base_vars(&self, req: &Request<'_>) -> Vars {
        let mut v = Vars::new();
        for (k, val) in &self.vars {
            v.insert(k.clone(), Val::Text(val.clone()));
        }
        v.insert("base_url".into(), Val::Text(self.base_url.clone()));
        v.insert("name".into(), Val::Text(req.name.to_string()));
        let description = if req.description.trim().is_empty() {
            req.name.to_string()
        } else {
            req.description.trim().to_string()
        };
        v.insert("description".into(), Val::Text(description));
        v.insert("id".into(), Val::Text(req.id.to_string()));
        v
    }

    /// Fill a URL template. A placeholder at the very start stands for a whole URL (the
    /// base, a var or a URL from a reply) and must be one; values anywhere else are
    /// percent-encoded, except the config's own (base_url and vars), so a value from a reply
    /// cannot change the path.
    fn render_url(&self, step: &Step, vars: &Vars) -> Result<reqwest::Url> {
        let trusted = |n: &str| n == "base_url" || self.vars.contains_key(n);
        let text = template::render_text(&step.url, vars, |i, name, value| {
            if i == 0 || trusted(name) {
                value.to_string()
            } else {
                encode_component(value)
            }
        })
        .map_err(|e| self.error(&format!("{}.url: {e}", step.at)))?;
        let url = reqwest::Url::parse(&text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        url.ok_or_else(|| {
            self.error(&format!(
                "{}.url became {:?}, which is not an http(s) URL (a reply gave a bad URL?)",
                step.at,
                snippet(&text, 200)
            ))
        })
    }

    /// Whether the key may be sent to `url`: only to the hosts the config names.
    fn key_goes_to(&self, url: &reqwest::Url) -> bool {
        self.key_hosts.contains(&host_of(url))
    }

    /// Which files the chosen body needs as URLs: (clip, keyframes).
    fn needs(body: &Value) -> (bool, bool) {
        let names = template::json_names(body);
        let has = |n: &str| names.iter().any(|x| x == n);
        (
            has("clip_url"),
            has("keyframe_urls") || has(EACH_KEYFRAME) || has("front_url"),
        )
    }
}

/// Where `key` is in a provider's table, dotted: at the top, in a step's table, or in an
/// upload step.
fn find_key(table: &toml::Table, key: &str) -> String {
    if table.contains_key(key) {
        return key.to_string();
    }
    for (name, v) in table {
        if let toml::Value::Table(t) = v {
            if t.contains_key(key) {
                return format!("{name}.{key}");
            }
            if let Some(toml::Value::Array(steps)) = t.get("steps") {
                for (i, s) in steps.iter().enumerate() {
                    if s.as_table().is_some_and(|s| s.contains_key(key)) {
                        return format!("{name}.steps[{i}].{key}");
                    }
                }
            }
        }
    }
    key.to_string()
}

/// Percent-encode a value for a URL path or query.
fn encode_component(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file to send.
#[derive(Debug, Clone)]
struct FileToSend {
    path: PathBuf,
    file_name: String,
    content_type: &'static str,
    len: u64,
    /// The blake3 the record keeps, if it does.
    blake3: Option<String>,
}

/// How one attempt ended.
enum Attempt {
    Reply {
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        body: String,
    },
    /// Failed before the request was sent whole: safe to send again.
    BeforeSent(String),
    /// Failed after it was sent: the server may have acted on it.
    AfterSent(String),
    /// The reply was larger than castbook reads.
    TooLarge(reqwest::StatusCode),
}

/// Progress of the uploads, shared by the files of one registration.
struct UploadProgress {
    done: u64,
    total: u64,
}

impl HttpProvider {
    /// Send `step` once.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        client: &reqwest::Client,
        key: &str,
        step: &Step,
        url: &reqwest::Url,
        body: Option<&str>,
        vars: &Vars,
        file: Option<&FileToSend>,
        progress: Option<(&mut Reporter, &UploadProgress)>,
        cancel: &CancellationToken,
    ) -> Result<Attempt> {
        let mut rb = client.request(step.method.clone(), url.clone());
        rb = rb.header(reqwest::header::ACCEPT, "application/json");
        if step.auth && self.key_goes_to(url) {
            let mut kv = vars.clone();
            kv.insert("key".into(), Val::Text(key.to_string()));
            let value = template::render_text(&self.auth_value, &kv, |_, _, v| v.to_string())
                .map_err(|e| self.error(&format!("auth_value: {e}")))?;
            rb = rb.header(self.auth_header.as_str(), value);
        }
        for (h, t) in &step.headers {
            let value = template::render_text(t, vars, |_, _, v| v.to_string())
                .map_err(|e| self.error(&format!("{}.headers: {e}", step.at)))?;
            if value.chars().any(char::is_control) {
                return Err(self.error(&format!(
                    "{}.headers.{h}: the value has a control character",
                    step.at
                )));
            }
            rb = rb.header(h.as_str(), value);
        }
        let start = Instant::now();
        let sent = Arc::new(AtomicU64::new(0));
        let last_activity = Arc::new(AtomicU64::new(0));
        let mut len = 0u64;
        match (step.send, file) {
            (Send::Json, _) => {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.unwrap_or_default().to_string());
            }
            (Send::File | Send::Multipart, Some(f)) => {
                let handle = tokio::fs::File::open(&f.path)
                    .await
                    .map_err(|e| Error::io("opening", &f.path, &e))?;
                len = f.len;
                let stream = {
                    let sent = sent.clone();
                    let last_activity = last_activity.clone();
                    let (mut rep, base, total) = match progress {
                        Some((r, p)) => (Some(r.clone()), p.done, p.total),
                        None => (None, 0, f.len),
                    };
                    let what = f.file_name.clone();
                    tokio_util::io::ReaderStream::with_capacity(handle, 64 * 1024).map(
                        move |chunk| {
                            if let Ok(c) = &chunk {
                                let n = sent.fetch_add(c.len() as u64, Ordering::SeqCst)
                                    + c.len() as u64;
                                last_activity
                                    .store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
                                if let Some(r) = rep.as_mut() {
                                    let all = base + n;
                                    r.progress(
                                        Stage::Register,
                                        0.4 * all as f64 / total.max(1) as f64,
                                        format!(
                                            "uploading {what}: {} of {}",
                                            human_size(all),
                                            human_size(total)
                                        ),
                                    );
                                }
                            }
                            chunk
                        },
                    )
                };
                let body = reqwest::Body::wrap_stream(stream);
                if step.send == Send::File {
                    rb = rb
                        .header(reqwest::header::CONTENT_TYPE, f.content_type)
                        .header(reqwest::header::CONTENT_LENGTH, f.len)
                        .body(body);
                } else {
                    let part = reqwest::multipart::Part::stream_with_length(body, f.len)
                        .file_name(f.file_name.clone())
                        .mime_str(f.content_type)
                        .map_err(|e| self.error(&e.to_string()))?;
                    let mut form = reqwest::multipart::Form::new();
                    for (k, t) in &step.fields {
                        let value = template::render_text(t, vars, |_, _, v| v.to_string())
                            .map_err(|e| self.error(&format!("{}.fields: {e}", step.at)))?;
                        form = form.text(k.clone(), value);
                    }
                    form = form.part(step.file_field.clone(), part);
                    rb = rb.multipart(form);
                }
            }
            _ => {}
        }
        let send = rb.send();
        tokio::pin!(send);
        let timeout_ms = self.timeout.as_millis() as u64;
        let is_sent = || len == 0 || sent.load(Ordering::SeqCst) >= len;
        // When the whole request was sent (ms since start).
        let mut sent_at: Option<u64> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let resp = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = cancel.cancelled() => return Err(Error::cancelled()),
                _ = tick.tick() => {
                    let now = start.elapsed().as_millis() as u64;
                    if is_sent() {
                        let since = *sent_at.get_or_insert(now);
                        if now.saturating_sub(since) > timeout_ms {
                            return Ok(Attempt::AfterSent(format!(
                                "no reply within {} s after the request was sent",
                                self.timeout.as_secs_f64()
                            )));
                        }
                    } else if now.saturating_sub(last_activity.load(Ordering::SeqCst)) > timeout_ms {
                        return Ok(Attempt::BeforeSent(format!(
                            "the upload made no progress for {} s (after {} of {})",
                            self.timeout.as_secs_f64(),
                            human_size(sent.load(Ordering::SeqCst)),
                            human_size(len)
                        )));
                    }
                }
            }
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let why = redact(&http::error_chain(&e), key);
                let host = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
                return Ok(if e.is_connect() || !is_sent() {
                    Attempt::BeforeSent(connect_message(&e, &why, &host))
                } else {
                    Attempt::AfterSent(format!(
                        "the connection failed after the request was sent ({})",
                        esc(&why)
                    ))
                });
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s).min(RETRY_AFTER_MAX));
        let body = tokio::select! {
            b = tokio::time::timeout(self.timeout, read_capped(resp, MAX_REPLY_BYTES)) => b,
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        };
        Ok(match body {
            Ok(Ok(body)) => Attempt::Reply {
                status,
                retry_after,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
            Ok(Err(ReadFail::TooLarge)) => Attempt::TooLarge(status),
            Ok(Err(ReadFail::Broken(e))) => Attempt::AfterSent(format!(
                "the reply (HTTP {status}) broke off: {}",
                esc(&redact(&http::error_chain(&e), key))
            )),
            Err(_) => Attempt::AfterSent(format!(
                "the reply (HTTP {status}) stalled for {} s",
                self.timeout.as_secs_f64()
            )),
        })
    }

    /// What the reply says went wrong, as one line.
    fn describe(&self, step: &Step, status: reqwest::StatusCode, body: &str, key: &str) -> String {
        let pointers = step.message_pointer.iter().map(String::as_str).chain([
            "/error/message",
            "/message",
            "/msg",
            "/detail",
            "/error",
        ]);
        let said = pointers
            .filter_map(|p| template::pointer_text(body, p))
            .find(|m| !m.trim().is_empty())
            .unwrap_or_else(|| body.to_string());
        let said = snippet(&redact(&said, key), 300);
        let fix = match status.as_u16() {
            401 | 403 => format!("check {}", self.key_hint()),
            413 => "the file is too large for this provider".to_string(),
            429 => {
                "rate limit or quota: wait, or check the account's credits and limits".to_string()
            }
            404 => format!(
                "check base_url ({}) and {}.url in [providers.{}]{}",
                esc(&self.base_url),
                step.at,
                esc(&self.name),
                self.docs
                    .as_ref()
                    .map(|d| format!(" against {}", esc(d)))
                    .unwrap_or_default()
            ),
            400 | 422 => "the provider rejected the request: see its message".to_string(),
            500..=599 => "the provider failed: try again later".to_string(),
            _ => "see the provider's message".to_string(),
        };
        let at = if step.at == "submit" {
            String::new()
        } else {
            format!(" ({})", step.at)
        };
        if said.is_empty() {
            format!("HTTP {status}{at}: {fix}")
        } else {
            format!("HTTP {status}{at}: {said}: {fix}")
        }
    }

    /// Send `step` with the retry rules; the successful reply's body. `submitted` says what
    /// to tell the user when a submit's reply never came.
    #[allow(clippy::too_many_arguments)]
    async fn send_step(
        &self,
        client: &reqwest::Client,
        key: &str,
        step: &Step,
        vars: &Vars,
        file: Option<&FileToSend>,
        reporter: &mut Reporter,
        uploads: Option<&UploadProgress>,
        fraction: f64,
        cancel: &CancellationToken,
    ) -> Result<String> {
        let url = self.render_url(step, vars)?;
        let body = match &step.body {
            Some(t) => {
                let each = match vars.get("keyframe_urls") {
                    Some(Val::List(l)) => l.clone(),
                    _ => Vec::new(),
                };
                Some(
                    template::render_json(t, vars, &each)
                        .map_err(|e| self.error(&format!("{}.body: {e}", step.at)))?
                        .to_string(),
                )
            }
            None => None,
        };
        let is_submit = step.at == "submit";
        let attempts = self.max_retries + 1;
        let mut last = String::new();
        let mut asked_wait: Option<Duration> = None;
        for n in 0..attempts {
            if n > 0 {
                let wait = asked_wait.take().unwrap_or_else(|| backoff(n - 1));
                reporter.progress_now(
                    Stage::Register,
                    fraction,
                    format!("retrying in {:.1} s ({last})", wait.as_secs_f64()),
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                }
            }
            let progress = uploads.map(|u| (&mut *reporter, u));
            let attempt = self
                .attempt(
                    client,
                    key,
                    step,
                    &url,
                    body.as_deref(),
                    vars,
                    file,
                    progress,
                    cancel,
                )
                .await?;
            match attempt {
                Attempt::TooLarge(status) => {
                    let what = format!(
                        "the reply (HTTP {status}) is larger than {} MB, far more than a provider's answer needs: castbook stopped reading it",
                        MAX_REPLY_BYTES / 1_000_000
                    );
                    return Err(if is_submit {
                        self.may_exist(&what, None)
                    } else {
                        self.error(&what)
                    });
                }
                Attempt::AfterSent(what) if is_submit => return Err(self.may_exist(&what, None)),
                Attempt::AfterSent(what) | Attempt::BeforeSent(what) => last = what,
                Attempt::Reply { status, body, .. } if status.is_success() => {
                    if let Some((p, values)) = &step.ok
                        && !template::pointer_text(&body, p).is_some_and(|v| values.contains(&v))
                    {
                        let what = format!(
                            "the provider answered HTTP {status} but {p} is not {} ({})",
                            values.join(" or "),
                            self.describe(step, status, &body, key)
                        );
                        return Err(self.error(&what));
                    }
                    return Ok(body);
                }
                Attempt::Reply {
                    status,
                    retry_after,
                    body,
                } => {
                    let what = self.describe(step, status, &body, key);
                    let quota = body.contains("insufficient_quota");
                    let retryable = (status.as_u16() == 429 && !quota) || status.is_server_error();
                    if !retryable {
                        return Err(self.error(&what));
                    }
                    last = what;
                    asked_wait = retry_after.filter(|_| status.as_u16() == 429);
                }
            }
        }
        Err(self.error(&format!("{last} (gave up after {attempts} attempts)")))
    }

    /// The error of a submit that may have been acted on: the character may exist remotely.
    fn may_exist(&self, what: &str, task: Option<&str>) -> Error {
        let check = task
            .map(|t| format!(" (task {})", esc(t)))
            .unwrap_or_default();
        self.error(&format!(
            "{what}; the character may exist remotely{check}: check with the provider ({}) before registering again",
            esc(&self.base_url)
        ))
    }

    /// Keep the step's captures from `body` in `vars`.
    fn capture(&self, step: &Step, body: &str, key: &str, vars: &mut Vars) -> Result<()> {
        for (name, pointer) in &step.capture {
            let value = template::pointer_text(body, pointer).ok_or_else(|| {
                self.error(&format!(
                    "the reply to {} has nothing at {pointer} ({name}): it sent {}",
                    step.at,
                    snippet(&redact(body, key), 200)
                ))
            })?;
            if value.is_empty()
                || value.chars().count() > MAX_CAPTURE_CHARS
                || value.chars().any(char::is_control)
                || value == "."
                || value == ".."
            {
                return Err(self.error(&format!(
                    "the reply to {} gave {name} = {}, which castbook will not use (empty, too long, or with control characters)",
                    step.at,
                    snippet(&value, 80)
                )));
            }
            vars.insert(name.clone(), Val::Text(value));
        }
        Ok(())
    }

    /// Upload one file through the upload steps; its URL.
    #[allow(clippy::too_many_arguments)]
    async fn upload_file(
        &self,
        client: &reqwest::Client,
        key: &str,
        up: &Upload,
        base: &Vars,
        file: &FileToSend,
        reporter: &mut Reporter,
        progress: &UploadProgress,
        cancel: &CancellationToken,
    ) -> Result<String> {
        let mut vars = base.clone();
        vars.insert("file_name".into(), Val::Text(file.file_name.clone()));
        vars.insert("content_type".into(), Val::Text(file.content_type.into()));
        vars.insert("file_size".into(), Val::Text(file.len.to_string()));
        for step in &up.steps {
            let sends_file = matches!(step.send, Send::File | Send::Multipart);
            let body = self
                .send_step(
                    client,
                    key,
                    step,
                    &vars,
                    sends_file.then_some(file),
                    reporter,
                    sends_file.then_some(progress),
                    0.4 * progress.done as f64 / progress.total.max(1) as f64,
                    cancel,
                )
                .await?;
            self.capture(step, &body, key, &mut vars)?;
        }
        let url = template::render_text(&up.file_url, &vars, |_, _, v| v.to_string())
            .map_err(|e| self.error(&format!("upload.file_url: {e}")))?;
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(url),
            _ => Err(self.error(&format!(
                "the upload of {} gave {}, which is not an http(s) URL",
                esc(&file.file_name),
                snippet(&url, 120)
            ))),
        }
    }

    /// The reference keyframes: the front one, and the others (at most `max_keyframes`).
    fn keyframe_choice(&self, req: &Request<'_>) -> (Option<usize>, Vec<usize>) {
        let n = req.keyframes.len();
        if n == 0 {
            return (None, Vec::new());
        }
        // The middle of the window: the subject is usually settled and facing the camera.
        let front = n / 2;
        let rest: Vec<usize> = (0..n)
            .filter(|i| *i != front)
            .take(self.max_keyframes.unwrap_or(usize::MAX))
            .collect();
        (Some(front), rest)
    }
}

fn file_to_send(path: &Path, file_name: String, blake3: Option<&str>) -> Result<FileToSend> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io("reading", path, &e))?
        .len();
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("mp4") => "video/mp4",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Ok(FileToSend {
        path: path.to_path_buf(),
        file_name,
        content_type,
        len,
        blake3: blake3.map(str::to_string),
    })
}

/// Unix seconds (or milliseconds, when that large) or RFC 3339 text, as a time.
fn parse_expiry(text: &str) -> Option<SystemTime> {
    if let Ok(n) = text.trim().parse::<f64>() {
        if !n.is_finite() || n <= 0.0 {
            return None;
        }
        let secs = if n > 1e11 { n / 1000.0 } else { n };
        return (secs < 1e11).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    humantime::parse_rfc3339_weak(text.trim()).ok()
}

impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "http"
    }
    fn check(&self) -> Result<()> {
        self.key()?;
        if self.needs_urls && self.upload.is_none() && self.hosting()?.is_none() {
            return Err(self.no_urls());
        }
        Ok(())
    }

    async fn register(
        &self,
        req: &Request<'_>,
        reporter: &mut Reporter,
        cancel: &CancellationToken,
    ) -> Result<Registration> {
        let key = self.key()?;
        let client = http::build(
            http::client_builder(self.timeout.min(Duration::from_secs(30)))
                .redirect(reqwest::redirect::Policy::none()),
        )?;
        let mut vars = self.base_vars(req);

        // Which body: the fallback when the clip is shorter than the first body allows.
        let body = match &self.fallback {
            Some((shorter_than, fb)) if req.clip_duration_s < *shorter_than => {
                reporter.progress_now(
                    Stage::Register,
                    0.0,
                    format!(
                        "the clip ({:.1} s) is shorter than {shorter_than} s: sending keyframes instead",
                        req.clip_duration_s
                    ),
                );
                fb.clone()
            }
            _ => self.submit.body.clone().unwrap_or(Value::Null),
        };
        let (need_clip, need_keyframes) = Self::needs(&body);
        let (front, refs) = self.keyframe_choice(req);
        if need_keyframes && front.is_none() {
            return Err(self.error("the character has no keyframes to send"));
        }

        // The files as URLs.
        let mut files: Vec<(String, FileToSend)> = Vec::new();
        if need_clip {
            files.push((
                "clip_url".into(),
                file_to_send(req.clip, format!("{}.mp4", req.id), req.clip_blake3)?,
            ));
        }
        if need_keyframes {
            let mut order: Vec<usize> = front.into_iter().collect();
            order.extend(&refs);
            for i in order {
                let path = &req.keyframes[i];
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
                files.push((
                    format!("keyframe{i}"),
                    file_to_send(
                        path,
                        format!("{}-{:02}.{ext}", req.id, i + 1),
                        req.keyframe_blake3.as_ref().and_then(|h| h.get(i).copied()),
                    )?,
                ));
            }
        }
        let mut urls: BTreeMap<String, String> = BTreeMap::new();
        // The earliest expiry of the hosted URLs used (they expire; uploads to a provider's
        // own storage are its business).
        let mut hosted_until: Option<SystemTime> = None;
        if !files.is_empty() && self.upload.is_none() {
            let Some(hosting) = self.hosting()? else {
                return Err(self.no_urls());
            };
            let total = files.len();
            for (n, (slot, f)) in files.iter().enumerate() {
                reporter.progress_now(
                    Stage::Register,
                    0.4 * n as f64 / total as f64,
                    format!("hosting {} ({} of {total})", f.file_name, n + 1),
                );
                let blake3 = match &f.blake3 {
                    Some(b) => b.clone(),
                    None => {
                        let path = f.path.clone();
                        tokio::task::spawn_blocking(move || {
                            std::fs::read(&path).map(|b| blake3::hash(&b).to_hex().to_string())
                        })
                        .await
                        .map_err(|e| Error::other("internal", e.to_string()))?
                        .map_err(|e| Error::io("reading", &f.path, &e))?
                    }
                };
                let hosted = tokio::select! {
                    h = hosting.url_for(&f.path, &blake3) => h?,
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                };
                hosted_until =
                    Some(hosted_until.map_or(hosted.expires_at, |u| u.min(hosted.expires_at)));
                urls.insert(slot.clone(), hosted.url);
            }
        }
        if let (false, Some(up)) = (files.is_empty(), &self.upload) {
            let mut progress = UploadProgress {
                done: 0,
                total: files.iter().map(|(_, f)| f.len).sum(),
            };
            for (slot, f) in &files {
                let url = self
                    .upload_file(&client, &key, up, &vars, f, reporter, &progress, cancel)
                    .await?;
                progress.done += f.len;
                urls.insert(slot.clone(), url);
            }
        }
        if let Some(u) = urls.get("clip_url") {
            vars.insert("clip_url".into(), Val::Text(u.clone()));
        }
        if let Some(f) = front {
            vars.insert(
                "front_url".into(),
                Val::Text(
                    urls.get(&format!("keyframe{f}"))
                        .cloned()
                        .unwrap_or_default(),
                ),
            );
            let list: Vec<String> = refs
                .iter()
                .filter_map(|i| urls.get(&format!("keyframe{i}")).cloned())
                .collect();
            vars.insert("keyframe_urls".into(), Val::List(list));
        }

        // Submit.
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        reporter.progress_now(Stage::Register, 0.45, "submitting");
        let mut submit = self.submit.clone();
        submit.body = Some(body);
        let reply = self
            .send_step(
                &client, &key, &submit, &vars, None, reporter, None, 0.45, cancel,
            )
            .await?;
        self.capture(&submit, &reply, &key, &mut vars)
            .map_err(|e| self.may_exist(&e.message, None))?;
        let task = submit.capture.first().and_then(|(n, _)| match vars.get(n) {
            Some(Val::Text(t)) => Some(t.clone()),
            _ => None,
        });
        let task_text = task
            .as_deref()
            .map(|t| format!(" (task {})", snippet(t, 80)))
            .unwrap_or_default();
        reporter.progress_now(Stage::Register, 0.5, format!("submitted{task_text}"));

        // From here on the remote job exists: a cancel or a failure says how to check it.
        let check_url = self
            .poll
            .as_ref()
            .and_then(|p| self.render_url(&p.step, &vars).ok())
            .map(|u| u.to_string());
        let after_submit = |e: Error| -> Error {
            if e.is_cancelled() {
                let how = check_url
                    .as_deref()
                    .map(|u| format!(": check with GET {}", esc(u)))
                    .unwrap_or_else(|| {
                        format!(": check with the provider ({})", esc(&self.base_url))
                    });
                Error::new(
                    ErrorKind::Cancelled,
                    "cancelled",
                    format!(
                        "cancelled: the request was already submitted{task_text}, so the remote job may still finish{how}"
                    ),
                )
            } else {
                e
            }
        };

        // Poll.
        let mut last_reply = reply;
        if let Some(poll) = &self.poll {
            let started = Instant::now();
            let mut wait = poll.interval;
            loop {
                let elapsed = started.elapsed();
                if elapsed >= poll.deadline {
                    let how = check_url
                        .as_deref()
                        .map(|u| format!("check with GET {}", esc(u)))
                        .unwrap_or_default();
                    return Err(self.error(&format!(
                        "the task{task_text} did not finish within {} s; it may still finish remotely: {how}, or raise poll.deadline_s in [providers.{}]",
                        poll.deadline.as_secs_f64(),
                        esc(&self.name)
                    )));
                }
                let sleep = wait.min(poll.deadline - elapsed);
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = cancel.cancelled() => return Err(after_submit(Error::cancelled())),
                }
                let frac = 0.5
                    + 0.45
                        * (started.elapsed().as_secs_f64() / poll.deadline.as_secs_f64()).min(1.0);
                let body = self
                    .send_step(
                        &client, &key, &poll.step, &vars, None, reporter, None, frac, cancel,
                    )
                    .await
                    .map_err(after_submit)?;
                let state = template::pointer_text(&body, &poll.status_pointer);
                let secs = started.elapsed().as_secs();
                let state_text = state
                    .as_deref()
                    .map(|s| snippet(s, 40))
                    .unwrap_or_else(|| "?".into());
                reporter.progress_now(
                    Stage::Register,
                    frac,
                    format!("polling{task_text}: {state_text}, {secs} s"),
                );
                if let Some(s) = &state {
                    if poll.done.contains(s) {
                        self.capture(&poll.step, &body, &key, &mut vars)?;
                        last_reply = body;
                        break;
                    }
                    if poll.failed.contains(s) {
                        let msg = poll
                            .step
                            .message_pointer
                            .as_deref()
                            .and_then(|p| template::pointer_text(&body, p))
                            .filter(|m| !m.trim().is_empty())
                            .map(|m| format!(": {}", snippet(&redact(&m, &key), 300)))
                            .unwrap_or_default();
                        return Err(self.error(&format!(
                            "the provider says the task{task_text} {}{msg}",
                            snippet(s, 40)
                        )));
                    }
                }
                wait = wait.mul_f64(1.5).min(poll.max_interval);
            }
        }

        // Result.
        let body = match &self.result.step {
            Some(step) => {
                reporter.progress_now(Stage::Register, 0.97, "reading the result");
                self.send_step(
                    &client, &key, step, &vars, None, reporter, None, 0.97, cancel,
                )
                .await
                .map_err(after_submit)?
            }
            None => last_reply,
        };
        let remote_id =
            template::pointer_text(&body, &self.result.id_pointer).ok_or_else(|| {
                self.may_exist(
                    &format!(
                        "the result has no ID at {} (it sent: {})",
                        self.result.id_pointer,
                        snippet(&redact(&body, &key), 200)
                    ),
                    task.as_deref(),
                )
            })?;
        let mut expires_at = self
            .result
            .expires_pointer
            .as_deref()
            .and_then(|p| template::pointer_text(&body, p))
            .and_then(|t| parse_expiry(&t));
        let mut depends_on_url = None;
        if self.result.refers_to_url
            && let Some(Val::Text(u)) = vars.get("clip_url")
        {
            depends_on_url = Some(crate::util::url_without_query(u));
            if let Some(until) = hosted_until {
                expires_at = Some(expires_at.map_or(until, |e| e.min(until)));
            }
        }
        Ok(Registration {
            remote_id,
            created_at: None,
            expires_at,
            depends_on_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(extra: &str) -> std::result::Result<HttpProvider, ConfigError> {
        let t: toml::Table =
            format!("preset = \"kling-elements\"\nbase_url = \"http://127.0.0.1:9\"\n{extra}")
                .parse()
                .unwrap();
        HttpProvider::from_table("kling", &resolve(&t)?)
    }

    #[test]
    fn every_preset_parses_and_builds() {
        for (name, _) in PRESETS {
            let mut t: toml::Table = format!("preset = \"{name}\"").parse().unwrap();
            t.insert(
                "vars".into(),
                toml::Value::Table(
                    [("model".to_string(), toml::Value::String("m/x".into()))]
                        .into_iter()
                        .collect(),
                ),
            );
            let resolved = resolve(&t).unwrap();
            let p = HttpProvider::from_table("x", &resolved)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(p.preset(), Some(name));
            let text = PRESETS.iter().find(|(n, _)| *n == name).unwrap().1;
            assert!(
                text.lines().next().unwrap().starts_with('#') && text.contains("docs"),
                "{name} names the documentation it follows"
            );
        }
    }

    #[test]
    fn user_keys_override_the_preset() {
        let p = provider("api_key_env = \"MY_KEY\"\n[poll]\ndeadline_s = 5\n").unwrap();
        assert_eq!(p.poll.as_ref().unwrap().deadline, Duration::from_secs(5));
        // The rest of [poll] is the preset's.
        assert_eq!(p.poll.as_ref().unwrap().done, ["succeed"]);
        assert!(matches!(&p.key, KeySource::Env(v) if v == "MY_KEY"));
    }

    #[test]
    fn broken_tables_name_the_key() {
        for (extra, key, needle) in [
            ("[poll]\nintervl_s = 1\n", "poll.intervl_s", "intervl_s"),
            (
                "[submit]\nurl = \"{base_url}/{task}\"\n",
                "submit.url",
                "{task}",
            ),
            ("[submit]\nbody = \"{nope\"\n", "submit.body", "not JSON"),
            (
                "[poll]\nstatus_pointer = \"data/x\"\n",
                "poll.status_pointer",
                "starts with /",
            ),
            ("[poll]\ndeadline_s = -1\n", "poll.deadline_s", "seconds"),
            ("auth_value = \"Bearer\"\n", "auth_value", "{key}"),
            ("[submit]\nmethod = \"DELETE\"\n", "submit.method", "DELETE"),
        ] {
            let e = provider(extra).unwrap_err();
            assert_eq!(e.key, key, "{extra}: {e:?}");
            assert!(e.message.contains(needle), "{extra}: {e:?}");
        }
        let t: toml::Table = "preset = \"kling\"".parse().unwrap();
        let e = resolve(&t).unwrap_err();
        assert!(
            e.message.contains("kling-elements, fal-queue, kie-task"),
            "{e:?}"
        );
        let t: toml::Table = "preset = \"fal-queue\"".parse().unwrap();
        let e = HttpProvider::from_table("f", &resolve(&t).unwrap()).unwrap_err();
        assert_eq!(e.key, "vars.model");
    }

    #[test]
    fn values_from_replies_cannot_change_the_path_and_the_key_stays_home() {
        let p = provider("[vars]\nother = \"https://storage.example:8443/x\"\n").unwrap();
        let mut vars = Vars::new();
        vars.insert("base_url".into(), Val::Text("http://127.0.0.1:9".into()));
        vars.insert("task_id".into(), Val::Text("../../admin?x=1#y".into()));
        let url = p.render_url(&p.poll.as_ref().unwrap().step, &vars).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/general/advanced-custom-elements/..%2F..%2Fadmin%3Fx%3D1%23y"
        );
        assert!(p.key_goes_to(&url));
        assert!(p.key_goes_to(&reqwest::Url::parse("https://storage.example:8443/up").unwrap()));
        assert!(!p.key_goes_to(&reqwest::Url::parse("http://127.0.0.1:10/").unwrap()));
        assert!(!p.key_goes_to(&reqwest::Url::parse("https://evil.example/").unwrap()));
        assert!(!format!("{p:?}").contains("KLING"));
    }

    #[test]
    fn expiry_from_seconds_milliseconds_or_text() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_expiry("1800000000"), Some(t));
        assert_eq!(parse_expiry("1800000000000"), Some(t));
        assert_eq!(parse_expiry("2027-01-15T08:00:00Z"), Some(t));
        assert_eq!(parse_expiry("-5"), None);
        assert_eq!(parse_expiry("soon"), None);
        assert_eq!(parse_expiry("1e300"), None);
    }
}
