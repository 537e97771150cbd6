//! Registering characters with providers end to end: the castbook binary against a real
//! OpenAI-compatible test server on 127.0.0.1, and `command` providers run through `sh`.

#[path = "server/mod.rs"]
mod common;

use std::time::Duration;

use common::{Env, Reply, Server, fixture, multipart_parts};
use serde_json::json;

const KEY: &str = "sk-test-Zq81vX0c4RkL9mWp2sTy";

fn openai_config(server: &Server, extra: &str) -> String {
    format!(
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"{}\"\ntimeout_s = 10\nmax_retries = 2\n{extra}",
        server.url("/v1")
    )
}

fn env_with(config: &str) -> Env {
    Env::new(config).set("OPENAI_API_KEY", KEY)
}

/// Create a character from the sample clip (no provider); returns its ID.
fn saved(env: &Env, name: &str) -> String {
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        name,
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    r.json()["id"].as_str().unwrap().to_string()
}

fn ok_reply(id: &str) -> Reply {
    Reply::json(
        200,
        &json!({"id": id, "name": "Wolf", "created_at": 1_764_230_400}),
    )
}

/// The key is in no file under the library and in no output.
fn assert_key_nowhere(env: &Env, runs: &[&common::Run]) {
    for (path, bytes) in env.library_files() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "the key is in {}", path.display());
        assert!(
            !text.contains("Zq81vX0c"),
            "part of the key is in {}",
            path.display()
        );
    }
    for r in runs {
        assert!(!r.all().contains(KEY), "the key is in the output: {r:?}");
        assert!(
            !r.all().contains("Zq81vX0c"),
            "part of the key is in the output: {r:?}"
        );
    }
}

#[test]
fn openai_create_with_provider_uploads_the_clip_as_multipart_with_the_bearer_key() {
    let server = Server::start(|_, _| ok_reply("char_remote_9f2a"));
    let env = env_with(&openai_config(&server, ""));
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        "Wolf",
        "--provider",
        "sora",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut lines = r.stdout.lines();
    let id = lines.next().unwrap().to_string();
    assert!(id.starts_with("char_") && id.len() == 17, "{r:?}");
    // How to use it with the provider: the remote ID, a prompt snippet, the JSON fragment.
    assert!(r.stdout.contains("char_remote_9f2a"), "{r:?}");
    assert!(r.stdout.contains("Wolf walks"), "{r:?}");
    assert!(
        r.stdout
            .contains(r#"{"characters":[{"id":"char_remote_9f2a"}]}"#),
        "{r:?}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/videos/characters");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let parts = multipart_parts(req);
    let name = parts.iter().find(|p| p.name == "name").expect("name part");
    assert_eq!(name.data, b"Wolf");
    let video = parts
        .iter()
        .find(|p| p.name == "video")
        .expect("video part");
    assert!(video.filename.is_some(), "{video:?}");
    assert_eq!(video.content_type.as_deref(), Some("video/mp4"));
    let clip = std::fs::read(env.library().join(&id).join("clip.mp4")).unwrap();
    assert_eq!(video.data, clip, "the uploaded bytes are the prepared clip");

    let show = env.run(&["show", &id, "--json"]);
    assert_eq!(
        show.json()["provider_ids"]["sora"]["id"],
        "char_remote_9f2a"
    );
    assert_key_nowhere(&env, &[&r, &show]);
}

#[test]
fn register_adds_to_provider_ids_and_prints_the_remote_id_first() {
    let server = Server::start(|_, _| ok_reply("remote-1"));
    let config = format!(
        "{}\n[providers.mine]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo '{{\\\"id\\\": \\\"cmd-7\\\"}}'\"]\n",
        openai_config(&server, "")
    );
    let env = env_with(&config);
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", "Wolf", "--provider", "sora"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().next(), Some("remote-1"), "{r:?}");
    let j = env.run(&["register", &id, "--provider", "mine", "--json"]);
    assert_eq!(j.code, 0, "{j:?}");
    let rec = j.json();
    assert_eq!(rec["provider_ids"]["sora"]["id"], "remote-1");
    assert_eq!(rec["provider_ids"]["mine"]["id"], "cmd-7");
    // Registering again with the same provider sends nothing.
    let again = env.run(&["register", &id, "--provider", "sora"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("already registered"), "{again:?}");
    assert_eq!(server.requests().len(), 1);
    assert_key_nowhere(&env, &[&r, &j, &again]);
}

#[test]
fn openai_401_is_a_clear_error_and_the_echoed_key_is_redacted() {
    let server = Server::start(|_, _| {
        Reply::json(
            401,
            &json!({"error": {"code": "invalid_api_key",
                              "message": format!("Incorrect API key provided: {KEY}. You can find your API key at the dashboard.")}}),
        )
    });
    let env = env_with(&openai_config(&server, ""));
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        "Wolf",
        "--provider",
        "sora",
        "--json",
    ]);
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "provider");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("401") && msg.contains("invalid_api_key"),
        "{msg}"
    );
    assert!(
        msg.contains("OPENAI_API_KEY"),
        "says where the key comes from: {msg}"
    );
    assert!(msg.contains("[redacted]"), "{msg}");
    // The character is kept, and the message says how to retry.
    let id = j["character"]["id"].as_str().unwrap();
    assert!(env.library().join(id).join("character.json").is_file());
    assert!(
        msg.contains(&format!("castbook register {id} --provider sora")),
        "{msg}"
    );
    assert!(
        j["character"]["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
    // Human output too: the ID on stdout, the error on stderr, no key anywhere.
    let h = env.run(&["register", id, "--provider", "sora"]);
    assert_eq!(h.code, 5, "{h:?}");
    assert!(h.stderr.contains("401"), "{h:?}");
    assert_key_nowhere(&env, &[&r, &h]);
}

#[test]
fn openai_429_with_retry_after_then_success() {
    let server = Server::start(|_, n| {
        if n == 0 {
            Reply::json(
                429,
                &json!({"error": {"code": "rate_limit_exceeded", "message": "slow down"}}),
            )
            .with_header("Retry-After", "1")
        } else {
            ok_reply("remote-429")
        }
    });
    let env = env_with(&openai_config(&server, ""));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["sora"]["id"], "remote-429");
    assert_eq!(server.requests().len(), 2);
    // The retry sent the whole clip again.
    let reqs = server.requests();
    assert_eq!(reqs[0].body.len(), reqs[1].body.len());
}

