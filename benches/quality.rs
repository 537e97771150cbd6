//! The evaluation of castbook's reference-quality checks on clips with known truth, built
//! from lavfi sources and the two fixtures (tests/fixtures/bigbuckbunny.mp4, bikes.mp4):
//! precision, recall and AUC per feature.
//!
//!     cargo bench --bench quality            # all features
//!     cargo bench --bench quality -- cuts    # only the features whose name holds "cuts"
//!     CASTBOOK_EVAL_VERBOSE=1 cargo bench --bench quality   # every clip's measurements
//!
//! Clips are generated once into `target/eval-clips/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use castbook::pipeline::analyze::{self, Analysis};
use castbook::pipeline::cuts::CutKind;
use castbook::pipeline::{hints, probe, signature};
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn clips_dir() -> PathBuf {
    let d = root().join("target/eval-clips");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn verbose() -> bool {
    std::env::var_os("CASTBOOK_EVAL_VERBOSE").is_some()
}

fn fixture(name: &str) -> String {
    let p = root().join("tests/fixtures").join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p.to_string_lossy().into_owned()
}

/// The sources: (name, ffmpeg input args, a filter that makes 1280x720 30 fps from input 0).
fn sources() -> Vec<(&'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("bunny", s(&["-i", &fixture("bigbuckbunny.mp4"), "-t", "5"])),
        (
            "bikes",
            s(&["-ss", "0.5", "-t", "5", "-i", &fixture("bikes.mp4")]),
        ),
        (
            "bikes2",
            s(&["-ss", "4.5", "-t", "5", "-i", &fixture("bikes.mp4")]),
        ),
        (
            "testsrc2",
            s(&[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=30:duration=5",
            ]),
        ),
        (
            "mandel",
            s(&[
                "-f",
                "lavfi",
                "-i",
                "mandelbrot=size=1280x720:rate=30:end_scale=0.5",
            ]),
        ),
    ]
}

const NORM: &str = "scale=1280:720,setsar=1,fps=30,format=yuv420p";
/// bikes.mp4 is 640x272: cropped to 16:9 at its own size rather than blown up (an upscale
/// is soft, and would count as a blurred original).
const NORM_SMALL: &str = "crop=480:270,setsar=1,fps=30,format=yuv420p";

fn norm(name: &str) -> &'static str {
    if name.starts_with("bikes") {
        NORM_SMALL
    } else {
        NORM
    }
}

