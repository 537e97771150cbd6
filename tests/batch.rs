//! `castbook import MANIFEST.csv` with the real binary: one character per row, a rejected
//! row in the middle does not stop the others (exit 3, the table says which and why), a re-run
//! creates nothing new, a bad manifest creates nothing, and Ctrl-C stops the batch keeping
//! what finished.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn write_manifest(env: &Env, name: &str, text: &str) -> std::path::PathBuf {
    let p = env.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn import_json(env: &Env, manifest: &Path) -> (Option<i32>, Value) {
    let out = env
        .cmd()
        .arg("import")
        .arg(manifest)
        .arg("--json")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

fn statuses(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_rejected_row_in_the_middle_leaves_the_others_created_and_a_rerun_creates_nothing() {
    let env = Env::new();
    let good = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    std::fs::copy(&good, env.path("hero.mp4")).unwrap();
    std::fs::copy(&good, env.path("villain.mp4")).unwrap();
    std::fs::copy(fixture("bikes.mp4"), env.path("small.mp4")).unwrap();
    let manifest = write_manifest(
        &env,
        "cast.csv",
        "clip,name,start,tags,notes\n\
         hero.mp4,Hero,,lead;day,\"tall, calm\"\n\
         small.mp4,Small,,,\n\
         villain.mp4,,,,\n",
    );
    let (code, v) = import_json(&env, &manifest);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(statuses(&v), ["created", "rejected", "created"], "{v}");
    assert_eq!(v[1]["code"], "resolution");
    assert!(v[1]["reason"].as_str().unwrap().contains("640x272"), "{v}");
    assert!(v[1].get("id").is_none());
    // The name from the file stem when the row gives none; tags split on ';'.
    assert_eq!(v[2]["name"], "villain");
    let hero = v[0]["id"].as_str().unwrap().to_string();
    let shown: Value = serde_json::from_slice(&env.run(&["show", &hero, "--json"]).stdout).unwrap();
    assert_eq!(shown["tags"], serde_json::json!(["lead", "day"]));
    assert_eq!(shown["notes"], "tall, calm");
    assert_eq!(env.characters().len(), 2);
    assert!(env.work_leftovers().is_empty());

    // Again: nothing new; the same rejection; the same IDs.
    let before = env.characters();
    let (code, again) = import_json(&env, &manifest);
    assert_eq!(code, Some(3));
    assert_eq!(statuses(&again), ["existing", "rejected", "existing"]);
    assert_eq!(again[0]["id"], hero.as_str());
    assert_eq!(env.characters(), before);

    // The human table: one line per row, its status first.
    let out = env.cmd().arg("import").arg(&manifest).output().unwrap();
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("already there") && lines[0].contains(&hero));
    assert!(lines[1].starts_with("rejected") && lines[1].contains("small.mp4"));

    // Without the bad row: exit 0.
    let ok = write_manifest(&env, "ok.csv", "clip,name\nhero.mp4,Hero\n");
    let (code, v) = import_json(&env, &ok);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(statuses(&v), ["existing"]);
}

#[test]
fn a_bad_manifest_creates_nothing() {
    let env = Env::new();
    let good = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    std::fs::copy(&good, env.path("hero.mp4")).unwrap();
    for (text, says) in [
        ("clip,name,colour\nhero.mp4,Hero,red\n", "unknown column"),
        ("name\nHero\n", "no clip column"),
        ("clip,name\n", "no rows"),
        ("clip,name\nhero.mp4,Hero\n,Nobody\n", "has no clip"),
        ("clip,name\nhero.mp4,Hero,extra\n", "cannot be read"),
    ] {
        let m = write_manifest(&env, "bad.csv", text);
        let (code, v) = import_json(&env, &m);
        assert_eq!(code, Some(3), "{text:?}: {v}");
        assert_eq!(v["error"]["code"], "bad_manifest");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{text:?}: {msg}");
        assert!(env.characters().is_empty(), "{text:?}");
    }
}

#[test]
fn ctrl_c_stops_the_batch_keeping_what_finished() {
    let env = Env::new();
    let quick = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    // Clips that need a re-encode, so each takes a while.
    let slow = testsrc("batch-1080p-6s.mp4", "1920x1080", 30, 6.0, true);
    std::fs::copy(&quick, env.path("quick.mp4")).unwrap();
    std::fs::copy(&slow, env.path("slow.mp4")).unwrap();
    let mut text = String::from("clip,name,start\nquick.mp4,Quick,\n");
    for i in 0..6 {
        text.push_str(&format!("slow.mp4,Slow {i},{}\n", i as f64 * 0.25));
    }
    let manifest = write_manifest(&env, "cast.csv", &text);
    let child = env
        .cmd()
        .arg("import")
        .arg(&manifest)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first character is in, interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while env.characters().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing was created");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let st = statuses(&v);
    assert_eq!(st[0], "created");
    assert!(st.iter().any(|s| s == "cancelled"), "{st:?}");
    // What finished is kept, nothing else: as many folders as created rows, no leftovers.
    let created = st.iter().filter(|s| *s == "created").count();
    assert_eq!(env.characters().len(), created);
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
    // Every kept character is whole.
    let doctor = env.run(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
}

fn run_json(env: &Env, args: &[&std::ffi::OsStr]) -> (Option<i32>, Value) {
    let out = env.run_os(args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

#[test]
fn create_several_clips_names_each_from_its_stem_and_a_rerun_creates_nothing() {
    let env = Env::new();
    let good = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let hero = env.path("hero.mp4");
    let villain = env.path("villain.mp4");
    let small = env.path("small.mp4");
    std::fs::copy(&good, &hero).unwrap();
    std::fs::copy(&good, &villain).unwrap();
    std::fs::copy(fixture("bikes.mp4"), &small).unwrap();
    let args = [
        "create".as_ref(),
        hero.as_os_str(),
        small.as_os_str(),
        villain.as_os_str(),
        "--name-from".as_ref(),
        "stem".as_ref(),
        "--tag".as_ref(),
        "take".as_ref(),
        "--json".as_ref(),
    ];
    let (code, v) = run_json(&env, &args);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(statuses(&v), ["created", "rejected", "created"], "{v}");
    assert_eq!(v[0]["name"], "hero");
    assert_eq!(v[1]["code"], "resolution");
    assert_eq!(v[2]["name"], "villain");
    assert!(v[0].get("line").is_none(), "{v}");
    // Each clip that ran says how long its job took.
    for r in v.as_array().unwrap() {
        assert!(r["seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    }
    let id = v[0]["id"].as_str().unwrap();
    let shown: Value = serde_json::from_slice(&env.run(&["show", id, "--json"]).stdout).unwrap();
    assert_eq!(shown["tags"], serde_json::json!(["take"]));
    assert_eq!(env.characters().len(), 2);
    assert!(env.work_leftovers().is_empty());

    let before = env.characters();
    let (code, again) = run_json(&env, &args);
    assert_eq!(code, Some(3));
    assert_eq!(statuses(&again), ["existing", "rejected", "existing"]);
    assert_eq!(again[0]["id"], v[0]["id"]);
    assert_eq!(env.characters(), before);

    // Only the good ones, without --name-from (stems are the default for several): exit 0.
    let (code, ok) = run_json(
        &env,
        &[
            "create".as_ref(),
            hero.as_os_str(),
            villain.as_os_str(),
            "--json".as_ref(),
        ],
    );
    assert_eq!(code, Some(0), "{ok}");
    assert_eq!(statuses(&ok), ["existing", "existing"]);
}

#[test]
fn name_with_several_clips_is_a_usage_error_and_creates_nothing() {
    let env = Env::new();
    let good = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let out = env.run_os(&[
        "create".as_ref(),
        good.as_os_str(),
        good.as_os_str(),
        "--name".as_ref(),
        "Hero".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--name-from stem"),
        "{}",
        stderr(&out)
    );
    assert!(env.characters().is_empty());
    // One clip and no name at all: said so, nothing made.
    let out = env.run_os(&["create".as_ref(), good.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(env.characters().is_empty());
    // One clip named from its stem.
    let (code, v) = run_json(
        &env,
        &[
            "create".as_ref(),
            good.as_os_str(),
            "--name-from".as_ref(),
            "stem".as_ref(),
            "--json".as_ref(),
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["name"], "720p-audio");
}

#[test]
fn import_a_folder_of_clips_takes_every_video_and_ignores_the_rest() {
    let env = Env::new();
    let good = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let dir = env.path("takes");
    std::fs::create_dir_all(dir.join("older")).unwrap();
    std::fs::copy(&good, dir.join("alpha.mp4")).unwrap();
    std::fs::copy(&good, dir.join("Beta.MOV")).unwrap();
    std::fs::copy(&good, dir.join("older").join("gamma.mp4")).unwrap();
    std::fs::write(dir.join("notes.txt"), "the best takes").unwrap();
    std::fs::write(dir.join("cover.jpg"), [0xff, 0xd8, 0xff]).unwrap();
    let (code, v) = run_json(
        &env,
        &["import".as_ref(), dir.as_os_str(), "--json".as_ref()],
    );
    assert_eq!(code, Some(0), "{v}");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Beta", "alpha"], "{v}");
    assert_eq!(statuses(&v), ["created", "created"]);
    assert_eq!(env.characters().len(), 2);
    // Again: nothing new.
    let before = env.characters();
    let (code, v) = run_json(
        &env,
        &["import".as_ref(), dir.as_os_str(), "--json".as_ref()],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(statuses(&v), ["existing", "existing"]);
    assert_eq!(env.characters(), before);
    // A video that is not one is rejected with its reason; the others stay.
    std::fs::write(dir.join("broken.mp4"), b"not a video at all").unwrap();
    let (code, v) = run_json(
        &env,
        &["import".as_ref(), dir.as_os_str(), "--json".as_ref()],
    );
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(statuses(&v), ["existing", "existing", "rejected"], "{v}");
    assert!(!v[2]["reason"].as_str().unwrap().is_empty());
    assert_eq!(env.characters(), before);
    assert!(env.work_leftovers().is_empty());
}
