//! The job API both front ends use: a job takes an input (a file or an http(s) URL) and
//! options, runs the stages (fetch -> probe -> validate -> prepare -> keyframes -> signature
//! -> save), and sends `JobEvent`s on a channel. Cancelling (or dropping the future) kills ffmpeg and leaves
//! nothing behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::library::id::{SourceDigest, start_ms};
use crate::library::name::{check_notes, check_tags, normalize_name};
use crate::library::record::{Character, ClipRecord, RawJson, SCHEMA, Source, Warning};
use crate::library::store::{Committed, Library, NameSnapshot, WorkDir};
use crate::pipeline::analyze::{self, Analysis};
use crate::pipeline::fetch::{self, FetchOptions};
use crate::pipeline::probe::{self, ClipInfo};
use crate::pipeline::validate::{self, Check, Decode};
use crate::pipeline::{ffmpeg, mp4, prepare, signature};

pub use crate::progress::{JobEvent, Progress, Reporter, Stage};

/// What a job starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Url(String),
}

impl Input {
    /// `http://` and `https://` arguments are URLs; anything else is a path.
    pub fn parse(arg: &str) -> Input {
        let lower = arg.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Input::Url(arg.to_string())
        } else {
            Input::File(PathBuf::from(arg))
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    pub start_s: f64,
    pub notes: String,
    pub tags: Vec<String>,
    pub strict: bool,
    /// Choose the window start from the content (`--start auto`) instead of `start_s`.
    pub auto_start: bool,
    /// The clip's analysis when one is at hand (the app probed it): the hints and
    /// `--start auto` read it instead of measuring again.
    pub analysis: Option<std::sync::Arc<Analysis>>,
}

/// A finished create job.
#[derive(Debug, Clone)]
pub struct Created {
    pub character: Character,
    /// The same character (content, start, first name) was already in the library.
    pub existed: bool,
}

/// `probe`'s answer: every rule's verdict and the metadata.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub valid: bool,
    pub checks: Vec<Check>,
    pub metadata: ClipInfo,
    pub warnings: Vec<Warning>,
    /// The quality hints of the chosen window (empty when the clip is rejected).
    pub hints: Vec<Warning>,
    /// The analysis the hints come from: the clip's first minute, or the window alone when
    /// it starts later. A create of the same file can reuse it (`CreateOptions::analysis`).
    #[serde(skip)]
    pub analysis: Option<std::sync::Arc<Analysis>>,
}

fn absolute(path: &Path) -> PathBuf {
    let p = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    std::fs::canonicalize(&p).unwrap_or(p)
}

fn check_start(start_s: f64) -> Result<()> {
    if !start_s.is_finite() || start_s < 0.0 {
        return Err(Error::input(
            "start",
            format!(
                "the start {start_s} is not a time in seconds: use a number >= 0, e.g. --start 1.5"
            ),
        ));
    }
    Ok(())
}

/// Probe a local file and check every rule, decoding the window (no side effects).
pub fn probe_file(
    path: &Path,
    start_s: f64,
    strict: bool,
    cancel: &CancellationToken,
) -> Result<ProbeReport> {
    probe_file_with(path, start_s, strict, None, cancel)
}

