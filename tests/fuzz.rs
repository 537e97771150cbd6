//! Fuzz targets on the stable toolchain: a small deterministic mutator over seeds made from
//! generated clips (their MP4 boxes, SPS and ffprobe JSON), a real record, and hand-written
//! names and configs. Each target runs for `CASTBOOK_FUZZ_SECS` seconds (default 3) and checks
//! real properties: no panic, allocation bounded by the input's size (a counting global
//! allocator), and round trips or invariants where the parser has them. A failing input is
//! saved under `target/fuzz-failures/` and printed; it then becomes a regression test.
//!
//!     CASTBOOK_FUZZ_SECS=60 cargo test --test fuzz -- --nocapture     # scripts/fuzz.sh
//!     CASTBOOK_FUZZ_SEED=7 ...                                        # another sequence

#[path = "common/boxes.rs"]
mod boxes;
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use castbook::config::Config;
use castbook::library::name::{looks_like_id, name_key, normalize_name, normalize_tag};
use castbook::library::record::Character;
use castbook::pipeline::{h264, mp4, prepare, probe, validate};
use common::*;

// ---------------------------------------------------------------------------------------------
// Allocation accounting: bytes live on this thread and their peak during one target call.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// No single allocation of a target may be this large; the process stops before asking.
const HUGE: usize = 1 << 30;

