//! Library health (`castbook doctor`): every problem a library can have, found by reading it,
//! and the repairs that lose nothing (broken records to the trash, temporary files removed,
//! keyframes replaced by ones made again from the clip). Knows nothing of ffmpeg: the caller
//! makes the new keyframes.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::library::name::is_id;
use crate::library::record::{Character, SCHEMA};
use crate::library::store::{
    LEGACY_TMP_PREFIX, Library, RECORD_FILE, WorkDir, hash_file, is_edit_temp, read_record,
    safe_relative, sync_dir,
};

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// `character.json` is missing or is not a character record.
    UnreadableRecord,
    /// The record's `id` is not the name of its folder.
    IdMismatch,
    /// The record was written by a newer castbook (a schema this one does not know).
    UnknownSchema,
    /// The clip is gone.
    MissingClip,
    /// The clip's bytes are not the ones saved (hash or size differs).
    ChangedClip,
    /// A keyframe is gone.
    MissingKeyframe,
    /// A keyframe's bytes are not the ones saved.
    ChangedKeyframe,
    /// A temporary file a killed castbook left behind.
    StrayTemp,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::UnreadableRecord => "unreadable_record",
            ProblemKind::IdMismatch => "id_mismatch",
            ProblemKind::UnknownSchema => "unknown_schema",
            ProblemKind::MissingClip => "missing_clip",
            ProblemKind::ChangedClip => "changed_clip",
            ProblemKind::MissingKeyframe => "missing_keyframe",
            ProblemKind::ChangedKeyframe => "changed_keyframe",
            ProblemKind::StrayTemp => "stray_temp",
        }
    }

    /// Whether `--repair` fixes it (without losing anything).
    pub fn repairable(self) -> bool {
        matches!(
            self,
            ProblemKind::UnreadableRecord
                | ProblemKind::MissingKeyframe
                | ProblemKind::ChangedKeyframe
                | ProblemKind::StrayTemp
        )
    }
}

/// One problem: its kind, the character folder it is in (if any), the file, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The character folder's name (its ID), when the problem is in one.
    pub id: Option<String>,
    pub path: PathBuf,
    /// What is wrong and how to fix it.
    pub message: String,
    pub repairable: bool,
}

impl Problem {
    fn new(kind: ProblemKind, id: Option<&str>, path: PathBuf, message: String) -> Problem {
        Problem {
            kind,
            id: id.map(str::to_string),
            path,
            message,
            repairable: kind.repairable(),
        }
    }
}

/// How deep a check reads the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Presence, and the clip's size: a few `stat` calls per character (`list`, `show`).
    Quick,
    /// Every byte, against the hashes the record keeps (`doctor`).
    Full,
}

