//! The `openai` provider kind: OpenAI-compatible `POST {base_url}/videos/characters` with the
//! prepared clip streamed as multipart `video` plus `name`, a bearer key read at call time,
//! `{id, name, created_at}` back. Retries 429 (honouring Retry-After), 5xx and failures
//! before the upload was sent, with bounded exponential backoff; a timeout after the upload
//! was sent is not retried, since the character may then exist remotely. The key never
//! appears in a message, even when the server echoes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::KeySource;
use super::{MAX_REPLY_BYTES, Provider, Registration, Request, redact, snippet};
use crate::error::{Error, Result};
use crate::http;
use crate::pipeline::job::{Reporter, Stage};
use crate::util::{escape_display as esc, human_size};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_RETRIES: u32 = 4;
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
pub(crate) const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// `[providers.NAME]` with `kind = "openai"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Default: `OPENAI_BASE_URL`, else the OpenAI API base.
    pub base_url: Option<String>,
    /// The environment variable holding the key (default `OPENAI_API_KEY`).
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`: a config file is easy to share by mistake).
    pub api_key: Option<String>,
    /// Seconds to wait for a connection, for upload progress, and for the reply after the
    /// upload (default 120).
    pub timeout_s: Option<f64>,
    /// Retries after a 429, a 5xx or a failure before the upload was sent (default 4).
    pub max_retries: Option<u32>,
}

/// An OpenAI-compatible provider.
#[derive(Clone)]
pub struct OpenAi {
    name: String,
    base_url: String,
    key: KeySource,
    timeout: Duration,
    max_retries: u32,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("OpenAi")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// The successful reply.
#[derive(Debug, Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ErrorReply {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// How one attempt ended.
enum Attempt {
    Reply {
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        body: String,
    },
    /// Failed before the whole clip was sent: safe to send again.
    BeforeUpload(String),
    /// Failed after the whole clip was sent: the character may exist remotely.
    AfterUpload(String),
}

impl OpenAi {
    pub fn new(name: &str, cfg: OpenAiConfig) -> std::result::Result<OpenAi, String> {
        let base = cfg
            .base_url
            .or_else(|| std::env::var("OPENAI_BASE_URL").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let parsed = reqwest::Url::parse(base.trim()).map_err(|e| {
            format!(
                "base_url {:?} is not a URL ({e}): use e.g. {DEFAULT_BASE_URL:?}",
                esc(&base)
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "base_url {:?} is not http or https: use e.g. {DEFAULT_BASE_URL:?}",
                esc(&base)
            ));
        }
        let timeout = match cfg.timeout_s {
            None => DEFAULT_TIMEOUT,
            Some(s) if s.is_finite() && s > 0.0 && s < 1e6 => Duration::from_secs_f64(s),
            Some(s) => return Err(format!("timeout_s = {s} is not a number of seconds > 0")),
        };
        let key = match (cfg.api_key, cfg.api_key_env) {
            (Some(k), _) => KeySource::Inline(k),
            (None, Some(env)) => KeySource::Env(env),
            (None, None) => KeySource::Env(DEFAULT_KEY_ENV.to_string()),
        };
        Ok(OpenAi {
            name: name.to_string(),
            base_url: base.trim().trim_end_matches('/').to_string(),
            key,
            timeout,
            max_retries: cfg.max_retries.unwrap_or(DEFAULT_RETRIES).min(10),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
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

    fn endpoint(&self) -> String {
        format!("{}/videos/characters", self.base_url)
    }

    /// Send the clip once.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        key: &str,
        req: &Request<'_>,
        reporter: &Reporter,
        cancel: &CancellationToken,
    ) -> Result<Attempt> {
        let file = tokio::fs::File::open(req.clip)
            .await
            .map_err(|e| Error::io("opening the clip", req.clip, &e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| Error::io("reading", req.clip, &e))?
            .len();
        let start = Instant::now();
        let sent = Arc::new(AtomicU64::new(0));
        // Milliseconds since `start` of the last upload progress, and when all was sent.
        let last_activity = Arc::new(AtomicU64::new(0));
        let uploaded_at = Arc::new(AtomicU64::new(u64::MAX));
        let stream = {
            let sent = sent.clone();
            let last_activity = last_activity.clone();
            let uploaded_at = uploaded_at.clone();
            let mut rep = reporter.clone();
            tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    let n = sent.fetch_add(c.len() as u64, Ordering::SeqCst) + c.len() as u64;
                    let now = start.elapsed().as_millis() as u64;
                    last_activity.store(now, Ordering::SeqCst);
                    if n >= len {
                        uploaded_at.store(now, Ordering::SeqCst);
                    }
                    rep.progress(
                        Stage::Register,
                        if len > 0 { n as f64 / len as f64 } else { 1.0 },
                        format!("uploading {} of {}", human_size(n), human_size(len)),
                    );
                }
                chunk
            })
        };
        let file_name = req
            .clip
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "clip.mp4".into());
        let video = Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(file_name)
            .mime_str("video/mp4")
            .map_err(|e| self.error(&e.to_string()))?;
        let form = Form::new()
            .text("name", req.name.to_string())
            .part("video", video);
        let send = client
            .post(self.endpoint())
            .bearer_auth(key)
            .header(reqwest::header::ACCEPT, "application/json")
            .multipart(form)
            .send();
        tokio::pin!(send);

        let timeout_ms = self.timeout.as_millis() as u64;
        let is_uploaded = || uploaded_at.load(Ordering::SeqCst) != u64::MAX || len == 0;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let resp = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = cancel.cancelled() => return Err(Error::cancelled()),
                _ = tick.tick() => {
                    let now = start.elapsed().as_millis() as u64;
                    let done_at = uploaded_at.load(Ordering::SeqCst);
                    if is_uploaded() {
                        let since = if done_at == u64::MAX { 0 } else { done_at };
                        if now.saturating_sub(since) > timeout_ms {
                            return Ok(Attempt::AfterUpload(format!(
                                "no reply within {} s after the clip was uploaded",
                                self.timeout.as_secs_f64()
                            )));
                        }
                    } else if now.saturating_sub(last_activity.load(Ordering::SeqCst)) > timeout_ms {
                        return Ok(Attempt::BeforeUpload(format!(
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
                return Ok(if is_uploaded() && !e.is_connect() {
                    Attempt::AfterUpload(format!(
                        "the connection failed after the clip was uploaded ({})",
                        esc(&why)
                    ))
                } else {
                    Attempt::BeforeUpload(connect_message(&e, &why, &self.base_url))
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
        match body {
            Ok(Ok(body)) => Ok(Attempt::Reply {
                status,
                retry_after,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
            Ok(Err(ReadFail::TooLarge)) => Ok(Attempt::AfterUpload(format!(
                "the reply (HTTP {status}) is larger than {} MB, far more than a provider's answer needs: castbook stopped reading it",
                MAX_REPLY_BYTES / 1_000_000
            ))),
            Ok(Err(ReadFail::Broken(e))) => Ok(Attempt::AfterUpload(format!(
                "the reply (HTTP {status}) broke off: {}",
                esc(&redact(&http::error_chain(&e), key))
            ))),
            Err(_) => Ok(Attempt::AfterUpload(format!(
                "the reply (HTTP {status}) stalled for {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    /// `{error:{code,message}}` (or the start of whatever came) as one clear line.
    fn describe_error(&self, status: reqwest::StatusCode, body: &str, key: &str) -> String {
        let parsed = serde_json::from_str::<ErrorReply>(body).ok();
        let code = parsed
            .as_ref()
            .and_then(|r| r.error.code.as_ref())
            .map(|c| match c {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .or_else(|| parsed.as_ref().and_then(|r| r.error.kind.clone()));
        let message = parsed
            .as_ref()
            .and_then(|r| r.error.message.clone())
            .unwrap_or_else(|| body.to_string());
        let said = snippet(&redact(&message, key), 300);
        let code_part = code
            .map(|c| format!(", {}", snippet(&redact(&c, key), 60)))
            .unwrap_or_default();
        let fix = match status.as_u16() {
            401 | 403 => format!("check {}", self.key_hint()),
            413 => "the clip is too large for this provider".to_string(),
            429 => "rate limit or quota: wait, or check the account's credits and limits".to_string(),
            400 | 422 => "the provider rejected the clip or the name (e.g. a realistic human face, or a clip it finds too long): try another clip".to_string(),
            404 => format!("check base_url ({}) in [providers.{}]", esc(&self.base_url), esc(&self.name)),
            500..=599 => "the provider failed: try again later".to_string(),
            _ => "see the provider's message".to_string(),
        };
        if said.is_empty() {
            format!("HTTP {status}{code_part}: {fix}")
        } else {
            format!("HTTP {status}{code_part}: {said}: {fix}")
        }
    }

    fn may_exist(&self, name: &str, what: &str) -> Error {
        self.error(&format!(
            "{what}; the character may exist remotely: check with the provider ({}) whether a character named {:?} was created before registering again{}",
            esc(&self.base_url),
            esc(name),
            if what.starts_with("no reply") {
                format!(", or raise timeout_s in [providers.{}]", esc(&self.name))
            } else {
                String::new()
            }
        ))
    }
}

/// Why a reply was not read whole.
pub(crate) enum ReadFail {
    TooLarge,
    Broken(reqwest::Error),
}

/// The body of `resp`, read chunk by chunk and never past `cap` bytes.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> std::result::Result<Vec<u8>, ReadFail> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ReadFail::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadFail::Broken)? {
        if body.len() + chunk.len() > cap {
            return Err(ReadFail::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn connect_message(e: &reqwest::Error, why: &str, base_url: &str) -> String {
    let at = esc(base_url);
    if http::has_io_kind(e, std::io::ErrorKind::ConnectionRefused) {
        format!("the connection to {at} was refused (check base_url, or try again when it is up)")
    } else if http::is_dns_failure(e) {
        format!("the host of {at} could not be resolved (DNS): check base_url and your network")
    } else if let Some(tls) = http::tls_failure(e) {
        format!(
            "the secure (https) connection to {at} failed ({}): check base_url and the server's certificate",
            esc(&tls)
        )
    } else if e.is_timeout() {
        format!("no connection to {at} in time")
    } else {
        format!("{at}: {}", esc(why))
    }
}

pub(crate) fn backoff(retry: u32) -> Duration {
    BACKOFF_START
        .saturating_mul(1u32 << retry.min(16))
        .min(BACKOFF_MAX)
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "openai"
    }
    fn check(&self) -> Result<()> {
        self.key().map(|_| ())
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
        let attempts = self.max_retries + 1;
        // The last retryable failure, and the wait the server asked for (Retry-After).
        let mut last = String::new();
        let mut asked_wait: Option<Duration> = None;
        for n in 0..attempts {
            if n > 0 {
                let wait = asked_wait.take().unwrap_or_else(|| backoff(n - 1));
                reporter.progress_now(
                    Stage::Register,
                    0.0,
                    format!("retrying in {:.1} s ({last})", wait.as_secs_f64()),
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                }
            }
            match self.attempt(&client, &key, req, reporter, cancel).await? {
                Attempt::AfterUpload(what) => return Err(self.may_exist(req.name, &what)),
                Attempt::BeforeUpload(what) => last = what,
                Attempt::Reply { status, body, .. } if status.is_success() => {
                    return match serde_json::from_str::<Created>(&body) {
                        Ok(c) if !c.id.trim().is_empty() => Ok(Registration {
                            remote_id: c.id,
                            created_at: c.created_at,
                            ..Registration::default()
                        }),
                        _ => Err(self.may_exist(
                            req.name,
                            &format!(
                                "the provider answered HTTP {status} but not with the expected JSON {{\"id\", \"name\", \"created_at\"}} (it sent: {})",
                                snippet(&redact(&body, &key), 200)
                            ),
                        )),
                    };
                }
                Attempt::Reply {
                    status,
                    retry_after,
                    body,
                } => {
                    let what = self.describe_error(status, &body, &key);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(10), BACKOFF_MAX);
    }

    #[test]
    fn base_url_defaults_and_trailing_slash() {
        let p = OpenAi::new(
            "x",
            OpenAiConfig {
                base_url: Some("http://127.0.0.1:1/v1/".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.endpoint(), "http://127.0.0.1:1/v1/videos/characters");
        assert!(format!("{p:?}").contains("base_url"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let p = OpenAi::new(
            "x",
            OpenAiConfig {
                api_key: Some("sk-secret-123456789".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("sk-secret"));
    }
}