fn count(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get().wrapping_add(delta);
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

/// The input being run, for `refuse_huge` to save.
static CURRENT: (AtomicPtr<u8>, AtomicUsize) =
    (AtomicPtr::new(std::ptr::null_mut()), AtomicUsize::new(0));

fn refuse_huge(size: usize) {
    if size >= HUGE {
        // Without allocating: save the input, say so, abort.
        let msg = b"fuzz: an allocation of 1 GB or more was requested; input saved as /tmp/castbook-fuzz-huge.bin\n";
        unsafe {
            let fd = libc::open(
                c"/tmp/castbook-fuzz-huge.bin".as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                0o644,
            );
            if fd >= 0 {
                let p = CURRENT.0.load(Ordering::SeqCst);
                libc::write(fd, p.cast(), CURRENT.1.load(Ordering::SeqCst));
                libc::close(fd);
            }
            libc::write(2, msg.as_ptr().cast(), msg.len());
        }
        std::process::abort();
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        refuse_huge(l.size());
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        refuse_huge(l.size());
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        count(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        refuse_huge(new);
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            count(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f`, returning its result and the most bytes it had allocated at once on this thread.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

// ---------------------------------------------------------------------------------------------
// The mutator.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const INTERESTING: [u32; 20] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_fff0,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    12800,
];

/// Byte-level mutations, biased to 32-bit big-endian fields (box sizes, counts, offsets).
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], max_len: usize) {
    for _ in 0..1 + rng.below(6) {
        let len = data.len();
        let at = rng.below(len);
        match rng.below(10) {
            0 if len > 0 => data[at] ^= 1 << rng.below(8),
            1 if len > 0 => data[at] = rng.next() as u8,
            2 | 3 if len >= 4 => {
                let at = rng.below(len - 3) & !if rng.chance(2) { 3 } else { 0 };
                let v = INTERESTING[rng.below(INTERESTING.len())];
                data[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            4 if len >= 4 => {
                let at = rng.below(len - 3);
                let v = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
                let d = rng.below(33) as u32;
                let v = if rng.chance(2) {
                    v.wrapping_add(d)
                } else {
                    v.wrapping_sub(d)
                };
                data[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            5 if len > 0 => {
                let n = 1 + rng.below((len - at).min(64));
                data.drain(at..at + n);
            }
            6 if len > 0 => {
                let n = 1 + rng.below((len - at).min(64));
                let chunk = data[at..at + n].to_vec();
                let to = rng.below(len);
                data.splice(to..to, chunk);
            }
            7 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - from).min(256));
                    let end = (at + n).min(len);
                    data.splice(at..end, other[from..from + n].iter().copied());
                }
            }
            8 if len > 1 => data.truncate(1 + rng.below(len - 1)),
            _ => {
                let to = rng.below(len + 1);
                data.insert(to, INTERESTING[rng.below(INTERESTING.len())] as u8);
            }
        }
    }
    data.truncate(max_len);
}

const JSON_VALUES: [&str; 24] = [
    "\"-1\"",
    "\"0\"",
    "\"1e308\"",
    "\"inf\"",
    "\"nan\"",
    "\"-inf\"",
    "\"0/0\"",
    "\"1/0\"",
    "\"1e308/1e-308\"",
    "\"99999999999999999999\"",
    "-1",
    "1e308",
    "18446744073709551615",
    "null",
    "[]",
    "{}",
    "\"\"",
    "\"90\"",
    "-90",
    "1e400",
    "\"yuv420p10le\"",
    "\"smpte2084\"",
    "\"K_\"",
    "\"\\u0000\\u001b[2J\"",
];

/// Replace the value after a random `:` with an interesting one, or mutate bytes.
fn mutate_json(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], max_len: usize) {
    for _ in 0..1 + rng.below(4) {
        if rng.chance(4) {
            mutate_bytes(rng, data, seeds, max_len);
            continue;
        }
        let colons: Vec<usize> = (0..data.len()).filter(|&i| data[i] == b':').collect();
        if colons.is_empty() {
            continue;
        }
        let at = colons[rng.below(colons.len())] + 1;
        let end = (at..data.len())
            .find(|&i| matches!(data[i], b',' | b'}' | b'\n'))
            .unwrap_or(data.len());
        let v = JSON_VALUES[rng.below(JSON_VALUES.len())];
        data.splice(at..end, format!(" {v}").into_bytes());
    }
    data.truncate(max_len);
}

/// Characters names and tags are hard on: combining marks, bidi and zero-width controls,
/// look-alikes of `char_`, fullwidth forms, controls, case pairs that change length.
const PALETTE: [char; 32] = [
    'a', 'Z', ' ', '_', '-', ';', 'c', 'h', 'r', '\u{301}', '\u{308}', '\u{202E}', '\u{2066}',
    '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{7}', '\u{1b}', '\u{85}', 'с', 'һ', 'а', 'ｃ', '＿',
    'İ', 'ß', 'ﬃ', 'Σ', '\u{3000}', '😀', 'é', 'Å',
];

fn mutate_text(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], max_len: usize) {
    if rng.chance(4) {
        mutate_bytes(rng, data, seeds, max_len);
        return;
    }
    let mut chars: Vec<char> = String::from_utf8_lossy(data).chars().collect();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 | 1 => chars.insert(at, PALETTE[rng.below(PALETTE.len())]),
            2 if at < chars.len() => {
                chars.remove(at);
            }
            _ => {
                let n = rng.below(90);
                let c = PALETTE[rng.below(PALETTE.len())];
                chars.splice(at..at, std::iter::repeat_n(c, n));
            }
        }
    }
    let s: String = chars.into_iter().collect();
    *data = s.into_bytes();
    data.truncate(max_len);
}

// ---------------------------------------------------------------------------------------------
// The driver.

type Mutator = fn(&mut Rng, &mut Vec<u8>, &[Vec<u8>], usize);

struct Target<'a> {
    name: &'a str,
    seeds: Vec<Vec<u8>>,
    max_len: usize,
    mutate: Mutator,
    /// The most bytes a call may allocate at once for an input of this many bytes.
    budget: fn(usize) -> usize,
    /// The properties; Err says which one failed.
    check: &'a dyn Fn(&[u8]) -> Result<(), String>,
}

fn secs() -> f64 {
    std::env::var("CASTBOOK_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

fn failure_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("fuzz-failures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

thread_local! {
    /// A target call is running on this thread: its panics are caught and reported with the
    /// input, so the panic hook stays quiet.
    static IN_TARGET: Cell<bool> = const { Cell::new(false) };
}

/// Install (once) a panic hook that is quiet inside target calls and as before elsewhere.
fn quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_TARGET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Run one input; Err with what went wrong.
fn run_one(t: &Target, input: &[u8]) -> Result<(), String> {
    quiet_hook();
    IN_TARGET.with(|f| f.set(true));
    let out = run_checked(t, input);
    IN_TARGET.with(|f| f.set(false));
    out
}

fn run_checked(t: &Target, input: &[u8]) -> Result<(), String> {
    CURRENT.0.store(input.as_ptr().cast_mut(), Ordering::SeqCst);
    CURRENT.1.store(input.len(), Ordering::SeqCst);
    let (result, peak) =
        peak_of(|| std::panic::catch_unwind(AssertUnwindSafe(|| (t.check)(input))));
    match result {
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
        Ok(Err(why)) => Err(why),
        Ok(Ok(())) if peak > (t.budget)(input.len()) => Err(format!(
            "allocated {peak} bytes at once for a {}-byte input (budget {})",
            input.len(),
            (t.budget)(input.len())
        )),
        Ok(Ok(())) => Ok(()),
    }
}

fn fuzz(t: Target) {
    assert!(!t.seeds.is_empty(), "{}: no seeds", t.name);
    let seed = std::env::var("CASTBOOK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = Rng(seed
        ^ t.name
            .bytes()
            .fold(0u64, |h, b| h.rotate_left(5) ^ b as u64)
        | 1);
    let limit = Duration::from_secs_f64(secs());
    let t0 = Instant::now();
    let mut execs = 0u64;
    let fail = |input: &[u8], why: String| -> ! {
        let path = failure_dir().join(format!(
            "{}-{}.bin",
            t.name,
            blake3::hash(input)
                .to_hex()
                .as_str()
                .get(..16)
                .unwrap_or_default()
        ));
        std::fs::write(&path, input).unwrap();
        panic!(
            "fuzz {}: {why}\ninput saved as {} ({} bytes): {:02x?}",
            t.name,
            path.display(),
            input.len(),
            &input[..input.len().min(512)]
        );
    };
    for s in &t.seeds {
        if let Err(why) = run_one(&t, s) {
            fail(s, format!("a seed fails: {why}"));
        }
        execs += 1;
    }
    let mut input = Vec::new();
    while t0.elapsed() < limit {
        input.clear();
        input.extend_from_slice(&t.seeds[rng.below(t.seeds.len())]);
        (t.mutate)(&mut rng, &mut input, &t.seeds, t.max_len);
        if let Err(why) = run_one(&t, &input) {
            fail(&input, why);
        }
        execs += 1;
    }
    let took = t0.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {:<8} {execs:>9} executions in {took:>5.1} s ({:>7.0}/s), {} seeds",
        t.name,
        execs as f64 / took,
        t.seeds.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Seeds.

/// The generated clips the seeds come from: small, with and without audio, +faststart and
/// not, B-frames, rotated, and a Matroska copy.
fn seed_clips() -> Vec<PathBuf> {
    let src = "testsrc2=size=320x240:rate=25:duration=1";
    let sine = "sine=frequency=440:duration=1";
    vec![
        x264_clip("fuzz-plain.mp4", src, &["-g", "10"]),
        make_clip(
            "fuzz-audio-faststart.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                src,
                "-f",
                "lavfi",
                "-i",
                sine,
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                "-movflags",
                "+faststart",
            ],
        ),
        x264_clip(
            "fuzz-bframes.mp4",
            src,
            &["-preset", "veryfast", "-bf", "3"],
        ),
        x264_clip("fuzz-rotated.mp4", src, &["-metadata:s:v", "rotate=90"]),
        x264_clip(
            "fuzz-yuvj-high10.mp4",
            src,
            &["-pix_fmt", "yuv420p10le", "-color_range", "pc"],
        ),
        make_clip(
            "fuzz-copy.mkv",
            &[
                "-i",
                x264_clip("fuzz-plain.mp4", src, &["-g", "10"])
                    .to_str()
                    .unwrap(),
                "-c",
                "copy",
            ],
        ),
    ]
}

/// A clip's top-level boxes with `mdat` cut to 64 bytes (its header says so): the layout and
/// tables of a real file at a fraction of the size.
fn boxes_only(clip: &Path) -> Vec<u8> {
    let data = std::fs::read(clip).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let size = if size == 0 { data.len() - at } else { size };
        if size < 8 || at + size > data.len() {
            break;
        }
        if &kind == b"mdat" {
            out.extend(boxes::bx(b"mdat", &data[at + 8..at + 72.min(size)]));
        } else {
            out.extend_from_slice(&data[at..at + size]);
        }
        at += size;
    }
    out
}

fn mp4_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = seed_clips()
        .iter()
        .filter(|c| c.extension().is_some_and(|e| e == "mp4"))
        .map(|c| boxes_only(c))
        .collect();
    let mut b = boxes::Tables::constant(12, 40, 0);
    b.ctts = Some(vec![(2, 1024), (10, 512)]);
    b.edit_media_time = Some(1024);
    seeds.push(boxes::movie(&[boxes::video_trak(&b)], &[0; 64]));
    let mut u = boxes::Tables::constant(1, 1, 0);
    u.uniform_size = 3;
    u.sizes.clear();
    u.sample_count = 20;
    u.stsc = vec![(1, 4), (3, 2)];
    u.chunk_offsets = vec![40, 60, 80, 100, 120, 140];
    u.rotate_90 = true;
    seeds.push(boxes::movie(&[boxes::video_trak(&u)], &[0; 64]));
    seeds
}

fn avcc_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![boxes::avcc()];
    for clip in seed_clips() {
        if let Some(top) = mp4::top_level(&clip).unwrap()
            && let Some(moov) = &top.moov
        {
            seeds.extend(
                mp4::tracks(moov, top.size)
                    .into_iter()
                    .filter_map(|t| t.avcc),
            );
        }
    }
    seeds
}

/// What castbook asks ffprobe for: streams and format (with a packet count), and the window's
/// packets.
fn ffprobe_json(clip: &Path) -> (Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-hide_banner", "-of", "json"])
            .args(args)
            .arg(clip)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    (
        run(&["-count_packets", "-show_format", "-show_streams"]),
        run(&[
            "-read_intervals",
            "%+4.5",
            "-show_entries",
            "packet=stream_index,pts_time,flags",
        ]),
    )
}

/// ffprobe's two answers in one input, split at the first NUL byte.
fn join_json(head: &[u8], packets: &[u8]) -> Vec<u8> {
    let mut v = head.to_vec();
    v.push(0);
    v.extend_from_slice(packets);
    v
}

fn split_json(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|&b| b == 0) {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

/// A record made by the real binary (cached), plus variants with what editors and providers
/// add.
fn record_seeds() -> Vec<Vec<u8>> {
    let cached = clip_cache().join("fuzz-record.json");
    if !cached.exists() {
        let env = Env::new();
        let clip = testsrc("720p-2s.mp4", "1280x720", 25, 2.0, false);
        let rec = env.create(
            &clip,
            "Captain Nova",
            &["--tag", "pilot", "--tag", "hero", "--notes", "a note"],
        );
        let id = rec["id"].as_str().unwrap();
        let text = std::fs::read(env.lib().join(id).join("character.json")).unwrap();
        let tmp = clip_cache().join(format!(".fuzz-record-{}", std::process::id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &cached).unwrap();
    }
    let real = std::fs::read(&cached).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&real).unwrap();
    let mut seeds = vec![real];
    v["provider_ids"] = serde_json::json!({"sora": "task-1", "mine": "cmd-7"});
    v["future_field"] = serde_json::json!({"nested": [1, 2.5, "x"]});
    v["source"]["url"] = "https://example.com/clip.mp4".into();
    v["clip"]["color"] = "bt709".into();
    seeds.push(serde_json::to_vec_pretty(&v).unwrap());
    seeds
}

fn name_seeds() -> Vec<Vec<u8>> {
    [
        "Captain Nova",
        "  Jose\u{301}  ",
        "char_abcdefgh2345",
        "ｃｈａｒ＿x",
        "wolf\u{202E}gang",
        "Straße",
        "İstanbul",
        "a;b;c",
        "tag with   spaces",
        "😀",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn config_seeds() -> Vec<Vec<u8>> {
    [
        "library = \"/tmp/lib\"\ntheme = \"dark\"\n",
        "[defaults]\nstart = 1.5\nstrict = true\nfolder = \"/home/x\"\nprovider = \"sora\"\n",
        "[fetch]\nmax_mb = 500\nconnect_timeout_s = 15\nidle_timeout_s = 30\n",
        "[keys]\nquit = \"q\"\nsearch = \"/\"\n",
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"sk\"\ntimeout_s = 10\nmax_retries = 2\n",
        "[providers.mine]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo\", \"{clip}\"]\n",
        "theme = 'é'\n[defaults]\nstart = 1e400\n",
        "[defaults]\nstarts = 1\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The targets.

fn check_mp4(input: &[u8]) -> Result<(), String> {
    let Some(top) = mp4::top_level_of(&mut Cursor::new(input), input.len() as u64)
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let _ = mp4::summarise(&top);
    let Some(moov) = &top.moov else {
        return Ok(());
    };
    for t in mp4::tracks(moov, top.size) {
        if t.count > mp4::MAX_SAMPLES {
            return Err(format!("{} samples read", t.count));
        }
        if t.uniform_size == 0 && t.count as usize > t.sizes.len() {
            return Err(format!("{} samples, {} sizes", t.count, t.sizes.len()));
        }
        let walked = t.samples().count() as u64;
        if walked > t.sample_count() {
            return Err(format!("walked {walked} of {} samples", t.count));
        }
        if t.samples()
            .any(|s| !s.pts_s.is_finite() || !s.duration_s.is_finite())
        {
            return Err("a sample time is not finite".into());
        }
        if t.keyframe_times(60.0).len() > mp4::MAX_KEYFRAMES {
            return Err("too many keyframes".into());
        }
        let _ = (t.data_end(), t.data_bytes());
    }
    for start in [0.0, 1.5] {
        if let Some(info) = probe::from_movie(Path::new("/fuzz.mp4"), &top, start) {
            let w = &info.window;
            if !(0.0..=probe::WINDOW_S).contains(&w.len_s) || !w.fps.is_finite() || w.fps <= 0.0 {
                return Err(format!("window {w:?}"));
            }
            let frames = info.video.as_ref().and_then(|v| v.nb_frames).unwrap_or(0);
            if w.frames > frames {
                return Err(format!("{} window frames of {frames}", w.frames));
            }
            serde_json::to_string(&info).map_err(|e| e.to_string())?;
            check_rules(&info);
        }
    }
    Ok(())
}

/// The rules and, for a valid clip, the ffmpeg runs it calls for: neither may panic.
fn check_rules(info: &probe::ClipInfo) {
    let verdict = validate::validate(
        info,
        &validate::Options { strict: false },
        &validate::Decode::Pending,
    );
    if verdict.valid {
        let _ = prepare::fingerprint(info, Path::new("/work"));
    }
}

fn check_avcc(input: &[u8]) -> Result<(), String> {
    for info in [h264::parse_avcc(input), h264::parse_sps(input)]
        .into_iter()
        .flatten()
    {
        if !(8..=14).contains(&info.bit_depth) || info.chroma_format_idc > 3 {
            return Err(format!("{info:?}"));
        }
        if info.pix_fmt().is_empty() {
            return Err("no pixel format".into());
        }
    }
    Ok(())
}

fn check_ffprobe(input: &[u8]) -> Result<(), String> {
    let (head, packets) = split_json(input);
    let Ok(info) = probe::from_ffprobe(Path::new("/fuzz.mkv"), 1000, head, packets, 0.0) else {
        return Ok(());
    };
    let w = &info.window;
    if !(0.0..=probe::WINDOW_S).contains(&w.len_s) {
        return Err(format!("window length {}", w.len_s));
    }
    if info.video.is_some() && (!w.fps.is_finite() || w.fps <= 0.0) {
        return Err(format!("window rate {}", w.fps));
    }
    if let Some(v) = &info.video
        && (!v.fps.is_finite() || !v.avg_fps.is_finite() || !v.duration_s.is_finite())
    {
        return Err(format!("{v:?}"));
    }
    if !info.duration_s.is_finite() {
        return Err(format!("duration {}", info.duration_s));
    }
    serde_json::to_string(&info).map_err(|e| e.to_string())?;
    check_rules(&info);
    Ok(())
}

fn check_record(input: &[u8]) -> Result<(), String> {
    let Ok(c) = serde_json::from_slice::<Character>(input) else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&c).map_err(|e| format!("serialise: {e}"))?;
    let again: Character =
        serde_json::from_str(&text).map_err(|e| format!("its own output does not parse: {e}"))?;
    if again != c {
        return Err(format!("round trip changed the record:\n{c:?}\n{again:?}"));
    }
    let text2 = serde_json::to_string_pretty(&again).unwrap();
    if text2 != text {
        return Err(format!("not stable:\n{text}\n{text2}"));
    }
    Ok(())
}

fn check_names(input: &[u8]) -> Result<(), String> {
    let raw = String::from_utf8_lossy(input);
    if let Ok(n) = normalize_name(&raw) {
        match normalize_name(&n) {
            Ok(m) if m == n => {}
            other => return Err(format!("{n:?} normalises again to {other:?}")),
        }
        if n.chars().count() > 80 || n.trim() != n || n.is_empty() {
            return Err(format!("{n:?} breaks the shape rules"));
        }
        if let Some(c) = n.chars().find(|c| c.is_control()) {
            return Err(format!("{n:?} keeps the control U+{:04X}", c as u32));
        }
        if looks_like_id(&n) {
            return Err(format!("{n:?} looks like an ID"));
        }
        if name_key(&n) != name_key(&raw) {
            return Err(format!("{raw:?} and its name {n:?} compare differently"));
        }
    }
    let tag = normalize_tag(&raw);
    if normalize_tag(&tag) != tag {
        return Err(format!("tag {tag:?} normalises again"));
    }
    if tag.contains(';') || tag.chars().any(char::is_control) || tag.trim() != tag {
        return Err(format!("tag {tag:?}"));
    }
    Ok(())
}

fn check_config(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    if let Err(msg) = Config::parse(&text) {
        if msg.is_empty() {
            return Err("an empty error".into());
        }
        if let Some(rest) = msg.strip_prefix("line ") {
            let n: usize = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| format!("no line number in {msg:?}"))?;
            if n == 0 || n > text.lines().count() + 1 {
                return Err(format!("line {n} of {}: {msg}", text.lines().count()));
            }
        }
    }
    Ok(())
}

#[test]
fn mp4_reader() {
    fuzz(Target {
        name: "mp4",
        seeds: mp4_seeds(),
        max_len: 256 * 1024,
        mutate: mutate_bytes,
        budget: |n| 4 * n + (1 << 20),
        check: &check_mp4,
    });
}

#[test]
fn h264_sps() {
    fuzz(Target {
        name: "sps",
        seeds: avcc_seeds(),
        max_len: 4096,
        mutate: mutate_bytes,
        budget: |n| 2 * n + 1024,
        check: &check_avcc,
    });
}

#[test]
fn ffprobe_answers() {
    let seeds = seed_clips()
        .iter()
        .map(|c| {
            let (h, p) = ffprobe_json(c);
            join_json(&h, &p)
        })
        .collect();
    fuzz(Target {
        name: "ffprobe",
        seeds,
        max_len: 256 * 1024,
        mutate: mutate_json,
        budget: |n| 32 * n + (1 << 20),
        check: &check_ffprobe,
    });
}

#[test]
fn record_parser() {
    fuzz(Target {
        name: "record",
        seeds: record_seeds(),
        max_len: 64 * 1024,
        mutate: mutate_json,
        budget: |n| 32 * n + (1 << 20),
        check: &check_record,
    });
}

#[test]
fn name_rules() {
    fuzz(Target {
        name: "names",
        seeds: name_seeds(),
        max_len: 4096,
        mutate: mutate_text,
        budget: |n| 64 * n + (64 << 10),
        check: &check_names,
    });
}

#[test]
fn config_parser() {
    fuzz(Target {
        name: "config",
        seeds: config_seeds(),
        max_len: 16 * 1024,
        mutate: mutate_text,
        budget: |n| 64 * n + (1 << 20),
        check: &check_config,
    });
}