/// The problems of one readable character's files (clip and keyframes).
pub fn check_files(lib: &Library, c: &Character, depth: Depth) -> Vec<Problem> {
    let dir = lib.character_dir(&c.id);
    let id = Some(c.id.as_str());
    let mut out = Vec::new();
    let resolve = |rel: &str| safe_relative(rel).map(|r| dir.join(r));
    match resolve(&c.clip.path) {
        None => out.push(Problem::new(
            ProblemKind::ChangedClip,
            id,
            dir.join(RECORD_FILE),
            format!(
                "the record names the clip {:?}, a path outside its folder: the record was edited by hand; put back \"clip.mp4\"",
                c.clip.path
            ),
        )),
        Some(clip) => match fs::metadata(&clip) {
            Err(_) => out.push(Problem::new(
                ProblemKind::MissingClip,
                id,
                clip,
                "the clip is gone: restore it from a backup (or your git history), or remove the character and create it again from its source".into(),
            )),
            Ok(m) if !m.is_file() || m.len() != c.clip.size_bytes => out.push(Problem::new(
                ProblemKind::ChangedClip,
                id,
                clip,
                format!(
                    "the clip is {} bytes, the record says {}: restore it from a backup, or remove the character and create it again",
                    m.len(),
                    c.clip.size_bytes
                ),
            )),
            Ok(_) => {
                if depth == Depth::Full
                    && let Some(want) = c.clip.blake3()
                    && hash_file(&clip).ok().as_deref() != Some(want)
                {
                    out.push(Problem::new(
                        ProblemKind::ChangedClip,
                        id,
                        clip,
                        "the clip's bytes are not the ones saved (its blake3 differs): restore it from a backup, or remove the character and create it again".into(),
                    ));
                }
            }
        },
    }
    let hashes = c.keyframe_hashes();
    for (i, k) in c.keyframes.iter().enumerate() {
        let Some(path) = resolve(k) else {
            out.push(Problem::new(
                ProblemKind::ChangedKeyframe,
                id,
                dir.join(RECORD_FILE),
                format!("the record names the keyframe {k:?}, a path outside its folder"),
            ));
            continue;
        };
        if !path.is_file() {
            out.push(Problem::new(
                ProblemKind::MissingKeyframe,
                id,
                path,
                "the keyframe is gone: `castbook doctor --repair` makes it again from the clip"
                    .into(),
            ));
            continue;
        }
        if depth == Depth::Full
            && let Some(want) = hashes.as_ref().map(|h| h[i])
            && hash_file(&path).ok().as_deref() != Some(want)
        {
            out.push(Problem::new(
                ProblemKind::ChangedKeyframe,
                id,
                path,
                "the keyframe's bytes are not the ones saved: `castbook doctor --repair` makes it again from the clip".into(),
            ));
        }
    }
    out
}

/// Whether a problem found by `check_files` makes the character damaged (it is shown marked).
pub fn is_damage(p: &Problem) -> bool {
    p.kind != ProblemKind::StrayTemp && p.kind != ProblemKind::UnknownSchema
}

impl Library {
    /// Every problem in the library, in folder order: records, files (against their hashes),
    /// temporary files left by killed runs in character folders, the trash and `.work/`.
    pub fn doctor(&self) -> Result<Vec<Problem>> {
        let mut dirs: Vec<(String, PathBuf)> = fs::read_dir(self.root())
            .map_err(|e| Error::io("reading the library", self.root(), &e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                is_id(&name).then(|| (name, e.path()))
            })
            .collect();
        dirs.sort();
        let mut out = Vec::new();
        for (id, dir) in &dirs {
            let record = dir.join(RECORD_FILE);
            match read_record(&record) {
                Err(reason) => out.push(Problem::new(
                    ProblemKind::UnreadableRecord,
                    Some(id),
                    record,
                    format!(
                        "the record cannot be read ({reason}): `castbook doctor --repair` moves the folder to the trash (`castbook trash` lists it)"
                    ),
                )),
                Ok(c) if c.id != *id => out.push(Problem::new(
                    ProblemKind::IdMismatch,
                    Some(id),
                    record,
                    format!(
                        "the record says its ID is {}, but its folder is {id}: if the folder was copied or renamed by hand, rename it back to {} (or move it out of the library)",
                        crate::util::escape_display(&c.id),
                        crate::util::escape_display(&c.id)
                    ),
                )),
                Ok(c) => {
                    if c.schema > SCHEMA {
                        out.push(Problem::new(
                            ProblemKind::UnknownSchema,
                            Some(id),
                            record,
                            format!(
                                "the record has schema {}, newer than this castbook knows ({SCHEMA}): update castbook",
                                c.schema
                            ),
                        ));
                    }
                    out.extend(check_files(self, &c, Depth::Full));
                }
            }
            out.extend(stray_temps(dir, Some(id)));
        }
        if let Ok(entries) = fs::read_dir(self.trash_root()) {
            let mut trash: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            trash.sort();
            for dir in trash {
                out.extend(stray_temps(&dir, None));
            }
        }
        // Edit temporaries in `.work/`: only when no edit runs (one holds the lock).
        if let Some(_lock) = self.try_lock()? {
            for path in self.edit_temps() {
                out.push(Problem::new(
                    ProblemKind::StrayTemp,
                    None,
                    path,
                    "a temporary record a killed edit left: `castbook doctor --repair` removes it (any castbook command will too)".into(),
                ));
            }
        }
        Ok(out)
    }

