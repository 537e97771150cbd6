//! Where a pane puts its text and its images: a large preview (its aspect kept) with an
//! optional strip of small frames under it, beside the text or below it, whichever shows the
//! preview larger. Text always gets the rows it needs first: an image never covers it.

use ratatui::layout::Rect;

/// Narrowest text column beside an image.
const MIN_TEXT_W: u16 = 24;
/// Smallest preview worth drawing, in cells.
const MIN_IMAGE: (u16, u16) = (6, 3);
/// Smallest strip frame worth drawing, in cells.
const MIN_THUMB: (u16, u16) = (6, 2);

/// The areas of a pane's text, large image and strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaLayout {
    pub text: Rect,
    pub image: Option<Rect>,
    pub strip: Option<Rect>,
}

impl MediaLayout {
    /// The cells of each of `n` strip frames (one column between them).
    pub fn thumbs(&self, n: usize) -> Vec<Rect> {
        let Some(s) = self.strip else {
            return Vec::new();
        };
        let n16 = n.max(1) as u16;
        let w = (s.width + 1) / n16 - 1;
        (0..n16)
            .map(|i| Rect::new(s.x + i * (w + 1), s.y, w, s.height))
            .collect()
    }
}

/// Image columns per text row for a `width` x `height` pixel image in cells of
/// `font` (width, height) pixels.
pub fn cell_aspect((width, height): (u32, u32), (font_w, font_h): (u16, u16)) -> f64 {
    let a = width.max(1) as f64 / height.max(1) as f64;
    a * font_h.max(1) as f64 / font_w.max(1) as f64
}

/// The large image's size and the strip's height in a box of `bw` x `bh` cells.
fn media_size(bw: u16, bh: u16, aspect: f64, strip: usize) -> Option<(u16, u16, u16)> {
    let rows = |w: u16| ((w as f64 / aspect).round() as u16).max(1);
    if strip > 1 {
        let n = strip as f64;
        let mut mw = bw.min((bh as f64 * aspect * n / (n + 1.0)).floor() as u16);
        loop {
            let tw = (mw + 1) / strip as u16;
            let tw = tw.saturating_sub(1);
            let (mh, th) = (rows(mw), rows(tw));
            if tw < MIN_THUMB.0 || th < MIN_THUMB.1 || mw < MIN_IMAGE.0 {
                break;
            }
            if mh + th <= bh {
                return Some((mw, mh, th));
            }
            mw -= 1;
        }
    }
    let mw = bw.min((bh as f64 * aspect).floor() as u16);
    let mh = rows(mw).min(bh);
    (mw >= MIN_IMAGE.0 && mh >= MIN_IMAGE.1).then_some((mw, mh, 0))
}

/// Lay out `area`: `rows(w)` is how many rows the text takes wrapped at `w` columns,
/// `aspect` the image's columns per row (`cell_aspect`), `strip` the number of strip frames
/// (0 or 1 for none). Without an image (`aspect` None) the text gets everything.
pub fn place(
    area: Rect,
    rows: impl Fn(u16) -> u16,
    aspect: Option<f64>,
    strip: usize,
) -> MediaLayout {
    let all_text = MediaLayout {
        text: area,
        image: None,
        strip: None,
    };
    let Some(aspect) = aspect.filter(|a| a.is_finite() && *a > 0.0) else {
        return all_text;
    };
    let mut best: Option<(u32, MediaLayout)> = None;
    let mut consider = |l: MediaLayout| {
        let size = l.image.map_or(0, |r| r.width as u32 * r.height as u32);
        if size > best.as_ref().map_or(0, |b| b.0) {
            best = Some((size, l));
        }
    };
    // Beside: the narrowest text column that still fits, the rest for the image.
    if area.width > MIN_TEXT_W + MIN_IMAGE.0 {
        let (mut lo, mut hi) = (MIN_TEXT_W, area.width - MIN_IMAGE.0 - 1);
        if rows(hi) <= area.height {
            while lo < hi {
                let mid = (lo + hi) / 2;
                if rows(mid) <= area.height {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let bw = area.width - lo - 1;
            if let Some((mw, mh, sh)) = media_size(bw, area.height, aspect, strip) {
                let x = area.right() - mw;
                consider(MediaLayout {
                    text: Rect::new(area.x, area.y, x - 1 - area.x, area.height),
                    image: Some(Rect::new(x, area.y, mw, mh)),
                    strip: (sh > 0).then(|| Rect::new(x, area.y + mh, mw, sh)),
                });
            }
        }
    }
    // Below: the text at full width, the image under it.
    let text_rows = rows(area.width);
    if text_rows < area.height
        && let Some((mw, mh, sh)) = media_size(area.width, area.height - text_rows, aspect, strip)
    {
        let y = area.y + text_rows;
        consider(MediaLayout {
            text: Rect::new(area.x, area.y, area.width, text_rows),
            image: Some(Rect::new(area.x, y, mw, mh)),
            strip: (sh > 0).then(|| Rect::new(area.x, y + mh, mw, sh)),
        });
    }
    best.map_or(all_text, |b| b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: Rect, b: Rect) -> bool {
        a.intersects(b)
    }

    #[test]
    fn text_that_needs_every_row_leaves_no_room_below() {
        let area = Rect::new(0, 0, 40, 10);
        // The text needs 11 rows at any width: no image, the text keeps the area.
        let l = place(area, |_| 11, Some(3.5), 4);
        assert_eq!(l.image, None);
        assert_eq!(l.text, area);
    }

    #[test]
    fn a_wide_pane_puts_the_image_beside_the_text_and_keeps_its_aspect() {
        let area = Rect::new(2, 1, 120, 30);
        // 40 columns of text wrap to 8 rows, narrower ones to more than the pane has.
        let rows = |w: u16| if w >= 40 { 8 } else { 31 };
        let l = place(area, rows, Some(3.56), 4);
        let img = l.image.unwrap();
        assert!(l.text.width >= 40, "{l:?}");
        assert!(!overlaps(img, l.text) && !overlaps(l.strip.unwrap(), l.text));
        let a = img.width as f64 / img.height as f64;
        assert!((a - 3.56).abs() < 0.4, "{a}");
        assert!(img.right() <= area.right() && l.strip.unwrap().bottom() <= area.bottom());
        assert_eq!(l.thumbs(4).len(), 4);
        assert!(l.thumbs(4).iter().all(|t| t.width >= MIN_THUMB.0));
    }

    #[test]
    fn a_narrow_pane_puts_the_image_below() {
        let area = Rect::new(0, 0, 46, 20);
        let rows = |w: u16| if w >= 46 { 4 } else { 12 };
        let l = place(area, rows, Some(3.56), 4);
        let img = l.image.unwrap();
        assert_eq!(l.text.height, 4);
        assert!(img.y >= 4 && img.width > 30, "{l:?}");
    }
}
