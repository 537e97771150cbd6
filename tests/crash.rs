//! Crash harness: the real binary SIGKILLed during `create`, `edit`, `remove` and `restore` at
//! moments spread over each command's run time, and concurrent writers (2 and 4 processes)
//! taking the same and different names. After every kill and every round the library is
//! checked from the files alone: every record parses and matches its folder, every character
//! is whole (its clip and keyframes match the hashes its record keeps), no two names are the
//! same, the trash holds only whole characters, nothing was lost, no temporary file is left,
//! and the next run leaves `.work/` empty.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use castbook::library::name::name_key;
use common::*;
use serde_json::Value;

/// What the files say: characters by ID (name) in the library, and IDs in the trash.
#[derive(Debug, Default)]
struct State {
    live: BTreeMap<String, String>,
    trash: Vec<String>,
}

impl State {
    fn places(&self, id: &str) -> usize {
        usize::from(self.live.contains_key(id)) + self.trash.iter().filter(|t| *t == id).count()
    }
}

fn blake3_of(p: &Path) -> String {
    blake3::hash(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .to_hex()
        .to_string()
}

/// A character folder is whole: its record parses, names its folder's ID, and its clip and
/// keyframes are there with the bytes its record's hashes say; no temporary file inside.
fn check_whole(dir: &Path, id: &str, ctx: &str) -> String {
    let rec_path = dir.join("character.json");
    let bytes = std::fs::read(&rec_path)
        .unwrap_or_else(|e| panic!("{ctx}: {} unreadable: {e}", rec_path.display()));
    let rec: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{ctx}: {} is not JSON: {e}", rec_path.display()));
    assert_eq!(
        rec["id"],
        id,
        "{ctx}: record id vs folder {}",
        dir.display()
    );
    let clip = dir.join(rec["clip"]["path"].as_str().unwrap());
    let meta = std::fs::metadata(&clip)
        .unwrap_or_else(|e| panic!("{ctx}: half-saved {}: clip: {e}", dir.display()));
    assert_eq!(
        meta.len(),
        rec["clip"]["size_bytes"].as_u64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        blake3_of(&clip),
        rec["clip"]["blake3"]
            .as_str()
            .expect("new records keep the clip hash"),
        "{ctx}: {}",
        clip.display()
    );
    let kf = rec["keyframes"].as_array().unwrap();
    let hashes = rec["keyframes_blake3"].as_array().unwrap();
    assert_eq!(kf.len(), hashes.len(), "{ctx}");
    for (k, h) in kf.iter().zip(hashes) {
        let p = dir.join(k.as_str().unwrap());
        assert_eq!(blake3_of(&p), h.as_str().unwrap(), "{ctx}: {}", p.display());
    }
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(
            matches!(n.as_str(), "character.json" | "clip.mp4" | "keyframes"),
            "{ctx}: stray {n} in {}",
            dir.display()
        );
    }
    rec["name"].as_str().unwrap().to_string()
}

/// Check the whole library; panics with `ctx` on the first broken promise.
fn check_library(lib: &Path, ctx: &str) -> State {
    let mut state = State::default();
    for e in std::fs::read_dir(lib).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        match n.as_str() {
            ".work" | ".trash" | ".lock" | ".index" => continue,
            _ => {}
        }
        assert!(
            castbook::library::name::is_id(&n),
            "{ctx}: unexpected {n} in the library"
        );
        let name = check_whole(&e.path(), &n, ctx);
        state.live.insert(n, name);
    }
    let mut keys = BTreeMap::new();
    for (id, name) in &state.live {
        if let Some(other) = keys.insert(name_key(name), id) {
            panic!("{ctx}: duplicate name {name:?}: {id} and {other}");
        }
    }
    if let Ok(rd) = std::fs::read_dir(lib.join(".trash")) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let id = &n[..17];
            check_whole(&e.path(), id, &format!("{ctx} (trash {n})"));
            state.trash.push(id.to_string());
        }
    }
    state
}

/// Any command (the next run) cleans `.work/`; then nothing temporary is left anywhere.
fn next_run_cleans(env: &Env, ctx: &str) -> State {
    let out = env.run(&["list", "--json"]);
    assert!(out.status.success(), "{ctx}: {}", stderr(&out));
    assert_eq!(
        env.work_leftovers(),
        Vec::<String>::new(),
        "{ctx}: .work/ after the next run"
    );
    check_library(&env.lib(), ctx)
}

