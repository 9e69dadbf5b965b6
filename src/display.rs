//! The guest's screen as the host sees it: the latest frame the display
//! adapter rendered and the text on a text-mode screen, shared between the
//! run loop (which publishes) and the host's window, screenshots and text
//! dumps (which read).
//!
//! A [`Screen`] is a host handle, not machine state: clones share one
//! picture; any thread may read it.

pub use ironpc_devices::display::Frame;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// What was last published.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    pub frame: Frame,
    /// Moves on each publication that changed the picture; a window
    /// redraws when it differs from what it drew.
    pub generation: u64,
    /// The characters of a text-mode screen, a line per row (None in a
    /// graphics mode).
    pub text: Option<String>,
}

/// The shared picture, and who wants to hear of a new one.
#[derive(Clone, Default)]
pub struct Screen {
    shown: Arc<Mutex<Shown>>,
    watcher: Arc<Mutex<Option<Watcher>>>,
}

/// Called on the publishing thread after each publication that changed the
/// picture.
type Watcher = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watched = self.watcher.lock().is_ok_and(|w| w.is_some());
        f.debug_struct("Screen").field("shown", &self.shown).field("watched", &watched).finish()
    }
}

impl Screen {
    pub fn new() -> Self {
        Self::default()
    }

    /// The picture; a thread that panicked holding it left plain data.
    pub fn lock(&self) -> MutexGuard<'_, Shown> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the picture with `frame` (when `changed`) and the text, and
    /// then tells the watcher of a changed picture.
    pub fn publish(&self, frame: &Frame, changed: bool, text: Option<String>) {
        {
            let mut shown = self.lock();
            if changed {
                shown.frame.clone_from(frame);
                shown.generation = shown.generation.wrapping_add(1);
            }
            shown.text = text;
        }
        if changed {
            let watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(tell) = watcher {
                tell();
            }
        }
    }

    /// Calls `on_new_frame` (on the publishing thread) after every change
    /// of the picture from now on, so that a window sleeps until there is
    /// something new to show. One watcher at a time: this replaces any
    /// earlier one.
    pub fn watch(&self, on_new_frame: impl Fn() + Send + Sync + 'static) {
        *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(on_new_frame));
    }

    /// Stops calling the watcher.
    pub fn unwatch(&self) {
        *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A copy of the current frame.
    pub fn frame(&self) -> Frame {
        self.lock().frame.clone()
    }

    /// The text of a text-mode screen, if the adapter is in one.
    pub fn text(&self) -> Option<String> {
        self.lock().text.clone()
    }
}

/// Why a screenshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot encode {path}: {source}")]
    Png { path: String, source: png::EncodingError },
    #[error("the screen is empty (the guest never set a display mode)")]
    Empty,
}

/// Writes `frame` as an 8-bit RGB PNG.
pub fn write_png(frame: &Frame, path: &Path) -> Result<(), ScreenshotError> {
    if frame.width == 0 || frame.height == 0 {
        return Err(ScreenshotError::Empty);
    }
    let name = path.display().to_string();
    let file = std::fs::File::create(path).map_err(|source| ScreenshotError::Io { path: name.clone(), source })?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), frame.width, frame.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let rgb: Vec<u8> = frame.pixels.iter().flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8]).collect();
    let png_err = |source| ScreenshotError::Png { path: name.clone(), source };
    let mut w = enc.write_header().map_err(png_err)?;
    w.write_image_data(&rgb).map_err(png_err)?;
    w.finish().map_err(png_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_hears_of_changed_pictures_only_until_unwatched() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let screen = Screen::new();
        let told = Arc::new(AtomicU32::new(0));
        let counter = told.clone();
        screen.watch(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let frame = Frame::new(2, 2);
        screen.publish(&frame, true, None);
        screen.publish(&frame, false, Some("text only".into()));
        screen.publish(&frame, true, None);
        assert_eq!(told.load(Ordering::Relaxed), 2, "two changed pictures");
        assert_eq!(screen.lock().generation, 2);
        screen.unwatch();
        screen.publish(&frame, true, None);
        assert_eq!(told.load(Ordering::Relaxed), 2, "nobody watches any more");
    }

    #[test]
    fn a_published_frame_is_seen_by_clones_and_moves_the_generation() {
        let screen = Screen::new();
        let reader = screen.clone();
        let mut f = Frame::new(4, 2);
        f.row_mut(1)[3] = 0x12_3456;
        screen.publish(&f, true, Some("A".into()));
        assert_eq!(reader.lock().generation, 1);
        assert_eq!(reader.frame().pixel(3, 1), Some(0x12_3456));
        screen.publish(&f, false, None);
        assert_eq!(reader.lock().generation, 1, "unchanged picture");
        assert_eq!(reader.text(), None);
    }

    #[test]
    fn a_png_screenshot_decodes_to_the_same_pixels() {
        let mut f = Frame::new(3, 2);
        f.pixels.copy_from_slice(&[0xFF_0000, 0x00_FF00, 0x00_00FF, 0xFF_FFFF, 0, 0x80_4020]);
        let path = std::env::temp_dir().join(format!("ironpc-shot-{}.png", std::process::id()));
        write_png(&f, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((info.width, info.height), (3, 2));
        let got: Vec<u32> =
            buf[..info.buffer_size()].chunks(3).map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2])).collect();
        assert_eq!(got, f.pixels);
        assert!(matches!(write_png(&Frame::default(), &path), Err(ScreenshotError::Empty)));
    }
}
