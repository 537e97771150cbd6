//! Work `App::update` asks for and never does itself: reading and changing the library,
//! probing and analysing clips, decoding previews, searching, running jobs, exporting. One
//! `Executor` runs every effect off the UI task (tokio tasks, blocking work on the blocking
//! pool) and answers with a `Msg` on the app's channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::library::{Character, Library};
use crate::pipeline::analyze::Analysis;
use crate::pipeline::job::{self, Input};
use crate::pipeline::probe::ClipInfo;
use crate::tui::action::{LibraryDone, Msg};
use crate::tui::analysis::ClipAnalysis;
use crate::tui::jobs::JobKind;
use crate::tui::library::SearchRequest;
use crate::tui::preview;

/// A change to one record, run under the library's lock.
pub type Edit = Box<dyn FnOnce(&mut Character) -> crate::Result<()> + Send>;

/// One piece of work for the executor.
pub enum Effect {
    /// Read the library (`Msg::LibraryLoaded`); the first time, watch its folder too.
    LoadLibrary { watch: bool },
    /// Check a clip's rules after `delay` (`Msg::ProbeDone`).
    Probe {
        input: Input,
        start_s: f64,
        strict: bool,
        generation: u64,
        delay: Duration,
        /// The clip's analysis from an earlier probe (the same file, another window).
        known: Option<Arc<Analysis>>,
        cancel: CancellationToken,
    },
    /// Find the cuts, the auto window and the hints of a clip (`Msg::AnalysisDone`).
    Analyze {
        input: Input,
        info: Box<ClipInfo>,
        cancel: CancellationToken,
    },
    /// Decode the strip of a clip's window (`Msg::StripReady`).
    Strip {
        key: String,
        path: PathBuf,
        index: u32,
        size: (u32, u32),
        start_s: f64,
        len_s: f64,
        cancel: CancellationToken,
    },
    /// Load a character's keyframe (`Msg::PreviewReady`).
    CharPreview { key: String, path: PathBuf },
    /// Search the library (`Msg::SearchDone`).
    Search(SearchRequest),
    /// Change a record (`Msg::Library(Edited)`).
    Edit { id: String, edit: Edit },
    /// Move a character to the trash (`Msg::Library(Removed)`).
    Remove { id: String },
    /// Bring back `id` from the trash, or the trash's most recent (`Msg::Library(Restored)`).
    Restore { id: Option<String> },
    /// Write the characters to `path` (`Msg::Exported`).
    Export {
        path: PathBuf,
        characters: Vec<Character>,
        overwrite: bool,
    },
    /// Run a job to its end (`Msg::Job` events, then `Msg::JobDone` or `Msg::RegisterDone`).
    StartJob {
        id: u64,
        kind: JobKind,
        cancel: CancellationToken,
    },
    /// Hand text to a local clipboard tool (`Msg::Copied`).
    CopyLocal { text: String },
    /// Work out what to send a model for a character: keyframes may be made with ffmpeg,
    /// files uploaded to the hosting store (`Msg::UseDone`).
    UseFor {
        character: Box<Character>,
        model: &'static crate::usage::Model,
    },
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Effect::LoadLibrary { .. } => "LoadLibrary",
            Effect::Probe { .. } => "Probe",
            Effect::Analyze { .. } => "Analyze",
            Effect::Strip { .. } => "Strip",
            Effect::CharPreview { .. } => "CharPreview",
            Effect::Search(_) => "Search",
            Effect::Edit { .. } => "Edit",
            Effect::Remove { .. } => "Remove",
            Effect::Restore { .. } => "Restore",
            Effect::Export { .. } => "Export",
            Effect::StartJob { .. } => "StartJob",
            Effect::CopyLocal { .. } => "CopyLocal",
            Effect::UseFor { .. } => "UseFor",
        };
        f.write_str(name)
    }
}

/// Runs effects off the UI task; their results come back as messages on `tx`.
#[derive(Clone)]
pub struct Executor {
    lib: Library,
    tx: UnboundedSender<Msg>,
}

impl Executor {
    pub fn new(lib: Library, tx: UnboundedSender<Msg>) -> Executor {
        Executor { lib, tx }
    }

    /// A sender for messages to the app (signals, tests).
    pub fn sender(&self) -> UnboundedSender<Msg> {
        self.tx.clone()
    }

    pub fn run_all(&self, effects: Vec<Effect>) {
        for e in effects {
            self.run(e);
        }
    }

