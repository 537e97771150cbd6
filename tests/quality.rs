//! Quality hints and the cut detector on generated clips: each rule fires on the clip made to
//! break it and stays quiet on the clean ones (`probe --json`: "hints" and "cuts").

mod common;

use common::*;
use serde_json::Value;

/// A 1280x720 25 fps clip from lavfi inputs and a filter graph ending in [v].
fn clip(name: &str, inputs: &[&str], graph: &str) -> std::path::PathBuf {
    let mut args: Vec<&str> = inputs.to_vec();
    args.extend([
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    make_clip(name, &args)
}

/// testsrc2 with a filter chain after it.
fn testsrc_with(name: &str, seconds: u32, chain: &str) -> std::path::PathBuf {
    let src = format!("testsrc2=size=1280x720:rate=25:duration={seconds}");
    clip(
        name,
        &["-f", "lavfi", "-i", &src],
        &format!("[0:v]{chain},setsar=1,format=yuv420p[v]"),
    )
}

/// Two shots (testsrc2 then a mandelbrot zoom), 4.5 s each, joined by `join` (a filter taking
/// [a][b]).
fn two_shots(name: &str, join: &str) -> std::path::PathBuf {
    clip(
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25:duration=4.5",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=1280x720:rate=25",
        ],
        &format!(
            "[0:v]setsar=1,format=yuv420p[a];[1:v]trim=duration=4.5,setpts=PTS-STARTPTS,setsar=1,format=yuv420p[b];{join}"
        ),
    )
}

fn probe(env: &Env, clip: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["probe", "--json", clip.to_str().unwrap()];
    args.extend(extra);
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hint_rules(report: &Value) -> Vec<String> {
    report["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rule"].as_str().unwrap().to_string())
        .collect()
}

fn hint<'a>(report: &'a Value, rule: &str) -> Option<&'a str> {
    report["hints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["rule"] == rule)
        .map(|h| h["message"].as_str().unwrap())
}

/// A reported transition: its time, kind and span.
type Transition = (f64, String, Option<(f64, f64)>);

fn transitions(report: &Value) -> Vec<Transition> {
    report["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let span = t["span"]
                .as_array()
                .map(|s| (s[0].as_f64().unwrap(), s[1].as_f64().unwrap()));
            (
                t["at_s"].as_f64().unwrap(),
                t["kind"].as_str().unwrap().to_string(),
                span,
            )
        })
        .collect()
}

