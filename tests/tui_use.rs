//! `U` in the library pane: what to send a model for the selected character, in a reader.

#[path = "tui_support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use castbook::tui::app::{Focus, PromptKind, ReaderKind};
use crossterm::event::KeyCode;
use support::*;

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn u_opens_what_to_send_a_model_and_refuses_unknown_models() {
    let mut h = Harness::new(|clips, lib| {
        let clip = gen_clip(clips, "hero.mp4", 1280, 720, 4.0);
        let out = Command::new(env!("CARGO_BIN_EXE_castbook"))
            .arg("--library")
            .arg(lib)
            .arg("create")
            .arg(&clip)
            .args(["--name", "Hero"])
            .env("CASTBOOK_CONFIG", lib.join("none.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let id = h.app.library.characters[0].id.clone();

    // In the files pane, U does nothing.
    h.app.focus = Focus::Files;
    h.key(KeyCode::Char('U'));
    assert!(h.app.prompt.is_none());

    h.app.focus = Focus::Library;
    h.key(KeyCode::Char('U'));
    let p = h.app.prompt.as_ref().expect("U asks for the model");
    assert_eq!(p.kind, PromptKind::Model(id.clone()));
    h.type_text("veo-9");
    let err = h.app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(
        err.contains("veo-3.1") && err.contains("runway-act-two"),
        "{err}"
    );
    // Enter on an unknown model keeps the prompt open and sends nothing.
    h.key(KeyCode::Enter);
    assert!(h.app.prompt.is_some() && h.app.reader.is_none());
    h.key(KeyCode::Esc);
    assert!(h.app.prompt.is_none());

    h.key(KeyCode::Char('U'));
    h.type_text("vidu");
    assert!(h.app.prompt.as_ref().unwrap().error.is_none());
    h.key(KeyCode::Enter);
    h.pump_until(LONG, "the plan", |a| a.reader.is_some()).await;
    let Some(ReaderKind::Text(title, lines)) = h.app.reader.as_ref().map(|r| r.kind.clone()) else {
        panic!("a text reader: {:?}", h.app.reader);
    };
    assert_eq!(title, "Hero for vidu");
    let text = lines.join("\n");
    assert!(text.contains("6 reference images"), "{text}");
    assert!(text.contains(&format!("{id}/keyframes/01.jpg")), "{text}");
    assert!(text.contains("json:   {\"images\""), "{text}");
    let screen = h.render(120, 40);
    assert!(screen.contains("Hero for vidu"), "{screen}");
    h.key(KeyCode::Esc);
    assert!(h.app.reader.is_none());
}
