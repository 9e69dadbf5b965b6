//! A small encoder for the ACPI Machine Language (ACPI 6.5, chapter 20
//! "ACPI Machine Language (AML) Specification"): just what the DSDT of a
//! PIIX-based PC needs — names, integers, strings, buffers, packages,
//! scopes, devices, methods with a few statements, and the resource
//! descriptors of chapter 6.4 used in `_CRS`.
//!
//! Every function returns the encoded bytes of one term; terms are
//! concatenated into term lists (`&[Vec<u8>]`). Name strings are written
//! by the firmware, not by the guest, so a malformed one is a bug caught
//! by `debug_assert!` and by the tests, never a panic in release builds.

/// ZeroOp, OneOp, OnesOp (20.2.3 "Data Objects Encoding").
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const ONES_OP: u8 = 0xFF;
const BYTE_PREFIX: u8 = 0x0A;
const WORD_PREFIX: u8 = 0x0B;
const DWORD_PREFIX: u8 = 0x0C;
const STRING_PREFIX: u8 = 0x0D;
const QWORD_PREFIX: u8 = 0x0E;
/// Name-space modifier and named-object opcodes (20.2.5).
const NAME_OP: u8 = 0x08;
const SCOPE_OP: u8 = 0x10;
const BUFFER_OP: u8 = 0x11;
const PACKAGE_OP: u8 = 0x12;
const METHOD_OP: u8 = 0x14;
const EXT_OP_PREFIX: u8 = 0x5B;
const EXT_DEVICE: u8 = 0x82;
/// Statement and expression opcodes (20.2.5.3, 20.2.5.4).
const STORE_OP: u8 = 0x70;
const RETURN_OP: u8 = 0xA4;
const LOCAL0_OP: u8 = 0x60;
const ARG0_OP: u8 = 0x68;
/// Name string prefixes (20.2.2).
const ROOT_CHAR: u8 = b'\\';
const PARENT_PREFIX: u8 = b'^';
const DUAL_NAME_PREFIX: u8 = 0x2E;
const MULTI_NAME_PREFIX: u8 = 0x2F;
const NULL_NAME: u8 = 0x00;

/// PkgLength (20.2.4): the length of what follows *including* the
/// PkgLength bytes themselves, in 1 to 4 bytes. One byte holds up to 63;
/// longer lengths put the byte count minus one in bits 7:6 of the lead
/// byte, its low nibble in bits 3:0, and the rest in the following bytes.
pub fn pkg_length(body_len: usize) -> Vec<u8> {
    if body_len + 1 < 1 << 6 {
        return vec![(body_len + 1) as u8];
    }
    let (count, total) = if body_len + 2 < 1 << 12 {
        (2, body_len + 2)
    } else if body_len + 3 < 1 << 20 {
        (3, body_len + 3)
    } else {
        (4, body_len + 4)
    };
    let mut out = vec![(((count - 1) as u8) << 6) | (total & 0xF) as u8];
    for i in 1..count {
        out.push((total >> (4 + 8 * (i - 1))) as u8);
    }
    out
}

/// One NameSeg: four characters from `A-Z0-9_`, padded with `_`.
fn name_seg(seg: &str) -> [u8; 4] {
    debug_assert!(
        !seg.is_empty()
            && seg.len() <= 4
            && seg.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
            && !seg.as_bytes()[0].is_ascii_digit(),
        "bad AML name segment {seg:?}"
    );
    let mut out = [b'_'; 4];
    for (o, c) in out.iter_mut().zip(seg.bytes()) {
        *o = c;
    }
    out
}

/// A NameString (20.2.2) from ASL notation: `\_SB.PCI0`, `^LNKA`, `_S5`.
pub fn name_string(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = path;
    if let Some(r) = rest.strip_prefix('\\') {
        out.push(ROOT_CHAR);
        rest = r;
    }
    while let Some(r) = rest.strip_prefix('^') {
        out.push(PARENT_PREFIX);
        rest = r;
    }
    let segs: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('.').collect() };
    match segs.len() {
        0 => out.push(NULL_NAME),
        1 => {}
        2 => out.push(DUAL_NAME_PREFIX),
        n => {
            out.push(MULTI_NAME_PREFIX);
            out.push(n as u8);
        }
    }
    for seg in segs {
        out.extend_from_slice(&name_seg(seg));
    }
    out
}

/// An Integer in its shortest encoding (ZeroOp, OneOp, OnesOp or a
/// byte/word/dword/qword constant).
pub fn integer(value: u64) -> Vec<u8> {
    match value {
        0 => vec![ZERO_OP],
        1 => vec![ONE_OP],
        u64::MAX => vec![ONES_OP],
        v if v <= 0xFF => vec![BYTE_PREFIX, v as u8],
        v if v <= 0xFFFF => {
            let mut out = vec![WORD_PREFIX];
            out.extend_from_slice(&(v as u16).to_le_bytes());
            out
        }
        v if v <= 0xFFFF_FFFF => {
            let mut out = vec![DWORD_PREFIX];
            out.extend_from_slice(&(v as u32).to_le_bytes());
            out
        }
        v => {
            let mut out = vec![QWORD_PREFIX];
            out.extend_from_slice(&v.to_le_bytes());
            out
        }
    }
}

/// A String constant (ASCII, NUL-terminated).
pub fn string(s: &str) -> Vec<u8> {
    let mut out = vec![STRING_PREFIX];
    out.extend(s.bytes().filter(|&c| c != 0 && c < 0x80));
    out.push(0);
    out
}

