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
use crate::pipeline::signature::{self, Parts, Signature, V1Parts, V2Parts};

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

/// The signatures of `looks-v1.bin`: per entry its folder, the record's `stat` and where
/// its parts are in two flat arrays (numbers and hashes), so that loading and comparing
/// 10,000 of them allocates nothing per entry.
#[derive(Debug, Clone, Default)]
struct Looks {
    entries: Vec<Look>,
    floats: Vec<f64>,
    hashes: Vec<u64>,
}

#[derive(Debug, Clone)]
struct Look {
    folder: String,
    record: StatKey,
    /// DCT hashes, gradient orientations, hues.
    v2: Option<[Span; 3]>,
    /// Histogram, difference hashes.
    v1: Option<[Span; 2]>,
}

/// A run of `floats` or `hashes`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: u32,
    len: u32,
}

impl Looks {
    fn span<T: Copy>(to: &mut Vec<T>, from: &[T]) -> Span {
        let start = to.len() as u32;
        to.extend_from_slice(from);
        Span {
            start,
            len: from.len() as u32,
        }
    }

    fn get<T>(of: &[T], s: Span) -> &[T] {
        &of[s.start as usize..(s.start + s.len) as usize]
    }

    /// Add an entry with the parts of `sig`.
    fn push(&mut self, folder: String, record: StatKey, sig: Option<Parts<'_>>) {
        let v2 = sig.and_then(|p| p.v2).map(|p| {
            [
                Looks::span(&mut self.hashes, p.phash),
                Looks::span(&mut self.floats, p.grad),
                Looks::span(&mut self.floats, p.hue),
            ]
        });
        let v1 = sig.and_then(|p| p.v1).map(|p| {
            [
                Looks::span(&mut self.floats, p.hist),
                Looks::span(&mut self.hashes, p.dhash),
            ]
        });
        self.entries.push(Look {
            folder,
            record,
            v2,
            v1,
        });
    }

