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
