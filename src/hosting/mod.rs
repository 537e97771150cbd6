//! Hosting: the prepared clip and keyframes on an S3-compatible store (AWS S3, Cloudflare R2,
//! MinIO, Backblaze B2), for the providers and models that take references by URL.
//!
//! Objects are content-addressed (`castbook/<blake3>.<ext>`): a HEAD comes first and the upload
//! is skipped when the same bytes are already there. What a provider gets is a presigned GET
//! URL, valid for `url_ttl`; each URL's expiry is kept in the character record (`hosted`), so
//! a URL still good is handed out again and an expired one is signed anew (and the object
//! uploaded again when it is gone). The keys come from environment variables named in the
//! config and are never printed or written.
//!
//! Requests are signed with SigV4 by `rusty-s3` and sent with castbook's own HTTP client.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::library::record::Character;

/// The longest validity S3 accepts for a presigned URL.
pub const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// `url_ttl` when the config says none.
pub const DEFAULT_URL_TTL: Duration = MAX_URL_TTL;
/// Key prefix of every object castbook puts in the bucket.
pub const KEY_PREFIX: &str = "castbook/";
/// The record key of the hosted URLs.
pub const RECORD_KEY: &str = "hosted";

/// How long a signed request castbook sends itself (HEAD, PUT) stays valid.
const REQUEST_TTL: Duration = Duration::from_secs(15 * 60);
/// Attempts of one request when the store is busy or the connection fails.
const ATTEMPTS: u32 = 3;
/// The longest Retry-After honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most of an error body read (S3 errors are a few hundred bytes of XML).
const MAX_ERROR_BODY: usize = 16 * 1024;

/// `[hosting]` in `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostingConfig {
    /// `s3`: any S3-compatible store.
    pub kind: String,
    /// The store's endpoint; omitted for AWS S3 (then the region's endpoint is used).
    pub endpoint: Option<String>,
    pub bucket: String,
    /// Region for the signature; `auto` for R2. Default `us-east-1`.
    pub region: Option<String>,
    /// The environment variable holding the access key ID (default `AWS_ACCESS_KEY_ID`).
    pub access_key_env: Option<String>,
    /// The environment variable holding the secret key (default `AWS_SECRET_ACCESS_KEY`).
    pub secret_key_env: Option<String>,
    /// How long a presigned URL stays valid, e.g. `7d`, `12h` (at most 7 days).
    pub url_ttl: Option<String>,
    /// `path` (`ENDPOINT/BUCKET/KEY`, the default with an endpoint) or `virtual-host`
    /// (`BUCKET.ENDPOINT/KEY`, the default for AWS S3).
    pub url_style: Option<String>,
}

/// A file on the store: a presigned GET URL and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    pub url: String,
    pub expires_at: SystemTime,
    /// The object key in the bucket.
    pub key: String,
    /// Whether the bytes were sent this time (false: they were already there, or the
    /// recorded URL was still good).
    pub uploaded: bool,
}

impl Hosted {
    /// `expires_at` as RFC 3339 UTC, seconds precision.
    pub fn expires_at_rfc3339(&self) -> String {
        humantime::format_rfc3339_seconds(self.expires_at).to_string()
    }
}

/// An S3-compatible store set up from `[hosting]`.
pub struct Hosting {
    bucket: Bucket,
    credentials: Credentials,
    ttl: Duration,
    client: reqwest::Client,
    /// The env variable names, for messages.
    key_env: String,
    secret_env: String,
}

impl std::fmt::Debug for Hosting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosting")
            .field("bucket", &self.bucket.name())
            .field("base_url", &self.bucket.base_url().as_str())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn config_error(cfg: &Config, why: impl std::fmt::Display) -> Error {
    let file = cfg
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the config".to_string());
    Error::input("config", format!("{file}: [hosting]: {why}"))
}

