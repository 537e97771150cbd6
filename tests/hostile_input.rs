//! Hostile inputs never abort castbook nor grow it without bound: MP4s whose sample tables
//! claim billions of samples, and an ffmpeg/ffprobe writing hundreds of MB without a newline.
//! Each case runs the real binary and checks its exit and its peak resident memory.

#[path = "common/boxes.rs"]
mod boxes;
mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use boxes::Tables;
use common::*;

/// castbook's own peak resident memory may not pass this.
const MAX_RSS_KB: u64 = 200 * 1024;

struct Measured {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory of castbook itself (VmHWM, sampled until it exits).
    peak_kb: u64,
}

impl Measured {
    fn describe(&self) -> String {
        format!(
            "exit {:?}, signal {:?}, peak {} MB\nstdout: {}\nstderr: {}",
            self.code,
            self.signal,
            self.peak_kb / 1024,
            self.stdout,
            self.stderr
        )
    }

    /// Exited on its own (no signal, not an abort) within the memory bound.
    fn assert_bounded(&self) {
        assert!(
            self.signal.is_none() && self.code != Some(134),
            "castbook aborted: {}",
            self.describe()
        );
        assert!(
            self.peak_kb > 0 && self.peak_kb < MAX_RSS_KB,
            "castbook grew to {} MB: {}",
            self.peak_kb / 1024,
            self.describe()
        );
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Run `cmd` to the end, sampling castbook's peak resident memory every millisecond until it
/// exits (the kernel keeps the high-water mark, so a sample late in the run sees any earlier
/// peak); past `MAX_RSS_KB` it is killed.
fn run_measured(mut cmd: Command) -> Measured {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(kb) = vm_hwm_kb(pid) {
                    peak.fetch_max(kb, Ordering::SeqCst);
                    if kb > MAX_RSS_KB {
                        // Past the bound: the test fails; stop it before it takes the machine.
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                        break;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).unwrap();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).unwrap();
        s
    });
    // Wait without reaping, so the sampler can still read the exited process's last state.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
    assert_eq!(rc, 0);
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    Measured {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&out_t.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
        peak_kb: peak.load(Ordering::SeqCst),
    }
}

fn castbook(env: &Env, args: &[&std::ffi::OsStr]) -> Measured {
    let mut c = env.cmd();
    c.args(args);
    run_measured(c)
}

/// A tiny MP4 (ftyp, moov with one H.264 track, a 3-byte mdat) whose `stsz` and `stts` claim
/// 2^32 - 1 one-byte samples.
fn billions_of_samples(env: &Env) -> PathBuf {
    let mut t = Tables::constant(1, 1, 0);
    t.width = 1280;
    t.height = 720;
    t.uniform_size = 1;
    t.sizes.clear();
    t.sample_count = u32::MAX;
    t.stts = vec![(u32::MAX, 1)];
    t.stss = None;
    t.stsc = vec![(1, u32::MAX)];
    t.duration = u32::MAX;
    let data = boxes::movie(&[boxes::video_trak(&t)], b"\0\0\0");
    let p = env.path("billions.mp4");
    std::fs::write(&p, &data).unwrap();
    p
}

/// A real 6 s 720p clip with its first `stts` run count patched to 0x7ffffff0.
fn patched_stts(env: &Env) -> PathBuf {
    let src = x264_clip(
        "stts-source-6s.mp4",
        "testsrc2=size=1280x720:rate=25:duration=6",
        &["-g", "25"],
    );
    let mut data = std::fs::read(&src).unwrap();
    let stts = boxes::find_box(&data, b"stts").unwrap();
    let count_at = stts + 8;
    assert_eq!(
        &data[stts + 4..stts + 8],
        &1u32.to_be_bytes(),
        "one stts run"
    );
    data[count_at..count_at + 4].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    let p = env.path("patched-stts.mp4");
    std::fs::write(&p, &data).unwrap();
    p
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// probe, create and create --start auto on `clip`: each exits on its own, within the bound;
/// a failure is one clear error and leaves nothing behind.
fn every_entry_point_holds(env: &Env, clip: &Path) {
    for args in [
        vec![os("probe"), clip.as_os_str(), os("--json")],
        vec![
            os("create"),
            clip.as_os_str(),
            os("--name"),
            os("a"),
            os("--json"),
        ],
        vec![
            os("create"),
            clip.as_os_str(),
            os("--name"),
            os("b"),
            os("--start"),
            os("auto"),
            os("--json"),
        ],
    ] {
        let m = castbook(env, &args);
        m.assert_bounded();
        if m.code != Some(0) {
            let v: serde_json::Value = serde_json::from_str(&m.stdout)
                .unwrap_or_else(|_| panic!("not one JSON answer: {}", m.describe()));
            let msg = v["error"]["message"]
                .as_str()
                .or_else(|| v["checks"].as_array().map(|_| "rules"))
                .unwrap_or_else(|| panic!("no error message: {}", m.describe()));
            assert!(!msg.is_empty());
        }
        assert!(
            env.work_leftovers().is_empty(),
            "{:?}",
            env.work_leftovers()
        );
    }
}

#[test]
fn a_tiny_mp4_claiming_four_billion_samples_is_refused_in_bounded_memory() {
    let env = Env::new();
    let clip = billions_of_samples(&env);
    assert!(std::fs::metadata(&clip).unwrap().len() < 600);
    every_entry_point_holds(&env, &clip);
    assert!(env.characters().is_empty(), "{:?}", env.characters());
}

#[test]
fn a_real_clip_with_a_patched_stts_count_is_handled_in_bounded_memory() {
    let env = Env::new();
    let clip = patched_stts(&env);
    // ffprobe still opens it.
    let _ = ffprobe(&clip);
    every_entry_point_holds(&env, &clip);
}

/// A fake tool that writes `mb` MB to stderr without a newline, then fails.
fn flooding_tool(env: &Env, name: &str, mb: u64) -> PathBuf {
    let p = env.path(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nhead -c {} /dev/zero | tr '\\0' x >&2\nexit 1\n",
            mb * 1_000_000
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn ffprobe_writing_300_mb_without_a_newline_is_cut_short() {
    let env = Env::new();
    let fake = flooding_tool(&env, "ffprobe-flood", 300);
    let clip = testsrc("720p-2s.mp4", "1280x720", 25, 2.0, false);
    let mut c = env.cmd();
    c.env("CASTBOOK_FFPROBE", &fake)
        .arg("probe")
        .arg(&clip)
        .arg("--json");
    let m = run_measured(c);
    m.assert_bounded();
    assert_ne!(m.code, Some(0), "{}", m.describe());
    let v: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.len() < 2_000, "a {} byte message", msg.len());
    assert!(msg.contains("xxxx"), "{msg}");
}

#[test]
fn ffmpeg_writing_300_mb_without_a_newline_fails_the_create_in_bounded_memory() {
    let env = Env::new();
    let fake = flooding_tool(&env, "ffmpeg-flood", 300);
    let clip = testsrc("720p-2s.mp4", "1280x720", 25, 2.0, false);
    let mut c = env.cmd();
    c.env("CASTBOOK_FFMPEG", &fake)
        .arg("create")
        .arg(&clip)
        .args(["--name", "flood", "--json"]);
    let m = run_measured(c);
    m.assert_bounded();
    assert_ne!(m.code, Some(0), "{}", m.describe());
    let v: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.len() < 2_000, "a {} byte message", msg.len());
    assert!(env.characters().is_empty());
    assert!(env.work_leftovers().is_empty());
}
