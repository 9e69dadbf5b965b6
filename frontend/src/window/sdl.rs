//! The SDL2 window.
//!
//! SDL wants its video calls on the main thread, and the machine cannot
//! move between threads (`Machine` is not `Send`: the CPU's decoded-block
//! cache holds `Rc<Block>`s), so the machine is built and run on a worker
//! thread and hands the window clones of its two host handles: the
//! [`Screen`] it publishes frames to and the [`HostLink`] that takes the
//! keyboard, the mouse and stop requests. The worker also writes the exit
//! files, so they are written however the run ends.
//!
//! The window sleeps in `SDL_WaitEventTimeout` until something happens:
//! an input event, or a [`NewFrame`] event that the screen's watcher
//! pushes when the guest's adapter publishes a changed picture (at most
//! once per refresh of the guest's mode). Only then does it upload into a
//! streaming texture, so it redraws at the guest's refresh rate while the
//! picture changes and not at all while it is static.

use super::keys::{Button, Hotkey, KeyAction, Keyboard, Mouse};
use super::layout::{keep_inside, letterbox, window_size, Rect};
use crate::options::Options;
use anyhow::{anyhow, Context, Result};
use ironpc::display::{write_png, Screen, Shown};
use ironpc::{HostLink, InputEvent, StopRequest};
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::Mod;
use sdl2::mouse::{MouseButton, MouseWheelDirection};
use sdl2::pixels::{Color, PixelFormatEnum};
use sdl2::render::{Texture, TextureCreator, WindowCanvas};
use sdl2::video::{WindowContext, WindowPos};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The event that wakes the window for a new picture.
struct NewFrame;

/// How long the window sleeps at most without events, to notice that the
/// machine thread ended.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// The window's size before the guest sets a mode (QEMU's too).
const INITIAL_SIZE: (u32, u32) = (640, 480);

/// Runs the machine of `opts` with its screen in a window; returns when
/// the machine has stopped (guest power-off, the window closed, a signal).
pub fn run(opts: Options) -> Result<ExitCode> {
    // SIGINT and SIGTERM belong to the console's handler (an orderly stop
    // with the exit files written), not to SDL's (a quit event).
    sdl2::hint::set("SDL_NO_SIGNAL_HANDLERS", "1");
    let sdl = sdl2::init().map_err(|e| anyhow!("cannot start SDL: {e}"))?;
    let video = sdl.video().map_err(|e| anyhow!("--display sdl: cannot open the display: {e}"))?;
    let name = super::machine_name(&opts);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("machine".into())
        .spawn(move || {
            crate::run_machine(&opts, |m| {
                crate::attach_input(m);
                let _ = tx.send((m.board.host.clone(), m.board.screen.clone()));
            })
        })
        .context("cannot start the machine thread")?;
    // No handles: the machine could not be built; its error says why.
    let Ok((link, screen)) = rx.recv() else { return join(worker) };
    if let Err(e) = show(&sdl, &video, &name, &link, &screen, || worker.is_finished()) {
        link.request_stop(StopRequest::Quit);
        let _ = join(worker);
        return Err(e);
    }
    join(worker)
}

fn join(worker: JoinHandle<Result<ExitCode>>) -> Result<ExitCode> {
    worker.join().unwrap_or_else(|_| Err(anyhow!("the machine thread panicked")))
}

/// The window's state besides what SDL holds.
struct Ui<'a> {
    name: &'a str,
    link: &'a HostLink,
    screen: &'a Screen,
    mouse_util: sdl2::mouse::MouseUtil,
    keyboard: Keyboard,
    mouse: Mouse,
    grabbed: bool,
    /// The next screenshot number to try.
    shot: u32,
    /// The picture must be drawn again (exposed, resized, new frame).
    dirty: bool,
}

