//! G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
//!
//! Everything is a table lookup built at compile time:
//! - decode: 256 entries per law, the ITU-T G.711 decision values expressed
//!   on the 16-bit linear scale (µ-law peaks at ±32124, A-law at ±32256);
//! - encode: µ-law looks up the top 14 bits of the sample (16,384 entries),
//!   A-law the top 13 bits (8,192 entries), exactly as G.711 quantises them;
//! - transcoding PCMU↔PCMA: 256 entries each, decode then encode.
//!
//! The table builders follow the classic reference implementation (Sun
//! Microsystems' public-domain `g711.c`, the one SoX, Asterisk and many
//! others derive from); the tests check every one of the 65,536 linear
//! inputs and 256 codes against a transcription of that reference.
//!
//! Transcoding by decode-then-encode is what most software does; it differs
//! from G.711's own direct µ↔A tables in a handful of the smallest codes
//! (by one quantisation step), which is inaudible.

/// Decoded value of every µ-law code.
pub static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_decode();
/// Decoded value of every A-law code.
pub static ALAW_TO_LINEAR: [i16; 256] = build_alaw_decode();
/// µ-law code of every 14-bit linear value (`sample >> 2`, offset by 8192).
static LINEAR14_TO_ULAW: [u8; 16384] = build_ulaw_encode();
/// A-law code of every 13-bit linear value (`sample >> 3`, offset by 4096).
static LINEAR13_TO_ALAW: [u8; 8192] = build_alaw_encode();
/// PCMU code → PCMA code.
pub static ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// PCMA code → PCMU code.
pub static ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

/// Decodes one µ-law code.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one 16-bit linear sample to µ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    LINEAR14_TO_ULAW[((sample >> 2) as i32 + 8192) as usize]
}

/// Encodes one 16-bit linear sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    LINEAR13_TO_ALAW[((sample >> 3) as i32 + 4096) as usize]
}

/// Encodes `samples` to µ-law into `out`; returns how many were encoded (the shorter length).
pub fn encode_ulaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = ulaw_encode(s);
    }
    n
}

/// Encodes `samples` to A-law into `out`; returns how many were encoded (the shorter length).
pub fn encode_alaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = alaw_encode(s);
    }
    n
}

/// Decodes µ-law `codes` into `out`; returns how many were decoded (the shorter length).
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = ulaw_decode(c);
    }
    n
}

/// Decodes A-law `codes` into `out`; returns how many were decoded (the shorter length).
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = alaw_decode(c);
    }
    n
}

/// Transcodes PCMU `codes` to PCMA into `out`; returns how many were written.
pub fn ulaw_to_alaw(codes: &[u8], out: &mut [u8]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = ULAW_TO_ALAW[usize::from(c)];
    }
    n
}

/// Transcodes PCMA `codes` to PCMU into `out`; returns how many were written.
pub fn alaw_to_ulaw(codes: &[u8], out: &mut [u8]) -> usize {
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = ALAW_TO_ULAW[usize::from(c)];
    }
    n
}

/// Transcodes a PCMU frame to PCMA in place.
pub fn ulaw_to_alaw_in_place(codes: &mut [u8]) {
    for c in codes {
        *c = ULAW_TO_ALAW[usize::from(*c)];
    }
}

/// Transcodes a PCMA frame to PCMU in place.
pub fn alaw_to_ulaw_in_place(codes: &mut [u8]) {
    for c in codes {
        *c = ALAW_TO_ULAW[usize::from(*c)];
    }
}

