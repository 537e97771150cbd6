//! Preview images: a character's middle keyframe from its folder, and for a clip that is not
//! a character yet, one frame from the middle of its window, extracted by ffmpeg (with the
//! same input whitelists as the pipeline) into a temporary folder.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use image::DynamicImage;
use tokio_util::sync::CancellationToken;

use crate::pipeline::ffmpeg::{ffmpeg_bin, file_url, safe_input};
use crate::pipeline::job::Input;

/// Largest preview side kept in memory; the terminal shows far fewer pixels.
const MAX_SIDE: u32 = 480;

pub fn clip_key_prefix(input: &Input) -> String {
    match input {
        Input::File(p) => format!("clip:{}@", p.display()),
        Input::Url(u) => format!("clip:{u}@"),
    }
}

pub fn clip_key(input: &Input, start_s: f64) -> String {
    format!("{}{start_s:.1}", clip_key_prefix(input))
}

/// Decode an image file, shrunk to at most `MAX_SIDE`.
pub fn load_image(path: &Path) -> Option<DynamicImage> {
    let img = image::open(path).ok()?;
    Some(if img.width().max(img.height()) > MAX_SIDE {
        img.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        img
    })
}

/// One frame of `clip` at `at_s`, or None when ffmpeg fails or is cancelled.
pub async fn clip_frame(
    clip: &Path,
    at_s: f64,
    dir: &Path,
    cancel: &CancellationToken,
) -> Option<DynamicImage> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let out = dir.join(format!("frame-{n}.png"));
    let mut cmd = tokio::process::Command::new(ffmpeg_bin());
    cmd.args([
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-ss",
        &format!("{at_s:.3}"),
    ])
    .args(safe_input(clip))
    .args([
        "-frames:v",
        "1",
        "-vf",
        &format!("scale={MAX_SIDE}:-2"),
        "-f",
        "image2",
        "-c:v",
        "png",
    ])
    .arg(file_url(&out))
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    let status = tokio::select! {
        s = cmd.status() => s.ok()?,
        _ = cancel.cancelled() => return None,
    };
    if !status.success() {
        return None;
    }
    tokio::task::spawn_blocking(move || {
        let img = load_image(&out);
        let _ = std::fs::remove_file(&out);
        img
    })
    .await
    .ok()?
}