impl Ui<'_> {
    fn handle(&mut self, event: Event, canvas: &mut WindowCanvas) {
        match event {
            Event::Quit { .. } => self.link.request_stop(StopRequest::Quit),
            Event::Window { win_event, .. } => match win_event {
                WindowEvent::FocusLost => {
                    for e in self.keyboard.release_all() {
                        self.link.send_input(e);
                    }
                    self.set_grab(false, canvas);
                }
                WindowEvent::Exposed | WindowEvent::SizeChanged(..) | WindowEvent::Resized(..) => self.dirty = true,
                _ => {}
            },
            Event::KeyDown { scancode: Some(sc), keymod, repeat, .. } => self.key(sc as i32, true, repeat, keymod, canvas),
            Event::KeyUp { scancode: Some(sc), keymod, repeat, .. } => self.key(sc as i32, false, repeat, keymod, canvas),
            // The click that grabs is the window's, not the guest's.
            Event::MouseButtonDown { .. } if !self.grabbed => self.set_grab(true, canvas),
            Event::MouseButtonDown { mouse_btn, .. } => {
                let e = self.mouse.button(button(mouse_btn), true);
                self.send(e);
            }
            Event::MouseButtonUp { mouse_btn, .. } if self.grabbed => {
                let e = self.mouse.button(button(mouse_btn), false);
                self.send(e);
            }
            Event::MouseMotion { xrel, yrel, .. } if self.grabbed => self.send(self.mouse.moved(xrel, yrel, 0)),
            Event::MouseWheel { y, direction, .. } if self.grabbed => {
                let dz = if direction == MouseWheelDirection::Flipped { -y } else { y };
                self.send(self.mouse.moved(0, 0, dz));
            }
            _ => {}
        }
    }

    fn send(&self, event: Option<InputEvent>) {
        if let Some(e) = event {
            self.link.send_input(e);
        }
    }

    fn key(&mut self, scancode: i32, pressed: bool, repeat: bool, keymod: Mod, canvas: &mut WindowCanvas) {
        let ctrl = keymod.intersects(Mod::LCTRLMOD | Mod::RCTRLMOD);
        let alt = keymod.intersects(Mod::LALTMOD | Mod::RALTMOD);
        match self.keyboard.key(scancode, pressed, repeat, ctrl, alt) {
            KeyAction::Send(e) => self.link.send_input(e),
            KeyAction::Nothing => {}
            KeyAction::Hotkey(Hotkey::ReleaseGrab) => self.set_grab(false, canvas),
            KeyAction::Hotkey(Hotkey::Quit) => self.link.request_stop(StopRequest::Quit),
            KeyAction::Hotkey(Hotkey::Screenshot) => self.screenshot(),
        }
    }

    fn set_grab(&mut self, on: bool, canvas: &mut WindowCanvas) {
        if on == self.grabbed {
            return;
        }
        self.grabbed = on;
        self.mouse_util.set_relative_mouse_mode(on);
        if !on {
            let e = self.mouse.release_all();
            self.send(e);
        }
        let _ = canvas.window_mut().set_title(&super::title(self.name, on));
    }

    fn screenshot(&mut self) {
        let (n, path) = super::screenshot_path(self.shot, |p| std::path::Path::new(p).exists());
        self.shot = n.saturating_add(1);
        match write_png(&self.screen.frame(), std::path::Path::new(&path)) {
            Ok(()) => eprintln!("ironpc: screenshot saved to {path}"),
            Err(e) => eprintln!("ironpc: no screenshot: {e}"),
        }
    }
}

fn button(b: MouseButton) -> Button {
    match b {
        MouseButton::Left => Button::Left,
        MouseButton::Right => Button::Right,
        MouseButton::Middle => Button::Middle,
        _ => Button::Other,
    }
}

/// The guest's picture in a texture of its size.
struct Picture<'t> {
    texture: Texture<'t>,
    size: (u32, u32),
}

