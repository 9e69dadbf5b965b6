//! Data conversion and flag transfers: CBW/CWDE, CWD/CDQ, BSWAP, XLAT,
//! LAHF, SAHF, SALC, SETcc, CMOVcc (SDM vol. 2 instruction pages; SALC is
//! the undocumented D6: AL = CF ? 0xFF : 0, present on every Intel and
//! AMD part outside 64-bit mode).
//!
//! BSWAP of a 16-bit register is undefined; Intel and AMD parts write zero
//! to it (Bochs does the same), and so do we.

use super::*;
use crate::state::{fl, reg};
use iced_x86::Code::{self, *};

/// SETcc and CMOVcc forms in condition-code order (O, NO, B, AE, E, NE,
/// BE, A, S, NS, P, NP, L, GE, LE, G).
const SETCC: [Code; 16] = [
    Seto_rm8, Setno_rm8, Setb_rm8, Setae_rm8, Sete_rm8, Setne_rm8, Setbe_rm8, Seta_rm8, Sets_rm8, Setns_rm8, Setp_rm8, Setnp_rm8,
    Setl_rm8, Setge_rm8, Setle_rm8, Setg_rm8,
];
const CMOV16: [Code; 16] = [
    Cmovo_r16_rm16,
    Cmovno_r16_rm16,
    Cmovb_r16_rm16,
    Cmovae_r16_rm16,
    Cmove_r16_rm16,
    Cmovne_r16_rm16,
    Cmovbe_r16_rm16,
    Cmova_r16_rm16,
    Cmovs_r16_rm16,
    Cmovns_r16_rm16,
    Cmovp_r16_rm16,
    Cmovnp_r16_rm16,
    Cmovl_r16_rm16,
    Cmovge_r16_rm16,
    Cmovle_r16_rm16,
    Cmovg_r16_rm16,
];
const CMOV32: [Code; 16] = [
    Cmovo_r32_rm32,
    Cmovno_r32_rm32,
    Cmovb_r32_rm32,
    Cmovae_r32_rm32,
    Cmove_r32_rm32,
    Cmovne_r32_rm32,
    Cmovbe_r32_rm32,
    Cmova_r32_rm32,
    Cmovs_r32_rm32,
    Cmovns_r32_rm32,
    Cmovp_r32_rm32,
    Cmovnp_r32_rm32,
    Cmovl_r32_rm32,
    Cmovge_r32_rm32,
    Cmovle_r32_rm32,
    Cmovg_r32_rm32,
];

/// `$f::<$($pre,)* CC>` for CC = 0..16, as handlers.
macro_rules! per_cc {
    ($f:ident $(, $pre:literal)?) => {
        [
            $f::<$($pre,)? 0>, $f::<$($pre,)? 1>, $f::<$($pre,)? 2>, $f::<$($pre,)? 3>,
            $f::<$($pre,)? 4>, $f::<$($pre,)? 5>, $f::<$($pre,)? 6>, $f::<$($pre,)? 7>,
            $f::<$($pre,)? 8>, $f::<$($pre,)? 9>, $f::<$($pre,)? 10>, $f::<$($pre,)? 11>,
            $f::<$($pre,)? 12>, $f::<$($pre,)? 13>, $f::<$($pre,)? 14>, $f::<$($pre,)? 15>,
        ]
    };
}

pub(super) fn register(t: &mut Table) {
    t.set(Cbw, cbw::<2>);
    t.set(Cwde, cbw::<4>);
    t.set(Cwd, cwd::<2>);
    t.set(Cdq, cwd::<4>);
    t.set(Bswap_r16, bswap::<2>);
    t.set(Bswap_r32, bswap::<4>);
    t.set(Xlat_m8, xlat);
    t.set(Lahf, lahf);
    t.set(Sahf, sahf);
    t.set(Salc, salc);
    let setcc: [Handler; 16] = per_cc!(setcc);
    let cmov16: [Handler; 16] = per_cc!(cmov, 2);
    let cmov32: [Handler; 16] = per_cc!(cmov, 4);
    for cc in 0..16 {
        t.set(SETCC[cc], setcc[cc]);
        t.set(CMOV16[cc], cmov16[cc]);
        t.set(CMOV32[cc], cmov32[cc]);
    }
}

