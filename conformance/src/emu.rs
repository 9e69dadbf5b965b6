//! ironpc's side: a bare CPU at CPL 3 in flat 32-bit protected mode,
//! set up like the host's Linux process (same selectors, same code and
//! data addresses, IOPL 0, IF set), with an IDT whose gates lead to ring-0
//! stubs, so faults come through the real delivery path.
//!
//! A case runs exactly one instruction (`run(1)`). If it faults, the
//! exception is delivered (which uses up that budget unit), and one more
//! unit runs the stub for vector v, `out 0xC0+v, al`; the faulting EIP,
//! EFLAGS and ESP are read back from the ring-0 frame.
//!
//! Control registers as Linux sets them for a process: CR0.NE (x87
//! errors as #MF), EM and TS clear (the task owns the FPU), CR4.OSFXSR and
//! OSXMMEXCPT (SSE enabled, SIMD exceptions as #XM). A case with
//! floating-point state writes it as FXRSTOR would (full tag word rebuilt
//! from the abridged one; the last-instruction pointers zero) and reads
//! it back as FXSAVE would.

use crate::{
    fp::FpState,
    gen::Case,
    native::{Outcome, Selectors},
    CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, HLT, LOW_CODE_ADDR, LOW_CODE_SIZE,
};
use ironpc_cpu::{
    fpstate::{tag, FpuState},
    state::{attr, cr0, cr4, Segment},
    testing::TestMachine,
};

// The system structures live above the code and data areas (and out of
// the low code area), inside the test machine's 16 MiB.
const GDT: u64 = 0x00C0_0000;
const GDT_ENTRIES: usize = 16;
const IDT: u64 = GDT + 0x1000;
const TSS: u64 = GDT + 0x2000;
const STUBS: u32 = GDT as u32 + 0x3000;
/// Top of the ring-0 stack the TSS names.
const RING0_STACK: u32 = GDT as u32 + 0x9000;
const RING0_CODE: u16 = 0x08;
const RING0_DATA: u16 = 0x10;
const TSS_SEL: u16 = 0x18;
/// Stub ports: vector v is reported on port `STUB_PORT + v`.
const STUB_PORT: u16 = 0xC0;

const FLAT_CODE0: u64 = 0x00CF_9B00_0000_FFFF;
const FLAT_DATA0: u64 = 0x00CF_9300_0000_FFFF;
const FLAT_CODE3: u64 = 0x00CF_FB00_0000_FFFF;
const FLAT_DATA3: u64 = 0x00CF_F300_0000_FFFF;

/// Exceptions that push an error code.
fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10..=14 | 17 | 21)
}

/// A flat segment's hidden cache from its descriptor.
fn flat(selector: u16, desc: u64) -> Segment {
    if selector & !3 == 0 {
        return Segment { base: 0, limit: 0, selector, attr: 0 };
    }
    let attr = ((desc >> 40) & 0xFF) as u16 | (((desc >> 52) & 0xF) as u16) << 12;
    Segment { base: 0, limit: u32::MAX, selector, attr: attr | attr::ACCESSED }
}

/// The interpreter under test.
pub struct Emu {
    m: TestMachine,
    segs: [Segment; 6],
}

impl Emu {
    /// A machine whose user segments carry the host's selectors.
    pub fn new(host: Selectors) -> Self {
        let mut m = TestMachine::flat32();
        let mut gdt = [0u64; GDT_ENTRIES];
        gdt[usize::from(RING0_CODE >> 3)] = FLAT_CODE0;
        gdt[usize::from(RING0_DATA >> 3)] = FLAT_DATA0;
        gdt[usize::from(TSS_SEL >> 3)] = 0x67 | (TSS & 0xFF_FFFF) << 16 | 0x8B << 40 | (TSS >> 24) << 56;
        let user = [
            (host.cs, FLAT_CODE3),
            (host.ds, FLAT_DATA3),
            (host.es, FLAT_DATA3),
            (host.ss, FLAT_DATA3),
            (host.fs, FLAT_DATA3),
            (host.gs, FLAT_DATA3),
        ];
        for (sel, desc) in user {
            if let Some(slot) = gdt.get_mut(usize::from(sel >> 3)).filter(|_| sel & 4 == 0 && sel >> 3 > 3) {
                *slot = desc;
            }
        }
        for (n, d) in gdt.iter().enumerate() {
            m.mem.write(GDT + n as u64 * 8, &d.to_le_bytes());
        }
        m.cpu.state.gdtr.base = GDT;
        m.cpu.state.gdtr.limit = (GDT_ENTRIES * 8 - 1) as u32;
        let mut tss = [0u8; 0x68];
        tss[4..8].copy_from_slice(&RING0_STACK.to_le_bytes());
        tss[8..10].copy_from_slice(&RING0_DATA.to_le_bytes());
        m.mem.write(TSS, &tss);
        m.cpu.state.cr0 = (m.cpu.state.cr0 | cr0::NE) & !(cr0::EM | cr0::TS);
        m.cpu.state.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
        m.cpu.state.tr = Segment { base: TSS, limit: 0x67, selector: TSS_SEL, attr: attr::P | 0xB };
        for v in 0..32u8 {
            let stub = STUBS + u32::from(v) * 4;
            m.mem.write(u64::from(stub), &[0xE6, STUB_PORT as u8 + v, HLT, HLT]);
            // Linux lets user code reach #BP and #OF (INT3, INTO).
            let dpl = if v == 3 || v == 4 { 3 } else { 0 };
            m.set_int_gate(IDT, v, stub, dpl);
        }
        m.load(u64::from(CODE_ADDR), &vec![HLT; CODE_SIZE as usize]);
        m.load(u64::from(LOW_CODE_ADDR), &vec![HLT; LOW_CODE_SIZE as usize]);
        let fs = if host.fs_data() {
            // The helper's LDT segment; only its hidden cache matters, as
            // nothing reloads FS.
            Segment { base: u64::from(DATA_ADDR), limit: DATA_SIZE as u32 - 1, selector: host.fs, attr: 0x40F3 }
        } else {
            flat(host.fs, FLAT_DATA3)
        };
        let segs = [
            flat(host.es, FLAT_DATA3),
            flat(host.cs, FLAT_CODE3),
            flat(host.ss, FLAT_DATA3),
            flat(host.ds, FLAT_DATA3),
            fs,
            flat(host.gs, FLAT_DATA3),
        ];
        Self { m, segs }
    }