/// Make `name` from `inputs` with `filter` (a -filter_complex ending in [v]) once.
fn make(name: &str, inputs: &[String], filter: &str) -> PathBuf {
    let out = clips_dir().join(format!("{name}.mp4"));
    if out.exists() {
        return out;
    }
    let tmp = clips_dir().join(format!(".{name}.mp4"));
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(inputs)
        .args(["-filter_complex", filter, "-map", "[v]", "-t", "12"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(ok.success(), "making {name}: {filter}");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// A source clip with a filter chain after the normalising one.
fn variant(src: &(&str, Vec<String>), tag: &str, chain: &str) -> PathBuf {
    let filter = if chain.is_empty() {
        format!(
            "[0:v]trim=duration=5,setpts=PTS-STARTPTS,{}[v]",
            norm(src.0)
        )
    } else {
        format!(
            "[0:v]trim=duration=5,setpts=PTS-STARTPTS,{},{chain},setsar=1[v]",
            norm(src.0)
        )
    };
    make(&format!("{}-{tag}", src.0), &src.1, &filter)
}

fn analysis(path: &Path) -> Analysis {
    let cancel = CancellationToken::new();
    let info = probe::probe(path, 0.0, &cancel).unwrap();
    analyze::analyze(&info, &cancel).unwrap()
}

fn rules(a: &Analysis, start: f64) -> Vec<String> {
    a.hints_for_window(start)
        .into_iter()
        .map(|h| h.rule)
        .collect()
}

/// Area under the ROC curve: the chance a positive scores above a negative (ties half).
fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut s = 0.0;
    for p in pos {
        for n in neg {
            s += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    s / (pos.len() * neg.len()) as f64
}

#[derive(Default)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Score {
    fn add(&mut self, truth: bool, said: bool) {
        match (truth, said) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn line(&self, name: &str, auc_value: Option<f64>) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let a = auc_value
            .map(|a| format!("  AUC {a:.2}"))
            .unwrap_or_default();
        println!(
            "{name:<28} precision {p:.2}  recall {r:.2}{a}   (tp {} fp {} fn {} tn {})",
            self.tp, self.fp, self.fn_, self.tn
        );
    }
}

/// The hard cuts of tests/fixtures/bikes.mp4 (seconds): found by ffmpeg's scene score
/// (`select='gt(scene,0.25)'`) and each checked by eye. Clips built from it have them too.
const BIKES_CUTS: [f64; 5] = [1.2, 3.04, 5.48, 7.48, 9.68];

/// The real cuts of a source (as `sources` cuts it from its file), in its own seconds.
fn real_cuts(tag: &str) -> Vec<f64> {
    let offset = match tag {
        "bikes" => 0.5,
        "bikes2" => 4.5,
        _ => return Vec::new(),
    };
    BIKES_CUTS
        .iter()
        .map(|t| t - offset)
        .filter(|t| *t > 0.0)
        .collect()
}

/// The real cuts of `tag` that show in a clip: those before `until` (source seconds), moved
/// by `shift`, leaving out any in the clip's last 0.1 s (no frame after them shows them).
fn shown(tag: &str, until: f64, shift: f64, clip_len: f64) -> Vec<Truth> {
    real_cuts(tag)
        .into_iter()
        .filter(|t| *t < until)
        .map(|t| t + shift)
        .filter(|t| *t < clip_len - 0.1)
        .map(|t| Truth { from: t, to: t })
        .collect()
}

/// A true transition: a hard cut at a time, or a span.
#[derive(Debug, Clone, Copy)]
struct Truth {
    from: f64,
    to: f64,
}

fn eval_cuts() {
    let srcs = sources();
    let seg = |i: usize, t0: f64, len: f64| {
        format!("[{i}:v]trim=start={t0}:duration={len},setpts=PTS-STARTPTS,{NORM}[s{i}]")
    };
    // (name, sources used, filter tail, truths)
    let mut clips: Vec<(String, PathBuf, Vec<Truth>)> = Vec::new();
    let pairs = [(0usize, 1usize), (1, 3), (3, 4), (0, 2), (2, 4), (4, 0)];
    for (k, (a, b)) in pairs.iter().enumerate() {
        let inputs: Vec<String> = srcs[*a].1.iter().chain(&srcs[*b].1).cloned().collect();
        let heads = format!("{};{}", seg(0, 0.0, 4.5), seg(1, 0.0, 4.5));
        let (ta, tb) = (srcs[*a].0, srcs[*b].0);
        // Truth: the made transition at 3.0 s, and the real cuts of both sources that show
        // (the first before 3.0 s, the second, 4.5 s long, from 3.0 s on, once it is no
        // longer blended in).
        let with_real = |made: Truth, blend: f64| {
            // A real cut a frame or two from the made one is the same change of shot.
            let mut t: Vec<Truth> = shown(ta, 3.0, 0.0, 7.5)
                .into_iter()
                .filter(|c| c.from < made.from - 0.15)
                .collect();
            t.push(made);
            t.extend(
                shown(tb, 4.5, 3.0, 7.5)
                    .into_iter()
                    .filter(|c| c.from >= 3.0 + blend),
            );
            t
        };
        // Hard cut at 3.0 s.
        let name = format!("cut-hard-{k}");
        let f = format!(
            "{};[s0]trim=duration=3[h0];[h0][s1]concat=n=2:v=1[v]",
            heads
        );
        clips.push((
            name.clone(),
            make(&name, &inputs, &f),
            with_real(Truth { from: 3.0, to: 3.0 }, 0.0),
        ));
        // Dissolve over 1 s from 3.0 s.
        let name = format!("cut-dissolve-{k}");
        let f = format!("{heads};[s0][s1]xfade=transition=fade:duration=1:offset=3[v]");
        clips.push((
            name.clone(),
            make(&name, &inputs, &f),
            with_real(Truth { from: 3.0, to: 4.0 }, 1.0),
        ));
        // Fade through black over 1.2 s from 3.0 s.
        let name = format!("cut-fade-{k}");
        let f = format!("{heads};[s0][s1]xfade=transition=fadeblack:duration=1.2:offset=3[v]");
        clips.push((
            name.clone(),
            make(&name, &inputs, &f),
            with_real(Truth { from: 3.0, to: 4.2 }, 1.2),
        ));
    }
    // Fast motion: the bikes played 3x (with their real cuts, at a third of their time),
    // a fast pan over the bunny (no cut).
    let fast_bikes = BIKES_CUTS
        .iter()
        .map(|t| t / 3.0)
        .filter(|t| *t < 3.2)
        .map(|t| Truth { from: t, to: t })
        .collect();
    let fast = [
        (
            "cut-fastbikes",
            vec!["-i".to_string(), fixture("bikes.mp4")],
            format!("[0:v]setpts=PTS/3,{NORM},trim=duration=3.3[v]"),
            fast_bikes,
        ),
        (
            "cut-none-fastpan",
            vec!["-i".to_string(), fixture("bigbuckbunny.mp4")],
            format!(
                "[0:v]scale=2560:1440,crop=1280:720:x='min(1280,t*400)':y='360+200*sin(t*3)',{NORM}[v]"
            ),
            vec![],
        ),
    ];
    for (name, inputs, f, truth) in fast {
        clips.push((name.to_string(), make(name, &inputs, &f), truth));
    }
    for src in &srcs {
        let p = variant(src, "plain", "");
        clips.push((
            format!("cut-plain-{}", src.0),
            p,
            shown(src.0, 5.0, 0.0, 5.0),
        ));
    }

    let mut windows = Score::default();
    let mut events = Score::default();
    let mut kinds = Score::default();
    for (name, path, truth) in &clips {
        let a = analysis(path);
        if verbose() {
            println!("{name}: cuts {:?}", a.cuts);
            let top: Vec<String> = a
                .frames
                .iter()
                .enumerate()
                .filter(|(_, f)| f.hist_change > 0.15)
                .map(|(i, f)| format!("{i}:{:.1}/{:.2}", f.change, f.hist_change))
                .collect();
            println!("  large colour changes {top:?}");
        }
        // Per 4 s window, every 0.5 s.
        let mut s = 0.0;
        while s + probe::WINDOW_S <= a.duration_s + 0.05 {
            let (from, to) = (s, s + probe::WINDOW_S);
            let t = truth.iter().any(|c| c.to > from && c.from < to);
            let said = !a.cuts_in(from, to).is_empty();
            windows.add(t, said);
            if verbose() && t != said {
                println!("  window {from:.1}: truth {t} said {said}");
            }
            s += 0.5;
        }
        // Per event: a hard cut within 2 frames (30 fps) of the interval between the two
        // analysed frames it falls in (the analysis sees 10 frames a second, so a cut is
        // known to 0.1 s), a transition anywhere in its span.
        let tol = 1.0 / a.fps + 2.0 / 30.0;
        let mut used = vec![false; a.cuts.len()];
        for c in truth {
            let hit = a.cuts.iter().enumerate().find(|(i, d)| {
                let (x, y) = d.extent();
                !used[*i] && y >= c.from - tol && x <= c.to + tol
            });
            if let Some((i, d)) = hit {
                used[i] = true;
                events.add(true, true);
                let want = if c.from == c.to {
                    CutKind::Hard
                } else if name.contains("fade") {
                    CutKind::Fade
                } else {
                    CutKind::Dissolve
                };
                kinds.add(true, d.kind == want);
            } else {
                events.add(true, false);
                if verbose() {
                    let k = ((c.from - a.start_s) * a.fps).round() as usize;
                    let near: Vec<String> = a
                        .frames
                        .iter()
                        .enumerate()
                        .skip(k.saturating_sub(4))
                        .take(9)
                        .map(|(i, f)| {
                            format!("{i}:{:.1}/{:.2}/{:.0}", f.change, f.hist_change, f.luma)
                        })
                        .collect();
                    println!("  missed {:.2}-{:.2}: change/luma {near:?}", c.from, c.to);
                }
            }
        }
        for u in used {
            if !u {
                events.add(false, true);
            }
        }
    }
    windows.line("cuts per 4 s window", None);
    events.line("cuts per event", None);
    kinds.line("cut kind right", None);
}

/// One quality rule over originals and degraded copies: the hint's precision and recall, and
/// the AUC of its score.
fn eval_rule(name: &str, rule: &str, clips: &[(PathBuf, bool)], score: &dyn Fn(&Analysis) -> f64) {
    let mut sc = Score::default();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (path, truth) in clips {
        let a = analysis(path);
        let r = rules(&a, 0.0);
        let said = r.iter().any(|x| x == rule);
        let v = score(&a);
        if verbose() || said != *truth {
            println!(
                "  {}: truth {truth} said {said} score {v:.3} hints {r:?}",
                path.file_name().unwrap().to_string_lossy()
            );
        }
        sc.add(*truth, said);
        if *truth {
            pos.push(v);
        } else {
            neg.push(v);
        }
    }
    sc.line(name, Some(auc(&pos, &neg)));
}

fn window(a: &Analysis) -> &[analyze::FrameStats] {
    let n = (probe::WINDOW_S * a.fps) as usize;
    &a.frames[..n.min(a.frames.len())]
}

fn eval_blur() {
    let mut clips = Vec::new();
    for s in &sources() {
        clips.push((variant(s, "plain", ""), false));
        for sigma in [3, 6] {
            clips.push((
                variant(s, &format!("blur{sigma}"), &format!("gblur=sigma={sigma}")),
                true,
            ));
        }
    }
    eval_rule("blurry (sigma 3 and 6)", "blurry", &clips, &|a| {
        let f = window(a);
        if verbose() {
            let med = |g: &dyn Fn(&analyze::FrameStats) -> f32| {
                let mut v: Vec<f32> = f.iter().filter(|x| x.measured).map(g).collect();
                v.sort_by(f32::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(0.0)
            };
            println!(
                "    fine {:.3} coarse {:.3}",
                med(&|x| x.fine),
                med(&|x| x.coarse)
            );
        }
        -hints::sharpness(f).unwrap_or(0.0) as f64
    });
}

fn eval_exposure() {
    let mut over = Vec::new();
    let mut dark = Vec::new();
    for s in &sources() {
        let plain = variant(s, "plain", "");
        over.push((plain.clone(), false));
        dark.push((plain, false));
        over.push((variant(s, "bright35", "eq=brightness=0.35"), true));
        over.push((variant(s, "curves", "curves=all='0/0 0.5/0.95 1/1'"), true));
        dark.push((variant(s, "dark35", "eq=brightness=-0.35"), true));
        let boxed = variant(s, "letterbox", "scale=1280:480,pad=1280:720:0:120");
        over.push((boxed.clone(), false));
        dark.push((boxed, false));
        let pillar = variant(s, "pillarbox", "scale=720:720,pad=1280:720:280:0");
        dark.push((pillar, false));
    }
    eval_rule("overexposed (blown out)", "overexposed", &over, &|a| {
        let f = window(a);
        f.iter().map(|x| x.clipped as f64).sum::<f64>() / f.len().max(1) as f64
    });
    eval_rule("dark (bars left out)", "dark", &dark, &|a| {
        let f = window(a);
        -(f.iter().map(|x| x.luma as f64).sum::<f64>() / f.len().max(1) as f64)
    });
}

fn eval_motion() {
    let mut clips = Vec::new();
    for s in &sources() {
        clips.push((variant(s, "plain", ""), false));
        clips.push((
            variant(s, "pan", "scale=1600:900,crop=1280:720:x='t*60':y=90"),
            false,
        ));
        clips.push((
            variant(
                s,
                "shake-mild",
                "scale=1344:756,crop=1280:720:x='32+12*sin(n*1.9)+8*sin(n*3.1)':y='18+8*sin(n*2.3)+5*sin(n*2.9)'",
            ),
            true,
        ));
        clips.push((
            variant(
                s,
                "shake-strong",
                "scale=1440:810,crop=1280:720:x='80+40*sin(n*1.9)+30*sin(n*3.1)':y='45+25*sin(n*2.3)+15*sin(n*2.9)'",
            ),
            true,
        ));
    }
    eval_rule("motion (shake, not a pan)", "motion", &clips, &|a| {
        hints::shake(window(a)) as f64
    });
}

fn eval_centre() {
    let mut clips = Vec::new();
    for s in &sources() {
        // The picture as a subject on a plain gray background: centred, then off centre.
        let inset = "scale=480:270,pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=gray";
        clips.push((variant(s, "inset-centre", inset), false));
        clips.push((
            variant(
                s,
                "inset-left",
                "scale=480:270,pad=1280:720:40:225:color=gray",
            ),
            true,
        ));
        clips.push((
            variant(
                s,
                "inset-corner",
                "scale=480:270,pad=1280:720:760:420:color=gray",
            ),
            true,
        ));
        clips.push((
            variant(
                s,
                "inset-centre-dark",
                &format!("{inset},eq=brightness=-0.25"),
            ),
            false,
        ));
        clips.push((
            variant(
                s,
                "inset-centre-shake",
                &format!(
                    "{inset},scale=1344:756,crop=1280:720:x='32+12*sin(n*1.9)':y='18+8*sin(n*2.3)'"
                ),
            ),
            false,
        ));
        clips.push((
            variant(s, "letterbox", "scale=1280:480,pad=1280:720:0:120"),
            false,
        ));
    }
    eval_rule("off_centre", "off_centre", &clips, &|a| {
        hints::off_centre(window(a)) as f64
    });
}

fn eval_look_alikes() {
    let cancel = CancellationToken::new();
    let sig = |p: &Path, start: f64| signature::of_clip(p, start, &cancel).unwrap();
    let srcs = sources();
    let mut plain = Vec::new();
    let mut same: Vec<(String, signature::Signature, signature::Signature)> = Vec::new();
    for s in &srcs {
        let p = variant(s, "plain", "");
        let a = sig(&p, 0.0);
        for (tag, chain) in [
            ("bright35", "eq=brightness=0.35"),
            ("dark35", "eq=brightness=-0.35"),
        ] {
            same.push((
                format!("{} {tag}", s.0),
                a.clone(),
                sig(&variant(s, tag, chain), 0.0),
            ));
        }
        same.push((format!("{} 1 s later", s.0), a.clone(), sig(&p, 1.0)));
        plain.push((s.0, a));
    }
    let mut unrelated = Vec::new();
    for i in 0..plain.len() {
        for j in i + 1..plain.len() {
            // bikes and bikes2 are the same scene: not unrelated.
            if plain[i].0.starts_with("bikes") && plain[j].0.starts_with("bikes") {
                continue;
            }
            unrelated.push((
                format!("{} / {}", plain[i].0, plain[j].0),
                plain[i].1.clone(),
                plain[j].1.clone(),
            ));
        }
    }
    let score = |v: &[(String, signature::Signature, signature::Signature)],
                 f: &dyn Fn(&signature::Signature, &signature::Signature) -> f64| {
        v.iter().map(|(_, a, b)| f(a, b)).collect::<Vec<f64>>()
    };
    let v2 = |a: &signature::Signature, b: &signature::Signature| signature::similarity(a, b);
    let hist =
        |a: &signature::Signature, b: &signature::Signature| signature::histogram_similarity(a, b);
    let (sp, un) = (score(&same, &v2), score(&unrelated, &v2));
    let (hp, hn) = (score(&same, &hist), score(&unrelated, &hist));
    if verbose() {
        for ((n, ..), v) in same.iter().zip(&sp) {
            println!("  same  {n}: {v:.3}");
        }
        for ((n, ..), v) in unrelated.iter().zip(&un) {
            println!("  other {n}: {v:.3}");
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let mut sc = Score::default();
    for v in &sp {
        sc.add(true, *v >= signature::LOOK_ALIKE);
    }
    for v in &un {
        sc.add(false, *v >= signature::LOOK_ALIKE);
    }
    sc.line(
        &format!("look-alike at {:.2}", signature::LOOK_ALIKE),
        Some(auc(&sp, &un)),
    );
    println!(
        "  same clip (+-0.35 brightness, 1 s later): {:.2}-{:.2}; unrelated: {:.2}-{:.2}; colour histogram AUC {:.2}",
        min(&sp),
        max(&sp),
        min(&un),
        max(&un),
        auc(&hp, &hn)
    );
    let brightness: Vec<f64> = same
        .iter()
        .zip(&sp)
        .filter(|((n, ..), _)| n.contains("35"))
        .map(|(_, v)| *v)
        .collect();
    println!(
        "  +-0.35 brightness lowest {:.2} vs unrelated highest {:.2}: {}",
        min(&brightness),
        max(&un),
        if min(&brightness) > max(&un) {
            "above every unrelated pair"
        } else {
            "NOT above every unrelated pair"
        }
    );
    eval_across_shots(&plain, &sig);
}

/// Shots of bigbuckbunny's character made from its one wide shot, as coverage is filmed:
/// (name, start in the source, crop as fractions of the frame: width, height, x, y). The
/// medium and close shots frame the rabbit; the last keeps the wide framing but pans away
/// from it, so the rabbit is at the edge.
const BUNNY_SHOTS: [(&str, f64, [f64; 4]); 4] = [
    ("medium", 0.8, [0.7, 0.7, 0.0, 0.3]),
    ("close-up", 1.3, [0.5, 0.5, 0.05, 0.45]),
    ("close-up from the left", 1.3, [0.45, 0.45, 0.0, 0.5]),
    ("panned", 1.0, [0.8, 0.8, 0.2, 0.1]),
];

/// The same character in other shots: bigbuckbunny's wide shot and the shots made from it
/// (`BUNNY_SHOTS`), every pair of them, against every pair of one of them with an unrelated
/// source, scored by the similarity and by a plain colour histogram. All of them come from
/// one animated scene: how a character fares across scenes is not measured here.
fn eval_across_shots(
    plain: &[(&str, signature::Signature)],
    sig: &dyn Fn(&Path, f64) -> signature::Signature,
) {
    type Sig = signature::Signature;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let of = |name: &str| {
        plain
            .iter()
            .find(|p| p.0 == name)
            .map(|p| p.1.clone())
            .expect("a plain source")
    };
    let bunny = fixture("bigbuckbunny.mp4");
    let mut shots: Vec<(String, Sig)> = vec![("wide".to_string(), of("bunny"))];
    for (i, (name, start, [w, h, x, y])) in BUNNY_SHOTS.iter().enumerate() {
        let clip = make(
            &format!("bunny-shot{}", i + 1),
            &s(&["-ss", &format!("{start:.2}"), "-i", &bunny]),
            &format!(
                "[0:v]trim=duration=4,setpts=PTS-STARTPTS,crop=iw*{w}:ih*{h}:iw*{x}:ih*{y},{NORM}[v]"
            ),
        );
        shots.push((name.to_string(), sig(&clip, 0.0)));
    }
    let mut across: Vec<(String, Sig, Sig)> = Vec::new();
    for i in 0..shots.len() {
        for j in i + 1..shots.len() {
            across.push((
                format!("{} / {}", shots[i].0, shots[j].0),
                shots[i].1.clone(),
                shots[j].1.clone(),
            ));
        }
    }
    let mut unrelated: Vec<(String, Sig, Sig)> = Vec::new();
    for other in ["bikes", "bikes2", "testsrc2", "mandel"] {
        for shot in &shots {
            unrelated.push((format!("{} / {other}", shot.0), shot.1.clone(), of(other)));
        }
    }
    let score = |v: &[(String, Sig, Sig)], f: &dyn Fn(&Sig, &Sig) -> f64| {
        v.iter().map(|(_, a, b)| f(a, b)).collect::<Vec<f64>>()
    };
    let (sp, sn) = (
        score(&across, &signature::similarity),
        score(&unrelated, &signature::similarity),
    );
    let (hp, hn) = (
        score(&across, &signature::histogram_similarity),
        score(&unrelated, &signature::histogram_similarity),
    );
    if verbose() {
        for (((n, ..), v), h) in across.iter().zip(&sp).zip(&hp) {
            println!("  across {n}: {v:.3} (histogram {h:.3})");
        }
        for (((n, ..), v), h) in unrelated.iter().zip(&sn).zip(&hn) {
            println!("  other  {n}: {v:.3} (histogram {h:.3})");
        }
    }
    let (a, h) = (auc(&sp, &sn), auc(&hp, &hn));
    let warned = sp.iter().filter(|v| **v >= signature::LOOK_ALIKE).count();
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "  the same character across shots ({} pairs, {} unrelated): {:.2}-{:.2} vs {:.2}-{:.2}, AUC {a:.2}; colour histogram AUC {h:.2}: {}; warned at {:.2}: {warned} of {}",
        across.len(),
        unrelated.len(),
        min(&sp),
        max(&sp),
        min(&sn),
        max(&sn),
        if a > h { "above" } else { "NOT above" },
        signature::LOOK_ALIKE,
        across.len()
    );
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |n: &str| filter.as_deref().is_none_or(|f| n.contains(f));
    if want("cuts") {
        eval_cuts();
    }
    if want("blur") {
        eval_blur();
    }
    if want("exposure") {
        eval_exposure();
    }
    if want("motion") {
        eval_motion();
    }
    if want("centre") {
        eval_centre();
    }
    if want("look") {
        eval_look_alikes();
    }
}
