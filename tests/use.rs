//! `castbook use ID|NAME --for MODEL`: one test per model over characters made from real
//! clips (lavfi, the real ffmpeg), the unknown model, the JSON shape, and hosted URLs from a
//! real S3-compatible server.

mod common;
#[path = "s3/mod.rs"]
mod s3;

use std::path::{Path, PathBuf};

use common::{Env, make_clip, stderr, stdout, testsrc};
use serde_json::Value;

/// A 4 s 1280x720 clip whose first 1.4 s are black: its first two keyframes (at 0.33 s and
/// 1.0 s) are black, the other four are testsrc2's sharp pattern.
fn dark_start_clip() -> PathBuf {
    make_clip(
        "use-dark-start.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=1280x720:r=25:d=1.4",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=2.6",
            "-filter_complex",
            "[0][1]concat=n=2:v=1:a=0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
        ],
    )
}

/// A 4 s 1280x720 clip that is its own mirror image only from 2.0 to 2.7 s, where the fourth
/// keyframe (2.32 s) is.
fn one_frontal_clip() -> PathBuf {
    make_clip(
        "use-one-frontal.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=2.0",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=0.7",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=1.3",
            "-filter_complex",
            "[1]crop=640:720:0:0,split[l][r];[r]hflip[rf];[l][rf]hstack[s];[0][s][2]concat=n=3:v=1:a=0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
        ],
    )
}

fn config(env: &Env, text: &str) {
    std::fs::write(env.path("no-config.toml"), text).unwrap();
}

