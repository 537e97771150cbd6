//! Just enough of an H.264 sequence parameter set (from an MP4 `avcC` box) to know the pixel
//! format and colour description: chroma format, bit depth, full range, primaries, transfer,
//! matrix.

/// What the SPS says about the picture format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub chroma_format_idc: u32,
    pub bit_depth: u32,
    pub full_range: bool,
    pub primaries: Option<u8>,
    pub transfer: Option<u8>,
    pub matrix: Option<u8>,
}

impl SpsInfo {
    /// The pixel format name ffmpeg reports for such a stream.
    pub fn pix_fmt(&self) -> String {
        let base = match self.chroma_format_idc {
            0 => "gray",
            2 => "yuv422p",
            3 => "yuv444p",
            _ => "yuv420p",
        };
        match (
            self.bit_depth,
            self.full_range && self.bit_depth == 8 && base != "gray",
        ) {
            (8, true) => base.replace("yuv", "yuvj"),
            (8, false) => base.to_string(),
            (d, _) => format!("{base}{d}le"),
        }
    }
}

/// ffmpeg's names of the ISO/IEC 23091-2 colour codes (None for "unspecified").
pub fn primaries_name(c: u8) -> Option<&'static str> {
    Some(match c {
        1 => "bt709",
        4 => "bt470m",
        5 => "bt470bg",
        6 => "smpte170m",
        7 => "smpte240m",
        8 => "film",
        9 => "bt2020",
        10 => "smpte428",
        11 => "smpte431",
        12 => "smpte432",
        _ => return None,
    })
}

pub fn transfer_name(c: u8) -> Option<&'static str> {
    Some(match c {
        1 => "bt709",
        4 => "gamma22",
        5 => "gamma28",
        6 => "smpte170m",
        7 => "smpte240m",
        8 => "linear",
        13 => "iec61966-2-1",
        14 => "bt2020-10",
        15 => "bt2020-12",
        16 => "smpte2084",
        18 => "arib-std-b67",
        _ => return None,
    })
}

pub fn matrix_name(c: u8) -> Option<&'static str> {
    Some(match c {
        0 => "gbr",
        1 => "bt709",
        4 => "fcc",
        5 => "bt470bg",
        6 => "smpte170m",
        7 => "smpte240m",
        9 => "bt2020nc",
        10 => "bt2020c",
        _ => return None,
    })
}

struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(b as u32)
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
    fn se(&mut self) -> Option<i32> {
        let v = self.ue()?;
        Some(if v % 2 == 1 {
            v.div_ceil(2) as i32
        } else {
            -((v / 2) as i32)
        })
    }
}

