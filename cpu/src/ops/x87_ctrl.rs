//! x87 control instructions (SDM vol. 2 FINIT/FNINIT, FCLEX/FNCLEX,
//! FSTSW/FNSTSW, FSTCW/FNSTCW, FLDCW, FSTENV/FNSTENV, FLDENV,
//! FSAVE/FNSAVE, FRSTOR; the environment layouts are vol. 1 figures 8-9
//! to 8-12). The FN forms do not wait: they run even with an unmasked
//! exception pending, which is how handlers read the state that caused it.
//! Control instructions leave FIP/FDP/FOP alone.

use super::x87::{sw, tag_of};
use super::*;
use crate::fpstate::{tag, F80};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Fninit, fninit::<false>);
    t.set(Finit, fninit::<true>);
    t.set(Fnclex, fnclex::<false>);
    t.set(Fclex, fnclex::<true>);
    t.set_all(&[Fnstsw_m2byte, Fnstsw_AX], fnstsw::<false>);
    t.set_all(&[Fstsw_m2byte, Fstsw_AX], fnstsw::<true>);
    t.set(Fnstcw_m2byte, fnstcw::<false>);
    t.set(Fstcw_m2byte, fnstcw::<true>);
    t.set(Fldcw_m2byte, fldcw);
    t.set_all(&[Fnstenv_m14byte, Fnstenv_m28byte], fnstenv::<false>);
    t.set_all(&[Fstenv_m14byte, Fstenv_m28byte], fnstenv::<true>);
    t.set_all(&[Fldenv_m14byte, Fldenv_m28byte], fldenv);
    t.set_all(&[Fnsave_m94byte, Fnsave_m108byte], fnsave::<false>);
    t.set_all(&[Fsave_m94byte, Fsave_m108byte], fnsave::<true>);
    t.set_all(&[Frstor_m94byte, Frstor_m108byte], frstor);
    // The 8087's interrupt-enable and the 287's protected-mode switch are
    // no-ops on the 387 and later.
    t.set_all(&[Fneni, Fndisi, Fnsetpm], fnop_ctrl::<false>);
    t.set_all(&[Feni, Fdisi, Fsetpm], fnop_ctrl::<true>);
}

/// The checks of a control instruction: #NM always, #MF only for the
/// waiting (9B-prefixed) forms.
fn enter<const WAIT: bool>(cpu: &mut Cpu) -> Result<(), Fault> {
    cpu.check_x87()?;
    if WAIT {
        cpu.check_x87_pending()?;
    }
    Ok(())
}

fn fninit<const WAIT: bool>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    cpu.state.fpu.finit();
    Ok(())
}

fn fnclex<const WAIT: bool>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    cpu.state.fpu.fsw &= !(sw::EXC | sw::SF | sw::ES | sw::B);
    Ok(())
}

fn fnop_ctrl<const WAIT: bool>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)
}

fn fnstsw<const WAIT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    let v = u64::from(cpu.state.fpu.fsw);
    write_op0::<2>(cpu, env, i, v)
}

fn fnstcw<const WAIT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    let v = u64::from(cpu.state.fpu.fcw);
    write_op0::<2>(cpu, env, i, v)
}

/// FCW bits that read as fixed: 6 reads as one, 7 and 13-15 as zero.
/// FCW as the FPU holds it: reserved bits clear, bit 6 set.
pub(super) fn fcw_fixed(v: u16) -> u16 {
    (v & !0xE0C0) | 0x0040
}

/// ES and B follow the exception flags against the (new) masks.
pub(super) fn update_summary(cpu: &mut Cpu) {
    let f = &mut cpu.state.fpu;
    if f.fsw & !f.fcw & sw::EXC != 0 {
        f.fsw |= sw::ES | sw::B;
    } else {
        f.fsw &= !(sw::ES | sw::B);
    }
}

fn fldcw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<true>(cpu)?;
    let v = read_op::<2>(cpu, env, i, 0)? as u16;
    cpu.state.fpu.fcw = fcw_fixed(v);
    update_summary(cpu);
    Ok(())
}

/// The full tag word as FSTENV/FSAVE store it: empty stays empty, the
/// other tags are recomputed from the register contents.
fn stored_tags(cpu: &Cpu) -> u16 {
    let mut t = 0;
    for p in 0..8 {
        let v = if cpu.phys_tag(p) == tag::EMPTY { tag::EMPTY } else { tag_of(cpu.state.fpu.regs[p]) };
        t |= v << (p * 2);
    }
    t
}

