//! Shared test helpers: clips generated with the real ffmpeg (cached per set of arguments),
//! the real castbook binary run against a temporary library, and ffprobe checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The folder generated clips are cached in (shared by the test processes of one run).
pub fn clip_cache() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("clips");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A real sample clip fetched by scripts/fixtures.sh.
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/fixtures.sh first",
        p.display()
    );
    p
}

/// Run ffmpeg with `args` (inputs and options, without the output) writing `name` in the clip
/// cache; cached by name, written atomically.
pub fn make_clip(name: &str, args: &[&str]) -> PathBuf {
    let out = clip_cache().join(name);
    if out.exists() {
        return out;
    }
    let ext = Path::new(name).extension().unwrap().to_str().unwrap();
    let tmp = clip_cache().join(format!(".{}-{}.{ext}", name, std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .arg(&tmp)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "generating {name} with {args:?} failed");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// A clip from one lavfi `source`, encoded with libx264 (ultrafast, yuv420p unless `extra`,
/// the output options, says otherwise).
pub fn x264_clip(name: &str, source: &str, extra: &[&str]) -> PathBuf {
    let mut args: Vec<&str> = vec!["-f", "lavfi", "-i", source];
    args.extend_from_slice(extra);
    for (opt, default) in [
        ("-c:v", "libx264"),
        ("-preset", "ultrafast"),
        ("-pix_fmt", "yuv420p"),
    ] {
        if !extra.contains(&opt) {
            args.extend([opt, default]);
        }
    }
    make_clip(name, &args)
}

/// A testsrc2 clip with a sine tone: `WxH`, rate, seconds; H.264 yuv420p + AAC.
pub fn testsrc(name: &str, size: &str, rate: u32, seconds: f64, audio: bool) -> PathBuf {
    let v = format!("testsrc2=size={size}:rate={rate}:duration={seconds}");
    let a = format!("sine=frequency=440:sample_rate=48000:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &v];
    if audio {
        args.extend(["-f", "lavfi", "-i", &a]);
    }
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
    ]);
    if audio {
        args.extend(["-c:a", "aac", "-shortest"]);
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    make_clip(name, &refs)
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn lib(&self) -> PathBuf {
        self.dir.path().join("lib")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_castbook"));
        c.arg("--library")
            .arg(self.lib())
            .env("CASTBOOK_CONFIG", self.dir.path().join("no-config.toml"))
            .env_remove("CASTBOOK_LIBRARY")
            .current_dir(self.dir.path());
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    pub fn run_os(&self, args: &[&std::ffi::OsStr]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    /// `create FILE --name NAME --json` and the record; panics with the output on failure.
    pub fn create(&self, file: &Path, name: &str, extra: &[&str]) -> Value {
        let out = self
            .cmd()
            .arg("create")
            .arg(file)
            .args(["--name", name, "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "create failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
    /// The character folders in the library.
    pub fn characters(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.lib())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("char_"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
    /// Everything left in `.work/` (must be empty after any command).
    pub fn work_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.lib().join(".work"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// ffprobe `-show_streams -show_format` of a file.
pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn video_stream(probe: &Value) -> &Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream")
}

/// The prepared clip of a record, checked against the upload rules: H.264 yuv420p tv range,
/// even dimensions, the expected size, video <= window + one frame, <= 10 MB, faststart.
pub fn check_prepared(lib: &Path, rec: &Value, w: u64, h: u64) -> Value {
    let dir = lib.join(rec["id"].as_str().unwrap());
    let clip = dir.join(rec["clip"]["path"].as_str().unwrap());
    let p = ffprobe(&clip);
    let v = video_stream(&p);
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(v["color_range"], "tv");
    assert_eq!(v["width"].as_u64().unwrap(), w, "width");
    assert_eq!(v["height"].as_u64().unwrap(), h, "height");
    let dur: f64 = v["duration"].as_str().unwrap().parse().unwrap();
    let (n, d) = v["avg_frame_rate"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap();
    let fps: f64 = n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap();
    assert!(fps > 0.0 && fps <= 60.0, "fps {fps}");
    assert!(dur <= 4.0 + 1.0 / fps + 0.001, "video lasts {dur} s");
    let rec_dur = rec["clip"]["duration_s"].as_f64().unwrap();
    assert!(
        (rec_dur - dur).abs() < 0.002,
        "record says {rec_dur} s, ffprobe {dur} s"
    );
    let rec_fps = rec["clip"]["fps"].as_f64().unwrap();
    assert!(
        (rec_fps - fps).abs() < 0.01,
        "record says {rec_fps} fps, ffprobe {fps}"
    );
    let size = std::fs::metadata(&clip).unwrap().len();
    assert!(size <= 10_000_000, "clip is {size} bytes");
    assert_eq!(rec["clip"]["size_bytes"].as_u64().unwrap(), size);
    assert_eq!(rec["clip"]["width"].as_u64().unwrap(), w);
    assert_eq!(rec["clip"]["height"].as_u64().unwrap(), h);
    // +faststart: the moov box comes before mdat.
    let bytes = std::fs::read(&clip).unwrap();
    let moov = bytes.windows(4).position(|b| b == b"moov").unwrap();
    let mdat = bytes.windows(4).position(|b| b == b"mdat").unwrap();
    assert!(moov < mdat, "moov after mdat: not faststart");
    let kf = rec["keyframes"].as_array().unwrap();
    assert!((4..=8).contains(&kf.len()), "{} keyframes", kf.len());
    for k in kf {
        let p = dir.join(k.as_str().unwrap());
        let data = std::fs::read(&p).unwrap();
        assert_eq!(&data[..2], &[0xFF, 0xD8], "{} is a JPEG", p.display());
    }
    p
}

/// Decode one frame at `t` of `path` as 8-bit gray `w`x`h`.
pub fn gray_frame(path: &Path, t: f64, w: u32, h: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={w}:{h}"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), (w * h) as usize);
    out.stdout
}
