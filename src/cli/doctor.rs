//! `castbook doctor [--repair] [--json]`: every problem of the library, and with `--repair`
//! the safe fixes (broken records to the trash, temporary files removed, keyframes made again
//! from an intact clip with one ffmpeg run). Exit 0 when healthy, 4 when problems remain.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::library::health::{Depth, Problem, ProblemKind, check_files};
use crate::library::store::safe_relative;
use crate::library::{Character, Library};
use crate::pipeline::ffmpeg;
use crate::pipeline::prepare::THUMB_SHORT;
use crate::util::escape_display as esc;

/// Check (and with `repair`, fix) the library; prints the report; returns the exit code.
pub fn run(lib: &Library, repair: bool, json: bool) -> Result<i32> {
    let found = lib.doctor()?;
    let mut repaired: Vec<Problem> = Vec::new();
    let mut failed: Vec<(Problem, String)> = Vec::new();
    let remaining = if repair && found.iter().any(|p| p.repairable) {
        repaired.extend(lib.repair(&found)?);
        let keyframe_ids: BTreeSet<&str> = found
            .iter()
            .filter(|p| {
                matches!(
                    p.kind,
                    ProblemKind::MissingKeyframe | ProblemKind::ChangedKeyframe
                )
            })
            .filter_map(|p| p.id.as_deref())
            .collect();
        for id in keyframe_ids {
            let of_id: Vec<&Problem> = found
                .iter()
                .filter(|p| p.id.as_deref() == Some(id))
                .collect();
            match remake_keyframes(lib, id) {
                Ok(()) => repaired.extend(
                    of_id
                        .into_iter()
                        .filter(|p| {
                            matches!(
                                p.kind,
                                ProblemKind::MissingKeyframe | ProblemKind::ChangedKeyframe
                            )
                        })
                        .cloned(),
                ),
                Err(e) => {
                    for p in of_id {
                        failed.push((p.clone(), e.message.clone()));
                    }
                }
            }
        }
        lib.doctor()?
    } else {
        found.clone()
    };
    let code = if remaining.is_empty() { 0 } else { 4 };
    if json {
        crate::cli::output::print_json(&serde_json::json!({
            "healthy": remaining.is_empty(),
            "problems": remaining,
            "repaired": repaired,
        }));
    } else {
        for p in &repaired {
            eprintln!(
                "repaired  {}  {}",
                p.kind.as_str(),
                esc(&p.path.display().to_string())
            );
        }
        for (p, why) in &failed {
            eprintln!(
                "not repaired  {}  {}: {}",
                p.kind.as_str(),
                esc(&p.path.display().to_string()),
                esc(why)
            );
        }
        for p in &remaining {
            println!(
                "{}  {}  {}",
                p.kind.as_str(),
                esc(&p.path.display().to_string()),
                esc(&p.message)
            );
        }
        if remaining.is_empty() {
            eprintln!("the library is healthy: {}", lib.root().display());
        } else {
            let fixable = remaining.iter().filter(|p| p.repairable).count();
            eprintln!(
                "{} problem(s){}",
                remaining.len(),
                if fixable > 0 && !repair {
                    format!("; `castbook doctor --repair` fixes {fixable} of them")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(code)
}

/// Make a character's keyframes again from its clip (one ffmpeg run into `.work/`), then put
/// them in place under the lock.
fn remake_keyframes(lib: &Library, id: &str) -> Result<()> {
    let c = lib
        .get(id)?
        .ok_or_else(|| Error::input("not_found", format!("no character with ID {id}")))?;
    // Only from the clip that was saved (checked again under the lock when replacing).
    let clip_bad = check_files(lib, &c, Depth::Full)
        .into_iter()
        .find(|p| matches!(p.kind, ProblemKind::MissingClip | ProblemKind::ChangedClip));
    let clip = match (clip_bad, safe_relative(&c.clip.path)) {
        (None, Some(rel)) => lib.character_dir(id).join(rel),
        _ => {
            return Err(Error::input(
                "changed_clip",
                "the clip is not the one saved, so the keyframes are not made again from it",
            ));
        }
    };
    let work = lib.new_work_dir()?;
    extract_keyframes(&clip, &c, work.path())?;
    lib.replace_keyframes(id, work)?;
    Ok(())
}

/// Write the record's keyframes (`work/<path>` for each) from the clip: evenly spaced frames
/// of it, short side `THUMB_SHORT` (never up), as castbook makes them at create time.
fn extract_keyframes(clip: &Path, c: &Character, work: &Path) -> Result<()> {
    let count = c.keyframes.len().clamp(1, 64);
    let frames = ((c.clip.duration_s * c.clip.fps).round() as u64).clamp(1, 100_000);
    let k = (count as u64).min(frames);
    let picks: Vec<String> = (0..k)
        .map(|i| format!("eq(n\\,{})", ((2 * i + 1) * frames) / (2 * k)))
        .collect();
    let short = c.clip.width.min(c.clip.height).max(1);
    let scale = if short > THUMB_SHORT {
        let f = THUMB_SHORT as f64 / short as f64;
        let even = |v: u32| ((v as f64 * f / 2.0).round() as u32).max(1) * 2;
        format!(
            ",scale={}:{}:flags=bicubic",
            even(c.clip.width),
            even(c.clip.height)
        )
    } else {
        String::new()
    };
    let out_dir = work.join("keyframes-new");
    std::fs::create_dir_all(&out_dir).map_err(|e| Error::io("creating", &out_dir, &e))?;
    let mut a: Vec<OsString> = ["-hide_banner", "-nostdin", "-v", "error"]
        .iter()
        .map(OsString::from)
        .collect();
    a.extend(ffmpeg::safe_input(clip));
    a.extend(
        [
            "-map".to_string(),
            "0:v:0".into(),
            "-vf".into(),
            format!("select={}{scale}", picks.join("+")),
            "-fps_mode".into(),
            "passthrough".into(),
            "-frames:v".into(),
            k.to_string(),
            "-q:v".into(),
            "3".into(),
            "-start_number".into(),
            "1".into(),
            "-f".into(),
            "image2".into(),
        ]
        .map(OsString::from),
    );
    a.push(ffmpeg::file_url(&out_dir.join("%02d.jpg")));
    let done = ffmpeg::run(
        ffmpeg::command(&ffmpeg::ffmpeg_bin(), a),
        "ffmpeg",
        &CancellationToken::new(),
        ffmpeg::StdoutSink::Collect,
        |_| {},
    )?;
    if !done.status.success() {
        return Err(Error::processing(
            "ffmpeg_failed",
            format!(
                "ffmpeg could not read the clip {} ({}): the clip is damaged",
                esc(&clip.display().to_string()),
                esc(&ffmpeg::last_error_line(&done.stderr))
            ),
        ));
    }
    // The n-th new frame becomes the record's n-th keyframe path (the last one repeats when
    // the clip has fewer frames than keyframes).
    for (i, rel) in c.keyframes.iter().enumerate() {
        let n = (i as u64).min(k - 1) + 1;
        let from = out_dir.join(format!("{n:02}.jpg"));
        let rel = safe_relative(rel).ok_or_else(|| {
            Error::input(
                "record_path",
                format!("{}: the keyframe {rel:?} is outside its folder", c.id),
            )
        })?;
        let to = work.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, &e))?;
        }
        std::fs::copy(&from, &to).map_err(|e| Error::io("writing", &to, &e))?;
    }
    Ok(())
}