/// Run `args`, SIGKILL it after `delay` (if still running); whether it was killed.
fn kill_after(env: &Env, args: &[&str], delay: Duration) -> bool {
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// How long `args` takes to the end.
fn time_of(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    t.elapsed()
}

/// A copy of `template`'s folder under a new ID and name, as if created: the clip and
/// keyframes hard-linked (same bytes, same hashes), the record rewritten.
fn clone_character(lib: &Path, template: &str, id: &str, name: &str) {
    let src = lib.join(template);
    let tmp = lib.join(".work").join(format!("clone-{id}"));
    std::fs::create_dir_all(tmp.join("keyframes")).unwrap();
    let mut rec: Value =
        serde_json::from_slice(&std::fs::read(src.join("character.json")).unwrap()).unwrap();
    std::fs::hard_link(src.join("clip.mp4"), tmp.join("clip.mp4")).unwrap();
    for k in rec["keyframes"].as_array().unwrap() {
        let k = k.as_str().unwrap();
        std::fs::hard_link(src.join(k), tmp.join(k)).unwrap();
    }
    rec["id"] = id.into();
    rec["name"] = name.into();
    std::fs::write(
        tmp.join("character.json"),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    std::fs::rename(&tmp, lib.join(id)).unwrap();
}

fn synthetic_id(i: usize) -> String {
    const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut s = String::from("char_zz");
    let mut n = i;
    for _ in 0..10 {
        s.push(B32[n % 32] as char);
        n /= 32;
    }
    s
}

fn spread(run: Duration, i: usize, n: usize) -> Duration {
    // From just after the start to a little past the usual end.
    run.mul_f64(1.2 * (i as f64 + 0.5) / n as f64)
}

#[test]
fn sigkill_at_many_moments_loses_nothing_and_leaves_nothing() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    let base = env.create(&clip, "base", &[]);
    let base_id = base["id"].as_str().unwrap().to_string();
    let lib = env.lib();
    let mut kills = BTreeMap::<&str, (usize, usize)>::new();

    // create: each run a new name (so a new ID); killed or not, it is whole or absent.
    let n_create = 20;
    let create_time = time_of({
        let mut c = env.cmd();
        c.arg("create").arg(&clip).args(["--name", "timing"]);
        c
    });
    for i in 0..n_create {
        let name = format!("created {i}");
        let delay = spread(create_time, i, n_create);
        let args = ["create", clip.to_str().unwrap(), "--name", &name];
        let killed = kill_after(&env, &args, delay);
        let e = kills.entry("create").or_default();
        e.0 += 1;
        e.1 += usize::from(killed);
        let ctx = format!("create killed after {delay:?}");
        let before = check_library(&lib, &ctx);
        let after = next_run_cleans(&env, &ctx);
        assert_eq!(
            before.live, after.live,
            "{ctx}: the next run changed the library"
        );
    }

    // edit: the name is the old or the new one, never anything else. Long notes make the
    // write (and its fsync) a good part of the run, so kills land in it too.
    let n_edit = 24;
    let notes = |i: usize| format!("{i} {}", "notes ".repeat(20_000));
    let edit_time = time_of({
        let mut c = env.cmd();
        c.args(["edit", &base_id, "--notes", &notes(99)]);
        c
    });
    let mut name = "base".to_string();
    for i in 0..n_edit {
        let new = format!("base renamed {i}");
        let delay = spread(edit_time, i, n_edit);
        let killed = kill_after(
            &env,
            &["edit", &base_id, "--name", &new, "--notes", &notes(i)],
            delay,
        );
        let e = kills.entry("edit").or_default();
        e.0 += 1;
        e.1 += usize::from(killed);
        let ctx = format!("edit killed after {delay:?}");
        let state = next_run_cleans(&env, &ctx);
        let now = &state.live[&base_id];
        assert!(*now == name || *now == new, "{ctx}: name {now:?}");
        name = now.clone();
    }

    // remove and restore: the character is in exactly one place, whole.
    let n_move = 12;
    let ids: Vec<String> = (0..n_move + 1).map(synthetic_id).collect();
    for (i, id) in ids.iter().enumerate() {
        clone_character(&lib, &base_id, id, &format!("clone {i}"));
    }
    check_library(&lib, "clones");
    let remove_time = time_of({
        let mut c = env.cmd();
        c.args(["remove", &ids[n_move]]);
        c
    });
    let restore_time = time_of({
        let mut c = env.cmd();
        c.args(["restore", &ids[n_move]]);
        c
    });
    for (i, id) in ids.iter().take(n_move).enumerate() {
        let delay = spread(remove_time, i, n_move);
        let killed = kill_after(&env, &["remove", id], delay);
        let e = kills.entry("remove").or_default();
        e.0 += 1;
        e.1 += usize::from(killed);
        let ctx = format!("remove of {id} killed after {delay:?}");
        let state = next_run_cleans(&env, &ctx);
        assert_eq!(state.places(id), 1, "{ctx}: {state:?}");
        if state.live.contains_key(id) {
            // Killed before the move: remove it for the restore round.
            assert!(env.run(&["remove", id]).status.success());
        }
    }
    for (i, id) in ids.iter().take(n_move).enumerate() {
        let delay = spread(restore_time, i, n_move);
        let killed = kill_after(&env, &["restore", id], delay);
        let e = kills.entry("restore").or_default();
        e.0 += 1;
        e.1 += usize::from(killed);
        let ctx = format!("restore of {id} killed after {delay:?}");
        let state = next_run_cleans(&env, &ctx);
        assert_eq!(state.places(id), 1, "{ctx}: {state:?}");
    }

    let total: usize = kills.values().map(|k| k.0).sum();
    assert!(total >= 50, "{total} kills");
    // The kills land inside the runs, not only after them.
    let mid: usize = kills.values().map(|k| k.1).sum();
    assert!(
        mid * 2 >= total,
        "only {mid} of {total} kills hit a running process"
    );
    eprintln!("kills (moments, of which mid-run): {kills:?}");
}

/// Start `n` processes at once and wait for all; their exit codes and stderr.
fn all_at_once(cmds: Vec<Command>) -> Vec<(Option<i32>, String)> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            (o.status.code(), stderr(&o))
        })
        .collect()
}

