//! Library health with the real binary: records keep the blake3 of their clip and keyframes;
//! `list` and `show` mark a damaged character; `doctor` finds every kind of problem (exit 4)
//! and `doctor --repair` fixes only what is safe (exit 0 once healthy); a damaged record is
//! never shown under a wrong ID and can be removed.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn run_json(env: &Env, args: &[&str]) -> (Option<i32>, Value) {
    let out = env.run(args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

fn kinds(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

fn record_path(env: &Env, id: &str) -> PathBuf {
    env.lib().join(id).join("character.json")
}

fn edit_record(env: &Env, id: &str, f: impl FnOnce(&mut Value)) {
    let p = record_path(env, id);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn flip_last_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let n = b.len() - 1;
    b[n] ^= 0x55;
    std::fs::write(p, b).unwrap();
}

fn one(env: &Env, name: &str) -> (String, PathBuf) {
    let rec = env.create(&fixture("bigbuckbunny.mp4"), name, &[]);
    let id = rec["id"].as_str().unwrap().to_string();
    let dir = env.lib().join(&id);
    (id, dir)
}

#[test]
fn new_records_keep_the_hashes_of_their_files_and_a_healthy_library_passes() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    let rec: Value =
        serde_json::from_slice(&std::fs::read(record_path(&env, &id)).unwrap()).unwrap();
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    assert_eq!(rec["clip"]["blake3"], blake3::hash(&clip).to_hex().as_str());
    let kf = rec["keyframes"].as_array().unwrap();
    let hashes = rec["keyframes_blake3"].as_array().unwrap();
    assert_eq!(kf.len(), hashes.len());
    for (k, h) in kf.iter().zip(hashes) {
        let bytes = std::fs::read(dir.join(k.as_str().unwrap())).unwrap();
        assert_eq!(h, blake3::hash(&bytes).to_hex().as_str());
    }
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["healthy"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    let human = env.run(&["doctor"]);
    assert_eq!(human.status.code(), Some(0));
    assert_eq!(stdout(&human), "");
    assert!(stderr(&human).contains("healthy"), "{}", stderr(&human));
    // An undamaged character is not marked.
    let list = env.run(&["list"]);
    assert!(!stdout(&list).contains("damaged"), "{}", stdout(&list));
    let (_, shown) = run_json(&env, &["show", &id, "--json"]);
    assert!(shown.get("damaged").is_none(), "{shown}");
}

#[test]
fn a_missing_clip_is_marked_in_list_and_show_and_not_repaired() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    std::fs::remove_file(dir.join("clip.mp4")).unwrap();

    let list = env.run(&["list"]);
    assert!(list.status.success());
    let line = stdout(&list);
    assert!(
        line.contains(&id) && line.contains("damaged: missing_clip"),
        "{line}"
    );
    assert!(
        stderr(&list).contains("castbook doctor"),
        "{}",
        stderr(&list)
    );
    let (_, listed) = run_json(&env, &["list", "--json"]);
    assert_eq!(listed[0]["damaged"], serde_json::json!(["missing_clip"]));
    let (_, found) = run_json(&env, &["search", "wolf", "--json"]);
    assert_eq!(found[0]["damaged"], serde_json::json!(["missing_clip"]));
    let show = env.run(&["show", "Wolf"]);
    assert!(show.status.success());
    assert!(
        stdout(&show).contains("DAMAGED   missing_clip"),
        "{}",
        stdout(&show)
    );

    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["missing_clip"]);
    assert_eq!(report["problems"][0]["repairable"], false);
    assert_eq!(report["problems"][0]["id"], id.as_str());
    // --repair cannot bring a clip back: it says so and touches nothing.
    let before = std::fs::read(record_path(&env, &id)).unwrap();
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["missing_clip"]);
    assert_eq!(kinds(&report, "repaired"), Vec::<String>::new());
    assert_eq!(std::fs::read(record_path(&env, &id)).unwrap(), before);
    assert!(!dir.join("clip.mp4").exists());
    assert!(env.lib().join(&id).is_dir(), "a damaged character stays");
}

