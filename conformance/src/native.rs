//! The host CPU as the oracle: drives the 32-bit helper built from
//! `oracle/oracle.c` over a pipe, in batches.

use crate::{fp::FpState, gen::Case, in_code, Error, CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, LOW_CODE_ADDR, LOW_CODE_SIZE};
use std::{
    io::{Read, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

/// Cases sent to the helper at once (its own limit is larger).
pub const MAX_BATCH: usize = 512;
const MAGIC: u32 = 0x4F43_5049;
/// Bytes of FXSAVE image in each record.
const FX_SIZE: usize = 512;
const IN_SIZE: usize = 4 * 11 + 16 + DATA_SIZE + 4 + FX_SIZE;
const OUT_SIZE: usize = 4 * 12 + DATA_SIZE + 4 + FX_SIZE;
/// #GP: what HLT at CPL 3 raises where a case ends.
const GP: u8 = 13;

/// How a case ended, on either side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    pub eflags: u32,
    /// Where control went (after the instruction), or the EIP the
    /// exception reported.
    pub eip: u32,
    /// The exception the instruction raised: vector and error code.
    pub fault: Option<(u8, u32)>,
    pub data: Vec<u8>,
    /// The x87/MMX/SSE state after the instruction (or at the fault),
    /// for cases that set it.
    pub fp: Option<FpState>,
}

/// The host's segment selectors, which ironpc's GDT copies so that
/// instructions reading selectors agree.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    pub cs: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub ss: u16,
}

/// The LDT selector the helper loads into FS: a data segment over the
/// data page (base [`DATA_ADDR`], limit `DATA_SIZE - 1`).
pub const FS_DATA: u16 = 7;

impl Selectors {
    /// Whether FS holds the data-page segment, which 16-bit addressing
    /// and segment-base cases need.
    pub fn fs_data(&self) -> bool {
        self.fs == FS_DATA
    }
}

/// A running helper process.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    selectors: Selectors,
    low_code: bool,
}

fn u32_at(b: &[u8], n: usize) -> u32 {
    u32::from_le_bytes([b[n * 4], b[n * 4 + 1], b[n * 4 + 2], b[n * 4 + 3]])
}

impl Oracle {
    /// Starts the helper and maps its code and data areas.
    pub fn start() -> Result<Self, Error> {
        let built = env!("IRONPC_ORACLE_ERROR");
        if !built.is_empty() {
            return Err(Error(format!("conformance oracle unavailable: {built}")));
        }
        let path = env!("IRONPC_ORACLE_PATH");
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error(format!("cannot start the conformance oracle {path}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error("oracle pipes missing".into()));
        };
        let mut o =
            Self { child, stdin, stdout, selectors: Selectors { cs: 0, ds: 0, es: 0, fs: 0, gs: 0, ss: 0 }, low_code: false };
        let init = [MAGIC, CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE as u32, LOW_CODE_ADDR, LOW_CODE_SIZE];
        let bytes: Vec<u8> = init.iter().flat_map(|v| v.to_le_bytes()).collect();
        o.send(&bytes)?;
        let mut reply = [0u8; 32];
        o.receive(&mut reply)?;
        if u32_at(&reply, 0) != MAGIC {
            return Err(Error("the conformance oracle answered garbage".into()));
        }
        let s = |n| u32_at(&reply, n) as u16;
        o.selectors = Selectors { cs: s(1), ds: s(2), es: s(3), fs: s(4), gs: s(5), ss: s(6) };
        o.low_code = u32_at(&reply, 7) != 0;
        Ok(o)
    }

    /// Whether the host mapped the low code area (see
    /// [`LOW_CODE_ADDR`]).
    pub fn low_code(&self) -> bool {
        self.low_code
    }

    pub fn selectors(&self) -> Selectors {
        self.selectors
    }

    fn send(&mut self, b: &[u8]) -> Result<(), Error> {
        self.stdin.write_all(b).and_then(|_| self.stdin.flush()).map_err(|e| self.died(e))
    }

    fn receive(&mut self, b: &mut [u8]) -> Result<(), Error> {
        self.stdout.read_exact(b).map_err(|e| self.died(e))
    }

    fn died(&mut self, e: std::io::Error) -> Error {
        let status = self.child.try_wait().ok().flatten();
        Error(format!("the conformance oracle stopped ({e}; exit {status:?}); see its message above"))
    }

    /// Runs `cases` natively.
    pub fn run(&mut self, cases: &[Case]) -> Result<Vec<Outcome>, Error> {
        let mut out = Vec::with_capacity(cases.len());
        for batch in cases.chunks(MAX_BATCH) {
            let mut msg = Vec::with_capacity(4 + batch.len() * IN_SIZE);
            msg.extend_from_slice(&(batch.len() as u32).to_le_bytes());
            for c in batch {
                for v in c.regs.iter().chain(&[c.eflags, c.addr, c.len as u32]) {
                    msg.extend_from_slice(&v.to_le_bytes());
                }
                msg.extend_from_slice(&c.bytes);
                msg.extend_from_slice(&c.data);
                msg.extend_from_slice(&u32::from(c.fp.is_some()).to_le_bytes());
                msg.extend_from_slice(&c.fp.as_ref().map_or([0; FX_SIZE], |f| f.to_fxsave()));
            }
            self.send(&msg)?;
            let mut buf = vec![0u8; batch.len() * OUT_SIZE];
            self.receive(&mut buf)?;
            for (c, r) in batch.iter().zip(buf.chunks(OUT_SIZE)) {
                out.push(decode(c, r));
            }
        }
        Ok(out)
    }
}

/// A result record; #GP at a HLT outside the instruction is the normal
/// end of a case, not a fault.
fn decode(c: &Case, r: &[u8]) -> Outcome {
    let mut regs = [0; 8];
    for (n, v) in regs.iter_mut().enumerate() {
        *v = u32_at(r, n);
    }
    let (eflags, eip, vector, error) = (u32_at(r, 8), u32_at(r, 9), u32_at(r, 10) as u8, u32_at(r, 11));
    let in_insn = (c.addr..c.addr + c.len as u32).contains(&eip);
    let landed = vector == GP && !in_insn && in_code(eip);
    let fx_at = 48 + DATA_SIZE + 4;
    let fp = (c.fp.is_some() && u32_at(r, (48 + DATA_SIZE) / 4) != 0).then(|| FpState::from_fxsave(&r[fx_at..fx_at + FX_SIZE]));
    Outcome { regs, eflags, eip, fault: (!landed).then_some((vector, error)), data: r[48..48 + DATA_SIZE].to_vec(), fp }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