/// The environment image: (offset, size, value) fields for the four
/// layouts. Real and V86 mode store 20-bit linear pointers split around
/// FOP; protected mode stores selectors and offsets.
fn env_image(cpu: &Cpu, o32: bool) -> [(u64, u8, u32); 7] {
    let f = &cpu.state.fpu;
    let (cw, sw, tw) = (u32::from(f.fcw), u32::from(f.fsw), u32::from(stored_tags(cpu)));
    let pm = cpu.state.pmode();
    let ip = (u32::from(f.fcs) << 4).wrapping_add(f.fip);
    let dp = (u32::from(f.fds) << 4).wrapping_add(f.fdp);
    let fop = u32::from(f.fop & 0x7FF);
    match (o32, pm) {
        (true, true) => [
            (0, 4, 0xFFFF_0000 | cw),
            (4, 4, 0xFFFF_0000 | sw),
            (8, 4, 0xFFFF_0000 | tw),
            (12, 4, f.fip),
            (16, 4, u32::from(f.fcs) | fop << 16),
            (20, 4, f.fdp),
            (24, 4, 0xFFFF_0000 | u32::from(f.fds)),
        ],
        (true, false) => [
            (0, 4, 0xFFFF_0000 | cw),
            (4, 4, 0xFFFF_0000 | sw),
            (8, 4, 0xFFFF_0000 | tw),
            (12, 4, 0xFFFF_0000 | (ip & 0xFFFF)),
            (16, 4, (ip >> 16) << 12 | fop),
            (20, 4, 0xFFFF_0000 | (dp & 0xFFFF)),
            (24, 4, (dp >> 16) << 12),
        ],
        (false, true) => [
            (0, 2, cw),
            (2, 2, sw),
            (4, 2, tw),
            (6, 2, f.fip & 0xFFFF),
            (8, 2, u32::from(f.fcs)),
            (10, 2, f.fdp & 0xFFFF),
            (12, 2, u32::from(f.fds)),
        ],
        (false, false) => [
            (0, 2, cw),
            (2, 2, sw),
            (4, 2, tw),
            (6, 2, ip & 0xFFFF),
            (8, 2, ((ip >> 16) & 0xF) << 12 | fop),
            (10, 2, dp & 0xFFFF),
            (12, 2, ((dp >> 16) & 0xF) << 12),
        ],
    }
}

/// Operand size of the environment: the m28/m108 forms are 32-bit.
fn env_o32(i: &Instruction) -> bool {
    matches!(i.code(), Fnstenv_m28byte | Fstenv_m28byte | Fldenv_m28byte | Fnsave_m108byte | Fsave_m108byte | Frstor_m108byte)
}

/// Checks the whole memory image for writing (or reading) before any of
/// it is touched: returns its linear address.
fn image_lin(cpu: &mut Cpu, env: &mut Env, i: &Instruction, size: u32, write: bool) -> Result<u64, Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.seg_lin(seg, off, size, write)?;
    if write {
        let user = cpu.user();
        cpu.probe_write(env, lin, size as usize, user)?;
    }
    Ok(lin)
}

fn store_env(cpu: &mut Cpu, env: &mut Env, lin: u64, o32: bool) -> Result<(), Fault> {
    let user = cpu.user();
    for (off, size, v) in env_image(cpu, o32) {
        let a = (lin + off) & 0xFFFF_FFFF;
        if size == 4 {
            cpu.write_lin::<4>(env, a, u64::from(v), user)?;
        } else {
            cpu.write_lin::<2>(env, a, u64::from(v), user)?;
        }
    }
    Ok(())
}

/// FNSTENV stores the environment, then masks all exceptions.
fn fnstenv<const WAIT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    let o32 = env_o32(i);
    let lin = image_lin(cpu, env, i, if o32 { 28 } else { 14 }, true)?;
    store_env(cpu, env, lin, o32)?;
    // All exceptions masked: none is pending any more.
    cpu.state.fpu.fcw |= sw::EXC;
    update_summary(cpu);
    Ok(())
}

