//! What can happen to the app: `Action`s come from keys through the key map; `Msg` is
//! everything `App::update` handles (actions, typed text, and the results of background work).

use crossterm::event::KeyEvent;
use image::DynamicImage;

use crate::library::Character;
use crate::library::search::Hit;
use crate::pipeline::job::{Created, JobEvent, ProbeReport};
use crate::provider::Registration;

macro_rules! actions {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// A user intent, independent of the key that asked for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];
            /// The name used in the config's `[keys]` table.
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }
            pub fn from_name(name: &str) -> Option<Action> {
                match name { $($name => Some(Action::$variant),)* _ => None }
            }
        }
    };
}

actions! {
    NextPane = "next_pane",
    PrevPane = "prev_pane",
    Up = "up",
    Down = "down",
    PageUp = "page_up",
    PageDown = "page_down",
    Top = "top",
    Bottom = "bottom",
    Open = "open",
    Back = "back",
    Parent = "parent",
    TypePath = "type_path",
    AllFiles = "all_files",
    Mark = "mark",
    MarkAll = "mark_all",
    CreateMarked = "create_marked",
    StartEarlier = "start_earlier",
    StartLater = "start_later",
    StartMuchEarlier = "start_much_earlier",
    StartMuchLater = "start_much_later",
    Create = "create",
    Search = "search",
    Copy = "copy",
    Sort = "sort",
    EditName = "edit_name",
    EditNotes = "edit_notes",
    EditTags = "edit_tags",
    Remove = "remove",
    Undo = "undo",
    Register = "register",
    UseFor = "use_for",
    Export = "export",
    CancelJob = "cancel_job",
    Help = "help",
    Quit = "quit",
    ForceQuit = "force_quit",
    Suspend = "suspend",
}

/// Everything `App::update` reacts to.
#[derive(Debug)]
pub enum Msg {
    /// A key press (turned into an action, or into text when a field is being typed in).
    Key(KeyEvent),
    /// An action, e.g. from a test.
    Action(Action),
    /// A click or a wheel turn (when the mouse is taken).
    Mouse(crossterm::event::MouseEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    Resize,
    /// Time passed while jobs run (elapsed times change).
    Tick,
    /// SIGTERM, SIGHUP or SIGINT: cancel the jobs and quit.
    Terminate,
    ProbeDone {
        generation: u64,
        report: Box<crate::Result<ProbeReport>>,
    },
    PreviewReady {
        key: String,
        image: Option<Box<DynamicImage>>,
    },
    SearchDone {
        generation: u64,
        query: String,
        hits: Vec<Hit>,
    },
    Job {
        id: u64,
        event: JobEvent,
    },
    JobDone {
        id: u64,
        result: Box<crate::Result<Created>>,
    },
    /// The library folder is watched; the app keeps the watcher.
    Watching(Box<notify::RecommendedWatcher>),
    /// The library folder changed (seen by the watcher, debounced).
    LibraryChanged,
    /// The library was read.
    LibraryLoaded(Box<crate::Result<crate::library::store::Listing>>),
    /// A change to the library, made off the UI task, is done.
    Library(LibraryDone),
    /// An export file was written (or not).
    Exported {
        path: std::path::PathBuf,
        result: Box<crate::Result<usize>>,
    },
    /// What to send a model for a character was worked out (or not).
    UseDone {
        model: &'static str,
        result: Box<crate::Result<crate::usage::Plan>>,
    },
    /// A job registered a character with a provider (or failed to). `created` is set when
    /// the job created the character first: it is saved whatever `result` says.
    RegisterDone {
        id: u64,
        created: Option<Box<Created>>,
        result: Box<crate::Result<(Character, Registration)>>,
    },
}

/// The end of a library change run off the UI task.
#[derive(Debug)]
pub enum LibraryDone {
    Edited(Box<crate::Result<Character>>),
    Removed {
        id: String,
        result: Box<crate::Result<std::path::PathBuf>>,
    },
    /// A removal was undone (the character is back from the trash), or refused.
    Restored {
        id: Option<String>,
        result: Box<crate::Result<Character>>,
    },
}
