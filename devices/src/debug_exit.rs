//! isa-debug-exit: a write of `v` asks the host to exit with status
//! `(v << 1) | 1`, the convention of QEMU's device of that name, so test
//! programs can report pass/fail through the exit status.

use crate::PortIo;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DebugExit {
    pub port: u16,
    /// The exit status requested, once the guest wrote the port.
    pub requested: Option<i32>,
}

impl DebugExit {
    pub fn new(port: u16) -> Self {
        Self { port, requested: None }
    }
}

impl PortIo for DebugExit {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        0xFFFF_FFFF
    }

    fn io_write(&mut self, _port: u16, size: u8, value: u32) {
        let v = match size {
            1 => value & 0xFF,
            2 => value & 0xFFFF,
            _ => value,
        };
        self.requested = Some(((v << 1) | 1) as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_value_shifted_with_low_bit() {
        let mut d = DebugExit::new(0xF4);
        d.io_write(0xF4, 1, 0x10);
        assert_eq!(d.requested, Some(0x21));
    }
}
