//! The five rules of SPEC section 1, in order: decodable, container, resolution, aspect,
//! duration. Each check names the rule, the measured value and what to do.

use serde::Serialize;

use crate::error::Error;
use crate::library::Warning;
use crate::pipeline::probe::{ClipInfo, Container};

pub const MIN_SHORT_SIDE: u32 = 720;
pub const MAX_ASPECT: f64 = 2.67;
pub const MIN_DURATION_S: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    Decodable,
    Container,
    Resolution,
    Aspect,
    Duration,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Decodable => "decodable",
            Rule::Container => "container",
            Rule::Resolution => "resolution",
            Rule::Aspect => "aspect",
            Rule::Duration => "duration",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub rule: Rule,
    pub ok: bool,
    pub message: String,
}

/// The verdict on a clip: every check, and the warnings for what will be converted.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub valid: bool,
    pub checks: Vec<Check>,
    pub warnings: Vec<Warning>,
}

impl Verdict {
    /// The first failed check as an input error (exit 3), if any.
    pub fn error(&self) -> Option<Error> {
        self.checks
            .iter()
            .find(|c| !c.ok)
            .map(|c| Error::input(c.rule.as_str(), c.message.clone()))
    }
}

/// The outcome of decoding the window, when it was done.
#[derive(Debug, Clone)]
pub enum Decode {
    /// Not decoded yet: it happens while preparing.
    Pending,
    Ok,
    Failed(String),
}

pub struct Options {
    pub strict: bool,
}

pub fn validate(info: &ClipInfo, opts: &Options, decode: &Decode) -> Verdict {
    let mut checks = Vec::with_capacity(5);
    let mut warnings = Vec::new();
    let name = crate::util::escape_display(
        &info
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );

    // decodable
    let decodable = match (&info.video, decode) {
        (None, _) if info.cover_art_only || info.audio.is_some() => Check {
            rule: Rule::Decodable,
            ok: false,
            message: format!(
                "{name} is audio only{}: there is no video to make a character from; pass a video clip",
                if info.cover_art_only {
                    " (its picture is cover art, not video)"
                } else {
                    ""
                }
            ),
        },
        (None, _) => Check {
            rule: Rule::Decodable,
            ok: false,
            message: format!("{name} has no video stream: pass a video clip"),
        },
        (Some(_), _) if info.truncated => Check {
            rule: Rule::Decodable,
            ok: false,
            message: format!(
                "{name} is truncated: fewer video frames can be read than its header promises; copy or export it again"
            ),
        },
        (Some(_), Decode::Failed(why)) => Check {
            rule: Rule::Decodable,
            ok: false,
            message: format!(
                "{name} does not decode cleanly over the window ({}): it is corrupt; export it again",
                crate::util::escape_display(why)
            ),
        },
        (Some(v), Decode::Ok) => Check {
            rule: Rule::Decodable,
            ok: true,
            message: format!("{} video decodes cleanly over the window", v.codec),
        },
        (Some(v), Decode::Pending) => Check {
            rule: Rule::Decodable,
            ok: true,
            message: format!(
                "{} video, complete file (the window is decoded while preparing)",
                v.codec
            ),
        },
    };
    checks.push(decodable);

    // container
    let container = match info.container {
        Container::Mp4 => Check {
            rule: Rule::Container,
            ok: true,
            message: "MP4".into(),
        },
        other if opts.strict => Check {
            rule: Rule::Container,
            ok: false,
            message: format!(
                "{} is not MP4 (--strict): convert it to MP4 or drop --strict to let castbook convert it",
                other.label()
            ),
        },
        other => {
            let m = format!("{} will be converted to MP4", other.label());
            warnings.push(Warning::new("container", m.clone()));
            Check {
                rule: Rule::Container,
                ok: true,
                message: m,
            }
        }
    };
    checks.push(container);

    let Some(v) = &info.video else {
        for rule in [Rule::Resolution, Rule::Aspect, Rule::Duration] {
            checks.push(Check {
                rule,
                ok: false,
                message: "no video stream to measure".into(),
            });
        }
        return finish(checks, warnings);
    };

    let dims = format!("{}x{}", v.width, v.height);
    let rotated = if v.rotation != 0 {
        format!(" (rotated {}°)", v.rotation)
    } else {
        String::new()
    };
    checks.push(if v.short_side() >= MIN_SHORT_SIDE {
        Check {
            rule: Rule::Resolution,
            ok: true,
            message: format!("{dims}{rotated}, short side {} px", v.short_side()),
        }
    } else {
        Check {
            rule: Rule::Resolution,
            ok: false,
            message: format!(
                "{dims}{rotated} is below the 720p minimum (short side {MIN_SHORT_SIDE} px): use a clip of at least 1280x720 (or 720x1280 vertical)"
            ),
        }
    });

    let aspect = v.aspect();
    checks.push(if aspect <= MAX_ASPECT + 1e-9 {
        Check {
            rule: Rule::Aspect,
            ok: true,
            message: format!("aspect {aspect:.2}"),
        }
    } else {
        Check {
            rule: Rule::Aspect,
            ok: false,
            message: format!(
                "{dims} is too wide: aspect {aspect:.2} is over the {MAX_ASPECT} limit; crop it to 2.67:1 or narrower (16:9 is 1.78)"
            ),
        }
    });

    let left = info.window.len_s;
    checks.push(if info.window.start_s > 0.0 && info.window.start_s >= info.duration_s {
        Check {
            rule: Rule::Duration,
            ok: false,
            message: format!(
                "the start {:.2} s is past the end of the {:.2} s clip: choose a start below {:.2} s",
                info.window.start_s,
                info.duration_s,
                (info.duration_s - MIN_DURATION_S).max(0.0)
            ),
        }
    } else if left + 1e-6 < MIN_DURATION_S {
        Check {
            rule: Rule::Duration,
            ok: false,
            message: if info.window.start_s > 0.0 {
                format!(
                    "only {left:.2} s of video after the start {:.2} s, under the 1.0 s minimum: choose an earlier start",
                    info.window.start_s
                )
            } else {
                format!("{left:.2} s of video is under the 1.0 s minimum: use a clip of at least 1 s")
            },
        }
    } else {
        let trimmed = if info.duration_s - info.window.start_s > left + 0.05 {
            format!(", window {:.2}-{:.2} s", info.window.start_s, info.window.start_s + left)
        } else {
            String::new()
        };
        Check {
            rule: Rule::Duration,
            ok: true,
            message: format!("{:.2} s{trimmed}", info.duration_s),
        }
    });

    if v.rotation != 0 {
        warnings.push(Warning::new(
            "rotation",
            format!(
                "rotated {}°: the prepared clip is turned upright",
                v.rotation
            ),
        ));
    }
    if info.window.variable_frame_rate {
        warnings.push(Warning::new(
            "frame_rate",
            format!(
                "variable frame rate: made constant at {:.2} fps",
                crate::pipeline::prepare::output_fps(info)
            ),
        ));
    }
    if let Some(hdr) = &v.hdr {
        warnings.push(Warning::new(
            "hdr",
            format!("{hdr} HDR: tone-mapped to 8-bit SDR bt709"),
        ));
    } else if v.bit_depth > 8 {
        warnings.push(Warning::new(
            "bit_depth",
            format!("{}-bit video: converted to 8-bit bt709", v.bit_depth),
        ));
    }
    finish(checks, warnings)
}

fn finish(checks: Vec<Check>, warnings: Vec<Warning>) -> Verdict {
    Verdict {
        valid: checks.iter().all(|c| c.ok),
        checks,
        warnings,
    }
}
