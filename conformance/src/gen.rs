//! Case generation: one encoded instruction of a given form with random
//! and edge-value registers, flags and memory, shaped so that everything
//! it touches lies in the data page and every way it can branch lands in
//! the code area.
//!
//! The instruction is built from the form's iced-x86 operand kinds
//! (`OpCodeInfo::op_kind`) and encoded with iced's `Encoder`, so no form
//! is hand-written. Shaping is generic where iced can describe it (memory
//! operands, implicit memory through `InstructionInfoFactory`, flow
//! control) and per mnemonic only where random inputs would miss the
//! interesting path (shift counts, DIV quotients that fit, CMPXCHG
//! compares that succeed).
//!
//! x87, MMX, SSE and SSE2 forms (`forms::fp_form`) also get a random
//! floating-point state (`fp::state`: x87- or MMX-flavoured registers,
//! FCW/FSW, MXCSR, XMM0-7), memory operands of their full size (16-byte
//! ones aligned seven times in eight, so that the alignment #GP is met
//! too) and memory values of the operand's type (`fp_memory_values`).
//! Integer forms draw exactly what they drew before, so their cases do
//! not change.

use crate::{forms, fp, Rng, CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, INSN_ADDR, LOW_CODE_ADDR, LOW_CODE_SIZE};
use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpCodeOperandKind as K,
    OpKind, Register,
};
use std::fmt::Write;

/// EFLAGS bits the generator randomises: the arithmetic flags and DF.
/// IF is set and IOPL 0, as in any Linux process; TF and AC stay clear.
pub const RANDOM_FLAGS: u32 = 0x8D5 | 0x400;
/// EFLAGS.IF and the always-one bit 1.
pub const BASE_FLAGS: u32 = 0x202;

/// Memory operands land in this part of the data page, leaving room
/// for the operand size, string steps and stack frames around them.
const WINDOW: (u32, u32) = (0x100, 0xE00);
/// The stack pointer starts in this part of the data page.
const STACK: (u32, u32) = (0x780, 0x880);

/// The values where arithmetic changes behaviour: zero, ±1, the sign
/// boundaries of each width.
const EDGES: [u32; 18] = [
    0,
    1,
    2,
    0xFFFF_FFFF,
    0xFFFF_FFFE,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0x8000_0001,
    0xFFFF_FF80,
    0xFFFF_8000,
];

/// Shift and rotate counts worth trying: 0, 1, width-1, width, 31 and
/// counts the 5-bit mask folds back.
const COUNTS: [u8; 14] = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 0xFF];

/// One test case: the encoded instruction and the state it starts from.
#[derive(Clone, Debug)]
pub struct Case {
    pub code: Code,
    /// Where the instruction runs: [`INSN_ADDR`], or somewhere in the low
    /// code area ([`LOW_CODE_ADDR`]) for 16-bit near branches.
    pub addr: u32,
    pub bytes: [u8; 16],
    pub len: usize,
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    pub eflags: u32,
    /// The data page at [`DATA_ADDR`].
    pub data: Vec<u8>,
    /// The x87/MMX/SSE state, for the forms that use it (`None` for the
    /// integer forms, which run with whatever the harness leaves).
    pub fp: Option<fp::FpState>,
}

impl Case {
    /// The instruction, decoded back from its bytes.
    pub fn instruction(&self) -> Instruction {
        let mut d = Decoder::with_ip(32, &self.bytes[..self.len], u64::from(self.addr), DecoderOptions::NONE);
        d.decode()
    }

    /// The instruction and its inputs, for a mismatch report.
    pub fn describe(&self) -> String {
        let mut s = format!("`{}` (", self.instruction());
        for b in &self.bytes[..self.len] {
            let _ = write!(s, "{b:02X}");
        }
        s += ")";
        for (n, r) in ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"].iter().zip(self.regs) {
            let _ = write!(s, " {n}={r:08X}");
        }
        let _ = write!(s, " efl={:08X}", self.eflags);
        if let Some(f) = &self.fp {
            let _ = write!(s, " fcw={:04X} fsw={:04X} tag={:02X} mxcsr={:08X}", f.fcw, f.fsw, f.tag, f.mxcsr);
            // The register file the form uses: x87/MMX, XMM or both.
            let op = self.code.op_code();
            let xmm = (0..op.op_count()).any(|n| matches!(op.op_kind(n), K::xmm_reg | K::xmm_rm | K::xmm_or_mem));
            if !xmm || fp::mmx_flavoured(self.code) {
                for (n, r) in f.st.iter().enumerate() {
                    let _ = write!(s, " st{n}={:04X}:{:016X}", r.sign_exp, r.signif);
                }
            }
            if xmm || self.code.mnemonic() == Mnemonic::Fxrstor {
                for (n, x) in f.xmm.iter().enumerate() {
                    let _ = write!(s, " xmm{n}={x:032X}");
                }
            }
            if let Some(at) = self.mem_operand() {
                let end = (at + 16).min(self.data.len());
                let _ = write!(s, " mem=");
                for b in &self.data[at..end] {
                    let _ = write!(s, "{b:02X}");
                }
            }
        }
        s
    }

    /// Offset in the data page of the explicit memory operand, if it has
    /// one that iced can resolve from the case's registers.
    pub fn mem_operand(&self) -> Option<usize> {
        let i = self.instruction();
        let n = (0..i.op_count()).find(|&n| i.op_kind(n) == OpKind::Memory)?;
        let ea = i.virtual_address(n, 0, |r, _, _| match r {
            Register::FS => Some(u64::from(DATA_ADDR)),
            _ if r.is_segment_register() => Some(0),
            _ => gpr32(r.full_register32()).map(|_| u64::from(reg_value(&self.regs, r))),
        })? as u32;
        let off = ea.wrapping_sub(DATA_ADDR) as usize;
        (off < DATA_SIZE).then_some(off)
    }
}

