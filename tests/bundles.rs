//! Store-and-forward bundles between real nodes that never connect: a CERT writes what an NGO
//! may see into files (the sharing rules of the network: a TLP:RED report for a bank left out,
//! the victim withheld), the NGO reads them in any order and catches up exactly, changed or
//! misaddressed files are refused with nothing stored, and once the two connect the network
//! goes on from where the files left off.

use std::time::Duration;

use cairn_core::{DisclosureField, Tlp, sample};
use cairn_node::NodeError;
use cairn_node::bundles::ReadBundleError;
use cairn_policy::OutboundPolicy;
use cairn_store::Provenance;
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use rand::rngs::StdRng;

const WAIT: Duration = Duration::from_secs(30);

const CERT: usize = 0;
const NGO: usize = 1;
const BANK: usize = 2;

fn draft(n: u64, tlp: Tlp) -> cairn_core::ReportDraft {
    let mut d = sample::indicator_report(&mut StdRng::seed_from_u64(n), n);
    d.tlp = Some(tlp);
    // Each label's own default scope.
    d.scope = None;
    d.hop_limit = None;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_only_exchanges_files_gets_what_the_network_would_give_it() {
    let mut fed = Federation::new(&["cert", "ngo", "bank"], 41);
    let to_ngo = OutboundPolicy {
        withhold: [DisclosureField::Victim].into_iter().collect(),
        ..up_to(Tlp::Amber)
    };
    fed.trust(CERT, NGO, to_ngo, up_to(Tlp::Amber));
    fed.trust(CERT, BANK, up_to(Tlp::Red), up_to(Tlp::Red));

    // The CERT, alone: a TLP:GREEN report, a TLP:AMBER one naming its victim, and a TLP:RED
    // one for the bank only.
    fed.start(CERT).await;
    let green = fed.publish_draft(CERT, &draft(1, Tlp::Green)).await;
    let mut amber = draft(2, Tlp::Amber);
    amber.victim = Some("Clinic of Example".into());
    let amber = fed.publish_draft(CERT, &amber).await;
    let mut red = draft(3, Tlp::Red);
    red.recipients = vec![fed.members[BANK].org.public()];
    let red = fed.publish_draft(CERT, &red).await;

    let cert = fed.node(CERT).clone();
    let first = cert.write_bundle("ngo", None).await.expect("written");
    assert_eq!(
        (
            first.contents.reports,
            first.contents.after,
            first.contents.more
        ),
        (2, 0, false)
    );
    assert_eq!(first.contents.through, first.contents.head);
    // Recorded as delivered to the NGO, in a file.
    let audit = cert.audit(green.id()).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].partner.as_str(), audit[0].peer_id.as_str()),
        ("ngo", "(in a bundle file)")
    );
    assert!(cert.audit(red.id()).await.unwrap().is_empty());
    // The next bundle starts where this one ended: nothing new yet.
    let empty = cert.write_bundle("ngo", None).await.unwrap();
    assert_eq!(
        (empty.contents.reports, empty.contents.after),
        (0, first.contents.through)
    );
    let second_report = fed.publish_draft(CERT, &draft(4, Tlp::Green)).await;
    let second = cert.write_bundle("ngo", None).await.unwrap();
    let third_report = fed.publish_draft(CERT, &draft(5, Tlp::Clear)).await;
    let third = cert.write_bundle("ngo", None).await.unwrap();
    assert_eq!((second.contents.reports, third.contents.reports), (1, 1));
    assert_eq!(third.contents.after, second.contents.through);
    // No partner of that name.
    assert!(matches!(
        cert.write_bundle("nobody", None).await,
        Err(NodeError::UnknownPartner(_))
    ));
    drop(cert);
    fed.stop(CERT).await;

    // The NGO, alone, with the files.
    fed.start(NGO).await;
    let ngo = fed.node(NGO).clone();
    // A changed file is refused whole.
    let mut changed = first.bytes.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    let refused = ngo.read_bundle(changed).await.unwrap_err();
    assert!(
        matches!(refused, NodeError::ReadBundle(ReadBundleError::Bundle(_))),
        "{refused}"
    );
    assert_eq!(ngo.store().last_seq().unwrap(), 0, "nothing stored");

    // The third bundle first: its report is stored, but an earlier bundle is missing, so our
    // position in the CERT's arrivals stays.
    let read = ngo.read_bundle(third.bytes.clone()).await.unwrap();
    assert_eq!(read.received.stored.len(), 1);
    assert_eq!(read.gap(), Some((0, second.contents.through)));
    assert_eq!(read.cursor_after, 0);
    // Then the first and the second: caught up in order.
    let read = ngo.read_bundle(first.bytes.clone()).await.unwrap();
    assert_eq!((read.received.stored.len(), read.gap()), (2, None));
    assert_eq!(read.cursor_after, first.contents.through);
    let read = ngo.read_bundle(second.bytes.clone()).await.unwrap();
    assert_eq!(read.received.stored.len(), 1);
    assert_eq!(read.cursor_after, second.contents.through);
    // The third again: nothing new, and now it follows on.
    let read = ngo.read_bundle(third.bytes.clone()).await.unwrap();
    assert_eq!(
        (read.received.stored.len(), read.received.duplicates),
        (0, 1)
    );
    assert_eq!(read.cursor_after, third.contents.through);
    let cert_key = fed.members[CERT].node_key.public_bytes();
    assert_eq!(
        ngo.store().cursor(&cert_key).unwrap(),
        third.contents.through
    );

    // What the NGO holds is what the network would have given it.
    for id in [
        green.id(),
        amber.id(),
        second_report.id(),
        third_report.id(),
    ] {
        assert!(fed.holds(NGO, &id), "{id} missing");
    }
    assert!(
        !fed.holds(NGO, &red.id()),
        "a TLP:RED report for the bank reached the NGO"
    );
    let held = ngo.store().get(&amber.id()).unwrap().unwrap();
    assert!(
        held.report
            .disclosures()
            .iter()
            .all(|d| d.field != DisclosureField::Victim),
        "the victim was not withheld"
    );
    assert_eq!(
        held.provenance,
        Provenance::Peer {
            org: fed.members[CERT].org.public(),
            hop: 0
        }
    );

    // A bundle for another organisation is refused.
    fed.start(BANK).await;
    let bank = fed.node(BANK).clone();
    let refused = bank.read_bundle(first.bytes.clone()).await.unwrap_err();
    assert!(
        matches!(refused, NodeError::ReadBundle(ReadBundleError::NotForUs(_))),
        "{refused}"
    );
    assert!(!fed.holds(BANK, &green.id()));

    // Once the two connect, the network goes on from where the files left off.
    fed.start(CERT).await;
    fed.wait_connected(WAIT).await;
    let later = fed.publish_draft(CERT, &draft(6, Tlp::Green)).await;
    assert!(fed.wait_for(NGO, &[later.id()], WAIT).await);
    assert!(ngo.store().cursor(&cert_key).unwrap() > third.contents.through);
}
