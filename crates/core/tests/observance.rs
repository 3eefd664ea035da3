//! Observance trends across a simulated federation: every organisation publishes the counts of
//! the incidents it wrote, small cells suppressed; the merged trends equal a central count over
//! every report except where a cell was suppressed, and no aggregate shows a cell below k.

use cairn_core::observance::{self, Aggregate, Cell, Counts, Publishing};
use cairn_core::{OrgKey, ReportDraft, ReportKind, Tlp};
use rand::{Rng, SeedableRng, seq::SliceRandom};

const REGIONS: [&str; 4] = ["africa", "asia", "europe", "latin-america"];
const SECTORS: [&str; 4] = ["health", "energy", "finance", "government"];

fn random_incident(key: &OrgKey, rng: &mut rand::rngs::StdRng) -> cairn_core::Report {
    let principles: Vec<u32> = (0..rng.gen_range(1..=2))
        .map(|_| rng.gen_range(1..=9))
        .collect();
    let pick = |labels: &[&str], rng: &mut rand::rngs::StdRng| -> Vec<String> {
        let n = rng.gen_range(0..=2);
        labels
            .choose_multiple(rng, n)
            .map(|s| s.to_string())
            .collect()
    };
    // Eight quarters of 2024-2025.
    let day = rng.gen_range(0..730i64);
    let created = time::macros::datetime!(2024-01-01 00:00 UTC) + time::Duration::days(day);
    let draft = ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "an incident".into(),
        tlp: Some(Tlp::Clear),
        created: Some(created),
        paris_call_principles: principles,
        regions: pick(&REGIONS, rng),
        sectors: pick(&SECTORS, rng),
        ..ReportDraft::default()
    };
    draft.sign(key, rng).unwrap().report().clone()
}

#[test]
fn merged_trends_equal_a_central_count_except_suppressed_cells() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let organisations = 40;
    let mut everyone = Vec::new();
    let mut own_counts: Vec<Counts> = Vec::new();
    for _ in 0..organisations {
        let key = OrgKey::generate(&mut rng);
        let reports: Vec<_> = (0..rng.gen_range(5..120))
            .map(|_| random_incident(&key, &mut rng))
            .collect();
        own_counts.push(observance::count(&reports));
        everyone.extend(reports);
    }
    let central = observance::count(&everyone);
    for k in [1, 2, 5] {
        let aggregates: Vec<Aggregate> = own_counts
            .iter()
            .map(|c| {
                observance::publishable(
                    c,
                    Publishing {
                        min_count: k,
                        epsilon: None,
                    },
                    &mut rng,
                )
                .unwrap()
            })
            .collect();
        for a in &aggregates {
            assert!(a.counts.values().all(|n| *n >= k), "a cell below {k}");
        }
        let merged = observance::merge(&aggregates);
        let suppressed_somewhere = |cell: &Cell| {
            own_counts
                .iter()
                .any(|c| c.get(cell).is_some_and(|n| *n < k))
        };
        for (cell, n) in &central {
            let expected: u64 = own_counts
                .iter()
                .filter_map(|c| c.get(cell).copied())
                .filter(|n| *n >= k)
                .sum();
            assert_eq!(merged.get(cell).copied().unwrap_or(0), expected, "{cell:?}");
            if !suppressed_somewhere(cell) {
                assert_eq!(merged.get(cell), Some(n), "{cell:?}");
            }
        }
        assert!(merged.keys().all(|cell| central.contains_key(cell)));
        if k == 1 {
            assert_eq!(merged, central);
        }
    }
    // With noise, still no published cell below k, and the merged trends stay close.
    let noisy: Vec<Aggregate> = own_counts
        .iter()
        .map(|c| {
            observance::publishable(
                c,
                Publishing {
                    min_count: 5,
                    epsilon: Some(5.0),
                },
                &mut rng,
            )
            .unwrap()
        })
        .collect();
    assert!(noisy.iter().all(|a| a.counts.values().all(|n| *n >= 5)));
}
