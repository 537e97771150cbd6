//! The visual signature. Version 2 describes the window's appearance so that global
//! brightness and contrast do not matter: per frame of six evenly spaced ones, a 64-bit DCT
//! hash of the luma with its mean and contrast taken out, and over the window a histogram of
//! gradient orientations (weighted by their strength, normalised) and a histogram of hues
//! (weighted by saturation). Comparing two signatures gives the same score either way round.
//!
//! Version 1 (a centre-weighted 4x4x4 RGB histogram plus a difference hash per frame) is
//! still written beside version 2, so records made before version 2 compare with new ones by
//! the version 1 method; two version 2 signatures compare by version 2.

use serde::{Deserialize, Serialize};

use crate::pipeline::prepare::SigFrames;

pub const VERSION: u32 = 2;
const BINS: usize = 64;
const HASHES: usize = 6;
const ORIENTATIONS: usize = 8;
const HUES: usize = 12;

/// A `similarity` at or above this warns that a new character looks like an existing one.
/// Chosen from `cargo bench --bench quality -- look`: the same clip brightened or darkened
/// by 0.35, or 1 s later, scores 0.80-0.96; unrelated clips 0.54-0.65; the same scene from
/// another shot 0.73. The level sits in the middle of the gap between the same-clip and
/// unrelated scores (0.07-0.08 from each), low enough to also warn about the same scene
/// from another shot, which is what a look-alike warning is for.
pub const LOOK_ALIKE: f64 = 0.72;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub version: u32,
    /// Version 1: normalised histogram, 4 levels per channel, r-major; sums to ~1.
    pub hist: Vec<f64>,
    /// Version 1: dHash (hex) of frames evenly spaced over the window.
    pub dhash: Vec<String>,
    /// Mean luma 0-255 over the window.
    pub luma: f64,
    /// Version 2: DCT hash (hex) of the mean- and contrast-normalised luma of frames evenly
    /// spaced over the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phash: Vec<String>,
    /// Version 2: gradient orientations (8 bins over 180 degrees) of each quarter of the
    /// picture, 32 values, each quarter summing to ~1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad: Vec<f64>,
    /// Version 2: hues (12 bins) weighted by saturation; sums to ~1 (0 for a gray picture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hue: Vec<f64>,
}

fn luma(px: &[u8]) -> f32 {
    0.2126 * px[0] as f32 + 0.7152 * px[1] as f32 + 0.0722 * px[2] as f32
}

fn dhash(frame: &[u8], w: usize, h: usize) -> u64 {
    // Mean luma on a 9x8 grid, then compare horizontal neighbours.
    let mut grid = [[0f32; 9]; 8];
    let mut count = [[0u32; 9]; 8];
    for y in 0..h {
        let gy = y * 8 / h;
        for x in 0..w {
            let gx = x * 9 / w;
            let i = (y * w + x) * 3;
            grid[gy][gx] += luma(&frame[i..i + 3]);
            count[gy][gx] += 1;
        }
    }
    let mut bits = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let a = grid[y][x] / count[y][x].max(1) as f32;
            let b = grid[y][x + 1] / count[y][x + 1].max(1) as f32;
            bits = (bits << 1) | u64::from(a > b);
        }
    }
    bits
}

pub fn compute(frames: &SigFrames) -> Signature {
    let mut b = Builder::new(frames.width, frames.height, frames.frames.len());
    for f in &frames.frames {
        b.push(f);
    }
    b.finish()
}

/// Spread of the centre weighting, as a share of the half-width and half-height.
const CENTRE_SIGMA: f64 = 0.45;

