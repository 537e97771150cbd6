//! The `command` provider kind: any other provider through a user command. The argv comes
//! from the config with `{clip}`, `{name}` and `{id}` replaced (no shell is involved); the
//! command prints `{"id": "..."}` on stdout. A non-zero exit is an error that shows the
//! command's stderr.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{MAX_REPLY_BYTES, Provider, Registration, Request, snippet};
use crate::error::{Error, Result};
use crate::pipeline::job::{Reporter, Stage};
use crate::util::escape_display as esc;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const STDERR_SHOWN: usize = 2000;
/// The most of the command's stderr kept for the message (the rest is read and dropped).
const STDERR_KEPT: usize = 64 * 1024;

/// `[providers.NAME]` with `kind = "command"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program and its arguments; `{clip}`, `{name}` and `{id}` are replaced.
    pub command: Vec<String>,
    /// Seconds before the command is stopped (default 600).
    pub timeout_s: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct CommandProvider {
    name: String,
    argv: Vec<String>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Printed {
    id: serde_json::Value,
    #[serde(default)]
    created_at: Option<i64>,
}

impl CommandProvider {
    pub fn new(name: &str, cfg: CommandConfig) -> std::result::Result<CommandProvider, String> {
        if cfg.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(
                "command is empty: give the program and its arguments, e.g. command = [\"my-uploader\", \"{clip}\", \"{name}\"]"
                    .to_string(),
            );
        }
        let timeout = match cfg.timeout_s {
            None => DEFAULT_TIMEOUT,
            Some(s) if s.is_finite() && s > 0.0 && s < 1e7 => Duration::from_secs_f64(s),
            Some(s) => return Err(format!("timeout_s = {s} is not a number of seconds > 0")),
        };
        Ok(CommandProvider {
            name: name.to_string(),
            argv: cfg.command,
            timeout,
        })
    }

    /// The argv with the placeholders filled in.
    pub fn argv_for(&self, req: &Request<'_>) -> Vec<String> {
        let clip = req.clip.to_string_lossy();
        self.argv
            .iter()
            .map(|a| {
                a.replace("{clip}", &clip)
                    .replace("{name}", req.name)
                    .replace("{id}", req.id)
            })
            .collect()
    }

    fn error(&self, what: &str) -> Error {
        Error::network(
            "provider",
            format!(
                "registering with {} (the command {}) failed: {what}",
                esc(&self.name),
                esc(&self.argv[0])
            ),
        )
    }
}

/// The `{"id": ...}` the command printed: the whole stdout, or its last non-empty line.
fn parse_id(stdout: &str) -> Option<Printed> {
    let whole = serde_json::from_str::<Printed>(stdout.trim()).ok();
    let printed = whole.or_else(|| {
        stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<Printed>(l.trim()).ok())
    })?;
    let ok = match &printed.id {
        serde_json::Value::String(s) => !s.trim().is_empty(),
        serde_json::Value::Number(_) => true,
        _ => false,
    };
    ok.then_some(printed)
}

/// What the command left: its exit status, its stdout (whole) and the end of its stderr.
struct Finished {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Stdout was longer than the cap.
#[derive(Debug)]
struct TooMuch;

impl std::fmt::Display for TooMuch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too much output")
    }
}

impl std::error::Error for TooMuch {}

/// All of `r`, or a `TooMuch` error as soon as it passes `cap` bytes (reading stops there).
async fn read_limited(mut r: impl AsyncRead + Unpin, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > cap {
            return Err(std::io::Error::other(TooMuch));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Read `r` to its end, keeping only about its last `keep` bytes.
async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * keep {
            out.drain(..out.len() - keep);
        }
    }
}

