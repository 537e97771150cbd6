//! `castbook use ID|NAME --for MODEL`: what to put in a request to one video model for a
//! character. Models that keep characters get the remote ID a provider registered (a
//! Sora-compatible `openai` provider, Kling elements); the others get references with every
//! generation: chosen keyframes, or the clip, as files or as hosted URLs when `[hosting]` is
//! set up, with a prompt snippet that names the character and the JSON fragment of that
//! model's request.
//!
//! The request shapes follow each model's public API documentation as of late 2026; a shape
//! that could not be confirmed is said so in the plan's notes.

pub mod frames;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::hosting::Hosting;
use crate::library::store::safe_relative;
use crate::library::{Character, Library};
use crate::pipeline::ffmpeg;

/// What a model takes for a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// The ID a provider of this kind registered.
    RemoteId(Registrar),
    /// Keyframes: which, and at what size.
    Keyframes(Pick, Size),
    /// The prepared clip.
    Clip,
}

/// The providers whose registrations a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registrar {
    /// `kind = "openai"`: the Sora character contract.
    OpenAi,
    /// `preset = "kling-elements"`: Kling custom elements.
    KlingElements,
}

/// Which keyframes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The best N: sharp, well exposed, unlike each other.
    Best(usize),
    /// Every keyframe.
    All,
    /// The one most likely to face the camera.
    MostFrontal,
}

/// At what size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The keyframes as saved (short side 360).
    Saved,
    /// The same frames at the clip's own size, made from the clip on demand.
    Full,
}

/// One model `use --for` knows.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub name: &'static str,
    pub takes: Takes,
    /// One line: what the model takes and where.
    pub about: &'static str,
}

/// Every model `use --for` knows, in the order they are listed.
pub const MODELS: &[Model] = &[
    Model {
        name: "sora-2",
        takes: Takes::RemoteId(Registrar::OpenAi),
        about: "a character ID from a Sora-compatible gateway (kind = \"openai\")",
    },
    Model {
        name: "kling",
        takes: Takes::RemoteId(Registrar::KlingElements),
        about: "a Kling element ID (preset = \"kling-elements\")",
    },
    Model {
        name: "veo-3.1",
        takes: Takes::Keyframes(Pick::Best(3), Size::Full),
        about: "1-3 reference images of the subject (referenceImages, referenceType asset)",
    },
    Model {
        name: "vidu",
        takes: Takes::Keyframes(Pick::All, Size::Saved),
        about: "up to 7 reference images",
    },
    Model {
        name: "grok-imagine",
        takes: Takes::Keyframes(Pick::All, Size::Saved),
        about: "up to 7 reference images",
    },
    Model {
        name: "minimax-s2v",
        takes: Takes::Keyframes(Pick::MostFrontal, Size::Full),
        about: "one subject reference image (S2V-01)",
    },
    Model {
        name: "seedance",
        takes: Takes::Clip,
        about: "a reference video (each at least 1.8 s)",
    },
    Model {
        name: "wan-r2v",
        takes: Takes::Clip,
        about: "a reference video URL (Wan 2.6/2.7 reference-to-video)",
    },
    Model {
        name: "runway-act-two",
        takes: Takes::Clip,
        about: "the character as a video (Act-Two)",
    },
];

/// The model called `name` (exactly, ignoring case), or exit 3 listing the known ones.
pub fn model(name: &str) -> Result<&'static Model> {
    let want = name.trim().to_ascii_lowercase();
    MODELS.iter().find(|m| m.name == want).ok_or_else(|| {
        Error::input(
            "unknown_model",
            format!(
                "no model called \"{}\": use one of {}",
                crate::util::escape_display(name),
                model_names().join(", ")
            ),
        )
    })
}

pub fn model_names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name).collect()
}

/// One file to send: a keyframe or the clip, its path, and its URL when hosted.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// `keyframe` or `clip`.
    pub kind: &'static str,
    /// The file in the library.
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// The presigned URL, when `[hosting]` is set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When that URL stops working (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// For a keyframe: which of the saved ones (1-based) it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe: Option<usize>,
    /// For a keyframe: what was measured on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<frames::FrameScore>,
}

