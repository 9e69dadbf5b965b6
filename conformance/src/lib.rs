//! The conformance sweep: the host CPU is the oracle for ironpc's
//! user-level integer, x87, MMX, SSE and SSE2 instructions (DESIGN.md,
//! "Tests in three tiers").
//!
//! For every instruction form the interpreter implements ([`forms`]), the
//! generator ([`gen`]) builds cases: one encoded instruction with random
//! and edge-value registers, flags and memory. Each case runs natively in
//! a 32-bit helper process ([`native`], `oracle/oracle.c`) and in ironpc
//! ([`emu`]) with the same code and data addresses; [`compare`] checks
//! every general register, EIP, EFLAGS, the data page and the exception
//! raised, keeping differences in flags the SDM leaves undefined apart.
//!
//! How a case ends: the code areas hold nothing but HLT around the
//! instruction. At CPL 3, HLT raises #GP(0) wherever control lands, so
//! fall-through, taken branches, calls and returns all end in a signal on
//! the host, whose context has every register, EFLAGS and the landing EIP.
//! ironpc runs the one instruction (`run(1)`) at CPL 3 with the host's
//! selectors, IOPL 0 and IF set, like the Linux process, and delivers
//! faults through a real IDT and TSS.
//!
//! Memory: a 4 KiB data page holds memory operands and the stack. FS is
//! an LDT segment over that page (when the host allows `modify_ldt`), so
//! 16-bit addressing and segment bases are covered too. Near branches with
//! a 16-bit operand size truncate EIP, so they run in a low code area
//! below 64 KiB (when `vm.mmap_min_addr` allows).
//!
//! Floating point and SIMD ([`fp`]): x87, MMX, SSE and SSE2 cases also
//! carry the x87 registers, FCW/FSW/tags, MXCSR and XMM0-7, loaded with
//! FXRSTOR on the host and read back from the signal frame's FXSAVE
//! image; both sides run with Linux's CR0/CR4 (NE, OSFXSR, OSXMMEXCPT).
//! The transcendentals are compared bit for bit, or with `Config::ulps`
//! measured: the report gives the worst distance in ulps per form.

pub mod compare;
pub mod emu;
pub mod forms;
pub mod fp;
pub mod gen;
pub mod native;

use compare::Verdict;
use iced_x86::{Code, Mnemonic};
use std::{collections::BTreeMap, fmt};

/// Where the code area lives, in both worlds. Below ironpc's 16 MiB of
/// test RAM and free in a static 32-bit Linux process.
pub const CODE_ADDR: u32 = 0x00A0_0000;
/// Size of the code area; all of it is HLT except the instruction.
pub const CODE_SIZE: u32 = 0x1_0000;
/// Where the instruction under test goes, mid-area so that branches can
/// land on either side.
pub const INSN_ADDR: u32 = CODE_ADDR + 0x8000;
/// The low code area, for forms with a 16-bit operand size that branch:
/// they truncate EIP to 16 bits, so they run and land below 64 KiB.
/// The host maps it only where `vm.mmap_min_addr` allows.
pub const LOW_CODE_ADDR: u32 = 0x1000;
pub const LOW_CODE_SIZE: u32 = 0xF000;

/// Whether `eip` lies in one of the code areas (all HLT but the
/// instruction).
pub fn in_code(eip: u32) -> bool {
    (CODE_ADDR..CODE_ADDR + CODE_SIZE).contains(&eip) || (LOW_CODE_ADDR..LOW_CODE_ADDR + LOW_CODE_SIZE).contains(&eip)
}

/// The data page: memory operands and the stack.
pub const DATA_ADDR: u32 = 0x00B0_0000;
/// Size of the data page, which both sides copy in and out whole.
pub const DATA_SIZE: usize = 4096;

/// The HLT opcode: at CPL 3 it raises #GP(0) where control lands, which
/// ends every case on both sides.
pub const HLT: u8 = 0xF4;

/// The project's seeded PRNG with the 32-bit helpers case generation
/// wants: reproducible cases from a printed seed.
#[derive(Clone, Debug)]
pub struct Rng(ironpc_cpu::testing::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(ironpc_cpu::testing::Rng::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }
}

