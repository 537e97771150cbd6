//! The real terminal: raw mode, alternate screen, bracketed paste; restored on exit, on
//! panic (before the previous panic hook runs) and on drop; Ctrl-Z gives the terminal back
//! and stops the process; SIGTERM, SIGHUP and SIGINT quit cleanly.

use std::io::{self, Stdout};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, EventStream};
use crossterm::terminal::{
    EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui_image::picker::Picker;

use crate::tui::action::Msg;
use crate::tui::app::{App, AppOptions};
use crate::tui::{Host, run_loop};

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )
}

/// Give the terminal back as it was; safe to call more than once.
pub fn restore() {
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

/// The image protocol for previews: asked of the terminal, except inside tmux or screen,
/// which do not answer for the outer terminal (half-blocks work everywhere).
fn picker() -> io::Result<Picker> {
    let multiplexed = std::env::var_os("TMUX").is_some() || std::env::var_os("STY").is_some();
    if multiplexed {
        return Ok(Picker::halfblocks());
    }
    let picker = Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks());
    // The query switches raw mode off when it is done: switch it on again.
    enable_raw_mode()?;
    Ok(picker)
}

pub async fn run_in_terminal(mut opts: AppOptions) -> io::Result<()> {
    install_panic_hook();
    enter()?;
    let _guard = Guard;
    // Ask the terminal which image protocol it speaks before reading its events.
    opts.picker = Some(picker()?);
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let (mut app, mut rx) = App::new(opts);
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