/// `use ID --for MODEL --json`: the plan; panics with the output on failure.
fn use_json(env: &Env, id: &str, model: &str) -> Value {
    let out = env.run(&["use", id, "--for", model, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refs(plan: &Value) -> &Vec<Value> {
    plan["references"].as_array().unwrap()
}

fn jpeg_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap()
}

fn keyframe_numbers(plan: &Value) -> Vec<u64> {
    refs(plan)
        .iter()
        .map(|r| r["keyframe"].as_u64().unwrap())
        .collect()
}

/// Set `provider_ids.NAME = remote` in the record, as a registration would.
fn registered(env: &Env, id: &str, provider: &str, remote: &str) {
    let path = env.lib().join(id).join("character.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    rec["provider_ids"][provider] = Value::String(remote.into());
    std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
}

#[test]
fn veo_gets_the_three_best_keyframes_at_the_clips_size() {
    let env = Env::new();
    let rec = env.create(&dark_start_clip(), "Hero", &[]);
    let id = rec["id"].as_str().unwrap();
    let plan = use_json(&env, id, "veo-3.1");
    assert_eq!(plan["takes"], "references");
    assert_eq!(plan["hosted"], false);
    let picked = keyframe_numbers(&plan);
    assert_eq!(picked.len(), 3, "{plan}");
    // The black keyframes (1 and 2) are not picked.
    assert!(picked.iter().all(|k| *k >= 3), "{picked:?}");
    for r in refs(&plan) {
        let p = PathBuf::from(r["path"].as_str().unwrap());
        assert!(
            p.starts_with(env.lib().join(id).join("frames")),
            "{}",
            p.display()
        );
        // Made from the clip at its own size, not a stretched thumbnail.
        assert_eq!(jpeg_size(&p), (1280, 720));
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(1280), Some(720))
        );
        assert!(r["score"]["sharpness"].as_f64().unwrap() > 0.0);
    }
    let instance = &plan["request"]["instances"][0];
    assert_eq!(instance["prompt"], plan["prompt"]);
    let images = instance["referenceImages"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    for (img, r) in images.iter().zip(refs(&plan)) {
        assert_eq!(img["referenceType"], "asset");
        assert_eq!(img["image"]["mimeType"], "image/jpeg");
        let bytes = img["image"]["bytesBase64Encoded"].as_str().unwrap();
        assert!(bytes.contains(r["path"].as_str().unwrap()), "{bytes}");
    }
    assert!(
        plan["prompt"].as_str().unwrap().starts_with("Hero"),
        "{plan}"
    );
    assert!(plan["notes"].to_string().contains("base64"), "{plan}");
    // The frames are kept: a second run makes none again.
    let first = PathBuf::from(refs(&plan)[0]["path"].as_str().unwrap());
    let before = std::fs::metadata(&first).unwrap().modified().unwrap();
    let again = use_json(&env, id, "veo-3.1");
    assert_eq!(again["references"], plan["references"]);
    assert_eq!(
        std::fs::metadata(&first).unwrap().modified().unwrap(),
        before
    );
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
    // The record is untouched (no hosting) and the library is still healthy.
    let doctor = env.run(&["doctor", "--json"]);
    assert_eq!(doctor.status.code(), Some(0), "{}", stdout(&doctor));
}

#[test]
fn vidu_gets_all_six_keyframes() {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-vidu.mp4", "1280x720", 25, 4.0, false),
        "Vee",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let plan = use_json(&env, id, "vidu");
    assert_eq!(keyframe_numbers(&plan), vec![1, 2, 3, 4, 5, 6]);
    let paths: Vec<&str> = refs(&plan)
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    for (p, k) in paths.iter().zip(rec["keyframes"].as_array().unwrap()) {
        assert_eq!(
            PathBuf::from(p),
            env.lib().join(id).join(k.as_str().unwrap())
        );
        assert_eq!(
            jpeg_size(Path::new(p)),
            (640, 360),
            "the saved keyframes as they are"
        );
    }
    assert_eq!(plan["request"]["images"], serde_json::json!(paths));
    assert!(
        !env.lib().join(id).join("frames").exists(),
        "nothing made for vidu"
    );
}

#[test]
fn grok_imagine_gets_all_six_keyframes() {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-grok.mp4", "1280x720", 25, 4.0, false),
        "Gee",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let plan = use_json(&env, "Gee", "grok-imagine");
    assert_eq!(plan["id"], id);
    assert_eq!(keyframe_numbers(&plan), vec![1, 2, 3, 4, 5, 6]);
    let images = plan["request"]["reference_images"].as_array().unwrap();
    assert_eq!(images.len(), 6);
    assert_eq!(images[0]["url"], refs(&plan)[0]["path"]);
}

#[test]
fn minimax_gets_the_most_frontal_keyframe() {
    let env = Env::new();
    let rec = env.create(&one_frontal_clip(), "Front", &[]);
    let id = rec["id"].as_str().unwrap();
    let plan = use_json(&env, id, "minimax-s2v");
    assert_eq!(
        keyframe_numbers(&plan),
        vec![4],
        "the mirror-symmetric frame: {plan}"
    );
    let r = &refs(&plan)[0];
    assert_eq!(
        jpeg_size(Path::new(r["path"].as_str().unwrap())),
        (1280, 720)
    );
    assert_eq!(plan["request"]["model"], "S2V-01");
    let subject = &plan["request"]["subject_reference"][0];
    assert_eq!(subject["type"], "character");
    assert_eq!(subject["image"], serde_json::json!([r["path"]]));
}

fn clip_plan(model: &str) -> (Env, String, Value) {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-clip.mp4", "1280x720", 25, 4.0, true),
        "Clip Hero",
        &[],
    );
    let id = rec["id"].as_str().unwrap().to_string();
    let plan = use_json(&env, &id, model);
    assert_eq!(refs(&plan).len(), 1);
    assert_eq!(refs(&plan)[0]["kind"], "clip");
    assert_eq!(
        PathBuf::from(refs(&plan)[0]["path"].as_str().unwrap()),
        env.lib().join(&id).join("clip.mp4")
    );
    (env, id, plan)
}

#[test]
fn seedance_gets_the_clip() {
    let (_env, _, plan) = clip_plan("seedance");
    let content = plan["request"]["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "text");
    assert_eq!(content[0]["text"], plan["prompt"]);
    assert_eq!(content[1]["role"], "reference_video");
    assert_eq!(content[1]["video_url"]["url"], refs(&plan)[0]["path"]);
}

#[test]
fn wan_gets_the_clip_and_calls_it_character1() {
    let (_env, _, plan) = clip_plan("wan-r2v");
    assert!(
        plan["prompt"].as_str().unwrap().starts_with("character1"),
        "{plan}"
    );
    assert_eq!(plan["request"]["input"]["prompt"], plan["prompt"]);
    assert_eq!(
        plan["request"]["input"]["reference_video_urls"][0],
        refs(&plan)[0]["path"]
    );
}

#[test]
fn runway_act_two_gets_the_clip_as_the_character() {
    let (_env, _, plan) = clip_plan("runway-act-two");
    assert_eq!(plan["request"]["model"], "act_two");
    assert_eq!(plan["request"]["character"]["type"], "video");
    assert_eq!(plan["request"]["character"]["uri"], refs(&plan)[0]["path"]);
}

#[test]
fn sora_gets_the_remote_id_and_never_the_local_one() {
    let env = Env::new();
    config(
        &env,
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    );
    let rec = env.create(
        &testsrc("use-sora.mp4", "1280x720", 25, 4.0, false),
        "Sor",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    // Not registered: exit 3 with the command that registers it.
    let out = env.run(&["use", id, "--for", "sora-2"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("castbook register {id} --provider sora")),
        "{err}"
    );
    assert!(
        !stdout(&out).contains(id),
        "no ID is offered: {}",
        stdout(&out)
    );

    registered(&env, id, "sora", "char_remote_77");
    let plan = use_json(&env, id, "sora-2");
    assert_eq!(plan["takes"], "id");
    assert_eq!(plan["provider"], "sora");
    assert_eq!(plan["remote_id"], "char_remote_77");
    assert_eq!(
        plan["request"],
        serde_json::json!({"characters": [{"id": "char_remote_77"}]})
    );
    assert_eq!(plan["references"], serde_json::json!([]));
    let text = stdout(&env.run(&["use", id, "--for", "SORA-2"]));
    assert!(text.contains("use it: char_remote_77"), "{text}");
    assert!(!text.contains(&format!("\"id\":\"{id}\"")), "{text}");

    // A registration that has expired is not offered: register again.
    let path = env.lib().join(id).join("character.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    rec["provider_ids"]["sora"] = serde_json::json!({
        "id": "char_remote_77",
        "registered_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-02T00:00:00Z"
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let out = env.run(&["use", id, "--for", "sora-2", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "registration_expired");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("castbook register {id} --provider sora")),
        "{v}"
    );
    assert!(!stdout(&out).contains("\"characters\""));
}

#[test]
fn kling_gets_the_element_id_with_every_digit() {
    let env = Env::new();
    config(
        &env,
        "[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"KLING_API_KEY\"\n",
    );
    let rec = env.create(
        &testsrc("use-kling.mp4", "1280x720", 25, 4.0, false),
        "Kay",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let out = env.run(&["use", id, "--for", "kling", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "not_registered");
    registered(&env, id, "kling", "863121023120580600");
    let plan = use_json(&env, id, "kling");
    assert_eq!(plan["remote_id"], "863121023120580600");
    assert_eq!(
        plan["request"]["element_list"][0]["element_id"],
        "863121023120580600"
    );
    assert!(plan["prompt"].as_str().unwrap().contains("<<<element_1>>>"));
}

#[test]
fn an_unknown_model_is_exit_3_listing_the_known_ones() {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-vidu.mp4", "1280x720", 25, 4.0, false),
        "Un",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let out = env.run(&["use", id, "--for", "veo-9"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    for m in [
        "sora-2",
        "kling",
        "veo-3.1",
        "vidu",
        "grok-imagine",
        "minimax-s2v",
        "seedance",
        "wan-r2v",
        "runway-act-two",
    ] {
        assert!(err.contains(m), "{m} listed: {err}");
    }
    let out = env.run(&["use", id, "--for", "veo-9", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "unknown_model");
    // An unknown character is exit 3 too.
    let out = env.run(&["use", "Nobody", "--for", "vidu"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn the_json_plan_has_one_shape() {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-vidu.mp4", "1280x720", 25, 4.0, false),
        "Shape",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let plan = use_json(&env, id, "veo-3.1");
    let keys: Vec<&str> = plan
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "model",
            "takes",
            "references",
            "hosted",
            "prompt",
            "request",
            "notes"
        ]
    );
    let r = refs(&plan)[0].as_object().unwrap();
    let rkeys: Vec<&str> = r.keys().map(String::as_str).collect();
    assert_eq!(
        rkeys,
        ["kind", "path", "width", "height", "keyframe", "score"]
    );
    assert_eq!(plan["id"], id);
    assert_eq!(plan["name"], "Shape");
    assert_eq!(plan["model"], "veo-3.1");
    // The human form: the references, the prompt and the fragment.
    let text = stdout(&env.run(&["use", id, "--for", "veo-3.1"]));
    assert!(text.contains("3 reference images"), "{text}");
    assert!(text.contains("prompt: \"Shape"), "{text}");
    assert!(text.contains("json:   {\"instances\""), "{text}");
}

#[test]
fn with_hosting_the_references_are_signed_urls_kept_in_the_record() {
    let server = s3::S3::start("cast");
    let env = Env::new();
    config(&env, &server.config("CB_KEY", "CB_SECRET", "7d"));
    let rec = env.create(
        &testsrc("use-vidu.mp4", "1280x720", 25, 4.0, false),
        "Hosted",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let run = |model: &str| {
        let out = env
            .cmd()
            .args(["use", id, "--for", model, "--json"])
            .env("CB_KEY", s3::ACCESS_KEY)
            .env("CB_SECRET", s3::SECRET_KEY)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(!stdout(&out).contains(s3::SECRET_KEY) && !stderr(&out).contains(s3::SECRET_KEY));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let plan = run("wan-r2v");
    assert_eq!(plan["hosted"], true);
    let url = refs(&plan)[0]["url"].as_str().unwrap().to_string();
    assert_eq!(
        plan["request"]["input"]["reference_video_urls"][0],
        url.as_str()
    );
    let (status, body) = s3::get(&url);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        std::fs::read(env.lib().join(id).join("clip.mp4")).unwrap()
    );
    // The record keeps the URL and its expiry; the secret is nowhere in it.
    let text = std::fs::read_to_string(env.lib().join(id).join("character.json")).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    let clip_hash = saved["clip"]["blake3"].as_str().unwrap();
    assert_eq!(saved["hosted"][clip_hash]["url"], url.as_str());
    assert_eq!(
        saved["hosted"][clip_hash]["expires_at"],
        refs(&plan)[0]["expires_at"]
    );
    assert!(!text.contains(s3::SECRET_KEY));
    // Asked again: the same URL, from the record.
    assert_eq!(run("seedance")["references"][0]["url"], url.as_str());
    // Keyframes made on demand are hosted too.
    let veo = run("veo-3.1");
    for r in refs(&veo) {
        let (status, body) = s3::get(r["url"].as_str().unwrap());
        assert_eq!(status, 200);
        assert_eq!(body, std::fs::read(r["path"].as_str().unwrap()).unwrap());
    }
    assert!(env.work_leftovers().is_empty());
    // Without the keys in the environment: exit 5 naming the variable.
    let out = env.run(&["use", id, "--for", "wan-r2v"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("CB_KEY"), "{}", stderr(&out));
}

#[test]
fn a_record_pointing_outside_its_folder_is_refused() {
    let env = Env::new();
    let rec = env.create(
        &testsrc("use-vidu.mp4", "1280x720", 25, 4.0, false),
        "Edited",
        &[],
    );
    let id = rec["id"].as_str().unwrap();
    let path = env.lib().join(id).join("character.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["keyframes"][0] = Value::String("../../outside.jpg".into());
    v["clip"]["path"] = Value::String("/etc/passwd".into());
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    for model in ["vidu", "seedance"] {
        let out = env.run(&["use", id, "--for", model, "--json"]);
        assert_eq!(out.status.code(), Some(3), "{model}: {}", stdout(&out));
        let e: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(e["error"]["code"], "record_path", "{model}: {e}");
        assert!(
            !stdout(&out).contains("root:"),
            "nothing is read from outside"
        );
    }
}
