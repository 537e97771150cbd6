//! The app state and `update`, the one place it changes. Keys become actions through the
//! key map (or text while a field is being typed in); background work (probes, previews,
//! searches, jobs) reports back as `Msg`s on the app's channel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Margin, Position, Rect};
use ratatui_image::picker::Picker;
use ratatui_image::protocol::StatefulProtocol;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::tui::effect::{Effect, Executor};
use tokio_util::sync::CancellationToken;
use tui_input::{Input as TextInput, InputRequest};

use crate::library::name::{name_key, normalize_name};
use crate::library::record::usage_lines;
use crate::library::{Character, Library};
use crate::pipeline::job::{self, CreateOptions, Input, Reporter};
use crate::provider::{self, AnyProvider, Provider, Registration, Registry};
use crate::tui::action::{Action, LibraryDone, Msg};
use crate::tui::analysis::ClipAnalysis;
use crate::tui::clip::{AnalysisState, ClipPane, ProbeState, START_BIG_STEP_S, START_STEP_S, Want};
use crate::tui::clipboard;
use crate::tui::component::{Pane, Reply};
use crate::tui::files::{EntryKind, FilesPane};
use crate::tui::jobs::{JobKind, JobState, Jobs, REMOTE_LOG};
use crate::tui::keys::{Key, KeyMap, Scope};
use crate::tui::library::{LibraryPane, SearchRequest};
use crate::tui::preview;
use crate::tui::theme::Theme;
use crate::tui::ui::fit;
use crate::util::escape_display;

/// Columns a character's name takes at most in a status message that carries its ID, so the
/// ID always shows at 80 columns.
const STATUS_NAME_W: usize = 24;
/// Rows a page key moves.
const PAGE: usize = 10;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Files,
    Clip,
    Library,
    Jobs,
}

impl Focus {
    pub fn scope(self) -> Scope {
        match self {
            Focus::Files => Scope::Files,
            Focus::Clip => Scope::Clip,
            Focus::Library => Scope::Library,
            Focus::Jobs => Scope::Jobs,
        }
    }
}

/// A text field in a popup.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    /// A path or an http(s) URL to open.
    Path,
    /// The name of the character to create from the clip.
    Name,
    Rename(String),
    Notes(String),
    Tags(String),
    Export,
    /// The provider to register the character with this ID with.
    Provider(String),
    /// The model to say what to send for the character with this ID.
    Model(String),
}

impl PromptKind {
    pub fn title(&self) -> &'static str {
        match self {
            PromptKind::Path => "Open a path or URL",
            PromptKind::Name => "Name the new character",
            PromptKind::Rename(_) => "Rename",
            PromptKind::Notes(_) => "Notes",
            PromptKind::Tags(_) => "Tags (comma separated)",
            PromptKind::Export => "Export to (.csv or .json)",
            PromptKind::Provider(_) => "Register with provider",
            PromptKind::Model(_) => "What to send which model",
        }
    }
}

#[derive(Debug)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextInput,
    /// What is wrong with the text so far (validated as it is typed).
    pub error: Option<String>,
    /// The text is still the suggestion it opened with (the Files folder): typing the start
    /// of a path of its own (`/`, `~`) or pasting a path or URL replaces it.
    pub suggested: bool,
}

impl Prompt {
    /// Whether `typed` starts a path or URL of its own, which replaces an untouched
    /// suggestion rather than being appended to it.
    fn starts_afresh(&self, typed: &str) -> bool {
        self.suggested
            && self.kind == PromptKind::Path
            && self.input.cursor() == self.input.value().chars().count()
            && (typed.starts_with('/')
                || typed.starts_with('~')
                || typed.starts_with("http://")
                || typed.starts_with("https://"))
    }
}

/// What a reader overlay shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ReaderKind {
    /// A job's log.
    Job(u64),
    /// The logs of the jobs folded away.
    History,
    /// A character's details.
    Character(String),
    /// Text worked out once (what to send a model): a title and its lines.
    Text(String, Vec<String>),
}

/// A read-only text overlay, scrolled with the list keys; Esc closes it.
#[derive(Debug, Clone)]
pub struct Reader {
    pub kind: ReaderKind,
    /// First row shown (clamped to the text when drawn).
    pub scroll: usize,
}

/// How long a done job stays in the jobs strip before it folds away.
pub const FOLD_AFTER: Duration = Duration::from_secs(5);

/// The key that confirms a removal: used for nothing else in the dialog, and not a key that
/// does something else in the Library pane.
pub const CONFIRM_REMOVE_KEY: Key = Key::char('D');

/// What a confirmation dialog is about.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmKind {
    /// Remove the character `id` (to the trash).
    Remove,
    /// Replace an existing export file.
    Overwrite(PathBuf),
}

/// An action waiting for its confirming key.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub id: String,
    pub name: String,
    pub kind: ConfirmKind,
}

impl Confirm {
    /// The key that confirms, used for nothing else in the dialog.
    pub fn key(&self) -> Key {
        match self.kind {
            ConfirmKind::Remove => CONFIRM_REMOVE_KEY,
            ConfirmKind::Overwrite(_) => CONFIRM_OVERWRITE_KEY,
        }
    }
}

/// The key that replaces an existing file.
pub const CONFIRM_OVERWRITE_KEY: Key = Key::char('O');

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Ok,
    Error,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
}

/// What the app starts with.
pub struct AppOptions {
    pub library: Library,
    pub keys: KeyMap,
    pub theme: Theme,
    /// A folder, or a clip to select in its folder.
    pub start_path: PathBuf,
    /// Image protocol for previews; none means no previews.
    pub picker: Option<Picker>,
    /// Shown as `~` in paths.
    pub home: Option<PathBuf>,
    pub default_start_s: f64,
    pub strict: bool,
    /// Hand copied text to a local clipboard tool too.
    pub local_clipboard: bool,
    /// The configured providers (`[providers.NAME]`).
    pub providers: Registry,
    /// `[defaults] provider`: what `R` registers with, and new characters are registered with.
    pub default_provider: Option<String>,
    /// `[ui] mouse`: take the mouse.
    pub mouse: bool,
}

/// Where the panes were last drawn (for mouse clicks).
#[derive(Debug, Default, Clone, Copy)]
pub struct PaneAreas {
    pub files: Rect,
    pub clip: Rect,
    pub library: Rect,
    pub details: Rect,
    pub jobs: Rect,
    /// The first job row shown in the jobs strip.
    pub jobs_first: usize,
    /// Where the Clip pane's text, preview and strip were drawn, in its body (the pane
    /// inside its border, above the timeline).
    pub clip_body: Rect,
    pub clip_text: Rect,
    pub clip_image: Rect,
    pub clip_strip: Rect,
    /// Where the full-size preview was drawn.
    pub viewer: Rect,
}

/// A create waiting for the check of its clip.
#[derive(Debug)]
struct PendingCreate {
    name: String,
    input: Input,
}

/// One clip of a batch create: the name it gets, or why it cannot be created.
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub path: PathBuf,
    pub name: String,
    pub error: Option<String>,
}

/// The batch create dialog: the marked videos with the names taken from their file names.
#[derive(Debug, Clone)]
pub struct Batch {
    pub items: Vec<BatchItem>,
}

impl Batch {
    pub fn ready(&self) -> usize {
        self.items.iter().filter(|i| i.error.is_none()).count()
    }
}

/// A loaded preview image, keyed by what it shows.
pub struct Preview {
    pub key: String,
    pub image: image::DynamicImage,
    pub protocol: StatefulProtocol,
}

/// The full-size preview over the panes: one frame of the clip's strip (or a character's
/// keyframe); the arrows step through the strip.
pub struct Viewer {
    pub title: String,
    pub frames: Vec<image::DynamicImage>,
    /// When each frame was taken, in seconds of the source (empty when unknown).
    pub times: Vec<f64>,
    pub index: usize,
    pub protocol: StatefulProtocol,
}

pub struct App {
    pub lib: Library,
    pub keys: KeyMap,
    pub theme: Theme,
    pub focus: Focus,
    pub files: FilesPane,
    pub clip: ClipPane,
    pub library: LibraryPane,
    pub jobs: Jobs,
    pub prompt: Option<Prompt>,
    /// The batch create dialog over the panes.
    pub batch: Option<Batch>,
    /// How many jobs run at once (the batch pool's size); the others wait, queued.
    pub job_slots: usize,
    /// A removal waiting for its confirming key.
    pub confirm: Option<Confirm>,
    pub help: bool,
    /// A job's log or a character's details, over the panes.
    pub reader: Option<Reader>,
    pub status: Option<Status>,
    pub home: Option<PathBuf>,
    pub picker: Option<Picker>,
    /// The frame of the clip's window shown large.
    pub clip_preview: Option<Preview>,
    /// Every frame decoded from the clip's window, in time order (the strip).
    pub clip_strip: Vec<Preview>,
    pub char_preview: Option<Preview>,
    /// The full-size preview overlay.
    pub viewer: Option<Viewer>,
    /// Something changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
    pub suspend: bool,
    /// Where the panes were last drawn.
    pub areas: PaneAreas,
    /// Frames drawn (counted by the event loop).
    pub draws: u64,
    /// Bytes for the terminal outside the frame (OSC 52).
    pub output: Vec<u8>,
    default_start_s: f64,
    strict: bool,
    local_clipboard: bool,
    providers: Registry,
    default_provider: Option<String>,
    quit_armed: bool,
    /// A create asked for while the clip was being checked.
    pending_create: Option<PendingCreate>,
    /// The library has been read once (until then the pane says it is loading).
    pub loaded: bool,
    loading: bool,
    reload_again: bool,
    watcher: Option<notify::RecommendedWatcher>,
    /// IDs removed in this session, the last one last (what `u` brings back).
    removed: Vec<String>,
    /// Runs the effects `update` returns, off the UI task.
    executor: Executor,
    /// Effects asked for while handling the current message.
    effects: Vec<Effect>,
}

