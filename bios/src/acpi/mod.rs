//! ACPI tables for direct entry: what SeaBIOS/QEMU would give a kernel on
//! QEMU's `pc` machine, built by ironpc itself when no firmware runs.
//!
//! Layouts from the ACPI specification (6.5: 5.2.5 RSDP, 5.2.6 system
//! description table header, 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 FADT (the 1.0
//! form is ACPI 1.0b 5.2.5), 5.2.10 FACS, 5.2.11.1 DSDT); the values are
//! those of the PIIX4 power-management function (82371AB datasheet,
//! "Power Management Registers"; QEMU places its I/O block at 0x600, the
//! GPE0 block at 0xAFE0 and the SCI on IRQ 9, and answers SMI_CMD 0xB2
//! with ACPI_ENABLE 0xF1 / ACPI_DISABLE 0xF0). PCI interrupts follow the
//! PIIX3 PIRQ swizzle (PIRQ = (slot + pin - 1) mod 4, as SeaBIOS's
//! `piix_pci_slot_get_irq` computes it) with PIRQA..D on IRQ 10, 10, 11,
//! 11, the values SeaBIOS programs into the PIIX3 PIRQRC registers.
//!
//! One blob holds everything: the RSDP at offset 0 (place the blob, or a
//! copy of its first bytes, where the guest looks: the EBDA's first KiB,
//! 0xE0000-0xFFFFF, or Linux's `boot_params.acpi_rsdp_addr`), then FACS,
//! DSDT, FADT, RSDT and (ACPI 2.0 form) XSDT, every pointer computed for
//! the blob's physical address.

pub mod aml;

/// E820 type of the memory holding the tables: ACPI reclaimable.
pub const E820_ACPI: u32 = crate::e820::E820_ACPI;

/// PIIX4 PM I/O base (PMBA, function 3 config 0x40) as QEMU sets it.
pub const PM_BASE: u16 = 0x600;
/// PM1a event block (PM1_STS/PM1_EN), 4 bytes.
pub const PM1A_EVT_BLK: u16 = PM_BASE;
/// PM1a control block (PM1_CNT), 2 bytes.
pub const PM1A_CNT_BLK: u16 = PM_BASE + 0x04;
/// PM timer (3.579545 MHz, 24 bits), 4 bytes.
pub const PM_TMR_BLK: u16 = PM_BASE + 0x08;
/// GPE0 block (status then enable), 4 bytes.
pub const GPE0_BLK: u16 = 0xAFE0;
pub const GPE0_BLK_LEN: u8 = 4;
/// SCI interrupt (ISA IRQ 9, level, shared).
pub const SCI_IRQ: u8 = 9;
/// APM control port: writing ACPI_ENABLE sets SCI_EN in PM1_CNT.
pub const SMI_CMD: u16 = 0xB2;
pub const ACPI_ENABLE: u8 = 0xF1;
pub const ACPI_DISABLE: u8 = 0xF0;
/// SLP_TYP for S5 on the PIIX4 (\_S5 package); the guest writes
/// `SLP_TYP << 10 | SLP_EN (1 << 13)` to PM1a_CNT to power off.
pub const SLP_TYP_S5: u8 = 0;
/// IRQs routed to PIRQA..PIRQD (PIIX3 config 0x60..0x63).
pub const PIRQ_IRQS: [u8; 4] = [10, 10, 11, 11];
/// A PCI configuration write: (device, function, register, size, value)
/// on bus 0.
pub type PciConfigWrite = (u8, u8, u8, u8, u32);

/// What SeaBIOS programs before the OS runs and these tables assume, for a
/// direct entry to replay through 0xCF8/0xCFC (SeaBIOS `piix4_pm_setup`,
/// `piix_isa_bridge_setup`): the PIIX4 PM block at [`PM_BASE`] (PMBA 0x40,
/// bit 0 reads 1) and enabled (PMREGMISC 0x80 bit 0), and PIRQA..D routed
/// to [`PIRQ_IRQS`] (PIIX3 PIRQRC 0x60-0x63).
pub const DIRECT_ENTRY_PCI_CONFIG: [PciConfigWrite; 6] = [
    (1, 3, 0x40, 4, PM_BASE as u32 | 1),
    (1, 3, 0x80, 1, 1),
    (1, 0, 0x60, 1, PIRQ_IRQS[0] as u32),
    (1, 0, 0x61, 1, PIRQ_IRQS[1] as u32),
    (1, 0, 0x62, 1, PIRQ_IRQS[2] as u32),
    (1, 0, 0x63, 1, PIRQ_IRQS[3] as u32),
];

/// The EBDA of a PC with 639 KiB of base memory (the range
/// `linux::pc_e820` reserves), and the BDA word that holds its segment.
pub const EBDA_ADDR: u64 = 0x9_FC00;
pub const BDA_EBDA_SEGMENT: u64 = 0x40E;
/// Top of the PCI memory window: the I/O APIC sits at 0xFEC00000.
pub const PCI_HOLE_END: u32 = 0xFEBF_FFFF;

const OEM_ID: &[u8; 6] = b"IRONPC";
const OEM_REVISION: u32 = 1;
const CREATOR_ID: &[u8; 4] = b"IRPC";
const CREATOR_REVISION: u32 = 1;
const HEADER_LEN: usize = 36;

