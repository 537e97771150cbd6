//! URL input end to end: the castbook binary against a real HTTP server on 127.0.0.1.

#[path = "server/mod.rs"]
mod common;

use std::time::Duration;

use common::{Env, Reply, Server, fixture};

/// Short limits so failing downloads end quickly.
const FAST: &str = "[fetch]\nidle_timeout_s = 0.5\nconnect_timeout_s = 2\n";

fn clip() -> Vec<u8> {
    std::fs::read(fixture("bigbuckbunny.mp4")).unwrap()
}

/// Nothing saved and nothing left in the work area.
fn assert_nothing_left(env: &Env) {
    assert!(env.characters().is_empty(), "{:?}", env.characters());
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
}

fn assert_fetch_error(env: &Env, r: &common::Run, needle: &str) {
    assert_eq!(r.code, 5, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "fetch", "{r:?}");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    assert_nothing_left(env);
}

#[test]
fn served_clip_is_created_with_url_and_hash() {
    let body = clip();
    let served = body.clone();
    let server = Server::start(move |req, _| {
        assert_eq!(req.path, "/clips/bunny.mp4");
        Reply::status(200, "application/octet-stream", served.clone())
    });
    let env = Env::new("");
    let url = server.url("/clips/bunny.mp4");
    let r = env.run(&["create", &url, "--name", "Bunny", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rec = r.json();
    assert_eq!(rec["source"]["url"], url.as_str());
    assert!(rec["source"].get("path").is_none());
    assert_eq!(rec["source"]["size_bytes"], body.len() as u64);
    assert_eq!(
        rec["source"]["blake3"],
        blake3::hash(&body).to_hex().as_str()
    );
    let id = rec["id"].as_str().unwrap();
    assert!(env.library().join(id).join("clip.mp4").is_file());
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );

    // The same URL, start and name again: the same character, nothing duplicated.
    let again = env.run(&["create", &url, "--name", "Bunny", "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["id"], id);
    assert_eq!(env.characters().len(), 1);
}

#[test]
fn probe_of_a_url_reports_the_rules_and_leaves_nothing() {
    let body = clip();
    let server = Server::start(move |_, _| Reply::status(200, "video/mp4", body.clone()));
    let env = Env::new("");
    let url = server.url("/bunny.mp4");
    let r = env.run(&["probe", &url, "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(j["valid"], true);
    assert_eq!(j["checks"].as_array().unwrap().len(), 5);
    assert_eq!(j["metadata"]["path"], url.as_str());
    assert!(!env.library().exists(), "probe must not create a library");
}

#[test]
fn not_found_is_a_fetch_error() {
    let server = Server::start(|_, _| Reply::status(404, "text/plain", "no"));
    let env = Env::new("");
    let r = env.run(&["create", &server.url("/gone.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "HTTP 404");
}

#[test]
fn server_error_is_a_fetch_error() {
    let server = Server::start(|_, _| Reply::status(500, "text/plain", "boom"));
    let env = Env::new("");
    let r = env.run(&["create", &server.url("/a.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "HTTP 500");
    // Human output: one error line on stderr, nothing on stdout.
    let h = env.run(&["create", &server.url("/a.mp4"), "--name", "x"]);
    assert_eq!(h.code, 5);
    assert!(h.stdout.is_empty(), "{h:?}");
    assert_eq!(
        h.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{h:?}"
    );
}

#[test]
fn refused_connection_is_a_fetch_error() {
    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::new("");
    let url = format!("http://127.0.0.1:{port}/a.mp4");
    let r = env.run(&["create", &url, "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "refused");
}

#[test]
fn trickling_server_hits_the_idle_timeout() {
    let body = clip();
    let server = Server::start(move |_, _| Reply::Trickle {
        body: body.clone(),
        first: 1000,
        pause: Duration::from_secs(20),
    });
    let env = Env::new(FAST);
    let r = env.run(&["create", &server.url("/slow.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "no data for 0.5 s");
}

#[test]
fn a_download_over_the_cap_is_stopped_at_the_cap() {
    // No Content-Length: the cap is found while streaming.
    let server = Server::start(|_, _| Reply::Endless {
        limit: 2_000_000_000,
    });
    let env = Env::new("[fetch]\nmax_mb = 1\nidle_timeout_s = 5\n");
    let r = env.run(&["create", &server.url("/huge.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "over the 1.0 MB cap");
    // Stopped early: far less than the 2 GB on offer went out (socket buffers aside).
    let sent = server
        .bytes_written
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 64_000_000, "the server sent {sent} bytes");
}

#[test]
fn a_declared_size_over_the_cap_is_refused_before_downloading() {
    let server = Server::start(|_, _| Reply::Trickle {
        body: vec![0u8; 3_000_000],
        first: 0,
        pause: Duration::from_secs(20),
    });
    let env = Env::new("[fetch]\nmax_mb = 1\nidle_timeout_s = 5\n");
    let r = env.run(&["create", &server.url("/big.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "the server says the file is 3.0 MB");
}

#[test]
fn a_redirect_loop_is_a_fetch_error() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/a" => Reply::redirect("/b"),
        _ => Reply::redirect("/a"),
    });
    let env = Env::new("");
    let r = env.run(&["create", &server.url("/a"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "redirect loop");
}

#[test]
fn too_many_redirects_is_a_fetch_error_and_five_are_followed() {
    let body = clip();
    let server = Server::start(move |req, _| {
        let n: u32 = req.path.trim_start_matches("/r").parse().unwrap_or(0);
        if n == 0 {
            Reply::status(200, "video/mp4", body.clone())
        } else {
            Reply::redirect(&format!("/r{}", n - 1))
        }
    });
    let env = Env::new("");
    let r = env.run(&["create", &server.url("/r6"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "more than 5 redirects");
    let ok = env.run(&["create", &server.url("/r5"), "--name", "x", "--json"]);
    assert_eq!(ok.code, 0, "{ok:?}");
}

#[test]
fn an_html_page_is_not_a_video() {
    let server = Server::start(|_, _| {
        Reply::status(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><html><body>watch here</body></html>",
        )
    });
    let env = Env::new("");
    let url = server.url("/watch");
    let r = env.run(&["create", &url, "--name", "x", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "not_a_video");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with(&url), "{msg}");
    assert!(msg.contains("web page"), "{msg}");
    assert!(!msg.contains(".work"), "the temp path leaked: {msg}");
    assert_nothing_left(&env);
}

#[test]
fn a_download_cut_short_is_rejected_as_truncated() {
    let body = clip();
    let server = Server::start(move |_, _| Reply::CutShort {
        body: body.clone(),
        send: 300_000,
    });
    let env = Env::new("");
    let r = env.run(&["create", &server.url("/cut.mp4"), "--name", "x", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"]["code"], "decodable");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{r:?}"
    );
    assert_nothing_left(&env);
}

#[test]
fn a_truncated_file_served_whole_is_rejected() {
    // The server sends all it has, but the file itself was cut short.
    let mut body = clip();
    body.truncate(body.len() / 2);
    let env = Env::new("");
    let local = env.dir.path().join("half.mp4");
    std::fs::write(&local, &body).unwrap();
    let server = Server::start(move |_, _| Reply::status(200, "video/mp4", body.clone()));
    let r = env.run(&["create", &server.url("/half.mp4"), "--name", "x", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    // Rejected exactly like the same bytes in a local file.
    let l = env.run(&["create", local.to_str().unwrap(), "--name", "x", "--json"]);
    assert_eq!(l.code, 3, "{l:?}");
    assert_eq!(
        r.json()["error"]["code"],
        l.json()["error"]["code"],
        "{r:?}"
    );
    assert!(!r.stdout.contains(".work"), "the temp path leaked: {r:?}");
    assert_nothing_left(&env);
}

#[test]
fn only_http_and_https_are_urls() {
    let env = Env::new("");
    let r = env.run(&["create", "http://", "--name", "x", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "url");
}

#[test]
fn ctrl_c_during_a_download_leaves_nothing() {
    let body = clip();
    let server = Server::start(move |_, _| Reply::Trickle {
        body: body.clone(),
        first: 1000,
        pause: Duration::from_secs(30),
    });
    let env = Env::new("[fetch]\nidle_timeout_s = 60\n");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .arg("--library")
        .arg(env.library())
        .args(["create", &server.url("/slow.mp4"), "--name", "x"])
        .env("CASTBOOK_CONFIG", env.dir.path().join("config.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the download's temp file exists, then interrupt.
    let work = env.library().join(".work");
    let mut seen = false;
    for _ in 0..200 {
        let has_file = std::fs::read_dir(&work)
            .map(|rd| {
                rd.flatten().any(|e| {
                    e.path().is_dir()
                        && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some())
                })
            })
            .unwrap_or(false);
        if has_file {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen, "the download never started");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert_nothing_left(&env);
}

#[test]
fn download_reports_fetch_progress_with_bytes_and_total() {
    use castbook::pipeline::fetch::{FetchOptions, download};
    use castbook::pipeline::{JobEvent, Reporter, Stage};

    let body = clip();
    let len = body.len();
    let server = Server::start(move |_, _| Reply::status(200, "video/mp4", body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fetched = rt
        .block_on(download(
            &server.url("/bunny.mp4"),
            dir.path(),
            &FetchOptions::default(),
            &mut Reporter::new(tx),
            &tokio_util::sync::CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(fetched.size_bytes, len as u64);
    assert_eq!(std::fs::read(&fetched.path).unwrap(), clip());
    let mut events = Vec::new();
    while let Ok(JobEvent::Progress(p)) = rx.try_recv() {
        events.push(p);
    }
    assert!(events.iter().all(|p| p.stage == Stage::Fetch), "{events:?}");
    let last = events.last().expect("progress events");
    assert_eq!(last.fraction, 1.0);
    assert!(last.message.contains("1.1 MB of 1.1 MB"), "{last:?}");
    assert!(last.message.contains("/s"), "no rate: {last:?}");
}

#[test]
fn a_server_that_never_answers_is_a_fetch_error() {
    let server = Server::start(|_, _| {
        Reply::After(
            Duration::from_secs(20),
            Box::new(Reply::status(200, "video/mp4", "late")),
        )
    });
    let env = Env::new(FAST);
    let r = env.run(&["create", &server.url("/a.mp4"), "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "did not answer within");
}

#[test]
fn a_password_in_the_url_is_not_recorded_or_shown() {
    let body = clip();
    let server = Server::start(move |req, _| {
        // The credentials are sent as basic auth, not kept.
        assert!(
            req.header("authorization")
                .is_some_and(|a| a.starts_with("Basic "))
        );
        if req.path == "/missing.mp4" {
            Reply::status(404, "text/plain", "no")
        } else {
            Reply::status(200, "video/mp4", body.clone())
        }
    });
    let env = Env::new("");
    let url = format!("http://me:hunter2secret@{}/bunny.mp4", server.addr);
    let r = env.run(&["create", &url, "--name", "Bunny", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json()["source"]["url"],
        format!("http://me@{}/bunny.mp4", server.addr)
    );
    let missing = format!("http://me:hunter2secret@{}/missing.mp4", server.addr);
    let e = env.run(&["create", &missing, "--name", "Other", "--json"]);
    assert_eq!(e.code, 5, "{e:?}");
    for out in [r.all(), e.all()] {
        assert!(!out.contains("hunter2secret"), "{out}");
    }
    for (path, bytes) in env.library_files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2secret"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn https_to_a_server_that_does_not_speak_tls_is_a_clear_fetch_error() {
    let server = Server::start(|_, _| Reply::status(200, "video/mp4", "not tls"));
    let env = Env::new("");
    let url = format!("https://{}/a.mp4", server.addr);
    let r = env.run(&["create", &url, "--name", "x", "--json"]);
    assert_fetch_error(&env, &r, "secure (https) connection");
}

/// A server that sends a little every few milliseconds: never idle, never done.
fn dripping() -> Server {
    Server::start(|_, _| Reply::Drip {
        total: 50_000_000,
        chunk: 200,
        every: Duration::from_millis(20),
    })
}

#[test]
fn a_download_past_the_deadline_is_stopped() {
    let server = dripping();
    let env = Env::new("[fetch]\nidle_timeout_s = 30\ndeadline_s = 1.5\n");
    let url = server.url("/slow.mp4");
    let r = env.run(&["create", &url, "--name", "Slow", "--json"]);
    assert_fetch_error(&env, &r, "did not finish within 1.5 s");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("[fetch] deadline_s"), "{msg}");
    // Some bytes had arrived: the deadline, not the idle timeout, stopped it.
    assert!(msg.contains(" of 50 MB"), "{msg}");
    let r = env.run(&["probe", &url]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("deadline_s"), "{r:?}");
    // A deadline that is not a number of seconds is a config error.
    let bad = Env::new("[fetch]\ndeadline_s = -1\n");
    let r = bad.run(&["probe", &url]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("deadline_s"), "{r:?}");
}

#[test]
fn a_redirect_to_a_file_url_says_only_http_is_followed() {
    for to in ["file:///etc/passwd", "ftp://127.0.0.1/x.mp4"] {
        let target = to.to_string();
        let server = Server::start(move |_, _| Reply::redirect(&target));
        let env = Env::new(FAST);
        let r = env.run(&["create", &server.url("/a.mp4"), "--name", "X", "--json"]);
        assert_fetch_error(&env, &r, "only follows http and https");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(to), "{msg}");
        assert!(!msg.contains("302"), "{msg}");
    }
}

/// Entries in `dir` whose name starts with `castbook-fetch-`.
fn fetch_leftovers(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("castbook-fetch-")
        })
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_killed_probe_download_is_removed_by_the_next_run() {
    let server = dripping();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_s = tmp.path().to_str().unwrap().to_string();
    let env = Env::new("[fetch]\nidle_timeout_s = 30\n").set("TMPDIR", &tmp_s);
    let url = server.url("/slow.mp4");
    let mut child = env
        .command(&["probe", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until part of the download is on disk, then kill castbook outright.
    let partial = || {
        fetch_leftovers(tmp.path())
            .iter()
            .filter(|p| p.is_dir())
            .flat_map(|d| std::fs::read_dir(d).unwrap().flatten())
            .any(|f| f.metadata().is_ok_and(|m| m.len() > 0))
    };
    let t0 = std::time::Instant::now();
    while !partial() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no download began");
        assert!(child.try_wait().unwrap().is_none(), "probe ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!fetch_leftovers(tmp.path()).is_empty(), "nothing to clean");
    // The next run of any command removes it; other files in the temp dir stay.
    std::fs::write(tmp.path().join("someone-else.tmp"), b"x").unwrap();
    let r = env.run(&["list"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        fetch_leftovers(tmp.path()).is_empty(),
        "{:?}",
        fetch_leftovers(tmp.path())
    );
    assert!(tmp.path().join("someone-else.tmp").exists());
}

#[test]
fn a_running_probe_download_is_left_to_its_run() {
    let server = dripping();
    let tmp = tempfile::tempdir().unwrap();
    let tmp_s = tmp.path().to_str().unwrap().to_string();
    let env = Env::new("[fetch]\nidle_timeout_s = 30\n").set("TMPDIR", &tmp_s);
    let url = server.url("/slow.mp4");
    let mut child = env
        .command(&["probe", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !fetch_leftovers(tmp.path()).iter().any(|p| p.is_dir()) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no download began");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = fetch_leftovers(tmp.path());
    let r = env.run(&["list"]);
    assert_eq!(r.code, 0, "{r:?}");
    // Another castbook run must not take a live download away.
    for p in &before {
        assert!(
            p.exists(),
            "{} was removed under a running probe",
            p.display()
        );
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // Stopped by SIGTERM, it cleans up after itself.
    assert!(
        fetch_leftovers(tmp.path()).is_empty(),
        "{:?}",
        fetch_leftovers(tmp.path())
    );
}