impl Reference {
    /// The URL when hosted, else the file's path.
    pub fn location(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// What to put in a request to one model for one character.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub model: &'static str,
    /// `id` (a remote ID) or `references` (files or URLs with every generation).
    pub takes: &'static str,
    /// The configured provider the remote ID comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    pub references: Vec<Reference>,
    /// Whether the references are hosted URLs (false: local files).
    pub hosted: bool,
    /// A prompt that names the character the way this model expects.
    pub prompt: String,
    /// The JSON fragment of this model's request.
    pub request: Value,
    pub notes: Vec<String>,
}

const ACTION: &str = "walks through a park at dusk";

/// The providers in the config that register for `registrar`, by name.
fn registrars(cfg: &Config, registrar: Registrar) -> Vec<String> {
    cfg.providers
        .iter()
        .filter(|(_, v)| {
            let get = |k: &str| v.get(k).and_then(|x| x.as_str());
            match registrar {
                Registrar::OpenAi => get("kind") == Some("openai"),
                Registrar::KlingElements => get("preset") == Some("kling-elements"),
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Work out the plan; keyframes at full size are made from the clip when missing (and kept),
/// and with `hosting` the files are uploaded when needed and their URLs kept in the record.
pub async fn plan(
    lib: &Library,
    cfg: &Config,
    c: &Character,
    model: &'static Model,
    hosting: Option<&Hosting>,
) -> Result<Plan> {
    let name = c.name.clone();
    let mut notes = Vec::new();
    let mut plan = Plan {
        id: c.id.clone(),
        name: name.clone(),
        model: model.name,
        takes: "references",
        provider: None,
        remote_id: None,
        references: Vec::new(),
        hosted: hosting.is_some(),
        prompt: String::new(),
        request: Value::Null,
        notes: Vec::new(),
    };
    match model.takes {
        Takes::RemoteId(registrar) => {
            let names = registrars(cfg, registrar);
            let found = names
                .iter()
                .find(|p| c.provider_ids.get(p.as_str()).is_some_and(|e| !e.expired()));
            let expired = names
                .iter()
                .find(|p| c.provider_ids.contains_key(p.as_str()));
            if let (None, Some(p)) = (found, expired) {
                return Err(Error::input(
                    "registration_expired",
                    format!(
                        "{} ({})'s registration with {} has expired: register again with \
                         `castbook register {} --provider {}`",
                        crate::util::escape_display(&c.name),
                        c.id,
                        crate::util::escape_display(p),
                        c.id,
                        crate::util::escape_display(p)
                    ),
                ));
            }
            let Some(provider) = found else {
                let how = match registrar {
                    Registrar::OpenAi => "a provider with kind = \"openai\"",
                    Registrar::KlingElements => "a provider with preset = \"kling-elements\"",
                };
                let fix = match names.first() {
                    Some(p) => format!("castbook register {} --provider {p}", c.id),
                    None => format!(
                        "configure {how} in config.toml, then `castbook register {} --provider NAME`",
                        c.id
                    ),
                };
                return Err(Error::input(
                    "not_registered",
                    format!(
                        "{} keeps characters by ID, and {} ({}) is not registered with {how}: {fix}; \
                         or use a model that takes references ({})",
                        model.name,
                        crate::util::escape_display(&c.name),
                        c.id,
                        reference_models().join(", ")
                    ),
                ));
            };
            let remote = c.id_for(Some(provider)).to_string();
            plan.takes = "id";
            plan.provider = Some(provider.clone());
            plan.remote_id = Some(remote.clone());
            plan.hosted = false;
            match registrar {
                Registrar::OpenAi => {
                    plan.prompt = format!("{name} {ACTION}");
                    plan.request = json!({"characters": [{"id": remote}]});
                }
                Registrar::KlingElements => {
                    plan.prompt = format!("<<<element_1>>> ({name}) {ACTION}");
                    plan.request = json!({"element_list": [{"element_id": remote}]});
                    notes.push(
                        "the prompt refers to the first element of element_list as <<<element_1>>>"
                            .to_string(),
                    );
                }
            }
        }
        Takes::Keyframes(pick, size) => {
            plan.references = keyframe_refs(lib, c, pick, size)?;
        }
        Takes::Clip => {
            let rel = safe_relative(&c.clip.path).ok_or_else(|| outside(c, &c.clip.path))?;
            plan.references = vec![Reference {
                kind: "clip",
                path: lib.character_dir(&c.id).join(rel),
                width: c.clip.width,
                height: c.clip.height,
                url: None,
                expires_at: None,
                keyframe: None,
                score: None,
            }];
        }
    }
    if let Some(h) = hosting
        && !plan.references.is_empty()
    {
        host_references(lib, c, h, &mut plan.references).await?;
    }
    if plan.takes == "references" {
        fill_request(&mut plan, &mut notes);
        if hosting.is_none() && model.name != "veo-3.1" {
            notes.push(
                "these are local files: this model wants URLs, so set up [hosting] (castbook then \
                 uploads them and puts signed URLs here) or upload them yourself"
                    .to_string(),
            );
        }
    }
    plan.notes = notes;
    Ok(plan)
}

/// The models that take references (no registration needed).
pub fn reference_models() -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|m| !matches!(m.takes, Takes::RemoteId(_)))
        .map(|m| m.name)
        .collect()
}

fn outside(c: &Character, rel: &str) -> Error {
    Error::input(
        "record_path",
        format!(
            "{}: the path {:?} in its record is outside its folder: the record was edited by hand",
            c.id, rel
        ),
    )
}

/// The keyframes a model gets, measured on the saved JPEGs and picked; at full size, the same
/// frames made from the clip.
fn keyframe_refs(lib: &Library, c: &Character, pick: Pick, size: Size) -> Result<Vec<Reference>> {
    let dir = lib.character_dir(&c.id);
    if c.keyframes.is_empty() {
        return Err(Error::input(
            "no_keyframes",
            format!(
                "{} has no keyframes: `castbook doctor --repair` makes them again",
                c.id
            ),
        ));
    }
    let mut paths = Vec::new();
    for k in c.keyframes.iter().take(64) {
        let rel = safe_relative(k).ok_or_else(|| outside(c, k))?;
        paths.push(dir.join(rel));
    }
    let scores: Vec<frames::FrameScore> = paths
        .iter()
        .map(|p| frames::score_file(p))
        .collect::<Result<_>>()?;
    let chosen: Vec<usize> = match pick {
        Pick::All => (0..paths.len()).collect(),
        Pick::Best(n) => frames::pick_best(&scores, n),
        Pick::MostFrontal => frames::most_frontal(&scores).into_iter().collect(),
    };
    let mut out = Vec::new();
    for i in chosen {
        let (path, width, height) = match size {
            Size::Saved => (paths[i].clone(), scores[i].width, scores[i].height),
            Size::Full if c.clip.width <= scores[i].width => {
                (paths[i].clone(), scores[i].width, scores[i].height)
            }
            Size::Full => {
                let p = full_frame(lib, c, i)?;
                (p, c.clip.width, c.clip.height)
            }
        };
        out.push(Reference {
            kind: "keyframe",
            path,
            width,
            height,
            url: None,
            expires_at: None,
            keyframe: Some(i + 1),
            score: Some(scores[i].clone()),
        });
    }
    Ok(out)
}

/// Keyframe `index` (0-based) at the clip's size: `<id>/frames/NN-WxH.jpg`, made from the clip
/// with ffmpeg into `.work/` and moved in by one rename when missing; kept for next time.
pub fn full_frame(lib: &Library, c: &Character, index: usize) -> Result<PathBuf> {
    let dir = lib.character_dir(&c.id);
    let name = format!("{:02}-{}x{}.jpg", index + 1, c.clip.width, c.clip.height);
    let dest = dir.join("frames").join(&name);
    // Kept from an earlier run: only its header is read (a damaged one is made again).
    if image::image_dimensions(&dest).is_ok_and(|d| d == (c.clip.width, c.clip.height)) {
        return Ok(dest);
    }
    let clip_rel = safe_relative(&c.clip.path).ok_or_else(|| outside(c, &c.clip.path))?;
    let clip = dir.join(clip_rel);
    let count = c.keyframes.len().clamp(1, 64) as u64;
    let total = ((c.clip.duration_s * c.clip.fps).round() as u64).clamp(1, 100_000);
    let k = count.min(total);
    let i = (index as u64).min(k - 1);
    let n = ((2 * i + 1) * total) / (2 * k);
    let work = lib.new_work_dir()?;
    let tmp = work.path().join(&name);
    let mut a: Vec<OsString> = ["-hide_banner", "-nostdin", "-v", "error"]
        .iter()
        .map(OsString::from)
        .collect();
    a.extend(ffmpeg::safe_input(&clip));
    a.extend(
        [
            "-map".to_string(),
            "0:v:0".into(),
            "-vf".into(),
            format!("select=eq(n\\,{n})"),
            "-fps_mode".into(),
            "passthrough".into(),
            "-frames:v".into(),
            "1".into(),
            "-q:v".into(),
            "2".into(),
            "-f".into(),
            "image2".into(),
        ]
        .map(OsString::from),
    );
    a.push(ffmpeg::file_url(&tmp));
    let done = ffmpeg::run(
        ffmpeg::command(&ffmpeg::ffmpeg_bin(), a),
        "ffmpeg",
        &CancellationToken::new(),
        ffmpeg::StdoutSink::Collect,
        |_| {},
    )?;
    if !done.status.success() || !tmp.is_file() {
        return Err(Error::processing(
            "ffmpeg_failed",
            format!(
                "ffmpeg could not take frame {n} of the clip {} ({}): `castbook doctor` checks it",
                clip.display(),
                crate::util::escape_display(&ffmpeg::last_error_line(&done.stderr))
            ),
        ));
    }
    sync_file(&tmp)?;
    let frames_dir = dir.join("frames");
    std::fs::create_dir_all(&frames_dir).map_err(|e| Error::io("creating", &frames_dir, &e))?;
    std::fs::rename(&tmp, &dest).map_err(|e| Error::io("saving", &dest, &e))?;
    if let Ok(d) = std::fs::File::open(&frames_dir) {
        let _ = d.sync_all();
    }
    Ok(dest)
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("writing", path, &e))
}

/// Upload (when needed) and sign each reference; the URLs and their expiry are kept in the
/// character's record (`hosted`), saved once under the lock.
async fn host_references(
    lib: &Library,
    c: &Character,
    hosting: &Hosting,
    refs: &mut [Reference],
) -> Result<()> {
    let dir = lib.character_dir(&c.id);
    let mut record = c.clone();
    let mut changed = false;
    for r in refs.iter_mut() {
        let rel = r
            .path
            .strip_prefix(&dir)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| r.path.display().to_string());
        let hash = known_hash(c, &rel)
            .map(Ok)
            .unwrap_or_else(|| file_hash(&r.path))?;
        let (h, ch) = hosting
            .url_in_record(&mut record, &dir, &rel, &hash)
            .await?;
        changed |= ch;
        r.url = Some(h.url.clone());
        r.expires_at = Some(h.expires_at_rfc3339());
    }
    if changed && let Some(hosted) = record.extra.get(crate::hosting::RECORD_KEY).cloned() {
        lib.update(&c.id, |rec| {
            let into = rec
                .extra
                .entry(crate::hosting::RECORD_KEY)
                .or_insert_with(|| Value::Object(Default::default()));
            match (into.as_object_mut(), hosted.as_object()) {
                (Some(into), Some(from)) => {
                    for (k, v) in from {
                        into.insert(k.clone(), v.clone());
                    }
                }
                _ => *into = hosted,
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The blake3 the record keeps for a file of the character (the clip or a saved keyframe).
fn known_hash(c: &Character, rel: &str) -> Option<String> {
    if rel == c.clip.path {
        return c.clip.blake3().map(String::from);
    }
    let i = c.keyframes.iter().position(|k| k == rel)?;
    c.keyframe_hashes()
        .and_then(|h| h.get(i).map(|s| s.to_string()))
}

fn file_hash(path: &Path) -> Result<String> {
    Ok(crate::library::id::SourceDigest::of_file(path)?.blake3)
}

/// The plan for people: who and what for, each reference (path, and URL with its expiry when
/// hosted), the prompt, the request fragment and the notes. Text from the record is escaped.
pub fn plan_lines(plan: &Plan) -> Vec<String> {
    let esc = crate::util::escape_display;
    let mut out = Vec::new();
    let who = format!("{} ({})", esc(&plan.name), esc(&plan.id));
    match (&plan.remote_id, &plan.provider) {
        (Some(remote), Some(provider)) => {
            out.push(format!(
                "{who} for {}: the ID {} knows",
                plan.model,
                esc(provider)
            ));
            out.push(format!("use it: {}", esc(remote)));
        }
        _ => {
            let what = match plan.references.first().map(|r| r.kind) {
                Some("clip") => "the clip".to_string(),
                _ if plan.references.len() == 1 => "1 reference image".to_string(),
                _ => format!("{} reference images", plan.references.len()),
            };
            out.push(format!(
                "{who} for {}: {what} with every generation{}",
                plan.model,
                if plan.hosted {
                    " (hosted)"
                } else {
                    " (local files)"
                }
            ));
            for r in &plan.references {
                let which = match r.keyframe {
                    Some(k) => format!("keyframe {k}"),
                    None => r.kind.to_string(),
                };
                out.push(format!(
                    "  {which:<11} {}x{}  {}",
                    r.width,
                    r.height,
                    esc(&r.path.display().to_string())
                ));
                if let (Some(url), Some(until)) = (&r.url, &r.expires_at) {
                    out.push(format!("              {}  (until {until})", esc(url)));
                }
            }
        }
    }
    out.push(format!("prompt: \"{}\"", esc(&plan.prompt)));
    out.push(format!("json:   {}", plan.request));
    for n in &plan.notes {
        out.push(format!("note:   {}", esc(n)));
    }
    out
}

/// The prompt and request fragment of a model that takes references.
fn fill_request(plan: &mut Plan, notes: &mut Vec<String>) {
    let name = plan.name.clone();
    let locs: Vec<String> = plan.references.iter().map(Reference::location).collect();
    let first = locs.first().cloned().unwrap_or_default();
    match plan.model {
        "veo-3.1" => {
            plan.prompt = format!("{name}, the character in the reference images, {ACTION}");
            // Vertex AI's shape: each image inline (base64) or from Cloud Storage; the
            // fragment names the file whose bytes go in.
            let images: Vec<Value> = plan
                .references
                .iter()
                .map(|r| {
                    json!({
                        "image": {
                            "bytesBase64Encoded": format!("<base64 of {}>", r.path.display()),
                            "mimeType": "image/jpeg"
                        },
                        "referenceType": "asset"
                    })
                })
                .collect();
            plan.request =
                json!({"instances": [{"prompt": plan.prompt, "referenceImages": images}]});
            notes.push(
                "Veo takes the images' bytes: put each file's base64 (`base64 -w0 FILE`) in \
                 bytesBase64Encoded, or a Cloud Storage copy in gcsUri; gateways that take \
                 image_urls can use the hosted URLs"
                    .to_string(),
            );
        }
        "vidu" => {
            plan.prompt = format!("{name}, the character in the reference images, {ACTION}");
            plan.request = json!({"images": locs});
            notes.push(
                "Vidu's subject form (subjects[].images) takes at most 3 images per subject: use \
                 the first 3 there"
                    .to_string(),
            );
        }
        "grok-imagine" => {
            plan.prompt = format!("{name}, the character in the reference images, {ACTION}");
            let images: Vec<Value> = locs.iter().map(|l| json!({"url": l})).collect();
            plan.request = json!({"reference_images": images});
            notes.push(
                "the field name of Grok Imagine's reference images is not confirmed by its public \
                 documentation: check it against your gateway"
                    .to_string(),
            );
        }
        "minimax-s2v" => {
            plan.prompt = format!("{name} {ACTION}");
            plan.request = json!({
                "model": "S2V-01",
                "subject_reference": [{"type": "character", "image": [first]}]
            });
        }
        "seedance" => {
            plan.prompt = format!("{name}, the character in the reference video, {ACTION}");
            plan.request = json!({
                "content": [
                    {"type": "text", "text": plan.prompt},
                    {"type": "video_url", "video_url": {"url": first}, "role": "reference_video"}
                ]
            });
        }
        "wan-r2v" => {
            plan.prompt = format!("character1 ({name}) {ACTION}");
            plan.request =
                json!({"input": {"prompt": plan.prompt, "reference_video_urls": [first]}});
            notes.push(
                "Wan refers to the first reference video as character1 in the prompt".to_string(),
            );
        }
        "runway-act-two" => {
            plan.prompt = format!(
                "Act-Two takes no text prompt: your performance video (reference) drives {name}"
            );
            plan.request = json!({
                "model": "act_two",
                "character": {"type": "video", "uri": first},
                "reference": {"type": "video", "uri": "PERFORMANCE_VIDEO_URL"}
            });
        }
        _ => {}
    }
}
