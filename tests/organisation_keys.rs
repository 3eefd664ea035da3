//! Organisation key statements between real nodes on 127.0.0.1: a partner's statements arrive
//! with its introduction, a node key its organisation revoked is cut off within seconds of the
//! revocation (sent by another node of the organisation) and stays cut off after a restart,
//! while the organisation's other node carries on; once an organisation authorises node keys,
//! a node whose authorisation ends is cut off on time and let in again when it is renewed.

use std::time::{Duration, Instant};

use cairn_core::keylog::{KeyStatement, Purpose};
use cairn_core::{Tlp, sample};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Generous: these are correctness deadlines, not performance targets.
const WAIT: Duration = Duration::from_secs(30);
/// How long to wait before concluding that something did not arrive.
const SETTLE: Duration = Duration::from_millis(2000);

const CERT: usize = 0;
const BANK: usize = 1;
const BANK_NODE_2: usize = 2;

fn green(n: u64) -> cairn_core::ReportDraft {
    let mut d = sample::indicator_report(&mut StdRng::seed_from_u64(n), n);
    d.tlp = Some(Tlp::Green);
    d
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Waits until the CERT's view of `node` satisfies `check`; panics with the view otherwise.
async fn wait_peer(
    fed: &Federation,
    node: usize,
    check: impl Fn(&cairn_node::PeerStatus) -> bool,
) -> cairn_node::PeerStatus {
    let start = Instant::now();
    let peer_id = fed.members[node].peer_id.to_string();
    loop {
        let peers = fed.node(CERT).peers().await.expect("peers");
        let peer = peers
            .into_iter()
            .find(|p| p.peer_id == peer_id)
            .expect("in the trust list");
        if check(&peer) {
            return peer;
        }
        assert!(start.elapsed() < WAIT, "never happened: {peer:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_cut_off_at_once_and_after_a_restart_while_its_organisation_carries_on() {
    let mut fed = Federation::new(&["cert", "bank", "bank-node-2"], 31);
    fed.join_organisation(BANK_NODE_2, BANK);
    fed.trust(CERT, BANK, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.trust(CERT, BANK_NODE_2, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    // The bank's genesis came with its nodes' introductions and is kept.
    let genesis = KeyStatement::implicit_genesis(&fed.members[BANK].org).unwrap();
    let bank_id = genesis.organisation();
    let kept = fed.node(CERT).store().statements_of(&bank_id).unwrap();
    assert_eq!(kept, vec![genesis]);

    let first = fed.publish_draft(CERT, &green(1)).await;
    assert!(fed.wait_for(BANK, &[first.id()], WAIT).await);
    assert!(fed.wait_for(BANK_NODE_2, &[first.id()], WAIT).await);

    // Node 1 of the bank is stolen: the bank revokes its key from node 2.
    let stolen_key = fed.members[BANK].node_key.public_bytes();
    let revocation = KeyStatement::revocation(
        bank_id,
        &fed.members[BANK].org,
        stolen_key,
        now_ms(),
        "node stolen",
        now_ms(),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        fed.node(BANK_NODE_2)
            .add_statements(vec![revocation.clone()])
            .await
            .unwrap(),
        1
    );
    let cut = wait_peer(&fed, BANK, |p| !p.connected && p.last_error.is_some()).await;
    let took = started.elapsed();
    let problem = cut.last_error.unwrap();
    assert!(
        problem.contains("cut off") && problem.contains("revoked this node's key"),
        "{problem}"
    );
    println!("the stolen node was cut off {took:?} after the revocation was made");

    // The bank's other node carries on; the stolen one gets nothing more, and what the thief
    // publishes on it reaches nobody.
    reaches_the_other_node_only(&mut fed, 2, "the stolen node got a report").await;
    let stolen_report = fed.publish_draft(BANK, &green(40)).await;
    assert!(
        wait_peer(&fed, BANK_NODE_2, |p| p.connected)
            .await
            .last_error
            .is_none(),
        "the bank's other node has a problem"
    );

    // The revocation is kept: after a restart the stolen node, which never heard of it and
    // dials again, is refused at its introduction.
    fed.stop(CERT).await;
    fed.start(CERT).await;
    let kept = fed.node(CERT).store().statements_of(&bank_id).unwrap();
    assert!(kept.contains(&revocation), "the revocation was not kept");
    wait_peer(&fed, BANK_NODE_2, |p| p.connected).await;
    let refused = wait_peer(&fed, BANK, |p| {
        p.last_error
            .as_deref()
            .is_some_and(|e| e.contains("revoked this node's key"))
    })
    .await;
    assert!(!refused.connected, "{refused:?}");
    reaches_the_other_node_only(&mut fed, 3, "the stolen node got a report after a restart").await;
    let more = fed.publish_draft(BANK, &green(41)).await;
    tokio::time::sleep(SETTLE).await;
    for id in [stolen_report.id(), more.id()] {
        assert!(
            !fed.holds(CERT, &id),
            "what the thief published reached the CERT"
        );
    }
}

/// Publishes report `n` at the CERT: the bank's second node receives it, the stolen one not.
async fn reaches_the_other_node_only(fed: &mut Federation, n: u64, failure: &str) {
    let report = fed.publish_draft(CERT, &green(n)).await;
    assert!(fed.wait_for(BANK_NODE_2, &[report.id()], WAIT).await);
    tokio::time::sleep(SETTLE).await;
    assert!(!fed.holds(BANK, &report.id()), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_from_another_organisation_are_refused_and_change_nothing() {
    let mut fed = Federation::new(&["cert", "bank", "other"], 32);
    fed.trust(CERT, BANK, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.start(CERT).await;
    fed.start(BANK).await;
    fed.wait_connected(WAIT).await;
    // The bank's node hands over a revocation of its own key signed by another organisation:
    // the bank's node itself refuses to keep it, and the CERT never sees it.
    let other = &fed.members[2].org;
    let other_id = KeyStatement::implicit_genesis(other)
        .unwrap()
        .organisation();
    let forged = KeyStatement::revocation(
        other_id,
        other,
        fed.members[BANK].node_key.public_bytes(),
        0,
        "forged",
        0,
    )
    .unwrap();
    let error = fed
        .node(BANK)
        .add_statements(vec![forged])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("another organisation"), "{error}");
    let report = fed.publish_draft(CERT, &green(4)).await;
    assert!(fed.wait_for(BANK, &[report.id()], WAIT).await);
    let peer = wait_peer(&fed, BANK, |p| p.connected).await;
    assert!(peer.last_error.is_none(), "{peer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_authorisation_ends_is_cut_off_on_time_and_let_in_again_when_renewed() {
    let mut fed = Federation::new(&["cert", "bank", "bank-node-2"], 33);
    fed.join_organisation(BANK_NODE_2, BANK);
    fed.trust(CERT, BANK, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.trust(CERT, BANK_NODE_2, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let bank = &fed.members[BANK].org;
    let bank_id = KeyStatement::implicit_genesis(bank).unwrap().organisation();
    let node_keys: Vec<[u8; 32]> = fed
        .members
        .iter()
        .map(|m| m.node_key.public_bytes())
        .collect();
    let both = [Purpose::SignReports, Purpose::ServePartners];
    let authorise = |member: usize, until_ms: i64| {
        KeyStatement::authorise_node(
            bank_id,
            bank,
            node_keys[member],
            "",
            &both,
            now_ms() - 1_000,
            until_ms,
            now_ms(),
        )
        .unwrap()
    };
    // The bank authorises its nodes: the first for a few seconds, the second for an hour.
    let ends_at = now_ms() + 4_000;
    let short = authorise(BANK, ends_at);
    let long = authorise(BANK_NODE_2, now_ms() + 3_600_000);
    // Made now, handed over once the first has ended.
    let renewal = authorise(BANK, now_ms() + 3_600_000);
    assert_eq!(
        fed.node(BANK)
            .add_statements(vec![short, long])
            .await
            .unwrap(),
        2
    );
    let first = fed.publish_draft(CERT, &green(11)).await;
    assert!(fed.wait_for(BANK, &[first.id()], WAIT).await);
    assert!(
        wait_peer(&fed, BANK, |p| p.connected)
            .await
            .last_error
            .is_none(),
        "an authorised node has a problem"
    );

    // Its authorisation ends: the CERT cuts it off within about a second of the end.
    let cut = wait_peer(&fed, BANK, |p| !p.connected && p.last_error.is_some()).await;
    let late_ms = now_ms() - ends_at;
    let problem = cut.last_error.unwrap();
    assert!(
        problem.contains("cut off") && problem.contains("authorisation of this node's key ended"),
        "{problem}"
    );
    assert!(late_ms >= 0, "cut off {} ms before its end", -late_ms);
    println!("cut off {late_ms} ms after its authorisation ended");
    reaches_the_other_node_only(
        &mut fed,
        12,
        "a node whose authorisation ended got a report",
    )
    .await;

    // The bank renews it from its other node: the CERT lets it in again.
    assert_eq!(
        fed.node(BANK_NODE_2)
            .add_statements(vec![renewal])
            .await
            .unwrap(),
        1
    );
    let back = wait_peer(&fed, BANK, |p| p.connected).await;
    assert!(back.last_error.is_none(), "{back:?}");
    let after = fed.publish_draft(CERT, &green(13)).await;
    assert!(fed.wait_for(BANK, &[after.id()], WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_signed_by_an_authorised_node_key_travels_as_its_organisations() {
    let mut fed = Federation::new(&["cert", "bank"], 34);
    fed.trust(CERT, BANK, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let cert = fed.members[CERT].org.public();
    let cert_id = KeyStatement::implicit_genesis(&fed.members[CERT].org)
        .unwrap()
        .organisation();
    let authorisation = KeyStatement::authorise_node(
        cert_id,
        &fed.members[CERT].org,
        fed.members[CERT].node_key.public_bytes(),
        "node-1",
        &[Purpose::SignReports, Purpose::ServePartners],
        now_ms() - 1_000,
        now_ms() + 3_600_000,
        now_ms(),
    )
    .unwrap();
    assert_eq!(
        fed.node(CERT)
            .add_statements(vec![authorisation])
            .await
            .unwrap(),
        1
    );
    let signed_by = |node: &cairn_core::NodeKey, n: u64| {
        green(n)
            .sign(
                cairn_core::ReportSigner::Node { author: cert, node },
                &mut StdRng::seed_from_u64(n),
            )
            .unwrap()
    };
    // Signed by the CERT's node: stored at the CERT, received by the bank as the CERT's.
    let report = signed_by(&fed.members[CERT].node_key, 21);
    let outcomes = fed
        .node(CERT)
        .publish_envelopes(vec![report.envelope_bytes().to_vec()])
        .await
        .unwrap();
    assert!(
        matches!(outcomes[0], cairn_store::IngestOutcome::Stored { .. }),
        "{outcomes:?}"
    );
    assert!(fed.wait_for(BANK, &[report.id()], WAIT).await);
    let held = fed
        .node(BANK)
        .store()
        .get(&report.id())
        .unwrap()
        .expect("held");
    assert_eq!(held.report.author(), cert);

    // Signed by a key the CERT never authorised, in the CERT's name: refused, and says why.
    let stranger = cairn_core::NodeKey::generate(&mut StdRng::seed_from_u64(77));
    let forged = signed_by(&stranger, 22);
    let outcomes = fed
        .node(CERT)
        .publish_envelopes(vec![forged.envelope_bytes().to_vec()])
        .await
        .unwrap();
    match &outcomes[0] {
        cairn_store::IngestOutcome::Rejected(e) => {
            assert!(e.to_string().contains("may not sign"), "{e}")
        }
        other => panic!("a forged node signature was taken: {other:?}"),
    }
    assert!(!fed.holds(CERT, &forged.id()));
}

const NGO: usize = 2;

/// Signs `draft` for the bank with whichever key it holds now: the first one, or the one it
/// was handed over to.
fn sign_as_bank(
    fed: &Federation,
    new_key: Option<&cairn_core::OrgKey>,
    draft: &cairn_core::ReportDraft,
    seed: u64,
) -> cairn_core::VerifiedReport {
    let first = &fed.members[BANK].org;
    let mut rng = StdRng::seed_from_u64(seed);
    match new_key {
        None => draft.sign(first, &mut rng),
        Some(key) => draft.sign(
            cairn_core::ReportSigner::Successor {
                author: first.public(),
                key,
            },
            &mut rng,
        ),
    }
    .expect("a valid draft")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_rotates_its_key_while_reports_flow_and_its_partners_follow_unchanged() {
    let mut fed = Federation::new(&["cert", "bank", "ngo"], 35);
    for (a, b) in [(CERT, BANK), (CERT, NGO), (BANK, NGO)] {
        fed.trust(a, b, up_to(Tlp::Amber), up_to(Tlp::Amber));
    }
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let bank = fed.members[BANK].org.public();
    let bank_id = KeyStatement::implicit_genesis(&fed.members[BANK].org)
        .unwrap()
        .organisation();
    let new_key = cairn_core::OrgKey::generate(&mut StdRng::seed_from_u64(500));

    // The bank and the CERT publish; a third of the way through, the bank hands its key over.
    let mut ids = Vec::new();
    let mut before = Vec::new();
    let mut rotated = false;
    for n in 0..30u64 {
        if n == 10 {
            let succession = KeyStatement::succession(
                bank_id,
                &fed.members[BANK].org,
                *bank.as_bytes(),
                &new_key,
                now_ms(),
            )
            .unwrap();
            let added = fed.node(BANK).add_statements(vec![succession]).await;
            assert_eq!(added.unwrap(), 1);
            rotated = true;
        }
        let report = sign_as_bank(&fed, rotated.then_some(&new_key), &green(100 + n), 100 + n);
        fed.publish(BANK, vec![report.clone()]).await;
        if !rotated {
            before.push(report.clone());
        }
        ids.push(report.id());
        ids.push(fed.publish_draft(CERT, &green(200 + n)).await.id());
    }
    for member in [CERT, BANK, NGO] {
        assert!(
            fed.wait_for(member, &ids, WAIT).await,
            "{} is missing reports",
            fed.members[member].name
        );
    }
    for id in &ids {
        let held = fed.node(NGO).store().get(id).unwrap().expect("held");
        assert!(
            held.report.author() == bank || held.report.author() == fed.members[CERT].org.public()
        );
    }

    // The first key signs nothing more: its signature on a new report is refused at the
    // bank's own node, and says why.
    let stale = sign_as_bank(&fed, None, &green(300), 300);
    let outcomes = fed
        .node(BANK)
        .publish_envelopes(vec![stale.envelope_bytes().to_vec()])
        .await
        .unwrap();
    match &outcomes[0] {
        cairn_store::IngestOutcome::Rejected(e) => {
            assert!(e.to_string().contains("handed this key over"), "{e}")
        }
        other => panic!("the handed-over key signed a new report: {other:?}"),
    }

    // A new version and a retraction of reports signed before the rotation, by the new key,
    // are the bank's: its partners apply them.
    let version = sign_as_bank(
        &fed,
        Some(&new_key),
        &cairn_core::ReportDraft::new_version_of(&before[0]),
        400,
    );
    let retraction = cairn_core::retract(
        &before[1],
        "false positive",
        cairn_core::ReportSigner::Successor {
            author: bank,
            key: &new_key,
        },
        &mut StdRng::seed_from_u64(401),
    )
    .unwrap();
    fed.publish(BANK, vec![version.clone(), retraction.clone()])
        .await;

    // The NGO restarts meanwhile: it kept the succession, and takes both from the bank.
    fed.stop(NGO).await;
    fed.start(NGO).await;
    let kept = fed.node(NGO).store().statements_of(&bank_id).unwrap();
    assert_eq!(kept.len(), 2, "the genesis and the succession: {kept:?}");
    for member in [CERT, NGO] {
        assert!(
            fed.wait_for(member, &[version.id(), retraction.id()], WAIT)
                .await
        );
        let store = fed.node(member).store();
        let first = store.get(&before[0].id()).unwrap().unwrap();
        assert_eq!(
            store.status(&first.report).unwrap(),
            cairn_store::ReportStatus::SupersededBy(version.id())
        );
        let second = store.get(&before[1].id()).unwrap().unwrap();
        assert_eq!(
            store.status(&second.report).unwrap(),
            cairn_store::ReportStatus::Retracted(retraction.id())
        );
    }
    // Nobody's view of the bank's nodes has a problem.
    for node in [CERT, NGO] {
        let peers = fed.node(node).peers().await.unwrap();
        for peer in peers
            .iter()
            .filter(|p| p.peer_id == fed.members[BANK].peer_id.to_string())
        {
            assert!(peer.connected, "{peer:?}");
            assert!(peer.last_error.is_none(), "{peer:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_arrives_before_the_statements_of_its_signer_waits_for_them() {
    let mut fed = Federation::new(&["cert", "bank", "ngo"], 36);
    for (a, b) in [(CERT, BANK), (CERT, NGO), (BANK, NGO)] {
        fed.trust(a, b, up_to(Tlp::Amber), up_to(Tlp::Amber));
    }
    // The NGO is offline while the bank hands its key over and publishes with the new key.
    fed.start(CERT).await;
    fed.start(BANK).await;
    fed.wait_connected(WAIT).await;
    let bank_id = KeyStatement::implicit_genesis(&fed.members[BANK].org)
        .unwrap()
        .organisation();
    let new_key = cairn_core::OrgKey::generate(&mut StdRng::seed_from_u64(600));
    let succession = KeyStatement::succession(
        bank_id,
        &fed.members[BANK].org,
        *fed.members[BANK].org.public().as_bytes(),
        &new_key,
        now_ms(),
    )
    .unwrap();
    assert_eq!(
        fed.node(BANK)
            .add_statements(vec![succession])
            .await
            .unwrap(),
        1
    );
    let report = sign_as_bank(&fed, Some(&new_key), &green(601), 601);
    fed.publish(BANK, vec![report.clone()]).await;
    assert!(fed.wait_for(CERT, &[report.id()], WAIT).await);

    // The bank goes offline; the NGO comes up and is offered the report by the CERT before it
    // knows the new key: it holds the report back, and the CERT is not at fault.
    fed.stop(BANK).await;
    fed.start(NGO).await;
    fed.wait_connected(WAIT).await;
    tokio::time::sleep(SETTLE).await;
    assert!(
        !fed.holds(NGO, &report.id()),
        "stored before the key that signed it was known to stand for its author"
    );
    let cert_id = fed.members[CERT].peer_id.to_string();
    let peers = fed.node(NGO).peers().await.unwrap();
    let cert = peers.iter().find(|p| p.peer_id == cert_id).expect("listed");
    assert!(cert.connected, "{cert:?}");
    assert_eq!((cert.refused, &cert.last_error), (0, &None), "{cert:?}");

    // The bank comes back; its introduction carries the succession, and the report waiting
    // for it is stored, with nobody shown a problem.
    fed.start(BANK).await;
    assert!(
        fed.wait_for(NGO, &[report.id()], WAIT).await,
        "the report that waited for its signer's statements was not stored"
    );
    let peers = fed.node(NGO).peers().await.unwrap();
    for peer in &peers {
        assert_eq!((peer.refused, &peer.last_error), (0, &None), "{peer:?}");
    }
}