    /// Runs one case.
    pub fn run(&mut self, c: &Case) -> Outcome {
        let m = &mut self.m;
        {
            let s = &mut m.cpu.state;
            for (n, &r) in c.regs.iter().enumerate() {
                s.gpr[n] = u64::from(r);
            }
            s.seg = self.segs;
            s.cpl = 3;
            s.set_flags(c.eflags);
            s.rip = u64::from(c.addr);
            if let Some(f) = &c.fp {
                s.fpu = FpuState { fcw: f.fcw, fsw: f.fsw, ftw: f.full_tag(), ..FpuState::reset() };
                for (i, r) in s.fpu.regs.iter_mut().enumerate() {
                    *r = f.phys(i);
                }
                s.sse.xmm[..8].copy_from_slice(&f.xmm);
                s.sse.mxcsr = f.mxcsr;
            }
        }
        m.cpu.halted = false;
        m.cpu.shutdown = None;
        m.bus.outs.clear();
        m.mem.write(u64::from(DATA_ADDR), &c.data);
        m.load(u64::from(c.addr), &c.bytes[..c.len]);
        m.run(1);
        if m.cpu.state.cpl == 0 && m.cpu.shutdown.is_none() {
            // The instruction faulted into a ring-0 stub: let it report.
            m.run(1);
        }

        let s = &m.cpu.state;
        let mut regs = [0u32; 8];
        for (n, r) in regs.iter_mut().enumerate() {
            *r = s.gpr[n] as u32;
        }
        let stub = m.bus.outs.first().map(|o| o.0).filter(|p| (STUB_PORT..STUB_PORT + 32).contains(p));
        let (eflags, eip, fault) = if m.cpu.shutdown.is_some() {
            // Reported as vector 0xFF: the host never shuts down.
            (s.flags(), s.rip as u32, Some((0xFF, 0)))
        } else if let Some(port) = stub {
            let v = (port - STUB_PORT) as u8;
            let frame = |off: u32| m.read_u32(u64::from(RING0_STACK - off));
            regs[4] = frame(8);
            let err = if has_error_code(v) { frame(24) } else { 0 };
            (frame(12), frame(20), Some((v, err)))
        } else {
            (s.flags(), s.rip as u32, None)
        };
        let data = m.read_phys(u64::from(DATA_ADDR), DATA_SIZE);
        m.load(u64::from(c.addr), &[HLT; 16][..c.len]);
        let fp = c.fp.as_ref().map(|_| saved(&m.cpu.state.fpu, &m.cpu.state.sse.xmm, m.cpu.state.sse.mxcsr));
        Outcome { regs, eflags, eip, fault, data, fp }
    }
}

/// The state as FXSAVE stores it: registers in ST order, the abridged tag
/// word.
fn saved(f: &FpuState, xmm: &[u128; 16], mxcsr: u32) -> FpState {
    let top = usize::from(f.fsw >> 11) & 7;
    let tag = (0..8).fold(0u8, |t, i| if (f.ftw >> (2 * i)) & 3 == tag::EMPTY { t } else { t | 1 << i });
    let mut x = [0u128; 8];
    x.copy_from_slice(&xmm[..8]);
    FpState { fcw: f.fcw, fsw: f.fsw, tag, st: std::array::from_fn(|i| f.regs[(top + i) & 7]), mxcsr, xmm: x }
}
