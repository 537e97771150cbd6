//! What a name check and a look-alike warning need of every record (its name and its
//! signature), kept in the derived index (`<lib>/.index/`) so that `create` in a large
//! library reads no record that has not changed.
//!
//! - `names-v1.bin`: for each character folder, the `stat` of its record (device, inode,
//!   size, modification and change times) and the name read from it. The name check under
//!   the lock `stat`s every record and uses an indexed name only when the record's `stat`
//!   is EQUAL to the indexed one and the entry is *settled* (below); every other record is
//!   read. Nothing here compares a time with a clock to decide that a file is unchanged.
//! - `looks-v1.bin`: each record's signature, parsed, for the look-alike warning and
//!   `similar` (advisory: used when the record's `stat` agrees with `names-v1.bin`).
//!
//! Why an equal `stat` proves the name: on a local filesystem the kernel sets a file's change
//! time on every change of its content or of its inode (a user cannot set it: `touch -d`
//! sets the modification time and the change time to now), and a record replaced by a rename
//! is another inode. So a record whose inode, size and both times are what they were when it
//! was read holds what was read, unless it was changed again within the same tick of the
//! filesystem's clock as the change before the read (the "racy" case git knows). An entry
//! is settled only when the record's change time was at least 2 s before a time taken from
//! the same filesystem's clock (a file made in `.work/` for the purpose) before the record
//! was read: any later change then has a later change time. Whole-second change times (a
//! coarse clock) never settle. The index is used only when the library folder is the one it
//! was made for (device and inode), on a filesystem that keeps change times itself (see
//! `at::keeps_change_times`: on NFS, SMB and FUSE every record is read), and for records on
//! the library's own device.
//!
//! What it does not protect against: an index written by hand with matching `stat`s (whoever
//! can write that can write a duplicate record), and a content change made through a
//! writable memory mapping that the kernel has not yet noticed (it updates the change time
//! when the page is next written back).

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::library::at::{Dir, StatKey, keeps_change_times};
use crate::library::name::name_key;
use crate::library::store::{Library, RECORD_FILE, character_folders, name_in, name_taken};
use crate::pipeline::signature::{self, Compared, Signature};

const NAMES_FILE: &str = "names-v1.bin";
const NAMES_MAGIC: &[u8; 8] = b"cbnams01";
const LOOKS_FILE: &str = "looks-v1.bin";
const LOOKS_MAGIC: &[u8; 8] = b"cblook01";
/// A record larger than this is not read whole for its signature.
const MAX_RECORD_BYTES: u64 = 16 << 20;
/// How long before a time taken from the filesystem's clock a record must have last changed
/// for its entry to settle (nanoseconds).
const SETTLE_NS: i128 = 2_000_000_000;
/// Records are checked on several threads above this many.
const PARALLEL_ABOVE: usize = 2048;

/// The library folder an index was made for: its device and inode.
type RootId = (u64, u64);

/// One record as it was read: its folder, its `stat` (taken before reading it), whether
/// that `stat` proves the name (see the module notes) and the name (`None`: the record has
/// no readable name, so it holds none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NameEntry {
    pub folder: String,
    pub record: StatKey,
    pub settled: bool,
    pub name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct NamesFile {
    root: RootId,
    /// Sorted by folder.
    entries: Vec<NameEntry>,
}

#[derive(Serialize)]
struct NamesRef<'a> {
    root: RootId,
    entries: &'a [&'a NameEntry],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LookEntry {
    folder: String,
    record: StatKey,
    /// `None`: no signature this castbook can read.
    sig: Option<Compared>,
}

#[derive(Serialize, Deserialize)]
struct LooksFile {
    version: u32,
    /// Sorted by folder.
    entries: Vec<LookEntry>,
}

#[derive(Serialize)]
struct LooksRef<'a> {
    version: u32,
    entries: &'a [LookEntry],
}

