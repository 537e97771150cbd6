//! What the Clip pane knows of a clip's content beyond its rules: where its shots change
//! (the cuts), the window `--start auto` chooses, and the quality hints of any window before
//! anything is created. One adapter over the pipeline's analysis, so the app depends on it
//! in this file only.

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::library::Warning;
use crate::pipeline::analyze::{self, SCAN_FPS};
use crate::pipeline::mp4;
use crate::pipeline::probe::{ClipInfo, WINDOW_S};

/// Mean brightness (0-255) below which a window is too dark, above which overexposed (the
/// thresholds of the create's hints).
const DARK: f32 = 40.0;
const BRIGHT: f32 = 215.0;

/// The analysis of one clip (its first `analyze::SCAN_LIMIT_S` seconds).
#[derive(Debug, Clone, Default)]
pub struct ClipAnalysis {
    scan: analyze::Scan,
    keyframes: Vec<f64>,
    duration_s: f64,
    /// Times of the cuts in seconds, in order.
    cuts: Vec<f64>,
}

impl ClipAnalysis {
    /// Decode and measure the clip (blocking; cancelled with `cancel`).
    pub fn run(info: &ClipInfo, cancel: &CancellationToken) -> Result<ClipAnalysis> {
        let scan = analyze::scan(info, cancel)?;
        // The keyframes a window may start on (a stream copy), from the MP4 tables.
        let keyframes: Vec<f64> = mp4::top_level(&info.path)
            .ok()
            .flatten()
            .and_then(|top| {
                let moov = top.moov?;
                mp4::tracks(&moov, top.size)
                    .into_iter()
                    .find(|t| &t.handler == b"vide")
            })
            .map(|t| t.keyframe_times(analyze::SCAN_LIMIT_S))
            .unwrap_or_default();
        Ok(ClipAnalysis::of_scan(scan, keyframes, info.duration_s))
    }

    pub fn of_scan(scan: analyze::Scan, keyframes: Vec<f64>, duration_s: f64) -> ClipAnalysis {
        let cuts = scan
            .cuts()
            .into_iter()
            .map(|i| i as f64 / SCAN_FPS)
            .collect();
        ClipAnalysis {
            scan,
            keyframes,
            duration_s,
            cuts,
        }
    }

    /// The cut times in seconds, in order.
    pub fn cuts(&self) -> &[f64] {
        &self.cuts
    }

    /// The window start `--start auto` chooses.
    pub fn auto_start(&self) -> f64 {
        self.scan.best_start(self.duration_s, &self.keyframes)
    }

    /// The start of the next shot after `from_s` (`forward`) or of the shot before the one
    /// `from_s` is in; the clip's start is the first shot's.
    pub fn shot_start(&self, from_s: f64, forward: bool) -> Option<f64> {
        // A start just after a cut, on the tenth of a second the window moves by.
        let starts: Vec<f64> = std::iter::once(0.0)
            .chain(self.cuts.iter().map(|c| (c * 10.0).ceil() / 10.0))
            .filter(|s| *s < self.duration_s)
            .collect();
        const EPS: f64 = 0.05;
        if forward {
            starts.into_iter().find(|s| *s > from_s + EPS)
        } else {
            starts.into_iter().rev().find(|s| *s < from_s - EPS)
        }
    }

    /// The quality hints of the window starting at `start_s` (empty past the analysed part).
    pub fn hints_for_window(&self, start_s: f64) -> Vec<Warning> {
        let end_s = (start_s + WINDOW_S).min(self.duration_s);
        let frame = |t: f64| (t * SCAN_FPS).round().max(0.0) as usize;
        let (a, b) = (frame(start_s), frame(end_s).min(self.scan.brightness.len()));
        let mut out = Vec::new();
        if a >= b {
            return out;
        }
        let inside: Vec<f64> = self
            .cuts
            .iter()
            .copied()
            .filter(|c| *c > start_s + 0.1 && *c < end_s)
            .collect();
        if !inside.is_empty() {
            let at = inside
                .iter()
                .map(|c| format!("{c:.1} s"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Warning::new(
                "scene_cut",
                format!(
                    "scene cut at {at}: the window shows more than one shot; start after it ([ ] go to the previous/next shot)"
                ),
            ));
        }
        let n = (b - a) as f32;
        let mean = self.scan.brightness[a..b].iter().sum::<f32>() / n;
        if mean < DARK {
            out.push(Warning::new(
                "dark",
                format!("too dark (mean brightness {mean:.0}/255): a brighter window or take"),
            ));
        } else if mean > BRIGHT {
            out.push(Warning::new(
                "overexposed",
                format!(
                    "overexposed (mean brightness {mean:.0}/255): a window or take with less light"
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 s at the scan's rate: shots change at 6 s and 13 s.
    fn analysis() -> ClipAnalysis {
        let n = (20.0 * SCAN_FPS) as usize;
        let scan = analyze::Scan {
            brightness: (0..n).map(|i| if i < 30 { 20.0 } else { 120.0 }).collect(),
            sharpness: vec![10.0; n],
            change: (0..n)
                .map(|i| if i == 30 || i == 65 { 80.0 } else { 1.0 })
                .collect(),
        };
        ClipAnalysis::of_scan(scan, vec![], 20.0)
    }

    #[test]
    fn shots_start_after_each_cut() {
        let a = analysis();
        assert_eq!(a.cuts(), &[6.0, 13.0]);
        assert_eq!(a.shot_start(0.0, true), Some(6.0));
        assert_eq!(a.shot_start(6.0, true), Some(13.0));
        assert_eq!(a.shot_start(13.0, true), None);
        assert_eq!(a.shot_start(14.2, false), Some(13.0));
        assert_eq!(a.shot_start(13.0, false), Some(6.0));
        assert_eq!(a.shot_start(6.0, false), Some(0.0));
        assert_eq!(a.shot_start(0.0, false), None);
    }

    #[test]
    fn hints_name_the_cuts_and_the_exposure_of_the_window() {
        let a = analysis();
        let rules = |s: f64| {
            a.hints_for_window(s)
                .into_iter()
                .map(|w| w.rule)
                .collect::<Vec<_>>()
        };
        assert_eq!(rules(0.0), vec!["dark"]);
        assert_eq!(rules(4.0), vec!["scene_cut"]);
        assert!(a.hints_for_window(4.0)[0].message.contains("6.0 s"));
        assert!(rules(7.0).is_empty());
        // Past the analysed part: nothing is claimed.
        assert!(rules(30.0).is_empty());
    }

    #[test]
    fn auto_avoids_the_cuts_and_the_dark_start() {
        let a = analysis();
        let s = a.auto_start();
        assert!(a.hints_for_window(s).is_empty(), "{s}");
    }
}