/// Whether the generator can build every operand of `code`.
pub fn supported(code: Code) -> bool {
    let op = code.op_code();
    (0..op.op_count()).all(|n| {
        matches!(
            op.op_kind(n),
            K::r8_reg
                | K::r8_opcode
                | K::r16_reg
                | K::r16_reg_mem
                | K::r16_rm
                | K::r16_opcode
                | K::r32_reg
                | K::r32_reg_mem
                | K::r32_rm
                | K::r32_opcode
                | K::r8_or_mem
                | K::r16_or_mem
                | K::r32_or_mem
                | K::mem
                | K::mem_offs
                | K::imm8
                | K::imm16
                | K::imm32
                | K::imm8sex16
                | K::imm8sex32
                | K::imm8_const_1
                | K::al
                | K::ax
                | K::eax
                | K::cl
                | K::dx
                | K::seg_reg
                | K::es
                | K::cs
                | K::ss
                | K::ds
                | K::fs
                | K::gs
                | K::br32_1
                | K::br32_4
                | K::br16_1
                | K::br16_2
                | K::seg_rSI
                | K::es_rDI
                | K::seg_rDI
                | K::seg_rBX_al
                | K::st0
                | K::sti_opcode
                | K::mm_reg
                | K::mm_rm
                | K::mm_or_mem
                | K::xmm_reg
                | K::xmm_rm
                | K::xmm_or_mem
        )
    })
}

const GPR8: [Register; 8] =
    [Register::AL, Register::CL, Register::DL, Register::BL, Register::AH, Register::CH, Register::DH, Register::BH];
const GPR16: [Register; 8] =
    [Register::AX, Register::CX, Register::DX, Register::BX, Register::SP, Register::BP, Register::SI, Register::DI];
const GPR32: [Register; 8] =
    [Register::EAX, Register::ECX, Register::EDX, Register::EBX, Register::ESP, Register::EBP, Register::ESI, Register::EDI];
const ESP: usize = 4;
const ST: [Register; 8] =
    [Register::ST0, Register::ST1, Register::ST2, Register::ST3, Register::ST4, Register::ST5, Register::ST6, Register::ST7];
const MM: [Register; 8] =
    [Register::MM0, Register::MM1, Register::MM2, Register::MM3, Register::MM4, Register::MM5, Register::MM6, Register::MM7];
const XMM: [Register; 8] = [
    Register::XMM0,
    Register::XMM1,
    Register::XMM2,
    Register::XMM3,
    Register::XMM4,
    Register::XMM5,
    Register::XMM6,
    Register::XMM7,
];

/// The GPR number of a 32-bit register, if it is one.
fn gpr32(r: Register) -> Option<usize> {
    GPR32.iter().position(|&x| x == r)
}

/// Reads the current value of a 8/16/32-bit GPR from `regs`.
fn reg_value(regs: &[u32; 8], r: Register) -> u32 {
    if let Some(n) = gpr32(r) {
        return regs[n];
    }
    if let Some(n) = GPR16.iter().position(|&x| x == r) {
        return regs[n] & 0xFFFF;
    }
    match GPR8.iter().position(|&x| x == r) {
        Some(n) if n < 4 => regs[n] & 0xFF,
        Some(n) => (regs[n - 4] >> 8) & 0xFF,
        None => 0,
    }
}

/// A case under construction.
struct Builder<'a> {
    rng: &'a mut Rng,
    code: Code,
    mnemonic: Mnemonic,
    /// Size in bytes of the data operands.
    width: u32,
    /// Where the instruction runs.
    addr: u32,
    regs: [u32; 8],
    /// Registers whose value shaping has fixed (ESP always).
    fixed: u8,
    data: Vec<u8>,
    /// Offset in the data page of the explicit memory operand.
    mem_at: Option<u32>,
    /// FS covers the data page.
    fs_data: bool,
    /// An x87/MMX/SSE form: FP state, FP memory values, full-size and
    /// aligned memory operands.
    fp: bool,
}

