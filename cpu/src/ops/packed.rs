//! Packed-integer arithmetic shared by the MMX (64-bit) and SSE2 (128-bit)
//! forms (SDM vol. 1 9.4 and 11.4; vol. 2 pages of each instruction).
//!
//! Operands travel as `u128` with `n`, the operand width in bytes (8 for
//! an MMX register, 16 for an XMM register); bytes at and above `n` are
//! ignored on input and zero on output. One function per operation serves
//! both widths, so the two register files cannot drift apart.

use iced_x86::Mnemonic;

/// A packed binary operation: destination, source (or shift count), width.
pub(crate) type BinOp = fn(u128, u128, usize) -> u128;

#[inline(always)]
fn emask(esz: usize) -> u64 {
    if esz >= 8 {
        u64::MAX
    } else {
        (1u64 << (esz * 8)) - 1
    }
}

/// Element `i` of `esz` bytes.
#[inline(always)]
fn lane(v: u128, i: usize, esz: usize) -> u64 {
    (v >> (i * esz * 8)) as u64 & emask(esz)
}

/// Sign-extends an `esz`-byte element.
#[inline(always)]
fn sx(v: u64, esz: usize) -> i64 {
    let sh = 64 - esz * 8;
    ((v << sh) as i64) >> sh
}

/// Applies `f` element-wise to `a` and `b`.
#[inline(always)]
fn map2(a: u128, b: u128, n: usize, esz: usize, f: impl Fn(u64, u64) -> u64) -> u128 {
    let mut r = 0u128;
    for i in 0..n / esz {
        r |= u128::from(f(lane(a, i, esz), lane(b, i, esz)) & emask(esz)) << (i * esz * 8);
    }
    r
}

/// Signed saturation of `v` to `esz` bytes.
#[inline(always)]
fn sat_s(v: i64, esz: usize) -> u64 {
    let bits = esz * 8;
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max) as u64 & emask(esz)
}

/// Unsigned saturation of `v` to `esz` bytes.
#[inline(always)]
fn sat_u(v: i64, esz: usize) -> u64 {
    v.clamp(0, emask(esz) as i64) as u64
}

fn add_ss(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| sat_s(sx(x, esz) + sx(y, esz), esz))
}

fn sub_ss(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| sat_s(sx(x, esz) - sx(y, esz), esz))
}

fn add_us(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| sat_u(x as i64 + y as i64, esz))
}

fn sub_us(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| sat_u(x as i64 - y as i64, esz))
}

fn cmpeq(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| if x == y { u64::MAX } else { 0 })
}

fn cmpgt(a: u128, b: u128, n: usize, esz: usize) -> u128 {
    map2(a, b, n, esz, |x, y| if sx(x, esz) > sx(y, esz) { u64::MAX } else { 0 })
}

/// Shifts by the whole 64-bit count: a count of the element width or more
/// clears the element (logical) or fills it with its sign (arithmetic),
/// rather than wrapping as the scalar shifts' masked counts do.
fn shl(a: u128, count: u128, n: usize, esz: usize) -> u128 {
    let c = count as u64;
    map2(a, 0, n, esz, |x, _| if c >= (esz * 8) as u64 { 0 } else { x << c })
}

fn shr(a: u128, count: u128, n: usize, esz: usize) -> u128 {
    let c = count as u64;
    map2(a, 0, n, esz, |x, _| if c >= (esz * 8) as u64 { 0 } else { x >> c })
}

fn sar(a: u128, count: u128, n: usize, esz: usize) -> u128 {
    let c = (count as u64).min((esz * 8 - 1) as u64);
    map2(a, 0, n, esz, |x, _| (sx(x, esz) >> c) as u64)
}

/// PACKSS*/PACKUS*: the destination's elements narrowed into the low half
/// of the result, the source's into the high half.
fn pack(a: u128, b: u128, n: usize, esz: usize, sat: fn(i64, usize) -> u64) -> u128 {
    let out = esz / 2;
    let half = n / esz;
    let mut r = 0u128;
    for i in 0..half {
        r |= u128::from(sat(sx(lane(a, i, esz), esz), out)) << (i * out * 8);
        r |= u128::from(sat(sx(lane(b, i, esz), esz), out)) << ((half + i) * out * 8);
    }
    r
}

/// PUNPCKL*/PUNPCKH*: interleaves the low (or high) halves, destination
/// element first.
fn unpack(a: u128, b: u128, n: usize, esz: usize, high: bool) -> u128 {
    let pairs = n / esz / 2;
    let base = if high { pairs } else { 0 };
    let mut r = 0u128;
    for i in 0..pairs {
        r |= u128::from(lane(a, base + i, esz)) << (2 * i * esz * 8);
        r |= u128::from(lane(b, base + i, esz)) << ((2 * i + 1) * esz * 8);
    }
    r
}

