//! A batch of creates against the physical limit of the machine: 8 compliant 720p clips (the
//! copy path) and 8 6-s 1080p30 clips (the encode path), generated once into
//! `target/bench-clips/batch/`. Each clip is first created alone (a fresh library each time;
//! wall time, and CPU time of castbook and its ffmpeg children from `getrusage`), then all of
//! them in one `castbook create CLIP...` batch into a fresh library.
//!
//!     cargo bench --bench batch
//!     CASTBOOK_BENCH_CLIPS=4 cargo bench --bench batch     # 4 clips of each kind
//!     CASTBOOK_JOBS=1 cargo bench --bench batch            # the pool size to measure
//!
//! The physical limit of the batch is the larger of (the solo CPU seconds added up / the
//! cores) and the longest solo wall time. Targets: batch wall <= 1.15x that limit, and no clip
//! more than 3x its solo wall time (its time in the batch counts from its start in the pool).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn clips_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-clips/batch");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A testsrc2 + sine clip, its hue turned by `hue` degrees so every clip differs.
fn generated(name: &str, size: &str, seconds: f64, hue: u32) -> PathBuf {
    let out = clips_dir().join(name);
    if !out.exists() {
        let tmp = clips_dir().join(format!(".{name}"));
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size={size}:rate=30:duration={seconds},hue=h={hue}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency={}:sample_rate=48000:duration={seconds}",
                300 + hue
            ))
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                "-g", "30",
            ])
            .args(["-c:a", "aac", "-shortest", "-f", "mp4"])
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(ok.success(), "generating {name}");
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

/// CPU seconds (user + system) of the waited-for children so far.
fn children_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn castbook(lib: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castbook"));
    c.arg("--library")
        .arg(lib)
        .env("CASTBOOK_CONFIG", lib.join("none.toml"))
        .stderr(Stdio::null());
    c
}

fn main() {
    let per_kind: usize = std::env::var("CASTBOOK_BENCH_CLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=32).contains(n))
        .unwrap_or(8);
    let mut clips = Vec::new();
    for i in 0..per_kind {
        let hue = (i as u32) * 40;
        clips.push(generated(&format!("c720-{i}.mp4"), "1280x720", 4.0, hue));
    }
    for i in 0..per_kind {
        let hue = (i as u32) * 40 + 20;
        clips.push(generated(&format!("e1080-{i}.mp4"), "1920x1080", 6.0, hue));
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let scratch = tempfile::tempdir().unwrap();

    println!("clip            solo wall  solo cpu");
    let mut solo = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        let lib = scratch.path().join(format!("solo-{i}"));
        std::fs::create_dir_all(&lib).unwrap();
        let cpu0 = children_cpu();
        let t0 = Instant::now();
        let out = castbook(&lib)
            .arg("create")
            .arg(clip)
            .args(["--name-from", "stem", "--json"])
            .output()
            .unwrap();
        let wall = t0.elapsed().as_secs_f64();
        let cpu = children_cpu() - cpu0;
        assert!(out.status.success(), "solo create of {}", clip.display());
        let name = clip.file_name().unwrap().to_string_lossy().into_owned();
        println!("{name:14}  {wall:8.3} s  {cpu:7.3} s");
        solo.push((name, wall, cpu));
    }

    let lib = scratch.path().join("batch");
    std::fs::create_dir_all(&lib).unwrap();
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let out = castbook(&lib)
        .arg("create")
        .args(&clips)
        .arg("--json")
        .output()
        .unwrap();
    let batch_wall = t0.elapsed().as_secs_f64();
    let batch_cpu = children_cpu() - cpu0;
    assert!(
        out.status.success(),
        "batch create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), clips.len());

    let cpu_sum: f64 = solo.iter().map(|s| s.2).sum();
    let longest = solo.iter().map(|s| s.1).fold(0.0, f64::max);
    let limit = (cpu_sum / cores as f64).max(longest);
    println!();
    println!(
        "cores {cores}, pool {}",
        std::env::var("CASTBOOK_JOBS").unwrap_or_else(|_| "default".into())
    );
    println!(
        "solo cpu sum {cpu_sum:.3} s / {cores} = {:.3} s; longest solo wall {longest:.3} s",
        cpu_sum / cores as f64
    );
    println!("physical limit  {limit:.3} s");
    println!("batch wall      {batch_wall:.3} s  (batch cpu {batch_cpu:.3} s)");
    println!(
        "ratio           {:.3}x  (target <= 1.15x)",
        batch_wall / limit
    );
    let mut worst = (String::new(), 0.0f64);
    for (r, (name, wall, _)) in results.iter().zip(&solo) {
        let secs = r["seconds"].as_f64().unwrap_or(f64::NAN);
        let ratio = secs / wall;
        if ratio > worst.1 {
            worst = (name.clone(), ratio);
        }
    }
    println!(
        "worst clip      {:.2}x its solo time ({})  (target <= 3x)",
        worst.1, worst.0
    );
}