#[test]
fn a_changed_clip_is_found_by_its_hash_or_its_size() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    // Same size, other bytes: only the hash tells.
    flip_last_byte(&dir.join("clip.mp4"));
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["changed_clip"]);
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4), "a changed clip is not repaired");
    assert_eq!(kinds(&report, "problems"), ["changed_clip"]);
    // Cut short: the quick check of list sees the size.
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    std::fs::write(dir.join("clip.mp4"), &clip[..clip.len() / 2]).unwrap();
    let list = env.run(&["list"]);
    assert!(
        stdout(&list).contains("damaged: changed_clip"),
        "{}",
        stdout(&list)
    );
    let _ = id;
}

#[test]
fn missing_and_changed_keyframes_are_made_again_from_the_clip() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    let rec: Value =
        serde_json::from_slice(&std::fs::read(record_path(&env, &id)).unwrap()).unwrap();
    let kf: Vec<String> = rec["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    std::fs::remove_file(dir.join(&kf[0])).unwrap();
    flip_last_byte(&dir.join(&kf[2]));
    let list = env.run(&["list"]);
    assert!(
        stdout(&list).contains("damaged: missing_keyframe"),
        "{}",
        stdout(&list)
    );

    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(
        kinds(&report, "problems"),
        ["missing_keyframe", "changed_keyframe"]
    );
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["repairable"] == true)
    );

    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        kinds(&report, "repaired"),
        ["missing_keyframe", "changed_keyframe"]
    );
    assert_eq!(report["problems"], serde_json::json!([]));
    // Every keyframe is a JPEG again, the size the others are, and the record holds the
    // hashes of the new files (the clip's hash unchanged).
    let after: Value =
        serde_json::from_slice(&std::fs::read(record_path(&env, &id)).unwrap()).unwrap();
    assert_eq!(after["clip"]["blake3"], rec["clip"]["blake3"]);
    assert_eq!(after["keyframes"], rec["keyframes"]);
    let size_of = |p: &Path| {
        let v = video_stream(&ffprobe(p)).clone();
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
    };
    let want = size_of(&dir.join(&kf[1]));
    for (k, h) in kf.iter().zip(after["keyframes_blake3"].as_array().unwrap()) {
        let bytes = std::fs::read(dir.join(k)).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "{k} is a JPEG");
        assert_eq!(h, blake3::hash(&bytes).to_hex().as_str(), "{k}");
        assert_eq!(size_of(&dir.join(k)), want, "{k}");
    }
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
    let list = env.run(&["list"]);
    assert!(!stdout(&list).contains("damaged"));
}

#[test]
fn keyframes_are_not_made_again_from_a_changed_clip() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    let rec: Value =
        serde_json::from_slice(&std::fs::read(record_path(&env, &id)).unwrap()).unwrap();
    let k0 = rec["keyframes"][0].as_str().unwrap();
    std::fs::remove_file(dir.join(k0)).unwrap();
    flip_last_byte(&dir.join("clip.mp4"));
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(
        kinds(&report, "problems"),
        ["changed_clip", "missing_keyframe"]
    );
    assert!(!dir.join(k0).exists());
}