    /// The parts of entry `i` (`None`: no signature this castbook reads).
    fn parts(&self, i: usize) -> Option<Parts<'_>> {
        let e = &self.entries[i];
        if e.v2.is_none() && e.v1.is_none() {
            return None;
        }
        Some(Parts {
            v2: e.v2.map(|[p, g, h]| V2Parts {
                phash: Looks::get(&self.hashes, p),
                grad: Looks::get(&self.floats, g),
                hue: Looks::get(&self.floats, h),
            }),
            v1: e.v1.map(|[h, d]| V1Parts {
                hist: Looks::get(&self.floats, h),
                dhash: Looks::get(&self.hashes, d),
            }),
        })
    }

    /// The file's bytes after the magic: the signature version, the entries (folder, `stat`,
    /// which parts and their lengths), then the numbers and the hashes, little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.entries.len() * 96 + (self.floats.len() + self.hashes.len()) * 8,
        );
        out.extend_from_slice(&signature::VERSION.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.push(e.folder.len().min(255) as u8);
            out.extend_from_slice(&e.folder.as_bytes()[..e.folder.len().min(255)]);
            let k = &e.record;
            for v in [k.dev, k.ino, k.size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&k.mode.to_le_bytes());
            for v in [k.mtime.0, k.mtime.1, k.ctime.0, k.ctime.1] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.push(u8::from(e.v2.is_some()) | (u8::from(e.v1.is_some()) << 1));
            for s in e.v2.iter().flatten().chain(e.v1.iter().flatten()) {
                out.extend_from_slice(&s.len.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.floats.len() as u32).to_le_bytes());
        for f in &self.floats {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out.extend_from_slice(&(self.hashes.len() as u32).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out
    }

    /// `encode`'s bytes read back; `None` when they are not exactly that (every length is
    /// checked against what the file holds before anything is sized by it).
    fn decode(bytes: &[u8]) -> Option<Looks> {
        struct Reader<'a>(&'a [u8]);
        impl<'a> Reader<'a> {
            fn take(&mut self, n: usize) -> Option<&'a [u8]> {
                let (head, rest) = self.0.split_at_checked(n)?;
                self.0 = rest;
                Some(head)
            }
            fn u8(&mut self) -> Option<u8> {
                Some(self.take(1)?[0])
            }
            fn u32(&mut self) -> Option<u32> {
                Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
            }
            fn u64(&mut self) -> Option<u64> {
                Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
            }
            fn i64(&mut self) -> Option<i64> {
                self.u64().map(|v| v as i64)
            }
        }
        let mut r = Reader(bytes);
        if r.u32()? != signature::VERSION {
            return None;
        }
        let count = r.u32()? as usize;
        // An entry takes at least 62 bytes: a count beyond that is a broken file.
        if count > r.0.len() / 62 {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        let (mut floats_at, mut hashes_at) = (0u32, 0u32);
        let span = |len: u32, at: &mut u32| -> Option<Span> {
            let s = Span { start: *at, len };
            *at = at.checked_add(len)?;
            Some(s)
        };
        for _ in 0..count {
            let n = r.u8()? as usize;
            let folder = std::str::from_utf8(r.take(n)?).ok()?.to_string();
            let record = StatKey {
                dev: r.u64()?,
                ino: r.u64()?,
                size: r.u64()?,
                mode: r.u32()?,
                mtime: (r.i64()?, r.i64()?),
                ctime: (r.i64()?, r.i64()?),
            };
            let parts = r.u8()?;
            let v2 = if parts & 1 != 0 {
                let (p, g, h) = (r.u32()?, r.u32()?, r.u32()?);
                Some([
                    span(p, &mut hashes_at)?,
                    span(g, &mut floats_at)?,
                    span(h, &mut floats_at)?,
                ])
            } else {
                None
            };
            let v1 = if parts & 2 != 0 {
                let (h, d) = (r.u32()?, r.u32()?);
                Some([span(h, &mut floats_at)?, span(d, &mut hashes_at)?])
            } else {
                None
            };
            entries.push(Look {
                folder,
                record,
                v2,
                v1,
            });
        }
        let nf = r.u32()?;
        if nf != floats_at || nf as usize > r.0.len() / 8 {
            return None;
        }
        let floats = r
            .take(nf as usize * 8)?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let nh = r.u32()?;
        if nh != hashes_at || nh as usize * 8 != r.0.len() {
            return None;
        }
        let hashes =
            r.0.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
        Some(Looks {
            entries,
            floats,
            hashes,
        })
    }
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
    /// The signature of each entry of `names` (the same order).
    looks: Looks,
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
        for (i, e) in self.names.iter().enumerate() {
            let Some(name) = e.name.as_deref() else {
                continue;
            };
            let Some(s) = self.score(query.parts(), sig, e, self.looks.parts(i)) else {
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
            .enumerate()
            .filter(|(_, e)| Some(e.folder.as_str()) != except)
            .filter_map(|(i, e)| {
                Some(Alike {
                    id: &e.folder,
                    name: e.name.as_deref()?,
                    similarity: self.score(query.parts(), sig, e, self.looks.parts(i))?,
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(b.id)));
        out
    }

    fn score(
        &self,
        query: Parts<'_>,
        sig: &Signature,
        e: &NameEntry,
        other: Option<Parts<'_>>,
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
        match postcard::from_bytes::<NamesFile>(&bytes[NAMES_MAGIC.len()..]) {
            Ok(f) if Some(f.root) == root && f.entries.is_sorted_by(|a, b| a.folder < b.folder) => {
                f.entries
            }
            _ => Vec::new(),
        }
    }

    fn read_looks_file(&self) -> Looks {
        self.read_index_file(LOOKS_FILE, LOOKS_MAGIC)
            .and_then(|bytes| Looks::decode(&bytes[LOOKS_MAGIC.len()..]))
            .filter(|l| l.entries.is_sorted_by(|a, b| a.folder < b.folder))
            .unwrap_or_default()
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
        let old_len = (old_names.len(), old_looks.entries.len());
        let mut changed = false;
        let mut settle: Option<Settle> = None;
        let mut names = Vec::with_capacity(folders.len());
        let mut looks = Looks {
            entries: Vec::with_capacity(folders.len()),
            floats: Vec::with_capacity(old_looks.floats.len()),
            hashes: Vec::with_capacity(old_looks.hashes.len()),
        };
        let mut ni = old_names.into_iter().peekable();
        let mut li = (0..old_looks.entries.len()).peekable();
        let old_folder = |i: &usize| old_looks.entries[*i].folder.as_str();
        for folder in folders {
            while ni.next_if(|e| e.folder < folder).is_some() {}
            while li.next_if(|i| old_folder(i) < folder.as_str()).is_some() {}
            let n = ni.next_if(|e| e.folder == folder);
            let l = li.next_if(|i| old_folder(i) == folder.as_str());
            match (n, l) {
                (Some(n), Some(l)) if n.record == old_looks.entries[l].record => {
                    looks.push(folder, n.record, old_looks.parts(l));
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
            let sig = sig.map(|s| s.compared(false));
            looks.push(folder.clone(), record, sig.as_ref().map(|s| s.parts()));
            names.push(NameEntry {
                folder,
                record,
                settled: s.settled(&record),
                name,
            });
        }
        // Entries of folders that are gone, or whose record could not be read.
        changed |= old_len != (names.len(), looks.entries.len());
        if changed && self.index_exists() {
            if let Some(root) = root {
                self.write_names_file(root, &names.iter().collect::<Vec<_>>());
            }
            self.write_index_bytes(LOOKS_FILE, LOOKS_MAGIC, &looks.encode());
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
            looks: Looks::default(),
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
    fn signatures_round_trip_through_the_looks_file_and_a_broken_one_is_refused() {
        let full = Signature {
            version: signature::VERSION,
            hist: vec![0.25; 64],
            dhash: vec!["00ff00ff00ff00ff".into(); 6],
            luma: 101.5,
            phash: vec!["0123456789abcdef".into(), "fedcba9876543210".into()],
            grad: vec![0.125; 32],
            hue: vec![0.1; 12],
        };
        let old = Signature {
            version: 1,
            phash: Vec::new(),
            grad: Vec::new(),
            hue: Vec::new(),
            ..full.clone()
        };
        let k = key(3, (5, 6));
        let mut looks = Looks::default();
        let c = [full.compared(false), old.compared(false)];
        looks.push("char_a".into(), k, Some(c[0].parts()));
        looks.push("char_b".into(), k, None);
        looks.push("char_c".into(), k, Some(c[1].parts()));
        let bytes = looks.encode();
        let back = Looks::decode(&bytes).unwrap();
        assert_eq!(back.entries.len(), 3);
        assert_eq!(back.entries[1].record, k);
        assert_eq!(back.parts(0), Some(c[0].parts()));
        assert_eq!(back.parts(1), None);
        assert_eq!(back.parts(2), Some(c[1].parts()));
        // The score from the file is the score of the signatures.
        let q = full.compared(true);
        assert_eq!(
            signature::similarity_of(q.parts(), back.parts(2).unwrap()),
            Some(signature::similarity(&full, &old))
        );
        // Cut anywhere, or with a length or a count changed, it is refused (never read past).
        for cut in 0..bytes.len() {
            assert!(Looks::decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Looks::decode(&huge).is_none());
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 8]);
        assert!(Looks::decode(&longer).is_none());
    }

    #[test]
    fn only_local_filesystems_keep_change_times() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(keeps_change_times(&File::open(tmp.path()).unwrap()));
        assert!(!keeps_change_times(&File::open("/proc/self").unwrap()));
    }
}
