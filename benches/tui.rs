//! Terminal app speed (SPEC section 8): a full 200x60 frame with a 10,000-character library
//! (target under 2 ms), and search latency per keystroke while a query is typed, narrowing
//! from the previous results as the app does, over 10,000 and 100,000 characters (targets:
//! p99 <= 16 ms and <= 50 ms). Criterion reports the means; the per-keystroke percentiles are
//! printed at the end. Searches run as the app runs them: narrowing from the previous
//! results when the query grows (for libraries this large, on a blocking task, so typing never
//! waits for them).
//!
//! Run: cargo bench --bench tui

use std::hint::black_box;
use std::time::{Duration, Instant};

use castbook::library::Character;
use castbook::library::record::{ClipRecord, PathTaken, SCHEMA, Source};
use castbook::library::search::{Hit, Searcher};
use castbook::tui::action::{Action, Msg};
use castbook::tui::app::{App, AppOptions, Focus};
use castbook::tui::keys::KeyMap;
use castbook::tui::library::can_narrow;
use castbook::tui::theme::{ColorMode, Theme};
use castbook::tui::ui;
use criterion::Criterion;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::UnboundedReceiver;

const SYLLABLES: &[&str] = &[
    "wol", "fa", "ri", "no", "va", "cap", "tain", "mo", "na", "zel", "da", "kor", "bi", "lu",
    "ster", "gan", "tho", "mir", "el", "sa", "dra", "ko", "pi", "xen",
];
const WORDS: &[&str] = &[
    "walks", "park", "dusk", "red", "coat", "hat", "smiles", "runs", "forest", "city", "night",
    "blue", "scarf", "mascot", "pilot", "hero", "villain", "dog", "cat", "robot",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn library(n: usize) -> Vec<Character> {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let parts = 2 + rng.next() % 2;
            let mut name: String = (0..parts).map(|_| rng.pick(SYLLABLES)).collect();
            name.push_str(&format!("_{i}"));
            let id: String = "char_"
                .chars()
                .chain((0..12).map(|_| ALPHA[(rng.next() % 32) as usize] as char))
                .collect();
            let notes: Vec<&str> = (0..10).map(|_| rng.pick(WORDS)).collect();
            Character {
                schema: SCHEMA,
                id,
                name,
                created_at: "2026-11-20T10:00:00Z".into(),
                source: Source {
                    path: Some("/clips/x.mp4".into()),
                    url: None,
                    size_bytes: 1,
                    blake3: String::new(),
                    extra: Default::default(),
                },
                start_s: 0.0,
                path_taken: PathTaken::Copy,
                clip: ClipRecord {
                    path: "clip.mp4".into(),
                    width: 1280,
                    height: 720,
                    duration_s: 4.0,
                    fps: 25.0,
                    size_bytes: 1,
                    has_audio: false,
                    extra: Default::default(),
                },
                keyframes: vec![],
                signature: serde_json::Value::Null.into(),
                warnings: vec![],
                notes: notes.join(" "),
                tags: vec![rng.pick(WORDS).into(), rng.pick(WORDS).into()],
                provider_ids: Default::default(),
                extra: Default::default(),
            }
        })
        .collect()
}

fn app_with(n: usize, dir: &std::path::Path) -> (App, UnboundedReceiver<Msg>) {
    let (mut app, rx) = App::new(AppOptions {
        library: castbook::library::Library::open(dir.join("lib")).unwrap(),
        keys: KeyMap::default(),
        theme: Theme::load("dark", None, ColorMode::TrueColor).unwrap(),
        start_path: dir.to_path_buf(),
        picker: None,
        home: None,
        default_start_s: 0.0,
        strict: false,
        local_clipboard: false,
        providers: Default::default(),
        default_provider: None,
        mouse: false,
    });
    let mut rx = rx;
    // The (empty) library on disk is read in the background: take it before filling the pane.
    while !app.loaded {
        let msg = futures::executor::block_on(rx.recv()).expect("the library");
        app.handle(msg);
    }
    app.library.set_characters(library(n), vec![]);
    (app, rx)
}

