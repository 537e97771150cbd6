//! A derived index of the records in `<lib>/.index/`, never the source of truth and never
//! needed for correctness (a missing, broken or stale index only costs reading the records;
//! a name check under the lock reads every record whose `stat` is not exactly the one its
//! indexed name was read with: see `names.rs`). Not something to commit: add `.index/` to
//! `.gitignore`.
//!
//! - `records-v4.bin`: what `list` prints (name, created date, tags, the quick damage check)
//!   for each character folder, with the `stat` of the record, the clip and the keyframes'
//!   folder it was made from. `list` checks every entry against those `stat`s, reads again
//!   only what changed, and rewrites the file: an index that disagrees with the folders is
//!   made again.
//! - `names-v1.bin` and `looks-v1.bin`: each record's name and signature, for `create`'s
//!   name checks and look-alike warning and for `similar` (see `names.rs`).
//!
//! All are postcard after an 8-byte magic; an unreadable file is ignored and made again.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::library::at::{Dir, StatKey};
use crate::library::health::ProblemKind;
use crate::library::store::{Corrupt, Library, RECORD_FILE, read_record, safe_relative};

const INDEX_DIR: &str = ".index";
const RECORDS_FILE: &str = "records-v4.bin";
const RECORDS_MAGIC: &[u8; 8] = b"cbrecs04";
/// Index files of earlier versions, removed when this version writes its own.
const STALE_FILES: [&str; 3] = ["records-v2.bin", "records-v3.bin", "signatures-v2.bin"];
/// A record larger than this is not read whole (it is then invalid).
const MAX_RECORD_BYTES: u64 = 16 << 20;
/// Index files larger than this are not read (made again instead).
const MAX_INDEX_BYTES: u64 = 1 << 30;

/// Every readable record's summary (oldest first) and every record that could not be read
/// (or whose id is not its folder's).
#[derive(Debug, Clone, Default)]
pub struct Summaries {
    pub rows: Vec<Summary>,
    pub corrupt: Vec<Corrupt>,
}

/// What `list` shows of one readable record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub tags: Vec<String>,
    /// The quick check of its files (presence, and the clip's size): empty when healthy.
    pub damage: Vec<ProblemKind>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The folder's name.
    folder: String,
    record: StatKey,
    /// What the quick check watches: the clip as the record names it, and the folders
    /// holding its keyframes (a keyframe removed changes its folder's `stat`).
    clip_path: String,
    keyframe_dirs: Vec<String>,
    /// Their `stat`s, taken before the check was made (`None`: not there).
    clip: Option<StatKey>,
    keyframe_dir_keys: Vec<Option<StatKey>>,
    /// `None` when the record could not be read.
    summary: Option<Summary>,
}

#[derive(Debug, Default, Deserialize)]
struct RecordsFile {
    entries: Vec<Entry>,
}

/// `RecordsFile` as written (the same encoding).
#[derive(Serialize)]
struct RecordsRef<'a> {
    entries: &'a [Entry],
}

/// The record as the index reads it (a few fields; the rest skipped).
#[derive(Deserialize)]
struct RecordFields {
    id: String,
    name: String,
    created_at: String,
    #[serde(default)]
    tags: Vec<String>,
    clip: ClipFields,
    #[serde(default)]
    keyframes: Vec<String>,
}

#[derive(Deserialize)]
struct ClipFields {
    path: String,
    size_bytes: u64,
}

fn read_bounded(path: &Path, magic: &[u8; 8]) -> Option<Vec<u8>> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > MAX_INDEX_BYTES || len < magic.len() as u64 {
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // No further than the size measured (a file growing meanwhile is not followed).
    f.take(len).read_to_end(&mut bytes).ok()?;
    bytes.starts_with(magic).then_some(bytes)
}

impl Library {
    fn index_dir(&self) -> PathBuf {
        self.root().join(INDEX_DIR)
    }

    /// Whether the library has an index (`list` makes it).
    pub(super) fn index_exists(&self) -> bool {
        self.index_dir().is_dir()
    }

    /// An index file (bounded) if it starts with `magic`; its body is after the magic.
    pub(super) fn read_index_file(&self, file: &str, magic: &[u8; 8]) -> Option<Vec<u8>> {
        read_bounded(&self.index_dir().join(file), magic)
    }

