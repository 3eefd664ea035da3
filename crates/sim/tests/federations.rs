//! Simulated federations driving Cairn's own catch-up, relaying and sharing code: the reach
//! target at 1,000 organisations, no leak against the oracle, exact convergence after
//! partitions, churn, lost messages and a week offline, and the same run for the same seed.
//!
//! Sizes here keep the default test run short; `cargo run --release -p cairn-sim -- --orgs
//! 10000 --check` plays the large runs (docs/BENCHMARKS.md).

use std::time::Duration;

use cairn_sim::{DEEP_HOPS, Outcome, Scenario, Size, play};

fn size(orgs: usize, reports: usize, seed: u64) -> Size {
    Size {
        orgs,
        partners: 6,
        reports,
        seed,
        latency: Duration::from_millis(20),
    }
}

fn assert_sound(outcome: &Outcome) {
    assert!(outcome.sound(), "{outcome}");
    assert_eq!(outcome.reports, outcome.size.reports, "{outcome}");
}

#[test]
fn a_report_reaches_every_organisation_five_hops_deep_within_a_second_at_1000_organisations() {
    let outcome = play(Scenario::Reach, size(1000, 5, 7));
    assert_sound(&outcome);
    assert_eq!(outcome.mean_reach, 1000.0, "open sharing reaches everyone");
    assert!(
        outcome.deepest > DEEP_HOPS,
        "the federation must be deeper than the target's hops: {outcome}"
    );
    assert!(
        outcome.to_deep.max <= 1000.0,
        "simulated time to every organisation within {DEEP_HOPS} hops: {outcome}"
    );
    // Each hop costs a notification, a pull and a page: at least three one-way latencies.
    assert!(
        outcome.to_deep.max >= f64::from(DEEP_HOPS) * 3.0 * 20.0,
        "faster than the links allow: {outcome}"
    );
}

/// Random policies, labels, scopes, hop limits, communities and recipients over jittery links:
/// nothing leaks, and every organisation ends holding exactly what the oracle lets it hold,
/// including community reports whose first copy came by a path too long to pass them on
/// (offered again once a shorter one comes).
#[test]
fn random_policies_and_markings_never_leak_and_converge_exactly() {
    let mut offered_again = 0;
    for seed in 1..=4 {
        let outcome = play(Scenario::Mixed, size(400, 40, seed));
        assert_sound(&outcome);
        assert!(
            outcome.tally.pages > 0 && outcome.mean_reach > 1.0,
            "{outcome}"
        );
        offered_again += outcome.tally.offered_again;
    }
    assert!(
        offered_again > 0,
        "no copy ever came closer: the case is not exercised"
    );
}

#[test]
fn a_partitioned_federation_converges_exactly_once_healed() {
    let outcome = play(Scenario::Partition, size(300, 20, 3));
    assert_sound(&outcome);
    assert!(
        outcome.mean_reach > 100.0,
        "reports must cross the cut: {outcome}"
    );
}

#[test]
fn organisations_going_offline_and_back_miss_nothing() {
    let outcome = play(Scenario::Churn, size(300, 20, 4));
    assert_sound(&outcome);
}

#[test]
fn lost_messages_are_made_up_for_by_retries_and_polls() {
    let outcome = play(Scenario::Lossy, size(300, 10, 5));
    assert_sound(&outcome);
    assert!(outcome.tally.lost > 0, "{outcome}");
}

#[test]
fn an_organisation_offline_for_a_week_catches_up() {
    let outcome = play(Scenario::OfflineWeek, size(200, 40, 6));
    assert_sound(&outcome);
    let note = outcome
        .notes
        .iter()
        .find(|n| n.contains("came back after 7 days"))
        .expect("the catch-up is described");
    assert!(note.contains("owed 40 reports and held 40"), "{note}");
}

#[test]
fn the_same_seed_plays_the_same_run() {
    let a = play(Scenario::Lossy, size(150, 5, 11));
    let b = play(Scenario::Lossy, size(150, 5, 11));
    assert_eq!(a.tally.events, b.tally.events);
    assert_eq!(a.tally.messages, b.tally.messages);
    assert_eq!(a.tally.bytes, b.tally.bytes);
    assert_eq!(a.to_all, b.to_all);
    let c = play(Scenario::Lossy, size(150, 5, 12));
    assert_ne!(
        (a.tally.events, a.tally.bytes),
        (c.tally.events, c.tally.bytes),
        "another seed, another run"
    );
}
