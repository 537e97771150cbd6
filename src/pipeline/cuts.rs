//! The one cut detector: hard cuts, fades through black and dissolves, found in a series of
//! small frames sampled at a steady rate. The quality hints, `--start auto` and the app's
//! timeline all read its answer (through `analyze::Analysis`).
//!
//! - Hard cuts: the change between consecutive frames (luma and chroma, mean absolute
//!   difference) against the change around it: a cut is a change several times its
//!   neighbours' average and above a floor (PySceneDetect's AdaptiveDetector), so fast motion,
//!   which changes every frame a lot, is not a cut.
//! - Fades through black: a run of dark frames (mean luma below a floor, as PySceneDetect's
//!   ThresholdDetector) with picture on both sides; the cut sits in the middle of the run and
//!   its span covers the fade out and the fade in.
//! - Dissolves: over half a second or more, a middle frame that is a blend of the frames
//!   before and after (`M ~ a A + (1 - a) B`), with the two ends showing different pictures
//!   (low correlation). Motion does not fit a blend; a change of brightness alone keeps the
//!   correlation high.

use std::collections::VecDeque;

use serde::Serialize;

/// Side of the small frames the detector compares (luma and chroma planes, each this size).
pub const SMALL_W: usize = 80;
pub const SMALL_H: usize = 45;
const SMALL_N: usize = SMALL_W * SMALL_H;

/// A change at least this many times its neighbours' mean is a cut...
const ADAPTIVE_RATIO: f32 = 3.0;
/// ...when it is also at least this large (mean absolute change, 0-255 per plane, summed).
const MIN_CHANGE: f32 = 14.0;
/// Above this a change half again as large as its neighbours' is a cut too (most of the
/// picture replaced while it was already moving).
const SURE_CHANGE: f32 = 70.0;
/// A change at least half again its neighbours' is a cut too when the colour distribution
/// jumps as well: at least this much (0-1)...
const MIN_HIST_CHANGE: f32 = 0.12;
/// ...and this many times its neighbours' (in fast motion the pixels change a lot from frame
/// to frame, so a cut stands out less in them, but their distribution stays put).
const HIST_RATIO: f32 = 2.5;
/// Neighbours on each side of a frame for the adaptive threshold.
const NEIGHBOURS: usize = 2;
/// A frame darker than this (mean luma 0-255) is black, for fades.
const BLACK_LUMA: f32 = 16.0;
/// Frames between the ends of a dissolve test (at 10 fps: 0.4 and 0.8 s).
const DISSOLVE_GAPS: [usize; 2] = [4, 8];

/// What kind of transition a cut is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutKind {
    /// One frame to the next.
    Hard,
    /// Through black: out to dark and back in.
    Fade,
    /// One picture blended into the next.
    Dissolve,
}

impl CutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CutKind::Hard => "hard cut",
            CutKind::Fade => "fade through black",
            CutKind::Dissolve => "dissolve",
        }
    }
}

/// A change of shot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cut {
    /// Seconds from the start of the clip: the cut itself, or the middle of a transition.
    pub at_s: f64,
    pub kind: CutKind,
    /// First and last second of a fade or a dissolve (`None` for a hard cut).
    pub span: Option<(f64, f64)>,
}

impl Cut {
    /// The seconds the cut occupies: its span, or its instant.
    pub fn extent(&self) -> (f64, f64) {
        self.span.unwrap_or((self.at_s, self.at_s))
    }

    /// Whether any part of the cut falls strictly inside `[from, to)`; a transition that only
    /// touches an end of the window does not split the shot it shows.
    pub fn inside(&self, from: f64, to: f64) -> bool {
        let (a, b) = self.extent();
        b > from + 1e-6 && a < to - 1e-6
    }

    /// "hard cut at 2.15 s", "dissolve 3.0-3.9 s", "fade through black 5.0-6.2 s".
    pub fn describe(&self) -> String {
        match self.span {
            None => format!("{} at {:.2} s", self.kind.as_str(), self.at_s),
            Some((a, b)) => format!("{} {a:.1}-{b:.1} s", self.kind.as_str()),
        }
    }
}