impl Builder<'_> {
    fn value(&mut self) -> u32 {
        match self.rng.below(8) {
            0..=2 => self.rng.pick(&EDGES),
            // Small signed values: carries and borrows across bytes.
            3 => (self.rng.below(64) as i32 - 32) as u32,
            _ => self.rng.u32(),
        }
    }

    fn fix(&mut self, n: usize, v: u32) {
        self.regs[n] = v;
        self.fixed |= 1 << n;
    }

    /// A random register not yet fixed (never ESP), if any is left.
    fn free_reg(&mut self) -> Option<usize> {
        let free: Vec<usize> = (0..8).filter(|&n| self.fixed & (1 << n) == 0).collect();
        (!free.is_empty()).then(|| self.rng.pick(&free))
    }

    fn write_data(&mut self, at: u32, bytes: &[u8]) {
        let at = at as usize;
        if let Some(d) = self.data.get_mut(at..at + bytes.len()) {
            d.copy_from_slice(bytes);
        }
    }

    /// Builds an explicit `[base + index*scale + disp]` operand whose
    /// address lies in the data window, fixing the registers it uses.
    fn memory(&mut self, i: &mut Instruction, size: u32) {
        let size = if self.fp { self.code.op_code().memory_size().size() as u32 } else { size };
        let mut off = WINDOW.0 + self.rng.below(WINDOW.1 - WINDOW.0 - size.max(1));
        // 16-byte operands (and FXRSTOR's image) must be aligned for most
        // SSE forms: aligned mostly, misaligned now and then for #GP.
        if self.fp && size >= 16 && !self.rng.one_in(8) {
            off &= !15;
        }
        self.mem_at = Some(off);
        let fs = self.fs_data && self.rng.one_in(3);
        if fs {
            i.set_segment_prefix(Register::FS);
            if self.rng.one_in(2) {
                self.memory16(i, off);
                return;
            }
        }
        let ea = if fs { off } else { DATA_ADDR + off };
        let form = self.rng.below(6);
        let mut base = Register::None;
        let mut index = Register::None;
        let mut scale = 1;
        let mut sum = 0u32;
        if form >= 1 {
            if self.rng.one_in(8) {
                base = Register::ESP;
                sum = self.regs[ESP];
            } else if let Some(n) = self.free_reg() {
                base = GPR32[n];
            }
        }
        if form >= 4 {
            if let Some(n) = self.free_reg().filter(|&n| GPR32[n] != base) {
                index = GPR32[n];
                scale = self.rng.pick(&[1, 2, 4, 8]);
                let v = (self.rng.below(64) as i32 - 32) as u32;
                self.fix(n, v);
                sum = sum.wrapping_add(v.wrapping_mul(scale));
            }
        }
        let (disp, displ_size) = match form {
            2 => ((self.rng.below(256) as i32 - 128) as u32, 1),
            3 | 5 => (self.rng.u32(), 4),
            _ => (0, 0),
        };
        let disp = if base == Register::None || base == Register::ESP {
            // The base's value is given (or absent): the displacement makes
            // up the difference.
            let d = ea.wrapping_sub(sum);
            i.set_memory_displ_size(4);
            d
        } else {
            let b = ea.wrapping_sub(sum).wrapping_sub(disp);
            self.fix(gpr32(base).unwrap_or(0), b);
            i.set_memory_displ_size(displ_size);
            disp
        };
        i.set_memory_base(base);
        i.set_memory_index(index);
        i.set_memory_index_scale(scale);
        i.set_memory_displacement32(disp);
    }
}

impl Builder<'_> {
    /// A 16-bit addressing operand (`[bx+si+disp]` and kin) at offset
    /// `off` of FS. The upper halves of the registers stay random: the
    /// CPU must ignore them.
    fn memory16(&mut self, i: &mut Instruction, off: u32) {
        use Register::{BP, BX, DI, SI};
        const FORMS: [(Register, Register); 9] = [
            (BX, SI),
            (BX, DI),
            (BP, SI),
            (BP, DI),
            (SI, Register::None),
            (DI, Register::None),
            (BP, Register::None),
            (BX, Register::None),
            (Register::None, Register::None),
        ];
        let n16 = |r: Register| GPR16.iter().position(|&x| x == r);
        let free = |b: &Self, r: Register| n16(r).is_none_or(|n| b.fixed & (1 << n) == 0);
        let (base, index) = loop {
            let f = self.rng.pick(&FORMS);
            if free(self, f.0) && free(self, f.1) {
                break f;
            }
        };
        let (disp, displ_size) = match (base, self.rng.below(3)) {
            (Register::None, _) => (off, 2),
            (_, 0) if base != BP || index != Register::None => (0, 0),
            (_, 1) => ((self.rng.below(256) as i32 - 128) as u32, 1),
            _ => (self.rng.u32() & 0xFFFF, 2),
        };
        let mut sum = disp;
        if let Some(n) = n16(index) {
            let v = self.regs[n];
            self.fix(n, v);
            sum = sum.wrapping_add(v);
        }
        if let Some(n) = n16(base) {
            let low = off.wrapping_sub(sum) & 0xFFFF;
            let v = self.regs[n] & !0xFFFF | low;
            self.fix(n, v);
        }
        i.set_memory_base(base);
        i.set_memory_index(index);
        i.set_memory_index_scale(1);
        i.set_memory_displ_size(displ_size);
        let disp64 = if displ_size == 1 { disp as i32 as i64 as u64 } else { u64::from(disp & 0xFFFF) };
        i.set_memory_displacement64(disp64);
    }
}

