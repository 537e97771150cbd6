//! Bad input (SPEC section 7, local files): one clear message naming the problem, a non-zero
//! exit, the library unchanged and nothing left in `.work/`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// Every file under the library with its size (the `.lock` file aside).
fn snapshot(lib: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.file_name().unwrap() != ".lock" {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    e.metadata().unwrap().len(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(lib, lib, &mut out);
    out
}

/// A library holding one character.
fn env_with_one() -> Env {
    let env = Env::new();
    env.create(&fixture("bigbuckbunny.mp4"), "bunny", &[]);
    env
}

/// Run `create FILE --name NAME [extra] --json`; check exit code, error code, message.
fn rejected(
    env: &Env,
    file: &Path,
    name: &str,
    extra: &[&str],
    exit: i32,
    code: &str,
    needle: &str,
) {
    let before = snapshot(&env.lib());
    let out = env
        .cmd()
        .arg("create")
        .arg(file)
        .args(["--name", name, "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit),
        "stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(v["error"]["code"], code, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    // Human form: one line on stderr.
    let human = env
        .cmd()
        .arg("create")
        .arg(file)
        .args(["--name", name])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(human.status.code(), Some(exit));
    assert!(stdout(&human).is_empty(), "{}", stdout(&human));
    let err = stderr(&human);
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    assert_eq!(snapshot(&env.lib()), before, "the library changed");
    assert!(
        env.work_leftovers().is_empty(),
        "left in .work: {:?}",
        env.work_leftovers()
    );
}

#[test]
fn missing_file() {
    let env = env_with_one();
    rejected(
        &env,
        &env.path("nope.mp4"),
        "x",
        &[],
        3,
        "input_missing",
        "does not exist",
    );
}

#[test]
fn directory_instead_of_file() {
    let env = env_with_one();
    std::fs::create_dir(env.path("dir.mp4")).unwrap();
    rejected(
        &env,
        &env.path("dir.mp4"),
        "x",
        &[],
        3,
        "input_is_directory",
        "is a folder",
    );
}

#[test]
fn zero_bytes() {
    let env = env_with_one();
    std::fs::write(env.path("empty.mp4"), b"").unwrap();
    rejected(
        &env,
        &env.path("empty.mp4"),
        "x",
        &[],
        3,
        "input_empty",
        "empty (0 bytes)",
    );
}

#[test]
fn not_a_video() {
    let env = env_with_one();
    std::fs::write(
        env.path("notes.mp4"),
        "just some text, not a video\n".repeat(50),
    )
    .unwrap();
    rejected(
        &env,
        &env.path("notes.mp4"),
        "x",
        &[],
        3,
        "not_a_video",
        "not a video",
    );
}

#[test]
fn audio_only() {
    let env = env_with_one();
    let a = x264_clip("tone.m4a", "sine=duration=3", &["-c:a", "aac"]);
    rejected(&env, &a, "x", &[], 3, "decodable", "audio only");
}

#[test]
fn audio_with_cover_art_is_audio_only() {
    let env = env_with_one();
    let art = x264_clip("art.png", "color=c=red:size=320x320", &["-frames:v", "1"]);
    let a = make_clip(
        "cover.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=duration=3",
            "-i",
            art.to_str().unwrap(),
            "-map",
            "0",
            "-map",
            "1",
            "-c:a",
            "aac",
            "-c:v",
            "mjpeg",
            "-disposition:v:0",
            "attached_pic",
        ],
    );
    let probe = ffprobe(&a);
    assert!(
        probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["disposition"]["attached_pic"] == 1),
        "the fixture has cover art"
    );
    rejected(&env, &a, "x", &[], 3, "decodable", "cover art");
}

fn cut(src: &Path, dest: &Path, fraction: f64) {
    let data = std::fs::read(src).unwrap();
    std::fs::write(dest, &data[..(data.len() as f64 * fraction) as usize]).unwrap();
}

fn faststart_clip() -> PathBuf {
    x264_clip(
        "faststart-6s.mp4",
        "testsrc2=size=1280x720:rate=25:duration=6",
        &["-movflags", "+faststart"],
    )
}

#[test]
fn faststart_cut_at_three_quarters_is_truncated() {
    let env = env_with_one();
    let p = env.path("cut34.mp4");
    cut(&faststart_clip(), &p, 0.75);
    rejected(&env, &p, "x", &[], 3, "decodable", "truncated");
}

#[test]
fn faststart_cut_in_half_is_truncated() {
    let env = env_with_one();
    let p = env.path("half.mp4");
    cut(&faststart_clip(), &p, 0.5);
    rejected(&env, &p, "x", &[], 3, "decodable", "truncated");
}

#[test]
fn moov_at_end_cut_in_half_is_truncated() {
    let env = env_with_one();
    let src = testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false);
    let p = env.path("half-moov.mp4");
    cut(&src, &p, 0.5);
    rejected(&env, &p, "x", &[], 3, "decodable", "truncated");
}

#[test]
fn corrupt_frames_are_rejected() {
    let env = env_with_one();
    let src = faststart_clip();
    let mut data = std::fs::read(&src).unwrap();
    // Overwrite a stretch of the media data inside the first 4 s with noise.
    let start = data.len() / 5;
    let mut x: u32 = 12345;
    let span = data.len() / 10;
    for b in &mut data[start..start + span] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let p = env.path("corrupt.mp4");
    std::fs::write(&p, data).unwrap();
    rejected(
        &env,
        &p,
        "x",
        &[],
        3,
        "decodable",
        "does not decode cleanly",
    );
}

#[test]
fn too_small_bikes() {
    let env = env_with_one();
    rejected(
        &env,
        &fixture("bikes.mp4"),
        "x",
        &[],
        3,
        "resolution",
        "640x272 is below the 720p minimum (short side 720 px)",
    );
}

#[test]
fn too_short() {
    let env = env_with_one();
    let c = testsrc("0.5s.mp4", "1280x720", 25, 0.5, false);
    rejected(&env, &c, "x", &[], 3, "duration", "under the 1.0 s minimum");
}

#[test]
fn too_wide() {
    let env = env_with_one();
    let c = testsrc("wide.mp4", "2560x720", 25, 2.0, false);
    rejected(
        &env,
        &c,
        "x",
        &[],
        3,
        "aspect",
        "aspect 3.56 is over the 2.67 limit",
    );
}

#[test]
fn start_past_the_end() {
    let env = env_with_one();
    let c = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    rejected(
        &env,
        &c,
        "x",
        &["--start", "10"],
        3,
        "duration",
        "past the end",
    );
}

#[test]
fn non_mp4_with_strict() {
    let env = env_with_one();
    let c = x264_clip("clip.mkv", "testsrc2=size=1280x720:rate=25:duration=2", &[]);
    rejected(
        &env,
        &c,
        "x",
        &["--strict"],
        3,
        "container",
        "is not MP4 (--strict)",
    );
}

#[test]
fn bad_names() {
    let env = env_with_one();
    let c = fixture("bigbuckbunny.mp4");
    rejected(&env, &c, "   ", &[], 3, "name_empty", "the name is empty");
    rejected(
        &env,
        &c,
        &"x".repeat(81),
        &[],
        3,
        "name_too_long",
        "81 characters",
    );
    rejected(
        &env,
        &c,
        "bad\u{7}name",
        &[],
        3,
        "name_invalid",
        "control character U+0007",
    );
    rejected(
        &env,
        &c,
        "evil\u{202E}name",
        &[],
        3,
        "name_invalid",
        "bidi control U+202E",
    );
    rejected(
        &env,
        &c,
        "char_abcdefgh2345",
        &[],
        3,
        "name_invalid",
        "looks like a character ID",
    );
    // Taken, compared case-insensitively, by another clip.
    let other = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    rejected(&env, &other, "BUNNY", &[], 3, "name_taken", "is taken");
    // Eighty scalar values of a multi-byte letter fit.
    env.create(&other, &"é".repeat(80), &[]);
}

/// A FIFO that records whether anyone ever opened it for reading.
struct Tripwire {
    path: PathBuf,
    opened: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tripwire {
    fn new(path: PathBuf) -> Tripwire {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let opened = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (o, s, p) = (opened.clone(), stop.clone(), path.clone());
        let thread = std::thread::spawn(move || {
            use std::os::unix::fs::OpenOptionsExt;
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                // Opening a FIFO for writing without blocking succeeds only while a reader has it open.
                if std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&p)
                    .is_ok()
                {
                    o.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        Tripwire {
            path,
            opened,
            stop,
            thread: Some(thread),
        }
    }
    fn tripped(mut self) -> bool {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.opened.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn hls_playlist_renamed_mp4_never_reads_the_other_file() {
    let env = env_with_one();
    let wire = Tripwire::new(env.path("secret.ts"));
    let playlist = env.path("evil.mp4");
    std::fs::write(
        &playlist,
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{}\n#EXT-X-ENDLIST\n",
            wire.path.display()
        ),
    )
    .unwrap();
    rejected(&env, &playlist, "x", &[], 3, "not_a_video", "not a video");
    let probe = env.cmd().arg("probe").arg(&playlist).output().unwrap();
    assert_eq!(probe.status.code(), Some(3));
    assert!(
        !wire.tripped(),
        "castbook opened the file the playlist names"
    );
}

#[test]
fn ffconcat_renamed_mp4_never_reads_the_other_file() {
    let env = env_with_one();
    let wire = Tripwire::new(env.path("other.mp4"));
    let script = env.path("concat.mp4");
    std::fs::write(
        &script,
        format!("ffconcat version 1.0\nfile '{}'\n", wire.path.display()),
    )
    .unwrap();
    rejected(&env, &script, "x", &[], 3, "not_a_video", "not a video");
    let probe = env.cmd().arg("probe").arg(&script).output().unwrap();
    assert_eq!(probe.status.code(), Some(3));
    assert!(!wire.tripped(), "castbook opened the file the script names");
}

#[test]
fn ffmpeg_missing_is_exit_4_with_how_to_install() {
    let env = env_with_one();
    let c = fixture("bigbuckbunny.mp4");
    let before = snapshot(&env.lib());
    let out = env
        .cmd()
        .env("PATH", env.path("empty-bin"))
        .arg("create")
        .arg(&c)
        .args(["--name", "x", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "ffmpeg_missing");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("apt-get install ffmpeg")
    );
    assert_eq!(snapshot(&env.lib()), before);
    assert!(env.work_leftovers().is_empty());
}

#[test]
fn probe_reports_all_five_rules_in_order() {
    let env = Env::new();
    let out = env
        .cmd()
        .arg("probe")
        .arg(fixture("bikes.mp4"))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let rules: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["decodable", "container", "resolution", "aspect", "duration"]
    );
    let res = &v["checks"][2];
    assert_eq!(res["ok"], false);
    assert!(res["message"].as_str().unwrap().contains("640x272"));
    assert_eq!(v["metadata"]["video"]["width"], 640);

    let ok = env
        .cmd()
        .arg("probe")
        .arg(fixture("bigbuckbunny.mp4"))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true)
    );
    // probe has no side effects: no library was created.
    assert!(!env.lib().exists());
}

#[test]
fn probe_decodes_the_window() {
    let env = Env::new();
    let src = faststart_clip();
    let mut data = std::fs::read(&src).unwrap();
    let start = data.len() / 5;
    let span = data.len() / 10;
    for b in &mut data[start..start + span] {
        *b ^= 0x5A;
    }
    let p = env.path("corrupt.mp4");
    std::fs::write(&p, data).unwrap();
    let out = env
        .cmd()
        .arg("probe")
        .arg(&p)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checks"][0]["rule"], "decodable");
    assert_eq!(v["checks"][0]["ok"], false, "{v}");
}

#[test]
fn ctrl_c_mid_job_saves_nothing() {
    let env = Env::new();
    let c = testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false);
    std::fs::create_dir_all(env.lib()).unwrap();
    let before = snapshot(&env.lib());
    let child = env
        .cmd()
        .arg("create")
        .arg(&c)
        .args(["--name", "interrupted"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job's work folder exists (prepare has started), then interrupt.
    let t0 = std::time::Instant::now();
    while std::fs::read_dir(env.lib().join(".work"))
        .map(|rd| rd.flatten().count() < 2)
        .unwrap_or(true)
    {
        assert!(t0.elapsed().as_secs() < 60, "the job never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("cancelled"), "{}", stderr(&out));
    assert!(env.characters().is_empty());
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
    let after: BTreeMap<_, _> = snapshot(&env.lib());
    assert_eq!(after, before);
    // No ffmpeg is left running on the job's files.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", env.lib().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        stdout(&ps).trim().is_empty(),
        "ffmpeg still running: {}",
        stdout(&ps)
    );
}

/// Run castbook with `args`; a run that has not ended after a minute is killed and fails the
/// test (a reader blocked on a FIFO would otherwise hang the suite).
fn run_bounded(env: &Env, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let child = env
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("castbook {args:?} still runs after a minute");
        }
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// `probe --json` and `create --json` of `path`: exit 3, `code`, a message with `needle`,
/// and never "empty" or "permissions" for what is not an empty or unreadable file.
fn special_rejected(env: &Env, path: &Path, code: &str, needle: &str) {
    let before = snapshot(&env.lib());
    for args in [
        vec![os("probe"), path.as_os_str(), os("--json")],
        vec![
            os("create"),
            path.as_os_str(),
            os("--name"),
            os("x"),
            os("--json"),
        ],
        vec![
            os("create"),
            path.as_os_str(),
            os("--name"),
            os("x"),
            os("--start"),
            os("auto"),
            os("--json"),
        ],
    ] {
        let out = run_bounded(env, &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], code, "{args:?}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{args:?}: {msg:?} lacks {needle:?}");
        assert!(!msg.contains("empty"), "{msg}");
        assert!(!msg.contains("permissions"), "{msg}");
    }
    assert_eq!(snapshot(&env.lib()), before, "the library changed");
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
}

#[test]
fn a_fifo_is_rejected_without_being_opened() {
    let env = env_with_one();
    let wire = Tripwire::new(env.path("pipe.mp4"));
    special_rejected(&env, &wire.path, "input_not_a_file", "is a FIFO");
    assert!(!wire.tripped(), "castbook opened the FIFO");
}

#[test]
fn devices_sockets_and_link_loops_are_rejected_saying_what_they_are() {
    let env = env_with_one();
    special_rejected(
        &env,
        Path::new("/dev/zero"),
        "input_not_a_file",
        "is a character device",
    );
    let sock = env.path("sock.mp4");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    special_rejected(&env, &sock, "input_not_a_file", "is a socket");
    let (a, b) = (env.path("a.mp4"), env.path("b.mp4"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    special_rejected(&env, &a, "input_not_a_file", "symbolic link that loops");
    let dangling = env.path("gone.mp4");
    std::os::unix::fs::symlink(env.path("nowhere.mp4"), &dangling).unwrap();
    special_rejected(
        &env,
        &dangling,
        "input_missing",
        "link to a file that does not exist",
    );
    // A link to a real clip is a real clip.
    let link = env.path("link.mp4");
    std::os::unix::fs::symlink(fixture("bigbuckbunny.mp4"), &link).unwrap();
    let out = env.run_os(&[os("probe"), link.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn invisible_characters_in_names_are_refused_and_look_alikes_are_taken() {
    let env = env_with_one();
    let c = fixture("bigbuckbunny.mp4");
    for (name, needle) in [
        (
            "bun\u{200B}ny",
            "invisible character U+200B (zero-width space) at character 4",
        ),
        ("bunny\u{FEFF}", "invisible character U+FEFF"),
        ("bun\u{AD}ny", "invisible character U+00AD (soft hyphen)"),
        ("bun\u{2060}ny", "invisible character U+2060"),
    ] {
        rejected(&env, &c, name, &[], 3, "name_invalid", needle);
    }
    // Names are compared on what is seen: a no-break space is a space.
    let id = env.characters()[0].clone();
    let r = env.run(&["edit", &id, "--name", "big bunny"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let other = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    rejected(
        &env,
        &other,
        "Big\u{A0}Bunny",
        &[],
        3,
        "name_taken",
        "is taken",
    );
    rejected(
        &env,
        &other,
        "big   bunny",
        &[],
        3,
        "name_taken",
        "is taken",
    );
}

#[test]
fn control_characters_in_notes_and_tags_are_refused() {
    let env = env_with_one();
    let c = fixture("bigbuckbunny.mp4");
    rejected(
        &env,
        &c,
        "x",
        &["--notes", "hero\u{1b}]0;pwned\u{7}"],
        3,
        "notes_invalid",
        "the notes contain the control character U+001B (escape) at character 5",
    );
    rejected(
        &env,
        &c,
        "x",
        &["--notes", "two\nlines"],
        3,
        "notes_invalid",
        "U+000A (line feed)",
    );
    rejected(
        &env,
        &c,
        "x",
        &["--tag", "ok", "--tag", "b\u{1b}[2Jad"],
        3,
        "tag_invalid",
        "control character U+001B",
    );
    rejected(
        &env,
        &c,
        "x",
        &["--tag", "a\u{202E}b"],
        3,
        "tag_invalid",
        "bidi control U+202E",
    );
}