/// Read the command's stdout (None when it passes `MAX_REPLY_BYTES`: the caller stops the
/// command) and stderr at the same time, then wait for its exit.
async fn collect(
    child: &mut tokio::process::Child,
    stdout: tokio::process::ChildStdout,
    stderr: tokio::process::ChildStderr,
) -> std::io::Result<Option<Finished>> {
    match futures::future::try_join(
        read_limited(stdout, MAX_REPLY_BYTES),
        read_tail(stderr, STDERR_KEPT),
    )
    .await
    {
        Ok((stdout, stderr)) => Ok(Some(Finished {
            status: child.wait().await?,
            stdout,
            stderr,
        })),
        Err(e) if e.get_ref().is_some_and(|i| i.is::<TooMuch>()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The end of the command's stderr on one line (its lines joined with ` | `).
fn tail(text: &str, max: usize) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    let t = joined.as_str();
    let start = t
        .char_indices()
        .rev()
        .nth(max.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let cut = if start > 0 { "…" } else { "" };
    format!("{cut}{}", esc(&t[start..]))
}

impl Provider for CommandProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "command"
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }

    async fn register(
        &self,
        req: &Request<'_>,
        reporter: &mut Reporter,
        cancel: &CancellationToken,
    ) -> Result<Registration> {
        let argv = self.argv_for(req);
        reporter.progress_now(Stage::Register, 0.0, format!("running {}", esc(&argv[0])));
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let fix = if e.kind() == std::io::ErrorKind::NotFound {
                    "check the program name or its path in the config"
                } else {
                    "check that it is an executable program"
                };
                self.error(&format!("it could not be started ({e}): {fix}"))
            })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.error("its output could not be read"));
        };
        let finished = tokio::select! {
            r = tokio::time::timeout(self.timeout, collect(&mut child, stdout, stderr)) => r,
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        };
        let out = match finished {
            Ok(Ok(Some(out))) => out,
            Ok(Ok(None)) => {
                let _ = child.kill().await;
                return Err(self.error(&format!(
                    "it printed more than {} MB on stdout, far more than a provider's answer needs: it was stopped; make it print only {{\"id\": \"...\"}}",
                    MAX_REPLY_BYTES / 1_000_000
                )));
            }
            Ok(Err(e)) => return Err(self.error(&format!("waiting for it: {e}"))),
            Err(_) => {
                return Err(self.error(&format!(
                    "it did not finish within {} s and was stopped: raise timeout_s in [providers.{}], or check the command; the character may exist remotely",
                    self.timeout.as_secs_f64(),
                    esc(&self.name)
                )));
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let said = if stderr.trim().is_empty() {
                "it printed nothing on stderr".to_string()
            } else {
                format!("its stderr: {}", tail(&stderr, STDERR_SHOWN))
            };
            let status = match out.status.code() {
                Some(c) => format!("exit code {c}"),
                None => "a signal".to_string(),
            };
            return Err(self.error(&format!("it ended with {status}; {said}")));
        }
        let printed = parse_id(&stdout).ok_or_else(|| {
            self.error(&format!(
                "it succeeded but printed no {{\"id\": \"...\"}} on stdout (it printed: {:?}): make it print the remote ID as JSON",
                snippet(&stdout, 200)
            ))
        })?;
        let remote_id = match printed.id {
            serde_json::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        reporter.progress(Stage::Register, 1.0, "registered");
        Ok(Registration {
            remote_id,
            created_at: printed.created_at,
            ..Registration::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_in_each_argument() {
        let p = CommandProvider::new(
            "mine",
            CommandConfig {
                command: vec![
                    "up".into(),
                    "{clip}".into(),
                    "--name={name}".into(),
                    "{id}".into(),
                ],
                timeout_s: None,
            },
        )
        .unwrap();
        let clip = std::path::PathBuf::from("/lib/char_x/clip.mp4");
        let argv = p.argv_for(&Request::basic(
            &clip,
            "Wolf; rm -rf /",
            "char_abcdefghijkl",
        ));
        assert_eq!(
            argv,
            [
                "up",
                "/lib/char_x/clip.mp4",
                "--name=Wolf; rm -rf /",
                "char_abcdefghijkl"
            ]
        );
    }

    #[test]
    fn stderr_is_shown_on_one_line() {
        assert_eq!(tail("a\n\n b \n", 100), "a | b");
        assert_eq!(tail("0123456789", 3), "…789");
    }

    #[test]
    fn id_is_read_from_stdout_json() {
        assert_eq!(parse_id("{\"id\": \"r1\"}").unwrap().id, "r1");
        assert_eq!(
            parse_id("uploading...\n{\"id\":\"r2\"}\n").unwrap().id,
            "r2"
        );
        assert!(parse_id("done").is_none());
        assert!(parse_id("{\"id\": \"\"}").is_none());
        assert!(parse_id("{\"name\": \"x\"}").is_none());
    }
}
