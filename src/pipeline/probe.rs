//! Probe: ffprobe's JSON (parsed with serde) turned into `ClipInfo`, plus a demux-only scan of
//! the window's packets (keyframe at the start, constant frame rate, frame count).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::pipeline::ffmpeg::{self, StdoutSink};
use crate::pipeline::{h264, mp4};

/// Check the path before anything opens it (SPEC section 7).
pub use crate::pipeline::source::check_file;

/// The window length: the first 4 s from the start.
pub const WINDOW_S: f64 = 4.0;

#[derive(Debug, Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
    #[serde(default)]
    packets: Vec<RawPacket>,
}

#[derive(Debug, Deserialize)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
    size: Option<String>,
    #[serde(default)]
    tags: HashMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
struct RawStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    profile: Option<String>,
    pix_fmt: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    duration: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
    bit_rate: Option<String>,
    bits_per_raw_sample: Option<String>,
    has_b_frames: Option<i64>,
    color_range: Option<String>,
    color_space: Option<String>,
    color_transfer: Option<String>,
    color_primaries: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    #[serde(default)]
    disposition: HashMap<String, i64>,
    #[serde(default)]
    side_data_list: Vec<HashMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct RawPacket {
    stream_index: u32,
    pts_time: Option<String>,
    flags: Option<String>,
}

/// The container family, as the container rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Mp4,
    Mov,
    Matroska,
    Avi,
    Other,
}

