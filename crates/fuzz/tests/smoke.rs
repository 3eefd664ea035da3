//! The CI smoke run: every target fuzzed from its seeds, 60 s in all when `CI` is set (10 s
//! otherwise). Any input that makes a target panic fails the test, saved under
//! `target/fuzz-crashes/` to reproduce it with `cairn-fuzz`.

use std::time::Duration;

#[test]
fn every_target_survives_a_smoke_run() {
    let total = if std::env::var_os("CI").is_some() {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(10)
    };
    let targets = cairn_fuzz::targets::all();
    let each = total / u32::try_from(targets.len()).unwrap_or(1);
    let crashes =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-crashes");
    let mut failures = Vec::new();
    for target in &targets {
        let corpus = cairn_fuzz::seeds(&cairn_fuzz::seed_dir(), target).expect("seeds");
        match cairn_fuzz::fuzz(target, &corpus, each, 7, &crashes) {
            Ok(run) => eprintln!("{}: {} inputs, no panic", target.name, run.execs),
            Err(crash) => failures.push(crash.to_string()),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