impl App {
    /// The app and the receiving end of its message channel (for the event loop or a test).
    pub fn new(opts: AppOptions) -> (App, UnboundedReceiver<Msg>) {
        let (tx, rx) = unbounded_channel();
        let executor = Executor::new(opts.library.clone(), tx);
        let mut app = App {
            lib: opts.library,
            keys: opts.keys,
            theme: opts.theme,
            focus: Focus::Files,
            files: FilesPane::default(),
            clip: ClipPane::default(),
            library: LibraryPane::default(),
            jobs: Jobs::default(),
            prompt: None,
            batch: None,
            job_slots: crate::pool::size(),
            confirm: None,
            help: false,
            reader: None,
            status: None,
            home: opts.home,
            picker: opts.picker,
            clip_preview: None,
            clip_strip: Vec::new(),
            char_preview: None,
            viewer: None,
            areas: PaneAreas::default(),
            dirty: true,
            quit: false,
            suspend: false,
            draws: 0,
            output: Vec::new(),
            default_start_s: opts.default_start_s,
            strict: opts.strict,
            local_clipboard: opts.local_clipboard,
            providers: opts.providers,
            default_provider: opts.default_provider,
            quit_armed: false,
            pending_create: None,
            loaded: false,
            loading: false,
            reload_again: false,
            watcher: None,
            removed: Vec::new(),
            executor,
            effects: Vec::new(),
        };
        // The first frame is drawn at once; the library arrives after.
        app.load_library();
        let start = opts.start_path;
        if start.is_dir() {
            app.files.open(&start, None);
        } else {
            let dir = start
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            app.files.open(dir, Some(&start));
            if start.is_file() {
                app.show_clip(Input::File(start.clone()), Duration::ZERO);
            }
        }
        app.load_char_preview();
        let first = std::mem::take(&mut app.effects);
        app.executor.run_all(first);
        (app, rx)
    }

    /// Read the library off the UI task; `Msg::LibraryLoaded` brings it. A reload asked for
    /// while one runs is run once that one is done.
    pub fn load_library(&mut self) {
        if self.loading {
            self.reload_again = true;
            return;
        }
        self.loading = true;
        let watch = !self.loaded && self.watcher.is_none();
        self.effects.push(Effect::LoadLibrary { watch });
    }

    /// Show a fresh read of the library, keeping the search, the sort and the selection.
    fn on_library_loaded(&mut self, listing: crate::Result<crate::library::store::Listing>) {
        self.loading = false;
        self.dirty = true;
        let first = !self.loaded;
        self.loaded = true;
        match listing {
            Ok(listing) => {
                let n = listing.corrupt.len();
                let selected = self.library.selected_character().map(|c| c.id.clone());
                let query = self.library.query.value().to_string();
                self.library
                    .set_characters(listing.characters, listing.corrupt);
                if !query.is_empty() {
                    self.library.query = TextInput::new(query);
                    let req = self.library.query_changed();
                    self.spawn_search(req);
                }
                if let Some(id) = selected {
                    self.library.select_id(&id);
                }
                self.load_char_preview();
                if n > 0 && first {
                    self.set_status(
                        StatusKind::Error,
                        format!(
                            "{n} corrupt record(s) skipped (left untouched): see `castbook list`"
                        ),
                    );
                }
            }
            Err(e) => self.set_status(StatusKind::Error, escape_display(&e.message)),
        }
        if std::mem::take(&mut self.reload_again) {
            self.load_library();
        }
    }

    fn set_status(&mut self, kind: StatusKind, text: impl Into<String>) {
        self.status = Some(Status {
            kind,
            text: text.into(),
        });
    }

    /// A sender for messages to this app (signals, tests).
    pub fn sender(&self) -> UnboundedSender<Msg> {
        self.executor.sender()
    }

    /// Start `effects` on the app's executor.
    pub fn run(&self, effects: Vec<Effect>) {
        self.executor.run_all(effects);
    }

    /// Handle `msg` and start the work it asks for (what the event loop does with each
    /// message).
    pub fn handle(&mut self, msg: Msg) {
        let effects = self.update(msg);
        self.executor.run_all(effects);
    }

    /// Whether the loop should wake up periodically (elapsed times of running jobs change).
    pub fn wants_tick(&self) -> bool {
        self.jobs.running() || self.jobs.folding()
    }

    /// A path for display: escaped, the home folder as `~`.
    pub fn display_path(&self, p: &Path) -> String {
        if let Some(home) = &self.home
            && let Ok(rest) = p.strip_prefix(home)
        {
            let rest = rest.to_string_lossy();
            return escape_display(&if rest.is_empty() {
                "~".to_string()
            } else {
                format!("~/{rest}")
            });
        }
        escape_display(&p.to_string_lossy())
    }

