//! Bare CPUs in a known mode, for tests: unit tests beside the handlers,
//! the conformance sweep and the fuzzer build on this.
//!
//! [`TestMachine`] owns a CPU, RAM and a [`TestBus`] that records port
//! writes. The constructors put the CPU directly into real mode or flat
//! 16/32-bit protected mode with a GDT at [`GDT_BASE`], without running a
//! mode switch, so a test starts with exactly the state it names.

use crate::{
    state::{attr, cr0, sreg, Segment, TableReg},
    Bus, Cpu, Env, RunExit,
};
use ironpc_mmu::PhysMem;
use std::collections::HashMap;

/// Where the test GDT lives.
pub const GDT_BASE: u64 = 0x800;
/// Where code is loaded by default.
pub const CODE_BASE: u64 = 0x1_0000;
/// Initial stack top in every mode.
pub const STACK_TOP: u64 = 0x8_0000;

/// Selectors of the test GDT.
pub mod sel {
    /// Flat 32-bit ring-0 code.
    pub const CODE32: u16 = 0x08;
    /// Flat 32-bit ring-0 data.
    pub const DATA32: u16 = 0x10;
    /// 16-bit ring-0 code, base 0, limit 64 KiB.
    pub const CODE16: u16 = 0x18;
    /// 16-bit ring-0 data, limit 64 KiB.
    pub const DATA16: u16 = 0x20;
    /// Flat 32-bit ring-3 code.
    pub const CODE32_USER: u16 = 0x2B;
    /// Flat 32-bit ring-3 data.
    pub const DATA32_USER: u16 = 0x33;
}

/// The raw test GDT, indexed by selector / 8.
pub const GDT: [u64; 7] = [
    0,
    0x00CF_9B00_0000_FFFF,
    0x00CF_9300_0000_FFFF,
    0x0000_9B00_0000_FFFF,
    0x0000_9300_0000_FFFF,
    0x00CF_FB00_0000_FFFF,
    0x00CF_F300_0000_FFFF,
];

/// SplitMix64: small, fast and good enough to drive test inputs; every
/// seeded test (fuzzer, conformance sweep) draws from it.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A bus that records what the CPU did to it.
#[derive(Default)]
pub struct TestBus {
    /// Every OUT: (port, size, value).
    pub outs: Vec<(u16, u8, u32)>,
    /// Values returned by IN, per port (default all ones).
    pub ins: HashMap<u16, u32>,
    /// A pending maskable interrupt vector.
    pub irq: Option<u8>,
}

impl Bus for TestBus {
    fn io_read(&mut self, _: &mut PhysMem, port: u16, _size: u8) -> u32 {
        self.ins.get(&port).copied().unwrap_or(u32::MAX)
    }
    fn io_write(&mut self, _: &mut PhysMem, port: u16, size: u8, value: u32) {
        self.outs.push((port, size, value));
    }
    fn mmio_read(&mut self, _: &mut PhysMem, _: u64, _: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _: &mut PhysMem, _: u64, _: u8, _: u64) {}
    fn interrupt_pending(&mut self) -> bool {
        self.irq.is_some()
    }
    fn interrupt_ack(&mut self) -> u8 {
        self.irq.take().unwrap_or(0xFF)
    }
}

/// A CPU with RAM and a recording bus.
pub struct TestMachine {
    pub cpu: Cpu,
    pub mem: PhysMem,
    pub bus: TestBus,
}

impl TestMachine {
    /// Real mode, all segments 0, EIP = [`CODE_BASE`] (CS = 0x1000, IP = 0),
    /// SP = 0xFFF0 with SS = 0x7000 (linear [`STACK_TOP`] - 16).
    pub fn real() -> Self {
        let mut m = Self::bare();
        let s = &mut m.cpu.state;
        for seg in &mut s.seg {
            *seg = Segment::real(0, 0xFFFF, attr::REAL_DATA);
        }
        s.seg[sreg::CS] = Segment::real((CODE_BASE >> 4) as u16, 0xFFFF, attr::REAL_DATA);
        s.seg[sreg::SS] = Segment::real(((STACK_TOP - 0x1_0000) >> 4) as u16, 0xFFFF, attr::REAL_DATA);
        s.rip = 0;
        s.gpr[4] = 0xFFF0;
        m
    }

