//! Job progress on stderr: a bar when stderr is a terminal, nothing otherwise. Warnings are
//! always printed.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::pipeline::JobEvent;
use crate::util::escape_display;

/// Draw events until the channel closes.
pub async fn draw(mut rx: UnboundedReceiver<JobEvent>) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(1000);
        b.set_style(
            ProgressStyle::with_template("{prefix:>9} [{bar:30}] {percent:>3}% {elapsed:>3} {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        b
    });
    while let Some(ev) = rx.recv().await {
        match ev {
            JobEvent::Progress(p) => {
                if let Some(b) = &bar {
                    b.set_prefix(p.stage.label());
                    b.set_position((p.fraction * 1000.0) as u64);
                    b.set_message(p.message);
                }
            }
            JobEvent::Warning(w) => {
                let line = format!(
                    "{}: {}",
                    crate::cli::output::label(&w),
                    escape_display(&w.message)
                );
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// One progress display for a batch of jobs on a terminal stderr (nothing otherwise): a bar
/// over all the jobs' progress, how many are done, and the clips running now. Warnings are
/// printed with their clip.
pub struct BatchBar {
    bar: Option<ProgressBar>,
    state: std::sync::Mutex<BatchState>,
}

struct BatchState {
    fractions: Vec<f64>,
    running: std::collections::BTreeMap<usize, String>,
    done: usize,
}

impl BatchBar {
    pub fn new(total: usize) -> std::sync::Arc<BatchBar> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total as u64 * 1000);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>7} [{bar:30}] {percent:>3}% {elapsed:>3} {msg}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b.set_prefix(format!("0/{total}"));
            b
        });
        std::sync::Arc::new(BatchBar {
            bar,
            state: std::sync::Mutex::new(BatchState {
                fractions: vec![0.0; total],
                running: Default::default(),
                done: 0,
            }),
        })
    }

    fn redraw(&self, s: &BatchState) {
        if let Some(b) = &self.bar {
            let sum: f64 = s.fractions.iter().map(|f| f.clamp(0.0, 1.0)).sum();
            b.set_position((sum * 1000.0) as u64);
            b.set_prefix(format!("{}/{}", s.done, s.fractions.len()));
            let names: Vec<&str> = s.running.values().map(String::as_str).collect();
            b.set_message(names.join(", "));
        }
    }

    /// Follow job `index` (shown as `label`) until its channel closes.
    pub async fn follow(&self, index: usize, label: String, mut rx: UnboundedReceiver<JobEvent>) {
        {
            let mut s = self.state.lock().expect("batch state");
            s.running.insert(index, escape_display(&label));
            self.redraw(&s);
        }
        while let Some(ev) = rx.recv().await {
            match ev {
                JobEvent::Progress(p) => {
                    let mut s = self.state.lock().expect("batch state");
                    if let Some(f) = s.fractions.get_mut(index) {
                        *f = f64::from(p.fraction);
                    }
                    self.redraw(&s);
                }
                JobEvent::Warning(w) => {
                    let line = format!(
                        "{}: {}: {}",
                        escape_display(&label),
                        crate::cli::output::label(&w),
                        escape_display(&w.message)
                    );
                    match &self.bar {
                        Some(b) => b.println(line),
                        None => eprintln!("{line}"),
                    }
                }
            }
        }
        let mut s = self.state.lock().expect("batch state");
        if let Some(f) = s.fractions.get_mut(index) {
            *f = 1.0;
        }
        s.running.remove(&index);
        s.done += 1;
        self.redraw(&s);
    }

    /// Count a job that never ran (refused before it started, or cancelled).
    pub fn skip(&self, index: usize) {
        let mut s = self.state.lock().expect("batch state");
        if let Some(f) = s.fractions.get_mut(index) {
            *f = 1.0;
        }
        s.done += 1;
        self.redraw(&s);
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
