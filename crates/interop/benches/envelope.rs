//! The CPU work of one TAXII POST without HTTP or disk: an envelope of STIX indicators read and
//! mapped into a report that carries them (`import_bundle`), then signed, in a loop. Prints the
//! time per envelope of each step, best of five rounds.
//!
//! Run: `cargo bench -p cairn-interop --bench envelope` (`--objects N` per envelope, default 100,
//! as the TAXII benchmark posts them; `--rounds N` envelopes per round, default 2,000).

use std::time::{Duration, Instant};

use cairn_core::{OrgKey, Tlp};
use cairn_interop::import::{Held, ImportOptions};
use rand::SeedableRng;

fn number(flag: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag} needs a number"))
        })
        .unwrap_or(default)
}

/// An envelope of `n` indicators as the TAXII benchmark posts them.
fn envelope(n: usize) -> String {
    let objects: Vec<serde_json::Value> = (0..n).map(cairn_core::sample::stix_indicator).collect();
    serde_json::json!({ "objects": objects }).to_string()
}

fn main() {
    let objects = number("--objects", 100);
    let rounds = number("--rounds", 2_000);
    let text = envelope(objects);
    let org = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
    let held = |_: &str, _| Held::No;
    let options = ImportOptions {
        default_tlp: Tlp::Amber,
        held: &held,
        ..ImportOptions::default()
    };
    let (mut best_import, mut best_sign) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        let (mut import, mut sign) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..rounds {
            let start = Instant::now();
            let imported =
                cairn_interop::stix::import_bundle(text.as_bytes(), &org.public(), &options)
                    .expect("the envelope imports");
            let mapped = Instant::now();
            for report in &imported.reports {
                report.sign(&org).expect("the report signs");
            }
            sign += mapped.elapsed();
            import += mapped - start;
        }
        best_import = best_import.min(import / rounds as u32);
        best_sign = best_sign.min(sign / rounds as u32);
    }
    println!(
        "envelope of {objects} indicators ({} KiB): import {:.0} µs, sign {:.0} µs (best of 5 rounds of {rounds})",
        text.len() / 1024,
        best_import.as_secs_f64() * 1e6,
        best_sign.as_secs_f64() * 1e6
    );
}