#[test]
fn concurrent_writers_never_duplicate_a_name_or_lose_a_character() {
    let env = Env::new();
    let lib = env.lib();
    let clips: Vec<PathBuf> = (0..4)
        .map(|i| {
            testsrc(
                &format!("crash-{i}.mp4"),
                "1280x720",
                25,
                1.5 + 0.1 * i as f64,
                false,
            )
        })
        .collect();
    let mut processes = 0;
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for (round, n) in [2usize, 4, 2, 4].into_iter().enumerate() {
        // The same name at once, different clips (so different IDs): exactly one wins.
        let same = format!("Same {round}");
        let cmds = (0..n)
            .map(|i| {
                let mut c = env.cmd();
                let name = if i % 2 == 0 {
                    same.clone()
                } else {
                    same.to_uppercase()
                };
                c.arg("create").arg(&clips[i]).args(["--name", &name]);
                c
            })
            .collect();
        let out = all_at_once(cmds);
        processes += n;
        let won = out.iter().filter(|(c, _)| *c == Some(0)).count();
        assert_eq!(won, 1, "round {round}: {out:?}");
        for (code, err) in &out {
            if *code != Some(0) {
                assert_eq!(*code, Some(3), "{err}");
                assert!(err.contains("is taken"), "{err}");
            }
        }
        let state = check_library(&lib, &format!("round {round}, same name"));
        let holder = state
            .live
            .iter()
            .find(|(_, nm)| name_key(nm) == name_key(&same))
            .map(|(id, _)| id.clone())
            .unwrap();
        expected.insert(holder);

        // Different names at once: all are saved.
        let cmds = (0..n)
            .map(|i| {
                let mut c = env.cmd();
                c.arg("create")
                    .arg(&clips[i])
                    .args(["--name", &format!("own {round} {i}")]);
                c
            })
            .collect();
        let out = all_at_once(cmds);
        processes += n;
        assert!(out.iter().all(|(c, _)| *c == Some(0)), "{out:?}");
        let state = check_library(&lib, &format!("round {round}, own names"));
        for i in 0..n {
            let (id, _) = state
                .live
                .iter()
                .find(|(_, nm)| **nm == format!("own {round} {i}"))
                .unwrap_or_else(|| panic!("own {round} {i} lost"));
            expected.insert(id.clone());
        }

        // Renames of n characters to one name at once: exactly one wins.
        let targets: Vec<String> = state
            .live
            .iter()
            .filter(|(_, nm)| nm.starts_with(&format!("own {round} ")))
            .map(|(id, _)| id.clone())
            .collect();
        let to = format!("Renamed {round}");
        let cmds = targets
            .iter()
            .map(|id| {
                let mut c = env.cmd();
                c.args(["edit", id, "--name", &to]);
                c
            })
            .collect();
        let out = all_at_once(cmds);
        processes += n;
        let won = out.iter().filter(|(c, _)| *c == Some(0)).count();
        assert_eq!(won, 1, "round {round} renames: {out:?}");
        // Renames to different names at once: all done.
        let cmds = targets
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut c = env.cmd();
                c.args(["edit", id, "--name", &format!("final {round} {i}")]);
                c
            })
            .collect();
        let out = all_at_once(cmds);
        processes += n;
        assert!(out.iter().all(|(c, _)| *c == Some(0)), "{out:?}");
        let state = check_library(&lib, &format!("round {round}, renames"));
        for i in 0..n {
            assert!(
                state
                    .live
                    .values()
                    .any(|nm| *nm == format!("final {round} {i}")),
                "final {round} {i} lost"
            );
        }
    }
    let state = next_run_cleans(&env, "after the rounds");
    for id in &expected {
        assert!(state.live.contains_key(id), "{id} lost");
    }
    assert_eq!(state.live.len(), expected.len());
    eprintln!("concurrent writer processes: {processes}");
}

