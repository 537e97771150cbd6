//! Planar YUV 4:2:0 (limited range, 8 bits) to RGB for the analysis frames. ffmpeg sends
//! them as yuv420p, half the bytes of rgb24, and the conversion runs on castbook's
//! measuring thread instead of ffmpeg's filter thread, which is the critical path of a
//! create (`prepare::analysis_chain`).

/// The matrix the frames' YUV was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
}

/// Fixed-point (16 bits) coefficients: R = Y' + rv V, G = Y' - gu U - gv V, B = Y' + bu U
/// (swscale's own `ff_yuv2rgb_coeffs` for these matrices).
#[derive(Clone, Copy)]
struct Coeffs {
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

impl Matrix {
    fn coeffs(self) -> Coeffs {
        match self {
            Matrix::Bt709 => Coeffs {
                rv: 117_489,
                gu: 13_975,
                gv: 34_925,
                bu: 138_438,
            },
            Matrix::Bt601 => Coeffs {
                rv: 104_597,
                gu: 25_675,
                gv: 53_279,
                bu: 132_201,
            },
        }
    }
}

/// 255/219 in 16-bit fixed point: limited-range luma to full range.
const Y_GAIN: i32 = 76_309;
const HALF: i32 = 1 << 15;

#[inline]
fn clamp8(v: i32) -> u8 {
    (v >> 16).clamp(0, 255) as u8
}

/// Bytes of one yuv420p picture of `w` x `h`.
pub fn picture_bytes(w: usize, h: usize) -> usize {
    w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
}

/// Convert rows of a planar picture into rgb24 rows: `y` is `w` wide, `u` and `v` half as
/// wide and half as tall, `out` holds `rows` rows of `w` pixels.
fn rows_to_rgb(y: &[u8], u: &[u8], v: &[u8], w: usize, rows: usize, m: Matrix, out: &mut [u8]) {
    let c = m.coeffs();
    let cw = w.div_ceil(2);
    for r in 0..rows {
        let yrow = &y[r * w..(r + 1) * w];
        let urow = &u[(r / 2) * cw..(r / 2) * cw + cw];
        let vrow = &v[(r / 2) * cw..(r / 2) * cw + cw];
        let orow = &mut out[r * w * 3..(r + 1) * w * 3];
        for (x, (o, yv)) in orow.chunks_exact_mut(3).zip(yrow).enumerate() {
            let du = urow[x / 2] as i32 - 128;
            let dv = vrow[x / 2] as i32 - 128;
            let yl = (*yv as i32 - 16) * Y_GAIN + HALF;
            o[0] = clamp8(yl + c.rv * dv);
            o[1] = clamp8(yl - c.gu * du - c.gv * dv);
            o[2] = clamp8(yl + c.bu * du);
        }
    }
}

/// One yuv420p picture of `w` x `h` as rgb24; None when `yuv` is not that size.
pub fn picture_to_rgb(yuv: &[u8], w: usize, h: usize, m: Matrix) -> Option<Vec<u8>> {
    if w == 0 || h == 0 || yuv.len() != picture_bytes(w, h) {
        return None;
    }
    let c = w.div_ceil(2) * h.div_ceil(2);
    let (y, rest) = yuv.split_at(w * h);
    let (u, v) = rest.split_at(c);
    let mut out = vec![0u8; w * h * 3];
    rows_to_rgb(y, u, v, w, h, m, &mut out);
    Some(out)
}

/// Bytes of one analysis frame: two yuv420p pictures of `w` x `h` stacked (`vstack`).
pub fn stacked_bytes(w: usize, h: usize) -> usize {
    picture_bytes(w, 2 * h)
}

/// An analysis frame (`prepare::analysis_chain`: the picture with the cut under it, both
/// `w` x `h`, stacked as one yuv420p frame of `w` x `2h`) as rgb24 of the same layout: the
/// picture in colour; the cut, which is only measured for its sharpness, as gray (its luma
/// in all three channels, so its luma is exact). None when `yuv` is not that size.
pub fn stacked_to_rgb(yuv: &[u8], w: usize, h: usize, m: Matrix) -> Option<Vec<u8>> {
    if w == 0 || h == 0 || !h.is_multiple_of(2) || yuv.len() != stacked_bytes(w, h) {
        return None;
    }
    let c = w.div_ceil(2) * h;
    let (y, rest) = yuv.split_at(w * 2 * h);
    let (u, v) = rest.split_at(c);
    let mut out = vec![0u8; w * 2 * h * 3];
    let (top, bottom) = out.split_at_mut(w * h * 3);
    rows_to_rgb(y, u, v, w, h, m, top);
    let mut gray = [0u8; 256];
    for (i, g) in gray.iter_mut().enumerate() {
        *g = clamp8((i as i32 - 16) * Y_GAIN + HALF);
    }
    for (o, yv) in bottom.chunks_exact_mut(3).zip(&y[w * h..]) {
        let g = gray[*yv as usize];
        o.copy_from_slice(&[g, g, g]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luma709(p: &[u8]) -> f64 {
        0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64
    }

    #[test]
    fn limited_range_black_white_and_gray_map_to_full_range() {
        for (y, want) in [(16u8, 0u8), (235, 255), (126, 128)] {
            let yuv = [y, y, y, y, 128, 128];
            for m in [Matrix::Bt601, Matrix::Bt709] {
                let rgb = picture_to_rgb(&yuv, 2, 2, m).unwrap();
                for px in rgb.chunks_exact(3) {
                    for c in px {
                        assert!((*c as i32 - want as i32).abs() <= 1, "{y} -> {px:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn bt709_primaries_come_back_and_keep_their_luma() {
        // Y'CbCr of pure red, green and blue (BT.709, limited range).
        for (yuv, rgb) in [
            ([63u8, 102, 240], [255u8, 0, 0]),
            ([173, 42, 26], [0, 255, 0]),
            ([32, 240, 118], [0, 0, 255]),
        ] {
            let frame = [yuv[0], yuv[0], yuv[0], yuv[0], yuv[1], yuv[2]];
            let out = picture_to_rgb(&frame, 2, 2, Matrix::Bt709).unwrap();
            for (a, b) in out[..3].iter().zip(rgb) {
                assert!((*a as i32 - b as i32).abs() <= 3, "{yuv:?} -> {out:?}");
            }
            let y_full = (yuv[0] as f64 - 16.0) * 255.0 / 219.0;
            assert!((luma709(&out[..3]) - y_full).abs() < 3.0);
        }
    }

    #[test]
    fn the_stacked_cut_is_gray_with_its_exact_luma_and_the_picture_keeps_its_colour() {
        let (w, h) = (4usize, 2usize);
        let mut yuv = vec![0u8; stacked_bytes(w, h)];
        // Picture: Y 100; cut: Y 16..=235 ramp; chroma of the picture strongly red.
        yuv[..w * h].fill(100);
        for (i, v) in yuv[w * h..w * 2 * h].iter_mut().enumerate() {
            *v = 16 + (i as u8) * 25;
        }
        let c = w.div_ceil(2) * h;
        yuv[w * 2 * h..w * 2 * h + c].fill(128);
        yuv[w * 2 * h + c..].fill(240);
        let out = stacked_to_rgb(&yuv, w, h, Matrix::Bt709).unwrap();
        assert_eq!(out.len(), w * 2 * h * 3);
        let top = &out[..w * h * 3];
        assert!(
            top.chunks_exact(3).all(|p| p[0] > p[1] && p[0] > p[2]),
            "{top:?}"
        );
        for (i, p) in out[w * h * 3..].chunks_exact(3).enumerate() {
            assert!(p[0] == p[1] && p[1] == p[2]);
            let y = 16.0 + i as f64 * 25.0;
            assert!(
                (luma709(p) - (y - 16.0) * 255.0 / 219.0).abs() <= 1.0,
                "{i}: {p:?}"
            );
        }
    }

    #[test]
    fn a_frame_of_the_wrong_size_is_refused() {
        assert!(picture_to_rgb(&[0; 5], 2, 2, Matrix::Bt709).is_none());
        assert!(stacked_to_rgb(&[0; 11], 2, 2, Matrix::Bt709).is_none());
        assert!(picture_to_rgb(&[], 0, 0, Matrix::Bt709).is_none());
        // Odd sizes round the chroma planes up, as ffmpeg does.
        assert_eq!(picture_bytes(3, 3), 9 + 2 * 4);
        assert!(picture_to_rgb(&[128; 17], 3, 3, Matrix::Bt601).is_some());
    }
}
