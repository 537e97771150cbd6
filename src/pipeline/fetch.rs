//! Downloading a clip from an http(s) URL (SPEC sections 1 and 7): streamed to a file in a
//! job's work folder (never held in memory) with live progress, a size cap, a connect and an
//! idle timeout, an overall deadline, at most 5 redirects, http/https only, and cancellation.
//! Whether what arrived is a video is for ffprobe to say, not the Content-Type header.
//! A download that belongs to no library (`probe URL`) goes to a `Scratch` folder that the
//! next castbook run removes if this one was killed.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FetchConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::http;
use crate::pipeline::job::{Reporter, Stage};
use crate::util::{escape_display as esc, human_size};

pub const DEFAULT_MAX_BYTES: u64 = 500_000_000;
pub const MAX_REDIRECTS: usize = 5;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Limits of one download.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    /// Longest wait for the reply or for the next bytes of the body.
    pub idle_timeout: Duration,
    /// Longest time the whole download may take, from the first connection attempt.
    pub deadline: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_bytes: DEFAULT_MAX_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
        }
    }
}

fn seconds(v: Option<f64>, key: &str, default: Duration) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e6 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(Error::input(
            "config",
            format!("[fetch] {key} = {s} is not a number of seconds: use a number > 0, e.g. 30"),
        )),
    }
}

impl FetchOptions {
    pub fn from_config(cfg: &FetchConfig) -> Result<Self> {
        let max_bytes = match cfg.max_mb {
            None => DEFAULT_MAX_BYTES,
            Some(mb) if mb.is_finite() && mb > 0.0 => (mb * 1_000_000.0) as u64,
            Some(mb) => {
                return Err(Error::input(
                    "config",
                    format!(
                        "[fetch] max_mb = {mb} is not a size: use a number of MB > 0, e.g. 500"
                    ),
                ));
            }
        };
        Ok(FetchOptions {
            max_bytes,
            connect_timeout: seconds(
                cfg.connect_timeout_s,
                "connect_timeout_s",
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            idle_timeout: seconds(cfg.idle_timeout_s, "idle_timeout_s", DEFAULT_IDLE_TIMEOUT)?,
            deadline: seconds(cfg.deadline_s, "deadline_s", DEFAULT_DEADLINE)?,
        })
    }

    /// The limits of the config in use (`[fetch]`), defaults where it says nothing.
    pub fn load() -> Result<Self> {
        Self::from_config(&Config::load()?.fetch)
    }
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL as given, without a password if it had one.
    pub url: String,
    /// Where the bytes are (inside the folder passed to `download`).
    pub path: PathBuf,
    pub size_bytes: u64,
    /// The Content-Type the server declared, if any.
    pub content_type: Option<String>,
}

impl Fetched {
    /// Rewrite an error about the downloaded file so it speaks of the URL, and say when the
    /// server sent a web page rather than a video.
    pub fn explain(&self, mut err: Error) -> Error {
        if err.kind == ErrorKind::Input {
            err.message = self.speak_of_url(&err.message);
            if err.code == "not_a_video"
                && let Some(ct) = &self.content_type
                && ct.to_ascii_lowercase().contains("html")
            {
                err.message.push_str(&format!(
                    " (the server sent a web page, {}: pass the link to the video file itself)",
                    esc(ct)
                ));
            }
        }
        err
    }

    /// Replace the temp file's path and name in a message by the URL.
    pub fn speak_of_url(&self, text: &str) -> String {
        let shown_url = esc(&self.url);
        let full = esc(&self.path.display().to_string());
        let mut out = text
            .replace(&format!("file:{full}"), &shown_url)
            .replace(&full, &shown_url);
        if let Some(name) = self.path.file_name() {
            let name = esc(&name.to_string_lossy());
            if out.starts_with(&name) {
                out = format!("{shown_url}{}", &out[name.len()..]);
            }
        }
        out
    }
}

/// Why a redirect was refused.
#[derive(Debug)]
enum RedirectRefused {
    Loop(String),
    TooMany(usize),
    Scheme(String),
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectRefused::Loop(u) => write!(f, "redirect loop back to {u}"),
            RedirectRefused::TooMany(n) => write!(f, "more than {n} redirects"),
            RedirectRefused::Scheme(u) => write!(f, "redirect to {u}, which is not http or https"),
        }
    }
}

