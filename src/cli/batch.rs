//! `castbook import MANIFEST.csv`: one character per row (`clip,name,start,tags,notes`), each
//! created by the job API, one after another. A row that fails is reported and the batch goes
//! on; Ctrl-C stops it, keeping what finished.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::library::Library;
use crate::pipeline::job::{self, CreateOptions, Input, Reporter};
use crate::util::escape_display;

use super::{output, progress};

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
    pub line: usize,
    pub clip: String,
    pub name: String,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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

/// The name a row gives, or its clip's file stem.
fn row_name(row: &Row) -> String {
    if !row.name.is_empty() {
        return row.name.clone();
    }
    Path::new(&row.clip)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Run the manifest's rows one after another; print the table (or JSON); the exit code.
pub async fn run(lib: &Library, cfg: &Config, manifest: &Path, json: bool) -> Result<i32> {
    let rows = read_rows(manifest)?;
    let mut results: Vec<RowResult> = Vec::with_capacity(rows.len());
    let cancel = CancellationToken::new();
    // One watcher for the whole batch: a Ctrl-C between two clips stops it too.
    let watcher = tokio::spawn(stop_on_signal(cancel.clone()));
    let total = rows.len();
    for (n, row) in rows.into_iter().enumerate() {
        let name = row_name(&row);
        let (input, shown) = clip_input(manifest, &row.clip);
        let mut result = RowResult {
            line: row.line,
            clip: row.clip.clone(),
            name: name.clone(),
            status: RowStatus::Created,
            id: None,
            code: None,
            reason: None,
        };
        if cancel.is_cancelled() {
            result.status = RowStatus::Cancelled;
            results.push(result);
            continue;
        }
        let (start_s, auto_start) = match row.start.as_str() {
            "" => (cfg.defaults.start.unwrap_or(0.0), false),
            s if s.eq_ignore_ascii_case("auto") => (0.0, true),
            s => match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => (v, false),
                _ => {
                    result.status = RowStatus::Rejected;
                    result.code = Some("start_invalid");
                    result.reason = Some(format!(
                        "{:?} is not a start time: give seconds >= 0 (e.g. 1.5), `auto`, or leave it empty",
                        escape_display(s)
                    ));
                    results.push(result);
                    continue;
                }
            },
        };
        if !json {
            eprintln!("[{}/{total}] {}", n + 1, escape_display(&shown));
        }
        let opts = CreateOptions {
            name,
            start_s,
            auto_start,
            notes: row.notes.clone(),
            tags: row.tags.clone(),
            strict: cfg.defaults.strict.unwrap_or(false),
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let drawer = tokio::spawn(progress::draw(rx));
        let fut = job::create(lib.clone(), input, opts, Reporter::new(tx), cancel.clone());
        let outcome = fut.await;
        let _ = drawer.await;
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
                result.status = match e.kind {
                    ErrorKind::Cancelled => RowStatus::Cancelled,
                    ErrorKind::Input => RowStatus::Rejected,
                    _ => RowStatus::Failed,
                };
                result.code = Some(e.code);
                result.reason = Some(e.message);
            }
        }
        results.push(result);
    }
    watcher.abort();
    print_results(&results, json);
    let any = |s: RowStatus| results.iter().any(|r| r.status == s);
    Ok(if any(RowStatus::Cancelled) {
        130
    } else if any(RowStatus::Rejected) {
        3
    } else if any(RowStatus::Failed) {
        4
    } else {
        0
    })
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
