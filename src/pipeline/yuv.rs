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
/// wide (rounded up) and half as tall, `out` holds `rows` rows of `w` pixels. Pixels go in
/// pairs that share their chroma, with the chroma terms worked out once per pair.
fn rows_to_rgb(y: &[u8], u: &[u8], v: &[u8], w: usize, rows: usize, m: Matrix, out: &mut [u8]) {
    let c = m.coeffs();
    let cw = w.div_ceil(2);
    let pairs = w / 2;
    for r in 0..rows {
        let yrow = &y[r * w..(r + 1) * w];
        let crow = (r / 2) * cw;
        let (urow, vrow) = (&u[crow..crow + cw], &v[crow..crow + cw]);
        let orow = &mut out[r * w * 3..(r + 1) * w * 3];
        let pixel = |o: &mut [u8], yv: u8, rr: i32, gg: i32, bb: i32| {
            let yl = (yv as i32 - 16) * Y_GAIN + HALF;
            o[0] = clamp8(yl + rr);
            o[1] = clamp8(yl + gg);
            o[2] = clamp8(yl + bb);
        };
        let chroma = |uu: u8, vv: u8| {
            let (du, dv) = (uu as i32 - 128, vv as i32 - 128);
            (c.rv * dv, -(c.gu * du) - c.gv * dv, c.bu * du)
        };
        for (((o, yy), uu), vv) in orow[..pairs * 6]
            .chunks_exact_mut(6)
            .zip(yrow.chunks_exact(2))
            .zip(urow)
            .zip(vrow)
        {
            let (rr, gg, bb) = chroma(*uu, *vv);
            let (o0, o1) = o.split_at_mut(3);
            pixel(o0, yy[0], rr, gg, bb);
            pixel(o1, yy[1], rr, gg, bb);
        }
        if w % 2 == 1 {
            let (rr, gg, bb) = chroma(urow[cw - 1], vrow[cw - 1]);
            pixel(&mut orow[(w - 1) * 3..], yrow[w - 1], rr, gg, bb);
        }
    }
}

/// One yuv420p picture of `w` x `h` as rgb24 into `out` (resized to fit); false when `yuv`
/// is not that size.
pub fn picture_into_rgb(yuv: &[u8], w: usize, h: usize, m: Matrix, out: &mut Vec<u8>) -> bool {
    if w == 0 || h == 0 || yuv.len() != picture_bytes(w, h) {
        return false;
    }
    let c = w.div_ceil(2) * h.div_ceil(2);
    let (y, rest) = yuv.split_at(w * h);
    let (u, v) = rest.split_at(c);
    out.resize(w * h * 3, 0);
    rows_to_rgb(y, u, v, w, h, m, out);
    true
}

/// `picture_into_rgb` into a new buffer.
pub fn picture_to_rgb(yuv: &[u8], w: usize, h: usize, m: Matrix) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    picture_into_rgb(yuv, w, h, m, &mut out).then_some(out)
}

/// Bytes of one analysis frame: two yuv420p pictures of `w` x `h` stacked (`vstack`).
pub fn stacked_bytes(w: usize, h: usize) -> usize {
    picture_bytes(w, 2 * h)
}

/// The parts of an analysis frame (`prepare::analysis_chain`: the picture with the cut under
/// it, both `w` x `h`, stacked as one yuv420p frame of `w` x `2h`).
pub struct Stacked<'a> {
    /// The picture's luma code values (Y', limited range).
    pub picture_luma: &'a [u8],
    /// The cut's luma code values: it is only measured for its sharpness.
    pub cut_luma: &'a [u8],
}

/// Split an analysis frame and make its picture rgb24 in `rgb` (resized to fit); None when
/// `yuv` is not that size.
pub fn split_stacked<'a>(
    yuv: &'a [u8],
    w: usize,
    h: usize,
    m: Matrix,
    rgb: &mut Vec<u8>,
) -> Option<Stacked<'a>> {
    if w == 0 || h == 0 || !h.is_multiple_of(2) || yuv.len() != stacked_bytes(w, h) {
        return None;
    }
    let c = w.div_ceil(2) * h;
    let (y, rest) = yuv.split_at(w * 2 * h);
    let (u, v) = rest.split_at(c);
    rgb.resize(w * h * 3, 0);
    rows_to_rgb(y, u, v, w, h, m, rgb);
    let (picture_luma, cut_luma) = y.split_at(w * h);
    Some(Stacked {
        picture_luma,
        cut_luma,
    })
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
    fn a_stacked_frame_gives_the_picture_in_colour_and_both_lumas() {
        let (w, h) = (4usize, 2usize);
        let mut yuv = vec![0u8; stacked_bytes(w, h)];
        // Picture: Y 100; cut: a ramp; chroma of the picture strongly red.
        yuv[..w * h].fill(100);
        for (i, v) in yuv[w * h..w * 2 * h].iter_mut().enumerate() {
            *v = 16 + (i as u8) * 25;
        }
        let c = w.div_ceil(2) * h;
        yuv[w * 2 * h..w * 2 * h + c].fill(128);
        yuv[w * 2 * h + c..].fill(240);
        let mut rgb = Vec::new();
        let parts = split_stacked(&yuv, w, h, Matrix::Bt709, &mut rgb).unwrap();
        assert_eq!(rgb.len(), w * h * 3);
        assert!(
            rgb.chunks_exact(3).all(|p| p[0] > p[1] && p[0] > p[2]),
            "{rgb:?}"
        );
        assert_eq!(parts.picture_luma, &[100u8; 8][..]);
        assert_eq!(parts.cut_luma, &yuv[w * h..w * 2 * h]);
    }

    #[test]
    fn odd_widths_convert_their_last_column() {
        // 3x2: chroma planes 2x1; the last column takes the last chroma sample.
        let yuv = [126u8, 126, 126, 126, 126, 126, 128, 128, 128, 240];
        let rgb = picture_to_rgb(&yuv, 3, 2, Matrix::Bt709).unwrap();
        let last = &rgb[6..9];
        assert!(last[0] > 200 && last[1] < 100, "{last:?}");
        let first = &rgb[0..3];
        assert!(
            (first[0] as i32 - 128).abs() <= 1 && first[0] == first[2],
            "{first:?}"
        );
    }

    #[test]
    fn a_frame_of_the_wrong_size_is_refused() {
        assert!(picture_to_rgb(&[0; 5], 2, 2, Matrix::Bt709).is_none());
        assert!(split_stacked(&[0; 11], 2, 2, Matrix::Bt709, &mut Vec::new()).is_none());
        assert!(picture_to_rgb(&[], 0, 0, Matrix::Bt709).is_none());
        // Odd sizes round the chroma planes up, as ffmpeg does.
        assert_eq!(picture_bytes(3, 3), 9 + 2 * 4);
        assert!(picture_to_rgb(&[128; 17], 3, 3, Matrix::Bt601).is_some());
    }
}