/// Every readable record's name and signature at one moment, for an early name check and
/// the look-alike warning, and the claims (record `stat` -> name) the exact check under the
/// lock may use.
#[derive(Debug, Clone, Default)]
pub struct NameSnapshot {
    /// The library folder.
    root: std::path::PathBuf,
    /// Sorted by folder.
    names: Vec<NameEntry>,
    /// The signature of each entry of `names`.
    looks: Vec<LookEntry>,
}

/// A character another is compared with: its folder (ID) and name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alike<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub similarity: f64,
}

impl NameSnapshot {
    /// The number of readable records.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The character holding `name` (compared as seen), if any: its ID and name.
    pub fn owner(&self, name: &str) -> Option<(&str, &str)> {
        let key = name_key(name);
        self.names.iter().find_map(|e| {
            let other = e.name.as_deref()?;
            (name_key(other) == key).then_some((e.folder.as_str(), other))
        })
    }

    /// Error when `name` is taken.
    pub fn check_free(&self, name: &str) -> Result<()> {
        match self.owner(name) {
            Some((id, other)) => Err(name_taken(name, id, other)),
            None => Ok(()),
        }
    }

    /// The character most like `sig` (ties to the smaller ID), if any can be compared.
    pub fn most_like(&self, sig: &Signature) -> Option<Alike<'_>> {
        let query = sig.compared(true);
        let mut best: Option<Alike<'_>> = None;
        for (e, other) in self.names.iter().zip(&self.looks) {
            let Some(name) = e.name.as_deref() else {
                continue;
            };
            let Some(s) = self.score(&query, sig, e, other.sig.as_ref()) else {
                continue;
            };
            if best.is_none_or(|b| s > b.similarity) {
                best = Some(Alike {
                    id: &e.folder,
                    name,
                    similarity: s,
                });
            }
        }
        best
    }

    /// The characters most like `sig`, best first, without `except` (the character itself);
    /// records without a signature this castbook reads are left out.
    pub fn ranked(&self, sig: &Signature, except: Option<&str>) -> Vec<Alike<'_>> {
        let query = sig.compared(true);
        let mut out: Vec<Alike<'_>> = self
            .names
            .iter()
            .zip(&self.looks)
            .filter(|(e, _)| Some(e.folder.as_str()) != except)
            .filter_map(|(e, other)| {
                Some(Alike {
                    id: &e.folder,
                    name: e.name.as_deref()?,
                    similarity: self.score(&query, sig, e, other.sig.as_ref())?,
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(b.id)));
        out
    }

    fn score(
        &self,
        query: &Compared,
        sig: &Signature,
        e: &NameEntry,
        other: Option<&Compared>,
    ) -> Option<f64> {
        match signature::similarity_of(query, other?) {
            Some(s) => Some(s),
            // The query has no version 2 and the index kept only the other's version 2
            // parts: compare with the record's whole signature.
            None => {
                let dir = Dir::open(&self.root).ok()?;
                let (_, _, other) = read_record_head(&dir, &e.folder, true)?;
                Some(signature::similarity(sig, &other?))
            }
        }
    }
}