/// A place in the code area for a branch to land: anywhere but the
/// instruction's own bytes; within a rel8's reach when `near`.
fn landing(rng: &mut Rng, addr: u32, len: u32, near: bool) -> u32 {
    let (start, size) =
        if addr < LOW_CODE_ADDR + LOW_CODE_SIZE { (LOW_CODE_ADDR, LOW_CODE_SIZE) } else { (CODE_ADDR, CODE_SIZE) };
    loop {
        let t = if near { addr.wrapping_add(rng.below(240)).wrapping_sub(110) } else { start + 0x10 + rng.below(size - 0x20) };
        if (start..start + size).contains(&t) && !(addr..addr + len).contains(&t) {
            return t;
        }
    }
}

/// Where a 16-bit near branch runs: anywhere in the low code area, often
/// near its top so that rel16 targets wrap around 64 KiB.
fn low_addr(rng: &mut Rng) -> u32 {
    let top = LOW_CODE_ADDR + LOW_CODE_SIZE - 0x20;
    if rng.one_in(3) {
        top - rng.below(0x100)
    } else {
        LOW_CODE_ADDR + 0x100 + rng.below(top - LOW_CODE_ADDR - 0x100)
    }
}

/// Operand size in bytes of the form's data operands.
fn operand_bytes(code: Code) -> u32 {
    let op = code.op_code();
    let ms = op.memory_size().size() as u32;
    if ms != 0 {
        return ms.min(8);
    }
    match op.operand_size() {
        16 => 2,
        32 => 4,
        _ => 1,
    }
}

/// Generates one case of `code`.
///
/// With `fs_data`, FS holds a segment over the data page (see
/// `native::FS_DATA`) and some memory operands go through it: with 32-bit
/// addressing relative to its base, or with 16-bit addressing.
pub fn generate(code: Code, rng: &mut Rng, fs_data: bool) -> Result<Case, String> {
    // Some operand choices encode as another form (XCHG AX, AX is NOP):
    // draw again.
    for _ in 0..64 {
        if let Some(c) = try_generate(code, rng, fs_data)? {
            return Ok(c);
        }
    }
    Err(format!("{code:?}: every attempt encoded as another form"))
}

fn try_generate(code: Code, rng: &mut Rng, fs_data: bool) -> Result<Option<Case>, String> {
    let mut b = Builder::new(code, rng, fs_data);
    let eflags = BASE_FLAGS | (b.rng.u32() & RANDOM_FLAGS);
    let mut i = Instruction::default();
    i.set_code(code);
    // Implicit inputs first, so that memory operands pick other registers.
    b.implicit_inputs(&mut i);
    let mut prev = K::None;
    for n in 0..code.op_code().op_count() {
        let kind = code.op_code().op_kind(n);
        b.operand(&mut i, n, kind, prev)?;
        prev = kind;
    }
    b.lock_prefix(&mut i);
    let Some((bytes, len, decoded)) = b.encode(&mut i)? else { return Ok(None) };
    b.implicit_memory(&decoded);
    if !b.bit_offset(&decoded) {
        return Ok(None);
    }
    if b.fp {
        b.fp_memory_values(&decoded);
    } else {
        b.memory_values(&decoded);
    }
    b.exits(&decoded, len as u32);
    let fp = b.fp.then(|| fp::state(b.rng, fp::mmx_flavoured(code)));
    Ok(Some(Case { code, addr: b.addr, bytes, len, regs: b.regs, eflags, data: b.data, fp }))
}

