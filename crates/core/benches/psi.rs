//! Private set intersection at the size the design asks for: a partner asks about 100,000
//! values a node holding 1,000,000 may let it see, 10,000 of them held. Times each step of the
//! protocol (`cairn_core::psi`) on this machine's cores and the bytes each message takes, and
//! checks the intersection found is the plain one.
//!
//! Run: `cargo bench -p cairn-core --bench psi` (`--asked N`, default 100,000; `--held N`,
//! default 1,000,000; `--common N`, default 10,000).

use std::time::Instant;

use cairn_core::psi::{ResponderKey, start_query};
use cairn_core::{Indicator, IndicatorType};
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

/// The `n`th of a family of distinct values: addresses, domains and SHA-256 hashes in turn.
fn value(family: u8, n: usize) -> Indicator {
    let (kind, text) = match n % 3 {
        0 => {
            let [_, b, c, d] = (n as u32).to_be_bytes();
            (IndicatorType::Ipv4, format!("{}.{b}.{c}.{d}", 10 + family))
        }
        1 => (IndicatorType::Domain, format!("h{n}.f{family}.example")),
        _ => (IndicatorType::Sha256, format!("{:02x}{:062x}", family, n)),
    };
    Indicator::new(kind, &text, "").expect("a valid value")
}

fn main() {
    let asked_n = number("--asked", 100_000);
    let held_n = number("--held", 1_000_000);
    let common = number("--common", 10_000).min(asked_n).min(held_n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // The held values: family 1; the asked: `common` of those, then family 2.
    let held: Vec<Indicator> = (0..held_n).map(|n| value(1, n)).collect();
    let asked: Vec<Indicator> = (0..asked_n)
        .map(|n| {
            if n < common {
                value(1, n * (held_n / common.max(1)))
            } else {
                value(2, n)
            }
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("psi: {asked_n} values asked of {held_n} held ({common} in common), {cores} core(s)");

    let key = ResponderKey::generate(&mut rng);
    let t = Instant::now();
    let tags = key.tags(&held, &mut rng).expect("within the limits");
    let tags_time = t.elapsed();

    let t = Instant::now();
    let (query, blinded) = start_query(&asked, &mut rng).expect("within the limits");
    let blind_time = t.elapsed();

    let t = Instant::now();
    let evaluated = key.evaluate(&blinded).expect("a valid query");
    let evaluate_time = t.elapsed();

    let t = Instant::now();
    let found = query.finish(&evaluated, &tags).expect("a valid answer");
    let finish_time = t.elapsed();

    assert_eq!(found.len(), common, "the intersection is the plain one");
    let mb = |bytes: usize| bytes as f64 / 1_048_576.0;
    println!(
        "responder, tags of what the partner may see (once per partner and epoch): {:>8.2} s, {} tags, {:.1} MiB",
        tags_time.as_secs_f64(),
        tags.len(),
        mb(tags.len() * 8)
    );
    println!(
        "requester, blinding the values asked:                                    {:>8.2} s, query {:.1} MiB",
        blind_time.as_secs_f64(),
        mb(blinded.len())
    );
    println!(
        "responder, answering the query:                                          {:>8.2} s, answer {:.1} MiB",
        evaluate_time.as_secs_f64(),
        mb(evaluated.len() + tags.len() * 8)
    );
    println!(
        "requester, reading the answer:                                           {:>8.2} s, {} found",
        finish_time.as_secs_f64(),
        found.len()
    );
    println!(
        "one query, tags already made: {:.2} s; with the tags made for it: {:.2} s",
        (blind_time + evaluate_time + finish_time).as_secs_f64(),
        (tags_time + blind_time + evaluate_time + finish_time).as_secs_f64()
    );
}