/// Parse `url_ttl`: a humantime duration between 1 s and 7 days.
pub fn parse_ttl(text: &str) -> std::result::Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("url_ttl = \"{text}\" is not a duration ({e}): write it like \"7d\" or \"12h\"")
    })?;
    if d < Duration::from_secs(1) {
        return Err(format!(
            "url_ttl = \"{text}\" is shorter than the 1 s a presigned URL needs: use \"1h\" or more"
        ));
    }
    if d > MAX_URL_TTL {
        return Err(format!(
            "url_ttl = \"{text}\" is longer than the 7 days S3 allows a presigned URL: use \"7d\" or less"
        ));
    }
    Ok(d)
}

fn env_value(env: &dyn Fn(&str) -> Option<String>, name: &str, what: &str) -> Result<String> {
    match env(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(Error::network(
            "hosting",
            format!(
                "hosting: the environment variable {name} ({what} in [hosting]) is not set: \
                 export it with the store's {}",
                if what == "access_key_env" {
                    "access key ID"
                } else {
                    "secret key"
                }
            ),
        )),
    }
}

impl Hosting {
    /// The store `[hosting]` describes, or `None` when the config has no `[hosting]`. A bad
    /// table is a config error (exit 3); a key missing from the environment is exit 5.
    pub fn from_config(cfg: &Config) -> Result<Option<Hosting>> {
        Self::from_config_env(cfg, &|name| std::env::var(name).ok())
    }

    /// `from_config` with the environment read through `env`.
    pub fn from_config_env(
        cfg: &Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Hosting>> {
        let Some(h) = &cfg.hosting else {
            return Ok(None);
        };
        if h.kind != "s3" {
            return Err(config_error(
                cfg,
                format!(
                    "kind = \"{}\" is not known: use kind = \"s3\" (any S3-compatible store)",
                    crate::util::escape_display(&h.kind)
                ),
            ));
        }
        let region = h
            .region
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint_text = match &h.endpoint {
            Some(e) => e.trim().to_string(),
            None if region == "auto" => {
                return Err(config_error(
                    cfg,
                    "region = \"auto\" needs the store's endpoint: set endpoint = \"https://...\"",
                ));
            }
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let endpoint = reqwest::Url::parse(&endpoint_text).map_err(|e| {
            config_error(
                cfg,
                format!(
                    "endpoint = \"{}\" is not a URL ({e}): write it like \"https://ACCOUNT.r2.cloudflarestorage.com\"",
                    crate::util::escape_display(&endpoint_text)
                ),
            )
        })?;
        let style = match h.url_style.as_deref() {
            None if h.endpoint.is_some() => UrlStyle::Path,
            None => UrlStyle::VirtualHost,
            Some("path") => UrlStyle::Path,
            Some("virtual-host") => UrlStyle::VirtualHost,
            Some(other) => {
                return Err(config_error(
                    cfg,
                    format!(
                        "url_style = \"{}\" is not known: use \"path\" or \"virtual-host\"",
                        crate::util::escape_display(other)
                    ),
                ));
            }
        };
        let bucket = Bucket::new(endpoint, style, h.bucket.clone(), region).map_err(|e| {
            config_error(
                cfg,
                format!(
                    "bucket = \"{}\" at endpoint \"{}\" gives no valid URL ({e}): check both",
                    crate::util::escape_display(&h.bucket),
                    crate::util::escape_display(&endpoint_text)
                ),
            )
        })?;
        let ttl = match &h.url_ttl {
            Some(t) => parse_ttl(t).map_err(|m| config_error(cfg, m))?,
            None => DEFAULT_URL_TTL,
        };
        let key_env = h
            .access_key_env
            .clone()
            .unwrap_or_else(|| "AWS_ACCESS_KEY_ID".into());
        let secret_env = h
            .secret_key_env
            .clone()
            .unwrap_or_else(|| "AWS_SECRET_ACCESS_KEY".into());
        let credentials = Credentials::new(
            env_value(env, &key_env, "access_key_env")?,
            env_value(env, &secret_env, "secret_key_env")?,
        );
        let client = crate::http::build(
            crate::http::client_builder(Duration::from_secs(15))
                .read_timeout(Duration::from_secs(60)),
        )?;
        Ok(Some(Hosting {
            bucket,
            credentials,
            ttl,
            client,
            key_env,
            secret_env,
        }))
    }

    /// How long a presigned URL stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Where this store is (endpoint and bucket), as kept beside each recorded URL: a URL of
    /// another store is not handed out again.
    pub fn store(&self) -> &str {
        self.bucket.base_url().as_str()
    }

    /// The object key of a file: `castbook/<blake3>.<ext>`.
    pub fn key_for(local_path: &Path, blake3: &str) -> Result<String> {
        if blake3.len() != 64 || !blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::input(
                "hosting",
                format!(
                    "hosting: \"{}\" is not a blake3 hash (64 hex digits) for {}: run `castbook doctor`",
                    crate::util::escape_display(blake3),
                    local_path.display()
                ),
            ));
        }
        let ext = local_path
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| {
                !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .map(|e| format!(".{}", e.to_ascii_lowercase()))
            .unwrap_or_default();
        Ok(format!("{KEY_PREFIX}{}{ext}", blake3.to_ascii_lowercase()))
    }

    /// A presigned GET URL of `local_path` on the store, uploading it first unless the same
    /// bytes (content-addressed key, same size) are already there. `blake3` is the file's hash
    /// (hex); the file is checked against it before any upload.
    pub async fn url_for(&self, local_path: &Path, blake3: &str) -> Result<Hosted> {
        let key = Self::key_for(local_path, blake3)?;
        let meta =
            std::fs::metadata(local_path).map_err(|e| Error::io("reading", local_path, &e))?;
        if !meta.is_file() {
            return Err(Error::input(
                "hosting",
                format!("hosting: {} is not a file", local_path.display()),
            ));
        }
        let size = meta.len();
        let uploaded = match self.head(&key).await? {
            Some(len) if len == size => false,
            _ => {
                self.put(&key, local_path, blake3, size).await?;
                true
            }
        };
        let (url, expires_at) = self.presign_get(&key);
        Ok(Hosted {
            url,
            expires_at,
            key,
            uploaded,
        })
    }

    /// A presigned GET URL of `key`, and when it expires (the signing time, whole seconds,
    /// plus the TTL: never later than the store's own reckoning).
    pub fn presign_get(&self, key: &str) -> (String, SystemTime) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + self.ttl;
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(self.ttl);
        (url.to_string(), expires_at)
    }

