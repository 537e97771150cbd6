//! The MP4 sample tables and ffprobe agree: a prepare started from the tables alone (while
//! ffprobe runs) is the one ffprobe's answer calls for, so the early start is kept.

mod common;

use std::path::Path;

use castbook::pipeline::{mp4, prepare, probe};
use common::*;
use tokio_util::sync::CancellationToken;

fn agree(clip: &Path, start_s: f64) {
    let top = mp4::top_level(clip).unwrap().expect("an MP4");
    let early = probe::from_movie(clip, &top, start_s).expect("the tables are enough");
    let full = probe::probe(clip, start_s, &CancellationToken::new()).unwrap();
    let work = Path::new("/work-dir");
    assert_eq!(
        prepare::fingerprint(&early, work),
        prepare::fingerprint(&full, work),
        "{}: the tables and ffprobe call for different ffmpeg runs",
        clip.display()
    );
    assert_eq!(early.window.frames, full.window.frames);
    assert_eq!(early.truncated, full.truncated);
}

#[test]
fn copy_candidates() {
    agree(&fixture("bigbuckbunny.mp4"), 0.0);
    agree(&testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true), 0.0);
    agree(&testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false), 2.0);
    agree(
        &testsrc("vertical-720.mp4", "720x1280", 25, 2.0, false),
        0.0,
    );
}

#[test]
fn encode_cases() {
    agree(&testsrc("1080p-6s.mp4", "1920x1080", 30, 6.0, true), 0.0);
    agree(&testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false), 1.5);
    agree(&testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false), 0.0);
    let yuvj = x264_clip(
        "yuvj.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &["-pix_fmt", "yuvj420p"],
    );
    agree(&yuvj, 0.0);
    let bframes = x264_clip(
        "bframes-6s.mp4",
        "testsrc2=size=1280x720:rate=30:duration=6",
        &["-preset", "veryfast", "-bf", "3"],
    );
    agree(&bframes, 0.0);
}

#[test]
fn truncation_is_found_in_the_tables() {
    let env = Env::new();
    let src = x264_clip(
        "faststart-6s.mp4",
        "testsrc2=size=1280x720:rate=25:duration=6",
        &["-movflags", "+faststart"],
    );
    let whole = mp4::top_level(&src).unwrap().unwrap();
    assert!(!probe::from_movie(&src, &whole, 0.0).unwrap().truncated);
    // moov first: a file cut at three quarters still has its tables, which point past the end.
    let data = std::fs::read(&src).unwrap();
    let p = env.path("cut.mp4");
    std::fs::write(&p, &data[..data.len() * 3 / 4]).unwrap();
    let top = mp4::top_level(&p).unwrap().unwrap();
    assert!(probe::from_movie(&p, &top, 0.0).unwrap().truncated);
}
