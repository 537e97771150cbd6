//! The real terminal: raw mode, alternate screen, bracketed paste; restored on exit, on
//! panic (before the previous panic hook runs) and on drop; Ctrl-Z gives the terminal back
//! and stops the process; SIGTERM, SIGHUP and SIGINT quit cleanly.

use std::io::{self, Stdout};

use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    EventStream,
};
use crossterm::terminal::{
    EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui_image::picker::{Picker, ProtocolType};

use crate::tui::action::Msg;
use crate::tui::app::{App, AppOptions};
use crate::tui::{Host, probe, run_loop};

/// Whether the app takes the mouse (`[ui] mouse`).
static MOUSE: AtomicBool = AtomicBool::new(false);

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    if MOUSE.load(Ordering::Relaxed) {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    Ok(())
}

/// Give the terminal back as it was; safe to call more than once.
pub fn restore() {
    if MOUSE.load(Ordering::Relaxed) {
        let _ = execute!(io::stdout(), DisableMouseCapture);
    }
    let _ = execute!(
        io::stdout(),
        EndSynchronizedUpdate,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restores the terminal when dropped (normal exit and early returns).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

struct RealHost;

impl Host for RealHost {
    fn suspend(&mut self) -> io::Result<()> {
        restore();
        // SAFETY: raising a signal in our own process; SIGTSTP's default action stops it
        // until SIGCONT (`fg`), then execution continues here.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        enter()
    }
    fn frame_start(&self) -> &'static [u8] {
        b"\x1b[?2026h"
    }
    fn frame_end(&self) -> &'static [u8] {
        b"\x1b[?2026l"
    }
}

/// Forward termination signals to the app as `Msg::Terminate`.
fn watch_signals(app: &App) {
    use tokio::signal::unix::{SignalKind, signal};
    let tx = app.sender();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
                _ = int.recv() => {}
            }
            if tx.send(Msg::Terminate).is_err() {
                return;
            }
        }
    });
}

/// The image protocol for previews and the keys typed while it was asked for. Inside tmux or
/// screen nothing is asked (they answer for themselves, not for the outer terminal):
/// half-blocks work everywhere.
fn picker() -> (Picker, Vec<u8>) {
    let answer = if probe::should_query() {
        probe::query(probe::QUERY_TIMEOUT).unwrap_or_default()
    } else {
        probe::Answer::default()
    };
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    // Their kitty and sixel support is partial: iTerm2 images (from the environment) instead.
    let partial = set("WEZTERM_EXECUTABLE") || set("KONSOLE_VERSION");
    let mut picker = probe::picker(ProtocolType::Halfblocks, answer.cell);
    let from_env = if probe::should_query() {
        env_protocol()
    } else {
        ProtocolType::Halfblocks
    };
    let protocol = match answer.protocol() {
        ProtocolType::Halfblocks => from_env,
        _ if partial => from_env,
        p => p,
    };
    picker.set_protocol_type(protocol);
    (picker, answer.typed)
}

/// Terminals known by their environment to show iTerm2 images.
fn env_protocol() -> ProtocolType {
    let program = std::env::var("TERM_PROGRAM").unwrap_or_default();
    let iterm = [
        "iTerm", "WezTerm", "mintty", "vscode", "Tabby", "Hyper", "rio",
    ]
    .iter()
    .any(|p| program.contains(p));
    if iterm {
        ProtocolType::Iterm2
    } else {
        ProtocolType::Halfblocks
    }
}

pub async fn run_in_terminal(mut opts: AppOptions) -> io::Result<()> {
    install_panic_hook();
    MOUSE.store(opts.mouse, Ordering::Relaxed);
    enter()?;
    let _guard = Guard;
    // Ask the terminal which image protocol it speaks before reading its events; keys typed
    // meanwhile are handed to the app below.
    let (picker, typed) = picker();
    opts.picker = Some(picker);
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let (mut app, mut rx) = App::new(opts);
    for key in probe::decode_keys(&typed) {
        app.handle(Msg::Key(key));
    }
    watch_signals(&app);
    let mut events = EventStream::new();
    let mut out = io::stdout();
    let result = run_loop(
        &mut terminal,
        &mut app,
        &mut rx,
        &mut events,
        &mut out,
        &mut RealHost,
    )
    .await;
    drop(terminal);
    restore();
    result
}