#[test]
fn what_a_killed_edit_leaves_is_removed_by_the_next_run_and_never_reaches_the_trash() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let id = rec["id"].as_str().unwrap();
    let dir = env.lib().join(id);
    // A temporary record of an edit killed before its rename (where edits write them now),
    // and one an older castbook left beside the record.
    let work_tmp = env
        .lib()
        .join(".work")
        .join(format!("edit-999999-{id}.json"));
    std::fs::write(&work_tmp, b"{\"half\":").unwrap();
    std::fs::write(dir.join(".character.json.tmp-999999"), b"{\"half\":").unwrap();
    // The next run, whatever it is, removes the one in .work/.
    assert!(env.run(&["list"]).status.success());
    assert!(!work_tmp.exists());
    assert!(env.work_leftovers().is_empty());
    // An edit of the character removes the one in its folder.
    assert!(env.run(&["edit", id, "--notes", "n"]).status.success());
    assert!(!dir.join(".character.json.tmp-999999").exists());
    // A removal never carries one into the trash.
    std::fs::write(dir.join(".character.json.tmp-999998"), b"{").unwrap();
    assert!(env.run(&["remove", id]).status.success());
    let state = check_library(&env.lib(), "after remove");
    assert_eq!(state.trash, vec![id.to_string()]);
    // Nor does a restore bring one back.
    let entry = std::fs::read_dir(env.lib().join(".trash"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(entry.join(".character.json.tmp-999997"), b"{").unwrap();
    assert!(env.run(&["restore", id]).status.success());
    let state = check_library(&env.lib(), "after restore");
    assert!(state.live.contains_key(id));
}

#[test]
fn a_live_edit_temporary_is_not_removed_while_an_edit_holds_the_lock() {
    use std::os::unix::fs::OpenOptionsExt;
    let env = Env::new();
    env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let tmp = env
        .lib()
        .join(".work")
        .join("edit-1-char_aaaaaaaaaaaa.json");
    std::fs::write(&tmp, b"{").unwrap();
    // Another process (here: this test) holds the library lock, as an edit does while its
    // temporary record exists: a run that opens the library leaves the file alone.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .mode(0o644)
        .open(env.lib().join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    assert!(env.run(&["list"]).status.success());
    assert!(tmp.exists(), "removed under a live edit");
    drop(lock);
    assert!(env.run(&["list"]).status.success());
    assert!(!tmp.exists());
}
