//! A minimal MP4 box reader for the clips castbook writes: the video track's size, duration
//! and sample count, and whether there is an audio track. Reading the `moov` box directly
//! (it is at the front: `+faststart`) checks the prepared clip without starting ffprobe.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoTrack {
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
    pub frames: u64,
}

impl VideoTrack {
    pub fn fps(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.frames as f64 / self.duration_s
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub size_bytes: u64,
    pub video: Option<VideoTrack>,
    pub has_audio: bool,
    /// `moov` comes before `mdat` (`+faststart`).
    pub faststart: bool,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_be_bytes(s.try_into().unwrap()))
}

/// Child boxes of `data`: (type, body).
fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size = be32(data, at).unwrap_or(0) as u64;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let (header, size) = match size {
            1 => (16usize, be64(data, at + 8).unwrap_or(0)),
            0 => (8usize, (data.len() - at) as u64),
            s => (8usize, s),
        };
        if size < header as u64 || at as u64 + size > data.len() as u64 {
            break;
        }
        out.push((kind, &data[at + header..at + size as usize]));
        at += size as usize;
    }
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

fn bad(path: &Path, what: &str) -> Error {
    Error::processing(
        "ffmpeg_failed",
        format!(
            "the prepared clip {} is not a valid MP4 ({what})",
            path.display()
        ),
    )
}

/// Read the top-level boxes of `path` and summarise its `moov`.
pub fn inspect(path: &Path) -> Result<Summary> {
    let mut f = File::open(path).map_err(|e| Error::io("reading", path, &e))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io("reading", path, &e))?
        .len();
    let mut at = 0u64;
    let mut moov = None;
    let mut mdat_at = None;
    let mut moov_at = None;
    while at + 8 <= size {
        let mut head = [0u8; 16];
        f.seek(SeekFrom::Start(at))
            .map_err(|e| Error::io("reading", path, &e))?;
        let n = f
            .read(&mut head)
            .map_err(|e| Error::io("reading", path, &e))?;
        if n < 8 {
            break;
        }
        let mut len = be32(&head, 0).unwrap() as u64;
        let kind: [u8; 4] = head[4..8].try_into().unwrap();
        let mut header = 8;
        if len == 1 {
            len = be64(&head, 8).ok_or_else(|| bad(path, "short box header"))?;
            header = 16;
        } else if len == 0 {
            len = size - at;
        }
        if len < header {
            return Err(bad(path, "box size"));
        }
        match &kind {
            b"moov" => {
                moov_at = Some(at);
                let mut body = vec![0u8; (len - header) as usize];
                f.seek(SeekFrom::Start(at + header))
                    .map_err(|e| Error::io("reading", path, &e))?;
                f.read_exact(&mut body)
                    .map_err(|_| bad(path, "moov cut short"))?;
                moov = Some(body);
            }
            b"mdat" => mdat_at = mdat_at.or(Some(at)),
            _ => {}
        }
        at += len;
    }
    let moov = moov.ok_or_else(|| bad(path, "no moov box"))?;
    let mut summary = Summary {
        size_bytes: size,
        faststart: matches!((moov_at, mdat_at), (Some(m), Some(d)) if m < d),
        ..Default::default()
    };
    for (kind, trak) in boxes(&moov) {
        if &kind != b"trak" {
            continue;
        }
        let Some(mdia) = child(trak, b"mdia") else {
            continue;
        };
        let handler = child(mdia, b"hdlr")
            .and_then(|h| h.get(8..12))
            .unwrap_or(b"????");
        match handler {
            b"soun" => summary.has_audio = true,
            b"vide" => {
                let mdhd = child(mdia, b"mdhd").ok_or_else(|| bad(path, "no mdhd"))?;
                let (timescale, duration) = if mdhd.first() == Some(&1) {
                    (
                        be32(mdhd, 20).unwrap_or(0) as u64,
                        be64(mdhd, 24).unwrap_or(0),
                    )
                } else {
                    (
                        be32(mdhd, 12).unwrap_or(0) as u64,
                        be32(mdhd, 16).unwrap_or(0) as u64,
                    )
                };
                let tkhd = child(trak, b"tkhd").ok_or_else(|| bad(path, "no tkhd"))?;
                let off = if tkhd.first() == Some(&1) { 88 } else { 76 };
                let width = be32(tkhd, off).unwrap_or(0) >> 16;
                let height = be32(tkhd, off + 4).unwrap_or(0) >> 16;
                let frames = child(mdia, b"minf")
                    .and_then(|m| child(m, b"stbl"))
                    .and_then(|s| child(s, b"stsz"))
                    .and_then(|s| be32(s, 8))
                    .unwrap_or(0) as u64;
                summary.video = Some(VideoTrack {
                    width,
                    height,
                    duration_s: if timescale > 0 {
                        duration as f64 / timescale as f64
                    } else {
                        0.0
                    },
                    frames,
                });
            }
            _ => {}
        }
    }
    Ok(summary)
}