    fn read_records_index(&self) -> Option<RecordsFile> {
        let bytes = read_bounded(&self.index_dir().join(RECORDS_FILE), RECORDS_MAGIC)?;
        postcard::from_bytes(&bytes[RECORDS_MAGIC.len()..]).ok()
    }

    /// Every readable record's summary (by folder), checked against the `stat` of each
    /// record, clip and keyframe folder; what changed is read again and the index rewritten.
    pub fn summaries(&self) -> crate::Result<Summaries> {
        self.summaries_with(true)
    }

    /// `summaries`; with `create` false an index file is only kept up to date, never made
    /// (a create that is refused leaves the library folder exactly as it was).
    pub(crate) fn summaries_with(&self, create: bool) -> crate::Result<Summaries> {
        let old = self.read_records_index();
        let exists = old.is_some();
        let mut old: Vec<Entry> = old.map(|f| f.entries).unwrap_or_default();
        if !old.is_sorted_by(|a, b| a.folder < b.folder) {
            old.sort_by(|a, b| a.folder.cmp(&b.folder));
            old.dedup_by(|a, b| a.folder == b.folder);
        }
        let folders = super::store::character_folders(self.root(), "reading the library")?;
        // Each folder's old entry (both lists are sorted by folder).
        let mut at = Vec::with_capacity(folders.len());
        let mut j = 0;
        for f in &folders {
            while j < old.len() && old[j].folder.as_str() < f.as_str() {
                j += 1;
            }
            at.push((j < old.len() && old[j].folder == *f).then_some(j));
        }
        let dir = Dir::open(self.root())
            .map_err(|e| crate::Error::io("reading the library", self.root(), &e))?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let chunk = folders.len().div_ceil(threads).max(1024);
        // Checked on up to 4 threads; unchanged entries are then moved out of the old index.
        let check = |folders: &[String], at: &[Option<usize>]| -> Vec<Checked> {
            folders
                .iter()
                .zip(at)
                .map(|(f, i)| check_entry(&dir, f, i.map(|i| &old[i])))
                .collect()
        };
        let verdicts: Vec<Checked> = if folders.len() <= chunk {
            check(&folders, &at)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = folders
                    .chunks(chunk)
                    .zip(at.chunks(chunk))
                    .map(|(c, a)| s.spawn(move || check(c, a)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("index reader"))
                    .collect()
            })
        };
        let old_len = old.len();
        let mut old: Vec<Option<Entry>> = old.into_iter().map(Some).collect();
        let mut changed = false;
        let mut entries = Vec::with_capacity(folders.len());
        for (i, v) in at.iter().zip(verdicts) {
            match v {
                Checked::Same => entries.extend(i.and_then(|i| old[i].take())),
                Checked::New(e) => {
                    changed = true;
                    entries.push(*e);
                }
                Checked::Gone => changed = true,
            }
        }
        changed |= entries.len() != old_len;
        if changed && (create || exists) {
            self.write_index(
                RECORDS_FILE,
                RECORDS_MAGIC,
                &RecordsRef { entries: &entries },
            );
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

    /// Replace an index file (atomically; a failure only means the next use reads more).
    pub(super) fn write_index<T: Serialize>(&self, file: &str, magic: &[u8; 8], value: &T) {
        if let Ok(body) = postcard::to_allocvec(value) {
            self.write_index_bytes(file, magic, &body);
        }
    }

    /// Replace an index file with `magic` and `body` (atomically; a failure only means the
    /// next use reads more).
    pub(super) fn write_index_bytes(&self, file: &str, magic: &[u8; 8], body: &[u8]) {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = self.index_dir();
        if fs::create_dir_all(&dir).is_err() {
            return;
        }
        // Written in `.work/` (the next run removes it if this one dies), then renamed.
        let tmp = self.work_root().join(format!(
            "index-{}-{}-{file}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let ok = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(magic)?;
                f.write_all(body)
            })
            .and_then(|()| fs::rename(&tmp, dir.join(file)));
        if ok.is_err() {
            let _ = fs::remove_file(&tmp);
            return;
        }
        if file == RECORDS_FILE {
            for stale in STALE_FILES {
                let _ = fs::remove_file(dir.join(stale));
            }
        }
    }
}

enum Checked {
    /// The old entry holds.
    Same,
    New(Box<Entry>),
    Gone,
}

/// One folder's entry: the old one when nothing it was made from changed; otherwise the
/// record is read again (also when only its clip or keyframes changed: that is rare).
fn check_entry(dir: &Dir, folder: &str, old: Option<&Entry>) -> Checked {
    let Some(record) = dir.stat_in(folder, RECORD_FILE) else {
        return Checked::Gone;
    };
    if let Some(e) = old.filter(|e| e.record == record) {
        if e.summary.is_none() {
            return Checked::Same;
        }
        let (clip, keyframe_dir_keys) = file_keys(dir, folder, &e.clip_path, &e.keyframe_dirs);
        if clip == e.clip && keyframe_dir_keys == e.keyframe_dir_keys {
            return Checked::Same;
        }
    }
    let Some(r) = read_fields(dir, &format!("{folder}/{RECORD_FILE}")) else {
        return Checked::New(Box::new(Entry {
            folder: folder.to_string(),
            record,
            clip_path: String::new(),
            keyframe_dirs: Vec::new(),
            clip: None,
            keyframe_dir_keys: Vec::new(),
            summary: None,
        }));
    };
    let mut keyframe_dirs: Vec<String> = Vec::new();
    for k in &r.keyframes {
        let parent = k.rsplit_once('/').map_or("", |(p, _)| p);
        if !keyframe_dirs.iter().any(|d| d == parent) {
            keyframe_dirs.push(parent.to_string());
        }
    }
    // The `stat`s first: a file changed while the check runs is checked again next time.
    let (clip, keyframe_dir_keys) = file_keys(dir, folder, &r.clip.path, &keyframe_dirs);
    let damage = quick_damage(dir, folder, &r.clip.path, r.clip.size_bytes, &r.keyframes);
    Checked::New(Box::new(Entry {
        folder: folder.to_string(),
        record,
        clip_path: r.clip.path,
        keyframe_dirs,
        clip,
        keyframe_dir_keys,
        summary: Some(Summary {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            tags: r.tags,
            damage,
        }),
    }))
}

/// The `stat` of the clip (when its path stays in the folder) and of each keyframe folder.
fn file_keys(
    dir: &Dir,
    folder: &str,
    clip_path: &str,
    keyframe_dirs: &[String],
) -> (Option<StatKey>, Vec<Option<StatKey>>) {
    let clip = safe_relative(clip_path).and_then(|_| dir.stat_in(folder, clip_path));
    let dirs = keyframe_dirs
        .iter()
        .map(|p| dir.stat_in(folder, p))
        .collect();
    (clip, dirs)
}

/// The quick check (presence, and the clip's size): the kinds of damage found.
fn quick_damage(
    dir: &Dir,
    folder: &str,
    clip_path: &str,
    clip_size: u64,
    keyframes: &[String],
) -> Vec<ProblemKind> {
    let mut out = Vec::new();
    match safe_relative(clip_path).map(|_| dir.stat_in(folder, clip_path)) {
        None => out.push(ProblemKind::ChangedClip),
        Some(None) => out.push(ProblemKind::MissingClip),
        Some(Some(k)) if !k.is_file() || k.size != clip_size => out.push(ProblemKind::ChangedClip),
        Some(Some(_)) => {}
    }
    for k in keyframes {
        match safe_relative(k) {
            None => out.push(ProblemKind::ChangedKeyframe),
            Some(_) if !dir.stat_in(folder, k).is_some_and(|s| s.is_file()) => {
                out.push(ProblemKind::MissingKeyframe)
            }
            Some(_) => {}
        }
    }
    out.dedup();
    out
}

fn read_fields(dir: &Dir, rel: &str) -> Option<RecordFields> {
    let mut f = dir.open_file(rel).ok()?;
    let mut bytes = Vec::with_capacity(4096);
    // A record is small; a huge one is read whole only up to a bound (it is then invalid).
    (&mut f)
        .take(MAX_RECORD_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
