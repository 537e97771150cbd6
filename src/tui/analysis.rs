//! What the Clip pane knows of a clip's content beyond its rules: where its shots change
//! (the cuts), the window `--start auto` chooses, and the quality hints of any window before
//! anything is created. One adapter over the pipeline's analysis
//! (`pipeline::analyze::Analysis`), so the app depends on it in this file only.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::library::Warning;
use crate::pipeline::analyze::{self, Analysis, Choice};
use crate::pipeline::cuts::Cut;
use crate::pipeline::probe::ClipInfo;

/// The analysis of one clip's first `analyze::SCAN_LIMIT_S` seconds, with its keyframes.
#[derive(Debug, Clone)]
pub struct ClipAnalysis {
    analysis: Arc<Analysis>,
    keyframes: Vec<f64>,
}

impl ClipAnalysis {
    /// Decode and measure the clip (blocking; cancelled with `cancel`).
    pub fn run(info: &ClipInfo, cancel: &CancellationToken) -> Result<ClipAnalysis> {
        let analysis = Arc::new(analyze::analyze(info, cancel)?);
        Ok(ClipAnalysis::of(analysis, info))
    }

    /// The analysis a probe made already, when it covers the clip from its start (not only
    /// a window past the first minute).
    pub fn from_probe(analysis: Option<&Arc<Analysis>>, info: &ClipInfo) -> Option<ClipAnalysis> {
        analysis
            .filter(|a| a.whole)
            .map(|a| ClipAnalysis::of(a.clone(), info))
    }

    fn of(analysis: Arc<Analysis>, info: &ClipInfo) -> ClipAnalysis {
        ClipAnalysis {
            analysis,
            keyframes: analyze::keyframe_times(info),
        }
    }

    /// The pipeline's analysis (a create of the same clip reuses it).
    pub fn analysis(&self) -> &Arc<Analysis> {
        &self.analysis
    }

    /// The cuts, in time order.
    pub fn cuts(&self) -> &[Cut] {
        &self.analysis.cuts
    }

    /// The window `--start auto` chooses, and what is wrong with it when nothing is clean.
    pub fn choice(&self) -> Choice {
        self.analysis.choose(&self.keyframes)
    }

    /// The start of the next shot after `from_s` (`forward`), or of the shot before the one
    /// `from_s` is in; a shot starts where a cut (or its transition) ends, the first at 0.
    pub fn shot_start(&self, from_s: f64, forward: bool) -> Option<f64> {
        let duration = self.analysis.duration_s;
        // On the tenth of a second the window moves by, never inside the transition.
        let starts: Vec<f64> = std::iter::once(0.0)
            .chain(
                self.cuts()
                    .iter()
                    .map(|c| (c.extent().1 * 10.0).ceil() / 10.0),
            )
            .filter(|s| *s < duration)
            .collect();
        const EPS: f64 = 0.05;
        if forward {
            starts.into_iter().find(|s| *s > from_s + EPS)
        } else {
            starts.into_iter().rev().find(|s| *s < from_s - EPS)
        }
    }

    /// The quality hints of the window starting at `start_s` (none claimed past the analysed
    /// part).
    pub fn hints_for_window(&self, start_s: f64) -> Vec<Warning> {
        if self.analysis.covers(start_s) {
            self.analysis.hints_for_window(start_s)
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::cuts::CutKind;

    fn analysis(cuts: Vec<Cut>) -> ClipAnalysis {
        ClipAnalysis {
            analysis: Arc::new(Analysis {
                fps: 10.0,
                start_s: 0.0,
                duration_s: 20.0,
                frames: vec![Default::default(); 200],
                cuts,
                whole: true,
            }),
            keyframes: Vec::new(),
        }
    }

    #[test]
    fn shots_start_after_each_cut_and_its_transition() {
        let a = analysis(vec![
            Cut {
                at_s: 6.0,
                kind: CutKind::Hard,
                span: None,
            },
            Cut {
                at_s: 13.5,
                kind: CutKind::Fade,
                span: Some((12.96, 14.04)),
            },
        ]);
        assert_eq!(a.shot_start(0.0, true), Some(6.0));
        assert_eq!(a.shot_start(6.0, true), Some(14.1));
        assert_eq!(a.shot_start(14.1, true), None);
        assert_eq!(a.shot_start(15.0, false), Some(14.1));
        assert_eq!(a.shot_start(14.1, false), Some(6.0));
        assert_eq!(a.shot_start(6.0, false), Some(0.0));
        assert_eq!(a.shot_start(0.0, false), None);
    }
}
