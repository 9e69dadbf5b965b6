//! Host-differential tests of the x87: the host's own FPU (every x86-64
//! has one) runs the same instruction on the same 80-bit operands under
//! the same control word, and the result registers and status word must
//! match ironpc's bit for bit. Only masked exceptions are exercised: an
//! unmasked one would trap in the test process.

use super::x87::sw;
use crate::{fpstate::F80, testing::Rng, testing::TestMachine};
use std::arch::asm;

/// Runs the two instruction bytes `op` on the host with ST(0) = `a`,
/// ST(1) = `b` and FCW = `cw`: returns ST(0), ST(1) and FSW after it.
fn host(op: [u8; 2], cw: u16, a: F80, b: F80) -> (F80, F80, u16) {
    let (ab, bb) = (a.to_bytes(), b.to_bytes());
    let mut r0 = [0u8; 10];
    let mut r1 = [0u8; 10];
    let mut fsw: u16 = 0;
    macro_rules! run {
        ($bytes:literal) => {
            // SAFETY: the block touches only the x87 stack, which it leaves
            // empty with the default control word (FNINIT), as the ABI
            // requires, and the five buffers passed by pointer, each large
            // enough for what is stored there. All exceptions are masked
            // by the caller's `cw`, so nothing traps.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    $bytes,
                    "fnstsw word ptr [{sw}]",
                    "fstp tbyte ptr [{r0}]",
                    "fstp tbyte ptr [{r1}]",
                    "fninit",
                    cw = in(reg) &cw,
                    a = in(reg) ab.as_ptr(),
                    b = in(reg) bb.as_ptr(),
                    sw = in(reg) &mut fsw,
                    r0 = in(reg) r0.as_mut_ptr(),
                    r1 = in(reg) r1.as_mut_ptr(),
                    options(nostack),
                )
            }
        };
    }
    match op {
        [0xD8, 0xC1] => run!(".byte 0xD8, 0xC1"),
        [0xD8, 0xE1] => run!(".byte 0xD8, 0xE1"),
        [0xD8, 0xE9] => run!(".byte 0xD8, 0xE9"),
        [0xD8, 0xC9] => run!(".byte 0xD8, 0xC9"),
        [0xD8, 0xF1] => run!(".byte 0xD8, 0xF1"),
        [0xD8, 0xF9] => run!(".byte 0xD8, 0xF9"),
        [0xD9, 0xFA] => run!(".byte 0xD9, 0xFA"),
        [0xD9, 0xFC] => run!(".byte 0xD9, 0xFC"),
        [0xD9, 0xFD] => run!(".byte 0xD9, 0xFD"),
        [0xD9, 0xF8] => run!(".byte 0xD9, 0xF8"),
        [0xD9, 0xF5] => run!(".byte 0xD9, 0xF5"),
        [0xD8, 0xD1] => run!(".byte 0xD8, 0xD1"),
        [0xDD, 0xE1] => run!(".byte 0xDD, 0xE1"),
        [0xD9, 0xE5] => run!(".byte 0xD9, 0xE5"),
        [0xD9, 0xE4] => run!(".byte 0xD9, 0xE4"),
        _ => panic!("no host block for {op:x?}"),
    }
    (F80::from_bytes(r0), F80::from_bytes(r1), fsw)
}

/// The same on ironpc.
fn ours(op: [u8; 2], cw: u16, a: F80, b: F80) -> (F80, F80, u16) {
    let mut m = TestMachine::flat32();
    m.cpu.state.fpu.finit();
    m.cpu.state.fpu.fcw = cw;
    m.cpu.fpu_push(b);
    m.cpu.fpu_push(a);
    m.load_code(&[op[0], op[1], 0xF4]);
    m.run(2);
    (m.cpu.st(0), m.cpu.st(1), m.cpu.state.fpu.fsw)
}

