//! Character packs (`.castpack`): one tar archive holding `manifest.json` first (the castbook
//! version, and the path, size and blake3 of every other file), then each character's
//! `<id>/character.json`, `<id>/clip.mp4` and `<id>/keyframes/NN.jpg`. Reading one checks
//! every entry (a regular file at one of those paths, no larger than its manifest says and
//! the limits allow) and every hash before anything enters the library.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::library::import::{
    MAX_ENTRY_BYTES, MAX_FILES, MAX_TOTAL_BYTES, Stage, copy_hashed, member,
};
use crate::library::name::is_id;
use crate::library::record::Character;
use crate::library::store::{Library, RECORD_FILE, hash_file};
use crate::util::escape_display;

pub const MANIFEST_FILE: &str = "manifest.json";
const FORMAT: &str = "castbook-pack";
const FORMAT_VERSION: u32 = 1;
/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 32 << 20;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub castbook_version: String,
    pub characters: Vec<String>,
    pub files: Vec<FileEntry>,
}

/// One file of the pack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// What `write_pack` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub path: PathBuf,
    pub characters: Vec<PackedCharacter>,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackedCharacter {
    pub id: String,
    pub name: String,
}

/// Write `characters` into a pack at `output`: a temporary file beside it, renamed into place
/// when complete. An existing `output` is refused unless `force`. A character whose files are
/// not the ones its record was saved with is refused (see `castbook doctor`).
pub fn write_pack(
    lib: &Library,
    characters: &[Character],
    output: &Path,
    force: bool,
) -> Result<PackSummary> {
    let shown = escape_display(&output.display().to_string());
    if !force && fs::symlink_metadata(output).is_ok() {
        return Err(Error::input(
            "output_exists",
            format!("{shown} already exists: choose another file, or pass --force to replace it"),
        ));
    }
    if characters.is_empty() {
        return Err(Error::input(
            "nothing_to_pack",
            "no characters to pack: name them by ID or name, or pass --all",
        ));
    }
    let mut files: Vec<(FileEntry, PathBuf)> = Vec::new();
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in characters {
        if !seen.insert(c.id.clone()) {
            continue;
        }
        ids.push(PackedCharacter {
            id: c.id.clone(),
            name: c.name.clone(),
        });
        let dir = lib.character_dir(&c.id);
        let mut rels: Vec<(&str, Option<&str>)> =
            vec![(RECORD_FILE, None), (&c.clip.path, c.clip.blake3())];
        let kept = c.keyframe_hashes();
        for (i, k) in c.keyframes.iter().enumerate() {
            rels.push((k, kept.as_ref().map(|h| h[i])));
        }
        for (rel, kept) in rels {
            if member(rel).is_none() {
                return Err(damaged(
                    c,
                    &format!("its record names {:?}", escape_display(rel)),
                ));
            }
            let path = dir.join(rel);
            let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("reading", &path, &e))?;
            if !meta.is_file() {
                return Err(damaged(c, &format!("{rel} is not a regular file")));
            }
            let hash = hash_file(&path).map_err(|e| Error::io("reading", &path, &e))?;
            if kept.is_some_and(|k| k != hash) {
                return Err(damaged(
                    c,
                    &format!("{rel} is not the file it was saved with"),
                ));
            }
            files.push((
                FileEntry {
                    path: format!("{}/{rel}", c.id),
                    size: meta.len(),
                    blake3: hash,
                },
                path,
            ));
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        castbook_version: env!("CARGO_PKG_VERSION").into(),
        characters: ids.iter().map(|c| c.id.clone()).collect(),
        files: files.iter().map(|(f, _)| f.clone()).collect(),
    };
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::other("json", e.to_string()))?;

    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".castpack-")
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(|e| Error::io("creating a file in", &parent, &e))?;
    let io = |e: std::io::Error| Error::io("writing", tmp.path(), &e);
    let mut tar = tar::Builder::new(BufWriter::new(tmp.as_file()));
    tar.mode(tar::HeaderMode::Deterministic);
    append(
        &mut tar,
        MANIFEST_FILE,
        manifest_bytes.len() as u64,
        &manifest_bytes[..],
    )
    .map_err(io)?;
    let mut bytes = manifest_bytes.len() as u64;
    for (entry, path) in &files {
        let f = File::open(path).map_err(|e| Error::io("reading", path, &e))?;
        append(&mut tar, &entry.path, entry.size, f.take(entry.size)).map_err(io)?;
        bytes += entry.size;
    }
    let buf = tar.into_inner().map_err(io)?;
    buf.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    let persisted = if force {
        tmp.persist(output).map_err(|e| e.error)
    } else {
        tmp.persist_noclobber(output).map_err(|e| e.error)
    };
    persisted.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::input(
                "output_exists",
                format!(
                    "{shown} already exists: choose another file, or pass --force to replace it"
                ),
            )
        } else {
            Error::io("writing", output, &e)
        }
    })?;
    Ok(PackSummary {
        path: output.to_path_buf(),
        characters: ids,
        files: files.len() + 1,
        bytes,
    })
}