/// FNSAVE stores the environment and the eight registers in stack order,
/// then initialises the FPU.
fn fnsave<const WAIT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<WAIT>(cpu)?;
    let o32 = env_o32(i);
    let envsize: u64 = if o32 { 28 } else { 14 };
    let lin = image_lin(cpu, env, i, envsize as u32 + 80, true)?;
    store_env(cpu, env, lin, o32)?;
    let user = cpu.user();
    for k in 0..8 {
        let v = cpu.st(k);
        let a = lin + envsize + k as u64 * 10;
        cpu.write_lin::<8>(env, a & 0xFFFF_FFFF, v.signif, user)?;
        cpu.write_lin::<2>(env, (a + 8) & 0xFFFF_FFFF, u64::from(v.sign_exp), user)?;
    }
    cpu.state.fpu.finit();
    Ok(())
}

/// The environment read back: fcw, fsw, ftw, fip, fcs, fop, fdp, fds.
struct Environment {
    fcw: u16,
    fsw: u16,
    ftw: u16,
    fip: u32,
    fcs: u16,
    fop: u16,
    fdp: u32,
    fds: u16,
}

fn read_env(cpu: &mut Cpu, env: &mut Env, lin: u64, o32: bool) -> Result<Environment, Fault> {
    let user = cpu.user();
    let mut w = [0u32; 7];
    for (k, slot) in w.iter_mut().enumerate() {
        *slot = if o32 {
            cpu.read_lin::<4>(env, (lin + k as u64 * 4) & 0xFFFF_FFFF, user)? as u32
        } else {
            cpu.read_lin::<2>(env, (lin + k as u64 * 2) & 0xFFFF_FFFF, user)? as u32
        };
    }
    let pm = cpu.state.pmode();
    let (fip, fcs, fop, fdp, fds) = match (o32, pm) {
        (_, true) => (w[3], w[4] as u16, if o32 { (w[4] >> 16) as u16 & 0x7FF } else { cpu.state.fpu.fop }, w[5], w[6] as u16),
        (true, false) => {
            let ip = (w[3] & 0xFFFF) | ((w[4] >> 12) & 0xFFFF) << 16;
            let dp = (w[5] & 0xFFFF) | ((w[6] >> 12) & 0xFFFF) << 16;
            (ip, 0, w[4] as u16 & 0x7FF, dp, 0)
        }
        (false, false) => {
            let ip = (w[3] & 0xFFFF) | ((w[4] >> 12) & 0xF) << 16;
            let dp = (w[5] & 0xFFFF) | ((w[6] >> 12) & 0xF) << 16;
            (ip, 0, w[4] as u16 & 0x7FF, dp, 0)
        }
    };
    Ok(Environment { fcw: w[0] as u16, fsw: w[1] as u16, ftw: w[2] as u16, fip, fcs, fop, fdp, fds })
}

/// Loads a read-back environment. The tag word only decides which
/// registers are empty; the others are tagged from their contents.
fn load_env(cpu: &mut Cpu, e: &Environment) {
    let f = &mut cpu.state.fpu;
    f.fcw = fcw_fixed(e.fcw);
    f.fsw = e.fsw;
    (f.fip, f.fcs, f.fop, f.fdp, f.fds) = (e.fip, e.fcs, e.fop, e.fdp, e.fds);
    let mut t = 0;
    for p in 0..8 {
        let v = if (e.ftw >> (p * 2)) & 3 == tag::EMPTY { tag::EMPTY } else { tag_of(f.regs[p]) };
        t |= v << (p * 2);
    }
    f.ftw = t;
    update_summary(cpu);
}

fn fldenv(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<true>(cpu)?;
    let o32 = env_o32(i);
    let lin = image_lin(cpu, env, i, if o32 { 28 } else { 14 }, false)?;
    let e = read_env(cpu, env, lin, o32)?;
    load_env(cpu, &e);
    Ok(())
}

