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
    /// Virtual time idles no faster than the host's (see
    /// [`Clock::pace_to_host`]).
    paced: bool,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        Self { mode, start: Instant::now(), idle_ns: 0, paced: false }
    }

    /// With a person at the keyboard (a window), virtual time must not
    /// race ahead while the guest idles: a key held for 80 ms would
    /// otherwise be held for seconds of guest time, and repeat. Paced, an
    /// idle virtual clock waits for the host's time to reach the deadline
    /// and, woken early by host input, moves only as far as the host's
    /// time did (whether or not the busy, instruction-counted time lags
    /// the host's). What the guest computes still depends on its inputs
    /// alone; only when those arrive depends on the host, as it does for
    /// any live input.
    pub fn pace_to_host(&mut self, paced: bool) {
        self.paced = paced;
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
            ClockMode::Virtual if self.paced => {
                // Idle time passes as the host's does, however far the
                // busy (instruction-counted) time lags or leads it.
                let t0 = Instant::now();
                wake.wait(Some(t0 + Duration::from_nanos(deadline - now)));
                self.idle_ns += (deadline - now).min(t0.elapsed().as_nanos() as u64);
            }
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
    fn paced_virtual_time_idles_no_faster_than_the_host_and_stops_at_input() {
        let mut c = Clock::new(ClockMode::Virtual);
        c.pace_to_host(true);
        let link = HostLink::new();
        let sender = link.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            sender.send_input(crate::InputEvent::Key { usage: 4, pressed: false });
        });
        // A typematic deadline 10 s away: the key's release comes first.
        c.idle_until(10_000_000_000, 0, &link);
        t.join().unwrap();
        let now = c.now(0);
        assert!((30_000_000..5_000_000_000).contains(&now), "moved {now} ns: as far as the host's time");
        assert!(c.start.elapsed().as_nanos() as u64 >= now, "never ahead of the host");
        // Every idle stretch takes host time, not a jump to the deadline.
        let t1 = Instant::now();
        c.idle_until(now + 20_000_000, 0, &link);
        assert!(t1.elapsed() >= Duration::from_millis(20), "waited as the host");
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
