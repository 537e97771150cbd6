//! Hosting against a real S3-compatible server (s3s-fs on 127.0.0.1, which checks every
//! signature and the expiry of presigned URLs): content-addressed uploads done once, presigned
//! GET URLs that work with plain HTTP, unsigned and tampered requests refused, expired URLs
//! refused and signed anew from the record, and clear errors that never show the secret.

#[path = "s3/mod.rs"]
mod s3;
#[path = "server/mod.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use castbook::config::Config;
use castbook::error::ErrorKind;
use castbook::hosting::{self, Hosting};
use castbook::library::record::Character;
use s3::{ACCESS_KEY, S3, SECRET_KEY, get};
use server::{Reply, Server};

fn env(name: &str) -> Option<String> {
    match name {
        "T_S3_KEY" => Some(ACCESS_KEY.into()),
        "T_S3_SECRET" => Some(SECRET_KEY.into()),
        "T_S3_BAD_SECRET" => Some("not-the-secret-Zx81kQ0vB3nM".into()),
        _ => None,
    }
}

fn hosting(s3: &S3, ttl: &str) -> Hosting {
    let cfg = Config::parse(&s3.config("T_S3_KEY", "T_S3_SECRET", ttl)).unwrap();
    Hosting::from_config_env(&cfg, &env)
        .unwrap()
        .expect("[hosting] is set")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A file of `len` bytes that differ from file to file (`seed`), and its blake3.
fn file(dir: &Path, name: &str, len: usize, seed: u8) -> (PathBuf, String) {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32) as u8 ^ seed)
        .collect();
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    (p, blake3::hash(&bytes).to_hex().to_string())
}

#[test]
fn uploads_once_and_the_presigned_url_serves_the_bytes() {
    let s3 = S3::start("cast");
    let h = hosting(&s3, "7d");
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 300_000, 7);
    let rt = rt();

    let before = SystemTime::now();
    let first = rt.block_on(h.url_for(&clip, &hash)).unwrap();
    assert!(first.uploaded, "the first call uploads");
    assert_eq!(first.key, format!("castbook/{hash}.mp4"));
    // The object is in the bucket, byte for byte.
    let stored = s3.object_path(&first.key);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(&clip).unwrap()
    );
    // The expiry is the TTL from the signing time (whole seconds).
    let ttl = first.expires_at.duration_since(before).unwrap();
    assert!(
        ttl <= Duration::from_secs(7 * 24 * 3600) && ttl > Duration::from_secs(7 * 24 * 3600 - 120),
        "{ttl:?}"
    );
    assert!(first.url.contains("X-Amz-Signature="), "{}", first.url);
    assert!(first.url.contains("X-Amz-Expires=604800"), "{}", first.url);
    assert!(!first.url.contains(SECRET_KEY));
    let (status, body) = get(&first.url);
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&clip).unwrap());

    // The same bytes again: nothing is sent. The stored object is swapped for other bytes of
    // the same size behind castbook's back; a second upload would put the original back.
    let marker = vec![b'M'; 300_000];
    std::fs::write(&stored, &marker).unwrap();
    let second = rt.block_on(h.url_for(&clip, &hash)).unwrap();
    assert!(!second.uploaded, "the same bytes are not uploaded twice");
    assert_eq!(std::fs::read(&stored).unwrap(), marker, "no PUT was sent");
    let (status, body) = get(&second.url);
    assert_eq!(status, 200);
    assert_eq!(body, marker);

    // An object of another size under the key (a cut-short upload) is replaced.
    std::fs::write(&stored, b"short").unwrap();
    let third = rt.block_on(h.url_for(&clip, &hash)).unwrap();
    assert!(third.uploaded);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(&clip).unwrap()
    );

    // A keyframe gets its own key and content type.
    let (jpg, jhash) = file(dir.path(), "keyframes/01.jpg", 20_000, 3);
    let k = rt.block_on(h.url_for(&jpg, &jhash)).unwrap();
    assert_eq!(k.key, format!("castbook/{jhash}.jpg"));
    assert_eq!(get(&k.url).1, std::fs::read(&jpg).unwrap());
}

