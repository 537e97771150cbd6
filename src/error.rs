//! The one error type of castbook: what went wrong, a stable snake_case code for `--json`,
//! and the exit code class of SPEC section 4.

use std::fmt;

/// Which class of failure this is; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input rejected: a rule failed, a bad file, a bad or taken name, no such character (exit 3).
    Input,
    /// Processing failed: ffmpeg missing or failed, disk full, I/O (exit 4).
    Processing,
    /// Network or provider failure (exit 5).
    Network,
    /// The job was cancelled (Ctrl-C); exit 130 in the CLI.
    Cancelled,
    /// Anything else (exit 1).
    Other,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Input => 3,
            ErrorKind::Processing => 4,
            ErrorKind::Network => 5,
            ErrorKind::Cancelled => 130,
            ErrorKind::Other => 1,
        }
    }
}

/// An error with one clear message: what was wrong, the value, and the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable snake_case code, e.g. `resolution`, `name_taken`, `not_found`.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            code,
            message: message.into(),
        }
    }
    pub fn input(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, code, message)
    }
    pub fn processing(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Processing, code, message)
    }
    pub fn network(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, code, message)
    }
    pub fn other(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, code, message)
    }
    pub fn cancelled() -> Self {
        Self::new(
            ErrorKind::Cancelled,
            "cancelled",
            "cancelled: nothing was saved",
        )
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// An I/O error on `path` while doing `what`: disk full is called out with its fix.
    pub fn io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        if err.raw_os_error() == Some(libc::ENOSPC) {
            return Self::processing(
                "disk_full",
                format!(
                    "disk full while {what} {}: free some space and try again",
                    path.display()
                ),
            );
        }
        Self::processing("io", format!("{what} {}: {err}", path.display()))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