/// CBW (AX = sign-extended AL) and CWDE (EAX = sign-extended AX).
fn cbw<const N: usize>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &mut cpu.state;
    if N == 2 {
        s.set_r16(reg::RAX, s.gpr[reg::RAX] as u8 as i8 as u16);
    } else {
        s.set_r32(reg::RAX, s.gpr[reg::RAX] as u16 as i16 as u32);
    }
    Ok(())
}

/// CWD (DX = sign of AX) and CDQ (EDX = sign of EAX).
fn cwd<const N: usize>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &mut cpu.state;
    if N == 2 {
        s.set_r16(reg::RDX, ((s.gpr[reg::RAX] as i16) >> 15) as u16);
    } else {
        s.set_r32(reg::RDX, ((s.gpr[reg::RAX] as i32) >> 31) as u32);
    }
    Ok(())
}

fn bswap<const N: usize>(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let r = i.op0_register();
    let v = if N == 4 { u64::from((reg_read(&cpu.state, r) as u32).swap_bytes()) } else { 0 };
    reg_write(&mut cpu.state, r, v);
    Ok(())
}

/// XLAT: AL = [seg:(E)BX + AL]; iced-x86 describes the operand as a
/// memory operand with base (E)BX and index AL, so the address size and
/// segment override come with it.
fn xlat(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    let v = cpu.read::<1>(env, seg, off)?;
    reg_write(&mut cpu.state, iced_x86::Register::AL, v);
    Ok(())
}

/// The flags LAHF copies and SAHF loads.
const AH_FLAGS: u32 = fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF;

/// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
fn lahf(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let ah = (cpu.state.flags() & AH_FLAGS) | fl::FIXED;
    reg_write(&mut cpu.state, iced_x86::Register::AH, u64::from(ah));
    Ok(())
}

/// SAHF: SF, ZF, AF, PF, CF from AH; OF keeps its value.
fn sahf(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let ah = (cpu.state.gpr[reg::RAX] >> 8) as u32 & 0xFF;
    cpu.state.set_arith(AH_FLAGS, ah);
    Ok(())
}

fn salc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let v = if cpu.state.cf() { 0xFF } else { 0 };
    reg_write(&mut cpu.state, iced_x86::Register::AL, v);
    Ok(())
}

/// SETcc r/m8: 1 if condition `CC` holds, else 0.
fn setcc<const CC: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = u64::from(cpu.state.cond(CC));
    write_op0::<1>(cpu, env, i, v)
}