    /// Fix what can be fixed without losing anything: unreadable records go to the trash with
    /// their folder, temporary files are removed. Keyframes need new files: see
    /// `replace_keyframes`. Returns the problems fixed.
    pub fn repair(&self, problems: &[Problem]) -> Result<Vec<Problem>> {
        let _lock = self.lock()?;
        let mut fixed = Vec::new();
        for p in problems {
            match p.kind {
                ProblemKind::StrayTemp => {
                    let in_work = p.path.parent() == Some(self.work_root().as_path())
                        && p.path
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(is_edit_temp);
                    if (in_work || is_legacy_temp(&p.path)) && fs::remove_file(&p.path).is_ok() {
                        fixed.push(p.clone());
                    }
                }
                ProblemKind::UnreadableRecord => {
                    let Some(id) = p.id.as_deref() else { continue };
                    // Still unreadable under the lock (another process may have fixed it).
                    if read_record(&self.character_dir(id).join(RECORD_FILE)).is_ok() {
                        continue;
                    }
                    self.move_to_trash(id)?;
                    fixed.push(p.clone());
                }
                _ => {}
            }
        }
        Ok(fixed)
    }

    /// Put the keyframes made again in `work` (`work/<keyframe path>` for each of the
    /// record's keyframes) in place of the character's, under the lock, each by one rename,
    /// then record their hashes. Refused when the clip is not the one saved (the new keyframes
    /// would show something else).
    pub fn replace_keyframes(&self, id: &str, work: WorkDir) -> Result<Character> {
        let _lock = self.lock()?;
        let c = self
            .get(id)?
            .ok_or_else(|| Error::input("not_found", format!("no character with ID {id}")))?;
        if check_files(self, &c, Depth::Full)
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::MissingClip | ProblemKind::ChangedClip))
        {
            return Err(Error::input(
                "changed_clip",
                format!(
                    "{id}: the clip is not the one saved, so its keyframes are not made again from it"
                ),
            ));
        }
        let dir = self.character_dir(id);
        let mut hashes = Vec::new();
        for k in &c.keyframes {
            let rel = safe_relative(k).ok_or_else(|| {
                Error::input(
                    "record_path",
                    format!("{id}: the keyframe {k:?} is outside its folder"),
                )
            })?;
            let (from, to) = (work.path().join(rel), dir.join(rel));
            hashes.push(hash_file(&from).map_err(|e| Error::io("hashing", &from, &e))?);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, &e))?;
            }
            fs::rename(&from, &to).map_err(|e| Error::io("replacing", &to, &e))?;
            if let Some(parent) = to.parent() {
                sync_dir(parent);
            }
        }
        let clip = c.clip.blake3().map(str::to_string);
        let keep_hashes = c.keyframe_hashes().is_some();
        let mut updated = c;
        if keep_hashes {
            updated.set_file_hashes(clip, hashes);
        }
        self.write_record(id, &updated)?;
        Ok(updated)
    }
}

/// Temporary files in a character folder (or a trash entry) that a killed edit left.
fn stray_temps(dir: &Path, id: Option<&str>) -> Vec<Problem> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Problem> = entries
        .flatten()
        .filter(|e| is_legacy_temp(&e.path()))
        .map(|e| {
            Problem::new(
                ProblemKind::StrayTemp,
                id,
                e.path(),
                "a temporary record a killed edit left: `castbook doctor --repair` removes it"
                    .into(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn is_legacy_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(LEGACY_TMP_PREFIX))
}