    /// The only place state changes. Returns the work the message asks for (reading or
    /// changing the library, probing, previews, searches, jobs); nothing here blocks or
    /// touches the disk. `handle` runs the effects through the app's executor.
    #[must_use = "the effects are the work the message asks for: run them (App::handle)"]
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.step(msg);
        std::mem::take(&mut self.effects)
    }

    fn step(&mut self, msg: Msg) {
        match msg {
            Msg::Key(ev) => self.on_key(ev),
            Msg::Action(a) => self.on_action(a),
            Msg::Paste(text) => self.on_paste(&text),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize => self.dirty = true,
            Msg::Tick => {
                self.dirty |= self.jobs.running();
                if self.jobs.fold_done(Instant::now(), FOLD_AFTER) {
                    self.dirty = true;
                    if self.jobs.rows() == 0 && self.focus == Focus::Jobs {
                        self.focus = Focus::Library;
                    }
                }
            }
            Msg::Terminate => self.force_quit(),
            Msg::ProbeDone { generation, report } => {
                if generation == self.clip.generation {
                    let has_video = matches!(&*report, Ok(r) if r.metadata.video.is_some());
                    self.clip.finish(*report);
                    if has_video {
                        self.load_clip_preview();
                        // The probe of a usable clip analysed it already: no second decode.
                        if self.clip.analysis.is_none()
                            && let Some(r) = self.clip.report()
                            && let Some(a) =
                                ClipAnalysis::from_probe(r.analysis.as_ref(), &r.metadata)
                        {
                            self.clip.analysis = Some(AnalysisState::Done(Arc::new(a)));
                        }
                        self.analyze_clip();
                        if self.clip.analysis().is_some()
                            && let Some(want) = self.clip.want.take()
                        {
                            self.move_window(want);
                        }
                    }
                    self.validate_prompt();
                    self.run_pending_create();
                    self.dirty = true;
                }
            }
            Msg::PreviewReady { key, image } => self.on_preview(key, image),
            Msg::StripReady { key, frames, main } => self.on_strip(key, frames, main),
            Msg::AnalysisDone { input, result } => self.on_analysis(input, *result),
            Msg::Copied { text, local } => {
                let ours = format!("copied {text} (via the terminal, OSC 52)");
                if local && self.status.as_ref().is_some_and(|s| s.text == ours) {
                    self.set_status(StatusKind::Ok, format!("copied {text}"));
                    self.dirty = true;
                }
            }
            Msg::Exported { path, result } => self.on_exported(path, *result),
            Msg::Library(done) => self.on_library_done(done),
            Msg::LibraryChanged => self.load_library(),
            Msg::Watching(w) => self.watcher = Some(*w),
            Msg::LibraryLoaded(listing) => self.on_library_loaded(*listing),
            Msg::SearchDone {
                generation,
                query,
                hits,
            } => {
                let next = self.library.search_done(generation, query, hits);
                self.spawn_search(next);
                self.load_char_preview();
                self.dirty = true;
            }
            Msg::Job { id, event } => {
                if let Some(job) = self.jobs.get_mut(id) {
                    match event {
                        job::JobEvent::Progress(p) => job.on_progress(p),
                        job::JobEvent::Warning(w) => job.on_warning(w),
                    }
                    self.dirty = true;
                }
            }
            Msg::JobDone { id, result } => self.on_job_done(id, *result),
            Msg::UseDone { model, result } => self.on_use_done(model, *result),
            Msg::RegisterDone {
                id,
                created,
                result,
            } => self.on_register_done(id, created.map(|c| *c), *result),
        }
    }

    // ---- keys ----

    fn on_key(&mut self, ev: KeyEvent) {
        if ev.kind == KeyEventKind::Release {
            return;
        }
        let key = Key::from_event(&ev);
        match self.keys.action_in(key, Scope::Global) {
            Some(Action::ForceQuit) => return self.force_quit(),
            Some(Action::Suspend) => {
                self.suspend = true;
                return;
            }
            _ => {}
        }
        self.dirty = true;
        if self.help {
            self.help = false;
            return;
        }
        // An overlay takes every key: nothing reaches the panes behind it.
        if let Some(c) = self.confirm.take() {
            let yes = key == c.key();
            match c.kind {
                ConfirmKind::Remove if yes => self.remove(&c.id),
                ConfirmKind::Remove => self.set_status(
                    StatusKind::Info,
                    format!("nothing removed: {} is still there", c.id),
                ),
                ConfirmKind::Overwrite(path) if yes => {
                    self.export(&path.display().to_string(), true)
                }
                ConfirmKind::Overwrite(path) => {
                    let shown = self.display_path(&path);
                    self.set_status(
                        StatusKind::Info,
                        format!("nothing exported: {shown} is left as it was"),
                    );
                }
            }
            return;
        }
        if self.prompt.is_some() {
            return self.prompt_key(ev);
        }
        if let Some(batch) = self.batch.take() {
            match key.code {
                KeyCode::Enter => self.queue_batch(batch),
                KeyCode::Esc => {
                    self.set_status(StatusKind::Info, "nothing created: the marks are kept")
                }
                _ => self.batch = Some(batch),
            }
            return;
        }
        if self.reader.is_some() {
            return self.reader_key(key);
        }
        if self.viewer.is_some() {
            return self.viewer_key(key);
        }
        if self.library.typing {
            return self.search_key(ev);
        }
        let scope = self.focus.scope();
        match self.keys.action_in(key, scope) {
            Some(action) => self.on_action(action),
            None => {
                // A key of another pane does nothing here; say where it works.
                if let Some(b) = self.keys.elsewhere(key, scope) {
                    let pane = b.scope.pane_name();
                    let tab = self.keys.keys_label(Action::NextPane);
                    self.set_status(
                        StatusKind::Info,
                        format!(
                            "{} ({}) works in the {pane} pane: {tab} moves there",
                            key.label(),
                            b.help
                        ),
                    );
                }
            }
        }
    }

    /// Keys of the reader overlay: scroll, close; quit and help still work.
    fn reader_key(&mut self, key: Key) {
        let Some(r) = &mut self.reader else { return };
        match key.code {
            KeyCode::Esc | KeyCode::Enter => self.reader = None,
            KeyCode::Up | KeyCode::Char('k') => r.scroll = r.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => r.scroll = r.scroll.saturating_add(1),
            KeyCode::PageUp => r.scroll = r.scroll.saturating_sub(PAGE),
            KeyCode::PageDown | KeyCode::Char(' ') => r.scroll = r.scroll.saturating_add(PAGE),
            KeyCode::Home | KeyCode::Char('g') => r.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => r.scroll = usize::MAX,
            _ => {
                if let Some(a @ (Action::Quit | Action::Help)) =
                    self.keys.action_in(key, Scope::Global)
                {
                    self.on_action(a)
                }
            }
        }
    }

    /// Keys of the full-size preview: the arrows step through the frames; Esc closes; quit
    /// and help still work.
    fn viewer_key(&mut self, key: Key) {
        let Some(v) = &mut self.viewer else { return };
        let step: isize = match key.code {
            KeyCode::Left | KeyCode::Up | KeyCode::Char('h') | KeyCode::Char('k') => -1,
            KeyCode::Right | KeyCode::Down | KeyCode::Char('l') | KeyCode::Char('j') => 1,
            KeyCode::Home | KeyCode::Char('g') => isize::MIN / 2,
            KeyCode::End | KeyCode::Char('G') => isize::MAX / 2,
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('v') => {
                self.viewer = None;
                return;
            }
            _ => {
                if let Some(a @ (Action::Quit | Action::Help)) =
                    self.keys.action_in(key, Scope::Global)
                {
                    self.on_action(a)
                }
                return;
            }
        };
        let last = v.frames.len().saturating_sub(1) as isize;
        let index = (v.index as isize).saturating_add(step).clamp(0, last) as usize;
        if index != v.index
            && let Some(picker) = &self.picker
        {
            v.index = index;
            v.protocol = picker.new_resize_protocol(v.frames[index].clone());
        }
    }

    /// `v`: the Clip pane's preview (its whole strip) or the selected character's keyframe,
    /// full size.
    fn open_viewer(&mut self) {
        let Some(picker) = &self.picker else {
            self.set_status(
                StatusKind::Info,
                "no preview: this terminal shows no images here",
            );
            return;
        };
        let viewer = match self.focus {
            Focus::Clip => {
                let Some(main) = &self.clip_preview else {
                    let why = if self.clip.input.is_none() {
                        "no clip selected"
                    } else {
                        "no preview yet"
                    };
                    self.set_status(StatusKind::Info, why);
                    return;
                };
                let (frames, index, times) = if self.clip_strip.is_empty() {
                    (vec![main.image.clone()], 0, Vec::new())
                } else {
                    let len = self.clip.report().map_or(0.0, |r| r.metadata.window.len_s);
                    let index = self
                        .clip_strip
                        .iter()
                        .position(|p| p.image == main.image)
                        .unwrap_or(0);
                    (
                        self.clip_strip.iter().map(|p| p.image.clone()).collect(),
                        index,
                        preview::strip_times(self.clip.start_s, len),
                    )
                };
                Viewer {
                    title: self.clip.label.clone(),
                    protocol: picker.new_resize_protocol(frames[index].clone()),
                    frames,
                    times,
                    index,
                }
            }
            Focus::Library => {
                let (Some(p), Some(c)) = (&self.char_preview, self.library.selected_character())
                else {
                    self.set_status(StatusKind::Info, "no keyframe to show for this character");
                    return;
                };
                Viewer {
                    title: c.name.clone(),
                    protocol: picker.new_resize_protocol(p.image.clone()),
                    frames: vec![p.image.clone()],
                    times: Vec::new(),
                    index: 0,
                }
            }
            Focus::Files | Focus::Jobs => return,
        };
        self.viewer = Some(viewer);
    }

    /// A click focuses the pane under it and selects the row; the wheel scrolls the list or
    /// the reader under it. Dialogs and prompts ignore the mouse.
    fn on_mouse(&mut self, m: MouseEvent) {
        let wheel = match m.kind {
            MouseEventKind::ScrollUp => -3,
            MouseEventKind::ScrollDown => 3,
            MouseEventKind::Down(MouseButton::Left) => 0,
            _ => return,
        };
        if self.help || self.prompt.is_some() || self.confirm.is_some() || self.viewer.is_some() {
            return;
        }
        self.dirty = true;
        if let Some(r) = &mut self.reader {
            r.scroll = r.scroll.saturating_add_signed(wheel);
            return;
        }
        let at = Position::new(m.column, m.row);
        let a = self.areas;
        let (focus, area, first) = if a.files.contains(at) {
            (
                Focus::Files,
                a.files.inner(Margin::new(1, 1)),
                self.files.offset,
            )
        } else if a.clip.contains(at) {
            (Focus::Clip, a.clip, 0)
        } else if a.library.contains(at) || a.details.contains(at) {
            (
                Focus::Library,
                a.library.inner(Margin::new(1, 1)),
                self.library.offset,
            )
        } else if a.jobs.contains(at) {
            (Focus::Jobs, a.jobs, a.jobs_first)
        } else {
            return;
        };
        if focus != self.focus {
            self.focus = focus;
            self.library.typing = false;
        }
        if wheel != 0 {
            return self.move_by(wheel);
        }
        if !area.contains(at) || focus == Focus::Clip {
            return;
        }
        let row = first + (at.y - area.y) as usize;
        let current = match focus {
            Focus::Files => self.files.selected,
            Focus::Library => self.library.selected,
            Focus::Jobs => self.jobs.selected,
            Focus::Clip => 0,
        };
        let rows = match focus {
            Focus::Files => self.files.entries.len(),
            Focus::Library => self.library.hits.len(),
            Focus::Jobs => self.jobs.rows(),
            Focus::Clip => 0,
        };
        if row < rows {
            self.move_by(row as isize - current as isize);
        }
    }

    fn prompt_key(&mut self, ev: KeyEvent) {
        match ev.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Enter => self.submit_prompt(),
            _ => {
                if let Some(p) = &mut self.prompt
                    && let Some(req) = text_request(&ev)
                {
                    if let InputRequest::InsertChar(c) = req
                        && p.starts_afresh(c.encode_utf8(&mut [0; 4]))
                    {
                        p.input.reset();
                    }
                    p.suggested = false;
                    p.input.handle(req);
                    self.validate_prompt();
                }
            }
        }
    }

    fn search_key(&mut self, ev: KeyEvent) {
        match ev.code {
            KeyCode::Enter => self.library.typing = false,
            KeyCode::Esc => {
                self.library.typing = false;
                self.library.query.reset();
                self.search_changed();
            }
            KeyCode::Up => self.library_move(-1),
            KeyCode::Down => self.library_move(1),
            _ => {
                if let Some(req) = text_request(&ev) {
                    self.library.query.handle(req);
                    self.search_changed();
                }
            }
        }
    }

    fn on_paste(&mut self, text: &str) {
        let text: String = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        self.dirty = true;
        if self.prompt.is_none() && !self.library.typing {
            self.open_prompt(PromptKind::Path, "");
        }
        let input = match &mut self.prompt {
            Some(p) => {
                if p.starts_afresh(&text) {
                    p.input.reset();
                }
                p.suggested = false;
                &mut p.input
            }
            None => &mut self.library.query,
        };
        for c in text.chars() {
            input.handle(InputRequest::InsertChar(c));
        }
        if self.prompt.is_some() {
            self.validate_prompt();
        } else {
            self.search_changed();
        }
    }

    pub fn on_action(&mut self, action: Action) {
        self.dirty = true;
        if action != Action::Quit {
            self.quit_armed = false;
        }
        // The focused pane's own keys.
        if self.focus == Focus::Jobs && self.jobs.takes(action) {
            let reply = self.jobs.on_action(action);
            return self.apply(reply);
        }
        match action {
            Action::NextPane => self.cycle_focus(1),
            Action::PrevPane => self.cycle_focus(-1),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(PAGE as isize)),
            Action::PageDown => self.move_by(PAGE as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => self.open_selected(),
            Action::Mark if self.focus == Focus::Files => {
                if self.files.toggle_mark() {
                    self.files.move_by(1);
                }
            }
            Action::MarkAll if self.focus == Focus::Files => self.files.mark_all(),
            Action::CreateMarked if self.focus == Focus::Files => self.create_from_files(),
            Action::Mark | Action::MarkAll | Action::CreateMarked => {}
            Action::Back if self.focus == Focus::Clip && self.clip.want.is_some() => {
                self.clip.want = None;
                self.set_status(StatusKind::Info, "the window stays where it is");
            }
            Action::Back => {
                if self.focus == Focus::Library && !self.library.query.value().is_empty() {
                    self.library.query.reset();
                    self.search_changed();
                } else {
                    self.status = None;
                }
            }
            Action::Parent => {
                if self.focus == Focus::Files {
                    self.go_parent();
                }
            }
            Action::TypePath => {
                let dir = format!("{}/", self.files.dir.display());
                self.open_prompt(PromptKind::Path, &dir);
            }
            Action::AllFiles => {
                self.files.toggle_all();
                self.set_status(
                    StatusKind::Info,
                    if self.files.show_all {
                        "Files shows every file"
                    } else {
                        "Files shows folders and videos"
                    },
                );
            }
            Action::StartEarlier => self.shift_start(-START_STEP_S),
            Action::StartLater => self.shift_start(START_STEP_S),
            Action::StartMuchEarlier => self.shift_start(-START_BIG_STEP_S),
            Action::StartMuchLater => self.shift_start(START_BIG_STEP_S),
            Action::AutoWindow => self.want_window(Want::Auto),
            Action::PrevShot => self.want_window(Want::Shot { forward: false }),
            Action::NextShot => self.want_window(Want::Shot { forward: true }),
            Action::Create => self.ask_name(),
            Action::Preview => self.open_viewer(),
            Action::Search => {
                self.focus = Focus::Library;
                self.library.typing = true;
            }
            Action::Copy => self.copy_selected(),
            Action::Sort => {
                self.library.cycle_sort();
                self.load_char_preview();
                let label = self.library.sort.label();
                self.set_status(StatusKind::Info, format!("library sorted by {label}"));
            }
            Action::EditName => self.edit(|id, c| (PromptKind::Rename(id), c.name.clone())),
            Action::EditNotes => self.edit(|id, c| (PromptKind::Notes(id), c.notes.clone())),
            Action::EditTags => self.edit(|id, c| (PromptKind::Tags(id), c.tags.join(", "))),
            Action::Remove => match self.library.selected_character() {
                Some(c) => {
                    self.confirm = Some(Confirm {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        kind: ConfirmKind::Remove,
                    })
                }
                None => self.set_status(StatusKind::Error, "no character selected to remove"),
            },

            Action::Undo => self.undo_remove(),
            Action::Register => self.register_selected(),
            Action::UseFor => match self.library.selected_character() {
                Some(c) => {
                    let id = c.id.clone();
                    self.open_prompt(PromptKind::Model(id), "");
                }
                None => self.set_status(StatusKind::Error, "no character selected"),
            },
            Action::Export => {
                // Outside the clips folder: the home folder, else beside the library.
                let dir = self
                    .home
                    .clone()
                    .or_else(|| self.lib.root().parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| self.lib.root().to_path_buf());
                let path = dir.join("castbook-export.csv");
                let shown = self.display_path(&path);
                self.open_prompt(PromptKind::Export, &shown);
            }
            Action::CancelJob => {}
            Action::Help => self.help = !self.help,
            Action::Quit => {
                let active = self.jobs.active();
                if active > 0 && !self.quit_armed {
                    self.quit_armed = true;
                    let q = self.keys.keys_label(Action::Quit);
                    self.set_status(
                        StatusKind::Error,
                        format!(
                            "{active} job(s) not finished: press {q} again to cancel them and quit"
                        ),
                    );
                } else {
                    self.force_quit();
                }
            }
            Action::ForceQuit => self.force_quit(),
            Action::Suspend => self.suspend = true,
        }
    }

    /// Do what a pane asked for after an action.
    fn apply(&mut self, reply: Reply) {
        if let Some((kind, text)) = reply.status {
            self.set_status(kind, text);
        }
        if let Some(kind) = reply.open {
            self.reader = Some(Reader { kind, scroll: 0 });
        }
        if reply.leave {
            self.focus = Focus::Library;
        }
        if reply.start_jobs {
            self.start_next_job();
        }
        self.effects.extend(reply.effects);
    }

    fn force_quit(&mut self) {
        self.jobs.cancel_all();
        self.clip.stop();
        if let Some(c) = self.clip.analysis_cancel.take() {
            c.cancel();
        }
        self.quit = true;
        self.dirty = true;
    }

    fn cycle_focus(&mut self, dir: isize) {
        let mut order = vec![Focus::Files, Focus::Clip, Focus::Library];
        if self.jobs.rows() > 0 {
            order.push(Focus::Jobs);
        }
        let i = order.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        let n = order.len() as isize;
        self.focus = order[((i + dir).rem_euclid(n)) as usize];
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::Files => {
                let before = self.files.selected;
                self.files.move_by(delta);
                if self.files.selected != before
                    && let Some(e) = self.files.current()
                    && e.kind == EntryKind::Video
                {
                    let path = e.path.clone();
                    self.show_clip(Input::File(path), Duration::from_millis(150));
                }
            }
            Focus::Clip => {}
            Focus::Library => self.library_move(delta),
            Focus::Jobs => self.jobs.move_by(delta),
        }
    }

    fn library_move(&mut self, delta: isize) {
        let before = self.library.selected;
        self.library.move_by(delta);
        if self.library.selected != before {
            self.load_char_preview();
        }
    }

    fn open_selected(&mut self) {
        match self.focus {
            Focus::Files => {
                let Some(e) = self.files.current().cloned() else {
                    return;
                };
                match e.kind {
                    EntryKind::Parent => self.go_parent(),
                    EntryKind::Dir => self.files.open(&e.path, None),
                    EntryKind::Video | EntryKind::Other => {
                        let same = self.clip.input.as_ref() == Some(&Input::File(e.path.clone()));
                        if !same {
                            self.show_clip(Input::File(e.path), Duration::ZERO);
                        }
                        self.focus = Focus::Clip;
                    }
                }
            }
            Focus::Clip => self.ask_name(),
            Focus::Library => {
                if let Some(c) = self.library.selected_character() {
                    self.reader = Some(Reader {
                        kind: ReaderKind::Character(c.id.clone()),
                        scroll: 0,
                    });
                }
            }
            Focus::Jobs => {}
        }
    }

    fn go_parent(&mut self) {
        let here = self.files.dir.clone();
        if let Some(parent) = here.parent() {
            self.files.open(parent, Some(&here));
        }
    }

    // ---- clip ----

    /// Show `input` in the clip pane and probe it after `delay` (so moving quickly over files
    /// does not start a probe for each).
    pub fn select_clip(&mut self, input: Input, delay: Duration) {
        self.show_clip(input, delay);
        self.flush();
    }

    /// Start the effects asked for outside `update` (a call from outside the loop).
    fn flush(&mut self) {
        let effects = std::mem::take(&mut self.effects);
        self.executor.run_all(effects);
    }

    fn show_clip(&mut self, input: Input, delay: Duration) {
        let start = if self.clip.input.as_ref() == Some(&input) {
            self.clip.start_s
        } else {
            self.default_start_s
        };
        self.probe_clip(input, start, delay);
    }

    fn probe_clip(&mut self, input: Input, start_s: f64, delay: Duration) {
        if let Some(p) = &self.pending_create
            && p.input != input
        {
            let name = escape_display(&p.name);
            self.pending_create = None;
            self.set_status(
                StatusKind::Info,
                format!("{name} was not created: another clip was selected"),
            );
        }
        let (generation, token) = self.clip.begin(input.clone(), start_s);
        if self
            .clip_preview
            .as_ref()
            .is_some_and(|p| !p.key.starts_with(&preview::clip_key_prefix(&input)))
        {
            self.clip_preview = None;
            self.clip_strip.clear();
        }
        self.dirty = true;
        // The same clip at another start: its analysis is reused, not decoded again.
        let known = self.clip.analysis().map(|a| a.analysis().clone());
        self.effects.push(Effect::Probe {
            input,
            start_s,
            strict: self.strict,
            generation,
            delay,
            known,
            cancel: token,
        });
    }

    fn shift_start(&mut self, delta: f64) {
        let Some(input) = self.clip.input.clone() else {
            return;
        };
        let start = self.clip.shifted_start(delta);
        if start != self.clip.start_s {
            self.probe_clip(input, start, Duration::from_millis(100));
        }
    }

    /// Analyse the clip's content (cuts, auto window, hints) in the background, once per
    /// clip; `Msg::AnalysisDone` brings it.
    fn analyze_clip(&mut self) {
        if self.clip.analysis.is_some() {
            return;
        }
        let (Some(Input::File(_)), Some(report)) = (&self.clip.input, self.clip.report()) else {
            return;
        };
        let info = Box::new(report.metadata.clone());
        let input = self.clip.input.clone().expect("checked");
        let token = CancellationToken::new();
        self.clip.analysis_cancel = Some(token.clone());
        self.clip.analysis = Some(AnalysisState::Running);
        self.effects.push(Effect::Analyze {
            input,
            info,
            cancel: token,
        });
    }

    fn on_analysis(&mut self, input: Input, result: crate::Result<ClipAnalysis>) {
        if self.clip.input.as_ref() != Some(&input) {
            return;
        }
        self.dirty = true;
        self.clip.analysis_cancel = None;
        match result {
            Ok(a) => {
                self.clip.analysis = Some(AnalysisState::Done(Arc::new(a)));
                if let Some(want) = self.clip.want.take() {
                    self.move_window(want);
                }
            }
            Err(e) => {
                let why = escape_display(&e.message);
                if self.clip.want.take().is_some() {
                    self.set_status(
                        StatusKind::Error,
                        format!("the window cannot be chosen: {why}"),
                    );
                }
                self.clip.analysis = Some(AnalysisState::Failed(why));
            }
        }
    }

    /// `a`, `[`, `]`: move the window by what the analysis found, now or once it is done.
    fn want_window(&mut self, want: Want) {
        match (&self.clip.input, &self.clip.analysis) {
            (None, _) => self.set_status(StatusKind::Error, "select a clip first (Files pane, Enter)"),
            (Some(Input::Url(_)), _) => self.set_status(
                StatusKind::Info,
                "the window of a URL is chosen when it is created (castbook create URL --start auto)",
            ),
            (_, Some(AnalysisState::Done(_))) => self.move_window(want),
            (_, Some(AnalysisState::Failed(why))) => {
                let why = why.clone();
                self.set_status(StatusKind::Error, format!("the window cannot be chosen: {why}"));
            }
            (_, _) => {
                self.clip.want = Some(want);
                let esc = self.keys.keys_label(Action::Back);
                let what = match want {
                    Want::Auto => "choosing the window",
                    Want::Shot { .. } => "finding the shots",
                };
                self.set_status(StatusKind::Info, format!("{what}… ({esc} cancels)"));
                if matches!(self.clip.probe, Some(ProbeState::Done(_))) {
                    self.analyze_clip();
                }
            }
        }
    }

    /// Move the window as `want` says, with the analysis done.
    fn move_window(&mut self, want: Want) {
        let (Some(a), Some(input)) = (self.clip.analysis().cloned(), self.clip.input.clone())
        else {
            return;
        };
        let here = self.clip.start_s;
        let choice = a.choice();
        let start = match want {
            Want::Auto => choice.start_s,
            Want::Shot { forward } => match a.shot_start(here, forward) {
                Some(s) => s,
                None => {
                    let text = if forward {
                        "no later shot: the window is in the last one"
                    } else {
                        "no earlier shot: the window is in the first one"
                    };
                    self.set_status(StatusKind::Info, text);
                    return;
                }
            },
        };
        let start = start.clamp(0.0, self.clip.shifted_start(f64::INFINITY));
        let span = format!("{start:.2}–{:.2} s", start + crate::tui::clip::WINDOW_S);
        let text = match want {
            Want::Auto => match choice.problems.first() {
                None => format!("auto window {span}: one shot, no hints"),
                Some(h) => format!(
                    "auto window {span}, the best there is (no clean window): {}",
                    escape_display(&h.message)
                ),
            },
            Want::Shot { forward: true } => format!("window at the next shot: {span}"),
            Want::Shot { forward: false } => format!("window at the previous shot: {span}"),
        };
        self.set_status(StatusKind::Info, text);
        if start != here {
            self.probe_clip(input, start, Duration::ZERO);
        }
    }

    /// Decode the strip of the clip's window in the background; `Msg::StripReady` brings it.
    fn load_clip_preview(&mut self) {
        if self.picker.is_none() {
            return;
        }
        let (Some(input), Some(report)) = (self.clip.input.clone(), self.clip.report()) else {
            return;
        };
        let (Input::File(path), Some(video)) = (input.clone(), report.metadata.video.as_ref())
        else {
            return;
        };
        let key = preview::clip_key(&input, self.clip.start_s);
        if self.clip_preview.as_ref().is_some_and(|p| p.key == key) {
            return;
        }
        let (index, size) = (video.index, (video.width, video.height));
        let (start_s, len_s) = (self.clip.start_s, report.metadata.window.len_s);
        let cancel = self.clip.preview_token();
        self.effects.push(Effect::Strip {
            key,
            path,
            index,
            size,
            start_s,
            len_s,
            cancel,
        });
    }

    fn load_char_preview(&mut self) {
        if self.picker.is_none() {
            return;
        }
        let Some(c) = self.library.selected_character() else {
            self.char_preview = None;
            return;
        };
        let key = format!("char:{}", c.id);
        if self.char_preview.as_ref().is_some_and(|p| p.key == key) {
            return;
        }
        self.char_preview = None;
        let Some(frame) = c.keyframes.get(c.keyframes.len() / 2) else {
            return;
        };
        let path = self.lib.character_dir(&c.id).join(frame);
        self.effects.push(Effect::CharPreview { key, path });
    }

    fn on_preview(&mut self, key: String, image: Option<Box<image::DynamicImage>>) {
        let (Some(picker), Some(image)) = (&self.picker, image) else {
            return;
        };
        let wanted_char = self
            .library
            .selected_character()
            .map(|c| format!("char:{}", c.id));
        if Some(&key) == wanted_char.as_ref() {
            let protocol = picker.new_resize_protocol((*image).clone());
            self.char_preview = Some(Preview {
                key,
                image: *image,
                protocol,
            });
            self.dirty = true;
        }
    }

    /// The strip of the clip's window arrived: show it, `main` large.
    fn on_strip(&mut self, key: String, frames: Vec<image::DynamicImage>, main: usize) {
        let Some(picker) = &self.picker else { return };
        let wanted = self
            .clip
            .input
            .as_ref()
            .map(|i| preview::clip_key(i, self.clip.start_s));
        if wanted.as_ref() != Some(&key) || frames.is_empty() {
            return;
        }
        let main = main.min(frames.len() - 1);
        self.clip_preview = Some(Preview {
            key: key.clone(),
            image: frames[main].clone(),
            protocol: picker.new_resize_protocol(frames[main].clone()),
        });
        self.clip_strip = frames
            .into_iter()
            .map(|image| Preview {
                key: key.clone(),
                protocol: picker.new_resize_protocol(image.clone()),
                image,
            })
            .collect();
        self.dirty = true;
    }

    // ---- create ----

    fn ask_name(&mut self) {
        let Some(input) = &self.clip.input else {
            self.set_status(StatusKind::Error, "select a clip first (Files pane, Enter)");
            return;
        };
        if matches!(input, Input::Url(_)) {
            // The job fetches and checks it.
            self.open_prompt(PromptKind::Name, "");
            return;
        }
        match &self.clip.probe {
            // While the clip is checked the name is asked already; the create waits.
            Some(ProbeState::Running) | Some(ProbeState::Done(_)) | None => {
                if let Some(why) = self.clip_rejection() {
                    self.set_status(StatusKind::Error, why);
                } else {
                    self.open_prompt(PromptKind::Name, "");
                }
            }
            Some(ProbeState::Failed(e)) => {
                self.set_status(StatusKind::Error, escape_display(&e.message));
            }
        }
    }

    /// Why the clip pane's clip cannot be used, once its check says so.
    fn clip_rejection(&self) -> Option<String> {
        match &self.clip.probe {
            Some(ProbeState::Done(r)) if !r.valid => {
                let why = r
                    .checks
                    .iter()
                    .find(|c| !c.ok)
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                Some(format!(
                    "this clip cannot be used: {}",
                    escape_display(&why)
                ))
            }
            Some(ProbeState::Failed(e)) => Some(escape_display(&e.message)),
            _ => None,
        }
    }

    /// A create asked for while the clip was checked: start it now that the check is done,
    /// or say why not.
    fn run_pending_create(&mut self) {
        let Some(pending) = self.pending_create.take() else {
            return;
        };
        if self.clip.input.as_ref() != Some(&pending.input) {
            return;
        }
        match self.clip_rejection() {
            Some(why) => self.set_status(
                StatusKind::Error,
                format!("{} was not created: {why}", escape_display(&pending.name)),
            ),
            None => self.queue_create_named(pending.name),
        }
    }

    fn open_prompt(&mut self, kind: PromptKind, value: &str) {
        self.prompt = Some(Prompt {
            kind,
            input: TextInput::new(value.to_string()),
            error: None,
            suggested: !value.is_empty(),
        });
        self.validate_prompt();
        self.dirty = true;
    }

    /// The name rules (and uniqueness against the library as loaded), as the text is typed.
    fn validate_prompt(&mut self) {
        let Some(p) = &self.prompt else { return };
        let except = match &p.kind {
            PromptKind::Name => None,
            PromptKind::Rename(id) => Some(id.as_str()),
            PromptKind::Model(_) => {
                let typed = p.input.value().trim().to_string();
                let error = match crate::usage::model(&typed) {
                    Ok(_) => None,
                    Err(_) if typed.is_empty() => Some(format!(
                        "type a model: {}",
                        crate::usage::model_names().join(", ")
                    )),
                    Err(e) => Some(e.message),
                };
                if let Some(p) = &mut self.prompt {
                    p.error = error;
                }
                return;
            }
            PromptKind::Provider(_) => {
                let error = self.provider_error(p.input.value().trim());
                if let Some(p) = &mut self.prompt {
                    p.error = error;
                }
                return;
            }
            _ => return,
        };
        let rejected = match &p.kind {
            PromptKind::Name => self.clip_rejection(),
            _ => None,
        };
        let error = match normalize_name(p.input.value()) {
            _ if rejected.is_some() => rejected,
            Err(e) => Some(e.message),
            Ok(name) => {
                let key = name_key(&name);
                self.library
                    .characters
                    .iter()
                    .find(|c| name_key(&c.name) == key && Some(c.id.as_str()) != except)
                    .map(|c| {
                        format!(
                            "the name {} is taken by {} ({})",
                            escape_display(&name),
                            c.id,
                            escape_display(&c.name)
                        )
                    })
            }
        };
        if let Some(p) = &mut self.prompt {
            p.error = error;
        }
    }

    fn submit_prompt(&mut self) {
        let Some(p) = self.prompt.take() else { return };
        if p.error.is_some() {
            self.prompt = Some(p);
            return;
        }
        let value = p.input.value().to_string();
        match p.kind {
            PromptKind::Path => self.open_typed(value.trim()),
            PromptKind::Name => {
                let checking = matches!(self.clip.probe, Some(ProbeState::Running))
                    && matches!(self.clip.input, Some(Input::File(_)));
                match (checking, self.clip.input.clone()) {
                    (true, Some(input)) => {
                        self.set_status(
                            StatusKind::Info,
                            format!(
                                "{} will be created when the check of the clip is done",
                                escape_display(value.trim())
                            ),
                        );
                        self.pending_create = Some(PendingCreate { name: value, input });
                    }
                    _ => self.queue_create_named(value),
                }
            }
            PromptKind::Rename(id) => self.apply_edit(&id, move |c| {
                c.name = normalize_name(&value)?;
                Ok(())
            }),
            PromptKind::Notes(id) => self.apply_edit(&id, move |c| {
                crate::library::name::check_notes(&value)?;
                c.notes = value.trim().to_string();
                Ok(())
            }),
            PromptKind::Tags(id) => self.apply_edit(&id, move |c| {
                let tags: Vec<String> = value.split(',').map(str::to_string).collect();
                crate::library::name::check_tags(&tags)?;
                c.tags = job::clean_tags(&tags);
                Ok(())
            }),
            PromptKind::Export => self.export(value.trim(), false),
            PromptKind::Provider(id) => self.register(&id, value.trim()),
            PromptKind::Model(id) => self.use_for(&id, value.trim()),
        }
    }

    fn open_typed(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let input = Input::parse(text);
        match input {
            Input::Url(_) => {
                self.show_clip(input, Duration::ZERO);
                self.focus = Focus::Clip;
            }
            Input::File(path) => {
                let path = expand_tilde(&path, self.home.as_deref());
                if path.is_dir() {
                    self.files.open(&path, None);
                    self.focus = Focus::Files;
                } else if path.exists() {
                    if let Some(dir) = path.parent() {
                        self.files.open(dir, Some(&path));
                    }
                    self.show_clip(Input::File(path), Duration::ZERO);
                    self.focus = Focus::Clip;
                } else {
                    self.set_status(
                        StatusKind::Error,
                        format!("{} does not exist", self.display_path(&path)),
                    );
                }
            }
        }
    }

    /// `c` in Files: with marks, the batch dialog; else the video under the cursor opens in
    /// the Clip pane with the name prompt (one create).
    fn create_from_files(&mut self) {
        if !self.files.marked_videos().is_empty() {
            return self.open_batch();
        }
        match self.files.current().cloned() {
            Some(e) if e.kind == EntryKind::Video => {
                let input = Input::File(e.path);
                if self.clip.input.as_ref() != Some(&input) {
                    self.show_clip(input, Duration::ZERO);
                }
                self.focus = Focus::Clip;
                self.ask_name();
            }
            _ => {
                let mark = self.keys.keys_label(Action::Mark);
                let all = self.keys.keys_label(Action::MarkAll);
                self.set_status(
                    StatusKind::Error,
                    format!(
                        "not a video: move to one to create it, or mark several ({mark} one, {all} every video here)"
                    ),
                );
            }
        }
    }

    /// Open the batch dialog for the marked videos, named after their file names.
    fn open_batch(&mut self) {
        let marked = self.files.marked_videos();
        if marked.is_empty() {
            let mark = self.keys.keys_label(Action::Mark);
            let all = self.keys.keys_label(Action::MarkAll);
            self.set_status(
                StatusKind::Error,
                format!("no video is marked: {mark} marks one, {all} every video in the folder"),
            );
            return;
        }
        let mut taken: Vec<String> = Vec::new();
        let items = marked
            .into_iter()
            .map(|path| {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let (name, error) = match normalize_name(&stem) {
                    Err(e) => (stem, Some(e.message)),
                    Ok(name) => {
                        let key = name_key(&name);
                        let error = if let Some(c) = self
                            .library
                            .characters
                            .iter()
                            .find(|c| name_key(&c.name) == key)
                        {
                            Some(format!("the name is taken by {}", c.id))
                        } else if taken.contains(&key) {
                            Some("the name is taken by another clip of this batch".to_string())
                        } else {
                            None
                        };
                        taken.push(key);
                        (name, error)
                    }
                };
                BatchItem { path, name, error }
            })
            .collect();
        self.batch = Some(Batch { items });
    }

    /// Queue a create for every clip of the batch that can be created; the marks are cleared.
    fn queue_batch(&mut self, batch: Batch) {
        let ready = batch.ready();
        if ready == 0 {
            self.set_status(
                StatusKind::Error,
                "nothing created: no clip has a usable name",
            );
            return;
        }
        for item in batch.items.iter().filter(|i| i.error.is_none()) {
            let source = self.display_path(&item.path);
            let input = Input::File(item.path.clone());
            if !self.queue_create_of(input, item.name.clone(), self.default_start_s, source) {
                return;
            }
        }
        self.files.marked.clear();
        let skipped = batch.items.len() - ready;
        let text = if skipped == 0 {
            format!("{ready} creates queued")
        } else {
            format!("{ready} creates queued, {skipped} skipped (see their reasons in the dialog)")
        };
        self.set_status(StatusKind::Info, text);
    }

    /// Queue a create job for the clip pane's clip with `name`.
    pub fn queue_create(&mut self, name: String) {
        self.queue_create_named(name);
        self.flush();
    }

    fn queue_create_named(&mut self, name: String) {
        let Some(input) = self.clip.input.clone() else {
            return;
        };
        let source = self.clip.label.clone();
        self.queue_create_of(input, name, self.clip.start_s, source);
    }

    /// Queue a create job; false (and the reason in the status line) when it cannot start.
    fn queue_create_of(
        &mut self,
        input: Input,
        name: String,
        start_s: f64,
        source: String,
    ) -> bool {
        // A missing key is found before any work is done, as in `castbook create --provider`.
        let register = match self.default_provider.clone() {
            Some(name) => match self.callable_provider(&name) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.set_status(StatusKind::Error, e);
                    return false;
                }
            },
            None => None,
        };
        // The Clip pane's analysis of this clip: the create's hints read it, no second decode.
        let analysis = (self.clip.input.as_ref() == Some(&input))
            .then(|| self.clip.analysis().map(|a| a.analysis().clone()))
            .flatten();
        let opts = CreateOptions {
            name: name.trim().to_string(),
            start_s,
            strict: self.strict,
            analysis,
            ..Default::default()
        };
        let kind = JobKind::Create {
            input,
            opts: opts.clone(),
            register,
        };
        self.jobs.add_job(opts.name, source, kind);
        self.start_next_job();
        self.dirty = true;
        true
    }

    /// Start queued jobs while fewer than `job_slots` run.
    fn start_next_job(&mut self) {
        while self.start_one_job() {}
    }

    fn start_one_job(&mut self) -> bool {
        let Some(job) = self.jobs.next_to_start(self.job_slots) else {
            return false;
        };
        job.state = JobState::Running;
        job.started = Some(Instant::now());
        let (id, kind, cancel) = (job.id, job.kind.clone(), job.cancel.clone());
        self.effects.push(Effect::StartJob { id, kind, cancel });
        true
    }

    fn on_job_done(&mut self, id: u64, result: crate::Result<job::Created>) {
        self.dirty = true;
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        match result {
            Ok(created) => {
                let c = created.character;
                job.end(JobState::Done {
                    id: c.id.clone(),
                    existed: created.existed,
                });
                self.show_created(&c);
                let what = if created.existed {
                    "already in the library"
                } else {
                    "created"
                };
                let how = match c.first_remote() {
                    Some((_, remote)) => {
                        let usage = usage_lines(&escape_display(&c.name), &c.id, Some(remote));
                        format!(
                            "{}  ·  {}",
                            escape_display(usage[2].trim_start_matches("json:").trim()),
                            usage[1]
                        )
                    }
                    None => "local only: U says what to send a model".to_string(),
                };
                self.set_status(
                    StatusKind::Ok,
                    format!(
                        "{} {what}: {}  ·  {how}",
                        fit(&escape_display(&c.name), STATUS_NAME_W),
                        c.id,
                    ),
                );
            }
            Err(e) if e.is_cancelled() => {
                job.end(JobState::Cancelled);
                self.set_status(StatusKind::Info, "job cancelled: nothing was saved");
            }
            Err(e) => {
                let msg = escape_display(&e.message);
                job.end(JobState::Failed(msg.clone()));
                self.set_status(StatusKind::Error, msg);
            }
        }
        self.start_next_job();
    }

    /// Put a newly created character into the library pane and select it.
    fn show_created(&mut self, c: &Character) {
        let mut chars = std::mem::take(&mut self.library.characters);
        let corrupt = std::mem::take(&mut self.library.corrupt);
        if !chars.iter().any(|x| x.id == c.id) {
            chars.push(c.clone());
        }
        self.library.set_characters(chars, corrupt);
        self.library.query.reset();
        self.library.select_id(&c.id);
        self.load_char_preview();
    }

    // ---- providers ----

    /// `R`: register the selected character with the provider of `[defaults] provider`, the
    /// only configured one, or one typed in a prompt.
    fn register_selected(&mut self) {
        let Some(c) = self.library.selected_character() else {
            self.set_status(StatusKind::Error, "no character selected to register");
            return;
        };
        let id = c.id.clone();
        if let Some(name) = self.default_provider.clone() {
            return self.register(&id, &name);
        }
        let names: Vec<String> = self.providers.names().map(str::to_string).collect();
        match names.as_slice() {
            [] => {
                let file = crate::config::config_path()
                    .map(|p| self.display_path(&p))
                    .unwrap_or_else(|| "config.toml".into());
                self.set_status(
                    StatusKind::Error,
                    format!("no providers are configured: add a [providers.NAME] table to {file}"),
                );
            }
            [only] => self.register(&id, only),
            _ => self.open_prompt(PromptKind::Provider(id), ""),
        }
    }

    /// Work out what to send `model` for character `id` off the UI task (keyframes may be made
    /// with ffmpeg, files uploaded to the hosting store); the answer opens in a reader.
    fn use_for(&mut self, id: &str, model: &str) {
        let Ok(model) = crate::usage::model(model) else {
            return;
        };
        let Some(c) = self.library.characters.iter().find(|c| c.id == id).cloned() else {
            self.set_status(
                StatusKind::Error,
                format!("{id} is no longer in the library"),
            );
            return;
        };
        self.set_status(
            StatusKind::Info,
            format!(
                "working out what to send {} for {}…",
                model.name,
                escape_display(&c.name)
            ),
        );
        self.effects.push(Effect::UseFor {
            character: Box::new(c),
            model,
        });
    }

    fn on_use_done(&mut self, model: &'static str, result: crate::Result<crate::usage::Plan>) {
        match result {
            Ok(plan) => {
                let title = format!("{} for {}", escape_display(&plan.name), model);
                self.reader = Some(Reader {
                    kind: ReaderKind::Text(title, crate::usage::plan_lines(&plan)),
                    scroll: 0,
                });
                self.set_status(StatusKind::Ok, format!("what to send {model} is open"));
            }
            Err(e) => self.set_status(StatusKind::Error, e.message),
        }
    }

    /// What is wrong with a typed provider name, if anything.
    fn provider_error(&self, name: &str) -> Option<String> {
        if self.providers.names().any(|n| n == name) {
            return None;
        }
        let known = self
            .providers
            .names()
            .map(escape_display)
            .collect::<Vec<_>>()
            .join(", ");
        Some(if name.is_empty() {
            format!("type a provider: {known}")
        } else {
            format!(
                "no provider called {}: configured: {known}",
                escape_display(name)
            )
        })
    }

    /// The provider called `name`, checked to be callable (a key is set, ...).
    fn callable_provider(&self, name: &str) -> Result<AnyProvider, String> {
        let p = self.providers.get(name).map_err(|e| e.message)?;
        p.check().map_err(|e| escape_display(&e.message))?;
        Ok(p.clone())
    }

    /// Queue a register job for the character `id` with the provider `name`, unless it is
    /// registered with it already or the provider cannot be called.
    fn register(&mut self, id: &str, name: &str) {
        let Some(c) = self.library.characters.iter().find(|c| c.id == id).cloned() else {
            self.set_status(
                StatusKind::Error,
                format!("{id} is no longer in the library"),
            );
            return;
        };
        if let Some(remote) = c.provider_ids.get(name).filter(|r| !r.expired()) {
            self.set_status(
                StatusKind::Info,
                format!(
                    "{} is already registered with {} as {}: nothing was sent",
                    escape_display(&c.name),
                    escape_display(name),
                    escape_display(&remote.id)
                ),
            );
            return;
        }
        if self
            .jobs
            .list
            .iter()
            .any(|j| j.is_active() && is_register_of(&j.kind, id, name))
        {
            self.set_status(
                StatusKind::Info,
                format!(
                    "{} is being registered with {} already",
                    escape_display(&c.name),
                    escape_display(name)
                ),
            );
            return;
        }
        let provider = match self.callable_provider(name) {
            Ok(p) => p,
            Err(e) => {
                self.set_status(StatusKind::Error, e);
                return;
            }
        };
        let kind = JobKind::Register {
            character: Box::new(c.clone()),
            provider,
        };
        self.jobs.add_job(c.name.clone(), name.to_string(), kind);
        self.start_next_job();
        self.dirty = true;
    }

    fn on_register_done(
        &mut self,
        id: u64,
        created: Option<job::Created>,
        result: crate::Result<(Character, Registration)>,
    ) {
        self.dirty = true;
        let retry = self.keys.keys_label(Action::Register);
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        let provider_name = job.provider().unwrap_or_default().to_string();
        let prov = escape_display(&provider_name);
        let existed = created.as_ref().is_some_and(|c| c.existed);
        match result {
            Ok((c, reg)) => {
                job.registered = Some((provider_name.clone(), reg.remote_id.clone()));
                job.log
                    .push(format!("registered {}: {}", provider_name, reg.remote_id));
                job.end(JobState::Done {
                    id: c.id.clone(),
                    existed,
                });
                if created.is_some() {
                    self.show_created(&c);
                }
                self.replace_character(&c);
                let remote = escape_display(&reg.remote_id);
                let usage = usage_lines(&c.name, &c.id, Some(&reg.remote_id));
                let what = if created.is_some() && !existed {
                    format!("created as {} and registered", c.id)
                } else {
                    "registered".to_string()
                };
                self.set_status(
                    StatusKind::Ok,
                    format!(
                        "{} {what} with {prov}: {remote}  ·  {}",
                        fit(&escape_display(&c.name), STATUS_NAME_W),
                        escape_display(usage[2].trim_start_matches("json:").trim()),
                    ),
                );
            }
            Err(e) => {
                let cancelled = e.is_cancelled();
                // A cancel after the request was submitted: the remote job may still finish.
                let remote = e
                    .message
                    .strip_prefix("cancelled: ")
                    .filter(|m| cancelled && *m != "nothing was saved")
                    .map(escape_display);
                if let Some(m) = &remote {
                    job.log.push(format!("{REMOTE_LOG:<10} {m}"));
                }
                let why = if cancelled {
                    match &remote {
                        Some(m) => format!("cancelled ({m})"),
                        None => "cancelled".to_string(),
                    }
                } else {
                    format!("failed: {}", escape_display(&e.message))
                };
                match created {
                    Some(created) => {
                        let c = created.character;
                        let msg = format!(
                            "saved as {}, but registering with {prov} {why}: press {retry} to retry",
                            c.id
                        );
                        job.end(JobState::Failed(msg.clone()));
                        self.show_created(&c);
                        self.set_status(StatusKind::Error, msg);
                    }
                    None if cancelled => {
                        job.end(JobState::Cancelled);
                        self.set_status(
                            StatusKind::Info,
                            format!(
                                "registering with {prov} cancelled: nothing was recorded{}",
                                remote.map(|m| format!("; {m}")).unwrap_or_default()
                            ),
                        );
                    }
                    None => {
                        let msg = escape_display(&e.message);
                        job.end(JobState::Failed(msg.clone()));
                        self.set_status(
                            StatusKind::Error,
                            format!("registering with {prov} {why}: press {retry} to retry"),
                        );
                    }
                }
            }
        }
        self.start_next_job();
    }

    /// Show an updated record in the library pane, keeping the search and the selection.
    fn replace_character(&mut self, updated: &Character) {
        let selected = self.library.selected_character().map(|c| c.id.clone());
        let mut chars = std::mem::take(&mut self.library.characters);
        let corrupt = std::mem::take(&mut self.library.corrupt);
        match chars.iter_mut().find(|c| c.id == updated.id) {
            Some(c) => *c = updated.clone(),
            None => chars.push(updated.clone()),
        }
        let query = self.library.query.value().to_string();
        self.library.set_characters(chars, corrupt);
        self.library.query = TextInput::new(query);
        let req = self.library.query_changed();
        self.spawn_search(req);
        if let Some(id) = selected {
            self.library.select_id(&id);
        }
    }

    // ---- library ----

    fn search_changed(&mut self) {
        let req = self.library.query_changed();
        self.spawn_search(req);
        self.load_char_preview();
        self.dirty = true;
    }

    fn spawn_search(&mut self, req: Option<SearchRequest>) {
        if let Some(req) = req {
            self.effects.push(Effect::Search(req));
        }
    }

    fn copy_selected(&mut self) {
        let Some(c) = self.library.selected_character() else {
            self.set_status(StatusKind::Error, "no character selected to copy");
            return;
        };
        let id = c.id.clone();
        self.output.extend_from_slice(&clipboard::osc52(&id));
        // A local clipboard tool runs off the UI task; `Msg::Copied` says if it took it.
        if self.local_clipboard {
            self.effects.push(Effect::CopyLocal { text: id.clone() });
        }
        self.set_status(
            StatusKind::Ok,
            format!("copied {id} (via the terminal, OSC 52)"),
        );
    }

    fn edit(&mut self, f: impl FnOnce(String, &Character) -> (PromptKind, String)) {
        let Some(c) = self.library.selected_character() else {
            return;
        };
        let (kind, value) = f(c.id.clone(), c);
        self.open_prompt(kind, &value);
    }

    /// Change a record off the UI task (under the library's lock); `Msg::Library` reports.
    fn apply_edit(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Character) -> crate::Result<()> + Send + 'static,
    ) {
        self.effects.push(Effect::Edit {
            id: id.to_string(),
            edit: Box::new(edit),
        });
    }

    /// Move a character to the trash off the UI task.
    fn remove(&mut self, id: &str) {
        self.effects.push(Effect::Remove { id: id.to_string() });
    }

    /// `u`: put the last character removed back from the trash (this session's last removal,
    /// else the trash's most recent), off the UI task.
    fn undo_remove(&mut self) {
        let id = self.removed.pop();
        self.effects.push(Effect::Restore { id });
    }

    fn on_library_done(&mut self, done: LibraryDone) {
        self.dirty = true;
        match done {
            LibraryDone::Edited(result) => match *result {
                Ok(updated) => {
                    self.replace_character(&updated);
                    self.library.select_id(&updated.id);
                    self.set_status(StatusKind::Ok, format!("saved {}", updated.id));
                }
                Err(e) => self.set_status(StatusKind::Error, escape_display(&e.message)),
            },
            LibraryDone::Removed { id, result } => match *result {
                Ok(trash) => {
                    self.removed.push(id.clone());
                    let selected = self.library.selected;
                    let mut chars = std::mem::take(&mut self.library.characters);
                    let corrupt = std::mem::take(&mut self.library.corrupt);
                    chars.retain(|c| c.id != id);
                    let query = self.library.query.value().to_string();
                    self.library.set_characters(chars, corrupt);
                    self.library.query = TextInput::new(query);
                    let req = self.library.query_changed();
                    self.spawn_search(req);
                    self.library.selected = selected;
                    self.library.move_by(0);
                    self.load_char_preview();
                    let shown = self.display_path(&trash);
                    let undo = self.keys.keys_label(Action::Undo);
                    self.set_status(
                        StatusKind::Ok,
                        format!("{id} moved to {shown}  ·  {undo} (Library pane) brings it back"),
                    );
                }
                Err(e) => self.set_status(StatusKind::Error, escape_display(&e.message)),
            },
            LibraryDone::Restored { id, result } => match *result {
                Ok(c) => {
                    self.replace_character(&c);
                    self.library.select_id(&c.id);
                    self.load_char_preview();
                    self.set_status(
                        StatusKind::Ok,
                        format!(
                            "{} is back: {}",
                            fit(&escape_display(&c.name), STATUS_NAME_W),
                            c.id
                        ),
                    );
                }
                Err(e) => {
                    // Still in the trash: u can try again once the cause is gone.
                    if let Some(id) = id {
                        self.removed.push(id);
                    }
                    self.set_status(
                        StatusKind::Error,
                        format!("not restored: {}", escape_display(&e.message)),
                    );
                }
            },
        }
    }

    /// Export the library to `path` (typed), off the UI task; an existing file is replaced
    /// only once confirmed.
    fn export(&mut self, path: &str, overwrite: bool) {
        let path = expand_tilde(Path::new(path), self.home.as_deref());
        if path.as_os_str().is_empty() {
            return;
        }
        if !overwrite && path.exists() {
            self.confirm = Some(Confirm {
                id: String::new(),
                name: String::new(),
                kind: ConfirmKind::Overwrite(path),
            });
            return;
        }
        self.effects.push(Effect::Export {
            path,
            characters: self.library.characters.clone(),
            overwrite,
        });
        self.set_status(StatusKind::Info, "exporting…");
    }

    fn on_exported(&mut self, path: PathBuf, result: crate::Result<usize>) {
        self.dirty = true;
        match result {
            Ok(n) => {
                let shown = self.display_path(&path);
                self.set_status(
                    StatusKind::Ok,
                    format!("exported {n} characters to {shown}"),
                );
                if path.parent() == Some(self.files.dir.as_path()) {
                    self.files.reload();
                }
            }
            Err(e) => self.set_status(StatusKind::Error, escape_display(&e.message)),
        }
    }
}

