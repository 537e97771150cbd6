//! castbook: turn a short reference clip of a character into a reusable character ID, and
//! keep a searchable library of the cast.
//!
//! The pipeline and the library know nothing of the terminal; the CLI and the TUI are two
//! front ends over the same job API (`pipeline::job`), which reports `JobEvent`s on a channel.

pub mod cli;
pub mod config;
pub mod error;
pub mod hosting;
pub mod http;
pub mod library;
pub mod pipeline;
pub mod pool;
pub mod progress;
pub mod provider;
pub mod tui;
pub mod usage;
pub mod util;

pub use error::{Error, ErrorKind, Result};