/// A signature built as the window's rgb24 frames arrive (`push`), finished (`finish`) once
/// they are all in: the histogram and the mean luma are summed on the way, and only the
/// frames themselves are kept for the hashes of the evenly spaced ones.
pub struct Builder {
    w: usize,
    h: usize,
    /// Centre weighting, a Gaussian over the normalised distance from the centre, in its two
    /// separable factors.
    wx: Vec<f64>,
    wy: Vec<f64>,
    hist: [f64; BINS],
    luma_sum: f64,
    luma_n: u64,
    count: usize,
    /// The latest frame, standing in for picks past the end when fewer frames came.
    last: Vec<u8>,
    /// The evenly spaced frames that are hashed, for the number of frames expected (so a
    /// frame more or less at the end moves nothing), measured as they arrive.
    picks: Vec<usize>,
    parts: Vec<PickParts>,
}

impl Builder {
    /// A signature of `w` x `h` frames, about `expected` of them.
    pub fn new(w: u32, h: u32, expected: usize) -> Builder {
        let factor = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let d = ((i as f64 + 0.5) / n as f64 - 0.5) * 2.0;
                    (-(d * d) / (2.0 * CENTRE_SIGMA * CENTRE_SIGMA)).exp()
                })
                .collect()
        };
        Builder {
            w: w as usize,
            h: h as usize,
            wx: factor(w as usize),
            wy: factor(h as usize),
            hist: [0f64; BINS],
            luma_sum: 0.0,
            luma_n: 0,
            count: 0,
            last: Vec::new(),
            picks: picks(expected),
            parts: Vec::new(),
        }
    }

    pub fn push(&mut self, frame: &[u8]) {
        let (w, h) = (self.w, self.h);
        if w == 0 || h == 0 || frame.len() < w * h * 3 {
            return;
        }
        // Every other pixel of every other row: the same histogram, a quarter of the work.
        let mut row_hist = [0f64; BINS];
        let mut channels = [0u64; 3];
        let mut pixels = 0u64;
        for (line, wy) in frame.chunks_exact(w * 3).take(h).zip(&self.wy).step_by(2) {
            row_hist.fill(0.0);
            for (px, wx) in line.chunks_exact(3).zip(&self.wx).step_by(2) {
                pixels += 1;
                let bin =
                    (px[0] as usize >> 6) * 16 + (px[1] as usize >> 6) * 4 + (px[2] as usize >> 6);
                row_hist[bin] += wx;
                channels[0] += px[0] as u64;
                channels[1] += px[1] as u64;
                channels[2] += px[2] as u64;
            }
            for (t, r) in self.hist.iter_mut().zip(&row_hist) {
                *t += r * wy;
            }
        }
        self.luma_sum +=
            0.2126 * channels[0] as f64 + 0.7152 * channels[1] as f64 + 0.0722 * channels[2] as f64;
        self.luma_n += pixels;
        if self.picks.contains(&self.count) {
            self.parts.push(PickParts::of(frame, w, h));
        }
        self.count += 1;
        self.last.clear();
        self.last.extend_from_slice(&frame[..w * h * 3]);
    }

    pub fn finish(self) -> Signature {
        let (w, h) = (self.w, self.h);
        let total: f64 = self.hist.iter().sum::<f64>().max(1e-9);
        let hist = self
            .hist
            .iter()
            .map(|v| ((v / total) * 10000.0).round() / 10000.0)
            .collect();
        let mut parts: Vec<&PickParts> = self.parts.iter().collect();
        let missing = self.picks.iter().filter(|i| **i >= self.count).count();
        let stand_in = Some(&self.last)
            .filter(|l| missing > 0 && !l.is_empty())
            .map(|f| PickParts::of(f, w, h));
        if let Some(p) = &stand_in {
            parts.extend(std::iter::repeat_n(p, missing));
        }
        let (dhash, phash, grad, hue) = combine(&parts);
        Signature {
            version: VERSION,
            hist,
            dhash,
            luma: ((self.luma_sum / self.luma_n.max(1) as f64) * 10.0).round() / 10.0,
            phash,
            grad,
            hue,
        }
    }
}

fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