impl std::error::Error for RedirectRefused {}

fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = attempt.url().clone();
        if !matches!(next.scheme(), "http" | "https") {
            return attempt.error(RedirectRefused::Scheme(next.to_string()));
        }
        if attempt.previous().iter().any(|u| u == &next) {
            return attempt.error(RedirectRefused::Loop(next.to_string()));
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany(MAX_REDIRECTS));
        }
        attempt.follow()
    })
}

/// Check that `url` is an absolute http(s) URL with a host.
pub fn parse_url(url: &str) -> Result<Url> {
    let bad = |why: &str| {
        Error::input(
            "url",
            format!(
                "{} is not a usable URL ({why}): pass an http:// or https:// link to a video file",
                esc(&public_url(url))
            ),
        )
    };
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("only http and https are fetched"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(parsed)
}

/// A file name for the download taken from the URL's last path segment (safe characters
/// only), so messages about it read naturally.
fn file_name_for(url: &Url) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(80)
        .collect();
    let clean = clean.trim_start_matches(['.', '-']).to_string();
    if clean.is_empty() {
        "download".to_string()
    } else {
        clean
    }
}

fn fetch_error(url: &str, what: impl fmt::Display) -> Error {
    Error::network(
        "fetch",
        format!("could not download {}: {what}", esc(&public_url(url))),
    )
}

/// One clear message for a failed request (before any body bytes arrived).
fn request_error(url: &str, err: &reqwest::Error, opts: &FetchOptions) -> Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<RedirectRefused>() {
            let fix = match r {
                RedirectRefused::Scheme(_) => "castbook only follows http and https links",
                _ => {
                    "the server keeps redirecting: open the link in a browser and pass the final address of the video"
                }
            };
            return fetch_error(url, format!("{r}: {fix}"));
        }
        cur = e.source();
    }
    let host = err
        .url()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    if http::is_dns_failure(err) {
        return fetch_error(
            url,
            format!(
                "the host name {} could not be resolved (DNS): check the address and your network",
                esc(&host)
            ),
        );
    }
    if http::has_io_kind(err, std::io::ErrorKind::ConnectionRefused) {
        let port = err
            .url()
            .and_then(Url::port_or_known_default)
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        return fetch_error(
            url,
            format!(
                "the connection to {}{port} was refused: check the address, or try again when the server is up",
                esc(&host)
            ),
        );
    }
    if let Some(why) = http::tls_failure(err) {
        return fetch_error(
            url,
            format!(
                "the secure (https) connection to {} failed ({}): check that the server speaks https and has a valid certificate",
                esc(&host),
                esc(&why)
            ),
        );
    }
    if err.is_timeout() && !err.is_connect() {
        return no_answer(url, opts.idle_timeout);
    }
    if err.is_timeout() || (err.is_connect() && http::error_chain(err).contains("timed out")) {
        return fetch_error(
            url,
            format!(
                "no connection within {} s: check the address and your network, or raise [fetch] connect_timeout_s",
                opts.connect_timeout.as_secs_f64()
            ),
        );
    }
    fetch_error(url, esc(&http::error_chain(err)))
}

fn no_answer(url: &str, waited: Duration) -> Error {
    fetch_error(
        url,
        format!(
            "the server did not answer within {} s: try again later, or raise [fetch] idle_timeout_s",
            waited.as_secs_f64()
        ),
    )
}

/// The URL without a password in it, for the record and for messages.
pub fn public_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn status_error(url: &str, status: reqwest::StatusCode) -> Error {
    let fix = match status.as_u16() {
        401 | 403 => {
            "the server refuses access: use a public link, or download the clip yourself and pass the file"
        }
        404 | 410 => "nothing is there: check the link",
        429 => "the server is rate limiting: wait a little and try again",
        500..=599 => "the server failed: try again later",
        _ => "check the link",
    };
    fetch_error(url, format!("the server answered HTTP {status}: {fix}"))
}

fn too_large(url: &str, what: &str, max: u64) -> Error {
    fetch_error(
        url,
        format!(
            "{what}, over the {} cap (stopped there): use a shorter clip, or raise [fetch] max_mb in the config",
            human_size(max)
        ),
    )
}

