//! qcow2 images, versions 2 and 3, after QEMU's `docs/interop/qcow2.txt`
//! ("Header", "Header extensions", "Host cluster management", "Cluster
//! mapping", "Compressed Clusters Descriptor").
//!
//! The guest disk is cut into clusters (512 B .. 2 MiB). The L1 table
//! (held in memory) points to L2 tables, whose entries point to data
//! clusters; unallocated clusters read from the backing file (or as
//! zeros), v3 zero clusters read as zeros, compressed clusters are raw
//! deflate streams. Every host cluster has a refcount, found through the
//! refcount table (in memory) and refcount blocks.
//!
//! Writes allocate at the end of the file (freed clusters are not reused:
//! simple, and nothing in flight can point at a reused cluster); a cluster
//! or L2 table whose refcount is above 1 (shared with an internal snapshot)
//! is copied first. Internal snapshots are otherwise ignored, their
//! refcounts kept.
//!
//! Crash ordering. Guest data goes to the file at once (pwrite); L2 tables
//! and refcount blocks are cached and written back in [`Qcow2::flush`] in
//! this order, each step followed by fdatasync: refcount blocks (new
//! counts), refcount table entries (new blocks), L2 tables, L1 entries,
//! and last the refcount decrements of clusters no longer referenced.
//! Refcounts thus always reach the disk before the references they count
//! and drop only after the references are gone: a crash at any point
//! leaves at worst leaked clusters (`qemu-img check -r leaks` reclaims
//! them), never a reference to an unallocated or reused cluster. Lazy
//! refcounts (and so the v3 dirty bit) are not used.

use crate::{check_range, BlockDevice, BlockError, Format, OpenError};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0x5146_49fb;
const V2_HEADER_LEN: usize = 72;
const V3_HEADER_LEN: usize = 104;
const MIN_CLUSTER_BITS: u32 = 9;
const MAX_CLUSTER_BITS: u32 = 21;
/// Header offsets of fields written after creation.
const HDR_REFTABLE: u64 = 48;
const HDR_AUTOCLEAR: u64 = 88;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_NAMES: u32 = 0x6803_f857;

const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_KNOWN: u64 = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;
/// Names for the incompatible bits in case the file has no feature name table.
const INCOMPAT_NAMES: [&str; 5] = ["dirty", "corrupt", "external data file", "compression type", "extended L2 entries"];

/// L1/L2 entry bits.
const OFLAG_COPIED: u64 = 1 << 63;
const OFLAG_COMPRESSED: u64 = 1 << 62;
const OFLAG_ZERO: u64 = 1;
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const REFT_OFFSET_MASK: u64 = 0xffff_ffff_ffff_fe00;

/// Limits that keep a hostile header from making us allocate absurdly (QEMU's).
const MAX_L1_BYTES: u64 = 32 << 20;
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
const MAX_BACKING_NAME: u32 = 1023;
/// Cached metadata beyond this is written back and dropped (small in unit
/// tests, so that they exercise it).
const CACHE_LIMIT: usize = if cfg!(test) { 64 << 10 } else { 32 << 20 };

