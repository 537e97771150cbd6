//! The analysis of a clip: per-frame measurements of small frames sampled at 10 fps and the
//! cuts found in them (`cuts::Detector`). One analysis serves the quality hints of any window,
//! `--start auto` and the app's timeline. It is made from the frames the prepare graph
//! already sends (the window only, measured as they arrive while ffmpeg works) or by
//! decoding the clip's first minute (`analyze`).

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::library::Warning;
use crate::pipeline::cuts::{self, Cut, Detector, Small};
use crate::pipeline::ffmpeg;
use crate::pipeline::prepare;
use crate::pipeline::probe::{ClipInfo, WINDOW_S};
use crate::pipeline::{hints, mp4, yuv};

/// Frames per second of the analysis (the same as the signature frames).
pub const FPS: f64 = prepare::SIG_FPS;
/// Sharpness, highlights and centring are measured on every this many frames (2.5 a
/// second: ten in a 4 s window); exposure, motion and cuts on every frame.
pub const MEASURE_EVERY: usize = 4;
/// How much of the clip a whole-clip analysis covers.
pub const SCAN_LIMIT_S: f64 = 60.0;

/// Measurements of one analysed frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameStats {
    /// Mean luma (0-255) of the picture, letterbox and pillarbox bars left out.
    pub luma: f32,
    /// Share of the subject (the middle of the picture) with clipped highlights.
    pub clipped: f32,
    /// Black bars: top, bottom, left, right, as shares of the frame's height or width.
    pub bars: [f32; 4],
    /// Sharpness, 0-1: the share of the picture's edge contrast that a further blur would
    /// take away (a sharp picture loses much, a blurred one little), so it depends on how the
    /// edges look, not on how many there are. `fine` on the middle of the picture at its
    /// output size (pixels 1:1), `coarse` on the whole picture at the analysis size.
    pub fine: f32,
    pub coarse: f32,
    /// Centre of the strong edges, 0-1 across the picture (bars left out).
    pub centre: (f32, f32),
    /// Global motion from the previous frame, as shares of the width and height.
    pub shift: (f32, f32),
    /// Change from the previous frame left once the global motion is taken out (0-255).
    pub residual: f32,
    /// The cut detector's change from the previous frame.
    pub change: f32,
    /// The cut detector's change of the colour distribution from the previous frame (0-1).
    pub hist_change: f32,
    /// Whether `clipped`, `fine`, `coarse` and `centre` were measured on this frame (every
    /// `MEASURE_EVERY`th frame; they are 0 on the others).
    pub measured: bool,
}

/// The analysis of a stretch of a clip.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Frames per second of `frames`.
    pub fps: f64,
    /// Time of the first frame (seconds from the start of the clip).
    pub start_s: f64,
    /// Length of the whole clip in seconds.
    pub duration_s: f64,
    pub frames: Vec<FrameStats>,
    /// Every cut in the analysed stretch, in time order.
    pub cuts: Vec<Cut>,
    /// Whether the analysis covers the clip from its start to its end or to `SCAN_LIMIT_S`.
    pub whole: bool,
}

/// Where `--start auto` puts the window, and what is wrong with it when nothing is clean.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub start_s: f64,
    pub len_s: f64,
    /// The window's hints (empty for a clean window).
    pub problems: Vec<Warning>,
}

/// Streaming builder: push frames, then `finish`.
pub struct Analyzer {
    fps: f64,
    start_s: f64,
    w: usize,
    h: usize,
    frames: Vec<FrameStats>,
    detector: Detector,
    prev_half: Option<Half>,
}

/// The half-resolution luma of a frame with its picture area and projections.
struct Half {
    y: Vec<f32>,
    w: usize,
    h: usize,
    area: Area,
    cols: Vec<f32>,
    rows: Vec<f32>,
}

/// The picture inside the bars: x0..x1, y0..y1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Area {
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
}

impl Area {
    fn scaled_up(self, k: usize) -> Area {
        Area {
            x0: self.x0 * k,
            x1: self.x1 * k,
            y0: self.y0 * k,
            y1: self.y1 * k,
        }
    }
}

