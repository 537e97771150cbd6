//! A minimal MP4 box reader: the tracks of a `moov` (size, rotation, codec, sample tables)
//! and a summary of a file. It reads untrusted files, so no allocation or loop is sized by a
//! number from the file before that number is checked against the file's size and the other
//! tables: table runs are walked, never expanded, and a track claiming more samples than its
//! tables or its file can hold is read as having none (ffprobe then reads the file instead).

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

/// The most samples a track may have for its tables to be used (77 hours at 60 fps).
pub const MAX_SAMPLES: u32 = 1 << 24;
/// The largest `moov` body read into memory; a larger one is left to ffprobe.
pub const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
/// The most top-level boxes walked looking for `moov` (a fragmented file has two per
/// fragment).
pub const MAX_TOP_BOXES: usize = 100_000;
/// The most keyframe times `Track::keyframe_times` returns.
pub const MAX_KEYFRAMES: usize = 10_000;

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
    top_level_of(&mut f, size).map_err(|e| Error::io("reading", path, &e))
}

/// `top_level` of any seekable source of `size` bytes.
pub fn top_level_of(f: &mut (impl Read + Seek), size: u64) -> std::io::Result<Option<TopLevel>> {
    let mut top = TopLevel {
        size,
        major_brand: None,
        moov: None,
    };
    let mut at = 0u64;
    let mut first = true;
    // Everything needed is in `ftyp` and `moov`: the walk ends at the `moov`, or after
    // `MAX_TOP_BOXES` boxes (a file of millions of tiny boxes is not walked to its end).
    let mut walked = 0;
    while at + 8 <= size && top.moov.is_none() && walked < MAX_TOP_BOXES {
        walked += 1;
        let mut head = [0u8; 16];
        f.seek(SeekFrom::Start(at))?;
        let n = read_up_to(f, &mut head)?;
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
            // Read only a body that fits in the file and under the cap.
            b"moov"
                if top.moov.is_none()
                    && len - header <= MAX_MOOV_BYTES
                    && at.saturating_add(len) <= size =>
            {
                let mut body = vec![0u8; (len - header) as usize];
                f.seek(SeekFrom::Start(at + header))?;
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

/// Read until `buf` is full or the source ends; the bytes read.
fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read the top-level boxes of `path` and summarise its `moov`.
pub fn inspect(path: &Path) -> Result<Summary> {
    let top = top_level(path)?.ok_or_else(|| bad(path, "not an MP4"))?;
    summarise(&top).ok_or_else(|| bad(path, "no moov box"))
}

/// The summary of a file's top-level layout; None without a `moov`.
pub fn summarise(top: &TopLevel) -> Option<Summary> {
    let moov = top.moov.as_ref()?;
    let mut summary = Summary {
        size_bytes: top.size,
        ..Default::default()
    };
    for t in tracks(moov, top.size) {
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
    Some(summary)
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
    /// The sample count of `stsz`, once checked: at most `MAX_SAMPLES`, each sample with its
    /// size entry or its uniform size within the file; 0 when the claim does not hold.
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

    /// The samples in decode order, walked from the table runs (nothing is expanded): at most
    /// `count` of them, fewer when `stts` covers fewer.
    pub fn samples(&self) -> Samples<'_> {
        Samples {
            track: self,
            ts: self.timescale.max(1) as f64,
            shift: self.edit_media_time.filter(|m| *m > 0).unwrap_or(0),
            index: 0,
            dts: 0,
            stts: Runs::new(&self.deltas),
            ctts: Runs::new(&self.ctts),
            sync_at: 0,
        }
    }

    /// The `stts` runs cut to the samples the track has: (count, delta).
    pub fn duration_runs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut left = self.count;
        self.deltas.iter().map_while(move |&(n, d)| {
            (left > 0).then(|| {
                let n = n.min(left);
                left -= n;
                (n, d)
            })
        })
    }

    /// Presentation times of the sync samples up to `until_s`, at most `MAX_KEYFRAMES`.
    pub fn keyframe_times(&self, until_s: f64) -> Vec<f64> {
        let mut out = Vec::new();
        for s in self.samples() {
            if out.len() >= MAX_KEYFRAMES {
                break;
            }
            if s.sync && s.pts_s <= until_s {
                out.push(s.pts_s);
            }
        }
        out
    }

    /// The bytes of the samples, summed from `stsz`.
    pub fn data_bytes(&self) -> u64 {
        if self.uniform_size != 0 {
            self.uniform_size as u64 * self.count as u64
        } else {
            self.sizes
                .iter()
                .take(self.count as usize)
                .map(|s| *s as u64)
                .sum()
        }
    }

    /// The byte just past the last sample of this track, walked chunk by chunk.
    pub fn data_end(&self) -> u64 {
        let count = self.count as u64;
        let chunks = self.chunk_offsets.len();
        let mut end = 0u64;
        let mut sample = 0u64;
        for (ri, &(first, per)) in self.stsc.iter().enumerate() {
            let last = self
                .stsc
                .get(ri + 1)
                .map(|n| (n.0 as usize).saturating_sub(1))
                .unwrap_or(chunks)
                .min(chunks);
            for &chunk_at in self
                .chunk_offsets
                .get((first as usize).saturating_sub(1)..last)
                .unwrap_or_default()
            {
                if sample >= count {
                    return end;
                }
                let n = (per as u64).min(count - sample);
                let bytes = if self.uniform_size != 0 {
                    n * self.uniform_size as u64
                } else {
                    self.sizes
                        .iter()
                        .skip(sample as usize)
                        .take(n as usize)
                        .map(|s| *s as u64)
                        .sum()
                };
                sample += n;
                end = end.max(chunk_at.saturating_add(bytes));
            }
        }
        end
    }
}

/// One sample of a track, in decode order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// 0-based decode index.
    pub index: u32,
    /// Presentation time in seconds, shifted by the edit list.
    pub pts_s: f64,
    pub duration_s: f64,
    pub sync: bool,
}

/// A position in a list of (count, value) runs.
struct Runs<'a, T> {
    runs: &'a [(u32, T)],
    at: usize,
    used: u32,
}

