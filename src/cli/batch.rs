//! Batches of creates: `castbook import MANIFEST.csv` (one character per row,
//! `clip,name,start,tags,notes`), `castbook import FOLDER` (every video in it) and
//! `castbook create CLIP...`, run through the bounded job pool (`crate::pool`). A clip that
//! fails is reported and the batch goes on; Ctrl-C stops it, keeping what finished.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::library::Library;
use crate::pipeline::job::{self, CreateOptions, Input, Reporter};
use crate::util::escape_display;

use super::output;
use super::progress::BatchBar;
use crate::pool;

/// The largest manifest read.
const MAX_CSV_BYTES: u64 = 16 << 20;
/// The most rows one manifest may hold.
const MAX_ROWS: usize = 10_000;

/// One row of the manifest.
#[derive(Debug, Clone)]
struct Row {
    /// The line it is on (1 is the header).
    line: usize,
    clip: String,
    name: String,
    start: String,
    tags: Vec<String>,
    notes: String,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Created,
    /// The same character was already in the library.
    Existing,
    /// The clip or a value of the row was refused.
    Rejected,
    /// Processing failed (ffmpeg, disk).
    Failed,
    /// Not run: the batch was stopped first.
    Cancelled,
}

impl RowStatus {
    fn label(self) -> &'static str {
        match self {
            RowStatus::Created => "created",
            RowStatus::Existing => "already there",
            RowStatus::Rejected => "rejected",
            RowStatus::Failed => "failed",
            RowStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub clip: String,
    pub name: String,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the clip's job took, from its start in the pool, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

fn bad_csv(path: &Path, m: String) -> Error {
    Error::input(
        "bad_manifest",
        format!(
            "{}: {m}; nothing was created. A manifest is a CSV with a header line and the columns clip,name,start,tags,notes (only clip is required; tags separated by ';')",
            escape_display(&path.display().to_string())
        ),
    )
}

/// Read and check the manifest: its header, and every row's shape.
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("reading", path, &e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_CSV_BYTES {
        return Err(bad_csv(
            path,
            format!("it is {len} bytes, over the {MAX_CSV_BYTES}-byte limit"),
        ));
    }
    let mut text = String::new();
    f.take(MAX_CSV_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| bad_csv(path, format!("it is not UTF-8 text ({e})")))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad_csv(path, format!("its header cannot be read ({e})")))?
        .clone();
    let known = ["clip", "name", "start", "tags", "notes"];
    let mut col = [None; 5];
    for (i, h) in headers.iter().enumerate() {
        let h = h.to_ascii_lowercase();
        match known.iter().position(|k| *k == h) {
            Some(k) if col[k].is_none() => col[k] = Some(i),
            Some(_) => return Err(bad_csv(path, format!("the column {h:?} is there twice"))),
            None => {
                return Err(bad_csv(
                    path,
                    format!("unknown column {:?}", escape_display(&h)),
                ));
            }
        }
    }
    if col[0].is_none() {
        return Err(bad_csv(path, "it has no clip column".into()));
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| bad_csv(path, format!("a row cannot be read ({e})")))?;
        if rows.len() == MAX_ROWS {
            return Err(bad_csv(path, format!("it has over {MAX_ROWS} rows")));
        }
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |k: usize| {
            col[k]
                .and_then(|i| rec.get(i))
                .unwrap_or_default()
                .to_string()
        };
        let clip = get(0);
        if clip.is_empty() {
            return Err(bad_csv(path, format!("line {line} has no clip")));
        }
        let tags = get(3)
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        rows.push(Row {
            line,
            clip,
            name: get(1),
            start: get(2),
            tags,
            notes: get(4),
        });
    }
    if rows.is_empty() {
        return Err(bad_csv(path, "it has no rows".into()));
    }
    Ok(rows)
}