/// The header fields this implementation reads.
#[derive(Clone, Debug, Default)]
struct Header {
    version: u32,
    backing_file_offset: u64,
    backing_file_size: u32,
    cluster_bits: u32,
    size: u64,
    crypt_method: u32,
    l1_size: u32,
    l1_table_offset: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u32,
    incompatible: u64,
    autoclear: u64,
    refcount_order: u32,
    header_length: u32,
    compression_type: u8,
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

/// An open-time failure before the file name is attached.
enum Bad {
    Corrupt(String),
    Unsupported(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Bad {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == ErrorKind::UnexpectedEof {
            Bad::Corrupt("the file is truncated".into())
        } else {
            Bad::Io(e)
        }
    }
}

impl Bad {
    fn named(self, path: &str) -> OpenError {
        let path = path.to_string();
        match self {
            Bad::Corrupt(msg) => OpenError::Corrupt { path, msg },
            Bad::Unsupported(msg) => OpenError::Unsupported { path, msg },
            Bad::Io(source) => OpenError::Io { path, source },
        }
    }
}

fn corrupt<T>(msg: impl Into<String>) -> Result<T, Bad> {
    Err(Bad::Corrupt(msg.into()))
}

/// A backing file as the header names it: file name, format if given.
type BackingRef = (String, Option<Format>);

/// What the first cluster says beyond the fixed header.
struct Extensions {
    backing: Option<BackingRef>,
    /// (type, bit, name) from the feature name table.
    feature_names: Vec<(u8, u8, String)>,
}

fn parse_header(b: &[u8]) -> Result<Header, Bad> {
    if b.len() < V2_HEADER_LEN {
        return corrupt("the file is shorter than a qcow2 header");
    }
    if be32(b, 0) != MAGIC {
        return corrupt("no qcow2 magic");
    }
    let mut h = Header {
        version: be32(b, 4),
        backing_file_offset: be64(b, 8),
        backing_file_size: be32(b, 16),
        cluster_bits: be32(b, 20),
        size: be64(b, 24),
        crypt_method: be32(b, 32),
        l1_size: be32(b, 36),
        l1_table_offset: be64(b, 40),
        refcount_table_offset: be64(b, 48),
        refcount_table_clusters: be32(b, 56),
        refcount_order: 4,
        header_length: V2_HEADER_LEN as u32,
        ..Header::default()
    };
    match h.version {
        2 => {}
        3 => {
            if b.len() < V3_HEADER_LEN {
                return corrupt("the file is shorter than a qcow2 v3 header");
            }
            h.incompatible = be64(b, 72);
            h.autoclear = be64(b, 88);
            h.refcount_order = be32(b, 96);
            h.header_length = be32(b, 100);
            if (h.header_length as usize) < V3_HEADER_LEN || !h.header_length.is_multiple_of(8) {
                return corrupt(format!("bad header length {}", h.header_length));
            }
            if h.header_length > 104 {
                h.compression_type = b.get(104).copied().unwrap_or(0);
            }
        }
        v => return Err(Bad::Unsupported(format!("qcow2 version {v} (known: 2, 3)"))),
    }
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&h.cluster_bits) {
        return corrupt(format!("cluster_bits {} outside 9..=21", h.cluster_bits));
    }
    if h.refcount_order > 6 {
        return corrupt(format!("refcount_order {} above 6", h.refcount_order));
    }
    Ok(h)
}

fn parse_extensions(h: &Header, c0: &[u8]) -> Result<Extensions, Bad> {
    let mut ext = Extensions { backing: None, feature_names: Vec::new() };
    let mut backing_format = None;
    let mut at = h.header_length as usize;
    while at + 8 <= c0.len() {
        let (kind, len) = (be32(c0, at), be32(c0, at + 4) as usize);
        let data = c0.get(at + 8..at + 8 + len).ok_or(Bad::Corrupt("a header extension runs past the first cluster".into()))?;
        match kind {
            EXT_END => break,
            EXT_BACKING_FORMAT => {
                let name = String::from_utf8_lossy(data);
                backing_format =
                    Some(name.parse::<Format>().map_err(|_| Bad::Unsupported(format!("backing file format {name:?}")))?);
            }
            EXT_FEATURE_NAMES => {
                for e in data.chunks_exact(48) {
                    let end = e[2..].iter().position(|&c| c == 0).map_or(48, |n| n + 2);
                    ext.feature_names.push((e[0], e[1], String::from_utf8_lossy(&e[2..end]).into_owned()));
                }
            }
            _ => {}
        }
        at += 8 + len.div_ceil(8) * 8;
    }
    if h.backing_file_offset != 0 {
        if h.backing_file_size > MAX_BACKING_NAME {
            return corrupt("the backing file name is longer than 1023 bytes");
        }
        let start = usize::try_from(h.backing_file_offset).unwrap_or(usize::MAX);
        let name = start
            .checked_add(h.backing_file_size as usize)
            .and_then(|end| c0.get(start..end))
            .ok_or(Bad::Corrupt("the backing file name lies outside the first cluster".into()))?;
        let name = std::str::from_utf8(name).map_err(|_| Bad::Unsupported("a backing file name that is not UTF-8".into()))?;
        if !name.is_empty() {
            ext.backing = Some((name.to_string(), backing_format));
        }
    }
    Ok(ext)
}

/// A cached metadata cluster.
struct Cached<T> {
    data: T,
    dirty: bool,
}

/// An open qcow2 image.
pub struct Qcow2 {
    file: File,
    name: String,
    read_only: bool,
    version: u32,
    size: u64,
    cluster_bits: u32,
    /// log2 of the entries in an L2 table.
    l2_bits: u32,
    refcount_order: u32,
    /// log2 of the entries in a refcount block.
    rb_bits: u32,
    l1: Vec<u64>,
    l1_offset: u64,
    l1_dirty: BTreeSet<usize>,
    reftable: Vec<u64>,
    reftable_offset: u64,
    reftable_dirty: BTreeSet<usize>,
    l2_cache: HashMap<u64, Cached<Vec<u64>>>,
    rb_cache: HashMap<u64, Cached<Vec<u8>>>,
    /// Host clusters whose refcount drops once the references that left
    /// them are on disk.
    pending_decrements: Vec<u64>,
    /// The next host cluster to allocate.
    next_free: u64,
    backing: Option<Box<dyn BlockDevice>>,
    /// The last decompressed cluster: (L2 entry, bytes).
    decompressed: Option<(u64, Vec<u8>)>,
}

impl fmt::Debug for Qcow2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qcow2")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("size", &self.size)
            .field("cluster_bits", &self.cluster_bits)
            .field("read_only", &self.read_only)
            .field("backing", &self.backing)
            .finish_non_exhaustive()
    }
}

fn read_exact(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, at)
}

impl Qcow2 {
    /// Opens a qcow2 image from an opened, locked file. `open_backing`
    /// opens the backing file named in the header (relative to the
    /// overlay's directory) with the format from the header, if any.
    pub(crate) fn open(
        file: File,
        read_only: bool,
        name: String,
        open_backing: impl FnOnce(&str, Option<Format>) -> Result<Box<dyn BlockDevice>, OpenError>,
    ) -> Result<Self, OpenError> {
        let (mut q, backing) = Self::load(file, read_only, &name).map_err(|e| e.named(&name))?;
        if let Some((bname, bformat)) = backing {
            let b = open_backing(&bname, bformat).map_err(|e| OpenError::Backing { path: name.clone(), source: Box::new(e) })?;
            q.backing = Some(b);
        }
        Ok(q)
    }

