//! The job API the CLI and the TUI share: events in stage order, and a dropped job leaves
//! nothing behind (ffmpeg killed, work folder removed).

mod common;

use std::time::{Duration, Instant};

use castbook::library::Library;
use castbook::pipeline::job::{self, CreateOptions, Input, JobEvent, Reporter, Stage};
use common::*;
use tokio_util::sync::CancellationToken;

fn work_entries(lib: &Library) -> usize {
    std::fs::read_dir(lib.work_root())
        .map(|rd| rd.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_come_in_stage_order() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path().join("lib")).unwrap();
    let clip = testsrc("1080p-6s.mp4", "1920x1080", 30, 6.0, true);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = CreateOptions {
        name: "order".into(),
        ..Default::default()
    };
    let created = job::create(
        lib.clone(),
        Input::File(clip),
        opts,
        Reporter::new(tx),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(!created.existed);
    let mut stages = Vec::new();
    let mut prepare_fractions = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let JobEvent::Progress(p) = ev {
            if stages.last() != Some(&p.stage) {
                stages.push(p.stage);
            }
            if p.stage == Stage::Prepare {
                prepare_fractions.push(p.fraction);
            }
        }
    }
    assert_eq!(
        stages,
        [
            Stage::Probe,
            Stage::Validate,
            Stage::Prepare,
            Stage::Keyframes,
            Stage::Signature,
            Stage::Save
        ],
        "{stages:?}"
    );
    assert_eq!(prepare_fractions.last(), Some(&1.0));
    assert!(
        prepare_fractions.windows(2).all(|w| w[0] <= w[1]),
        "{prepare_fractions:?}"
    );
    assert!(lib.get(&created.character.id).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_job_kills_ffmpeg_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path().join("lib")).unwrap();
    let clip = testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = CreateOptions {
        name: "dropped".into(),
        ..Default::default()
    };
    let task = tokio::spawn(job::create(
        lib.clone(),
        Input::File(clip),
        opts,
        Reporter::new(tx),
        CancellationToken::new(),
    ));
    // Wait for ffmpeg to be running: the work folder exists and prepare has reported.
    loop {
        match rx.recv().await {
            Some(JobEvent::Progress(p)) if p.stage == Stage::Prepare => break,
            Some(_) => {}
            None => panic!("the job ended before preparing"),
        }
    }
    assert!(work_entries(&lib) > 0);
    task.abort();
    let _ = task.await;
    let t0 = Instant::now();
    while work_entries(&lib) > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the work folder was never removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lib.list().unwrap().characters.is_empty());
    let ps = std::process::Command::new("pgrep")
        .args(["-f", lib.root().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        stdout(&ps).trim().is_empty(),
        "ffmpeg still running: {}",
        stdout(&ps)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_token_gives_a_cancelled_error() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path().join("lib")).unwrap();
    let clip = testsrc("4k-2s.mp4", "3840x2160", 30, 2.0, false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let opts = CreateOptions {
        name: "cancelled".into(),
        ..Default::default()
    };
    let task = tokio::spawn(job::create(
        lib.clone(),
        Input::File(clip),
        opts,
        Reporter::new(tx),
        cancel.clone(),
    ));
    loop {
        match rx.recv().await {
            Some(JobEvent::Progress(p)) if p.stage == Stage::Prepare => break,
            Some(_) => {}
            None => panic!("the job ended before preparing"),
        }
    }
    cancel.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(
        work_entries(&lib),
        0,
        "the job returns only after cleaning up"
    );
    assert!(lib.list().unwrap().characters.is_empty());
}