/// Remove emulation prevention bytes (00 00 03 -> 00 00).
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_scaling_list(r: &mut Bits, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            // delta_scale is in -128..=127; more is not an SPS.
            let delta = r.se().filter(|d| (-128..=127).contains(d))?;
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Parse the first SPS of an `avcC` box body.
pub fn parse_avcc(avcc: &[u8]) -> Option<SpsInfo> {
    if avcc.len() < 8 || avcc[5] & 0x1f == 0 {
        return None;
    }
    let len = u16::from_be_bytes([avcc[6], avcc[7]]) as usize;
    let nal = avcc.get(8..8 + len)?;
    parse_sps(nal)
}

/// Parse an SPS NAL unit (with its one-byte header).
pub fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let mut r = Bits {
        data: rbsp(&nal[1..]),
        pos: 0,
    };
    let profile_idc = r.bits(8)? as u8;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let (mut chroma, mut depth) = (1, 8);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue().filter(|c| *c <= 3)?;
        if chroma == 3 {
            r.bit()?;
        }
        // bit_depth_luma_minus8 is at most 6 (14 bits); more is not an SPS.
        depth = r.ue().filter(|d| *d <= 6)? + 8;
        r.ue()?; // chroma depth
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let n = if chroma == 3 { 12 } else { 8 };
            for i in 0..n {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    r.ue()?; // width in mbs
    r.ue()?; // height in map units
    if r.bit()? == 0 {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    if r.bit()? == 1 {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let mut info = SpsInfo {
        profile_idc,
        chroma_format_idc: chroma,
        bit_depth: depth,
        full_range: false,
        primaries: None,
        transfer: None,
        matrix: None,
    };
    if r.bit()? == 1 {
        // VUI
        if r.bit()? == 1 && r.bits(8)? == 255 {
            r.bits(32)?;
        }
        if r.bit()? == 1 {
            r.bit()?;
        }
        if r.bit()? == 1 {
            r.bits(3)?; // video_format
            info.full_range = r.bit()? == 1;
            if r.bit()? == 1 {
                let code = |c: u32| (c != 2).then_some(c as u8);
                info.primaries = code(r.bits(8)?);
                info.transfer = code(r.bits(8)?);
                info.matrix = code(r.bits(8)?);
            }
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3
        let mut r = Bits {
            data: vec![0b1010_0110, 0b0100_0000],
            pos: 0,
        };
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.ue(), Some(3));
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn pix_fmt_names() {
        let mut s = SpsInfo {
            profile_idc: 100,
            chroma_format_idc: 1,
            bit_depth: 8,
            full_range: false,
            primaries: None,
            transfer: None,
            matrix: None,
        };
        assert_eq!(s.pix_fmt(), "yuv420p");
        s.full_range = true;
        assert_eq!(s.pix_fmt(), "yuvj420p");
        s.bit_depth = 10;
        assert_eq!(s.pix_fmt(), "yuv420p10le");
    }

    /// An SPS NAL from a string of bits (stop bit and padding added).
    fn sps_of_bits(head: &[u8], bits: &str) -> Vec<u8> {
        let mut bits: Vec<u8> = bits
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b - b'0')
            .collect();
        bits.push(1);
        while !bits.len().is_multiple_of(8) {
            bits.push(0);
        }
        let mut out = head.to_vec();
        out.extend(
            bits.chunks(8)
                .map(|c| c.iter().fold(0u8, |a, b| a << 1 | b)),
        );
        out
    }

    #[test]
    fn a_baseline_sps_parses() {
        // sps_id 0, log2_max_frame_num 0, poc type 0, poc lsb 0, 1 ref, no gaps, 1x1 mbs,
        // frame_mbs_only, direct_8x8, no crop, no VUI.
        let sps = sps_of_bits(&[0x67, 66, 0xC0, 0x1E], "1 1 1 1 010 0 1 1 1 1 0 0");
        let info = parse_sps(&sps).unwrap();
        assert_eq!(
            (info.profile_idc, info.bit_depth, info.chroma_format_idc),
            (66, 8, 1)
        );
        assert_eq!(info.pix_fmt(), "yuv420p");
    }

    #[test]
    fn an_impossible_bit_depth_is_not_an_sps() {
        // High profile: chroma 1, then bit_depth_luma_minus8 = 2^32 - 2 (31 zeros, a one, 31
        // ones), which overflowed the addition of 8.
        let huge = format!("{}1{}", "0".repeat(31), "1".repeat(31));
        let sps = sps_of_bits(&[0x67, 100, 0, 0x1E], &format!("1 010 {huge} 1 1 0 0"));
        assert_eq!(parse_sps(&sps), None);
        // 7 (bit depth 15) is past the 14-bit limit too; 2 is 10-bit.
        let sps = sps_of_bits(
            &[0x67, 100, 0, 0x1E],
            "1 010 0001000 1 1 0 1 1 1 010 0 1 1 1 1 0 0",
        );
        assert_eq!(parse_sps(&sps), None);
        let sps = sps_of_bits(
            &[0x67, 100, 0, 0x1E],
            "1 010 011 1 1 0 1 1 1 010 0 1 1 1 1 0 0",
        );
        assert_eq!(parse_sps(&sps).unwrap().pix_fmt(), "yuv420p10le");
    }

    #[test]
    fn fuzz_found_inputs_do_not_panic() {
        // An avcC whose SPS overflowed a sum (found by tests/fuzz.rs).
        let avcc = [
            0x01, 0x6e, 0x00, 0x0e, 0x0d, 0xe1, 0x00, 0x18, 0x67, 0x6e, 0x00, 0x0d, 0xa6, 0x54,
            0x40, 0xa0, 0xfd, 0x80, 0xb6, 0x40, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xff, 0xff, 0xfd,
            0x83, 0xc5, 0x0a, 0xa8, 0x01, 0x00, 0x54, 0x40, 0xa0, 0xfd, 0x80, 0xb6, 0x40, 0x00,
            0x00, 0x03, 0x00, 0x3f, 0xff, 0xff, 0xfd, 0x83, 0xc5, 0x0a, 0xa8, 0x01, 0x04, 0x68,
            0xce, 0x0f, 0xc8, 0x03, 0x00, 0x40, 0x00,
        ];
        let _ = parse_avcc(&avcc);
    }
}