    /// Flat 32-bit protected mode at CPL 0 (paging off): CS = 0x08, data
    /// segments 0x10, ESP = [`STACK_TOP`], EIP = [`CODE_BASE`].
    pub fn flat32() -> Self {
        let mut m = Self::protected();
        m.load_segments(sel::CODE32, sel::DATA32);
        m.cpu.state.rip = CODE_BASE;
        m
    }

    /// 16-bit protected mode at CPL 0: CS = 0x18 and data 0x20, both base 0
    /// and limit 64 KiB; IP = 0x8000, SP = 0xFFF0.
    pub fn prot16() -> Self {
        let mut m = Self::protected();
        m.load_segments(sel::CODE16, sel::DATA16);
        m.cpu.state.rip = 0x8000;
        m.cpu.state.gpr[4] = 0xFFF0;
        m
    }

    fn bare() -> Self {
        Self { cpu: Cpu::new(), mem: PhysMem::new(16 << 20).expect("16 MiB of test RAM"), bus: TestBus::default() }
    }

    fn protected() -> Self {
        let mut m = Self::bare();
        for (n, d) in GDT.iter().enumerate() {
            m.mem.write(GDT_BASE + n as u64 * 8, &d.to_le_bytes());
        }
        let s = &mut m.cpu.state;
        s.gdtr = TableReg { base: GDT_BASE, limit: (GDT.len() * 8 - 1) as u32 };
        s.idtr = TableReg { base: 0, limit: 0 };
        s.cr0 |= cr0::PE;
        s.gpr[4] = STACK_TOP;
        m
    }

    /// Loads CS with `code` and every other segment with `data` from the
    /// test GDT, setting the CPL from `code`'s RPL.
    pub fn load_segments(&mut self, code: u16, data: u16) {
        let desc = |s: u16| crate::segment::Descriptor(GDT[(s >> 3) as usize] | (1 << 40)).segment(s);
        let s = &mut self.cpu.state;
        for seg in &mut s.seg {
            *seg = desc(data);
        }
        s.seg[sreg::CS] = desc(code);
        s.cpl = (code & 3) as u8;
    }

    /// Copies `bytes` to physical address `addr`.
    pub fn load(&mut self, addr: u64, bytes: &[u8]) {
        self.mem.write(addr, bytes);
        self.cpu.flush_code_cache();
    }

    /// Copies `bytes` to where the CPU's CS:EIP points now.
    pub fn load_code(&mut self, bytes: &[u8]) {
        let at = self.cpu.state.seg[sreg::CS].base + self.cpu.state.rip;
        self.load(at, bytes);
    }

    /// Runs up to `n` instructions.
    pub fn run(&mut self, n: u64) -> RunExit {
        let mut env = Env { mem: &mut self.mem, bus: &mut self.bus };
        self.cpu.run(&mut env, n)
    }

    /// Reads `N` bytes of physical memory.
    pub fn read_phys(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read(addr, &mut v);
        v
    }

    /// Reads a little-endian u32 of physical memory.
    pub fn read_u32(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        self.mem.read(addr, &mut b);
        u32::from_le_bytes(b)
    }

