//! Providers described as data (`kind = "http"` and its presets) end to end: the castbook
//! binary against real HTTP servers on 127.0.0.1 that answer as each preset's documented API
//! does. Every test asserts the exact requests (method, path, headers, body) and what is
//! recorded, and that the key goes nowhere else.

#[path = "common/mod.rs"]
mod clips;
#[path = "s3/mod.rs"]
mod s3;
#[path = "server/mod.rs"]
mod server;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use server::{Env, Reply, Request, Run, Server, fixture, multipart_parts};

const KEY: &str = "kl-test-Q7w9Zr2LmX4vB8nT";
const KEY_PIECE: &str = "Q7w9Zr2L";
/// An element ID larger than a double holds exactly (2^53 is 9007199254740992).
const ELEMENT_ID: &str = "863121023120580600";
const NAME: &str = "Wolf \"Ace\" O'Hara the Brave";
/// The name cut to 20 characters, as Kling's element_name takes it.
const NAME_20: &str = "Wolf \"Ace\" O'Hara th";

/// A server that serves itself: its handler gets its own base URL.
fn server(handler: impl Fn(&Request, usize, &str) -> Reply + Send + Sync + 'static) -> Server {
    let base: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let b = base.clone();
    let s = Server::start(move |req, n| handler(req, n, b.get().map(String::as_str).unwrap_or("")));
    base.set(s.url("")).unwrap();
    s
}

/// A file host: `PUT /files/NAME` keeps the bytes and answers `{"url": ...}`.
fn file_host() -> Server {
    server(|req, _, base| match req.method.as_str() {
        "PUT" => Reply::json(200, &json!({"url": format!("{base}{}", req.path)})),
        _ => Reply::status(404, "text/plain", "no"),
    })
}

/// The kling-elements preset against `api`, with the clip put on `files` (a test stand-in
/// for hosting) and short poll waits.
fn kling_config(api: &Server, files: &Server, extra: &str) -> String {
    format!(
        r#"[providers.kling]
preset = "kling-elements"
base_url = "{}"
api_key_env = "KLING_TEST_KEY"
[providers.kling.vars]
files = "{}"
[providers.kling.upload]
file_url = "{{file_url}}"
[[providers.kling.upload.steps]]
method = "PUT"
url = "{{files}}/files/{{file_name}}"
send = "file"
auth = false
capture = {{ file_url = "/url" }}
[providers.kling.poll]
interval_s = 0.05
max_interval_s = 0.1
deadline_s = 30
{extra}"#,
        api.url(""),
        files.url("")
    )
}

fn env_with(config: &str) -> Env {
    Env::new(config).set("KLING_TEST_KEY", KEY)
}

/// Create a character from the sample clip (no provider); its ID.
fn saved(env: &Env, clip: &std::path::Path, name: &str) -> String {
    let r = env.run(&[
        "create",
        clip.to_str().unwrap(),
        "--name",
        name,
        "--notes",
        "a grey wolf in a red scarf",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    r.json()["id"].as_str().unwrap().to_string()
}

fn record(env: &Env, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(env.library().join(id).join("character.json")).unwrap())
        .unwrap()
}

/// The key is in no file under the library and in no output.
fn assert_key_nowhere(env: &Env, runs: &[&Run]) {
    for (path, bytes) in env.library_files() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(KEY_PIECE),
            "the key is in {}",
            path.display()
        );
    }
    for r in runs {
        assert!(
            !r.all().contains(KEY_PIECE),
            "the key is in the output: {r:?}"
        );
    }
}

fn kling_submitted(task: &str) -> Reply {
    Reply::json(
        200,
        &json!({"code": 0, "message": "SUCCEED", "request_id": "req-1",
                "data": {"task_id": task, "task_status": "submitted", "created_at": 1_764_230_400_000u64}}),
    )
}

fn kling_status(task: &str, status: &str, extra: Value) -> Reply {
    let mut data = json!({"task_id": task, "task_status": status});
    if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
        d.extend(e);
    }
    Reply::json(200, &json!({"code": 0, "message": "SUCCEED", "data": data}))
}

/// Kling's reply when the element is made: the ID as a bare JSON number with every digit.
fn kling_done(task: &str, element_id: &str) -> Reply {
    let body = format!(
        r#"{{"code":0,"message":"SUCCEED","data":{{"task_id":"{task}","task_status":"succeed","task_result":{{"elements":[{{"element_id":{element_id},"element_name":"x"}}]}}}}}}"#
    );
    Reply::status(200, "application/json", body)
}

/// A Kling API that accepts a submit and reports `polls` "processing" before "succeed".
fn kling_api(polls: usize) -> Server {
    let seen = Arc::new(Mutex::new(0usize));
    server(
        move |req, _, _| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/v1/general/advanced-custom-elements") => kling_submitted("task-77"),
            ("GET", "/v1/general/advanced-custom-elements/task-77") => {
                let mut n = seen.lock().unwrap();
                *n += 1;
                if *n <= polls {
                    kling_status("task-77", "processing", json!({}))
                } else {
                    kling_done("task-77", ELEMENT_ID)
                }
            }
            _ => Reply::status(404, "text/plain", "no such path"),
        },
    )
}

