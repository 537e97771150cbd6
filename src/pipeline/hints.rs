//! Quality hints (warnings, never rejections) of a window, from the analysis' per-frame
//! measurements: too dark or overexposed, blurry, heavy motion or shake, subject off centre.
//! Scene cuts come from the cut detector (`Analysis::hints_for_window`).

use crate::library::Warning;
use crate::pipeline::analyze::FrameStats;

/// Mean luma (0-255, bars left out) below which a window is too dark.
pub const DARK_LUMA: f32 = 40.0;
/// Mean luma above which a window is overexposed...
pub const BRIGHT_LUMA: f32 = 215.0;
/// ...or the share of the subject with clipped highlights above which it is blown out.
pub const CLIPPED_SHARE: f32 = 0.2;
/// Sharpness (`sharpness`, 0-1) below which a window is blurry: in the evaluation (`cargo
/// bench --bench quality -- blur`) the sharp originals measure 0.48-0.81 and their copies
/// blurred with a Gaussian of sigma 3 or more 0.22-0.36; the level sits in the gap.
pub const SHARPNESS: f32 = 0.42;
/// Shake: mean change of the global motion from frame to frame, in % of the picture.
pub const SHAKE: f32 = 1.0;
/// Subject or camera motion left once a steady global motion is taken out (0-255).
pub const RESIDUAL: f32 = 18.0;
/// Distance of the subject from the centre (shares of the picture) that is off centre.
pub const OFF_CENTRE: f32 = 0.2;

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// The frames whose sharpness, highlights and centring were measured.
fn measured(frames: &[FrameStats]) -> impl Iterator<Item = &FrameStats> + Clone {
    frames.iter().filter(|f| f.measured)
}

/// The window's sharpness, 0-1: per frame the lower of the sharpness at full and at half
/// resolution (compression noise can make a blurred picture look sharp at one scale, not at
/// both), median over the measured frames; `None` when none was measured.
pub fn sharpness(frames: &[FrameStats]) -> Option<f32> {
    let v: Vec<f32> = measured(frames).map(|f| f.fine.min(f.coarse)).collect();
    (!v.is_empty()).then(|| median(v))
}

/// The window's shake: how much the global motion changes from frame to frame (% of the
/// picture), beyond a quarter of its speed (10 fps samples of 25 fps footage step 2 or 3
/// frames, so even a steady pan varies by a fifth), the median over the frames so a few
/// misread motions do not count; a steady pan scores near 0.
pub fn shake(frames: &[FrameStats]) -> f32 {
    let v: Vec<(f32, f32)> = frames.iter().skip(1).map(|f| f.shift).collect();
    if v.len() < 2 {
        return 0.0;
    }
    let len = |x: f32, y: f32| (x * x + y * y).sqrt();
    let steps: Vec<f32> = v
        .windows(2)
        .map(|p| {
            let change = len(p[1].0 - p[0].0, p[1].1 - p[0].1);
            let speed = (len(p[0].0, p[0].1) + len(p[1].0, p[1].1)) / 2.0;
            (change - 0.25 * speed).max(0.0)
        })
        .collect();
    100.0 * median(steps)
}

/// Distance of the window's subject from the centre (shares of the picture), over the
/// measured frames (0 when none was).
pub fn off_centre(frames: &[FrameStats]) -> f32 {
    let m = measured(frames);
    let n = m.clone().count();
    if n == 0 {
        return 0.0;
    }
    let cx = m.clone().map(|f| f.centre.0).sum::<f32>() / n as f32;
    let cy = m.map(|f| f.centre.1).sum::<f32>() / n as f32;
    ((cx - 0.5).powi(2) + (cy - 0.5).powi(2)).sqrt()
}

/// Hints for a window's frames (10 per second).
pub fn window_hints(frames: &[FrameStats], _fps: f64) -> Vec<Warning> {
    let mut out = Vec::new();
    if frames.is_empty() {
        return out;
    }
    let n = frames.len() as f32;
    let luma = frames.iter().map(|f| f.luma).sum::<f32>() / n;
    let clipped = median(measured(frames).map(|f| f.clipped).collect());
    let bars = frames[frames.len() / 2].bars;
    let framed = if bars.iter().any(|b| *b > 0.02) {
        " (black bars left out)"
    } else {
        ""
    };
    if luma < DARK_LUMA {
        out.push(Warning::new(
            "dark",
            format!(
                "too dark (mean brightness {luma:.0}/255{framed}): use a brighter take or light the subject"
            ),
        ));
    } else if luma > BRIGHT_LUMA || clipped > CLIPPED_SHARE {
        out.push(Warning::new(
            "overexposed",
            format!(
                "overexposed (mean brightness {luma:.0}/255, {:.0} % of the subject blown out{framed}): use a take with less light",
                clipped * 100.0
            ),
        ));
    }

    if luma >= DARK_LUMA
        && let Some(s) = sharpness(frames)
        && s < SHARPNESS
    {
        out.push(Warning::new(
            "blurry",
            format!("blurry (sharpness {s:.2}, below {SHARPNESS}): use a sharper, in-focus take"),
        ));
    }

    let jitter = shake(frames);
    let residual = median(frames.iter().skip(1).map(|f| f.residual).collect());
    if jitter > SHAKE {
        out.push(Warning::new(
            "motion",
            format!(
                "camera shake (the picture jumps {jitter:.1} % of its size from frame to frame): use a steadier take, a tripod or stabilisation"
            ),
        ));
    } else if residual > RESIDUAL {
        out.push(Warning::new(
            "motion",
            format!(
                "heavy camera or subject motion (change {residual:.0}/255 per frame): a steadier take works better"
            ),
        ));
    }

    let off = off_centre(frames);
    if off > OFF_CENTRE {
        out.push(Warning::new(
            "off_centre",
            format!(
                "the subject seems far from the centre ({:.0} % of the picture away{framed}): frame the character in the middle",
                off * 100.0
            ),
        ));
    }
    out
}