const fn ulaw_decode_ref(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_decode_ref(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Segment of a biased magnitude: the position of its highest set bit above `base_bits`.
const fn segment(value: i32, base_bits: u32) -> u32 {
    let bits = 32 - (value as u32).leading_zeros();
    bits.saturating_sub(base_bits)
}

/// µ-law code of a 14-bit signed value (-8192..=8191).
const fn ulaw_encode14(v: i32) -> u8 {
    let (mut mag, mask) = if v < 0 { (-v, 0x7f) } else { (v, 0xff) };
    if mag > 8159 {
        mag = 8159;
    }
    mag += 33;
    let seg = segment(mag, 6); // 0x3F and below is segment 0
    if seg >= 8 {
        return 0x7f ^ mask; // the clipped maximum lands one past segment 7
    }
    let code = ((seg << 4) as i32 | ((mag >> (seg + 1)) & 0x0f)) as u8;
    code ^ mask
}

/// A-law code of a 13-bit signed value (-4096..=4095).
const fn alaw_encode13(v: i32) -> u8 {
    let (mag, mask) = if v >= 0 { (v, 0xd5) } else { (-v - 1, 0x55) };
    let seg = segment(mag, 5); // 0x1F and below is segment 0
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let quant = if seg < 2 {
        (mag >> 1) & 0x0f
    } else {
        (mag >> seg) & 0x0f
    };
    (((seg << 4) as i32 | quant) as u8) ^ mask
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_ref(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_ref(i as u8);
        i += 1;
    }
    t
}

const fn build_ulaw_encode() -> [u8; 16384] {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_encode14(i as i32 - 8192);
        i += 1;
    }
    t
}

const fn build_alaw_encode() -> [u8; 8192] {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        t[i] = alaw_encode13(i as i32 - 4096);
        i += 1;
    }
    t
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_encode13((ulaw_decode_ref(i as u8) >> 3) as i32);
        i += 1;
    }
    t
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_encode14((alaw_decode_ref(i as u8) >> 2) as i32);
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transcription of the reference `linear2ulaw` (segment search over `seg_uend`).
    fn ref_linear2ulaw(pcm: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
        let mut pcm_val = i32::from(pcm) >> 2;
        let mask: u8 = if pcm_val < 0 {
            pcm_val = -pcm_val;
            0x7F
        } else {
            0xFF
        };
        if pcm_val > 8159 {
            pcm_val = 8159;
        }
        pcm_val += 0x84 >> 2;
        let seg = SEG_UEND.iter().position(|&end| pcm_val <= end).unwrap_or(8);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let uval = ((seg as i32) << 4) | ((pcm_val >> (seg + 1)) & 0xF);
        (uval as u8) ^ mask
    }

    /// Transcription of the reference `linear2alaw` (segment search over `seg_aend`).
    fn ref_linear2alaw(pcm: i16) -> u8 {
        const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut pcm_val = i32::from(pcm) >> 3;
        let mask: u8 = if pcm_val >= 0 {
            0xD5
        } else {
            pcm_val = -pcm_val - 1;
            0x55
        };
        let seg = SEG_AEND.iter().position(|&end| pcm_val <= end).unwrap_or(8);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let mut aval = (seg as i32) << 4;
        aval |= if seg < 2 {
            (pcm_val >> 1) & 0xF
        } else {
            (pcm_val >> seg) & 0xF
        };
        (aval as u8) ^ mask
    }

    #[test]
    fn encoders_match_reference_for_every_linear_value() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ref_linear2ulaw(s), "µ-law of {s}");
            assert_eq!(alaw_encode(s), ref_linear2alaw(s), "A-law of {s}");
        }
    }

    #[test]
    fn decoders_match_known_values_and_invert_encoders() {
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        for code in 0..=255u8 {
            if code != 0x7f {
                // µ-law has two zeros (0x7F, 0xFF); 0 encodes to 0xFF.
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "µ-law {code:#x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#x}");
        }
        // Decoded values are monotonic in the magnitude bits.
        for code in 0x80..0xffu8 {
            assert!(ulaw_decode(code) > ulaw_decode(code + 1));
        }
    }

    #[test]
    fn transcoding_tables_round_trip() {
        for code in 0..=255u8 {
            let a = ULAW_TO_ALAW[usize::from(code)];
            assert_eq!(a, alaw_encode(ulaw_decode(code)));
            let back = ALAW_TO_ULAW[usize::from(a)];
            // Within one quantisation step of where we started.
            let (x, y) = (i32::from(ulaw_decode(code)), i32::from(ulaw_decode(back)));
            assert!(
                (x - y).abs() <= (x.abs() / 8).max(16),
                "{code:#x} → {a:#x} → {back:#x}"
            );
        }
        for code in 0..=255u8 {
            assert_eq!(
                ALAW_TO_ULAW[usize::from(code)],
                ulaw_encode(alaw_decode(code))
            );
        }
    }

    #[test]
    fn slice_functions_use_the_shorter_length() {
        let samples: Vec<i16> = (0..160).map(|i| (i * 400 - 32000) as i16).collect();
        let mut u = [0u8; 160];
        let mut a = [0u8; 160];
        assert_eq!(encode_ulaw(&samples, &mut u), 160);
        assert_eq!(encode_alaw(&samples, &mut a), 160);
        let mut back = [0i16; 100];
        assert_eq!(decode_ulaw(&u, &mut back), 100);
        assert_eq!(back[5], ulaw_decode(u[5]));
        assert_eq!(decode_alaw(&a[..10], &mut back), 10);
        let mut t = [0u8; 160];
        assert_eq!(ulaw_to_alaw(&u, &mut t), 160);
        let mut in_place = u;
        ulaw_to_alaw_in_place(&mut in_place);
        assert_eq!(in_place, t);
        alaw_to_ulaw_in_place(&mut in_place);
        let mut via = [0u8; 160];
        assert_eq!(alaw_to_ulaw(&t, &mut via), 160);
        assert_eq!(in_place, via);
    }
}
