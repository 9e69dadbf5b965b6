//! The guest can never crash ironpc through the chipset: random port and
//! MMIO traffic, biased towards the ports the board decodes and towards
//! the PCI configuration registers behind 0xCF8/0xCFC, with the clock
//! moving between accesses. Whatever the guest writes ends in device
//! behaviour, never a panic. Seeded; the seed is printed.

use ironpc::cpu::{testing::Rng, Bus};
use ironpc::{block::MemDisk, Config, IdeDrive, Machine};

/// Port ranges the board decodes (and their neighbours), where random
/// traffic reaches device state machines rather than open bus.
const HOT: &[(u16, u16)] = &[
    (0x0000, 0x0020),
    (0x0020, 0x0022),
    (0x0040, 0x0044),
    (0x0060, 0x0065),
    (0x0070, 0x0072),
    (0x0080, 0x0090),
    (0x0092, 0x0093),
    (0x00A0, 0x00A2),
    (0x00B2, 0x00B4),
    (0x00C0, 0x00E0),
    (0x00F0, 0x00F1),
    (0x01CE, 0x01D0),
    (0x02E8, 0x02F0),
    (0x02F8, 0x0300),
    // The VGA's registers (sequencer, CRTC, graphics and attribute
    // controllers, DAC, input status).
    (0x03B0, 0x03E0),
    (0x03E8, 0x0400),
    (0x0402, 0x0403),
    (0x04D0, 0x04D2),
    (0x0510, 0x051C),
    (0x0600, 0x0640),
    (0x0CF8, 0x0D00),
    (0xAFE0, 0xAFE4),
    // IDE: both channels, their control registers, the bus-master block
    // where SeaBIOS would put it.
    (0x0170, 0x0178),
    (0x01F0, 0x01F8),
    (0x0376, 0x0377),
    (0x03F6, 0x03F7),
    (0xC000, 0xC010),
];

fn machine() -> Machine {
    // A firmware that only halts: the test drives the board directly.
    let bios = vec![0xF4u8; 64 * 1024];
    let config = Config {
        // A disk in drive A, so floppy commands reach a medium (and DMA).
        floppy: [Some(Box::new(ironpc::block::MemDisk::new(vec![0; 1_474_560]))), None],
        ide: [
            Some(IdeDrive::Disk(Box::new(MemDisk::new(vec![0; 1 << 20])))),
            Some(IdeDrive::Cdrom(Some(Box::new(MemDisk::new(vec![0; 1 << 20]))))),
            Some(IdeDrive::Cdrom(None)),
            None,
        ],
        ..Config::new(32 << 20, bios)
    };
    Machine::new(config).expect("a machine")
}

fn port(rng: &mut Rng) -> u16 {
    if rng.chance(80) {
        let (lo, hi) = HOT[rng.below(HOT.len() as u64) as usize];
        lo + rng.below(u64::from(hi - lo)) as u16
    } else {
        rng.next_u64() as u16
    }
}

fn size(rng: &mut Rng) -> u8 {
    [1, 1, 1, 2, 4][rng.below(5) as usize]
}

#[test]
fn random_port_and_mmio_traffic_never_panics() {
    let seed = std::env::var("IRONPC_BOARD_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_b0a2d);
    println!("board fuzz seed {seed} (set IRONPC_BOARD_FUZZ_SEED to change)");
    let mut rng = Rng::new(seed);
    let mut m = machine();
    let mut icount = 0u64;
    for _ in 0..500_000 {
        icount += rng.below(5_000);
        m.board.set_icount(icount);
        if rng.chance(5) {
            m.board.advance(icount);
        }
        match rng.below(10) {
            // A PCI configuration access: address, then data.
            0 | 1 => {
                let addr = 0x8000_0000 | (rng.below(4) << 11 | rng.below(8) << 8 | rng.below(256)) as u32 & !3;
                m.board.io_write(&mut m.mem, 0xCF8, 4, addr);
                let data_port = 0xCFC + rng.below(4) as u16;
                if rng.chance(70) {
                    m.board.io_write(&mut m.mem, data_port, size(&mut rng), rng.next_u64() as u32);
                } else {
                    m.board.io_read(&mut m.mem, data_port, size(&mut rng));
                }
            }
            2 => {
                let addr = 0xFEC0_0000 + rng.below(0x10_0000) * if rng.chance(50) { 1 } else { 0x100 };
                if rng.chance(50) {
                    m.board.mmio_write(&mut m.mem, addr, size(&mut rng), rng.next_u64());
                } else {
                    m.board.mmio_read(&mut m.mem, addr, size(&mut rng));
                }
            }
            3..=6 => {
                let p = port(&mut rng);
                m.board.io_write(&mut m.mem, p, size(&mut rng), rng.next_u64() as u32);
            }
            _ => {
                let p = port(&mut rng);
                m.board.io_read(&mut m.mem, p, size(&mut rng));
            }
        }
        if m.board.interrupt_pending() && rng.chance(50) {
            m.board.interrupt_ack();
        }
        let _ = m.board.next_deadline();
    }
    // The machine still runs after all that.
    m.board.advance(icount);
    let _ = m.run(Some(m.cpu.icount + 10_000));
}
