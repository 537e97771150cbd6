//! The library on disk (SPEC section 3): `<lib>/<id>/{character.json, clip.mp4,
//! keyframes/NN.jpg}`, jobs built in `<lib>/.work/`, removals in `<lib>/.trash/`, and
//! `<lib>/.lock`, held only around a commit, an edit or a removal.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::library::health::{Depth, Problem, check_files, is_damage};
use crate::library::name::{is_id, name_key};
pub use crate::library::names::NameSnapshot;
use crate::library::record::{Character, SCHEMA};

pub const RECORD_FILE: &str = "character.json";
const WORK_DIR: &str = ".work";
const TRASH_DIR: &str = ".trash";
const LOCK_FILE: &str = ".lock";
/// Temporary records of edits in `.work/`: `edit-<pid>-<id>.json`.
const EDIT_TMP_PREFIX: &str = "edit-";
/// Temporary records older castbooks wrote beside the record: `.character.json.tmp-<pid>`.
pub(crate) const LEGACY_TMP_PREFIX: &str = ".character.json.tmp-";

/// A library folder.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
}

/// A record that could not be read: reported and skipped, never deleted or rewritten.
#[derive(Debug, Clone)]
pub struct Corrupt {
    pub path: PathBuf,
    pub reason: String,
}

/// Every readable character (oldest first), every record that could not be read, and the
/// characters whose files are damaged.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub characters: Vec<Character>,
    pub corrupt: Vec<Corrupt>,
    /// What is wrong with a character's files, by ID (only damaged characters are here): a
    /// quick check, the presence of the clip and keyframes and the clip's size. `doctor`
    /// checks every byte.
    pub damaged: std::collections::HashMap<String, Vec<Problem>>,
}

impl Listing {
    /// The problems of a character's files, when it is damaged.
    pub fn damage(&self, id: &str) -> Option<&[Problem]> {
        self.damaged.get(id).map(Vec::as_slice)
    }
}

/// How a commit ended.
#[derive(Debug, Clone)]
pub enum Committed {
    /// The character is new.
    New(Character),
    /// A character with that ID was already there (same source, start and first name).
    Existing(Character),
}

impl Committed {
    pub fn character(&self) -> &Character {
        match self {
            Committed::New(c) | Committed::Existing(c) => c,
        }
    }
    pub fn into_character(self) -> Character {
        match self {
            Committed::New(c) | Committed::Existing(c) => c,
        }
    }
}

