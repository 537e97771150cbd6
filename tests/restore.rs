//! Undoing a removal with the real binary: `trash` lists what `remove` moved, `restore` puts the
//! most recent removal of an ID or name back with one rename, and refuses (exit 3, saying why
//! and the fix) when the ID is in the library again or the name is taken.

mod common;

use common::*;
use serde_json::Value;

fn ok_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn err_json(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{}",
        stdout(out),
        stderr(out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["error"].clone()
}

fn trash_dirs(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.lib().join(".trash"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn second_clip() -> std::path::PathBuf {
    testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true)
}

#[test]
fn remove_then_restore_by_name_and_by_id_puts_the_same_folder_back() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &["--tag", "hero"]);
    let id = rec["id"].as_str().unwrap();
    let record_path = env.lib().join(id).join("character.json");
    let before = std::fs::read(&record_path).unwrap();

    assert_eq!(
        ok_json(&env.run(&["trash", "--json"])),
        serde_json::json!([])
    );
    let empty = env.run(&["trash"]);
    assert!(empty.status.success());
    assert_eq!(stdout(&empty), "");
    assert!(
        stderr(&empty).contains("the trash is empty"),
        "{}",
        stderr(&empty)
    );

    assert!(env.run(&["remove", "Wolf"]).status.success());
    assert!(env.characters().is_empty());
    let listed = ok_json(&env.run(&["trash", "--json"]));
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"], id);
    assert_eq!(entries[0]["name"], "Wolf");
    let removed_at = entries[0]["removed_at"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(removed_at).is_ok(),
        "removed_at {removed_at:?}"
    );
    let folder = std::path::PathBuf::from(entries[0]["folder"].as_str().unwrap());
    assert!(folder.join("clip.mp4").is_file());
    let human = env.run(&["trash"]);
    assert!(stdout(&human).starts_with(id), "{}", stdout(&human));
    assert!(stdout(&human).contains("Wolf"));

    // By name: the ID alone on stdout, the same bytes back, the trash empty.
    let restored = env.run(&["restore", "Wolf"]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(stdout(&restored), format!("{id}\n"));
    assert_eq!(std::fs::read(&record_path).unwrap(), before);
    assert!(env.lib().join(id).join("clip.mp4").is_file());
    assert!(trash_dirs(&env).is_empty());
    let shown = ok_json(&env.run(&["show", "Wolf", "--json"]));
    assert_eq!(shown["id"], id);

    // By ID, with --json: the record.
    assert!(env.run(&["remove", id]).status.success());
    let back = ok_json(&env.run(&["restore", id, "--json"]));
    assert_eq!(back["id"], id);
    assert_eq!(back["tags"], serde_json::json!(["hero"]));
    assert_eq!(env.characters(), vec![id.to_string()]);
    assert!(env.work_leftovers().is_empty());
}

#[test]
fn restore_takes_the_most_recent_removal_of_that_id() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    let rec = env.create(&clip, "Bunny", &["--notes", "first"]);
    let id = rec["id"].as_str().unwrap();
    assert!(env.run(&["remove", id]).status.success());
    // The same clip and name give the same ID again; removed a second time (same second, so
    // the second folder gets a `-2` suffix, or a later second).
    env.create(&clip, "Bunny", &["--notes", "second"]);
    assert!(env.run(&["remove", id]).status.success());
    assert_eq!(trash_dirs(&env).len(), 2);
    let back = ok_json(&env.run(&["restore", "Bunny", "--json"]));
    assert_eq!(back["notes"], "second");
    // The older one stays in the trash, and now the ID is in the library: refused.
    let listed = ok_json(&env.run(&["trash", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let again = env.run(&["restore", id, "--json"]);
    let e = err_json(&again);
    assert_eq!(e["code"], "id_exists");
    assert_eq!(
        ok_json(&env.run(&["show", id, "--json"]))["notes"],
        "second"
    );
}

#[test]
fn restore_refuses_when_the_id_is_back_or_the_name_is_taken() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    let wolf = env.create(&clip, "Wolf", &[]);
    let wolf_id = wolf["id"].as_str().unwrap().to_string();
    assert!(env.run(&["remove", "Wolf"]).status.success());

    // Another character now holds the name (another clip, so another ID).
    let other = env.create(&second_clip(), "WOLF", &[]);
    let other_id = other["id"].as_str().unwrap();
    let trash_before = trash_dirs(&env);
    let refused = env.run(&["restore", "Wolf", "--json"]);
    let e = err_json(&refused);
    assert_eq!(e["code"], "name_taken");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains(&wolf_id), "{msg}");
    assert!(msg.contains(other_id), "{msg}");
    assert!(msg.contains("rename the other character first"), "{msg}");
    // Nothing moved.
    assert_eq!(trash_dirs(&env), trash_before);
    assert_eq!(env.characters(), vec![other_id.to_string()]);

    // The fix the message gives works.
    assert!(
        env.run(&["edit", other_id, "--name", "Wolf two"])
            .status
            .success()
    );
    let back = ok_json(&env.run(&["restore", &wolf_id, "--json"]));
    assert_eq!(back["name"], "Wolf");
    assert_eq!(env.characters().len(), 2);

    // The ID in the library again: created anew after the removal.
    assert!(env.run(&["remove", &wolf_id]).status.success());
    env.create(&clip, "Wolf", &[]);
    let refused = env.run(&["restore", &wolf_id]);
    assert_eq!(refused.status.code(), Some(3));
    let msg = stderr(&refused);
    assert!(msg.contains("is in the library again"), "{msg}");
    assert!(msg.contains("remove that one first"), "{msg}");
    assert_eq!(trash_dirs(&env).len(), 1);
}

#[test]
fn restore_of_nothing_is_a_clear_error_and_stray_trash_folders_are_not_listed() {
    let env = Env::new();
    env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    // Folders remove never writes are neither listed nor restored.
    std::fs::create_dir_all(env.lib().join(".trash").join("char_aaaaaaaaaaaa")).unwrap();
    std::fs::create_dir_all(env.lib().join(".trash").join("notes")).unwrap();
    std::fs::write(
        env.lib()
            .join(".trash")
            .join("char_bbbbbbbbbbbb-20261128T000000Z"),
        b"a file",
    )
    .unwrap();
    assert_eq!(
        ok_json(&env.run(&["trash", "--json"])),
        serde_json::json!([])
    );
    for arg in ["char_aaaaaaaaaaaa", "Wolf", "nobody"] {
        let out = env.run(&["restore", arg, "--json"]);
        let e = err_json(&out);
        assert_eq!(e["code"], "not_found", "{arg}");
        assert!(
            e["message"].as_str().unwrap().contains("castbook trash"),
            "{e}"
        );
    }
    assert_eq!(env.characters().len(), 1);
}
