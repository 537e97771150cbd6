//! Provenance: the record keeps the source file's name, size and blake3; the absolute path is
//! only a local hint. `show` says whether the source is still there, changed, or gone, and a
//! character whose source moved (or was made on another machine) works the same.

mod common;

use common::*;
use serde_json::Value;

fn show(env: &Env, id: &str) -> Value {
    let out = env.run(&["show", id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn show_text(env: &Env, id: &str) -> String {
    let out = env.run(&["show", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn show_says_whether_the_source_is_still_where_it_was() {
    let env = Env::new();
    let src = env.path("take one.mp4");
    std::fs::copy(fixture("bigbuckbunny.mp4"), &src).unwrap();
    let bytes = std::fs::read(&src).unwrap();
    let rec = env.create(&src, "bunny", &[]);
    let id = rec["id"].as_str().unwrap().to_string();
    assert_eq!(rec["source"]["size_bytes"], bytes.len() as u64);
    assert_eq!(
        rec["source"]["blake3"],
        blake3::hash(&bytes).to_hex().as_str()
    );

    let v = show(&env, &id);
    assert_eq!(v["source_name"], "take one.mp4");
    assert_eq!(v["source_state"], "present");
    assert!(show_text(&env, &id).contains("still there"));

    // The same size, one byte changed: the hash tells.
    let mut changed = bytes.clone();
    let mid = changed.len() / 2;
    changed[mid] ^= 0xff;
    std::fs::write(&src, &changed).unwrap();
    assert_eq!(show(&env, &id)["source_state"], "changed");
    // Another size: changed, without hashing.
    std::fs::write(&src, &bytes[..100]).unwrap();
    assert_eq!(show(&env, &id)["source_state"], "changed");
    assert!(show_text(&env, &id).contains("changed since"));

    // Moved away: said so; the character is whole and usable all the same.
    std::fs::remove_file(&src).unwrap();
    let v = show(&env, &id);
    assert_eq!(v["source_state"], "missing");
    assert_eq!(v["source_name"], "take one.mp4");
    assert!(show_text(&env, &id).contains("no longer there"));
    let doctor = env.run(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    let edit = env.run(&["edit", &id, "--tag", "moved"]);
    assert!(edit.status.success(), "{}", stderr(&edit));

    // Back where it was: present again.
    std::fs::write(&src, &bytes).unwrap();
    assert_eq!(show(&env, &id)["source_state"], "present");
}

#[test]
fn a_record_made_on_another_machine_is_read_and_its_path_is_only_a_hint() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "bunny", &[]);
    let id = rec["id"].as_str().unwrap().to_string();
    // A schema 1 record as another machine wrote it: a path that does not exist here.
    let file = env.lib().join(&id).join("character.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["schema"] = 1.into();
    v["source"]["path"] = "/Users/someone/Movies/Bunny Take.mp4".into();
    std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let shown = show(&env, &id);
    assert_eq!(shown["source_state"], "missing");
    assert_eq!(shown["source_name"], "Bunny Take.mp4");
    assert_eq!(
        shown["source"]["path"],
        "/Users/someone/Movies/Bunny Take.mp4"
    );
    // Nothing depends on it: the same clip here is still the same character.
    let again = env.create(&fixture("bigbuckbunny.mp4"), "bunny", &[]);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(env.characters().len(), 1);
    let list = env.run(&["list", "--json"]);
    assert!(list.status.success());
}