#[test]
fn a_record_whose_id_is_not_its_folder_is_never_shown_under_that_folder() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    // A hand copy of the folder under another ID.
    let copy = "char_zzzzzzzzzzzz";
    let copy_dir = env.lib().join(copy);
    std::fs::create_dir(&copy_dir).unwrap();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), copy_dir.join(e.file_name())).unwrap();
        }
    }
    let (_, listed) = run_json(&env, &["list", "--json"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    let show = env.run(&["show", copy, "--json"]);
    assert_ne!(show.status.code(), Some(0));
    assert!(
        !stdout(&show).contains("\"name\": \"Wolf\""),
        "{}",
        stdout(&show)
    );
    let edit = env.run(&["edit", copy, "--notes", "x"]);
    assert_ne!(edit.status.code(), Some(0));

    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["id_mismatch"]);
    assert!(
        report["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    assert!(copy_dir.is_dir(), "not a safe repair: left alone");

    // remove works on it, by its folder name.
    let removed = env.run(&["remove", copy]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!copy_dir.exists());
    assert_eq!(env.characters(), vec![id.clone()]);
    let (code, _) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(0));
}

#[test]
fn an_unreadable_record_can_be_removed_and_repair_moves_it_to_the_trash() {
    let env = Env::new();
    let (id, _) = one(&env, "Wolf");
    let (other, _) = {
        let rec = env.create(
            &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
            "Fox",
            &[],
        );
        (rec["id"].as_str().unwrap().to_string(), ())
    };
    std::fs::write(record_path(&env, &id), b"{\"schema\": 1, \"id\": ").unwrap();
    // remove by folder name works on broken JSON.
    let removed = env.run(&["remove", &id]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(env.characters(), vec![other.clone()]);
    let (_, trash) = run_json(&env, &["trash", "--json"]);
    assert_eq!(trash[0]["id"], id.as_str());
    assert_eq!(trash[0]["name"], Value::Null);

    // doctor --repair moves a broken record (here: missing) to the trash, nothing else.
    std::fs::remove_file(record_path(&env, &other)).unwrap();
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["unreadable_record"]);
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(kinds(&report, "repaired"), ["unreadable_record"]);
    assert!(env.characters().is_empty());
    let (_, trash) = run_json(&env, &["trash", "--json"]);
    assert_eq!(trash.as_array().unwrap().len(), 2);
    assert!(trash.as_array().unwrap().iter().any(|e| {
        e["id"] == other.as_str()
            && PathBuf::from(e["folder"].as_str().unwrap())
                .join("clip.mp4")
                .is_file()
    }));
}

#[test]
fn an_unknown_schema_is_reported_and_left_alone() {
    let env = Env::new();
    let (id, _) = one(&env, "Wolf");
    edit_record(&env, &id, |v| v["schema"] = 99.into());
    let before = std::fs::read(record_path(&env, &id)).unwrap();
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["unknown_schema"]);
    assert!(
        report["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("update castbook")
    );
    assert_eq!(std::fs::read(record_path(&env, &id)).unwrap(), before);
}

#[test]
fn stray_temporary_files_are_found_and_removed() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    let (gone, _) = one(&env, "Fox");
    assert!(env.run(&["remove", &gone]).status.success());
    // What an older castbook killed mid-edit left: beside the record, and carried to the trash.
    std::fs::write(dir.join(".character.json.tmp-4242"), b"{").unwrap();
    let trash_entry = std::fs::read_dir(env.lib().join(".trash"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(trash_entry.join(".character.json.tmp-77"), b"{").unwrap();
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["stray_temp", "stray_temp"]);
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(kinds(&report, "repaired"), ["stray_temp", "stray_temp"]);
    assert!(!dir.join(".character.json.tmp-4242").exists());
    assert!(!trash_entry.join(".character.json.tmp-77").exists());
    assert!(dir.join("character.json").is_file() && trash_entry.join("character.json").is_file());
    let _ = id;
}

#[test]
fn records_without_hashes_are_checked_for_presence_and_size() {
    let env = Env::new();
    let (id, dir) = one(&env, "Wolf");
    edit_record(&env, &id, |v| {
        v["clip"].as_object_mut().unwrap().remove("blake3");
        v.as_object_mut().unwrap().remove("keyframes_blake3");
    });
    flip_last_byte(&dir.join("clip.mp4"));
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(
        code,
        Some(0),
        "without a hash a same-size change cannot be seen: {report}"
    );
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    std::fs::write(dir.join("clip.mp4"), &clip[..100]).unwrap();
    let (code, report) = run_json(&env, &["doctor", "--json"]);
    assert_eq!(code, Some(4));
    assert_eq!(kinds(&report, "problems"), ["changed_clip"]);
}

#[test]
fn a_hostile_record_path_is_never_followed() {
    let env = Env::new();
    let (id, _) = one(&env, "Wolf");
    let outside = env.path("outside.jpg");
    std::fs::write(&outside, b"not yours").unwrap();
    edit_record(&env, &id, |v| {
        v["keyframes"][0] = "../../outside.jpg".into();
        v["clip"]["path"] = "/etc/passwd".into();
    });
    let (code, report) = run_json(&env, &["doctor", "--repair", "--json"]);
    assert_eq!(code, Some(4));
    let k = kinds(&report, "problems");
    assert!(k.contains(&"changed_clip".to_string()), "{report}");
    assert!(k.contains(&"changed_keyframe".to_string()), "{report}");
    assert_eq!(std::fs::read(&outside).unwrap(), b"not yours");
}
