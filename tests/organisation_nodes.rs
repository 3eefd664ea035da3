//! Several nodes of one organisation on 127.0.0.1: they share everything with each other
//! (every TLP, organisation scope, what reaches either from outside) and hold the same
//! reports; when one is stopped, the organisation's partners and its own users carry on
//! through the other, and the stopped one catches up when it returns.

use std::time::Duration;

use cairn_core::{ReportDraft, ReportId, Scope, Tlp, sample};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Generous: these are correctness deadlines, not performance targets.
const WAIT: Duration = Duration::from_secs(30);

const CERT: usize = 0;
const BANK_1: usize = 1;
const BANK_2: usize = 2;
const NGO: usize = 3;

fn draft(n: u64, tlp: Tlp, scope: Option<Scope>) -> ReportDraft {
    let mut d = sample::indicator_report(&mut StdRng::seed_from_u64(n), n);
    d.tlp = Some(tlp);
    d.scope = scope;
    // The community scope's default unless a test sets one.
    d.hop_limit = None;
    d
}

/// The ids of every report member `i` holds.
fn held(fed: &Federation, i: usize) -> Vec<ReportId> {
    let mut ids: Vec<ReportId> = fed
        .node(i)
        .store()
        .after(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|r| r.report.id())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_one_organisation_hold_the_same_reports_and_either_carries_on_alone() {
    let mut fed = Federation::new(&["cert", "bank-1", "bank-2", "ngo"], 41);
    fed.join_organisation(BANK_2, BANK_1);
    // The bank's nodes list each other; the CERT lists both; the NGO knows only the first.
    fed.trust(BANK_1, BANK_2, up_to(Tlp::Green), up_to(Tlp::Green));
    fed.trust(CERT, BANK_1, up_to(Tlp::Amber), up_to(Tlp::Red));
    fed.trust(CERT, BANK_2, up_to(Tlp::Amber), up_to(Tlp::Red));
    fed.trust(NGO, BANK_1, up_to(Tlp::Amber), up_to(Tlp::Green));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let bank = fed.members[BANK_1].org.public();
    let cert = fed.members[CERT].org.public();

    // What the bank writes on its first node, whatever its marking, is on its second: the
    // sibling's policy (GREEN at most) does not apply within the organisation.
    let mut red = draft(1, Tlp::Red, None);
    red.recipients = vec![cert];
    let internal = draft(2, Tlp::Amber, Some(Scope::Organisation));
    let strict = draft(3, Tlp::AmberStrict, None);
    let own: Vec<ReportId> = vec![
        fed.publish_draft(BANK_1, &red).await.id(),
        fed.publish_draft(BANK_1, &internal).await.id(),
        fed.publish_draft(BANK_1, &strict).await.id(),
    ];
    // What reaches the first node from outside, as AMBER from the NGO, is on the second too.
    let from_ngo = fed
        .publish_draft(NGO, &draft(4, Tlp::Amber, None))
        .await
        .id();
    // What the second node writes is on the first.
    let from_second = fed
        .publish_draft(BANK_2, &draft(5, Tlp::Green, None))
        .await
        .id();
    let mut all = own.clone();
    all.extend([from_ngo, from_second]);
    for node in [BANK_1, BANK_2] {
        assert!(
            fed.wait_for(node, &all, WAIT).await,
            "{} is missing some of the bank's reports",
            fed.members[node].name
        );
    }
    // Within the organisation a report is as far from its author as it was: the second node
    // holds the NGO's report straight from its author, as the first does.
    let second = fed.node(BANK_2).store().get(&from_ngo).unwrap().unwrap();
    assert_eq!(
        cairn_node::exchange::holding_hop(&bank, &second),
        1,
        "{:?}",
        second.provenance
    );
    // The CERT receives what the bank shares with it, and never the report kept inside the
    // organisation.
    assert!(
        fed.wait_for(CERT, &[own[0], own[2], from_second], WAIT)
            .await
    );
    assert!(
        !fed.holds(CERT, &own[1]),
        "an organisation-scope report left the organisation"
    );

    // Both nodes hold the same reports.
    let converged = |fed: &Federation| held(fed, BANK_1) == held(fed, BANK_2);
    let start = std::time::Instant::now();
    while !converged(&fed) {
        assert!(start.elapsed() < WAIT, "the bank's nodes never converged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The first node stops. The organisation carries on through the second: the CERT's new
    // reports and the second node's own arrive, and its users read everything from before.
    fed.stop(BANK_1).await;
    let during = fed
        .publish_draft(CERT, &draft(6, Tlp::Green, None))
        .await
        .id();
    let written_alone = fed
        .publish_draft(BANK_2, &draft(7, Tlp::Amber, None))
        .await
        .id();
    assert!(fed.wait_for(BANK_2, &[during], WAIT).await);
    assert!(fed.wait_for(CERT, &[written_alone], WAIT).await);
    assert!(fed.wait_for(BANK_2, &all, WAIT).await);

    // Back, the first node catches up with what it missed, from the second and the CERT.
    fed.start(BANK_1).await;
    assert!(fed.wait_for(BANK_1, &[during, written_alone], WAIT).await);
    let start = std::time::Instant::now();
    while !converged(&fed) {
        assert!(
            start.elapsed() < WAIT,
            "the bank's nodes did not converge again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_of_a_partner_is_let_in_without_a_change_to_the_trust_list() {
    let mut fed = Federation::new(&["cert", "bank-1", "bank-2", "stranger"], 42);
    fed.join_organisation(BANK_2, BANK_1);
    // The CERT lists the bank's first node only. The bank's new node, and a stranger's, list
    // the CERT and dial it.
    fed.trust(CERT, BANK_1, up_to(Tlp::Amber), up_to(Tlp::Amber));
    fed.lists(BANK_2, CERT, up_to(Tlp::Amber));
    fed.lists(3, CERT, up_to(Tlp::Amber));
    fed.start_all().await;
    let bank_2 = fed.members[BANK_2].peer_id.to_string();
    let stranger = fed.members[3].peer_id.to_string();
    let start = std::time::Instant::now();
    loop {
        let peers = fed.node(CERT).peers().await.unwrap();
        if peers.iter().any(|p| p.peer_id == bank_2 && p.connected) {
            // It shows as one of the bank's nodes.
            let listed = peers.iter().find(|p| p.peer_id == bank_2).unwrap();
            assert_eq!(listed.partner, fed.members[BANK_1].name);
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the bank's new node was never let in: {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Reports flow both ways with it, under the bank's policy.
    let to_bank = fed
        .publish_draft(CERT, &draft(11, Tlp::Amber, None))
        .await
        .id();
    let from_new = fed
        .publish_draft(BANK_2, &draft(12, Tlp::Green, None))
        .await
        .id();
    assert!(fed.wait_for(BANK_2, &[to_bank], WAIT).await);
    assert!(fed.wait_for(CERT, &[from_new], WAIT).await);

    // A node of an organisation the CERT does not trust is never let in, nor shown.
    let from_stranger = fed
        .publish_draft(3, &draft(13, Tlp::Green, None))
        .await
        .id();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let peers = fed.node(CERT).peers().await.unwrap();
    assert!(peers.iter().all(|p| p.peer_id != stranger), "{peers:?}");
    assert!(!fed.holds(CERT, &from_stranger));
    assert!(!fed.holds(3, &to_bank));
}
