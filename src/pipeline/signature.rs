//! The visual signature (version 1): a centre-weighted 4x4x4 RGB histogram over the window
//! plus a 64-bit difference hash of six evenly spaced frames. Small, deterministic, and
//! comparable across aspect ratios.

use serde::{Deserialize, Serialize};

use crate::pipeline::prepare::SigFrames;

pub const VERSION: u32 = 1;
const BINS: usize = 64;
const HASHES: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub version: u32,
    /// Normalised histogram, 4 levels per channel, r-major; sums to ~1.
    pub hist: Vec<f64>,
    /// dHash (hex) of frames evenly spaced over the window.
    pub dhash: Vec<String>,
    /// Mean luma 0-255 over the window.
    pub luma: f64,
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
    let (w, h) = (frames.width as usize, frames.height as usize);
    let mut hist = [0f64; BINS];
    let mut luma_sum = 0f64;
    let mut luma_n = 0u64;
    // Centre weighting: a Gaussian over the normalised distance from the centre.
    let weights: Vec<f64> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            let dx = (x / w as f64 - 0.5) * 2.0;
            let dy = (y / h as f64 - 0.5) * 2.0;
            (-(dx * dx + dy * dy) / (2.0 * 0.45 * 0.45)).exp()
        })
        .collect();
    for f in &frames.frames {
        for (i, px) in f.chunks_exact(3).enumerate() {
            let bin =
                (px[0] as usize >> 6) * 16 + (px[1] as usize >> 6) * 4 + (px[2] as usize >> 6);
            hist[bin] += weights[i];
            luma_sum += luma(px) as f64;
            luma_n += 1;
        }
    }
    let total: f64 = hist.iter().sum::<f64>().max(1e-9);
    let hist = hist
        .iter()
        .map(|v| ((v / total) * 10000.0).round() / 10000.0)
        .collect();
    let n = frames.frames.len();
    let k = HASHES.min(n);
    let dhash = (0..k)
        .map(|i| {
            let idx = ((2 * i + 1) * n) / (2 * k);
            format!("{:016x}", dhash(&frames.frames[idx], w, h))
        })
        .collect();
    Signature {
        version: VERSION,
        hist,
        dhash,
        luma: ((luma_sum / luma_n.max(1) as f64) * 10.0).round() / 10.0,
    }
}

/// Similarity 0..1 of two signatures: histogram intersection and hash closeness.
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    if a.version != b.version || a.hist.len() != b.hist.len() {
        return 0.0;
    }
    let inter: f64 = a.hist.iter().zip(&b.hist).map(|(x, y)| x.min(*y)).sum();
    let hashes = |s: &Signature| -> Vec<u64> {
        s.dhash
            .iter()
            .filter_map(|h| u64::from_str_radix(h, 16).ok())
            .collect()
    };
    let (ha, hb) = (hashes(a), hashes(b));
    let hash_sim = if ha.is_empty() || hb.is_empty() {
        inter
    } else {
        // For each frame of a, the closest frame of b.
        let mean_best: f64 = ha
            .iter()
            .map(|x| hb.iter().map(|y| (x ^ y).count_ones()).min().unwrap_or(64) as f64)
            .sum::<f64>()
            / ha.len() as f64;
        1.0 - mean_best / 64.0
    };
    (0.6 * inter + 0.4 * hash_sim).clamp(0.0, 1.0)
}

/// The characters most like `sig`, best first (records whose signature this version cannot
/// read are left out; so is `except`, the character itself).
pub fn ranked<'a>(
    sig: &Signature,
    heads: &'a [crate::library::store::RecordHead],
    except: Option<&str>,
) -> Vec<(f64, &'a crate::library::store::RecordHead)> {
    let mut out: Vec<(f64, &crate::library::store::RecordHead)> = heads
        .iter()
        .filter(|h| Some(h.id.as_str()) != except)
        .filter_map(|h| {
            let other = h.signature.as_ref()?;
            let score = match other.as_parsed() {
                Some(o) => similarity(sig, o),
                None => similarity(sig, &other.parsed()?),
            };
            Some((score, h))
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    out
}

/// The signature of a clip's window (`start_s`, 4 s) without preparing anything: the same
/// small frames the prepare graph makes, decoded in one ffmpeg run.
pub fn of_clip(
    path: &std::path::Path,
    start_s: f64,
    cancel: &tokio_util::sync::CancellationToken,
) -> crate::Result<Signature> {
    use crate::pipeline::{ffmpeg, prepare, probe, validate};
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
            "fps={},scale={w}:{h}:flags=area,format=rgb24",
            prepare::SIG_FPS
        ),
        (w * h * 3) as usize,
        cancel,
    )?;
    Ok(compute(&SigFrames {
        width: w,
        height: h,
        fps: prepare::SIG_FPS,
        frames,
    }))
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
    fn deterministic_and_self_similar() {
        let a = compute(&frames(3));
        assert_eq!(a, compute(&frames(3)));
        assert_eq!(a.dhash.len(), 6);
        assert!((a.hist.iter().sum::<f64>() - 1.0).abs() < 0.01);
        assert!(similarity(&a, &a) > 0.999);
        let b = compute(&frames(101));
        assert!(similarity(&a, &b) < similarity(&a, &a));
    }
}