/// CMOVcc reg, r/m: the source is read (and may fault) whatever the
/// condition, as on hardware.
fn cmov<const N: usize, const CC: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = read_op::<N>(cpu, env, i, 1)?;
    if cpu.state.cond(CC) {
        reg_write(&mut cpu.state, i.op0_register(), v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use super::{CMOV16, CMOV32, SETCC};
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    #[test]
    fn code_tables_are_in_condition_order() {
        for cc in 0..16 {
            for table in [SETCC, CMOV16, CMOV32] {
                assert_eq!(table[cc].condition_code() as usize, cc + 1, "{:?}", table[cc]);
            }
        }
    }

    #[test]
    fn sign_extensions() {
        // cbw; cwd (16-bit real mode)
        let m = exec16(&[0x98, 0x99], |m| {
            m.cpu.state.gpr[reg::RAX] = 0x1234_5680;
            m.cpu.state.gpr[reg::RDX] = 0xAAAA_0000;
        });
        assert_eq!(r32(&m, reg::RAX), 0x1234_FF80);
        assert_eq!(r32(&m, reg::RDX), 0xAAAA_FFFF);
        // cwde; cdq (32-bit)
        let m = exec32(&[0x98, 0x99], |m| {
            m.cpu.state.gpr[reg::RAX] = 0x1234_7FFF;
            m.cpu.state.gpr[reg::RDX] = 0xAAAA_AAAA;
        });
        assert_eq!(r32(&m, reg::RAX), 0x0000_7FFF);
        assert_eq!(r32(&m, reg::RDX), 0);
        let m = exec32(&[0x98, 0x99], |m| m.cpu.state.gpr[reg::RAX] = 0x0000_8000);
        assert_eq!(r32(&m, reg::RAX), 0xFFFF_8000);
        assert_eq!(r32(&m, reg::RDX), 0xFFFF_FFFF);
    }

    #[test]
    fn bswap_forms() {
        // bswap eax; bswap edi; 66 bswap cx (undefined: zero)
        let code = [0x0F, 0xC8, 0x0F, 0xCF, 0x66, 0x0F, 0xC9];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 0x1122_3344;
            m.cpu.state.gpr[reg::RDI] = 0x8000_0001;
            m.cpu.state.gpr[reg::RCX] = 0xAABB_CCDD;
        });
        assert_eq!(r32(&m, reg::RAX), 0x4433_2211);
        assert_eq!(r32(&m, reg::RDI), 0x0100_0080);
        assert_eq!(r32(&m, reg::RCX), 0xAABB_0000);
    }

    #[test]
    fn xlat_in_both_address_sizes() {
        // xlatb (32-bit, EBX + AL)
        let m = exec32(&[0xD7], |m| {
            m.load(DATA + 0xF0, &[0x5A]);
            m.cpu.state.gpr[reg::RBX] = DATA;
            m.cpu.state.gpr[reg::RAX] = 0x1234_56F0;
        });
        assert_eq!(r32(&m, reg::RAX), 0x1234_565A);
        // es xlatb in real mode with BX wrapping: BX = 0xFFFF, AL = 2 -> ES:0x0001.
        let m = exec16(&[0x26, 0xD7], |m| {
            m.cpu.state.seg[sreg::ES] = crate::state::Segment::real(0x300, 0xFFFF, crate::state::attr::REAL_DATA);
            m.load(0x3001, &[0x77]);
            m.cpu.state.gpr[reg::RBX] = 0xFFFF;
            m.cpu.state.gpr[reg::RAX] = 0x02;
        });
        assert_eq!(r32(&m, reg::RAX), 0x77);
    }

    #[test]
    fn lahf_sahf_salc() {
        // lahf
        let m = exec32(&[0x9F], |m| {
            m.cpu.state.gpr[reg::RAX] = 0;
            set_arith(m, SF | ZF | AF | PF | CF | OF);
        });
        // OF is not in AH; bit 1 reads as 1, bits 3 and 5 as 0.
        assert_eq!(r32(&m, reg::RAX), 0xD700);
        // sahf: AH = 0xFF sets the five flags, OF stays clear.
        let m = exec32(&[0x9E], |m| {
            m.cpu.state.gpr[reg::RAX] = 0xFF00;
            set_arith(m, 0);
        });
        assert_eq!(arith(&m), SF | ZF | AF | PF | CF);
        let m = exec32(&[0x9E], |m| {
            m.cpu.state.gpr[reg::RAX] = 0x0000;
            set_arith(m, fl::ARITH);
        });
        assert_eq!(arith(&m), OF);
        // salc with CF set and clear
        let m = exec32(&[0xD6], |m| {
            m.cpu.state.gpr[reg::RAX] = 0x1200;
            set_arith(m, CF);
        });
        assert_eq!(r32(&m, reg::RAX), 0x12FF);
        let m = exec32(&[0xD6], |m| m.cpu.state.gpr[reg::RAX] = 0x12FF);
        assert_eq!(r32(&m, reg::RAX), 0x1200);
    }

    /// The flags before each SETcc/CMOVcc test and the conditions that
    /// hold under them (bit cc set = condition cc true; cc in the order
    /// O NO B AE E NE BE A S NS P NP L GE LE G, from bit 0).
    const CASES: [(u32, u16); 6] = [
        (0, 0b1010_1010_1010_1010),
        (CF, 0b1010_1010_0110_0110),
        (ZF, 0b0110_1010_0101_1010),
        (OF, 0b0101_1010_1010_1001),
        (SF | OF, 0b1010_1001_1010_1001),
        (SF | PF, 0b0101_0101_1010_1010),
    ];

    #[test]
    fn setcc_all_conditions() {
        for (flags, truth) in CASES {
            for cc in 0..16u8 {
                // setcc bl  (0F 90+cc, modrm C3)
                let code = [0x0F, 0x90 + cc, 0xC3];
                let m = exec32(&code, |m| {
                    m.cpu.state.gpr[reg::RBX] = 0xFFFF_FF55;
                    set_arith(m, flags);
                });
                let want = u32::from((truth >> cc) & 1);
                assert_eq!(r32(&m, reg::RBX), 0xFFFF_FF00 | want, "flags {flags:#x} cc {cc}");
            }
        }
    }

    #[test]
    fn setcc_memory_and_lazy_flags() {
        // After cmp 1, 2 (pending lazily): B holds, G does not.
        let code = [
            0x39, 0xD8, // cmp eax, ebx
            0x0F, 0x92, 0x05, 0x00, 0x30, 0x00, 0x00, // setb [0x3000]
            0x0F, 0x9F, 0x05, 0x01, 0x30, 0x00, 0x00, // setg [0x3001]
        ];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 1;
            m.cpu.state.gpr[reg::RBX] = 2;
            m.load(DATA, &[0xAA, 0xAA]);
        });
        assert_eq!(m.read_phys(DATA, 2), vec![1, 0]);
    }

    #[test]
    fn cmov_all_conditions() {
        for (flags, truth) in CASES {
            for cc in 0..16u8 {
                // cmovcc eax, ecx ; 66 cmovcc dx, cx
                let code = [0x0F, 0x40 + cc, 0xC1, 0x66, 0x0F, 0x40 + cc, 0xD1];
                let m = exec32(&code, |m| {
                    m.cpu.state.gpr[reg::RAX] = 0x1111_1111;
                    m.cpu.state.gpr[reg::RCX] = 0x2222_2222;
                    m.cpu.state.gpr[reg::RDX] = 0x3333_3333;
                    set_arith(m, flags);
                });
                let taken = (truth >> cc) & 1 != 0;
                let (eax, edx) = if taken { (0x2222_2222, 0x3333_2222) } else { (0x1111_1111, 0x3333_3333) };
                assert_eq!((r32(&m, reg::RAX), r32(&m, reg::RDX)), (eax, edx), "flags {flags:#x} cc {cc}");
                assert_eq!(arith(&m), flags, "CMOV changes no flag");
            }
        }
    }

    #[test]
    fn cmov_reads_its_source_even_when_false() {
        // cmovo eax, [0x3000] with OF clear and DS unusable: #GP.
        let code = [0x0F, 0x40, 0x05, 0x00, 0x30, 0x00, 0x00];
        let mut m = flat32(&code);
        m.cpu.state.seg[sreg::DS].attr = 0;
        m.cpu.state.gpr[reg::RAX] = 0x1234;
        set_arith(&mut m, 0);
        expect_fault(&mut m, &code, 13);
        // With a usable segment, a false condition leaves EAX.
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 0x1234;
            m.load(DATA, &[1, 2, 3, 4]);
        });
        assert_eq!(r32(&m, reg::RAX), 0x1234);
        // And a true one loads it: cmovno eax, [0x3000].
        let code = [0x0F, 0x41, 0x05, 0x00, 0x30, 0x00, 0x00];
        let m = exec32(&code, |m| m.load(DATA, &[1, 2, 3, 4]));
        assert_eq!(r32(&m, reg::RAX), 0x0403_0201);
    }
}
