//! Exceptions raised by instructions (Intel SDM vol. 3A table 6-1).

/// Exception vectors.
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
    pub const XM: u8 = 19;
}

/// An exception on its way to delivery. Small enough that
/// `Result<(), Fault>` stays in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    /// Whether this exception pushes an error code.
    pub has_code: bool,
    pub code: u32,
}

impl Fault {
    /// An exception without an error code.
    pub const fn new(vector: u8) -> Self {
        Self { vector, has_code: false, code: 0 }
    }

    /// An exception with an error code.
    pub const fn with_code(vector: u8, code: u32) -> Self {
        Self { vector, has_code: true, code }
    }

    pub const DE: Self = Self::new(vector::DE);
    pub const DB: Self = Self::new(vector::DB);
    pub const BP: Self = Self::new(vector::BP);
    pub const OF: Self = Self::new(vector::OF);
    pub const BR: Self = Self::new(vector::BR);
    pub const UD: Self = Self::new(vector::UD);
    pub const NM: Self = Self::new(vector::NM);
    pub const MF: Self = Self::new(vector::MF);

    /// #GP with a selector error code (0 for most checks).
    pub const fn gp(code: u16) -> Self {
        Self::with_code(vector::GP, code as u32)
    }
    /// #SS.
    pub const fn ss(code: u16) -> Self {
        Self::with_code(vector::SS, code as u32)
    }
    /// #NP.
    pub const fn np(code: u16) -> Self {
        Self::with_code(vector::NP, code as u32)
    }
    /// #TS.
    pub const fn ts(code: u16) -> Self {
        Self::with_code(vector::TS, code as u32)
    }
    /// #PF with its error code (CR2 is written when it is raised).
    pub const fn pf(code: u32) -> Self {
        Self::with_code(vector::PF, code)
    }
    /// #AC (error code 0).
    pub const fn ac() -> Self {
        Self::with_code(vector::AC, 0)
    }

    /// Benign, contributory or page fault: the classes that decide whether
    /// a fault during delivery becomes #DF (SDM vol. 3A table 6-5).
    pub fn class(&self) -> FaultClass {
        match self.vector {
            vector::DE | vector::TS | vector::NP | vector::SS | vector::GP => FaultClass::Contributory,
            vector::PF => FaultClass::PageFault,
            vector::DF => FaultClass::DoubleFault,
            _ => FaultClass::Benign,
        }
    }
}

/// See [`Fault::class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultClass {
    Benign,
    Contributory,
    PageFault,
    DoubleFault,
}

/// Error code for a selector: index and TI from the selector, plus EXT when
/// the event was external to the program.
pub fn selector_code(selector: u16, ext: bool) -> u16 {
    (selector & 0xFFFC) | ext as u16
}

/// Error code naming IDT entry `vector` (IDT bit set).
pub fn idt_code(vector: u8, ext: bool) -> u16 {
    (u16::from(vector) << 3) | 2 | ext as u16
}
