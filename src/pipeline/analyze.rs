//! `--start auto`: scan the clip (its first minute) at low resolution and choose the 4-second
//! window that shows one shot, well exposed, sharp and steady, preferring a start on a
//! keyframe (which lets a compliant clip be stream-copied).

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::pipeline::ffmpeg;
use crate::pipeline::probe::{ClipInfo, WINDOW_S};

/// Frames per second of the scan.
pub const SCAN_FPS: f64 = 5.0;
const SCAN_W: u32 = 96;
const SCAN_H: u32 = 54;
/// How much of the clip is scanned.
pub const SCAN_LIMIT_S: f64 = 60.0;

/// Per-frame measurements of the scanned clip.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub brightness: Vec<f32>,
    pub sharpness: Vec<f32>,
    /// Mean absolute change from the previous frame (0 for the first).
    pub change: Vec<f32>,
}

impl Scan {
    /// Measure gray frames of `w` x `h`.
    pub fn from_frames(frames: &[Vec<u8>], w: usize, h: usize) -> Scan {
        let mut s = Scan::default();
        let mut prev: Option<&Vec<u8>> = None;
        for f in frames {
            let n = f.len().max(1) as f32;
            s.brightness
                .push(f.iter().map(|v| *v as f32).sum::<f32>() / n);
            let mut lap = 0f32;
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let c = f[y * w + x] as f32 * 4.0;
                    let v = c
                        - f[y * w + x - 1] as f32
                        - f[y * w + x + 1] as f32
                        - f[(y - 1) * w + x] as f32
                        - f[(y + 1) * w + x] as f32;
                    lap += v.abs();
                }
            }
            s.sharpness.push(lap / ((w - 2) * (h - 2)) as f32);
            s.change.push(match prev {
                Some(p) => {
                    p.iter()
                        .zip(f)
                        .map(|(a, b)| (*a as f32 - *b as f32).abs())
                        .sum::<f32>()
                        / n
                }
                None => 0.0,
            });
            prev = Some(f);
        }
        s
    }

    /// Frame indices where the picture changes abruptly (a scene cut).
    pub fn cuts(&self) -> Vec<usize> {
        let mut sorted = self.change.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        (1..self.change.len())
            .filter(|&i| self.change[i] > 30.0 && self.change[i] > 4.0 * median.max(2.0))
            .collect()
    }

    /// The best window start in seconds, for a clip lasting `duration_s`; `keyframes` are the
    /// keyframe times, preferred when they are as good.
    pub fn best_start(&self, duration_s: f64, keyframes: &[f64]) -> f64 {
        let n = self.brightness.len();
        if n == 0 || duration_s <= WINDOW_S {
            return 0.0;
        }
        let per = (WINDOW_S * SCAN_FPS).round() as usize;
        let last_start = ((duration_s - WINDOW_S) * SCAN_FPS).floor().max(0.0) as usize;
        let cuts = self.cuts();
        let mut best = (f64::MIN, 0.0);
        for i in 0..=last_start.min(n.saturating_sub(1)) {
            let end = (i + per).min(n);
            let range = i..end;
            let len = range.len().max(1) as f64;
            let cut_inside = cuts.iter().any(|c| *c > i && *c < end);
            let bright = range
                .clone()
                .map(|k| self.brightness[k] as f64)
                .sum::<f64>()
                / len;
            let sharp = range.clone().map(|k| self.sharpness[k] as f64).sum::<f64>() / len;
            let motion = range
                .clone()
                .skip(1)
                .map(|k| self.change[k] as f64)
                .sum::<f64>()
                / len;
            let t = i as f64 / SCAN_FPS;
            let on_key = keyframes.iter().any(|k| (k - t).abs() < 0.5 / SCAN_FPS);
            let mut score = sharp.min(20.0) - motion.min(40.0) * 0.5;
            if cut_inside {
                score -= 1000.0;
            }
            if !(40.0..=215.0).contains(&bright) {
                score -= 50.0;
            }
            if on_key {
                score += 2.0;
            }
            // Earlier starts win ties.
            score -= t * 0.01;
            if score > best.0 {
                best = (score, t);
            }
        }
        (best.1 * 1000.0).round() / 1000.0
    }
}

/// Decode the clip's first minute into small gray frames and measure them.
pub fn scan(info: &ClipInfo, cancel: &CancellationToken) -> Result<Scan> {
    let Some(v) = &info.video else {
        return Ok(Scan::default());
    };
    let frames = ffmpeg::decode_frames(
        &info.path,
        v.index,
        0.0,
        SCAN_LIMIT_S,
        &format!("fps={SCAN_FPS},scale={SCAN_W}:{SCAN_H}:flags=area,format=gray"),
        (SCAN_W * SCAN_H) as usize,
        cancel,
    )?;
    Ok(Scan::from_frames(&frames, SCAN_W as usize, SCAN_H as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8, textured: bool) -> Vec<u8> {
        (0..(SCAN_W * SCAN_H) as usize)
            .map(|i| {
                if textured && (i / 3) % 2 == 0 {
                    v.saturating_add(60)
                } else {
                    v
                }
            })
            .collect()
    }

    #[test]
    fn avoids_a_cut_inside_the_window() {
        // 8 s at 5 fps: a cut at 2 s.
        let mut frames = Vec::new();
        for i in 0..40 {
            frames.push(frame(if i < 10 { 60 } else { 160 }, true));
        }
        let s = Scan::from_frames(&frames, SCAN_W as usize, SCAN_H as usize);
        assert_eq!(s.cuts(), vec![10]);
        let start = s.best_start(8.0, &[]);
        assert!(start >= 2.0, "{start}");
        assert!(start <= 4.0, "{start}");
    }

    #[test]
    fn short_clips_start_at_zero() {
        let frames = vec![frame(100, true); 15];
        let s = Scan::from_frames(&frames, SCAN_W as usize, SCAN_H as usize);
        assert_eq!(s.best_start(3.0, &[]), 0.0);
    }
}
