//! Keyframe measures taken on the JPEGs, for choosing references: sharpness (variance of the
//! Laplacian), exposure (mean light near the middle, little clipped), left-right symmetry (a
//! subject facing the camera is close to its mirror image), and a tiny thumbnail to tell
//! frames apart.

use std::path::Path;

use image::GrayImage;

use crate::error::{Error, Result};

/// Largest keyframe measured (the pixels decoded are bounded before anything is allocated).
const MAX_PIXELS: u64 = 4096 * 4096;
/// Side of the thumbnails compared for distinctness.
const THUMB: u32 = 16;

/// What was measured on one keyframe.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrameScore {
    pub width: u32,
    pub height: u32,
    /// Variance of the 4-neighbour Laplacian of the grey image (higher is sharper).
    pub sharpness: f64,
    /// 1 at a mid-grey mean with nothing clipped, down to 0 for a black or white frame.
    pub exposure: f64,
    /// 1 for a frame that is its own mirror image, lower the less it is.
    pub symmetry: f64,
    #[serde(skip)]
    thumb: Vec<f32>,
}

/// Measure a JPEG (or PNG) keyframe.
pub fn score_file(path: &Path) -> Result<FrameScore> {
    let bad = |why: String| {
        Error::processing(
            "keyframe",
            format!(
                "cannot read the keyframe {} ({why}): `castbook doctor --repair` makes it again",
                path.display()
            ),
        )
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| bad(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let (w, h) = reader.into_dimensions().map_err(|e| bad(e.to_string()))?;
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(bad(format!("{w}x{h} pixels")));
    }
    let img = image::open(path).map_err(|e| bad(e.to_string()))?;
    Ok(score(&img.to_luma8()))
}

/// Measure a grey image.
pub fn score(g: &GrayImage) -> FrameScore {
    let (w, h) = g.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let raw: &[u8] = g.as_raw();

    // Variance of the 4-neighbour Laplacian over the inner pixels.
    let (mut n, mut sum, mut sum2) = (0u64, 0i64, 0i64);
    if wu >= 3 && hu >= 3 {
        for y in 1..hu - 1 {
            let (up, row, down) = (
                &raw[(y - 1) * wu..y * wu],
                &raw[y * wu..(y + 1) * wu],
                &raw[(y + 1) * wu..(y + 2) * wu],
            );
            for x in 1..wu - 1 {
                let l = i64::from(row[x - 1])
                    + i64::from(row[x + 1])
                    + i64::from(up[x])
                    + i64::from(down[x])
                    - 4 * i64::from(row[x]);
                sum += l;
                sum2 += l * l;
                n += 1;
            }
        }
    }
    let sharpness = if n > 0 {
        let mean = sum as f64 / n as f64;
        (sum2 as f64 / n as f64 - mean * mean).max(0.0)
    } else {
        0.0
    };

    let total = raw.len().max(1) as f64;
    let light: u64 = raw.iter().map(|&v| u64::from(v)).sum();
    let clipped = raw.iter().filter(|&&v| !(8..=247).contains(&v)).count() as f64;
    let mean = light as f64 / total;
    let exposure = ((1.0 - (mean - 128.0).abs() / 128.0) * (1.0 - clipped / total)).max(0.0);

    // Symmetry over the middle half of the width, where a subject usually stands.
    let (x0, x1) = (wu / 4, wu - wu / 4);
    let (mut diff, mut count) = (0u64, 0u64);
    for row in raw.chunks_exact(wu.max(1)) {
        for x in x0..(x0 + x1) / 2 {
            let mirror = x1 - 1 - (x - x0);
            diff += u64::from(row[x].abs_diff(row[mirror]));
            count += 1;
        }
    }
    let symmetry = if count > 0 {
        1.0 - diff as f64 / count as f64 / 255.0
    } else {
        0.0
    };

    let small = image::imageops::resize(g, THUMB, THUMB, image::imageops::FilterType::Triangle);
    let thumb = small.pixels().map(|p| f32::from(p.0[0]) / 255.0).collect();
    FrameScore {
        width: w,
        height: h,
        sharpness,
        exposure,
        symmetry,
        thumb,
    }
}

/// How different two frames look: the mean absolute difference of their thumbnails, 0 to 1.
pub fn distance(a: &FrameScore, b: &FrameScore) -> f64 {
    if a.thumb.len() != b.thumb.len() || a.thumb.is_empty() {
        return 1.0;
    }
    let d: f32 = a
        .thumb
        .iter()
        .zip(&b.thumb)
        .map(|(x, y)| (x - y).abs())
        .sum();
    f64::from(d) / a.thumb.len() as f64
}

/// The quality of each frame, 0 to 1: sharpness (relative to the sharpest) times exposure.
pub fn quality(scores: &[FrameScore]) -> Vec<f64> {
    let top = scores
        .iter()
        .map(|s| s.sharpness)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    scores
        .iter()
        .map(|s| (s.sharpness / top).sqrt() * s.exposure)
        .collect()
}

/// The indices of the `n` best frames, sharp, well exposed and unlike each other: the best
/// first, then each time the one whose quality times its distance to those already chosen
/// is highest (a near-duplicate of a chosen frame scores near zero). In the clip's order.
pub fn pick_best(scores: &[FrameScore], n: usize) -> Vec<usize> {
    let q = quality(scores);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < n.min(scores.len()) {
        let next = (0..scores.len())
            .filter(|i| !chosen.contains(i))
            .map(|i| {
                let apart = chosen
                    .iter()
                    .map(|&c| distance(&scores[i], &scores[c]))
                    .fold(f64::INFINITY, f64::min);
                let value = if chosen.is_empty() {
                    q[i]
                } else {
                    q[i] * apart.min(0.25) / 0.25
                };
                (i, value)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match next {
            Some((i, _)) => chosen.push(i),
            None => break,
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The index of the frame most likely to face the camera: the most symmetric among the
/// frames of fair quality (at least half the best's).
pub fn most_frontal(scores: &[FrameScore]) -> Option<usize> {
    let q = quality(scores);
    let best_q = q.iter().copied().fold(0.0_f64, f64::max);
    (0..scores.len())
        .filter(|&i| q[i] >= best_q * 0.5)
        .max_by(|&a, &b| {
            scores[a]
                .symmetry
                .total_cmp(&scores[b].symmetry)
                .then(b.cmp(&a))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn img(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| Luma([f(x, y)]))
    }

    #[test]
    fn sharp_beats_blurred_and_mid_grey_beats_black() {
        let sharp = score(&img(64, 64, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 { 60 } else { 190 }
        }));
        let flat = score(&img(64, 64, |_, _| 128));
        assert!(sharp.sharpness > 1000.0 * (flat.sharpness + 1.0));
        let black = score(&img(64, 64, |_, _| 0));
        assert!(flat.exposure > 0.99 && black.exposure < 0.01);
    }

    #[test]
    fn a_mirror_image_is_symmetric() {
        let sym = score(&img(64, 32, |x, _| (x.min(63 - x) * 8) as u8));
        let ramp = score(&img(64, 32, |x, _| (x * 4) as u8));
        assert!(sym.symmetry > 0.99, "{}", sym.symmetry);
        assert!(ramp.symmetry < sym.symmetry - 0.1, "{}", ramp.symmetry);
    }

    #[test]
    fn near_duplicates_are_not_picked_twice() {
        let a = score(&img(64, 64, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 { 60 } else { 190 }
        }));
        let b = a.clone();
        let c = score(&img(64, 64, |x, _| if (x / 4) % 2 == 0 { 40 } else { 170 }));
        let picked = pick_best(&[a, b, c], 2);
        assert_eq!(picked.len(), 2);
        assert!(
            picked.contains(&2),
            "the distinct frame is kept: {picked:?}"
        );
    }
}
