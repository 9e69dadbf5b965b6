//! Descriptor-table and segment-inspection instructions (SDM vol. 2:
//! LGDT/LIDT, SGDT/SIDT, LLDT, SLDT, LTR, STR, LMSW, SMSW, CLTS, ARPL, LAR,
//! LSL, VERR, VERW; vol. 3A 2.4 "Memory-management registers", 3.5 "System
//! descriptor types", 5.10 "Pointer validation").
//!
//! The control-register, debug-register, MSR and other privileged
//! instructions live in `ctrl.rs`.

use super::*;
use crate::{
    segment::{sys, Descriptor},
    state::{cr0, fl, Segment, TableReg},
};
use iced_x86::{Code::*, Register};

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Lgdt_m1632_16, Lgdt_m1632], lgdt_lidt::<false>);
    t.set_all(&[Lidt_m1632_16, Lidt_m1632], lgdt_lidt::<true>);
    t.set_all(&[Sgdt_m1632_16, Sgdt_m1632], sgdt_sidt::<false>);
    t.set_all(&[Sidt_m1632_16, Sidt_m1632], sgdt_sidt::<true>);
    t.set_all(&[Lldt_rm16, Lldt_r32m16], lldt);
    t.set_all(&[Ltr_rm16, Ltr_r32m16], ltr);
    t.set_all(&[Sldt_rm16, Sldt_r32m16], sldt);
    t.set_all(&[Str_rm16, Str_r32m16], str_);
    t.set_all(&[Lmsw_rm16, Lmsw_r32m16], lmsw);
    t.set_all(&[Smsw_rm16, Smsw_r32m16], smsw);
    t.set(Clts, clts);
    t.set_all(&[Arpl_rm16_r16, Arpl_r32m16_r32], arpl);
    t.set_all(&[Lar_r16_rm16, Lar_r32_r32m16], lar);
    t.set_all(&[Lsl_r16_rm16, Lsl_r32_r32m16], lsl);
    t.set_all(&[Verr_rm16, Verr_r32m16], verr_verw::<false>);
    t.set_all(&[Verw_rm16, Verw_r32m16], verr_verw::<true>);
}

/// #GP(0) unless the CPU runs at privilege level 0 (always so in real
/// mode, never in V86 mode).
#[inline]
pub(super) fn require_cpl0(cpu: &Cpu) -> Result<(), Fault> {
    let s = &cpu.state;
    if s.protected() && (s.v86() || s.cpl != 0) {
        return Err(Fault::gp(0));
    }
    Ok(())
}

/// #UD outside protected mode: the LDT/TSS/selector instructions do not
/// exist in real and V86 mode.
#[inline]
fn require_pmode(cpu: &Cpu) -> Result<(), Fault> {
    if cpu.state.pmode() {
        Ok(())
    } else {
        Err(Fault::UD)
    }
}

/// Linear address of the 6-byte pseudo-descriptor operand, after the
/// segment checks for the whole operand.
fn pseudo_desc_lin(cpu: &Cpu, i: &Instruction, write: bool) -> Result<u64, Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.seg_lin(seg, off, 6, write)
}

fn op16(i: &Instruction) -> bool {
    matches!(i.code(), Lgdt_m1632_16 | Lidt_m1632_16 | Sgdt_m1632_16 | Sidt_m1632_16)
}

/// LGDT/LIDT. With a 16-bit operand only 24 bits of the base are loaded
/// (the 286 format).
fn lgdt_lidt<const IDT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let lin = pseudo_desc_lin(cpu, i, false)?;
    let user = cpu.user();
    let limit = cpu.read_lin::<2>(env, lin, user)?;
    let mut base = cpu.read_lin::<4>(env, (lin + 2) & 0xFFFF_FFFF, user)?;
    if op16(i) {
        base &= 0xFF_FFFF;
    }
    let r = TableReg { base, limit: limit as u32 };
    if IDT {
        cpu.state.idtr = r;
    } else {
        cpu.state.gdtr = r;
    }
    Ok(())
}