/// A small frame: luma and the two chroma planes, `SMALL_W` x `SMALL_H` each.
#[derive(Debug, Clone)]
pub struct Small {
    pub y: Vec<f32>,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl Small {
    /// Shrink an rgb24 frame of `w` x `h` by area averaging.
    pub fn from_rgb(rgb: &[u8], w: usize, h: usize) -> Small {
        let mut sum = vec![[0u32; 3]; SMALL_N];
        let mut count = vec![0u32; SMALL_N];
        let xs: Vec<usize> = (0..w).map(|x| x * SMALL_W / w.max(1)).collect();
        for (y, line) in rgb.chunks_exact((w * 3).max(1)).take(h).enumerate() {
            let row = &mut sum[(y * SMALL_H / h.max(1)) * SMALL_W..][..SMALL_W];
            let counts = &mut count[(y * SMALL_H / h.max(1)) * SMALL_W..][..SMALL_W];
            for (px, gx) in line.chunks_exact(3).zip(&xs) {
                let c = &mut row[*gx];
                c[0] += px[0] as u32;
                c[1] += px[1] as u32;
                c[2] += px[2] as u32;
                counts[*gx] += 1;
            }
        }
        let mut s = Small {
            y: Vec::with_capacity(SMALL_N),
            u: Vec::with_capacity(SMALL_N),
            v: Vec::with_capacity(SMALL_N),
        };
        for (c, n) in sum.iter().zip(&count) {
            let n = (*n).max(1) as f32;
            let (r, g, b) = (c[0] as f32 / n, c[1] as f32 / n, c[2] as f32 / n);
            let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            s.y.push(y);
            s.u.push((b - y) * 0.5389 + 128.0);
            s.v.push((r - y) * 0.6350 + 128.0);
        }
        s
    }

    fn mean_luma(&self) -> f32 {
        self.y.iter().sum::<f32>() / SMALL_N as f32
    }
}

fn mean_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().max(1) as f32
}

/// Luma (16 bins) and chroma (8 bins each) histograms of a small frame, each summing to 1.
fn histogram(s: &Small) -> [f32; 32] {
    let mut h = [0f32; 32];
    let k = 1.0 / SMALL_N as f32;
    for ((y, u), v) in s.y.iter().zip(&s.u).zip(&s.v) {
        h[(*y as usize / 16).min(15)] += k;
        h[16 + (*u as usize / 32).min(7)] += k;
        h[24 + (*v as usize / 32).min(7)] += k;
    }
    h
}

/// How much the colour distribution changed between two small frames, 0-1: motion moves
/// pixels but keeps their distribution, a change of shot replaces it.
fn histogram_change(a: &[f32; 32], b: &[f32; 32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / 6.0
}

/// Luma and chroma change between two small frames.
pub fn change(a: &Small, b: &Small) -> f32 {
    mean_abs(&a.y, &b.y) + mean_abs(&a.u, &b.u) + mean_abs(&a.v, &b.v)
}

/// Pearson correlation of two planes (1 for the same picture at another brightness).
fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().max(1) as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa < 1e-3 || bb < 1e-3 {
        return 0.0;
    }
    ab / (aa * bb).sqrt()
}

/// How well `m` is a blend of `a` and `b`: the blend weight of `a` and the residual relative
/// to the difference of the ends (0 = exactly a blend).
fn blend_fit(a: &[f32], m: &[f32], b: &[f32]) -> (f32, f32) {
    let (mut num, mut den, mut diff) = (0f32, 0f32, 0f32);
    for ((x, y), z) in a.iter().zip(m).zip(b) {
        let d = x - z;
        num += (y - z) * d;
        den += d * d;
        diff += d.abs();
    }
    if den < 1e-3 || diff < 1e-3 {
        return (0.0, f32::MAX);
    }
    let alpha = num / den;
    let resid: f32 = a
        .iter()
        .zip(m)
        .zip(b)
        .map(|((x, y), z)| (y - (alpha * x + (1.0 - alpha) * z)).abs())
        .sum();
    (alpha, resid / diff)
}

/// A stretch that passed the dissolve test: frame indices of its ends.
#[derive(Debug, Clone, Copy)]
struct Blend {
    from: usize,
    to: usize,
}

/// The detector, fed one small frame at a time (at `fps`, the first at `start_s`).
#[derive(Debug)]
pub struct Detector {
    fps: f64,
    start_s: f64,
    recent: VecDeque<Small>,
    /// Per frame: the change from the previous frame (0 for the first) and the mean luma.
    change: Vec<f32>,
    /// Per frame: the change of the colour distribution from the previous frame.
    hist_change: Vec<f32>,
    last_hist: Option<[f32; 32]>,
    luma: Vec<f32>,
    blends: Vec<Blend>,
}

