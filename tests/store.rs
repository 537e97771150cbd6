//! The store's commit re-checks the name under the lock against what changed since the job
//! looked: renames and new characters made meanwhile by another process are seen.

mod common;

use castbook::library::{Character, Committed, Library, WorkDir};
use common::*;

/// A job folder holding a copy of `template`'s files, as a finished job leaves it.
fn work_with_files(lib: &Library, template: &Character) -> WorkDir {
    let work = lib.new_work_dir().unwrap();
    let src = lib.character_dir(&template.id);
    for rel in std::iter::once(&template.clip.path).chain(&template.keyframes) {
        let to = work.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(rel), to).unwrap();
    }
    work
}

#[test]
fn commit_sees_names_taken_after_the_snapshot() {
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "alpha", &[]);
    let b = env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "beta",
        &[],
    );
    let lib = Library::open(env.lib()).unwrap();
    // Past the snapshot's margin, so a change is seen only through the record's change time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let seen = lib.names().unwrap();
    assert!(seen.check_free("ALPHA").is_err());
    assert!(seen.check_free("gamma").is_ok());

    // Another process renames beta to gamma after the snapshot.
    let b_id = b["id"].as_str().unwrap();
    lib.update(b_id, |r| {
        r.name = "gamma".into();
        Ok(())
    })
    .unwrap();
    let template = lib.get(a["id"].as_str().unwrap()).unwrap().unwrap();
    let mut rec = template.clone();
    rec.id = "char_aaaaaaaaaaaa".into();
    rec.name = "Gamma".into();
    let err = lib
        .commit_checked(work_with_files(&lib, &template), &rec, Some(&seen))
        .unwrap_err();
    assert_eq!(err.code, "name_taken", "{err}");

    // A character added after the snapshot holds "delta".
    let mut added = template.clone();
    added.id = "char_bbbbbbbbbbbb".into();
    added.name = "delta".into();
    assert!(matches!(
        lib.commit(work_with_files(&lib, &template), &added)
            .unwrap(),
        Committed::New(_)
    ));
    rec.name = "DELTA".into();
    let err = lib
        .commit_checked(work_with_files(&lib, &template), &rec, Some(&seen))
        .unwrap_err();
    assert_eq!(err.code, "name_taken", "{err}");

    // The name beta gave up is free again; a free name commits.
    rec.name = "beta".into();
    assert!(matches!(
        lib.commit_checked(work_with_files(&lib, &template), &rec, Some(&seen))
            .unwrap(),
        Committed::New(_)
    ));
    assert_eq!(lib.list().unwrap().characters.len(), 4);
    assert!(env.work_leftovers().is_empty());
}