/// SGDT/SIDT. Not privileged (no UMIP on this model). With a 16-bit
/// operand the sixth byte is stored as 0: the P6-era SDM's SGDT operation
/// ("DEST[40:47] := 0"), what 386 through P6 parts do (the 286 stored 0xFF).
fn sgdt_sidt<const IDT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let r = if IDT { cpu.state.idtr } else { cpu.state.gdtr };
    let lin = pseudo_desc_lin(cpu, i, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, 6, user)?;
    let base = if op16(i) { r.base & 0xFF_FFFF } else { r.base & 0xFFFF_FFFF };
    cpu.write_lin::<2>(env, lin, u64::from(r.limit & 0xFFFF), user)?;
    cpu.write_lin::<4>(env, (lin + 2) & 0xFFFF_FFFF, base, user)
}

/// Reads the 16-bit selector source of LLDT/LTR/VERR/... (a 32-bit
/// register form uses its low word).
fn selector_src(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32) -> Result<u16, Fault> {
    Ok(read_op::<2>(cpu, env, i, n)? as u16)
}

/// Checks shared by LLDT and LTR: CPL 0, a GDT selector inside the table.
/// Returns the descriptor and its linear address.
fn gdt_system_descriptor(cpu: &mut Cpu, env: &mut Env, sel: u16) -> Result<(Descriptor, u64), Fault> {
    if sel & 4 != 0 {
        return Err(Fault::gp(sel & 0xFFFC));
    }
    cpu.read_descriptor(env, sel)
}

fn lldt(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    require_cpl0(cpu)?;
    let sel = selector_src(cpu, env, i, 0)?;
    if sel & 0xFFFC == 0 {
        // A null selector leaves the LDTR unusable: any later reference
        // through TI = 1 faults.
        cpu.state.ldtr = Segment { selector: sel, ..Segment::default() };
        return Ok(());
    }
    let (d, _) = gdt_system_descriptor(cpu, env, sel)?;
    let code = sel & 0xFFFC;
    if d.is_segment() || d.sys_type() != sys::LDT {
        return Err(Fault::gp(code));
    }
    if !d.present() {
        return Err(Fault::np(code));
    }
    cpu.state.ldtr = d.segment(sel);
    Ok(())
}

fn ltr(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    require_cpl0(cpu)?;
    let sel = selector_src(cpu, env, i, 0)?;
    if sel & 0xFFFC == 0 {
        return Err(Fault::gp(0));
    }
    let (d, addr) = gdt_system_descriptor(cpu, env, sel)?;
    let code = sel & 0xFFFC;
    if d.is_segment() || !matches!(d.sys_type(), sys::TSS16_AVAIL | sys::TSS32_AVAIL) {
        return Err(Fault::gp(code));
    }
    if !d.present() {
        return Err(Fault::np(code));
    }
    // Busy is type bit 1; hardware sets it with a locked read-modify-write.
    let busy = Descriptor(d.0 | (2 << 40));
    cpu.write_sys(env, addr + 5, 1, (busy.0 >> 40) & 0xFF)?;
    cpu.state.tr = busy.segment(sel);
    Ok(())
}

/// SLDT/STR: a 32-bit register destination gets the selector
/// zero-extended (P6 and later), memory always 16 bits.
fn store_selector(cpu: &mut Cpu, env: &mut Env, i: &Instruction, sel: u16) -> Result<(), Fault> {
    write_op0::<2>(cpu, env, i, u64::from(sel))
}

fn sldt(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    let sel = cpu.state.ldtr.selector;
    store_selector(cpu, env, i, sel)
}

fn str_(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    let sel = cpu.state.tr.selector;
    store_selector(cpu, env, i, sel)
}

/// LMSW loads PE, MP, EM and TS; it can set PE but never clear it.
fn lmsw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let src = read_op::<2>(cpu, env, i, 0)?;
    let old = cpu.state.cr0;
    let msw = cr0::PE | cr0::MP | cr0::EM | cr0::TS;
    let new = (old & !msw) | (src & msw) | (old & cr0::PE);
    cpu.set_cr0(env, new)
}

/// SMSW is not privileged. A 32-bit register destination receives all of
/// CR0's low dword (what P6 and later parts store; the SDM calls the upper
/// half undefined); memory receives 16 bits.
fn smsw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = cpu.state.cr0 & 0xFFFF_FFFF;
    if i.op0_kind() == OpKind::Register && i.op0_register().size() == 4 {
        reg_write(&mut cpu.state, i.op0_register(), v);
        return Ok(());
    }
    write_op0::<2>(cpu, env, i, v)
}

