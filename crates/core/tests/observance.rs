//! Observance trends across a simulated federation: every organisation publishes the counts of
//! the incidents it wrote, small cells suppressed; the merged trends equal a central count over
//! every report except where a cell was suppressed, and no aggregate shows a cell below k.

use cairn_core::coding::{GgeNorm, IncidentCoding};
use cairn_core::observance::{self, Aggregate, Cell, Counts, Publishing};
use cairn_core::{OrgKey, ReportDraft, ReportKind, Tlp};
use rand::{Rng, SeedableRng, seq::SliceRandom};

const REGIONS: [&str; 4] = ["africa", "asia", "europe", "latin-america"];
const SECTORS: [&str; 4] = ["health", "energy", "finance", "government"];

fn random_incident(key: &OrgKey, rng: &mut rand::rngs::StdRng) -> cairn_core::Report {
    // One or two principles, or none, and up to two UN GGE norms: at least one of either.
    let principles: Vec<u32> = (0..rng.gen_range(0..=2))
        .map(|_| rng.gen_range(1..=9))
        .collect();
    let norms = rng.gen_range(usize::from(principles.is_empty())..=2);
    let gge_norms: Vec<GgeNorm> = GgeNorm::ALL.choose_multiple(rng, norms).copied().collect();
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
        coding: Some(IncidentCoding {
            gge_norms,
            ..IncidentCoding::default()
        }),
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

/// Figures published as a report: they sign and verify back identical; a report that breaks a
/// rule of published figures is refused, naming the field.
#[test]
fn figures_travel_in_a_signed_clear_report_and_bad_figures_are_refused() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let key = OrgKey::generate(&mut rng);
    let reports: Vec<_> = (0..200).map(|_| random_incident(&key, &mut rng)).collect();
    let figures = observance::publishable(
        &observance::count(&reports),
        Publishing {
            min_count: 3,
            epsilon: None,
        },
        &mut rng,
    )
    .unwrap();
    assert!(!figures.counts.is_empty() && figures.suppressed > 0);
    let draft = ReportDraft {
        kind: Some(ReportKind::Observance),
        title: "Observance figures".into(),
        tlp: Some(Tlp::Clear),
        observance: Some(figures.clone()),
        ..ReportDraft::default()
    };
    let signed = draft.sign(&key, &mut rng).unwrap();
    let read = cairn_core::verify(signed.envelope_bytes()).unwrap();
    assert_eq!(read.report().observance.as_ref(), Some(&figures));

    let refused = |edit: &dyn Fn(&mut ReportDraft), field: &str| {
        let mut d = draft.clone();
        edit(&mut d);
        let err = d
            .sign(&key, &mut rand::rngs::StdRng::seed_from_u64(1))
            .unwrap_err();
        assert!(err.field.starts_with(field), "{field}: {err}");
    };
    refused(&|d| d.tlp = Some(Tlp::Green), "tlp");
    refused(&|d| d.observance = None, "observance");
    refused(
        &|d| {
            d.kind = Some(ReportKind::Incident);
        },
        "observance",
    );
    let first = figures.counts.keys().next().unwrap().clone();
    refused(
        &|d| {
            let f = d.observance.as_mut().unwrap();
            f.counts.insert(first.clone(), 2);
        },
        "observance.cells",
    );
    refused(
        &|d| {
            let f = d.observance.as_mut().unwrap();
            let mut cell = first.clone();
            cell.measure = observance::Measure::Principle(10);
            f.counts.insert(cell, 50);
        },
        "observance.cells",
    );
    refused(
        &|d| {
            let f = d.observance.as_mut().unwrap();
            let mut cell = first.clone();
            cell.region = String::new();
            f.counts.insert(cell, 50);
        },
        "observance.cells",
    );
    refused(
        &|d| d.observance.as_mut().unwrap().epsilon = Some(f64::INFINITY),
        "observance.epsilon",
    );
    refused(
        &|d| d.observance.as_mut().unwrap().min_count = 0,
        "observance.min_count",
    );
}
