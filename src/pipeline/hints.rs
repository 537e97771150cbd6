//! Quality hints (warnings, never rejections), computed from the signature frames: too dark
//! or overexposed, blurry, heavy motion, a scene cut inside the window, subject off centre.

use crate::library::Warning;
use crate::pipeline::prepare::SigFrames;

fn luma_plane(frame: &[u8]) -> Vec<f32> {
    frame
        .chunks_exact(3)
        .map(|p| 0.2126 * p[0] as f32 + 0.7152 * p[1] as f32 + 0.0722 * p[2] as f32)
        .collect()
}

/// Hints for the window starting at `start_s`.
pub fn quality_hints(frames: &SigFrames, start_s: f64) -> Vec<Warning> {
    let mut out = Vec::new();
    if frames.frames.is_empty() {
        return out;
    }
    let (w, h) = (frames.width as usize, frames.height as usize);
    let lumas: Vec<Vec<f32>> = frames.frames.iter().map(|f| luma_plane(f)).collect();
    let n = lumas.len() as f32;

    let mean = lumas
        .iter()
        .map(|l| l.iter().sum::<f32>() / l.len() as f32)
        .sum::<f32>()
        / n;
    if mean < 40.0 {
        out.push(Warning::new(
            "dark",
            format!(
                "too dark (mean brightness {mean:.0}/255): use a brighter take or light the subject"
            ),
        ));
    } else if mean > 215.0 {
        out.push(Warning::new(
            "overexposed",
            format!("overexposed (mean brightness {mean:.0}/255): use a take with less light"),
        ));
    }

    // Sharpness: mean absolute Laplacian over the frames.
    let mut lap = 0f32;
    let mut energy_x = 0f64;
    let mut energy_y = 0f64;
    let mut energy = 0f64;
    for l in &lumas {
        let mut s = 0f32;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let c = l[y * w + x];
                let v = 4.0 * c
                    - l[y * w + x - 1]
                    - l[y * w + x + 1]
                    - l[(y - 1) * w + x]
                    - l[(y + 1) * w + x];
                let a = v.abs();
                s += a;
                energy += a as f64;
                energy_x += a as f64 * (x as f64 + 0.5) / w as f64;
                energy_y += a as f64 * (y as f64 + 0.5) / h as f64;
            }
        }
        lap += s / ((w - 2) * (h - 2)).max(1) as f32;
    }
    lap /= n;
    if lap < 4.0 && mean >= 40.0 {
        out.push(Warning::new(
            "blurry",
            format!("blurry (sharpness {lap:.1}): use a sharper, in-focus take"),
        ));
    }
    if energy > 0.0 {
        let cx = energy_x / energy - 0.5;
        let cy = energy_y / energy - 0.5;
        if (cx * cx + cy * cy).sqrt() > 0.2 {
            out.push(Warning::new(
                "off_centre",
                "the subject seems far from the centre: frame the character in the middle"
                    .to_string(),
            ));
        }
    }

    // Motion and cuts: mean absolute difference between consecutive frames.
    let diffs: Vec<f32> = lumas
        .windows(2)
        .map(|p| {
            p[0].iter()
                .zip(&p[1])
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / p[0].len() as f32
        })
        .collect();
    if !diffs.is_empty() {
        let mut sorted = diffs.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        if let Some((i, d)) = diffs
            .iter()
            .enumerate()
            .find(|(_, d)| **d > 40.0 && **d > 4.0 * median.max(2.0))
        {
            let t = start_s + (i + 1) as f64 / frames.fps;
            out.push(Warning::new(
                "scene_cut",
                format!(
                    "scene cut at {t:.1} s (change {d:.0}): start after it (--start {:.1}) so the window shows one shot",
                    t + 0.1
                ),
            ));
        }
        if median > 25.0 {
            out.push(Warning::new(
                "motion",
                format!("heavy camera or subject motion (mean change {median:.0}/255 per frame): a steadier take works better"),
            ));
        }
    }
    out
}