/// FADT flags QEMU sets for the `pc` machine (5.2.9 table "Fixed ACPI
/// Description Table Fixed Feature Flags").
const FADT_F_WBINVD: u32 = 1 << 0;
const FADT_F_PROC_C1: u32 = 1 << 2;
const FADT_F_SLP_BUTTON: u32 = 1 << 5;
const FADT_F_RTC_S4: u32 = 1 << 7;
const FADT_F_USE_PLATFORM_CLOCK: u32 = 1 << 15;
pub const FADT_FLAGS: u32 = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RTC_S4 | FADT_F_USE_PLATFORM_CLOCK;
/// IAPC_BOOT_ARCH bit 1: an 8042 is present (FADT revision 2 and later).
const IAPC_BOOT_ARCH_8042: u16 = 1 << 1;
/// CMOS index of the century byte.
const RTC_CENTURY: u8 = 0x32;

/// Which ACPI generation the tables follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiRevision {
    /// What QEMU's `pc` machine presents: RSDP revision 0 (20 bytes),
    /// RSDT, FADT revision 1 (116 bytes).
    V1,
    /// RSDP revision 2 (36 bytes) with both RSDT and XSDT, FADT revision 3
    /// (244 bytes) with the 64-bit X_ fields.
    V2,
}

/// Why the tables cannot be built at the requested place.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcpiError {
    #[error("ACPI tables must start on a 64-byte boundary (FACS alignment), not at {0:#x}")]
    Misaligned(u64),
    #[error("ACPI tables at {0:#x} would cross 4 GiB")]
    Above4G(u64),
}

/// The tables, ready to be copied to `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTables {
    /// Physical address the blob is built for.
    pub base: u32,
    /// The bytes to write at `base`.
    pub bytes: Vec<u8>,
    /// Physical address of the RSDP (= `base`).
    pub rsdp: u32,
    /// Physical addresses of the other tables.
    pub facs: u32,
    pub dsdt: u32,
    pub fadt: u32,
    pub rsdt: u32,
    /// Zero in the ACPI 1.0 form.
    pub xsdt: u32,
}

impl AcpiTables {
    /// The RSDP alone (20 bytes in the 1.0 form, 36 in the 2.0 form). It
    /// holds only absolute addresses, so a copy works anywhere: for
    /// example at the start of the EBDA (0x9FC00 with the BDA word at
    /// 0x40E = 0x9FC0), where kernels that scan for "RSD PTR " look first.
    pub fn rsdp_bytes(&self) -> &[u8] {
        let len = if self.xsdt != 0 { 36 } else { 20 };
        &self.bytes[..len.min(self.bytes.len())]
    }

    /// What a direct entry writes into RAM: the tables at `base`, a copy
    /// of the RSDP at the start of the EBDA ([`EBDA_ADDR`]) and the BDA's
    /// EBDA segment word (0x40E) pointing there, so that kernels which
    /// scan for "RSD PTR " (ACPI 6.5, 5.2.5.1: the EBDA's first KiB, then
    /// 0xE0000-0xFFFFF) find it without firmware. Linux also takes the
    /// address from `boot_params.acpi_rsdp_addr`.
    pub fn direct_entry_writes(&self) -> Vec<(u64, Vec<u8>)> {
        vec![
            (u64::from(self.base), self.bytes.clone()),
            (EBDA_ADDR, self.rsdp_bytes().to_vec()),
            (BDA_EBDA_SEGMENT, ((EBDA_ADDR >> 4) as u16).to_le_bytes().to_vec()),
        ]
    }
}

/// Value that makes `bytes` sum to zero modulo 256.
fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

/// A system description table: header (5.2.6) + body, length and
/// checksum filled in.
fn sdt(signature: &[u8; 4], revision: u8, table_id: &[u8; 8], body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()) as u32;
    let mut t = Vec::with_capacity(len as usize);
    t.extend_from_slice(signature);
    t.extend_from_slice(&len.to_le_bytes());
    t.push(revision);
    t.push(0);
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(table_id);
    t.extend_from_slice(&OEM_REVISION.to_le_bytes());
    t.extend_from_slice(CREATOR_ID);
    t.extend_from_slice(&CREATOR_REVISION.to_le_bytes());
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// RSDP (5.2.5.3): the 20-byte 1.0 form, or the 36-byte 2.0 form whose
/// first 20 bytes still checksum on their own.
fn rsdp(revision: AcpiRevision, rsdt: u32, xsdt: u32) -> Vec<u8> {
    let mut r = Vec::with_capacity(36);
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(OEM_ID);
    r.push(if revision == AcpiRevision::V2 { 2 } else { 0 });
    r.extend_from_slice(&rsdt.to_le_bytes());
    r[8] = checksum(&r);
    if revision == AcpiRevision::V2 {
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&u64::from(xsdt).to_le_bytes());
        r.push(0);
        r.extend_from_slice(&[0; 3]);
        r[32] = checksum(&r);
    }
    r
}

/// FACS (5.2.10): 64 bytes, no waking vector, no global lock owner.
fn facs(revision: AcpiRevision) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..4].copy_from_slice(b"FACS");
    f[4..8].copy_from_slice(&64u32.to_le_bytes());
    if revision == AcpiRevision::V2 {
        f[32] = 1; // version of the FACS layout (ACPI 2.0)
    }
    f
}

