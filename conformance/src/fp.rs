//! Floating-point and SIMD state for x87, MMX, SSE and SSE2 cases: the
//! part of an FXSAVE image the sweep sets and compares (SDM vol. 2A
//! FXSAVE, table 3-43: FCW, FSW, the abridged tag word, ST0-ST7, MXCSR,
//! XMM0-XMM7), and value generators that reach the special classes of
//! each format (SDM vol. 1 4.8, 8.2.2: zeros, denormals, infinities,
//! QNaN/SNaN, the largest and smallest normals, and for the 80-bit format
//! pseudo-denormals, unnormals, pseudo-NaNs and pseudo-infinities).
//!
//! The FXSAVE image is the exchange format with the host because it is
//! what FXRSTOR loads and what the kernel's signal frame holds, and
//! because saving it does not change the state (FNSAVE would reinitialise
//! the FPU). FIP/FDP/FOP/FCS/FDS are left zero and not compared: AMD
//! hosts save them only while an exception is pending.

use crate::Rng;
use ironpc_cpu::fpstate::{tag, F80};

/// FSW.ES and FSW.B: an unmasked exception is pending.
pub const FSW_ES: u16 = 1 << 7;
pub const FSW_B: u16 = 1 << 15;
/// FSW.SF: the invalid operation was a stack fault.
pub const FSW_SF: u16 = 1 << 6;
/// FSW condition codes C0, C1, C2, C3.
pub const C0: u16 = 1 << 8;
pub const C1: u16 = 1 << 9;
pub const C2: u16 = 1 << 10;
pub const C3: u16 = 1 << 14;

/// The floating-point and SIMD state of a case, as FXSAVE lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpState {
    pub fcw: u16,
    pub fsw: u16,
    /// Abridged tag word: bit i set when physical register Ri is not
    /// empty.
    pub tag: u8,
    /// ST(0)..ST(7) (not physical order: ST(i) is R[(TOP + i) & 7]).
    pub st: [F80; 8],
    pub mxcsr: u32,
    pub xmm: [u128; 8],
}

/// Bytes of the FXSAVE image the sweep exchanges (up to XMM7's end).
pub const FX_USED: usize = 288;

impl FpState {
    /// TOP from FSW.
    pub fn top(&self) -> usize {
        usize::from(self.fsw >> 11) & 7
    }

    /// The 512-byte FXSAVE image (32-bit format).
    pub fn to_fxsave(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..2].copy_from_slice(&self.fcw.to_le_bytes());
        b[2..4].copy_from_slice(&self.fsw.to_le_bytes());
        b[4] = self.tag;
        b[24..28].copy_from_slice(&self.mxcsr.to_le_bytes());
        // MXCSR_MASK is ignored by FXRSTOR.
        for (i, r) in self.st.iter().enumerate() {
            b[32 + 16 * i..42 + 16 * i].copy_from_slice(&r.to_bytes());
        }
        for (i, x) in self.xmm.iter().enumerate() {
            b[160 + 16 * i..176 + 16 * i].copy_from_slice(&x.to_le_bytes());
        }
        b
    }

    /// Reads an FXSAVE image (at least [`FX_USED`] bytes).
    pub fn from_fxsave(b: &[u8]) -> Self {
        let u16_at = |n: usize| u16::from_le_bytes([b[n], b[n + 1]]);
        let mut st = [F80::default(); 8];
        for (i, r) in st.iter_mut().enumerate() {
            let mut t = [0u8; 10];
            t.copy_from_slice(&b[32 + 16 * i..42 + 16 * i]);
            *r = F80::from_bytes(t);
        }
        let mut xmm = [0u128; 8];
        for (i, x) in xmm.iter_mut().enumerate() {
            let mut t = [0u8; 16];
            t.copy_from_slice(&b[160 + 16 * i..176 + 16 * i]);
            *x = u128::from_le_bytes(t);
        }
        Self { fcw: u16_at(0), fsw: u16_at(2), tag: b[4], st, mxcsr: u32::from_le_bytes([b[24], b[25], b[26], b[27]]), xmm }
    }

    /// Physical register Ri.
    pub fn phys(&self, i: usize) -> F80 {
        self.st[(i + 8 - self.top()) & 7]
    }

    /// The full tag word FXRSTOR rebuilds from the abridged one (SDM
    /// vol. 2A FXSAVE, "x87 FPU and SSE State": empty from the abridged
    /// bit, otherwise classified from the register's contents).
    pub fn full_tag(&self) -> u16 {
        (0..8).fold(0, |t, i| {
            let v = if self.tag & (1 << i) == 0 { tag::EMPTY } else { classify(self.phys(i)) };
            t | v << (2 * i)
        })
    }
}