#[test]
fn a_hard_cut_is_listed_with_a_window_that_has_none() {
    let env = Env::new();
    let c = two_shots(
        "q-hard.mp4",
        "[a]trim=duration=2[a2];[a2][b]concat=n=2:v=1[v]",
    );
    let r = probe(&env, &c, &[]);
    let cuts: Vec<f64> = r["cuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(cuts.len(), 1, "{r}");
    // Within two frames of the cut at 2.0 s (25 fps).
    assert!((cuts[0] - 2.0).abs() <= 0.08 + 0.05, "{cuts:?}");
    assert_eq!(transitions(&r)[0].1, "hard");
    let msg = hint(&r, "scene_cut").expect("a scene_cut hint");
    assert!(msg.contains("hard cut at 1.95 s"), "{msg}");
    assert!(msg.contains("--start 2."), "{msg}");
    // The suggested window is clean: no scene_cut hint there.
    let start = msg.split("--start ").nth(1).unwrap().trim_end_matches(')');
    let start = start.split(')').next().unwrap();
    let clean = probe(&env, &c, &["--start", start]);
    assert!(hint(&clean, "scene_cut").is_none(), "{clean}");
}

#[test]
fn a_dissolve_is_reported_with_its_span() {
    let env = Env::new();
    let c = two_shots(
        "q-dissolve.mp4",
        "[a][b]xfade=transition=fade:duration=1:offset=2[v]",
    );
    let r = probe(&env, &c, &[]);
    let t = transitions(&r);
    assert_eq!(t.len(), 1, "{r}");
    assert_eq!(t[0].1, "dissolve", "{r}");
    let (a, b) = t[0].2.expect("a span");
    assert!(
        a < 3.0 && b > 2.0,
        "the span {a}-{b} misses the dissolve 2-3 s"
    );
    let msg = hint(&r, "scene_cut").expect("a scene_cut hint");
    assert!(msg.contains("dissolve"), "{msg}");
}

#[test]
fn a_fade_through_black_is_a_cut() {
    let env = Env::new();
    let c = two_shots(
        "q-fadeblack.mp4",
        "[a][b]xfade=transition=fadeblack:duration=1.2:offset=2[v]",
    );
    let r = probe(&env, &c, &[]);
    let t = transitions(&r);
    assert_eq!(t.len(), 1, "{r}");
    assert_eq!(t[0].1, "fade", "{r}");
    assert!((2.0..=3.2).contains(&t[0].0), "{r}");
    assert!(hint_rules(&r).contains(&"scene_cut".to_string()), "{r}");
}

#[test]
fn fast_motion_without_a_cut_is_not_a_cut() {
    let env = Env::new();
    // testsrc2 panned fast across a larger frame and back (up to 600 px a second): every
    // frame changes a lot.
    let c = testsrc_with(
        "q-fastpan.mp4",
        5,
        "scale=2560:1440,crop=1280:720:x='640+300*sin(t*2)':y='360+100*cos(t*2)'",
    );
    let r = probe(&env, &c, &[]);
    assert_eq!(r["cuts"], serde_json::json!([]), "{r}");
    assert!(!hint_rules(&r).contains(&"scene_cut".to_string()), "{r}");
}

#[test]
fn blur_is_caught_and_a_sharp_clip_is_not() {
    let env = Env::new();
    let sharp = testsrc_with("q-sharp.mp4", 5, "null");
    let r = probe(&env, &sharp, &[]);
    assert_eq!(hint_rules(&r), Vec::<String>::new(), "{r}");
    let blurred = testsrc_with("q-blur6.mp4", 5, "gblur=sigma=6");
    let r = probe(&env, &blurred, &[]);
    assert!(hint_rules(&r).contains(&"blurry".to_string()), "{r}");
}

#[test]
fn blown_out_highlights_are_overexposed() {
    let env = Env::new();
    let c = testsrc_with("q-blown.mp4", 5, "eq=brightness=0.35");
    let r = probe(&env, &c, &[]);
    assert!(hint_rules(&r).contains(&"overexposed".to_string()), "{r}");
}

#[test]
fn letterbox_bars_are_not_dark_nor_off_centre() {
    let env = Env::new();
    // A well-lit picture in a 2.4:1 letterbox, and in a pillarbox.
    for (name, chain) in [
        ("q-letterbox.mp4", "scale=1280:534,pad=1280:720:0:93"),
        ("q-pillarbox.mp4", "scale=720:720,pad=1280:720:280:0"),
    ] {
        let c = testsrc_with(name, 5, chain);
        let r = probe(&env, &c, &[]);
        let rules = hint_rules(&r);
        assert!(!rules.contains(&"dark".to_string()), "{name}: {r}");
        assert!(!rules.contains(&"off_centre".to_string()), "{name}: {r}");
    }
}

#[test]
fn shake_is_motion_and_a_steady_pan_is_not() {
    let env = Env::new();
    let shaken = testsrc_with(
        "q-shake.mp4",
        5,
        "scale=1344:756,crop=1280:720:x='32+12*sin(n*1.9)+8*sin(n*3.1)':y='18+8*sin(n*2.3)+5*sin(n*2.9)'",
    );
    let r = probe(&env, &shaken, &[]);
    assert!(hint_rules(&r).contains(&"motion".to_string()), "{r}");
    let pan = testsrc_with("q-pan.mp4", 5, "scale=1600:900,crop=1280:720:x='t*60':y=90");
    let r = probe(&env, &pan, &[]);
    assert!(!hint_rules(&r).contains(&"motion".to_string()), "{r}");
}

#[test]
fn an_off_centre_subject_is_flagged_and_a_centred_one_is_not() {
    let env = Env::new();
    let off = testsrc_with(
        "q-offcentre.mp4",
        5,
        "scale=480:270,pad=1280:720:760:420:color=gray",
    );
    let r = probe(&env, &off, &[]);
    assert!(hint_rules(&r).contains(&"off_centre".to_string()), "{r}");
    let centred = testsrc_with(
        "q-centred.mp4",
        5,
        "scale=480:270,pad=1280:720:400:225:color=gray",
    );
    let r = probe(&env, &centred, &[]);
    assert!(!hint_rules(&r).contains(&"off_centre".to_string()), "{r}");
}

#[test]
fn start_auto_on_a_short_clip_reports_the_real_window() {
    let env = Env::new();
    let c = testsrc_with("q-short.mp4", 2, "trim=duration=1.52");
    let out = env
        .cmd()
        .args(["create", "--name", "short", "--start", "auto"])
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("chose the window 0.00-1.52 s"), "{err}");
    assert!(!err.contains("0.00-4.00"), "{err}");
}