/// `probe_file`, reusing `known`, an earlier analysis of the same file from its start (the
/// app moving the window of one clip), instead of decoding the first minute again.
pub fn probe_file_with(
    path: &Path,
    start_s: f64,
    strict: bool,
    known: Option<std::sync::Arc<Analysis>>,
    cancel: &CancellationToken,
) -> Result<ProbeReport> {
    check_start(start_s)?;
    let path = absolute(path);
    let info = probe::probe(&path, start_s, cancel)?;
    let decode = if info.video.is_some() && !info.truncated && info.window.len_s > 0.0 {
        match prepare::decode_check(&info, cancel)? {
            Ok(()) => Decode::Ok,
            Err(why) => Decode::Failed(why),
        }
    } else {
        Decode::Pending
    };
    let verdict = validate::validate(&info, &validate::Options { strict }, &decode);
    let known = known.filter(|a| a.whole && a.covers(start_s));
    let analysis = if let (true, Some(a)) = (verdict.valid, known) {
        Some(a)
    } else if verdict.valid {
        let a = if analyze::SCAN_LIMIT_S - start_s >= probe::WINDOW_S.min(info.window.len_s) {
            analyze::analyze(&info, cancel)?
        } else {
            analyze::analyze_window(&info, cancel)?
        };
        Some(std::sync::Arc::new(a))
    } else {
        None
    };
    Ok(ProbeReport {
        valid: verdict.valid,
        checks: verdict.checks,
        warnings: verdict.warnings,
        hints: analysis
            .as_ref()
            .map(|a| a.hints_for_window(info.window.start_s))
            .unwrap_or_default(),
        metadata: info,
        analysis,
    })
}

/// Where a source came from, for the record.
#[derive(Debug, Clone)]
pub enum Origin {
    Path(PathBuf),
    Url(String),
}