fn damaged(c: &Character, what: &str) -> Error {
    Error::input(
        "damaged_character",
        format!(
            "{} ({}) cannot be packed: {what}; see `castbook doctor`",
            c.id,
            escape_display(&c.name)
        ),
    )
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, path, data)
}

/// Where an archive entry goes: the manifest, or a character's file.
enum Place {
    Manifest,
    File { id: String, rel: String },
}

/// Check an entry's path: `manifest.json` or `<id>/character.json|clip.mp4|keyframes/NN.jpg`.
fn place_of(path: &str) -> std::result::Result<Place, String> {
    if path.starts_with('/') {
        return Err("an absolute path".into());
    }
    if path.split('/').any(|c| c == ".." || c == ".") {
        return Err("a path that climbs out of the pack (\"..\")".into());
    }
    if path == MANIFEST_FILE {
        return Ok(Place::Manifest);
    }
    match path.split_once('/') {
        Some((id, rel)) if is_id(id) && member(rel).is_some() => Ok(Place::File {
            id: id.into(),
            rel: rel.into(),
        }),
        _ => Err("not a file a pack holds (manifest.json, <id>/character.json, <id>/clip.mp4, <id>/keyframes/NN.jpg)".into()),
    }
}

fn kind_of(t: tar::EntryType) -> Option<&'static str> {
    use tar::EntryType as T;
    match t {
        T::Regular => None,
        T::Symlink => Some("a symbolic link"),
        T::Link => Some("a hard link"),
        T::Char | T::Block => Some("a device"),
        T::Fifo => Some("a pipe"),
        T::Directory => Some("a folder"),
        _ => Some("not a regular file"),
    }
}

fn bad_pack(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |m: String| {
        Error::input(
            "bad_pack",
            format!(
                "{} is not a valid pack: {m}; nothing was imported",
                escape_display(&path.display().to_string())
            ),
        )
    }
}

