//! Observance trends without a centre, between real nodes on 127.0.0.1: three organisations
//! keep their incident reports to themselves (TLP:AMBER, never shared with a ministry), each
//! publishes its own figures as a TLP:CLEAR report, and the ministry's node merges the figures
//! it receives into trends that equal a central count over every incident, except the cells an
//! organisation left out for being small; a new version of one's figures replaces the old.

use std::time::Duration;

use cairn_api::observance::{ObservanceQuery, figures_draft, latest_figures, view};
use cairn_core::observance::{self, Counts, Publishing};
use cairn_core::{ReportDraft, ReportKind, Tlp};
use cairn_tests::federation::{Federation, up_to};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(30);
const MINISTRY: usize = 3;
const REGIONS: [&str; 3] = ["west-africa", "baltic", "south-east-asia"];
const SECTORS: [&str; 3] = ["health", "energy", "water"];

fn incident(rng: &mut StdRng) -> ReportDraft {
    let pick = |labels: &[&str], rng: &mut StdRng| -> Vec<String> {
        let n = rng.gen_range(0..=2);
        labels
            .choose_multiple(rng, n)
            .map(|s| s.to_string())
            .collect()
    };
    let norms = rng.gen_range(0..=1);
    ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "Intrusion".into(),
        tlp: Some(Tlp::Amber),
        paris_call_principles: vec![rng.gen_range(1..=3)],
        regions: pick(&REGIONS, rng),
        sectors: pick(&SECTORS, rng),
        coding: Some(cairn_core::coding::IncidentCoding {
            gge_norms: cairn_core::coding::GgeNorm::ALL
                .choose_multiple(rng, norms)
                .copied()
                .collect(),
            ..Default::default()
        }),
        ..ReportDraft::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_figures_equal_a_central_count_without_anyone_holding_the_reports() {
    let mut fed = Federation::new(&["cert", "bank", "ngo", "ministry"], 51);
    for a in 0..3 {
        for b in (a + 1)..3 {
            fed.trust(a, b, up_to(Tlp::Clear), up_to(Tlp::Clear));
        }
        // The ministry gets nothing above TLP:CLEAR: never an incident report.
        fed.trust(a, MINISTRY, up_to(Tlp::Clear), up_to(Tlp::Clear));
    }
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    let mut rng = StdRng::seed_from_u64(52);
    let k = 2;
    let mut own: Vec<Counts> = Vec::new();
    let mut published = Vec::new();
    for org in 0..3 {
        let drafts: Vec<ReportDraft> = (0..rng.gen_range(20..40))
            .map(|_| incident(&mut rng))
            .collect();
        let mut reports = Vec::new();
        for d in &drafts {
            reports.push(fed.publish_draft(org, d).await);
        }
        own.push(observance::count(reports.iter().map(|r| r.report())));
        let node = fed.node(org).clone();
        let draft = figures_draft(
            node.store(),
            node.org(),
            &fed.members[org].name,
            Publishing {
                min_count: k,
                epsilon: None,
            },
            None,
            &mut rng,
        )
        .unwrap();
        assert_eq!(draft.tlp, Some(Tlp::Clear));
        let figures = draft.observance.clone().unwrap();
        assert!(figures.counts.values().all(|n| *n >= k), "a cell under k");
        published.push(fed.publish_draft(org, &draft).await);
    }
    let ids: Vec<_> = published.iter().map(|r| r.id()).collect();
    assert!(
        fed.wait_for(MINISTRY, &ids, WAIT).await,
        "the figures did not arrive"
    );

    let ministry = fed.node(MINISTRY).clone();
    let trends = view(
        ministry.store(),
        ministry.org(),
        &ObservanceQuery {
            federation: true,
            ..ObservanceQuery::default()
        },
    )
    .unwrap();
    assert_eq!(trends.organisations, Some(3));
    // What a central count over every incident gives, leaving out the cells each organisation
    // left out for being under k.
    let mut expected = Counts::new();
    for counts in &own {
        for (cell, n) in counts {
            if *n >= k {
                *expected.entry(cell.clone()).or_default() += n;
            }
        }
    }
    let got: Counts = trends
        .cells
        .iter()
        .map(|c| {
            (
                observance::Cell {
                    quarter: c.quarter.parse().unwrap(),
                    measure: match (c.principle, &c.norm) {
                        (Some(p), _) => observance::Measure::Principle(p),
                        (None, Some(n)) => observance::Measure::Norm(n.parse().unwrap()),
                        (None, None) => panic!("a cell without a principle or norm"),
                    },
                    region: c.region.clone(),
                    sector: c.sector.clone(),
                },
                c.count,
            )
        })
        .collect();
    assert_eq!(got, expected);
    // The ministry holds no incident report at all.
    let held = ministry
        .store()
        .query(&cairn_store::ReportQuery {
            kind: Some(ReportKind::Incident),
            ..cairn_store::ReportQuery::default()
        })
        .unwrap();
    assert!(held.is_empty(), "an incident report reached the ministry");

    // The CERT writes more and publishes again: its new figures replace its old ones.
    for _ in 0..10 {
        let d = incident(&mut rng);
        fed.publish_draft(0, &d).await;
    }
    let cert = fed.node(0).clone();
    let draft = figures_draft(
        cert.store(),
        cert.org(),
        "cert",
        Publishing {
            min_count: k,
            epsilon: None,
        },
        None,
        &mut rng,
    )
    .unwrap();
    assert_eq!(draft.supersedes, Some(published[0].id()));
    let again = fed.publish_draft(0, &draft).await;
    assert!(fed.wait_for(MINISTRY, &[again.id()], WAIT).await);
    let latest = latest_figures(ministry.store(), None).unwrap();
    assert_eq!(latest.len(), 3);
    assert!(latest.iter().any(|f| f.report == again.id()));
    assert!(!latest.iter().any(|f| f.report == published[0].id()));
}