#[test]
fn start_auto_says_when_no_clean_window_exists() {
    let env = Env::new();
    let c = two_shots(
        "q-nowindow.mp4",
        "[a]trim=duration=2[a2];[b]trim=duration=2.5[b2];[a2][b2]concat=n=2:v=1[v]",
    );
    let out = env
        .cmd()
        .args(["create", "--name", "cutting", "--start", "auto"])
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no clean window exists"), "{err}");
    assert!(err.contains("scene_cut"), "{err}");
}

/// One frame of `clip` at 480x270 as ffmpeg sends it in `format` (`rgb24` or `yuv420p`).
fn one_frame(clip: &std::path::Path, format: &str) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-ss", "1", "-i"])
        .arg(clip)
        .args(["-frames:v", "1", "-vf"])
        .arg(format!("scale=480:270:flags=area,format={format}"))
        .args(["-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn analysis_frames_made_rgb_by_castbook_match_ffmpegs_own_conversion() {
    use castbook::pipeline::{prepare, probe, yuv};
    let untagged = x264_clip(
        "q-colours-untagged.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &[],
    );
    let tagged = x264_clip(
        "q-colours-709.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &[
            "-vf",
            "scale=out_color_matrix=bt709,format=yuv420p",
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
        ],
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    for (clip, want) in [(untagged, yuv::Matrix::Bt601), (tagged, yuv::Matrix::Bt709)] {
        let info = probe::probe(&clip, 0.0, &cancel).unwrap();
        let v = info.video.as_ref().unwrap();
        let matrix = prepare::analysis_matrix(v, false);
        assert_eq!(matrix, want, "{}", clip.display());
        let theirs = one_frame(&clip, "rgb24");
        let planes = one_frame(&clip, "yuv420p");
        let ours = yuv::picture_to_rgb(&planes, 480, 270, matrix).unwrap();
        let other = match matrix {
            yuv::Matrix::Bt601 => yuv::Matrix::Bt709,
            yuv::Matrix::Bt709 => yuv::Matrix::Bt601,
        };
        let wrong = yuv::picture_to_rgb(&planes, 480, 270, other).unwrap();
        let (d, dw) = (
            mean_abs_diff(&ours, &theirs),
            mean_abs_diff(&wrong, &theirs),
        );
        // Chroma is upsampled differently (nearest here), so edges differ a little; the
        // other matrix is far off on testsrc2's saturated bars.
        assert!(d < 3.0, "{}: {d:.2} from ffmpeg's RGB", clip.display());
        assert!(dw > 2.0 * d + 2.0, "{}: {dw:.2} vs {d:.2}", clip.display());
    }
}
