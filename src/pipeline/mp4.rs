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

/// The top-level layout of a file: its size, brand and `moov` body.
pub struct TopLevel {
    pub size: u64,
    pub major_brand: Option<[u8; 4]>,
    pub moov: Option<Vec<u8>>,
}

/// Walk the top-level boxes of `path`, reading only `ftyp` and `moov`. None when the file does
/// not start like an ISO media file.
pub fn top_level(path: &Path) -> Result<Option<TopLevel>> {
    let mut f = File::open(path).map_err(|e| Error::io("reading", path, &e))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io("reading", path, &e))?
        .len();
    let mut top = TopLevel {
        size,
        major_brand: None,
        moov: None,
    };
    let mut at = 0u64;
    let mut first = true;
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
        if first {
            if !matches!(
                &kind,
                b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
            ) {
                return Ok(None);
            }
            first = false;
        }
        let mut header = 8;
        if len == 1 {
            let Some(l) = be64(&head, 8) else { break };
            len = l;
            header = 16;
        } else if len == 0 {
            len = size - at;
        }
        if len < header {
            break;
        }
        match &kind {
            b"ftyp" => top.major_brand = head[8..12].try_into().ok(),
            b"moov" if top.moov.is_none() && len - header < 256 * 1024 * 1024 => {
                let mut body = vec![0u8; (len - header) as usize];
                f.seek(SeekFrom::Start(at + header))
                    .map_err(|e| Error::io("reading", path, &e))?;
                if f.read_exact(&mut body).is_ok() {
                    top.moov = Some(body);
                }
            }
            _ => {}
        }
        at = at.saturating_add(len);
    }
    Ok(Some(top))
}

/// Read the top-level boxes of `path` and summarise its `moov`.
pub fn inspect(path: &Path) -> Result<Summary> {
    let top = top_level(path)?.ok_or_else(|| bad(path, "not an MP4"))?;
    let moov = top.moov.ok_or_else(|| bad(path, "no moov box"))?;
    let mut summary = Summary {
        size_bytes: top.size,
        ..Default::default()
    };
    for t in tracks(&moov) {
        match &t.handler {
            b"soun" => summary.has_audio = true,
            b"vide" if summary.video.is_none() => {
                summary.video = Some(VideoTrack {
                    width: t.width,
                    height: t.height,
                    duration_s: t.media_duration_s(),
                    frames: t.sample_count(),
                });
            }
            _ => {}
        }
    }
    Ok(summary)
}

/// One `trak` of a movie, with its sample tables.
#[derive(Debug, Clone, Default)]
pub struct Track {
    pub handler: [u8; 4],
    /// Sample entry type: `avc1`, `hvc1`, `mp4a`, ...
    pub codec: [u8; 4],
    pub timescale: u32,
    pub media_duration: u64,
    /// Presentation size from `tkhd` (before rotation).
    pub width: u32,
    pub height: u32,
    /// Counter-clockwise degrees, as ffprobe reports the display matrix.
    pub rotation: i32,
    /// `stts`: (count, delta) runs.
    pub deltas: Vec<(u32, u32)>,
    /// `stss`: 1-based sync samples; None means every sample is a sync sample.
    pub sync: Option<Vec<u32>>,
    /// A `ctts` box: presentation order differs from decode order (B-frames).
    pub has_ctts: bool,
    /// `ctts`: (count, composition offset) runs.
    pub ctts: Vec<(u32, i64)>,
    /// `stsz`: uniform size (non-zero) or per-sample sizes.
    pub uniform_size: u32,
    pub sizes: Vec<u32>,
    pub count: u32,
    /// `stco`/`co64` chunk offsets and `stsc` runs (first_chunk, samples_per_chunk).
    pub chunk_offsets: Vec<u64>,
    pub stsc: Vec<(u32, u32)>,
    /// First `elst` entry's media time (-1: an empty edit), in media timescale.
    pub edit_media_time: Option<i64>,
    pub avcc: Option<Vec<u8>>,
    /// `esds` object type (0x40: AAC).
    pub audio_object_type: Option<u8>,
    pub channels: u16,
    pub sample_rate: u32,
}

impl Track {
    pub fn sample_count(&self) -> u64 {
        self.count as u64
    }

    pub fn media_duration_s(&self) -> f64 {
        if self.timescale > 0 {
            self.media_duration as f64 / self.timescale as f64
        } else {
            0.0
        }
    }

