//! Random guest code from random CPU states: the guest is untrusted
//! (DESIGN.md invariant 8), so no instruction stream, descriptor table or
//! page table may make ironpc panic or leave the CPU in a state no
//! hardware could be in.
//!
//! A case is a function of its seed: the mode (real, 16/32-bit protected
//! at CPL 0 or 3, V86, with or without paging), the registers, and RAM
//! holding random code, a GDT/LDT/IDT mixing plausible and random
//! descriptors, a TSS and page tables whose entries point anywhere, even
//! outside RAM. After running, [`check_invariants`] inspects the state.

use crate::{
    state::{attr, cr0, cr4, fl, sreg, Segment, TableReg},
    testing::{Rng, TestMachine, CODE_BASE, GDT, GDT_BASE},
    RunExit,
};

/// The starting mode of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real,
    Prot16,
    Flat32,
    User32,
    V86,
}

/// What one case did.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub mode: Mode,
    pub paging: bool,
    pub instructions: u64,
    pub exit: RunExit,
}

/// Where the fuzz tables live (inside the 16 MiB of test RAM).
const IDT_BASE: u64 = 0x2000;
const TSS_BASE: u64 = 0x3000;
const LDT_BASE: u64 = 0x3800;
const PAGE_DIR: u64 = 0x10_0000;

/// Builds and runs case `seed` for at most `budget` instructions.
pub fn run_case(seed: u64, budget: u64) -> Result<Outcome, String> {
    let mut rng = Rng::new(seed);
    let mut m = random_machine(&mut rng);
    let mode = match (m.cpu.state.protected(), m.cpu.state.v86(), m.cpu.state.cpl, m.cpu.state.code32()) {
        (false, _, _, _) => Mode::Real,
        (true, true, _, _) => Mode::V86,
        (true, false, 3, _) => Mode::User32,
        (true, false, _, true) => Mode::Flat32,
        _ => Mode::Prot16,
    };
    let paging = m.cpu.state.cr0 & cr0::PG != 0;
    let start = m.cpu.icount;
    let mut exit = RunExit::Budget;
    // Run in slices, perturbing the machine between them the way devices
    // would: interrupts arrive, code is rewritten.
    let mut left = budget;
    while left > 0 {
        let slice = left.min(1 + rng.below(500));
        exit = m.run(slice);
        left -= slice.min(left);
        check_invariants(&m).map_err(|e| format!("seed {seed:#x}: {e}"))?;
        match exit {
            RunExit::Shutdown => break,
            RunExit::Halted if !m.cpu.state.flags() & fl::IF != 0 => break,
            _ => {}
        }
        if rng.chance(20) {
            m.bus.irq = Some(rng.next_u64() as u8);
        }
        if rng.chance(10) {
            let mut junk = [0u8; 16];
            rng.fill(&mut junk);
            m.mem.write(CODE_BASE + rng.below(0x1000), &junk);
        }
    }
    Ok(Outcome { mode, paging, instructions: m.cpu.icount - start, exit })
}