/// Generic Address Structure (5.2.3.2) for a system I/O register block.
fn gas_io(port: u16, bytes: u8) -> [u8; 12] {
    let mut g = [0u8; 12];
    if port != 0 {
        g[0] = 1; // System I/O
        g[1] = bytes * 8;
        g[4..12].copy_from_slice(&u64::from(port).to_le_bytes());
    }
    g
}

/// FADT body (everything after the header): the 1.0 layout up to Flags
/// (offset 116), plus the ACPI 2.0 extension for revision 3.
fn fadt_body(revision: AcpiRevision, facs: u32, dsdt: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(208);
    b.extend_from_slice(&facs.to_le_bytes()); // FIRMWARE_CTRL
    b.extend_from_slice(&dsdt.to_le_bytes()); // DSDT
    b.push(1); // INT_MODEL (1.0) / reserved: QEMU writes 1
    b.push(0); // Preferred_PM_Profile: unspecified
    b.extend_from_slice(&u16::from(SCI_IRQ).to_le_bytes());
    b.extend_from_slice(&u32::from(SMI_CMD).to_le_bytes());
    b.push(ACPI_ENABLE);
    b.push(ACPI_DISABLE);
    b.push(0); // S4BIOS_REQ
    b.push(0); // PSTATE_CNT
    for blk in [PM1A_EVT_BLK, 0, PM1A_CNT_BLK, 0, 0, PM_TMR_BLK, GPE0_BLK, 0] {
        b.extend_from_slice(&u32::from(blk).to_le_bytes());
    }
    // PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN, GPE0_BLK_LEN,
    // GPE1_BLK_LEN, GPE1_BASE, CST_CNT.
    b.extend_from_slice(&[4, 2, 0, 4, GPE0_BLK_LEN, 0, 0, 0]);
    b.extend_from_slice(&0x0FFFu16.to_le_bytes()); // P_LVL2_LAT: no C2
    b.extend_from_slice(&0x0FFFu16.to_le_bytes()); // P_LVL3_LAT: no C3
    b.extend_from_slice(&[0; 4]); // FLUSH_SIZE, FLUSH_STRIDE
    b.extend_from_slice(&[0, 0]); // DUTY_OFFSET, DUTY_WIDTH
    b.extend_from_slice(&[0, 0, RTC_CENTURY]); // DAY_ALRM, MON_ALRM, CENTURY
    let boot_arch = if revision == AcpiRevision::V2 { IAPC_BOOT_ARCH_8042 } else { 0 };
    b.extend_from_slice(&boot_arch.to_le_bytes());
    b.push(0); // reserved
    b.extend_from_slice(&FADT_FLAGS.to_le_bytes());
    if revision == AcpiRevision::V2 {
        b.extend_from_slice(&[0; 12]); // RESET_REG: not supported (flag clear)
        b.extend_from_slice(&[0; 4]); // RESET_VALUE, reserved
        b.extend_from_slice(&u64::from(facs).to_le_bytes()); // X_FIRMWARE_CTRL
        b.extend_from_slice(&u64::from(dsdt).to_le_bytes()); // X_DSDT
        let x_blocks =
            [(PM1A_EVT_BLK, 4), (0, 0), (PM1A_CNT_BLK, 2), (0, 0), (0, 0), (PM_TMR_BLK, 4), (GPE0_BLK, GPE0_BLK_LEN), (0, 0)];
        for (port, len) in x_blocks {
            b.extend_from_slice(&gas_io(port, len));
        }
    }
    b
}

/// The `_PRT` of the root bus in PIC mode: for every slot and pin a
/// package `{ slot << 16 | 0xFFFF, pin, 0, irq }` (6.2.13: with a zero
/// Source the last element is the global interrupt itself).
fn prt() -> Vec<u8> {
    let mut entries = Vec::with_capacity(128);
    for slot in 0u32..32 {
        for pin in 0u32..4 {
            let pirq = (slot + pin + 3) % 4;
            // The PIIX4 PM function (00:01.3) interrupts through the SCI.
            let irq = if slot == 1 && pin == 0 { SCI_IRQ } else { PIRQ_IRQS[pirq as usize] };
            entries.push(aml::package(&[
                aml::integer(u64::from(slot << 16 | 0xFFFF)),
                aml::integer(u64::from(pin)),
                aml::integer(0),
                aml::integer(u64::from(irq)),
            ]));
        }
    }
    // 128 entries fit a DefPackage (NumElements is one byte, up to 255).
    aml::name("_PRT", aml::package(&entries))
}

/// The PCI root bridge's resources: bus 0-255, the config ports, all other
/// I/O, the VGA window and the PCI memory hole above RAM.
fn pci0_crs(ram_below_4g: u64) -> Vec<u8> {
    let hole_start = ram_below_4g.min(u64::from(PCI_HOLE_END)) as u32;
    aml::name(
        "_CRS",
        aml::res::template(&[
            aml::res::word_bus_number(0x00, 0xFF),
            aml::res::io(0x0CF8, 0x0CF8, 0x01, 0x08),
            aml::res::word_io(0x0000, 0x0CF7),
            aml::res::word_io(0x0D00, 0xFFFF),
            aml::res::dword_memory(0x000A_0000, 0x000B_FFFF, true),
            aml::res::dword_memory(hole_start, PCI_HOLE_END, false),
        ]),
    )
}

