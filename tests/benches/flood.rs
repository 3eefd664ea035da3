//! A trusted partner floods a node with requests (notifications, pulls and introductions, as
//! fast as it can) while an honest partner fetches reports from it at 125 a second: the honest
//! partner's fetch latency, unloaded and under the flood, in the same run.
//!
//! The flooder goes on trying for the whole run: held off after its first burst, it is let in
//! again 30 s later and floods again. So the default run is one such cycle, 3,750 fetches at
//! 125 a second; the fetches of the flood's first second are also shown on their own.
//!
//! Run: `cargo bench -p cairn-tests --bench flood` (`--fetches N`, default 3,750; `--flooders N`
//! concurrent request loops, default 64; `--only notify|pull|hello`, one kind of request;
//! `--retry-ms N`, how long a loop waits after a failed request, default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::{Tlp, sample};
use cairn_net::{NetEvent, Request, Response};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

fn number(flag: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{flag} N")))
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let fetches = number("--fetches", 3_750);
    let flooders = number("--flooders", 64);
    let retry = Duration::from_millis(number("--retry-ms", 10) as u64);
    let args: Vec<String> = std::env::args().collect();
    let only: Option<u64> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|kind| match kind.as_str() {
            "notify" => 0,
            "pull" => 1,
            "hello" => 2,
            other => panic!("--only notify|pull|hello, not {other}"),
        });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        const CERT: usize = 0;
        const BANK: usize = 1;
        const FLOODER: usize = 2;
        let mut fed = Federation::new(&["cert", "bank", "flooder"], 21);
        fed.trust(CERT, BANK, up_to(Tlp::Red), up_to(Tlp::Red));
        fed.trust(CERT, FLOODER, up_to(Tlp::Red), up_to(Tlp::Red));
        // The flooder is a network task of its own, not a node.
        let stop = CancellationToken::new();
        let cert_node = fed.members[CERT].peer_id.clone();
        let (net, mut events) = fed
            .start_network_only(FLOODER, &[CERT], stop.clone())
            .await;
        let certificate = fed.members[FLOODER].certificate.to_bytes().to_vec();
        // It answers introductions and pulls (with nothing), so the node keeps talking to it.
        tokio::spawn({
            let certificate = certificate.clone();
            async move {
                while let Some(event) = events.recv().await {
                    if let NetEvent::Request { request, reply, .. } = event {
                        reply.respond(match request {
                            Request::Hello { .. } => Response::Hello {
                                certificate: certificate.clone(),
                                statements: Vec::new(),
                                clock_ms: 0,
                            },
                            Request::Pull { after, .. } => Response::Page(cairn_net::Page {
                                reports: Vec::new(),
                                through: after,
                                more: false,
                                head: after,
                            }),
                            Request::Notify { .. } | Request::Statements { .. } => Response::Ack,
                            Request::Fetch { .. } => Response::Fetched(None),
                        });
                    }
                }
            }
        });
        fed.start(CERT).await;
        fed.start(BANK).await;
        fed.wait_connected(Duration::from_secs(30)).await;
        let mut rng = StdRng::seed_from_u64(4);
        let mut ids = Vec::new();
        for n in 0..50u64 {
            let mut d = sample::indicator_report(&mut rng, n);
            d.tlp = Some(Tlp::Green);
            ids.push(fed.publish_draft(CERT, &d).await.id());
        }
        let bank = fed.node(BANK).clone();
        let fetch_all = |label: &'static str| {
            let bank = bank.clone();
            let ids = ids.clone();
            let cert_node = cert_node.clone();
            async move {
                let mut took = Vec::with_capacity(fetches);
                // An honest partner's pace: 125 fetches a second, within its request budget.
                let mut tick = tokio::time::interval(Duration::from_millis(8));
                let start = Instant::now();
                for k in 0..fetches {
                    tick.tick().await;
                    let t = Instant::now();
                    let found = bank.fetch(&cert_node, ids[k % ids.len()]).await;
                    took.push((t.elapsed(), t - start));
                    assert!(
                        matches!(found, Ok(Some(_))),
                        "{label}: fetch {k} failed: {found:?}"
                    );
                }
                took.sort();
                took
            }
        };
        // The latencies alone, for the table.
        let latencies = |took: &[(Duration, Duration)]| -> Vec<Duration> {
            took.iter().map(|(latency, _)| *latency).collect()
        };
        let unloaded_run = fetch_all("unloaded").await;
        let unloaded = latencies(&unloaded_run);
        let slowest = |run: &[(Duration, Duration)]| -> String {
            run.iter()
                .rev()
                .take(10)
                .map(|(latency, at)| {
                    format!(
                        "{:.2} ms at {:.2} s",
                        latency.as_secs_f64() * 1000.0,
                        at.as_secs_f64()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };

        // The flood: loops of notifications, pulls and introductions, as fast as answers come.
        let flooding = Arc::new(AtomicBool::new(true));
        let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let loops: Vec<_> = (0..flooders)
            .map(|k| {
                let (net, cert_node) = (net.clone(), cert_node.clone());
                let (flooding, sent, refused) = (flooding.clone(), sent.clone(), refused.clone());
                let certificate = certificate.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while flooding.load(Ordering::Relaxed) {
                        let request = match only.unwrap_or((n + k as u64) % 3) {
                            0 => Request::Notify {
                head: n,
                again: Vec::new(),
            },
                            1 => Request::Pull {
                                after: 0,
                                limit: 512,
                            },
                            _ => Request::Hello {
                                certificate: certificate.clone(),
                                statements: Vec::new(),
                                clock_ms: 0,
                            },
                        };
                        n += 1;
                        match net.request(&cert_node, request).await {
                            Ok(answer) => {
                                sent.fetch_add(1, Ordering::Relaxed);
                                if matches!(answer, Response::Refused(_)) {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            // Disconnected: it tries again at once, as an attacker would, but
                            // without spinning on this process's cores (it shares them with
                            // the nodes measured).
                            Err(_) => tokio::time::sleep(retry).await,
                        }
                    }
                })
            })
            .collect();
        // Measured from the flood's first request: before the flooder is held off, and after.
        let flood_start = Instant::now();
        let before = sent.load(Ordering::Relaxed);
        let loaded_run = fetch_all("under the flood").await;
        let loaded = latencies(&loaded_run);
        let flood_secs = flood_start.elapsed().as_secs_f64();
        let during = sent.load(Ordering::Relaxed) - before;
        flooding.store(false, Ordering::Relaxed);
        for l in loops {
            let _ = l.await;
        }
        let peers = fed.node(CERT).peers().await.expect("peers");
        let problem = peers
            .iter()
            .find(|p| p.peer_id == fed.members[FLOODER].peer_id.to_string())
            .and_then(|p| p.last_error.clone())
            .unwrap_or_default();
        println!(
            "honest fetches: {fetches}; flood: {flooders} request loops, {:.0} requests/s answered during the loaded run, {} refused in all",
            during as f64 / flood_secs,
            refused.load(Ordering::Relaxed)
        );
        println!("| | unloaded | under the flood | ratio |");
        println!("|---|---|---|---|");
        for (name, p) in [("p50", 50.0), ("p99", 99.0)] {
            let (a, b) = (percentile(&unloaded, p), percentile(&loaded, p));
            println!(
                "| fetch {name} | {:.2} ms | {:.2} ms | {:.2}x |",
                a.as_secs_f64() * 1000.0,
                b.as_secs_f64() * 1000.0,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        // The fetches that began in the flood's first second, against the unloaded run.
        let mut first_second: Vec<Duration> = loaded_run
            .iter()
            .filter(|(_, at)| *at < Duration::from_secs(1))
            .map(|(latency, _)| *latency)
            .collect();
        first_second.sort();
        if !first_second.is_empty() {
            println!(
                "the flood's first second: {} fetches, p50 {:.2} ms, p99 {:.2} ms, slowest {:.2} ms",
                first_second.len(),
                percentile(&first_second, 50.0).as_secs_f64() * 1000.0,
                percentile(&first_second, 99.0).as_secs_f64() * 1000.0,
                first_second[first_second.len() - 1].as_secs_f64() * 1000.0
            );
        }
        // The ten slowest of each run, and when each began (under the flood: after its first
        // request).
        println!("ten slowest unloaded: {}", slowest(&unloaded_run));
        println!("ten slowest under the flood: {}", slowest(&loaded_run));
        println!("the node's problem for the flooder: {problem}");
        stop.cancel();
        fed.stop(BANK).await;
        fed.stop(CERT).await;
    });
}
