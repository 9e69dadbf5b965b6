//! `cargo xtask conformance [--cases N] [--seed S] [--filter MNEMONIC]
//! [--examples N] [--excluded] [--forms] [--unimplemented] [--ulps]`: the full sweep
//! of every implemented user-level instruction form against the host CPU,
//! a table per mnemonic and a closing line. `--excluded` lists the
//! implemented forms left out and why; `--forms` prints a row per form as
//! well; `--unimplemented` also sweeps forms ironpc lacks (they #UD);
//! `--ulps` measures the x87 transcendentals (FSIN, FCOS, FSINCOS, FPTAN,
//! FPATAN, F2XM1, FYL2X, FYL2XP1) in ulps against the host instead of
//! counting their result differences, and prints the worst per form.

use std::env;

/// Parses a number in decimal or 0x hex.
fn number(flag: &str, v: Option<&String>) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| format!("{flag}: `{v}` is not a number"))
}

/// The full conformance sweep. Succeeds when no defined result differs.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut cfg = ironpc_conformance::Config::default();
    if let Ok(s) = env::var("IRONPC_CONFORMANCE_SEED") {
        cfg.seed = number("IRONPC_CONFORMANCE_SEED", Some(&s))?;
    }
    let mut show_excluded = false;
    let mut show_forms = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => cfg.cases = number(a, it.next())? as usize,
            "--seed" => cfg.seed = number(a, it.next())?,
            "--examples" => cfg.examples = number(a, it.next())? as usize,
            "--filter" => cfg.filter = Some(it.next().ok_or("--filter needs a mnemonic")?.clone()),
            "--excluded" => show_excluded = true,
            "--unimplemented" => cfg.unimplemented = true,
            "--ulps" => cfg.ulps = true,
            "--forms" => show_forms = true,
            other => return Err(format!("conformance: unknown option `{other}`")),
        }
    }
    println!("conformance: seed {:#x}, {} cases per form", cfg.seed, cfg.cases);
    let summary = ironpc_conformance::sweep(&cfg, |_| {}).map_err(|e| e.to_string())?;
    if show_excluded {
        for (code, why) in &summary.excluded {
            println!("excluded {code:?}: {why}");
        }
    }
    if show_forms {
        for f in &summary.forms {
            println!(
                "{:<28} {:>7} cases {:>6} mismatches {:>6} undefined; host: {}",
                format!("{:?}", f.code),
                f.cases,
                f.mismatches,
                f.undefined,
                f.host_faults
                    .iter()
                    .map(|(v, n)| format!("{} {n}", v.map_or("ok".to_string(), |v| format!("#{v}"))))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !summary.low_code {
        println!("note: the host cannot map the low code area: 16-bit near branches not swept");
    }
    if !summary.fs_data {
        println!("note: the host refused modify_ldt: no 16-bit addressing or FS-relative cases");
    }
    print!("{summary}");
    match summary.mismatches() {
        0 => Ok(()),
        n => Err(format!("{n} mismatches in defined results")),
    }
}
