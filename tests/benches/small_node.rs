//! The smallest NGO's node: a `cairn run` process with a small store cache catches up a CERT's
//! 100,000 reports over the network, is restarted holding them, then sits idle. Its peak
//! memory (VmHWM) in each phase and the CPU it uses while idle.
//!
//! `cargo bench -p cairn-tests --bench small_node -- [--reports N] [--cache-mb N]
//! [--malloc-arenas N] [--idle-secs N] [--no-api] [--catch-up-only] [--env NAME=VALUE]`
//! (100,000 reports, a 16 MiB cache, two malloc arenas as the operator's guide advises for a
//! small machine (0: glibc's default), 30 s idle; `--no-api`: the NGO's node serves no API, so
//! keeps no TAXII index; `--no-taxii`: the API and console on, TAXII and the MISP feed off;
//! `--catch-up-only`: no restart, as when profiling the catch-up alone; `--env`: an environment
//! variable for the NGO's node, such as MALLOC_ARENA_MAX=2).

use std::time::{Duration, Instant};

use cairn_core::{OrgKey, Tlp, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use cairn_tests::bench::{build_release_cairn, peak_memory_mib};
use cairn_tests::processes::CliNode;
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Options {
    reports: usize,
    cache_mb: u64,
    /// `[node] malloc_arenas` of the NGO's node.
    malloc_arenas: u64,
    idle: Duration,
    api: bool,
    /// `[api] taxii` of the NGO's node (`--no-taxii` turns it off).
    taxii: bool,
    /// Stop after the catch-up (`--catch-up-only`).
    catch_up_only: bool,
    /// Environment variables given to the NGO's node (`--env NAME=VALUE`).
    env: Vec<(String, String)>,
}

fn options() -> Options {
    let mut o = Options {
        reports: 100_000,
        cache_mb: 16,
        malloc_arenas: 2,
        idle: Duration::from_secs(30),
        api: true,
        taxii: true,
        catch_up_only: false,
        env: Vec::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if ["--bench", "--no-api", "--no-taxii", "--catch-up-only"].contains(&args[i].as_str()) {
            o.api &= args[i] != "--no-api";
            o.taxii &= args[i] != "--no-taxii";
            o.catch_up_only |= args[i] == "--catch-up-only";
            i += 1;
            continue;
        }
        if args[i] == "--env" {
            let (name, value) = args
                .get(i + 1)
                .and_then(|v| v.split_once('='))
                .unwrap_or_else(|| panic!("--env needs NAME=VALUE"));
            o.env.push((name.to_string(), value.to_string()));
            i += 2;
            continue;
        }
        let value: u64 = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} needs a number", args[i]));
        match args[i].as_str() {
            "--reports" => o.reports = value as usize,
            "--cache-mb" => o.cache_mb = value,
            "--malloc-arenas" => o.malloc_arenas = value,
            "--idle-secs" => o.idle = Duration::from_secs(value),
            other => panic!(
                "unknown option {other} (--reports N, --cache-mb N, --malloc-arenas N, --idle-secs N)"
            ),
        }
        i += 2;
    }
    o
}

/// CPU time a process has used (user and system), from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // The kernel counts in USER_HZ, 100 a second on Linux.
    Duration::from_millis(ticks * 10)
}