impl<'a, T: Copy> Runs<'a, T> {
    fn new(runs: &'a [(u32, T)]) -> Self {
        Runs {
            runs,
            at: 0,
            used: 0,
        }
    }
    /// The value of the next sample, skipping empty runs.
    fn next(&mut self) -> Option<T> {
        loop {
            let &(n, v) = self.runs.get(self.at)?;
            if self.used < n {
                self.used += 1;
                return Some(v);
            }
            self.at += 1;
            self.used = 0;
        }
    }
}

/// The walk `Track::samples` returns.
pub struct Samples<'a> {
    track: &'a Track,
    ts: f64,
    shift: i64,
    index: u32,
    dts: i64,
    stts: Runs<'a, u32>,
    ctts: Runs<'a, i64>,
    sync_at: usize,
}

impl Iterator for Samples<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.index >= self.track.count {
            return None;
        }
        let delta = self.stts.next()?;
        let offset = self.ctts.next().unwrap_or(0);
        let index = self.index;
        let sync = match &self.track.sync {
            None => true,
            Some(list) => {
                // Sync samples are listed in increasing order; a list out of order only
                // makes fewer samples count as sync.
                while list.get(self.sync_at).is_some_and(|&s| s <= index) {
                    self.sync_at += 1;
                }
                list.get(self.sync_at) == Some(&(index + 1))
            }
        };
        let pts = self.dts.saturating_add(offset).saturating_sub(self.shift);
        self.dts = self.dts.saturating_add(delta as i64);
        self.index += 1;
        Some(Sample {
            index,
            pts_s: pts as f64 / self.ts,
            duration_s: delta as f64 / self.ts,
            sync,
        })
    }
}

