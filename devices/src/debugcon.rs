//! The Bochs/QEMU debug console: a write-only port whose bytes go to a
//! host sink. Reading the port returns 0xE9 so that firmware (SeaBIOS)
//! can detect it, whatever port it sits on.

use crate::PortIo;
use serde::{Deserialize, Serialize};
use std::io::Write;

/// What a read of the port returns ("a debug console is here").
pub const PRESENCE: u8 = 0xE9;

/// The debug console device.
#[derive(Default, Serialize, Deserialize)]
pub struct DebugCon {
    pub port: u16,
    /// Where bytes go; re-attached after a restore.
    #[serde(skip)]
    sink: Option<Box<dyn Write + Send>>,
}

impl DebugCon {
    /// A console on `port` writing to `sink` (`None` drops the bytes).
    pub fn new(port: u16, sink: Option<Box<dyn Write + Send>>) -> Self {
        Self { port, sink }
    }

    /// Attaches a new host sink.
    pub fn attach(&mut self, sink: Option<Box<dyn Write + Send>>) {
        self.sink = sink;
    }

    /// Flushes the sink.
    pub fn flush(&mut self) {
        if let Some(s) = self.sink.as_mut() {
            let _ = s.flush();
        }
    }
}

impl PortIo for DebugCon {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        u32::from(PRESENCE)
    }

    /// Only the low byte is printed, whatever the access size (as QEMU's
    /// isa-debugcon does).
    fn io_write(&mut self, _port: u16, _size: u8, value: u32) {
        if let Some(s) = self.sink.as_mut() {
            if s.write_all(&[value as u8]).is_err() {
                log::warn!("debugcon: host sink failed; further output dropped");
                self.sink = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn prints_low_bytes_and_reads_presence() {
        let out = Shared::default();
        let mut d = DebugCon::new(0xE9, Some(Box::new(out.clone())));
        d.io_write(0xE9, 1, u32::from(b'h'));
        d.io_write(0xE9, 2, 0x4169);
        assert_eq!(&*out.0.lock().unwrap(), b"hi");
        assert_eq!(d.io_read(0xE9, 1), 0xE9);
    }
}
