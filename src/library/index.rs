//! A derived index of the records in `<lib>/.index/`, never the source of truth and never
//! needed for correctness (a missing, broken or lying index only costs reading the records;
//! a name check under the lock always reads every record). Not something to commit: add
//! `.index/` to `.gitignore`.
//!
//! - `records-v2.bin`: what `list` prints (name, created date, tags, the quick damage check)
//!   for each character folder, with the `stat` of the record, the clip and the keyframes'
//!   folder it was made from. `list` checks every entry against those `stat`s, reads again
//!   only what changed, and rewrites the file: an index that disagrees with the folders is
//!   made again.
//! - `signatures-v2.bin`: each record's signature, already parsed, for the look-alike warning
//!   of `create` and for `similar`. Tied to the record's `stat` that `records-v2.bin` holds.
//!
//! Both are postcard after an 8-byte magic; an unreadable file is ignored and made again.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::library::at::{Dir, StatKey};
use crate::library::health::ProblemKind;
use crate::library::record::RawJson;
use crate::library::store::{Corrupt, Library, RECORD_FILE, read_record, safe_relative};
use crate::pipeline::signature::{self, Signature};

const INDEX_DIR: &str = ".index";
const RECORDS_FILE: &str = "records-v2.bin";
const SIGNATURES_FILE: &str = "signatures-v2.bin";
const RECORDS_MAGIC: &[u8; 8] = b"cbrecs02";
const SIGNATURES_MAGIC: &[u8; 8] = b"cbsigs02";
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

