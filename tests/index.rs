//! The derived index (`<lib>/.index/`): it follows every change made to the records by hand
//! or by another tool, a broken or lying index changes nothing, and a name check uses an
//! indexed name only for a record whose `stat` (inode, size, modification and change times)
//! is exactly the one it was read with.

mod common;

use common::*;
use serde_json::Value;

fn list_names(env: &Env) -> String {
    let out = env.run(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_index_follows_the_records_and_is_never_trusted_for_names() {
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let id = a["id"].as_str().unwrap();
    assert!(list_names(&env).contains("Wolf"));
    let index = env.lib().join(".index").join("records-v4.bin");
    assert!(index.is_file(), "list writes the index");

    // A record changed in place by another tool (same inode): the next list sees it.
    let rec_path = env.lib().join(id).join("character.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    rec["name"] = "Wolfgang".into();
    std::fs::write(&rec_path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let names = list_names(&env);
    assert!(names.contains("Wolfgang"), "{names}");

    // A folder removed by hand disappears; one added by hand appears.
    let copy = env.lib().join("char_zzzzzzzzzzzz");
    std::fs::create_dir(&copy).unwrap();
    rec["id"] = "char_zzzzzzzzzzzz".into();
    rec["name"] = "Copy".into();
    std::fs::write(
        copy.join("character.json"),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    let names = list_names(&env);
    assert!(
        names.contains("Copy") && names.contains("Wolfgang"),
        "{names}"
    );
    std::fs::remove_dir_all(&copy).unwrap();
    assert!(!list_names(&env).contains("Copy"));

    // A broken index file is made again.
    std::fs::write(&index, b"{not json").unwrap();
    assert!(list_names(&env).contains("Wolfgang"));
    assert!(
        std::fs::read(&index).unwrap().starts_with(b"cbrecs04"),
        "list wrote a new index"
    );

    // Damage to the files of an indexed character shows in the next list: a keyframe gone,
    // the clip cut short, the clip gone.
    let dir = env.lib().join(id);
    let kf = dir.join("keyframes").join("01.jpg");
    let kf_bytes = std::fs::read(&kf).unwrap();
    std::fs::remove_file(&kf).unwrap();
    assert!(list_names(&env).contains("damaged: missing_keyframe"));
    std::fs::write(&kf, &kf_bytes).unwrap();
    assert!(!list_names(&env).contains("damaged"));
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    std::fs::write(dir.join("clip.mp4"), &clip[..clip.len() / 2]).unwrap();
    assert!(list_names(&env).contains("damaged: changed_clip"));
    std::fs::remove_file(dir.join("clip.mp4")).unwrap();
    assert!(list_names(&env).contains("damaged: missing_clip"));
    std::fs::write(dir.join("clip.mp4"), &clip).unwrap();
    assert!(!list_names(&env).contains("damaged"));

    // A stale index (the record renamed by hand since the last list, so the index still
    // says "Wolfgang") never lets a duplicate in: the check under the lock reads the records.
    rec["id"] = id.into();
    rec["name"] = "Zed".into();
    std::fs::write(&rec_path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let dup = env
        .cmd()
        .arg("create")
        .arg(testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true))
        .args(["--name", "ZED", "--json"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(3), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("is taken"), "{}", stderr(&dup));
    // The same stale index does not refuse a name that is free now.
    let renamed = env.run(&["edit", id, "--name", "Wolfgang"]);
    assert!(renamed.status.success(), "{}", stderr(&renamed));
    assert_eq!(env.characters().len(), 1);
    assert!(env.work_leftovers().is_empty());
}

#[test]
fn look_alikes_come_from_the_index_and_from_records_it_lacks() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    env.create(&clip, "First", &[]);
    assert!(env.run(&["list"]).status.success());
    // The same footage again (another start): a look-alike of the indexed character.
    let out = env
        .cmd()
        .arg("create")
        .arg(&clip)
        .args(["--name", "Second", "--start", "0.04", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("looks like First"),
        "{}",
        stderr(&out)
    );
    // "Second" is not in the index yet (no list since): a third one still sees both.
    let sigs = env.lib().join(".index").join("looks-v1.bin");
    let out = env
        .cmd()
        .arg("create")
        .arg(&clip)
        .args(["--name", "Third", "--start", "0.08", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("looks like"), "{}", stderr(&out));
    assert!(sigs.is_file(), "create keeps the signatures it parsed");
    // A broken signatures file changes nothing but speed.
    std::fs::write(&sigs, b"garbage").unwrap();
    let similar = env.run(&["similar", "Third", "--json"]);
    assert!(similar.status.success(), "{}", stderr(&similar));
    let v: Value = serde_json::from_slice(&similar.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
}

/// The record of `id`, rewritten in place (same inode, same size) with `name`, its
/// modification time put back: only its change time tells that it changed.
fn rename_in_place_keeping_mtime(env: &Env, id: &str, from: &str, to: &str) {
    use std::io::{Seek, Write};
    assert_eq!(from.len(), to.len());
    let path = env.lib().join(id).join("character.json");
    let before = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let needle = format!("\"name\": \"{from}\"");
    assert!(text.contains(&needle), "{text}");
    let edited = text.replacen(&needle, &format!("\"name\": \"{to}\""), 1);
    assert_eq!(edited.len(), text.len());
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.rewind().unwrap();
    f.write_all(edited.as_bytes()).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.len(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "only the change time differs"
    );
}

/// Wait until records made now are older than the index's 2 s settling margin, so that the
/// next name check indexes them as settled (their `stat` then proves their name).
fn let_records_settle() {
    std::thread::sleep(std::time::Duration::from_millis(2300));
}

#[test]
fn an_edit_that_keeps_inode_size_and_mtime_is_still_seen_by_the_name_check() {
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let id = a["id"].as_str().unwrap();
    assert!(env.run(&["list"]).status.success(), "the index exists");
    let_records_settle();
    // A create indexes "Wolf" as settled (the names index is written by its checks).
    let b = env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Bear",
        &[],
    );
    let names = env.lib().join(".index").join("names-v1.bin");
    assert!(names.is_file(), "create keeps the names it read");
    // "Wolf" becomes "Wolg" in place; inode, size and modification time stay.
    rename_in_place_keeping_mtime(&env, id, "Wolf", "Wolg");
    let dup = env
        .cmd()
        .arg("create")
        .arg(testsrc("720p-noaudio.mp4", "1280x720", 25, 2.0, false))
        .args(["--name", "WOLG", "--json"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(3), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("is taken"), "{}", stderr(&dup));
    // And the old name is free: the check read what the record holds now.
    let renamed = env.run(&["edit", b["id"].as_str().unwrap(), "--name", "wolf"]);
    assert!(renamed.status.success(), "{}", stderr(&renamed));
    assert_eq!(env.characters().len(), 2);
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
}

#[test]
fn a_record_replaced_by_another_file_of_the_same_size_and_mtime_is_read_again() {
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "Lynx", &[]);
    let id = a["id"].as_str().unwrap();
    assert!(env.run(&["list"]).status.success());
    let_records_settle();
    env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Bear",
        &[],
    );
    // A sync tool replaces the record by a rename: the same bytes but the name, the old
    // modification time (another inode).
    let path = env.lib().join(id).join("character.json");
    let before = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let tmp = env.lib().join(id).join(".sync-tmp");
    std::fs::write(&tmp, text.replacen("\"Lynx\"", "\"Lynz\"", 1)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let dup = env
        .cmd()
        .arg("create")
        .arg(testsrc("720p-noaudio.mp4", "1280x720", 25, 2.0, false))
        .args(["--name", "lynz", "--json"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(3), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("is taken"), "{}", stderr(&dup));
}

#[test]
fn a_copied_library_with_the_original_index_reads_its_records() {
    // The index of one library copied into another (a copied or synced folder): its
    // entries describe other files, so the name check reads every record.
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "Fox", &[]);
    let id = a["id"].as_str().unwrap().to_string();
    assert!(env.run(&["list"]).status.success());
    let_records_settle();
    env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Bear",
        &[],
    );
    let copy = tempfile::tempdir().unwrap();
    let dest = copy.path().join("lib");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(env.lib())
        .arg(&dest)
        .status()
        .unwrap();
    assert!(st.success());
    // The copy's record is edited in place (its new inode's stat can match nothing), and
    // the original's index is put back over the copy's, as a sync would.
    std::fs::copy(
        env.lib().join(".index").join("names-v1.bin"),
        dest.join(".index").join("names-v1.bin"),
    )
    .unwrap();
    let rec = dest.join(&id).join("character.json");
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::write(&rec, text.replacen("\"Fox\"", "\"Owl\"", 1)).unwrap();
    let dup = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .arg("--library")
        .arg(&dest)
        .env("CASTBOOK_CONFIG", env.path("no-config.toml"))
        .env_remove("CASTBOOK_LIBRARY")
        .arg("create")
        .arg(testsrc("720p-noaudio.mp4", "1280x720", 25, 2.0, false))
        .args(["--name", "owl", "--json"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(3), "{}", stderr(&dup));
}

#[test]
fn index_files_of_earlier_versions_are_removed_when_the_index_is_written_again() {
    let env = Env::new();
    env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    assert!(list_names(&env).contains("Wolf"));
    let dir = env.lib().join(".index");
    for stale in ["records-v2.bin", "records-v3.bin", "signatures-v2.bin"] {
        std::fs::write(dir.join(stale), b"old").unwrap();
    }
    // Not an index file of castbook's: left alone.
    std::fs::write(dir.join("README"), b"mine").unwrap();
    env.create(&fixture("bigbuckbunny.mp4"), "Fox", &["--start", "1"]);
    let names = list_names(&env);
    assert!(names.contains("Wolf") && names.contains("Fox"), "{names}");
    for stale in ["records-v2.bin", "records-v3.bin", "signatures-v2.bin"] {
        assert!(!dir.join(stale).exists(), "{stale} is left");
    }
    assert!(dir.join("records-v4.bin").is_file());
    assert_eq!(std::fs::read(dir.join("README")).unwrap(), b"mine");
}
