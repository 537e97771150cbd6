//! The pipeline: fetch (URL input), probe, validate, prepare (one ffmpeg graph), keyframes, signature, quality
//! hints, and the job that runs them with progress. Knows nothing of the terminal.

pub mod analyze;
pub mod cuts;
pub mod fetch;
pub mod ffmpeg;
pub mod h264;
pub mod hints;
pub mod job;
pub mod mp4;
pub mod prepare;
pub mod probe;
pub mod signature;
pub mod source;
pub mod validate;
pub mod yuv;

pub use job::{CreateOptions, Created, Input, JobEvent, ProbeReport, Progress, Reporter, Stage};
