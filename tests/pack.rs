//! Character packs and library merges with the real binary: `pack` writes one archive,
//! `import` brings it (or another library folder) in byte for byte, keeping IDs, merging
//! provider entries, following the name-conflict rule, and refusing damaged or hostile packs
//! with nothing written.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn clip_a() -> PathBuf {
    testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true)
}

fn clip_b() -> PathBuf {
    testsrc("pack-720p-b.mp4", "1280x720", 25, 3.5, true)
}

fn id_of(rec: &Value) -> String {
    rec["id"].as_str().unwrap().to_string()
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// The characters' folders of a library (everything but `.work`, `.trash`, `.lock`).
fn characters_tree(lib: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(lib)
        .into_iter()
        .filter(|(k, _)| k.starts_with("char_"))
        .collect()
}

fn json_ok(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(out),
        stderr(out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn json_err(out: &std::process::Output) -> Value {
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

/// (id, status) of each result, sorted by ID.
fn statuses(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pack(env: &Env, args: &[&str], file: &Path) {
    let out = env
        .cmd()
        .arg("pack")
        .args(args)
        .arg("--output")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn import(env: &Env, source: &Path, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .arg("import")
        .arg(source)
        .args(extra)
        .output()
        .unwrap()
}

/// Add a provider registration to a record by hand, as `register` would have.
fn add_provider(lib: &Path, id: &str, provider: &str, remote: &str) {
    let path = lib.join(id).join("character.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["provider_ids"][provider] = Value::String(remote.into());
    let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn pack_then_import_into_an_empty_library_gives_the_same_bytes_and_twice_changes_nothing() {
    let a = Env::new();
    let wolf = id_of(&a.create(&clip_a(), "Wolf", &["--tag", "hero", "--notes", "grey"]));
    let fox = id_of(&a.create(&clip_a(), "Fox", &[]));
    let file = a.path("cast.castpack");
    pack(&a, &["--all"], &file);
    assert!(file.is_file());

    // Never over an existing file without --force; nothing left beside it.
    let before = std::fs::read(&file).unwrap();
    let again = a
        .cmd()
        .args(["pack", "Wolf", "--json", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(json_err(&again)["code"], "output_exists");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let forced = a
        .cmd()
        .args(["pack", "Wolf", "--force", "--json", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    let summary = json_ok(&forced);
    assert_eq!(summary["characters"].as_array().unwrap().len(), 1);
    assert_ne!(std::fs::read(&file).unwrap(), before);
    let stray: Vec<String> = std::fs::read_dir(a.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".castpack-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    pack(&a, &["Wolf", &fox], &file.with_extension("two"));
    let file = file.with_extension("two");

    let b = Env::new();
    let out = import(&b, &file, &["--json"]);
    let mut want = vec![
        (wolf.clone(), "created".into()),
        (fox.clone(), "created".into()),
    ];
    want.sort();
    assert_eq!(statuses(&json_ok(&out)), want);
    assert_eq!(characters_tree(&b.lib()), characters_tree(&a.lib()));
    assert!(b.work_leftovers().is_empty(), "{:?}", b.work_leftovers());
    let shown = json_ok(&b.run(&["show", "Wolf", "--json"]));
    assert_eq!(shown["id"], wolf.as_str());
    assert_eq!(shown["tags"], serde_json::json!(["hero"]));
    let doctor = b.run(&["doctor", "--json"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));

    // The second time: all already there, not one byte changed; the human table says so.
    let snapshot = tree(&b.lib());
    let out = import(&b, &file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.lines().all(|l| l.starts_with("already there")),
        "{table}"
    );
    assert_eq!(tree(&b.lib()), snapshot);
}

/// A pack of two characters from library A, and its bytes.
fn sample_pack() -> (Env, PathBuf, Vec<u8>) {
    let a = Env::new();
    a.create(&clip_a(), "Wolf", &[]);
    a.create(&clip_a(), "Fox", &[]);
    let file = a.path("cast.castpack");
    pack(&a, &["--all"], &file);
    let bytes = std::fs::read(&file).unwrap();
    (a, file, bytes)
}

/// The offset of the data of the tar entry whose name ends with `suffix`.
fn entry_data_offset(tar_bytes: &[u8], suffix: &str) -> (usize, usize) {
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if path.ends_with(suffix) {
            return (e.raw_file_position() as usize, e.size() as usize);
        }
    }
    panic!("no entry {suffix}");
}

fn assert_nothing_imported(b: &Env) {
    assert!(b.characters().is_empty(), "{:?}", b.characters());
    assert!(b.work_leftovers().is_empty(), "{:?}", b.work_leftovers());
}

#[test]
fn a_tampered_or_truncated_pack_imports_nothing_and_says_what_is_wrong() {
    let (a, _file, bytes) = sample_pack();

    // One byte of a clip changed.
    let (at, len) = entry_data_offset(&bytes, "clip.mp4");
    let mut tampered = bytes.clone();
    tampered[at + len / 2] ^= 0x55;
    let bad = a.path("tampered.castpack");
    std::fs::write(&bad, &tampered).unwrap();
    let b = Env::new();
    let e = json_err(&import(&b, &bad, &["--json"]));
    assert_eq!(e["code"], "bad_pack");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("clip.mp4") && msg.contains("changed") && msg.contains("nothing was imported"),
        "{msg}"
    );
    assert_nothing_imported(&b);

    // Cut short, in the middle of the last file and at an entry boundary.
    for cut in [
        bytes.len() - 3000,
        entry_data_offset(&bytes, "clip.mp4").0 - 512,
    ] {
        let short = a.path("short.castpack");
        std::fs::write(&short, &bytes[..cut]).unwrap();
        let e = json_err(&import(&b, &short, &["--json"]));
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("truncated") || msg.contains("damaged"),
            "cut at {cut}: {msg}"
        );
        assert_nothing_imported(&b);
    }

    // Not a pack at all.
    let junk = a.path("junk.castpack");
    std::fs::write(&junk, b"hello, this is not a tar archive at all").unwrap();
    let out = import(&b, &junk, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a valid pack"),
        "{}",
        stderr(&out)
    );
    assert_nothing_imported(&b);

    // The intact pack still imports: the checks above refused for a reason.
    let good = a.path("good.castpack");
    std::fs::write(&good, &bytes).unwrap();
    assert!(import(&b, &good, &[]).status.success());
    assert_eq!(b.characters().len(), 2);
}

/// A tar header with a raw name (not checked by the builder), the entry type and size.
fn raw_header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    {
        let raw = h.as_old_mut();
        raw.name = [0; 100];
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            raw.linkname = [0; 100];
            raw.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_cksum();
    h
}

/// The sample pack's entries, with one hostile entry put right after the manifest.
fn with_hostile(bytes: &[u8], hostile: (tar::Header, Vec<u8>)) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(bytes);
    let mut first = true;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.append(&h, &data[..]).unwrap();
        if first {
            out.append(&hostile.0, &hostile.1[..]).unwrap();
            first = false;
        }
    }
    out.into_inner().unwrap()
}

#[test]
fn packs_with_climbing_absolute_or_link_entries_write_nothing_anywhere() {
    let (a, _file, bytes) = sample_pack();
    let id = a.characters()[0].clone();
    let b = Env::new();
    let outside = b.dir.path().join("evil.txt");
    let absolute = b.dir.path().join("abs-evil.txt");
    let abs_name = absolute.to_str().unwrap().to_string();
    let climbing = "../evil.txt".to_string();
    let deep = format!("{id}/../../evil.txt");
    let payload = b"owned".to_vec();
    let cases: Vec<(&str, tar::Header, Vec<u8>)> = vec![
        (
            "climbs",
            raw_header(&climbing, tar::EntryType::Regular, 5, None),
            payload.clone(),
        ),
        (
            "climbs",
            raw_header(&deep, tar::EntryType::Regular, 5, None),
            payload.clone(),
        ),
        (
            "absolute",
            raw_header(&abs_name, tar::EntryType::Regular, 5, None),
            payload.clone(),
        ),
        (
            "symbolic link",
            raw_header(
                &format!("{id}/keyframes/09.jpg"),
                tar::EntryType::Symlink,
                0,
                Some("/etc/passwd"),
            ),
            Vec::new(),
        ),
        (
            "hard link",
            raw_header(
                &format!("{id}/keyframes/09.jpg"),
                tar::EntryType::Link,
                0,
                Some("/etc/passwd"),
            ),
            Vec::new(),
        ),
        (
            "device",
            raw_header(&format!("{id}/clip.mp4"), tar::EntryType::Char, 0, None),
            Vec::new(),
        ),
        (
            "not a file a pack holds",
            raw_header(&format!("{id}/notes.sh"), tar::EntryType::Regular, 5, None),
            payload.clone(),
        ),
    ];
    for (i, (why, header, data)) in cases.into_iter().enumerate() {
        let hostile = with_hostile(&bytes, (header, data));
        let file = b.path(&format!("hostile-{i}.castpack"));
        std::fs::write(&file, hostile).unwrap();
        let e = json_err(&import(&b, &file, &["--json"]));
        assert_eq!(e["code"], "bad_pack", "{e}");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(why), "case {i}: {msg}");
        assert_nothing_imported(&b);
        assert!(!outside.exists() && !absolute.exists());
        assert!(!b.lib().join("evil.txt").exists());
        assert!(!b.dir.path().parent().unwrap().join("evil.txt").exists());
    }
    // The same archive without the hostile entry imports: the refusals were for it.
    let file = b.path("clean.castpack");
    std::fs::write(&file, &bytes).unwrap();
    assert!(import(&b, &file, &[]).status.success());
}

#[test]
fn a_name_held_by_another_id_fails_skips_or_renames() {
    let a = Env::new();
    let wolf_a = id_of(&a.create(&clip_a(), "Wolf", &[]));
    let fox = id_of(&a.create(&clip_a(), "Fox", &[]));
    let file = a.path("cast.castpack");
    pack(&a, &["--all"], &file);

    let b = Env::new();
    // Another clip: another ID, the same name as seen (case and spacing aside).
    let wolf_b = id_of(&b.create(&clip_b(), "WOLF", &[]));
    assert_ne!(wolf_a, wolf_b);
    let before = tree(&b.lib());

    // fail (the default): nothing, not even Fox, and the conflict listed.
    let e = json_err(&import(&b, &file, &["--json"]));
    assert_eq!(e["code"], "name_conflict");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(&wolf_a) && msg.contains(&wolf_b) && msg.contains("--on-conflict"),
        "{msg}"
    );
    assert_eq!(tree(&b.lib()), before);

    // skip: Fox comes, Wolf stays out.
    let v = json_ok(&import(&b, &file, &["--on-conflict", "skip", "--json"]));
    let mut want = vec![
        (fox.clone(), "created".into()),
        (wolf_a.clone(), "skipped".into()),
    ];
    want.sort();
    assert_eq!(statuses(&v), want);
    let skipped = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == wolf_a.as_str())
        .unwrap();
    assert_eq!(skipped["name_held_by"]["id"], wolf_b.as_str());
    assert!(!b.lib().join(&wolf_a).exists());
    let mut ids = vec![fox.clone(), wolf_b.clone()];
    ids.sort();
    assert_eq!(b.characters(), ids);

    // rename: Wolf comes as "Wolf (2)", its ID kept; Fox is already there.
    let v = json_ok(&import(&b, &file, &["--on-conflict", "rename", "--json"]));
    let mut want = vec![
        (fox.clone(), "existing".into()),
        (wolf_a.clone(), "renamed".into()),
    ];
    want.sort();
    assert_eq!(statuses(&v), want);
    let shown = json_ok(&b.run(&["show", &wolf_a, "--json"]));
    assert_eq!(shown["name"], "Wolf (2)");
    assert_eq!(
        json_ok(&b.run(&["show", &wolf_b, "--json"]))["name"],
        "WOLF"
    );
    // Its files are the pack's, byte for byte; only the name changed.
    let a_tree = tree(&a.lib().join(&wolf_a));
    let b_tree = tree(&b.lib().join(&wolf_a));
    assert_eq!(a_tree.len(), b_tree.len());
    for (k, v) in &a_tree {
        if k != "character.json" {
            assert_eq!(&b_tree[k], v, "{k}");
        }
    }
    let doctor = b.run(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    // Again: everything already there.
    let v = json_ok(&import(&b, &file, &["--on-conflict", "rename", "--json"]));
    assert!(statuses(&v).iter().all(|(_, s)| s == "existing"), "{v}");
    assert!(b.work_leftovers().is_empty());
}

#[test]
fn two_libraries_that_grew_apart_merge_with_nothing_lost_or_duplicated() {
    // Shared: Wolf made in A, handed to B by a pack.
    let a = Env::new();
    let wolf = id_of(&a.create(&clip_a(), "Wolf", &[]));
    let file = a.path("wolf.castpack");
    pack(&a, &["Wolf"], &file);
    let b = Env::new();
    assert!(import(&b, &file, &[]).status.success());

    // Then each grew on its own: A registered Wolf with one provider, B with another; A made
    // Fox, B made Bear and its own "Fox" from another clip.
    add_provider(&a.lib(), &wolf, "alpha", "remote-a");
    add_provider(&b.lib(), &wolf, "beta", "remote-b");
    add_provider(&b.lib(), &wolf, "gamma", "remote-g1");
    add_provider(&a.lib(), &wolf, "gamma", "remote-g2");
    let fox_a = id_of(&a.create(&clip_a(), "Fox", &[]));
    let bear = id_of(&b.create(&clip_a(), "Bear", &[]));
    let fox_b = id_of(&b.create(&clip_b(), "Fox", &[]));
    let a_before = characters_tree(&a.lib());

    // B's folder into A.
    let v = json_ok(&import(
        &a,
        &b.lib(),
        &["--on-conflict", "rename", "--json"],
    ));
    let mut want = vec![
        (wolf.clone(), "merged".to_string()),
        (bear.clone(), "created".into()),
        (fox_b.clone(), "renamed".into()),
    ];
    want.sort();
    assert_eq!(statuses(&v), want);
    let merged = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == wolf.as_str())
        .unwrap();
    assert_eq!(merged["providers_added"], serde_json::json!(["beta"]));
    assert_eq!(merged["providers_differ"], serde_json::json!(["gamma"]));
    let w = json_ok(&a.run(&["show", &wolf, "--json"]));
    let ids: serde_json::Map<String, Value> = w["provider_ids"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["id"].clone()))
        .collect();
    assert_eq!(
        Value::Object(ids),
        serde_json::json!({"alpha": "remote-a", "beta": "remote-b", "gamma": "remote-g2"})
    );
    assert_eq!(w["name"], "Wolf");
    // Nothing of A's was changed but Wolf's record, and no ID is there twice.
    let a_after = characters_tree(&a.lib());
    for (k, v) in &a_before {
        if k != &format!("{wolf}/character.json") {
            assert_eq!(&a_after[k], v, "{k}");
        }
    }
    let mut ids = vec![wolf.clone(), fox_a.clone(), bear.clone(), fox_b.clone()];
    ids.sort();
    assert_eq!(a.characters(), ids);
    let names: Vec<String> = json_ok(&a.run(&["list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(names_sorted, ["Bear", "Fox", "Fox (2)", "Wolf"]);
    // Bear's files came byte for byte.
    assert_eq!(tree(&a.lib().join(&bear)), tree(&b.lib().join(&bear)));

    // Merging again changes nothing.
    let snapshot = tree(&a.lib());
    let v = json_ok(&import(
        &a,
        &b.lib(),
        &["--on-conflict", "rename", "--json"],
    ));
    assert!(statuses(&v).iter().all(|(_, s)| s == "existing"), "{v}");
    assert_eq!(tree(&a.lib()), snapshot);

    // And A back into B: B gains Fox of A (renamed, B's own Fox holds the name) and the
    // alpha registration; B's "Fox (2)"... is A's copy of B's Fox, the same ID: already there.
    let v = json_ok(&import(
        &b,
        &a.lib(),
        &["--on-conflict", "rename", "--json"],
    ));
    let mut want = vec![
        (wolf.clone(), "merged".to_string()),
        (bear.clone(), "existing".into()),
        (fox_b.clone(), "existing".into()),
        (fox_a.clone(), "renamed".into()),
    ];
    want.sort();
    assert_eq!(statuses(&v), want);
    assert_eq!(b.characters(), ids);
    assert!(a.work_leftovers().is_empty() && b.work_leftovers().is_empty());
}

#[test]
fn a_library_folder_with_a_changed_clip_imports_nothing() {
    let a = Env::new();
    let wolf = id_of(&a.create(&clip_a(), "Wolf", &[]));
    a.create(&clip_a(), "Fox", &[]);
    let clip = a.lib().join(&wolf).join("clip.mp4");
    let good_clip = std::fs::read(&clip).unwrap();
    let mut bytes = good_clip.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&clip, bytes).unwrap();
    let b = Env::new();
    let e = json_err(&import(&b, &a.lib(), &["--json"]));
    assert_eq!(e["code"], "bad_library");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains(&wolf) && msg.contains("clip.mp4"), "{msg}");
    assert_nothing_imported(&b);

    // A folder without characters or videos is not a library: said so, nothing made.
    let clips = a.path("clips");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::write(clips.join("notes.txt"), "take 3 was best").unwrap();
    std::fs::copy(clip_a(), clips.join("take.mp4.bak")).unwrap();
    let e = json_err(&import(&b, &clips, &["--json"]));
    assert_eq!(e["code"], "no_characters", "{e}");
    assert_nothing_imported(&b);

    // A record whose provider entry holds terminal escapes is refused.
    std::fs::write(&clip, &good_clip).unwrap();
    add_provider(&a.lib(), &wolf, "alpha", "id\u{1b}[2J");
    let e = json_err(&import(&b, &a.lib(), &["--json"]));
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("not a remote ID") && msg.contains("U+001B"),
        "{msg}"
    );
    assert_nothing_imported(&b);
    add_provider(&a.lib(), &wolf, "alpha", "id-1");
    assert!(import(&b, &a.lib(), &["--json"]).status.success());
    assert!(std::fs::remove_dir_all(b.lib()).is_ok());

    // A clip replaced by a link to a file elsewhere is refused too.
    let elsewhere = a.path("elsewhere.mp4");
    std::fs::copy(clip_a(), &elsewhere).unwrap();
    std::fs::remove_file(&clip).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &clip).unwrap();
    let e = json_err(&import(&b, &a.lib(), &["--json"]));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{e}"
    );
    assert_nothing_imported(&b);
}

/// The `.gitignore` the README suggests for a library kept in git.
const LIBRARY_GITIGNORE: &str = ".work/\n.trash/\n.index/\n.lock\n";

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Cast",
            "-c",
            "user.email=cast@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "pull.rebase=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

#[test]
fn two_git_clones_of_a_library_create_characters_apart_and_merge_without_conflicts() {
    let a = Env::new();
    let shared = id_of(&a.create(&clip_a(), "Wolf", &[]));
    std::fs::write(a.lib().join(".gitignore"), LIBRARY_GITIGNORE).unwrap();
    git(&a.lib(), &["init", "-q"]);
    git(&a.lib(), &["add", "-A"]);
    git(&a.lib(), &["commit", "-qm", "cast"]);

    // A clone elsewhere: its own library, used through castbook like any other.
    let b = Env::new();
    let src = a.lib().to_str().unwrap().to_string();
    let dest = b.lib().to_str().unwrap().to_string();
    git(b.dir.path(), &["clone", "-q", &src, &dest]);
    let listed = json_ok(&b.run(&["list", "--json"]));
    assert_eq!(listed[0]["id"], shared.as_str());

    // Each side creates its own characters and commits.
    let fox = id_of(&a.create(&clip_a(), "Fox", &[]));
    git(&a.lib(), &["add", "-A"]);
    git(&a.lib(), &["commit", "-qm", "fox"]);
    let bear = id_of(&b.create(&clip_b(), "Bear", &[]));
    assert!(b.run(&["edit", "Wolf", "--tag", "night"]).status.success());
    git(&b.lib(), &["add", "-A"]);
    git(&b.lib(), &["commit", "-qm", "bear"]);
    // Nothing of the library's own housekeeping is committed.
    let tracked = stdout(&git(&b.lib(), &["ls-files"]));
    assert!(
        tracked
            .lines()
            .all(|l| l == ".gitignore" || l.starts_with("char_")),
        "{tracked}"
    );

    // B pulls A: a clean merge (git exits non-zero on a conflict), all three characters.
    git(&b.lib(), &["pull", "-q", "--no-edit", "origin", "main"]);
    let mut ids = vec![shared.clone(), fox, bear];
    ids.sort();
    assert_eq!(b.characters(), ids);
    let doctor = b.run(&["doctor", "--json"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    let wolf = json_ok(&b.run(&["show", "Wolf", "--json"]));
    assert_eq!(wolf["tags"], serde_json::json!(["night"]));
    let status = stdout(&git(&b.lib(), &["status", "--porcelain"]));
    assert_eq!(status, "", "castbook left files git would see");
}

/// The sample pack rebuilt with `edit` applied to each entry's (header, data).
fn rebuilt(bytes: &[u8], edit: impl Fn(&str, &mut tar::Header, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        edit(&path, &mut h, &mut data);
        h.set_cksum();
        out.append(&h, &data[..]).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn sizes_are_bounded_before_anything_is_read() {
    let (a, _file, bytes) = sample_pack();
    let b = Env::new();
    let try_pack = |name: &str, data: Vec<u8>| -> String {
        let file = a.path(name);
        std::fs::write(&file, data).unwrap();
        let e = json_err(&import(&b, &file, &["--json"]));
        assert_eq!(e["code"], "bad_pack", "{e}");
        assert_nothing_imported(&b);
        e["message"].as_str().unwrap().to_string()
    };

    // A manifest that lists a clip of a terabyte.
    let huge = rebuilt(&bytes, |path, h, data| {
        if path == "manifest.json" {
            let mut m: Value = serde_json::from_slice(data).unwrap();
            for f in m["files"].as_array_mut().unwrap() {
                if f["path"].as_str().unwrap().ends_with("clip.mp4") {
                    f["size"] = Value::from(1u64 << 40);
                }
            }
            *data = serde_json::to_vec(&m).unwrap();
            h.set_size(data.len() as u64);
        }
    });
    let msg = try_pack("huge.castpack", huge);
    assert!(msg.contains("over the 67108864-byte limit"), "{msg}");

    // An entry whose header says more than its manifest.
    let longer = rebuilt(&bytes, |path, h, _| {
        if path.ends_with("keyframes/01.jpg") {
            h.set_size(1 << 30);
        }
    });
    let msg = try_pack("longer.castpack", longer);
    assert!(msg.contains("its manifest says"), "{msg}");

    // A second manifest later on.
    let twice = rebuilt(&bytes, |path, h, data| {
        if path.ends_with("keyframes/02.jpg") {
            let manifest_path = b"manifest.json";
            let raw = h.as_old_mut();
            raw.name = [0; 100];
            raw.name[..manifest_path.len()].copy_from_slice(manifest_path);
            *data = b"{}".to_vec();
            h.set_size(2);
        }
    });
    let msg = try_pack("twice.castpack", twice);
    assert!(
        msg.contains("manifest.json must be its first entry"),
        "{msg}"
    );
}