/// The tag of a non-empty register: zero, valid (normal) or special
/// (NaN, infinity, denormal, pseudo-denormal, unnormal).
pub fn classify(v: F80) -> u16 {
    let exp = v.sign_exp & 0x7FFF;
    match exp {
        0x7FFF => tag::SPECIAL,
        0 if v.signif == 0 => tag::ZERO,
        0 => tag::SPECIAL,
        _ if v.signif >> 63 == 1 => tag::VALID,
        _ => tag::SPECIAL,
    }
}

/// The parameters of a binary interchange format.
struct Format {
    /// Bits of the stored fraction.
    frac: u32,
    /// Bits of the exponent.
    exp: u32,
}

const F32: Format = Format { frac: 23, exp: 8 };
const F64: Format = Format { frac: 52, exp: 11 };

/// A random value of a binary format, often from a special class.
fn binary(rng: &mut Rng, f: &Format) -> u64 {
    let frac_mask = (1u64 << f.frac) - 1;
    let emax = (1u64 << f.exp) - 1;
    let bias = emax >> 1;
    let sign = u64::from(rng.one_in(2)) << (f.frac + f.exp);
    let frac = rng.next_u64() & frac_mask;
    let quiet = 1u64 << (f.frac - 1);
    let pack = |e: u64, m: u64| sign | e << f.frac | m;
    match rng.below(16) {
        0 => pack(0, 0),
        1 => pack(0, frac.max(1)),
        2 => pack(0, rng.pick(&[1, frac_mask, quiet])),
        3 => pack(emax, 0),
        4 => pack(emax, quiet | frac),
        5 => pack(emax, (frac & !quiet).max(1)),
        6 => pack(emax - 1, frac_mask),
        7 => pack(1, rng.pick(&[0, frac])),
        // Small integers and simple fractions: exact results, ties.
        8 => pack(bias + u64::from(rng.below(8)), frac & !(frac_mask >> 3)),
        // Near 1.0 and near the rounding boundaries of integers.
        9 => pack(bias + u64::from(rng.below(64)), rng.pick(&[0, frac_mask, 1, frac])),
        _ => {
            // Moderate exponents, where sums and products stay normal.
            let spread = u64::from(rng.below(2 * bias.min(200) as u32)) as i64 - bias.min(200) as i64;
            pack((bias as i64 + spread) as u64, frac)
        }
    }
}

/// A random single-precision value.
pub fn f32_value(rng: &mut Rng) -> u32 {
    binary(rng, &F32) as u32
}

/// A random double-precision value.
pub fn f64_value(rng: &mut Rng) -> u64 {
    binary(rng, &F64)
}

