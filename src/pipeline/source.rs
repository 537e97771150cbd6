//! What a path given as a source is, found by `stat` before anything opens it: a FIFO, a
//! device, a socket or a folder would block a reader forever or feed it endless bytes, so
//! only regular files (or links to them) go further. Opening is non-blocking and re-checked
//! on the open handle, so a path swapped for a FIFO after the check cannot block either.

use std::fs::{File, Metadata};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::util::escape_display as esc;

/// The kind of a file system entry, in words ("a FIFO (named pipe)").
pub fn describe_kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device (a device, not a file)"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Whether an I/O error says a chain of symbolic links loops (ELOOP).
pub fn is_link_loop(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

fn shown(path: &Path) -> String {
    esc(&path.display().to_string())
}

/// Check that `path` is a non-empty regular file (or a link to one) without opening it;
/// returns its size. Every other case is one input error saying what the path is.
pub fn check_file(path: &Path) -> Result<u64> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == IoKind::NotFound => {
            let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
            return Err(if dangling {
                Error::input(
                    "input_missing",
                    format!(
                        "{} is a symbolic link to a file that does not exist: check where it points",
                        shown(path)
                    ),
                )
            } else {
                Error::input(
                    "input_missing",
                    format!("{} does not exist: check the path", shown(path)),
                )
            });
        }
        Err(e) if is_link_loop(&e) => {
            return Err(Error::input(
                "input_not_a_file",
                format!(
                    "{} is a symbolic link that loops (it leads back to itself): point it at a video file",
                    shown(path)
                ),
            ));
        }
        Err(e) if e.kind() == IoKind::PermissionDenied => {
            return Err(Error::input(
                "input_unreadable",
                format!(
                    "{} cannot be read (permission denied): check its permissions or those of its folders",
                    shown(path)
                ),
            ));
        }
        Err(e) => {
            return Err(Error::input(
                "input_unreadable",
                format!("{} cannot be read ({e}): check the path", shown(path)),
            ));
        }
    };
    if meta.is_dir() {
        return Err(Error::input(
            "input_is_directory",
            format!(
                "{} is a folder, not a video file: pass a clip inside it",
                shown(path)
            ),
        ));
    }
    if !meta.is_file() {
        return Err(not_a_file(path, &meta));
    }
    if meta.len() == 0 {
        return Err(Error::input(
            "input_empty",
            format!("{} is empty (0 bytes): pass a video clip", shown(path)),
        ));
    }
    match open_nonblocking(path) {
        Ok(f) => {
            // The path may have been swapped since the stat above.
            if let Ok(m) = f.metadata()
                && !m.is_file()
            {
                return Err(not_a_file(path, &m));
            }
        }
        Err(e) if e.kind() == IoKind::PermissionDenied => {
            return Err(Error::input(
                "input_unreadable",
                format!(
                    "{} cannot be read (permission denied): check its permissions",
                    shown(path)
                ),
            ));
        }
        Err(e) => {
            return Err(Error::input(
                "input_unreadable",
                format!("{} cannot be read ({e}): check the path", shown(path)),
            ));
        }
    }
    Ok(meta.len())
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

fn not_a_file(path: &Path, meta: &Metadata) -> Error {
    Error::input(
        "input_not_a_file",
        format!(
            "{} is {}, not a regular file: castbook reads clips from files; save the video to a file and pass that",
            shown(path),
            describe_kind(meta)
        ),
    )
}

/// Open `path` for reading without ever blocking on it (no FIFO or device can hold the
/// caller), and only if what was opened is a regular file.
pub fn open_regular(path: &Path) -> Result<File> {
    let file = open_nonblocking(path).map_err(|e| Error::io("reading", path, &e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("reading", path, &e))?;
    if !meta.is_file() {
        return Err(not_a_file(path, &meta));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_folders_are_named() {
        let e = check_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.code, "input_not_a_file");
        assert!(e.message.contains("character device"), "{}", e.message);
        assert!(!e.message.contains("empty"), "{}", e.message);
        let e = check_file(Path::new("/")).unwrap_err();
        assert_eq!(e.code, "input_is_directory");
        assert!(open_regular(Path::new("/dev/null")).is_err());
    }

    #[test]
    fn a_link_loop_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.mp4");
        let b = dir.path().join("b.mp4");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let e = check_file(&a).unwrap_err();
        assert!(e.message.contains("loops"), "{}", e.message);
        assert!(!e.message.contains("permissions"), "{}", e.message);
    }
}
