//! A bitmap with one bit per 4 KiB physical page.

use serde::{Deserialize, Serialize};

/// One bit per physical page. Used for "this page holds decoded code" and
/// "this page was written since the last scan".
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PageBitmap {
    words: Vec<u64>,
}

impl PageBitmap {
    /// A bitmap covering `pages` pages, all clear.
    pub fn new(pages: u64) -> Self {
        Self { words: vec![0; pages.div_ceil(64) as usize] }
    }

    /// Whether page `page` is set; pages beyond the bitmap read as clear.
    #[inline]
    pub fn get(&self, page: u64) -> bool {
        self.words.get((page / 64) as usize).is_some_and(|w| w & (1 << (page % 64)) != 0)
    }

    /// Sets page `page`, returning whether it was already set. Pages beyond
    /// the bitmap are ignored.
    #[inline]
    pub fn set(&mut self, page: u64) -> bool {
        match self.words.get_mut((page / 64) as usize) {
            Some(w) => {
                let bit = 1 << (page % 64);
                let was = *w & bit != 0;
                *w |= bit;
                was
            }
            None => false,
        }
    }

    /// Clears page `page`, returning whether it was set.
    #[inline]
    pub fn clear(&mut self, page: u64) -> bool {
        match self.words.get_mut((page / 64) as usize) {
            Some(w) => {
                let bit = 1 << (page % 64);
                let was = *w & bit != 0;
                *w &= !bit;
                was
            }
            None => false,
        }
    }

    /// Returns the set pages in `[first, first + count)` and clears them.
    pub fn take_range(&mut self, first: u64, count: u64) -> Vec<u64> {
        (first..first + count).filter(|&p| self.clear(p)).collect()
    }

    /// Number of pages covered.
    pub fn len(&self) -> u64 {
        self.words.len() as u64 * 64
    }

    /// Whether the bitmap covers no pages.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear_and_take() {
        let mut b = PageBitmap::new(130);
        assert!(!b.set(3));
        assert!(b.set(3));
        assert!(b.get(3));
        b.set(129);
        assert_eq!(b.take_range(0, 130), vec![3, 129]);
        assert!(!b.get(3));
        assert!(!b.set(10_000), "out of range is ignored");
        assert!(!b.get(10_000));
    }
}
