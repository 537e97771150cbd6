//! The character ID (SPEC section 2): `char_` + the first 12 characters of the lowercase
//! RFC 4648 base32 of blake3(source bytes || window start in ms as u64 little-endian ||
//! UTF-8 of the NFC name as first given).

use std::io::Read;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Hashes of a source file: its own blake3 and the ID hasher fed with the same bytes.
pub struct SourceDigest {
    pub size_bytes: u64,
    pub blake3: String,
    id_hasher: blake3::Hasher,
}

impl SourceDigest {
    /// Read `path` once, feeding both hashers.
    pub fn of_file(path: &Path) -> Result<Self> {
        Self::read(path, &CancellationToken::new())
    }

    /// `of_file`, stopping with `Error::cancelled()` as soon as `cancel` is set.
    pub fn read(path: &Path, cancel: &CancellationToken) -> Result<Self> {
        let mut f = crate::pipeline::source::open_regular(path)?;
        let mut content = blake3::Hasher::new();
        let mut id_hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            if cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            let n = f
                .read(&mut buf)
                .map_err(|e| Error::io("reading", path, &e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            content.update(&buf[..n]);
            id_hasher.update(&buf[..n]);
        }
        Ok(SourceDigest {
            size_bytes: size,
            blake3: content.finalize().to_hex().to_string(),
            id_hasher,
        })
    }

    /// The character ID for this source, window start and normalised name.
    pub fn character_id(&self, start_ms: u64, name: &str) -> String {
        let mut h = self.id_hasher.clone();
        h.update(&start_ms.to_le_bytes());
        h.update(name.as_bytes());
        id_from_hash(h.finalize().as_bytes())
    }
}

fn id_from_hash(bytes: &[u8]) -> String {
    let b32 = data_encoding::BASE32_NOPAD
        .encode(bytes)
        .to_ascii_lowercase();
    format!("char_{}", &b32[..12])
}

/// The ID for in-memory source bytes (used by tests and docs).
pub fn character_id(source: &[u8], start_ms: u64, name: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(source);
    h.update(&start_ms.to_le_bytes());
    h.update(name.as_bytes());
    id_from_hash(h.finalize().as_bytes())
}

/// Window start in whole milliseconds, as hashed into the ID.
pub fn start_ms(start_s: f64) -> u64 {
    (start_s * 1000.0).round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shape_and_determinism() {
        let a = character_id(b"abc", 0, "wolf");
        assert!(crate::library::name::is_id(&a), "{a}");
        assert_eq!(a, character_id(b"abc", 0, "wolf"));
        assert_ne!(a, character_id(b"abc", 1, "wolf"));
        assert_ne!(a, character_id(b"abd", 0, "wolf"));
        assert_ne!(a, character_id(b"abc", 0, "Wolf"));
    }

    #[test]
    fn file_digest_matches_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let d = SourceDigest::of_file(&p).unwrap();
        assert_eq!(d.size_bytes, data.len() as u64);
        assert_eq!(d.blake3, blake3::hash(&data).to_hex().to_string());
        assert_eq!(d.character_id(1500, "n"), character_id(&data, 1500, "n"));
    }
}
