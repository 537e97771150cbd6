//! The derived index (`<lib>/.index/`): it follows every change made to the records by hand
//! or by another tool, a broken or lying index changes nothing, and a name check never
//! trusts it.

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
    let index = env.lib().join(".index").join("records-v2.bin");
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
        std::fs::read(&index).unwrap().starts_with(b"cbrecs02"),
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
    let sigs = env.lib().join(".index").join("signatures-v2.bin");
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
