//! Prepare: one ffmpeg process writes the upload clip, the keyframe JPEGs and the small raw
//! frames the signature and the quality hints are computed from, through one filter graph.
//! A compliant source is stream-copied (its window still decoded once for the decodability
//! check, keyframes and signature); anything else is scaled and encoded. The small frames are
//! measured (quality hints, cuts) and signed on a thread of their own as they arrive, while
//! ffmpeg is still at work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::library::PathTaken;
use crate::pipeline::analyze::{Analysis, Analyzer};
use crate::pipeline::ffmpeg::{self, StdoutSink};
use crate::pipeline::probe::{self, ClipInfo, Container, VideoInfo};
use crate::pipeline::signature::{self, Signature};
use crate::pipeline::{mp4, yuv};

/// The prepared clip must not exceed this (10 MB).
pub const MAX_CLIP_BYTES: u64 = 10_000_000;
/// Keyframe thumbnails written per character.
pub const KEYFRAMES: usize = 6;
/// Short side of the keyframe JPEGs.
pub const THUMB_SHORT: u32 = 360;
/// Rate and long side of the raw frames for the signature and hints.
pub const SIG_FPS: f64 = 10.0;
pub const SIG_LONG: u32 = 480;
/// Output frame rate cap.
pub const MAX_FPS: f64 = 60.0;

/// x264 settings of the encode path. `ultrafast` at 720p costs about a third of `veryfast`
/// (0.90 s against 1.36 s of CPU for a 4 s 1080p source, decode included); what it gives up
/// is compression (CAVLC, no B-frames), which the 10 MB budget absorbs: CRF 20 keeps the
/// reference clip visually clean, and the VBV cap (16 Mb/s, 8 Mb buffer) keeps 4 s under
/// 10 MB whatever the content.
pub const X264_PRESET: &str = "ultrafast";
pub const X264_CRF: &str = "20";
pub const X264_MAXRATE: &str = "16M";
pub const X264_BUFSIZE: &str = "8M";

/// The small RGB frames of the window (rgb24, `width` x `height`, `fps` per second).
#[derive(Debug, Clone, Default)]
pub struct SigFrames {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub frames: Vec<Vec<u8>>,
}