/// A compressed EISA ID (`EisaId("PNP0A03")`, 6.1.5 "_HID"): three
/// letters of five bits each, then four hex digits, stored as a DWord.
pub fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    debug_assert!(b.len() == 7, "bad EISA id {id:?}");
    let letter = |i: usize| u32::from(b.get(i).copied().unwrap_or(b'@').wrapping_sub(0x40) & 0x1F);
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16)).unwrap_or(0);
    let b0 = (letter(0) << 2) | (letter(1) >> 3);
    let b1 = ((letter(1) & 7) << 5) | letter(2);
    let b2 = (hex(3) << 4) | hex(4);
    let b3 = (hex(5) << 4) | hex(6);
    b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)
}

/// `opcode PkgLength body`.
fn with_pkg(opcode: &[u8], body: Vec<u8>) -> Vec<u8> {
    let mut out = opcode.to_vec();
    out.extend(pkg_length(body.len()));
    out.extend(body);
    out
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A Buffer of raw bytes.
pub fn buffer(data: &[u8]) -> Vec<u8> {
    let mut body = integer(data.len() as u64);
    body.extend_from_slice(data);
    with_pkg(&[BUFFER_OP], body)
}

/// A Package of at most 255 elements (each an encoded data object).
pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
    debug_assert!(elements.len() <= 255);
    let mut body = vec![elements.len().min(255) as u8];
    body.extend(concat(elements));
    with_pkg(&[PACKAGE_OP], body)
}

/// `Name(path, value)`.
pub fn name(path: &str, value: Vec<u8>) -> Vec<u8> {
    let mut out = vec![NAME_OP];
    out.extend(name_string(path));
    out.extend(value);
    out
}

/// `Scope(path) { body }`.
pub fn scope(path: &str, body: &[Vec<u8>]) -> Vec<u8> {
    let mut b = name_string(path);
    b.extend(concat(body));
    with_pkg(&[SCOPE_OP], b)
}

/// `Device(path) { body }`.
pub fn device(path: &str, body: &[Vec<u8>]) -> Vec<u8> {
    let mut b = name_string(path);
    b.extend(concat(body));
    with_pkg(&[EXT_OP_PREFIX, EXT_DEVICE], b)
}

/// `Method(path, args, Serialized|NotSerialized) { body }`.
pub fn method(path: &str, args: u8, serialized: bool, body: &[Vec<u8>]) -> Vec<u8> {
    let mut b = name_string(path);
    b.push((args & 7) | if serialized { 1 << 3 } else { 0 });
    b.extend(concat(body));
    with_pkg(&[METHOD_OP], b)
}

/// `ArgN` (N in 0..=6).
pub fn arg(n: u8) -> Vec<u8> {
    vec![ARG0_OP + n.min(6)]
}

/// `LocalN` (N in 0..=7).
pub fn local(n: u8) -> Vec<u8> {
    vec![LOCAL0_OP + n.min(7)]
}

/// A reference to a named object, as an operand.
pub fn name_ref(path: &str) -> Vec<u8> {
    name_string(path)
}

/// `Store(source, target)`.
pub fn store(source: Vec<u8>, target: Vec<u8>) -> Vec<u8> {
    let mut out = vec![STORE_OP];
    out.extend(source);
    out.extend(target);
    out
}

/// `Return(value)`.
pub fn ret(value: Vec<u8>) -> Vec<u8> {
    let mut out = vec![RETURN_OP];
    out.extend(value);
    out
}

/// Resource descriptors (6.4 "Resource Data Types for ACPI") for
/// `ResourceTemplate()` buffers.
pub mod res {
    /// IRQNoFlags: a small descriptor with a 16-bit IRQ mask; the
    /// interrupt is ISA-style (edge, active high).
    pub fn irq_no_flags(irq: u8) -> Vec<u8> {
        let mask = 1u16 << (irq & 15);
        let m = mask.to_le_bytes();
        vec![0x22, m[0], m[1]]
    }

    /// IO(Decode16, min, max, alignment, length).
    pub fn io(min: u16, max: u16, align: u8, len: u8) -> Vec<u8> {
        let a = min.to_le_bytes();
        let b = max.to_le_bytes();
        vec![0x47, 0x01, a[0], a[1], b[0], b[1], align, len]
    }

    /// General flags of an address space descriptor (6.4.3.5): a
    /// producer, positive decode, fixed minimum and maximum.
    const PRODUCER_FIXED: u8 = 0x0C;

    fn word_space(kind: u8, type_flags: u8, min: u16, max: u16) -> Vec<u8> {
        let len = max.wrapping_sub(min).wrapping_add(1);
        let mut out = vec![0x88, 0x0D, 0x00, kind, PRODUCER_FIXED, type_flags];
        for v in [0, min, max, 0, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...).
    pub fn word_bus_number(min: u16, max: u16) -> Vec<u8> {
        word_space(2, 0, min, max)
    }

    /// WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...).
    pub fn word_io(min: u16, max: u16) -> Vec<u8> {
        word_space(1, 0x03, min, max)
    }

    /// DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed,
    /// Cacheable or NonCacheable, ReadWrite, ...).
    pub fn dword_memory(min: u32, max: u32, cacheable: bool) -> Vec<u8> {
        let len = max.wrapping_sub(min).wrapping_add(1);
        let type_flags = 0x01 | if cacheable { 0x02 } else { 0x00 };
        let mut out = vec![0x87, 0x17, 0x00, 0x00, PRODUCER_FIXED, type_flags];
        for v in [0, min, max, 0, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `ResourceTemplate() { descriptors }`: a Buffer ending with an End
    /// Tag whose checksum byte is zero ("treated as checksummed").
    pub fn template(descriptors: &[Vec<u8>]) -> Vec<u8> {
        let mut data = descriptors.concat();
        data.extend_from_slice(&[0x79, 0x00]);
        super::buffer(&data)
    }
}
