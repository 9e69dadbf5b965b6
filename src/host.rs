//! The host's side of a running machine: bytes typed for the guest's
//! serial console and requests to stop, handed over by host threads (a
//! terminal reader, a signal handler), and the wait the run loop makes on
//! them while the guest idles.
//!
//! A [`HostLink`] is a host handle, not machine state (DESIGN.md invariant
//! 6): a snapshot holds the UART's FIFO, never this queue. Clones share one
//! queue; any thread may send, the run loop alone takes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Why the host asks the machine to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// The user asked to quit (the console's Ctrl-A x).
    Quit,
    /// The process received this signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
}

/// How serial input is handed to the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputPacing {
    /// Bytes reach the UART as they arrive from the host, whenever its
    /// receiver has room: a person typing, or the host clock.
    #[default]
    Live,
    /// Whenever the UART's receiver has room and the guest listens (its
    /// received-data interrupt enabled), the machine waits for the next
    /// byte (or the end of the input) before it runs on. What the guest
    /// sees then depends on the bytes alone, never on when the host
    /// delivered them: with the virtual clock a piped input replays
    /// exactly. The whole input must be given up front (a file, or a pipe
    /// written and closed): the guest does not run while it waits.
    Script,
}

/// A keyboard or mouse event from the host's window, for the guest's
/// PS/2 devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// A key went down or up. `usage` is the key's USB HID usage ID on the
    /// keyboard page (0x07), which is also SDL's scancode number: 0x04 is
    /// A, 0x28 Enter, 0xE0 left Ctrl, 0x64 the 105th key (ISO \\|).
    Key { usage: u16, pressed: bool },
    /// The mouse moved (`dx` right, `dy` down, `dz` wheel away from the
    /// user) with these buttons held (bit 0 left, 1 right, 2 middle, 3 and 4
    /// the side buttons SDL calls X1 and X2: the IntelliMouse Explorer's
    /// fourth and fifth).
    Mouse { dx: i32, dy: i32, dz: i32, buttons: u8 },
}

#[derive(Debug, Default)]
struct Inbox {
    serial: VecDeque<u8>,
    /// Keyboard and mouse events not yet handed to the PS/2 devices.
    input: VecDeque<InputEvent>,
    /// The host's end of the serial input is closed (EOF on stdin).
    closed: bool,
    stop: Option<StopRequest>,
    /// Something arrived since the run loop last looked.
    news: bool,
}

#[derive(Debug, Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    arrived: Condvar,
}

/// The queue between host threads and the run loop.
#[derive(Clone, Debug, Default)]
pub struct HostLink(Arc<Shared>);

/// What [`HostLink::next_serial`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Byte(u8),
    /// Nothing queued now; more may come.
    Empty,
    /// Nothing queued and nothing more will come (input closed, or a stop
    /// was requested).
    End,
}