#[test]
fn kling_elements_registers_the_hosted_clip_and_keeps_every_digit_of_the_element_id() {
    let api = kling_api(2);
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), NAME);
    let r = env.run(&["register", &id, "--provider", "kling"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().next(), Some(ELEMENT_ID), "{r:?}");

    // The clip went to the file host, without the key.
    let puts = files.requests();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].method, "PUT");
    assert_eq!(puts[0].path, format!("/files/{id}.mp4"));
    assert_eq!(puts[0].header("content-type"), Some("video/mp4"));
    assert!(puts[0].header("authorization").is_none(), "{:?}", puts[0]);
    let clip = std::fs::read(env.library().join(&id).join("clip.mp4")).unwrap();
    assert_eq!(
        puts[0].body, clip,
        "the uploaded bytes are the prepared clip"
    );

    // Submit, then two polls that say processing and one that says succeed.
    let reqs = api.requests();
    let shape: Vec<(String, String)> = reqs
        .iter()
        .map(|q| (q.method.clone(), q.path.clone()))
        .collect();
    let poll = (
        "GET".to_string(),
        "/v1/general/advanced-custom-elements/task-77".to_string(),
    );
    assert_eq!(
        shape,
        [
            (
                "POST".to_string(),
                "/v1/general/advanced-custom-elements".to_string()
            ),
            poll.clone(),
            poll.clone(),
            poll
        ]
    );
    for q in &reqs {
        assert_eq!(
            q.header("authorization"),
            Some(format!("Bearer {KEY}").as_str()),
            "{q:?}"
        );
    }
    let submit = &reqs[0];
    assert_eq!(submit.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&submit.body).unwrap();
    assert_eq!(
        body,
        json!({
            "element_name": NAME_20,
            "element_description": "a grey wolf in a red scarf",
            "reference_type": "video_refer",
            "element_video_list": {"refer_videos": [{"video_url": files.url(&format!("/files/{id}.mp4"))}]}
        })
    );
    // The body is sent in the template's key order, its values escaped once.
    let text = String::from_utf8(submit.body.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"element_name":"Wolf \"Ace\" O'Hara th","element_description""#),
        "{text}"
    );

    // Recorded: every digit, when, and no expiry (Kling keeps elements).
    let rec = record(&env, &id);
    assert_eq!(rec["schema"], 2);
    let entry = &rec["provider_ids"]["kling"];
    assert_eq!(entry["id"], ELEMENT_ID, "{rec}");
    assert!(
        entry["registered_at"].as_str().unwrap().ends_with('Z'),
        "{entry}"
    );
    assert!(entry.get("expires_at").is_none(), "{entry}");
    let show = env.run(&["show", &id]);
    assert!(
        show.stdout
            .contains(&format!("provider  kling: {ELEMENT_ID}  registered ")),
        "{show:?}"
    );
    let csv = env.run(&["export"]);
    assert!(
        csv.stdout.contains(&format!("kling={ELEMENT_ID}")),
        "{csv:?}"
    );
    assert_key_nowhere(&env, &[&r, &show, &csv]);
}

#[test]
fn kling_elements_sends_keyframes_as_image_refer_when_the_clip_is_too_short_for_a_video() {
    let api = kling_api(0);
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let short = clips::testsrc("720p-2s.mp4", "1280x720", 25, 2.0, false);
    let id = saved(&env, &short, "Pup");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["kling"]["id"], ELEMENT_ID);

    let rec = record(&env, &id);
    let keyframes: Vec<String> = rec["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let n = keyframes.len();
    assert!(n >= 4, "{keyframes:?}");
    // The front image is the middle keyframe; up to four others are references.
    let front = n / 2;
    let refs: Vec<usize> = (0..n).filter(|i| *i != front).take(4).collect();
    let url = |i: usize| files.url(&format!("/files/{id}-{:02}.jpg", i + 1));
    let body: Value = serde_json::from_slice(&api.requests()[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "element_name": "Pup",
            "element_description": "a grey wolf in a red scarf",
            "reference_type": "image_refer",
            "element_image_list": {
                "frontal_image": url(front),
                "refer_images": refs.iter().map(|i| json!({"image_url": url(*i)})).collect::<Vec<_>>()
            }
        })
    );
    // The uploaded images are the keyframes, byte for byte; the clip was not sent.
    let puts = files.requests();
    assert_eq!(puts.len(), 1 + refs.len(), "{puts:?}");
    for q in &puts {
        let i: usize = q.path.rsplit('-').next().unwrap()[..2].parse().unwrap();
        let bytes = std::fs::read(env.library().join(&id).join(&keyframes[i - 1])).unwrap();
        assert_eq!(q.body, bytes, "{}", q.path);
        assert_eq!(q.header("content-type"), Some("image/jpeg"));
    }
}

#[test]
fn a_401_is_one_clear_error_not_retried_and_the_echoed_key_is_redacted() {
    let api = server(|_, _, _| {
        Reply::json(
            401,
            &json!({"code": 1000, "message": format!("Authorization failed for key {KEY}"), "request_id": "r"}),
        )
    });
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "provider");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("HTTP 401") && msg.contains("Authorization failed"),
        "{msg}"
    );
    assert!(
        msg.contains("KLING_TEST_KEY"),
        "says where the key comes from: {msg}"
    );
    assert!(msg.contains("[redacted]"), "{msg}");
    assert!(
        msg.contains(&format!("castbook register {id} --provider kling")),
        "{msg}"
    );
    assert_eq!(api.requests().len(), 1, "a 401 is not retried");
    assert!(
        record(&env, &id)["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert_key_nowhere(&env, &[&r]);
}

#[test]
fn a_429_with_retry_after_is_waited_out_then_the_submit_is_sent_again() {
    let submits = Arc::new(Mutex::new(0usize));
    let s = submits.clone();
    let api = server(move |req, _, _| match req.method.as_str() {
        "POST" => {
            let mut n = s.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Reply::json(
                    429,
                    &json!({"code": 1303, "message": "parallel task limit"}),
                )
                .with_header("Retry-After", "1")
            } else {
                kling_submitted("task-9")
            }
        }
        _ => kling_done("task-9", "42"),
    });
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["kling"]["id"], "42");
    let methods: Vec<String> = api.requests().iter().map(|q| q.method.clone()).collect();
    assert_eq!(methods, ["POST", "POST", "GET"]);
    let reqs = api.requests();
    assert_eq!(reqs[0].body, reqs[1].body, "the same submit was sent again");
}