#[test]
fn unsigned_tampered_and_other_keys_are_refused() {
    let s3 = S3::start("cast");
    let h = hosting(&s3, "7d");
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 50_000, 11);
    let hosted = rt().block_on(h.url_for(&clip, &hash)).unwrap();

    // The object's URL without the signature.
    let bare = hosted.url.split('?').next().unwrap();
    assert_eq!(get(bare).0, 403, "an unsigned GET is refused");
    // The signature of another request.
    let sig_at = hosted.url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = hosted.url.clone();
    let c = if &tampered[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, c);
    assert_eq!(get(&tampered).0, 403, "a tampered signature is refused");
    // The same query on another key does not open it.
    let (other, other_hash) = file(dir.path(), "other.mp4", 50_000, 12);
    let other_url = rt().block_on(h.url_for(&other, &other_hash)).unwrap().url;
    let query = hosted.url.split_once('?').unwrap().1;
    let stolen = format!("{}?{query}", other_url.split('?').next().unwrap());
    assert_eq!(get(&stolen).0, 403, "a URL signs one object only");
}

#[test]
fn an_expired_url_is_refused_and_the_record_gets_a_new_one() {
    let s3 = S3::start("cast");
    let short = hosting(&s3, "1s");
    let dir = tempfile::tempdir().unwrap();
    let (_, hash) = file(dir.path(), "clip.mp4", 40_000, 5);
    let rt = rt();
    let mut record = character(&hash);

    let (old, changed) = rt
        .block_on(short.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    assert!(changed && old.uploaded);
    let kept = hosting::recorded(&record, &hash, short.store()).expect("the URL is recorded");
    assert_eq!(kept.url, old.url);
    assert_eq!(kept.expires_at, old.expires_at);
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["hosted"][&hash]["file"], "clip.mp4");
    assert_eq!(
        json["hosted"][&hash]["expires_at"],
        humantime::format_rfc3339_seconds(old.expires_at).to_string()
    );
    assert!(
        !json.to_string().contains(SECRET_KEY),
        "the secret is never written"
    );

    // Wait until the server's clock is past the expiry (with a second's slack).
    while SystemTime::now() < old.expires_at + Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&old.url).0, 403, "an expired URL is refused");

    // Needed again: the record's URL has expired, so a new one is signed (the bytes are
    // still there, so nothing is uploaded).
    let long = hosting(&s3, "7d");
    let (new, changed) = rt
        .block_on(long.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    assert!(changed, "the record gets the new URL");
    assert!(!new.uploaded);
    assert_ne!(new.url, old.url);
    assert!(new.expires_at > old.expires_at + Duration::from_secs(3600));
    assert_eq!(get(&new.url).0, 200);
    // Still good: handed out again from the record, without asking the store.
    drop(s3);
    let (again, changed) = rt
        .block_on(long.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    assert!(!changed);
    assert_eq!(again.url, new.url);
}

#[test]
fn an_expired_url_whose_object_is_gone_is_uploaded_again() {
    let s3 = S3::start("cast");
    let h = hosting(&s3, "7d");
    let dir = tempfile::tempdir().unwrap();
    let (_, hash) = file(dir.path(), "clip.mp4", 30_000, 9);
    let rt = rt();
    let mut record = character(&hash);
    let (first, _) = rt
        .block_on(h.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    // The store's lifecycle rule removed the object, and the recorded URL ran out.
    std::fs::remove_file(s3.object_path(&first.key)).unwrap();
    let past = SystemTime::now() - Duration::from_secs(60);
    let mut expired = first.clone();
    expired.expires_at = past;
    hosting::remember(&mut record, "clip.mp4", &hash, h.store(), &expired);
    let (new, changed) = rt
        .block_on(h.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    assert!(changed && new.uploaded, "the object is uploaded again");
    assert_eq!(
        get(&new.url),
        (200, std::fs::read(dir.path().join("clip.mp4")).unwrap())
    );
    // A record that says the object is somewhere else (written by hand, or in a pack from
    // elsewhere) does not get that URL handed out: it is signed anew for this store.
    let mut forged = new.clone();
    forged.url = format!("http://attacker.example/{}?X-Amz-Signature=1", new.key);
    hosting::remember(&mut record, "clip.mp4", &hash, h.store(), &forged);
    let (fixed, changed) = rt
        .block_on(h.url_in_record(&mut record, dir.path(), "clip.mp4", &hash))
        .unwrap();
    assert!(changed);
    assert!(fixed.url.starts_with(&s3.endpoint()), "{}", fixed.url);
    assert_eq!(get(&fixed.url).0, 200);
    // A URL recorded for another store is not handed out.
    assert!(hosting::recorded(&record, &hash, "http://elsewhere.example/b/").is_none());
}

#[test]
fn wrong_keys_and_no_server_are_clear_errors() {
    let s3 = S3::start("cast");
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 10_000, 1);
    let rt = rt();

    let cfg = Config::parse(&s3.config("T_S3_KEY", "T_S3_BAD_SECRET", "7d")).unwrap();
    let bad = Hosting::from_config_env(&cfg, &env).unwrap().unwrap();
    let err = rt.block_on(bad.url_for(&clip, &hash)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
    assert_eq!(err.exit_code(), 5);
    assert!(err.message.contains("HTTP 403"), "{}", err.message);
    assert!(
        err.message.contains("T_S3_KEY") && err.message.contains("T_S3_BAD_SECRET"),
        "the fix names the variables: {}",
        err.message
    );
    assert!(!err.message.contains("not-the-secret"), "{}", err.message);
    assert!(
        !s3.object_path(&Hosting::key_for(&clip, &hash).unwrap())
            .exists(),
        "nothing was stored"
    );

    let endpoint = s3.endpoint();
    drop(s3);
    let cfg = Config::parse(&format!(
        "[hosting]\nkind = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"cast\"\n\
         access_key_env = \"T_S3_KEY\"\nsecret_key_env = \"T_S3_SECRET\"\n"
    ))
    .unwrap();
    let h = Hosting::from_config_env(&cfg, &env).unwrap().unwrap();
    let err = rt.block_on(h.url_for(&clip, &hash)).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.message.contains("check endpoint"), "{}", err.message);
}

#[test]
fn a_changed_file_is_not_uploaded_under_the_old_hash() {
    let s3 = S3::start("cast");
    let h = hosting(&s3, "7d");
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 10_000, 2);
    std::fs::write(&clip, vec![0u8; 10_000]).unwrap();
    let err = rt().block_on(h.url_for(&clip, &hash)).unwrap_err();
    assert!(err.message.contains("changed since"), "{}", err.message);
    assert!(!s3.object_path(&format!("castbook/{hash}.mp4")).exists());
}

#[test]
fn config_errors_name_the_key_and_the_fix() {
    let none = Config::parse("").unwrap();
    assert!(Hosting::from_config_env(&none, &env).unwrap().is_none());
    let base = "[hosting]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\n\
                access_key_env = \"T_S3_KEY\"\nsecret_key_env = \"T_S3_SECRET\"\n";
    for (extra, want, code) in [
        ("url_ttl = \"30d\"\n", "7 days", 3),
        ("url_ttl = \"later\"\n", "not a duration", 3),
        ("url_style = \"sideways\"\n", "url_style", 3),
    ] {
        let cfg = Config::parse(&format!("{base}{extra}")).unwrap();
        let err = Hosting::from_config_env(&cfg, &env).unwrap_err();
        assert!(err.message.contains(want), "{}", err.message);
        assert_eq!(err.exit_code(), code);
    }
    let cfg = Config::parse(&base.replace("kind = \"s3\"", "kind = \"ftp\"")).unwrap();
    assert!(
        Hosting::from_config_env(&cfg, &env)
            .unwrap_err()
            .message
            .contains("kind = \"s3\"")
    );
    let cfg = Config::parse(&base.replace("T_S3_SECRET", "T_S3_UNSET")).unwrap();
    let err = Hosting::from_config_env(&cfg, &env).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.message.contains("T_S3_UNSET"), "{}", err.message);
    let err = Config::parse("[hosting]\nkind = \"s3\"\nbucket = \"b\"\nbukket = 1\n").unwrap_err();
    assert!(err.contains("bukket"), "{err}");
    let cfg =
        Config::parse("[hosting]\nkind = \"s3\"\nbucket = \"b\"\nregion = \"auto\"\n").unwrap();
    assert!(
        Hosting::from_config_env(&cfg, &env)
            .unwrap_err()
            .message
            .contains("endpoint")
    );
}

