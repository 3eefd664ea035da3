//! The regional cluster of docs/REGIONAL-CLUSTERS.md, between real nodes on 127.0.0.1: a West
//! African cluster (a national CERT, two NGOs and a bank) and a European CERT that trusts the
//! national CERT. Incidents and directory entries addressed to the cluster's community stay in
//! it; trends and the directory filter by it; the NGO's capacity need is matched, on another
//! member's node, with the CERT's offer, the bank's donor programme and (outside the cluster
//! filter) the European CERT's offer, ranked with their reasons; the cluster's own figures,
//! published to it, merge into its trends.

use std::time::Duration;

use cairn_api::directory::{MatchQuery, matches_view, search_view};
use cairn_api::observance::{ObservanceQuery, figures_draft, view};
use cairn_core::coding::{GgeNorm, IncidentCoding};
use cairn_core::directory::{DirectoryEntry, DirectorySearch, EntryType, Topic};
use cairn_core::observance::Publishing;
use cairn_core::{ReportDraft, ReportKind, Scope, Tlp};
use cairn_tests::federation::{Federation, up_to};

const WAIT: Duration = Duration::from_secs(30);
const CERT: usize = 0;
const NGO_SAHEL: usize = 1;
const NGO_CIVIC: usize = 2;
const BANK: usize = 3;
const EU_CERT: usize = 4;
const CLUSTER: &str = "west-africa";

fn incident(principle: u32, norm: GgeNorm, sector: &str, community: Option<&str>) -> ReportDraft {
    ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "Intrusion".into(),
        tlp: Some(Tlp::Green),
        scope: community.map(|_| Scope::Community),
        community: community.map(str::to_string),
        paris_call_principles: vec![principle],
        regions: vec!["western-africa".into()],
        sectors: vec![sector.into()],
        coding: Some(IncidentCoding {
            gge_norms: vec![norm],
            countries: vec!["SN".into()],
            ..IncidentCoding::default()
        }),
        ..ReportDraft::default()
    }
}

