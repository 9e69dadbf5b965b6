//! Instruction fetch and the decoded-block cache.
//!
//! A block is a run of instructions decoded from one physical page (the
//! last one may spill into the next page) that ends at the first
//! instruction that can change control flow. Blocks are keyed by physical
//! address and decode mode, so the same code reached through different
//! linear addresses is decoded once; the pages they came from are marked
//! in the physical map's code bitmap so a write to them drops the blocks
//! (DESIGN.md invariant 3).

use crate::{fault::Fault, ops, state::sreg, Cpu, Env};
use iced_x86::{Code, Decoder, DecoderError, DecoderOptions, FlowControl, Instruction};
use ironpc_mmu::{Access, PAGE_MASK, PAGE_SIZE};
use rustc_hash::FxHashMap;
use std::{cell::Cell, rc::Rc};

/// The CPU has neither BMI1 nor LZCNT (see `cpuid`), so F3 0F BC and
/// F3 0F BD are BSF and BSR with an ignored REP prefix, as on the P6: the
/// SDM (vol. 2, TZCNT and LZCNT) says processors without those instructions
/// execute their encodings as BSF and BSR. Linux's `__ffs` is `rep; bsf`
/// for exactly this reason.
const DECODER_OPTIONS: u32 = DecoderOptions::NO_MPFX_0FBC | DecoderOptions::NO_MPFX_0FBD;

/// Longest x86 instruction.
const MAX_INSN: usize = 15;
/// Longest block, so that a block's instructions stay in cache and the
/// executor gets back to its interrupt check regularly.
const MAX_BLOCK: usize = 48;
/// Blocks kept before the whole cache is dropped.
const MAX_BLOCKS: usize = 1 << 16;
/// Entries of the direct-mapped lookup cache in front of the block map.
const FAST_ENTRIES: usize = 4096;

/// An instruction ready to execute.
pub(crate) struct Decoded {
    pub insn: Instruction,
    pub handler: ops::Handler,
    /// EIP of the next instruction (wrapped to 16 bits in 16-bit code).
    pub next_ip: u64,
}

pub(crate) struct Block {
    pub insns: Box<[Decoded]>,
    /// Offset just past the last instruction, relative to the first one:
    /// a block may only run while all of it lies within the CS limit.
    len: u64,
    /// Cleared when the block leaves the cache, so the fast lookup array
    /// (which may still hold it) never hands out a stale block.
    alive: Cell<bool>,
}

/// Decoded blocks of one CPU.
pub(crate) struct BlockCache {
    blocks: FxHashMap<Key, Rc<Block>>,
    /// Physical page number -> keys of the blocks decoded from it.
    by_page: FxHashMap<u64, Vec<Key>>,
    /// Direct-mapped front of `blocks`: most block lookups are the same
    /// few loop heads, and one array probe beats hashing.
    fast: Box<[Option<FastEntry>]>,
}

/// A slot of [`BlockCache::fast`]: the key it was filled for and the block.
type FastEntry = (Key, Rc<Block>);

impl Default for BlockCache {
    fn default() -> Self {
        Self { blocks: FxHashMap::default(), by_page: FxHashMap::default(), fast: vec![None; FAST_ENTRIES].into_boxed_slice() }
    }
}

#[inline(always)]
fn fast_index(k: Key) -> usize {
    ((k.1 ^ (k.0 >> 12) ^ (k.0 >> 56)) as usize) & (FAST_ENTRIES - 1)
}

/// Cache key: physical address with the decode bitness in the top byte,
/// and EIP. EIP belongs in the key because decoded instructions carry it
/// (branch targets, the next EIP): the same bytes reached at another EIP,
/// through another segment base or another linear mapping, are another
/// block.
type Key = (u64, u64);

fn key(phys: u64, bitness: u32, eip: u64) -> Key {
    (phys | u64::from(bitness) << 56, eip)
}

impl BlockCache {
    pub fn clear(&mut self) {
        for b in self.blocks.values() {
            b.alive.set(false);
        }
        self.blocks.clear();
        self.by_page.clear();
        self.fast.fill(None);
    }

    #[inline(always)]
    fn get(&mut self, k: Key) -> Option<&Rc<Block>> {
        let slot = fast_index(k);
        let hit = matches!(&self.fast[slot], Some((fk, b)) if *fk == k && b.alive.get());
        if !hit {
            let b = self.blocks.get(&k)?;
            self.fast[slot] = Some((k, b.clone()));
        }
        self.fast[slot].as_ref().map(|(_, b)| b)
    }

    /// Drops every block decoded from physical page `page`.
    pub fn invalidate_page(&mut self, page: u64) {
        if let Some(keys) = self.by_page.remove(&page) {
            // A block spanning two pages is also listed under the other
            // page; that list keeps a stale key, which is harmless.
            for k in keys {
                if let Some(b) = self.blocks.remove(&k) {
                    b.alive.set(false);
                }
            }
        }
    }
}

impl Cpu {
    /// Drops blocks on pages written since the last look.
    pub(crate) fn invalidate_written_code(&mut self, env: &mut Env) {
        if env.mem.has_code_writes() {
            for page in env.mem.take_code_writes() {
                self.cache.invalidate_page(page);
            }
        }
    }