fn luma_plane(rgb: &[u8]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|p| 0.2126 * p[0] as f32 + 0.7152 * p[1] as f32 + 0.0722 * p[2] as f32)
        .collect()
}

/// Black bars around the picture (letterbox, pillarbox): rows and columns from each edge
/// that are nearly black, at most 30 % of the frame per side.
fn bars(y: &[f32], w: usize, h: usize) -> Area {
    let dark_row = |r: usize| {
        let row = &y[r * w..(r + 1) * w];
        let lit = row.iter().filter(|v| **v > 40.0).count();
        row.iter().sum::<f32>() / w as f32 <= 20.0 && lit * 50 <= w
    };
    let (mut y0, mut y1) = (0, h);
    while y0 < h * 3 / 10 && dark_row(y0) {
        y0 += 1;
    }
    while y1 > h - h * 3 / 10 && dark_row(y1 - 1) {
        y1 -= 1;
    }
    let rows = (y1 - y0).max(1);
    let dark_col = |c: usize| {
        let (mut sum, mut lit) = (0f32, 0usize);
        for r in y0..y1 {
            let v = y[r * w + c];
            sum += v;
            lit += usize::from(v > 40.0);
        }
        sum / rows as f32 <= 20.0 && lit * 50 <= rows
    };
    let (mut x0, mut x1) = (0, w);
    while x0 < w * 3 / 10 && dark_col(x0) {
        x0 += 1;
    }
    while x1 > w - w * 3 / 10 && dark_col(x1 - 1) {
        x1 -= 1;
    }
    // A frame black all over has no bars, only a dark picture.
    if y1 - y0 < h / 2 || x1 - x0 < w / 2 || (y0 == h * 3 / 10 && x0 == w * 3 / 10) {
        return Area {
            x0: 0,
            x1: w,
            y0: 0,
            y1: h,
        };
    }
    Area { x0, x1, y0, y1 }
}

/// The sharpness of the area, 0-1 (Crete-Roffet's re-blur measure): neighbour differences
/// before and after a 9-pixel box blur along each axis; what the blur removes, as a share of
/// what there was, is high for sharp edges and low for soft ones. The lower of the two axes.
fn sharpness(y: &[f32], w: usize, a: Area) -> f32 {
    const K: usize = 9;
    let (aw, ah) = (a.x1 - a.x0, a.y1 - a.y0);
    if aw < 2 * K || ah < 2 * K {
        return 0.0;
    }
    // Horizontal: along each row.
    let (mut d, mut v) = (0f64, 0f64);
    let mut blurred = vec![0f32; aw];
    for r in a.y0..a.y1 {
        let row = &y[r * w + a.x0..r * w + a.x1];
        box_blur(row, &mut blurred, K);
        for x in K..aw - K {
            let dv = (row[x] - row[x - 1]).abs();
            let db = (blurred[x] - blurred[x - 1]).abs();
            d += dv as f64;
            v += (dv - db).max(0.0) as f64;
        }
    }
    let horizontal = if d > 0.0 { v / d } else { 0.0 };
    let (mut d, mut v) = (0f64, 0f64);
    let mut col = vec![0f32; ah];
    let mut blurred = vec![0f32; ah];
    for c in a.x0..a.x1 {
        for (k, r) in (a.y0..a.y1).enumerate() {
            col[k] = y[r * w + c];
        }
        box_blur(&col, &mut blurred, K);
        for k in K..ah - K {
            let dv = (col[k] - col[k - 1]).abs();
            let db = (blurred[k] - blurred[k - 1]).abs();
            d += dv as f64;
            v += (dv - db).max(0.0) as f64;
        }
    }
    let vertical = if d > 0.0 { v / d } else { 0.0 };
    horizontal.min(vertical) as f32
}

/// A centred box blur of `k` taps (edges clamped).
fn box_blur(src: &[f32], out: &mut [f32], k: usize) {
    let n = src.len();
    let half = k / 2;
    let mut acc = 0f32;
    for i in 0..k {
        acc += src[i.saturating_sub(half).min(n - 1)];
    }
    for (i, o) in out.iter_mut().enumerate().take(n) {
        *o = acc / k as f32;
        let add = (i + half + 1).min(n - 1);
        let drop = i.saturating_sub(half);
        acc += src[add] - src[drop];
    }
}