impl Container {
    pub fn label(self) -> &'static str {
        match self {
            Container::Mp4 => "MP4",
            Container::Mov => "MOV",
            Container::Matroska => "MKV/WebM",
            Container::Avi => "AVI",
            Container::Other => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub pix_fmt: String,
    pub coded_width: u32,
    pub coded_height: u32,
    /// Counter-clockwise degrees from the display matrix.
    pub rotation: i32,
    /// Display size, rotation applied.
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub avg_fps: f64,
    pub bit_depth: u32,
    pub hdr: Option<String>,
    pub color_range: Option<String>,
    pub color_space: Option<String>,
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    pub has_b_frames: bool,
    pub bit_rate: Option<u64>,
    pub duration_s: f64,
    pub nb_frames: Option<u64>,
    pub nb_read_packets: Option<u64>,
}

impl VideoInfo {
    pub fn short_side(&self) -> u32 {
        self.width.min(self.height)
    }
    pub fn long_side(&self) -> u32 {
        self.width.max(self.height)
    }
    pub fn aspect(&self) -> f64 {
        self.long_side() as f64 / self.short_side().max(1) as f64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AudioInfo {
    pub index: u32,
    pub codec: String,
    pub channels: Option<u32>,
    pub sample_rate: Option<u32>,
}

/// What the packets of the window say.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WindowInfo {
    pub start_s: f64,
    /// Length of the used window: min(4 s, what is left after the start).
    pub len_s: f64,
    /// Video packets whose timestamps fall inside the window.
    pub frames: u64,
    pub keyframe_at_start: bool,
    /// Frame durations vary by more than 10 %.
    pub variable_frame_rate: bool,
    /// Average rate over the window.
    pub fps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipInfo {
    pub path: PathBuf,
    pub container: Container,
    pub format_name: String,
    pub major_brand: Option<String>,
    pub size_bytes: u64,
    pub duration_s: f64,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// Only cover art (an attached picture) was found where a video was expected.
    pub cover_art_only: bool,
    /// Fewer packets could be read than the header promises: the file was cut short.
    pub truncated: bool,
    pub window: WindowInfo,
}

fn num<T: std::str::FromStr>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|s| s.trim().parse().ok())
}

/// A finite number (ffprobe's text; "inf" and "nan" parse as f64 but mean nothing here).
fn real(s: &Option<String>) -> Option<f64> {
    num::<f64>(s).filter(|v| v.is_finite())
}

/// A rate "n/d" or "r": 0 unless it is a finite positive number.
fn rate(s: &Option<String>) -> f64 {
    let Some(s) = s.as_deref() else { return 0.0 };
    let r = match s.split_once('/') {
        Some((n, d)) => {
            let n: f64 = n.parse().unwrap_or(0.0);
            let d: f64 = d.parse().unwrap_or(0.0);
            if d > 0.0 { n / d } else { 0.0 }
        }
        None => s.parse().unwrap_or(0.0),
    };
    if r.is_finite() && r > 0.0 { r } else { 0.0 }
}

fn ffprobe(
    args: Vec<std::ffi::OsString>,
    cancel: &CancellationToken,
) -> Result<(bool, Vec<u8>, String)> {
    let cmd = ffmpeg::command(&ffmpeg::ffprobe_bin(), args);
    let done = ffmpeg::run(cmd, "ffprobe", cancel, StdoutSink::Collect, |_| {})?;
    Ok((done.status.success(), done.stdout, done.stderr))
}

fn base_args() -> Vec<std::ffi::OsString> {
    ["-v", "error", "-hide_banner", "-of", "json"]
        .iter()
        .map(Into::into)
        .collect()
}

/// Probe `path` with the window starting at `start_s`: streams and format (with a packet
/// count, which finds truncation), and the window's video packets, in two ffprobe runs side
/// by side.
pub fn probe(path: &Path, start_s: f64, cancel: &CancellationToken) -> Result<ClipInfo> {
    check_file(path)?;
    let top = mp4::top_level(path).ok().flatten();
    probe_with(path, start_s, cancel, top.as_ref())
}

/// Like `probe`, with the file's MP4 layout already read. For an MP4 whose sample tables
/// castbook can read, one ffprobe run (streams and format) is enough: the window's frames,
/// keyframes, frame rate and truncation come from the tables. Otherwise a second, demux-only
/// ffprobe run lists the window's packets and a packet count finds truncation.
pub fn probe_with(
    path: &Path,
    start_s: f64,
    cancel: &CancellationToken,
    top: Option<&mp4::TopLevel>,
) -> Result<ClipInfo> {
    let size = check_file(path)?;
    let movie = top.and_then(Movie::read);
    let mut head = base_args();
    if movie.is_none() {
        head.push("-count_packets".into());
    }
    head.extend(["-show_format", "-show_streams"].map(Into::into));
    head.extend(ffmpeg::safe_input(path));

    if let Some(movie) = movie {
        let (ok, stdout, stderr) = ffprobe(head, cancel)?;
        if !ok {
            return Err(unreadable(path, &stderr));
        }
        let mut info = from_ffprobe(path, size, &stdout, b"", start_s)?;
        movie.overlay(&mut info, start_s);
        return Ok(info);
    }

    let mut pk = base_args();
    let interval = if start_s > 0.0 {
        format!("{start_s:.3}%+{:.3}", WINDOW_S + 0.5)
    } else {
        format!("%+{:.3}", WINDOW_S + 0.5)
    };
    pk.extend(
        [
            "-read_intervals",
            &interval,
            "-show_entries",
            "packet=stream_index,pts_time,flags",
        ]
        .map(Into::into),
    );
    pk.extend(ffmpeg::safe_input(path));

    let (head_out, pk_out) = std::thread::scope(|s| {
        let p = s.spawn(|| ffprobe(pk, cancel));
        let h = ffprobe(head, cancel);
        (h, p.join().expect("ffprobe thread"))
    });
    let (ok, stdout, stderr) = head_out?;
    if !ok {
        return Err(unreadable(path, &stderr));
    }
    let packets = match pk_out {
        Ok((true, out, _)) => out,
        Ok(_) => Vec::new(),
        Err(e) => return Err(e),
    };
    from_ffprobe(path, size, &stdout, &packets, start_s)
}

/// A `ClipInfo` from ffprobe's answers: the streams-and-format JSON and the window's packets
/// JSON (empty or unreadable: no packets) of a file of `size` bytes.
pub fn from_ffprobe(
    path: &Path,
    size: u64,
    head: &[u8],
    packets: &[u8],
    start_s: f64,
) -> Result<ClipInfo> {
    let raw = parse_raw(head)?;
    let packets = serde_json::from_slice::<RawProbe>(packets)
        .map(|r| r.packets)
        .unwrap_or_default();
    Ok(build_info(path, size, raw, &packets, start_s))
}

fn parse_raw(stdout: &[u8]) -> Result<RawProbe> {
    serde_json::from_slice(stdout).map_err(|e| {
        Error::processing(
            "ffprobe_failed",
            format!("ffprobe printed JSON castbook cannot read: {e}"),
        )
    })
}

/// What the MP4 sample tables say, for the fields ffprobe would need a full read for.
struct Movie {
    brand: Option<[u8; 4]>,
    size: u64,
    tracks: Vec<mp4::Track>,
    video: usize,
}

impl Movie {
    fn read(top: &mp4::TopLevel) -> Option<Movie> {
        let tracks = mp4::tracks(top.moov.as_ref()?, top.size);
        let video = tracks
            .iter()
            .position(|t| &t.handler == b"vide" && t.count > 0 && !t.deltas.is_empty())?;
        Some(Movie {
            brand: top.major_brand,
            size: top.size,
            tracks,
            video,
        })
    }

