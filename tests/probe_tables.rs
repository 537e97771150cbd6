//! The MP4 sample tables and ffprobe agree: a prepare started from the tables alone (while
//! ffprobe runs) is the one ffprobe's answer calls for, so the early start is kept; and the one
//! window rule gives the same window fed by ffprobe's packets or by the tables.

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

/// The window of `clip` from ffprobe's packets (no tables given) and from the MP4 tables.
fn same_window(clip: &Path, start_s: f64) {
    let cancel = CancellationToken::new();
    let packets = probe::probe_with(clip, start_s, &cancel, None).unwrap();
    let top = mp4::top_level(clip).unwrap();
    assert!(top.as_ref().is_some_and(|t| t.moov.is_some()));
    let tables = probe::probe_with(clip, start_s, &cancel, top.as_ref()).unwrap();
    let (p, t) = (&packets.window, &tables.window);
    let what = format!("{} from {start_s} s: {p:?} vs {t:?}", clip.display());
    assert_eq!(p.frames, t.frames, "{what}");
    assert_eq!(p.keyframe_at_start, t.keyframe_at_start, "{what}");
    assert_eq!(p.variable_frame_rate, t.variable_frame_rate, "{what}");
    assert!((p.fps - t.fps).abs() < 0.01, "{what}");
    assert!((p.len_s - t.len_s).abs() < 0.01, "{what}");
}

#[test]
fn packets_and_tables_give_the_same_window() {
    let gop25 = testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false);
    same_window(&gop25, 0.0);
    same_window(&gop25, 2.0);
    same_window(&gop25, 2.5);
    let bframes = x264_clip(
        "bframes-6s.mp4",
        "testsrc2=size=1280x720:rate=30:duration=6",
        &["-preset", "veryfast", "-bf", "3"],
    );
    same_window(&bframes, 0.0);
    // 30 fps for 2 s, then 15 fps: variable.
    let vfr = x264_clip(
        "vfr-30-15.mp4",
        "testsrc2=size=1280x720:rate=30:duration=5",
        &[
            "-vf",
            "select='lt(t,2)+not(mod(n,2))',setpts='if(lt(N,60),N/30,2+(N-60)/15)/TB'",
            "-fps_mode",
            "vfr",
        ],
    );
    same_window(&vfr, 0.0);
}