#[test]
fn openai_500_then_success() {
    let server = Server::start(|_, n| {
        if n == 0 {
            Reply::json(
                500,
                &json!({"error": {"code": "server_error", "message": "oops"}}),
            )
        } else {
            ok_reply("remote-500")
        }
    });
    let env = env_with(&openai_config(&server, ""));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["sora"]["id"], "remote-500");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn openai_500_forever_gives_up_after_bounded_retries() {
    let server = Server::start(|_, _| {
        Reply::json(
            503,
            &json!({"error": {"code": "server_error", "message": format!("overloaded (key {KEY})")}}),
        )
    });
    let env = env_with(&openai_config(&server, ""));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("503") && msg.contains("3 attempts"), "{msg}");
    // max_retries = 2: the first try and two retries.
    assert_eq!(server.requests().len(), 3);
    assert_key_nowhere(&env, &[&r]);
}

#[test]
fn openai_malformed_reply_is_an_error_that_is_not_retried() {
    let server = Server::start(|_, _| Reply::status(200, "application/json", "{\"ok\": tru"));
    let env = env_with(&openai_config(&server, ""));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains("expected JSON"), "{msg}");
    assert!(msg.contains("{\"ok\": tru"), "shows what came: {msg}");
    assert_eq!(j["character"]["id"], id.as_str());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn openai_slow_reply_after_the_upload_times_out_and_is_not_retried() {
    let server =
        Server::start(|_, _| Reply::After(Duration::from_secs(15), Box::new(ok_reply("late"))));
    let env = env_with(&openai_config(&server, "").replace("timeout_s = 10", "timeout_s = 0.5"));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("may exist remotely"), "{msg}");
    assert!(
        msg.contains("Wolf"),
        "names the character to look for: {msg}"
    );
    assert!(msg.contains("timeout_s"), "{msg}");
    assert_eq!(
        server.requests().len(),
        1,
        "the server saw exactly one request"
    );
    let show = env.run(&["show", &id, "--json"]);
    assert!(show.json()["provider_ids"].as_object().unwrap().is_empty());
}

#[test]
fn openai_refused_connection_is_retried_then_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmax_retries = 1\n"
    );
    let env = env_with(&config);
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("refused") && msg.contains("2 attempts"),
        "{msg}"
    );
}

