//! The terminal app (SPEC section 5): three panes (files, clip, library), background jobs
//! with live progress, fuzzy library search. Event -> Action -> `App::update` -> draw, and a
//! frame is drawn only when something changed.

pub mod action;
pub mod analysis;
pub mod app;
pub mod clip;
pub mod clipboard;
pub mod component;
pub mod effect;
pub mod files;
pub mod jobs;
pub mod keys;
pub mod library;
pub mod media;
pub mod preview;
pub mod probe;
pub mod term;
pub mod theme;
pub mod ui;
pub mod watch;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::Event;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{self, Config};
use crate::tui::action::Msg;
use crate::tui::app::{App, AppOptions};
use crate::tui::keys::KeyMap;
use crate::tui::theme::{ColorMode, Theme};

/// How long quitting waits for cancelled jobs to clean up after themselves.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What `castbook [PATH] [--theme NAME]` asks for.
pub struct Options {
    pub path: Option<PathBuf>,
    pub theme: Option<String>,
    pub library: Option<PathBuf>,
}

/// Start the app; returns the process exit code.
pub async fn run(opts: Options) -> i32 {
    let prepared = match prepare(opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("castbook: {}", e.message);
            return e.exit_code();
        }
    };
    match term::run_in_terminal(prepared).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("castbook: terminal error: {e}");
            1
        }
    }
}

/// Everything read before the terminal is taken over, so errors print plainly.
fn prepare(opts: Options) -> crate::Result<AppOptions> {
    use crate::error::Error;
    let cfg = Config::load()?;
    let cfg_name = cfg
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".into());
    let keys = KeyMap::from_config(&cfg.keys)
        .map_err(|m| Error::input("config", format!("{cfg_name}: {m}")))?;
    let theme_name = opts
        .theme
        .or(cfg.theme.clone())
        .unwrap_or_else(|| "default".into());
    let theme = Theme::load(
        &theme_name,
        config::config_dir().map(|d| d.join("themes")),
        ColorMode::from_env(),
    )
    .map_err(|m| Error::input("theme", m))?;
    let providers = crate::provider::Registry::from_config(&cfg)?;
    if let Some(name) = &cfg.defaults.provider {
        providers.get(name).map_err(|e| {
            Error::input(
                "config",
                format!("{cfg_name}: [defaults] provider: {}", e.message),
            )
        })?;
    }
    let library = crate::cli::open_library(opts.library, &cfg)?;
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    let given =
        opts.path.or(cfg
            .defaults
            .folder
            .clone()
            .map(|f| match (f.strip_prefix("~"), &home) {
                (Ok(rest), Some(h)) => h.join(rest),
                _ => f,
            }));
    let start_path = match given {
        Some(p) => {
            let abs = if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            };
            if !abs.exists() {
                return Err(Error::input(
                    "not_found",
                    format!(
                        "{} does not exist: give a folder or a clip",
                        crate::util::escape_display(&abs.display().to_string())
                    ),
                ));
            }
            std::fs::canonicalize(&abs).unwrap_or(abs)
        }
        None => std::env::current_dir()
            .map_err(|e| Error::io("reading", std::path::Path::new("."), &e))?,
    };
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(Error::other(
            "no_terminal",
            "the terminal app needs a terminal; for scripts use the commands (castbook --help)",
        ));
    }
    Ok(AppOptions {
        library,
        keys,
        theme,
        start_path,
        picker: None,
        home,
        default_start_s: cfg.defaults.start.unwrap_or(0.0).max(0.0),
        strict: cfg.defaults.strict.unwrap_or(false),
        local_clipboard: true,
        providers,
        default_provider: cfg.defaults.provider.clone(),
        mouse: cfg.ui.mouse.unwrap_or(true),
    })
}

/// What the loop needs from the real terminal besides drawing.
pub trait Host {
    /// Give the terminal back, stop the process (Ctrl-Z), take the terminal again on resume.
    fn suspend(&mut self) -> io::Result<()>;
    /// Bytes written around each frame (synchronized output).
    fn frame_start(&self) -> &'static [u8] {
        b""
    }
    fn frame_end(&self) -> &'static [u8] {
        b""
    }
}

/// A host without a terminal (tests).
pub struct NoHost;

impl Host for NoHost {
    fn suspend(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The event loop: draw when something changed, then wait for a terminal event, a message
/// from background work, or (only while jobs run) a one-second tick. Returns once the app
/// quits and its running jobs have stopped.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    events: &mut S,
    out: &mut dyn Write,
    host: &mut dyn Host,
) -> io::Result<()>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    S: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if app.suspend {
            app.suspend = false;
            host.suspend()?;
            terminal.clear().map_err(io::Error::other)?;
            app.dirty = true;
        }
        if app.dirty {
            app.dirty = false;
            out.write_all(host.frame_start())?;
            out.flush()?;
            terminal
                .draw(|f| ui::draw(f, app))
                .map_err(io::Error::other)?;
            out.write_all(host.frame_end())?;
            app.draws += 1;
        }
        if !app.output.is_empty() {
            out.write_all(&std::mem::take(&mut app.output))?;
        }
        out.flush()?;
        if app.quit {
            break;
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if let Some(msg) = event_msg(ev) {
                        app.handle(msg);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => app.handle(Msg::Terminate),
            },
            Some(msg) = rx.recv() => {
                app.handle(msg);
                // Take everything already waiting before drawing once.
                while let Ok(m) = rx.try_recv() {
                    app.handle(m);
                }
            }
            _ = tick.tick(), if app.wants_tick() => app.handle(Msg::Tick),
        }
    }
    // Cancelled jobs stop their ffmpeg and clean their work folders; wait for that.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
    while app.jobs.running() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(msg)) => app.handle(msg),
            _ => break,
        }
    }
    Ok(())
}

fn event_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => Some(Msg::Key(k)),
        Event::Paste(s) => Some(Msg::Paste(s)),
        Event::Resize(..) => Some(Msg::Resize),
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        _ => None,
    }
}