impl Detector {
    pub fn new(fps: f64, start_s: f64) -> Detector {
        Detector {
            fps: fps.max(1.0),
            start_s,
            recent: VecDeque::new(),
            change: Vec::new(),
            hist_change: Vec::new(),
            last_hist: None,
            luma: Vec::new(),
            blends: Vec::new(),
        }
    }

    /// The change from the previous frame of each frame pushed so far.
    pub fn changes(&self) -> &[f32] {
        &self.change
    }

    /// The change of the colour distribution from the previous frame of each frame so far.
    pub fn hist_changes(&self) -> &[f32] {
        &self.hist_change
    }

    pub fn push(&mut self, s: Small) {
        let i = self.change.len();
        self.change
            .push(self.recent.back().map(|p| change(p, &s)).unwrap_or(0.0));
        let hist = histogram(&s);
        self.hist_change.push(
            self.last_hist
                .map(|p| histogram_change(&p, &hist))
                .unwrap_or(0.0),
        );
        self.last_hist = Some(hist);
        self.luma.push(s.mean_luma());
        let keep = DISSOLVE_GAPS.iter().copied().max().unwrap_or(1);
        for gap in DISSOLVE_GAPS {
            if self.recent.len() < gap {
                continue;
            }
            let a = &self.recent[self.recent.len() - gap];
            let m = &self.recent[self.recent.len() - gap / 2];
            if self.is_blend(a, m, &s) {
                self.blends.push(Blend {
                    from: i - gap,
                    to: i,
                });
            }
        }
        self.recent.push_back(s);
        if self.recent.len() > keep {
            self.recent.pop_front();
        }
    }

    fn is_blend(&self, a: &Small, m: &Small, b: &Small) -> bool {
        let ends = mean_abs(&a.y, &b.y) + 0.5 * (mean_abs(&a.u, &b.u) + mean_abs(&a.v, &b.v));
        if ends < 12.0 {
            return false;
        }
        let ma = a.mean_luma();
        let mb = b.mean_luma();
        // Through black is a fade, not a dissolve.
        if ma < BLACK_LUMA || mb < BLACK_LUMA || m.mean_luma() < BLACK_LUMA {
            return false;
        }
        if correlation(&a.y, &b.y) > 0.6 {
            return false;
        }
        let (alpha, resid) = blend_fit(&a.y, &m.y, &b.y);
        if !(0.2..=0.8).contains(&alpha) || resid > 0.3 {
            return false;
        }
        // The middle must be nearer the blend than either end is.
        let to_a = mean_abs(&m.y, &a.y);
        let to_b = mean_abs(&m.y, &b.y);
        let blend_err = resid * mean_abs(&a.y, &b.y);
        blend_err < 0.5 * to_a.min(to_b)
    }

    fn time(&self, i: f64) -> f64 {
        self.start_s + i / self.fps
    }