impl<'a> Builder<'a> {
    /// Random registers and data, ESP in the stack part of the page.
    fn new(code: Code, rng: &'a mut Rng, fs_data: bool) -> Self {
        let mut data = vec![0u8; DATA_SIZE];
        for chunk in data.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
        }
        let mut b = Builder {
            rng,
            code,
            mnemonic: code.mnemonic(),
            width: operand_bytes(code),
            addr: INSN_ADDR,
            regs: [0; 8],
            fixed: 0,
            data,
            mem_at: None,
            fs_data,
            fp: forms::fp_form(code),
        };
        for n in 0..8 {
            b.regs[n] = b.value();
        }
        let esp = DATA_ADDR + STACK.0 + b.rng.below(STACK.1 - STACK.0);
        let esp = if b.rng.one_in(4) { esp } else { esp & !3 };
        b.fix(ESP, esp);
        if forms::branch16(code) {
            b.addr = low_addr(b.rng);
        }
        b
    }

    fn indirect(&self) -> bool {
        matches!(self.code.flow_control(), FlowControl::IndirectBranch | FlowControl::IndirectCall)
    }

    /// Inputs the instruction reads besides its operands: shift counts in
    /// CL, a dividend whose quotient fits, REP counts, ENTER's EBP.
    fn implicit_inputs(&mut self, i: &mut Instruction) {
        let op = self.code.op_code();
        if (0..op.op_count()).any(|n| op.op_kind(n) == K::cl) {
            let low = if self.rng.one_in(4) { self.rng.u32() & 0xFF } else { u32::from(self.rng.pick(&COUNTS)) };
            let v = self.regs[1] & !0xFF | low;
            self.fix(1, v);
        }
        if matches!(self.mnemonic, Mnemonic::Div | Mnemonic::Idiv) && self.rng.one_in(2) {
            self.small_dividend();
        }
        if (op.can_use_rep_prefix() || op.can_use_repne_prefix()) && self.rng.one_in(2) {
            if op.can_use_repne_prefix() && self.rng.one_in(2) {
                i.set_has_repne_prefix(true);
            } else {
                i.set_has_rep_prefix(true);
            }
            let v = self.rng.below(9);
            self.fix(1, v);
        }
        if self.mnemonic == Mnemonic::Enter {
            // ENTER reads the enclosing frame pointers below EBP, which
            // iced's used-memory list does not spell out.
            let v = DATA_ADDR + STACK.0 + self.rng.below(0x200);
            self.fix(5, v);
        }
    }

    /// A high half of the dividend that lets the quotient fit, so that
    /// results (not only #DE) get compared.
    fn small_dividend(&mut self) {
        let signed = self.mnemonic == Mnemonic::Idiv;
        let lo = self.regs[0];
        if self.width == 1 {
            let ah = if signed && lo & 0x80 != 0 { 0xFF } else { 0 };
            self.fix(0, lo & !0xFF00 | ah << 8);
            return;
        }
        let neg = signed && lo & (1 << (self.width * 8 - 1)) != 0;
        let hi = if neg { u32::MAX } else { 0 };
        let v = if self.width == 2 { self.regs[2] & !0xFFFF | hi & 0xFFFF } else { hi };
        self.fix(2, v);
    }

    /// A register of `set` for an operand: random, or a free one for an
    /// indirect branch, whose value will be the target.
    fn register(&mut self, set: &[Register; 8]) -> Register {
        if self.indirect() {
            set[self.free_reg().unwrap_or(0)]
        } else {
            set[self.rng.below(8) as usize]
        }
    }

    /// Builds operand `n` of kind `kind` (`prev` is the kind before it).
    fn operand(&mut self, i: &mut Instruction, n: u32, kind: K, prev: K) -> Result<(), String> {
        let reg = |i: &mut Instruction, r: Register| {
            i.set_op_kind(n, OpKind::Register);
            i.set_op_register(n, r);
        };
        match kind {
            K::r8_reg | K::r8_opcode => reg(i, self.register(&GPR8)),
            K::r16_reg | K::r16_reg_mem | K::r16_rm | K::r16_opcode => reg(i, self.register(&GPR16)),
            K::r32_reg | K::r32_reg_mem | K::r32_rm | K::r32_opcode => reg(i, self.register(&GPR32)),
            K::r8_or_mem if self.rng.one_in(2) => reg(i, self.register(&GPR8)),
            K::r16_or_mem if self.rng.one_in(2) => reg(i, self.register(&GPR16)),
            K::r32_or_mem if self.rng.one_in(2) => reg(i, self.register(&GPR32)),
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::mem => {
                i.set_op_kind(n, OpKind::Memory);
                self.memory(i, self.width);
            }
            K::mem_offs => {
                i.set_op_kind(n, OpKind::Memory);
                self.moffs(i);
            }
            K::imm8 | K::imm8sex16 | K::imm8sex32 | K::imm8_const_1 | K::imm16 | K::imm32 => {
                self.immediate(i, n, kind, prev);
            }
            K::st0 => reg(i, Register::ST0),
            K::sti_opcode => reg(i, ST[self.rng.below(8) as usize]),
            K::mm_reg | K::mm_rm => reg(i, MM[self.rng.below(8) as usize]),
            K::xmm_reg | K::xmm_rm => reg(i, XMM[self.rng.below(8) as usize]),
            K::mm_or_mem if self.rng.one_in(2) => reg(i, MM[self.rng.below(8) as usize]),
            K::xmm_or_mem if self.rng.one_in(2) => reg(i, XMM[self.rng.below(8) as usize]),
            K::mm_or_mem | K::xmm_or_mem => {
                i.set_op_kind(n, OpKind::Memory);
                self.memory(i, self.width);
            }
            K::al => reg(i, Register::AL),
            K::ax => reg(i, Register::AX),
            K::eax => reg(i, Register::EAX),
            K::cl => reg(i, Register::CL),
            K::dx => reg(i, Register::DX),
            K::seg_reg => {
                reg(i, self.rng.pick(&[Register::ES, Register::CS, Register::SS, Register::DS, Register::FS, Register::GS]))
            }
            K::es => reg(i, Register::ES),
            K::cs => reg(i, Register::CS),
            K::ss => reg(i, Register::SS),
            K::ds => reg(i, Register::DS),
            K::fs => reg(i, Register::FS),
            K::gs => reg(i, Register::GS),
            // Placeholder targets; `encode` picks the real ones once the
            // length is known.
            K::br32_1 | K::br32_4 => {
                i.set_op_kind(n, OpKind::NearBranch32);
                i.set_near_branch32(self.addr + 0x10);
            }
            K::br16_1 | K::br16_2 => {
                i.set_op_kind(n, OpKind::NearBranch16);
                i.set_near_branch16((self.addr + 0x10) as u16);
            }
            K::seg_rSI => i.set_op_kind(n, OpKind::MemorySegESI),
            K::es_rDI => i.set_op_kind(n, OpKind::MemoryESEDI),
            K::seg_rDI => i.set_op_kind(n, OpKind::MemorySegEDI),
            K::seg_rBX_al => {
                // XLAT: iced spells it as [EBX + AL].
                i.set_op_kind(n, OpKind::Memory);
                i.set_memory_base(Register::EBX);
                i.set_memory_index(Register::AL);
                i.set_memory_index_scale(1);
            }
            other => return Err(format!("{:?}: operand kind {other:?} is not generated", self.code)),
        }
        Ok(())
    }

    /// A moffs operand: `[disp32]`, or relative to FS with a 16- or
    /// 32-bit offset.
    fn moffs(&mut self, i: &mut Instruction) {
        let off = WINDOW.0 + self.rng.below(WINDOW.1 - WINDOW.0);
        self.mem_at = Some(off);
        if self.fs_data && self.rng.one_in(3) {
            i.set_segment_prefix(Register::FS);
            i.set_memory_displ_size(if self.rng.one_in(2) { 2 } else { 4 });
            i.set_memory_displacement64(u64::from(off));
        } else {
            i.set_memory_displ_size(4);
            i.set_memory_displacement32(DATA_ADDR + off);
        }
    }

    /// An immediate: edge values, shift counts for imm8.
    fn immediate(&mut self, i: &mut Instruction, n: u32, kind: K, prev: K) {
        let v = match kind {
            K::imm8_const_1 => 1,
            K::imm8 if self.rng.one_in(2) => u32::from(self.rng.pick(&COUNTS)),
            K::imm8 | K::imm8sex16 | K::imm8sex32 => self.value() & 0xFF,
            // ENTER's frame size: the host may touch the allocated area,
            // so keep it inside the page.
            K::imm16 if self.mnemonic == Mnemonic::Enter => self.rng.pick(&[0, 1, 4, 0x10, 0x100, 0x3FF]),
            K::imm16 => self.value() & 0xFFFF,
            _ => self.value(),
        };
        match kind {
            // ENTER's second immediate.
            K::imm8 if prev == K::imm16 => {
                i.set_op_kind(n, OpKind::Immediate8_2nd);
                i.set_immediate8_2nd(v as u8);
            }
            K::imm8 | K::imm8_const_1 => {
                i.set_op_kind(n, OpKind::Immediate8);
                i.set_immediate8(v as u8);
            }
            K::imm8sex16 => {
                i.set_op_kind(n, OpKind::Immediate8to16);
                i.set_immediate8to16(v as u8 as i8 as i16);
            }
            K::imm8sex32 => {
                i.set_op_kind(n, OpKind::Immediate8to32);
                i.set_immediate8to32(v as u8 as i8 as i32);
            }
            K::imm16 => {
                i.set_op_kind(n, OpKind::Immediate16);
                i.set_immediate16(v as u16);
            }
            _ => {
                i.set_op_kind(n, OpKind::Immediate32);
                i.set_immediate32(v);
            }
        }
    }

    /// LOCK on a quarter of the forms that allow it, and now and then
    /// where it is not allowed (#UD).
    fn lock_prefix(&mut self, i: &mut Instruction) {
        let lockable = self.code.op_code().can_use_lock_prefix() && i.op0_kind() == OpKind::Memory;
        if lockable && self.rng.one_in(4) || self.rng.one_in(64) {
            i.set_has_lock_prefix(true);
        }
    }

    /// Encodes `i` at the case's address, with branch targets that land
    /// in the code area, and decodes it back. `None` when the bytes are
    /// another form (XCHG AX, AX is NOP).
    fn encode(&mut self, i: &mut Instruction) -> Result<Option<([u8; 16], usize, Instruction)>, String> {
        let err = |e: iced_x86::IcedError| format!("{:?}: {e}", self.code);
        let mut enc = Encoder::new(32);
        let len = enc.encode(i, u64::from(self.addr)).map_err(err)? as u32;
        let near = matches!(i.op_code().op_kind(0), K::br32_1 | K::br16_1);
        match i.op0_kind() {
            OpKind::NearBranch32 => i.set_near_branch32(landing(self.rng, self.addr, len, near)),
            OpKind::NearBranch16 => i.set_near_branch16(landing(self.rng, self.addr, len, near) as u16),
            _ => {}
        }
        let mut enc = Encoder::new(32);
        enc.encode(i, u64::from(self.addr)).map_err(err)?;
        let v = enc.take_buffer();
        if v.len() > 15 {
            return Err(format!("{:?}: encoded to {} bytes", self.code, v.len()));
        }
        let mut bytes = [0u8; 16];
        bytes[..v.len()].copy_from_slice(&v);
        let decoded = Decoder::with_ip(32, &v, u64::from(self.addr), DecoderOptions::NONE).decode();
        Ok((decoded.code() == self.code).then_some((bytes, v.len(), decoded)))
    }

    /// Implicit memory (string operands, XLAT, LEAVE's EBP): points each
    /// base register that is still free into the window.
    fn implicit_memory(&mut self, decoded: &Instruction) {
        let mut factory = InstructionInfoFactory::new();
        let used: Vec<_> = factory.info(decoded).used_memory().to_vec();
        for m in &used {
            let Some(n) = gpr32(m.base()) else { continue };
            if self.fixed & (1 << n) != 0 {
                continue;
            }
            let index = reg_value(&self.regs, m.index()).wrapping_mul(m.scale());
            let off = WINDOW.0 + 0x80 + self.rng.below(WINDOW.1 - WINDOW.0 - 0x100);
            let v = (DATA_ADDR + off).wrapping_sub(index).wrapping_sub(m.displacement() as u32);
            self.fix(n, v);
        }
    }

    /// BT/BTS/BTR/BTC with a register bit offset address memory up to 256
    /// MiB either side of the operand: keeps the offset within the window.
    /// False when the offset register also forms the address (draw
    /// again).
    fn bit_offset(&mut self, decoded: &Instruction) -> bool {
        let bit_test = matches!(self.mnemonic, Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc);
        if !(bit_test && decoded.op0_kind() == OpKind::Memory && decoded.op1_kind() == OpKind::Register) {
            return true;
        }
        let r = decoded.op1_register();
        let Some(n) = gpr32(r.full_register32()).filter(|&n| self.fixed & (1 << n) == 0) else { return false };
        let bits =
            if self.rng.one_in(2) { u32::from(self.rng.pick(&COUNTS)) } else { (self.rng.below(2048) as i32 - 1024) as u32 };
        let v = if r.size() == 2 { self.regs[n] & !0xFFFF | bits & 0xFFFF } else { bits };
        self.fix(n, v);
        true
    }

    /// Edge values in the memory operand; CMPXCHG operands that compare
    /// equal half the time.
    fn memory_values(&mut self, decoded: &Instruction) {
        let cmpxchg = matches!(self.mnemonic, Mnemonic::Cmpxchg | Mnemonic::Cmpxchg8b);
        if let Some(at) = self.mem_at {
            if self.rng.one_in(2) {
                let v = self.value().to_le_bytes();
                self.write_data(at, &v[..self.width.min(4) as usize]);
            }
            if cmpxchg && self.rng.one_in(2) {
                let mut v = [0u8; 8];
                v[..4].copy_from_slice(&self.regs[0].to_le_bytes());
                v[4..].copy_from_slice(&self.regs[2].to_le_bytes());
                self.write_data(at, &v[..self.width.min(8) as usize]);
            }
        }
        if cmpxchg && decoded.op0_kind() == OpKind::Register && self.rng.one_in(2) {
            let r = decoded.op0_register();
            if let Some(n) = gpr32(r.full_register32()).filter(|&n| self.fixed & (1 << n) == 0) {
                let acc = self.regs[0];
                let v = match r.size() {
                    1 if GPR8[4..].contains(&r) => self.regs[n] & !0xFF00 | (acc & 0xFF) << 8,
                    1 => self.regs[n] & !0xFF | acc & 0xFF,
                    2 => self.regs[n] & !0xFFFF | acc & 0xFFFF,
                    _ => acc,
                };
                self.fix(n, v);
            }
        }
    }

    /// Values of the memory operand's type: special floating-point
    /// values for m32fp/m64fp/m80fp and packed singles and doubles,
    /// integer edges for m16int.. and integer vectors, a valid MXCSR for
    /// LDMXCSR (mostly), a consistent image for FXRSTOR/FRSTOR/FLDENV
    /// (mostly: a random one tests their #GP and odd tag words).
    fn fp_memory_values(&mut self, decoded: &Instruction) {
        use iced_x86::MemorySize as M;
        let Some(at) = self.mem_at else { return };
        let ms = decoded.memory_size();
        let mut buf = [0u8; 512];
        let size = ms.size().min(512);
        match ms {
            M::Fxsave_512Byte if !self.rng.one_in(8) => {
                let mmx = self.rng.one_in(4);
                buf = fp::state(self.rng, mmx).to_fxsave();
            }
            M::FpuEnv28 | M::FpuEnv14 | M::FpuState94 | M::FpuState108 if !self.rng.one_in(8) => {
                // Random bytes, with a plausible control word, status
                // word and full tag word in the first three slots (16-bit
                // images pack them in 2-byte slots, 32-bit ones in 4).
                self.rng_fill(&mut buf[..size]);
                let slot = if matches!(ms, M::FpuEnv14 | M::FpuState94) { 2 } else { 4 };
                let fcw = fp::fcw_value(self.rng);
                let fsw = fp::fsw_value(self.rng, fcw);
                let s = fp::state(self.rng, false);
                buf[0..2].copy_from_slice(&fcw.to_le_bytes());
                buf[slot..slot + 2].copy_from_slice(&fsw.to_le_bytes());
                buf[2 * slot..2 * slot + 2].copy_from_slice(&s.full_tag().to_le_bytes());
                let regs = if slot == 2 { 14 } else { 28 };
                if size > regs {
                    for (k, r) in s.st.iter().enumerate() {
                        buf[regs + 10 * k..regs + 10 * k + 10].copy_from_slice(&r.to_bytes());
                    }
                }
            }
            M::UInt32 if self.mnemonic == Mnemonic::Ldmxcsr && !self.rng.one_in(8) => {
                buf[..4].copy_from_slice(&fp::mxcsr_value(self.rng).to_le_bytes());
            }
            _ => {
                let el = ms.element_size().max(1);
                let mut k = 0;
                while k + el <= size {
                    match ms.element_type() {
                        M::Float32 => buf[k..k + 4].copy_from_slice(&fp::f32_value(self.rng).to_le_bytes()),
                        M::Float64 => buf[k..k + 8].copy_from_slice(&fp::f64_value(self.rng).to_le_bytes()),
                        M::Float80 => buf[k..k + 10].copy_from_slice(&fp::f80_value(self.rng).to_bytes()),
                        M::Bcd => {
                            for d in &mut buf[k..k + 9] {
                                // Mostly valid digits; now and then not.
                                *d = if self.rng.one_in(16) {
                                    self.rng.u32() as u8
                                } else {
                                    (self.rng.below(10) << 4 | self.rng.below(10)) as u8
                                };
                            }
                            buf[k + 9] = if self.rng.one_in(2) { 0x80 } else { 0 };
                        }
                        _ => {
                            let v = fp::int64_value(self.rng).to_le_bytes();
                            let n = el.min(8);
                            buf[k..k + n].copy_from_slice(&v[..n]);
                            if el > 8 {
                                let v = fp::int64_value(self.rng).to_le_bytes();
                                buf[k + 8..k + el.min(16)].copy_from_slice(&v[..el.min(16) - 8]);
                            }
                        }
                    }
                    k += el;
                }
            }
        }
        self.write_data(at, &buf[..size]);
    }

    fn rng_fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.rng.u32() as u8;
        }
    }

    /// Every way out lands in the code area: indirect targets and return
    /// addresses. A 16-bit target keeps random upper bits in a register:
    /// the CPU must drop them.
    fn exits(&mut self, decoded: &Instruction, len: u32) {
        if self.indirect() {
            let t = landing(self.rng, self.addr, len, false);
            match (decoded.op0_kind(), self.mem_at) {
                (OpKind::Register, _) => {
                    let r = decoded.op0_register();
                    if let Some(n) = gpr32(r.full_register32()) {
                        let v = if r.size() == 2 { self.regs[n] & !0xFFFF | t } else { t };
                        self.fix(n, v);
                    }
                }
                (OpKind::Memory, Some(at)) => self.write_data(at, &t.to_le_bytes()[..self.width.min(4) as usize]),
                _ => {}
            }
        }
        if self.code.flow_control() == FlowControl::Return {
            let t = landing(self.rng, self.addr, len, false);
            let size = if self.code.op_code().operand_size() == 16 { 2 } else { 4 };
            let at = self.regs[ESP] - DATA_ADDR;
            self.write_data(at, &t.to_le_bytes()[..size]);
        }
    }
}