/// The filesystem's clock now (seconds, nanoseconds): the change time of a file made for the
/// purpose in `.work/` (removed at once; one left by a killed run is removed by the next).
fn fs_now(lib: &Library) -> Option<(i64, i64)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let path = lib.work_root().join(format!(
        "stamp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let f = File::create_new(&path).ok()?;
    let key = StatKey::of_file(&f);
    let _ = std::fs::remove_file(&path);
    key.map(|k| k.ctime)
}

fn nanos(t: (i64, i64)) -> i128 {
    i128::from(t.0) * 1_000_000_000 + i128::from(t.1)
}

/// What decides whether a record's `stat` proves its name: the library's device when its
/// filesystem keeps change times, and a time from the filesystem's clock taken before reading.
#[derive(Clone, Copy)]
struct Settle {
    dev: Option<u64>,
    stamp: Option<(i64, i64)>,
}

impl Settle {
    fn settled(&self, key: &StatKey) -> bool {
        match (self.dev, self.stamp) {
            (Some(dev), Some(stamp)) => {
                key.dev == dev && key.ctime.1 != 0 && nanos(key.ctime) + SETTLE_NS <= nanos(stamp)
            }
            _ => false,
        }
    }
}

/// A record read for the index: its `stat` (taken on the open file before reading), its
/// name as a name check reads it (`None`: none readable), and its signature when `with_sig`.
/// `None` when it cannot be opened or read.
fn read_record_head(
    dir: &Dir,
    folder: &str,
    with_sig: bool,
) -> Option<(StatKey, Option<String>, Option<Signature>)> {
    let f = dir.open_file(&format!("{folder}/{RECORD_FILE}")).ok()?;
    let key = StatKey::of_file(&f)?;
    let mut bytes = Vec::with_capacity(8192);
    let mut f = f.take(MAX_RECORD_BYTES);
    if !with_sig {
        // The name is near the top: usually one read.
        (&mut f).take(8192).read_to_end(&mut bytes).ok()?;
        if let Some(name) = name_in(&bytes) {
            return Some((key, Some(name), None));
        }
    }
    f.read_to_end(&mut bytes).ok()?;
    let name = name_in(&bytes);
    let sig = if with_sig {
        #[derive(Deserialize)]
        struct SigField<'a> {
            #[serde(borrow, default)]
            signature: Option<&'a serde_json::value::RawValue>,
        }
        serde_json::from_slice::<SigField>(&bytes)
            .ok()
            .and_then(|r| r.signature)
            .and_then(|raw| serde_json::from_str::<Signature>(raw.get()).ok())
    } else {
        None
    };
    Some((key, name, sig))
}

impl Library {
    fn root_id(dir: &Dir) -> Option<RootId> {
        StatKey::of_file(dir.file()).map(|k| (k.dev, k.ino))
    }

    /// The device whose records' `stat`s may prove their names: the library's, when its
    /// filesystem keeps change times.
    fn trusted_dev(dir: &Dir) -> Option<u64> {
        keeps_change_times(dir.file())
            .then(|| StatKey::of_file(dir.file()).map(|k| k.dev))
            .flatten()
    }

    /// The names index when it was made for this library folder (sorted by folder).
    fn read_names_file(&self, root: Option<RootId>) -> Vec<NameEntry> {
        let Some(bytes) = self.read_index_file(NAMES_FILE, NAMES_MAGIC) else {
            return Vec::new();
        };
        match postcard::from_bytes::<NamesFile>(&bytes) {
            Ok(f) if Some(f.root) == root && f.entries.is_sorted_by(|a, b| a.folder < b.folder) => {
                f.entries
            }
            _ => Vec::new(),
        }
    }

    fn read_looks_file(&self) -> Vec<LookEntry> {
        let Some(bytes) = self.read_index_file(LOOKS_FILE, LOOKS_MAGIC) else {
            return Vec::new();
        };
        match postcard::from_bytes::<LooksFile>(&bytes) {
            Ok(f)
                if f.version == signature::VERSION
                    && f.entries.is_sorted_by(|a, b| a.folder < b.folder) =>
            {
                f.entries
            }
            _ => Vec::new(),
        }
    }

    fn write_names_file(&self, root: RootId, entries: &[&NameEntry]) {
        self.write_index(NAMES_FILE, NAMES_MAGIC, &NamesRef { root, entries });
    }