    /// Presentation timestamps of every sample (in decode order), in seconds, shifted by the
    /// edit list.
    pub fn sample_times(&self) -> Vec<f64> {
        let ts = self.timescale.max(1) as f64;
        let shift = self.edit_media_time.filter(|m| *m > 0).unwrap_or(0);
        let mut offsets = self
            .ctts
            .iter()
            .flat_map(|&(n, o)| std::iter::repeat_n(o, n as usize));
        let mut out = Vec::with_capacity(self.count as usize);
        let mut t: i64 = 0;
        for &(n, d) in &self.deltas {
            for _ in 0..n {
                let pts = t + offsets.next().unwrap_or(0);
                out.push((pts - shift) as f64 / ts);
                t += d as i64;
            }
        }
        out
    }

    /// The sample durations, in seconds.
    pub fn sample_durations(&self) -> Vec<f64> {
        let ts = self.timescale.max(1) as f64;
        self.deltas
            .iter()
            .flat_map(|&(n, d)| std::iter::repeat_n(d as f64 / ts, n as usize))
            .collect()
    }

    pub fn is_sync(&self, sample_index0: usize) -> bool {
        match &self.sync {
            None => true,
            Some(s) => s.binary_search(&(sample_index0 as u32 + 1)).is_ok(),
        }
    }

    /// The byte just past the last sample of this track.
    pub fn data_end(&self) -> u64 {
        let size_of = |i: usize| -> u64 {
            if self.uniform_size != 0 {
                self.uniform_size as u64
            } else {
                self.sizes.get(i).copied().unwrap_or(0) as u64
            }
        };
        let mut end = 0u64;
        let mut sample = 0usize;
        let chunks = self.chunk_offsets.len();
        for (ri, &(first, per)) in self.stsc.iter().enumerate() {
            let last = self
                .stsc
                .get(ri + 1)
                .map(|n| n.0 as usize - 1)
                .unwrap_or(chunks);
            for chunk in (first as usize).saturating_sub(1)..last.min(chunks) {
                let mut off = self.chunk_offsets[chunk];
                for _ in 0..per {
                    if sample >= self.count as usize {
                        return end;
                    }
                    off += size_of(sample);
                    sample += 1;
                }
                end = end.max(off);
            }
        }
        end
    }
}

fn full_box_version(b: &[u8]) -> u8 {
    b.first().copied().unwrap_or(0)
}

fn rotation_from_matrix(m: &[u8]) -> i32 {
    // a b u / c d v / x y w, 16.16 fixed point; rotation = atan2(b, a) clockwise in the file,
    // reported counter-clockwise as ffprobe does.
    let fx = |i: usize| {
        be32(m, i * 4)
            .map(|v| v as i32 as f64 / 65536.0)
            .unwrap_or(0.0)
    };
    let (a, b) = (fx(0), fx(1));
    let deg = b.atan2(a).to_degrees().round() as i32;
    (-deg).rem_euclid(360)
}

/// Parse the tracks of a `moov` body, in file order (ffmpeg's stream order).
pub fn tracks(moov: &[u8]) -> Vec<Track> {
    boxes(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| parse_trak(trak))
        .collect()
}