/// A random extended-precision value, including the encodings only the
/// 80-bit format has.
pub fn f80_value(rng: &mut Rng) -> F80 {
    const J: u64 = 1 << 63;
    const Q: u64 = 1 << 62;
    let sign = if rng.one_in(2) { 0x8000 } else { 0 };
    let frac = rng.next_u64() & !J;
    let v = |e: u16, m: u64| F80 { signif: m, sign_exp: sign | e };
    match rng.below(20) {
        0 => v(0, 0),
        // Denormal.
        1 => v(0, frac.max(1)),
        // Pseudo-denormal: exponent 0 with the integer bit set.
        2 => v(0, J | frac),
        3 => v(0x7FFF, J),
        // QNaN, SNaN, real indefinite.
        4 => v(0x7FFF, J | Q | frac),
        5 => v(0x7FFF, J | (frac & !Q).max(1)),
        6 => F80 { signif: J | Q, sign_exp: 0xFFFF },
        // Largest and smallest normals.
        7 => v(0x7FFE, u64::MAX),
        8 => v(1, J | rng.pick(&[0, frac])),
        // Unnormal, pseudo-NaN, pseudo-infinity: invalid operands.
        9 => v(1 + rng.below(0x7FFD) as u16, frac),
        10 => v(0x7FFF, rng.pick(&[0, frac])),
        11 => v(0x3FFF + rng.below(64) as u16, J | (frac & !(u64::MAX >> 4))),
        12 => v(0x3FFF + rng.below(64) as u16, J | rng.pick(&[0, !J, 1, 0x7FF, 0x400])),
        // Around the transcendentals' ranges (|x| < 2^63 for FSIN, pi/4).
        13 => v(0x3FFF - 4 + rng.below(70) as u16, J | frac),
        _ => {
            let spread = rng.below(600) as i32 - 300;
            v((0x3FFF + spread) as u16, J | frac)
        }
    }
}

/// A random 64-bit integer-ish value for MMX registers and integer SIMD
/// lanes: edges in each lane width, or random bits.
pub fn int64_value(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.pick(&[0, u64::MAX, 0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 1]),
        1 => u64::from_le_bytes(std::array::from_fn(|_| rng.pick(&[0, 0x7F, 0x80, 0xFF, 1]))),
        2 => (0..4).fold(0, |a, k| a | u64::from(rng.pick(&[0u16, 0x7FFF, 0x8000, 0xFFFF, 1])) << (16 * k)),
        _ => rng.next_u64(),
    }
}

/// A random XMM register: four singles, two doubles or integers.
pub fn xmm_value(rng: &mut Rng) -> u128 {
    match rng.below(3) {
        0 => (0..4).fold(0, |a, k| a | u128::from(f32_value(rng)) << (32 * k)),
        1 => u128::from(f64_value(rng)) | u128::from(f64_value(rng)) << 64,
        _ => u128::from(int64_value(rng)) | u128::from(int64_value(rng)) << 64,
    }
}

/// An x87 control word: random precision and rounding control, all
/// exceptions masked three times in four.
pub fn fcw_value(rng: &mut Rng) -> u16 {
    let masks = if rng.one_in(4) { rng.u32() as u16 & 0x3F } else { 0x3F };
    // Precision control 01 is reserved (SDM vol. 1 8.1.5.2): only the
    // three defined precisions (FLDCW and FLDENV of random bytes can still
    // load it).
    let pc = rng.pick(&[0u16, 2, 3]);
    // Bit 6 reads as one after FNINIT; keep it so.
    masks | 0x40 | pc << 8 | (rng.below(4) as u16) << 10
}

/// An x87 status word for control word `fcw`: random condition codes,
/// TOP and sticky flags; an unmasked flag (a pending exception, which
/// the next waiting instruction reports as #MF) only now and then. ES and
/// B follow the flags, as FXRSTOR computes them.
pub fn fsw_value(rng: &mut Rng, fcw: u16) -> u16 {
    let mut flags = if rng.one_in(3) { rng.u32() as u16 & 0x3F } else { 0 };
    if !rng.one_in(8) {
        flags &= fcw & 0x3F;
    }
    if flags & 1 != 0 && rng.one_in(2) {
        flags |= FSW_SF;
    }
    let cc = rng.u32() as u16 & (C0 | C1 | C2 | C3);
    let top = (rng.below(8) as u16) << 11;
    let es = if flags & !fcw & 0x3F != 0 { FSW_ES | FSW_B } else { 0 };
    flags | cc | top | es
}

