//! `castbook create` against the decode floor `ffmpeg -t 4 -i CLIP -f null -` of the same
//! clip, pairs alternated in one run, median ratio per clip (SPEC section 8).
//!
//!     cargo bench --bench create            # 7 pairs per clip
//!     CASTBOOK_BENCH_RUNS=15 cargo bench --bench create
//!
//! Also reports the prepared clip's size and path, and the peak resident memory of castbook
//! itself and of its ffmpeg child (sampled from /proc every 5 ms).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn clips_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-clips");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A 6 s testsrc2 + sine clip made as the targets specify.
fn generated(size: &str, name: &str) -> PathBuf {
    let out = clips_dir().join(name);
    if !out.exists() {
        let tmp = clips_dir().join(format!(".{name}"));
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=30:duration=6"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=6"])
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
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

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

struct Run {
    secs: f64,
    own_kb: u64,
    child_kb: u64,
}

/// Run a command to the end, sampling its peak RSS and its children's.
fn timed(mut cmd: Command) -> Run {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let (mut own, mut kid) = (0, 0);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{cmd:?} failed");
            break;
        }
        own = own.max(vm_hwm_kb(pid).unwrap_or(0));
        for c in children(pid) {
            kid = kid.max(vm_hwm_kb(c).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Run {
        secs: t0.elapsed().as_secs_f64(),
        own_kb: own,
        child_kb: kid,
    }
}

fn floor_cmd(clip: &Path) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error", "-t", "4", "-i"])
        .arg(clip)
        .args(["-f", "null", "-"]);
    c
}

fn create_cmd(clip: &Path, lib: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castbook"));
    c.arg("--library")
        .arg(lib)
        .env("CASTBOOK_CONFIG", lib.join("none.toml"))
        .arg("create")
        .arg(clip)
        .args(["--name", "bench"]);
    c
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters clips by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs: usize = std::env::var("CASTBOOK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let bunny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bigbuckbunny.mp4");
    assert!(bunny.exists(), "run scripts/fixtures.sh first");
    let cases = [
        ("bigbuckbunny", bunny, 1.5),
        ("1080p30 6s", generated("1920x1080", "1080p30-6s.mp4"), 2.0),
        ("4K30 6s", generated("3840x2160", "4k30-6s.mp4"), 1.4),
    ];
    println!(
        "{:<13} {:>9} {:>9} {:>7} {:>7}  {:<6} {:>8} {:>10} {:>10}",
        "clip",
        "floor s",
        "create s",
        "ratio",
        "target",
        "path",
        "clip MB",
        "own RSS MB",
        "ffmpeg MB"
    );
    for (name, clip, target) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let mut ratios = Vec::new();
        let (mut floors, mut creates) = (Vec::new(), Vec::new());
        let (mut own, mut kid) = (0u64, 0u64);
        let mut last_lib = None;
        for i in 0..runs + 1 {
            let lib = tempfile::tempdir().unwrap();
            let (f, c) = if i % 2 == 0 {
                let f = timed(floor_cmd(&clip));
                (f, timed(create_cmd(&clip, lib.path())))
            } else {
                let c = timed(create_cmd(&clip, lib.path()));
                (timed(floor_cmd(&clip)), c)
            };
            if i == 0 {
                continue; // warm-up pair
            }
            ratios.push(c.secs / f.secs);
            floors.push(f.secs);
            creates.push(c.secs);
            own = own.max(c.own_kb);
            kid = kid.max(c.child_kb);
            last_lib = Some(lib);
        }
        let lib = last_lib.unwrap();
        let id = std::fs::read_dir(lib.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("char_"))
            .expect("a character was created")
            .path();
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(id.join("character.json")).unwrap()).unwrap();
        let size = std::fs::metadata(id.join("clip.mp4")).unwrap().len();
        let ratio = median(ratios);
        println!(
            "{:<13} {:>9.3} {:>9.3} {:>6.2}x {:>6.1}x  {:<6} {:>8.2} {:>10.1} {:>10.1}  {}",
            name,
            median(floors),
            median(creates),
            ratio,
            target,
            rec["path_taken"].as_str().unwrap_or("?"),
            size as f64 / 1e6,
            own as f64 / 1024.0,
            kid as f64 / 1024.0,
            if ratio <= target && size <= 10_000_000 && own < 50 * 1024 {
                "ok"
            } else {
                "OVER"
            }
        );
    }
}