    /// The characters' names and signatures now: for an early name check, the look-alike
    /// warning and `similar`. From the index where it has the folder (no `stat`: this only
    /// advises, and the exact check under the lock `stat`s every record); records the index
    /// lacks are read, and the index brought up to date when it exists.
    pub fn names(&self) -> Result<NameSnapshot> {
        let folders = character_folders(self.root(), "reading the library")?;
        let dir = Dir::open(self.root())
            .map_err(|e| Error::io("reading the library", self.root(), &e))?;
        let root = Library::root_id(&dir);
        let old_names = self.read_names_file(root);
        let old_looks = self.read_looks_file();
        let old_len = (old_names.len(), old_looks.len());
        let mut changed = false;
        let mut settle: Option<Settle> = None;
        let mut names = Vec::with_capacity(folders.len());
        let mut looks = Vec::with_capacity(folders.len());
        let (mut ni, mut li) = (
            old_names.into_iter().peekable(),
            old_looks.into_iter().peekable(),
        );
        for folder in folders {
            while ni.next_if(|e| e.folder < folder).is_some() {}
            while li.next_if(|e| e.folder < folder).is_some() {}
            let n = ni.next_if(|e| e.folder == folder);
            let l = li.next_if(|e| e.folder == folder);
            match (n, l) {
                (Some(n), Some(l)) if n.record == l.record => {
                    looks.push(l);
                    names.push(n);
                    continue;
                }
                _ => {}
            }
            // The time is taken before the first record is read.
            let s = *settle.get_or_insert_with(|| Settle {
                dev: Library::trusted_dev(&dir),
                stamp: fs_now(self),
            });
            let Some((record, name, sig)) = read_record_head(&dir, &folder, true) else {
                continue;
            };
            changed = true;
            looks.push(LookEntry {
                folder: folder.clone(),
                record,
                sig: sig.map(|s| s.compared(false)),
            });
            names.push(NameEntry {
                folder,
                record,
                settled: s.settled(&record),
                name,
            });
        }
        // Entries of folders that are gone, or whose record could not be read.
        changed |= old_len != (names.len(), looks.len());
        if changed && self.index_exists() {
            if let Some(root) = root {
                self.write_names_file(root, &names.iter().collect::<Vec<_>>());
            }
            self.write_index(
                LOOKS_FILE,
                LOOKS_MAGIC,
                &LooksRef {
                    version: signature::VERSION,
                    entries: &looks,
                },
            );
        }
        Ok(NameSnapshot {
            root: self.root().to_path_buf(),
            names,
            looks,
        })
    }

    /// Error when `name` is taken by a character other than `except_id`. Exact: every
    /// record is `stat`ed, and read unless an entry of `seen` (or of the index) proves its
    /// name (see the module notes); a record whose id is not its folder's still holds its
    /// name. Call it under the lock for a check that holds until the lock is released. The
    /// index, when there is one, is brought up to date with what was read.
    pub fn check_name_free(
        &self,
        name: &str,
        except_id: Option<&str>,
        seen: Option<&NameSnapshot>,
    ) -> Result<()> {
        let folders = character_folders(self.root(), "reading the library")?;
        let dir = Dir::open(self.root())
            .map_err(|e| Error::io("reading the library", self.root(), &e))?;
        let dev = Library::trusted_dev(&dir);
        let root = Library::root_id(&dir);
        let loaded;
        let known: &[NameEntry] = match (dev, seen) {
            (None, _) => &[],
            (Some(_), Some(s)) => &s.names,
            (Some(_), None) => {
                loaded = self.read_names_file(root);
                &loaded
            }
        };
        let settle = Settle {
            dev,
            // Taken before any record is read.
            stamp: dev.and_then(|_| fs_now(self)),
        };
        let found = verify(&dir, &folders, known, settle);
        let key = name_key(name);
        let mut changed = found.len() != known.len();
        let mut entries: Vec<&NameEntry> = Vec::with_capacity(found.len());
        for f in &found {
            let e = match f {
                Found::Known(i) => &known[*i],
                Found::Read(e) => {
                    changed = true;
                    e
                }
            };
            if let Some(other) = &e.name
                && Some(e.folder.as_str()) != except_id
                && name_key(other) == key
            {
                return Err(name_taken(name, &e.folder, other));
            }
            entries.push(e);
        }
        if changed
            && self.index_exists()
            && let Some(root) = root
        {
            self.write_names_file(root, &entries);
        }
        Ok(())
    }
}