    /// The size of `key` on the store, or `None` when it is not there.
    async fn head(&self, key: &str) -> Result<Option<u64>> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(REQUEST_TTL);
        let resp = self
            .send("checking", key, || self.client.head(url.clone()))
            .await?;
        let status = resp.status();
        // AWS answers 403 rather than 404 for a missing object when the keys may not list
        // the bucket: upload then, and let the PUT say whether the keys are wrong.
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            return Ok(None);
        }
        if status.is_success() {
            // The header itself: the body of a HEAD answer is empty, whatever it announces.
            let len = resp
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            return Ok(Some(len.unwrap_or(u64::MAX)));
        }
        Err(self.status_error("checking", key, resp).await)
    }

    /// Upload `path` as `key` (a content-addressed key: sending it again is harmless).
    async fn put(&self, key: &str, path: &Path, blake3: &str, size: u64) -> Result<()> {
        let digest = crate::library::id::SourceDigest::of_file(path)?;
        if !digest.blake3.eq_ignore_ascii_case(blake3) || digest.size_bytes != size {
            return Err(Error::processing(
                "hosting",
                format!(
                    "hosting: {} changed since it was saved (its blake3 is {}, the record says {}): \
                     nothing was uploaded; run `castbook doctor`",
                    path.display(),
                    digest.blake3,
                    crate::util::escape_display(blake3)
                ),
            ));
        }
        let content_type = match key.rsplit('.').next() {
            Some("mp4") => "video/mp4",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(REQUEST_TTL);
        let resp = self
            .send_body("uploading", key, &url, path, size, content_type)
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.status_error("uploading", key, resp).await)
    }

    async fn send_body(
        &self,
        what: &str,
        key: &str,
        url: &reqwest::Url,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| Error::io("reading", path, &e))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let req = self
                .client
                .put(url.clone())
                .header(reqwest::header::CONTENT_LENGTH, size)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
            match self.outcome(what, key, req.send().await, attempt).await? {
                Some(resp) => return Ok(resp),
                None => continue,
            }
        }
    }

    /// Send a request built by `make`, retrying on busy answers and failed connections.
    async fn send(
        &self,
        what: &str,
        key: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .outcome(what, key, make().send().await, attempt)
                .await?
            {
                Some(resp) => return Ok(resp),
                None => continue,
            }
        }
    }

    /// The response to use, `None` to try again (after waiting), or the final error.
    async fn outcome(
        &self,
        what: &str,
        key: &str,
        sent: std::result::Result<reqwest::Response, reqwest::Error>,
        attempt: u32,
    ) -> Result<Option<reqwest::Response>> {
        let wait = match &sent {
            Ok(resp) => {
                let s = resp.status();
                if (s == reqwest::StatusCode::TOO_MANY_REQUESTS || s.is_server_error())
                    && attempt < ATTEMPTS
                {
                    let after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                    Some(after.unwrap_or(backoff(attempt)))
                } else {
                    None
                }
            }
            Err(_) if attempt < ATTEMPTS => Some(backoff(attempt)),
            Err(_) => None,
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
            return Ok(None);
        }
        match sent {
            Ok(resp) => Ok(Some(resp)),
            Err(e) => Err(Error::network(
                "hosting",
                self.redact(&format!(
                    "hosting: {what} {key} at {} failed: {}: check endpoint in [hosting] and the network",
                    self.store(),
                    crate::http::error_chain(&e)
                )),
            )),
        }
    }

    async fn status_error(&self, what: &str, key: &str, resp: reqwest::Response) -> Error {
        let status = resp.status();
        let body = read_bounded(resp, MAX_ERROR_BODY).await;
        let code = xml_tag(&body, "Code");
        let message = xml_tag(&body, "Message");
        let detail = match (&code, &message) {
            (Some(c), Some(m)) => format!(" ({c}: {m})"),
            (Some(c), None) => format!(" ({c})"),
            _ => String::new(),
        };
        let bucket = self.bucket.name();
        let fix = match (status.as_u16(), code.as_deref()) {
            (_, Some("NoSuchBucket")) => {
                format!("create the bucket \"{bucket}\" or fix bucket in [hosting]")
            }
            (
                403,
                Some(
                    "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "AccessDenied"
                    | "InvalidSignature",
                ),
            )
            | (401 | 403, _) => format!(
                "check the keys in {} and {}, and that they may read and write the bucket \"{bucket}\"",
                self.key_env, self.secret_env
            ),
            (404, _) => format!(
                "check that the bucket \"{bucket}\" exists at endpoint and region in [hosting]"
            ),
            _ => "try again later, or check the store's status".to_string(),
        };
        Error::network(
            "hosting",
            self.redact(&format!(
                "hosting: {what} {key} at {} failed: HTTP {}{}: {fix}",
                self.store(),
                status.as_u16(),
                crate::util::escape_display(&detail)
            )),
        )
    }

    fn redact(&self, text: &str) -> String {
        crate::provider::redact(text, self.credentials.secret())
    }

    /// The URL of `file` (a path relative to the character's folder `dir`, with its blake3)
    /// from the character's record when it is of this store and still good for a while,
    /// else uploaded (if needed) and signed anew. Returns the URL and whether the record's
    /// `hosted` map changed (the caller saves it).
    pub async fn url_in_record(
        &self,
        record: &mut Character,
        dir: &Path,
        file: &str,
        blake3: &str,
    ) -> Result<(Hosted, bool)> {
        let key = Self::key_for(Path::new(file), blake3)?;
        // Only a URL of this very object is handed out again: a record can come from
        // elsewhere (a pack, a shared folder) with anything written in it.
        let object = self.bucket.object_url(&key);
        if let Some(h) = recorded(record, blake3, self.store())
            && h.key == key
            && h.url.split('?').next() == Some(object.as_str())
            && fresh(h.expires_at, self.ttl, SystemTime::now())
        {
            return Ok((h, false));
        }
        let hosted = self.url_for(&dir.join(file), blake3).await?;
        remember(record, file, blake3, self.store(), &hosted);
        Ok((hosted, true))
    }
}