/// Run a create job on a local file to the end, on the current thread: probe and prepare
/// (`probe_and_prepare`), sign, assemble the record and commit it.
pub fn create_file(
    lib: &Library,
    path: &Path,
    origin: Origin,
    opts: &CreateOptions,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<Created> {
    let name = normalize_name(&opts.name)?;
    check_notes(&opts.notes)?;
    check_tags(&opts.tags)?;
    check_start(opts.start_s)?;
    let path = absolute(path);
    reporter.progress(Stage::Probe, 0.0, "probing");
    probe::check_file(&path)?;
    let (start_s, start_note) = if opts.auto_start {
        let (s, w) = auto_start(&path, opts.analysis.as_deref(), reporter, cancel)?;
        (s, Some(w))
    } else {
        (opts.start_s, None)
    };
    let mut job = match probe_and_prepare(lib, &path, &name, start_s, opts, reporter, cancel)? {
        Step::Existing(existing) => {
            reporter.progress(Stage::Save, 1.0, "already in the library");
            return Ok(Created {
                character: *existing,
                existed: true,
            });
        }
        Step::Prepared(job) => *job,
    };
    if let Some(w) = start_note {
        job.warnings.insert(0, w);
    }
    reporter.progress(Stage::Prepare, 1.0, job.prepared.path_taken.as_str());
    reporter.progress(
        Stage::Keyframes,
        1.0,
        format!("{} keyframes", job.prepared.keyframes.len()),
    );
    let sig = sign(
        &mut job,
        &path,
        start_s,
        opts.analysis.as_deref(),
        reporter,
        cancel,
    )?;
    reporter.progress(Stage::Save, 0.0, "saving");
    let record = assemble_record(&job, name, origin, start_s, &sig, opts)?;
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let committed = lib.commit_checked(job.work, &record, Some(&job.names))?;
    reporter.progress(Stage::Save, 1.0, "saved");
    Ok(Created {
        existed: matches!(committed, Committed::Existing(_)),
        character: committed.into_character(),
    })
}

/// Where the first part of a create job ended.
enum Step {
    Existing(Box<Character>),
    Prepared(Box<PreparedJob>),
}

/// A create job with its clip prepared in its work folder.
struct PreparedJob {
    work: WorkDir,
    names: NameSnapshot,
    id: String,
    digest: SourceDigest,
    warnings: Vec<Warning>,
    prepared: prepare::Prepared,
}

/// Probe, check the rules and prepare the clip, with the source hashed and the library's
/// names read meanwhile. An H.264 MP4 whose tables say it is valid starts preparing at once,
/// while ffprobe confirms the details; that work is kept only if the confirmed details call
/// for exactly the same ffmpeg runs, and thrown away otherwise.
fn probe_and_prepare(
    lib: &Library,
    path: &Path,
    name: &str,
    start_s: f64,
    opts: &CreateOptions,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<Step> {
    let top = mp4::top_level(path).ok().flatten();
    let strict = validate::Options {
        strict: opts.strict,
    };
    let provisional = top
        .as_ref()
        .and_then(|t| probe::from_movie(path, t, start_s))
        .filter(|p| validate::validate(p, &strict, &Decode::Pending).valid);
    let work = lib.new_work_dir()?;
    let dir = work.path().to_path_buf();
    let released = AtomicBool::new(false);
    let early = cancel.child_token();

    std::thread::scope(|s| -> Result<Step> {
        let _stop_early = early.clone().drop_guard();
        let speculative = provisional.as_ref().map(|p| {
            let mut rep = reporter.clone();
            let (released, early, dir) = (&released, &early, dir.as_path());
            s.spawn(move || {
                prepare::prepare(p, dir, early, &mut |f| {
                    if released.load(Ordering::SeqCst) {
                        rep.progress(Stage::Prepare, f, "preparing")
                    }
                })
            })
        });
        let hashing = s.spawn(|| SourceDigest::read(path, cancel));
        // Read the other characters' names and signatures (for the name check and the
        // look-alike warning) meanwhile.
        let names = s.spawn(|| lib.names());
        // Confirming the details beside the speculative run is not on its critical path.
        let info = if speculative.is_some() {
            s.spawn(|| {
                ffmpeg::yield_cpu_to_ffmpeg();
                probe::probe_with(path, start_s, cancel, top.as_ref())
            })
            .join()
            .expect("probe thread")
        } else {
            probe::probe_with(path, start_s, cancel, top.as_ref())
        };
        let digest = hashing.join().expect("hash thread")?;
        let id = digest.character_id(start_ms(start_s), name);
        if let Some(existing) = lib.get(&id)? {
            return Ok(Step::Existing(Box::new(existing)));
        }
        let names = names.join().expect("library thread")?;
        names.check_free(name)?;
        let info = info?;
        reporter.progress(Stage::Probe, 1.0, "probed");

        reporter.progress(Stage::Validate, 0.0, "checking the rules");
        let verdict = validate::validate(&info, &strict, &Decode::Pending);
        if let Some(err) = verdict.error() {
            return Err(err);
        }
        for w in &verdict.warnings {
            reporter.warning(w);
        }
        reporter.progress(Stage::Validate, 1.0, "valid");
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        reporter.progress(Stage::Prepare, 0.0, "preparing");
        released.store(true, Ordering::SeqCst);
        let same_runs = provisional
            .as_ref()
            .is_some_and(|p| prepare::fingerprint(p, &dir) == prepare::fingerprint(&info, &dir));
        let prepared = match speculative {
            Some(run) if same_runs => run.join().expect("prepare thread")?,
            other => {
                early.cancel();
                if let Some(run) = other {
                    let _ = run.join();
                }
                let mut rep = reporter.clone();
                prepare::prepare(&info, &dir, cancel, &mut |f| {
                    rep.progress(Stage::Prepare, f, "preparing")
                })?
            }
        };
        Ok(Step::Prepared(Box::new(PreparedJob {
            work,
            names,
            id,
            digest,
            warnings: verdict.warnings,
            prepared,
        })))
    })
}

/// The signature of the prepared frames, with the quality hints and the look-alike warning
/// it gives (reported and added to the job's warnings). The hints come from `analysis` when
/// it covers the window, else from the prepared frames; a scene cut found in the window alone
/// has the clip analysed to suggest a window without one.
fn sign(
    job: &mut PreparedJob,
    path: &Path,
    start_s: f64,
    analysis: Option<&Analysis>,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<signature::Signature> {
    reporter.progress(Stage::Signature, 0.0, "signature");
    let sig = job.prepared.signature.clone();
    let hints = match analysis.filter(|a| a.covers(start_s)) {
        Some(a) => a.hints_for_window(start_s),
        None => {
            let window = &job.prepared.analysis;
            let mut hints = window.hints_for_window(start_s);
            if !window.whole && hints.iter().any(|h| h.rule == "scene_cut") {
                let info = probe::probe(path, start_s, cancel)?;
                let whole = analyze::analyze(&info, cancel)?;
                if whole.covers(start_s) {
                    let better = whole.hints_for_window(start_s);
                    hints.retain(|h| h.rule != "scene_cut");
                    if let Some(cut) = better.into_iter().find(|h| h.rule == "scene_cut") {
                        hints.insert(0, cut);
                    }
                }
            }
            hints
        }
    };
    for w in hints.into_iter().chain(look_alike(&job.names, &sig)) {
        reporter.warning(&w);
        job.warnings.push(w);
    }
    reporter.progress(Stage::Signature, 1.0, "signature");
    Ok(sig)
}

/// The record of a prepared job, its clip facts read back from the prepared MP4.
fn assemble_record(
    job: &PreparedJob,
    name: String,
    origin: Origin,
    start_s: f64,
    sig: &signature::Signature,
    opts: &CreateOptions,
) -> Result<Character> {
    let out = mp4::inspect(&job.prepared.clip)?;
    let ov = out.video.as_ref().ok_or_else(|| {
        Error::processing("ffmpeg_failed", "the prepared clip has no video track")
    })?;
    let keyframes = job
        .prepared
        .keyframes
        .iter()
        .filter_map(|p| p.strip_prefix(job.work.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let (path, url) = match origin {
        Origin::Path(p) => (Some(p.to_string_lossy().into_owned()), None),
        Origin::Url(u) => (None, Some(u)),
    };
    Ok(Character {
        schema: SCHEMA,
        id: job.id.clone(),
        name,
        created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        source: Source {
            path,
            url,
            size_bytes: job.digest.size_bytes,
            blake3: job.digest.blake3.clone(),
            extra: Default::default(),
        },
        start_s,
        path_taken: job.prepared.path_taken,
        clip: ClipRecord {
            path: "clip.mp4".into(),
            width: ov.width,
            height: ov.height,
            duration_s: (ov.duration_s * 1000.0).round() / 1000.0,
            fps: (ov.fps() * 1000.0).round() / 1000.0,
            size_bytes: out.size_bytes,
            has_audio: out.has_audio,
            extra: Default::default(),
        },
        keyframes,
        signature: RawJson::of(sig).expect("signature serialises"),
        warnings: job.warnings.clone(),
        notes: opts.notes.clone(),
        tags: clean_tags(&opts.tags),
        provider_ids: Default::default(),
        extra: Default::default(),
    })
}

/// Choose the window start from the content; reported as a warning so the user sees it,
/// with what is wrong with the window when no clean one exists.
fn auto_start(
    path: &Path,
    analysis: Option<&Analysis>,
    reporter: &mut Reporter,
    cancel: &CancellationToken,
) -> Result<(f64, Warning)> {
    reporter.progress(Stage::Probe, 0.0, "choosing the window");
    let info = probe::probe(path, 0.0, cancel)?;
    if info.video.is_none() {
        let w = Warning::new(
            "start",
            "--start auto chose the window 0.00 s: the file has no video",
        );
        return Ok((0.0, w));
    }
    let computed;
    let analysis = match analysis.filter(|a| a.whole) {
        Some(a) => a,
        None => {
            computed = analyze::analyze(&info, cancel)?;
            &computed
        }
    };
    let choice = analysis.choose(&analyze::keyframe_times(&info));
    let mut text = format!(
        "--start auto chose the window {:.2}-{:.2} s",
        choice.start_s,
        choice.start_s + choice.len_s
    );
    if choice.len_s < probe::WINDOW_S - 0.05 {
        text.push_str(&format!(
            " (the whole clip: it lasts {:.2} s)",
            choice.len_s
        ));
    }
    if !choice.problems.is_empty() {
        text.push_str("; no clean window exists, this one has: ");
        text.push_str(
            &choice
                .problems
                .iter()
                .map(|p| p.rule.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let w = Warning::new("start", text);
    reporter.warning(&w);
    Ok((choice.start_s, w))
}

/// Tags trimmed, empty ones dropped, duplicates (case-insensitive) removed.
pub fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = crate::library::name::normalize_tag(t);
        if !t.is_empty() && !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t);
        }
    }
    out
}

/// A warning when the new signature is very close to an existing character's.
fn look_alike(others: &NameSnapshot, sig: &signature::Signature) -> Option<Warning> {
    let best = others.most_like(sig)?;
    (best.similarity >= signature::LOOK_ALIKE).then(|| {
        Warning::new(
            "look_alike",
            format!(
                "looks like {} ({}), similarity {:.2}",
                crate::util::escape_display(best.name),
                best.id,
                best.similarity
            ),
        )
    })
}

/// Run a create job on a background thread; dropping the future cancels it.
pub async fn create(
    lib: Library,
    input: Input,
    opts: CreateOptions,
    mut reporter: Reporter,
    cancel: CancellationToken,
) -> Result<Created> {
    let token = cancel.child_token();
    let _guard = token.clone().drop_guard();
    match input {
        Input::File(path) => {
            let origin = Origin::Path(absolute(&path));
            tokio::task::spawn_blocking(move || {
                create_file(&lib, &path, origin, &opts, &mut reporter, &token)
            })
            .await
            .map_err(|e| Error::other("internal", format!("the job stopped unexpectedly: {e}")))?
        }
        Input::Url(url) => {
            let limits = FetchOptions::load()?;
            // The download lives in its own work folder, removed when this job ends, however.
            let download_dir = lib.new_work_dir()?;
            let fetched =
                fetch::download(&url, download_dir.path(), &limits, &mut reporter, &token).await?;
            let path = fetched.path.clone();
            let origin = Origin::Url(fetched.url.clone());
            let result = tokio::task::spawn_blocking(move || {
                create_file(&lib, &path, origin, &opts, &mut reporter, &token)
            })
            .await
            .map_err(|e| Error::other("internal", format!("the job stopped unexpectedly: {e}")))?;
            drop(download_dir);
            result.map_err(|e| fetched.explain(e))
        }
    }
}

/// Probe an input on a background thread; dropping the future cancels it.
pub async fn probe_input(
    input: Input,
    start_s: f64,
    strict: bool,
    cancel: CancellationToken,
) -> Result<ProbeReport> {
    probe_input_with(input, start_s, strict, Reporter::silent(), cancel).await
}

/// `probe_input`, reporting the download of a URL as `Stage::Fetch` progress.
pub async fn probe_input_with(
    input: Input,
    start_s: f64,
    strict: bool,
    mut reporter: Reporter,
    cancel: CancellationToken,
) -> Result<ProbeReport> {
    let token = cancel.child_token();
    let _guard = token.clone().drop_guard();
    match input {
        Input::File(path) => {
            tokio::task::spawn_blocking(move || probe_file(&path, start_s, strict, &token))
                .await
                .map_err(|e| {
                    Error::other("internal", format!("the probe stopped unexpectedly: {e}"))
                })?
        }
        Input::Url(url) => {
            let limits = FetchOptions::load()?;
            // No library is involved in a probe: the download goes to a scratch folder,
            // which the next run removes if this one is killed.
            let dir = fetch::Scratch::new()?;
            let fetched = fetch::download(&url, dir.path(), &limits, &mut reporter, &token).await?;
            drop(reporter);
            let path = fetched.path.clone();
            let result =
                tokio::task::spawn_blocking(move || probe_file(&path, start_s, strict, &token))
                    .await
                    .map_err(|e| {
                        Error::other("internal", format!("the probe stopped unexpectedly: {e}"))
                    })?;
            drop(dir);
            let mut report = result.map_err(|e| fetched.explain(e))?;
            for c in &mut report.checks {
                c.message = fetched.speak_of_url(&c.message);
            }
            for w in report.warnings.iter_mut().chain(report.hints.iter_mut()) {
                w.message = fetched.speak_of_url(&w.message);
            }
            report.metadata.path = PathBuf::from(&fetched.url);
            Ok(report)
        }
    }
}