/// What the exact check found of one record.
enum Found {
    /// The entry of this index proves its name.
    Known(usize),
    /// Read now.
    Read(NameEntry),
}

/// Every record in `folders` (sorted) that has a readable name, exactly: an entry of `known`
/// is used only when it is settled and the record's `stat` now equals it; any other record
/// is read. On several threads for a large library.
fn verify(dir: &Dir, folders: &[String], known: &[NameEntry], settle: Settle) -> Vec<Found> {
    let check = |folders: &[String]| -> Vec<Found> {
        let mut out = Vec::with_capacity(folders.len());
        for folder in folders {
            if let Ok(i) = known.binary_search_by(|e| e.folder.as_str().cmp(folder))
                && known[i].settled
                && dir.stat_in(folder, RECORD_FILE) == Some(known[i].record)
            {
                out.push(Found::Known(i));
                continue;
            }
            if let Some((record, name, _)) = read_record_head(dir, folder, false) {
                out.push(Found::Read(NameEntry {
                    folder: folder.clone(),
                    record,
                    settled: settle.settled(&record),
                    name,
                }));
            }
        }
        out
    };
    if folders.len() <= PARALLEL_ABOVE {
        return check(folders);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = folders.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = folders
            .chunks(chunk)
            .map(|c| s.spawn(move || check(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("record reader"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dev: u64, ctime: (i64, i64)) -> StatKey {
        StatKey {
            dev,
            ino: 7,
            size: 100,
            mode: libc::S_IFREG | 0o644,
            mtime: ctime,
            ctime,
        }
    }

    #[test]
    fn only_records_changed_well_before_the_read_on_a_trusted_device_settle() {
        let s = Settle {
            dev: Some(1),
            stamp: Some((1000, 500)),
        };
        assert!(s.settled(&key(1, (998, 500))), "2 s before");
        assert!(s.settled(&key(1, (990, 1))));
        assert!(!s.settled(&key(1, (998, 501))), "within 2 s (racy)");
        assert!(
            !s.settled(&key(1, (1000, 600))),
            "after the stamp (clock skew)"
        );
        assert!(
            !s.settled(&key(1, (990, 0))),
            "a whole second: a coarse clock"
        );
        assert!(!s.settled(&key(2, (990, 1))), "another device");
        let untrusted = Settle {
            dev: None,
            stamp: Some((1000, 500)),
        };
        assert!(
            !untrusted.settled(&key(1, (990, 1))),
            "a filesystem not trusted"
        );
        let no_clock = Settle {
            dev: Some(1),
            stamp: None,
        };
        assert!(
            !no_clock.settled(&key(1, (990, 1))),
            "no time from the filesystem"
        );
    }

    #[test]
    fn the_filesystem_clock_is_read_from_a_file_made_for_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = Library::open(tmp.path()).unwrap();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (s, _) = fs_now(&lib).unwrap();
        assert!((s - before).abs() <= 1, "{s} vs {before}");
        assert_eq!(
            std::fs::read_dir(lib.work_root()).unwrap().count(),
            0,
            "nothing is left in .work"
        );
    }

    /// A library with one record named `name`, and the snapshot entry a name check may use.
    fn one_record(name: &str) -> (tempfile::TempDir, Library, NameEntry) {
        let tmp = tempfile::tempdir().unwrap();
        let lib = Library::open(tmp.path()).unwrap();
        let folder = "char_aaaaaaaaaaaa";
        std::fs::create_dir(lib.character_dir(folder)).unwrap();
        let path = lib.character_dir(folder).join(RECORD_FILE);
        std::fs::write(&path, format!(r#"{{"id":"{folder}","name":"{name}"}}"#)).unwrap();
        let record = StatKey::of_file(&File::open(&path).unwrap()).unwrap();
        let entry = NameEntry {
            folder: folder.into(),
            record,
            settled: true,
            name: Some(name.into()),
        };
        (tmp, lib, entry)
    }

    fn snapshot(lib: &Library, entry: NameEntry) -> NameSnapshot {
        NameSnapshot {
            root: lib.root().to_path_buf(),
            names: vec![entry],
            looks: Vec::new(),
        }
    }

    #[test]
    fn a_settled_entry_stands_for_its_record_only_while_its_stat_is_equal() {
        let (_tmp, lib, real) = one_record("Wolf");
        assert!(keeps_change_times(&File::open(lib.root()).unwrap()));
        // An entry claiming another name for the record as it is: used, no read (this is
        // what spares reading 10,000 records; only castbook writes these entries).
        let claim = NameEntry {
            name: Some("Ghost".into()),
            ..real.clone()
        };
        let seen = snapshot(&lib, claim.clone());
        let err = lib.check_name_free("ghost", None, Some(&seen)).unwrap_err();
        assert_eq!(err.code, "name_taken");
        assert!(lib.check_name_free("wolf", None, Some(&seen)).is_ok());
        // Not settled, or one nanosecond off in any time, or another inode, size or device:
        // the record is read.
        let variants = [
            NameEntry {
                settled: false,
                ..claim.clone()
            },
            NameEntry {
                record: StatKey {
                    ctime: (claim.record.ctime.0, claim.record.ctime.1 ^ 1),
                    ..claim.record
                },
                ..claim.clone()
            },
            NameEntry {
                record: StatKey {
                    mtime: (claim.record.mtime.0, claim.record.mtime.1 ^ 1),
                    ..claim.record
                },
                ..claim.clone()
            },
            NameEntry {
                record: StatKey {
                    ino: claim.record.ino + 1,
                    ..claim.record
                },
                ..claim.clone()
            },
            NameEntry {
                record: StatKey {
                    size: claim.record.size + 1,
                    ..claim.record
                },
                ..claim.clone()
            },
            NameEntry {
                record: StatKey {
                    dev: claim.record.dev + 1,
                    ..claim.record
                },
                ..claim.clone()
            },
        ];
        for v in variants {
            let seen = snapshot(&lib, v);
            assert!(lib.check_name_free("ghost", None, Some(&seen)).is_ok());
            let err = lib.check_name_free("WOLF", None, Some(&seen)).unwrap_err();
            assert_eq!(err.code, "name_taken");
        }
        // The character itself may keep its name.
        let seen = snapshot(&lib, real);
        assert!(
            lib.check_name_free("wolf", Some("char_aaaaaaaaaaaa"), Some(&seen))
                .is_ok()
        );
    }

    #[test]
    fn the_names_index_of_another_folder_is_ignored() {
        let (_tmp, lib, real) = one_record("Wolf");
        std::fs::create_dir_all(lib.root().join(".index")).unwrap();
        let dir = Dir::open(lib.root()).unwrap();
        let root = Library::root_id(&dir).unwrap();
        let claim = NameEntry {
            name: Some("Ghost".into()),
            ..real
        };
        lib.write_names_file((root.0, root.1 + 1), &[&claim]);
        assert!(lib.read_names_file(Some(root)).is_empty());
        assert!(lib.check_name_free("ghost", None, None).is_ok());
        // Made for this folder, the same entry is used.
        lib.write_names_file(root, &[&claim]);
        assert_eq!(lib.read_names_file(Some(root)).len(), 1);
        assert!(lib.check_name_free("ghost", None, None).is_err());
    }

    #[test]
    fn only_local_filesystems_keep_change_times() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(keeps_change_times(&File::open(tmp.path()).unwrap()));
        assert!(!keeps_change_times(&File::open("/proc/self").unwrap()));
    }
}