/// Sets `[store] cache_mb` in a node's configuration (`cairn init` writes the table).
fn set_cache(node: &CliNode, cache_mb: u64) {
    let path = node.home.join("node.toml");
    let text = std::fs::read_to_string(&path).expect("node.toml");
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("cache_mb") {
                found = true;
                format!("cache_mb = {cache_mb}")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(found, "node.toml has no cache_mb line:\n{text}");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write node.toml");
}

/// Idles `for_` and returns the CPU the process used meanwhile, as a share of one core.
fn idle_cpu(pid: u32, for_: Duration) -> f64 {
    let before = cpu_time(pid);
    std::thread::sleep(for_);
    (cpu_time(pid) - before).as_secs_f64() / for_.as_secs_f64()
}

fn main() {
    let o = options();
    build_release_cairn();
    let dir = tempfile::tempdir().expect("temp folder");
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut ngo = CliNode::init(dir.path(), "ngo");
    cert.partner_with(&ngo, "ngo", "green");
    ngo.partner_with(&cert, "cert", "green");
    set_cache(&ngo, o.cache_mb);
    if o.malloc_arenas > 0 {
        ngo.replace_in_config(
            "[node]\n",
            &format!("[node]\nmalloc_arenas = {}\n", o.malloc_arenas),
        );
    }
    if !o.api {
        ngo.replace_in_config("enabled = true", "enabled = false");
    }
    if !o.taxii {
        ngo.replace_in_config("taxii = true", "taxii = false");
    }

    // The CERT's reports, written into its store before it runs.
    let started = Instant::now();
    let org = OrgKey::load(&cert.home.join("keys/org.key")).expect("the CERT's key");
    {
        let store = Store::open(&cert.home.join("store"), &StoreConfig::default())
            .expect("the CERT's store");
        let mut rng = StdRng::seed_from_u64(100);
        let mut n = 0;
        while n < o.reports {
            let batch: Vec<_> = (n..(n + 5_000).min(o.reports))
                .map(|k| {
                    let mut d = sample::indicator_report(&mut rng, k as u64);
                    d.tlp = Some(Tlp::Green);
                    d.scope = None;
                    d.hop_limit = None;
                    d.sign(&org, &mut rng).expect("a valid sample")
                })
                .collect();
            n += batch.len();
            store.insert(batch, Provenance::Local).expect("stored");
        }
        store.flush().expect("flushed");
    }
    println!(
        "{} reports written into the CERT's store in {:.1} s",
        o.reports,
        started.elapsed().as_secs_f64()
    );

    let env: Vec<(&str, &str)> = o
        .env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    cert.start();
    ngo.start_with(&env);
    let pid = ngo.pid().expect("running");
    let started = Instant::now();
    ngo.wait_for_reports(o.reports as u64, Duration::from_secs(1800));
    let catch_up = started.elapsed();
    let catch_up_peak = peak_memory_mib(pid);
    let after_catch_up = idle_cpu(pid, o.idle);
    // The query index is written after a catch-up: the peak over both phases.
    let settled_peak = peak_memory_mib(pid);

    // Restarted, holding them, with its partner connected and nothing new.
    let restarted = (!o.catch_up_only).then(|| {
        assert!(ngo.signal("TERM"), "the NGO's node stops cleanly");
        ngo.start_with(&env);
        let pid = ngo.pid().expect("running");
        std::thread::sleep(Duration::from_secs(5));
        let idle = idle_cpu(pid, o.idle);
        (peak_memory_mib(pid), idle)
    });

    println!(
        "small node: {} reports, [store] cache_mb = {}, [node] malloc_arenas = {}, API {}",
        o.reports,
        o.cache_mb,
        o.malloc_arenas,
        match (o.api, o.taxii) {
            (false, _) => "off",
            (true, false) => "on, TAXII off",
            (true, true) => "on",
        }
    );
    println!(
        "| | peak memory (VmHWM) | CPU while idle ({} s) |",
        o.idle.as_secs()
    );
    println!("|---|---|---|");
    println!(
        "| catching up {} reports ({:.1} s, {:.0} reports/s) | {:.1} MiB | {:.2} % of a core, after it |",
        o.reports,
        catch_up.as_secs_f64(),
        o.reports as f64 / catch_up.as_secs_f64(),
        catch_up_peak,
        after_catch_up * 100.0
    );
    println!(
        "| and indexing them in the {} s after (peak over both) | {:.1} MiB | |",
        o.idle.as_secs(),
        settled_peak
    );
    if let Some((restart_peak, idle)) = restarted {
        println!(
            "| restarted, holding them, partner connected | {:.1} MiB | {:.2} % of a core |",
            restart_peak,
            idle * 100.0
        );
    }
}
