//! The machine's notion of now (DESIGN.md invariant 5).
//!
//! * Host: the host's monotonic time since the machine started. Guests see
//!   real time pass; what runs when depends on host speed.
//! * Virtual: time derived from the CPU's instruction count (retired
//!   instructions plus delivered events, [`ironpc_cpu::Cpu::icount`]), one
//!   nanosecond each, plus the time skipped while the CPU was halted. A run
//!   is then a function of its inputs: a boot repeats bit for bit.

use crate::host::HostLink;
use std::time::{Duration, Instant};

/// Which clock drives the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    #[default]
    Host,
    Virtual,
}

/// Virtual nanoseconds per unit of CPU work (a 1 GHz virtual CPU).
pub const VIRTUAL_NS_PER_INSN: u64 = 1;

/// The clock.
#[derive(Clone, Debug)]
pub struct Clock {
    mode: ClockMode,
    start: Instant,
    /// Virtual time that passed with the CPU halted.
    idle_ns: u64,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        Self { mode, start: Instant::now(), idle_ns: 0 }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Nanoseconds since the machine started, given the CPU's count.
    pub fn now(&self, icount: u64) -> u64 {
        match self.mode {
            ClockMode::Host => self.start.elapsed().as_nanos() as u64,
            ClockMode::Virtual => icount * VIRTUAL_NS_PER_INSN + self.idle_ns,
        }
    }

    /// CPU work until `deadline` (at least 1), for the run loop's budget.
    pub fn insns_until(&self, deadline: u64, icount: u64) -> u64 {
        (deadline.saturating_sub(self.now(icount)) / VIRTUAL_NS_PER_INSN).max(1)
    }

    /// The CPU is halted until `deadline`: let that time pass. The virtual
    /// clock jumps there; the host clock sleeps the thread (an idle guest
    /// costs no host CPU) until the deadline or until the host hands
    /// something over through `wake` (a keystroke wakes the guest at once).
    pub fn idle_until(&mut self, deadline: u64, icount: u64, wake: &HostLink) {
        let now = self.now(icount);
        if deadline <= now {
            return;
        }
        match self.mode {
            ClockMode::Virtual => self.idle_ns += deadline - now,
            ClockMode::Host => wake.wait(Some(self.start + Duration::from_nanos(deadline))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_counts_instructions_and_skips_idle_time() {
        let mut c = Clock::new(ClockMode::Virtual);
        assert_eq!(c.now(1000), 1000 * VIRTUAL_NS_PER_INSN);
        c.idle_until(5000, 1000, &HostLink::new());
        assert_eq!(c.now(1000), 5000);
        assert_eq!(c.now(1100), 5000 + 100 * VIRTUAL_NS_PER_INSN);
        assert_eq!(c.insns_until(5100 + 100 * VIRTUAL_NS_PER_INSN, 1100), 100);
    }

    #[test]
    fn host_time_sleeps_when_idle() {
        let mut c = Clock::new(ClockMode::Host);
        let t0 = c.now(0);
        c.idle_until(t0 + 2_000_000, 0, &HostLink::new());
        assert!(c.now(0) >= t0 + 2_000_000);
    }

    #[test]
    fn host_input_cuts_an_idle_host_clock_short() {
        let mut c = Clock::new(ClockMode::Host);
        let link = HostLink::new();
        let sender = link.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            sender.send_serial(b"a");
        });
        let t0 = c.now(0);
        c.idle_until(t0 + 10_000_000_000, 0, &link);
        assert!(c.now(0) < t0 + 5_000_000_000, "woken by the keystroke, not the 10 s deadline");
        t.join().unwrap();
    }
}