/// MXCSR: random rounding, FTZ, DAZ, sticky flags; all exceptions
/// masked three times in four.
pub fn mxcsr_value(rng: &mut Rng) -> u32 {
    let flags = if rng.one_in(3) { rng.u32() & 0x3F } else { 0 };
    let masks = if rng.one_in(4) { rng.u32() & 0x3F } else { 0x3F };
    flags | (rng.u32() & 1) << 6 | masks << 7 | rng.below(4) << 13 | (rng.u32() & 1) << 15
}

/// Whether a case of this form runs with MMX-flavoured registers.
pub fn mmx_flavoured(code: iced_x86::Code) -> bool {
    use iced_x86::OpCodeOperandKind as K;
    let op = code.op_code();
    (0..op.op_count()).any(|n| matches!(op.op_kind(n), K::mm_reg | K::mm_rm | K::mm_or_mem))
        || code.mnemonic() == iced_x86::Mnemonic::Emms
}

/// A random starting state. x87-flavoured: random TOP, a quarter of the
/// registers empty (stack overflow and underflow), special values.
/// MMX-flavoured: as MMX code leaves it (TOP 0, every register valid,
/// exponents all ones, mostly).
pub fn state(rng: &mut Rng, mmx: bool) -> FpState {
    let fcw = fcw_value(rng);
    let mut fsw = fsw_value(rng, fcw);
    let mut st = [F80::default(); 8];
    let tag;
    if mmx {
        fsw &= !(7 << 11);
        tag = if rng.one_in(8) { rng.u32() as u8 } else { 0xFF };
        for r in &mut st {
            let e = if rng.one_in(4) { f80_value(rng).sign_exp } else { 0xFFFF };
            *r = F80 { signif: int64_value(rng), sign_exp: e };
        }
    } else {
        tag = (0..8).fold(0u8, |t, i| if rng.one_in(4) { t } else { t | 1 << i });
        for r in &mut st {
            *r = f80_value(rng);
        }
    }
    let mut xmm = [0u128; 8];
    for x in &mut xmm {
        *x = xmm_value(rng);
    }
    FpState { fcw, fsw, tag, st, mxcsr: mxcsr_value(rng), xmm }
}

