//! `cairn-sim`: plays the simulated federation scenarios and prints what they measured.

use std::time::Duration;

use anyhow::{Context, bail};
use cairn_sim::{Scenario, Size, play};

const USAGE: &str = "\
cairn-sim: Cairn's protocol code in a simulated federation

usage: cairn-sim [--orgs N] [--partners N] [--reports N] [--seed N] [--latency-ms N]
                 [--scenario NAME]... [--check]

  --orgs N        organisations (1000)
  --partners N    partners per organisation before rewiring (6)
  --reports N     reports written per scenario (20)
  --seed N        the run's seed: the same seed plays the same run (1)
  --latency-ms N  one-way latency of every link (20)
  --scenario NAME reach, mixed, lossy, partition, churn or offline-week (all when none)
  --check         exit with an error if anything leaked, a holding differs from the oracle's
                  reach, an honest partner was reported, or a report of the reach scenario took
                  longer than 1 s to every organisation within 5 hops";

fn main() -> anyhow::Result<()> {
    let mut size = Size::default();
    let mut scenarios = Vec::new();
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> anyhow::Result<u64> {
            let value = args
                .next()
                .with_context(|| format!("{name} needs a number"))?;
            value
                .parse()
                .with_context(|| format!("{name} {value}: not a whole number"))
        };
        match arg.as_str() {
            "--orgs" => size.orgs = number("--orgs")? as usize,
            "--partners" => size.partners = number("--partners")? as usize,
            "--reports" => size.reports = number("--reports")? as usize,
            "--seed" => size.seed = number("--seed")?,
            "--latency-ms" => size.latency = Duration::from_millis(number("--latency-ms")?),
            "--scenario" => {
                let name = args.next().context("--scenario needs a name")?;
                match Scenario::named(&name) {
                    Some(s) => scenarios.push(s),
                    None => bail!(
                        "unknown scenario {name}: one of reach, mixed, lossy, partition, churn, offline-week"
                    ),
                }
            }
            "--check" => check = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n\n{USAGE}"),
        }
    }
    if size.orgs < 2 {
        bail!("--orgs: a federation needs at least 2 organisations");
    }
    if scenarios.is_empty() {
        scenarios = Scenario::ALL.to_vec();
    }
    let mut failures = Vec::new();
    for scenario in scenarios {
        let outcome = play(scenario, size);
        println!("{outcome}");
        if !outcome.sound() {
            failures.push(format!("{}: not sound", scenario.name()));
        }
        if scenario == Scenario::Reach && outcome.to_deep.max > 1000.0 {
            failures.push(format!(
                "reach: {:.0} ms to every organisation within 5 hops (target 1,000 ms)",
                outcome.to_deep.max
            ));
        }
    }
    if check && !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