    /// Every cut found, in time order.
    pub fn finish(self) -> Vec<Cut> {
        let n = self.change.len();
        let mut cuts: Vec<(usize, Cut)> = Vec::new();

        // Fades: runs of black with picture before and after.
        let mut i = 0;
        while i < n {
            if self.luma[i] >= BLACK_LUMA {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < n && self.luma[i] < BLACK_LUMA {
                i += 1;
            }
            let run_end = i; // exclusive
            if run_start == 0 || run_end == n {
                continue;
            }
            // The fade out: back while it keeps getting brighter, at most 2 s.
            let reach = (2.0 * self.fps) as usize;
            let mut a = run_start;
            while a > 0 && run_start - a < reach && self.luma[a - 1] > self.luma[a] + 0.5 {
                a -= 1;
            }
            let mut b = run_end - 1;
            while b + 1 < n && b + 1 - run_end < reach && self.luma[b + 1] > self.luma[b] + 0.5 {
                b += 1;
            }
            let mid = (run_start + run_end - 1) as f64 / 2.0;
            cuts.push((
                run_start,
                Cut {
                    at_s: round3(self.time(mid)),
                    kind: CutKind::Fade,
                    span: Some((round3(self.time(a as f64)), round3(self.time(b as f64)))),
                },
            ));
        }
        let in_fade = |k: usize, cuts: &[(usize, Cut)]| {
            let t = self.time(k as f64);
            cuts.iter().any(|(_, c)| {
                let (a, b) = c.extent();
                c.kind == CutKind::Fade && t >= a - 1e-6 && t <= b + 1e-6
            })
        };

        // Hard cuts: a change well above its neighbours'.
        let mut hard: Vec<usize> = Vec::new();
        for k in 1..n {
            let c = self.change[k];
            if c < MIN_CHANGE {
                continue;
            }
            let lo = k.saturating_sub(NEIGHBOURS).max(1);
            let hi = (k + NEIGHBOURS).min(n - 1);
            let around: Vec<f32> = (lo..=hi)
                .filter(|&j| j != k)
                .map(|j| self.change[j])
                .collect();
            let mean = if around.is_empty() {
                0.0
            } else {
                around.iter().sum::<f32>() / around.len() as f32
            };
            let spike = c >= ADAPTIVE_RATIO * mean.max(1.0);
            let hc = self.hist_change[k];
            let hist_mean = (lo..=hi)
                .filter(|&j| j != k)
                .map(|j| self.hist_change[j])
                .sum::<f32>()
                / around.len().max(1) as f32;
            let new_colours =
                c >= 1.5 * mean && hc >= MIN_HIST_CHANGE && hc >= HIST_RATIO * hist_mean.max(0.01);
            if !(spike || new_colours || (c >= SURE_CHANGE && c >= 1.5 * mean)) {
                continue;
            }
            if in_fade(k, &cuts) || in_fade(k - 1, &cuts) {
                continue;
            }
            // One cut per third of a second: keep the larger change.
            if let Some(last) = hard.last_mut()
                && k - *last < (self.fps / 3.0).ceil() as usize
            {
                if c > self.change[*last] {
                    *last = k;
                }
                continue;
            }
            hard.push(k);
        }
        for k in &hard {
            cuts.push((
                *k,
                Cut {
                    at_s: round3(self.time(*k as f64 - 0.5)),
                    kind: CutKind::Hard,
                    span: None,
                },
            ));
        }

        // Dissolves: merge overlapping blend stretches; drop those holding a hard cut or a fade.
        let mut blends = self.blends.clone();
        blends.sort_by_key(|b| (b.from, b.to));
        let mut merged: Vec<Blend> = Vec::new();
        for b in blends {
            match merged.last_mut() {
                Some(m) if b.from <= m.to => m.to = m.to.max(b.to),
                _ => merged.push(b),
            }
        }
        for b in merged {
            let holds_other = cuts.iter().any(|(_, c)| {
                let (x, y) = c.extent();
                y >= self.time(b.from as f64) && x <= self.time(b.to as f64)
            });
            if holds_other {
                continue;
            }
            let (a, z) = (self.time(b.from as f64), self.time(b.to as f64));
            cuts.push((
                b.from,
                Cut {
                    at_s: round3((a + z) / 2.0),
                    kind: CutKind::Dissolve,
                    span: Some((round3(a), round3(z))),
                },
            ));
        }
        let mut out: Vec<Cut> = cuts.into_iter().map(|(_, c)| c).collect();
        out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        out
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small frame of a pattern: `kind` picks the picture, `level` its brightness,
    /// `shift` moves it sideways.
    fn pattern(kind: u32, level: f32, shift: usize) -> Small {
        let mut y = Vec::with_capacity(SMALL_N);
        for r in 0..SMALL_H {
            for c in 0..SMALL_W {
                let x = c + shift;
                let v = match kind {
                    0 => ((x / 6 + r / 6) % 2) as f32,
                    1 => (((x / 5) * 7 + (r / 5) * 13) % 17) as f32 / 16.0,
                    _ => (((x as f32 * 0.3).sin() * (r as f32 * 0.2).cos()) + 1.0) / 2.0,
                };
                y.push(level * (0.3 + 0.7 * v));
            }
        }
        Small {
            u: vec![128.0; SMALL_N],
            v: vec![128.0; SMALL_N],
            y,
        }
    }

    fn blend(a: &Small, b: &Small, t: f32) -> Small {
        let mix = |p: &[f32], q: &[f32]| -> Vec<f32> {
            p.iter()
                .zip(q)
                .map(|(x, y)| x * (1.0 - t) + y * t)
                .collect()
        };
        Small {
            y: mix(&a.y, &b.y),
            u: mix(&a.u, &b.u),
            v: mix(&a.v, &b.v),
        }
    }

    fn run(frames: Vec<Small>) -> Vec<Cut> {
        let mut d = Detector::new(10.0, 0.0);
        for f in frames {
            d.push(f);
        }
        d.finish()
    }

    #[test]
    fn a_hard_cut_is_found_at_its_time() {
        let frames: Vec<Small> = (0..40)
            .map(|i| pattern(if i < 20 { 0 } else { 1 }, 200.0, i))
            .collect();
        let cuts = run(frames);
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert_eq!(cuts[0].kind, CutKind::Hard);
        assert!((cuts[0].at_s - 1.95).abs() < 0.06, "{cuts:?}");
    }

    #[test]
    fn a_cut_in_fast_motion_is_found_by_its_new_colours() {
        // Both shots move fast (every frame changes a lot), so the cut is not three times
        // its neighbours' change; the colours are new, though.
        let tinted = |mut s: Small| {
            s.u.iter_mut().for_each(|u| *u = 160.0);
            s
        };
        let frames: Vec<Small> = (0..40)
            .map(|i| {
                if i < 20 {
                    pattern(0, 60.0, i * 5)
                } else {
                    tinted(pattern(0, 45.0, i * 5))
                }
            })
            .collect();
        let mut d = Detector::new(10.0, 0.0);
        for f in frames.clone() {
            d.push(f);
        }
        let c = d.changes().to_vec();
        let around = (c[18] + c[19] + c[21] + c[22]) / 4.0;
        assert!(
            c[20] < ADAPTIVE_RATIO * around && c[20] < SURE_CHANGE,
            "{c:?}"
        );
        let cuts = run(frames);
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert!((cuts[0].at_s - 1.95).abs() < 0.06, "{cuts:?}");
    }

    #[test]
    fn steady_fast_motion_is_not_a_cut() {
        let frames: Vec<Small> = (0..40).map(|i| pattern(0, 200.0, i * 5)).collect();
        assert_eq!(run(frames), vec![]);
    }

    #[test]
    fn a_fade_through_black_is_one_cut_with_its_span() {
        let mut frames = Vec::new();
        for i in 0..15 {
            frames.push(pattern(0, 200.0, i));
        }
        for k in 0..8 {
            frames.push(pattern(0, 200.0 * (1.0 - k as f32 / 7.0), 15));
        }
        for k in 0..8 {
            frames.push(pattern(1, 200.0 * (k as f32 / 7.0), 0));
        }
        for i in 0..15 {
            frames.push(pattern(1, 200.0, i));
        }
        let cuts = run(frames);
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert_eq!(cuts[0].kind, CutKind::Fade);
        let (a, b) = cuts[0].span.unwrap();
        assert!(a <= 1.6 && b >= 2.3, "{cuts:?}");
    }

    #[test]
    fn a_dissolve_is_reported_with_its_span() {
        let (a, b) = (pattern(0, 180.0, 0), pattern(2, 220.0, 0));
        let mut frames = vec![a.clone(); 15];
        for k in 0..10 {
            frames.push(blend(&a, &b, (k as f32 + 1.0) / 11.0));
        }
        frames.extend(vec![b.clone(); 15]);
        let cuts = run(frames);
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert_eq!(cuts[0].kind, CutKind::Dissolve);
        let (x, y) = cuts[0].span.unwrap();
        assert!(
            (0.5..=1.6).contains(&x) && (2.3..=3.2).contains(&y),
            "{cuts:?}"
        );
    }

    #[test]
    fn a_slow_change_of_brightness_is_not_a_dissolve() {
        let frames: Vec<Small> = (0..40)
            .map(|i| pattern(1, 80.0 + i as f32 * 4.0, 0))
            .collect();
        assert_eq!(run(frames), vec![]);
    }

    #[test]
    fn inside_ignores_a_transition_touching_the_edge() {
        let c = Cut {
            at_s: 2.0,
            kind: CutKind::Dissolve,
            span: Some((1.5, 2.5)),
        };
        assert!(c.inside(2.2, 6.2));
        assert!(!c.inside(2.5, 6.5));
        assert!(!c.inside(0.0, 1.5));
        let h = Cut {
            at_s: 2.0,
            kind: CutKind::Hard,
            span: None,
        };
        assert!(h.inside(0.0, 4.0));
        assert!(!h.inside(2.0, 6.0));
    }
}