/// What the sweep should do.
#[derive(Clone, Debug)]
pub struct Config {
    /// Cases per form.
    pub cases: usize,
    pub seed: u64,
    /// Only forms whose mnemonic or Code name contains this
    /// (case-insensitive).
    pub filter: Option<String>,
    /// Mismatch descriptions kept per form.
    pub examples: usize,
    /// Also sweep forms the interpreter does not implement yet (they
    /// raise #UD in ironpc): shows what is left to do.
    pub unimplemented: bool,
    /// Measure the x87 transcendentals' results in ulps instead of
    /// counting their differences ([`forms::transcendental`]).
    pub ulps: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { cases: 1000, seed: 0x1B09C, filter: None, examples: 3, unimplemented: false, ulps: false }
    }
}

/// Results for one form.
#[derive(Clone, Debug)]
pub struct FormResult {
    pub code: Code,
    pub cases: usize,
    /// Cases whose defined results differ.
    pub mismatches: usize,
    /// Cases that differ only in flags (or results) the SDM leaves
    /// undefined.
    pub undefined: usize,
    /// The first few differences, readable.
    pub examples: Vec<String>,
    /// Transcendentals: the largest distance between ironpc's results and
    /// the host's, in ulps of the 64-bit significand (`None`: no finite
    /// results differed).
    pub worst_ulps: Option<u128>,
    /// How the host ended the cases: exception vector (`None`: no
    /// exception) and count, to see at a glance that the inputs reach
    /// results and not only faults.
    pub host_faults: BTreeMap<Option<u8>, usize>,
}

/// The result of a sweep.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub forms: Vec<FormResult>,
    /// Forms the filter excluded, with the reason.
    pub excluded: Vec<(Code, &'static str)>,
    /// Whether cases used 16-bit addressing and FS-relative operands
    /// (the host allowed the LDT segment they need).
    pub fs_data: bool,
    /// Whether the host mapped the low code area that 16-bit near
    /// branches need.
    pub low_code: bool,
}

impl Summary {
    pub fn cases(&self) -> usize {
        self.forms.iter().map(|f| f.cases).sum()
    }
    pub fn mismatches(&self) -> usize {
        self.forms.iter().map(|f| f.mismatches).sum()
    }
    pub fn undefined(&self) -> usize {
        self.forms.iter().map(|f| f.undefined).sum()
    }

    /// The closing line the issue asks for.
    pub fn last_line(&self) -> String {
        format!(
            "conformance: {} forms, {} cases, {} mismatches ({} in undefined flags)",
            self.forms.len(),
            self.cases(),
            self.mismatches(),
            self.undefined()
        )
    }

    /// One row per mnemonic: forms, cases, mismatches, undefined-only
    /// mismatches.
    pub fn table(&self) -> String {
        let mut rows: BTreeMap<String, [usize; 4]> = BTreeMap::new();
        for f in &self.forms {
            let r = rows.entry(format!("{:?}", f.code.mnemonic())).or_default();
            r[0] += 1;
            r[1] += f.cases;
            r[2] += f.mismatches;
            r[3] += f.undefined;
        }
        let mut s = format!("{:<14} {:>6} {:>9} {:>11} {:>10}\n", "mnemonic", "forms", "cases", "mismatches", "undefined");
        for (m, r) in rows {
            s += &format!("{:<14} {:>6} {:>9} {:>11} {:>10}\n", m, r[0], r[1], r[2], r[3]);
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.table())?;
        for r in self.forms.iter().filter(|r| forms::transcendental(r.code.mnemonic())) {
            match r.worst_ulps {
                Some(u) => writeln!(f, "{:?}: worst difference {u} ulps (64-bit significand)", r.code)?,
                None => writeln!(f, "{:?}: no finite result differs from the host", r.code)?,
            }
        }
        for r in self.forms.iter().filter(|r| !r.examples.is_empty()) {
            writeln!(f, "{:?}:", r.code)?;
            for e in &r.examples {
                writeln!(f, "  {e}")?;
            }
        }
        writeln!(f, "{}", self.last_line())
    }
}

