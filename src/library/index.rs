//! A derived index of the records, `<lib>/.index/records-v1.json`: for each character folder,
//! what `list` prints and what a create compares against (name, created date, tags,
//! signature), with the `stat` of the record it was read from. It only saves reading 10,000
//! records: every use checks each entry against its record's `stat` (inode, size, change and
//! modification times) and reads the records that differ, so an index that disagrees with the
//! folders is rebuilt, and a missing or broken one is simply made again. It is never the
//! source of truth and never decides a name check (that reads every record under the lock).
//! Not something to commit: add `.index/` to `.gitignore`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::library::record::RawJson;
use crate::library::store::{Corrupt, Library, RECORD_FILE, read_record};

const INDEX_DIR: &str = ".index";
const INDEX_FILE: &str = "records-v1.json";

/// Every readable record's summary (oldest first) and every record that could not be read
/// (or whose id is not its folder's).
#[derive(Debug, Clone, Default)]
pub struct Summaries {
    pub rows: Vec<Summary>,
    pub corrupt: Vec<Corrupt>,
}

/// What the index keeps of one readable record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The signature as compact JSON text.
    #[serde(default)]
    pub signature: Option<String>,
    /// The clip's path and size, and the keyframe paths (for the quick health check).
    pub clip_path: String,
    pub clip_size: u64,
    #[serde(default)]
    pub keyframes: Vec<String>,
}

/// The `stat` of a record file an entry was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StatKey([i64; 6]);

impl StatKey {
    fn of(m: &fs::Metadata) -> StatKey {
        StatKey([
            m.ino() as i64,
            m.size() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The folder's name.
    folder: String,
    key: StatKey,
    /// `None` when the record could not be read.
    summary: Option<Summary>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    entries: Vec<Entry>,
}

/// The record as the index reads it (a few fields; the rest skipped).
#[derive(Deserialize)]
struct RecordFields {
    id: String,
    name: String,
    created_at: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    signature: Option<RawJson>,
    clip: ClipFields,
    #[serde(default)]
    keyframes: Vec<String>,
}

#[derive(Deserialize)]
struct ClipFields {
    path: String,
    size_bytes: u64,
}

impl Library {
    fn index_path(&self) -> PathBuf {
        self.root().join(INDEX_DIR).join(INDEX_FILE)
    }

    /// Every readable record's summary (by folder), checked against the records' `stat`;
    /// the records that changed are read again and the index file rewritten.
    pub fn summaries(&self) -> crate::Result<Summaries> {
        self.summaries_with(true)
    }

    /// `summaries`; with `create` false an index file is only kept up to date, never made
    /// (a create that is refused leaves the library folder exactly as it was).
    pub(crate) fn summaries_with(&self, create: bool) -> crate::Result<Summaries> {
        let bytes = fs::read(self.index_path()).ok();
        let exists = bytes.is_some();
        let old: HashMap<String, Entry> = bytes
            .and_then(|b| serde_json::from_slice::<IndexFile>(&b).ok())
            .map(|f| {
                f.entries
                    .into_iter()
                    .map(|e| (e.folder.clone(), e))
                    .collect()
            })
            .unwrap_or_default();
        let folders = super::store::character_folders(self.root(), "reading the library")?;
        let mut changed = folders.len() != old.len();
        let mut entries = Vec::with_capacity(folders.len());
        let mut path = self.root().to_path_buf();
        for folder in folders {
            path.push(&folder);
            path.push(RECORD_FILE);
            let meta = fs::metadata(&path);
            let entry = match (meta, old.get(&folder)) {
                (Ok(m), Some(e)) if e.key == StatKey::of(&m) => e.clone(),
                (Ok(m), _) => {
                    changed = true;
                    Entry {
                        folder: folder.clone(),
                        key: StatKey::of(&m),
                        summary: read_summary(&path),
                    }
                }
                (Err(_), _) => {
                    changed = true;
                    path.pop();
                    path.pop();
                    continue;
                }
            };
            path.pop();
            path.pop();
            entries.push(entry);
        }
        if changed && (create || exists) {
            self.write_index(&entries);
        }
        let mut out = Summaries::default();
        for e in entries {
            match e.summary {
                Some(s) if s.id == e.folder => out.rows.push(s),
                other => {
                    let path = self.character_dir(&e.folder).join(RECORD_FILE);
                    let reason = match (other, read_record(&path)) {
                        (Some(s), _) => format!("its id {} does not match its folder", s.id),
                        (None, Err(reason)) => reason,
                        (None, Ok(_)) => "it changed while being read".to_string(),
                    };
                    out.corrupt.push(Corrupt { path, reason });
                }
            }
        }
        out.rows
            .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Replace the index file (atomically; a failure only means the next use reads more).
    fn write_index(&self, entries: &[Entry]) {
        let dir = self.root().join(INDEX_DIR);
        if fs::create_dir_all(&dir).is_err() {
            return;
        }
        // Written in `.work/` (the next run removes it if this one dies), then renamed.
        let tmp = self
            .work_root()
            .join(format!("index-{}.json", std::process::id()));
        let ok = File::create(&tmp)
            .and_then(|mut f| {
                let file = IndexFile {
                    entries: entries.to_vec(),
                };
                f.write_all(&serde_json::to_vec(&file).unwrap_or_default())
            })
            .and_then(|()| fs::rename(&tmp, self.index_path()));
        if ok.is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

fn read_summary(path: &std::path::Path) -> Option<Summary> {
    let bytes = fs::read(path).ok()?;
    let r: RecordFields = serde_json::from_slice(&bytes).ok()?;
    Some(Summary {
        id: r.id,
        name: r.name,
        created_at: r.created_at,
        tags: r.tags,
        signature: r.signature.map(|s| s.as_str().to_string()),
        clip_path: r.clip.path,
        clip_size: r.clip.size_bytes,
        keyframes: r.keyframes,
    })
}