/// Run a job to its end; the message that reports how it ended.
pub(crate) async fn run_job(
    id: u64,
    lib: Library,
    kind: JobKind,
    etx: UnboundedSender<job::JobEvent>,
    cancel: tokio_util::sync::CancellationToken,
) -> Msg {
    match kind {
        JobKind::Create {
            input,
            opts,
            register,
        } => {
            let result = job::create(
                lib.clone(),
                input,
                opts,
                Reporter::new(etx.clone()),
                cancel.clone(),
            )
            .await;
            match (result, register) {
                (Ok(created), Some(p))
                    if created
                        .character
                        .provider_ids
                        .get(p.name())
                        .is_none_or(|r| r.expired()) =>
                {
                    let mut reporter = Reporter::new(etx);
                    let result = provider::register_character(
                        &lib,
                        &p,
                        &created.character,
                        &mut reporter,
                        &cancel,
                    )
                    .await;
                    Msg::RegisterDone {
                        id,
                        created: Some(Box::new(created)),
                        result: Box::new(result),
                    }
                }
                (result, _) => Msg::JobDone {
                    id,
                    result: Box::new(result),
                },
            }
        }
        JobKind::Register {
            character,
            provider,
        } => {
            let mut reporter = Reporter::new(etx);
            let result =
                provider::register_character(&lib, &provider, &character, &mut reporter, &cancel)
                    .await;
            Msg::RegisterDone {
                id,
                created: None,
                result: Box::new(result),
            }
        }
    }
}

