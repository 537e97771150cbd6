//! The terminal app driven headless through its messages: snapshots of each pane in its main
//! states (TestBackend + insta), creating and cancelling jobs, searching, copying, editing,
//! and the draw-only-on-change event loop.

#[path = "common/boxes.rs"]
mod boxes;
#[path = "server/mod.rs"]
mod server;
#[path = "tui_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use castbook::library::Library;
use castbook::pipeline::job::{Created, Progress, Stage};
use castbook::tui::action::{Action, Msg};
use castbook::tui::app::{Focus, StatusKind};
use castbook::tui::clip::ProbeState;
use castbook::tui::jobs::JobState;
use crossterm::event::KeyCode;
use futures::StreamExt;
use support::*;

const LONG: Duration = Duration::from_secs(60);

/// File sizes of clips generated at test time depend on the encoder build: the snapshots show
/// their digits as `#` (same width, so the layout is still checked).
fn sizes_hidden(screen: &str) -> String {
    let chars: Vec<char> = screen.chars().collect();
    let mut out = chars.clone();
    for i in 0..chars.len() {
        let unit = [" KB", " MB", " GB"]
            .iter()
            .any(|u| chars[i..].iter().take(3).copied().eq(u.chars()));
        if !unit {
            continue;
        }
        let mut j = i;
        while j > 0 && (chars[j - 1].is_ascii_digit() || chars[j - 1] == '.') {
            j -= 1;
            if chars[j].is_ascii_digit() {
                out[j] = '#';
            }
        }
    }
    out.into_iter().collect()
}

fn probed(app: &castbook::tui::app::App) -> bool {
    matches!(
        app.clip.probe,
        Some(ProbeState::Done(_)) | Some(ProbeState::Failed(_))
    )
}

#[tokio::test]
async fn snapshot_empty_library() {
    let mut h = Harness::new(|clips, _| {
        gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        std::fs::write(clips.join("notes.txt"), "x").unwrap();
        set_age(&clips.join("notes.txt"));
        std::fs::create_dir(clips.join("takes")).unwrap();
    });
    insta::assert_snapshot!(sizes_hidden(&h.render(80, 24)));
}

#[tokio::test]
async fn snapshot_library_with_active_search() {
    let mut h = Harness::new(|_, lib| {
        write_characters(
            lib,
            &[
                fake_character(1, "wolf_3123", &["hero"], "walks through a park"),
                fake_character(2, "wolfgang", &[], ""),
                fake_character(3, "Captain Nova", &["pilot"], ""),
                fake_character(4, "Mona", &["wolf pack"], ""),
            ],
        )
    });
    h.action(Action::Search);
    h.type_text("wol");
    assert_eq!(h.app.focus, Focus::Library);
    insta::assert_snapshot!(sizes_hidden(&h.render(80, 24)));
}

#[tokio::test]
async fn snapshot_valid_clip() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    assert!(h.app.clip.report().unwrap().valid);
    insta::assert_snapshot!(sizes_hidden(&h.render(80, 24)));
}

#[tokio::test]
async fn snapshot_rejected_clip_and_create_refused() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "small.mp4", 640, 360, 2.0);
        },
        "clips/small.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    assert!(!h.app.clip.report().unwrap().valid);
    h.action(Action::Create);
    assert!(
        h.app.prompt.is_none(),
        "no name is asked for a rejected clip"
    );
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(status.text.contains("640x360"), "{}", status.text);
    insta::assert_snapshot!(sizes_hidden(&h.render(80, 24)));
}

#[tokio::test]
async fn snapshot_running_and_finished_jobs() {
    let mut h = Harness::new(|clips, _| {
        gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
    });
    // A running job, as its progress events leave it.
    let id = h.app.jobs.add(
        "Hero".into(),
        "hero.mp4".into(),
        castbook::pipeline::job::Input::File("/nowhere/hero.mp4".into()),
        Default::default(),
    );
    {
        let job = h.app.jobs.get_mut(id).unwrap();
        job.state = JobState::Running;
        job.started = Some(Instant::now());
    }
    h.app.handle(Msg::Job {
        id,
        event: castbook::pipeline::job::JobEvent::Progress(Progress {
            stage: Stage::Prepare,
            fraction: 0.5,
            message: "preparing".into(),
        }),
    });
    let running = h.render(80, 24);
    assert!(running.contains("prepare"), "{running}");
    insta::assert_snapshot!("running_job", sizes_hidden(&running));

    // It finishes: the character appears, selected, and the status says how to use it.
    let c = fake_character(7, "Hero", &[], "");
    h.app.handle(Msg::JobDone {
        id,
        result: Box::new(Ok(Created {
            character: c.clone(),
            existed: false,
        })),
    });
    assert_eq!(h.app.library.selected_character().unwrap().id, c.id);
    let finished = h.render(80, 24);
    assert!(finished.contains(&c.id));
    insta::assert_snapshot!("finished_job", sizes_hidden(&finished));
}

#[tokio::test]
async fn snapshot_help_overlay_and_too_small() {
    let mut h = Harness::new(|_, _| {});
    h.action(Action::Help);
    let help = h.render(80, 24);
    // Built from the key map: every action with keys is listed.
    for b in &h.app.keys.bindings {
        assert!(help.contains(b.help), "help lists {:?}", b.help);
    }
    insta::assert_snapshot!("help_overlay", help);
    h.key(KeyCode::Esc);
    assert!(!h.app.help);
    let small = h.render(59, 18);
    assert!(small.contains("too small"));
    insta::assert_snapshot!("too_small", small);
    assert!(!h.render(60, 18).contains("too small"));
    assert!(!h.render(79, 24).contains("too small"));
}

#[tokio::test]
async fn create_a_character_and_find_it_in_the_library() {
    let mut h = Harness::with_start(
        |clips, lib| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
            write_characters(lib, &[fake_character(1, "Taken Name", &[], "")]);
        },
        "clips",
        false,
    );
    // Select the clip in the files pane: it is probed.
    let idx = h
        .app
        .files
        .entries
        .iter()
        .position(|e| e.name == "hero.mp4")
        .unwrap();
    for _ in 0..idx {
        h.action(Action::Down);
    }
    h.action(Action::Open);
    assert_eq!(h.app.focus, Focus::Clip);
    h.pump_until(LONG, "the probe", probed).await;
    h.action(Action::Create);
    assert!(h.app.prompt.is_some());
    // The name is validated as it is typed, uniqueness included.
    h.type_text("taken name");
    let err = h.app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("taken"), "{err}");
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_some(), "a taken name is not accepted");
    for _ in 0.."taken name".len() {
        h.key(KeyCode::Backspace);
    }
    h.type_text("char_x");
    assert!(h.app.prompt.as_ref().unwrap().error.is_some());
    for _ in 0..6 {
        h.key(KeyCode::Backspace);
    }
    h.type_text("Hero Cat");
    assert!(h.app.prompt.as_ref().unwrap().error.is_none());
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_none());
    assert_eq!(h.app.jobs.list.len(), 1);
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    let JobState::Done { id, .. } = h.app.jobs.list[0].state.clone() else {
        panic!("job failed: {:?}", h.app.jobs.list[0].state);
    };
    let selected = h.app.library.selected_character().unwrap();
    assert_eq!(
        (selected.id.as_str(), selected.name.as_str()),
        (id.as_str(), "Hero Cat")
    );
    let status = h.app.status.clone().unwrap().text;
    // Local only: the status points to `U` instead of offering the castbook ID as a
    // provider's character ID.
    assert!(
        status.contains(&id) && status.contains("U says what to send a model"),
        "{status}"
    );
    assert!(!status.contains("\"characters\""), "{status}");
    // It is on disk too.
    let lib = Library::open(h.home().join("lib")).unwrap();
    assert!(lib.list().unwrap().characters.iter().any(|c| c.id == id));
    let screen = h.render(100, 30);
    assert!(screen.contains(&id));
}

#[tokio::test]
async fn cancelling_a_job_saves_nothing() {
    let mut h = Harness::with_start(
        |clips, _| {
            // 1080p needs an encode: long enough to cancel in the middle.
            gen_clip(clips, "big.mp4", 1920, 1080, 8.0);
        },
        "clips/big.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    h.app.job_slots = 1;
    h.app.queue_create("Big".into());
    // A second job waits in the queue meanwhile.
    h.app.queue_create("Big Two".into());
    assert_eq!(h.app.jobs.list[1].state, JobState::Queued);
    h.pump_until(LONG, "the prepare stage", |a| {
        a.jobs.list[0]
            .progress
            .as_ref()
            .is_some_and(|p| p.stage == Stage::Prepare)
    })
    .await;
    h.app.focus = Focus::Jobs;
    h.app.jobs.selected = 0;
    h.key(KeyCode::Char('x'));
    h.pump_until(LONG, "the cancellation", |a| {
        a.jobs.list[0].state == JobState::Cancelled
    })
    .await;
    // The queued one starts next; cancel it too.
    assert_eq!(h.app.jobs.list[1].state, JobState::Running);
    h.app.jobs.selected = 1;
    h.key(KeyCode::Char('x'));
    h.pump_until(LONG, "the second cancellation", |a| {
        !a.jobs.list[1].is_active()
    })
    .await;
    assert_eq!(h.app.jobs.list[1].state, JobState::Cancelled);
    let lib_dir = h.home().join("lib");
    let lib = Library::open(&lib_dir).unwrap();
    assert!(lib.list().unwrap().characters.is_empty());
    assert!(h.app.library.characters.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(lib.work_root())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "work folders left: {leftovers:?}");
}

#[tokio::test]
async fn search_narrows_and_highlights() {
    let mut h = Harness::new(|_, lib| {
        write_characters(
            lib,
            &[
                fake_character(1, "wolf_3123", &[], ""),
                fake_character(2, "wolfgang", &[], ""),
                fake_character(3, "Walter", &[], ""),
                fake_character(4, "Mona", &["wolf pack"], ""),
                fake_character(5, "Nova", &[], "a wild one"),
            ],
        )
    });
    h.action(Action::Search);
    h.type_text("w");
    let one: Vec<usize> = h.app.library.hits.iter().map(|x| x.index).collect();
    h.type_text("o");
    let two: Vec<usize> = h.app.library.hits.iter().map(|x| x.index).collect();
    h.type_text("lfg");
    let names: Vec<&str> = h
        .app
        .library
        .hits
        .iter()
        .map(|x| h.app.library.characters[x.index].name.as_str())
        .collect();
    assert_eq!(names, ["wolfgang"]);
    assert!(
        two.len() < one.len() && two.iter().all(|i| one.contains(i)),
        "{one:?} -> {two:?}"
    );
    // An ID typed from its start is found, although "ch" matched no name.
    h.key(KeyCode::Esc);
    h.action(Action::Search);
    let id = fake_id(5);
    h.type_text(&id[..9]);
    let found: Vec<&str> = h
        .app
        .library
        .hits
        .iter()
        .map(|x| h.app.library.characters[x.index].id.as_str())
        .collect();
    assert!(found.contains(&id.as_str()), "{found:?}");
    // Esc clears the search and shows everything again.
    h.key(KeyCode::Esc);
    assert_eq!(h.app.library.hits.len(), 5);
    assert!(!h.app.library.typing);
}

#[tokio::test]
async fn search_over_a_large_library_runs_in_the_background() {
    let mut h = Harness::new(|_, _| {});
    let chars: Vec<_> = (0..5_000)
        .map(|i| fake_character(i, &format!("extra {i}"), &[], ""))
        .chain([fake_character(9_999, "Zebulon", &[], "")])
        .collect();
    h.app.library.set_characters(chars, vec![]);
    h.action(Action::Search);
    h.type_text("zeb");
    // Typing never waits: the answer comes as a message.
    h.pump_until(LONG, "the search", |a| {
        a.library.hits_query == "zeb" && !a.library.searching()
    })
    .await;
    let lib = &h.app.library;
    // Best first: the name match, then any ID that happens to contain z..e..b.
    assert_eq!(lib.characters[lib.hits[0].index].name, "Zebulon");
    assert!(lib.hits.len() < 100, "{}", lib.hits.len());
}

#[tokio::test]
async fn copy_sends_the_exact_osc52_sequence() {
    let mut h = Harness::new(|_, lib| write_characters(lib, &[fake_character(1, "Hero", &[], "")]));
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('y'));
    let id = fake_id(1);
    assert_eq!(h.app.output, castbook::tui::clipboard::osc52(&id));
    assert!(h.app.status.clone().unwrap().text.contains(&id));
}

