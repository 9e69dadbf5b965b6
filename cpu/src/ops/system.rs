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