impl HostLink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The inbox; a thread that panicked holding it left plain data behind,
    /// still usable.
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.0.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, mut inbox: MutexGuard<'_, Inbox>) {
        inbox.news = true;
        drop(inbox);
        self.0.arrived.notify_all();
    }

    /// Queues bytes for the guest's serial console.
    pub fn send_serial(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut inbox = self.inbox();
        inbox.serial.extend(bytes);
        self.notify(inbox);
    }

    /// Queues a keyboard or mouse event for the guest.
    pub fn send_input(&self, event: InputEvent) {
        let mut inbox = self.inbox();
        inbox.input.push_back(event);
        self.notify(inbox);
    }

    /// Takes every queued keyboard and mouse event, oldest first.
    pub fn take_input(&self) -> Vec<InputEvent> {
        self.inbox().input.drain(..).collect()
    }

    /// The host's serial input ended; what is queued is still delivered.
    pub fn close_serial(&self) {
        let mut inbox = self.inbox();
        inbox.closed = true;
        self.notify(inbox);
    }

    /// Asks the run loop to stop at its next check; the first request is
    /// the one reported.
    pub fn request_stop(&self, why: StopRequest) {
        let mut inbox = self.inbox();
        inbox.stop.get_or_insert(why);
        self.notify(inbox);
    }

    /// The pending stop request, if any.
    pub fn stop_request(&self) -> Option<StopRequest> {
        self.inbox().stop
    }

    /// Whether serial input may still arrive or is waiting to be taken.
    pub fn serial_open(&self) -> bool {
        let inbox = self.inbox();
        inbox.stop.is_none() && (!inbox.closed || !inbox.serial.is_empty())
    }

    /// Takes the next serial byte. With `wait`, blocks until there is one
    /// or none can come.
    pub fn next_serial(&self, wait: bool) -> Next {
        let mut inbox = self.inbox();
        inbox.news = false;
        loop {
            if let Some(b) = inbox.serial.pop_front() {
                return Next::Byte(b);
            }
            if inbox.closed || inbox.stop.is_some() {
                return Next::End;
            }
            if !wait {
                return Next::Empty;
            }
            inbox = self.0.arrived.wait(inbox).unwrap_or_else(|e| e.into_inner());
            inbox.news = false;
        }
    }

    /// Sleeps until something arrives (bytes, the end of the input, a stop
    /// request) that the run loop has not looked at yet, or until
    /// `deadline` (None: no limit).
    pub fn wait(&self, deadline: Option<Instant>) {
        let mut inbox = self.inbox();
        while !inbox.news {
            inbox = match deadline {
                None => self.0.arrived.wait(inbox).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let Some(left) = d.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()) else {
                        break;
                    };
                    self.0.arrived.wait_timeout(inbox, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        inbox.news = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn input_events_come_out_in_order_once() {
        let link = HostLink::new();
        let a = InputEvent::Key { usage: 0x04, pressed: true };
        let m = InputEvent::Mouse { dx: 3, dy: -1, dz: 0, buttons: 1 };
        link.clone().send_input(a);
        link.send_input(m);
        assert_eq!(link.take_input(), vec![a, m]);
        assert!(link.take_input().is_empty());
    }

    #[test]
    fn bytes_come_out_in_order_then_the_end() {
        let link = HostLink::new();
        assert_eq!(link.next_serial(false), Next::Empty);
        link.send_serial(b"ab");
        link.close_serial();
        assert!(link.serial_open(), "queued bytes are still to come");
        assert_eq!(link.next_serial(false), Next::Byte(b'a'));
        assert_eq!(link.next_serial(true), Next::Byte(b'b'));
        assert!(!link.serial_open());
        assert_eq!(link.next_serial(true), Next::End, "closed: no wait");
    }

    #[test]
    fn a_waiting_reader_gets_a_byte_sent_from_another_thread() {
        let link = HostLink::new();
        let sender = link.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send_serial(b"z");
        });
        assert_eq!(link.next_serial(true), Next::Byte(b'z'));
        t.join().unwrap();
    }

    #[test]
    fn a_stop_request_ends_input_waits_and_the_first_one_counts() {
        let link = HostLink::new();
        link.request_stop(StopRequest::Signal(15));
        link.request_stop(StopRequest::Quit);
        assert_eq!(link.stop_request(), Some(StopRequest::Signal(15)));
        assert_eq!(link.next_serial(true), Next::End);
        assert!(!link.serial_open());
    }

    #[test]
    fn wait_returns_at_the_deadline_without_news() {
        let link = HostLink::new();
        let t0 = Instant::now();
        link.wait(Some(t0 + Duration::from_millis(30)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn wait_returns_early_on_input_and_only_for_news() {
        let link = HostLink::new();
        let sender = link.clone();
        let t0 = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            sender.send_serial(b"k");
        });
        link.wait(Some(t0 + Duration::from_secs(10)));
        assert!(t0.elapsed() < Duration::from_secs(5), "woken by the byte");
        t.join().unwrap();
        // The byte is still queued but no longer news: the next wait sleeps.
        let t1 = Instant::now();
        link.wait(Some(t1 + Duration::from_millis(20)));
        assert!(t1.elapsed() >= Duration::from_millis(20));
        assert_eq!(link.next_serial(false), Next::Byte(b'k'));
    }

    #[test]
    fn news_that_arrived_before_the_wait_is_not_missed() {
        let link = HostLink::new();
        link.send_serial(b"x");
        let t0 = Instant::now();
        link.wait(Some(t0 + Duration::from_secs(10)));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