fn width_mask(n: usize) -> u128 {
    if n >= 16 {
        u128::MAX
    } else {
        (1u128 << (n * 8)) - 1
    }
}

/// PSADBW: per 64-bit group, the sum of absolute byte differences in the
/// low word, zeros above.
fn psadbw(a: u128, b: u128, n: usize) -> u128 {
    map2(a, b, n, 8, |x, y| (0..8).map(|k| ((x >> (k * 8)) as u8).abs_diff((y >> (k * 8)) as u8) as u64).sum())
}

/// PMADDWD: each doubleword is the sum of two signed word products. Both
/// products 0x8000 * 0x8000 give 0x8000_0000, which wraps (the only
/// overflow case the SDM names).
fn pmaddwd(a: u128, b: u128, n: usize) -> u128 {
    map2(a, b, n, 4, |x, y| {
        let p0 = i32::from(x as u16 as i16) * i32::from(y as u16 as i16);
        let p1 = i32::from((x >> 16) as u16 as i16) * i32::from((y >> 16) as u16 as i16);
        p0.wrapping_add(p1) as u32 as u64
    })
}

/// The operation of a two-operand packed-integer instruction (shifts take
/// their count as the second operand, from a register, memory or imm8).
pub(crate) fn binop(m: Mnemonic) -> Option<BinOp> {
    use Mnemonic::*;
    Some(match m {
        Paddb => |a, b, n| map2(a, b, n, 1, u64::wrapping_add),
        Paddw => |a, b, n| map2(a, b, n, 2, u64::wrapping_add),
        Paddd => |a, b, n| map2(a, b, n, 4, u64::wrapping_add),
        Paddq => |a, b, n| map2(a, b, n, 8, u64::wrapping_add),
        Psubb => |a, b, n| map2(a, b, n, 1, u64::wrapping_sub),
        Psubw => |a, b, n| map2(a, b, n, 2, u64::wrapping_sub),
        Psubd => |a, b, n| map2(a, b, n, 4, u64::wrapping_sub),
        Psubq => |a, b, n| map2(a, b, n, 8, u64::wrapping_sub),
        Paddsb => |a, b, n| add_ss(a, b, n, 1),
        Paddsw => |a, b, n| add_ss(a, b, n, 2),
        Psubsb => |a, b, n| sub_ss(a, b, n, 1),
        Psubsw => |a, b, n| sub_ss(a, b, n, 2),
        Paddusb => |a, b, n| add_us(a, b, n, 1),
        Paddusw => |a, b, n| add_us(a, b, n, 2),
        Psubusb => |a, b, n| sub_us(a, b, n, 1),
        Psubusw => |a, b, n| sub_us(a, b, n, 2),
        Pmullw => |a, b, n| map2(a, b, n, 2, u64::wrapping_mul),
        Pmulhw => |a, b, n| map2(a, b, n, 2, |x, y| ((sx(x, 2) * sx(y, 2)) >> 16) as u64),
        Pmulhuw => |a, b, n| map2(a, b, n, 2, |x, y| (x * y) >> 16),
        Pmuludq => |a, b, n| map2(a, b, n, 8, |x, y| (x & 0xFFFF_FFFF) * (y & 0xFFFF_FFFF)),
        Pmaddwd => pmaddwd,
        Pcmpeqb => |a, b, n| cmpeq(a, b, n, 1),
        Pcmpeqw => |a, b, n| cmpeq(a, b, n, 2),
        Pcmpeqd => |a, b, n| cmpeq(a, b, n, 4),
        Pcmpgtb => |a, b, n| cmpgt(a, b, n, 1),
        Pcmpgtw => |a, b, n| cmpgt(a, b, n, 2),
        Pcmpgtd => |a, b, n| cmpgt(a, b, n, 4),
        Packsswb => |a, b, n| pack(a, b, n, 2, sat_s),
        Packssdw => |a, b, n| pack(a, b, n, 4, sat_s),
        Packuswb => |a, b, n| pack(a, b, n, 2, sat_u),
        Punpcklbw => |a, b, n| unpack(a, b, n, 1, false),
        Punpcklwd => |a, b, n| unpack(a, b, n, 2, false),
        Punpckldq => |a, b, n| unpack(a, b, n, 4, false),
        Punpcklqdq => |a, b, n| unpack(a, b, n, 8, false),
        Punpckhbw => |a, b, n| unpack(a, b, n, 1, true),
        Punpckhwd => |a, b, n| unpack(a, b, n, 2, true),
        Punpckhdq => |a, b, n| unpack(a, b, n, 4, true),
        Punpckhqdq => |a, b, n| unpack(a, b, n, 8, true),
        Pand => |a, b, n| (a & b) & width_mask(n),
        Pandn => |a, b, n| (!a & b) & width_mask(n),
        Por => |a, b, n| (a | b) & width_mask(n),
        Pxor => |a, b, n| (a ^ b) & width_mask(n),
        Psllw => |a, b, n| shl(a, b, n, 2),
        Pslld => |a, b, n| shl(a, b, n, 4),
        Psllq => |a, b, n| shl(a, b, n, 8),
        Psrlw => |a, b, n| shr(a, b, n, 2),
        Psrld => |a, b, n| shr(a, b, n, 4),
        Psrlq => |a, b, n| shr(a, b, n, 8),
        Psraw => |a, b, n| sar(a, b, n, 2),
        Psrad => |a, b, n| sar(a, b, n, 4),
        // Whole-register byte shifts (XMM only); counts above 15 clear it.
        Pslldq => |a, b, n| if b as u64 > 15 { 0 } else { (a << ((b as u32) * 8)) & width_mask(n) },
        Psrldq => |a, b, n| if b as u64 > 15 { 0 } else { (a & width_mask(n)) >> ((b as u32) * 8) },
        Pavgb => |a, b, n| map2(a, b, n, 1, |x, y| (x + y + 1) >> 1),
        Pavgw => |a, b, n| map2(a, b, n, 2, |x, y| (x + y + 1) >> 1),
        Pminub => |a, b, n| map2(a, b, n, 1, u64::min),
        Pmaxub => |a, b, n| map2(a, b, n, 1, u64::max),
        Pminsw => |a, b, n| map2(a, b, n, 2, |x, y| if sx(x, 2) <= sx(y, 2) { x } else { y }),
        Pmaxsw => |a, b, n| map2(a, b, n, 2, |x, y| if sx(x, 2) >= sx(y, 2) { x } else { y }),
        Psadbw => psadbw,
        _ => return None,
    })
}