fn entry(
    entry_type: EntryType,
    title: &str,
    topics: &[Topic],
    regions: &[&str],
    languages: &[&str],
    community: Option<&str>,
) -> ReportDraft {
    ReportDraft {
        kind: Some(ReportKind::DirectoryEntry),
        title: title.into(),
        tlp: Some(if community.is_some() {
            Tlp::Green
        } else {
            Tlp::Clear
        }),
        scope: community.map(|_| Scope::Community),
        community: community.map(str::to_string),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        directory_entry: Some(DirectoryEntry {
            entry_type,
            topics: topics.to_vec(),
            countries: Vec::new(),
            languages: languages.iter().map(|l| l.to_string()).collect(),
            contact: format!("{title} contact"),
            url: None,
            valid_until: None,
        }),
        ..ReportDraft::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_west_african_cluster_shares_trends_and_matches_needs_within_itself() {
    let mut fed = Federation::new(
        &["cert-sn", "ngo-sahel", "ngo-civic", "bank-dakar", "cert-ee"],
        61,
    );
    for a in [CERT, NGO_SAHEL, NGO_CIVIC, BANK] {
        for b in [CERT, NGO_SAHEL, NGO_CIVIC, BANK] {
            if a < b {
                fed.trust(a, b, up_to(Tlp::Green), up_to(Tlp::Green));
            }
        }
    }
    fed.trust(CERT, EU_CERT, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.community(CLUSTER, &[CERT, NGO_SAHEL, NGO_CIVIC, BANK]);
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    // Incidents: the bank's and an NGO's addressed to the cluster, the CERT's to its peers.
    let mut cluster_incidents = Vec::new();
    for _ in 0..6 {
        let d = incident(6, GgeNorm::F, "financial-services", Some(CLUSTER));
        cluster_incidents.push(fed.publish_draft(BANK, &d).await.id());
    }
    for _ in 0..3 {
        let d = incident(1, GgeNorm::E, "non-profit", Some(CLUSTER));
        cluster_incidents.push(fed.publish_draft(NGO_SAHEL, &d).await.id());
    }
    let mut other = Vec::new();
    for _ in 0..2 {
        let d = incident(6, GgeNorm::F, "government", None);
        other.push(fed.publish_draft(CERT, &d).await.id());
    }
    // The directory.
    let need = fed
        .publish_draft(
            NGO_SAHEL,
            &entry(
                EntryType::CapacityNeed,
                "CSIRT training for Sahel NGOs",
                &[Topic::IncidentResponse, Topic::Workforce],
                &["western-africa"],
                &["fr"],
                Some(CLUSTER),
            ),
        )
        .await;
    let cert_offer = fed
        .publish_draft(
            CERT,
            &entry(
                EntryType::CapacityOffer,
                "Incident handling course",
                &[Topic::IncidentResponse, Topic::Workforce],
                &["western-africa"],
                &["fr", "en"],
                Some(CLUSTER),
            ),
        )
        .await;
    let donor = fed
        .publish_draft(
            BANK,
            &entry(
                EntryType::DonorProgramme,
                "Cyber skills grants",
                &[Topic::Workforce],
                &["western-africa"],
                &["fr"],
                Some(CLUSTER),
            ),
        )
        .await;
    let eu_offer = fed
        .publish_draft(
            EU_CERT,
            &entry(
                EntryType::CapacityOffer,
                "CSIRT maturity mentoring",
                &[Topic::IncidentResponse],
                &[],
                &["en"],
                None,
            ),
        )
        .await;
    let mut everything: Vec<_> = cluster_incidents.clone();
    everything.extend([need.id(), cert_offer.id(), donor.id()]);
    assert!(fed.wait_for(NGO_CIVIC, &everything, WAIT).await);
    assert!(fed.wait_for(NGO_CIVIC, &[eu_offer.id()], WAIT).await);
    assert!(fed.wait_for(CERT, &other, WAIT).await);
    // Nothing addressed to the cluster reaches the European CERT.
    assert!(fed.wait_for(EU_CERT, &other, WAIT).await);
    for id in &everything {
        assert!(
            !fed.holds(EU_CERT, id),
            "the cluster's report reached cert-ee"
        );
    }

    // The directory on the other NGO's node: the cluster's entries, and the need's matches.
    let civic = fed.node(NGO_CIVIC).clone();
    let now = cairn_core::when::now_ms();
    let in_cluster = search_view(
        civic.store(),
        &DirectorySearch {
            community: Some(CLUSTER.into()),
            ..DirectorySearch::default()
        },
        now,
    )
    .unwrap();
    assert_eq!(in_cluster["entries"].as_array().unwrap().len(), 3);
    let matched = |community: Option<&str>| {
        let query = MatchQuery {
            community: community.map(str::to_string),
            ..MatchQuery::default()
        };
        let view = matches_view(civic.store(), civic.org(), &query, now).unwrap();
        let needs = view["needs"].as_array().unwrap().clone();
        assert_eq!(needs.len(), 1, "{view}");
        assert_eq!(needs[0]["need"]["id"], need.id().to_string());
        needs[0]["matches"].as_array().unwrap().clone()
    };
    let ranked: Vec<(String, Vec<String>)> = matched(None)
        .iter()
        .map(|m| {
            (
                m["entry"]["id"].as_str().unwrap().to_string(),
                m["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let order: Vec<&str> = ranked.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        order,
        [
            cert_offer.id().to_string(),
            donor.id().to_string(),
            eu_offer.id().to_string()
        ],
        "{ranked:?}"
    );
    assert!(
        ranked[0]
            .1
            .contains(&"topic: incident-response, workforce".to_string())
    );
    assert!(ranked[0].1.contains(&"region: western-africa".to_string()));
    assert!(ranked[0].1.contains(&"language: fr".to_string()));
    assert!(
        ranked[2]
            .1
            .iter()
            .any(|r| r.starts_with("no common language"))
    );
    assert_eq!(matched(Some(CLUSTER)).len(), 2, "the cluster filter");

    // Trends for the cluster: only the incidents addressed to it.
    let trends = view(
        civic.store(),
        civic.org(),
        &ObservanceQuery {
            community: Some(CLUSTER.into()),
            ..ObservanceQuery::default()
        },
    )
    .unwrap();
    assert_eq!(trends.reports, 9);
    let count = |measure: &str, sector: &str| {
        trends
            .cells
            .iter()
            .find(|c| c.measure() == measure && c.sector == sector)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count("norm f", "financial-services"), 6);
    assert_eq!(count("norm e", "non-profit"), 3);
    assert_eq!(
        count("norm f", "government"),
        0,
        "not addressed to the cluster"
    );

    // Each member publishes its figures to the cluster; the merged cluster trends equal the
    // count above (k = 3: no cell is under it).
    let mut figures = Vec::new();
    for member in [BANK, NGO_SAHEL] {
        let node = fed.node(member).clone();
        let draft = figures_draft(
            node.store(),
            node.org(),
            &fed.members[member].name,
            Publishing {
                min_count: 3,
                epsilon: None,
            },
            Some(CLUSTER),
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        assert_eq!(draft.community.as_deref(), Some(CLUSTER));
        figures.push(fed.publish_draft(member, &draft).await.id());
    }
    assert!(fed.wait_for(NGO_CIVIC, &figures, WAIT).await);
    let merged = view(
        civic.store(),
        civic.org(),
        &ObservanceQuery {
            federation: true,
            community: Some(CLUSTER.into()),
            ..ObservanceQuery::default()
        },
    )
    .unwrap();
    assert_eq!(merged.organisations, Some(2));
    assert_eq!(merged.cells, trends.cells);
    // The federation-wide merge does not count the cluster's figures.
    let federation = view(
        civic.store(),
        civic.org(),
        &ObservanceQuery {
            federation: true,
            ..ObservanceQuery::default()
        },
    )
    .unwrap();
    assert_eq!(federation.organisations, Some(0));
}
