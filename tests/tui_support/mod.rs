//! Shared helpers for the terminal app tests: generated clips, synthetic characters, an app
//! over a temporary folder, pumping background messages, rendering into a TestBackend.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use castbook::library::record::{ClipRecord, PathTaken, SCHEMA, Source};
use castbook::library::{Character, Library};
use castbook::tui::action::{Action, Msg};
use castbook::tui::app::{App, AppOptions};
use castbook::tui::keys::KeyMap;
use castbook::tui::theme::{ColorMode, Theme};
use castbook::tui::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::UnboundedReceiver;

/// A testsrc2 clip made by ffmpeg; its modification time is set 3 days back so the files
/// pane shows a stable age.
pub fn gen_clip(dir: &Path, name: &str, w: u32, h: u32, seconds: f64) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}:rate=25:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    set_age(&out);
    out
}

/// A clip of testsrc2 with a black stretch from `black.0` to `black.1` seconds (a fade
/// through black), `seconds` long in all.
pub fn gen_clip_with_black(dir: &Path, name: &str, seconds: f64, black: (f64, f64)) -> PathBuf {
    let out = dir.join(name);
    let src = |d: f64| format!("testsrc2=size=1280x720:rate=25:duration={d}");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(src(black.0))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "color=black:size=1280x720:rate=25:duration={}",
            black.1 - black.0
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(src(seconds - black.1))
        .args([
            "-filter_complex",
            "[0][1][2]concat=n=3:v=1:a=0,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    set_age(&out);
    out
}

pub fn set_age(path: &Path) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400 + 60))
        .unwrap();
}

/// IDs of the form char_[a-z2-7]{12}, from a number.
pub fn fake_id(n: usize) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut s = String::from("char_");
    let mut v = n as u64 * 2_654_435_761 + 12_345;
    for _ in 0..12 {
        s.push(ALPHA[(v % 32) as usize] as char);
        v /= 32;
        v = v.wrapping_mul(31).wrapping_add(7);
    }
    s
}

pub fn fake_character(n: usize, name: &str, tags: &[&str], notes: &str) -> Character {
    Character {
        schema: SCHEMA,
        id: fake_id(n),
        name: name.to_string(),
        created_at: format!("2026-11-{:02}T10:00:00Z", 1 + n % 28),
        source: Source {
            path: Some(format!("/clips/{name}.mp4")),
            url: None,
            size_bytes: 1_000_000,
            blake3: "0".repeat(64),
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
            size_bytes: 900_000,
            has_audio: false,
            extra: Default::default(),
        },
        keyframes: vec![],
        signature: serde_json::json!({"version": 1}).into(),
        warnings: vec![],
        notes: notes.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        provider_ids: Default::default(),
        extra: Default::default(),
    }
}

/// Write records straight into a library folder.
pub fn write_characters(lib: &Path, chars: &[Character]) {
    for c in chars {
        let dir = lib.join(&c.id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("character.json"),
            serde_json::to_vec_pretty(c).unwrap(),
        )
        .unwrap();
    }
}

pub struct Harness {
    pub app: App,
    pub rx: UnboundedReceiver<Msg>,
    pub root: tempfile::TempDir,
}

impl Harness {
    /// An app whose home is a temporary folder, browsing `<home>/clips` (or `start` under
    /// it), with the library in `<home>/lib`.
    pub fn new(setup: impl FnOnce(&Path, &Path)) -> Harness {
        Self::with_start(setup, "clips", false)
    }

    pub fn with_start(setup: impl FnOnce(&Path, &Path), start: &str, previews: bool) -> Harness {
        Self::with_keys(setup, start, previews, KeyMap::default())
    }

    pub fn with_keys(
        setup: impl FnOnce(&Path, &Path),
        start: &str,
        previews: bool,
        keys: KeyMap,
    ) -> Harness {
        let picker = previews.then(ratatui_image::picker::Picker::halfblocks);
        Self::build(setup, start, picker, keys, "")
    }

    /// An app that shows previews with `picker` (a protocol the terminal said it speaks).
    pub fn with_picker(
        setup: impl FnOnce(&Path, &Path),
        start: &str,
        picker: ratatui_image::picker::Picker,
    ) -> Harness {
        Self::build(setup, start, Some(picker), KeyMap::default(), "")
    }

    /// An app with the `[providers.NAME]` tables and `[defaults] provider` of `config`.
    pub fn with_config(setup: impl FnOnce(&Path, &Path), start: &str, config: &str) -> Harness {
        Self::build(setup, start, None, KeyMap::default(), config)
    }

    fn build(
        setup: impl FnOnce(&Path, &Path),
        start: &str,
        picker: Option<ratatui_image::picker::Picker>,
        keys: KeyMap,
        config: &str,
    ) -> Harness {
        let cfg = castbook::config::Config::parse(config).expect("test config parses");
        let providers = castbook::provider::Registry::from_config(&cfg).expect("providers");
        let root = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(root.path()).unwrap();
        let clips = home.join("clips");
        let lib = home.join("lib");
        std::fs::create_dir_all(&clips).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        setup(&clips, &lib);
        let (app, rx) = App::new(AppOptions {
            library: Library::open(&lib).unwrap(),
            keys,
            theme: Theme::load("default", None, ColorMode::None).unwrap(),
            start_path: home.join(start),
            picker,
            home: Some(home),
            default_start_s: 0.0,
            strict: false,
            local_clipboard: false,
            providers,
            default_provider: cfg.defaults.provider.clone(),
            mouse: true,
        });
        let mut h = Harness { app, rx, root };
        h.wait_loaded();
        h
    }

    /// Handle messages until the library has been read (the first frame does not wait for
    /// it; the tests start from a loaded library).
    pub fn wait_loaded(&mut self) {
        while !self.app.loaded {
            let msg = futures::executor::block_on(self.rx.recv()).expect("the app's channel");
            self.app.handle(msg);
        }
    }

    pub fn home(&self) -> PathBuf {
        std::fs::canonicalize(self.root.path()).unwrap()
    }

    /// Handle background messages until `done` holds (panics after `timeout`).
    pub async fn pump_until(&mut self, timeout: Duration, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(msg)) => self.app.handle(msg),
                _ => panic!("timed out waiting for {what}\n{}", self.render(100, 30)),
            }
        }
    }

    pub fn action(&mut self, a: Action) {
        self.app.handle(Msg::Action(a));
    }

    pub fn key(&mut self, code: KeyCode) {
        self.app
            .handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    pub fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    pub fn render(&mut self, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| ui::draw(f, &mut self.app)).unwrap();
        terminal.backend().to_string()
    }
}
