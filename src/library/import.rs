//! Bringing characters in from elsewhere (a pack, another library folder). Everything is
//! checked and copied into the library's `.work/` first; only then is each character
//! committed, by one rename under the library lock. IDs are kept (they are content-derived,
//! so the same character has the same ID everywhere); the same ID again only adds the
//! provider registrations the library lacks; the same name with another ID follows the
//! conflict rule.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::library::name::{
    MAX_NAME_CHARS, check_notes, check_tags, is_id, name_key, normalize_name,
};
use crate::library::record::{Character, SCHEMA};
use crate::library::store::{Library, RECORD_FILE, WorkDir, safe_relative, sync_dir};
use crate::util::escape_display;

/// The largest file a character may bring (its clip is a few MB; a record a few KB).
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;
/// The most bytes one import may bring in all.
pub const MAX_TOTAL_BYTES: u64 = 8 << 30;
/// The most files one import may bring.
pub const MAX_FILES: usize = 200_000;
/// The largest record read.
pub const MAX_RECORD_BYTES: u64 = 4 << 20;

/// The clip's file name in a character folder.
pub const CLIP_FILE: &str = "clip.mp4";

/// What to do with an incoming character whose name another character of the library holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Import nothing and list the conflicts.
    Fail,
    /// Leave those characters out.
    Skip,
    /// Give them a free name, e.g. "Name (2)".
    Rename,
}

/// What happened to one incoming character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New in the library.
    Created,
    /// Already in the library, nothing to add.
    Existing,
    /// Already in the library; provider registrations it lacked were added.
    Merged,
    /// Its name is held by another character: left out.
    Skipped,
    /// Its name is held by another character: imported under a free name.
    Renamed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Existing => "already there",
            Status::Merged => "merged providers",
            Status::Skipped => "skipped",
            Status::Renamed => "renamed",
        }
    }
}

/// The character of the library holding a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub id: String,
    pub name: String,
}

/// One incoming character's result.
#[derive(Debug, Clone, Serialize)]
pub struct ImportResult {
    pub id: String,
    /// The name it came with.
    pub name: String,
    pub status: Status,
    /// The name it was given (renamed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// The providers whose registrations were added (merged only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers_added: Vec<String>,
    /// The providers it is registered with under another remote ID than the library's
    /// character (the library's is kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers_differ: Vec<String>,
    /// The character holding its name (skipped, renamed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_held_by: Option<Holder>,
}

/// A file of a character folder, by its path in the folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    Record,
    Clip,
    /// `keyframes/NN.jpg`
    Keyframe,
}

/// Which file of a character folder `rel` is: `character.json`, `clip.mp4` or
/// `keyframes/NN.jpg` (two digits); `None` for anything else.
pub fn member(rel: &str) -> Option<Member> {
    match rel {
        RECORD_FILE => Some(Member::Record),
        CLIP_FILE => Some(Member::Clip),
        _ => {
            let n = rel.strip_prefix("keyframes/")?.strip_suffix(".jpg")?;
            (n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit())).then_some(Member::Keyframe)
        }
    }
}

/// The characters checked and copied into `.work/`, ready to commit.
#[derive(Debug)]
pub struct Stage {
    work: WorkDir,
    pub characters: Vec<Staged>,
}

/// One character in the stage: its record and its folder there.
#[derive(Debug)]
pub struct Staged {
    pub record: Character,
    dir: PathBuf,
}

impl Stage {
    /// An empty stage in the library's `.work/` (removed unless committed).
    pub fn new(lib: &Library) -> Result<Stage> {
        Ok(Stage {
            work: lib.new_work_dir()?,
            characters: Vec::new(),
        })
    }

    /// The folder a character's files are staged in.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.work.path().join(id)
    }

    /// Read and check the record of each staged character (`files`: by ID, the files staged
    /// for it and their hashes); `bad` words an error about the source.
    pub fn load(
        &mut self,
        files: &HashMap<String, HashMap<String, String>>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<()> {
        let mut ids: Vec<&String> = files.keys().collect();
        ids.sort();
        for id in ids {
            let dir = self.dir_of(id);
            let hashes = &files[id];
            let record = read_bounded(&dir.join(RECORD_FILE), MAX_RECORD_BYTES)
                .map_err(|e| bad(format!("the record of {id} cannot be read: {e}")))?;
            let record: Character = serde_json::from_slice(&record)
                .map_err(|e| bad(format!("the record of {id} is not a character record: {e}")))?;
            check_record(&record, id, hashes).map_err(|e| bad(format!("{id}: {e}")))?;
            self.characters.push(Staged { record, dir });
        }
        Ok(())
    }
}