/// A clip path of the manifest: URLs as they are, relative paths from the manifest's folder.
fn clip_input(manifest: &Path, clip: &str) -> (Input, String) {
    match Input::parse(clip) {
        Input::File(p) if p.is_relative() => {
            let base = manifest.parent().unwrap_or(Path::new("."));
            let full: PathBuf = base.join(p);
            let shown = full.display().to_string();
            (Input::File(full), shown)
        }
        other => (other, clip.to_string()),
    }
}

/// A clip's file stem, the name it gets when none is given.
pub fn stem_name(clip: &str) -> String {
    Path::new(clip)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name a row gives, or its clip's file stem.
fn row_name(row: &Row) -> String {
    if !row.name.is_empty() {
        return row.name.clone();
    }
    stem_name(&row.clip)
}

/// One clip of a batch: where it comes from, and its options (or why it is refused before
/// anything runs).
pub struct Item {
    /// The manifest line it comes from, for a CSV batch.
    pub line: Option<usize>,
    /// The clip as given.
    pub clip: String,
    /// The clip as shown in the progress display.
    pub shown: String,
    pub input: Input,
    pub opts: std::result::Result<CreateOptions, Error>,
}

/// The items of a manifest's rows.
fn manifest_items(cfg: &Config, manifest: &Path, rows: Vec<Row>) -> Vec<Item> {
    rows.into_iter()
        .map(|row| {
            let name = row_name(&row);
            let (input, shown) = clip_input(manifest, &row.clip);
            let start = match row.start.as_str() {
                "" => Ok((cfg.defaults.start.unwrap_or(0.0), false)),
                s if s.eq_ignore_ascii_case("auto") => Ok((0.0, true)),
                s => match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok((v, false)),
                    _ => Err(Error::input(
                        "start_invalid",
                        format!(
                            "{:?} is not a start time: give seconds >= 0 (e.g. 1.5), `auto`, or leave it empty",
                            escape_display(s)
                        ),
                    )),
                },
            };
            Item {
                line: Some(row.line),
                clip: row.clip.clone(),
                shown,
                input,
                opts: start.map(|(start_s, auto_start)| CreateOptions {
                    name,
                    start_s,
                    auto_start,
                    notes: row.notes.clone(),
                    tags: row.tags.clone(),
                    strict: cfg.defaults.strict.unwrap_or(false),
                    ..Default::default()
                }),
            }
        })
        .collect()
}

/// The file extensions taken as videos when a folder of clips is imported.
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv",
    "3gp", "ogv",
];

/// Whether `path` is named like a video.
pub fn is_video_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| v.eq_ignore_ascii_case(e)))
}

/// The videos of a folder (not its subfolders), by name; other files are ignored.
pub fn folder_clips(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("reading", dir, &e))?;
    let mut clips = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_video_name(&path) {
            if clips.len() == MAX_ROWS {
                return Err(Error::input(
                    "too_many_clips",
                    format!(
                        "{} holds over {MAX_ROWS} videos: import them in smaller folders; nothing was created",
                        escape_display(&dir.display().to_string())
                    ),
                ));
            }
            clips.push(path);
        }
    }
    clips.sort();
    Ok(clips)
}

/// Items for clips given on the command line or found in a folder, named from their stems.
pub fn clip_items(clips: &[String], template: &CreateOptions) -> Vec<Item> {
    clips
        .iter()
        .map(|clip| {
            let name = stem_name(clip);
            Item {
                line: None,
                clip: clip.clone(),
                shown: clip.clone(),
                input: Input::parse(clip),
                opts: crate::library::name::normalize_name(&name).map(|_| CreateOptions {
                    name,
                    ..template.clone()
                }),
            }
        })
        .collect()
}

/// `import MANIFEST.csv`: check the manifest, then run its rows as one batch.
pub async fn run(lib: &Library, cfg: &Config, manifest: &Path, json: bool) -> Result<i32> {
    let rows = read_rows(manifest)?;
    let items = manifest_items(cfg, manifest, rows);
    Ok(run_items(lib, items, json).await)
}