#[tokio::test]
async fn edit_and_remove_from_the_library_pane() {
    let mut h = Harness::new(|_, lib| {
        write_characters(
            lib,
            &[
                fake_character(1, "Hero", &[], ""),
                fake_character(2, "Other", &[], ""),
            ],
        )
    });
    h.app.focus = Focus::Library;
    let id = fake_id(1);
    assert!(h.app.library.select_id(&id));
    h.key(KeyCode::Char('t'));
    h.type_text("lead, Lead, night");
    h.key(KeyCode::Enter);
    h.pump_until(LONG, "the tags saved", |a| {
        a.library
            .selected_character()
            .is_some_and(|c| c.tags == ["lead", "night"])
    })
    .await;
    h.key(KeyCode::Char('e'));
    h.app.handle(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('u'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    h.type_text("Other");
    assert!(
        h.app.prompt.as_ref().unwrap().error.is_some(),
        "name taken by the other"
    );
    h.key(KeyCode::Backspace);
    h.key(KeyCode::Enter);
    h.pump_until(LONG, "the rename", |a| {
        a.library
            .selected_character()
            .is_some_and(|c| c.name == "Othe")
    })
    .await;
    let lib = Library::open(h.home().join("lib")).unwrap();
    let rec = lib.get(&id).unwrap().unwrap();
    assert_eq!(rec.tags, ["lead", "night"]);
    assert_eq!(rec.name, "Othe");
    // Remove asks first; anything but D keeps it (y too: it copies elsewhere).
    h.key(KeyCode::Char('d'));
    assert!(h.app.confirm.is_some());
    h.key(KeyCode::Char('n'));
    assert!(lib.get(&id).unwrap().is_some());
    h.key(KeyCode::Char('d'));
    h.key(KeyCode::Char('y'));
    assert!(h.app.confirm.is_none());
    assert!(lib.get(&id).unwrap().is_some());
    assert!(
        h.app.output.is_empty(),
        "the y closing the dialog copied nothing"
    );
    h.key(KeyCode::Char('d'));
    h.key(KeyCode::Char('D'));
    h.pump_until(LONG, "the removal", |a| a.library.characters.len() == 1)
        .await;
    assert!(lib.get(&id).unwrap().is_none());
    assert!(std::fs::read_dir(lib.trash_root()).unwrap().count() == 1);
}

#[tokio::test]
async fn export_asks_where_never_overwrites_unasked_and_leaves_no_temp_file() {
    let mut h =
        Harness::new(|_, lib| write_characters(lib, &[fake_character(1, "=Hero", &["a"], "")]));
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('E'));
    // The default is outside the clips folder (the home folder).
    let asked = h.app.prompt.as_ref().unwrap().input.value().to_string();
    assert_eq!(asked, "~/castbook-export.csv");
    h.key(KeyCode::Enter);
    let exported = |a: &castbook::tui::app::App| {
        a.status
            .as_ref()
            .is_some_and(|s| s.text.starts_with("exported"))
    };
    h.pump_until(LONG, "the export", exported).await;
    let path = h.home().join("castbook-export.csv");
    let csv = std::fs::read_to_string(&path).unwrap();
    assert!(
        csv.starts_with("id,name,tags,notes,created_at,providers"),
        "{csv}"
    );
    assert!(csv.contains("'=Hero"), "{csv}");
    assert!(!h.home().join("clips/castbook-export.csv").exists());
    // Again: the file exists, so the app asks; y (or anything but O) keeps it.
    std::fs::write(&path, "mine").unwrap();
    h.key(KeyCode::Char('E'));
    h.key(KeyCode::Enter);
    assert!(h.app.confirm.is_some(), "asks before replacing");
    assert!(h.render(80, 24).contains("exists already"));
    h.key(KeyCode::Char('y'));
    assert!(h.app.confirm.is_none());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    h.key(KeyCode::Char('E'));
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('O'));
    h.app.status = None;
    h.pump_until(LONG, "the second export", exported).await;
    assert!(std::fs::read_to_string(&path).unwrap().contains("'=Hero"));
    let mut names: Vec<String> = std::fs::read_dir(h.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["castbook-export.csv", "clips", "lib"],
        "no temp file left"
    );
}

#[test]
fn an_export_refuses_an_existing_file_unless_told_and_is_never_half_written() {
    use castbook::library::export::{Format, write_file};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    std::fs::write(&path, "old").unwrap();
    let chars = [fake_character(1, "Hero", &[], "")];
    let err = write_file(&path, &chars, Format::Json, false).unwrap_err();
    assert!(err.message.contains("exists already"), "{}", err.message);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    write_file(&path, &chars, Format::Json, true).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("Hero"));
    let err = write_file(
        &dir.path().join("no/such/x.csv"),
        &chars,
        Format::Csv,
        false,
    )
    .unwrap_err();
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[tokio::test]
async fn control_characters_in_file_names_are_escaped() {
    let mut h = Harness::new(|clips, _| {
        std::fs::write(clips.join("evil\u{1b}[31m.mp4"), b"x").unwrap();
    });
    let screen = h.render(120, 30);
    assert!(!screen.contains('\u{1b}'));
    assert!(screen.contains("evil\\u{1b}[31m.mp4"), "{screen}");
}

#[tokio::test]
async fn previews_show_as_half_blocks() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        },
        "clips/hero.mp4",
        true,
    );
    h.pump_until(LONG, "the preview", |a| a.clip_preview.is_some())
        .await;
    let screen = h.render(200, 60);
    assert!(screen.contains('▀') || screen.contains('▄'), "{screen}");
}

#[tokio::test]
async fn idle_app_draws_nothing() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut h = Harness::new(|clips, lib| {
        gen_clip(clips, "hero.mp4", 1280, 720, 1.0);
        write_characters(lib, &[fake_character(1, "Hero", &[], "")]);
    });
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut host = castbook::tui::NoHost;
    let mut events = futures::stream::pending::<std::io::Result<crossterm::event::Event>>();
    let mut out: Vec<u8> = Vec::new();
    let run = castbook::tui::run_loop(
        &mut terminal,
        &mut h.app,
        &mut h.rx,
        &mut events,
        &mut out,
        &mut host,
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err(),
        "still running"
    );
    assert_eq!(h.app.draws, 1, "only the first frame");
    assert!(out.is_empty());

    // A message that changes something draws once more; then idle again.
    h.app.handle(Msg::Action(Action::Help));
    let mut events = futures::stream::pending::<std::io::Result<crossterm::event::Event>>();
    let run = castbook::tui::run_loop(
        &mut terminal,
        &mut h.app,
        &mut h.rx,
        &mut events,
        &mut out,
        &mut host,
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), run)
            .await
            .is_err()
    );
    assert_eq!(h.app.draws, 2);
}

#[tokio::test]
async fn quit_cancels_jobs_and_the_loop_returns() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut h = Harness::new(|_, _| {});
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut host = castbook::tui::NoHost;
    let key = |c| {
        Ok(crossterm::event::Event::Key(
            crossterm::event::KeyEvent::new(KeyCode::Char(c), crossterm::event::KeyModifiers::NONE),
        ))
    };
    let mut events =
        futures::stream::iter(vec![key('?'), key('x'), key('q')]).chain(futures::stream::pending());
    let mut out = Vec::new();
    let run = castbook::tui::run_loop(
        &mut terminal,
        &mut h.app,
        &mut h.rx,
        &mut events,
        &mut out,
        &mut host,
    );
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("quits")
        .unwrap();
    assert!(h.app.quit);
}

#[tokio::test]
async fn window_start_moves_and_the_clip_is_probed_again() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    h.app.focus = Focus::Clip;
    h.key(KeyCode::Right);
    h.key(KeyCode::Right);
    assert_eq!(h.app.clip.start_s, 1.0);
    h.pump_until(LONG, "the new probe", probed).await;
    assert_eq!(h.app.clip.report().unwrap().metadata.window.start_s, 1.0);
    assert!(h.render(80, 24).contains("1.0–5.0 s of 6.0 s"));
    // Never past the point where less than a second is left, never below 0.
    for _ in 0..20 {
        h.key(KeyCode::Right);
    }
    assert_eq!(h.app.clip.start_s, 5.0);
    for _ in 0..20 {
        h.key(KeyCode::Left);
    }
    assert_eq!(h.app.clip.start_s, 0.0);
    // Shift moves it 5 s at a time, within the same bounds.
    let shift = |code| {
        Msg::Key(crossterm::event::KeyEvent::new(
            code,
            crossterm::event::KeyModifiers::SHIFT,
        ))
    };
    h.app.handle(shift(KeyCode::Right));
    assert_eq!(h.app.clip.start_s, 5.0);
    h.app.handle(shift(KeyCode::Left));
    assert_eq!(h.app.clip.start_s, 0.0);
}

#[tokio::test]
async fn a_typed_url_is_downloaded_and_probed() {
    let clip = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bigbuckbunny.mp4"),
    )
    .expect("run scripts/fixtures.sh first");
    let server =
        server::Server::start(move |_, _| server::Reply::status(200, "video/mp4", clip.clone()));
    let url = server.url("/hero.mp4");
    let mut h = Harness::new(|_, _| {});
    h.key(KeyCode::Char('o'));
    assert!(h.app.prompt.is_some());
    h.app.handle(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('u'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    h.app.handle(Msg::Paste(url.clone()));
    h.key(KeyCode::Enter);
    assert_eq!(h.app.focus, Focus::Clip);
    h.pump_until(LONG, "the probe", probed).await;
    let Some(ProbeState::Done(report)) = &h.app.clip.probe else {
        panic!("{:?}", h.app.clip.probe)
    };
    assert!(report.valid, "{:?}", report.checks);
    let screen = h.render(80, 24);
    assert!(screen.contains("127.0.0.1"), "{screen}");
}

#[tokio::test]
async fn a_path_of_its_own_replaces_the_suggested_folder_and_an_edit_keeps_it() {
    let mut h = Harness::new(|_, _| {});
    let value = |h: &Harness| h.app.prompt.as_ref().unwrap().input.value().to_string();
    h.key(KeyCode::Char('o'));
    let folder = value(&h);
    assert!(folder.ends_with('/'), "{folder}");
    // A name goes on after the suggested folder.
    h.type_text("takes/hero.mp4");
    assert_eq!(value(&h), format!("{folder}takes/hero.mp4"));
    h.key(KeyCode::Esc);

    // An absolute path typed over the untouched suggestion replaces it, and so does `~`.
    h.key(KeyCode::Char('o'));
    h.type_text("/srv/clips/hero.mp4");
    assert_eq!(value(&h), "/srv/clips/hero.mp4");
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('o'));
    h.type_text("~/hero.mp4");
    assert_eq!(value(&h), "~/hero.mp4");
    h.key(KeyCode::Esc);

    // So does a pasted URL.
    h.key(KeyCode::Char('o'));
    h.app
        .handle(Msg::Paste("https://example.com/hero.mp4".into()));
    assert_eq!(value(&h), "https://example.com/hero.mp4");
    h.key(KeyCode::Esc);

    // Once the suggestion was edited it is the user's text: a `/` goes on after it.
    h.key(KeyCode::Char('o'));
    h.key(KeyCode::Backspace);
    h.type_text("/x");
    assert_eq!(value(&h), format!("{}/x", folder.trim_end_matches('/')));
    h.key(KeyCode::Esc);
    // And a `/` typed with the cursor moved into the text is inserted there.
    h.key(KeyCode::Char('o'));
    h.key(KeyCode::Home);
    h.type_text("/");
    assert_eq!(value(&h), format!("/{folder}"));
}

