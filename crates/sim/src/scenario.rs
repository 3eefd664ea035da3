//! The scenarios a run plays, and what each measures: how fast reports spread, what they cost
//! in messages and bytes, whether anything leaked against the oracle, and whether every
//! organisation ends holding exactly what the oracle lets it hold.

use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::engine::{Links, Micros, Simulation, Tally};
use crate::world::{Org, Shape, Sharing, World, Writing};

/// Relays within which the target delivery time applies.
pub const DEEP_HOPS: u32 = 5;

/// A scenario to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Open sharing, reports that may go anywhere: how fast and at what cost they reach
    /// everyone.
    Reach,
    /// Random policies and markings (labels, scopes, hop limits, communities, named
    /// recipients) with jittery links: no leak, and how close to the oracle's reach.
    Mixed,
    /// Reach with lost messages and jitter: retries and polls make up for them.
    Lossy,
    /// The federation split in two for ten minutes while both halves write; then healed.
    /// Random policies; reports that may go anywhere they allow.
    Partition,
    /// A tenth of the organisations going offline and back, at random, for an hour. Random
    /// policies, as in `Partition`.
    Churn,
    /// One organisation offline for a week while the others write; then back. Random
    /// policies, as in `Partition`.
    OfflineWeek,
}

impl Scenario {
    /// Every scenario, in the order a full run plays them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Reach,
        Scenario::Mixed,
        Scenario::Lossy,
        Scenario::Partition,
        Scenario::Churn,
        Scenario::OfflineWeek,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Reach => "reach",
            Scenario::Mixed => "mixed",
            Scenario::Lossy => "lossy",
            Scenario::Partition => "partition",
            Scenario::Churn => "churn",
            Scenario::OfflineWeek => "offline-week",
        }
    }

    /// The scenario of that name.
    pub fn named(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Organisations.
    pub orgs: usize,
    /// Partners per organisation (before rewiring).
    pub partners: usize,
    /// Reports written.
    pub reports: usize,
    /// The seed: the same seed plays the same run.
    pub seed: u64,
    /// One-way link latency.
    pub latency: Duration,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            orgs: 1000,
            partners: 6,
            reports: 20,
            seed: 1,
            latency: Duration::from_millis(20),
        }
    }
}

/// Delivery times, in simulated ms, over the reports of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            p50: at(0.5),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// What a scenario measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which scenario.
    pub scenario: Scenario,
    /// Its size.
    pub size: Size,
    /// Reports written.
    pub reports: usize,
    /// Organisations the oracle lets a report reach, on average (its author included).
    pub mean_reach: f64,
    /// The most relays any report needs to reach someone.
    pub deepest: u32,
    /// Time from publishing until every organisation the oracle lets a report reach within
    /// [`DEEP_HOPS`] relays holds it.
    pub to_deep: Spread,
    /// Time from publishing until every organisation the oracle lets a report reach holds it.
    pub to_all: Spread,
    /// Messages per report written.
    pub messages_per_report: f64,
    /// Bytes per report written.
    pub bytes_per_report: f64,
    /// Copies received that were held already, per report.
    pub duplicates_per_report: f64,
    /// Holdings that differ from the oracle's reach once the run is quiet: missing, extra, or
    /// at another hop. Empty when the federation converged exactly.
    pub mismatches: Vec<String>,
    /// Holdings recorded at more relays than the shortest path the oracle finds (the copy by
    /// the shorter path came later, or not at all because the longer one was taken first).
    pub longer_paths: usize,
    /// Scenario-specific figures, in words.
    pub notes: Vec<String>,
    /// What the engine counted.
    pub tally: Tally,
    /// Simulated time the run covered.
    pub simulated: Duration,
    /// Wall-clock time the run took.
    pub wall: Duration,
}