/// Mean-normalised luma of `frame` on a `n` x `n` grid (area average).
fn grid_luma(frame: &[u8], w: usize, h: usize, n: usize) -> Vec<f64> {
    let mut sum = vec![0f64; n * n];
    let mut count = vec![0u32; n * n];
    for y in 0..h {
        let gy = y * n / h;
        for x in 0..w {
            let i = (y * w + x) * 3;
            let Some(px) = frame.get(i..i + 3) else {
                break;
            };
            sum[gy * n + x * n / w] += luma(px) as f64;
            count[gy * n + x * n / w] += 1;
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, c)| s / (*c).max(1) as f64)
        .collect()
}

/// 64-bit hash of the 8x8 lowest DCT frequencies (DC left out) of a 32x32 luma grid: each
/// bit says whether a coefficient is above the median. A brightness offset only moves the DC
/// term and a contrast change scales all terms alike, so neither changes the hash.
fn dct_hash(frame: &[u8], w: usize, h: usize) -> u64 {
    const N: usize = 32;
    let g = grid_luma(frame, w, h, N);
    let cos: Vec<f64> = (0..8 * N)
        .map(|i| {
            let (k, x) = (i / N, i % N);
            (std::f64::consts::PI * (2 * x + 1) as f64 * k as f64 / (2 * N) as f64).cos()
        })
        .collect();
    // Rows first, then columns, the 8 lowest frequencies only.
    let mut rows = vec![0f64; N * 8];
    for y in 0..N {
        for k in 0..8 {
            rows[y * 8 + k] = (0..N).map(|x| g[y * N + x] * cos[k * N + x]).sum();
        }
    }
    let mut coef = [0f64; 64];
    for ky in 0..8 {
        for kx in 0..8 {
            coef[ky * 8 + kx] = (0..N).map(|y| rows[y * 8 + kx] * cos[ky * N + y]).sum();
        }
    }
    let mut sorted: Vec<f64> = coef[1..].to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut bits = 0u64;
    for (i, c) in coef.iter().enumerate() {
        let bit = i > 0 && *c > median;
        bits = (bits << 1) | u64::from(bit);
    }
    bits
}

/// The orientation of a gradient, folded to 0-180 degrees, in 8 bins of 22.5 degrees
/// (`atan2` without calling it: the bins' edges compared as slopes).
fn orientation_bin(gx: f64, gy: f64) -> usize {
    const TAN_22_5: f64 = 0.414_213_562_373_095_1;
    const TAN_67_5: f64 = 2.414_213_562_373_095;
    let (gx, gy) = if gy < 0.0 || (gy == 0.0 && gx < 0.0) {
        (-gx, -gy)
    } else {
        (gx, gy)
    };
    if gx == 0.0 {
        return ORIENTATIONS / 2;
    }
    let ax = gx.abs();
    if gx > 0.0 {
        // 0-90 degrees: bins [0, 22.5), [22.5, 45), ...
        if gy < ax * TAN_22_5 {
            0
        } else if gy < ax {
            1
        } else if gy < ax * TAN_67_5 {
            2
        } else {
            3
        }
    } else {
        // 90-180 degrees, mirrored: 180 - angle falls in (0, 22.5] for bin 7, ...
        if gy <= ax * TAN_22_5 {
            7
        } else if gy <= ax {
            6
        } else if gy <= ax * TAN_67_5 {
            5
        } else {
            4
        }
    }
}

/// What one picked frame gives the signature: its hashes and its (unnormalised) gradient
/// orientations and hues.
#[derive(Debug, Clone)]
struct PickParts {
    dhash: u64,
    phash: u64,
    grad: [f64; 4 * ORIENTATIONS],
    hue: [f64; HUES],
}