/// Why a sweep could not run.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A per-form seed, so a form's cases do not depend on which other forms
/// the filter selected.
fn form_seed(seed: u64, code: Code) -> u64 {
    let mut r = Rng::new(seed ^ (code as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    r.next_u64()
}

fn selected(code: Code, filter: &Option<String>) -> bool {
    let Some(f) = filter else { return true };
    let f = f.to_ascii_lowercase();
    let m: Mnemonic = code.mnemonic();
    format!("{m:?}").to_ascii_lowercase() == f || format!("{code:?}").to_ascii_lowercase().contains(&f)
}

/// Runs the sweep: `cfg.cases` cases of every selected form, natively and
/// in ironpc. `progress` is called after each form.
pub fn sweep(cfg: &Config, mut progress: impl FnMut(&FormResult)) -> Result<Summary, Error> {
    let mut oracle = native::Oracle::start()?;
    let mut emu = emu::Emu::new(oracle.selectors());
    let fs_data = oracle.selectors().fs_data();
    let (forms, excluded) = if cfg.unimplemented {
        let all = forms::all_forms();
        let yes = all.iter().filter(|(_, why)| why.is_none()).map(|(c, _)| *c).collect();
        (yes, all.into_iter().filter_map(|(c, why)| why.map(|w| (c, w))).collect())
    } else {
        forms::forms()
    };
    let low_code = oracle.low_code();
    let (forms, no_low): (Vec<Code>, Vec<Code>) = forms.into_iter().partition(|&c| low_code || !forms::branch16(c));
    let mut excluded = excluded;
    excluded
        .extend(no_low.into_iter().map(|c| (c, "16-bit near branch: the host cannot map the low code area (vm.mmap_min_addr)")));
    let mut summary = Summary { excluded, fs_data, low_code, ..Summary::default() };
    for code in forms.into_iter().filter(|&c| selected(c, &cfg.filter)) {
        let mut rng = Rng::new(form_seed(cfg.seed, code));
        let mut result = FormResult {
            code,
            cases: 0,
            mismatches: 0,
            undefined: 0,
            examples: Vec::new(),
            worst_ulps: None,
            host_faults: BTreeMap::new(),
        };
        let mut done = 0;
        while done < cfg.cases {
            let n = (cfg.cases - done).min(native::MAX_BATCH);
            let cases: Vec<gen::Case> =
                (0..n).map(|_| gen::generate(code, &mut rng, fs_data)).collect::<Result<_, _>>().map_err(Error)?;
            let natives = oracle.run(&cases)?;
            for (c, nat) in cases.iter().zip(natives) {
                result.cases += 1;
                *result.host_faults.entry(nat.fault.map(|f| f.0)).or_default() += 1;
                // A panic is an ironpc bug like any other difference (the
                // guest must never crash the emulator): report it and go on
                // with a fresh machine.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| emu.run(c)));
                let verdict = match run {
                    Ok(ours) => {
                        let (v, u) = compare::compare_with(c, &nat, &ours, cfg.ulps);
                        if let Some(u) = u {
                            result.worst_ulps = Some(result.worst_ulps.map_or(u, |w| w.max(u)));
                        }
                        v
                    }
                    Err(p) => {
                        emu = emu::Emu::new(oracle.selectors());
                        let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                        Verdict::Mismatch(format!("ironpc panicked: {}", msg.unwrap_or_default()))
                    }
                };
                match verdict {
                    Verdict::Match => {}
                    Verdict::Undefined(_) => result.undefined += 1,
                    Verdict::Mismatch(d) => {
                        result.mismatches += 1;
                        if result.examples.len() < cfg.examples {
                            result.examples.push(format!("{}: {d}", c.describe()));
                        }
                    }
                }
            }
            done += n;
        }
        progress(&result);
        summary.forms.push(result);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{InstructionInfoFactory, Register};

    fn reg_value(c: &gen::Case, r: Register) -> Option<u64> {
        let full = r.full_register32();
        let n = [
            Register::EAX,
            Register::ECX,
            Register::EDX,
            Register::EBX,
            Register::ESP,
            Register::EBP,
            Register::ESI,
            Register::EDI,
        ]
        .iter()
        .position(|&x| x == full)?;
        let v = u64::from(c.regs[n]);
        Some(match r.size() {
            1 if r >= Register::AH && r <= Register::BH => (v >> 8) & 0xFF,
            1 => v & 0xFF,
            2 => v & 0xFFFF,
            _ => v,
        })
    }

    /// Every form the sweep will cover once the interpreter has it all
    /// gets cases whose memory accesses stay inside the data page.
    #[test]
    fn generator_builds_every_candidate_form() {
        let mut factory = InstructionInfoFactory::new();
        let mut rng = Rng::new(7);
        let forms: Vec<Code> = forms::all_forms().into_iter().filter(|(_, why)| why.is_none()).map(|(c, _)| c).collect();
        assert!(forms.len() > 300, "only {} candidate forms", forms.len());
        for code in forms {
            for _ in 0..40 {
                let c = gen::generate(code, &mut rng, true).unwrap_or_else(|e| panic!("{e}"));
                let i = c.instruction();
                assert_eq!(i.code(), code);
                for m in factory.info(&i).used_memory() {
                    if m.base() == Register::ESP {
                        continue;
                    }
                    let Some(ea) = m.virtual_address(0, |r, _, _| {
                        if r == Register::FS {
                            Some(u64::from(DATA_ADDR))
                        } else if r.is_segment_register() {
                            Some(0)
                        } else {
                            reg_value(&c, r)
                        }
                    }) else {
                        continue;
                    };
                    let ea = ea as u32;
                    let size = m.memory_size().size().max(1) as u32;
                    assert!(
                        ea >= DATA_ADDR && ea + size <= DATA_ADDR + DATA_SIZE as u32,
                        "{}: memory at {ea:#x} outside the data page",
                        c.describe()
                    );
                }
            }
        }
    }

    /// A case from hand-assembled bytes, data page zeroed.
    fn case(bytes: &[u8], regs: [u32; 8], eflags: u32) -> gen::Case {
        let mut b = [0u8; 16];
        b[..bytes.len()].copy_from_slice(bytes);
        let code = {
            let mut d = iced_x86::Decoder::new(32, bytes, iced_x86::DecoderOptions::NONE);
            d.decode().code()
        };
        gen::Case { code, addr: INSN_ADDR, bytes: b, len: bytes.len(), regs, eflags, data: vec![0; DATA_SIZE], fp: None }
    }

    const ESP0: u32 = DATA_ADDR + 0x800;
    const REGS: [u32; 8] = [1, 2, 3, 4, ESP0, 6, 7, 8];

    #[test]
    fn native_runs_an_instruction_and_reports_the_state() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        // mov eax, 0x12345678
        let a = case(&[0xB8, 0x78, 0x56, 0x34, 0x12], REGS, 0x202);
        // mov [DATA_ADDR + 0x100], ecx
        let mut store = vec![0x89, 0x0D];
        store.extend_from_slice(&(DATA_ADDR + 0x100).to_le_bytes());
        let b = case(&store, REGS, 0x203);
        // push ebx
        let c = case(&[0x53], REGS, 0x202);
        let r = o.run(&[a, b, c]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r[0].fault, None);
        assert_eq!(r[0].regs, [0x1234_5678, 2, 3, 4, ESP0, 6, 7, 8]);
        assert_eq!(r[0].eip, INSN_ADDR + 5);
        assert_eq!(r[0].eflags & compare::COMPARED_FLAGS, 0x202);
        assert_eq!(&r[1].data[0x100..0x104], &[2, 0, 0, 0]);
        assert_eq!(r[1].eflags & 1, 1, "CF given in the case's EFLAGS");
        assert_eq!(r[2].regs[4], ESP0 - 4);
        assert_eq!(&r[2].data[0x7FC..0x800], &[4, 0, 0, 0]);
    }

    #[test]
    fn native_reports_faults_with_their_vector() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut zero_ecx = REGS;
        zero_ecx[1] = 0;
        let cases = [
            case(&[0x0F, 0x0B], REGS, 0x202),     // ud2
            case(&[0xF7, 0xF1], zero_ecx, 0x202), // div ecx
            case(&[0xF4], REGS, 0x202),           // hlt at CPL 3
            case(&[0xFA], REGS, 0x202),           // cli at IOPL 0
        ];
        let r = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        let faults: Vec<_> = r.iter().map(|x| (x.fault, x.eip)).collect();
        assert_eq!(
            faults,
            [(Some((6, 0)), INSN_ADDR), (Some((0, 0)), INSN_ADDR), (Some((13, 0)), INSN_ADDR), (Some((13, 0)), INSN_ADDR)]
        );
        assert_eq!(r[1].regs, zero_ecx, "a fault leaves the registers alone");
    }

    #[test]
    fn ironpc_and_host_agree_on_handmade_cases() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut emu = emu::Emu::new(o.selectors());
        let mut store = vec![0x89, 0x0D];
        store.extend_from_slice(&(DATA_ADDR + 0x100).to_le_bytes());
        let cases = [
            case(&[0xB8, 0x78, 0x56, 0x34, 0x12], REGS, 0x202), // mov eax, imm32
            case(&store, REGS, 0xAD7),                          // mov [m], ecx
            case(&[0x0F, 0x0B], REGS, 0x202),                   // ud2: #UD both ways
            case(&[0xE8, 0x10, 0, 0, 0], REGS, 0x202),          // call $+0x15
            case(&[0x8C, 0xC8], REGS, 0x202),                   // mov eax, cs
        ];
        let host = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        for (c, h) in cases.iter().zip(&host) {
            let ours = emu.run(c);
            assert_eq!(compare::compare(c, h, &ours), compare::Verdict::Match, "{}", c.describe());
        }
        assert_eq!(host[3].eip, INSN_ADDR + 0x15);
        assert_eq!(&host[3].data[0x7FC..0x800], &(INSN_ADDR + 5).to_le_bytes());
    }

    #[test]
    fn a_16_bit_jump_wraps_around_64k() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        if !o.low_code() {
            eprintln!("the host cannot map the low code area: skipped");
            return;
        }
        let mut emu = emu::Emu::new(o.selectors());
        // At 0xFFF0: jmp rel16 with 0x200C, past 64 KiB to 0x2000.
        let mut c = case(&[0x66, 0xE9, 0x0C, 0x20], REGS, 0x202);
        c.addr = 0xFFF0;
        let host = o.run(std::slice::from_ref(&c)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((host[0].fault, host[0].eip), (None, 0x2000));
        assert_eq!(compare::compare(&c, &host[0], &emu.run(&c)), compare::Verdict::Match);
    }

    fn outcome(regs: [u32; 8], eflags: u32, eip: u32) -> native::Outcome {
        native::Outcome { regs, eflags, eip, fault: None, data: vec![0; DATA_SIZE], fp: None }
    }

    #[test]
    fn undefined_flags_are_counted_apart() {
        use compare::{compare, Verdict};
        const AF: u32 = 1 << 4;
        const OF: u32 = 1 << 11;
        // shl eax, 3: AF undefined, OF undefined (count > 1), CF defined.
        let c = case(&[0xC1, 0xE0, 0x03], REGS, 0x202);
        let h = outcome(REGS, 0x202, INSN_ADDR + 3);
        assert_eq!(compare(&c, &h, &h), Verdict::Match);
        assert!(matches!(compare(&c, &h, &outcome(REGS, 0x202 | AF | OF, INSN_ADDR + 3)), Verdict::Undefined(_)));
        assert!(matches!(compare(&c, &h, &outcome(REGS, 0x203, INSN_ADDR + 3)), Verdict::Mismatch(_)));
        // shl eax, 1: OF is defined.
        let c1 = case(&[0xD1, 0xE0], REGS, 0x202);
        let h1 = outcome(REGS, 0x202, INSN_ADDR + 2);
        assert!(matches!(compare(&c1, &h1, &outcome(REGS, 0x202 | OF, INSN_ADDR + 2)), Verdict::Mismatch(_)));
        // shl eax, 0 changes no flag: nothing is undefined.
        let c0 = case(&[0xC1, 0xE0, 0x00], REGS, 0x202);
        assert!(matches!(compare(&c0, &h, &outcome(REGS, 0x202 | AF, INSN_ADDR + 3)), Verdict::Mismatch(_)));
    }

    #[test]
    fn faults_registers_and_memory_are_compared() {
        use compare::{compare, Verdict};
        let c = case(&[0x90], REGS, 0x202);
        let h = outcome(REGS, 0x202, INSN_ADDR + 1);
        let mut faulted = h.clone();
        faulted.fault = Some((13, 0));
        let mut wrong_gp = faulted.clone();
        wrong_gp.fault = Some((13, 8));
        let mut reg = h.clone();
        reg.regs[7] ^= 1;
        let mut mem = h.clone();
        mem.data[0x123] = 1;
        let mut rf = h.clone();
        rf.eflags |= 1 << 16;
        for bad in [&faulted, &reg, &mem] {
            assert!(matches!(compare(&c, &h, bad), Verdict::Mismatch(_)));
        }
        assert!(matches!(compare(&c, &faulted, &wrong_gp), Verdict::Mismatch(_)), "#GP error codes differ");
        assert_eq!(compare(&c, &h, &rf), Verdict::Match, "RF is not compared");
    }

    #[test]
    fn the_filter_reads_iced_metadata() {
        use forms::exclusion;
        assert_eq!(exclusion(Code::Add_rm32_r32), None);
        assert_eq!(exclusion(Code::Jne_rel8_32), None);
        assert_eq!(exclusion(Code::Retnd), None);
        assert!(exclusion(Code::In_AL_DX).is_some_and(|w| w.contains("I/O")));
        assert!(exclusion(Code::Hlt).is_some_and(|w| w.contains("privileged")));
        assert_eq!(exclusion(Code::Fld_m32fp), None);
        assert_eq!(exclusion(Code::Addps_xmm_xmmm128), None);
        assert_eq!(exclusion(Code::Paddb_mm_mmm64), None);
        assert_eq!(exclusion(Code::Fxrstor_m512byte), None);
        assert!(exclusion(Code::Haddps_xmm_xmmm128).is_some_and(|w| w.contains("CPUID")));
        assert!(exclusion(Code::Fisttp_m32int).is_some_and(|w| w.contains("CPUID")));
        assert_eq!(exclusion(Code::Fxsave_m512byte), None);
        assert_eq!(exclusion(Code::Fnsave_m108byte), None);
        assert!(exclusion(Code::Fsave_m108byte).is_some_and(|w| w.contains("WAIT")));
        assert!(exclusion(Code::Rcpps_xmm_xmmm128).is_some_and(|w| w.contains("AMD")));
        assert!(exclusion(Code::Cpuid).is_some_and(|w| w.contains("CPUID")));
        assert!(exclusion(Code::Mov_Sreg_rm16).is_some_and(|w| w.contains("segment")));
        assert!(exclusion(Code::Pop_rm32).is_none());
        assert!(exclusion(Code::Popd_DS).is_some_and(|w| w.contains("segment")));
        assert_eq!(exclusion(Code::Jmp_rel16), None);
        assert!(forms::branch16(Code::Jmp_rel16) && forms::branch16(Code::Retnw) && forms::branch16(Code::Loop_rel8_16_ECX));
        assert!(!forms::branch16(Code::Loop_rel8_32_CX) && !forms::branch16(Code::Mov_r16_rm16));
        assert!(exclusion(Code::Int_imm8).is_some_and(|w| w.contains("INT")));
        assert!(exclusion(Code::Call_m1632).is_some_and(|w| w.contains("far")));
        assert!(exclusion(Code::Lds_r32_m1632).is_some_and(|w| w.contains("far")));
        let (yes, no) = forms::forms();
        assert!(yes.contains(&Code::Mov_r32_rm32));
        assert!(yes.iter().all(|&c| ironpc_cpu::implemented(c)));
        assert!(no.iter().any(|(c, _)| *c == Code::In_AL_DX));
    }
}