#[test]
fn a_missing_key_or_unknown_provider_stops_create_before_any_work() {
    let server = Server::start(|_, _| ok_reply("never"));
    let env = Env::new(&openai_config(&server, ""));
    let clip = fixture("bigbuckbunny.mp4");
    let r = env.run(&[
        "create",
        clip.to_str().unwrap(),
        "--name",
        "W",
        "--provider",
        "sora",
        "--json",
    ]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
    let u = env.run(&[
        "create",
        clip.to_str().unwrap(),
        "--name",
        "W",
        "--provider",
        "nope",
        "--json",
    ]);
    assert_eq!(u.code, 3, "{u:?}");
    assert_eq!(u.json()["error"]["code"], "unknown_provider");
    assert!(env.characters().is_empty());
    assert!(server.requests().is_empty());
}

#[test]
fn api_key_env_names_another_variable() {
    let server = Server::start(|_, _| ok_reply("remote-env"));
    let env = Env::new(&openai_config(&server, "api_key_env = \"GATEWAY_KEY\"\n"))
        .set("GATEWAY_KEY", KEY);
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

fn command_config(script: &str) -> String {
    let script = script
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!(
        "[providers.mine]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"{script}\", \"sh\", \"{{clip}}\", \"{{name}}\", \"{{id}}\"]\n"
    )
}

#[test]
fn command_provider_gets_the_clip_name_and_id_and_its_id_is_recorded() {
    let script = r#"test -f "$1" || { echo "no clip at $1" >&2; exit 9; }
echo "uploading $1" >&2
printf '{"id": "mine-%s-%s"}\n' "$2" "$3""#;
    let env = Env::new(&command_config(script));
    let r = env.run(&[
        "create",
        fixture("bigbuckbunny.mp4").to_str().unwrap(),
        "--name",
        "Wolf",
        "--provider",
        "mine",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let rec = r.json();
    let id = rec["id"].as_str().unwrap();
    assert_eq!(rec["provider_ids"]["mine"]["id"], format!("mine-Wolf-{id}"));
}

#[test]
fn command_provider_nonzero_exit_shows_its_stderr() {
    let env = Env::new(&command_config(
        "echo 'quota exhausted for this account' >&2; exit 4",
    ));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "mine"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("exit code 4"), "{r:?}");
    assert!(
        r.stderr.contains("quota exhausted for this account"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains(&format!("castbook register {id} --provider mine")),
        "{r:?}"
    );
    assert!(r.stdout.is_empty(), "{r:?}");
}

#[test]
fn command_provider_garbage_on_stdout_is_an_error() {
    let env = Env::new(&command_config("echo 'all done, thanks'"));
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "mine", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "provider");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("all done, thanks") && msg.contains("\"id\""),
        "{msg}"
    );
    assert!(
        j["character"]["provider_ids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_broken_provider_table_names_the_file_and_the_provider() {
    let env = Env::new("[providers.sora]\nkind = \"openai\"\nbase_urll = \"http://x\"\n");
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("config.toml")
            && msg.contains("[providers.sora]")
            && msg.contains("base_urll"),
        "{msg}"
    );
}

#[test]
fn registration_reports_upload_progress() {
    use castbook::config::Config;
    use castbook::library::Library;
    use castbook::pipeline::job::{CreateOptions, Origin, create_file};
    use castbook::pipeline::{JobEvent, Reporter, Stage};
    use castbook::provider::{Registry, register_character};
    use tokio_util::sync::CancellationToken;

    let server = Server::start(|_, _| ok_reply("remote-progress"));
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
    let cfg = Config::parse(&format!(
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"{KEY}\"\n",
        server.url("/v1")
    ))
    .unwrap();
    let registry = Registry::from_config(&cfg).unwrap();
    let provider = registry.get("sora").unwrap();
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
    assert_eq!(reg.remote_id, "remote-progress");
    assert_eq!(reg.created_at, Some(1_764_230_400));
    assert_eq!(updated.provider_ids["sora"], "remote-progress");
    let mut events = Vec::new();
    while let Ok(JobEvent::Progress(p)) = rx.try_recv() {
        events.push(p);
    }
    assert!(
        events.iter().all(|p| p.stage == Stage::Register),
        "{events:?}"
    );
    let uploads: Vec<_> = events
        .iter()
        .filter(|p| p.message.starts_with("uploading"))
        .collect();
    assert!(uploads.len() >= 2, "{events:?}");
    assert!(
        uploads
            .last()
            .unwrap()
            .message
            .ends_with("865 KB of 865 KB"),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().fraction, 1.0);
    // The record on disk has the remote ID too.
    assert_eq!(
        lib.get(&updated.id).unwrap().unwrap().provider_ids["sora"],
        "remote-progress"
    );
}

#[test]
fn ctrl_c_during_registration_keeps_the_character() {
    let env = Env::new(&command_config("echo started > \"$1.started\"; sleep 30"));
    let id = saved(&env, "Wolf");
    let marker = env.library().join(&id).join("clip.mp4.started");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .arg("--library")
        .arg(env.library())
        .args(["register", &id, "--provider", "mine", "--json"])
        .env("CASTBOOK_CONFIG", env.dir.path().join("config.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(marker.exists(), "the command never started");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["error"]["code"], "cancelled");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("kept in the library") && msg.contains("castbook register"),
        "{msg}"
    );
    assert!(env.library().join(&id).join("character.json").is_file());
}

#[test]
fn openai_rejections_and_exhausted_quota_are_not_retried() {
    let server = Server::start(|req, _| {
        if req.path.starts_with("/quota") {
            Reply::json(
                429,
                &json!({"error": {"code": "insufficient_quota", "message": "You exceeded your current quota."}}),
            )
            .with_header("Retry-After", "30")
        } else {
            Reply::json(
                400,
                &json!({"error": {"code": "content_policy_violation", "message": "The clip appears to show a realistic human."}}),
            )
        }
    });
    let config = format!(
        "{}\n[providers.broke]\nkind = \"openai\"\nbase_url = \"{}\"\n",
        openai_config(&server, ""),
        server.url("/quota/v1")
    );
    let env = env_with(&config);
    let id = saved(&env, "Wolf");
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 5, "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("HTTP 400") && msg.contains("content_policy_violation"),
        "{msg}"
    );
    assert!(msg.contains("realistic human"), "{msg}");
    assert_eq!(server.requests().len(), 1);
    let q = env.run(&["register", &id, "--provider", "broke", "--json"]);
    assert_eq!(q.code, 5, "{q:?}");
    let msg = q.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("insufficient_quota") && msg.contains("credits"),
        "{msg}"
    );
    assert_eq!(
        server.requests().len(),
        2,
        "no retry after an exhausted quota"
    );
}

#[test]
fn create_from_a_url_and_register_in_one_command() {
    let clip = std::fs::read(fixture("bigbuckbunny.mp4")).unwrap();
    let server = Server::start(
        move |req, _| match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/media/wolf.mp4") => Reply::status(200, "video/mp4", clip.clone()),
            ("POST", "/v1/videos/characters") => ok_reply("remote-url"),
            _ => Reply::status(404, "text/plain", "no"),
        },
    );
    let env = env_with(&openai_config(&server, ""));
    let url = server.url("/media/wolf.mp4");
    let r = env.run(&[
        "create",
        &url,
        "--name",
        "Wolf",
        "--provider",
        "sora",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let rec = r.json();
    assert_eq!(rec["source"]["url"], url.as_str());
    assert_eq!(rec["provider_ids"]["sora"]["id"], "remote-url");
    let methods: Vec<String> = server.requests().iter().map(|q| q.method.clone()).collect();
    assert_eq!(methods, ["GET", "POST"]);
    // The key goes to the provider only, never to where the clip came from.
    assert!(server.requests()[0].header("authorization").is_none());
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
    assert_key_nowhere(&env, &[&r]);
}

/// The character's record as `show --json` prints it.
fn shown(env: &Env, id: &str) -> serde_json::Value {
    let r = env.run(&["show", id, "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.json()
}

/// A refused reply: exit 5, a `provider` error, nothing raw in the output, nothing stored.
fn assert_refused(env: &Env, id: &str, r: &common::Run, needle: &str) {
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
    let rec = shown(env, id);
    assert!(rec["provider_ids"].as_object().unwrap().is_empty(), "{rec}");
    assert!(
        env.library_files()
            .iter()
            .all(|(p, _)| !p.to_string_lossy().contains("passwd")),
        "a path from the reply was used"
    );
}

const HOSTILE_IDS: [(&str, &str); 5] = [
    ("\u{1b}]0;pwned\u{7}\u{1b}[2J", "control character U+001B"),
    ("../../x/../../etc/passwd", "path separator"),
    ("good\r\nX-Injected: 1", "control character U+000D"),
    ("", "empty"),
    ("..", "not an ID"),
];

#[test]
fn openai_remote_ids_that_are_not_plain_are_refused() {
    let env = env_with("");
    let id = saved(&env, "Wolf");
    for (remote, needle) in HOSTILE_IDS {
        let reply = json!({"id": remote, "name": "Wolf", "created_at": 1});
        let server = Server::start(move |_, _| Reply::json(200, &reply));
        std::fs::write(
            env.dir.path().join("config.toml"),
            openai_config(&server, ""),
        )
        .unwrap();
        let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
        if remote.is_empty() {
            // An empty ID was already refused as "not the expected JSON".
            assert_eq!(r.code, 5, "{r:?}");
            continue;
        }
        assert_refused(&env, &id, &r, needle);
        assert_eq!(server.requests().len(), 1, "not retried");
    }
    let long = "x".repeat(201);
    let reply = json!({"id": long, "name": "Wolf", "created_at": 1});
    let server = Server::start(move |_, _| Reply::json(200, &reply));
    std::fs::write(
        env.dir.path().join("config.toml"),
        openai_config(&server, ""),
    )
    .unwrap();
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_refused(&env, &id, &r, "200-character limit");
    // A plain ID is kept.
    let server = Server::start(|_, _| ok_reply("el_12:ab-3.x"));
    std::fs::write(
        env.dir.path().join("config.toml"),
        openai_config(&server, ""),
    )
    .unwrap();
    let r = env.run(&["register", &id, "--provider", "sora", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["provider_ids"]["sora"]["id"], "el_12:ab-3.x");
}

#[test]
fn command_remote_ids_that_are_not_plain_are_refused() {
    let env = Env::new("");
    let id = saved(&env, "Wolf");
    for (remote, needle) in HOSTILE_IDS {
        if remote.is_empty() {
            continue;
        }
        let printed = serde_json::to_string(&json!({ "id": remote })).unwrap();
        let script = format!("cat <<'EOF'\n{printed}\nEOF");
        std::fs::write(env.dir.path().join("config.toml"), command_config(&script)).unwrap();
        let r = env.run(&["register", &id, "--provider", "mine", "--json"]);
        assert_refused(&env, &id, &r, needle);
    }
}

/// castbook's own peak memory may not grow with a reply: well under what 50 MB would take.
const SMALL_RSS: u64 = 80_000_000;

#[test]
fn openai_a_huge_reply_is_cut_at_one_megabyte() {
    let env = env_with("");
    let id = saved(&env, "Wolf");
    for declared in [false, true] {
        let server = Server::start(move |_, _| {
            if declared {
                Reply::status(200, "application/json", vec![b' '; 50_000_000])
            } else {
                Reply::Endless { limit: 50_000_000 }
            }
        });
        std::fs::write(
            env.dir.path().join("config.toml"),
            openai_config(&server, ""),
        )
        .unwrap();
        let (r, rss) = env.run_measured(&["register", &id, "--provider", "sora", "--json"]);
        assert_refused(&env, &id, &r, "larger than 1 MB");
        eprintln!("castbook peak RSS: {:.1} MB", rss as f64 / 1e6);
        assert!(rss < SMALL_RSS, "castbook peaked at {rss} bytes");
        assert_eq!(server.requests().len(), 1, "not retried");
        // It stopped reading: far less than the 50 MB was taken from the server.
        assert!(
            server
                .bytes_written
                .load(std::sync::atomic::Ordering::SeqCst)
                < 45_000_000,
            "{} bytes were read",
            server
                .bytes_written
                .load(std::sync::atomic::Ordering::SeqCst)
        );
    }
}

#[test]
fn command_a_huge_stdout_is_cut_at_one_megabyte() {
    let env = Env::new(&command_config(
        "yes xxxxxxxxxxxxxxx | head -c 50000000; echo '{\"id\": \"late\"}'",
    ));
    let id = saved(&env, "Wolf");
    let (r, rss) = env.run_measured(&["register", &id, "--provider", "mine", "--json"]);
    assert_refused(&env, &id, &r, "more than 1 MB on stdout");
    eprintln!("castbook peak RSS: {:.1} MB", rss as f64 / 1e6);
    assert!(rss < SMALL_RSS, "castbook peaked at {rss} bytes");
}