impl Library {
    /// Open (creating if needed) the library at `root`, and clean leftovers of dead jobs.
    pub fn open(root: impl Into<PathBuf>) -> Result<Library> {
        let root: PathBuf = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("resolving", &root, &e))?
                .join(root)
        };
        if root.exists() && !root.is_dir() {
            return Err(Error::input(
                "library_not_a_directory",
                format!(
                    "the library path {} is a file, not a folder: pass a folder with --library",
                    root.display()
                ),
            ));
        }
        for dir in [root.clone(), root.join(WORK_DIR), root.join(TRASH_DIR)] {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io("creating the library folder", &dir, &e))?;
        }
        let lib = Library { root };
        lib.clean_work();
        if let Ok(Some(_lock)) = lib.try_lock() {
            lib.clean_edit_temps();
        }
        Ok(lib)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn work_root(&self) -> PathBuf {
        self.root.join(WORK_DIR)
    }

    pub fn trash_root(&self) -> PathBuf {
        self.root.join(TRASH_DIR)
    }

    /// The folder of a character.
    pub fn character_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Remove `.work/` job folders whose job is no longer running (its lock file is free).
    fn clean_work(&self) {
        let Ok(entries) = fs::read_dir(self.work_root()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // Lock files are handled below; edit temporaries only under the library lock.
            if name.ends_with(".lock") || is_edit_temp(&name) {
                continue;
            }
            let lock = self.work_root().join(format!("{name}.lock"));
            let stale = match File::options().read(true).write(true).open(&lock) {
                Ok(f) => f.try_lock().is_ok(),
                Err(_) => true,
            };
            if stale {
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                let _ = fs::remove_file(&lock);
            }
        }
        // Lock files whose job folder is gone and which nobody holds.
        if let Ok(entries) = fs::read_dir(self.work_root()) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(job) = name.strip_suffix(".lock")
                    && !self.work_root().join(job).exists()
                    && let Ok(f) = File::options().read(true).write(true).open(&path)
                    && f.try_lock().is_ok()
                {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }

    /// A fresh folder under `.work/` for one job; removed when dropped unless committed.
    pub fn new_work_dir(&self) -> Result<WorkDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!(
            "job-{}-{}-{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let lock_path = self.work_root().join(format!("{name}.lock"));
        let lock = File::create(&lock_path).map_err(|e| Error::io("creating", &lock_path, &e))?;
        lock.lock()
            .map_err(|e| Error::io("locking", &lock_path, &e))?;
        let path = self.work_root().join(&name);
        if let Err(e) = fs::create_dir(&path) {
            let _ = fs::remove_file(&lock_path);
            return Err(Error::io("creating", &path, &e));
        }
        Ok(WorkDir {
            path,
            lock_path,
            _lock: lock,
            keep: false,
        })
    }

    /// Take the library lock (blocking) for the duration of the returned guard.
    pub(crate) fn lock(&self) -> Result<File> {
        let path = self.root.join(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, &e))?;
        f.lock().map_err(|e| Error::io("locking", &path, &e))?;
        Ok(f)
    }

    /// The library lock if no other process holds it now.
    pub(crate) fn try_lock(&self) -> Result<Option<File>> {
        let path = self.root.join(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, &e))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(Error::io("locking", &path, &e)),
        }
    }

    /// Remove the temporary records of edits that died before renaming them into place.
    /// Only under the library lock: a live edit holds it from writing to renaming.
    pub(crate) fn clean_edit_temps(&self) {
        for path in self.edit_temps() {
            let _ = fs::remove_file(path);
        }
    }

    /// The temporary records in `.work/` (live ones only while an edit holds the lock).
    pub(crate) fn edit_temps(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.work_root()) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(is_edit_temp))
            .map(|e| e.path())
            .collect();
        out.sort();
        out
    }

    /// Every character, oldest first, and every corrupt record.
    pub fn list(&self) -> Result<Listing> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| Error::io("reading the library", &self.root, &e))?;
        let mut listing = Listing::default();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_id(name) {
                continue;
            }
            let path = entry.path().join(RECORD_FILE);
            match read_record(&path) {
                Ok(c) if c.id == name => listing.characters.push(c),
                Ok(c) => listing.corrupt.push(Corrupt {
                    path,
                    reason: format!("its id {} does not match its folder", c.id),
                }),
                Err(reason) => listing.corrupt.push(Corrupt { path, reason }),
            }
        }
        listing
            .characters
            .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        for c in &listing.characters {
            let problems = self.damage(c);
            if !problems.is_empty() {
                listing.damaged.insert(c.id.clone(), problems);
            }
        }
        Ok(listing)
    }

    /// What is wrong with a character's files (empty when nothing is): the quick check
    /// `list`, `show` and the app mark damaged characters with.
    pub fn damage(&self, c: &Character) -> Vec<Problem> {
        let mut p = check_files(self, c, Depth::Quick);
        p.retain(is_damage);
        p
    }

    /// The character with this ID, if present and readable.
    pub fn get(&self, id: &str) -> Result<Option<Character>> {
        if !is_id(id) {
            return Ok(None);
        }
        let path = self.character_dir(id).join(RECORD_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let corrupt = |reason: String| {
            Error::processing(
                "corrupt_record",
                format!(
                    "{} is damaged ({reason}): see `castbook doctor`, or `castbook remove {id}` to move it to the trash",
                    path.display()
                ),
            )
        };
        match read_record(&path) {
            Ok(c) if c.id == id => Ok(Some(c)),
            Ok(c) => Err(corrupt(format!(
                "its id {} does not match its folder",
                crate::util::escape_display(&c.id)
            ))),
            Err(reason) => Err(corrupt(reason)),
        }
    }

    /// An argument that equals an existing ID is that ID; otherwise a name, matched exactly.
    pub fn resolve(&self, arg: &str) -> Result<Character> {
        if let Some(c) = self.get(arg)? {
            return Ok(c);
        }
        let listing = self.list()?;
        let nfc = crate::library::name::name_key(arg);
        let exact: Vec<&Character> = listing
            .characters
            .iter()
            .filter(|c| c.name == arg.trim())
            .collect();
        if let [one] = exact.as_slice() {
            return Ok((*one).clone());
        }
        if let Some(c) = listing.characters.iter().find(|c| name_key(&c.name) == nfc) {
            return Ok(c.clone());
        }
        Err(Error::input(
            "not_found",
            format!(
                "no character with ID or name {arg:?} in {}: see `castbook list` or `castbook search`",
                self.root.display()
            ),
        ))
    }

    /// The name every record holds, with its folder's name; read on up to 4 threads, each
    /// record only as far as its `name` (a record is never trusted to be unchanged: this
    /// is the exact read a name check under the lock makes). Records without a readable
    /// name are skipped (`list` reports them).
    pub(crate) fn all_names(&self) -> Result<Vec<(String, String)>> {
        let ids = character_folders(&self.root, "reading the library")?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let chunk = ids.len().div_ceil(threads).max(256);
        let dir = crate::library::at::Dir::open(&self.root)
            .map_err(|e| Error::io("reading the library", &self.root, &e))?;
        let read_chunk = |ids: &[String]| -> Vec<(String, String)> {
            let mut buf = Vec::with_capacity(8192);
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let Ok(f) = dir.open_file(&format!("{id}/{RECORD_FILE}")) else {
                    continue;
                };
                if let Some(name) = read_name(f, &mut buf) {
                    out.push((id.clone(), name));
                }
            }
            out
        };
        if ids.len() <= chunk {
            return Ok(read_chunk(&ids));
        }
        Ok(std::thread::scope(|s| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|c| s.spawn(move || read_chunk(c)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("record reader"))
                .collect()
        }))
    }

    /// Make the character built in `work` appear in the library: under the lock, re-check the
    /// ID and the name, write the record, rename the folder in, fsync the library folder.
    pub fn commit(&self, work: WorkDir, record: &Character) -> Result<Committed> {
        self.commit_checked(work, record, None)
    }

    /// `commit` for a job that checked the name against `seen` when it began. The snapshot
    /// is not trusted: the name is checked again, exactly, under the lock (`seen` only
    /// spares reading the records whose `stat` proves the name it holds).
    pub fn commit_checked(
        &self,
        mut work: WorkDir,
        record: &Character,
        seen: Option<&NameSnapshot>,
    ) -> Result<Committed> {
        // The hashes `doctor` checks the files against, taken before the lock.
        let record = &with_file_hashes(&work.path, record)?;
        let _lock = self.lock()?;
        if let Some(existing) = self.get(&record.id)? {
            return Ok(Committed::Existing(existing));
        }
        self.check_name_free(&record.name, Some(&record.id), seen)?;
        let record_path = work.path.join(RECORD_FILE);
        write_json_synced(&record_path, record)?;
        sync_dir(&work.path);
        let dest = self.character_dir(&record.id);
        fs::rename(&work.path, &dest)
            .map_err(|e| Error::io("saving the character to", &dest, &e))?;
        work.keep = true;
        sync_dir(&self.root);
        Ok(Committed::New(record.clone()))
    }

    /// Change a character's record under the lock; the file is replaced atomically.
    pub fn update(
        &self,
        id: &str,
        edit: impl FnOnce(&mut Character) -> Result<()>,
    ) -> Result<Character> {
        let _lock = self.lock()?;
        self.clean_edit_temps();
        let mut record = self.get(id)?.ok_or_else(|| {
            Error::input(
                "not_found",
                format!("no character with ID {id}: it may have been removed"),
            )
        })?;
        let old_name = record.name.clone();
        edit(&mut record)?;
        record.schema = record.schema.max(SCHEMA);
        if name_key(&record.name) != name_key(&old_name) {
            self.check_name_free(&record.name, Some(id), None)?;
        }
        self.write_record(id, &record)?;
        Ok(record)
    }

    /// Replace a character's record atomically; the caller holds the lock. The new record is
    /// written in `.work/` (same filesystem), fsynced, then renamed over the old one: a crash
    /// leaves the old or the new record, and at worst a temporary file in `.work/` that the
    /// next run removes. Nothing is ever left in the character's folder.
    pub(crate) fn write_record(&self, id: &str, record: &Character) -> Result<()> {
        // An older record is written in the current schema (its fields read the same).
        let upgraded;
        let record = if record.schema < SCHEMA {
            let mut r = record.clone();
            r.schema = SCHEMA;
            upgraded = r;
            &upgraded
        } else {
            record
        };
        let dir = self.character_dir(id);
        remove_stray_temps(&dir);
        let tmp = self
            .work_root()
            .join(format!("{EDIT_TMP_PREFIX}{}-{id}.json", std::process::id()));
        let dest = dir.join(RECORD_FILE);
        let result = write_json_synced(&tmp, record)
            .and_then(|()| fs::rename(&tmp, &dest).map_err(|e| Error::io("replacing", &dest, &e)));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        sync_dir(&dir);
        sync_dir(&self.work_root());
        Ok(())
    }

    /// Move a character to `.trash/<id>-<UTC time>/`; returns where it went.
    pub fn remove(&self, id: &str) -> Result<PathBuf> {
        let _lock = self.lock()?;
        self.move_to_trash(id)
    }

    /// `remove` for a caller that holds the lock. Works whatever the record holds (even
    /// nothing readable): only the folder name matters.
    pub(crate) fn move_to_trash(&self, id: &str) -> Result<PathBuf> {
        let src = self.character_dir(id);
        if !is_id(id) || !src.is_dir() {
            return Err(Error::input(
                "not_found",
                format!("no character with ID {id}"),
            ));
        }
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        remove_stray_temps(&src);
        let mut dest = self.trash_root().join(format!("{id}-{stamp}"));
        let mut n = 1;
        while dest.exists() {
            n += 1;
            dest = self.trash_root().join(format!("{id}-{stamp}-{n}"));
        }
        fs::rename(&src, &dest).map_err(|e| Error::io("moving to the trash", &src, &e))?;
        sync_dir(&self.root);
        sync_dir(&self.trash_root());
        Ok(dest)
    }
}

