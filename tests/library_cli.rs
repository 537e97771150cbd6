//! The library through the CLI: idempotent create, names, show/edit/remove by ID and name,
//! search, export (CSV parsed back), trash, corrupt records, library location precedence.

mod common;

use common::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn same_input_and_name_twice_is_one_character() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    let a = env.create(&clip, "bunny", &[]);
    let b = env.create(&clip, "bunny", &[]);
    assert_eq!(a["id"], b["id"]);
    assert_eq!(env.characters().len(), 1);
    // After a rename, creating with the first name again still returns the same character.
    let id = a["id"].as_str().unwrap();
    let r = env.run(&["edit", id, "--name", "Bugs"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let c = env.create(&clip, "bunny", &[]);
    assert_eq!(c["id"], a["id"]);
    assert_eq!(c["name"], "Bugs");
    assert_eq!(env.characters().len(), 1);
    // The NFC form of the first name is the same name.
    let d = env.create(&clip, "  bunny ", &[]);
    assert_eq!(d["id"], a["id"]);
    // Another start is another character.
    let e = env.create(&clip, "bunny late", &["--start", "1"]);
    assert_ne!(e["id"], a["id"]);
    assert_eq!(env.characters().len(), 2);
}

#[test]
fn the_id_is_defined_by_content_start_and_nfc_name() {
    let env = Env::new();
    let clip = fixture("bigbuckbunny.mp4");
    // "Jose\u{301}" is stored as NFC "José".
    let rec = env.create(&clip, "Jose\u{301}", &[]);
    assert_eq!(rec["name"], "José");
    let bytes = std::fs::read(&clip).unwrap();
    let expected = castbook::library::id::character_id(&bytes, 0, "José");
    assert_eq!(rec["id"], expected.as_str());
    assert_eq!(
        rec["source"]["blake3"],
        blake3::hash(&bytes).to_hex().as_str()
    );
    assert_eq!(rec["source"]["size_bytes"], bytes.len() as u64);
    // Its NFD spelling is the same name: taken by itself, so the same character.
    let again = env.create(&clip, "José", &[]);
    assert_eq!(again["id"], rec["id"]);
}

#[test]
fn show_edit_remove_by_id_and_by_exact_name() {
    let env = Env::new();
    let rec = env.create(
        &fixture("bigbuckbunny.mp4"),
        "Wolf",
        &["--tag", "hero", "--notes", "grey coat"],
    );
    let id = rec["id"].as_str().unwrap();
    let by_id = json(&env.run(&["show", id, "--json"]));
    let by_name = json(&env.run(&["show", "Wolf", "--json"]));
    assert_eq!(by_id, by_name);
    assert_eq!(by_id["tags"], serde_json::json!(["hero"]));
    assert_eq!(by_id["notes"], "grey coat");
    // No prefix or fuzzy match for show.
    let miss = env.run(&["show", "Wol", "--json"]);
    assert_eq!(miss.status.code(), Some(3));
    assert_eq!(json_err(&miss)["code"], "not_found");

    let edited = json(&env.run(&[
        "edit", "Wolf", "--name", "Wolfgang", "--notes", "=SUM(A1)", "--tag", "villain", "--untag",
        "hero", "--json",
    ]));
    assert_eq!(edited["name"], "Wolfgang");
    assert_eq!(edited["tags"], serde_json::json!(["villain"]));
    assert_eq!(edited["id"], id);
    // The ID, source and clip did not change.
    assert_eq!(edited["source"], rec["source"]);
    assert_eq!(edited["clip"], rec["clip"]);

    let removed = env.run(&["remove", "Wolfgang"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(env.characters().is_empty());
    let trash: Vec<String> = std::fs::read_dir(env.lib().join(".trash"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(trash.len(), 1);
    assert!(trash[0].starts_with(&format!("{id}-")), "{trash:?}");
    assert!(
        env.lib()
            .join(".trash")
            .join(&trash[0])
            .join("clip.mp4")
            .exists()
    );
    let gone = env.run(&["show", id]);
    assert_eq!(gone.status.code(), Some(3));
}

fn json_err(out: &std::process::Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["error"].clone()
}

#[test]
fn edit_rejects_a_taken_or_bad_name() {
    let env = Env::new();
    let a = env.create(&fixture("bigbuckbunny.mp4"), "Alpha", &[]);
    env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Beta",
        &[],
    );
    let before = std::fs::read(
        env.lib()
            .join(a["id"].as_str().unwrap())
            .join("character.json"),
    )
    .unwrap();
    let taken = env.run(&["edit", "Alpha", "--name", "beta", "--json"]);
    assert_eq!(taken.status.code(), Some(3));
    assert_eq!(json_err(&taken)["code"], "name_taken");
    let bad = env.run(&["edit", "Alpha", "--name", "char_x", "--json"]);
    assert_eq!(bad.status.code(), Some(3));
    assert_eq!(json_err(&bad)["code"], "name_invalid");
    let after = std::fs::read(
        env.lib()
            .join(a["id"].as_str().unwrap())
            .join("character.json"),
    )
    .unwrap();
    assert_eq!(before, after);
    // Changing only the case of one's own name is allowed.
    let ok = json(&env.run(&["edit", "Alpha", "--name", "ALPHA", "--json"]));
    assert_eq!(ok["name"], "ALPHA");
}

#[test]
fn unknown_fields_survive_an_edit() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "keep", &[]);
    let path = env
        .lib()
        .join(rec["id"].as_str().unwrap())
        .join("character.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["future_field"] = serde_json::json!({"x": 1});
    v["clip"]["future_clip_field"] = serde_json::json!(true);
    v["signature"] = serde_json::json!({"version": 2, "embedding": [0.5, -1.25]});
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(env.run(&["edit", "keep", "--notes", "n"]).status.success());
    let after: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(after["future_field"], serde_json::json!({"x": 1}));
    assert_eq!(after["clip"]["future_clip_field"], true);
    assert_eq!(
        after["signature"],
        serde_json::json!({"version": 2, "embedding": [0.5, -1.25]})
    );
    assert_eq!(after["notes"], "n");
}

#[test]
fn list_search_and_export() {
    let env = Env::new();
    let a = env.create(
        &fixture("bigbuckbunny.mp4"),
        "Wolf",
        &["--tag", "hero", "--tag", "forest"],
    );
    let b = env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Wolfgang, \"the\" Great",
        &["--notes", "=HYPERLINK(\"x\") line two", "--tag=-minus"],
    );
    let list = json(&env.run(&["list", "--json"]));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [a["id"].as_str().unwrap(), b["id"].as_str().unwrap()],
        "oldest first"
    );

    let s = json(&env.run(&["search", "wolf", "--json"]));
    assert_eq!(s.as_array().unwrap().len(), 2);
    assert_eq!(s[0]["name"], "Wolf", "the exact name is best");
    let s = json(&env.run(&["search", "wlfg", "--json"]));
    assert_eq!(s.as_array().unwrap().len(), 1, "fuzzy over names");
    let s = json(&env.run(&["search", "forest", "--json"]));
    assert_eq!(s[0]["id"], a["id"], "substring over tags");
    let s = json(&env.run(&["search", "line two", "--json"]));
    assert_eq!(s[0]["id"], b["id"], "substring over notes");
    let id_part = &b["id"].as_str().unwrap()[5..11];
    let s = json(&env.run(&["search", id_part, "--json"]));
    assert_eq!(s[0]["id"], b["id"], "fuzzy over IDs");
    let none = env.run(&["search", "zzzzqqq", "--json"]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(json(&none), serde_json::json!([]));

    // CSV to a file, parsed back: the same values, formula cells guarded.
    let out = env.path("cast.csv");
    let r = env
        .cmd()
        .args(["export", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let mut rd = csv::Reader::from_path(&out).unwrap();
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "name", "tags", "notes", "created_at", "providers"]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], a["id"].as_str().unwrap());
    assert_eq!(&rows[0][1], "Wolf");
    assert_eq!(&rows[0][2], "hero;forest");
    assert_eq!(&rows[0][4], a["created_at"].as_str().unwrap());
    assert_eq!(&rows[1][1], "Wolfgang, \"the\" Great");
    assert_eq!(&rows[1][2], "'-minus");
    assert_eq!(&rows[1][3], "'=HYPERLINK(\"x\") line two");
    // CSV on stdout is the same document.
    let r = env.run(&["export"]);
    assert_eq!(std::fs::read(&out).unwrap(), r.stdout);
    // JSON export is the array of records.
    let j = json(&env.run(&["export", "--format", "json"]));
    assert_eq!(j, list);
}

#[test]
fn corrupt_records_are_reported_and_left_alone() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "fine", &[]);
    let bad_dir = env.lib().join("char_aaaaaaaaaaaa");
    std::fs::create_dir(&bad_dir).unwrap();
    std::fs::write(bad_dir.join("character.json"), b"{not json").unwrap();
    let out = env.run(&["list", "--json"]);
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], rec["id"]);
    assert!(
        stderr(&out).contains("char_aaaaaaaaaaaa"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(bad_dir.join("character.json")).unwrap(),
        b"{not json"
    );
}