#[tokio::test]
async fn an_unreachable_url_shows_the_fetch_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hero.mp4");
    let mut h = Harness::new(|_, _| {});
    h.key(KeyCode::Char('o'));
    h.app.handle(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('u'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    h.app.handle(Msg::Paste(url.clone()));
    h.key(KeyCode::Enter);
    h.pump_until(LONG, "the probe", probed).await;
    let Some(ProbeState::Failed(e)) = &h.app.clip.probe else {
        panic!("{:?}", h.app.clip.probe)
    };
    assert_eq!(e.code, "fetch", "{}", e.message);
    assert!(e.message.contains(&url), "{}", e.message);
}

#[tokio::test]
async fn matched_characters_are_highlighted() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Modifier;
    let mut h =
        Harness::new(|_, lib| write_characters(lib, &[fake_character(1, "wolfgang", &[], "")]));
    h.action(Action::Search);
    h.type_text("wg");
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|f| castbook::tui::ui::draw(f, &mut h.app))
        .unwrap();
    let buf = terminal.backend().buffer().clone();
    // Find the row of the list that shows the name.
    let y = (0..24)
        .find(|&y| {
            (0..30)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("wolfgang")
        })
        .unwrap();
    let x0 = (0..30).find(|&x| buf[(x, y)].symbol() == "w").unwrap();
    let styled: Vec<bool> = (0..8)
        .map(|i| buf[(x0 + i, y)].modifier.contains(Modifier::UNDERLINED))
        .collect();
    // "wg" matches w and g of wolfgang.
    assert_eq!(
        styled,
        [true, false, false, false, true, false, false, false]
    );
}

#[tokio::test]
async fn quit_with_unfinished_jobs_asks_twice_and_cancels_them() {
    let mut h = Harness::new(|_, _| {});
    h.app.jobs.add(
        "Queued".into(),
        "x.mp4".into(),
        castbook::pipeline::job::Input::File("/nowhere/x.mp4".into()),
        Default::default(),
    );
    h.key(KeyCode::Char('q'));
    assert!(!h.app.quit);
    assert!(h.app.status.clone().unwrap().text.contains("press q again"));
    h.key(KeyCode::Char('q'));
    assert!(h.app.quit);
    assert_eq!(h.app.jobs.list[0].state, JobState::Cancelled);
}

#[tokio::test]
async fn resize_redraws_and_focus_events_do_not() {
    use crossterm::event::Event;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut h = Harness::new(|_, _| {});
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut host = castbook::tui::NoHost;
    let mut events = futures::stream::iter(vec![
        Ok(Event::FocusGained),
        Ok(Event::FocusLost),
        Ok(Event::Resize(80, 24)),
    ])
    .chain(futures::stream::pending());
    let mut out = Vec::new();
    let run = castbook::tui::run_loop(
        &mut terminal,
        &mut h.app,
        &mut h.rx,
        &mut events,
        &mut out,
        &mut host,
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), run)
            .await
            .is_err()
    );
    assert_eq!(h.app.draws, 2, "the first frame and the resize");
}

#[tokio::test]
async fn ctrl_c_quits_from_a_text_field_and_cancels_jobs() {
    let mut h = Harness::new(|_, _| {});
    h.app.jobs.add(
        "Queued".into(),
        "x.mp4".into(),
        castbook::pipeline::job::Input::File("/nowhere/x.mp4".into()),
        Default::default(),
    );
    h.key(KeyCode::Char('o'));
    assert!(h.app.prompt.is_some());
    h.key(KeyCode::Char('q'));
    assert!(!h.app.quit, "q is text in a field");
    h.app.handle(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('c'),
        crossterm::event::KeyModifiers::CONTROL,
    )));
    assert!(h.app.quit);
    assert_eq!(h.app.jobs.list[0].state, JobState::Cancelled);
}

#[tokio::test]
async fn rebound_keys_show_in_help_and_status_bar_and_work() {
    let table: toml::Table = toml::from_str("create = \"N\"\nhelp = \"f2\"").unwrap();
    let keys = castbook::tui::keys::KeyMap::from_config(&table).unwrap();
    let mut h = Harness::with_keys(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        },
        "clips/hero.mp4",
        false,
        keys,
    );
    h.pump_until(LONG, "the probe", probed).await;
    h.app.focus = Focus::Clip;
    let screen = h.render(80, 24);
    let bar = screen.lines().last().unwrap();
    assert!(bar.contains("N create") && bar.contains("F2 help"), "{bar}");
    h.key(KeyCode::Char('?'));
    assert!(!h.app.help, "? is no longer bound");
    h.key(KeyCode::F(2));
    assert!(h.app.help);
    let help = h.render(80, 24);
    assert!(help.contains("N      create a character"), "{help}");
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('c'));
    assert!(h.app.prompt.is_none());
    h.key(KeyCode::Char('N'));
    assert!(h.app.prompt.is_some());
}

// ---- registering with providers ----

/// An executable shell script in `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn command_provider(name: &str, script: &std::path::Path) -> String {
    format!(
        "[providers.{name}]\nkind = \"command\"\ncommand = [\"{}\", \"{{clip}}\", \"{{name}}\", \"{{id}}\"]\n",
        script.display()
    )
}

/// A saved character with a clip file, as `castbook create` leaves it.
fn saved_characters(lib: &std::path::Path, names: &[&str]) {
    let chars: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| fake_character(i + 1, n, &[], ""))
        .collect();
    write_characters(lib, &chars);
    for c in &chars {
        std::fs::write(lib.join(&c.id).join("clip.mp4"), b"not really a video").unwrap();
    }
}

fn on_disk(h: &Harness, id: &str) -> castbook::library::Character {
    Library::open(h.home().join("lib"))
        .unwrap()
        .get(id)
        .unwrap()
        .unwrap()
}

fn sora_reply() -> server::Reply {
    server::Reply::json(
        200,
        &serde_json::json!({"id": "sora_char_1", "name": "x", "created_at": 1_760_000_000}),
    )
}

fn sora_config(server: &server::Server, extra: &str) -> String {
    format!(
        "[providers.sora]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test\"\ntimeout_s = 10\n{extra}",
        server.url("/v1")
    )
}

#[tokio::test]
async fn register_uploads_and_records_the_remote_id_once() {
    let server = server::Server::start(|_, _| sora_reply());
    let mut h = Harness::with_config(
        |_, lib| saved_characters(lib, &["Alpha", "Hero"]),
        "clips",
        &sora_config(&server, ""),
    );
    h.app.focus = Focus::Library;
    let id = fake_id(2);
    assert!(h.app.library.select_id(&id));
    h.key(KeyCode::Char('R'));
    assert_eq!(h.app.jobs.list.len(), 1, "{:?}", h.app.status);
    // The job bar shows the register stage while it runs.
    h.pump_until(LONG, "the register stage", |a| {
        a.jobs.list[0]
            .progress
            .as_ref()
            .is_some_and(|p| p.stage == Stage::Register)
    })
    .await;
    let screen = h.render(100, 30);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("Hero") && l.contains("register  ▕")),
        "{screen}"
    );
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    assert!(
        matches!(&h.app.jobs.list[0].state, JobState::Done { id: done, .. } if *done == id),
        "{:?}",
        h.app.jobs.list[0].state
    );
    assert_eq!(h.app.jobs.list[0].fraction(), 1.0);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1/videos/characters")
    );
    // On disk, in the pane (still selected), in the status line and the job list.
    assert_eq!(on_disk(&h, &id).provider_ids["sora"], "sora_char_1");
    let selected = h.app.library.selected_character().unwrap();
    assert_eq!(selected.id, id);
    assert_eq!(selected.provider_ids["sora"], "sora_char_1");
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Ok);
    assert!(
        status
            .text
            .contains("Hero registered with sora: sora_char_1")
            && status
                .text
                .contains(r#"{"characters":[{"id":"sora_char_1"}]}"#),
        "{}",
        status.text
    );
    let screen = h.render(120, 30);
    assert!(screen.contains("sora: sora_char_1"), "{screen}");
    let small = h.render(80, 24);
    let bar = small.lines().last().unwrap();
    assert!(bar.contains("R register"), "{bar}");

    // Again: nothing is sent.
    h.key(KeyCode::Char('R'));
    assert_eq!(h.app.jobs.list.len(), 1);
    let status = h.app.status.clone().unwrap();
    assert!(
        status
            .text
            .contains("already registered with sora as sora_char_1"),
        "{}",
        status.text
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_failing_provider_fails_the_job_and_leaves_the_record_alone() {
    let bin = tempfile::tempdir().unwrap();
    let failing = script(bin.path(), "up.sh", "echo 'quota exceeded' >&2\nexit 1");
    let mut h = Harness::with_config(
        |_, lib| saved_characters(lib, &["Hero"]),
        "clips",
        &command_provider("mine", &failing),
    );
    let id = fake_id(1);
    let before = std::fs::read(h.home().join("lib").join(&id).join("character.json")).unwrap();
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    let JobState::Failed(msg) = h.app.jobs.list[0].state.clone() else {
        panic!("{:?}", h.app.jobs.list[0].state)
    };
    assert!(
        msg.contains("exit code 1") && msg.contains("quota exceeded"),
        "{msg}"
    );
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(
        status.text.contains("registering with mine failed") && status.text.contains("press R"),
        "{}",
        status.text
    );
    let after = std::fs::read(h.home().join("lib").join(&id).join("character.json")).unwrap();
    assert_eq!(before, after, "the record is unchanged");
    assert!(h.app.library.characters[0].provider_ids.is_empty());
}

#[tokio::test]
async fn a_server_error_fails_the_job_without_retries() {
    let server = server::Server::start(|_, _| {
        server::Reply::json(500, &serde_json::json!({"error": {"message": "boom"}}))
    });
    let mut h = Harness::with_config(
        |_, lib| saved_characters(lib, &["Hero"]),
        "clips",
        &sora_config(&server, "max_retries = 0\n"),
    );
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    let JobState::Failed(msg) = h.app.jobs.list[0].state.clone() else {
        panic!("{:?}", h.app.jobs.list[0].state)
    };
    assert!(msg.contains("500"), "{msg}");
    assert_eq!(server.requests().len(), 1);
    assert!(on_disk(&h, &fake_id(1)).provider_ids.is_empty());
}

#[tokio::test]
async fn a_provider_without_a_key_is_refused_before_any_job() {
    let config = "[providers.sora]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                  api_key_env = \"CASTBOOK_TEST_KEY_NOBODY_SETS\"\n";
    let mut h = Harness::with_config(|_, lib| saved_characters(lib, &["Hero"]), "clips", config);
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    assert!(h.app.jobs.list.is_empty());
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(
        status.text.contains("CASTBOOK_TEST_KEY_NOBODY_SETS"),
        "{}",
        status.text
    );
}

#[tokio::test]
async fn without_providers_r_says_how_to_add_one() {
    let mut h = Harness::new(|_, lib| saved_characters(lib, &["Hero"]));
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    assert!(h.app.jobs.list.is_empty());
    assert!(h.app.prompt.is_none());
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(
        status
            .text
            .starts_with("no providers are configured: add a [providers.NAME] table to ")
            && status.text.ends_with("config.toml"),
        "{}",
        status.text
    );
}

#[tokio::test]
async fn with_several_providers_the_typed_name_is_checked() {
    let bin = tempfile::tempdir().unwrap();
    let alpha = script(bin.path(), "alpha.sh", "echo '{\"id\":\"alpha-1\"}'");
    let beta = script(bin.path(), "beta.sh", "echo '{\"id\":\"beta-7\"}'");
    let config = format!(
        "{}{}",
        command_provider("alpha", &alpha),
        command_provider("beta", &beta)
    );
    let mut h = Harness::with_config(|_, lib| saved_characters(lib, &["Hero"]), "clips", &config);
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    let prompt = h.app.prompt.as_ref().expect("asks which provider");
    assert!(matches!(
        prompt.kind,
        castbook::tui::app::PromptKind::Provider(_)
    ));
    let hint = prompt.error.clone().unwrap();
    assert!(hint.contains("alpha, beta"), "{hint}");
    h.type_text("bet");
    let err = h.app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(
        err.contains("no provider called bet") && err.contains("alpha, beta"),
        "{err}"
    );
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_some(), "an unknown name is not accepted");
    assert!(h.app.jobs.list.is_empty());
    h.type_text("a");
    assert!(h.app.prompt.as_ref().unwrap().error.is_none());
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_none());
    h.pump_until(LONG, "the job", |a| {
        a.jobs.list.first().is_some_and(|j| !j.is_active())
    })
    .await;
    let c = on_disk(&h, &fake_id(1));
    assert_eq!(
        c.provider_ids
            .into_iter()
            .map(|(p, e)| (p, e.id))
            .collect::<Vec<_>>(),
        [("beta".to_string(), "beta-7".to_string())]
    );
}

