//! The conformance sample: every user-level instruction form ironpc
//! implements, 200 seeded cases each, run on the host CPU and in
//! the interpreter, compared register by register (see the
//! `ironpc-conformance` crate). `cargo xtask conformance` runs the full
//! sweep. Set IRONPC_CONFORMANCE_SEED to replay another seed.
//!
//! The x87 transcendentals (FSIN, FPTAN, F2XM1...) are measured in ulps
//! rather than compared bit for bit: the SDM bounds their error instead
//! of defining their bits, and the host's microcode is not reproducible.
//! The worst distance per form is printed; `cargo xtask conformance`
//! without `--ulps` shows where they differ.

use ironpc_conformance::{sweep, Config};

/// Cases per form: enough to meet the edge values of every operand.
const CASES: usize = 200;

/// Forms with a few known differences from the host that are still open
/// (issue 3): their mismatches are printed, not failed on. Every other
/// form must match the host exactly. Remove an entry once it is fixed.
const KNOWN: &[(&str, &str)] = &[];

fn known(code: iced_x86::Code) -> Option<&'static str> {
    let m = format!("{:?}", code.mnemonic());
    KNOWN.iter().find(|(k, _)| *k == m).map(|(_, why)| *why)
}

#[test]
fn every_form_matches_the_host_cpu() {
    let seed = std::env::var("IRONPC_CONFORMANCE_SEED")
        .ok()
        .and_then(|s| s.strip_prefix("0x").map_or_else(|| s.parse().ok(), |h| u64::from_str_radix(h, 16).ok()))
        .unwrap_or(Config::default().seed);
    let cfg = Config { cases: CASES, seed, ulps: true, ..Config::default() };
    let summary = match sweep(&cfg, |_| {}) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    eprintln!("seed {seed:#x}: {}", summary.last_line());
    for f in summary.forms.iter().filter(|f| f.worst_ulps.is_some()) {
        eprintln!("{:?}: worst difference from the host {} ulps", f.code, f.worst_ulps.unwrap_or(0));
    }
    assert!(!summary.forms.is_empty(), "no instruction form to test");
    for f in summary.forms.iter().filter(|f| f.mismatches > 0) {
        if let Some(why) = known(f.code) {
            eprintln!("known, open: {:?}: {} of {} cases differ ({why})", f.code, f.mismatches, f.cases);
        }
    }
    let failing: Vec<String> = summary
        .forms
        .iter()
        .filter(|f| f.mismatches > 0 && known(f.code).is_none())
        .map(|f| format!("{:?}: {} of {} cases differ\n  {}", f.code, f.mismatches, f.cases, f.examples.join("\n  ")))
        .collect();
    assert!(failing.is_empty(), "seed {seed:#x}: {}\n{}", summary.last_line(), failing.join("\n"));
}