/// Whether a URL expiring at `expires_at` is still good enough to hand out at `now`: it must
/// stay valid a while yet (a quarter of the TTL, at most an hour), for the model to fetch it.
pub fn fresh(expires_at: SystemTime, ttl: Duration, now: SystemTime) -> bool {
    let margin = (ttl / 4).min(Duration::from_secs(3600));
    expires_at
        .duration_since(now)
        .map(|left| left > margin)
        .unwrap_or(false)
}

/// The URL recorded for the file with this blake3 on `store`, if any.
pub fn recorded(record: &Character, blake3: &str, store: &str) -> Option<Hosted> {
    let entry = record.extra.get(RECORD_KEY)?.get(blake3)?;
    if entry.get("store")?.as_str()? != store {
        return None;
    }
    let url = entry.get("url")?.as_str()?.to_string();
    let key = entry.get("key")?.as_str()?.to_string();
    let expires_at = humantime::parse_rfc3339(entry.get("expires_at")?.as_str()?).ok()?;
    Some(Hosted {
        url,
        expires_at,
        key,
        uploaded: false,
    })
}

/// Keep `hosted` in the record's `hosted` map, under the file's blake3.
pub fn remember(record: &mut Character, file: &str, blake3: &str, store: &str, hosted: &Hosted) {
    let map = record
        .extra
        .entry(RECORD_KEY)
        .or_insert_with(|| Value::Object(Map::new()));
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    if let Some(m) = map.as_object_mut() {
        m.insert(
            blake3.to_string(),
            serde_json::json!({
                "file": file,
                "store": store,
                "key": hosted.key,
                "url": hosted.url,
                "expires_at": hosted.expires_at_rfc3339(),
            }),
        );
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(1).min(4)))
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= max {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The text of the first `<tag>...</tag>` in an S3 XML error body, cut to 200 characters.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&close)?;
    let text: String = body[start..end].trim().chars().take(200).collect();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds() {
        assert_eq!(parse_ttl("7d").unwrap(), MAX_URL_TTL);
        assert_eq!(parse_ttl("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert!(parse_ttl("8d").unwrap_err().contains("7 days"));
        assert!(parse_ttl("0s").unwrap_err().contains("1 s"));
        assert!(parse_ttl("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn keys_are_content_addressed_and_refuse_non_hashes() {
        let h = "ab".repeat(32);
        assert_eq!(
            Hosting::key_for(Path::new("clip.mp4"), &h).unwrap(),
            format!("castbook/{h}.mp4")
        );
        assert_eq!(
            Hosting::key_for(Path::new("keyframes/01.JPG"), &h).unwrap(),
            format!("castbook/{h}.jpg")
        );
        for bad in ["../../etc/passwd", "", &"g".repeat(64), &"a".repeat(63)] {
            assert!(
                Hosting::key_for(Path::new("clip.mp4"), bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn freshness_keeps_a_margin() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ttl = Duration::from_secs(7 * 24 * 3600);
        assert!(fresh(now + Duration::from_secs(7200), ttl, now));
        assert!(!fresh(now + Duration::from_secs(1800), ttl, now));
        assert!(!fresh(now - Duration::from_secs(1), ttl, now));
    }

    #[test]
    fn xml_errors_are_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(xml_tag(body, "Message").as_deref(), Some("gone"));
        assert_eq!(xml_tag("<Error/>", "Code"), None);
    }
}