/// What the index keeps of one readable record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub tags: Vec<String>,
    /// The clip's path and size, and the keyframe paths (for the quick health check).
    pub clip_path: String,
    pub clip_size: u64,
    pub keyframes: Vec<String>,
    /// The quick check of its files (presence, and the clip's size): empty when healthy.
    pub damage: Vec<ProblemKind>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The folder's name.
    folder: String,
    record: StatKey,
    /// The clip's `stat` (`None`: not there), and each keyframe folder's.
    clip: Option<StatKey>,
    keyframe_dirs: Vec<Option<StatKey>>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SigEntry {
    folder: String,
    /// The record's `stat` when the signature was read from it.
    record: StatKey,
    /// The signature as compact JSON text, when this castbook cannot parse it.
    raw: Option<String>,
    /// The signature, postcard-encoded, when it is of this castbook's version.
    parsed: Option<Vec<u8>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SignaturesFile {
    version: u32,
    entries: Vec<SigEntry>,
}

/// A signature as the index encodes it: every field always present (postcard has no field
/// names, so the record's optional fields cannot be skipped here).
#[derive(Serialize, Deserialize)]
struct SigBin {
    version: u32,
    hist: Vec<f64>,
    dhash: Vec<String>,
    luma: f64,
    phash: Vec<String>,
    grad: Vec<f64>,
    hue: Vec<f64>,
}

impl From<&Signature> for SigBin {
    fn from(s: &Signature) -> SigBin {
        SigBin {
            version: s.version,
            hist: s.hist.clone(),
            dhash: s.dhash.clone(),
            luma: s.luma,
            phash: s.phash.clone(),
            grad: s.grad.clone(),
            hue: s.hue.clone(),
        }
    }
}

impl From<SigBin> for Signature {
    fn from(s: SigBin) -> Signature {
        Signature {
            version: s.version,
            hist: s.hist,
            dhash: s.dhash,
            luma: s.luma,
            phash: s.phash,
            grad: s.grad,
            hue: s.hue,
        }
    }
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

/// A character's ID, name and signature, as look-alike warnings and early name checks read
/// them.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: String,
    pub name: String,
    pub signature: Option<HeadSignature>,
}

/// A signature as the index holds it.
#[derive(Debug, Clone)]
pub enum HeadSignature {
    Parsed(Box<Signature>),
    /// A version this castbook cannot compare (kept as text).
    Raw(RawJson),
}

impl HeadSignature {
    fn of(raw: RawJson) -> HeadSignature {
        match raw.parse::<Signature>() {
            Ok(s) if s.version == signature::VERSION => HeadSignature::Parsed(Box::new(s)),
            _ => HeadSignature::Raw(raw),
        }
    }

    /// The signature, when it is one this castbook compares.
    pub fn parsed(&self) -> Option<Signature> {
        match self {
            HeadSignature::Parsed(s) => Some((**s).clone()),
            HeadSignature::Raw(raw) => raw.parse().ok(),
        }
    }

    pub fn as_parsed(&self) -> Option<&Signature> {
        match self {
            HeadSignature::Parsed(s) => Some(s),
            HeadSignature::Raw(_) => None,
        }
    }
}

fn read_bounded(path: &Path, magic: &[u8; 8]) -> Option<Vec<u8>> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > MAX_INDEX_BYTES || len < magic.len() as u64 {
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.read_to_end(&mut bytes).ok()?;
    bytes
        .starts_with(magic)
        .then(|| bytes.split_off(magic.len()))
}

impl Library {
    fn index_dir(&self) -> PathBuf {
        self.root().join(INDEX_DIR)
    }

    fn read_records_index(&self) -> Option<RecordsFile> {
        let bytes = read_bounded(&self.index_dir().join(RECORDS_FILE), RECORDS_MAGIC)?;
        postcard::from_bytes(&bytes).ok()
    }

    fn read_signatures_index(&self) -> Option<SignaturesFile> {
        let bytes = read_bounded(&self.index_dir().join(SIGNATURES_FILE), SIGNATURES_MAGIC)?;
        postcard::from_bytes::<SignaturesFile>(&bytes)
            .ok()
            .filter(|f| f.version == signature::VERSION)
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
        let old: HashMap<String, Entry> = old
            .map(|f| {
                f.entries
                    .into_iter()
                    .map(|e| (e.folder.clone(), e))
                    .collect()
            })
            .unwrap_or_default();
        let folders = super::store::character_folders(self.root(), "reading the library")?;
        let dir = Dir::open(self.root())
            .map_err(|e| crate::Error::io("reading the library", self.root(), &e))?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let chunk = folders.len().div_ceil(threads).max(1024);
        // Checked on up to 4 threads; unchanged entries are then moved out of the old index.
        let check = |folders: &[String]| -> Vec<Checked> {
            folders
                .iter()
                .map(|f| check_entry(&dir, f, old.get(f)))
                .collect()
        };
        let verdicts: Vec<Checked> = if folders.len() <= chunk {
            check(&folders)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = folders
                    .chunks(chunk)
                    .map(|c| s.spawn(move || check(c)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("index reader"))
                    .collect()
            })
        };
        let old_len = old.len();
        let mut old = old;
        let mut changed = false;
        let mut entries = Vec::with_capacity(folders.len());
        for (folder, v) in folders.iter().zip(verdicts) {
            match v {
                Checked::Same => entries.extend(old.remove(folder)),
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

    /// Every character's ID, name and signature now, for an early name check and the
    /// look-alike warning. From the index where it has the folder (no `stat`: these only
    /// advise, and `list` keeps the index fresh); records the index lacks are read.
    pub(crate) fn heads(&self) -> crate::Result<Vec<Head>> {
        let folders = super::store::character_folders(self.root(), "reading the library")?;
        let records: HashMap<String, Entry> = self
            .read_records_index()
            .map(|f| {
                f.entries
                    .into_iter()
                    .map(|e| (e.folder.clone(), e))
                    .collect()
            })
            .unwrap_or_default();
        let old_sigs = self.read_signatures_index();
        let exists = old_sigs.is_some();
        let mut sigs: HashMap<String, SigEntry> = old_sigs
            .map(|f| {
                f.entries
                    .into_iter()
                    .map(|e| (e.folder.clone(), e))
                    .collect()
            })
            .unwrap_or_default();
        let dir = Dir::open(self.root())
            .map_err(|e| crate::Error::io("reading the library", self.root(), &e))?;
        let mut heads = Vec::with_capacity(folders.len());
        let mut changed = sigs.len() != folders.len();
        for folder in &folders {
            let indexed = records.get(folder).and_then(|e| {
                let s = e.summary.as_ref().filter(|s| &s.id == folder)?;
                let sig = sigs.get(folder).filter(|g| g.record == e.record)?;
                Some((s, sig))
            });
            if let Some((s, sig)) = indexed {
                let signature = match (&sig.parsed, &sig.raw) {
                    (Some(bytes), _) => postcard::from_bytes::<SigBin>(bytes)
                        .ok()
                        .map(|s| HeadSignature::Parsed(Box::new(s.into()))),
                    (None, Some(raw)) => {
                        Some(HeadSignature::Raw(RawJson::from_compact(raw.clone())))
                    }
                    (None, None) => None,
                };
                heads.push(Head {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    signature,
                });
                continue;
            }
            let rel = format!("{folder}/{RECORD_FILE}");
            let Some(key) = dir.stat(&rel) else { continue };
            let Some(r) = read_fields(&dir, &rel) else {
                continue;
            };
            let signature = r.signature.map(HeadSignature::of);
            let entry = SigEntry {
                folder: folder.clone(),
                record: key,
                raw: match &signature {
                    Some(HeadSignature::Raw(raw)) => Some(raw.as_str().to_string()),
                    _ => None,
                },
                parsed: match &signature {
                    Some(HeadSignature::Parsed(s)) => {
                        postcard::to_allocvec(&SigBin::from(s.as_ref())).ok()
                    }
                    _ => None,
                },
            };
            // Kept only when the records index agrees on the record it came from.
            if records.get(folder).is_some_and(|e| e.record == key) {
                sigs.insert(folder.clone(), entry);
                changed = true;
            }
            heads.push(Head {
                id: r.id,
                name: r.name,
                signature,
            });
        }
        if changed && (exists || !records.is_empty()) {
            let keep: std::collections::HashSet<&String> = folders.iter().collect();
            let entries: Vec<SigEntry> = sigs
                .into_values()
                .filter(|e| keep.contains(&e.folder))
                .collect();
            self.write_index(
                SIGNATURES_FILE,
                SIGNATURES_MAGIC,
                &SignaturesFile {
                    version: signature::VERSION,
                    entries,
                },
            );
        }
        Ok(heads)
    }

    /// Replace an index file (atomically; a failure only means the next use reads more).
    fn write_index<T: Serialize>(&self, file: &str, magic: &[u8; 8], value: &T) {
        let dir = self.index_dir();
        if fs::create_dir_all(&dir).is_err() {
            return;
        }
        let Ok(body) = postcard::to_allocvec(value) else {
            return;
        };
        // Written in `.work/` (the next run removes it if this one dies), then renamed.
        let tmp = self
            .work_root()
            .join(format!("index-{}-{file}", std::process::id()));
        let ok = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(magic)?;
                f.write_all(&body)
            })
            .and_then(|()| fs::rename(&tmp, dir.join(file)));
        if ok.is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

enum Checked {
    /// The old entry holds.
    Same,
    New(Box<Entry>),
    Gone,
}

/// One folder's entry: the old one when nothing it was made from changed.
fn check_entry(dir: &Dir, folder: &str, old: Option<&Entry>) -> Checked {
    let Some(record) = dir.stat_in(folder, RECORD_FILE) else {
        return Checked::Gone;
    };
    if let Some(e) = old.filter(|e| e.record == record) {
        let Some(s) = &e.summary else {
            return Checked::Same;
        };
        let (clip, keyframe_dirs) = file_keys(dir, folder, s);
        if clip == e.clip && keyframe_dirs == e.keyframe_dirs {
            return Checked::Same;
        }
        let mut s = s.clone();
        s.damage = quick_damage(dir, folder, &s);
        return Checked::New(Box::new(Entry {
            folder: folder.to_string(),
            record,
            clip,
            keyframe_dirs,
            summary: Some(s),
        }));
    }
    let summary = read_fields(dir, &format!("{folder}/{RECORD_FILE}")).map(|r| {
        let mut s = Summary {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            tags: r.tags,
            clip_path: r.clip.path,
            clip_size: r.clip.size_bytes,
            keyframes: r.keyframes,
            damage: Vec::new(),
        };
        s.damage = quick_damage(dir, folder, &s);
        s
    });
    let (clip, keyframe_dirs) = match &summary {
        Some(s) => file_keys(dir, folder, s),
        None => (None, Vec::new()),
    };
    Checked::New(Box::new(Entry {
        folder: folder.to_string(),
        record,
        clip,
        keyframe_dirs,
        summary,
    }))
}

/// The `stat` of the clip and of each folder holding keyframes (in the order first met).
fn file_keys(dir: &Dir, folder: &str, s: &Summary) -> (Option<StatKey>, Vec<Option<StatKey>>) {
    let clip =
        safe_relative(&s.clip_path).and_then(|_| dir.stat(&format!("{folder}/{}", s.clip_path)));
    let mut parents: Vec<&str> = Vec::new();
    for k in &s.keyframes {
        let parent = k.rsplit_once('/').map_or("", |(p, _)| p);
        if !parents.contains(&parent) {
            parents.push(parent);
        }
    }
    let dirs = parents.iter().map(|p| dir.stat_in(folder, p)).collect();
    (clip, dirs)
}

/// The quick check (presence, and the clip's size): the kinds of damage found.
fn quick_damage(dir: &Dir, folder: &str, s: &Summary) -> Vec<ProblemKind> {
    let mut out = Vec::new();
    match safe_relative(&s.clip_path).map(|_| dir.stat_in(folder, &s.clip_path)) {
        None => out.push(ProblemKind::ChangedClip),
        Some(None) => out.push(ProblemKind::MissingClip),
        Some(Some(k)) if !k.is_file() || k.size != s.clip_size => {
            out.push(ProblemKind::ChangedClip)
        }
        Some(Some(_)) => {}
    }
    for k in &s.keyframes {
        match safe_relative(k) {
            None => out.push(ProblemKind::ChangedKeyframe),
            Some(_)
                if !dir
                    .stat(&format!("{folder}/{k}"))
                    .is_some_and(|s| s.is_file()) =>
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_through_the_index_encoding() {
        let full = Signature {
            version: signature::VERSION,
            hist: vec![0.25; 64],
            dhash: vec!["00ff00ff00ff00ff".into(); 6],
            luma: 101.5,
            phash: vec!["0123456789abcdef".into(); 6],
            grad: vec![0.125; 32],
            hue: vec![0.0; 12],
        };
        // Empty fields too (the record's JSON leaves them out).
        let sparse = Signature {
            phash: Vec::new(),
            grad: Vec::new(),
            hue: Vec::new(),
            ..full.clone()
        };
        for s in [full, sparse] {
            let bytes = postcard::to_allocvec(&SigBin::from(&s)).unwrap();
            let back: Signature = postcard::from_bytes::<SigBin>(&bytes).unwrap().into();
            assert_eq!(back, s);
        }
    }
}
