//! The files pane's state: the folder being browsed and its entries (parent, folders,
//! videos, other files), with the selection.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "webm", "mkv", "avi"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    Parent,
    Dir,
    Video,
    Other,
}

#[derive(Debug, Clone)]
pub struct FileEntry {
    /// The file name as the file system gives it (shown escaped).
    pub name: String,
    pub path: PathBuf,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

pub fn is_video(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[derive(Debug, Default)]
pub struct FilesPane {
    pub dir: PathBuf,
    pub entries: Vec<FileEntry>,
    pub selected: usize,
    pub offset: usize,
    pub error: Option<String>,
    /// Show every file, not only folders and videos.
    pub show_all: bool,
    /// Videos of this folder marked for a batch create.
    pub marked: BTreeSet<PathBuf>,
}

impl FilesPane {
    /// Open `dir`; when `select` names one of its files, select it.
    pub fn open(&mut self, dir: &Path, select: Option<&Path>) {
        if self.dir != dir {
            self.marked.clear();
        }
        self.dir = dir.to_path_buf();
        self.selected = 0;
        self.offset = 0;
        self.error = None;
        self.entries = match read_entries(dir, self.show_all) {
            Ok(e) => e,
            Err(e) => {
                self.error = Some(format!(
                    "cannot read {}: {e}",
                    crate::util::escape_display(&dir.display().to_string())
                ));
                Vec::new()
            }
        };
        if let Some(sel) = select
            && let Some(i) = self.entries.iter().position(|e| e.path == sel)
        {
            self.selected = i;
        }
    }

    /// Show every file, or only folders and videos again (keeping the selection if it stays).
    pub fn toggle_all(&mut self) {
        self.show_all = !self.show_all;
        self.reload();
    }

    pub fn reload(&mut self) {
        let keep = self.current().map(|e| e.path.clone());
        let dir = self.dir.clone();
        self.open(&dir, keep.as_deref());
    }

    pub fn current(&self) -> Option<&FileEntry> {
        self.entries.get(self.selected)
    }

    /// Mark the video under the cursor, or unmark it; false when it is not a video.
    pub fn toggle_mark(&mut self) -> bool {
        let Some(e) = self.current().filter(|e| e.kind == EntryKind::Video) else {
            return false;
        };
        let path = e.path.clone();
        if !self.marked.remove(&path) {
            self.marked.insert(path);
        }
        true
    }

    /// Mark every video of the folder.
    pub fn mark_all(&mut self) {
        let videos: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Video)
            .map(|e| e.path.clone())
            .collect();
        self.marked.extend(videos);
    }

    /// The marked videos still listed, in list order.
    pub fn marked_videos(&self) -> Vec<PathBuf> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Video && self.marked.contains(&e.path))
            .map(|e| e.path.clone())
            .collect()
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.entries.is_empty() {
            return;
        }
        let last = self.entries.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }
}

fn read_entries(dir: &Path, all: bool) -> std::io::Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    if let Some(parent) = dir.parent() {
        out.push(FileEntry {
            name: "..".into(),
            path: parent.to_path_buf(),
            kind: EntryKind::Parent,
            size: 0,
            modified: None,
        });
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks for the kind and size.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let kind = if meta.is_dir() {
            EntryKind::Dir
        } else if is_video(&path) {
            EntryKind::Video
        } else if all {
            EntryKind::Other
        } else {
            continue;
        };
        out.push(FileEntry {
            name,
            path,
            kind,
            size: if meta.is_dir() { 0 } else { meta.len() },
            modified: meta.modified().ok(),
        });
    }
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// How long ago, in a few characters: `now`, `5 m`, `3 h`, `2 d`, `1 w`, `4 mo`, `2 y`.
pub fn age(modified: Option<SystemTime>, now: SystemTime) -> String {
    let Some(m) = modified else {
        return String::new();
    };
    let s = now.duration_since(m).map(|d| d.as_secs()).unwrap_or(0);
    match s {
        0..60 => "now".into(),
        60..3600 => format!("{} m", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        86_400..604_800 => format!("{} d", s / 86_400),
        604_800..2_592_000 => format!("{} w", s / 604_800),
        2_592_000..31_536_000 => format!("{} mo", s / 2_592_000),
        _ => format!("{} y", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn folders_then_videos_then_others_hidden_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.txt", "a.MOV", "z.mp4", ".hidden.mp4"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("takes")).unwrap();
        let mut p = FilesPane::default();
        p.open(dir.path(), Some(&dir.path().join("z.mp4")));
        let names: Vec<_> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["..", "takes", "a.MOV", "z.mp4"],
            "folders and videos only"
        );
        assert_eq!(p.current().unwrap().name, "z.mp4");
        assert_eq!(p.entries[2].kind, EntryKind::Video);
        p.toggle_all();
        let names: Vec<_> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["..", "takes", "a.MOV", "z.mp4", "b.txt"]);
        assert_eq!(p.current().unwrap().name, "z.mp4", "the selection stays");
    }

    #[test]
    fn ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000_000);
        let ago = |s| Some(now - Duration::from_secs(s));
        assert_eq!(age(ago(5), now), "now");
        assert_eq!(age(ago(3 * 86_400), now), "3 d");
        assert_eq!(age(ago(8 * 86_400), now), "1 w");
        assert_eq!(age(None, now), "");
    }
}
