//! Fuzzing on stable Rust: each target is a decoder of something a peer, a file or a client
//! controls; the fuzzer feeds it inputs mutated from a seed corpus kept in the repository
//! (`seeds/TARGET/`) and reports any input that makes it panic, saved to a file. No coverage
//! feedback: mutations are random (seeded, so a run can be repeated), stacked, spliced
//! between seeds, and biased towards what breaks parsers (boundary bytes, long runs, tokens of
//! the target's format).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub mod targets;

/// One decoder to fuzz.
pub struct Target {
    /// Its name (and the folder of its seeds).
    pub name: &'static str,
    /// What it reads, in words.
    pub reads: &'static str,
    /// Whether its input is text (mutations then favour the format's tokens).
    pub text: bool,
    /// Feeds one input to the decoder; it must return, whatever the input, and never panic.
    pub run: fn(&[u8]),
}

/// What a fuzzing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Inputs tried.
    pub execs: u64,
    /// The slowest input, and how long it took.
    pub slowest: Duration,
}

/// An input that made a target panic.
#[derive(Debug)]
pub struct Crash {
    /// The target.
    pub target: &'static str,
    /// Where the input was saved.
    pub saved: PathBuf,
    /// The panic message.
    pub message: String,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} panicked on the input saved in {}: {}",
            self.target,
            self.saved.display(),
            self.message
        )
    }
}

/// The seed corpus of `target` in `seeds` (every file of `seeds/NAME/`).
pub fn seeds(seeds: &Path, target: &Target) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = seeds.join(target.name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.iter().map(std::fs::read).collect()
}

/// Bytes that break parsers: boundaries of integers, varints and UTF-8.
const BOUNDARY_BYTES: [u8; 10] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0xc0, 0xed, 0xf4, 0x0a];

/// Tokens of JSON and TOML, for text targets.
const TEXT_TOKENS: [&str; 24] = [
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "1e999",
    "-0",
    "\\u0000",
    "\\ud800",
    "=",
    "[[",
    "]]",
    "'",
    "\n",
    "9223372036854775808",
    "-1",
    "0.0000000001",
    "\u{feff}",
    "\"type\"",
    "\"id\"",
];

/// One mutation of `input`, stacked up to a few times, sometimes spliced with another seed.
pub fn mutate(rng: &mut StdRng, input: &[u8], corpus: &[Vec<u8>], text: bool) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = out.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                out[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                out[i] = BOUNDARY_BYTES[rng.gen_range(0..BOUNDARY_BYTES.len())];
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
                out.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let start = rng.gen_range(0..len);
                let end = (start + rng.gen_range(1..=64)).min(len);
                out.drain(start..end);
            }
            4 if len > 0 => {
                // Repeat a piece, sometimes many times (deep nesting, long lists).
                let start = rng.gen_range(0..len);
                let end = (start + rng.gen_range(1..=32)).min(len);
                let piece = out[start..end].to_vec();
                let times = if rng.gen_bool(0.1) {
                    1000
                } else {
                    rng.gen_range(1..8)
                };
                let at = rng.gen_range(0..=len);
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                out.splice(at..at, repeated);
            }
            5 if !corpus.is_empty() => {
                // Splice: our head, another seed's tail.
                let other = &corpus[rng.gen_range(0..corpus.len())];
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 if text => {
                let token = TEXT_TOKENS[rng.gen_range(0..TEXT_TOKENS.len())];
                let i = rng.gen_range(0..=len);
                out.splice(i..i, token.bytes());
            }
            7 if len > 0 => out.truncate(rng.gen_range(0..len)),
            _ if len > 1 => {
                let (a, b) = (rng.gen_range(0..len), rng.gen_range(0..len));
                out.swap(a, b);
            }
            _ => out.push(rng.r#gen()),
        }
    }
    out
}

/// Fuzzes `target` for `duration` from `corpus`, with the random generator seeded by `seed`;
/// an input that panics is saved under `crashes` and returned.
pub fn fuzz(
    target: &Target,
    corpus: &[Vec<u8>],
    duration: Duration,
    seed: u64,
    crashes: &Path,
) -> Result<Run, Crash> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut run = Run {
        execs: 0,
        slowest: Duration::ZERO,
    };
    // Panics are expected to be caught here: their messages are kept, not printed.
    let message = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let previous = std::panic::take_hook();
    {
        let message = message.clone();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = message.lock() {
                *m = info.to_string();
            }
        }));
    }
    let start = Instant::now();
    let mut last: Vec<u8> = Vec::new();
    let mut outcome = Ok(());
    // The seeds themselves first, then mutations.
    let mut queue: std::collections::VecDeque<Vec<u8>> = corpus.iter().cloned().collect();
    while start.elapsed() < duration || !queue.is_empty() {
        let input = match queue.pop_front() {
            Some(seed_input) => seed_input,
            None => {
                let base = if !last.is_empty() && rng.gen_bool(0.3) {
                    last.clone()
                } else if corpus.is_empty() {
                    Vec::new()
                } else {
                    corpus[rng.gen_range(0..corpus.len())].clone()
                };
                mutate(&mut rng, &base, corpus, target.text)
            }
        };
        let began = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        run.slowest = run.slowest.max(began.elapsed());
        run.execs += 1;
        if result.is_err() {
            outcome = Err(input);
            break;
        }
        last = input;
    }
    std::panic::set_hook(previous);
    match outcome {
        Ok(()) => Ok(run),
        Err(input) => {
            use sha2::Digest;
            let name = format!(
                "{}-{}.bin",
                target.name,
                &hex::encode(sha2::Sha256::digest(&input))[..16]
            );
            let saved = crashes.join(name);
            let _ = std::fs::create_dir_all(crashes);
            let _ = std::fs::write(&saved, &input);
            Err(Crash {
                target: target.name,
                saved,
                message: message.lock().map(|m| m.clone()).unwrap_or_default(),
            })
        }
    }
}

/// The seed corpus kept in the repository.
pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics_on_a_bang(data: &[u8]) {
        assert!(!data.contains(&b'!'), "a bang");
    }

    #[test]
    fn a_panicking_input_is_found_saved_and_reported() {
        let target = Target {
            name: "bang",
            reads: "anything but a bang",
            text: true,
            run: panics_on_a_bang,
        };
        let dir = std::env::temp_dir().join(format!("cairn-fuzz-test-{}", std::process::id()));
        let corpus = vec![b"hello".to_vec()];
        let crash = fuzz(&target, &corpus, Duration::from_secs(20), 3, &dir)
            .expect_err("a bang is found well within the time");
        assert_eq!(crash.target, "bang");
        assert!(crash.message.contains("a bang"), "{}", crash.message);
        let saved = std::fs::read(&crash.saved).expect("the input is saved");
        assert!(saved.contains(&b'!'));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn mutations_repeat_for_a_seed_and_differ_between_seeds() {
        let corpus = vec![b"{\"type\":\"bundle\"}".to_vec(), vec![1, 2, 3, 4]];
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50)
                .map(|i| mutate(&mut rng, &corpus[i % 2], &corpus, true))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert!(run(1).iter().any(|m| m != &corpus[0] && m != &corpus[1]));
    }
}