/// A minimal record whose clip has `hash`.
fn character(hash: &str) -> Character {
    serde_json::from_value(serde_json::json!({
        "schema": 1, "id": "char_aaaaaaaaaaaa", "name": "Hero",
        "created_at": "2026-11-27T10:00:00Z",
        "source": {"size_bytes": 1, "blake3": hash},
        "start_s": 0.0, "path_taken": "copy",
        "clip": {"path": "clip.mp4", "width": 1280, "height": 720, "duration_s": 4.0,
                 "fps": 25.0, "size_bytes": 1, "has_audio": false, "blake3": hash},
        "keyframes": [], "signature": {"version": 1}
    }))
    .unwrap()
}

fn scripted(server: &Server) -> Hosting {
    let cfg = Config::parse(&format!(
        "[hosting]\nkind = \"s3\"\nendpoint = \"{}\"\nbucket = \"cast\"\n\
         access_key_env = \"T_S3_KEY\"\nsecret_key_env = \"T_S3_SECRET\"\n",
        server.url("")
    ))
    .unwrap();
    Hosting::from_config_env(&cfg, &env).unwrap().unwrap()
}

fn s3_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::status(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

#[test]
fn a_missing_bucket_says_to_create_it() {
    // AWS answers a PUT into a bucket that does not exist with 404 NoSuchBucket.
    let server = Server::start(|req, _| match req.method.as_str() {
        "HEAD" => Reply::status(404, "application/xml", ""),
        _ => s3_error(404, "NoSuchBucket", "The specified bucket does not exist"),
    });
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 5_000, 4);
    let err = rt()
        .block_on(scripted(&server).url_for(&clip, &hash))
        .unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(
        err.message.contains("NoSuchBucket") && err.message.contains("create the bucket \"cast\""),
        "{}",
        err.message
    );
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["HEAD", "PUT"], "a 404 is not tried again");
}