/// Run a batch through the pool; print the table (or JSON); the exit code: 0 when every clip
/// was created or already there, 130 when stopped, 3 when any was rejected, 4 when any failed.
pub async fn run_items(lib: &Library, items: Vec<Item>, json: bool) -> i32 {
    let cancel = CancellationToken::new();
    // One watcher for the whole batch: a Ctrl-C between two clips stops it too.
    let watcher = tokio::spawn(stop_on_signal(cancel.clone()));
    let bar = BatchBar::new(items.len());
    let results = pool::run(items, pool::size(), |index, item| {
        let lib = lib.clone();
        let cancel = cancel.clone();
        let bar = bar.clone();
        async move { run_one(lib, index, item, &bar, cancel).await }
    })
    .await;
    bar.finish();
    watcher.abort();
    print_results(&results, json);
    let any = |s: RowStatus| results.iter().any(|r| r.status == s);
    if any(RowStatus::Cancelled) {
        130
    } else if any(RowStatus::Rejected) {
        3
    } else if any(RowStatus::Failed) {
        4
    } else {
        0
    }
}

fn status_of(e: &Error) -> RowStatus {
    match e.kind {
        ErrorKind::Cancelled => RowStatus::Cancelled,
        ErrorKind::Input => RowStatus::Rejected,
        _ => RowStatus::Failed,
    }
}

async fn run_one(
    lib: Library,
    index: usize,
    item: Item,
    bar: &BatchBar,
    cancel: CancellationToken,
) -> RowResult {
    let mut result = RowResult {
        line: item.line,
        clip: item.clip,
        name: String::new(),
        status: RowStatus::Created,
        id: None,
        code: None,
        reason: None,
        seconds: None,
    };
    let opts = match item.opts {
        Ok(o) => o,
        Err(e) => {
            bar.skip(index);
            result.status = status_of(&e);
            result.code = Some(e.code);
            result.reason = Some(e.message);
            return result;
        }
    };
    result.name = opts.name.clone();
    if cancel.is_cancelled() {
        bar.skip(index);
        result.status = RowStatus::Cancelled;
        return result;
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let job = job::create(lib, item.input, opts, Reporter::new(tx), cancel.clone());
    let started = std::time::Instant::now();
    let (outcome, ()) = tokio::join!(job, bar.follow(index, item.shown, rx));
    result.seconds = Some((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    match outcome {
        Ok(created) => {
            result.status = if created.existed {
                RowStatus::Existing
            } else {
                RowStatus::Created
            };
            result.name = created.character.name.clone();
            result.id = Some(created.character.id);
        }
        Err(e) => {
            if e.is_cancelled() {
                cancel.cancel();
            }
            result.status = status_of(&e);
            result.code = Some(e.code);
            result.reason = Some(e.message);
        }
    }
    result
}

/// Cancel `cancel` on Ctrl-C or SIGTERM.
async fn stop_on_signal(cancel: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
    cancel.cancel();
}

fn print_results(results: &[RowResult], json: bool) {
    if json {
        output::print_json(results);
        return;
    }
    let width = results
        .iter()
        .map(|r| r.status.label().len())
        .max()
        .unwrap_or(0);
    for r in results {
        println!(
            "{:width$}  {:17}  {}  {}{}",
            r.status.label(),
            r.id.as_deref().unwrap_or("-"),
            escape_display(&r.name),
            escape_display(&r.clip),
            r.reason
                .as_deref()
                .map(|m| format!("  {}", escape_display(m)))
                .unwrap_or_default()
        );
    }
    let count = |s: RowStatus| results.iter().filter(|r| r.status == s).count();
    eprintln!(
        "{} created, {} already there, {} rejected, {} failed, {} cancelled",
        count(RowStatus::Created),
        count(RowStatus::Existing),
        count(RowStatus::Rejected),
        count(RowStatus::Failed),
        count(RowStatus::Cancelled)
    );
}