    /// Installs a 32-bit interrupt gate for `vector` pointing at
    /// CODE32:`handler`, with an IDT at `idt` (the IDT limit grows to
    /// cover it).
    pub fn set_int_gate(&mut self, idt: u64, vector: u8, handler: u32, dpl: u8) {
        let gate = (u64::from(handler) & 0xFFFF)
            | (u64::from(sel::CODE32) << 16)
            | (0x8E_u64 | (u64::from(dpl) << 5)) << 40
            | (u64::from(handler) >> 16) << 48;
        self.mem.write(idt + u64::from(vector) * 8, &gate.to_le_bytes());
        let s = &mut self.cpu.state;
        s.idtr.base = idt;
        s.idtr.limit = s.idtr.limit.max(u32::from(vector) * 8 + 7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_mode_out_and_jmp() {
        let mut m = TestMachine::real();
        // mov al, 0x41; out 0xe9, al; jmp $+2; mov dx, 0x80; out dx, al
        m.load_code(&[0xB0, 0x41, 0xE6, 0xE9, 0xEB, 0x00, 0xBA, 0x80, 0x00, 0xEE]);
        m.run(5);
        assert_eq!(m.bus.outs, vec![(0xE9, 1, 0x41), (0x80, 1, 0x41)]);
        assert_eq!(m.cpu.state.rip, 10);
    }

    #[test]
    fn flat32_loop_counts_down() {
        let mut m = TestMachine::flat32();
        // mov ecx, 5; l: loop l; mov [0x2000], ecx
        m.load_code(&[0xB9, 5, 0, 0, 0, 0xE2, 0xFE, 0x89, 0x0D, 0x00, 0x20, 0, 0]);
        m.cpu.state.gpr[1] = 0;
        m.run(7);
        assert_eq!(m.read_u32(0x2000), 0);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 13);
    }

    #[test]
    fn self_modifying_code_is_seen() {
        let mut m = TestMachine::flat32();
        // mov byte [CODE_BASE+9], 0x42 ; (at +7:) nop; nop; (at +9:) mov al, 0x00 ; out 0xe9, al
        let target = (CODE_BASE + 10) as u32;
        let mut code = vec![0xC6, 0x05];
        code.extend_from_slice(&target.to_le_bytes());
        code.push(0x42);
        code.extend_from_slice(&[0x90, 0x90, 0xB0, 0x00, 0xE6, 0xE9]);
        m.load_code(&code);
        m.run(5);
        assert_eq!(m.bus.outs, vec![(0xE9, 1, 0x42)]);
    }

    #[test]
    fn same_code_through_another_segment_base_branches_relative_to_its_own_eip() {
        let mut m = TestMachine::real();
        // jmp short +1; hlt; mov al, 0x55; out 0xe9, al
        m.load_code(&[0xEB, 0x01, 0xF4, 0xB0, 0x55, 0xE6, 0xE9]);
        m.run(3);
        // The same bytes, now reached as 0FF0:0100 (same physical address).
        let s = &mut m.cpu.state;
        s.seg[sreg::CS] = Segment::real(0x0FF0, 0xFFFF, attr::REAL_DATA);
        s.rip = 0x100;
        m.run(3);
        assert_eq!(m.bus.outs, vec![(0xE9, 1, 0x55), (0xE9, 1, 0x55)]);
        assert_eq!(m.cpu.state.rip, 0x107);
    }

    #[test]
    fn a_cached_block_does_not_run_past_a_smaller_cs_limit() {
        let mut m = TestMachine::flat32();
        // nop x4; hlt   (decoded once with a 4 GiB limit)
        m.load_code(&[0x90, 0x90, 0x90, 0x90, 0xF4]);
        m.run(1);
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.seg[sreg::CS].limit = (CODE_BASE + 1) as u32;
        m.set_int_gate(0x4000, 13, 0x5000, 0);
        m.run(3);
        // Two NOPs fit, the third is beyond the limit: #GP with EIP at it.
        assert_eq!(m.read_u32(crate::testing::STACK_TOP - 12) as u64, CODE_BASE + 2, "faulting EIP pushed");
    }

    #[test]
    fn an_instruction_running_into_a_missing_page_faults_with_cr2_on_that_page() {
        let mut m = TestMachine::flat32();
        // Identity-map the first 4 MiB with one page table, except the
        // page after the code page.
        let (pd, pt) = (0x20_0000u64, 0x20_1000u64);
        m.mem.write(pd, &((pt as u32) | 3).to_le_bytes());
        for page in 0..1024u64 {
            let pte = if page * 0x1000 == CODE_BASE + 0x1000 { 0 } else { (page * 0x1000) as u32 | 3 };
            m.mem.write(pt + page * 4, &pte.to_le_bytes());
        }
        m.cpu.state.cr3 = pd;
        m.cpu.state.cr0 |= cr0::PG;
        m.set_int_gate(0x4000, crate::fault::vector::PF, 0x5000, 0);
        // nop at the page's last-but-two byte, then mov eax, imm32 whose
        // bytes run into the missing page.
        m.cpu.state.rip = CODE_BASE + 0xFFD;
        m.load_code(&[0x90, 0xB8, 0x11]);
        m.run(2);
        assert_eq!(m.cpu.state.rip, 0x5000, "#PF delivered");
        assert_eq!(m.cpu.state.cr2, CODE_BASE + 0x1000);
        assert_eq!(m.read_u32(STACK_TOP - 16), 0, "error code: not present, supervisor read");
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 12)), CODE_BASE + 0xFFE, "EIP of the MOV");
    }
}