#[test]
fn a_busy_store_is_tried_again_after_retry_after() {
    let server = Server::start(|req, n| match (req.method.as_str(), n) {
        ("HEAD", _) => Reply::status(404, "application/xml", ""),
        (_, 1) => s3_error(503, "SlowDown", "Please reduce your request rate")
            .with_header("Retry-After", "1"),
        _ => Reply::status(200, "application/xml", ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 70_000, 6);
    let hosted = rt()
        .block_on(scripted(&server).url_for(&clip, &hash))
        .unwrap();
    assert!(hosted.uploaded);
    let reqs = server.requests();
    let puts: Vec<_> = reqs.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 2, "the PUT is sent again after the 503");
    let bytes = std::fs::read(&clip).unwrap();
    for p in &puts {
        assert_eq!(
            p.path.split('?').next().unwrap(),
            format!("/cast/castbook/{hash}.mp4")
        );
        assert!(p.path.contains("X-Amz-Signature="), "{}", p.path);
        assert_eq!(p.body, bytes, "the whole file each time");
        assert_eq!(p.header("content-length"), Some("70000"));
        assert_eq!(p.header("content-type"), Some("video/mp4"));
        // The key is only in the signature's credential scope, never the secret.
        let all = format!("{} {:?}", p.path, p.headers);
        assert!(!all.contains(SECRET_KEY), "{all}");
    }
}

#[test]
fn a_head_refused_for_want_of_list_rights_still_uploads() {
    // Keys without s3:ListBucket get 403 (not 404) for an object that is not there.
    let server = Server::start(|req, _| match req.method.as_str() {
        "HEAD" => Reply::status(403, "application/xml", ""),
        _ => Reply::status(200, "application/xml", ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 2_000, 9);
    let hosted = rt()
        .block_on(scripted(&server).url_for(&clip, &hash))
        .unwrap();
    assert!(hosted.uploaded);
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["HEAD", "PUT"]);
}

#[test]
fn a_store_that_echoes_the_secret_has_it_removed_from_the_message() {
    let server = Server::start(|req, _| match req.method.as_str() {
        "HEAD" => Reply::status(404, "application/xml", ""),
        _ => s3_error(
            403,
            "SignatureDoesNotMatch",
            &format!("we computed it with {SECRET_KEY}"),
        ),
    });
    let dir = tempfile::tempdir().unwrap();
    let (clip, hash) = file(dir.path(), "clip.mp4", 1_000, 8);
    let err = rt()
        .block_on(scripted(&server).url_for(&clip, &hash))
        .unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(!err.message.contains(SECRET_KEY), "{}", err.message);
    assert!(err.message.contains("[redacted]"), "{}", err.message);
    assert!(err.message.contains("T_S3_SECRET"), "{}", err.message);
}