impl PickParts {
    fn of(f: &[u8], w: usize, h: usize) -> PickParts {
        // Analysis frames carry more under the picture: the picture alone is signed.
        let f = &f[..(w * h * 3).min(f.len())];
        let mut grad = [0f64; 4 * ORIENTATIONS];
        let mut hue = [0f64; HUES];
        let l: Vec<f32> = f.chunks_exact(3).map(luma).collect();
        if l.len() >= w * h {
            for y in 1..h.saturating_sub(1) {
                let half_y = usize::from(y * 2 >= h) * 2;
                for x in 1..w.saturating_sub(1) {
                    let i = y * w + x;
                    let gx = (l[i + 1] - l[i - 1]) as f64;
                    let gy = (l[i + w] - l[i - w]) as f64;
                    let mag2 = gx * gx + gy * gy;
                    if mag2 < 16.0 {
                        continue;
                    }
                    let quarter = half_y + usize::from(x * 2 >= w);
                    grad[quarter * ORIENTATIONS + orientation_bin(gx, gy)] += mag2.sqrt();
                }
            }
        }
        // Hues from every other pixel: the same distribution, half the work.
        for px in f.chunks_exact(3).step_by(2) {
            let (r, g, b) = (px[0] as f64, px[1] as f64, px[2] as f64);
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let chroma = max - min;
            if chroma < 12.0 {
                continue;
            }
            let h6 = if max == r {
                let h = (g - b) / chroma;
                if h < 0.0 { h + 6.0 } else { h }
            } else if max == g {
                (b - r) / chroma + 2.0
            } else {
                (r - g) / chroma + 4.0
            };
            // Saturation, not chroma: a darker or lighter copy keeps its weight; shared
            // between the two nearest bins so a hue on a border does not flip.
            let pos = h6 / 6.0 * HUES as f64 - 0.5;
            let lo = pos.floor();
            let frac = pos - lo;
            let weight = chroma / max.max(1.0);
            hue[(lo as i64).rem_euclid(HUES as i64) as usize] += weight * (1.0 - frac);
            hue[(lo as i64 + 1).rem_euclid(HUES as i64) as usize] += weight * frac;
        }
        PickParts {
            dhash: dhash(f, w, h),
            phash: dct_hash(f, w, h),
            grad,
            hue,
        }
    }
}

/// The frames (indices) whose hashes make the signature of `n` frames: `HASHES` evenly
/// spaced ones.
fn picks(n: usize) -> Vec<usize> {
    let k = HASHES.min(n);
    (0..k).map(|i| ((2 * i + 1) * n) / (2 * k)).collect()
}

/// The hashes and the version 2 parts of a window's picked frames.
fn combine(parts: &[&PickParts]) -> (Vec<String>, Vec<String>, Vec<f64>, Vec<f64>) {
    let mut grad = vec![0f64; 4 * ORIENTATIONS];
    let mut hue = vec![0f64; HUES];
    for p in parts {
        grad.iter_mut().zip(&p.grad).for_each(|(t, v)| *t += v);
        hue.iter_mut().zip(&p.hue).for_each(|(t, v)| *t += v);
    }
    for q in grad.chunks_mut(ORIENTATIONS) {
        let t: f64 = q.iter().sum();
        if t > 0.0 {
            q.iter_mut().for_each(|v| *v = round4(*v / t));
        }
    }
    let t: f64 = hue.iter().sum();
    if t > 0.0 {
        hue.iter_mut().for_each(|v| *v = round4(*v / t));
    }
    (
        parts.iter().map(|p| format!("{:016x}", p.dhash)).collect(),
        parts.iter().map(|p| format!("{:016x}", p.phash)).collect(),
        grad,
        hue,
    )
}

fn hashes(list: &[String]) -> Vec<u64> {
    list.iter()
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .collect()
}

/// Mean over the frames of each side of the distance to the closest frame of the other side,
/// both ways round (so `a` to `b` equals `b` to `a`), 0-1.
fn hash_closeness(a: &[u64], b: &[u64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let one_way = |x: &[u64], y: &[u64]| -> f64 {
        x.iter()
            .map(|p| y.iter().map(|q| (p ^ q).count_ones()).min().unwrap_or(64) as f64)
            .sum::<f64>()
            / x.len() as f64
    };
    Some(1.0 - (one_way(a, b) + one_way(b, a)) / 2.0 / 64.0)
}

fn intersection(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).sum()
}

impl Signature {
    fn has_v2(&self) -> bool {
        self.version >= 2 && !self.phash.is_empty() && self.grad.len() == 4 * ORIENTATIONS
    }

