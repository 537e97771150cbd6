//! Hand-built MP4 boxes: small movies whose tables say exactly what a test needs (including
//! what no encoder writes), for the reader's unit tests, the hostile-file tests and the fuzz
//! seeds.
#![allow(dead_code)]

/// A box: 32-bit size, type, body.
pub fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A full box: version, three flag bytes, body.
pub fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0, 0, 0];
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn be32s(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    values.into_iter().flat_map(u32::to_be_bytes).collect()
}

/// A table box: entry count, then the entries' 32-bit words.
fn table(kind: &[u8; 4], version: u8, count: u32, words: &[u32]) -> Vec<u8> {
    let mut body = count.to_be_bytes().to_vec();
    body.extend(be32s(words.iter().copied()));
    full(kind, version, &body)
}

/// A baseline-profile SPS (NAL header included): 16x16, no VUI.
pub const SPS: [u8; 6] = [0x67, 0x42, 0xC0, 0x1E, 0xF4, 0xF2];

/// An `avcC` body holding `SPS`.
pub fn avcc() -> Vec<u8> {
    let mut b = vec![1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1];
    b.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    b.extend_from_slice(&SPS);
    b.extend_from_slice(&[1, 0, 4, 0x68, 0xCE, 0x38, 0x80]);
    b
}

/// What a hand-built video track says. Counts are written as given, whatever the entries.
#[derive(Clone)]
pub struct Tables {
    pub width: u32,
    pub height: u32,
    /// Quarter turns of the display matrix (0 or 1).
    pub rotate_90: bool,
    pub timescale: u32,
    pub duration: u32,
    /// `stts` (count, delta) runs and the entry count written.
    pub stts: Vec<(u32, u32)>,
    pub ctts: Option<Vec<(u32, u32)>>,
    pub stss: Option<Vec<u32>>,
    pub uniform_size: u32,
    /// The sample count `stsz` claims.
    pub sample_count: u32,
    pub sizes: Vec<u32>,
    /// `stsc` (first_chunk, samples_per_chunk) runs.
    pub stsc: Vec<(u32, u32)>,
    pub chunk_offsets: Vec<u32>,
    /// First `elst` entry's media time.
    pub edit_media_time: Option<i32>,
}

impl Tables {
    /// `n` samples of `size` bytes at 25 fps (timescale 12800), one chunk at `offset`, every
    /// 5th a keyframe.
    pub fn constant(n: u32, size: u32, offset: u32) -> Tables {
        Tables {
            width: 320,
            height: 240,
            rotate_90: false,
            timescale: 12800,
            duration: n * 512,
            stts: vec![(n, 512)],
            ctts: None,
            stss: Some((0..n).step_by(5).map(|i| i + 1).collect()),
            uniform_size: 0,
            sample_count: n,
            sizes: vec![size; n as usize],
            stsc: vec![(1, n)],
            chunk_offsets: vec![offset],
            edit_media_time: None,
        }
    }
}

/// A video `trak` box with the given tables (an `avc1` entry with `avcC`).
pub fn video_trak(t: &Tables) -> Vec<u8> {
    let mut tkhd = vec![0u8; 80];
    // Matrix at 36..72 of the body after version/flags (40..76 with them).
    let matrix: [i32; 9] = if t.rotate_90 {
        [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x4000_0000]
    } else {
        [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000]
    };
    for (i, v) in matrix.iter().enumerate() {
        tkhd[36 + i * 4..40 + i * 4].copy_from_slice(&v.to_be_bytes());
    }
    tkhd[72..76].copy_from_slice(&(t.width << 16).to_be_bytes());
    tkhd[76..80].copy_from_slice(&(t.height << 16).to_be_bytes());
    let tkhd = full(b"tkhd", 0, &tkhd);

    let mut mdhd = vec![0u8; 20];
    mdhd[8..12].copy_from_slice(&t.timescale.to_be_bytes());
    mdhd[12..16].copy_from_slice(&t.duration.to_be_bytes());
    let mdhd = full(b"mdhd", 0, &mdhd);
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 13]);
    let hdlr = full(b"hdlr", 0, &hdlr);

    let mut entry = vec![0u8; 78];
    entry[7] = 1; // data reference index
    entry[24..26].copy_from_slice(&(t.width as u16).to_be_bytes());
    entry[26..28].copy_from_slice(&(t.height as u16).to_be_bytes());
    entry.extend(bx(b"avcC", &avcc()));
    let mut stsd = 1u32.to_be_bytes().to_vec();
    stsd.extend(bx(b"avc1", &entry));
    let mut stbl = full(b"stsd", 0, &stsd);

    let words: Vec<u32> = t.stts.iter().flat_map(|&(n, d)| [n, d]).collect();
    stbl.extend(table(b"stts", 0, t.stts.len() as u32, &words));
    if let Some(ctts) = &t.ctts {
        let words: Vec<u32> = ctts.iter().flat_map(|&(n, o)| [n, o]).collect();
        stbl.extend(table(b"ctts", 0, ctts.len() as u32, &words));
    }
    if let Some(stss) = &t.stss {
        stbl.extend(table(b"stss", 0, stss.len() as u32, stss));
    }
    let words: Vec<u32> = t.stsc.iter().flat_map(|&(f, n)| [f, n, 1]).collect();
    stbl.extend(table(b"stsc", 0, t.stsc.len() as u32, &words));
    let mut stsz = t.uniform_size.to_be_bytes().to_vec();
    stsz.extend(t.sample_count.to_be_bytes());
    stsz.extend(be32s(t.sizes.iter().copied()));
    stbl.extend(full(b"stsz", 0, &stsz));
    stbl.extend(table(
        b"stco",
        0,
        t.chunk_offsets.len() as u32,
        &t.chunk_offsets,
    ));

    let minf = bx(b"minf", &bx(b"stbl", &stbl));
    let mut mdia = mdhd;
    mdia.extend(hdlr);
    mdia.extend(minf);
    let mut trak = tkhd;
    if let Some(mt) = t.edit_media_time {
        let elst = table(b"elst", 0, 1, &[t.duration, mt as u32, 0x10000]);
        trak.extend(bx(b"edts", &elst));
    }
    trak.extend(bx(b"mdia", &mdia));
    bx(b"trak", &trak)
}

/// `ftyp` + `moov` (the given tracks) + `mdat` (the given payload).
pub fn movie(traks: &[Vec<u8>], payload: &[u8]) -> Vec<u8> {
    let mut out = bx(b"ftyp", b"isom\0\0\x02\0isomavc1");
    out.extend(bx(b"moov", &traks.concat()));
    out.extend(bx(b"mdat", payload));
    out
}

/// The offset of the first `kind` box's body in `data` (a plain byte search, fine for
/// generated clips).
pub fn find_box(data: &[u8], kind: &[u8; 4]) -> Option<usize> {
    data.windows(4).position(|w| w == kind).map(|p| p + 4)
}