/// The top-level `name` of a record, reading it only as far as needed: the first 8 KB
/// (castbook writes the name near the top), else the whole file.
pub(crate) fn read_name(f: File, buf: &mut Vec<u8>) -> Option<String> {
    use std::io::Read;
    buf.clear();
    // The name is near the top: one read is usually enough; a huge record is bounded.
    let mut f = f.take(16 << 20);
    (&mut f).take(8192).read_to_end(buf).ok()?;
    if let Some(name) = name_in(buf) {
        return Some(name);
    }
    f.read_to_end(buf).ok()?;
    name_in(buf)
}

/// The value of the top-level `name` key of the JSON object in `bytes`, if it is reached
/// (the rest need not be there or be valid).
pub(crate) fn name_in(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct FindName<'a>(&'a mut Option<String>);
    impl<'de> Visitor<'de> for FindName<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a character record")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "name" {
                    *self.0 = Some(map.next_value::<String>()?);
                    // Stop here: the caller ignores what follows.
                    return Err(serde::de::Error::custom("found"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = (&mut de).deserialize_map(FindName(&mut found));
    found
}

pub fn name_taken(name: &str, other_id: &str, other_name: &str) -> Error {
    Error::input(
        "name_taken",
        format!("the name {name:?} is taken by {other_id} ({other_name}): choose another name"),
    )
}

pub(crate) fn read_record(path: &Path) -> std::result::Result<Character, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice::<Character>(&bytes).map_err(|e| format!("invalid JSON: {e}"))
}