#[tokio::test]
async fn cancelling_a_registration_records_nothing() {
    let bin = tempfile::tempdir().unwrap();
    let slow = script(bin.path(), "slow.sh", "sleep 30\necho '{\"id\":\"late\"}'");
    let mut h = Harness::with_config(
        |_, lib| saved_characters(lib, &["Hero"]),
        "clips",
        &command_provider("mine", &slow),
    );
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    h.pump_until(LONG, "the register stage", |a| {
        a.jobs.list[0].progress.is_some()
    })
    .await;
    h.app.focus = Focus::Jobs;
    h.key(KeyCode::Char('x'));
    h.pump_until(Duration::from_secs(10), "the cancellation", |a| {
        !a.jobs.list[0].is_active()
    })
    .await;
    assert_eq!(h.app.jobs.list[0].state, JobState::Cancelled);
    assert!(on_disk(&h, &fake_id(1)).provider_ids.is_empty());
}

#[tokio::test]
async fn a_registration_shows_each_step_and_a_cancel_after_the_submit_says_the_remote_job_may_finish()
 {
    let api = server::Server::start(|req, _| match req.method.as_str() {
        "POST" => server::Reply::json(
            200,
            &serde_json::json!({"code": 0, "data": {"task_id": "task-tui", "task_status": "submitted"}}),
        ),
        _ => server::Reply::json(
            200,
            &serde_json::json!({"code": 0, "data": {"task_id": "task-tui", "task_status": "processing"}}),
        ),
    });
    let config = format!(
        "[providers.kling]\nkind = \"http\"\nbase_url = \"{}\"\napi_key = \"k-test-1\"\n\
         submit = {{ url = \"{{base_url}}/v1/elements\", body = '{{\"element_name\": \"{{name:20}}\"}}', capture = {{ task_id = \"/data/task_id\" }} }}\n\
         poll = {{ url = \"{{base_url}}/v1/elements/{{task_id}}\", status_pointer = \"/data/task_status\", done_values = [\"succeed\"], interval_s = 0.05, max_interval_s = 0.1 }}\n\
         result = {{ id_pointer = \"/data/element_id\" }}\n",
        api.url("")
    );
    let mut h = Harness::with_config(|_, lib| saved_characters(lib, &["Hero"]), "clips", &config);
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('R'));
    h.pump_until(LONG, "the poll step", |a| {
        a.jobs.list[0].progress.as_ref().is_some_and(|p| {
            p.message
                .starts_with("polling (task task-tui): processing, ")
        })
    })
    .await;
    // The steps so far are in the job's log: submitted, then polling.
    let log = h.app.jobs.list[0].log.join("\n");
    assert!(log.contains("submitted (task task-tui)"), "{log}");
    let row = h.render(100, 30);
    assert!(row.contains("polling (task task-tui): processing"), "{row}");
    h.app.focus = Focus::Jobs;
    h.key(KeyCode::Char('x'));
    h.pump_until(Duration::from_secs(10), "the cancellation", |a| {
        !a.jobs.list[0].is_active()
    })
    .await;
    let job = &h.app.jobs.list[0];
    assert_eq!(job.state, JobState::Cancelled);
    let note = job.remote_note().expect("a note on the remote job");
    assert!(
        note.contains("task-tui") && note.contains("may still finish"),
        "{note}"
    );
    assert!(note.contains(&api.url("/v1/elements/task-tui")), "{note}");
    let status = h.app.status.clone().unwrap().text;
    assert!(status.contains("may still finish"), "{status}");
    assert!(
        h.render(100, 30).contains("not registered: "),
        "the job row says it"
    );
    assert!(on_disk(&h, &fake_id(1)).provider_ids.is_empty());
}

#[tokio::test]
async fn the_details_say_when_a_registration_has_expired() {
    use castbook::library::ProviderEntry;
    let mut h = Harness::with_config(
        |_, lib| {
            let mut c = fake_character(1, "Hero", &[], "");
            let mut old = ProviderEntry::new("el-111");
            old.expires_at = Some("2026-01-01T00:00:00Z".into());
            let mut live = ProviderEntry::new("el-222");
            live.expires_at = Some("2099-01-01T00:00:00Z".into());
            c.provider_ids.insert("kling".into(), old);
            c.provider_ids.insert("later".into(), live);
            write_characters(lib, &[c]);
        },
        "clips",
        "",
    );
    h.app.focus = Focus::Library;
    let screen = h.render(160, 30);
    assert!(
        screen.contains("kling: el-111 (expired: register again)"),
        "{screen}"
    );
    assert!(screen.contains("later: el-222 "), "{screen}");
    assert!(!screen.contains("el-222 (expired"), "{screen}");
}

#[tokio::test]
async fn create_with_a_default_provider_registers_in_the_same_job() {
    let bin = tempfile::tempdir().unwrap();
    let args = bin.path().join("args.txt");
    let up = script(
        bin.path(),
        "up.sh",
        &format!(
            "echo \"$@\" > '{}'\necho '{{\"id\":\"remote-42\"}}'",
            args.display()
        ),
    );
    let config = format!(
        "{}[defaults]\nprovider = \"mine\"\n",
        command_provider("mine", &up)
    );
    let mut h = Harness::with_config(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        },
        "clips/hero.mp4",
        &config,
    );
    h.pump_until(LONG, "the probe", probed).await;
    h.app.queue_create("Hero".into());
    assert_eq!(h.app.jobs.list.len(), 1);
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    let job = &h.app.jobs.list[0];
    let JobState::Done { id, .. } = job.state.clone() else {
        panic!("{:?}", job.state)
    };
    // The same job went on to the register stage after the save.
    assert_eq!(job.progress.as_ref().unwrap().stage, Stage::Register);
    assert_eq!(
        job.registered,
        Some(("mine".to_string(), "remote-42".to_string()))
    );
    let c = on_disk(&h, &id);
    assert_eq!(c.provider_ids["mine"], "remote-42");
    let clip = Library::open(h.home().join("lib"))
        .unwrap()
        .character_dir(&id)
        .join("clip.mp4");
    assert_eq!(
        std::fs::read_to_string(&args).unwrap().trim(),
        format!("{} Hero {id}", clip.display())
    );
    let selected = h.app.library.selected_character().unwrap();
    assert_eq!(selected.id, id);
    assert_eq!(selected.provider_ids["mine"], "remote-42");
    let status = h.app.status.clone().unwrap().text;
    assert!(
        status.contains("registered with mine: remote-42")
            && status.contains(r#"{"characters":[{"id":"remote-42"}]}"#),
        "{status}"
    );
}

#[tokio::test]
async fn create_keeps_the_character_when_its_registration_fails() {
    let bin = tempfile::tempdir().unwrap();
    let failing = script(bin.path(), "up.sh", "echo 'no upload today' >&2\nexit 1");
    let config = format!(
        "{}[defaults]\nprovider = \"mine\"\n",
        command_provider("mine", &failing)
    );
    let mut h = Harness::with_config(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        },
        "clips/hero.mp4",
        &config,
    );
    h.pump_until(LONG, "the probe", probed).await;
    h.app.queue_create("Hero".into());
    h.pump_until(LONG, "the job", |a| !a.jobs.list[0].is_active())
        .await;
    let JobState::Failed(msg) = h.app.jobs.list[0].state.clone() else {
        panic!("{:?}", h.app.jobs.list[0].state)
    };
    let lib = Library::open(h.home().join("lib")).unwrap();
    let saved = lib.list().unwrap().characters;
    assert_eq!(saved.len(), 1, "the character is saved");
    let id = &saved[0].id;
    assert!(saved[0].provider_ids.is_empty());
    assert!(
        msg.contains(&format!("saved as {id}"))
            && msg.contains("no upload today")
            && msg.contains("press R to retry"),
        "{msg}"
    );
    assert_eq!(&h.app.library.selected_character().unwrap().id, id);
    assert_eq!(h.app.status.clone().unwrap().kind, StatusKind::Error);
}

#[tokio::test]
async fn a_fifo_shows_what_it_is_instead_of_checking_forever() {
    let mut h = Harness::new(|clips, _| {
        use std::os::unix::ffi::OsStrExt;
        let fifo = clips.join("pipe.mp4");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    });
    let fifo = h.home().join("clips/pipe.mp4");
    h.app.select_clip(
        castbook::pipeline::job::Input::File(fifo.clone()),
        Duration::ZERO,
    );
    h.pump_until(LONG, "the probe", probed).await;
    let Some(ProbeState::Failed(e)) = &h.app.clip.probe else {
        panic!("{:?}", h.app.clip.probe)
    };
    assert_eq!(e.code, "input_not_a_file", "{}", e.message);
    let screen = h.render(100, 30);
    assert!(screen.contains("FIFO"), "{screen}");
    assert!(!screen.contains("checking the clip"), "{screen}");
}

