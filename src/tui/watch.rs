//! Watching the library folder, so changes made outside the app (another castbook, a restore
//! from the trash, a `git pull`) show within a second. Events are debounced: one
//! `Msg::LibraryChanged` once the folder has been quiet for a moment, or after at most
//! `MAX_WAIT` while changes keep coming.

use std::path::{Component, Path};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::tui::action::Msg;

/// Quiet time that ends a burst of changes.
const QUIET: Duration = Duration::from_millis(200);
/// A burst never delays the reload longer than this.
const MAX_WAIT: Duration = Duration::from_millis(700);

/// Whether a changed path can change the list: not the work, lock or trash folders (a
/// restore moves a folder out of the trash into the library, which shows as a change there).
fn relevant(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return true;
    };
    match rel.components().next() {
        Some(Component::Normal(first)) => {
            let first = first.to_string_lossy();
            !(first == ".work" || first == ".trash" || first.starts_with(".lock"))
        }
        _ => true,
    }
}

/// Start watching `root`; the watcher stops when the returned value is dropped. None when the
/// folder cannot be watched (the app then works as before, without live updates).
pub fn watch(root: &Path, tx: UnboundedSender<Msg>) -> Option<notify::RecommendedWatcher> {
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let root_owned = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && !ev.kind.is_access()
            && ev.paths.iter().any(|p| relevant(&root_owned, p))
        {
            let _ = etx.send(());
        }
    })
    .ok()?;
    // Recursive, so a record edited in place shows too; a folder with more subfolders than
    // the system lets one watch falls back to its own entries (new and removed characters).
    if watcher.watch(root, RecursiveMode::Recursive).is_err() {
        watcher.watch(root, RecursiveMode::NonRecursive).ok()?;
    }
    tokio::spawn(async move {
        while erx.recv().await.is_some() {
            let deadline = tokio::time::Instant::now() + MAX_WAIT;
            loop {
                let quiet = tokio::time::Instant::now() + QUIET;
                match tokio::time::timeout_at(quiet.min(deadline), erx.recv()).await {
                    Ok(Some(())) if tokio::time::Instant::now() < deadline => continue,
                    Ok(None) => return,
                    _ => break,
                }
            }
            if tx.send(Msg::LibraryChanged).is_err() {
                return;
            }
        }
    });
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_lock_and_trash_do_not_count() {
        let root = Path::new("/lib");
        assert!(relevant(root, Path::new("/lib/char_abc/character.json")));
        assert!(relevant(root, Path::new("/lib/char_abc")));
        assert!(!relevant(root, Path::new("/lib/.work/x/clip.mp4")));
        assert!(!relevant(root, Path::new("/lib/.trash/char_abc-1")));
        assert!(!relevant(root, Path::new("/lib/.lock")));
    }
}