fn write_json_synced(path: &Path, record: &Character) -> Result<()> {
    let mut bytes =
        serde_json::to_vec_pretty(record).map_err(|e| Error::other("json", e.to_string()))?;
    bytes.push(b'\n');
    let mut f = File::create(path).map_err(|e| Error::io("writing", path, &e))?;
    f.write_all(&bytes)
        .map_err(|e| Error::io("writing", path, &e))?;
    f.sync_all().map_err(|e| Error::io("syncing", path, &e))?;
    Ok(())
}

/// `record` with the blake3 of its clip and keyframes in `dir`; an error when one is missing
/// (a character is never saved without its files).
fn with_file_hashes(dir: &Path, record: &Character) -> Result<Character> {
    let mut out = record.clone();
    let file = |rel: &str| -> Result<String> {
        let path = safe_relative(rel).map(|r| dir.join(r)).ok_or_else(|| {
            Error::other(
                "record_path",
                format!("the record names {rel:?}, a path outside its folder"),
            )
        })?;
        hash_file(&path).map_err(|e| Error::io("hashing", &path, &e))
    };
    let clip = file(&record.clip.path)?;
    let keyframes = record
        .keyframes
        .iter()
        .map(|k| file(k))
        .collect::<Result<Vec<_>>>()?;
    out.set_file_hashes(Some(clip), keyframes);
    Ok(out)
}