/// Read and check a pack into a stage in the library's `.work/`.
pub fn stage_pack(lib: &Library, pack: &Path) -> Result<Stage> {
    let bad = bad_pack(pack);
    let meta = fs::metadata(pack).map_err(|e| Error::io("reading", pack, &e))?;
    if !meta.is_file() {
        return Err(bad("it is not a regular file".into()));
    }
    let file = File::open(pack).map_err(|e| Error::io("reading", pack, &e))?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("it is not a tar archive ({e})")))?;
    let mut stage = Stage::new(lib)?;
    let mut manifest: Option<(Vec<String>, BTreeMap<String, FileEntry>)> = None;
    let mut files: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("it is damaged or truncated ({e})")))?;
        count += 1;
        if count > MAX_FILES + 1 {
            return Err(bad(format!("it holds over {MAX_FILES} files")));
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw.clone()).map_err(|_| {
            bad(format!(
                "the entry {:?} has a name that is not UTF-8",
                String::from_utf8_lossy(&raw)
            ))
        })?;
        let shown = escape_display(&path);
        let place = place_of(&path).map_err(|why| bad(format!("the entry {shown:?} is {why}")))?;
        if let Some(kind) = kind_of(entry.header().entry_type()) {
            return Err(bad(format!(
                "the entry {shown:?} is {kind}: a pack holds regular files only"
            )));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| bad(format!("the entry {shown:?} has no readable size ({e})")))?;
        match place {
            Place::Manifest => {
                if manifest.is_some() || count != 1 {
                    return Err(bad("manifest.json must be its first entry, once".into()));
                }
                if size > MAX_MANIFEST_BYTES {
                    return Err(bad(format!(
                        "its manifest is {size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"
                    )));
                }
                let mut bytes = Vec::with_capacity(size as usize);
                (&mut entry)
                    .take(size)
                    .read_to_end(&mut bytes)
                    .map_err(|e| bad(format!("it is damaged or truncated ({e})")))?;
                manifest = Some(check_manifest(&bytes).map_err(&bad)?);
            }
            Place::File { id, rel } => {
                let Some((_, listed)) = manifest.as_mut() else {
                    return Err(bad("its first entry is not manifest.json".into()));
                };
                let Some(want) = listed.remove(&path) else {
                    return Err(bad(format!(
                        "the entry {shown:?} is not in its manifest, or is there twice"
                    )));
                };
                if size != want.size {
                    return Err(bad(format!(
                        "the entry {shown:?} is {size} bytes, its manifest says {}",
                        want.size
                    )));
                }
                let dest = stage.dir_of(&id).join(&rel);
                let (n, hash) = copy_hashed(&mut entry, &dest, size)
                    .map_err(|e| bad(format!("it is damaged or truncated at {shown:?} ({e})")))?;
                if n != size {
                    return Err(bad(format!(
                        "it is truncated: {shown:?} has {n} of its {size} bytes"
                    )));
                }
                if hash != want.blake3 {
                    return Err(bad(format!(
                        "{shown:?} was changed: its blake3 is {hash}, its manifest says {}",
                        want.blake3
                    )));
                }
                files.entry(id).or_default().insert(rel, hash);
            }
        }
    }
    let Some((characters, left)) = manifest else {
        return Err(bad("it is empty or has no manifest.json".into()));
    };
    if let Some(missing) = left.keys().next() {
        return Err(bad(format!(
            "it is truncated: {} file(s) its manifest lists are missing (first: {:?})",
            left.len(),
            escape_display(missing)
        )));
    }
    let mut listed_ids: Vec<&String> = files.keys().collect();
    listed_ids.sort();
    let mut said = characters.clone();
    said.sort();
    if listed_ids != said.iter().collect::<Vec<_>>() {
        return Err(bad(
            "its manifest's list of characters is not the characters it holds".into(),
        ));
    }
    stage.load(&files, &bad)?;
    Ok(stage)
}

/// Parse and bound the manifest: the files it lists, by path.
#[allow(clippy::type_complexity)]
fn check_manifest(
    bytes: &[u8],
) -> std::result::Result<(Vec<String>, BTreeMap<String, FileEntry>), String> {
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("its manifest.json is not a pack manifest ({e})"))?;
    if m.format != FORMAT {
        return Err(format!(
            "its manifest's format is {:?}, not {FORMAT:?}",
            escape_display(&m.format)
        ));
    }
    if m.format_version > FORMAT_VERSION {
        return Err(format!(
            "it was written by a newer castbook ({}, pack format {}): update castbook",
            escape_display(&m.castbook_version),
            m.format_version
        ));
    }
    if m.files.len() > MAX_FILES {
        return Err(format!(
            "its manifest lists {} files, over {MAX_FILES}",
            m.files.len()
        ));
    }
    let mut total = 0u64;
    let mut out = BTreeMap::new();
    for f in m.files {
        let shown = escape_display(&f.path);
        match place_of(&f.path) {
            Ok(Place::File { .. }) => {}
            Ok(Place::Manifest) => return Err("its manifest lists manifest.json".into()),
            Err(why) => return Err(format!("its manifest lists {shown:?}, {why}")),
        }
        if f.size > MAX_ENTRY_BYTES {
            return Err(format!(
                "its manifest lists {shown:?} at {} bytes, over the {MAX_ENTRY_BYTES}-byte limit per file",
                f.size
            ));
        }
        total = total.saturating_add(f.size);
        if total > MAX_TOTAL_BYTES {
            return Err(format!("its files are over {MAX_TOTAL_BYTES} bytes in all"));
        }
        if f.blake3.len() != 64 || !f.blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("its manifest's hash of {shown:?} is not a blake3"));
        }
        let path = f.path.clone();
        if out.insert(path, f).is_some() {
            return Err(format!("its manifest lists {shown:?} twice"));
        }
    }
    if m.characters.len() > MAX_FILES {
        return Err("its manifest lists too many characters".into());
    }
    Ok((m.characters, out))
}