#[test]
fn a_task_that_fails_says_the_providers_message_and_records_nothing() {
    let api = server(|req, _, _| match req.method.as_str() {
        "POST" => kling_submitted("task-f"),
        _ => kling_status(
            "task-f",
            "failed",
            json!({"task_status_msg": "the subject is not clearly visible in the video"}),
        ),
    });
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("task-f") && msg.contains("failed"), "{msg}");
    assert!(msg.contains("not clearly visible in the video"), "{msg}");
    assert_eq!(api.requests().len(), 2, "a failed task is not polled again");
    assert!(
        record(&env, &id)["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_task_that_never_finishes_stops_at_the_deadline_with_exit_5_and_how_to_check() {
    let api = server(|req, _, _| match req.method.as_str() {
        "POST" => kling_submitted("task-slow"),
        _ => kling_status("task-slow", "processing", json!({})),
    });
    let files = file_host();
    let config = kling_config(&api, &files, "").replace("deadline_s = 30", "deadline_s = 0.5");
    let env = env_with(&config);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("did not finish within 0.5 s"), "{msg}");
    assert!(msg.contains("may still finish"), "{msg}");
    assert!(
        msg.contains(&api.url("/v1/general/advanced-custom-elements/task-slow")),
        "says where to check: {msg}"
    );
    assert!(msg.contains("poll.deadline_s"), "{msg}");
    assert!(api.requests().len() >= 2, "it polled");
    assert!(
        record(&env, &id)["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_reply_code_that_is_not_success_is_an_error_even_with_http_200() {
    let api = server(|_, _, _| {
        Reply::json(
            200,
            &json!({"code": 1201, "message": "element_name is invalid", "data": null}),
        )
    });
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("/code is not 0") && msg.contains("element_name is invalid"),
        "{msg}"
    );
    assert_eq!(api.requests().len(), 1);
}

/// A refused reply: exit 5, a `provider` error, nothing raw in the output, nothing stored.
fn assert_refused(env: &Env, id: &str, r: &Run, needle: &str) {
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "provider", "{r:?}");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    for text in [&r.stdout, &r.stderr] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a raw control character in the output: {text:?}"
        );
    }
    assert!(
        record(env, id)["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn hostile_replies_are_refused_huge_ones_are_cut_and_reply_values_cannot_change_the_path() {
    let files = file_host();
    let env = env_with("");
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let run_against = |api: &Server| {
        std::fs::write(
            env.dir.path().join("config.toml"),
            kling_config(api, &files, ""),
        )
        .unwrap();
        env.run(&["register", &id, "--provider", "kling", "--json"])
    };
    // Element IDs castbook will not store.
    for (element, needle) in [
        (r#""\u001b]0;pwned\u0007""#, "U+001B"),
        (r#""../../etc/passwd""#, "path separator"),
        (r#""a b""#, "may only hold"),
        ("-1e400", "no ID"),
        ("null", "no ID"),
    ] {
        let element = element.to_string();
        let api = server(move |req, _, _| match req.method.as_str() {
            "POST" => kling_submitted("t1"),
            _ => kling_done("t1", &element),
        });
        let r = run_against(&api);
        assert_refused(&env, &id, &r, needle);
    }
    // A task ID with a control character is not used; one with path characters stays in its
    // path segment.
    let api = server(|req, _, _| match req.method.as_str() {
        "POST" => kling_submitted("t\r\nX-Injected: 1"),
        _ => kling_done("t", "1"),
    });
    let r = run_against(&api);
    assert_refused(&env, &id, &r, "control characters");
    assert_eq!(api.requests().len(), 1, "nothing was polled");
    // A huge reply is cut at 1 MB, whether announced or not, and not retried.
    for declared in [true, false] {
        let api = server(move |req, _, _| match req.method.as_str() {
            "POST" => kling_submitted("t2"),
            _ if declared => Reply::status(200, "application/json", vec![b' '; 30_000_000]),
            _ => Reply::Endless { limit: 30_000_000 },
        });
        let (r, rss) = {
            std::fs::write(
                env.dir.path().join("config.toml"),
                kling_config(&api, &files, ""),
            )
            .unwrap();
            env.run_measured(&["register", &id, "--provider", "kling", "--json"])
        };
        assert_refused(&env, &id, &r, "larger than 1 MB");
        eprintln!(
            "castbook peak RSS with a 30 MB reply (declared: {declared}): {:.1} MB",
            rss as f64 / 1e6
        );
        assert!(rss < 80_000_000, "castbook peaked at {rss} bytes");
        assert_eq!(api.requests().len(), 2, "not retried");
    }
    // A submit reply without the task ID: nothing to poll, and the remote job may exist.
    let api = server(|_, _, _| Reply::json(200, &json!({"code": 0, "data": {}})));
    let r = run_against(&api);
    assert_refused(&env, &id, &r, "may exist remotely");
    // Last, as it registers.
    let api = server(|req, _, _| match req.method.as_str() {
        "POST" => kling_submitted("../../admin?x=1"),
        _ => kling_done("t", "7"),
    });
    let r = run_against(&api);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        api.requests()[1].path,
        "/v1/general/advanced-custom-elements/..%2F..%2Fadmin%3Fx%3D1"
    );
}

#[test]
fn fal_queue_uploads_to_fal_storage_submits_polls_the_status_url_and_reads_the_result() {
    const MODEL: &str = "fal-ai/custom/characters";
    // fal's storage: initiate answers an upload URL on another host (the CDN).
    let cdn = server(|req, _, _| match req.method.as_str() {
        "PUT" => Reply::status(200, "text/plain", ""),
        _ => Reply::status(404, "text/plain", "no"),
    });
    let cdn_base = cdn.url("");
    let storage = server(move |req, _, _| {
        Reply::json(
            200,
            &json!({"upload_url": format!("{cdn_base}/upload/abc?sig=1"),
                    "file_url": format!("{cdn_base}/files/abc.mp4")}),
        )
        .with_header("X-Seen", &req.path)
    });
    let polls = Arc::new(Mutex::new(0usize));
    let p = polls.clone();
    let queue = server(
        move |req, _, base| match (req.method.as_str(), req.path.as_str()) {
            ("POST", path) if path == format!("/{MODEL}") => Reply::json(
                200,
                &json!({"request_id": "req-5",
                    "status_url": format!("{base}/fal-ai/custom/requests/req-5/status"),
                    "response_url": format!("{base}/fal-ai/custom/requests/req-5"),
                    "cancel_url": format!("{base}/fal-ai/custom/requests/req-5/cancel")}),
            ),
            ("GET", "/fal-ai/custom/requests/req-5/status") => {
                let mut n = p.lock().unwrap();
                *n += 1;
                let status = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"][(*n - 1).min(2)];
                Reply::json(200, &json!({"status": status, "queue_position": 0}))
            }
            ("GET", "/fal-ai/custom/requests/req-5") => Reply::json(
                200,
                &json!({"id": "fal-char-31", "expires_at": "2030-01-01T00:00:00Z"}),
            ),
            _ => Reply::status(404, "text/plain", "no"),
        },
    );
    let config = format!(
        r#"[providers.fal]
preset = "fal-queue"
base_url = "{}"
api_key_env = "FAL_TEST_KEY"
vars = {{ model = "{MODEL}", storage_url = "{}" }}
[providers.fal.poll]
interval_s = 0.05
max_interval_s = 0.1
"#,
        queue.url(""),
        storage.url("")
    );
    let env = Env::new(&config).set("FAL_TEST_KEY", KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "fal", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let entry = &r.json()["provider_ids"]["fal"];
    assert_eq!(entry["id"], "fal-char-31");
    assert_eq!(entry["expires_at"], "2030-01-01T00:00:00Z");

    let auth = format!("Key {KEY}");
    let init = &storage.requests()[0];
    assert_eq!(init.method, "POST");
    assert_eq!(
        init.path,
        "/storage/upload/initiate?storage_type=fal-cdn-v3"
    );
    assert_eq!(init.header("authorization"), Some(auth.as_str()));
    assert_eq!(
        serde_json::from_slice::<Value>(&init.body).unwrap(),
        json!({"content_type": "video/mp4", "file_name": format!("{id}.mp4")})
    );
    let put = &cdn.requests()[0];
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/upload/abc?sig=1")
    );
    assert!(
        put.header("authorization").is_none(),
        "the key never goes to the CDN"
    );
    assert_eq!(
        put.body,
        std::fs::read(env.library().join(&id).join("clip.mp4")).unwrap()
    );

    let reqs = queue.requests();
    let shape: Vec<(&str, &str)> = reqs
        .iter()
        .map(|q| (q.method.as_str(), q.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", "/fal-ai/custom/characters"),
            ("GET", "/fal-ai/custom/requests/req-5/status"),
            ("GET", "/fal-ai/custom/requests/req-5/status"),
            ("GET", "/fal-ai/custom/requests/req-5/status"),
            ("GET", "/fal-ai/custom/requests/req-5"),
        ]
    );
    for q in &reqs {
        assert_eq!(q.header("authorization"), Some(auth.as_str()), "{q:?}");
    }
    assert_eq!(
        serde_json::from_slice::<Value>(&reqs[0].body).unwrap(),
        json!({"video_url": cdn.url("/files/abc.mp4"), "name": "Wolf"})
    );
    assert_key_nowhere(&env, &[&r]);
}

#[test]
fn a_url_from_a_reply_on_another_host_never_gets_the_key() {
    // A queue whose status URL points at another server: it is polled, without the key.
    let elsewhere =
        server(|_, _, _| Reply::json(200, &json!({"status": "COMPLETED", "id": "x-1"})));
    let other = elsewhere.url("");
    let queue = server(move |_, _, _| {
        Reply::json(
            200,
            &json!({"request_id": "r", "status_url": format!("{other}/status"),
                    "response_url": format!("{other}/result")}),
        )
    });
    let config = format!(
        "[providers.fal]\npreset = \"fal-queue\"\nbase_url = \"{}\"\napi_key_env = \"FAL_TEST_KEY\"\nvars = {{ model = \"m\" }}\nsubmit = {{ body = '{{\"name\": \"{{name}}\"}}' }}\n[providers.fal.poll]\ninterval_s = 0.05\n",
        queue.url("")
    );
    let env = Env::new(&config).set("FAL_TEST_KEY", KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "fal", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        queue.requests()[0].header("authorization"),
        Some(format!("Key {KEY}").as_str())
    );
    let away = elsewhere.requests();
    assert_eq!(away.len(), 2, "{away:?}");
    for q in away {
        assert!(q.header("authorization").is_none(), "{q:?}");
    }
}

#[test]
fn kie_task_uploads_as_multipart_creates_a_task_and_reads_the_id_inside_result_json() {
    let uploads = server(|req, _, base| {
        Reply::json(
            200,
            &json!({"success": true, "code": 200, "msg": "File uploaded successfully",
                    "data": {"fileName": "x", "filePath": format!("castbook{}", req.path),
                             "downloadUrl": format!("{base}/tmp/castbook/clip.mp4"),
                             "fileSize": 1, "mimeType": "video/mp4",
                             "uploadedAt": "2026-11-29T02:00:00.000Z"}}),
        )
    });
    let polls = Arc::new(Mutex::new(0usize));
    let p = polls.clone();
    let api = server(
        move |req, _, _| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/v1/jobs/createTask") => Reply::json(
                200,
                &json!({"code": 200, "msg": "success", "data": {"taskId": "task_k1"}}),
            ),
            ("GET", "/api/v1/jobs/recordInfo?taskId=task_k1") => {
                let mut n = p.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    Reply::json(
                        200,
                        &json!({"code": 200, "message": "success",
                    "data": {"taskId": "task_k1", "state": "generating", "resultJson": "", "failMsg": ""}}),
                    )
                } else {
                    Reply::json(
                        200,
                        &json!({"code": 200, "message": "success",
                    "data": {"taskId": "task_k1", "state": "success",
                             "resultJson": "{\"character_id\":\"kie.char_88\",\"resultUrls\":[]}",
                             "failCode": "", "failMsg": ""}}),
                    )
                }
            }
            _ => Reply::status(404, "text/plain", "no"),
        },
    );
    let config = format!(
        "[providers.kie]\npreset = \"kie-task\"\nbase_url = \"{}\"\napi_key_env = \"KIE_TEST_KEY\"\n[providers.kie.vars]\nmodel = \"character-maker\"\nupload_host = \"{}\"\n[providers.kie.poll]\ninterval_s = 0.05\n",
        api.url(""),
        uploads.url("")
    );
    let env = Env::new(&config).set("KIE_TEST_KEY", KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kie", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["kie"]["id"], "kie.char_88");

    let bearer = format!("Bearer {KEY}");
    let up = &uploads.requests()[0];
    assert_eq!(
        (up.method.as_str(), up.path.as_str()),
        ("POST", "/api/file-stream-upload")
    );
    assert_eq!(up.header("authorization"), Some(bearer.as_str()));
    let parts = multipart_parts(up);
    let field = |n: &str| {
        parts
            .iter()
            .find(|p| p.name == n)
            .unwrap_or_else(|| panic!("{n}: {parts:?}"))
    };
    assert_eq!(field("uploadPath").data, b"castbook");
    assert_eq!(field("fileName").data, format!("{id}.mp4").as_bytes());
    let file = field("file");
    assert_eq!(file.filename.as_deref(), Some(format!("{id}.mp4").as_str()));
    assert_eq!(file.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(
        file.data,
        std::fs::read(env.library().join(&id).join("clip.mp4")).unwrap()
    );

    let reqs = api.requests();
    let shape: Vec<(&str, &str)> = reqs
        .iter()
        .map(|q| (q.method.as_str(), q.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", "/api/v1/jobs/createTask"),
            ("GET", "/api/v1/jobs/recordInfo?taskId=task_k1"),
            ("GET", "/api/v1/jobs/recordInfo?taskId=task_k1"),
        ]
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&reqs[0].body).unwrap(),
        json!({"model": "character-maker",
               "input": {"character_file_url": uploads.url("/tmp/castbook/clip.mp4"),
                         "character_prompt": "Wolf"}})
    );
    for q in &reqs {
        assert_eq!(q.header("authorization"), Some(bearer.as_str()));
    }
    assert_key_nowhere(&env, &[&r]);
}

#[test]
fn kie_task_failure_and_an_upload_refusal_say_the_providers_message() {
    let uploads = server(|_, _, _| {
        Reply::json(
            200,
            &json!({"success": false, "code": 413, "msg": "file too large for this plan"}),
        )
    });
    let api = server(|_, _, _| Reply::status(404, "text/plain", "unused"));
    let config = format!(
        "[providers.kie]\npreset = \"kie-task\"\nbase_url = \"{}\"\napi_key_env = \"KIE_TEST_KEY\"\nvars = {{ model = \"m\", upload_host = \"{}\" }}\n",
        api.url(""),
        uploads.url("")
    );
    let env = Env::new(&config).set("KIE_TEST_KEY", KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let r = env.run(&["register", &id, "--provider", "kie", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("file too large for this plan"), "{msg}");
    assert!(api.requests().is_empty(), "nothing was submitted");
}

#[test]
fn config_errors_name_the_file_the_line_and_the_key() {
    for (table, line, needle) in [
        (
            "[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"http://127.0.0.1:9\"\n\n[providers.kling.poll]\nintervl_s = 1\n",
            "line 6",
            "poll.intervl_s",
        ),
        (
            "[providers.kling]\npreset = \"kling-element\"\n",
            "line 2",
            "kling-elements, fal-queue, kie-task",
        ),
        (
            "[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"http://127.0.0.1:9\"\nsubmit.url = \"{base_url}/x/{tsk}\"\n",
            "line 4",
            "{tsk}",
        ),
        (
            "[providers.fal]\npreset = \"fal-queue\"\n",
            "line 1",
            "vars.model",
        ),
    ] {
        let env = Env::new(table);
        let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
        let provider = table.split(['.', ']']).nth(1).unwrap();
        let r = env.run(&["register", &id, "--provider", provider, "--json"]);
        assert_eq!(r.code, 3, "{r:?}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("config.toml"), "{msg}");
        assert!(msg.contains(line), "{line}: {msg}");
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

#[test]
fn a_schema_1_record_reads_as_before_and_is_written_as_schema_2_keeping_unknown_fields() {
    let env = Env::new("");
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let path = env.library().join(&id).join("character.json");
    let mut v = record(&env, &id);
    v["schema"] = json!(1);
    v["provider_ids"] = json!({"sora": "remote-1", "mine": "cmd-7"});
    v["future_field"] = json!({"nested": [1, 2.5]});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let show = env.run(&["show", &id, "--json"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["provider_ids"]["sora"]["id"], "remote-1");
    assert_eq!(show.json()["provider_ids"]["sora"]["expired"], false);
    let csv = env.run(&["export"]);
    assert!(csv.stdout.contains("mine=cmd-7;sora=remote-1"), "{csv:?}");
    // Reading changed nothing on disk.
    assert_eq!(record(&env, &id)["schema"], 1);

    let e = env.run(&["edit", &id, "--notes", "edited"]);
    assert_eq!(e.code, 0, "{e:?}");
    let after = record(&env, &id);
    assert_eq!(after["schema"], 2);
    assert_eq!(after["provider_ids"]["sora"], json!({"id": "remote-1"}));
    assert_eq!(after["provider_ids"]["mine"], json!({"id": "cmd-7"}));
    assert_eq!(after["future_field"], json!({"nested": [1, 2.5]}));
    assert_eq!(after["notes"], "edited");
}

#[test]
fn an_expired_registration_is_shown_as_expired_and_register_makes_it_again() {
    let api = kling_api(0);
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let path = env.library().join(&id).join("character.json");
    let mut v = record(&env, &id);
    v["provider_ids"] = json!({
        "kling": {"id": "111", "registered_at": "2026-01-01T00:00:00Z", "expires_at": "2026-02-01T00:00:00Z"},
        "later": {"id": "222", "registered_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z"}
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let show = env.run(&["show", &id]);
    assert!(
        show.stdout
            .contains("kling: 111  registered 2026-01-01T00:00:00Z  EXPIRED 2026-02-01T00:00:00Z"),
        "{show:?}"
    );
    assert!(
        show.stdout
            .contains(&format!("castbook register {id} --provider kling")),
        "{show:?}"
    );
    assert!(
        show.stdout
            .contains("later: 222  registered 2026-01-01T00:00:00Z  expires 2099-01-01T00:00:00Z"),
        "{show:?}"
    );
    assert!(
        !show
            .stdout
            .contains("later: 222  registered 2026-01-01T00:00:00Z  EXPIRED"),
        "{show:?}"
    );
    let j = env.run(&["show", &id, "--json"]).json();
    assert_eq!(j["provider_ids"]["kling"]["expired"], true);
    assert_eq!(j["provider_ids"]["later"]["expired"], false);
    // The JSON of show adds `expired`; the record on disk does not keep it.
    assert!(
        record(&env, &id)["provider_ids"]["kling"]
            .get("expired")
            .is_none()
    );

    // An expired registration is made again; a live one is not.
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("expired 2026-02-01T00:00:00Z: registering again"),
        "{r:?}"
    );
    assert_eq!(r.json()["provider_ids"]["kling"]["id"], ELEMENT_ID);
    assert_eq!(r.json()["provider_ids"]["later"]["id"], "222");
    let again = env.run(&["register", &id, "--provider", "kling"]);
    assert!(again.stderr.contains("already registered"), "{again:?}");
    assert_eq!(
        api.requests().iter().filter(|q| q.method == "POST").count(),
        1
    );
}

#[test]
fn ctrl_c_after_the_submit_says_the_remote_job_may_still_finish_and_how_to_check() {
    let api = server(|req, _, _| match req.method.as_str() {
        "POST" => kling_submitted("task-c"),
        _ => kling_status("task-c", "processing", json!({})),
    });
    let files = file_host();
    let env = env_with(&kling_config(&api, &files, ""));
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let child = env
        .command(&["register", &id, "--provider", "kling", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if api.requests().iter().any(|q| q.method == "GET") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        api.requests().iter().any(|q| q.method == "GET"),
        "it never polled"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["error"]["code"], "cancelled");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("task-c") && msg.contains("may still finish"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "GET {}",
            api.url("/v1/general/advanced-custom-elements/task-c")
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("castbook register {id} --provider kling")),
        "{msg}"
    );
    assert!(
        record(&env, &id)["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_step_reports_its_progress() {
    use castbook::config::Config;
    use castbook::library::Library;
    use castbook::pipeline::job::{CreateOptions, Origin, create_file};
    use castbook::pipeline::{JobEvent, Reporter, Stage};
    use castbook::provider::{Registry, register_character};
    use tokio_util::sync::CancellationToken;

    let api = kling_api(2);
    let files = file_host();
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path().join("lib")).unwrap();
    let clip = fixture("bigbuckbunny.mp4");
    let cancel = CancellationToken::new();
    let created = create_file(
        &lib,
        &clip,
        Origin::Path(clip.clone()),
        &CreateOptions {
            name: "Wolf".into(),
            ..Default::default()
        },
        &mut Reporter::silent(),
        &cancel,
    )
    .unwrap();
    let text = kling_config(&api, &files, "").replace(
        "api_key_env = \"KLING_TEST_KEY\"",
        &format!("api_key = \"{KEY}\""),
    );
    let registry = Registry::from_config(&Config::parse(&text).unwrap()).unwrap();
    let provider = registry.get("kling").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (updated, reg) = rt
        .block_on(register_character(
            &lib,
            provider,
            &created.character,
            &mut Reporter::new(tx),
            &cancel,
        ))
        .unwrap();
    assert_eq!(reg.remote_id, ELEMENT_ID);
    assert_eq!(updated.provider_ids["kling"], ELEMENT_ID);
    let mut events = Vec::new();
    while let Ok(JobEvent::Progress(p)) = rx.try_recv() {
        events.push(p);
    }
    assert!(
        events.iter().all(|p| p.stage == Stage::Register),
        "{events:?}"
    );
    let messages: Vec<&str> = events.iter().map(|p| p.message.as_str()).collect();
    let at = |prefix: &str| {
        messages
            .iter()
            .position(|m| m.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {messages:?}"))
    };
    let upload = at(&format!("uploading {}.mp4: ", updated.id));
    let submitted = at("submitted (task task-77)");
    let polling = at("polling (task task-77): processing, ");
    let registered = at("registered with kling");
    assert!(
        upload < submitted && submitted < polling && polling < registered,
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("uploading") && m.ends_with("865 KB of 865 KB")),
        "{messages:?}"
    );
    // The bar only moves forward.
    let fractions: Vec<f32> = events.iter().map(|p| p.fraction).collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(*fractions.last().unwrap(), 1.0);
}

#[test]
fn a_provider_that_takes_urls_without_hosting_or_upload_stops_before_any_work() {
    let api = kling_api(0);
    let env = env_with(&format!(
        "[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"{}\"\napi_key_env = \"KLING_TEST_KEY\"\n",
        api.url("")
    ));
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        "Wolf",
        "--provider",
        "kling",
        "--json",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("[hosting]") && msg.contains("[upload]"),
        "{msg}"
    );
    assert!(env.characters().is_empty(), "nothing was created");
    assert!(api.requests().is_empty());
}

#[test]
fn kling_elements_through_real_s3_hosting_sends_a_presigned_url_that_serves_the_clip() {
    let store = s3::S3::start("cast");
    let api = kling_api(1);
    // The registration refers to the hosted URL here, so it expires with it.
    let config = format!(
        "{}[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"{}\"\napi_key_env = \"KLING_TEST_KEY\"\n\
         [providers.kling.poll]\ninterval_s = 0.05\n[providers.kling.result]\nrefers_to_url = true\n",
        store.config("T_S3_KEY", "T_S3_SECRET", "2h"),
        api.url("")
    );
    let env = env_with(&config)
        .set("T_S3_KEY", s3::ACCESS_KEY)
        .set("T_S3_SECRET", s3::SECRET_KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), "Wolf");
    let before = std::time::SystemTime::now();
    let r = env.run(&["register", &id, "--provider", "kling", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");

    let rec = record(&env, &id);
    let clip_hash = rec["clip"]["blake3"].as_str().unwrap().to_string();
    let body: Value = serde_json::from_slice(&api.requests()[0].body).unwrap();
    let url = body["element_video_list"]["refer_videos"][0]["video_url"]
        .as_str()
        .unwrap()
        .to_string();
    // A presigned URL of the content-addressed object on the store, readable with plain HTTP.
    assert!(
        url.starts_with(&format!(
            "{}/cast/castbook/{clip_hash}.mp4?",
            store.endpoint()
        )),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let clip = std::fs::read(env.library().join(&id).join("clip.mp4")).unwrap();
    assert_eq!(s3::get(&url), (200, clip.clone()));
    assert_eq!(
        std::fs::read(store.object_path(&format!("castbook/{clip_hash}.mp4"))).unwrap(),
        clip
    );
    // Without the signature the store refuses it.
    assert_eq!(s3::get(url.split('?').next().unwrap()).0, 403);

    // The registration depends on that URL: its expiry is the URL's (2 h), the URL is kept
    // without its signature.
    let entry = &rec["provider_ids"]["kling"];
    assert_eq!(entry["id"], ELEMENT_ID);
    assert_eq!(
        entry["depends_on_url"],
        format!("{}/cast/castbook/{clip_hash}.mp4", store.endpoint())
    );
    let until = humantime::parse_rfc3339(entry["expires_at"].as_str().unwrap()).unwrap();
    let ttl = until.duration_since(before).unwrap().as_secs();
    assert!((7100..=7201).contains(&ttl), "{ttl}");
    // Neither the provider's key nor the store's secret is in the record or the output, and
    // the provider never saw the store's keys.
    assert_key_nowhere(&env, &[&r]);
    for (path, bytes) in env.library_files() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(s3::SECRET_KEY), "{}", path.display());
    }
    assert!(!r.all().contains(s3::SECRET_KEY));
    for q in api.requests() {
        let all = format!("{q:?}");
        assert!(!all.contains(s3::SECRET_KEY), "{all}");
    }
    let show = env.run(&["show", &id]);
    assert!(show.stdout.contains("  expires "), "{show:?}");
    assert!(!show.stdout.contains("X-Amz-Signature"), "{show:?}");
}

#[test]
fn hosting_keys_missing_from_the_environment_stop_the_registration_before_any_work() {
    let store = s3::S3::start("cast");
    let api = kling_api(0);
    let config = format!(
        "{}[providers.kling]\npreset = \"kling-elements\"\nbase_url = \"{}\"\napi_key_env = \"KLING_TEST_KEY\"\n",
        store.config("T_S3_KEY", "T_S3_SECRET", "2h"),
        api.url("")
    );
    let env = env_with(&config);
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        "Wolf",
        "--provider",
        "kling",
        "--json",
    ]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("T_S3_KEY"), "{msg}");
    assert!(env.characters().is_empty());
    assert!(api.requests().is_empty());
}

#[test]
fn a_hand_written_http_provider_with_a_custom_key_header_and_no_poll() {
    let api = server(|_, _, _| Reply::json(201, &json!({"character": {"id": "gw:wolf-1"}})));
    let config = format!(
        r#"[providers.gw]
kind = "http"
base_url = "{}"
api_key_env = "GW_TEST_KEY"
auth_header = "X-API-Key"
auth_value = "{{key}}"
vars = {{ model = "cast-1" }}
[providers.gw.submit]
url = "{{base_url}}/v2/characters?model={{model}}&ref={{id}}"
headers = {{ "X-Client" = "castbook {{id}}" }}
body = '{{"name": "{{name}}", "about": "{{description:10}}", "n": 2, "tags": ["a", "{{id}}"]}}'
[providers.gw.result]
id_pointer = "/character/id"
"#,
        api.url("")
    );
    let env = Env::new(&config).set("GW_TEST_KEY", KEY);
    let id = saved(&env, &fixture("bigbuckbunny.mp4"), NAME);
    let r = env.run(&["register", &id, "--provider", "gw", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["gw"]["id"], "gw:wolf-1");
    let reqs = api.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.path, format!("/v2/characters?model=cast-1&ref={id}"));
    assert_eq!(q.header("x-api-key"), Some(KEY));
    assert!(q.header("authorization").is_none(), "{q:?}");
    assert_eq!(
        q.header("x-client"),
        Some(format!("castbook {id}").as_str())
    );
    assert_eq!(
        String::from_utf8(q.body.clone()).unwrap(),
        format!(
            r#"{{"name":"Wolf \"Ace\" O'Hara the Brave","about":"a grey wol","n":2,"tags":["a","{id}"]}}"#
        )
    );
    assert_key_nowhere(&env, &[&r]);
}

#[test]
fn registrations_travel_whole_in_a_pack_and_a_hostile_one_is_refused_on_import() {
    let a = Env::new("");
    let id = saved(&a, &fixture("bigbuckbunny.mp4"), "Wolf");
    let path = a.library().join(&id).join("character.json");
    let mut v = record(&a, &id);
    let entry = json!({"id": ELEMENT_ID, "registered_at": "2026-11-02T10:00:00Z",
                       "expires_at": "2099-01-01T00:00:00Z",
                       "depends_on_url": "https://store.example/cast/castbook/ab.mp4",
                       "region": "sg"});
    v["provider_ids"] = json!({ "kling": entry });
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let file = a.dir.path().join("wolf.castpack");
    let p = a.run(&["pack", &id, "--output", file.to_str().unwrap()]);
    assert_eq!(p.code, 0, "{p:?}");

    let b = Env::new("");
    let i = b.run(&["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(i.code, 0, "{i:?}");
    assert_eq!(record(&b, &id)["provider_ids"]["kling"], entry);

    // The same character with a remote ID castbook will not store: refused, nothing imported.
    v["provider_ids"]["kling"]["id"] = json!("../../etc/passwd");
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let bad = a.dir.path().join("bad.castpack");
    let p = a.run(&["pack", &id, "--output", bad.to_str().unwrap()]);
    assert_eq!(p.code, 0, "{p:?}");
    let c = Env::new("");
    let i = c.run(&["import", bad.to_str().unwrap(), "--json"]);
    assert_ne!(i.code, 0, "{i:?}");
    assert!(i.all().contains("path separator"), "{i:?}");
    assert!(c.characters().is_empty());
}

#[test]
fn importing_a_live_registration_replaces_an_expired_one_but_never_a_live_one() {
    let a = Env::new("");
    let id = saved(&a, &fixture("bigbuckbunny.mp4"), "Wolf");
    let set = |env: &Env, entries: Value| {
        let path = env.library().join(&id).join("character.json");
        let mut v = record(env, &id);
        v["provider_ids"] = entries;
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    };
    let live = json!({"id": "new-1", "registered_at": "2026-11-20T10:00:00Z", "expires_at": "2099-01-01T00:00:00Z"});
    let expired = json!({"id": "old-1", "registered_at": "2026-01-01T10:00:00Z", "expires_at": "2026-02-01T00:00:00Z"});
    let other_live = json!({"id": "mine-1", "registered_at": "2026-11-01T10:00:00Z"});
    set(&a, json!({"kling": live, "fal": live}));
    let file = a.dir.path().join("wolf.castpack");
    assert_eq!(
        a.run(&["pack", &id, "--output", file.to_str().unwrap()])
            .code,
        0
    );

    // B has the same character: kling expired, fal live under another ID.
    let b = Env::new("");
    assert_eq!(saved(&b, &fixture("bigbuckbunny.mp4"), "Wolf"), id);
    set(&b, json!({"kling": expired, "fal": other_live}));
    let i = b.run(&["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(i.code, 0, "{i:?}");
    let r = &i.json()[0];
    assert_eq!(r["status"], "merged", "{r}");
    assert_eq!(r["providers_added"], json!(["kling"]));
    assert_eq!(r["providers_differ"], json!(["fal"]));
    let after = record(&b, &id);
    assert_eq!(after["provider_ids"]["kling"], live);
    assert_eq!(after["provider_ids"]["fal"], other_live);
}