/// Opens the window and runs it until `finished` (the machine thread
/// ended).
fn show(
    sdl: &sdl2::Sdl,
    video: &sdl2::VideoSubsystem,
    name: &str,
    link: &HostLink,
    screen: &Screen,
    finished: impl Fn() -> bool,
) -> Result<()> {
    let window = video
        .window(&super::title(name, false), INITIAL_SIZE.0, INITIAL_SIZE.1)
        .position_centered()
        .resizable()
        .build()
        .context("cannot open the window")?;
    let mut canvas = window.into_canvas().build().context("cannot draw in the window")?;
    let creator = canvas.texture_creator();
    let mut pump = sdl.event_pump().map_err(|e| anyhow!("cannot read the window's events: {e}"))?;
    let mut ui = Ui {
        name,
        link,
        screen,
        mouse_util: sdl.mouse(),
        keyboard: Keyboard::default(),
        mouse: Mouse::default(),
        grabbed: false,
        shot: 1,
        dirty: true,
    };
    // The screen's watcher runs on the machine thread: it pushes one
    // NewFrame at a time (no more until the window has looked), so a
    // window that falls behind never fills SDL's queue.
    let events = sdl.event().map_err(|e| anyhow!("cannot start SDL's events: {e}"))?;
    events.register_custom_event::<NewFrame>().map_err(|e| anyhow!("cannot register the window's frame event: {e}"))?;
    let sender = events.event_sender();
    let new_frame = Arc::new(AtomicBool::new(true));
    let pending = new_frame.clone();
    screen.watch(move || {
        if !pending.swap(true, Ordering::AcqRel) && sender.push_custom_event(NewFrame).is_err() {
            pending.store(false, Ordering::Release);
        }
    });
    let _unwatch = Unwatch(screen);
    let mut picture: Option<Picture> = None;
    let mut drawn_generation = None;
    let idle_ms = IDLE_WAKE.as_millis() as u32;
    loop {
        if let Some(event) = pump.wait_event_timeout(idle_ms) {
            ui.handle(event, &mut canvas);
            for event in pump.poll_iter() {
                ui.handle(event, &mut canvas);
            }
        }
        if finished() {
            return Ok(());
        }
        // Cleared before the look, so a picture published meanwhile wakes
        // the window again.
        if new_frame.swap(false, Ordering::AcqRel) {
            let shown = screen.lock();
            if drawn_generation != Some(shown.generation) {
                drawn_generation = Some(shown.generation);
                update_picture(&mut picture, &shown, &creator, &mut canvas, video);
                ui.dirty = true;
            }
        }
        if std::mem::take(&mut ui.dirty) {
            draw(&mut canvas, picture.as_ref());
        }
    }
}

/// Stops the screen's watcher when the window closes: SDL's queue is gone
/// then, and the machine may still publish while it stops.
struct Unwatch<'a>(&'a Screen);

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        self.0.unwatch();
    }
}

/// Copies the published frame into the texture, making a new texture and
/// resizing the window when the guest's resolution changed.
fn update_picture<'t>(
    picture: &mut Option<Picture<'t>>,
    shown: &Shown,
    creator: &'t TextureCreator<WindowContext>,
    canvas: &mut WindowCanvas,
    video: &sdl2::VideoSubsystem,
) {
    let frame = &shown.frame;
    let size = (frame.width, frame.height);
    let (w, h) = (size.0 as usize, size.1 as usize);
    if w == 0 || h == 0 || frame.pixels.len() < w * h {
        *picture = None;
        return;
    }
    if picture.as_ref().map(|p| p.size) != Some(size) {
        *picture = match creator.create_texture_streaming(PixelFormatEnum::RGB888, size.0, size.1) {
            Ok(texture) => Some(Picture { texture, size }),
            Err(e) => {
                log::warn!("window: no {}x{} texture: {e}", size.0, size.1);
                None
            }
        };
        let room = canvas.window().display_index().and_then(|d| video.display_usable_bounds(d)).ok();
        let (ww, wh) = window_size(size, room.map(|r| (r.width(), r.height())));
        if let Err(e) = canvas.window_mut().set_size(ww, wh) {
            log::warn!("window: cannot resize to {ww}x{wh}: {e}");
        }
        // A window opened small and centred would now reach past the
        // desktop's edge.
        if let Some(r) = room {
            let at = canvas.window().position();
            let to = keep_inside(at, (ww, wh), Rect { x: r.x(), y: r.y(), w: r.width(), h: r.height() });
            if to != at {
                canvas.window_mut().set_position(WindowPos::Positioned(to.0), WindowPos::Positioned(to.1));
            }
        }
    }
    let Some(p) = picture.as_mut() else { return };
    // RGB888 is SDL's 32-bit 0x00RRGGBB pixel in native byte order: the
    // frame's own format.
    let upload = p.texture.with_lock(None, |buf: &mut [u8], pitch: usize| {
        for (y, row) in frame.pixels.chunks_exact(w).take(h).enumerate() {
            let Some(dst) = buf.get_mut(y * pitch..y * pitch + w * 4) else { break };
            for (d, px) in dst.chunks_exact_mut(4).zip(row) {
                d.copy_from_slice(&px.to_ne_bytes());
            }
        }
    });
    if let Err(e) = upload {
        log::warn!("window: cannot update the texture: {e}");
    }
}