#[cfg(test)]
mod fp_tests {
    use super::*;
    use fp::{FpState, FSW_B, FSW_ES};
    use ironpc_cpu::fpstate::F80;

    const ESP0: u32 = DATA_ADDR + 0x800;

    fn fp_case(bytes: &[u8], f: FpState) -> gen::Case {
        let mut b = [0u8; 16];
        b[..bytes.len()].copy_from_slice(bytes);
        let code = iced_x86::Decoder::new(32, bytes, iced_x86::DecoderOptions::NONE).decode().code();
        gen::Case {
            code,
            addr: INSN_ADDR,
            bytes: b,
            len: bytes.len(),
            regs: [0, 0, 0, 0, ESP0, 0, 0, 0],
            eflags: 0x202,
            data: vec![0; DATA_SIZE],
            fp: Some(f),
        }
    }

    /// The host hands back exactly the state it was given when the
    /// instruction changes none of it: FXRSTOR before, the signal frame's
    /// FXSAVE image after, nothing in between.
    #[test]
    fn host_state_round_trip_through_nop() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(3);
        let mut cases = Vec::new();
        for k in 0..200 {
            let mut s = fp::state(&mut rng, k % 3 == 0);
            // No pending exception: NOP would not care, but keep the
            // image one FXRSTOR loads without question.
            if k % 2 == 0 {
                s.fsw &= !(FSW_ES | FSW_B | 0x3F);
            }
            cases.push(fp_case(&[0x90], s));
        }
        let r = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        for (c, h) in cases.iter().zip(&r) {
            assert_eq!(h.fault, None);
            assert_eq!(h.fp.as_ref(), c.fp.as_ref(), "{}", c.describe());
        }
    }

    /// The initial configuration (which XSAVE may leave unwritten in the
    /// signal frame) comes back as it went in, and FNINIT gives it.
    #[test]
    fn host_initial_state_and_fninit() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let init = FpState { fcw: 0x037F, fsw: 0, tag: 0, st: [F80::default(); 8], mxcsr: 0x1F80, xmm: [0; 8] };
        let mut rng = Rng::new(14);
        let mut busy = fp::state(&mut rng, false);
        busy.st = [F80::default(); 8];
        busy.xmm = [0; 8];
        busy.mxcsr = 0x1F80;
        let cases = [fp_case(&[0x90], init.clone()), fp_case(&[0xDB, 0xE3], busy)]; // nop; fninit
        let r = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r[0].fp.as_ref(), Some(&init));
        assert_eq!(r[1].fp.as_ref(), Some(&init), "FNINIT: FCW 037F, FSW 0, all empty");
    }

    /// FNOP (a waiting x87 instruction) changes no state when nothing is
    /// pending: all registers, tags and control/status words come back.
    #[test]
    fn host_state_round_trip_through_fnop() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(4);
        let cases: Vec<_> = (0..100)
            .map(|_| {
                let mut s = fp::state(&mut rng, false);
                s.fsw &= !(FSW_ES | FSW_B);
                s.fsw &= !(0x3F & !s.fcw);
                fp_case(&[0xD9, 0xD0], s)
            })
            .collect();
        let r = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        for (c, h) in cases.iter().zip(&r) {
            assert_eq!(h.fault, None);
            assert_eq!(h.fp.as_ref(), c.fp.as_ref(), "{}", c.describe());
        }
    }

    /// A pending unmasked x87 exception is reported by the next waiting
    /// instruction as #MF (vector 16) and leaves the state alone; an
    /// unmasked SIMD exception is #XM (vector 19), with MXCSR's flag set.
    #[test]
    fn host_reports_mf_and_xm() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(5);
        let mut mf = fp::state(&mut rng, false);
        mf.fcw = 0x037E; // IM unmasked
        mf.fsw = 0x0001 | FSW_ES | FSW_B;
        let mut xm = fp::state(&mut rng, false);
        xm.mxcsr = 0x1F80 & !(1 << 7); // IM unmasked, no flag yet
        xm.xmm[0] = 0x7FA0_0000; // an SNaN in lane 0
        xm.xmm[1] = 0x3F80_0000;
        let cases = [fp_case(&[0xD9, 0xE8], mf.clone()), fp_case(&[0x0F, 0x58, 0xC1], xm.clone())]; // fld1; addps xmm0, xmm1
        let r = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r[0].fault, Some((16, 0)));
        assert_eq!(r[0].eip, INSN_ADDR);
        assert_eq!(r[0].fp.as_ref(), Some(&mf), "#MF changes nothing");
        assert_eq!(r[1].fault, Some((19, 0)));
        let after = r[1].fp.as_ref().map(|f| (f.mxcsr, f.xmm[0]));
        assert_eq!(after, Some((xm.mxcsr | 1, xm.xmm[0])), "IE set, destination unchanged");
    }

    /// FXSAVE run as a case stores the state the case gave, outside the
    /// bytes `undefined_bytes` sets aside; a difference there is
    /// undefined, one in FCW a mismatch.
    #[test]
    fn fxsave_stores_the_case_state_and_its_pointers_are_undefined() {
        use compare::{compare, Verdict};
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(12);
        let mut s = fp::state(&mut rng, false);
        s.fsw &= !(FSW_ES | FSW_B | 0x3F);
        // fxsave [DATA_ADDR + 0x200]
        let mut bytes = vec![0x0F, 0xAE, 0x05];
        bytes.extend_from_slice(&(DATA_ADDR + 0x200).to_le_bytes());
        let c = fp_case(&bytes, s.clone());
        let i = c.instruction();
        let loose = compare::undefined_bytes(&c, &i);
        let h = o.run(std::slice::from_ref(&c)).unwrap_or_else(|e| panic!("{e}")).remove(0);
        assert_eq!(h.fault, None);
        let image = s.to_fxsave();
        for (k, b) in image.iter().enumerate() {
            if !loose.iter().any(|r| r.contains(&(0x200 + k))) {
                assert_eq!(h.data[0x200 + k], *b, "byte {k} of the FXSAVE image");
            }
        }
        let mut fip = h.clone();
        fip.data[0x200 + 8] ^= 0x55;
        assert!(matches!(compare(&c, &h, &fip), Verdict::Undefined(_)));
        let mut fcw = h.clone();
        fcw.data[0x200] ^= 1;
        assert!(matches!(compare(&c, &h, &fcw), Verdict::Mismatch(_)));
    }

    /// ironpc gets the same state and hands it back through NOP: the
    /// write-in and read-out (tags, ST order) are each other's inverse,
    /// and the whole comparison agrees with the host.
    #[test]
    fn ironpc_state_round_trip_through_nop() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut emu = emu::Emu::new(o.selectors());
        let mut rng = Rng::new(6);
        // nop; mov eax, 0x12345678: integer instructions leave the state.
        let cases: Vec<_> = (0..50)
            .map(|k| {
                let s = fp::state(&mut rng, k % 2 == 0);
                if k % 3 == 0 {
                    fp_case(&[0xB8, 0x78, 0x56, 0x34, 0x12], s)
                } else {
                    fp_case(&[0x90], s)
                }
            })
            .collect();
        let host = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        for (c, h) in cases.iter().zip(&host) {
            let ours = emu.run(c);
            assert_eq!(ours.fp, c.fp, "{}", c.describe());
            assert_eq!(compare::compare(c, h, &ours), compare::Verdict::Match, "{}", c.describe());
        }
    }

    /// With `ulps`, a transcendental's finite result a few ulps off is
    /// measured, not counted; bit for bit it is a mismatch.
    #[test]
    fn transcendental_results_are_measured_in_ulps() {
        let mut rng = Rng::new(8);
        let mut s = fp::state(&mut rng, false);
        s.fsw = 0;
        s.tag = 0xFF;
        let c = fp_case(&[0xD9, 0xFE], s.clone()); // fsin
        let mut h =
            native::Outcome { regs: c.regs, eflags: 0x202, eip: INSN_ADDR + 2, fault: None, data: c.data.clone(), fp: Some(s) };
        if let Some(f) = h.fp.as_mut() {
            f.st[0] = F80 { signif: 0xC000_0000_0000_0000, sign_exp: 0x3FFE };
        }
        let mut ours = h.clone();
        if let Some(f) = ours.fp.as_mut() {
            f.st[0].signif += 3;
        }
        let (v, u) = compare::compare_with(&c, &h, &ours, true);
        assert_eq!((v, u), (compare::Verdict::Match, Some(3)));
        assert!(matches!(compare::compare(&c, &h, &ours), compare::Verdict::Mismatch(_)));
    }
}

