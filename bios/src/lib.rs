//! Firmware: how a BIOS image appears in physical memory.
//!
//! As on a PC (and QEMU's `pc` machine), the image ends at 4 GiB, so the
//! reset vector F000:FFF0 (linear FFFFFFF0) is its last 16 bytes, and its
//! last 128 KiB are also visible just below 1 MiB (E0000-FFFFF) for the
//! real-mode code that runs after the first far jump. That low window is
//! the PCI side of the chipset's shadow-RAM decode: once the machine
//! enables the PAM ([`PhysMem::enable_pam`]), the host bridge's PAM
//! registers choose per segment between it and the RAM beneath.

pub mod acpi;
pub mod e820;
pub mod fw_cfg;
pub mod linux;
pub mod linuxboot;

pub use linuxboot::LinuxBootError;
pub mod multiboot;

use ironpc_mmu::{MapError, PhysMem};
use std::path::{Path, PathBuf};

/// Size of the window below 1 MiB that shows the end of the BIOS.
pub const LOW_WINDOW: u64 = 128 * 1024;
/// Largest image accepted: 16 MiB, what the top of the address space of a
/// PC chipset decodes as firmware.
pub const MAX_BIOS: u64 = 16 << 20;

/// Where SeaBIOS's `bios.bin` is, in the order ironpc looks when no
/// firmware is given: the image cache `cargo xtask images` fills
/// (`<dir of the ironpc executable>/../images/bios.bin`, i.e.
/// `target/images/` for a cargo build), then the Debian package `seabios`.
pub fn default_bios_paths(exe: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        paths.push(dir.join("..").join("images").join("bios.bin"));
    }
    paths.push(PathBuf::from("/usr/share/seabios/bios.bin"));
    paths
}

/// Where the standard VGA's option ROM (SeaVGABIOS, `vgabios-stdvga.bin`)
/// is, in the order ironpc looks: the image cache beside the executable,
/// then the Debian package `seabios`.
pub fn default_vga_bios_paths(exe: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        paths.push(dir.join("..").join("images").join(VGA_BIOS_FILE));
    }
    paths.push(Path::new("/usr/share/seabios").join(VGA_BIOS_FILE));
    paths
}

/// The file name of the standard VGA's BIOS.
pub const VGA_BIOS_FILE: &str = "vgabios-stdvga.bin";

/// Why a firmware image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BiosError {
    #[error("firmware image is empty")]
    Empty,
    #[error("firmware image is {0} bytes; it must be a multiple of 4 KiB and at most 16 MiB")]
    BadSize(u64),
    #[error("cannot map the firmware: {0}")]
    Map(#[from] MapError),
}

/// Maps `image` as the system BIOS.
pub fn map_bios(mem: &mut PhysMem, image: &[u8]) -> Result<(), BiosError> {
    let size = image.len() as u64;
    if size == 0 {
        return Err(BiosError::Empty);
    }
    if !size.is_multiple_of(4096) || size > MAX_BIOS {
        return Err(BiosError::BadSize(size));
    }
    let base = (1u64 << 32) - size;
    mem.add_rom(base, image)?;
    let low = size.min(LOW_WINDOW);
    mem.alias_rom(base, size - low, (1 << 20) - low, low)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_vector_is_visible_high_and_low() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut img = vec![0u8; 64 * 1024];
        img[0xFFF0] = 0xEA;
        map_bios(&mut mem, &img).unwrap();
        let mut b = [0];
        mem.read(0xFFFF_FFF0, &mut b);
        assert_eq!(b[0], 0xEA);
        mem.read(0xF_FFF0, &mut b);
        assert_eq!(b[0], 0xEA);
    }

    #[test]
    fn default_bios_is_looked_for_in_the_image_cache_first() {
        let p = default_bios_paths(Some(Path::new("/x/target/debug/ironpc")));
        assert_eq!(p, [PathBuf::from("/x/target/debug/../images/bios.bin"), PathBuf::from("/usr/share/seabios/bios.bin")]);
        assert_eq!(default_bios_paths(None), [PathBuf::from("/usr/share/seabios/bios.bin")]);
    }

    #[test]
    fn the_vga_bios_is_looked_for_beside_the_system_bios() {
        let p = default_vga_bios_paths(Some(Path::new("/x/target/debug/ironpc")));
        assert_eq!(
            p,
            [
                PathBuf::from("/x/target/debug/../images/vgabios-stdvga.bin"),
                PathBuf::from("/usr/share/seabios/vgabios-stdvga.bin")
            ]
        );
        assert_eq!(default_vga_bios_paths(None), [PathBuf::from("/usr/share/seabios/vgabios-stdvga.bin")]);
    }

    #[test]
    fn odd_sizes_are_rejected() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        assert!(matches!(map_bios(&mut mem, &[0; 100]), Err(BiosError::BadSize(100))));
        assert!(matches!(map_bios(&mut mem, &[]), Err(BiosError::Empty)));
    }
}