    /// What `similarity` reads of this signature, with the hashes parsed; the version 1
    /// parts only when `with_v1` or when there is no version 2.
    pub fn compared(&self, with_v1: bool) -> Compared {
        let v2 = self
            .has_v2()
            .then(|| (hashes(&self.phash), self.grad.clone(), self.hue.clone()));
        let v1 = (with_v1 || v2.is_none()).then(|| (self.hist.clone(), hashes(&self.dhash)));
        Compared { v2, v1 }
    }
}

/// A signature as `similarity` reads it, hashes parsed: one signature is compared with
/// thousands without parsing or allocating per comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    v2: Option<(Vec<u64>, Vec<f64>, Vec<f64>)>,
    v1: Option<(Vec<f64>, Vec<u64>)>,
}

impl Compared {
    /// The parts, borrowed.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            v2: self
                .v2
                .as_ref()
                .map(|(phash, grad, hue)| V2Parts { phash, grad, hue }),
            v1: self
                .v1
                .as_ref()
                .map(|(hist, dhash)| V1Parts { hist, dhash }),
        }
    }
}

/// What `similarity` reads of a signature, wherever it is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parts<'a> {
    /// Version 2 (when the signature has it): DCT hashes, gradient orientations, hues.
    pub v2: Option<V2Parts<'a>>,
    /// Version 1: histogram and difference hashes.
    pub v1: Option<V1Parts<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct V2Parts<'a> {
    pub phash: &'a [u64],
    pub grad: &'a [f64],
    pub hue: &'a [f64],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct V1Parts<'a> {
    pub hist: &'a [f64],
    pub dhash: &'a [u64],
}

/// Similarity 0..1 of two signatures, the same either way round: by version 2 when both
/// have it (DCT hashes, gradient orientations and hues: blind to brightness and contrast),
/// else by version 1 (colour histogram and difference hashes).
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    similarity_of(a.compared(true).parts(), b.compared(true).parts()).unwrap_or(0.0)
}

/// `similarity` of two compared signatures; `None` when it needs a version 1 part that one
/// of them was kept without.
pub fn similarity_of(a: Parts<'_>, b: Parts<'_>) -> Option<f64> {
    if let (Some(a), Some(b)) = (a.v2, b.v2) {
        let hash = hash_closeness(a.phash, b.phash).unwrap_or(0.0);
        let grad = intersection(a.grad, b.grad) / 4.0;
        let both_gray = a.hue.iter().sum::<f64>() < 0.5 && b.hue.iter().sum::<f64>() < 0.5;
        let hue = if both_gray {
            1.0
        } else {
            intersection(a.hue, b.hue)
        };
        return Some((0.5 * hash + 0.3 * grad + 0.2 * hue).clamp(0.0, 1.0));
    }
    Some(similarity_v1(a.v1?, b.v1?))
}

/// Version 1: histogram intersection and difference-hash closeness (both ways round).
fn similarity_v1(a: V1Parts<'_>, b: V1Parts<'_>) -> f64 {
    if a.hist.len() != BINS || b.hist.len() != BINS {
        return 0.0;
    }
    let inter = intersection(a.hist, b.hist);
    let hash_sim = hash_closeness(a.dhash, b.dhash).unwrap_or(inter);
    (0.6 * inter + 0.4 * hash_sim).clamp(0.0, 1.0)
}

/// The plain colour-histogram part of version 1 (histogram intersection), for comparison in
/// the evaluation.
pub fn histogram_similarity(a: &Signature, b: &Signature) -> f64 {
    intersection(&a.hist, &b.hist)
}