fn frstor(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    enter::<true>(cpu)?;
    let o32 = env_o32(i);
    let envsize: u64 = if o32 { 28 } else { 14 };
    let lin = image_lin(cpu, env, i, envsize as u32 + 80, false)?;
    let e = read_env(cpu, env, lin, o32)?;
    let user = cpu.user();
    let mut regs = [F80::default(); 8];
    for (k, r) in regs.iter_mut().enumerate() {
        let a = lin + envsize + k as u64 * 10;
        r.signif = cpu.read_lin::<8>(env, a & 0xFFFF_FFFF, user)?;
        r.sign_exp = cpu.read_lin::<2>(env, (a + 8) & 0xFFFF_FFFF, user)? as u16;
    }
    // Registers are stored in stack order: ST(k) is physical (TOP + k).
    let top = usize::from((e.fsw & sw::TOP) >> sw::TOP_SHIFT);
    for (k, r) in regs.iter().enumerate() {
        cpu.state.fpu.regs[(top + k) & 7] = *r;
    }
    load_env(cpu, &e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::x87::tests::{fpu_machine, run};
    use super::*;
    use crate::{fault::Fault, softfloat::ext80, state::cr0, testing::TestMachine};

    #[test]
    fn fsave_frstor_round_trip_and_layout() {
        let mut m = fpu_machine();
        // fld1; fldpi; fadd dword [0x3000]; fnsave [0x2000]
        m.mem.write(0x3000, &2.0f32.to_bits().to_le_bytes());
        run(&mut m, &[0xD9, 0xE8, 0xD9, 0xEB, 0xD8, 0x05, 0x00, 0x30, 0, 0, 0xDD, 0x35, 0x00, 0x20, 0, 0]);
        let before_fip = crate::testing::CODE_BASE as u32 + 4;
        let img = m.read_phys(0x2000, 108);
        let d = |o: usize| u32::from_le_bytes([img[o], img[o + 1], img[o + 2], img[o + 3]]);
        assert_eq!(d(0), 0xFFFF_037F, "FCW");
        // pi + 2 ends in a tie, rounded to even (down): C1 clear.
        assert_eq!(d(4) & 0xFFFF, (6 << 11) | u32::from(sw::PE), "FSW: TOP 6, PE");
        assert_eq!(d(8) & 0xFFFF, 0x0FFF, "FTW: R6, R7 valid");
        assert_eq!(d(12), before_fip, "FIP of the fadd");
        assert_eq!(d(16), u32::from(crate::testing::sel::CODE32) | 0x005 << 16, "FCS and FOP D8 05");
        assert_eq!(d(20), 0x3000, "FDP");
        assert_eq!(d(24) & 0xFFFF, u32::from(crate::testing::sel::DATA32), "FDS");
        assert_eq!(&img[38..48], &ext80::from_f64(1.0f64.to_bits()).to_bytes(), "ST(1) at 28 + 10");
        // FNSAVE reinitialised the FPU.
        assert_eq!((m.cpu.state.fpu.fcw, m.cpu.state.fpu.ftw, m.cpu.state.fpu.fsw), (0x037F, 0xFFFF, 0));
        // frstor [0x2000] brings it all back.
        let saved_regs = [img[28..38].to_vec(), img[38..48].to_vec()];
        run(&mut m, &[0xDD, 0x25, 0x00, 0x20, 0, 0]);
        let f = &m.cpu.state.fpu;
        assert_eq!((f.fsw, f.ftw, f.fip, f.fdp), ((6 << 11) | sw::PE, 0x0FFF, before_fip, 0x3000));
        assert_eq!(m.cpu.st(0).to_bytes().to_vec(), saved_regs[0]);
        assert_eq!(m.cpu.st(1).to_bytes().to_vec(), saved_regs[1]);
    }

    #[test]
    fn fstenv_16bit_real_mode_layout() {
        let mut m = TestMachine::real();
        m.cpu.state.fpu.finit();
        // CS = 0x1000. fld1 at 1000:0000; then o16 fnstenv [0x0200]
        run(&mut m, &[0xD9, 0xE8, 0xDD, 0x06, 0x00, 0x03, 0xD9, 0x36, 0x00, 0x02]);
        // fld qword [0x300] at 1000:0002 sets FDP = DS*16 + 0x300 = 0x300.
        let img = m.read_phys(0x200, 14);
        let w = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]);
        assert_eq!(w(0), 0x037F);
        assert_eq!(w(2), 6 << 11);
        assert_eq!(w(4), 0x0FFF | tag::ZERO << 12, "R7 valid (1.0), R6 zero");
        assert_eq!(w(6), 0x0002, "IP 15..0 of 0x10002");
        assert_eq!(w(8), (1 << 12) | 0x506, "IP 19..16, FOP DD 06");
        assert_eq!(w(10), 0x0300);
        assert_eq!(w(12), 0);
        assert_eq!(m.cpu.state.fpu.fcw, 0x037F, "already masked");
    }

    #[test]
    fn fldcw_unmasking_a_flag_raises_es_and_fwait_reports_it() {
        let mut m = fpu_machine();
        m.cpu.state.cr0 |= cr0::NE;
        m.cpu.state.fpu.fsw |= sw::ZE;
        m.mem.write(0x2000, &0x037Bu16.to_le_bytes());
        m.set_int_gate(0x4000, Fault::MF.vector, 0x5000, 0);
        // fldcw [0x2000] (unmasks ZE); fwait
        m.load_code(&[0xD9, 0x2D, 0x00, 0x20, 0, 0, 0x9B]);
        m.run(2);
        assert_eq!(m.cpu.state.fpu.fsw & (sw::ES | sw::B), sw::ES | sw::B);
        assert_eq!(m.cpu.state.rip, 0x5000, "FWAIT raised #MF");
    }

    #[test]
    fn fstenv_16bit_protected_layout_and_fop() {
        let mut m = TestMachine::prot16();
        m.cpu.state.fpu.finit();
        // fld1 at 0018:8000; fnstenv [0x0200] (14-byte form in 16-bit code)
        run(&mut m, &[0xD9, 0xE8, 0xD9, 0x36, 0x00, 0x02]);
        let img = m.read_phys(0x200, 14);
        let w = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]);
        assert_eq!((w(0), w(2), w(4)), (0x037F, 7 << 11, 0x3FFF));
        assert_eq!((w(6), w(8)), (0x8000, crate::testing::sel::CODE16), "FIP offset, FCS selector");
        assert_eq!((w(10), w(12)), (0, 0), "no memory operand yet");
        assert_eq!(m.cpu.state.fpu.fop, 0x1E8, "D9 E8");
    }

    #[test]
    fn fldenv_32bit_real_mode_round_trip() {
        let mut m = TestMachine::real();
        m.cpu.state.fpu.finit();
        // fldz; fld dword [0x300]; o32 fnstenv [0x200]; fninit; o32 fldenv [0x200]
        m.mem.write(0x300, &1.0f32.to_bits().to_le_bytes());
        run(
            &mut m,
            &[0xD9, 0xEE, 0xD9, 0x06, 0x00, 0x03, 0x66, 0xD9, 0x36, 0x00, 0x02, 0xDB, 0xE3, 0x66, 0xD9, 0x26, 0x00, 0x02],
        );
        let img = m.read_phys(0x200, 28);
        let d = |o: usize| u32::from_le_bytes([img[o], img[o + 1], img[o + 2], img[o + 3]]);
        assert_eq!(d(12) & 0xFFFF, 0x0002, "linear IP 15..0 of 1000:0002");
        assert_eq!(d(16), (0x1 << 12) | 0x106, "IP 31..16 above FOP D9 06");
        assert_eq!((d(20) & 0xFFFF, d(24)), (0x300, 0), "linear data pointer");
        let f = &m.cpu.state.fpu;
        assert_eq!((f.fip, f.fdp, f.fop, f.fcw, f.fsw & sw::TOP), (0x1_0002, 0x300, 0x106, 0x037F, 6 << 11));
        assert_eq!(f.ftw, 0x0FFF | tag::ZERO << 14, "tags recomputed: R7 zero, R6 valid");
    }

    #[test]
    fn fnsave_past_the_limit_faults_without_touching_the_fpu() {
        let mut m = TestMachine::prot16();
        m.cpu.state.fpu.finit();
        m.cpu.state.fpu.fcw = 0x0360;
        m.set_int_gate(0x4000, Fault::gp(0).vector, 0x5000, 0);
        // fnsave [0xFFF0]: 94 bytes run past the 64 KiB limit.
        m.load_code(&[0xDD, 0x36, 0xF0, 0xFF]);
        m.run(1);
        assert_eq!(m.cpu.state.rip, 0x5000, "#GP");
        assert_eq!(m.cpu.state.fpu.fcw, 0x0360, "not reinitialised");
    }

    #[test]
    fn fnstsw_ax_and_fnclex() {
        let mut m = fpu_machine();
        m.cpu.state.fpu.fsw = 0xB8FF;
        run(&mut m, &[0xDF, 0xE0, 0xDB, 0xE2]);
        assert_eq!(m.cpu.state.gpr[0] & 0xFFFF, 0xB8FF);
        assert_eq!(m.cpu.state.fpu.fsw, 0x3800, "flags, SF, ES and B cleared; TOP kept");
    }
}
