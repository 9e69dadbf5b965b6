//! The monitor's EDID (VESA E-EDID standard, release A2, EDID 1.4), which
//! QEMU's stdvga exposes at the start of its MMIO BAR (`docs/specs/
//! standard-vga.rst`: 0x0000-0x03FF "edid data blob") and which Linux's
//! bochs DRM driver and the Windows bochs driver read for the mode list.
//! One 128-byte base block: the established 640x480/800x600/1024x768 at
//! 60 Hz, standard timings up to 1920x1200, a preferred 1280x800 at 60 Hz
//! (the VESA CVT timing of DMT 0x1C), the monitor's name and range limits.
//! The preferred size is QEMU's (its stdvga EDID prefers 1280x800), so a
//! guest picks the same console size on both: Debian's installer comes up
//! at 1280x800 through the bochs DRM driver. `edid-decode --check`
//! (Debian's edid-decode) finds it conformant.

/// The block, built once (it is constant).
pub fn block() -> [u8; 128] {
    let mut e = [0u8; 128];
    e[..8].copy_from_slice(&[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
    // Manufacturer "IPC": three 5-bit letters ('A' = 1), big-endian.
    let id = |c: u8| u16::from(c - b'A' + 1);
    let mfg = id(b'I') << 10 | id(b'P') << 5 | id(b'C');
    e[8..10].copy_from_slice(&mfg.to_be_bytes());
    e[10..12].copy_from_slice(&0x1111u16.to_le_bytes()); // product code
    e[16] = 1; // week
    e[17] = (2024 - 1990) as u8; // year
    e[18] = 1; // EDID 1.4
    e[19] = 4;
    e[20] = 0x80; // digital input
    e[21] = 33; // 33 x 21 cm, a 16:10 15.4" panel
    e[22] = 21;
    e[23] = 120; // gamma 2.2
    e[24] = 0x06; // RGB 4:4:4, sRGB default, preferred timing is native
    chromaticity(&mut e[25..35]);
    e[35] = 0x21; // 640x480@60, 800x600@60
    e[36] = 0x08; // 1024x768@60
                  // Standard timings: (width / 8 - 31, aspect << 6 | (refresh - 60)).
    let standard: [(u16, u8); 5] = [(1280, 0b10), (1280, 0b00), (1600, 0b01), (1920, 0b11), (1920, 0b00)];
    for (i, slot) in e[38..54].chunks_exact_mut(2).enumerate() {
        match standard.get(i) {
            Some(&(w, aspect)) => slot.copy_from_slice(&[(w / 8 - 31) as u8, aspect << 6]),
            None => slot.copy_from_slice(&[0x01, 0x01]),
        }
    }
    e[54..72].copy_from_slice(&DTD_1280X800_60);
    e[72..90].copy_from_slice(&text_descriptor(0xFC, b"ironpc VGA"));
    e[90..108].copy_from_slice(&RANGE_LIMITS);
    e[108..126].copy_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // dummy
    e[126] = 0; // no extension blocks
    e[127] = 0u8.wrapping_sub(e[..127].iter().fold(0u8, |s, &b| s.wrapping_add(b)));
    e
}

/// sRGB primaries and D65 white, each coordinate in 10 bits (x 1024): the
/// low 2 bits of all eight packed in two bytes, then the high 8 bits.
fn chromaticity(out: &mut [u8]) {
    let c: [u16; 8] = [655, 338, 307, 614, 154, 61, 320, 337]; // Rx Ry Gx Gy Bx By Wx Wy
    let low = |i: usize| (c[i] & 3) as u8;
    out[0] = low(0) << 6 | low(1) << 4 | low(2) << 2 | low(3);
    out[1] = low(4) << 6 | low(5) << 4 | low(6) << 2 | low(7);
    for (o, &v) in out[2..].iter_mut().zip(&c) {
        *o = (v >> 2) as u8;
    }
}

/// 1280x800 at 59.81 Hz (VESA CVT, DMT 0x1C): 83.5 MHz, horizontal 1280 +
/// 72/128/200, vertical 800 + 3/6/22, hsync negative and vsync positive;
/// a 330 x 206 mm image.
const DTD_1280X800_60: [u8; 18] =
    [0x9E, 0x20, 0x00, 0x90, 0x51, 0x20, 0x1F, 0x30, 0x48, 0x80, 0x36, 0x00, 0x4A, 0xCE, 0x10, 0, 0, 0x1C];

/// Range limits: 50-125 Hz vertical, 30-160 kHz horizontal, 280 MHz, no
/// formula (range limits only).
const RANGE_LIMITS: [u8; 18] = [0, 0, 0, 0xFD, 0, 50, 125, 30, 160, 28, 0x01, 0x0A, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20];

/// A display descriptor holding up to 13 characters, ended by a line feed
/// and padded with spaces.
fn text_descriptor(tag: u8, text: &[u8]) -> [u8; 18] {
    let mut d = [0x20u8; 18];
    d[..5].copy_from_slice(&[0, 0, 0, tag, 0]);
    let n = text.len().min(13);
    d[5..5 + n].copy_from_slice(&text[..n]);
    if n < 13 {
        d[5 + n] = 0x0A;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_has_the_header_a_valid_checksum_and_a_1280x800_preferred_mode() {
        let e = block();
        assert_eq!(e[..8], [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
        assert_eq!(e.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
        // The first detailed timing, decoded as a guest does.
        let d = &e[54..72];
        let clock_khz = u32::from(u16::from_le_bytes([d[0], d[1]])) * 10;
        let h_active = u32::from(d[2]) | u32::from(d[4] >> 4) << 8;
        let h_blank = u32::from(d[3]) | u32::from(d[4] & 0xF) << 8;
        let v_active = u32::from(d[5]) | u32::from(d[7] >> 4) << 8;
        let v_blank = u32::from(d[6]) | u32::from(d[7] & 0xF) << 8;
        assert_eq!((h_active, v_active), (1280, 800));
        let hz = clock_khz as f64 * 1000.0 / f64::from((h_active + h_blank) * (v_active + v_blank));
        assert!((59.8..59.82).contains(&hz), "{hz}");
        // Manufacturer letters and the monitor name.
        let mfg = u16::from_be_bytes([e[8], e[9]]);
        let letters: String = [10, 5, 0].iter().map(|s| char::from(b'A' - 1 + ((mfg >> s) & 31) as u8)).collect();
        assert_eq!(letters, "IPC");
        assert_eq!(&e[72 + 5..72 + 16], b"ironpc VGA\n");
        // 1920x1080 at 60 Hz among the standard timings.
        assert!(e[38..54].chunks(2).any(|s| s == [(1920u16 / 8 - 31) as u8, 0xC0]));
    }
}
