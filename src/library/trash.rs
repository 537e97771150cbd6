//! The trash (`<lib>/.trash/<id>-<UTC time>[-n]/`): what `remove` moved there, listed, and put
//! back by `restore`, under the library lock, with one rename.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::library::name::{is_id, name_key};
use crate::library::record::Character;
use crate::library::store::{Library, RECORD_FILE, read_record, remove_stray_temps, sync_dir};

/// One removed character waiting in the trash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashEntry {
    /// The character's ID (from the folder name, which `remove` wrote).
    pub id: String,
    /// The name its record holds, or `None` when the record cannot be read.
    pub name: Option<String>,
    /// When it was removed, RFC 3339 UTC (from the folder name).
    pub removed_at: String,
    /// The folder in the trash.
    pub folder: PathBuf,
}

impl Library {
    /// Every character in the trash, the oldest removal first. Folders that `remove` did not
    /// name (`<id>-<YYYYMMDDTHHMMSSZ>[-n]`) are not listed.
    pub fn trash(&self) -> Result<Vec<TrashEntry>> {
        let root = self.trash_root();
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("reading the trash", &root, &e)),
        };
        let mut out: Vec<(TrashEntry, u32)> = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some((id, removed_at, n)) = file_name.to_str().and_then(parse_trash_name) else {
                continue;
            };
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let folder = entry.path();
            let name = read_record(&folder.join(RECORD_FILE)).ok().map(|c| c.name);
            out.push((
                TrashEntry {
                    id,
                    name,
                    removed_at,
                    folder,
                },
                n,
            ));
        }
        out.sort_by(|(a, an), (b, bn)| (&a.removed_at, an, &a.id).cmp(&(&b.removed_at, bn, &b.id)));
        Ok(out.into_iter().map(|(e, _)| e).collect())
    }

    /// Put back the most recent trash entry whose ID is `id_or_name`, or else whose name is
    /// `id_or_name` (exactly, then compared as names are). Under the lock: refuses when a
    /// character with that ID is in the library again or another character holds the name;
    /// otherwise one rename brings the folder back, then the library folder is fsynced.
    pub fn restore(&self, id_or_name: &str) -> Result<Character> {
        let _lock = self.lock()?;
        let entries = self.trash()?;
        let wanted = id_or_name.trim();
        let by_id = |e: &&TrashEntry| e.id == wanted;
        let exact = |e: &&TrashEntry| e.name.as_deref() == Some(wanted);
        let key = name_key(wanted);
        let by_key = |e: &&TrashEntry| e.name.as_deref().is_some_and(|n| name_key(n) == key);
        let entry = entries
            .iter()
            .rev()
            .find(by_id)
            .or_else(|| entries.iter().rev().find(exact))
            .or_else(|| entries.iter().rev().find(by_key))
            .ok_or_else(|| {
                Error::input(
                    "not_found",
                    format!(
                        "no character with ID or name {id_or_name:?} in the trash of {}: see `castbook trash`",
                        self.root().display()
                    ),
                )
            })?;
        let record = read_record(&entry.folder.join(RECORD_FILE)).map_err(|reason| {
            Error::processing(
                "corrupt_record",
                format!(
                    "the record in {} cannot be read ({reason}): restore the folder by hand or leave it in the trash",
                    entry.folder.display()
                ),
            )
        })?;
        let dest = self.character_dir(&entry.id);
        if dest.exists() {
            let now = self
                .get(&entry.id)
                .ok()
                .flatten()
                .map(|c| format!(" (now named {:?})", c.name))
                .unwrap_or_default();
            return Err(Error::input(
                "id_exists",
                format!(
                    "{} is in the library again{now}: it was created again after the removal; remove that one first if you want the old one back (the trash entry stays at {})",
                    entry.id,
                    entry.folder.display()
                ),
            ));
        }
        if let Err(mut e) = self.check_name_free(&record.name, Some(&entry.id), None) {
            e.message = format!(
                "cannot restore {}: {}; rename the other character first (`castbook edit ID --name NEW`), then restore",
                entry.id,
                e.message.trim_end_matches(": choose another name")
            );
            return Err(e);
        }
        remove_stray_temps(&entry.folder);
        fs::rename(&entry.folder, &dest)
            .map_err(|e| Error::io("restoring from the trash", &entry.folder, &e))?;
        sync_dir(self.root());
        sync_dir(&self.trash_root());
        Ok(record)
    }
}

/// `<id>-<YYYYMMDDTHHMMSSZ>[-n]` -> (id, RFC 3339 time, n).
fn parse_trash_name(name: &str) -> Option<(String, String, u32)> {
    let (id, rest) = name.split_at_checked(17)?;
    if !is_id(id) {
        return None;
    }
    let rest = rest.strip_prefix('-')?;
    let (stamp, n) = match rest.split_once('-') {
        Some((s, n)) => (s, n.parse::<u32>().ok()?),
        None => (rest, 1),
    };
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 16 || !digits(0..8) || b[8] != b'T' || !digits(9..15) || b[15] != b'Z' {
        return None;
    }
    let removed_at = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    Some((id.to_string(), removed_at, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_folder_names() {
        assert_eq!(
            parse_trash_name("char_abcdefghijkl-20261128T223326Z"),
            Some(("char_abcdefghijkl".into(), "2026-11-28T22:33:26Z".into(), 1))
        );
        assert_eq!(
            parse_trash_name("char_abcdefghijkl-20261128T223326Z-3").map(|t| t.2),
            Some(3)
        );
        for bad in [
            "char_abcdefghijkl",
            "char_abcdefghijkl-",
            "char_abcdefghijkl-2026-11-28",
            "char_ABCDEFGHIJKL-20261128T223326Z",
            "char_abcdefghijkl-20261128T223326Z-x",
            "char_abcdefghijkl-20261128X223326Z",
            "notes.txt",
        ] {
            assert_eq!(parse_trash_name(bad), None, "{bad}");
        }
    }
}