/// `Device(name) { _HID, [_UID], _CRS }` for a legacy ISA device.
fn isa_device(name: &str, hid: &str, uid: Option<u64>, crs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![aml::name("_HID", aml::integer(u64::from(aml::eisa_id(hid))))];
    if let Some(uid) = uid {
        body.push(aml::name("_UID", aml::integer(uid)));
    }
    body.push(aml::name("_CRS", aml::res::template(crs)));
    aml::device(name, &body)
}

/// The DSDT's definition block (the AML after the table header).
pub fn dsdt_aml(ram_below_4g: u64) -> Vec<u8> {
    use aml::res;
    let root = aml::scope(
        "\\",
        &[
            // PM1a_CNT.SLP_TYP, PM1b_CNT.SLP_TYP, reserved, reserved.
            aml::name(
                "_S5",
                aml::package(&[aml::integer(u64::from(SLP_TYP_S5)), aml::integer(0), aml::integer(0), aml::integer(0)]),
            ),
            aml::name("PICF", aml::integer(0)),
            aml::method("_PIC", 1, false, &[aml::store(aml::arg(0), aml::name_ref("PICF"))]),
        ],
    );
    let isa = aml::device(
        "ISA",
        &[
            aml::name("_ADR", aml::integer(0x0001_0000)),
            isa_device("RTC", "PNP0B00", None, &[res::io(0x70, 0x70, 0x01, 0x02), res::irq_no_flags(8)]),
            isa_device(
                "KBD",
                "PNP0303",
                None,
                &[res::io(0x60, 0x60, 0x01, 0x01), res::io(0x64, 0x64, 0x01, 0x01), res::irq_no_flags(1)],
            ),
            isa_device("MOU", "PNP0F13", None, &[res::irq_no_flags(12)]),
            isa_device("COM1", "PNP0501", Some(1), &[res::io(0x3F8, 0x3F8, 0x00, 0x08), res::irq_no_flags(4)]),
        ],
    );
    let pci0 = aml::device(
        "PCI0",
        &[
            aml::name("_HID", aml::integer(u64::from(aml::eisa_id("PNP0A03")))),
            aml::name("_ADR", aml::integer(0)),
            aml::name("_UID", aml::integer(0)),
            pci0_crs(ram_below_4g),
            prt(),
            isa,
        ],
    );
    let sb = aml::scope("\\_SB", &[pci0]);
    [root, sb].concat()
}

/// Room set aside for the tables at the top of RAM by
/// [`install_at_top_of_ram`] (the tables take under 4 KiB).
pub const ACPI_REGION: u64 = 64 * 1024;