    fn video(&self) -> &mp4::Track {
        &self.tracks[self.video]
    }

    /// The typical frame rate: the most common sample duration.
    fn fps(&self) -> f64 {
        let t = self.video();
        let best = t
            .duration_runs()
            .max_by_key(|(n, _)| *n)
            .map(|(_, d)| d)
            .unwrap_or(0);
        if best == 0 {
            0.0
        } else {
            t.timescale as f64 / best as f64
        }
    }

    fn duration_s(&self) -> f64 {
        self.video().media_duration_s()
    }

    fn truncated(&self) -> bool {
        self.tracks
            .iter()
            .any(|t| t.count > 0 && t.data_end() > self.size)
    }

    fn bit_rate(&self) -> Option<u64> {
        let bytes = self.video().data_bytes();
        let d = self.duration_s();
        (d > 0.0).then(|| (bytes as f64 * 8.0 / d) as u64)
    }

    fn window(&self, start_s: f64) -> WindowInfo {
        let packets = self.video().samples().map(|s| Packet {
            pts_s: s.pts_s,
            key: s.sync,
        });
        let fps = self.fps();
        window(packets, fps, fps, self.duration_s(), start_s)
    }

    /// Replace what ffprobe guessed with what the tables say.
    fn overlay(&self, info: &mut ClipInfo, start_s: f64) {
        info.duration_s = self.duration_s();
        info.truncated = self.truncated();
        info.window = self.window(start_s);
        if let Some(v) = &mut info.video {
            v.duration_s = self.duration_s();
            v.has_b_frames = self.video().has_ctts;
            v.bit_rate = self.bit_rate();
        }
    }
}

/// A provisional `ClipInfo` from the MP4 tables alone (no ffprobe): enough to start preparing
/// an H.264 MP4 while ffprobe confirms the details. None when the tables do not say enough.
pub fn from_movie(path: &Path, top: &mp4::TopLevel, start_s: f64) -> Option<ClipInfo> {
    let movie = Movie::read(top)?;
    let t = movie.video();
    if !matches!(&t.codec, b"avc1" | b"avc3") {
        return None;
    }
    let sps = h264::parse_avcc(t.avcc.as_deref()?)?;
    if t.width == 0 || t.height == 0 {
        return None;
    }
    let (width, height) = display_size(t.width, t.height, t.rotation);
    let fps = movie.fps();
    let color_transfer = sps.transfer.and_then(h264::transfer_name).map(String::from);
    let video = VideoInfo {
        index: movie.video as u32,
        codec: "h264".into(),
        profile: None,
        pix_fmt: sps.pix_fmt(),
        coded_width: t.width,
        coded_height: t.height,
        rotation: t.rotation,
        width,
        height,
        fps,
        avg_fps: fps,
        bit_depth: sps.bit_depth,
        hdr: hdr_of(color_transfer.as_deref()),
        color_range: sps.full_range.then(|| "pc".to_string()),
        color_space: sps.matrix.and_then(h264::matrix_name).map(String::from),
        color_transfer,
        color_primaries: sps
            .primaries
            .and_then(h264::primaries_name)
            .map(String::from),
        has_b_frames: false,
        bit_rate: None,
        duration_s: 0.0,
        nb_frames: Some(t.sample_count()),
        nb_read_packets: None,
    };
    let audio = movie
        .tracks
        .iter()
        .enumerate()
        .find(|(_, t)| &t.handler == b"soun")
        .map(|(i, a)| AudioInfo {
            index: i as u32,
            codec: match (&a.codec, a.audio_object_type) {
                (b"mp4a", Some(0x40 | 0x66 | 0x67 | 0x68)) => "aac".to_string(),
                (b"mp4a", Some(0x69 | 0x6B)) => "mp3".to_string(),
                (c, _) => String::from_utf8_lossy(c).trim().to_string(),
            },
            channels: Some(a.channels as u32),
            sample_rate: Some(a.sample_rate),
        });
    let format_name = "mov,mp4,m4a,3gp,3g2,mj2".to_string();
    let major_brand = movie
        .brand
        .map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let mut info = ClipInfo {
        path: path.to_path_buf(),
        container: container_of(&format_name, major_brand.as_deref()),
        format_name,
        major_brand,
        size_bytes: movie.size,
        duration_s: 0.0,
        video: Some(video),
        audio,
        cover_art_only: false,
        truncated: false,
        window: WindowInfo::default(),
    };
    movie.overlay(&mut info, start_s);
    Some(info)
}

/// The display size: coded size with a quarter-turn rotation applied.
fn display_size(coded_w: u32, coded_h: u32, rotation: i32) -> (u32, u32) {
    if rotation == 90 || rotation == 270 {
        (coded_h, coded_w)
    } else {
        (coded_w, coded_h)
    }
}

/// The HDR family of a transfer characteristic (ffmpeg's name).
fn hdr_of(transfer: Option<&str>) -> Option<String> {
    match transfer {
        Some("smpte2084") => Some("PQ".to_string()),
        Some("arib-std-b67") => Some("HLG".to_string()),
        _ => None,
    }
}

/// The container family from ffmpeg's format name and the major brand.
fn container_of(format_name: &str, major_brand: Option<&str>) -> Container {
    if format_name.contains("mp4") || format_name.starts_with("mov") {
        match major_brand {
            Some("qt") => Container::Mov,
            _ => Container::Mp4,
        }
    } else if format_name.contains("matroska") || format_name.contains("webm") {
        Container::Matroska
    } else if format_name == "avi" {
        Container::Avi
    } else {
        Container::Other
    }
}

fn unreadable(path: &Path, stderr: &str) -> Error {
    let why = ffmpeg::last_error_line(stderr);
    let shown = crate::util::escape_display(&path.display().to_string());
    let looks_mp4 = matches!(crate::pipeline::mp4::top_level(path), Ok(Some(_)));
    if looks_mp4 && stderr.contains("moov atom not found") {
        return Error::input(
            "decodable",
            format!(
                "{shown} is truncated or corrupt (moov atom not found): the file was cut short; copy or export it again"
            ),
        );
    }
    if stderr.contains("not on whitelist") {
        return Error::input(
            "not_a_video",
            format!(
                "{shown} is not a video castbook opens (its format is not on the allowed list: MP4, MOV, MKV, WebM, AVI; playlists and concat scripts are refused)"
            ),
        );
    }
    Error::input(
        "not_a_video",
        format!(
            "{shown} is not a video ffmpeg can read ({}): pass an MP4, MOV, WebM, MKV or AVI clip",
            crate::util::escape_display(&why)
        ),
    )
}

fn build_info(
    path: &Path,
    size: u64,
    raw: RawProbe,
    packets: &[RawPacket],
    start_s: f64,
) -> ClipInfo {
    let format = raw.format.unwrap_or(RawFormat {
        format_name: None,
        duration: None,
        size: None,
        tags: HashMap::new(),
    });
    let format_name = format.format_name.clone().unwrap_or_default();
    let major_brand = format.tags.get("major_brand").map(|b| b.trim().to_string());
    let container = container_of(&format_name, major_brand.as_deref());
    let format_duration: f64 = real(&format.duration).unwrap_or(0.0);

    let mut cover_art = false;
    let video_raw = raw.streams.iter().find(|s| {
        let is_video = s.codec_type.as_deref() == Some("video");
        let pic = s.disposition.get("attached_pic").copied().unwrap_or(0) == 1;
        if is_video && pic {
            cover_art = true;
        }
        is_video && !pic
    });
    let audio = raw
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| AudioInfo {
            index: s.index,
            codec: s.codec_name.clone().unwrap_or_default(),
            channels: s.channels,
            sample_rate: num(&s.sample_rate),
        });

