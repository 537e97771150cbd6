//! The clip pane's state: the selected clip (a file or a URL), the start of its 4-second
//! window, and its probe (every rule's verdict and the metadata), run in the background.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::pipeline::job::{Input, ProbeReport};
use crate::tui::analysis::ClipAnalysis;

/// Length of the used window (SPEC section 1).
pub const WINDOW_S: f64 = 4.0;
/// How far one key press moves the window start.
pub const START_STEP_S: f64 = 0.5;
/// How far one shifted key press moves it.
pub const START_BIG_STEP_S: f64 = 5.0;

#[derive(Debug)]
pub enum ProbeState {
    Running,
    Done(Box<ProbeReport>),
    Failed(crate::Error),
}

/// The analysis of the clip's content (cuts, auto window, hints), run once per clip.
#[derive(Debug)]
pub enum AnalysisState {
    Running,
    Done(Arc<ClipAnalysis>),
    Failed(String),
}

/// What waits for the analysis: `a` (the auto window) or `[` `]` (the previous or next
/// shot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Auto,
    Shot { forward: bool },
}

#[derive(Debug, Default)]
pub struct ClipPane {
    pub input: Option<Input>,
    /// The file name or URL, for the title (shown escaped).
    pub label: String,
    pub start_s: f64,
    pub probe: Option<ProbeState>,
    pub generation: u64,
    pub cancel: Option<CancellationToken>,
    /// The clip's duration, kept while the same clip is probed again at another start.
    pub duration: Option<f64>,
    /// The decoding of the window's preview frames (cancelled when the window moves).
    pub preview_cancel: Option<CancellationToken>,
    pub analysis: Option<AnalysisState>,
    /// Cancels the analysis (another clip was selected).
    pub analysis_cancel: Option<CancellationToken>,
    /// A window move asked for before the analysis was done.
    pub want: Option<Want>,
}

impl ClipPane {
    /// Select a new clip (or the same one at a new start): the previous probe is cancelled;
    /// returns the generation and token for the new one.
    pub fn begin(&mut self, input: Input, start_s: f64) -> (u64, CancellationToken) {
        self.stop();
        self.label = match &input {
            Input::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            Input::Url(u) => u.clone(),
        };
        if self.input.as_ref() != Some(&input) {
            self.duration = None;
            self.analysis = None;
            self.want = None;
            if let Some(c) = self.analysis_cancel.take() {
                c.cancel();
            }
        }
        self.input = Some(input);
        self.start_s = start_s;
        self.probe = Some(ProbeState::Running);
        self.generation += 1;
        let token = CancellationToken::new();
        self.cancel = Some(token.clone());
        (self.generation, token)
    }

    /// Cancel the background work on the clip (its check and its preview).
    pub fn stop(&mut self) {
        for c in [self.cancel.take(), self.preview_cancel.take()]
            .into_iter()
            .flatten()
        {
            c.cancel();
        }
    }

    /// A token for decoding the preview of the current window; the previous one is cancelled.
    pub fn preview_token(&mut self) -> CancellationToken {
        if let Some(c) = self.preview_cancel.take() {
            c.cancel();
        }
        let token = CancellationToken::new();
        self.preview_cancel = Some(token.clone());
        token
    }

    /// The analysis, once done.
    pub fn analysis(&self) -> Option<&Arc<ClipAnalysis>> {
        match &self.analysis {
            Some(AnalysisState::Done(a)) => Some(a),
            _ => None,
        }
    }

    pub fn report(&self) -> Option<&ProbeReport> {
        match &self.probe {
            Some(ProbeState::Done(r)) => Some(r),
            _ => None,
        }
    }

    /// Record a finished probe.
    pub fn finish(&mut self, result: crate::Result<ProbeReport>) {
        self.cancel = None;
        self.probe = Some(match result {
            Ok(r) => {
                self.duration = Some(r.metadata.duration_s);
                ProbeState::Done(Box::new(r))
            }
            Err(e) => ProbeState::Failed(e),
        });
    }

    /// Duration of the whole clip, when known.
    pub fn duration_s(&self) -> Option<f64> {
        self.duration
    }

    /// The window start moved by `delta`, clamped to the clip (start 0 .. duration - 1 s).
    pub fn shifted_start(&self, delta: f64) -> f64 {
        let max = self.duration_s().map_or(0.0, |d| (d - 1.0).max(0.0));
        let start = ((self.start_s + delta) * 10.0).round() / 10.0;
        start.clamp(0.0, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_is_clamped_to_the_clip() {
        let mut c = ClipPane::default();
        c.begin(Input::File("/x/a.mp4".into()), 0.0);
        assert_eq!(c.label, "a.mp4");
        // Unknown duration: the start stays at 0.
        assert_eq!(c.shifted_start(START_STEP_S), 0.0);
        assert_eq!(c.shifted_start(-START_STEP_S), 0.0);
    }
}
