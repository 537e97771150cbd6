//! Preview images: a character's middle keyframe from its folder, and for a clip that is not
//! a character yet, a strip of frames decoded at evenly spaced times of its window (one
//! ffmpeg run, the same input whitelists as the pipeline), one of which is shown large.

use std::path::Path;

use image::{DynamicImage, RgbImage};
use tokio_util::sync::CancellationToken;

use crate::pipeline::ffmpeg;
use crate::pipeline::job::Input;

/// Largest side of a character keyframe kept in memory.
const MAX_SIDE: u32 = 640;
/// Largest side of a decoded strip frame (a full-size preview at 200 columns still looks
/// sharp in half-blocks; kitty and sixel scale it up).
pub const FRAME_SIDE: u32 = 640;
/// Frames in the strip of a window.
pub const STRIP: usize = 4;
/// A frame whose luma varies less than this (standard deviation, 0-255) shows nothing: a
/// fade through black, a flash, a title card's background.
const BLANK_SPREAD: f64 = 6.0;

pub fn clip_key_prefix(input: &Input) -> String {
    match input {
        Input::File(p) => format!("clip:{}@", p.display()),
        Input::Url(u) => format!("clip:{u}@"),
    }
}

pub fn clip_key(input: &Input, start_s: f64) -> String {
    format!("{}{start_s:.1}", clip_key_prefix(input))
}

/// Decode an image file, shrunk to at most `MAX_SIDE`.
pub fn load_image(path: &Path) -> Option<DynamicImage> {
    let img = image::open(path).ok()?;
    Some(if img.width().max(img.height()) > MAX_SIDE {
        img.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        img
    })
}

/// The times of the strip's frames in the window `[start, start + len)`: the middles of `STRIP`
/// equal parts.
pub fn strip_times(start_s: f64, len_s: f64) -> Vec<f64> {
    let step = len_s.max(0.0) / STRIP as f64;
    (0..STRIP)
        .map(|i| start_s + (i as f64 + 0.5) * step)
        .collect()
}

/// The size frames of a `width` x `height` video are decoded at: the aspect kept, the long
/// side at most `FRAME_SIDE`, both even and at least 2 (the sizes come from the file, so
/// they are bounded here before they size a buffer).
pub fn frame_size(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let scale = (FRAME_SIDE as f64 / w.max(h)).min(1.0);
    let even = |v: f64| (((v * scale) / 2.0).round() as u32 * 2).clamp(2, FRAME_SIDE);
    (even(w), even(h))
}

/// The strip of the window `[start, start + len)` of stream `index` of `clip`: up to `STRIP`
/// frames in time order, decoded in one ffmpeg run (blocking; empty when nothing decodes or
/// the run is cancelled).
pub fn clip_strip(
    clip: &Path,
    index: u32,
    (width, height): (u32, u32),
    start_s: f64,
    len_s: f64,
    cancel: &CancellationToken,
) -> Vec<DynamicImage> {
    let (w, h) = frame_size(width, height);
    let len = len_s.clamp(0.1, crate::pipeline::probe::WINDOW_S);
    let step = len / STRIP as f64;
    // Seek to the first frame's time; the fps filter then takes one frame per step.
    let vf = format!(
        "fps={:.6},scale={w}:{h}:flags=bilinear,format=rgb24",
        1.0 / step
    );
    let bytes = (w * h * 3) as usize;
    let frames = ffmpeg::decode_frames(
        clip,
        index,
        start_s + step / 2.0,
        len - step / 2.0,
        &vf,
        bytes,
        cancel,
    )
    .unwrap_or_default();
    // Nothing at the middles (a stream that ends early): whatever decodes from the start.
    let frames = if frames.is_empty() {
        ffmpeg::decode_frames(clip, index, start_s, len, &vf, bytes, cancel).unwrap_or_default()
    } else {
        frames
    };
    frames
        .into_iter()
        .take(STRIP)
        .filter_map(|f| RgbImage::from_raw(w, h, f).map(DynamicImage::ImageRgb8))
        .collect()
}

/// Whether a frame shows nothing (one flat colour: black in a fade, white in a flash).
pub fn is_blank(img: &DynamicImage) -> bool {
    let luma = img.to_luma8();
    let n = luma.len().max(1) as f64;
    let mean = luma.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var = luma.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() < BLANK_SPREAD
}

/// Which frame of a strip is shown large: the one nearest the middle of the window that is
/// not blank (the middle one when all are).
pub fn pick_main(frames: &[DynamicImage]) -> usize {
    let mid = frames.len() / 2;
    let mut order: Vec<usize> = (0..frames.len()).collect();
    order.sort_by_key(|i| (i.abs_diff(mid) * 2 + usize::from(*i < mid), *i));
    order
        .into_iter()
        .find(|&i| !is_blank(&frames[i]))
        .unwrap_or(mid.min(frames.len().saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_are_bounded_even_and_keep_the_aspect() {
        assert_eq!(frame_size(1920, 1080), (640, 360));
        assert_eq!(frame_size(720, 1280), (360, 640));
        assert_eq!(frame_size(320, 240), (320, 240));
        // Sizes read from a hostile file cannot size a huge buffer.
        let (w, h) = frame_size(u32::MAX, 1);
        assert!(w <= FRAME_SIDE && h >= 2);
        assert_eq!(frame_size(0, 0), (2, 2));
    }

    #[test]
    fn strip_times_are_the_middles_of_equal_parts() {
        assert_eq!(strip_times(12.0, 4.0), vec![12.5, 13.5, 14.5, 15.5]);
    }

    #[test]
    fn the_main_frame_is_the_middle_one_unless_it_is_blank() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(8, 8, image::Rgb([3, 3, 3])));
        let busy = DynamicImage::ImageRgb8(RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([(x * 30) as u8, (y * 30) as u8, 90])
        }));
        assert!(is_blank(&flat) && !is_blank(&busy));
        let strip = vec![busy.clone(), busy.clone(), busy.clone(), busy.clone()];
        assert_eq!(pick_main(&strip), 2);
        // The middle is black (a fade): the nearest frame that shows something.
        let strip = vec![busy.clone(), flat.clone(), flat.clone(), busy.clone()];
        assert_eq!(pick_main(&strip), 3);
        let strip = vec![flat.clone(), flat.clone()];
        assert_eq!(pick_main(&strip), 1);
        assert_eq!(pick_main(&[]), 0);
    }
}