    let mut truncated = false;
    let video = video_raw.map(|s| {
        let rotation = s
            .side_data_list
            .iter()
            .find_map(|sd| sd.get("rotation").and_then(Value::as_f64))
            .map(|r| (r.round() as i32).rem_euclid(360))
            .unwrap_or(0);
        let (cw, ch) = (s.width.unwrap_or(0), s.height.unwrap_or(0));
        let (width, height) = display_size(cw, ch, rotation);
        let pix_fmt = s.pix_fmt.clone().unwrap_or_default();
        let bit_depth = num::<u32>(&s.bits_per_raw_sample).unwrap_or_else(|| {
            if pix_fmt.contains("10") {
                10
            } else if pix_fmt.contains("12") {
                12
            } else {
                8
            }
        });
        let nb_frames: Option<u64> = num(&s.nb_frames);
        let nb_read: Option<u64> = num(&s.nb_read_packets);
        if let (Some(f), Some(r)) = (nb_frames, nb_read)
            && r < f
        {
            truncated = true;
        }
        let duration_s = real(&s.duration)
            .filter(|d| *d > 0.0)
            .unwrap_or(format_duration);
        VideoInfo {
            index: s.index,
            codec: s.codec_name.clone().unwrap_or_default(),
            profile: s.profile.clone(),
            pix_fmt,
            coded_width: cw,
            coded_height: ch,
            rotation,
            width,
            height,
            fps: rate(&s.r_frame_rate),
            avg_fps: rate(&s.avg_frame_rate),
            bit_depth,
            hdr: hdr_of(s.color_transfer.as_deref()),
            color_range: s.color_range.clone(),
            color_space: s.color_space.clone(),
            color_transfer: s.color_transfer.clone(),
            color_primaries: s.color_primaries.clone(),
            has_b_frames: s.has_b_frames.unwrap_or(0) > 0,
            bit_rate: num(&s.bit_rate),
            duration_s,
            nb_frames,
            nb_read_packets: nb_read,
        }
    });
    let duration_s = video
        .as_ref()
        .map(|v| v.duration_s)
        .unwrap_or(format_duration);
    let window = video
        .as_ref()
        .map(|v| {
            let stream = packets.iter().filter(|p| p.stream_index == v.index);
            let packets = stream.map(|p| Packet {
                pts_s: real(&p.pts_time).unwrap_or(f64::NAN),
                key: p.flags.as_deref().unwrap_or("").contains('K'),
            });
            window(packets, v.fps, v.avg_fps, duration_s, start_s)
        })
        .unwrap_or_default();
    ClipInfo {
        path: path.to_path_buf(),
        container,
        format_name,
        major_brand,
        size_bytes: num(&format.size).unwrap_or(size),
        duration_s,
        video,
        audio,
        cover_art_only: cover_art && video_raw.is_none(),
        truncated,
        window,
    }
}

