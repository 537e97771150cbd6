//! The real binary in tmux: start in a folder of generated clips with an empty library,
//! select a clip, create a character, search for it, copy its ID (tmux receives the OSC 52
//! into its paste buffer), quit, and find the shell usable again.

#[path = "tui_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }
    fn text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "e2e", "-l", text])
                .status
                .success()
        );
    }
    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn find_id(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    (0..bytes.len().saturating_sub(16)).find_map(|i| {
        let cand = s.get(i..i + 17)?;
        let ok = cand.starts_with("char_")
            && cand[5..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        ok.then(|| cand.to_string())
    })
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn create_search_copy_quit_in_tmux() {
    let root = tempfile::tempdir().unwrap();
    let clips = root.path().join("clips");
    let lib = root.path().join("lib");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    support::gen_clip(&clips, "hero.mp4", 1280, 720, 2.0);
    support::gen_clip(&clips, "small.mp4", 640, 360, 2.0);

    let tmux = Tmux {
        socket: format!("castbook-e2e-{}", std::process::id()),
    };
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "100",
        "-y",
        "30",
        "env",
        "-i",
        &format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
        "TERM=xterm-256color",
        "PS1=ready$ ",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    assert!(started.status.success(), "{started:?}");
    assert!(
        tmux.run(&["set", "-g", "set-clipboard", "on"])
            .status
            .success()
    );
    tmux.wait_for("the shell", |s| s.contains("ready$"));
    let bin = env!("CARGO_BIN_EXE_castbook");
    tmux.text(&format!(
        "cd {} && CASTBOOK_CONFIG={} {} --library {}",
        shell_quote(&clips),
        shell_quote(&root.path().join("no-config.toml")),
        shell_quote(Path::new(bin)),
        shell_quote(&lib)
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the app", |s| {
        s.contains("Files") && s.contains("hero.mp4") && s.contains("Library 0")
    });

    // Select hero.mp4 (after ".."), open it: it is probed.
    tmux.keys(&["j"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the probe", |s| s.contains("✓ valid"));
    tmux.keys(&["c"]);
    tmux.wait_for("the name prompt", |s| s.contains("Name the new character"));
    tmux.text("Hero Cat");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the ID", |s| s.contains("created:") && find_id(s).is_some());
    let id = find_id(&screen).unwrap();

    // Search for it, copy it.
    tmux.keys(&["/"]);
    tmux.text("hero c");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the search", |s| {
        s.contains("/hero c") && s.contains("Library 1/1")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the copy", |s| s.contains(&format!("copied {id}")));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let buf = tmux.run(&["show-buffer"]);
        if String::from_utf8_lossy(&buf.stdout).contains(&id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tmux buffer never got {id}: {buf:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Quit: the shell prompt is back and usable.
    tmux.keys(&["q"]);
    tmux.wait_for("the shell again", |s| {
        !s.contains("Library 1") && s.contains("ready$")
    });
    let alt = tmux.run(&["display", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(
        String::from_utf8_lossy(&alt.stdout).trim(),
        "0",
        "left the alternate screen"
    );
    tmux.text("echo usable-$((40+2))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell to run a command", |s| s.contains("usable-42"));
    // The character is in the library on disk.
    assert!(lib.join(&id).join("character.json").is_file());
}

fn start_app(tmux: &Tmux, root: &Path) -> std::path::PathBuf {
    let clips = root.join("clips");
    let lib = root.join("lib");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "90",
        "-y",
        "26",
        "env",
        "-i",
        &format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
        "TERM=xterm-256color",
        "PS1=ready$ ",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("the shell", |s| s.contains("ready$"));
    tmux.text(&format!(
        "cd {} && CASTBOOK_CONFIG={} {} --library {}",
        shell_quote(&clips),
        shell_quote(&root.join("no-config.toml")),
        shell_quote(Path::new(env!("CARGO_BIN_EXE_castbook"))),
        shell_quote(&lib)
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the app", |s| {
        s.contains("Files") && s.contains("Library 0")
    });
    lib
}

/// The pid of the child of `parent` whose command is `name` (from /proc).
fn child_named(parent: &str, name: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // pid (comm) state ppid ...
        let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let ppid = rest.split_whitespace().nth(1)?;
        (comm == name && ppid == parent).then_some(pid)
    })
}

fn terminal_is_cooked(tmux: &Tmux) {
    let alt = tmux.run(&["display", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(
        String::from_utf8_lossy(&alt.stdout).trim(),
        "0",
        "left the alternate screen"
    );
    tmux.text("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ,; echo");
    tmux.keys(&["Enter"]);
    tmux.wait_for("stty", |s| s.contains("icanon,echo,"));
}

#[test]
fn ctrl_z_suspends_and_sigterm_restores_the_terminal() {
    let root = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("castbook-e2e-stop-{}", std::process::id()),
    };
    start_app(&tmux, root.path());
    // Ctrl-Z: the shell is back with the job stopped; fg brings the app back.
    tmux.keys(&["C-z"]);
    tmux.wait_for("the stopped job", |s| {
        s.contains("Stopped") && s.contains("ready$")
    });
    tmux.text("fg");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the app again", |s| {
        s.contains("Files") && s.contains("Library 0")
    });
    tmux.keys(&["?"]);
    tmux.wait_for("keys still work", |s| s.contains("this help"));
    // SIGTERM: the app quits and gives the terminal back.
    let shell = tmux.run(&["display", "-p", "-t", "e2e", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
    let app = child_named(&shell, "castbook").expect("castbook runs under the shell");
    // SAFETY: sending a signal to a process this test started.
    assert_eq!(unsafe { libc::kill(app, libc::SIGTERM) }, 0);
    tmux.wait_for("the shell after SIGTERM", |s| {
        s.contains("ready$") && !s.contains("this help")
    });
    terminal_is_cooked(&tmux);
}

#[test]
fn errors_before_the_terminal_is_taken_are_plain() {
    let root = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_castbook");
    let run = |args: &[&str], config: &str| {
        let cfg = root.path().join("config.toml");
        std::fs::write(&cfg, config).unwrap();
        Command::new(bin)
            .args(args)
            .arg("--library")
            .arg(root.path().join("lib"))
            .env("CASTBOOK_CONFIG", &cfg)
            .output()
            .unwrap()
    };
    let out = run(&["--theme", "nope"], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no theme named \"nope\""));
    let out = run(&[], "[keys]\nlaunch = \"l\"\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("launch"));
    let out = run(&[], "theme = 3\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "{out:?}"
    );
    // A broken provider table, or a default provider that is not configured.
    let out = run(&[], "[providers.sora]\nkind = \"ftp\"\n");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[providers.sora]") && err.contains("kind = \"openai\""),
        "{err}"
    );
    let out = run(&[], "[defaults]\nprovider = \"sora\"\n");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[defaults] provider") && err.contains("no provider called \"sora\""),
        "{err}"
    );
    // Fine config, but no terminal: a clear message instead of a broken screen.
    let out = run(&["--theme", "light"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}

/// Over SSH from inside tmux the remote side has `TERM=tmux-256color` and no `$TMUX`: the
/// start-up query must not swallow the first key nor leave tmux on the alternate screen.
#[test]
fn ssh_from_tmux_first_key_works_and_the_screen_is_given_back() {
    let root = tempfile::tempdir().unwrap();
    let clips = root.path().join("clips");
    let lib = root.path().join("lib");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    support::gen_clip(&clips, "hero.mp4", 1280, 720, 2.0);
    let tmux = Tmux {
        socket: format!("castbook-e2e-ssh-{}", std::process::id()),
    };
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "100",
        "-y",
        "30",
        "env",
        "-i",
        &format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
        "TERM=tmux-256color",
        "PS1=ready$ ",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("the shell", |s| s.contains("ready$"));
    tmux.text(&format!(
        "cd {} && env -u TMUX TERM=tmux-256color CASTBOOK_CONFIG={} {} --library {}",
        shell_quote(&clips),
        shell_quote(&root.path().join("no-config.toml")),
        shell_quote(Path::new(env!("CARGO_BIN_EXE_castbook"))),
        shell_quote(&lib)
    ));
    tmux.keys(&["Enter"]);
    // The first key, typed while the app starts: it moves the selection to hero.mp4, whose
    // check then shows in the Clip pane.
    tmux.keys(&["j"]);
    tmux.wait_for("the first key to select hero.mp4", |s| {
        s.contains("hero.mp4  ✓ valid") || s.contains("hero.mp4  checking")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the shell again", |s| {
        s.contains("ready$") && !s.contains("Library 0")
    });
    terminal_is_cooked(&tmux);
}