/// The entry count of a full box's table (count at byte 4, entries of `entry` bytes from byte
/// 8), limited to the entries the box holds.
fn table_len(b: &[u8], entry: usize) -> usize {
    let n = be32(b, 4).unwrap_or(0) as usize;
    n.min(b.len().saturating_sub(8) / entry)
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

/// Parse the tracks of a `moov` body of a file of `file_size` bytes, in file order (ffmpeg's
/// stream order).
pub fn tracks(moov: &[u8], file_size: u64) -> Vec<Track> {
    boxes(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| parse_trak(trak, file_size))
        .collect()
}

fn parse_trak(trak: &[u8], file_size: u64) -> Track {
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
        let n = table_len(stts, 8);
        t.deltas = (0..n)
            .map_while(|i| Some((be32(stts, 8 + i * 8)?, be32(stts, 12 + i * 8)?)))
            .collect();
    }
    if let Some(stss) = child(stbl, b"stss") {
        let n = table_len(stss, 4);
        t.sync = Some((0..n).map_while(|i| be32(stss, 8 + i * 4)).collect());
    }
    if let Some(ctts) = child(stbl, b"ctts") {
        t.has_ctts = true;
        let v1 = full_box_version(ctts) == 1;
        let n = table_len(ctts, 8);
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
        let count = be32(stsz, 8).unwrap_or(0);
        // Every sample needs a 4-byte size entry in this box, or its uniform size in the file.
        let fits = if t.uniform_size == 0 {
            count as u64 <= (stsz.len() as u64).saturating_sub(12) / 4
        } else {
            count as u64 * t.uniform_size as u64 <= file_size
        };
        if fits && count <= MAX_SAMPLES {
            t.count = count;
            if t.uniform_size == 0 {
                t.sizes = (0..count as usize)
                    .map_while(|i| be32(stsz, 12 + i * 4))
                    .collect();
            }
        }
    }
    if let Some(stsc) = child(stbl, b"stsc") {
        let n = table_len(stsc, 12);
        t.stsc = (0..n)
            .map_while(|i| Some((be32(stsc, 8 + i * 12)?, be32(stsc, 12 + i * 12)?)))
            .collect();
    }
    if let Some(stco) = child(stbl, b"stco") {
        let n = table_len(stco, 4);
        t.chunk_offsets = (0..n)
            .map_while(|i| be32(stco, 8 + i * 4).map(u64::from))
            .collect();
    } else if let Some(co64) = child(stbl, b"co64") {
        let n = table_len(co64, 8);
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

#[cfg(test)]
#[path = "../../tests/common/boxes.rs"]
mod boxes;

#[cfg(test)]
mod tests {
    use super::boxes::{self, Tables};
    use super::*;

    fn moov_of(traks: &[Vec<u8>]) -> Vec<u8> {
        traks.concat()
    }

    fn one(t: &Tables, file_size: u64) -> Track {
        let mut v = tracks(&moov_of(&[boxes::video_trak(t)]), file_size);
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn a_plain_track_reads_back() {
        let t = one(&Tables::constant(10, 100, 1000), 1 << 20);
        assert_eq!(&t.handler, b"vide");
        assert_eq!(&t.codec, b"avc1");
        assert_eq!((t.width, t.height, t.rotation), (320, 240, 0));
        assert_eq!(t.count, 10);
        assert_eq!(t.media_duration_s(), 0.4);
        let s: Vec<Sample> = t.samples().collect();
        assert_eq!(s.len(), 10);
        assert_eq!(s[3].pts_s, 3.0 * 0.04);
        assert_eq!(s[3].duration_s, 0.04);
        let sync: Vec<u32> = s.iter().filter(|s| s.sync).map(|s| s.index).collect();
        assert_eq!(sync, vec![0, 5]);
        assert_eq!(t.data_bytes(), 1000);
        assert_eq!(t.data_end(), 2000);
        assert!(t.avcc.is_some());
    }

    #[test]
    fn composition_offsets_and_edits_shift_the_times() {
        let mut tb = Tables::constant(4, 10, 0);
        // Decode order I P B B with offsets 2, 5, 0, 1 frames (of 512 ticks); the edit list
        // starts the presentation at one frame.
        tb.ctts = Some(vec![(1, 1024), (1, 2560), (2, 0)]);
        tb.edit_media_time = Some(512);
        let t = one(&tb, 1 << 20);
        assert!(t.has_ctts);
        let pts: Vec<f64> = t.samples().map(|s| s.pts_s * 25.0).collect();
        assert_eq!(pts, vec![1.0, 5.0, 1.0, 2.0]);
    }

    #[test]
    fn a_claimed_sample_count_beyond_the_stsz_box_is_not_trusted() {
        let mut tb = Tables::constant(3, 100, 0);
        tb.sample_count = u32::MAX;
        let t = one(&tb, 1 << 20);
        assert_eq!(t.count, 0);
        assert_eq!(t.samples().count(), 0);
        assert_eq!(t.data_end(), 0);
    }

    #[test]
    fn a_uniform_size_must_fit_the_file() {
        let mut tb = Tables::constant(1, 1, 0);
        tb.uniform_size = 1;
        tb.sizes.clear();
        tb.sample_count = u32::MAX;
        tb.stts = vec![(u32::MAX, 1)];
        // 2^32 one-byte samples do not fit in a 1 MB file: none are read.
        assert_eq!(one(&tb, 1 << 20).count, 0);
        // 100 of them do.
        tb.sample_count = 100;
        tb.stsc = vec![(1, 100)];
        let t = one(&tb, 1 << 20);
        assert_eq!(t.count, 100);
        assert_eq!(t.samples().count(), 100);
        assert_eq!(t.data_bytes(), 100);
        assert_eq!(t.data_end(), 100);
    }

    #[test]
    fn a_huge_stts_run_is_walked_only_as_far_as_the_samples() {
        let mut tb = Tables::constant(50, 10, 0);
        tb.stts = vec![(0x7fff_fff0, 512), (7, 1)];
        let t = one(&tb, 1 << 20);
        assert_eq!(t.samples().count(), 50);
        assert_eq!(t.duration_runs().collect::<Vec<_>>(), vec![(50, 512)]);
        assert_eq!(t.keyframe_times(f64::MAX).len(), 10);
    }

    #[test]
    fn more_samples_than_stts_covers_stop_where_stts_ends() {
        let mut tb = Tables::constant(20, 10, 0);
        tb.stts = vec![(0, 9), (5, 512)];
        let t = one(&tb, 1 << 20);
        assert_eq!(t.samples().count(), 5);
    }

    #[test]
    fn table_counts_beyond_their_box_read_only_what_is_there() {
        let mut data = boxes::video_trak(&Tables::constant(6, 10, 0));
        // Claim 2^32 - 1 entries in every table.
        for kind in [b"stts", b"stss", b"stsc", b"stco"] {
            let at = boxes::find_box(&data, kind).unwrap() + 4;
            data[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        }
        let t = tracks(&data, 1 << 20).remove(0);
        assert_eq!(t.deltas.len(), 1);
        assert_eq!(t.sync.as_ref().unwrap().len(), 2);
        assert_eq!(t.stsc.len(), 1);
        assert_eq!(t.chunk_offsets.len(), 1);
        assert_eq!(t.samples().count(), 6);
    }

    #[test]
    fn chunk_runs_out_of_order_do_not_panic() {
        let mut tb = Tables::constant(6, 10, 0);
        tb.stsc = vec![(3, u32::MAX), (0, 2), (1, 0)];
        tb.chunk_offsets = vec![u32::MAX, 5, 7];
        let t = one(&tb, 1 << 20);
        assert!(t.data_end() >= u32::MAX as u64);
    }

    #[test]
    fn sync_samples_out_of_order_only_lose_sync() {
        let mut tb = Tables::constant(6, 10, 0);
        tb.stss = Some(vec![4, 2, 6, 6, 0]);
        let t = one(&tb, 1 << 20);
        let sync: Vec<u32> = t.samples().filter(|s| s.sync).map(|s| s.index).collect();
        assert_eq!(sync, vec![3, 5]);
    }

    #[test]
    fn extreme_times_saturate() {
        let mut tb = Tables::constant(3, 10, 0);
        tb.stts = vec![(3, u32::MAX)];
        tb.ctts = Some(vec![(3, 0x8000_0000)]);
        tb.edit_media_time = Some(i32::MAX);
        tb.timescale = 0;
        let t = one(&tb, 1 << 20);
        assert!(t.samples().all(|s| s.pts_s.is_finite()));
    }

    #[test]
    fn keyframe_times_are_capped() {
        let mut tb = Tables::constant(1, 1, 0);
        tb.uniform_size = 1;
        tb.sizes.clear();
        tb.sample_count = 50_000;
        tb.stts = vec![(50_000, 1)];
        tb.stss = None;
        let t = one(&tb, 1 << 20);
        assert_eq!(t.keyframe_times(f64::MAX).len(), MAX_KEYFRAMES);
        assert_eq!(t.keyframe_times(0.5).len(), 6401);
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    #[test]
    fn a_moov_claiming_more_than_the_file_is_not_read() {
        let mut data = boxes::movie(&[boxes::video_trak(&Tables::constant(3, 1, 0))], b"abc");
        let at = boxes::find_box(&data, b"moov").unwrap() - 8;
        // 32 MB: under the cap, over the file.
        data[at..at + 4].copy_from_slice(&0x0200_0000u32.to_be_bytes());
        let f = write(&data);
        let top = top_level(f.path()).unwrap().unwrap();
        assert!(top.moov.is_none());
        assert_eq!(top.major_brand, Some(*b"isom"));
    }

    #[test]
    fn inspect_summarises_a_movie() {
        let data = boxes::movie(&[boxes::video_trak(&Tables::constant(25, 4, 0))], &[0; 100]);
        let f = write(&data);
        let s = inspect(f.path()).unwrap();
        let v = s.video.unwrap();
        assert_eq!((v.width, v.height, v.frames), (320, 240, 25));
        assert_eq!(v.fps(), 25.0);
        assert!(!s.has_audio);
        assert_eq!(s.size_bytes, data.len() as u64);
    }

    #[test]
    fn the_walk_ends_at_the_moov_or_the_box_cap() {
        let moov_last = |free_boxes: usize| {
            let mut data = boxes::bx(b"ftyp", b"isom\0\0\x02\0isom");
            for _ in 0..free_boxes {
                data.extend(boxes::bx(b"free", b""));
            }
            data.extend(boxes::bx(
                b"moov",
                &boxes::video_trak(&Tables::constant(3, 1, 0)),
            ));
            let size = data.len() as u64;
            top_level_of(&mut std::io::Cursor::new(data), size)
                .unwrap()
                .unwrap()
        };
        assert!(moov_last(1000).moov.is_some());
        assert!(moov_last(MAX_TOP_BOXES).moov.is_none());
    }

    #[test]
    fn not_an_mp4_is_none() {
        let f = write(b"#EXTM3U\nhttp://example.com/x.ts\n");
        assert!(top_level(f.path()).unwrap().is_none());
    }
}
