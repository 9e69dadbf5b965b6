//! The window (`--display sdl`): the guest's screen, its keyboard and
//! mouse, screenshots. The SDL part is behind the `sdl` cargo feature;
//! what it decides (key handling, layout, the title) is plain code here,
//! built and tested either way.

// Without SDL nothing uses these but their tests.
#![cfg_attr(not(feature = "sdl"), allow(dead_code))]

pub mod keys;
pub mod layout;
#[cfg(feature = "sdl")]
mod sdl;

#[cfg(feature = "sdl")]
pub use sdl::run;

use crate::options::Options;

/// Never called: `options::resolve_display` refuses `--display sdl` in a
/// build without SDL.
#[cfg(not(feature = "sdl"))]
pub fn run(_opts: Options) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("--display sdl: this ironpc was built without SDL")
}

/// The machine's name in the title: the file it boots from, or "ironpc".
pub fn machine_name(opts: &Options) -> String {
    opts.kernel
        .as_deref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ironpc".to_owned())
}

/// The window title.
pub fn title(name: &str, grabbed: bool) -> String {
    let grab = if grabbed { " [input grabbed, Ctrl-Alt-G releases]" } else { "" };
    format!("ironpc - {name}{grab}")
}

/// The first screenshot file name from number `from` on that does not
/// exist yet, and its number.
pub fn screenshot_path(from: u32, exists: impl Fn(&str) -> bool) -> (u32, String) {
    let mut n = from.max(1);
    loop {
        let name = format!("ironpc-screenshot-{n}.png");
        if !exists(&name) || n == u32::MAX {
            return (n, name);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_title_names_the_machine_and_the_grab() {
        let o = |args: &[&str]| Options::try_parse_from([&["ironpc", "--bios", "b"], args].concat()).unwrap();
        assert_eq!(machine_name(&o(&[])), "ironpc");
        assert_eq!(machine_name(&o(&["--kernel", "/boot/vmlinuz-686"])), "vmlinuz-686");
        assert_eq!(title("vmlinuz-686", false), "ironpc - vmlinuz-686");
        assert_eq!(title("ironpc", true), "ironpc - ironpc [input grabbed, Ctrl-Alt-G releases]");
    }

    #[test]
    fn screenshots_take_the_next_free_number() {
        assert_eq!(screenshot_path(1, |_| false), (1, "ironpc-screenshot-1.png".into()));
        let taken = ["ironpc-screenshot-1.png", "ironpc-screenshot-2.png"];
        assert_eq!(screenshot_path(1, |p| taken.contains(&p)), (3, "ironpc-screenshot-3.png".into()));
        assert_eq!(screenshot_path(0, |_| false).0, 1);
    }
}