impl Outcome {
    /// Whether nothing leaked, nothing is missing, and no honest partner was reported.
    pub fn sound(&self) -> bool {
        self.tally.leaks.is_empty() && self.mismatches.is_empty() && self.tally.problems.is_empty()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} | {} orgs, {} partners each, {} ms links, seed {} | {} reports, reach {:.0} orgs, deepest {} hops",
            self.scenario.name(),
            self.size.orgs,
            self.size.partners,
            self.size.latency.as_millis(),
            self.size.seed,
            self.reports,
            self.mean_reach,
            self.deepest
        )?;
        writeln!(
            f,
            "  to every allowed org within {DEEP_HOPS} hops: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.to_deep.p50, self.to_deep.p99, self.to_deep.max
        )?;
        writeln!(
            f,
            "  to every allowed org:             p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.to_all.p50, self.to_all.p99, self.to_all.max
        )?;
        writeln!(
            f,
            "  per report: {:.0} messages, {:.1} KiB, {:.1} duplicate copies; {} messages lost, {} pages, {} refused, {} offered again, {} fetched again",
            self.messages_per_report,
            self.bytes_per_report / 1024.0,
            self.duplicates_per_report,
            self.tally.lost,
            self.tally.pages,
            self.tally.refused,
            self.tally.offered_again,
            self.tally.fetched_again
        )?;
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        writeln!(
            f,
            "  leaks {}, holders differing from the oracle's {}, longer paths than the shortest {}, problems reported {} | {} events, {:.1} s simulated, {:.2} s wall",
            self.tally.leaks.len(),
            self.mismatches.len(),
            self.longer_paths,
            self.tally.problems.len(),
            self.tally.events,
            self.simulated.as_secs_f64(),
            self.wall.as_secs_f64()
        )?;
        for line in self
            .tally
            .leaks
            .iter()
            .chain(&self.mismatches)
            .chain(&self.tally.problems)
            .take(10)
        {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

const SECOND: Micros = 1_000_000;
const MINUTE: Micros = 60 * SECOND;
const HOUR: Micros = 60 * MINUTE;
const DAY: Micros = 24 * HOUR;

/// Plays one scenario.
pub fn play(scenario: Scenario, size: Size) -> Outcome {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(size.seed);
    let (sharing, writing) = match scenario {
        Scenario::Reach | Scenario::Lossy => (Sharing::Open, Writing::Wide),
        // Reports that may go anywhere, through random policies (labels, tags, embargoes).
        Scenario::Partition | Scenario::Churn | Scenario::OfflineWeek => {
            (Sharing::Mixed, Writing::Wide)
        }
        Scenario::Mixed => (Sharing::Mixed, Writing::Mixed),
    };
    let shape = Shape {
        orgs: size.orgs,
        partners: size.partners,
        rewire: 0.1,
        sharing,
        embargo_ms: 10 * 60 * 1000,
    };
    let world = World::build(shape, &mut rng);
    let mut links = Links {
        latency: size.latency,
        ..Links::default()
    };
    match scenario {
        // No message is lost: notifications alone carry reports, and what is counted per report
        // is their cost alone (the hourly cost of polls is the same whatever is written).
        Scenario::Reach | Scenario::Mixed => links.poll_interval = None,
        Scenario::Lossy => {
            links.loss = 0.01;
            links.jitter = size.latency / 2;
        }
        // A week of simulated time: polls every hour instead of every minute.
        Scenario::OfflineWeek => links.poll_interval = Some(Duration::from_secs(3600)),
        Scenario::Partition | Scenario::Churn => {}
    }
    if scenario == Scenario::Mixed {
        links.jitter = size.latency / 2;
    }
    let sim_rng = StdRng::seed_from_u64(rng.r#gen());
    let mut sim = Simulation::new(world, links, sim_rng);
    let n = sim.world.len();
    let start = 5 * SECOND;
    let mut notes = Vec::new();
    let mut absent: Option<Org> = None;
    let horizon;
    match scenario {
        Scenario::Reach | Scenario::Mixed | Scenario::Lossy => {
            for i in 0..size.reports {
                let author = rng.gen_range(0..n) as Org;
                let written = sim.world.write(writing, author, 0, &mut rng);
                sim.publish_at(start + i as Micros * 2 * SECOND, written);
            }
            horizon = start + size.reports as Micros * 2 * SECOND + 2 * HOUR;
        }
        Scenario::Partition => {
            let side: Vec<bool> = (0..n).map(|i| i < n / 2).collect();
            let healed = start + 10 * MINUTE;
            sim.partition(side, start, healed);
            for i in 0..size.reports {
                let author = rng.gen_range(0..n) as Org;
                let written = sim.world.write(writing, author, 0, &mut rng);
                let at =
                    start + SECOND + (i as Micros * 9 * MINUTE) / size.reports.max(1) as Micros;
                sim.publish_at(at, written);
            }
            notes.push(format!(
                "split into halves of {} and {} for 10 minutes while they wrote",
                n / 2,
                n - n / 2
            ));
            horizon = healed + 2 * HOUR;
        }
        Scenario::Churn => {
            let window = HOUR;
            let mut away = 0;
            for org in 0..n as Org {
                if rng.gen_bool(0.1) {
                    let from = start + rng.gen_range(0..window);
                    let until = from + rng.gen_range(MINUTE..30 * MINUTE);
                    sim.offline(org, from, until);
                    away += 1;
                }
            }
            for i in 0..size.reports {
                let author = rng.gen_range(0..n) as Org;
                let written = sim.world.write(writing, author, 0, &mut rng);
                let at = start + (i as Micros * window) / size.reports.max(1) as Micros;
                sim.publish_at(at, written);
            }
            notes.push(format!(
                "{away} organisations offline once for 1-30 minutes during the hour of writing"
            ));
            horizon = start + window + 3 * HOUR;
        }
        Scenario::OfflineWeek => {
            let org = rng.gen_range(0..n) as Org;
            absent = Some(org);
            let back = start + 7 * DAY;
            sim.offline(org, start, back);
            for i in 0..size.reports {
                let mut author = rng.gen_range(0..n) as Org;
                if author == org {
                    author = (author + 1) % n as Org;
                }
                let written = sim.world.write(writing, author, 0, &mut rng);
                let at = start
                    + HOUR
                    + (i as Micros * (7 * DAY - 2 * HOUR)) / size.reports.max(1) as Micros;
                sim.publish_at(at, written);
            }
            horizon = back + 3 * HOUR;
        }
    }
    // Connections are made and first pulls answered before anything is written: what is
    // counted per report starts then.
    sim.run_until(start - 1);
    let before = sim.tally.clone();
    let quiet = sim.run_until_quiet(horizon);
    sim.run_until(quiet.max(sim.now()));
    let simulated = Duration::from_micros(sim.now());

    // What the oracle lets each report reach, against what each organisation holds.
    let mut mismatches = Vec::new();
    let mut longer_paths = 0;
    let mut to_deep = Vec::new();
    let mut to_all = Vec::new();
    let mut reach_total = 0usize;
    let mut deepest = 0;
    for (index, written) in sim.written.iter().enumerate() {
        let report = index as u32;
        let expected = sim.world.reach(written);
        reach_total += expected.len();
        let Some(published) = sim.published_at[index] else {
            continue;
        };
        let mut deep_at = published;
        let mut all_at = published;
        let mut complete = true;
        for (&org, &hop) in &expected {
            deepest = deepest.max(hop);
            match sim.first_held[index].get(&org) {
                Some(&at) => {
                    all_at = all_at.max(at);
                    if hop <= DEEP_HOPS {
                        deep_at = deep_at.max(at);
                    }
                }
                None => complete = false,
            }
            match sim.holding(org, report) {
                None => mismatches.push(format!(
                    "org {org} lacks report {report}, which the oracle lets it hold at hop {hop}"
                )),
                Some(held) if held < hop => mismatches.push(format!(
                    "org {org} holds report {report} at hop {held}, shorter than the oracle's {hop}"
                )),
                Some(held) if held > hop => longer_paths += 1,
                Some(_) => {}
            }
        }
        for org in 0..n as Org {
            if !expected.contains_key(&org) && sim.holding(org, report).is_some() {
                mismatches.push(format!(
                    "org {org} holds report {report}, which the oracle keeps from it"
                ));
            }
        }
        if complete {
            to_deep.push((deep_at - published) as f64 / 1000.0);
            to_all.push((all_at - published) as f64 / 1000.0);
        }
    }
    if let Some(org) = absent {
        let back = start + 7 * DAY;
        let caught_up = sim
            .first_held
            .iter()
            .filter_map(|h| h.get(&org))
            .copied()
            .filter(|at| *at >= back)
            .max();
        let owed = sim
            .written
            .iter()
            .filter(|w| sim.world.reach(w).contains_key(&org))
            .count();
        notes.push(format!(
            "org {org} came back after 7 days owed {owed} reports and held {} of them {:.0} ms later",
            sim.held_count(org),
            caught_up.map_or(0.0, |at| (at - back) as f64 / 1000.0)
        ));
    }
    let reports = sim.written.len();
    let per = |v: u64| v as f64 / reports.max(1) as f64;
    let mut tally = sim.tally.clone();
    tally.messages -= before.messages;
    tally.bytes -= before.bytes;
    tally.pages -= before.pages;
    tally.lost -= before.lost;
    Outcome {
        scenario,
        size,
        reports,
        mean_reach: reach_total as f64 / reports.max(1) as f64,
        deepest,
        to_deep: Spread::of(to_deep),
        to_all: Spread::of(to_all),
        messages_per_report: per(tally.messages),
        bytes_per_report: per(tally.bytes),
        duplicates_per_report: per(tally.duplicates),
        mismatches,
        longer_paths,
        notes,
        tally,
        simulated,
        wall: started.elapsed(),
    }
}