/// The luma of an rgb24 frame at half its size (each pixel the mean of a 2x2 block).
fn half_luma(rgb: &[u8], w: usize, h: usize) -> (Vec<f32>, usize, usize) {
    let (hw, hh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(hw * hh);
    for r in 0..hh {
        let top = &rgb[2 * r * w * 3..(2 * r * w + 2 * hw) * 3];
        let bottom = &rgb[(2 * r + 1) * w * 3..((2 * r + 1) * w + 2 * hw) * 3];
        for (a, b) in top.chunks_exact(6).zip(bottom.chunks_exact(6)) {
            let red = (a[0] as u32 + a[3] as u32 + b[0] as u32 + b[3] as u32) as f32;
            let green = (a[1] as u32 + a[4] as u32 + b[1] as u32 + b[4] as u32) as f32;
            let blue = (a[2] as u32 + a[5] as u32 + b[2] as u32 + b[5] as u32) as f32;
            out.push((0.2126 * red + 0.7152 * green + 0.0722 * blue) * 0.25);
        }
    }
    (out, hw, hh)
}

/// Centre of the strong edges (above the picture's mean edge strength), 0-1 across the
/// area; the middle when the picture has no edges.
fn edge_centre(y: &[f32], w: usize, a: Area) -> (f32, f32) {
    let grad = |i: usize| (y[i + 1] - y[i - 1]).abs() + (y[i + w] - y[i - w]).abs();
    let (rows, cols) = (
        a.y0 + 1..a.y1.saturating_sub(1),
        a.x0 + 1..a.x1.saturating_sub(1),
    );
    let (mut total, mut n) = (0f64, 0usize);
    for r in rows.clone() {
        for c in cols.clone() {
            total += grad(r * w + c) as f64;
            n += 1;
        }
    }
    let mean = (total / n.max(1) as f64) as f32;
    let (aw, ah) = ((a.x1 - a.x0).max(1) as f64, (a.y1 - a.y0).max(1) as f64);
    let (mut mx, mut my, mut mass) = (0f64, 0f64, 0f64);
    for r in rows {
        let (mut row_mass, mut row_x) = (0f64, 0f64);
        for c in cols.clone() {
            let wgt = (grad(r * w + c) - mean).max(0.0) as f64;
            row_mass += wgt;
            row_x += wgt * ((c - a.x0) as f64 + 0.5);
        }
        mx += row_x / aw;
        my += row_mass * ((r - a.y0) as f64 + 0.5) / ah;
        mass += row_mass;
    }
    if mass > 0.0 {
        ((mx / mass) as f32, (my / mass) as f32)
    } else {
        (0.5, 0.5)
    }
}

/// The shift of `b` against `a` (profiles) that matches best, sub-pixel, within `max`.
fn best_shift(a: &[f32], b: &[f32], max: usize) -> f32 {
    let n = a.len().min(b.len());
    if n < 8 {
        return 0.0;
    }
    let max = max.min(n / 3) as i64;
    let cost = |s: i64| -> f32 {
        let (mut sum, mut k) = (0f32, 0usize);
        for i in 0..n as i64 {
            let j = i + s;
            if j < 0 || j >= n as i64 {
                continue;
            }
            sum += (a[i as usize] - b[j as usize]).abs();
            k += 1;
        }
        sum / k.max(1) as f32
    };
    let costs: Vec<f32> = (-max..=max).map(cost).collect();
    let (bi, _) = costs
        .iter()
        .enumerate()
        .min_by(|x, y| x.1.total_cmp(y.1))
        .expect("at least one shift");
    let mut s = bi as f32 - max as f32;
    if bi > 0 && bi + 1 < costs.len() {
        let (l, c, r) = (costs[bi - 1], costs[bi], costs[bi + 1]);
        let d = l - 2.0 * c + r;
        if d > 1e-6 {
            s += (0.5 * (l - r) / d).clamp(-0.5, 0.5);
        }
    }
    s
}

/// Luma (0-255, full range) at which a pixel counts as a blown highlight.
const CLIPPED_LUMA: f32 = 240.0;

/// `CLIPPED_LUMA` as a limited-range luma code value (16-235), for frames whose Y' is known.
const CLIPPED_Y: u8 = (16.0 + CLIPPED_LUMA * 219.0 / 255.0 + 0.5) as u8;

/// Below this spread (0-255) a projection profile is too flat to register.
const MIN_PROFILE: f32 = 3.0;

/// Mean absolute deviation of a profile from its mean.
fn spread(p: &[f32]) -> f32 {
    let n = p.len().max(1) as f32;
    let m = p.iter().sum::<f32>() / n;
    p.iter().map(|v| (v - m).abs()).sum::<f32>() / n
}

fn profiles(y: &[f32], w: usize, a: Area) -> (Vec<f32>, Vec<f32>) {
    let (aw, ah) = ((a.x1 - a.x0).max(1), (a.y1 - a.y0).max(1));
    let mut cols = vec![0f32; aw];
    let mut rows = vec![0f32; ah];
    for r in a.y0..a.y1 {
        for c in a.x0..a.x1 {
            let v = y[r * w + c];
            cols[c - a.x0] += v / ah as f32;
            rows[r - a.y0] += v / aw as f32;
        }
    }
    (cols, rows)
}

impl Analyzer {
    /// Frames of `w` x `h` rgb24 at `fps`, the first at `start_s`.
    pub fn new(w: u32, h: u32, fps: f64, start_s: f64) -> Analyzer {
        Analyzer {
            fps,
            start_s,
            w: w as usize,
            h: h as usize,
            frames: Vec::new(),
            detector: Detector::new(fps, start_s),
            prev_half: None,
        }
    }

    /// Measure the next frame, rgb24 alone (without an analysis cut).
    pub fn push(&mut self, rgb: &[u8]) {
        self.measure(rgb, None, None);
    }

    /// Measure the next analysis frame as it came from ffmpeg (`yuv::split_stacked`): the
    /// picture as `rgb` (rgb24, `w` x `h`), with the luma code values (Y', limited range) of
    /// the picture and of the cut. Highlights count as blown from the picture's codes (a
    /// bright, saturated colour has channels at 255 in RGB while its luma is at the ceiling,
    /// which only Y' shows whatever matrix made the RGB); the cut's sharpness is measured on
    /// its codes (the measure ignores the scale and offset of luma).
    pub fn push_stacked(&mut self, rgb: &[u8], parts: &yuv::Stacked<'_>) {
        let n = self.w * self.h;
        if parts.picture_luma.len() != n || parts.cut_luma.len() != n {
            return;
        }
        self.measure(rgb, Some(parts.picture_luma), Some(parts.cut_luma));
    }

    /// `luma`: the picture's luma codes; `cut`: the luma codes of the cut at the output size.
    fn measure(&mut self, rgb: &[u8], luma: Option<&[u8]>, cut: Option<&[u8]>) {
        let (w, h) = (self.w, self.h);
        if w < 8 || h < 8 || rgb.len() < w * h * 3 {
            return;
        }
        let rgb = &rgb[..w * h * 3];
        // Motion and cuts need every frame, from the half-resolution luma; the slower
        // measurements (sharpness, highlights, centring) every `MEASURE_EVERY`th frame.
        let measured = self.frames.len().is_multiple_of(MEASURE_EVERY);
        let (y2, w2, h2) = half_luma(rgb, w, h);
        let a2 = bars(&y2, w2, h2);
        let mut st = FrameStats {
            bars: [
                a2.y0 as f32 / h2 as f32,
                (h2 - a2.y1) as f32 / h2 as f32,
                a2.x0 as f32 / w2 as f32,
                (w2 - a2.x1) as f32 / w2 as f32,
            ],
            measured,
            ..Default::default()
        };
        let mut sum = 0f32;
        for r in a2.y0..a2.y1 {
            sum += y2[r * w2 + a2.x0..r * w2 + a2.x1].iter().sum::<f32>();
        }
        st.luma = sum / ((a2.x1 - a2.x0) * (a2.y1 - a2.y0)).max(1) as f32;
        if measured {
            let y = luma_plane(rgb);
            let area = a2.scaled_up(2);
            let (aw, ah) = (area.x1 - area.x0, area.y1 - area.y0);
            let (mut clipped, mut subject) = (0usize, 0usize);
            for r in area.y0 + ah / 5..area.y1 - ah / 5 {
                let cols = r * w + area.x0 + aw / 5..r * w + area.x1 - aw / 5;
                subject += cols.len();
                clipped += match luma {
                    Some(l) => l[cols].iter().filter(|v| **v >= CLIPPED_Y).count(),
                    None => y[cols].iter().filter(|v| **v >= CLIPPED_LUMA).count(),
                };
            }
            st.clipped = clipped as f32 / subject.max(1) as f32;
            let whole = Area {
                x0: 0,
                x1: w,
                y0: 0,
                y1: h,
            };
            // With the analysis cut (`prepare::analysis_chain`), fine sharpness is judged on
            // it and coarse on the picture; a plain frame gives both.
            st.fine = match cut {
                Some(c) => {
                    let codes: Vec<f32> = c.iter().map(|v| *v as f32).collect();
                    sharpness(&codes, w, whole)
                }
                None => sharpness(&y, w, area),
            };
            st.coarse = match cut {
                Some(_) => sharpness(&y, w, area),
                None => sharpness(&y2, w2, a2),
            };
            st.centre = edge_centre(&y2, w2, a2);
        }

        // Global motion from the projections, then what is left once it is taken out.
        let (cols, rows) = profiles(&y2, w2, a2);
        if let Some(p) = &self.prev_half
            && p.w == w2
            && p.h == h2
            && p.area == a2
        {
            // A profile without contrast (a plain or very soft picture) says nothing of motion.
            let sx = if spread(&cols) >= MIN_PROFILE && spread(&p.cols) >= MIN_PROFILE {
                best_shift(&p.cols, &cols, w2 / 6)
            } else {
                0.0
            };
            let sy = if spread(&rows) >= MIN_PROFILE && spread(&p.rows) >= MIN_PROFILE {
                best_shift(&p.rows, &rows, h2 / 6)
            } else {
                0.0
            };
            // The profiles can mislead on one axis (repeating patterns): keep the candidate
            // shift, with or without each axis, that leaves the least change.
            let residual = |dx: i64, dy: i64| -> f32 {
                let (mut s, mut k) = (0f32, 0usize);
                for r in a2.y0 as i64..a2.y1 as i64 {
                    let r2 = r + dy;
                    if r2 < a2.y0 as i64 || r2 >= a2.y1 as i64 {
                        continue;
                    }
                    for c in a2.x0 as i64..a2.x1 as i64 {
                        let c2 = c + dx;
                        if c2 < a2.x0 as i64 || c2 >= a2.x1 as i64 {
                            continue;
                        }
                        s += (p.y[r as usize * w2 + c as usize]
                            - y2[r2 as usize * w2 + c2 as usize])
                            .abs();
                        k += 1;
                    }
                }
                s / k.max(1) as f32
            };
            let (dx, dy) = (sx.round() as i64, sy.round() as i64);
            let mut best = (residual(0, 0), 0.0, 0.0);
            for (cx, cy, fx, fy) in [(dx, 0, sx, 0.0), (0, dy, 0.0, sy), (dx, dy, sx, sy)] {
                if (cx, cy) == (0, 0) {
                    continue;
                }
                let r = residual(cx, cy);
                if r < best.0 * 0.97 {
                    best = (r, fx, fy);
                }
            }
            st.shift = (
                best.1 / (a2.x1 - a2.x0).max(1) as f32,
                best.2 / (a2.y1 - a2.y0).max(1) as f32,
            );
            st.residual = best.0;
        }
        self.prev_half = Some(Half {
            y: y2,
            w: w2,
            h: h2,
            area: a2,
            cols,
            rows,
        });

        self.detector.push(Small::from_rgb(rgb, w, h));
        st.change = self.detector.changes().last().copied().unwrap_or(0.0);
        st.hist_change = self.detector.hist_changes().last().copied().unwrap_or(0.0);
        self.frames.push(st);
    }

    /// The analysis of the frames pushed, for a clip lasting `duration_s`; `whole` when they
    /// cover the clip from its start (to its end or `SCAN_LIMIT_S`).
    pub fn finish(self, duration_s: f64, whole: bool) -> Analysis {
        Analysis {
            fps: self.fps,
            start_s: self.start_s,
            duration_s,
            frames: self.frames,
            cuts: self.detector.finish(),
            whole,
        }
    }
}

impl Analysis {
    /// The end of the analysed stretch (seconds).
    pub fn end_s(&self) -> f64 {
        self.start_s + self.frames.len() as f64 / self.fps.max(1.0)
    }

    /// The 4-second window starting at `start_s`, cut to the clip's end.
    pub fn window(&self, start_s: f64) -> (f64, f64) {
        (
            start_s,
            (start_s + WINDOW_S).min(self.duration_s.max(start_s)),
        )
    }

    /// Whether this analysis holds the frames of the window starting at `start_s`.
    pub fn covers(&self, start_s: f64) -> bool {
        let (a, b) = self.window(start_s);
        self.start_s <= a + 1e-6 && self.end_s() + 0.5 / self.fps.max(1.0) >= b.min(SCAN_LIMIT_S)
    }

    fn frames_in(&self, from: f64, to: f64) -> &[FrameStats] {
        let k = |t: f64| {
            (((t - self.start_s) * self.fps).round().max(0.0) as usize).min(self.frames.len())
        };
        &self.frames[k(from)..k(to).max(k(from))]
    }

    /// The cuts inside `[from, to)`.
    pub fn cuts_in(&self, from: f64, to: f64) -> Vec<&Cut> {
        self.cuts.iter().filter(|c| c.inside(from, to)).collect()
    }

    /// The cut times in seconds (the middle of a transition), for `probe --json`.
    pub fn cut_times(&self) -> Vec<f64> {
        self.cuts.iter().map(|c| c.at_s).collect()
    }

    /// The first window start (on the analysis' frame grid) whose window holds no cut, if any.
    pub fn clean_start(&self) -> Option<f64> {
        self.starts()
            .find(|s| self.cuts_in(*s, self.window(*s).1).is_empty())
    }

    /// Candidate window starts: every analysed frame from which a full window (or the whole
    /// clip, when shorter) fits in the analysed stretch.
    fn starts(&self) -> impl Iterator<Item = f64> + '_ {
        let step = 1.0 / self.fps.max(1.0);
        let last = (self.duration_s.min(self.end_s() + step) - WINDOW_S).max(self.start_s);
        let n = ((last - self.start_s) / step + 1e-6).floor().max(0.0) as usize;
        (0..=n).map(move |i| round3(self.start_s + i as f64 * step))
    }

    /// Every hint for the window starting at `start_s`.
    pub fn hints_for_window(&self, start_s: f64) -> Vec<Warning> {
        let (from, to) = self.window(start_s);
        let mut out = Vec::new();
        let cuts = self.cuts_in(from, to);
        if !cuts.is_empty() {
            out.push(self.cut_hint(&cuts));
        }
        out.extend(hints::window_hints(self.frames_in(from, to), self.fps));
        out
    }

    fn cut_hint(&self, cuts: &[&Cut]) -> Warning {
        let list = cuts
            .iter()
            .map(|c| c.describe())
            .collect::<Vec<_>>()
            .join(", ");
        let advice = if !self.whole {
            String::new()
        } else if self.duration_s < WINDOW_S + 0.05 {
            ": the clip is too short for a window without a cut; use a clip of one shot".to_string()
        } else {
            match self.clean_start() {
                Some(s) => format!(
                    ": the window {s:.1}-{:.1} s has none (--start {s:.1})",
                    self.window(s).1
                ),
                None => format!(
                    ": no 4 s window of the first {:.0} s is free of cuts; use a clip of one shot",
                    self.end_s().min(self.duration_s)
                ),
            }
        };
        let n = cuts.len();
        Warning::new(
            "scene_cut",
            format!(
                "{} inside the window ({list}){advice}",
                if n == 1 {
                    "a scene cut".to_string()
                } else {
                    format!("{n} scene cuts")
                }
            ),
        )
    }

    /// The best window for `--start auto`: one shot, then as few hints as possible, then a
    /// start on a keyframe (which lets a compliant clip be stream-copied), then the earliest.
    pub fn choose(&self, keyframes: &[f64]) -> Choice {
        let mut best: Option<(f64, f64, Vec<Warning>)> = None;
        for s in self.starts() {
            let hints = self.hints_for_window(s);
            let (from, to) = self.window(s);
            let frames = self.frames_in(from, to);
            let mut score = -(hints.len() as f64) * 10.0;
            if hints.iter().any(|h| h.rule == "scene_cut") {
                score -= 1000.0;
            }
            // Among equals: sharper and steadier first.
            let sharp = hints::sharpness(frames).unwrap_or(0.0) as f64;
            let motion = frames
                .iter()
                .skip(1)
                .map(|f| f.residual as f64)
                .sum::<f64>()
                / frames.len().max(1) as f64;
            score += sharp * 2.0 - motion.min(40.0) * 0.05;
            if keyframes
                .iter()
                .any(|k| (k - s).abs() < 0.5 / self.fps.max(1.0))
            {
                score += 1.0;
            }
            score -= s * 0.001;
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, s, hints));
            }
        }
        let (_, start_s, problems) = best.unwrap_or((0.0, 0.0, self.hints_for_window(0.0)));
        let (a, b) = self.window(start_s);
        Choice {
            start_s,
            len_s: round3(b - a),
            problems,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Analyse the clip from its start, at most its first `SCAN_LIMIT_S` seconds: decoded once
/// into small frames at 10 fps, measured as they arrive (nothing but the measurements is
/// kept). Cancelling kills ffmpeg.
pub fn analyze(info: &ClipInfo, cancel: &CancellationToken) -> Result<Analysis> {
    let len = info.duration_s.clamp(0.0, SCAN_LIMIT_S);
    analyze_range(info, 0.0, len, true, cancel)
}

/// Analyse the window of `info` alone (a window that starts past the first minute).
pub fn analyze_window(info: &ClipInfo, cancel: &CancellationToken) -> Result<Analysis> {
    analyze_range(info, info.window.start_s, info.window.len_s, false, cancel)
}

fn analyze_range(
    info: &ClipInfo,
    from: f64,
    len: f64,
    whole: bool,
    cancel: &CancellationToken,
) -> Result<Analysis> {
    let Some(v) = &info.video else {
        return Err(Error::input(
            "decodable",
            "the file has no video stream to analyse: use a video clip",
        ));
    };
    let (w, h) = prepare::sig_size(v);
    let mut a: Vec<std::ffi::OsString> = ["-hide_banner", "-nostdin", "-v", "error"]
        .iter()
        .map(Into::into)
        .collect();
    if from > 0.0 {
        a.extend(["-ss".into(), format!("{from:.3}").into()]);
    }
    a.extend(["-t".into(), format!("{:.3}", len.max(0.04)).into()]);
    a.extend(ffmpeg::safe_input(&info.path));
    a.extend(
        [
            "-filter_complex".to_string(),
            prepare::analysis_chain(v, &format!("[0:{}]", v.index), "[an]", false),
            "-map".into(),
            "[an]".into(),
            "-f".into(),
            "rawvideo".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "pipe:1".into(),
        ]
        .map(Into::into),
    );
    let matrix = prepare::analysis_matrix(v, false);
    let (done, analyzer) = ffmpeg::run_frames(
        ffmpeg::command(&ffmpeg::ffmpeg_bin(), a),
        "ffmpeg",
        cancel,
        prepare::analysis_frame_bytes(v),
        |_| {},
        |frames| {
            let mut analyzer = Analyzer::new(w, h, FPS, from);
            let mut rgb = Vec::new();
            for frame in frames {
                if let Some(parts) =
                    yuv::split_stacked(&frame, w as usize, h as usize, matrix, &mut rgb)
                {
                    analyzer.push_stacked(&rgb, &parts);
                }
            }
            analyzer
        },
    );
    let done = done?;
    if !done.status.success() || analyzer.frames.is_empty() {
        return Err(Error::input(
            "decodable",
            format!(
                "the clip could not be decoded for analysis ({}): it is corrupt; export it again",
                crate::util::escape_display(&ffmpeg::last_error_line(&done.stderr))
            ),
        ));
    }
    Ok(analyzer.finish(info.duration_s, whole))
}

/// The keyframe times of the clip's video track (first minute), from the MP4 tables when it
/// has some.
pub fn keyframe_times(info: &ClipInfo) -> Vec<f64> {
    mp4::top_level(&info.path)
        .ok()
        .flatten()
        .and_then(|top| {
            let moov = top.moov?;
            mp4::tracks(&moov, top.size)
                .into_iter()
                .find(|t| &t.handler == b"vide")
        })
        .map(|t| t.keyframe_times(SCAN_LIMIT_S))
        .unwrap_or_default()
}

/// Re-exported for the app's timeline: the cut kinds and the detector's frame size.
pub use cuts::{CutKind, SMALL_H, SMALL_W};

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, level: u8, scene: usize, bar: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let v = if y < bar || y >= h - bar {
                    0
                } else if ((x / (4 + scene * 5)) + y / 7).is_multiple_of(2) {
                    level
                } else {
                    level / 3
                };
                out.extend([v, v, v]);
            }
        }
        out
    }

    fn analysis(frames: &[Vec<u8>], w: usize, h: usize, duration: f64) -> Analysis {
        let mut a = Analyzer::new(w as u32, h as u32, 10.0, 0.0);
        for f in frames {
            a.push(f);
        }
        a.finish(duration, true)
    }

    #[test]
    fn letterbox_bars_are_left_out_of_the_exposure() {
        let (w, h) = (96, 54);
        let f = frame(w, h, 200, 0, 12);
        let a = analysis(&vec![f; 10], w, h, 1.0);
        let st = &a.frames[0];
        assert!((st.bars[0] - 12.0 / 54.0).abs() < 0.02, "{st:?}");
        assert!(st.luma > 120.0, "{st:?}");
    }

    #[test]
    fn the_hint_lists_every_cut_and_a_clean_window() {
        let (w, h) = (96, 54);
        let mut frames = Vec::new();
        for i in 0..100 {
            let scene = if i < 20 {
                0
            } else if i < 35 {
                1
            } else {
                2
            };
            frames.push(frame(w, h, 200, scene, 0));
        }
        let a = analysis(&frames, w, h, 10.0);
        assert_eq!(a.cuts.len(), 2, "{:?}", a.cuts);
        let hints = a.hints_for_window(0.0);
        let cut = hints
            .iter()
            .find(|h| h.rule == "scene_cut")
            .expect("cut hint");
        assert!(cut.message.contains("2 scene cuts"), "{}", cut.message);
        assert!(cut.message.contains("--start 3.5"), "{}", cut.message);
        let choice = a.choose(&[]);
        assert!((choice.start_s - 3.5).abs() < 0.01, "{choice:?}");
        assert!(choice.problems.is_empty(), "{choice:?}");
    }

    #[test]
    fn a_short_clip_reports_its_real_window_and_says_no_clean_one_exists() {
        let (w, h) = (96, 54);
        let frames: Vec<Vec<u8>> = (0..15)
            .map(|i| frame(w, h, 200, usize::from(i >= 8), 0))
            .collect();
        let a = analysis(&frames, w, h, 1.5);
        let choice = a.choose(&[]);
        assert_eq!(choice.start_s, 0.0);
        assert!((choice.len_s - 1.5).abs() < 1e-9, "{choice:?}");
        let cut = &choice.problems[0];
        assert_eq!(cut.rule, "scene_cut");
        assert!(cut.message.contains("too short"), "{}", cut.message);
    }
}