/// The blake3 (hex) of a file's bytes.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path)?)?;
    Ok(h.finalize().to_hex().to_string())
}

/// A path a record names (`clip.mp4`, `keyframes/01.jpg`) if it stays inside the character's
/// folder: relative, with plain components only.
pub(crate) fn safe_relative(rel: &str) -> Option<&Path> {
    let p = Path::new(rel);
    let plain = p
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (plain && p.components().next().is_some()).then_some(p)
}

/// Whether a `.work/` entry is an edit's temporary record.
pub(crate) fn is_edit_temp(name: &str) -> bool {
    name.starts_with(EDIT_TMP_PREFIX) && name.ends_with(".json")
}

/// Remove the temporary records older castbooks left in a character's folder when killed
/// mid-edit. Only under the library lock.
pub(crate) fn remove_stray_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(LEGACY_TMP_PREFIX))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The names of the character folders (`char_...`) in `dir`, sorted.
pub(crate) fn character_folders(dir: &Path, doing: &str) -> Result<Vec<String>> {
    let mut ids: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::io(doing, dir, &e))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .filter(|n| is_id(n))
                .map(String::from)
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A job's folder under `.work/`, locked while the job runs; removed on drop unless committed.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    keep: bool,
}

impl WorkDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
        let _ = fs::remove_file(&self.lock_path);
    }
}

#[cfg(test)]
mod tests {
    use super::name_in;

    #[test]
    fn the_top_level_name_is_found_wherever_it_is() {
        assert_eq!(
            name_in(br#"{"schema":1,"id":"char_x","name":"Wolf","signature":{"hist":[0.1,"#),
            Some("Wolf".into()),
            "the rest of a record need not be read"
        );
        assert_eq!(
            name_in(br#"{"source":{"name":"inner"},"tags":["a"],"name":"Outer"}"#),
            Some("Outer".into()),
            "a nested name is not the record's"
        );
        assert_eq!(
            name_in(br#"{"n\u0061me":"Esc","id":"x"}"#),
            Some("Esc".into())
        );
        assert_eq!(name_in(br#"{"id":"x","name":"Cut sho"#), None);
        assert_eq!(name_in(br#"{"id":"x"}"#), None);
        assert_eq!(name_in(b"not json"), None);
        assert_eq!(name_in(br#"{"name":7}"#), None);
        assert_eq!(name_in(br#"["name","Wolf"]"#), None);
    }
}