/// Draws the picture letterboxed in the window, black around it.
fn draw(canvas: &mut WindowCanvas, picture: Option<&Picture>) {
    canvas.set_draw_color(Color::RGB(0, 0, 0));
    canvas.clear();
    if let (Some(p), Ok(out)) = (picture, canvas.output_size()) {
        let r = letterbox(p.size, out);
        if r.w > 0 && r.h > 0 {
            if let Err(e) = canvas.copy(&p.texture, None, sdl2::rect::Rect::new(r.x, r.y, r.w, r.h)) {
                log::warn!("window: cannot draw: {e}");
            }
        }
    }
    canvas.present();
}

/// The window on a real X server: Xvfb, driven by xdotool and read back
/// with ImageMagick's `import` (Debian: xvfb, xdotool, imagemagick);
/// skipped with a printed reason when they are missing.
#[cfg(test)]
mod tests {
    use super::*;
    use ironpc::devices::display::Frame;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// An Xvfb server on a free display, stopped on drop.
    struct Xvfb(Child);
    impl Drop for Xvfb {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn have(tool: &str) -> bool {
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
    }

    /// Starts Xvfb with a 1280x1024 screen; returns it and its DISPLAY.
    fn start_xvfb() -> (Xvfb, String) {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("Xvfb's display number");
        (Xvfb(child), format!(":{}", line.trim()))
    }

    fn run(display: &str, cmd: &str, args: &[&str]) -> Vec<u8> {
        let o = Command::new(cmd).args(args).env("DISPLAY", display).output().expect(cmd);
        assert!(o.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    }

    /// Polls `f` until it gives something, for at most 20 s.
    fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The window's geometry: x, y, width, height.
    fn geometry(display: &str, id: &str) -> (u32, u32, u32, u32) {
        let out = String::from_utf8(run(display, "xdotool", &["getwindowgeometry", "--shell", id])).unwrap();
        let field = |k: &str| -> u32 {
            out.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix('=')?.parse().ok()).unwrap_or_else(|| panic!("{k} in {out}"))
        };
        (field("X"), field("Y"), field("WIDTH"), field("HEIGHT"))
    }