/// Word shuffle of one 64-bit group (PSHUFW, PSHUFLW, PSHUFHW).
pub(crate) fn shuffle_words(v: u64, imm: u8) -> u64 {
    let mut r = 0u64;
    for i in 0..4 {
        let sel = (imm >> (i * 2)) & 3;
        r |= ((v >> (sel * 16)) & 0xFFFF) << (i * 16);
    }
    r
}

/// PSHUFD.
pub(crate) fn shuffle_dwords(v: u128, imm: u8) -> u128 {
    let mut r = 0u128;
    for i in 0..4 {
        let sel = (imm >> (i * 2)) & 3;
        r |= ((v >> (sel * 32)) & 0xFFFF_FFFF) << (i * 32);
    }
    r
}

/// PMOVMSKB: the top bit of each byte.
pub(crate) fn movmskb(v: u128, n: usize) -> u32 {
    (0..n).fold(0, |m, k| m | ((((v >> (k * 8 + 7)) & 1) as u32) << k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mnemonic::*;

    fn op(m: Mnemonic, a: u128, b: u128, n: usize) -> u128 {
        binop(m).expect("a packed op")(a, b, n)
    }

    #[test]
    fn saturation_edges() {
        // Signed bytes: 0x7F + 1 saturates to 0x7F, 0x80 - 1 to 0x80.
        assert_eq!(op(Paddsb, 0x807F, 0xFF01, 8), 0x807F);
        assert_eq!(op(Psubsb, 0x807F, 0x01FF, 8), 0x807F);
        // Unsigned: 0xFF + 1 -> 0xFF, 0 - 1 -> 0.
        assert_eq!(op(Paddusb, 0x00FF, 0x0101, 8), 0x01FF);
        assert_eq!(op(Psubusb, 0x0500, 0x0301, 8), 0x0200);
        assert_eq!(op(Paddsw, 0x8000_7FFF, 0x8000_0001, 8), 0x8000_7FFF);
        assert_eq!(op(Psubusw, 0x0001_FFFF, 0x0002_0001, 8), 0x0000_FFFE);
        // Wrapping forms wrap.
        assert_eq!(op(Paddb, 0xFF, 0x01, 8), 0);
        assert_eq!(op(Paddq, u128::from(u64::MAX), 1, 8), 0);
    }

    #[test]
    fn shift_counts_at_or_above_the_width() {
        let v = 0x8000_0001_8001_7FFFu128;
        assert_eq!(op(Psllw, v, 16, 8), 0);
        assert_eq!(op(Psrlw, v, 15, 8), 0x0001_0000_0001_0000);
        assert_eq!(op(Psraw, v, 16, 8), 0xFFFF_0000_FFFF_0000);
        assert_eq!(op(Psraw, v, 1 << 40, 8), 0xFFFF_0000_FFFF_0000, "the whole 64-bit count counts");
        assert_eq!(op(Psrlq, v, 64, 8), 0);
        assert_eq!(op(Psllq, v, 63, 8), 0x8000_0000_0000_0000);
        assert_eq!(op(Psrad, v, 31, 8), 0xFFFF_FFFF_FFFF_FFFF);
        assert_eq!(op(Pslldq, 0x1122, 15, 16), 0x22 << 120);
        assert_eq!(op(Psrldq, u128::MAX, 16, 16), 0);
    }

    #[test]
    fn pack_saturation_and_order() {
        // Words 0x0080, 0xFF7F(-129), 0x0005, 0x8000 from dst; 0x7FFF.. from src.
        let a = 0x8000_0005_FF7F_0080u128;
        let b = 0x0000_0001_FFFF_7FFFu128;
        assert_eq!(op(Packsswb, a, b, 8), 0x00_01_FF_7F_80_05_80_7F);
        assert_eq!(op(Packuswb, a, b, 8), 0x00_01_00_FF_00_05_00_80);
        assert_eq!(op(Packssdw, 0xFFFF_0000_0001_0000, 0x8000_0000_0000_0002, 8), 0x8000_0002_8000_7FFF);
    }

    #[test]
    fn unpack_interleaves_destination_first() {
        let a = 0x0706_0504_0302_0100u128;
        let b = 0x1716_1514_1312_1110u128;
        assert_eq!(op(Punpcklbw, a, b, 8), 0x1303_1202_1101_1000);
        assert_eq!(op(Punpckhbw, a, b, 8), 0x1707_1606_1505_1404);
        assert_eq!(op(Punpckhdq, a, b, 8), 0x1716_1514_0706_0504);
        assert_eq!(op(Punpcklqdq, a, b << 64 | b, 16), b << 64 | a);
    }

    #[test]
    fn multiplies_and_psadbw() {
        assert_eq!(op(Pmaddwd, 0x8000_8000, 0x8000_8000, 8), 0x8000_0000, "the overflow case wraps");
        assert_eq!(op(Pmaddwd, 0x0002_FFFF, 0x0003_0004, 8), 2);
        assert_eq!(op(Pmulhw, 0x8000, 0x8000, 8), 0x4000);
        assert_eq!(op(Pmulhw, 0xFFFF, 0x0002, 8), 0xFFFF);
        assert_eq!(op(Pmulhuw, 0xFFFF, 0xFFFF, 8), 0xFFFE);
        assert_eq!(op(Pmullw, 0x0100, 0x0100, 8), 0);
        assert_eq!(op(Pmuludq, 0xAAAA_FFFF_FFFF, 0xFFFF_FFFF, 8), 0xFFFF_FFFE_0000_0001);
        // |0-255| + |255-0| + 6 * |1-3| = 522.
        assert_eq!(op(Psadbw, 0x0101_0101_0101_FF00, 0x0303_0303_0303_00FF, 8), 522);
        assert_eq!(op(Psadbw, 1 << 64, 0, 16), 1 << 64, "one sum per quadword");
        assert_eq!(op(Pavgb, 0xFF01, 0xFF00, 8), 0xFF01);
    }

    #[test]
    fn compares_min_max_and_shuffles() {
        assert_eq!(op(Pcmpgtb, 0x0180, 0x00_7F, 8), 0xFF00, "signed compare");
        assert_eq!(op(Pcmpeqw, 0x1234_5678, 0x1234_0000, 8), 0xFFFF_FFFF_FFFF_0000, "zero words compare equal too");
        assert_eq!(op(Pminsw, 0x8000_0001, 0x0001_8000, 8), 0x8000_8000);
        assert_eq!(op(Pmaxub, 0x80_01, 0x7F_02, 8), 0x80_02);
        assert_eq!(shuffle_words(0x4444_3333_2222_1111, 0x1B), 0x1111_2222_3333_4444);
        assert_eq!(shuffle_dwords(0x4_0000_0003_0000_0002_0000_0001, 0b00_00_11_10), 0x1_0000_0001_0000_0004_0000_0003);
        assert_eq!(movmskb(0x80_00_FF_01, 8), 0b1010);
    }
}