fn clts(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    cpu.state.cr0 &= !cr0::TS;
    Ok(())
}

/// Sets or clears ZF alone.
fn set_zf(cpu: &mut Cpu, z: bool) {
    cpu.state.set_arith(fl::ZF, if z { fl::ZF } else { 0 });
}

/// ARPL works on 16 bits whatever the operand size: raises the RPL of the
/// destination selector to the source's.
fn arpl(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    let src = reg_read(&cpu.state, i.op1_register()) as u16;
    let (loc, dst) = match i.op0_kind() {
        OpKind::Register => (None, reg_read(&cpu.state, i.op0_register()) as u16),
        _ => {
            let (loc, v) = rmw_read::<2>(cpu, env, i)?;
            (Some(loc), v as u16)
        }
    };
    let raise = dst & 3 < src & 3;
    if raise {
        let v = (dst & !3) | (src & 3);
        match loc {
            Some(loc) => rmw_write::<2>(cpu, env, loc, u64::from(v))?,
            // Only the low word changes, even for the 32-bit form.
            None => cpu.state.set_r16(gpr_index(i.op0_register()), v),
        }
    }
    set_zf(cpu, raise);
    Ok(())
}

/// Encoding number of a 16- or 32-bit general register.
fn gpr_index(r: Register) -> usize {
    (r.full_register32() as usize).wrapping_sub(Register::EAX as usize) & 15
}

/// The descriptor a LAR/LSL/VERR/VERW selector names, or `None` when the
/// selector is null or lies outside its table (ZF = 0, no fault). Page
/// faults reading the table are still raised.
fn inspect(cpu: &mut Cpu, env: &mut Env, sel: u16) -> Result<Option<Descriptor>, Fault> {
    if sel & 0xFFFC == 0 {
        return Ok(None);
    }
    let Ok(addr) = cpu.descriptor_addr(sel) else { return Ok(None) };
    Ok(Some(Descriptor(cpu.read_sys(env, addr, 8)?)))
}

/// The privilege check of LAR, LSL, VERR and VERW: conforming code
/// segments are visible from every level, anything else needs
/// DPL >= max(CPL, RPL).
fn visible(cpu: &Cpu, d: Descriptor, sel: u16) -> bool {
    d.conforming() || (d.dpl() >= cpu.state.cpl && d.dpl() >= (sel & 3) as u8)
}

/// LAR and LSL accept every code/data segment; of the system types, LAR
/// takes TSSs, LDTs, call and task gates, LSL only TSSs and LDTs (SDM LAR
/// and LSL, 32-bit mode tables).
fn lar_lsl_type_ok(d: Descriptor, lar: bool) -> bool {
    if d.is_segment() {
        return true;
    }
    match d.sys_type() {
        sys::TSS16_AVAIL | sys::LDT | sys::TSS16_BUSY | sys::TSS32_AVAIL | sys::TSS32_BUSY => true,
        sys::CALL_GATE16 | sys::TASK_GATE | sys::CALL_GATE32 => lar,
        _ => false,
    }
}

fn lar_lsl(cpu: &mut Cpu, env: &mut Env, i: &Instruction, lar: bool) -> Result<(), Fault> {
    require_pmode(cpu)?;
    let sel = selector_src(cpu, env, i, 1)?;
    let d = match inspect(cpu, env, sel)? {
        Some(d) if lar_lsl_type_ok(d, lar) && visible(cpu, d, sel) => d,
        _ => {
            set_zf(cpu, false);
            return Ok(());
        }
    };
    let r = i.op0_register();
    let v = if lar {
        // Type, S, DPL, P, AVL, D/B, G and (as P6 parts do; the SDM calls
        // them undefined) limit bits 19:16.
        let hi = d.0 >> 32;
        if r.size() == 2 {
            hi & 0xFF00
        } else {
            hi & 0x00FF_FF00
        }
    } else {
        u64::from(d.limit())
    };
    reg_write(&mut cpu.state, r, v);
    set_zf(cpu, true);
    Ok(())
}