    /// Start `effect` on a task of its own; returns at once.
    pub fn run(&self, effect: Effect) {
        let (lib, tx) = (self.lib.clone(), self.tx.clone());
        match effect {
            Effect::LoadLibrary { watch } => {
                tokio::task::spawn_blocking(move || {
                    // The first time, start watching the folder first (so no change is
                    // missed), then read it.
                    if watch && let Some(w) = crate::tui::watch::watch(lib.root(), tx.clone()) {
                        let _ = tx.send(Msg::Watching(Box::new(w)));
                    }
                    let listing = lib.list();
                    let _ = tx.send(Msg::LibraryLoaded(Box::new(listing)));
                });
            }
            Effect::Probe {
                input,
                start_s,
                strict,
                generation,
                delay,
                known,
                cancel,
            } => {
                tokio::spawn(async move {
                    if !delay.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = cancel.cancelled() => return,
                        }
                    }
                    let report = match (input, known) {
                        (Input::File(path), Some(known)) => {
                            let token = cancel.clone();
                            tokio::task::spawn_blocking(move || {
                                job::probe_file_with(&path, start_s, strict, Some(known), &token)
                            })
                            .await
                            .unwrap_or_else(|e| {
                                Err(crate::Error::other(
                                    "internal",
                                    format!("the probe stopped unexpectedly: {e}"),
                                ))
                            })
                        }
                        (input, _) => {
                            job::probe_input(input, start_s, strict, cancel.clone()).await
                        }
                    };
                    if !cancel.is_cancelled() {
                        let _ = tx.send(Msg::ProbeDone {
                            generation,
                            report: Box::new(report),
                        });
                    }
                });
            }
            Effect::Analyze {
                input,
                info,
                cancel,
            } => {
                tokio::task::spawn_blocking(move || {
                    let result = ClipAnalysis::run(&info, &cancel);
                    if !cancel.is_cancelled() {
                        let _ = tx.send(Msg::AnalysisDone {
                            input,
                            result: Box::new(result),
                        });
                    }
                });
            }
            Effect::Strip {
                key,
                path,
                index,
                size,
                start_s,
                len_s,
                cancel,
            } => {
                tokio::task::spawn_blocking(move || {
                    let frames = preview::clip_strip(&path, index, size, start_s, len_s, &cancel);
                    if cancel.is_cancelled() {
                        return;
                    }
                    let main = preview::pick_main(&frames);
                    let _ = tx.send(Msg::StripReady { key, frames, main });
                });
            }
            Effect::CharPreview { key, path } => {
                tokio::task::spawn_blocking(move || {
                    let image = preview::load_image(&path);
                    let _ = tx.send(Msg::PreviewReady {
                        key,
                        image: image.map(Box::new),
                    });
                });
            }
            Effect::Search(req) => {
                tokio::task::spawn_blocking(move || {
                    let (generation, query, hits) = req.run();
                    let _ = tx.send(Msg::SearchDone {
                        generation,
                        query,
                        hits,
                    });
                });
            }
            Effect::Edit { id, edit } => {
                tokio::task::spawn_blocking(move || {
                    let result = lib.update(&id, edit);
                    let _ = tx.send(Msg::Library(LibraryDone::Edited(Box::new(result))));
                });
            }
            Effect::Remove { id } => {
                tokio::task::spawn_blocking(move || {
                    let result = lib.remove(&id);
                    let _ = tx.send(Msg::Library(LibraryDone::Removed {
                        id,
                        result: Box::new(result),
                    }));
                });
            }
            Effect::Restore { id } => {
                tokio::task::spawn_blocking(move || {
                    let target = match &id {
                        Some(id) => Ok(id.clone()),
                        None => lib.trash().and_then(|t| {
                            t.last().map(|e| e.id.clone()).ok_or_else(|| {
                                crate::Error::input(
                                    "not_found",
                                    "nothing to undo: the trash is empty",
                                )
                            })
                        }),
                    };
                    let result = target.and_then(|t| lib.restore(&t));
                    let _ = tx.send(Msg::Library(LibraryDone::Restored {
                        id,
                        result: Box::new(result),
                    }));
                });
            }
            Effect::Export {
                path,
                characters,
                overwrite,
            } => {
                tokio::task::spawn_blocking(move || {
                    let format = crate::library::export::Format::from_path(&path);
                    let result =
                        crate::library::export::write_file(&path, &characters, format, overwrite)
                            .map(|()| characters.len());
                    let _ = tx.send(Msg::Exported {
                        path,
                        result: Box::new(result),
                    });
                });
            }
            Effect::UseFor { character, model } => {
                tokio::spawn(async move {
                    let result = async {
                        let cfg = crate::config::Config::load()?;
                        let hosting = match model.takes {
                            crate::usage::Takes::RemoteId(_) => None,
                            _ => crate::hosting::Hosting::from_config(&cfg)?,
                        };
                        crate::usage::plan(&lib, &cfg, &character, model, hosting.as_ref()).await
                    }
                    .await;
                    let _ = tx.send(Msg::UseDone {
                        model: model.name,
                        result: Box::new(result),
                    });
                });
            }
            Effect::StartJob { id, kind, cancel } => {
                tokio::spawn(async move {
                    let (etx, mut erx) = unbounded_channel();
                    let forward = {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            while let Some(event) = erx.recv().await {
                                let _ = tx.send(Msg::Job { id, event });
                            }
                        })
                    };
                    // The job's end drops the event sender, so the forwarding task ends too.
                    let msg = crate::tui::app::run_job(id, lib, kind, etx, cancel).await;
                    let _ = forward.await;
                    let _ = tx.send(msg);
                });
            }
            Effect::CopyLocal { text } => {
                tokio::task::spawn_blocking(move || {
                    let local = crate::tui::clipboard::copy_local(&text);
                    let _ = tx.send(Msg::Copied { text, local });
                });
            }
        }
    }
}