/// The ulp distance between two extended-precision values, counted in
/// units of the 64-bit significand's last place; `None` when either is
/// not a finite number (NaN, infinity, unsupported encodings).
pub fn ulps(a: F80, b: F80) -> Option<u128> {
    let key = |v: F80| -> Option<i128> {
        let exp = i128::from(v.sign_exp & 0x7FFF);
        if exp == 0x7FFF || exp != 0 && v.signif >> 63 == 0 {
            return None;
        }
        // Denormals and pseudo-denormals use the exponent of 1.
        let mag = (exp.max(1) - 1) * (1i128 << 63) + i128::from(v.signif);
        Some(if v.sign_exp & 0x8000 != 0 { -mag } else { mag })
    };
    Some(key(a)?.abs_diff(key(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every special class the issue names shows up in a few thousand
    /// draws of each format.
    #[test]
    fn generators_reach_every_special_class() {
        let mut rng = Rng::new(11);
        let mut seen32 = [false; 7];
        let mut seen64 = [false; 7];
        let classes = |v: u64, f: &Format, seen: &mut [bool; 7]| {
            let exp = (v >> f.frac) & ((1 << f.exp) - 1);
            let frac = v & ((1 << f.frac) - 1);
            let emax = (1 << f.exp) - 1;
            let quiet = 1 << (f.frac - 1);
            let k = match (exp, frac) {
                (0, 0) => 0,
                (0, _) => 1,
                (e, 0) if e == emax => 2,
                (e, m) if e == emax && m & quiet != 0 => 3,
                (e, _) if e == emax => 4,
                (e, m) if e == emax - 1 && m == (1 << f.frac) - 1 => 5,
                (1, 0) => 6,
                _ => return,
            };
            seen[k] = true;
        };
        let mut neg_zero = false;
        for _ in 0..4000 {
            let a = f32_value(&mut rng);
            neg_zero |= a == 0x8000_0000;
            classes(u64::from(a), &F32, &mut seen32);
            classes(f64_value(&mut rng), &F64, &mut seen64);
        }
        assert!(neg_zero);
        assert_eq!(seen32, [true; 7], "f32: zero denormal inf qnan snan max min");
        assert_eq!(seen64, [true; 7], "f64: zero denormal inf qnan snan max min");

        let mut seen80 = [false; 9];
        for _ in 0..4000 {
            let v = f80_value(&mut rng);
            let (e, m) = (v.sign_exp & 0x7FFF, v.signif);
            let j = m >> 63 == 1;
            let k = match (e, m) {
                (0, 0) => 0,
                (0, _) if !j => 1,
                (0, _) => 2,
                (0x7FFF, m) if m == 1 << 63 => 3,
                (0x7FFF, m) if j && m & (1 << 62) != 0 => 4,
                (0x7FFF, _) if j => 5,
                (0x7FFF, _) => 6,
                (0x7FFE, u64::MAX) => 7,
                (_, _) if !j => 8,
                _ => continue,
            };
            seen80[k] = true;
        }
        assert_eq!(seen80, [true; 9], "f80: zero denormal pseudo-denormal inf qnan snan pseudo-nan max unnormal");
    }

    #[test]
    fn control_and_status_words_are_consistent() {
        let mut rng = Rng::new(5);
        let (mut unmasked, mut pending, mut pcs) = (false, false, [false; 4]);
        for _ in 0..2000 {
            let fcw = fcw_value(&mut rng);
            assert_eq!(fcw & !0x0F7F, 0, "{fcw:#x}: reserved bits");
            unmasked |= fcw & 0x3F != 0x3F;
            pcs[usize::from(fcw >> 8 & 3)] = true;
            assert_ne!(fcw >> 8 & 3, 1, "reserved precision control");
            let fsw = fsw_value(&mut rng, fcw);
            let es = fsw & 0x3F & !fcw != 0;
            assert_eq!(fsw & FSW_ES != 0, es, "ES follows the unmasked flags");
            assert_eq!(fsw & FSW_B != 0, es, "B mirrors ES");
            pending |= es;
            let m = mxcsr_value(&mut rng);
            assert_eq!(m & !0xFFFF, 0, "MXCSR reserved bits");
        }
        assert!(unmasked && pending && pcs == [true, false, true, true]);
    }

    #[test]
    fn fxsave_image_round_trip_and_tags() {
        let mut rng = Rng::new(9);
        let s = state(&mut rng, false);
        assert_eq!(FpState::from_fxsave(&s.to_fxsave()), s);
        let mut s = s;
        s.fsw = 3 << 11;
        s.tag = 0b0000_1000;
        s.st[0] = F80 { signif: 0, sign_exp: 0x8000 };
        assert_eq!(s.full_tag(), 0xFF7F, "R3 = ST(0) zero, the rest empty");
        s.st[0] = F80 { signif: 1 << 63, sign_exp: 0x3FFF };
        assert_eq!(s.full_tag(), 0xFF3F, "valid");
        s.st[0] = F80 { signif: 1 << 62, sign_exp: 0x3FFF };
        assert_eq!(s.full_tag(), 0xFFBF, "unnormal: special");
        let m = state(&mut rng, true);
        assert_eq!(m.top(), 0);
    }

    #[test]
    fn ulps_count_across_exponents_and_signs() {
        let one = F80 { signif: 1 << 63, sign_exp: 0x3FFF };
        let next = F80 { signif: (1 << 63) + 1, sign_exp: 0x3FFF };
        let below = F80 { signif: u64::MAX, sign_exp: 0x3FFE };
        assert_eq!(ulps(one, one), Some(0));
        assert_eq!(ulps(one, next), Some(1));
        assert_eq!(ulps(below, one), Some(1));
        let zero = F80::default();
        let neg_zero = F80 { signif: 0, sign_exp: 0x8000 };
        assert_eq!(ulps(zero, neg_zero), Some(0));
        assert_eq!(ulps(one, F80 { signif: 1 << 63, sign_exp: 0x7FFF }), None);
    }
}