fn lar(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    lar_lsl(cpu, env, i, true)
}

fn lsl(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    lar_lsl(cpu, env, i, false)
}

/// VERR/VERW: ZF = 1 if the segment is readable / writable from here.
/// System descriptors never are; presence is not checked.
fn verr_verw<const W: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_pmode(cpu)?;
    let sel = selector_src(cpu, env, i, 0)?;
    let ok = match inspect(cpu, env, sel)? {
        Some(d) if d.is_segment() && visible(cpu, d, sel) => {
            if W {
                d.writable()
            } else {
                d.readable()
            }
        }
        _ => false,
    };
    set_zf(cpu, ok);
    Ok(())
}

/// Shared by the tests of this module and `ctrl.rs`: exception handlers
/// that report their vector, and GDT entries beyond the test GDT.
#[cfg(test)]
pub(super) mod harness {
    use crate::{
        state::{attr, fl, Segment},
        testing::*,
    };

    pub const IDT: u64 = 0x5000;
    pub const HANDLERS: u64 = 0x6000;
    pub const TSS: u64 = 0x3000;
    pub const RING0_STACK: u64 = 0x7_0000;

    /// Vectors 0..=0x20 go to ring-0 handlers that write their vector to
    /// port 0x80 and halt; the TSS gives ring 0 the stack [`RING0_STACK`].
    pub fn with_handlers(m: &mut TestMachine) {
        for v in 0..=0x20u8 {
            let h = HANDLERS + u64::from(v) * 8;
            m.load(h, &[0xB0, v, 0xE6, 0x80, 0xF4]); // mov al, v; out 0x80, al; hlt
            m.set_int_gate(IDT, v, h as u32, 0);
        }
        let mut tss = [0u8; 0x68];
        tss[4..8].copy_from_slice(&(RING0_STACK as u32).to_le_bytes());
        tss[8..10].copy_from_slice(&sel::DATA32.to_le_bytes());
        m.load(TSS, &tss);
        m.cpu.state.tr = Segment { base: TSS, limit: 0x67, selector: 0x40, attr: attr::P | 0xB };
    }

    /// The vector the last exception handler reported.
    pub fn vector(m: &TestMachine) -> Option<u8> {
        m.bus.outs.iter().rev().find(|o| o.0 == 0x80).map(|o| o.2 as u8)
    }

    /// The error code on top of the handler's (flat) stack.
    pub fn error_code(m: &TestMachine) -> u32 {
        m.read_u32(m.cpu.state.gpr[4])
    }

    /// Runs `code` from CS:EIP until a handler halts; returns the vector
    /// and error code, and checks EIP was left at the faulting instruction.
    pub fn fault(m: &mut TestMachine, code: &[u8]) -> (u8, u32) {
        m.load_code(code);
        m.run(50);
        let v = vector(m).expect("an exception");
        (v, error_code(m))
    }

    /// Writes descriptor `d` at `selector` in the test GDT, growing it.
    pub fn set_gdt(m: &mut TestMachine, selector: u16, d: u64) {
        let at = GDT_BASE + u64::from(selector & 0xFFF8);
        m.mem.write(at, &d.to_le_bytes());
        let g = &mut m.cpu.state.gdtr;
        g.limit = g.limit.max(u32::from(selector & 0xFFF8) + 7);
    }

    /// Runs the single instruction `code` at CODE_BASE with EBX = `ebx`;
    /// returns ZF.
    pub fn step(m: &mut TestMachine, code: &[u8], ebx: u32) -> bool {
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.gpr[3] = u64::from(ebx);
        m.load_code(code);
        m.run(1);
        m.cpu.state.flags() & fl::ZF != 0
    }
}

#[cfg(test)]
mod tests {
    use super::harness::*;
    use crate::{
        fault::vector as v,
        state::{cr0, sreg},
        testing::*,
        RunExit,
    };

    /// GDT entries the tests add: an LDT, an available 32-bit TSS, a
    /// not-present LDT, a DPL-3 call gate, an interrupt gate, a conforming
    /// code segment and a read-only DPL-3 data segment.
    const LDT: u16 = 0x38;
    const TSS32: u16 = 0x40;
    const LDT_NP: u16 = 0x48;
    const CALL_GATE: u16 = 0x50;
    const INT_GATE: u16 = 0x58;
    const CONFORMING: u16 = 0x60;
    const RO_DATA3: u16 = 0x68;