fn bench_render(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _rt = rt.enter();
    let (mut app, mut rx) = app_with(10_000, dir.path());
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render 200x60, 10k characters", |b| {
        b.iter(|| {
            terminal.draw(|f| ui::draw(f, black_box(&mut app))).unwrap();
        })
    });
    // With a search shown (match highlighting on the visible rows).
    app.focus = Focus::Library;
    app.handle(Msg::Action(Action::Search));
    for ch in "wol".chars() {
        app.handle(Msg::Key(KeyEvent::new(
            KeyCode::Char(ch),
            KeyModifiers::NONE,
        )));
    }
    // Large libraries are searched off the UI thread: take the answers.
    while app.library.searching() || app.library.hits_query != "wol" {
        let msg = rt.block_on(rx.recv()).expect("search answer");
        app.handle(msg);
    }
    assert!(!app.library.hits.is_empty());
    c.bench_function("render 200x60, 10k characters, search /wol", |b| {
        b.iter(|| {
            terminal.draw(|f| ui::draw(f, black_box(&mut app))).unwrap();
        })
    });
}

/// Type each query one character at a time, narrowing from the previous hits as the app does.
fn type_queries(s: &Searcher, queries: &[&str], lat: &mut Vec<Duration>) {
    for q in queries {
        let mut prev: Option<(&str, Vec<Hit>)> = None;
        for end in 1..=q.len() {
            let query = &q[..end];
            let t = Instant::now();
            let within = prev
                .as_ref()
                .filter(|(p, _)| can_narrow(p, query))
                .map(|(_, h)| h.as_slice());
            let hits = s.search(query, within);
            lat.push(t.elapsed());
            prev = Some((query, black_box(hits)));
        }
    }
}

const QUERIES: &[&str] = &["wolfa", "captain", "park", "zel_9", "char_ab", "nova"];

fn bench_search(c: &mut Criterion) {
    for n in [10_000, 100_000] {
        let s = Searcher::from_characters(&library(n));
        c.bench_function(&format!("search first keystroke, {n} characters"), |b| {
            b.iter(|| black_box(s.search(black_box("w"), None)))
        });
        c.bench_function(&format!("search typing 6 queries, {n} characters"), |b| {
            b.iter(|| {
                let mut lat = Vec::new();
                type_queries(&s, QUERIES, &mut lat);
                lat
            })
        });
    }
}

fn percentiles() {
    println!(
        "\nper-keystroke search latency (queries {QUERIES:?}, typed one character at a time):"
    );
    for n in [10_000, 100_000] {
        let s = Searcher::from_characters(&library(n));
        let mut lat = Vec::new();
        for _ in 0..20 {
            type_queries(&s, QUERIES, &mut lat);
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "  {n:>7} characters: {} keystrokes  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            lat.len(),
            p(0.50).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            lat.last().unwrap().as_secs_f64() * 1e3
        );
    }
}

/// Start-up: `App::new` over a library on disk, then the first frame, with 1 and with 10,000
/// characters, in the same run; the median of each and their ratio (target: within 1.5x).
fn first_frame() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _rt = rt.enter();
    let mut medians = Vec::new();
    for n in [1, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        for c in library(n) {
            let d = lib.join(&c.id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("character.json"), serde_json::to_vec(&c).unwrap()).unwrap();
        }
        let mut times = Vec::new();
        for _ in 0..15 {
            let t = Instant::now();
            let (mut app, mut rx) = App::new(AppOptions {
                library: castbook::library::Library::open(&lib).unwrap(),
                keys: KeyMap::default(),
                theme: Theme::load("dark", None, ColorMode::TrueColor).unwrap(),
                start_path: dir.path().to_path_buf(),
                picker: None,
                home: None,
                default_start_s: 0.0,
                strict: false,
                local_clipboard: false,
                providers: Default::default(),
                default_provider: None,
                mouse: false,
            });
            let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
            terminal.draw(|f| ui::draw(f, &mut app)).unwrap();
            times.push(t.elapsed());
            // Let the background read finish before the next run (not timed).
            while !app.loaded {
                let msg = rt.block_on(rx.recv()).expect("the library");
                app.handle(msg);
            }
            assert_eq!(app.library.characters.len(), n);
        }
        times.sort();
        medians.push(times[times.len() / 2]);
    }
    println!(
        "\nfirst frame (App::new + draw, 200x60): 1 character {:.2} ms, 10,000 characters {:.2} ms, ratio {:.2} (target <= 1.5)",
        medians[0].as_secs_f64() * 1e3,
        medians[1].as_secs_f64() * 1e3,
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    bench_render(&mut c);
    bench_search(&mut c);
    c.final_summary();
    percentiles();
    first_frame();
}
