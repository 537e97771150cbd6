//! A pane as a component: it owns its state, handles the actions of its keys while it has
//! focus, and draws itself from that state alone (`draw(&self)`). What it cannot do itself
//! (say something in the status line, open an overlay, give the focus back, start work) it
//! asks of the app in its `Reply`.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::app::{ReaderKind, StatusKind};
use crate::tui::effect::Effect;
use crate::tui::keys::KeyMap;
use crate::tui::theme::Theme;

/// What drawing needs besides the pane's own state.
pub struct View<'a> {
    pub theme: &'a Theme,
    pub keys: &'a KeyMap,
    pub focused: bool,
    pub now: Instant,
}

/// What a pane asks of the app after an action.
#[derive(Debug, Default)]
pub struct Reply {
    /// A message for the status line.
    pub status: Option<(StatusKind, String)>,
    /// A reader overlay to open.
    pub open: Option<ReaderKind>,
    /// The pane has nothing left to show: focus moves on.
    pub leave: bool,
    /// Queued jobs may start (a slot was freed).
    pub start_jobs: bool,
    /// Work to run off the UI task.
    pub effects: Vec<Effect>,
}

pub trait Pane {
    /// Whether the pane handles `action` itself while it has focus.
    fn takes(&self, action: Action) -> bool;
    /// Handle one of the actions it takes.
    fn on_action(&mut self, action: Action) -> Reply;
    /// Draw the pane into `area` from its state.
    fn draw(&self, frame: &mut Frame, area: Rect, view: &View);
}