    fn machine() -> TestMachine {
        let mut m = TestMachine::flat32();
        set_gdt(&mut m, LDT, 0x0000_8200_4000_00FF);
        set_gdt(&mut m, TSS32, 0x0000_8900_3000_0067);
        set_gdt(&mut m, LDT_NP, 0x0000_0200_4000_00FF);
        set_gdt(&mut m, CALL_GATE, 0x0000_EC00_0008_1234);
        set_gdt(&mut m, INT_GATE, 0x0000_8E00_0008_1234);
        set_gdt(&mut m, CONFORMING, 0x00CF_9F00_0000_FFFF);
        set_gdt(&mut m, RO_DATA3, 0x00CF_F100_0000_FFFF);
        with_handlers(&mut m);
        m
    }

    #[test]
    fn lgdt_sgdt_lidt_sidt_32bit_round_trip() {
        let mut m = TestMachine::flat32();
        m.load(0x2000, &[0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x89]);
        m.load(0x2020, &[0xFF, 0x07, 0x00, 0x50, 0x01, 0x00]);
        m.load_code(&[
            0x0F, 0x01, 0x15, 0x00, 0x20, 0x00, 0x00, // lgdt [0x2000]
            0x0F, 0x01, 0x05, 0x10, 0x20, 0x00, 0x00, // sgdt [0x2010]
            0x0F, 0x01, 0x1D, 0x20, 0x20, 0x00, 0x00, // lidt [0x2020]
            0x0F, 0x01, 0x0D, 0x30, 0x20, 0x00, 0x00, // sidt [0x2030]
        ]);
        m.run(4);
        assert_eq!((m.cpu.state.gdtr.base, m.cpu.state.gdtr.limit), (0x89AB_CDEF, 0x1234));
        assert_eq!((m.cpu.state.idtr.base, m.cpu.state.idtr.limit), (0x15000, 0x7FF));
        assert_eq!(m.read_phys(0x2010, 6), [0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x89]);
        assert_eq!(m.read_phys(0x2030, 6), [0xFF, 0x07, 0x00, 0x50, 0x01, 0x00]);
    }

    #[test]
    fn lgdt_sgdt_16bit_operand_uses_24_bit_base() {
        let mut m = TestMachine::real();
        m.load(0x2000, &[0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x89]);
        m.load(0x2010, &[0xAA; 6]);
        m.load_code(&[
            0x0F, 0x01, 0x16, 0x00, 0x20, // lgdt [0x2000]
            0x0F, 0x01, 0x06, 0x10, 0x20, // sgdt [0x2010]
            0x0F, 0x01, 0x1E, 0x00, 0x20, // lidt [0x2000]
            0x0F, 0x01, 0x0E, 0x20, 0x20, // sidt [0x2020]
        ]);
        m.run(4);
        assert_eq!((m.cpu.state.gdtr.base, m.cpu.state.gdtr.limit), (0xAB_CDEF, 0x1234));
        assert_eq!(m.cpu.state.idtr.base, 0xAB_CDEF);
        // The sixth byte is stored as 0 by 386-through-P6 processors.
        assert_eq!(m.read_phys(0x2010, 6), [0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x00]);
        assert_eq!(m.read_phys(0x2020, 6), [0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x00]);
    }

    #[test]
    fn lgdt_needs_cpl0_but_sgdt_does_not() {
        let mut m = machine();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        m.load(0x2010, &[0; 6]);
        let (vec, code) = fault(
            &mut m,
            &[
                0x0F, 0x01, 0x05, 0x10, 0x20, 0x00, 0x00, // sgdt [0x2010]
                0x0F, 0x01, 0x15, 0x00, 0x20, 0x00, 0x00, // lgdt [0x2000]
            ],
        );
        assert_eq!((vec, code), (v::GP, 0));
        assert_eq!(m.read_u32(0x2012), GDT_BASE as u32);
        // The frame's EIP is the LGDT.
        assert_eq!(m.read_u32(m.cpu.state.gpr[4] + 4), CODE_BASE as u32 + 7);
    }

