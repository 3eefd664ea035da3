//! Crash safety: a child process ingests reports in a loop and prints each id it was told is
//! stored; it is killed with SIGKILL at random moments, and after every reopen each
//! acknowledged report must be present and verify.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_core::{OrgKey, ReportId, sample};
use cairn_store::{IngestOutcome, Provenance, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "CAIRN_CRASH_TEST_DIR";
const CHILD_ROUND: &str = "CAIRN_CRASH_TEST_ROUND";
const TEST_NAME: &str = "acknowledged_reports_survive_sigkill";
const ROUNDS: u64 = 12;

#[test]
fn acknowledged_reports_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let round = std::env::var(CHILD_ROUND)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        ingest_until_killed(&dir, round);
        return;
    }
    let seed: u64 = std::env::var("CAIRN_CRASH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    eprintln!("crash test seed {seed} (set CAIRN_CRASH_TEST_SEED to repeat)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: HashSet<ReportId> = HashSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the first acknowledgement, then let it run a random while and kill it.
        let mut lines = Vec::new();
        loop {
            let line = lines_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the child acknowledged nothing within a minute");
            let acknowledged = line.starts_with("stored ");
            lines.push(line);
            if acknowledged {
                break;
            }
        }
        let run_for = Duration::from_millis(rng.gen_range(20..400));
        let until = Instant::now() + run_for;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match lines_rx.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());
        let mut this_round = 0;
        for line in lines {
            if let Some(hex) = line.strip_prefix("stored ")
                && acknowledged.insert(hex.trim().parse().unwrap())
            {
                this_round += 1;
            }
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        for id in &acknowledged {
            let stored = store
                .get(id)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged report {id} is missing"));
            cairn_core::verify(stored.report.envelope_bytes())
                .unwrap_or_else(|e| panic!("round {round}: report {id} no longer verifies: {e}"));
        }
        assert!(store.len().unwrap() >= acknowledged.len() as u64);
        let listed = store.after(0, usize::MAX).unwrap();
        assert_eq!(
            listed.len() as u64,
            store.len().unwrap(),
            "arrival list and reports disagree"
        );
        // Every stored report is found by a query, indexed or not.
        let all = cairn_store::ReportQuery {
            include_history: true,
            limit: usize::MAX,
            ..Default::default()
        };
        assert_eq!(store.query(&all).unwrap().len(), listed.len());
        eprintln!(
            "round {round}: killed after {run_for:?}, {this_round} newly acknowledged, {} stored",
            store.len().unwrap()
        );
    }
    assert!(
        acknowledged.len() as u64 >= ROUNDS,
        "too few reports acknowledged to mean anything"
    );
}

/// The child: ingest random batches forever, acknowledging each stored id on stdout.
fn ingest_until_killed(dir: &str, round: u64) {
    let store = Store::open(std::path::Path::new(dir), &StoreConfig::default()).unwrap();
    let org = OrgKey::generate(&mut StdRng::seed_from_u64(1));
    let mut rng = StdRng::seed_from_u64(round);
    let mut out = std::io::stdout().lock();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = round * 1_000_000;
    while Instant::now() < deadline {
        let size = rng.gen_range(1..40);
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            n += 1;
            let report = sample::indicator_report(&mut rng, n)
                .sign(&org, &mut rng)
                .unwrap();
            batch.push(report.envelope_bytes().to_vec());
        }
        for outcome in store.ingest(&batch, Provenance::Local).unwrap() {
            match outcome {
                IngestOutcome::Stored { id, .. } | IngestOutcome::Duplicate { id, .. } => {
                    writeln!(out, "stored {id}").unwrap();
                }
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        out.flush().unwrap();
    }
}