/// Copy at most `limit` bytes of `from` into a new file `to` (parents created), hashing
/// them; returns (bytes, blake3 hex). Synced to disk.
pub(crate) fn copy_hashed(
    from: &mut dyn Read,
    to: &Path,
    limit: u64,
) -> std::io::Result<(u64, String)> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut out = File::create(to)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut from = from.take(limit);
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    out.sync_all()?;
    Ok((total, hasher.finalize().to_hex().to_string()))
}

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > limit {
        return Err(std::io::Error::other(format!(
            "it is {len} bytes, over the {limit}-byte limit"
        )));
    }
    let mut v = Vec::with_capacity(len as usize);
    f.take(limit).read_to_end(&mut v)?;
    Ok(v)
}

/// An incoming record is one this castbook would have written: its ID its folder's, a valid
/// name, notes and tags, its clip `clip.mp4` and keyframes `keyframes/NN.jpg`, exactly the
/// files present, and the hashes it keeps those of the files.
fn check_record(
    r: &Character,
    id: &str,
    files: &HashMap<String, String>,
) -> std::result::Result<(), String> {
    if r.id != id {
        return Err(format!(
            "its record's id {} is not its folder's",
            escape_display(&r.id)
        ));
    }
    if r.schema > SCHEMA {
        return Err(format!(
            "its record has schema {}, written by a newer castbook: update castbook",
            r.schema
        ));
    }
    match normalize_name(&r.name) {
        Ok(n) if n == r.name => {}
        Ok(_) => {
            return Err(format!(
                "its name {:?} is not normalised",
                escape_display(&r.name)
            ));
        }
        Err(e) => return Err(e.message),
    }
    check_notes(&r.notes).map_err(|e| e.message)?;
    check_tags(&r.tags).map_err(|e| e.message)?;
    if r.clip.path != CLIP_FILE {
        return Err(format!(
            "its record names the clip {:?}, not {CLIP_FILE:?}",
            escape_display(&r.clip.path)
        ));
    }
    let mut named: BTreeSet<&str> = [RECORD_FILE, CLIP_FILE].into_iter().collect();
    for k in &r.keyframes {
        if member(k) != Some(Member::Keyframe) || !named.insert(k) {
            return Err(format!(
                "its record names the keyframe {:?}: keyframes are keyframes/NN.jpg, each once",
                escape_display(k)
            ));
        }
    }
    let present: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    if let Some(missing) = named.difference(&present).next() {
        return Err(format!("{missing} is missing"));
    }
    if let Some(extra) = present.difference(&named).next() {
        return Err(format!("{extra} is not named by its record"));
    }
    if let Some(kept) = r.clip.blake3()
        && kept != files[CLIP_FILE]
    {
        return Err(format!(
            "{CLIP_FILE} is not the clip its record was saved with (blake3 {} instead of {kept})",
            files[CLIP_FILE]
        ));
    }
    if let Some(kept) = r.keyframe_hashes() {
        for (k, h) in r.keyframes.iter().zip(kept) {
            if files[k.as_str()] != h {
                return Err(format!(
                    "{k} is not the keyframe its record was saved with (blake3 {} instead of {h})",
                    files[k.as_str()]
                ));
            }
        }
    }
    for (provider, remote) in &r.provider_ids {
        if provider.is_empty()
            || provider.chars().count() > 64
            || provider.chars().any(char::is_control)
        {
            return Err(format!(
                "its record names the provider {:?}: a provider name is 1-64 printable characters",
                escape_display(provider)
            ));
        }
        crate::provider::check_remote_id(&remote.id).map_err(|why| {
            format!(
                "its record's ID with {} is not a remote ID: {why}",
                escape_display(provider)
            )
        })?;
    }
    if r.clip.size_bytes == 0 {
        return Err("its record says the clip is empty".into());
    }
    Ok(())
}

/// Stage the characters of another library folder (its `char_*/` folders): each record read,
/// the files it names copied and checked against the hashes it keeps (when it keeps them).
/// Whether `dir` holds character folders (`char_*`), i.e. is a library rather than clips.
pub fn holds_characters(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(is_id))
    })
}