    #[test]
    fn lldt_ltr_load_and_mark_busy() {
        let mut m = machine();
        m.cpu.state.gpr[3] = 0xFFFF_FFFF;
        m.load_code(&[
            0x66, 0xB8, 0x38, 0x00, // mov ax, 0x38
            0x0F, 0x00, 0xD0, // lldt ax
            0x66, 0xB8, 0x40, 0x00, // mov ax, 0x40
            0x0F, 0x00, 0xD8, // ltr ax
            0x0F, 0x00, 0xC3, // sldt ebx
            0x66, 0x0F, 0x00, 0xC9, // str cx
        ]);
        m.run(6);
        let s = &m.cpu.state;
        assert_eq!((s.ldtr.base, s.ldtr.limit, s.ldtr.selector), (0x4000, 0xFF, LDT));
        assert_eq!((s.tr.base, s.tr.limit, s.tr.selector, s.tr.attr & 0xF), (0x3000, 0x67, TSS32, 0xB));
        // Busy set in the GDT.
        assert_eq!(m.read_phys(GDT_BASE + u64::from(TSS32) + 5, 1), [0x8B]);
        assert_eq!(s.gpr[3], u64::from(LDT), "SLDT r32 zero-extends");
        assert_eq!(s.gpr[1] & 0xFFFF, u64::from(TSS32));
        // A busy TSS cannot be loaded again.
        let (vec, code) = fault(&mut m, &[0x0F, 0x00, 0xD8]); // ltr ax (ax = 0x40)
        assert_eq!((vec, code), (v::GP, u32::from(TSS32)));
    }

