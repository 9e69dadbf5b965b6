//! Builds the native oracle (`oracle/oracle.c`) as a 32-bit static Linux
//! executable in OUT_DIR. A missing `gcc -m32` does not fail the build of
//! the workspace: the crate records why, and the sweep returns that as an
//! error when it starts (the README's setup script installs gcc-multilib).

use std::{env, path::PathBuf, process::Command};

fn main() {
    let src = "oracle/oracle.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=IRONPC_ORACLE_CC");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("ironpc-oracle");
    let supported =
        env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let error = if !supported {
        "the native oracle needs an x86-64 Linux host".to_string()
    } else {
        let cc = env::var("IRONPC_ORACLE_CC").unwrap_or_else(|_| "gcc".into());
        let status =
            Command::new(&cc).args(["-m32", "-O1", "-static", "-fno-pie", "-no-pie", "-Wall", "-o"]).arg(&out).arg(src).output();
        match status {
            Ok(o) if o.status.success() => String::new(),
            Ok(o) => format!(
                "`{cc} -m32 -static` failed (install gcc-multilib: scripts/setup-debian.sh): {}",
                String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("")
            ),
            Err(e) => format!("cannot run `{cc}` to build the native oracle: {e}"),
        }
    };
    println!("cargo:rustc-env=IRONPC_ORACLE_PATH={}", out.display());
    println!("cargo:rustc-env=IRONPC_ORACLE_ERROR={error}");
    if !error.is_empty() {
        println!("cargo:warning={error}");
    }
}