/// For direct entry: builds the tables in the last [`ACPI_REGION`] bytes
/// of RAM below 4 GiB and marks that region ACPI-reclaimable in `map`.
/// `ram_below_4g` is the end of RAM under 4 GiB; the PCI window in the
/// DSDT starts there.
pub fn install_at_top_of_ram(
    map: &mut Vec<crate::e820::E820Entry>,
    ram_below_4g: u64,
    revision: AcpiRevision,
) -> Result<AcpiTables, AcpiError> {
    let base = ram_below_4g.saturating_sub(ACPI_REGION) & !(ACPI_REGION - 1);
    let tables = build_tables(ram_below_4g, base, revision)?;
    crate::e820::reserve(map, base, ACPI_REGION, E820_ACPI);
    Ok(tables)
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Builds all tables for a machine with `ram_below_4g` bytes of RAM under
/// 4 GiB, to be placed at physical address `base` (64-byte aligned).
pub fn build_tables(ram_below_4g: u64, base: u64, revision: AcpiRevision) -> Result<AcpiTables, AcpiError> {
    if !base.is_multiple_of(64) {
        return Err(AcpiError::Misaligned(base));
    }
    let dsdt_table = sdt(b"DSDT", 1, b"IRONPCDT", &dsdt_aml(ram_below_4g));
    let fadt_rev = if revision == AcpiRevision::V2 { 3 } else { 1 };
    let fadt_len = if revision == AcpiRevision::V2 { 244 } else { 116 };

    let facs_off = 64;
    let dsdt_off = facs_off + 64;
    let fadt_off = align(dsdt_off + dsdt_table.len(), 16);
    let rsdt_off = align(fadt_off + fadt_len, 16);
    let xsdt_off = align(rsdt_off + HEADER_LEN + 4, 16);
    let end = if revision == AcpiRevision::V2 { xsdt_off + HEADER_LEN + 8 } else { rsdt_off + HEADER_LEN + 4 };
    if base + end as u64 > 1 << 32 {
        return Err(AcpiError::Above4G(base));
    }
    let at = |off: usize| (base + off as u64) as u32;

    let fadt_table = sdt(b"FACP", fadt_rev, b"IRONPCFA", &fadt_body(revision, at(facs_off), at(dsdt_off)));
    debug_assert_eq!(fadt_table.len(), fadt_len);
    let rsdt_table = sdt(b"RSDT", 1, b"IRONPCRS", &at(fadt_off).to_le_bytes());
    let xsdt_table = sdt(b"XSDT", 1, b"IRONPCXS", &u64::from(at(fadt_off)).to_le_bytes());
    let xsdt = if revision == AcpiRevision::V2 { at(xsdt_off) } else { 0 };

    let mut bytes = vec![0u8; end];
    let mut put = |off: usize, data: &[u8]| bytes[off..off + data.len()].copy_from_slice(data);
    put(0, &rsdp(revision, at(rsdt_off), xsdt));
    put(facs_off, &facs(revision));
    put(dsdt_off, &dsdt_table);
    put(fadt_off, &fadt_table);
    put(rsdt_off, &rsdt_table);
    if revision == AcpiRevision::V2 {
        put(xsdt_off, &xsdt_table);
    }
    Ok(AcpiTables {
        base: at(0),
        bytes,
        rsdp: at(0),
        facs: at(facs_off),
        dsdt: at(dsdt_off),
        fadt: at(fadt_off),
        rsdt: at(rsdt_off),
        xsdt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded AML object: just the subset the encoder produces.
    #[derive(Clone, Debug, PartialEq)]
    enum Obj {
        Int(u64),
        Str(String),
        Buf(Vec<u8>),
        Pkg(Vec<Obj>),
        Name(String, Box<Obj>),
        Scope(String, Vec<Obj>),
        Device(String, Vec<Obj>),
        Method(String, u8, Vec<u8>),
    }

    fn u16_at(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }
    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    /// Decodes a PkgLength at `b[*i]`; returns the end offset it implies.
    fn pkg_len(b: &[u8], i: &mut usize) -> usize {
        let start = *i;
        let lead = b[*i] as usize;
        let count = lead >> 6;
        let mut len = if count == 0 { lead & 0x3F } else { lead & 0x0F };
        for k in 0..count {
            len |= (b[*i + 1 + k] as usize) << (4 + 8 * k);
        }
        *i += 1 + count;
        start + len
    }

    fn name_str(b: &[u8], i: &mut usize) -> String {
        let mut s = String::new();
        while b[*i] == b'\\' || b[*i] == b'^' {
            s.push(b[*i] as char);
            *i += 1;
        }
        let n = match b[*i] {
            0x00 => {
                *i += 1;
                0
            }
            0x2E => {
                *i += 1;
                2
            }
            0x2F => {
                *i += 2;
                b[*i - 1] as usize
            }
            _ => 1,
        };
        let segs: Vec<String> = (0..n).map(|k| String::from_utf8(b[*i + 4 * k..*i + 4 * k + 4].to_vec()).unwrap()).collect();
        *i += 4 * n;
        s + &segs.join(".")
    }

    fn data(b: &[u8], i: &mut usize) -> Obj {
        let op = b[*i];
        *i += 1;
        match op {
            0x00 => Obj::Int(0),
            0x01 => Obj::Int(1),
            0xFF => Obj::Int(u64::MAX),
            0x0A => {
                *i += 1;
                Obj::Int(u64::from(b[*i - 1]))
            }
            0x0B => {
                *i += 2;
                Obj::Int(u64::from(u16_at(b, *i - 2)))
            }
            0x0C => {
                *i += 4;
                Obj::Int(u64::from(u32_at(b, *i - 4)))
            }
            0x0E => {
                *i += 8;
                Obj::Int(u64_at(b, *i - 8))
            }
            0x0D => {
                let end = *i + b[*i..].iter().position(|&c| c == 0).unwrap();
                let s = String::from_utf8(b[*i..end].to_vec()).unwrap();
                *i = end + 1;
                Obj::Str(s)
            }
            0x11 => {
                let end = pkg_len(b, i);
                let Obj::Int(size) = data(b, i) else { panic!("buffer size") };
                assert_eq!(*i + size as usize, end, "buffer size matches its PkgLength");
                let v = b[*i..end].to_vec();
                *i = end;
                Obj::Buf(v)
            }
            0x12 => {
                let end = pkg_len(b, i);
                let n = b[*i] as usize;
                *i += 1;
                let items: Vec<Obj> = (0..n).map(|_| data(b, i)).collect();
                assert_eq!(*i, end, "package elements fill its PkgLength");
                Obj::Pkg(items)
            }
            _ => panic!("unexpected data opcode {op:#x} at {}", *i - 1),
        }
    }

    fn terms(b: &[u8], i: &mut usize, end: usize) -> Vec<Obj> {
        let mut out = Vec::new();
        while *i < end {
            match b[*i] {
                0x08 => {
                    *i += 1;
                    let n = name_str(b, i);
                    out.push(Obj::Name(n, Box::new(data(b, i))));
                }
                0x10 => {
                    *i += 1;
                    let e = pkg_len(b, i);
                    let n = name_str(b, i);
                    out.push(Obj::Scope(n, terms(b, i, e)));
                }
                0x5B if b[*i + 1] == 0x82 => {
                    *i += 2;
                    let e = pkg_len(b, i);
                    let n = name_str(b, i);
                    out.push(Obj::Device(n, terms(b, i, e)));
                }
                0x14 => {
                    *i += 1;
                    let e = pkg_len(b, i);
                    let n = name_str(b, i);
                    let flags = b[*i];
                    out.push(Obj::Method(n, flags, b[*i + 1..e].to_vec()));
                    *i = e;
                }
                op => panic!("unexpected term opcode {op:#x} at {}", *i),
            }
        }
        assert_eq!(*i, end);
        out
    }

    fn decode(aml_bytes: &[u8]) -> Vec<Obj> {
        terms(aml_bytes, &mut 0, aml_bytes.len())
    }

    /// Finds `path` (segments separated by '.') below the decoded terms.
    fn find<'a>(objs: &'a [Obj], path: &[&str]) -> Option<&'a Obj> {
        let (first, rest) = path.split_first()?;
        for o in objs {
            let (n, children) = match o {
                Obj::Scope(n, c) | Obj::Device(n, c) => (n.trim_start_matches('\\'), Some(c)),
                Obj::Name(n, _) | Obj::Method(n, _, _) => (n.as_str(), None),
                _ => continue,
            };
            // A scope named "_SB" or "\" is transparent for the root.
            if n.is_empty() {
                if let Some(found) = find(children.unwrap(), path) {
                    return Some(found);
                }
                continue;
            }
            if n == format!("{first:_<4}") {
                if rest.is_empty() {
                    return Some(o);
                }
                return find(children?, rest);
            }
        }
        None
    }

    fn name_value<'a>(objs: &'a [Obj], path: &[&str]) -> &'a Obj {
        match find(objs, path) {
            Some(Obj::Name(_, v)) => v,
            other => panic!("{path:?}: {other:?}"),
        }
    }

    fn sum(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |a, &x| a.wrapping_add(x))
    }

    const RAM: u64 = 256 << 20;
    const BASE: u64 = 0x0FFF_0000;

    /// The table at physical address `addr` inside the blob.
    fn table_at(t: &AcpiTables, addr: u64) -> &[u8] {
        let off = (addr - u64::from(t.base)) as usize;
        let len = u32_at(&t.bytes, off + 4) as usize;
        &t.bytes[off..off + len]
    }

    #[test]
    fn pkg_length_encodings_follow_20_2_4() {
        assert_eq!(aml::pkg_length(0), [0x01]);
        assert_eq!(aml::pkg_length(62), [0x3F]);
        // 63 + 2 = 65 = 0x41: lead byte 0b01 << 6 | 0x1, then 0x41 >> 4.
        assert_eq!(aml::pkg_length(63), [0x41, 0x04]);
        assert_eq!(aml::pkg_length(4093), [0x4F, 0xFF]);
        // 4094 + 3 = 4097 = 0x1001.
        assert_eq!(aml::pkg_length(4094), [0x81, 0x00, 0x01]);
    }

    #[test]
    fn integers_names_and_eisa_ids() {
        assert_eq!(aml::integer(0), [0x00]);
        assert_eq!(aml::integer(1), [0x01]);
        assert_eq!(aml::integer(0x12), [0x0A, 0x12]);
        assert_eq!(aml::integer(0x1234), [0x0B, 0x34, 0x12]);
        assert_eq!(aml::integer(0x12345678), [0x0C, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!(aml::integer(1 << 32)[0], 0x0E);
        assert_eq!(aml::name_string("_S5"), b"_S5_");
        assert_eq!(aml::name_string("\\_SB.PCI0"), b"\\\x2E_SB_PCI0");
        assert_eq!(aml::name_string("\\_SB.PCI0.ISA"), b"\\\x2F\x03_SB_PCI0ISA_");
        assert_eq!(aml::name_string("^LNKA"), b"^LNKA");
        assert_eq!(aml::name_string("\\"), b"\\\x00");
        // The well-known compressed forms: PNP0A03 = 0x030AD041 ("PNP" in
        // 5-bit letters: 0x41 0xD0, then 0x0A 0x03).
        assert_eq!(aml::eisa_id("PNP0A03"), 0x030A_D041);
        assert_eq!(aml::eisa_id("PNP0501"), 0x0105_D041);
    }

    #[test]
    fn dsdt_decodes_to_s5_pic_and_pci_root() {
        let objs = decode(&dsdt_aml(RAM));
        assert_eq!(name_value(&objs, &["_S5"]), &Obj::Pkg(vec![Obj::Int(0); 4]));
        match find(&objs, &["_PIC"]) {
            // One argument, not serialized; Store(Arg0, PICF).
            Some(Obj::Method(_, 1, body)) => assert_eq!(body, &[0x70, 0x68, b'P', b'I', b'C', b'F']),
            other => panic!("_PIC: {other:?}"),
        }
        let hid = name_value(&objs, &["_SB", "PCI0", "_HID"]);
        assert_eq!(hid, &Obj::Int(0x030A_D041));
        assert_eq!(name_value(&objs, &["_SB", "PCI0", "ISA_", "_ADR"]), &Obj::Int(0x0001_0000));
        let Obj::Buf(crs) = name_value(&objs, &["_SB", "PCI0", "ISA_", "COM1", "_CRS"]) else { panic!() };
        // IO(Decode16, 0x3F8, 0x3F8, 0, 8), IRQNoFlags(4), EndTag.
        assert_eq!(crs, &[0x47, 1, 0xF8, 3, 0xF8, 3, 0, 8, 0x22, 0x10, 0x00, 0x79, 0]);
    }

    #[test]
    fn prt_follows_the_piix3_swizzle() {
        let objs = decode(&dsdt_aml(RAM));
        let Obj::Pkg(entries) = name_value(&objs, &["_SB", "PCI0", "_PRT"]) else { panic!() };
        assert_eq!(entries.len(), 32 * 4);
        let irq_of = |slot: u64, pin: u64| {
            for e in entries {
                let Obj::Pkg(f) = e else { panic!() };
                if f[0] == Obj::Int(slot << 16 | 0xFFFF) && f[1] == Obj::Int(pin) {
                    assert_eq!(f[2], Obj::Int(0), "no link device: fixed GSI");
                    let Obj::Int(irq) = f[3] else { panic!() };
                    return irq;
                }
            }
            panic!("no entry for {slot}/{pin}")
        };
        // Slot 2 INTA -> PIRQB (10); slot 3 INTA -> PIRQC (11); slot 3
        // INTB -> PIRQD (11); slot 4 INTA -> PIRQD; slot 5 INTA -> PIRQA
        // (10); slot 0 INTA -> PIRQD.
        assert_eq!(irq_of(2, 0), 10);
        assert_eq!(irq_of(3, 0), 11);
        assert_eq!(irq_of(3, 1), 11);
        assert_eq!(irq_of(4, 0), 11);
        assert_eq!(irq_of(5, 0), 10);
        assert_eq!(irq_of(0, 0), 11);
        // The PM function's INTA is the SCI; the UHCI's INTD is PIRQD.
        assert_eq!(irq_of(1, 0), 9);
        assert_eq!(irq_of(1, 3), 11);
    }

    #[test]
    fn pci_window_starts_above_ram() {
        let objs = decode(&dsdt_aml(RAM));
        let Obj::Buf(crs) = name_value(&objs, &["_SB", "PCI0", "_CRS"]) else { panic!() };
        // The last DWordMemory descriptor (23 bytes + 3 header) before the
        // end tag: minimum at offset 10, maximum at 14, length at 22.
        let d = &crs[crs.len() - 2 - 26..crs.len() - 2];
        assert_eq!(d[0], 0x87);
        assert_eq!(u32_at(d, 10), RAM as u32);
        assert_eq!(u32_at(d, 14), 0xFEBF_FFFF);
        assert_eq!(u32_at(d, 22), 0xFEC0_0000 - RAM as u32);
    }

    fn check_common(t: &AcpiTables) {
        assert_eq!(t.base as u64, BASE);
        assert_eq!(t.facs % 64, 0);
        let rsdt = table_at(t, t.rsdt.into());
        assert_eq!(&rsdt[0..4], b"RSDT");
        assert_eq!(sum(rsdt), 0);
        assert_eq!(u32_at(rsdt, 36), t.fadt);
        let fadt = table_at(t, t.fadt.into());
        assert_eq!(&fadt[0..4], b"FACP");
        assert_eq!(sum(fadt), 0);
        assert_eq!(u32_at(fadt, 36), t.facs);
        assert_eq!(u32_at(fadt, 40), t.dsdt);
        assert_eq!(u16_at(fadt, 46), 9, "SCI_INT");
        assert_eq!(u32_at(fadt, 48), 0xB2, "SMI_CMD");
        assert_eq!((fadt[52], fadt[53]), (0xF1, 0xF0));
        assert_eq!(u32_at(fadt, 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(fadt, 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(fadt, 76), 0x608, "PM_TMR_BLK");
        assert_eq!(u32_at(fadt, 80), 0xAFE0, "GPE0_BLK");
        assert_eq!(&fadt[88..93], &[4, 2, 0, 4, 4]);
        assert_eq!(u32_at(fadt, 112), 0x80A5, "WBINVD|PROC_C1|SLP_BUTTON|RTC_S4|PLATFORM_CLOCK");
        let dsdt = table_at(t, t.dsdt.into());
        assert_eq!(&dsdt[0..4], b"DSDT");
        assert_eq!(sum(dsdt), 0);
        assert_eq!(&dsdt[36..], dsdt_aml(RAM).as_slice());
        let facs = &t.bytes[(t.facs - t.base) as usize..][..64];
        assert_eq!(&facs[0..4], b"FACS");
        assert_eq!(u32_at(facs, 4), 64);
        assert_eq!(&t.bytes[0..8], b"RSD PTR ");
        assert_eq!(sum(&t.bytes[0..20]), 0);
        assert_eq!(u32_at(&t.bytes, 16), t.rsdt);
        assert_eq!(sum(t.rsdp_bytes()), 0);
        assert_eq!(t.rsdp_bytes().len(), if t.xsdt != 0 { 36 } else { 20 });
    }

    #[test]
    fn acpi_1_tables_are_qemus_pc_layout() {
        let t = build_tables(RAM, BASE, AcpiRevision::V1).unwrap();
        check_common(&t);
        assert_eq!(t.bytes[15], 0, "RSDP revision 0");
        assert_eq!(table_at(&t, t.fadt.into()).len(), 116);
        assert_eq!(table_at(&t, t.fadt.into())[8], 1, "FADT revision 1");
        assert_eq!(t.xsdt, 0);
    }

    #[test]
    fn acpi_2_tables_add_xsdt_and_x_fields() {
        let t = build_tables(RAM, BASE, AcpiRevision::V2).unwrap();
        check_common(&t);
        assert_eq!(t.bytes[15], 2);
        assert_eq!(u32_at(&t.bytes, 20), 36);
        assert_eq!(sum(&t.bytes[0..36]), 0);
        assert_eq!(u64_at(&t.bytes, 24), u64::from(t.xsdt));
        let xsdt = table_at(&t, t.xsdt.into());
        assert_eq!(&xsdt[0..4], b"XSDT");
        assert_eq!(sum(xsdt), 0);
        assert_eq!(u64_at(xsdt, 36), u64::from(t.fadt));
        let fadt = table_at(&t, t.fadt.into());
        assert_eq!((fadt.len(), fadt[8]), (244, 3));
        assert_eq!(u64_at(fadt, 132), u64::from(t.facs));
        assert_eq!(u64_at(fadt, 140), u64::from(t.dsdt));
        // X_PM1a_CNT_BLK: system I/O, 16 bits, at 0x604.
        assert_eq!(&fadt[172..176], &[1, 16, 0, 0]);
        assert_eq!(u64_at(fadt, 176), 0x604);
        assert_eq!(u16_at(fadt, 109), 2, "IAPC_BOOT_ARCH: 8042");
    }

    #[test]
    fn top_of_ram_install_marks_the_map() {
        use crate::e820::{E820Entry, E820_RAM};
        let mut map = vec![
            E820Entry { addr: 0, len: 0x9FC00, kind: E820_RAM },
            E820Entry { addr: 0x100000, len: RAM - 0x100000, kind: E820_RAM },
        ];
        let t = install_at_top_of_ram(&mut map, RAM, AcpiRevision::V2).unwrap();
        assert_eq!(u64::from(t.base), RAM - 0x10000);
        assert_eq!(map[1], E820Entry { addr: 0x100000, len: RAM - 0x110000, kind: E820_RAM });
        assert_eq!(map[2], E820Entry { addr: RAM - 0x10000, len: 0x10000, kind: 3 });
        assert!(t.bytes.len() as u64 <= ACPI_REGION);
        let w = t.direct_entry_writes();
        assert_eq!(w[0], (u64::from(t.base), t.bytes.clone()));
        assert_eq!(w[1], (0x9FC00, t.bytes[..36].to_vec()));
        assert_eq!(w[2], (0x40E, vec![0xC0, 0x9F]));
    }

    #[test]
    fn direct_entry_config_matches_the_tables() {
        let pmba = DIRECT_ENTRY_PCI_CONFIG.iter().find(|w| (w.0, w.1, w.2) == (1, 3, 0x40)).unwrap();
        assert_eq!(pmba.4 & !1, 0x600);
        let t = build_tables(RAM, BASE, AcpiRevision::V1).unwrap();
        let fadt = table_at(&t, t.fadt.into());
        assert_eq!(u32_at(fadt, 56), pmba.4 & !1, "PM1a_EVT_BLK is the start of the PMBA block");
        let routes: Vec<u32> = DIRECT_ENTRY_PCI_CONFIG.iter().filter(|w| (w.0, w.1) == (1, 0)).map(|w| w.4).collect();
        assert_eq!(routes, [10, 10, 11, 11]);
    }

    #[test]
    fn bad_placements_are_refused() {
        assert_eq!(build_tables(RAM, 0x1010, AcpiRevision::V1), Err(AcpiError::Misaligned(0x1010)));
        assert_eq!(build_tables(RAM, 0xFFFF_FFC0, AcpiRevision::V1), Err(AcpiError::Above4G(0xFFFF_FFC0)));
    }

    /// ACPICA itself (Debian `acpica-tools`): the disassembler and the AML
    /// interpreter accept the tables, and evaluating `\_S5` and `_PRT`
    /// gives what the guest will see. Skipped when the tools are absent.
    #[test]
    fn acpica_accepts_the_tables() {
        let have = |tool: &str| std::process::Command::new(tool).arg("-v").output().is_ok();
        if !have("iasl") || !have("acpiexec") {
            eprintln!("note: acpica-tools not installed; skipping the ACPICA check");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ironpc-acpi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = build_tables(RAM, BASE, AcpiRevision::V2).unwrap();
        for (name, addr) in [("dsdt", t.dsdt), ("facp", t.fadt), ("rsdt", t.rsdt), ("xsdt", t.xsdt)] {
            let path = dir.join(format!("{name}.dat"));
            std::fs::write(&path, table_at(&t, addr.into())).unwrap();
            let out = std::process::Command::new("iasl").arg("-d").arg(&path).current_dir(&dir).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "iasl -d {name}: {text}");
            assert!(!text.contains("Error") && !text.contains("Invalid"), "iasl -d {name}: {text}");
        }
        let dsl = std::fs::read_to_string(dir.join("dsdt.dsl")).unwrap();
        for want in ["Name (_S5, Package (0x04)", "Method (_PIC, 1, NotSerialized)", "EisaId (\"PNP0A03\")"] {
            assert!(dsl.contains(want), "{want} missing from\n{dsl}");
        }
        let facp = std::fs::read_to_string(dir.join("facp.dsl")).unwrap();
        assert!(facp.contains("Checksum : ") && !facp.contains("Incorrect checksum"), "{facp}");
        let out = std::process::Command::new("acpiexec")
            .args(["-b", "evaluate \\_S5; evaluate \\_SB.PCI0._PRT; evaluate \\_SB.PCI0._CRS"])
            .arg(dir.join("dsdt.dat"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        std::fs::remove_dir_all(&dir).ok();
        assert!(text.contains("[Package] Contains 4 Elements"), "{text}");
        assert!(!text.contains("AE_"), "acpiexec reported an exception:\n{text}");
        assert!(text.contains("Evaluating \\_S5\nEvaluation of \\_S5 returned object"), "{text}");
        assert!(text.contains("[Package] Contains 128 Elements"), "{text}");
    }
}