/// The signature of a clip's window (`start_s`, 4 s) without preparing anything: the same
/// small frames the prepare graph makes, decoded in one ffmpeg run.
pub fn of_clip(
    path: &std::path::Path,
    start_s: f64,
    cancel: &tokio_util::sync::CancellationToken,
) -> crate::Result<Signature> {
    use crate::pipeline::{ffmpeg, prepare, probe, validate, yuv};
    let info = probe::probe(path, start_s, cancel)?;
    let verdict = validate::validate(
        &info,
        &validate::Options { strict: false },
        &validate::Decode::Pending,
    );
    if let Some(err) = verdict
        .checks
        .iter()
        .find(|c| !c.ok && c.rule == validate::Rule::Decodable)
    {
        return Err(crate::Error::input("decodable", err.message.clone()));
    }
    let v = info.video.as_ref().expect("a decodable clip has video");
    let (w, h) = prepare::sig_size(v);
    let frames = ffmpeg::decode_frames(
        path,
        v.index,
        start_s,
        info.window.len_s.max(0.04),
        &format!(
            "fps={},scale={w}:{h}:flags=area,format=yuv420p",
            prepare::SIG_FPS
        ),
        yuv::picture_bytes(w as usize, h as usize),
        cancel,
    )?;
    // The same frames, made RGB the same way, as a create signs.
    let matrix = prepare::analysis_matrix(v, false);
    let mut b = Builder::new(w, h, frames.len());
    let mut rgb = Vec::new();
    for f in frames {
        if yuv::picture_into_rgb(&f, w as usize, h as usize, matrix, &mut rgb) {
            b.push(&rgb);
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(seed: u8) -> SigFrames {
        let (w, h) = (16u32, 9u32);
        SigFrames {
            width: w,
            height: h,
            fps: 10.0,
            frames: (0..10)
                .map(|f| {
                    (0..w * h * 3)
                        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(f))
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn orientation_bins_match_atan2() {
        let atan_bin = |gx: f64, gy: f64| {
            let angle = gy.atan2(gx).rem_euclid(std::f64::consts::PI);
            ((angle / std::f64::consts::PI * ORIENTATIONS as f64) as usize).min(ORIENTATIONS - 1)
        };
        for i in 0..3600 {
            let a = (i as f64 + 0.37) / 3600.0 * std::f64::consts::TAU;
            for r in [4.5, 30.0, 300.0] {
                let (gx, gy) = (r * a.cos(), r * a.sin());
                assert_eq!(orientation_bin(gx, gy), atan_bin(gx, gy), "{gx} {gy}");
            }
        }
        for (gx, gy) in [(0.0, 5.0), (0.0, -5.0), (5.0, 0.0), (-5.0, 0.0)] {
            assert_eq!(orientation_bin(gx, gy), atan_bin(gx, gy), "{gx} {gy}");
        }
    }

    #[test]
    fn the_streaming_histogram_and_luma_are_the_per_pixel_ones() {
        let f = frames(7);
        let (w, h) = (f.width as usize, f.height as usize);
        let mut hist = [0f64; BINS];
        let (mut luma_sum, mut pixels) = (0f64, 0usize);
        for frame in &f.frames {
            for (i, px) in frame.chunks_exact(3).enumerate() {
                if (i % w) % 2 == 1 || (i / w) % 2 == 1 {
                    continue;
                }
                pixels += 1;
                let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
                let dx = (x / w as f64 - 0.5) * 2.0;
                let dy = (y / h as f64 - 0.5) * 2.0;
                let weight = (-(dx * dx + dy * dy) / (2.0 * 0.45 * 0.45)).exp();
                hist[(px[0] as usize >> 6) * 16
                    + (px[1] as usize >> 6) * 4
                    + (px[2] as usize >> 6)] += weight;
                luma_sum += luma(px) as f64;
            }
        }
        let total: f64 = hist.iter().sum();
        let s = compute(&f);
        for (a, b) in s.hist.iter().zip(hist.iter()) {
            assert!((a - b / total).abs() < 1e-4, "{a} {}", b / total);
        }
        let mean = luma_sum / pixels as f64;
        assert!((s.luma - mean).abs() < 0.051, "{} {mean}", s.luma);
    }

    #[test]
    fn fewer_frames_than_expected_still_give_every_hash() {
        let f = frames(3);
        let mut b = Builder::new(f.width, f.height, 40);
        for x in &f.frames {
            b.push(x);
        }
        let s = b.finish();
        assert_eq!((s.dhash.len(), s.phash.len()), (HASHES, HASHES));
        assert_eq!(Builder::new(16, 9, 40).finish().dhash.len(), 0);
    }

    #[test]
    fn deterministic_and_self_similar() {
        let a = compute(&frames(3));
        assert_eq!(a, compute(&frames(3)));
        assert_eq!(a.dhash.len(), 6);
        assert!((a.hist.iter().sum::<f64>() - 1.0).abs() < 0.01);
        assert!(similarity(&a, &a) > 0.999);
        let b = compute(&frames(101));
        assert!(similarity(&a, &b) < similarity(&a, &a));
    }

    /// A textured picture (stripes and blocks in colour), `gain` x + `offset` per channel.
    fn scene(kind: u32, gain: f32, offset: f32) -> SigFrames {
        let (w, h) = (96u32, 54u32);
        let frames = (0..12)
            .map(|f| {
                let mut out = Vec::new();
                for y in 0..h {
                    for x in 0..w {
                        let (x, y, f) = (x as f32, y as f32, f as f32);
                        let v = match kind {
                            0 => 100.0 + 50.0 * ((x + f) * 0.21).sin() * (y * 0.13).cos(),
                            _ => {
                                100.0 + 50.0 * (x * 0.07 + y * 0.31).sin() + 20.0 * (y * 0.05).cos()
                            }
                        };
                        for (c, k) in [1.0f32, 0.7, 0.4].iter().enumerate() {
                            let base = v * k + c as f32 * 10.0;
                            out.push((base * gain + offset).clamp(0.0, 255.0) as u8);
                        }
                    }
                }
                out
            })
            .collect();
        SigFrames {
            width: w,
            height: h,
            fps: 10.0,
            frames,
        }
    }

    #[test]
    fn version_2_ignores_brightness_and_contrast_and_is_symmetric() {
        let a = compute(&scene(0, 1.0, 0.0));
        let brighter = compute(&scene(0, 1.3, 40.0));
        let darker = compute(&scene(0, 0.6, -10.0));
        let other = compute(&scene(1, 1.0, 0.0));
        assert_eq!(a.version, 2);
        for copy in [&brighter, &darker] {
            let s = similarity(&a, copy);
            assert!(
                s > similarity(&a, &other) + 0.1,
                "{s} vs {}",
                similarity(&a, &other)
            );
            assert!(s > 0.85, "{s}");
            assert_eq!(s, similarity(copy, &a));
        }
    }

    #[test]
    fn a_version_1_record_compares_with_a_new_signature_by_version_1() {
        let new = compute(&scene(0, 1.0, 0.0));
        // A record written before version 2: only the version 1 fields.
        let old = Signature {
            version: 1,
            phash: Vec::new(),
            grad: Vec::new(),
            hue: Vec::new(),
            ..new.clone()
        };
        let text = serde_json::to_string(&old).unwrap();
        assert!(!text.contains("phash"), "{text}");
        let parsed: Signature = serde_json::from_str(&text).unwrap();
        assert!(!parsed.has_v2());
        let s = similarity(&new, &parsed);
        let (new_c, parsed_c) = (new.compared(true), parsed.compared(true));
        let (a, b) = (new_c.parts().v1.unwrap(), parsed_c.parts().v1.unwrap());
        assert!((s - similarity_v1(a, b)).abs() < 1e-12);
        // Compared forms give the same score; one made without the version 1 parts cannot
        // be compared with a version 1 record.
        let (new_v2, parsed_own) = (new.compared(false), parsed.compared(false));
        assert_eq!(similarity_of(new_c.parts(), parsed_own.parts()), Some(s));
        assert_eq!(similarity_of(new_v2.parts(), parsed_own.parts()), None);
        assert!(s > 0.99, "{s}");
        assert_eq!(s, similarity(&parsed, &new));
        let other = compute(&scene(1, 1.0, 0.0));
        assert!(similarity(&other, &parsed) < s);
    }
}
