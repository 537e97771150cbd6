//! The library on disk (SPEC section 3): `<lib>/<id>/{character.json, clip.mp4,
//! keyframes/NN.jpg}`, jobs built in `<lib>/.work/`, removals in `<lib>/.trash/`, and
//! `<lib>/.lock`, held only around a commit, an edit or a removal.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::library::name::{is_id, name_key};
use crate::library::record::{Character, RawJson};

pub const RECORD_FILE: &str = "character.json";
const WORK_DIR: &str = ".work";
const TRASH_DIR: &str = ".trash";
const LOCK_FILE: &str = ".lock";

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

/// Every readable character (oldest first) and every record that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub characters: Vec<Character>,
    pub corrupt: Vec<Corrupt>,
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

    /// Remove `.work/` entries whose job is no longer running (its lock file is free).
    fn clean_work(&self) {
        let Ok(entries) = fs::read_dir(self.work_root()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".lock") {
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
    fn lock(&self) -> Result<File> {
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
        Ok(listing)
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
        read_record(&path).map(Some).map_err(|reason| {
            Error::processing(
                "corrupt_record",
                format!(
                    "{} is corrupt ({reason}): fix or remove that folder",
                    path.display()
                ),
            )
        })
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

    /// Every readable record, each parsed only into `T` (a few fields): far cheaper than
    /// `list` on a large library. Corrupt records are skipped (`list` reports them).
    pub fn read_all<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| Error::io("reading the library", &self.root, &e))?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_str().is_some_and(is_id) {
                continue;
            }
            buf.clear();
            let Ok(mut f) = File::open(entry.path().join(RECORD_FILE)) else {
                continue;
            };
            if std::io::Read::read_to_end(&mut f, &mut buf).is_err() {
                continue;
            }
            if let Ok(v) = serde_json::from_slice::<T>(&buf) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Error when `name` is taken by a character other than `except_id`.
    pub fn check_name_free(&self, name: &str, except_id: Option<&str>) -> Result<()> {
        let key = name_key(name);
        for other in self.read_all::<NameHead>()? {
            if name_key(&other.name) == key && Some(other.id.as_str()) != except_id {
                return Err(name_taken(name, &other.id, &other.name));
            }
        }
        Ok(())
    }

    /// The characters' IDs and names now, to check a name against and to re-check it cheaply
    /// at commit time.
    pub fn names(&self) -> Result<NameSnapshot> {
        // A second of margin: records changed while this reads are read again at commit.
        let since = SystemTime::now() - std::time::Duration::from_secs(1);
        let heads = self.read_all::<RecordHead>()?;
        let by_id = heads
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.clone(), i))
            .collect();
        Ok(NameSnapshot {
            since,
            heads,
            by_id,
        })
    }

    /// Make the character built in `work` appear in the library: under the lock, re-check the
    /// ID and the name, write the record, rename the folder in, fsync the library folder.
    pub fn commit(&self, work: WorkDir, record: &Character) -> Result<Committed> {
        self.commit_checked(work, record, None)
    }

    /// `commit`, re-checking the name against `seen` (taken before the work began): only the
    /// records added or changed since are read again, not the whole library.
    pub fn commit_checked(
        &self,
        mut work: WorkDir,
        record: &Character,
        seen: Option<&NameSnapshot>,
    ) -> Result<Committed> {
        let _lock = self.lock()?;
        if let Some(existing) = self.get(&record.id)? {
            return Ok(Committed::Existing(existing));
        }
        match seen {
            Some(seen) => self.recheck_name(&record.name, seen)?,
            None => self.check_name_free(&record.name, None)?,
        }
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
        let mut record = self.get(id)?.ok_or_else(|| {
            Error::input(
                "not_found",
                format!("no character with ID {id}: it may have been removed"),
            )
        })?;
        let old_name = record.name.clone();
        edit(&mut record)?;
        if name_key(&record.name) != name_key(&old_name) {
            self.check_name_free(&record.name, Some(id))?;
        }
        let dir = self.character_dir(id);
        let tmp = dir.join(format!(".{RECORD_FILE}.tmp-{}", std::process::id()));
        let result = write_json_synced(&tmp, &record).and_then(|()| {
            fs::rename(&tmp, dir.join(RECORD_FILE))
                .map_err(|e| Error::io("replacing", &dir.join(RECORD_FILE), &e))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        sync_dir(&dir);
        Ok(record)
    }

    /// Move a character to `.trash/<id>-<UTC time>/`; returns where it went.
    pub fn remove(&self, id: &str) -> Result<PathBuf> {
        let _lock = self.lock()?;
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

/// The ID and name of a record: all a name check reads.
#[derive(Debug, Clone, serde::Deserialize)]
struct NameHead {
    id: String,
    name: String,
}

/// What name checks and look-alike warnings read of each record.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RecordHead {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub signature: Option<RawJson>,
}

/// IDs, names and signatures of the library at one moment.
#[derive(Debug, Clone)]
pub struct NameSnapshot {
    since: SystemTime,
    heads: Vec<RecordHead>,
    by_id: std::collections::HashMap<String, usize>,
}

impl NameSnapshot {
    /// Every readable record's ID, name and signature.
    pub fn heads(&self) -> &[RecordHead] {
        &self.heads
    }

    fn name_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|&i| self.heads[i].name.as_str())
    }

    /// The character holding `name` (NFC + lowercase compare), if any.
    pub fn owner(&self, name: &str) -> Option<(&str, &str)> {
        let key = name_key(name);
        self.heads
            .iter()
            .find(|h| name_key(&h.name) == key)
            .map(|h| (h.id.as_str(), h.name.as_str()))
    }

    /// Error when `name` is taken.
    pub fn check_free(&self, name: &str) -> Result<()> {
        match self.owner(name) {
            Some((id, other)) => Err(name_taken(name, id, other)),
            None => Ok(()),
        }
    }
}

impl Library {
    /// Check `name` against `seen` updated with every record added or changed since it was
    /// taken (a record's inode change time moves with any rewrite or rename onto it).
    fn recheck_name(&self, name: &str, seen: &NameSnapshot) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let key = name_key(name);
        let entries = fs::read_dir(&self.root)
            .map_err(|e| Error::io("reading the library", &self.root, &e))?;
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(id) = file_name.to_str().filter(|n| is_id(n)) else {
                continue;
            };
            let path = entry.path().join(RECORD_FILE);
            let changed = match (seen.name_of(id), fs::metadata(&path)) {
                (None, _) => true,
                (Some(_), Ok(m)) => {
                    let ctime = SystemTime::UNIX_EPOCH
                        + std::time::Duration::new(
                            m.ctime().max(0) as u64,
                            m.ctime_nsec().clamp(0, 999_999_999) as u32,
                        );
                    ctime >= seen.since
                }
                (Some(_), Err(_)) => false,
            };
            let current = if changed {
                match fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<NameHead>(&b).ok())
                {
                    Some(h) => Some((h.id, h.name)),
                    None => continue,
                }
            } else {
                seen.name_of(id).map(|n| (id.to_string(), n.to_string()))
            };
            if let Some((other_id, other_name)) = current
                && name_key(&other_name) == key
            {
                return Err(name_taken(name, &other_id, &other_name));
            }
        }
        Ok(())
    }
}

pub fn name_taken(name: &str, other_id: &str, other_name: &str) -> Error {
    Error::input(
        "name_taken",
        format!("the name {name:?} is taken by {other_id} ({other_name}): choose another name"),
    )
}

fn read_record(path: &Path) -> std::result::Result<Character, String> {
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

fn sync_dir(dir: &Path) {
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