/// A 400-byte MP4 whose sample tables claim four billion samples: moving onto it in the files
/// pane shows what is wrong with it (the app neither aborts nor grows).
#[tokio::test]
async fn a_crafted_mp4_under_the_cursor_shows_an_error() {
    let mut h = Harness::with_start(
        |clips, _| {
            let mut t = boxes::Tables::constant(1, 1, 0);
            (t.width, t.height, t.uniform_size, t.sample_count) = (1280, 720, 1, u32::MAX);
            t.sizes.clear();
            t.stts = vec![(u32::MAX, 1)];
            let data = boxes::movie(&[boxes::video_trak(&t)], b"\0\0\0");
            std::fs::write(clips.join("crafted.mp4"), data).unwrap();
        },
        "clips/crafted.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    let shown = match &h.app.clip.probe {
        Some(ProbeState::Failed(e)) => e.message.clone(),
        Some(ProbeState::Done(r)) => {
            assert!(!r.valid, "{:?}", r.checks);
            r.checks.iter().find(|c| !c.ok).unwrap().message.clone()
        }
        other => panic!("{other:?}"),
    };
    let screen = h.render(100, 30);
    let start: String = shown.chars().take(20).collect();
    assert!(
        screen.contains(&start),
        "{shown:?} not on screen:\n{screen}"
    );
}

// ---- focus: a key acts on the focused pane or overlay only ----

/// Every record file of a library folder with its bytes, and the trash's entries.
fn library_state(lib: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(lib).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let record = e.path().join("character.json");
        if record.is_file() {
            out.push((name, std::fs::read(record).unwrap()));
        } else if name == ".trash" {
            for t in std::fs::read_dir(e.path()).unwrap().flatten() {
                out.push((format!("trash/{}", t.file_name().to_string_lossy()), vec![]));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn library_keys_do_nothing_from_the_files_and_clip_panes() {
    let mut h = Harness::with_start(
        |clips, lib| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
            write_characters(
                lib,
                &[
                    fake_character(1, "Hero", &["lead"], "notes"),
                    fake_character(2, "Villain", &[], ""),
                ],
            );
        },
        "clips/hero.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    let lib = h.home().join("lib");
    let before = library_state(&lib);
    assert!(h.app.library.select_id(&fake_id(2)));
    let selected = h.app.library.selected;
    assert_eq!(h.app.focus, Focus::Files);
    for pane in [Focus::Files, Focus::Clip] {
        assert_eq!(h.app.focus, pane);
        for c in ['d', 'e', 'n', 't', 'y', 'E', 'R'] {
            h.key(KeyCode::Char(c));
            assert!(h.app.prompt.is_none(), "{c} in {pane:?} opened a prompt");
            assert!(h.app.confirm.is_none(), "{c} in {pane:?} asked to remove");
        }
        h.key(KeyCode::Delete);
        assert!(h.app.confirm.is_none());
        // The refusal says where the key works, in the status line.
        let status = h.app.status.clone().unwrap();
        assert!(
            status.text.contains("works in the Library pane"),
            "{}",
            status.text
        );
        for k in [KeyCode::Up, KeyCode::Down, KeyCode::PageDown, KeyCode::End] {
            h.key(k);
        }
        assert_eq!(h.app.library.selected, selected, "arrows in {pane:?}");
        assert!(h.app.output.is_empty(), "y in {pane:?} copied");
        assert!(h.app.jobs.list.is_empty(), "R in {pane:?} started a job");
        h.key(KeyCode::Tab);
    }
    assert_eq!(h.app.focus, Focus::Library);
    assert_eq!(library_state(&lib), before, "nothing changed on disk");
    // In the Library pane the same key does act.
    h.key(KeyCode::Char('y'));
    assert_eq!(h.app.output, castbook::tui::clipboard::osc52(&fake_id(2)));
}

#[tokio::test]
async fn right_moves_the_window_only_when_the_clip_pane_has_focus() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        false,
    );
    h.pump_until(LONG, "the probe", probed).await;
    assert_eq!(h.app.focus, Focus::Files);
    h.key(KeyCode::Right);
    h.key(KeyCode::Char(']'));
    assert_eq!(h.app.clip.start_s, 0.0);
    assert!(probed(&h.app), "no new check was started");
    assert!(
        h.app.status.clone().unwrap().text.contains("Clip pane"),
        "{:?}",
        h.app.status
    );
    // c on a folder creates nothing and says why.
    h.key(KeyCode::Char('g'));
    assert_eq!(h.app.files.current().unwrap().name, "..");
    h.key(KeyCode::Char('c'));
    assert!(h.app.prompt.is_none(), "c on a folder asks no name");
    assert_eq!(h.app.focus, Focus::Files);
    assert!(h.app.status.clone().unwrap().text.contains("not a video"));
    // c on a video without marks: that clip in the Clip pane, the name asked at once.
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Char('c'));
    assert_eq!(h.app.focus, Focus::Clip);
    assert_eq!(
        h.app.prompt.as_ref().map(|p| p.kind.clone()),
        Some(castbook::tui::app::PromptKind::Name)
    );
    assert_eq!(h.app.clip.label, "hero.mp4");
    // While the prompt is open, arrows edit the name, never the window.
    h.key(KeyCode::Right);
    assert_eq!(h.app.clip.start_s, 0.0);
    h.key(KeyCode::Esc);
    assert!(h.app.prompt.is_none());
    assert!(h.app.jobs.list.is_empty(), "nothing was created");
    // In the Library pane c does nothing.
    h.key(KeyCode::Tab);
    assert_eq!(h.app.focus, Focus::Library);
    h.key(KeyCode::Char('c'));
    assert!(h.app.prompt.is_none());
    h.key(KeyCode::BackTab);
    assert_eq!(h.app.focus, Focus::Clip);
    h.key(KeyCode::Right);
    assert_eq!(h.app.clip.start_s, 0.5);
}

#[tokio::test]
async fn a_name_typed_while_the_clip_is_checked_is_never_run_as_commands() {
    let mut h = Harness::with_start(
        |clips, lib| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
            write_characters(lib, &[fake_character(1, "Hero", &[], "")]);
        },
        "clips/hero.mp4",
        false,
    );
    let lib = h.home().join("lib");
    h.key(KeyCode::Tab);
    assert_eq!(h.app.focus, Focus::Clip);
    assert!(
        matches!(h.app.clip.probe, Some(ProbeState::Running)),
        "still checking"
    );
    // c opens the name prompt at once, while the check runs.
    h.key(KeyCode::Char('c'));
    assert!(h.app.prompt.is_some(), "the prompt opens at once");
    h.type_text("dyed tenny");
    assert!(h.app.confirm.is_none());
    assert!(h.app.output.is_empty());
    assert_eq!(h.app.prompt.as_ref().unwrap().input.value(), "dyed tenny");
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_none());
    assert!(h.app.jobs.list.is_empty(), "the create waits for the check");
    assert!(
        h.app
            .status
            .clone()
            .unwrap()
            .text
            .contains("when the check"),
        "{:?}",
        h.app.status
    );
    h.pump_until(LONG, "the create", |a| {
        a.jobs
            .list
            .iter()
            .any(|j| matches!(j.state, JobState::Done { .. } | JobState::Failed(_)))
    })
    .await;
    let names: Vec<String> = Library::open(&lib)
        .unwrap()
        .list()
        .unwrap()
        .characters
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"dyed tenny".to_string()), "{names:?}");
    assert!(names.contains(&"Hero".to_string()), "nothing was removed");
    let trashed = std::fs::read_dir(lib.join(".trash")).map_or(0, |d| d.count());
    assert_eq!(trashed, 0, "nothing in the trash");
}

#[tokio::test]
async fn a_create_asked_for_during_the_check_of_a_rejected_clip_says_why() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "small.mp4", 640, 360, 2.0);
        },
        "clips/small.mp4",
        false,
    );
    h.key(KeyCode::Tab);
    h.key(KeyCode::Char('c'));
    h.type_text("Small");
    h.key(KeyCode::Enter);
    h.pump_until(LONG, "the probe", probed).await;
    assert!(h.app.jobs.list.is_empty(), "no job for a rejected clip");
    let status = h.app.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(
        status.text.contains("Small was not created") && status.text.contains("640x360"),
        "{}",
        status.text
    );
    // With the prompt still open when the check ends, the prompt says it.
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "small.mp4", 640, 360, 2.0);
        },
        "clips/small.mp4",
        false,
    );
    h.key(KeyCode::Tab);
    h.key(KeyCode::Char('c'));
    h.type_text("Small");
    h.pump_until(LONG, "the probe", probed).await;
    let error = h.app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("640x360"), "{error}");
    h.key(KeyCode::Enter);
    assert!(
        h.app.prompt.is_some(),
        "Enter does not submit a rejected clip"
    );
    assert!(h.app.jobs.list.is_empty());
}

#[tokio::test]
async fn the_remove_dialog_wraps_a_long_name_shows_the_id_and_wants_shift_d() {
    let long = "Captain Nova of the Outer Rim Rescue Fleet, second watch, with helmet";
    let mut h = Harness::new(|_, lib| write_characters(lib, &[fake_character(1, long, &[], "")]));
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    assert_eq!(h.app.focus, Focus::Library);
    h.key(KeyCode::Char('d'));
    let screen = h.render(80, 24);
    assert!(screen.contains(&fake_id(1)), "{screen}");
    assert!(screen.contains("watch, with helmet?"), "{screen}");
    assert!(screen.contains("D remove"), "{screen}");
    insta::assert_snapshot!("remove_dialog", screen);
    h.key(KeyCode::Char('y'));
    assert!(h.app.confirm.is_none());
    assert!(
        h.app.output.is_empty(),
        "y closed the dialog and copied nothing"
    );
    assert_eq!(h.app.library.characters.len(), 1);
    h.key(KeyCode::Char('d'));
    h.key(KeyCode::Char('D'));
    h.pump_until(LONG, "the removal", |a| a.library.characters.is_empty())
        .await;
    let status = h.app.status.clone().unwrap();
    assert!(status.text.contains("moved to"), "{}", status.text);
}

#[tokio::test]
async fn u_brings_the_last_removal_back_and_refuses_a_name_taken_since() {
    let mut h = Harness::new(|_, lib| {
        write_characters(
            lib,
            &[
                fake_character(1, "Hero", &[], ""),
                fake_character(2, "Villain", &[], ""),
            ],
        )
    });
    let lib = h.home().join("lib");
    h.app.focus = Focus::Library;
    assert!(h.app.library.select_id(&fake_id(1)));
    h.key(KeyCode::Char('d'));
    h.key(KeyCode::Char('D'));
    h.pump_until(LONG, "the removal", |a| a.library.characters.len() == 1)
        .await;
    h.key(KeyCode::Char('u'));
    h.pump_until(LONG, "the restore", |a| a.library.characters.len() == 2)
        .await;
    assert!(lib.join(fake_id(1)).join("character.json").is_file());
    assert_eq!(h.app.library.selected_character().unwrap().id, fake_id(1));
    assert!(h.app.status.clone().unwrap().text.contains("is back"));
    // Removed again, and the name is taken meanwhile: u says so and leaves it in the trash.
    h.key(KeyCode::Char('d'));
    h.key(KeyCode::Char('D'));
    h.pump_until(LONG, "the second removal", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("moved to"))
    })
    .await;
    write_characters(&lib, &[fake_character(3, "hero", &[], "")]);
    h.key(KeyCode::Char('u'));
    h.pump_until(LONG, "the refusal", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.text.starts_with("not restored"))
    })
    .await;
    assert!(!lib.join(fake_id(1)).exists());
    assert_eq!(std::fs::read_dir(lib.join(".trash")).unwrap().count(), 1);
    // u in another pane does nothing.
    h.key(KeyCode::Tab);
    std::fs::remove_dir_all(lib.join(fake_id(3))).unwrap();
    h.key(KeyCode::Char('u'));
    assert!(h.app.status.clone().unwrap().text.contains("Library pane"));
}

