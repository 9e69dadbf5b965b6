//! `cargo xtask fuzz [--instructions N] [--seed S]`: long runs of the guest
//! fuzzer (see `ironpc_cpu::fuzz`). Each case runs in its own
//! `catch_unwind`, so a panic is reported with the case seed that
//! reproduces it.

use ironpc::cpu::{
    fuzz::{run_case, Mode},
    testing::Rng,
};
use std::time::Instant;

/// Instructions per case: long enough to wander through handlers and mode
/// changes, short enough that a failing case is quick to replay.
const PER_CASE: u64 = 20_000;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut total: u64 = 10_000_000;
    let mut seed: u64 =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let n: u64 = v.parse().map_err(|_| format!("{a}: `{v}` is not a number"))?;
        match a.as_str() {
            "--instructions" => total = n,
            "--seed" => seed = n,
            _ => return Err(format!("unknown option {a} (options: --instructions N, --seed S)")),
        }
    }
    println!("fuzz: seed {seed}, {total} instructions, {PER_CASE} per case");
    let mut rng = Rng::new(seed);
    let (mut done, mut cases) = (0u64, 0u64);
    let mut by_mode = [0u64; 5];
    let t = Instant::now();
    std::panic::set_hook(Box::new(|_| {}));
    while done < total {
        let case = rng.next_u64();
        let o = match std::panic::catch_unwind(|| run_case(case, PER_CASE)) {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(format!("invariant broken in case {case:#x}: {e}")),
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                return Err(format!("ironpc panicked in case {case:#x}: {}", msg.unwrap_or_default()));
            }
        };
        done += o.instructions.max(1);
        cases += 1;
        by_mode[o.mode as usize] += o.instructions;
    }
    let secs = t.elapsed().as_secs_f64();
    for (mode, n) in [Mode::Real, Mode::Prot16, Mode::Flat32, Mode::User32, Mode::V86].iter().zip(by_mode) {
        println!("  {:<8} {n:>12} instructions", format!("{mode:?}"));
    }
    println!("fuzz: {cases} cases, {done} instructions in {secs:.1} s, no panics, no broken invariants");
    Ok(())
}
