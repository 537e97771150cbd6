//! Paths looked up relative to an open library folder (`openat`/`fstatat`): reading or
//! checking 10,000 records walks two path components each instead of the whole path.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// An open folder that paths are looked up in.
#[derive(Debug)]
pub(crate) struct Dir {
    dir: File,
}

/// What a `stat` says of a file, enough to tell that it changed: device and inode, size,
/// modification and change times (nanoseconds), and the file type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mode: u32,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl StatKey {
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    fn of(st: &libc::stat) -> StatKey {
        StatKey {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mode: st.st_mode,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// The `stat` of an open file.
    pub fn of_file(f: &File) -> Option<StatKey> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `st` is a buffer of the right type that fstat fills when it returns 0.
        let rc = unsafe { libc::fstat(f.as_raw_fd(), st.as_mut_ptr()) };
        // SAFETY: fstat returned 0, so `st` is initialised.
        (rc == 0).then(|| StatKey::of(&unsafe { st.assume_init() }))
    }
}

/// Whether the filesystem holding `f` keeps a file's change time itself, on every change of
/// its content, on this machine's clock and without caching attributes of changes made
/// elsewhere: the local filesystems. Network filesystems (NFS, SMB) may answer `stat` from
/// a cache and FUSE filesystems may report a change time a user can set (sshfs and rclone
/// give the modification time), so there a `stat` proves nothing about the content.
pub(crate) fn keeps_change_times(f: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: `st` is a buffer of the right type that fstatfs fills when it returns 0.
        if unsafe { libc::fstatfs(f.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return false;
        }
        // SAFETY: fstatfs returned 0, so `st` is initialised.
        #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between architectures.
        let kind = unsafe { st.assume_init() }.f_type as i64;
        const LOCAL: [i64; 8] = [
            0xEF53,      // ext2/3/4
            0x5846_5342, // xfs
            0x9123_683E, // btrfs
            0x0102_1994, // tmpfs
            0xF2F5_2010, // f2fs
            0x2FC1_2FC1, // zfs
            0xCA45_1A4E, // bcachefs
            0x794C_7630, // overlayfs
        ];
        LOCAL.contains(&kind)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = f;
        false
    }
}

impl Dir {
    pub fn open(path: &Path) -> std::io::Result<Dir> {
        Ok(Dir {
            dir: File::open(path)?,
        })
    }

    /// The open folder itself.
    pub fn file(&self) -> &File {
        &self.dir
    }

    /// The `stat` of `folder/rel` (or of `folder` when `rel` is empty), built without
    /// allocating: this runs three times per character in `list`.
    pub fn stat_in(&self, folder: &str, rel: &str) -> Option<StatKey> {
        thread_local! {
            static PATH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        PATH.with_borrow_mut(|buf| {
            buf.clear();
            buf.extend_from_slice(folder.as_bytes());
            if !rel.is_empty() {
                buf.push(b'/');
                buf.extend_from_slice(rel.as_bytes());
            }
            buf.push(0);
            let c = std::ffi::CStr::from_bytes_with_nul(buf).ok()?;
            self.stat_c(c)
        })
    }

    fn stat_c(&self, c: &std::ffi::CStr) -> Option<StatKey> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c` is a NUL-terminated path, `st` a buffer of the right type that fstatat
        // fills completely when it returns 0.
        let rc = unsafe { libc::fstatat(self.dir.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), 0) };
        if rc != 0 {
            return None;
        }
        // SAFETY: fstatat returned 0, so `st` is initialised.
        Some(StatKey::of(&unsafe { st.assume_init() }))
    }

    /// `rel` opened for reading.
    pub fn open_file(&self, rel: &str) -> std::io::Result<File> {
        let c = CString::new(Path::new(rel).as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a NUL-terminated path; the returned descriptor is owned by the File.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::Dir;

    #[test]
    fn stat_and_open_are_relative_to_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        std::fs::write(tmp.path().join("a/f.txt"), b"hello").unwrap();
        let d = Dir::open(tmp.path()).unwrap();
        let k = d.stat_in("a", "f.txt").unwrap();
        assert!(k.is_file());
        assert_eq!(k.size, 5);
        assert!(!d.stat_in("a", "").unwrap().is_file());
        assert!(d.stat_in("a", "missing").is_none());
        assert!(d.stat_in("bad\0name", "").is_none());
        let mut s = String::new();
        std::io::Read::read_to_string(&mut d.open_file("a/f.txt").unwrap(), &mut s).unwrap();
        assert_eq!(s, "hello");
        // Rewritten in place: the key changes (size here; times at least on every write).
        std::fs::write(tmp.path().join("a/f.txt"), b"hello!").unwrap();
        assert_ne!(d.stat_in("a", "f.txt").unwrap(), k);
    }
}
