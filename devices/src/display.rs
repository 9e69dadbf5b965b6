//! What a display adapter shows: a frame of pixels, as the renderer of the
//! VGA produces it and the window, screenshots and tests consume it.

use serde::{Deserialize, Serialize};

/// One picture of the guest's screen, `width` x `height` pixels, each
/// `0x00RRGGBB`, row after row with no padding.
///
/// A frame is a host-side product of the adapter's state, rebuilt from it
/// at will; snapshots need not hold it (it derives serde only so that a
/// device may cache one in its state without breaking invariant 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

impl Frame {
    /// A black frame of this size.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, pixels: vec![0; width as usize * height as usize] }
    }

    /// Changes the size, keeping the allocation where it can; the content
    /// is black afterwards. Returns whether the size changed.
    pub fn resize(&mut self, width: u32, height: u32) -> bool {
        let changed = (width, height) != (self.width, self.height);
        self.width = width;
        self.height = height;
        self.pixels.clear();
        self.pixels.resize(width as usize * height as usize, 0);
        changed
    }

    /// The pixel at (`x`, `y`), if inside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u32> {
        (x < self.width && y < self.height).then(|| self.pixels[y as usize * self.width as usize + x as usize])
    }

    /// Row `y` (panics if outside: `y` comes from the renderer, not the guest).
    pub fn row_mut(&mut self, y: u32) -> &mut [u32] {
        let w = self.width as usize;
        &mut self.pixels[y as usize * w..(y as usize + 1) * w]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_reports_a_change_and_blanks_the_picture() {
        let mut f = Frame::new(2, 2);
        f.row_mut(1)[1] = 0xFF_FFFF;
        assert_eq!(f.pixel(1, 1), Some(0xFF_FFFF));
        assert_eq!(f.pixel(2, 0), None);
        assert!(!f.resize(2, 2));
        assert_eq!(f.pixel(1, 1), Some(0));
        assert!(f.resize(640, 480));
        assert_eq!(f.pixels.len(), 640 * 480);
    }
}