    /// The block starting at CS:EIP, decoding it if needed.
    #[inline]
    pub(crate) fn block_at(&mut self, env: &mut Env) -> Result<Rc<Block>, Fault> {
        let cs = self.state.seg[sreg::CS];
        let eip = self.state.rip & 0xFFFF_FFFF;
        if eip > u64::from(cs.limit) {
            return Err(Fault::gp(0));
        }
        let lin = cs.base.wrapping_add(eip) & 0xFFFF_FFFF;
        let user = self.user();
        let phys = match self.tlb.lookup(lin, user) {
            Some(e) if e.exec_tag == lin & PAGE_MASK => e.phys | (lin & !PAGE_MASK),
            _ => self.translate(env, lin, Access::Execute, user)?,
        };
        let bitness = if self.state.code32() { 32 } else { 16 };
        if let Some(b) = self.cache.get(key(phys, bitness, eip)) {
            if eip + b.len - 1 <= u64::from(cs.limit) {
                return Ok(b.clone());
            }
            // Decoded under a larger CS limit: decode again, only as far as
            // this limit allows (and let the new block replace the old).
        }
        self.decode_block(env, lin, phys, eip, bitness)
    }

    #[inline(never)]
    fn decode_block(&mut self, env: &mut Env, lin: u64, phys: u64, eip: u64, bitness: u32) -> Result<Rc<Block>, Fault> {
        if self.cache.blocks.len() >= MAX_BLOCKS {
            self.cache.clear();
        }
        let cs_limit = u64::from(self.state.seg[sreg::CS].limit);
        // Bytes available before the CS limit, counted from EIP.
        let before_limit = (cs_limit - eip + 1) as usize;
        let in_page = (PAGE_SIZE - (phys & !PAGE_MASK)) as usize;
        let mut buf = [0u8; PAGE_SIZE as usize + MAX_INSN];
        let avail = in_page.min(before_limit);
        env.mem.read(phys, &mut buf[..avail]);

        let mut insns = Vec::with_capacity(8);
        let mut pages = [phys / PAGE_SIZE, phys / PAGE_SIZE];
        let ip_mask = if bitness == 16 { 0xFFFF } else { 0xFFFF_FFFF };
        let mut decoder = Decoder::with_ip(bitness, &buf[..avail], eip, DECODER_OPTIONS);
        let mut insn = Instruction::default();
        while decoder.can_decode() && insns.len() < MAX_BLOCK {
            let pos = decoder.position();
            decoder.decode_out(&mut insn);
            if decoder.last_error() == DecoderError::NoMoreBytes {
                break;
            }
            let end = insn.flow_control() != FlowControl::Next || insn.code() == Code::INVALID;
            insns.push(self.prepare(insn, ip_mask));
            if end || pos + insn.len() >= avail {
                break;
            }
        }
        if insns.is_empty() {
            // The first instruction runs past the page (or the CS limit).
            let spill = self.fetch_spill(env, lin, avail, before_limit, &mut buf)?;
            let total = avail + spill;
            let mut decoder = Decoder::with_ip(bitness, &buf[..total], eip, DECODER_OPTIONS);
            decoder.decode_out(&mut insn);
            if decoder.last_error() == DecoderError::NoMoreBytes {
                // Not enough bytes even with the next page: the limit ends it.
                return Err(Fault::gp(0));
            }
            if insn.len() > avail {
                let next_lin = (lin & PAGE_MASK).wrapping_add(PAGE_SIZE) & 0xFFFF_FFFF;
                pages[1] = self.translate(env, next_lin, Access::Execute, self.user())? / PAGE_SIZE;
            }
            insns.push(self.prepare(insn, ip_mask));
        }
        for &p in &pages {
            env.mem.mark_code(p);
        }
        // Marking code moved the fast-write epoch: drop fast write tags now.
        self.tlb.sync(env.mem);
        let len = insns.last().map_or(1, |d| d.insn.next_ip() - eip);
        let block = Rc::new(Block { insns: insns.into_boxed_slice(), len, alive: Cell::new(true) });
        let k = key(phys, bitness, eip);
        if let Some(old) = self.cache.blocks.insert(k, block.clone()) {
            old.alive.set(false);
        }
        for p in if pages[0] == pages[1] { &pages[..1] } else { &pages[..] } {
            self.cache.by_page.entry(*p).or_default().push(k);
        }
        Ok(block)
    }

    /// Reads up to `MAX_INSN` bytes from the next page into `buf[avail..]`
    /// (only as far as the CS limit allows). Fetching may page-fault.
    fn fetch_spill(
        &mut self,
        env: &mut Env,
        lin: u64,
        avail: usize,
        before_limit: usize,
        buf: &mut [u8],
    ) -> Result<usize, Fault> {
        let want = MAX_INSN.min(before_limit.saturating_sub(avail));
        if want == 0 {
            return Err(Fault::gp(0));
        }
        let next_lin = (lin & PAGE_MASK).wrapping_add(PAGE_SIZE) & 0xFFFF_FFFF;
        let user = self.user();
        let phys = self.translate(env, next_lin, Access::Execute, user)?;
        env.mem.read(phys, &mut buf[avail..avail + want]);
        Ok(want)
    }

    fn prepare(&self, insn: Instruction, ip_mask: u64) -> Decoded {
        Decoded { handler: ops::handler_for(&insn), next_ip: insn.next_ip() & ip_mask, insn }
    }
}
