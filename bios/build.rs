//! Assembles the option ROMs in `roms/` with nasm (Debian package `nasm`;
//! `scripts/setup-debian.sh` installs it). The images are embedded with
//! `include_bytes!`; their size byte and checksums are fixed up in Rust.

use std::path::PathBuf;
use std::process::Command;

const ROMS: &[&str] = &["linuxboot", "multiboot"];

/// Shared by every ROM (`%include "optionrom.inc"`).
const INCLUDE: &str = "roms/optionrom.inc";

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={INCLUDE}");
    for name in ROMS {
        let src = PathBuf::from("roms").join(format!("{name}.asm"));
        println!("cargo:rerun-if-changed={}", src.display());
        let out = out_dir.join(format!("{name}.bin"));
        let result = Command::new("nasm").arg("-f").arg("bin").arg("-i").arg("roms/").arg("-o").arg(&out).arg(&src).output();
        match result {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!("nasm failed on {}:\n{}", src.display(), String::from_utf8_lossy(&o.stderr)),
            Err(e) => panic!("cannot run nasm to assemble {} ({e}): install it (apt-get install nasm)", src.display()),
        }
    }
}