#[test]
fn stale_work_leftovers_are_cleaned() {
    let env = Env::new();
    std::fs::create_dir_all(env.lib().join(".work/job-dead/keyframes")).unwrap();
    std::fs::write(env.lib().join(".work/job-dead/clip.mp4"), b"partial").unwrap();
    std::fs::write(env.lib().join(".work/job-dead.lock"), b"").unwrap();
    assert!(env.run(&["list"]).status.success());
    assert!(
        env.work_leftovers().is_empty(),
        "{:?}",
        env.work_leftovers()
    );
}

#[test]
fn library_location_precedence() {
    let env = Env::new();
    let cfg = env.path("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "library = {:?}\n",
            env.path("from-config").display().to_string()
        ),
    )
    .unwrap();
    let base = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"));
        c.env("CASTBOOK_CONFIG", &cfg)
            .env_remove("CASTBOOK_LIBRARY");
        c
    };
    let clip = fixture("bigbuckbunny.mp4");
    let run = |c: &mut std::process::Command| {
        let o = c
            .arg("create")
            .arg(&clip)
            .args(["--name", "p"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run(&mut base());
    assert!(
        env.path("from-config").join(".work").exists(),
        "config library used"
    );
    run(base().env("CASTBOOK_LIBRARY", env.path("from-env")));
    assert!(
        env.path("from-env").join(".work").exists(),
        "env beats config"
    );
    run(base()
        .env("CASTBOOK_LIBRARY", env.path("from-env2"))
        .arg("--library")
        .arg(env.path("from-flag")));
    assert!(
        env.path("from-flag").join(".work").exists(),
        "flag beats env"
    );
    assert!(!env.path("from-env2").exists());
}

#[test]
fn broken_config_is_one_clear_error() {
    let env = Env::new();
    let cfg = env.path("bad.toml");
    std::fs::write(&cfg, "theme = \"dark\"\nlibrary = [1, 2\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .env("CASTBOOK_CONFIG", &cfg)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let e = json_err(&out);
    assert_eq!(e["code"], "config");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("bad.toml") && msg.contains("line 2"), "{msg}");
}

#[test]
fn version_and_usage_errors() {
    let env = Env::new();
    let v = env.run(&["--version"]);
    assert!(v.status.success());
    assert!(stdout(&v).starts_with("castbook "), "{}", stdout(&v));
    let u = env.run(&["create", "x.mp4"]);
    assert_eq!(u.status.code(), Some(2), "missing --name is a usage error");
    let e = env.run(&["edit", "someone"]);
    assert_eq!(
        e.status.code(),
        Some(2),
        "edit without a change is a usage error"
    );
    let x = env.run(&[
        "export",
        "--output",
        "/nonexistent-folder/cast.csv",
        "--format",
        "json",
    ]);
    assert_eq!(x.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&x.stdout).unwrap();
    assert_eq!(v["error"]["code"], "output");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

#[test]
fn two_processes_on_one_library_lose_nothing() {
    let env = Env::new();
    let a = fixture("bigbuckbunny.mp4");
    let b = testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true);
    let c = testsrc("1080p-6s.mp4", "1920x1080", 30, 6.0, true);
    env.create(&a, "first", &[]); // the library exists
    // Different names at once: both are saved.
    let p1 = env
        .cmd()
        .arg("create")
        .arg(&b)
        .args(["--name", "left"])
        .output();
    let p2 = env
        .cmd()
        .arg("create")
        .arg(&c)
        .args(["--name", "right"])
        .spawn()
        .unwrap();
    let (o1, o2) = (p1.unwrap(), p2.wait_with_output().unwrap());
    assert!(o1.status.success() && o2.status.success());
    assert_eq!(env.characters().len(), 3);
    // The same name at once: exactly one wins, the other is told the name is taken.
    let s1 = env
        .cmd()
        .arg("create")
        .arg(&b)
        .args(["--name", "Same", "--start", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let s2 = env
        .cmd()
        .arg("create")
        .arg(&c)
        .args(["--name", "same", "--start", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (r1, r2) = (
        s1.wait_with_output().unwrap(),
        s2.wait_with_output().unwrap(),
    );
    let codes = [r1.status.code(), r2.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(3)),
        "{codes:?}"
    );
    let loser = if r1.status.code() == Some(3) {
        &r1
    } else {
        &r2
    };
    assert!(stderr(loser).contains("is taken"), "{}", stderr(loser));
    assert_eq!(env.characters().len(), 4);
    assert!(env.work_leftovers().is_empty());
}

#[test]
fn similar_ranks_by_signature_for_a_character_or_a_clip() {
    let env = Env::new();
    let bunny = fixture("bigbuckbunny.mp4");
    let a = env.create(&bunny, "Bunny", &[]);
    let b = env.create(&bunny, "Bunny late", &["--start", "1"]);
    let t = env.create(
        &testsrc("720p-audio.mp4", "1280x720", 25, 3.0, true),
        "Test pattern",
        &[],
    );

    let rows = json(&env.run(&["similar", "Bunny", "--json"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "the character itself is not listed");
    assert_eq!(rows[0]["id"], b["id"]);
    assert_eq!(rows[1]["id"], t["id"]);
    let (s0, s1) = (
        rows[0]["similarity"].as_f64().unwrap(),
        rows[1]["similarity"].as_f64().unwrap(),
    );
    assert!(s0 >= 0.9 && s1 < s0, "{s0} {s1}");

    // A clip that is not a character yet: its own window is the closest.
    let out = env
        .cmd()
        .arg("similar")
        .arg(&bunny)
        .arg("--json")
        .output()
        .unwrap();
    let rows = json(&out);
    assert_eq!(rows[0]["id"], a["id"], "{rows}");
    assert!(rows[0]["similarity"].as_f64().unwrap() >= 0.95, "{rows}");

    let one = json(&env.run(&["similar", "Test pattern", "--limit", "1", "--json"]));
    assert_eq!(one.as_array().unwrap().len(), 1);
    let human = env.run(&["similar", "Bunny"]);
    assert!(
        stdout(&human)
            .lines()
            .next()
            .unwrap()
            .contains(b["id"].as_str().unwrap())
    );

    let missing = env.run(&["similar", "nobody", "--json"]);
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(json_err(&missing)["code"], "not_found");
}

/// Whether `text` holds a control character other than a line end.
fn has_raw_control(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\r') || ('\u{202A}'..='\u{202E}').contains(&c)
    })
}

#[test]
fn export_and_every_output_escape_control_characters_of_older_records() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &["--tag", "hero"]);
    let id = rec["id"].as_str().unwrap();
    // A record written before notes, tags and remote IDs were checked.
    let path = env.lib().join(id).join("character.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["notes"] = "title\u{1b}]0;pwned\u{7} clear\u{1b}[2J csi\u{9b}31m \u{202E}rev".into();
    v["tags"] = serde_json::json!(["bell\u{7}", "hero"]);
    v["provider_ids"] = serde_json::json!({"sora": "r\u{1b}[2J\r\nX"});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let csv_out = env.run(&["export"]);
    assert!(csv_out.status.success(), "{}", stderr(&csv_out));
    let text = stdout(&csv_out);
    // Only the CRLF row ends are control characters.
    let without_ends = text.replace("\r\n", "");
    assert!(
        !has_raw_control(&without_ends) && !without_ends.contains(['\r', '\n']),
        "{text:?}"
    );
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let row = rd.records().next().unwrap().unwrap();
    assert_eq!(&row[2], "bell\\u{7};hero");
    assert_eq!(
        &row[3],
        "title\\u{1b}]0;pwned\\u{7} clear\\u{1b}[2J csi\\u{9b}31m \\u{202e}rev"
    );
    assert_eq!(&row[5], "sora=r\\u{1b}[2J\\r\\nX");

    // JSON (export and --json everywhere) keeps the values but no raw control character.
    for args in [
        vec!["export", "--format", "json"],
        vec!["export", "--json"],
        vec!["list", "--json"],
        vec!["show", id, "--json"],
        vec!["search", "wolf", "--json"],
    ] {
        let out = env.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            !has_raw_control(&stdout(&out)),
            "{args:?}: {:?}",
            stdout(&out)
        );
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let one = if parsed.is_array() {
            &parsed[0]
        } else {
            &parsed
        };
        assert_eq!(one["notes"], v["notes"], "{args:?}");
    }
    // Human output.
    for args in [vec!["list"], vec!["show", id], vec!["search", "wolf"]] {
        let out = env.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            !has_raw_control(&stdout(&out)),
            "{args:?}: {:?}",
            stdout(&out)
        );
        assert!(
            !has_raw_control(&stderr(&out)),
            "{args:?}: {:?}",
            stderr(&out)
        );
    }
}

#[test]
fn edit_refuses_control_characters_in_notes_and_tags() {
    let env = Env::new();
    let rec = env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let id = rec["id"].as_str().unwrap();
    let before = std::fs::read(env.lib().join(id).join("character.json")).unwrap();
    for (args, code, needle) in [
        (
            vec!["--notes", "a\u{1b}[2Jb"],
            "notes_invalid",
            "the notes contain the control character U+001B (escape) at character 2",
        ),
        (
            vec!["--tag", "x\u{1}y"],
            "tag_invalid",
            "control character U+0001",
        ),
    ] {
        let mut all = vec!["edit", id];
        all.extend(args);
        all.push("--json");
        let out = env.run(&all);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let e = json_err(&out);
        assert_eq!(e["code"], code);
        assert!(e["message"].as_str().unwrap().contains(needle), "{e}");
    }
    assert_eq!(
        std::fs::read(env.lib().join(id).join("character.json")).unwrap(),
        before
    );
}

#[test]
fn a_library_path_that_loops_or_dangles_is_named() {
    let env = Env::new();
    let (a, b) = (env.path("lib-a"), env.path("lib-b"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let run = |lib: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
            .env("CASTBOOK_CONFIG", env.path("no-config.toml"))
            .env_remove("CASTBOOK_LIBRARY")
            .arg("--library")
            .arg(lib)
            .args(["list", "--json"])
            .output()
            .unwrap()
    };
    let out = run(&a);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let msg = json_err(&out)["message"].as_str().unwrap().to_string();
    assert!(msg.contains("symbolic link that loops"), "{msg}");
    assert!(!msg.contains("os error"), "{msg}");
    let dangling = env.path("lib-gone");
    std::os::unix::fs::symlink(env.path("nowhere/deeper"), &dangling).unwrap();
    let out = run(&dangling);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let msg = json_err(&out)["message"].as_str().unwrap().to_string();
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(!msg.contains("os error"), "{msg}");
}

#[test]
fn completions_name_every_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for cmd in [
            "probe",
            "create",
            "list",
            "search",
            "show",
            "edit",
            "export",
            "remove",
            "register",
            "similar",
            "completions",
        ] {
            assert!(script.contains(cmd), "{shell} script lacks {cmd}");
        }
        assert!(script.contains("castbook"), "{shell}");
    }
    // Completions need no library: none is created.
    assert!(!env.lib().exists());
    let out = env.run(&["completions", "powershell-9"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_misspelt_command_suggests_the_right_one() {
    let env = Env::new();
    for (typed, meant) in [("lsit", "list"), ("craete", "create"), ("exprot", "export")] {
        let out = env.run(&[typed]);
        assert_eq!(out.status.code(), Some(2), "{typed}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "unknown command '{typed}': did you mean '{meant}'?"
            )),
            "{err}"
        );
        assert!(!err.contains("does not exist"), "{err}");
    }
    // A word that is close to no command is left to the terminal app as a path.
    let out = env.run(&["holidays"]);
    assert!(
        !stderr(&out).contains("unknown command"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_json_flag_is_format_json() {
    let env = Env::new();
    env.create(&fixture("bigbuckbunny.mp4"), "Wolf", &[]);
    let a = env.run(&["export", "--json"]);
    let b = env.run(&["export", "--format", "json"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert!(json(&a).is_array());
    // Errors with --json are JSON too.
    let e = env.run(&["export", "--json", "--output", "/nonexistent-folder/x.json"]);
    assert_eq!(e.status.code(), Some(3));
    assert_eq!(json_err(&e)["code"], "output");
    // --json and --format csv contradict each other.
    let c = env.run(&["export", "--json", "--format", "csv"]);
    assert_eq!(c.status.code(), Some(2));
}

#[test]
fn the_auto_window_is_a_note_not_a_warning() {
    let env = Env::new();
    let clip = testsrc("720p-6s-auto.mp4", "1280x720", 25, 6.0, false);
    let out = env
        .cmd()
        .arg("create")
        .arg(&clip)
        .args(["--name", "auto", "--start", "auto"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("note: --start auto chose the window"), "{err}");
    assert!(!err.contains("warning: --start auto"), "{err}");
    let id = stdout(&out).lines().next().unwrap().to_string();
    let show = env.run(&["show", &id]);
    assert!(
        stdout(&show).contains("note      --start auto chose the window"),
        "{}",
        stdout(&show)
    );
}