    /// The whole X screen as 0xRRGGBB pixels, 1280 wide.
    fn grab_screen(display: &str) -> Vec<u32> {
        let rgb = run(display, "import", &["-window", "root", "-depth", "8", "rgb:-"]);
        assert_eq!(rgb.len(), 1280 * 1024 * 3);
        rgb.chunks(3).map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2])).collect()
    }

    /// A 400x300 picture: red, green / blue, white quadrants.
    fn quadrants() -> Frame {
        let mut f = Frame::new(400, 300);
        for y in 0..300 {
            for (x, p) in f.row_mut(y).iter_mut().enumerate() {
                *p = match (x < 200, y < 150) {
                    (true, true) => 0xFF_0000,
                    (false, true) => 0x00_FF00,
                    (true, false) => 0x00_00FF,
                    (false, false) => 0xFF_FFFF,
                };
            }
        }
        f
    }

    #[test]
    fn the_window_shows_the_published_frame_letterboxed_and_passes_keys() {
        for tool in ["Xvfb", "xdotool", "import"] {
            if !have(tool) {
                eprintln!("skipped: {tool} is missing (apt-get install xvfb xdotool imagemagick)");
                return;
            }
        }
        let (_xvfb, display) = start_xvfb();
        // This test alone starts SDL in this process; SDL reads DISPLAY.
        std::env::set_var("DISPLAY", &display);
        let sdl = sdl2::init().expect("SDL");
        let video = sdl.video().expect("SDL video on Xvfb");
        let (screen, link) = (Screen::new(), HostLink::new());
        screen.publish(&quadrants(), true, None);
        let done = Arc::new(AtomicBool::new(false));
        let checker = {
            let (screen, link, done) = (screen.clone(), link.clone(), done.clone());
            std::thread::spawn(move || {
                let _finish = Finish(done);
                check_window(&display, &screen, &link);
            })
        };
        show(&sdl, &video, "test", &link, &screen, || done.load(Ordering::SeqCst)).expect("the window");
        if let Err(panic) = checker.join() {
            std::panic::resume_unwind(panic);
        }
    }

    /// Sets the flag that ends the window loop when dropped (the checks
    /// passed or panicked).
    struct Finish(Arc<AtomicBool>);
    impl Drop for Finish {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn check_window(display: &str, screen: &Screen, link: &HostLink) {
        let id = eventually("the window", || {
            let o =
                Command::new("xdotool").args(["search", "--name", "^ironpc - test$"]).env("DISPLAY", display).output().ok()?;
            String::from_utf8(o.stdout).ok()?.lines().next().map(str::to_owned)
        });
        // The window takes the guest's size and shows the picture 1:1.
        let (x, y, ..) = eventually("a 400x300 window", || {
            let g = geometry(display, &id);
            (g.2 == 400 && g.3 == 300).then_some(g)
        });
        let at = |shot: &[u32], px: u32, py: u32| shot[((y + py) * 1280 + x + px) as usize];
        let shot = eventually("the picture", || {
            let s = grab_screen(display);
            (at(&s, 100, 75) == 0xFF_0000).then_some(s)
        });
        assert_eq!(at(&shot, 300, 75), 0x00_FF00);
        assert_eq!(at(&shot, 100, 225), 0x00_00FF);
        assert_eq!(at(&shot, 399, 299), 0xFF_FFFF);

        // Widened by the user: the picture keeps its shape, black bars
        // left and right (800x300: the 400x300 picture at x 200..600).
        run(display, "xdotool", &["windowsize", &id, "800", "300"]);
        let shot = eventually("the letterboxed picture", || {
            let s = grab_screen(display);
            (at(&s, 300, 75) == 0xFF_0000).then_some(s)
        });
        assert_eq!((at(&shot, 100, 150), at(&shot, 199, 150), at(&shot, 700, 150)), (0, 0, 0), "bars");
        assert_eq!((at(&shot, 500, 75), at(&shot, 300, 225), at(&shot, 599, 299)), (0x00_FF00, 0x00_00FF, 0xFF_FFFF));

        // A new mode: the window follows the guest's resolution.
        let mut green = Frame::new(200, 100);
        green.pixels.fill(0x00_FF00);
        screen.publish(&green, true, None);
        eventually("a 200x100 window", || {
            let g = geometry(display, &id);
            (g.2 == 200 && g.3 == 100).then_some(())
        });

        // Keys reach the guest as HID usages, press and release.
        run(display, "xdotool", &["key", "--window", &id, "a"]);
        let mut got = Vec::new();
        eventually("the key A", || {
            got.extend(link.take_input());
            (got.len() >= 2).then_some(())
        });
        assert_eq!(got, [InputEvent::Key { usage: 0x04, pressed: true }, InputEvent::Key { usage: 0x04, pressed: false }]);

        // Ctrl-Alt-Q asks the machine to stop; Q never reaches the guest.
        run(display, "xdotool", &["key", "--window", &id, "ctrl+alt+q"]);
        eventually("the quit request", || link.stop_request());
        assert_eq!(link.stop_request(), Some(StopRequest::Quit));
        let keys = link.take_input();
        assert!(!keys.iter().any(|k| matches!(k, InputEvent::Key { usage: 0x14, .. })), "{keys:?}");
    }
}