fn random_machine(rng: &mut Rng) -> TestMachine {
    let mode = rng.below(5);
    let mut m = match mode {
        0 => TestMachine::real(),
        1 => TestMachine::prot16(),
        _ => TestMachine::flat32(),
    };
    // Random code where execution starts and around it.
    let mut code = vec![0u8; 0x2000];
    rng.fill(&mut code);
    let start = m.cpu.state.seg[sreg::CS].base + m.cpu.state.rip;
    m.load(start & !0xFFF, &code);
    // Low memory (IVT, tables) and the stack area get random bytes too.
    let mut low = vec![0u8; 0x400];
    rng.fill(&mut low);
    m.mem.write(0, &low);
    random_tables(rng, &mut m);

    let s = &mut m.cpu.state;
    for r in 0..8 {
        s.gpr[r] = rng.next_u64() & 0xFFFF_FFFF;
    }
    s.gpr[4] = if rng.chance(80) { s.gpr[4] } else { rng.next_u64() & 0xFFFF_FFFF };
    let keep = fl::VM | fl::IOPL | fl::TF;
    let mut f = (rng.next_u64() as u32) & fl::WRITABLE & !keep;
    if rng.chance(30) {
        f |= rng.below(4) as u32 * (1 << fl::IOPL_SHIFT);
    }
    if rng.chance(5) {
        f |= fl::TF;
    }
    s.set_flags(f);
    if rng.chance(10) {
        s.dr[7] = rng.next_u64() & 0xFFFF_03FF;
        s.dr[0] = start + rng.below(64);
    }
    match mode {
        3 => m.load_segments(crate::testing::sel::CODE32_USER, crate::testing::sel::DATA32_USER),
        4 => {
            let s = &mut m.cpu.state;
            let f = s.flags() | fl::VM;
            s.set_flags(f);
            s.cpl = 3;
            for seg in &mut s.seg {
                *seg = Segment::real(0x1000, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
            }
            s.rip = 0;
            if rng.chance(30) {
                s.cr4 |= cr4::VME;
            }
        }
        _ => {}
    }
    if m.cpu.state.protected() && rng.chance(40) {
        random_paging(rng, &mut m);
    }
    m
}

/// A GDT extending the test GDT with random descriptors, an LDT, an IDT
/// whose gates are sometimes sane, and a TSS.
fn random_tables(rng: &mut Rng, m: &mut TestMachine) {
    let mut gdt: Vec<u64> = GDT.to_vec();
    // TSS descriptor (32-bit, available) at 0x38 and an LDT at 0x40.
    gdt.push(desc(TSS_BASE, 0x2067, 0x89));
    gdt.push(desc(LDT_BASE, 0xFF, 0x82));
    for _ in 0..8 {
        gdt.push(if rng.chance(50) { rng.next_u64() } else { plausible_descriptor(rng) });
    }
    for (i, d) in gdt.iter().enumerate() {
        m.mem.write(GDT_BASE + i as u64 * 8, &d.to_le_bytes());
    }
    let s = &mut m.cpu.state;
    s.gdtr = TableReg { base: GDT_BASE, limit: (gdt.len() * 8 - 1) as u32 };
    s.tr = Segment { base: TSS_BASE, limit: 0x2067, selector: 0x38, attr: attr::P | 0xB };
    s.ldtr = Segment { base: LDT_BASE, limit: 0xFF, selector: 0x40, attr: attr::P | 0x2 };
    for i in 0..32u64 {
        let d = if rng.chance(50) { rng.next_u64() } else { plausible_descriptor(rng) };
        m.mem.write(LDT_BASE + i * 8, &d.to_le_bytes());
    }
    let mut tss = vec![0u8; 0x68 + 0x2000 / 8];
    rng.fill(&mut tss);
    if rng.chance(70) {
        // Plausible ring-0 stack and I/O bitmap base.
        tss[4..8].copy_from_slice(&0x7_0000u32.to_le_bytes());
        tss[8..10].copy_from_slice(&0x10u16.to_le_bytes());
        tss[0x66..0x68].copy_from_slice(&0x68u16.to_le_bytes());
    }
    m.mem.write(TSS_BASE, &tss);
    if m.cpu.state.protected() {
        for v in 0..256u64 {
            let gate = if rng.chance(60) {
                let handler = CODE_BASE + rng.below(0x1000);
                let ty = [0x8E, 0x8F, 0xEE, 0xEF, 0x85, 0x86][rng.below(6) as usize];
                let sel = if ty == 0x85 { 0x38 } else { 0x08 };
                (handler & 0xFFFF) | (sel << 16) | (ty << 40) | ((handler >> 16) << 48)
            } else {
                rng.next_u64()
            };
            m.mem.write(IDT_BASE + v * 8, &gate.to_le_bytes());
        }
        m.cpu.state.idtr = TableReg { base: IDT_BASE, limit: if rng.chance(90) { 0x7FF } else { rng.below(0x800) as u32 } };
    } else {
        m.cpu.state.idtr = TableReg { base: 0, limit: 0x3FF };
    }
}

/// A code/data/system descriptor with a random base/limit/type but a
/// shape hardware would accept more often than not.
fn plausible_descriptor(rng: &mut Rng) -> u64 {
    let base = if rng.chance(70) { 0 } else { rng.next_u64() & 0xFF_FFFF };
    let limit = if rng.chance(70) { 0xF_FFFF } else { rng.below(0x10_0000) };
    let access = 0x80 | (rng.below(4) << 5) | if rng.chance(80) { 0x10 | rng.below(16) } else { rng.below(16) };
    let flags = if rng.chance(50) { 0xC } else { rng.below(16) & 0xD };
    desc(base, limit, access) | (flags << 52)
}

/// Builds a descriptor from base, 20-bit limit and access byte.
fn desc(base: u64, limit: u64, access: u64) -> u64 {
    (limit & 0xFFFF) | ((base & 0xFF_FFFF) << 16) | (access << 40) | (((limit >> 16) & 0xF) << 48) | ((base >> 24) << 56)
}

/// Page tables: the first 16 MiB mostly identity-mapped with random
/// flags, some entries pointing anywhere (beyond RAM, into the tables).
fn random_paging(rng: &mut Rng, m: &mut TestMachine) {
    let pae = rng.chance(30);
    let s = &mut m.cpu.state;
    s.cr4 |= if rng.chance(50) { cr4::PSE } else { 0 } | if rng.chance(30) { cr4::PGE } else { 0 };
    if pae {
        s.cr4 |= cr4::PAE;
        s.efer |= if rng.chance(50) { ironpc_mmu::paging::EFER_NXE } else { 0 };
        let pdpt = PAGE_DIR;
        for i in 0..4u64 {
            let pd = PAGE_DIR + 0x1000 * (1 + i);
            m.mem.write(pdpt + i * 8, &(pd | 1).to_le_bytes());
            for j in 0..512u64 {
                let e = if rng.chance(90) {
                    ((i << 30) | (j << 21)) | 0x87 | (rng.next_u64() & 0x8000_0000_0000_0060)
                } else {
                    rng.next_u64()
                };
                m.mem.write(pd + j * 8, &e.to_le_bytes());
            }
        }
        m.cpu.state.cr3 = pdpt;
    } else {
        for i in 0..1024u64 {
            let pt = PAGE_DIR + 0x1000 * (1 + (i % 4));
            let e = if i < 4 && rng.chance(90) {
                pt | 0x7
            } else if rng.chance(50) {
                (i << 22) | 0x87
            } else {
                rng.next_u64() & 0xFFFF_FFFF
            };
            m.mem.write(PAGE_DIR + i * 4, &(e as u32).to_le_bytes());
        }
        for t in 0..4u64 {
            for j in 0..1024u64 {
                let frame = (t << 22) | (j << 12);
                let e = if rng.chance(95) { frame | 0x7 | (rng.next_u64() & 0x160) } else { rng.next_u64() & 0xFFFF_FFFF };
                m.mem.write(PAGE_DIR + 0x1000 * (1 + t) + j * 4, &(e as u32).to_le_bytes());
            }
        }
        m.cpu.state.cr3 = PAGE_DIR;
    }
    m.cpu.state.cr0 |= cr0::PG | if rng.chance(50) { cr0::WP } else { 0 };
}

/// The state checks after every slice: things no x86 can show.
pub fn check_invariants(m: &TestMachine) -> Result<(), String> {
    let s = &m.cpu.state;
    if s.cpl > 3 {
        return Err(format!("CPL {}", s.cpl));
    }
    if s.rip > 0xFFFF_FFFF {
        return Err(format!("EIP {:#x} beyond 32 bits", s.rip));
    }
    if s.gpr[..8].iter().any(|&r| r > 0xFFFF_FFFF) {
        return Err(format!("a register beyond 32 bits: {:x?}", &s.gpr[..8]));
    }
    let f = s.flags();
    if f & fl::FIXED == 0 || f & !fl::WRITABLE & !fl::FIXED != 0 {
        return Err(format!("EFLAGS {f:#x} has reserved bits wrong"));
    }
    if s.v86() && (s.cpl != 3 || !s.protected()) {
        return Err(format!("V86 with CPL {} CR0 {:#x}", s.cpl, s.cr0));
    }
    if !s.protected() && s.cpl != 0 {
        return Err(format!("real mode with CPL {}", s.cpl));
    }
    if s.pmode() && m.cpu.shutdown.is_none() {
        let cs = s.seg[sreg::CS];
        if cs.attr & (attr::P | attr::S | attr::CODE) != attr::P | attr::S | attr::CODE {
            return Err(format!("protected mode CS {cs:x?} is not a present code segment"));
        }
        if cs.selector & 3 != u16::from(s.cpl) {
            return Err(format!("CS.RPL {} differs from CPL {}", cs.selector & 3, s.cpl));
        }
        let ss = s.seg[sreg::SS];
        if ss.attr & attr::P == 0 || ss.dpl() != s.cpl {
            return Err(format!("SS {ss:x?} unusable at CPL {}", s.cpl));
        }
    }
    if s.cr0 & cr0::PG != 0 && s.cr0 & cr0::PE == 0 {
        return Err("CR0.PG without PE".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_reproducible() {
        let a = run_case(7, 300).unwrap();
        let b = run_case(7, 300).unwrap();
        assert_eq!((a.mode, a.paging, a.instructions, a.exit), (b.mode, b.paging, b.instructions, b.exit));
    }
}