#[cfg(test)]
mod host_determinism {
    use super::*;

    /// Every x87/MMX/SSE/SSE2 form's cases give the same outcome on the
    /// host when run again in another order: no state leaks from one case
    /// into the next through the harness (a pending exception, MXCSR, the
    /// last-instruction pointers), and the comparison finds nothing in a
    /// host-against-host run.
    #[test]
    fn fp_cases_are_reproducible_on_the_host() {
        let mut o = native::Oracle::start().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(21);
        let fs = o.selectors().fs_data();
        let cases: Vec<gen::Case> = forms::all_forms()
            .into_iter()
            .filter(|(c, why)| why.is_none() && forms::fp_form(*c))
            .flat_map(|(c, _)| (0..6).map(move |_| c))
            .map(|c| gen::generate(c, &mut rng, fs).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert!(cases.len() > 6 * 300, "{} fp cases", cases.len());
        let first = o.run(&cases).unwrap_or_else(|e| panic!("{e}"));
        let reversed: Vec<gen::Case> = cases.iter().rev().cloned().collect();
        let mut second = o.run(&reversed).unwrap_or_else(|e| panic!("{e}"));
        second.reverse();
        for ((c, a), b) in cases.iter().zip(&first).zip(&second) {
            assert!(a.fp.is_some(), "{}: no FXSAVE image", c.describe());
            assert_eq!(compare::compare(c, a, b), compare::Verdict::Match, "{}", c.describe());
        }
    }
}