    fn load(file: File, read_only: bool, name: &str) -> Result<(Self, Option<BackingRef>), Bad> {
        let file_len = file.metadata()?.len();
        let mut first = vec![0u8; (file_len.min(V3_HEADER_LEN as u64 + 8)) as usize];
        read_exact(&file, &mut first, 0)?;
        let h = parse_header(&first)?;
        let cs = 1u64 << h.cluster_bits;
        let mut c0 = vec![0u8; cs.min(file_len) as usize];
        read_exact(&file, &mut c0, 0)?;
        let ext = parse_extensions(&h, &c0)?;

        let unknown = h.incompatible & !INCOMPAT_KNOWN;
        if unknown != 0 {
            let names: Vec<String> = (0..64u8)
                .filter(|b| unknown & (1 << b) != 0)
                .map(|b| {
                    ext.feature_names
                        .iter()
                        .find(|(t, bit, _)| *t == 0 && *bit == b)
                        .map(|(_, _, n)| n.clone())
                        .or_else(|| INCOMPAT_NAMES.get(b as usize).map(|s| s.to_string()))
                        .unwrap_or_else(|| format!("bit {b}"))
                })
                .collect();
            return Err(Bad::Unsupported(format!("incompatible features: {}", names.join(", "))));
        }
        if h.incompatible & INCOMPAT_COMPRESSION != 0 && h.compression_type != 0 {
            return Err(Bad::Unsupported(format!("compression type {} (only deflate is known)", h.compression_type)));
        }
        if h.crypt_method != 0 {
            return Err(Bad::Unsupported("encrypted images".into()));
        }
        if !read_only && h.incompatible & INCOMPAT_CORRUPT != 0 {
            return corrupt("it is marked corrupt; repair it with qemu-img check -r all, or open it with readonly=on");
        }
        if !read_only && h.incompatible & INCOMPAT_DIRTY != 0 {
            return Err(Bad::Unsupported(
                "it was not closed cleanly (lazy refcounts); repair it with qemu-img check -r all, or open it with readonly=on"
                    .into(),
            ));
        }

        let l2_bits = h.cluster_bits - 3;
        let rb_bits = h.cluster_bits + 3 - h.refcount_order;
        let covered = 1u64 << (h.cluster_bits + l2_bits); // bytes one L2 table maps
        let l1_needed = h.size.div_ceil(covered);
        if u64::from(h.l1_size) < l1_needed || u64::from(h.l1_size) * 8 > MAX_L1_BYTES {
            return corrupt(format!("L1 table of {} entries for a {}-byte disk", h.l1_size, h.size));
        }
        if h.l1_size > 0 && (h.l1_table_offset % cs != 0 || h.l1_table_offset == 0) {
            return corrupt("the L1 table is not cluster-aligned");
        }
        let mut raw = vec![0u8; h.l1_size as usize * 8];
        read_exact(&file, &mut raw, h.l1_table_offset)?;
        let l1: Vec<u64> = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();

        let rt_bytes = u64::from(h.refcount_table_clusters) << h.cluster_bits;
        if rt_bytes == 0 || rt_bytes > MAX_REFTABLE_BYTES.max(cs) || h.refcount_table_offset % cs != 0 {
            return corrupt("bad refcount table size or offset");
        }
        let mut raw = vec![0u8; rt_bytes as usize];
        read_exact(&file, &mut raw, h.refcount_table_offset)?;
        let reftable: Vec<u64> = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();

        let mut q = Qcow2 {
            file,
            name: name.to_string(),
            read_only,
            version: h.version,
            size: h.size,
            cluster_bits: h.cluster_bits,
            l2_bits,
            refcount_order: h.refcount_order,
            rb_bits,
            l1,
            l1_offset: h.l1_table_offset,
            l1_dirty: BTreeSet::new(),
            reftable,
            reftable_offset: h.refcount_table_offset,
            reftable_dirty: BTreeSet::new(),
            l2_cache: HashMap::new(),
            rb_cache: HashMap::new(),
            pending_decrements: Vec::new(),
            next_free: file_len.div_ceil(cs),
            backing: None,
            decompressed: None,
        };
        if !read_only {
            q.find_next_free().map_err(|e| match e {
                BlockError::Io(e) => Bad::from(e),
                e => Bad::Corrupt(e.to_string()),
            })?;
            if h.version >= 3 && h.autoclear != 0 {
                // We keep none of the autoclear features' data (bitmaps,
                // raw external data) up to date: clearing the bits says so.
                q.file.write_all_at(&0u64.to_be_bytes(), HDR_AUTOCLEAR)?;
                q.file.sync_data()?;
            }
        }
        Ok((q, ext.backing))
    }