/// One video packet as the window rules see it.
#[derive(Debug, Clone, Copy)]
struct Packet {
    pts_s: f64,
    key: bool,
}

/// The most in-window packets kept for the frame-rate rules (4 s at 5,000 fps); more are
/// counted, not kept.
const MAX_WINDOW_PACKETS: usize = 20_000;

/// The window rules, fed by either source (ffprobe's packets or the MP4 sample tables): the
/// video packets whose timestamps fall in [start, start + len) (half a frame of tolerance),
/// whether the first of them is a keyframe (from the beginning: the stream's first packet),
/// whether the frame durations vary by more than 10 %, and the rate: `nominal_fps` when the
/// packets agree with it, else what they measure, else `fallback_fps`, else 25.
fn window(
    packets: impl IntoIterator<Item = Packet>,
    nominal_fps: f64,
    fallback_fps: f64,
    duration_s: f64,
    start_s: f64,
) -> WindowInfo {
    let len_s = (duration_s - start_s).clamp(0.0, WINDOW_S);
    let end = start_s + len_s;
    let tol = if nominal_fps > 0.0 {
        0.5 / nominal_fps
    } else {
        0.02
    };
    let mut first: Option<f64> = None;
    let mut frames = 0u64;
    let mut inside: Vec<Packet> = Vec::new();
    for p in packets {
        if !p.pts_s.is_finite() {
            continue;
        }
        first = Some(first.map_or(p.pts_s, |f| f.min(p.pts_s)));
        if p.pts_s >= start_s - tol && p.pts_s < end - tol {
            frames += 1;
            if inside.len() < MAX_WINDOW_PACKETS {
                inside.push(p);
            }
        }
    }
    inside.sort_by(|a, b| a.pts_s.total_cmp(&b.pts_s));
    let keyframe_at_start = inside.first().is_some_and(|p| {
        p.key && ((start_s <= 0.0 && Some(p.pts_s) == first) || (p.pts_s - start_s).abs() <= tol)
    });
    let diffs: Vec<f64> = inside.windows(2).map(|w| w[1].pts_s - w[0].pts_s).collect();
    let mut variable = false;
    let mut measured = 0.0;
    if diffs.len() >= 3 {
        let mut sorted = diffs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        if median > 0.0 {
            variable = diffs.iter().any(|d| (d - median).abs() > 0.1 * median);
            let span = inside[inside.len() - 1].pts_s - inside[0].pts_s;
            if span > 0.0 {
                measured = (inside.len() - 1) as f64 / span;
            }
        }
    }
    let agrees = measured <= 0.0 || (nominal_fps - measured).abs() <= 0.01 * measured;
    let fps = if !variable && nominal_fps > 0.0 && agrees {
        nominal_fps
    } else if measured > 0.0 {
        measured
    } else if fallback_fps > 0.0 {
        fallback_fps
    } else {
        25.0
    };
    WindowInfo {
        start_s,
        len_s,
        frames,
        keyframe_at_start,
        variable_frame_rate: variable,
        fps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` packets at `fps` from `t0`, a keyframe every `gop`.
    fn steady(n: usize, fps: f64, t0: f64, gop: usize) -> Vec<Packet> {
        (0..n)
            .map(|i| Packet {
                pts_s: t0 + i as f64 / fps,
                key: i % gop == 0,
            })
            .collect()
    }

    #[test]
    fn a_steady_clip_from_the_start() {
        let w = window(steady(150, 25.0, 0.0, 25), 25.0, 25.0, 6.0, 0.0);
        assert_eq!(w.len_s, 4.0);
        assert_eq!(w.frames, 100);
        assert!(w.keyframe_at_start);
        assert!(!w.variable_frame_rate);
        assert_eq!(w.fps, 25.0);
    }

    #[test]
    fn a_start_on_a_keyframe_and_between_keyframes() {
        let packets = steady(150, 25.0, 0.0, 25);
        let on = window(packets.clone(), 25.0, 25.0, 6.0, 2.0);
        assert!(on.keyframe_at_start);
        assert_eq!((on.len_s, on.frames), (4.0, 100));
        let off = window(packets.clone(), 25.0, 25.0, 6.0, 2.51);
        assert!(!off.keyframe_at_start);
        assert_eq!(off.frames, 87);
        assert!((off.len_s - 3.49).abs() < 1e-9);
        // Packets out of order (B-frames) are put in presentation order first.
        let mut shuffled = packets;
        shuffled.swap(51, 53);
        shuffled.swap(50, 99);
        assert!(window(shuffled, 25.0, 25.0, 6.0, 2.0).keyframe_at_start);
    }

    #[test]
    fn from_the_beginning_the_first_packet_must_be_a_keyframe() {
        let mut packets = steady(50, 25.0, 0.0, 25);
        packets[0].key = false;
        assert!(!window(packets, 25.0, 25.0, 2.0, 0.0).keyframe_at_start);
        // The stream starts a little after 0 on a keyframe: still a keyframe at the start.
        let late = steady(50, 25.0, 0.1, 25);
        assert!(window(late, 25.0, 25.0, 2.0, 0.0).keyframe_at_start);
    }

    #[test]
    fn varying_durations_are_variable_and_measured() {
        // 30 fps, then 15 fps.
        let mut packets = steady(60, 30.0, 0.0, 30);
        packets.extend(steady(30, 15.0, 2.0, 30));
        let w = window(packets, 30.0, 30.0, 4.0, 0.0);
        assert!(w.variable_frame_rate);
        assert!(
            (w.fps - 89.0 / (2.0 + 29.0 / 15.0)).abs() < 1e-9,
            "{}",
            w.fps
        );
    }

    #[test]
    fn the_rate_is_the_nominal_one_when_the_packets_agree_else_what_they_measure() {
        let w = window(steady(100, 25.0, 0.0, 25), 50.0, 50.0, 4.0, 0.0);
        assert!((w.fps - 25.0).abs() < 1e-9);
        let w = window(steady(100, 29.97, 0.0, 25), 30000.0 / 1001.0, 0.0, 4.0, 0.0);
        assert_eq!(w.fps, 30000.0 / 1001.0);
        // No packets: the nominal rate, then the fallback, then 25.
        assert_eq!(window([], 24.0, 30.0, 4.0, 0.0).fps, 24.0);
        assert_eq!(window([], 0.0, 30.0, 4.0, 0.0).fps, 30.0);
        assert_eq!(window([], 0.0, 0.0, 4.0, 0.0).fps, 25.0);
    }

    #[test]
    fn a_flood_of_packets_is_counted_not_kept() {
        let many = (0..1_000_000).map(|_| Packet {
            pts_s: 1.0,
            key: true,
        });
        let w = window(many, 25.0, 25.0, 6.0, 0.0);
        assert_eq!(w.frames, 1_000_000);
        assert!(w.fps.is_finite() && w.fps > 0.0);
        let junk = [f64::NAN, f64::INFINITY, -1e300].map(|t| Packet {
            pts_s: t,
            key: true,
        });
        let w = window(junk, 25.0, 25.0, 6.0, 0.0);
        assert_eq!(w.frames, 0);
        assert!(!w.keyframe_at_start);
    }

    #[test]
    fn ffprobe_numbers_that_are_not_finite_are_ignored() {
        let head = br#"{"streams":[{"index":0,"codec_type":"video","codec_name":"h264",
            "width":1280,"height":720,"r_frame_rate":"1e308/1e-308","avg_frame_rate":"inf",
            "duration":"nan"}],"format":{"format_name":"matroska,webm","duration":"inf"}}"#;
        let info = from_ffprobe(Path::new("/x.mkv"), 10, head, b"", 0.0).unwrap();
        let v = info.video.unwrap();
        assert_eq!((v.fps, v.avg_fps, v.duration_s), (0.0, 0.0, 0.0));
        assert_eq!(info.duration_s, 0.0);
        assert_eq!(info.window.fps, 25.0);
        assert_eq!(info.container, Container::Matroska);
    }
}