    #[test]
    fn lldt_ltr_checks() {
        // Wrong descriptor type: #GP(selector).
        let mut m = machine();
        m.cpu.state.gpr[0] = u64::from(sel::DATA32);
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD0]), (v::GP, u32::from(sel::DATA32))); // lldt ax
        let mut m = machine();
        m.cpu.state.gpr[0] = u64::from(LDT);
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD8]), (v::GP, u32::from(LDT))); // ltr ax
                                                                                 // Not present: #NP(selector).
        let mut m = machine();
        m.cpu.state.gpr[0] = u64::from(LDT_NP);
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD0]), (v::NP, u32::from(LDT_NP)));
        // TI = 1: #GP(selector). Beyond the GDT limit: #GP(selector).
        let mut m = machine();
        m.cpu.state.gpr[0] = 0x3C;
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD0]), (v::GP, 0x3C));
        let mut m = machine();
        m.cpu.state.gpr[0] = 0x400;
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD8]), (v::GP, 0x400));
        // LTR with a null selector: #GP(0).
        let mut m = machine();
        m.cpu.state.gpr[0] = 3;
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD8]), (v::GP, 0));
        // CPL 3: #GP(0).
        let mut m = machine();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        m.cpu.state.gpr[0] = u64::from(LDT);
        assert_eq!(fault(&mut m, &[0x0F, 0x00, 0xD0]), (v::GP, 0));
    }

    #[test]
    fn memory_selector_operands_read_16_bits() {
        let mut m = machine();
        m.load(0x2000, &[0x38, 0x00, 0xFF, 0xFF]);
        m.load_code(&[
            0x0F, 0x02, 0x05, 0x00, 0x20, 0x00, 0x00, // lar eax, [0x2000]
            0x0F, 0x00, 0x15, 0x00, 0x20, 0x00, 0x00, // lldt [0x2000]
        ]);
        m.run(2);
        assert_eq!(m.cpu.state.gpr[0], 0x0000_8200, "LAR of the LDT descriptor");
        assert_eq!(m.cpu.state.ldtr.selector, LDT);
    }

    #[test]
    fn lldt_null_makes_ldt_unusable() {
        let mut m = machine();
        m.cpu.state.gpr[0] = u64::from(LDT);
        m.load_code(&[0x0F, 0x00, 0xD0]); // lldt ax
        m.run(1);
        assert_eq!(m.cpu.state.ldtr.base, 0x4000);
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.gpr[0] = 0;
        m.run(1);
        assert_eq!(m.cpu.state.ldtr.attr, 0);
        // A selector with TI = 1 now fails: mov ds, ax with ax = 4 faults.
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.gpr[0] = 4;
        assert_eq!(fault(&mut m, &[0x8E, 0xD8]), (v::GP, 4)); // mov ds, ax
    }

    #[test]
    fn selector_instructions_are_ud_in_real_mode() {
        // sldt ax; str ax; lldt ax; ltr ax; lar ax, bx; lsl ax, bx;
        // verr ax; verw ax; arpl ax, bx (0x63 is ARPL only outside 64-bit).
        let insns: [&[u8]; 9] = [
            &[0x0F, 0x00, 0xC0],
            &[0x0F, 0x00, 0xC8],
            &[0x0F, 0x00, 0xD0],
            &[0x0F, 0x00, 0xD8],
            &[0x0F, 0x02, 0xC3],
            &[0x0F, 0x03, 0xC3],
            &[0x0F, 0x00, 0xE0],
            &[0x0F, 0x00, 0xE8],
            &[0x63, 0xD8],
        ];
        for code in insns {
            let mut m = TestMachine::real();
            // IVT entry 6 -> 0000:0600, where "out 0x80, al; hlt" waits.
            m.load(6 * 4, &[0x00, 0x06, 0x00, 0x00]);
            m.load(0x600, &[0xE6, 0x80, 0xF4]);
            m.cpu.state.gpr[0] = 0x66;
            m.load_code(code);
            assert_eq!(m.run(10), RunExit::Halted);
            assert_eq!(m.bus.outs, vec![(0x80, 1, 0x66)], "{code:x?}");
        }
    }

    const LAR: [u8; 3] = [0x0F, 0x02, 0xC3]; // lar eax, ebx
    const LAR16: [u8; 4] = [0x66, 0x0F, 0x02, 0xD3]; // lar dx, bx
    const LSL: [u8; 3] = [0x0F, 0x03, 0xCB]; // lsl ecx, ebx
    const VERR: [u8; 3] = [0x0F, 0x00, 0xE3]; // verr bx
    const VERW: [u8; 3] = [0x0F, 0x00, 0xEB]; // verw bx

    #[test]
    fn lar_lsl_on_code_data_and_system_descriptors() {
        let mut m = machine();
        assert!(step(&mut m, &LAR, u32::from(sel::CODE32)));
        assert_eq!(m.cpu.state.gpr[0], 0x00CF_9B00);
        m.cpu.state.gpr[2] = 0xDEAD_0000;
        assert!(step(&mut m, &LAR16, u32::from(sel::CODE32)));
        assert_eq!(m.cpu.state.gpr[2], 0xDEAD_9B00, "16-bit LAR merges and keeps bits 15:8");
        assert!(step(&mut m, &LSL, u32::from(sel::CODE32)));
        assert_eq!(m.cpu.state.gpr[1], 0xFFFF_FFFF, "limit with granularity");
        // System descriptors: TSS and LDT for both; a call gate for LAR only;
        // an interrupt gate for neither.
        assert!(step(&mut m, &LAR, u32::from(TSS32)));
        assert_eq!(m.cpu.state.gpr[0], 0x0000_8900);
        assert!(step(&mut m, &LSL, u32::from(LDT)));
        assert_eq!(m.cpu.state.gpr[1], 0xFF);
        assert!(step(&mut m, &LAR, u32::from(CALL_GATE)));
        assert_eq!(m.cpu.state.gpr[0], 0x0000_EC00);
        m.cpu.state.gpr[1] = 0x1111;
        assert!(!step(&mut m, &LSL, u32::from(CALL_GATE)));
        assert_eq!(m.cpu.state.gpr[1], 0x1111, "destination unchanged when ZF = 0");
        assert!(!step(&mut m, &LAR, u32::from(INT_GATE)));
        // Null selector and a selector beyond the GDT limit: ZF = 0, no fault.
        assert!(!step(&mut m, &LAR, 0));
        assert!(!step(&mut m, &LSL, 0x7F8));
        assert!(m.bus.outs.is_empty());
    }

    #[test]
    fn lar_privilege_check() {
        let mut m = machine();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        // DPL 0 data at CPL 3: invisible; DPL 0 conforming code: visible.
        assert!(!step(&mut m, &LAR, u32::from(sel::DATA32)));
        assert!(step(&mut m, &LAR, u32::from(CONFORMING)));
        assert!(step(&mut m, &LSL, u32::from(RO_DATA3 | 3)));
        // At CPL 0 an RPL above the DPL hides the segment.
        let mut m = machine();
        assert!(!step(&mut m, &LAR, u32::from(sel::DATA32 | 3)));
    }

    #[test]
    fn verr_verw() {
        let mut m = machine();
        assert!(step(&mut m, &VERR, u32::from(sel::CODE32)), "readable code");
        assert!(!step(&mut m, &VERW, u32::from(sel::CODE32)), "code is never writable");
        assert!(step(&mut m, &VERW, u32::from(sel::DATA32)));
        assert!(step(&mut m, &VERR, u32::from(RO_DATA3)));
        assert!(!step(&mut m, &VERW, u32::from(RO_DATA3)), "read-only data");
        assert!(!step(&mut m, &VERR, u32::from(TSS32)), "system descriptor");
        assert!(!step(&mut m, &VERR, 0));
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        assert!(!step(&mut m, &VERR, u32::from(sel::DATA32)), "DPL 0 from CPL 3");
        assert!(step(&mut m, &VERW, u32::from(sel::DATA32_USER)));
        assert!(step(&mut m, &VERR, u32::from(CONFORMING)), "conforming code: no privilege check");
    }

    #[test]
    fn lmsw_smsw_clts_arpl() {
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::EM | cr0::WP;
        m.cpu.state.gpr[0] = 0x0000_FFFA; // lmsw: PE clear (ignored), MP and TS set, EM clear
        m.cpu.state.gpr[2] = 0x0003; // arpl source RPL 3
        m.load(0x2000, &[0x0A, 0x00]);
        m.load_code(&[
            0x0F, 0x01, 0xF0, // lmsw ax
            0x0F, 0x01, 0xE3, // smsw ebx
            0x66, 0x0F, 0x01, 0xE1, // smsw cx
            0x0F, 0x06, // clts
            0x63, 0x15, 0x00, 0x20, 0x00, 0x00, // arpl [0x2000], dx
        ]);
        m.cpu.state.gpr[1] = 0xAAAA_0000;
        m.run(5);
        let s = &m.cpu.state;
        let expected = cr0::PE | cr0::MP | cr0::ET | cr0::WP | cr0::CD | cr0::NW;
        assert_eq!(s.cr0, expected, "LMSW cannot clear PE; EM cleared; CLTS cleared TS");
        assert_eq!(s.gpr[3], (expected | cr0::TS) & 0xFFFF_FFFF, "SMSW r32 stores all of CR0");
        assert_eq!(s.gpr[1], 0xAAAA_0000 | ((expected | cr0::TS) & 0xFFFF));
        assert_eq!(m.read_phys(0x2000, 2), [0x0B, 0x00]);
        assert!(s.flags() & crate::state::fl::ZF != 0);
        // ARPL with the destination's RPL already high enough: ZF = 0.
        m.cpu.state.gpr[0] = 0x1233;
        m.cpu.state.gpr[2] = 0x0001;
        assert!(!step(&mut m, &[0x63, 0xD0], 0)); // arpl ax, dx
        assert_eq!(m.cpu.state.gpr[0], 0x1233);
        m.cpu.state.gpr[0] = 0xFFFF_1230;
        assert!(step(&mut m, &[0x63, 0xD0], 0));
        assert_eq!(m.cpu.state.gpr[0], 0xFFFF_1231, "only the low word changes");
        assert_eq!(m.cpu.state.seg[sreg::CS].selector, sel::CODE32);
    }

    #[test]
    fn lmsw_sets_pe_from_real_mode() {
        let mut m = TestMachine::real();
        m.cpu.state.gpr[0] = 1;
        m.load_code(&[0x0F, 0x01, 0xF0]); // lmsw ax
        m.run(1);
        assert!(m.cpu.state.protected());
        assert_eq!(m.cpu.state.cpl, 0);
    }
}