pub fn stage_folder(lib: &Library, from: &Path) -> Result<Stage> {
    let shown = escape_display(&from.display().to_string());
    let bad = |m: String| {
        Error::input(
            "bad_library",
            format!(
                "{m} in the library {shown}: nothing was imported; see `castbook doctor --library {shown}`"
            ),
        )
    };
    if same_folder(lib.root(), from) {
        return Err(Error::input(
            "same_library",
            format!("{shown} is this library: import another library folder, or a .castpack file"),
        ));
    }
    let mut stage = Stage::new(lib)?;
    let ids = crate::library::store::character_folders(from, "reading")?;
    if ids.is_empty() {
        return Err(Error::input(
            "no_characters",
            format!(
                "{shown} holds no characters (char_*/character.json) and no videos: give another library's folder, a folder of clips, a .castpack file, or a CSV manifest (clip,name,start,tags,notes)"
            ),
        ));
    }
    if ids.len() > MAX_FILES {
        return Err(bad(format!(
            "{} character folders are over the limit of {MAX_FILES}",
            ids.len()
        )));
    }
    let mut total = 0u64;
    let mut files: HashMap<String, HashMap<String, String>> = HashMap::new();
    for id in &ids {
        let src = from.join(id);
        let meta = fs::symlink_metadata(&src).map_err(|e| Error::io("reading", &src, &e))?;
        if !meta.is_dir() {
            return Err(bad(format!("{id} is not a folder (a link or a file)")));
        }
        let record_bytes = read_bounded(&src.join(RECORD_FILE), MAX_RECORD_BYTES)
            .map_err(|e| bad(format!("the record of {id} cannot be read: {e}")))?;
        let record: Character = serde_json::from_slice(&record_bytes)
            .map_err(|e| bad(format!("the record of {id} is not a character record: {e}")))?;
        let mut rels: Vec<String> = vec![RECORD_FILE.into(), record.clip.path.clone()];
        rels.extend(record.keyframes.iter().cloned());
        let mut hashes = HashMap::new();
        for rel in rels {
            if member(&rel).is_none() || safe_relative(&rel).is_none() {
                return Err(bad(format!(
                    "the record of {id} names {:?}, not a file of a character folder",
                    escape_display(&rel)
                )));
            }
            if hashes.contains_key(&rel) {
                continue;
            }
            let path = src.join(&rel);
            let m = fs::symlink_metadata(&path)
                .map_err(|e| bad(format!("{id}/{rel} cannot be read: {e}")))?;
            if !m.is_file() {
                return Err(bad(format!(
                    "{id}/{rel} is not a regular file (a link, a folder or a device)"
                )));
            }
            if m.len() > MAX_ENTRY_BYTES {
                return Err(bad(format!(
                    "{id}/{rel} is {} bytes, over the {MAX_ENTRY_BYTES}-byte limit",
                    m.len()
                )));
            }
            total += m.len();
            if total > MAX_TOTAL_BYTES {
                return Err(bad(format!(
                    "the characters are over {MAX_TOTAL_BYTES} bytes in all"
                )));
            }
            let mut f = File::open(&path).map_err(|e| Error::io("reading", &path, &e))?;
            let dest = stage.dir_of(id).join(&rel);
            let (n, h) =
                copy_hashed(&mut f, &dest, m.len()).map_err(|e| Error::io("copying", &path, &e))?;
            if n != m.len() {
                return Err(bad(format!("{id}/{rel} changed while it was copied")));
            }
            hashes.insert(rel, h);
        }
        files.insert(id.clone(), hashes);
    }
    stage.load(&files, &bad)?;
    Ok(stage)
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Commit the staged characters under the library lock. With `Fail`, a name held by another
/// ID means nothing is imported and the error lists every such conflict.
pub fn commit(lib: &Library, mut stage: Stage, mode: OnConflict) -> Result<Vec<ImportResult>> {
    let _lock = lib.lock()?;
    // Every name now, by key: the exact check, under the lock.
    let mut names: HashMap<String, Holder> = HashMap::new();
    for (folder, name) in lib.all_names()? {
        names.insert(name_key(&name), Holder { id: folder, name });
    }
    // First pass, nothing changed yet: the characters already there (readable), and the
    // name conflicts as the import would meet them.
    let mut existing: HashMap<String, Character> = HashMap::new();
    let mut conflicts: Vec<(String, String, Holder)> = Vec::new();
    {
        let mut names = names.clone();
        for s in &stage.characters {
            let r = &s.record;
            if lib.character_dir(&r.id).exists() {
                let c = lib.get(&r.id)?.ok_or_else(|| {
                    Error::input(
                        "corrupt_record",
                        format!(
                            "{} is in the library without a record: see `castbook doctor`",
                            r.id
                        ),
                    )
                })?;
                existing.insert(r.id.clone(), c);
                continue;
            }
            let key = name_key(&r.name);
            match names.get(&key) {
                Some(h) if h.id != r.id => {
                    conflicts.push((r.id.clone(), r.name.clone(), h.clone()))
                }
                _ => {
                    names.insert(
                        key,
                        Holder {
                            id: r.id.clone(),
                            name: r.name.clone(),
                        },
                    );
                }
            }
        }
    }
    if mode == OnConflict::Fail && !conflicts.is_empty() {
        let list: Vec<String> = conflicts
            .iter()
            .map(|(id, name, h)| {
                format!(
                    "{id} {:?} (the name is held by {} {:?})",
                    escape_display(name),
                    h.id,
                    escape_display(&h.name)
                )
            })
            .collect();
        return Err(Error::input(
            "name_conflict",
            format!(
                "{} incoming character(s) have a name another character of the library holds: {}; nothing was imported: pass --on-conflict skip to leave them out, or --on-conflict rename to give them a free name",
                conflicts.len(),
                list.join("; ")
            ),
        ));
    }
    let mut results = Vec::with_capacity(stage.characters.len());
    for s in std::mem::take(&mut stage.characters) {
        let r = s.record;
        let mut result = ImportResult {
            id: r.id.clone(),
            name: r.name.clone(),
            status: Status::Created,
            new_name: None,
            providers_added: Vec::new(),
            providers_differ: Vec::new(),
            name_held_by: None,
        };
        if let Some(mut have) = existing.remove(&r.id) {
            for (provider, remote) in &r.provider_ids {
                match have.provider_ids.get(provider) {
                    None => {
                        have.provider_ids.insert(provider.clone(), remote.clone());
                        result.providers_added.push(provider.clone());
                    }
                    // Ours has expired and the incoming one has not: it replaces ours.
                    Some(ours) if ours.expired() && !remote.expired() => {
                        have.provider_ids.insert(provider.clone(), remote.clone());
                        result.providers_added.push(provider.clone());
                    }
                    Some(ours) if ours.id != remote.id => {
                        result.providers_differ.push(provider.clone())
                    }
                    Some(_) => {}
                }
            }
            if result.providers_added.is_empty() {
                result.status = Status::Existing;
            } else {
                lib.write_record(&r.id, &have)?;
                result.status = Status::Merged;
            }
            results.push(result);
            continue;
        }
        let key = name_key(&r.name);
        if let Some(h) = names.get(&key).filter(|h| h.id != r.id).cloned() {
            result.name_held_by = Some(h);
            match mode {
                OnConflict::Skip | OnConflict::Fail => {
                    result.status = Status::Skipped;
                    results.push(result);
                    continue;
                }
                OnConflict::Rename => {
                    let name = free_name(&r.name, &names)?;
                    let mut renamed = r.clone();
                    renamed.name = name.clone();
                    write_record_file(&s.dir.join(RECORD_FILE), &renamed)?;
                    result.status = Status::Renamed;
                    result.new_name = Some(name);
                    place(lib, &s.dir, &renamed.id)?;
                    names.insert(
                        name_key(&renamed.name),
                        Holder {
                            id: renamed.id.clone(),
                            name: renamed.name.clone(),
                        },
                    );
                    results.push(result);
                    continue;
                }
            }
        }
        place(lib, &s.dir, &r.id)?;
        names.insert(
            key,
            Holder {
                id: r.id.clone(),
                name: r.name.clone(),
            },
        );
        results.push(result);
    }
    sync_dir(lib.root());
    Ok(results)
}

/// Move a staged folder into the library (the caller holds the lock).
fn place(lib: &Library, staged: &Path, id: &str) -> Result<()> {
    sync_dir(staged);
    let dest = lib.character_dir(id);
    fs::rename(staged, &dest).map_err(|e| Error::io("saving the character to", &dest, &e))
}

fn write_record_file(path: &Path, record: &Character) -> Result<()> {
    let mut bytes =
        serde_json::to_vec_pretty(record).map_err(|e| Error::other("json", e.to_string()))?;
    bytes.push(b'\n');
    let mut f = File::create(path).map_err(|e| Error::io("writing", path, &e))?;
    f.write_all(&bytes)
        .map_err(|e| Error::io("writing", path, &e))?;
    f.sync_all().map_err(|e| Error::io("syncing", path, &e))
}

/// The first of "Name (2)", "Name (3)", ... nobody holds (the name shortened to fit the
/// length limit when needed).
pub fn free_name(name: &str, taken: &HashMap<String, Holder>) -> Result<String> {
    for n in 2..=taken.len() + 2 {
        let suffix = format!(" ({n})");
        let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
        let base: String = name.chars().take(room).collect();
        let candidate = format!("{}{suffix}", base.trim_end());
        if !taken.contains_key(&name_key(&candidate))
            && let Ok(ok) = normalize_name(&candidate)
        {
            return Ok(ok);
        }
    }
    Err(Error::other(
        "no_free_name",
        format!("no free name found for {:?}", escape_display(name)),
    ))
}