#[tokio::test]
async fn a_character_created_by_the_cli_shows_while_the_app_runs_keeping_the_selection() {
    let mut h = Harness::new(|clips, lib| {
        gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        write_characters(
            lib,
            &[
                fake_character(1, "Mona", &[], ""),
                fake_character(2, "Zed", &[], ""),
            ],
        );
    });
    assert!(h.app.library.select_id(&fake_id(2)));
    let home = h.home();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .arg("--library")
        .arg(home.join("lib"))
        .args(["create"])
        .arg(home.join("clips/hero.mp4"))
        .args(["--name", "Amber"])
        .env("CASTBOOK_CONFIG", home.join("no-config.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    h.pump_until(LONG, "the new character", |a| {
        a.library.characters.iter().any(|c| c.name == "Amber")
    })
    .await;
    assert_eq!(
        h.app.library.selected_character().unwrap().id,
        fake_id(2),
        "the selection stays"
    );
}

#[tokio::test]
async fn lists_jump_to_either_end_and_esc_out_of_search_keeps_the_selection() {
    let mut h = Harness::new(|_, lib| {
        let chars: Vec<_> = (0..30)
            .map(|i| fake_character(i, &format!("extra {i:02}"), &[], ""))
            .collect();
        write_characters(lib, &chars);
    });
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('G'));
    assert_eq!(h.app.library.selected, 29);
    h.key(KeyCode::Char('g'));
    assert_eq!(h.app.library.selected, 0);
    h.key(KeyCode::End);
    assert_eq!(h.app.library.selected, 29);
    h.key(KeyCode::Home);
    h.key(KeyCode::PageDown);
    assert_eq!(h.app.library.selected, 10);
    // Search, move to the second hit, Esc: that character stays selected.
    h.key(KeyCode::Char('/'));
    h.type_text("extra 1");
    h.key(KeyCode::Down);
    let picked = h.app.library.selected_character().unwrap().id.clone();
    h.key(KeyCode::Esc);
    assert!(h.app.library.query.value().is_empty());
    assert_eq!(h.app.library.selected_character().unwrap().id, picked);
    // Files: G.
    h.key(KeyCode::Tab);
    assert_eq!(h.app.focus, Focus::Files);
    h.key(KeyCode::Char('G'));
    assert_eq!(h.app.files.selected, h.app.files.entries.len() - 1);
}

#[tokio::test]
async fn tags_show_in_the_list_filter_it_and_s_sorts() {
    let mut h = Harness::new(|_, lib| {
        write_characters(
            lib,
            &[
                fake_character(1, "Bo", &["hero", "night"], ""),
                fake_character(2, "Al", &["villain"], ""),
                fake_character(3, "Cy", &["hero"], ""),
            ],
        )
    });
    let screen = h.render(100, 30);
    assert!(screen.contains("Bo #hero #night"), "{screen}");
    h.key(KeyCode::Char('/'));
    h.type_text("#her");
    let names = |h: &Harness| -> Vec<String> {
        h.app
            .library
            .hits
            .iter()
            .map(|x| h.app.library.characters[x.index].name.clone())
            .collect()
    };
    let mut found = names(&h);
    found.sort();
    assert_eq!(found, ["Bo", "Cy"]);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('/'));
    h.type_text("tag:night");
    assert_eq!(names(&h), ["Bo"]);
    h.key(KeyCode::Esc);
    assert_eq!(h.app.focus, Focus::Library);
    h.key(KeyCode::Char('s'));
    assert_eq!(names(&h), ["Al", "Bo", "Cy"], "by name");
    h.key(KeyCode::Char('s'));
    // fake_character dates: day 1 + n.
    assert_eq!(names(&h), ["Cy", "Al", "Bo"], "newest first");
    assert!(h.render(100, 30).contains("↕newest"));
}

#[tokio::test]
async fn clicks_focus_and_select_and_the_wheel_scrolls() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut h = Harness::new(|_, lib| {
        let chars: Vec<_> = (0..20)
            .map(|i| fake_character(i, &format!("c{i:02}"), &[], ""))
            .collect();
        write_characters(lib, &chars);
    });
    h.render(100, 30);
    let lib = h.app.areas.library;
    let mouse = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: crossterm::event::KeyModifiers::NONE,
    };
    // The third row of the library list.
    h.app.handle(Msg::Mouse(mouse(
        MouseEventKind::Down(MouseButton::Left),
        lib.x + 3,
        lib.y + 3,
    )));
    assert_eq!(h.app.focus, Focus::Library);
    assert_eq!(h.app.library.selected, 2);
    h.app.handle(Msg::Mouse(mouse(
        MouseEventKind::ScrollDown,
        lib.x + 3,
        lib.y + 3,
    )));
    assert_eq!(h.app.library.selected, 5);
    // A click in the clip pane focuses it and touches no list.
    let clip = h.app.areas.clip;
    h.app.handle(Msg::Mouse(mouse(
        MouseEventKind::Down(MouseButton::Left),
        clip.x + 2,
        clip.y + 2,
    )));
    assert_eq!(h.app.focus, Focus::Clip);
    assert_eq!(h.app.library.selected, 5);
}

// ---- text you can read: wrapping, the job log, details, the compact layout ----

fn long_warning() -> castbook::library::Warning {
    castbook::library::Warning::new(
        "variable_frame_rate",
        "variable frame rate (23.1-29.97 fps): the clip was converted to a constant 25 fps, \
         which may stutter on fast motion; re-export at a constant rate for the best result",
    )
}

/// A finished create job of a character with a long name and a long warning.
fn finished_job(h: &mut Harness, name: &str) -> castbook::library::Character {
    let id = h.app.jobs.add(
        name.into(),
        "hero.mp4".into(),
        castbook::pipeline::job::Input::File("/nowhere/hero.mp4".into()),
        Default::default(),
    );
    {
        let job = h.app.jobs.get_mut(id).unwrap();
        job.state = JobState::Running;
        job.started = Some(Instant::now());
    }
    h.app.handle(Msg::Job {
        id,
        event: castbook::pipeline::job::JobEvent::Warning(long_warning()),
    });
    let mut c = fake_character(7, name, &[], "");
    c.warnings = vec![long_warning()];
    h.app.handle(Msg::JobDone {
        id,
        result: Box::new(Ok(Created {
            character: c.clone(),
            existed: false,
        })),
    });
    c
}

#[tokio::test]
async fn the_status_line_always_shows_the_new_id_and_enter_opens_the_job_log() {
    let long = "Captain Nova of the Outer Rim Rescue Fleet, second watch, with helmet";
    let mut h = Harness::new(|_, _| {});
    let c = finished_job(&mut h, long);
    let small = h.render(80, 24);
    let status_rows: String = small.lines().rev().skip(1).take(3).collect();
    assert!(status_rows.contains(&c.id), "{small}");
    insta::assert_snapshot!("created_long_name_80x24", small);
    // The job's full log: Tab to the jobs, Enter.
    while h.app.focus != Focus::Jobs {
        h.key(KeyCode::Tab);
    }
    h.key(KeyCode::Enter);
    let log = h.render(80, 24);
    assert!(log.contains("for the best result"), "{log}");
    assert!(log.contains(&c.id));
    insta::assert_snapshot!("job_log_80x24", log);
    h.key(KeyCode::Char('d'));
    assert!(h.app.confirm.is_none(), "keys do not pass the reader");
    h.key(KeyCode::Esc);
    assert!(h.app.reader.is_none());
    let big = h.render(200, 60);
    assert!(big.contains(&c.id));
    insta::assert_snapshot!("created_long_name_200x60", big);
}

#[tokio::test]
async fn rule_messages_wrap_beside_the_preview() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "small.mp4", 640, 360, 2.0);
        },
        "clips/small.mp4",
        true,
    );
    h.pump_until(LONG, "the probe", probed).await;
    let message = h
        .app
        .clip
        .report()
        .unwrap()
        .checks
        .iter()
        .find(|c| !c.ok)
        .unwrap()
        .message
        .clone();
    h.pump_until(LONG, "the preview", |a| a.clip_preview.is_some())
        .await;
    for (w, ht) in [(80, 24), (100, 30), (200, 60)] {
        let screen = h.render(w, ht);
        // Every word of the message is on screen, whatever the width.
        let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
        for word in message.split_whitespace() {
            assert!(
                joined.contains(word),
                "{w}x{ht}: {word:?} missing\n{screen}"
            );
        }
    }
}

#[tokio::test]
async fn details_wrap_and_enter_shows_them_all() {
    let notes = "walks through a park at dusk in a long red coat and a wide hat, smiles at the camera, then turns away towards the fountain";
    let mut h = Harness::new(|_, lib| {
        let mut c = fake_character(1, "Hero", &["lead", "night"], notes);
        c.warnings = vec![long_warning()];
        write_characters(lib, &[c]);
    });
    h.app.focus = Focus::Library;
    let pane = h.render(80, 24);
    assert!(pane.contains("shows it all"), "{pane}");
    insta::assert_snapshot!("details_80x24", pane);
    h.key(KeyCode::Enter);
    let all = h.render(80, 24);
    let joined: String = all.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains("towards the fountain"), "{all}");
    assert!(
        joined.contains("castbook use char_") && !joined.contains("\"characters\""),
        "a local-only character points to `use --for`: {all}"
    );
    insta::assert_snapshot!("details_reader_80x24", all);
    let big = h.render(200, 60);
    insta::assert_snapshot!("details_reader_200x60", big);
}

#[tokio::test]
async fn at_60x18_one_pane_shows_under_a_tab_bar() {
    let mut h = Harness::new(|clips, lib| {
        gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
        write_characters(lib, &[fake_character(1, "Hero", &[], "")]);
    });
    let files = sizes_hidden(&h.render(60, 18));
    assert!(
        files.contains("Files") && files.contains("hero.mp4"),
        "{files}"
    );
    assert!(!files.contains("too small"));
    insta::assert_snapshot!("compact_files_60x18", files);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    let lib = h.render(60, 18);
    assert!(lib.contains(&fake_id(1)) || lib.contains("Hero"), "{lib}");
    insta::assert_snapshot!("compact_library_60x18", lib);
}

#[tokio::test]
async fn done_jobs_fold_away_and_failed_ones_stay_until_dismissed() {
    let mut h = Harness::new(|_, _| {});
    finished_job(&mut h, "Hero");
    let failed = h.app.jobs.add(
        "Broken".into(),
        "broken.mp4".into(),
        castbook::pipeline::job::Input::File("/nowhere/broken.mp4".into()),
        Default::default(),
    );
    h.app.jobs.get_mut(failed).unwrap().state = JobState::Running;
    h.app.handle(Msg::JobDone {
        id: failed,
        result: Box::new(Err(castbook::Error::input("bad", "not a video"))),
    });
    assert!(h.app.wants_tick(), "the loop wakes up to fold the done job");
    h.app.handle(Msg::Tick);
    assert_eq!(h.app.jobs.list.len(), 2, "not yet: a few seconds first");
    for j in &mut h.app.jobs.list {
        j.ended_at = Some(Instant::now() - Duration::from_secs(60));
    }
    h.app.handle(Msg::Tick);
    assert_eq!(h.app.jobs.list.len(), 1, "the done job folded away");
    assert!(matches!(h.app.jobs.list[0].state, JobState::Failed(_)));
    assert_eq!(h.app.jobs.history.len(), 1);
    assert!(!h.app.wants_tick(), "nothing left to fold: idle again");
    let screen = h.render(80, 24);
    assert!(screen.contains("folded away"), "{screen}");
    // Its log is still there.
    while h.app.focus != Focus::Jobs {
        h.key(KeyCode::Tab);
    }
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Enter);
    assert!(h.render(80, 24).contains("for the best result"));
    h.key(KeyCode::Esc);
    // x on the failed job dismisses it.
    h.key(KeyCode::Char('g'));
    h.key(KeyCode::Char('x'));
    assert!(h.app.jobs.list.is_empty());
}