#[derive(Debug)]
pub struct Prepared {
    pub path_taken: PathTaken,
    pub clip: PathBuf,
    pub keyframes: Vec<PathBuf>,
    /// The analysis of the window's frames (the window only).
    pub analysis: Analysis,
    pub signature: Signature,
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

/// Output size: short side scaled down to 720 (never up), aspect kept, even dimensions.
pub fn output_size(v: &VideoInfo) -> (u32, u32) {
    let short = v.short_side() as f64;
    let scale = if short > 720.0 { 720.0 / short } else { 1.0 };
    (even(v.width as f64 * scale), even(v.height as f64 * scale))
}

fn fit(v: &VideoInfo, long: u32) -> (u32, u32) {
    let k = long as f64 / v.long_side().max(1) as f64;
    (even(v.width as f64 * k), even(v.height as f64 * k))
}

/// Size of the small frames the signature and hints are computed from.
pub fn sig_size(v: &VideoInfo) -> (u32, u32) {
    fit(v, SIG_LONG)
}

/// The filter from the video at `from` to the analysis frames at `to`: 10 a second, each the
/// picture at `sig_size` with, stacked under it, a cut of the same size from the middle of
/// the picture at its output size (pixels 1:1, so sharpness is judged at the scale the
/// providers get). `at_output` says the input is already at the output size. The frames
/// leave ffmpeg as yuv420p (`yuv::split_stacked` makes the picture RGB on castbook's
/// measuring thread): converting them to RGB in ffmpeg's filter thread, the create's critical path,
/// made a bigbuckbunny create about 60 ms slower.
pub fn analysis_chain(v: &VideoInfo, from: &str, to: &str, at_output: bool) -> String {
    let (sw, sh) = sig_size(v);
    let (ow, oh) = output_size(v);
    let (iw, ih) = if at_output {
        (ow, oh)
    } else {
        (v.width, v.height)
    };
    // The cut is taken from the input at the output's scale: as it is at the output size (a
    // crop costs nothing), by a bilinear shrink above it.
    let k = iw as f64 / ow.max(1) as f64;
    let native = if k > 1.01 {
        let (cw, ch) = (even(sw as f64 * k).min(iw), even(sh as f64 * k).min(ih));
        format!("crop={cw}:{ch},scale={sw}:{sh}:flags=bilinear")
    } else if iw >= sw && ih >= sh {
        format!("crop={sw}:{sh}")
    } else {
        format!("scale={sw}:{sh}:flags=neighbor")
    };
    format!(
        "{from}fps={SIG_FPS},split=2[sga][sgb];[sga]scale={sw}:{sh}:flags=area,format=yuv420p[sgs];\
         [sgb]{native},format=yuv420p[sgn];[sgs][sgn]vstack{to}"
    )
}

/// Bytes of one analysis frame as ffmpeg sends it (`analysis_chain`).
pub fn analysis_frame_bytes(v: &VideoInfo) -> usize {
    let (sw, sh) = sig_size(v);
    yuv::stacked_bytes(sw as usize, sh as usize)
}

/// The matrix of the analysis frames' YUV, as ffmpeg's own conversion to RGB would take it:
/// BT.709 when the frames say so (the source is tagged BT.709, or the prepare graph made
/// them BT.709 from another matrix or from HDR), BT.601 otherwise, which is also how ffmpeg
/// itself makes untagged YUV from RGB.
pub fn analysis_matrix(v: &VideoInfo, at_output: bool) -> yuv::Matrix {
    let tagged_709 = v.color_space.as_deref() == Some("bt709");
    let converted = at_output && (v.hdr.is_some() || !is_bt709_or_unset(&v.color_space));
    if tagged_709 || converted {
        yuv::Matrix::Bt709
    } else {
        yuv::Matrix::Bt601
    }
}

fn thumb_size(v: &VideoInfo) -> (u32, u32) {
    let (w, h) = output_size(v);
    let k = THUMB_SHORT as f64 / w.min(h) as f64;
    if k >= 1.0 {
        (w, h)
    } else {
        (even(w as f64 * k), even(h as f64 * k))
    }
}

/// Standard frame rates a constant-rate output snaps to.
const STANDARD_FPS: [f64; 10] = [
    15.0,
    24000.0 / 1001.0,
    24.0,
    25.0,
    30000.0 / 1001.0,
    30.0,
    48.0,
    50.0,
    60000.0 / 1001.0,
    60.0,
];

fn snap(fps: f64) -> Option<f64> {
    STANDARD_FPS
        .iter()
        .copied()
        .find(|s| (s - fps).abs() / s < 0.01)
}

/// The constant output rate, at most 60: the window's rate snapped to a standard one. A
/// variable-rate clip (a phone's) averages below the rate it was shot at (26.95 for 30 fps):
/// it gets its nominal rate when that is a standard one at or above the average, else the
/// first standard rate at or above the average.
pub fn output_fps(info: &ClipInfo) -> f64 {
    let measured = if info.window.fps > 0.0 {
        info.window.fps
    } else {
        info.video.as_ref().map(|v| v.avg_fps).unwrap_or(25.0)
    };
    if info.window.variable_frame_rate {
        let nominal = info.video.as_ref().map(|v| v.fps).unwrap_or(0.0);
        if let Some(n) = snap(nominal).filter(|n| *n >= measured * 0.98 && *n <= MAX_FPS) {
            return n;
        }
        if let Some(up) = STANDARD_FPS
            .iter()
            .copied()
            .filter(|s| *s >= measured * 0.98 && *s <= measured * 1.25)
            .reduce(f64::min)
        {
            return up;
        }
    }
    snap(measured)
        .unwrap_or((measured * 1000.0).round() / 1000.0)
        .clamp(1.0, MAX_FPS)
}

fn is_bt709_or_unset(s: &Option<String>) -> bool {
    matches!(s.as_deref(), None | Some("unknown" | "bt709"))
}

/// Whether the source can be stream-copied (FFMPEG.md's conditions); the reason when not.
pub fn copy_refusal(info: &ClipInfo) -> Option<String> {
    let Some(v) = &info.video else {
        return Some("no video".into());
    };
    let w = &info.window;
    let ends_inside = info.duration_s - w.start_s <= probe::WINDOW_S + 0.05;
    let reasons = [
        (info.container != Container::Mp4, "not MP4".to_string()),
        (v.codec != "h264", format!("codec {}", v.codec)),
        (
            v.pix_fmt != "yuv420p",
            format!("pixel format {}", v.pix_fmt),
        ),
        (
            v.short_side() != 720,
            format!("short side {}", v.short_side()),
        ),
        (
            v.width % 2 == 1 || v.height % 2 == 1,
            "odd dimensions".into(),
        ),
        (v.rotation != 0, "rotated".into()),
        (w.variable_frame_rate, "variable frame rate".into()),
        (w.fps > MAX_FPS + 0.5, format!("{:.0} fps", w.fps)),
        (!w.keyframe_at_start, "the start is not a keyframe".into()),
        (
            v.has_b_frames && !ends_inside,
            "B-frames cross the window end".into(),
        ),
        (
            !is_bt709_or_unset(&v.color_space)
                || !is_bt709_or_unset(&v.color_primaries)
                || !is_bt709_or_unset(&v.color_transfer),
            "not bt709".into(),
        ),
        (v.color_range.as_deref() == Some("pc"), "full range".into()),
        (
            info.audio.as_ref().is_some_and(|a| a.codec != "aac"),
            format!(
                "audio {}",
                info.audio.as_ref().map(|a| a.codec.as_str()).unwrap_or("")
            ),
        ),
        (
            v.bit_rate
                .or_else(|| {
                    (info.duration_s > 0.0)
                        .then(|| (info.size_bytes as f64 * 8.0 / info.duration_s) as u64)
                })
                .is_some_and(|br| (br as f64 / 8.0 * w.len_s) as u64 > MAX_CLIP_BYTES * 95 / 100),
            "over 10 MB for the window".into(),
        ),
    ];
    reasons
        .into_iter()
        .find(|(bad, _)| *bad)
        .map(|(_, why)| why)
}

fn keyframe_select(frames_in_window: u64) -> String {
    let n = frames_in_window.max(1);
    let k = (KEYFRAMES as u64).min(n);
    let mut picks: Vec<u64> = (0..k).map(|i| ((2 * i + 1) * n) / (2 * k)).collect();
    picks.dedup();
    let expr = picks
        .iter()
        .map(|i| format!("eq(n\\,{i})"))
        .collect::<Vec<_>>()
        .join("+");
    format!("select={expr}")
}

struct Graph {
    filter: String,
    video_out: Option<&'static str>,
}

fn graph(info: &ClipInfo, copy: bool) -> (Graph, (u32, u32), f64) {
    let v = info.video.as_ref().expect("video checked before prepare");
    let idx = v.index;
    let (sw, sh) = sig_size(v);
    let (tw, th) = thumb_size(v);
    let fps = output_fps(info);
    let frames = if copy {
        info.window.frames.max(1)
    } else {
        ((info.window.len_s * fps).round() as u64).max(1)
    };
    let select = keyframe_select(frames);
    let thumbs = format!("{select},scale={tw}:{th}:flags=bicubic");
    if copy {
        return (
            Graph {
                filter: format!(
                    "[0:{idx}]split=2[kf][sg];[kf]{thumbs}[kfo];{}",
                    analysis_chain(v, "[sg]", "[sgo]", true)
                ),
                video_out: None,
            },
            (sw, sh),
            info.window.fps,
        );
    }
    let (ow, oh) = output_size(v);
    let mut chain = Vec::new();
    if v.hdr.is_some() {
        chain.push(
            "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
                .to_string(),
        );
    }
    let full_range = v.color_range.as_deref() == Some("pc") || v.pix_fmt.starts_with("yuvj");
    let other_matrix = !is_bt709_or_unset(&v.color_space) && v.hdr.is_none();
    let needs_scale =
        (ow, oh) != (v.width, v.height) || v.pix_fmt != "yuv420p" || full_range || other_matrix;
    if needs_scale {
        // `area` averages properly when shrinking 2x or more (4K); `bilinear` is as good and
        // cheaper below that (1080p -> 720p). Two slice threads keep the scaler off the
        // critical path. Colour options only when a conversion is really needed: asking for
        // them on an untagged source makes swscale convert (and cost) for nothing.
        let flags = if v.short_side() >= 2 * oh.min(ow) {
            "area"
        } else {
            "bilinear"
        };
        let mut scale = format!("scale={ow}:{oh}:flags={flags}:threads=2");
        if other_matrix {
            scale.push_str(":out_color_matrix=bt709");
        }
        if full_range {
            scale.push_str(":out_range=tv");
        }
        chain.push(scale);
    }
    let needs_fps = info.window.variable_frame_rate || info.window.fps > MAX_FPS + 0.5;
    if needs_fps {
        chain.push(format!("fps={fps:.6}"));
    }
    chain.push("format=yuv420p".into());
    let filter = format!(
        "[0:{idx}]{},split=3[en][kf][sg];[en]format=yuv420p[eno];[kf]{thumbs}[kfo];{}",
        chain.join(","),
        analysis_chain(v, "[sg]", "[sgo]", true)
    );
    (
        Graph {
            filter,
            video_out: Some("[eno]"),
        },
        (sw, sh),
        fps,
    )
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn build_args(info: &ClipInfo, work: &Path, copy: bool) -> (Vec<OsString>, (u32, u32), f64) {
    let (g, sig_size, fps) = graph(info, copy);
    let w = &info.window;
    let mut a = os(&[
        "-hide_banner",
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-stats",
        "-stats_period",
        "0.1",
        "-xerror",
    ]);
    if w.start_s > 0.0 {
        a.extend(os(&["-ss", &format!("{:.3}", w.start_s)]));
    }
    a.extend(os(&["-t", &format!("{:.3}", w.len_s)]));
    a.extend(ffmpeg::safe_input(&info.path));
    a.extend(os(&["-filter_complex", &g.filter]));

    // Output 0: the clip.
    let audio_copy = info.audio.as_ref().is_some_and(|a| a.codec == "aac");
    let v = info.video.as_ref().expect("video");
    match g.video_out {
        None => a.extend(os(&[
            "-map",
            &format!("0:{}", v.index),
            "-frames:v",
            &info.window.frames.max(1).to_string(),
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1:video_full_range_flag=0",
        ])),
        Some(label) => {
            a.extend(os(&[
                "-map",
                label,
                "-c:v",
                "libx264",
                "-preset",
                X264_PRESET,
                "-crf",
                X264_CRF,
                "-maxrate",
                X264_MAXRATE,
                "-bufsize",
                X264_BUFSIZE,
                "-profile:v",
                "high",
                "-pix_fmt",
                "yuv420p",
                "-colorspace",
                "bt709",
                "-color_primaries",
                "bt709",
                "-color_trc",
                "bt709",
                "-color_range",
                "tv",
                "-fps_mode",
                "cfr",
            ]));
            if info.window.variable_frame_rate || info.window.fps > MAX_FPS + 0.5 {
                a.extend(os(&["-r", &format!("{fps:.6}")]));
            }
        }
    }
    if let Some(au) = &info.audio {
        a.extend(os(&["-map", &format!("0:{}", au.index)]));
        if audio_copy {
            a.extend(os(&["-c:a", "copy"]));
        } else {
            a.extend(os(&["-c:a", "aac", "-b:a", "160k"]));
        }
    }
    a.extend(os(&[
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    a.push(ffmpeg::file_url(&work.join("clip.mp4")));

    // Output 1: the keyframes.
    a.extend(os(&[
        "-map",
        "[kfo]",
        "-fps_mode",
        "passthrough",
        "-frames:v",
        &KEYFRAMES.to_string(),
        "-q:v",
        "3",
        "-start_number",
        "1",
        "-f",
        "image2",
    ]));
    a.push(ffmpeg::file_url(&work.join("keyframes").join("%02d.jpg")));

    // Output 2: small raw frames for the signature and hints.
    a.extend(os(&[
        "-map", "[sgo]", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1",
    ]));
    (a, sig_size, fps)
}

fn classify_failure(stderr: &str, info: &ClipInfo) -> Error {
    let last = ffmpeg::last_error_line(stderr);
    let lower = stderr.to_lowercase();
    if lower.contains("no space left on device") {
        return Error::processing(
            "disk_full",
            "disk full while preparing the clip: free some space in the library's disk and try again",
        );
    }
    let decode_markers = [
        "error while decoding",
        "invalid data found",
        "decode_slice",
        "corrupt",
        "concealing",
        "invalid nal",
        "missing picture",
        "error submitting packet to decoder",
        "left block unavailable",
        "no frame!",
    ];
    if decode_markers.iter().any(|m| lower.contains(m)) {
        let name = info
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Error::input(
            "decodable",
            format!(
                "{} does not decode cleanly over the window ({}): it is corrupt; export it again",
                crate::util::escape_display(&name),
                crate::util::escape_display(&last)
            ),
        );
    }
    Error::processing(
        "ffmpeg_failed",
        format!(
            "ffmpeg failed while preparing the clip: {}",
            crate::util::escape_display(&last)
        ),
    )
}

fn run_once(
    info: &ClipInfo,
    work: &Path,
    copy: bool,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(f64),
) -> Result<Measured> {
    let kf_dir = work.join("keyframes");
    if kf_dir.exists() {
        std::fs::remove_dir_all(&kf_dir).map_err(|e| Error::io("clearing", &kf_dir, &e))?;
    }
    std::fs::create_dir_all(&kf_dir).map_err(|e| Error::io("creating", &kf_dir, &e))?;
    let (args, (sw, sh), _fps) = build_args(info, work, copy);
    let len = info.window.len_s.max(0.001);
    let cmd = ffmpeg::command(&ffmpeg::ffmpeg_bin(), args);
    let v = info.video.as_ref().expect("video checked before prepare");
    let (done, (count, analyzer, builder)) = ffmpeg::run_frames(
        cmd,
        "ffmpeg",
        cancel,
        analysis_frame_bytes(v),
        |line| {
            if let Some(t) = ffmpeg::progress_time(line) {
                progress((t / len).clamp(0.0, 1.0));
            }
        },
        |frames| {
            let mut analyzer = Analyzer::new(sw, sh, SIG_FPS, info.window.start_s);
            let expected = (info.window.len_s * SIG_FPS).round().max(1.0) as usize;
            let mut builder = signature::Builder::new(sw, sh, expected);
            let matrix = analysis_matrix(v, true);
            let mut count = 0usize;
            let mut rgb = Vec::new();
            for frame in frames {
                let Some(parts) =
                    yuv::split_stacked(&frame, sw as usize, sh as usize, matrix, &mut rgb)
                else {
                    continue;
                };
                analyzer.push_stacked(&rgb, &parts);
                builder.push(&rgb);
                count += 1;
            }
            (count, analyzer, builder)
        },
    );
    let done = done?;
    if !done.status.success() {
        return Err(classify_failure(&done.stderr, info));
    }
    let mut keyframes: Vec<PathBuf> = std::fs::read_dir(&kf_dir)
        .map_err(|e| Error::io("reading", &kf_dir, &e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    keyframes.sort();
    if count == 0 || keyframes.is_empty() {
        return Err(classify_failure(
            &format!("{}\nno frame! decoded in the window", done.stderr),
            info,
        ));
    }
    let start_s = info.window.start_s;
    Ok(Measured {
        keyframes,
        analysis: analyzer.finish(
            info.duration_s,
            start_s <= 0.0 && info.duration_s <= probe::WINDOW_S + 0.05,
        ),
        signature: builder.finish(),
    })
}

/// What one run gives besides the clip.
struct Measured {
    keyframes: Vec<PathBuf>,
    analysis: Analysis,
    signature: Signature,
}

/// Everything `prepare` would run for `info`: two infos with the same fingerprint give the
/// same prepared clip, so work started from one can be kept for the other.
pub fn fingerprint(info: &ClipInfo, work: &Path) -> Vec<Vec<OsString>> {
    let mut runs = Vec::new();
    if copy_refusal(info).is_none() {
        runs.push(build_args(info, work, true).0);
    }
    runs.push(build_args(info, work, false).0);
    runs
}

/// Prepare the clip in `work`: the copy path when the source allows it and the result checks
/// out (video <= window + one frame, <= 10 MB), else the encode path.
pub fn prepare(
    info: &ClipInfo,
    work: &Path,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(f64),
) -> Result<Prepared> {
    let clip = work.join("clip.mp4");
    if copy_refusal(info).is_none() {
        let m = run_once(info, work, true, cancel, progress)?;
        // Keep the copy only when its video ends within one frame of the window and fits.
        let out = mp4::inspect(&clip)?;
        let frame = 1.0 / info.window.fps.max(1.0);
        let fits = out
            .video
            .as_ref()
            .is_some_and(|v| v.duration_s <= info.window.len_s + frame + 0.001);
        if fits && out.size_bytes <= MAX_CLIP_BYTES {
            return Ok(Prepared {
                path_taken: PathTaken::Copy,
                clip,
                keyframes: m.keyframes,
                analysis: m.analysis,
                signature: m.signature,
            });
        }
    }
    let m = run_once(info, work, false, cancel, progress)?;
    Ok(Prepared {
        path_taken: PathTaken::Encode,
        clip,
        keyframes: m.keyframes,
        analysis: m.analysis,
        signature: m.signature,
    })
}

/// Decode the window only (for `probe`): the decodability check without writing anything.
pub fn decode_check(
    info: &ClipInfo,
    cancel: &CancellationToken,
) -> Result<std::result::Result<(), String>> {
    let Some(v) = &info.video else {
        return Ok(Err("no video stream".into()));
    };
    let mut a = os(&["-hide_banner", "-nostdin", "-v", "error", "-xerror"]);
    if info.window.start_s > 0.0 {
        a.extend(os(&["-ss", &format!("{:.3}", info.window.start_s)]));
    }
    a.extend(os(&["-t", &format!("{:.3}", info.window.len_s.max(0.001))]));
    a.extend(ffmpeg::safe_input(&info.path));
    a.extend(os(&["-map", &format!("0:{}", v.index), "-f", "null", "-"]));
    let done = ffmpeg::run(
        ffmpeg::command(&ffmpeg::ffmpeg_bin(), a),
        "ffmpeg",
        cancel,
        StdoutSink::Collect,
        |_| {},
    )?;
    if done.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(ffmpeg::last_error_line(&done.stderr)))
    }
}
