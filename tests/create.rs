//! Clips that are accepted: each is created with the real binary and the prepared clip is
//! checked with ffprobe.

mod common;

use common::*;

#[test]
fn bigbuckbunny_takes_the_fast_path() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "bunny", &[]);
    assert_eq!(rec["path_taken"], "copy");
    let id = rec["id"].as_str().unwrap();
    assert!(castbook::library::name::is_id(id), "{id}");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    let v = video_stream(&p);
    assert_eq!(v["nb_frames"], "100");
    assert_eq!(v["color_space"], "bt709");
    assert!(rec["clip"]["has_audio"].as_bool().unwrap());
    assert_eq!(env.characters(), vec![id.to_string()]);
    assert!(env.work_leftovers().is_empty());
}

#[test]
fn create_prints_the_id_first_then_how_to_use_it() {
    let env = Env::new();
    let out = env
        .cmd()
        .arg("create")
        .arg(fixture("bigbuckbunny.mp4"))
        .args(["--name", "bunny"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(castbook::library::name::is_id(first), "{first}");
    // A local-only ID is not offered as a provider's character ID: the way to use it is
    // `castbook use ID --for MODEL`.
    assert!(
        text.contains(&format!("use it: castbook use {first} --for MODEL")),
        "{text}"
    );
    assert!(text.contains("veo-3.1"), "the models are listed: {text}");
    assert!(!text.contains("\"characters\""), "{text}");
    // stderr is not a terminal here: no progress bar, just the summary line.
    let err = stderr(&out);
    assert!(!err.contains('\r') && !err.contains("prepare ["), "{err:?}");
}

#[test]
fn progress_is_drawn_when_stderr_is_a_terminal() {
    let env = Env::new();
    let clip = testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false);
    let socket = format!("castbook-progress-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .unwrap()
    };
    let cmd = format!(
        "CASTBOOK_CONFIG=/nonexistent.toml {} --library {} create {} --name bar; sleep 30",
        env!("CARGO_BIN_EXE_castbook"),
        env.lib().display(),
        clip.display()
    );
    assert!(
        tmux(&["new-session", "-d", "-x", "100", "-y", "10", &cmd])
            .status
            .success()
    );
    let t0 = std::time::Instant::now();
    let mut seen = String::new();
    while t0.elapsed() < std::time::Duration::from_secs(60) {
        seen = stdout(&tmux(&["capture-pane", "-p"]));
        if seen.contains("prepare [") || seen.contains("char_") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = tmux(&["kill-server"]);
    assert!(seen.contains("prepare ["), "no progress bar drawn: {seen}");
}

#[test]
fn p720_with_audio_is_copied() {
    let env = Env::new();
    let clip = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let rec = env.create(&clip, "seven", &[]);
    assert_eq!(rec["path_taken"], "copy");
    check_prepared(&env.lib(), &rec, 1280, 720);
    assert_eq!(rec["clip"]["has_audio"], true);
}

#[test]
fn p1080_is_scaled_to_720_and_trimmed_to_4s() {
    let env = Env::new();
    let clip = testsrc("1080p-6s.mp4", "1920x1080", 30, 6.0, true);
    let rec = env.create(&clip, "ten eighty", &[]);
    assert_eq!(rec["path_taken"], "encode");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    let v = video_stream(&p);
    let dur: f64 = v["duration"].as_str().unwrap().parse().unwrap();
    assert!((3.9..=4.04).contains(&dur), "{dur}");
    assert_eq!(rec["clip"]["has_audio"], true);
    let audio = p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap();
    assert_eq!(audio["codec_name"], "aac");
}

#[test]
fn uhd_4k_is_scaled_down() {
    let env = Env::new();
    let clip = testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false);
    let rec = env.create(&clip, "uhd", &[]);
    assert_eq!(rec["path_taken"], "encode");
    check_prepared(&env.lib(), &rec, 1280, 720);
    assert_eq!(rec["clip"]["has_audio"], false);
}

#[test]
fn vertical_keeps_its_orientation() {
    let env = Env::new();
    let clip = testsrc("vertical.mp4", "1080x1920", 30, 2.0, false);
    let rec = env.create(&clip, "tall", &[]);
    check_prepared(&env.lib(), &rec, 720, 1280);
}

#[test]
fn vertical_720_is_copied() {
    let env = Env::new();
    let clip = testsrc("vertical-720.mp4", "720x1280", 25, 2.0, false);
    let rec = env.create(&clip, "tall copy", &[]);
    assert_eq!(rec["path_taken"], "copy");
    check_prepared(&env.lib(), &rec, 720, 1280);
}

#[test]
fn four_by_three() {
    let env = Env::new();
    let clip = testsrc("4x3.mp4", "1440x1080", 25, 2.0, false);
    let rec = env.create(&clip, "square-ish", &[]);
    check_prepared(&env.lib(), &rec, 960, 720);
}

#[test]
fn short_clip_of_1_5_s() {
    let env = Env::new();
    let clip = testsrc("1.5s.mp4", "1280x720", 25, 1.5, false);
    let rec = env.create(&clip, "short", &[]);
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    let dur: f64 = video_stream(&p)["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.4..=1.56).contains(&dur), "{dur}");
}

#[test]
fn non_zero_start_uses_the_later_window() {
    let env = Env::new();
    let clip = testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false);
    let a = env.create(&clip, "from zero", &[]);
    let b = env.create(&clip, "from two", &["--start", "2"]);
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["start_s"], 2.0);
    let p = check_prepared(&env.lib(), &b, 1280, 720);
    let dur: f64 = video_stream(&p)["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3.9..=4.04).contains(&dur), "{dur}");
    // testsrc2 draws a moving pattern: the first frames of the two windows differ, and the
    // later window's first frame is the source's frame at 2 s.
    let dir_a = env.lib().join(a["id"].as_str().unwrap()).join("clip.mp4");
    let dir_b = env.lib().join(b["id"].as_str().unwrap()).join("clip.mp4");
    let fa = gray_frame(&dir_a, 0.0, 64, 36);
    let fb = gray_frame(&dir_b, 0.0, 64, 36);
    let src = gray_frame(&clip, 2.0, 64, 36);
    let diff = |x: &[u8], y: &[u8]| {
        x.iter()
            .zip(y)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .sum::<i32>()
    };
    assert!(
        diff(&fb, &src) < diff(&fa, &src),
        "the window does not start at 2 s"
    );
}

#[test]
fn start_not_on_a_keyframe_is_encoded() {
    let env = Env::new();
    let clip = testsrc("720p-6s.mp4", "1280x720", 25, 6.0, false);
    // Keyframes every 25 frames (1 s): 1.5 s is between two.
    let rec = env.create(&clip, "mid gop", &["--start", "1.5"]);
    assert_eq!(rec["path_taken"], "encode");
    check_prepared(&env.lib(), &rec, 1280, 720);
}

#[test]
fn rotated_phone_clip_comes_out_upright() {
    let env = Env::new();
    // A landscape frame with a white marker in the top-left corner, tagged as rotated.
    let plain = x264_clip(
        "marker.mp4",
        "color=c=black:size=1280x720:rate=25:duration=2",
        &["-vf", "drawbox=x=0:y=0:w=200:h=200:color=white:t=fill"],
    );
    let rotated = make_clip(
        "marker-rot90.mp4",
        &[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v",
            "rotate=90",
        ],
    );
    let rec = env.create(&rotated, "phone", &[]);
    assert_eq!(rec["path_taken"], "encode");
    let p = check_prepared(&env.lib(), &rec, 720, 1280);
    // The output carries no rotation: its pixels are upright.
    assert!(video_stream(&p).get("side_data_list").is_none());
    assert!(
        rec["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "rotation")
    );
    // The marker sits where ffmpeg's own autorotation of the source puts it.
    let clip = env.lib().join(rec["id"].as_str().unwrap()).join("clip.mp4");
    let out = gray_frame(&clip, 0.5, 36, 64);
    let reference = gray_frame(&rotated, 0.5, 36, 64);
    let bright = |f: &[u8]| -> (usize, usize) {
        let (mut sx, mut sy, mut n) = (0, 0, 0);
        for (i, v) in f.iter().enumerate() {
            if *v > 128 {
                sx += i % 36;
                sy += i / 36;
                n += 1;
            }
        }
        assert!(n > 0, "no marker found");
        (sx / n, sy / n)
    };
    let (ox, oy) = bright(&out);
    let (rx, ry) = bright(&reference);
    assert!(
        ox.abs_diff(rx) <= 2 && oy.abs_diff(ry) <= 2,
        "marker at {ox},{oy}, expected {rx},{ry}"
    );
    // And not where it was before rotation (top-left).
    assert!(ox > 18 || oy > 32, "marker still top-left");
}

#[test]
fn variable_frame_rate_comes_out_constant() {
    let env = Env::new();
    // 30 frames at 30 fps, then frames at 15 fps.
    let vfr = x264_clip(
        "vfr.mp4",
        "testsrc2=size=1280x720:rate=30:duration=4",
        &[
            "-vf",
            "setpts='if(lt(N,30),N,30+(N-30)*2)/30/TB'",
            "-fps_mode",
            "vfr",
        ],
    );
    let rec = env.create(&vfr, "vfr", &[]);
    assert_eq!(rec["path_taken"], "encode");
    assert!(
        rec["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "frame_rate"),
        "{rec}"
    );
    check_prepared(&env.lib(), &rec, 1280, 720);
    let clip = env.lib().join(rec["id"].as_str().unwrap()).join("clip.mp4");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&clip)
        .output()
        .unwrap();
    let durs: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(durs.len() > 10);
    assert!(
        durs.iter().all(|d| d == &durs[0]),
        "packet durations vary: {durs:?}"
    );
}

#[test]
fn ten_bit_becomes_8_bit() {
    let env = Env::new();
    let clip = x264_clip(
        "10bit.mkv",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &["-pix_fmt", "yuv420p10le"],
    );
    let rec = env.create(&clip, "deep", &[]);
    assert_eq!(rec["path_taken"], "encode");
    let warnings = rec["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w["rule"] == "bit_depth"), "{rec}");
    assert!(warnings.iter().any(|w| w["rule"] == "container"), "{rec}");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    assert_ne!(video_stream(&p)["profile"], "High 10");
}

#[test]
fn b_frames_are_not_copied_across_the_window_end() {
    let env = Env::new();
    let clip = x264_clip(
        "bframes-6s.mp4",
        "testsrc2=size=1280x720:rate=30:duration=6",
        &["-preset", "veryfast", "-bf", "3"],
    );
    let rec = env.create(&clip, "bees", &[]);
    assert_eq!(rec["path_taken"], "encode");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    let frames: u64 = video_stream(&p)["nb_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((119..=121).contains(&frames), "{frames} frames");
}

#[test]
fn full_range_yuvj420p_becomes_tv_range() {
    let env = Env::new();
    let clip = x264_clip(
        "yuvj.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &["-pix_fmt", "yuvj420p"],
    );
    let rec = env.create(&clip, "jay", &[]);
    assert_eq!(rec["path_taken"], "encode");
    check_prepared(&env.lib(), &rec, 1280, 720);
}

#[test]
fn mov_is_converted_with_a_warning() {
    let env = Env::new();
    let clip = x264_clip("clip.mov", "testsrc2=size=1280x720:rate=25:duration=2", &[]);
    let out = env
        .cmd()
        .arg("create")
        .arg(&clip)
        .args(["--name", "mov"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MOV will be converted to MP4"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn odd_paths_just_work() {
    let env = Env::new();
    let src = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    for name in [
        "with spaces.mp4",
        "ünïcødé 角色.mp4",
        "-half.mp4",
        "take:1.mp4",
    ] {
        let p = env.path(name);
        std::fs::copy(&src, &p).unwrap();
        // A relative path too: `-half.mp4` must not be read as an option.
        let out = env
            .cmd()
            .args(["create", "--name", &format!("n {name}"), "--json", "--"])
            .arg(name)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(rec["source"]["path"].as_str().unwrap().ends_with(name));
    }
    assert_eq!(env.characters().len(), 4);
}

#[test]
fn start_auto_skips_a_scene_cut() {
    let env = Env::new();
    // 1 s of one shot, then 7 s of another: the first 4 s would hold a cut.
    let clip = make_clip(
        "cut-at-1s.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=1280x720:rate=25",
            "-filter_complex",
            "[1]trim=duration=7,setpts=PTS-STARTPTS[m];[0][m]concat=n=2:v=1:a=0,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let rec = env.create(&clip, "auto", &["--start", "auto"]);
    let start = rec["start_s"].as_f64().unwrap();
    assert!((1.0..=4.0).contains(&start), "start {start}");
    assert!(
        rec["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "start"),
        "{rec}"
    );
    check_prepared(&env.lib(), &rec, 1280, 720);
    // The same command again finds the same character.
    let again = env.create(&clip, "auto", &["--start", "auto"]);
    assert_eq!(again["id"], rec["id"]);
    // A start of 0 keeps the cut, and says so.
    let zero = env.create(&clip, "zero", &[]);
    assert!(
        zero["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "scene_cut"),
        "{zero}"
    );
}

#[test]
fn hdr_pq_is_tone_mapped_to_sdr_bt709() {
    let env = Env::new();
    let clip = x264_clip(
        "hdr-pq.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &[
            "-pix_fmt",
            "yuv420p10le",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
        ],
    );
    let src = ffprobe(&clip);
    assert_eq!(
        video_stream(&src)["color_transfer"],
        "smpte2084",
        "the fixture is tagged PQ"
    );
    let rec = env.create(&clip, "hdr", &[]);
    assert_eq!(rec["path_taken"], "encode");
    assert!(
        rec["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "hdr"),
        "{rec}"
    );
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    let v = video_stream(&p);
    assert_eq!(v["color_transfer"], "bt709");
    assert_eq!(v["color_primaries"], "bt709");
    assert_eq!(v["color_space"], "bt709");
}

#[test]
fn b_frames_ending_inside_the_window_are_copied_whole() {
    let env = Env::new();
    let clip = x264_clip(
        "bframes-3s.mp4",
        "testsrc2=size=1280x720:rate=25:duration=3",
        &["-preset", "veryfast", "-bf", "3"],
    );
    let rec = env.create(&clip, "short bees", &[]);
    assert_eq!(rec["path_taken"], "copy");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    assert_eq!(video_stream(&p)["nb_frames"], "75");
}

fn warning_rules(rec: &serde_json::Value) -> Vec<String> {
    rec["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quality_hints_are_warnings_not_rejections() {
    let env = Env::new();
    let dark = x264_clip(
        "dark.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &["-vf", "lutrgb=r=val*0.12:g=val*0.12:b=val*0.12"],
    );
    let rec = env.create(&dark, "dark", &[]);
    assert!(warning_rules(&rec).contains(&"dark".to_string()), "{rec}");

    let blurry = x264_clip(
        "blurry.mp4",
        "testsrc2=size=1280x720:rate=25:duration=2",
        &["-vf", "gblur=sigma=40"],
    );
    let rec = env.create(&blurry, "blurry", &[]);
    assert!(warning_rules(&rec).contains(&"blurry".to_string()), "{rec}");

    // A clean, sharp, steady clip gets none of these.
    let clean = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let rec = env.create(&clean, "clean", &[]);
    let rules = warning_rules(&rec);
    for bad in ["dark", "overexposed", "blurry", "scene_cut", "motion"] {
        assert!(
            !rules.contains(&bad.to_string()),
            "{bad} on a clean clip: {rec}"
        );
    }
}

#[test]
fn high_frame_rate_is_capped_at_60() {
    let env = Env::new();
    let clip = testsrc("120fps.mp4", "1280x720", 120, 2.0, false);
    let rec = env.create(&clip, "fast", &[]);
    assert_eq!(rec["path_taken"], "encode");
    let p = check_prepared(&env.lib(), &rec, 1280, 720);
    assert_eq!(video_stream(&p)["avg_frame_rate"], "60/1");
    assert_eq!(rec["clip"]["fps"], 60.0);
}

#[test]
fn odd_dimensions_come_out_even() {
    let env = Env::new();
    let clip = x264_clip(
        "odd.mp4",
        "testsrc2=size=1281x721:rate=25:duration=2",
        &["-pix_fmt", "yuv444p"],
    );
    let rec = env.create(&clip, "odd", &[]);
    assert_eq!(rec["path_taken"], "encode");
    check_prepared(&env.lib(), &rec, 1280, 720);
}