/// Select the file `name` in the files pane.
fn select_file(h: &mut Harness, name: &str) {
    h.app.files.selected = h
        .app
        .files
        .entries
        .iter()
        .position(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} is listed"));
}

fn marked_names(h: &Harness) -> Vec<String> {
    h.app
        .files
        .marked_videos()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn marked_clips_are_created_in_one_batch_named_after_their_files() {
    let mut h = Harness::with_start(
        |clips, lib| {
            for f in ["char_bad.mp4", "Hero One.mp4", "Taken.mp4", "Villain.mp4"] {
                gen_clip(clips, f, 1280, 720, 2.0);
            }
            write_characters(lib, &[fake_character(1, "Taken", &[], "")]);
        },
        "clips",
        false,
    );
    h.wait_loaded();
    assert_eq!(h.app.focus, Focus::Files);
    // c without marks says how to mark.
    h.key(KeyCode::Char('c'));
    assert!(h.app.batch.is_none());
    let status = h.app.status.clone().unwrap().text;
    assert!(status.contains("Space") && status.contains('A'), "{status}");
    // Space marks the video under the cursor and moves on; a folder entry is not marked.
    select_file(&mut h, "..");
    h.key(KeyCode::Char(' '));
    assert!(
        h.app.files.marked.is_empty(),
        "the parent entry is no video"
    );
    select_file(&mut h, "Hero One.mp4");
    h.key(KeyCode::Char(' '));
    assert_eq!(h.app.files.current().unwrap().name, "Taken.mp4");
    select_file(&mut h, "Villain.mp4");
    h.key(KeyCode::Char(' '));
    assert_eq!(marked_names(&h), ["Hero One.mp4", "Villain.mp4"]);
    // Space again unmarks.
    select_file(&mut h, "Villain.mp4");
    h.key(KeyCode::Char(' '));
    assert_eq!(marked_names(&h), ["Hero One.mp4"]);
    h.key(KeyCode::Char(' '));
    h.key(KeyCode::Char('c'));
    let names: Vec<_> = h
        .app
        .batch
        .as_ref()
        .unwrap()
        .items
        .iter()
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(names, ["Hero One", "Villain"]);
    // Esc queues nothing and keeps the marks.
    h.key(KeyCode::Esc);
    assert!(h.app.batch.is_none());
    assert!(h.app.jobs.list.is_empty());
    assert_eq!(marked_names(&h), ["Hero One.mp4", "Villain.mp4"]);
    // A marks every video; the dialog says why two of them cannot be created.
    h.key(KeyCode::Char('A'));
    assert_eq!(
        marked_names(&h),
        ["char_bad.mp4", "Hero One.mp4", "Taken.mp4", "Villain.mp4"]
    );
    h.key(KeyCode::Char('c'));
    let batch = h.app.batch.clone().unwrap();
    let errors: Vec<_> = batch.items.iter().map(|i| i.error.is_some()).collect();
    assert_eq!(errors, [true, false, true, false]);
    assert!(
        batch.items[2].error.as_ref().unwrap().contains(&fake_id(1)),
        "{:?}",
        batch.items[2].error
    );
    insta::assert_snapshot!(sizes_hidden(&h.render(80, 24)));
    // Keys other than Enter and Esc do nothing in the dialog.
    h.key(KeyCode::Char('q'));
    h.key(KeyCode::Char(' '));
    assert!(!h.app.quit);
    assert!(h.app.batch.is_some());
    h.key(KeyCode::Enter);
    assert!(h.app.batch.is_none());
    assert!(h.app.files.marked.is_empty(), "the marks are cleared");
    let queued: Vec<_> = h.app.jobs.list.iter().map(|j| j.name.clone()).collect();
    assert_eq!(queued, ["Hero One", "Villain"]);
    h.pump_until(LONG, "both creates", |a| {
        a.jobs.list.iter().all(|j| !j.is_active())
    })
    .await;
    for j in &h.app.jobs.list {
        assert!(matches!(j.state, JobState::Done { .. }), "{:?}", j.state);
    }
    let lib = Library::open(h.home().join("lib")).unwrap();
    let mut names: Vec<_> = lib
        .list()
        .unwrap()
        .characters
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(names, ["Hero One", "Taken", "Villain"]);
}

#[tokio::test]
async fn a_batch_runs_no_more_jobs_at_once_than_the_pool_allows() {
    let mut h = Harness::with_start(
        |clips, _| {
            for f in ["one.mp4", "two.mp4", "three.mp4"] {
                gen_clip(clips, f, 1280, 720, 2.0);
            }
        },
        "clips",
        false,
    );
    h.wait_loaded();
    assert_eq!(
        h.app.job_slots,
        castbook::pool::size(),
        "the CLI batch's pool size"
    );
    h.app.job_slots = 1;
    h.key(KeyCode::Char('A'));
    h.key(KeyCode::Char('c'));
    h.key(KeyCode::Enter);
    let states: Vec<_> = h.app.jobs.list.iter().map(|j| j.state.clone()).collect();
    assert_eq!(
        states,
        [JobState::Running, JobState::Queued, JobState::Queued]
    );
    let running = |a: &castbook::tui::app::App| {
        a.jobs
            .list
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count()
    };
    h.pump_until(LONG, "every create", |a| {
        assert!(running(a) <= 1, "more than one job runs at once");
        a.jobs.list.iter().all(|j| !j.is_active())
    })
    .await;
    for j in &h.app.jobs.list {
        assert!(matches!(j.state, JobState::Done { .. }), "{:?}", j.state);
    }
}

#[tokio::test]
async fn marking_keys_do_nothing_outside_the_files_pane() {
    let mut h = Harness::with_start(
        |clips, lib| {
            gen_clip(clips, "hero.mp4", 1280, 720, 2.0);
            write_characters(lib, &[fake_character(1, "Hero", &[], "")]);
        },
        "clips",
        false,
    );
    h.wait_loaded();
    select_file(&mut h, "hero.mp4");
    for pane in [Focus::Clip, Focus::Library, Focus::Jobs] {
        h.app.focus = pane;
        for c in [' ', 'A'] {
            h.key(KeyCode::Char(c));
            assert!(h.app.files.marked.is_empty(), "{c:?} marked from {pane:?}");
        }
        h.action(Action::Mark);
        h.action(Action::MarkAll);
        assert!(h.app.files.marked.is_empty(), "an action from {pane:?}");
    }
    h.app.focus = Focus::Files;
    h.key(KeyCode::Char(' '));
    assert_eq!(marked_names(&h), ["hero.mp4"]);
    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('c'));
    assert!(h.app.batch.is_none(), "c in the library opens no batch");
    assert!(h.app.jobs.list.is_empty());
}

#[tokio::test]
async fn a_batch_fills_every_slot_of_the_pool_and_queues_the_rest() {
    let mut h = Harness::with_start(
        |clips, _| {
            for f in ["one.mp4", "two.mp4", "three.mp4"] {
                gen_clip(clips, f, 1280, 720, 2.0);
            }
        },
        "clips",
        false,
    );
    h.wait_loaded();
    h.app.job_slots = 2;
    h.key(KeyCode::Char('A'));
    h.key(KeyCode::Char('c'));
    h.key(KeyCode::Enter);
    let states: Vec<_> = h.app.jobs.list.iter().map(|j| j.state.clone()).collect();
    assert_eq!(
        states,
        [JobState::Running, JobState::Running, JobState::Queued]
    );
    h.pump_until(LONG, "every create", |a| {
        let running = a
            .jobs
            .list
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count();
        assert!(running <= 2, "more than two jobs run at once");
        a.jobs.list.iter().all(|j| !j.is_active())
    })
    .await;
    for j in &h.app.jobs.list {
        assert!(matches!(j.state, JobState::Done { .. }), "{:?}", j.state);
    }
}

/// The screen with the cells of the Clip pane's preview and strip shown as `▒` (their
/// half-blocks depend on the decoder's pixels; where they sit is what is checked).
fn with_images_masked(h: &mut Harness, w: u16, ht: u16) -> String {
    let screen = h.render(w, ht);
    let a = h.app.areas;
    let mut rows: Vec<Vec<char>> = screen
        .lines()
        .map(|l| l.trim_matches('"').chars().collect())
        .collect();
    for r in [a.clip_image, a.clip_strip] {
        for y in r.top()..r.bottom() {
            for x in r.left()..r.right() {
                rows[y as usize][x as usize] = '▒';
            }
        }
    }
    rows.into_iter()
        .map(|r| format!("\"{}\"\n", r.into_iter().collect::<String>()))
        .collect()
}

/// Distinct colours drawn in `r` (a flat or black image has one or two).
fn colours_in(
    h: &mut Harness,
    w: u16,
    ht: u16,
    r: fn(&castbook::tui::app::PaneAreas) -> ratatui::layout::Rect,
) -> usize {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut terminal = Terminal::new(TestBackend::new(w, ht)).unwrap();
    terminal
        .draw(|f| castbook::tui::ui::draw(f, &mut h.app))
        .unwrap();
    let rect = r(&h.app.areas);
    let buf = terminal.backend().buffer();
    let mut seen = std::collections::HashSet::new();
    for y in rect.top()..rect.bottom() {
        for x in rect.left()..rect.right() {
            let c = &buf[(x, y)];
            seen.insert(format!("{:?}{:?}", c.fg, c.bg));
        }
    }
    seen.len()
}

#[tokio::test]
async fn the_preview_uses_the_room_of_its_pane_at_each_size() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        true,
    );
    h.pump_until(LONG, "the strip", |a| a.clip_strip.len() == 4)
        .await;
    for (w, ht) in [(80, 24), (100, 30), (200, 60)] {
        let screen = sizes_hidden(&with_images_masked(&mut h, w, ht));
        insta::assert_snapshot!(format!("preview_{w}x{ht}"), screen);
        let a = h.app.areas;
        let (body, text, img) = (a.clip_body, a.clip_text, a.clip_image);
        // Never over the text, inside the pane.
        assert!(!img.is_empty(), "{w}x{ht}: a preview is drawn");
        assert!(
            !img.intersects(text),
            "{w}x{ht}: {img:?} over the text {text:?}"
        );
        assert!(!a.clip_strip.intersects(text));
        assert!(body.contains(img.as_position()) && img.bottom() <= body.bottom());
        // The aspect kept: 16:9 in cells twice as tall as wide.
        let aspect = img.width as f64 / img.height as f64;
        assert!((aspect - 3.56).abs() < 0.5, "{w}x{ht}: aspect {aspect}");
        // The room used: the preview (with its strip) reaches the bottom or the side of the
        // pane.
        let bottom = if a.clip_strip.is_empty() {
            img.bottom()
        } else {
            a.clip_strip.bottom()
        };
        assert!(
            bottom == body.bottom() || img.right() == body.right(),
            "{w}x{ht}: {img:?} in {body:?}"
        );
        // Every check's name still shows.
        let screen = h.render(w, ht);
        for rule in ["decodable", "container", "resolution", "aspect", "duration"] {
            assert!(screen.contains(rule), "{w}x{ht}: {rule} hidden\n{screen}");
        }
        // The picture has content, not one flat colour.
        assert!(colours_in(&mut h, w, ht, |a| a.clip_image) > 10);
    }
    // The larger terminals show the strip of the window's frames under the preview.
    for (w, ht) in [(100, 30), (200, 60)] {
        h.render(w, ht);
        let strip = h.app.areas.clip_strip;
        assert!(
            strip.width >= 4 * 6 && strip.height >= 2,
            "{w}x{ht}: {strip:?}"
        );
    }
    // At 200x60 the preview is far larger than the fixed 40x12 it used to be.
    h.render(200, 60);
    let img = h.app.areas.clip_image;
    assert!(img.width >= 70 && img.height >= 20, "{img:?}");
}

