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
//! The window checks the screen's generation at [`POLL_HZ`] and uploads
//! into a streaming texture only when it moved; between checks it sleeps
//! in `SDL_WaitEventTimeout`, so a static screen costs next to nothing.

use super::keys::{Button, Hotkey, KeyAction, Keyboard, Mouse};
use super::layout::{letterbox, window_size};
use crate::options::Options;
use anyhow::{anyhow, Context, Result};
use ironpc::display::{write_png, Screen, Shown};
use ironpc::{HostLink, InputEvent, StopRequest};
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::Mod;
use sdl2::mouse::{MouseButton, MouseWheelDirection};
use sdl2::pixels::{Color, PixelFormatEnum};
use sdl2::render::{Texture, TextureCreator, WindowCanvas};
use sdl2::video::WindowContext;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the window looks for a new frame: at least every standard
/// VGA refresh rate (60 Hz graphics, 70 Hz text modes, 72 and 75 Hz VESA
/// timings), so each frame the guest's adapter publishes is shown.
const POLL_HZ: u32 = 75;

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
                let _ = tx.send((m.board.host.clone(), m.board.screen.clone()));
            })
        })
        .context("cannot start the machine thread")?;
    // No handles: the machine could not be built; its error says why.
    let Ok((link, screen)) = rx.recv() else { return join(worker) };
    if let Err(e) = show(&sdl, &video, &name, &link, &screen, &worker) {
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

/// Opens the window and runs it until the machine thread ends.
fn show(
    sdl: &sdl2::Sdl,
    video: &sdl2::VideoSubsystem,
    name: &str,
    link: &HostLink,
    screen: &Screen,
    worker: &JoinHandle<Result<ExitCode>>,
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
    let mut picture: Option<Picture> = None;
    let mut drawn_generation = None;
    let period = Duration::from_secs(1) / POLL_HZ;
    let mut next_check = Instant::now();
    loop {
        let wait = next_check.saturating_duration_since(Instant::now());
        let wait_ms = u32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        if let Some(event) = pump.wait_event_timeout(wait_ms) {
            ui.handle(event, &mut canvas);
            for event in pump.poll_iter() {
                ui.handle(event, &mut canvas);
            }
        }
        let now = Instant::now();
        if now < next_check {
            continue;
        }
        next_check = (next_check + period).max(now);
        if worker.is_finished() {
            return Ok(());
        }
        {
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