    fn cs(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Allocation starts past the file's end and past every cluster with a
    /// refcount (a refcount may name a cluster beyond the end).
    fn find_next_free(&mut self) -> Result<(), BlockError> {
        for r in 0..self.reftable.len() {
            let off = self.reftable[r] & REFT_OFFSET_MASK;
            if off == 0 {
                continue;
            }
            let entries = 1u64 << self.rb_bits;
            let order = self.refcount_order;
            let block = self.refblock(off)?;
            if let Some(i) = (0..entries).rev().find(|&i| get_refcount(block, i as usize, order) != 0) {
                self.next_free = self.next_free.max(((r as u64) << self.rb_bits) + i + 1);
            }
        }
        Ok(())
    }

    // ---- metadata access ----

    fn check_meta_offset(&self, off: u64, what: &str) -> Result<(), BlockError> {
        if off == 0 || off & (self.cs() - 1) != 0 {
            return Err(BlockError::Corrupt(format!("{}: {what} at unaligned offset {off:#x}", self.name)));
        }
        Ok(())
    }

    fn read_cluster(&self, off: u64) -> Result<Vec<u8>, BlockError> {
        let mut buf = vec![0u8; self.cs() as usize];
        self.file.read_exact_at(&mut buf, off).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                BlockError::Corrupt(format!("{}: metadata at {off:#x} lies past the end of the file", self.name))
            } else {
                BlockError::Io(e)
            }
        })?;
        Ok(buf)
    }

    fn l2_table(&mut self, off: u64) -> Result<&mut Vec<u64>, BlockError> {
        if !self.l2_cache.contains_key(&off) {
            self.check_meta_offset(off, "an L2 table")?;
            let raw = self.read_cluster(off)?;
            let table = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
            self.l2_cache.insert(off, Cached { data: table, dirty: false });
        }
        let c = self.l2_cache.get_mut(&off).ok_or(BlockError::Corrupt("L2 cache".into()))?;
        Ok(&mut c.data)
    }

    fn l2_mark_dirty(&mut self, off: u64) {
        if let Some(c) = self.l2_cache.get_mut(&off) {
            c.dirty = true;
        }
    }

    fn refblock(&mut self, off: u64) -> Result<&mut Vec<u8>, BlockError> {
        if !self.rb_cache.contains_key(&off) {
            self.check_meta_offset(off, "a refcount block")?;
            let raw = self.read_cluster(off)?;
            self.rb_cache.insert(off, Cached { data: raw, dirty: false });
        }
        let c = self.rb_cache.get_mut(&off).ok_or(BlockError::Corrupt("refcount cache".into()))?;
        Ok(&mut c.data)
    }

    fn refcount(&mut self, cluster: u64) -> Result<u64, BlockError> {
        let r = (cluster >> self.rb_bits) as usize;
        let off = self.reftable.get(r).map_or(0, |e| e & REFT_OFFSET_MASK);
        if off == 0 {
            return Ok(0);
        }
        let i = (cluster & ((1 << self.rb_bits) - 1)) as usize;
        let order = self.refcount_order;
        Ok(get_refcount(self.refblock(off)?, i, order))
    }

    fn set_refcount(&mut self, cluster: u64, value: u64) -> Result<(), BlockError> {
        let bits = 1u32 << self.refcount_order;
        if bits < 64 && value >> bits != 0 {
            return Err(BlockError::Corrupt(format!("{}: refcount of cluster {cluster} overflows", self.name)));
        }
        let off = self.refblock_for_update(cluster >> self.rb_bits)?;
        let i = (cluster & ((1 << self.rb_bits) - 1)) as usize;
        let order = self.refcount_order;
        put_refcount(self.refblock(off)?, i, order, value);
        if let Some(c) = self.rb_cache.get_mut(&off) {
            c.dirty = true;
        }
        Ok(())
    }

    /// The refcount block for refcount table index `r`, created (inside the
    /// range it covers when possible, as it is placed at the end) if absent.
    fn refblock_for_update(&mut self, r: u64) -> Result<u64, BlockError> {
        if r >= self.reftable.len() as u64 {
            self.grow_reftable(r + 1)?;
        }
        let off = self.reftable[r as usize] & REFT_OFFSET_MASK;
        if off != 0 {
            return Ok(off);
        }
        let b = self.next_free;
        self.next_free += 1;
        let boff = b << self.cluster_bits;
        self.rb_cache.insert(boff, Cached { data: vec![0; self.cs() as usize], dirty: true });
        self.reftable[r as usize] = boff;
        self.reftable_dirty.insert(r as usize);
        self.set_refcount(b, 1)?;
        Ok(boff)
    }

    /// Moves the refcount table to a bigger one at the end of the file.
    /// Rare, so done at once: blocks and the new table are made durable
    /// before the header points at it, and the old table is freed after.
    fn grow_reftable(&mut self, min_entries: u64) -> Result<(), BlockError> {
        let per_cluster = self.cs() / 8;
        let old_len = self.reftable.len() as u64;
        // Double (within the limit that open() accepts), or more if needed.
        let limit = MAX_REFTABLE_BYTES.max(self.cs()) / 8;
        let grown = (old_len * 2).min(limit);
        let mut clusters = min_entries.max(grown).div_ceil(per_cluster);
        loop {
            // The new table and the blocks that count it all land from next_free on.
            let last = self.next_free + 2 * clusters + 3;
            let want = ((last >> self.rb_bits) + 1).max(min_entries).max(grown);
            if want <= clusters * per_cluster {
                break;
            }
            clusters = want.div_ceil(per_cluster);
        }
        if clusters * per_cluster > limit {
            return Err(BlockError::Corrupt(format!("{}: the refcount table would exceed 8 MiB", self.name)));
        }
        let start = self.next_free;
        self.next_free += clusters;
        let (old_offset, old_clusters) = (self.reftable_offset, old_len.div_ceil(per_cluster));
        self.reftable.resize((clusters * per_cluster) as usize, 0);
        for c in start..start + clusters {
            self.set_refcount(c, 1)?;
        }
        self.write_refblocks()?;
        let table: Vec<u8> = self.reftable.iter().flat_map(|e| e.to_be_bytes()).collect();
        let new_offset = start << self.cluster_bits;
        self.file.write_all_at(&table, new_offset)?;
        self.sync()?;
        let mut hdr = [0u8; 12];
        hdr[..8].copy_from_slice(&new_offset.to_be_bytes());
        hdr[8..].copy_from_slice(&(clusters as u32).to_be_bytes());
        self.file.write_all_at(&hdr, HDR_REFTABLE)?;
        self.sync()?;
        self.reftable_offset = new_offset;
        self.reftable_dirty.clear();
        let first = old_offset >> self.cluster_bits;
        self.pending_decrements.extend(first..first + old_clusters);
        Ok(())
    }

    /// Allocates one host cluster (refcount 1) at the end of the file.
    fn alloc_cluster(&mut self) -> Result<u64, BlockError> {
        let c = self.next_free;
        if c >= 1 << (56 - self.cluster_bits) {
            return Err(BlockError::Corrupt(format!("{}: the image file is full", self.name)));
        }
        self.next_free += 1;
        self.set_refcount(c, 1)?;
        Ok(c << self.cluster_bits)
    }

    // ---- write-back ----

    /// A write barrier: what was written before is durable before what follows.
    fn sync(&self) -> std::io::Result<()> {
        #[cfg(test)]
        tests::crash_point(&self.file);
        self.file.sync_data()
    }

    fn write_refblocks(&mut self) -> Result<bool, BlockError> {
        let mut wrote = false;
        for (off, c) in self.rb_cache.iter_mut().filter(|(_, c)| c.dirty) {
            self.file.write_all_at(&c.data, *off)?;
            c.dirty = false;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Writes every cached change back in the crash-safe order (see the
    /// module comment).
    fn write_back(&mut self) -> Result<(), BlockError> {
        if self.write_refblocks()? {
            self.sync()?;
        }
        if !self.reftable_dirty.is_empty() {
            for &i in &self.reftable_dirty {
                self.file.write_all_at(&self.reftable[i].to_be_bytes(), self.reftable_offset + i as u64 * 8)?;
            }
            self.reftable_dirty.clear();
            self.sync()?;
        }
        let mut wrote = false;
        for (off, c) in self.l2_cache.iter_mut().filter(|(_, c)| c.dirty) {
            let raw: Vec<u8> = c.data.iter().flat_map(|e| e.to_be_bytes()).collect();
            self.file.write_all_at(&raw, *off)?;
            c.dirty = false;
            wrote = true;
        }
        if wrote {
            self.sync()?;
        }
        if !self.l1_dirty.is_empty() {
            for &i in &self.l1_dirty {
                self.file.write_all_at(&self.l1[i].to_be_bytes(), self.l1_offset + i as u64 * 8)?;
            }
            self.l1_dirty.clear();
            self.sync()?;
        }
        if !self.pending_decrements.is_empty() {
            for c in std::mem::take(&mut self.pending_decrements) {
                let rc = self.refcount(c)?;
                if rc == 0 {
                    log::warn!("{}: cluster {c} freed twice", self.name);
                    continue;
                }
                self.set_refcount(c, rc - 1)?;
            }
            // A freed refcount could need a new block only if it were zero.
            self.write_refblocks()?;
            if !self.reftable_dirty.is_empty() {
                return Err(BlockError::Corrupt(format!("{}: refcount table changed while freeing", self.name)));
            }
        }
        self.sync()?;
        Ok(())
    }

    /// Keeps the metadata cache bounded; called between requests only, so
    /// that no request loses a table it is working on.
    fn trim_cache(&mut self) -> Result<(), BlockError> {
        let n = self.l2_cache.len() + self.rb_cache.len();
        if n << self.cluster_bits > CACHE_LIMIT {
            if !self.read_only {
                self.write_back()?;
            }
            self.l2_cache.clear();
            self.rb_cache.clear();
        }
        Ok(())
    }

    // ---- guest data ----

    /// The L2 entry mapping guest cluster `vc` (0: unallocated).
    fn l2_entry(&mut self, vc: u64) -> Result<u64, BlockError> {
        let l1i = (vc >> self.l2_bits) as usize;
        let l2off = self.l1.get(l1i).map_or(0, |e| e & OFFSET_MASK);
        if l2off == 0 {
            return Ok(0);
        }
        let i = (vc & ((1 << self.l2_bits) - 1)) as usize;
        Ok(self.l2_table(l2off)?.get(i).copied().unwrap_or(0))
    }

    fn is_zero(&self, entry: u64) -> bool {
        self.version >= 3 && entry & OFLAG_ZERO != 0 && entry & OFLAG_COMPRESSED == 0
    }

    /// Offset and byte count of a compressed cluster's data.
    fn compressed_extent(&self, entry: u64) -> (u64, u64) {
        let x = 62 - (self.cluster_bits - 8);
        let offset = entry & ((1 << x) - 1);
        let sectors = ((entry >> x) & ((1 << (self.cluster_bits - 8)) - 1)) + 1;
        (offset, sectors * 512 - (offset & 511))
    }

    fn decompress(&mut self, entry: u64) -> Result<&[u8], BlockError> {
        if self.decompressed.as_ref().is_none_or(|(e, _)| *e != entry) {
            let (offset, len) = self.compressed_extent(entry);
            let mut input = vec![0u8; len as usize];
            // The last compressed cluster may end inside the file's last sector.
            let mut got = 0;
            while got < input.len() {
                match self.file.read_at(&mut input[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let cs = self.cs() as usize;
            let out = miniz_oxide::inflate::decompress_to_vec_with_limit(&input[..got], cs)
                .map_err(|e| BlockError::Corrupt(format!("{}: compressed cluster at {offset:#x}: {e}", self.name)))?;
            if out.len() != cs {
                return Err(BlockError::Corrupt(format!("{}: compressed cluster at {offset:#x} is short", self.name)));
            }
            self.decompressed = Some((entry, out));
        }
        Ok(self.decompressed.as_ref().map_or(&[][..], |(_, d)| d.as_slice()))
    }

    fn read_backing(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let Some(b) = self.backing.as_mut() else {
            buf.fill(0);
            return Ok(());
        };
        let avail = b.size().saturating_sub(offset).min(buf.len() as u64) as usize;
        if avail > 0 {
            b.read_at(offset, &mut buf[..avail])?;
        }
        buf[avail..].fill(0);
        Ok(())
    }

    /// Reads part of guest cluster `vc` (`at` bytes into it) as mapped by `entry`.
    fn read_mapped(&mut self, vc: u64, entry: u64, at: usize, buf: &mut [u8]) -> Result<(), BlockError> {
        if entry & OFLAG_COMPRESSED != 0 {
            let data = self.decompress(entry)?;
            buf.copy_from_slice(&data[at..at + buf.len()]);
        } else if self.is_zero(entry) {
            buf.fill(0);
        } else if entry & OFFSET_MASK != 0 {
            let host = entry & OFFSET_MASK;
            self.file.read_exact_at(buf, host + at as u64).map_err(|e| {
                if e.kind() == ErrorKind::UnexpectedEof {
                    BlockError::Corrupt(format!("{}: data cluster at {host:#x} lies past the end of the file", self.name))
                } else {
                    BlockError::Io(e)
                }
            })?;
        } else {
            self.read_backing((vc << self.cluster_bits) + at as u64, buf)?;
        }
        Ok(())
    }

    /// Refuses a data write into the header, the L1 or refcount table or a
    /// cached L2 table or refcount block: only a damaged L2 entry points
    /// there, and writing would spread the damage (QEMU's overlap check).
    fn check_not_metadata(&self, host: u64) -> Result<(), BlockError> {
        let within = |start: u64, bytes: u64| host >= start && host < start + bytes;
        let reftable_bytes = self.reftable.len() as u64 * 8;
        if host < self.cs()
            || within(self.l1_offset, self.l1.len() as u64 * 8)
            || within(self.reftable_offset, reftable_bytes)
            || self.l2_cache.contains_key(&host)
            || self.rb_cache.contains_key(&host)
        {
            return Err(BlockError::Corrupt(format!("{}: a data cluster at {host:#x} overlaps the image's metadata", self.name)));
        }
        Ok(())
    }

    /// The L2 table that guest cluster group `l1i` can be written through:
    /// allocated if absent, copied if shared with a snapshot.
    fn l2_for_write(&mut self, l1i: usize) -> Result<u64, BlockError> {
        let l1e = *self.l1.get(l1i).ok_or(BlockError::Corrupt("L1 index".into()))?;
        let off = l1e & OFFSET_MASK;
        if off != 0 {
            match self.refcount(off >> self.cluster_bits)? {
                0 => return Err(BlockError::Corrupt(format!("{}: L2 table at {off:#x} has refcount 0", self.name))),
                1 => {
                    if l1e & OFLAG_COPIED == 0 {
                        self.l1[l1i] = off | OFLAG_COPIED;
                        self.l1_dirty.insert(l1i);
                    }
                    return Ok(off);
                }
                _ => {}
            }
        }
        let table = if off != 0 { self.l2_table(off)?.clone() } else { vec![0; 1 << self.l2_bits] };
        let new = self.alloc_cluster()?;
        self.l2_cache.insert(new, Cached { data: table, dirty: true });
        if off != 0 {
            self.pending_decrements.push(off >> self.cluster_bits);
        }
        self.l1[l1i] = new | OFLAG_COPIED;
        self.l1_dirty.insert(l1i);
        Ok(new)
    }

    /// Writes `data` at `at` bytes into guest cluster `vc`.
    fn write_in_cluster(&mut self, vc: u64, at: usize, data: &[u8]) -> Result<(), BlockError> {
        let cs = self.cs() as usize;
        let l2off = self.l2_for_write((vc >> self.l2_bits) as usize)?;
        let i = (vc & ((1 << self.l2_bits) - 1)) as usize;
        let entry = self.l2_table(l2off)?[i];
        let host = entry & OFFSET_MASK;
        let compressed = entry & OFLAG_COMPRESSED != 0;
        if !compressed && host != 0 && self.refcount(host >> self.cluster_bits)? == 1 {
            self.check_not_metadata(host)?;
            if self.is_zero(entry) {
                // A preallocated zero cluster: the rest must still read as zeros.
                let mut buf = vec![0u8; cs];
                buf[at..at + data.len()].copy_from_slice(data);
                self.file.write_all_at(&buf, host)?;
            } else {
                self.file.write_all_at(data, host + at as u64)?;
            }
            if entry != host | OFLAG_COPIED {
                self.l2_table(l2off)?[i] = host | OFLAG_COPIED;
                self.l2_mark_dirty(l2off);
            }
            return Ok(());
        }
        // A fresh cluster, filled with what the guest saw there.
        let mut buf = vec![0u8; cs];
        if data.len() < cs {
            self.read_mapped(vc, entry, 0, &mut buf)?;
        }
        buf[at..at + data.len()].copy_from_slice(data);
        let new = self.alloc_cluster()?;
        self.file.write_all_at(&buf, new)?;
        if compressed {
            let (offset, len) = self.compressed_extent(entry);
            let (first, last) = (offset >> self.cluster_bits, (offset + len - 1) >> self.cluster_bits);
            self.pending_decrements.extend(first..=last);
        } else if host != 0 {
            self.pending_decrements.push(host >> self.cluster_bits);
        }
        self.l2_table(l2off)?[i] = new | OFLAG_COPIED;
        self.l2_mark_dirty(l2off);
        Ok(())
    }

    /// A temporary overlay over `base` for snapshot mode: a qcow2 file in
    /// the temp directory, unlinked as soon as it is open (so nothing is
    /// left behind, even after a crash), with `base` as its backing device.
    pub(crate) fn temporary_overlay(base: Box<dyn BlockDevice>) -> std::io::Result<Self> {
        let dir = std::env::temp_dir();
        let mut n = 0u32;
        let (path, file) = loop {
            let p = dir.join(format!("ironpc-snapshot-{}-{n}.qcow2", std::process::id()));
            match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&p) {
                Ok(f) => break (p, f),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let _ = std::fs::remove_file(&path);
        write_new_image(&file, base.size(), 16)?;
        let name = format!("{} (snapshot overlay)", path.display());
        let (mut q, _) = Self::load(file, false, &name).map_err(|e| match e {
            Bad::Io(e) => e,
            Bad::Corrupt(m) | Bad::Unsupported(m) => std::io::Error::other(m),
        })?;
        q.backing = Some(base);
        Ok(q)
    }
}

impl BlockDevice for Qcow2 {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size)?;
        self.trim_cache()?;
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let vc = pos >> self.cluster_bits;
            let at = (pos & (self.cs() - 1)) as usize;
            let n = (self.cs() as usize - at).min(buf.len() - done);
            let entry = self.l2_entry(vc)?;
            self.read_mapped(vc, entry, at, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size)?;
        self.trim_cache()?;
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let vc = pos >> self.cluster_bits;
            let at = (pos & (self.cs() - 1)) as usize;
            let n = (self.cs() as usize - at).min(data.len() - done);
            self.write_in_cluster(vc, at, &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.read_only {
            return Ok(());
        }
        self.write_back()
    }
}

impl Drop for Qcow2 {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::error!("{}: flushing at close failed: {e}", self.name);
        }
    }
}

/// Reads refcount `i` of a block with `2^order`-bit entries (sub-byte
/// entries fill each byte from its least significant bit).
fn get_refcount(block: &[u8], i: usize, order: u32) -> u64 {
    let bits = 1usize << order;
    if bits < 8 {
        let per = 8 / bits;
        let byte = block.get(i / per).copied().unwrap_or(0);
        u64::from(byte >> ((i % per) * bits)) & ((1 << bits) - 1)
    } else {
        let n = bits / 8;
        block.get(i * n..i * n + n).map_or(0, |b| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }
}

fn put_refcount(block: &mut [u8], i: usize, order: u32, value: u64) {
    let bits = 1usize << order;
    if bits < 8 {
        let per = 8 / bits;
        let shift = (i % per) * bits;
        let mask = (((1u16 << bits) - 1) as u8) << shift;
        if let Some(b) = block.get_mut(i / per) {
            *b = (*b & !mask) | (((value as u8) << shift) & mask);
        }
    } else {
        let n = bits / 8;
        if let Some(b) = block.get_mut(i * n..i * n + n) {
            b.copy_from_slice(&value.to_be_bytes()[8 - n..]);
        }
    }
}

/// Lays out an empty v3 image of `size` bytes with `2^cluster_bits`-byte
/// clusters and 16-bit refcounts: header, refcount table, one refcount
/// block, L1 table.
fn write_new_image(file: &File, size: u64, cluster_bits: u32) -> std::io::Result<()> {
    let cs = 1u64 << cluster_bits;
    let l1_entries = size.div_ceil(cs << (cluster_bits - 3)).max(1);
    let l1_clusters = (l1_entries * 8).div_ceil(cs);
    let total = 3 + l1_clusters;
    if total > cs / 2 {
        return Err(std::io::Error::other("the disk is too large for a new qcow2 image"));
    }
    let mut header = vec![0u8; cs as usize];
    let mut put = |at: usize, bytes: &[u8]| header[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &MAGIC.to_be_bytes());
    put(4, &3u32.to_be_bytes());
    put(20, &cluster_bits.to_be_bytes());
    put(24, &size.to_be_bytes());
    put(36, &(l1_entries as u32).to_be_bytes());
    put(40, &(3 * cs).to_be_bytes());
    put(48, &cs.to_be_bytes());
    put(56, &1u32.to_be_bytes());
    put(96, &4u32.to_be_bytes());
    put(100, &(V3_HEADER_LEN as u32).to_be_bytes());
    let mut reftable = vec![0u8; cs as usize];
    reftable[..8].copy_from_slice(&(2 * cs).to_be_bytes());
    let mut block = vec![0u8; cs as usize];
    for c in 0..total as usize {
        put_refcount(&mut block, c, 4, 1);
    }
    file.set_len(0)?;
    file.write_all_at(&header, 0)?;
    file.write_all_at(&reftable, cs)?;
    file.write_all_at(&block, 2 * cs)?;
    file.set_len(total * cs)?;
    file.sync_data()
}

/// Creates an empty qcow2 v3 image of `size` bytes (64 KiB clusters, no
/// backing file) at `path`, which must not exist.
pub fn create_qcow2(path: &Path, size: u64) -> Result<(), OpenError> {
    let name = path.display().to_string();
    let io = |e| OpenError::Io { path: name.clone(), source: e };
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(io)?;
    write_new_image(&file, size, 16).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// When set, the file's contents at every write barrier: the states
        /// a crash could leave (all before the barrier durable, nothing after).
        static CRASH_STATES: RefCell<Option<Vec<Vec<u8>>>> = const { RefCell::new(None) };
    }

    pub(super) fn crash_point(file: &File) {
        CRASH_STATES.with(|s| {
            if let Some(states) = s.borrow_mut().as_mut() {
                let len = file.metadata().map_or(0, |m| m.len());
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, 0).unwrap();
                states.push(buf);
            }
        });
    }

    #[test]
    fn refcounts_of_every_width_round_trip_without_touching_neighbours() {
        for order in 0..=6u32 {
            let bits = 1u32 << order;
            let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let mut block = vec![0u8; 512];
            put_refcount(&mut block, 5, order, max);
            put_refcount(&mut block, 6, order, 1);
            assert_eq!(get_refcount(&block, 5, order), max, "order {order}");
            assert_eq!(get_refcount(&block, 6, order), 1, "order {order}");
            assert_eq!(get_refcount(&block, 4, order), 0, "order {order}");
            assert_eq!(get_refcount(&block, 7, order), 0, "order {order}");
        }
        // The spec's layout: 1-bit refcount 0 is bit 0 of byte 0; 16-bit ones are big-endian.
        let mut b = vec![0u8; 4];
        put_refcount(&mut b, 0, 0, 1);
        put_refcount(&mut b, 9, 0, 1);
        assert_eq!(b, [0x01, 0x02, 0, 0]);
        let mut b = vec![0u8; 4];
        put_refcount(&mut b, 1, 4, 0x1234);
        assert_eq!(b, [0, 0, 0x12, 0x34]);
    }

    #[test]
    fn the_compressed_descriptor_splits_at_62_minus_cluster_bits_minus_8() {
        let f = tempfile_for_test();
        write_new_image(&f.1, 1 << 20, 16).unwrap();
        let (q, _) = Qcow2::load(f.1.try_clone().unwrap(), true, "t").ok().unwrap();
        // 64 KiB clusters: x = 54; offset 0x10_0123, 3 additional sectors.
        let e = OFLAG_COMPRESSED | (3u64 << 54) | 0x10_0123;
        assert_eq!(q.compressed_extent(e), (0x10_0123, 4 * 512 - 0x123));
        std::fs::remove_file(f.0).unwrap();
    }

    fn tempfile_for_test() -> (std::path::PathBuf, File) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p =
            std::env::temp_dir().join(format!("ironpc-qcow2-unit-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
        (p, f)
    }

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn open_rw(f: &File) -> Qcow2 {
        Qcow2::load(f.try_clone().unwrap(), false, "t").ok().unwrap().0
    }

    #[test]
    fn random_writes_read_back_before_and_after_reopening() {
        for cluster_bits in [9, 12, 16] {
            let seed = 0x1234_5678 + u64::from(cluster_bits);
            println!("seed {seed:#x}");
            let mut rng = Rng(seed);
            let size = 4u64 << 20;
            let f = tempfile_for_test();
            write_new_image(&f.1, size, cluster_bits).unwrap();
            let mut model = vec![0u8; size as usize];
            let mut q = open_rw(&f.1);
            for n in 0..300 {
                let len = (rng.next() % 9000) as usize + 1;
                let off = rng.next() % (size - len as u64);
                let fill = (rng.next() & 0xff) as u8;
                let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                q.write_at(off, &data).unwrap();
                model[off as usize..off as usize + len].copy_from_slice(&data);
                if n % 50 == 0 {
                    q.flush().unwrap();
                }
            }
            let mut back = vec![0u8; size as usize];
            q.read_at(0, &mut back).unwrap();
            assert!(back == model, "cluster_bits {cluster_bits}: reads before reopening");
            drop(q);
            let mut q = open_rw(&f.1);
            back.fill(0xee);
            q.read_at(0, &mut back).unwrap();
            assert!(back == model, "cluster_bits {cluster_bits}: reads after reopening");
            std::fs::remove_file(f.0).unwrap();
        }
    }

    #[test]
    fn a_corrupt_or_truncated_header_is_an_error_not_a_panic() {
        let f = tempfile_for_test();
        write_new_image(&f.1, 1 << 20, 12).unwrap();
        let good = std::fs::read(&f.0).unwrap();
        for cut in [0usize, 3, 50, 71, 100, 4096, 4096 * 3 + 4] {
            std::fs::write(&f.0, &good[..cut]).unwrap();
            let r = Qcow2::load(File::open(&f.0).unwrap(), true, "t");
            assert!(matches!(r, Err(Bad::Corrupt(_))), "cut at {cut}");
        }
        let seed = 0xC0FFEE;
        println!("seed {seed:#x}");
        let mut rng = Rng(seed);
        for _ in 0..2000 {
            let mut img = good.clone();
            for _ in 0..1 + rng.next() % 3 {
                let at = (rng.next() % 112) as usize;
                img[at] = rng.next() as u8;
            }
            std::fs::write(&f.0, &img).unwrap();
            if let Ok((mut q, _)) = Qcow2::load(File::open(&f.0).unwrap(), true, "t") {
                let mut buf = vec![0u8; 4096];
                let size = q.size();
                for off in [0, size / 2, size.saturating_sub(4096)] {
                    let _ = q.read_at(off, &mut buf);
                }
            }
        }
        std::fs::remove_file(f.0).unwrap();
    }

    fn qemu_img(args: &[&str]) -> Option<std::process::Output> {
        std::process::Command::new("qemu-img").args(args).output().ok()
    }

    /// Stops the guest's writes at every write barrier and has `qemu-img
    /// check` judge each state a crash could leave: leaked clusters are
    /// allowed, errors are not.
    #[test]
    fn a_crash_at_any_write_barrier_leaves_at_worst_leaks() {
        if qemu_img(&["--version"]).is_none_or(|o| !o.status.success()) {
            eprintln!("skipped: qemu-img not installed");
            return;
        }
        let dir = tempfile_for_test().0;
        let _ = std::fs::remove_file(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
        // Ours (512-byte clusters: new L2 tables and refcount blocks);
        // 64-bit refcounts (the refcount table moves); compressed clusters
        // under an internal snapshot (copies of shared clusters, frees).
        let a = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path("a.qcow2")).unwrap();
        write_new_image(&a, 8 << 20, 9).unwrap();
        drop(a);
        qemu_img(&["create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64", &path("b.qcow2"), "8M"]).unwrap();
        let mut rng = Rng(0xDEAD_BEEF);
        println!("seed {:#x}", rng.0);
        let src: Vec<u8> = (0..4u32 << 20).map(|i| if i % 7000 < 3000 { rng.next() as u8 } else { (i / 512) as u8 }).collect();
        std::fs::write(path("src.raw"), &src).unwrap();
        qemu_img(&["convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", &path("src.raw"), &path("c.qcow2")]).unwrap();
        qemu_img(&["snapshot", "-c", "s1", &path("c.qcow2")]).unwrap();

        for img in ["a.qcow2", "b.qcow2", "c.qcow2"] {
            let file = std::fs::OpenOptions::new().read(true).write(true).open(path(img)).unwrap();
            let mut q = Qcow2::load(file, false, img).ok().unwrap().0;
            CRASH_STATES.with(|s| *s.borrow_mut() = Some(Vec::new()));
            for n in 0..240 {
                let len = (rng.next() % 12_000) as usize + 1;
                let off = rng.next() % (q.size() - len as u64);
                q.write_at(off, &vec![n as u8; len]).unwrap();
                if n % 40 == 39 {
                    q.flush().unwrap();
                }
            }
            let states = CRASH_STATES.with(|s| s.borrow_mut().take()).unwrap();
            drop(q);
            assert!(states.len() > 10, "{img}: only {} barriers", states.len());
            for (i, state) in states.iter().enumerate() {
                std::fs::write(path("state.qcow2"), state).unwrap();
                let out = qemu_img(&["check", &path("state.qcow2")]).unwrap();
                // 0: clean; 3: leaked clusters only.
                let code = out.status.code();
                assert!(
                    code == Some(0) || code == Some(3),
                    "{img}, barrier {i}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let out = qemu_img(&["check", &path(img)]).unwrap();
            assert_eq!(out.status.code(), Some(0), "{img}: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