#[tokio::test]
async fn a_window_whose_middle_is_black_still_shows_a_picture() {
    // 0-2.2 s picture, 2.2-3.2 s black (a fade), then picture: the window 0-4 s has its
    // middle (2.0-3.0 s) in the black.
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip_with_black(clips, "fade.mp4", 6.0, (1.8, 3.2));
        },
        "clips/fade.mp4",
        true,
    );
    h.pump_until(LONG, "the strip", |a| a.clip_strip.len() == 4)
        .await;
    // The strip really has the black frames (the middles of 1-2 s and 2-3 s).
    let blank: Vec<bool> = h
        .app
        .clip_strip
        .iter()
        .map(|p| castbook::tui::preview::is_blank(&p.image))
        .collect();
    assert_eq!(blank, vec![false, true, true, false]);
    let main = h.app.clip_preview.as_ref().unwrap();
    assert!(!castbook::tui::preview::is_blank(&main.image));
    for (w, ht) in [(80, 24), (200, 60)] {
        let colours = colours_in(&mut h, w, ht, |a| a.clip_image);
        assert!(
            colours > 10,
            "{w}x{ht}: the preview is blank ({colours} colours)"
        );
    }
}

#[tokio::test]
async fn v_shows_the_preview_full_size_and_steps_through_the_strip() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        true,
    );
    h.pump_until(LONG, "the strip", |a| a.clip_strip.len() == 4)
        .await;
    // Not from the Files pane: v is the Clip pane's (and the Library pane's) key.
    h.key(KeyCode::Char('v'));
    assert!(h.app.viewer.is_none());
    assert!(h.app.status.clone().unwrap().text.contains("Clip pane"));
    h.key(KeyCode::Tab);
    h.key(KeyCode::Char('v'));
    let v = h.app.viewer.as_ref().expect("the full-size preview");
    assert_eq!((v.frames.len(), v.index), (4, 2));
    let screen = h.render(100, 30);
    let img = h.app.areas.viewer;
    // Most of the screen, its aspect kept.
    assert!(img.width >= 90 || img.height >= 26, "{img:?}");
    let aspect = img.width as f64 / img.height as f64;
    assert!((aspect - 3.56).abs() < 0.5, "{aspect}");
    assert!(screen.contains("frame 3/4 at 2.50 s"), "{screen}");
    // The arrows step through the frames; keys of the panes behind do nothing.
    h.key(KeyCode::Right);
    h.key(KeyCode::Right);
    assert_eq!(h.app.viewer.as_ref().unwrap().index, 3);
    let before = h.app.clip.start_s;
    h.key(KeyCode::Char('c'));
    assert!(h.app.prompt.is_none());
    assert_eq!(h.app.clip.start_s, before);
    h.key(KeyCode::Home);
    assert_eq!(h.app.viewer.as_ref().unwrap().index, 0);
    assert!(h.render(100, 30).contains("frame 1/4 at 0.50 s"));
    h.key(KeyCode::Esc);
    assert!(h.app.viewer.is_none());
    assert_eq!(h.app.focus, Focus::Clip);
}

#[tokio::test]
async fn previews_use_the_protocol_the_terminal_speaks() {
    #[allow(deprecated)]
    let mut picker = ratatui_image::picker::Picker::from_fontsize((10, 20));
    picker.set_protocol_type(ratatui_image::picker::ProtocolType::Kitty);
    let mut h = Harness::with_picker(
        |clips, _| {
            gen_clip(clips, "hero.mp4", 1280, 720, 6.0);
        },
        "clips/hero.mp4",
        picker,
    );
    h.pump_until(LONG, "the strip", |a| a.clip_strip.len() == 4)
        .await;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal
        .draw(|f| castbook::tui::ui::draw(f, &mut h.app))
        .unwrap();
    // The kitty graphics escape is in the cells, not half-blocks.
    let buf = terminal.backend().buffer();
    let kitty = buf.content().iter().any(|c| c.symbol().contains("\x1b_G"));
    assert!(kitty, "a kitty image is sent");
    assert!(
        !buf.content()
            .iter()
            .any(|c| c.symbol() == "▀" || c.symbol() == "▄")
    );
}

/// The window start `castbook create --start auto` records for `clip`.
fn cli_auto_start(home: &std::path::Path, clip: &std::path::Path) -> f64 {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_castbook"))
        .arg("create")
        .arg(clip)
        .args(["--name", "auto-reference", "--start", "auto", "--json"])
        .arg("--library")
        .arg(home.join("cli-lib"))
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("cli-config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["start_s"].as_f64().unwrap()
}

fn analysed(app: &castbook::tui::app::App) -> bool {
    app.clip.analysis().is_some() && probed(app)
}

#[tokio::test]
async fn a_picks_the_window_as_start_auto_does_and_says_so() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip_with_black(clips, "fade.mp4", 10.0, (1.8, 3.2));
        },
        "clips/fade.mp4",
        false,
    );
    // Not from the Files pane.
    h.key(KeyCode::Char('a'));
    assert!(h.app.clip.want.is_none());
    assert!(h.app.status.clone().unwrap().text.contains("Clip pane"));
    h.key(KeyCode::Tab);
    // Asked before the clip is analysed: it waits, off the UI task, and says so.
    h.key(KeyCode::Char('a'));
    assert!(h.app.clip.want.is_some());
    assert!(
        h.app
            .status
            .clone()
            .unwrap()
            .text
            .contains("choosing the window")
    );
    h.pump_until(3 * LONG, "the auto window", |a| {
        a.clip.want.is_none() && analysed(a) && a.clip.start_s > 0.0
    })
    .await;
    let expected = cli_auto_start(&h.home(), &h.home().join("clips/fade.mp4"));
    assert_eq!(h.app.clip.start_s, expected);
    let status = h.app.status.clone().unwrap().text;
    assert!(
        status.contains(&format!(
            "auto window {expected:.2}–{:.2} s",
            expected + 4.0
        )),
        "{status}"
    );
}

#[tokio::test]
async fn esc_cancels_a_pending_auto_window() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip_with_black(clips, "fade.mp4", 10.0, (1.8, 3.2));
        },
        "clips/fade.mp4",
        false,
    );
    h.key(KeyCode::Tab);
    h.key(KeyCode::Char('a'));
    assert!(h.app.clip.want.is_some());
    h.key(KeyCode::Esc);
    assert!(h.app.clip.want.is_none());
    h.pump_until(LONG, "the analysis", analysed).await;
    assert_eq!(h.app.clip.start_s, 0.0, "the window stayed");
}

#[tokio::test]
async fn brackets_go_to_the_next_and_previous_shot_and_the_timeline_marks_the_cuts() {
    let mut h = Harness::with_start(
        |clips, _| {
            gen_clip_with_black(clips, "fade.mp4", 8.0, (1.8, 3.2));
        },
        "clips/fade.mp4",
        false,
    );
    h.pump_until(LONG, "the analysis", analysed).await;
    let first = h.app.clip.report().unwrap().analysis.clone().unwrap();
    let cuts = h.app.clip.analysis().unwrap().cuts().to_vec();
    assert!(!cuts.is_empty(), "the fade through black is a cut");
    let (a, b) = cuts[0].extent();
    assert!(a < 3.2 && b > 1.8, "{cuts:?}");
    // Not from the Files pane.
    h.key(KeyCode::Char(']'));
    assert_eq!(h.app.clip.start_s, 0.0);
    h.key(KeyCode::Tab);
    // The window 0-4 s holds the fade: the pane says so before anything is created, and
    // the timeline shows where it is.
    let screen = h.render(100, 30);
    assert!(screen.contains("scene cut"), "{screen}");
    let timeline = screen.lines().find(|l| l.contains("window ├")).unwrap();
    let bar = timeline
        .split('├')
        .nth(1)
        .unwrap()
        .split('┤')
        .next()
        .unwrap();
    assert!(bar.contains('┃'), "{timeline}");
    // ] goes to where each shot starts (after its cut's transition), then says there is
    // no later one; [ goes back the same way.
    let shot = |c: &castbook::pipeline::cuts::Cut| (c.extent().1 * 10.0).ceil() / 10.0;
    let starts: Vec<f64> = cuts.iter().map(shot).filter(|s| *s < 8.0).collect();
    for s in &starts {
        h.key(KeyCode::Char(']'));
        assert_eq!(h.app.clip.start_s, *s);
    }
    h.pump_until(LONG, "the probe", probed).await;
    // The same clip at another window: its analysis is reused, not decoded again.
    let now = h.app.clip.report().unwrap().analysis.clone().unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &now));
    // No cut in this window: no hint about one.
    assert!(!h.render(100, 30).contains("scene cut"));
    h.key(KeyCode::Char(']'));
    assert_eq!(h.app.clip.start_s, *starts.last().unwrap());
    assert!(h.app.status.clone().unwrap().text.contains("no later shot"));
    for s in starts.iter().rev().skip(1) {
        h.key(KeyCode::Char('['));
        assert_eq!(h.app.clip.start_s, *s);
    }
    h.key(KeyCode::Char('['));
    assert_eq!(h.app.clip.start_s, 0.0);
    // Shift-arrows move by 5 s.
    h.app.handle(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Right,
        crossterm::event::KeyModifiers::SHIFT,
    )));
    assert_eq!(h.app.clip.start_s, 5.0);
}

#[tokio::test]
async fn update_returns_the_work_a_key_asks_for_and_does_none_of_it() {
    use castbook::tui::effect::Effect;
    use crossterm::event::{KeyEvent, KeyModifiers};
    let mut h = Harness::new(|_, lib| {
        write_characters(lib, &[fake_character(1, "Hero", &[], "")]);
    });
    let dir = h.home().join("lib").join(fake_id(1));
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    h.app.focus = Focus::Library;
    assert!(h.app.update(key('d')).is_empty(), "a dialog is no work");
    let effects = h.app.update(key('D'));
    assert!(
        matches!(effects.as_slice(), [Effect::Remove { id }] if *id == fake_id(1)),
        "{effects:?}"
    );
    // Nothing on disk changed while the key was handled.
    assert!(dir.join("character.json").exists());
    h.app.run(effects);
    h.pump_until(LONG, "the removal", |a| a.library.characters.is_empty())
        .await;
    assert!(!dir.exists(), "moved to the trash by the executor");
    // Typing a search asks for a search, run elsewhere.
    let effects = h.app.update(key('/'));
    assert!(effects.is_empty());
    let effects = h.app.update(key('h'));
    assert!(
        effects.iter().all(|e| matches!(e, Effect::Search(_))),
        "{effects:?}"
    );
}