/// Whether a job kind registers the character `id` with the provider `name`.
fn is_register_of(kind: &JobKind, id: &str, name: &str) -> bool {
    matches!(kind, JobKind::Register { character, provider }
        if character.id == id && provider.name() == name)
}

fn expand_tilde(p: &Path, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~"), home) {
        (Ok(rest), Some(h)) => h.join(rest),
        _ => p.to_path_buf(),
    }
}

/// The editing request a key stands for in a text field.
pub fn text_request(ev: &KeyEvent) -> Option<InputRequest> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    let alt = ev.modifiers.contains(KeyModifiers::ALT);
    Some(match ev.code {
        KeyCode::Char('a') if ctrl => InputRequest::GoToStart,
        KeyCode::Char('e') if ctrl => InputRequest::GoToEnd,
        KeyCode::Char('u') if ctrl => InputRequest::DeleteLine,
        KeyCode::Char('w') if ctrl => InputRequest::DeletePrevWord,
        KeyCode::Char('k') if ctrl => InputRequest::DeleteTillEnd,
        KeyCode::Char(c) if !ctrl && !alt => InputRequest::InsertChar(c),
        KeyCode::Backspace if ctrl || alt => InputRequest::DeletePrevWord,
        KeyCode::Backspace => InputRequest::DeletePrevChar,
        KeyCode::Delete => InputRequest::DeleteNextChar,
        KeyCode::Left if ctrl => InputRequest::GoToPrevWord,
        KeyCode::Right if ctrl => InputRequest::GoToNextWord,
        KeyCode::Left => InputRequest::GoToPrevChar,
        KeyCode::Right => InputRequest::GoToNextChar,
        KeyCode::Home => InputRequest::GoToStart,
        KeyCode::End => InputRequest::GoToEnd,
        _ => return None,
    })
}