fn parse_trak(trak: &[u8]) -> Track {
    let mut t = Track::default();
    if let Some(tkhd) = child(trak, b"tkhd") {
        let v1 = full_box_version(tkhd) == 1;
        let matrix_at = if v1 { 52 } else { 40 };
        let off = if v1 { 88 } else { 76 };
        t.width = be32(tkhd, off).unwrap_or(0) >> 16;
        t.height = be32(tkhd, off + 4).unwrap_or(0) >> 16;
        if let Some(m) = tkhd.get(matrix_at..matrix_at + 36) {
            t.rotation = rotation_from_matrix(m);
        }
    }
    if let Some(elst) = child(trak, b"edts").and_then(|e| child(e, b"elst")) {
        let v1 = full_box_version(elst) == 1;
        let n = be32(elst, 4).unwrap_or(0) as usize;
        let entry = if v1 { 20 } else { 12 };
        for i in 0..n.min(16) {
            let at = 8 + i * entry;
            let mt = if v1 {
                be64(elst, at + 8).map(|v| v as i64)
            } else {
                be32(elst, at + 4).map(|v| v as i32 as i64)
            };
            if let Some(mt) = mt
                && mt >= 0
            {
                t.edit_media_time = Some(mt);
                break;
            }
        }
    }
    let Some(mdia) = child(trak, b"mdia") else {
        return t;
    };
    if let Some(h) = child(mdia, b"hdlr").and_then(|h| h.get(8..12)) {
        t.handler = h.try_into().unwrap();
    }
    if let Some(mdhd) = child(mdia, b"mdhd") {
        if full_box_version(mdhd) == 1 {
            t.timescale = be32(mdhd, 20).unwrap_or(0);
            t.media_duration = be64(mdhd, 24).unwrap_or(0);
        } else {
            t.timescale = be32(mdhd, 12).unwrap_or(0);
            t.media_duration = be32(mdhd, 16).unwrap_or(0) as u64;
        }
    }
    let Some(stbl) = child(mdia, b"minf").and_then(|m| child(m, b"stbl")) else {
        return t;
    };
    if let Some(stsd) = child(stbl, b"stsd")
        && let Some((kind, entry)) = boxes(stsd.get(8..).unwrap_or_default()).into_iter().next()
    {
        t.codec = kind;
        if &t.handler == b"vide" {
            if let Some(children) = entry.get(78..) {
                t.avcc = child(children, b"avcC").map(<[u8]>::to_vec);
            }
        } else if &t.handler == b"soun" {
            t.channels = entry
                .get(16..18)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .unwrap_or(0);
            t.sample_rate = be32(entry, 24).map(|v| v >> 16).unwrap_or(0);
            if let Some(children) = entry.get(28..)
                && let Some(esds) = child(children, b"esds")
            {
                t.audio_object_type = esds_object_type(esds.get(4..).unwrap_or_default());
            }
        }
    }
    if let Some(stts) = child(stbl, b"stts") {
        let n = be32(stts, 4).unwrap_or(0) as usize;
        t.deltas = (0..n)
            .map_while(|i| Some((be32(stts, 8 + i * 8)?, be32(stts, 12 + i * 8)?)))
            .collect();
    }
    if let Some(stss) = child(stbl, b"stss") {
        let n = be32(stss, 4).unwrap_or(0) as usize;
        t.sync = Some((0..n).map_while(|i| be32(stss, 8 + i * 4)).collect());
    }
    if let Some(ctts) = child(stbl, b"ctts") {
        t.has_ctts = true;
        let v1 = full_box_version(ctts) == 1;
        let n = be32(ctts, 4).unwrap_or(0) as usize;
        t.ctts = (0..n)
            .map_while(|i| {
                let count = be32(ctts, 8 + i * 8)?;
                let raw = be32(ctts, 12 + i * 8)?;
                Some((count, if v1 { raw as i32 as i64 } else { raw as i64 }))
            })
            .collect();
    }
    if let Some(stsz) = child(stbl, b"stsz") {
        t.uniform_size = be32(stsz, 4).unwrap_or(0);
        t.count = be32(stsz, 8).unwrap_or(0);
        if t.uniform_size == 0 {
            t.sizes = (0..t.count as usize)
                .map_while(|i| be32(stsz, 12 + i * 4))
                .collect();
        }
    }
    if let Some(stsc) = child(stbl, b"stsc") {
        let n = be32(stsc, 4).unwrap_or(0) as usize;
        t.stsc = (0..n)
            .map_while(|i| Some((be32(stsc, 8 + i * 12)?, be32(stsc, 12 + i * 12)?)))
            .collect();
    }
    if let Some(stco) = child(stbl, b"stco") {
        let n = be32(stco, 4).unwrap_or(0) as usize;
        t.chunk_offsets = (0..n)
            .map_while(|i| be32(stco, 8 + i * 4).map(u64::from))
            .collect();
    } else if let Some(co64) = child(stbl, b"co64") {
        let n = be32(co64, 4).unwrap_or(0) as usize;
        t.chunk_offsets = (0..n).map_while(|i| be64(co64, 8 + i * 8)).collect();
    }
    t
}

/// The objectTypeIndication of an ES descriptor (tag 3) -> decoder config (tag 4).
fn esds_object_type(d: &[u8]) -> Option<u8> {
    fn descriptor(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *d.first()?;
        let mut len = 0usize;
        let mut at = 1;
        for _ in 0..4 {
            let b = *d.get(at)?;
            at += 1;
            len = (len << 7) | (b & 0x7f) as usize;
            if b & 0x80 == 0 {
                break;
            }
        }
        let body = d.get(at..at + len)?;
        Some((tag, body, &d[at + len..]))
    }
    let (tag, es, _) = descriptor(d)?;
    if tag != 3 {
        return None;
    }
    let flags = *es.get(2)?;
    let mut at = 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + *es.get(at)? as usize;
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let (tag, dc, _) = descriptor(es.get(at..)?)?;
    (tag == 4).then(|| dc.first().copied()).flatten()
}