/// Operands drawn from every class, with exponents clustered so that
/// sums cancel, products overflow and quotients underflow.
fn operand(r: &mut Rng) -> F80 {
    let sign = if r.chance(50) { 0x8000 } else { 0 };
    let signif = r.next_u64() | 1 << 63;
    let e = match r.below(16) {
        0 => return F80 { signif: 0, sign_exp: sign },
        // Denormals, and now and then a pseudo-denormal (J set).
        1 if r.chance(20) => return F80 { signif, sign_exp: sign },
        1 => return F80 { signif: signif >> (1 + r.below(63)), sign_exp: sign },
        2 => return F80 { signif: 1 << 63, sign_exp: sign | 0x7FFF },
        3 => return F80 { signif: signif | 1 << 62, sign_exp: sign | 0x7FFF },
        4 => return F80 { signif: (signif & !(1 << 62)) | 1, sign_exp: sign | 0x7FFF },
        5 => return F80 { signif: signif >> 1, sign_exp: sign | (1 + r.below(0x7FFE)) as u16 },
        6 => 0x7FFE - r.below(64) as u16,
        7 => 1 + r.below(64) as u16,
        8 => return F80 { signif: signif & !((1 << r.below(60)) - 1), sign_exp: sign | (0x3FFF + r.below(64)) as u16 },
        _ => 0x3FFF - 32 + r.below(64) as u16,
    };
    F80 { signif, sign_exp: sign | e }
}

/// FSW bits each instruction defines (C0, C2, C3 are undefined after
/// arithmetic; C2 after FPREM matters).
fn defined(op: [u8; 2]) -> u16 {
    match op {
        [0xD9, 0xF8] | [0xD9, 0xF5] | [0xD8, 0xD1] | [0xDD, 0xE1] | [0xD9, 0xE5] | [0xD9, 0xE4] => 0xFFFF,
        _ => !(sw::C0 | sw::C2 | sw::C3),
    }
}

const OPS: [([u8; 2], &str); 15] = [
    ([0xD8, 0xC1], "fadd"),
    ([0xD8, 0xE1], "fsub"),
    ([0xD8, 0xE9], "fsubr"),
    ([0xD8, 0xC9], "fmul"),
    ([0xD8, 0xF1], "fdiv"),
    ([0xD8, 0xF9], "fdivr"),
    ([0xD9, 0xFA], "fsqrt"),
    ([0xD9, 0xFC], "frndint"),
    ([0xD9, 0xFD], "fscale"),
    ([0xD9, 0xF8], "fprem"),
    ([0xD9, 0xF5], "fprem1"),
    ([0xD8, 0xD1], "fcom"),
    ([0xDD, 0xE1], "fucom"),
    ([0xD9, 0xE5], "fxam"),
    ([0xD9, 0xE4], "ftst"),
];

#[test]
fn host_x87_agrees() {
    let mut r = Rng::new(0x87);
    let mut failures = Vec::new();
    for n in 0..60_000 {
        let (op, name) = OPS[n % OPS.len()];
        let mut a = operand(&mut r);
        let mut b = operand(&mut r);
        if op == [0xD9, 0xFD] && r.chance(80) {
            // FSCALE: a small integral scale factor most of the time.
            b = crate::softfloat::ext80::from_i64(r.below(40000) as i64 - 20000);
        }
        if op == [0xD9, 0xF8] || op == [0xD9, 0xF5] {
            // FPREM: mostly exponent differences a partial step finishes.
            a.sign_exp = (a.sign_exp & 0x8000) | (b.sign_exp & 0x7FFF).wrapping_add(r.below(70) as u16) & 0x7FFF;
        }
        let cw = 0x003F | (r.below(4) as u16) << 8 | (r.below(4) as u16) << 10;
        let cw = if cw & 0x0300 == 0x0100 { cw | 0x0200 } else { cw };
        let h = host(op, cw, a, b);
        let o = ours(op, cw, a, b);
        let mask = defined(op);
        if (h.0, h.1, h.2 & mask) != (o.0, o.1, o.2 & mask) {
            failures.push(format!(
                "{name} cw={cw:04x} a={a:x?} b={b:x?}\n  host {:x?} {:x?} {:04x}\n  ours {:x?} {:x?} {:04x}",
                h.0, h.1, h.2, o.0, o.1, o.2
            ));
        }
    }
    assert!(failures.is_empty(), "{} mismatches, first ones:\n{}", failures.len(), failures[..failures.len().min(12)].join("\n"));
}
