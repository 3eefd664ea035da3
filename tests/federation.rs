//! Federation scenarios with real nodes on 127.0.0.1: exchange, relaying within the marking,
//! trust, forbidden fetches, catch-up after an outage, tampered reports and retractions.

use std::time::Duration;

use cairn_core::{ReportDraft, ReportId, Scope, Tlp, sample};
use cairn_net::{NetConfig, NetEvent, Page, PassedReport, Request, Response, TrustedNode};
use cairn_store::ReportStatus;
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

/// Generous: these are correctness deadlines, not performance targets.
const WAIT: Duration = Duration::from_secs(30);
/// How long to wait before concluding that something did not arrive.
const SETTLE: Duration = Duration::from_millis(1500);

fn draft(n: u64, tlp: Tlp, scope: Option<Scope>) -> ReportDraft {
    let mut rng = StdRng::seed_from_u64(n);
    let mut d = sample::indicator_report(&mut rng, n);
    d.tlp = Some(tlp);
    d.scope = scope;
    // The community scope's default (2) unless a test sets one.
    d.hop_limit = None;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_reports_both_ways() {
    let mut fed = Federation::new(&["cert", "bank"], 1);
    fed.trust(0, 1, up_to(Tlp::Amber), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    let from_cert = fed.publish_draft(0, &draft(1, Tlp::Green, None)).await;
    let from_bank = fed.publish_draft(1, &draft(2, Tlp::Green, None)).await;
    assert!(fed.wait_for(1, &[from_cert.id()], WAIT).await);
    assert!(fed.wait_for(0, &[from_bank.id()], WAIT).await);

    // Provenance: the bank holds the CERT's report as received straight from its author.
    let held = fed.node(1).store().get(&from_cert.id()).unwrap().unwrap();
    assert_eq!(
        held.provenance,
        cairn_store::Provenance::Peer {
            org: fed.members[0].org.public(),
            hop: 0
        }
    );
    // The audit trail says who received it.
    let audit = fed.node(0).audit(from_cert.id()).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].partner, "bank");
    assert_eq!(audit[0].peer_id, fed.members[1].peer_id.to_string());

    let status = fed.node(0).status().await.unwrap();
    assert_eq!(status.peers_connected, 1);
    assert_eq!(status.reports, 2);
    let peers = fed.node(1).peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert!(peers[0].connected);
    assert_eq!(peers[0].partner, "cert");
    assert_eq!(peers[0].behind(), 0);
    fed.stop(0).await;
    fed.stop(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_line_green_relays_amber_stops_and_red_reaches_only_its_recipients() {
    // A - B - C: A and C do not know each other.
    let mut fed = Federation::new(&["a", "b", "c"], 2);
    fed.trust(0, 1, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(1, 2, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    let b_key = fed.members[1].org.public();
    let c_key = fed.members[2].org.public();
    let mut amber = draft(10, Tlp::Amber, None);
    amber.title = "AMBER for B only".into();
    let amber = fed.publish_draft(0, &amber).await;
    let mut red_b = draft(11, Tlp::Red, None);
    red_b.recipients = vec![b_key];
    let red_b = fed.publish_draft(0, &red_b).await;
    let mut red_c = draft(12, Tlp::Red, None);
    red_c.recipients = vec![c_key];
    let red_c = fed.publish_draft(0, &red_c).await;
    let mut green = draft(13, Tlp::Green, Some(Scope::Community));
    green.hop_limit = Some(2);
    let green = fed.publish_draft(0, &green).await;
    let mut green_one_hop = draft(14, Tlp::Green, Some(Scope::DirectPeers));
    green_one_hop.title = "GREEN, direct peers only".into();
    let green_direct = fed.publish_draft(0, &green_one_hop).await;

    assert!(
        fed.wait_for(
            1,
            &[amber.id(), red_b.id(), green.id(), green_direct.id()],
            WAIT
        )
        .await
    );
    assert!(
        fed.wait_for(2, &[green.id()], WAIT).await,
        "GREEN community report relayed to C"
    );
    // C pulls B's reports in B's arrival order: once the later GREEN report is at C, the earlier
    // ones were decided on. Give a margin anyway.
    tokio::time::sleep(SETTLE).await;
    assert!(!fed.holds(2, &amber.id()), "AMBER is never relayed");
    assert!(
        !fed.holds(2, &green_direct.id()),
        "direct-peers scope is never relayed"
    );
    assert!(!fed.holds(2, &red_b.id()), "RED for B stays at B");
    assert!(!fed.holds(1, &red_c.id()), "RED for C never goes to B");
    assert!(
        !fed.holds(2, &red_c.id()),
        "RED travels only straight to a recipient"
    );

    // C holds the GREEN report at hop 1, passed on by B.
    let held = fed.node(2).store().get(&green.id()).unwrap().unwrap();
    assert_eq!(
        held.provenance,
        cairn_store::Provenance::Peer { org: b_key, hop: 1 }
    );
    for i in 0..3 {
        fed.stop(i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_fetch_looks_exactly_like_a_missing_report() {
    let mut fed = Federation::new(&["cert", "ngo"], 3);
    fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let secret = fed.publish_draft(0, &draft(20, Tlp::Amber, None)).await;
    let open = fed.publish_draft(0, &draft(21, Tlp::Clear, None)).await;
    let cert_node = fed.members[0].peer_id.clone();
    let ngo = fed.node(1).clone();

    let forbidden = ngo.fetch(&cert_node, secret.id()).await.unwrap();
    let missing = ngo
        .fetch(&cert_node, ReportId::from_bytes([7; 32]))
        .await
        .unwrap();
    assert_eq!(forbidden, None);
    assert_eq!(missing, None);
    let allowed = ngo.fetch(&cert_node, open.id()).await.unwrap();
    assert_eq!(allowed.map(|r| r.id()), Some(open.id()));
    // Only the allowed one is in the audit trail (served by the fetch, and by catch-up).
    assert!(fed.node(0).audit(secret.id()).await.unwrap().is_empty());
    let served = fed.node(0).audit(open.id()).await.unwrap();
    assert!(!served.is_empty());
    assert!(served.iter().all(|e| e.partner == "ngo"), "{served:?}");
    fed.stop(0).await;
    fed.stop(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_node_cannot_connect_or_fetch() {
    let mut fed = Federation::new(&["cert", "bank"], 4);
    fed.trust(0, 1, up_to(Tlp::Clear), up_to(Tlp::Clear));
    fed.start(0).await;
    let open = fed.publish_draft(0, &draft(30, Tlp::Clear, None)).await;
    let cert_node = fed.members[0].peer_id.clone();
    let cert_address = fed.node(0).listen_addresses()[0].clone();

    // A stranger with its own key, who knows the CERT's PeerId and address.
    let shutdown = CancellationToken::new();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        request_timeout_secs: 5,
        ..NetConfig::default()
    };
    let (stranger, _events) = cairn_net::spawn(
        &config,
        [99; 32],
        vec![TrustedNode {
            node: cert_node.clone(),
            addresses: vec![cert_address],
        }],
        shutdown.clone(),
    )
    .await
    .unwrap();
    let answer = stranger
        .request(
            &cert_node,
            Request::Fetch {
                report_id: *open.id().as_bytes(),
            },
        )
        .await;
    // Connected only to introduce itself (nodes of trusted organisations may not be listed
    // yet), it gets nothing before it has.
    assert!(
        matches!(answer, Err(_) | Ok(Response::Refused(_))),
        "a stranger got an answer: {answer:?}"
    );
    let hello = stranger
        .request(
            &cert_node,
            Request::Hello {
                certificate: fed.members[1].certificate.to_bytes().to_vec(),
                statements: Vec::new(),
                clock_ms: 0,
            },
        )
        .await;
    // A certificate of a trusted organisation, copied: it is for another node's key.
    match &hello {
        Ok(Response::Refused(reason)) => {
            assert!(reason.contains("for another node"), "{reason}")
        }
        Err(_) => {}
        other => panic!("a stranger was let in: {other:?}"),
    }
    let status = fed.node(0).status().await.unwrap();
    assert_eq!(status.peers_connected, 0);
    assert!(
        fed.node(0)
            .peers()
            .await
            .unwrap()
            .iter()
            .all(|p| p.peer_id != stranger.local_node().to_string())
    );
    assert!(fed.node(0).audit(open.id()).await.unwrap().is_empty());
    shutdown.cancel();
    fed.stop(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_while_500_reports_are_published_catches_up_exactly() {
    let mut fed = Federation::new(&["cert", "bank"], 5);
    fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    fed.stop(1).await;

    let mut visible = Vec::new();
    let mut hidden = Vec::new();
    for batch in 0..10u64 {
        let mut reports = Vec::new();
        for k in 0..55u64 {
            let n = 1000 + batch * 100 + k;
            // One in eleven is AMBER: above what the bank may receive.
            let tlp = if k % 11 == 0 { Tlp::Amber } else { Tlp::Green };
            let report = fed.sign(0, &draft(n, tlp, None));
            if tlp == Tlp::Green {
                visible.push(report.id());
            } else {
                hidden.push(report.id());
            }
            reports.push(report);
        }
        fed.publish(0, reports).await;
    }
    assert_eq!(visible.len(), 500);

    fed.start(1).await;
    assert!(fed.wait_for(1, &visible, WAIT).await, "the bank caught up");
    tokio::time::sleep(SETTLE).await;
    for id in &hidden {
        assert!(!fed.holds(1, id), "an AMBER report reached the bank");
    }
    assert_eq!(
        fed.node(1).store().len().unwrap(),
        500,
        "exactly what it may see"
    );
    let peers = fed.node(1).peers().await.unwrap();
    assert_eq!(
        peers[0].cursor, 550,
        "the cursor covers everything looked at"
    );
    fed.stop(0).await;
    fed.stop(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_and_retractions_propagate() {
    let mut fed = Federation::new(&["a", "b", "c"], 6);
    fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.trust(1, 2, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let mut d = draft(40, Tlp::Green, Some(Scope::Community));
    d.hop_limit = Some(3);
    let first = fed.publish_draft(0, &d).await;
    assert!(fed.wait_for(2, &[first.id()], WAIT).await);
    // A new version travels the same way and supersedes the first everywhere.
    let mut v2 = cairn_core::ReportDraft::new_version_of(&first);
    v2.title = "Second version".into();
    let report = fed.publish_draft(0, &v2).await;
    assert!(fed.wait_for(2, &[report.id()], WAIT).await);
    for i in [1, 2] {
        let status = fed.node(i).store().status(&first).unwrap();
        assert_eq!(status, ReportStatus::SupersededBy(report.id()));
    }
    let tombstone = fed.retraction(0, &report);
    fed.publish(0, vec![tombstone.clone()]).await;
    assert!(fed.wait_for(1, &[tombstone.id()], WAIT).await);
    assert!(fed.wait_for(2, &[tombstone.id()], WAIT).await);
    for i in [1, 2] {
        let status = fed.node(i).store().status(&report).unwrap();
        assert_eq!(status, ReportStatus::Retracted(tombstone.id()));
    }
    for i in 0..3 {
        fed.stop(i).await;
    }
}

/// A community report with a hop limit of 1 reaches B first by the long way (A, C, B: too far
/// for B to pass it on) and D, B's partner, is not offered it. When A's copy comes straight to
/// B (A's embargo towards B ends), B holds it one relay from its author and offers it again to
/// D, whose pulls had passed it: D fetches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_comes_closer_is_offered_again_to_partners_it_may_now_reach() {
    let mut fed = Federation::new(&["a", "c", "b", "d"], 12);
    let (a, c, b, d) = (0, 1, 2, 3);
    fed.trust(a, c, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.trust(c, b, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.trust(b, d, up_to(Tlp::Green), up_to(Tlp::Green));
    let mut late = up_to(Tlp::Green);
    late.embargo_ms = 5_000;
    fed.trust(a, b, late, up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    let mut community = draft(50, Tlp::Green, Some(Scope::Community));
    community.hop_limit = Some(1);
    let report = fed.publish_draft(a, &community).await;
    assert!(fed.wait_for(b, &[report.id()], WAIT).await);
    let held = fed.node(b).store().get(&report.id()).unwrap().unwrap();
    assert_eq!(
        held.provenance,
        cairn_store::Provenance::Peer {
            org: fed.members[c].org.public(),
            hop: 1
        },
        "B first holds it by the long way"
    );
    tokio::time::sleep(SETTLE).await;
    assert!(
        !fed.holds(d, &report.id()),
        "two relays from its author, B may not pass it on"
    );

    // A's embargo towards B ends: B then holds it straight from A, and D gets it from B.
    assert!(fed.wait_for(d, &[report.id()], WAIT).await);
    let at_b = fed.node(b).store().get(&report.id()).unwrap().unwrap();
    assert_eq!(
        at_b.provenance,
        cairn_store::Provenance::Peer {
            org: fed.members[a].org.public(),
            hop: 0
        }
    );
    let at_d = fed.node(d).store().get(&report.id()).unwrap().unwrap();
    assert_eq!(
        at_d.provenance,
        cairn_store::Provenance::Peer {
            org: fed.members[b].org.public(),
            hop: 1
        }
    );
    let audit = fed.node(b).audit(report.id()).await.unwrap();
    assert!(
        audit.iter().any(|entry| entry.partner == "d"),
        "B's audit trail records the copy D fetched: {audit:?}"
    );
    for i in 0..4 {
        fed.stop(i).await;
    }
}

/// A trusted partner's node that serves one page holding a tampered report among valid ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_report_is_rejected_and_its_sender_and_others_are_still_served() {
    let mut fed = Federation::new(&["cert", "mallory", "bank"], 7);
    fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.trust(0, 2, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.start(0).await;
    let cert_node = fed.members[0].peer_id.clone();
    let cert_address = fed.node(0).listen_addresses()[0].clone();

    // Mallory's reports: two valid, one with a flipped byte in its body.
    let good_1 = fed.sign(1, &draft(50, Tlp::Green, None));
    let good_2 = fed.sign(1, &draft(51, Tlp::Green, None));
    let bad = fed.sign(1, &draft(52, Tlp::Green, None));
    let mut tampered = bad.envelope_bytes().to_vec();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let page = Page {
        reports: vec![
            PassedReport {
                envelope: good_1.envelope_bytes().to_vec(),
                hop: 0,
            },
            PassedReport {
                envelope: tampered,
                hop: 0,
            },
            PassedReport {
                envelope: good_2.envelope_bytes().to_vec(),
                hop: 0,
            },
        ],
        through: 3,
        more: false,
        head: 3,
    };
    let shutdown = CancellationToken::new();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        ..NetConfig::default()
    };
    let (mallory, mut events) = cairn_net::spawn(
        &config,
        fed.members[1].node_key.secret_bytes(),
        vec![TrustedNode {
            node: cert_node.clone(),
            addresses: vec![cert_address],
        }],
        shutdown.clone(),
    )
    .await
    .unwrap();
    let certificate = fed.members[1].certificate.to_bytes().to_vec();
    let serve = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Request { request, reply, .. } = event {
                match request {
                    Request::Hello { .. } => reply.respond(Response::Hello {
                        certificate: certificate.clone(),
                        statements: Vec::new(),
                        clock_ms: 0,
                    }),
                    Request::Pull { after: 0, .. } => reply.respond(Response::Page(page.clone())),
                    Request::Pull { .. } => reply.respond(Response::Page(Page {
                        reports: vec![],
                        through: 3,
                        more: false,
                        head: 3,
                    })),
                    _ => reply.respond(Response::Ack),
                }
            }
        }
    });
    // Mallory introduces itself so that the CERT serves it too.
    let hello = mallory
        .request(
            &cert_node,
            Request::Hello {
                certificate: fed.members[1].certificate.to_bytes().to_vec(),
                statements: Vec::new(),
                clock_ms: 0,
            },
        )
        .await
        .unwrap();
    assert!(matches!(hello, Response::Hello { .. }), "{hello:?}");

    assert!(fed.wait_for(0, &[good_1.id(), good_2.id()], WAIT).await);
    assert!(!fed.holds(0, &bad.id()));
    let peers = fed.node(0).peers().await.unwrap();
    let m = peers.iter().find(|p| p.partner == "mallory").unwrap();
    assert_eq!(m.refused, 1, "{m:?}");
    assert!(
        m.last_error
            .as_deref()
            .unwrap_or("")
            .contains("does not verify"),
        "{m:?}"
    );

    // The CERT still serves Mallory and the bank.
    let fresh = fed.publish_draft(0, &draft(53, Tlp::Green, None)).await;
    let page = mallory
        .request(
            &cert_node,
            Request::Pull {
                after: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let Response::Page(page) = page else {
        panic!("not a page: {page:?}")
    };
    assert_eq!(
        page.reports.len(),
        1,
        "only the CERT's own report goes back to Mallory"
    );
    fed.start(2).await;
    assert!(
        fed.wait_for(2, &[fresh.id(), good_1.id(), good_2.id()], WAIT)
            .await
    );
    shutdown.cancel();
    serve.abort();
    fed.stop(0).await;
    fed.stop(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embargoed_report_arrives_when_its_embargo_ends_and_not_before() {
    let mut fed = Federation::new(&["cert", "ngo"], 8);
    let embargo_ms = 1500;
    let policy = cairn_policy::OutboundPolicy {
        embargo_ms,
        ..up_to(Tlp::Green)
    };
    fed.trust(0, 1, policy, up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let report = fed.publish_draft(0, &draft(60, Tlp::Green, None)).await;
    assert!(
        fed.wait_for(1, &[report.id()], WAIT).await,
        "it arrives in the end"
    );
    let held = fed.node(1).store().get(&report.id()).unwrap().unwrap();
    let created = report.report().created_ms;
    assert!(
        held.received_ms >= created + embargo_ms,
        "arrived {} ms after creation, embargo {embargo_ms} ms",
        held.received_ms - created
    );
    fed.stop(0).await;
    fed.stop(1).await;
}

/// A trusted PeerId presenting a certificate from another organisation than the one the trust
/// list gives for it is refused, and is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_certified_by_the_wrong_organisation_is_not_served() {
    let mut fed = Federation::new(&["cert", "bank", "other"], 9);
    fed.trust(0, 1, up_to(Tlp::Clear), up_to(Tlp::Clear));
    fed.start(0).await;
    let open = fed.publish_draft(0, &draft(70, Tlp::Clear, None)).await;
    let cert_node = fed.members[0].peer_id.clone();
    let cert_address = fed.node(0).listen_addresses()[0].clone();
    // The bank's node key, but a certificate signed by another organisation.
    let forged = cairn_core::NodeCertificate::issue(
        &fed.members[2].org,
        fed.members[1].node_key.public_bytes(),
        "node-1",
        1_700_000_000_000,
    );
    let shutdown = CancellationToken::new();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        ..NetConfig::default()
    };
    let (impostor, _events) = cairn_net::spawn(
        &config,
        fed.members[1].node_key.secret_bytes(),
        vec![TrustedNode {
            node: cert_node.clone(),
            addresses: vec![cert_address],
        }],
        shutdown.clone(),
    )
    .await
    .unwrap();
    let hello = impostor
        .request(
            &cert_node,
            Request::Hello {
                certificate: forged.to_bytes().to_vec(),
                statements: Vec::new(),
                clock_ms: 0,
            },
        )
        .await
        .unwrap();
    let Response::Refused(reason) = hello else {
        panic!("the forged certificate was accepted: {hello:?}")
    };
    assert!(reason.contains("not by bank"), "{reason}");
    let pull = impostor
        .request(
            &cert_node,
            Request::Pull {
                after: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(matches!(pull, Response::Refused(_)), "{pull:?}");
    let fetch = impostor
        .request(
            &cert_node,
            Request::Fetch {
                report_id: *open.id().as_bytes(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(fetch, Response::Refused(_)), "{fetch:?}");
    let peers = fed.node(0).peers().await.unwrap();
    let bank = peers.iter().find(|p| p.partner == "bank").unwrap();
    assert!(
        bank.last_error
            .as_deref()
            .unwrap_or("")
            .contains("refused by us: certificate mismatch"),
        "{bank:?}"
    );
    assert!(fed.node(0).audit(open.id()).await.unwrap().is_empty());
    shutdown.cancel();
    fed.stop(0).await;
}

/// The victim first holds the relay's thin copy and passes it to its own partner; when the
/// author's full copy reaches the victim, the victim offers it again, and its partner, which
/// holds the thin copy, fetches the full one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuller_copy_is_offered_again_to_partners_holding_a_thin_one() {
    let mut fed = Federation::new(&["author", "relay", "victim", "partner"], 32);
    let (author, relay, victim, partner) = (0, 1, 2, 3);
    fed.trust(author, relay, up_to(Tlp::Red), up_to(Tlp::Red));
    let mut late = up_to(Tlp::Red);
    late.embargo_ms = 5_000;
    fed.trust(author, victim, late, up_to(Tlp::Red));
    let thin_policy = cairn_policy::OutboundPolicy {
        withhold: [cairn_core::DisclosureField::Victim].into(),
        ..up_to(Tlp::Red)
    };
    fed.trust(relay, victim, thin_policy, up_to(Tlp::Red));
    fed.trust(victim, partner, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    // No hop limit: only the disclosures make the victim's new copy worth offering.
    let report = fed
        .publish_draft(author, &draft(41, Tlp::Green, Some(Scope::Unrestricted)))
        .await;
    assert!(!report.disclosures().is_empty(), "the sample has a victim");
    let disclosures = |fed: &Federation, i: usize| {
        fed.node(i)
            .store()
            .get(&report.id())
            .expect("read")
            .map(|held| held.report.disclosures().len())
    };
    assert!(fed.wait_for(partner, &[report.id()], WAIT).await);
    assert_eq!(
        disclosures(&fed, partner),
        Some(0),
        "the thin copy, through the relay"
    );

    // The author's embargo towards the victim ends: the victim gets the full copy, and offers
    // it again to its partner.
    let start = std::time::Instant::now();
    while disclosures(&fed, partner) != Some(report.disclosures().len()) {
        assert!(
            start.elapsed() < WAIT,
            "the partner never got the full copy (the victim holds {:?} disclosures)",
            disclosures(&fed, victim)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = fed
        .node(partner)
        .store()
        .get(&report.id())
        .unwrap()
        .unwrap();
    assert_eq!(held.report.envelope_bytes(), report.envelope_bytes());
    assert_eq!(
        held.provenance,
        cairn_store::Provenance::Peer {
            org: fed.members[victim].org.public(),
            hop: 1
        },
        "and by the shorter path"
    );
    for i in 0..4 {
        fed.stop(i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_copy_from_the_author_replaces_a_relays_thin_copy() {
    // The author shares everything with the relay and the victim; the relay passes reports
    // on to the victim without the victim disclosure.
    let mut fed = Federation::new(&["author", "relay", "victim"], 31);
    fed.trust(0, 1, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(0, 2, up_to(Tlp::Red), up_to(Tlp::Red));
    let thin_policy = cairn_policy::OutboundPolicy {
        withhold: [cairn_core::DisclosureField::Victim].into(),
        ..up_to(Tlp::Red)
    };
    fed.trust(1, 2, thin_policy, up_to(Tlp::Red));
    fed.start(0).await;
    fed.start(1).await;
    fed.wait_connected(WAIT).await;
    let report = fed
        .publish_draft(0, &draft(40, Tlp::Green, Some(Scope::Community)))
        .await;
    assert!(!report.disclosures().is_empty(), "the sample has a victim");
    assert!(fed.wait_for(1, &[report.id()], WAIT).await);

    // The author goes offline; the victim first hears of the report from the relay.
    fed.stop(0).await;
    fed.start(2).await;
    assert!(fed.wait_for(2, &[report.id()], WAIT).await);
    let held = |fed: &Federation| {
        fed.node(2)
            .store()
            .get(&report.id())
            .expect("read")
            .expect("held")
            .report
    };
    assert!(held(&fed).disclosures().is_empty(), "the relay's copy");

    // The author comes back: its copy, with the victim disclosure, replaces the thin one.
    fed.start(0).await;
    let start = std::time::Instant::now();
    while held(&fed).disclosures().len() != report.disclosures().len() {
        assert!(
            start.elapsed() < WAIT,
            "the full copy never replaced the thin one"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held(&fed).envelope_bytes(), report.envelope_bytes());
    fed.stop(0).await;
    fed.stop(1).await;
    fed.stop(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_publishing_as_fast_as_it_can_is_never_rate_limited() {
    // An honest node whose users publish one report at a time, as fast as its store takes
    // them (a TAXII client POSTing envelope after envelope): every stored report is news for
    // the partner. The partner must receive them all without ever finding the node over its
    // request budget, and neither side may show a problem.
    const REPORTS: u64 = 1_500;
    let mut fed = Federation::new(&["cert", "bank"], 21);
    fed.trust(0, 1, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    let reports: Vec<_> = (0..REPORTS)
        .map(|n| fed.sign(0, &draft(5_000 + n, Tlp::Green, None)))
        .collect();
    let ids: Vec<ReportId> = reports.iter().map(|r| r.id()).collect();
    let start = std::time::Instant::now();
    for report in reports {
        fed.publish(0, vec![report]).await;
    }
    let rate = REPORTS as f64 / start.elapsed().as_secs_f64();
    assert!(
        fed.wait_for(1, &ids, WAIT).await,
        "the bank received them all"
    );
    for (i, other) in [(0, "bank"), (1, "cert")] {
        let peers = fed.node(i).peers().await.unwrap();
        assert_eq!(peers[0].partner, other);
        assert!(peers[0].connected, "{other} was disconnected");
        assert_eq!(
            peers[0].last_error, None,
            "{other}, seen from its partner, after {REPORTS} reports published at {rate:.0} a second"
        );
    }
    fed.stop(0).await;
    fed.stop(1).await;
}
