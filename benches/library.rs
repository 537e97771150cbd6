//! The library at scale (SPEC section 8): `create` in a 10,000-character library against the
//! same create in an empty one (target <= 1.15x), and `list` of 10,000 against `list` of 100
//! (target <= 2x). Runs alternate in pairs in one run; the ratio of the medians is reported.
//!
//!     cargo bench --bench library                  # 9 pairs each
//!     CASTBOOK_BENCH_RUNS=15 cargo bench --bench library
//!     CASTBOOK_BENCH_PHASES=LIB cargo bench --bench library   # only the in-process phases
//!
//! The large libraries are made quickly: one real character is created, then copied under
//! other IDs and names (clip and keyframes hard-linked, the record rewritten).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_castbook"));
    c.env("CASTBOOK_CONFIG", "/nonexistent/castbook-bench.toml")
        .env_remove("CASTBOOK_LIBRARY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn clip() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bigbuckbunny.mp4");
    assert!(p.exists(), "run scripts/fixtures.sh first");
    p
}

fn create(lib: &Path, name: &str) -> Command {
    let mut c = bin();
    c.arg("--library")
        .arg(lib)
        .arg("create")
        .arg(clip())
        .args(["--name", name]);
    c
}

fn secs(mut c: Command) -> f64 {
    let t = Instant::now();
    let st = c.status().unwrap();
    assert!(st.success(), "{c:?}");
    t.elapsed().as_secs_f64()
}

fn id_of(i: usize) -> String {
    const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut s = String::from("char_");
    let mut n = i + 1_000_003;
    for _ in 0..12 {
        s.push(B32[n % 32] as char);
        n /= 32;
    }
    s
}

/// A library of `n` copies of the template character (same files, other IDs and names).
fn library_of(root: &Path, template: &Path, n: usize) -> PathBuf {
    let lib = root.join(format!("lib-{n}"));
    std::fs::create_dir_all(&lib).unwrap();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(template.join("character.json")).unwrap()).unwrap();
    let kf: Vec<String> = rec["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for i in 0..n {
        let id = id_of(i);
        let dir = lib.join(&id);
        std::fs::create_dir_all(dir.join("keyframes")).unwrap();
        std::fs::hard_link(template.join("clip.mp4"), dir.join("clip.mp4")).unwrap();
        for k in &kf {
            std::fs::hard_link(template.join(k), dir.join(k)).unwrap();
        }
        let mut r = rec.clone();
        r["id"] = id.clone().into();
        r["name"] = format!("character {i:05}").into();
        r["created_at"] = format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60).into();
        std::fs::write(
            dir.join("character.json"),
            serde_json::to_vec_pretty(&r).unwrap(),
        )
        .unwrap();
    }
    lib
}

/// Where the time of a create in a large library goes, in this process (milliseconds,
/// median of `runs`): the snapshot read while ffmpeg works, the look-alike comparison, and
/// the exact name check under the lock (with the snapshot, and reading the index itself).
fn phases(lib: &Path, template: &Path, runs: usize) {
    use castbook::library::Library;
    let l = Library::open(lib).unwrap();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(template.join("character.json")).unwrap()).unwrap();
    let sig: castbook::pipeline::signature::Signature =
        serde_json::from_value(rec["signature"].clone()).unwrap();
    let time = |f: &mut dyn FnMut()| {
        let mut v = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            f();
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        median(v)
    };
    let snap = l.names().unwrap();
    assert_eq!(snap.len(), 10_000);
    let names = time(&mut || drop(l.names().unwrap()));
    let look = time(&mut || assert!(snap.most_like(&sig).is_some()));
    let check = time(&mut || l.check_name_free("bench", None, Some(&snap)).unwrap());
    let check_alone = time(&mut || l.check_name_free("bench", None, None).unwrap());
    let summaries = time(&mut || drop(l.summaries().unwrap()));
    eprintln!(
        "in-process at 10,000 (ms, median of {runs}): snapshot {names:.1}, look-alike {look:.1}, \
         exact name check {check:.1} (reading the index itself {check_alone:.1}), list summaries {summaries:.1}"
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("CASTBOOK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    if let Some(lib) = std::env::var_os("CASTBOOK_BENCH_PHASES") {
        // Only the in-process phases, of an existing 10,000-character library.
        let lib = PathBuf::from(lib);
        let template = std::fs::read_dir(&lib)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("char_"))
            .unwrap()
            .path();
        phases(&lib, &template, runs);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let base = root.join("base");
    assert!(create(&base, "template").status().unwrap().success());
    let template = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("char_"))
        .unwrap()
        .path();
    let t = Instant::now();
    let big = library_of(root, &template, 10_000);
    let small = library_of(root, &template, 100);
    let empty = root.join("lib-0");
    eprintln!("libraries made in {:.1} s", t.elapsed().as_secs_f64());
    // A library in use is older than the 2 s in which a record just written is read by every
    // name check (its indexed name is not trusted until then: see src/library/names.rs),
    // and has its derived index (the first `list` makes it, a create adds the rest).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    for lib in [&big, &small] {
        let mut c = bin();
        c.arg("--library").arg(lib).arg("list");
        secs(c);
    }

    phases(&big, &template, runs);

    // The same create in each; the new folder removed after each run (not to the trash), so
    // every run sees the same library. One warm-up run each.
    let id = {
        let out = create(&empty, "bench")
            .arg("--json")
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    std::fs::remove_dir_all(empty.join(&id)).unwrap();
    secs(create(&big, "bench"));
    std::fs::remove_dir_all(big.join(&id)).unwrap();
    let (mut c0, mut c10k) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        c0.push(secs(create(&empty, "bench")));
        std::fs::remove_dir_all(empty.join(&id)).unwrap();
        c10k.push(secs(create(&big, "bench")));
        std::fs::remove_dir_all(big.join(&id)).unwrap();
    }
    let (m0, m10k) = (median(c0), median(c10k));
    println!(
        "create  empty {m0:.3} s  10,000 {m10k:.3} s  ratio {:.2} (target <= 1.15)",
        m10k / m0
    );

    let list = |lib: &Path, json: bool| {
        let mut c = bin();
        c.arg("--library").arg(lib).arg("list");
        if json {
            c.arg("--json");
        }
        c
    };
    for json in [false, true] {
        secs(list(&small, json));
        secs(list(&big, json));
        let (mut l100, mut l10k) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            l100.push(secs(list(&small, json)));
            l10k.push(secs(list(&big, json)));
        }
        let (a, b) = (median(l100), median(l10k));
        println!(
            "list{}  100 {a:.4} s  10,000 {b:.4} s  ratio {:.2}{}",
            if json { " --json" } else { "" },
            b / a,
            if json { "" } else { " (target <= 2)" }
        );
    }
}
