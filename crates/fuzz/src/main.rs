//! `cairn-fuzz`: runs the fuzz targets on stable Rust.
//!
//! ```sh
//! cargo run --release -p cairn-fuzz -- list
//! cargo run --release -p cairn-fuzz -- run envelope --seconds 1800
//! cargo run --release -p cairn-fuzz -- run all --seconds 60      # split between the targets
//! ```
//! An input that makes a target panic is saved under `target/fuzz-crashes/` and the run fails.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

fn main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| -> Option<&String> {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let targets = cairn_fuzz::targets::all();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in &targets {
                println!("{:<14} {}", t.name, t.reads);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("run") => {
            let which = args
                .get(1)
                .context("run TARGET|all [--seconds N] [--seed N]")?;
            let seconds: u64 = value("--seconds")
                .map(|s| s.parse().context("--seconds takes a number"))
                .transpose()?
                .unwrap_or(60);
            let seed: u64 = value("--seed")
                .map(|s| s.parse().context("--seed takes a number"))
                .transpose()?
                .unwrap_or(1);
            let chosen: Vec<_> = targets
                .iter()
                .filter(|t| which == "all" || t.name == which)
                .collect();
            if chosen.is_empty() {
                bail!("no target {which:?}: `cairn-fuzz list` shows them");
            }
            let each = Duration::from_secs(seconds) / u32::try_from(chosen.len()).unwrap_or(1);
            let crashes = PathBuf::from("target/fuzz-crashes");
            let mut failed = false;
            for target in chosen {
                let corpus = cairn_fuzz::seeds(&cairn_fuzz::seed_dir(), target)
                    .with_context(|| format!("the seeds of {}", target.name))?;
                match cairn_fuzz::fuzz(target, &corpus, each, seed, &crashes) {
                    Ok(run) => println!(
                        "{:<14} {:>9} inputs in {:.0} s from {} seeds, slowest {:.1} ms: no panic",
                        target.name,
                        run.execs,
                        each.as_secs_f64(),
                        corpus.len(),
                        run.slowest.as_secs_f64() * 1000.0
                    ),
                    Err(crash) => {
                        println!("{crash}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        _ => {
            eprintln!("cairn-fuzz list | run TARGET|all [--seconds N] [--seed N]");
            Ok(ExitCode::from(2))
        }
    }
}
