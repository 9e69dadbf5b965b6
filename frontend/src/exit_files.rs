//! The files ironpc writes from the guest's screen when it exits:
//! `--screenshot-on-exit` (a PNG of the last frame) and `--vga-text-dump`
//! (the characters of a text-mode screen, a line per row).
//!
//! A text dump asked for while the screen is in a graphics mode (or was
//! never set up) is written empty, so that no stale text from an earlier
//! run is left behind, and a line on stderr says why.

use ironpc::display::{write_png, Screen};
use std::path::Path;

/// Writes the files asked for from `screen`; returns one line per problem
/// or remark (for stderr, without the "ironpc: " prefix). Each file is
/// tried whatever happened to the other.
pub fn write(screen: &Screen, screenshot: Option<&Path>, text_dump: Option<&Path>) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(path) = screenshot {
        if let Err(e) = write_png(&screen.frame(), path) {
            notes.push(format!("--screenshot-on-exit: {e}; {} not written", path.display()));
        }
    }
    if let Some(path) = text_dump {
        let (text, why) = dump_text(screen);
        if let Err(e) = std::fs::write(path, text) {
            notes.push(format!("--vga-text-dump: cannot write {}: {e}", path.display()));
        } else if let Some(why) = why {
            notes.push(format!("--vga-text-dump: {why}; {} written empty", path.display()));
        }
    }
    notes
}

/// The text dump's content, and why it is empty when it is.
fn dump_text(screen: &Screen) -> (String, Option<&'static str>) {
    let shown = screen.lock();
    match &shown.text {
        Some(t) if t.is_empty() || t.ends_with('\n') => (t.clone(), None),
        Some(t) => (format!("{t}\n"), None),
        None if shown.frame.width == 0 => (String::new(), Some("the guest never set up its screen")),
        None => (String::new(), Some("the screen is in a graphics mode, with no text to dump")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpc::devices::display::Frame;
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ironpc-exit-files-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_text_screen_gives_both_files() {
        let screen = Screen::new();
        let mut f = Frame::new(8, 4);
        f.row_mut(2)[5] = 0xAA_5500;
        screen.publish(&f, true, Some("Booting from Hard Disk...\nC:\\>".into()));
        let (png, txt) = (temp("a.png"), temp("a.txt"));
        let notes = write(&screen, Some(&png), Some(&txt));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(std::fs::read_to_string(&txt).unwrap(), "Booting from Hard Disk...\nC:\\>\n", "one line per row, ended");
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (8, 4));
        std::fs::remove_file(png).ok();
        std::fs::remove_file(txt).ok();
    }

    #[test]
    fn a_graphics_screen_empties_the_text_dump_and_says_so() {
        let screen = Screen::new();
        screen.publish(&Frame::new(640, 480), true, None);
        let txt = temp("g.txt");
        std::fs::write(&txt, "stale text of an earlier run").unwrap();
        let notes = write(&screen, None, Some(&txt));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("graphics mode"), "{notes:?}");
        assert_eq!(std::fs::read(&txt).unwrap(), b"");
        std::fs::remove_file(txt).ok();
    }

    #[test]
    fn a_screen_never_set_up_gives_no_screenshot_and_an_empty_dump() {
        let screen = Screen::new();
        let (png, txt) = (temp("n.png"), temp("n.txt"));
        let notes = write(&screen, Some(&png), Some(&txt));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("empty") && notes[0].contains("not written"), "{notes:?}");
        assert!(notes[1].contains("never set up"), "{notes:?}");
        assert!(!png.exists());
        assert_eq!(std::fs::read(&txt).unwrap(), b"");
        std::fs::remove_file(txt).ok();
    }

    #[test]
    fn an_unwritable_path_is_a_note_not_a_panic() {
        let screen = Screen::new();
        screen.publish(&Frame::new(2, 2), true, Some("x".into()));
        let bad = Path::new("/nonexistent-dir/x");
        let notes = write(&screen, Some(bad), Some(bad));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| n.contains("/nonexistent-dir/x")), "{notes:?}");
    }
}