/// Download `url` into a new file in `dir`, reporting `Stage::Fetch` progress. On error the
/// partial file is removed; the caller owns `dir` (a job's work folder) and removes the rest.
pub async fn download(
    url: &str,
    dir: &Path,
    opts: &FetchOptions,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<Fetched> {
    let parsed = parse_url(url)?;
    let path = dir.join(file_name_for(&parsed));
    let result = download_to(url, parsed, &path, opts, reporter, cancel).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}

async fn download_to(
    url: &str,
    parsed: Url,
    path: &Path,
    opts: &FetchOptions,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<Fetched> {
    let client = http::build(
        http::client_builder(opts.connect_timeout)
            .redirect(redirect_policy())
            .read_timeout(opts.idle_timeout),
    )?;
    reporter.progress_now(Stage::Fetch, 0.0, "connecting");
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let send = client.get(parsed).send();
    let wait = opts.connect_timeout + opts.idle_timeout;
    let mut resp = tokio::select! {
        r = tokio::time::timeout(wait, send) => match r {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return Err(request_error(url, &e, opts)),
            Err(_) => return Err(no_answer(url, wait)),
        },
        _ = tokio::time::sleep_until(deadline) => return Err(past_deadline(url, 0, None, opts)),
        _ = cancel.cancelled() => return Err(Error::cancelled()),
    };
    if resp.status().is_redirection()
        && let Some(err) = unfollowed_redirect(url, &resp)
    {
        return Err(err);
    }
    if !resp.status().is_success() {
        return Err(status_error(url, resp.status()));
    }
    let total = resp.content_length();
    if let Some(len) = total
        && len > opts.max_bytes
    {
        return Err(too_large(
            url,
            &format!("the server says the file is {}", human_size(len)),
            opts.max_bytes,
        ));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::io("creating the download", path, &e))?;
    let started = Instant::now();
    let mut last_report = started;
    let mut got: u64 = 0;
    loop {
        let chunk = tokio::select! {
            c = tokio::time::timeout(opts.idle_timeout, resp.chunk()) => c,
            _ = tokio::time::sleep_until(deadline) => {
                return Err(past_deadline(url, got, total, opts));
            }
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        };
        let chunk = match chunk {
            Err(_) => {
                return Err(idle_error(url, got, opts));
            }
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => break,
            Ok(Err(e)) if e.is_timeout() => return Err(idle_error(url, got, opts)),
            Ok(Err(e)) => {
                if let Some(len) = total
                    && got < len
                {
                    return Err(truncated(url, got, len));
                }
                return Err(fetch_error(
                    url,
                    format!(
                        "the download broke off after {}: {}; try again",
                        human_size(got),
                        esc(&http::error_chain(&e))
                    ),
                ));
            }
        };
        got += chunk.len() as u64;
        if got > opts.max_bytes {
            return Err(too_large(
                url,
                &format!("more than {} arrived", human_size(opts.max_bytes)),
                opts.max_bytes,
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io("writing the download", path, &e))?;
        let now = Instant::now();
        if now.duration_since(last_report) >= PROGRESS_EVERY {
            last_report = now;
            report(reporter, got, total, now.duration_since(started));
        }
    }
    if let Some(len) = total
        && got < len
    {
        return Err(truncated(url, got, len));
    }
    file.flush()
        .await
        .map_err(|e| Error::io("writing the download", path, &e))?;
    drop(file);
    report(reporter, got, Some(got), started.elapsed());
    if got == 0 {
        return Err(Error::input(
            "input_empty",
            format!(
                "{} is empty (the server sent 0 bytes): pass the link to a video clip",
                esc(&public_url(url))
            ),
        ));
    }
    Ok(Fetched {
        url: public_url(url),
        // Canonical, as ffprobe's messages will name it.
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        size_bytes: got,
        content_type,
    })
}

/// A redirect reqwest did not follow because its target is not an http(s) URL it can use
/// (`file:`, `ftp:`, ...): say so, instead of the bare 3xx status.
fn unfollowed_redirect(url: &str, resp: &reqwest::Response) -> Option<Error> {
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    let target = resp.url().join(location).ok();
    let shown = target
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| location.to_string());
    let why = match target {
        Some(t) if !matches!(t.scheme(), "http" | "https") => {
            RedirectRefused::Scheme(shown).to_string()
        }
        _ => format!("redirect to {shown}, which is not a usable address"),
    };
    Some(fetch_error(
        url,
        format!(
            "{}: castbook only follows http and https links; pass the address of the video itself",
            esc(&why)
        ),
    ))
}

/// The whole download took longer than `[fetch] deadline_s`.
fn past_deadline(url: &str, got: u64, total: Option<u64>, opts: &FetchOptions) -> Error {
    let progress = match total {
        Some(t) => format!("{} of {}", human_size(got), human_size(t)),
        None => human_size(got),
    };
    fetch_error(
        url,
        format!(
            "it did not finish within {} s (stopped after {progress}): the server is too slow; try again later, download it another way, or raise [fetch] deadline_s in the config",
            opts.deadline.as_secs_f64()
        ),
    )
}

fn idle_error(url: &str, got: u64, opts: &FetchOptions) -> Error {
    fetch_error(
        url,
        format!(
            "no data for {} s after {}: the server stalled; try again later, or raise [fetch] idle_timeout_s",
            opts.idle_timeout.as_secs_f64(),
            human_size(got)
        ),
    )
}

/// The body ended before the length the server announced: what arrived is a truncated file.
fn truncated(url: &str, got: u64, len: u64) -> Error {
    Error::input(
        "decodable",
        format!(
            "{} is truncated: the server closed the connection after {} of {}; try again, or download it another way",
            esc(&public_url(url)),
            human_size(got),
            human_size(len)
        ),
    )
}

fn report(reporter: &mut Reporter, got: u64, total: Option<u64>, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!(", {}/s", human_size((got as f64 / secs) as u64))
    } else {
        String::new()
    };
    match total {
        Some(t) if t > 0 => reporter.progress_now(
            Stage::Fetch,
            got as f64 / t as f64,
            format!("{} of {}{rate}", human_size(got), human_size(t)),
        ),
        _ => reporter.progress_now(Stage::Fetch, 0.0, format!("{}{rate}", human_size(got))),
    }
}

/// The name every scratch folder (and its lock file) starts with.
const SCRATCH_PREFIX: &str = "castbook-fetch-";

/// A folder for a download that belongs to no library (`probe URL`):
/// `<temp dir>/castbook-fetch-<job>/`, next to its lock file `castbook-fetch-<job>.lock`,
/// which is locked while the folder is in use. Removed when dropped; if the process is
/// killed, the next castbook run removes it (`clean_scratch`).
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Scratch {
    /// A new scratch folder in the system's temp dir (`TMPDIR`).
    pub fn new() -> Result<Scratch> {
        Self::new_in(&std::env::temp_dir())
    }

    pub fn new_in(parent: &Path) -> Result<Scratch> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut last_err = None;
        for _ in 0..10 {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let name = format!(
                "{SCRATCH_PREFIX}{}-{nanos}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let lock_path = parent.join(format!("{name}.lock"));
            let lock = match File::options()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("creating a temp file", &lock_path, &e)),
            };
            lock.lock()
                .map_err(|e| Error::io("locking", &lock_path, &e))?;
            // A cleaner may have taken the lock file away between its creation and the
            // lock: only a lock on the file still at that path counts.
            if !same_file(&lock, &lock_path) {
                last_err = Some(lock_path);
                continue;
            }
            let path = parent.join(&name);
            if let Err(e) = std::fs::create_dir(&path) {
                let _ = std::fs::remove_file(&lock_path);
                return Err(Error::io("creating a temp folder", &path, &e));
            }
            return Ok(Scratch {
                path,
                lock_path,
                _lock: lock,
            });
        }
        let p = last_err.unwrap_or_else(|| parent.to_path_buf());
        Err(Error::other(
            "io",
            format!(
                "could not create a temp folder in {}: try again",
                p.display()
            ),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Remove the scratch folders of castbook runs that ended without removing them (killed):
/// those whose lock file nobody holds, and those without a lock file.
pub fn clean_scratch() {
    clean_scratch_in(&std::env::temp_dir());
}

pub fn clean_scratch_in(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(SCRATCH_PREFIX) {
            continue;
        }
        let path = entry.path();
        if let Some(job) = name.strip_suffix(".lock") {
            let Ok(lock) = File::options().write(true).open(&path) else {
                continue;
            };
            if lock.try_lock().is_ok() && same_file(&lock, &path) {
                let _ = std::fs::remove_dir_all(parent.join(job));
                let _ = std::fs::remove_file(&path);
            }
        } else if !parent.join(format!("{name}.lock")).exists()
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            // A folder is created after its lock file and removed before it: without one,
            // its run has ended (or it was made by an older castbook).
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("https://example.com/a.mp4").is_ok());
        assert_eq!(
            parse_url("ftp://example.com/a.mp4").unwrap_err().code,
            "url"
        );
        assert_eq!(parse_url("http://").unwrap_err().code, "url");
    }

    #[test]
    fn passwords_are_dropped_from_urls() {
        assert_eq!(
            public_url("https://me:secret@h/a.mp4?x=1"),
            "https://me@h/a.mp4?x=1"
        );
        assert_eq!(public_url("https://h/a.mp4"), "https://h/a.mp4");
    }

    #[test]
    fn file_names_come_from_the_path() {
        let u = Url::parse("https://h/x/My%20Clip.mp4?x=1").unwrap();
        assert_eq!(file_name_for(&u), "My20Clip.mp4");
        let u = Url::parse("https://h/").unwrap();
        assert_eq!(file_name_for(&u), "download");
        let u = Url::parse("https://h/..-x.mp4").unwrap();
        assert_eq!(file_name_for(&u), "x.mp4");
    }

    #[test]
    fn fetch_limits_from_config() {
        let o = FetchOptions::from_config(&FetchConfig {
            max_mb: Some(2.0),
            connect_timeout_s: None,
            idle_timeout_s: Some(0.5),
            deadline_s: Some(3.0),
        })
        .unwrap();
        assert_eq!(o.max_bytes, 2_000_000);
        assert_eq!(o.deadline, Duration::from_secs(3));
        assert_eq!(
            FetchOptions::from_config(&FetchConfig::default())
                .unwrap()
                .deadline,
            Duration::from_secs(600)
        );
        assert_eq!(o.idle_timeout, Duration::from_millis(500));
        assert_eq!(o.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        let bad = FetchOptions::from_config(&FetchConfig {
            idle_timeout_s: Some(-1.0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(bad.message.contains("idle_timeout_s"), "{}", bad.message);
    }

    #[test]
    fn errors_about_the_temp_file_speak_of_the_url() {
        let f = Fetched {
            url: "https://h/page".into(),
            path: PathBuf::from("/lib/.work/job-1/page"),
            size_bytes: 10,
            content_type: Some("text/html; charset=utf-8".into()),
        };
        let e = f.explain(Error::input(
            "not_a_video",
            "/lib/.work/job-1/page is not a video ffmpeg can read (x)",
        ));
        assert!(
            e.message.starts_with("https://h/page is not a video"),
            "{}",
            e.message
        );
        assert!(e.message.contains("web page"), "{}", e.message);
        let e = f.explain(Error::input("decodable", "page is truncated: ..."));
        assert!(
            e.message.starts_with("https://h/page is truncated"),
            "{}",
            e.message
        );
    }

    #[test]
    fn scratch_folders_of_dead_runs_are_cleaned_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let live = Scratch::new_in(tmp.path()).unwrap();
        std::fs::write(live.path().join("part"), b"x").unwrap();
        // A run that was killed: its lock file is there but nobody holds it.
        let dead = tmp.path().join("castbook-fetch-1-2-3");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("part"), b"x").unwrap();
        std::fs::write(tmp.path().join("castbook-fetch-1-2-3.lock"), b"").unwrap();
        // An older castbook's folder, without a lock file.
        let old = tmp.path().join("castbook-fetch-abc123");
        std::fs::create_dir(&old).unwrap();
        let other = tmp.path().join("other-file");
        std::fs::write(&other, b"keep").unwrap();
        clean_scratch_in(tmp.path());
        assert!(live.path().join("part").exists());
        assert!(live.lock_path.exists());
        assert!(!dead.exists());
        assert!(!tmp.path().join("castbook-fetch-1-2-3.lock").exists());
        assert!(!old.exists());
        assert!(other.exists());
        drop(live);
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["other-file"]);
    }
}
