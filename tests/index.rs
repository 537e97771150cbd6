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
    let index = env.lib().join(".index").join("records-v1.json");
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
    let v: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    assert!(v["entries"].is_array());

    // A lying index (claims the name is free) never lets a duplicate in: the check under the
    // lock reads the records. Keep its stat keys so list would believe it.
    let mut lie: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    lie["entries"][0]["summary"]["name"] = "Someone else".into();
    std::fs::write(&index, serde_json::to_vec(&lie).unwrap()).unwrap();
    let dup = env
        .cmd()
        .arg("create")
        .arg(testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true))
        .args(["--name", "WOLFGANG", "--json"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(3), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("is taken"), "{}", stderr(&dup));
    let renamed = env.run(&["edit", id, "--name", "Wolfgang"]);
    assert!(renamed.status.success());
    assert_eq!(env.characters().len(), 1);
    assert!(env.work_leftovers().is_empty());
}
