//! `cargo xtask`: the long runs that do not belong in `cargo test`
//! (DESIGN.md, "Tests in three tiers").

mod bench;
mod bench_boot;
mod bench_disk;
mod conformance;
mod cpio;
mod disk_images;
mod fuzz;
mod guest;
mod images;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command> [options]
commands:
  conformance [--cases N] [--seed S] [--filter MNEMONIC] [--examples N] [--excluded] [--forms] [--unimplemented]
                                     the host-differential sweep of every implemented instruction form
  fuzz [--instructions N] [--seed S] random guest code from random states in every mode
  bench interp                       interpreter MIPS on an integer loop, beside QEMU
  bench boot                         Debian's kernel to the initramfs marker and to power-off, beside QEMU
  bench disk                         64 MiB read from the IDE disk inside Linux (dd), beside QEMU
  images [--force]                   fetch the guest images from Debian packages into target/images";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("conformance") => conformance::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("images") => images::run(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of xtask/).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Cargo's target directory, for generated files.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}
